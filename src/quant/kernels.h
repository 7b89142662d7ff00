/* kernels.h: the fast paths behind the matrix products, one table per weight type,
 * chosen once at run time from what the CPU supports (AVX2+FMA+F16C on x86, with some
 * entries replaced by AVX-512 ones where the CPU has AVX-512 F/BW/VL/DQ and VNNI; NEON
 * on AArch64; else scalar).
 *
 * A matrix product y = x · Wᵀ (W: rows x k of weight type T) runs as:
 *   1. each activation row x_t (k floats) is quantized to T's vec_dot_type with
 *      quantize_act (same bytes as the reference quantize_row of that type);
 *   2. gemm computes y[t * ldy + r] = dot(W row r, act row t) for rows r in [r0, r1) and
 *      all n activation rows; it tiles rows and tokens as it likes (weights unpacked once
 *      per tile and reused across tokens) and is called by each thread on its own
 *      range of rows.
 * A table may also offer a repacked weight layout (pack_rows > 0): pack interleaves
 * groups of pack_rows rows block by block (scales of the group together, then the quants
 * in the order the SIMD code reads them), and gemm_packed computes the same products
 * from that layout. The packed copy of `rows` rows takes quant_kernels_packed_bytes
 * (rows rounded up to a whole group, the padding rows zero); the file stays standard GGUF.
 * For prompts, a table with a packed layout may also take wide activations (the same
 * levels as int16, the scales as floats), quantized once per product by
 * quantize_act_wide and multiplied by gemm_packed_wide.
 * The scalar table (quant_kernels_scalar) does exactly the reference: quantize_row and
 * vec_dot from the traits table, so it is the truth the fast ones are tested against
 * (tests/test_kernels.c: fast vs scalar per type, random shapes, normalized error).
 * CELER_SIMD=scalar in the environment forces the scalar table, CELER_SIMD=avx2 the AVX2
 * one on an AVX-512 machine (for comparisons). The AVX-512 entries are also tested on
 * machines without AVX-512: test_kernels_avx512 builds them against SIMDe's portable
 * intrinsics (kernels_x86.h). */
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
    /* Repacked layout, or pack_rows 0 and both NULL. */
    int pack_rows;
    /* dst (quant_kernels_packed_bytes) <- rows x k weights at w (rows of w_row_bytes). */
    void (*pack)(const void *w, size_t w_row_bytes, int64_t rows, int64_t k, void *dst);
    /* As gemm, with w the packed copy (w_row_bytes still the file's row bytes) and r0 a
     * multiple of pack_rows; writes only rows [r0, r1). */
    void (*gemm_packed)(int64_t k, const void *w, size_t w_row_bytes, int64_t r0, int64_t r1, const void *act,
                        size_t act_row_bytes, int64_t n, float *y, int64_t ldy);
    /* Wide activations for products of many tokens, or both NULL (only with a packed
     * layout). quantize_act_wide: x (k floats) -> a wide row of
     * quant_kernels_wide_row_bytes(k) bytes: the k / 32 block scales as floats, then the
     * k levels as int16, the values quantize_act gives (Q8_0). gemm_packed_wide: as
     * gemm_packed, with act rows wide. */
    void (*quantize_act_wide)(const float *x, void *dst, int64_t k);
    void (*gemm_packed_wide)(int64_t k, const void *w, size_t w_row_bytes, int64_t r0, int64_t r1, const void *act,
                             size_t act_row_bytes, int64_t n, float *y, int64_t ldy);
} quant_kernels;

/* Bytes of a wide activation row of k elements (k a multiple of 32). */
static inline size_t quant_kernels_wide_row_bytes(int64_t k) { return (size_t)(k / 32) * sizeof(float) + (size_t)k * 2; }

/* Bytes of the packed copy of rows rows of w_row_bytes each (0 if the table has none). */
size_t quant_kernels_packed_bytes(const quant_kernels *kern, int64_t rows, size_t w_row_bytes);

/* The kernels for weight type `type` on this CPU; NULL if the type has no vec_dot. */
const quant_kernels *quant_kernels_get(uint32_t type);

/* The scalar reference kernels (always available); NULL as above. */
const quant_kernels *quant_kernels_scalar(uint32_t type);

/* "avx512", "avx2", "neon" or "scalar": what quant_kernels_get picked. */
const char *quant_kernels_isa(void);

#endif
