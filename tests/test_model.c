/* test_model.c: hyper-parameters and tensor binding on small synthetic GGUF files built
 * with the writer: a valid Llama-shaped model loads, also with its matrices in a block
 * type (every weight type celer runs, IQ4_NL included); each kind of defect (missing key,
 * missing tensor, wrong shape, wrong type, unknown architecture, heads that do not
 * divide) is refused with a message that names it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "model/model.h"
#include "quant/quant.h"

enum { EMBD = 32, HEADS = 4, HEADS_KV = 2, FF = 64, LAYERS = 2, VOCAB = 40 };

typedef struct {
    const char *arch;
    const char *skip_tensor;  /* leave this tensor out */
    const char *bad_shape;    /* give this tensor one extra row */
    const char *f16_tensor;   /* store this tensor as f16 */
    const char *skip_key;     /* leave this metadata key out */
    uint32_t n_head;
    uint32_t matrix_type;     /* the type of the layers' matrices (0: f32) */
} variant;

static float zeros[VOCAB * FF * 2];

static void add(gguf_writer *w, const variant *v, const char *name, int64_t ne0, int64_t ne1) {
    if (v->skip_tensor && !strcmp(name, v->skip_tensor)) return;
    if (v->bad_shape && !strcmp(name, v->bad_shape)) ne1 += 1;
    uint32_t type = v->f16_tensor && !strcmp(name, v->f16_tensor) ? QUANT_F16 : QUANT_F32;
    if (v->matrix_type && ne1 > 1 && !strncmp(name, "blk.", 4)) type = v->matrix_type; /* zero bytes: zero values */
    int64_t ne[2] = {ne0, ne1};
    assert_int_equal(gguf_writer_add_tensor(w, name, type, ne1 == 1 ? 1 : 2, ne, zeros, NULL), CELER_OK);
}

static void key_u32(gguf_writer *w, const variant *v, const char *suffix, uint32_t value) {
    char key[96];
    snprintf(key, sizeof(key), "%s.%s", v->arch, suffix);
    if (v->skip_key && !strcmp(suffix, v->skip_key)) return;
    assert_int_equal(gguf_writer_set_u32(w, key, value, NULL), CELER_OK);
}

/* Builds the variant in memory; *buf is malloc'd. */
static celer_status build(const variant *v, void **buf, size_t *size) {
    gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", v->arch, NULL), CELER_OK);
    key_u32(w, v, "block_count", LAYERS);
    key_u32(w, v, "embedding_length", EMBD);
    key_u32(w, v, "feed_forward_length", FF);
    key_u32(w, v, "attention.head_count", v->n_head ? v->n_head : HEADS);
    key_u32(w, v, "attention.head_count_kv", HEADS_KV);
    key_u32(w, v, "context_length", 128);
    add(w, v, "token_embd.weight", EMBD, VOCAB);
    add(w, v, "output_norm.weight", EMBD, 1);
    int64_t hd = EMBD / HEADS;
    for (int il = 0; il < LAYERS; il++) {
        char n[64];
#define T(suffix, a, b) snprintf(n, sizeof(n), "blk.%d." suffix, il), add(w, v, n, a, b)
        T("attn_norm.weight", EMBD, 1);
        T("attn_q.weight", EMBD, HEADS * hd);
        T("attn_k.weight", EMBD, HEADS_KV * hd);
        T("attn_v.weight", EMBD, HEADS_KV * hd);
        T("attn_output.weight", HEADS * hd, EMBD);
        T("ffn_norm.weight", EMBD, 1);
        T("ffn_gate.weight", EMBD, FF);
        T("ffn_up.weight", EMBD, FF);
        T("ffn_down.weight", FF, EMBD);
#undef T
    }
    celer_status st = gguf_writer_to_buffer(w, buf, size, NULL);
    gguf_writer_free(w);
    return st;
}

static celer_status load(const variant *v, model **m, celer_error *err, void **buf) {
    size_t size = 0;
    assert_int_equal(build(v, buf, &size), CELER_OK);
    gguf_file *f = NULL;
    assert_int_equal(gguf_parse(*buf, size, &f, NULL), CELER_OK);
    return model_load(m, f, "test.gguf", err);
}

static void test_valid_model(void **state) {
    (void)state;
    variant v = {.arch = "llama"};
    model *m = NULL;
    void *buf = NULL;
    celer_error err = {0};
    celer_status st = load(&v, &m, &err, &buf);
    if (st != CELER_OK) fail_msg("%s", err.msg);
    assert_int_equal(m->hp.n_layer, LAYERS);
    assert_int_equal(m->hp.n_head_kv, HEADS_KV);
    assert_int_equal(m->hp.head_dim, EMBD / HEADS);
    assert_int_equal(m->hp.n_rot, EMBD / HEADS);
    assert_int_equal(m->hp.n_vocab, VOCAB);
    assert_true(m->hp.tied_output);
    assert_true(m->output.data == m->tok_embd.data);
    assert_true(m->hp.rope_freq_base == 10000.0f);
    assert_int_equal(m->hp.rope_pairs, ROPE_PAIRS_ADJACENT);
    model_free(m);
    free(buf);
}

/* The matrices in each block type the kernels run (zero blocks decode to zeros). */
static void test_matrix_types(void **state) {
    (void)state;
    const uint32_t types[] = {QUANT_F16, QUANT_BF16, QUANT_Q4_0, QUANT_Q4_1, QUANT_Q5_0, QUANT_Q5_1, QUANT_Q8_0, QUANT_IQ4_NL};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        variant v = {.arch = "llama", .matrix_type = types[i]};
        model *m = NULL;
        void *buf = NULL;
        celer_error err = {0};
        if (load(&v, &m, &err, &buf) != CELER_OK) fail_msg("%s matrices: %s", quant_type_name(types[i]), err.msg);
        assert_int_equal(m->layers[1].w_down.type, types[i]);
        assert_int_equal(m->layers[0].wq.row_bytes, quant_row_size(types[i], EMBD));
        model_free(m);
        free(buf);
    }
}

static void expect_error(variant v, celer_status want, const char *needle) {
    model *m = NULL;
    void *buf = NULL;
    celer_error err = {0};
    celer_status st = load(&v, &m, &err, &buf);
    if (st != want || !strstr(err.msg, needle))
        fail_msg("status %d (want %d), message '%s' (want it to contain '%s')", st, want, err.msg, needle);
    assert_null(m);
    free(buf);
}

static void test_defects(void **state) {
    (void)state;
    expect_error((variant){.arch = "llama", .skip_tensor = "blk.1.ffn_down.weight"}, CELER_ERR_FORMAT, "'blk.1.ffn_down.weight' is missing");
    expect_error((variant){.arch = "llama", .bad_shape = "blk.0.attn_k.weight"}, CELER_ERR_FORMAT, "'blk.0.attn_k.weight' has shape [32, 17");
    expect_error((variant){.arch = "llama", .f16_tensor = "blk.0.ffn_norm.weight"}, CELER_ERR_UNSUPPORTED, "expected f32");
    expect_error((variant){.arch = "gpt2"}, CELER_ERR_UNSUPPORTED, "architecture 'gpt2' is not supported");
    expect_error((variant){.arch = "llama", .skip_key = "block_count"}, CELER_ERR_FORMAT, "'llama.block_count' is missing");
    expect_error((variant){.arch = "llama", .n_head = 5}, CELER_ERR_FORMAT, "do not divide evenly");
    expect_error((variant){.arch = "qwen2"}, CELER_ERR_FORMAT, "'blk.0.attn_q.bias' is missing");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_model),
        cmocka_unit_test(test_matrix_types),
        cmocka_unit_test(test_defects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
