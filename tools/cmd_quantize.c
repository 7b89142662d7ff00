/* cmd_quantize.c: `celer quantize`: a model to a standard GGUF whose tensors each get the
 * type a sensitivity analysis on calibration text picks under a size budget (or one type
 * for all). The pipeline is src/quantize/qplan.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celer.h"
#include "cli.h"
#include "core/timer.h"
#include "engine/engine_internal.h"
#include "format/gguf.h"
#include "quant/quant.h"
#include "quant/quantize.h"
#include "quantize/qplan.h"

#define MAX_PINS 64

typedef struct {
    const char *model_path, *out_path, *calib_path, *plan_path, *report_path, *save_stats, *load_stats;
    uint32_t uniform_type; /* 0 = none (F32 cannot be a target here) */
    bool has_uniform;
    double target_bpw;     /* 0 = not given */
    uint64_t max_size;     /* 0 = not given */
    int32_t kv_ctx;
    int32_t n_ctx, calib_chunks, kl_chunks, kl_evals, n_threads;
    const char *pin_re[MAX_PINS];
    uint32_t pin_type[MAX_PINS];
    int n_pins;
    uint32_t types[QZ_MAX_CAND];
    int n_types;
    bool dry_run;
} quantize_options;

static void quantize_usage(FILE *out) {
    celer_context_params c;
    celer_context_params_default(&c);
    fprintf(out,
            "usage: celer quantize -m SRC -o OUT (--target-bpw X | --max-size S | TYPE) [options]\n"
            "\n"
            "Writes a standard GGUF in which every matrix gets the type that costs the least quality\n"
            "for the size: a calibration pass collects each matrix's input statistics and the\n"
            "reference logits, the error of every candidate type is weighted by those statistics and\n"
            "scaled into predicted KL divergence by end-to-end measurements, and an exact knapsack\n"
            "picks the types. The plan goes into the file's metadata (celer.quantize.plan), a JSON\n"
            "file and an HTML report. OUT is written as OUT.tmp and renamed when complete.\n"
            "\n"
            "  -m, --model SRC        source model: a GGUF file of any supported type or a Hugging\n"
            "                         Face directory (safetensors F32/F16/BF16) (default:\n"
            "                         $CELER_MODEL, else %s)\n"
            "  -o, --output OUT       output GGUF (required)\n"
            "  TYPE                   one type for every matrix, e.g. q4_K, q8_0 (the nearest type by\n"
            "                         bits where its block does not divide a tensor's rows)\n"
            "      --target-bpw X     file size in bits per parameter (file bytes * 8 / parameters)\n"
            "      --max-size S       file size at most S bytes; suffixes K, M, G, T (powers of 1000)\n"
            "                         or KiB, MiB, GiB, TiB\n"
            "      --kv-ctx N         with --max-size: leave room for an fp16 KV cache of N tokens\n"
            "      --tensor-type RE=TYPE  tensors whose name matches the extended regex RE get TYPE\n"
            "                         (repeatable, e.g. 'output|token_embd=q8_0')\n"
            "      --types LIST       candidate types, comma-separated (default: q8_0,q6_K,q5_1,q5_K,\n"
            "                         q5_0,q4_1,q4_K,iq4_nl,q4_0,q3_K,q2_K where celer can write them)\n"
            "  -f, --calib FILE       calibration text (required for a budget; with TYPE it turns on\n"
            "                         importance weighting). Never the text you evaluate on.\n"
            "  -c, --ctx-size N       calibration chunk length in tokens (default: 512)\n"
            "      --calib-chunks N   chunks of the text used for statistics, -1 = all (default: 32)\n"
            "      --kl-chunks N      of those, chunks whose logits the KL is measured on (default: 2)\n"
            "      --kl-evals N       tensors whose KL is measured end to end, spread over classes and\n"
            "                         depth; -1 = every tensor, 0 = none (default: 64)\n"
            "      --save-stats FILE  keep the measurements (importances, errors, KL scales) in FILE\n"
            "      --load-stats FILE  plan from measurements saved by --save-stats for the same\n"
            "                         model instead of calibrating again (-f not needed)\n"
            "      --plan FILE        the plan as JSON (default: OUT.plan.json)\n"
            "      --report FILE      the HTML report (default: OUT.report.html)\n"
            "      --dry-run          plan and report only, no GGUF written\n"
            "  -t, --threads N        threads (default: %d)\n"
            "  -h, --help             this help\n",
            CELER_DEFAULT_MODEL, c.n_threads);
}

/* A type by its ggml name, any case ("q4_k", "Q4_K", "iq4_nl"). */
static bool parse_type(const char *s, uint32_t *out) {
    for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++) {
        const quant_traits *tr = quant_get_traits(t);
        if (!tr || !quant_can_quantize(t)) continue;
        if (strcasecmp(tr->name, s) == 0) {
            *out = t;
            return true;
        }
    }
    return false;
}

static void list_types(FILE *out) {
    fprintf(out, "types celer writes:");
    for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++)
        if (quant_get_traits(t) && quant_can_quantize(t)) fprintf(out, " %s", quant_type_name(t));
    fprintf(out, "\n");
}

static bool parse_size(const char *v, uint64_t *out) {
    errno = 0;
    char *end = NULL;
    double x = strtod(v, &end);
    if (errno || end == v || !(x > 0.0) || !isfinite(x)) return false;
    double mult = 1.0;
    const char *sfx[] = {"", "K", "M", "G", "T", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "B"};
    const double mults[] = {1, 1e3, 1e6, 1e9, 1e12, 1e3, 1e6, 1e9, 1e12, 1024.0, 1048576.0, 1073741824.0, 1099511627776.0, 1};
    size_t i = 0;
    for (; i < sizeof(mults) / sizeof(mults[0]); i++)
        if (strcasecmp(end, sfx[i]) == 0 && (strlen(end) < 3 || strcmp(end, sfx[i]) == 0)) break;
    if (i == sizeof(mults) / sizeof(mults[0])) return false;
    mult = mults[i];
    x *= mult;
    if (x >= 1.8e19) return false;
    *out = (uint64_t)x;
    return true;
}

static int quantize_parse(int argc, char **argv, quantize_options *o) {
    const char *cmd = "quantize";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (!strcmp(a, "--dry-run")) {
            o->dry_run = true;
            continue;
        }
        if (a[0] != '-') { /* TYPE */
            if (o->has_uniform) {
                fprintf(stderr, "celer quantize: two types given ('%s' and '%s')\n", quant_type_name(o->uniform_type), a);
                return 2;
            }
            if (!parse_type(a, &o->uniform_type)) {
                fprintf(stderr, "celer quantize: unknown type '%s'; ", a);
                list_types(stderr);
                return 2;
            }
            o->has_uniform = true;
            continue;
        }
        static const char *const with_value[] = {"-m", "--model", "-o", "--output", "--target-bpw", "--max-size", "--kv-ctx",
                                                 "--tensor-type", "--types", "-f", "--calib", "-c", "--ctx-size", "--calib-chunks",
                                                 "--kl-chunks", "--kl-evals", "--plan", "--report", "-t", "--threads",
                                                 "--save-stats", "--load-stats"};
        bool known = false;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) known = known || !strcmp(a, with_value[k]);
        if (!known) {
            fprintf(stderr, "celer quantize: unknown option '%s' (try `celer quantize --help`)\n", a);
            return 2;
        }
        if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model_path = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->out_path = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--calib")) o->calib_path = v;
        else if (!strcmp(a, "--plan")) o->plan_path = v;
        else if (!strcmp(a, "--save-stats")) o->save_stats = v;
        else if (!strcmp(a, "--load-stats")) o->load_stats = v;
        else if (!strcmp(a, "--report")) o->report_path = v;
        else if (!strcmp(a, "--target-bpw")) {
            float x;
            ok = cli_parse_float(cmd, a, v, 1.0, 32.0, &x);
            o->target_bpw = x;
        } else if (!strcmp(a, "--max-size")) {
            if (!(ok = parse_size(v, &o->max_size)))
                fprintf(stderr, "celer quantize: --max-size '%s': expected a size such as 80M, 4.5G or 45GiB\n", v);
        } else if (!strcmp(a, "--kv-ctx")) ok = cli_parse_int(cmd, a, v, 0, 1 << 24, &o->kv_ctx);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) ok = cli_parse_int(cmd, a, v, 16, 1 << 16, &o->n_ctx);
        else if (!strcmp(a, "--calib-chunks")) ok = cli_parse_int(cmd, a, v, -1, 1 << 24, &o->calib_chunks);
        else if (!strcmp(a, "--kl-chunks")) ok = cli_parse_int(cmd, a, v, 0, 1 << 16, &o->kl_chunks);
        else if (!strcmp(a, "--kl-evals")) ok = cli_parse_int(cmd, a, v, -1, 1 << 20, &o->kl_evals);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_int(cmd, a, v, 1, 256, &o->n_threads);
        else if (!strcmp(a, "--tensor-type")) {
            const char *eq = strrchr(v, '=');
            if (o->n_pins >= MAX_PINS) {
                fprintf(stderr, "celer quantize: more than %d --tensor-type options\n", MAX_PINS);
                return 2;
            }
            if (!eq || eq == v || !eq[1]) {
                fprintf(stderr, "celer quantize: --tensor-type '%s': expected REGEX=TYPE\n", v);
                return 2;
            }
            if (!parse_type(eq + 1, &o->pin_type[o->n_pins])) {
                fprintf(stderr, "celer quantize: --tensor-type '%s': unknown type '%s'; ", v, eq + 1);
                list_types(stderr);
                return 2;
            }
            /* the regex part, kept in argv's storage */
            ((char *)eq)[0] = '\0';
            o->pin_re[o->n_pins++] = v;
        } else if (!strcmp(a, "--types")) {
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", v);
            o->n_types = 0;
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                while (isspace((unsigned char)*tok)) tok++;
                if (o->n_types >= QZ_MAX_CAND || !parse_type(tok, &o->types[o->n_types])) {
                    fprintf(stderr, "celer quantize: --types: unknown or too many types at '%s'; ", tok);
                    list_types(stderr);
                    return 2;
                }
                o->n_types++;
            }
        }
        if (!ok) return 2;
    }
    int modes = (o->has_uniform ? 1 : 0) + (o->target_bpw > 0 ? 1 : 0) + (o->max_size > 0 ? 1 : 0);
    if (modes != 1) {
        fprintf(stderr, "celer quantize: give exactly one of TYPE, --target-bpw X or --max-size S (try `celer quantize --help`)\n");
        return 2;
    }
    if (!o->out_path && !o->dry_run) {
        fprintf(stderr, "celer quantize: no output: pass -o FILE\n");
        return 2;
    }
    if (o->load_stats && o->calib_path) {
        fprintf(stderr, "celer quantize: --load-stats replaces calibration: drop -f\n");
        return 2;
    }
    if (!o->has_uniform && !o->calib_path && !o->load_stats) {
        fprintf(stderr, "celer quantize: a budget needs calibration text: pass --calib FILE (e.g. wiki.valid.raw; never your evaluation text)\n");
        return 2;
    }
    if (o->kv_ctx > 0 && o->max_size == 0) {
        fprintf(stderr, "celer quantize: --kv-ctx goes with --max-size\n");
        return 2;
    }
    return 0;
}

static char *derived_path(const char *base, const char *suffix) {
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", base, suffix);
    return p;
}

static void print_summary(const qz_state *s, uint64_t n_params) {
    uint64_t count[QUANT_TYPE_COUNT] = {0};
    for (int i = 0; i < s->n; i++)
        if (s->t[i].chosen >= 0) count[s->t[i].cand[s->t[i].chosen]] += (uint64_t)(s->t[i].n_cols * s->t[i].n_rows);
    fprintf(stderr, "plan:");
    for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++)
        if (count[t]) fprintf(stderr, " %s %.1f%%", quant_type_name(t), 100.0 * (double)count[t] / (double)n_params);
    fprintf(stderr, " of the parameters; predicted KL %.5f\n", qz_predicted_kl(s));
}

/* Bytes of the GGUF header the output will have before its plan: the source's keys and
 * values and tensor infos, as serialized (the source may be an imported directory, which
 * has no header of its own). */
static uint64_t header_bytes(const gguf_file *f) {
    uint64_t n = 4 + 4 + 8 + 8;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_value *v = &f->kv[i].value;
        n += 8 + f->kv[i].key.len + 4;
        if (!v->is_array) {
            n += v->type == GGUF_TYPE_STRING ? 8 + v->str.len : gguf_type_size(v->type);
        } else {
            n += 4 + 8;
            if (v->elem_type == GGUF_TYPE_STRING)
                for (uint64_t k = 0; k < v->n; k++) n += 8 + ((const gguf_string *)v->data)[k].len;
            else
                n += v->n * gguf_type_size(v->elem_type);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) n += 8 + f->tensors[i].name.len + 4 + 8ull * f->tensors[i].n_dims + 4 + 8;
    return n;
}

static int run_quantize(quantize_options *o) {
    celer_error err = {0};
    celer_model *cm = NULL;
    qz_state s = {0};
    int32_t *tokens = NULL;
    char *text = NULL, *plan_json = NULL, *plan_path = NULL, *report_path = NULL;
    int rc = 1;
    double t0 = celer_time_s();
    const char *src = cli_model_path(o->model_path);
    if (o->out_path && strcmp(o->out_path, src) == 0) {
        fprintf(stderr, "celer quantize: the output would overwrite the source %s\n", src);
        return 2;
    }
    if (celer_model_load(src, &cm, &err) != CELER_OK) goto fail;
    model *m = celer_model_bound(cm);
    if (qz_collect(&s, m, o->n_threads, &err) != CELER_OK) goto fail;
    s.verbose = true;
    if (o->n_types > 0) /* restrict every tensor's candidates to the list */
        for (int i = 0; i < s.n; i++) {
            qz_tensor *t = &s.t[i];
            if (qz_set_candidates(t, o->types, o->n_types) == 0) {
                celer_error_set(&err, CELER_ERR_INVALID_ARG, "--types: none of them can hold %s (rows of %lld)", t->name, (long long)t->n_cols);
                goto fail;
            }
        }
    for (int i = 0; i < o->n_pins; i++)
        if (qz_pin(&s, o->pin_re[i], o->pin_type[i], &err) != CELER_OK) goto fail;
    if (o->load_stats && qz_load_stats(&s, o->load_stats, &err) != CELER_OK) goto fail;
    if (o->calib_path) {
        size_t len = 0, n_tokens = 0;
        if (!(text = cli_read_file("quantize", o->calib_path, &len))) goto done;
        if (len == 0) {
            celer_error_set(&err, CELER_ERR_INVALID_ARG, "%s: the calibration text is empty", o->calib_path);
            goto fail;
        }
        if (celer_tokenize(cm, text, len, true, false, &tokens, &n_tokens, &err) != CELER_OK) goto fail;
        int32_t bos = celer_model_adds_bos(cm) ? celer_token_bos(cm) : -1;
        if (n_tokens < (size_t)o->n_ctx) {
            celer_error_set(&err, CELER_ERR_INVALID_ARG, "%s: %zu tokens, shorter than one calibration chunk of %d (-c)", o->calib_path,
                            n_tokens, o->n_ctx);
            goto fail;
        }
        fprintf(stderr, "celer quantize: %s: %zu tokens of calibration text\n", o->calib_path, n_tokens);
        if (qz_calibrate(&s, tokens, n_tokens, o->n_ctx, o->calib_chunks, o->has_uniform ? 0 : o->kl_chunks, bos, &err) != CELER_OK) goto fail;
    }
    char target[96];
    if (o->has_uniform) {
        snprintf(target, sizeof(target), "%s", quant_type_name(o->uniform_type));
        for (int i = 0; i < s.n; i++) /* no sensitivity needed: every cost zero */
            for (int j = 0; j < s.t[i].n_cand; j++) s.t[i].cand_cost[j] = 0.0;
        if (qz_plan_uniform(&s, o->uniform_type, &err) != CELER_OK) goto fail;
    } else {
        uint64_t file_bytes = o->max_size;
        if (o->target_bpw > 0) {
            file_bytes = (uint64_t)(o->target_bpw * (double)s.n_params / 8.0);
            snprintf(target, sizeof(target), "%.3f bits per weight", o->target_bpw);
        } else {
            snprintf(target, sizeof(target), "at most %llu bytes%s", (unsigned long long)o->max_size, o->kv_ctx ? " with KV room" : "");
        }
        uint64_t kv = o->kv_ctx > 0 ? (uint64_t)o->kv_ctx * celer_model_kv_bytes_per_pos(cm) : 0;
        /* what is not quantized: the header (the source's, plus the plan), the kept tensors,
         * alignment padding, the KV room */
        uint64_t overhead = header_bytes(m->file) + (uint64_t)s.n * 600 + 32 * m->file->n_tensors + s.fixed_bytes + kv;
        uint64_t lo, hi;
        qz_bytes_range(&s, &lo, &hi);
        if (file_bytes <= overhead + lo) {
            celer_error_set(&err, CELER_ERR_INVALID_ARG,
                            "%s is too small: the smallest file celer can make of this model is about %.2f MiB (%.3f bits per weight)%s",
                            target, (double)(overhead + lo) / 1048576.0, 8.0 * (double)(overhead - kv + lo) / (double)s.n_params,
                            kv ? ", plus the KV cache" : "");
            goto fail;
        }
        if (!o->load_stats && qz_measure(&s, o->kl_evals < 0 ? s.n : o->kl_evals, &err) != CELER_OK) goto fail;
        if (o->save_stats) {
            if (qz_save_stats(&s, o->save_stats, &err) != CELER_OK) goto fail;
            fprintf(stderr, "celer quantize: measurements saved to %s\n", o->save_stats);
        }
        if (qz_plan(&s, file_bytes - overhead, &err) != CELER_OK) goto fail;
    }
    print_summary(&s, s.n_params);
    if (!(plan_json = qz_plan_json(&s, target))) {
        celer_error_set(&err, CELER_ERR_NOMEM, "out of memory writing the plan");
        goto fail;
    }
    const char *base = o->out_path ? o->out_path : "celer-quantize";
    plan_path = o->plan_path ? NULL : derived_path(base, ".plan.json");
    report_path = o->report_path ? NULL : derived_path(base, ".report.html");
    const char *pp = o->plan_path ? o->plan_path : plan_path, *rp = o->report_path ? o->report_path : report_path;
    FILE *fp = pp ? fopen(pp, "w") : NULL;
    if (!fp || fputs(plan_json, fp) < 0 || fclose(fp) != 0) {
        celer_error_set(&err, CELER_ERR_IO, "%s: cannot write the plan", pp ? pp : "(plan)");
        goto fail;
    }
    if (!rp || qz_report_html(&s, target, rp, &err) != CELER_OK) goto fail;
    fprintf(stderr, "celer quantize: plan %s, report %s\n", pp, rp);
    if (!o->dry_run) {
        if (qz_write(&s, o->out_path, plan_json, &err) != CELER_OK) goto fail;
        FILE *f = fopen(o->out_path, "rb");
        long long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
        if (f) fclose(f);
        fprintf(stderr, "celer quantize: wrote %s: %.2f MiB, %.3f bits per weight, in %.1f s\n", o->out_path, (double)size / 1048576.0,
                8.0 * (double)size / (double)s.n_params, celer_time_s() - t0);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "celer quantize: %s\n", err.msg);
done:
    free(plan_json);
    free(plan_path);
    free(report_path);
    free(tokens);
    free(text);
    qz_free(&s);
    celer_model_free(cm);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    quantize_options o = {.n_ctx = 512, .calib_chunks = 32, .kl_chunks = 2, .kl_evals = 64};
    celer_context_params c;
    celer_context_params_default(&c);
    o.n_threads = c.n_threads;
    int rc = quantize_parse(argc, argv, &o);
    if (rc == 1) {
        quantize_usage(stdout);
        return 0;
    }
    if (rc != 0) return rc;
    return run_quantize(&o);
}
