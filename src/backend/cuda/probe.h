/* probe.h: what one CUDA device is and what it measurably does: name, memory, the
 * device-to-device copy bandwidth (the ceiling a decode step that reads every weight once
 * is measured against) and the bf16 matrix rate of cuBLAS (the ceiling of prefill).
 * Implemented in probe.cu (built with -DCELER_CUDA=ON); used by `celer gpu-info` and
 * scripts/gpu-check.sh. Test: scripts/gpu-check.sh on a GPU machine; tests/test_gpu_check.sh
 * covers the build without CUDA (a clear message, non-zero exit). */
#ifndef CELER_BACKEND_CUDA_PROBE_H
#define CELER_BACKEND_CUDA_PROBE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int device, n_devices;
    char name[256];
    int cc_major, cc_minor, sm_count;
    int driver_version, runtime_version; /* 1000 * major + 10 * minor */
    double total_bytes, free_bytes;
    double peak_gbps;      /* from the memory clock and bus width (the datasheet figure); 0: unknown */
    double copy_bytes;     /* size of the buffer copied */
    double copy_gbps;      /* measured: cudaMemcpyAsync device to device, (read + written) bytes / time, best of several */
    int gemm_n;            /* n of the n x n x n product; 0: not run */
    double bf16_tflops;    /* measured: cublasGemmEx, bf16 in and out, fp32 accumulation, best of several */
    char error[256];       /* why a measurement is missing, or why the probe failed */
} celer_cuda_probe_info;

/* Probes device (gemm_n 0: no matrix product). Returns 0 when everything ran, 1 when the
 * device was found but a measurement failed (error says which), -1 when there is no CUDA
 * device (error says what CUDA answered). */
int celer_cuda_probe(int device, int gemm_n, celer_cuda_probe_info *out);

#ifdef __cplusplus
}
#endif

#endif
