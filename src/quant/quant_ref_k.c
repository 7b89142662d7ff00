/* quant_ref_k.c: scalar reference for ggml's K-quants (256-element super-blocks):
 * dequantize Q2_K..Q6_K, quantize/dequantize the Q8_K activation type, and the dot of
 * each K-quant row with a Q8_K row (computed from the dequantized super-block: the
 * reference the fast kernels are tested against). Tested in tests/test_quant.c. */
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/quant_ref.h"

#define H2F celer_fp16_to_fp32

void dequantize_row_q2_K(const void *src, float *dst, int64_t n) {
    const block_q2_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = H2F(x[i].d), min = H2F(x[i].dmin);
        const uint8_t *q = x[i].qs;
        float *y = dst + i * QK_K;
        int is = 0;
        for (int half = 0; half < QK_K; half += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int k = 0; k < 2; k++) {
                    uint8_t sc = x[i].scales[is++];
                    float dl = d * (float)(sc & 0x0F), ml = min * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[l + 16 * k] >> shift) & 3) - ml;
                }
    }
}

/* Q3_K's 16 six-bit scales, unpacked from 12 bytes (ggml's kmask shuffle). */
static void q3_K_scales(const uint8_t packed[12], int8_t out[16]) {
    uint32_t aux[4];
    memcpy(aux, packed, 12);
    uint32_t tmp = aux[2];
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    memcpy(out, aux, 16);
}

void dequantize_row_q3_K(const void *src, float *dst, int64_t n) {
    const block_q3_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d_all = H2F(x[i].d);
        int8_t scales[16];
        q3_K_scales(x[i].scales, scales);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask;
        float *y = dst + i * QK_K;
        int is = 0;
        uint8_t m = 1;
        for (int half = 0; half < QK_K; half += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                for (int k = 0; k < 2; k++) {
                    float dl = d_all * (float)(scales[is++] - 32);
                    for (int l = 16 * k; l < 16 * k + 16; l++) *y++ = dl * (float)(((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
    }
}

/* Scale and min j (0..7) of Q4_K/Q5_K, 6 bits each, packed in 12 bytes. */
static void k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void dequantize_row_q4_K(const void *src, float *dst, int64_t n) {
    const block_q4_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = H2F(x[i].d), min = H2F(x[i].dmin);
        const uint8_t *q = x[i].qs;
        float *y = dst + i * QK_K;
        for (int is = 0; is < 8; is += 2, q += 32) {
            uint8_t sc, m;
            k4_scale_min(is, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = min * m;
            k4_scale_min(is + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void dequantize_row_q5_K(const void *src, float *dst, int64_t n) {
    const block_q5_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = H2F(x[i].d), min = H2F(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        float *y = dst + i * QK_K;
        uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            k4_scale_min(is, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = min * m;
            k4_scale_min(is + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

void dequantize_row_q6_K(const void *src, float *dst, int64_t n) {
    const block_q6_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = H2F(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        float *y = dst + i * QK_K;
        for (int half = 0; half < QK_K; half += 128, y += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
    }
}

/* ggml's quantize_row_q8_K_ref: scale from the signed extreme, q = nearest(-127 x / max). */
void quantize_row_q8_K(const float *src, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = (int)lrintf(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++) sum += y[i].qs[j * 16 + k];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void dequantize_row_q8_K(const void *src, float *dst, int64_t n) {
    const block_q8_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++) dst[i * QK_K + j] = x[i].d * (float)x[i].qs[j];
}

/* K-quant · Q8_K, one super-block at a time from the dequantized weights. */
static float dot_with_q8_K(int64_t n, const void *w, size_t block_bytes, void (*deq)(const void *, float *, int64_t),
                           const void *act) {
    const block_q8_K *y = act;
    float wf[QK_K];
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        deq((const char *)w + i * block_bytes, wf, QK_K);
        float s = 0.0f;
        for (int j = 0; j < QK_K; j++) s += wf[j] * (float)y[i].qs[j];
        sum += s * y[i].d;
    }
    return sum;
}

float vec_dot_q2_K(int64_t n, const void *a, const void *b) { return dot_with_q8_K(n, a, sizeof(block_q2_K), dequantize_row_q2_K, b); }
float vec_dot_q3_K(int64_t n, const void *a, const void *b) { return dot_with_q8_K(n, a, sizeof(block_q3_K), dequantize_row_q3_K, b); }
float vec_dot_q4_K(int64_t n, const void *a, const void *b) { return dot_with_q8_K(n, a, sizeof(block_q4_K), dequantize_row_q4_K, b); }
float vec_dot_q5_K(int64_t n, const void *a, const void *b) { return dot_with_q8_K(n, a, sizeof(block_q5_K), dequantize_row_q5_K, b); }
float vec_dot_q6_K(int64_t n, const void *a, const void *b) { return dot_with_q8_K(n, a, sizeof(block_q6_K), dequantize_row_q6_K, b); }
