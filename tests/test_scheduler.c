/* test_scheduler.c: continuous batching on the real model: requests batched together
 * give exactly the tokens each gives alone (celer_generate, greedy); a follow-up whose
 * prompt extends a finished one reuses its KV; a pool too small for all requests makes
 * them wait or be preempted and recomputed, with the same tokens and no block lost;
 * cancellation frees the KV at the next step; stop strings, logprobs and bad requests.
 * Needs the default model (scripts/get-model.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celer.h"
#include "engine/scheduler.h"

static const int32_t prompt_a[] = {504, 3575, 282, 4649, 314, 253, 1345, 30, 378, 2226, 282, 253};
static const int32_t prompt_b[] = {1350, 2910, 28, 314, 4403, 42, 7660, 1148, 5604};
static const int32_t prompt_c[] = {504, 3575, 282, 1350, 2910, 28};
static const int32_t prompt_d[] = {7660, 1148, 5604, 504, 3575, 282, 4649, 314, 253, 1345};
#define LEN(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

typedef struct {
    celer_model *model;
} fixture;

static int setup(void **state) {
    const char *path = getenv("CELER_MODEL");
    FILE *f = path ? fopen(path, "rb") : NULL;
    *state = NULL;
    if (!f) {
        fprintf(stderr, "SKIPPED: model not found at %s (run scripts/get-model.sh)\n", path ? path : "$CELER_MODEL");
        return 0;
    }
    fclose(f);
    fixture *fx = calloc(1, sizeof(*fx));
    celer_error err = {0};
    if (celer_model_load(path, &fx->model, &err) != CELER_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    if (fx) celer_model_free(fx->model);
    free(fx);
    return 0;
}

#define NEED_MODEL(fx)                              \
    do {                                            \
        if (!(fx)) {                                \
            fprintf(stderr, "SKIPPED: no model\n"); \
            skip();                                 \
        }                                           \
    } while (0)

static celer_context *new_ctx(fixture *fx, int32_t n_ctx, int32_t n_seq, int32_t n_batch) {
    celer_context_params p;
    celer_context_params_default(&p);
    p.n_ctx = n_ctx;
    p.n_seq_max = n_seq;
    p.n_batch = n_batch;
    p.n_threads = 2;
    celer_context *ctx = NULL;
    celer_error err = {0};
    if (celer_context_new(fx->model, &p, &ctx, &err) != CELER_OK) fail_msg("context: %s", err.msg);
    return ctx;
}

typedef struct {
    int32_t ids[256];
    int32_t n;
} tokens;

static bool collect(void *user, int32_t token, const char *text, size_t len) {
    (void)text;
    (void)len;
    tokens *t = user;
    if (token >= 0 && t->n < 256) t->ids[t->n++] = token;
    return true;
}

/* The greedy continuation celer_generate gives on a fresh context. */
static tokens reference(fixture *fx, const int32_t *prompt, int32_t n_prompt, int32_t n) {
    celer_context *ctx = new_ctx(fx, 256, 1, 64);
    celer_generate_params gp = {.n_predict = n, .ignore_eog = true};
    celer_sampling_default(&gp.sampling);
    gp.sampling.temperature = 0.0f;
    tokens t = {0};
    celer_error err = {0};
    if (celer_generate(ctx, 0, prompt, (size_t)n_prompt, &gp, collect, &t, NULL, &err) != CELER_OK) fail_msg("generate: %s", err.msg);
    celer_context_free(ctx);
    return t;
}

static sched_request_params greedy(const int32_t *prompt, int32_t n_prompt, int32_t max_tokens) {
    sched_request_params p = {.prompt = prompt, .n_prompt = n_prompt, .max_tokens = max_tokens, .n_logprobs = -1, .ignore_eog = true};
    sampler_params_default(&p.sampling);
    p.sampling.temperature = 0.0f;
    return p;
}

static sched_request *submit(scheduler *s, const sched_request_params *p) {
    sched_request *r = NULL;
    celer_error err = {0};
    if (scheduler_submit(s, p, &r, &err) != CELER_OK) fail_msg("submit: %s", err.msg);
    return r;
}

/* Everything a request produced, read after it finished. */
typedef struct {
    tokens t;
    char text[4096];
    sched_finish finish;
    int32_t n_cached, n_prompt;
} result;

static void drain(sched_request *r, result *res) {
    sched_output o;
    while (sched_request_read(r, 0, &o)) {
        for (int32_t i = 0; i < o.n_tokens && res->t.n < 256; i++) res->t.ids[res->t.n++] = o.tokens[i].token;
        strncat(res->text, o.text, sizeof(res->text) - strlen(res->text) - 1);
        if (o.finish) res->finish = o.finish;
        res->n_cached = o.n_cached;
        res->n_prompt = o.n_prompt;
        sched_output_free(&o);
    }
    sched_output_free(&o);
}

static void run_all(scheduler *s, int max_steps) {
    for (int i = 0; i < max_steps && scheduler_step(s); i++) {}
    assert_false(scheduler_step(s)); /* nothing left */
}

/* The pool's blocks: none held by requests, the rest free or cached in idle slots. */
static void assert_no_leak(scheduler *s) {
    sched_stats st;
    scheduler_get_stats(s, &st);
    assert_int_equal(st.n_running, 0);
    assert_int_equal(st.n_waiting, 0);
    assert_int_equal(st.kv_blocks_active, 0);
    assert_int_equal(st.kv_blocks_free + st.kv_blocks_cached, st.kv_blocks_total);
}

static void test_batched_equals_alone(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    const int32_t *prompts[] = {prompt_a, prompt_b, prompt_c, prompt_d};
    const int32_t lens[] = {LEN(prompt_a), LEN(prompt_b), LEN(prompt_c), LEN(prompt_d)};
    const int32_t n_gen[] = {12, 20, 7, 16};
    celer_context *ctx = new_ctx(fx, 512, 4, 32);
    scheduler *s = NULL;
    scheduler_params sp = {.step_tokens = 8}; /* prompts split over several steps */
    assert_int_equal(scheduler_new(ctx, &sp, &s, NULL), CELER_OK);
    sched_request *r[4];
    result res[4];
    memset(res, 0, sizeof(res));
    for (int i = 0; i < 4; i++) {
        sched_request_params p = greedy(prompts[i], lens[i], n_gen[i]);
        r[i] = submit(s, &p);
        if (i == 1) { /* the others join while the first two run */
            assert_true(scheduler_step(s));
            assert_true(scheduler_step(s));
        }
    }
    run_all(s, 200);
    for (int i = 0; i < 4; i++) {
        drain(r[i], &res[i]);
        tokens want = reference(fx, prompts[i], lens[i], n_gen[i]);
        assert_int_equal(res[i].finish, SCHED_FINISH_LENGTH);
        assert_int_equal(res[i].t.n, want.n);
        assert_memory_equal(res[i].t.ids, want.ids, (size_t)want.n * sizeof(int32_t));
        assert_true(strlen(res[i].text) > 0);
        sched_request_release(r[i]);
    }
    assert_no_leak(s);
    scheduler_free(s);
    celer_context_free(ctx);
}

static void test_prefix_reuse(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    celer_context *ctx = new_ctx(fx, 512, 2, 64);
    scheduler *s = NULL;
    scheduler_params sp = {0};
    assert_int_equal(scheduler_new(ctx, &sp, &s, NULL), CELER_OK);
    sched_request_params p = greedy(prompt_a, LEN(prompt_a), 8);
    sched_request *r = submit(s, &p);
    run_all(s, 100);
    result first = {0};
    drain(r, &first);
    sched_request_release(r);
    assert_int_equal(first.n_cached, 0);
    /* turn two: the first prompt, its reply and more */
    int32_t follow[64];
    int32_t n = 0;
    for (int32_t i = 0; i < LEN(prompt_a); i++) follow[n++] = prompt_a[i];
    for (int32_t i = 0; i < first.t.n; i++) follow[n++] = first.t.ids[i];
    for (int32_t i = 0; i < LEN(prompt_b); i++) follow[n++] = prompt_b[i];
    sched_stats before, after;
    scheduler_get_stats(s, &before);
    p = greedy(follow, n, 6);
    r = submit(s, &p);
    run_all(s, 100);
    result second = {0};
    drain(r, &second);
    sched_request_release(r);
    scheduler_get_stats(s, &after);
    /* the KV holds the prompt and the first 7 generated tokens (the 8th was never run) */
    assert_int_equal(second.n_cached, LEN(prompt_a) + first.t.n - 1);
    assert_int_equal(after.prompt_tokens_cached - before.prompt_tokens_cached, (uint64_t)second.n_cached);
    /* evaluated: the rest of the prompt and 5 of the 6 generated tokens */
    assert_int_equal(after.tokens_evaluated - before.tokens_evaluated, (uint64_t)(n - second.n_cached + 5));
    tokens want = reference(fx, follow, n, 6);
    assert_memory_equal(second.t.ids, want.ids, 6 * sizeof(int32_t));
    assert_no_leak(s);
    scheduler_free(s);
    celer_context_free(ctx);
}

static void test_small_pool_preempts(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    /* 96 positions (6 blocks) for 4 requests that need 12 + 40 = 52 positions each */
    celer_context *ctx = new_ctx(fx, 96, 4, 64);
    scheduler *s = NULL;
    scheduler_params sp = {.max_ctx = 64};
    assert_int_equal(scheduler_new(ctx, &sp, &s, NULL), CELER_OK);
    const int32_t *prompts[] = {prompt_a, prompt_b, prompt_c, prompt_d};
    const int32_t lens[] = {LEN(prompt_a), LEN(prompt_b), LEN(prompt_c), LEN(prompt_d)};
    sched_request *r[4];
    for (int i = 0; i < 4; i++) {
        sched_request_params p = greedy(prompts[i], lens[i], 40);
        r[i] = submit(s, &p);
    }
    run_all(s, 2000);
    sched_stats st;
    scheduler_get_stats(s, &st);
    assert_true(st.preemptions > 0);
    for (int i = 0; i < 4; i++) {
        result res = {0};
        drain(r[i], &res);
        tokens want = reference(fx, prompts[i], lens[i], 40);
        assert_int_equal(res.finish, SCHED_FINISH_LENGTH);
        assert_int_equal(res.t.n, 40);
        assert_memory_equal(res.t.ids, want.ids, 40 * sizeof(int32_t));
        sched_request_release(r[i]);
    }
    assert_no_leak(s);
    scheduler_free(s);
    celer_context_free(ctx);
}

static void test_cancel_frees_kv(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    celer_context *ctx = new_ctx(fx, 256, 2, 64);
    scheduler *s = NULL;
    scheduler_params sp = {0};
    assert_int_equal(scheduler_new(ctx, &sp, &s, NULL), CELER_OK);
    sched_request_params p = greedy(prompt_a, LEN(prompt_a), 100);
    sched_request *keep = submit(s, &p);
    p = greedy(prompt_b, LEN(prompt_b), 100);
    sched_request *gone = submit(s, &p);
    for (int i = 0; i < 5; i++) assert_true(scheduler_step(s));
    sched_stats st;
    assert_true(celer_seq_len(ctx, 0) > 0 && celer_seq_len(ctx, 1) > 0);
    sched_request_release(gone); /* the client went away */
    assert_true(scheduler_step(s));
    scheduler_get_stats(s, &st);
    assert_int_equal(st.n_running, 1);
    assert_int_equal(st.n_finished[SCHED_FINISH_CANCELLED], 1);
    assert_true(celer_seq_len(ctx, 0) == 0 || celer_seq_len(ctx, 1) == 0); /* its sequence is empty */
    assert_int_equal(st.kv_blocks_active, celer_seq_blocks(ctx, 0) + celer_seq_blocks(ctx, 1));
    assert_int_equal(st.kv_blocks_cached, 0); /* a cancelled request keeps nothing */
    sched_request_cancel(keep);
    assert_true(scheduler_step(s));
    result res = {0};
    drain(keep, &res);
    assert_int_equal(res.finish, SCHED_FINISH_CANCELLED);
    assert_true(res.t.n >= 5);
    sched_request_release(keep);
    assert_no_leak(s);
    scheduler_get_stats(s, &st);
    assert_int_equal(st.kv_blocks_free, st.kv_blocks_total);
    scheduler_free(s);
    celer_context_free(ctx);
}

static void test_stop_strings_and_logprobs(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    celer_context *ctx = new_ctx(fx, 256, 1, 64);
    scheduler *s = NULL;
    scheduler_params sp = {0};
    assert_int_equal(scheduler_new(ctx, &sp, &s, NULL), CELER_OK);
    sched_request_params p = greedy(prompt_a, LEN(prompt_a), 24);
    p.n_logprobs = 3;
    sched_request *r = submit(s, &p);
    run_all(s, 100);
    result full = {0};
    drain(r, &full);
    sched_request_release(r);
    assert_int_equal(full.t.n, 24);
    /* a stop string from the middle of that text: the output ends right before it */
    size_t len = strlen(full.text);
    assert_true(len > 12);
    char stop[8] = {0};
    memcpy(stop, full.text + len / 2, 4);
    const char *stops[] = {"never appears here", stop};
    p.stop = stops;
    p.n_stop = 2;
    r = submit(s, &p);
    run_all(s, 100);
    result cut = {0};
    drain(r, &cut);
    assert_int_equal(cut.finish, SCHED_FINISH_STOP);
    const char *first = strstr(full.text, stop);
    assert_int_equal(strlen(cut.text), (size_t)(first - full.text));
    assert_memory_equal(cut.text, full.text, strlen(cut.text));
    assert_true(cut.t.n < 24);
    sched_request_release(r);
    /* logprobs: greedy picks the most likely; alternatives sorted; probabilities <= 1 */
    p = greedy(prompt_b, LEN(prompt_b), 4);
    p.n_logprobs = 5;
    r = submit(s, &p);
    run_all(s, 100);
    sched_output o;
    int32_t seen = 0;
    while (sched_request_read(r, 0, &o)) {
        for (int32_t i = 0; i < o.n_tokens; i++, seen++) {
            const sched_token *t = &o.tokens[i];
            assert_int_equal(t->n_top, 5);
            assert_int_equal(t->top_token[0], t->token);
            assert_true(fabsf(t->top_logprob[0] - t->logprob) < 1e-6f);
            assert_true(t->logprob <= 0.0f);
            for (int k = 1; k < 5; k++) assert_true(t->top_logprob[k] <= t->top_logprob[k - 1]);
        }
        sched_output_free(&o);
    }
    sched_output_free(&o);
    assert_int_equal(seen, 4);
    sched_request_release(r);
    assert_no_leak(s);
    scheduler_free(s);
    celer_context_free(ctx);
}

static void test_refuses_bad_requests(void **state) {
    fixture *fx = *state;
    NEED_MODEL(fx);
    celer_context *ctx = new_ctx(fx, 64, 1, 64);
    scheduler *s = NULL;
    scheduler_params sp = {0};
    assert_int_equal(scheduler_new(ctx, &sp, &s, NULL), CELER_OK);
    celer_error err = {0};
    sched_request *r = NULL;
    int32_t long_prompt[64] = {0};
    sched_request_params p = greedy(long_prompt, 64, 1);
    assert_int_equal(scheduler_submit(s, &p, &r, &err), CELER_ERR_RANGE);
    assert_non_null(strstr(err.msg, "the prompt has 64 tokens but the context holds 64 per request"));
    p = greedy(prompt_a, LEN(prompt_a), 60);
    assert_int_equal(scheduler_submit(s, &p, &r, &err), CELER_ERR_RANGE);
    assert_non_null(strstr(err.msg, "60 more were asked for"));
    int32_t bad[] = {1, -5};
    p = greedy(bad, 2, 1);
    assert_int_equal(scheduler_submit(s, &p, &r, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "id -5 out of range"));
    p = greedy(prompt_a, 0, 1);
    assert_int_equal(scheduler_submit(s, &p, &r, &err), CELER_ERR_INVALID_ARG);
    p = greedy(prompt_a, LEN(prompt_a), 1);
    p.sampling.top_p = 3.0f;
    assert_int_equal(scheduler_submit(s, &p, &r, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "top_p"));
    p = greedy(prompt_a, LEN(prompt_a), 1);
    p.n_logprobs = 21;
    assert_int_equal(scheduler_submit(s, &p, &r, &err), CELER_ERR_INVALID_ARG);
    const char *empty[] = {""};
    p = greedy(prompt_a, LEN(prompt_a), 1);
    p.stop = empty;
    p.n_stop = 1;
    assert_int_equal(scheduler_submit(s, &p, &r, &err), CELER_ERR_INVALID_ARG);
    assert_null(r);
    /* after scheduler_stop, unfinished requests end with an error and new ones are refused */
    p = greedy(prompt_a, LEN(prompt_a), 4);
    r = submit(s, &p);
    scheduler_stop(s);
    result res = {0};
    drain(r, &res);
    assert_int_equal(res.finish, SCHED_FINISH_ERROR);
    sched_request_release(r);
    r = NULL;
    assert_int_equal(scheduler_submit(s, &p, &r, &err), CELER_ERR_CANCELLED);
    scheduler_free(s);
    celer_context_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_equals_alone),   cmocka_unit_test(test_prefix_reuse),
        cmocka_unit_test(test_small_pool_preempts),    cmocka_unit_test(test_cancel_frees_kv),
        cmocka_unit_test(test_stop_strings_and_logprobs), cmocka_unit_test(test_refuses_bad_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
