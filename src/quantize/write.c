/* write.c: the quantized GGUF, the plan as JSON and the HTML report (qplan.h). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "quant/quant.h"
#include "quantize/qplan.h"

/* ---- a growing string ---- */

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* JSON/HTML-safe: tensor names are ASCII identifiers in practice; anything else becomes '?'. */
static void sb_name(sbuf *b, const char *s) {
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        sb_printf(b, "%c", ok ? c : '?');
    }
}

char *qz_plan_json(const qz_state *s, const char *target) {
    sbuf b = {0};
    uint64_t bytes = qz_planned_bytes(s);
    sb_printf(&b, "{\"target\":\"");
    sb_name(&b, target ? target : "");
    sb_printf(&b, "\",\"predicted_kl\":%.6g,\"quantized_bytes\":%llu,\"n_params\":%llu,\"tensors\":[", qz_predicted_kl(s),
              (unsigned long long)bytes, (unsigned long long)s->n_params);
    for (int i = 0; i < s->n; i++) {
        const qz_tensor *t = &s->t[i];
        sb_printf(&b, "%s{\"name\":\"", i ? "," : "");
        sb_name(&b, t->name);
        sb_printf(&b, "\",\"class\":\"%s\",\"layer\":%d,\"n_params\":%lld,\"type\":\"%s\",\"bits\":%.4g,\"scale\":%.6g,\"measured\":%s",
                  qz_class_name(t->cls), t->layer, (long long)(t->n_cols * t->n_rows),
                  t->chosen >= 0 ? quant_type_name(t->cand[t->chosen]) : "", t->chosen >= 0 ? qz_bits_per_weight(t->cand[t->chosen]) : 0.0, t->scale,
                  t->scale_measured ? "true" : "false");
        if (t->scale_measured) sb_printf(&b, ",\"probe\":{\"type\":\"%s\",\"kl\":%.6g}", quant_type_name(t->probe_type), t->probe_kl);
        if (t->pinned) sb_printf(&b, ",\"pinned\":true");
        sb_printf(&b, ",\"candidates\":[");
        for (int j = 0; j < t->n_cand; j++)
            sb_printf(&b, "%s{\"type\":\"%s\",\"bytes\":%llu,\"err\":%.6g,\"kl\":%.6g}", j ? "," : "", quant_type_name(t->cand[j]),
                      (unsigned long long)t->cand_bytes[j], t->cand_err[j], t->cand_cost[j]);
        sb_printf(&b, "]}");
    }
    sb_printf(&b, "]}");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- the GGUF ---- */

static const qz_tensor *find(const qz_state *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

celer_status qz_write(qz_state *s, const char *path, const char *plan_json, celer_error *err) {
    const gguf_file *f = s->m->file;
    gguf_writer *w = gguf_writer_new();
    void **bufs = calloc(f->n_tensors + 1, sizeof(void *));
    threadpool *pool = NULL;
    celer_status st = w && bufs ? threadpool_init(&pool, s->n_threads, err) : celer_error_set(err, CELER_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; st == CELER_OK && i < f->n_kv; i++) {
        const char *key = f->kv[i].key.data;
        if (!strcmp(key, "general.file_type") || !strncmp(key, "celer.quantize.", 15) || !strcmp(key, "general.quantization_version"))
            continue;
        st = gguf_writer_copy_kv(w, &f->kv[i], err);
    }
    if (st == CELER_OK) st = gguf_writer_set_u32(w, "general.quantization_version", 2, err);
    if (st == CELER_OK && plan_json) st = gguf_writer_set_str(w, "celer.quantize.plan", plan_json, err);
    for (uint64_t i = 0; st == CELER_OK && i < f->n_tensors; i++) {
        const gguf_tensor *g = &f->tensors[i];
        const qz_tensor *t = find(s, g->name.data);
        qz_progress(s, "quantizing (tensors)", (int)i + 1, (int)f->n_tensors, NULL);
        if (!t) { /* norms, biases, frequency factors: as they are */
            st = gguf_writer_add_tensor(w, g->name.data, g->type, g->n_dims, g->ne, g->data, err);
            continue;
        }
        if (t->chosen < 0) {
            st = celer_error_set(err, CELER_ERR_INVALID_ARG, "%s: no type chosen", t->name);
            break;
        }
        uint32_t type = t->cand[t->chosen];
        if (!(bufs[i] = qz_quantize_tensor(t, type, pool, err))) {
            st = CELER_ERR_NOMEM;
            break;
        }
        st = gguf_writer_add_tensor(w, g->name.data, type, g->n_dims, g->ne, bufs[i], err);
    }
    if (st == CELER_OK) st = gguf_writer_write(w, path, err);
    for (uint64_t i = 0; bufs && i < f->n_tensors; i++) free(bufs[i]);
    free(bufs);
    gguf_writer_free(w);
    threadpool_free(pool);
    return st;
}

/* ---- the report ---- */

static const char *const class_colors[QZ_CLASS_COUNT] = {"#7f7f7f", "#000000", "#1f77b4", "#ff7f0e", "#2ca02c",
                                                         "#d62728", "#9467bd", "#8c564b", "#e377c2"};

/* One SVG line chart: y(t) per class over layers (x), log scale when logy. */
static void svg_chart(sbuf *b, const qz_state *s, const char *title, const char *ylabel, bool logy, bool use_bits) {
    const int W = 760, H = 300, L = 70, R = 150, T = 30, B = 40;
    int32_t n_layer = s->m->hp.n_layer;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < s->n; i++) {
        const qz_tensor *t = &s->t[i];
        if (t->layer < 0) continue;
        double v = use_bits ? (t->chosen >= 0 ? qz_bits_per_weight(t->cand[t->chosen]) : 0.0) : t->scale;
        if (logy) {
            if (!(v > 0.0)) continue;
            v = log10(v);
        }
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (!isfinite(lo)) lo = 0.0, hi = 1.0;
    if (hi - lo < 1e-9) hi = lo + 1.0;
    if (use_bits) lo = 0.0, hi = 9.0;
    sb_printf(b, "<h2>%s</h2>\n<svg width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"11\">\n",
              title, W, H);
    sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#ccc\"/>\n", L, T, W - L - R, H - T - B);
    for (int k = 0; k <= 4; k++) {
        double v = lo + (hi - lo) * k / 4.0;
        double y = T + (H - T - B) * (1.0 - k / 4.0);
        sb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s%.3g</text>\n", L - 4, y + 4, logy ? "1e" : "", v);
    }
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">layer</text>\n", L + (W - L - R) / 2, H - 8);
    sb_printf(b, "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">%s</text>\n", T + (H - T - B) / 2,
              T + (H - T - B) / 2, ylabel);
    int legend = 0;
    for (int c = QZ_Q; c < QZ_CLASS_COUNT; c++) {
        bool any = false;
        sbuf pts = {0};
        for (int i = 0; i < s->n; i++) {
            const qz_tensor *t = &s->t[i];
            if (t->cls != (qz_class)c || t->layer < 0) continue;
            double v = use_bits ? (t->chosen >= 0 ? qz_bits_per_weight(t->cand[t->chosen]) : 0.0) : t->scale;
            if (logy) {
                if (!(v > 0.0)) continue;
                v = log10(v);
            }
            double x = L + (W - L - R) * (n_layer > 1 ? (double)t->layer / (n_layer - 1) : 0.5);
            double y = T + (H - T - B) * (1.0 - (v - lo) / (hi - lo));
            sb_printf(&pts, "%.1f,%.1f ", x, y);
            if (!use_bits && t->scale_measured)
                sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, class_colors[c]);
            any = true;
        }
        if (any && pts.p)
            sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"/>\n", class_colors[c], pts.p);
        free(pts.p);
        if (any) {
            int ly = T + 14 * legend++;
            sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
                      W - R + 10, ly, W - R + 30, ly, class_colors[c], W - R + 34, ly + 4, qz_class_name((qz_class)c));
        }
    }
    sb_printf(b, "</svg>\n");
}

celer_status qz_report_html(const qz_state *s, const char *target, const char *path, celer_error *err) {
    sbuf b = {0};
    sb_printf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>celer quantize report</title>\n"
                  "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
                  "padding:2px 6px;text-align:right}th{background:#eee}</style></head><body>\n");
    sb_printf(&b, "<h1>celer quantize: ");
    sb_name(&b, target ? target : "");
    uint64_t bytes = qz_planned_bytes(s);
    uint64_t params = 0;
    for (int i = 0; i < s->n; i++) params += (uint64_t)(s->t[i].n_cols * s->t[i].n_rows);
    sb_printf(&b, "</h1>\n<p>%d tensors, %.2f MiB quantized (%.3f bits per weight over them), predicted KL divergence %.5f nats per token.</p>\n",
              s->n, (double)bytes / 1048576.0, params ? 8.0 * (double)bytes / (double)params : 0.0, qz_predicted_kl(s));
    svg_chart(&b, s, "Sensitivity: predicted KL per unit of weighted error (dots: measured end to end)", "scale (log10)", true, false);
    svg_chart(&b, s, "Chosen bits per weight", "bits per weight", false, true);
    sb_printf(&b, "<h2>Per layer</h2>\n<table><tr><th>layer</th>");
    for (int c = QZ_Q; c < QZ_CLASS_COUNT; c++) sb_printf(&b, "<th>%s</th>", qz_class_name((qz_class)c));
    sb_printf(&b, "<th>predicted KL</th></tr>\n");
    for (int i = 0; i < s->n; i++) /* embedding and head first */
        if (s->t[i].layer < 0 && s->t[i].chosen >= 0) {
            sb_printf(&b, "<tr><td>");
            sb_name(&b, s->t[i].name);
            sb_printf(&b, "</td><td colspan=\"%d\">%s</td><td>%.3g</td></tr>\n", QZ_CLASS_COUNT - QZ_Q, quant_type_name(s->t[i].cand[s->t[i].chosen]),
                      s->t[i].cand_cost[s->t[i].chosen]);
        }
    for (int32_t il = 0; il < s->m->hp.n_layer; il++) {
        sb_printf(&b, "<tr><td>%d</td>", il);
        double kl = 0.0;
        for (int c = QZ_Q; c < QZ_CLASS_COUNT; c++) {
            const qz_tensor *t = NULL;
            for (int i = 0; i < s->n && !t; i++)
                if (s->t[i].layer == il && s->t[i].cls == (qz_class)c) t = &s->t[i];
            if (!t || t->chosen < 0) {
                sb_printf(&b, "<td></td>");
                continue;
            }
            kl += t->cand_cost[t->chosen];
            sb_printf(&b, "<td title=\"scale %.3g%s\">%s</td>", t->scale, t->scale_measured ? ", measured" : "", quant_type_name(t->cand[t->chosen]));
        }
        sb_printf(&b, "<td>%.3g</td></tr>\n", kl);
    }
    sb_printf(&b, "</table>\n</body></html>\n");
    if (b.failed) {
        free(b.p);
        return celer_error_set(err, CELER_ERR_NOMEM, "out of memory writing the report");
    }
    celer_status st = CELER_OK;
    FILE *fp = fopen(path, "w");
    if (!fp || fwrite(b.p, 1, b.len, fp) != b.len) st = celer_error_set(err, CELER_ERR_IO, "%s: cannot write the report", path);
    if (fp && fclose(fp) != 0 && st == CELER_OK) st = celer_error_set(err, CELER_ERR_IO, "%s: cannot write the report", path);
    free(b.p);
    return st;
}

/* ---- measured statistics, to plan other budgets without measuring again ---- */

celer_status qz_save_stats(const qz_state *s, const char *path, celer_error *err) {
    gguf_writer *w = gguf_writer_new();
    if (!w) return celer_error_set(err, CELER_ERR_NOMEM, "out of memory");
    celer_status st = gguf_writer_set_str(w, "general.architecture", "celer-quantize-stats", err);
    if (st == CELER_OK) st = gguf_writer_set_u32(w, "celer.stats.n_tensors", (uint32_t)s->n, err);
    for (int i = 0; st == CELER_OK && i < s->n; i++) {
        const qz_tensor *t = &s->t[i];
        char key[256];
        uint32_t types[QZ_MAX_CAND];
        for (int j = 0; j < t->n_cand; j++) types[j] = t->cand[j];
        snprintf(key, sizeof(key), "celer.stats.%s.types", t->name);
        st = gguf_writer_set_arr(w, key, GGUF_TYPE_UINT32, types, (uint64_t)t->n_cand, err);
        snprintf(key, sizeof(key), "celer.stats.%s.err", t->name);
        if (st == CELER_OK) st = gguf_writer_set_arr(w, key, GGUF_TYPE_FLOAT64, t->cand_err, (uint64_t)t->n_cand, err);
        double scale[3] = {t->scale, t->scale_measured ? 1.0 : 0.0, t->probe_kl};
        snprintf(key, sizeof(key), "celer.stats.%s.scale", t->name);
        if (st == CELER_OK) st = gguf_writer_set_arr(w, key, GGUF_TYPE_FLOAT64, scale, 3, err);
        snprintf(key, sizeof(key), "celer.stats.%s.probe_type", t->name);
        if (st == CELER_OK) st = gguf_writer_set_u32(w, key, t->probe_type, err);
        if (st == CELER_OK && t->imp) {
            snprintf(key, sizeof(key), "imp.%s", t->name);
            int64_t ne[1] = {t->n_cols};
            st = gguf_writer_add_tensor(w, key, QUANT_F32, 1, ne, t->imp, err);
        }
    }
    if (st == CELER_OK) st = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    return st;
}

celer_status qz_load_stats(qz_state *s, const char *path, celer_error *err) {
    gguf_file *f = NULL;
    celer_status st = gguf_open(path, &f, err);
    if (st != CELER_OK) return st;
    uint32_t n = 0;
    if (gguf_get_u32(f, "celer.stats.n_tensors", &n, err) != CELER_OK || (int)n != s->n) {
        gguf_close(f);
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "%s: statistics of another model (%u tensors, this one has %d)", path, n,
                               s->n);
    }
    size_t imp_total = 0;
    for (int i = 0; i < s->n; i++) imp_total += (size_t)s->t[i].n_cols;
    free(s->imp_store);
    s->imp_store = malloc(imp_total * sizeof(float));
    if (!s->imp_store) {
        gguf_close(f);
        return celer_error_set(err, CELER_ERR_NOMEM, "out of memory");
    }
    size_t off = 0;
    for (int i = 0; st == CELER_OK && i < s->n; i++) {
        qz_tensor *t = &s->t[i];
        char key[256];
        const gguf_value *types = NULL, *errs = NULL, *scale = NULL;
        snprintf(key, sizeof(key), "celer.stats.%s.types", t->name);
        st = gguf_get_arr(f, key, GGUF_TYPE_UINT32, &types, err);
        snprintf(key, sizeof(key), "celer.stats.%s.err", t->name);
        if (st == CELER_OK) st = gguf_get_arr(f, key, GGUF_TYPE_FLOAT64, &errs, err);
        snprintf(key, sizeof(key), "celer.stats.%s.scale", t->name);
        if (st == CELER_OK) st = gguf_get_arr(f, key, GGUF_TYPE_FLOAT64, &scale, err);
        if (st != CELER_OK) {
            st = celer_error_set(err, CELER_ERR_FORMAT, "%s: no statistics for %s", path, t->name);
            break;
        }
        if (types->n != errs->n || scale->n != 3) {
            st = celer_error_set(err, CELER_ERR_FORMAT, "%s: statistics of %s are malformed", path, t->name);
            break;
        }
        /* every current candidate needs its measured error */
        for (int j = 0; j < t->n_cand && st == CELER_OK; j++) {
            bool found = false;
            for (uint64_t k = 0; k < types->n; k++) {
                uint32_t ty;
                double e;
                memcpy(&ty, (const char *)types->data + 4 * k, 4);
                memcpy(&e, (const char *)errs->data + 8 * k, 8);
                if (ty == t->cand[j]) {
                    t->cand_err[j] = isfinite(e) && e >= 0.0 ? e : 0.0;
                    found = true;
                }
            }
            if (!found)
                st = celer_error_set(err, CELER_ERR_INVALID_ARG, "%s: no measurement of %s as %s: measure again without --load-stats", path,
                                     t->name, quant_type_name(t->cand[j]));
        }
        double sc[3];
        memcpy(sc, scale->data, sizeof(sc));
        t->scale = isfinite(sc[0]) && sc[0] >= 0.0 ? sc[0] : 0.0;
        t->scale_measured = sc[1] != 0.0;
        t->probe_kl = sc[2];
        snprintf(key, sizeof(key), "celer.stats.%s.probe_type", t->name);
        gguf_get_u32(f, key, &t->probe_type, NULL);
        for (int j = 0; j < t->n_cand; j++) t->cand_cost[j] = t->scale * t->cand_err[j];
        snprintf(key, sizeof(key), "imp.%s", t->name);
        const gguf_tensor *g = gguf_find_tensor(f, key);
        t->imp = NULL;
        if (g) {
            if (g->type != QUANT_F32 || g->ne[0] != t->n_cols || g->ne[1] != 1) {
                st = celer_error_set(err, CELER_ERR_FORMAT, "%s: %s has the wrong shape or type", path, key);
                break;
            }
            memcpy(s->imp_store + off, g->data, (size_t)t->n_cols * sizeof(float));
            t->imp = s->imp_store + off;
            off += (size_t)t->n_cols;
        }
    }
    gguf_close(f);
    return st;
}
