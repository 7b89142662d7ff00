/* quant.c: the traits table, one row per supported ggml type, and the lookups over it.
 * Block sizes, byte sizes and vec_dot types are ggml's (ggml.c type_traits,
 * ggml-cpu.c type_traits_cpu). Tested in tests/test_quant.c. */
#include "quant/quant.h"

#include <stdint.h>

#include "quant/blocks.h"
#include "quant/quant_ref.h"

#define TYPE(id, type_name, block, bytes, dot_type, dequantize, quantize, dot)                                      \
    [id] = {.name = type_name, .block_size = block, .type_size = bytes, .vec_dot_type = dot_type,                    \
            .dequantize_row = dequantize, .quantize_row = quantize, .vec_dot = dot}

/* quantize_row is NULL where celer has no reference quantizer (the K-quants);
 * vec_dot is NULL for the activation-only types Q8_1 and Q8_K. */
static const quant_traits traits[QUANT_TYPE_COUNT] = {
    TYPE(QUANT_F32, "f32", 1, 4, QUANT_F32, dequantize_row_f32, quantize_row_f32, vec_dot_f32),
    TYPE(QUANT_F16, "f16", 1, 2, QUANT_F16, dequantize_row_f16, quantize_row_f16, vec_dot_f16),
    TYPE(QUANT_BF16, "bf16", 1, 2, QUANT_BF16, dequantize_row_bf16, quantize_row_bf16, vec_dot_bf16),
    TYPE(QUANT_Q4_0, "q4_0", QK4_0, sizeof(block_q4_0), QUANT_Q8_0, dequantize_row_q4_0, quantize_row_q4_0, vec_dot_q4_0),
    TYPE(QUANT_Q4_1, "q4_1", QK4_1, sizeof(block_q4_1), QUANT_Q8_1, dequantize_row_q4_1, quantize_row_q4_1, vec_dot_q4_1),
    TYPE(QUANT_Q5_0, "q5_0", QK5_0, sizeof(block_q5_0), QUANT_Q8_0, dequantize_row_q5_0, quantize_row_q5_0, vec_dot_q5_0),
    TYPE(QUANT_Q5_1, "q5_1", QK5_1, sizeof(block_q5_1), QUANT_Q8_1, dequantize_row_q5_1, quantize_row_q5_1, vec_dot_q5_1),
    TYPE(QUANT_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0), QUANT_Q8_0, dequantize_row_q8_0, quantize_row_q8_0, vec_dot_q8_0),
    TYPE(QUANT_IQ4_NL, "iq4_nl", QK4_NL, sizeof(block_iq4_nl), QUANT_Q8_0, dequantize_row_iq4_nl, quantize_row_iq4_nl,
         vec_dot_iq4_nl),
    TYPE(QUANT_Q8_1, "q8_1", QK8_1, sizeof(block_q8_1), QUANT_Q8_1, dequantize_row_q8_1, quantize_row_q8_1, NULL),
    TYPE(QUANT_Q2_K, "q2_K", QK_K, sizeof(block_q2_K), QUANT_Q8_K, dequantize_row_q2_K, NULL, vec_dot_q2_K),
    TYPE(QUANT_Q3_K, "q3_K", QK_K, sizeof(block_q3_K), QUANT_Q8_K, dequantize_row_q3_K, NULL, vec_dot_q3_K),
    TYPE(QUANT_Q4_K, "q4_K", QK_K, sizeof(block_q4_K), QUANT_Q8_K, dequantize_row_q4_K, NULL, vec_dot_q4_K),
    TYPE(QUANT_Q5_K, "q5_K", QK_K, sizeof(block_q5_K), QUANT_Q8_K, dequantize_row_q5_K, NULL, vec_dot_q5_K),
    TYPE(QUANT_Q6_K, "q6_K", QK_K, sizeof(block_q6_K), QUANT_Q8_K, dequantize_row_q6_K, NULL, vec_dot_q6_K),
    TYPE(QUANT_Q8_K, "q8_K", QK_K, sizeof(block_q8_K), QUANT_Q8_K, dequantize_row_q8_K, quantize_row_q8_K, NULL),
};

const quant_traits *quant_get_traits(uint32_t type) {
    if (type >= QUANT_TYPE_COUNT || !traits[type].name) return NULL;
    return &traits[type];
}

size_t quant_row_size(uint32_t type, int64_t n) {
    const quant_traits *t = quant_get_traits(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    const uint64_t blocks = (uint64_t)(n / t->block_size);
    if (blocks > SIZE_MAX / t->type_size) return 0; /* would not fit in size_t */
    return (size_t)blocks * t->type_size;
}

/* ggml's names of the types celer does not run, for messages (gaps: removed ids). */
static const char *const unsupported_names[] = {
    [16] = "iq2_xxs", [17] = "iq2_xs", [18] = "iq3_xxs", [19] = "iq1_s", [21] = "iq3_s",
    [22] = "iq2_s",   [23] = "iq4_xs", [24] = "i8",      [25] = "i16",   [26] = "i32",    [27] = "i64",
    [28] = "f64",     [29] = "iq1_m",  [34] = "tq1_0",   [35] = "tq2_0", [39] = "mxfp4",  [40] = "nvfp4",
    [41] = "q1_0",    [42] = "q2_0",
};

const char *quant_type_name(uint32_t type) {
    const quant_traits *t = quant_get_traits(type);
    if (t) return t->name;
    if (type < sizeof(unsupported_names) / sizeof(unsupported_names[0]) && unsupported_names[type]) return unsupported_names[type];
    return "unknown";
}
