/* quantize_k.c: the error-minimizing K-quant quantizers (quantize.h), one super-block of
 * 256 values at a time, in two families:
 *   with mins  Q2_K (16 x 16, levels 0..3, 4-bit scales and mins), Q4_K and Q5_K (8 x 32,
 *              levels 0..15 / 0..31, 6-bit scales and mins): y = d sc q - dmin m;
 *   symmetric  Q3_K (16 x 16, levels -4..3, 6-bit signed scales), Q6_K (16 x 16, levels
 *              -32..31, 8-bit signed scales): y = d sc q.
 * Steps:
 *   1. each sub-block is fitted on its own (quantize_fit.h, grid-exact candidates
 *      included): a float scale (and min);
 *   2. the sub-block scales are themselves quantized: d (and dmin) searched as a block
 *      fit of the scales, each weighted by how much the sub-block's error grows with its
 *      scale's error (sum w q^2 for a scale, sum w for a min); the grid-exact d are
 *      offered too; the fp16 value and its two neighbours are ranked by that proxy;
 *   3. with d and dmin fixed, each sub-block tries its integer scale (and min) and those
 *      up to NEAR away, every element on its nearest level, and keeps the lowest error;
 *   4. d and dmin are refitted by least squares on all the integers chosen and step 3 is
 *      run again, while the error falls (at most REFITS rounds);
 *   5. if every sub-block lies exactly on a grid, the grid-exact super-block is searched
 *      (see exact_super_scale) and kept if better.
 * Errors are measured on the values as the dequantizer computes them (d sc in float,
 * then times q, minus dmin m).
 * Tests: tests/test_quantize.c. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/quantize_fit.h"

#define H2F celer_fp16_to_fp32

/* REFITS: rounds of step 4; NEAR: how far the integer scales (and mins) of step 3 reach */
enum { MAX_SUB = 16, MAX_SCALE_CANDIDATES = 72, REFITS = 4, NEAR = 2 };

/* Candidates for the super-block scale of values v (n, each with weight W): the
 * symmetric fit of v on integers in [-imax, imax] (imax = the larger magnitude of the
 * integer range), the round-to-nearest scale extreme / iend (iend: the integer the
 * extreme maps to, ggml's choice), and the grid-exact scales. */
static int scale_candidates(const float *v, const float *W, int n, int imin, int imax, int iend, float *out) {
    static const fit_window window = {2.0f, 0.5f, 0.25f, 2};
    int count = 0;
    float amax = 0.0f, extreme = 0.0f;
    for (int j = 0; j < n; j++)
        if (fabsf(v[j]) > amax) amax = fabsf(v[j]), extreme = v[j];
    if (amax == 0.0f) return 0;
    const int m = -imin > imax ? -imin : imax;
    const float fit = fit_symmetric(v, W, n, -m, m, &window, NULL); /* (levels up to 128: not int8) */
    out[count++] = imin >= 0 ? fabsf(fit) : fit; /* unsigned integers: a positive scale (the fit's sign is arbitrary) */
    out[count++] = extreme / (float)iend;
    count += grid_symmetric(v, n, imin, imax, out + count, MAX_SCALE_CANDIDATES - count);
    return count;
}

/* Weighted squared error of the scales v against d times their nearest integers in
 * [imin, imax] (d as decoded). */
static double scale_proxy(const float *v, const float *W, int n, int imin, int imax, float d) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    double e = 0.0;
    for (int j = 0; j < n; j++) {
        const float r = v[j] - d * (float)round_clamp(v[j] * id, imin, imax);
        e += (double)W[j] * (double)r * (double)r;
    }
    return e;
}

/* The fp16 super-block scale: the candidates, each with its fp16 neighbours, ranked by
 * the proxy. 0 if all scales are zero. */
static uint16_t choose_scale(const float *v, const float *W, int n, int imin, int imax, int iend) {
    float cand[MAX_SCALE_CANDIDATES];
    const int count = scale_candidates(v, W, n, imin, imax, iend, cand);
    uint16_t best_h = 0;
    double best = INFINITY;
    for (int c = 0; c < count; c++) {
        const uint16_t h0 = fp16_of(cand[c]);
        const uint16_t hs[3] = {h0, fp16_next(h0, -1), fp16_next(h0, 1)};
        for (int k = 0; k < 3; k++) {
            const double e = scale_proxy(v, W, n, imin, imax, H2F(hs[k]));
            if (e < best) best = e, best_h = hs[k];
        }
    }
    return best_h;
}

/* ---------------------------------------------------------------- grid-exact super-blocks */

/* When every sub-block lies exactly on a grid (the super-block was dequantized from this
 * type), the sub-block fits alone may still pick a grid the super-block cannot store: a
 * step twice the true one when the levels used are all even, or a min shifted by whole
 * steps when the lowest level was not used. Then the super-block scale is searched
 * directly: an fp16 value d such that every sub-block has a candidate equal to d times an
 * integer in range. */
enum { MAX_GRID = 64, EXACT_TRIES = 8 };

typedef struct {
    int n;
    float value[MAX_GRID]; /* candidate scales (or mins) of one sub-block */
} grid_values;

/* Whether v is (to float rounding) an integer in [imin, imax] times d; that integer. */
static int multiple_of(float v, float d, int imin, int imax, int *i) {
    const float r = v / d;
    *i = round_clamp(r, imin, imax);
    return fabsf(r - (float)*i) <= 1e-3f;
}

/* d as fp16 and each sub-block's candidate that is a multiple of it (pick), the solution
 * after `skip` others (a grid fits its multiples' grids too); 0 if none.
 * d is a candidate of a pivot sub-block over an integer, and an fp16 value (which prunes
 * nearly all quotients); the pivot has no zero candidate (zero is a multiple of any d, so
 * a pivot's true candidate must not be zero) and, among those, the fewest candidates. */
static int exact_super_scale(const grid_values *g, int n_sub, int imin, int imax, int skip, uint16_t *d, float *pick) {
    int pivot = -1;
    for (int j = 0; j < n_sub; j++) {
        if (g[j].n == 0) return 0;
        int has_zero = 0;
        for (int k = 0; k < g[j].n; k++) has_zero |= g[j].value[k] == 0.0f;
        if (!has_zero && (pivot < 0 || g[j].n < g[pivot].n)) pivot = j;
    }
    if (pivot < 0) { /* every sub-block can be zero */
        *d = 0;
        for (int j = 0; j < n_sub; j++) pick[j] = 0.0f;
        return skip == 0;
    }
    const int imag = -imin > imax ? -imin : imax;
    for (int k = 0; k < g[pivot].n; k++)
        for (int i = 1; i <= imag; i++)
            for (int sign = -1; sign <= 1; sign += 2) {
                const float c = g[pivot].value[k], dv = c / (float)(sign * i);
                const uint16_t h = fp16_of(dv);
                const float d16 = H2F(h);
                if (!(fabsf(d16 - dv) <= 1e-5f * fabsf(dv))) continue;
                int ok = 1, m;
                for (int j = 0; j < n_sub && ok; j++) {
                    ok = 0;
                    for (int c2 = 0; c2 < g[j].n && !ok; c2++)
                        if (multiple_of(g[j].value[c2], d16, imin, imax, &m)) ok = 1, pick[j] = g[j].value[c2];
                }
                if (ok && skip-- == 0) {
                    *d = h;
                    return 1;
                }
            }
    return 0;
}

/* ================================================================ with mins */

typedef struct {
    int n_sub, len; /* sub-blocks and their length */
    int qmax;       /* levels 0..qmax */
    int smax;       /* scale and min integers 0..smax */
    fit_window window;
} kquant_min;

typedef struct {
    uint16_t d, dmin;
    uint8_t sc[MAX_SUB], mn[MAX_SUB];
    uint8_t q[QK_K];
    double err;
} superblock_min;


/* Step 3: with s->d and s->dmin set, each sub-block's best integers next to its float
 * scale and min; fills s and its total error. */
static void choose_integers_min(const float *x, const float *w, const kquant_min *t, const float *scale, const float *min,
                                superblock_min *s) {
    const float d = H2F(s->d), dmin = H2F(s->dmin);
    const float id = d != 0.0f ? 1.0f / d : 0.0f, idmin = dmin != 0.0f ? 1.0f / dmin : 0.0f;
    s->err = 0.0;
    for (int j = 0; j < t->n_sub; j++) {
        const float *xj = x + j * t->len, *wj = w + j * t->len;
        const int sc0 = round_clamp(scale[j] * id, 0, t->smax), mn0 = round_clamp(min[j] * idmin, 0, t->smax);
        float best = INFINITY;
        s->sc[j] = (uint8_t)sc0, s->mn[j] = (uint8_t)mn0;
        for (int sc = sc0 - NEAR; sc <= sc0 + NEAR; sc++)
            for (int mn = mn0 - NEAR; mn <= mn0 + NEAR; mn++) {
                if (sc < 0 || sc > t->smax || mn < 0 || mn > t->smax) continue;
                if ((d == 0.0f && sc != sc0) || (dmin == 0.0f && mn != mn0)) continue;
                /* y = (d sc) q - dmin mn, as the dequantizer computes it */
                const float e = error_with_min(xj, wj, t->len, t->qmax, d * (float)sc, -(dmin * (float)mn));
                if (e < best) best = e, s->sc[j] = (uint8_t)sc, s->mn[j] = (uint8_t)mn;
            }
        levels_with_min(xj, t->len, t->qmax, d * (float)s->sc[j], -(dmin * (float)s->mn[j]), s->q + j * t->len);
        s->err += best;
    }
}

/* Step 4: least squares of x ~ d (sc q) - dmin m over the super-block, integers fixed. */
static void refit_min(const float *x, const float *w, const kquant_min *t, const superblock_min *s, float *d, float *dmin) {
    double saa = 0.0, sab = 0.0, sbb = 0.0, sxa = 0.0, sxb = 0.0;
    for (int i = 0; i < QK_K; i++) {
        const int j = i / t->len;
        const double a = (double)s->sc[j] * s->q[i], b = -(double)s->mn[j];
        saa += w[i] * a * a, sab += w[i] * a * b, sbb += w[i] * b * b;
        sxa += w[i] * x[i] * a, sxb += w[i] * x[i] * b;
    }
    const double det = saa * sbb - sab * sab;
    if (det > 1e-12 * saa * sbb) {
        *d = (float)((sxa * sbb - sxb * sab) / det);
        *dmin = (float)((saa * sxb - sab * sxa) / det);
    } else {
        *d = saa > 0.0 ? (float)(sxa / saa) : 0.0f;
        *dmin = H2F(s->dmin);
    }
}

/* A sub-block's grid-exact forms (grid_anchors_with_min); a constant sub-block has a form
 * for nearly any d and dmin, so it is set aside (constant) and solved once they are known. */
typedef struct {
    int n;
    grid_anchor a[3];
    int constant; /* nonzero: every value is `value` */
    float value;
} sub_grid;

static void sub_grid_find(const float *x, int len, int qmax, sub_grid *g) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < len; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    g->constant = lo == hi, g->value = lo;
    g->n = g->constant ? 0 : grid_anchors_with_min(x, len, qmax, 1, g->a);
}

/* Integers with (d sc) q - dmin mn == c exactly as the dequantizer computes it; 0 if none. */
static int solve_constant(float c, float d, float dmin, const kquant_min *t, float *scale, float *min) {
    for (int mn = 0; mn <= t->smax; mn++) {
        const float ml = dmin * (float)mn;
        if (d == 0.0f) {
            if (-ml == c) return *scale = 0.0f, *min = ml, 1;
            continue;
        }
        const int r = round_clamp((c + ml) / d, 0, t->smax * t->qmax);
        for (int q = 1; q <= t->qmax; q++) {
            if (r % q != 0 || r / q > t->smax) continue;
            const int sc = r / q;
            if ((d * (float)sc) * (float)q - ml == c) return *scale = d * (float)sc, *min = ml, 1;
        }
        if (r == 0 && -ml == c) return *scale = 0.0f, *min = ml, 1;
    }
    return 0;
}

/* The grid-exact super-block, if there is one: scales first (range / t of some anchor),
 * then the mins that go with the scale picked (-(base - j scale)), then the constant
 * sub-blocks. 0 if none. */
static int exact_superblock_min(const float *x, const float *w, const kquant_min *t, const sub_grid *sg, superblock_min *out) {
    grid_values g[MAX_SUB] = {{0}};
    float scale[MAX_SUB], min[MAX_SUB];
    for (int j = 0; j < t->n_sub; j++) {
        if (sg[j].constant) g[j].value[g[j].n++] = 0.0f; /* a multiple of any d: no constraint */
        for (int k = 0; k < sg[j].n; k++)
            for (int span = 1; span <= t->qmax && g[j].n < MAX_GRID; span++)
                if (sg[j].a[k].spans >> (span - 1) & 1) g[j].value[g[j].n++] = sg[j].a[k].range / (float)span;
    }
    for (int ds = 0; ds < EXACT_TRIES; ds++) {
        if (!exact_super_scale(g, t->n_sub, 0, t->smax, ds, &out->d, scale)) return 0;
        grid_values gm[MAX_SUB] = {{0}};
        for (int j = 0; j < t->n_sub; j++) {
            if (sg[j].constant) gm[j].value[gm[j].n++] = 0.0f;
            for (int k = 0; k < sg[j].n; k++)
                for (int span = 1; span <= t->qmax; span++) {
                    if (!(sg[j].a[k].spans >> (span - 1) & 1) || sg[j].a[k].range / (float)span != scale[j]) continue;
                    for (int shift = 0; shift + span <= t->qmax && gm[j].n < MAX_GRID; shift++) {
                        const float m = sg[j].a[k].base - (float)shift * scale[j];
                        if (m <= 0.0f) gm[j].value[gm[j].n++] = -m;
                        if (!sg[j].a[k].shifts) break;
                    }
                }
        }
        for (int ms = 0; ms < EXACT_TRIES; ms++) {
            if (!exact_super_scale(gm, t->n_sub, 0, t->smax, ms, &out->dmin, min)) break;
            int solved = 1;
            for (int j = 0; j < t->n_sub && solved; j++)
                if (sg[j].constant) solved = solve_constant(sg[j].value, H2F(out->d), H2F(out->dmin), t, &scale[j], &min[j]);
            if (solved) {
                choose_integers_min(x, w, t, scale, min, out);
                return 1;
            }
        }
    }
    return 0;
}

static void fit_superblock_min(const float *x, const float *w, const kquant_min *t, superblock_min *out) {
    float scale[MAX_SUB], min[MAX_SUB], ws[MAX_SUB], wm[MAX_SUB];
    uint8_t q[32];
    fit_affine grid[MAX_SCALE_CANDIDATES];
    sub_grid sg[MAX_SUB];
    int all_grid = 1;
    for (int j = 0; j < t->n_sub; j++) {
        const float *xj = x + j * t->len, *wj = w + j * t->len;
        fit_affine f = fit_with_min(xj, wj, t->len, t->qmax, 1, &t->window, q);
        sub_grid_find(xj, t->len, t->qmax, &sg[j]);
        all_grid &= sg[j].n > 0 || sg[j].constant;
        const int ng = grid_with_min(xj, t->len, t->qmax, 1, grid, MAX_SCALE_CANDIDATES);
        if (ng > 0) {
            float e = error_with_min(xj, wj, t->len, t->qmax, f.scale, f.min);
            for (int g = 0; g < ng; g++) {
                const float eg = error_with_min(xj, wj, t->len, t->qmax, grid[g].scale, grid[g].min);
                if (eg < e) e = eg, f = grid[g];
            }
            levels_with_min(xj, t->len, t->qmax, f.scale, f.min, q);
        }
        /* after the least squares the levels are the nearest ones: weights of the scale's
         * and the min's errors in the sub-block's error */
        double sq = 0.0, sw = 0.0;
        for (int i = 0; i < t->len; i++) sq += (double)wj[i] * q[i] * q[i], sw += wj[i];
        scale[j] = f.scale, min[j] = -f.min, ws[j] = (float)sq, wm[j] = (float)sw;
    }
    out->d = choose_scale(scale, ws, t->n_sub, 0, t->smax, t->smax);
    out->dmin = choose_scale(min, wm, t->n_sub, 0, t->smax, t->smax);
    choose_integers_min(x, w, t, scale, min, out);
    for (int r = 0; r < REFITS; r++) {
        superblock_min s = *out;
        float d, dmin;
        refit_min(x, w, t, out, &d, &dmin);
        s.d = fp16_of(d), s.dmin = fp16_of(dmin);
        if (s.d == out->d && s.dmin == out->dmin) break;
        choose_integers_min(x, w, t, scale, min, &s);
        if (!(s.err < out->err)) break;
        *out = s;
    }
    superblock_min exact;
    if (all_grid && out->err > 0.0 && exact_superblock_min(x, w, t, sg, &exact) && exact.err < out->err) *out = exact;
}

/* ================================================================ symmetric */

typedef struct {
    int n_sub, len;
    int qmin, qmax; /* levels */
    int smin, smax; /* integer scales */
    fit_window window;
} kquant_sym;

typedef struct {
    uint16_t d;
    int8_t sc[MAX_SUB];
    int8_t q[QK_K];
    double err;
} superblock_sym;

static void choose_integers_sym(const float *x, const float *w, const kquant_sym *t, const float *scale, superblock_sym *s) {
    const float d = H2F(s->d), id = d != 0.0f ? 1.0f / d : 0.0f;
    s->err = 0.0;
    for (int j = 0; j < t->n_sub; j++) {
        const float *xj = x + j * t->len, *wj = w + j * t->len;
        const int sc0 = round_clamp(scale[j] * id, t->smin, t->smax);
        float best = INFINITY;
        s->sc[j] = (int8_t)sc0;
        for (int sc = sc0 - NEAR; sc <= sc0 + NEAR; sc++) {
            if (sc < t->smin || sc > t->smax || (d == 0.0f && sc != sc0)) continue;
            const float e = error_symmetric(xj, wj, t->len, t->qmin, t->qmax, d * (float)sc);
            if (e < best) best = e, s->sc[j] = (int8_t)sc;
        }
        levels_symmetric(xj, t->len, t->qmin, t->qmax, d * (float)s->sc[j], s->q + j * t->len);
        s->err += best;
    }
}

static float refit_sym(const float *x, const float *w, const kquant_sym *t, const superblock_sym *s) {
    double saa = 0.0, sxa = 0.0;
    for (int i = 0; i < QK_K; i++) {
        const double a = (double)s->sc[i / t->len] * s->q[i];
        saa += w[i] * a * a, sxa += w[i] * x[i] * a;
    }
    return saa > 0.0 ? (float)(sxa / saa) : 0.0f;
}

static void fit_superblock_sym(const float *x, const float *w, const kquant_sym *t, superblock_sym *out) {
    float scale[MAX_SUB], ws[MAX_SUB];
    grid_values grid[MAX_SUB];
    int8_t q[32];
    int all_grid = 1;
    for (int j = 0; j < t->n_sub; j++) {
        const float *xj = x + j * t->len, *wj = w + j * t->len;
        float s = fit_symmetric(xj, wj, t->len, t->qmin, t->qmax, &t->window, q);
        const int ng = grid[j].n = grid_symmetric(xj, t->len, t->qmin, t->qmax, grid[j].value, MAX_GRID);
        if (s == 0.0f && ng == 0) grid[j].n = 1, grid[j].value[0] = 0.0f; /* an all-zero sub-block */
        all_grid &= grid[j].n > 0;
        if (ng > 0) {
            float e = error_symmetric(xj, wj, t->len, t->qmin, t->qmax, s);
            for (int g = 0; g < ng; g++) {
                const float eg = error_symmetric(xj, wj, t->len, t->qmin, t->qmax, grid[j].value[g]);
                if (eg < e) e = eg, s = grid[j].value[g];
            }
            levels_symmetric(xj, t->len, t->qmin, t->qmax, s, q);
        }
        double sq = 0.0;
        for (int i = 0; i < t->len; i++) sq += (double)wj[i] * q[i] * q[i];
        scale[j] = s, ws[j] = (float)sq;
    }
    out->d = choose_scale(scale, ws, t->n_sub, t->smin, t->smax, t->smin);
    choose_integers_sym(x, w, t, scale, out);
    for (int r = 0; r < REFITS; r++) {
        superblock_sym s = *out;
        s.d = fp16_of(refit_sym(x, w, t, out));
        if (s.d == out->d) break;
        choose_integers_sym(x, w, t, scale, &s);
        if (!(s.err < out->err)) break;
        *out = s;
    }
    superblock_sym exact;
    float pick[MAX_SUB];
    if (all_grid && out->err > 0.0 && exact_super_scale(grid, t->n_sub, t->smin, t->smax, 0, &exact.d, pick)) {
        choose_integers_sym(x, w, t, pick, &exact);
        if (exact.err < out->err) *out = exact;
    }
}

/* ================================================================ packing */

static const kquant_min type_q2_K = {16, 16, 3, 15, {1.0f, 1.0f, 0.1f, 2}};
static const kquant_min type_q4_K = {8, 32, 15, 63, {1.0f, 1.0f, 0.1f, 2}};
static const kquant_min type_q5_K = {8, 32, 31, 63, {1.0f, 1.0f, 0.1f, 2}};
static const kquant_sym type_q3_K = {16, 16, -4, 3, -32, 31, {1.0f, 1.0f, 0.1f, 2}};
static const kquant_sym type_q6_K = {16, 16, -32, 31, -128, 127, {1.0f, 1.0f, 0.1f, 2}};

/* Q2_K and Q3_K's 2-bit planes: element 128h + 32s + l in bits 2s..2s+1 of qs[32h + l]. */
static void pack_2bit(const uint8_t *v, uint8_t *qs) {
    memset(qs, 0, QK_K / 4);
    for (int p = 0; p < QK_K; p++) qs[(p / 128) * 32 + p % 32] |= (uint8_t)((v[p] & 3) << (2 * ((p / 32) % 4)));
}

/* Q4_K/Q5_K's 8 six-bit scales and mins in 12 bytes (the inverse of ggml's get_scale_min_k4). */
static void pack_k4_scales(const uint8_t *sc, const uint8_t *mn, uint8_t packed[K_SCALE_SIZE]) {
    memset(packed, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            packed[j] |= sc[j];
            packed[j + 4] |= mn[j];
        } else {
            packed[j + 4] = (uint8_t)((sc[j] & 0x0F) | (mn[j] & 0x0F) << 4);
            packed[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            packed[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
    }
}

/* Q4_K/Q5_K's low nibbles: element 64j + l (l < 32) low nibble of qs[32j + l], 64j + 32 + l high. */
static void pack_k4_nibbles(const uint8_t *q, uint8_t *qs) {
    memset(qs, 0, QK_K / 2);
    for (int p = 0; p < QK_K; p++) qs[(p / 64) * 32 + p % 32] |= (uint8_t)((q[p] & 0x0F) << (4 * ((p / 32) % 2)));
}

typedef void (*superblock_fn)(const float *x, const float *w, void *dst);

static void superblock_q2_K(const float *x, const float *w, void *dst) {
    block_q2_K *y = dst;
    superblock_min s;
    fit_superblock_min(x, w, &type_q2_K, &s);
    y->d = s.d, y->dmin = s.dmin;
    for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(s.sc[j] | s.mn[j] << 4);
    pack_2bit(s.q, y->qs);
}

static void superblock_q4_K(const float *x, const float *w, void *dst) {
    block_q4_K *y = dst;
    superblock_min s;
    fit_superblock_min(x, w, &type_q4_K, &s);
    y->d = s.d, y->dmin = s.dmin;
    pack_k4_scales(s.sc, s.mn, y->scales);
    pack_k4_nibbles(s.q, y->qs);
}

static void superblock_q5_K(const float *x, const float *w, void *dst) {
    block_q5_K *y = dst;
    superblock_min s;
    fit_superblock_min(x, w, &type_q5_K, &s);
    y->d = s.d, y->dmin = s.dmin;
    pack_k4_scales(s.sc, s.mn, y->scales);
    pack_k4_nibbles(s.q, y->qs);
    memset(y->qh, 0, sizeof(y->qh));
    for (int p = 0; p < QK_K; p++) y->qh[p % 32] |= (uint8_t)((s.q[p] >> 4) << (p / 32));
}

static void superblock_q3_K(const float *x, const float *w, void *dst) {
    block_q3_K *y = dst;
    superblock_sym s;
    fit_superblock_sym(x, w, &type_q3_K, &s);
    y->d = s.d;
    uint8_t v[QK_K];
    memset(y->hmask, 0, sizeof(y->hmask));
    for (int p = 0; p < QK_K; p++) { /* q + 4 in 0..7: low 2 bits in qs, bit 2 in hmask */
        v[p] = (uint8_t)(s.q[p] + 4);
        y->hmask[p % 32] |= (uint8_t)((v[p] >> 2) << (p / 32));
    }
    pack_2bit(v, y->qs);
    memset(y->scales, 0, sizeof(y->scales)); /* sc + 32: low 4 bits two per byte, high 2 bits four per byte */
    for (int j = 0; j < 16; j++) {
        const int u = s.sc[j] + 32;
        y->scales[j % 8] |= (uint8_t)((u & 0x0F) << (4 * (j / 8)));
        y->scales[8 + j % 4] |= (uint8_t)((u >> 4) << (2 * (j / 4)));
    }
}

static void superblock_q6_K(const float *x, const float *w, void *dst) {
    block_q6_K *y = dst;
    superblock_sym s;
    fit_superblock_sym(x, w, &type_q6_K, &s);
    y->d = s.d;
    memcpy(y->scales, s.sc, sizeof(y->scales));
    memset(y->ql, 0, sizeof(y->ql));
    memset(y->qh, 0, sizeof(y->qh));
    for (int p = 0; p < QK_K; p++) { /* q + 32 in 0..63; element 128h + 32k + l */
        const int u = s.q[p] + 32, h = p / 128, k = (p / 32) % 4, l = p % 32;
        y->ql[64 * h + 32 * (k % 2) + l] |= (uint8_t)((u & 0x0F) << (4 * (k / 2)));
        y->qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
    }
}

/* ================================================================ rows */

static void quantize_row_k(superblock_fn fn, size_t block_bytes, const float *x, const float *imp, int64_t n, void *dst) {
    float w[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++) {
        block_weights(imp ? imp + b * QK_K : NULL, QK_K, w); /* one set per super-block */
        fn(x + b * QK_K, w, (char *)dst + b * (int64_t)block_bytes);
    }
}

void quantize_search_q2_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx) {
    (void)ctx;
    quantize_row_k(superblock_q2_K, sizeof(block_q2_K), x, imp, n, dst);
}

void quantize_search_q3_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx) {
    (void)ctx;
    quantize_row_k(superblock_q3_K, sizeof(block_q3_K), x, imp, n, dst);
}

void quantize_search_q4_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx) {
    (void)ctx;
    quantize_row_k(superblock_q4_K, sizeof(block_q4_K), x, imp, n, dst);
}

void quantize_search_q5_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx) {
    (void)ctx;
    quantize_row_k(superblock_q5_K, sizeof(block_q5_K), x, imp, n, dst);
}

void quantize_search_q6_K(const float *x, const float *imp, int64_t n, void *dst, const quantize_ctx *ctx) {
    (void)ctx;
    quantize_row_k(superblock_q6_K, sizeof(block_q6_K), x, imp, n, dst);
}
