/* test_ops.c: the CPU reference ops against plain double-precision formulas: RMSNorm,
 * rotary embedding (both pairings, frequency factors), causal attention over the paged
 * fp16 cache, matrix products for every weight type (vs dequantized weights and
 * dequantized quantized activations), SiLU-gate. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/ops.h"
#include "core/half.h"
#include "quant/quant.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static void test_rmsnorm(void **state) {
    (void)state;
    enum { N = 3, D = 37 };
    float x[N * D], w[D], out[N * D];
    for (int i = 0; i < N * D; i++) x[i] = 3.0f * frand();
    for (int i = 0; i < D; i++) w[i] = frand();
    cpu_rmsnorm(out, x, w, N, D, 1e-5f);
    for (int t = 0; t < N; t++) {
        double ss = 0;
        for (int j = 0; j < D; j++) ss += (double)x[t * D + j] * x[t * D + j];
        double scale = 1.0 / sqrt(ss / D + 1e-5);
        for (int j = 0; j < D; j++) assert_float_equal(out[t * D + j], x[t * D + j] * scale * w[j], 1e-5);
    }
}

static void check_rope(rope_pairing pairs, bool factors) {
    model_hparams hp = {.head_dim = 16, .n_rot = 12, .rope_pairs = pairs, .rope_freq_base = 10000.0f, .rope_freq_scale = 0.5f};
    enum { N = 2, H = 3 };
    float x[N * H * 16], orig[N * H * 16], ff[6] = {1, 2, 4, 1, 8, 1};
    int32_t pos[N] = {0, 37};
    for (int i = 0; i < N * H * 16; i++) orig[i] = x[i] = frand();
    cpu_rope(x, pos, N, H, &hp, factors ? ff : NULL);
    for (int t = 0; t < N; t++)
        for (int h = 0; h < H; h++) {
            const float *o = orig + (t * H + h) * 16;
            const float *r = x + (t * H + h) * 16;
            for (int i = 0; i < 6; i++) {
                double theta = 0.5 * pos[t] * pow(10000.0, -2.0 * i / 12.0) / (factors ? ff[i] : 1.0);
                int a = pairs == ROPE_PAIRS_ADJACENT ? 2 * i : i, b = pairs == ROPE_PAIRS_ADJACENT ? 2 * i + 1 : i + 6;
                assert_float_equal(r[a], o[a] * cos(theta) - o[b] * sin(theta), 1e-4);
                assert_float_equal(r[b], o[a] * sin(theta) + o[b] * cos(theta), 1e-4);
            }
            for (int i = 12; i < 16; i++) assert_true(r[i] == o[i]); /* past n_rot: untouched */
        }
}

static void test_rope(void **state) {
    (void)state;
    check_rope(ROPE_PAIRS_ADJACENT, false);
    check_rope(ROPE_PAIRS_HALVES, false);
    check_rope(ROPE_PAIRS_ADJACENT, true);
}

/* Head dims: one 8-float chunk, odd chunk counts, SmolLM2's 64, and one that is not a
 * multiple of 8 (the scalar path); 21 positions cover whole and partial 8-wide steps. */
static void check_attention(int HD) {
    enum { NH = 4, NKV = 2, NPOS = 21, MAXHD = 64 };
    model_hparams hp = {.head_dim = HD, .n_head = NH, .n_head_kv = NKV};
    kv_cache *kv = NULL;
    assert_int_equal(kv_cache_init(&kv, 1, NKV * HD, 64, 2, NULL), CELER_OK);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, NPOS, NULL), CELER_OK);
    for (int p = 0; p < NPOS; p++) celer_batch_add(&b, 0, p, 1, true, NULL);
    assert_int_equal(kv_cache_reserve(kv, &b, NULL), CELER_OK);
    static float k[NPOS][NKV * MAXHD], v[NPOS][NKV * MAXHD], q[NPOS * NH * MAXHD], out[NPOS * NH * MAXHD];
    for (int p = 0; p < NPOS; p++)
        for (int d = 0; d < NKV * HD; d++) {
            k[p][d] = celer_fp16_to_fp32(celer_fp32_to_fp16(2.0f * frand()));
            v[p][d] = celer_fp16_to_fp32(celer_fp32_to_fp16(frand()));
            kv_cache_k(kv, 0, 1, p)[d] = celer_fp32_to_fp16(k[p][d]);
            kv_cache_v(kv, 0, 1, p)[d] = celer_fp32_to_fp16(v[p][d]);
        }
    for (int i = 0; i < NPOS * NH * HD; i++) q[i] = 2.0f * frand();
    threadpool *pool = NULL;
    assert_int_equal(threadpool_init(&pool, 2, NULL), CELER_OK);
    float *scores = malloc(cpu_attention_scores_floats(2, NH, NKV, HD, 64) * sizeof(float));
    cpu_attention_args a = {.q = q, .out = out, .pos = b.pos, .seq_id = b.seq_id, .n = NPOS, .layer = 0, .n_ctx = 64, .hp = &hp,
                            .kv = kv, .scores = scores};
    cpu_attention(pool, &a);
    for (int t = 0; t < NPOS; t++)
        for (int h = 0; h < NH; h++) {
            int g = h / (NH / NKV);
            double s[NPOS], max = -1e30, sum = 0;
            for (int p = 0; p <= t; p++) {
                s[p] = 0;
                for (int d = 0; d < HD; d++) s[p] += (double)q[(t * NH + h) * HD + d] * k[p][g * HD + d];
                s[p] /= sqrt((double)HD);
                max = fmax(max, s[p]);
            }
            for (int p = 0; p <= t; p++) sum += s[p] = exp(s[p] - max);
            for (int d = 0; d < HD; d++) {
                double want = 0;
                for (int p = 0; p <= t; p++) want += s[p] / sum * v[p][g * HD + d];
                assert_float_equal(out[(t * NH + h) * HD + d], want, 5e-3); /* q and p are rounded to fp16 */
            }
        }
    threadpool_free(pool);
    celer_batch_free(&b);
    kv_cache_free(kv);
    free(scores);
}

/* A prompt batch of two sequences (the tiled prefill path): sequence 1 from position 0,
 * then sequence 2 continuing after 5 positions already in the cache, so that one tile
 * of 4 tokens holds both sequences (the per-token path) and the others start at
 * positions that are not multiples of 8. SmolLM2's grouping (9 heads over 3). */
static void check_attention_two_seqs(int HD) {
    enum { NH = 9, NKV = 3, N1 = 13, PRE2 = 5, N2 = 10, NCTX = 40, MAXHD = 128, N = N1 + N2 };
    model_hparams hp = {.head_dim = HD, .n_head = NH, .n_head_kv = NKV};
    kv_cache *kv = NULL;
    assert_int_equal(kv_cache_init(&kv, 1, NKV * HD, NCTX, 3, NULL), CELER_OK);
    celer_batch pre, b;
    assert_int_equal(celer_batch_init(&pre, PRE2, NULL), CELER_OK);
    for (int p = 0; p < PRE2; p++) celer_batch_add(&pre, 0, p, 2, false, NULL);
    assert_int_equal(kv_cache_reserve(kv, &pre, NULL), CELER_OK);
    assert_int_equal(celer_batch_init(&b, N, NULL), CELER_OK);
    for (int p = 0; p < N1; p++) celer_batch_add(&b, 0, p, 1, true, NULL);
    for (int p = PRE2; p < PRE2 + N2; p++) celer_batch_add(&b, 0, p, 2, true, NULL);
    assert_int_equal(kv_cache_reserve(kv, &b, NULL), CELER_OK);
    static float k[3][NCTX][NKV * MAXHD], v[3][NCTX][NKV * MAXHD], q[N * NH * MAXHD], out[N * NH * MAXHD];
    const int len[3] = {0, N1, PRE2 + N2};
    for (int sq = 1; sq <= 2; sq++)
        for (int p = 0; p < len[sq]; p++)
            for (int d = 0; d < NKV * HD; d++) {
                k[sq][p][d] = celer_fp16_to_fp32(celer_fp32_to_fp16(2.0f * frand()));
                v[sq][p][d] = celer_fp16_to_fp32(celer_fp32_to_fp16(frand()));
                kv_cache_k(kv, 0, sq, p)[d] = celer_fp32_to_fp16(k[sq][p][d]);
                kv_cache_v(kv, 0, sq, p)[d] = celer_fp32_to_fp16(v[sq][p][d]);
            }
    for (int i = 0; i < N * NH * HD; i++) q[i] = 2.0f * frand();
    threadpool *pool = NULL;
    assert_int_equal(threadpool_init(&pool, 2, NULL), CELER_OK);
    float *scores = malloc(cpu_attention_scores_floats(2, NH, NKV, HD, NCTX) * sizeof(float));
    cpu_attention_args a = {.q = q, .out = out, .pos = b.pos, .seq_id = b.seq_id, .n = N, .layer = 0, .n_ctx = NCTX, .hp = &hp,
                            .kv = kv, .scores = scores};
    cpu_attention(pool, &a);
    for (int t = 0; t < N; t++)
        for (int h = 0; h < NH; h++) {
            const int g = h / (NH / NKV), sq = b.seq_id[t], np = b.pos[t] + 1;
            double s[NCTX], max = -1e30, sum = 0;
            for (int p = 0; p < np; p++) {
                s[p] = 0;
                for (int d = 0; d < HD; d++) s[p] += (double)q[(t * NH + h) * HD + d] * k[sq][p][g * HD + d];
                s[p] /= sqrt((double)HD);
                max = fmax(max, s[p]);
            }
            for (int p = 0; p < np; p++) sum += s[p] = exp(s[p] - max);
            for (int d = 0; d < HD; d++) {
                double want = 0;
                for (int p = 0; p < np; p++) want += s[p] / sum * v[sq][p][g * HD + d];
                assert_float_equal(out[(t * NH + h) * HD + d], want, 5e-3);
            }
        }
    threadpool_free(pool);
    celer_batch_free(&pre);
    celer_batch_free(&b);
    kv_cache_free(kv);
    free(scores);
}

/* One token decoding against a long context (the path split over the context): out of
 * the last of NPOS positions against the double-precision formula. */
static void check_attention_decode(int HD, int NPOS, int n_threads) {
    enum { NH = 9, NKV = 3, NCTX = 1024, MAXHD = 128 };
    model_hparams hp = {.head_dim = HD, .n_head = NH, .n_head_kv = NKV};
    kv_cache *kv = NULL;
    assert_int_equal(kv_cache_init(&kv, 1, NKV * HD, NCTX, 2, NULL), CELER_OK);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, NPOS, NULL), CELER_OK);
    for (int p = 0; p < NPOS; p++) celer_batch_add(&b, 0, p, 1, true, NULL);
    assert_int_equal(kv_cache_reserve(kv, &b, NULL), CELER_OK);
    float *k = malloc(sizeof(float) * NPOS * NKV * HD), *v = malloc(sizeof(float) * NPOS * NKV * HD);
    for (int p = 0; p < NPOS; p++)
        for (int d = 0; d < NKV * HD; d++) {
            k[p * NKV * HD + d] = celer_fp16_to_fp32(celer_fp32_to_fp16(2.0f * frand()));
            v[p * NKV * HD + d] = celer_fp16_to_fp32(celer_fp32_to_fp16(frand()));
            kv_cache_k(kv, 0, 1, p)[d] = celer_fp32_to_fp16(k[p * NKV * HD + d]);
            kv_cache_v(kv, 0, 1, p)[d] = celer_fp32_to_fp16(v[p * NKV * HD + d]);
        }
    static float q[NH * MAXHD], out[NH * MAXHD];
    for (int i = 0; i < NH * HD; i++) q[i] = 2.0f * frand();
    threadpool *pool = NULL;
    assert_int_equal(threadpool_init(&pool, n_threads, NULL), CELER_OK);
    float *scores = malloc(cpu_attention_scores_floats(n_threads, NH, NKV, HD, NCTX) * sizeof(float));
    int32_t pos = NPOS - 1, seq = 1;
    cpu_attention_args a = {.q = q, .out = out, .pos = &pos, .seq_id = &seq, .n = 1, .layer = 0, .n_ctx = NCTX, .hp = &hp,
                            .kv = kv, .scores = scores};
    cpu_attention(pool, &a);
    double *s = malloc(sizeof(double) * NPOS);
    for (int h = 0; h < NH; h++) {
        int g = h / (NH / NKV);
        double max = -1e30, sum = 0;
        for (int p = 0; p < NPOS; p++) {
            s[p] = 0;
            for (int d = 0; d < HD; d++) s[p] += (double)q[h * HD + d] * k[p * NKV * HD + g * HD + d];
            s[p] /= sqrt((double)HD);
            max = fmax(max, s[p]);
        }
        for (int p = 0; p < NPOS; p++) sum += s[p] = exp(s[p] - max);
        for (int d = 0; d < HD; d++) {
            double want = 0;
            for (int p = 0; p < NPOS; p++) want += s[p] / sum * v[p * NKV * HD + g * HD + d];
            assert_float_equal(out[h * HD + d], want, 5e-3);
        }
    }
    free(s);
    free(scores);
    free(k);
    free(v);
    threadpool_free(pool);
    celer_batch_free(&b);
    kv_cache_free(kv);
}

static void test_attention_decode_long(void **state) {
    (void)state;
    check_attention_decode(64, 300, 2);  /* split: 8 chunks of 38 */
    check_attention_decode(64, 1000, 3); /* split, 12 chunks */
    check_attention_decode(24, 257, 2);  /* odd chunk count of a head */
    check_attention_decode(128, 600, 2);
    check_attention_decode(64, 100, 2);  /* short: the unsplit path */
    check_attention_decode(128, 40, 4);  /* short, 4 threads */
    check_attention_decode(64, 100, 1);  /* one thread: one job per KV head */
}

static void test_attention(void **state) {
    (void)state;
    const int dims[] = {8, 24, 40, 64, 12};
    for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) check_attention(dims[i]);
    check_attention_two_seqs(64);
    check_attention_two_seqs(24);
    check_attention_two_seqs(128);
}

/* y = W x for each supported weight type against dequantized W · dequantized(quantized x). */
static void test_matmul_all_types(void **state) {
    (void)state;
    const uint32_t types[] = {QUANT_F32, QUANT_F16, QUANT_BF16, QUANT_Q8_0, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0,
                              QUANT_Q5_1, QUANT_Q2_K, QUANT_Q3_K, QUANT_Q4_K, QUANT_Q5_K, QUANT_Q6_K};
    enum { COLS = 512, ROWS = 7, N = 3 };
    threadpool *pool = NULL;
    assert_int_equal(threadpool_init(&pool, 2, NULL), CELER_OK);
    static float wf[ROWS * COLS], x[N * COLS], y[N * ROWS], wrow[COLS], xq[COLS];
    static unsigned char wbytes[ROWS * COLS * 4], scratch[N * COLS * 4], act[COLS * 4];
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        const quant_traits *tr = quant_get_traits(types[ti]);
        assert_non_null(tr);
        size_t rb = quant_row_size(types[ti], COLS);
        for (int i = 0; i < ROWS * COLS; i++) wf[i] = frand();
        for (int i = 0; i < N * COLS; i++) x[i] = frand();
        if (tr->quantize_row) {
            for (int r = 0; r < ROWS; r++) tr->quantize_row(wf + r * COLS, wbytes + r * rb, COLS);
        } else { /* no reference quantizer: random bytes with small fp16 scales make valid blocks */
            for (size_t i = 0; i < ROWS * rb; i++) wbytes[i] = (unsigned char)(rng_state = rng_state * 6364136223846793005ull + 1, rng_state >> 56);
            for (int r = 0; r < ROWS; r++) { /* keep every value finite */
                tr->dequantize_row(wbytes + r * rb, wrow, COLS);
                for (int i = 0; i < COLS; i++)
                    if (!isfinite(wrow[i])) memset(wbytes + r * rb, 0, rb);
            }
        }
        model_tensor w = {.name = "w", .type = types[ti], .ne = {COLS, ROWS}, .row_bytes = rb, .data = wbytes};
        cpu_matmul(pool, &w, x, N, y, scratch);
        const quant_traits *at = quant_get_traits(tr->vec_dot_type);
        for (int t = 0; t < N; t++) {
            at->quantize_row(x + t * COLS, act, COLS);
            at->dequantize_row(act, xq, COLS);
            for (int r = 0; r < ROWS; r++) {
                tr->dequantize_row(wbytes + r * rb, wrow, COLS);
                double want = 0, mag = 0;
                for (int i = 0; i < COLS; i++) want += (double)wrow[i] * xq[i], mag += fabs((double)wrow[i] * xq[i]);
                double got = y[t * ROWS + r];
                if (fabs(got - want) > 1e-4 * mag + 1e-5) fail_msg("%s row %d token %d: %g vs %g", tr->name, r, t, got, want);
            }
        }
    }
    threadpool_free(pool);
}

static void test_silu_mul(void **state) {
    (void)state;
    float g[5] = {-3, -0.5f, 0, 0.5f, 4}, u[5] = {1, 2, 3, 4, 5};
    float want[5];
    for (int i = 0; i < 5; i++) want[i] = g[i] / (1 + expf(-g[i])) * u[i];
    cpu_silu_mul(g, u, 5);
    for (int i = 0; i < 5; i++) assert_float_equal(g[i], want[i], 1e-6);
    /* 8 at a time (SIMD) and a tail, over a wide range, to a relative 1e-5 */
    enum { N = 45 };
    float gs[N], us[N], ws[N];
    for (int i = 0; i < N; i++) {
        gs[i] = (i == 0 ? -120.0f : i == 1 ? 95.0f : 12.0f * frand());
        us[i] = frand();
        ws[i] = gs[i] / (1 + expf(-gs[i])) * us[i];
    }
    cpu_silu_mul(gs, us, N);
    for (int i = 0; i < N; i++) assert_float_equal(gs[i], ws[i], 1e-5 * fabsf(ws[i]) + 1e-30);
}

/* The fast fp16 conversions (F16C where the CPU has it) equal the portable reference. */
static void test_half_conversions(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float a = celer_fp16_to_fp32((uint16_t)h), b = celer_fp16_to_fp32_ref((uint16_t)h);
        if (isnan(a) || isnan(b)) assert_true(isnan(a) && isnan(b));
        else assert_true(celer_f32_bits(a) == celer_f32_bits(b));
    }
    for (int i = 0; i < 200000; i++) {
        uint32_t bits = (uint32_t)(rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull, rng_state >> 32);
        float f = celer_bits_f32(bits);
        if (isnan(f)) continue;
        assert_int_equal(celer_fp32_to_fp16(f), celer_fp32_to_fp16_ref(f));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm), cmocka_unit_test(test_rope), cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_decode_long),
        cmocka_unit_test(test_matmul_all_types), cmocka_unit_test(test_silu_mul), cmocka_unit_test(test_half_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
