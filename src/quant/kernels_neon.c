/* kernels_neon.c: the Arm NEON kernel table behind quant_kernels_get (kernels.c), for
 * AArch64, where Advanced SIMD is part of the base architecture (no run-time check).
 * Matrix products of the common weight types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL
 * (against Q8_0/Q8_1 activations) and Q4_K, Q5_K, Q6_K (against Q8_K). Each weight block
 * is widened to signed bytes in registers, multiplied with the activation's bytes
 * (vmull_s8: 16-bit products, pairwise-added into 32-bit lanes, so no sum can overflow
 * whatever the bytes are) and scaled per block exactly as the scalar reference
 * (quant_ref.c, quant_ref_k.c) does; the integer sums are exact, only the order of float
 * additions may differ. The activations are quantized by the reference functions, the
 * other types (floats, Q2_K, Q3_K) stay on the scalar table.
 * Tested by tests/test_kernels.c built for AArch64 and run under qemu-aarch64
 * (scripts/test-neon.sh, the test `test_kernels_neon`). */
#include "quant/kernels_arm.h"

#ifdef CELER_KERNELS_NEON

#include <arm_neon.h>
#include <stddef.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"

#define H2F celer_fp16_to_fp32

/* Sum of the 16 products a[i] * b[i] added into acc's four lanes. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

/* Sum of 32 products: elements 0..15 of the block in lo, 16..31 in hi, against q. */
static inline int32_t dot32(int8x16_t lo, int8x16_t hi, const int8_t *q) {
    int32x4_t acc = dot16(vdupq_n_s32(0), lo, vld1q_s8(q));
    acc = dot16(acc, hi, vld1q_s8(q + 16));
    return vaddvq_s32(acc);
}

/* The 32 fifth bits of a Q5 block as 0x10 bytes: lo gets bits 0..15, hi bits 16..31. */
static inline void q5_high(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t mask = vld1q_u8(bit), ten = vdupq_n_u8(0x10);
    const uint8x16_t b01 = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
    const uint8x16_t b23 = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
    *lo = vandq_u8(vtstq_u8(b01, mask), ten);
    *hi = vandq_u8(vtstq_u8(b23, mask), ten);
}

/* ---- one row against one activation row, per type (k a multiple of the block) ---- */

static float row_q4_0(int64_t nb, const block_q4_0 *x, const block_q8_0 *y) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, low4)), eight);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
        sum += (float)dot32(lo, hi, y[i].qs) * H2F(x[i].d) * H2F(y[i].d);
    }
    return sum;
}

static float row_q4_1(int64_t nb, const block_q4_1 *x, const block_q8_1 *y) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, low4)), hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)dot32(lo, hi, y[i].qs) + H2F(x[i].m) * H2F(y[i].s);
    }
    return sum;
}

static float row_q5_0(int64_t nb, const block_q5_0 *x, const block_q8_0 *y) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    const int8x16_t sixteen = vdupq_n_s8(16);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8x16_t h0, h1;
        q5_high(x[i].qh, &h0, &h1);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, low4), h0)), sixteen);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), h1)), sixteen);
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)dot32(lo, hi, y[i].qs);
    }
    return sum;
}

static float row_q5_1(int64_t nb, const block_q5_1 *x, const block_q8_1 *y) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8x16_t h0, h1;
        q5_high(x[i].qh, &h0, &h1);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, low4), h0));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), h1));
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)dot32(lo, hi, y[i].qs) + H2F(x[i].m) * H2F(y[i].s);
    }
    return sum;
}

static float row_q8_0(int64_t nb, const block_q8_0 *x, const block_q8_0 *y) {
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++)
        sum += (float)dot32(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs) * (H2F(x[i].d) * H2F(y[i].d));
    return sum;
}

static float row_iq4_nl(int64_t nb, const block_iq4_nl *x, const block_q8_0 *y) {
    static const int8_t values[16] = IQ4_NL_VALUES;
    const int8x16_t table = vld1q_s8(values);
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vqtbl1q_s8(table, vandq_u8(q, low4)), hi = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
        sum += (H2F(y[i].d) * H2F(x[i].d)) * (float)dot32(lo, hi, y[i].qs);
    }
    return sum;
}

/* Q4_K/Q5_K scale and min of sub-block j (0..7), 6 bits each (ggml's get_scale_min_k4). */
static inline void k4_scale_min(int j, const uint8_t packed[K_SCALE_SIZE], int *scale, int *min) {
    if (j < 4) {
        *scale = packed[j] & 63;
        *min = packed[j + 4] & 63;
    } else {
        *scale = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
        *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
}

/* Q4_K (with_high false) and Q5_K: element 64j + l (l < 32) is the low nibble of
 * qs[32j + l], 64j + 32 + l the high one; Q5_K adds 16 where bit (p / 32) of qh[p % 32]
 * is set. x = (d sc) q - (dmin m) per 32 elements. */
static float row_k4(int64_t nb, const uint8_t *blocks, size_t block_bytes, size_t off_d, size_t off_scales, size_t off_qs,
                    ptrdiff_t off_qh, const block_q8_K *y) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F), ten = vdupq_n_u8(0x10);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = blocks + i * block_bytes;
        uint16_t dh[2];
        memcpy(dh, b + off_d, 4);
        const uint8_t *scales = b + off_scales, *qs = b + off_qs;
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
        if (off_qh >= 0) {
            qh0 = vld1q_u8(b + off_qh);
            qh1 = vld1q_u8(b + off_qh + 16);
        }
        int32_t isum = 0, min_sum = 0;
        for (int j = 0; j < 4; j++) {
            int sc0, m0, sc1, m1;
            k4_scale_min(2 * j, scales, &sc0, &m0);
            k4_scale_min(2 * j + 1, scales, &sc1, &m1);
            const uint8x16_t q0 = vld1q_u8(qs + 32 * j), q1 = vld1q_u8(qs + 32 * j + 16);
            uint8x16_t a0 = vandq_u8(q0, low4), a1 = vandq_u8(q1, low4); /* sub-block 2j */
            uint8x16_t c0 = vshrq_n_u8(q0, 4), c1 = vshrq_n_u8(q1, 4);   /* sub-block 2j + 1 */
            if (off_qh >= 0) {
                const uint8x16_t bit_a = vdupq_n_u8((uint8_t)(1u << (2 * j))), bit_c = vdupq_n_u8((uint8_t)(1u << (2 * j + 1)));
                a0 = vorrq_u8(a0, vandq_u8(vtstq_u8(qh0, bit_a), ten));
                a1 = vorrq_u8(a1, vandq_u8(vtstq_u8(qh1, bit_a), ten));
                c0 = vorrq_u8(c0, vandq_u8(vtstq_u8(qh0, bit_c), ten));
                c1 = vorrq_u8(c1, vandq_u8(vtstq_u8(qh1, bit_c), ten));
            }
            const int8_t *q8 = y[i].qs + 64 * j;
            isum += sc0 * dot32(vreinterpretq_s8_u8(a0), vreinterpretq_s8_u8(a1), q8);
            isum += sc1 * dot32(vreinterpretq_s8_u8(c0), vreinterpretq_s8_u8(c1), q8 + 32);
            min_sum += m0 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) + m1 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
        }
        sum += H2F(dh[0]) * y[i].d * (float)isum - H2F(dh[1]) * y[i].d * (float)min_sum;
    }
    return sum;
}

/* Q6_K: element 128h + 32k + l: nibble (k / 2) of ql[64h + 32(k % 2) + l], bits 2k..2k+1
 * of qh[32h + l] above it, minus 32; one int8 scale per 16 elements. */
static float row_q6_K(int64_t nb, const block_q6_K *x, const block_q8_K *y) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F), three = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8x16_t qh0 = vld1q_u8(x[i].qh + 32 * h), qh1 = vld1q_u8(x[i].qh + 32 * h + 16);
            for (int k = 0; k < 4; k++) {
                const uint8_t *ql = x[i].ql + 64 * h + 32 * (k % 2);
                uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 16);
                if (k / 2) {
                    l0 = vshrq_n_u8(l0, 4);
                    l1 = vshrq_n_u8(l1, 4);
                } else {
                    l0 = vandq_u8(l0, low4);
                    l1 = vandq_u8(l1, low4);
                }
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * k));
                const uint8x16_t h0 = vandq_u8(vshlq_u8(qh0, sh), three), h1 = vandq_u8(vshlq_u8(qh1, sh), three);
                const int8x16_t v0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l0, vshlq_n_u8(h0, 4))), off);
                const int8x16_t v1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l1, vshlq_n_u8(h1, 4))), off);
                const int p = 128 * h + 32 * k;
                const int8_t *q8 = y[i].qs + p;
                isum += x[i].scales[p / 16] * vaddvq_s32(dot16(vdupq_n_s32(0), v0, vld1q_s8(q8)));
                isum += x[i].scales[p / 16 + 1] * vaddvq_s32(dot16(vdupq_n_s32(0), v1, vld1q_s8(q8 + 16)));
            }
        }
        sum += H2F(x[i].d) * y[i].d * (float)isum;
    }
    return sum;
}

static float row_q4_K(int64_t nb, const void *x, const block_q8_K *y) {
    return row_k4(nb, x, sizeof(block_q4_K), offsetof(block_q4_K, d), offsetof(block_q4_K, scales), offsetof(block_q4_K, qs), -1, y);
}

static float row_q5_K(int64_t nb, const void *x, const block_q8_K *y) {
    return row_k4(nb, x, sizeof(block_q5_K), offsetof(block_q5_K, d), offsetof(block_q5_K, scales), offsetof(block_q5_K, qs),
                  (ptrdiff_t)offsetof(block_q5_K, qh), y);
}

/* ---- the gemm entries: every row of [r0, r1) against every activation row ---- */

#define NEON_GEMM(t, wblock, ablock, qk)                                                                               \
    static void gemm_##t(int64_t k, const void *w, size_t wrb, int64_t r0, int64_t r1, const void *a, size_t arb,      \
                         int64_t n, float *y, int64_t ldy) {                                                           \
        const int64_t nb = k / (qk);                                                                                   \
        for (int64_t r = r0; r < r1; r++) {                                                                            \
            const wblock *wr = (const wblock *)((const char *)w + r * (int64_t)wrb);                                   \
            for (int64_t t = 0; t < n; t++)                                                                            \
                y[t * ldy + r] = row_##t(nb, wr, (const ablock *)((const char *)a + t * (int64_t)arb));                \
        }                                                                                                              \
    }

NEON_GEMM(q4_0, block_q4_0, block_q8_0, QK4_0)
NEON_GEMM(q4_1, block_q4_1, block_q8_1, QK4_1)
NEON_GEMM(q5_0, block_q5_0, block_q8_0, QK5_0)
NEON_GEMM(q5_1, block_q5_1, block_q8_1, QK5_1)
NEON_GEMM(q8_0, block_q8_0, block_q8_0, QK8_0)
NEON_GEMM(iq4_nl, block_iq4_nl, block_q8_0, QK4_NL)
NEON_GEMM(q4_K, block_q4_K, block_q8_K, QK_K)
NEON_GEMM(q5_K, block_q5_K, block_q8_K, QK_K)
NEON_GEMM(q6_K, block_q6_K, block_q8_K, QK_K)

void quant_kernels_fill_neon(quant_kernels table[QUANT_TYPE_COUNT]) {
    table[QUANT_Q4_0].gemm = gemm_q4_0;
    table[QUANT_Q4_1].gemm = gemm_q4_1;
    table[QUANT_Q5_0].gemm = gemm_q5_0;
    table[QUANT_Q5_1].gemm = gemm_q5_1;
    table[QUANT_Q8_0].gemm = gemm_q8_0;
    table[QUANT_IQ4_NL].gemm = gemm_iq4_nl;
    table[QUANT_Q4_K].gemm = gemm_q4_K;
    table[QUANT_Q5_K].gemm = gemm_q5_K;
    table[QUANT_Q6_K].gemm = gemm_q6_K;
}

#endif
