/* quant_ref_k.c: scalar reference for ggml's K-quants (256-element super-blocks): dequantize
 * Q2_K..Q6_K, their dot with a Q8_K row, and Q8_K itself (the activation type).
 *
 * Each super-block is first unpacked to its integer levels q[256] (exact), then:
 *   dequantize: ggml-quants.c dequantize_row_*_K, same float operations in the same order;
 *   dot:        ggml-cpu/quants.c ggml_vec_dot_*_K_q8_K_generic: exact integer sums (Q3_K..Q6_K
 *               in 8 lanes by position mod 8, as ggml's aux32), scaled and summed in float in
 *               ggml's order (per-lane float sums across super-blocks, added up at the end);
 *   quantize Q8_K: quantize_row_q8_K_ref (the x86 CPU backend calls the same function).
 * Floating-point contraction must stay off, as in quant_ref.c.
 * Tested in tests/test_quant.c against the gguf package and libggml. */
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/quant_ref.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define H2F celer_fp16_to_fp32

/* ---- unpacking: levels in element order, scales per sub-block ---- */

/* Q2_K: element 128h + 32s + l is bits 2s..2s+1 of qs[32h + l]; level 0..3. */
static void q2_K_levels(const block_q2_K *b, int8_t q[QK_K]) {
    for (int p = 0; p < QK_K; p++) q[p] = (int8_t)((b->qs[(p / 128) * 32 + p % 32] >> (2 * ((p / 32) % 4))) & 3);
}

/* Q3_K: two low bits as Q2_K, minus 4 where the hmask bit (4h + s) of byte l is clear; -4..3. */
static void q3_K_levels(const block_q3_K *b, int8_t q[QK_K]) {
    for (int p = 0; p < QK_K; p++) {
        const int l = p % 32, bit = p / 32;
        const int low = (b->qs[(p / 128) * 32 + l] >> (2 * (bit % 4))) & 3;
        q[p] = (int8_t)(low - ((b->hmask[l] >> bit) & 1 ? 0 : 4));
    }
}

/* Q3_K's 16 six-bit scales, stored +32: low 4 bits in bytes 0..7 (two per byte), high 2
 * bits in bytes 8..11 (four per byte). */
static void q3_K_scales(const uint8_t packed[12], int scale[16]) {
    for (int j = 0; j < 16; j++) {
        const int low = (packed[j % 8] >> (4 * (j / 8))) & 0x0F;
        const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        scale[j] = (low | high << 4) - 32;
    }
}

/* Q4_K/Q5_K scale and min of sub-block j (0..7), 6 bits each, in 12 bytes
 * (ggml's get_scale_min_k4). */
static void k4_scale_min(int j, const uint8_t packed[K_SCALE_SIZE], int *scale, int *min) {
    if (j < 4) {
        *scale = packed[j] & 63;
        *min = packed[j + 4] & 63;
    } else {
        *scale = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
        *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
}

/* Q4_K: element 64j + l (l < 32) is the low nibble of qs[32j + l], 64j + 32 + l the high one. */
static void q4_K_levels(const block_q4_K *b, int8_t q[QK_K]) {
    for (int p = 0; p < QK_K; p++) q[p] = (int8_t)((b->qs[(p / 64) * 32 + p % 32] >> (4 * ((p / 32) % 2))) & 0x0F);
}

/* Q5_K: Q4_K's nibble plus 16 where bit p / 32 of qh[p % 32] is set; 0..31. */
static void q5_K_levels(const block_q5_K *b, int8_t q[QK_K]) {
    for (int p = 0; p < QK_K; p++) {
        const int low = (b->qs[(p / 64) * 32 + p % 32] >> (4 * ((p / 32) % 2))) & 0x0F;
        q[p] = (int8_t)(low + ((b->qh[p % 32] >> (p / 32)) & 1 ? 16 : 0));
    }
}

/* Q6_K: element 128h + 32k + l: nibble (k / 2) of ql[64h + 32(k % 2) + l], high bits 2k..2k+1
 * of qh[32h + l]; minus 32, so -32..31. */
static void q6_K_levels(const block_q6_K *b, int8_t q[QK_K]) {
    for (int p = 0; p < QK_K; p++) {
        const int h = p / 128, k = (p / 32) % 4, l = p % 32;
        const int low = (b->ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0F;
        const int high = (b->qh[32 * h + l] >> (2 * k)) & 3;
        q[p] = (int8_t)((low | high << 4) - 32);
    }
}

/* ---- dequantize ---- */

void dequantize_row_q2_K(const void *src, float *dst, int64_t n) {
    const block_q2_K *x = src; // (n / 256)
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = H2F(x[i].d), dmin = H2F(x[i].dmin);
        float *y = dst + i * QK_K;
        q2_K_levels(&x[i], q);
        for (int j = 0; j < QK_K / 16; j++) {
            const float dl = d * (float)(x[i].scales[j] & 0x0F), ml = dmin * (float)(x[i].scales[j] >> 4);
            for (int l = 16 * j; l < 16 * j + 16; l++) y[l] = dl * (float)q[l] - ml;
        }
    }
}

void dequantize_row_q3_K(const void *src, float *dst, int64_t n) {
    const block_q3_K *x = src; // (n / 256)
    int8_t q[QK_K];
    int scale[16];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = H2F(x[i].d);
        float *y = dst + i * QK_K;
        q3_K_levels(&x[i], q);
        q3_K_scales(x[i].scales, scale);
        for (int j = 0; j < QK_K / 16; j++) {
            const float dl = d * (float)scale[j];
            for (int l = 16 * j; l < 16 * j + 16; l++) y[l] = dl * (float)q[l];
        }
    }
}

/* Q4_K and Q5_K share the scale layout: x = (d sc) q - (dmin m) per 32 elements. */
static void dequantize_k4_levels(const int8_t q[QK_K], const uint8_t packed[K_SCALE_SIZE], float d, float dmin, float *y) {
    for (int j = 0; j < QK_K / 32; j++) {
        int sc, m;
        k4_scale_min(j, packed, &sc, &m);
        const float dl = d * (float)sc, ml = dmin * (float)m;
        for (int l = 32 * j; l < 32 * j + 32; l++) y[l] = dl * (float)q[l] - ml;
    }
}

void dequantize_row_q4_K(const void *src, float *dst, int64_t n) {
    const block_q4_K *x = src; // (n / 256)
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        q4_K_levels(&x[i], q);
        dequantize_k4_levels(q, x[i].scales, H2F(x[i].d), H2F(x[i].dmin), dst + i * QK_K);
    }
}

void dequantize_row_q5_K(const void *src, float *dst, int64_t n) {
    const block_q5_K *x = src; // (n / 256)
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        q5_K_levels(&x[i], q);
        dequantize_k4_levels(q, x[i].scales, H2F(x[i].d), H2F(x[i].dmin), dst + i * QK_K);
    }
}

void dequantize_row_q6_K(const void *src, float *dst, int64_t n) {
    const block_q6_K *x = src; // (n / 256)
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = H2F(x[i].d);
        float *y = dst + i * QK_K;
        q6_K_levels(&x[i], q);
        for (int p = 0; p < QK_K; p++) y[p] = d * (float)x[i].scales[p / 16] * (float)q[p];
    }
}

void dequantize_row_q8_K(const void *src, float *dst, int64_t n) {
    const block_q8_K *x = src; // (n / 256)
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++) dst[i * QK_K + j] = x[i].d * (float)x[i].qs[j];
}

/* ---- quantize Q8_K ---- */

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 leaves the integer in
 * the low mantissa bits (ggml's nearest_int). NaN gives 0. */
static inline int nearest_int(float v) {
    const float t = v + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &t, 4);
    return (int)(bits & 0x007fffffu) - 0x00400000;
}

/* Scale from the signed extreme: q = nearest(-127 x / max), so the extreme maps to -127
 * and d = -max / 127 (stored as 1 / iscale, fp32). bsums: sum of each 16 q. */
void quantize_row_q8_K(const float *src, void *dst, int64_t n) {
    block_q8_K *y = dst; // (n / 256)
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        if (amax == 0.0f) { /* ggml leaves bsums as they were; zero them */
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ---- dot products with Q8_K ---- */

/* Integer sum of scale[p / group] q[p] q8[p] over a super-block, in 8 lanes by p mod 8. */
static void lane_sums(const int8_t q[QK_K], const int8_t q8[QK_K], const int *scale, int group, int32_t lanes[8]) {
    memset(lanes, 0, 8 * sizeof(int32_t));
    for (int p = 0; p < QK_K; p++) lanes[p % 8] += scale[p / group] * (q[p] * q8[p]);
}

/* ggml's closing order: per-lane float sums over super-blocks, then sum_l lanes[l] onto sum. */
static float add_lanes(float sum, const float lanes[8]) {
    for (int l = 0; l < 8; l++) sum += lanes[l];
    return sum;
}

float vec_dot_q2_K(int64_t n, const void *row, const void *act) {
    const block_q2_K *x = row; // (n / 256)
    const block_q8_K *y = act; // (n / 256)
    int8_t q[QK_K];
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        q2_K_levels(&x[i], q);
        int min_sum = 0, isum = 0;
        for (int j = 0; j < 16; j++) {
            min_sum += y[i].bsums[j] * (x[i].scales[j] >> 4);
            int sub = 0;
            for (int l = 16 * j; l < 16 * j + 16; l++) sub += y[i].qs[l] * q[l];
            isum += (x[i].scales[j] & 0x0F) * sub;
        }
        const float dall = y[i].d * H2F(x[i].d), dmin = y[i].d * H2F(x[i].dmin);
        sum += dall * (float)isum - dmin * (float)min_sum;
    }
    return sum;
}

float vec_dot_q3_K(int64_t n, const void *row, const void *act) {
    const block_q3_K *x = row; // (n / 256)
    const block_q8_K *y = act; // (n / 256)
    int8_t q[QK_K];
    int scale[16];
    int32_t lanes[8];
    float sums[8] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        q3_K_levels(&x[i], q);
        q3_K_scales(x[i].scales, scale);
        lane_sums(q, y[i].qs, scale, 16, lanes);
        const float d = H2F(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)lanes[l];
    }
    return add_lanes(0.0f, sums);
}

/* Q4_K/Q5_K: sum_p (d sc q - dmin m) q8 d8 = d d8 sum(sc q q8) - dmin d8 sum_j m_j bsum_j. */
static void dot_k4_levels(const int8_t q[QK_K], const uint8_t packed[K_SCALE_SIZE], float d, float dmin, const block_q8_K *y,
                          float *sum, float lane_acc[8]) {
    int scale[8], min[8];
    for (int j = 0; j < 8; j++) k4_scale_min(j, packed, &scale[j], &min[j]);
    int min_sum = 0;
    for (int j = 0; j < QK_K / 16; j++) min_sum += y->bsums[j] * min[j / 2];
    int32_t lanes[8];
    lane_sums(q, y->qs, scale, 32, lanes);
    const float dd = d * y->d;
    for (int l = 0; l < 8; l++) lane_acc[l] += dd * (float)lanes[l];
    *sum -= dmin * y->d * (float)min_sum;
}

float vec_dot_q4_K(int64_t n, const void *row, const void *act) {
    const block_q4_K *x = row; // (n / 256)
    const block_q8_K *y = act; // (n / 256)
    int8_t q[QK_K];
    float sum = 0.0f, sums[8] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        q4_K_levels(&x[i], q);
        dot_k4_levels(q, x[i].scales, H2F(x[i].d), H2F(x[i].dmin), &y[i], &sum, sums);
    }
    return add_lanes(sum, sums);
}

float vec_dot_q5_K(int64_t n, const void *row, const void *act) {
    const block_q5_K *x = row; // (n / 256)
    const block_q8_K *y = act; // (n / 256)
    int8_t q[QK_K];
    float sum = 0.0f, sums[8] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        q5_K_levels(&x[i], q);
        dot_k4_levels(q, x[i].scales, H2F(x[i].d), H2F(x[i].dmin), &y[i], &sum, sums);
    }
    return add_lanes(sum, sums);
}

float vec_dot_q6_K(int64_t n, const void *row, const void *act) {
    const block_q6_K *x = row; // (n / 256)
    const block_q8_K *y = act; // (n / 256)
    int8_t q[QK_K];
    int scale[16];
    int32_t lanes[8];
    float sums[8] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        q6_K_levels(&x[i], q);
        for (int j = 0; j < 16; j++) scale[j] = x[i].scales[j];
        lane_sums(q, y[i].qs, scale, 16, lanes);
        const float d = H2F(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)lanes[l];
    }
    return add_lanes(0.0f, sums);
}
