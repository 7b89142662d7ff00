/* kernels_avx512_k.c: AVX-512 kernels (F, BW, VL, DQ and VNNI) for the packed layout of
 * Q4_K, Q5_K and Q6_K against Q8_K activations; see kernels_x86.h and, for the scheme,
 * kernels_avx512.c. The Q8_K quantizer and the gemm on the file's layout stay the AVX2
 * ones; Q2_K and Q3_K keep their AVX2 entries. Not measured: no AVX-512 machine here.
 *
 * The layout: a group of 16 rows is stored super-block by super-block, each chunk the
 * 16 rows' blocks transposed in 4-byte words: word w of row r at chunk + 64 w + 4 r, so
 * that one zmm load gives the same 4 bytes of the 16 rows. Q4_K and Q5_K put their first
 * word (fp16 d and dmin) as the 16 d then the 16 dmin instead, Q6_K its last two bytes
 * (fp16 d) as 16 d after its 52 words: a chunk is 16 blocks' bytes exactly.
 *
 * The products. A word vector of quants is unpacked to 16 x 4 unsigned levels u (Q4_K:
 * the nibble; Q5_K: with the fifth bit; Q6_K: q + 32, 0..63) of 4 consecutive elements
 * and multiplied with the 4 activation bytes broadcast by _mm512_dpbusd_epi32: each row's
 * int32 lane gets its 4 products. The sums of a sub-block (32 elements for Q4_K/Q5_K, 16
 * for Q6_K) are multiplied by the rows' scale of that sub-block (_mm512_mullo_epi32,
 * the scales decoded from the words for the 16 rows at once) and added; Q6_K's offset
 * 32 is taken off each 16 as 32 x the activation's bsum first, the mins of Q4_K/Q5_K by
 * the rows' mins times the bsums (_mm512_dpwssd_epi32 on pairs). Everything stays the
 * reference's exact integers until the one conversion per super-block to float. A tile is
 * one group x up to 4 tokens; the levels of each 64 elements are unpacked once for the
 * tile's tokens. */
#include "quant/kernels_x86.h"

#if defined(CELER_KERNELS_X86) || defined(CELER_AVX512_EMULATED)

#ifdef CELER_AVX512_EMULATED
#define quant_kernels_fill_avx512_k quant_kernels_fill_avx512_k_emulated
#endif
#include "quant/simd_avx512.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quant/blocks.h"

enum { PACK = AVX512_PACK, TILE_T = 4 };
_Static_assert((int)TILE_T <= (int)AVX512_MAX_TILE, "a tile wider than avx512_gemm_groups takes");
#define PREFETCH_BYTES 2048

enum { KQ4, KQ5, KQ6 };

INLINE size_t kblock_bytes(int kind) {
    return kind == KQ4 ? sizeof(block_q4_K) : kind == KQ5 ? sizeof(block_q5_K) : sizeof(block_q6_K);
}
INLINE size_t chunk_bytes(int kind) { return PACK * kblock_bytes(kind); }

INLINE int32_t rd32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---------------------------------------------------------------- packing */

static void pack_k(int kind, const void *w, size_t w_row_bytes, int64_t rows, int64_t k, void *dst) {
    const int64_t nsb = k / QK_K, groups = (rows + PACK - 1) / PACK;
    const size_t bb = kblock_bytes(kind), cb = chunk_bytes(kind), nw = bb / 4;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t s = 0; s < nsb; s++) {
            char *chunk = (char *)dst + (g * nsb + s) * (int64_t)cb;
            memset(chunk, 0, cb);
            for (int r = 0; r < PACK && g * PACK + r < rows; r++) {
                const char *src = (const char *)w + (g * PACK + r) * (int64_t)w_row_bytes + s * (int64_t)bb;
                for (size_t i = 0; i < nw; i++) {
                    if (kind != KQ6 && i == 0) {
                        memcpy(chunk + 2 * r, src, 2);             /* d */
                        memcpy(chunk + 2 * PACK + 2 * r, src + 2, 2); /* dmin */
                    } else {
                        memcpy(chunk + 4 * PACK * i + 4 * r, src + 4 * i, 4);
                    }
                }
                if (kind == KQ6) memcpy(chunk + 4 * PACK * nw + 2 * r, src + 4 * nw, 2); /* d */
            }
        }
}

/* ---------------------------------------------------------------- helpers */

INLINE __m512i word(const char *chunk, int i) { return _mm512_loadu_si512((const void *)(chunk + 4 * PACK * i)); }

INLINE __m512i bcast4(const int8_t *p) { return _mm512_set1_epi32(rd32(p)); }

/* Byte i of each int32 lane, zero-extended. */
INLINE __m512i byte_of(__m512i v, int i) {
    const __m512i ff = _mm512_set1_epi32(0xff);
    switch (i) {
    case 0: return _mm512_and_si512(v, ff);
    case 1: return _mm512_and_si512(_mm512_srli_epi32(v, 8), ff);
    case 2: return _mm512_and_si512(_mm512_srli_epi32(v, 16), ff);
    default: return _mm512_srli_epi32(v, 24);
    }
}

/* Q4_K/Q5_K: the 16 rows' 6-bit scales sc[0..7] and mins as int16 pairs mn2[0..3]
 * (mins 2j and 2j + 1 in the low and high halves of each lane), from the scale words
 * w1 = b[0..3], w2 = b[4..7], w3 = b[8..11] (ggml's get_scale_min_k4: scale j < 4 is
 * b[j] & 63, min j < 4 is b[j + 4] & 63; scale 4 + j is the low nibble of b[8 + j] under
 * the top two bits of b[j], min 4 + j the high nibble of b[8 + j] under those of b[4 + j]). */
INLINE void k4_scales(const char *chunk, __m512i sc[8], __m512i mn2[4]) {
    const __m512i w1 = word(chunk, 1), w2 = word(chunk, 2), w3 = word(chunk, 3);
    const __m512i m63 = _mm512_set1_epi32(63), m15 = _mm512_set1_epi32(15), m3 = _mm512_set1_epi32(3);
    __m512i mn[8];
    for (int j = 0; j < 4; j++) {
        const __m512i b0 = byte_of(w1, j), b4 = byte_of(w2, j), b8 = byte_of(w3, j);
        sc[j] = _mm512_and_si512(b0, m63);
        mn[j] = _mm512_and_si512(b4, m63);
        sc[4 + j] = _mm512_or_si512(_mm512_and_si512(b8, m15), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(b0, 6), m3), 4));
        mn[4 + j] = _mm512_or_si512(_mm512_srli_epi32(b8, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(b4, 6), m3), 4));
    }
    for (int j = 0; j < 4; j++) mn2[j] = _mm512_or_si512(mn[2 * j], _mm512_slli_epi32(mn[2 * j + 1], 16));
}

/* Q5_K: bit s of each byte of the high-bit word, moved to bit 4 (a 16-bit shift by at
 * most 4 cannot carry a neighbour byte's bit onto bit 4). */
INLINE __m512i fifth_bit(__m512i qh, int s) {
    const __m512i b4 = _mm512_set1_epi8(0x10);
    switch (s) {
    case 0: return _mm512_and_si512(_mm512_slli_epi16(qh, 4), b4);
    case 1: return _mm512_and_si512(_mm512_slli_epi16(qh, 3), b4);
    case 2: return _mm512_and_si512(_mm512_slli_epi16(qh, 2), b4);
    case 3: return _mm512_and_si512(_mm512_slli_epi16(qh, 1), b4);
    case 4: return _mm512_and_si512(qh, b4);
    case 5: return _mm512_and_si512(_mm512_srli_epi16(qh, 1), b4);
    case 6: return _mm512_and_si512(_mm512_srli_epi16(qh, 2), b4);
    default: return _mm512_and_si512(_mm512_srli_epi16(qh, 3), b4);
    }
}

/* Q6_K: bits 2k, 2k + 1 of each byte of the high-bit word, moved to bits 4, 5. */
INLINE __m512i high2(__m512i qh, int k) {
    const __m512i m = _mm512_set1_epi8(0x30);
    switch (k) {
    case 0: return _mm512_and_si512(_mm512_slli_epi16(qh, 4), m);
    case 1: return _mm512_and_si512(_mm512_slli_epi16(qh, 2), m);
    case 2: return _mm512_and_si512(qh, m);
    default: return _mm512_and_si512(_mm512_srli_epi16(qh, 2), m);
    }
}

INLINE const int8_t *act_qs(const char *ab) { return (const int8_t *)(ab + offsetof(block_q8_K, qs)); }
INLINE int act_bsum(const char *ab, int g) {
    int16_t v;
    memcpy(&v, ab + offsetof(block_q8_K, bsums) + 2 * g, 2);
    return v;
}
INLINE float act_d(const char *ab) {
    float d;
    memcpy(&d, ab, sizeof(d));
    return d;
}

/* ---------------------------------------------------------------- products */

/* One group of PACK rows x RT tokens over all nsb super-blocks: out[t] = the rows' dots. */
INLINE void k_tile(int kind, int RT, int64_t nsb, const char *gw, const char *a, size_t arb, __m512 out[TILE_T]) {
    const size_t cb = chunk_bytes(kind);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc[TILE_T];
    for (int t = 0; t < RT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const char *chunk = gw + s * (int64_t)cb;
        for (size_t o = 0; o < cb; o += 64) _mm_prefetch(chunk + PREFETCH_BYTES + o, _MM_HINT_T0);
        const char *ab[TILE_T];
        for (int t = 0; t < RT; t++) ab[t] = a + t * arb + s * (int64_t)sizeof(block_q8_K);
        __m512i isum[TILE_T];
        for (int t = 0; t < RT; t++) isum[t] = _mm512_setzero_si512();
        if (kind == KQ6) {
            /* element 128h + 32k + 4c + i: nibble k / 2 of ql byte 64h + 32(k % 2) + 4c + i
             * (word 16h + 8(k % 2) + c), bits 2k, 2k + 1 of qh byte 32h + 4c + i (word
             * 32 + 8h + c); group (16 elements, one scale) 8h + 2k + c / 4 */
            __m512i sc[16];
            for (int q = 0; q < 4; q++) {
                const __m512i sw = word(chunk, 48 + q), b80 = _mm512_set1_epi32(0x80);
                for (int i = 0; i < 4; i++) sc[4 * q + i] = _mm512_sub_epi32(_mm512_xor_si512(byte_of(sw, i), b80), b80);
            }
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 4; k++) {
                    __m512i u[8];
                    for (int c = 0; c < 8; c++) {
                        const __m512i ql = word(chunk, 16 * h + 8 * (k % 2) + c), qh = word(chunk, 32 + 8 * h + c);
                        const __m512i lo = k < 2 ? _mm512_and_si512(ql, m4) : _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4);
                        u[c] = _mm512_or_si512(lo, high2(qh, k));
                    }
                    const int g = 8 * h + 2 * k;
                    for (int t = 0; t < RT; t++) {
                        const int8_t *aq = act_qs(ab[t]) + 128 * h + 32 * k;
                        __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[0], bcast4(aq));
                        __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[4], bcast4(aq + 16));
                        for (int c = 1; c < 4; c++) {
                            s0 = _mm512_dpbusd_epi32(s0, u[c], bcast4(aq + 4 * c));
                            s1 = _mm512_dpbusd_epi32(s1, u[c + 4], bcast4(aq + 16 + 4 * c));
                        }
                        s0 = _mm512_sub_epi32(s0, _mm512_set1_epi32(32 * act_bsum(ab[t], g)));
                        s1 = _mm512_sub_epi32(s1, _mm512_set1_epi32(32 * act_bsum(ab[t], g + 1)));
                        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(s0, sc[g]), _mm512_mullo_epi32(s1, sc[g + 1])));
                    }
                }
            const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(chunk + 4 * PACK * 52)));
            for (int t = 0; t < RT; t++)
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dv, _mm512_set1_ps(act_d(ab[t]))), acc[t]);
        } else {
            /* element 64j + 32n + 4c + i (sub-block 2j + n): nibble n of qs byte 32j + 4c + i
             * (word q0 + 8j + c); Q5_K: its fifth bit is bit 2j + n of qh byte 4c + i (word 4 + c) */
            const int q0 = kind == KQ4 ? 4 : 12;
            __m512i sc[8], mn2[4];
            k4_scales(chunk, sc, mn2);
            for (int j = 0; j < 4; j++) {
                __m512i u[16];
                for (int c = 0; c < 8; c++) {
                    const __m512i q = word(chunk, q0 + 8 * j + c);
                    u[c] = _mm512_and_si512(q, m4);
                    u[8 + c] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                    if (kind == KQ5) {
                        const __m512i qh = word(chunk, 4 + c);
                        u[c] = _mm512_or_si512(u[c], fifth_bit(qh, 2 * j));
                        u[8 + c] = _mm512_or_si512(u[8 + c], fifth_bit(qh, 2 * j + 1));
                    }
                }
                for (int t = 0; t < RT; t++) {
                    const int8_t *aq = act_qs(ab[t]) + 64 * j;
                    __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[0], bcast4(aq));
                    __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[8], bcast4(aq + 32));
                    for (int c = 1; c < 8; c++) {
                        s0 = _mm512_dpbusd_epi32(s0, u[c], bcast4(aq + 4 * c));
                        s1 = _mm512_dpbusd_epi32(s1, u[8 + c], bcast4(aq + 32 + 4 * c));
                    }
                    isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(s0, sc[2 * j]), _mm512_mullo_epi32(s1, sc[2 * j + 1])));
                }
            }
            const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)chunk));
            const __m512 dmv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(chunk + 2 * PACK)));
            for (int t = 0; t < RT; t++) {
                /* sum over the 8 sub-blocks of min x bsum (the bsum of 32: two of 16) */
                __m512i msum = _mm512_setzero_si512();
                for (int j = 0; j < 4; j++) {
                    const int b0 = act_bsum(ab[t], 4 * j) + act_bsum(ab[t], 4 * j + 1);
                    const int b1 = act_bsum(ab[t], 4 * j + 2) + act_bsum(ab[t], 4 * j + 3);
                    const int32_t pair = (int32_t)(((uint32_t)(uint16_t)b1 << 16) | (uint16_t)b0);
                    msum = _mm512_dpwssd_epi32(msum, mn2[j], _mm512_set1_epi32(pair));
                }
                const __m512 d8 = _mm512_set1_ps(act_d(ab[t]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dv, d8), acc[t]);
                acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmv, d8), acc[t]);
            }
        }
    }
    for (int t = 0; t < RT; t++) out[t] = acc[t];
}

#define KTILE_FN(kind, RT)                                                                                                 \
    static void ktile_##kind##_##RT(int64_t nsb, const char *gw, const char *a, size_t arb, __m512 out[TILE_T]) {          \
        k_tile(kind, RT, nsb, gw, a, arb, out);                                                                            \
    }
#define KTILE_FNS(kind) KTILE_FN(kind, 1) KTILE_FN(kind, 2) KTILE_FN(kind, 3) KTILE_FN(kind, 4)
KTILE_FNS(KQ4)
KTILE_FNS(KQ5)
KTILE_FNS(KQ6)

typedef avx512_tile_fn ktile_fn;


#define KGEMM_FN(name, kind)                                                                                               \
    static void gemm_packed_##name(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *a, size_t arb, \
                                   int64_t n, float *y, int64_t ldy) {                                                    \
        static const ktile_fn fns[TILE_T] = {ktile_##kind##_1, ktile_##kind##_2, ktile_##kind##_3, ktile_##kind##_4};      \
        avx512_gemm_groups(fns, TILE_T, k / QK_K, w, wrb, r0, r1, a, arb, n, y, ldy);                                      \
    }                                                                                                                      \
    static void pack_##name(const void *w, size_t wrb, int64_t rows, int64_t k, void *dst) {                               \
        pack_k(kind, w, wrb, rows, k, dst);                                                                                \
    }
KGEMM_FN(q4_K, KQ4)
KGEMM_FN(q5_K, KQ5)
KGEMM_FN(q6_K, KQ6)


void quant_kernels_fill_avx512_k(quant_kernels table[QUANT_TYPE_COUNT]) {
    avx512_set_packed(&table[QUANT_Q4_K], pack_q4_K, gemm_packed_q4_K);
    avx512_set_packed(&table[QUANT_Q5_K], pack_q5_K, gemm_packed_q5_K);
    avx512_set_packed(&table[QUANT_Q6_K], pack_q6_K, gemm_packed_q6_K);
}

#endif
