/* quantize.h: error-minimizing weight quantizers, weighted by per-input-channel
 * importance (the role of llama.cpp's importance matrix), for every type celer writes:
 * F32, F16, BF16 (plain conversions), Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q2_K..Q6_K.
 *
 * Unlike the reference round-to-nearest quantizers in the traits table, these search
 * each block's scale (and minimum, for the types that have one) to minimize
 *     sum_j w_j (x_j - dequant(q)_j)^2
 * where w_j grows with imp[j % n_per_row] (the mean squared input of column j over the
 * calibration text): w_j = imp_j plus a millionth of the block's mean (so zero-importance
 * columns are still quantized sensibly). With imp == NULL every column counts the same
 * (w_j = 1: the plain squared error). The K-quants' sub-block scales are quantized with the weights of their
 * sub-blocks too.
 *
 * Guarantees (tests/test_quantize.c): for the 32-element types the weighted error of
 * every block is at most that of the traits table's round-to-nearest quantizer; data that
 * already lies on a grid of the target type (dequantized from it, or from a coarser type
 * on the same grid: Q4_0 values to Q8_0 or Q5_0, Q4_1 values to Q5_1) comes back exactly
 * (Q2_K: nearly); values are finite, decodable by the traits' dequantize_row.
 * Throughput on one core: about 10 (IQ4_NL) to 30 M weights/s for the 32-element types,
 * 7 (Q2_K) to 15 M for the K-quants (docs/quantize.md); test_quantize prints it.
 *
 * Output bytes are the standard ggml block formats (quant/blocks.h), so llama.cpp and
 * any other GGUF reader load them. Thread-safe: no global state; callers split rows
 * across threads. No allocation.
 * Tests: tests/test_quantize.c. */
#ifndef CELER_QUANT_QUANTIZE_H
#define CELER_QUANT_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

/* Whether quant_quantize can write this type. */
bool quant_can_quantize(uint32_t type);

/* Quantizes nrows rows of n_per_row floats (src, row-major) into dst, which holds
 * nrows * quant_row_size(type, n_per_row) bytes. imp: (n_per_row) non-negative
 * importances, or NULL. CELER_ERR_INVALID_ARG (with a message naming the type) when the
 * type cannot be written or n_per_row is not a multiple of its block size; also for
 * counts that are negative or overflow, NULL buffers, importances that are negative or
 * not finite, and (block types) source values that are not finite. A refused call writes
 * nothing. */
celer_status quant_quantize(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imp,
                            celer_error *err);

#endif
