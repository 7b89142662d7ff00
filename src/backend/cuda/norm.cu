// norm.cu: RMSNorm (a block per row, optionally gathering rows: the output head's input
// is only the rows that want logits) and SiLU(gate) * up for the GEMM path.
// Tests: tests/test_cuda_ops.c.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_common.cuh"

#define NORM_THREADS 256

__global__ void __launch_bounds__(NORM_THREADS) rmsnorm_kernel(float *__restrict__ out, const float *__restrict__ x, const float *__restrict__ weight,
                                                               const int32_t *__restrict__ rows, int64_t dim, float eps) {
    __shared__ float warp_sums[NORM_THREADS / WARP_SIZE];
    const int64_t r = rows ? rows[blockIdx.x] : blockIdx.x;
    const float *xr = x + r * dim;
    float *o = out + (int64_t)blockIdx.x * dim;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < dim; j += NORM_THREADS) s += xr[j] * xr[j];
    s = warp_sum(s);
    if (threadIdx.x % WARP_SIZE == 0) warp_sums[threadIdx.x / WARP_SIZE] = s;
    __syncthreads();
    if (threadIdx.x < WARP_SIZE) {
        s = threadIdx.x < NORM_THREADS / WARP_SIZE ? warp_sums[threadIdx.x] : 0.0f;
        s = warp_sum(s);
        if (threadIdx.x == 0) warp_sums[0] = s;
    }
    __syncthreads();
    const float scale = 1.0f / sqrtf(warp_sums[0] / (float)dim + eps);
    for (int64_t j = threadIdx.x; j < dim; j += NORM_THREADS) o[j] = (xr[j] * scale) * weight[j];
}

__global__ void silu_mul_kernel(float *__restrict__ gate, const float *__restrict__ up, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * NORM_THREADS + threadIdx.x;
    if (i < n) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

extern "C" celer_status rmsnorm_cuda(float *out, const float *x, const float *weight, const int32_t *rows, int32_t n, int64_t dim, float eps,
                                     cudaStream_t stream, celer_error *err) {
    if (!out || !x || !weight || n < 1 || dim < 1) return cuda_fail(err, CELER_ERR_INVALID_ARG, "rmsnorm: invalid arguments");
    rmsnorm_kernel<<<(unsigned)n, NORM_THREADS, 0, stream>>>(out, x, weight, rows, dim, eps);
    CUDA_LAUNCHED("rmsnorm_kernel", err);
    return CELER_OK;
}

extern "C" celer_status silu_mul_cuda(float *gate, const float *up, int64_t n, cudaStream_t stream, celer_error *err) {
    if (!gate || !up || n < 1 || (n + NORM_THREADS - 1) / NORM_THREADS > 0x7fffffff) return cuda_fail(err, CELER_ERR_INVALID_ARG, "silu_mul: invalid arguments");
    silu_mul_kernel<<<cuda_blocks(n, NORM_THREADS), NORM_THREADS, 0, stream>>>(gate, up, n);
    CUDA_LAUNCHED("silu_mul_kernel", err);
    return CELER_OK;
}
