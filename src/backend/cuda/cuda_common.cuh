// cuda_common.cuh: what every CUDA file of the backend shares: checked calls that turn a
// CUDA error into a celer_error line (never abort, never exit), warp reductions, half and
// bfloat16 loads. Covered by tests/test_cuda_ops.c and tests/test_cuda_forward.c.
#ifndef CELER_BACKEND_CUDA_COMMON_CUH
#define CELER_BACKEND_CUDA_COMMON_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern "C" {
#include "celer_status.h"
}

// Writes "what: CUDA error text (name)" into err and returns CELER_ERR_NOMEM for memory
// errors, CELER_ERR_UNSUPPORTED for a missing device or driver, CELER_ERR_IO otherwise.
static inline celer_status cuda_error(celer_error *err, cudaError_t e, const char *what) {
    celer_status st = e == cudaErrorMemoryAllocation                                          ? CELER_ERR_NOMEM
                      : (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) ? CELER_ERR_UNSUPPORTED
                                                                                             : CELER_ERR_IO;
    if (err) snprintf(err->msg, sizeof(err->msg), "cuda: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return st;
}

static inline celer_status cuda_fail(celer_error *err, celer_status st, const char *msg) {
    if (err) snprintf(err->msg, sizeof(err->msg), "cuda: %s", msg);
    return st;
}

// Evaluates a CUDA call; on failure fills err and returns from the enclosing function.
#define CUDA_TRY(call, err)                                          \
    do {                                                             \
        cudaError_t e_ = (call);                                     \
        if (e_ != cudaSuccess) return cuda_error((err), e_, #call); \
    } while (0)

// After a launch: a bad configuration shows up here (cudaGetLastError also clears it).
#define CUDA_LAUNCHED(name, err)                                         \
    do {                                                                 \
        cudaError_t e_ = cudaGetLastError();                             \
        if (e_ != cudaSuccess) return cuda_error((err), e_, "launch " name); \
    } while (0)

#define WARP_SIZE 32

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Host and device: the dequantizers also run on the host, so that tests/test_cuda_ops.c
// checks their index arithmetic on machines without a GPU.
#define CUDA_HD __host__ __device__ __forceinline__
#ifdef __CUDA_ARCH__
#define CUDA_UNROLL _Pragma("unroll")
#else
#define CUDA_UNROLL /* the host compiler knows no "#pragma unroll" */
#endif

CUDA_HD float bits_to_float(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}
CUDA_HD float half_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
CUDA_HD float bf16_bits_to_float(uint16_t h) { return bits_to_float((uint32_t)h << 16); }

static inline unsigned int cuda_blocks(int64_t n, int threads) { return (unsigned int)((n + threads - 1) / threads); }

#endif
