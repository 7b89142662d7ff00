/* server.h: the HTTP server of `celer serve` (libmicrohttpd, a thread per connection):
 * OpenAI's /v1/chat/completions and /v1/completions (streamed as server-sent events or
 * whole), /v1/models, /health, /metrics (Prometheus), /tokenize, /detokenize and the
 * chat page at /. Generation goes through the scheduler (continuous batching); a
 * connection thread only waits for its request's output, so a slow client or one that
 * never reads holds up nobody else, and one that disconnects has its request cancelled.
 *
 * Lifetime: server_start (listening, /health answers 503) → server_set_ready (the model
 * and scheduler are there, 200) → scheduler_stop → server_stop → scheduler_free.
 * Tests: tests/test_serve.sh (end to end), tests/test_server.c (the JSON layer). */
#ifndef CELER_SERVER_SERVER_H
#define CELER_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "celer.h"
#include "engine/scheduler.h"

typedef struct {
    const char *host;          /* address to bind; "127.0.0.1" unless told otherwise */
    int port;                  /* 0: any free port (server_port tells which) */
    const char *api_key;       /* NULL: none; else every endpoint but / and /health needs "Authorization: Bearer KEY" */
    size_t max_body;           /* bytes; larger bodies get 413 */
    unsigned timeout_s;        /* a connection with no progress for this long is closed */
    unsigned max_connections;
    const char *chat_template; /* NULL: the model's */
} server_params;

typedef struct server server;

celer_status server_start(const server_params *p, server **out, celer_error *err);
/* The model is loaded: requests are served from now on. model_id is the name /v1/models
 * shows and requests may give. */
void server_set_ready(server *srv, const celer_model *m, scheduler *sched, const char *model_id);
int server_port(const server *srv);
/* Stops listening and waits for every connection to end (stop the scheduler first, so
 * that streams waiting on it finish). */
void server_stop(server *srv);

/* HTTP responses are counted by status code; 0 stands for any other. */
#define SERVER_HTTP_CODES 10
extern const int server_http_codes[SERVER_HTTP_CODES];

/* The Prometheus text of /metrics; malloc'd. */
char *server_metrics_text(const sched_stats *st, const uint64_t *http_counts /* (SERVER_HTTP_CODES) */);

/* The chat page served at / (NUL-terminated HTML). */
extern const char server_webui_html[];

#endif
