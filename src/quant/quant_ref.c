/* quant_ref.c: scalar reference dequantize, quantize and dot product for ggml's block
 * types. Layouts and arithmetic follow ggml (ggml-quants.c, ggml-cpu/quants.c); the
 * activation quantizers (Q8_0, Q8_1) round as ggml's x86 CPU path does (id = 127 / amax,
 * round half to even), so celer's activations match llama.cpp's on the same machine.
 * Tested in tests/test_quant.c against the gguf Python package's dequantization. */
#include "quant/quant_ref.h"

#include <math.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"

#define H2F celer_fp16_to_fp32

/* ---- float types ---- */

void dequantize_row_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
void quantize_row_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
float vec_dot_f32(int64_t n, const void *a, const void *b) {
    const float *x = a, *y = b;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

void dequantize_row_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *x = src;
    for (int64_t i = 0; i < n; i++) dst[i] = celer_fp16_to_fp32(x[i]);
}
void quantize_row_f16(const float *src, void *dst, int64_t n) {
    uint16_t *y = dst;
    for (int64_t i = 0; i < n; i++) y[i] = celer_fp32_to_fp16(src[i]);
}
float vec_dot_f16(int64_t n, const void *a, const void *b) {
    const uint16_t *x = a, *y = b;
    double sum = 0.0; /* ggml_float, as ggml's generic f16 dot */
    for (int64_t i = 0; i < n; i++) sum += (double)(celer_fp16_to_fp32(x[i]) * celer_fp16_to_fp32(y[i]));
    return (float)sum;
}

void dequantize_row_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *x = src;
    for (int64_t i = 0; i < n; i++) dst[i] = celer_bf16_to_fp32(x[i]);
}
void quantize_row_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *y = dst;
    for (int64_t i = 0; i < n; i++) y[i] = celer_fp32_to_bf16(src[i]);
}
float vec_dot_bf16(int64_t n, const void *a, const void *b) {
    const uint16_t *x = a, *y = b;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(celer_bf16_to_fp32(x[i]) * celer_bf16_to_fp32(y[i]));
    return (float)sum;
}

/* ---- 32-element blocks ---- */

void dequantize_row_q4_0(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        float d = H2F(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[i * QK4_0 + j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            dst[i * QK4_0 + j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_row_q4_1(const void *src, float *dst, int64_t n) {
    const block_q4_1 *x = src;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        float d = H2F(x[i].d), m = H2F(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            dst[i * QK4_1 + j] = (float)(x[i].qs[j] & 0x0F) * d + m;
            dst[i * QK4_1 + j + QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* The fifth bit of element j comes from bit j of qh. */
static void q5_values(const uint8_t qh_bytes[4], const uint8_t qs[16], int out[32]) {
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    for (int j = 0; j < 16; j++) {
        out[j] = (qs[j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10);
        out[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
    }
}

void dequantize_row_q5_0(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = src;
    int q[32];
    for (int64_t i = 0; i < n / QK5_0; i++) {
        float d = H2F(x[i].d);
        q5_values(x[i].qh, x[i].qs, q);
        for (int j = 0; j < 32; j++) dst[i * 32 + j] = (float)(q[j] - 16) * d;
    }
}

void dequantize_row_q5_1(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = src;
    int q[32];
    for (int64_t i = 0; i < n / QK5_1; i++) {
        float d = H2F(x[i].d), m = H2F(x[i].m);
        q5_values(x[i].qh, x[i].qs, q);
        for (int j = 0; j < 32; j++) dst[i * 32 + j] = (float)q[j] * d + m;
    }
}

void dequantize_row_q8_0(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = H2F(x[i].d);
        for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = (float)x[i].qs[j] * d;
    }
}

void dequantize_row_q8_1(const void *src, float *dst, int64_t n) {
    const block_q8_1 *x = src;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        float d = H2F(x[i].d);
        for (int j = 0; j < QK8_1; j++) dst[i * QK8_1 + j] = (float)x[i].qs[j] * d;
    }
}

/* 8-bit block quantization: d = amax / 127, q = round_half_even(x * 127 / amax). */
static float quantize_block_8bit(const float *x, int8_t *q, int *sum) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
    int s = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = (int8_t)nearbyintf(x[j] * id);
        s += q[j];
    }
    *sum = s;
    return d;
}

void quantize_row_q8_0(const float *src, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    int sum;
    for (int64_t i = 0; i < n / QK8_0; i++) y[i].d = celer_fp32_to_fp16(quantize_block_8bit(src + i * QK8_0, y[i].qs, &sum));
}

void quantize_row_q8_1(const float *src, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    int sum;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        float d = quantize_block_8bit(src + i * QK8_1, y[i].qs, &sum);
        y[i].d = celer_fp32_to_fp16(d);
        y[i].s = celer_fp32_to_fp16(d * (float)sum);
    }
}

/* ggml's reference 4-bit quantizers (quantize_row_q4_0_ref, quantize_row_q4_1_ref). */
void quantize_row_q4_0(const float *src, void *dst, int64_t n) {
    block_q4_0 *y = dst;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float *x = src + i * QK4_0;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        float d = max / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = celer_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int a = (int)(x[j] * id + 8.5f), b = (int)(x[j + QK4_0 / 2] * id + 8.5f);
            y[i].qs[j] = (uint8_t)((a > 15 ? 15 : a) | ((b > 15 ? 15 : b) << 4));
        }
    }
}

void quantize_row_q4_1(const float *src, void *dst, int64_t n) {
    block_q4_1 *y = dst;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float *x = src + i * QK4_1;
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < QK4_1; j++) min = fminf(min, x[j]), max = fmaxf(max, x[j]);
        float d = (max - min) / 15, id = d ? 1.0f / d : 0.0f;
        y[i].d = celer_fp32_to_fp16(d);
        y[i].m = celer_fp32_to_fp16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int a = (int)((x[j] - min) * id + 0.5f), b = (int)((x[j + QK4_1 / 2] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((a > 15 ? 15 : a) | ((b > 15 ? 15 : b) << 4));
        }
    }
}

/* Dots: integer sum per block, then scaled, as ggml. */
float vec_dot_q4_0(int64_t n, const void *a, const void *b) {
    const block_q4_0 *x = a;
    const block_q8_0 *y = b;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sum += (float)sumi * (H2F(x[i].d) * H2F(y[i].d));
    }
    return sum;
}

float vec_dot_q4_1(int64_t n, const void *a, const void *b) {
    const block_q4_1 *x = a;
    const block_q8_1 *y = b;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)sumi + H2F(x[i].m) * H2F(y[i].s);
    }
    return sum;
}

float vec_dot_q5_0(int64_t n, const void *a, const void *b) {
    const block_q5_0 *x = a;
    const block_q8_0 *y = b;
    float sum = 0.0f;
    int q[32];
    for (int64_t i = 0; i < n / QK5_0; i++) {
        q5_values(x[i].qh, x[i].qs, q);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += (q[j] - 16) * y[i].qs[j];
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)sumi;
    }
    return sum;
}

float vec_dot_q5_1(int64_t n, const void *a, const void *b) {
    const block_q5_1 *x = a;
    const block_q8_1 *y = b;
    float sum = 0.0f;
    int q[32];
    for (int64_t i = 0; i < n / QK5_1; i++) {
        q5_values(x[i].qh, x[i].qs, q);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += q[j] * y[i].qs[j];
        sum += (H2F(x[i].d) * H2F(y[i].d)) * (float)sumi + H2F(x[i].m) * H2F(y[i].s);
    }
    return sum;
}

float vec_dot_q8_0(int64_t n, const void *a, const void *b) {
    const block_q8_0 *x = a, *y = b;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sum += (float)sumi * (H2F(x[i].d) * H2F(y[i].d));
    }
    return sum;
}
