/* measure.c: sensitivity (qplan.h, qz_measure): the layer-local cost of every candidate
 * type of every tensor, scaled into predicted KL divergence by end-to-end measurements.
 *
 * Local cost of quantizing W to Q with input importance a (mean squared input per
 * column):  err = sum_rows sum_j a_j (W_rj - Q_rj)^2, the expected squared error the
 * change adds to the tensor's outputs per token (columns taken as uncorrelated).
 * To second order the KL divergence at the logits grows linearly in that error, with a
 * factor that depends on where the tensor sits; for a subset of tensors it is measured:
 * the model runs with that one tensor quantized, and KL(reference || variant) over the
 * calibration positions divided by err gives the tensor's scale. Other tensors take the
 * scale interpolated (in log space, over depth) from the measured tensors of their class. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/threadpool.h"
#include "quant/quant.h"
#include "quant/quantize.h"
#include "quantize/qplan.h"
#include "quantize/qrun.h"

/* ---- local errors ---- */

typedef struct {
    const qz_tensor *t;
    const float *w;  /* (n_rows, n_cols) the source weights */
    uint32_t type;
    double *part;    /* (nth) per-thread sums */
    char *status;    /* non-zero on a quantizer error */
} err_job;

static void err_rows(void *ctx, int ith, int nth) {
    err_job *j = ctx;
    const qz_tensor *t = j->t;
    long long r0, r1;
    threadpool_split(t->n_rows, ith, nth, &r0, &r1);
    size_t rb = quant_row_size(j->type, t->n_cols);
    void *q = malloc(rb);
    float *d = malloc((size_t)t->n_cols * sizeof(float));
    const quant_traits *tr = quant_get_traits(j->type);
    double sum = 0.0;
    if (!q || !d) {
        j->status[ith] = 1;
    } else {
        for (long long r = r0; r < r1; r++) {
            const float *w = j->w + (size_t)r * (size_t)t->n_cols;
            if (quant_quantize(j->type, w, q, 1, t->n_cols, t->imp, NULL) != CELER_OK) {
                j->status[ith] = 1;
                break;
            }
            tr->dequantize_row(q, d, t->n_cols);
            for (int64_t c = 0; c < t->n_cols; c++) {
                double e = (double)w[c] - (double)d[c];
                sum += (t->imp ? (double)t->imp[c] : 1.0) * e * e;
            }
        }
    }
    j->part[ith] = sum;
    free(q);
    free(d);
}

/* The source tensor as floats (malloc'd). */
static float *dequantize_tensor(const model_tensor *m) {
    const quant_traits *tr = quant_get_traits(m->type);
    float *w = tr ? malloc((size_t)m->ne[0] * (size_t)m->ne[1] * sizeof(float)) : NULL;
    if (!w) return NULL;
    for (int64_t r = 0; r < m->ne[1]; r++)
        tr->dequantize_row((const char *)m->data + (size_t)r * m->row_bytes, w + (size_t)r * (size_t)m->ne[0], m->ne[0]);
    return w;
}

static celer_status local_errors(qz_state *s, threadpool *pool, celer_error *err) {
    int nth = threadpool_size(pool);
    double part[256];
    char status[256];
    for (int i = 0; i < s->n; i++) {
        qz_tensor *t = &s->t[i];
        float *w = dequantize_tensor(t->slot);
        if (!w) return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory reading the tensor", t->name);
        for (int c = 0; c < t->n_cand; c++) {
            memset(status, 0, sizeof(status));
            err_job j = {.t = t, .w = w, .type = t->cand[c], .part = part, .status = status};
            threadpool_run(pool, err_rows, &j);
            double sum = 0.0;
            for (int k = 0; k < nth; k++) {
                if (status[k]) {
                    free(w);
                    return celer_error_set(err, CELER_ERR_NOMEM, "%s: quantizing to %s failed", t->name, quant_type_name(t->cand[c]));
                }
                sum += part[k];
            }
            t->cand_err[c] = sum;
        }
        free(w);
        qz_progress(s, "sensitivity: weighted errors (tensors)", i + 1, s->n, NULL);
    }
    return CELER_OK;
}

/* ---- end-to-end KL of one tensor quantized ---- */

typedef struct {
    const qz_tensor *t;
    const float *w;
    uint32_t type;
    void *out;
    size_t row_bytes;
} quant_job;

static void quant_rows(void *ctx, int ith, int nth) {
    quant_job *j = ctx;
    long long r0, r1;
    threadpool_split(j->t->n_rows, ith, nth, &r0, &r1);
    if (r1 > r0)
        quant_quantize(j->type, j->w + (size_t)r0 * (size_t)j->t->n_cols, (char *)j->out + (size_t)r0 * j->row_bytes, r1 - r0,
                       j->t->n_cols, j->t->imp, NULL);
}

/* Quantizes t's source weights to type into a malloc'd buffer (for qz_write as well). */
void *qz_quantize_tensor(const qz_tensor *t, uint32_t type, threadpool *pool, celer_error *err) {
    size_t rb = quant_row_size(type, t->n_cols);
    float *w = dequantize_tensor(t->slot);
    void *out = malloc(rb * (size_t)t->n_rows);
    if (!w || !out) {
        free(w), free(out);
        celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory quantizing to %s", t->name, quant_type_name(type));
        return NULL;
    }
    quant_job j = {.t = t, .w = w, .type = type, .out = out, .row_bytes = rb};
    threadpool_run(pool, quant_rows, &j);
    free(w);
    return out;
}

/* The model with t (and, when tied, the head that shares it) replaced. */
static celer_status variant(const qz_state *s, const qz_tensor *t, uint32_t type, const void *data, model *mm, model_layer *layers,
                            celer_error *err) {
    const model *m = s->m;
    *mm = *m;
    memcpy(layers, m->layers, (size_t)m->hp.n_layer * sizeof(*layers));
    mm->layers = layers;
    model_tensor *slot = NULL;
    if (t->slot == &m->tok_embd) slot = &mm->tok_embd;
    else if (t->slot == &m->output) slot = &mm->output;
    else {
        ptrdiff_t off = (const char *)t->slot - (const char *)m->layers;
        if (off < 0 || (size_t)off >= (size_t)m->hp.n_layer * sizeof(model_layer))
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "%s: not a tensor of this model", t->name);
        slot = (model_tensor *)((char *)layers + off);
    }
    slot->type = type;
    slot->data = data;
    slot->row_bytes = quant_row_size(type, t->n_cols);
    slot->pack_rows = 0;
    if (m->hp.tied_output && t->slot == &m->tok_embd) mm->output = mm->tok_embd;
    return CELER_OK;
}

/* Mean KL(reference || variant) per position over the calibration's KL positions. */
static celer_status measure_kl(qz_state *s, const qz_tensor *t, uint32_t type, threadpool *pool, double *kl, celer_error *err) {
    void *data = qz_quantize_tensor(t, type, pool, err);
    if (!data) return CELER_ERR_NOMEM;
    model mm;
    model_layer *layers = malloc((size_t)s->m->hp.n_layer * sizeof(model_layer));
    int32_t n_vocab = s->m->hp.n_vocab, first = s->n_ctx / 2;
    float *lp = malloc((size_t)n_vocab * sizeof(float));
    celer_status st = layers && lp ? variant(s, t, type, data, &mm, layers, err)
                                   : celer_error_set(err, CELER_ERR_NOMEM, "out of memory measuring %s", t->name);
    qrun r = {0};
    if (st == CELER_OK) st = qrun_init(&r, &mm, s->n_ctx, s->n_threads, NULL, NULL, err);
    double sum = 0.0;
    int64_t n = 0;
    for (int32_t c = 0; st == CELER_OK && c < s->n_kl_chunks; c++) {
        st = qrun_chunk(&r, s->kl_tokens + (size_t)c * (size_t)s->n_ctx, s->n_ctx, first, err);
        for (int32_t i = 0; st == CELER_OK && i < s->n_ctx - first; i++, n++) {
            qrun_log_softmax(r.logits + (size_t)i * (size_t)n_vocab, lp, n_vocab);
            const float *ref = s->ref_logp + (size_t)n * (size_t)n_vocab;
            double k = 0.0;
            for (int32_t v = 0; v < n_vocab; v++) k += exp((double)ref[v]) * ((double)ref[v] - (double)lp[v]);
            sum += k;
        }
    }
    qrun_free(&r);
    free(layers);
    free(lp);
    free(data);
    *kl = n > 0 ? sum / (double)n : 0.0;
    return st;
}

/* The candidate measured end to end: the one nearest 4.5 bits (the low end where plans
 * decide) whose local error is not zero. */
static int probe_index(const qz_tensor *t) {
    int best = -1;
    double best_d = INFINITY;
    for (int j = 0; j < t->n_cand; j++) {
        if (!(t->cand_err[j] > 0.0)) continue;
        const quant_traits *tr = quant_get_traits(t->cand[j]);
        double d = fabs(8.0 * (double)tr->type_size / (double)tr->block_size - 4.5);
        if (d < best_d) best_d = d, best = j;
    }
    return best;
}

/* Which tensors to measure: per class, layers spread evenly over the depth. */
static void choose_measured(const qz_state *s, int n_evals, bool *pick) {
    memset(pick, 0, (size_t)s->n * sizeof(bool));
    if (n_evals <= 0) return;
    if (n_evals >= s->n) {
        for (int i = 0; i < s->n; i++) pick[i] = true;
        return;
    }
    int per_class[QZ_CLASS_COUNT] = {0}, classes = 0;
    for (int i = 0; i < s->n; i++) per_class[s->t[i].cls]++;
    int singles = 0;
    for (int c = 0; c < QZ_CLASS_COUNT; c++) {
        if (per_class[c] == 1) singles++;
        else if (per_class[c] > 1) classes++;
    }
    int k = classes ? (n_evals - singles) / classes : 0;
    if (k < 2) k = 2;
    for (int c = 0; c < QZ_CLASS_COUNT; c++) {
        if (per_class[c] == 0) continue;
        int want = per_class[c] == 1 ? 1 : (k < per_class[c] ? k : per_class[c]), seen = 0;
        for (int i = 0; i < s->n; i++) {
            if (s->t[i].cls != (qz_class)c) continue;
            /* the seen-th of per_class[c]: picked when it is nearest one of want even marks */
            for (int m = 0; m < want; m++) {
                int mark = want == 1 ? 0 : (int)lround((double)m * (per_class[c] - 1) / (double)(want - 1));
                if (mark == seen) pick[i] = true;
            }
            seen++;
        }
    }
}

/* Scales of unmeasured tensors: interpolated in log space over the layers of the
 * measured tensors of the same class; a class with none takes the median of all. */
static void fill_scales(qz_state *s) {
    double all[1024];
    int n_all = 0;
    for (int i = 0; i < s->n; i++)
        if (s->t[i].scale_measured && n_all < 1024) all[n_all++] = s->t[i].scale;
    for (int i = 1; i < n_all; i++)
        for (int j = i; j > 0 && all[j] < all[j - 1]; j--) {
            double tmp = all[j];
            all[j] = all[j - 1];
            all[j - 1] = tmp;
        }
    double median = n_all ? all[n_all / 2] : 1.0;
    for (int i = 0; i < s->n; i++) {
        qz_tensor *t = &s->t[i];
        if (t->scale_measured) continue;
        const qz_tensor *lo = NULL, *hi = NULL;
        for (int j = 0; j < s->n; j++) {
            const qz_tensor *u = &s->t[j];
            if (!u->scale_measured || u->cls != t->cls || !(u->scale > 0.0)) continue;
            if (u->layer <= t->layer && (!lo || u->layer > lo->layer)) lo = u;
            if (u->layer >= t->layer && (!hi || u->layer < hi->layer)) hi = u;
        }
        if (lo && hi && hi->layer != lo->layer) {
            double f = (double)(t->layer - lo->layer) / (double)(hi->layer - lo->layer);
            t->scale = exp(log(lo->scale) * (1.0 - f) + log(hi->scale) * f);
        } else if (lo || hi) {
            t->scale = (lo ? lo : hi)->scale;
        } else {
            t->scale = median;
        }
    }
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < s->t[i].n_cand; j++) s->t[i].cand_cost[j] = s->t[i].scale * s->t[i].cand_err[j];
}

celer_status qz_measure(qz_state *s, int n_kl_evals, celer_error *err) {
    threadpool *pool = NULL;
    celer_status st = threadpool_init(&pool, s->n_threads > 256 ? 256 : s->n_threads, err);
    if (st != CELER_OK) return st;
    st = local_errors(s, pool, err);
    bool *pick = calloc((size_t)s->n, sizeof(bool));
    if (st == CELER_OK && !pick) st = celer_error_set(err, CELER_ERR_NOMEM, "out of memory");
    if (st == CELER_OK && s->n_kl > 0) {
        choose_measured(s, n_kl_evals, pick);
        int total = 0, done = 0;
        for (int i = 0; i < s->n; i++) total += pick[i];
        for (int i = 0; st == CELER_OK && i < s->n; i++) {
            qz_tensor *t = &s->t[i];
            if (!pick[i]) continue;
            int p = probe_index(t);
            done++;
            if (p < 0) continue; /* every candidate exact: costs are zero whatever the scale */
            double kl = 0.0;
            st = measure_kl(s, t, t->cand[p], pool, &kl, err);
            if (st != CELER_OK) break;
            t->probe_type = t->cand[p];
            t->probe_kl = kl;
            t->scale = kl > 0.0 ? kl / t->cand_err[p] : 0.0;
            t->scale_measured = kl > 0.0;
            char detail[160];
            snprintf(detail, sizeof(detail), "%s as %s: KL %.5f", t->name, quant_type_name(t->probe_type), kl);
            qz_progress(s, "sensitivity: KL measured end to end (tensors)", done, total, detail);
        }
    }
    if (st == CELER_OK) fill_scales(s);
    free(pick);
    threadpool_free(pool);
    return st;
}
