/* kernels_avx2_k.c: AVX2 kernels for the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against
 * Q8_K activations, and the Q8_K activation quantizer; see kernels_x86.h.
 *
 * One form for every type. A 256-element super-block is unpacked to unsigned levels u
 * (eight ymm registers of 32 bytes, "chunks" of 32 elements), a scale per 16 elements and
 * a correction per 16 elements, so that its dot with a Q8_K block a is
 *     d_a * ( dw * sum_g sc_g sum_{p in g} u_p a_p  -  dm * sum_g mn_g bsum_g ),
 * g running over the 16 groups of 16 elements:
 *   Q4_K, Q5_K: u = q (0..15 / 0..31), sc and mn the 6-bit scale and min of each 32,
 *               dw = d, dm = dmin;
 *   Q2_K:       u = q (0..3), sc and mn the two nibbles of each 16, dw = d, dm = dmin;
 *   Q6_K, Q3_K: u = q + 32 (0..63) / q + 4 (0..7), sc the signed scale, mn = 32 sc / 4 sc
 *               and dm = dw = d: the correction is taken off in int32 before the one
 *               conversion to float, so the super-block sum is the reference's exact
 *               integer.
 * _mm256_maddubs_epi16 multiplies u (unsigned) with a (signed) into int16 pair sums (at
 * most 2 * 63 * 128, no saturation); _mm256_madd_epi16 against a vector holding the scale
 * of the first 16 elements of the chunk in its low half and of the last 16 in its high
 * half widens them to int32 with the scale applied; the correction is one madd of the
 * activation's bsums with the 16 mn. A super-block then costs one or two float FMAs.
 *
 * gemm, one token (decode): each row is streamed once, its levels unpacked in registers,
 * the weights prefetched PREFETCH bytes ahead; consecutive super-blocks are independent
 * until their final FMA, so out-of-order execution overlaps them (two rows interleaved
 * by hand measured no faster, and slower when streaming from DRAM). Several tokens
 * (prefill): for a tile of TILE_R rows, each super-block is unpacked once into a small
 * buffer (levels and the eight chunk scale vectors, in L1) and used for every token of
 * the call, TILE_T tokens at a time with TILE_R x TILE_T int32 accumulators in
 * registers; the per-(row, token) float accumulators live in a stack array until the row
 * tile is done.
 *
 * The activation quantizer gives the reference's bytes: the same largest-magnitude element
 * (the first one on ties, NaN skipped), the same float product, rounded to nearest even by
 * the conversion, NaN to 0. */
#include "quant/kernels_x86.h"

#ifdef CELER_KERNELS_X86

#include <immintrin.h>
#include <string.h>

#include "quant/blocks.h"
#include "quant/simd_avx2.h"


enum { KQ2, KQ3, KQ4, KQ5, KQ6 };
/* Prefill tile: TILE_R rows x TILE_T tokens (2 x 4: eight int32 accumulators; each
 * activation vector loaded once for both rows, each level and scale vector once for the
 * four tokens); at most TOK_BLOCK tokens' float accumulators at a time.
 * Decode prefetches the weights PREFETCH bytes ahead of the super-block being read. */
enum { TILE_R = 2, TILE_T = 4, TOK_BLOCK = 64, PREFETCH = 1024 };

/* ---------------------------------------------------------------- helpers */

INLINE uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

INLINE __m256i ld(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

INLINE size_t kblock_bytes(int kind) {
    switch (kind) {
    case KQ2: return sizeof(block_q2_K);
    case KQ3: return sizeof(block_q3_K);
    case KQ4: return sizeof(block_q4_K);
    case KQ5: return sizeof(block_q5_K);
    default: return sizeof(block_q6_K);
    }
}

/* Shift (left, in int32) that turns sum_g sc_g bsum_g into the correction of the types
 * whose level offset shares the scale d (Q3_K: 4, Q6_K: 32); -1 for the types with dmin. */
INLINE int offset_shift(int kind) { return kind == KQ6 ? 5 : kind == KQ3 ? 2 : -1; }

/* Bytes 0, 2, ..., 14 then 1, 3, ..., 15: the even groups' scales to the low half. */
INLINE __m128i even_odd(__m128i v) {
    return _mm_shuffle_epi8(v, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
}

/* The scale vector of chunk c from S (low half: scale of the first 16 elements of chunk
 * 0..7 as int16, high half: of the last 16): int16 c of each half, broadcast in it. */
INLINE __m256i chunk_scale(__m256i S, int c) {
    const __m256i ctrl = _mm256_set1_epi16((short)((2 * c) | (2 * c + 1) << 8));
    return _mm256_shuffle_epi8(S, ctrl);
}

/* ---------------------------------------------------------------- unpacking */

/* A super-block's scales: S (see chunk_scale), M (mn of the 16 groups in element order,
 * int16, without the offset factor of offset_shift), dw and dm (the fp16 d and dmin). */
typedef struct {
    __m256i S, M;
    float dw, dm;
} sb_meta;

/* Q4_K/Q5_K: eight 6-bit scales and mins in 12 bytes b[0..11] (ggml's get_scale_min_k4):
 * scale j < 4 is b[j] & 63, min j < 4 is b[j + 4] & 63; scale 4 + j is the low nibble of
 * b[8 + j] under the top two bits of b[j], min 4 + j the high nibble of b[8 + j] under
 * those of b[4 + j]. Decoded in an xmm register, four at a time per 32-bit word (p is
 * followed in the block by at least 4 more bytes, so a 16-byte load stays inside it). */
INLINE void k4_meta(const uint8_t *p, sb_meta *m) {
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    /* words: b[0..3], b[8..11], b[4..7], b[8..11] >> 4 */
    __m128i lo = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    lo = _mm_and_si128(_mm_srlv_epi32(lo, _mm_setr_epi32(0, 0, 0, 4)), _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    /* words 1 and 3: the top two bits of b[0..3] and b[4..7], moved to bits 4, 5 */
    __m128i hi = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    hi = _mm_and_si128(_mm_srli_epi32(hi, 2), _mm_set1_epi8(0x30));
    const __m128i sm = _mm_or_si128(lo, hi); /* bytes 0..7 the scales, 8..15 the mins */
    m->S = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    m->M = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)); /* each min for both its groups */
}

INLINE void sb_meta_get(int kind, const uint8_t *b, sb_meta *m) {
    switch (kind) {
    case KQ2: {
        const block_q2_K *x = (const block_q2_K *)b;
        const __m128i raw = _mm_loadu_si128((const __m128i *)x->scales), m4 = _mm_set1_epi8(0x0f);
        m->S = _mm256_cvtepu8_epi16(_mm_and_si128(even_odd(raw), m4));
        m->M = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
        m->dw = h2f(b + offsetof(block_q2_K, d));
        m->dm = h2f(b + offsetof(block_q2_K, dmin));
        break;
    }
    case KQ3: {
        const uint8_t *p = b + offsetof(block_q3_K, scales);
        const uint32_t w0 = rd32(p), w1 = rd32(p + 4), w2 = rd32(p + 8), lo = 0x0f0f0f0fu, hi = 0x03030303u;
        const uint32_t s0 = (w0 & lo) | (w2 & hi) << 4, s1 = (w1 & lo) | ((w2 >> 2) & hi) << 4;
        const uint32_t s2 = ((w0 >> 4) & lo) | ((w2 >> 4) & hi) << 4, s3 = ((w1 >> 4) & lo) | ((w2 >> 6) & hi) << 4;
        const __m128i raw = _mm_sub_epi8(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3), _mm_set1_epi8(32));
        m->S = _mm256_cvtepi8_epi16(even_odd(raw));
        m->M = _mm256_cvtepi8_epi16(raw);
        m->dw = m->dm = h2f(b + offsetof(block_q3_K, d));
        break;
    }
    case KQ4:
        k4_meta(b + offsetof(block_q4_K, scales), m);
        m->dw = h2f(b + offsetof(block_q4_K, d));
        m->dm = h2f(b + offsetof(block_q4_K, dmin));
        break;
    case KQ5:
        k4_meta(b + offsetof(block_q5_K, scales), m);
        m->dw = h2f(b + offsetof(block_q5_K, d));
        m->dm = h2f(b + offsetof(block_q5_K, dmin));
        break;
    default: {
        const __m128i raw = _mm_loadu_si128((const __m128i *)(b + offsetof(block_q6_K, scales)));
        m->S = _mm256_cvtepi8_epi16(even_odd(raw));
        m->M = _mm256_cvtepi8_epi16(raw);
        m->dw = m->dm = h2f(b + offsetof(block_q6_K, d));
        break;
    }
    }
}

/* Levels u of chunks 4h .. 4h + 3 (elements 128h .. 128h + 127) into w[0..3]. */
INLINE void sb_quad(int kind, const uint8_t *b, int h, __m256i w[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    switch (kind) {
    case KQ2: {
        const __m256i m3 = _mm256_set1_epi8(3), q = ld(b + offsetof(block_q2_K, qs) + 32 * h);
        w[0] = _mm256_and_si256(q, m3);
        w[1] = _mm256_and_si256(_mm256_srli_epi16(q, 2), m3);
        w[2] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m3);
        w[3] = _mm256_and_si256(_mm256_srli_epi16(q, 6), m3);
        break;
    }
    case KQ3: {
        /* low 2 bits as Q2_K; bit 4h + k of hmask[l] set adds 4 (level q + 4) */
        const __m256i m3 = _mm256_set1_epi8(3), m4b = _mm256_set1_epi8(4);
        const __m256i q = ld(b + offsetof(block_q3_K, qs) + 32 * h);
        __m256i hm = ld(b + offsetof(block_q3_K, hmask));
        if (h) hm = _mm256_srli_epi16(hm, 4); /* bits 4..7 of each byte to 0..3 */
        w[0] = _mm256_or_si256(_mm256_and_si256(q, m3), _mm256_and_si256(_mm256_slli_epi16(hm, 2), m4b));
        w[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2), m3), _mm256_and_si256(_mm256_slli_epi16(hm, 1), m4b));
        w[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m3), _mm256_and_si256(hm, m4b));
        w[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 6), m3), _mm256_and_si256(_mm256_srli_epi16(hm, 1), m4b));
        break;
    }
    case KQ4: {
        const __m256i q0 = ld(b + offsetof(block_q4_K, qs) + 64 * h), q1 = ld(b + offsetof(block_q4_K, qs) + 64 * h + 32);
        w[0] = _mm256_and_si256(q0, m4);
        w[1] = _mm256_and_si256(_mm256_srli_epi16(q0, 4), m4);
        w[2] = _mm256_and_si256(q1, m4);
        w[3] = _mm256_and_si256(_mm256_srli_epi16(q1, 4), m4);
        break;
    }
    case KQ5: {
        /* nibbles as Q4_K; bit 4h + k of qh[l] adds 16 */
        const __m256i m16 = _mm256_set1_epi8(0x10);
        const __m256i q0 = ld(b + offsetof(block_q5_K, qs) + 64 * h), q1 = ld(b + offsetof(block_q5_K, qs) + 64 * h + 32);
        __m256i qh = ld(b + offsetof(block_q5_K, qh));
        if (h) qh = _mm256_srli_epi16(qh, 4);
        w[0] = _mm256_or_si256(_mm256_and_si256(q0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m16));
        w[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q0, 4), m4), _mm256_and_si256(_mm256_slli_epi16(qh, 3), m16));
        w[2] = _mm256_or_si256(_mm256_and_si256(q1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m16));
        w[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q1, 4), m4), _mm256_and_si256(_mm256_slli_epi16(qh, 1), m16));
        break;
    }
    default: {
        /* element 128h + 32k + l: nibble k / 2 of ql[64h + 32(k % 2) + l], bits 2k, 2k + 1
         * of qh[32h + l] above it; u = q + 32 */
        const __m256i m48 = _mm256_set1_epi8(0x30);
        const __m256i l0 = ld(b + offsetof(block_q6_K, ql) + 64 * h), l1 = ld(b + offsetof(block_q6_K, ql) + 64 * h + 32);
        const __m256i qh = ld(b + offsetof(block_q6_K, qh) + 32 * h);
        w[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m48));
        w[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m48));
        w[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m48));
        w[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m48));
        break;
    }
    }
}

/* acc += the super-block's dot, given its integer sum isum (8 lanes) and the activation's
 * bsums and scale d8. */
INLINE __m256 sb_fold(int kind, const sb_meta *m, __m256i isum, __m256i bsums, float d8, __m256 acc) {
    const __m256i msum = _mm256_madd_epi16(bsums, m->M);
    const __m256 dwd8 = _mm256_set1_ps(m->dw * d8);
    if (offset_shift(kind) == 5)
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum, _mm256_slli_epi32(msum, 5))), dwd8, acc);
    if (offset_shift(kind) == 2)
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum, _mm256_slli_epi32(msum, 2))), dwd8, acc);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), dwd8, acc);
    return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(m->dm * d8), acc);
}

/* ---------------------------------------------------------------- one token */

#define ACT_QS(a) ((const uint8_t *)(a) + offsetof(block_q8_K, qs))
#define ACT_BSUMS(a) ((const uint8_t *)(a) + offsetof(block_q8_K, bsums))

INLINE float act_d(const uint8_t *a) {
    float d;
    memcpy(&d, a + offsetof(block_q8_K, d), 4);
    return d;
}

/* One row against one activation row. */
INLINE float gemv_row(int kind, int64_t nsb, const uint8_t *w, const uint8_t *act) {
    const size_t bb = kblock_bytes(kind);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        const uint8_t *a = act + i * (int64_t)sizeof(block_q8_K), *b = w + i * (int64_t)bb;
#pragma GCC unroll 4
        for (size_t o = 0; o < bb; o += 64) _mm_prefetch((const char *)b + PREFETCH + o, _MM_HINT_T0);
        sb_meta m;
        sb_meta_get(kind, b, &m);
        __m256i is = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i v[4];
            sb_quad(kind, b, h, v);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const int c = 4 * h + k;
                const __m256i p = _mm256_maddubs_epi16(v[k], ld(ACT_QS(a) + 32 * c));
                is = _mm256_add_epi32(is, _mm256_madd_epi16(p, chunk_scale(m.S, c)));
            }
        }
        acc = sb_fold(kind, &m, is, ld(ACT_BSUMS(a)), act_d(a), acc);
    }
    return hsum8(acc);
}

/* ---------------------------------------------------------------- several tokens */

/* A super-block of one row, unpacked: levels of chunk c in q[c], its scale vector in
 * sc[c], the mn of the 16 groups in M, dw and dm broadcast. */
typedef struct {
    __m256i q[8], sc[8], M;
    __m256 dw, dm;
} sb_unpacked;

INLINE void sb_unpack(int kind, const uint8_t *b, sb_unpacked *u) {
    sb_meta m;
    sb_meta_get(kind, b, &m);
    _mm256_store_si256(&u->M, m.M);
    _mm256_store_ps((float *)&u->dw, _mm256_set1_ps(m.dw));
    _mm256_store_ps((float *)&u->dm, _mm256_set1_ps(m.dm));
#pragma GCC unroll 8
    for (int h = 0; h < 2; h++) {
        __m256i v[4];
        sb_quad(kind, b, h, v);
#pragma GCC unroll 8
        for (int k = 0; k < 4; k++) _mm256_store_si256(&u->q[4 * h + k], v[k]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) _mm256_store_si256(&u->sc[c], chunk_scale(m.S, c));
}

/* TILE_R unpacked rows x nt (1 or TILE_T) tokens at a[0 .. nt): facc[t * TILE_R + r] +=. */
INLINE void tile_dot(int kind, int nt, const sb_unpacked *u, const uint8_t *const a[TILE_T], __m256 *facc) {
    __m256i is[TILE_R][TILE_T];
#pragma GCC unroll 8
    for (int r = 0; r < TILE_R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < nt; t++) is[r][t] = _mm256_setzero_si256();
#pragma GCC unroll 1
    for (int c = 0; c < 8; c++) {
        __m256i av[TILE_T];
#pragma GCC unroll 8
        for (int t = 0; t < nt; t++) av[t] = ld(ACT_QS(a[t]) + 32 * c);
#pragma GCC unroll 8
        for (int r = 0; r < TILE_R; r++) {
            const __m256i q = _mm256_load_si256(&u[r].q[c]), sc = _mm256_load_si256(&u[r].sc[c]);
#pragma GCC unroll 8
            for (int t = 0; t < nt; t++) is[r][t] = _mm256_add_epi32(is[r][t], _mm256_madd_epi16(_mm256_maddubs_epi16(q, av[t]), sc));
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++) {
        const __m256i bs = ld(ACT_BSUMS(a[t]));
        const __m256 d8 = _mm256_set1_ps(act_d(a[t]));
#pragma GCC unroll 8
        for (int r = 0; r < TILE_R; r++) {
            /* (dw isum - dm msum), or dw (isum - msum << shift), times d8 */
            const __m256i msum = _mm256_madd_epi16(bs, _mm256_load_si256(&u[r].M));
            const __m256 dw = _mm256_load_ps((const float *)&u[r].dw), dm = _mm256_load_ps((const float *)&u[r].dm);
            __m256 v;
            if (offset_shift(kind) == 5)
                v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(is[r][t], _mm256_slli_epi32(msum, 5))), dw);
            else if (offset_shift(kind) == 2)
                v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(is[r][t], _mm256_slli_epi32(msum, 2))), dw);
            else
                v = _mm256_fmsub_ps(_mm256_cvtepi32_ps(is[r][t]), dw, _mm256_mul_ps(_mm256_cvtepi32_ps(msum), dm));
            facc[t * TILE_R + r] = _mm256_fmadd_ps(v, d8, facc[t * TILE_R + r]);
        }
    }
}

/* Rows rows[0 .. TILE_R) (nr of them written to y from row r) against tokens
 * [0, nt), nt <= TOK_BLOCK. */
INLINE void gemm_tile_rows(int kind, int64_t nsb, const uint8_t *const rows[TILE_R], int nr, int64_t r, const uint8_t *act,
                           size_t arb, int64_t nt, float *y, int64_t ldy) {
    const size_t bb = kblock_bytes(kind);
    __m256 facc[TOK_BLOCK * TILE_R];
    for (int64_t i = 0; i < nt * TILE_R; i++) facc[i] = _mm256_setzero_ps();
    sb_unpacked u[TILE_R];
    for (int64_t i = 0; i < nsb; i++) {
#pragma GCC unroll 8
        for (int j = 0; j < TILE_R; j++) sb_unpack(kind, rows[j] + i * (int64_t)bb, &u[j]);
        const uint8_t *ab = act + i * (int64_t)sizeof(block_q8_K);
        int64_t t = 0;
        for (; t + TILE_T <= nt; t += TILE_T) {
            const uint8_t *a[TILE_T];
#pragma GCC unroll 8
            for (int j = 0; j < TILE_T; j++) a[j] = ab + (t + j) * (int64_t)arb;
            tile_dot(kind, TILE_T, u, a, facc + t * TILE_R);
        }
        /* the last 1 .. TILE_T - 1 tokens one at a time (measured as fast as narrower tiles) */
        for (; t < nt; t++) {
            const uint8_t *a[TILE_T] = {ab + t * (int64_t)arb};
            tile_dot(kind, 1, u, a, facc + t * TILE_R);
        }
    }
    for (int64_t t = 0; t < nt; t++)
#pragma GCC unroll 8
        for (int j = 0; j < nr; j++) y[t * ldy + r + j] = hsum8(facc[t * TILE_R + j]);
}

INLINE void gemm_k(int kind, int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *act, size_t arb,
                   int64_t n, float *y, int64_t ldy) {
    const int64_t nsb = k / QK_K;
    const uint8_t *wb = w, *ab = act;
    if (n == 1) {
        for (int64_t r = r0; r < r1; r++) y[r] = gemv_row(kind, nsb, wb + r * (int64_t)wrb, ab);
        return;
    }
    for (int64_t t0 = 0; t0 < n; t0 += TOK_BLOCK) {
        const int64_t nt = n - t0 < TOK_BLOCK ? n - t0 : TOK_BLOCK;
        for (int64_t r = r0; r < r1; r += TILE_R) {
            const int nr = r1 - r < TILE_R ? (int)(r1 - r) : TILE_R;
            const uint8_t *rows[TILE_R];
#pragma GCC unroll 8
            for (int j = 0; j < TILE_R; j++) rows[j] = wb + (r + (j < nr ? j : nr - 1)) * (int64_t)wrb; /* pad: repeat the last */
            gemm_tile_rows(kind, nsb, rows, nr, r, ab + t0 * (int64_t)arb, arb, nt, y + t0 * ldy, ldy);
        }
    }
}

#define K_GEMM(name, kind)                                                                                               \
    static void gemm_##name(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *act, size_t arb,  \
                            int64_t n, float *y, int64_t ldy) {                                                         \
        gemm_k(kind, k, w, wrb, r0, r1, act, arb, n, y, ldy);                                                           \
    }
K_GEMM(q2_K, KQ2)
K_GEMM(q3_K, KQ3)
K_GEMM(q4_K, KQ4)
K_GEMM(q5_K, KQ5)
K_GEMM(q6_K, KQ6)

/* ---------------------------------------------------------------- Q8_K activations */

static void quantize_q8_K(const float *x, void *dst, int64_t k) {
    block_q8_K *y = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float *xb = x + i * QK_K;
        /* largest magnitude (max_ps returns its second operand when the first is NaN) */
        __m256 am = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) am = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)), am);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(am), _mm256_extractf128_ps(am, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        /* the first element of that magnitude */
        const __m256 amv = _mm256_set1_ps(amax);
        float max = 0.0f;
        for (int j = 0; j < QK_K; j += 8) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)), amv, _CMP_EQ_OQ));
            if (hit) {
                max = xb[j + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), ones = _mm256_set1_epi8(1);
        __m256i ps[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m256i q[4];
#pragma GCC unroll 8
            for (int u = 0; u < 4; u++) {
                __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xb + 32 * j + 8 * u), is);
                v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN -> 0 */
                q[u] = _mm256_cvtps_epi32(v);
            }
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            p = _mm256_permutevar8x32_epi32(p, perm);
            _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * j), p);
            ps[j] = _mm256_maddubs_epi16(ones, p); /* pair sums: low half group 2j, high half 2j + 1 */
        }
        /* three rounds of pairwise adds: low half the even groups' sums, high half the odd */
        const __m256i h01 = _mm256_hadd_epi16(ps[0], ps[1]), h23 = _mm256_hadd_epi16(ps[2], ps[3]);
        const __m256i h45 = _mm256_hadd_epi16(ps[4], ps[5]), h67 = _mm256_hadd_epi16(ps[6], ps[7]);
        const __m256i g = _mm256_hadd_epi16(_mm256_hadd_epi16(h01, h23), _mm256_hadd_epi16(h45, h67));
        const __m128i ev = _mm256_castsi256_si128(g), od = _mm256_extracti128_si256(g, 1);
        _mm_storeu_si128((__m128i *)y[i].bsums, _mm_unpacklo_epi16(ev, od));
        _mm_storeu_si128((__m128i *)(y[i].bsums + 8), _mm_unpackhi_epi16(ev, od));
        y[i].d = 1.0f / iscale;
    }
}

void quant_kernels_fill_avx2_k(quant_kernels table[QUANT_TYPE_COUNT]) {
    table[QUANT_Q2_K].quantize_act = quantize_q8_K, table[QUANT_Q2_K].gemm = gemm_q2_K;
    table[QUANT_Q3_K].quantize_act = quantize_q8_K, table[QUANT_Q3_K].gemm = gemm_q3_K;
    table[QUANT_Q4_K].quantize_act = quantize_q8_K, table[QUANT_Q4_K].gemm = gemm_q4_K;
    table[QUANT_Q5_K].quantize_act = quantize_q8_K, table[QUANT_Q5_K].gemm = gemm_q5_K;
    table[QUANT_Q6_K].quantize_act = quantize_q8_K, table[QUANT_Q6_K].gemm = gemm_q6_K;
}

#endif
