/* cmd_ppl.c: `celer ppl`: perplexity over non-overlapping chunks, computed the way
 * llama.cpp's llama-perplexity does (first token of a chunk replaced by BOS when the
 * model adds one, only the second half of each chunk scored, standard error of the
 * mean negative log-likelihood), so the two tools' figures compare directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celer.h"
#include "cli.h"
#include "core/timer.h"

typedef struct {
    const char *model_path;
    const char *text_path;
    const char *kl_save, *kl_base; /* reference logits: write / compare against */
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
            "  -m, --model PATH     GGUF file or Hugging Face model directory (default: $CELER_MODEL, else %s)\n"
            "  -f, --file FILE      text to evaluate (required unless --kl-base), e.g. wiki.test.raw\n"
            "  -c, --ctx-size N     tokens per chunk (default: 512)\n"
            "      --chunks N       evaluate only the first N chunks, -1 = all (default: -1)\n"
            "  -t, --threads N      threads (default: %d)\n"
            "  -b, --batch-size N   tokens per forward pass (default: the chunk size)\n"
            "      --gpu            run on CUDA device 0 (a build with -DCELER_CUDA=ON)\n"
            "      --kl-save FILE   also save the model's log-probabilities at every scored position\n"
            "                       to FILE (about 100 KB per position for a 49k vocabulary), as the\n"
            "                       reference for --kl-base\n"
            "      --kl-base FILE   compare with the reference saved in FILE, on its tokens: PPL of\n"
            "                       both and their ratio, KL divergence per position (mean, median,\n"
            "                       percentiles, maximum) and top-1 agreement\n"
            "  -h, --help           this help\n",
            CELER_DEFAULT_MODEL, c.n_threads);
}

static int ppl_parse(int argc, char **argv, ppl_options *o) {
    const char *cmd = "ppl";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (!strcmp(a, "--gpu")) {
            o->ctx.gpu = true;
            continue;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") || !strcmp(a, "--file") || !strcmp(a, "-c") ||
            !strcmp(a, "--ctx-size") || !strcmp(a, "--chunks") || !strcmp(a, "-t") || !strcmp(a, "--threads") ||
            !strcmp(a, "-b") || !strcmp(a, "--batch-size") || !strcmp(a, "--kl-save") || !strcmp(a, "--kl-base")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        } else {
            fprintf(stderr, "celer ppl: unknown option '%s' (try `celer ppl --help`)\n", a);
            return 2;
        }
        bool ok = true;
        if (!strcmp(a, "--kl-save")) o->kl_save = v;
        else if (!strcmp(a, "--kl-base")) o->kl_base = v;
        else if (a[1] == 'm' || !strcmp(a, "--model")) o->model_path = v;
        else if (a[1] == 'f' || !strcmp(a, "--file")) o->text_path = v;
        else if (a[1] == 'c' || !strcmp(a, "--ctx-size")) ok = cli_parse_int(cmd, a, v, 16, 1 << 20, &o->ctx.n_ctx);
        else if (!strcmp(a, "--chunks")) ok = cli_parse_int(cmd, a, v, -1, 1 << 30, &o->n_chunks);
        else if (a[1] == 't' || !strcmp(a, "--threads")) ok = cli_parse_int(cmd, a, v, 1, 1024, &o->ctx.n_threads);
        else ok = cli_parse_int(cmd, a, v, 1, 65536, &o->ctx.n_batch);
        if (!ok) return 2;
    }
    if (o->kl_save && o->kl_base) {
        fprintf(stderr, "celer ppl: --kl-save and --kl-base: one at a time (save with the reference model, compare with the other)\n");
        return 2;
    }
    if (!o->text_path && !o->kl_base) {
        fprintf(stderr, "celer ppl: no text: pass -f FILE (try `celer ppl --help`)\n");
        return 2;
    }
    return 0;
}

static bool print_chunk(void *user, int32_t chunk, double running_ppl) {
    double *t0 = user;
    if (chunk == 0) fprintf(stderr, "celer ppl: %.2f s per chunk\n", celer_time_s() - *t0);
    printf("[%d]%.4f,", chunk + 1, running_ppl);
    fflush(stdout);
    return true;
}

static int ppl_run(const ppl_options *o, celer_context *ctx, const int32_t *tokens, size_t n_tokens) {
    celer_error err = {0};
    celer_ppl_result r;
    fprintf(stderr, "celer ppl: %zu tokens, chunks of %d, scoring the last %d tokens of each\n", n_tokens, o->ctx.n_ctx,
            o->ctx.n_ctx - o->ctx.n_ctx / 2 - 1);
    double t0 = celer_time_s();
    celer_status st = celer_perplexity(ctx, tokens, n_tokens, o->ctx.n_ctx, o->n_chunks, print_chunk, &t0, &r, &err);
    printf("\n");
    if (st != CELER_OK) {
        fprintf(stderr, "celer ppl: %s: %s\n", o->text_path, err.msg);
        return 1;
    }
    printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
    fprintf(stderr, "celer ppl: %d chunks, %lld tokens scored in %.1f s\n", r.n_chunks, r.n_scored, celer_time_s() - t0);
    return 0;
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
    if (o.kl_base && ppl_kld_peek(o.kl_base, &o.ctx.n_ctx) != 0) return 1;
    if (o.ctx.n_batch == 0 || o.ctx.n_batch > o.ctx.n_ctx) o.ctx.n_batch = o.ctx.n_ctx;
    celer_error err = {0};
    if (o.kl_base) { /* the tokens come from the reference file */
        celer_model *m = NULL;
        celer_context *ctx = NULL;
        rc = 1;
        if (celer_model_load(cli_model_path(o.model_path), &m, &err) != CELER_OK || celer_context_new(m, &o.ctx, &ctx, &err) != CELER_OK)
            fprintf(stderr, "celer ppl: %s\n", err.msg);
        else
            rc = ppl_kld_compare(ctx, o.kl_base, o.n_chunks);
        celer_context_free(ctx);
        celer_model_free(m);
        return rc;
    }
    size_t len = 0;
    char *text = cli_read_file("ppl", o.text_path, &len);
    if (!text) return 1;
    celer_model *m = NULL;
    celer_context *ctx = NULL;
    int32_t *tokens = NULL;
    size_t n_tokens = 0;
    if (celer_model_load(cli_model_path(o.model_path), &m, &err) != CELER_OK ||
        celer_context_new(m, &o.ctx, &ctx, &err) != CELER_OK ||
        celer_tokenize(m, text, len, true, false, &tokens, &n_tokens, &err) != CELER_OK) {
        fprintf(stderr, "celer ppl: %s\n", err.msg);
        rc = 1;
    } else if (o.kl_save) {
        rc = ppl_kld_save(ctx, o.kl_save, tokens, n_tokens, o.ctx.n_ctx, o.n_chunks);
    } else {
        rc = ppl_run(&o, ctx, tokens, n_tokens);
    }
    free(tokens);
    free(text);
    celer_context_free(ctx);
    celer_model_free(m);
    return rc;
}
