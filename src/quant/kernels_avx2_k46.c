/* kernels_avx2_k46.c: AVX2 matrix kernels for Q4_K and Q6_K weights (the bulk of the
 * Q4_K_M and Q5_K_M mixes) against Q8_K activations, and the Q8_K activation quantizer;
 * see kernels_x86.h.
 *
 * Per 256-element super-block and row, the levels are unpacked once into eight ymm
 * registers of 32 unsigned bytes and reused for every token of the call (up to TOK at a
 * time). _mm256_maddubs_epi16 multiplies levels with activations into int16 pair sums,
 * and _mm256_madd_epi16 against the sub-block scales widens them to int32 with the scale
 * applied, so a super-block costs one float FMA. Offsets are taken off with the
 * activation's 16-element sums (bsums): Q4_K's mins, and Q6_K's level offset of 32. */
#include "quant/kernels_x86.h"

#ifdef CELER_KERNELS_X86

#include <immintrin.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"

#define INLINE static inline __attribute__((always_inline))

enum { TOK = 4 };

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---------------------------------------------------------------- Q4_K */

/* The eight 6-bit scales and mins of a Q4_K/Q5_K super-block (ggml's get_scale_min_k4). */
INLINE void k4_scales(const uint8_t p[K_SCALE_SIZE], int sc[8], int mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        mn[j] = p[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (p[j + 4] & 0x0F) | ((p[j - 4] >> 6) << 4);
        mn[j] = (p[j + 4] >> 4) | ((p[j] >> 6) << 4);
    }
}

/* One row x nt tokens: the dots in out[t]. */
INLINE void q4_K_row(int nt, int64_t nsb, const block_q4_K *w, const char *act, size_t arb, float out[TOK]) {
    __m256 acc[TOK];
    float mins[TOK];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps(), mins[t] = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int64_t i = 0; i < nsb; i++) {
        const block_q4_K *b = &w[i];
        int sc[8], mn[8];
        k4_scales(b->scales, sc, mn);
        const float d = celer_fp16_to_fp32(b->d), dmin = celer_fp16_to_fp32(b->dmin);
        __m256i lv[8];
        for (int j = 0; j < 4; j++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * j));
            lv[2 * j] = _mm256_and_si256(v, m4);
            lv[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
        for (int t = 0; t < nt; t++) {
            const block_q8_K *a = (const block_q8_K *)(act + t * arb) + i;
            __m256i isum = _mm256_setzero_si256();
            for (int j = 0; j < 4; j++) {
                /* sub-blocks 2j (low nibbles) and 2j + 1 (high), each scale applied by the
                 * madd that widens its pair sums */
                __m256i p0 = _mm256_maddubs_epi16(lv[2 * j], _mm256_loadu_si256((const __m256i *)(a->qs + 64 * j)));
                __m256i p1 = _mm256_maddubs_epi16(lv[2 * j + 1], _mm256_loadu_si256((const __m256i *)(a->qs + 64 * j + 32)));
                __m256i s0 = _mm256_madd_epi16(p0, _mm256_set1_epi16((short)sc[2 * j]));
                __m256i s1 = _mm256_madd_epi16(p1, _mm256_set1_epi16((short)sc[2 * j + 1]));
                isum = _mm256_add_epi32(isum, _mm256_add_epi32(s0, s1));
            }
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * a->d), acc[t]);
            int msum = 0;
            for (int j = 0; j < 8; j++) msum += mn[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
            mins[t] += dmin * a->d * (float)msum;
        }
    }
    for (int t = 0; t < nt; t++) out[t] = hsum8(acc[t]) - mins[t];
}

/* ---------------------------------------------------------------- Q6_K */

INLINE void q6_K_row(int nt, int64_t nsb, const block_q6_K *w, const char *act, size_t arb, float out[TOK]) {
    __m256 acc[TOK];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < nsb; i++) {
        const block_q6_K *b = &w[i];
        const float d = celer_fp16_to_fp32(b->d);
        /* levels 0..63 (value + 32) of element 128h + 32k + l in lv[4h + k] */
        __m256i lv[8];
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            lv[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
            lv[4 * h + 1] =
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
            lv[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
            lv[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
        }
        /* each 32 levels span two 16-element sub-blocks: scales by 128-bit half */
        __m256i scv[8];
        for (int s = 0; s < 8; s++)
            scv[s] = _mm256_set_m128i(_mm_set1_epi16(b->scales[2 * s + 1]), _mm_set1_epi16(b->scales[2 * s]));
        for (int t = 0; t < nt; t++) {
            const block_q8_K *a = (const block_q8_K *)(act + t * arb) + i;
            __m256i isum = _mm256_setzero_si256();
            for (int s = 0; s < 8; s++) {
                __m256i p = _mm256_maddubs_epi16(lv[s], _mm256_loadu_si256((const __m256i *)(a->qs + 32 * s)));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scv[s]));
            }
            int off = 0; /* the +32 of every level: 32 sum_j scale_j bsum_j */
            for (int j = 0; j < 16; j++) off += b->scales[j] * a->bsums[j];
            isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * off, 0, 0, 0, 0, 0, 0, 0));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * a->d), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) out[t] = hsum8(acc[t]);
}

/* ---------------------------------------------------------------- gemm */

#define K_GEMM(name, block, rowfn)                                                                                         \
    static void gemm_##name(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *act, size_t arb,    \
                            int64_t n, float *y, int64_t ldy) {                                                           \
        const int64_t nsb = k / QK_K;                                                                                      \
        for (int64_t t0 = 0; t0 < n; t0 += TOK) {                                                                         \
            const int nt = n - t0 < TOK ? (int)(n - t0) : TOK;                                                            \
            const char *a = (const char *)act + t0 * (int64_t)arb;                                                        \
            for (int64_t r = r0; r < r1; r++) {                                                                           \
                const block *row = (const block *)((const char *)w + r * (int64_t)wrb);                                   \
                float out[TOK];                                                                                            \
                switch (nt) {                                                                                              \
                case 1: rowfn(1, nsb, row, a, arb, out); break;                                                           \
                case 2: rowfn(2, nsb, row, a, arb, out); break;                                                           \
                case 3: rowfn(3, nsb, row, a, arb, out); break;                                                           \
                default: rowfn(4, nsb, row, a, arb, out); break;                                                          \
                }                                                                                                          \
                for (int t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = out[t];                                              \
            }                                                                                                              \
        }                                                                                                                  \
    }
K_GEMM(q4_K, block_q4_K, q4_K_row)
K_GEMM(q6_K, block_q6_K, q6_K_row)

/* ---------------------------------------------------------------- Q8_K activations */

/* The reference's quantize_row_q8_K: q = nearest(-127 x / max) (ties to even), with max
 * the element of largest magnitude (the first on ties), d = 1 / iscale, bsums. */
static void quantize_q8_K(const float *x, void *dst, int64_t k) {
    block_q8_K *y = dst;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float *xb = x + i * QK_K;
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            const float a = xb[j] < 0 ? -xb[j] : xb[j];
            if (a > amax) amax = a, max = xb[j];
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q[4];
            for (int u = 0; u < 4; u++) {
                __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xb + j + 8 * u), is);
                v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
                q[u] = _mm256_cvtps_epi32(v);
            }
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), p);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(y[i].qs + 16 * j));
            __m128i s = _mm_madd_epi16(_mm_maddubs_epi16(_mm_set1_epi8(1), v), _mm_set1_epi16(1));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
            y[i].bsums[j] = (int16_t)_mm_cvtsi128_si32(s);
        }
        y[i].d = 1.0f / iscale;
    }
}

void quant_kernels_fill_avx2_k46(quant_kernels table[QUANT_TYPE_COUNT]) {
    table[QUANT_Q4_K] = (quant_kernels){.quantize_act = quantize_q8_K, .gemm = gemm_q4_K};
    table[QUANT_Q6_K] = (quant_kernels){.quantize_act = quantize_q8_K, .gemm = gemm_q6_K};
    /* the other K-quants keep their dots but share the fast activation quantizer */
    table[QUANT_Q2_K].quantize_act = quantize_q8_K;
    table[QUANT_Q3_K].quantize_act = quantize_q8_K;
    table[QUANT_Q5_K].quantize_act = quantize_q8_K;
}

#endif
