/* hf_import.c: a Hugging Face directory as an in-memory GGUF file (see hf_import.h).
 *
 * Steps: config.json -> hyper-parameters (the keys model.c reads, as convert_hf_to_gguf
 * names them); the safetensors shards opened and their tensors indexed by name; the
 * tensors converted and named; the tokenizer (hf_tokenizer.c); every tensor of the
 * shards accounted for. Tests: tests/test_hf_import.c. */
#include "format/hf_import.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/half.h"
#include "format/hf_internal.h"
#include "format/safetensors.h"
#include "quant/quant.h"

#define MAX_DIM (1ll << 30) /* model.c's bound on every hyper-parameter */

typedef enum { ROPE_SCALING_NONE, ROPE_SCALING_LINEAR, ROPE_SCALING_LLAMA3 } rope_scaling;

typedef struct {
    const char *arch; /* "llama" or "qwen2" */
    int64_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_ctx, vocab_size;
    bool has_head_kv, has_head_dim, has_ctx, has_vocab_size, has_eps, has_theta, tied;
    double norm_eps, rope_theta;
    rope_scaling scaling;
    double factor, low_freq_factor, high_freq_factor, original_ctx; /* linear: factor; llama3: all */
} hf_config;

/* What the built file's tensors point into: freed by gguf_close through owner_free. */
typedef struct {
    safetensors_file **shards; /* (n_shards) */
    size_t n_shards;
    void **buffers; /* (n_buffers) converted and permuted copies */
    size_t n_buffers, cap_buffers;
} hf_owner;

typedef struct {
    const char *name;
    const safetensors_tensor *t;
    size_t shard;
    bool used;
} indexed_tensor;

typedef struct {
    const char *dir;
    char config_path[4200]; /* "<dir>/config.json", for messages */
    celer_error *err;
    hf_config cfg;
    hf_owner *owner;
    indexed_tensor *index; /* (n_index) sorted by name */
    size_t n_index;
    gguf_writer *w;
} importer;

static void owner_free(void *p) {
    hf_owner *o = p;
    if (!o) return;
    for (size_t i = 0; i < o->n_shards; i++) safetensors_close(o->shards[i]);
    free(o->shards);
    for (size_t i = 0; i < o->n_buffers; i++) free(o->buffers[i]);
    free(o->buffers);
    free(o);
}

/* ---- config.json ---- */

static celer_status config_int(importer *im, const cJSON *c, const char *key, bool required, int64_t *out, bool *present) {
    celer_status st = hf_json_int(c, key, im->config_path, 1, MAX_DIM, out, im->err);
    if (present) *present = st == CELER_OK;
    if (st == CELER_ERR_RANGE)
        return required ? celer_error_set(im->err, CELER_ERR_FORMAT, "%s: '%s' is missing", im->config_path, key) : CELER_OK;
    return st;
}

static celer_status config_float(importer *im, const cJSON *c, const char *key, double *out, bool *present) {
    celer_status st = hf_json_float(c, key, im->config_path, out, im->err);
    if (present) *present = st == CELER_OK;
    if (st == CELER_OK && !(*out > 0)) return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: '%s' = %g must be positive", im->config_path, key, *out);
    return st == CELER_ERR_RANGE ? CELER_OK : st;
}

static celer_status read_arch(importer *im, const cJSON *c) {
    static const struct {
        const char *hf, *model_type, *gguf;
    } archs[] = {{"LlamaForCausalLM", "llama", "llama"}, {"MistralForCausalLM", "mistral", "llama"}, {"Qwen2ForCausalLM", "qwen2", "qwen2"}};
    const cJSON *list = hf_json_get(c, "architectures");
    const char *name = cJSON_IsArray(list) && cJSON_IsString(list->child) ? list->child->valuestring : NULL;
    const char *model_type = hf_json_str(c, "model_type");
    for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++)
        if (name ? strcmp(name, archs[i].hf) == 0 : model_type && strcmp(model_type, archs[i].model_type) == 0) {
            im->cfg.arch = archs[i].gguf;
            return CELER_OK;
        }
    return celer_error_set(im->err, CELER_ERR_UNSUPPORTED,
                           "%s: architecture '%s' is not supported (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)",
                           im->config_path, name ? name : model_type ? model_type : "(none given)");
}

/* rope_parameters (newer configs) or rope_scaling: none, linear, or Llama 3's factors. */
static celer_status read_rope(importer *im, const cJSON *c) {
    hf_config *cfg = &im->cfg;
    const cJSON *rope = hf_json_get(c, "rope_parameters");
    if (!rope) rope = hf_json_get(c, "rope_scaling");
    celer_status st = config_float(im, c, "rope_theta", &cfg->rope_theta, &cfg->has_theta);
    if (st == CELER_OK && !cfg->has_theta) st = config_float(im, rope, "rope_theta", &cfg->rope_theta, &cfg->has_theta);
    if (st != CELER_OK) return st;
    const char *type = hf_json_str(rope, "rope_type");
    if (!type) type = hf_json_str(rope, "type");
    if (!type || strcmp(type, "default") == 0) return CELER_OK;
    bool has_factor = false;
    if ((st = config_float(im, rope, "factor", &cfg->factor, &has_factor)) != CELER_OK) return st;
    if (strcmp(type, "linear") == 0) {
        if (has_factor) cfg->scaling = ROPE_SCALING_LINEAR; /* convert_hf_to_gguf ignores a linear type without a factor */
        return CELER_OK;
    }
    if (strcmp(type, "llama3") == 0 && strcmp(cfg->arch, "llama") == 0) {
        cfg->scaling = ROPE_SCALING_LLAMA3;
        if (!has_factor) cfg->factor = 8.0;
        cfg->low_freq_factor = 1.0, cfg->high_freq_factor = 4.0, cfg->original_ctx = 8192.0;
        bool has_orig = false;
        if ((st = config_float(im, rope, "low_freq_factor", &cfg->low_freq_factor, NULL)) != CELER_OK) return st;
        if ((st = config_float(im, rope, "high_freq_factor", &cfg->high_freq_factor, NULL)) != CELER_OK) return st;
        if ((st = config_float(im, rope, "original_max_position_embeddings", &cfg->original_ctx, &has_orig)) != CELER_OK) return st;
        if (!has_orig && (st = config_float(im, c, "original_max_position_embeddings", &cfg->original_ctx, NULL)) != CELER_OK) return st;
        if (cfg->high_freq_factor == cfg->low_freq_factor)
            return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: rope scaling has low_freq_factor == high_freq_factor", im->config_path);
        return CELER_OK;
    }
    return celer_error_set(im->err, CELER_ERR_UNSUPPORTED, "%s: rope scaling type '%s' is not supported for %s (supported: linear%s)", im->config_path,
                           type, cfg->arch, strcmp(cfg->arch, "llama") == 0 ? ", llama3" : "");
}

static celer_status read_config(importer *im, const cJSON *c) {
    hf_config *cfg = &im->cfg;
    celer_status st = read_arch(im, c);
    if (st == CELER_OK) st = config_int(im, c, "num_hidden_layers", true, &cfg->n_layer, NULL);
    if (st == CELER_OK) st = config_int(im, c, "hidden_size", true, &cfg->n_embd, NULL);
    if (st == CELER_OK) st = config_int(im, c, "intermediate_size", true, &cfg->n_ff, NULL);
    if (st == CELER_OK) st = config_int(im, c, "num_attention_heads", true, &cfg->n_head, NULL);
    if (st == CELER_OK) st = config_int(im, c, "num_key_value_heads", false, &cfg->n_head_kv, &cfg->has_head_kv);
    if (st == CELER_OK) st = config_int(im, c, "head_dim", false, &cfg->head_dim, &cfg->has_head_dim);
    if (st == CELER_OK) st = config_int(im, c, "max_position_embeddings", false, &cfg->n_ctx, &cfg->has_ctx);
    if (st == CELER_OK) st = config_int(im, c, "vocab_size", false, &cfg->vocab_size, &cfg->has_vocab_size);
    if (st == CELER_OK) st = config_float(im, c, "rms_norm_eps", &cfg->norm_eps, &cfg->has_eps);
    if (st == CELER_OK) st = read_rope(im, c);
    if (st != CELER_OK) return st;
    if (!cfg->has_head_kv) cfg->n_head_kv = cfg->n_head;
    if (!cfg->has_head_dim) cfg->head_dim = cfg->n_embd / cfg->n_head;
    if (cfg->head_dim < 2 || cfg->head_dim % 2 != 0 || cfg->n_head % cfg->n_head_kv != 0 || (!cfg->has_head_dim && cfg->n_embd % cfg->n_head != 0))
        return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: hidden_size %" PRId64 ", num_attention_heads %" PRId64 ", num_key_value_heads %" PRId64
                               " and head dim %" PRId64 " do not fit together", im->config_path, cfg->n_embd, cfg->n_head, cfg->n_head_kv, cfg->head_dim);
    if ((st = hf_json_bool(c, "tie_word_embeddings", im->config_path, &cfg->tied, im->err)) == CELER_ERR_RANGE) cfg->tied = false;
    return st == CELER_ERR_RANGE ? CELER_OK : st;
}

/* ---- metadata ---- */

static const char *base_name(const char *dir, char *buf, size_t size) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && dir[start - 1] != '/') start--;
    snprintf(buf, size, "%.*s", (int)(n - start), dir + start);
    return buf;
}

static celer_status set_u32(importer *im, const char *suffix, int64_t v) {
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", im->cfg.arch, suffix);
    return gguf_writer_set_u32(im->w, key, (uint32_t)v, im->err);
}

static celer_status set_f32(importer *im, const char *suffix, double v) {
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", im->cfg.arch, suffix);
    return gguf_writer_set_f32(im->w, key, (float)v, im->err);
}

/* The keys convert_hf_to_gguf writes for these models (the ones model.c reads among them). */
static celer_status write_metadata(importer *im, int64_t n_vocab) {
    const hf_config *cfg = &im->cfg;
    char name[256];
    celer_status st = gguf_writer_set_str(im->w, "general.architecture", cfg->arch, im->err);
    if (st == CELER_OK) st = gguf_writer_set_str(im->w, "general.type", "model", im->err);
    if (st == CELER_OK) st = gguf_writer_set_str(im->w, "general.name", base_name(im->dir, name, sizeof(name)), im->err);
    if (st == CELER_OK) st = set_u32(im, "block_count", cfg->n_layer);
    if (st == CELER_OK && cfg->has_ctx) st = set_u32(im, "context_length", cfg->n_ctx);
    if (st == CELER_OK) st = set_u32(im, "embedding_length", cfg->n_embd);
    if (st == CELER_OK) st = set_u32(im, "feed_forward_length", cfg->n_ff);
    if (st == CELER_OK) st = set_u32(im, "attention.head_count", cfg->n_head);
    if (st == CELER_OK && cfg->has_head_kv) st = set_u32(im, "attention.head_count_kv", cfg->n_head_kv);
    if (st == CELER_OK && cfg->has_theta) st = set_f32(im, "rope.freq_base", cfg->rope_theta);
    if (st == CELER_OK && cfg->has_eps) st = set_f32(im, "attention.layer_norm_rms_epsilon", cfg->norm_eps);
    if (st == CELER_OK && cfg->has_head_dim) st = set_u32(im, "attention.key_length", cfg->head_dim);
    if (st == CELER_OK && cfg->has_head_dim) st = set_u32(im, "attention.value_length", cfg->head_dim);
    if (st == CELER_OK && cfg->scaling == ROPE_SCALING_LINEAR) {
        char key[128];
        snprintf(key, sizeof(key), "%s.rope.scaling.type", cfg->arch);
        st = gguf_writer_set_str(im->w, key, "linear", im->err);
        if (st == CELER_OK) st = set_f32(im, "rope.scaling.factor", cfg->factor);
    }
    bool llama = strcmp(cfg->arch, "llama") == 0;
    if (st == CELER_OK && llama) st = set_u32(im, "vocab_size", cfg->has_vocab_size ? cfg->vocab_size : n_vocab);
    if (st == CELER_OK && llama) st = set_u32(im, "rope.dimension_count", cfg->head_dim);
    return st;
}

/* ---- shards and the tensor index ---- */

static int by_name(const void *a, const void *b) { return strcmp(((const indexed_tensor *)a)->name, ((const indexed_tensor *)b)->name); }

static indexed_tensor *find(importer *im, const char *name) {
    indexed_tensor key = {.name = name};
    return bsearch(&key, im->index, im->n_index, sizeof(key), by_name);
}

static celer_status open_shard(importer *im, const char *file, const char *listed_in) {
    hf_owner *o = im->owner;
    char path[4200];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", im->dir, file) >= sizeof(path))
        return celer_error_set(im->err, CELER_ERR_INVALID_ARG, "%s: path too long", im->dir);
    struct stat sb;
    if (listed_in && stat(path, &sb) != 0 && errno == ENOENT)
        return celer_error_set(im->err, CELER_ERR_IO, "%s: shard '%s' listed in %s is missing", im->dir, file, listed_in);
    safetensors_file **grown = realloc(o->shards, (o->n_shards + 1) * sizeof(*grown));
    if (!grown) return celer_error_set(im->err, CELER_ERR_NOMEM, "%s: out of memory", im->dir);
    o->shards = grown;
    celer_status st = safetensors_open(path, &o->shards[o->n_shards], im->err);
    if (st == CELER_OK) o->n_shards++;
    return st;
}

/* A shard name from the index must be a plain file name inside the directory. */
static bool plain_file_name(const char *s) { return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0; }

static int by_string(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The distinct shard files of weight_map, in name order. */
static celer_status open_indexed_shards(importer *im, const cJSON *map, const char *index_name) {
    int n = cJSON_GetArraySize(map), k = 0;
    const char **files = malloc((size_t)n * sizeof(*files));
    if (!files) return celer_error_set(im->err, CELER_ERR_NOMEM, "%s: out of memory", im->dir);
    celer_status st = CELER_OK;
    for (const cJSON *e = map->child; e && st == CELER_OK; e = e->next) {
        if (!cJSON_IsString(e) || !plain_file_name(e->valuestring))
            st = celer_error_set(im->err, CELER_ERR_FORMAT, "%s/%s: weight_map entry of '%s' is not a file name in the directory", im->dir, index_name,
                                 e->string);
        else files[k++] = e->valuestring;
    }
    if (st == CELER_OK) qsort(files, (size_t)k, sizeof(*files), by_string);
    for (int i = 0; i < k && st == CELER_OK; i++)
        if (i == 0 || strcmp(files[i - 1], files[i]) != 0) st = open_shard(im, files[i], index_name);
    free(files);
    return st;
}

static celer_status build_index(importer *im) {
    hf_owner *o = im->owner;
    size_t n = 0;
    for (size_t s = 0; s < o->n_shards; s++) n += o->shards[s]->n_tensors;
    im->index = malloc((n ? n : 1) * sizeof(*im->index));
    if (!im->index) return celer_error_set(im->err, CELER_ERR_NOMEM, "%s: out of memory for %zu tensors", im->dir, n);
    for (size_t s = 0; s < o->n_shards; s++)
        for (size_t i = 0; i < o->shards[s]->n_tensors; i++)
            im->index[im->n_index++] = (indexed_tensor){o->shards[s]->tensors[i].name, &o->shards[s]->tensors[i], s, false};
    qsort(im->index, n, sizeof(*im->index), by_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(im->index[i - 1].name, im->index[i].name) == 0)
            return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: tensor '%s' is in both %s and %s", im->dir, im->index[i].name,
                                   o->shards[im->index[i - 1].shard]->name, o->shards[im->index[i].shard]->name);
    return CELER_OK;
}

/* Every tensor of weight_map must be in the shard it names. */
static celer_status check_weight_map(importer *im, const cJSON *map, const char *index_name) {
    for (const cJSON *e = map->child; e; e = e->next) {
        const indexed_tensor *t = find(im, e->string);
        const char *in = t ? strrchr(im->owner->shards[t->shard]->name, '/') + 1 : NULL;
        if (!t || strcmp(in, e->valuestring) != 0)
            return celer_error_set(im->err, CELER_ERR_FORMAT, "%s/%s: tensor '%s' is listed under %s, which does not hold it", im->dir, index_name,
                                   e->string, e->valuestring);
    }
    return CELER_OK;
}

static celer_status open_shards(importer *im) {
    static const char index_name[] = "model.safetensors.index.json";
    cJSON *index = NULL;
    celer_status st = hf_json_read(im->dir, index_name, false, &index, im->err);
    if (st != CELER_OK) return st;
    if (!index) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/model.safetensors", im->dir);
        struct stat sb;
        if (stat(path, &sb) != 0 && errno == ENOENT)
            return celer_error_set(im->err, CELER_ERR_IO, "%s: no model.safetensors or %s (the weights) in the directory", im->dir, index_name);
        st = open_shard(im, "model.safetensors", NULL);
        return st == CELER_OK ? build_index(im) : st;
    }
    const cJSON *map = hf_json_get(index, "weight_map");
    if (!cJSON_IsObject(map) || !map->child)
        st = celer_error_set(im->err, CELER_ERR_FORMAT, "%s/%s: weight_map is missing, empty or not an object", im->dir, index_name);
    if (st == CELER_OK) st = open_indexed_shards(im, map, index_name);
    if (st == CELER_OK) st = build_index(im);
    if (st == CELER_OK) st = check_weight_map(im, map, index_name);
    cJSON_Delete(index);
    return st;
}

/* ---- tensors ---- */

typedef struct {
    const char *hf, *gguf;
    int64_t rows, cols; /* cols 0: a vector of rows elements */
    bool to_f32, required;
    int64_t permute_heads; /* > 0: Q/K rows from rotary halves to interleaved pairs, per head */
} tensor_spec;

static void *owned_buffer(importer *im, size_t bytes) {
    hf_owner *o = im->owner;
    if (o->n_buffers == o->cap_buffers) {
        size_t cap = o->cap_buffers ? 2 * o->cap_buffers : 64;
        void **p = realloc(o->buffers, cap * sizeof(*p));
        if (!p) return NULL;
        o->buffers = p;
        o->cap_buffers = cap;
    }
    void *buf = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (buf) o->buffers[o->n_buffers++] = buf;
    return buf;
}

/* convert_hf_to_gguf's permute: within each head of hd rows, GGUF row 2i + s is HF row
 * s * hd/2 + i (s = 0, 1): HF keeps the two rotary halves apart, GGUF interleaves them. */
static int64_t source_row(int64_t row, int64_t head_rows) {
    if (head_rows == 0) return row;
    int64_t head = row / head_rows, j = row % head_rows;
    return head * head_rows + (j % 2) * (head_rows / 2) + j / 2;
}

static void convert_row(const uint8_t *src, safetensors_dtype dtype, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        if (dtype == SAFETENSORS_F32) memcpy(&dst[i], src + 4 * i, 4);
        else if (memcpy(&h, src + 2 * i, 2), dtype == SAFETENSORS_BF16) dst[i] = celer_bf16_to_fp32(h);
        else dst[i] = celer_fp16_to_fp32(h);
    }
}

/* The tensor's bytes as the GGUF file holds them: the mapping itself when nothing
 * changes and it is aligned to its elements, else a copy (F32, permuted or aligned). */
static celer_status tensor_data(importer *im, const tensor_spec *s, const safetensors_tensor *t, const void **data, uint32_t *type) {
    size_t in_size = safetensors_dtype_size(t->dtype);
    int64_t row_elems = s->cols ? s->cols : 1;
    bool to_f32 = s->to_f32 && t->dtype != SAFETENSORS_F32;
    *type = s->to_f32 || t->dtype == SAFETENSORS_F32 ? QUANT_F32 : t->dtype == SAFETENSORS_F16 ? QUANT_F16 : QUANT_BF16;
    if (!to_f32 && s->permute_heads == 0 && (uintptr_t)t->data % in_size == 0) {
        *data = t->data;
        return CELER_OK;
    }
    int64_t head_rows = s->permute_heads ? s->rows / s->permute_heads : 0;
    size_t out_size = to_f32 ? 4 : in_size, in_row = (size_t)row_elems * in_size, out_row = (size_t)row_elems * out_size;
    uint8_t *buf = owned_buffer(im, out_row * (size_t)s->rows);
    if (!buf) return celer_error_set(im->err, CELER_ERR_NOMEM, "%s: out of memory converting tensor '%s'", im->dir, s->hf);
    const uint8_t *src = t->data;
    for (int64_t r = 0; r < s->rows; r++) {
        const uint8_t *in = src + (size_t)source_row(r, head_rows) * in_row;
        if (to_f32) convert_row(in, t->dtype, (float *)(buf + (size_t)r * out_row), row_elems);
        else memcpy(buf + (size_t)r * out_row, in, in_row);
    }
    *data = buf;
    return CELER_OK;
}

static void shape_text(const safetensors_tensor *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (uint32_t d = 0; d < t->n_dims && n < size; d++) n += (size_t)snprintf(buf + n, size - n, d ? ", %" PRId64 : "%" PRId64, t->shape[d]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

static celer_status import_tensor(importer *im, const tensor_spec *s) {
    indexed_tensor *e = find(im, s->hf);
    if (!e) return s->required ? celer_error_set(im->err, CELER_ERR_FORMAT, "%s: tensor '%s' is missing", im->dir, s->hf) : CELER_OK;
    e->used = true;
    const safetensors_tensor *t = e->t;
    const char *file = im->owner->shards[e->shard]->name;
    if (t->dtype != SAFETENSORS_F32 && t->dtype != SAFETENSORS_F16 && t->dtype != SAFETENSORS_BF16)
        return celer_error_set(im->err, CELER_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported", file, s->hf,
                               safetensors_dtype_name(t->dtype));
    bool shape_ok = s->cols ? t->n_dims == 2 && t->shape[0] == s->rows && t->shape[1] == s->cols : t->n_dims == 1 && t->shape[0] == s->rows;
    if (!shape_ok) {
        char have[160];
        shape_text(t, have, sizeof(have));
        if (s->cols)
            return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected [%" PRId64 ", %" PRId64 "] from config.json", file,
                                   s->hf, have, s->rows, s->cols);
        return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected [%" PRId64 "] from config.json", file, s->hf, have,
                               s->rows);
    }
    const void *data = NULL;
    uint32_t type = 0;
    celer_status st = tensor_data(im, s, t, &data, &type);
    int64_t ne[2] = {s->cols ? s->cols : s->rows, s->rows};
    if (st == CELER_OK) st = gguf_writer_add_tensor(im->w, s->gguf, type, s->cols ? 2 : 1, ne, data, im->err);
    return st;
}

static celer_status import_layer(importer *im, int64_t il) {
    const hf_config *c = &im->cfg;
    bool llama = strcmp(c->arch, "llama") == 0, qwen2 = !llama;
    int64_t e = c->n_embd, q = c->n_head * c->head_dim, kv = c->n_head_kv * c->head_dim;
    int64_t pq = llama ? c->n_head : 0, pk = llama ? c->n_head_kv : 0;
    const struct {
        const char *hf, *gguf;
        int64_t rows, cols;
        bool to_f32, required;
        int64_t permute;
    } specs[] = {
        {"input_layernorm.weight", "attn_norm.weight", e, 0, true, true, 0},
        {"self_attn.q_proj.weight", "attn_q.weight", q, e, false, true, pq},
        {"self_attn.k_proj.weight", "attn_k.weight", kv, e, false, true, pk},
        {"self_attn.v_proj.weight", "attn_v.weight", kv, e, false, true, 0},
        {"self_attn.q_proj.bias", "attn_q.bias", q, 0, true, qwen2, pq},
        {"self_attn.k_proj.bias", "attn_k.bias", kv, 0, true, qwen2, pk},
        {"self_attn.v_proj.bias", "attn_v.bias", kv, 0, true, qwen2, 0},
        {"self_attn.o_proj.weight", "attn_output.weight", e, q, false, true, 0},
        {"post_attention_layernorm.weight", "ffn_norm.weight", e, 0, true, true, 0},
        {"mlp.gate_proj.weight", "ffn_gate.weight", c->n_ff, e, false, true, 0},
        {"mlp.up_proj.weight", "ffn_up.weight", c->n_ff, e, false, true, 0},
        {"mlp.down_proj.weight", "ffn_down.weight", e, c->n_ff, false, true, 0},
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        char hf[128], gguf[96];
        snprintf(hf, sizeof(hf), "model.layers.%" PRId64 ".%s", il, specs[i].hf);
        snprintf(gguf, sizeof(gguf), "blk.%" PRId64 ".%s", il, specs[i].gguf);
        tensor_spec s = {hf, gguf, specs[i].rows, specs[i].cols, specs[i].to_f32, specs[i].required, specs[i].permute};
        celer_status st = import_tensor(im, &s);
        if (st != CELER_OK) return st;
    }
    return CELER_OK;
}

/* Llama 3's rope_freqs.weight exactly as convert_hf_to_gguf computes it, in float32:
 * frequencies whose wavelength is below original_ctx / high_freq_factor keep factor 1,
 * above original_ctx / low_freq_factor get `factor`, and those between are blended. */
static celer_status import_rope_freqs(importer *im) {
    const hf_config *c = &im->cfg;
    int64_t n = c->head_dim / 2;
    float *factors = owned_buffer(im, (size_t)n * sizeof(float));
    if (!factors) return celer_error_set(im->err, CELER_ERR_NOMEM, "%s: out of memory", im->dir);
    float base = (float)(c->has_theta ? c->rope_theta : 10000.0), dim = (float)c->head_dim;
    float factor = (float)c->factor, low = (float)c->low_freq_factor, high = (float)c->high_freq_factor, old_ctx = (float)c->original_ctx;
    float low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
    for (int64_t i = 0; i < n; i++) {
        float freq = 1.0f / powf(base, (float)(2 * i) / dim);
        float wavelen = (float)(2.0 * M_PI) / freq;
        if (wavelen < high_wavelen) factors[i] = 1.0f;
        else if (wavelen > low_wavelen) factors[i] = factor;
        else {
            float smooth = (old_ctx / wavelen - low) / (high - low);
            factors[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
    }
    return gguf_writer_add_tensor(im->w, "rope_freqs.weight", QUANT_F32, 1, (int64_t[]){n}, factors, im->err);
}

static celer_status import_tensors(importer *im, int64_t n_vocab) {
    const hf_config *c = &im->cfg;
    tensor_spec embd = {"model.embed_tokens.weight", "token_embd.weight", n_vocab, c->n_embd, false, true, 0};
    tensor_spec norm = {"model.norm.weight", "output_norm.weight", c->n_embd, 0, true, true, 0};
    tensor_spec head = {"lm_head.weight", "output.weight", n_vocab, c->n_embd, false, true, 0};
    celer_status st = import_tensor(im, &embd);
    if (st == CELER_OK && c->scaling == ROPE_SCALING_LLAMA3) st = import_rope_freqs(im);
    if (st == CELER_OK) st = import_tensor(im, &norm);
    if (st == CELER_OK && !c->tied)
        st = find(im, head.hf) ? import_tensor(im, &head)
                               : celer_error_set(im->err, CELER_ERR_FORMAT, "%s: tensor 'lm_head.weight' is missing (config.json: tie_word_embeddings is false)", im->dir);
    for (int64_t il = 0; il < c->n_layer && st == CELER_OK; il++) st = import_layer(im, il);
    return st;
}

/* Every tensor of the shards must have been used, as convert_hf_to_gguf refuses tensors
 * it cannot map: an ignored one would silently change the model. Exceptions: rotary
 * inverse frequencies (recomputed from the config) and a tied model's lm_head. */
static celer_status check_all_used(importer *im) {
    for (size_t i = 0; i < im->n_index; i++) {
        const indexed_tensor *e = &im->index[i];
        static const char inv_freq[] = ".rotary_emb.inv_freq";
        size_t n = strlen(e->name), k = sizeof(inv_freq) - 1;
        if (e->used || (n >= k && strcmp(e->name + n - k, inv_freq) == 0) || (im->cfg.tied && strcmp(e->name, "lm_head.weight") == 0)) continue;
        const char *file = im->owner->shards[e->shard]->name;
        long long layer = -1;
        if (sscanf(e->name, "model.layers.%lld.", &layer) == 1 && layer >= im->cfg.n_layer)
            return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: tensor '%s' belongs to layer %lld but config.json has num_hidden_layers = %" PRId64, file,
                                   e->name, layer, im->cfg.n_layer);
        return celer_error_set(im->err, CELER_ERR_UNSUPPORTED, "%s: tensor '%s' is not part of a %s model as celer runs it", file, e->name, im->cfg.arch);
    }
    return CELER_OK;
}

/* ---- top level ---- */

/* Rows of the token embedding (the vocabulary size), which must agree with vocab_size. */
static celer_status vocab_rows(importer *im, int64_t *n_vocab) {
    const indexed_tensor *e = find(im, "model.embed_tokens.weight");
    if (!e) return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: tensor 'model.embed_tokens.weight' is missing", im->dir);
    if (e->t->n_dims != 2 || e->t->shape[0] < 1 || e->t->shape[0] > INT32_MAX)
        return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: tensor 'model.embed_tokens.weight' is not a matrix of 1..2^31-1 rows",
                               im->owner->shards[e->shard]->name);
    *n_vocab = e->t->shape[0];
    if (im->cfg.has_vocab_size && im->cfg.vocab_size != *n_vocab)
        return celer_error_set(im->err, CELER_ERR_FORMAT, "%s: vocab_size %" PRId64 " but model.embed_tokens.weight has %" PRId64 " rows", im->config_path,
                               im->cfg.vocab_size, *n_vocab);
    return CELER_OK;
}

static uint64_t shard_bytes(const hf_owner *o) {
    uint64_t n = 0;
    for (size_t i = 0; i < o->n_shards; i++) n += o->shards[i]->size;
    return n;
}

celer_status hf_import(const char *dir, gguf_file **out, celer_error *err) {
    *out = NULL;
    if (!hf_is_directory(dir)) return celer_error_set(err, CELER_ERR_IO, "%s: not a directory", dir);
    importer im = {.dir = dir, .err = err};
    snprintf(im.config_path, sizeof(im.config_path), "%s/config.json", dir);
    cJSON *config = NULL;
    celer_status st = hf_json_read(dir, "config.json", true, &config, err);
    if (st == CELER_OK) st = read_config(&im, config);
    if (st == CELER_OK && !(im.owner = calloc(1, sizeof(*im.owner)))) st = celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", dir);
    if (st == CELER_OK && !(im.w = gguf_writer_new())) st = celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", dir);
    if (st == CELER_OK) st = open_shards(&im);
    int64_t n_vocab = 0;
    if (st == CELER_OK) st = vocab_rows(&im, &n_vocab);
    if (st == CELER_OK) st = write_metadata(&im, n_vocab);
    if (st == CELER_OK) st = hf_tokenizer_import(dir, config, im.cfg.arch, n_vocab, im.w, err);
    if (st == CELER_OK) st = import_tensors(&im, n_vocab);
    if (st == CELER_OK) st = check_all_used(&im);
    if (st == CELER_OK) st = gguf_writer_finish(im.w, dir, shard_bytes(im.owner), owner_free, im.owner, out, err);
    else owner_free(im.owner);
    gguf_writer_free(im.w);
    free(im.index);
    cJSON_Delete(config);
    return st;
}

bool hf_is_directory(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

celer_status model_file_open(const char *path, gguf_file **out, celer_error *err) {
    return hf_is_directory(path) ? hf_import(path, out, err) : gguf_open(path, out, err);
}
