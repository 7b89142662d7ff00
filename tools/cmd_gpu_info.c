/* cmd_gpu_info.c: `celer gpu-info`: the CUDA device, its memory, and two measured
 * ceilings: the device-to-device copy bandwidth (what decode at batch 1 is compared
 * with) and the bf16 matrix rate of cuBLAS (what prefill is compared with). Without a
 * CUDA build or without a device it says so and exits 1.
 * Tests: tests/test_synth.sh (the message of a build without CUDA); scripts/gpu-check.sh
 * runs it on a GPU machine. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#ifdef CELER_HAVE_CUDA
#include "backend/cuda/probe.h"
#endif

#define GPU_INFO_DEFAULT_GEMM_N 8192

static void gpu_info_usage(FILE *out) {
    fprintf(out,
            "usage: celer gpu-info [options]\n"
            "\n"
            "Prints the CUDA device's name, compute capability and memory, then measures its\n"
            "device-to-device copy bandwidth (cudaMemcpyAsync of up to 1 GiB, timed with events,\n"
            "best of 10; read + written bytes per second, as CUDA's bandwidthTest counts) and the\n"
            "bf16 matrix rate of cuBLAS (cublasGemmEx N x N x N, fp32 accumulation, best of 10).\n"
            "Exits 1 when celer was built without CUDA (-DCELER_CUDA=ON) or finds no device.\n"
            "\n"
            "  -d, --device N   the device (default: 0)\n"
            "      --gemm-n N   size of the matrix product (default: %d); 0 skips it\n"
            "      --json       one JSON object instead of text\n"
            "  -h, --help       this help\n",
            GPU_INFO_DEFAULT_GEMM_N);
}

#ifdef CELER_HAVE_CUDA
static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('"');
}

static void print_info(const celer_cuda_probe_info *p, bool json) {
    const double gib = 1024.0 * 1024.0 * 1024.0;
    if (json) {
        printf("{\"device\": %d, \"n_devices\": %d, \"name\": ", p->device, p->n_devices);
        print_json_string(p->name);
        printf(", \"compute_capability\": \"%d.%d\", \"sm_count\": %d, \"driver_version\": %d, \"runtime_version\": %d, "
               "\"total_bytes\": %.0f, \"free_bytes\": %.0f, \"peak_gbps\": %.1f, \"copy_bytes\": %.0f, \"copy_gbps\": %.1f, "
               "\"gemm_n\": %d, \"bf16_tflops\": %.1f, \"error\": ",
               p->cc_major, p->cc_minor, p->sm_count, p->driver_version, p->runtime_version, p->total_bytes, p->free_bytes,
               p->peak_gbps, p->copy_bytes, p->copy_gbps, p->gemm_n, p->bf16_tflops);
        print_json_string(p->error);
        printf("}\n");
        return;
    }
    printf("device:      %d of %d: %s, compute capability %d.%d, %d SMs\n", p->device, p->n_devices, p->name, p->cc_major,
           p->cc_minor, p->sm_count);
    printf("cuda:        driver %d.%d, runtime %d.%d\n", p->driver_version / 1000, p->driver_version % 1000 / 10,
           p->runtime_version / 1000, p->runtime_version % 1000 / 10);
    printf("memory:      %.1f GiB total, %.1f GiB free", p->total_bytes / gib, p->free_bytes / gib);
    if (p->peak_gbps > 0) printf(", %.0f GB/s peak (memory clock x bus width)", p->peak_gbps);
    printf("\n");
    if (p->copy_gbps > 0) {
        printf("copy:        %.0f GB/s device to device (read + write, %.0f MiB buffer, best of 10)", p->copy_gbps, p->copy_bytes / 1048576.0);
        if (p->peak_gbps > 0) printf(", %.0f%% of peak", 100.0 * p->copy_gbps / p->peak_gbps);
        printf("\n");
    }
    if (p->bf16_tflops > 0) printf("bf16 matmul: %.1f TFLOP/s (cublasGemmEx %d^3, fp32 accumulation, best of 10)\n", p->bf16_tflops, p->gemm_n);
    if (p->error[0]) printf("note:        %s\n", p->error);
}
#endif

int cmd_gpu_info(int argc, char **argv) {
    int32_t device = 0, gemm_n = GPU_INFO_DEFAULT_GEMM_N;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            gpu_info_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "-d") || !strcmp(a, "--device")) {
            if (!(v = cli_value("gpu-info", argc, argv, &i)) || !cli_parse_int("gpu-info", a, v, 0, 1023, &device)) return 2;
        } else if (!strcmp(a, "--gemm-n")) {
            if (!(v = cli_value("gpu-info", argc, argv, &i)) || !cli_parse_int("gpu-info", a, v, 0, 65536, &gemm_n)) return 2;
        } else {
            fprintf(stderr, "celer gpu-info: unknown option '%s' (try `celer gpu-info --help`)\n", a);
            return 2;
        }
    }
#ifdef CELER_HAVE_CUDA
    celer_cuda_probe_info info;
    int rc = celer_cuda_probe(device, gemm_n, &info);
    if (rc < 0) {
        fprintf(stderr, "celer gpu-info: %s\n", info.error);
        return 1;
    }
    print_info(&info, json);
    if (rc > 0) fprintf(stderr, "celer gpu-info: a measurement failed: %s\n", info.error);
    return rc > 0 ? 1 : 0;
#else
    (void)device, (void)gemm_n, (void)json;
    fprintf(stderr, "celer gpu-info: this celer was built without CUDA (configure with -DCELER_CUDA=ON and build again)\n");
    return 1;
#endif
}
