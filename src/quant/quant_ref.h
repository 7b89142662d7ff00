/* quant_ref.h: the scalar reference functions behind the traits table (quant.c). */
#ifndef CELER_QUANT_QUANT_REF_H
#define CELER_QUANT_QUANT_REF_H

#include <stdint.h>

#define CELER_QUANT_DECLARE(t)                                      \
    void dequantize_row_##t(const void *src, float *dst, int64_t n); \
    void quantize_row_##t(const float *src, void *dst, int64_t n);   \
    float vec_dot_##t(int64_t n, const void *a, const void *b);

CELER_QUANT_DECLARE(f32)
CELER_QUANT_DECLARE(f16)
CELER_QUANT_DECLARE(bf16)
CELER_QUANT_DECLARE(q4_0)
CELER_QUANT_DECLARE(q4_1)
CELER_QUANT_DECLARE(q5_0)
CELER_QUANT_DECLARE(q5_1)
CELER_QUANT_DECLARE(q8_0)
CELER_QUANT_DECLARE(q8_1)
CELER_QUANT_DECLARE(q2_K)
CELER_QUANT_DECLARE(q3_K)
CELER_QUANT_DECLARE(q4_K)
CELER_QUANT_DECLARE(q5_K)
CELER_QUANT_DECLARE(q6_K)
CELER_QUANT_DECLARE(q8_K)

#undef CELER_QUANT_DECLARE
#endif
