/* ops.h: the CPU backend's operations, scalar reference versions, threaded over rows.
 *
 * Numerics follow ggml's CPU backend so results can be compared with llama.cpp:
 * activations are quantized to the weight type's vec_dot_type before a matrix product,
 * RMSNorm sums in double, attention rounds queries and probabilities to fp16 as ggml's
 * f16 KV-cache path does. Faster kernels replace these one by one and are tested
 * against them. Tests: tests/test_ops.c. */
#ifndef CELER_BACKEND_CPU_OPS_H
#define CELER_BACKEND_CPU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "engine/kv_cache.h"
#include "model/model.h"

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

/* x (n, dim) += bias (dim). */
void cpu_add_bias(float *x, const float *bias, int64_t n, int64_t dim);

/* Rotary embedding in place on x (n, n_heads, head_dim) at positions pos (n). */
void cpu_rope(float *x, const int32_t *pos, int64_t n, int32_t n_heads, const model_hparams *hp, const float *freq_factors);

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

#endif
