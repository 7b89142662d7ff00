/* qrun.c: see qrun.h. */
#include "quantize/qrun.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

celer_status qrun_init(qrun *r, const model *m, int32_t n_ctx, int32_t n_threads, backend_observe_fn observe, void *user,
                       celer_error *err) {
    memset(r, 0, sizeof(*r));
    r->ops = &backend_cpu;
    r->n_ctx = n_ctx;
    r->n_vocab = m->hp.n_vocab;
    backend_config cfg = {.n_threads = n_threads, .n_batch = n_ctx, .n_ctx = n_ctx, .observe = observe, .observe_user = user};
    celer_status st = kv_cache_init(&r->kv, m->hp.n_layer, m->hp.n_head_kv * m->hp.head_dim, n_ctx, 1, err);
    if (st == CELER_OK) st = r->ops->init(&r->be, m, &cfg, err);
    if (st == CELER_OK) st = celer_batch_init(&r->batch, n_ctx, err);
    if (st == CELER_OK && !(r->logits = malloc((size_t)n_ctx * (size_t)r->n_vocab * sizeof(float))))
        st = celer_error_set(err, CELER_ERR_NOMEM, "out of memory for the logits of %d tokens", n_ctx);
    if (st != CELER_OK) qrun_free(r);
    return st;
}

void qrun_free(qrun *r) {
    if (r->be) r->ops->free(r->be);
    kv_cache_free(r->kv);
    celer_batch_free(&r->batch);
    free(r->logits);
    memset(r, 0, sizeof(*r));
}

celer_status qrun_chunk(qrun *r, const int32_t *tokens, int32_t n, int32_t first, celer_error *err) {
    if (n < 1 || n > r->n_ctx || first < 0 || first > n)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "chunk of %d tokens (logits from %d): must fit %d", n, first, r->n_ctx);
    kv_cache_seq_truncate(r->kv, 0, 0);
    celer_batch_clear(&r->batch);
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= r->n_vocab)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "token %d out of range [0, %d)", tokens[i], r->n_vocab);
        celer_batch_add(&r->batch, tokens[i], i, 0, i >= first, NULL);
    }
    celer_status st = kv_cache_reserve(r->kv, &r->batch, err);
    if (st != CELER_OK) return st;
    return r->ops->forward(r->be, r->kv, &r->batch, r->logits, err);
}

void qrun_log_softmax(const float *logits, float *out, int32_t n) {
    float max = logits[0];
    for (int32_t i = 1; i < n; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)(logits[i] - max));
    float lse = max + (float)log(sum);
    for (int32_t i = 0; i < n; i++) out[i] = logits[i] - lse;
}
