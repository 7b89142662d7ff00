/* simd_avx512.h: the intrinsics of the AVX-512 kernels (kernels_avx512.c,
 * kernels_avx512_k.c). Natively <immintrin.h> (the files are compiled with -mavx512*);
 * with CELER_AVX512_EMULATED, SIMDe's portable implementations of the same intrinsics
 * under the same names, so the same kernel source runs in test_kernels_avx512 on a CPU
 * without AVX-512. The two intrinsics SIMDe 0.7.4 lacks are defined from their 256-bit
 * halves there (the same results lane by lane). */
#ifndef CELER_QUANT_SIMD_AVX512_H
#define CELER_QUANT_SIMD_AVX512_H

#ifdef CELER_AVX512_EMULATED
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#else
#include <immintrin.h>
#endif

#define INLINE static inline __attribute__((always_inline))

#ifdef CELER_AVX512_EMULATED
INLINE __m512 emu_mm512_cvtepi32_ps(__m512i v) {
    const __m256 lo = _mm256_cvtepi32_ps(_mm512_castsi512_si256(v)), hi = _mm256_cvtepi32_ps(_mm512_extracti64x4_epi64(v, 1));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}
INLINE __m512 emu_mm512_cvtph_ps(__m256i h) {
    const __m256 lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h)), hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}
#define _mm512_cvtepi32_ps emu_mm512_cvtepi32_ps
#define _mm512_cvtph_ps emu_mm512_cvtph_ps
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quant/kernels.h"

/* Both files pack 16 rows per group: one zmm lane per row. */
enum { AVX512_PACK = 16, AVX512_MAX_TILE = 8 };

/* A tile: one group of packed rows (gw) x up to the file's tile width of tokens (act rows
 * at a, arb bytes apart) over nb blocks of its type; out[t]: the 16 rows' dots with token t. */
typedef void (*avx512_tile_fn)(int64_t nb, const char *gw, const char *a, size_t arb, __m512 *out);

/* gemm_packed over groups of rows [r0, r1) (r0 a multiple of 16), tile_t tokens at a time:
 * fns[rt - 1] computes a tile of rt tokens; rows past r1 in the last group are not written. */
static inline void avx512_gemm_groups(const avx512_tile_fn *fns, int tile_t, int64_t nb, const void *w, size_t w_row_bytes,
                                      int64_t r0, int64_t r1, const void *act, size_t act_row_bytes, int64_t n, float *y,
                                      int64_t ldy) {
    for (int64_t g = r0 / AVX512_PACK; g * AVX512_PACK < r1; g++) {
        const char *gw = (const char *)w + g * AVX512_PACK * (int64_t)w_row_bytes;
        const int64_t row = g * AVX512_PACK, valid = r1 - row < AVX512_PACK ? r1 - row : AVX512_PACK;
        for (int64_t t = 0; t < n; t += tile_t) {
            const int rt = n - t < tile_t ? (int)(n - t) : tile_t;
            __m512 out[AVX512_MAX_TILE];
            fns[rt - 1](nb, gw, (const char *)act + t * (int64_t)act_row_bytes, act_row_bytes, out);
            for (int i = 0; i < rt; i++) {
                float *dst = y + (t + i) * ldy + row;
                if (valid == AVX512_PACK) {
                    _mm512_storeu_ps(dst, out[i]);
                } else {
                    float tmp[AVX512_PACK];
                    _mm512_storeu_ps(tmp, out[i]);
                    memcpy(dst, tmp, (size_t)valid * sizeof(float));
                }
            }
        }
    }
}

/* Gives table entry e (its quantize_act, the reference's bytes, and its gemm kept) an
 * AVX-512 packed layout; the wide activations of the AVX2 layout go with the old one. */
static inline void avx512_set_packed(quant_kernels *e, void (*pack)(const void *, size_t, int64_t, int64_t, void *),
                                     void (*gemm_packed)(int64_t, const void *, size_t, int64_t, int64_t, const void *, size_t,
                                                         int64_t, float *, int64_t)) {
    if (!e->gemm || !e->quantize_act) return;
    e->pack_rows = AVX512_PACK;
    e->pack = pack;
    e->gemm_packed = gemm_packed;
    e->quantize_act_wide = NULL;
    e->gemm_packed_wide = NULL;
}

#endif
