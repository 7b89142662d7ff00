// probe.cu: measures one CUDA device (probe.h): device-to-device copy bandwidth
// (cudaMemcpyAsync of a large buffer timed with events, best of several; read + written
// bytes, as CUDA's bandwidthTest counts them) and the bf16 matrix rate of cuBLAS
// (cublasGemmEx n x n x n, bf16 inputs and output, fp32 accumulation, inputs filled with
// non-zero values so the units do real work). Every CUDA and cuBLAS call is checked;
// a failure is reported in out->error and the rest is still freed.
// Test: scripts/gpu-check.sh runs `celer gpu-info` on a GPU machine.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda/probe.h"

#define PROBE_REPS 10
#define PROBE_COPY_MAX_BYTES ((size_t)1 << 30)

#define CUDA_TRY(call)                                                                                        \
    do {                                                                                                      \
        cudaError_t e_ = (call);                                                                              \
        if (e_ != cudaSuccess) {                                                                              \
            snprintf(out->error, sizeof(out->error), "%s: %s", #call, cudaGetErrorString(e_));                \
            goto done;                                                                                        \
        }                                                                                                     \
    } while (0)

#define CUBLAS_TRY(call)                                                                                      \
    do {                                                                                                      \
        cublasStatus_t s_ = (call);                                                                           \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                    \
            snprintf(out->error, sizeof(out->error), "%s: cuBLAS status %d", #call, (int)s_);                 \
            goto done;                                                                                        \
        }                                                                                                     \
    } while (0)

// x[i] = a small pseudo-random value in [-1, 1) (a hash of i): no zeros for the units to skip.
__global__ void probe_fill_bf16_kernel(__nv_bfloat16 *x, size_t n, unsigned seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        x[i] = __float2bfloat16((float)(h & 0xFFFF) / 32768.0f - 1.0f);
    }
}

// Best time in ms of PROBE_REPS copies of bytes from src to dst, after one warm-up.
static int probe_copy(celer_cuda_probe_info *out, cudaStream_t stream) {
    int ok = 0;
    void *src = NULL, *dst = NULL;
    cudaEvent_t start = NULL, stop = NULL;
    size_t bytes = PROBE_COPY_MAX_BYTES;
    if ((double)bytes * 4 > out->free_bytes) bytes = ((size_t)(out->free_bytes / 4) >> 20) << 20;
    float best = 0;
    if (bytes < ((size_t)1 << 20)) {
        snprintf(out->error, sizeof(out->error), "copy: only %.0f MiB free", out->free_bytes / 1048576.0);
        return 0;
    }
    CUDA_TRY(cudaMalloc(&src, bytes));
    CUDA_TRY(cudaMalloc(&dst, bytes));
    CUDA_TRY(cudaMemsetAsync(src, 1, bytes, stream));
    CUDA_TRY(cudaEventCreate(&start));
    CUDA_TRY(cudaEventCreate(&stop));
    CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
    for (int r = 0; r < PROBE_REPS; r++) {
        CUDA_TRY(cudaEventRecord(start, stream));
        CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
        CUDA_TRY(cudaEventRecord(stop, stream));
        CUDA_TRY(cudaEventSynchronize(stop));
        float ms = 0;
        CUDA_TRY(cudaEventElapsedTime(&ms, start, stop));
        if (r == 0 || ms < best) best = ms;
    }
    out->copy_bytes = (double)bytes;
    out->copy_gbps = 2.0 * (double)bytes / (best * 1e-3) / 1e9;
    ok = 1;
done:
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    cudaFree(src);
    cudaFree(dst);
    return ok;
}

// C = A B with n x n bf16 matrices; best of PROBE_REPS after two warm-ups.
static int probe_gemm(celer_cuda_probe_info *out, cudaStream_t stream, int n) {
    int ok = 0;
    __nv_bfloat16 *a = NULL, *b = NULL, *c = NULL;
    cublasHandle_t handle = NULL;
    cudaEvent_t start = NULL, stop = NULL;
    size_t elems = (size_t)n * (size_t)n;
    const float alpha = 1.0f, beta = 0.0f;
    float best = 0;
    if (3.0 * (double)elems * 2 > out->free_bytes * 0.9) {
        snprintf(out->error, sizeof(out->error), "gemm: %d^3 needs %.1f GiB, %.1f GiB free", n, 6.0 * (double)elems / 1073741824.0,
                 out->free_bytes / 1073741824.0);
        return 0;
    }
    CUDA_TRY(cudaMalloc(&a, elems * sizeof(*a)));
    CUDA_TRY(cudaMalloc(&b, elems * sizeof(*b)));
    CUDA_TRY(cudaMalloc(&c, elems * sizeof(*c)));
    probe_fill_bf16_kernel<<<1024, 256, 0, stream>>>(a, elems, 1u);
    CUDA_TRY(cudaGetLastError());
    probe_fill_bf16_kernel<<<1024, 256, 0, stream>>>(b, elems, 2u);
    CUDA_TRY(cudaGetLastError());
    CUBLAS_TRY(cublasCreate(&handle));
    CUBLAS_TRY(cublasSetStream(handle, stream));
    CUDA_TRY(cudaEventCreate(&start));
    CUDA_TRY(cudaEventCreate(&stop));
    for (int r = -2; r < PROBE_REPS; r++) {
        CUDA_TRY(cudaEventRecord(start, stream));
        CUBLAS_TRY(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a, CUDA_R_16BF, n, b, CUDA_R_16BF, n, &beta, c,
                                CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        CUDA_TRY(cudaEventRecord(stop, stream));
        CUDA_TRY(cudaEventSynchronize(stop));
        float ms = 0;
        CUDA_TRY(cudaEventElapsedTime(&ms, start, stop));
        if (r == 0 || (r > 0 && ms < best)) best = ms;
    }
    out->gemm_n = n;
    out->bf16_tflops = 2.0 * (double)n * n * n / (best * 1e-3) / 1e12;
    ok = 1;
done:
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (handle) cublasDestroy(handle);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return ok;
}

extern "C" int celer_cuda_probe(int device, int gemm_n, celer_cuda_probe_info *out) {
    memset(out, 0, sizeof(*out));
    out->device = device;
    cudaError_t e = cudaGetDeviceCount(&out->n_devices);
    if (e != cudaSuccess || out->n_devices == 0) {
        snprintf(out->error, sizeof(out->error), "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return -1;
    }
    if (device < 0 || device >= out->n_devices) {
        snprintf(out->error, sizeof(out->error), "no CUDA device %d (%d found)", device, out->n_devices);
        return -1;
    }
    int rc = 1;
    cudaStream_t stream = NULL;
    cudaDeviceProp prop;
    int clock_khz = 0, bus_bits = 0;
    size_t free_b = 0, total_b = 0;
    CUDA_TRY(cudaSetDevice(device));
    CUDA_TRY(cudaGetDeviceProperties(&prop, device));
    snprintf(out->name, sizeof(out->name), "%s", prop.name);
    out->cc_major = prop.major, out->cc_minor = prop.minor, out->sm_count = prop.multiProcessorCount;
    cudaDriverGetVersion(&out->driver_version);
    cudaRuntimeGetVersion(&out->runtime_version);
    // peak = 2 (double data rate) x clock x bus width; HBM reports its clock so that this holds
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) == cudaSuccess &&
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) == cudaSuccess)
        out->peak_gbps = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
    CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
    out->free_bytes = (double)free_b, out->total_bytes = (double)total_b;
    CUDA_TRY(cudaStreamCreate(&stream));
    rc = probe_copy(out, stream) ? 0 : 1;
    if (gemm_n > 0 && !probe_gemm(out, stream, gemm_n)) rc = 1;
done:
    if (stream) cudaStreamDestroy(stream);
    return rc;
}
