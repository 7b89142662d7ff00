/* test_kernels.c: the fast matrix-product kernels (quant_kernels_get: AVX2 or AVX-512, as the CPU has)
 * against the scalar reference (quant_kernels_scalar) for every weight type: random
 * weights and activations, shapes that are not multiples of the kernels' tiles (rows,
 * tokens) and several row lengths, sub-ranges of rows written into a wider output with
 * everything outside the range checked untouched. Buffers are allocated to their exact
 * size so the sanitizers see any read past a row.
 *
 * With a packed layout, its gemm too, and with wide activations (prefill) that gemm on
 * the fast quantize_act's levels; the row length 4096 runs the unpacked-chunk loop of
 * the 4- and 5-bit types more than once.
 *
 * Two comparisons per case, each a normalized error ||y - y_ref|| / ||y_ref||:
 *   - the fast gemm on the reference-quantized activations: only the order of float
 *     additions differs, so the bound is tight (GEMM_TOL);
 *   - the whole fast path (fast quantize_act, then fast gemm): SIMD rounding may put a
 *     value at an exact .5 tie on the other side, one quantization step, so the bound
 *     is looser (PATH_TOL); the quantized activations themselves are compared too.
 *
 * On a CPU with AVX-512 (and VNNI) quant_kernels_get is the AVX-512 table, so this test
 * checks it natively. Built with CELER_AVX512_EMULATED (ctest test_kernels_avx512), it
 * checks instead the table an AVX-512 CPU would get, with the AVX-512 entries built from
 * SIMDe's portable intrinsics (tests/kernels_avx512_emulated.c): this CPU's table with
 * quant_kernels_fill_avx512{,_k}_emulated applied, as kernels.c applies the native fills. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/quant.h"

#ifdef CELER_AVX512_EMULATED
#include "quant/kernels_x86.h"

static quant_kernels emulated[QUANT_TYPE_COUNT];
static int emulated_changed; /* entries the AVX-512 fill changed */

static bool same_entry(const quant_kernels *a, const quant_kernels *b) {
    return a->quantize_act == b->quantize_act && a->gemm == b->gemm && a->pack_rows == b->pack_rows && a->pack == b->pack &&
           a->gemm_packed == b->gemm_packed && a->quantize_act_wide == b->quantize_act_wide &&
           a->gemm_packed_wide == b->gemm_packed_wide;
}

static const quant_kernels *fast_kernels(uint32_t type) {
    static bool built;
    if (!built) {
        for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++)
            if (quant_kernels_get(t)) emulated[t] = *quant_kernels_get(t);
        quant_kernels_fill_avx512_emulated(emulated);
        quant_kernels_fill_avx512_k_emulated(emulated);
        for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++)
            if (quant_kernels_get(t) && !same_entry(&emulated[t], quant_kernels_get(t))) emulated_changed++;
        built = true;
    }
    return type < QUANT_TYPE_COUNT && emulated[type].gemm ? &emulated[type] : NULL;
}
static const char *fast_isa(void) { return "avx512 (emulated: SIMDe), over the table of this CPU"; }
#else
#define fast_kernels quant_kernels_get
#define fast_isa quant_kernels_isa
#endif

#define GEMM_TOL 2e-5
#define PATH_TOL 2e-3
#define ACT_TOL 1e-3

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}
static int irand(int n) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (int)((rng_state >> 33) % (uint64_t)n);
}

static double norm_err(const float *y, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* A row of K-quant blocks (no reference quantizer): random bytes, then sane fp16 scales
 * (d, and dmin where the type has one) so that the values are finite and varied. */
static void random_k_row(uint32_t type, char *row, int64_t k) {
    const quant_traits *t = quant_get_traits(type);
    for (int64_t b = 0; b < k / t->block_size; b++) {
        char *blk = row + b * (int64_t)t->type_size;
        for (size_t i = 0; i < t->type_size; i++) blk[i] = (char)irand(256);
        uint16_t d = celer_fp32_to_fp16(0.001f + 0.01f * (frand() + 1.0f));
        uint16_t dmin = celer_fp32_to_fp16(0.001f + 0.01f * (frand() + 1.0f));
        switch (type) {
        case QUANT_Q2_K: ((block_q2_K *)blk)->d = d, ((block_q2_K *)blk)->dmin = dmin; break;
        case QUANT_Q3_K: ((block_q3_K *)blk)->d = d; break;
        case QUANT_Q4_K: ((block_q4_K *)blk)->d = d, ((block_q4_K *)blk)->dmin = dmin; break;
        case QUANT_Q5_K: ((block_q5_K *)blk)->d = d, ((block_q5_K *)blk)->dmin = dmin; break;
        case QUANT_Q6_K: ((block_q6_K *)blk)->d = d; break;
        default: fail_msg("no random blocks for %s", t->name);
        }
    }
}

/* One case: rows x k weights of `type`, n activation rows, rows [r0, r1) into y with
 * leading dimension ldy = rows + 3. */
static void check_case(uint32_t type, int64_t k, int64_t rows, int64_t n, int64_t r0, int64_t r1) {
    const quant_traits *t = quant_get_traits(type);
    const quant_traits *at = quant_get_traits(t->vec_dot_type);
    const quant_kernels *fast = fast_kernels(type), *ref = quant_kernels_scalar(type);
    assert_non_null(fast);
    assert_non_null(ref);
    size_t wrow = quant_row_size(type, k), arow = quant_row_size(t->vec_dot_type, k);
    assert_true(wrow > 0 && arow > 0);

    /* Weights: random values with a per-row scale and some outliers, quantized by the
     * reference quantizer. */
    float *src = malloc((size_t)k * sizeof(float));
    char *w = malloc((size_t)rows * wrow);
    for (int64_t r = 0; r < rows; r++) {
        float scale = 0.02f + 0.2f * (frand() + 1.0f);
        for (int64_t j = 0; j < k; j++) src[j] = scale * frand() * (irand(64) == 0 ? 6.0f : 1.0f);
        if (t->quantize_row)
            t->quantize_row(src, w + r * wrow, k);
        else
            random_k_row(type, w + r * wrow, k);
    }
    free(src);
    float *x = malloc((size_t)(n * k) * sizeof(float));
    for (int64_t i = 0; i < n * k; i++) x[i] = frand() * (irand(50) == 0 ? 10.0f : 1.0f);

    char *act_ref = malloc((size_t)n * arow), *act_fast = malloc((size_t)n * arow);
    for (int64_t i = 0; i < n; i++) {
        ref->quantize_act(x + i * k, act_ref + i * arow, k);
        fast->quantize_act(x + i * k, act_fast + i * arow, k);
    }
    /* The quantized activations, dequantized, agree. */
    float *da = malloc((size_t)k * sizeof(float)), *db = malloc((size_t)k * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        at->dequantize_row(act_ref + i * arow, da, k);
        at->dequantize_row(act_fast + i * arow, db, k);
        double e = norm_err(db, da, (size_t)k);
        if (e > ACT_TOL) fail_msg("%s: quantize_act to %s, k %lld: normalized error %g > %g", t->name, at->name, (long long)k, e, ACT_TOL);
    }
    free(da);
    free(db);

    int64_t ldy = rows + 3;
    size_t ny = (size_t)(n * ldy);
    float *y_ref = malloc(ny * sizeof(float)), *y_gemm = malloc(ny * sizeof(float)), *y_path = malloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++) y_ref[i] = y_gemm[i] = y_path[i] = -12345.0f;
    ref->gemm(k, w, wrow, r0, r1, act_ref, arow, n, y_ref, ldy);
    fast->gemm(k, w, wrow, r0, r1, act_ref, arow, n, y_gemm, ldy);
    fast->gemm(k, w, wrow, r0, r1, act_fast, arow, n, y_path, ldy);
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < ldy; r++) {
            bool inside = r >= r0 && r < r1;
            if (!inside && (y_gemm[i * ldy + r] != -12345.0f || y_path[i * ldy + r] != -12345.0f))
                fail_msg("%s: gemm rows [%lld, %lld) wrote row %lld of token %lld", t->name, (long long)r0, (long long)r1,
                         (long long)r, (long long)i);
            if (inside && !isfinite(y_gemm[i * ldy + r])) fail_msg("%s: non-finite output", t->name);
        }
    /* The packed layout, if the kernels have one: rows from r0 rounded down to a group. */
    if (fast->pack_rows > 0) {
        const int64_t p0 = r0 - r0 % fast->pack_rows;
        size_t pb = quant_kernels_packed_bytes(fast, rows, wrow);
        assert_true(pb >= (size_t)rows * wrow);
        char *packed = malloc(pb);
        fast->pack(w, wrow, rows, k, packed);
        float *y_pack = malloc(ny * sizeof(float)), *y_want = malloc(ny * sizeof(float));
        for (size_t i = 0; i < ny; i++) y_pack[i] = y_want[i] = -12345.0f;
        fast->gemm_packed(k, packed, wrow, p0, r1, act_ref, arow, n, y_pack, ldy);
        ref->gemm(k, w, wrow, p0, r1, act_ref, arow, n, y_want, ldy);
        size_t m = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t r = 0; r < ldy; r++) {
                bool inside = r >= p0 && r < r1;
                if (!inside && y_pack[i * ldy + r] != -12345.0f)
                    fail_msg("%s: packed gemm rows [%lld, %lld) wrote row %lld", t->name, (long long)p0, (long long)r1, (long long)r);
                if (inside) y_pack[m] = y_pack[i * ldy + r], y_want[m++] = y_want[i * ldy + r];
            }
        double e = norm_err(y_pack, y_want, m);
        if (e > GEMM_TOL)
            fail_msg("%s: packed gemm, k %lld, rows [%lld, %lld) of %lld, n %lld: error %g (limit %g)", t->name, (long long)k,
                     (long long)p0, (long long)r1, (long long)rows, (long long)n, e, GEMM_TOL);
        /* Wide activations (products of many tokens) on the packed layout: the levels are
         * the fast quantize_act's, so against the reference gemm on those only the order
         * of float additions differs. */
        if (fast->gemm_packed_wide) {
            size_t wide_row = quant_kernels_wide_row_bytes(k);
            char *act_wide = malloc((size_t)n * wide_row);
            for (int64_t i = 0; i < n; i++) fast->quantize_act_wide(x + i * k, act_wide + i * wide_row, k);
            for (size_t i = 0; i < ny; i++) y_pack[i] = y_want[i] = -12345.0f;
            fast->gemm_packed_wide(k, packed, wrow, p0, r1, act_wide, wide_row, n, y_pack, ldy);
            ref->gemm(k, w, wrow, p0, r1, act_fast, arow, n, y_want, ldy);
            m = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t r = 0; r < ldy; r++) {
                    bool inside = r >= p0 && r < r1;
                    if (!inside && y_pack[i * ldy + r] != -12345.0f)
                        fail_msg("%s: wide gemm rows [%lld, %lld) wrote row %lld", t->name, (long long)p0, (long long)r1, (long long)r);
                    if (inside) y_pack[m] = y_pack[i * ldy + r], y_want[m++] = y_want[i * ldy + r];
                }
            e = norm_err(y_pack, y_want, m);
            if (e > GEMM_TOL)
                fail_msg("%s: wide gemm, k %lld, rows [%lld, %lld) of %lld, n %lld: error %g (limit %g)", t->name, (long long)k,
                         (long long)p0, (long long)r1, (long long)rows, (long long)n, e, GEMM_TOL);
            free(act_wide);
        }
        free(packed);
        free(y_pack);
        free(y_want);
    }

    /* the errors over the rows written only (the sentinels elsewhere would dilute them) */
    size_t m = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = r0; r < r1; r++, m++) {
            y_ref[m] = y_ref[i * ldy + r];
            y_gemm[m] = y_gemm[i * ldy + r];
            y_path[m] = y_path[i * ldy + r];
        }
    double e1 = norm_err(y_gemm, y_ref, m), e2 = norm_err(y_path, y_ref, m);
    if (e1 > GEMM_TOL || e2 > PATH_TOL)
        fail_msg("%s: k %lld, rows [%lld, %lld) of %lld, n %lld: gemm error %g (limit %g), whole path %g (limit %g)", t->name,
                 (long long)k, (long long)r0, (long long)r1, (long long)rows, (long long)n, e1, GEMM_TOL, e2, PATH_TOL);
    free(y_ref);
    free(y_gemm);
    free(y_path);
    free(act_ref);
    free(act_fast);
    free(x);
    free(w);
}

static const uint32_t types[] = {QUANT_F32,  QUANT_F16,  QUANT_BF16, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0, QUANT_Q5_1,
                                 QUANT_Q8_0, QUANT_Q2_K, QUANT_Q3_K, QUANT_Q4_K, QUANT_Q5_K, QUANT_Q6_K, QUANT_IQ4_NL};

static void test_fast_vs_scalar(void **state) {
    (void)state;
    printf("kernels: %s\n", fast_isa());
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        uint32_t type = types[ti];
        const quant_traits *t = quant_get_traits(type);
        const quant_kernels *fast = fast_kernels(type), *ref = quant_kernels_scalar(type);
        assert_non_null(t);
        assert_non_null(fast);
        bool accelerated = fast->gemm != ref->gemm || fast->quantize_act != ref->quantize_act;
        printf("  %-5s %s", t->name, accelerated ? "fast kernels vs scalar" : "scalar only (compared with itself)");
        if (fast->pack_rows) printf(", and the packed layout (%d rows)", fast->pack_rows);
        printf("%s\n", fast->gemm_packed_wide ? " with wide activations" : "");
        int64_t bs = t->block_size;
        /* Row lengths: one block, a few, and the lengths of real models (576, 1536, 4096). */
        const int64_t ks[] = {bs, 3 * bs, bs * ((576 + bs - 1) / bs), bs * ((1536 + bs - 1) / bs), bs * ((4096 + bs - 1) / bs)};
        const int64_t ns[] = {1, 2, 3, 4, 5, 7, 8, 13, 17, 64, 67};
        for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
            for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++) {
                int64_t k = ks[ki], n = ns[ni];
                if (k >= 4096 && n > 8) continue; /* keep the run short */
                int64_t rows = 1 + irand(k >= 4096 ? 12 : 40);
                int64_t r0 = irand((int)rows), r1 = r0 + 1 + irand((int)(rows - r0));
                check_case(type, k, rows, n, 0, rows);
                check_case(type, k, rows, n, r0, r1);
            }
    }
}

#ifdef CELER_AVX512_EMULATED
/* The emulated fill changed the table (a fill that did nothing would test nothing new). */
static void test_avx512_fill_changes_table(void **state) {
    (void)state;
    (void)fast_kernels(QUANT_Q8_0);
    assert_true(emulated_changed > 0);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_vs_scalar),
#ifdef CELER_AVX512_EMULATED
        cmocka_unit_test(test_avx512_fill_changes_table),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
