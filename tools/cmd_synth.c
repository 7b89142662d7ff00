/* cmd_synth.c: `celer synth`: writes a Llama-shaped model with random weights as a
 * standard GGUF file (model/synth.h), for benchmarks of shapes no one has to download.
 * Tests: tests/test_synth.sh (bad input, small files loaded and benchmarked, the gguf
 * Python package reading them back). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "model/synth.h"
#include "quant/quant.h"

static void synth_usage(FILE *out) {
    fprintf(out,
            "usage: celer synth --like SHAPE [--type TYPE | --mix q3q4] [options] -o FILE\n"
            "\n"
            "Writes a model of the given shape with random weights as a standard GGUF file that celer\n"
            "and llama.cpp load: valid blocks of the type written directly (no quantization), scaled so\n"
            "activations keep their size through the layers, with a byte-level BPE tokenizer padded to\n"
            "the vocabulary with filler tokens. For speed measurements only: the text it produces is\n"
            "noise. The file is streamed in large writes to FILE.tmp, then renamed.\n"
            "\n"
            "  --like SHAPE        %s\n"
            "                      (without it, give every dimension below and --vocab)\n"
            "  --type TYPE         every matrix in TYPE, embedding and output too (default: q4_K):\n"
            "                      %s (any case). Matrices whose rows\n"
            "                      are not a multiple of the type's block fall back as llama.cpp's\n"
            "                      quantizer does (q2_K/q3_K -> iq4_nl, q4_K -> q5_0, q5_K -> q5_1,\n"
            "                      q6_K -> q8_0, else f16) and the summary says how many did\n"
            "  --mix q3q4          mixed 3-4-bit plan instead of --type: ffn_gate/up q3_K (q4_K in the\n"
            "                      first and last quarter of the layers), ffn_down q4_K, attention q8_0,\n"
            "                      embedding q4_K, output q6_K (llama3-70b: about 43.5 GB)\n"
            "  --layers N          number of layers (same as --n-layer)\n"
            "  --vocab N           vocabulary size (at least %" PRId32 ")\n"
            "  --ctx N             training context written to the file (llama3: 8192)\n"
            "  --n-embd N, --n-ff N, --n-head N, --n-head-kv N, --n-layer N\n"
            "                      override one dimension of the shape\n"
            "  --rope-base F       rope frequency base\n"
            "  --seed S            random seed (default: 1); the same seed gives the same file\n"
            "  -t, --threads N     threads generating the blocks (default: the online cores, at most\n"
            "                      16); the file is the same for any N\n"
            "  -o, --output FILE   the file to write (required unless --dry-run)\n"
            "  -f, --force         overwrite FILE if it exists\n"
            "      --dry-run       print the plan and the file size, write nothing\n"
            "  -q, --quiet         no progress on stderr\n"
            "  -h, --help          this help\n"
            "\n"
            "Shapes: llama3-8b (vocab 128256, n_embd 4096, 32 layers, 32 heads, 8 KV heads, n_ff 14336,\n"
            "rope base 500000, ctx 8192); llama3-70b (n_embd 8192, 80 layers, 64 heads, 8 KV, n_ff 28672);\n"
            "smollm2-135m (vocab 49152, n_embd 576, 30 layers, 9 heads, 3 KV, n_ff 1536, tied embeddings,\n"
            "rope base 100000); tinyllama-1.1b (vocab 32000, n_embd 2048, 22 layers, 32 heads, 4 KV,\n"
            "n_ff 5632, ctx 2048). Sizes and the mix: docs/synth.md.\n",
            synth_preset_names, synth_type_list(), synth_min_vocab());
}

typedef struct {
    double start;
    double last;
    bool tty;
} progress_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Once a second (a line each time when stderr is not a terminal, every 5 s then). */
static void show_progress(void *user, uint64_t done, uint64_t total) {
    progress_state *p = user;
    double t = now_s(), interval = p->tty ? 1.0 : 5.0;
    bool last = done == total;
    if (!last && t - p->last < interval) return;
    p->last = t;
    double rate = done / 1e9 / (t - p->start > 1e-9 ? t - p->start : 1e-9);
    fprintf(stderr, "%ssynth: %.2f / %.2f GB (%.0f%%), %.2f GB/s%s", p->tty ? "\r" : "", done / 1e9, total / 1e9,
            100.0 * (double)done / (double)total, rate, p->tty && !last ? "" : "\n");
}

typedef struct {
    const char *like, *type_name, *mix_name, *out;
    int32_t dims[8]; /* overrides; 0: keep the shape's (order: see dim_names) */
    float rope_base;
    uint64_t seed;
    int32_t n_threads; /* 0: the online cores, at most 16 */
    bool force, dry_run, quiet;
} synth_options;

/* Indices into synth_options.dims, in the shape's field order. */
static const char *const dim_names[] = {"--vocab", "--ctx", "--n-embd", "--n-layer", "--n-head", "--n-head-kv", "--n-ff"};
enum { N_DIMS = 7 };

static int32_t *shape_dim(synth_shape *s, int i) {
    int32_t *fields[N_DIMS] = {&s->n_vocab, &s->n_ctx, &s->n_embd, &s->n_layer, &s->n_head, &s->n_head_kv, &s->n_ff};
    return fields[i];
}

/* 0: parsed; 1: help printed; 2: bad usage (message printed). */
static int parse_options(int argc, char **argv, synth_options *o) {
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            synth_usage(stdout);
            return 1;
        }
        if (!strcmp(a, "-f") || !strcmp(a, "--force")) { o->force = true; continue; }
        if (!strcmp(a, "--dry-run")) { o->dry_run = true; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = true; continue; }
        int dim = -1;
        for (int d = 0; d < N_DIMS; d++)
            if (!strcmp(a, dim_names[d])) dim = d;
        if (!strcmp(a, "--layers")) dim = 3;
        bool known = dim >= 0 || !strcmp(a, "-t") || !strcmp(a, "--threads") || !strcmp(a, "--like") || !strcmp(a, "--type") || !strcmp(a, "--mix") || !strcmp(a, "-o") ||
                     !strcmp(a, "--output") || !strcmp(a, "--seed") || !strcmp(a, "--rope-base");
        if (!known) {
            fprintf(stderr, "celer synth: unknown option '%s' (try `celer synth --help`)\n", a);
            return 2;
        }
        if (!(v = cli_value("synth", argc, argv, &i))) return 2;
        if (dim >= 0) {
            if (!cli_parse_int("synth", a, v, 1, 1 << 24, &o->dims[dim])) return 2;
        } else if (!strcmp(a, "--like")) o->like = v;
        else if (!strcmp(a, "--type")) o->type_name = v;
        else if (!strcmp(a, "--mix")) o->mix_name = v;
        else if (!strcmp(a, "--seed")) { if (!cli_parse_u64("synth", a, v, &o->seed)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_parse_int("synth", a, v, 1, 1024, &o->n_threads)) return 2; }
        else if (!strcmp(a, "--rope-base")) { if (!cli_parse_float("synth", a, v, 1.0, 1e12, &o->rope_base)) return 2; }
        else o->out = v;
    }
    if (!o->out && !o->dry_run) {
        fprintf(stderr, "celer synth: no output file (-o FILE, or --dry-run)\n");
        return 2;
    }
    return 0;
}

/* The shape from --like and the overrides; false with a message printed. */
static bool build_shape(const synth_options *o, synth_shape *s) {
    if (o->like) {
        if (!synth_shape_preset(o->like, s)) {
            fprintf(stderr, "celer synth: unknown shape '%s' for --like (known: %s)\n", o->like, synth_preset_names);
            return false;
        }
    } else {
        *s = (synth_shape){.like = "custom", .n_ctx = 4096, .rope_freq_base = 10000.0f, .norm_eps = 1e-5f,
                           .vocab_style = SYNTH_VOCAB_LLAMA3};
        static const int required[] = {0, 2, 3, 4, 6}; /* vocab, n_embd, n_layer, n_head, n_ff */
        for (size_t k = 0; k < sizeof(required) / sizeof(required[0]); k++)
            if (!o->dims[required[k]]) {
                fprintf(stderr, "celer synth: give --like SHAPE (%s), or every dimension: %s is missing\n", synth_preset_names,
                        dim_names[required[k]]);
                return false;
            }
        s->n_head_kv = o->dims[5] ? o->dims[5] : o->dims[4];
    }
    for (int d = 0; d < N_DIMS; d++)
        if (o->dims[d]) *shape_dim(s, d) = o->dims[d];
    if (o->rope_base > 0) s->rope_freq_base = o->rope_base;
    return true;
}

static void print_summary(const synth_plan *p, const char *out) {
    const synth_shape *s = &p->shape;
    printf("shape:   %s: vocab %" PRId32 ", n_embd %" PRId32 ", %" PRId32 " layer%s, %" PRId32 " heads, %" PRId32 " KV heads, n_ff %" PRId32
           ", ctx %" PRId32 "%s\n",
           s->like, s->n_vocab, s->n_embd, s->n_layer, s->n_layer == 1 ? "" : "s", s->n_head, s->n_head_kv, s->n_ff, s->n_ctx,
           s->tied_output ? ", tied embeddings" : "");
    printf("plan:    %s\n", p->plan_text);
    if (p->n_fallback) {
        printf("note:    %" PRId32 " matrices fell back to another type (rows not a multiple of the type's block, as llama.cpp does):", p->n_fallback);
        int32_t shown = 0;
        for (int32_t i = 0; i < p->n_tensors && shown < 3; i++)
            if (p->tensors[i].type != p->tensors[i].wanted)
                printf("%s %s %s -> %s", shown++ ? "," : "", p->tensors[i].name, quant_type_name(p->tensors[i].wanted),
                       quant_type_name(p->tensors[i].type));
        printf("%s\n", p->n_fallback > 3 ? ", ..." : "");
    }
    double bpw = 8.0 * (double)p->weight_bytes / (double)p->n_params;
    printf("%s %.3f GB (%.2f GiB), %.3f B parameters, %.3f bits per weight%s%s\n", out ? "wrote:  " : "size:   ", p->file_bytes / 1e9,
           p->file_bytes / (1024.0 * 1024.0 * 1024.0), p->n_params / 1e9, bpw, out ? ", " : "", out ? out : "");
}

int cmd_synth(int argc, char **argv) {
    synth_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;
    synth_shape shape;
    if (!build_shape(&o, &shape)) return 2;
    uint32_t type = QUANT_Q4_K;
    synth_mix mix = SYNTH_MIX_NONE;
    if (o.mix_name && o.type_name) {
        fprintf(stderr, "celer synth: give --type or --mix, not both\n");
        return 2;
    }
    if (o.mix_name) {
        if (strcasecmp(o.mix_name, "q3q4") != 0) {
            fprintf(stderr, "celer synth: unknown --mix '%s' (known: q3q4)\n", o.mix_name);
            return 2;
        }
        mix = SYNTH_MIX_Q3Q4;
    }
    if (o.type_name && !synth_parse_type(o.type_name, &type)) {
        fprintf(stderr, "celer synth: unknown --type '%s' (known: %s)\n", o.type_name, synth_type_list());
        return 2;
    }
    celer_error err = {0};
    synth_plan plan;
    celer_status st = synth_plan_init(&plan, &shape, type, mix, o.seed, &err);
    if (st != CELER_OK) {
        fprintf(stderr, "celer %s\n", err.msg);
        return st == CELER_ERR_INVALID_ARG ? 2 : 1;
    }
    if (o.dry_run) {
        print_summary(&plan, NULL);
        synth_plan_free(&plan);
        return 0;
    }
    progress_state progress = {.start = now_s(), .last = now_s(), .tty = isatty(2)};
    bool show = !o.quiet && plan.file_bytes >= ((uint64_t)1 << 30);
    st = synth_write(&plan, o.out, o.force, o.n_threads, show ? show_progress : NULL, &progress, &err);
    if (st != CELER_OK) {
        fprintf(stderr, "celer synth: %s\n", err.msg);
        synth_plan_free(&plan);
        return 1;
    }
    double secs = now_s() - progress.start;
    print_summary(&plan, o.out);
    if (!o.quiet) fprintf(stderr, "synth: %.1f s, %.2f GB/s\n", secs, plan.file_bytes / 1e9 / (secs > 1e-9 ? secs : 1e-9));
    synth_plan_free(&plan);
    return 0;
}
