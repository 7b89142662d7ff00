/* synth.c: the shapes, the per-tensor type plan and the metadata of `celer synth` files
 * (the writing is in synth_write.c, the random blocks in synth_blocks.c).
 *
 * The plan. A single --type puts every matrix (embedding and output too) in that type.
 * The q3q4 mix, for a big model that must leave room for a long KV cache:
 *   ffn_gate, ffn_up   q3_K in the middle half of the layers, q4_K in the first and last quarter
 *   ffn_down           q4_K
 *   attn_q/k/v/output  q8_0 (the most sensitive matrices, a sixth of the weights)
 *   token_embd         q4_K (q6_K when it is also the output)
 *   output             q6_K
 * which puts Llama-3-70B at about 43.5 GB (4.9 bits per weight): with a 32k-token f16 KV
 * cache (10.7 GB) it fits an 80 GB GPU. A matrix whose rows are not a multiple of its
 * type's block falls back as llama.cpp's quantizer does (q2_K, q3_K -> iq4_nl; q4_K ->
 * q5_0; q5_K -> q5_1; q6_K -> q8_0; anything else, or a fallback that does not fit
 * either -> f16).
 * Tests: tests/test_synth.c, tests/test_synth.sh. */
#include "model/synth.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/model.h"
#include "quant/quant.h"

/* ---- shapes ---- */

const char synth_preset_names[] = "llama3-8b, llama3-70b, smollm2-135m, tinyllama-1.1b";

static const synth_shape presets[] = {
    {"llama3-8b", 128256, 8192, 4096, 32, 32, 8, 14336, 500000.0f, 1e-5f, false, SYNTH_VOCAB_LLAMA3},
    {"llama3-70b", 128256, 8192, 8192, 80, 64, 8, 28672, 500000.0f, 1e-5f, false, SYNTH_VOCAB_LLAMA3},
    {"smollm2-135m", 49152, 8192, 576, 30, 9, 3, 1536, 100000.0f, 1e-5f, true, SYNTH_VOCAB_CHATML},
    {"tinyllama-1.1b", 32000, 2048, 2048, 22, 32, 4, 5632, 10000.0f, 1e-5f, false, SYNTH_VOCAB_CHATML},
};

bool synth_shape_preset(const char *name, synth_shape *out) {
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (strcmp(presets[i].like, name) == 0) {
            *out = presets[i];
            return true;
        }
    return false;
}

/* ---- the tokenizer: bytes, a few merges, the special tokens, unique filler ---- */

/* Merges in byte-level text (U+0120 'Ġ' is a space); each side is a byte or an earlier result. */
static const char *const merges[] = {
    "Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t", "Ġ w", "Ġ o",
    "e n", "Ġ c", "i t", "i s", "a n", "o r", "e s", "Ġ b", "e d", "Ġ f", "in g", "Ġ p",
    "o u", "Ġa n", "a l", "a r", "Ġt o", "Ġ m", "Ġo f", "Ġ in", "Ġ d", "Ġ h", "Ġan d", "l l",
};
#define N_MERGES ((int32_t)(sizeof(merges) / sizeof(merges[0])))

static const char *const llama3_specials[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                              "<|end_header_id|>", "<|eot_id|>"};
static const char *const chatml_specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
#define N_SPECIALS_MAX 5

static const char llama3_template[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
static const char chatml_template[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

int32_t synth_min_vocab(void) { return 256 + N_MERGES + N_SPECIALS_MAX; }

/* GPT-2's byte-to-character map: printable bytes stand for themselves, the rest move to
 * U+0100 upwards. Writes the UTF-8 of byte b's character to out (NUL-terminated). */
static void byte_char(int b, char out[4]) {
    int cp = b, n = 0;
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (!printable) {
        for (int c = 0; c < b; c++)
            if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

typedef struct {
    char **tokens;  /* (n_vocab) pointers into text */
    char *text;
    int32_t *types; /* (n_vocab) 1 normal, 3 control */
    int32_t bos, eos;
} synth_vocab;

static void vocab_free(synth_vocab *v) {
    free(v->tokens);
    free(v->text);
    free(v->types);
}

/* Llama-3 style: bytes, merges, filler, then the specials at the end (as Llama 3 has them
 * from id 128000); ChatML style: the specials first (as SmolLM2), then the rest. */
static celer_status vocab_build(const synth_shape *s, synth_vocab *v, celer_error *err) {
    memset(v, 0, sizeof(*v));
    int32_t n = s->n_vocab;
    bool llama3 = s->vocab_style == SYNTH_VOCAB_LLAMA3;
    const char *const *specials = llama3 ? llama3_specials : chatml_specials;
    int32_t n_specials = llama3 ? 5 : 3;
    v->tokens = malloc((size_t)n * sizeof(char *));
    v->types = malloc((size_t)n * sizeof(int32_t));
    v->text = malloc((size_t)n * 24 + 4096);
    if (!v->tokens || !v->types || !v->text) return celer_error_set(err, CELER_ERR_NOMEM, "synth: out of memory for %d tokens", n);
    int32_t first_special = llama3 ? n - n_specials : 0, id = llama3 ? 0 : n_specials;
    char *p = v->text;
    for (int32_t i = 0; i < n_specials; i++) {
        v->tokens[first_special + i] = (char *)specials[i];
        v->types[first_special + i] = 3;
    }
    for (int b = 0; b < 256; b++, id++) {
        byte_char(b, p);
        v->tokens[id] = p, v->types[id] = 1;
        p += strlen(p) + 1;
    }
    for (int32_t m = 0; m < N_MERGES; m++, id++) { /* the merge's result: both sides joined */
        const char *space = strchr(merges[m], ' ');
        size_t left = (size_t)(space - merges[m]);
        memcpy(p, merges[m], left);
        strcpy(p + left, space + 1);
        v->tokens[id] = p, v->types[id] = 1;
        p += strlen(p) + 1;
    }
    for (int32_t end = llama3 ? first_special : n; id < end; id++) {
        v->tokens[id] = p, v->types[id] = 1;
        p += sprintf(p, "<|filler_%" PRId32 "|>", id) + 1;
    }
    v->bos = llama3 ? first_special : 1;     /* <|begin_of_text|>, <|im_start|> */
    v->eos = llama3 ? first_special + 4 : 2; /* <|eot_id|>, <|im_end|> */
    return CELER_OK;
}

/* ---- checks and types ---- */

celer_status synth_shape_check(const synth_shape *s, celer_error *err) {
    struct {
        const char *name;
        int32_t v, max;
    } dims[] = {{"--vocab", s->n_vocab, 1 << 24}, {"--ctx", s->n_ctx, 1 << 24},       {"--n-embd", s->n_embd, 1 << 17},
                {"--n-layer", s->n_layer, 4096},  {"--n-head", s->n_head, 1 << 12}, {"--n-head-kv", s->n_head_kv, 1 << 12},
                {"--n-ff", s->n_ff, 1 << 20}};
    for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++)
        if (dims[i].v < 1 || dims[i].v > dims[i].max)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "synth: %s is %" PRId32 ", expected 1..%" PRId32, dims[i].name, dims[i].v,
                                   dims[i].max);
    if (s->n_embd % s->n_head != 0)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "synth: --n-head %" PRId32 " does not divide --n-embd %" PRId32, s->n_head, s->n_embd);
    if (s->n_head % s->n_head_kv != 0)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "synth: --n-head-kv %" PRId32 " does not divide --n-head %" PRId32, s->n_head_kv,
                               s->n_head);
    int32_t head_dim = s->n_embd / s->n_head;
    if (head_dim % 2 != 0 || head_dim > MODEL_MAX_HEAD_DIM)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "synth: head dim %" PRId32 " (n_embd / n_head) must be even and at most %d", head_dim,
                               MODEL_MAX_HEAD_DIM);
    if (s->n_head / s->n_head_kv > MODEL_MAX_GQA_GROUP)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "synth: %" PRId32 " query heads per KV head, at most %d", s->n_head / s->n_head_kv,
                               MODEL_MAX_GQA_GROUP);
    if (s->n_vocab < synth_min_vocab())
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "synth: --vocab %" PRId32 " is too small: the tokenizer needs at least %" PRId32 " tokens",
                               s->n_vocab, synth_min_vocab());
    return CELER_OK;
}

static const uint32_t weight_types[] = {QUANT_F32,  QUANT_F16,  QUANT_BF16, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0,
                                        QUANT_Q5_1, QUANT_Q8_0, QUANT_Q2_K, QUANT_Q3_K, QUANT_Q4_K, QUANT_Q5_K,
                                        QUANT_Q6_K, QUANT_IQ4_NL};

bool synth_parse_type(const char *name, uint32_t *type) {
    for (size_t i = 0; i < sizeof(weight_types) / sizeof(weight_types[0]); i++)
        if (strcasecmp(name, quant_type_name(weight_types[i])) == 0) {
            *type = weight_types[i];
            return true;
        }
    return false;
}

const char *synth_type_list(void) { return "f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl"; }

/* llama.cpp's replacement for a type whose block does not divide the rows (llama-quant.cpp). */
static uint32_t fallback_type(uint32_t type, int64_t ne0) {
    if (ne0 % quant_get_traits(type)->block_size == 0) return type;
    uint32_t t = QUANT_F16;
    switch (type) {
    case QUANT_Q2_K: case QUANT_Q3_K: t = QUANT_IQ4_NL; break;
    case QUANT_Q4_K: t = QUANT_Q5_0; break;
    case QUANT_Q5_K: t = QUANT_Q5_1; break;
    case QUANT_Q6_K: t = QUANT_Q8_0; break;
    default: break;
    }
    return ne0 % quant_get_traits(t)->block_size == 0 ? t : QUANT_F16;
}

/* ---- the plan ---- */

typedef enum { ROLE_EMBD, ROLE_OUTPUT, ROLE_ATTN_QKV, ROLE_ATTN_OUT, ROLE_FFN_GATE_UP, ROLE_FFN_DOWN } tensor_role;

static uint32_t planned_type(const synth_plan *p, tensor_role role, int32_t layer) {
    if (p->mix == SYNTH_MIX_NONE) return p->type;
    int32_t n = p->shape.n_layer;
    switch (role) {
    case ROLE_EMBD: return p->shape.tied_output ? QUANT_Q6_K : QUANT_Q4_K;
    case ROLE_OUTPUT: return QUANT_Q6_K;
    case ROLE_ATTN_QKV: case ROLE_ATTN_OUT: return QUANT_Q8_0;
    case ROLE_FFN_GATE_UP: return layer >= n / 4 && layer < n - n / 4 ? QUANT_Q3_K : QUANT_Q4_K;
    case ROLE_FFN_DOWN: return QUANT_Q4_K;
    }
    return p->type;
}

static void plan_add(synth_plan *p, const char *name, uint32_t wanted, int64_t ne0, int64_t ne1) {
    synth_tensor *t = &p->tensors[p->n_tensors++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->ne0 = ne0, t->ne1 = ne1;
    t->wanted = ne1 == 1 ? QUANT_F32 : wanted;
    t->type = ne1 == 1 ? QUANT_F32 : fallback_type(wanted, ne0);
    t->rms = ne1 == 1 ? 0.0f : 1.0f / sqrtf((float)ne0);
    t->bytes = quant_row_size(t->type, ne0) * (uint64_t)ne1;
    p->n_fallback += t->type != t->wanted;
    p->n_params += (uint64_t)ne0 * (uint64_t)ne1;
    p->weight_bytes += t->bytes;
}

static void plan_tensors(synth_plan *p) {
    const synth_shape *s = &p->shape;
    int64_t e = s->n_embd, hd = s->n_embd / s->n_head, q = hd * s->n_head, kv = hd * s->n_head_kv;
    plan_add(p, "token_embd.weight", planned_type(p, ROLE_EMBD, 0), e, s->n_vocab);
    for (int32_t il = 0; il < s->n_layer; il++) {
        struct {
            const char *suffix;
            tensor_role role;
            int64_t ne0, ne1;
        } specs[] = {
            {"attn_norm.weight", ROLE_ATTN_QKV, e, 1},        {"attn_q.weight", ROLE_ATTN_QKV, e, q},
            {"attn_k.weight", ROLE_ATTN_QKV, e, kv},          {"attn_v.weight", ROLE_ATTN_QKV, e, kv},
            {"attn_output.weight", ROLE_ATTN_OUT, q, e},      {"ffn_norm.weight", ROLE_FFN_DOWN, e, 1},
            {"ffn_gate.weight", ROLE_FFN_GATE_UP, e, s->n_ff}, {"ffn_up.weight", ROLE_FFN_GATE_UP, e, s->n_ff},
            {"ffn_down.weight", ROLE_FFN_DOWN, s->n_ff, e},
        };
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            char name[48];
            snprintf(name, sizeof(name), "blk.%" PRId32 ".%s", il, specs[i].suffix);
            plan_add(p, name, planned_type(p, specs[i].role, il), specs[i].ne0, specs[i].ne1);
        }
    }
    plan_add(p, "output_norm.weight", QUANT_F32, e, 1);
    if (!s->tied_output) plan_add(p, "output.weight", planned_type(p, ROLE_OUTPUT, 0), e, s->n_vocab);
}

/* The kind of a tensor: "attn_q" of "blk.3.attn_q.weight", "output" of "output.weight". */
static void tensor_kind(const char *name, char *out, size_t size) {
    if (strncmp(name, "blk.", 4) == 0) name = strchr(name + 4, '.') + 1;
    snprintf(out, size, "%.*s", (int)strcspn(name, "."), name);
}

/* "attn_q: q8_0; ffn_gate: q3_K x40, q4_K x40; ...": the matrices' types, kind by kind. */
static void plan_describe(synth_plan *p) {
    static const char *const kinds[] = {"token_embd", "attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_gate",   "ffn_up", "ffn_down", "output"};
    size_t len = 0, cap = sizeof(p->plan_text);
    p->plan_text[0] = 0;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && len < cap; k++) {
        int32_t count[QUANT_TYPE_COUNT] = {0}, n_types = 0;
        for (int32_t i = 0; i < p->n_tensors; i++) {
            char kind[48];
            tensor_kind(p->tensors[i].name, kind, sizeof(kind));
            if (p->tensors[i].ne1 > 1 && strcmp(kind, kinds[k]) == 0) n_types += count[p->tensors[i].type]++ == 0;
        }
        if (n_types == 0) continue;
        len += (size_t)snprintf(p->plan_text + len, cap - len, "%s%s:", len ? "; " : "", kinds[k]);
        for (uint32_t t = 0; t < QUANT_TYPE_COUNT && len < cap; t++) {
            if (!count[t]) continue;
            if (n_types == 1) len += (size_t)snprintf(p->plan_text + len, cap - len, " %s", quant_type_name(t));
            else len += (size_t)snprintf(p->plan_text + len, cap - len, " %s x%" PRId32 "%s", quant_type_name(t), count[t], ",");
        }
        if (n_types > 1 && len < cap) p->plan_text[--len] = 0; /* the last comma */
    }
}

/* llama.cpp's general.file_type for a file of one type (its LLAMA_FTYPE_*); -1: none fits. */
static int32_t file_type_of(uint32_t type) {
    switch (type) {
    case QUANT_F32: return 0;
    case QUANT_F16: return 1;
    case QUANT_Q4_0: return 2;
    case QUANT_Q4_1: return 3;
    case QUANT_Q8_0: return 7;
    case QUANT_Q5_0: return 8;
    case QUANT_Q5_1: return 9;
    case QUANT_Q2_K: return 10;
    case QUANT_Q3_K: return 11; /* Q3_K_S */
    case QUANT_Q4_K: return 14; /* Q4_K_S */
    case QUANT_Q5_K: return 16; /* Q5_K_S */
    case QUANT_Q6_K: return 18;
    case QUANT_IQ4_NL: return 25;
    case QUANT_BF16: return 32;
    default: return -1;
    }
}

static celer_status set_tokenizer(gguf_writer *w, const synth_shape *s, celer_error *err) {
    synth_vocab v;
    celer_status st = vocab_build(s, &v, err);
    bool llama3 = s->vocab_style == SYNTH_VOCAB_LLAMA3;
    if (st == CELER_OK) st = gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "tokenizer.ggml.pre", llama3 ? "llama-bpe" : "smollm", err);
    if (st == CELER_OK) st = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, (uint64_t)s->n_vocab, err);
    if (st == CELER_OK) st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.types, (uint64_t)s->n_vocab, err);
    if (st == CELER_OK) st = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, N_MERGES, err);
    if (st == CELER_OK) st = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v.bos, err);
    if (st == CELER_OK) st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v.eos, err);
    if (st == CELER_OK) st = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", llama3, err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "tokenizer.chat_template", llama3 ? llama3_template : chatml_template, err);
    vocab_free(&v);
    return st;
}

static celer_status set_metadata(gguf_writer *w, const synth_plan *p, celer_error *err) {
    const synth_shape *s = &p->shape;
    char name[160];
    const char *mix_name = p->mix == SYNTH_MIX_Q3Q4 ? "q3q4" : quant_type_name(p->type);
    snprintf(name, sizeof(name), "random %s %s (celer synth, random weights)", s->like, mix_name);
    struct {
        const char *key;
        uint32_t v;
    } u32[] = {{"llama.vocab_size", (uint32_t)s->n_vocab},
               {"llama.context_length", (uint32_t)s->n_ctx},
               {"llama.embedding_length", (uint32_t)s->n_embd},
               {"llama.block_count", (uint32_t)s->n_layer},
               {"llama.feed_forward_length", (uint32_t)s->n_ff},
               {"llama.attention.head_count", (uint32_t)s->n_head},
               {"llama.attention.head_count_kv", (uint32_t)s->n_head_kv},
               {"llama.rope.dimension_count", (uint32_t)(s->n_embd / s->n_head)}};
    celer_status st = gguf_writer_set_str(w, "general.architecture", "llama", err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "general.type", "model", err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "general.name", name, err);
    for (size_t i = 0; st == CELER_OK && i < sizeof(u32) / sizeof(u32[0]); i++) st = gguf_writer_set_u32(w, u32[i].key, u32[i].v, err);
    if (st == CELER_OK) st = gguf_writer_set_f32(w, "llama.rope.freq_base", s->rope_freq_base, err);
    if (st == CELER_OK) st = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", s->norm_eps, err);
    if (st == CELER_OK && p->mix == SYNTH_MIX_NONE && file_type_of(p->type) >= 0)
        st = gguf_writer_set_u32(w, "general.file_type", (uint32_t)file_type_of(p->type), err);
    if (st == CELER_OK) st = gguf_writer_set_u32(w, "general.quantization_version", 2, err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "celer.synth.like", s->like, err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "celer.synth.type", mix_name, err);
    if (st == CELER_OK) st = gguf_writer_set_u64(w, "celer.synth.seed", p->seed, err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "celer.synth.plan", p->plan_text, err);
    if (st == CELER_OK) st = gguf_writer_set_u32(w, "celer.synth.fallbacks", (uint32_t)p->n_fallback, err);
    if (st == CELER_OK) st = set_tokenizer(w, s, err);
    return st;
}

static uint64_t pad_to(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

celer_status synth_plan_init(synth_plan *p, const synth_shape *s, uint32_t type, synth_mix mix, uint64_t seed,
                             celer_error *err) {
    memset(p, 0, sizeof(*p));
    celer_status st = synth_shape_check(s, err);
    if (st != CELER_OK) return st;
    if (mix == SYNTH_MIX_NONE) {
        const quant_traits *tr = quant_get_traits(type);
        if (!tr || !tr->vec_dot || type == QUANT_Q8_1 || type == QUANT_Q8_K)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "synth: type %s is not a weight type (supported: %s)", quant_type_name(type),
                                   synth_type_list());
    }
    p->shape = *s, p->type = type, p->mix = mix, p->seed = seed;
    p->tensors = calloc((size_t)s->n_layer * 9 + 3, sizeof(synth_tensor));
    if (!p->tensors) return celer_error_set(err, CELER_ERR_NOMEM, "synth: out of memory for %" PRId32 " layers", s->n_layer);
    plan_tensors(p);
    plan_describe(p);
    gguf_writer *w = gguf_writer_new();
    if (!w) st = celer_error_set(err, CELER_ERR_NOMEM, "synth: out of memory");
    if (st == CELER_OK) st = set_metadata(w, p, err);
    for (int32_t i = 0; st == CELER_OK && i < p->n_tensors; i++) {
        const synth_tensor *t = &p->tensors[i];
        int64_t ne[2] = {t->ne0, t->ne1};
        st = gguf_writer_add_tensor_info(w, t->name, t->type, t->ne1 == 1 ? 1 : 2, ne, NULL, err);
    }
    uint64_t data_size = 0;
    if (st == CELER_OK) st = gguf_writer_header(w, &p->header, &p->header_size, &p->alignment, &data_size, err);
    gguf_writer_free(w);
    if (st != CELER_OK) {
        synth_plan_free(p);
        return st;
    }
    uint64_t check = 0;
    for (int32_t i = 0; i < p->n_tensors; i++) check += pad_to(p->tensors[i].bytes, p->alignment);
    CHECK(check == data_size);
    p->file_bytes = p->header_size + data_size;
    return CELER_OK;
}

void synth_plan_free(synth_plan *p) {
    free(p->tensors);
    free(p->header);
    memset(p, 0, sizeof(*p));
}
