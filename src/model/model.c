/* model.c: hyper-parameters from GGUF metadata and tensor binding with shape checks.
 * Tested in tests/test_model.c. */
#include "model/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

typedef struct {
    const gguf_file *file;
    const char *arch;
    const char *path;
    celer_error *err;
} meta_reader;

/* Reads "<arch>.<suffix>" as a positive int32; missing keys take *out's default
 * (or fail if required). */
static celer_status meta_int(meta_reader *r, const char *suffix, int32_t *out, bool required) {
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", r->arch, suffix);
    uint32_t v = 0;
    celer_status st = gguf_get_u32(r->file, key, &v, r->err);
    if (st == CELER_ERR_RANGE) {
        if (!required) return CELER_OK;
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: required metadata key '%s' is missing", r->path, key);
    }
    if (st != CELER_OK) return st;
    if (v == 0 || v > (1u << 30))
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: metadata '%s' = %u is out of range [1, 2^30]", r->path, key, v);
    *out = (int32_t)v;
    return CELER_OK;
}

static celer_status meta_float(meta_reader *r, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", r->arch, suffix);
    float v = 0;
    celer_status st = gguf_get_f32(r->file, key, &v, r->err);
    if (st == CELER_ERR_RANGE) return CELER_OK;
    if (st != CELER_OK) return st;
    if (!isfinite(v) || v <= 0)
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: metadata '%s' = %g must be a positive number", r->path, key, (double)v);
    *out = v;
    return CELER_OK;
}

static celer_status read_rope_scaling(meta_reader *r, model_hparams *hp) {
    char key[128];
    snprintf(key, sizeof(key), "%s.rope.scaling.type", r->arch);
    const gguf_string *type = NULL;
    celer_status st = gguf_get_str(r->file, key, &type, r->err);
    if (st == CELER_ERR_RANGE) return CELER_OK;
    if (st != CELER_OK) return st;
    if (strcmp(type->data, "none") == 0) return CELER_OK;
    if (strcmp(type->data, "linear") != 0)
        return celer_error_set(r->err, CELER_ERR_UNSUPPORTED, "%s: rope scaling '%s' is not supported (supported: none, linear, and Llama 3 frequency factors)", r->path, type->data);
    float factor = 1.0f;
    if ((st = meta_float(r, "rope.scaling.factor", &factor)) != CELER_OK) return st;
    hp->rope_freq_scale = 1.0f / factor;
    return CELER_OK;
}

static celer_status read_hparams(meta_reader *r, model_hparams *hp) {
    celer_status st;
    if ((st = meta_int(r, "block_count", &hp->n_layer, true)) != CELER_OK) return st;
    if ((st = meta_int(r, "embedding_length", &hp->n_embd, true)) != CELER_OK) return st;
    if ((st = meta_int(r, "feed_forward_length", &hp->n_ff, true)) != CELER_OK) return st;
    if ((st = meta_int(r, "attention.head_count", &hp->n_head, true)) != CELER_OK) return st;
    hp->n_ctx_train = 4096;
    if ((st = meta_int(r, "context_length", &hp->n_ctx_train, false)) != CELER_OK) return st;
    hp->n_head_kv = hp->n_head;
    if ((st = meta_int(r, "attention.head_count_kv", &hp->n_head_kv, false)) != CELER_OK) return st;
    if (hp->n_embd % hp->n_head != 0 || hp->n_head % hp->n_head_kv != 0)
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: embedding_length %d, head_count %d and head_count_kv %d do not divide evenly", r->path, hp->n_embd, hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((st = meta_int(r, "attention.key_length", &hp->head_dim, false)) != CELER_OK) return st;
    int32_t v_dim = hp->head_dim;
    if ((st = meta_int(r, "attention.value_length", &v_dim, false)) != CELER_OK) return st;
    if (v_dim != hp->head_dim)
        return celer_error_set(r->err, CELER_ERR_UNSUPPORTED, "%s: key_length %d != value_length %d is not supported", r->path, hp->head_dim, v_dim);
    if (hp->head_dim < 1 || hp->head_dim > MODEL_MAX_HEAD_DIM || hp->n_head / hp->n_head_kv > MODEL_MAX_GQA_GROUP)
        return celer_error_set(r->err, CELER_ERR_UNSUPPORTED, "%s: head dim %d (at most %d) or %d query heads per KV head (at most %d) not supported",
                               r->path, hp->head_dim, MODEL_MAX_HEAD_DIM, hp->n_head / hp->n_head_kv, MODEL_MAX_GQA_GROUP);
    hp->n_rot = hp->head_dim;
    if ((st = meta_int(r, "rope.dimension_count", &hp->n_rot, false)) != CELER_OK) return st;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: rope.dimension_count %d must be even and <= head dim %d", r->path, hp->n_rot, hp->head_dim);
    hp->rope_freq_base = 10000.0f;
    if ((st = meta_float(r, "rope.freq_base", &hp->rope_freq_base)) != CELER_OK) return st;
    hp->rope_freq_scale = 1.0f;
    if ((st = read_rope_scaling(r, hp)) != CELER_OK) return st;
    hp->norm_eps = 1e-5f;
    if ((st = meta_float(r, "attention.layer_norm_rms_epsilon", &hp->norm_eps)) != CELER_OK) return st;
    return CELER_OK;
}

/* Binds name to dst, checking type and shape ne0 x ne1 (ne1 = 1 for vectors).
 * An optional tensor that is absent leaves dst->data NULL. */
static celer_status bind(const gguf_file *f, const char *path, const char *name, int64_t ne0, int64_t ne1,
                         bool vector_f32, bool optional, model_tensor *dst, celer_error *err) {
    memset(dst, 0, sizeof(*dst));
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        if (optional) return CELER_OK;
        return celer_error_set(err, CELER_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
    }
    int64_t want_dims = ne1 == 1 ? 1 : 2;
    bool shape_ok = t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1 && t->n_dims <= 2;
    if (!shape_ok)
        return celer_error_set(err, CELER_ERR_FORMAT,
                               "%s: tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], expected [%" PRId64 ", %" PRId64 "] (%" PRId64 "-d)",
                               path, name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0, ne1, want_dims);
    const quant_traits *tr = quant_get_traits(t->type);
    if (vector_f32 && t->type != QUANT_F32)
        return celer_error_set(err, CELER_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, expected f32", path, name, quant_type_name(t->type));
    if (!tr || !tr->dequantize_row || !tr->vec_dot)
        return celer_error_set(err, CELER_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s (id %u), which celer does not support for weights",
                               path, name, quant_type_name(t->type), t->type);
    dst->name = t->name.data;
    dst->type = t->type;
    dst->ne[0] = ne0;
    dst->ne[1] = ne1;
    dst->row_bytes = quant_row_size(t->type, ne0);
    dst->data = t->data;
    return CELER_OK;
}

static celer_status bind_layer(const gguf_file *f, const char *path, const model_hparams *hp, int il, model_layer *l,
                               celer_error *err) {
    int64_t e = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim, kv = (int64_t)hp->n_head_kv * hp->head_dim;
    struct {
        const char *suffix;
        int64_t ne0, ne1;
        bool vec, optional;
        model_tensor *dst;
    } specs[] = {
        {"attn_norm.weight", e, 1, true, false, &l->attn_norm},
        {"attn_q.weight", e, q, false, false, &l->wq},
        {"attn_k.weight", e, kv, false, false, &l->wk},
        {"attn_v.weight", e, kv, false, false, &l->wv},
        {"attn_q.bias", q, 1, true, !hp->qkv_bias, &l->bq},
        {"attn_k.bias", kv, 1, true, !hp->qkv_bias, &l->bk},
        {"attn_v.bias", kv, 1, true, !hp->qkv_bias, &l->bv},
        {"attn_output.weight", q, e, false, false, &l->wo},
        {"ffn_norm.weight", e, 1, true, false, &l->ffn_norm},
        {"ffn_gate.weight", e, hp->n_ff, false, false, &l->w_gate},
        {"ffn_up.weight", e, hp->n_ff, false, false, &l->w_up},
        {"ffn_down.weight", hp->n_ff, e, false, false, &l->w_down},
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        char name[96];
        snprintf(name, sizeof(name), "blk.%d.%s", il, specs[i].suffix);
        celer_status st = bind(f, path, name, specs[i].ne0, specs[i].ne1, specs[i].vec, specs[i].optional, specs[i].dst, err);
        if (st != CELER_OK) return st;
    }
    return CELER_OK;
}

static celer_status bind_tensors(model *m, const char *path, celer_error *err) {
    const gguf_file *f = m->file;
    model_hparams *hp = &m->hp;
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return celer_error_set(err, CELER_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", path);
    if (emb->ne[1] < 1 || emb->ne[1] > INT32_MAX)
        return celer_error_set(err, CELER_ERR_FORMAT, "%s: token_embd.weight has %" PRId64 " rows", path, emb->ne[1]);
    hp->n_vocab = (int32_t)emb->ne[1];
    celer_status st;
    if ((st = bind(f, path, "token_embd.weight", hp->n_embd, hp->n_vocab, false, false, &m->tok_embd, err)) != CELER_OK) return st;
    if ((st = bind(f, path, "output_norm.weight", hp->n_embd, 1, true, false, &m->output_norm, err)) != CELER_OK) return st;
    if ((st = bind(f, path, "output.weight", hp->n_embd, hp->n_vocab, false, true, &m->output, err)) != CELER_OK) return st;
    hp->tied_output = m->output.data == NULL;
    if (hp->tied_output) m->output = m->tok_embd;
    model_tensor freqs;
    if ((st = bind(f, path, "rope_freqs.weight", hp->n_rot / 2, 1, true, true, &freqs, err)) != CELER_OK) return st;
    m->rope_freq_factors = freqs.data;
    m->layers = calloc((size_t)hp->n_layer, sizeof(model_layer));
    if (!m->layers) return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory for %d layers", path, hp->n_layer);
    for (int il = 0; il < hp->n_layer; il++)
        if ((st = bind_layer(f, path, hp, il, &m->layers[il], err)) != CELER_OK) return st;
    for (uint64_t i = 0; i < f->n_tensors; i++) m->weight_bytes += f->tensors[i].size;
    return CELER_OK;
}

static celer_status read_arch(model *m, const char *path, const char **arch, celer_error *err) {
    const gguf_string *s = NULL;
    celer_status st = gguf_get_str(m->file, "general.architecture", &s, err);
    if (st == CELER_ERR_RANGE) return celer_error_set(err, CELER_ERR_FORMAT, "%s: metadata 'general.architecture' is missing", path);
    if (st != CELER_OK) return st;
    *arch = s->data;
    if (strcmp(s->data, "llama") == 0) {
        m->hp.arch = MODEL_ARCH_LLAMA;
        m->hp.rope_pairs = ROPE_PAIRS_ADJACENT;
        /* Llamas trained with attention_bias carry Q/K/V biases; llama.cpp adds them when present */
        m->hp.qkv_bias = gguf_find_tensor(m->file, "blk.0.attn_q.bias") != NULL;
    } else if (strcmp(s->data, "qwen2") == 0) {
        m->hp.arch = MODEL_ARCH_QWEN2;
        m->hp.rope_pairs = ROPE_PAIRS_HALVES;
        m->hp.qkv_bias = true;
    } else {
        return celer_error_set(err, CELER_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: llama, qwen2)", path, s->data);
    }
    return CELER_OK;
}

celer_status model_load(model **out, gguf_file *file, const char *path, celer_error *err) {
    *out = NULL;
    model *m = calloc(1, sizeof(*m));
    if (!m) {
        gguf_close(file);
        return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", path);
    }
    m->file = file;
    const char *arch = NULL;
    celer_status st = read_arch(m, path, &arch, err);
    meta_reader r = {.file = file, .arch = arch, .path = path, .err = err};
    if (st == CELER_OK) st = read_hparams(&r, &m->hp);
    if (st == CELER_OK) st = bind_tensors(m, path, err);
    if (st == CELER_OK) {
        const gguf_string *name = NULL;
        const char *base = strrchr(path, '/');
        m->name = strdup(gguf_get_str(file, "general.name", &name, NULL) == CELER_OK ? name->data : (base ? base + 1 : path));
        if (!m->name) st = celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st != CELER_OK) {
        model_free(m);
        return st;
    }
    *out = m;
    return CELER_OK;
}

void model_free(model *m) {
    if (!m) return;
    gguf_close(m->file);
    free(m->layers);
    free(m->name);
    free(m);
}

const char *model_arch_name(model_arch arch) {
    return arch == MODEL_ARCH_QWEN2 ? "qwen2" : "llama";
}
