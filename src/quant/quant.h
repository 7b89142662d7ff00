/* quant.h: ggml tensor types as data: one traits table with block size, bytes per block,
 * and the scalar reference dequantize, activation quantize and dot product per type.
 *
 * The reference functions are the truth every SIMD/CUDA kernel is tested against.
 * Dot products follow ggml's scheme so results match llama.cpp closely: a weight row of
 * type T is multiplied with an activation row quantized to traits[T].vec_dot_type
 * (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F16 for F16,
 * BF16 for BF16, F32 for F32).
 * Tests: tests/test_quant.c against golden values from the gguf Python package. */
#ifndef CELER_QUANT_QUANT_H
#define CELER_QUANT_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* ggml's type ids, as stored in GGUF files. */
typedef enum {
    QUANT_F32 = 0,
    QUANT_F16 = 1,
    QUANT_Q4_0 = 2,
    QUANT_Q4_1 = 3,
    QUANT_Q5_0 = 6,
    QUANT_Q5_1 = 7,
    QUANT_Q8_0 = 8,
    QUANT_Q8_1 = 9,
    QUANT_Q2_K = 10,
    QUANT_Q3_K = 11,
    QUANT_Q4_K = 12,
    QUANT_Q5_K = 13,
    QUANT_Q6_K = 14,
    QUANT_Q8_K = 15,
    QUANT_IQ4_NL = 20,
    QUANT_BF16 = 30,
    QUANT_TYPE_COUNT = 40 /* bound for ids in files; most ids below it are unsupported */
} quant_type;

typedef struct {
    const char *name;     /* ggml's name: "q4_K", "f16", ... */
    int64_t block_size;   /* elements per block */
    size_t type_size;     /* bytes per block */
    quant_type vec_dot_type;
    /* n is a multiple of block_size in all of these. */
    void (*dequantize_row)(const void *src, float *dst, int64_t n);
    /* Reference quantizer (round to nearest, ggml's reference algorithm); NULL if none. */
    void (*quantize_row)(const float *src, void *dst, int64_t n);
    /* Dot of a row of this type with a row of vec_dot_type, both n elements. */
    float (*vec_dot)(int64_t n, const void *row, const void *act);
} quant_traits;

/* NULL for ids that are unknown or unsupported. */
const quant_traits *quant_get_traits(uint32_t type);

/* Bytes of a row of n elements; 0 if type unsupported or n not a multiple of the block. */
size_t quant_row_size(uint32_t type, int64_t n);

/* Name for any id, "unknown" if none (for error messages about unsupported types). */
const char *quant_type_name(uint32_t type);

#endif
