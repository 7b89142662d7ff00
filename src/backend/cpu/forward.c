/* forward.c: the CPU backend: a Llama-family forward pass over a batch, op by op.
 *
 * For a batch of n tokens (any mix of sequences):
 *   x = embed(tokens)
 *   per layer: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)) → cache, Wv·norm(x) → cache)
 *              x += Wdown · (silu(Wgate·norm(x)) * Wup·norm(x))
 *   logits = Wout · norm(x)   (only for tokens that want them)
 * All scratch is allocated in init for n_batch tokens; forward allocates nothing.
 * Tests: tests/test_forward.c, tests/test_parity.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/cpu/ops.h"
#include "core/half.h"
#include "core/hugemem.h"
#include "core/timer.h"
#include "quant/kernels.h"
#include "quant/quant.h"

/* The stages of a forward, for per-op profiles (celer bench --profile). */
typedef enum {
    OP_EMBED,
    OP_ATTN_NORM,
    OP_QKV,       /* Q, K and V products, one pass */
    OP_ROPE_KV,   /* rotary on Q and K, K and V into the cache */
    OP_ATTENTION,
    OP_ATTN_OUT,  /* output projection and residual */
    OP_FFN_NORM,
    OP_FFN_GATE_UP, /* gate and up products with SiLU and the product, one pass */
    OP_FFN_DOWN,  /* down product and residual */
    OP_OUTPUT,    /* final norm and the output head */
    OP_COUNT
} op_id;

static const char *const op_names[OP_COUNT] = {
    [OP_EMBED] = "embed",         [OP_ATTN_NORM] = "attn_norm", [OP_QKV] = "matmul_qkv",      [OP_ROPE_KV] = "rope_kv_store",
    [OP_ATTENTION] = "attention", [OP_ATTN_OUT] = "matmul_attn_out", [OP_FFN_NORM] = "ffn_norm", [OP_FFN_GATE_UP] = "matmul_ffn_gate_up_silu",
    [OP_FFN_DOWN] = "matmul_ffn_down", [OP_OUTPUT] = "output_norm_head",
};

/* The products of a layer in the one-job decode step: QKV, output projection, gate+up,
 * down; their outputs: Q, K, V, Wo, gate, up, down. */
enum { STEP_QKV, STEP_WO, STEP_GATE_UP, STEP_DOWN, STEP_PRODUCTS };
enum { STEP_OUTS = 7 };

struct backend {
    const model *m;
    /* The model's matrices as the kernels read them: the file's, or repacked copies
     * (packed[], owned) where the kernels have a faster layout. */
    model_layer *layers; /* (n_layer) */
    model_tensor output;
    void **packed;
    int n_packed;
    threadpool *pool;
    int32_t n_batch;
    int32_t n_ctx;
    float *x;      /* (n_batch, n_embd) residual stream */
    float *xn;     /* (n_batch, n_embd) normed */
    float *q;      /* (n_batch, n_head * head_dim) */
    float *k;      /* (n_batch, n_head_kv * head_dim) */
    float *v;      /* (n_batch, n_head_kv * head_dim) */
    float *att;    /* (n_batch, n_head * head_dim) */
    float *proj;   /* (n_batch, n_embd) */
    float *gate;   /* (n_batch, n_ff) */
    float *up;     /* (n_batch, n_ff) */
    float *scores; /* cpu_attention_scores_floats: per thread (CPU_ATTENTION_TILE x n_head / n_head_kv, n_ctx) */
    float *out_x;  /* (n_batch, n_embd) normed rows of the tokens that want logits */
    void *scratch; /* quantized activations, the largest any (fused) matmul needs */
    backend_observe_fn observe; /* calibration hook, NULL when off */
    void *observe_user;
    bool profile;
    bool unfused; /* CELER_FUSE=0: Q, K, V and gate, up as separate products (to measure the fusions) */
    bool op_jobs; /* CELER_DECODE_JOB=0: decode op by op, a thread-pool job per op (to measure the one-job step) */
    /* The one-job decode step (decode_step): the products of every layer, their plans,
     * and per-thread buffers for the normed and quantized activations. */
    cpu_matmul_out *step_outs; /* (n_layer, STEP_OUTS) */
    cpu_matmul_job *step_jobs; /* (n_layer * STEP_PRODUCTS + 1) */
    float *thread_xn;          /* (n_threads, CPU_MATMUL_STREAM_MAX_TOKENS, n_embd) */
    char *thread_act;          /* (n_threads, thread_act_bytes) */
    size_t thread_act_bytes;
    uint64_t op_calls[OP_COUNT];
    double op_seconds[OP_COUNT];
};

static void cpu_free(backend *b) {
    if (!b) return;
    threadpool_free(b->pool);
    for (int i = 0; i < b->n_packed; i++) free(b->packed[i]);
    free(b->packed);
    free(b->layers);
    float *bufs[] = {b->x, b->xn, b->q, b->k, b->v, b->att, b->proj, b->gate, b->up, b->scores, b->out_x};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) free(bufs[i]);
    free(b->scratch);
    free(b->step_outs);
    free(b->step_jobs);
    free(b->thread_xn);
    free(b->thread_act);
    free(b);
}

/* Quantized-activation scratch: the most any product or fused group needs. */
static size_t max_scratch(const model *m, int64_t n) {
    const model_hparams *hp = &m->hp;
    size_t best = cpu_matmul_scratch_bytes(m->output.type, hp->n_embd, n);
    for (int il = 0; il < hp->n_layer; il++) {
        const model_layer *l = &m->layers[il];
        size_t qkv = cpu_matmul_scratch_bytes(l->wq.type, hp->n_embd, n) + cpu_matmul_scratch_bytes(l->wk.type, hp->n_embd, n) +
                     cpu_matmul_scratch_bytes(l->wv.type, hp->n_embd, n);
        size_t gate_up = cpu_matmul_scratch_bytes(l->w_gate.type, hp->n_embd, n) + cpu_matmul_scratch_bytes(l->w_up.type, hp->n_embd, n);
        size_t wo = cpu_matmul_scratch_bytes(l->wo.type, l->wo.ne[0], n), down = cpu_matmul_scratch_bytes(l->w_down.type, l->w_down.ne[0], n);
        size_t sizes[] = {qkv, gate_up, wo, down};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
            if (sizes[i] > best) best = sizes[i];
    }
    return best;
}

/* Drops the file pages of [p, p + n) from this process's memory (the mapping reloads them
 * if they are read again): after repacking, the file's copy is not read by the matrix
 * products, so it need not stay resident beside the packed one. */
static void release_mapped(const model *m, const void *p, size_t n) {
    if (!m->file || !m->file->mapping) return; /* not an mmap of ours */
    const uint8_t *base = m->file->base;
    if ((const uint8_t *)p < base || (const uint8_t *)p + n > base + m->file->size) return; /* a copy, not the file's */
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    uintptr_t lo = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Bytes of t's repacked copy (0: its kernels have no packed layout), rounded up to 64. */
static size_t packed_size(const model_tensor *t) {
    const quant_kernels *kern = quant_kernels_get(t->type);
    if (!kern || kern->pack_rows <= 0) return 0;
    return (quant_kernels_packed_bytes(kern, t->ne[1], t->row_bytes) + 63) / 64 * 64;
}

/* Replaces t by a repacked copy at dst (packed_size(t) bytes) and drops the file's pages
 * of it. */
static void pack_tensor(backend *b, model_tensor *t, char *dst) {
    const quant_kernels *kern = quant_kernels_get(t->type);
    kern->pack(t->data, t->row_bytes, t->ne[1], t->ne[0], dst);
    release_mapped(b->m, t->data, t->row_bytes * (size_t)t->ne[1]);
    t->data = dst;
    t->pack_rows = kern->pack_rows;
}

/* The model's matrices as the kernels read them: the repacked copies in one buffer of
 * huge pages (core/hugemem.h), in the order a forward reads them. CELER_REPACK=0 in the
 * environment keeps the file layout (for comparisons). */
static celer_status pack_weights(backend *b, celer_error *err) {
    const model *m = b->m;
    int32_t n_layer = m->hp.n_layer;
    b->layers = malloc((size_t)n_layer * sizeof(*b->layers));
    b->packed = calloc(1, sizeof(void *));
    if (!b->layers || !b->packed) return celer_error_set(err, CELER_ERR_NOMEM, "cpu backend: out of memory");
    memcpy(b->layers, m->layers, (size_t)n_layer * sizeof(*b->layers));
    b->output = m->output;
    const char *env = getenv("CELER_REPACK");
    if (env && strcmp(env, "0") == 0) return CELER_OK;
    size_t total = packed_size(&b->output);
    for (int32_t il = 0; il < n_layer; il++) {
        model_layer *l = &b->layers[il];
        model_tensor *mats[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < sizeof(mats) / sizeof(mats[0]); i++) total += packed_size(mats[i]);
    }
    if (total == 0) return CELER_OK;
    char *arena = celer_alloc_huge(total);
    if (!arena) return celer_error_set(err, CELER_ERR_NOMEM, "cpu backend: out of memory repacking the weights (%zu bytes)", total);
    b->packed[b->n_packed++] = arena;
    for (int32_t il = 0; il < n_layer; il++) {
        model_layer *l = &b->layers[il];
        model_tensor *mats[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < sizeof(mats) / sizeof(mats[0]); i++) {
            size_t n = packed_size(mats[i]);
            if (n == 0) continue;
            pack_tensor(b, mats[i], arena);
            arena += n;
        }
    }
    /* A tied head is also the embedding table: embed() reads its few rows per batch from
     * the file, which brings back just those pages. */
    if (packed_size(&b->output) > 0) pack_tensor(b, &b->output, arena);
    return CELER_OK;
}

/* The one-job decode step's fixed parts: each layer's products and outputs (the
 * weights as the kernels read them, the backend's buffers), per-thread buffers. */
static celer_status step_init(backend *b, int n_threads, celer_error *err) {
    const model_hparams *hp = &b->m->hp;
    const int64_t n = b->n_batch < CPU_MATMUL_STREAM_MAX_TOKENS ? b->n_batch : CPU_MATMUL_STREAM_MAX_TOKENS;
    b->step_outs = malloc((size_t)hp->n_layer * STEP_OUTS * sizeof(*b->step_outs));
    b->step_jobs = malloc(((size_t)hp->n_layer * STEP_PRODUCTS + 1) * sizeof(*b->step_jobs));
    b->thread_xn = malloc((size_t)n_threads * CPU_MATMUL_STREAM_MAX_TOKENS * (size_t)hp->n_embd * sizeof(float));
    b->thread_act_bytes = (max_scratch(b->m, n) + 63) / 64 * 64;
    b->thread_act = aligned_alloc(64, (size_t)n_threads * b->thread_act_bytes);
    if (!b->step_outs || !b->step_jobs || !b->thread_xn || !b->thread_act)
        return celer_error_set(err, CELER_ERR_NOMEM, "cpu backend: out of memory for the decode step");
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const model_layer *l = &b->layers[il];
        cpu_matmul_out *o = b->step_outs + (size_t)il * STEP_OUTS;
        o[0] = (cpu_matmul_out){&l->wq, b->q};
        o[1] = (cpu_matmul_out){&l->wk, b->k};
        o[2] = (cpu_matmul_out){&l->wv, b->v};
        o[3] = (cpu_matmul_out){&l->wo, b->proj};
        o[4] = (cpu_matmul_out){&l->w_gate, b->gate};
        o[5] = (cpu_matmul_out){&l->w_up, b->up};
        o[6] = (cpu_matmul_out){&l->w_down, b->proj};
    }
    return CELER_OK;
}

static celer_status cpu_init(backend **out, const model *m, const backend_config *cfg, celer_error *err) {
    *out = NULL;
    backend *b = calloc(1, sizeof(*b));
    if (!b) return celer_error_set(err, CELER_ERR_NOMEM, "cpu backend: out of memory");
    celer_status st = threadpool_init(&b->pool, cfg->n_threads, err);
    if (st != CELER_OK) {
        free(b);
        return st;
    }
    const model_hparams *hp = &m->hp;
    size_t n = (size_t)cfg->n_batch, q_dim = (size_t)hp->n_head * hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    b->m = m;
    b->n_batch = cfg->n_batch;
    b->n_ctx = cfg->n_ctx;
    b->x = malloc(n * hp->n_embd * sizeof(float));
    b->xn = malloc(n * hp->n_embd * sizeof(float));
    b->q = malloc(n * q_dim * sizeof(float));
    b->k = malloc(n * kv_dim * sizeof(float));
    b->v = malloc(n * kv_dim * sizeof(float));
    b->att = malloc(n * q_dim * sizeof(float));
    b->proj = malloc(n * hp->n_embd * sizeof(float));
    b->gate = malloc(n * hp->n_ff * sizeof(float));
    b->up = malloc(n * hp->n_ff * sizeof(float));
    b->scores = malloc(cpu_attention_scores_floats(cfg->n_threads, hp->n_head, hp->n_head_kv, hp->head_dim, cfg->n_ctx) * sizeof(float));
    b->out_x = malloc(n * hp->n_embd * sizeof(float));
    b->scratch = malloc(max_scratch(m, cfg->n_batch));
    if (!b->x || !b->xn || !b->q || !b->k || !b->v || !b->att || !b->proj || !b->gate || !b->up || !b->scores || !b->out_x ||
        !b->scratch) {
        cpu_free(b);
        return celer_error_set(err, CELER_ERR_NOMEM, "cpu backend: out of memory for a batch of %d tokens", cfg->n_batch);
    }
    const char *fuse = getenv("CELER_FUSE"), *step = getenv("CELER_DECODE_JOB");
    b->unfused = fuse && strcmp(fuse, "0") == 0;
    b->op_jobs = step && strcmp(step, "0") == 0;
    b->observe = cfg->observe;
    b->observe_user = cfg->observe_user;
    st = pack_weights(b, err);
    if (st == CELER_OK) st = step_init(b, cfg->n_threads, err);
    if (st != CELER_OK) {
        cpu_free(b);
        return st;
    }
    *out = b;
    return CELER_OK;
}

static void embed(backend *b, const celer_batch *batch) {
    const model_tensor *e = &b->m->tok_embd;
    const quant_traits *tr = quant_get_traits(e->type);
    for (int32_t i = 0; i < batch->n_tokens; i++)
        tr->dequantize_row((const char *)e->data + (size_t)batch->token[i] * e->row_bytes, b->x + (size_t)i * e->ne[0], e->ne[0]);
}

/* K and V rows of the batch go to the cache as fp16. */
static void store_kv(backend *b, kv_cache *kv, const celer_batch *batch, int32_t layer) {
    int64_t kv_dim = (int64_t)b->m->hp.n_head_kv * b->m->hp.head_dim;
    for (int32_t i = 0; i < batch->n_tokens; i++) {
        uint16_t *k = kv_cache_k(kv, layer, batch->seq_id[i], batch->pos[i]);
        uint16_t *v = kv_cache_v(kv, layer, batch->seq_id[i], batch->pos[i]);
        celer_fp32_to_fp16_row(b->k + i * kv_dim, k, kv_dim);
        celer_fp32_to_fp16_row(b->v + i * kv_dim, v, kv_dim);
    }
}

/* Profiling: op_begin returns a start time when profiling, op_end books it. */
static inline double op_begin(const backend *b) { return b->profile ? celer_time_s() : 0.0; }
static inline void op_end(backend *b, op_id op, double t0) {
    if (!b->profile) return;
    b->op_seconds[op] += celer_time_s() - t0;
    b->op_calls[op]++;
}

static inline void observe(const backend *b, int32_t il, backend_input which, const float *x, int64_t n, int64_t n_cols) {
    if (b->observe) b->observe(b->observe_user, il, which, x, n, n_cols);
}

static void attention_block(backend *b, kv_cache *kv, const celer_batch *batch, int32_t il) {
    const model_hparams *hp = &b->m->hp;
    const model_layer *l = &b->layers[il];
    int64_t n = batch->n_tokens, q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    double t = op_begin(b);
    cpu_rmsnorm(b->xn, b->x, l->attn_norm.data, n, hp->n_embd, hp->norm_eps);
    op_end(b, OP_ATTN_NORM, t);
    observe(b, il, BACKEND_IN_QKV, b->xn, n, hp->n_embd);
    t = op_begin(b);
    if (b->unfused) { /* three passes, the activation quantized three times */
        cpu_matmul(b->pool, &l->wq, b->xn, n, b->q, b->scratch);
        cpu_matmul(b->pool, &l->wk, b->xn, n, b->k, b->scratch);
        cpu_matmul(b->pool, &l->wv, b->xn, n, b->v, b->scratch);
    } else {
        cpu_matmul_out qkv[3] = {{&l->wq, b->q}, {&l->wk, b->k}, {&l->wv, b->v}};
        cpu_matmul_fused(b->pool, qkv, 3, b->xn, n, b->scratch, false);
    }
    op_end(b, OP_QKV, t);
    t = op_begin(b);
    if (hp->qkv_bias) {
        cpu_add_bias(b->q, l->bq.data, n, q_dim);
        cpu_add_bias(b->k, l->bk.data, n, kv_dim);
        cpu_add_bias(b->v, l->bv.data, n, kv_dim);
    }
    cpu_rope(b->q, batch->pos, n, hp->n_head, hp, b->m->rope_freq_factors);
    cpu_rope(b->k, batch->pos, n, hp->n_head_kv, hp, b->m->rope_freq_factors);
    store_kv(b, kv, batch, il);
    op_end(b, OP_ROPE_KV, t);
    t = op_begin(b);
    cpu_attention_args args = {.q = b->q, .out = b->att, .pos = batch->pos, .seq_id = batch->seq_id, .n = n, .layer = il,
                               .n_ctx = b->n_ctx, .hp = hp, .kv = kv, .scores = b->scores};
    cpu_attention(b->pool, &args);
    op_end(b, OP_ATTENTION, t);
    observe(b, il, BACKEND_IN_ATTN_OUT, b->att, n, q_dim);
    t = op_begin(b);
    cpu_matmul(b->pool, &l->wo, b->att, n, b->proj, b->scratch);
    for (int64_t i = 0; i < n * hp->n_embd; i++) b->x[i] += b->proj[i];
    op_end(b, OP_ATTN_OUT, t);
}

static void ffn_block(backend *b, int64_t n, int32_t il) {
    const model_hparams *hp = &b->m->hp;
    const model_layer *l = &b->layers[il];
    double t = op_begin(b);
    cpu_rmsnorm(b->xn, b->x, l->ffn_norm.data, n, hp->n_embd, hp->norm_eps);
    op_end(b, OP_FFN_NORM, t);
    observe(b, il, BACKEND_IN_GATE_UP, b->xn, n, hp->n_embd);
    t = op_begin(b);
    if (b->unfused) { /* two products, then SiLU and the product over the whole rows */
        cpu_matmul(b->pool, &l->w_gate, b->xn, n, b->gate, b->scratch);
        cpu_matmul(b->pool, &l->w_up, b->xn, n, b->up, b->scratch);
        cpu_silu_mul(b->gate, b->up, n * hp->n_ff);
    } else {
        cpu_matmul_out gate_up[2] = {{&l->w_gate, b->gate}, {&l->w_up, b->up}};
        cpu_matmul_fused(b->pool, gate_up, 2, b->xn, n, b->scratch, true); /* gate = silu(gate) * up */
    }
    op_end(b, OP_FFN_GATE_UP, t);
    observe(b, il, BACKEND_IN_DOWN, b->gate, n, hp->n_ff);
    t = op_begin(b);
    cpu_matmul(b->pool, &l->w_down, b->gate, n, b->proj, b->scratch);
    for (int64_t i = 0; i < n * hp->n_embd; i++) b->x[i] += b->proj[i];
    op_end(b, OP_FFN_DOWN, t);
}

/* ---- Decode: the whole step as one thread-pool job ----
 * For a few tokens the products are streams through the weights, and the fixed costs
 * between them (starting a job, waiting for its last unit, the caller's serial norm and
 * quantization while the other threads wait) were about a tenth of a step. Here every
 * thread runs the whole forward: it norms and quantizes the activation itself, into its
 * own buffer (RMSNorm and quantization in one pass over L1, no hand-off), takes units of
 * the shared products, and meets the others at a barrier only where a step needs all of
 * the previous one's output: after QKV, after RoPE and the KV write, after attention,
 * after each of the three other products. RoPE is fused with the KV write (each K head
 * rotated and stored as fp16 by one thread), its angles computed once per step for all
 * layers; the residual adds are done by the units of the products that feed them. */
typedef struct {
    backend *b;
    kv_cache *kv;
    const celer_batch *batch;
    int64_t n, n_out;
    int32_t out_rows[CPU_MATMUL_STREAM_MAX_TOKENS]; /* tokens that want logits */
    cpu_matmul_out head;
    float rope[CPU_MATMUL_STREAM_MAX_TOKENS * MODEL_MAX_HEAD_DIM]; /* (n, n_rot): cos, sin per pair */
} decode_step;

/* Thread 0 books the time since *t to op when profiling. */
static inline void step_mark(backend *b, int ith, op_id op, double *t) {
    if (ith != 0 || !b->profile) return;
    double now = celer_time_s();
    b->op_seconds[op] += now - *t;
    b->op_calls[op]++;
    *t = now;
}

/* Bias, RoPE and the KV write, one head of one token per item: Q heads rotated in place,
 * K heads rotated and stored, V heads stored. */
static void step_rope_kv(const decode_step *s, int32_t il, int ith, int nth) {
    const backend *b = s->b;
    const model_hparams *hp = &b->m->hp;
    const model_layer *l = &b->layers[il];
    const int32_t hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv, per_tok = nh + 2 * nkv;
    long long begin, end;
    threadpool_split(s->n * per_tok, ith, nth, &begin, &end);
    for (long long u = begin; u < end; u++) {
        const int64_t t = u / per_tok;
        int32_t h = (int32_t)(u % per_tok);
        const float *cs = s->rope + t * hp->n_rot;
        if (h < nh) {
            float *v = b->q + (t * nh + h) * hd;
            if (hp->qkv_bias) cpu_add_bias(v, (const float *)l->bq.data + h * hd, 1, hd);
            cpu_rope_head(v, cs, hp);
            continue;
        }
        h -= nh;
        const bool is_k = h < nkv;
        if (!is_k) h -= nkv;
        float *v = (is_k ? b->k : b->v) + (t * nkv + h) * hd;
        if (hp->qkv_bias) cpu_add_bias(v, (const float *)(is_k ? l->bk.data : l->bv.data) + h * hd, 1, hd);
        if (is_k) cpu_rope_head(v, cs, hp);
        const int32_t seq = s->batch->seq_id[t], pos = s->batch->pos[t];
        celer_fp32_to_fp16_row(v, (is_k ? kv_cache_k(s->kv, il, seq, pos) : kv_cache_v(s->kv, il, seq, pos)) + h * hd, hd);
    }
}

static void decode_worker(void *ctx, int ith, int nth) {
    decode_step *s = ctx;
    backend *b = s->b;
    const model_hparams *hp = &b->m->hp;
    const int64_t n = s->n, E = hp->n_embd;
    float *xn = b->thread_xn + (size_t)ith * CPU_MATMUL_STREAM_MAX_TOKENS * E;
    char *act = b->thread_act + (size_t)ith * b->thread_act_bytes;
    double t = ith == 0 ? op_begin(b) : 0.0;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const model_layer *l = &b->layers[il];
        cpu_matmul_job *jobs = b->step_jobs + (size_t)il * STEP_PRODUCTS;
        cpu_rmsnorm(xn, b->x, l->attn_norm.data, n, E, hp->norm_eps);
        cpu_matmul_job_quantize(&jobs[STEP_QKV], xn, act);
        step_mark(b, ith, OP_ATTN_NORM, &t);
        cpu_matmul_job_work(&jobs[STEP_QKV], act, NULL);
        threadpool_barrier(b->pool);
        step_mark(b, ith, OP_QKV, &t);
        step_rope_kv(s, il, ith, nth);
        threadpool_barrier(b->pool);
        step_mark(b, ith, OP_ROPE_KV, &t);
        cpu_attention_args args = {.q = b->q, .out = b->att, .pos = s->batch->pos, .seq_id = s->batch->seq_id, .n = n,
                                   .layer = il, .n_ctx = b->n_ctx, .hp = hp, .kv = s->kv, .scores = b->scores};
        cpu_attention_work(b->pool, &args, ith, nth);
        threadpool_barrier(b->pool);
        step_mark(b, ith, OP_ATTENTION, &t);
        cpu_matmul_job_quantize(&jobs[STEP_WO], b->att, act);
        cpu_matmul_job_work(&jobs[STEP_WO], act, b->x);
        threadpool_barrier(b->pool);
        step_mark(b, ith, OP_ATTN_OUT, &t);
        cpu_rmsnorm(xn, b->x, l->ffn_norm.data, n, E, hp->norm_eps);
        cpu_matmul_job_quantize(&jobs[STEP_GATE_UP], xn, act);
        step_mark(b, ith, OP_FFN_NORM, &t);
        cpu_matmul_job_work(&jobs[STEP_GATE_UP], act, NULL);
        threadpool_barrier(b->pool);
        step_mark(b, ith, OP_FFN_GATE_UP, &t);
        cpu_matmul_job_quantize(&jobs[STEP_DOWN], b->gate, act);
        cpu_matmul_job_work(&jobs[STEP_DOWN], act, b->x);
        threadpool_barrier(b->pool);
        step_mark(b, ith, OP_FFN_DOWN, &t);
    }
    if (s->n_out == 0) return;
    cpu_matmul_job *head = b->step_jobs + (size_t)hp->n_layer * STEP_PRODUCTS;
    for (int64_t i = 0; i < s->n_out; i++) cpu_rmsnorm(xn + i * E, b->x + s->out_rows[i] * E, b->m->output_norm.data, 1, E, hp->norm_eps);
    cpu_matmul_job_quantize(head, xn, act);
    cpu_matmul_job_work(head, act, NULL);
    if (b->profile) { /* the same on every thread */
        threadpool_barrier(b->pool);
        step_mark(b, ith, OP_OUTPUT, &t);
    }
}

static void decode_forward(backend *b, kv_cache *kv, const celer_batch *batch, float *logits) {
    const model_hparams *hp = &b->m->hp;
    const int nth = threadpool_size(b->pool);
    decode_step s = {.b = b, .kv = kv, .batch = batch, .n = batch->n_tokens};
    for (int32_t i = 0; i < batch->n_tokens; i++) {
        cpu_rope_angles(s.rope + (size_t)i * hp->n_rot, batch->pos[i], hp, b->m->rope_freq_factors);
        if (batch->logits[i]) s.out_rows[s.n_out++] = i;
    }
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const cpu_matmul_out *o = b->step_outs + (size_t)il * STEP_OUTS;
        cpu_matmul_job *jobs = b->step_jobs + (size_t)il * STEP_PRODUCTS;
        cpu_matmul_job_init(&jobs[STEP_QKV], o, 3, s.n, false, nth);
        cpu_matmul_job_init(&jobs[STEP_WO], o + 3, 1, s.n, false, nth);
        cpu_matmul_job_init(&jobs[STEP_GATE_UP], o + 4, 2, s.n, true, nth);
        cpu_matmul_job_init(&jobs[STEP_DOWN], o + 6, 1, s.n, false, nth);
    }
    if (s.n_out > 0) {
        s.head = (cpu_matmul_out){&b->output, logits};
        cpu_matmul_job_init(b->step_jobs + (size_t)hp->n_layer * STEP_PRODUCTS, &s.head, 1, s.n_out, false, nth);
    }
    double t = op_begin(b);
    embed(b, batch);
    op_end(b, OP_EMBED, t);
    threadpool_run(b->pool, decode_worker, &s);
}

static celer_status cpu_forward(backend *b, kv_cache *kv, const celer_batch *batch, float *logits, celer_error *err) {
    const model_hparams *hp = &b->m->hp;
    if (batch->n_tokens < 1 || batch->n_tokens > b->n_batch)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "batch of %d tokens: must be 1..%d", batch->n_tokens, b->n_batch);
    if (batch->n_tokens <= CPU_MATMUL_STREAM_MAX_TOKENS && !b->observe && !b->unfused && !b->op_jobs) {
        decode_forward(b, kv, batch, logits);
        return CELER_OK;
    }
    double t = op_begin(b);
    embed(b, batch);
    op_end(b, OP_EMBED, t);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        attention_block(b, kv, batch, il);
        ffn_block(b, batch->n_tokens, il);
    }
    int64_t n_out = 0;
    for (int32_t i = 0; i < batch->n_tokens; i++)
        if (batch->logits[i]) memcpy(b->out_x + n_out++ * hp->n_embd, b->x + (int64_t)i * hp->n_embd, (size_t)hp->n_embd * sizeof(float));
    if (n_out == 0) return CELER_OK;
    t = op_begin(b);
    cpu_rmsnorm(b->xn, b->out_x, b->m->output_norm.data, n_out, hp->n_embd, hp->norm_eps);
    observe(b, -1, BACKEND_IN_OUTPUT, b->xn, n_out, hp->n_embd);
    cpu_matmul(b->pool, &b->output, b->xn, n_out, logits, b->scratch);
    op_end(b, OP_OUTPUT, t);
    return CELER_OK;
}

static void cpu_profile(backend *b, bool enable) {
    b->profile = enable;
    memset(b->op_calls, 0, sizeof(b->op_calls));
    memset(b->op_seconds, 0, sizeof(b->op_seconds));
}

static int32_t cpu_profile_get(const backend *b, celer_op_stat *out, int32_t max) {
    return backend_profile_report(op_names, b->op_calls, b->op_seconds, OP_COUNT, out, max);
}

const backend_ops backend_cpu = {.name = "cpu", .init = cpu_init, .forward = cpu_forward, .free = cpu_free, .profile = cpu_profile,
                                  .profile_get = cpu_profile_get};
