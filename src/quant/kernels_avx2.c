/* kernels_avx2.c: AVX2 kernels for the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, IQ4_NL) and the float types (F32, F16, BF16); see kernels_x86.h.
 *
 * Block types. A weight block is unpacked once into 32 int8 lanes of a ymm register and
 * multiplied with the int8 activation block (Q8_0, or Q8_1 for the types with a min) by
 * _mm256_maddubs_epi16, which takes its first operand unsigned: Q4_1/Q5_1 levels are
 * unsigned already; for the signed types (Q4_0, Q5_0, Q8_0, IQ4_NL) the sign of the weight
 * is moved onto the activation (|w| · sign(a, w)). IQ4_NL's nibbles become their table
 * values (int8, -127..113) by one byte shuffle (_mm256_shuffle_epi8 with the table). The pair sums are widened to 8 int32 by
 * _mm256_madd_epi16, turned to float and accumulated with the product of the two block
 * scales by one FMA; the min of Q4_1/Q5_1 adds m · s, s = d · sum(q) of the activation
 * block. The gemm walks tiles of TILE_R rows x TILE_T tokens so that each weight block
 * is unpacked once per TILE_T tokens and each activation block loaded once per TILE_R
 * rows; TILE_R x TILE_T float accumulators stay in registers. The repacked layout
 * (pack_rows) does the same 8 rows at a time; for prompts, the signed types take wide
 * (int16) activations instead (see "wide activations" below).
 *
 * Activation quantization gives the reference's bytes (ggml's roundf rounding, half away
 * from zero, saturating, NaN to 0), except that a NaN element is skipped when the block's
 * largest magnitude is taken (a NaN activation is a broken model either way). */
#include "quant/kernels_x86.h"

#ifdef CELER_KERNELS_X86

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/simd_avx2.h"


enum { TILE_R = 4, TILE_T = 2 };

/* ---------------------------------------------------------------- helpers */

/* 16 bytes of nibbles -> 32 bytes: element j < 16 from the low nibble of byte j, element
 * j >= 16 from the high nibble of byte j - 16 (ggml's order). */
INLINE __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m256i x = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(x, _mm256_set1_epi8(0x0f));
}

/* Bit j of the 32-bit word -> byte j all ones (set) or zero. */
INLINE __m256i bits_to_bytes(const uint8_t *qh) {
    uint32_t x;
    memcpy(&x, qh, 4);
    __m256i v = _mm256_set1_epi32((int)x);
    const __m256i spread = _mm256_setr_epi64x(0x0000000000000000LL, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL);
    v = _mm256_shuffle_epi8(v, spread);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* The kinds of 32-element weight blocks. */
enum { K_Q4_0, K_Q4_1, K_Q5_0, K_Q5_1, K_Q8_0, K_IQ4_NL };

/* IQ4_NL's table in both 128-bit lanes, for _mm256_shuffle_epi8 (indices 0..15). */
INLINE __m256i iq4_nl_table(void) {
    static const int8_t values[16] = IQ4_NL_VALUES;
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)values));
}

INLINE size_t wblock_bytes(int kind) {
    switch (kind) {
    case K_Q4_0: return sizeof(block_q4_0);
    case K_Q4_1: return sizeof(block_q4_1);
    case K_Q5_0: return sizeof(block_q5_0);
    case K_Q5_1: return sizeof(block_q5_1);
    case K_IQ4_NL: return sizeof(block_iq4_nl);
    default: return sizeof(block_q8_0);
    }
}
INLINE int has_min(int kind) { return kind == K_Q4_1 || kind == K_Q5_1; }
INLINE int is_signed(int kind) { return kind == K_Q4_0 || kind == K_Q5_0 || kind == K_Q8_0 || kind == K_IQ4_NL; }

/* One weight block: its 32 levels (signed types: the value over d; min types: unsigned
 * level), its scale d and min m (0 where none). */
INLINE __m256i unpack_block(int kind, const char *b, float *d, float *m) {
    *d = h2f(b);
    *m = 0.0f;
    switch (kind) {
    case K_Q4_0: return _mm256_sub_epi8(unpack_nibbles((const uint8_t *)b + 2), _mm256_set1_epi8(8));
    case K_Q4_1: *m = h2f(b + 2); return unpack_nibbles((const uint8_t *)b + 4);
    case K_Q5_0: {
        /* q - 16 = low nibble - (fifth bit clear ? 16 : 0) */
        __m256i lo = unpack_nibbles((const uint8_t *)b + 6);
        __m256i hi = bits_to_bytes((const uint8_t *)b + 2);
        return _mm256_sub_epi8(lo, _mm256_andnot_si256(hi, _mm256_set1_epi8(0x10)));
    }
    case K_Q5_1: {
        *m = h2f(b + 2);
        __m256i lo = unpack_nibbles((const uint8_t *)b + 8);
        __m256i hi = bits_to_bytes((const uint8_t *)b + 4);
        return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x10)));
    }
    case K_IQ4_NL: return _mm256_shuffle_epi8(iq4_nl_table(), unpack_nibbles((const uint8_t *)b + 2));
    default: return _mm256_loadu_si256((const __m256i *)(b + 2));
    }
}

/* Integer dot of a weight block (as unpacked) with an activation block: 8 int32 lanes. */
INLINE __m256i dot_block(int kind, __m256i w, __m256i w_abs, __m256i a) {
    __m256i p = is_signed(kind) ? _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(a, w)) : _mm256_maddubs_epi16(w, a);
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* y[t * ldy + r] for rows [r, r + RM) and tokens [t, t + RT) of the call's tile. */
INLINE void tile_blocks(int kind, int RM, int RT, int64_t nb, const char *w, size_t w_row_bytes, const char *a, size_t a_row_bytes,
                        float *y, int64_t ldy) {
    const size_t wbs = wblock_bytes(kind);
    const size_t abs_ = has_min(kind) ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t aqs = has_min(kind) ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    __m256 acc[TILE_R][TILE_T];
    float macc[TILE_R][TILE_T];
    for (int r = 0; r < RM; r++)
        for (int t = 0; t < RT; t++) acc[r][t] = _mm256_setzero_ps(), macc[r][t] = 0.0f;

    for (int64_t b = 0; b < nb; b++) {
        __m256i av[TILE_T];
        float da[TILE_T], sa[TILE_T];
        for (int t = 0; t < RT; t++) {
            const char *ab = a + t * a_row_bytes + b * abs_;
            av[t] = _mm256_loadu_si256((const __m256i *)(ab + aqs));
            da[t] = h2f(ab);
            sa[t] = has_min(kind) ? h2f(ab + 2) : 0.0f;
        }
        for (int r = 0; r < RM; r++) {
            const char *wb = w + r * w_row_bytes + b * wbs;
            float dw, mw;
            __m256i wv = unpack_block(kind, wb, &dw, &mw);
            __m256i wabs = is_signed(kind) ? _mm256_sign_epi8(wv, wv) : wv;
            for (int t = 0; t < RT; t++) {
                __m256 s = _mm256_cvtepi32_ps(dot_block(kind, wv, wabs, av[t]));
                acc[r][t] = _mm256_fmadd_ps(s, _mm256_set1_ps(dw * da[t]), acc[r][t]);
                if (has_min(kind)) macc[r][t] += mw * sa[t];
            }
        }
    }
    for (int r = 0; r < RM; r++)
        for (int t = 0; t < RT; t++) y[t * ldy + r] = hsum8(acc[r][t]) + macc[r][t];
}

/* Tiles of a given body (tile_blocks or tile_float) and kind, one function per (rows,
 * tokens) shape so each is unrolled. */
#define TILE_FN(body, kind, RM, RT)                                                                                        \
    static void body##_##kind##_##RM##_##RT(int64_t nb, const char *w, size_t wrb, const char *a, size_t arb, float *y,    \
                                            int64_t ldy) {                                                                 \
        body(kind, RM, RT, nb, w, wrb, a, arb, y, ldy);                                                                    \
    }
#define TILE_FNS(body, kind) TILE_FN(body, kind, 4, 2) TILE_FN(body, kind, 4, 1) TILE_FN(body, kind, 1, 2) TILE_FN(body, kind, 1, 1)
TILE_FNS(tile_blocks, K_Q4_0)
TILE_FNS(tile_blocks, K_Q4_1)
TILE_FNS(tile_blocks, K_Q5_0)
TILE_FNS(tile_blocks, K_Q5_1)
TILE_FNS(tile_blocks, K_Q8_0)
TILE_FNS(tile_blocks, K_IQ4_NL)

typedef void (*tile_fn)(int64_t nb, const char *w, size_t wrb, const char *a, size_t arb, float *y, int64_t ldy);

/* The tile grid over rows [r0, r1) and tokens [0, n): full 4-row tiles, then single
 * rows; token pairs, then a last single token. nb: the length the tiles take (blocks of
 * 32 for the block types, elements for the float types). */
static void gemm_tiles(const tile_fn fns[2][2], int64_t nb, const void *w, size_t w_row_bytes, int64_t r0, int64_t r1,
                       const void *act, size_t act_row_bytes, int64_t n, float *y, int64_t ldy) {
    for (int64_t t = 0; t < n; t += TILE_T) {
        const int nt = n - t >= TILE_T ? 0 : 1; /* index: 0 = a pair, 1 = one token */
        const char *a = (const char *)act + t * (int64_t)act_row_bytes;
        int64_t r = r0;
        for (; r + TILE_R <= r1; r += TILE_R)
            fns[0][nt](nb, (const char *)w + r * (int64_t)w_row_bytes, w_row_bytes, a, act_row_bytes, y + t * ldy + r, ldy);
        for (; r < r1; r++)
            fns[1][nt](nb, (const char *)w + r * (int64_t)w_row_bytes, w_row_bytes, a, act_row_bytes, y + t * ldy + r, ldy);
    }
}

/* gemm_NAME over the tiles of body and kind; unit: elements per step of the tiles' length
 * (32 for the block types, 1 for the float types). */
#define GEMM_FN(name, body, kind, unit)                                                                                   \
    static void gemm_##name(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *a, size_t arb,      \
                            int64_t n, float *y, int64_t ldy) {                                                           \
        static const tile_fn fns[2][2] = {{body##_##kind##_4_2, body##_##kind##_4_1},                                      \
                                          {body##_##kind##_1_2, body##_##kind##_1_1}};                                     \
        gemm_tiles(fns, k / (unit), w, wrb, r0, r1, a, arb, n, y, ldy);                                                    \
    }
GEMM_FN(q4_0, tile_blocks, K_Q4_0, 32)
GEMM_FN(q4_1, tile_blocks, K_Q4_1, 32)
GEMM_FN(q5_0, tile_blocks, K_Q5_0, 32)
GEMM_FN(q5_1, tile_blocks, K_Q5_1, 32)
GEMM_FN(q8_0, tile_blocks, K_Q8_0, 32)
GEMM_FN(iq4_nl, tile_blocks, K_IQ4_NL, 32)

/* ---------------------------------------------------------------- packed layout */

/* Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 repacked in groups of PACK rows (kernels.h). Per group
 * and block index, one chunk: the PACK fp16 scales, the PACK fp16 mins (Q4_1, Q5_1), the
 * fifth bits (Q5_0, Q5_1: a 32-byte plane, bit c of byte j the fifth bit of byte j of
 * quant vector c), then the quants as vectors V_c of PACK x 4 bytes, lane r holding bytes
 * 4c..4c+3 of row r's block. For the 4- and 5-bit types V_0..V_3 carry the 16 nibble
 * bytes: the low nibbles of V_c are elements 4c..4c+3 and the high nibbles elements
 * 16+4c..16+4c+3; for Q8_0, V_0..V_7 are the 32 bytes. The four activation bytes of a
 * quant vector are broadcast to all lanes, so one _mm256_maddubs_epi16 advances all PACK
 * rows at once and the rows' sums end up in the lanes of one register: no horizontal
 * sums, scales applied as vectors. The levels are unsigned; the offset of the signed
 * types (8 for Q4_0, 16 for Q5_0) is taken off as offset x the activation block's sum.
 * int16 pair sums are added before widening while they cannot overflow: all 8 vectors
 * for 4 bits (8 x 2 x 15 x 128 < 32768), 4 at a time for 5 bits. IQ4_NL packs as Q4_0; its
 * nibbles are turned into the table's signed values after loading and then multiplied as
 * Q8_0's bytes are (|w| · sign(a, w), each vector widened on its own: 2 x 127 x 128 leaves
 * no room to add two). */
enum { PACK = 8 };
/* How far ahead of the chunk being read its successors are prefetched (a group's chunks
 * are contiguous, and groups follow each other). */
#define PREFETCH_BYTES 1024

INLINE int has_high(int kind) { return kind == K_Q5_0 || kind == K_Q5_1; }
INLINE size_t packed_scale_bytes(int kind) { return (has_min(kind) ? 4 * PACK : 2 * PACK) + (has_high(kind) ? 32 : 0); }
INLINE size_t packed_chunk_bytes(int kind) { return PACK * wblock_bytes(kind); }

static void pack_rows(int kind, const void *w, size_t w_row_bytes, int64_t rows, int64_t k, void *dst) {
    const int64_t nb = k / 32, groups = (rows + PACK - 1) / PACK;
    const size_t cb = packed_chunk_bytes(kind), sb = packed_scale_bytes(kind);
    size_t qs_off, qh_off = 0;
    switch (kind) {
    case K_Q4_0: qs_off = offsetof(block_q4_0, qs); break;
    case K_Q4_1: qs_off = offsetof(block_q4_1, qs); break;
    case K_Q5_0: qs_off = offsetof(block_q5_0, qs), qh_off = offsetof(block_q5_0, qh); break;
    case K_Q5_1: qs_off = offsetof(block_q5_1, qs), qh_off = offsetof(block_q5_1, qh); break;
    case K_IQ4_NL: qs_off = offsetof(block_iq4_nl, qs); break;
    default: qs_off = offsetof(block_q8_0, qs); break;
    }
    const int nvec = kind == K_Q8_0 ? 8 : 4;
    const size_t hi_off = has_min(kind) ? 4 * PACK : 2 * PACK;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t b = 0; b < nb; b++) {
            char *chunk = (char *)dst + (g * nb + b) * (int64_t)cb;
            memset(chunk, 0, cb);
            uint8_t plane[32] = {0};
            for (int r = 0; r < PACK && g * PACK + r < rows; r++) {
                const char *src = (const char *)w + (g * PACK + r) * (int64_t)w_row_bytes + b * (int64_t)wblock_bytes(kind);
                memcpy(chunk + 2 * r, src, 2);                                      /* d */
                if (has_min(kind)) memcpy(chunk + 2 * PACK + 2 * r, src + 2, 2); /* m */
                for (int c = 0; c < nvec; c++) memcpy(chunk + sb + 32 * c + 4 * r, src + qs_off + 4 * c, 4);
                if (has_high(kind)) {
                    uint32_t qh;
                    memcpy(&qh, src + qh_off, 4);
                    for (int c = 0; c < 8; c++) { /* vector c: elements 4c.. (c < 4) or 16 + 4(c - 4).. */
                        const int e0 = c < 4 ? 4 * c : 16 + 4 * (c - 4);
                        for (int i = 0; i < 4; i++) plane[4 * r + i] |= (uint8_t)(((qh >> (e0 + i)) & 1u) << c);
                    }
                }
            }
            if (has_high(kind)) memcpy(chunk + hi_off, plane, sizeof(plane));
        }
}

INLINE __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Sum of the 32 int8 of an activation block, in every lane. */
INLINE __m256i block_sum(__m256i a) {
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), a), _mm256_set1_epi16(1));
    s = _mm256_add_epi32(s, _mm256_permute2x128_si256(s, s, 1));
    s = _mm256_add_epi32(s, _mm256_shuffle_epi32(s, 0x4e));
    return _mm256_add_epi32(s, _mm256_shuffle_epi32(s, 0xb1));
}

/* The 8 quant vectors of a packed chunk as bytes (levels: unsigned for the 4- and 5-bit
 * types, IQ4_NL's table values, Q8_0's signed bytes); vector c, lane r: row r's bytes
 * of quant vector c (pack_rows). */
INLINE void packed_levels(int kind, const char *chunk, __m256i wq[8]) {
    const size_t sb = packed_scale_bytes(kind), hi_off = has_min(kind) ? 4 * PACK : 2 * PACK;
    const char *q = chunk + sb;
    if (kind == K_Q8_0) {
        for (int c = 0; c < 8; c++) wq[c] = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
    } else {
        const __m256i m4 = _mm256_set1_epi8(0x0f);
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
            wq[c] = _mm256_and_si256(v, m4);
            wq[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
        if (kind == K_IQ4_NL)
            for (int c = 0; c < 8; c++) wq[c] = _mm256_shuffle_epi8(iq4_nl_table(), wq[c]);
        if (has_high(kind)) {
            /* bit c of byte j of the plane -> bit 4 of byte j of vector c: a 16-bit shift
             * by 4 - c (left) or c - 4 (right) cannot carry a neighbour byte's bit onto bit 4 */
            const __m256i plane = _mm256_loadu_si256((const __m256i *)(chunk + hi_off)), b4 = _mm256_set1_epi8(0x10);
            wq[0] = _mm256_or_si256(wq[0], _mm256_and_si256(_mm256_slli_epi16(plane, 4), b4));
            wq[1] = _mm256_or_si256(wq[1], _mm256_and_si256(_mm256_slli_epi16(plane, 3), b4));
            wq[2] = _mm256_or_si256(wq[2], _mm256_and_si256(_mm256_slli_epi16(plane, 2), b4));
            wq[3] = _mm256_or_si256(wq[3], _mm256_and_si256(_mm256_slli_epi16(plane, 1), b4));
            wq[4] = _mm256_or_si256(wq[4], _mm256_and_si256(plane, b4));
            wq[5] = _mm256_or_si256(wq[5], _mm256_and_si256(_mm256_srli_epi16(plane, 1), b4));
            wq[6] = _mm256_or_si256(wq[6], _mm256_and_si256(_mm256_srli_epi16(plane, 2), b4));
            wq[7] = _mm256_or_si256(wq[7], _mm256_and_si256(_mm256_srli_epi16(plane, 3), b4));
        }
    }
}

/* One group of PACK rows x RT tokens over all nb blocks: out[t] = the rows' dots. */
INLINE void packed_tile(int kind, int RT, int64_t nb, const char *gw, const char *a, size_t arb, __m256 out[4]) {
    const size_t cb = packed_chunk_bytes(kind);
    const size_t abs_ = has_min(kind) ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t aqs = has_min(kind) ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    __m256 acc[4];
    for (int t = 0; t < RT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const char *chunk = gw + b * (int64_t)cb;
        /* every line of the chunk PREFETCH_BYTES ahead (a chunk is 136-272 bytes) */
        for (size_t o = 0; o < cb; o += 64) _mm_prefetch(chunk + PREFETCH_BYTES + o, _MM_HINT_T0);
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)chunk));
        const __m256 mv = has_min(kind) ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(chunk + 2 * PACK))) : dv;
        /* Q8_0's quants are read in place below (copied into an array, GCC makes the
         * eight loads a call to memcpy) */
        __m256i wq[8];
        if (kind != K_Q8_0) packed_levels(kind, chunk, wq);
        for (int t = 0; t < RT; t++) {
            const char *ab = a + t * arb + b * (int64_t)abs_;
            const int8_t *aq = (const int8_t *)(ab + aqs);
            __m256i isum;
            if (kind == K_Q8_0 || kind == K_IQ4_NL) {
                isum = _mm256_setzero_si256();
                for (int c = 0; c < 8; c++) {
                    const __m256i w = kind == K_Q8_0 ? _mm256_loadu_si256((const __m256i *)(chunk + 2 * PACK + 32 * c)) : wq[c];
                    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(bcast4(aq + 4 * c), w));
                    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
                }
            } else if (has_high(kind)) {
                __m256i s0 = _mm256_maddubs_epi16(wq[0], bcast4(aq)), s1 = _mm256_maddubs_epi16(wq[4], bcast4(aq + 16));
                for (int c = 1; c < 4; c++) {
                    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(wq[c], bcast4(aq + 4 * c)));
                    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(wq[c + 4], bcast4(aq + 4 * (c + 4))));
                }
                isum = _mm256_add_epi32(_mm256_madd_epi16(s0, _mm256_set1_epi16(1)), _mm256_madd_epi16(s1, _mm256_set1_epi16(1)));
                if (kind == K_Q5_0)
                    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(block_sum(_mm256_loadu_si256((const __m256i *)aq)), 4));
            } else {
                __m256i s16 = _mm256_maddubs_epi16(wq[0], bcast4(aq));
                for (int c = 1; c < 8; c++) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(wq[c], bcast4(aq + 4 * c)));
                isum = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
                if (kind == K_Q4_0)
                    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(block_sum(_mm256_loadu_si256((const __m256i *)aq)), 3));
            }
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dv, _mm256_set1_ps(h2f(ab))), acc[t]);
            if (has_min(kind)) acc[t] = _mm256_fmadd_ps(mv, _mm256_set1_ps(h2f(ab + 2)), acc[t]);
        }
    }
    for (int t = 0; t < RT; t++) out[t] = acc[t];
}

#define PTILE_FN(kind, RT)                                                                                                 \
    static void ptile_##kind##_##RT(int64_t nb, const char *gw, const char *a, size_t arb, __m256 out[4]) {                \
        packed_tile(kind, RT, nb, gw, a, arb, out);                                                                        \
    }
#define PTILE_FNS(kind) PTILE_FN(kind, 4) PTILE_FN(kind, 3) PTILE_FN(kind, 2) PTILE_FN(kind, 1)
PTILE_FNS(K_Q4_0)
PTILE_FNS(K_Q4_1)
PTILE_FNS(K_Q5_0)
PTILE_FNS(K_Q5_1)
PTILE_FNS(K_Q8_0)
PTILE_FNS(K_IQ4_NL)

typedef void (*ptile_fn)(int64_t nb, const char *gw, const char *a, size_t arb, __m256 out[4]);

static void gemm_packed_groups(const ptile_fn fns[4], int64_t k, const void *w, size_t w_row_bytes, int64_t r0, int64_t r1,
                               const void *act, size_t act_row_bytes, int64_t n, float *y, int64_t ldy) {
    const int64_t nb = k / 32;
    for (int64_t g = r0 / PACK; g * PACK < r1; g++) {
        const char *gw = (const char *)w + g * PACK * (int64_t)w_row_bytes;
        const int64_t row = g * PACK, valid = r1 - row < PACK ? r1 - row : PACK;
        for (int64_t t = 0; t < n; t += 4) {
            const int rt = n - t < 4 ? (int)(n - t) : 4;
            __m256 out[4];
            fns[rt - 1](nb, gw, (const char *)act + t * (int64_t)act_row_bytes, act_row_bytes, out);
            for (int i = 0; i < rt; i++) {
                float *dst = y + (t + i) * ldy + row;
                if (valid == PACK) {
                    _mm256_storeu_ps(dst, out[i]);
                } else {
                    float tmp[PACK];
                    _mm256_storeu_ps(tmp, out[i]);
                    memcpy(dst, tmp, (size_t)valid * sizeof(float));
                }
            }
        }
    }
}

#define PGEMM_FN(name, kind)                                                                                               \
    static void gemm_packed_##name(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *a, size_t arb, \
                                   int64_t n, float *y, int64_t ldy) {                                                    \
        static const ptile_fn fns[4] = {ptile_##kind##_1, ptile_##kind##_2, ptile_##kind##_3, ptile_##kind##_4};           \
        gemm_packed_groups(fns, k, w, wrb, r0, r1, a, arb, n, y, ldy);                                                     \
    }                                                                                                                      \
    static void pack_##name(const void *w, size_t wrb, int64_t rows, int64_t k, void *dst) {                               \
        pack_rows(kind, w, wrb, rows, k, dst);                                                                             \
    }
PGEMM_FN(q4_0, K_Q4_0)
PGEMM_FN(q4_1, K_Q4_1)
PGEMM_FN(q5_0, K_Q5_0)
PGEMM_FN(q5_1, K_Q5_1)
PGEMM_FN(q8_0, K_Q8_0)
PGEMM_FN(iq4_nl, K_IQ4_NL)

/* ---------------------------------------------------------------- activations */

/* roundf (half away from zero) of 8 floats, saturated to int8's range, NaN to 0: the
 * reference's round_to_int8. Exact: v - trunc(v) is computed without rounding error. */
INLINE __m256i round_i32(__m256 v) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, t));
    __m256 up = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                              _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign_bit)));
    t = _mm256_add_ps(t, up);
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    t = _mm256_and_ps(t, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN -> 0 */
    return _mm256_cvttps_epi32(t);
}

/* One 32-block to int8 with d = amax / 127; returns d, *sum = sum of the levels. */
INLINE float quantize_block_q8(const float *x, int8_t *q, int *sum) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        amax = _mm256_max_ps(_mm256_andnot_ps(sign_bit, v[i]), amax);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float d = _mm_cvtss_f32(m4) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i i0 = round_i32(_mm256_mul_ps(v[0], idv)), i1 = round_i32(_mm256_mul_ps(v[1], idv));
    __m256i i2 = round_i32(_mm256_mul_ps(v[2], idv)), i3 = round_i32(_mm256_mul_ps(v[3], idv));
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    *sum = _mm_cvtsi128_si32(s4);
    /* int32 -> int8, restoring the element order the in-lane packs shuffle */
    __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, p);
    return d;
}

static void quantize_q8_0(const float *x, void *dst, int64_t k) {
    block_q8_0 *y = dst;
    int sum;
    for (int64_t i = 0; i < k / 32; i++) y[i].d = celer_fp32_to_fp16(quantize_block_q8(x + 32 * i, y[i].qs, &sum));
}

static void quantize_q8_1(const float *x, void *dst, int64_t k) {
    block_q8_1 *y = dst;
    int sum;
    for (int64_t i = 0; i < k / 32; i++) {
        const float d = quantize_block_q8(x + 32 * i, y[i].qs, &sum);
        y[i].d = celer_fp32_to_fp16(d);
        y[i].s = celer_fp32_to_fp16((float)sum * d);
    }
}

static void quantize_f32(const float *x, void *dst, int64_t k) { memcpy(dst, x, (size_t)k * sizeof(float)); }

static void quantize_f16(const float *x, void *dst, int64_t k) { celer_fp32_to_fp16_row(x, dst, k); }

static void quantize_bf16(const float *x, void *dst, int64_t k) {
    uint16_t *y = dst;
    for (int64_t i = 0; i < k; i++) y[i] = celer_fp32_to_bf16(x[i]);
}

/* ---------------------------------------------------------------- wide activations (prefill) */

/* Products of many tokens with the signed 32-element types (Q8_0, Q4_0, Q5_0, IQ4_NL).
 * The activation is quantized as for gemm (Q8_0 levels and their fp16 scale, the same
 * bytes), then stored wide (kernels.h): the levels as int16, the scales as floats. The
 * weights' levels are taken to int16 too, and _mm256_madd_epi16 multiplies and adds
 * pairs exactly: 16 products per instruction, no sign trick (Q8_0 with maddubs needs
 * |w| and sign(a, w), then a widening madd: three instructions on the multiply ports per
 * 32 products instead of two). Q8_0 is read from its packed chunks, each quant vector
 * widened by two sign extensions (rows 0-3, rows 4-7: lanes (row, element pair)); the
 * other types are first unpacked into chunks of the same Q8_0 layout, WIDE_CHUNK_BLOCKS
 * blocks at a time, once for all the call's tokens. Per block, a tile of PACK rows x up
 * to 4 tokens keeps 8 int32 accumulators; a horizontal add of the two row halves gives
 * the rows' sums (order 0 1 4 5 | 2 3 6 7, undone at the end) for the block's scales. */
enum { WIDE_CHUNK_BLOCKS = 32 };
#define Q8_CHUNK_BYTES (PACK * sizeof(block_q8_0))

static void quantize_wide(const float *x, void *dst, int64_t k) {
    const int64_t nb = k / 32;
    float *d = dst;
    int16_t *q = (int16_t *)((char *)dst + nb * (int64_t)sizeof(float));
    for (int64_t b = 0; b < nb; b++) {
        int8_t levels[32];
        int sum;
        d[b] = celer_fp16_to_fp32(celer_fp32_to_fp16(quantize_block_q8(x + 32 * b, levels, &sum)));
        const __m256i v = _mm256_loadu_si256((const __m256i *)levels);
        _mm256_storeu_si256((__m256i *)(q + 32 * b), _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)));
        _mm256_storeu_si256((__m256i *)(q + 32 * b + 16), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)));
    }
}

/* RT tokens x one group over nb blocks of Q8_0-layout chunks at gw (stride Q8_CHUNK_BYTES):
 * out[t] = the 8 rows' dots, row order. a: the tokens' wide rows (stride arb), already
 * advanced to the first block (scales at as, levels at aq: offsets into each row). */
INLINE void wide_tile(int RT, int64_t nb, const char *gw, const char *a, size_t arb, size_t as, size_t aq, __m256 out[4]) {
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    __m256 acc[4];
    for (int t = 0; t < RT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const char *chunk = gw + b * (int64_t)Q8_CHUNK_BYTES;
        _mm_prefetch(chunk + PREFETCH_BYTES, _MM_HINT_T0);
        _mm_prefetch(chunk + PREFETCH_BYTES + 64, _MM_HINT_T0);
        _mm_prefetch(chunk + PREFETCH_BYTES + 128, _MM_HINT_T0);
        const __m256 dv = _mm256_permutevar8x32_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)chunk)), order);
        const char *q = chunk + 2 * PACK;
        __m256i lo[4], hi[4];
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            const __m256i wl = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 32 * c)));
            const __m256i wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 32 * c + 16)));
#pragma GCC unroll 4
            for (int t = 0; t < RT; t++) {
                int64_t pair2; /* elements 4c..4c+3 of the block, in every 64-bit lane */
                memcpy(&pair2, a + t * arb + aq + (size_t)b * 64 + 8 * (size_t)c, 8);
                const __m256i av = _mm256_set1_epi64x(pair2);
                const __m256i pl = _mm256_madd_epi16(wl, av), ph = _mm256_madd_epi16(wh, av);
                lo[t] = c == 0 ? pl : _mm256_add_epi32(lo[t], pl);
                hi[t] = c == 0 ? ph : _mm256_add_epi32(hi[t], ph);
                /* keeps the sums a chain in registers (GCC would otherwise hold all 64 products) */
                __asm__("" : "+x"(lo[t]), "+x"(hi[t]));
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < RT; t++) {
            float da;
            memcpy(&da, a + t * arb + as + (size_t)b * sizeof(float), sizeof(float));
            const __m256 s = _mm256_cvtepi32_ps(_mm256_hadd_epi32(lo[t], hi[t]));
            acc[t] = _mm256_fmadd_ps(s, _mm256_mul_ps(dv, _mm256_set1_ps(da)), acc[t]);
        }
    }
    for (int t = 0; t < RT; t++) out[t] = _mm256_permutevar8x32_ps(acc[t], order);
}

#define WTILE_FN(RT)                                                                                                       \
    static void wtile_##RT(int64_t nb, const char *gw, const char *a, size_t arb, size_t as, size_t aq, __m256 out[4]) {   \
        wide_tile(RT, nb, gw, a, arb, as, aq, out);                                                                        \
    }
WTILE_FN(1)
WTILE_FN(2)
WTILE_FN(3)
WTILE_FN(4)
typedef void (*wtile_fn)(int64_t nb, const char *gw, const char *a, size_t arb, size_t as, size_t aq, __m256 out[4]);

/* nb packed chunks of kind at src -> Q8_0-layout chunks at dst: the scales, then the
 * levels as signed bytes (Q4_0 less 8, Q5_0 less 16; IQ4_NL's table values). */
INLINE void unpack_q8_layout(int kind, const char *src, int64_t nb, char *dst) {
    const __m256i offset = _mm256_set1_epi8(kind == K_Q4_0 ? 8 : kind == K_Q5_0 ? 16 : 0);
    for (int64_t b = 0; b < nb; b++) {
        const char *chunk = src + b * (int64_t)packed_chunk_bytes(kind);
        char *out = dst + b * (int64_t)Q8_CHUNK_BYTES;
        memcpy(out, chunk, 2 * PACK);
        __m256i wq[8];
        packed_levels(kind, chunk, wq);
        for (int c = 0; c < 8; c++) _mm256_storeu_si256((__m256i *)(out + 2 * PACK + 32 * c), _mm256_sub_epi8(wq[c], offset));
    }
}

static void gemm_wide(int kind, int64_t k, const void *w, size_t w_row_bytes, int64_t r0, int64_t r1, const void *act,
                      size_t act_row_bytes, int64_t n, float *y, int64_t ldy) {
    static const wtile_fn fns[4] = {wtile_1, wtile_2, wtile_3, wtile_4};
    const int64_t nb = k / 32;
    const size_t cb = packed_chunk_bytes(kind);
    _Alignas(32) char buf[WIDE_CHUNK_BLOCKS * Q8_CHUNK_BYTES];
    for (int64_t g = r0 / PACK; g * PACK < r1; g++) {
        const char *gw = (const char *)w + g * PACK * (int64_t)w_row_bytes;
        const int64_t row = g * PACK, valid = r1 - row < PACK ? r1 - row : PACK;
        const int64_t span = kind == K_Q8_0 ? nb : WIDE_CHUNK_BLOCKS;
        for (int64_t b0 = 0; b0 < nb; b0 += span) {
            const int64_t nbc = nb - b0 < span ? nb - b0 : span;
            const char *chunks = gw + b0 * (int64_t)cb;
            if (kind != K_Q8_0) {
                unpack_q8_layout(kind, chunks, nbc, buf);
                chunks = buf;
            }
            const size_t as = (size_t)b0 * sizeof(float), aq = (size_t)nb * sizeof(float) + (size_t)b0 * 64;
            for (int64_t t = 0; t < n; t += 4) {
                const int rt = n - t < 4 ? (int)(n - t) : 4;
                __m256 out[4];
                fns[rt - 1](nbc, chunks, (const char *)act + t * (int64_t)act_row_bytes, act_row_bytes, as, aq, out);
                for (int i = 0; i < rt; i++) {
                    float *dst = y + (t + i) * ldy + row;
                    if (valid == PACK) {
                        _mm256_storeu_ps(dst, b0 == 0 ? out[i] : _mm256_add_ps(_mm256_loadu_ps(dst), out[i]));
                        continue;
                    }
                    float tmp[PACK];
                    _mm256_storeu_ps(tmp, out[i]);
                    for (int64_t r = 0; r < valid; r++) dst[r] = b0 == 0 ? tmp[r] : dst[r] + tmp[r];
                }
            }
        }
    }
}

#define WGEMM_FN(name, kind)                                                                                               \
    static void gemm_wide_##name(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *a, size_t arb,  \
                                 int64_t n, float *y, int64_t ldy) {                                                      \
        gemm_wide(kind, k, w, wrb, r0, r1, a, arb, n, y, ldy);                                                            \
    }
WGEMM_FN(q4_0, K_Q4_0)
WGEMM_FN(q5_0, K_Q5_0)
WGEMM_FN(q8_0, K_Q8_0)
WGEMM_FN(iq4_nl, K_IQ4_NL)

/* ---------------------------------------------------------------- float weights */

enum { F_F32, F_F16, F_BF16 };

INLINE __m256 load8(int kind, const char *p, int64_t i) {
    switch (kind) {
    case F_F32: return _mm256_loadu_ps((const float *)p + i);
    case F_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    default: {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
    }
    }
}

INLINE float load1(int kind, const char *p, int64_t i) {
    switch (kind) {
    case F_F32: return ((const float *)p)[i];
    case F_F16: return celer_fp16_to_fp32(((const uint16_t *)p)[i]);
    default: return celer_bf16_to_fp32(((const uint16_t *)p)[i]);
    }
}

INLINE void tile_float(int kind, int RM, int RT, int64_t k, const char *w, size_t wrb, const char *a, size_t arb, float *y,
                       int64_t ldy) {
    __m256 acc[TILE_R][TILE_T];
    for (int r = 0; r < RM; r++)
        for (int t = 0; t < RT; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 av[TILE_T];
        for (int t = 0; t < RT; t++) av[t] = load8(kind, a + t * arb, i);
        for (int r = 0; r < RM; r++) {
            __m256 wv = load8(kind, w + r * wrb, i);
            for (int t = 0; t < RT; t++) acc[r][t] = _mm256_fmadd_ps(wv, av[t], acc[r][t]);
        }
    }
    for (int r = 0; r < RM; r++)
        for (int t = 0; t < RT; t++) {
            float s = hsum8(acc[r][t]);
            for (int64_t j = i; j < k; j++) s += load1(kind, w + r * wrb, j) * load1(kind, a + t * arb, j);
            y[t * ldy + r] = s;
        }
}

TILE_FNS(tile_float, F_F32)
TILE_FNS(tile_float, F_F16)
TILE_FNS(tile_float, F_BF16)
GEMM_FN(f32, tile_float, F_F32, 1)
GEMM_FN(f16, tile_float, F_F16, 1)
GEMM_FN(bf16, tile_float, F_BF16, 1)

void quant_kernels_fill_avx2(quant_kernels table[QUANT_TYPE_COUNT]) {
    table[QUANT_Q4_0] = (quant_kernels){.quantize_act = quantize_q8_0, .gemm = gemm_q4_0, .pack_rows = PACK, .pack = pack_q4_0,
                                        .gemm_packed = gemm_packed_q4_0,
                                        .quantize_act_wide = quantize_wide, .gemm_packed_wide = gemm_wide_q4_0};
    table[QUANT_Q4_1] = (quant_kernels){.quantize_act = quantize_q8_1, .gemm = gemm_q4_1, .pack_rows = PACK, .pack = pack_q4_1,
                                        .gemm_packed = gemm_packed_q4_1};
    table[QUANT_Q5_0] = (quant_kernels){.quantize_act = quantize_q8_0, .gemm = gemm_q5_0, .pack_rows = PACK, .pack = pack_q5_0,
                                        .gemm_packed = gemm_packed_q5_0,
                                        .quantize_act_wide = quantize_wide, .gemm_packed_wide = gemm_wide_q5_0};
    table[QUANT_Q5_1] = (quant_kernels){.quantize_act = quantize_q8_1, .gemm = gemm_q5_1, .pack_rows = PACK, .pack = pack_q5_1,
                                        .gemm_packed = gemm_packed_q5_1};
    table[QUANT_Q8_0] = (quant_kernels){.quantize_act = quantize_q8_0, .gemm = gemm_q8_0, .pack_rows = PACK, .pack = pack_q8_0,
                                        .gemm_packed = gemm_packed_q8_0,
                                        .quantize_act_wide = quantize_wide, .gemm_packed_wide = gemm_wide_q8_0};
    table[QUANT_IQ4_NL] = (quant_kernels){.quantize_act = quantize_q8_0, .gemm = gemm_iq4_nl, .pack_rows = PACK,
                                          .pack = pack_iq4_nl, .gemm_packed = gemm_packed_iq4_nl,
                                        .quantize_act_wide = quantize_wide, .gemm_packed_wide = gemm_wide_iq4_nl};
    table[QUANT_F32] = (quant_kernels){.quantize_act = quantize_f32, .gemm = gemm_f32};
    table[QUANT_F16] = (quant_kernels){.quantize_act = quantize_f16, .gemm = gemm_f16};
    table[QUANT_BF16] = (quant_kernels){.quantize_act = quantize_bf16, .gemm = gemm_bf16};
}

#endif
