// cuda_info.cu: a one-line description of CUDA device 0 (name, SMs, memory, compute
// capability), for the gpu_info field of `celer bench --gpu` (tools/cmd_bench.c).
// Compiled when the build has -DCELER_CUDA=ON; it runs only where a device is (no test
// without one).
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
