// cuda_backend.cu: the CUDA backend (backend_cuda): the whole forward on one GPU.
//
// init: checks every tensor's type and shape against what the kernels read, plans device
// memory (cuda_plan.c) and refuses with the numbers if it does not fit, uploads every
// weight once (the file's block layout), allocates the fp16 KV cache (n_layer, cells,
// n_kv_dim) and all scratch. Nothing is allocated per token.
// forward: one host-to-device copy of the batch's ints (tokens, positions, KV cells,
// block lists, rows wanting logits), the layers on one stream, one device-to-host copy of
// the logits wanted. Up to GPU_MATVEC_MAX_TOKENS tokens the products are matrix-vector
// kernels and a step whose tokens all want logits (decode) runs as a CUDA graph,
// captured once per token count: kernels read lengths and positions from device memory,
// and attention launches splits for the longest context, so the graph is replayed, never
// re-captured, as the context grows. Larger batches (prefill) dequantize each weight to
// F16 in tiles and multiply through cuBLAS.
// Kernels per decoded token: 1 (embedding) + 9 per layer (norm, Q+K+V, rope + KV write,
// attention split, attention combine, output projection, norm, gate+up+SiLU, down) + 2
// (final norm, head), when each layer's Q, K, V share a type and gate, up share one;
// docs/gpu.md has the count and the memory plan.
// Tests: tests/test_cuda_forward.c (against the CPU backend), tests/test_gpu_plan.c.
#include <cublas_v2.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.h"

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/cuda_plan.h"
#include "quant/quant.h"
}

static_assert(GPU_MATVEC_MAX_TOKENS == MATVEC_MAX_TOKENS, "plan and kernels agree on the decode batch");

/* The stages of a forward, for per-op profiles (celer bench --profile), named as the CPU
 * backend names them. Profiled forwards run without graphs, each stage between two
 * events; the times are device times. */
typedef enum {
    OP_EMBED,
    OP_ATTN_NORM,
    OP_QKV,
    OP_ROPE_KV,
    OP_ATTENTION,
    OP_ATTN_OUT,
    OP_FFN_NORM,
    OP_FFN_GATE_UP,
    OP_FFN_DOWN,
    OP_OUTPUT,
    OP_COUNT
} op_id;

static const char *const op_names[OP_COUNT] = {"embed", "attn_norm", "matmul_qkv", "rope_kv_store", "attention", "matmul_attn_out",
                                               "ffn_norm", "matmul_ffn_gate_up_silu", "matmul_ffn_down", "output_norm_head"};

struct backend {
    model dm;                /* the model with data pointers into device memory */
    model_layer *layers;     /* (n_layer) dm.layers, owned */
    const model *m;          /* the host model */
    gpu_plan plan;
    char device_name[256];
    cudaStream_t stream;
    cublasHandle_t blas;
    uint8_t *weights;        /* device: every tensor, plan.weights bytes */
    uint16_t *k_cache;       /* device fp16 (n_layer, n_cells, n_kv_dim) */
    uint16_t *v_cache;
    uint8_t *scratch;        /* device: plan.scratch bytes, carved below */
    float *x, *xn, *q, *k, *v, *att, *gate, *up, *out_xn, *logits, *partial; /* shapes: cuda_plan.h */
    void *x16, *w16;
    int32_t *inputs;         /* device ints: see stage_inputs */
    int32_t *staging;        /* pinned host copy of inputs */
    int32_t *seq_first;      /* (n_batch) host: first batch token of each distinct sequence */
    cudaGraphExec_t graphs[GPU_MATVEC_MAX_TOKENS + 1]; /* decode step per token count, NULL until captured */
    bool use_graphs;
    bool profile;
    cudaEvent_t *events;     /* (2 * stages per forward) while profiling: begin and end of each stage */
    op_id *event_ops;        /* (stages per forward) */
    int32_t n_events, max_events;
    uint64_t op_calls[OP_COUNT];
    double op_seconds[OP_COUNT];
};

/* ---- device discovery ---- */

static celer_status device_open(char *name, size_t size, uint64_t *free_bytes, celer_error *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        if (err)
            snprintf(err->msg, sizeof(err->msg), "--gpu: no CUDA device: cudaGetDeviceCount: %s (is an NVIDIA GPU visible and its driver loaded?)",
                     e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return CELER_ERR_UNSUPPORTED;
    }
    CUDA_TRY(cudaSetDevice(0), err);
    cudaDeviceProp prop;
    CUDA_TRY(cudaGetDeviceProperties(&prop, 0), err);
    if (prop.major < 8) {
        if (err) snprintf(err->msg, sizeof(err->msg), "--gpu: %s has compute capability %d.%d; celer's CUDA kernels need 8.0 or newer", prop.name, prop.major, prop.minor);
        return CELER_ERR_UNSUPPORTED;
    }
    size_t free_b = 0, total_b = 0;
    CUDA_TRY(cudaMemGetInfo(&free_b, &total_b), err);
    snprintf(name, size, "%s (device 0, %.1f GiB)", prop.name, (double)total_b / (1024.0 * 1024.0 * 1024.0));
    *free_bytes = free_b;
    return CELER_OK;
}

extern "C" celer_status cuda_device_memory(uint64_t *free_bytes, char *name, size_t name_size, celer_error *err) {
    return device_open(name, name_size, free_bytes, err);
}

/* ---- checks ---- */

static celer_status check_matrix(const model_tensor *t, celer_error *err) {
    if (!cuda_type_supported(t->type))
        return celer_error_set(err, CELER_ERR_UNSUPPORTED, "--gpu: tensor %s has type %s, which the CUDA kernels do not read", t->name,
                               quant_type_name(t->type));
    if (t->ne[0] % 32 != 0)
        return celer_error_set(err, CELER_ERR_UNSUPPORTED, "--gpu: tensor %s has rows of %lld elements; the CUDA kernels need a multiple of 32",
                               t->name, (long long)t->ne[0]);
    return CELER_OK;
}

static celer_status check_model(const model *m, const backend_config *cfg, celer_error *err) {
    const model_hparams *hp = &m->hp;
    if (cfg->observe) return celer_error_set(err, CELER_ERR_UNSUPPORTED, "--gpu: calibration hooks need the CPU backend");
    if (hp->head_dim % 32 != 0 || hp->head_dim > 512)
        return celer_error_set(err, CELER_ERR_UNSUPPORTED, "--gpu: head_dim %d: the CUDA attention needs a multiple of 32, at most 512", hp->head_dim);
    celer_status st = check_matrix(&m->tok_embd, err);
    if (st == CELER_OK) st = check_matrix(&m->output, err);
    for (int32_t il = 0; st == CELER_OK && il < hp->n_layer; il++) {
        const model_layer *l = &m->layers[il];
        const model_tensor *mats[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; st == CELER_OK && i < sizeof(mats) / sizeof(mats[0]); i++) st = check_matrix(mats[i], err);
    }
    return st;
}

/* ---- init / free ---- */

static void cuda_free_backend(backend *b) {
    if (!b) return;
    for (int i = 0; i <= GPU_MATVEC_MAX_TOKENS; i++)
        if (b->graphs[i]) cudaGraphExecDestroy(b->graphs[i]);
    for (int32_t i = 0; i < b->max_events; i++) cudaEventDestroy(b->events[i]);
    free(b->events);
    free(b->event_ops);
    if (b->blas) cublasDestroy(b->blas);
    if (b->stream) cudaStreamDestroy(b->stream);
    cudaFree(b->weights);
    cudaFree(b->k_cache);
    cudaFree(b->v_cache);
    cudaFree(b->scratch);
    if (b->staging) cudaFreeHost(b->staging);
    free(b->seq_first);
    free(b->layers);
    free(b);
}

/* Every tensor to the device, at the offsets the plan counted; dm's copies point there. */
static celer_status upload_weights(backend *b, celer_error *err) {
    const model *m = b->m;
    CUDA_TRY(cudaMalloc((void **)&b->weights, b->plan.weights), err);
    const model_tensor *src[GPU_PLAN_MAX_TENSORS(m->hp.n_layer)], *dst_c[GPU_PLAN_MAX_TENSORS(m->hp.n_layer)];
    const int32_t n = gpu_plan_tensors(m, src);
    CHECK(gpu_plan_tensors(&b->dm, dst_c) == n); /* same order: dm is a copy of m */
    uint64_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        const uint64_t bytes = (uint64_t)src[i]->row_bytes * (uint64_t)src[i]->ne[1];
        CUDA_TRY(cudaMemcpy(b->weights + off, src[i]->data, bytes, cudaMemcpyHostToDevice), err);
        model_tensor *dst = (model_tensor *)dst_c[i];
        dst->data = b->weights + off;
        dst->pack_rows = 0;
        off += gpu_plan_align(bytes);
    }
    if (m->output.data == m->tok_embd.data) b->dm.output.data = b->dm.tok_embd.data;
    if (m->rope_freq_factors) {
        CUDA_TRY(cudaMemcpy(b->weights + off, m->rope_freq_factors, (size_t)(m->hp.n_rot / 2) * sizeof(float), cudaMemcpyHostToDevice), err);
        b->dm.rope_freq_factors = (const float *)(b->weights + off);
        off += gpu_plan_align((uint64_t)(m->hp.n_rot / 2) * sizeof(float));
    }
    CHECK(off == b->plan.weights);
    return CELER_OK;
}

/* The scratch area cut into the plan's buffers. */
static void carve_scratch(backend *b) {
    const gpu_scratch_sizes *s = &b->plan.sizes;
    uint8_t *p = b->scratch;
#define TAKE(field, count, size)             \
    do {                                     \
        *(void **)&b->field = p;             \
        p += gpu_plan_align((uint64_t)(count) * (size)); \
    } while (0)
    TAKE(x, s->x, 4);
    TAKE(xn, s->xn, 4);
    TAKE(q, s->q, 4);
    TAKE(k, s->k, 4);
    TAKE(v, s->v, 4);
    TAKE(att, s->att, 4);
    TAKE(gate, s->gate, 4);
    TAKE(up, s->up, 4);
    TAKE(out_xn, s->out_xn, 4);
    TAKE(logits, s->logits, 4);
    TAKE(partial, s->partial, 4);
    TAKE(inputs, s->inputs, 4);
    TAKE(x16, s->x16, 2);
    TAKE(w16, s->w16, 2);
#undef TAKE
    CHECK((uint64_t)(p - b->scratch) == b->plan.scratch);
}

static celer_status init_device(backend *b, const backend_config *cfg, celer_error *err) {
    uint64_t free_bytes = 0;
    celer_status st = device_open(b->device_name, sizeof(b->device_name), &free_bytes, err);
    if (st != CELER_OK) return st;
    gpu_plan_compute(b->m, cfg->n_ctx, cfg->n_batch, &b->plan);
    if ((st = gpu_plan_check(&b->plan, b->m, free_bytes, b->device_name, err)) != CELER_OK) return st;
    if ((st = upload_weights(b, err)) != CELER_OK) return st;
    const size_t kv_half = b->plan.kv / 2;
    CUDA_TRY(cudaMalloc((void **)&b->k_cache, kv_half), err);
    CUDA_TRY(cudaMalloc((void **)&b->v_cache, kv_half), err);
    CUDA_TRY(cudaMemset(b->k_cache, 0, kv_half), err);
    CUDA_TRY(cudaMemset(b->v_cache, 0, kv_half), err);
    CUDA_TRY(cudaMalloc((void **)&b->scratch, b->plan.scratch), err);
    carve_scratch(b);
    CUDA_TRY(cudaMallocHost((void **)&b->staging, (size_t)b->plan.sizes.inputs * sizeof(int32_t)), err);
    CUDA_TRY(cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking), err);
    cublasStatus_t bs = cublasCreate(&b->blas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        b->blas = NULL;
        return celer_error_set(err, bs == CUBLAS_STATUS_ALLOC_FAILED ? CELER_ERR_NOMEM : CELER_ERR_IO, "cuda: cublasCreate: %s", cublasGetStatusString(bs));
    }
    if ((bs = cublasSetStream(b->blas, b->stream)) != CUBLAS_STATUS_SUCCESS)
        return celer_error_set(err, CELER_ERR_IO, "cuda: cublasSetStream: %s", cublasGetStatusString(bs));
    CUDA_TRY(cudaDeviceSynchronize(), err);
    return CELER_OK;
}

static celer_status cuda_init(backend **out, const model *m, const backend_config *cfg, celer_error *err) {
    *out = NULL;
    celer_status st = check_model(m, cfg, err);
    if (st != CELER_OK) return st;
    if (cfg->n_batch < 1 || cfg->n_ctx < 1) return celer_error_set(err, CELER_ERR_INVALID_ARG, "--gpu: invalid batch %d or context %d", cfg->n_batch, cfg->n_ctx);
    backend *b = (backend *)calloc(1, sizeof(*b));
    if (!b) return celer_error_set(err, CELER_ERR_NOMEM, "cuda backend: out of memory");
    b->m = m;
    b->dm = *m;
    b->layers = (model_layer *)malloc((size_t)m->hp.n_layer * sizeof(model_layer));
    b->seq_first = (int32_t *)malloc((size_t)cfg->n_batch * sizeof(int32_t));
    if (!b->layers || !b->seq_first) {
        free(b->layers);
        free(b->seq_first);
        free(b);
        return celer_error_set(err, CELER_ERR_NOMEM, "cuda backend: out of memory");
    }
    memcpy(b->layers, m->layers, (size_t)m->hp.n_layer * sizeof(model_layer));
    b->dm.layers = b->layers;
    const char *graphs = getenv("CELER_CUDA_GRAPH");
    b->use_graphs = !(graphs && strcmp(graphs, "0") == 0);
    if ((st = init_device(b, cfg, err)) != CELER_OK) {
        cuda_free_backend(b);
        return st;
    }
    *out = b;
    return CELER_OK;
}

/* ---- forward ---- */

/* Profiling: an event before a stage, one after (no-ops unless profiling). */
static celer_status stage_begin(backend *b, celer_error *err) {
    if (!b->profile || b->n_events + 2 > b->max_events) return CELER_OK;
    CUDA_TRY(cudaEventRecord(b->events[b->n_events], b->stream), err);
    return CELER_OK;
}

static celer_status stage_end(backend *b, op_id op, celer_status st, celer_error *err) {
    if (st != CELER_OK || !b->profile || b->n_events + 2 > b->max_events) return st;
    CUDA_TRY(cudaEventRecord(b->events[b->n_events + 1], b->stream), err);
    b->event_ops[b->n_events / 2] = op;
    b->n_events += 2;
    return CELER_OK;
}

/* After the stream is synchronized: the stages' times into the totals. */
static celer_status stage_collect(backend *b, celer_error *err) {
    for (int32_t i = 0; i + 1 < b->n_events; i += 2) {
        float ms = 0.0f;
        CUDA_TRY(cudaEventElapsedTime(&ms, b->events[i], b->events[i + 1]), err);
        b->op_seconds[b->event_ops[i / 2]] += 1e-3 * ms;
        b->op_calls[b->event_ops[i / 2]]++;
    }
    b->n_events = 0;
    return CELER_OK;
}

/* Device views of the batch's ints (layout fixed by n_batch so graphs keep pointers). */
typedef struct {
    const int32_t *token, *pos, *cell, *table_off, *out_rows, *blocks;
} batch_inputs;

static batch_inputs device_inputs(const backend *b) {
    const int32_t nb = b->plan.n_batch, *p = b->inputs;
    return (batch_inputs){p, p + nb, p + 2 * nb, p + 3 * nb, p + 4 * nb, p + 5 * nb};
}

/* Fills the pinned staging copy: tokens, positions, the cell each token writes, the start
 * of its sequence's block list, the rows wanting logits, then each sequence's block ids
 * once. Returns the ints to upload and the number of rows wanting logits. */
static int64_t stage_inputs(backend *b, kv_cache *kv, const celer_batch *batch, int32_t *n_out) {
    const int32_t nb = b->plan.n_batch, n = batch->n_tokens;
    int32_t *s = b->staging, *blocks = s + 5 * nb;
    int32_t n_blocks = 0, n_seqs = 0, *first_token = b->seq_first;
    *n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        const int32_t seq = batch->seq_id[i];
        s[i] = batch->token[i];
        s[nb + i] = batch->pos[i];
        s[2 * nb + i] = kv_cache_cell(kv, seq, batch->pos[i]);
        if (batch->logits[i]) s[4 * nb + (*n_out)++] = i;
        int32_t j = 0; /* a sequence seen earlier in the batch shares its block list */
        for (; j < n_seqs && batch->seq_id[first_token[j]] != seq; j++) {}
        if (j < n_seqs) {
            s[3 * nb + i] = s[3 * nb + first_token[j]];
            continue;
        }
        first_token[n_seqs++] = i;
        const int32_t count = (kv_cache_seq_len(kv, seq) + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
        CHECK(n_blocks + count <= b->plan.n_cells / KV_BLOCK_SIZE); /* blocks belong to one sequence each */
        memcpy(blocks + n_blocks, kv_cache_seq_blocks(kv, seq), (size_t)count * sizeof(int32_t));
        s[3 * nb + i] = n_blocks;
        n_blocks += count;
    }
    return 5 * (int64_t)nb + n_blocks;
}

/* y (n, y_stride) (+)= x (n, w.ne[0]) · wᵀ: matrix-vector kernels for a few tokens, else
 * F16 tiles through cuBLAS (x16_ready: x already converted into b->x16). */
static celer_status matmul(backend *b, const model_tensor *w, const float *x, int32_t n, float *y, int64_t y_stride, bool accumulate,
                           bool x16_ready, celer_error *err) {
    const int64_t rows = w->ne[1], cols = w->ne[0];
    if (n <= GPU_MATVEC_MAX_TOKENS) {
        matvec_args a = {};
        a.type = w->type;
        a.out[0] = (matvec_out){w->data, w->row_bytes, rows, y, y_stride, accumulate};
        a.n_out = 1;
        a.x = x, a.x_stride = cols, a.cols = cols, a.n_tokens = n;
        return matvec_cuda(&a, b->stream, err);
    }
    celer_status st = CELER_OK;
    if (!x16_ready && (st = f32_to_f16_cuda(x, b->x16, (int64_t)n * cols, b->stream, err)) != CELER_OK) return st;
    const int64_t tile = gpu_plan_tile_rows(rows, cols);
    for (int64_t r0 = 0; r0 < rows && st == CELER_OK; r0 += tile) {
        const int64_t tr = rows - r0 < tile ? rows - r0 : tile;
        const void *w16 = (const uint8_t *)w->data + r0 * w->row_bytes;
        if (w->type != QUANT_F16) {
            if ((st = dequantize_f16_cuda(w->type, w16, w->row_bytes, tr, cols, b->w16, b->stream, err)) != CELER_OK) return st;
            w16 = b->w16;
        }
        st = gemm_f16_cuda(b->blas, w16, b->x16, tr, cols, n, y + r0, y_stride, accumulate, err);
    }
    return st;
}

static celer_status attention_block(backend *b, const batch_inputs *in, int32_t n, int32_t il, celer_error *err) {
    const model_hparams *hp = &b->dm.hp;
    const model_layer *l = &b->layers[il];
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    celer_status st = stage_begin(b, err);
    if (st == CELER_OK) st = rmsnorm_cuda(b->xn, b->x, (const float *)l->attn_norm.data, NULL, n, hp->n_embd, hp->norm_eps, b->stream, err);
    if ((st = stage_end(b, OP_ATTN_NORM, st, err)) != CELER_OK || (st = stage_begin(b, err)) != CELER_OK) return st;
    if (n <= GPU_MATVEC_MAX_TOKENS) { /* Q, K, V: one launch per distinct weight type (one when they share it) */
        const model_tensor *w[3] = {&l->wq, &l->wk, &l->wv};
        float *y[3] = {b->q, b->k, b->v};
        const int64_t stride[3] = {q_dim, kv_dim, kv_dim};
        bool done[3] = {false, false, false};
        for (int i = 0; i < 3 && st == CELER_OK; i++) {
            if (done[i]) continue;
            matvec_args a = {};
            a.type = w[i]->type;
            for (int j = i; j < 3; j++)
                if (!done[j] && w[j]->type == a.type) {
                    a.out[a.n_out++] = (matvec_out){w[j]->data, w[j]->row_bytes, w[j]->ne[1], y[j], stride[j], false};
                    done[j] = true;
                }
            a.x = b->xn, a.x_stride = hp->n_embd, a.cols = hp->n_embd, a.n_tokens = n;
            st = matvec_cuda(&a, b->stream, err);
        }
    } else {
        st = matmul(b, &l->wq, b->xn, n, b->q, q_dim, false, false, err);
        if (st == CELER_OK) st = matmul(b, &l->wk, b->xn, n, b->k, kv_dim, false, true, err);
        if (st == CELER_OK) st = matmul(b, &l->wv, b->xn, n, b->v, kv_dim, false, true, err);
    }
    if ((st = stage_end(b, OP_QKV, st, err)) != CELER_OK || (st = stage_begin(b, err)) != CELER_OK) return st;
    const int64_t layer_off = (int64_t)il * b->plan.n_cells * kv_dim;
    rope_kv_args r = {};
    r.q = b->q, r.k = b->k, r.v = b->v;
    if (hp->qkv_bias) r.bq = (const float *)l->bq.data, r.bk = (const float *)l->bk.data, r.bv = (const float *)l->bv.data;
    r.k_cache = b->k_cache + layer_off, r.v_cache = b->v_cache + layer_off;
    r.pos = in->pos, r.cell = in->cell, r.freq_factors = b->dm.rope_freq_factors;
    r.n = n, r.n_head = hp->n_head, r.n_head_kv = hp->n_head_kv, r.head_dim = hp->head_dim, r.n_rot = hp->n_rot;
    r.rope_halves = hp->rope_pairs == ROPE_PAIRS_HALVES;
    r.freq_base = hp->rope_freq_base, r.freq_scale = hp->rope_freq_scale;
    st = rope_kv_cuda(&r, b->stream, err);
    if ((st = stage_end(b, OP_ROPE_KV, st, err)) != CELER_OK || (st = stage_begin(b, err)) != CELER_OK) return st;
    const bool decode = n <= GPU_MATVEC_MAX_TOKENS;
    attention_args a = {};
    a.q = b->q, a.out = b->att, a.k_cache = r.k_cache, a.v_cache = r.v_cache;
    a.pos = in->pos, a.table_off = in->table_off, a.blocks = in->blocks, a.partial = b->partial;
    a.n = n, a.n_head = hp->n_head, a.n_head_kv = hp->n_head_kv, a.head_dim = hp->head_dim, a.block_size = KV_BLOCK_SIZE;
    a.chunk = decode ? GPU_ATTENTION_CHUNK : b->plan.n_cells;
    a.n_chunks = decode ? b->plan.decode_chunks : 1;
    st = attention_cuda(&a, b->stream, err);
    if ((st = stage_end(b, OP_ATTENTION, st, err)) != CELER_OK || (st = stage_begin(b, err)) != CELER_OK) return st;
    st = matmul(b, &l->wo, b->att, n, b->x, hp->n_embd, true, false, err);
    return stage_end(b, OP_ATTN_OUT, st, err);
}

static celer_status ffn_block(backend *b, int32_t n, int32_t il, celer_error *err) {
    const model_hparams *hp = &b->dm.hp;
    const model_layer *l = &b->layers[il];
    celer_status st = stage_begin(b, err);
    if (st == CELER_OK) st = rmsnorm_cuda(b->xn, b->x, (const float *)l->ffn_norm.data, NULL, n, hp->n_embd, hp->norm_eps, b->stream, err);
    if ((st = stage_end(b, OP_FFN_NORM, st, err)) != CELER_OK || (st = stage_begin(b, err)) != CELER_OK) return st;
    if (n <= GPU_MATVEC_MAX_TOKENS && l->w_gate.type == l->w_up.type) { /* gate, up, SiLU and product in one launch */
        matvec_args a = {};
        a.type = l->w_gate.type;
        a.out[0] = (matvec_out){l->w_gate.data, l->w_gate.row_bytes, l->w_gate.ne[1], b->gate, hp->n_ff, false};
        a.out[1] = (matvec_out){l->w_up.data, l->w_up.row_bytes, l->w_up.ne[1], b->up, hp->n_ff, false};
        a.n_out = 2, a.swiglu = true;
        a.x = b->xn, a.x_stride = hp->n_embd, a.cols = hp->n_embd, a.n_tokens = n;
        st = matvec_cuda(&a, b->stream, err);
    } else {
        st = matmul(b, &l->w_gate, b->xn, n, b->gate, hp->n_ff, false, false, err);
        if (st == CELER_OK) st = matmul(b, &l->w_up, b->xn, n, b->up, hp->n_ff, false, n > GPU_MATVEC_MAX_TOKENS, err);
        if (st == CELER_OK) st = silu_mul_cuda(b->gate, b->up, (int64_t)n * hp->n_ff, b->stream, err);
    }
    if ((st = stage_end(b, OP_FFN_GATE_UP, st, err)) != CELER_OK || (st = stage_begin(b, err)) != CELER_OK) return st;
    st = matmul(b, &l->w_down, b->gate, n, b->x, hp->n_embd, true, false, err);
    return stage_end(b, OP_FFN_DOWN, st, err);
}

/* Every launch of one forward, on b->stream (captured into a graph or not). */
static celer_status run_forward(backend *b, int32_t n, int32_t n_out, celer_error *err) {
    const model_hparams *hp = &b->dm.hp;
    const batch_inputs in = device_inputs(b);
    const model_tensor *e = &b->dm.tok_embd;
    celer_status st = stage_begin(b, err);
    if (st == CELER_OK) st = get_rows_cuda(e->type, e->data, e->row_bytes, e->ne[0], in.token, n, b->x, b->stream, err);
    st = stage_end(b, OP_EMBED, st, err);
    for (int32_t il = 0; st == CELER_OK && il < hp->n_layer; il++) {
        st = attention_block(b, &in, n, il, err);
        if (st == CELER_OK) st = ffn_block(b, n, il, err);
    }
    if (st != CELER_OK || n_out == 0) return st;
    if ((st = stage_begin(b, err)) != CELER_OK) return st;
    st = rmsnorm_cuda(b->out_xn, b->x, (const float *)b->dm.output_norm.data, in.out_rows, n_out, hp->n_embd, hp->norm_eps, b->stream, err);
    if (st == CELER_OK) st = matmul(b, &b->dm.output, b->out_xn, n_out, b->logits, hp->n_vocab, false, false, err);
    return stage_end(b, OP_OUTPUT, st, err);
}

/* Captures run_forward for n tokens into b->graphs[n]. */
static celer_status capture_graph(backend *b, int32_t n, celer_error *err) {
    CUDA_TRY(cudaStreamBeginCapture(b->stream, cudaStreamCaptureModeThreadLocal), err); /* this thread's calls only */
    celer_status st = run_forward(b, n, n, err);
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(b->stream, &graph); /* always end the capture, even after a failure */
    if (st != CELER_OK) {
        if (graph) cudaGraphDestroy(graph);
        return st;
    }
    if (e != cudaSuccess) return cuda_error(err, e, "cudaStreamEndCapture (CELER_CUDA_GRAPH=0 runs without graphs)");
    e = cudaGraphInstantiate(&b->graphs[n], graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        b->graphs[n] = NULL;
        return cuda_error(err, e, "cudaGraphInstantiate (CELER_CUDA_GRAPH=0 runs without graphs)");
    }
    return CELER_OK;
}

static celer_status forward_inner(backend *b, kv_cache *kv, const celer_batch *batch, float *logits, celer_error *err) {
    const int32_t n = batch->n_tokens;
    if (n < 1 || n > b->plan.n_batch)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "batch of %d tokens: must be 1..%d", n, b->plan.n_batch);
    if (kv_cache_n_cells(kv) != b->plan.n_cells)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "--gpu: the KV cache has %d cells, the device copy %d", kv_cache_n_cells(kv), b->plan.n_cells);
    int32_t n_out = 0;
    const int64_t n_ints = stage_inputs(b, kv, batch, &n_out);
    CUDA_TRY(cudaMemcpyAsync(b->inputs, b->staging, (size_t)n_ints * sizeof(int32_t), cudaMemcpyHostToDevice, b->stream), err);
    celer_status st;
    if (b->use_graphs && !b->profile && n <= GPU_MATVEC_MAX_TOKENS && n_out == n) {
        st = b->graphs[n] ? CELER_OK : capture_graph(b, n, err);
        if (st != CELER_OK) return st;
        CUDA_TRY(cudaGraphLaunch(b->graphs[n], b->stream), err);
    } else if ((st = run_forward(b, n, n_out, err)) != CELER_OK) {
        return st;
    }
    if (n_out > 0)
        CUDA_TRY(cudaMemcpyAsync(logits, b->logits, (size_t)n_out * (size_t)b->dm.hp.n_vocab * sizeof(float), cudaMemcpyDeviceToHost, b->stream), err);
    CUDA_TRY(cudaStreamSynchronize(b->stream), err);
    return b->profile ? stage_collect(b, err) : CELER_OK;
}

static celer_status cuda_forward(backend *b, kv_cache *kv, const celer_batch *batch, float *logits, celer_error *err) {
    b->n_events = 0;
    celer_status st = forward_inner(b, kv, batch, logits, err);
    if (st != CELER_OK) cudaStreamSynchronize(b->stream); /* nothing left running on our buffers */
    return st;
}

/* Enables (creating the events once) or disables profiling; resets the totals. Events
 * that cannot be created leave profiling off: it reports nothing rather than failing. */
static void cuda_profile(backend *b, bool enable) {
    memset(b->op_calls, 0, sizeof(b->op_calls));
    memset(b->op_seconds, 0, sizeof(b->op_seconds));
    b->n_events = 0;
    b->profile = false;
    if (!enable) return;
    if (!b->events) {
        const int32_t stages = 8 * b->dm.hp.n_layer + 2;
        b->events = (cudaEvent_t *)calloc((size_t)(2 * stages), sizeof(cudaEvent_t));
        b->event_ops = (op_id *)calloc((size_t)stages, sizeof(op_id));
        if (!b->events || !b->event_ops) {
            free(b->events), free(b->event_ops);
            b->events = NULL, b->event_ops = NULL;
            return;
        }
        for (; b->max_events < 2 * stages; b->max_events++)
            if (cudaEventCreate(&b->events[b->max_events]) != cudaSuccess) return;
    }
    b->profile = true;
}

static int32_t cuda_profile_get(const backend *b, celer_op_stat *out, int32_t max) {
    return backend_profile_report(op_names, b->op_calls, b->op_seconds, OP_COUNT, out, max);
}

extern "C" const backend_ops backend_cuda = {.name = "cuda", .init = cuda_init, .forward = cuda_forward, .free = cuda_free_backend,
                                              .profile = cuda_profile, .profile_get = cuda_profile_get};
