/* ppl_kld.c: `celer ppl --kl-save FILE` and `--kl-base FILE`: the quality cost of a
 * quantized model against a reference, llama-perplexity --kl-divergence's figures.
 *
 * --kl-save runs the reference model over the chunks (llama-perplexity's chunking: BOS
 * first when the model adds one, the second half of each chunk scored) and writes the
 * tokens and, per scored position, the log-probabilities over the vocabulary as 16-bit
 * steps between that position's minimum and maximum (resolution range/65535, about
 * 0.0006 nats). --kl-base runs another model over the same tokens and reports PPL of
 * both, their ratio, KL(reference || model) per position (mean with standard error,
 * percentiles), and how often both pick the same most likely token.
 *
 * File: "CKLD" u32 version=1, u32 n_vocab, u32 n_ctx, u32 n_chunks, then the tokens
 * (n_chunks * n_ctx int32), then per chunk per scored position: float min, float step,
 * uint16[n_vocab]. Little-endian host order. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celer.h"
#include "cli.h"
#include "core/timer.h"

#define KLD_MAGIC "CKLD"
#define KLD_VERSION 1u

typedef struct {
    uint32_t n_vocab, n_ctx, n_chunks;
} kld_header;

static void log_softmax(const float *logits, double *out, int32_t n) {
    float max = logits[0];
    for (int32_t i = 1; i < n; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)(logits[i] - max));
    double lse = (double)max + log(sum);
    for (int32_t i = 0; i < n; i++) out[i] = (double)logits[i] - lse;
}

/* Runs chunk c (tokens already BOS-fixed) and calls fn for each scored position. */
typedef bool (*position_fn)(void *user, int32_t pos, const float *logits, int32_t next_token);

static int run_chunk(celer_context *ctx, celer_batch *b, const int32_t *tokens, int32_t n_ctx, position_fn fn, void *user) {
    celer_error err = {0};
    const int32_t first = n_ctx / 2;
    celer_seq_truncate(ctx, 0, 0);
    for (int32_t j = 0; j < n_ctx;) {
        celer_batch_clear(b);
        for (; j < n_ctx && b->n_tokens < b->capacity; j++) celer_batch_add(b, tokens[j], j, 0, j >= first && j < n_ctx - 1, NULL);
        if (celer_decode(ctx, b, &err) != CELER_OK) {
            fprintf(stderr, "celer ppl: %s\n", err.msg);
            return 1;
        }
        for (int32_t i = 0, out = 0; i < b->n_tokens; i++) {
            if (!b->logits[i]) continue;
            if (!fn(user, b->pos[i], celer_get_logits(ctx, out++), tokens[b->pos[i] + 1])) return 1;
        }
    }
    return 0;
}

/* ---- save ---- */

typedef struct {
    FILE *fp;
    int32_t n_vocab;
    double *lp;
    uint16_t *q;
    double nll;
    long long n;
    bool failed;
} save_state;

static bool save_position(void *user, int32_t pos, const float *logits, int32_t next) {
    (void)pos;
    save_state *s = user;
    log_softmax(logits, s->lp, s->n_vocab);
    double lo = s->lp[0], hi = s->lp[0];
    for (int32_t i = 1; i < s->n_vocab; i++) {
        lo = s->lp[i] < lo ? s->lp[i] : lo;
        hi = s->lp[i] > hi ? s->lp[i] : hi;
    }
    float fmin = (float)lo, step = (float)((hi - lo) / 65535.0);
    if (!(step > 0.0f)) step = 1.0f;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        double v = (s->lp[i] - (double)fmin) / (double)step;
        s->q[i] = (uint16_t)(v < 0 ? 0 : v > 65535.0 ? 65535 : lround(v));
    }
    s->nll -= s->lp[next];
    s->n++;
    if (fwrite(&fmin, 4, 1, s->fp) != 1 || fwrite(&step, 4, 1, s->fp) != 1 ||
        fwrite(s->q, 2, (size_t)s->n_vocab, s->fp) != (size_t)s->n_vocab) {
        s->failed = true;
        return false;
    }
    return true;
}

int ppl_kld_save(celer_context *ctx, const char *path, const int32_t *tokens, size_t n_tokens, int32_t n_ctx, int32_t n_chunks) {
    const celer_model *m = celer_context_model(ctx);
    int32_t n_vocab = celer_model_n_vocab(m), bos = celer_model_adds_bos(m) ? celer_token_bos(m) : -1;
    int32_t have = (int32_t)(n_tokens / (size_t)n_ctx);
    if (have < 1) {
        fprintf(stderr, "celer ppl: the text has %zu tokens, less than one chunk of %d\n", n_tokens, n_ctx);
        return 1;
    }
    if (n_chunks < 0 || n_chunks > have) n_chunks = have;
    size_t tlen = strlen(path) + 5;
    char *tmp = malloc(tlen);
    int32_t *chunks = malloc((size_t)n_chunks * (size_t)n_ctx * sizeof(int32_t));
    save_state s = {.n_vocab = n_vocab, .lp = malloc((size_t)n_vocab * sizeof(double)), .q = malloc((size_t)n_vocab * sizeof(uint16_t))};
    celer_batch b = {0};
    celer_error err = {0};
    int rc = 1;
    if (!tmp || !chunks || !s.lp || !s.q || celer_batch_init(&b, celer_context_n_batch(ctx) < n_ctx ? celer_context_n_batch(ctx) : n_ctx, &err) != CELER_OK) {
        fprintf(stderr, "celer ppl: out of memory\n");
        goto done;
    }
    snprintf(tmp, tlen, "%s.tmp", path);
    if (!(s.fp = fopen(tmp, "wb"))) {
        fprintf(stderr, "celer ppl: cannot open '%s' for writing: %s\n", tmp, strerror(errno));
        goto done;
    }
    memcpy(chunks, tokens, (size_t)n_chunks * (size_t)n_ctx * sizeof(int32_t));
    for (int32_t c = 0; c < n_chunks; c++)
        if (bos >= 0) chunks[(size_t)c * (size_t)n_ctx] = bos;
    uint32_t hdr[5] = {0, KLD_VERSION, (uint32_t)n_vocab, (uint32_t)n_ctx, (uint32_t)n_chunks};
    memcpy(hdr, KLD_MAGIC, 4);
    if (fwrite(hdr, 4, 5, s.fp) != 5 || fwrite(chunks, sizeof(int32_t), (size_t)n_chunks * (size_t)n_ctx, s.fp) != (size_t)n_chunks * (size_t)n_ctx)
        s.failed = true;
    double t0 = celer_time_s();
    for (int32_t c = 0; c < n_chunks && !s.failed; c++) {
        if (run_chunk(ctx, &b, chunks + (size_t)c * (size_t)n_ctx, n_ctx, save_position, &s) != 0) break;
        printf("[%d]%.4f,", c + 1, exp(s.nll / (double)s.n));
        fflush(stdout);
        if (c == 0) fprintf(stderr, "celer ppl: %.2f s per chunk\n", celer_time_s() - t0);
    }
    printf("\n");
    bool ok = !s.failed && s.n == (long long)n_chunks * (n_ctx - n_ctx / 2 - 1);
    int saved = errno;
    if (fclose(s.fp) != 0) ok = false;
    if (!ok) {
        if (s.failed) fprintf(stderr, "celer ppl: writing '%s' failed: %s\n", tmp, strerror(saved));
        remove(tmp);
    } else if (rename(tmp, path) != 0) {
        fprintf(stderr, "celer ppl: cannot rename '%s' to '%s': %s\n", tmp, path, strerror(errno));
        remove(tmp);
    } else {
        printf("Final estimate: PPL = %.4f (reference logits of %lld positions saved to %s)\n", exp(s.nll / (double)s.n), s.n, path);
        rc = 0;
    }
done:
    celer_batch_free(&b);
    free(tmp);
    free(chunks);
    free(s.lp);
    free(s.q);
    return rc;
}

int ppl_kld_peek(const char *path, int32_t *n_ctx) {
    FILE *fp = fopen(path, "rb");
    uint32_t hdr[5];
    bool ok = fp && fread(hdr, 4, 5, fp) == 5 && memcmp(hdr, KLD_MAGIC, 4) == 0 && hdr[1] == KLD_VERSION && hdr[3] >= 4 && hdr[3] <= (1u << 20);
    if (fp) fclose(fp);
    if (!ok) {
        fprintf(stderr, "celer ppl: %s: %s\n", path, fp ? "not a reference-logits file of this version (made by celer ppl --kl-save)" : strerror(errno));
        return 1;
    }
    *n_ctx = (int32_t)hdr[3];
    return 0;
}

/* ---- compare ---- */

typedef struct {
    FILE *fp;
    const char *path;
    int32_t n_vocab;
    double *lp, *lq;
    uint16_t *q;
    double nll_p, nll_q, nll_p2, nll_q2, nll_pq; /* sums for the PPL ratio's error */
    double *kld; /* (capacity) per position */
    long long n, cap, same_top;
    bool failed;
} cmp_state;

static bool cmp_position(void *user, int32_t pos, const float *logits, int32_t next) {
    (void)pos;
    cmp_state *s = user;
    float hdr[2];
    if (s->n >= s->cap || fread(hdr, 4, 2, s->fp) != 2 || fread(s->q, 2, (size_t)s->n_vocab, s->fp) != (size_t)s->n_vocab ||
        !isfinite(hdr[0]) || !isfinite(hdr[1]) || !(hdr[1] > 0.0f)) {
        fprintf(stderr, "celer ppl: %s: truncated or corrupt at position %lld\n", s->path, s->n);
        s->failed = true;
        return false;
    }
    /* the saved distribution, renormalized after the 16-bit rounding */
    double sum = 0.0;
    int32_t top_p = 0, top_q = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        s->lp[i] = (double)hdr[0] + (double)hdr[1] * (double)s->q[i];
        sum += exp(s->lp[i]);
        if (s->q[i] > s->q[top_p]) top_p = i;
    }
    double lsum = log(sum);
    log_softmax(logits, s->lq, s->n_vocab);
    double kl = 0.0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        double lp = s->lp[i] - lsum;
        kl += exp(lp) * (lp - s->lq[i]);
        if (s->lq[i] > s->lq[top_q]) top_q = i;
    }
    double np = -(s->lp[next] - lsum), nq = -s->lq[next];
    s->nll_p += np, s->nll_q += nq, s->nll_p2 += np * np, s->nll_q2 += nq * nq, s->nll_pq += np * nq;
    s->kld[s->n++] = kl > 0.0 ? kl : 0.0;
    s->same_top += top_p == top_q;
    return true;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int ppl_kld_compare(celer_context *ctx, const char *path, int32_t n_chunks) {
    const celer_model *m = celer_context_model(ctx);
    int32_t n_vocab = celer_model_n_vocab(m);
    cmp_state s = {.path = path, .n_vocab = n_vocab};
    celer_batch b = {0};
    celer_error err = {0};
    int32_t *tokens = NULL;
    int rc = 1;
    uint32_t hdr[5];
    if (!(s.fp = fopen(path, "rb"))) {
        fprintf(stderr, "celer ppl: cannot open '%s': %s (make it with --kl-save on the reference model)\n", path, strerror(errno));
        return 1;
    }
    if (fread(hdr, 4, 5, s.fp) != 5 || memcmp(hdr, KLD_MAGIC, 4) != 0 || hdr[1] != KLD_VERSION) {
        fprintf(stderr, "celer ppl: %s: not a reference-logits file of this version (made by celer ppl --kl-save)\n", path);
        goto done;
    }
    uint32_t f_vocab = hdr[2], n_ctx = hdr[3], f_chunks = hdr[4];
    if ((int32_t)f_vocab != n_vocab) {
        fprintf(stderr, "celer ppl: %s holds a vocabulary of %u tokens, the model has %d\n", path, f_vocab, n_vocab);
        goto done;
    }
    if (n_ctx < 4 || n_ctx > (uint32_t)celer_context_n_ctx(ctx) || f_chunks < 1 || f_chunks > (1u << 20)) {
        fprintf(stderr, "celer ppl: %s: chunks of %u tokens, %u chunks: out of range (context %d)\n", path, n_ctx, f_chunks,
                celer_context_n_ctx(ctx));
        goto done;
    }
    if (n_chunks < 0 || (uint32_t)n_chunks > f_chunks) n_chunks = (int32_t)f_chunks;
    size_t n_tok = (size_t)f_chunks * n_ctx;
    tokens = malloc(n_tok * sizeof(int32_t));
    s.cap = (long long)n_chunks * (n_ctx - n_ctx / 2 - 1);
    s.kld = malloc((size_t)s.cap * sizeof(double));
    s.lp = malloc((size_t)n_vocab * sizeof(double));
    s.lq = malloc((size_t)n_vocab * sizeof(double));
    s.q = malloc((size_t)n_vocab * sizeof(uint16_t));
    if (!tokens || !s.kld || !s.lp || !s.lq || !s.q ||
        celer_batch_init(&b, celer_context_n_batch(ctx) < (int32_t)n_ctx ? celer_context_n_batch(ctx) : (int32_t)n_ctx, &err) != CELER_OK) {
        fprintf(stderr, "celer ppl: out of memory\n");
        goto done;
    }
    if (fread(tokens, sizeof(int32_t), n_tok, s.fp) != n_tok) {
        fprintf(stderr, "celer ppl: %s: truncated in its tokens\n", path);
        goto done;
    }
    for (size_t i = 0; i < n_tok; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            fprintf(stderr, "celer ppl: %s: token %d at %zu out of the vocabulary\n", path, tokens[i], i);
            goto done;
        }
    fprintf(stderr, "celer ppl: %s: %d chunks of %u tokens, KL divergence against its reference\n", path, n_chunks, n_ctx);
    double t0 = celer_time_s();
    for (int32_t c = 0; c < n_chunks; c++) {
        if (run_chunk(ctx, &b, tokens + (size_t)c * n_ctx, (int32_t)n_ctx, cmp_position, &s) != 0) goto done;
        double kl_run = 0.0;
        for (long long i = 0; i < s.n; i++) kl_run += s.kld[i];
        printf("[%d]%.4f/%.5f,", c + 1, exp(s.nll_q / (double)s.n), kl_run / (double)s.n);
        fflush(stdout);
        if (c == 0) fprintf(stderr, "celer ppl: %.2f s per chunk\n", celer_time_s() - t0);
    }
    printf("\n");
    double n = (double)s.n;
    double mq = s.nll_q / n, mp = s.nll_p / n;
    double var_q = s.nll_q2 / n - mq * mq, var_p = s.nll_p2 / n - mp * mp, cov = s.nll_pq / n - mq * mp;
    double ppl_q = exp(mq), ppl_p = exp(mp);
    double d_se = sqrt(fmax(var_q + var_p - 2.0 * cov, 0.0) / (n - 1.0));
    double kl_sum = 0.0, kl_sum2 = 0.0;
    for (long long i = 0; i < s.n; i++) kl_sum += s.kld[i], kl_sum2 += s.kld[i] * s.kld[i];
    double kl_mean = kl_sum / n, kl_se = sqrt(fmax(kl_sum2 / n - kl_mean * kl_mean, 0.0) / (n - 1.0));
    qsort(s.kld, (size_t)s.n, sizeof(double), cmp_double);
    double same = (double)s.same_top / n;
    printf("positions            %lld\n", s.n);
    printf("PPL(Q)               %.4f +/- %.5f\n", ppl_q, ppl_q * sqrt(fmax(var_q, 0.0) / (n - 1.0)));
    printf("PPL(base)            %.4f +/- %.5f\n", ppl_p, ppl_p * sqrt(fmax(var_p, 0.0) / (n - 1.0)));
    printf("ln(PPL(Q)/PPL(base)) %.6f +/- %.6f\n", mq - mp, d_se);
    printf("PPL(Q)/PPL(base)     %.5f\n", exp(mq - mp));
    printf("Mean KLD             %.6f +/- %.6f\n", kl_mean, kl_se);
    printf("Median KLD           %.6f\n", s.kld[s.n / 2]);
    printf("KLD 90%%              %.6f\n", s.kld[(long long)(0.90 * (n - 1))]);
    printf("KLD 99%%              %.6f\n", s.kld[(long long)(0.99 * (n - 1))]);
    printf("KLD 99.9%%            %.6f\n", s.kld[(long long)(0.999 * (n - 1))]);
    printf("Maximum KLD          %.6f\n", s.kld[s.n - 1]);
    printf("Same top-1           %.3f +/- %.3f %%\n", 100.0 * same, 100.0 * sqrt(same * (1.0 - same) / (n - 1.0)));
    rc = 0;
done:
    if (s.fp) fclose(s.fp);
    celer_batch_free(&b);
    free(tokens);
    free(s.kld);
    free(s.lp);
    free(s.lq);
    free(s.q);
    return rc;
}
