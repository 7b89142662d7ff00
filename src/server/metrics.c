/* metrics.c: /metrics in Prometheus's text format: requests running and waiting, token
 * counters, time-to-first-token, inter-token and end-to-end latency histograms, KV pool
 * use, HTTP responses by status. Tests: tests/test_server.c, tests/test_serve.sh. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

const int server_http_codes[SERVER_HTTP_CODES] = {200, 400, 401, 404, 405, 413, 500, 501, 503, 0};

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = 2 * t->cap + (size_t)n;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

static void metric(text_buf *t, const char *name, const char *type, const char *help) {
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(text_buf *t, const char *name, const char *help, const sched_hist *h) {
    metric(t, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < SCHED_HIST_BUCKETS; i++) {
        cum += h->bucket[i];
        put(t, "%s_bucket{le=\"%g\"} %llu\n", name, sched_hist_bounds[i], (unsigned long long)cum);
    }
    put(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)h->count, name, h->sum, name,
        (unsigned long long)h->count);
}

char *server_metrics_text(const sched_stats *st, const uint64_t *http_counts) {
    text_buf t = {.cap = 8192};
    if (!(t.buf = malloc(t.cap))) return NULL;
    t.buf[0] = '\0';
    metric(&t, "celer_requests_running", "gauge", "Requests generating or evaluating their prompt (holding a KV slot).");
    put(&t, "celer_requests_running %d\n", st->n_running);
    metric(&t, "celer_requests_waiting", "gauge", "Requests queued for a slot or KV blocks (preempted ones included).");
    put(&t, "celer_requests_waiting %d\n", st->n_waiting);
    metric(&t, "celer_requests_finished_total", "counter", "Requests ended, by reason.");
    for (int f = SCHED_FINISH_STOP; f < SCHED_FINISH_COUNT; f++)
        put(&t, "celer_requests_finished_total{reason=\"%s\"} %llu\n", sched_finish_name((sched_finish)f), (unsigned long long)st->n_finished[f]);
    metric(&t, "celer_prompt_tokens_total", "counter", "Prompt tokens of all requests.");
    put(&t, "celer_prompt_tokens_total %llu\n", (unsigned long long)st->prompt_tokens);
    metric(&t, "celer_prompt_tokens_cached_total", "counter", "Prompt tokens whose KV was reused from an earlier request (not evaluated).");
    put(&t, "celer_prompt_tokens_cached_total %llu\n", (unsigned long long)st->prompt_tokens_cached);
    metric(&t, "celer_tokens_evaluated_total", "counter", "Tokens run through the model: prompts, recomputation after preemption, generated tokens.");
    put(&t, "celer_tokens_evaluated_total %llu\n", (unsigned long long)st->tokens_evaluated);
    metric(&t, "celer_generation_tokens_total", "counter", "Tokens generated.");
    put(&t, "celer_generation_tokens_total %llu\n", (unsigned long long)st->generated_tokens);
    metric(&t, "celer_preemptions_total", "counter", "Requests whose KV was freed to make room, recomputed later.");
    put(&t, "celer_preemptions_total %llu\n", (unsigned long long)st->preemptions);
    metric(&t, "celer_scheduler_steps_total", "counter", "Batches run by the scheduler.");
    put(&t, "celer_scheduler_steps_total %llu\n", (unsigned long long)st->steps);
    metric(&t, "celer_kv_cache_blocks", "gauge", "KV cache blocks by state: free, active (held by running requests), cached (idle prefixes, reclaimable).");
    put(&t, "celer_kv_cache_blocks{state=\"free\"} %d\n", st->kv_blocks_free);
    put(&t, "celer_kv_cache_blocks{state=\"active\"} %d\n", st->kv_blocks_active);
    put(&t, "celer_kv_cache_blocks{state=\"cached\"} %d\n", st->kv_blocks_cached);
    metric(&t, "celer_kv_cache_blocks_total", "gauge", "KV cache blocks in the pool.");
    put(&t, "celer_kv_cache_blocks_total %d\n", st->kv_blocks_total);
    metric(&t, "celer_kv_cache_block_size", "gauge", "Positions per KV cache block.");
    put(&t, "celer_kv_cache_block_size %d\n", st->kv_block_size);
    metric(&t, "celer_kv_cache_usage_ratio", "gauge", "Fraction of the KV pool held by running requests.");
    put(&t, "celer_kv_cache_usage_ratio %.6f\n", st->kv_blocks_total > 0 ? (double)st->kv_blocks_active / st->kv_blocks_total : 0.0);
    histogram(&t, "celer_time_to_first_token_seconds", "From a request's arrival to its first token.", &st->ttft);
    histogram(&t, "celer_time_per_output_token_seconds", "Between consecutive tokens of a request.", &st->itl);
    histogram(&t, "celer_e2e_request_latency_seconds", "From a request's arrival to its end.", &st->e2e);
    metric(&t, "celer_http_responses_total", "counter", "HTTP responses by status code (\"other\" for the rest).");
    for (int i = 0; i < SERVER_HTTP_CODES; i++) {
        if (server_http_codes[i]) put(&t, "celer_http_responses_total{code=\"%d\"} %llu\n", server_http_codes[i], (unsigned long long)http_counts[i]);
        else put(&t, "celer_http_responses_total{code=\"other\"} %llu\n", (unsigned long long)http_counts[i]);
    }
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
