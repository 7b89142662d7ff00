/* quant_float.c: the float tensor types F32, F16 and BF16: conversion to and from fp32
 * and the dot product, as ggml's scalar path computes it (vec.cpp, no GGML_SIMD):
 * each product rounded to float, the sum kept in double (ggml_float).
 * Conversions are core/half.h's (round to nearest even, like numpy and ggml).
 * Tested in tests/test_quant.c against numpy and the gguf package. */
#include <string.h>

#include "core/half.h"
#include "quant/quant_ref.h"

void dequantize_row_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

void quantize_row_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

float vec_dot_f32(int64_t n, const void *row, const void *act) {
    const float *x = row, *y = act; // (n), (n)
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

void dequantize_row_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *x = src; // (n) fp16 bits
    for (int64_t i = 0; i < n; i++) dst[i] = celer_fp16_to_fp32(x[i]);
}

void quantize_row_f16(const float *src, void *dst, int64_t n) {
    uint16_t *y = dst; // (n) fp16 bits
    for (int64_t i = 0; i < n; i++) y[i] = celer_fp32_to_fp16(src[i]);
}

float vec_dot_f16(int64_t n, const void *row, const void *act) {
    const uint16_t *x = row, *y = act; // (n), (n) fp16 bits
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(celer_fp16_to_fp32(x[i]) * celer_fp16_to_fp32(y[i]));
    return (float)sum;
}

void dequantize_row_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *x = src; // (n) bf16 bits
    for (int64_t i = 0; i < n; i++) dst[i] = celer_bf16_to_fp32(x[i]);
}

void quantize_row_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *y = dst; // (n) bf16 bits
    for (int64_t i = 0; i < n; i++) y[i] = celer_fp32_to_bf16(src[i]);
}

float vec_dot_bf16(int64_t n, const void *row, const void *act) {
    const uint16_t *x = row, *y = act; // (n), (n) bf16 bits
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(celer_bf16_to_fp32(x[i]) * celer_bf16_to_fp32(y[i]));
    return (float)sum;
}
