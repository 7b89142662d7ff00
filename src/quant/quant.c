/* quant.c: the traits table: one row per supported ggml type. Tested in
 * tests/test_quant.c. */
#include "quant/quant.h"

#include "quant/blocks.h"
#include "quant/quant_ref.h"

#define ROW(id, nm, bs, size, dot_type, q, quantize)                                               \
    [id] = {.name = nm, .block_size = bs, .type_size = size, .vec_dot_type = dot_type,       \
            .dequantize_row = dequantize_row_##q, .quantize_row = quantize, .vec_dot = vec_dot_##q}

/* quantize_row is set where a reference quantizer exists (NULL otherwise). */
static const quant_traits traits[QUANT_TYPE_COUNT] = {
    ROW(QUANT_F32, "f32", 1, 4, QUANT_F32, f32, quantize_row_f32),
    ROW(QUANT_F16, "f16", 1, 2, QUANT_F16, f16, quantize_row_f16),
    ROW(QUANT_BF16, "bf16", 1, 2, QUANT_BF16, bf16, quantize_row_bf16),
    ROW(QUANT_Q4_0, "q4_0", QK4_0, sizeof(block_q4_0), QUANT_Q8_0, q4_0, quantize_row_q4_0),
    ROW(QUANT_Q4_1, "q4_1", QK4_1, sizeof(block_q4_1), QUANT_Q8_1, q4_1, quantize_row_q4_1),
    ROW(QUANT_Q5_0, "q5_0", QK5_0, sizeof(block_q5_0), QUANT_Q8_0, q5_0, NULL),
    ROW(QUANT_Q5_1, "q5_1", QK5_1, sizeof(block_q5_1), QUANT_Q8_1, q5_1, NULL),
    ROW(QUANT_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0), QUANT_Q8_0, q8_0, quantize_row_q8_0),
    [QUANT_Q8_1] = {.name = "q8_1", .block_size = QK8_1, .type_size = sizeof(block_q8_1), .vec_dot_type = QUANT_Q8_1,
                    .dequantize_row = dequantize_row_q8_1, .quantize_row = quantize_row_q8_1, .vec_dot = NULL},
    ROW(QUANT_Q2_K, "q2_K", QK_K, sizeof(block_q2_K), QUANT_Q8_K, q2_K, NULL),
    ROW(QUANT_Q3_K, "q3_K", QK_K, sizeof(block_q3_K), QUANT_Q8_K, q3_K, NULL),
    ROW(QUANT_Q4_K, "q4_K", QK_K, sizeof(block_q4_K), QUANT_Q8_K, q4_K, NULL),
    ROW(QUANT_Q5_K, "q5_K", QK_K, sizeof(block_q5_K), QUANT_Q8_K, q5_K, NULL),
    ROW(QUANT_Q6_K, "q6_K", QK_K, sizeof(block_q6_K), QUANT_Q8_K, q6_K, NULL),
    [QUANT_Q8_K] = {.name = "q8_K", .block_size = QK_K, .type_size = sizeof(block_q8_K), .vec_dot_type = QUANT_Q8_K,
                    .dequantize_row = dequantize_row_q8_K, .quantize_row = quantize_row_q8_K, .vec_dot = NULL},
};

const quant_traits *quant_get_traits(uint32_t type) {
    if (type >= QUANT_TYPE_COUNT || !traits[type].name) return NULL;
    return &traits[type];
}

size_t quant_row_size(uint32_t type, int64_t n) {
    const quant_traits *t = quant_get_traits(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}

const char *quant_type_name(uint32_t type) {
    static const char *const others[QUANT_TYPE_COUNT] = {[16] = "iq2_xxs", [17] = "iq2_xs", [18] = "iq3_xxs", [19] = "iq1_s",
                                                         [20] = "iq4_nl",  [21] = "iq3_s",  [22] = "iq2_s",   [23] = "iq4_xs",
                                                         [24] = "i8",      [25] = "i16",    [26] = "i32",     [27] = "i64",
                                                         [28] = "f64",     [29] = "iq1_m",  [34] = "tq1_0",   [35] = "tq2_0",
                                                         [39] = "mxfp4"};
    const quant_traits *t = quant_get_traits(type);
    if (t) return t->name;
    if (type < QUANT_TYPE_COUNT && others[type]) return others[type];
    return "unknown";
}
