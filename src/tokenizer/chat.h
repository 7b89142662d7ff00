/* chat.h: chat templates as llama.cpp's src/llama-chat.cpp applies them: no Jinja; the
 * family is recognised from tokenizer.chat_template by the same substring checks as
 * llm_chat_detect_template (or named with --chat-template NAME), and each family renders
 * messages with fixed code, producing exactly llama_chat_apply_template's output.
 * Tests: tests/test_chat.c (goldens from llama.cpp: tests/data/golden/chat.tsv). */
#ifndef CELER_TOKENIZER_CHAT_H
#define CELER_TOKENIZER_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "celer.h"
#include "core/status.h"
#include "format/gguf.h"

typedef enum {
    CHAT_TEMPLATE_UNKNOWN = 0,
    /* rendered by celer */
    CHAT_TEMPLATE_CHATML,
    CHAT_TEMPLATE_LLAMA_2,
    CHAT_TEMPLATE_LLAMA_2_SYS,
    CHAT_TEMPLATE_LLAMA_2_SYS_BOS,
    CHAT_TEMPLATE_LLAMA_2_SYS_STRIP,
    CHAT_TEMPLATE_MISTRAL_V1,
    CHAT_TEMPLATE_MISTRAL_V3,
    CHAT_TEMPLATE_MISTRAL_V3_TEKKEN,
    CHAT_TEMPLATE_MISTRAL_V7,
    CHAT_TEMPLATE_MISTRAL_V7_TEKKEN,
    CHAT_TEMPLATE_PHI_3,
    CHAT_TEMPLATE_PHI_4,
    CHAT_TEMPLATE_FALCON_3,
    CHAT_TEMPLATE_ZEPHYR,
    CHAT_TEMPLATE_MONARCH,
    CHAT_TEMPLATE_GEMMA,
    CHAT_TEMPLATE_ORION,
    CHAT_TEMPLATE_OPENCHAT,
    CHAT_TEMPLATE_VICUNA,
    CHAT_TEMPLATE_VICUNA_ORCA,
    CHAT_TEMPLATE_DEEPSEEK,
    CHAT_TEMPLATE_DEEPSEEK_2,
    CHAT_TEMPLATE_DEEPSEEK_3,
    CHAT_TEMPLATE_COMMAND_R,
    CHAT_TEMPLATE_LLAMA_3,
    CHAT_TEMPLATE_LLAMA_4,
    CHAT_TEMPLATE_CHATGLM_3,
    CHAT_TEMPLATE_CHATGLM_4,
    CHAT_TEMPLATE_GLMEDGE,
    CHAT_TEMPLATE_MINICPM,
    CHAT_TEMPLATE_EXAONE_3,
    CHAT_TEMPLATE_GRANITE_3,
    CHAT_TEMPLATE_MEGREZ,
    CHAT_TEMPLATE_SMOLVLM,
    /* recognised (so that detection picks what llama.cpp picks) but not rendered */
    CHAT_TEMPLATE_NOT_RENDERED,
    CHAT_TEMPLATE_DEEPSEEK_OCR = CHAT_TEMPLATE_NOT_RENDERED,
    CHAT_TEMPLATE_EXAONE_4,
    CHAT_TEMPLATE_EXAONE_MOE,
    CHAT_TEMPLATE_RWKV_WORLD,
    CHAT_TEMPLATE_GRANITE_4_0,
    CHAT_TEMPLATE_GRANITE_4_1,
    CHAT_TEMPLATE_GIGACHAT,
    CHAT_TEMPLATE_YANDEX,
    CHAT_TEMPLATE_BAILING,
    CHAT_TEMPLATE_BAILING_THINK,
    CHAT_TEMPLATE_BAILING2,
    CHAT_TEMPLATE_DOTS1,
    CHAT_TEMPLATE_HUNYUAN_MOE,
    CHAT_TEMPLATE_OPENAI_MOE,
    CHAT_TEMPLATE_HUNYUAN_DENSE,
    CHAT_TEMPLATE_HUNYUAN_VL,
    CHAT_TEMPLATE_KIMI_K2,
    CHAT_TEMPLATE_SEED_OSS,
    CHAT_TEMPLATE_GROK_2,
    CHAT_TEMPLATE_PANGU_EMBED,
    CHAT_TEMPLATE_SOLAR_OPEN,
    CHAT_TEMPLATE_COUNT
} chat_template;

/* The family for a --chat-template NAME ("chatml", "llama3", "llama2-sys", "mistral-v7",
 * ... llama.cpp's names); CHAT_TEMPLATE_UNKNOWN if none. */
chat_template chat_template_from_name(const char *name);
/* llama.cpp's name of the family ("dots1" has none there; celer calls it so). */
const char *chat_template_name(chat_template t);
/* Whether celer renders the family. */
bool chat_template_is_rendered(chat_template t);
/* The names celer renders, comma separated, for help texts and error messages. */
const char *chat_template_names(void);

/* llm_chat_detect_template: an exact name, else substring checks on the Jinja text. */
chat_template chat_template_detect(const char *jinja);

/* Renders msgs; add_assistant opens the assistant's turn (some families ignore it, as in
 * llama.cpp). *out is malloc'd and NUL-terminated. */
celer_status chat_render(chat_template t, const celer_chat_message *msgs, size_t n, bool add_assistant, char **out,
                         celer_error *err);

/* Renders with template_name when not NULL, else with the family of the model's
 * tokenizer.chat_template, else (no template in the file) ChatML, as llama.cpp does.
 * An unrecognised template is an error that says to pass --chat-template NAME. */
celer_status chat_render_for_model(const gguf_file *f, const char *template_name, const celer_chat_message *msgs,
                                   size_t n, bool add_assistant, char **out, celer_error *err);

#endif
