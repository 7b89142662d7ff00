/* ops.h: the CPU backend's operations, scalar reference versions, threaded over rows.
 *
 * Numerics follow ggml's CPU backend so results can be compared with llama.cpp:
 * activations are quantized to the weight type's vec_dot_type before a matrix product,
 * RMSNorm sums in double, attention rounds queries and probabilities to fp16 as ggml's
 * f16 KV-cache path does. Faster kernels replace these one by one and are tested
 * against them. Tests: tests/test_ops.c. */
#ifndef CELER_BACKEND_CPU_OPS_H
#define CELER_BACKEND_CPU_OPS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "engine/kv_cache.h"
#include "model/model.h"
#include "quant/kernels.h"

/* out (n, dim) = x (n, dim) / rms(x) * weight (dim). */
void cpu_rmsnorm(float *out, const float *x, const float *weight, int64_t n, int64_t dim, float eps);

/* Bytes of scratch cpu_matmul needs to quantize n rows of dim activations for w's type. */
size_t cpu_matmul_scratch_bytes(uint32_t type, int64_t dim, int64_t n);

/* y (n, w.ne[1]) = x (n, w.ne[0]) · wᵀ; scratch: cpu_matmul_scratch_bytes(...) bytes. */
void cpu_matmul(threadpool *pool, const model_tensor *w, const float *x, int64_t n, float *y, void *scratch);

/* Products that share their input, in one pass over the threads (Q, K and V; gate and
 * up): y_i (n, w_i.ne[1]) = x (n, k) · w_iᵀ, x quantized once per activation type.
 * swiglu (n_out == 2, same rows): afterwards y_0 = silu(y_0) * y_1, each thread on the
 * rows it computed. scratch: the sum of cpu_matmul_scratch_bytes over the products. */
#define CPU_MATMUL_MAX_OUT 4
typedef struct {
    const model_tensor *w;
    float *y; /* (n, w->ne[1]) */
} cpu_matmul_out;
void cpu_matmul_fused(threadpool *pool, const cpu_matmul_out *outs, int n_out, const float *x, int64_t n, void *scratch, bool swiglu);

/* The same products as one step of a larger thread-pool job (a decode step runs as one
 * job, with barriers between its steps). Set up with cpu_matmul_job_init before the job;
 * inside it, every thread quantizes the activation into its own buffer
 * (cpu_matmul_job_quantize; cpu_matmul_scratch_bytes summed over the products: no
 * hand-off between threads) and then takes units of rows with cpu_matmul_job_work until
 * none are left;
 * the caller's barrier ends the step. residual (n, rows), when not NULL (one product):
 * residual += y on each unit's rows, as the unit finishes. Activations are quantized
 * plainly (never wide) for n <= CPU_MATMUL_STREAM_MAX_TOKENS. */
#define CPU_MATMUL_STREAM_MAX_TOKENS 4
typedef struct {
    const cpu_matmul_out *outs;
    int n_out;
    bool swiglu;
    int64_t n, k;
    /* distinct activation types: x quantized once per type, (n, act_row_bytes[a]) each at
     * act_off[a] of the activation buffer; wide: the kernels' wide rows */
    int n_act;
    uint32_t act_type[CPU_MATMUL_MAX_OUT];
    bool act_wide[CPU_MATMUL_MAX_OUT];
    size_t act_row_bytes[CPU_MATMUL_MAX_OUT];
    size_t act_off[CPU_MATMUL_MAX_OUT];
    const quant_kernels *act_kernels[CPU_MATMUL_MAX_OUT]; /* one whose quantize_act makes act_type */
    int act_of_out[CPU_MATMUL_MAX_OUT];
    const quant_kernels *kernels[CPU_MATMUL_MAX_OUT];
    int64_t unit_start[CPU_MATMUL_MAX_OUT + 1]; /* units (of 16 rows) of output i: [unit_start[i], unit_start[i+1]) */
    int n_threads;
    bool guided; /* a few tokens: runs of units, shrinking towards the end */
    _Atomic long long next_unit;
} cpu_matmul_job;
void cpu_matmul_job_init(cpu_matmul_job *j, const cpu_matmul_out *outs, int n_out, int64_t n, bool swiglu, int n_threads);
void cpu_matmul_job_quantize(const cpu_matmul_job *j, const float *x, void *act);
void cpu_matmul_job_work(cpu_matmul_job *j, const void *act, float *residual);

/* x (n, dim) += bias (dim). */
void cpu_add_bias(float *x, const float *bias, int64_t n, int64_t dim);

/* Rotary embedding in place on x (n, n_heads, head_dim) at positions pos (n). */
void cpu_rope(float *x, const int32_t *pos, int64_t n, int32_t n_heads, const model_hparams *hp, const float *freq_factors);
/* Its two halves, for callers that rotate head by head: cpu_rope_angles fills cs (n_rot
 * floats: cos, sin of each rotary pair) for one position, the same for every head and
 * layer; cpu_rope_head rotates one head (head_dim floats) in place by them. */
void cpu_rope_angles(float *cs, int32_t pos, const model_hparams *hp, const float *freq_factors);
void cpu_rope_head(float *v, const float *cs, const model_hparams *hp);

/* h (n, dim) = silu(gate) * up, in place into gate. */
void cpu_silu_mul(float *gate, const float *up, int64_t n);

/* out (n, n_head * head_dim): causal attention of q (n, n_head * head_dim) over each
 * token's sequence in the KV cache, positions 0..pos[i].
 * scores: cpu_attention_scores_floats(...) floats. */
#define CPU_ATTENTION_MAX_GROUP MODEL_MAX_GQA_GROUP
#define CPU_ATTENTION_MAX_HEAD_DIM MODEL_MAX_HEAD_DIM
/* Decode (one token) splits each KV head's context into CPU_ATTENTION_SPLIT(n_threads)
 * chunks when there are fewer KV heads than 2 jobs per thread. */
#define CPU_ATTENTION_SPLIT(n_threads) (4 * (n_threads))
/* Prompts: tiles of CPU_ATTENTION_TILE tokens of one sequence per job. */
#define CPU_ATTENTION_TILE 4
static inline size_t cpu_attention_scores_floats(int n_threads, int32_t n_head, int32_t n_head_kv, int32_t head_dim, int32_t n_ctx) {
    size_t per_thread = (size_t)n_threads * CPU_ATTENTION_TILE * (size_t)(n_head / n_head_kv) * (((size_t)n_ctx + 7) / 8 * 8);
    size_t split = (size_t)n_head * ((size_t)n_ctx + (size_t)CPU_ATTENTION_SPLIT(n_threads) * ((size_t)head_dim + 2));
    return per_thread > split ? per_thread : split;
}
typedef struct {
    const float *q;
    float *out;
    const int32_t *pos;
    const int32_t *seq_id;
    int64_t n;
    int32_t layer;
    int32_t n_ctx;
    const model_hparams *hp;
    kv_cache *kv;
    float *scores;
} cpu_attention_args;
void cpu_attention(threadpool *pool, const cpu_attention_args *a);
/* The same as one step inside a job running on all of pool's threads (thread ith of
 * nth): every thread calls it, and it may wait at the pool's barrier. */
void cpu_attention_work(threadpool *pool, const cpu_attention_args *a, int ith, int nth);

#endif
