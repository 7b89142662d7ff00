/* quant_ref.h: the scalar reference functions behind the traits table (quant.c).
 * Callers use the table (quant/quant.h); these names exist for the table and for tests.
 * quant_float.c: F32, F16, BF16; quant_ref.c: the 32-element block types;
 * quant_ref_k.c: the K-quants and Q8_K. Conventions as in quant.h (n a multiple of the
 * block size; rows of vec_dot's second argument are of the type's vec_dot_type). */
#ifndef CELER_QUANT_QUANT_REF_H
#define CELER_QUANT_QUANT_REF_H

#include <stdint.h>

#define CELER_DEQUANTIZE(t) void dequantize_row_##t(const void *src, float *dst, int64_t n);
#define CELER_QUANTIZE(t) void quantize_row_##t(const float *src, void *dst, int64_t n);
#define CELER_VEC_DOT(t) float vec_dot_##t(int64_t n, const void *row, const void *act);

/* float types: all three functions */
CELER_DEQUANTIZE(f32) CELER_QUANTIZE(f32) CELER_VEC_DOT(f32)
CELER_DEQUANTIZE(f16) CELER_QUANTIZE(f16) CELER_VEC_DOT(f16)
CELER_DEQUANTIZE(bf16) CELER_QUANTIZE(bf16) CELER_VEC_DOT(bf16)

/* 32-element blocks: weights (with ggml's simple reference quantizers; IQ4_NL: celer's, see quant_ref.c) */
CELER_DEQUANTIZE(q4_0) CELER_QUANTIZE(q4_0) CELER_VEC_DOT(q4_0)
CELER_DEQUANTIZE(q4_1) CELER_QUANTIZE(q4_1) CELER_VEC_DOT(q4_1)
CELER_DEQUANTIZE(q5_0) CELER_QUANTIZE(q5_0) CELER_VEC_DOT(q5_0)
CELER_DEQUANTIZE(q5_1) CELER_QUANTIZE(q5_1) CELER_VEC_DOT(q5_1)
CELER_DEQUANTIZE(q8_0) CELER_QUANTIZE(q8_0) CELER_VEC_DOT(q8_0)
CELER_DEQUANTIZE(iq4_nl) CELER_QUANTIZE(iq4_nl) CELER_VEC_DOT(iq4_nl)
/* activations only */
CELER_DEQUANTIZE(q8_1) CELER_QUANTIZE(q8_1)

/* K-quants: dequantize and dot (no quantizer yet) */
CELER_DEQUANTIZE(q2_K) CELER_VEC_DOT(q2_K)
CELER_DEQUANTIZE(q3_K) CELER_VEC_DOT(q3_K)
CELER_DEQUANTIZE(q4_K) CELER_VEC_DOT(q4_K)
CELER_DEQUANTIZE(q5_K) CELER_VEC_DOT(q5_K)
CELER_DEQUANTIZE(q6_K) CELER_VEC_DOT(q6_K)
/* activations only */
CELER_DEQUANTIZE(q8_K) CELER_QUANTIZE(q8_K)

#undef CELER_DEQUANTIZE
#undef CELER_QUANTIZE
#undef CELER_VEC_DOT

#endif
