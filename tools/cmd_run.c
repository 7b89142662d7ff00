/* cmd_run.c: `celer run`: one completion, a one-shot chat reply, or an interactive
 * chat, streamed to stdout; speeds and memory to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "celer.h"
#include "cli.h"

typedef struct {
    const char *model_path;
    const char *prompt;
    const char *prompt_file;
    const char *system;
    const char *chat_template;
    bool chat;
    bool interactive;
    bool ignore_eos;
    bool quiet;
    celer_generate_params gen;
    celer_context_params ctx;
} run_options;

static void run_usage(FILE *out) {
    celer_context_params c;
    celer_context_params_default(&c);
    fprintf(out,
            "usage: celer run [options]\n"
            "\n"
            "Generates a continuation of the prompt (or, with --chat, the assistant's reply)\n"
            "and streams it to stdout. Timings and memory go to stderr.\n"
            "\n"
            "  -m, --model PATH        GGUF file or Hugging Face model directory (default: $CELER_MODEL, else %s)\n"
            "  -p, --prompt TEXT       prompt text\n"
            "  -f, --file FILE         read the prompt from FILE\n"
            "  -n, --n-predict N       tokens to generate, -1 = until end of generation (default: 256)\n"
            "      --chat              apply the model's chat template to the prompt (one reply)\n"
            "  -cnv, --interactive     interactive chat: read user turns from stdin until EOF or /exit\n"
            "  -sys, --system TEXT     system message for --chat / -cnv (default: none)\n"
            "      --chat-template NAME  override the template the model's file names (chatml, llama3,\n"
            "                          llama2, mistral-v7, gemma, phi3, ...; a bad NAME lists them all)\n"
            "      --temp T            temperature, 0 = greedy (default: 0.8)\n"
            "      --top-k K           keep the K most likely tokens, 0 = off (default: 40)\n"
            "      --top-p P           nucleus sampling, 1 = off (default: 0.95)\n"
            "      --min-p P           drop tokens below P x the top probability, 0 = off (default: 0.05)\n"
            "      --repeat-penalty R  penalise the last --repeat-last-n tokens, 1 = off (default: 1.0)\n"
            "      --repeat-last-n N   (default: 64)\n"
            "  -s, --seed S            random seed (default: from the clock)\n"
            "      --ignore-eos        keep generating past end-of-generation tokens\n"
            "  -t, --threads N         threads (default: %d, the online cores)\n"
            "  -c, --ctx-size N        context size in tokens, 0 = min(model's, 4096) (default: 0)\n"
            "  -b, --batch-size N      tokens per forward pass during the prompt (default: %d)\n"
            "      --quiet             no speed report on stderr\n"
            "      --gpu               run on CUDA device 0 (a build with -DCELER_CUDA=ON)\n"
            "  -h, --help              this help\n",
            CELER_DEFAULT_MODEL, c.n_threads, c.n_batch);
}

/* Returns 0 on success, 2 on a bad option, 1 for --help. */
static int run_parse(int argc, char **argv, run_options *o) {
    const char *cmd = "run";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
#define VALUE() \
    if (!(v = cli_value(cmd, argc, argv, &i))) return 2
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VALUE(); o->model_path = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { VALUE(); o->prompt = v; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { VALUE(); o->prompt_file = v; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { VALUE(); if (!cli_parse_int(cmd, a, v, -1, 1 << 24, &o->gen.n_predict)) return 2; }
        else if (!strcmp(a, "--chat")) o->chat = true;
        else if (!strcmp(a, "-cnv") || !strcmp(a, "--interactive")) o->interactive = o->chat = true;
        else if (!strcmp(a, "-sys") || !strcmp(a, "--system")) { VALUE(); o->system = v; }
        else if (!strcmp(a, "--chat-template")) { VALUE(); o->chat_template = v; }
        else if (!strcmp(a, "--temp")) { VALUE(); if (!cli_parse_float(cmd, a, v, 0, 100, &o->gen.sampling.temperature)) return 2; }
        else if (!strcmp(a, "--top-k")) { VALUE(); if (!cli_parse_int(cmd, a, v, 0, 1 << 30, &o->gen.sampling.top_k)) return 2; }
        else if (!strcmp(a, "--top-p")) { VALUE(); if (!cli_parse_float(cmd, a, v, 0, 1, &o->gen.sampling.top_p)) return 2; }
        else if (!strcmp(a, "--min-p")) { VALUE(); if (!cli_parse_float(cmd, a, v, 0, 1, &o->gen.sampling.min_p)) return 2; }
        else if (!strcmp(a, "--repeat-penalty")) { VALUE(); if (!cli_parse_float(cmd, a, v, 0.01, 100, &o->gen.sampling.repeat_penalty)) return 2; }
        else if (!strcmp(a, "--repeat-last-n")) { VALUE(); if (!cli_parse_int(cmd, a, v, 0, 1 << 20, &o->gen.sampling.repeat_last_n)) return 2; }
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) { VALUE(); if (!cli_parse_u64(cmd, a, v, &o->gen.sampling.seed)) return 2; }
        else if (!strcmp(a, "--ignore-eos")) o->gen.ignore_eog = true;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VALUE(); if (!cli_parse_int(cmd, a, v, 1, 1024, &o->ctx.n_threads)) return 2; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { VALUE(); if (!cli_parse_int(cmd, a, v, 0, 1 << 24, &o->ctx.n_ctx)) return 2; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { VALUE(); if (!cli_parse_int(cmd, a, v, 1, 65536, &o->ctx.n_batch)) return 2; }
        else if (!strcmp(a, "--quiet")) o->quiet = true;
        else if (!strcmp(a, "--gpu")) o->ctx.gpu = true;
        else {
            fprintf(stderr, "celer run: unknown option '%s' (try `celer run --help`)\n", a);
            return 2;
        }
#undef VALUE
    }
    if (o->prompt && o->prompt_file) {
        fprintf(stderr, "celer run: give the prompt with -p or -f, not both\n");
        return 2;
    }
    if (!o->prompt && !o->prompt_file && !o->interactive) {
        fprintf(stderr, "celer run: no prompt: pass -p TEXT, -f FILE or -cnv (try `celer run --help`)\n");
        return 2;
    }
    return 0;
}

static bool print_token(void *user, int32_t token, const char *text, size_t len) {
    (void)user;
    (void)token;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static void report(const run_options *o, const celer_generate_stats *s) {
    if (o->quiet) return;
    fprintf(stderr, "\n\nceler: prompt %d tokens in %.1f ms (%.1f tok/s, time to first token); generated %d tokens in %.1f ms (%.1f tok/s); peak memory %.1f MiB\n",
            s->n_prompt, 1e3 * s->prompt_s, s->prompt_s > 0 ? s->n_prompt / s->prompt_s : 0.0, s->n_generated, 1e3 * s->generate_s,
            s->generate_s > 0 && s->n_generated > 1 ? (s->n_generated - 1) / s->generate_s : 0.0, cli_peak_rss_mib());
}

/* Tokens known to be in the KV cache of sequence 0, in order. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
    char *reply; /* text generated in the current turn */
    size_t reply_len, reply_cap;
} chat_state;

static bool chat_push(chat_state *c, int32_t token, const char *text, size_t len) {
    if (token >= 0) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 1024;
            int32_t *ids = realloc(c->ids, cap * sizeof(int32_t));
            if (!ids) return false;
            c->ids = ids;
            c->cap = cap;
        }
        c->ids[c->n++] = token;
    }
    if (c->reply_len + len + 1 > c->reply_cap) {
        size_t cap = 2 * (c->reply_len + len + 1) + 256;
        char *r = realloc(c->reply, cap);
        if (!r) return false;
        c->reply = r;
        c->reply_cap = cap;
    }
    memcpy(c->reply + c->reply_len, text, len);
    c->reply_len += len;
    c->reply[c->reply_len] = '\0';
    return true;
}

static bool chat_on_token(void *user, int32_t token, const char *text, size_t len) {
    print_token(NULL, token, text, len);
    return chat_push(user, token, text, len);
}

/* Tokenizes the conversation, reuses the cached prefix and generates the reply. */
static int chat_turn(const run_options *o, celer_model *m, celer_context *ctx, chat_state *cs, const celer_chat_message *msgs,
                     size_t n_msgs) {
    celer_error err = {0};
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (celer_chat_render(m, o->chat_template, msgs, n_msgs, true, &text, &err) != CELER_OK ||
        celer_tokenize(m, text, strlen(text), true, true, &ids, &n_ids, &err) != CELER_OK) {
        fprintf(stderr, "celer run: %s\n", err.msg);
        free(text);
        return 1;
    }
    free(text);
    size_t keep = 0;
    while (keep < cs->n && keep < n_ids && cs->ids[keep] == ids[keep]) keep++;
    if (keep == n_ids) keep--; /* at least one token must be evaluated to get logits */
    celer_seq_truncate(ctx, 0, (int32_t)keep);
    cs->n = keep;
    for (size_t i = keep; i < n_ids; i++) chat_push(cs, ids[i], "", 0);
    cs->reply_len = 0;
    celer_generate_stats stats;
    celer_status st = celer_generate(ctx, 0, ids + keep, n_ids - keep, &o->gen, chat_on_token, cs, &stats, &err);
    free(ids);
    if ((size_t)celer_seq_len(ctx, 0) < cs->n) cs->n = (size_t)celer_seq_len(ctx, 0);
    if (st != CELER_OK) {
        fprintf(stderr, "\nceler run: %s\n", err.msg);
        return 1;
    }
    report(o, &stats);
    return 0;
}

static int run_interactive(const run_options *o, celer_model *m, celer_context *ctx) {
    celer_chat_message msgs[512];
    char *owned[512];
    size_t n = 0, n_owned = 0;
    chat_state cs = {0};
    int rc = 0;
    if (o->system) msgs[n++] = (celer_chat_message){"system", o->system};
    if (o->prompt) msgs[n++] = (celer_chat_message){"user", o->prompt};
    char *line = NULL;
    size_t line_cap = 0;
    for (;;) {
        if (n == 0 || strcmp(msgs[n - 1].role, "user") != 0) {
            fputs("\n> ", stdout);
            fflush(stdout);
            ssize_t got = getline(&line, &line_cap, stdin);
            if (got < 0) break;
            while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
            if (strcmp(line, "/exit") == 0) break;
            if (got == 0) continue;
            if (n + 2 > sizeof(msgs) / sizeof(msgs[0])) {
                fprintf(stderr, "celer run: the conversation reached %zu messages; start a new one\n", n);
                break;
            }
            if (!(owned[n_owned++] = strdup(line))) { rc = 1; break; }
            msgs[n++] = (celer_chat_message){"user", owned[n_owned - 1]};
        }
        if ((rc = chat_turn(o, m, ctx, &cs, msgs, n)) != 0) break;
        if (!(owned[n_owned++] = strdup(cs.reply ? cs.reply : ""))) { rc = 1; break; }
        msgs[n++] = (celer_chat_message){"assistant", owned[n_owned - 1]};
    }
    free(line);
    for (size_t i = 0; i < n_owned; i++) free(owned[i]);
    free(cs.ids);
    free(cs.reply);
    return rc;
}

static int run_once(const run_options *o, celer_model *m, celer_context *ctx, const char *prompt) {
    celer_error err = {0};
    if (o->chat) {
        celer_chat_message msgs[2];
        size_t n = 0;
        if (o->system) msgs[n++] = (celer_chat_message){"system", o->system};
        msgs[n++] = (celer_chat_message){"user", prompt};
        chat_state cs = {0};
        int rc = chat_turn(o, m, ctx, &cs, msgs, n);
        free(cs.ids);
        free(cs.reply);
        return rc;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (celer_tokenize(m, prompt, strlen(prompt), true, true, &ids, &n_ids, &err) != CELER_OK) {
        fprintf(stderr, "celer run: %s\n", err.msg);
        return 1;
    }
    fputs(prompt, stdout);
    celer_generate_stats stats;
    celer_status st = celer_generate(ctx, 0, ids, n_ids, &o->gen, print_token, NULL, &stats, &err);
    free(ids);
    if (st != CELER_OK) {
        fprintf(stderr, "\nceler run: %s\n", err.msg);
        return 1;
    }
    report(o, &stats);
    return 0;
}

int cmd_run(int argc, char **argv) {
    run_options o = {0};
    o.gen.n_predict = 256;
    celer_sampling_default(&o.gen.sampling);
    celer_context_params_default(&o.ctx);
    int rc = run_parse(argc, argv, &o);
    if (rc == 1) {
        run_usage(stdout);
        return 0;
    }
    if (rc != 0) return rc;
    char *file_prompt = NULL;
    size_t file_len = 0;
    if (o.prompt_file) {
        if (!(file_prompt = cli_read_file("run", o.prompt_file, &file_len))) return 1;
        if (strlen(file_prompt) != file_len) {
            fprintf(stderr, "celer run: '%s' contains a NUL byte; prompts are text\n", o.prompt_file);
            free(file_prompt);
            return 1;
        }
        o.prompt = file_prompt;
    }
    celer_error err = {0};
    celer_model *m = NULL;
    celer_context *ctx = NULL;
    const char *path = cli_model_path(o.model_path);
    if (celer_model_load(path, &m, &err) != CELER_OK || celer_context_new(m, &o.ctx, &ctx, &err) != CELER_OK) {
        fprintf(stderr, "celer run: %s\n", err.msg);
        if (!o.model_path && strcmp(path, CELER_DEFAULT_MODEL) == 0)
            fprintf(stderr, "celer run: get the default model with scripts/get-model.sh, or pass -m FILE\n");
        celer_model_free(m);
        free(file_prompt);
        return 1;
    }
    if (!o.quiet) {
        char desc[512];
        celer_model_describe(m, desc, sizeof(desc));
        fprintf(stderr, "celer: %s; context %d, %d threads\n", desc, celer_context_n_ctx(ctx), o.ctx.n_threads);
    }
    rc = o.interactive ? run_interactive(&o, m, ctx) : run_once(&o, m, ctx, o.prompt);
    celer_context_free(ctx);
    celer_model_free(m);
    free(file_prompt);
    return rc;
}
