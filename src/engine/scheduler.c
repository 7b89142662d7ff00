/* scheduler.c: continuous batching over one context (see scheduler.h for the policy).
 *
 * All shared state is guarded by one mutex. The stepping thread holds it while it plans
 * a step and while it samples and publishes the results, and lets go of it only around
 * celer_decode, so clients can submit, read and cancel during the forward pass.
 * Tests: tests/test_scheduler.c. */
#include "engine/scheduler.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timer.h"

const double sched_hist_bounds[SCHED_HIST_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
                                                      0.25,  0.5,    0.75,  1.0,  2.5,   5.0,  10.0,  30.0};

typedef enum { REQ_WAITING, REQ_RUNNING, REQ_DONE } req_state;

struct sched_request {
    scheduler *s;
    int refs; /* the client's and the scheduler's */
    uint64_t id; /* arrival order */
    req_state state;
    sched_request *next; /* waiting list link */
    /* the sequence: prompt, then generated tokens */
    int32_t *tokens;     /* (n_prompt + max_tokens) */
    int32_t n_prompt, n_tokens, max_tokens;
    int32_t n_evaluated; /* tokens of `tokens` in the slot's KV */
    int32_t slot;        /* -1 when not running */
    int32_t n_cached;    /* prompt tokens reused from a cached prefix at first admission */
    bool admitted_once;
    int32_t n_sampled;   /* end-of-generation tokens included */
    sampler *smp;
    celer_text_stream stream;
    bool ignore_eog;
    /* stop strings */
    char *stop[SCHED_MAX_STOP];
    int32_t n_stop;
    size_t max_stop_len;
    /* output */
    char *text; /* (text_cap) generated text, NUL-terminated */
    size_t text_len, text_cap, text_released;
    size_t *tok_end;      /* (max_tokens) text length after each generated token */
    sched_token *tok_lp;  /* (max_tokens) when n_logprobs >= 0, else NULL */
    int32_t n_logprobs;
    int32_t n_released;   /* generated tokens a client may read */
    sched_finish finish;
    char error[256];
    bool cancel;
    bool stop_matched;    /* the text was cut at a stop string */
    /* client's read position */
    size_t read_text;
    int32_t read_tokens;
    bool read_finish;
    pthread_cond_t cond;
    /* timing */
    double t_submit, t_last;
};

typedef struct {
    int32_t *cached;       /* (max_ctx) tokens in this sequence's KV, in order */
    int32_t n_cached;      /* == celer_seq_len of the slot */
    sched_request *owner;  /* NULL when idle */
    uint64_t last_used;    /* step of the last use, for dropping the least recently used */
} sched_slot;

struct scheduler {
    celer_context *ctx;
    const celer_model *model;
    int32_t n_vocab;
    int32_t max_ctx, step_tokens, block_size;
    int32_t n_slots;
    sched_slot *slots;         /* (n_slots) */
    sched_request **in_batch;  /* (n_slots) requests of the step being run */
    int32_t *batch_take;       /* (n_slots) tokens each contributes */
    celer_batch batch;
    char *piece;               /* (max piece length + 16) detokenizer output */
    size_t piece_cap;
    sched_request **order;     /* (n_slots) running requests in the order a step serves them */
    pthread_mutex_t mu;
    pthread_cond_t work;
    sched_request *wait_head, *wait_tail;
    uint64_t next_id;
    bool stopping, thread_started;
    pthread_t thread;
    sched_stats stats;
};

const char *sched_finish_name(sched_finish f) {
    switch (f) {
    case SCHED_FINISH_STOP: return "stop";
    case SCHED_FINISH_LENGTH: return "length";
    case SCHED_FINISH_CANCELLED: return "cancelled";
    case SCHED_FINISH_ERROR: return "error";
    default: return "none";
    }
}

void sched_output_free(sched_output *o) {
    free(o->text);
    free(o->tokens);
    o->text = NULL;
    o->tokens = NULL;
}

static void hist_observe(sched_hist *h, double v) {
    for (int i = 0; i < SCHED_HIST_BUCKETS; i++)
        if (v <= sched_hist_bounds[i]) {
            h->bucket[i]++;
            break;
        }
    h->count++;
    h->sum += v;
}

static int32_t blocks_for(const scheduler *s, int32_t n) { return (n + s->block_size - 1) / s->block_size; }

/* ---- lifetime ---- */

celer_status scheduler_new(celer_context *ctx, const scheduler_params *p, scheduler **out, celer_error *err) {
    *out = NULL;
    int32_t n_ctx = celer_context_n_ctx(ctx), n_batch = celer_context_n_batch(ctx);
    int32_t max_ctx = p->max_ctx > 0 ? p->max_ctx : n_ctx;
    int32_t step = p->step_tokens > 0 ? p->step_tokens : n_batch;
    if (max_ctx < 2 || max_ctx > n_ctx)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "scheduler: per-request context %d out of range [2, %d]", max_ctx, n_ctx);
    if (step > n_batch)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "scheduler: %d tokens per step exceed the batch size %d", step, n_batch);
    scheduler *s = calloc(1, sizeof(*s));
    if (!s) return celer_error_set(err, CELER_ERR_NOMEM, "scheduler: out of memory");
    s->ctx = ctx;
    s->model = celer_context_model(ctx);
    s->n_vocab = celer_model_n_vocab(s->model);
    s->max_ctx = max_ctx;
    s->step_tokens = step;
    s->n_slots = celer_context_n_seq_max(ctx);
    celer_kv_stats kv;
    celer_kv_get_stats(ctx, &kv);
    s->block_size = kv.block_size;
    s->slots = calloc((size_t)s->n_slots, sizeof(sched_slot));
    s->in_batch = calloc((size_t)s->n_slots, sizeof(sched_request *));
    s->order = calloc((size_t)s->n_slots, sizeof(sched_request *));
    s->batch_take = calloc((size_t)s->n_slots, sizeof(int32_t));
    s->piece_cap = celer_token_max_piece_len(s->model) + 16;
    s->piece = malloc(s->piece_cap);
    bool ok = s->slots && s->in_batch && s->order && s->batch_take && s->piece;
    for (int32_t i = 0; ok && i < s->n_slots; i++) {
        celer_seq_truncate(ctx, i, 0);
        ok = (s->slots[i].cached = malloc((size_t)max_ctx * sizeof(int32_t))) != NULL;
    }
    if (!ok || celer_batch_init(&s->batch, step, err) != CELER_OK) {
        scheduler_free(s);
        return celer_error_set(err, CELER_ERR_NOMEM, "scheduler: out of memory for %d slots of %d positions", s->n_slots, max_ctx);
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    s->stats.kv_block_size = kv.block_size;
    s->stats.kv_blocks_total = kv.n_blocks;
    s->stats.kv_blocks_free = kv.n_free;
    *out = s;
    return CELER_OK;
}

static void request_free(sched_request *r) {
    sampler_free(r->smp);
    for (int32_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->tokens);
    free(r->text);
    free(r->tok_end);
    free(r->tok_lp);
    pthread_cond_destroy(&r->cond);
    free(r);
}

/* Drops one reference (lock held); frees the request with the last. */
static void request_unref(sched_request *r) {
    if (--r->refs == 0) request_free(r);
}

/* ---- slots and KV ---- */

static void slot_clear(scheduler *s, int32_t i) {
    celer_seq_truncate(s->ctx, i, 0);
    s->slots[i].n_cached = 0;
}

/* Drops the least recently used idle slot's tokens; false if none holds any. */
static bool evict_idle(scheduler *s, int32_t except) {
    int32_t best = -1;
    for (int32_t i = 0; i < s->n_slots; i++) {
        const sched_slot *sl = &s->slots[i];
        if (i == except || sl->owner || sl->n_cached == 0) continue;
        if (best < 0 || sl->last_used < s->slots[best].last_used) best = i;
    }
    if (best < 0) return false;
    slot_clear(s, best);
    return true;
}

static int32_t free_blocks(const scheduler *s) {
    celer_kv_stats kv;
    celer_kv_get_stats(s->ctx, &kv);
    return kv.n_free;
}

static void update_kv_stats(scheduler *s) {
    int32_t active = 0, cached = 0;
    for (int32_t i = 0; i < s->n_slots; i++) {
        int32_t b = celer_seq_blocks(s->ctx, i);
        if (s->slots[i].owner) active += b;
        else cached += b;
    }
    s->stats.kv_blocks_free = free_blocks(s);
    s->stats.kv_blocks_active = active;
    s->stats.kv_blocks_cached = cached;
}

/* ---- output ---- */

static void waiting_remove(scheduler *s, sched_request *r) {
    sched_request **pp = &s->wait_head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = r->next;
    if (s->wait_tail == r) s->wait_tail = prev;
    r->next = NULL;
    s->stats.n_waiting--;
}

/* Longest suffix of text[0..len) that is a proper prefix of a stop string. */
static size_t stop_partial(const sched_request *r, const char *text, size_t len) {
    size_t best = 0;
    for (int32_t k = 0; k < r->n_stop; k++) {
        size_t sl = strlen(r->stop[k]);
        for (size_t n = sl - 1 < len ? sl - 1 : len; n > best; n--)
            if (memcmp(text + len - n, r->stop[k], n) == 0) {
                best = n;
                break;
            }
    }
    return best;
}

/* Position of the first stop string that ends after `from`, or SIZE_MAX. */
static size_t stop_find(const sched_request *r, size_t from) {
    size_t start = from > r->max_stop_len ? from - r->max_stop_len : 0, found = SIZE_MAX;
    for (int32_t k = 0; k < r->n_stop; k++) {
        const char *hit = strstr(r->text + start, r->stop[k]);
        if (hit && (size_t)(hit - r->text) < found) found = (size_t)(hit - r->text);
    }
    return found;
}

/* Makes room for n more bytes of text (a rare reallocation: the buffer starts at 8
 * bytes per token the request may generate and doubles). */
static bool text_reserve(sched_request *r, size_t n) {
    if (r->text_len + n + 1 <= r->text_cap) return true;
    size_t cap = 2 * (r->text_len + n + 1);
    char *t = realloc(r->text, cap);
    if (!t) return false;
    r->text = t;
    r->text_cap = cap;
    return true;
}

/* Appends text and updates what a client may read; true when a stop string matched. */
static bool text_append(sched_request *r, const char *bytes, size_t n, bool final) {
    size_t before = r->text_len;
    if (n > 0 && !text_reserve(r, n)) {
        snprintf(r->error, sizeof(r->error), "out of memory for the generated text");
        return false;
    }
    memcpy(r->text + r->text_len, bytes, n);
    r->text_len += n;
    r->text[r->text_len] = '\0';
    if (r->n_stop > 0 && n > 0) {
        size_t at = stop_find(r, before);
        if (at != SIZE_MAX) {
            r->text_len = at;
            r->text[at] = '\0';
            r->text_released = at;
            r->stop_matched = true;
            return true;
        }
    }
    r->text_released = final ? r->text_len : r->text_len - stop_partial(r, r->text, r->text_len);
    return false;
}

static void release_tokens(sched_request *r, bool all) {
    int32_t n_gen = r->n_tokens - r->n_prompt;
    while (r->n_released < n_gen && (all || r->tok_end[r->n_released] <= r->text_released)) r->n_released++;
}

/* Ends a request (lock held): publishes the rest of its text, frees or keeps its slot's
 * KV (kept for prefix reuse after a normal end), and drops the scheduler's reference. */
static void request_finish(scheduler *s, sched_request *r, sched_finish why, const char *error) {
    if (r->state == REQ_DONE) return;
    double now = celer_time_s();
    if ((why == SCHED_FINISH_LENGTH || why == SCHED_FINISH_STOP) && !r->stop_matched) {
        size_t n = celer_text_stream_flush(&r->stream, s->piece, s->piece_cap);
        if (text_append(r, s->piece, n, true)) why = SCHED_FINISH_STOP;
    }
    if (why == SCHED_FINISH_ERROR && error) snprintf(r->error, sizeof(r->error), "%s", error);
    release_tokens(r, !r->stop_matched);
    if (r->state == REQ_WAITING) waiting_remove(s, r);
    if (r->slot >= 0) {
        sched_slot *sl = &s->slots[r->slot];
        sl->owner = NULL;
        if (why == SCHED_FINISH_CANCELLED || why == SCHED_FINISH_ERROR) slot_clear(s, r->slot);
        r->slot = -1;
        s->stats.n_running--;
    }
    r->state = REQ_DONE;
    r->finish = why;
    s->stats.n_finished[why]++;
    hist_observe(&s->stats.e2e, now - r->t_submit);
    pthread_cond_broadcast(&r->cond);
    request_unref(r);
}

/* ---- submission ---- */

static celer_status request_check(const scheduler *s, const sched_request_params *p, int32_t *max_tokens, celer_error *err) {
    if (p->n_prompt < 1) return celer_error_set(err, CELER_ERR_INVALID_ARG, "the prompt is empty: nothing to continue");
    for (int32_t i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= s->n_vocab)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "prompt token %d: id %d out of range [0, %d)", i, p->prompt[i], s->n_vocab);
    if (p->n_prompt >= s->max_ctx)
        return celer_error_set(err, CELER_ERR_RANGE,
                               "the prompt has %d tokens but the context holds %d per request (%d prompt tokens at most, leaving one to generate)",
                               p->n_prompt, s->max_ctx, s->max_ctx - 1);
    int32_t room = s->max_ctx - p->n_prompt;
    if (p->max_tokens > room)
        return celer_error_set(err, CELER_ERR_RANGE,
                               "the prompt has %d tokens and %d more were asked for, but the context holds %d per request (at most %d to generate)",
                               p->n_prompt, p->max_tokens, s->max_ctx, room);
    *max_tokens = p->max_tokens > 0 ? p->max_tokens : room;
    if (p->n_stop < 0 || p->n_stop > SCHED_MAX_STOP)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "%d stop strings: at most %d", p->n_stop, SCHED_MAX_STOP);
    for (int32_t i = 0; i < p->n_stop; i++) {
        size_t n = strlen(p->stop[i]);
        if (n == 0 || n > SCHED_MAX_STOP_LEN)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "stop string %d has %zu bytes: must be 1..%d", i, n, SCHED_MAX_STOP_LEN);
    }
    if (p->n_logprobs > SCHED_MAX_LOGPROBS)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "%d log-probability alternatives: at most %d", p->n_logprobs, SCHED_MAX_LOGPROBS);
    return sampler_params_validate(&p->sampling, err);
}

celer_status scheduler_submit(scheduler *s, const sched_request_params *p, sched_request **out, celer_error *err) {
    *out = NULL;
    int32_t max_tokens = 0;
    celer_status st = request_check(s, p, &max_tokens, err);
    if (st != CELER_OK) return st;
    sched_request *r = calloc(1, sizeof(*r));
    if (!r) return celer_error_set(err, CELER_ERR_NOMEM, "request: out of memory");
    r->s = s;
    r->refs = 2;
    r->slot = -1;
    r->n_prompt = r->n_tokens = p->n_prompt;
    r->max_tokens = max_tokens;
    r->ignore_eog = p->ignore_eog;
    r->n_logprobs = p->n_logprobs;
    r->tokens = malloc((size_t)(p->n_prompt + max_tokens) * sizeof(int32_t));
    r->tok_end = malloc((size_t)max_tokens * sizeof(size_t));
    r->text_cap = (size_t)max_tokens * 8 + 64;
    r->text = malloc(r->text_cap);
    if (p->n_logprobs >= 0) r->tok_lp = malloc((size_t)max_tokens * sizeof(sched_token));
    bool ok = r->tokens && r->tok_end && r->text && (p->n_logprobs < 0 || r->tok_lp);
    for (int32_t i = 0; ok && i < p->n_stop; i++) {
        ok = (r->stop[i] = strdup(p->stop[i])) != NULL;
        r->n_stop = i + 1;
        size_t n = strlen(p->stop[i]);
        if (n > r->max_stop_len) r->max_stop_len = n;
    }
    pthread_cond_init(&r->cond, NULL);
    if (!ok || (st = sampler_init(&r->smp, &p->sampling, s->n_vocab, err)) != CELER_OK) {
        request_free(r);
        return st != CELER_OK ? st : celer_error_set(err, CELER_ERR_NOMEM, "request of %d tokens: out of memory", max_tokens);
    }
    memcpy(r->tokens, p->prompt, (size_t)p->n_prompt * sizeof(int32_t));
    for (int32_t i = 0; i < p->n_prompt; i++) sampler_accept(r->smp, p->prompt[i]);
    r->text[0] = '\0';
    celer_text_stream_init(&r->stream);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        request_free(r);
        return celer_error_set(err, CELER_ERR_CANCELLED, "the server is shutting down");
    }
    r->id = s->next_id++;
    r->t_submit = celer_time_s();
    r->state = REQ_WAITING;
    if (s->wait_tail) s->wait_tail->next = r;
    else s->wait_head = r;
    s->wait_tail = r;
    s->stats.n_waiting++;
    s->stats.prompt_tokens += (uint64_t)p->n_prompt;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    *out = r;
    return CELER_OK;
}

static bool has_news(const sched_request *r) {
    return r->read_text < r->text_released || r->read_tokens < r->n_released || (r->state == REQ_DONE && !r->read_finish);
}

bool sched_request_read(sched_request *r, int32_t timeout_ms, sched_output *out) {
    memset(out, 0, sizeof(*out));
    scheduler *s = r->s;
    pthread_mutex_lock(&s->mu);
    if (!has_news(r) && timeout_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = (long long)until.tv_nsec + (long long)timeout_ms * 1000000ll;
        until.tv_sec += (time_t)(ns / 1000000000ll);
        until.tv_nsec = (long)(ns % 1000000000ll);
        while (!has_news(r))
            if (pthread_cond_timedwait(&r->cond, &s->mu, &until) == ETIMEDOUT) break;
    }
    bool news = has_news(r);
    size_t n_text = r->text_released - r->read_text;
    int32_t n_tok = r->n_released - r->read_tokens;
    out->text = malloc(n_text + 1);
    out->tokens = malloc((size_t)(n_tok > 0 ? n_tok : 1) * sizeof(sched_token));
    if (out->text && out->tokens) {
        memcpy(out->text, r->text + r->read_text, n_text);
        out->text[n_text] = '\0';
        out->text_len = n_text;
        for (int32_t i = 0; i < n_tok; i++) {
            int32_t g = r->read_tokens + i;
            if (r->tok_lp) out->tokens[i] = r->tok_lp[g];
            else out->tokens[i] = (sched_token){.token = r->tokens[r->n_prompt + g]};
        }
        out->n_tokens = n_tok;
        r->read_text = r->text_released;
        r->read_tokens = r->n_released;
        if (r->state == REQ_DONE) {
            out->finish = r->finish;
            r->read_finish = true;
        }
    } else {
        out->finish = SCHED_FINISH_ERROR;
        snprintf(out->error, sizeof(out->error), "out of memory reading the output");
    }
    if (r->state == REQ_DONE) snprintf(out->error, sizeof(out->error), "%s", r->error);
    out->n_prompt = r->n_prompt;
    out->n_cached = r->n_cached;
    out->n_generated = r->n_sampled;
    pthread_mutex_unlock(&s->mu);
    return news;
}

void sched_request_cancel(sched_request *r) {
    scheduler *s = r->s;
    pthread_mutex_lock(&s->mu);
    if (r->state != REQ_DONE) {
        r->cancel = true;
        pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->mu);
}

void sched_request_release(sched_request *r) {
    scheduler *s = r->s;
    pthread_mutex_lock(&s->mu);
    if (r->state != REQ_DONE) {
        r->cancel = true;
        pthread_cond_signal(&s->work);
    }
    request_unref(r);
    pthread_mutex_unlock(&s->mu);
}

void scheduler_get_stats(scheduler *s, sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

int32_t scheduler_max_ctx(const scheduler *s) { return s->max_ctx; }

/* ---- one step ---- */

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* Gives the head of the waiting list a slot, preferring the idle slot that holds the
 * longest prefix of its tokens, then an empty one, then the least recently used. False
 * when no slot is idle or the KV pool cannot hold its tokens yet. */
static bool admit_one(scheduler *s, sched_request *r) {
    int32_t best = -1, best_common = -1;
    for (int32_t i = 0; i < s->n_slots; i++) {
        const sched_slot *sl = &s->slots[i];
        if (sl->owner) continue;
        int32_t c = common_prefix(sl->cached, sl->n_cached, r->tokens, r->n_tokens);
        bool better = best < 0 || c > best_common;
        if (!better && c == best_common) { /* among equals, an empty slot, else the least recently used */
            const sched_slot *b = &s->slots[best];
            better = b->n_cached > 0 && (sl->n_cached == 0 || sl->last_used < b->last_used);
        }
        if (better) {
            best = i;
            best_common = c;
        }
    }
    if (best < 0) return false;
    int32_t keep = best_common < r->n_tokens - 1 ? best_common : r->n_tokens - 1; /* one token must run for logits */
    /* blocks it needs beyond what it keeps; drop other idle slots' tokens until they fit */
    int32_t need = blocks_for(s, r->n_tokens) - blocks_for(s, keep);
    int32_t freed_by_truncate = celer_seq_blocks(s->ctx, best) - blocks_for(s, keep);
    while (need > free_blocks(s) + freed_by_truncate)
        if (!evict_idle(s, best)) return false;
    sched_slot *sl = &s->slots[best];
    celer_seq_truncate(s->ctx, best, keep);
    sl->n_cached = keep;
    sl->owner = r;
    r->slot = best;
    r->n_evaluated = keep;
    if (!r->admitted_once) {
        r->admitted_once = true;
        r->n_cached = keep < r->n_prompt ? keep : r->n_prompt;
        s->stats.prompt_tokens_cached += (uint64_t)r->n_cached;
    }
    waiting_remove(s, r);
    r->state = REQ_RUNNING;
    s->stats.n_running++;
    return true;
}

/* Frees a running request's KV and puts it back at the head of the waiting list; it is
 * recomputed from its tokens (prompt and generated so far) when it resumes. */
static void preempt(scheduler *s, sched_request *r) {
    slot_clear(s, r->slot);
    s->slots[r->slot].owner = NULL;
    r->slot = -1;
    r->n_evaluated = 0;
    r->state = REQ_WAITING;
    r->next = s->wait_head;
    s->wait_head = r;
    if (!s->wait_tail) s->wait_tail = r;
    s->stats.n_running--;
    s->stats.n_waiting++;
    s->stats.preemptions++;
}

/* The youngest running request not yet in this step's batch (NULL if none). */
static sched_request *youngest_running(scheduler *s, int32_t n_in_batch) {
    sched_request *y = NULL;
    for (int32_t i = 0; i < s->n_slots; i++) {
        sched_request *r = s->slots[i].owner;
        if (!r) continue;
        bool queued = false;
        for (int32_t k = 0; k < n_in_batch && !queued; k++) queued = s->in_batch[k] == r;
        if (!queued && (!y || r->id > y->id)) y = r;
    }
    return y;
}

static int cmp_request_phase(const void *pa, const void *pb) {
    const sched_request *a = *(sched_request *const *)pa, *b = *(sched_request *const *)pb;
    bool da = a->n_tokens - a->n_evaluated == 1, db = b->n_tokens - b->n_evaluated == 1;
    if (da != db) return da ? -1 : 1; /* generating requests first */
    return a->id < b->id ? -1 : a->id > b->id ? 1 : 0;
}

/* Fills s->batch for this step; returns how many requests take part. */
static int32_t plan_step(scheduler *s) {
    sched_request **order = s->order;
    int32_t n_order = 0;
    for (int32_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].owner) order[n_order++] = s->slots[i].owner;
    qsort(order, (size_t)n_order, sizeof(order[0]), cmp_request_phase);
    celer_batch_clear(&s->batch);
    int32_t n_in = 0, budget = s->step_tokens;
    for (int32_t k = 0; k < n_order && budget > 0; k++) {
        sched_request *r = order[k];
        if (r->state != REQ_RUNNING) continue; /* preempted earlier in this loop */
        int32_t pending = r->n_tokens - r->n_evaluated;
        int32_t take = pending < budget ? pending : budget;
        int32_t need = blocks_for(s, r->n_evaluated + take) - blocks_for(s, r->n_evaluated);
        while (need > free_blocks(s) && evict_idle(s, -1)) {}
        if (need > free_blocks(s) && pending == 1) {
            /* a generating request needs a block: preempt the youngest not yet batched */
            while (need > free_blocks(s)) {
                sched_request *y = youngest_running(s, n_in);
                if (!y) break;
                preempt(s, y);
                if (y == r) break;
            }
            if (r->state != REQ_RUNNING) continue;
        }
        if (need > free_blocks(s)) { /* a prompt chunk: take what fits */
            int32_t room = free_blocks(s) * s->block_size + (blocks_for(s, r->n_evaluated) * s->block_size - r->n_evaluated);
            take = take < room ? take : room;
            if (take <= 0) continue;
        }
        for (int32_t j = 0; j < take; j++) {
            int32_t pos = r->n_evaluated + j;
            celer_batch_add(&s->batch, r->tokens[pos], pos, r->slot, pos == r->n_tokens - 1, NULL);
        }
        s->in_batch[n_in] = r;
        s->batch_take[n_in] = take;
        n_in++;
        budget -= take;
    }
    return n_in;
}

/* log-softmax of the chosen token and the n most likely alternatives. */
static void compute_logprobs(const float *logits, int32_t n_vocab, int32_t token, int32_t n, sched_token *out) {
    float mx = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - mx));
    float lse = mx + (float)log(sum);
    out->token = token;
    out->logprob = logits[token] - lse;
    out->n_top = 0;
    for (int32_t i = 0; i < n_vocab && n > 0; i++) { /* insertion into a sorted list of n */
        float v = logits[i];
        if (out->n_top == n && v <= logits[out->top_token[n - 1]]) continue;
        int32_t at = out->n_top < n ? out->n_top++ : n - 1;
        while (at > 0 && logits[out->top_token[at - 1]] < v) {
            out->top_token[at] = out->top_token[at - 1];
            at--;
        }
        out->top_token[at] = i;
    }
    for (int32_t k = 0; k < out->n_top; k++) out->top_logprob[k] = logits[out->top_token[k]] - lse;
}

/* Samples a request's next token from its logits and publishes it (lock held). */
static void accept_output(scheduler *s, sched_request *r, const float *logits, double now) {
    int32_t token = sampler_sample(r->smp, logits);
    sampler_accept(r->smp, token);
    r->n_sampled++;
    s->stats.generated_tokens++;
    if (r->n_sampled == 1) hist_observe(&s->stats.ttft, now - r->t_submit);
    else hist_observe(&s->stats.itl, now - r->t_last);
    r->t_last = now;
    if (celer_token_is_eog(s->model, token) && !r->ignore_eog) {
        request_finish(s, r, SCHED_FINISH_STOP, NULL);
        return;
    }
    int32_t g = r->n_tokens - r->n_prompt;
    r->tokens[r->n_tokens++] = token;
    if (r->tok_lp) compute_logprobs(logits, s->n_vocab, token, r->n_logprobs, &r->tok_lp[g]);
    size_t n = celer_text_stream_push(&r->stream, s->model, token, s->piece, s->piece_cap);
    bool stopped = text_append(r, s->piece, n, false);
    r->tok_end[g] = r->text_len;
    if (r->error[0]) {
        request_finish(s, r, SCHED_FINISH_ERROR, NULL);
        return;
    }
    release_tokens(r, false);
    if (stopped) request_finish(s, r, SCHED_FINISH_STOP, NULL);
    else if (g + 1 >= r->max_tokens) request_finish(s, r, SCHED_FINISH_LENGTH, NULL);
    else pthread_cond_broadcast(&r->cond);
}

/* Cancelled requests leave first: their KV is freed before anything else runs. */
static bool drop_cancelled(scheduler *s) {
    bool any = false;
    for (int32_t i = 0; i < s->n_slots; i++) {
        sched_request *r = s->slots[i].owner;
        if (r && r->cancel) {
            request_finish(s, r, SCHED_FINISH_CANCELLED, NULL);
            any = true;
        }
    }
    for (sched_request *r = s->wait_head, *next; r; r = next) {
        next = r->next;
        if (r->cancel) {
            request_finish(s, r, SCHED_FINISH_CANCELLED, NULL);
            any = true;
        }
    }
    return any;
}

bool scheduler_step(scheduler *s) {
    pthread_mutex_lock(&s->mu);
    bool cancelled = drop_cancelled(s);
    while (s->wait_head && admit_one(s, s->wait_head)) {}
    int32_t n_in = plan_step(s);
    if (n_in == 0) {
        /* running requests but nothing fits: free the youngest so the others can go on
         * (one request alone always fits: max_ctx <= the pool, idle slots are dropped) */
        sched_request *y = youngest_running(s, 0);
        if (y && s->stats.n_running > 1) preempt(s, y);
        else if (y) request_finish(s, y, SCHED_FINISH_LENGTH, NULL);
        update_kv_stats(s);
        pthread_mutex_unlock(&s->mu);
        return y != NULL || cancelled;
    }
    s->stats.steps++;
    pthread_mutex_unlock(&s->mu);

    celer_error err = {0};
    celer_status st = celer_decode(s->ctx, &s->batch, &err);
    double now = celer_time_s();

    pthread_mutex_lock(&s->mu);
    int32_t out_index = 0;
    for (int32_t k = 0; k < n_in; k++) {
        sched_request *r = s->in_batch[k];
        if (st != CELER_OK) {
            request_finish(s, r, SCHED_FINISH_ERROR, err.msg);
            continue;
        }
        sched_slot *sl = &s->slots[r->slot];
        memcpy(sl->cached + r->n_evaluated, r->tokens + r->n_evaluated, (size_t)s->batch_take[k] * sizeof(int32_t));
        r->n_evaluated += s->batch_take[k];
        sl->n_cached = r->n_evaluated;
        sl->last_used = s->stats.steps;
        s->stats.tokens_evaluated += (uint64_t)s->batch_take[k];
        if (r->n_evaluated == r->n_tokens) { /* its last token had logits */
            const float *logits = celer_get_logits(s->ctx, out_index++);
            CHECK(logits != NULL);
            if (r->cancel) request_finish(s, r, SCHED_FINISH_CANCELLED, NULL);
            else accept_output(s, r, logits, now);
        }
    }
    update_kv_stats(s);
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* ---- the stepping thread ---- */

static void *scheduler_thread(void *arg) {
    scheduler *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        if (!s->wait_head && s->stats.n_running == 0) {
            pthread_cond_wait(&s->work, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        bool worked = scheduler_step(s);
        pthread_mutex_lock(&s->mu);
        if (!worked && !s->stopping) { /* waiting on something outside: do not spin */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 5000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->work, &s->mu, &until);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

celer_status scheduler_start(scheduler *s, celer_error *err) {
    if (s->thread_started) return CELER_OK;
    int rc = pthread_create(&s->thread, NULL, scheduler_thread, s);
    if (rc != 0) return celer_error_set(err, CELER_ERR_NOMEM, "scheduler: cannot start its thread: %s", strerror(rc));
    s->thread_started = true;
    return CELER_OK;
}

void scheduler_stop(scheduler *s) {
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_started) pthread_join(s->thread, NULL);
    s->thread_started = false;
    pthread_mutex_lock(&s->mu);
    for (int32_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].owner) request_finish(s, s->slots[i].owner, SCHED_FINISH_ERROR, "the server is shutting down");
    while (s->wait_head) request_finish(s, s->wait_head, SCHED_FINISH_ERROR, "the server is shutting down");
    update_kv_stats(s);
    pthread_mutex_unlock(&s->mu);
}

void scheduler_free(scheduler *s) {
    if (!s) return;
    if (s->slots && s->batch.token) scheduler_stop(s);
    if (s->batch.token) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work);
    }
    for (int32_t i = 0; s->slots && i < s->n_slots; i++) {
        free(s->slots[i].cached);
        celer_seq_truncate(s->ctx, i, 0);
    }
    free(s->slots);
    free(s->in_batch);
    free(s->order);
    free(s->batch_take);
    free(s->piece);
    celer_batch_free(&s->batch);
    free(s);
}
