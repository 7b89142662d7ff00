/* cmd_serve.c: `celer serve`: an OpenAI-compatible HTTP server with continuous
 * batching (src/server/, src/engine/scheduler.c). Listens first (/health says 503 while
 * the model loads), serves until SIGINT or SIGTERM, then ends every stream cleanly.
 * Tests: tests/test_serve.sh, tests/test_cli.sh. */
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celer.h"
#include "cli.h"
#include "engine/scheduler.h"
#include "server/server.h"

typedef struct {
    const char *model_path;
    const char *alias;
    bool gpu;
    int32_t max_seqs;
    int32_t ctx_per_request;
    int32_t max_body_kib;
    int32_t timeout_s;
    int32_t max_connections;
    celer_context_params ctx;
    server_params http;
} serve_options;

static void serve_usage(FILE *out) {
    celer_context_params c;
    celer_context_params_default(&c);
    fprintf(out,
            "usage: celer serve [options]\n"
            "\n"
            "An OpenAI-compatible HTTP server. Endpoints: POST /v1/chat/completions and\n"
            "/v1/completions (\"stream\": true for server-sent events), GET /v1/models, GET /health\n"
            "(503 while the model loads, then 200), GET /metrics (Prometheus), POST /tokenize,\n"
            "POST /detokenize, and a chat page at /. Requests are batched together every step\n"
            "(continuous batching) and share one paged KV cache of -c positions; a follow-up\n"
            "request reuses the KV of the prefix it shares with a finished one. Stops on SIGINT\n"
            "or SIGTERM.\n"
            "\n"
            "  -m, --model FILE        GGUF model (default: $CELER_MODEL, else %s)\n"
            "      --host ADDR         address to listen on (default: 127.0.0.1, loopback only)\n"
            "      --port N            TCP port, 0 = any free one (default: 8080)\n"
            "      --api-key KEY       require \"Authorization: Bearer KEY\" on every endpoint but / and\n"
            "                          /health (default: $CELER_API_KEY, else none)\n"
            "  -c, --ctx-size N        KV cache positions shared by all requests (default: 4096)\n"
            "      --max-seqs N        requests generating at once; more wait in a queue (default: 16)\n"
            "      --ctx-per-request N most positions (prompt + answer) of one request, 0 = min(-c, the\n"
            "                          model's training context) (default: 0)\n"
            "  -b, --batch-size N      tokens per scheduler step: every generating request's next\n"
            "                          token plus chunks of waiting prompts (default: 256)\n"
            "  -t, --threads N         threads (default: %d, the online cores)\n"
            "      --chat-template NAME  override the model's chat template (chatml, llama3, ...)\n"
            "      --alias NAME        model name in /v1/models and requests (default: the file's name)\n"
            "      --max-body KIB      largest request body in KiB; larger ones get 413 (default: 4096)\n"
            "      --timeout S         close a connection idle for S seconds (default: 600)\n"
            "      --max-conns N       simultaneous connections (default: 256)\n"
            "      --gpu               run on CUDA device 0 (a build with -DCELER_CUDA=ON)\n"
            "  -h, --help              this help\n",
            CELER_DEFAULT_MODEL, c.n_threads);
}

/* Returns 0 on success, 2 on a bad option, 1 for --help. */
static int serve_parse(int argc, char **argv, serve_options *o) {
    const char *cmd = "serve";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
#define VALUE() \
    if (!(v = cli_value(cmd, argc, argv, &i))) return 2
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VALUE(); o->model_path = v; }
        else if (!strcmp(a, "--host")) { VALUE(); o->http.host = v; }
        else if (!strcmp(a, "--port")) { VALUE(); if (!cli_parse_int(cmd, a, v, 0, 65535, &o->http.port)) return 2; }
        else if (!strcmp(a, "--api-key")) { VALUE(); o->http.api_key = v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { VALUE(); if (!cli_parse_int(cmd, a, v, 32, 1 << 24, &o->ctx.n_ctx)) return 2; }
        else if (!strcmp(a, "--max-seqs")) { VALUE(); if (!cli_parse_int(cmd, a, v, 1, 4096, &o->max_seqs)) return 2; }
        else if (!strcmp(a, "--ctx-per-request")) { VALUE(); if (!cli_parse_int(cmd, a, v, 0, 1 << 24, &o->ctx_per_request)) return 2; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { VALUE(); if (!cli_parse_int(cmd, a, v, 1, 65536, &o->ctx.n_batch)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VALUE(); if (!cli_parse_int(cmd, a, v, 1, 1024, &o->ctx.n_threads)) return 2; }
        else if (!strcmp(a, "--chat-template")) { VALUE(); o->http.chat_template = v; }
        else if (!strcmp(a, "--alias")) { VALUE(); o->alias = v; }
        else if (!strcmp(a, "--max-body")) { VALUE(); if (!cli_parse_int(cmd, a, v, 1, 1 << 20, &o->max_body_kib)) return 2; }
        else if (!strcmp(a, "--timeout")) { VALUE(); if (!cli_parse_int(cmd, a, v, 1, 86400, &o->timeout_s)) return 2; }
        else if (!strcmp(a, "--max-conns")) { VALUE(); if (!cli_parse_int(cmd, a, v, 1, 65536, &o->max_connections)) return 2; }
        else if (!strcmp(a, "--gpu")) o->gpu = o->ctx.gpu = true;
        else {
            fprintf(stderr, "celer serve: unknown option '%s' (try `celer serve --help`)\n", a);
            return 2;
        }
#undef VALUE
    }
    if (o->alias && (!*o->alias || strlen(o->alias) > 200)) {
        fprintf(stderr, "celer serve: --alias expects a name of 1 to 200 bytes\n");
        return 2;
    }
    return 0;
}

/* The model's name as clients give it: --alias, else the file name. */
static void model_id(const serve_options *o, const char *path, char *out, size_t size) {
    if (o->alias) {
        snprintf(out, size, "%s", o->alias);
        return;
    }
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(out, size, "%s", basename(copy));
}

int cmd_serve(int argc, char **argv) {
    serve_options o = {.max_seqs = 16, .max_body_kib = 4096, .timeout_s = 600, .max_connections = 256};
    celer_context_params_default(&o.ctx);
    o.ctx.n_ctx = 4096;
    o.ctx.n_batch = 256;
    o.http = (server_params){.host = "127.0.0.1", .port = 8080};
    const char *env_key = getenv("CELER_API_KEY");
    if (env_key && *env_key) o.http.api_key = env_key;
    int rc = serve_parse(argc, argv, &o);
    if (rc == 1) {
        serve_usage(stdout);
        return 0;
    }
    if (rc != 0) return rc;
    o.http.max_body = (size_t)o.max_body_kib * 1024;
    o.http.timeout_s = (unsigned)o.timeout_s;
    o.http.max_connections = (unsigned)o.max_connections;
    o.ctx.n_seq_max = o.max_seqs;

    /* SIGINT and SIGTERM are taken by sigwait below, never delivered to a thread. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    celer_error err = {0};
    server *srv = NULL;
    if (server_start(&o.http, &srv, &err) != CELER_OK) {
        fprintf(stderr, "celer serve: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "celer serve: listening on http://%s:%d (loading the model)\n", o.http.host, server_port(srv));
    celer_model *m = NULL;
    celer_context *ctx = NULL;
    scheduler *sched = NULL;
    const char *path = cli_model_path(o.model_path);
    scheduler_params sp = {.max_ctx = o.ctx_per_request};
    if (celer_model_load(path, &m, &err) == CELER_OK) {
        if (sp.max_ctx == 0) sp.max_ctx = celer_model_n_ctx_train(m) < o.ctx.n_ctx ? celer_model_n_ctx_train(m) : o.ctx.n_ctx;
        if (sp.max_ctx > o.ctx.n_ctx) {
            snprintf(err.msg, sizeof(err.msg), "--ctx-per-request %d is larger than the KV cache (-c %d)", sp.max_ctx, o.ctx.n_ctx);
        } else if (celer_context_new(m, &o.ctx, &ctx, &err) == CELER_OK && scheduler_new(ctx, &sp, &sched, &err) == CELER_OK) {
            if (scheduler_start(sched, &err) != CELER_OK) {
                scheduler_free(sched);
                sched = NULL;
            }
        }
    }
    if (!sched) {
        fprintf(stderr, "celer serve: %s\n", err.msg);
        if (!o.model_path && strcmp(path, CELER_DEFAULT_MODEL) == 0)
            fprintf(stderr, "celer serve: get the default model with scripts/get-model.sh, or pass -m FILE\n");
        server_stop(srv);
        celer_context_free(ctx);
        celer_model_free(m);
        return 1;
    }
    char id[256], desc[512];
    model_id(&o, path, id, sizeof(id));
    server_set_ready(srv, m, sched, id);
    celer_model_describe(m, desc, sizeof(desc));
    fprintf(stderr, "celer serve: ready: %s as '%s'; KV cache %d positions (%.1f MiB) shared by up to %d requests of %d positions; %d threads\n",
            desc, id, celer_context_n_ctx(ctx), (double)celer_context_kv_bytes(ctx) / (1024.0 * 1024.0), o.max_seqs, sp.max_ctx,
            o.ctx.n_threads);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "celer serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    scheduler_stop(sched); /* every unfinished stream ends with an error event */
    server_stop(srv);
    sched_stats st;
    scheduler_get_stats(sched, &st);
    fprintf(stderr, "celer serve: served %llu requests, %llu prompt tokens (%llu from cache), %llu generated; KV blocks free %d of %d, cached %d, active %d\n",
            (unsigned long long)(st.n_finished[SCHED_FINISH_STOP] + st.n_finished[SCHED_FINISH_LENGTH]), (unsigned long long)st.prompt_tokens,
            (unsigned long long)st.prompt_tokens_cached, (unsigned long long)st.generated_tokens, st.kv_blocks_free, st.kv_blocks_total,
            st.kv_blocks_cached, st.kv_blocks_active);
    scheduler_free(sched);
    celer_context_free(ctx);
    celer_model_free(m);
    return 0;
}
