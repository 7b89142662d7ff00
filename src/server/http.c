/* http.c: libmicrohttpd glue of `celer serve` (see server.h): routing, API key, body
 * limit, the OpenAI endpoints (a blocking wait or a server-sent-event stream per
 * connection thread), models, health, metrics, tokenize/detokenize and the chat page.
 * Tests: tests/test_serve.sh. */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "server/openai.h"
#include "server/server.h"

struct server {
    server_params p;
    struct MHD_Daemon *daemon;
    int port;
    atomic_bool ready;
    const celer_model *model;
    scheduler *sched;
    char model_id[256];
    long long started; /* Unix seconds */
    atomic_uint_fast64_t http_counts[SERVER_HTTP_CODES];
    atomic_uint_fast64_t next_id;
};

/* What a connection's request has sent so far. */
typedef struct {
    char *body;
    size_t len, cap;
    bool too_big;
    bool answered; /* a response was queued before the body was read */
} conn_state;

/* ---- responses ---- */

static void count_status(server *srv, int status) {
    int i = 0;
    while (i < SERVER_HTTP_CODES - 1 && server_http_codes[i] != status) i++;
    atomic_fetch_add(&srv->http_counts[i], 1);
}

/* Queues body (malloc'd, taken; NULL means out of memory) with the given status. */
static enum MHD_Result reply(server *srv, struct MHD_Connection *c, int status, const char *type, char *body) {
    if (!body) {
        status = 500;
        type = "application/json";
        body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        if (!body) return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    count_status(srv, status);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_json(server *srv, struct MHD_Connection *c, int status, cJSON *root) {
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return reply(srv, c, status, "application/json", body);
}

static enum MHD_Result reply_error(server *srv, struct MHD_Connection *c, const oai_error *e) {
    return reply(srv, c, e->status, "application/json", oai_error_json(e));
}

#define REPLY_ERROR(srv, c, status, type, param, code, ...)                  \
    do {                                                                     \
        oai_error e_;                                                        \
        oai_error_set(&e_, (status), (type), (param), (code), __VA_ARGS__);  \
        return reply_error((srv), (c), &e_);                                 \
    } while (0)

/* True when the peer has closed its side: a client that went away mid-request. */
static bool client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd pfd = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0) return false;
    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* The idle timeout counts from the last byte sent or received, so time spent waiting
 * for a slot or for the first token would count against the client: it is off while a
 * request generates and set again (counting from then) when its output is complete. */
static void generation_timeout(server *srv, struct MHD_Connection *c, bool generating) {
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    if (!generating) MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, srv->p.timeout_s);
}

/* ---- generation ---- */

typedef struct {
    server *srv;
    struct MHD_Connection *conn;
    sched_request *req;
    oai_meta meta;
    char id[64];
    bool include_usage;
    bool sent_role;
    bool done;
    char *out; /* SSE bytes not yet handed to MHD */
    size_t out_len, out_pos, out_cap;
} stream_state;

static bool sse_push(stream_state *st, const char *json) {
    if (!json) return false;
    size_t n = strlen(json), need = st->out_len + n + 8;
    if (need > st->out_cap) {
        size_t cap = 2 * need;
        char *b = realloc(st->out, cap);
        if (!b) return false;
        st->out = b;
        st->out_cap = cap;
    }
    st->out_len += (size_t)sprintf(st->out + st->out_len, "data: %s\n\n", json);
    return true;
}

static const char *finish_reason(sched_finish f) { return f == SCHED_FINISH_LENGTH ? "length" : "stop"; }

/* Turns one read of the scheduler's output into SSE events. */
static void stream_format(stream_state *st, const sched_output *o) {
    char *json;
    if (st->meta.kind == OAI_CHAT && !st->sent_role) {
        json = oai_chunk_json(&st->meta, true, "", 0, NULL, 0, NULL, st->include_usage);
        sse_push(st, json);
        free(json);
        st->sent_role = true;
    }
    if (o->text_len > 0 || o->n_tokens > 0) {
        json = oai_chunk_json(&st->meta, false, o->text, o->text_len, o->tokens, o->n_tokens, NULL, st->include_usage);
        sse_push(st, json);
        free(json);
    }
    if (o->finish == SCHED_FINISH_NONE) return;
    if (o->finish == SCHED_FINISH_ERROR || o->finish == SCHED_FINISH_CANCELLED) {
        oai_error e;
        oai_error_set(&e, 500, "server_error", NULL, NULL, "%s", o->error[0] ? o->error : "the request was cancelled");
        json = oai_error_json(&e);
        sse_push(st, json);
        free(json);
    } else {
        json = oai_chunk_json(&st->meta, false, "", 0, NULL, 0, finish_reason(o->finish), st->include_usage);
        sse_push(st, json);
        free(json);
        if (st->include_usage) {
            oai_usage u = {o->n_prompt, o->n_generated, o->n_cached};
            json = oai_usage_chunk_json(&st->meta, &u);
            sse_push(st, json);
            free(json);
        }
    }
    sse_push(st, "[DONE]");
    st->done = true;
}

/* MHD asks for the next bytes of the stream; this connection's thread may block here. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *st = cls;
    while (st->out_pos == st->out_len) {
        if (st->done) return MHD_CONTENT_READER_END_OF_STREAM;
        st->out_pos = st->out_len = 0;
        sched_output o;
        bool news = sched_request_read(st->req, 50, &o);
        if (news) stream_format(st, &o);
        sched_output_free(&o);
        if (st->done) generation_timeout(st->srv, st->conn, false);
        if (!news && client_gone(st->conn)) {
            sched_request_cancel(st->req); /* freed at the scheduler's next step */
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = st->out_len - st->out_pos < max ? st->out_len - st->out_pos : max;
    memcpy(buf, st->out + st->out_pos, n);
    st->out_pos += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream_state *st = cls;
    sched_request_release(st->req); /* cancels it if the client left before the end */
    free(st->out);
    free(st);
}

/* Grows a byte buffer; false when out of memory. */
static bool append(char **buf, size_t *len, size_t *cap, const void *bytes, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = 2 * (*len + n + 1);
        char *b = realloc(*buf, c);
        if (!b) return false;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, bytes, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* Waits for the whole answer (the client may leave meanwhile) and replies with it. */
static enum MHD_Result wait_whole(server *srv, struct MHD_Connection *c, sched_request *req, const oai_meta *meta) {
    char *text = NULL, *toks = NULL;
    size_t text_len = 0, text_cap = 0, toks_len = 0, toks_cap = 0;
    bool ok = true;
    sched_output o;
    for (;;) {
        bool news = sched_request_read(req, 100, &o);
        if (news) {
            ok = ok && append(&text, &text_len, &text_cap, o.text, o.text_len) &&
                 append(&toks, &toks_len, &toks_cap, o.tokens, (size_t)o.n_tokens * sizeof(sched_token));
            if (o.finish != SCHED_FINISH_NONE) break;
        } else if (client_gone(c)) {
            sched_output_free(&o);
            sched_request_release(req);
            free(text);
            free(toks);
            return MHD_NO; /* nobody to answer: close */
        }
        sched_output_free(&o);
    }
    sched_request_release(req);
    generation_timeout(srv, c, false);
    enum MHD_Result ret;
    if (!ok) {
        ret = reply(srv, c, 500, "application/json", NULL);
    } else if (o.finish == SCHED_FINISH_ERROR || o.finish == SCHED_FINISH_CANCELLED) {
        oai_error e;
        oai_error_set(&e, o.error[0] && strstr(o.error, "shutting down") ? 503 : 500, "server_error", NULL, NULL, "%s",
                      o.error[0] ? o.error : "the request was cancelled");
        ret = reply_error(srv, c, &e);
    } else {
        oai_usage u = {o.n_prompt, o.n_generated, o.n_cached};
        ret = reply(srv, c, 200, "application/json",
                    oai_response_json(meta, text ? text : "", text_len, (const sched_token *)toks,
                                      (int32_t)(toks_len / sizeof(sched_token)), finish_reason(o.finish), &u));
    }
    sched_output_free(&o);
    free(text);
    free(toks);
    return ret;
}

/* The prompt's tokens: the chat rendered with the template, or the completion's text or
 * ids. *ids is malloc'd. */
static bool prompt_tokens(server *srv, const oai_request *req, int32_t **ids, size_t *n, oai_error *e) {
    celer_error err = {0};
    *ids = NULL;
    *n = 0;
    if (req->kind == OAI_COMPLETION && req->prompt_tokens) {
        if (!(*ids = malloc((size_t)req->n_prompt_tokens * sizeof(int32_t)))) {
            oai_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
            return false;
        }
        memcpy(*ids, req->prompt_tokens, (size_t)req->n_prompt_tokens * sizeof(int32_t));
        *n = (size_t)req->n_prompt_tokens;
        return true;
    }
    char *rendered = NULL;
    const char *text = req->prompt;
    if (req->kind == OAI_CHAT) {
        if (celer_chat_render(srv->model, srv->p.chat_template, req->messages, req->n_messages, true, &rendered, &err) != CELER_OK) {
            oai_error_set(e, 400, "invalid_request_error", "messages", NULL, "%s", err.msg);
            return false;
        }
        text = rendered;
    }
    celer_status st = celer_tokenize(srv->model, text, strlen(text), true, true, ids, n, &err);
    free(rendered);
    if (st != CELER_OK) {
        oai_error_set(e, 400, "invalid_request_error", req->kind == OAI_CHAT ? "messages" : "prompt", NULL, "%s", err.msg);
        return false;
    }
    if (*n == 0) {
        free(*ids);
        *ids = NULL;
        oai_error_set(e, 400, "invalid_request_error", "prompt", NULL, "the prompt has no tokens");
        return false;
    }
    return true;
}

static enum MHD_Result handle_generate(server *srv, struct MHD_Connection *c, oai_kind kind, const conn_state *cs) {
    oai_request req;
    oai_error e;
    if (!oai_parse_request(kind, cs->body ? cs->body : "", cs->len, &req, &e)) return reply_error(srv, c, &e);
    if (req.model && req.model[0] && strcmp(req.model, srv->model_id) != 0) {
        oai_error_set(&e, 404, "invalid_request_error", "model", "model_not_found", "the model '%.200s' does not exist; this server has '%.200s'",
                      req.model, srv->model_id);
        oai_request_free(&req);
        return reply_error(srv, c, &e);
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (!prompt_tokens(srv, &req, &ids, &n_ids, &e)) {
        oai_request_free(&req);
        return reply_error(srv, c, &e);
    }
    sched_request_params sp = {.prompt = ids, .n_prompt = n_ids > INT32_MAX ? INT32_MAX : (int32_t)n_ids,
                               .sampling = req.sampling, .max_tokens = req.max_tokens, .stop = (const char *const *)req.stop,
                               .n_stop = req.n_stop, .n_logprobs = req.logprobs, .ignore_eog = req.ignore_eos};
    sched_request *sr = NULL;
    celer_error err = {0};
    celer_status st = scheduler_submit(srv->sched, &sp, &sr, &err);
    free(ids);
    bool stream = req.stream, include_usage = req.include_usage, logprobs = req.logprobs >= 0;
    oai_request_free(&req);
    if (st != CELER_OK) {
        if (st == CELER_ERR_RANGE)
            oai_error_set(&e, 400, "invalid_request_error", kind == OAI_CHAT ? "messages" : "prompt", "context_length_exceeded", "%s", err.msg);
        else if (st == CELER_ERR_CANCELLED) oai_error_set(&e, 503, "unavailable_error", NULL, NULL, "%s", err.msg);
        else if (st == CELER_ERR_NOMEM) oai_error_set(&e, 500, "server_error", NULL, NULL, "%s", err.msg);
        else oai_error_set(&e, 400, "invalid_request_error", NULL, NULL, "%s", err.msg);
        return reply_error(srv, c, &e);
    }
    generation_timeout(srv, c, true);
    stream_state *ss = calloc(1, sizeof(*ss));
    if (!ss) {
        sched_request_release(sr);
        return reply(srv, c, 500, "application/json", NULL);
    }
    snprintf(ss->id, sizeof(ss->id), "%s-%llx%08llx", kind == OAI_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)srv->started,
             (unsigned long long)atomic_fetch_add(&srv->next_id, 1));
    ss->meta = (oai_meta){.kind = kind, .id = ss->id, .model = srv->model_id, .created = (long long)time(NULL), .m = srv->model,
                          .logprobs = logprobs};
    if (!stream) {
        enum MHD_Result ret = wait_whole(srv, c, sr, &ss->meta);
        free(ss);
        return ret;
    }
    ss->srv = srv;
    ss->conn = c;
    ss->req = sr;
    ss->include_usage = include_usage;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, ss, stream_free);
    if (!resp) {
        stream_free(ss);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    count_status(srv, 200);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- small endpoints ---- */

static enum MHD_Result handle_models(server *srv, struct MHD_Connection *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", srv->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)srv->started);
    cJSON_AddStringToObject(m, "owned_by", "celer");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddNumberToObject(meta, "n_vocab", celer_model_n_vocab(srv->model));
    cJSON_AddNumberToObject(meta, "n_ctx_train", celer_model_n_ctx_train(srv->model));
    cJSON_AddNumberToObject(meta, "n_ctx_per_request", scheduler_max_ctx(srv->sched));
    cJSON_AddItemToArray(data, m);
    return reply_json(srv, c, 200, root);
}

static enum MHD_Result handle_metrics(server *srv, struct MHD_Connection *c) {
    sched_stats st;
    scheduler_get_stats(srv->sched, &st);
    uint64_t counts[SERVER_HTTP_CODES];
    for (int i = 0; i < SERVER_HTTP_CODES; i++) counts[i] = atomic_load(&srv->http_counts[i]);
    return reply(srv, c, 200, "text/plain; version=0.0.4", server_metrics_text(&st, counts));
}

/* Parses a small JSON body for tokenize/detokenize; NULL after replying with the error. */
static cJSON *parse_object(const conn_state *cs, oai_error *e) {
    cJSON *root = cJSON_ParseWithLength(cs->body ? cs->body : "", cs->len);
    if (!root) oai_error_set(e, 400, "invalid_request_error", NULL, "invalid_json", "the request body is not valid JSON");
    else if (!cJSON_IsObject(root)) {
        oai_error_set(e, 400, "invalid_request_error", NULL, NULL, "the request body must be a JSON object");
        cJSON_Delete(root);
        root = NULL;
    }
    return root;
}

static enum MHD_Result handle_tokenize(server *srv, struct MHD_Connection *c, const conn_state *cs) {
    oai_error e;
    cJSON *root = parse_object(cs, &e);
    if (!root) return reply_error(srv, c, &e);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(root, "add_special"), *pieces = cJSON_GetObjectItemCaseSensitive(root, "with_pieces");
    if (!cJSON_IsString(content) || (add && !cJSON_IsBool(add)) || (pieces && !cJSON_IsBool(pieces))) {
        cJSON_Delete(root);
        REPLY_ERROR(srv, c, 400, "invalid_request_error", "content", NULL,
                    "/tokenize expects {\"content\": string, \"add_special\": boolean, \"with_pieces\": boolean}");
    }
    int32_t *ids = NULL;
    size_t n = 0;
    celer_error err = {0};
    if (celer_tokenize(srv->model, content->valuestring, strlen(content->valuestring), cJSON_IsTrue(add), true, &ids, &n, &err) != CELER_OK) {
        cJSON_Delete(root);
        REPLY_ERROR(srv, c, 400, "invalid_request_error", "content", NULL, "%s", err.msg);
    }
    bool with_pieces = cJSON_IsTrue(pieces);
    cJSON_Delete(root);
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "tokens");
    for (size_t i = 0; i < n; i++) {
        if (!with_pieces) {
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
            continue;
        }
        const char *bytes = "";
        size_t len = 0;
        celer_token_piece(srv->model, ids[i], &bytes, &len, NULL);
        char *clean = oai_utf8_clean(bytes, len, NULL);
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", ids[i]);
        cJSON_AddStringToObject(t, "piece", clean ? clean : "");
        free(clean);
        cJSON_AddItemToArray(arr, t);
    }
    free(ids);
    return reply_json(srv, c, 200, out);
}

static enum MHD_Result handle_detokenize(server *srv, struct MHD_Connection *c, const conn_state *cs) {
    oai_error e;
    cJSON *root = parse_object(cs, &e);
    if (!root) return reply_error(srv, c, &e);
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens"), *t;
    int32_t n_vocab = celer_model_n_vocab(srv->model);
    if (!cJSON_IsArray(tokens)) {
        cJSON_Delete(root);
        REPLY_ERROR(srv, c, 400, "invalid_request_error", "tokens", NULL, "/detokenize expects {\"tokens\": [token ids]}");
    }
    int index = 0;
    cJSON_ArrayForEach(t, tokens) {
        if (!cJSON_IsNumber(t) || t->valuedouble != (double)(int32_t)t->valuedouble || t->valuedouble < 0 || t->valuedouble >= n_vocab) {
            cJSON_Delete(root);
            REPLY_ERROR(srv, c, 400, "invalid_request_error", "tokens", NULL, "tokens[%d] is not a token id in [0, %d)", index, n_vocab);
        }
        index++;
    }
    size_t cap = celer_token_max_piece_len(srv->model) + 16, len = 0, text_cap = 0;
    char *piece = malloc(cap), *text = NULL;
    bool ok = piece != NULL;
    celer_text_stream ts;
    celer_text_stream_init(&ts);
    cJSON_ArrayForEach(t, tokens) {
        size_t n = ok ? celer_text_stream_push(&ts, srv->model, (int32_t)t->valuedouble, piece, cap) : 0;
        ok = ok && append(&text, &len, &text_cap, piece, n);
    }
    if (ok) ok = append(&text, &len, &text_cap, piece, celer_text_stream_flush(&ts, piece, cap));
    free(piece);
    cJSON_Delete(root);
    char *clean = ok ? oai_utf8_clean(text, len, NULL) : NULL;
    free(text);
    if (!clean) return reply(srv, c, 500, "application/json", NULL);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "content", clean);
    free(clean);
    return reply_json(srv, c, 200, out);
}

/* ---- routing ---- */

typedef enum { R_PAGE, R_HEALTH, R_MODELS, R_METRICS, R_CHAT, R_COMPLETION, R_TOKENIZE, R_DETOKENIZE, R_NONE } route;

static route route_of(const char *url, const char **method) {
    static const struct {
        const char *path, *method;
        route r;
    } table[] = {
        {"/", "GET", R_PAGE}, {"/index.html", "GET", R_PAGE}, {"/health", "GET", R_HEALTH}, {"/v1/health", "GET", R_HEALTH},
        {"/v1/models", "GET", R_MODELS}, {"/models", "GET", R_MODELS}, {"/metrics", "GET", R_METRICS},
        {"/v1/chat/completions", "POST", R_CHAT}, {"/chat/completions", "POST", R_CHAT},
        {"/v1/completions", "POST", R_COMPLETION}, {"/completions", "POST", R_COMPLETION},
        {"/tokenize", "POST", R_TOKENIZE}, {"/detokenize", "POST", R_DETOKENIZE},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (!strcmp(url, table[i].path)) {
            *method = table[i].method;
            return table[i].r;
        }
    return R_NONE;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static bool authorized(const server *srv, struct MHD_Connection *c) {
    if (!srv->p.api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    size_t n = strlen(h), k = strlen(srv->p.api_key);
    unsigned char diff = n != k;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(h[i] ^ srv->p.api_key[i % (k ? k : 1)]);
    return diff == 0;
}

/* First call for a request: refuse early what can be refused from the headers alone. */
static enum MHD_Result check_headers(server *srv, struct MHD_Connection *c, route r, const char *method, const char *want,
                                     conn_state *cs) {
    oai_error e;
    if (strcmp(method, want) != 0)
        oai_error_set(&e, 405, "invalid_request_error", NULL, "method_not_allowed", "this endpoint takes %s, not %.16s", want, method);
    else if (r != R_PAGE && r != R_HEALTH && !authorized(srv, c))
        oai_error_set(&e, 401, "invalid_request_error", NULL, "invalid_api_key", "missing or wrong API key: send \"Authorization: Bearer <key>\"");
    else {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
        if (n <= srv->p.max_body) return MHD_YES;
        oai_error_set(&e, 413, "invalid_request_error", NULL, "request_too_large", "the request body has %llu bytes; the limit is %zu (--max-body)",
                      n, srv->p.max_body);
    }
    cs->answered = true;
    return reply_error(srv, c, &e);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    server *srv = cls;
    const char *want = NULL;
    route r = route_of(url, &want);
    conn_state *cs = *con_cls;
    if (!cs) {
        if (!(cs = calloc(1, sizeof(*cs)))) return MHD_NO;
        *con_cls = cs;
        if (r == R_NONE) {
            cs->answered = true;
            REPLY_ERROR(srv, c, 404, "invalid_request_error", NULL, "not_found", "no such endpoint: %.200s %.200s", method, url);
        }
        return check_headers(srv, c, r, method, want, cs);
    }
    if (*upload_size > 0) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (cs->answered) return MHD_YES;
        if (cs->too_big || cs->len + n > srv->p.max_body) {
            cs->too_big = true; /* refused once the body is in (or the connection is closed) */
            return MHD_YES;
        }
        if (!append(&cs->body, &cs->len, &cs->cap, upload, n)) return MHD_NO;
        return MHD_YES;
    }
    if (cs->answered) return MHD_YES;
    if (cs->too_big)
        REPLY_ERROR(srv, c, 413, "invalid_request_error", NULL, "request_too_large", "the request body is larger than the limit of %zu bytes (--max-body)",
                    srv->p.max_body);
    if (r == R_PAGE) return reply(srv, c, 200, "text/html; charset=utf-8", strdup(server_webui_html));
    bool ready = atomic_load(&srv->ready);
    if (r == R_HEALTH) {
        if (!ready) REPLY_ERROR(srv, c, 503, "unavailable_error", NULL, "loading", "the model is loading");
        cJSON *ok = cJSON_CreateObject();
        cJSON_AddStringToObject(ok, "status", "ok");
        return reply_json(srv, c, 200, ok);
    }
    if (!ready) REPLY_ERROR(srv, c, 503, "unavailable_error", NULL, "loading", "the model is loading; try again when /health says ok");
    switch (r) {
    case R_MODELS: return handle_models(srv, c);
    case R_METRICS: return handle_metrics(srv, c);
    case R_CHAT: return handle_generate(srv, c, OAI_CHAT, cs);
    case R_COMPLETION: return handle_generate(srv, c, OAI_COMPLETION, cs);
    case R_TOKENIZE: return handle_tokenize(srv, c, cs);
    case R_DETOKENIZE: return handle_detokenize(srv, c, cs);
    default: return MHD_NO;
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    conn_state *cs = *con_cls;
    if (!cs) return;
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

/* ---- lifetime ---- */

celer_status server_start(const server_params *p, server **out, celer_error *err) {
    *out = NULL;
    if (p->port < 0 || p->port > 65535) return celer_error_set(err, CELER_ERR_INVALID_ARG, "port %d out of range [0, 65535]", p->port);
    char port[16];
    snprintf(port, sizeof(port), "%d", p->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai = NULL;
    int rc = getaddrinfo(p->host, port, &hints, &ai);
    if (rc != 0) return celer_error_set(err, CELER_ERR_INVALID_ARG, "cannot use host '%s': %s", p->host, gai_strerror(rc));
    server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        freeaddrinfo(ai);
        return celer_error_set(err, CELER_ERR_NOMEM, "server: out of memory");
    }
    srv->p = *p;
    srv->started = (long long)time(NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(flags, (uint16_t)p->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                   MHD_OPTION_CONNECTION_TIMEOUT, p->timeout_s, MHD_OPTION_CONNECTION_LIMIT, p->max_connections,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                                   MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        free(srv);
        return celer_error_set(err, CELER_ERR_IO, "cannot listen on %s:%d (in use, or not an address of this machine?)", p->host, p->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : p->port;
    *out = srv;
    return CELER_OK;
}

void server_set_ready(server *srv, const celer_model *m, scheduler *sched, const char *model_id) {
    srv->model = m;
    srv->sched = sched;
    snprintf(srv->model_id, sizeof(srv->model_id), "%s", model_id);
    atomic_store(&srv->ready, true);
}

int server_port(const server *srv) { return srv->port; }

void server_stop(server *srv) {
    if (!srv) return;
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
