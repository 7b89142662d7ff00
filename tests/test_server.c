/* test_server.c: the server's JSON layer without a model: OpenAI request parsing and
 * validation (every field's type and range, the defaults, one message naming the field),
 * error JSON, UTF-8 cleaning, response and stream-chunk shapes, Prometheus text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "server/openai.h"
#include "server/server.h"

static bool parse(oai_kind kind, const char *json, oai_request *r, oai_error *e) {
    return oai_parse_request(kind, json, strlen(json), r, e);
}

/* Expects a 400 whose message contains want. */
static void refused(oai_kind kind, const char *json, const char *want) {
    oai_request r;
    oai_error e = {0};
    if (parse(kind, json, &r, &e)) fail_msg("accepted: %s", json);
    if (e.status != 400 || !strstr(e.message, want)) fail_msg("%s: got %d '%s', want '%s'", json, e.status, e.message, want);
    oai_request_free(&r);
}

static void test_chat_request(void **state) {
    (void)state;
    oai_request r;
    oai_error e = {0};
    const char *json = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"text\",\"text\":\"there\"}]},"
                       "{\"role\":\"assistant\",\"content\":null},{\"role\":\"developer\",\"content\":\"x\"}],"
                       "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_completion_tokens\":7,"
                       "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":12,\"min_p\":0.1,\"seed\":-3,\"n\":1,"
                       "\"presence_penalty\":0.5,\"frequency_penalty\":-1,\"stop\":[\"END\",\"\",\"##\"],"
                       "\"logprobs\":true,\"top_logprobs\":3,\"unknown_field\":{\"ignored\":1}}";
    assert_true(parse(OAI_CHAT, json, &r, &e));
    assert_string_equal(r.model, "m");
    assert_int_equal(r.n_messages, 4);
    assert_string_equal(r.messages[1].role, "user");
    assert_string_equal(r.messages[1].content, "Hi there");
    assert_string_equal(r.messages[2].content, "");
    assert_string_equal(r.messages[3].role, "system");
    assert_true(r.stream && r.include_usage);
    assert_int_equal(r.max_tokens, 7);
    assert_true(r.sampling.temperature == 0.5f && r.sampling.top_p == 0.9f && r.sampling.top_k == 12 && r.sampling.min_p == 0.1f);
    assert_true(r.sampling.presence_penalty == 0.5f && r.sampling.frequency_penalty == -1.0f);
    assert_true(r.sampling.seed == (uint64_t)(int64_t)-3);
    assert_int_equal(r.n_stop, 2); /* the empty string is dropped */
    assert_string_equal(r.stop[1], "##");
    assert_int_equal(r.logprobs, 3);
    oai_request_free(&r);
    /* defaults: llama.cpp's sampling, no limit on tokens for chat, no logprobs */
    assert_true(parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r, &e));
    assert_null(r.model);
    assert_int_equal(r.max_tokens, 0);
    assert_int_equal(r.logprobs, -1);
    assert_false(r.stream);
    assert_true(r.sampling.temperature == 0.8f && r.sampling.top_k == 40);
    oai_request_free(&r);
    /* top_p 0 means the most likely token only */
    assert_true(parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0}", &r, &e));
    assert_true(r.sampling.temperature == 0.0f);
    oai_request_free(&r);
}

static void test_completion_request(void **state) {
    (void)state;
    oai_request r;
    oai_error e = {0};
    assert_true(parse(OAI_COMPLETION, "{\"prompt\":\"Once\",\"logprobs\":2,\"stop\":\"\\n\",\"ignore_eos\":true}", &r, &e));
    assert_string_equal(r.prompt, "Once");
    assert_int_equal(r.max_tokens, 16); /* OpenAI's default for completions */
    assert_int_equal(r.logprobs, 2);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "\n");
    assert_true(r.ignore_eos);
    oai_request_free(&r);
    assert_true(parse(OAI_COMPLETION, "{\"prompt\":[1,2,3]}", &r, &e));
    assert_null(r.prompt);
    assert_int_equal(r.n_prompt_tokens, 3);
    assert_int_equal(r.prompt_tokens[2], 3);
    oai_request_free(&r);
    assert_true(parse(OAI_COMPLETION, "{\"prompt\":[\"one\"]}", &r, &e));
    assert_string_equal(r.prompt, "one");
    oai_request_free(&r);
}

static void test_refusals(void **state) {
    (void)state;
    const char *msg = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    char buf[512];
#define CHAT(extra, want)                                    \
    do {                                                     \
        snprintf(buf, sizeof(buf), "{%s%s}", msg, (extra));  \
        refused(OAI_CHAT, buf, (want));                      \
    } while (0)
    refused(OAI_CHAT, "{\"messages\": [", "not valid JSON");
    refused(OAI_CHAT, "", "not valid JSON");
    refused(OAI_CHAT, "[1,2]", "must be a JSON object, got an array");
    refused(OAI_CHAT, "{}", "'messages' is required");
    refused(OAI_CHAT, "{\"messages\":{}}", "'messages' must be an array, got an object");
    refused(OAI_CHAT, "{\"messages\":[]}", "'messages' is empty");
    refused(OAI_CHAT, "{\"messages\":[1]}", "messages[0] must be an object");
    refused(OAI_CHAT, "{\"messages\":[{\"role\":\"god\",\"content\":\"x\"}]}", "role 'god'");
    refused(OAI_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content is required");
    refused(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "'image_url' is not supported");
    CHAT(",\"model\":5", "'model' must be a string");
    CHAT(",\"stream\":\"yes\"", "'stream' must be a boolean");
    CHAT(",\"temperature\":\"hot\"", "'temperature' must be a number, got a string");
    CHAT(",\"temperature\":3", "'temperature' is 3; it must be in [0, 2]");
    CHAT(",\"max_tokens\":0", "'max_tokens' is 0");
    CHAT(",\"max_tokens\":-5", "'max_tokens' is -5");
    CHAT(",\"max_tokens\":1.5", "'max_tokens' must be an integer");
    CHAT(",\"max_tokens\":1e300", "'max_tokens' is 1e+300");
    CHAT(",\"top_k\":-2", "'top_k' is -2");
    CHAT(",\"top_k\":1e12", "'top_k' is 1e+12");
    CHAT(",\"top_p\":1.5", "'top_p' is 1.5");
    CHAT(",\"min_p\":-0.1", "'min_p' is -0.1");
    CHAT(",\"n\":2", "only n = 1");
    CHAT(",\"n\":-1", "only n = 1");
    CHAT(",\"presence_penalty\":5", "'presence_penalty' is 5");
    CHAT(",\"seed\":1.5", "'seed' must be an integer");
    CHAT(",\"stop\":7", "'stop' must be a string or an array");
    CHAT(",\"stop\":[\"a\",1]", "'stop' must hold strings");
    CHAT(",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]", "at most 16");
    CHAT(",\"top_logprobs\":2", "needs 'logprobs': true");
    CHAT(",\"logprobs\":true,\"top_logprobs\":21", "'top_logprobs' is 21");
    CHAT(",\"stream_options\":true", "'stream_options' must be an object");
    CHAT(",\"tools\":[{}]", "'tools'");
    refused(OAI_COMPLETION, "{}", "'prompt' is required");
    refused(OAI_COMPLETION, "{\"prompt\":\"\"}", "'prompt' is empty");
    refused(OAI_COMPLETION, "{\"prompt\":[]}", "'prompt' is empty");
    refused(OAI_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", "only one prompt");
    refused(OAI_COMPLETION, "{\"prompt\":[1,-2]}", "prompt[1] must be a token id");
    refused(OAI_COMPLETION, "{\"prompt\":{\"x\":1}}", "'prompt' must be a string or an array");
    refused(OAI_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":true}", "'logprobs' must be an integer");
    refused(OAI_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":50}", "'logprobs' is 50");
    refused(OAI_COMPLETION, "{\"prompt\":\"x\",\"echo\":true}", "'echo' is not supported");
#undef CHAT
}

static void test_error_json_and_utf8(void **state) {
    (void)state;
    oai_error e;
    oai_error_set(&e, 404, "invalid_request_error", "model", "model_not_found", "no model '%s'", "a\"b\xff");
    char *json = oai_error_json(&e);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    cJSON *err = cJSON_GetObjectItem(root, "error");
    assert_string_equal(cJSON_GetObjectItem(err, "message")->valuestring, "no model 'a\"b\xEF\xBF\xBD'");
    assert_string_equal(cJSON_GetObjectItem(err, "type")->valuestring, "invalid_request_error");
    assert_string_equal(cJSON_GetObjectItem(err, "param")->valuestring, "model");
    assert_string_equal(cJSON_GetObjectItem(err, "code")->valuestring, "model_not_found");
    cJSON_Delete(root);
    free(json);
    size_t n = 0;
    /* valid characters stay; a lone continuation byte, an overlong form, a surrogate and a
     * truncated character become U+FFFD each byte */
    char *clean = oai_utf8_clean("h\xC3\xA9\x80\xC0\xAF\xED\xA0\x80\xE2\x82", 11, &n);
    assert_string_equal(clean, "h\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_int_equal(n, strlen(clean));
    free(clean);
    clean = oai_utf8_clean("a\0b", 3, &n); /* NUL would end a C string: replaced */
    assert_string_equal(clean, "a\xEF\xBF\xBD" "b");
    free(clean);
}

static void test_response_shapes(void **state) {
    (void)state;
    oai_meta meta = {.kind = OAI_CHAT, .id = "chatcmpl-1", .model = "m", .created = 5};
    oai_usage u = {10, 4, 6};
    char *json = oai_response_json(&meta, "Paris.", 6, NULL, 0, "stop", &u);
    cJSON *root = cJSON_Parse(json);
    assert_string_equal(cJSON_GetObjectItem(root, "object")->valuestring, "chat.completion");
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "message"), "content")->valuestring, "Paris.");
    assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, "stop");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(c, "logprobs")));
    cJSON *usage = cJSON_GetObjectItem(root, "usage");
    assert_int_equal(cJSON_GetObjectItem(usage, "total_tokens")->valueint, 14);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(usage, "prompt_tokens_details"), "cached_tokens")->valueint, 6);
    cJSON_Delete(root);
    free(json);
    json = oai_chunk_json(&meta, true, "", 0, NULL, 0, NULL, true);
    root = cJSON_Parse(json);
    c = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(root, "object")->valuestring, "chat.completion.chunk");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "delta"), "role")->valuestring, "assistant");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(c, "finish_reason")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(root, "usage")));
    cJSON_Delete(root);
    free(json);
    meta.kind = OAI_COMPLETION;
    json = oai_chunk_json(&meta, false, "", 0, NULL, 0, "length", false);
    root = cJSON_Parse(json);
    c = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(root, "object")->valuestring, "text_completion");
    assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, "length");
    assert_null(cJSON_GetObjectItem(root, "usage"));
    cJSON_Delete(root);
    free(json);
    json = oai_usage_chunk_json(&meta, &u);
    root = cJSON_Parse(json);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "choices")), 0);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "usage"), "completion_tokens")->valueint, 4);
    cJSON_Delete(root);
    free(json);
}

static void test_metrics_text(void **state) {
    (void)state;
    sched_stats st = {.n_running = 3, .n_waiting = 2, .generated_tokens = 99, .kv_blocks_total = 10, .kv_blocks_active = 5};
    st.ttft.bucket[3] = 2; /* two observations <= 0.01 s */
    st.ttft.bucket[9] = 1; /* one <= 0.5 s */
    st.ttft.count = 4;     /* and one above every bound */
    st.ttft.sum = 40.5;
    uint64_t http[SERVER_HTTP_CODES] = {7, 1};
    char *text = server_metrics_text(&st, http);
    assert_non_null(strstr(text, "celer_requests_running 3\n"));
    assert_non_null(strstr(text, "celer_requests_waiting 2\n"));
    assert_non_null(strstr(text, "celer_generation_tokens_total 99\n"));
    assert_non_null(strstr(text, "celer_kv_cache_usage_ratio 0.500000\n"));
    assert_non_null(strstr(text, "celer_time_to_first_token_seconds_bucket{le=\"0.005\"} 0\n"));
    assert_non_null(strstr(text, "celer_time_to_first_token_seconds_bucket{le=\"0.01\"} 2\n"));
    assert_non_null(strstr(text, "celer_time_to_first_token_seconds_bucket{le=\"30\"} 3\n"));
    assert_non_null(strstr(text, "celer_time_to_first_token_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "celer_time_to_first_token_seconds_count 4\n"));
    assert_non_null(strstr(text, "# TYPE celer_time_per_output_token_seconds histogram\n"));
    assert_non_null(strstr(text, "celer_http_responses_total{code=\"200\"} 7\n"));
    assert_non_null(strstr(text, "celer_http_responses_total{code=\"400\"} 1\n"));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_request),        cmocka_unit_test(test_completion_request),
        cmocka_unit_test(test_refusals),            cmocka_unit_test(test_error_json_and_utf8),
        cmocka_unit_test(test_response_shapes),     cmocka_unit_test(test_metrics_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
