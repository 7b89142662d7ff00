/* cmd_bench.c: `celer bench`: prompt and generation speed measured the way llama.cpp's
 * llama-bench measures them, so the two tools' figures compare directly: random token
 * ids fed straight to celer_decode (no tokenizer, no sampler), the sequence cleared
 * between runs, one warm-up (the prompt once and one decode step), then r timed
 * repetitions; tokens/s = (n_prompt + n_gen) / wall time, mean ± sample stddev.
 * Beyond llama-bench: time to first token, end-to-end latency of a long answer, peak
 * resident memory, and the bytes a decoded token reads over its wall time (GB/s) next to
 * the machine's memory bandwidth from a STREAM triad probe. Output: llama-bench's
 * markdown table, or CSV, JSON or JSONL with its field names (in its order) and celer's
 * extras. No pp+tg row unless -pg asks for one, as in llama-bench.
 * Test: tests/test_cli.sh (bad input, and a small real run validated as JSON). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "celer.h"
#include "cli.h"
#include "core/hugemem.h"

#define BENCH_DEFAULT_ANSWER 2000
#define BENCH_MAX_OPS 64
#define BENCH_PROBE_MIB 256 /* per array; three arrays, far above any last-level cache */

typedef enum { FORMAT_MD, FORMAT_CSV, FORMAT_JSON, FORMAT_JSONL } bench_format;

typedef struct {
    const char *model_path;
    int32_t n_prompt, n_gen;   /* -p, -n */
    int32_t pg_prompt, pg_gen; /* -pg; 0, 0: no pp+tg test (the default, as llama-bench's) */
    int32_t n_answer;          /* --answer; -1: the default, clamped to the model's context */
    int32_t reps;
    int32_t n_threads;
    int32_t n_batch; /* tokens per celer_decode call (-b / -ub) */
    int32_t delay_s; /* --delay: seconds of rest before each test */
    bench_format format;
    bool profile;
    bool probe;
    bool warmup;
    bool gpu; /* --gpu: the CUDA backend */
} bench_options;

/* One row of the report: a test and its timed repetitions. */
typedef struct {
    char name[48];
    int32_t n_prompt, n_gen;
    double mean_context; /* mean positions a decoded token attends over; 0: no decode timing */
    int32_t n_samples;
    uint64_t *ns;     /* (reps) wall time of each repetition */
    uint64_t *gen_ns; /* (reps) of which the n_gen decode steps */
    char test_time[32];
    celer_op_stat profile[BENCH_MAX_OPS];
    int32_t n_profile;
    double profile_wall_s;
    int32_t profile_tokens;
} bench_row;

/* What every row shares: the model, the machine, the whole-run measurements. */
typedef struct {
    const bench_options *o;
    char model_type[256];
    char model_name[128];
    char cpu_info[128];
    char gpu_info[160]; /* --gpu: device 0 as src/backend/cuda/cuda_info.cu describes it; else "" */
    const char *build_commit;
    uint64_t model_size, model_n_params, decode_bytes, kv_bytes_per_pos;
    double mem_bw_gbps;  /* 0: not measured */
    double ttft_ms;      /* mean of the ttft row; < 0: not measured */
    double e2e_s;        /* mean of the e2e row; < 0: not measured */
    uint64_t peak_rss_bytes;
    bench_row rows[5]; /* pp, tg, [pp+tg], ttft, [e2e] */
    int32_t n_rows;
    int32_t i_ttft, i_e2e; /* indices of the latency rows; i_e2e -1: none */
} bench_report;

/* Times of one run: prompt evaluated, first token decoded, all decoded. */
typedef struct {
    uint64_t prompt_ns, first_ns, total_ns;
} bench_timing;

typedef struct {
    celer_context *ctx;
    celer_batch batch;
    uint64_t rng; /* xorshift64 state for the random token ids */
    int32_t n_vocab;
    int32_t bos; /* first token of a run, -1: a random one (the model adds no BOS) */
} bench_runner;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- options ---- */

static void bench_usage(FILE *out) {
    celer_context_params c;
    celer_context_params_default(&c);
    fprintf(out,
            "usage: celer bench [options]\n"
            "\n"
            "Prompt and generation speed, measured like llama.cpp's llama-bench: random token ids\n"
            "fed straight to the model (no tokenizer, no sampler), one warm-up (the prompt once and\n"
            "one decode step), then -r timed repetitions from an empty sequence. Rows:\n"
            "  ppP       a prompt of P tokens in batches of -b; t/s = P / time\n"
            "  tgN       N tokens decoded one per step from an empty context; t/s = N / time\n"
            "  ppP+tgN   only with -pg P,N, as in llama-bench: both, timed together;\n"
            "            t/s = (P + N) / time\n"
            "  ttft ppP  time to first token: the -p prompt and one decode step\n"
            "  e2e ...   end-to-end latency of an answer: the -p prompt and --answer decode steps\n"
            "Decode rows also show the bytes a token reads (weights + its KV cache) over its time,\n"
            "as GB/s and as a share of the memory bandwidth probed at start (STREAM triad over\n"
            "3 x %d MiB with -t threads, best of a few passes, about a second). Results go to\n"
            "stdout, progress to stderr.\n"
            "\n"
            "  -m, --model PATH        GGUF file or Hugging Face model directory (default: $CELER_MODEL, else %s)\n"
            "  -p, --n-prompt P        prompt tokens of the pp test (default: 512)\n"
            "  -n, --n-gen N           decoded tokens of the tg test (default: 128)\n"
            "  -pg P,N                 add a pp+tg test of P prompt and N decoded tokens (default:\n"
            "                          none, as llama-bench; -pg 512,128 gives its pp512+tg128 row)\n"
            "      --answer N          decode steps of the e2e test after a -p prompt; 0 = no e2e row\n"
            "                          (default: %d, less with a note if the model's context is shorter)\n"
            "  -r, --repetitions R     timed repetitions of each test (default: 5)\n"
            "  -t, --threads N         threads (default: %d, the online cores)\n"
            "  -b, --batch-size N      tokens per forward pass in prompts (default: %d); -ub,\n"
            "  -ub, --ubatch-size N    llama-bench's physical batch, means the same here (the smaller wins)\n"
            "  -o, --output FORMAT     md, csv, json or jsonl (default: md); csv, json and jsonl carry\n"
            "                          llama-bench's fields in its order, then celer's extras\n"
            "      --delay S           seconds of rest before each test (default: 0)\n"
            "      --no-warmup         skip the warm-up runs\n"
            "      --progress          accepted for llama-bench's sake; progress always goes to stderr\n"
            "      --profile           afterwards, per-operation times of one pp and one tg run\n"
            "                          (to stdout with md, to stderr with csv; inside the rows with json, jsonl)\n"
            "      --no-probe          skip the memory bandwidth probe\n"
            "      --gpu               run on CUDA device 0 (a build with -DCELER_CUDA=ON); the probe\n"
            "                          then measures host memory only and is skipped\n"
            "  -h, --help              this help\n"
            "\n"
            "Counts must be positive and single values (llama-bench's lists such as -p 128,512 and\n"
            "its -p 0 / -n 0 for skipping a test are not supported). The model file, and with it the\n"
            "KV cache of the longest test, must fit in the memory available (MemAvailable, the cgroup\n"
            "limit and ulimit -v), and the tests in the model's training context.\n"
            "The flags shared with llama-bench (-m -p -n -pg -r -t -b -ub -o --delay --no-warmup\n"
            "--progress) mean the same in both, so one command line serves both tools.\n"
            "JSON's build_commit comes from $CELER_BUILD_COMMIT (default: unknown).\n",
            BENCH_PROBE_MIB, CELER_DEFAULT_MODEL, BENCH_DEFAULT_ANSWER, c.n_threads, c.n_batch);
}

/* -pg P,N: two positive integers, or 0,0 (no pp+tg test, as llama-bench skips it). */
static bool parse_pair(const char *value, int32_t *first, int32_t *second) {
    const char *comma = strchr(value, ',');
    char left[32];
    if (!comma || (size_t)(comma - value) >= sizeof(left)) {
        fprintf(stderr, "celer bench: -pg expects two positive integers 'P,N', got '%s'\n", value);
        return false;
    }
    memcpy(left, value, (size_t)(comma - value));
    left[comma - value] = '\0';
    if (!cli_parse_int("bench", "-pg (prompt)", left, 0, 1 << 20, first) ||
        !cli_parse_int("bench", "-pg (generated)", comma + 1, 0, 1 << 20, second))
        return false;
    if ((*first == 0) != (*second == 0)) {
        fprintf(stderr, "celer bench: -pg expects two positive integers 'P,N' (or 0,0 for no pp+tg test), got '%s'\n", value);
        return false;
    }
    return true;
}

static bool parse_format(const char *value, bench_format *out) {
    if (!strcmp(value, "md")) *out = FORMAT_MD;
    else if (!strcmp(value, "csv")) *out = FORMAT_CSV;
    else if (!strcmp(value, "json")) *out = FORMAT_JSON;
    else if (!strcmp(value, "jsonl")) *out = FORMAT_JSONL;
    else {
        fprintf(stderr, "celer bench: unknown output format '%s' (md, csv, json or jsonl)\n", value);
        return false;
    }
    return true;
}

/* Returns 0 on success, 2 on a bad option, 1 for --help. */
static int bench_parse(int argc, char **argv, bench_options *o) {
    const char *cmd = "bench";
    int32_t batch = 0, ubatch = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool ok = true;
#define IS(short_name, long_name) (!strcmp(a, short_name) || !strcmp(a, long_name))
#define VALUE() \
    if (!(v = cli_value(cmd, argc, argv, &i))) return 2
        if (IS("-h", "--help")) return 1;
        else if (IS("-m", "--model")) { VALUE(); o->model_path = v; }
        else if (IS("-p", "--n-prompt")) { VALUE(); ok = cli_parse_int(cmd, a, v, 1, 1 << 20, &o->n_prompt); }
        else if (IS("-n", "--n-gen")) { VALUE(); ok = cli_parse_int(cmd, a, v, 1, 1 << 20, &o->n_gen); }
        else if (IS("-pg", "-pg")) { VALUE(); ok = parse_pair(v, &o->pg_prompt, &o->pg_gen); }
        else if (IS("--answer", "--answer")) { VALUE(); ok = cli_parse_int(cmd, a, v, 0, 1 << 20, &o->n_answer); }
        else if (IS("-r", "--repetitions")) { VALUE(); ok = cli_parse_int(cmd, a, v, 1, 1000, &o->reps); }
        else if (IS("-t", "--threads")) { VALUE(); ok = cli_parse_int(cmd, a, v, 1, 1024, &o->n_threads); }
        else if (IS("-b", "--batch-size")) { VALUE(); ok = cli_parse_int(cmd, a, v, 1, 65536, &batch); }
        else if (IS("-ub", "--ubatch-size")) { VALUE(); ok = cli_parse_int(cmd, a, v, 1, 65536, &ubatch); }
        else if (IS("-o", "--output")) { VALUE(); ok = parse_format(v, &o->format); }
        else if (IS("--delay", "--delay")) { VALUE(); ok = cli_parse_int(cmd, a, v, 0, 3600, &o->delay_s); }
        else if (IS("--no-warmup", "--no-warmup")) o->warmup = false;
        else if (IS("--progress", "--progress")) {}
        else if (IS("--profile", "--profile")) o->profile = true;
        else if (IS("--no-probe", "--no-probe")) o->probe = false;
        else if (IS("--gpu", "--gpu")) o->gpu = true, o->probe = false;
        else {
            fprintf(stderr, "celer bench: unknown option '%s' (try `celer bench --help`)\n", a);
            return 2;
        }
#undef VALUE
#undef IS
        if (!ok) return 2;
    }
    if (batch && ubatch) o->n_batch = batch < ubatch ? batch : ubatch;
    else if (batch || ubatch) o->n_batch = batch ? batch : ubatch;
    return 0;
}

/* ---- memory bandwidth probe ---- */

typedef struct {
    double *a, *b, *c; /* (n) each */
    size_t begin, end;
    bool init;
} probe_slice;

static void *probe_worker(void *arg) {
    probe_slice *s = arg;
    if (s->init) { /* first touch by the thread that will use the pages */
        for (size_t i = s->begin; i < s->end; i++) {
            s->a[i] = 0.0;
            s->b[i] = 1.0;
            s->c[i] = 2.0;
        }
        return NULL;
    }
    for (size_t i = s->begin; i < s->end; i++) s->a[i] = s->b[i] + 3.0 * s->c[i]; /* STREAM triad */
    return NULL;
}

/* One pass of all threads over the arrays; its wall time in seconds, < 0 on failure. */
static double probe_pass(probe_slice *slices, int32_t n_threads, bool init) {
    pthread_t tid[1024];
    uint64_t t0 = now_ns();
    int32_t started = 0;
    for (; started < n_threads; started++) {
        slices[started].init = init;
        if (pthread_create(&tid[started], NULL, probe_worker, &slices[started]) != 0) break;
    }
    for (int32_t i = 0; i < started; i++) pthread_join(tid[i], NULL);
    return started == n_threads ? (double)(now_ns() - t0) * 1e-9 : -1.0;
}

/* STREAM triad bandwidth in GB/s (24 bytes per element moved, STREAM's count), the best of
 * passes within about a second; 0 if it could not run. */
static double probe_bandwidth(int32_t n_threads) {
    size_t n = (size_t)BENCH_PROBE_MIB * 1024 * 1024 / sizeof(double);
    /* on huge pages where the kernel gives them, as the weights and the KV cache are */
    double *a = celer_alloc_huge(n * sizeof(double)), *b = celer_alloc_huge(n * sizeof(double)), *c = celer_alloc_huge(n * sizeof(double));
    probe_slice *slices = calloc((size_t)n_threads, sizeof(probe_slice));
    double best = 0.0;
    if (a && b && c && slices) {
        for (int32_t t = 0; t < n_threads; t++)
            slices[t] = (probe_slice){.a = a, .b = b, .c = c, .begin = n * (size_t)t / (size_t)n_threads,
                                      .end = n * (size_t)(t + 1) / (size_t)n_threads};
        double spent = probe_pass(slices, n_threads, true);
        for (int pass = 0; spent >= 0.0 && pass < 20 && (pass < 3 || spent < 1.0); pass++) {
            double s = probe_pass(slices, n_threads, false);
            if (s <= 0.0) break;
            spent += s;
            double gbps = 3.0 * (double)(n * sizeof(double)) / s * 1e-9;
            if (gbps > best) best = gbps;
        }
    }
    free(a);
    free(b);
    free(c);
    free(slices);
    return best;
}

/* Runs the probe in a child process so its arrays do not count in this one's peak memory. */
static double probe_bandwidth_isolated(int32_t n_threads) {
    int fd[2];
    if (pipe(fd) != 0) return 0.0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return 0.0;
    }
    if (pid == 0) {
        close(fd[0]);
        double gbps = probe_bandwidth(n_threads);
        ssize_t w = write(fd[1], &gbps, sizeof(gbps));
        _exit(w == (ssize_t)sizeof(gbps) ? 0 : 1);
    }
    close(fd[1]);
    double gbps = 0.0;
    ssize_t got = read(fd[0], &gbps, sizeof(gbps));
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return got == (ssize_t)sizeof(gbps) && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? gbps : 0.0;
}

/* ---- the runs ---- */

static int32_t random_token(bench_runner *r) {
    r->rng ^= r->rng << 13; /* xorshift64 */
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (int32_t)(r->rng % (uint64_t)r->n_vocab);
}

/* From an empty sequence 0: a prompt of n_prompt random tokens in batches, then n_gen
 * decode steps of one token each, logits wanted as a generator would. */
static celer_status bench_once(bench_runner *r, int32_t n_prompt, int32_t n_gen, bench_timing *t, celer_error *err) {
    celer_seq_truncate(r->ctx, 0, 0);
    int32_t first = r->bos >= 0 ? r->bos : random_token(r), pos = 0;
    uint64_t t0 = now_ns();
    while (pos < n_prompt) {
        int32_t n = n_prompt - pos < r->batch.capacity ? n_prompt - pos : r->batch.capacity;
        celer_batch_clear(&r->batch);
        for (int32_t i = 0; i < n; i++, pos++) {
            int32_t token = pos == 0 ? first : random_token(r);
            celer_status st = celer_batch_add(&r->batch, token, pos, 0, i == n - 1, err);
            if (st != CELER_OK) return st;
        }
        celer_status st = celer_decode(r->ctx, &r->batch, err);
        if (st != CELER_OK) return st;
    }
    t->prompt_ns = t->first_ns = now_ns() - t0;
    for (int32_t i = 0; i < n_gen; i++, pos++) {
        celer_batch_clear(&r->batch);
        celer_status st = celer_batch_add(&r->batch, pos == 0 ? first : random_token(r), pos, 0, true, err);
        if (st == CELER_OK) st = celer_decode(r->ctx, &r->batch, err);
        if (st != CELER_OK) return st;
        if (i == 0) t->first_ns = now_ns() - t0;
    }
    t->total_ns = now_ns() - t0;
    return CELER_OK;
}

static void row_init(bench_row *row, const char *name, int32_t n_prompt, int32_t n_gen, bool timed_decode) {
    snprintf(row->name, sizeof(row->name), "%s", name);
    row->n_prompt = n_prompt;
    row->n_gen = n_gen;
    row->mean_context = timed_decode ? n_prompt + (n_gen + 1) / 2.0 : 0.0;
}

/* RFC 3339 UTC, as llama-bench's test_time. */
static void stamp_time(char *buf, size_t size) {
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

/* Warm-up, then the repetitions of one test; fills main (and, for the latency test,
 * the e2e row from the same runs: ttft is their first token). */
static bool bench_test(bench_runner *r, const bench_options *o, bench_row *main, bench_row *e2e) {
    celer_error err = {0};
    bench_timing t;
    int32_t n_gen = e2e ? e2e->n_gen : main->n_gen;
    stamp_time(main->test_time, sizeof(main->test_time));
    if (e2e) stamp_time(e2e->test_time, sizeof(e2e->test_time));
    if (o->delay_s > 0) {
        fprintf(stderr, "celer bench: %s: resting %d s\n", main->name, o->delay_s);
        sleep((unsigned)o->delay_s);
    }
    celer_status st = CELER_OK;
    if (o->warmup) {
        fprintf(stderr, "celer bench: %s: warm-up\n", main->name);
        st = bench_once(r, main->n_prompt, n_gen > 0 ? 1 : 0, &t, &err);
    }
    for (int32_t i = 0; st == CELER_OK && i < o->reps; i++) {
        st = bench_once(r, main->n_prompt, n_gen, &t, &err);
        if (st != CELER_OK) break;
        main->ns[i] = e2e ? t.first_ns : t.total_ns;
        main->gen_ns[i] = e2e ? t.first_ns - t.prompt_ns : t.total_ns - t.prompt_ns;
        main->n_samples = i + 1;
        if (e2e) {
            e2e->ns[i] = t.total_ns;
            e2e->gen_ns[i] = t.total_ns - t.prompt_ns;
            e2e->n_samples = i + 1;
        }
        double s = (double)main->ns[i] * 1e-9;
        fprintf(stderr, "celer bench: %s: run %d/%d: %.2f ms, %.2f t/s", main->name, i + 1, o->reps, s * 1e3,
                (main->n_prompt + main->n_gen) / s);
        if (e2e) fprintf(stderr, "; %s %.3f s", e2e->name, (double)t.total_ns * 1e-9);
        fprintf(stderr, "\n");
    }
    if (st != CELER_OK) fprintf(stderr, "celer bench: %s: %s\n", main->name, err.msg);
    return st == CELER_OK;
}

/* One pp and one tg run with per-op timing on; the tables land in the two rows. */
static bool bench_profile(bench_runner *r, bench_row *pp, bench_row *tg) {
    bench_row *rows[2] = {pp, tg};
    for (int k = 0; k < 2; k++) {
        celer_error err = {0};
        bench_timing t;
        fprintf(stderr, "celer bench: %s: profiled run\n", rows[k]->name);
        celer_profile_enable(r->ctx, true);
        celer_status st = bench_once(r, rows[k]->n_prompt, rows[k]->n_gen, &t, &err);
        int32_t n = celer_profile_get(r->ctx, rows[k]->profile, BENCH_MAX_OPS);
        celer_profile_enable(r->ctx, false);
        if (st != CELER_OK) {
            fprintf(stderr, "celer bench: profile of %s: %s\n", rows[k]->name, err.msg);
            return false;
        }
        rows[k]->n_profile = n < BENCH_MAX_OPS ? n : BENCH_MAX_OPS;
        rows[k]->profile_wall_s = (double)t.total_ns * 1e-9;
        rows[k]->profile_tokens = rows[k]->n_prompt + rows[k]->n_gen;
    }
    return true;
}

/* ---- statistics (llama-bench's: mean and sample standard deviation) ---- */

static double mean_of(const double *v, int32_t n) {
    double s = 0.0;
    for (int32_t i = 0; i < n; i++) s += v[i];
    return n > 0 ? s / n : 0.0;
}

static double stddev_of(const double *v, int32_t n) {
    if (n < 2) return 0.0;
    double m = mean_of(v, n), s = 0.0;
    for (int32_t i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (n - 1));
}

typedef struct {
    double avg_ns, stddev_ns, avg_ts, stddev_ts;
    double bytes_per_token; /* 0: no decode timing in this row */
    double achieved_gbps;
} row_stats;

static row_stats row_compute(const bench_report *rep, const bench_row *row) {
    double ns[1000] = {0}, ts[1000] = {0}, gen = 0.0;
    int32_t n = row->n_samples;
    for (int32_t i = 0; i < n; i++) {
        ns[i] = (double)row->ns[i];
        ts[i] = 1e9 * (row->n_prompt + row->n_gen) / ns[i];
        gen += (double)row->gen_ns[i] / n;
    }
    row_stats s = {.avg_ns = mean_of(ns, n), .stddev_ns = stddev_of(ns, n), .avg_ts = mean_of(ts, n), .stddev_ts = stddev_of(ts, n)};
    if (row->mean_context > 0.0 && row->n_gen > 0 && gen > 0.0) {
        s.bytes_per_token = (double)rep->decode_bytes + (double)rep->kv_bytes_per_pos * row->mean_context;
        s.achieved_gbps = s.bytes_per_token * row->n_gen / gen; /* bytes per ns = GB/s */
    }
    return s;
}

/* ---- output ---- */

static const char *row_time_unit(const bench_row *row) { return strncmp(row->name, "e2e", 3) == 0 ? "s" : "ms"; }

static void md_print(const bench_report *rep) {
    static const char dashes[] = "----------------------------------------------------------------";
    int test_width = 15, model_width = 30;
    for (int32_t i = 0; i < rep->n_rows; i++)
        if ((int)strlen(rep->rows[i].name) > test_width) test_width = (int)strlen(rep->rows[i].name);
    if ((int)strlen(rep->model_name) > model_width) model_width = (int)strlen(rep->model_name);
    if (model_width > (int)sizeof(dashes) - 1) model_width = (int)sizeof(dashes) - 1;
    printf("| %-*s | %10s | %10s | %-10s | %7s | %*s | %20s | %22s | %14s |\n", model_width, "model", "size", "params",
           "backend", "threads", test_width, "test", "t/s", "time", rep->mem_bw_gbps > 0 ? "GB/s (of peak)" : "GB/s");
    printf("| %.*s | %.9s: | %.9s: | %.10s | %.6s: | %.*s: | %.19s: | %.21s: | %.13s: |\n", model_width, dashes, dashes,
           dashes, dashes, dashes, test_width - 1, dashes, dashes, dashes, dashes);
    for (int32_t i = 0; i < rep->n_rows; i++) {
        const bench_row *row = &rep->rows[i];
        row_stats s = row_compute(rep, row);
        char size[32], params[32], ts[48], tm[48], bw[48] = "";
        double mib = (double)rep->model_size / (1024.0 * 1024.0);
        if (mib < 1024.0) snprintf(size, sizeof(size), "%.2f MiB", mib);
        else snprintf(size, sizeof(size), "%.2f GiB", mib / 1024.0);
        if (rep->model_n_params < 1000000000ull) snprintf(params, sizeof(params), "%.2f M", (double)rep->model_n_params / 1e6);
        else snprintf(params, sizeof(params), "%.2f B", (double)rep->model_n_params / 1e9);
        snprintf(ts, sizeof(ts), "%.2f ± %.2f", s.avg_ts, s.stddev_ts);
        double unit = strcmp(row_time_unit(row), "s") == 0 ? 1e-9 : 1e-6;
        snprintf(tm, sizeof(tm), "%.2f ± %.2f %s", s.avg_ns * unit, s.stddev_ns * unit, row_time_unit(row));
        if (s.achieved_gbps > 0 && rep->mem_bw_gbps > 0)
            snprintf(bw, sizeof(bw), "%.2f (%.0f%%)", s.achieved_gbps, 100.0 * s.achieved_gbps / rep->mem_bw_gbps);
        else if (s.achieved_gbps > 0) snprintf(bw, sizeof(bw), "%.2f", s.achieved_gbps);
        /* "±" is two bytes of UTF-8: one more byte of width keeps the columns aligned */
        printf("| %-*.*s | %10s | %10s | %-10s | %7d | %*s | %21s | %23s | %14s |\n", model_width, model_width,
               rep->model_name, size, params, rep->o->gpu ? "CUDA" : "CPU", rep->o->n_threads, test_width, row->name, ts, tm, bw);
    }
    printf("\nmodel: %s\n", rep->model_type);
    printf("decode: %.2f MB of weights per token + %.1f KiB of KV cache per position of context",
           (double)rep->decode_bytes / 1e6, (double)rep->kv_bytes_per_pos / 1024.0);
    if (rep->mem_bw_gbps > 0)
        printf("; memory bandwidth %.2f GB/s (STREAM triad, %d threads)", rep->mem_bw_gbps, rep->o->n_threads);
    printf("; peak RSS %.1f MiB\n", (double)rep->peak_rss_bytes / (1024.0 * 1024.0));
    printf("build: %s\n", rep->build_commit);
}

/* Per-op table of a profiled row, markdown, to out. */
static void profile_print(FILE *out, const bench_row *row) {
    if (row->profile_tokens == 0) return;
    double sum = 0.0;
    for (int32_t i = 0; i < row->n_profile; i++) sum += row->profile[i].seconds;
    fprintf(out, "\nprofile of %s (one run, %d tokens, %.2f ms wall):\n\n", row->name, row->profile_tokens,
            row->profile_wall_s * 1e3);
    if (row->n_profile == 0) {
        fprintf(out, "the backend recorded no operations\n");
        return;
    }
    fprintf(out, "| %-28s | %10s | %10s | %6s | %10s |\n", "op", "calls", "total ms", "%", "ms/token");
    fprintf(out, "| %-28s | %10s | %10s | %6s | %10s |\n", "----------------------------", "---------:", "---------:",
            "-----:", "---------:");
    for (int32_t i = 0; i < row->n_profile; i++) {
        const celer_op_stat *op = &row->profile[i];
        fprintf(out, "| %-28s | %10llu | %10.3f | %6.1f | %10.4f |\n", op->name, (unsigned long long)op->calls,
                op->seconds * 1e3, 100.0 * op->seconds / row->profile_wall_s, op->seconds * 1e3 / row->profile_tokens);
    }
    double rest = row->profile_wall_s - sum;
    fprintf(out, "| %-28s | %10s | %10.3f | %6.1f | %10.4f |\n", "(outside the ops)", "", rest * 1e3,
            100.0 * rest / row->profile_wall_s, rest * 1e3 / row->profile_tokens);
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

/* One field of a row: a string (str), or a JSON literal in lit (a number, true, false, or
 * null for "not measured", which CSV writes as ""). */
typedef struct {
    const char *name;
    const char *str;
    char lit[40];
} bench_field;

enum { BENCH_MAX_FIELDS = 64 };

static void field_str(bench_field *f, int *n, const char *name, const char *value) {
    f[*n] = (bench_field){.name = name, .str = value};
    (*n)++;
}

static void field_lit(bench_field *f, int *n, const char *name, const char *fmt, double value, bool present) {
    f[*n] = (bench_field){.name = name};
    if (present) snprintf(f[*n].lit, sizeof(f[*n].lit), fmt, value);
    else snprintf(f[*n].lit, sizeof(f[*n].lit), "null");
    (*n)++;
}

static void field_bool(bench_field *f, int *n, const char *name, bool value) {
    f[*n] = (bench_field){.name = name};
    snprintf(f[*n].lit, sizeof(f[*n].lit), "%s", value ? "true" : "false");
    (*n)++;
}

static void field_u64(bench_field *f, int *n, const char *name, uint64_t value) {
    f[*n] = (bench_field){.name = name};
    snprintf(f[*n].lit, sizeof(f[*n].lit), "%llu", (unsigned long long)value);
    (*n)++;
}

/* llama-bench's fields (test::get_fields) in its order, with celer's values where it has
 * the setting (CPU only: no GPU layers, no split, f16 KV cache, no flash attention, the
 * model mapped, weights repacked unless CELER_REPACK=0), then celer's extras. */
static int row_fields(const bench_report *rep, const bench_row *row, bench_field *f) {
    const bench_options *o = rep->o;
    row_stats s = row_compute(rep, row);
    const char *repack_env = getenv("CELER_REPACK");
    bool repack = !(repack_env && strcmp(repack_env, "0") == 0);
    int n = 0;
    field_str(f, &n, "build_commit", rep->build_commit);
    field_u64(f, &n, "build_number", 0);
    field_str(f, &n, "cpu_info", rep->cpu_info);
    field_str(f, &n, "gpu_info", rep->gpu_info);
    field_str(f, &n, "backends", o->gpu ? "CUDA" : "CPU");
    field_str(f, &n, "model_filename", o->model_path);
    field_str(f, &n, "model_type", rep->model_type);
    field_u64(f, &n, "model_size", rep->model_size);
    field_u64(f, &n, "model_n_params", rep->model_n_params);
    field_u64(f, &n, "n_batch", (uint64_t)o->n_batch);
    field_u64(f, &n, "n_ubatch", (uint64_t)o->n_batch);
    field_u64(f, &n, "n_threads", (uint64_t)o->n_threads);
    field_str(f, &n, "cpu_mask", "0x0");
    field_bool(f, &n, "cpu_strict", false);
    field_u64(f, &n, "poll", 0);
    field_str(f, &n, "type_k", "f16");
    field_str(f, &n, "type_v", "f16");
    field_u64(f, &n, "n_gpu_layers", o->gpu ? 99 : 0); /* --gpu: all of them, as llama-bench's -ngl 99 */
    field_u64(f, &n, "n_cpu_moe", 0);
    field_str(f, &n, "split_mode", "none");
    field_u64(f, &n, "main_gpu", 0);
    field_bool(f, &n, "no_kv_offload", false);
    field_u64(f, &n, "flash_attn", 0);
    field_str(f, &n, "devices", o->gpu ? "CUDA0" : "CPU");
    field_str(f, &n, "tensor_split", "0.00");
    field_str(f, &n, "tensor_buft_overrides", "none");
    field_str(f, &n, "load_mode", "mmap");
    field_str(f, &n, "lazy_mode", "off");
    field_bool(f, &n, "embeddings", false);
    field_u64(f, &n, "no_op_offload", 0);
    field_bool(f, &n, "no_host", false);
    field_bool(f, &n, "repack", repack);
    field_u64(f, &n, "fit_target", 0);
    field_u64(f, &n, "fit_min_ctx", 0);
    field_u64(f, &n, "n_prompt", (uint64_t)row->n_prompt);
    field_u64(f, &n, "n_gen", (uint64_t)row->n_gen);
    field_u64(f, &n, "n_depth", 0);
    field_str(f, &n, "test_time", row->test_time);
    field_lit(f, &n, "avg_ns", "%.0f", s.avg_ns, true);
    field_lit(f, &n, "stddev_ns", "%.0f", s.stddev_ns, true);
    field_lit(f, &n, "avg_ts", "%.6f", s.avg_ts, true);
    field_lit(f, &n, "stddev_ts", "%.6f", s.stddev_ts, true);
    /* celer's extras */
    field_str(f, &n, "test", row->name);
    field_lit(f, &n, "ttft_ms", "%.4f", rep->ttft_ms, rep->ttft_ms >= 0);
    field_lit(f, &n, "e2e_s", "%.6f", rep->e2e_s, rep->e2e_s >= 0);
    field_u64(f, &n, "peak_rss_bytes", rep->peak_rss_bytes);
    field_lit(f, &n, "bytes_per_token", "%.0f", s.bytes_per_token, s.bytes_per_token > 0);
    field_lit(f, &n, "achieved_gbps", "%.4f", s.achieved_gbps, s.achieved_gbps > 0);
    field_lit(f, &n, "mem_bw_gbps", "%.4f", rep->mem_bw_gbps, rep->mem_bw_gbps > 0);
    return n;
}

static void json_profile(FILE *out, const bench_row *row, bool pretty) {
    fprintf(out, pretty ? "    \"profile\": [" : "\"profile\": [");
    for (int32_t i = 0; i < row->n_profile; i++) {
        const celer_op_stat *op = &row->profile[i];
        fprintf(out, "%s{\"name\": ", i ? (pretty ? ",\n      " : ", ") : (pretty ? "\n      " : ""));
        json_string(out, op->name);
        fprintf(out, ", \"calls\": %llu, \"total_ms\": %.6f, \"percent\": %.3f, \"ms_per_token\": %.6f}",
                (unsigned long long)op->calls, op->seconds * 1e3, 100.0 * op->seconds / row->profile_wall_s,
                op->seconds * 1e3 / row->profile_tokens);
    }
    fprintf(out, pretty ? (row->n_profile ? "\n    ],\n" : " ],\n") : "], ");
}

/* One row as a JSON object: llama-bench's json layout when pretty, its jsonl line if not. */
static void json_row(const bench_report *rep, const bench_row *row, bool pretty) {
    bench_field f[BENCH_MAX_FIELDS];
    int n = row_fields(rep, row, f);
    printf(pretty ? "  {\n" : "{");
    for (int k = 0; k < n; k++) {
        printf(pretty ? "    \"%s\": " : "\"%s\": ", f[k].name);
        if (f[k].str) json_string(stdout, f[k].str);
        else printf("%s", f[k].lit);
        printf(pretty ? ",\n" : ", ");
    }
    if (row->profile_tokens) json_profile(stdout, row, pretty);
    printf(pretty ? "    \"samples_ns\": [ " : "\"samples_ns\": [ ");
    for (int32_t i = 0; i < row->n_samples; i++) printf("%s%llu", i ? ", " : "", (unsigned long long)row->ns[i]);
    printf(pretty ? " ],\n    \"samples_ts\": [ " : " ], \"samples_ts\": [ ");
    for (int32_t i = 0; i < row->n_samples; i++)
        printf("%s%.6f", i ? ", " : "", 1e9 * (row->n_prompt + row->n_gen) / (double)row->ns[i]);
    printf(pretty ? " ]\n  }" : " ]}\n");
}

static void json_print(const bench_report *rep) {
    printf("[\n");
    for (int32_t i = 0; i < rep->n_rows; i++) {
        json_row(rep, &rep->rows[i], true);
        printf(i + 1 < rep->n_rows ? ",\n" : "\n");
    }
    printf("]\n");
}

/* llama-bench's CSV: a header of field names, every value double-quoted; "" = not measured. */
static void csv_field(const char *s, bool last) {
    putchar('"');
    for (const char *p = s; *p; p++) {
        if (*p == '"') putchar('"');
        putchar(*p);
    }
    printf(last ? "\"\n" : "\",");
}

static void csv_print(const bench_report *rep) {
    bench_field f[BENCH_MAX_FIELDS];
    for (int32_t i = 0; i < rep->n_rows; i++) {
        int n = row_fields(rep, &rep->rows[i], f);
        if (i == 0)
            for (int k = 0; k < n; k++) printf("%s%s", f[k].name, k + 1 < n ? "," : "\n");
        for (int k = 0; k < n; k++) {
            const char *v = f[k].str ? f[k].str : strcmp(f[k].lit, "null") == 0 ? "" : f[k].lit;
            if (!f[k].str && !strcmp(v, "false")) v = "0"; /* llama-bench's CSV writes booleans as 0/1 */
            if (!f[k].str && !strcmp(v, "true")) v = "1";
            csv_field(v, k + 1 == n);
        }
    }
}

/* ---- the command ---- */

/* Peak resident set of this process in bytes: VmHWM, else getrusage. */
static uint64_t peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    if (kib == 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) kib = (unsigned long long)ru.ru_maxrss; /* Linux: KiB */
    }
    return (uint64_t)kib * 1024u;
}

/* The first "KEY: N kB" of a /proc file, in bytes; 0 if absent. */
static uint64_t proc_kib(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    char line[256];
    unsigned long long kib = 0;
    size_t len = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, len) && line[len] == ':' && sscanf(line + len + 1, "%llu", &kib) == 1) break;
    if (f) fclose(f);
    return (uint64_t)kib * 1024u;
}

/* A cgroup v2 memory file of this process's group ("memory.max"), or of the root that
 * a container sees; 0 if absent or "max". */
static uint64_t cgroup_value(const char *file) {
    char line[512], group[512] = "", path[1100];
    FILE *f = fopen("/proc/self/cgroup", "r");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(group, sizeof(group), "%s", strcmp(line + 3, "/") ? line + 3 : "");
            break;
        }
    if (f) fclose(f);
    unsigned long long v = 0;
    for (int attempt = 0; attempt < 2 && v == 0; attempt++) {
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/%s", attempt == 0 ? group : "", file);
        FILE *g = fopen(path, "r");
        if (!g) continue;
        if (fscanf(g, "%llu", &v) != 1) v = 0; /* "max": no limit */
        fclose(g);
    }
    return (uint64_t)v;
}

/* Bytes of memory this process can still take: the least of the system's MemAvailable,
 * what the cgroup limit leaves and what ulimit -v leaves; UINT64_MAX when none is known.
 * why names the one that limits. */
static uint64_t memory_available(const char **why) {
    uint64_t best = UINT64_MAX;
    *why = "";
    uint64_t avail = proc_kib("/proc/meminfo", "MemAvailable");
    if (avail > 0) {
        best = avail;
        *why = "MemAvailable";
    }
    uint64_t max = cgroup_value("memory.max"), cur = cgroup_value("memory.current");
    if (max > 0) {
        uint64_t left = max > cur ? max - cur : 0;
        if (left < best) {
            best = left;
            *why = "the cgroup's memory.max";
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        uint64_t used = proc_kib("/proc/self/status", "VmSize");
        uint64_t left = (uint64_t)rl.rlim_cur > used ? (uint64_t)rl.rlim_cur - used : 0;
        if (left < best) {
            best = left;
            *why = "ulimit -v";
        }
    }
    return best;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static void read_cpu_info(char *buf, size_t size) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    snprintf(buf, size, "unknown");
    while (f && fgets(line, sizeof(line), f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        snprintf(buf, size, "%s", colon + 1 + (colon[1] == ' '));
        buf[strcspn(buf, "\n")] = '\0';
        break;
    }
    if (f) fclose(f);
}

#ifdef CELER_HAVE_CUDA
int celer_cuda_describe(char *buf, size_t size); /* src/backend/cuda/cuda_info.cu */
#endif

static void report_init(bench_report *rep, const bench_options *o, const celer_model *m) {
    rep->o = o;
    celer_model_describe(m, rep->model_type, sizeof(rep->model_type));
    snprintf(rep->model_name, sizeof(rep->model_name), "%.*s", (int)strcspn(rep->model_type, "("), rep->model_type);
    size_t len = strlen(rep->model_name);
    while (len > 0 && rep->model_name[len - 1] == ' ') rep->model_name[--len] = '\0';
    read_cpu_info(rep->cpu_info, sizeof(rep->cpu_info));
    rep->gpu_info[0] = '\0';
#ifdef CELER_HAVE_CUDA
    if (o->gpu) celer_cuda_describe(rep->gpu_info, sizeof(rep->gpu_info));
#endif
    const char *commit = getenv("CELER_BUILD_COMMIT");
    rep->build_commit = commit && *commit ? commit : "unknown";
    rep->model_size = celer_model_file_bytes(m);
    rep->model_n_params = celer_model_n_params(m);
    rep->decode_bytes = celer_model_decode_bytes(m);
    rep->kv_bytes_per_pos = celer_model_kv_bytes_per_pos(m);
    rep->ttft_ms = rep->e2e_s = -1.0;
}

/* Fits the tests to the model's context: the e2e answer is clamped (with a note) when it
 * was not asked for explicitly; the rest must fit. Returns the context size, 0 on error. */
static int32_t bench_fit_context(bench_options *o, const celer_model *m, const char *path) {
    int32_t train = celer_model_n_ctx_train(m);
    int32_t need = o->n_prompt > o->n_gen ? o->n_prompt : o->n_gen;
    if (o->pg_prompt + o->pg_gen > need) need = o->pg_prompt + o->pg_gen;
    if (o->n_prompt + 1 > need) need = o->n_prompt + 1; /* ttft: the prompt and one decode step */
    if (train > 0 && need > train) {
        fprintf(stderr, "celer bench: the tests need a context of %d positions but %s was trained for %d; lower -p, -n or -pg\n",
                need, path, train);
        return 0;
    }
    if (o->n_answer < 0) {
        o->n_answer = BENCH_DEFAULT_ANSWER;
        if (train > 0 && o->n_prompt + o->n_answer > train) {
            o->n_answer = train - o->n_prompt;
            fprintf(stderr, "celer bench: note: the e2e answer is %d tokens, not %d: %s was trained for a context of %d\n",
                    o->n_answer, BENCH_DEFAULT_ANSWER, path, train);
        }
    } else if (train > 0 && o->n_prompt + o->n_answer > train) {
        fprintf(stderr, "celer bench: --answer %d after a %d-token prompt needs %d positions but %s was trained for %d\n",
                o->n_answer, o->n_prompt, o->n_prompt + o->n_answer, path, train);
        return 0;
    }
    return o->n_prompt + o->n_answer > need ? o->n_prompt + o->n_answer : need;
}

/* The rows in llama-bench's order, then ttft and e2e; sample arrays of reps each. */
static bool report_add_rows(bench_report *rep, const bench_options *o) {
    char name[48];
    snprintf(name, sizeof(name), "pp%d", o->n_prompt);
    row_init(&rep->rows[0], name, o->n_prompt, 0, false);
    snprintf(name, sizeof(name), "tg%d", o->n_gen);
    row_init(&rep->rows[1], name, 0, o->n_gen, true);
    rep->n_rows = 2;
    if (o->pg_prompt > 0) {
        snprintf(name, sizeof(name), "pp%d+tg%d", o->pg_prompt, o->pg_gen);
        row_init(&rep->rows[rep->n_rows++], name, o->pg_prompt, o->pg_gen, true);
    }
    snprintf(name, sizeof(name), "ttft pp%d", o->n_prompt);
    rep->i_ttft = rep->n_rows;
    row_init(&rep->rows[rep->n_rows++], name, o->n_prompt, 1, true);
    rep->i_e2e = -1;
    if (o->n_answer > 0) {
        snprintf(name, sizeof(name), "e2e pp%d+tg%d", o->n_prompt, o->n_answer);
        rep->i_e2e = rep->n_rows;
        row_init(&rep->rows[rep->n_rows++], name, o->n_prompt, o->n_answer, true);
    }
    for (int32_t i = 0; i < rep->n_rows; i++) {
        rep->rows[i].ns = calloc((size_t)o->reps, sizeof(uint64_t));
        rep->rows[i].gen_ns = calloc((size_t)o->reps, sizeof(uint64_t));
        if (!rep->rows[i].ns || !rep->rows[i].gen_ns) {
            fprintf(stderr, "celer bench: out of memory\n");
            return false;
        }
    }
    return true;
}

static double row_mean_ns(const bench_row *row) {
    double s = 0.0;
    for (int32_t i = 0; i < row->n_samples; i++) s += (double)row->ns[i];
    return row->n_samples ? s / row->n_samples : 0.0;
}

/* Every test, the profile, then the whole-run figures. */
static bool bench_run_all(bench_runner *r, bench_report *rep) {
    const bench_options *o = rep->o;
    bench_row *rows = rep->rows;
    for (int32_t i = 0; i < rep->i_ttft; i++)
        if (!bench_test(r, o, &rows[i], NULL)) return false;
    bench_row *e2e = rep->i_e2e >= 0 ? &rows[rep->i_e2e] : NULL;
    if (!bench_test(r, o, &rows[rep->i_ttft], e2e)) return false;
    rep->ttft_ms = row_mean_ns(&rows[rep->i_ttft]) * 1e-6;
    if (e2e) rep->e2e_s = row_mean_ns(e2e) * 1e-9;
    if (o->profile && !bench_profile(r, &rows[0], &rows[1])) return false;
    rep->peak_rss_bytes = peak_rss_bytes();
    return true;
}

static void report_print(const bench_report *rep) {
    const bench_options *o = rep->o;
    if (o->format == FORMAT_MD) md_print(rep);
    else if (o->format == FORMAT_CSV) csv_print(rep);
    else if (o->format == FORMAT_JSON) json_print(rep);
    else
        for (int32_t i = 0; i < rep->n_rows; i++) json_row(rep, &rep->rows[i], false);
    if (o->profile && (o->format == FORMAT_MD || o->format == FORMAT_CSV)) {
        FILE *out = o->format == FORMAT_MD ? stdout : stderr;
        profile_print(out, &rep->rows[0]);
        profile_print(out, &rep->rows[1]);
    }
    fflush(stdout);
}

static void report_free(bench_report *rep) {
    for (int32_t i = 0; i < rep->n_rows; i++) {
        free(rep->rows[i].ns);
        free(rep->rows[i].gen_ns);
    }
}

static int bench_main(bench_options *o, celer_model *m, uint64_t mem_avail, const char *mem_why) {
    int32_t n_ctx = bench_fit_context(o, m, o->model_path);
    if (n_ctx == 0) return 1;
    uint64_t kv = celer_model_kv_bytes_per_pos(m) * (uint64_t)n_ctx, need = celer_model_file_bytes(m) + kv;
    if (mem_avail != UINT64_MAX && need > mem_avail) {
        fprintf(stderr,
                "celer bench: the model (%.1f MiB) and a KV cache of %d positions (%.1f MiB) need %.1f MiB but only "
                "%.1f MiB of memory is available (%s); lower -p, -n, -pg or --answer, or use a smaller model\n",
                mib(celer_model_file_bytes(m)), n_ctx, mib(kv), mib(need), mib(mem_avail), mem_why);
        return 1;
    }
    bench_report rep = {0};
    report_init(&rep, o, m);
    uint64_t probe_bytes = 3ull * BENCH_PROBE_MIB * 1024 * 1024;
    if (o->probe && mem_avail != UINT64_MAX && need + probe_bytes > mem_avail) {
        fprintf(stderr, "celer bench: note: no memory bandwidth probe: its %.0f MiB do not fit beside the model\n",
                mib(probe_bytes));
    } else if (o->probe) {
        rep.mem_bw_gbps = probe_bandwidth_isolated(o->n_threads);
        if (rep.mem_bw_gbps > 0)
            fprintf(stderr, "celer bench: memory bandwidth %.2f GB/s (STREAM triad over 3 x %d MiB, %d threads)\n",
                    rep.mem_bw_gbps, BENCH_PROBE_MIB, o->n_threads);
        else fprintf(stderr, "celer bench: note: the memory bandwidth probe could not run\n");
    }
    celer_context_params cp;
    celer_context_params_default(&cp);
    cp.n_ctx = n_ctx;
    cp.n_batch = o->n_batch;
    cp.n_threads = o->n_threads;
    cp.gpu = o->gpu;
    celer_error err = {0};
    bench_runner r = {.rng = 0x9e3779b97f4a7c15ull, .n_vocab = celer_model_n_vocab(m)};
    r.bos = celer_model_adds_bos(m) ? celer_token_bos(m) : -1;
    if (celer_context_new(m, &cp, &r.ctx, &err) != CELER_OK) {
        fprintf(stderr, "celer bench: cannot create a context of %d positions: %s\n", n_ctx, err.msg);
        return 1;
    }
    int rc = 1;
    if (celer_batch_init(&r.batch, o->n_batch, &err) != CELER_OK) fprintf(stderr, "celer bench: %s\n", err.msg);
    else if (report_add_rows(&rep, o) && bench_run_all(&r, &rep)) {
        report_print(&rep);
        rc = 0;
    }
    report_free(&rep);
    celer_batch_free(&r.batch);
    celer_context_free(r.ctx);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    celer_context_params c;
    celer_context_params_default(&c);
    bench_options o = {.n_prompt = 512, .n_gen = 128, .n_answer = -1, .reps = 5, .n_threads = c.n_threads,
                       .n_batch = c.n_batch, .format = FORMAT_MD, .probe = true, .warmup = true};
    int rc = bench_parse(argc, argv, &o);
    if (rc == 1) {
        bench_usage(stdout);
        return 0;
    }
    if (rc != 0) return rc;
    o.model_path = cli_model_path(o.model_path);
    /* A model larger than the memory left would only thrash (or be killed): refuse it. */
    const char *mem_why = "";
    uint64_t mem_avail = memory_available(&mem_why);
    struct stat sb;
    if (stat(o.model_path, &sb) == 0 && S_ISREG(sb.st_mode) && mem_avail != UINT64_MAX && (uint64_t)sb.st_size > mem_avail) {
        fprintf(stderr, "celer bench: %s is %.1f MiB but only %.1f MiB of memory is available (%s): the model does not fit\n",
                o.model_path, mib((uint64_t)sb.st_size), mib(mem_avail), mem_why);
        return 1;
    }
    celer_error err = {0};
    celer_model *m = NULL;
    fprintf(stderr, "celer bench: loading %s\n", o.model_path);
    if (celer_model_load(o.model_path, &m, &err) != CELER_OK) {
        fprintf(stderr, "celer bench: %s\n", err.msg);
        return 1;
    }
    rc = bench_main(&o, m, mem_avail, mem_why);
    celer_model_free(m);
    return rc;
}
