/* quantize.c: placeholder until the importance-weighted quantizers land: the reference
 * round-to-nearest quantizers of the traits table (imp ignored). */
#include "quant/quantize.h"

#include "quant/quant.h"

bool quant_can_quantize(uint32_t type) {
    const quant_traits *tr = quant_get_traits(type);
    return tr && tr->quantize_row && type != QUANT_Q8_1 && type != QUANT_Q8_K;
}

celer_status quant_quantize(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imp,
                            celer_error *err) {
    (void)imp;
    const quant_traits *tr = quant_get_traits(type);
    if (!quant_can_quantize(type) || n_per_row % tr->block_size != 0)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "cannot quantize rows of %lld to %s", (long long)n_per_row, quant_type_name(type));
    size_t rb = quant_row_size(type, n_per_row);
    for (int64_t r = 0; r < nrows; r++) tr->quantize_row(src + r * n_per_row, (char *)dst + (size_t)r * rb, n_per_row);
    return CELER_OK;
}
