/* kernels_avx512.c: AVX-512 kernels (F, BW, VL, DQ and VNNI) for the packed layout of the
 * 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL); see kernels_x86.h.
 *
 * What it replaces. The products of a model's matrices run on the packed layout (the CPU
 * backend repacks every matrix whose kernels have one), for a few tokens (decode) and
 * for many (prompts) alike, so this file gives those types their own packed layout of
 * PACK = 16 rows (one zmm register holds 4 bytes of each of 16 rows), its pack and its
 * gemm_packed. The activation quantizers (Q8_0, Q8_1: the reference's bytes) and the
 * gemm on the file's layout (CELER_REPACK=0 only) stay the AVX2 ones. The AVX2 table's
 * wide (int16) activations are dropped for these types: with VNNI one vpdpbusd does 64
 * int8 products, twice what vpdpwssd does on int16, so the byte activations are the
 * faster form here too (an argument from instruction counts: the speed of this file has
 * not been measured, the machines it was written on have no AVX-512).
 *
 * The layout. A group of 16 rows is stored block by block: a chunk per block of 32
 * elements holds the 16 fp16 scales d, then (Q4_1, Q5_1) the 16 fp16 mins m, then
 * (Q5_0, Q5_1) a plane of the fifth bits (64 bytes), then the quants as vectors V_c of
 * 16 x 4 bytes, lane r holding bytes 4c..4c+3 of row r's block: for the 4- and 5-bit
 * types V_0..V_3 carry the 16 nibble bytes (low nibbles of V_c: elements 4c..4c+3, high
 * nibbles: elements 16+4c..16+4c+3); for Q8_0, V_0..V_7 are its 32 bytes, stored plus
 * 128 (as unsigned bytes). A chunk takes 16 blocks' bytes exactly, so
 * quant_kernels_packed_bytes holds. The fifth-bit plane: bit c of byte j is the fifth
 * bit of the element whose nibble is in byte j of V_(c mod 4), low nibble for c < 4.
 *
 * The products. Each weight vector is unpacked to 16 x 4 unsigned levels u (nibble,
 * nibble + fifth bit, Q8_0's q + 128, IQ4_NL's table value + 128 by one byte shuffle)
 * and multiplied by _mm512_dpbusd_epi32 with the four activation bytes of the same
 * elements broadcast to every lane: one instruction adds the 4 products of each of the
 * 16 rows to its int32 lane, so the 16 rows' sums end up in the lanes of one register and
 * the scales are applied as vectors (no horizontal sums). VNNI is required by the table
 * (kernels.c checks for it): without it the unsigned-times-signed product of Q8_0's
 * q + 128 would need int16 pair sums, which overflow. The level offset (8 for Q4_0, 16
 * for Q5_0, 128 for Q8_0 and IQ4_NL) is taken off as offset x the activation block's
 * sum: sum (u - o) a = sum u a - o sum a, in int32, exact; products stay below 2^24 in
 * magnitude, so the one conversion to float is exact too, and only the order of the float
 * additions differs from the reference. Q4_1 and Q5_1 add m x s of the Q8_1 activation
 * (s = d sum q) as a vector FMA. A tile is one group x up to 8 tokens: each weight chunk
 * is unpacked once for the tile's tokens, each token keeps one float accumulator.
 *
 * Build. Natively, <immintrin.h> and the -mavx512* flags (CMakeLists.txt). With
 * CELER_AVX512_EMULATED, SIMDe's implementations of the same intrinsics (portable C, or
 * the host's AVX2 where the build targets it) and no AVX-512 flag: that build is what
 * tests/test_kernels.c checks as test_kernels_avx512 on a machine without AVX-512 (the
 * switch, and the few intrinsics SIMDe 0.7.4 lacks, are in simd_avx512.h). */
#include "quant/kernels_x86.h"

#if defined(CELER_KERNELS_X86) || defined(CELER_AVX512_EMULATED)

#ifdef CELER_AVX512_EMULATED
#define quant_kernels_fill_avx512 quant_kernels_fill_avx512_emulated
#endif
#include "quant/simd_avx512.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"

enum { PACK = AVX512_PACK, TILE_T = 8 };
_Static_assert((int)TILE_T <= (int)AVX512_MAX_TILE, "a tile wider than avx512_gemm_groups takes");
/* How far ahead of the chunk being read its successors are prefetched (a group's chunks
 * are contiguous, and groups follow each other). */
#define PREFETCH_BYTES 2048

/* The kinds of 32-element weight blocks. */
enum { K_Q4_0, K_Q4_1, K_Q5_0, K_Q5_1, K_Q8_0, K_IQ4_NL };

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
INLINE int has_high(int kind) { return kind == K_Q5_0 || kind == K_Q5_1; }
/* The level offset o of the unsigned levels u: the weight's value is d (u - o). */
INLINE int level_offset(int kind) {
    switch (kind) {
    case K_Q4_0: return 8;
    case K_Q5_0: return 16;
    case K_Q8_0:
    case K_IQ4_NL: return 128;
    default: return 0;
    }
}
INLINE size_t packed_scale_bytes(int kind) { return (has_min(kind) ? 4 * PACK : 2 * PACK) + (has_high(kind) ? 64 : 0); }
INLINE size_t packed_chunk_bytes(int kind) { return PACK * wblock_bytes(kind); }

INLINE int32_t rd32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

INLINE float h2f(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return celer_fp16_to_fp32(h);
}

/* IQ4_NL_VALUES plus 128, as unsigned bytes. */
#define IQ4_NL_BIASED {1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241}

/* ---------------------------------------------------------------- packing */

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
            uint8_t plane[4 * PACK] = {0};
            for (int r = 0; r < PACK && g * PACK + r < rows; r++) {
                const char *src = (const char *)w + (g * PACK + r) * (int64_t)w_row_bytes + b * (int64_t)wblock_bytes(kind);
                memcpy(chunk + 2 * r, src, 2);                                   /* d */
                if (has_min(kind)) memcpy(chunk + 2 * PACK + 2 * r, src + 2, 2); /* m */
                for (int c = 0; c < nvec; c++) {
                    uint8_t *q = (uint8_t *)chunk + sb + 4 * PACK * c + 4 * r;
                    memcpy(q, src + qs_off + 4 * c, 4);
                    if (kind == K_Q8_0)
                        for (int i = 0; i < 4; i++) q[i] ^= 0x80; /* q + 128 */
                }
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

/* ---------------------------------------------------------------- products */

/* The 8 level vectors of a packed chunk: wq[c], lane r = row r's unsigned levels of
 * elements 4c..4c+3 of the block. */
INLINE void packed_levels(int kind, const char *chunk, __m512i wq[8]) {
    const char *q = chunk + packed_scale_bytes(kind);
    if (kind == K_Q8_0) {
        for (int c = 0; c < 8; c++) wq[c] = _mm512_loadu_si512((const void *)(q + 4 * PACK * c));
        return;
    }
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int c = 0; c < 4; c++) {
        const __m512i v = _mm512_loadu_si512((const void *)(q + 4 * PACK * c));
        wq[c] = _mm512_and_si512(v, m4);
        wq[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    }
    if (kind == K_IQ4_NL) {
        /* the table's values plus 128, as unsigned bytes, in every 128-bit lane */
        static const uint8_t biased[16] = IQ4_NL_BIASED;
        const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)biased));
        for (int c = 0; c < 8; c++) wq[c] = _mm512_shuffle_epi8(table, wq[c]);
    }
    if (has_high(kind)) {
        /* bit c of byte j of the plane -> bit 4 of byte j of vector c: a 16-bit shift by
         * 4 - c (left) or c - 4 (right) cannot carry a neighbour byte's bit onto bit 4 */
        const __m512i plane = _mm512_loadu_si512((const void *)(chunk + (has_min(kind) ? 4 * PACK : 2 * PACK)));
        const __m512i b4 = _mm512_set1_epi8(0x10);
        wq[0] = _mm512_or_si512(wq[0], _mm512_and_si512(_mm512_slli_epi16(plane, 4), b4));
        wq[1] = _mm512_or_si512(wq[1], _mm512_and_si512(_mm512_slli_epi16(plane, 3), b4));
        wq[2] = _mm512_or_si512(wq[2], _mm512_and_si512(_mm512_slli_epi16(plane, 2), b4));
        wq[3] = _mm512_or_si512(wq[3], _mm512_and_si512(_mm512_slli_epi16(plane, 1), b4));
        wq[4] = _mm512_or_si512(wq[4], _mm512_and_si512(plane, b4));
        wq[5] = _mm512_or_si512(wq[5], _mm512_and_si512(_mm512_srli_epi16(plane, 1), b4));
        wq[6] = _mm512_or_si512(wq[6], _mm512_and_si512(_mm512_srli_epi16(plane, 2), b4));
        wq[7] = _mm512_or_si512(wq[7], _mm512_and_si512(_mm512_srli_epi16(plane, 3), b4));
    }
}

/* Sum of the 32 int8 of an activation block (biased to unsigned for the byte sums). */
INLINE int block_sum(const int8_t *q) {
    const __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)q), _mm256_set1_epi8((char)0x80));
    const __m256i s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s2 = _mm_add_epi64(s2, _mm_unpackhi_epi64(s2, s2));
    return _mm_cvtsi128_si32(s2) - 32 * 128;
}

/* One group of PACK rows x RT tokens over all nb blocks: out[t] = the rows' dots. */
INLINE void packed_tile(int kind, int RT, int64_t nb, const char *gw, const char *a, size_t arb, __m512 out[TILE_T]) {
    const size_t cb = packed_chunk_bytes(kind);
    const size_t abs_ = has_min(kind) ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t aqs = has_min(kind) ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    const int off = level_offset(kind);
    __m512 acc[TILE_T];
    for (int t = 0; t < RT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const char *chunk = gw + b * (int64_t)cb;
        for (size_t o = 0; o < cb; o += 64) _mm_prefetch(chunk + PREFETCH_BYTES + o, _MM_HINT_T0);
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)chunk));
        const __m512 mv = has_min(kind) ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(chunk + 2 * PACK))) : dv;
        __m512i wq[8];
        packed_levels(kind, chunk, wq);
        for (int t = 0; t < RT; t++) {
            const char *ab = a + t * arb + b * (int64_t)abs_;
            const int8_t *aq = (const int8_t *)(ab + aqs);
            __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[0], _mm512_set1_epi32(rd32(aq)));
            for (int c = 1; c < 8; c++) isum = _mm512_dpbusd_epi32(isum, wq[c], _mm512_set1_epi32(rd32(aq + 4 * c)));
            if (off) isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(off * block_sum(aq)));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dv, _mm512_set1_ps(h2f(ab))), acc[t]);
            if (has_min(kind)) acc[t] = _mm512_fmadd_ps(mv, _mm512_set1_ps(h2f(ab + 2)), acc[t]);
        }
    }
    for (int t = 0; t < RT; t++) out[t] = acc[t];
}

#define PTILE_FN(kind, RT)                                                                                                 \
    static void ptile_##kind##_##RT(int64_t nb, const char *gw, const char *a, size_t arb, __m512 out[TILE_T]) {           \
        packed_tile(kind, RT, nb, gw, a, arb, out);                                                                        \
    }
#define PTILE_FNS(kind)                                                                                                    \
    PTILE_FN(kind, 1) PTILE_FN(kind, 2) PTILE_FN(kind, 3) PTILE_FN(kind, 4) PTILE_FN(kind, 5) PTILE_FN(kind, 6)            \
        PTILE_FN(kind, 7) PTILE_FN(kind, 8)
PTILE_FNS(K_Q4_0)
PTILE_FNS(K_Q4_1)
PTILE_FNS(K_Q5_0)
PTILE_FNS(K_Q5_1)
PTILE_FNS(K_Q8_0)
PTILE_FNS(K_IQ4_NL)

typedef avx512_tile_fn ptile_fn;

/* Groups from r0 / PACK while they hold rows below r1, tokens TILE_T at a time; the rows
 * of a last partial group past r1 are not written. */

#define PGEMM_FN(name, kind)                                                                                               \
    static void gemm_packed_##name(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *a, size_t arb, \
                                   int64_t n, float *y, int64_t ldy) {                                                    \
        static const ptile_fn fns[TILE_T] = {ptile_##kind##_1, ptile_##kind##_2, ptile_##kind##_3, ptile_##kind##_4,       \
                                             ptile_##kind##_5, ptile_##kind##_6, ptile_##kind##_7, ptile_##kind##_8};      \
        avx512_gemm_groups(fns, TILE_T, k / 32, w, wrb, r0, r1, a, arb, n, y, ldy);                                        \
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


void quant_kernels_fill_avx512(quant_kernels table[QUANT_TYPE_COUNT]) {
    avx512_set_packed(&table[QUANT_Q4_0], pack_q4_0, gemm_packed_q4_0);
    avx512_set_packed(&table[QUANT_Q4_1], pack_q4_1, gemm_packed_q4_1);
    avx512_set_packed(&table[QUANT_Q5_0], pack_q5_0, gemm_packed_q5_0);
    avx512_set_packed(&table[QUANT_Q5_1], pack_q5_1, gemm_packed_q5_1);
    avx512_set_packed(&table[QUANT_Q8_0], pack_q8_0, gemm_packed_q8_0);
    avx512_set_packed(&table[QUANT_IQ4_NL], pack_iq4_nl, gemm_packed_iq4_nl);
}

#endif
