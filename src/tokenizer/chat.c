/* chat.c: chat template detection and rendering, following llama.cpp's src/llama-chat.cpp
 * family by family. Tests: tests/test_chat.c. */
#include "tokenizer/chat.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ---- */

typedef struct {
    const char *name;
    chat_template t;
} template_name;

/* llama.cpp's LLM_CHAT_TEMPLATES names; the families celer renders come first. */
static const template_name names[] = {
    {"chatml", CHAT_TEMPLATE_CHATML},
    {"llama2", CHAT_TEMPLATE_LLAMA_2},
    {"llama2-sys", CHAT_TEMPLATE_LLAMA_2_SYS},
    {"llama2-sys-bos", CHAT_TEMPLATE_LLAMA_2_SYS_BOS},
    {"llama2-sys-strip", CHAT_TEMPLATE_LLAMA_2_SYS_STRIP},
    {"mistral-v1", CHAT_TEMPLATE_MISTRAL_V1},
    {"mistral-v3", CHAT_TEMPLATE_MISTRAL_V3},
    {"mistral-v3-tekken", CHAT_TEMPLATE_MISTRAL_V3_TEKKEN},
    {"mistral-v7", CHAT_TEMPLATE_MISTRAL_V7},
    {"mistral-v7-tekken", CHAT_TEMPLATE_MISTRAL_V7_TEKKEN},
    {"phi3", CHAT_TEMPLATE_PHI_3},
    {"phi4", CHAT_TEMPLATE_PHI_4},
    {"falcon3", CHAT_TEMPLATE_FALCON_3},
    {"zephyr", CHAT_TEMPLATE_ZEPHYR},
    {"monarch", CHAT_TEMPLATE_MONARCH},
    {"gemma", CHAT_TEMPLATE_GEMMA},
    {"orion", CHAT_TEMPLATE_ORION},
    {"openchat", CHAT_TEMPLATE_OPENCHAT},
    {"vicuna", CHAT_TEMPLATE_VICUNA},
    {"vicuna-orca", CHAT_TEMPLATE_VICUNA_ORCA},
    {"deepseek", CHAT_TEMPLATE_DEEPSEEK},
    {"deepseek2", CHAT_TEMPLATE_DEEPSEEK_2},
    {"deepseek3", CHAT_TEMPLATE_DEEPSEEK_3},
    {"command-r", CHAT_TEMPLATE_COMMAND_R},
    {"llama3", CHAT_TEMPLATE_LLAMA_3},
    {"llama4", CHAT_TEMPLATE_LLAMA_4},
    {"chatglm3", CHAT_TEMPLATE_CHATGLM_3},
    {"chatglm4", CHAT_TEMPLATE_CHATGLM_4},
    {"glmedge", CHAT_TEMPLATE_GLMEDGE},
    {"minicpm", CHAT_TEMPLATE_MINICPM},
    {"exaone3", CHAT_TEMPLATE_EXAONE_3},
    {"granite", CHAT_TEMPLATE_GRANITE_3},
    {"megrez", CHAT_TEMPLATE_MEGREZ},
    {"smolvlm", CHAT_TEMPLATE_SMOLVLM},
    {"deepseek-ocr", CHAT_TEMPLATE_DEEPSEEK_OCR},
    {"exaone4", CHAT_TEMPLATE_EXAONE_4},
    {"exaone-moe", CHAT_TEMPLATE_EXAONE_MOE},
    {"rwkv-world", CHAT_TEMPLATE_RWKV_WORLD},
    {"granite-4.0", CHAT_TEMPLATE_GRANITE_4_0},
    {"granite-4.1", CHAT_TEMPLATE_GRANITE_4_1},
    {"gigachat", CHAT_TEMPLATE_GIGACHAT},
    {"yandex", CHAT_TEMPLATE_YANDEX},
    {"bailing", CHAT_TEMPLATE_BAILING},
    {"bailing-think", CHAT_TEMPLATE_BAILING_THINK},
    {"bailing2", CHAT_TEMPLATE_BAILING2},
    {"hunyuan-moe", CHAT_TEMPLATE_HUNYUAN_MOE},
    {"gpt-oss", CHAT_TEMPLATE_OPENAI_MOE},
    {"hunyuan-dense", CHAT_TEMPLATE_HUNYUAN_DENSE},
    {"hunyuan-vl", CHAT_TEMPLATE_HUNYUAN_VL},
    {"kimi-k2", CHAT_TEMPLATE_KIMI_K2},
    {"seed_oss", CHAT_TEMPLATE_SEED_OSS},
    {"grok-2", CHAT_TEMPLATE_GROK_2},
    {"pangu-embedded", CHAT_TEMPLATE_PANGU_EMBED},
    {"solar-open", CHAT_TEMPLATE_SOLAR_OPEN},
};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

chat_template chat_template_from_name(const char *name) {
    for (size_t i = 0; name && i < N_NAMES; i++)
        if (strcmp(names[i].name, name) == 0) return names[i].t;
    return CHAT_TEMPLATE_UNKNOWN;
}

const char *chat_template_name(chat_template t) {
    if (t == CHAT_TEMPLATE_DOTS1) return "dots1"; /* detected by llama.cpp, but not a name there */
    for (size_t i = 0; i < N_NAMES; i++)
        if (names[i].t == t) return names[i].name;
    return "unknown";
}

bool chat_template_is_rendered(chat_template t) { return t > CHAT_TEMPLATE_UNKNOWN && t < CHAT_TEMPLATE_NOT_RENDERED; }

const char *chat_template_names(void) {
    return "chatml, llama2, llama2-sys, llama2-sys-bos, llama2-sys-strip, mistral-v1, mistral-v3, "
           "mistral-v3-tekken, mistral-v7, mistral-v7-tekken, phi3, phi4, falcon3, zephyr, monarch, gemma, "
           "orion, openchat, vicuna, vicuna-orca, deepseek, deepseek2, deepseek3, command-r, llama3, llama4, "
           "chatglm3, chatglm4, glmedge, minicpm, exaone3, granite, megrez, smolvlm";
}

/* ---- detection: llm_chat_detect_template, check for check ---- */

static bool has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

static chat_template detect_mistral_or_llama2(const char *s) {
    if (has(s, "[SYSTEM_PROMPT]")) return CHAT_TEMPLATE_MISTRAL_V7;
    if (has(s, "' [INST] ' + system_message") || has(s, "[AVAILABLE_TOOLS]")) {
        if (has(s, " [INST]")) return CHAT_TEMPLATE_MISTRAL_V1;
        if (has(s, "\"[INST]\"")) return CHAT_TEMPLATE_MISTRAL_V3_TEKKEN;
        return CHAT_TEMPLATE_MISTRAL_V3;
    }
    if (has(s, "content.strip()")) return CHAT_TEMPLATE_LLAMA_2_SYS_STRIP;
    if (has(s, "bos_token + '[INST]")) return CHAT_TEMPLATE_LLAMA_2_SYS_BOS;
    if (has(s, "<<SYS>>")) return CHAT_TEMPLATE_LLAMA_2_SYS;
    return CHAT_TEMPLATE_LLAMA_2;
}

static chat_template detect_first(const char *s) {
    if (has(s, "<|im_start|>")) {
        if (has(s, "<|im_sep|>")) return CHAT_TEMPLATE_PHI_4;
        return has(s, "<end_of_utterance>") ? CHAT_TEMPLATE_SMOLVLM : CHAT_TEMPLATE_CHATML;
    }
    if (strncmp(s, "mistral", 7) == 0 || has(s, "[INST]")) return detect_mistral_or_llama2(s);
    if (has(s, "<|assistant|>") && has(s, "<|end|>")) return CHAT_TEMPLATE_PHI_3;
    if (has(s, "[gMASK]<sop>")) return CHAT_TEMPLATE_CHATGLM_4;
    if (has(s, "<|assistant|>") && has(s, "<|user|>")) {
        if (has(s, "<|tool_declare|>")) return CHAT_TEMPLATE_EXAONE_MOE;
        return has(s, "</s>") ? CHAT_TEMPLATE_FALCON_3 : CHAT_TEMPLATE_GLMEDGE;
    }
    if (has(s, "<|{{ item['role'] }}|>") && has(s, "<|begin_of_image|>")) return CHAT_TEMPLATE_GLMEDGE;
    if (has(s, "<|user|>") && has(s, "<|endoftext|>")) return CHAT_TEMPLATE_ZEPHYR;
    if (has(s, "bos_token + message['role']")) return CHAT_TEMPLATE_MONARCH;
    if (has(s, "<start_of_turn>")) return CHAT_TEMPLATE_GEMMA;
    if (has(s, "'\\n\\nAssistant: ' + eos_token")) return CHAT_TEMPLATE_ORION;
    if (has(s, "GPT4 Correct ")) return CHAT_TEMPLATE_OPENCHAT;
    if (has(s, "USER: ") && has(s, "ASSISTANT: "))
        return has(s, "SYSTEM: ") ? CHAT_TEMPLATE_VICUNA_ORCA : CHAT_TEMPLATE_VICUNA;
    if (has(s, "### Instruction:") && has(s, "<|EOT|>")) return CHAT_TEMPLATE_DEEPSEEK;
    if (has(s, "<|START_OF_TURN_TOKEN|>") && has(s, "<|USER_TOKEN|>")) return CHAT_TEMPLATE_COMMAND_R;
    if (has(s, "<|start_header_id|>") && has(s, "<|end_header_id|>")) return CHAT_TEMPLATE_LLAMA_3;
    if (has(s, "[gMASK]sop")) return CHAT_TEMPLATE_CHATGLM_3;
    if (has(s, "<用户>")) return CHAT_TEMPLATE_MINICPM;
    if (has(s, "'Assistant: ' + message['content'] + eos_token")) return CHAT_TEMPLATE_DEEPSEEK_2;
    if (has(s, "<｜Assistant｜>") && has(s, "<｜User｜>") && has(s, "<｜end▁of▁sentence｜>"))
        return CHAT_TEMPLATE_DEEPSEEK_3;
    return CHAT_TEMPLATE_UNKNOWN;
}

static chat_template detect_rest(const char *s) {
    if (has(s, "[|system|]") && has(s, "[|assistant|]") && has(s, "[|endofturn|]"))
        return has(s, "[|tool|]") ? CHAT_TEMPLATE_EXAONE_4 : CHAT_TEMPLATE_EXAONE_3;
    if (has(s, "rwkv-world") || has(s, "{{- 'User: ' + message['content']|trim + '\\n\\n' -}}"))
        return CHAT_TEMPLATE_RWKV_WORLD;
    if (has(s, "<|start_of_role|>")) {
        if (has(s, "<tool_call>") || has(s, "<tools>"))
            return has(s, "g4_default_system_message") ? CHAT_TEMPLATE_GRANITE_4_0 : CHAT_TEMPLATE_GRANITE_4_1;
        return CHAT_TEMPLATE_GRANITE_3;
    }
    if (has(s, "message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]"))
        return CHAT_TEMPLATE_GIGACHAT;
    if (has(s, "<|role_start|>")) return CHAT_TEMPLATE_MEGREZ;
    if (has(s, " Ассистент:")) return CHAT_TEMPLATE_YANDEX;
    if (has(s, "<role>ASSISTANT</role>") && has(s, "'HUMAN'")) return CHAT_TEMPLATE_BAILING;
    if (has(s, "<role>ASSISTANT</role>") && has(s, "\"HUMAN\"") && has(s, "<think>")) return CHAT_TEMPLATE_BAILING_THINK;
    if (has(s, "<role>ASSISTANT</role>") && has(s, "<role>HUMAN</role>") && has(s, "<|role_end|>"))
        return CHAT_TEMPLATE_BAILING2;
    if (has(s, "<|header_start|>") && has(s, "<|header_end|>")) return CHAT_TEMPLATE_LLAMA_4;
    if (has(s, "<|endofuserprompt|>")) return CHAT_TEMPLATE_DOTS1;
    if (has(s, "<|extra_0|>") && has(s, "<|extra_4|>")) return CHAT_TEMPLATE_HUNYUAN_MOE;
    if (has(s, "<|start|>") && has(s, "<|channel|>")) return CHAT_TEMPLATE_OPENAI_MOE;
    if (has(s, "<｜hy_Assistant｜>") && has(s, "<｜hy_begin▁of▁sentence｜>")) return CHAT_TEMPLATE_HUNYUAN_VL;
    if (has(s, "<｜hy_Assistant｜>") && has(s, "<｜hy_place▁holder▁no▁3｜>")) return CHAT_TEMPLATE_HUNYUAN_DENSE;
    if (has(s, "<|im_assistant|>assistant<|im_middle|>")) return CHAT_TEMPLATE_KIMI_K2;
    if (has(s, "<seed:bos>")) return CHAT_TEMPLATE_SEED_OSS;
    if (has(s, "'Assistant: '  + message['content'] + '<|separator|>")) return CHAT_TEMPLATE_GROK_2;
    if (has(s, "[unused9]系统：[unused10]")) return CHAT_TEMPLATE_PANGU_EMBED;
    if (has(s, "<|begin|>") && has(s, "<|end|>") && has(s, "<|content|>")) return CHAT_TEMPLATE_SOLAR_OPEN;
    return CHAT_TEMPLATE_UNKNOWN;
}

chat_template chat_template_detect(const char *jinja) {
    if (!jinja) return CHAT_TEMPLATE_UNKNOWN;
    chat_template t = chat_template_from_name(jinja);
    if (t == CHAT_TEMPLATE_UNKNOWN) t = detect_first(jinja);
    if (t == CHAT_TEMPLATE_UNKNOWN) t = detect_rest(jinja);
    return t;
}

/* ---- rendering ---- */

typedef struct {
    char *buf; /* (cap) */
    size_t n, cap;
    bool oom;
} text_builder;

static void add_n(text_builder *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->n, s, n);
    b->n += n;
    b->buf[b->n] = '\0';
}

static void add(text_builder *b, const char *s) { add_n(b, s, strlen(s)); }

/* llama.cpp's trim(): ASCII whitespace off both ends. */
static void add_trimmed(text_builder *b, const char *s) {
    size_t start = 0, end = strlen(s);
    while (start < end && isspace((unsigned char)s[start])) start++;
    while (end > start && isspace((unsigned char)s[end - 1])) end--;
    add_n(b, s + start, end - start);
}

static bool is(const celer_chat_message *m, const char *role) { return strcmp(m->role, role) == 0; }

/* Families that are "<prefix>role<mid>content<suffix>" per message and a fixed opening. */
typedef struct {
    chat_template t;
    const char *prefix, *mid, *suffix, *assistant;
    bool trim;
} simple_family;

static const simple_family simple_families[] = {
    {CHAT_TEMPLATE_CHATML, "<|im_start|>", "\n", "<|im_end|>\n", "<|im_start|>assistant\n", false},
    {CHAT_TEMPLATE_PHI_3, "<|", "|>\n", "<|end|>\n", "<|assistant|>\n", false},
    {CHAT_TEMPLATE_PHI_4, "<|im_start|>", "<|im_sep|>", "<|im_end|>", "<|im_start|>assistant<|im_sep|>", false},
    {CHAT_TEMPLATE_FALCON_3, "<|", "|>\n", "\n", "<|assistant|>\n", false},
    {CHAT_TEMPLATE_ZEPHYR, "<|", "|>\n", "<|endoftext|>\n", "<|assistant|>\n", false},
    {CHAT_TEMPLATE_LLAMA_3, "<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>",
     "<|start_header_id|>assistant<|end_header_id|>\n\n", true},
    {CHAT_TEMPLATE_LLAMA_4, "<|header_start|>", "<|header_end|>\n\n", "<|eot|>",
     "<|header_start|>assistant<|header_end|>\n\n", true},
    {CHAT_TEMPLATE_GLMEDGE, "<|", "|>\n", "", "<|assistant|>", false},
    {CHAT_TEMPLATE_GRANITE_3, "<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>\n",
     "<|start_of_role|>assistant<|end_of_role|>", false},
    {CHAT_TEMPLATE_MEGREZ, "<|role_start|>", "<|role_end|>", "<|turn_end|>", "<|role_start|>assistant<|role_end|>", false},
};

static void render_simple(text_builder *b, const simple_family *f, const celer_chat_message *msgs, size_t n, bool add_ass) {
    for (size_t i = 0; i < n; i++) {
        add(b, f->prefix);
        add(b, msgs[i].role);
        if (f->t == CHAT_TEMPLATE_GRANITE_3 && is(&msgs[i], "assistant_tool_call")) add(b, "<|tool_call|>");
        add(b, f->mid);
        if (f->trim) add_trimmed(b, msgs[i].content);
        else add(b, msgs[i].content);
        add(b, f->suffix);
    }
    if (add_ass) add(b, f->assistant);
}

/* llama2 and its variants: [INST] turns, <<SYS>> blocks, optional <s> and strip. */
static void render_llama2(text_builder *b, chat_template t, const celer_chat_message *msgs, size_t n) {
    bool system_block = t != CHAT_TEMPLATE_LLAMA_2, bos_inside = t == CHAT_TEMPLATE_LLAMA_2_SYS_BOS;
    bool strip = t == CHAT_TEMPLATE_LLAMA_2_SYS_STRIP, inside_turn = true;
    add(b, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        void (*content)(text_builder *, const char *) = strip ? add_trimmed : add;
        if (!inside_turn) {
            inside_turn = true;
            add(b, bos_inside ? "<s>[INST] " : "[INST] ");
        }
        if (is(&msgs[i], "system")) {
            add(b, system_block ? "<<SYS>>\n" : "");
            content(b, msgs[i].content);
            add(b, system_block ? "\n<</SYS>>\n\n" : "\n");
        } else if (is(&msgs[i], "user")) {
            content(b, msgs[i].content);
            add(b, " [/INST]");
        } else {
            content(b, msgs[i].content);
            add(b, "</s>");
            inside_turn = false;
        }
    }
}

/* Mistral v1, v3, v3-tekken: spacing differs; v3 trims assistant messages. */
static void render_mistral(text_builder *b, chat_template t, const celer_chat_message *msgs, size_t n) {
    const char *lead = t == CHAT_TEMPLATE_MISTRAL_V1 ? " " : "";
    const char *trail = t == CHAT_TEMPLATE_MISTRAL_V3_TEKKEN ? "" : " ";
    bool inside_turn = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside_turn) {
            add(b, lead), add(b, "[INST]"), add(b, trail);
            inside_turn = true;
        }
        if (is(&msgs[i], "system")) {
            add(b, msgs[i].content), add(b, "\n\n");
        } else if (is(&msgs[i], "user")) {
            add(b, msgs[i].content), add(b, lead), add(b, "[/INST]");
        } else {
            add(b, trail);
            if (t == CHAT_TEMPLATE_MISTRAL_V3) add_trimmed(b, msgs[i].content);
            else add(b, msgs[i].content);
            add(b, "</s>");
            inside_turn = false;
        }
    }
}

static void render_mistral_v7(text_builder *b, chat_template t, const celer_chat_message *msgs, size_t n) {
    const char *sp = t == CHAT_TEMPLATE_MISTRAL_V7 ? " " : "";
    for (size_t i = 0; i < n; i++) {
        if (is(&msgs[i], "system")) add(b, "[SYSTEM_PROMPT]"), add(b, sp), add(b, msgs[i].content), add(b, "[/SYSTEM_PROMPT]");
        else if (is(&msgs[i], "user")) add(b, "[INST]"), add(b, sp), add(b, msgs[i].content), add(b, "[/INST]");
        else add(b, sp), add(b, msgs[i].content), add(b, "</s>");
    }
}

/* Gemma has no system role: system text goes before the next user message. */
static void render_gemma(text_builder *b, const celer_chat_message *msgs, size_t n, bool add_ass) {
    text_builder system = {0};
    for (size_t i = 0; i < n; i++) {
        if (is(&msgs[i], "system")) {
            add_trimmed(&system, msgs[i].content);
            continue;
        }
        bool model = is(&msgs[i], "assistant");
        add(b, "<start_of_turn>"), add(b, model ? "model" : msgs[i].role), add(b, "\n");
        if (system.n > 0 && !model) {
            add_n(b, system.buf, system.n), add(b, "\n\n");
            system.n = 0;
        }
        add_trimmed(b, msgs[i].content), add(b, "<end_of_turn>\n");
    }
    if (add_ass) add(b, "<start_of_turn>model\n");
    b->oom |= system.oom;
    free(system.buf);
}

static void render_orion(text_builder *b, const celer_chat_message *msgs, size_t n) {
    text_builder system = {0};
    for (size_t i = 0; i < n; i++) {
        if (is(&msgs[i], "system")) {
            add(&system, msgs[i].content);
        } else if (is(&msgs[i], "user")) {
            add(b, "Human: ");
            if (system.n > 0) add_n(b, system.buf, system.n), add(b, "\n\n"), system.n = 0;
            add(b, msgs[i].content), add(b, "\n\nAssistant: </s>");
        } else {
            add(b, msgs[i].content), add(b, "</s>");
        }
    }
    b->oom |= system.oom;
    free(system.buf);
}

static void render_openchat(text_builder *b, const celer_chat_message *msgs, size_t n, bool add_ass) {
    for (size_t i = 0; i < n; i++) {
        if (!is(&msgs[i], "system")) {
            char first = (char)toupper((unsigned char)msgs[i].role[0]);
            add(b, "GPT4 Correct ");
            if (first) add_n(b, &first, 1), add(b, msgs[i].role + 1);
            add(b, ": ");
        }
        add(b, msgs[i].content), add(b, "<|end_of_turn|>");
    }
    if (add_ass) add(b, "GPT4 Correct Assistant:");
}

static void render_vicuna(text_builder *b, chat_template t, const celer_chat_message *msgs, size_t n, bool add_ass) {
    for (size_t i = 0; i < n; i++) {
        if (is(&msgs[i], "system")) {
            if (t == CHAT_TEMPLATE_VICUNA_ORCA) add(b, "SYSTEM: "), add(b, msgs[i].content), add(b, "\n");
            else add(b, msgs[i].content), add(b, "\n\n");
        } else if (is(&msgs[i], "user")) {
            add(b, "USER: "), add(b, msgs[i].content), add(b, "\n");
        } else if (is(&msgs[i], "assistant")) {
            add(b, "ASSISTANT: "), add(b, msgs[i].content), add(b, "</s>\n");
        }
    }
    if (add_ass) add(b, "ASSISTANT:");
}

/* DeepSeek coder, V2 and V3: system text as is, then role-marked turns. */
static void render_deepseek(text_builder *b, chat_template t, const celer_chat_message *msgs, size_t n, bool add_ass) {
    static const char *const marks[3][5] = {
        /* system suffix, user prefix, user suffix, assistant prefix, assistant suffix */
        {"", "### Instruction:\n", "\n", "### Response:\n", "\n<|EOT|>\n"},
        {"\n\n", "User: ", "\n\n", "Assistant: ", "<｜end▁of▁sentence｜>"},
        {"\n\n", "<｜User｜>", "", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"},
    };
    static const char *const opening[3] = {"### Response:\n", "Assistant:", "<｜Assistant｜>"};
    int k = t == CHAT_TEMPLATE_DEEPSEEK ? 0 : t == CHAT_TEMPLATE_DEEPSEEK_2 ? 1 : 2;
    for (size_t i = 0; i < n; i++) {
        if (is(&msgs[i], "system")) add(b, msgs[i].content), add(b, marks[k][0]);
        else if (is(&msgs[i], "user")) add(b, marks[k][1]), add(b, msgs[i].content), add(b, marks[k][2]);
        else if (is(&msgs[i], "assistant")) add(b, marks[k][3]), add(b, msgs[i].content), add(b, marks[k][4]);
    }
    if (add_ass) add(b, opening[k]);
}

static void render_command_r(text_builder *b, const celer_chat_message *msgs, size_t n, bool add_ass) {
    for (size_t i = 0; i < n; i++) {
        const char *tag = is(&msgs[i], "system") ? "<|SYSTEM_TOKEN|>" : is(&msgs[i], "user") ? "<|USER_TOKEN|>"
                          : is(&msgs[i], "assistant") ? "<|CHATBOT_TOKEN|>" : NULL;
        if (!tag) continue;
        add(b, "<|START_OF_TURN_TOKEN|>"), add(b, tag), add_trimmed(b, msgs[i].content), add(b, "<|END_OF_TURN_TOKEN|>");
    }
    if (add_ass) add(b, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
}

static void render_glm_monarch(text_builder *b, chat_template t, const celer_chat_message *msgs, size_t n, bool add_ass) {
    if (t == CHAT_TEMPLATE_CHATGLM_3) add(b, "[gMASK]sop");
    if (t == CHAT_TEMPLATE_CHATGLM_4) add(b, "[gMASK]<sop>");
    for (size_t i = 0; i < n; i++) {
        if (t == CHAT_TEMPLATE_MONARCH) {
            add(b, i == 0 ? "" : "<s>"), add(b, msgs[i].role), add(b, "\n"), add(b, msgs[i].content), add(b, "</s>\n");
        } else {
            add(b, "<|"), add(b, msgs[i].role), add(b, t == CHAT_TEMPLATE_CHATGLM_3 ? "|>\n " : "|>\n");
            add(b, msgs[i].content);
        }
    }
    if (add_ass)
        add(b, t == CHAT_TEMPLATE_MONARCH ? "<s>assistant\n" : t == CHAT_TEMPLATE_CHATGLM_3 ? "<|assistant|>" : "<|assistant|>\n");
}

static void render_minicpm_exaone(text_builder *b, chat_template t, const celer_chat_message *msgs, size_t n, bool add_ass) {
    for (size_t i = 0; i < n; i++) {
        if (t == CHAT_TEMPLATE_MINICPM) {
            if (is(&msgs[i], "user")) add(b, "<用户>"), add_trimmed(b, msgs[i].content), add(b, "<AI>");
            else add_trimmed(b, msgs[i].content);
        } else if (is(&msgs[i], "system")) {
            add(b, "[|system|]"), add_trimmed(b, msgs[i].content), add(b, "[|endofturn|]\n");
        } else if (is(&msgs[i], "user")) {
            add(b, "[|user|]"), add_trimmed(b, msgs[i].content), add(b, "\n");
        } else if (is(&msgs[i], "assistant")) {
            add(b, "[|assistant|]"), add_trimmed(b, msgs[i].content), add(b, "[|endofturn|]\n");
        }
    }
    if (add_ass && t == CHAT_TEMPLATE_EXAONE_3) add(b, "[|assistant|]");
}

static void render_smolvlm(text_builder *b, const celer_chat_message *msgs, size_t n, bool add_ass) {
    add(b, "<|im_start|>");
    for (size_t i = 0; i < n; i++) {
        if (is(&msgs[i], "system")) add(b, msgs[i].content), add(b, "\n\n");
        else if (is(&msgs[i], "user")) add(b, "User: "), add(b, msgs[i].content), add(b, "<end_of_utterance>\n");
        else add(b, "Assistant: "), add(b, msgs[i].content), add(b, "<end_of_utterance>\n");
    }
    if (add_ass) add(b, "Assistant:");
}

static void render_family(text_builder *b, chat_template t, const celer_chat_message *msgs, size_t n, bool add_ass) {
    for (size_t i = 0; i < sizeof(simple_families) / sizeof(simple_families[0]); i++)
        if (simple_families[i].t == t) {
            render_simple(b, &simple_families[i], msgs, n, add_ass);
            return;
        }
    switch (t) {
    case CHAT_TEMPLATE_LLAMA_2: case CHAT_TEMPLATE_LLAMA_2_SYS: case CHAT_TEMPLATE_LLAMA_2_SYS_BOS:
    case CHAT_TEMPLATE_LLAMA_2_SYS_STRIP: render_llama2(b, t, msgs, n); break;
    case CHAT_TEMPLATE_MISTRAL_V1: case CHAT_TEMPLATE_MISTRAL_V3:
    case CHAT_TEMPLATE_MISTRAL_V3_TEKKEN: render_mistral(b, t, msgs, n); break;
    case CHAT_TEMPLATE_MISTRAL_V7: case CHAT_TEMPLATE_MISTRAL_V7_TEKKEN: render_mistral_v7(b, t, msgs, n); break;
    case CHAT_TEMPLATE_GEMMA: render_gemma(b, msgs, n, add_ass); break;
    case CHAT_TEMPLATE_ORION: render_orion(b, msgs, n); break;
    case CHAT_TEMPLATE_OPENCHAT: render_openchat(b, msgs, n, add_ass); break;
    case CHAT_TEMPLATE_VICUNA: case CHAT_TEMPLATE_VICUNA_ORCA: render_vicuna(b, t, msgs, n, add_ass); break;
    case CHAT_TEMPLATE_DEEPSEEK: case CHAT_TEMPLATE_DEEPSEEK_2:
    case CHAT_TEMPLATE_DEEPSEEK_3: render_deepseek(b, t, msgs, n, add_ass); break;
    case CHAT_TEMPLATE_COMMAND_R: render_command_r(b, msgs, n, add_ass); break;
    case CHAT_TEMPLATE_MONARCH: case CHAT_TEMPLATE_CHATGLM_3:
    case CHAT_TEMPLATE_CHATGLM_4: render_glm_monarch(b, t, msgs, n, add_ass); break;
    case CHAT_TEMPLATE_MINICPM: case CHAT_TEMPLATE_EXAONE_3: render_minicpm_exaone(b, t, msgs, n, add_ass); break;
    case CHAT_TEMPLATE_SMOLVLM: render_smolvlm(b, msgs, n, add_ass); break;
    default: CHECK(!"unrendered chat template family");
    }
}

celer_status chat_render(chat_template t, const celer_chat_message *msgs, size_t n, bool add_assistant, char **out,
                         celer_error *err) {
    *out = NULL;
    if (!chat_template_is_rendered(t))
        return celer_error_set(err, CELER_ERR_UNSUPPORTED,
                               "chat template '%s' is not one celer renders; pass --chat-template NAME with one of: %s",
                               chat_template_name(t), chat_template_names());
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "chat message %zu has no %s", i, msgs[i].role ? "content" : "role");
    text_builder b = {0};
    add(&b, ""); /* an empty conversation still renders as "" */
    render_family(&b, t, msgs, n, add_assistant);
    if (b.oom) {
        free(b.buf);
        return celer_error_set(err, CELER_ERR_NOMEM, "chat template: out of memory");
    }
    *out = b.buf;
    return CELER_OK;
}

celer_status chat_render_for_model(const gguf_file *f, const char *template_name, const celer_chat_message *msgs,
                                   size_t n, bool add_assistant, char **out, celer_error *err) {
    *out = NULL;
    if (template_name) {
        chat_template t = chat_template_from_name(template_name);
        if (t == CHAT_TEMPLATE_UNKNOWN)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "unknown chat template name '%s'; known names: %s",
                                   template_name, chat_template_names());
        return chat_render(t, msgs, n, add_assistant, out, err);
    }
    const gguf_string *s = NULL;
    celer_status st = f ? gguf_get_str(f, "tokenizer.chat_template", &s, err) : CELER_ERR_RANGE;
    if (st == CELER_ERR_RANGE) return chat_render(CHAT_TEMPLATE_CHATML, msgs, n, add_assistant, out, err);
    if (st != CELER_OK) return st;
    chat_template t = chat_template_detect(s->data);
    if (t == CHAT_TEMPLATE_UNKNOWN)
        return celer_error_set(err, CELER_ERR_UNSUPPORTED,
                               "the model's chat template (tokenizer.chat_template) is not one celer recognises; "
                               "pass --chat-template NAME with one of: %s", chat_template_names());
    return chat_render(t, msgs, n, add_assistant, out, err);
}
