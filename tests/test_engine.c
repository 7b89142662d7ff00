/* test_engine.c: the engine API on the real model: a prompt decoded in one batch, in
 * chunks, or token by token gives the same logits; two sequences in one batch give what
 * each gives alone; bad batches are refused without changing the cache; generation
 * with a fixed seed repeats. Needs the default model (scripts/get-model.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celer.h"

typedef struct {
    celer_model *model;
    celer_context *ctx;
    celer_batch batch;
    int32_t n_vocab;
} fixture;

static const int32_t prompt_a[] = {504, 3575, 282, 4649, 314, 253, 1345, 30, 378, 2226, 282, 253};
static const int32_t prompt_b[] = {1350, 2910, 28, 314, 4403, 42, 7660, 1148, 5604};
#define LEN(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

static int setup(void **state) {
    const char *path = getenv("CELER_MODEL");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "SKIPPED: model not found at %s (run scripts/get-model.sh)\n", path ? path : "$CELER_MODEL");
        *state = NULL;
        return 0;
    }
    fclose(f);
    fixture *fx = calloc(1, sizeof(*fx));
    celer_error err = {0};
    celer_context_params p;
    celer_context_params_default(&p);
    p.n_ctx = 256;
    p.n_batch = 64;
    p.n_seq_max = 2;
    p.n_threads = 2;
    if (celer_model_load(path, &fx->model, &err) != CELER_OK || celer_context_new(fx->model, &p, &fx->ctx, &err) != CELER_OK ||
        celer_batch_init(&fx->batch, 64, &err) != CELER_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    fx->n_vocab = celer_model_n_vocab(fx->model);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    if (!fx) return 0;
    celer_batch_free(&fx->batch);
    celer_context_free(fx->ctx);
    celer_model_free(fx->model);
    free(fx);
    return 0;
}

#define NEED_MODEL(fx)                                   \
    do {                                                 \
        if (!(fx)) {                                     \
            fprintf(stderr, "SKIPPED: no model\n");      \
            skip();                                      \
        }                                                \
    } while (0)

/* Decodes tokens[0..n) on seq starting at its current length, chunk tokens per call;
 * copies the last token's logits to out. */
static void decode(fixture *fx, int32_t seq, const int32_t *tokens, int32_t n, int32_t chunk, float *out) {
    celer_error err = {0};
    for (int32_t i = 0; i < n;) {
        celer_batch_clear(&fx->batch);
        int32_t pos = celer_seq_len(fx->ctx, seq);
        for (int32_t j = 0; j < chunk && i < n; j++, i++)
            assert_int_equal(celer_batch_add(&fx->batch, tokens[i], pos++, seq, i == n - 1, NULL), CELER_OK);
        if (celer_decode(fx->ctx, &fx->batch, &err) != CELER_OK) fail_msg("decode: %s", err.msg);
    }
    memcpy(out, celer_get_logits(fx->ctx, 0), (size_t)fx->n_vocab * sizeof(float));
}

static void test_batch_shapes_agree(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    float *whole = malloc((size_t)fx->n_vocab * sizeof(float)), *other = malloc((size_t)fx->n_vocab * sizeof(float));
    decode(fx, 0, prompt_a, LEN(prompt_a), 64, whole);
    int32_t chunks[] = {1, 5};
    for (size_t c = 0; c < 2; c++) {
        celer_seq_truncate(fx->ctx, 0, 0);
        decode(fx, 0, prompt_a, LEN(prompt_a), chunks[c], other);
        /* every row is computed independently of the batch: results are identical */
        assert_memory_equal(whole, other, (size_t)fx->n_vocab * sizeof(float));
    }
    celer_seq_truncate(fx->ctx, 0, 0);
    free(whole);
    free(other);
}

static void test_two_sequences_in_one_batch(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    size_t bytes = (size_t)fx->n_vocab * sizeof(float);
    float *alone_a = malloc(bytes), *alone_b = malloc(bytes);
    decode(fx, 0, prompt_a, LEN(prompt_a), 64, alone_a);
    celer_seq_truncate(fx->ctx, 0, 0);
    decode(fx, 1, prompt_b, LEN(prompt_b), 64, alone_b);
    celer_seq_truncate(fx->ctx, 1, 0);
    /* interleave the two prompts in one batch */
    celer_batch_clear(&fx->batch);
    for (int32_t i = 0; i < LEN(prompt_a) || i < LEN(prompt_b); i++) {
        if (i < LEN(prompt_a)) celer_batch_add(&fx->batch, prompt_a[i], i, 0, i == LEN(prompt_a) - 1, NULL);
        if (i < LEN(prompt_b)) celer_batch_add(&fx->batch, prompt_b[i], i, 1, i == LEN(prompt_b) - 1, NULL);
    }
    celer_error err = {0};
    assert_int_equal(celer_decode(fx->ctx, &fx->batch, &err), CELER_OK);
    assert_int_equal(celer_n_outputs(fx->ctx), 2);
    /* outputs come in batch order: b's last token (i = 8) comes before a's (i = 11) */
    assert_memory_equal(celer_get_logits(fx->ctx, 0), alone_b, bytes);
    assert_memory_equal(celer_get_logits(fx->ctx, 1), alone_a, bytes);
    assert_null(celer_get_logits(fx->ctx, 2));
    celer_seq_truncate(fx->ctx, 0, 0);
    celer_seq_truncate(fx->ctx, 1, 0);
    free(alone_a);
    free(alone_b);
}

static void test_bad_batches_change_nothing(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    celer_error err = {0};
    celer_batch_clear(&fx->batch);
    celer_batch_add(&fx->batch, 1, 0, 0, true, NULL);
    celer_batch_add(&fx->batch, fx->n_vocab, 1, 0, true, NULL);
    assert_int_equal(celer_decode(fx->ctx, &fx->batch, &err), CELER_ERR_RANGE);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_int_equal(celer_seq_len(fx->ctx, 0), 0);
    celer_batch_clear(&fx->batch);
    celer_batch_add(&fx->batch, 1, 3, 0, true, NULL); /* gap */
    assert_int_equal(celer_decode(fx->ctx, &fx->batch, &err), CELER_ERR_RANGE);
    assert_int_equal(celer_seq_len(fx->ctx, 0), 0);
    celer_batch_clear(&fx->batch);
    assert_int_equal(celer_decode(fx->ctx, &fx->batch, &err), CELER_ERR_INVALID_ARG); /* empty */
}

typedef struct {
    int32_t ids[64];
    int n;
} collected;

static bool collect(void *user, int32_t token, const char *text, size_t len) {
    (void)text;
    (void)len;
    collected *c = user;
    if (token >= 0 && c->n < 64) c->ids[c->n++] = token;
    return true;
}

static void test_generate_seeded_and_limits(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    celer_generate_params gp = {.n_predict = 12, .ignore_eog = true};
    celer_sampling_default(&gp.sampling);
    gp.sampling.seed = 1234;
    collected runs[2] = {0};
    celer_generate_stats st;
    celer_error err = {0};
    for (int r = 0; r < 2; r++) {
        celer_seq_truncate(fx->ctx, 0, 0);
        assert_int_equal(celer_generate(fx->ctx, 0, prompt_a, (size_t)LEN(prompt_a), &gp, collect, &runs[r], &st, &err), CELER_OK);
        assert_int_equal(st.n_generated, 12);
        assert_int_equal(runs[r].n, 12);
    }
    assert_memory_equal(runs[0].ids, runs[1].ids, sizeof(runs[0].ids));
    /* the prompt and 11 evaluated tokens are in the cache (the last sample is not) */
    assert_int_equal(celer_seq_len(fx->ctx, 0), LEN(prompt_a) + 11);
    celer_seq_truncate(fx->ctx, 0, 0);
    int32_t *big = calloc(300, sizeof(int32_t));
    assert_int_equal(celer_generate(fx->ctx, 0, big, 300, &gp, collect, &runs[0], &st, &err), CELER_ERR_RANGE);
    assert_non_null(strstr(err.msg, "300 tokens"));
    assert_int_equal(celer_generate(fx->ctx, 0, big, 0, &gp, collect, &runs[0], &st, &err), CELER_ERR_INVALID_ARG);
    gp.sampling.top_p = 2.0f;
    assert_int_not_equal(celer_generate(fx->ctx, 0, big, 5, &gp, collect, &runs[0], &st, &err), CELER_OK);
    free(big);
    celer_seq_truncate(fx->ctx, 0, 0);
}

static void test_load_errors(void **state) {
    (void)state;
    celer_model *m = NULL;
    celer_error err = {0};
    assert_int_equal(celer_model_load("/nonexistent/model.gguf", &m, &err), CELER_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
    assert_null(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_shapes_agree),
        cmocka_unit_test(test_two_sequences_in_one_batch),
        cmocka_unit_test(test_bad_batches_change_nothing),
        cmocka_unit_test(test_generate_seeded_and_limits),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
