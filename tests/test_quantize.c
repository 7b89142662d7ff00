/* test_quantize.c: the error-minimizing quantizers (quant/quantize.h) for every type they
 * write, on several kinds of data (gaussian, heavy tails and outliers, all-zero and
 * constant blocks, tiny magnitudes, rows whose blocks span six orders of magnitude), each
 * with and without importances:
 *   - round trip: the bytes decode with the type's dequantize_row, the values are finite,
 *     the weighted error of every block is at most that of the traits table's
 *     round-to-nearest quantizer (where one exists), and the relative error is below a
 *     per-type bound;
 *   - importances work: weight on a subset of columns lowers the error there;
 *   - grid-exact data comes back exactly: data dequantized from a type, quantized to the
 *     same type (or a finer one on the same grid: Q4_0 values to Q8_0 and Q5_0, Q4_1
 *     values to Q5_1), and real rows of the default model (Q4_1) to Q4_1 and Q5_1;
 *   - bad arguments: unsupported types, row lengths that are not whole blocks, bad
 *     counts, NULL buffers, non-finite values or importances: CELER_ERR_INVALID_ARG with
 *     a message, and nothing written;
 *   - the bytes are llama.cpp's: tests/data/quant/quantize_golden.bin holds celer's bytes
 *     for fixed pseudo-random rows and the gguf package's dequantization of them
 *     (scripts/make_quantize_golden.py); quantizing the same rows must give the same
 *     bytes, and they must decode to gguf's floats bit for bit.
 * It also prints the quantizers' throughput on this build (not an assertion). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "quant/quantize.h"
#include "quant/quantize_fit.h"

/* Every type quant_quantize writes. */
static const uint32_t all_types[] = {QUANT_F32,  QUANT_F16,  QUANT_BF16, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0, QUANT_Q5_1,
                                     QUANT_Q8_0, QUANT_Q2_K, QUANT_Q3_K, QUANT_Q4_K, QUANT_Q5_K, QUANT_Q6_K, QUANT_IQ4_NL};
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

/* ---- data ---- */

/* The generator scripts/make_quantize_golden.py reproduces: a 64-bit LCG; a value is the
 * sum of three signed 24-bit draws, converted to float (round to nearest even) and scaled
 * by a power of two, so C and numpy get the same floats. */
static uint64_t lcg_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 40; /* 24 bits */
}

static float lcg_value(uint64_t *s) {
    int32_t sum = 0;
    for (int k = 0; k < 3; k++) sum += (int32_t)lcg_next(s) - (1 << 23);
    return ldexpf((float)sum, -25);
}

/* Uniform in [0, 1) with 24 bits. */
static double lcg_uniform(uint64_t *s) { return (double)lcg_next(s) / 16777216.0; }

/* A standard normal value (Box-Muller on the LCG). */
static float lcg_gauss(uint64_t *s) {
    const double u = (lcg_uniform(s) + 0x1p-25), v = lcg_uniform(s);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

enum { DIST_GAUSS, DIST_HEAVY, DIST_ZERO_CONST, DIST_TINY, DIST_RANGE, N_DIST };
static const char *const dist_names[N_DIST] = {"gaussian", "heavy-tailed", "zero/constant blocks", "tiny", "huge range"};

/* rows x n values of one kind. */
static void make_data(int dist, float *x, int64_t rows, int64_t n, uint64_t seed) {
    uint64_t s = seed;
    for (int64_t i = 0; i < rows * n; i++) {
        const float g = lcg_gauss(&s);
        switch (dist) {
        case DIST_GAUSS: x[i] = 0.02f * g; break;
        case DIST_HEAVY: /* a Student-like tail: gaussian over a random scale, and outliers */
            x[i] = 0.02f * g / (float)sqrt(0.05 + lcg_uniform(&s)) * (lcg_uniform(&s) < 0.01 ? 20.0f : 1.0f);
            break;
        case DIST_ZERO_CONST: { /* blocks of 32 in turn: zero, constant +c, gaussian, constant -c */
            const int64_t b = (i % n) / 32;
            x[i] = b % 4 == 0 ? 0.0f : b % 4 == 1 ? 0.0371f : b % 4 == 2 ? 0.02f * g : -0.0523f;
            break;
        }
        case DIST_TINY: x[i] = 3e-5f * g; break;
        default: /* blocks of 32 scaled from 1e-3 to 1e3 along the row, and a spike per row */
            x[i] = g * powf(10.0f, -3.0f + 6.0f * (float)((i % n) / 32) / (float)(n / 32 - 1));
            if (i % n == 77) x[i] = 5e3f;
        }
    }
}

/* Importances: log-normal over the columns, a few zero. */
static void make_importance(float *imp, int64_t n, uint64_t seed) {
    uint64_t s = seed;
    for (int64_t j = 0; j < n; j++) imp[j] = lcg_uniform(&s) < 0.05 ? 0.0f : expf(1.5f * lcg_gauss(&s));
}

/* ---- helpers ---- */

typedef struct {
    void *buf;
    size_t bytes;
} guarded;

enum { GUARD = 64 };

/* A buffer of `bytes` with GUARD canary bytes on both sides. */
static guarded guarded_alloc(size_t bytes) {
    unsigned char *p = malloc(bytes + 2 * GUARD);
    memset(p, 0xA5, bytes + 2 * GUARD);
    return (guarded){p + GUARD, bytes};
}

static void guarded_check_free(guarded g, const char *what) {
    unsigned char *p = (unsigned char *)g.buf - GUARD;
    for (size_t i = 0; i < GUARD; i++)
        if (p[i] != 0xA5 || p[GUARD + g.bytes + i] != 0xA5) fail_msg("%s: wrote outside its buffer", what);
    free(p);
}

static int untouched(const guarded g) {
    const unsigned char *p = g.buf;
    for (size_t i = 0; i < g.bytes; i++)
        if (p[i] != 0xA5) return 0;
    return 1;
}

/* Quantizes rows x n (must succeed) and returns the dequantized values (malloc'd). */
static float *round_trip(uint32_t type, const float *x, int64_t rows, int64_t n, const float *imp) {
    const quant_traits *tr = quant_get_traits(type);
    const size_t row_bytes = quant_row_size(type, n);
    guarded q = guarded_alloc(row_bytes * (size_t)rows);
    celer_error err = {{0}};
    const celer_status st = quant_quantize(type, x, q.buf, rows, n, imp, &err);
    if (st != CELER_OK) fail_msg("quantize %s: status %d (%s)", tr->name, st, err.msg);
    float *y = malloc((size_t)(rows * n) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) tr->dequantize_row((char *)q.buf + r * (int64_t)row_bytes, y + r * n, n);
    guarded_check_free(q, tr->name);
    return y;
}

/* The same through the traits table's round-to-nearest quantizer. */
static float *round_trip_rtn(uint32_t type, const float *x, int64_t rows, int64_t n) {
    const quant_traits *tr = quant_get_traits(type);
    const size_t row_bytes = quant_row_size(type, n);
    char *q = malloc(row_bytes * (size_t)rows);
    float *y = malloc((size_t)(rows * n) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        tr->quantize_row(x + r * n, q + r * (int64_t)row_bytes, n);
        tr->dequantize_row(q + r * (int64_t)row_bytes, y + r * n, n);
    }
    free(q);
    return y;
}

/* sqrt(sum (x - y)^2 / sum x^2) over rows x n. */
static double relative_error(const float *x, const float *y, int64_t count) {
    double e = 0.0, d = 0.0;
    for (int64_t i = 0; i < count; i++) e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]), d += (double)x[i] * x[i];
    return d > 0.0 ? sqrt(e / d) : sqrt(e);
}

/* Weighted squared error of one block of 32 with the quantizer's own block weights. */
static double block_error(const float *x, const float *y, const float *imp) {
    float w[32];
    block_weights(imp, 32, w);
    double e = 0.0;
    for (int i = 0; i < 32; i++) e += (double)w[i] * ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return e;
}

/* ---- 1. round trip ---- */

/* Relative error bounds (of the unweighted error over the whole data, importances or
 * not) per type and kind of data (in the order of dist_names): a sanity ceiling about 1.3x
 * what the quantizers reach (the importances trade plain error for weighted error). */
static double error_bound(uint32_t type, int dist) {
    static const struct {
        uint32_t type;
        double bound[N_DIST];
    } bounds[] = {
        {QUANT_F32, {0, 0, 0, 0, 0}},
        {QUANT_F16, {3e-4, 3e-4, 3e-4, 1e-3, 3e-4}},
        {QUANT_BF16, {2.5e-3, 2.5e-3, 2.5e-3, 2.5e-3, 2.5e-3}},
        {QUANT_Q4_0, {0.11, 0.17, 0.035, 0.11, 0.085}},
        {QUANT_Q4_1, {0.10, 0.14, 0.03, 0.10, 0.085}},
        {QUANT_Q5_0, {0.055, 0.16, 0.018, 0.056, 0.042}},
        {QUANT_Q5_1, {0.048, 0.066, 0.015, 0.048, 0.038}},
        {QUANT_Q8_0, {0.0066, 0.015, 0.0021, 0.014, 0.0051}},
        {QUANT_Q2_K, {0.40, 0.29, 0.115, 0.38, 0.31}},
        {QUANT_Q3_K, {0.21, 0.20, 0.07, 0.21, 0.16}},
        {QUANT_Q4_K, {0.10, 0.14, 0.031, 0.10, 0.084}},
        {QUANT_Q5_K, {0.049, 0.068, 0.016, 0.049, 0.039}},
        {QUANT_Q6_K, {0.024, 0.075, 0.013, 0.026, 0.019}},
        {QUANT_IQ4_NL, {0.102, 0.147, 0.032, 0.108, 0.09}},
    };
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++)
        if (bounds[i].type == type) return bounds[i].bound[dist];
    fail_msg("no error bound for %s", quant_type_name(type));
    return 0.0;
}

static void test_round_trip(void **state) {
    (void)state;
    enum { ROWS = 8, N = 512 };
    float *x = malloc(ROWS * N * sizeof(float)), imp[N];
    make_importance(imp, N, 17);
    for (size_t t = 0; t < N_TYPES; t++) {
        const quant_traits *tr = quant_get_traits(all_types[t]);
        for (int dist = 0; dist < N_DIST; dist++)
            for (int with_imp = 0; with_imp < 2; with_imp++) {
                make_data(dist, x, ROWS, N, 1000 + (uint64_t)dist);
                const float *im = with_imp ? imp : NULL;
                float *y = round_trip(all_types[t], x, ROWS, N, im);
                for (int64_t i = 0; i < ROWS * N; i++)
                    if (!isfinite(y[i])) fail_msg("%s, %s data: value %lld is %g", tr->name, dist_names[dist], (long long)i, (double)y[i]);
                const double rel = relative_error(x, y, ROWS * N), bound = error_bound(all_types[t], dist);
                if (!(rel <= bound))
                    fail_msg("%s, %s data%s: relative error %.4g above %.4g", tr->name, dist_names[dist], with_imp ? ", importances" : "",
                             rel, bound);
                if (dist == DIST_ZERO_CONST) /* zero blocks stay zero */
                    for (int64_t i = 0; i < ROWS * N; i++)
                        if (x[i] == 0.0f && y[i] != 0.0f) fail_msg("%s: a zero block decodes to %g", tr->name, (double)y[i]);
                if (tr->block_size == 32) { /* never worse than round to nearest, block by block */
                    float *z = round_trip_rtn(all_types[t], x, ROWS, N);
                    for (int64_t r = 0; r < ROWS; r++) {
                        for (int64_t b = 0; b < N / 32; b++) {
                            const int64_t o = r * N + 32 * b;
                            const double e = block_error(x + o, y + o, im ? im + 32 * b : NULL);
                            const double e_rtn = block_error(x + o, z + o, im ? im + 32 * b : NULL);
                            if (e > e_rtn * (1.0 + 1e-6) + 1e-37)
                                fail_msg("%s, %s data%s: row %lld block %lld: weighted error %.9g above round to nearest's %.9g", tr->name,
                                         dist_names[dist], with_imp ? ", importances" : "", (long long)r, (long long)b, e, e_rtn);
                        }
                    }
                    free(z);
                }
                free(y);
            }
    }
    free(x);
}

/* The real width of the default model (576 = 18 blocks of 32) for the 32-element types,
 * and rows with an odd number of blocks in general. */
static void test_round_trip_576(void **state) {
    (void)state;
    enum { ROWS = 5, N = 576 };
    float *x = malloc(ROWS * N * sizeof(float)), imp[N];
    make_importance(imp, N, 5);
    make_data(DIST_HEAVY, x, ROWS, N, 77);
    for (size_t t = 0; t < N_TYPES; t++) {
        const quant_traits *tr = quant_get_traits(all_types[t]);
        if (N % tr->block_size != 0) continue;
        float *y = round_trip(all_types[t], x, ROWS, N, imp);
        const double rel = relative_error(x, y, ROWS * N);
        if (!(rel <= error_bound(all_types[t], DIST_HEAVY))) fail_msg("%s, 576 wide: relative error %.4g", tr->name, rel);
        free(y);
    }
    free(x);
}

/* Values at the ends of float's range (beyond fp16's scales: they saturate) and
 * subnormals, mixed within blocks, with huge and tiny importances: every type still
 * succeeds and the block types decode to finite values (F16 and BF16 round as their
 * conversions do: FLT_MAX to infinity). */
static void test_extreme_values(void **state) {
    (void)state;
    enum { N = 512 };
    static const float specials[] = {FLT_MAX, -FLT_MAX, 1e30f, -3e20f, 1e-40f, -1e-45f, 0.0f, 65504.0f, 1e-8f, 7.0f};
    float x[2 * N], imp[N];
    uint64_t s = 3;
    for (int i = 0; i < 2 * N; i++) x[i] = specials[lcg_next(&s) % 10] * (i < N ? 1.0f : 1e-3f);
    for (int j = 0; j < N; j++) imp[j] = j % 3 == 0 ? FLT_MAX : j % 3 == 1 ? 1e-38f : 0.0f;
    for (size_t t = 0; t < N_TYPES; t++)
        for (int k = 0; k < 2; k++) {
            float *y = round_trip(all_types[t], x, 2, N, k ? imp : NULL);
            for (int i = 0; i < 2 * N && quant_get_traits(all_types[t])->block_size > 1; i++)
                if (!isfinite(y[i])) fail_msg("%s: %g decodes to %g", quant_type_name(all_types[t]), (double)x[i], (double)y[i]);
            free(y);
        }
}

/* ---- 2. importances ---- */

/* Importance on every 8th column (1) and little elsewhere (1e-3): the error on those
 * columns must drop clearly below the error there without importances. */
static void test_importance(void **state) {
    (void)state;
    enum { ROWS = 32, N = 512 };
    float *x = malloc(ROWS * N * sizeof(float)), imp[N];
    for (int j = 0; j < N; j++) imp[j] = j % 8 == 0 ? 1.0f : 1e-3f;
    make_data(DIST_GAUSS, x, ROWS, N, 4242);
    for (size_t t = 0; t < N_TYPES; t++) {
        const quant_traits *tr = quant_get_traits(all_types[t]);
        if (tr->block_size == 1) continue; /* conversions: importances play no part */
        float *plain = round_trip(all_types[t], x, ROWS, N, NULL), *weighted = round_trip(all_types[t], x, ROWS, N, imp);
        double e_plain = 0.0, e_weighted = 0.0;
        for (int64_t i = 0; i < ROWS * N; i++)
            if (i % 8 == 0) {
                e_plain += ((double)x[i] - plain[i]) * ((double)x[i] - plain[i]);
                e_weighted += ((double)x[i] - weighted[i]) * ((double)x[i] - weighted[i]);
            }
        if (!(e_weighted < 0.8 * e_plain))
            fail_msg("%s: error on the important columns %.6g with importances, %.6g without", tr->name, e_weighted, e_plain);
        free(plain);
        free(weighted);
    }
    free(x);
}

/* ---- 3. grid-exact data ---- */

/* x quantized by `from` (round to nearest where the traits have it, else by quant_quantize)
 * and dequantized, then quantized to `to` by quant_quantize: the relative error must be
 * below tol (zero in practice). */
static void check_grid_exact(uint32_t from, uint32_t to, const float *x, int64_t rows, int64_t n, const float *imp, double tol,
                             const char *data) {
    const quant_traits *tf = quant_get_traits(from);
    float *grid = tf->quantize_row ? round_trip_rtn(from, x, rows, n) : round_trip(from, x, rows, n, NULL);
    float *back = round_trip(to, grid, rows, n, imp);
    const double rel = relative_error(grid, back, rows * n);
    if (!(rel <= tol))
        fail_msg("%s values (from %s data) quantized to %s%s: relative error %.3g (want <= %.1g)", tf->name, data,
                 quant_get_traits(to)->name, imp ? " with importances" : "", rel, tol);
    free(grid);
    free(back);
}

/* Q2_K only nearly: a sub-block of 16 values on 4 levels is often ambiguous (a constant
 * one above zero has a form for every min), and the super-block may not find the form
 * its neighbours agree on. */
static void test_grid_exact(void **state) {
    (void)state;
    enum { ROWS = 16, N = 512 };
    float *x = malloc(ROWS * N * sizeof(float)), imp[N];
    make_importance(imp, N, 99);
    const struct {
        uint32_t from, to;
        double tol;
    } cases[] = {
        {QUANT_Q4_0, QUANT_Q4_0, 1e-7},   {QUANT_Q4_1, QUANT_Q4_1, 1e-7}, {QUANT_Q5_0, QUANT_Q5_0, 1e-7},
        {QUANT_Q5_1, QUANT_Q5_1, 1e-7},   {QUANT_Q8_0, QUANT_Q8_0, 1e-7}, {QUANT_IQ4_NL, QUANT_IQ4_NL, 1e-7},
        {QUANT_Q4_0, QUANT_Q8_0, 1e-7},   {QUANT_Q4_0, QUANT_Q5_0, 1e-7}, {QUANT_Q4_1, QUANT_Q5_1, 1e-7},
        {QUANT_Q2_K, QUANT_Q2_K, 0.05},   {QUANT_Q3_K, QUANT_Q3_K, 1e-7}, {QUANT_Q4_K, QUANT_Q4_K, 1e-7},
        {QUANT_Q5_K, QUANT_Q5_K, 1e-7},   {QUANT_Q6_K, QUANT_Q6_K, 1e-7},
    };
    for (int dist = 0; dist < N_DIST; dist++) {
        if (dist == DIST_RANGE) continue; /* its 1e-3 blocks fall below fp16's range in some types */
        make_data(dist, x, ROWS, N, 31 + (uint64_t)dist);
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            check_grid_exact(cases[c].from, cases[c].to, x, ROWS, N, NULL, cases[c].tol, dist_names[dist]);
            check_grid_exact(cases[c].from, cases[c].to, x, ROWS, N, imp, cases[c].tol, dist_names[dist]);
        }
    }
    free(x);
}

/* Real rows of the default model, as tests/data/quant/golden.bin holds them dequantized
 * (its DEQUANTIZE records 576 wide: blk.0.attn_q.weight in Q4_1, token_embd.weight in
 * Q8_0): back to their own type exactly, and the Q4_1 rows to Q5_1 too. */
static void test_grid_exact_model_rows(void **state) {
    (void)state;
    char path[1024];
    const char *root = getenv("CELER_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/tests/data/quant/golden.bin", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (set CELER_SOURCE_DIR to the repository root)", path);
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    int found = 0;
    for (long off = 4; off + 24 <= size;) {
        uint32_t h[6]; /* kind, type, source, n, n_in, n_out (see scripts/make_quant_golden.py) */
        memcpy(h, data + off, sizeof(h));
        off += 24;
        if (h[0] == 1 && (h[1] == QUANT_Q4_1 || h[1] == QUANT_Q8_0) && h[3] % 576 == 0) {
            const int64_t n = 576, rows = h[3] / 576;
            float *x = malloc((size_t)h[5]);
            memcpy(x, data + off + h[4], h[5]);
            const uint32_t targets[2] = {h[1], h[1] == QUANT_Q4_1 ? QUANT_Q5_1 : QUANT_Q8_0};
            for (int k = 0; k < 2; k++) {
                float *y = round_trip(targets[k], x, rows, n, NULL);
                const double rel = relative_error(x, y, rows * n);
                if (rel != 0.0)
                    fail_msg("model rows (%s) to %s: relative error %.3g, want 0", quant_type_name(h[1]), quant_type_name(targets[k]), rel);
                free(y);
            }
            free(x);
            found++;
        }
        off += (long)h[4] + (long)h[5];
    }
    if (found < 2) fail_msg("golden.bin holds %d records of real rows (made without the model?)", found);
    free(data);
}

/* ---- 4. bad arguments ---- */

static void expect_invalid(uint32_t type, const float *src, int64_t rows, int64_t n, const float *imp, const char *needle) {
    guarded dst = guarded_alloc(4096);
    celer_error err = {{0}};
    const celer_status st = quant_quantize(type, src, dst.buf, rows, n, imp, &err);
    if (st != CELER_ERR_INVALID_ARG)
        fail_msg("type %u, %lld x %lld: status %d, want invalid argument", type, (long long)rows, (long long)n, st);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' does not mention '%s'", err.msg, needle);
    if (!untouched(dst)) fail_msg("type %u: output written although the arguments were refused (%s)", type, err.msg);
    guarded_check_free(dst, "refused call");
}

static void test_bad_arguments(void **state) {
    (void)state;
    float x[256] = {0}, imp[256];
    for (int i = 0; i < 256; i++) x[i] = sinf((float)i), imp[i] = 1.0f;
    for (size_t t = 0; t < N_TYPES; t++) assert_true(quant_can_quantize(all_types[t]));
    const uint32_t refused[] = {QUANT_Q8_1, QUANT_Q8_K, 99, 4, 23, QUANT_TYPE_COUNT, UINT32_MAX};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_false(quant_can_quantize(refused[i]));
        expect_invalid(refused[i], x, 1, 256, NULL, quant_type_name(refused[i]));
    }
    expect_invalid(QUANT_Q4_0, x, 1, 48, NULL, "not a multiple of the block size 32");
    expect_invalid(QUANT_Q4_K, x, 1, 96, NULL, "not a multiple of the block size 256");
    expect_invalid(QUANT_IQ4_NL, x, 1, 33, NULL, "row length 33");
    expect_invalid(QUANT_Q8_0, x, -1, 32, NULL, "-1 rows");
    expect_invalid(QUANT_Q8_0, x, 1, 0, NULL, "of 0 values");
    expect_invalid(QUANT_Q8_0, x, INT64_MAX / 2, 32, NULL, "overflow");
    expect_invalid(QUANT_Q8_0, NULL, 1, 32, NULL, "src is NULL");
    {
        celer_error err = {{0}};
        assert_int_equal(quant_quantize(QUANT_Q8_0, x, NULL, 1, 32, NULL, &err), CELER_ERR_INVALID_ARG);
        assert_non_null(strstr(err.msg, "dst is NULL"));
        assert_int_equal(quant_quantize(QUANT_Q8_0, NULL, NULL, 0, 32, NULL, &err), CELER_OK); /* nothing to do */
        assert_int_equal(quant_quantize(QUANT_Q8_0, x, NULL, 1, 48, NULL, NULL), CELER_ERR_INVALID_ARG); /* no error struct */
    }
    float bad[64];
    memcpy(bad, x, sizeof(bad));
    bad[45] = NAN;
    expect_invalid(QUANT_Q4_1, bad, 2, 32, NULL, "row 1 column 13");
    float inf_row[256];
    memcpy(inf_row, x, sizeof(inf_row));
    inf_row[200] = -INFINITY;
    expect_invalid(QUANT_Q6_K, inf_row, 1, 256, NULL, "column 200");
    float bad_imp[32];
    for (int i = 0; i < 32; i++) bad_imp[i] = 1.0f;
    bad_imp[7] = -1.0f;
    expect_invalid(QUANT_Q4_0, x, 1, 32, bad_imp, "importance of column 7");
    bad_imp[7] = NAN;
    expect_invalid(QUANT_Q4_0, x, 1, 32, bad_imp, "importance of column 7");
    bad_imp[7] = INFINITY;
    expect_invalid(QUANT_Q4_0, x, 1, 32, bad_imp, "importance of column 7");
    /* the float types pass non-finite values through as their conversions do */
    guarded out = guarded_alloc(64 * 4);
    assert_int_equal(quant_quantize(QUANT_F32, bad, out.buf, 1, 64, NULL, NULL), CELER_OK);
    assert_true(isnan(((float *)out.buf)[45]));
    guarded_check_free(out, "f32");
    (void)imp;
}

/* ---- 5. the bytes are llama.cpp's ---- */

static void test_golden(void **state) {
    (void)state;
    char path[1024];
    const char *root = getenv("CELER_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/tests/data/quant/quantize_golden.bin", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (set CELER_SOURCE_DIR to the repository root)", path);
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    assert_true(size >= 4 && memcmp(data, "CQZ1", 4) == 0);
    int records = 0, seen[QUANT_TYPE_COUNT] = {0};
    for (long off = 4; off < size;) {
        uint32_t h[7]; /* type, rows, n, seed, importance seed (0: none), bytes, floats */
        if (size - off < (long)sizeof(h)) fail_msg("%s: truncated record header at %ld", path, off);
        memcpy(h, data + off, sizeof(h));
        off += sizeof(h);
        const uint32_t type = h[0];
        const int64_t rows = h[1], n = h[2];
        const quant_traits *tr = quant_get_traits(type);
        if (!tr) fail_msg("%s: record at %ld has type %u", path, off, type);
        const size_t row_bytes = quant_row_size(type, n);
        if (h[5] != row_bytes * (size_t)rows || h[6] != (uint64_t)rows * n * 4 || size - off < (long)h[5] + (long)h[6])
            fail_msg("%s: record at %ld has inconsistent sizes", path, off);
        const unsigned char *want_bytes = data + off, *want_floats = data + off + h[5];
        off += (long)h[5] + (long)h[6];
        float *x = malloc((size_t)(rows * n) * sizeof(float)), *imp = h[4] ? malloc((size_t)n * sizeof(float)) : NULL;
        uint64_t s = h[3];
        for (int64_t i = 0; i < rows * n; i++) {
            x[i] = lcg_value(&s);
            if (i % 37 == 0) x[i] *= 8.0f;           /* outliers */
            if ((i % n) / 32 == 3) x[i] = 0.0f;      /* a zero block */
            if ((i % n) / 32 == 5) x[i] = 0.046875f; /* a constant block */
        }
        if (imp) {
            uint64_t si = h[4];
            for (int64_t j = 0; j < n; j++) {
                const uint64_t draw = lcg_next(&si);
                imp[j] = j % 11 == 0 ? 0.0f : ldexpf((float)(draw >> 8) + 1.0f, -12);
            }
        }
        unsigned char *got = malloc(h[5]);
        celer_error err = {{0}};
        assert_int_equal(quant_quantize(type, x, got, rows, n, imp, &err), CELER_OK);
        for (uint32_t b = 0; b < h[5]; b++)
            if (got[b] != want_bytes[b])
                fail_msg("%s%s (seed %u): byte %u (block %u, offset %u) is 0x%02x, golden 0x%02x", tr->name, imp ? " with importances" : "", h[3], b,
                         (unsigned)(b / tr->type_size), (unsigned)(b % tr->type_size), got[b], want_bytes[b]);
        float *y = malloc(h[6]);
        for (int64_t r = 0; r < rows; r++) tr->dequantize_row(got + r * (int64_t)row_bytes, y + r * n, n);
        for (int64_t i = 0; i < rows * n; i++) {
            float want;
            memcpy(&want, want_floats + 4 * i, 4);
            if (celer_f32_bits(y[i]) != celer_f32_bits(want))
                fail_msg("%s: element %lld decodes to %.9g, gguf %.9g", tr->name, (long long)i, (double)y[i], (double)want);
        }
        free(x), free(imp), free(got), free(y);
        seen[type]++;
        records++;
    }
    for (size_t t = 0; t < N_TYPES; t++)
        if (quant_get_traits(all_types[t])->block_size > 1 && seen[all_types[t]] < 2)
            fail_msg("golden file: fewer than 2 records for %s", quant_type_name(all_types[t]));
    fprintf(stderr, "%d golden records: same bytes, decoded as gguf decodes them\n", records);
    free(data);
}

/* ---- throughput (printed, not checked) ---- */

static void test_throughput(void **state) {
    (void)state;
    const char *env = getenv("CELER_QUANTIZE_BENCH_ROWS");
    const int64_t rows = env ? atoll(env) : 16, n = 1536;
    if (rows <= 0) return;
    float *x = malloc((size_t)(rows * n) * sizeof(float)), *imp = malloc((size_t)n * sizeof(float));
    void *dst = malloc((size_t)(rows * n) * sizeof(float));
    make_data(DIST_GAUSS, x, rows, n, 7);
    make_importance(imp, n, 8);
    fprintf(stderr, "quantize throughput, one thread, %lld x %lld (M weights/s, no importances / importances):\n", (long long)rows, (long long)n);
    for (size_t t = 0; t < N_TYPES; t++) {
        double rate[2];
        for (int k = 0; k < 2; k++) {
            struct timespec a, b;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
            assert_int_equal(quant_quantize(all_types[t], x, dst, rows, n, k ? imp : NULL, NULL), CELER_OK);
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
            const double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
            rate[k] = s > 0.0 ? (double)(rows * n) / s / 1e6 : 0.0;
        }
        fprintf(stderr, "  %-7s %8.1f %8.1f\n", quant_type_name(all_types[t]), rate[0], rate[1]);
    }
    free(x), free(imp), free(dst);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_round_trip_576),  cmocka_unit_test(test_extreme_values),
        cmocka_unit_test(test_importance),
        cmocka_unit_test(test_grid_exact),  cmocka_unit_test(test_grid_exact_model_rows), cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_golden),      cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
