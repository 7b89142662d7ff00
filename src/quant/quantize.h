/* quantize.h: error-minimizing weight quantizers, weighted by per-input-channel
 * importance (the role of llama.cpp's importance matrix), for every type celer writes.
 *
 * Unlike the reference round-to-nearest quantizers in the traits table, these search
 * each block's scale (and minimum, for the types that have one) to minimize
 *     sum_j w_j (x_j - dequant(q)_j)^2
 * where w_j grows with imp[j % n_per_row] (the mean squared input of column j over the
 * calibration text). With imp == NULL every column counts the same.
 *
 * Output bytes are the standard ggml block formats (quant/blocks.h), so llama.cpp and
 * any other GGUF reader load them. Thread-safe: no global state; callers split rows
 * across threads.
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
 * type cannot be written or n_per_row is not a multiple of its block size. */
celer_status quant_quantize(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imp,
                            celer_error *err);

#endif
