/* half.h: IEEE binary16 and bfloat16 <-> float32 conversions (scalar, exact, round to
 * nearest even). Tested in tests/test_quant.c against values from numpy. */
#ifndef CELER_CORE_HALF_H
#define CELER_CORE_HALF_H

#include <stdint.h>
#include <string.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

static inline uint32_t celer_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float celer_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* With F16C the hardware converts (same results: exact widening, round-to-nearest-even
 * narrowing); the portable code below is the reference and the fallback. */
static inline float celer_fp16_to_fp32_ref(uint16_t h);
static inline uint16_t celer_fp32_to_fp16_ref(float f);
static inline float celer_fp16_to_fp32(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return celer_fp16_to_fp32_ref(h);
#endif
}
static inline uint16_t celer_fp32_to_fp16(float f) {
#if defined(__F16C__)
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
    return celer_fp32_to_fp16_ref(f);
#endif
}

/* dst[i] = fp16(src[i]) for a row of n. */
static inline void celer_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++) dst[i] = celer_fp32_to_fp16(src[i]);
}

static inline float celer_fp16_to_fp32_ref(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return celer_bits_f32(sign | 0x7f800000u | (mant << 13)); /* inf/nan */
    if (exp == 0) {
        if (mant == 0) return celer_bits_f32(sign);
        /* subnormal: mant * 2^-24 */
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return celer_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline uint16_t celer_fp32_to_fp16_ref(float f) {
    uint32_t x = celer_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (absx < 0x38800000u) {                                  /* subnormal or zero */
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((absx >> 13) - (112u << 10));
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

static inline float celer_bf16_to_fp32(uint16_t h) { return celer_bits_f32((uint32_t)h << 16); }

static inline uint16_t celer_fp32_to_bf16(float f) {
    uint32_t x = celer_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 64u); /* quiet nan */
    return (uint16_t)((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

#endif
