/* kernels.h: the fast paths behind the matrix products, one table per weight type,
 * chosen once at run time from what the CPU supports (AVX2+FMA+F16C, else scalar).
 *
 * A matrix product y = x · Wᵀ (W: rows x k of weight type T) runs as:
 *   1. each activation row x_t (k floats) is quantized to T's vec_dot_type with
 *      quantize_act (same bytes as the reference quantize_row of that type);
 *   2. gemm computes y[t * ldy + r] = dot(W row r, act row t) for rows r in [r0, r1) and
 *      all n activation rows; it tiles rows and tokens as it likes (weights unpacked once
 *      per tile and reused across tokens) and is called by each thread on its own
 *      range of rows.
 * The scalar table (quant_kernels_scalar) does exactly the reference: quantize_row and
 * vec_dot from the traits table, so it is the truth the fast ones are tested against
 * (tests/test_kernels.c: fast vs scalar per type, random shapes, normalized error).
 * CELER_SIMD=scalar in the environment forces the scalar table (for comparisons). */
#ifndef CELER_QUANT_KERNELS_H
#define CELER_QUANT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    /* x (k floats) -> dst (one row of the vec_dot type); k a multiple of its block. */
    void (*quantize_act)(const float *x, void *dst, int64_t k);
    /* y[t * ldy + r] = dot(w row r, act row t), r in [r0, r1), t in [0, n).
     * w: row r at (const char *)w + r * w_row_bytes; act: row t at (const char *)act +
     * t * act_row_bytes. k a multiple of the weight block size. */
    void (*gemm)(int64_t k, const void *w, size_t w_row_bytes, int64_t r0, int64_t r1, const void *act, size_t act_row_bytes,
                 int64_t n, float *y, int64_t ldy);
} quant_kernels;

/* The kernels for weight type `type` on this CPU; NULL if the type has no vec_dot. */
const quant_kernels *quant_kernels_get(uint32_t type);

/* The scalar reference kernels (always available); NULL as above. */
const quant_kernels *quant_kernels_scalar(uint32_t type);

/* "avx2" or "scalar": what quant_kernels_get picked. */
const char *quant_kernels_isa(void);

#endif
