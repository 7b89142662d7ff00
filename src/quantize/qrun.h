/* qrun.h: runs a bound model (or a variant of it with some tensors replaced) over chunks
 * of tokens, straight through the CPU backend, for calibration and sensitivity
 * measurement: no tokenizer, no public context, optionally an observer of every matrix
 * product's input.
 * Tests: tests/test_quantize_plan.c. */
#ifndef CELER_QUANTIZE_QRUN_H
#define CELER_QUANTIZE_QRUN_H

#include "backend/backend.h"
#include "engine/kv_cache.h"
#include "model/model.h"

typedef struct {
    const backend_ops *ops;
    backend *be;
    kv_cache *kv;
    celer_batch batch;
    float *logits; /* (n_ctx, n_vocab) */
    int32_t n_ctx, n_vocab;
} qrun;

celer_status qrun_init(qrun *r, const model *m, int32_t n_ctx, int32_t n_threads, backend_observe_fn observe, void *user,
                       celer_error *err);
void qrun_free(qrun *r);

/* Evaluates tokens[0..n) (n <= n_ctx) as one fresh sequence; the logits of positions
 * [first, n) are then r->logits rows 0..n-first-1. */
celer_status qrun_chunk(qrun *r, const int32_t *tokens, int32_t n, int32_t first, celer_error *err);

/* log-softmax of a row of n logits into out (double sums). */
void qrun_log_softmax(const float *logits, float *out, int32_t n);

#endif
