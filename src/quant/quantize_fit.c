/* quantize_fit.c: block-fitting primitives of the error-minimizing quantizers (see
 * quantize_fit.h for the grids, the search and the grid-exact candidates).
 *
 * Least squares: for levels l_i the best scale of y = s l is s = sum(w x l) / sum(w l^2),
 * leaving the error sum(w x^2) - sum(w x l)^2 / sum(w l^2); so among candidate level
 * sets the search keeps the one with the largest sum(w x l)^2 / sum(w l^2). With a min,
 * y = s l + m is the 2x2 weighted regression of x on l.
 * Sums are kept in float in the candidate loops (they only rank candidates; the caller
 * measures the final error in double on the values as decoded).
 * Tests: tests/test_quantize.c. */
#include "quant/quantize_fit.h"

#include <float.h>
#include <math.h>

#include "quant/blocks.h"

/* Tolerance, in levels, for "on the grid": float rounding of values that were decoded from
 * a grid stays far below it; a random value passes with probability 2 * GRID_TOL. */
#define GRID_TOL 0.01f

/* The searches run over 8 independent lanes (element i in lane i % 8, blocks are
 * multiples of 8 long) and add the lanes up in one fixed order at the end: the compiler
 * may keep the lanes in one vector register or not, the sums are the same. */
#define LANES 8

static inline float lanes_sum(const float v[LANES]) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

/* Nearest integer to v within [lo, hi], as a float (|v| < 2^22 after the clamp; ties to
 * even): adding and subtracting 1.5 * 2^23 rounds in the float unit. */
static inline float level_of(float v, float lo, float hi) {
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (v + 12582912.0f) - 12582912.0f;
}

/* A block as the searches see it: x and w scaled by powers of two so that the largest |x|
 * and the largest w lie in [0.5, 1) (float sums can neither overflow nor lose small
 * blocks to underflow; exact), w x precomputed. x = xs * unit. */
typedef struct {
    int n;
    float unit; /* 0 for an all-zero block */
    float x[QK_K], w[QK_K], wx[QK_K];
} prepared_block;

static void prepare_block(const float *x, const float *w, int n, prepared_block *b) {
    float amax = 0.0f, wmax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        amax = a > amax ? a : amax, wmax = w[i] > wmax ? w[i] : wmax;
    }
    b->n = n;
    b->unit = 0.0f;
    if (amax == 0.0f) return;
    int ex, ew;
    frexpf(amax, &ex);
    frexpf(wmax > 0.0f ? wmax : 1.0f, &ew);
    if (ex > -126 && ex < 126 && ew > -126 && ew < 126) { /* 2^-e is a float */
        const float fx = ldexpf(1.0f, -ex), fw = ldexpf(1.0f, -ew);
        for (int i = 0; i < n; i++) b->x[i] = x[i] * fx, b->w[i] = w[i] * fw;
    } else {
        for (int i = 0; i < n; i++) b->x[i] = ldexpf(x[i], -ex), b->w[i] = ldexpf(w[i], -ew);
    }
    for (int i = 0; i < n; i++) b->wx[i] = b->w[i] * b->x[i];
    b->unit = ldexpf(1.0f, ex);
}

/* Signed value of largest magnitude (first on ties) and that magnitude. */
static float signed_extreme(const float *x, int n, float *amax) {
    float a = 0.0f, m = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > a) a = fabsf(x[i]), m = x[i];
    *amax = a;
    return m;
}

/* ---------------------------------------------------------------- IQ4_NL's exact sweep */

enum { MAX_EVENTS = 32 * 15 }; /* every element past every midpoint */

typedef struct {
    float u;
    uint16_t element;
    int16_t step; /* +1 or -1: the element's level index moves by one */
} sweep_event;

/* Sorts events by u: insertion sort for the few of a narrow window, else a bottom-up
 * merge sort through tmp. */
static void sort_events(sweep_event *ev, sweep_event *tmp, int n) {
    if (n <= 48) {
        for (int i = 1; i < n; i++) {
            const sweep_event e = ev[i];
            int j = i;
            for (; j > 0 && ev[j - 1].u > e.u; j--) ev[j] = ev[j - 1];
            ev[j] = e;
        }
        return;
    }
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            const int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int a = lo, b = mid, o = lo;
            while (a < mid && b < hi) tmp[o++] = ev[b].u < ev[a].u ? ev[b++] : ev[a++];
            while (a < mid) tmp[o++] = ev[a++];
            while (b < hi) tmp[o++] = ev[b++];
        }
        memcpy(ev, tmp, (size_t)n * sizeof(*ev));
    }
}

/* Exact search over the inverse scales sigma u, u in [u_lo, u_hi], of a block of up to 32
 * on IQ4_NL's table: as u grows each v_i = sigma u x_i crosses midpoints and its nearest
 * entry changes; between crossings the entries are fixed and so is their least-squares
 * scale. All crossings in the window are visited in order (sum(w x l) and sum(w l^2)
 * updated per crossing), and the entries explaining most weighted energy win: returns
 * that score, *scale its scale. */
static float sweep_iq4_nl(const prepared_block *b, const iq4_nl_table *t, float sigma, float u_lo, float u_hi, float *scale) {
    sweep_event ev[MAX_EVENTS], tmp[MAX_EVENTS];
    uint8_t idx[32];
    int n_ev = 0;
    double sxl = 0.0, sll = 0.0;
    for (int i = 0; i < b->n && i < 32; i++) {
        idx[i] = (uint8_t)iq4_nl_nearest(t, sigma * u_lo * b->x[i]);
        const double l = t->values[idx[i]];
        sxl += b->wx[i] * l, sll += b->w[i] * l * l;
        const float dir = sigma * b->x[i];
        if (dir > 0.0f) /* v grows: up through mid[idx], mid[idx + 1], ... */
            for (int k = idx[i]; k < 15 && n_ev < MAX_EVENTS; k++) {
                const float u = t->mid[k] / dir;
                if (u > u_hi) break;
                ev[n_ev++] = (sweep_event){u, (uint16_t)i, 1};
            }
        else if (dir < 0.0f) /* v falls: down through mid[idx - 1], mid[idx - 2], ... */
            for (int k = idx[i] - 1; k >= 0 && n_ev < MAX_EVENTS; k--) {
                const float u = t->mid[k] / dir;
                if (u > u_hi) break;
                ev[n_ev++] = (sweep_event){u, (uint16_t)i, -1};
            }
    }
    sort_events(ev, tmp, n_ev);
    double best = sll > 0.0 ? sxl * sxl / sll : -1.0;
    *scale = sll > 0.0 ? (float)(sxl / sll) : 0.0f;
    for (int e = 0; e < n_ev; e++) {
        const int i = ev[e].element;
        const double old = t->values[idx[i]];
        idx[i] = (uint8_t)(idx[i] + ev[e].step);
        const double l = t->values[idx[i]];
        sxl += b->wx[i] * (l - old), sll += b->w[i] * (l * l - old * old);
        if (sll > 0.0 && sxl * sxl / sll > best) best = sxl * sxl / sll, *scale = (float)(sxl / sll);
    }
    return (float)best;
}

/* ---------------------------------------------------------------- symmetric */

/* sum(w x l)^2 / sum(w l^2) for the levels of inverse scale is, and the scale they give
 * (-1 if every weighted level is zero). */
static float score_symmetric(const prepared_block *b, float lo, float hi, float is, float *scale) {
    float sxl[LANES] = {0}, sll[LANES] = {0};
    for (int i = 0; i < b->n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const float l = level_of(is * b->x[i + k], lo, hi);
            sxl[k] += b->wx[i + k] * l;
            sll[k] += b->w[i + k] * l * l;
        }
    const float a = lanes_sum(sxl), c = lanes_sum(sll);
    if (!(c > 0.0f)) return *scale = 0.0f, -1.0f;
    *scale = a / c;
    return a * a / c;
}

float fit_symmetric(const float *x_in, const float *w_in, int n, int qmin, int qmax, const fit_window *win, int8_t *q) {
    prepared_block b;
    prepare_block(x_in, w_in, n, &b);
    if (b.unit == 0.0f) {
        if (q) memset(q, 0, (size_t)n);
        return 0.0f;
    }
    float amax;
    const float extreme = signed_extreme(b.x, n, &amax), lo = (float)qmin, hi = (float)qmax;
    float best = -1.0f, best_scale = 0.0f;
    /* the extreme at about qmin (scale of the opposite sign) or about qmax */
    const int ends[2] = {qmin, qmax};
    const int n_ends = -qmin == qmax ? 1 : 2;
    const int steps = (int)((win->below + win->above) / win->step + 0.5f);
    for (int e = 0; e < n_ends; e++) {
        const float end = fabsf((float)ends[e]), sign = ends[e] < 0 ? -1.0f : 1.0f;
        for (int k = 0; k <= steps; k++) {
            const float level = end - win->below + (float)k * win->step;
            if (level <= 0.0f) continue;
            float scale;
            const float score = score_symmetric(&b, lo, hi, sign * level / extreme, &scale);
            if (score > best) best = score, best_scale = scale;
        }
    }
    /* alternate: levels from the scale, scale from the levels */
    for (int r = 0; r < win->rounds && best_scale != 0.0f; r++) {
        float scale;
        const float score = score_symmetric(&b, lo, hi, 1.0f / best_scale, &scale);
        if (!(score > best)) break;
        best = score, best_scale = scale;
    }
    const float is = best_scale != 0.0f ? 1.0f / best_scale : 0.0f;
    for (int i = 0; q && i < n; i++) q[i] = (int8_t)level_of(is * b.x[i], lo, hi);
    return best_scale * b.unit;
}

/* Whether every x_i is is within GRID_TOL of an integer. */
static int on_grid(const float *x, int n, float is) {
    for (int i = 0; i < n; i++) {
        const float v = x[i] * is;
        if (fabsf(v - level_of(v, -4194304.0f, 4194304.0f)) > GRID_TOL) return 0;
    }
    return 1;
}

int grid_symmetric(const float *x, int n, int qmin, int qmax, float *scales, int cap) {
    float amax;
    signed_extreme(x, n, &amax);
    if (amax == 0.0f) return 0;
    int count = 0;
    const int tmax = -qmin > qmax ? -qmin : qmax;
    for (int t = 1; t <= tmax && count < cap; t++) {
        const float is = (float)t / amax;
        if (!on_grid(x, n, is)) continue;
        /* levels x / s for s = +amax / t and for s = -amax / t: do they fit [qmin, qmax]? */
        int lo = 0, hi = 0;
        for (int i = 0; i < n; i++) {
            const int l = round_clamp(x[i] * is, -(1 << 20), 1 << 20);
            lo = l < lo ? l : lo, hi = l > hi ? l : hi;
        }
        if (lo >= qmin && hi <= qmax && count < cap) scales[count++] = amax / (float)t;
        if (-hi >= qmin && -lo <= qmax && count < cap) scales[count++] = -amax / (float)t;
    }
    return count;
}

float error_symmetric(const float *x, const float *w, int n, int qmin, int qmax, float s) {
    const float is = s != 0.0f ? 1.0f / s : 0.0f, lo = (float)qmin, hi = (float)qmax;
    float acc[LANES] = {0};
    for (int i = 0; i < n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const float e = x[i + k] - level_of(x[i + k] * is, lo, hi) * s;
            acc[k] += w[i + k] * e * e;
        }
    return lanes_sum(acc);
}

void levels_symmetric(const float *x, int n, int qmin, int qmax, float s, int8_t *q) {
    const float is = s != 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < n; i++) q[i] = (int8_t)level_of(x[i] * is, (float)qmin, (float)qmax);
}

/* ---------------------------------------------------------------- with a min */

/* Weighted least squares of x on the levels l = nearest((x - m0) is) in [0, qmax],
 * y = s l + m (m forced to <= 0 when nonpositive); returns the error. sw, sx, sxx: the
 * block's sums of w, w x, w x^2. */
static float solve_with_min(const prepared_block *b, float qmax, int nonpositive, float m0, float is, const double sums[3],
                            fit_affine *out) {
    float sl_[LANES] = {0}, sll_[LANES] = {0}, slx_[LANES] = {0};
    for (int i = 0; i < b->n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const float l = level_of((b->x[i + k] - m0) * is, 0.0f, qmax);
            sl_[k] += b->w[i + k] * l;
            sll_[k] += b->w[i + k] * l * l;
            slx_[k] += b->wx[i + k] * l;
        }
    const double sw = sums[0], sx = sums[1], sxx = sums[2];
    const double sl = lanes_sum(sl_), sll = lanes_sum(sll_), slx = lanes_sum(slx_);
    const double det = sw * sll - sl * sl;
    double s, m;
    if (det > 1e-9 * sw * sll) {
        s = (sw * slx - sl * sx) / det;
        m = (sll * sx - sl * slx) / det;
    } else { /* all levels equal: the min alone */
        s = 0.0, m = sw > 0.0 ? sx / sw : 0.0;
    }
    if (nonpositive && m > 0.0) m = 0.0, s = sll > 0.0 ? slx / sll : 0.0;
    if (s < 0.0) s = 0.0, m = sw > 0.0 ? sx / sw : 0.0;
    if (nonpositive && m > 0.0) m = 0.0;
    out->scale = (float)s, out->min = (float)m;
    /* sum w (x - s l - m)^2 expanded */
    const double err = sxx + s * s * sll + m * m * sw - 2.0 * s * slx - 2.0 * m * sx + 2.0 * s * m * sl;
    return (float)(err > 0.0 ? err : 0.0);
}

fit_affine fit_with_min(const float *x_in, const float *w_in, int n, int qmax, int nonpositive_min, const fit_window *win,
                        uint8_t *q) {
    prepared_block b;
    prepare_block(x_in, w_in, n, &b);
    fit_affine best = {0.0f, 0.0f};
    if (b.unit == 0.0f) {
        if (q) memset(q, 0, (size_t)n);
        return best;
    }
    float lo = b.x[0], hi = b.x[0];
    double sums[3] = {0.0, 0.0, 0.0};
    for (int i = 0; i < n; i++) {
        lo = b.x[i] < lo ? b.x[i] : lo, hi = b.x[i] > hi ? b.x[i] : hi;
        sums[0] += b.w[i], sums[1] += b.wx[i], sums[2] += (double)b.wx[i] * b.x[i];
    }
    if (nonpositive_min && lo > 0.0f) lo = 0.0f;
    best.min = lo * b.unit;
    if (hi <= lo) { /* a constant block (<= 0 where the min must be): the min alone */
        if (q) memset(q, 0, (size_t)n);
        return best;
    }
    best.min = lo;
    const float top = (float)qmax;
    float best_err = FLT_MAX;
    const int steps = (int)((win->below + win->above) / win->step + 0.5f);
    for (int k = 0; k <= steps; k++) {
        const float level = top - win->below + (float)k * win->step;
        if (level <= 0.0f) continue;
        fit_affine f;
        const float err = solve_with_min(&b, top, nonpositive_min, lo, level / (hi - lo), sums, &f);
        if (err < best_err && f.scale > 0.0f) best_err = err, best = f;
    }
    for (int r = 0; r < win->rounds && best.scale > 0.0f; r++) {
        fit_affine f;
        const float err = solve_with_min(&b, top, nonpositive_min, best.min, 1.0f / best.scale, sums, &f);
        if (!(err < best_err) || !(f.scale > 0.0f)) break;
        best_err = err, best = f;
    }
    const float is = best.scale > 0.0f ? 1.0f / best.scale : 0.0f;
    for (int i = 0; q && i < n; i++) q[i] = (uint8_t)level_of((b.x[i] - best.min) * is, 0.0f, top);
    best.scale *= b.unit, best.min *= b.unit;
    return best;
}

int grid_anchors_with_min(const float *x, int n, int qmax, int nonpositive_min, grid_anchor out[3]) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    int count = 0;
    for (int anchor = 0; anchor < 3; anchor++) {
        if (anchor == 1 && (!nonpositive_min || lo < 0.0f)) continue;
        if (anchor == 2 && nonpositive_min) continue;
        const float base = anchor == 0 ? lo : anchor == 1 ? 0.0f : hi, range = anchor == 2 ? hi - lo : hi - base;
        if (!(range > 0.0f)) continue;
        float shifted[QK_K];
        for (int i = 0; i < n; i++) shifted[i] = x[i] - base;
        grid_anchor a = {base, range, anchor == 2 ? -1.0f : 1.0f, anchor != 1, 0};
        for (int t = 1; t <= qmax && t <= 32; t++)
            if (on_grid(shifted, n, (float)t / range)) a.spans |= 1u << (t - 1);
        if (a.spans) out[count++] = a;
    }
    return count;
}

int grid_with_min(const float *x, int n, int qmax, int nonpositive_min, fit_affine *out, int cap) {
    grid_anchor a[3];
    const int na = grid_anchors_with_min(x, n, qmax, nonpositive_min, a);
    int count = 0;
    for (int k = 0; k < na; k++)
        for (int t = 1; t <= qmax && t <= 32; t++) {
            if (!(a[k].spans >> (t - 1) & 1)) continue;
            const float s = a[k].sign * a[k].range / (float)t;
            for (int j = 0; j + t <= qmax && count < cap; j++) {
                const float m = a[k].base - (float)j * s;
                if (nonpositive_min && m > 0.0f) continue;
                out[count++] = (fit_affine){s, m};
                if (!a[k].shifts) break;
            }
        }
    return count;
}

float error_with_min(const float *x, const float *w, int n, int qmax, float s, float m) {
    const float is = s != 0.0f ? 1.0f / s : 0.0f, hi = (float)qmax;
    float acc[LANES] = {0};
    for (int i = 0; i < n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const float e = x[i + k] - (level_of((x[i + k] - m) * is, 0.0f, hi) * s + m);
            acc[k] += w[i + k] * e * e;
        }
    return lanes_sum(acc);
}

float mean_residual_with_min(const float *x, const float *w, int n, int qmax, float s, float m) {
    const float is = s != 0.0f ? 1.0f / s : 0.0f, hi = (float)qmax;
    float sw[LANES] = {0}, sr[LANES] = {0};
    for (int i = 0; i < n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const float l = level_of((x[i + k] - m) * is, 0.0f, hi);
            sw[k] += w[i + k];
            sr[k] += w[i + k] * (x[i + k] - l * s);
        }
    return lanes_sum(sr) / lanes_sum(sw);
}

void levels_with_min(const float *x, int n, int qmax, float s, float m, uint8_t *q) {
    const float is = s != 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < n; i++) q[i] = (uint8_t)level_of((x[i] - m) * is, 0.0f, (float)qmax);
}

/* ---------------------------------------------------------------- IQ4_NL */

void iq4_nl_table_init(iq4_nl_table *t) {
    static const int8_t values[16] = IQ4_NL_VALUES;
    memcpy(t->values, values, sizeof(values));
    for (int k = 0; k < 15; k++) {
        t->mid[k] = 0.5f * (float)(values[k] + values[k + 1]);
        t->step[k] = (float)(values[k + 1] - values[k]);
    }
    t->mid[15] = INFINITY;
    for (int f = -128; f < 128; f++) {
        int k = 0;
        while (k < 15 && t->mid[k] < (float)f) k++;
        t->entry[f + 128] = (uint8_t)k;
    }
}

/* The values of the entries nearest v[0..7] (table units). */
static inline void iq4_nl_values8(const iq4_nl_table *t, const float v[LANES], float l[LANES]) {
    for (int k = 0; k < LANES; k++) l[k] = (float)t->values[0];
    for (int m = 0; m < 15; m++) {
        const float mid = t->mid[m], step = t->step[m];
        for (int k = 0; k < LANES; k++) l[k] += v[k] > mid ? step : 0.0f;
    }
}

/* As score_symmetric, the levels the table's entries. */
static float score_iq4_nl(const iq4_nl_table *t, const prepared_block *b, float is, float *scale) {
    float sxl[LANES] = {0}, sll[LANES] = {0};
    for (int i = 0; i < b->n; i += LANES) {
        float v[LANES], l[LANES];
        for (int k = 0; k < LANES; k++) v[k] = is * b->x[i + k];
        iq4_nl_values8(t, v, l);
        for (int k = 0; k < LANES; k++) {
            sxl[k] += b->wx[i + k] * l[k];
            sll[k] += b->w[i + k] * l[k] * l[k];
        }
    }
    const float a = lanes_sum(sxl), c = lanes_sum(sll);
    if (!(c > 0.0f)) return *scale = 0.0f, -1.0f;
    *scale = a / c;
    return a * a / c;
}

float fit_iq4_nl(const iq4_nl_table *t, const float *x_in, const float *w_in, int n, const fit_window *win, uint8_t *q) {
    prepared_block b;
    prepare_block(x_in, w_in, n, &b);
    if (b.unit == 0.0f) {
        if (q) memset(q, 8, (size_t)n); /* the entry nearest zero */
        return 0.0f;
    }
    float amax;
    const float extreme = signed_extreme(b.x, n, &amax);
    float best = -1.0f, best_scale = 0.0f;
    /* the extreme at about the table's first entry (-127) or its last (113) */
    const float ends[2] = {(float)t->values[0], (float)t->values[15]};
    for (int e = 0; e < 2; e++) {
        const float sigma = (ends[e] < 0.0f) == (extreme < 0.0f) ? 1.0f : -1.0f;
        float scale;
        const float score = sweep_iq4_nl(&b, t, sigma, (fabsf(ends[e]) - win->below) / amax, (fabsf(ends[e]) + win->above) / amax, &scale);
        if (score > best) best = score, best_scale = scale;
    }
    for (int r = 0; r < win->rounds && best_scale != 0.0f; r++) {
        float scale;
        const float score = score_iq4_nl(t, &b, 1.0f / best_scale, &scale);
        if (!(score > best)) break;
        best = score, best_scale = scale;
    }
    if (best_scale == 0.0f) {
        if (q) memset(q, 8, (size_t)n);
        return 0.0f;
    }
    if (q) levels_iq4_nl(t, b.x, n, best_scale, q);
    return best_scale * b.unit;
}

int grid_iq4_nl(const iq4_nl_table *t, const float *x, int n, float *scales, int cap) {
    float amax;
    const float extreme = signed_extreme(x, n, &amax);
    if (amax == 0.0f) return 0;
    int count = 0;
    for (int k = 0; k < 16 && count < cap; k++) { /* the extreme is entry k */
        const float is = (float)t->values[k] / extreme;
        int ok = 1;
        for (int i = 0; i < n && ok; i++) {
            const float v = x[i] * is;
            ok = fabsf(v - (float)t->values[iq4_nl_nearest(t, v)]) <= GRID_TOL;
        }
        if (ok) scales[count++] = extreme / (float)t->values[k];
    }
    return count;
}

float error_iq4_nl(const iq4_nl_table *t, const float *x, const float *w, int n, float s) {
    const float is = s != 0.0f ? 1.0f / s : 0.0f;
    float acc[LANES] = {0};
    for (int i = 0; i < n; i += LANES) {
        float v[LANES], l[LANES];
        for (int k = 0; k < LANES; k++) v[k] = x[i + k] * is;
        iq4_nl_values8(t, v, l);
        for (int k = 0; k < LANES; k++) {
            const float e = x[i + k] - s * l[k];
            acc[k] += w[i + k] * e * e;
        }
    }
    return lanes_sum(acc);
}

void levels_iq4_nl(const iq4_nl_table *t, const float *x, int n, float s, uint8_t *q) {
    const float is = s != 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < n; i++) q[i] = (uint8_t)iq4_nl_nearest(t, x[i] * is);
}

/* ---------------------------------------------------------------- weights */

/* imp is finite and >= 0 (quant_quantize checks); the total in double cannot overflow. */
void block_weights(const float *imp, int n, float *w) {
    double total = 0.0;
    if (imp)
        for (int i = 0; i < n; i++) total += w[i] = imp[i];
    if (!(total > 0.0)) {
        for (int i = 0; i < n; i++) w[i] = 1.0f;
        return;
    }
    const float floor_w = (float)(total / n * 1e-6);
    for (int i = 0; i < n; i++) w[i] += floor_w;
    float wmax = 0.0f;
    for (int i = 0; i < n; i++) wmax = w[i] > wmax ? w[i] : wmax;
    int e;
    frexpf(wmax, &e);
    if (e > -126 && e < 126) { /* 2^-e is a float: one multiply, exact */
        const float f = ldexpf(1.0f, -e);
        for (int i = 0; i < n; i++) w[i] *= f;
    } else {
        for (int i = 0; i < n; i++) w[i] = ldexpf(w[i], -e);
    }
}
