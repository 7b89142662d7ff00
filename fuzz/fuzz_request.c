/* fuzz_request.c: libFuzzer target for the OpenAI request parser (src/server/openai.c).
 *
 * The first byte picks chat or text completion; the rest is the body. A refused body must
 * come back as a 400 with a one-line message and an error JSON that parses; an accepted one
 * must hold what the parser promises (non-empty messages or prompt, fields in range,
 * non-empty stop strings), and the response and chunk writers must turn any text into
 * JSON that parses.
 * Run: scripts/fuzz.sh [seconds] (builds with clang into build-fuzz; seeds in
 * fuzz/seeds/request). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/openai.h"

#define REQUIRE(cond)                                                                      \
    do {                                                                                   \
        if (!(cond)) __builtin_trap();                                                     \
    } while (0)

static void require_json(char *json) {
    REQUIRE(json);
    cJSON *root = cJSON_Parse(json);
    REQUIRE(root);
    cJSON_Delete(root);
    free(json);
}

static void check_accepted(const oai_request *r) {
    if (r->kind == OAI_CHAT) {
        REQUIRE(r->n_messages >= 1 && r->n_messages <= OAI_MAX_MESSAGES);
        for (size_t i = 0; i < r->n_messages; i++) REQUIRE(r->messages[i].role && r->messages[i].content);
        REQUIRE(r->max_tokens >= 0);
    } else {
        REQUIRE((r->prompt && r->prompt[0]) || r->n_prompt_tokens > 0);
        for (int32_t i = 0; i < r->n_prompt_tokens; i++) REQUIRE(r->prompt_tokens[i] >= 0);
        REQUIRE(r->max_tokens >= 1);
    }
    REQUIRE(r->max_tokens <= OAI_MAX_TOKENS_FIELD);
    REQUIRE(r->n_stop >= 0 && r->n_stop <= SCHED_MAX_STOP);
    for (int32_t i = 0; i < r->n_stop; i++) REQUIRE(r->stop[i][0] && strlen(r->stop[i]) <= SCHED_MAX_STOP_LEN);
    REQUIRE(r->logprobs >= -1 && r->logprobs <= SCHED_MAX_LOGPROBS);
    REQUIRE(r->sampling.temperature >= 0 && r->sampling.top_p > 0 && r->sampling.top_p <= 1 && r->sampling.top_k >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    oai_kind kind = data[0] & 1 ? OAI_COMPLETION : OAI_CHAT;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    oai_request r;
    oai_error e = {0};
    if (oai_parse_request(kind, body, len, &r, &e)) {
        check_accepted(&r);
    } else {
        REQUIRE((e.status == 400 || e.status == 500) && e.message[0] && !strchr(e.message, '\n'));
        REQUIRE(r.n_messages == 0 && r.prompt == NULL && r.n_stop == 0);
        require_json(oai_error_json(&e));
    }
    oai_request_free(&r);
    /* any bytes as answer text: the writers clean them into valid JSON */
    oai_meta meta = {.kind = kind, .id = "x", .model = "m", .created = 1};
    oai_usage u = {1, 2, 0};
    require_json(oai_response_json(&meta, body, len, NULL, 0, "stop", &u));
    require_json(oai_chunk_json(&meta, false, body, len, NULL, 0, NULL, true));
    return 0;
}
