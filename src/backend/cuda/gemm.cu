// gemm.cu: the prefill matrix product through cuBLAS: y (+)= x · wᵀ with both operands
// F16 (weights dequantized by dequantize_f16_cuda, activations by f32_to_f16_cuda) and
// fp32 accumulation and output. Tests: tests/test_cuda_ops.c.
#include <cublas_v2.h>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_common.cuh"

extern "C" celer_status gemm_f16_cuda(void *blas, const void *w16, const void *x16, int64_t rows, int64_t cols, int32_t n, float *y,
                                      int64_t y_stride, bool accumulate, celer_error *err) {
    if (!blas || !w16 || !x16 || !y || rows < 1 || cols < 1 || n < 1 || y_stride < rows || rows > 0x7fffffff || cols > 0x7fffffff)
        return cuda_fail(err, CELER_ERR_INVALID_ARG, "gemm: invalid arguments");
    // Row-major y (n, rows) is column-major (rows, n): y = wᵀ(cols, rows)ᵀ · x(cols, n).
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    cublasStatus_t st = cublasGemmEx((cublasHandle_t)blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, n, (int)cols, &alpha, w16, CUDA_R_16F, (int)cols,
                                     x16, CUDA_R_16F, (int)cols, &beta, y, CUDA_R_32F, (int)y_stride, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS) {
        if (err) snprintf(err->msg, sizeof(err->msg), "cuda: cublasGemmEx (%lld x %lld, %d tokens): %s", (long long)rows, (long long)cols, n,
                          cublasGetStatusString(st));
        return st == CUBLAS_STATUS_ALLOC_FAILED ? CELER_ERR_NOMEM : CELER_ERR_IO;
    }
    return CELER_OK;
}
