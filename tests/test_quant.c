/* test_quant.c: the traits table and reference functions of every tensor type:
 *   - dequantization equals the gguf Python package's, bit for bit, on random blocks and
 *     real rows of the default model (tests/data/quant/golden.bin, made by
 *     scripts/make_quant_golden.py);
 *   - activation quantizers round-trip within half a step, Q8_1's sum field is right;
 *   - reference 4-bit quantizers reconstruct within one step;
 *   - sizes, names and unknown ids. */
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

static void test_golden_dequantize(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/quant/golden.bin", getenv("CELER_SOURCE_DIR") ? getenv("CELER_SOURCE_DIR") : ".");
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    int records = 0, seen[QUANT_TYPE_COUNT] = {0};
    uint32_t hdr[3];
    while (fread(hdr, 4, 3, f) == 3) {
        uint32_t type = hdr[0], n = hdr[1], n_bytes = hdr[2];
        const quant_traits *tr = quant_get_traits(type);
        if (!tr) fail_msg("golden record of unsupported type %u", type);
        assert_int_equal(quant_row_size(type, n), n_bytes);
        unsigned char *blocks = malloc(n_bytes);
        float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
        assert_int_equal(fread(blocks, 1, n_bytes, f), n_bytes);
        assert_int_equal(fread(want, sizeof(float), n, f), n);
        tr->dequantize_row(blocks, got, n);
        for (uint32_t i = 0; i < n; i++)
            if (celer_f32_bits(got[i]) != celer_f32_bits(want[i]) && !(isnan(got[i]) && isnan(want[i])))
                fail_msg("%s element %u: %.9g, gguf says %.9g", tr->name, i, (double)got[i], (double)want[i]);
        free(blocks);
        free(want);
        free(got);
        seen[type]++;
        records++;
    }
    fclose(f);
    const uint32_t all[] = {QUANT_F32, QUANT_F16, QUANT_BF16, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0, QUANT_Q5_1,
                            QUANT_Q8_0, QUANT_Q2_K, QUANT_Q3_K, QUANT_Q4_K, QUANT_Q5_K, QUANT_Q6_K};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (!seen[all[i]]) fail_msg("no golden data for %s", quant_type_name(all[i]));
    fprintf(stderr, "%d golden records matched bit for bit\n", records);
}

static void test_activation_quantizers(void **state) {
    (void)state;
    enum { N = 512 };
    float x[N], y[N];
    unsigned char buf[N * 4];
    uint64_t s = 42;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 6.0 - 3.0);
    }
    x[5] = 0.0f;
    const uint32_t types[] = {QUANT_Q8_0, QUANT_Q8_1, QUANT_Q8_K, QUANT_F16, QUANT_BF16, QUANT_F32};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        const quant_traits *tr = quant_get_traits(types[t]);
        tr->quantize_row(x, buf, N);
        tr->dequantize_row(buf, y, N);
        for (int i = 0; i < N; i++) {
            int64_t b = i / tr->block_size * tr->block_size;
            float amax = 0;
            for (int64_t j = b; j < b + tr->block_size; j++) amax = fmaxf(amax, fabsf(x[j]));
            float step = tr->block_size > 1 ? amax / 127.0f : fabsf(x[i]) / 128.0f; /* bf16 has 8 bits */
            /* half a step, plus the fp16 rounding of the scale times up to 127 */
            if (fabsf(y[i] - x[i]) > 0.57f * step + 1e-6f) fail_msg("%s element %d: %g -> %g", tr->name, i, (double)x[i], (double)y[i]);
        }
    }
    /* Q8_1's s = d * sum(q) */
    quant_get_traits(QUANT_Q8_1)->quantize_row(x, buf, 32);
    const block_q8_1 *b = (const block_q8_1 *)buf;
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += b->qs[j];
    assert_float_equal(celer_fp16_to_fp32(b->s), celer_fp16_to_fp32(celer_fp32_to_fp16(celer_fp16_to_fp32(b->d) * (float)sum)), 0.05);
    /* a zero block quantizes to zeros */
    float zeros[256] = {0};
    for (size_t t = 0; t < 3; t++) {
        quant_get_traits(types[t])->quantize_row(zeros, buf, 256);
        quant_get_traits(types[t])->dequantize_row(buf, y, 256);
        for (int i = 0; i < 256; i++) assert_true(y[i] == 0.0f);
    }
}

static void test_weight_quantizers(void **state) {
    (void)state;
    enum { N = 256 };
    float x[N], y[N];
    unsigned char buf[N];
    for (int i = 0; i < N; i++) x[i] = sinf((float)i * 0.37f) * (1.0f + (float)(i % 7));
    const uint32_t types[] = {QUANT_Q4_0, QUANT_Q4_1};
    for (size_t t = 0; t < 2; t++) {
        const quant_traits *tr = quant_get_traits(types[t]);
        tr->quantize_row(x, buf, N);
        tr->dequantize_row(buf, y, N);
        for (int i = 0; i < N; i++) {
            int64_t b = i / 32 * 32;
            float lo = x[b], hi = x[b];
            for (int j = 1; j < 32; j++) lo = fminf(lo, x[b + j]), hi = fmaxf(hi, x[b + j]);
            float step = types[t] == QUANT_Q4_0 ? fmaxf(fabsf(lo), fabsf(hi)) / 8 : (hi - lo) / 15;
            if (fabsf(y[i] - x[i]) > step * 1.01f) fail_msg("%s element %d: %g -> %g", tr->name, i, (double)x[i], (double)y[i]);
        }
    }
}

static void test_table(void **state) {
    (void)state;
    assert_int_equal(quant_row_size(QUANT_Q4_1, 576), 18 * 20);
    assert_int_equal(quant_row_size(QUANT_Q4_K, 512), 2 * 144);
    assert_int_equal(quant_row_size(QUANT_Q4_K, 576), 0); /* not a multiple of 256 */
    assert_int_equal(quant_row_size(QUANT_F16, 3), 6);
    assert_int_equal(quant_row_size(QUANT_Q8_0, -32), 0);
    assert_null(quant_get_traits(4)); /* removed Q4_2 */
    assert_null(quant_get_traits(20)); /* IQ4_NL: known, not supported */
    assert_null(quant_get_traits(39));
    assert_null(quant_get_traits(1000));
    assert_string_equal(quant_type_name(20), "iq4_nl");
    assert_string_equal(quant_type_name(4), "unknown");
    assert_string_equal(quant_type_name(QUANT_Q6_K), "q6_K");
    for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++) {
        const quant_traits *tr = quant_get_traits(t);
        if (!tr) continue;
        assert_non_null(tr->dequantize_row);
        const quant_traits *act = quant_get_traits(tr->vec_dot_type);
        assert_non_null(act);
        assert_non_null(act->quantize_row); /* every weight type's activations can be quantized */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_dequantize),
        cmocka_unit_test(test_activation_quantizers),
        cmocka_unit_test(test_weight_quantizers),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
