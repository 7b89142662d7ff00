/* test_sampler.c: greedy is argmax (ties to the lowest id) and top_k = 1 is greedy at any
 * temperature; the same seed repeats (and gives a pinned sequence, so a seed means the
 * same tokens on every machine), another seed differs; draws follow softmax(logits / T)
 * by a chi-square bound (fixed seed, so never flaky); top-k, top-p and min-p keep exactly
 * what they should, on a tiny vocabulary, with top-p nuclei of thousands of tokens and on
 * a 49152-token vocabulary, and on llama.cpp's logits for the golden prompts; penalties follow llama.cpp's rule and window;
 * NaN and infinite logits; the input is not modified; bad parameters are refused by name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"

enum { V = 8, BIG_V = 49152 };
static const float logits[V] = {1.0f, 3.0f, 2.0f, -1.0f, 0.5f, 2.9f, -3.0f, 0.0f};

static sampler *make_n(sampler_params p, int32_t n_vocab) {
    sampler *s = NULL;
    celer_error err = {0};
    if (sampler_init(&s, &p, n_vocab, &err) != CELER_OK) fail_msg("sampler_init: %s", err.msg);
    return s;
}

static sampler *make(sampler_params p) { return make_n(p, V); }

/* No filters: draws from softmax(logits / temp) over the whole vocabulary. */
static sampler_params plain(float temp) {
    sampler_params p;
    sampler_params_default(&p);
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 7;
    return p;
}

static void test_defaults(void **state) {
    (void)state;
    sampler_params p;
    sampler_params_default(&p);
    assert_true(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f);
    assert_true(p.repeat_penalty == 1.0f && p.repeat_last_n == 64 && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f);
    assert_int_equal(sampler_params_validate(&p, NULL), CELER_OK);
}

static void test_greedy(void **state) {
    (void)state;
    sampler *s = make(plain(0.0f));
    assert_int_equal(sampler_sample(s, logits), 1);
    const float tied[V] = {0, 5, 1, 5, 5, 0, 0, 0};
    assert_int_equal(sampler_sample(s, tied), 1);
    sampler_free(s);
    const float temps[] = {0.1f, 1.0f, 1.5f, 100.0f};
    for (int t = 0; t < 4; t++) {
        sampler_params p = plain(temps[t]);
        p.top_k = 1;
        s = make(p);
        for (int i = 0; i < 50; i++) assert_int_equal(sampler_sample(s, logits), 1);
        sampler_free(s);
    }
}

static void test_seeded_repeats(void **state) {
    (void)state;
    int32_t a[1000], b[1000], c[1000];
    sampler *s = make(plain(1.0f));
    for (int i = 0; i < 1000; i++) a[i] = sampler_sample(s, logits);
    sampler_reset(s);
    for (int i = 0; i < 1000; i++) b[i] = sampler_sample(s, logits);
    sampler_free(s);
    sampler_params p = plain(1.0f);
    p.seed = 8;
    s = make(p);
    for (int i = 0; i < 1000; i++) c[i] = sampler_sample(s, logits);
    sampler_free(s);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, c, sizeof(a));
}

/* The first draws for seed 42: xoshiro256** from splitmix64, one uniform per draw,
 * cumulative softmax in token order. A change here changes what every seed means. */
static void test_pinned_sequence(void **state) {
    (void)state;
    static const int32_t want[24] = {1, 1, 5, 5, 7, 5, 5, 5, 5, 2, 5, 1, 5, 1, 5, 5, 4, 5, 5, 5, 1, 1, 1, 4};
    sampler_params p = plain(1.0f);
    p.seed = 42;
    sampler *s = make(p);
    for (int i = 0; i < 24; i++) {
        int32_t got = sampler_sample(s, logits);
        if (got != want[i]) fail_msg("draw %d: token %d, pinned %d", i, got, want[i]);
    }
    sampler_free(s);
}

/* Pearson's chi-square of n draws against softmax(l / temp) restricted to `allowed`. */
static double chi_square(sampler *s, const float *l, float temp, unsigned allowed, int n) {
    int counts[V] = {0};
    for (int i = 0; i < n; i++) {
        int32_t t = sampler_sample(s, l);
        assert_true(t >= 0 && t < V);
        counts[t]++;
    }
    double z = 0.0, chi = 0.0;
    for (int i = 0; i < V; i++)
        if (allowed >> i & 1) z += exp((double)l[i] / temp);
    for (int i = 0; i < V; i++) {
        if (!(allowed >> i & 1)) {
            if (counts[i] != 0) fail_msg("token %d was drawn %d times but is filtered out", i, counts[i]);
            continue;
        }
        double e = n * exp((double)l[i] / temp) / z;
        chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

static void test_distribution(void **state) {
    (void)state;
    /* 7 degrees of freedom: P(chi2 > 29.9) = 1e-4; 2 degrees: P(chi2 > 18.4) = 1e-4 */
    const float temps[] = {1.0f, 0.5f, 2.0f};
    for (int t = 0; t < 3; t++) {
        sampler *s = make(plain(temps[t]));
        double chi = chi_square(s, logits, temps[t], 0xffu, 100000);
        sampler_free(s);
        if (chi > 29.9) fail_msg("T=%g: chi-square %.1f over 7 degrees of freedom", (double)temps[t], chi);
    }
    sampler_params p = plain(0.7f);
    p.top_k = 3; /* tokens 1, 5, 2, renormalized at T = 0.7 */
    sampler *s = make(p);
    double chi = chi_square(s, logits, 0.7f, (1u << 1) | (1u << 5) | (1u << 2), 100000);
    sampler_free(s);
    if (chi > 18.4) fail_msg("top_k=3 T=0.7: chi-square %.1f over 2 degrees of freedom", chi);
}

/* Draws many times and returns which tokens ever came out; they must be exactly the ones
 * sampler_candidates reports. */
static unsigned reachable(sampler_params p) {
    sampler *s = make(p);
    unsigned mask = 0, listed = 0;
    for (int i = 0; i < 5000; i++) mask |= 1u << sampler_sample(s, logits);
    int32_t ids[V];
    int32_t n = sampler_candidates(s, logits, ids);
    for (int32_t i = 0; i < n; i++) listed |= 1u << ids[i];
    sampler_free(s);
    assert_int_equal(mask, listed);
    return mask;
}

static void test_filters(void **state) {
    (void)state;
    sampler_params p = plain(1.0f);
    assert_int_equal(reachable(p), 0xffu);
    p.top_k = 3; /* 3.0, 2.9, 2.0 */
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5) | (1u << 2));
    p.top_k = V + 5; /* more than the vocabulary: off */
    assert_int_equal(reachable(p), 0xffu);
    p = plain(1.0f);
    p.top_p = 0.6f; /* probabilities 0.38, 0.35, 0.14...: the first two reach 0.6 */
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5));
    p.top_p = 0.3f; /* the token that crosses top_p is kept: the first alone */
    assert_int_equal(reachable(p), 1u << 1);
    p.top_p = 0.8f; /* 0.38 + 0.35 + 0.14 = 0.87 */
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5) | (1u << 2));
    p = plain(1.0f);
    p.min_p = 0.3f; /* keep p >= 0.3 p_max: exp(-1.0) = 0.37 keeps token 2 */
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5) | (1u << 2));
    p.min_p = 0.4f;
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5));
    p.min_p = 1.0f; /* only the most likely */
    assert_int_equal(reachable(p), 1u << 1);
    p = plain(5.0f); /* top-p and min-p see the logits before the temperature */
    p.top_p = 0.6f;
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5));
    p = plain(1.0f); /* the chain: top_k 4 -> {1,5,2,0}; min_p 0.3 drops 0 (e^-2) */
    p.top_k = 4;
    p.min_p = 0.3f;
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5) | (1u << 2));
}

/* Fills l (n) with a reproducible spread: n_hot tokens near 10, the rest in [-5, 5]. */
static void spread_logits(float *l, int n, int n_hot) {
    uint64_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((double)(x >> 11) * 0x1.0p-53 * 10.0 - 5.0);
    }
    for (int i = 0; i < n_hot; i++) l[(i * 977) % n] = 10.0f + (float)i * 1e-3f;
}

typedef struct {
    float logit;
    int32_t id;
} ranked;

static int by_rank(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The reference chain by a full sort of l (n): top-k, then top-p, then min-p (each off
 * at 0, 1, 0). in_set[id] = 1 for the kept tokens; returns how many. */
static int reference_chain(const float *l, int n, int top_k, float top_p, float min_p, unsigned char *in_set) {
    ranked *r = malloc((size_t)n * sizeof(ranked));
    for (int i = 0; i < n; i++) r[i] = (ranked){l[i], i};
    qsort(r, (size_t)n, sizeof(ranked), by_rank);
    int keep = top_k > 0 && top_k < n ? top_k : n;
    if (top_p < 1.0f) {
        double sum = 0.0, cum = 0.0;
        for (int i = 0; i < keep; i++) sum += expf(r[i].logit - r[0].logit);
        for (int i = 0; i < keep; i++) {
            cum += expf(r[i].logit - r[0].logit);
            if (cum >= top_p * sum) {
                keep = i + 1;
                break;
            }
        }
    }
    if (min_p > 0.0f) {
        int i = 1;
        while (i < keep && r[i].logit >= r[0].logit + logf(min_p)) i++;
        keep = i;
    }
    for (int i = 0; i < n; i++) in_set[i] = 0;
    for (int i = 0; i < keep; i++) in_set[r[i].id] = 1;
    free(r);
    return keep;
}

static int reference_top_p(const float *l, int n, float top_p, int top_k, unsigned char *in_set) {
    return reference_chain(l, n, top_k, top_p, 0.0f, in_set);
}

/* sampler_candidates must list exactly the reference set (keep tokens of in_set). */
static void expect_candidates(sampler *s, const float *l, int n, const unsigned char *in_set, int keep) {
    int32_t *ids = malloc((size_t)n * sizeof(int32_t));
    int32_t got = sampler_candidates(s, l, ids);
    if (got != keep) fail_msg("%d candidates, the reference keeps %d", got, keep);
    for (int32_t i = 0; i < got; i++)
        if (!in_set[ids[i]]) fail_msg("candidate %d (token %d) is not in the reference set", i, ids[i]);
    free(ids);
}

/* Samples `draws` times from l (n); fails on a token outside in_set; returns how many
 * distinct tokens came out. */
static int draws_within(sampler *s, const float *l, int n, const unsigned char *in_set, int draws) {
    unsigned char *seen = calloc((size_t)n, 1);
    int distinct = 0;
    for (int i = 0; i < draws; i++) {
        int32_t t = sampler_sample(s, l);
        if (t < 0 || t >= n || !in_set[t]) fail_msg("draw %d: token %d is outside the kept set", i, t);
        distinct += !seen[t];
        seen[t] = 1;
    }
    free(seen);
    return distinct;
}

/* Top-p without top-k gathers the tokens of the top bands of logits that reach top_p and
 * sorts only those: nuclei within one band, across many, and reaching into the last band
 * (everything more than 16 below the max). A 4096-token vocabulary keeps the draws cheap. */
static void test_top_p_large_nucleus(void **state) {
    (void)state;
    enum { N = 4096 };
    float *l = malloc(N * sizeof(float));
    unsigned char *in_set = malloc(N);
    sampler_params p = plain(1.0f);
    /* 300 near-equal hot tokens: the nucleus of 0.9 holds about 270 of them; every kept
     * token shows up and nothing else */
    spread_logits(l, N, 300);
    p.top_p = 0.9f;
    int keep = reference_top_p(l, N, 0.9f, 0, in_set);
    assert_true(keep > 256 && keep < 300);
    sampler *s = make_n(p, N);
    expect_candidates(s, l, N, in_set, keep);
    assert_int_equal(draws_within(s, l, N, in_set, 4000), keep);
    sampler_free(s);
    /* a flat spread and top_p 0.999: the nucleus spans 7 logits below the max */
    spread_logits(l, N, 0);
    p.top_p = 0.999f;
    keep = reference_top_p(l, N, 0.999f, 0, in_set);
    assert_true(keep > 2048 && keep < N);
    s = make_n(p, N);
    expect_candidates(s, l, N, in_set, keep);
    assert_true(draws_within(s, l, N, in_set, 1000) > 300);
    sampler_free(s);
    /* one token at 20 holds 0.99994 of the mass, the rest sit 18 lower: top_p 0.99999
     * needs most of them (draws: almost always the one at 20; this checks the cut) */
    spread_logits(l, N, 0);
    for (int i = 0; i < N; i++) l[i] = 2.0f + 0.1f * l[i];
    l[123] = 20.0f;
    p.top_p = 0.99999f;
    keep = reference_top_p(l, N, 0.99999f, 0, in_set);
    assert_true(keep > 1000 && keep < N);
    s = make_n(p, N);
    expect_candidates(s, l, N, in_set, keep);
    assert_true(draws_within(s, l, N, in_set, 200) >= 1);
    sampler_free(s);
    free(in_set);
    free(l);
}

/* SmolLM2's vocabulary size with llama.cpp's default filters. */
static void test_big_vocabulary(void **state) {
    (void)state;
    float *l = malloc(BIG_V * sizeof(float));
    unsigned char *in_set = malloc(BIG_V);
    /* a nucleus inside the first try: 20 hot tokens hold 0.38 of the mass, top_p 0.3 */
    spread_logits(l, BIG_V, 20);
    sampler_params p = plain(1.0f);
    p.top_p = 0.3f;
    int keep = reference_top_p(l, BIG_V, 0.3f, 0, in_set);
    assert_true(keep > 1 && keep < 20);
    sampler *s = make_n(p, BIG_V);
    expect_candidates(s, l, BIG_V, in_set, keep);
    assert_int_equal(draws_within(s, l, BIG_V, in_set, 500), keep);
    sampler_free(s);
    /* top-k 40 then top-p 0.95 over a flat spread */
    spread_logits(l, BIG_V, 0);
    p.top_k = 40;
    p.top_p = 0.95f;
    keep = reference_top_p(l, BIG_V, 0.95f, 40, in_set);
    assert_true(keep > 1 && keep < 40);
    s = make_n(p, BIG_V);
    expect_candidates(s, l, BIG_V, in_set, keep);
    assert_int_equal(draws_within(s, l, BIG_V, in_set, 2000), keep);
    sampler_free(s);
    /* all the defaults plus a repetition penalty: the input stays untouched */
    float *copy = malloc(BIG_V * sizeof(float));
    memcpy(copy, l, BIG_V * sizeof(float));
    sampler_params_default(&p);
    p.repeat_penalty = 1.3f;
    s = make_n(p, BIG_V);
    for (int i = 0; i < 64; i++) sampler_accept(s, sampler_sample(s, l));
    sampler_free(s);
    assert_memory_equal(copy, l, BIG_V * sizeof(float));
    free(copy);
    free(in_set);
    free(l);
}

/* The chain on llama.cpp's logits for the golden prompts (tests/data/golden/model/):
 * top-p alone, min-p alone, and the defaults, each equal to the full-sort reference. */
static void test_real_logits(void **state) {
    (void)state;
    const char *src = getenv("CELER_SOURCE_DIR");
    float *l = malloc(BIG_V * sizeof(float));
    unsigned char *in_set = malloc(BIG_V);
    int files = 0;
    for (int f = 0; f < 16; f++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/tests/data/golden/model/logits_%d.f32", src ? src : ".", f);
        FILE *fp = fopen(path, "rb");
        if (!fp) break;
        size_t got = fread(l, sizeof(float), BIG_V, fp);
        fclose(fp);
        assert_int_equal(got, BIG_V);
        files++;
        const struct { int top_k; float top_p, min_p; } chains[] = {{0, 0.95f, 0.0f}, {0, 1.0f, 0.05f}, {40, 0.95f, 0.05f}, {0, 0.5f, 0.0f}};
        for (int c = 0; c < 4; c++) {
            sampler_params p = plain(0.8f);
            p.top_k = chains[c].top_k;
            p.top_p = chains[c].top_p;
            p.min_p = chains[c].min_p;
            int keep = reference_chain(l, BIG_V, p.top_k, p.top_p, p.min_p, in_set);
            sampler *s = make_n(p, BIG_V);
            expect_candidates(s, l, BIG_V, in_set, keep);
            sampler_free(s);
        }
    }
    if (files == 0) fprintf(stderr, "SKIPPED: no tests/data/golden/model/logits_*.f32 under $CELER_SOURCE_DIR\n");
    free(in_set);
    free(l);
    if (files == 0) skip();
}

static void test_penalties(void **state) {
    (void)state;
    sampler_params p = plain(0.0f);
    p.repeat_penalty = 2.0f; /* token 1: 3.0 -> 1.5, so 2.9 wins */
    sampler *s = make(p);
    sampler_accept(s, 1);
    sampler_accept(s, 1);
    assert_int_equal(sampler_sample(s, logits), 5);
    sampler_free(s);

    const float negative[V] = {-1.0f, -1.5f, -9, -9, -9, -9, -9, -9};
    p.repeat_penalty = 2.0f; /* negative logits are multiplied: -1.0 -> -2.0 < -1.5 */
    s = make(p);
    sampler_accept(s, 0);
    assert_int_equal(sampler_sample(s, negative), 1);
    sampler_free(s);
    p.repeat_penalty = 1.4f; /* -1.4 > -1.5: still first (dividing would give -0.71) */
    s = make(p);
    sampler_accept(s, 0);
    assert_int_equal(sampler_sample(s, negative), 0);
    sampler_free(s);

    p = plain(0.0f);
    p.frequency_penalty = 0.6f; /* token 1 seen twice: 3.0 - 1.2 = 1.8 < 2.0 */
    s = make(p);
    sampler_accept(s, 1);
    sampler_accept(s, 1);
    sampler_accept(s, 5); /* 2.9 - 0.6 = 2.3 wins */
    assert_int_equal(sampler_sample(s, logits), 5);
    sampler_reset(s); /* history forgotten */
    assert_int_equal(sampler_sample(s, logits), 1);
    sampler_free(s);

    p = plain(0.0f);
    p.presence_penalty = 0.6f; /* once however often: 3.0 - 0.6 = 2.4 > 2.3 */
    s = make(p);
    for (int i = 0; i < 5; i++) sampler_accept(s, 1);
    sampler_accept(s, 5);
    assert_int_equal(sampler_sample(s, logits), 1);
    sampler_free(s);

    p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2; /* only the last two tokens count */
    s = make(p);
    sampler_accept(s, 1);
    sampler_accept(s, 3);
    sampler_accept(s, 4);
    assert_int_equal(sampler_sample(s, logits), 1);
    sampler_accept(s, 1);
    assert_int_equal(sampler_sample(s, logits), 5);
    sampler_accept(s, -1); /* out of range: ignored */
    sampler_accept(s, V);
    assert_int_equal(sampler_sample(s, logits), 5);
    sampler_free(s);

    p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 0; /* no window: no penalties */
    s = make(p);
    sampler_accept(s, 1);
    assert_int_equal(sampler_sample(s, logits), 1);
    sampler_free(s);
}

static void test_odd_logits(void **state) {
    (void)state;
    float l[V];
    memcpy(l, logits, sizeof(l));
    l[1] = NAN; /* counts as -inf: never drawn */
    sampler_params p = plain(1.0f);
    sampler *s = make(p);
    for (int i = 0; i < 2000; i++) assert_int_not_equal(sampler_sample(s, l), 1);
    l[3] = INFINITY; /* certain */
    for (int i = 0; i < 100; i++) assert_int_equal(sampler_sample(s, l), 3);
    for (int i = 0; i < V; i++) l[i] = -INFINITY;
    for (int i = 0; i < 100; i++) {
        int32_t t = sampler_sample(s, l);
        assert_true(t >= 0 && t < V);
    }
    sampler_free(s);
    sampler_params_default(&p); /* every filter on, all -inf */
    s = make(p);
    assert_true(sampler_sample(s, l) >= 0);
    sampler_free(s);
    const float one = 0.5f;
    s = make_n(plain(1.0f), 1);
    assert_int_equal(sampler_sample(s, &one), 0);
    sampler_free(s);
}

static void expect_refused(sampler_params p, const char *name) {
    sampler *s = (sampler *)&p; /* must be overwritten with NULL */
    celer_error err = {0};
    assert_int_equal(sampler_params_validate(&p, &err), CELER_ERR_INVALID_ARG);
    if (!strstr(err.msg, name)) fail_msg("message does not name %s: %s", name, err.msg);
    assert_int_equal(sampler_init(&s, &p, V, &err), CELER_ERR_INVALID_ARG);
    assert_null(s);
}

static void test_validation(void **state) {
    (void)state;
    sampler_params p = plain(-1.0f);
    expect_refused(p, "temperature");
    p.temperature = INFINITY;
    expect_refused(p, "temperature");
    p = plain(1.0f);
    p.top_p = 1.5f;
    expect_refused(p, "top_p");
    p.top_p = 0.0f;
    expect_refused(p, "top_p");
    p = plain(1.0f);
    p.min_p = NAN;
    expect_refused(p, "min_p");
    p.min_p = -0.1f;
    expect_refused(p, "min_p");
    p = plain(1.0f);
    p.repeat_penalty = 0.0f;
    expect_refused(p, "repeat_penalty");
    p = plain(1.0f);
    p.repeat_last_n = -1;
    expect_refused(p, "repeat_last_n");
    p = plain(1.0f);
    p.presence_penalty = 3.0f;
    expect_refused(p, "presence_penalty");
    p = plain(1.0f);
    p.frequency_penalty = NAN;
    expect_refused(p, "frequency_penalty");
    p = plain(1.0f);
    sampler *s = NULL;
    celer_error err = {0};
    assert_int_equal(sampler_init(&s, &p, 0, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "vocabulary"));
    assert_null(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_greedy),         cmocka_unit_test(test_seeded_repeats),
        cmocka_unit_test(test_pinned_sequence), cmocka_unit_test(test_distribution), cmocka_unit_test(test_filters),
        cmocka_unit_test(test_top_p_large_nucleus), cmocka_unit_test(test_big_vocabulary), cmocka_unit_test(test_real_logits), cmocka_unit_test(test_penalties),  cmocka_unit_test(test_odd_logits),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
