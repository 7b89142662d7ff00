/* quant_ref.c: scalar reference for ggml's 32-element block types Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, IQ4_NL and the activation type Q8_1: dequantize, quantize, dot.
 *
 * Every function computes what ggml's scalar code computes, operation for operation:
 *   dequantize: ggml-quants.c dequantize_row_*;
 *   quantize:   ggml-quants.c quantize_row_*_ref (Q8_0/Q8_1: d = amax/127, q = roundf(x/d),
 *               half away from zero; ggml's AVX path instead multiplies by 127/amax and
 *               rounds half to even, so it can differ by one step in rare elements),
 *               except IQ4_NL, whose ggml reference already searches the scale: celer's
 *               is plain round to nearest (the error-minimizing one is quant/quantize.h);
 *   dot:        ggml-cpu/quants.c ggml_vec_dot_*_generic: exact integer sum per block, then
 *               the block's float scale products in ggml's order, summed in float.
 * Floating-point contraction must stay off (GCC in ISO C mode, the pragma for clang), or a
 * multiply-add could fuse and change the last bit.
 * Tested in tests/test_quant.c against the gguf package and against libggml itself. */
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/quant_ref.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define H2F celer_fp16_to_fp32

/* roundf to int8 as ggml's (int8_t)roundf(v), for the |v| <= 127.5 the quantizers produce;
 * saturating, NaN to 0, so broken activations cannot cause undefined behaviour. */
static inline int8_t round_to_int8(float v) {
    float r = roundf(v);
    if (r > 127.0f) return 127;
    if (r < -128.0f) return -128;
    return r == r ? (int8_t)r : 0;
}

/* ggml's MIN(top, (int8_t)v) for the v >= 0 the weight quantizers produce (truncation). */
static inline uint8_t trunc_to_level(float v, int top) {
    if (!(v >= 0.0f)) return 0;
    if (v >= (float)top) return (uint8_t)top;
    return (uint8_t)v;
}

/* Fifth bits of a Q5 block: bit j of qh belongs to element j. */
static inline uint32_t q5_high_bits(const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    return h;
}

/* ---- dequantize ---- */

void dequantize_row_q4_0(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = src; // (n / 32)
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float d = H2F(x[i].d);
        float *y = dst + i * QK4_0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_row_q4_1(const void *src, float *dst, int64_t n) {
    const block_q4_1 *x = src; // (n / 32)
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float d = H2F(x[i].d), m = H2F(x[i].m);
        float *y = dst + i * QK4_1;
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0F) * d + m;
            y[j + QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

void dequantize_row_q5_0(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = src; // (n / 32)
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float d = H2F(x[i].d);
        const uint32_t qh = q5_high_bits(x[i].qh);
        float *y = dst + i * QK5_0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int hi0 = (int)((qh >> j) << 4) & 0x10, hi1 = (int)(qh >> (j + 12)) & 0x10;
            y[j] = (float)(((x[i].qs[j] & 0x0F) | hi0) - 16) * d;
            y[j + QK5_0 / 2] = (float)(((x[i].qs[j] >> 4) | hi1) - 16) * d;
        }
    }
}

void dequantize_row_q5_1(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = src; // (n / 32)
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float d = H2F(x[i].d), m = H2F(x[i].m);
        const uint32_t qh = q5_high_bits(x[i].qh);
        float *y = dst + i * QK5_1;
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int hi0 = (int)((qh >> j) << 4) & 0x10, hi1 = (int)(qh >> (j + 12)) & 0x10;
            y[j] = (float)((x[i].qs[j] & 0x0F) | hi0) * d + m;
            y[j + QK5_1 / 2] = (float)((x[i].qs[j] >> 4) | hi1) * d + m;
        }
    }
}

void dequantize_row_q8_0(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = src; // (n / 32)
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = (float)x[i].qs[j] * d;
    }
}

static const int8_t iq4_nl_values[16] = IQ4_NL_VALUES;

void dequantize_row_iq4_nl(const void *src, float *dst, int64_t n) {
    const block_iq4_nl *x = src; // (n / 32)
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const float d = H2F(x[i].d);
        float *y = dst + i * QK4_NL;
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[j] = d * (float)iq4_nl_values[x[i].qs[j] & 0x0F];
            y[j + QK4_NL / 2] = d * (float)iq4_nl_values[x[i].qs[j] >> 4];
        }
    }
}

void dequantize_row_q8_1(const void *src, float *dst, int64_t n) {
    const block_q8_1 *x = src; // (n / 32)
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < QK8_1; j++) dst[i * QK8_1 + j] = (float)x[i].qs[j] * d;
    }
}

/* ---- quantize (ggml's *_ref) ---- */

/* Q8_0/Q8_1 block: d = amax / 127, q = roundf(x / d); returns d, *sum = sum of q. */
static float quantize_block_q8(const float *x, int8_t *q, int *sum) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float a = fabsf(x[j]);
        amax = amax > a ? amax : a; /* ggml's MAX(), NaN handling included */
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int s = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = round_to_int8(x[j] * id);
        s += q[j];
    }
    *sum = s;
    return d;
}

void quantize_row_q8_0(const float *src, void *dst, int64_t n) {
    block_q8_0 *y = dst; // (n / 32)
    int sum;
    for (int64_t i = 0; i < n / QK8_0; i++) y[i].d = celer_fp32_to_fp16(quantize_block_q8(src + i * QK8_0, y[i].qs, &sum));
}

void quantize_row_q8_1(const float *src, void *dst, int64_t n) {
    block_q8_1 *y = dst; // (n / 32)
    int sum;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float d = quantize_block_q8(src + i * QK8_1, y[i].qs, &sum);
        y[i].d = celer_fp32_to_fp16(d);
        y[i].s = celer_fp32_to_fp16((float)sum * d);
    }
}

/* Signed extreme of a 32-block: the element of largest magnitude, first one on ties. */
static float block_signed_max(const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]), max = x[j];
    return max;
}

/* Q4_0: d = max / -8 so the extreme maps to level 0; q = trunc(x / d + 8.5) capped at 15. */
void quantize_row_q4_0(const float *src, void *dst, int64_t n) {
    block_q4_0 *y = dst; // (n / 32)
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float *x = src + i * QK4_0;
        const float d = block_signed_max(x) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = celer_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++)
            y[i].qs[j] = (uint8_t)(trunc_to_level(x[j] * id + 8.5f, 15) | trunc_to_level(x[j + 16] * id + 8.5f, 15) << 4);
    }
}

/* Q5_0: as Q4_0 with 32 levels, d = max / -16. */
void quantize_row_q5_0(const float *src, void *dst, int64_t n) {
    block_q5_0 *y = dst; // (n / 32)
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float *x = src + i * QK5_0;
        const float d = block_signed_max(x) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = celer_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const uint8_t q0 = trunc_to_level(x[j] * id + 16.5f, 31), q1 = trunc_to_level(x[j + 16] * id + 16.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

/* Min and max of a 32-block, as ggml's loop finds them. */
static void block_min_max(const float *x, float *min, float *max) {
    float lo = 3.402823466e+38f, hi = -3.402823466e+38f;
    for (int j = 0; j < 32; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *min = lo;
    *max = hi;
}

/* Q4_1: d = (max - min) / 15, m = min, q = trunc((x - min) / d + 0.5) capped at 15. */
void quantize_row_q4_1(const float *src, void *dst, int64_t n) {
    block_q4_1 *y = dst; // (n / 32)
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float *x = src + i * QK4_1;
        float min, max;
        block_min_max(x, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = celer_fp32_to_fp16(d);
        y[i].m = celer_fp32_to_fp16(min);
        for (int j = 0; j < QK4_1 / 2; j++)
            y[i].qs[j] = (uint8_t)(trunc_to_level((x[j] - min) * id + 0.5f, 15) |
                                   trunc_to_level((x[j + 16] - min) * id + 0.5f, 15) << 4);
    }
}

/* Q5_1: as Q4_1 with 32 levels. */
void quantize_row_q5_1(const float *src, void *dst, int64_t n) {
    block_q5_1 *y = dst; // (n / 32)
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float *x = src + i * QK5_1;
        float min, max;
        block_min_max(x, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = celer_fp32_to_fp16(d);
        y[i].m = celer_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            const uint8_t q0 = trunc_to_level((x[j] - min) * id + 0.5f, 31), q1 = trunc_to_level((x[j + 16] - min) * id + 0.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

/* Index of the table entry nearest v (the lower one on a tie). */
static uint8_t iq4_nl_nearest(float v) {
    int best = 0;
    for (int k = 1; k < 16; k++)
        if (fabsf(v - (float)iq4_nl_values[k]) < fabsf(v - (float)iq4_nl_values[best])) best = k;
    return (uint8_t)best;
}

/* IQ4_NL, round to nearest: d = max / -127 maps the block's signed extreme onto the table's
 * -127, every element goes to the nearest entry of d times the table. */
void quantize_row_iq4_nl(const float *src, void *dst, int64_t n) {
    block_iq4_nl *y = dst; // (n / 32)
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const float *x = src + i * QK4_NL;
        const float d = block_signed_max(x) / -127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = celer_fp32_to_fp16(d);
        for (int j = 0; j < QK4_NL / 2; j++)
            y[i].qs[j] = (uint8_t)(iq4_nl_nearest(x[j] * id) | iq4_nl_nearest(x[j + 16] * id) << 4);
    }
}

/* ---- dot products (ggml_vec_dot_*_generic) ---- */

float vec_dot_q4_0(int64_t n, const void *row, const void *act) {
    const block_q4_0 *x = row; // (n / 32)
    const block_q8_0 *y = act; // (n / 32)
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sum += (float)sumi * H2F(x[i].d) * H2F(y[i].d);
    }
    return sum;
}

/* sum_j (q_j dx + mx) qy_j dy = dx dy sum(q qy) + mx (dy sum(qy)), the last factor is y.s */
float vec_dot_q4_1(int64_t n, const void *row, const void *act) {
    const block_q4_1 *x = row; // (n / 32)
    const block_q8_1 *y = act; // (n / 32)
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)sumi + H2F(x[i].m) * H2F(y[i].s);
    }
    return sum;
}

float vec_dot_q5_0(int64_t n, const void *row, const void *act) {
    const block_q5_0 *x = row; // (n / 32)
    const block_q8_0 *y = act; // (n / 32)
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const uint32_t qh = q5_high_bits(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int hi0 = (int)((qh >> j) << 4) & 0x10, hi1 = (int)(qh >> (j + 12)) & 0x10;
            sumi += (((x[i].qs[j] & 0x0F) | hi0) - 16) * y[i].qs[j] + (((x[i].qs[j] >> 4) | hi1) - 16) * y[i].qs[j + 16];
        }
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)sumi;
    }
    return sum;
}

float vec_dot_q5_1(int64_t n, const void *row, const void *act) {
    const block_q5_1 *x = row; // (n / 32)
    const block_q8_1 *y = act; // (n / 32)
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const uint32_t qh = q5_high_bits(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int hi0 = (int)((qh >> j) << 4) & 0x10, hi1 = (int)(qh >> (j + 12)) & 0x10;
            sumi += ((x[i].qs[j] & 0x0F) | hi0) * y[i].qs[j] + ((x[i].qs[j] >> 4) | hi1) * y[i].qs[j + 16];
        }
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)sumi + H2F(x[i].m) * H2F(y[i].s);
    }
    return sum;
}

float vec_dot_q8_0(int64_t n, const void *row, const void *act) {
    const block_q8_0 *x = row, *y = act; // (n / 32), (n / 32)
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sum += (float)sumi * (H2F(x[i].d) * H2F(y[i].d));
    }
    return sum;
}

/* ggml's order: d = dy dx first, then d times the block's integer sum. */
float vec_dot_iq4_nl(int64_t n, const void *row, const void *act) {
    const block_iq4_nl *x = row; // (n / 32)
    const block_q8_0 *y = act;   // (n / 32)
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += y[i].qs[j] * iq4_nl_values[x[i].qs[j] & 0x0F] + y[i].qs[j + 16] * iq4_nl_values[x[i].qs[j] >> 4];
        sum += (H2F(y[i].d) * H2F(x[i].d)) * (float)sumi;
    }
    return sum;
}
