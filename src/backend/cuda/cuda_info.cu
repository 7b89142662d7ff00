// cuda_info.cu: the CUDA backend's first piece: device discovery, compiled when the
// build has -DCELER_CUDA=ON. Kernels (matrix-vector with in-register dequantization,
// fused attention, graphs) come in the CUDA backend's own files beside this one.
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" int celer_cuda_describe(char *buf, size_t size) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        snprintf(buf, size, "no CUDA device");
        return 0;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        snprintf(buf, size, "CUDA device 0: properties unavailable");
        return n;
    }
    snprintf(buf, size, "%s, %d SMs, %.1f GiB, compute capability %d.%d", prop.name, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor);
    return n;
}
