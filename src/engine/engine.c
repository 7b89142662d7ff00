/* engine.c: the public API (include/celer.h): model and context lifetimes, batch
 * decode through the chosen backend, and the generate loop.
 * Tests: tests/test_engine.c, tests/test_parity.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_plan.h"
#include "celer.h"
#include "core/timer.h"
#include "engine/engine_internal.h"
#include "engine/kv_cache.h"
#include "engine/sampler.h"
#include "format/hf_import.h"
#include "model/model.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

struct celer_model {
    model *m;
    tokenizer *tok;
    uint64_t file_bytes;
};

struct celer_context {
    celer_model *model;
    const backend_ops *ops;
    backend *be;
    kv_cache *kv;
    int32_t n_ctx;
    int32_t n_batch;
    float *logits; /* (n_batch, n_vocab) */
    int32_t n_outputs;
    celer_batch gen_batch; /* (n_batch) scratch for celer_generate */
};

/* ---- batch ---- */

celer_status celer_batch_init(celer_batch *b, int32_t capacity, celer_error *err) {
    memset(b, 0, sizeof(*b));
    if (capacity < 1) return celer_error_set(err, CELER_ERR_INVALID_ARG, "batch capacity %d must be positive", capacity);
    b->capacity = capacity;
    b->token = malloc((size_t)capacity * sizeof(int32_t));
    b->pos = malloc((size_t)capacity * sizeof(int32_t));
    b->seq_id = malloc((size_t)capacity * sizeof(int32_t));
    b->logits = malloc((size_t)capacity * sizeof(bool));
    if (!b->token || !b->pos || !b->seq_id || !b->logits) {
        celer_batch_free(b);
        return celer_error_set(err, CELER_ERR_NOMEM, "batch of %d tokens: out of memory", capacity);
    }
    return CELER_OK;
}

void celer_batch_free(celer_batch *b) {
    free(b->token);
    free(b->pos);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof(*b));
}

void celer_batch_clear(celer_batch *b) { b->n_tokens = 0; }

celer_status celer_batch_add(celer_batch *b, int32_t token, int32_t pos, int32_t seq_id, bool logits, celer_error *err) {
    if (b->n_tokens >= b->capacity) return celer_error_set(err, CELER_ERR_RANGE, "batch is full (%d tokens)", b->capacity);
    int32_t i = b->n_tokens++;
    b->token[i] = token;
    b->pos[i] = pos;
    b->seq_id[i] = seq_id;
    b->logits[i] = logits;
    return CELER_OK;
}

/* ---- model ---- */

celer_status celer_model_load(const char *path, celer_model **out, celer_error *err) {
    *out = NULL;
    gguf_file *f = NULL;
    celer_status st = model_file_open(path, &f, err); /* a GGUF file or a Hugging Face directory */
    if (st != CELER_OK) return st;
    celer_model *cm = calloc(1, sizeof(*cm));
    if (!cm) {
        gguf_close(f);
        return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", path);
    }
    cm->file_bytes = f->size;
    if ((st = model_load(&cm->m, f, path, err)) != CELER_OK) {
        free(cm);
        return st;
    }
    if ((st = tokenizer_init_from_gguf(&cm->tok, cm->m->file, err)) != CELER_OK) {
        celer_model_free(cm);
        return st;
    }
    if (tokenizer_n_vocab(cm->tok) != cm->m->hp.n_vocab) {
        st = celer_error_set(err, CELER_ERR_FORMAT, "%s: the tokenizer has %d tokens but token_embd.weight has %d rows", path,
                             tokenizer_n_vocab(cm->tok), cm->m->hp.n_vocab);
        celer_model_free(cm);
        return st;
    }
    *out = cm;
    return CELER_OK;
}

void celer_model_free(celer_model *m) {
    if (!m) return;
    tokenizer_free(m->tok);
    model_free(m->m);
    free(m);
}

model *celer_model_bound(const celer_model *m) { return m->m; }

int32_t celer_model_n_vocab(const celer_model *m) { return m->m->hp.n_vocab; }
int32_t celer_model_n_ctx_train(const celer_model *m) { return m->m->hp.n_ctx_train; }

void celer_model_describe(const celer_model *m, char *buf, size_t size) {
    const model_hparams *hp = &m->m->hp;
    uint64_t n_params = celer_model_n_params(m);
    snprintf(buf, size, "%s (%s, %.1fM parameters, %d layers, %d/%d heads, %.1f MiB, %.2f bits/weight)", m->m->name,
             model_arch_name(hp->arch), (double)n_params / 1e6, hp->n_layer, hp->n_head, hp->n_head_kv,
             (double)m->file_bytes / (1024.0 * 1024.0), 8.0 * (double)m->m->weight_bytes / (double)n_params);
}

static uint64_t tensor_bytes(const model_tensor *t) { return t->data ? (uint64_t)t->row_bytes * (uint64_t)t->ne[1] : 0; }

uint64_t celer_model_decode_bytes(const celer_model *m) {
    const model *mm = m->m;
    uint64_t bytes = tensor_bytes(&mm->output) + tensor_bytes(&mm->output_norm);
    if (!mm->hp.tied_output) bytes += mm->tok_embd.row_bytes; /* one embedding row */
    for (int32_t il = 0; il < mm->hp.n_layer; il++) {
        const model_layer *l = &mm->layers[il];
        const model_tensor *ts[] = {&l->attn_norm, &l->wq, &l->wk, &l->wv, &l->bq, &l->bk, &l->bv, &l->wo, &l->ffn_norm, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) bytes += tensor_bytes(ts[i]);
    }
    return bytes;
}

uint64_t celer_model_kv_bytes_per_pos(const celer_model *m) {
    const model_hparams *hp = &m->m->hp;
    return 2ull * (uint64_t)hp->n_layer * (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim * sizeof(uint16_t); /* fp16 K and V */
}

uint64_t celer_model_n_params(const celer_model *m) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < m->m->file->n_tensors; i++) {
        const gguf_tensor *t = &m->m->file->tensors[i];
        n += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    return n;
}

uint64_t celer_model_file_bytes(const celer_model *m) { return m->file_bytes; }

/* ---- tokens ---- */

celer_status celer_tokenize(const celer_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                            int32_t **ids, size_t *n_ids, celer_error *err) {
    return tokenizer_encode(m->tok, text, len, add_special, parse_special, ids, n_ids, err);
}

celer_status celer_token_piece(const celer_model *m, int32_t token, const char **bytes, size_t *len, celer_error *err) {
    return tokenizer_piece(m->tok, token, false, bytes, len, err);
}

bool celer_token_is_eog(const celer_model *m, int32_t token) { return tokenizer_is_eog(m->tok, token); }
int32_t celer_token_bos(const celer_model *m) { return tokenizer_bos(m->tok); }
bool celer_model_adds_bos(const celer_model *m) { return tokenizer_add_bos(m->tok); }
size_t celer_token_max_piece_len(const celer_model *m) { return tokenizer_max_piece_len(m->tok); }

void celer_text_stream_init(celer_text_stream *s) { memset(s, 0, sizeof(*s)); }

size_t celer_text_stream_push(celer_text_stream *s, const celer_model *m, int32_t token, char *out, size_t out_cap) {
    detokenizer d;
    detokenizer_init(&d);
    _Static_assert(sizeof(d.pending) == sizeof(s->pending), "celer_text_stream mirrors detokenizer");
    memcpy(d.pending, s->pending, sizeof(d.pending));
    d.n_pending = s->n_pending;
    size_t n = detokenizer_push(&d, m->tok, token, out, out_cap);
    memcpy(s->pending, d.pending, sizeof(s->pending));
    s->n_pending = d.n_pending;
    return n;
}

size_t celer_text_stream_flush(celer_text_stream *s, char *out, size_t out_cap) {
    CHECK(s->n_pending <= out_cap);
    size_t n = s->n_pending;
    memcpy(out, s->pending, n);
    s->n_pending = 0;
    return n;
}

celer_status celer_chat_render(const celer_model *m, const char *template_name, const celer_chat_message *msgs, size_t n,
                               bool add_assistant, char **out, celer_error *err) {
    return chat_render_for_model(m->m->file, template_name, msgs, n, add_assistant, out, err);
}

/* ---- context ---- */

void celer_context_params_default(celer_context_params *p) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *p = (celer_context_params){.n_ctx = 0, .n_batch = 512, .n_seq_max = 1, .n_threads = cores > 0 ? (int32_t)cores : 1};
}

/* --gpu: the backend, and the context sized against the device's free memory: a given
 * n_ctx must fit (else the numbers and what would fit); the default shrinks to what fits. */
static celer_status gpu_choose(const model *m, const celer_context_params *p, int32_t *n_ctx, const backend_ops **ops, celer_error *err) {
#ifdef CELER_HAVE_CUDA
    uint64_t free_bytes = 0;
    char name[256];
    celer_status st = cuda_device_memory(&free_bytes, name, sizeof(name), err);
    if (st != CELER_OK) return st;
    gpu_plan plan;
    gpu_plan_compute(m, *n_ctx, p->n_batch, &plan);
    if (p->n_ctx == 0 && plan.total > free_bytes) {
        int32_t fits = gpu_plan_max_ctx(m, p->n_batch, free_bytes, *n_ctx);
        if (fits > 0) gpu_plan_compute(m, *n_ctx = fits, p->n_batch, &plan);
    }
    if ((st = gpu_plan_check(&plan, m, free_bytes, name, err)) != CELER_OK) return st;
    *ops = &backend_cuda;
    return CELER_OK;
#else
    (void)m, (void)p, (void)n_ctx, (void)ops;
    return celer_error_set(err, CELER_ERR_UNSUPPORTED, "--gpu: this celer was built without CUDA: cmake -DCELER_CUDA=ON");
#endif
}

celer_status celer_context_new(celer_model *m, const celer_context_params *p, celer_context **out, celer_error *err) {
    *out = NULL;
    int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : (m->m->hp.n_ctx_train < 4096 ? m->m->hp.n_ctx_train : 4096);
    if (p->n_ctx < 0 || n_ctx > (1 << 24))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "context size %d out of range [1, %d]", p->n_ctx, 1 << 24);
    if (p->n_batch < 1 || p->n_batch > 65536)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "batch size %d out of range [1, 65536]", p->n_batch);
    if (p->n_threads < 1 || p->n_threads > 1024)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "thread count %d out of range [1, 1024]", p->n_threads);
    const backend_ops *ops = &backend_cpu;
    if (p->gpu) {
        celer_status st = gpu_choose(m->m, p, &n_ctx, &ops, err);
        if (st != CELER_OK) return st;
    }
    celer_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return celer_error_set(err, CELER_ERR_NOMEM, "context: out of memory");
    ctx->model = m;
    ctx->ops = ops;
    ctx->n_ctx = n_ctx;
    ctx->n_batch = p->n_batch;
    const model_hparams *hp = &m->m->hp;
    backend_config cfg = {.n_threads = p->n_threads, .n_batch = p->n_batch, .n_ctx = n_ctx};
    celer_status st = p->gpu ? kv_cache_init_external(&ctx->kv, hp->n_layer, hp->n_head_kv * hp->head_dim, n_ctx, p->n_seq_max, err)
                             : kv_cache_init(&ctx->kv, hp->n_layer, hp->n_head_kv * hp->head_dim, n_ctx, p->n_seq_max, err);
    if (st == CELER_OK) st = ctx->ops->init(&ctx->be, m->m, &cfg, err);
    if (st == CELER_OK) st = celer_batch_init(&ctx->gen_batch, p->n_batch, err);
    if (st == CELER_OK) {
        ctx->logits = malloc((size_t)p->n_batch * (size_t)hp->n_vocab * sizeof(float));
        if (!ctx->logits) st = celer_error_set(err, CELER_ERR_NOMEM, "context: out of memory for logits of %d tokens", p->n_batch);
    }
    if (st != CELER_OK) {
        celer_context_free(ctx);
        return st;
    }
    *out = ctx;
    return CELER_OK;
}

void celer_context_free(celer_context *ctx) {
    if (!ctx) return;
    if (ctx->be) ctx->ops->free(ctx->be);
    kv_cache_free(ctx->kv);
    celer_batch_free(&ctx->gen_batch);
    free(ctx->logits);
    free(ctx);
}

int32_t celer_context_n_ctx(const celer_context *ctx) { return ctx->n_ctx; }
int32_t celer_context_n_batch(const celer_context *ctx) { return ctx->n_batch; }
const celer_model *celer_context_model(const celer_context *ctx) { return ctx->model; }
uint64_t celer_context_kv_bytes(const celer_context *ctx) { return kv_cache_bytes(ctx->kv); }
const char *celer_context_backend(const celer_context *ctx) { return ctx->ops->name; }

void celer_profile_enable(celer_context *ctx, bool on) { ctx->ops->profile(ctx->be, on); }

int32_t celer_profile_get(const celer_context *ctx, celer_op_stat *out, int32_t max) { return ctx->ops->profile_get(ctx->be, out, max); }

celer_status celer_decode(celer_context *ctx, const celer_batch *batch, celer_error *err) {
    ctx->n_outputs = 0;
    if (batch->n_tokens < 1 || batch->n_tokens > ctx->n_batch)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "batch of %d tokens: must be 1..%d (the context's batch size)",
                               batch->n_tokens, ctx->n_batch);
    int32_t n_vocab = ctx->model->m->hp.n_vocab, n_out = 0;
    for (int32_t i = 0; i < batch->n_tokens; i++) {
        if (batch->token[i] < 0 || batch->token[i] >= n_vocab)
            return celer_error_set(err, CELER_ERR_RANGE, "batch token %d: id %d out of range [0, %d)", i, batch->token[i], n_vocab);
        n_out += batch->logits[i] ? 1 : 0;
    }
    celer_status st = kv_cache_reserve(ctx->kv, batch, err);
    if (st != CELER_OK) return st;
    st = ctx->ops->forward(ctx->be, ctx->kv, batch, ctx->logits, err);
    if (st != CELER_OK) { /* forget what the batch appended */
        for (int32_t i = 0; i < batch->n_tokens; i++) kv_cache_seq_truncate(ctx->kv, batch->seq_id[i], batch->pos[i]);
        return st;
    }
    ctx->n_outputs = n_out;
    return CELER_OK;
}

int32_t celer_n_outputs(const celer_context *ctx) { return ctx->n_outputs; }

const float *celer_get_logits(const celer_context *ctx, int32_t i) {
    if (i < 0 || i >= ctx->n_outputs) return NULL;
    return ctx->logits + (size_t)i * (size_t)ctx->model->m->hp.n_vocab;
}

int32_t celer_seq_len(const celer_context *ctx, int32_t seq) { return kv_cache_seq_len(ctx->kv, seq); }
void celer_seq_truncate(celer_context *ctx, int32_t seq, int32_t n) { kv_cache_seq_truncate(ctx->kv, seq, n); }
int32_t celer_context_n_seq_max(const celer_context *ctx) { return kv_cache_n_seq_max(ctx->kv); }

void celer_kv_get_stats(const celer_context *ctx, celer_kv_stats *out) {
    *out = (celer_kv_stats){.block_size = KV_BLOCK_SIZE, .n_blocks = kv_cache_total_blocks(ctx->kv),
                            .n_free = kv_cache_free_blocks(ctx->kv)};
}

int32_t celer_seq_blocks(const celer_context *ctx, int32_t seq) {
    return (kv_cache_seq_len(ctx->kv, seq) + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
}

/* ---- generation ---- */

void celer_sampling_default(celer_sampling *s) {
    sampler_params p;
    sampler_params_default(&p);
    *s = (celer_sampling){.temperature = p.temperature, .top_k = p.top_k, .top_p = p.top_p, .min_p = p.min_p,
                          .repeat_penalty = p.repeat_penalty, .repeat_last_n = p.repeat_last_n,
                          .presence_penalty = p.presence_penalty, .frequency_penalty = p.frequency_penalty, .seed = p.seed};
}

static void sampler_params_from(sampler_params *p, const celer_sampling *s) {
    sampler_params_default(p);
    p->temperature = s->temperature;
    p->top_k = s->top_k;
    p->top_p = s->top_p;
    p->min_p = s->min_p;
    p->repeat_penalty = s->repeat_penalty;
    p->repeat_last_n = s->repeat_last_n;
    p->presence_penalty = s->presence_penalty;
    p->frequency_penalty = s->frequency_penalty;
    p->seed = s->seed;
}

/* Evaluates tokens (appending to seq) in chunks of n_batch; the last token's logits are
 * left in output 0. */
static celer_status eval_tokens(celer_context *ctx, int32_t seq, const int32_t *tokens, size_t n, celer_error *err) {
    celer_batch *b = &ctx->gen_batch;
    for (size_t i = 0; i < n;) {
        celer_batch_clear(b);
        int32_t pos = celer_seq_len(ctx, seq);
        for (; i < n && b->n_tokens < b->capacity; i++) celer_batch_add(b, tokens[i], pos++, seq, i == n - 1, NULL);
        celer_status st = celer_decode(ctx, b, err);
        if (st != CELER_OK) return st;
    }
    return CELER_OK;
}

celer_status celer_generate(celer_context *ctx, int32_t seq, const int32_t *prompt, size_t n_prompt,
                            const celer_generate_params *p, celer_token_fn on_token, void *user,
                            celer_generate_stats *stats, celer_error *err) {
    celer_generate_stats local = {0};
    if (!stats) stats = &local;
    memset(stats, 0, sizeof(*stats));
    if (n_prompt == 0) return celer_error_set(err, CELER_ERR_INVALID_ARG, "the prompt is empty: nothing to continue");
    if (seq < 0 || seq >= kv_cache_n_seq_max(ctx->kv))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "sequence id %d out of range [0, %d)", seq, kv_cache_n_seq_max(ctx->kv));
    int64_t used = celer_seq_len(ctx, seq);
    if (used + (int64_t)n_prompt > ctx->n_ctx)
        return celer_error_set(err, CELER_ERR_RANGE, "the prompt has %zu tokens but only %lld of the context's %d positions are free (raise -c)",
                               n_prompt, (long long)(ctx->n_ctx - used), ctx->n_ctx);
    sampler_params sp;
    sampler_params_from(&sp, &p->sampling);
    celer_status st = sampler_params_validate(&sp, err);
    if (st != CELER_OK) return st;
    sampler *smp = NULL;
    if ((st = sampler_init(&smp, &sp, ctx->model->m->hp.n_vocab, err)) != CELER_OK) return st;
    for (size_t i = 0; i < n_prompt; i++) sampler_accept(smp, prompt[i]);

    const tokenizer *tok = ctx->model->tok;
    detokenizer detok;
    detokenizer_init(&detok);
    size_t text_cap = tokenizer_max_piece_len(tok) + 16;
    char *text = malloc(text_cap);
    if (!text) {
        sampler_free(smp);
        return celer_error_set(err, CELER_ERR_NOMEM, "generate: out of memory");
    }
    double t0 = celer_time_s(), t_first = t0;
    stats->n_prompt = (int32_t)n_prompt;
    st = eval_tokens(ctx, seq, prompt, n_prompt, err);
    for (int32_t n = 0; st == CELER_OK && (p->n_predict < 0 || n < p->n_predict); n++) {
        int32_t token = sampler_sample(smp, celer_get_logits(ctx, 0));
        sampler_accept(smp, token);
        if (n == 0) t_first = celer_time_s();
        stats->n_generated++;
        bool eog = tokenizer_is_eog(tok, token);
        if (eog && !p->ignore_eog) {
            stats->hit_eog = true;
            break;
        }
        size_t len = detokenizer_push(&detok, tok, token, text, text_cap);
        if (on_token && !on_token(user, token, text, len)) break;
        if (p->n_predict >= 0 && n + 1 >= p->n_predict) break;
        if (celer_seq_len(ctx, seq) >= ctx->n_ctx) break; /* context full: stop cleanly */
        st = eval_tokens(ctx, seq, &token, 1, err);
    }
    size_t len = detokenizer_flush(&detok, text, text_cap);
    if (len > 0 && on_token) on_token(user, -1, text, len);
    free(text);
    double t1 = celer_time_s();
    stats->prompt_s = t_first - t0;
    stats->generate_s = t1 - t_first;
    sampler_free(smp);
    return st;
}
