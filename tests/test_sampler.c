/* test_sampler.c: greedy is argmax; top_k = 1 is greedy at any temperature; the same
 * seed repeats and another seed differs; draws follow softmax(logits / T); top-p, min-p
 * and top-k keep exactly what they should; penalties match llama.cpp's rule; bad
 * parameters are refused with the parameter's name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "engine/sampler.h"

enum { V = 8 };
static const float logits[V] = {1.0f, 3.0f, 2.0f, -1.0f, 0.5f, 2.9f, -3.0f, 0.0f};

static sampler *make(sampler_params p) {
    sampler *s = NULL;
    assert_int_equal(sampler_init(&s, &p, V, NULL), CELER_OK);
    return s;
}

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

static void test_greedy(void **state) {
    (void)state;
    sampler *s = make(plain(0.0f));
    assert_int_equal(sampler_sample(s, logits), 1);
    sampler_free(s);
    sampler_params p = plain(1.5f);
    p.top_k = 1;
    s = make(p);
    for (int i = 0; i < 50; i++) assert_int_equal(sampler_sample(s, logits), 1);
    sampler_free(s);
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

static void test_distribution(void **state) {
    (void)state;
    enum { DRAWS = 200000 };
    const float temps[] = {1.0f, 0.5f};
    for (int t = 0; t < 2; t++) {
        sampler *s = make(plain(temps[t]));
        int counts[V] = {0};
        for (int i = 0; i < DRAWS; i++) counts[sampler_sample(s, logits)]++;
        sampler_free(s);
        double z = 0;
        for (int i = 0; i < V; i++) z += exp(logits[i] / temps[t]);
        for (int i = 0; i < V; i++) {
            double p = exp(logits[i] / temps[t]) / z, sd = sqrt(DRAWS * p * (1 - p));
            if (fabs(counts[i] - DRAWS * p) > 5 * sd + 1) fail_msg("T=%g token %d: %d draws, expected %.0f", (double)temps[t], i, counts[i], DRAWS * p);
        }
    }
}

/* Draws many times and returns which tokens ever came out. */
static unsigned reachable(sampler_params p) {
    sampler *s = make(p);
    unsigned mask = 0;
    for (int i = 0; i < 5000; i++) mask |= 1u << sampler_sample(s, logits);
    sampler_free(s);
    return mask;
}

static void test_filters(void **state) {
    (void)state;
    sampler_params p = plain(1.0f);
    p.top_k = 3; /* 3.0, 2.9, 2.0 */
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5) | (1u << 2));
    p = plain(1.0f);
    p.top_p = 0.6f; /* probabilities 0.38, 0.35, 0.14...: the first two reach 0.6 */
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5));
    p = plain(1.0f);
    p.min_p = 0.3f; /* keep p >= 0.3 p_max: exp(-1.0) = 0.37 keeps token 2 */
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5) | (1u << 2));
    p.min_p = 0.4f;
    assert_int_equal(reachable(p), (1u << 1) | (1u << 5));
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
    p = plain(0.0f);
    p.frequency_penalty = 0.6f; /* token 1 seen twice: 3.0 - 1.2 = 1.8 < 2.0 */
    s = make(p);
    sampler_accept(s, 1);
    sampler_accept(s, 1);
    sampler_accept(s, 5); /* 2.9 - 0.6 = 2.3 wins */
    assert_int_equal(sampler_sample(s, logits), 5);
    sampler_free(s);
    p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2; /* only the last two tokens count */
    s = make(p);
    sampler_accept(s, 1);
    sampler_accept(s, 3);
    sampler_accept(s, 4);
    assert_int_equal(sampler_sample(s, logits), 1);
    sampler_free(s);
}

static void test_validation(void **state) {
    (void)state;
    sampler *s = NULL;
    celer_error err = {0};
    sampler_params p = plain(1.0f);
    p.top_p = 1.5f;
    assert_int_equal(sampler_init(&s, &p, V, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "top_p"));
    p = plain(-1.0f);
    assert_int_equal(sampler_init(&s, &p, V, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "temperature"));
    p = plain(1.0f);
    p.min_p = NAN;
    assert_int_equal(sampler_init(&s, &p, V, &err), CELER_ERR_INVALID_ARG);
    p = plain(1.0f);
    p.repeat_penalty = 0.0f;
    assert_int_equal(sampler_init(&s, &p, V, &err), CELER_ERR_INVALID_ARG);
    assert_null(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),  cmocka_unit_test(test_seeded_repeats), cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_filters), cmocka_unit_test(test_penalties),      cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
