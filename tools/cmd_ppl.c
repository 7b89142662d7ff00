/* cmd_ppl.c: `celer ppl`: perplexity over non-overlapping chunks, computed the way
 * llama.cpp's llama-perplexity does (first token of a chunk replaced by BOS when the
 * model adds one, only the second half of each chunk scored, standard error of the
 * mean negative log-likelihood), so the two tools' figures compare directly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celer.h"
#include "cli.h"
#include "core/timer.h"

typedef struct {
    const char *model_path;
    const char *text_path;
    int32_t n_chunks; /* -1: all */
    celer_context_params ctx;
} ppl_options;

static void ppl_usage(FILE *out) {
    celer_context_params c;
    celer_context_params_default(&c);
    fprintf(out,
            "usage: celer ppl -f TEXT [options]\n"
            "\n"
            "Perplexity of the model over TEXT in non-overlapping chunks of -c tokens, scoring\n"
            "the second half of each chunk (llama-perplexity's method and output).\n"
            "\n"
            "  -m, --model FILE     GGUF model (default: $CELER_MODEL, else %s)\n"
            "  -f, --file FILE      text to evaluate (required), e.g. wiki.test.raw\n"
            "  -c, --ctx-size N     tokens per chunk (default: 512)\n"
            "      --chunks N       evaluate only the first N chunks, -1 = all (default: -1)\n"
            "  -t, --threads N      threads (default: %d)\n"
            "  -b, --batch-size N   tokens per forward pass (default: the chunk size)\n"
            "  -h, --help           this help\n",
            CELER_DEFAULT_MODEL, c.n_threads);
}

static int ppl_parse(int argc, char **argv, ppl_options *o) {
    const char *cmd = "ppl";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") || !strcmp(a, "--file") || !strcmp(a, "-c") ||
            !strcmp(a, "--ctx-size") || !strcmp(a, "--chunks") || !strcmp(a, "-t") || !strcmp(a, "--threads") ||
            !strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        } else {
            fprintf(stderr, "celer ppl: unknown option '%s' (try `celer ppl --help`)\n", a);
            return 2;
        }
        bool ok = true;
        if (a[1] == 'm' || !strcmp(a, "--model")) o->model_path = v;
        else if (a[1] == 'f' || !strcmp(a, "--file")) o->text_path = v;
        else if (a[1] == 'c' || !strcmp(a, "--ctx-size")) ok = cli_parse_int(cmd, a, v, 16, 1 << 20, &o->ctx.n_ctx);
        else if (!strcmp(a, "--chunks")) ok = cli_parse_int(cmd, a, v, -1, 1 << 30, &o->n_chunks);
        else if (a[1] == 't' || !strcmp(a, "--threads")) ok = cli_parse_int(cmd, a, v, 1, 1024, &o->ctx.n_threads);
        else ok = cli_parse_int(cmd, a, v, 1, 65536, &o->ctx.n_batch);
        if (!ok) return 2;
    }
    if (!o->text_path) {
        fprintf(stderr, "celer ppl: no text: pass -f FILE (try `celer ppl --help`)\n");
        return 2;
    }
    return 0;
}

/* -log p(token) from one row of logits, in double like llama-perplexity. */
static double nll_of(const float *logits, int32_t n_vocab, int32_t token) {
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - max));
    return -((double)(logits[token] - max) - log(sum));
}

/* Evaluates chunk [start, start + n_ctx) and adds the second half's NLL. */
static celer_status ppl_chunk(celer_context *ctx, celer_batch *b, const int32_t *tokens, int32_t n_ctx, int32_t n_vocab,
                              int32_t bos, double *nll, double *nll2, celer_error *err) {
    const int32_t first = n_ctx / 2;
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

static int ppl_run(const ppl_options *o, celer_model *m, celer_context *ctx, const int32_t *tokens, size_t n_tokens) {
    const int32_t n_ctx = o->ctx.n_ctx, n_vocab = celer_model_n_vocab(m);
    if (n_tokens < 2 * (size_t)n_ctx) {
        fprintf(stderr, "celer ppl: '%s' has %zu tokens; a context of %d needs at least %d\n", o->text_path, n_tokens, n_ctx, 2 * n_ctx);
        return 1;
    }
    int32_t n_chunk = (int32_t)(n_tokens / (size_t)n_ctx);
    if (o->n_chunks >= 0 && o->n_chunks < n_chunk) n_chunk = o->n_chunks;
    int32_t bos = celer_model_adds_bos(m) ? celer_token_bos(m) : -1;
    celer_batch b;
    celer_error err = {0};
    if (celer_batch_init(&b, o->ctx.n_batch, &err) != CELER_OK) {
        fprintf(stderr, "celer ppl: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "celer ppl: %zu tokens, %d chunks of %d, scoring the last %d tokens of each\n", n_tokens, n_chunk, n_ctx,
            n_ctx - n_ctx / 2 - 1);
    double nll = 0.0, nll2 = 0.0, t0 = celer_time_s();
    long long count = 0;
    int rc = 0;
    for (int32_t i = 0; i < n_chunk; i++) {
        if (ppl_chunk(ctx, &b, tokens + (size_t)i * n_ctx, n_ctx, n_vocab, bos, &nll, &nll2, &err) != CELER_OK) {
            fprintf(stderr, "\nceler ppl: chunk %d: %s\n", i, err.msg);
            rc = 1;
            break;
        }
        count += n_ctx - n_ctx / 2 - 1;
        if (i == 0) fprintf(stderr, "celer ppl: %.2f s per chunk, about %.1f min in all\n", celer_time_s() - t0, (celer_time_s() - t0) * n_chunk / 60.0);
        printf("[%d]%.4f,", i + 1, exp(nll / (double)count));
        fflush(stdout);
    }
    printf("\n");
    if (rc == 0) {
        double mean = nll / (double)count, var = nll2 / (double)count - mean * mean;
        double ppl = exp(mean);
        if (var > 0 && count > 1) printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, sqrt(var / (double)(count - 1)) * ppl);
        else printf("Final estimate: PPL = %.4f\n", ppl);
    }
    celer_batch_free(&b);
    return rc;
}

int cmd_ppl(int argc, char **argv) {
    ppl_options o = {.n_chunks = -1};
    celer_context_params_default(&o.ctx);
    o.ctx.n_ctx = 512;
    o.ctx.n_batch = 0;
    int rc = ppl_parse(argc, argv, &o);
    if (rc == 1) {
        ppl_usage(stdout);
        return 0;
    }
    if (rc != 0) return rc;
    if (o.ctx.n_batch == 0 || o.ctx.n_batch > o.ctx.n_ctx) o.ctx.n_batch = o.ctx.n_ctx;
    size_t len = 0;
    char *text = cli_read_file("ppl", o.text_path, &len);
    if (!text) return 1;
    celer_error err = {0};
    celer_model *m = NULL;
    celer_context *ctx = NULL;
    int32_t *tokens = NULL;
    size_t n_tokens = 0;
    if (celer_model_load(cli_model_path(o.model_path), &m, &err) != CELER_OK ||
        celer_context_new(m, &o.ctx, &ctx, &err) != CELER_OK ||
        celer_tokenize(m, text, len, true, false, &tokens, &n_tokens, &err) != CELER_OK) {
        fprintf(stderr, "celer ppl: %s\n", err.msg);
        rc = 1;
    } else {
        rc = ppl_run(&o, m, ctx, tokens, n_tokens);
    }
    free(tokens);
    free(text);
    celer_context_free(ctx);
    celer_model_free(m);
    return rc;
}
