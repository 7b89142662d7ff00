// dequant.cu: whole-row dequantization: weights to F16 for the cuBLAS prefill path, and
// the embedding lookup (rows picked by token id, to fp32). A thread per 8 elements, each
// writing one 16-byte (F16) or two (F32) stores. Tests: tests/test_cuda_ops.c.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_quant.cuh"

#define DEQUANT_THREADS 256

template <int TYPE>
__global__ void dequantize_f16_kernel(const uint8_t *__restrict__ w, size_t row_bytes, int64_t rows, int64_t cols, __half *__restrict__ out) {
    const int64_t chunks = cols / 8, i = (int64_t)blockIdx.x * DEQUANT_THREADS + threadIdx.x;
    if (i >= rows * chunks) return;
    const int64_t r = i / chunks, c = i % chunks;
    float v[8];
    dequant<TYPE>::run(w + r * row_bytes, c, v);
    __align__(16) __half2 h[4];
#pragma unroll
    for (int k = 0; k < 4; k++) h[k] = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
    *(uint4 *)(out + r * cols + 8 * c) = *(const uint4 *)h;
}

template <int TYPE>
__global__ void get_rows_kernel(const uint8_t *__restrict__ w, size_t row_bytes, int64_t cols, const int32_t *__restrict__ ids, float *__restrict__ out) {
    const int64_t c = (int64_t)blockIdx.x * DEQUANT_THREADS + threadIdx.x, t = blockIdx.y;
    if (c >= cols / 8) return;
    float v[8];
    dequant<TYPE>::run(w + (int64_t)ids[t] * row_bytes, c, v);
    float4 *o = (float4 *)(out + t * cols + 8 * c);
    o[0] = make_float4(v[0], v[1], v[2], v[3]);
    o[1] = make_float4(v[4], v[5], v[6], v[7]);
}

__global__ void f32_to_f16_kernel(const float *__restrict__ x, __half *__restrict__ out, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * DEQUANT_THREADS + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(x[i]);
}

bool &cuda_host_misaligned(void) {
    static thread_local bool misaligned = false;
    return misaligned;
}

template <int TYPE> static void dequantize_row_host(const uint8_t *row, int64_t cols, float *out) {
    for (int64_t c = 0; c < cols / 8; c++) dequant<TYPE>::run(row, c, out + 8 * c);
}

extern "C" bool cuda_dequantize_row_host(uint32_t type, const void *row, int64_t cols, float *out) {
    if (cols % 32 != 0) return false;
    cuda_host_misaligned() = false;
#define CASE(t) \
    case t: dequantize_row_host<t>((const uint8_t *)row, cols, out); break;
    switch (type) { CUDA_QUANT_TYPES(CASE) default: return false; }
#undef CASE
    return !cuda_host_misaligned();
}

static bool shape_ok(int64_t cols) { return cols >= 32 && cols % 32 == 0; }

extern "C" celer_status dequantize_f16_cuda(uint32_t type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, void *out,
                                            cudaStream_t stream, celer_error *err) {
    if (!cuda_quant_supported(type)) return cuda_fail(err, CELER_ERR_UNSUPPORTED, "dequantize: weight type has no CUDA kernel");
    if (!w || !out || rows < 1 || !shape_ok(cols)) return cuda_fail(err, CELER_ERR_INVALID_ARG, "dequantize: invalid arguments");
    const int64_t blocks = (rows * (cols / 8) + DEQUANT_THREADS - 1) / DEQUANT_THREADS;
    if (blocks > 0x7fffffff) return cuda_fail(err, CELER_ERR_INVALID_ARG, "dequantize: matrix too large for one launch");
#define CASE(t) \
    case t: dequantize_f16_kernel<t><<<(unsigned)blocks, DEQUANT_THREADS, 0, stream>>>((const uint8_t *)w, row_bytes, rows, cols, (__half *)out); break;
    switch (type) { CUDA_QUANT_TYPES(CASE) default: break; }
#undef CASE
    CUDA_LAUNCHED("dequantize_f16_kernel", err);
    return CELER_OK;
}

extern "C" celer_status get_rows_cuda(uint32_t type, const void *w, size_t row_bytes, int64_t cols, const int32_t *ids, int32_t n, float *out,
                                      cudaStream_t stream, celer_error *err) {
    if (!cuda_quant_supported(type)) return cuda_fail(err, CELER_ERR_UNSUPPORTED, "get_rows: embedding type has no CUDA kernel");
    if (!w || !ids || !out || n < 1 || n > 65535 || !shape_ok(cols)) return cuda_fail(err, CELER_ERR_INVALID_ARG, "get_rows: invalid arguments");
    const dim3 grid(cuda_blocks(cols / 8, DEQUANT_THREADS), (unsigned)n);
#define CASE(t) \
    case t: get_rows_kernel<t><<<grid, DEQUANT_THREADS, 0, stream>>>((const uint8_t *)w, row_bytes, cols, ids, out); break;
    switch (type) { CUDA_QUANT_TYPES(CASE) default: break; }
#undef CASE
    CUDA_LAUNCHED("get_rows_kernel", err);
    return CELER_OK;
}

extern "C" celer_status f32_to_f16_cuda(const float *x, void *out, int64_t n, cudaStream_t stream, celer_error *err) {
    if (!x || !out || n < 1 || (n + DEQUANT_THREADS - 1) / DEQUANT_THREADS > 0x7fffffff)
        return cuda_fail(err, CELER_ERR_INVALID_ARG, "f32_to_f16: invalid arguments");
    f32_to_f16_kernel<<<cuda_blocks(n, DEQUANT_THREADS), DEQUANT_THREADS, 0, stream>>>(x, (__half *)out, n);
    CUDA_LAUNCHED("f32_to_f16_kernel", err);
    return CELER_OK;
}
