/* quantize_fit.h: the block-fitting primitives behind quant_quantize (quantize.c for the
 * 32-element types, quantize_k.c for the K-quants). Internal to src/quant.
 *
 * Every fit minimizes a weighted squared error sum_i w_i (x_i - y_i)^2 over one block of
 * n <= 256 values (a multiple of 8; IQ4_NL: 32), y_i the value the decoder computes. The
 * weights are non-negative and at least one is positive (the callers make sure).
 *
 * Two kinds of grids:
 *   symmetric   y = s q, q an integer in [qmin, qmax] (or, for IQ4_NL, s times a table
 *               entry): the scale s is searched;
 *   with a min  y = s q + m, q in [0, qmax]: scale and min are searched (optionally with
 *               m <= 0, as the K-quants store -m as an unsigned multiple of dmin).
 * A search starts from many scales (the block's extreme mapped to levels in a window
 * around the end of the range), takes for each the least-squares scale (and min) of the
 * levels it gives, keeps the best, then alternates levels and least squares (IQ4_NL:
 * every level set in the window is visited by a sweep, quantize_fit.c). The grid-exact
 * scales (below) are offered as candidates as well.
 *
 * Grid-exact candidates: when every value of a block is (to float rounding) an integer
 * multiple of a common step that fits the type (the block was dequantized from a type on
 * such a grid: Q4_1 data back to Q4_1, Q4_0 data to Q8_0), that step is found exactly by
 * trying the extreme at every integer level; the search above could miss it by a hair,
 * and a hair is the whole error.
 * Tests: tests/test_quantize.c. */
#ifndef CELER_QUANT_QUANTIZE_FIT_H
#define CELER_QUANT_QUANTIZE_FIT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/half.h"

/* Nearest integer (ties to even) clamped to [lo, hi] (|lo|, |hi| < 2^22). The float clamp
 * keeps the rounding trick in range (comparisons, not fminf: that is a library call in ISO
 * C mode); the integer clamp catches NaN. */
static inline int round_clamp(float v, int lo, int hi) {
    v = v < (float)lo ? (float)lo : v;
    v = v > (float)hi ? (float)hi : v;
    const float t = v + 12582912.0f; /* 1.5 * 2^23: the integer lands in the low mantissa bits */
    uint32_t bits;
    memcpy(&bits, &t, 4);
    const int r = (int)(bits & 0x007fffffu) - 0x00400000;
    return r < lo ? lo : r > hi ? hi : r;
}

/* fp16 of v clamped into fp16's finite range (NaN to 0). */
static inline uint16_t fp16_of(float v) {
    if (!(v == v)) return 0;
    return celer_fp32_to_fp16(v < -65504.0f ? -65504.0f : v > 65504.0f ? 65504.0f : v);
}

/* The neighbouring fp16 value above (dir > 0) or below, or h itself at the finite edge. */
static inline uint16_t fp16_next(uint16_t h, int dir) {
    const int neg = (h & 0x8000) != 0, mag = h & 0x7fff;
    if (mag == 0) return dir > 0 ? 0x0001 : 0x8001;
    const int up = neg ? dir < 0 : dir > 0; /* away from zero */
    if (up && mag >= 0x7bff) return h;
    return (uint16_t)(up ? h + 1 : h - 1);
}

/* Search window: the extreme maps to levels end - below .. end + above in steps of step. */
typedef struct {
    float below, above, step;
    int rounds; /* alternating rounds after the best start */
} fit_window;

/* ---- symmetric linear grid: y = s q, q in [qmin, qmax] (qmin < 0 < qmax) ---- */

/* Best scale (0 for an all-zero block); q (n) receives its levels unless NULL. */
float fit_symmetric(const float *x, const float *w, int n, int qmin, int qmax, const fit_window *win, int8_t *q);

/* Grid-exact scales of a block, at most cap of them, largest step first; returns how many. */
int grid_symmetric(const float *x, int n, int qmin, int qmax, float *scales, int cap);

/* Weighted error of y = s q with each q the nearest level to x / s (s as decoded), and
 * those levels. n a multiple of 8. */
float error_symmetric(const float *x, const float *w, int n, int qmin, int qmax, float s);
void levels_symmetric(const float *x, int n, int qmin, int qmax, float s, int8_t *q);

/* ---- grid with a min: y = s q + m, q in [0, qmax] ---- */

typedef struct {
    float scale, min;
} fit_affine;

/* Best scale and min (min <= 0 if nonpositive_min); q (n) receives the levels unless NULL. */
fit_affine fit_with_min(const float *x, const float *w, int n, int qmax, int nonpositive_min, const fit_window *win, uint8_t *q);

/* The grid-exact forms of a block with a min, by anchor: the block's min at level j with a
 * positive scale (base = the min), zero at level 0 (for m <= 0, when no value is
 * negative; base = 0), or the block's max at level j with a negative scale (a free min;
 * base = the max). For each, spans has bit t - 1 set when the block lies on the grid of
 * step range / t (t levels from the anchor to the other end); then every
 * (scale, min) = (+-range / t, base - j scale), j = 0 .. qmax - t (j = 0 for zero), fits
 * exactly. Returns how many anchors have a span (at most 3). */
typedef struct {
    float base, range;
    float sign;     /* of the scale */
    int shifts;     /* whether j may be above 0 */
    uint32_t spans; /* bit t - 1: span t fits */
} grid_anchor;

int grid_anchors_with_min(const float *x, int n, int qmax, int nonpositive_min, grid_anchor out[3]);

/* The (scale, min) pairs of grid_anchors_with_min, at most cap, coarsest grids first. */
int grid_with_min(const float *x, int n, int qmax, int nonpositive_min, fit_affine *out, int cap);

/* Weighted error of y = (float)q s + m, q the nearest level (s, m as decoded), and those
 * levels. n a multiple of 8. */
float error_with_min(const float *x, const float *w, int n, int qmax, float s, float m);
void levels_with_min(const float *x, int n, int qmax, float s, float m, uint8_t *q);

/* The weighted mean of x - (float)q s over the nearest levels q of (s, m): the best min
 * for those levels. */
float mean_residual_with_min(const float *x, const float *w, int n, int qmax, float s, float m);

/* ---- IQ4_NL: y = s table[q], q in 0..15 ---- */

/* The table with its midpoints: the entry nearest v (in table units) is the number of
 * midpoints below v (the lower entry on a tie). Eight lanes at once: its value is the
 * first entry plus the steps of those midpoints (branch-free). One value: entry[f + 128]
 * counts the midpoints below f = floor(v), and one comparison with the next finishes. */
typedef struct {
    int8_t values[16];
    float mid[16];  /* (values[k] + values[k + 1]) / 2; mid[15] = +inf */
    float step[15]; /* values[k + 1] - values[k] */
    uint8_t entry[256];
} iq4_nl_table;

void iq4_nl_table_init(iq4_nl_table *t);

static inline int iq4_nl_nearest(const iq4_nl_table *t, float v) {
    v = v > -128.0f ? v : -128.0f; /* NaN too */
    v = v < 127.0f ? v : 127.0f;
    const int f = (int)v - (v < (float)(int)v); /* floor */
    const int k = t->entry[f + 128];
    return v > t->mid[k] ? k + 1 : k;
}

float fit_iq4_nl(const iq4_nl_table *t, const float *x, const float *w, int n, const fit_window *win, uint8_t *q);
int grid_iq4_nl(const iq4_nl_table *t, const float *x, int n, float *scales, int cap);
float error_iq4_nl(const iq4_nl_table *t, const float *x, const float *w, int n, float s);
void levels_iq4_nl(const iq4_nl_table *t, const float *x, int n, float s, uint8_t *q);

/* ---- weights and the per-type row quantizers ---- */

/* What every row quantizer may use, built once per quant_quantize call. */
typedef struct {
    iq4_nl_table iq4_nl;
} quantize_ctx;

/* Weights of a block of n <= 256 values: imp_i plus a millionth of their mean with
 * importances, 1 without; uniform where the importances of the whole block are zero.
 * Scaled by a power of two so that the largest is in [0.5, 1) (only their ratios
 * matter). */
void block_weights(const float *imp, int n, float *w);

/* K-quant rows (quantize_k.c): n a multiple of 256, x finite, imp (n) or NULL. */
void quantize_search_q2_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx);
void quantize_search_q3_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx);
void quantize_search_q4_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx);
void quantize_search_q5_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx);
void quantize_search_q6_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx);

#endif
