/* bench_gemm.c: one-thread timing of a matrix kernel on one weight matrix, for comparing
 * kernel versions without the noise of a whole model run (the numbers in
 * docs/benchmarks.md, "what each piece gained").
 *
 *   cc -O2 -march=native -Isrc -Iinclude dev/cpu/bench_gemm.c build/libceler.a \
 *      -lcjson -lpcre2-8 -lmicrohttpd -lm -lpthread -o /tmp/bench_gemm
 *   /tmp/bench_gemm TYPE ROWS K TOKENS      e.g. 8 1536 576 64 (Q8_0, a gate product)
 *
 * TYPE is the GGUF type number (Q4_0 2, Q4_1 3, Q5_0 6, Q8_0 8, Q4_K 12, Q6_K 14). Prints
 * the best of 20 runs as GMAC/s for the layout the CPU backend uses: the repacked layout
 * (gemm_packed) and, where the table has them, wide activations (gemm_packed_wide); the
 * file's layout (gemm) for types without one. The matrix is small enough to stay in
 * cache: this measures arithmetic, not memory bandwidth. Correctness is tests/test_kernels.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "quant/kernels.h"
#include "quant/quant.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef void (*gemm_fn)(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *a, size_t arb, int64_t n,
                        float *y, int64_t ldy);

/* Best of 20: all rows in units of 16, as the backend hands them out for prompts. */
static double best_seconds(gemm_fn fn, int64_t k, const void *w, size_t wrb, int64_t rows, const void *a, size_t arb, int64_t n,
                           float *y) {
    double best = 1e30;
    for (int it = 0; it < 20; it++) {
        double t0 = now_s();
        for (int64_t r = 0; r < rows; r += 16) fn(k, w, wrb, r, r + 16 < rows ? r + 16 : rows, a, arb, n, y, rows);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s TYPE ROWS K TOKENS\n", argv[0]);
        return 2;
    }
    const uint32_t type = (uint32_t)atoi(argv[1]);
    const int64_t rows = atoll(argv[2]), k = atoll(argv[3]), n = atoll(argv[4]);
    const quant_traits *tr = quant_get_traits(type);
    const quant_kernels *kern = quant_kernels_get(type);
    if (!tr || !kern || rows < 1 || n < 1 || k < 1 || k % tr->block_size != 0) {
        fprintf(stderr, "bench_gemm: no kernels for type %u, or a bad shape\n", type);
        return 1;
    }
    const size_t wrb = quant_row_size(type, k), arb = quant_row_size(tr->vec_dot_type, k);
    char *w = malloc((size_t)rows * wrb), *a = malloc((size_t)n * arb);
    float *x = malloc((size_t)(rows > n ? rows : n) * (size_t)k * sizeof(float)), *y = malloc((size_t)(n * rows) * sizeof(float));
    if (!w || !a || !x || !y) return 1;
    /* random bytes (K-quants have no reference quantizer), then real rows where there is one */
    for (size_t i = 0; i < (size_t)rows * wrb; i++) w[i] = (char)(rand() & 0x3f);
    for (int64_t i = 0; i < rows * k; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    if (tr->quantize_row)
        for (int64_t r = 0; r < rows; r++) tr->quantize_row(x + r * k, w + r * (int64_t)wrb, k);
    for (int64_t t = 0; t < n; t++) kern->quantize_act(x + t * k, a + t * (int64_t)arb, k);
    const double macs = (double)rows * (double)k * (double)n;
    if (!kern->pack) {
        printf("type %u, %lld x %lld, %lld tokens: gemm %.2f GMAC/s\n", type, (long long)rows, (long long)k, (long long)n,
               macs / best_seconds(kern->gemm, k, w, wrb, rows, a, arb, n, y) * 1e-9);
        return 0;
    }
    char *packed = malloc(quant_kernels_packed_bytes(kern, rows, wrb));
    if (!packed) return 1;
    kern->pack(w, wrb, rows, k, packed);
    printf("type %u, %lld x %lld, %lld tokens: gemm_packed %.2f GMAC/s", type, (long long)rows, (long long)k, (long long)n,
           macs / best_seconds(kern->gemm_packed, k, packed, wrb, rows, a, arb, n, y) * 1e-9);
    if (kern->gemm_packed_wide) {
        const size_t wide = quant_kernels_wide_row_bytes(k);
        char *aw = malloc((size_t)n * wide);
        if (!aw) return 1;
        for (int64_t t = 0; t < n; t++) kern->quantize_act_wide(x + t * k, aw + t * (int64_t)wide, k);
        printf(", gemm_packed_wide %.2f GMAC/s", macs / best_seconds(kern->gemm_packed_wide, k, packed, wrb, rows, aw, wide, n, y) * 1e-9);
        free(aw);
    }
    printf("\n");
    free(packed);
    free(w);
    free(a);
    free(x);
    free(y);
    return 0;
}
