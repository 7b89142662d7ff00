/* test_synth.c: `celer synth`'s library (model/synth.h): random blocks of every weight
 * type dequantize (by the reference) to values of the asked RMS and mean ~0; plans pick
 * the types asked for and fall back as llama.cpp does; the q3q4 mix puts Llama-3-70B
 * near 43.5 GB; bad shapes are refused with a message naming the problem; a written
 * file is exactly the planned size, the same for the same seed, loads with its
 * tokenizer and decodes to finite logits in every type; existing and unwritable outputs
 * are refused. Files go to a temporary directory, removed at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "celer.h"
#include "format/gguf.h"
#include "model/synth.h"
#include "quant/quant.h"

static const uint32_t all_types[] = {QUANT_F32,  QUANT_F16,  QUANT_BF16, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0, QUANT_Q5_1,
                                     QUANT_Q8_0, QUANT_Q2_K, QUANT_Q3_K, QUANT_Q4_K, QUANT_Q5_K, QUANT_Q6_K, QUANT_IQ4_NL};
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

static char tmp_dir[64];

static int make_tmp(void **state) {
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/celer_synth_XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A small Llama-3-like shape whose rows are multiples of 256: every type fits as asked. */
static synth_shape tiny_shape(void) {
    synth_shape s;
    assert_true(synth_shape_preset("llama3-8b", &s));
    s.like = "tiny";
    s.n_vocab = 1000, s.n_embd = 256, s.n_ff = 512, s.n_head = 4, s.n_head_kv = 2, s.n_layer = 2, s.n_ctx = 256;
    return s;
}

static void test_blocks_every_type(void **state) {
    (void)state;
    enum { N = 256 * 64 };
    float *values = malloc(N * sizeof(float));
    uint8_t *raw = malloc(N * 4);
    for (size_t k = 0; k < N_TYPES; k++) {
        const quant_traits *tr = quant_get_traits(all_types[k]);
        const float rms = 0.03f;
        synth_blocks b;
        assert_int_equal(synth_blocks_init(&b, all_types[k], rms, 7, NULL), CELER_OK);
        uint64_t rng = 12345;
        synth_blocks_fill(&b, raw, N / (uint64_t)tr->block_size, &rng);
        tr->dequantize_row(raw, values, N);
        double sum = 0, sum2 = 0;
        for (int i = 0; i < N; i++) {
            assert_true(isfinite(values[i]));
            sum += values[i], sum2 += (double)values[i] * values[i];
        }
        double got_rms = sqrt(sum2 / N), mean = sum / N;
        if (fabs(got_rms / rms - 1) > 0.04 || fabs(mean) > 0.03 * rms)
            fail_msg("%s: rms %g (want %g), mean %g", tr->name, got_rms, (double)rms, mean);
        synth_blocks_free(&b);
    }
    free(values);
    free(raw);
}

static const synth_tensor *find(const synth_plan *p, const char *name) {
    for (int32_t i = 0; i < p->n_tensors; i++)
        if (!strcmp(p->tensors[i].name, name)) return &p->tensors[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

static void test_plan_fallbacks(void **state) {
    (void)state;
    synth_shape s;
    assert_true(synth_shape_preset("smollm2-135m", &s));
    s.n_layer = 2;
    synth_plan p;
    struct {
        uint32_t asked, embd_576, down_1536;
    } cases[] = {{QUANT_Q4_K, QUANT_Q5_0, QUANT_Q4_K}, {QUANT_Q3_K, QUANT_IQ4_NL, QUANT_Q3_K}, {QUANT_Q2_K, QUANT_IQ4_NL, QUANT_Q2_K},
                 {QUANT_Q5_K, QUANT_Q5_1, QUANT_Q5_K}, {QUANT_Q6_K, QUANT_Q8_0, QUANT_Q6_K},   {QUANT_Q4_1, QUANT_Q4_1, QUANT_Q4_1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(synth_plan_init(&p, &s, cases[i].asked, SYNTH_MIX_NONE, 1, NULL), CELER_OK);
        assert_int_equal(find(&p, "token_embd.weight")->type, cases[i].embd_576);
        assert_int_equal(find(&p, "blk.1.attn_q.weight")->type, cases[i].embd_576);
        assert_int_equal(find(&p, "blk.1.ffn_down.weight")->type, cases[i].down_1536);
        assert_int_equal(find(&p, "blk.1.ffn_norm.weight")->type, QUANT_F32);
        assert_int_equal(p.n_tensors, 1 + 2 * 9 + 1); /* tied: no output.weight */
        assert_int_equal(p.n_fallback, cases[i].embd_576 == cases[i].asked ? 0 : 1 + 2 * 6);
        synth_plan_free(&p);
    }
    /* rows of 40: no 32-block fits, so f16 */
    synth_shape odd = tiny_shape();
    odd.n_embd = 40, odd.n_head = 2, odd.n_head_kv = 2;
    assert_int_equal(synth_plan_init(&p, &odd, QUANT_Q4_0, SYNTH_MIX_NONE, 1, NULL), CELER_OK);
    assert_int_equal(find(&p, "blk.0.attn_k.weight")->type, QUANT_F16);
    assert_int_equal(find(&p, "blk.0.ffn_down.weight")->type, QUANT_Q4_0); /* 512 columns */
    synth_plan_free(&p);
}

static void test_plan_mix_70b(void **state) {
    (void)state;
    synth_shape s;
    assert_true(synth_shape_preset("llama3-70b", &s));
    synth_plan p;
    assert_int_equal(synth_plan_init(&p, &s, 0, SYNTH_MIX_Q3Q4, 1, NULL), CELER_OK);
    assert_int_equal(p.n_tensors, 1 + 80 * 9 + 2);
    assert_true(p.file_bytes > 43000000000ull && p.file_bytes < 44000000000ull);
    double bpw = 8.0 * (double)p.weight_bytes / (double)p.n_params;
    assert_true(bpw > 4.8 && bpw < 5.0);
    assert_int_equal(find(&p, "blk.0.ffn_gate.weight")->type, QUANT_Q4_K);
    assert_int_equal(find(&p, "blk.40.ffn_up.weight")->type, QUANT_Q3_K);
    assert_int_equal(find(&p, "blk.79.ffn_up.weight")->type, QUANT_Q4_K);
    assert_int_equal(find(&p, "blk.40.ffn_down.weight")->type, QUANT_Q4_K);
    assert_int_equal(find(&p, "blk.40.attn_v.weight")->type, QUANT_Q8_0);
    assert_int_equal(find(&p, "output.weight")->type, QUANT_Q6_K);
    assert_non_null(strstr(p.plan_text, "ffn_gate: q3_K x40, q4_K x40"));
    synth_plan_free(&p);
}

static void expect_refused(synth_shape s, uint32_t type, const char *want) {
    synth_plan p;
    celer_error err = {0};
    assert_int_equal(synth_plan_init(&p, &s, type, SYNTH_MIX_NONE, 1, &err), CELER_ERR_INVALID_ARG);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static void test_bad_shapes(void **state) {
    (void)state;
    synth_shape s = tiny_shape();
    s.n_head = 3;
    expect_refused(s, QUANT_Q4_K, "--n-head 3 does not divide --n-embd 256");
    s = tiny_shape(), s.n_head_kv = 3;
    expect_refused(s, QUANT_Q4_K, "--n-head-kv 3 does not divide --n-head 4");
    s = tiny_shape(), s.n_ff = 0;
    expect_refused(s, QUANT_Q4_K, "--n-ff is 0");
    s = tiny_shape(), s.n_layer = -2;
    expect_refused(s, QUANT_Q4_K, "--n-layer is -2");
    s = tiny_shape(), s.n_vocab = 100;
    expect_refused(s, QUANT_Q4_K, "--vocab 100 is too small");
    s = tiny_shape(), s.n_embd = 2 * 1030, s.n_head = 2, s.n_head_kv = 2;
    expect_refused(s, QUANT_Q4_K, "head dim 1030");
    expect_refused(tiny_shape(), QUANT_Q8_K, "not a weight type");
    uint32_t t;
    assert_true(synth_parse_type("Q4_K", &t) && t == QUANT_Q4_K);
    assert_true(synth_parse_type("bf16", &t) && t == QUANT_BF16);
    assert_false(synth_parse_type("q8_K", &t));
    assert_false(synth_parse_type("q4_k_m", &t));
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Loads path, decodes a prompt of the tokenizer's own tokens, checks the logits. */
static void load_and_decode(const char *path, const char *what) {
    celer_model *m = NULL;
    celer_error err = {0};
    if (celer_model_load(path, &m, &err) != CELER_OK) fail_msg("%s: %s", what, err.msg);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(celer_tokenize(m, "the cat and the hat", 19, true, true, &ids, &n, &err), CELER_OK);
    assert_true(n >= 5 && n < 19); /* merges joined some bytes */
    celer_context_params cp;
    celer_context_params_default(&cp);
    cp.n_ctx = 64, cp.n_threads = 2;
    celer_context *ctx = NULL;
    assert_int_equal(celer_context_new(m, &cp, &ctx, &err), CELER_OK);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, 32, &err), CELER_OK);
    for (size_t i = 0; i < n; i++) assert_int_equal(celer_batch_add(&b, ids[i], (int32_t)i, 0, i + 1 == n, &err), CELER_OK);
    if (celer_decode(ctx, &b, &err) != CELER_OK) fail_msg("%s: %s", what, err.msg);
    const float *logits = celer_get_logits(ctx, 0);
    double sum2 = 0;
    float lo = logits[0], hi = logits[0];
    for (int32_t i = 0; i < celer_model_n_vocab(m); i++) {
        if (!isfinite(logits[i])) fail_msg("%s: logit %d is %g", what, i, (double)logits[i]);
        sum2 += (double)logits[i] * logits[i];
        lo = logits[i] < lo ? logits[i] : lo, hi = logits[i] > hi ? logits[i] : hi;
    }
    double rms = sqrt(sum2 / celer_model_n_vocab(m)); /* well-scaled: neither vanishing nor exploding */
    if (!(rms > 0.05 && rms < 20 && hi > lo)) fail_msg("%s: logits rms %g, range [%g, %g]", what, rms, (double)lo, (double)hi);
    celer_batch_free(&b);
    celer_context_free(ctx);
    free(ids);
    celer_model_free(m);
}

static void test_write_every_type(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/tiny.gguf", tmp_dir);
    for (size_t k = 0; k < N_TYPES + 1; k++) {
        synth_shape s = tiny_shape();
        synth_plan p;
        bool mix = k == N_TYPES;
        assert_int_equal(synth_plan_init(&p, &s, mix ? 0 : all_types[k], mix ? SYNTH_MIX_Q3Q4 : SYNTH_MIX_NONE, 3, NULL), CELER_OK);
        assert_int_equal(p.n_fallback, 0);
        celer_error err = {0};
        if (synth_write(&p, path, true, 0, NULL, NULL, &err) != CELER_OK) fail_msg("%s", err.msg);
        assert_int_equal(file_size(path), (long)p.file_bytes);
        load_and_decode(path, mix ? "q3q4" : quant_type_name(all_types[k]));
        synth_plan_free(&p);
    }
    /* and a shape with fallbacks and tied embeddings */
    synth_shape s;
    assert_true(synth_shape_preset("smollm2-135m", &s));
    s.n_layer = 1, s.n_vocab = 2000;
    synth_plan p;
    assert_int_equal(synth_plan_init(&p, &s, QUANT_Q3_K, SYNTH_MIX_NONE, 3, NULL), CELER_OK);
    assert_int_equal(synth_write(&p, path, true, 0, NULL, NULL, NULL), CELER_OK);
    load_and_decode(path, "smollm2 q3_K");
    synth_plan_free(&p);
}

static char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *n = file_size(path);
    char *buf = malloc((size_t)*n);
    assert_int_equal(fread(buf, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return buf;
}

static void write_tiny(const char *path, uint64_t seed, int n_threads) {
    synth_shape s = tiny_shape();
    s.n_vocab = 5000; /* a 720 KB embedding: several 256 KiB segments */
    synth_plan p;
    assert_int_equal(synth_plan_init(&p, &s, QUANT_Q4_K, SYNTH_MIX_NONE, seed, NULL), CELER_OK);
    assert_int_equal(synth_write(&p, path, true, n_threads, NULL, NULL, NULL), CELER_OK);
    synth_plan_free(&p);
}

/* The same seed gives the same bytes, with any number of threads; another seed other
 * weights (compared past the header, which records the seed). */
static void test_same_seed_same_file(void **state) {
    (void)state;
    char a[128], b[128];
    snprintf(a, sizeof(a), "%s/a.gguf", tmp_dir);
    snprintf(b, sizeof(b), "%s/b.gguf", tmp_dir);
    long na, nb;
    write_tiny(a, 1, 1);
    for (uint64_t seed = 0; seed <= 2; seed++) {
        write_tiny(b, seed ? seed : 1, seed ? 3 : 2);
        char *x = slurp(a, &na), *y = slurp(b, &nb);
        assert_int_equal(na, nb);
        long tail = na / 2;
        bool same = memcmp(x + na - tail, y + nb - tail, (size_t)tail) == 0;
        assert_true(seed <= 1 ? same : !same);
        free(x), free(y);
    }
}

static void test_refused_outputs(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/exists.gguf", tmp_dir);
    FILE *f = fopen(path, "w");
    fputs("keep me", f);
    fclose(f);
    synth_shape s = tiny_shape();
    synth_plan p;
    assert_int_equal(synth_plan_init(&p, &s, QUANT_Q8_0, SYNTH_MIX_NONE, 1, NULL), CELER_OK);
    celer_error err = {0};
    assert_int_equal(synth_write(&p, path, false, 0, NULL, NULL, &err), CELER_ERR_IO);
    assert_non_null(strstr(err.msg, "exists (--force overwrites it)"));
    assert_int_equal(file_size(path), 7);
    assert_int_equal(synth_write(&p, "/nonexistent-dir/x.gguf", true, 0, NULL, NULL, &err), CELER_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir"));
    assert_int_equal(synth_write(&p, tmp_dir, true, 0, NULL, NULL, &err), CELER_ERR_IO);
    assert_non_null(strstr(err.msg, "is a directory"));
    synth_plan_free(&p);
}

/* The writer's streaming pieces: an info-only tensor's size, a header whose data section
 * follows it, and the writer's own outputs refusing a tensor without bytes. */
static void test_writer_streaming_api(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    int64_t ne[2] = {256, 3};
    uint64_t size = 0;
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "llama", NULL), CELER_OK);
    assert_int_equal(gguf_writer_add_tensor_info(w, "a", QUANT_Q4_K, 2, ne, &size, NULL), CELER_OK);
    assert_int_equal(size, 3 * 144);
    assert_int_equal(gguf_writer_add_tensor_info(w, "a", QUANT_Q4_K, 2, ne, NULL, NULL), CELER_ERR_INVALID_ARG);
    ne[0] = 100;
    assert_int_equal(gguf_writer_add_tensor_info(w, "b", QUANT_Q4_K, 2, ne, NULL, NULL), CELER_ERR_INVALID_ARG);
    void *header = NULL, *buf = NULL;
    size_t header_size = 0, buf_size = 0;
    uint64_t alignment = 0, data_size = 0;
    assert_int_equal(gguf_writer_header(w, &header, &header_size, &alignment, &data_size, NULL), CELER_OK);
    assert_int_equal(alignment, 32);
    assert_int_equal(header_size % 32, 0);
    assert_int_equal(data_size, 448); /* 432 bytes padded to the alignment */
    celer_error err = {0};
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &buf_size, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "tensor 'a' has no data"));
    free(header);
    gguf_writer_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_every_type), cmocka_unit_test(test_plan_fallbacks),
        cmocka_unit_test(test_plan_mix_70b),      cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_write_every_type),  cmocka_unit_test(test_same_seed_same_file),
        cmocka_unit_test(test_refused_outputs),   cmocka_unit_test(test_writer_streaming_api),
    };
    return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
