/* openai.h: the OpenAI API's JSON: requests of /v1/chat/completions and /v1/completions
 * parsed and validated into plain structs (every field's type and range checked, one
 * message naming the field and what was wrong), and responses, stream chunks, errors
 * written in OpenAI's shapes. No model is needed to parse; formatting token pieces of
 * logprobs takes the model.
 * Tests: tests/test_server.c; fuzzed by fuzz/fuzz_request.c. */
#ifndef CELER_SERVER_OPENAI_H
#define CELER_SERVER_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "celer.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"

typedef enum { OAI_CHAT, OAI_COMPLETION } oai_kind;

#define OAI_MAX_MESSAGES 4096
#define OAI_MAX_TOKENS_FIELD 1000000000 /* larger max_tokens are refused before any context check */

typedef struct {
    oai_kind kind;
    char *model;                  /* NULL when not given */
    celer_chat_message *messages; /* (n_messages) chat; role and content owned */
    size_t n_messages;
    char *prompt;                 /* completion: a text prompt, or */
    int32_t *prompt_tokens;       /* (n_prompt_tokens) a prompt of token ids */
    int32_t n_prompt_tokens;
    bool stream;
    bool include_usage;           /* stream_options.include_usage */
    int32_t max_tokens;           /* 0: not given */
    sampler_params sampling;      /* llama.cpp's defaults for what is not given */
    char *stop[SCHED_MAX_STOP];
    int32_t n_stop;
    int32_t logprobs;             /* -1: none; else alternatives per token */
    bool ignore_eos;              /* llama.cpp's extension: generate past end-of-generation tokens */
} oai_request;

/* An error as the client sees it: HTTP status and OpenAI's error object. */
typedef struct {
    int status;           /* 400, 401, 404, 413, 500, 503, ... */
    const char *type;     /* "invalid_request_error", ... */
    const char *param;    /* the offending field, or NULL */
    const char *code;     /* machine-readable code, or NULL */
    char message[512];
} oai_error;

void oai_error_set(oai_error *e, int status, const char *type, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* {"error": {"message", "type", "param", "code"}}; malloc'd, NULL when out of memory. */
char *oai_error_json(const oai_error *e);

/* Parses a request body (any bytes). On failure fills err (status 400) and leaves *out
 * empty; oai_request_free is safe either way. */
bool oai_parse_request(oai_kind kind, const char *body, size_t len, oai_request *out, oai_error *err);
void oai_request_free(oai_request *r);

/* Everything a response is made of. */
typedef struct {
    oai_kind kind;
    const char *id;      /* "chatcmpl-..." or "cmpl-..." */
    const char *model;
    long long created;   /* Unix seconds */
    const celer_model *m; /* for the pieces of logprobs tokens */
    bool logprobs;
} oai_meta;

typedef struct {
    int32_t prompt_tokens, completion_tokens, cached_tokens;
} oai_usage;

/* The non-streamed response. text is the whole answer; tokens its tokens (logprobs
 * only when meta->logprobs). Returns malloc'd JSON. */
char *oai_response_json(const oai_meta *meta, const char *text, size_t text_len, const sched_token *tokens, int32_t n_tokens,
                        const char *finish_reason, const oai_usage *usage);
/* One stream chunk: the first one of a chat (role only), a text delta, or the last one
 * (finish_reason, empty delta). include_usage adds "usage": null as OpenAI does.
 * Returns malloc'd JSON. */
char *oai_chunk_json(const oai_meta *meta, bool role_only, const char *text, size_t text_len, const sched_token *tokens,
                     int32_t n_tokens, const char *finish_reason, bool include_usage);
/* The extra last chunk of stream_options.include_usage: no choices, the usage. */
char *oai_usage_chunk_json(const oai_meta *meta, const oai_usage *usage);

/* A copy of bytes that is valid UTF-8: each byte that does not start a valid character
 * becomes U+FFFD. NUL-terminated, malloc'd; *out_len (if not NULL) is its length. */
char *oai_utf8_clean(const char *bytes, size_t len, size_t *out_len);

#endif
