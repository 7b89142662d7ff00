/* cuda_plan.h: the CUDA backend's memory plan, plain C so that it is built and tested
 * everywhere: every device byte (weights, KV cache, scratch) is computed from the model
 * and the context's sizes before anything is allocated, so `--gpu` can refuse a model
 * that does not fit, with the numbers, or size the context to what fits.
 * The backend (cuda_backend.cu) allocates exactly these buffers.
 * Tests: tests/test_gpu_plan.c. */
#ifndef CELER_BACKEND_CUDA_PLAN_H
#define CELER_BACKEND_CUDA_PLAN_H

#include <stdint.h>

#include "core/status.h"
#include "model/model.h"

#define GPU_PLAN_ALIGN 256                /* bytes; every buffer and weight starts aligned */
#define GPU_PLAN_RESERVE (192ull << 20)   /* cuBLAS workspace, graphs, allocator slack */
#define GPU_MATVEC_MAX_TOKENS 8           /* batches up to this run the matrix-vector kernels */
#define GPU_ATTENTION_CHUNK 256           /* fewest positions per attention split when decoding */
#define GPU_ATTENTION_MAX_CHUNKS 64       /* most splits per head (longer contexts: longer chunks) */
#define GPU_DEQUANT_TILE_ELEMS (1ll << 24) /* most F16 elements of one dequantized weight tile */
#define GPU_PLAN_MAX_TENSORS(n_layer) (16 * (int64_t)(n_layer) + 4)

/* Buffers of the scratch area, in floats, halves or ints (each aligned on its own). */
typedef struct {
    int64_t x, xn, q, k, v, att, gate, up, out_xn; /* floats: activations (n_batch rows) */
    int64_t logits;  /* floats: (n_batch, n_vocab) */
    int64_t partial; /* floats: attention partial results */
    int64_t x16;     /* halves: activations as F16 for the GEMM */
    int64_t w16;     /* halves: one dequantized weight tile */
    int64_t inputs;  /* ints: tokens, positions, cells, table offsets, output rows (n_batch each), block ids */
} gpu_scratch_sizes;

typedef struct {
    int32_t n_ctx, n_batch;
    int32_t n_cells;       /* KV cells: n_ctx rounded up to the KV block size */
    int32_t decode_chunks; /* attention splits per head when decoding: ceil(n_cells / GPU_ATTENTION_CHUNK), at most GPU_ATTENTION_MAX_CHUNKS */
    int64_t tile_rows_max; /* most weight rows one dequantized tile holds (for the widest matrix) */
    gpu_scratch_sizes sizes;
    uint64_t weights;      /* bytes: device copies of every tensor */
    uint64_t kv;           /* bytes: fp16 K and V of every layer and cell */
    uint64_t scratch;      /* bytes: the buffers above */
    uint64_t reserve;      /* bytes: GPU_PLAN_RESERVE */
    uint64_t total;
} gpu_plan;

/* The model's tensors the device holds, each once (a tied head is the embedding), in a
 * fixed order; returns how many (at most GPU_PLAN_MAX_TENSORS(n_layer)). */
int32_t gpu_plan_tensors(const model *m, const model_tensor **out);
static inline uint64_t gpu_plan_align(uint64_t bytes) { return (bytes + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN; }
/* Rows of a cols-wide weight matrix dequantized at once for the GEMM path. */
int64_t gpu_plan_tile_rows(int64_t rows, int64_t cols);

void gpu_plan_compute(const model *m, int32_t n_ctx, int32_t n_batch, gpu_plan *p);
/* The largest context (a multiple of the KV block size, at most limit) whose plan fits in
 * free_bytes; 0 if not even one block fits. */
int32_t gpu_plan_max_ctx(const model *m, int32_t n_batch, uint64_t free_bytes, int32_t limit);
/* CELER_OK if p fits in free_bytes; else CELER_ERR_NOMEM with the numbers, and the
 * context that would fit (if any). */
celer_status gpu_plan_check(const gpu_plan *p, const model *m, uint64_t free_bytes, const char *device, celer_error *err);

#endif
