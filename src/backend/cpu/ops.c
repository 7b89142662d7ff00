/* ops.c: scalar reference operations of the CPU backend. Tested in tests/test_ops.c
 * and end to end against llama.cpp in tests/test_parity.c. */
#include "backend/cpu/ops.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core/half.h"
#include "quant/kernels.h"
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
    size_t row = quant_row_size(tr->vec_dot_type, dim);
    const quant_kernels *kern = quant_kernels_get(type);
    if (kern && kern->gemm_packed_wide && quant_kernels_wide_row_bytes(dim) > row) row = quant_kernels_wide_row_bytes(dim);
    return row * (size_t)n;
}

/* Work is handed out in units of weight rows (all tokens); each unit walks the tokens in
 * blocks of TOKEN_BLOCK so its rows stay in cache while activations stream. Units are
 * multiples of ROW_BLOCK rows. For batches, each unit is ROW_BLOCK rows, taken one at a
 * time (many small units balance the threads). For a few tokens, where a product is a
 * stream through the weights, a thread takes a run of units at once, a share of what is
 * left that shrinks as the product nears its end (guided scheduling): long contiguous
 * runs the hardware prefetcher can follow at first, single units at the end, so the
 * threads finish within a unit of each other at the barrier that follows. Products of
 * more than STREAM_MAX_TOKENS tokens use the kernels' wide activations where they have
 * them (gemm_packed_wide). */
#define ROW_BLOCK 16
#define TOKEN_BLOCK 64
#define STREAM_MAX_TOKENS CPU_MATMUL_STREAM_MAX_TOKENS
#define GUIDED_SHARE 2 /* a run is what is left / (GUIDED_SHARE x threads) units */

static void matmul_rows(const cpu_matmul_job *j, const char *act, int i, int64_t r0, int64_t r1) {
    const model_tensor *w = j->outs[i].w;
    const int a = j->act_of_out[i];
    for (int64_t t0 = 0; t0 < j->n; t0 += TOKEN_BLOCK) {
        int64_t nt = j->n - t0 < TOKEN_BLOCK ? j->n - t0 : TOKEN_BLOCK;
        (j->act_wide[a] ? j->kernels[i]->gemm_packed_wide : w->pack_rows ? j->kernels[i]->gemm_packed : j->kernels[i]->gemm)(
            j->k, w->data, w->row_bytes, r0, r1, act + j->act_off[a] + t0 * (int64_t)j->act_row_bytes[a], j->act_row_bytes[a], nt,
            j->outs[i].y + t0 * w->ne[1], w->ne[1]);
    }
}

/* Units [begin, end) of the activation quantization: unit u is row u % n of x to the
 * activation type u / n. */
static void quantize_rows(const cpu_matmul_job *j, const float *x, char *act, long long begin, long long end) {
    for (long long u = begin; u < end; u++) {
        int a = (int)(u / j->n);
        int64_t t = u % j->n;
        (j->act_wide[a] ? j->act_kernels[a]->quantize_act_wide : j->act_kernels[a]->quantize_act)(
            x + t * j->k, act + j->act_off[a] + t * (int64_t)j->act_row_bytes[a], j->k);
    }
}

void cpu_matmul_job_quantize(const cpu_matmul_job *j, const float *x, void *act) { quantize_rows(j, x, act, 0, j->n * j->n_act); }

/* Rows [r0, r1) of output i, with the SiLU product and the residual add on them. */
static void job_rows(const cpu_matmul_job *j, const void *act, int i, int64_t r0, int64_t r1, float *residual) {
    const int64_t rows = j->outs[i].w->ne[1];
    matmul_rows(j, act, i, r0, r1);
    if (j->swiglu) { /* y0 = silu(y0) * y1 on these rows, both products computed here */
        matmul_rows(j, act, 1, r0, r1);
        for (int64_t t = 0; t < j->n; t++) cpu_silu_mul(j->outs[0].y + t * rows + r0, j->outs[1].y + t * rows + r0, r1 - r0);
    }
    if (residual) /* residual += y on these rows */
        for (int64_t t = 0; t < j->n; t++) {
            const float *y = j->outs[i].y + t * rows;
            float *x = residual + t * rows;
            for (int64_t r = r0; r < r1; r++) x[r] += y[r];
        }
}

void cpu_matmul_job_work(cpu_matmul_job *j, const void *act, float *residual) {
    const long long total = j->unit_start[j->n_out];
    for (;;) {
        long long u0 = atomic_load_explicit(&j->next_unit, memory_order_relaxed), u1;
        do { /* claim [u0, u1): one unit, or a guided run of them */
            if (u0 >= total) return;
            long long take = j->guided ? (total - u0) / (GUIDED_SHARE * j->n_threads) : 1;
            u1 = u0 + (take < 1 ? 1 : take);
        } while (!atomic_compare_exchange_weak_explicit(&j->next_unit, &u0, u1, memory_order_relaxed, memory_order_relaxed));
        for (int i = 0; i < j->n_out; i++) { /* the part of the run in each output's units */
            const long long a = u0 > j->unit_start[i] ? u0 : j->unit_start[i], b = u1 < j->unit_start[i + 1] ? u1 : j->unit_start[i + 1];
            if (a >= b) continue;
            const int64_t rows = j->outs[i].w->ne[1], r0 = (a - j->unit_start[i]) * ROW_BLOCK, r1 = (b - j->unit_start[i]) * ROW_BLOCK;
            job_rows(j, act, i, r0, r1 < rows ? r1 : rows, residual);
        }
    }
}

typedef struct {
    cpu_matmul_job *j;
    const float *x;
    char *act;
    threadpool *pool;
    bool quantized; /* the activations were quantized before the job */
} matmul_run;

static void matmul_worker(void *ctx, int ith, int nth) {
    matmul_run *run = ctx;
    /* 1. quantize x once per activation type, rows split over threads (done by the caller
     * before the job for a few tokens, saving a barrier) */
    if (!run->quantized) {
        long long begin, end;
        threadpool_split(run->j->n * run->j->n_act, ith, nth, &begin, &end);
        quantize_rows(run->j, run->x, run->act, begin, end);
        threadpool_barrier(run->pool);
    }
    /* 2. row blocks of every product, handed out one at a time */
    cpu_matmul_job_work(run->j, run->act, NULL);
}

void cpu_matmul_job_init(cpu_matmul_job *j, const cpu_matmul_out *outs, int n_out, int64_t n, bool swiglu, int n_threads) {
    CHECK(n_out >= 1 && n_out <= CPU_MATMUL_MAX_OUT && n >= 1);
    memset(j, 0, sizeof(*j));
    j->outs = outs;
    j->n_out = n_out;
    j->swiglu = swiglu;
    j->n = n;
    j->k = outs[0].w->ne[0];
    size_t next = 0;
    for (int i = 0; i < n_out; i++) {
        const model_tensor *w = outs[i].w;
        CHECK(w->ne[0] == j->k);
        j->kernels[i] = quant_kernels_get(w->type);
        CHECK(j->kernels[i]);
        CHECK(w->pack_rows == 0 || (w->pack_rows == j->kernels[i]->pack_rows && ROW_BLOCK % w->pack_rows == 0));
        uint32_t at = quant_get_traits(w->type)->vec_dot_type;
        const bool wide = n > STREAM_MAX_TOKENS && w->pack_rows && j->kernels[i]->gemm_packed_wide;
        int a = 0;
        while (a < j->n_act && (j->act_type[a] != at || j->act_wide[a] != wide)) a++;
        if (a == j->n_act) {
            j->act_type[a] = at;
            j->act_wide[a] = wide;
            j->act_row_bytes[a] = wide ? quant_kernels_wide_row_bytes(j->k) : quant_row_size(at, j->k);
            j->act_off[a] = next;
            j->act_kernels[a] = j->kernels[i];
            next += j->act_row_bytes[a] * (size_t)n;
            j->n_act++;
        }
        j->act_of_out[i] = a;
    }
    if (swiglu) CHECK(n_out == 2 && outs[0].w->ne[1] == outs[1].w->ne[1]);
    int units_of = swiglu ? 1 : n_out; /* swiglu: a unit of the gate does the up rows too */
    j->n_threads = n_threads;
    j->guided = n <= STREAM_MAX_TOKENS;
    j->unit_start[0] = 0;
    for (int i = 0; i < n_out; i++)
        j->unit_start[i + 1] = j->unit_start[i] + (i < units_of ? (outs[i].w->ne[1] + ROW_BLOCK - 1) / ROW_BLOCK : 0);
    atomic_init(&j->next_unit, 0);
}

void cpu_matmul_fused(threadpool *pool, const cpu_matmul_out *outs, int n_out, const float *x, int64_t n, void *scratch, bool swiglu) {
    cpu_matmul_job j;
    cpu_matmul_job_init(&j, outs, n_out, n, swiglu, threadpool_size(pool));
    matmul_run run = {.j = &j, .x = x, .act = scratch, .pool = pool};
    if (n <= STREAM_MAX_TOKENS) {
        quantize_rows(&j, x, scratch, 0, n * j.n_act);
        run.quantized = true;
    }
    threadpool_run(pool, matmul_worker, &run);
}

void cpu_matmul(threadpool *pool, const model_tensor *w, const float *x, int64_t n, float *y, void *scratch) {
    cpu_matmul_out out = {.w = w, .y = y};
    cpu_matmul_fused(pool, &out, 1, x, n, scratch, false);
}

void cpu_add_bias(float *x, const float *bias, int64_t n, int64_t dim) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++) x[i * dim + j] += bias[j];
}

/* theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i, computed as ggml does (by
 * repeated multiplication) so angles match llama.cpp bit for bit. */
void cpu_rope_angles(float *cs, int32_t pos, const model_hparams *hp, const float *freq_factors) {
    const int32_t n_rot = hp->n_rot;
    const float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)n_rot);
    float theta_base = (float)pos;
    for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
        float ff = freq_factors ? freq_factors[i0 / 2] : 1.0f;
        float theta = hp->rope_freq_scale * (theta_base / ff);
        cs[i0] = cosf(theta);
        cs[i0 + 1] = sinf(theta);
        theta_base *= theta_scale;
    }
}

void cpu_rope_head(float *v, const float *cs, const model_hparams *hp) {
    const int32_t n_rot = hp->n_rot;
    const bool adjacent = hp->rope_pairs == ROPE_PAIRS_ADJACENT;
    for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
        const float c = cs[i0], s = cs[i0 + 1];
        const int32_t a = adjacent ? i0 : i0 / 2, b = adjacent ? i0 + 1 : i0 / 2 + n_rot / 2;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

void cpu_rope(float *x, const int32_t *pos, int64_t n, int32_t n_heads, const model_hparams *hp, const float *freq_factors) {
    float cs[MODEL_MAX_HEAD_DIM];
    CHECK(hp->n_rot <= MODEL_MAX_HEAD_DIM);
    for (int64_t t = 0; t < n; t++) {
        cpu_rope_angles(cs, pos[t], hp, freq_factors);
        for (int32_t h = 0; h < n_heads; h++) cpu_rope_head(x + (t * n_heads + h) * hp->head_dim, cs, hp);
    }
}

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#include "quant/simd_avx2.h"
#define ATTENTION_SIMD 1

#else
#define ATTENTION_SIMD 0
#endif

#if ATTENTION_SIMD
/* e^x for 8 floats, x clamped to [-87.3, 88.7]: Cody-Waite reduction by ln 2 and a
 * degree-6 polynomial (Cephes' expf), relative error about 2e-7. */
static inline __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

#endif

void cpu_silu_mul(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
#if ATTENTION_SIMD
    for (; i + 8 <= n; i += 8) { /* g / (1 + e^-g) * u, e^x as exp256 */
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), _mm256_loadu_ps(up + i)));
    }
#endif
    for (; i < n; i++) {
        float g = gate[i];
        gate[i] = (g / (1.0f + expf(-g))) * up[i];
    }
}


/* The scalar path (head dims that are not a multiple of 8, builds without AVX2). */
static float dot_f16(const float *q, const uint16_t *k, int32_t hd) {
    float dot = 0.0f;
    for (int32_t d = 0; d < hd; d++) dot += q[d] * celer_fp16_to_fp32(k[d]);
    return dot;
}

/* The group's queries (heads contiguous from q) rounded to fp16, as ggml converts them
 * for its f16 K·Q product. */
static void round_queries(const float *q, int32_t group, int32_t hd, float *qf) {
    for (int32_t i = 0; i < group * hd; i++) qf[i] = celer_fp16_to_fp32(celer_fp32_to_fp16(q[i]));
}

static void axpy_f16(float *out, float w, const uint16_t *v, int32_t hd) {
    for (int32_t d = 0; d < hd; d++) out[d] += w * celer_fp16_to_fp32(v[d]);
}

#if ATTENTION_SIMD
#define ATT_MAX_CHUNKS (CPU_ATTENTION_MAX_HEAD_DIM / 8)

/* Consecutive positions of a KV block are consecutive rows of n_kv_dim (kv_cache.h), so
 * rows are looked up once per block: an 8-key group starting at a multiple of 8 lies in
 * one block, and kv_next steps from the previous position's row (prev, NULL at the
 * first) to position p's. */
_Static_assert(KV_BLOCK_SIZE % 8 == 0, "8-key groups must not straddle KV blocks");
static inline const uint16_t *kv_next(const cpu_attention_args *a, bool v, int32_t seq, int32_t p, int32_t off,
                                      const uint16_t *prev) {
    if (prev && p % KV_BLOCK_SIZE != 0) return prev + (size_t)a->hp->n_head_kv * a->hp->head_dim;
    return (v ? kv_cache_v : kv_cache_k)(a->kv, a->layer, seq, p) + off;
}

/* n <= 8 keys (v false) or values of KV head kvh from position p on, p a multiple of 8
 * (one block), converted from fp16 into dst: row i at dst + i * 8 * nc. */
static inline __attribute__((always_inline)) void kv_rows_f32(const cpu_attention_args *a, bool v, int32_t seq, int32_t p, int32_t kvh,
                                                              int32_t n, float *dst, const int32_t nc) {
    const size_t stride = (size_t)a->hp->n_head_kv * a->hp->head_dim;
    const uint16_t *row = (v ? kv_cache_v : kv_cache_k)(a->kv, a->layer, seq, p) + (size_t)kvh * 8 * nc;
    for (int32_t i = 0; i < n; i++) {
#pragma GCC unroll 16
        for (int32_t c = 0; c < nc; c++)
            _mm256_storeu_ps(dst + (size_t)i * 8 * nc + 8 * c, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i * stride + 8 * c))));
    }
}

/* Scores of one fp16 key row against the group's queries: s[g * stride] = scale qf_g · k,
 * with m[g] raised to the largest score seen. */
static inline __attribute__((always_inline)) void key_scores(const uint16_t *k, const float *qf, int32_t group, int32_t nc,
                                                             float scale, float *s, int64_t stride, float *m) {
    __m256 kc[ATT_MAX_CHUNKS];
    for (int32_t c = 0; c < nc; c++) kc[c] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + 8 * c)));
    for (int32_t g = 0; g < group; g++) {
        const float *q = qf + g * 8 * nc;
        __m256 acc0 = _mm256_mul_ps(_mm256_loadu_ps(q), kc[0]), acc1 = _mm256_setzero_ps();
        int32_t c = 1;
        for (; c + 1 < nc; c += 2) {
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), kc[c], acc1);
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c + 8), kc[c + 1], acc0);
        }
        if (c < nc) acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), kc[c], acc1);
        const float sc = hsum8(_mm256_add_ps(acc0, acc1)) * scale;
        s[g * stride] = sc;
        if (sc > m[g]) m[g] = sc;
    }
}

/* The dot products of one query (8 * nc floats) with 8 fp32 key rows at kbuf (row stride
 * hd): lane i of the result is q · key i, unscaled. */
static inline __attribute__((always_inline)) __m256 scores8(const float *q, const float *kbuf, int32_t hd, int32_t nc) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int32_t i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    for (int32_t c = 0; c < nc; c++) {
        const __m256 qc = _mm256_loadu_ps(q + 8 * c);
#pragma GCC unroll 8
        for (int32_t i = 0; i < 8; i++) acc[i] = _mm256_fmadd_ps(qc, _mm256_loadu_ps(kbuf + i * hd + 8 * c), acc[i]);
    }
    /* lane i of the result = the sum of acc[i] */
    const __m256 h01 = _mm256_hadd_ps(acc[0], acc[1]), h23 = _mm256_hadd_ps(acc[2], acc[3]);
    const __m256 h45 = _mm256_hadd_ps(acc[4], acc[5]), h67 = _mm256_hadd_ps(acc[6], acc[7]);
    const __m256 h0123 = _mm256_hadd_ps(h01, h23), h4567 = _mm256_hadd_ps(h45, h67);
    return _mm256_add_ps(_mm256_permute2f128_ps(h0123, h4567, 0x20), _mm256_permute2f128_ps(h0123, h4567, 0x31));
}

/* The job of attention_rows with SIMD throughout: each key row converted from fp16 once
 * for all the group's heads; the softmax's exponentials 8 at a time; each head's output
 * accumulated in registers over all positions. hd a multiple of 8. */
static inline __attribute__((always_inline)) void attention_job_body(const cpu_attention_args *a, int64_t t, int32_t kvh,
                                                                     float *scores, const float *qf, const int32_t nc) {
    const model_hparams *hp = a->hp;
    const int32_t hd = 8 * nc, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    const int32_t seq = a->seq_id[t], n_pos = a->pos[t] + 1;
    float max[CPU_ATTENTION_MAX_GROUP];
    for (int32_t g = 0; g < group; g++) max[g] = -INFINITY;
    /* Scores 8 keys at a time: the keys converted once into kbuf, each head's 8 dot
     * products accumulated in 8 registers and reduced together (no sum per key). */
    float kbuf[8 * CPU_ATTENTION_MAX_HEAD_DIM];
    __m256 maxv[CPU_ATTENTION_MAX_GROUP];
    for (int32_t g = 0; g < group; g++) maxv[g] = _mm256_set1_ps(-INFINITY);
    const __m256 scv = _mm256_set1_ps(scale);
    int32_t p = 0;
    for (; p + 8 <= n_pos; p += 8) {
        kv_rows_f32(a, false, seq, p, kvh, 8, kbuf, nc);
        for (int32_t g = 0; g < group; g++) {
            __m256 sv = _mm256_mul_ps(scores8(qf + g * hd, kbuf, hd, nc), scv);
            _mm256_storeu_ps(scores + g * a->n_ctx + p, sv);
            maxv[g] = _mm256_max_ps(maxv[g], sv);
        }
    }
    for (int32_t g = 0; g < group; g++) {
        float m8[8];
        _mm256_storeu_ps(m8, maxv[g]);
        for (int32_t i = 0; i < 8; i++)
            if (m8[i] > max[g]) max[g] = m8[i];
    }
    for (const uint16_t *k = NULL; p < n_pos; p++) {
        k = kv_next(a, false, seq, p, kvh * hd, k);
        key_scores(k, qf, group, nc, scale, scores + p, a->n_ctx, max);
    }
    for (int32_t g = 0; g < group; g++) {
        float *sg = scores + g * a->n_ctx;
        const __m256 mv = _mm256_set1_ps(max[g]);
        __m256 sum8 = _mm256_setzero_ps();
        int32_t p = 0;
        for (; p + 8 <= n_pos; p += 8) {
            __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(sg + p), mv));
            _mm256_storeu_ps(sg + p, e);
            sum8 = _mm256_add_ps(sum8, e);
        }
        double sum = (double)hsum8(sum8);
        for (; p < n_pos; p++) {
            sg[p] = expf(sg[p] - max[g]);
            sum += (double)sg[p];
        }
        /* probabilities rounded to fp16, as ggml's f16 V·P product sees them */
        const float inv = (float)(1.0 / sum);
        const __m256 iv = _mm256_set1_ps(inv);
        for (p = 0; p + 8 <= n_pos; p += 8)
            _mm256_storeu_ps(sg + p, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(sg + p), iv), _MM_FROUND_TO_NEAREST_INT)));
        for (; p < n_pos; p++) sg[p] = celer_fp16_to_fp32(celer_fp32_to_fp16(sg[p] * inv));
    }
    /* Output: 8 value rows at a time converted once into vbuf, then each head's
     * accumulators taken into registers for those 8 rows (partial sums wait in accbuf). */
    float *accbuf = kbuf; /* (group, hd) <= 8 x hd floats when group <= 8; else per-head pass */
    if (group <= 8) {
        for (int32_t i = 0; i < group * hd; i++) accbuf[i] = 0.0f;
        float vbuf[8 * CPU_ATTENTION_MAX_HEAD_DIM];
        int32_t p0 = 0;
        for (; p0 + 8 <= n_pos; p0 += 8) {
            kv_rows_f32(a, true, seq, p0, kvh, 8, vbuf, nc);
            for (int32_t g = 0; g < group; g++) {
                const float *sg = scores + g * a->n_ctx + p0;
                __m256 acc[ATT_MAX_CHUNKS];
#pragma GCC unroll 16
                for (int32_t c = 0; c < nc; c++) acc[c] = _mm256_loadu_ps(accbuf + g * hd + 8 * c);
                for (int32_t i = 0; i < 8; i++) {
                    const __m256 w = _mm256_set1_ps(sg[i]);
#pragma GCC unroll 16
                    for (int32_t c = 0; c < nc; c++) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vbuf + i * hd + 8 * c), acc[c]);
                }
#pragma GCC unroll 16
                for (int32_t c = 0; c < nc; c++) _mm256_storeu_ps(accbuf + g * hd + 8 * c, acc[c]);
            }
        }
        for (int32_t g = 0; g < group; g++) {
            const float *sg = scores + g * a->n_ctx;
            float *out = a->out + (t * hp->n_head + kvh * group + g) * hd;
            __m256 acc[ATT_MAX_CHUNKS];
#pragma GCC unroll 16
            for (int32_t c = 0; c < nc; c++) acc[c] = _mm256_loadu_ps(accbuf + g * hd + 8 * c);
            const uint16_t *v = NULL;
            for (int32_t p = p0; p < n_pos; p++) {
                v = kv_next(a, true, seq, p, kvh * hd, v);
                const __m256 w = _mm256_set1_ps(sg[p]);
#pragma GCC unroll 16
                for (int32_t c = 0; c < nc; c++) acc[c] = _mm256_fmadd_ps(w, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8 * c))), acc[c]);
            }
#pragma GCC unroll 16
            for (int32_t c = 0; c < nc; c++) _mm256_storeu_ps(out + 8 * c, acc[c]);
        }
        return;
    }
    for (int32_t g = 0; g < group; g++) {
        const float *sg = scores + g * a->n_ctx;
        __m256 acc[ATT_MAX_CHUNKS];
#pragma GCC unroll 16
        for (int32_t c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
        const uint16_t *v = NULL;
        for (int32_t p = 0; p < n_pos; p++) {
            v = kv_next(a, true, seq, p, kvh * hd, v);
            const __m256 w = _mm256_set1_ps(sg[p]);
#pragma GCC unroll 16
            for (int32_t c = 0; c < nc; c++) acc[c] = _mm256_fmadd_ps(w, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8 * c))), acc[c]);
        }
        float *out = a->out + (t * hp->n_head + kvh * group + g) * hd;
#pragma GCC unroll 16
        for (int32_t c = 0; c < nc; c++) _mm256_storeu_ps(out + 8 * c, acc[c]);
    }
}
/* The body with the chunk count a constant for the common head dims (64, 128), so each
 * head's output accumulators stay in registers. */
static void attention_job_simd(const cpu_attention_args *a, int64_t t, int32_t kvh, float *scores, const float *qf) {
    switch (a->hp->head_dim) {
    case 64: attention_job_body(a, t, kvh, scores, qf, 8); break;
    case 128: attention_job_body(a, t, kvh, scores, qf, 16); break;
    default: attention_job_body(a, t, kvh, scores, qf, a->hp->head_dim / 8); break;
    }
}
/* Prefill: a tile of nt <= ATT_TILE tokens of one sequence and one KV head. Every 8-key
 * block of K and V is converted from fp16 once for all the tile's tokens and the group's
 * heads (per token, as attention_job_body does, the conversion costs as much as the
 * products). Row r = i * group + g of the tile is token t0 + i, head kvh * group + g;
 * its scores at scores + r * ld. Keys past a token's own position are left out: masked
 * to -inf for the maximum, and given weight 0 for the output. */
#define ATT_TILE CPU_ATTENTION_TILE
#define ATT_TILE_MAX_HEAD_DIM 128
#define ATT_TILE_MAX_GROUP 8
static inline __attribute__((always_inline)) void attention_tile_body(const cpu_attention_args *a, int64_t t0, int32_t nt,
                                                                      int32_t kvh, float *scores, int64_t ld, const int32_t nc) {
    const model_hparams *hp = a->hp;
    const int32_t hd = 8 * nc, group = hp->n_head / hp->n_head_kv, rows = nt * group;
    const float scale = 1.0f / sqrtf((float)hd);
    const int32_t seq = a->seq_id[t0];
    int32_t n_pos[ATT_TILE], max_pos = 0;
    float qf[ATT_TILE * ATT_TILE_MAX_GROUP * ATT_TILE_MAX_HEAD_DIM];
    for (int32_t i = 0; i < nt; i++) {
        n_pos[i] = a->pos[t0 + i] + 1;
        CHECK(n_pos[i] <= a->n_ctx);
        if (n_pos[i] > max_pos) max_pos = n_pos[i];
        round_queries(a->q + ((t0 + i) * hp->n_head + kvh * group) * hd, group, hd, qf + i * group * hd);
    }
    float buf[8 * ATT_TILE_MAX_HEAD_DIM]; /* 8 converted key or value rows */
    __m256 maxv[ATT_TILE * ATT_TILE_MAX_GROUP];
    for (int32_t r = 0; r < rows; r++) maxv[r] = _mm256_set1_ps(-INFINITY);
    const __m256 scv = _mm256_set1_ps(scale), lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
    /* 1. scores, 8 keys at a time */
    for (int32_t p = 0; p < max_pos; p += 8) {
        const int32_t nk = max_pos - p < 8 ? max_pos - p : 8;
        kv_rows_f32(a, false, seq, p, kvh, nk, buf, nc);
        for (int32_t j = nk; j < 8; j++)
            for (int32_t c = 0; c < nc; c++) _mm256_storeu_ps(buf + j * hd + 8 * c, _mm256_setzero_ps());
        for (int32_t r = 0; r < rows; r++) {
            const int32_t i = r / group;
            if (p >= n_pos[i]) continue;
            __m256 sv = _mm256_mul_ps(scores8(qf + r * hd, buf, hd, nc), scv);
            /* keys at or past n_pos[i] do not count */
            const __m256 valid = _mm256_cmp_ps(lane, _mm256_set1_ps((float)(n_pos[i] - p)), _CMP_LT_OQ);
            sv = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), sv, valid);
            _mm256_storeu_ps(scores + r * ld + p, sv);
            maxv[r] = _mm256_max_ps(maxv[r], sv);
        }
    }
    /* 2. softmax per row, probabilities rounded to fp16 as in attention_job_body */
    for (int32_t r = 0; r < rows; r++) {
        const int32_t np = n_pos[r / group];
        float *sg = scores + r * ld;
        float m8[8], max = -INFINITY;
        _mm256_storeu_ps(m8, maxv[r]);
        for (int32_t j = 0; j < 8; j++)
            if (m8[j] > max) max = m8[j];
        const __m256 mv = _mm256_set1_ps(max);
        __m256 sum8 = _mm256_setzero_ps();
        int32_t p = 0;
        for (; p + 8 <= np; p += 8) {
            __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(sg + p), mv));
            _mm256_storeu_ps(sg + p, e);
            sum8 = _mm256_add_ps(sum8, e);
        }
        double sum = (double)hsum8(sum8);
        for (; p < np; p++) {
            sg[p] = expf(sg[p] - max);
            sum += (double)sg[p];
        }
        const float inv = (float)(1.0 / sum);
        const __m256 iv = _mm256_set1_ps(inv);
        for (p = 0; p + 8 <= np; p += 8)
            _mm256_storeu_ps(sg + p, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(sg + p), iv), _MM_FROUND_TO_NEAREST_INT)));
        for (; p < np; p++) sg[p] = celer_fp16_to_fp32(celer_fp32_to_fp16(sg[p] * inv));
    }
    /* 3. output: 8 value rows at a time converted once, each row's accumulators taken
     * into registers for them (partial sums wait in accbuf) */
    float accbuf[ATT_TILE * ATT_TILE_MAX_GROUP * ATT_TILE_MAX_HEAD_DIM];
    for (int32_t i = 0; i < rows * hd; i++) accbuf[i] = 0.0f;
    for (int32_t p = 0; p < max_pos; p += 8) {
        const int32_t nk = max_pos - p < 8 ? max_pos - p : 8;
        kv_rows_f32(a, true, seq, p, kvh, nk, buf, nc);
        for (int32_t r = 0; r < rows; r++) {
            const int32_t np = n_pos[r / group];
            if (p >= np) continue;
            const int32_t cnt = np - p < nk ? np - p : nk;
            const float *sg = scores + r * ld + p;
            __m256 acc[ATT_MAX_CHUNKS];
#pragma GCC unroll 16
            for (int32_t c = 0; c < nc; c++) acc[c] = _mm256_loadu_ps(accbuf + r * hd + 8 * c);
            for (int32_t j = 0; j < cnt; j++) {
                const __m256 w = _mm256_set1_ps(sg[j]);
#pragma GCC unroll 16
                for (int32_t c = 0; c < nc; c++) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(buf + j * hd + 8 * c), acc[c]);
            }
#pragma GCC unroll 16
            for (int32_t c = 0; c < nc; c++) _mm256_storeu_ps(accbuf + r * hd + 8 * c, acc[c]);
        }
    }
    for (int32_t r = 0; r < rows; r++) {
        float *out = a->out + ((t0 + r / group) * hp->n_head + kvh * group + r % group) * hd;
        memcpy(out, accbuf + r * hd, (size_t)hd * sizeof(float));
    }
}

/* The tile body with the chunk count a constant for the common head dims. */
static void attention_tile_simd(const cpu_attention_args *a, int64_t t0, int32_t nt, int32_t kvh, float *scores, int64_t ld) {
    switch (a->hp->head_dim) {
    case 64: attention_tile_body(a, t0, nt, kvh, scores, ld, 8); break;
    case 128: attention_tile_body(a, t0, nt, kvh, scores, ld, 16); break;
    default: attention_tile_body(a, t0, nt, kvh, scores, ld, a->hp->head_dim / 8); break;
    }
}
#endif

/* One job = one token and one KV head with the `group` query heads that share it: each
 * key and value row is read once for all of them. Scores live in a per-thread row of
 * (group, n_ctx) floats: memory linear in the context, never quadratic in the prompt. */
static void attention_rows(void *ctx, int ith, int nth) {
    const cpu_attention_args *a = ctx;
    const model_hparams *hp = a->hp;
    const int32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = a->scores + (int64_t)ith * group * a->n_ctx; /* (group, n_ctx) */
    float qf[CPU_ATTENTION_MAX_GROUP * CPU_ATTENTION_MAX_HEAD_DIM];
    CHECK(hd <= CPU_ATTENTION_MAX_HEAD_DIM && group <= CPU_ATTENTION_MAX_GROUP);
#if ATTENTION_SIMD
    /* A prompt: tiles of ATT_TILE tokens (one sequence) per KV head, dealt round-robin. */
    if (a->n > 1 && hd % 8 == 0 && hd <= ATT_TILE_MAX_HEAD_DIM && group <= ATT_TILE_MAX_GROUP) {
        const int64_t ld = (a->n_ctx + 7) / 8 * 8;
        float *tile_scores = a->scores + (int64_t)ith * ATT_TILE * group * ld;
        const long long n_tiles = (a->n + ATT_TILE - 1) / ATT_TILE, n_jobs = n_tiles * hp->n_head_kv;
        for (long long job = ith; job < n_jobs; job += nth) {
            const int64_t t0 = job / hp->n_head_kv * ATT_TILE;
            const int32_t kvh = (int32_t)(job % hp->n_head_kv), nt = a->n - t0 < ATT_TILE ? (int32_t)(a->n - t0) : ATT_TILE;
            bool one_seq = true;
            for (int32_t i = 1; i < nt; i++) one_seq = one_seq && a->seq_id[t0 + i] == a->seq_id[t0];
            if (one_seq) {
                attention_tile_simd(a, t0, nt, kvh, tile_scores, ld);
                continue;
            }
            for (int32_t i = 0; i < nt; i++) { /* tokens of several sequences: one at a time */
                CHECK(a->pos[t0 + i] + 1 <= a->n_ctx);
                round_queries(a->q + ((t0 + i) * hp->n_head + kvh * group) * hd, group, hd, qf);
                attention_job_simd(a, t0 + i, kvh, tile_scores, qf);
            }
        }
        return;
    }
#endif
    /* Jobs dealt round-robin: in a prompt, later tokens see more keys, so contiguous
     * ranges would leave the first thread idle while the last works. */
    const long long n_jobs = (long long)a->n * hp->n_head_kv;
    for (long long job = ith; job < n_jobs; job += nth) {
        int64_t t = job / hp->n_head_kv;
        int32_t kvh = (int32_t)(job % hp->n_head_kv);
        int32_t seq = a->seq_id[t], n_pos = a->pos[t] + 1;
        CHECK(n_pos <= a->n_ctx);
        round_queries(a->q + (t * hp->n_head + kvh * group) * hd, group, hd, qf);
#if ATTENTION_SIMD
        if (hd % 8 == 0) {
            attention_job_simd(a, t, kvh, scores, qf);
            continue;
        }
#endif
        float max[CPU_ATTENTION_MAX_GROUP];
        for (int32_t g = 0; g < group; g++) max[g] = -INFINITY;
        for (int32_t p = 0; p < n_pos; p++) {
            const uint16_t *k = kv_cache_k(a->kv, a->layer, seq, p) + kvh * hd;
            for (int32_t g = 0; g < group; g++) {
                float dot = dot_f16(qf + g * hd, k, hd);
                float sc = dot * scale;
                scores[g * a->n_ctx + p] = sc;
                if (sc > max[g]) max[g] = sc;
            }
        }
        for (int32_t g = 0; g < group; g++) {
            float *sg = scores + g * a->n_ctx;
            double sum = 0.0;
            for (int32_t p = 0; p < n_pos; p++) {
                sg[p] = expf(sg[p] - max[g]);
                sum += (double)sg[p];
            }
            /* probabilities rounded to fp16, as ggml's f16 V·P product sees them */
            float inv = (float)(1.0 / sum);
            for (int32_t p = 0; p < n_pos; p++) sg[p] = celer_fp16_to_fp32(celer_fp32_to_fp16(sg[p] * inv));
            memset(a->out + (t * hp->n_head + kvh * group + g) * hd, 0, (size_t)hd * sizeof(float));
        }
        for (int32_t p = 0; p < n_pos; p++) {
            const uint16_t *v = kv_cache_v(a->kv, a->layer, seq, p) + kvh * hd;
            for (int32_t g = 0; g < group; g++) {
                float *out = a->out + (t * hp->n_head + kvh * group + g) * hd;
                axpy_f16(out, scores[g * a->n_ctx + p], v, hd);
            }
        }
    }
}


#if ATTENTION_SIMD
/* Decode attention split over the context: one token, few KV heads. Items (KV head,
 * chunk of positions) are dealt round-robin to the threads, in four phases separated by
 * barriers: scores and each chunk's max; exponentials against the head's max and each
 * chunk's sum; probabilities (fp16-rounded, as in attention_rows) times V into a partial
 * output per chunk; the partial outputs summed. Buffer (a->scores): scores (n_head,
 * n_ctx), partial outputs (chunks, n_head, hd), maxes and sums (chunks, n_head). */
typedef struct {
    const cpu_attention_args *a;
    threadpool *pool;
    int32_t chunks;
} attention_split_job;

static void attention_split(void *ctx, int ith, int nth) {
    const attention_split_job *j = ctx;
    const cpu_attention_args *a = j->a;
    const model_hparams *hp = a->hp;
    const int32_t hd = hp->head_dim, nc = hd / 8, group = hp->n_head / hp->n_head_kv, n_head = hp->n_head, S = j->chunks;
    /* chunks of a multiple of 8 positions, so 8-key groups start at multiples of 8 */
    const int32_t seq = a->seq_id[0], n_pos = a->pos[0] + 1, len = ((n_pos + S - 1) / S + 7) / 8 * 8;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = a->scores, *part = sc + (size_t)n_head * a->n_ctx, *mx = part + (size_t)S * n_head * hd, *sm = mx + (size_t)S * n_head;
    const int32_t items = hp->n_head_kv * S;
    /* 1. scores and chunk maxes */
    for (int32_t it = ith; it < items; it += nth) {
        const int32_t kvh = it / S, c = it % S, p0 = c * len, p1 = p0 + len < n_pos ? p0 + len : n_pos;
        float qf[CPU_ATTENTION_MAX_GROUP * CPU_ATTENTION_MAX_HEAD_DIM], m[CPU_ATTENTION_MAX_GROUP];
        round_queries(a->q + (size_t)kvh * group * hd, group, hd, qf);
        float *sk = sc + (size_t)kvh * group * a->n_ctx; /* head g's scores: sk + g * n_ctx */
        /* 8 keys at a time as in attention_job_body: converted once, scored by scores8 */
        float kbuf[8 * CPU_ATTENTION_MAX_HEAD_DIM];
        __m256 m8[CPU_ATTENTION_MAX_GROUP];
        for (int32_t g = 0; g < group; g++) m8[g] = _mm256_set1_ps(-INFINITY);
        int32_t p = p0;
        for (; p + 8 <= p1; p += 8) {
            kv_rows_f32(a, false, seq, p, kvh, 8, kbuf, nc);
            for (int32_t g = 0; g < group; g++) {
                const __m256 sv = _mm256_mul_ps(scores8(qf + g * hd, kbuf, hd, nc), _mm256_set1_ps(scale));
                _mm256_storeu_ps(sk + (size_t)g * a->n_ctx + p, sv);
                m8[g] = _mm256_max_ps(m8[g], sv);
            }
        }
        for (int32_t g = 0; g < group; g++) {
            float l8[8];
            _mm256_storeu_ps(l8, m8[g]);
            m[g] = -INFINITY;
            for (int32_t i = 0; i < 8; i++)
                if (l8[i] > m[g]) m[g] = l8[i];
        }
        for (const uint16_t *k = NULL; p < p1; p++) {
            k = kv_next(a, false, seq, p, kvh * hd, k);
            key_scores(k, qf, group, nc, scale, sk + p, a->n_ctx, m);
        }
        for (int32_t g = 0; g < group; g++) mx[c * n_head + kvh * group + g] = m[g];
    }
    threadpool_barrier(j->pool);
    /* 2. exponentials and chunk sums */
    for (int32_t it = ith; it < items; it += nth) {
        const int32_t kvh = it / S, c = it % S, p0 = c * len, p1 = p0 + len < n_pos ? p0 + len : n_pos;
        for (int32_t g = 0; g < group; g++) {
            const int32_t h = kvh * group + g;
            float M = -INFINITY;
            for (int32_t cc = 0; cc < S; cc++)
                if (cc * len < n_pos && mx[cc * n_head + h] > M) M = mx[cc * n_head + h];
            float *sg = sc + (size_t)h * a->n_ctx;
            __m256 sum8 = _mm256_setzero_ps();
            int32_t p = p0;
            for (; p + 8 <= p1; p += 8) {
                __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(sg + p), _mm256_set1_ps(M)));
                _mm256_storeu_ps(sg + p, e);
                sum8 = _mm256_add_ps(sum8, e);
            }
            float sum = hsum8(sum8);
            for (; p < p1; p++) sum += sg[p] = expf(sg[p] - M);
            sm[c * n_head + h] = sum;
        }
    }
    threadpool_barrier(j->pool);
    /* 3. probabilities times V, a partial output per chunk: 8 value rows at a time
     * converted once for all the group's heads, each head's accumulators taken into
     * registers for them (its partial output holds them in between) */
    for (int32_t it = ith; it < items; it += nth) {
        const int32_t kvh = it / S, c = it % S, p0 = c * len, p1 = p0 + len < n_pos ? p0 + len : n_pos;
        float inv[CPU_ATTENTION_MAX_GROUP];
        for (int32_t g = 0; g < group; g++) {
            double total = 0.0;
            for (int32_t cc = 0; cc < S; cc++)
                if (cc * len < n_pos) total += (double)sm[cc * n_head + kvh * group + g];
            inv[g] = (float)(1.0 / total);
            float *dst = part + ((size_t)c * n_head + kvh * group + g) * hd;
            for (int32_t d = 0; d < hd; d++) dst[d] = 0.0f;
        }
        float vbuf[8 * CPU_ATTENTION_MAX_HEAD_DIM];
        int32_t p = p0;
        for (; p + 8 <= p1; p += 8) {
            kv_rows_f32(a, true, seq, p, kvh, 8, vbuf, nc);
            for (int32_t g = 0; g < group; g++) {
                const int32_t h = kvh * group + g;
                /* probabilities rounded to fp16, as in attention_rows */
                float w8[8];
                _mm256_storeu_ps(w8, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(sc + (size_t)h * a->n_ctx + p),
                                                                                   _mm256_set1_ps(inv[g])),
                                                                     _MM_FROUND_TO_NEAREST_INT)));
                float *dst = part + ((size_t)c * n_head + h) * hd;
                __m256 acc[ATT_MAX_CHUNKS];
                for (int32_t cc = 0; cc < nc; cc++) acc[cc] = _mm256_loadu_ps(dst + 8 * cc);
                for (int32_t i = 0; i < 8; i++) {
                    const __m256 w = _mm256_set1_ps(w8[i]);
                    for (int32_t cc = 0; cc < nc; cc++) acc[cc] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vbuf + i * hd + 8 * cc), acc[cc]);
                }
                for (int32_t cc = 0; cc < nc; cc++) _mm256_storeu_ps(dst + 8 * cc, acc[cc]);
            }
        }
        for (const uint16_t *v = NULL; p < p1; p++) {
            v = kv_next(a, true, seq, p, kvh * hd, v);
            for (int32_t g = 0; g < group; g++) {
                const int32_t h = kvh * group + g;
                const __m256 w = _mm256_set1_ps(celer_fp16_to_fp32(celer_fp32_to_fp16(sc[(size_t)h * a->n_ctx + p] * inv[g])));
                float *dst = part + ((size_t)c * n_head + h) * hd;
                for (int32_t cc = 0; cc < nc; cc++)
                    _mm256_storeu_ps(dst + 8 * cc, _mm256_fmadd_ps(w, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8 * cc))),
                                                                   _mm256_loadu_ps(dst + 8 * cc)));
            }
        }
    }
    threadpool_barrier(j->pool);
    /* 4. the partial outputs summed, chunks in order */
    for (int32_t h = ith; h < n_head; h += nth) {
        float *out = a->out + (size_t)h * hd;
        for (int32_t d = 0; d < hd; d++) out[d] = 0.0f;
        for (int32_t cc = 0; cc < S; cc++) {
            if (cc * len >= n_pos) break;
            const float *src = part + ((size_t)cc * n_head + h) * hd;
            for (int32_t d = 0; d < hd; d++) out[d] += src[d];
        }
    }
}
#endif

#if ATTENTION_SIMD
/* Decode attention splits the context when there are too few KV heads for the threads. */
static bool attention_splits(const cpu_attention_args *a, int nth) {
    const model_hparams *hp = a->hp;
    return a->n == 1 && nth > 1 && hp->head_dim % 8 == 0 && hp->n_head_kv < 2 * nth && a->pos[0] + 1 >= 256;
}
#endif

void cpu_attention(threadpool *pool, const cpu_attention_args *a) {
#if ATTENTION_SIMD
    const int nth = threadpool_size(pool);
    if (attention_splits(a, nth)) {
        attention_split_job j = {.a = a, .pool = pool, .chunks = CPU_ATTENTION_SPLIT(nth)};
        threadpool_run(pool, attention_split, &j);
        return;
    }
#endif
    threadpool_run(pool, attention_rows, (void *)a);
}

void cpu_attention_work(threadpool *pool, const cpu_attention_args *a, int ith, int nth) {
#if ATTENTION_SIMD
    if (attention_splits(a, nth)) {
        attention_split_job j = {.a = a, .pool = pool, .chunks = CPU_ATTENTION_SPLIT(nth)};
        attention_split(&j, ith, nth);
        return;
    }
#else
    (void)pool;
#endif
    attention_rows((void *)a, ith, nth);
}
