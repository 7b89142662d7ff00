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

#endif
