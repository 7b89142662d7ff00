/* test_cuda_ops.c: every CUDA op against the CPU's scalar reference, for every weight
 * type the kernels read and several shapes (odd row counts, one row, widths of one block),
 * by normalized error ||gpu - ref|| / ||ref|| with a threshold per op:
 *   matvec (plain, accumulate, Q+K+V in one launch, SwiGLU; 1, 3 and 8 tokens): 1e-5
 *     against dequantize_row + a dot in double (fp32 arithmetic in another order);
 *   get_rows: 1e-6 (the same floats, contraction aside); dequantize to F16: 1e-3;
 *   GEMM (F16 inputs, fp32 accumulation): 1e-4 against double over the F16-rounded inputs;
 *   rmsnorm, silu_mul: 1e-5; rope + KV write: 1e-5 (Q, K) and exact fp16 rounding of the
 *     cache rows up to one ulp;
 *   attention: 5e-3 against cpu_attention, which rounds queries and probabilities to fp16
 *     as ggml does (the GPU keeps fp32).
 * First, on any machine, the device dequantizers run on the host (cuda_dequantize_row_host)
 * and must match dequantize_row for every type (normalized error 1e-6: index arithmetic).
 * The rest needs a CUDA device: without one it prints "SKIPPED: no CUDA device (...)" and
 * exits 0. CELER_CUDA_BENCH=1 also times the matrix-vector kernel per type (GB/s of
 * weights read, on Llama-3-8B's shapes). 
 * Built only with -DCELER_CUDA=ON. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/ops.h"
#include "backend/cuda/cuda_ops.h"
#include "core/half.h"
#include "core/threadpool.h"
#include "engine/kv_cache.h"
#include "quant/quant.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
}
static uint8_t brand(void) { return (uint8_t)((frand() + 1.0f) * 127.9f); }

#define CU(call) assert_int_equal((call), cudaSuccess)
/* A launcher call that must succeed; its error argument is written &e_, declared here. */
#define OK(call)                                                        \
    do {                                                                \
        celer_error e_ = {0};                                           \
        celer_status s_ = (call);                                       \
        if (s_ != CELER_OK) fprintf(stderr, "%s: %s\n", #call, e_.msg); \
        assert_int_equal(s_, CELER_OK);                                 \
    } while (0)

static void *to_device(const void *host, size_t bytes) {
    void *d = NULL;
    CU(cudaMalloc(&d, bytes ? bytes : 1));
    if (host) CU(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice));
    else CU(cudaMemset(d, 0xff, bytes)); /* poison: NaN floats, so unwritten outputs show */
    return d;
}

static void from_device(void *host, const void *dev, size_t bytes) {
    CU(cudaDeviceSynchronize());
    CU(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
}

static double rel_error(const float *got, const double *ref, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return sqrt(num / (den > 0 ? den : 1e-30));
}

static void expect_close(const char *what, const float *got, const double *ref, int64_t n, double limit) {
    double e = rel_error(got, ref, n);
    if (!(e <= limit)) fprintf(stderr, "FAIL %s: normalized error %.3g > %.3g\n", what, e, limit);
    assert_true(e <= limit);
}

/* The types and where each block keeps its fp16 scales (random bytes elsewhere are valid). */
typedef struct {
    uint32_t type;
    int scale_offsets[2];
} type_case;
static const type_case types[] = {
    {QUANT_F32, {-1, -1}},   {QUANT_F16, {-1, -1}},  {QUANT_BF16, {-1, -1}}, {QUANT_Q8_0, {0, -1}},
    {QUANT_Q4_0, {0, -1}},   {QUANT_Q4_1, {0, 2}},   {QUANT_Q5_0, {0, -1}},  {QUANT_Q5_1, {0, 2}},
    {QUANT_IQ4_NL, {0, -1}}, {QUANT_Q2_K, {80, 82}}, {QUANT_Q3_K, {108, -1}}, {QUANT_Q4_K, {0, 2}},
    {QUANT_Q5_K, {0, 2}},    {QUANT_Q6_K, {208, -1}},
};
#define N_TYPES ((int)(sizeof(types) / sizeof(types[0])))

/* rows x cols random weights of tc's type, and their dequantized floats. */
static void *random_weights(const type_case *tc, int64_t rows, int64_t cols, float *deq) {
    const quant_traits *tr = quant_get_traits(tc->type);
    const size_t row_bytes = quant_row_size(tc->type, cols);
    uint8_t *w = malloc(row_bytes * (size_t)rows);
    assert_non_null(w);
    if (tc->type == QUANT_F32 || tc->type == QUANT_F16 || tc->type == QUANT_BF16) {
        float *src = malloc((size_t)cols * sizeof(float));
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t c = 0; c < cols; c++) src[c] = frand();
            tr->quantize_row(src, w + r * row_bytes, cols);
        }
        free(src);
    } else {
        for (size_t i = 0; i < row_bytes * (size_t)rows; i++) w[i] = brand();
        const size_t nblocks = row_bytes * (size_t)rows / tr->type_size;
        for (size_t b = 0; b < nblocks; b++)
            for (int s = 0; s < 2; s++)
                if (tc->scale_offsets[s] >= 0) {
                    uint16_t h = celer_fp32_to_fp16(0.002f + 0.02f * (frand() + 1.0f));
                    memcpy(w + b * tr->type_size + tc->scale_offsets[s], &h, 2);
                }
    }
    for (int64_t r = 0; r < rows; r++) tr->dequantize_row(w + r * row_bytes, deq + r * cols, cols);
    return w;
}

/* ref (n, rows) = x (n, cols) · wᵀ in double. */
static void matmul_ref(const float *w, const float *x, int64_t rows, int64_t cols, int32_t n, double *ref) {
    for (int32_t t = 0; t < n; t++)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0.0;
            for (int64_t c = 0; c < cols; c++) s += (double)w[r * cols + c] * (double)x[t * cols + c];
            ref[t * rows + r] = s;
        }
}

/* ---- matvec ---- */

typedef struct {
    int64_t rows, cols;
} shape;

static void matvec_case(const type_case *tc, shape sh, int32_t n) {
    const int64_t rows = sh.rows, cols = sh.cols;
    const size_t row_bytes = quant_row_size(tc->type, cols);
    float *deq = malloc((size_t)(rows * cols) * sizeof(float)), *deq2 = malloc((size_t)(rows * cols) * sizeof(float));
    float *x = malloc((size_t)(n * cols) * sizeof(float)), *got = malloc((size_t)(n * rows) * sizeof(float));
    double *ref = malloc((size_t)(n * rows) * sizeof(double)), *ref2 = malloc((size_t)(n * rows) * sizeof(double));
    void *w = random_weights(tc, rows, cols, deq), *w2 = random_weights(tc, rows, cols, deq2);
    for (int64_t i = 0; i < n * cols; i++) x[i] = frand();
    matmul_ref(deq, x, rows, cols, n, ref);
    matmul_ref(deq2, x, rows, cols, n, ref2);
    void *dw = to_device(w, row_bytes * (size_t)rows), *dw2 = to_device(w2, row_bytes * (size_t)rows);
    float *dx = to_device(x, (size_t)(n * cols) * sizeof(float));
    float *dy = to_device(NULL, (size_t)(n * rows) * sizeof(float)), *dy2 = to_device(NULL, (size_t)(n * rows) * sizeof(float));
    char what[128];
    snprintf(what, sizeof(what), "matvec %s %lldx%lld n=%d", quant_type_name(tc->type), (long long)rows, (long long)cols, n);

    /* one output */
    matvec_args a = {.type = tc->type, .n_out = 1, .x = dx, .x_stride = cols, .cols = cols, .n_tokens = n};
    a.out[0] = (matvec_out){dw, row_bytes, rows, dy, rows, false};
    OK(matvec_cuda(&a, 0, &e_));
    from_device(got, dy, (size_t)(n * rows) * sizeof(float));
    expect_close(what, got, ref, n * rows, 1e-5);
    /* accumulate: y += W x on top of the result, so twice the reference */
    a.out[0].accumulate = true;
    OK(matvec_cuda(&a, 0, &e_));
    from_device(got, dy, (size_t)(n * rows) * sizeof(float));
    for (int64_t i = 0; i < n * rows; i++) got[i] *= 0.5f;
    expect_close("matvec accumulate", got, ref, n * rows, 1e-5);
    /* two outputs in one launch (the Q, K, V form) */
    a.out[0].accumulate = false;
    a.out[1] = (matvec_out){dw2, row_bytes, rows, dy2, rows, false};
    a.n_out = 2;
    OK(matvec_cuda(&a, 0, &e_));
    from_device(got, dy2, (size_t)(n * rows) * sizeof(float));
    expect_close("matvec second output", got, ref2, n * rows, 1e-5);
    /* SwiGLU: silu(W x) * (W2 x) */
    a.swiglu = true;
    OK(matvec_cuda(&a, 0, &e_));
    from_device(got, dy, (size_t)(n * rows) * sizeof(float));
    for (int64_t i = 0; i < n * rows; i++) ref[i] = ref[i] / (1.0 + exp(-ref[i])) * ref2[i];
    expect_close("matvec swiglu", got, ref, n * rows, 1e-5);

    cudaFree(dw), cudaFree(dw2), cudaFree(dx), cudaFree(dy), cudaFree(dy2);
    free(w), free(w2), free(deq), free(deq2), free(x), free(got), free(ref), free(ref2);
}

static void test_matvec(void **state) {
    (void)state;
    const shape block32[] = {{1, 32}, {37, 96}, {300, 512}, {5, 4096}};
    const shape block256[] = {{1, 256}, {37, 512}, {129, 768}, {5, 4096}};
    const int32_t tokens[] = {1, 3, 8};
    for (int t = 0; t < N_TYPES; t++) {
        const bool k_quant = quant_get_traits(types[t].type)->block_size == 256;
        for (int s = 0; s < 4; s++)
            for (int i = 0; i < 3; i++) matvec_case(&types[t], k_quant ? block256[s] : block32[s], tokens[i]);
    }
}

/* A wrong argument is an error line, not a launch. */
static void test_matvec_refuses(void **state) {
    (void)state;
    celer_error err = {0};
    matvec_args a = {.type = QUANT_Q8_K, .n_out = 1, .cols = 256, .n_tokens = 1};
    assert_int_equal(matvec_cuda(&a, 0, &err), CELER_ERR_UNSUPPORTED);
    a.type = QUANT_Q4_0;
    a.n_tokens = 9;
    assert_int_equal(matvec_cuda(&a, 0, &err), CELER_ERR_INVALID_ARG);
}

/* ---- dequantization ---- */

static void test_dequant_and_rows(void **state) {
    (void)state;
    for (int t = 0; t < N_TYPES; t++) {
        const int64_t cols = quant_get_traits(types[t].type)->block_size == 256 ? 512 : 96, rows = 41;
        const size_t row_bytes = quant_row_size(types[t].type, cols);
        float *deq = malloc((size_t)(rows * cols) * sizeof(float)), *got = malloc((size_t)(rows * cols) * sizeof(float));
        double *ref = malloc((size_t)(rows * cols) * sizeof(double));
        uint16_t *h = malloc((size_t)(rows * cols) * sizeof(uint16_t));
        void *w = random_weights(&types[t], rows, cols, deq);
        void *dw = to_device(w, row_bytes * (size_t)rows), *dh = to_device(NULL, (size_t)(rows * cols) * 2);
        OK(dequantize_f16_cuda(types[t].type, dw, row_bytes, rows, cols, dh, 0, &e_));
        from_device(h, dh, (size_t)(rows * cols) * 2);
        for (int64_t i = 0; i < rows * cols; i++) got[i] = celer_fp16_to_fp32(h[i]), ref[i] = deq[i];
        expect_close(quant_type_name(types[t].type), got, ref, rows * cols, 1e-3);
        /* embedding rows, in a scrambled order with a repeat */
        const int32_t ids[5] = {40, 0, 17, 17, 3};
        int32_t *dids = to_device(ids, sizeof(ids));
        float *drows = to_device(NULL, (size_t)(5 * cols) * sizeof(float));
        OK(get_rows_cuda(types[t].type, dw, row_bytes, cols, dids, 5, drows, 0, &e_));
        from_device(got, drows, (size_t)(5 * cols) * sizeof(float));
        for (int i = 0; i < 5; i++)
            for (int64_t c = 0; c < cols; c++) ref[i * cols + c] = deq[ids[i] * cols + c];
        expect_close("get_rows", got, ref, 5 * cols, 1e-6);
        cudaFree(dw), cudaFree(dh), cudaFree(dids), cudaFree(drows);
        free(w), free(deq), free(got), free(ref), free(h);
    }
}

/* ---- GEMM ---- */

static void test_gemm(void **state) {
    (void)state;
    cublasHandle_t blas = NULL;
    assert_int_equal(cublasCreate(&blas), CUBLAS_STATUS_SUCCESS);
    const struct { int64_t rows, cols; int32_t n; } cases[] = {{64, 256, 17}, {333, 96, 40}, {1000, 512, 9}, {7, 32, 100}};
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        const int64_t rows = cases[ci].rows, cols = cases[ci].cols;
        const int32_t n = cases[ci].n;
        uint16_t *w16 = malloc((size_t)(rows * cols) * 2);
        float *w = malloc((size_t)(rows * cols) * sizeof(float)), *x = malloc((size_t)(n * cols) * sizeof(float));
        float *xr = malloc((size_t)(n * cols) * sizeof(float)), *got = malloc((size_t)(n * rows) * sizeof(float));
        double *ref = malloc((size_t)(n * rows) * sizeof(double));
        for (int64_t i = 0; i < rows * cols; i++) w16[i] = celer_fp32_to_fp16(frand()), w[i] = celer_fp16_to_fp32(w16[i]);
        for (int64_t i = 0; i < n * cols; i++) x[i] = frand(), xr[i] = celer_fp16_to_fp32(celer_fp32_to_fp16(x[i]));
        matmul_ref(w, xr, rows, cols, n, ref);
        void *dw = to_device(w16, (size_t)(rows * cols) * 2), *dx16 = to_device(NULL, (size_t)(n * cols) * 2);
        float *dx = to_device(x, (size_t)(n * cols) * sizeof(float)), *dy = to_device(NULL, (size_t)(n * rows) * sizeof(float));
        OK(f32_to_f16_cuda(dx, dx16, n * cols, 0, &e_));
        OK(gemm_f16_cuda(blas, dw, dx16, rows, cols, n, dy, rows, false, &e_));
        from_device(got, dy, (size_t)(n * rows) * sizeof(float));
        expect_close("gemm", got, ref, n * rows, 1e-4);
        OK(gemm_f16_cuda(blas, dw, dx16, rows, cols, n, dy, rows, true, &e_));
        from_device(got, dy, (size_t)(n * rows) * sizeof(float));
        for (int64_t i = 0; i < n * rows; i++) got[i] *= 0.5f;
        expect_close("gemm accumulate", got, ref, n * rows, 1e-4);
        cudaFree(dw), cudaFree(dx16), cudaFree(dx), cudaFree(dy);
        free(w16), free(w), free(x), free(xr), free(got), free(ref);
    }
    cublasDestroy(blas);
}

/* ---- element-wise ---- */

static void test_norm_silu(void **state) {
    (void)state;
    const int64_t dims[] = {32, 576, 4097};
    for (int di = 0; di < 3; di++) {
        const int64_t dim = dims[di];
        const int32_t n = 6, rows[3] = {5, 0, 2};
        float *x = malloc((size_t)(n * dim) * sizeof(float)), *w = malloc((size_t)dim * sizeof(float));
        float *cpu = malloc((size_t)(n * dim) * sizeof(float)), *got = malloc((size_t)(n * dim) * sizeof(float));
        double *ref = malloc((size_t)(n * dim) * sizeof(double));
        for (int64_t i = 0; i < n * dim; i++) x[i] = 3.0f * frand();
        for (int64_t i = 0; i < dim; i++) w[i] = frand();
        cpu_rmsnorm(cpu, x, w, n, dim, 1e-5f);
        float *dx = to_device(x, (size_t)(n * dim) * sizeof(float)), *dw = to_device(w, (size_t)dim * sizeof(float));
        float *dout = to_device(NULL, (size_t)(n * dim) * sizeof(float));
        int32_t *drows = to_device(rows, sizeof(rows));
        OK(rmsnorm_cuda(dout, dx, dw, NULL, n, dim, 1e-5f, 0, &e_));
        from_device(got, dout, (size_t)(n * dim) * sizeof(float));
        for (int64_t i = 0; i < n * dim; i++) ref[i] = cpu[i];
        expect_close("rmsnorm", got, ref, n * dim, 1e-5);
        OK(rmsnorm_cuda(dout, dx, dw, drows, 3, dim, 1e-5f, 0, &e_));
        from_device(got, dout, (size_t)(3 * dim) * sizeof(float));
        for (int i = 0; i < 3; i++)
            for (int64_t j = 0; j < dim; j++) ref[i * dim + j] = cpu[rows[i] * dim + j];
        expect_close("rmsnorm gathered", got, ref, 3 * dim, 1e-5);
        /* silu(x) * w-ish: gate = x, up = x shifted */
        memcpy(cpu, x, (size_t)(n * dim) * sizeof(float));
        cpu_silu_mul(cpu, x + 1, n * dim - 1);
        OK(silu_mul_cuda(dx, dx + 1, n * dim - 1, 0, &e_));
        from_device(got, dx, (size_t)(n * dim - 1) * sizeof(float));
        for (int64_t i = 0; i < n * dim - 1; i++) ref[i] = cpu[i];
        expect_close("silu_mul", got, ref, n * dim - 1, 1e-5);
        cudaFree(dx), cudaFree(dw), cudaFree(dout), cudaFree(drows);
        free(x), free(w), free(cpu), free(got), free(ref);
    }
}

/* ---- rope and the KV write ---- */

static void rope_case(rope_pairing pairs, int32_t head_dim, int32_t n_rot, bool bias, bool factors) {
    model_hparams hp = {.n_head = 6, .n_head_kv = 2, .head_dim = head_dim, .n_rot = n_rot, .rope_pairs = pairs,
                        .rope_freq_base = 10000.0f, .rope_freq_scale = 0.5f};
    const int32_t n = 5, q_dim = hp.n_head * head_dim, kv_dim = hp.n_head_kv * head_dim, n_cells = 64;
    const int32_t pos[5] = {0, 1, 7, 300, 4095}, cell[5] = {3, 63, 0, 17, 40};
    float *q = malloc((size_t)(n * q_dim) * sizeof(float)), *k = malloc((size_t)(n * kv_dim) * sizeof(float));
    float *v = malloc((size_t)(n * kv_dim) * sizeof(float)), *got = malloc((size_t)(n * q_dim) * sizeof(float));
    float bq[4096], bk[1024], bv[1024], ff[256];
    double *ref = malloc((size_t)(n * q_dim) * sizeof(double));
    uint16_t *kc = malloc((size_t)(n_cells * kv_dim) * 2), *vc = malloc((size_t)(n_cells * kv_dim) * 2);
    for (int32_t i = 0; i < n * q_dim; i++) q[i] = frand();
    for (int32_t i = 0; i < n * kv_dim; i++) k[i] = frand(), v[i] = frand();
    for (int32_t i = 0; i < q_dim; i++) bq[i] = frand();
    for (int32_t i = 0; i < kv_dim; i++) bk[i] = frand(), bv[i] = frand();
    for (int32_t i = 0; i < n_rot / 2; i++) ff[i] = 1.0f + (float)i;
    float *dq = to_device(q, (size_t)(n * q_dim) * 4), *dk = to_device(k, (size_t)(n * kv_dim) * 4), *dv = to_device(v, (size_t)(n * kv_dim) * 4);
    float *dbq = to_device(bq, (size_t)q_dim * 4), *dbk = to_device(bk, (size_t)kv_dim * 4), *dbv = to_device(bv, (size_t)kv_dim * 4);
    float *dff = to_device(ff, sizeof(ff));
    uint16_t *dkc = to_device(NULL, (size_t)(n_cells * kv_dim) * 2), *dvc = to_device(NULL, (size_t)(n_cells * kv_dim) * 2);
    int32_t *dpos = to_device(pos, sizeof(pos)), *dcell = to_device(cell, sizeof(cell));
    rope_kv_args a = {.q = dq, .k = dk, .v = dv, .bq = bias ? dbq : NULL, .bk = bias ? dbk : NULL, .bv = bias ? dbv : NULL,
                      .k_cache = dkc, .v_cache = dvc, .pos = dpos, .cell = dcell, .freq_factors = factors ? dff : NULL, .n = n,
                      .n_head = hp.n_head, .n_head_kv = hp.n_head_kv, .head_dim = head_dim, .n_rot = n_rot,
                      .rope_halves = pairs == ROPE_PAIRS_HALVES, .freq_base = hp.rope_freq_base, .freq_scale = hp.rope_freq_scale};
    OK(rope_kv_cuda(&a, 0, &e_));
    /* the CPU's order: biases, then rope */
    if (bias) {
        cpu_add_bias(q, bq, n, q_dim);
        cpu_add_bias(k, bk, n, kv_dim);
        cpu_add_bias(v, bv, n, kv_dim);
    }
    cpu_rope(q, pos, n, hp.n_head, &hp, factors ? ff : NULL);
    cpu_rope(k, pos, n, hp.n_head_kv, &hp, factors ? ff : NULL);
    from_device(got, dq, (size_t)(n * q_dim) * 4);
    for (int32_t i = 0; i < n * q_dim; i++) ref[i] = q[i];
    expect_close("rope q", got, ref, n * q_dim, 1e-5);
    from_device(got, dk, (size_t)(n * kv_dim) * 4);
    for (int32_t i = 0; i < n * kv_dim; i++) ref[i] = k[i];
    expect_close("rope k", got, ref, n * kv_dim, 1e-5);
    from_device(kc, dkc, (size_t)(n_cells * kv_dim) * 2);
    from_device(vc, dvc, (size_t)(n_cells * kv_dim) * 2);
    for (int32_t t = 0; t < n; t++)
        for (int32_t e = 0; e < kv_dim; e++) {
            const uint16_t kw = celer_fp32_to_fp16(k[t * kv_dim + e]), vw = celer_fp32_to_fp16(v[t * kv_dim + e]);
            const uint16_t kg = kc[cell[t] * kv_dim + e], vg = vc[cell[t] * kv_dim + e];
            assert_true(abs((int)kg - (int)kw) <= 1); /* one ulp: the rotated value may differ in its last float bit */
            assert_int_equal(vg, vw);
        }
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dbq), cudaFree(dbk), cudaFree(dbv), cudaFree(dff);
    cudaFree(dkc), cudaFree(dvc), cudaFree(dpos), cudaFree(dcell);
    free(q), free(k), free(v), free(got), free(ref), free(kc), free(vc);
}

static void test_rope_kv(void **state) {
    (void)state;
    rope_case(ROPE_PAIRS_ADJACENT, 64, 64, false, false);
    rope_case(ROPE_PAIRS_HALVES, 128, 128, true, false);
    rope_case(ROPE_PAIRS_ADJACENT, 128, 64, false, true); /* partial rotary, frequency factors */
    rope_case(ROPE_PAIRS_HALVES, 96, 32, true, true);
}

/* ---- attention ---- */

/* Two sequences of lengths len0 and len1 in the cache; the batch is the last n0 tokens of
 * sequence 0 and the last n1 of sequence 1. */
static void attention_case(int32_t n_head, int32_t n_head_kv, int32_t head_dim, int32_t len0, int32_t n0, int32_t len1, int32_t n1) {
    model_hparams hp = {.n_head = n_head, .n_head_kv = n_head_kv, .head_dim = head_dim};
    const int32_t kv_dim = n_head_kv * head_dim, q_dim = n_head * head_dim, n = n0 + n1, n_cells = len0 + len1 + 2 * KV_BLOCK_SIZE;
    kv_cache *kv = NULL;
    assert_int_equal(kv_cache_init(&kv, 1, kv_dim, n_cells, 2, NULL), CELER_OK);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, len0 + len1, NULL), CELER_OK);
    for (int32_t p = 0; p < len1 || p < len0; p++) { /* interleaved, so the sequences' blocks interleave */
        if (p < len0) celer_batch_add(&b, 0, p, 0, false, NULL);
        if (p < len1) celer_batch_add(&b, 0, p, 1, false, NULL);
    }
    assert_int_equal(kv_cache_reserve(kv, &b, NULL), CELER_OK);
    uint16_t *kc = calloc((size_t)n_cells * kv_dim, 2), *vc = calloc((size_t)n_cells * kv_dim, 2);
    for (int32_t s = 0; s < 2; s++)
        for (int32_t p = 0; p < (s ? len1 : len0); p++) {
            uint16_t *kr = kv_cache_k(kv, 0, s, p), *vr = kv_cache_v(kv, 0, s, p);
            for (int32_t e = 0; e < kv_dim; e++) kr[e] = celer_fp32_to_fp16(2.0f * frand()), vr[e] = celer_fp32_to_fp16(frand());
            memcpy(kc + (size_t)kv_cache_cell(kv, s, p) * kv_dim, kr, (size_t)kv_dim * 2);
            memcpy(vc + (size_t)kv_cache_cell(kv, s, p) * kv_dim, vr, (size_t)kv_dim * 2);
        }
    int32_t pos[64], seq[64], table_off[64], blocks[512];
    int32_t nb0 = (len0 + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE, nb1 = (len1 + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
    assert_true(n <= 64 && nb0 + nb1 <= 512);
    memcpy(blocks, kv_cache_seq_blocks(kv, 0), (size_t)nb0 * 4);
    memcpy(blocks + nb0, kv_cache_seq_blocks(kv, 1), (size_t)nb1 * 4);
    for (int32_t i = 0; i < n; i++) {
        seq[i] = i < n0 ? 0 : 1;
        pos[i] = i < n0 ? len0 - n0 + i : len1 - n1 + (i - n0);
        table_off[i] = seq[i] ? nb0 : 0;
    }
    float *q = malloc((size_t)(n * q_dim) * 4), *cpu = malloc((size_t)(n * q_dim) * 4), *got = malloc((size_t)(n * q_dim) * 4);
    double *ref = malloc((size_t)(n * q_dim) * sizeof(double));
    for (int32_t i = 0; i < n * q_dim; i++) q[i] = frand();
    threadpool *pool = NULL;
    assert_int_equal(threadpool_init(&pool, 2, NULL), CELER_OK);
    const int32_t n_ctx = len0 > len1 ? len0 : len1;
    float *scores = malloc(cpu_attention_scores_floats(2, n_head, n_head_kv, head_dim, n_ctx) * sizeof(float));
    cpu_attention_args ca = {.q = q, .out = cpu, .pos = pos, .seq_id = seq, .n = n, .layer = 0, .n_ctx = n_ctx, .hp = &hp, .kv = kv, .scores = scores};
    cpu_attention(pool, &ca);
    for (int32_t i = 0; i < n * q_dim; i++) ref[i] = cpu[i];
    /* device: decode-style splits of 32 positions; three splits of whatever length the
     * context needs (at least 16); one chunk over everything */
    const int32_t chunks[3] = {32, 16, (n_cells + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE * KV_BLOCK_SIZE};
    for (int ci = 0; ci < 3; ci++) {
        const int32_t n_chunks = ci == 1 ? 3 : (n_cells + chunks[ci] - 1) / chunks[ci];
        float *dq = to_device(q, (size_t)(n * q_dim) * 4), *dout = to_device(NULL, (size_t)(n * q_dim) * 4);
        float *dpart = to_device(NULL, attention_partial_floats(n, n_head, head_dim, n_chunks) * 4);
        uint16_t *dkc = to_device(kc, (size_t)n_cells * kv_dim * 2), *dvc = to_device(vc, (size_t)n_cells * kv_dim * 2);
        int32_t *dpos = to_device(pos, (size_t)n * 4), *doff = to_device(table_off, (size_t)n * 4), *dblocks = to_device(blocks, (size_t)(nb0 + nb1) * 4);
        attention_args a = {.q = dq, .out = dout, .k_cache = dkc, .v_cache = dvc, .pos = dpos, .table_off = doff, .blocks = dblocks,
                            .partial = dpart, .n = n, .n_head = n_head, .n_head_kv = n_head_kv, .head_dim = head_dim,
                            .block_size = KV_BLOCK_SIZE, .chunk = chunks[ci], .n_chunks = n_chunks};
        OK(attention_cuda(&a, 0, &e_));
        from_device(got, dout, (size_t)(n * q_dim) * 4);
        char what[96];
        snprintf(what, sizeof(what), "attention heads %d/%d dim %d chunk %d", n_head, n_head_kv, head_dim, chunks[ci]);
        expect_close(what, got, ref, n * q_dim, 5e-3);
        cudaFree(dq), cudaFree(dout), cudaFree(dpart), cudaFree(dkc), cudaFree(dvc), cudaFree(dpos), cudaFree(doff), cudaFree(dblocks);
    }
    threadpool_free(pool);
    free(scores), free(q), free(cpu), free(got), free(ref), free(kc), free(vc);
    celer_batch_free(&b);
    kv_cache_free(kv);
}

static void test_attention(void **state) {
    (void)state;
    attention_case(9, 3, 64, 700, 1, 33, 1);   /* decode, two sequences, GQA 3 (SmolLM2's heads) */
    attention_case(8, 8, 128, 300, 3, 5, 2);   /* several tokens per sequence, no grouping */
    attention_case(32, 8, 128, 40, 40, 1, 1);  /* a prompt beside a one-token sequence */
    attention_case(4, 1, 256, 17, 17, 300, 1); /* GQA 4, wide heads */
    attention_case(2, 2, 32, 1, 1, 16, 16);    /* one position; exactly one block */
}

/* ---- the dequantizers on the host ---- */

static void test_dequant_host(void **state) {
    (void)state;
    for (int t = 0; t < N_TYPES; t++) {
        const int64_t cols = quant_get_traits(types[t].type)->block_size == 256 ? 1024 : 160, rows = 7;
        const size_t row_bytes = quant_row_size(types[t].type, cols);
        float *deq = malloc((size_t)(rows * cols) * sizeof(float)), *got = malloc((size_t)cols * sizeof(float));
        double *ref = malloc((size_t)cols * sizeof(double));
        uint8_t *w = random_weights(&types[t], rows, cols, deq);
        for (int64_t r = 0; r < rows; r++) {
            assert_true(cuda_dequantize_row_host(types[t].type, w + r * row_bytes, cols, got));
            for (int64_t c = 0; c < cols; c++) ref[c] = deq[r * cols + c];
            expect_close(quant_type_name(types[t].type), got, ref, cols, 1e-6);
        }
        free(deq), free(got), free(ref), free(w);
    }
    float out[256];
    assert_false(cuda_dequantize_row_host(QUANT_Q8_K, out, 256, out));
    /* the alignment check itself: a Q4_K row 2 bytes off its 8-byte loads is refused */
    uint8_t *row = calloc(1, 144 + 16);
    assert_true(cuda_dequantize_row_host(QUANT_Q4_K, row, 256, out));
    assert_false(cuda_dequantize_row_host(QUANT_Q4_K, row + 2, 256, out));
    free(row);
}

/* ---- timing (CELER_CUDA_BENCH=1): the matrix-vector kernel's bandwidth per type ---- */

static int compare_floats(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Median time of one token's product with a rows x cols matrix of each type, over 51
 * launches after a warm-up, and the weight bytes read over it (GB/s): the number to hold
 * against the device's measured copy bandwidth (celer gpu-info). Four matrices rotate so
 * that the 50 MB L2 cache does not serve them. */
static void bench_matvec(int64_t rows, int64_t cols) {
    float *x = malloc((size_t)cols * sizeof(float));
    for (int64_t i = 0; i < cols; i++) x[i] = frand();
    float *dx = to_device(x, (size_t)cols * sizeof(float)), *dy = to_device(NULL, (size_t)rows * sizeof(float));
    cudaEvent_t e0, e1;
    CU(cudaEventCreate(&e0));
    CU(cudaEventCreate(&e1));
    for (int t = 0; t < N_TYPES; t++) {
        const size_t row_bytes = quant_row_size(types[t].type, cols), bytes = row_bytes * (size_t)rows;
        if (row_bytes == 0) continue;
        void *dw[4];
        uint8_t *w = malloc(bytes);
        for (size_t i = 0; i < bytes; i++) w[i] = brand();
        for (int k = 0; k < 4; k++) dw[k] = to_device(w, bytes); /* random bits: only the time matters here */
        float ms[51];
        for (int it = -5; it < 51; it++) {
            matvec_args a = {.type = types[t].type, .n_out = 1, .x = dx, .x_stride = cols, .cols = cols, .n_tokens = 1};
            a.out[0] = (matvec_out){dw[(it + 5) % 4], row_bytes, rows, dy, rows, false};
            CU(cudaEventRecord(e0, 0));
            OK(matvec_cuda(&a, 0, &e_));
            CU(cudaEventRecord(e1, 0));
            CU(cudaEventSynchronize(e1));
            if (it >= 0) CU(cudaEventElapsedTime(&ms[it], e0, e1));
        }
        qsort(ms, 51, sizeof(float), compare_floats);
        printf("matvec %-6s %6lld x %-6lld %8.1f us %8.1f GB/s\n", quant_type_name(types[t].type), (long long)rows, (long long)cols,
               1e3 * ms[25], (double)bytes / (1e-3 * ms[25]) / 1e9);
        for (int k = 0; k < 4; k++) cudaFree(dw[k]);
        free(w);
    }
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaFree(dx), cudaFree(dy);
    free(x);
}

static void test_bench(void **state) {
    (void)state;
    const char *env = getenv("CELER_CUDA_BENCH");
    if (!env || strcmp(env, "1") != 0) skip();
    bench_matvec(4096, 4096);   /* Llama-3-8B's Q and O */
    bench_matvec(14336, 4096);  /* its gate and up */
    bench_matvec(4096, 14336);  /* its down */
}

/* ---- main ---- */

int main(void) {
    const struct CMUnitTest host_tests[] = {cmocka_unit_test(test_dequant_host)};
    int failed = cmocka_run_group_tests_name("host", host_tests, NULL, NULL);
    if (failed) return failed;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        printf("SKIPPED: no CUDA device (%s): the CUDA ops were not tested on a device\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matvec),     cmocka_unit_test(test_matvec_refuses), cmocka_unit_test(test_dequant_and_rows),
        cmocka_unit_test(test_gemm),       cmocka_unit_test(test_norm_silu),      cmocka_unit_test(test_rope_kv),
        cmocka_unit_test(test_attention),  cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
