/* test_chat.c: chat templates against llama.cpp's llama_chat_apply_template, exactly.
 *
 * tests/data/golden/chat.tsv (scripts/make_golden_tokens.py) holds llama.cpp's output for
 * every family name and for real Jinja templates (SmolLM2's, Llama 3.1, Phi-3.5, Gemma 2,
 * Mistral Nemo and Small 3.2, Qwen2.5, DeepSeek R1 distill, Granite 3.3, Command R+, and
 * Llama 2 style snippets), each with three conversations and add_assistant on and off.
 * Also: the family detected for the real templates, the model-level entry point (template
 * from GGUF, ChatML when absent, --chat-template override) and its error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tokenizer/chat.h"

/* The conversations of make_golden_tokens.py's MESSAGES. */
static const celer_chat_message full[] = {{"system", "You are a helpful assistant."},
                                          {"user", "Hello!"},
                                          {"assistant", "  Hi there, how can I help?  "},
                                          {"user", "  What is 2+2?\n"}};
static const celer_chat_message nosys[] = {{"user", "hi"}, {"assistant", "hello"}, {"user", "bye"}};

static const celer_chat_message *messages(const char *name, size_t *n) {
    if (strcmp(name, "full") == 0) return *n = 4, full;
    if (strcmp(name, "nosys") == 0) return *n = 3, nosys;
    assert_string_equal(name, "empty");
    *n = 0;
    return NULL;
}

static char *read_source_file(const char *rel) {
    char path[4096];
    const char *dir = getenv("CELER_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *unhex(const char *hex) {
    if (strcmp(hex, "-") == 0) hex = "";
    size_t n = strlen(hex) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = '\0';
    return out;
}

static int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    for (char *p = line; n < max;) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

/* What llama.cpp's detection makes of the real templates in the goldens. */
static const struct {
    const char *label, *family;
} expected_family[] = {
    {"smollm2", "chatml"},
    {"file:meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3"},
    {"file:microsoft-Phi-3.5-mini-instruct.jinja", "phi3"},
    {"file:google-gemma-2-2b-it.jinja", "gemma"},
    {"file:mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral-v3-tekken"},
    {"file:Mistral-Small-3.2-24B-Instruct-2506.jinja", "mistral-v7"},
    {"file:Qwen-Qwen2.5-7B-Instruct.jinja", "chatml"},
    {"file:deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "deepseek3"},
    {"file:ibm-granite-granite-3.3-2B-Instruct.jinja", "granite"},
    {"file:CohereForAI-c4ai-command-r-plus-tool_use.jinja", "command-r"},
    {"snippet:llama2-plain", "llama2"},
    {"snippet:llama2-sys", "llama2-sys"},
    {"snippet:llama2-sys-bos", "llama2-sys-bos"},
    {"snippet:llama2-strip", "llama2-sys-strip"},
    {"snippet:mistral-v1", "mistral-v1"},
    {"snippet:unknown", "unknown"},
};

static chat_template family_of(const char *label, const char *text) {
    chat_template t = strncmp(label, "name:", 5) == 0 ? chat_template_from_name(label + 5) : chat_template_detect(text);
    if (strncmp(label, "name:", 5) == 0) assert_string_equal(chat_template_name(t), label + 5);
    for (size_t i = 0; i < sizeof(expected_family) / sizeof(expected_family[0]); i++)
        if (strcmp(expected_family[i].label, label) == 0) assert_string_equal(chat_template_name(t), expected_family[i].family);
    return t;
}

static void golden_chat(void **state) {
    (void)state;
    char *tsv = read_source_file("tests/data/golden/chat.tsv");
    char label[256] = "", *text = NULL;
    chat_template family = CHAT_TEMPLATE_UNKNOWN;
    int cases = 0, failures = 0;
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *f[6];
        int nf = split_tabs(line, f, 6);
        if (strcmp(f[0], "template") == 0 && nf == 3) {
            snprintf(label, sizeof(label), "%s", f[1]);
            free(text);
            text = unhex(f[2]);
            family = family_of(label, text);
            continue;
        }
        assert_true(strcmp(f[0], "case") == 0 && nf == 5);
        assert_string_equal(f[1], label);
        size_t n;
        const celer_chat_message *msgs = messages(f[3], &n);
        char *out = NULL;
        celer_error err = {0};
        celer_status st = chat_render(family, msgs, n, atoi(f[2]) != 0, &out, &err);
        char *want = strcmp(f[4], "ERROR") == 0 ? NULL : unhex(f[4]);
        bool ok = want ? st == CELER_OK && strcmp(out, want) == 0 : st != CELER_OK;
        cases++;
        if (!ok && failures++ < 10)
            print_error("%s %s add_assistant %s:\n  celer:     [%s]\n  llama.cpp: [%s]\n", label, f[3], f[2],
                        out ? out : err.msg, want ? want : "(error)");
        free(want);
        free(out);
    }
    free(text);
    free(tsv);
    print_message("chat.tsv: %d cases, %d failed\n", cases, failures);
    assert_int_equal(failures, 0);
}

/* ---- the model-level entry point ---- */

static celer_status render_with_file(const char *jinja, const char *name, char **out, celer_error *err) {
    gguf_writer *w = gguf_writer_new();
    celer_error e2 = {0};
    if (jinja) assert_int_equal(gguf_writer_set_str(w, "tokenizer.chat_template", jinja, &e2), CELER_OK);
    void *buf;
    size_t size;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size, &e2), CELER_OK);
    gguf_file *f;
    assert_int_equal(gguf_parse(buf, size, &f, &e2), CELER_OK);
    celer_status st = chat_render_for_model(f, name, nosys, 3, true, out, err);
    gguf_close(f);
    free(buf);
    gguf_writer_free(w);
    return st;
}

static void render_for_model(void **state) {
    (void)state;
    char *out;
    celer_error err = {0};
    const char *chatml = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
                         "<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n";
    assert_int_equal(render_with_file(NULL, NULL, &out, &err), CELER_OK); /* no template: ChatML */
    assert_string_equal(out, chatml);
    free(out);
    assert_int_equal(render_with_file("{{ '<start_of_turn>' }}", NULL, &out, &err), CELER_OK);
    assert_string_equal(out, "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\nhello<end_of_turn>\n"
                             "<start_of_turn>user\nbye<end_of_turn>\n<start_of_turn>model\n");
    free(out);
    assert_int_equal(render_with_file("{{ '<start_of_turn>' }}", "chatml", &out, &err), CELER_OK); /* override */
    assert_string_equal(out, chatml);
    free(out);

    assert_int_equal(render_with_file("{{ messages }}", NULL, &out, &err), CELER_ERR_UNSUPPORTED);
    assert_null(out);
    assert_non_null(strstr(err.msg, "--chat-template NAME"));
    assert_non_null(strstr(err.msg, "chatml, llama2,"));
    assert_non_null(strstr(err.msg, "llama3"));
    assert_int_equal(render_with_file(NULL, "no-such-name", &out, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "'no-such-name'"));
    assert_non_null(strstr(err.msg, "mistral-v7"));
    /* detected as a family celer does not render: the same advice */
    assert_int_equal(render_with_file("<|start|>x<|channel|>", NULL, &out, &err), CELER_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'gpt-oss'"));
    assert_non_null(strstr(err.msg, "--chat-template NAME"));
}

static void names_and_arguments(void **state) {
    (void)state;
    for (int t = CHAT_TEMPLATE_UNKNOWN + 1; t < CHAT_TEMPLATE_COUNT; t++) {
        const char *name = chat_template_name((chat_template)t);
        assert_string_not_equal(name, "unknown");
        if (t != CHAT_TEMPLATE_DOTS1) assert_int_equal(chat_template_from_name(name), t);
        if (chat_template_is_rendered((chat_template)t)) assert_non_null(strstr(chat_template_names(), name));
    }
    assert_int_equal(chat_template_from_name("dots1"), CHAT_TEMPLATE_UNKNOWN); /* as in llama.cpp */
    assert_int_equal(chat_template_detect("llama3"), CHAT_TEMPLATE_LLAMA_3);   /* a bare name is a template */
    assert_int_equal(chat_template_detect(NULL), CHAT_TEMPLATE_UNKNOWN);
    char *out;
    celer_error err = {0};
    celer_chat_message bad[] = {{"user", NULL}};
    assert_int_equal(chat_render(CHAT_TEMPLATE_CHATML, bad, 1, true, &out, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "message 0 has no content"));
    assert_int_equal(chat_render(CHAT_TEMPLATE_CHATML, NULL, 0, false, &out, &err), CELER_OK);
    assert_string_equal(out, "");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_chat),
        cmocka_unit_test(render_for_model),
        cmocka_unit_test(names_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
