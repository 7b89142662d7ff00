/* simd_avx2.h: small AVX2 helpers shared by the x86 kernels (include only from code
 * compiled for AVX2 + F16C). */
#ifndef CELER_QUANT_SIMD_AVX2_H
#define CELER_QUANT_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* Sum of the 8 floats. */
INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The fp16 at p (any alignment) as a float. */
INLINE float h2f(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

#endif
