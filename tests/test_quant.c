/* test_quant.c: the tensor-type table (src/quant) and the fp16/bf16 conversions (core/half.h).
 *
 * Golden data, tests/data/quant/golden.bin (scripts/make_quant_golden.py documents the format):
 *   - dequantize equals the gguf package / numpy bit for bit, for every type, on random
 *     blocks, every fp16 pattern and real rows of the default model; both compute each
 *     element with the same float operations, so no tolerance is needed. NaN: same sign and
 *     both NaN where F16C hardware is involved (it quiets signalling NaNs, numpy does not);
 *   - quantize equals ggml's reference quantizers bit for bit (gguf for Q8_0, Q4_0, Q4_1,
 *     Q5_0, Q5_1, BF16; numpy for F16; libggml's *_ref for Q8_0, Q8_1, Q8_K), inputs include
 *     exact rounding ties;
 *   - vec_dot equals libggml's ggml_vec_dot_*_generic: bit for bit where that build has no
 *     fused multiply-add, else within 1e-6 of sum|w a| and bit for bit with the same
 *     order emulated in numpy (see test_vec_dot_golden); float types: numpy, exactly.
 * Properties: vec_dot against a double dot of the dequantized rows, quantizer round trips,
 * fp16/bf16 round trips and ties, F16C against the portable code, sizes, names, unknown ids. */
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
#include "quant/quant.h"

enum { KIND_DEQUANTIZE = 1, KIND_QUANTIZE = 2, KIND_VEC_DOT = 3 };
enum { SOURCE_GGUF = 1, SOURCE_GGML = 2, SOURCE_NUMPY = 3 };

typedef struct {
    uint32_t kind, type, source, n;
    uint32_t n_in, n_out;
    const unsigned char *in, *out; /* (n_in), (n_out) bytes inside golden_set.data */
} golden_record;

typedef struct {
    unsigned char *data;
    golden_record *records;
    size_t count;
} golden_set;

/* ---- golden file ---- */

static int golden_load(void **state) {
    char path[1024];
    const char *root = getenv("CELER_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/tests/data/quant/golden.bin", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (set CELER_SOURCE_DIR to the repository root)\n", path);
        return -1;
    }
    golden_set *g = calloc(1, sizeof(*g));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    g->data = malloc((size_t)size);
    size_t got = fread(g->data, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size || size < 4 || memcmp(g->data, "CQG1", 4) != 0) {
        fprintf(stderr, "%s: not a CQG1 golden file\n", path);
        return -1;
    }
    size_t cap = 0;
    for (uint64_t off = 4; off < (uint64_t)size;) {
        uint32_t h[6];
        if ((uint64_t)size - off < sizeof(h)) return fprintf(stderr, "%s: truncated record at %llu\n", path, (unsigned long long)off), -1;
        memcpy(h, g->data + off, sizeof(h));
        off += sizeof(h);
        if ((uint64_t)h[4] + h[5] > (uint64_t)size - off) return fprintf(stderr, "%s: record at %llu overruns the file\n", path, (unsigned long long)off), -1;
        if (g->count == cap) g->records = realloc(g->records, (cap = cap ? 2 * cap : 64) * sizeof(golden_record));
        g->records[g->count++] = (golden_record){h[0], h[1], h[2], h[3], h[4], h[5], g->data + off, g->data + off + h[4]};
        off += (uint64_t)h[4] + h[5];
    }
    *state = g;
    return 0;
}

static int golden_free(void **state) {
    golden_set *g = *state;
    if (g) {
        free(g->records);
        free(g->data);
        free(g);
    }
    return 0;
}

static float load_f32(const unsigned char *p, size_t i) {
    float v;
    memcpy(&v, p + 4 * i, 4);
    return v;
}

static uint16_t load_u16(const unsigned char *p, size_t i) {
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
}

/* Equal bits, or both NaN with the same sign (NaN payloads differ between F16C and numpy). */
static int same_f32(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) && signbit(a) == signbit(b);
    return celer_f32_bits(a) == celer_f32_bits(b);
}

static int same_f16(uint16_t a, uint16_t b) {
    int nan_a = (a & 0x7c00) == 0x7c00 && (a & 0x3ff), nan_b = (b & 0x7c00) == 0x7c00 && (b & 0x3ff);
    if (nan_a || nan_b) return nan_a && nan_b && (a & 0x8000) == (b & 0x8000);
    return a == b;
}

/* ---- golden: dequantize ---- */

static void test_dequantize_golden(void **state) {
    golden_set *g = *state;
    int seen[QUANT_TYPE_COUNT] = {0}, records = 0;
    for (size_t r = 0; r < g->count; r++) {
        const golden_record *rec = &g->records[r];
        if (rec->kind != KIND_DEQUANTIZE) continue;
        const quant_traits *tr = quant_get_traits(rec->type);
        if (!tr) fail_msg("golden dequantize record %zu: unsupported type %u", r, rec->type);
        assert_int_equal(quant_row_size(rec->type, rec->n), rec->n_in);
        assert_int_equal((uint64_t)rec->n * 4, rec->n_out);
        float *got = malloc((size_t)rec->n * sizeof(float));
        tr->dequantize_row(rec->in, got, rec->n);
        for (uint32_t i = 0; i < rec->n; i++) {
            float want = load_f32(rec->out, i);
            if (!same_f32(got[i], want))
                fail_msg("%s record %zu element %u (block %u): %.9g, golden %.9g", tr->name, r, i, i / (uint32_t)tr->block_size,
                         (double)got[i], (double)want);
            /* the portable conversion keeps NaN payloads, exactly as numpy */
            if (rec->type == QUANT_F16 && celer_f32_bits(celer_fp16_to_fp32_ref(load_u16(rec->in, i))) != celer_f32_bits(want))
                fail_msg("celer_fp16_to_fp32_ref(0x%04x) = %.9g, numpy %.9g", load_u16(rec->in, i),
                         (double)celer_fp16_to_fp32_ref(load_u16(rec->in, i)), (double)want);
        }
        free(got);
        seen[rec->type]++;
        records++;
    }
    const uint32_t all[] = {QUANT_F32,  QUANT_F16,  QUANT_BF16, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0, QUANT_Q5_1,
                            QUANT_Q8_0, QUANT_Q2_K, QUANT_Q3_K, QUANT_Q4_K, QUANT_Q5_K, QUANT_Q6_K, QUANT_IQ4_NL};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (!seen[all[i]]) fail_msg("no golden dequantize data for %s", quant_type_name(all[i]));
    if (seen[QUANT_Q4_1] < 2 || seen[QUANT_Q8_0] < 2 || seen[QUANT_F32] < 2)
        fprintf(stderr, "note: golden file has no real model rows (model absent when it was made)\n");
    fprintf(stderr, "%d dequantize records matched bit for bit\n", records);
}

/* ---- golden: quantize ---- */

static void check_quantized_f16(size_t r, const golden_record *rec, const unsigned char *got) {
    for (uint32_t i = 0; i < rec->n; i++) {
        const float x = load_f32(rec->in, i);
        const uint16_t want = load_u16(rec->out, i), hw = load_u16(got, i), ref = celer_fp32_to_fp16_ref(x);
        if (!same_f16(hw, want) || !same_f16(ref, want))
            fail_msg("f16 record %zu: %.9g (0x%08x) -> 0x%04x (portable 0x%04x), numpy 0x%04x", r, (double)x, celer_f32_bits(x), hw, ref,
                     want);
    }
}

static void test_quantize_golden(void **state) {
    golden_set *g = *state;
    int seen[QUANT_TYPE_COUNT] = {0};
    for (size_t r = 0; r < g->count; r++) {
        const golden_record *rec = &g->records[r];
        if (rec->kind != KIND_QUANTIZE) continue;
        const quant_traits *tr = quant_get_traits(rec->type);
        if (!tr || !tr->quantize_row) fail_msg("golden quantize record %zu: no quantizer for type %u", r, rec->type);
        assert_int_equal((uint64_t)rec->n * 4, rec->n_in);
        assert_int_equal(quant_row_size(rec->type, rec->n), rec->n_out);
        const float *x = malloc(rec->n_in);
        memcpy((void *)x, rec->in, rec->n_in);
        unsigned char *got = malloc(rec->n_out);
        tr->quantize_row(x, got, rec->n);
        if (rec->type == QUANT_F16) {
            check_quantized_f16(r, rec, got);
        } else {
            for (uint32_t b = 0; b < rec->n_out; b++)
                if (got[b] != rec->out[b])
                    fail_msg("%s record %zu (source %u): block %zu byte %zu is 0x%02x, reference 0x%02x", tr->name, r, rec->source,
                             b / tr->type_size, b % tr->type_size, got[b], rec->out[b]);
        }
        free((void *)x);
        free(got);
        seen[rec->type]++;
    }
    const uint32_t all[] = {QUANT_F16, QUANT_BF16, QUANT_Q8_0, QUANT_Q8_1, QUANT_Q8_K, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0, QUANT_Q5_1};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (!seen[all[i]]) fail_msg("no golden quantize data for %s", quant_type_name(all[i]));
}

/* ---- golden: vec_dot ---- */

/* sum_i |w_i a_i| in double from the dequantized rows: the scale of the rounding errors. */
static double abs_dot(const quant_traits *wt, const void *row, const void *act, int64_t n) {
    const quant_traits *at = quant_get_traits(wt->vec_dot_type);
    float *w = malloc((size_t)n * sizeof(float)), *a = malloc((size_t)n * sizeof(float));
    wt->dequantize_row(row, w, n);
    at->dequantize_row(act, a, n);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)w[i] * (double)a[i]);
    free(w);
    free(a);
    return s;
}

/* libggml-cpu, as llama-cpp-python builds it (gcc -O3 -march=native, gnu11, so
 * -ffp-contract=fast), fuses one multiply-add in the generic dots of these types (seen in
 * its disassembly); celer rounds the product first, as the source is written. Against
 * libggml these differ in the last bits of a block term and are compared within 1e-6 of
 * sum|w a|; the golden file also holds the unfused generic order for them, emulated in
 * numpy, and that must match exactly. */
static int ggml_build_fuses(uint32_t type) {
    return type == QUANT_Q4_1 || type == QUANT_Q5_1 || type == QUANT_Q2_K || type == QUANT_Q4_K || type == QUANT_Q5_K;
}

static void test_vec_dot_golden(void **state) {
    golden_set *g = *state;
    int seen[QUANT_TYPE_COUNT] = {0}, exact = 0, records = 0;
    for (size_t r = 0; r < g->count; r++) {
        const golden_record *rec = &g->records[r];
        if (rec->kind != KIND_VEC_DOT) continue;
        const quant_traits *tr = quant_get_traits(rec->type);
        if (!tr || !tr->vec_dot) fail_msg("golden vec_dot record %zu: no dot for type %u", r, rec->type);
        size_t row_bytes = quant_row_size(rec->type, rec->n), act_bytes = quant_row_size(tr->vec_dot_type, rec->n);
        assert_int_equal(row_bytes + act_bytes, rec->n_in);
        assert_int_equal(rec->n_out, 4);
        /* copies: the golden bytes have no alignment guarantee */
        void *row = malloc(row_bytes), *act = malloc(act_bytes);
        memcpy(row, rec->in, row_bytes);
        memcpy(act, rec->in + row_bytes, act_bytes);
        const float got = tr->vec_dot(rec->n, row, act), want = load_f32(rec->out, 0);
        if (celer_f32_bits(got) == celer_f32_bits(want)) {
            exact++;
        } else if (rec->source != SOURCE_GGML || !ggml_build_fuses(rec->type)) {
            fail_msg("%s dot record %zu (n %u): %.9g, %s %.9g (must be equal)", tr->name, r, rec->n, (double)got,
                     rec->source == SOURCE_GGML ? "libggml" : "numpy", (double)want);
        } else {
            double scale = abs_dot(tr, row, act, rec->n);
            if (fabs((double)got - (double)want) > 1e-6 * scale)
                fail_msg("%s dot record %zu (n %u): %.9g, ggml %.9g, |diff| > 1e-6 * %.6g", tr->name, r, rec->n, (double)got, (double)want,
                         scale);
        }
        free(row);
        free(act);
        seen[rec->type]++;
        records++;
    }
    for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++)
        if (quant_get_traits(t) && quant_get_traits(t)->vec_dot && !seen[t]) fail_msg("no golden vec_dot data for %s", quant_type_name(t));
    fprintf(stderr, "%d of %d vec_dot records equal to ggml bit for bit\n", exact, records);
}

/* ---- properties ---- */

/* Deterministic values in about [-scale, scale] with a bell-ish shape (sum of 3 uniforms). */
static float draw(uint64_t *s, float scale) {
    float sum = 0.0f;
    for (int k = 0; k < 3; k++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        sum += (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return sum / 3.0f * scale;
}

/* vec_dot against the double dot of the dequantized rows. The integer block sums are exact,
 * so the difference is float rounding of the scale products and of the running sum: for
 * n <= 4096, under 1e-5 of sum|w a|. Q8_1 adds one term: its s = d sum(q) is stored in fp16,
 * so each block's min term m s carries up to half an fp16 ulp of s. */
static void check_dot(const quant_traits *wt, const void *row, int64_t n, uint64_t *seed) {
    const quant_traits *at = quant_get_traits(wt->vec_dot_type);
    float *x = malloc((size_t)n * sizeof(float)), *w = malloc((size_t)n * sizeof(float)), *a = malloc((size_t)n * sizeof(float));
    void *act = malloc(quant_row_size(wt->vec_dot_type, n));
    const float scale = (*seed % 3 == 0) ? 1e-3f : (*seed % 3 == 1) ? 1.0f : 50.0f;
    for (int64_t i = 0; i < n; i++) x[i] = draw(seed, scale);
    at->quantize_row(x, act, n);
    wt->dequantize_row(row, w, n);
    at->dequantize_row(act, a, n);
    double exact = 0.0, mag = 0.0, s_term = 0.0;
    for (int64_t i = 0; i < n; i++) {
        exact += (double)w[i] * (double)a[i];
        mag += fabs((double)w[i] * (double)a[i]);
    }
    if (wt->vec_dot_type == QUANT_Q8_1) {
        const block_q8_1 *y = act;
        for (int64_t b = 0; b < n / 32; b++) { /* both Q4_1 and Q5_1 keep m at byte 2 */
            const uint16_t m = load_u16((const unsigned char *)row + b * wt->type_size, 1);
            s_term += fabs((double)celer_fp16_to_fp32(m) * (double)celer_fp16_to_fp32(y[b].s)) * 0x1p-11;
        }
    }
    const float got = wt->vec_dot(n, row, act);
    if (fabs((double)got - exact) > 1e-5 * mag + s_term)
        fail_msg("%s dot n %lld: %.9g, double %.9g (sum|wa| %.6g)", wt->name, (long long)n, (double)got, exact, mag);
    free(x);
    free(w);
    free(a);
    free(act);
}

static void test_vec_dot_vs_dequantized(void **state) {
    golden_set *g = *state;
    uint64_t seed = 7;
    int seen[QUANT_TYPE_COUNT] = {0};
    /* block types: the golden weight rows (random blocks, real rows) */
    for (size_t r = 0; r < g->count; r++) {
        const golden_record *rec = &g->records[r];
        const quant_traits *tr = quant_get_traits(rec->type);
        if (rec->kind != KIND_DEQUANTIZE || !tr || !tr->vec_dot || tr->block_size == 1) continue;
        void *row = malloc(rec->n_in);
        memcpy(row, rec->in, rec->n_in);
        for (int k = 0; k < 3; k++) check_dot(tr, row, rec->n, &seed);
        free(row);
        seen[rec->type]++;
    }
    /* float types: rows made here (the golden ones include infinities and NaNs) */
    const uint32_t floats[] = {QUANT_F32, QUANT_F16, QUANT_BF16};
    for (size_t t = 0; t < 3; t++) {
        const quant_traits *tr = quant_get_traits(floats[t]);
        const int64_t lengths[] = {1, 33, 4096};
        for (size_t k = 0; k < 3; k++) {
            float *x = malloc((size_t)lengths[k] * sizeof(float));
            void *row = malloc(quant_row_size(floats[t], lengths[k]));
            for (int64_t i = 0; i < lengths[k]; i++) x[i] = draw(&seed, 4.0f);
            tr->quantize_row(x, row, lengths[k]);
            check_dot(tr, row, lengths[k], &seed);
            free(x);
            free(row);
        }
        seen[floats[t]]++;
    }
    for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++)
        if (quant_get_traits(t) && quant_get_traits(t)->vec_dot && !seen[t]) fail_msg("vec_dot of %s not exercised", quant_type_name(t));
}

/* Activation quantizers: every element within half a step (step = amax / 127, plus the
 * fp16 rounding of the scale); Q8_1's s and Q8_K's bsums agree with the levels. */
static void test_activation_round_trip(void **state) {
    (void)state;
    enum { N = 1024 };
    float x[N], y[N];
    static unsigned char buf[N * 4];
    uint64_t s = 42;
    for (int i = 0; i < N; i++) x[i] = draw(&s, i < 512 ? 3.0f : 1e-4f);
    x[5] = 0.0f;
    const uint32_t types[] = {QUANT_Q8_0, QUANT_Q8_1, QUANT_Q8_K};
    for (size_t t = 0; t < 3; t++) {
        const quant_traits *tr = quant_get_traits(types[t]);
        tr->quantize_row(x, buf, N);
        tr->dequantize_row(buf, y, N);
        for (int i = 0; i < N; i++) {
            const int64_t b = i / tr->block_size;
            float amax = 0.0f;
            for (int64_t j = b * tr->block_size; j < (b + 1) * tr->block_size; j++) amax = fmaxf(amax, fabsf(x[j]));
            /* the stored scale: fp32 in Q8_K, fp16 at the block start in Q8_0/Q8_1 (possibly
             * subnormal for tiny blocks); its rounding error counts up to 127 times */
            const float step = amax / 127.0f;
            const float stored = types[t] == QUANT_Q8_K ? step : celer_fp16_to_fp32(load_u16(buf + b * tr->type_size, 0));
            if (fabsf(y[i] - x[i]) > 0.5f * step + 127.0f * fabsf(stored - step) + 1e-12f)
                fail_msg("%s element %d: %g -> %g (step %g)", tr->name, i, (double)x[i], (double)y[i], (double)step);
        }
    }
    quant_get_traits(QUANT_Q8_1)->quantize_row(x, buf, N);
    for (int b = 0; b < N / 32; b++) {
        const block_q8_1 *q = (const block_q8_1 *)buf + b;
        int sum = 0;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) sum += q->qs[j], amax = fmaxf(amax, fabsf(x[32 * b + j]));
        assert_int_equal(q->s, celer_fp32_to_fp16((float)sum * (amax / 127.0f))); /* s from the unrounded d */
    }
    quant_get_traits(QUANT_Q8_K)->quantize_row(x, buf, N);
    for (int b = 0; b < N / 256; b++) {
        const block_q8_K *q = (const block_q8_K *)buf + b;
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += q->qs[16 * j + l];
            assert_int_equal(q->bsums[j], sum);
        }
    }
    float zeros[256] = {0};
    for (size_t t = 0; t < 3; t++) {
        memset(buf, 0xAB, sizeof(buf));
        quant_get_traits(types[t])->quantize_row(zeros, buf, 256);
        quant_get_traits(types[t])->dequantize_row(buf, y, 256);
        for (int i = 0; i < 256; i++) assert_true(y[i] == 0.0f);
    }
}

/* Weight quantizers: within one step of the block's grid (IQ4_NL: within half the widest gap
 * of its table, 24 of the 127 its extreme maps to). */
static void test_weight_round_trip(void **state) {
    (void)state;
    enum { N = 256 };
    float x[N], y[N];
    unsigned char buf[N];
    for (int i = 0; i < N; i++) x[i] = sinf((float)i * 0.37f) * (1.0f + (float)(i % 7));
    const uint32_t types[] = {QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0, QUANT_Q5_1};
    const float levels[] = {8, 15, 16, 31};
    for (size_t t = 0; t < 4; t++) {
        const quant_traits *tr = quant_get_traits(types[t]);
        tr->quantize_row(x, buf, N);
        tr->dequantize_row(buf, y, N);
        for (int i = 0; i < N; i++) {
            const int b = i / 32 * 32;
            float lo = x[b], hi = x[b];
            for (int j = 1; j < 32; j++) lo = fminf(lo, x[b + j]), hi = fmaxf(hi, x[b + j]);
            const float step = (t % 2 == 0) ? fmaxf(fabsf(lo), fabsf(hi)) / levels[t] : (hi - lo) / levels[t];
            if (fabsf(y[i] - x[i]) > step * 1.01f) fail_msg("%s element %d: %g -> %g", tr->name, i, (double)x[i], (double)y[i]);
        }
    }
    const quant_traits *nl = quant_get_traits(QUANT_IQ4_NL);
    nl->quantize_row(x, buf, N);
    nl->dequantize_row(buf, y, N);
    for (int i = 0; i < N; i++) {
        const int b = i / 32 * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b + j]));
        if (fabsf(y[i] - x[i]) > amax * 12.0f / 127.0f * 1.01f) fail_msg("iq4_nl element %d: %g -> %g", i, (double)x[i], (double)y[i]);
    }
    /* every table entry comes back from its own value (d = 1: the extreme is -127) */
    static const int8_t values[16] = IQ4_NL_VALUES;
    float t[32];
    for (int j = 0; j < 32; j++) t[j] = (float)values[j % 16];
    nl->quantize_row(t, buf, 32);
    nl->dequantize_row(buf, y, 32);
    for (int j = 0; j < 32; j++) assert_true(y[j] == t[j]);
}

/* fp16/bf16: every non-NaN pattern survives fp16 -> fp32 -> fp16; F16C equals the
 * portable code on all of them and on a sweep of fp32 values; ties go to even. */
static void test_half_conversions(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = celer_fp16_to_fp32((uint16_t)h), fr = celer_fp16_to_fp32_ref((uint16_t)h);
        assert_true(same_f32(f, fr));
        if (isnan(f)) {
            assert_true(same_f16(celer_fp32_to_fp16(f), (uint16_t)h));
        } else {
            assert_int_equal(celer_fp32_to_fp16(f), h);
            assert_int_equal(celer_fp32_to_fp16_ref(f), h);
        }
        const float b = celer_bf16_to_fp32((uint16_t)h);
        if (!isnan(b)) assert_int_equal(celer_fp32_to_bf16(b), h);
    }
    for (uint64_t u = 0; u < 0x100000000ull; u += 0x10001) { /* about 65536 fp32 patterns of every exponent */
        const float f = celer_bits_f32((uint32_t)u);
        if (!same_f16(celer_fp32_to_fp16(f), celer_fp32_to_fp16_ref(f)))
            fail_msg("fp32 0x%08x: F16C 0x%04x, portable 0x%04x", (uint32_t)u, celer_fp32_to_fp16(f), celer_fp32_to_fp16_ref(f));
    }
    const struct { float x; uint16_t h; } f16[] = {
        {1.0f + 0x1p-11f, 0x3c00},     /* tie, even below */
        {1.0f + 0x3p-11f, 0x3c02},     /* tie, even above */
        {65504.0f, 0x7bff},            /* largest finite */
        {65520.0f, 0x7c00},            /* tie between the largest finite and infinity */
        {0x1p-24f, 0x0001},            /* smallest subnormal */
        {0x1p-25f, 0x0000},            /* tie with zero */
        {0x1.8p-25f, 0x0001},          /* above the tie */
        {0x3p-25f, 0x0002},            /* subnormal tie 1.5 ulp -> 2 */
        {-0.0f, 0x8000},
    };
    for (size_t i = 0; i < sizeof(f16) / sizeof(f16[0]); i++) {
        assert_int_equal(celer_fp32_to_fp16(f16[i].x), f16[i].h);
        assert_int_equal(celer_fp32_to_fp16_ref(f16[i].x), f16[i].h);
    }
    assert_int_equal(celer_fp32_to_bf16(celer_bits_f32(0x3f808000)), 0x3f80); /* tie, even below */
    assert_int_equal(celer_fp32_to_bf16(celer_bits_f32(0x3f818000)), 0x3f82); /* tie, even above */
    assert_int_equal(celer_fp32_to_bf16(celer_bits_f32(0x7f800001)), 0x7fc0); /* signalling NaN quieted */
}

/* ---- table ---- */

static void test_table(void **state) {
    (void)state;
    const struct { uint32_t type; int64_t block; size_t bytes; uint32_t dot; } want[] = {
        {QUANT_F32, 1, 4, QUANT_F32},      {QUANT_F16, 1, 2, QUANT_F16},       {QUANT_BF16, 1, 2, QUANT_BF16},
        {QUANT_Q4_0, 32, 18, QUANT_Q8_0},  {QUANT_Q4_1, 32, 20, QUANT_Q8_1},   {QUANT_Q5_0, 32, 22, QUANT_Q8_0},
        {QUANT_Q5_1, 32, 24, QUANT_Q8_1},  {QUANT_Q8_0, 32, 34, QUANT_Q8_0},   {QUANT_Q2_K, 256, 84, QUANT_Q8_K},
        {QUANT_Q3_K, 256, 110, QUANT_Q8_K}, {QUANT_Q4_K, 256, 144, QUANT_Q8_K}, {QUANT_Q5_K, 256, 176, QUANT_Q8_K},
        {QUANT_Q6_K, 256, 210, QUANT_Q8_K}, {QUANT_Q8_1, 32, 36, QUANT_Q8_1},  {QUANT_Q8_K, 256, 292, QUANT_Q8_K},
        {QUANT_IQ4_NL, 32, 18, QUANT_Q8_0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const quant_traits *tr = quant_get_traits(want[i].type);
        assert_non_null(tr);
        assert_int_equal(tr->block_size, want[i].block);
        assert_int_equal(tr->type_size, want[i].bytes);
        assert_int_equal(tr->vec_dot_type, want[i].dot);
        assert_non_null(tr->dequantize_row);
        const quant_traits *act = quant_get_traits(tr->vec_dot_type);
        assert_non_null(act);
        assert_non_null(act->quantize_row); /* every weight type's activations can be quantized */
    }
    assert_null(quant_get_traits(QUANT_Q8_1)->vec_dot); /* activation-only types */
    assert_null(quant_get_traits(QUANT_Q8_K)->vec_dot);
    assert_int_equal(quant_row_size(QUANT_Q4_1, 576), 18 * 20);
    assert_int_equal(quant_row_size(QUANT_Q4_K, 512), 2 * 144);
    assert_int_equal(quant_row_size(QUANT_Q4_K, 576), 0); /* not a multiple of 256 */
    assert_int_equal(quant_row_size(QUANT_F16, 3), 6);
    assert_int_equal(quant_row_size(QUANT_F32, 0), 0);
    assert_int_equal(quant_row_size(QUANT_Q8_0, -32), 0);
    assert_int_equal(quant_row_size(QUANT_F32, INT64_MAX), 0); /* 4 * n overflows */
    assert_int_equal(quant_row_size(4, 32), 0);
    const uint32_t absent[] = {4, 5, 16, 19, 21, 23, 31, 36, 39, 40, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) assert_null(quant_get_traits(absent[i]));
    assert_string_equal(quant_type_name(QUANT_Q6_K), "q6_K");
    assert_string_equal(quant_type_name(QUANT_BF16), "bf16");
    assert_string_equal(quant_type_name(QUANT_IQ4_NL), "iq4_nl");
    assert_string_equal(quant_type_name(23), "iq4_xs"); /* known to ggml, not run by celer */
    assert_string_equal(quant_type_name(39), "mxfp4");
    assert_string_equal(quant_type_name(4), "unknown"); /* removed Q4_2 */
    assert_string_equal(quant_type_name(5), "unknown");
    assert_string_equal(quant_type_name(1000), "unknown");
    assert_string_equal(quant_type_name(UINT32_MAX), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequantize_golden),   cmocka_unit_test(test_quantize_golden),
        cmocka_unit_test(test_vec_dot_golden),      cmocka_unit_test(test_vec_dot_vs_dequantized),
        cmocka_unit_test(test_activation_round_trip), cmocka_unit_test(test_weight_round_trip),
        cmocka_unit_test(test_half_conversions),    cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, golden_load, golden_free);
}
