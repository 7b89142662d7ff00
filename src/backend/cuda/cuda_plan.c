/* cuda_plan.c: the CUDA backend's memory arithmetic (see cuda_plan.h). Plain C, built in
 * every configuration. Tests: tests/test_gpu_plan.c. */
#include "backend/cuda/cuda_plan.h"

#include "engine/kv_cache.h"

int32_t gpu_plan_tensors(const model *m, const model_tensor **out) {
    int32_t n = 0;
    out[n++] = &m->tok_embd;
    out[n++] = &m->output_norm;
    if (m->output.data != m->tok_embd.data) out[n++] = &m->output;
    for (int32_t il = 0; il < m->hp.n_layer; il++) {
        const model_layer *l = &m->layers[il];
        const model_tensor *ts[] = {&l->attn_norm, &l->wq, &l->wk, &l->wv, &l->bq, &l->bk, &l->bv, &l->wo, &l->ffn_norm, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
            if (ts[i]->data) out[n++] = ts[i];
    }
    return n;
}

int64_t gpu_plan_tile_rows(int64_t rows, int64_t cols) {
    int64_t tile = GPU_DEQUANT_TILE_ELEMS / (cols > 0 ? cols : 1);
    if (tile < 1) tile = 1;
    return tile < rows ? tile : rows;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

void gpu_plan_compute(const model *m, int32_t n_ctx, int32_t n_batch, gpu_plan *p) {
    const model_hparams *hp = &m->hp;
    const int64_t nb = n_batch, q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    *p = (gpu_plan){.n_ctx = n_ctx, .n_batch = n_batch, .reserve = GPU_PLAN_RESERVE};
    p->n_cells = (int32_t)(((int64_t)n_ctx + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE * KV_BLOCK_SIZE);
    p->decode_chunks = (int32_t)(((int64_t)p->n_cells + GPU_ATTENTION_CHUNK - 1) / GPU_ATTENTION_CHUNK);
    if (p->decode_chunks > GPU_ATTENTION_MAX_CHUNKS) p->decode_chunks = GPU_ATTENTION_MAX_CHUNKS;

    const model_tensor *ts[GPU_PLAN_MAX_TENSORS(hp->n_layer)];
    int32_t n = gpu_plan_tensors(m, ts);
    int64_t w16 = 0, tile_rows = 0;
    for (int32_t i = 0; i < n; i++) {
        p->weights += gpu_plan_align((uint64_t)ts[i]->row_bytes * (uint64_t)ts[i]->ne[1]);
        if (ts[i]->ne[1] > 1 && ts[i] != &m->tok_embd) { /* a matrix some product reads */
            int64_t rows = gpu_plan_tile_rows(ts[i]->ne[1], ts[i]->ne[0]);
            w16 = max64(w16, rows * ts[i]->ne[0]);
            tile_rows = max64(tile_rows, rows);
        }
    }
    if (m->output.data == m->tok_embd.data) { /* the tied head is a product too */
        int64_t rows = gpu_plan_tile_rows(m->output.ne[1], m->output.ne[0]);
        w16 = max64(w16, rows * m->output.ne[0]);
        tile_rows = max64(tile_rows, rows);
    }
    if (m->rope_freq_factors) p->weights += gpu_plan_align((uint64_t)(hp->n_rot / 2) * sizeof(float));
    p->tile_rows_max = tile_rows;
    p->kv = 2ull * (uint64_t)hp->n_layer * (uint64_t)p->n_cells * (uint64_t)kv_dim * sizeof(uint16_t);

    gpu_scratch_sizes *s = &p->sizes;
    s->x = s->xn = s->out_xn = nb * hp->n_embd;
    s->q = s->att = nb * q_dim;
    s->k = s->v = nb * kv_dim;
    s->gate = s->up = nb * hp->n_ff;
    s->logits = nb * hp->n_vocab;
    s->partial = max64((int64_t)GPU_MATVEC_MAX_TOKENS * hp->n_head * p->decode_chunks * (hp->head_dim + 2),
                       nb * hp->n_head * (hp->head_dim + 2));
    s->x16 = nb * max64(max64(hp->n_embd, q_dim), hp->n_ff);
    s->w16 = w16;
    s->inputs = 5 * nb + p->n_cells / KV_BLOCK_SIZE;
    const int64_t floats[] = {s->x, s->xn, s->q, s->k, s->v, s->att, s->gate, s->up, s->out_xn, s->logits, s->partial, s->inputs};
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) p->scratch += gpu_plan_align((uint64_t)floats[i] * 4);
    p->scratch += gpu_plan_align((uint64_t)s->x16 * 2) + gpu_plan_align((uint64_t)s->w16 * 2);
    p->total = p->weights + p->kv + p->scratch + p->reserve;
}

int32_t gpu_plan_max_ctx(const model *m, int32_t n_batch, uint64_t free_bytes, int32_t limit) {
    gpu_plan p;
    int32_t lo = 0, hi = limit / KV_BLOCK_SIZE; /* in blocks: the largest count that fits */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        gpu_plan_compute(m, mid * KV_BLOCK_SIZE, n_batch, &p);
        if (p.total <= free_bytes) lo = mid;
        else hi = mid - 1;
    }
    return lo * KV_BLOCK_SIZE;
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

celer_status gpu_plan_check(const gpu_plan *p, const model *m, uint64_t free_bytes, const char *device, celer_error *err) {
    if (p->total <= free_bytes) return CELER_OK;
    int32_t fits = gpu_plan_max_ctx(m, p->n_batch, free_bytes, p->n_ctx);
    char hint[96] = "the weights alone do not fit";
    if (fits > 0) snprintf(hint, sizeof(hint), "-c %d would fit", fits);
    return celer_error_set(err, CELER_ERR_NOMEM,
                           "--gpu: the model does not fit on %s: weights %.0f MiB + KV cache %.0f MiB (%d positions) + scratch %.0f MiB "
                           "(batch %d) + reserve %.0f MiB = %.0f MiB, but %.0f MiB are free (%s)",
                           device, mib(p->weights), mib(p->kv), p->n_ctx, mib(p->scratch), p->n_batch, mib(p->reserve), mib(p->total),
                           mib(free_bytes), hint);
}
