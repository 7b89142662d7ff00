/* qplan.c: the quantizable tensors, calibration and the bit-allocation plan (qplan.h). */
#include "quantize/qplan.h"

#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant/quant.h"
#include "quant/quantize.h"
#include "quantize/qrun.h"

/* celer's candidates, most bits per weight first. */
static const uint32_t default_types[] = {QUANT_Q8_0, QUANT_Q6_K, QUANT_Q5_1, QUANT_Q5_K, QUANT_Q5_0, QUANT_Q4_1,
                                         QUANT_Q4_K, QUANT_IQ4_NL, QUANT_Q4_0, QUANT_Q3_K, QUANT_Q2_K};

double qz_bits_per_weight(uint32_t type) {
    const quant_traits *tr = quant_get_traits(type);
    return tr ? 8.0 * (double)tr->type_size / (double)tr->block_size : 0.0;
}

int qz_candidates(int64_t n_cols, const uint32_t *types, int n_types, uint32_t *out) {
    if (!types) {
        types = default_types;
        n_types = (int)(sizeof(default_types) / sizeof(default_types[0]));
    }
    int n = 0;
    for (int i = 0; i < n_types && n < QZ_MAX_CAND; i++) {
        const quant_traits *tr = quant_get_traits(types[i]);
        if (!tr || !quant_can_quantize(types[i]) || n_cols % tr->block_size != 0) continue;
        out[n++] = types[i];
    }
    for (int i = 1; i < n; i++) /* most bits first */
        for (int j = i; j > 0 && qz_bits_per_weight(out[j]) > qz_bits_per_weight(out[j - 1]); j--) {
            uint32_t tmp = out[j];
            out[j] = out[j - 1];
            out[j - 1] = tmp;
        }
    return n;
}

static const char *const class_names[QZ_CLASS_COUNT] = {"token_embd", "output", "attn_q", "attn_k", "attn_v",
                                                        "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
const char *qz_class_name(qz_class c) { return c < QZ_CLASS_COUNT ? class_names[c] : "?"; }

void qz_progress(const qz_state *s, const char *what, int done, int total, const char *detail) {
    if (!s->verbose || total <= 0) return;
    if (isatty(2)) {
        fprintf(stderr, "\r%s: %d/%d%s%s\033[K%s", what, done, total, detail ? "  " : "", detail ? detail : "", done == total ? "\n" : "");
    } else if (done == total || (done * 10) / total != ((done - 1) * 10) / total) {
        fprintf(stderr, "%s: %d/%d%s%s\n", what, done, total, detail ? "  " : "", detail ? detail : "");
    }
    fflush(stderr);
}

int qz_set_candidates(qz_tensor *t, const uint32_t *types, int n_types) {
    t->n_cand = qz_candidates(t->n_cols, types, n_types, t->cand);
    for (int i = 0; i < t->n_cand; i++) t->cand_bytes[i] = (uint64_t)quant_row_size(t->cand[i], t->n_cols) * (uint64_t)t->n_rows;
    return t->n_cand;
}

static void add_tensor(qz_state *s, model_tensor *slot, qz_class cls, int32_t layer) {
    qz_tensor *t = &s->t[s->n++];
    memset(t, 0, sizeof(*t));
    t->name = slot->name;
    t->cls = cls;
    t->layer = layer;
    t->slot = slot;
    t->n_cols = slot->ne[0];
    t->n_rows = slot->ne[1];
    qz_set_candidates(t, NULL, 0);
    t->chosen = -1;
}

celer_status qz_collect(qz_state *s, model *m, int32_t n_threads, celer_error *err) {
    memset(s, 0, sizeof(*s));
    s->m = m;
    s->n_threads = n_threads;
    int32_t n_layer = m->hp.n_layer;
    s->t = calloc((size_t)n_layer * 7 + 2, sizeof(qz_tensor));
    if (!s->t) return celer_error_set(err, CELER_ERR_NOMEM, "out of memory");
    /* The tied embedding is the head: one tensor, measured as the head. */
    add_tensor(s, &m->tok_embd, m->hp.tied_output ? QZ_OUTPUT : QZ_EMBD, -1);
    for (int32_t il = 0; il < n_layer; il++) {
        model_layer *l = &m->layers[il];
        add_tensor(s, &l->wq, QZ_Q, il);
        add_tensor(s, &l->wk, QZ_K, il);
        add_tensor(s, &l->wv, QZ_V, il);
        add_tensor(s, &l->wo, QZ_O, il);
        add_tensor(s, &l->w_gate, QZ_GATE, il);
        add_tensor(s, &l->w_up, QZ_UP, il);
        add_tensor(s, &l->w_down, QZ_DOWN, il);
    }
    if (!m->hp.tied_output) add_tensor(s, &m->output, QZ_OUTPUT, -1);
    uint64_t quantized = 0;
    for (int i = 0; i < s->n; i++) {
        quantized += s->t[i].slot->row_bytes * (uint64_t)s->t[i].n_rows;
        if (s->t[i].n_cand == 0) {
            celer_status st = celer_error_set(err, CELER_ERR_UNSUPPORTED, "%s: rows of %lld elements fit no type celer writes",
                                              s->t[i].name, (long long)s->t[i].n_cols);
            qz_free(s);
            return st;
        }
    }
    for (uint64_t i = 0; i < m->file->n_tensors; i++) {
        const gguf_tensor *g = &m->file->tensors[i];
        s->n_params += (uint64_t)(g->ne[0] * g->ne[1] * g->ne[2] * g->ne[3]);
        s->fixed_bytes += g->size;
    }
    s->fixed_bytes = s->fixed_bytes > quantized ? s->fixed_bytes - quantized : 0;
    return CELER_OK;
}

void qz_free(qz_state *s) {
    free(s->t);
    free(s->imp_store);
    free(s->ref_logp);
    free(s->kl_tokens);
    memset(s, 0, sizeof(*s));
}

celer_status qz_pin(qz_state *s, const char *pattern, uint32_t type, celer_error *err) {
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &re, msg, sizeof(msg));
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "--tensor-type: bad regular expression '%s': %s", pattern, msg);
    }
    int matched = 0;
    celer_status st = CELER_OK;
    for (int i = 0; i < s->n && st == CELER_OK; i++) {
        qz_tensor *t = &s->t[i];
        if (regexec(&re, t->name, 0, NULL, 0) != 0) continue;
        matched++;
        uint32_t one[1];
        if (qz_candidates(t->n_cols, &type, 1, one) != 1) {
            st = celer_error_set(err, CELER_ERR_INVALID_ARG, "--tensor-type %s=%s: %s has rows of %lld elements, which %s cannot hold",
                                 pattern, quant_type_name(type), t->name, (long long)t->n_cols, quant_type_name(type));
            break;
        }
        qz_set_candidates(t, &type, 1);
        t->pinned = true;
    }
    regfree(&re);
    if (st == CELER_OK && matched == 0)
        st = celer_error_set(err, CELER_ERR_INVALID_ARG, "--tensor-type %s=%s: the pattern matches no tensor (names look like %s)", pattern,
                             quant_type_name(type), s->n > 1 ? s->t[1].name : s->t[0].name);
    return st;
}

/* ---- calibration ---- */

typedef struct {
    qz_state *s;
    double *sum[5]; /* per input kind: (n_layer or 1, dim) sums of squares */
    int64_t dim[5];
    int64_t count[5]; /* rows seen per layer (the same for every layer) */
} calib_acc;

static void observe(void *user, int32_t layer, backend_input which, const float *x, int64_t n, int64_t n_cols) {
    calib_acc *a = user;
    if ((int)which < 0 || which > BACKEND_IN_OUTPUT || n_cols != a->dim[which]) return;
    double *acc = a->sum[which] + (size_t)(layer < 0 ? 0 : layer) * (size_t)n_cols;
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + i * n_cols;
        for (int64_t j = 0; j < n_cols; j++) acc[j] += (double)row[j] * (double)row[j];
    }
    if (layer <= 0) a->count[which] += n;
}

celer_status qz_calibrate(qz_state *s, const int32_t *tokens, size_t n_tokens, int32_t n_ctx, int32_t n_chunks, int32_t n_kl_chunks,
                          int32_t bos, celer_error *err) {
    const model_hparams *hp = &s->m->hp;
    if (n_ctx < 16) return celer_error_set(err, CELER_ERR_INVALID_ARG, "calibration context %d: must be at least 16", n_ctx);
    size_t have = n_tokens / (size_t)n_ctx;
    if (have < 1)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "the calibration text has %zu tokens, less than one context of %d", n_tokens,
                               n_ctx);
    if (n_chunks <= 0 || (size_t)n_chunks > have) n_chunks = (int32_t)have;
    if (n_kl_chunks > n_chunks) n_kl_chunks = n_chunks;
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    calib_acc a = {.s = s, .dim = {hp->n_embd, q_dim, hp->n_embd, hp->n_ff, hp->n_embd}};
    size_t total = 0;
    for (int k = 0; k < 5; k++) total += (size_t)(k == BACKEND_IN_OUTPUT ? 1 : hp->n_layer) * (size_t)a.dim[k];
    double *store = calloc(total, sizeof(double));
    s->imp_store = malloc(total * sizeof(float));
    int32_t first = n_ctx / 2;
    s->n_ctx = n_ctx;
    s->n_kl_chunks = n_kl_chunks;
    s->n_kl = (int64_t)n_kl_chunks * (n_ctx - first);
    s->ref_logp = s->n_kl ? malloc((size_t)s->n_kl * (size_t)hp->n_vocab * sizeof(float)) : NULL;
    s->kl_tokens = malloc((size_t)(n_kl_chunks > 0 ? n_kl_chunks : 1) * (size_t)n_ctx * sizeof(int32_t));
    int32_t *chunk = malloc((size_t)n_ctx * sizeof(int32_t));
    if (!store || !s->imp_store || (s->n_kl && !s->ref_logp) || !s->kl_tokens || !chunk) {
        free(store);
        free(chunk);
        return celer_error_set(err, CELER_ERR_NOMEM, "out of memory for calibration statistics");
    }
    size_t off = 0;
    for (int k = 0; k < 5; k++) {
        a.sum[k] = store + off;
        off += (size_t)(k == BACKEND_IN_OUTPUT ? 1 : hp->n_layer) * (size_t)a.dim[k];
    }
    qrun r;
    celer_status st = qrun_init(&r, s->m, n_ctx, s->n_threads, observe, &a, err);
    for (int32_t c = 0; st == CELER_OK && c < n_chunks; c++) {
        memcpy(chunk, tokens + (size_t)c * (size_t)n_ctx, (size_t)n_ctx * sizeof(int32_t));
        if (bos >= 0) chunk[0] = bos;
        st = qrun_chunk(&r, chunk, n_ctx, first, err);
        if (st != CELER_OK) break;
        if (c < n_kl_chunks) {
            memcpy(s->kl_tokens + (size_t)c * (size_t)n_ctx, chunk, (size_t)n_ctx * sizeof(int32_t));
            for (int32_t i = 0; i < n_ctx - first; i++)
                qrun_log_softmax(r.logits + (size_t)i * (size_t)hp->n_vocab,
                                 s->ref_logp + ((size_t)c * (size_t)(n_ctx - first) + (size_t)i) * (size_t)hp->n_vocab, hp->n_vocab);
        }
        qz_progress(s, "calibrating (chunks)", c + 1, n_chunks, NULL);
    }
    qrun_free(&r);
    if (st == CELER_OK) {
        /* mean squares, as floats; a column never seen non-zero gets a small floor so
         * the weighted error still sees it */
        off = 0;
        for (int k = 0; k < 5; k++) {
            size_t n = (size_t)(k == BACKEND_IN_OUTPUT ? 1 : hp->n_layer) * (size_t)a.dim[k];
            double cnt = a.count[k] > 0 ? (double)a.count[k] : 1.0;
            for (size_t i = 0; i < n; i++) s->imp_store[off + i] = (float)(store[off + i] / cnt) + 1e-10f;
            off += n;
        }
        size_t base[5];
        off = 0;
        for (int k = 0; k < 5; k++) {
            base[k] = off;
            off += (size_t)(k == BACKEND_IN_OUTPUT ? 1 : hp->n_layer) * (size_t)a.dim[k];
        }
        for (int i = 0; i < s->n; i++) {
            qz_tensor *t = &s->t[i];
            int k = -1;
            switch (t->cls) {
            case QZ_Q: case QZ_K: case QZ_V: k = BACKEND_IN_QKV; break;
            case QZ_O: k = BACKEND_IN_ATTN_OUT; break;
            case QZ_GATE: case QZ_UP: k = BACKEND_IN_GATE_UP; break;
            case QZ_DOWN: k = BACKEND_IN_DOWN; break;
            case QZ_OUTPUT: k = BACKEND_IN_OUTPUT; break;
            default: break;
            }
            if (k < 0 || a.dim[k] != t->n_cols) continue;
            t->imp = s->imp_store + base[k] + (size_t)(t->layer < 0 ? 0 : t->layer) * (size_t)a.dim[k];
        }
    }
    free(store);
    free(chunk);
    return st;
}

/* ---- plan ---- */

double qz_predicted_kl(const qz_state *s) {
    double kl = 0.0;
    for (int i = 0; i < s->n; i++)
        if (s->t[i].chosen >= 0) kl += s->t[i].cand_cost[s->t[i].chosen];
    return kl;
}

uint64_t qz_planned_bytes(const qz_state *s) {
    uint64_t b = 0;
    for (int i = 0; i < s->n; i++)
        if (s->t[i].chosen >= 0) b += s->t[i].cand_bytes[s->t[i].chosen];
    return b;
}

void qz_bytes_range(const qz_state *s, uint64_t *min_bytes, uint64_t *max_bytes) {
    *min_bytes = *max_bytes = 0;
    for (int i = 0; i < s->n; i++) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int j = 0; j < s->t[i].n_cand; j++) {
            lo = s->t[i].cand_bytes[j] < lo ? s->t[i].cand_bytes[j] : lo;
            hi = s->t[i].cand_bytes[j] > hi ? s->t[i].cand_bytes[j] : hi;
        }
        *min_bytes += lo;
        *max_bytes += hi;
    }
}

celer_status qz_plan(qz_state *s, uint64_t budget, celer_error *err) {
    uint64_t lo, hi;
    qz_bytes_range(s, &lo, &hi);
    if (budget < lo)
        return celer_error_set(err, CELER_ERR_INVALID_ARG,
                               "the budget leaves %.2f MiB for the quantized tensors; the smallest types celer can give them need %.2f MiB",
                               (double)budget / 1048576.0, (double)lo / 1048576.0);
    if (budget > hi) budget = hi;
    /* Exact dynamic programming over the budget in units: each choice's bytes rounded up,
     * so any plan it finds fits. dp[c]: least cost with at most c units. */
    uint64_t unit = budget / 200000 + 1;
    size_t cap = (size_t)(budget / unit);
    double *dp = malloc((cap + 1) * sizeof(double)), *next = malloc((cap + 1) * sizeof(double));
    uint8_t *choice = malloc((size_t)s->n * (cap + 1));
    if (!dp || !next || !choice) {
        free(dp), free(next), free(choice);
        return celer_error_set(err, CELER_ERR_NOMEM, "out of memory planning %d tensors", s->n);
    }
    for (size_t c = 0; c <= cap; c++) dp[c] = 0.0;
    for (int i = 0; i < s->n; i++) {
        const qz_tensor *t = &s->t[i];
        uint8_t *ch = choice + (size_t)i * (cap + 1);
        for (size_t c = 0; c <= cap; c++) {
            double best = INFINITY;
            int arg = -1;
            for (int j = 0; j < t->n_cand; j++) {
                uint64_t w = (t->cand_bytes[j] + unit - 1) / unit;
                if (w > c || !isfinite(dp[c - w])) continue;
                double v = dp[c - w] + t->cand_cost[j];
                if (v < best) best = v, arg = j;
            }
            next[c] = best;
            ch[c] = (uint8_t)(arg < 0 ? 255 : arg);
        }
        double *tmp = dp;
        dp = next;
        next = tmp;
    }
    celer_status st = CELER_OK;
    if (!isfinite(dp[cap])) {
        st = celer_error_set(err, CELER_ERR_INVALID_ARG, "no plan fits %.2f MiB (after rounding)", (double)budget / 1048576.0);
    } else {
        /* the smallest capacity that reaches the least cost: equal quality, smaller file */
        double best = dp[cap];
        size_t c = cap;
        while (c > 0 && isfinite(dp[c - 1]) && dp[c - 1] <= best + 1e-12 * fabs(best)) c--;
        /* dp only holds the last row; walk back through the choices */
        for (int i = s->n - 1; i >= 0; i--) {
            int j = choice[(size_t)i * (cap + 1) + c];
            s->t[i].chosen = j;
            c -= (size_t)((s->t[i].cand_bytes[j] + unit - 1) / unit);
        }
    }
    free(dp), free(next), free(choice);
    return st;
}

celer_status qz_plan_uniform(qz_state *s, uint32_t type, celer_error *err) {
    double want = qz_bits_per_weight(type);
    if (want <= 0.0) return celer_error_set(err, CELER_ERR_INVALID_ARG, "unknown type %u", type);
    for (int i = 0; i < s->n; i++) {
        qz_tensor *t = &s->t[i];
        uint32_t one[1];
        if (!t->pinned && qz_candidates(t->n_cols, &type, 1, one) == 1) {
            qz_set_candidates(t, &type, 1);
            t->chosen = 0;
            continue;
        }
        int best = -1;
        for (int j = 0; j < t->n_cand; j++) {
            if (t->cand[j] == type) {
                best = j;
                break;
            }
            /* fallback: the fewest bits at or above the type's, else the most bits */
            double b = qz_bits_per_weight(t->cand[j]);
            if (b >= want && (best < 0 || b < qz_bits_per_weight(t->cand[best]))) best = j;
        }
        if (best < 0) best = 0;
        t->chosen = best;
    }
    return CELER_OK;
}
