/* test_quantize_plan.c: selective quantization (src/quantize/): the knapsack plan is
 * optimal (against brute force on random instances) and within budget; bad budgets and
 * pins are refused; candidates respect block sizes; and on the real model the whole
 * pipeline (calibrate, measure, plan, write) gives a GGUF that loads, has the planned
 * types, carries the plan, and whose uniform Q8_0 version stays close to the source. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "celer.h"
#include "engine/engine_internal.h"
#include "format/gguf.h"
#include "quant/quant.h"
#include "quant/quantize.h"
#include "quantize/qplan.h"
#include "quantize/qrun.h"

static uint64_t lcg_state = 12345;
static uint32_t lcg(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg_state >> 33);
}

/* Brute force over all choices: least cost within budget. */
static double brute(const qz_state *s, uint64_t budget, int i, uint64_t used, double cost) {
    if (i == s->n) return used <= budget ? cost : INFINITY;
    double best = INFINITY;
    for (int j = 0; j < s->t[i].n_cand; j++) {
        double v = brute(s, budget, i + 1, used + s->t[i].cand_bytes[j], cost + s->t[i].cand_cost[j]);
        best = v < best ? v : best;
    }
    return best;
}

static void test_plan_is_optimal(void **state) {
    (void)state;
    for (int trial = 0; trial < 200; trial++) {
        qz_tensor t[7];
        memset(t, 0, sizeof(t));
        qz_state s = {.t = t, .n = 2 + (int)(lcg() % 6)};
        uint64_t lo = 0, hi = 0;
        for (int i = 0; i < s.n; i++) {
            t[i].n_cand = 1 + (int)(lcg() % 4);
            t[i].name = "t";
            for (int j = 0; j < t[i].n_cand; j++) {
                t[i].cand_bytes[j] = 100 + lcg() % 5000;
                t[i].cand_cost[j] = (double)(lcg() % 10000) / 1000.0;
            }
        }
        qz_bytes_range(&s, &lo, &hi);
        uint64_t budget = lo + (hi > lo ? lcg() % (hi - lo + 1) : 0);
        celer_error err = {0};
        assert_int_equal(qz_plan(&s, budget, &err), CELER_OK);
        double want = brute(&s, budget, 0, 0, 0.0);
        assert_true(qz_planned_bytes(&s) <= budget);
        assert_true(fabs(qz_predicted_kl(&s) - want) <= 1e-9 * (1.0 + want));
        /* one byte short of the smallest plan: refused, with the sizes in the message */
        assert_int_equal(qz_plan(&s, lo - 1, &err), CELER_ERR_INVALID_ARG);
        assert_non_null(strstr(err.msg, "MiB"));
    }
}

static void test_plan_prefers_smaller_at_equal_cost(void **state) {
    (void)state;
    qz_tensor t[2];
    memset(t, 0, sizeof(t));
    qz_state s = {.t = t, .n = 2};
    for (int i = 0; i < 2; i++) {
        t[i].name = "t";
        t[i].n_cand = 2;
        t[i].cand_bytes[0] = 1000, t[i].cand_cost[0] = 0.0; /* bigger, no better */
        t[i].cand_bytes[1] = 500, t[i].cand_cost[1] = 0.0;
    }
    celer_error err = {0};
    assert_int_equal(qz_plan(&s, 5000, &err), CELER_OK);
    assert_int_equal(qz_planned_bytes(&s), 1000);
}

static void test_candidates_respect_blocks(void **state) {
    (void)state;
    uint32_t c[QZ_MAX_CAND];
    int n = qz_candidates(576, NULL, 0, c);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) {
        assert_int_equal(576 % quant_get_traits(c[i])->block_size, 0);
        assert_true(quant_can_quantize(c[i]));
        if (i) /* most bits first */
            assert_true(quant_get_traits(c[i])->type_size * quant_get_traits(c[i - 1])->block_size <=
                        quant_get_traits(c[i - 1])->type_size * quant_get_traits(c[i])->block_size);
    }
    uint32_t k4 = QUANT_Q4_K;
    assert_int_equal(qz_candidates(576, &k4, 1, c), 0); /* 576 is not a multiple of 256 */
    assert_int_equal(qz_candidates(1536, &k4, 1, c), quant_can_quantize(QUANT_Q4_K) ? 1 : 0);
    assert_int_equal(qz_candidates(100, NULL, 0, c), 0);
}

/* ---- the real model ---- */

static celer_model *load_model(void) {
    const char *path = getenv("CELER_MODEL");
    celer_model *m = NULL;
    celer_error err = {0};
    if (!path || celer_model_load(path, &m, &err) != CELER_OK) {
        fprintf(stderr, "SKIPPED: model not found at %s (run scripts/get-model.sh)\n", path ? path : "$CELER_MODEL");
        return NULL;
    }
    return m;
}

static void test_pins(void **state) {
    (void)state;
    celer_model *cm = load_model();
    if (!cm) return;
    qz_state s;
    celer_error err = {0};
    assert_int_equal(qz_collect(&s, celer_model_bound(cm), 2, &err), CELER_OK);
    assert_int_equal(qz_pin(&s, "^nothing-like-this$", QUANT_Q8_0, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "matches no tensor"));
    assert_int_equal(qz_pin(&s, "([", QUANT_Q8_0, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "regular expression"));
    assert_int_equal(qz_pin(&s, "attn_v", QUANT_Q8_0, &err), CELER_OK);
    int pinned = 0;
    for (int i = 0; i < s.n; i++)
        if (s.t[i].pinned) {
            pinned++;
            assert_non_null(strstr(s.t[i].name, "attn_v"));
            assert_int_equal(s.t[i].n_cand, 1);
            assert_int_equal(s.t[i].cand[0], QUANT_Q8_0);
        }
    assert_int_equal(pinned, celer_model_bound(cm)->hp.n_layer);
    qz_free(&s);
    celer_model_free(cm);
}

/* Logits of the last position of a short prompt. */
static float *last_logits(celer_model *m, const int32_t *toks, int n) {
    celer_context_params p;
    celer_context_params_default(&p);
    p.n_ctx = 64;
    p.n_batch = 64;
    p.n_threads = 2;
    celer_context *ctx = NULL;
    celer_error err = {0};
    assert_int_equal(celer_context_new(m, &p, &ctx, &err), CELER_OK);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, 64, &err), CELER_OK);
    for (int i = 0; i < n; i++) celer_batch_add(&b, toks[i], i, 0, i == n - 1, &err);
    assert_int_equal(celer_decode(ctx, &b, &err), CELER_OK);
    int32_t nv = celer_model_n_vocab(m);
    float *out = malloc((size_t)nv * sizeof(float));
    memcpy(out, celer_get_logits(ctx, 0), (size_t)nv * sizeof(float));
    celer_batch_free(&b);
    celer_context_free(ctx);
    return out;
}

static void test_pipeline_real_model(void **state) {
    (void)state;
    celer_model *cm = load_model();
    if (!cm) return;
    celer_error err = {0};
    model *m = celer_model_bound(cm);
    static const char text[] =
        "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times, it was the age of "
        "wisdom, it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season "
        "of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair. Call me Ishmael. "
        "Some years ago, never mind how long precisely, having little or no money in my purse, and nothing particular to "
        "interest me on shore, I thought I would sail about a little and see the watery part of the world.";
    int32_t *toks = NULL;
    size_t n_toks = 0;
    assert_int_equal(celer_tokenize(cm, text, strlen(text), true, false, &toks, &n_toks, &err), CELER_OK);
    assert_true(n_toks >= 64);
    qz_state s;
    assert_int_equal(qz_collect(&s, m, 2, &err), CELER_OK);
    assert_int_equal(s.n, 1 + 7 * m->hp.n_layer + (m->hp.tied_output ? 0 : 1));
    /* a few candidates keep the measurement quick (test_quantize covers every type) */
    static const uint32_t few[] = {QUANT_Q8_0, QUANT_Q4_1, QUANT_IQ4_NL, QUANT_Q4_K, QUANT_Q2_K};
    for (int i = 0; i < s.n; i++) {
        qz_tensor *t = &s.t[i];
        assert_true(qz_set_candidates(t, few, 5) >= 2);
    }
    /* shorter than one chunk: refused */
    assert_int_equal(qz_calibrate(&s, toks, 10, 64, 1, 1, celer_token_bos(cm), &err), CELER_ERR_INVALID_ARG);
    assert_int_equal(qz_calibrate(&s, toks, n_toks, 64, 1, 1, celer_token_bos(cm), &err), CELER_OK);
    for (int i = 0; i < s.n; i++) {
        if (s.t[i].cls == QZ_EMBD) continue;
        assert_non_null(s.t[i].imp); /* every matrix saw its inputs */
        for (int64_t j = 0; j < s.t[i].n_cols; j++) assert_true(s.t[i].imp[j] > 0.0f && isfinite(s.t[i].imp[j]));
    }
    assert_int_equal(qz_measure(&s, 3, &err), CELER_OK);
    int measured = 0;
    for (int i = 0; i < s.n; i++) {
        const qz_tensor *t = &s.t[i];
        assert_true(t->scale >= 0.0 && isfinite(t->scale));
        for (int j = 0; j < t->n_cand; j++) assert_true(t->cand_err[j] >= 0.0 && isfinite(t->cand_err[j]));
        if (t->scale_measured) {
            measured++;
            assert_true(t->probe_kl > 0.0);
        }
    }
    assert_true(measured >= 1);
    /* a budget between the extremes: within it, and between the extremes' costs */
    uint64_t lo, hi;
    qz_bytes_range(&s, &lo, &hi);
    uint64_t budget = lo + (hi - lo) / 3;
    assert_int_equal(qz_plan(&s, budget, &err), CELER_OK);
    assert_true(qz_planned_bytes(&s) <= budget);
    char *json = qz_plan_json(&s, "test");
    assert_non_null(json);
    char path[] = "/tmp/celer-test-plan-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(qz_write(&s, path, json, &err), CELER_OK);
    gguf_file *f = NULL;
    assert_int_equal(gguf_open(path, &f, &err), CELER_OK);
    const gguf_string *plan = NULL;
    assert_int_equal(gguf_get_str(f, "celer.quantize.plan", &plan, &err), CELER_OK);
    assert_string_equal(plan->data, json);
    for (int i = 0; i < s.n; i++) {
        const gguf_tensor *g = gguf_find_tensor(f, s.t[i].name);
        assert_non_null(g);
        assert_int_equal(g->type, s.t[i].cand[s.t[i].chosen]);
    }
    gguf_close(f);
    celer_model *q = NULL;
    assert_int_equal(celer_model_load(path, &q, &err), CELER_OK);
    float *a = last_logits(cm, toks, 16), *b = last_logits(q, toks, 16);
    int32_t nv = celer_model_n_vocab(cm);
    for (int32_t i = 0; i < nv; i++) assert_true(isfinite(b[i]));
    free(b);
    celer_model_free(q);
    /* uniform Q8_0: close to the source */
    assert_int_equal(qz_plan_uniform(&s, QUANT_Q8_0, &err), CELER_OK);
    assert_int_equal(qz_write(&s, path, NULL, &err), CELER_OK);
    assert_int_equal(celer_model_load(path, &q, &err), CELER_OK);
    b = last_logits(q, toks, 16);
    /* KL between the two next-token distributions, and the same top token */
    float *la = malloc((size_t)nv * sizeof(float)), *lb = malloc((size_t)nv * sizeof(float));
    qrun_log_softmax(a, la, nv);
    qrun_log_softmax(b, lb, nv);
    double kl = 0.0;
    int32_t top_a = 0, top_b = 0;
    for (int32_t i = 0; i < nv; i++) {
        kl += exp((double)la[i]) * ((double)la[i] - (double)lb[i]);
        if (a[i] > a[top_a]) top_a = i;
        if (b[i] > b[top_b]) top_b = i;
    }
    fprintf(stderr, "uniform q8_0 against the source: KL %.5f at the last position\n", kl);
    assert_true(kl >= -1e-6 && kl < 0.02);
    assert_int_equal(top_a, top_b);
    free(la), free(lb);
    free(a), free(b), free(json), free(toks);
    celer_model_free(q);
    unlink(path);
    /* a write that cannot happen leaves nothing behind */
    assert_int_not_equal(qz_write(&s, "/nonexistent-dir/x.gguf", NULL, &err), CELER_OK);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf"));
    qz_free(&s);
    celer_model_free(cm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_is_optimal),
        cmocka_unit_test(test_plan_prefers_smaller_at_equal_cost),
        cmocka_unit_test(test_candidates_respect_blocks),
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_pipeline_real_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
