/* openai.c: OpenAI request parsing and validation, response and stream-chunk JSON
 * (see openai.h). Tests: tests/test_server.c; fuzz/fuzz_request.c. */
#include "server/openai.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oai_error_set(oai_error *e, int status, const char *type, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    for (char *c = e->message; *c; c++) /* one line, whatever a quoted field held */
        if ((unsigned char)*c < 0x20) *c = ' ';
}

#define BAD(e, param, ...) (oai_error_set((e), 400, "invalid_request_error", (param), NULL, __VA_ARGS__), false)

char *oai_error_json(const oai_error *e) {
    cJSON *root = cJSON_CreateObject(), *obj = cJSON_AddObjectToObject(root, "error");
    char *msg = oai_utf8_clean(e->message, strlen(e->message), NULL);
    cJSON_AddStringToObject(obj, "message", msg ? msg : "");
    cJSON_AddStringToObject(obj, "type", e->type ? e->type : "server_error");
    if (e->param) cJSON_AddStringToObject(obj, "param", e->param);
    else cJSON_AddNullToObject(obj, "param");
    if (e->code) cJSON_AddStringToObject(obj, "code", e->code);
    else cJSON_AddNullToObject(obj, "code");
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    free(msg);
    return out;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 character at s (1..4), or 0. */
static size_t utf8_char_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

char *oai_utf8_clean(const char *bytes, size_t len, size_t *out_len) {
    char *out = malloc(3 * len + 1); /* each bad byte becomes 3 */
    if (!out) return NULL;
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)bytes;
    for (size_t i = 0; i < len;) {
        size_t n = s[i] ? utf8_char_len(s + i, len - i) : 0;
        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

/* ---- request fields ---- */

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

/* The field, or NULL when absent or null. */
static const cJSON *field(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static bool get_bool(const cJSON *obj, const char *name, bool *out, oai_error *e) {
    const cJSON *v = field(obj, name);
    if (!v) return true;
    if (!cJSON_IsBool(v)) return BAD(e, name, "'%s' must be a boolean, got %s", name, json_type_name(v));
    *out = cJSON_IsTrue(v);
    return true;
}

/* A number in [min, max]; integer: no fraction. *given tells whether it was there. */
static bool get_number(const cJSON *obj, const char *name, double min, double max, bool integer, double *out, bool *given,
                       oai_error *e) {
    const cJSON *v = field(obj, name);
    if (given) *given = v != NULL;
    if (!v) return true;
    if (!cJSON_IsNumber(v)) return BAD(e, name, "'%s' must be %s, got %s", name, integer ? "an integer" : "a number", json_type_name(v));
    double d = v->valuedouble;
    if (!isfinite(d) || (integer && d != floor(d))) return BAD(e, name, "'%s' must be %s, got %g", name, integer ? "an integer" : "a finite number", d);
    if (d < min || d > max) return BAD(e, name, "'%s' is %g; it must be in [%g, %g]", name, d, min, max);
    *out = d;
    return true;
}

static char *dup_string(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

#define NOMEM(e) (oai_error_set((e), 500, "server_error", NULL, NULL, "out of memory parsing the request"), false)

/* A message's content: a string, or an array of {"type": "text", "text": ...} parts. */
static bool parse_content(const cJSON *c, size_t index, char **out, oai_error *e) {
    if (cJSON_IsString(c)) return (*out = dup_string(c->valuestring)) != NULL || NOMEM(e);
    if (!cJSON_IsArray(c)) return BAD(e, "messages", "messages[%zu].content must be a string or an array of text parts, got %s", index, json_type_name(c));
    size_t total = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type"), *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type))
            return BAD(e, "messages", "messages[%zu].content: each part must be an object with a string 'type'", index);
        if (strcmp(type->valuestring, "text") != 0)
            return BAD(e, "messages", "messages[%zu].content: part type '%.64s' is not supported (only 'text')", index, type->valuestring);
        if (!cJSON_IsString(text)) return BAD(e, "messages", "messages[%zu].content: a text part needs a string 'text'", index);
        total += strlen(text->valuestring);
    }
    if (!(*out = malloc(total + 1))) return NOMEM(e);
    size_t at = 0;
    cJSON_ArrayForEach(part, c) {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t n = strlen(t);
        memcpy(*out + at, t, n);
        at += n;
    }
    (*out)[at] = '\0';
    return true;
}

static bool parse_messages(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *msgs = field(root, "messages");
    if (!msgs) return BAD(e, "messages", "'messages' is required");
    if (!cJSON_IsArray(msgs)) return BAD(e, "messages", "'messages' must be an array, got %s", json_type_name(msgs));
    int n = cJSON_GetArraySize(msgs);
    if (n == 0) return BAD(e, "messages", "'messages' is empty: at least one message is needed");
    if (n > OAI_MAX_MESSAGES) return BAD(e, "messages", "'messages' has %d messages; at most %d", n, OAI_MAX_MESSAGES);
    if (!(r->messages = calloc((size_t)n, sizeof(*r->messages)))) return NOMEM(e);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        size_t i = r->n_messages;
        if (!cJSON_IsObject(m)) return BAD(e, "messages", "messages[%zu] must be an object, got %s", i, json_type_name(m));
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role"), *content = field(m, "content");
        if (!cJSON_IsString(role)) return BAD(e, "messages", "messages[%zu].role must be a string", i);
        const char *rn = role->valuestring;
        if (!strcmp(rn, "developer")) rn = "system"; /* OpenAI's newer name for the system role */
        if (strcmp(rn, "system") && strcmp(rn, "user") && strcmp(rn, "assistant"))
            return BAD(e, "messages", "messages[%zu].role '%.64s' is not one of system, developer, user, assistant", i, role->valuestring);
        char *text = NULL;
        if (!content && !strcmp(rn, "assistant")) text = dup_string("");
        else if (!content) return BAD(e, "messages", "messages[%zu].content is required", i);
        else if (!parse_content(content, i, &text, e)) return false;
        char *role_copy = dup_string(rn);
        r->messages[i] = (celer_chat_message){role_copy, text};
        r->n_messages++;
        if (!text || !role_copy) return NOMEM(e);
    }
    return true;
}

/* prompt: a string, an array of token ids, or an array of one string. */
static bool parse_prompt(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *p = field(root, "prompt");
    if (!p) return BAD(e, "prompt", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0))) p = cJSON_GetArrayItem(p, 0);
    if (cJSON_IsString(p)) {
        if (p->valuestring[0] == '\0') return BAD(e, "prompt", "'prompt' is empty");
        return (r->prompt = dup_string(p->valuestring)) != NULL || NOMEM(e);
    }
    if (!cJSON_IsArray(p)) return BAD(e, "prompt", "'prompt' must be a string or an array of token ids, got %s", json_type_name(p));
    int n = cJSON_GetArraySize(p);
    if (n == 0) return BAD(e, "prompt", "'prompt' is empty");
    if (!(r->prompt_tokens = malloc((size_t)n * sizeof(int32_t)))) return NOMEM(e);
    const cJSON *t;
    cJSON_ArrayForEach(t, p) {
        if (cJSON_IsString(t)) return BAD(e, "prompt", "'prompt' holds several strings: only one prompt per request is supported");
        if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble) || t->valuedouble < 0 || t->valuedouble > INT32_MAX)
            return BAD(e, "prompt", "prompt[%d] must be a token id (a non-negative integer)", r->n_prompt_tokens);
        r->prompt_tokens[r->n_prompt_tokens++] = (int32_t)t->valuedouble;
    }
    return true;
}

static bool parse_stop(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *s = field(root, "stop");
    if (!s) return true;
    if (cJSON_IsString(s)) {
        if (s->valuestring[0] == '\0') return true;
        if (strlen(s->valuestring) > SCHED_MAX_STOP_LEN) return BAD(e, "stop", "'stop' is longer than %d bytes", SCHED_MAX_STOP_LEN);
        return (r->stop[r->n_stop++] = dup_string(s->valuestring)) != NULL || NOMEM(e);
    }
    if (!cJSON_IsArray(s)) return BAD(e, "stop", "'stop' must be a string or an array of strings, got %s", json_type_name(s));
    if (cJSON_GetArraySize(s) > SCHED_MAX_STOP) return BAD(e, "stop", "'stop' has %d strings; at most %d", cJSON_GetArraySize(s), SCHED_MAX_STOP);
    const cJSON *x;
    cJSON_ArrayForEach(x, s) {
        if (!cJSON_IsString(x)) return BAD(e, "stop", "'stop' must hold strings, found %s", json_type_name(x));
        if (strlen(x->valuestring) > SCHED_MAX_STOP_LEN) return BAD(e, "stop", "a 'stop' string is longer than %d bytes", SCHED_MAX_STOP_LEN);
        if (x->valuestring[0] == '\0') continue;
        if (!(r->stop[r->n_stop++] = dup_string(x->valuestring))) return NOMEM(e);
    }
    return true;
}

static bool parse_sampling(const cJSON *root, oai_request *r, oai_error *e) {
    sampler_params *sp = &r->sampling;
    double v = 0;
    bool given = false;
    if (!get_number(root, "temperature", 0, 2, false, &v, &given, e)) return false;
    if (given) sp->temperature = (float)v;
    if (!get_number(root, "top_p", 0, 1, false, &v, &given, e)) return false;
    if (given) {
        if (v == 0) sp->temperature = 0; /* nothing but the most likely token */
        else sp->top_p = (float)v;
    }
    if (!get_number(root, "top_k", -1, 1e6, true, &v, &given, e)) return false;
    if (given) sp->top_k = v < 0 ? 0 : (int32_t)v;
    if (!get_number(root, "min_p", 0, 1, false, &v, &given, e)) return false;
    if (given) sp->min_p = (float)v;
    if (!get_number(root, "presence_penalty", -2, 2, false, &v, &given, e)) return false;
    if (given) sp->presence_penalty = (float)v;
    if (!get_number(root, "frequency_penalty", -2, 2, false, &v, &given, e)) return false;
    if (given) sp->frequency_penalty = (float)v;
    if (!get_number(root, "repeat_penalty", 0.01, 100, false, &v, &given, e)) return false;
    if (given) sp->repeat_penalty = (float)v;
    if (!get_number(root, "repeat_last_n", 0, 1 << 20, true, &v, &given, e)) return false;
    if (given) sp->repeat_last_n = (int32_t)v;
    /* seed: any integer a double holds exactly (OpenAI's is a 64-bit integer) */
    if (!get_number(root, "seed", -9007199254740992.0, 9007199254740992.0, true, &v, &given, e)) return false;
    if (given) sp->seed = (uint64_t)(int64_t)v;
    return true;
}

static bool parse_body(oai_kind kind, const cJSON *root, oai_request *r, oai_error *e) {
    if (!cJSON_IsObject(root)) return BAD(e, NULL, "the request body must be a JSON object, got %s", json_type_name(root));
    const cJSON *model = field(root, "model");
    if (model && !cJSON_IsString(model)) return BAD(e, "model", "'model' must be a string, got %s", json_type_name(model));
    if (model && !(r->model = dup_string(model->valuestring))) return NOMEM(e);
    if (kind == OAI_CHAT ? !parse_messages(root, r, e) : !parse_prompt(root, r, e)) return false;
    if (!get_bool(root, "stream", &r->stream, e)) return false;
    const cJSON *so = field(root, "stream_options");
    if (so && !cJSON_IsObject(so)) return BAD(e, "stream_options", "'stream_options' must be an object, got %s", json_type_name(so));
    if (so && !get_bool(so, "include_usage", &r->include_usage, e)) return false;
    double v = 0;
    bool given = false;
    const char *max_name = kind == OAI_CHAT && field(root, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if (!get_number(root, max_name, 1, OAI_MAX_TOKENS_FIELD, true, &v, &given, e)) return false;
    if (given) r->max_tokens = (int32_t)v;
    else if (kind == OAI_COMPLETION) r->max_tokens = 16; /* OpenAI's default for completions */
    if (!get_number(root, "n", 1, 1, true, &v, &given, e)) {
        oai_error_set(e, 400, "invalid_request_error", "n", NULL, "only n = 1 is supported (one choice per request)");
        return false;
    }
    if (!parse_sampling(root, r, e) || !parse_stop(root, r, e)) return false;
    r->logprobs = -1;
    if (kind == OAI_CHAT) {
        bool lp = false;
        if (!get_bool(root, "logprobs", &lp, e)) return false;
        if (!get_number(root, "top_logprobs", 0, SCHED_MAX_LOGPROBS, true, &v, &given, e)) return false;
        if (given && !lp) return BAD(e, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
        if (lp) r->logprobs = given ? (int32_t)v : 0;
    } else {
        if (!get_number(root, "logprobs", 0, SCHED_MAX_LOGPROBS, true, &v, &given, e)) return false;
        if (given) r->logprobs = (int32_t)v;
        bool echo = false;
        if (!get_bool(root, "echo", &echo, e)) return false;
        if (echo) return BAD(e, "echo", "'echo' is not supported");
    }
    if (!get_bool(root, "ignore_eos", &r->ignore_eos, e)) return false;
    const cJSON *tools = field(root, "tools");
    if (tools && cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) return BAD(e, "tools", "'tools' (function calling) is not supported");
    return true;
}

bool oai_parse_request(oai_kind kind, const char *body, size_t len, oai_request *out, oai_error *err) {
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->logprobs = -1;
    sampler_params_default(&out->sampling);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= body && at <= body + len ? (size_t)(at - body) : len;
        oai_error_set(err, 400, "invalid_request_error", NULL, "invalid_json", "the request body is not valid JSON (error near byte %zu of %zu)", off, len);
        return false;
    }
    bool ok = parse_body(kind, root, out, err);
    cJSON_Delete(root);
    if (!ok) {
        oai_request_free(out);
        out->kind = kind;
    }
    return ok;
}

void oai_request_free(oai_request *r) {
    free(r->model);
    for (size_t i = 0; i < r->n_messages; i++) {
        free((char *)r->messages[i].role);
        free((char *)r->messages[i].content);
    }
    free(r->messages);
    free(r->prompt);
    free(r->prompt_tokens);
    for (int32_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof(*r));
}

/* ---- responses ---- */

static void add_clean_string(cJSON *obj, const char *name, const char *bytes, size_t len) {
    char *clean = oai_utf8_clean(bytes, len, NULL);
    cJSON_AddStringToObject(obj, name, clean ? clean : "");
    free(clean);
}

static double finite_lp(float lp) { return isfinite(lp) ? (double)lp : -9999.0; }

/* A token's piece as OpenAI shows it: text, and its bytes as integers. */
static void token_fields(const oai_meta *meta, int32_t token, cJSON *obj, bool with_bytes) {
    const char *bytes = "";
    size_t len = 0;
    if (celer_token_piece(meta->m, token, &bytes, &len, NULL) != CELER_OK) len = 0;
    add_clean_string(obj, "token", bytes, len);
    if (!with_bytes) return;
    cJSON *arr = cJSON_AddArrayToObject(obj, "bytes");
    for (size_t i = 0; i < len; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber((unsigned char)bytes[i]));
}

static cJSON *chat_logprobs(const oai_meta *meta, const sched_token *toks, int32_t n) {
    cJSON *lp = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(lp, "content");
    for (int32_t i = 0; i < n; i++) {
        cJSON *t = cJSON_CreateObject();
        token_fields(meta, toks[i].token, t, true);
        cJSON_AddNumberToObject(t, "logprob", finite_lp(toks[i].logprob));
        cJSON *top = cJSON_AddArrayToObject(t, "top_logprobs");
        for (int32_t k = 0; k < toks[i].n_top; k++) {
            cJSON *alt = cJSON_CreateObject();
            token_fields(meta, toks[i].top_token[k], alt, true);
            cJSON_AddNumberToObject(alt, "logprob", finite_lp(toks[i].top_logprob[k]));
            cJSON_AddItemToArray(top, alt);
        }
        cJSON_AddItemToArray(content, t);
    }
    return lp;
}

/* Completions' logprobs: parallel arrays; top_logprobs maps piece -> logprob. */
static cJSON *completion_logprobs(const oai_meta *meta, const sched_token *toks, int32_t n, size_t text_offset) {
    cJSON *lp = cJSON_CreateObject();
    cJSON *tokens = cJSON_AddArrayToObject(lp, "tokens"), *lps = cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(lp, "top_logprobs"), *offs = cJSON_AddArrayToObject(lp, "text_offset");
    for (int32_t i = 0; i < n; i++) {
        cJSON *tmp = cJSON_CreateObject();
        token_fields(meta, toks[i].token, tmp, false);
        const char *piece = cJSON_GetObjectItemCaseSensitive(tmp, "token")->valuestring;
        cJSON_AddItemToArray(tokens, cJSON_CreateString(piece));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)text_offset));
        text_offset += strlen(piece);
        cJSON_Delete(tmp);
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(finite_lp(toks[i].logprob)));
        cJSON *top = cJSON_CreateObject();
        for (int32_t k = 0; k < toks[i].n_top; k++) {
            cJSON *alt = cJSON_CreateObject();
            token_fields(meta, toks[i].top_token[k], alt, false);
            const char *name = cJSON_GetObjectItemCaseSensitive(alt, "token")->valuestring;
            if (!cJSON_GetObjectItemCaseSensitive(top, name)) cJSON_AddNumberToObject(top, name, finite_lp(toks[i].top_logprob[k]));
            cJSON_Delete(alt);
        }
        cJSON_AddItemToArray(tops, top);
    }
    return lp;
}

static cJSON *envelope(const oai_meta *meta, bool chunk) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", meta->id);
    const char *object = meta->kind == OAI_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)meta->created);
    cJSON_AddStringToObject(root, "model", meta->model);
    cJSON_AddStringToObject(root, "system_fingerprint", "celer");
    return root;
}

static cJSON *usage_json(const oai_usage *u) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", u->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", u->completion_tokens);
    cJSON_AddNumberToObject(o, "total_tokens", u->prompt_tokens + u->completion_tokens);
    cJSON *details = cJSON_AddObjectToObject(o, "prompt_tokens_details");
    cJSON_AddNumberToObject(details, "cached_tokens", u->cached_tokens);
    return o;
}

static char *print_and_free(cJSON *root) {
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

char *oai_response_json(const oai_meta *meta, const char *text, size_t text_len, const sched_token *tokens, int32_t n_tokens,
                        const char *finish_reason, const oai_usage *usage) {
    cJSON *root = envelope(meta, false), *choices = cJSON_AddArrayToObject(root, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (meta->kind == OAI_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        add_clean_string(msg, "content", text, text_len);
        if (meta->logprobs) cJSON_AddItemToObject(c, "logprobs", chat_logprobs(meta, tokens, n_tokens));
        else cJSON_AddNullToObject(c, "logprobs");
    } else {
        add_clean_string(c, "text", text, text_len);
        if (meta->logprobs) cJSON_AddItemToObject(c, "logprobs", completion_logprobs(meta, tokens, n_tokens, 0));
        else cJSON_AddNullToObject(c, "logprobs");
    }
    cJSON_AddStringToObject(c, "finish_reason", finish_reason);
    cJSON_AddItemToArray(choices, c);
    cJSON_AddItemToObject(root, "usage", usage_json(usage));
    return print_and_free(root);
}

char *oai_chunk_json(const oai_meta *meta, bool role_only, const char *text, size_t text_len, const sched_token *tokens,
                     int32_t n_tokens, const char *finish_reason, bool include_usage) {
    cJSON *root = envelope(meta, true), *choices = cJSON_AddArrayToObject(root, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (meta->kind == OAI_CHAT) {
        cJSON *delta = cJSON_AddObjectToObject(c, "delta");
        if (role_only) {
            cJSON_AddStringToObject(delta, "role", "assistant");
            cJSON_AddStringToObject(delta, "content", "");
        } else if (!finish_reason) {
            add_clean_string(delta, "content", text, text_len);
        }
        if (meta->logprobs && n_tokens > 0) cJSON_AddItemToObject(c, "logprobs", chat_logprobs(meta, tokens, n_tokens));
        else cJSON_AddNullToObject(c, "logprobs");
    } else {
        add_clean_string(c, "text", finish_reason ? "" : text, finish_reason ? 0 : text_len);
        if (meta->logprobs && n_tokens > 0) cJSON_AddItemToObject(c, "logprobs", completion_logprobs(meta, tokens, n_tokens, 0));
        else cJSON_AddNullToObject(c, "logprobs");
    }
    if (finish_reason) cJSON_AddStringToObject(c, "finish_reason", finish_reason);
    else cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    if (include_usage) cJSON_AddNullToObject(root, "usage");
    return print_and_free(root);
}

char *oai_usage_chunk_json(const oai_meta *meta, const oai_usage *usage) {
    cJSON *root = envelope(meta, true);
    cJSON_AddArrayToObject(root, "choices");
    cJSON_AddItemToObject(root, "usage", usage_json(usage));
    return print_and_free(root);
}
