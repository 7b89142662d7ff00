/* scheduler.h: continuous batching of many requests over one context.
 *
 * One thread (scheduler_start's, or the caller of scheduler_step) owns the context.
 * Each step batches, up to step_tokens tokens: the next token of every generating
 * request, then chunks of the prompts of requests still being prefilled, oldest first,
 * and runs them through one celer_decode. New requests join at the next step without
 * waiting for others to finish.
 *
 * Sequences are slots of the context (ids 0..n_seq_max-1) sharing its paged KV pool.
 * A finished request leaves its tokens in its slot; a later request whose prompt starts
 * with them takes that slot and evaluates only the rest (prompt-prefix reuse). When the
 * pool runs short, idle slots' tokens are dropped first (least recently used); then new
 * requests wait, and if generating requests still need blocks the youngest one is
 * preempted: its KV is freed and it is recomputed from its prompt and the tokens it had
 * generated when it resumes. Nothing here ends the process.
 *
 * Clients (other threads) submit, read output as it comes (text only in whole UTF-8
 * characters and never past a possible stop string), cancel (the request's KV is freed
 * at the start of the next step) and release. Tests: tests/test_scheduler.c. */
#ifndef CELER_ENGINE_SCHEDULER_H
#define CELER_ENGINE_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "celer.h"
#include "core/status.h"
#include "engine/sampler.h"

#define SCHED_MAX_LOGPROBS 20 /* alternatives per token */
#define SCHED_MAX_STOP 16     /* stop strings per request */
#define SCHED_MAX_STOP_LEN 256

typedef struct scheduler scheduler;
typedef struct sched_request sched_request;

typedef struct {
    int32_t max_ctx;     /* most positions one request may use (prompt + generated); 0: the context's n_ctx */
    int32_t step_tokens; /* tokens per step at most; 0: the context's batch size */
} scheduler_params;

typedef struct {
    const int32_t *prompt; /* (n_prompt) token ids; copied */
    int32_t n_prompt;
    sampler_params sampling;
    int32_t max_tokens;       /* tokens to sample at most; <= 0: until the request's context is full */
    const char *const *stop;  /* (n_stop) strings that end the generation, not included in the text; copied */
    int32_t n_stop;
    int32_t n_logprobs;       /* < 0: none; else the chosen token's log-probability and this many alternatives */
    bool ignore_eog;          /* keep going past end-of-generation tokens */
} sched_request_params;

typedef enum {
    SCHED_FINISH_NONE = 0,  /* still waiting or generating */
    SCHED_FINISH_STOP,      /* end-of-generation token or stop string */
    SCHED_FINISH_LENGTH,    /* max_tokens or the request's context is full */
    SCHED_FINISH_CANCELLED, /* the client cancelled */
    SCHED_FINISH_ERROR,     /* see sched_output.error */
    SCHED_FINISH_COUNT
} sched_finish;

const char *sched_finish_name(sched_finish f); /* "stop", "length", "cancelled", "error" */

/* One generated token as a client reads it. */
typedef struct {
    int32_t token;
    float logprob;                            /* log-softmax of the raw logits */
    int32_t n_top;                            /* alternatives below, most likely first */
    int32_t top_token[SCHED_MAX_LOGPROBS];
    float top_logprob[SCHED_MAX_LOGPROBS];
} sched_token;

/* What a read returns: the output added since the previous read. */
typedef struct {
    char *text;           /* new text (malloc'd, NUL-terminated; may be empty) */
    size_t text_len;
    sched_token *tokens;  /* (n_tokens) new tokens (malloc'd); logprobs filled only when asked for */
    int32_t n_tokens;
    sched_finish finish;  /* SCHED_FINISH_NONE until the request is done */
    char error[256];      /* for SCHED_FINISH_ERROR */
    int32_t n_prompt;     /* prompt tokens */
    int32_t n_cached;     /* of which came from a cached prefix (not evaluated again) */
    int32_t n_generated;  /* tokens sampled so far (the end-of-generation token included) */
} sched_output;

void sched_output_free(sched_output *o);

/* Histograms of seconds, with fixed bucket bounds (Prometheus's le). */
#define SCHED_HIST_BUCKETS 16
extern const double sched_hist_bounds[SCHED_HIST_BUCKETS];
typedef struct {
    uint64_t bucket[SCHED_HIST_BUCKETS]; /* counts of observations <= bound (not cumulative) */
    uint64_t count;                      /* all observations (+Inf) */
    double sum;
} sched_hist;

typedef struct {
    int32_t n_running;  /* holding a slot */
    int32_t n_waiting;  /* queued, or preempted and waiting to resume */
    uint64_t n_finished[SCHED_FINISH_COUNT];
    uint64_t prompt_tokens;           /* prompt tokens of submitted requests */
    uint64_t prompt_tokens_cached;    /* of which reused from a cached prefix */
    uint64_t tokens_evaluated;        /* tokens run through the model (prompts, recomputation, generated) */
    uint64_t generated_tokens;        /* tokens sampled */
    uint64_t preemptions;
    uint64_t steps;
    int32_t kv_block_size;
    int32_t kv_blocks_total;
    int32_t kv_blocks_free;
    int32_t kv_blocks_active; /* held by running requests */
    int32_t kv_blocks_cached; /* held by idle slots for prefix reuse (reclaimable) */
    sched_hist ttft;  /* submission to first token */
    sched_hist itl;   /* between consecutive tokens of a request */
    sched_hist e2e;   /* submission to finish */
} sched_stats;

/* The scheduler uses ctx (sequences 0..n_seq_max-1) exclusively until scheduler_free;
 * it clears every sequence first. */
celer_status scheduler_new(celer_context *ctx, const scheduler_params *p, scheduler **out, celer_error *err);
/* Runs steps on a thread of its own until scheduler_stop. */
celer_status scheduler_start(scheduler *s, celer_error *err);
/* Stops the thread (if started) and ends every unfinished request with an error;
 * requests submitted afterwards are refused. Clients may still read and release. */
void scheduler_stop(scheduler *s);
/* Frees everything; every request must have been released. */
void scheduler_free(scheduler *s);

/* One step on the calling thread (for tests, without scheduler_start). Returns whether
 * there was anything to do. */
bool scheduler_step(scheduler *s);

/* Queues a request. Refused (CELER_ERR_RANGE, with the numbers) when the prompt plus
 * max_tokens does not fit the request's context; CELER_ERR_INVALID_ARG for a bad
 * parameter. *out holds a reference the client gives back with sched_request_release. */
celer_status scheduler_submit(scheduler *s, const sched_request_params *p, sched_request **out, celer_error *err);
/* Waits up to timeout_ms for output not yet read (or the end), then fills out with it.
 * Returns true when out has new text or tokens or the request is finished. */
bool sched_request_read(sched_request *r, int32_t timeout_ms, sched_output *out);
/* Stops the request; its KV is freed at the start of the next step. */
void sched_request_cancel(sched_request *r);
/* Cancels the request if unfinished and drops the client's reference. */
void sched_request_release(sched_request *r);

void scheduler_get_stats(scheduler *s, sched_stats *out);
/* The most positions one request may use. */
int32_t scheduler_max_ctx(const scheduler *s);

#endif
