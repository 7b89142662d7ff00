/* ops.c: scalar reference operations of the CPU backend. Tested in tests/test_ops.c
 * and end to end against llama.cpp in tests/test_parity.c. */
#include "backend/cpu/ops.h"

#include <math.h>
#include <string.h>

#include "core/half.h"
#include "quant/quant.h"

void cpu_rmsnorm(float *out, const float *x, const float *weight, int64_t n, int64_t dim, float eps) {
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * dim;
        float *oi = out + i * dim;
        double sum = 0.0;
        for (int64_t j = 0; j < dim; j++) sum += (double)(xi[j] * xi[j]);
        float mean = (float)(sum / (double)dim);
        float scale = 1.0f / sqrtf(mean + eps);
        for (int64_t j = 0; j < dim; j++) oi[j] = (xi[j] * scale) * weight[j];
    }
}

size_t cpu_matmul_scratch_bytes(uint32_t type, int64_t dim, int64_t n) {
    const quant_traits *tr = quant_get_traits(type);
    if (!tr) return 0;
    return quant_row_size(tr->vec_dot_type, dim) * (size_t)n;
}

typedef struct {
    const model_tensor *w;
    const float *x;
    int64_t n;
    float *y;
    void *act;            /* (n, act_row_bytes) x quantized to the vec_dot type */
    size_t act_row_bytes;
    const quant_traits *act_traits;
    const quant_traits *w_traits;
} matmul_job;

static void matmul_quantize_rows(void *ctx, int ith, int nth) {
    matmul_job *j = ctx;
    long long begin, end;
    threadpool_split(j->n, ith, nth, &begin, &end);
    for (long long t = begin; t < end; t++)
        j->act_traits->quantize_row(j->x + t * j->w->ne[0], (char *)j->act + t * j->act_row_bytes, j->w->ne[0]);
}

static void matmul_rows(void *ctx, int ith, int nth) {
    matmul_job *j = ctx;
    int64_t rows = j->w->ne[1], cols = j->w->ne[0];
    long long begin, end;
    threadpool_split(rows, ith, nth, &begin, &end);
    for (long long r = begin; r < end; r++) {
        const char *wrow = (const char *)j->w->data + r * j->w->row_bytes;
        for (int64_t t = 0; t < j->n; t++)
            j->y[t * rows + r] = j->w_traits->vec_dot(cols, wrow, (const char *)j->act + t * j->act_row_bytes);
    }
}

void cpu_matmul(threadpool *pool, const model_tensor *w, const float *x, int64_t n, float *y, void *scratch) {
    const quant_traits *wt = quant_get_traits(w->type);
    CHECK(wt && wt->vec_dot);
    const quant_traits *at = quant_get_traits(wt->vec_dot_type);
    CHECK(at && at->quantize_row);
    matmul_job j = {.w = w, .x = x, .n = n, .y = y, .act = scratch, .act_row_bytes = quant_row_size(wt->vec_dot_type, w->ne[0]),
                    .act_traits = at, .w_traits = wt};
    threadpool_run(pool, matmul_quantize_rows, &j);
    threadpool_run(pool, matmul_rows, &j);
}

void cpu_add_bias(float *x, const float *bias, int64_t n, int64_t dim) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++) x[i * dim + j] += bias[j];
}

/* theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i, computed as ggml does (by
 * repeated multiplication) so angles match llama.cpp bit for bit. */
void cpu_rope(float *x, const int32_t *pos, int64_t n, int32_t n_heads, const model_hparams *hp, const float *freq_factors) {
    const int32_t hd = hp->head_dim, n_rot = hp->n_rot;
    const float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)n_rot);
    for (int64_t t = 0; t < n; t++) {
        float theta_base = (float)pos[t];
        for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
            float ff = freq_factors ? freq_factors[i0 / 2] : 1.0f;
            float theta = hp->rope_freq_scale * (theta_base / ff);
            float c = cosf(theta), s = sinf(theta);
            for (int32_t h = 0; h < n_heads; h++) {
                float *v = x + (t * n_heads + h) * hd;
                int32_t a = hp->rope_pairs == ROPE_PAIRS_ADJACENT ? i0 : i0 / 2;
                int32_t b = hp->rope_pairs == ROPE_PAIRS_ADJACENT ? i0 + 1 : i0 / 2 + n_rot / 2;
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * c - x1 * s;
                v[b] = x0 * s + x1 * c;
            }
            theta_base *= theta_scale;
        }
    }
}

void cpu_silu_mul(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = (g / (1.0f + expf(-g))) * up[i];
    }
}

static void attention_rows(void *ctx, int ith, int nth) {
    const cpu_attention_args *a = ctx;
    const model_hparams *hp = a->hp;
    const int32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = a->scores + (int64_t)ith * a->n_ctx;
    uint16_t qh[1024];
    CHECK(hd <= 1024);
    long long begin, end;
    threadpool_split(a->n * hp->n_head, ith, nth, &begin, &end);
    for (long long job = begin; job < end; job++) {
        int64_t t = job / hp->n_head;
        int32_t h = (int32_t)(job % hp->n_head), kvh = h / group;
        int32_t seq = a->seq_id[t], n_pos = a->pos[t] + 1;
        CHECK(n_pos <= a->n_ctx);
        const float *q = a->q + (t * hp->n_head + h) * hd;
        for (int32_t d = 0; d < hd; d++) qh[d] = celer_fp32_to_fp16(q[d]);
        float max = -INFINITY;
        for (int32_t p = 0; p < n_pos; p++) {
            const uint16_t *k = kv_cache_k(a->kv, a->layer, seq, p) + kvh * hd;
            float dot = 0.0f;
            for (int32_t d = 0; d < hd; d++) dot += celer_fp16_to_fp32(qh[d]) * celer_fp16_to_fp32(k[d]);
            scores[p] = dot * scale;
            if (scores[p] > max) max = scores[p];
        }
        double sum = 0.0;
        for (int32_t p = 0; p < n_pos; p++) {
            scores[p] = expf(scores[p] - max);
            sum += (double)scores[p];
        }
        float inv = (float)(1.0 / sum);
        float *out = a->out + (t * hp->n_head + h) * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int32_t p = 0; p < n_pos; p++) {
            float w = celer_fp16_to_fp32(celer_fp32_to_fp16(scores[p] * inv));
            const uint16_t *v = kv_cache_v(a->kv, a->layer, seq, p) + kvh * hd;
            for (int32_t d = 0; d < hd; d++) out[d] += w * celer_fp16_to_fp32(v[d]);
        }
    }
}

void cpu_attention(threadpool *pool, const cpu_attention_args *a) { threadpool_run(pool, attention_rows, (void *)a); }
