/* test_hf_import.c: Hugging Face directories imported as GGUF (format/hf_import.h).
 *
 * Tiny random models written here: a Llama and a Qwen2 directory of the same weights and
 * biases run the same mathematics (HF's Llama and Qwen2 differ only in biases, present in
 * both here), so their logits must agree although celer permutes the Llama Q/K rows and
 * rotates adjacent pairs while the Qwen2 rows stay and rotate halves: the permutation is
 * checked against an independent path, not against its own inverse. Also: the row order
 * itself, F32 norms and biases, BF16 and F16 weights, tied and untied heads, shards, the
 * Llama 3 rope factors, the tokenizer conversion, and one test per error.
 *
 * The real model ($CELER_MODEL, SmolLM2-135M Q4_1): its first two layers are written as a
 * directory (tensors dequantized to F32, Q/K rows back in HF order, config.json,
 * tokenizer.json, tokenizer_config.json) and imported; the tokenizer keys and every
 * tensor must equal the GGUF's (dequantized); the hard strings of tests/data/golden
 * tokenize the same; the chat template renders the same; the logits of a prompt match a
 * two-layer cut of the Q4_1 file (the very same weights) within what the activation
 * quantization of the Q4_1/Q8_0 dot products explains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "celer.h"
#include "core/half.h"
#include "format/gguf.h"
#include "format/hf_import.h"
#include "quant/quant.h"
#include "safetensors_builder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

/* ---- files and directories ---- */

static void scratch_dir(char dir[64]) {
    snprintf(dir, 64, "/tmp/celer_test_hf_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t n) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *dir, const char *name, const char *text) { write_bytes(dir, name, text, strlen(text)); }

static void write_json(const char *dir, const char *name, cJSON *json) {
    char *text = cJSON_PrintUnformatted(json);
    assert_non_null(text);
    write_text(dir, name, text);
    free(text);
}

static void remove_file(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(unlink(path), 0);
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        remove_file(dir, e->d_name);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- tiny models ---- */

enum { T_EMBD = 64, T_HEAD = 4, T_HEAD_KV = 2, T_HEAD_DIM = 16, T_FF = 96, T_LAYER = 2, T_VOCAB = 264 };

typedef struct {
    const char *arch;     /* architectures[0] */
    const char *dtype;    /* of the matrices: "F32", "BF16" or "F16" (vectors are F32 unless norm_dtype) */
    const char *norm_dtype;
    bool untied, bias, explicit_head_dim, shards;
    const char *rope_scaling; /* JSON text of rope_scaling, or NULL */
    const char *skip;         /* an HF tensor left out */
    const char *extra;        /* an HF tensor added that no model uses */
    const char *bad_shape;    /* an HF tensor written with one row too many */
    const char *bad_dtype;    /* an HF tensor written as I32 */
    bool byte_fallback;       /* a SentencePiece-style tokenizer.json */
    int n_vocab;              /* token rows; 0: T_VOCAB */
} tiny_opts;

typedef struct {
    st_builder b[2];
    void *buffers[64];
    int n_buffers;
} tiny_writer;

/* Deterministic values for a tensor name: the same name always gets the same numbers. */
static float tiny_value(const char *name, int64_t i, float scale, float offset) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    uint64_t x = (h + (uint64_t)i * 0x9E3779B97F4A7C15ull) * 6364136223846793005ull + 1442695040888963407ull;
    x ^= x >> 29;
    float u = (float)((x >> 11) & 0xFFFFFF) / 16777216.0f; /* [0, 1) */
    return offset + scale * (2.0f * u - 1.0f);
}

static void tiny_tensor(tiny_writer *w, const tiny_opts *o, const char *name, int64_t rows, int64_t cols, bool vector) {
    if (o->skip && strcmp(name, o->skip) == 0) return;
    if (o->bad_shape && strcmp(name, o->bad_shape) == 0) rows++;
    const char *dtype = vector ? (o->norm_dtype ? o->norm_dtype : "F32") : o->dtype;
    if (o->bad_dtype && strcmp(name, o->bad_dtype) == 0) dtype = "I32";
    int64_t n = rows * (vector ? 1 : cols);
    bool norm = vector && strstr(name, "norm");
    size_t elem = strcmp(dtype, "F32") == 0 || strcmp(dtype, "I32") == 0 ? 4 : 2;
    uint8_t *buf = malloc((size_t)n * elem);
    for (int64_t i = 0; i < n; i++) {
        float v = tiny_value(name, i, norm ? 0.2f : 0.15f, norm ? 1.0f : 0.0f);
        if (elem == 4) memcpy(buf + 4 * i, &v, 4);
        else {
            uint16_t h = strcmp(dtype, "BF16") == 0 ? celer_fp32_to_bf16(v) : celer_fp32_to_fp16(v);
            memcpy(buf + 2 * i, &h, 2);
        }
    }
    assert_true(w->n_buffers < 64);
    w->buffers[w->n_buffers++] = buf;
    int shard = o->shards && strstr(name, "layers.1.") ? 1 : 0; /* layer 1 in the second shard */
    int64_t shape[2] = {rows, cols};
    st_add(&w->b[shard], name, dtype, vector ? 1 : 2, shape, buf, (size_t)n * elem);
}

/* GPT-2's byte-level text of one byte, as a NUL-terminated string. */
static void byte_text(uint8_t byte, char out[5]) {
    size_t n = unicode_encode(unicode_byte_to_cp(byte), (uint8_t *)out);
    out[n] = '\0';
}

/* 256 byte tokens, 4 merges ("h e", "l l", "he ll", "Ġ w" as pairs), two special added
 * tokens, one plain added token; ids 263.. are left for [PAD] tokens. */
static cJSON *tiny_tokenizer(bool byte_fallback) {
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddBoolToObject(model, "byte_fallback", byte_fallback);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char t[5];
        byte_text((uint8_t)b, t);
        cJSON_AddNumberToObject(vocab, t, b);
    }
    cJSON_AddNumberToObject(vocab, "he", 256);
    cJSON_AddNumberToObject(vocab, "ll", 257);
    cJSON_AddNumberToObject(vocab, "hell", 258);
    cJSON_AddNumberToObject(vocab, "\xC4\xA0w", 259);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    const char *pairs[4][2] = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"\xC4\xA0", "w"}};
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(merges, cJSON_CreateStringArray(pairs[i], 2));
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    const struct {
        int id;
        const char *content;
        bool special;
    } adds[] = {{260, "<|im_start|>", true}, {261, "<|im_end|>", true}, {262, "<user\xE2\x96\x81tok>", false}};
    for (int i = 0; i < 3; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", adds[i].id);
        cJSON_AddStringToObject(a, "content", adds[i].content);
        cJSON_AddBoolToObject(a, "special", adds[i].special);
        cJSON_AddItemToArray(added, a);
    }
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddBoolToObject(pre, "add_prefix_space", false);
    cJSON_AddBoolToObject(pre, "use_regex", true);
    return root;
}

static const char tiny_template[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

static int tiny_vocab(const tiny_opts *o) { return o->n_vocab ? o->n_vocab : T_VOCAB; }

static void tiny_config(const char *dir, const tiny_opts *o) {
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"architectures\": [\"%s\"], \"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,"
             " \"num_attention_heads\": %d, \"num_key_value_heads\": %d, %s \"max_position_embeddings\": 512,"
             " \"rms_norm_eps\": 1e-06, \"rope_theta\": 10000.0, \"tie_word_embeddings\": %s, \"vocab_size\": %d,"
             " \"rope_scaling\": %s, \"bos_token_id\": 260, \"eos_token_id\": 261, \"torch_dtype\": \"float32\"}",
             o->arch, T_EMBD, T_FF, T_LAYER, T_HEAD, T_HEAD_KV, o->explicit_head_dim ? "\"head_dim\": 16," : "", o->untied ? "false" : "true",
             tiny_vocab(o), o->rope_scaling ? o->rope_scaling : "null");
    write_text(dir, "config.json", text);
}

static void write_tiny(const char *dir, const tiny_opts *o) {
    tiny_writer w = {0};
    st_init(&w.b[0]);
    st_init(&w.b[1]);
    st_add_metadata(&w.b[0]);
    tiny_tensor(&w, o, "model.embed_tokens.weight", tiny_vocab(o), T_EMBD, false);
    tiny_tensor(&w, o, "model.norm.weight", T_EMBD, 0, true);
    if (o->untied) tiny_tensor(&w, o, "lm_head.weight", tiny_vocab(o), T_EMBD, false);
    int64_t q = T_HEAD * T_HEAD_DIM, kv = T_HEAD_KV * T_HEAD_DIM;
    for (int il = 0; il < T_LAYER; il++) {
        const struct {
            const char *suffix;
            int64_t rows, cols;
        } specs[] = {
            {"input_layernorm.weight", T_EMBD, 0}, {"self_attn.q_proj.weight", q, T_EMBD}, {"self_attn.k_proj.weight", kv, T_EMBD},
            {"self_attn.v_proj.weight", kv, T_EMBD}, {"self_attn.q_proj.bias", q, 0}, {"self_attn.k_proj.bias", kv, 0},
            {"self_attn.v_proj.bias", kv, 0}, {"self_attn.o_proj.weight", T_EMBD, q}, {"post_attention_layernorm.weight", T_EMBD, 0},
            {"mlp.gate_proj.weight", T_FF, T_EMBD}, {"mlp.up_proj.weight", T_FF, T_EMBD}, {"mlp.down_proj.weight", T_EMBD, T_FF},
        };
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            if (!o->bias && strstr(specs[i].suffix, ".bias")) continue;
            char name[128];
            snprintf(name, sizeof(name), "model.layers.%d.%s", il, specs[i].suffix);
            tiny_tensor(&w, o, name, specs[i].rows, specs[i].cols, specs[i].cols == 0);
        }
    }
    if (o->extra) tiny_tensor(&w, o, o->extra, 4, 0, true);
    char path[256];
    if (o->shards) {
        const char *files[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
        cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
        cJSON_AddObjectToObject(index, "metadata");
        for (int s = 0; s < 2; s++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[s]);
            assert_int_equal(st_write(&w.b[s], path), 0);
            /* the names, back out of the header the builder wrote */
            for (const char *p = w.b[s].json; (p = strstr(p, "\"model.")); p++) {
                char name[128];
                sscanf(p + 1, "%127[^\"]", name);
                cJSON_AddStringToObject(map, name, files[s]);
            }
        }
        write_json(dir, "model.safetensors.index.json", index);
        cJSON_Delete(index);
    } else {
        snprintf(path, sizeof(path), "%s/model.safetensors", dir);
        assert_int_equal(st_write(&w.b[0], path), 0);
    }
    for (int i = 0; i < w.n_buffers; i++) free(w.buffers[i]);
    st_free(&w.b[0]);
    st_free(&w.b[1]);
    tiny_config(dir, o);
    cJSON *tok = tiny_tokenizer(o->byte_fallback);
    write_json(dir, "tokenizer.json", tok);
    cJSON_Delete(tok);
    cJSON *tc = cJSON_CreateObject();
    cJSON_AddStringToObject(tc, "bos_token", "<|im_start|>");
    cJSON *eos = cJSON_AddObjectToObject(tc, "eos_token"); /* the {"content": ...} form */
    cJSON_AddStringToObject(eos, "content", "<|im_end|>");
    cJSON_AddStringToObject(tc, "chat_template", tiny_template);
    cJSON_AddBoolToObject(tc, "add_bos_token", true);
    write_json(dir, "tokenizer_config.json", tc);
    cJSON_Delete(tc);
}

static const tiny_opts llama_opts = {.arch = "LlamaForCausalLM", .dtype = "F32", .bias = true, .untied = true};

/* ---- running a model ---- */

typedef struct {
    float *logits; /* (n, n_vocab) */
    int32_t n, n_vocab;
} run_result;

static void run_tokens(const char *path, const int32_t *tokens, int32_t n, run_result *out) {
    celer_model *m = NULL;
    celer_context *ctx = NULL;
    celer_error err = {{0}};
    if (celer_model_load(path, &m, &err) != CELER_OK) fail_msg("%s", err.msg);
    celer_context_params p;
    celer_context_params_default(&p);
    p.n_ctx = 64;
    p.n_batch = 32;
    p.n_threads = 2;
    assert_int_equal(celer_context_new(m, &p, &ctx, &err), CELER_OK);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, n, &err), CELER_OK);
    for (int32_t i = 0; i < n; i++) assert_int_equal(celer_batch_add(&b, tokens[i], i, 0, true, &err), CELER_OK);
    if (celer_decode(ctx, &b, &err) != CELER_OK) fail_msg("%s", err.msg);
    out->n = n;
    out->n_vocab = celer_model_n_vocab(m);
    out->logits = malloc((size_t)n * (size_t)out->n_vocab * sizeof(float));
    for (int32_t i = 0; i < n; i++) memcpy(out->logits + (size_t)i * out->n_vocab, celer_get_logits(ctx, i), (size_t)out->n_vocab * sizeof(float));
    celer_batch_free(&b);
    celer_context_free(ctx);
    celer_model_free(m);
}

static float max_abs_diff(const run_result *a, const run_result *b, float *max_abs) {
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->n_vocab, b->n_vocab);
    float d = 0, m = 0;
    for (size_t i = 0; i < (size_t)a->n * (size_t)a->n_vocab; i++) {
        d = fmaxf(d, fabsf(a->logits[i] - b->logits[i]));
        m = fmaxf(m, fabsf(b->logits[i]));
    }
    if (max_abs) *max_abs = m;
    return d;
}

static const int32_t tiny_prompt[] = {260, 72, 258, 111, 259, 33, 262, 10, 261, 5};
#define TINY_N ((int32_t)(sizeof(tiny_prompt) / sizeof(tiny_prompt[0])))

/* ---- tiny model tests ---- */

/* The Llama and Qwen2 readings of the same weights and biases give the same logits. */
static void test_llama_equals_qwen2(void **state) {
    (void)state;
    char a[64], b[64];
    scratch_dir(a);
    scratch_dir(b);
    write_tiny(a, &llama_opts);
    tiny_opts q = llama_opts;
    q.arch = "Qwen2ForCausalLM";
    write_tiny(b, &q);
    run_result ra, rb;
    run_tokens(a, tiny_prompt, TINY_N, &ra);
    run_tokens(b, tiny_prompt, TINY_N, &rb);
    float scale = 0, d = max_abs_diff(&ra, &rb, &scale);
    print_message("llama vs qwen2 reading of one tiny model: max |logit difference| %.3g (logits up to %.3g)\n", d, scale);
    assert_true(scale > 0.1f);
    assert_true(d < 1e-4f * scale);
    free(ra.logits);
    free(rb.logits);
    remove_dir(a);
    remove_dir(b);
}

static const gguf_tensor *tensor(const gguf_file *f, const char *name) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) fail_msg("tensor '%s' is missing", name);
    return t;
}

/* The permuted rows in detail, F32 vectors, kept and converted dtypes, metadata keys. */
static void test_tensor_layout(void **state) {
    (void)state;
    char dir[64];
    scratch_dir(dir);
    tiny_opts o = llama_opts;
    o.dtype = "BF16";
    o.norm_dtype = "BF16";
    o.explicit_head_dim = true;
    write_tiny(dir, &o);
    gguf_file *f = NULL;
    celer_error err = {{0}};
    if (hf_import(dir, &f, &err) != CELER_OK) fail_msg("%s", err.msg);
    assert_null(f->base);

    /* blk.0.attn_q.weight row 2i + s of head h is HF row h*16 + s*8 + i */
    const gguf_tensor *q = tensor(f, "blk.0.attn_q.weight");
    assert_int_equal(q->type, QUANT_BF16);
    assert_int_equal(q->ne[0], T_EMBD);
    assert_int_equal(q->ne[1], T_HEAD * T_HEAD_DIM);
    for (int h = 0; h < T_HEAD; h++)
        for (int i = 0; i < T_HEAD_DIM / 2; i++)
            for (int s = 0; s < 2; s++) {
                int row = h * T_HEAD_DIM + 2 * i + s, hf_row = h * T_HEAD_DIM + s * T_HEAD_DIM / 2 + i;
                uint16_t got, want = celer_fp32_to_bf16(tiny_value("model.layers.0.self_attn.q_proj.weight", (int64_t)hf_row * T_EMBD + 3, 0.15f, 0));
                memcpy(&got, (const uint8_t *)q->data + ((size_t)row * T_EMBD + 3) * 2, 2);
                assert_int_equal(got, want);
            }
    /* K: the same within each of its 2 heads; its bias too (F32) */
    const gguf_tensor *kb = tensor(f, "blk.1.attn_k.bias");
    assert_int_equal(kb->type, QUANT_F32);
    for (int row = 0; row < T_HEAD_KV * T_HEAD_DIM; row++) {
        int h = row / T_HEAD_DIM, j = row % T_HEAD_DIM, hf_row = h * T_HEAD_DIM + (j % 2) * (T_HEAD_DIM / 2) + j / 2;
        float want = celer_bf16_to_fp32(celer_fp32_to_bf16(tiny_value("model.layers.1.self_attn.k_proj.bias", hf_row, 0.15f, 0)));
        assert_true(((const float *)kb->data)[row] == want);
    }
    /* V and the rest: HF order, the mapping's own bytes */
    const gguf_tensor *v = tensor(f, "blk.0.attn_v.weight");
    uint16_t got;
    memcpy(&got, (const uint8_t *)v->data + (5 * T_EMBD + 7) * 2, 2);
    assert_int_equal(got, celer_fp32_to_bf16(tiny_value("model.layers.0.self_attn.v_proj.weight", 5 * T_EMBD + 7, 0.15f, 0)));
    const gguf_tensor *norm = tensor(f, "blk.1.ffn_norm.weight"); /* BF16 in the file, F32 here */
    assert_int_equal(norm->type, QUANT_F32);
    assert_int_equal(norm->n_dims, 1);
    assert_true(((const float *)norm->data)[9] ==
                celer_bf16_to_fp32(celer_fp32_to_bf16(tiny_value("model.layers.1.post_attention_layernorm.weight", 9, 0.2f, 1.0f))));
    tensor(f, "output.weight");
    assert_null(gguf_find_tensor(f, "rope_freqs.weight"));

    uint32_t u = 0;
    float x = 0;
    const gguf_string *s = NULL;
    assert_int_equal(gguf_get_str(f, "general.architecture", &s, &err), CELER_OK);
    assert_string_equal(s->data, "llama");
    assert_int_equal(gguf_get_u32(f, "llama.block_count", &u, &err), CELER_OK);
    assert_int_equal(u, T_LAYER);
    assert_int_equal(gguf_get_u32(f, "llama.attention.head_count_kv", &u, &err), CELER_OK);
    assert_int_equal(u, T_HEAD_KV);
    assert_int_equal(gguf_get_u32(f, "llama.attention.key_length", &u, &err), CELER_OK);
    assert_int_equal(u, 16);
    assert_int_equal(gguf_get_u32(f, "llama.rope.dimension_count", &u, &err), CELER_OK);
    assert_int_equal(u, 16);
    assert_int_equal(gguf_get_u32(f, "llama.context_length", &u, &err), CELER_OK);
    assert_int_equal(u, 512);
    assert_int_equal(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &x, &err), CELER_OK);
    assert_true(x == 1e-6f);
    assert_int_equal(gguf_get_f32(f, "llama.rope.freq_base", &x, &err), CELER_OK);
    assert_true(x == 10000.0f);
    gguf_close(f);
    remove_dir(dir);
}

/* BF16 and F16 weights run, tied heads have no output.weight, Qwen2 keeps its rows. */
static void test_dtypes_and_tied(void **state) {
    (void)state;
    char base[64], dir[64];
    scratch_dir(base);
    write_tiny(base, &llama_opts);
    run_result ref;
    run_tokens(base, tiny_prompt, TINY_N, &ref);
    const char *dtypes[] = {"BF16", "F16"};
    for (int i = 0; i < 2; i++) {
        scratch_dir(dir);
        tiny_opts o = llama_opts;
        o.dtype = dtypes[i];
        write_tiny(dir, &o);
        run_result r;
        run_tokens(dir, tiny_prompt, TINY_N, &r);
        float scale = 0, d = max_abs_diff(&r, &ref, &scale);
        print_message("%s weights vs F32: max |logit difference| %.3g (logits up to %.3g)\n", dtypes[i], d, scale);
        assert_true(d < 0.02f * scale);
        free(r.logits);
        remove_dir(dir);
    }
    scratch_dir(dir);
    tiny_opts o = {.arch = "Qwen2ForCausalLM", .dtype = "BF16", .bias = true};
    write_tiny(dir, &o);
    gguf_file *f = NULL;
    celer_error err = {{0}};
    if (hf_import(dir, &f, &err) != CELER_OK) fail_msg("%s", err.msg);
    assert_null(gguf_find_tensor(f, "output.weight")); /* tied */
    const gguf_tensor *q = tensor(f, "blk.0.attn_q.weight");
    uint16_t got;
    memcpy(&got, (const uint8_t *)q->data + (1 * T_EMBD + 2) * 2, 2); /* row 1 stays row 1 */
    assert_int_equal(got, celer_fp32_to_bf16(tiny_value("model.layers.0.self_attn.q_proj.weight", T_EMBD + 2, 0.15f, 0)));
    assert_ptr_equal(gguf_find_kv(f, "qwen2.rope.dimension_count"), NULL);
    gguf_close(f);
    run_result r;
    run_tokens(dir, tiny_prompt, TINY_N, &r); /* loads and runs */
    for (size_t i = 0; i < (size_t)r.n * r.n_vocab; i++) assert_true(isfinite(r.logits[i]));
    free(r.logits);
    remove_dir(dir);
    free(ref.logits);
    remove_dir(base);
}

/* Two shards and an index give the same model as one file. */
static void test_shards(void **state) {
    (void)state;
    char one[64], two[64];
    scratch_dir(one);
    scratch_dir(two);
    write_tiny(one, &llama_opts);
    tiny_opts o = llama_opts;
    o.shards = true;
    write_tiny(two, &o);
    run_result a, b;
    run_tokens(one, tiny_prompt, TINY_N, &a);
    run_tokens(two, tiny_prompt, TINY_N, &b);
    assert_true(max_abs_diff(&a, &b, NULL) == 0.0f);
    free(a.logits);
    free(b.logits);
    remove_dir(one);
    remove_dir(two);
}

/* Llama 3 rope scaling: rope_freqs.weight from the formula (here in double precision). */
static void test_llama3_rope(void **state) {
    (void)state;
    char dir[64];
    scratch_dir(dir);
    tiny_opts o = llama_opts;
    o.rope_scaling = "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
                     " \"original_max_position_embeddings\": 64}";
    write_tiny(dir, &o);
    gguf_file *f = NULL;
    celer_error err = {{0}};
    if (hf_import(dir, &f, &err) != CELER_OK) fail_msg("%s", err.msg);
    const gguf_tensor *t = tensor(f, "rope_freqs.weight");
    assert_int_equal(t->type, QUANT_F32);
    assert_int_equal(t->ne[0], T_HEAD_DIM / 2);
    int n_one = 0, n_factor = 0, n_mid = 0;
    for (int i = 0; i < T_HEAD_DIM / 2; i++) {
        double freq = 1.0 / pow(10000.0, 2.0 * i / T_HEAD_DIM), wavelen = 2 * M_PI / freq, want;
        if (wavelen < 64 / 4.0) want = 1, n_one++;
        else if (wavelen > 64 / 1.0) want = 8, n_factor++;
        else {
            double smooth = (64 / wavelen - 1) / (4 - 1);
            want = 1 / ((1 - smooth) / 8 + smooth);
            n_mid++;
        }
        float got = ((const float *)t->data)[i];
        if (fabs(got - want) > 1e-5 * want) fail_msg("rope factor %d: %g, expected %g", i, got, want);
    }
    assert_true(n_one > 0 && n_factor > 0 && n_mid > 0); /* all three branches seen */
    assert_null(gguf_find_kv(f, "llama.rope.scaling.type"));
    gguf_close(f);
    remove_dir(dir);
    /* linear scaling becomes two keys */
    scratch_dir(dir);
    o.rope_scaling = "{\"type\": \"linear\", \"factor\": 2.0}";
    write_tiny(dir, &o);
    assert_int_equal(hf_import(dir, &f, &err), CELER_OK);
    const gguf_string *s = NULL;
    float factor = 0;
    assert_int_equal(gguf_get_str(f, "llama.rope.scaling.type", &s, &err), CELER_OK);
    assert_string_equal(s->data, "linear");
    assert_int_equal(gguf_get_f32(f, "llama.rope.scaling.factor", &factor, &err), CELER_OK);
    assert_true(factor == 2.0f);
    assert_null(gguf_find_tensor(f, "rope_freqs.weight"));
    gguf_close(f);
    remove_dir(dir);
}

/* The tiny tokenizer's keys and a few encodings. */
static void test_tokenizer(void **state) {
    (void)state;
    char dir[64];
    scratch_dir(dir);
    write_tiny(dir, &llama_opts);
    gguf_file *f = NULL;
    celer_error err = {{0}};
    if (hf_import(dir, &f, &err) != CELER_OK) fail_msg("%s", err.msg);
    const gguf_value *tokens = NULL, *types = NULL, *merges = NULL;
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), CELER_OK);
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &types, &err), CELER_OK);
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &merges, &err), CELER_OK);
    assert_int_equal(tokens->n, T_VOCAB);
    const gguf_string *tok = tokens->data, *mer = merges->data;
    const int32_t *type = types->data;
    assert_string_equal(tok[258].data, "hell");
    assert_string_equal(tok[260].data, "<|im_start|>");
    assert_int_equal(type[260], 3); /* CONTROL */
    assert_string_equal(tok[262].data, "<user tok>"); /* U+2581 back to a space */
    assert_int_equal(type[262], 4); /* USER_DEFINED */
    assert_string_equal(tok[263].data, "[PAD263]");
    assert_int_equal(type[263], 5); /* UNUSED */
    assert_int_equal(type[65], 1);
    assert_int_equal(merges->n, 4);
    assert_string_equal(mer[2].data, "he ll");
    assert_string_equal(mer[3].data, "\xC4\xA0 w");
    const gguf_string *s = NULL;
    assert_int_equal(gguf_get_str(f, "tokenizer.ggml.pre", &s, &err), CELER_OK);
    assert_string_equal(s->data, "gpt-2");
    uint32_t id = 0;
    assert_int_equal(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &id, &err), CELER_OK);
    assert_int_equal(id, 260);
    assert_int_equal(gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &id, &err), CELER_OK);
    assert_int_equal(id, 261);
    bool add_bos = false;
    assert_int_equal(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos, &err), CELER_OK);
    assert_true(add_bos);
    assert_int_equal(gguf_get_str(f, "tokenizer.chat_template", &s, &err), CELER_OK);
    assert_string_equal(s->data, tiny_template);
    gguf_close(f);

    celer_model *m = NULL;
    assert_int_equal(celer_model_load(dir, &m, &err), CELER_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    const char text[] = "<|im_start|>hello world";
    assert_int_equal(celer_tokenize(m, text, strlen(text), true, true, &ids, &n, &err), CELER_OK);
    const int32_t want[] = {260, 260, 258, 'o', 259, 'o', 'r', 'l', 'd'}; /* BOS, then the text */
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], want[i]); /* byte b is token b */
    free(ids);
    celer_chat_message msgs[] = {{"user", "hi"}};
    char *out = NULL;
    assert_int_equal(celer_chat_render(m, NULL, msgs, 1, true, &out, &err), CELER_OK);
    assert_string_equal(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    celer_model_free(m);
    remove_dir(dir);
}

/* Pre-tokenizers recognised by structure, and the post-processor's BOS. */
static void test_pre_tokenizers(void **state) {
    (void)state;
    static const struct {
        const char *pre_json, *post_json, *want_pre;
        int want_add_bos; /* -1: no key */
    } cases[] = {
        {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n"
         "\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
         "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}",
         "{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"},{\"type\":\"TemplateProcessing\",\"single\":["
         "{\"SpecialToken\":{\"id\":\"<|im_start|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]}]}",
         "llama-bpe", 1},
        {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n"
         "\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
         "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"use_regex\":false}]}",
         "{\"type\":\"ByteLevel\"}", "qwen2", 0},
        {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},{\"type\":\"ByteLevel\"}]}", "null",
         "smollm", 1 /* tokenizer_config.json's add_bos_token */},
        {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Isolated\"},"
         "{\"type\":\"ByteLevel\",\"use_regex\":false}]}",
         "null", "default", 1},
        {"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\"}", "null", "default", 1},
    };
    char dir[64];
    scratch_dir(dir);
    write_tiny(dir, &llama_opts);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *tok = tiny_tokenizer(false), *pre = cJSON_Parse(cases[i].pre_json), *post = cJSON_Parse(cases[i].post_json);
        assert_non_null(pre);
        assert_non_null(post);
        cJSON_ReplaceItemInObject(tok, "pre_tokenizer", pre);
        cJSON_AddItemToObject(tok, "post_processor", post);
        write_json(dir, "tokenizer.json", tok);
        cJSON_Delete(tok);
        gguf_file *f = NULL;
        celer_error err = {{0}};
        if (hf_import(dir, &f, &err) != CELER_OK) fail_msg("%s", err.msg);
        const gguf_string *s = NULL;
        assert_int_equal(gguf_get_str(f, "tokenizer.ggml.pre", &s, &err), CELER_OK);
        if (strcmp(s->data, cases[i].want_pre) != 0) fail_msg("case %zu: pre '%s', expected '%s'", i, s->data, cases[i].want_pre);
        bool add_bos = false;
        celer_status st = gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos, &err);
        assert_int_equal(st, CELER_OK);
        assert_int_equal(add_bos, cases[i].want_add_bos);
        gguf_close(f);
        celer_model *m = NULL; /* the tokenizer accepts what was written */
        assert_int_equal(celer_model_load(dir, &m, &err), CELER_OK);
        celer_model_free(m);
    }
    remove_dir(dir);
}

/* ---- errors: one line naming the file or tensor ---- */

static void expect_import_error(const char *dir, celer_status want_status, const char *want) {
    gguf_file *f = (gguf_file *)1;
    celer_error err = {{0}};
    celer_status st = hf_import(dir, &f, &err);
    if (st != want_status || !strstr(err.msg, want)) fail_msg("got status %d '%s', wanted %d containing '%s'", st, err.msg, want_status, want);
    assert_null(f);
    assert_null(strchr(err.msg, '\n'));
    celer_model *m = (celer_model *)1; /* the engine reports the same */
    assert_int_equal(celer_model_load(dir, &m, &err), want_status);
    assert_null(m);
}

static void with_tiny(const tiny_opts *o, void (*change)(const char *dir), celer_status want_status, const char *want) {
    char dir[64];
    scratch_dir(dir);
    write_tiny(dir, o);
    if (change) change(dir);
    expect_import_error(dir, want_status, want);
    remove_dir(dir);
}

static void drop_config(const char *dir) { remove_file(dir, "config.json"); }
static void drop_tokenizer(const char *dir) { remove_file(dir, "tokenizer.json"); }
static void drop_weights(const char *dir) { remove_file(dir, "model.safetensors"); }
static void drop_shard(const char *dir) { remove_file(dir, "model-00002-of-00002.safetensors"); }
static void bad_json_config(const char *dir) { write_text(dir, "config.json", "{\"hidden_size\": 64,"); }
static void gemma_config(const char *dir) { write_text(dir, "config.json", "{\"architectures\": [\"GemmaForCausalLM\"]}"); }
static void no_layers_config(const char *dir) {
    write_text(dir, "config.json", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 96, \"num_attention_heads\": 4}");
}
static void yarn_config(const char *dir) {
    write_text(dir, "config.json",
               "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 96, \"num_hidden_layers\": 2,"
               " \"num_attention_heads\": 4, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}");
}
static void fewer_layers_config(const char *dir) {
    write_text(dir, "config.json",
               "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 96, \"num_hidden_layers\": 1,"
               " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"tie_word_embeddings\": false}");
}
static void wrong_vocab_config(const char *dir) {
    write_text(dir, "config.json",
               "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 96, \"num_hidden_layers\": 2,"
               " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 32000}");
}
static void index_escape(const char *dir) {
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"model.norm.weight\": \"../model.safetensors\"}}");
}

static void test_errors(void **state) {
    (void)state;
    expect_import_error("/nonexistent/celer-model-dir", CELER_ERR_IO, "/nonexistent/celer-model-dir: not a directory");
    with_tiny(&llama_opts, drop_config, CELER_ERR_IO, "config.json is missing");
    with_tiny(&llama_opts, drop_tokenizer, CELER_ERR_IO, "tokenizer.json is missing");
    with_tiny(&llama_opts, drop_weights, CELER_ERR_IO, "no model.safetensors or model.safetensors.index.json");
    with_tiny(&llama_opts, bad_json_config, CELER_ERR_FORMAT, "config.json: not valid JSON");
    with_tiny(&llama_opts, gemma_config, CELER_ERR_UNSUPPORTED, "architecture 'GemmaForCausalLM' is not supported");
    with_tiny(&llama_opts, no_layers_config, CELER_ERR_FORMAT, "config.json: 'num_hidden_layers' is missing");
    with_tiny(&llama_opts, yarn_config, CELER_ERR_UNSUPPORTED, "rope scaling type 'yarn' is not supported");
    with_tiny(&llama_opts, fewer_layers_config, CELER_ERR_FORMAT, "tensor 'model.layers.1.input_layernorm.weight' belongs to layer 1 but config.json has num_hidden_layers = 1");
    with_tiny(&llama_opts, wrong_vocab_config, CELER_ERR_FORMAT, "vocab_size 32000 but model.embed_tokens.weight has 264 rows");
    tiny_opts o = llama_opts;
    o.shards = true;
    with_tiny(&o, drop_shard, CELER_ERR_IO, "shard 'model-00002-of-00002.safetensors' listed in model.safetensors.index.json is missing");
    with_tiny(&llama_opts, index_escape, CELER_ERR_FORMAT, "weight_map entry of 'model.norm.weight' is not a file name in the directory");
    o = llama_opts;
    o.skip = "model.layers.1.mlp.up_proj.weight";
    with_tiny(&o, NULL, CELER_ERR_FORMAT, "tensor 'model.layers.1.mlp.up_proj.weight' is missing");
    o = llama_opts;
    o.skip = "lm_head.weight";
    with_tiny(&o, NULL, CELER_ERR_FORMAT, "tensor 'lm_head.weight' is missing (config.json: tie_word_embeddings is false)");
    o = (tiny_opts){.arch = "Qwen2ForCausalLM", .dtype = "F32", .bias = false};
    with_tiny(&o, NULL, CELER_ERR_FORMAT, "tensor 'model.layers.0.self_attn.q_proj.bias' is missing");
    o = llama_opts;
    o.bad_shape = "model.layers.0.self_attn.k_proj.weight";
    with_tiny(&o, NULL, CELER_ERR_FORMAT, "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [33, 64], expected [32, 64] from config.json");
    o = llama_opts;
    o.bad_dtype = "model.layers.0.mlp.down_proj.weight";
    with_tiny(&o, NULL, CELER_ERR_UNSUPPORTED, "tensor 'model.layers.0.mlp.down_proj.weight' has dtype I32; only F32, F16 and BF16 are supported");
    o = llama_opts;
    o.extra = "model.layers.0.self_attn.o_proj.bias";
    with_tiny(&o, NULL, CELER_ERR_UNSUPPORTED, "tensor 'model.layers.0.self_attn.o_proj.bias' is not part of a llama model");
    o = llama_opts;
    o.extra = "model.layers.0.self_attn.rotary_emb.inv_freq"; /* ignored, as convert_hf_to_gguf does */
    char dir[64];
    scratch_dir(dir);
    write_tiny(dir, &o);
    gguf_file *f = NULL;
    celer_error err = {{0}};
    assert_int_equal(hf_import(dir, &f, &err), CELER_OK);
    gguf_close(f);
    remove_dir(dir);
    o = llama_opts;
    o.byte_fallback = true;
    with_tiny(&o, NULL, CELER_ERR_UNSUPPORTED, "tokenizer.json: SentencePiece-style BPE (byte_fallback");
}

/* ---- the real model ---- */

static const char *model_path(void) {
    const char *p = getenv("CELER_MODEL");
    return p ? p : "models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

typedef struct {
    float *buffers[64];
    int n;
} float_pool;

/* A GGUF tensor dequantized to F32, rows in HF order (Q/K rows: GGUF row 2i + s of head h
 * goes back to HF row s * hd/2 + i), shape (ne[1], ne[0]). */
static float *dequantized_hf(const gguf_tensor *t, int64_t heads, float_pool *pool) {
    const quant_traits *tr = quant_get_traits(t->type);
    assert_non_null(tr);
    int64_t cols = t->ne[0], rows = t->n_dims > 1 ? t->ne[1] : 1, hd = heads ? rows / heads : 0;
    float *out = malloc((size_t)(rows * cols) * sizeof(float));
    size_t row_bytes = quant_row_size(t->type, cols);
    for (int64_t r = 0; r < rows; r++) {
        int64_t hf = heads ? (r / hd) * hd + (r % hd % 2) * (hd / 2) + (r % hd) / 2 : r;
        tr->dequantize_row((const uint8_t *)t->data + (size_t)r * row_bytes, out + hf * cols, cols);
    }
    assert_true(pool->n < 64);
    pool->buffers[pool->n++] = out;
    return out;
}

static const char *hf_names[][2] = {
    {"attn_norm", "input_layernorm"}, {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"}, {"ffn_norm", "post_attention_layernorm"}, {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"},
};

static void write_real_weights(const gguf_file *g, const char *dir, int n_layers, float_pool *pool) {
    uint32_t n_head = 0, n_head_kv = 0;
    celer_error err = {{0}};
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count", &n_head, &err), CELER_OK);
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count_kv", &n_head_kv, &err), CELER_OK);
    st_builder b;
    st_init(&b);
    st_add_metadata(&b);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        const char *n = t->name.data;
        char name[128] = "";
        int64_t heads = 0;
        int il = -1;
        char part[32] = "";
        if (strcmp(n, "token_embd.weight") == 0) snprintf(name, sizeof(name), "model.embed_tokens.weight");
        else if (strcmp(n, "output_norm.weight") == 0) snprintf(name, sizeof(name), "model.norm.weight");
        else if (strcmp(n, "output.weight") == 0) snprintf(name, sizeof(name), "lm_head.weight");
        else if (sscanf(n, "blk.%d.%31[^.]", &il, part) == 2 && il < n_layers) {
            for (size_t k = 0; k < sizeof(hf_names) / sizeof(hf_names[0]); k++)
                if (strcmp(part, hf_names[k][0]) == 0) snprintf(name, sizeof(name), "model.layers.%d.%s.weight", il, hf_names[k][1]);
            heads = strcmp(part, "attn_q") == 0 ? n_head : strcmp(part, "attn_k") == 0 ? n_head_kv : 0;
        }
        if (!name[0]) continue;
        float *data = dequantized_hf(t, heads, pool);
        int64_t shape[2] = {t->n_dims > 1 ? t->ne[1] : t->ne[0], t->ne[0]};
        st_add(&b, name, "F32", (int)t->n_dims, shape, data, (size_t)(t->ne[0] * (t->n_dims > 1 ? t->ne[1] : 1)) * sizeof(float));
    }
    char path[256];
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    assert_int_equal(st_write(&b, path), 0);
    st_free(&b);
}

/* tokenizer.json and tokenizer_config.json as SmolLM2's: a ByteLevel BPE with a digits
 * pre-tokenizer, its control tokens as special added tokens. */
static void write_real_tokenizer(const gguf_file *g, const char *dir) {
    const gguf_value *tokens = NULL, *types = NULL, *merges = NULL;
    celer_error err = {{0}};
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), CELER_OK);
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &types, &err), CELER_OK);
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &merges, &err), CELER_OK);
    const gguf_string *tok = tokens->data, *mer = merges->data;
    const int32_t *type = types->data;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (uint64_t i = 0; i < tokens->n; i++) {
        if (type[i] != 3 && type[i] != 4) continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", (double)i);
        cJSON_AddStringToObject(a, "content", tok[i].data);
        cJSON_AddBoolToObject(a, "single_word", false);
        cJSON_AddBoolToObject(a, "lstrip", false);
        cJSON_AddBoolToObject(a, "rstrip", false);
        cJSON_AddBoolToObject(a, "normalized", false);
        cJSON_AddBoolToObject(a, "special", type[i] == 3);
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *digits = cJSON_CreateObject(), *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(digits, "type", "Digits");
    cJSON_AddBoolToObject(digits, "individual_digits", true);
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", false);
    cJSON_AddBoolToObject(bl, "trim_offsets", true);
    cJSON_AddBoolToObject(bl, "use_regex", true);
    cJSON_AddItemToArray(list, digits);
    cJSON_AddItemToArray(list, bl);
    cJSON *post = cJSON_AddObjectToObject(root, "post_processor");
    cJSON_AddStringToObject(post, "type", "ByteLevel");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddBoolToObject(model, "byte_fallback", false);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (uint64_t i = 0; i < tokens->n; i++) cJSON_AddNumberToObject(vocab, tok[i].data, (double)i);
    cJSON *m = cJSON_AddArrayToObject(model, "merges");
    for (uint64_t i = 0; i < merges->n; i++) cJSON_AddItemToArray(m, cJSON_CreateString(mer[i].data));
    write_json(dir, "tokenizer.json", root);
    cJSON_Delete(root);

    cJSON *tc = cJSON_CreateObject();
    cJSON_AddBoolToObject(tc, "add_prefix_space", false);
    const char *kinds[][2] = {{"bos_token", "tokenizer.ggml.bos_token_id"}, {"eos_token", "tokenizer.ggml.eos_token_id"},
                              {"unk_token", "tokenizer.ggml.unknown_token_id"}, {"pad_token", "tokenizer.ggml.padding_token_id"}};
    for (int k = 0; k < 4; k++) {
        uint32_t id = 0;
        if (gguf_get_u32(g, kinds[k][1], &id, &err) == CELER_OK) cJSON_AddStringToObject(tc, kinds[k][0], tok[id].data);
    }
    const gguf_string *tmpl = NULL;
    assert_int_equal(gguf_get_str(g, "tokenizer.chat_template", &tmpl, &err), CELER_OK);
    cJSON_AddStringToObject(tc, "chat_template", tmpl->data);
    write_json(dir, "tokenizer_config.json", tc);
    cJSON_Delete(tc);
}

static void write_real_config(const gguf_file *g, const char *dir, int n_layers) {
    uint32_t embd = 0, ff = 0, head = 0, head_kv = 0, ctx = 0;
    float eps = 0, theta = 0;
    celer_error err = {{0}};
    assert_int_equal(gguf_get_u32(g, "llama.embedding_length", &embd, &err), CELER_OK);
    assert_int_equal(gguf_get_u32(g, "llama.feed_forward_length", &ff, &err), CELER_OK);
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count", &head, &err), CELER_OK);
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count_kv", &head_kv, &err), CELER_OK);
    assert_int_equal(gguf_get_u32(g, "llama.context_length", &ctx, &err), CELER_OK);
    assert_int_equal(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps, &err), CELER_OK);
    assert_int_equal(gguf_get_f32(g, "llama.rope.freq_base", &theta, &err), CELER_OK);
    const gguf_value *tokens = NULL;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), CELER_OK);
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": %u, \"intermediate_size\": %u,"
             " \"num_hidden_layers\": %d, \"num_attention_heads\": %u, \"num_key_value_heads\": %u, \"max_position_embeddings\": %u,"
             " \"rms_norm_eps\": %.9g, \"rope_theta\": %.9g, \"tie_word_embeddings\": %s, \"vocab_size\": %llu,"
             " \"rope_scaling\": null, \"torch_dtype\": \"float32\"}",
             embd, ff, n_layers, head, head_kv, ctx, (double)eps, (double)theta, gguf_find_tensor(g, "output.weight") ? "false" : "true",
             (unsigned long long)tokens->n);
    write_text(dir, "config.json", text);
}

/* The first n_layers layers of g as a GGUF file: the same tensors, block_count changed. */
static void write_cut(const gguf_file *g, const char *path, int n_layers) {
    gguf_writer *w = gguf_writer_new();
    celer_error err = {{0}};
    for (uint64_t i = 0; i < g->n_kv; i++) assert_int_equal(gguf_writer_copy_kv(w, &g->kv[i], &err), CELER_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.block_count", (uint32_t)n_layers, &err), CELER_OK);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        int il = -1;
        if (sscanf(t->name.data, "blk.%d.", &il) == 1 && il >= n_layers) continue;
        assert_int_equal(gguf_writer_add_tensor(w, t->name.data, t->type, t->n_dims, t->ne, t->data, &err), CELER_OK);
    }
    assert_int_equal(gguf_writer_write(w, path, &err), CELER_OK);
    gguf_writer_free(w);
}

/* The keys of the original equal the imported ones. */
static void compare_keys(const gguf_file *a, const gguf_file *b, const char *const *keys, size_t n_keys) {
    for (size_t k = 0; k < n_keys; k++) {
        const gguf_kv *x = gguf_find_kv(a, keys[k]), *y = gguf_find_kv(b, keys[k]);
        if (!x || !y) fail_msg("%s: in the GGUF %d, imported %d", keys[k], x != NULL, y != NULL);
        const gguf_value *u = &x->value, *v = &y->value;
        assert_int_equal(u->is_array, v->is_array);
        if (u->type == GGUF_TYPE_STRING && !u->is_array) {
            assert_string_equal(u->str.data, v->str.data);
        } else if (u->is_array) {
            assert_int_equal(u->elem_type, v->elem_type);
            assert_int_equal(u->n, v->n);
            if (u->elem_type == GGUF_TYPE_STRING) {
                for (uint64_t i = 0; i < u->n; i++)
                    if (strcmp(((const gguf_string *)u->data)[i].data, ((const gguf_string *)v->data)[i].data) != 0) fail_msg("%s[%llu] differs", keys[k], (unsigned long long)i);
            } else {
                assert_memory_equal(u->data, v->data, u->n * gguf_type_size(u->elem_type));
            }
        } else {
            assert_int_equal(u->num.u64, v->num.u64); /* ids and bools */
        }
    }
}

/* Every tensor of the cut, dequantized, equals the imported F32 tensor of the same name. */
static void compare_tensors(const gguf_file *cut, const gguf_file *imported) {
    assert_int_equal(cut->n_tensors, imported->n_tensors);
    float *row = malloc(8192 * sizeof(float));
    for (uint64_t i = 0; i < cut->n_tensors; i++) {
        const gguf_tensor *t = &cut->tensors[i], *u = tensor(imported, t->name.data);
        assert_int_equal(u->type, QUANT_F32);
        assert_int_equal(u->n_dims, t->n_dims);
        assert_memory_equal(u->ne, t->ne, sizeof(t->ne));
        size_t row_bytes = quant_row_size(t->type, t->ne[0]);
        assert_true(t->ne[0] <= 8192);
        for (int64_t r = 0; r < (t->n_dims > 1 ? t->ne[1] : 1); r++) {
            quant_get_traits(t->type)->dequantize_row((const uint8_t *)t->data + (size_t)r * row_bytes, row, t->ne[0]);
            if (memcmp(row, (const float *)u->data + r * t->ne[0], (size_t)t->ne[0] * sizeof(float)) != 0)
                fail_msg("tensor %s row %lld differs from the GGUF's", t->name.data, (long long)r);
        }
    }
    free(row);
}

static char *read_source(const char *rel) {
    const char *root = getenv("CELER_SOURCE_DIR") ? getenv("CELER_SOURCE_DIR") : ".";
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
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

static char *unhex(const char *hex, size_t *len) {
    size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = '\0';
    *len = n;
    return out;
}

/* The hard strings of tests/data/golden/tokens.tsv, with and without special tokens. */
static void compare_tokenization(const celer_model *a, const celer_model *b) {
    char *tsv = read_source("tests/data/golden/tokens.tsv");
    int n_texts = 0;
    celer_error err = {{0}};
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "text\t", 5) != 0) continue;
        char *hex = strrchr(line, '\t') + 1;
        size_t len = 0;
        char *text = unhex(hex, &len);
        for (int special = 0; special < 2; special++) {
            int32_t *x = NULL, *y = NULL;
            size_t nx = 0, ny = 0;
            assert_int_equal(celer_tokenize(a, text, len, special, special, &x, &nx, &err), CELER_OK);
            assert_int_equal(celer_tokenize(b, text, len, special, special, &y, &ny, &err), CELER_OK);
            if (nx != ny || memcmp(x, y, nx * sizeof(int32_t)) != 0) fail_msg("text %s tokenizes differently (%zu vs %zu tokens)", hex, nx, ny);
            free(x);
            free(y);
        }
        free(text);
        n_texts++;
    }
    free(tsv);
    print_message("%d hard strings tokenize identically\n", n_texts);
    assert_true(n_texts >= 80);
}

static void compare_chat(const celer_model *a, const celer_model *b) {
    celer_chat_message msgs[] = {{"system", "You are terse."}, {"user", "What is 2+2?"}, {"assistant", "4."}, {"user", "And 3+3?"}};
    celer_error err = {{0}};
    for (size_t first = 0; first < 2; first++) /* with and without the system message */
        for (size_t n = 1; first + n <= 4; n++) {
        char *x = NULL, *y = NULL;
        assert_int_equal(celer_chat_render(a, NULL, msgs + first, n, true, &x, &err), CELER_OK);
        assert_int_equal(celer_chat_render(b, NULL, msgs + first, n, true, &y, &err), CELER_OK);
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { REAL_LAYERS = 2 };

static void test_real_model(void **state) {
    (void)state;
    gguf_file *g = NULL;
    celer_error err = {{0}};
    if (access(model_path(), R_OK) != 0 || gguf_open(model_path(), &g, &err) != CELER_OK) {
        print_message("SKIPPED: model not found at %s (run scripts/get-model.sh)\n", model_path());
        skip();
    }
    char dir[64], cut_dir[64], cut[128];
    scratch_dir(dir);
    scratch_dir(cut_dir);
    snprintf(cut, sizeof(cut), "%s/cut.gguf", cut_dir);
    float_pool pool = {0};
    write_real_weights(g, dir, REAL_LAYERS, &pool);
    for (int i = 0; i < pool.n; i++) free(pool.buffers[i]);
    write_real_tokenizer(g, dir);
    write_real_config(g, dir, REAL_LAYERS);
    write_cut(g, cut, REAL_LAYERS);
    gguf_close(g);

    double t0 = seconds();
    gguf_file *imported = NULL, *cut_file = NULL;
    if (hf_import(dir, &imported, &err) != CELER_OK) fail_msg("%s", err.msg);
    print_message("imported the %d-layer F32 directory in %.3f s\n", REAL_LAYERS, seconds() - t0);
    assert_int_equal(gguf_open(cut, &cut_file, &err), CELER_OK);
    static const char *keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                 "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                 "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token",
                                 "tokenizer.ggml.add_space_prefix", "tokenizer.chat_template"};
    compare_keys(cut_file, imported, keys, sizeof(keys) / sizeof(keys[0]));
    compare_tensors(cut_file, imported);
    gguf_close(cut_file);
    gguf_close(imported);

    celer_model *a = NULL, *b = NULL;
    assert_int_equal(celer_model_load(cut, &a, &err), CELER_OK);
    if (celer_model_load(dir, &b, &err) != CELER_OK) fail_msg("%s", err.msg);
    compare_tokenization(a, b);
    compare_chat(a, b);
    int32_t *ids = NULL;
    size_t n = 0;
    const char prompt[] = "<|im_start|>user\nThe capital of France is<|im_end|>";
    assert_int_equal(celer_tokenize(a, prompt, strlen(prompt), true, true, &ids, &n, &err), CELER_OK);
    celer_model_free(a);
    celer_model_free(b);

    /* The same weights: Q4_1/Q8_0 blocks in the cut, their exact F32 values in the
     * directory (checked tensor by tensor above). What differs is the activation rounding
     * of the dot products (Q8_1/Q8_0 for the cut's blocks, none for F32): measured 0.49 on
     * logits up to 72 (0.7%); 2% is allowed. */
    run_result ra, rb;
    run_tokens(cut, ids, (int32_t)n, &ra);
    run_tokens(dir, ids, (int32_t)n, &rb);
    float scale = 0, d = max_abs_diff(&rb, &ra, &scale);
    int agree = 0;
    for (int32_t i = 0; i < ra.n; i++) {
        const float *x = ra.logits + (size_t)i * ra.n_vocab, *y = rb.logits + (size_t)i * rb.n_vocab;
        int32_t ax = 0, ay = 0;
        for (int32_t k = 1; k < ra.n_vocab; k++) ax = x[k] > x[ax] ? k : ax, ay = y[k] > y[ay] ? k : ay;
        agree += ax == ay;
    }
    print_message("logits of %zu tokens, %d-layer SmolLM2: Q4_1 GGUF vs F32 directory of the same weights: max |difference| %.4f "
                  "(logits up to %.2f), top-1 agreement %d/%d\n",
                  n, REAL_LAYERS, d, scale, agree, ra.n);
    assert_true(d < 0.02f * scale);
    assert_true(agree == ra.n);
    free(ra.logits);
    free(rb.logits);
    free(ids);
    remove_dir(dir);
    remove_dir(cut_dir);
}

/* ---- SentencePiece: tokenizer.model ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} byte_buf;

static void put(byte_buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_varint(byte_buf *b, uint64_t v) {
    do {
        uint8_t byte = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
        put(b, &byte, 1);
        v >>= 7;
    } while (v);
}

/* A ModelProto of the GGUF's vocabulary: pieces (field 1) with text, score and type, and
 * a trainer spec and a normalizer spec (fields 2 and 3) that readers skip. */
static void write_tokenizer_model(const gguf_file *g, const char *dir, uint64_t n_pieces) {
    const gguf_value *tokens = NULL, *scores = NULL, *types = NULL;
    celer_error err = {{0}};
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), CELER_OK);
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &scores, &err), CELER_OK);
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &types, &err), CELER_OK);
    byte_buf out = {0};
    put_varint(&out, (2 << 3) | 2); /* trainer_spec {model_type: BPE (4)} */
    put_varint(&out, 2);
    put(&out, "\x18\x04", 2);
    for (uint64_t i = 0; i < n_pieces; i++) {
        const gguf_string *t = &((const gguf_string *)tokens->data)[i];
        int32_t type = ((const int32_t *)types->data)[i];
        byte_buf piece = {0};
        put_varint(&piece, (1 << 3) | 2);
        put_varint(&piece, t->len);
        put(&piece, t->data, t->len);
        put_varint(&piece, (2 << 3) | 5);
        put(&piece, (const float *)scores->data + i, 4);
        if (type != 1) { /* NORMAL is the default: left out, as SentencePiece writes it */
            put_varint(&piece, (3 << 3) | 0);
            put_varint(&piece, (uint64_t)type);
        }
        put_varint(&out, (1 << 3) | 2);
        put_varint(&out, piece.n);
        put(&out, piece.p, piece.n);
        free(piece.p);
    }
    put_varint(&out, (3 << 3) | 2); /* normalizer_spec {add_dummy_prefix: true} */
    put_varint(&out, 2);
    put(&out, "\x18\x01", 2);
    char path[512];
    snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(out.p, 1, out.n, f), out.n);
    fclose(f);
    free(out.p);
}

/* A Llama 2 style directory from the small SentencePiece vocabulary of
 * tests/data/tokenizer/spm_llama2.gguf (1057 pieces, then 3 control tokens and a user
 * defined one, added as tokenizer_config.json's added_tokens_decoder lists them): its
 * keys come back (the added tokens with convert_hf_to_gguf's score -1000), and the hard
 * strings of tests/data/golden tokenize the same. */
static void test_sentencepiece(void **state) {
    (void)state;
    char *path = NULL;
    const char *root = getenv("CELER_SOURCE_DIR") ? getenv("CELER_SOURCE_DIR") : ".";
    assert_true(asprintf(&path, "%s/tests/data/tokenizer/spm_llama2.gguf", root) > 0);
    gguf_file *g = NULL;
    celer_error err = {{0}};
    if (gguf_open(path, &g, &err) != CELER_OK) fail_msg("%s", err.msg);
    free(path);
    const gguf_value *tokens = NULL;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), CELER_OK);
    char dir[64];
    scratch_dir(dir);
    tiny_opts o = llama_opts;
    o.n_vocab = (int)tokens->n;
    write_tiny(dir, &o);
    const uint64_t n_pieces = 1057;
    assert_string_equal(((const gguf_string *)tokens->data)[n_pieces].data, "<|im_start|>");
    write_tokenizer_model(g, dir, n_pieces);
    write_text(dir, "tokenizer.json",
               "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true}, {\"id\": 1, \"content\": \"<s>\", \"special\": true},"
               " {\"id\": 2, \"content\": \"</s>\", \"special\": true}], \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {}, \"merges\": []}}");
    write_text(dir, "tokenizer_config.json",
               "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"unk_token\": \"<unk>\", \"add_bos_token\": true, \"add_eos_token\": false,"
               " \"added_tokens_decoder\": {\"1057\": {\"content\": \"<|im_start|>\", \"special\": true},"
               " \"1058\": {\"content\": \"<|im_end|>\", \"special\": true}, \"1059\": {\"content\": \"<|endoftext|>\", \"special\": true},"
               " \"1060\": {\"content\": \"<tool>\", \"special\": false}}}");
    gguf_file *f = NULL;
    if (hf_import(dir, &f, &err) != CELER_OK) fail_msg("%s", err.msg);
    static const char *keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                 "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                                 "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"};
    compare_keys(g, f, keys, sizeof(keys) / sizeof(keys[0]));
    const gguf_string *pre = NULL;
    assert_int_equal(gguf_get_str(f, "tokenizer.ggml.pre", &pre, &err), CELER_OK);
    assert_string_equal(pre->data, "default");
    const gguf_value *x = NULL, *y = NULL;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &x, &err), CELER_OK);
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &y, &err), CELER_OK);
    assert_int_equal(x->n, y->n);
    for (uint64_t i = 0; i < x->n; i++)
        assert_true(((const float *)y->data)[i] == (i < n_pieces ? ((const float *)x->data)[i] : -1000.0f));
    tokenizer *a = NULL, *b = NULL;
    assert_int_equal(tokenizer_init_from_gguf(&a, g, &err), CELER_OK);
    assert_int_equal(tokenizer_init_from_gguf(&b, f, &err), CELER_OK);
    char *tsv = read_source("tests/data/golden/tokens.tsv");
    int n_texts = 0;
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "text\t", 5) != 0) continue;
        size_t len = 0;
        char *text = unhex(strrchr(line, '\t') + 1, &len);
        int32_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        assert_int_equal(tokenizer_encode(a, text, len, true, true, &x, &nx, &err), CELER_OK);
        assert_int_equal(tokenizer_encode(b, text, len, true, true, &y, &ny, &err), CELER_OK);
        if (nx != ny || memcmp(x, y, nx * sizeof(int32_t)) != 0) fail_msg("text %s tokenizes differently", strrchr(line, '\t') + 1);
        free(x);
        free(y);
        free(text);
        n_texts++;
    }
    assert_true(n_texts >= 80);
    free(tsv);
    tokenizer_free(a);
    tokenizer_free(b);
    gguf_close(f);

    /* a broken tokenizer.model: one line naming it */
    write_bytes(dir, "tokenizer.model", "\x0a\x7f\x0a\x03<s>", 6);
    expect_import_error(dir, CELER_ERR_FORMAT, "tokenizer.model: piece 0 is truncated");
    write_bytes(dir, "tokenizer.model", "\x0a\x04\x0a\x00\x18\x09", 6);
    expect_import_error(dir, CELER_ERR_FORMAT, "tokenizer.model: piece 0 has type 9 (expected 1..6)");
    write_bytes(dir, "tokenizer.model", "\x1b\x01", 2);
    expect_import_error(dir, CELER_ERR_FORMAT, "tokenizer.model: not a SentencePiece model");
    gguf_close(g);
    remove_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_equals_qwen2), cmocka_unit_test(test_tensor_layout),
        cmocka_unit_test(test_dtypes_and_tied),    cmocka_unit_test(test_shards),
        cmocka_unit_test(test_llama3_rope),        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_pre_tokenizers),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_real_model),         cmocka_unit_test(test_sentencepiece),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
