/* quantize.c: quant_quantize (quantize.h): argument checks, the per-type table of row
 * quantizers, the float types (plain conversion), and the 32-element block types Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL. The K-quants are in quantize_k.c, the block fits
 * they share in quantize_fit.c.
 *
 * A 32-element block is fitted in float (quantize_fit.h: scale search, least squares,
 * alternation), then the candidates it offers (the fit, ggml's round-to-nearest scale
 * and min, the grid-exact scales) are each rounded to fp16 and measured with every
 * element on its nearest level of the decoded grid; the best is refined by stepping its
 * fp16 scale (and min) to the neighbouring fp16 values while the error falls. Since the
 * round-to-nearest scale is among the candidates and the levels are then the nearest, the
 * weighted error is never above that of the traits table's reference quantizer.
 *
 * Weights: importances given, w_j = imp_j plus a millionth of the block's mean, so that
 * columns of zero importance are still quantized sensibly (and grid-exact data comes back
 * exactly there too); without, w_j = 1, the plain squared error. imp_j alone did better
 * than llama.cpp's imp_j sqrt(sigma^2 + x_j^2) and than imp_j (sigma^2 + x_j^2) in
 * perplexity (docs/quantize.md).
 * Tests: tests/test_quantize.c. */
#include "quant/quantize.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "quant/quantize_fit.h"

#define H2F celer_fp16_to_fp32

/* Candidate scales (or scale and min pairs) a block offers its final choice. */
enum { MAX_CANDIDATES = 48 };

/* Steps of the fp16 scale (and min) to neighbouring values while the error falls. */
enum { MAX_FP16_STEPS = 4 };

/* ---------------------------------------------------------------- symmetric types */

typedef struct {
    int qmin, qmax;
    fit_window window;
} symmetric_type;

/* The best of the candidate scales as fp16 (the first if all errors overflow), and its
 * levels (q). */
static uint16_t choose_symmetric(const float *x, const float *w, const symmetric_type *t, const float *cand, int n_cand, int8_t *q) {
    uint16_t best_h = fp16_of(cand[0]);
    float best = error_symmetric(x, w, QK8_0, t->qmin, t->qmax, H2F(best_h));
    for (int c = 1; c < n_cand; c++) {
        const uint16_t h = fp16_of(cand[c]);
        const float e = error_symmetric(x, w, QK8_0, t->qmin, t->qmax, H2F(h));
        if (e < best) best = e, best_h = h;
    }
    for (int dir = -1; dir <= 1; dir += 2)
        for (int k = 0; k < MAX_FP16_STEPS; k++) {
            const uint16_t h = fp16_next(best_h, dir);
            const float e = error_symmetric(x, w, QK8_0, t->qmin, t->qmax, H2F(h));
            if (!(e < best)) break;
            best = e, best_h = h;
        }
    levels_symmetric(x, QK8_0, t->qmin, t->qmax, H2F(best_h), q);
    return best_h;
}

/* The block's scale as fp16 and its levels: the fit, the round-to-nearest scale (the
 * extreme onto qmin, as ggml's reference) and the grid-exact scales compete. */
static uint16_t fit_block_symmetric(const float *x, const float *w, const symmetric_type *t, int8_t *q) {
    float cand[MAX_CANDIDATES];
    int n = 0;
    cand[n++] = fit_symmetric(x, w, QK8_0, t->qmin, t->qmax, &t->window, NULL);
    float amax = 0.0f, extreme = 0.0f;
    for (int i = 0; i < QK8_0; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), extreme = x[i];
    cand[n++] = t->qmin == -t->qmax ? extreme / (float)t->qmax : extreme / (float)t->qmin;
    n += grid_symmetric(x, QK8_0, t->qmin, t->qmax, cand + n, MAX_CANDIDATES - n);
    return choose_symmetric(x, w, t, cand, n, q);
}

static const symmetric_type type_q4_0 = {-8, 7, {1.0f, 1.0f, 0.1f, 2}};
static const symmetric_type type_q5_0 = {-16, 15, {1.0f, 1.0f, 0.1f, 2}};
static const symmetric_type type_q8_0 = {-127, 127, {2.0f, 0.5f, 0.25f, 2}};

static void block_q4_0_search(const float *x, const float *w, const quantize_ctx *ctx, void *dst) {
    (void)ctx;
    block_q4_0 *y = dst;
    int8_t q[QK4_0];
    y->d = fit_block_symmetric(x, w, &type_q4_0, q);
    for (int j = 0; j < QK4_0 / 2; j++) y->qs[j] = (uint8_t)((q[j] + 8) | (q[j + 16] + 8) << 4);
}

static void block_q5_0_search(const float *x, const float *w, const quantize_ctx *ctx, void *dst) {
    (void)ctx;
    block_q5_0 *y = dst;
    int8_t q[QK5_0];
    y->d = fit_block_symmetric(x, w, &type_q5_0, q);
    uint32_t qh = 0;
    for (int j = 0; j < QK5_0 / 2; j++) {
        const int q0 = q[j] + 16, q1 = q[j + 16] + 16;
        y->qs[j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
        qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
    }
    memcpy(y->qh, &qh, 4);
}

static void block_q8_0_search(const float *x, const float *w, const quantize_ctx *ctx, void *dst) {
    (void)ctx;
    block_q8_0 *y = dst;
    y->d = fit_block_symmetric(x, w, &type_q8_0, y->qs);
}

/* ---------------------------------------------------------------- IQ4_NL */

static const fit_window window_iq4_nl = {24.0f, 12.0f, 1.0f, 1};

static void block_iq4_nl_search(const float *x, const float *w, const quantize_ctx *ctx, void *dst) {
    block_iq4_nl *y = dst;
    const iq4_nl_table *t = &ctx->iq4_nl;
    uint8_t q[QK4_NL];
    float cand[MAX_CANDIDATES];
    int n = 0;
    cand[n++] = fit_iq4_nl(t, x, w, QK4_NL, &window_iq4_nl, NULL);
    float amax = 0.0f, extreme = 0.0f;
    for (int i = 0; i < QK4_NL; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), extreme = x[i];
    cand[n++] = extreme / (float)t->values[0]; /* round to nearest: the extreme onto -127 */
    n += grid_iq4_nl(t, x, QK4_NL, cand + n, MAX_CANDIDATES - n);
    uint16_t best_h = fp16_of(cand[0]);
    float best = error_iq4_nl(t, x, w, QK4_NL, H2F(best_h));
    for (int c = 1; c < n; c++) {
        const uint16_t h = fp16_of(cand[c]);
        const float e = error_iq4_nl(t, x, w, QK4_NL, H2F(h));
        if (e < best) best = e, best_h = h;
    }
    for (int dir = -1; dir <= 1; dir += 2)
        for (int k = 0; k < MAX_FP16_STEPS; k++) {
            const uint16_t h = fp16_next(best_h, dir);
            const float e = error_iq4_nl(t, x, w, QK4_NL, H2F(h));
            if (!(e < best)) break;
            best = e, best_h = h;
        }
    levels_iq4_nl(t, x, QK4_NL, H2F(best_h), q);
    y->d = best_h;
    for (int j = 0; j < QK4_NL / 2; j++) y->qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
}

/* ---------------------------------------------------------------- types with a min */

/* Error of fp16 scale hs and min hm with the nearest levels, after moving the min to the
 * weighted mean residual of those levels (rounded to fp16 again) if that is better: *hm
 * is updated. */
static float error_min_pair(const float *x, const float *w, int qmax, uint16_t hs, uint16_t *hm) {
    const float s = H2F(hs), m = H2F(*hm);
    float e = error_with_min(x, w, QK4_1, qmax, s, m);
    const uint16_t h2 = fp16_of(mean_residual_with_min(x, w, QK4_1, qmax, s, m));
    if (h2 != *hm) {
        const float e2 = error_with_min(x, w, QK4_1, qmax, s, H2F(h2));
        if (e2 < e) e = e2, *hm = h2;
    }
    return e;
}

/* Scale and min as fp16 and the levels: the fit, round to nearest ((max - min) / qmax and
 * min) and the grid-exact pairs compete, then the best steps through neighbouring fp16
 * scales and mins. */
static void fit_block_with_min(const float *x, const float *w, int qmax, const fit_window *win, uint16_t *hs, uint16_t *hm, uint8_t *q) {
    fit_affine cand[MAX_CANDIDATES];
    int n = 0;
    cand[n++] = fit_with_min(x, w, QK4_1, qmax, 0, win, NULL);
    float lo = x[0], hi = x[0];
    for (int i = 1; i < QK4_1; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    cand[n++] = (fit_affine){(hi - lo) / (float)qmax, lo};
    n += grid_with_min(x, QK4_1, qmax, 0, cand + n, MAX_CANDIDATES - n);
    float best = 0.0f;
    for (int c = 0; c < n; c++) {
        const uint16_t s = fp16_of(cand[c].scale);
        uint16_t m = fp16_of(cand[c].min);
        const float e = error_min_pair(x, w, qmax, s, &m);
        if (c == 0 || e < best) best = e, *hs = s, *hm = m;
    }
    for (int k = 0; k < MAX_FP16_STEPS; k++) { /* the 8 neighbours of (scale, min) */
        const uint16_t s0 = *hs, m0 = *hm;
        int moved = 0;
        for (int ds = -1; ds <= 1; ds++)
            for (int dm = -1; dm <= 1; dm++) {
                if (!ds && !dm) continue;
                const uint16_t s = ds ? fp16_next(s0, ds) : s0;
                uint16_t m = dm ? fp16_next(m0, dm) : m0;
                const float e = error_min_pair(x, w, qmax, s, &m);
                if (e < best) best = e, *hs = s, *hm = m, moved = 1;
            }
        if (!moved) break;
    }
    levels_with_min(x, QK4_1, qmax, H2F(*hs), H2F(*hm), q);
}

static const fit_window window_q4_1 = {1.0f, 1.0f, 0.1f, 2};
static const fit_window window_q5_1 = {1.0f, 1.0f, 0.1f, 2};

static void block_q4_1_search(const float *x, const float *w, const quantize_ctx *ctx, void *dst) {
    (void)ctx;
    block_q4_1 *y = dst;
    uint8_t q[QK4_1];
    fit_block_with_min(x, w, 15, &window_q4_1, &y->d, &y->m, q);
    for (int j = 0; j < QK4_1 / 2; j++) y->qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
}

static void block_q5_1_search(const float *x, const float *w, const quantize_ctx *ctx, void *dst) {
    (void)ctx;
    block_q5_1 *y = dst;
    uint8_t q[QK5_1];
    fit_block_with_min(x, w, 31, &window_q5_1, &y->d, &y->m, q);
    uint32_t qh = 0;
    for (int j = 0; j < QK5_1 / 2; j++) {
        y->qs[j] = (uint8_t)((q[j] & 0x0F) | (q[j + 16] & 0x0F) << 4);
        qh |= (uint32_t)(q[j] >> 4) << j | (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    memcpy(y->qh, &qh, 4);
}

/* ---------------------------------------------------------------- rows */

typedef void (*block_fn)(const float *x, const float *w, const quantize_ctx *ctx, void *dst);

/* A row of 32-element blocks: weights per block, then the type's block quantizer. */
static void quantize_row_blocks(block_fn fn, size_t block_bytes, const float *x, const float *imp, int64_t n, void *dst,
                                const quantize_ctx *ctx) {
    float w[32];
    for (int64_t b = 0; b < n / 32; b++) {
        block_weights(imp ? imp + 32 * b : NULL, 32, w);
        fn(x + 32 * b, w, ctx, (char *)dst + b * (int64_t)block_bytes);
    }
}

#define ROW_FN(t, block_type)                                                                                      \
    static void quantize_search_##t(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx) { \
        quantize_row_blocks(block_##t##_search, sizeof(block_type), x, imp, n, dst, ctx);                           \
    }
ROW_FN(q4_0, block_q4_0)
ROW_FN(q4_1, block_q4_1)
ROW_FN(q5_0, block_q5_0)
ROW_FN(q5_1, block_q5_1)
ROW_FN(q8_0, block_q8_0)
ROW_FN(iq4_nl, block_iq4_nl)

typedef void (*row_fn)(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx);

/* The types quant_quantize writes; NULL row: a plain conversion by the traits' quantize_row. */
static const struct {
    uint32_t type;
    row_fn row;
} writers[] = {
    {QUANT_F32, NULL},
    {QUANT_F16, NULL},
    {QUANT_BF16, NULL},
    {QUANT_Q4_0, quantize_search_q4_0},
    {QUANT_Q4_1, quantize_search_q4_1},
    {QUANT_Q5_0, quantize_search_q5_0},
    {QUANT_Q5_1, quantize_search_q5_1},
    {QUANT_Q8_0, quantize_search_q8_0},
    {QUANT_Q2_K, quantize_search_q2_K},
    {QUANT_Q3_K, quantize_search_q3_K},
    {QUANT_Q4_K, quantize_search_q4_K},
    {QUANT_Q5_K, quantize_search_q5_K},
    {QUANT_Q6_K, quantize_search_q6_K},
    {QUANT_IQ4_NL, quantize_search_iq4_nl},
};

static int writer_index(uint32_t type) {
    for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++)
        if (writers[i].type == type) return (int)i;
    return -1;
}

bool quant_can_quantize(uint32_t type) { return writer_index(type) >= 0 && quant_get_traits(type) != NULL; }

/* First element of x (n) that is not finite, or -1. */
static int64_t first_not_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

celer_status quant_quantize(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imp,
                            celer_error *err) {
    const int wi = writer_index(type);
    const quant_traits *tr = quant_get_traits(type);
    if (wi < 0 || !tr)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "quantize: cannot write type %s (id %" PRIu32 ")", quant_type_name(type), type);
    if (nrows < 0 || n_per_row <= 0)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "quantize %s: %" PRId64 " rows of %" PRId64 " values", tr->name, nrows,
                               n_per_row);
    if (n_per_row % tr->block_size != 0)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "quantize %s: row length %" PRId64 " is not a multiple of the block size %" PRId64,
                               tr->name, n_per_row, tr->block_size);
    const size_t row_bytes = quant_row_size(type, n_per_row);
    if (row_bytes == 0 || (nrows > 0 && (uint64_t)nrows > SIZE_MAX / row_bytes) || nrows > INT64_MAX / n_per_row)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "quantize %s: %" PRId64 " rows of %" PRId64 " values overflow a size", tr->name,
                               nrows, n_per_row);
    if (nrows == 0) return CELER_OK;
    if (!src || !dst) return celer_error_set(err, CELER_ERR_INVALID_ARG, "quantize %s: %s is NULL", tr->name, src ? "dst" : "src");
    if (imp)
        for (int64_t j = 0; j < n_per_row; j++)
            if (!(imp[j] >= 0.0f) || !isfinite(imp[j]))
                return celer_error_set(err, CELER_ERR_INVALID_ARG, "quantize %s: importance of column %" PRId64 " is %g (must be finite and >= 0)",
                                       tr->name, j, (double)imp[j]);
    const row_fn row = writers[wi].row;
    if (row) /* all rows checked first: a refused call writes nothing */
        for (int64_t r = 0; r < nrows; r++) {
            const float *x = src + r * n_per_row;
            const int64_t bad = first_not_finite(x, n_per_row);
            if (bad >= 0)
                return celer_error_set(err, CELER_ERR_INVALID_ARG, "quantize %s: row %" PRId64 " column %" PRId64 " is %g (must be finite)",
                                       tr->name, r, bad, (double)x[bad]);
        }
    quantize_ctx ctx;
    if (type == QUANT_IQ4_NL) iq4_nl_table_init(&ctx.iq4_nl);
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * n_per_row;
        void *y = (char *)dst + (size_t)r * row_bytes;
        if (row)
            row(x, imp, n_per_row, y, &ctx);
        else
            tr->quantize_row(x, y, n_per_row);
    }
    return CELER_OK;
}
