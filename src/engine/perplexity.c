/* perplexity.c: perplexity over chunks, llama-perplexity's method (see celer.h).
 * Tested in tests/test_parity.c against llama.cpp's figures on wiki.test.raw. */
#include <math.h>
#include <stdlib.h>

#include "celer.h"
#include "core/status.h"

/* -log p(token) from one row of logits, in double like llama-perplexity. */
static double nll_of(const float *logits, int32_t n_vocab, int32_t token) {
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - max));
    return -((double)(logits[token] - max) - log(sum));
}

/* Evaluates one chunk of n_ctx tokens on sequence 0 and adds its second half's NLL. */
static celer_status eval_chunk(celer_context *ctx, celer_batch *b, const int32_t *tokens, int32_t n_ctx, int32_t bos,
                               double *nll, double *nll2, celer_error *err) {
    const int32_t first = n_ctx / 2, n_vocab = celer_model_n_vocab(celer_context_model(ctx));
    celer_seq_truncate(ctx, 0, 0);
    for (int32_t j = 0; j < n_ctx;) {
        celer_batch_clear(b);
        for (; j < n_ctx && b->n_tokens < b->capacity; j++)
            celer_batch_add(b, j == 0 && bos >= 0 ? bos : tokens[j], j, 0, j >= first && j < n_ctx - 1, NULL);
        celer_status st = celer_decode(ctx, b, err);
        if (st != CELER_OK) return st;
        for (int32_t i = 0, out = 0; i < b->n_tokens; i++) {
            if (!b->logits[i]) continue;
            double v = nll_of(celer_get_logits(ctx, out++), n_vocab, tokens[b->pos[i] + 1]);
            *nll += v;
            *nll2 += v * v;
        }
    }
    return CELER_OK;
}

celer_status celer_perplexity(celer_context *ctx, const int32_t *tokens, size_t n_tokens, int32_t n_ctx, int32_t n_chunks,
                              celer_ppl_fn on_chunk, void *user, celer_ppl_result *out, celer_error *err) {
    *out = (celer_ppl_result){0};
    if (n_ctx < 4 || n_ctx > celer_context_n_ctx(ctx))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "perplexity chunk of %d tokens: must be in [4, %d] (the context size)", n_ctx,
                               celer_context_n_ctx(ctx));
    if (n_tokens < 2 * (size_t)n_ctx)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "the text has %zu tokens; chunks of %d need at least %d", n_tokens, n_ctx, 2 * n_ctx);
    int32_t n_chunk_max = (int32_t)(n_tokens / (size_t)n_ctx);
    if (n_chunks < 0 || n_chunks > n_chunk_max) n_chunks = n_chunk_max;
    const celer_model *m = celer_context_model(ctx);
    int32_t bos = celer_model_adds_bos(m) ? celer_token_bos(m) : -1;
    int32_t n_batch = celer_context_n_batch(ctx);
    celer_batch b;
    celer_status st = celer_batch_init(&b, n_batch < n_ctx ? n_batch : n_ctx, err);
    if (st != CELER_OK) return st;
    double nll = 0.0, nll2 = 0.0;
    for (int32_t i = 0; i < n_chunks; i++) {
        if ((st = eval_chunk(ctx, &b, tokens + (size_t)i * (size_t)n_ctx, n_ctx, bos, &nll, &nll2, err)) != CELER_OK) break;
        out->n_chunks++;
        out->n_scored += n_ctx - n_ctx / 2 - 1;
        out->ppl = exp(nll / (double)out->n_scored);
        if (on_chunk && !on_chunk(user, i, out->ppl)) break;
    }
    celer_batch_free(&b);
    celer_seq_truncate(ctx, 0, 0);
    if (out->n_scored > 1) {
        double mean = nll / (double)out->n_scored, var = nll2 / (double)out->n_scored - mean * mean;
        out->ppl_stderr = var > 0 ? sqrt(var / (double)(out->n_scored - 1)) * out->ppl : 0.0;
    }
    return st;
}
