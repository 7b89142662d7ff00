/* cuda_ops.h: the CUDA backend's operations, one launcher per op, callable from C
 * (the backend in cuda_backend.cu, tests/test_cuda_ops.c). Every pointer argument marked
 * "device" lives in device memory; every launcher checks its arguments and the launch
 * and says what went wrong in err; none synchronizes. Shapes are row-major.
 * Kernels: matvec.cu, dequant.cu, norm.cu, rope_kv.cu, attention.cu, gemm.cu.
 * Tests: tests/test_cuda_ops.c (each op x weight type x shape against the CPU reference). */
#ifndef CELER_BACKEND_CUDA_OPS_H
#define CELER_BACKEND_CUDA_OPS_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "celer_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the CUDA kernels read weights of this type (quant_type id). */
bool cuda_type_supported(uint32_t type);

/* ---- matrix-vector products (decode: a few tokens) ---- */
#define MATVEC_MAX_TOKENS 8
#define MATVEC_MAX_OUT 3
typedef struct {
    const void *w;    /* device (rows, row_bytes) in the file's block layout */
    size_t row_bytes;
    int64_t rows;
    float *y;         /* device (n_tokens, y_stride) */
    int64_t y_stride;
    bool accumulate;  /* y += W x instead of y = W x (the residual) */
} matvec_out;
typedef struct {
    uint32_t type;    /* quant_type of every out[i].w */
    matvec_out out[MATVEC_MAX_OUT];
    int32_t n_out;
    const float *x;   /* device (n_tokens, x_stride) */
    int64_t x_stride;
    int64_t cols;     /* elements per weight row, a multiple of 32 (256 for K-quants) */
    int32_t n_tokens; /* 1..MATVEC_MAX_TOKENS */
    bool swiglu;      /* n_out == 2, same rows: out[0].y = silu(W0 x) * (W1 x); out[1].y unused */
} matvec_args;
/* y_i = W_i x for each output, one launch; a warp per weight row, all tokens at once. */
celer_status matvec_cuda(const matvec_args *a, cudaStream_t stream, celer_error *err);

/* ---- dequantization ---- */
/* out (rows, cols) f16, device: rows of w (device, the file's layout) dequantized. */
celer_status dequantize_f16_cuda(uint32_t type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, void *out,
                                 cudaStream_t stream, celer_error *err);
/* out (n, cols) f32, device: rows ids[0..n) (device) of w dequantized (the embedding). */
celer_status get_rows_cuda(uint32_t type, const void *w, size_t row_bytes, int64_t cols, const int32_t *ids, int32_t n, float *out,
                           cudaStream_t stream, celer_error *err);
/* The device dequantizers (cuda_quant.cuh) run on the host over one row (cols a multiple
 * of 32), so tests check their index arithmetic without a GPU; false if the type has none
 * or a load was less aligned than the device's wide loads assume (row: as uploaded, at a
 * multiple of the row size from a 16-byte aligned base). */
bool cuda_dequantize_row_host(uint32_t type, const void *row, int64_t cols, float *out);
/* out (n) f16 = x (n) f32, both device. */
celer_status f32_to_f16_cuda(const float *x, void *out, int64_t n, cudaStream_t stream, celer_error *err);

/* ---- element-wise ---- */
/* out (n, dim) = x[rows[i]] / rms(x[rows[i]]) * weight (dim); rows (device, n) or NULL for
 * rows 0..n-1. All device. */
celer_status rmsnorm_cuda(float *out, const float *x, const float *weight, const int32_t *rows, int32_t n, int64_t dim, float eps,
                          cudaStream_t stream, celer_error *err);
/* gate (n) = silu(gate) * up, device. */
celer_status silu_mul_cuda(float *gate, const float *up, int64_t n, cudaStream_t stream, celer_error *err);

/* ---- rotary embedding and the KV-cache write ---- */
typedef struct {
    float *q;                 /* device (n, n_head * head_dim), rotated in place */
    float *k;                 /* device (n, n_head_kv * head_dim), rotated in place */
    const float *v;           /* device (n, n_head_kv * head_dim) */
    const float *bq, *bk, *bv; /* device biases (q_dim), (kv_dim), (kv_dim), or NULL */
    uint16_t *k_cache;        /* device fp16 (cells, n_head_kv * head_dim) of this layer */
    uint16_t *v_cache;
    const int32_t *pos;       /* device (n) */
    const int32_t *cell;      /* device (n): the cache cell each token's K and V go to */
    const float *freq_factors; /* device (n_rot / 2) or NULL */
    int32_t n;
    int32_t n_head, n_head_kv, head_dim, n_rot;
    bool rope_halves;         /* NeoX pairs (i, i + n_rot/2); else adjacent (2i, 2i+1) */
    float freq_base, freq_scale;
} rope_kv_args;
/* Biases added, rotary embedding applied to Q and K, K and V stored as fp16. */
celer_status rope_kv_cuda(const rope_kv_args *a, cudaStream_t stream, celer_error *err);

/* ---- attention ---- */
typedef struct {
    const float *q;           /* device (n, n_head * head_dim) */
    float *out;               /* device (n, n_head * head_dim) */
    const uint16_t *k_cache;  /* device fp16 (cells, n_head_kv * head_dim) of this layer */
    const uint16_t *v_cache;
    const int32_t *pos;       /* device (n): token i attends positions 0..pos[i] of its sequence */
    const int32_t *table_off; /* device (n): where token i's sequence's block list starts in blocks */
    const int32_t *blocks;    /* device: block ids; position p of a sequence is in cell
                                 blocks[off + p / block_size] * block_size + p % block_size */
    float *partial;           /* device scratch: attention_partial_floats(...) floats */
    int32_t n;
    int32_t n_head, n_head_kv, head_dim;
    int32_t block_size;
    int32_t chunk;            /* fewest positions per split (flash-decoding); a multiple of block_size */
    int32_t n_chunks;         /* splits launched per head; a token's context is cut into at most
                                 n_chunks chunks of max(chunk, its length / n_chunks in whole blocks) */
} attention_args;
static inline size_t attention_partial_floats(int32_t n, int32_t n_head, int32_t head_dim, int32_t n_chunks) {
    return (size_t)n * (size_t)n_head * (size_t)n_chunks * ((size_t)head_dim + 2);
}
/* Causal attention with grouped-query heads, split over the context: each (token, head,
 * chunk) gives a partial softmax (max, sum, weighted V), a second kernel merges them.
 * Chunks past a token's length return at once and chunk lengths follow each token's
 * length (read on the device), so a graph captured once stays right as the context grows. head_dim: a multiple of 32, <= 512. */
celer_status attention_cuda(const attention_args *a, cudaStream_t stream, celer_error *err);

/* ---- GEMM (prefill) ---- */
/* y (n, y_stride) (+)= x16 (n, cols) · w16 (rows, cols)ᵀ, f16 inputs, f32 accumulation and
 * output, through cuBLAS; blas: a cublasHandle_t bound to the stream. */
celer_status gemm_f16_cuda(void *blas, const void *w16, const void *x16, int64_t rows, int64_t cols, int32_t n, float *y,
                           int64_t y_stride, bool accumulate, celer_error *err);

#ifdef __cplusplus
}
#endif

#endif
