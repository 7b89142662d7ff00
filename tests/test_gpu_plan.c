/* test_gpu_plan.c: the CUDA backend's host-side logic, which runs without a GPU: the
 * memory plan's numbers on a small synthetic model (weights, KV cache, attention splits,
 * the largest context that fits, the refusal line with its numbers), and `gpu = true` on
 * a machine or build without CUDA giving a clear error instead of a hang or an abort.
 * Built and run in every configuration (src/backend/cuda/cuda_plan.c is plain C). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_plan.h"
#include "celer.h"
#include "quant/quant.h"

static uint8_t dummy[64]; /* tensor data is never read by the plan, only told apart */

static model_tensor tensor(uint32_t type, int64_t cols, int64_t rows, int tag) {
    return (model_tensor){.name = "t", .type = type, .ne = {cols, rows}, .row_bytes = quant_row_size(type, cols), .data = dummy + tag};
}

/* 2 layers, n_embd 256, 4 heads of 64 (2 KV heads), n_ff 512, 1000 tokens, tied head. */
static void tiny_model(model *m, model_layer layers[2]) {
    memset(m, 0, sizeof(*m));
    m->hp = (model_hparams){.n_vocab = 1000, .n_ctx_train = 8192, .n_embd = 256, .n_layer = 2, .n_head = 4, .n_head_kv = 2,
                            .head_dim = 64, .n_ff = 512, .n_rot = 64, .rope_freq_base = 10000.0f, .rope_freq_scale = 1.0f,
                            .norm_eps = 1e-5f, .tied_output = true};
    m->tok_embd = tensor(QUANT_Q8_0, 256, 1000, 0);
    m->output = m->tok_embd;
    m->output_norm = tensor(QUANT_F32, 256, 1, 1);
    for (int i = 0; i < 2; i++) {
        model_layer *l = &layers[i];
        memset(l, 0, sizeof(*l));
        l->attn_norm = tensor(QUANT_F32, 256, 1, 2);
        l->wq = tensor(QUANT_Q4_0, 256, 256, 3);
        l->wk = tensor(QUANT_Q4_0, 256, 128, 4);
        l->wv = tensor(QUANT_Q4_0, 256, 128, 5);
        l->wo = tensor(QUANT_Q4_0, 256, 256, 6);
        l->ffn_norm = tensor(QUANT_F32, 256, 1, 7);
        l->w_gate = tensor(QUANT_Q4_K, 256, 512, 8);
        l->w_up = tensor(QUANT_Q4_K, 256, 512, 9);
        l->w_down = tensor(QUANT_Q6_K, 512, 256, 10);
    }
    m->layers = layers;
}

static void test_plan_numbers(void **state) {
    (void)state;
    model m;
    model_layer layers[2];
    tiny_model(&m, layers);
    const model_tensor *ts[GPU_PLAN_MAX_TENSORS(2)];
    assert_int_equal(gpu_plan_tensors(&m, ts), 2 + 2 * 9); /* embedding (= head), output norm, 9 per layer */
    gpu_plan p;
    gpu_plan_compute(&m, 100, 32, &p);
    assert_int_equal(p.n_cells, 112); /* whole KV blocks of 16 */
    assert_int_equal(p.decode_chunks, 1);
    /* embedding 1000 x 272 B = 272000 -> 272128; norms 1024 each (5 of them);
     * per layer: wq 256 x 144 = 36864, wk, wv 18432 each, wo 36864, gate and up 512 x 144 =
     * 73728 each, down 256 x 420 = 107520 (all multiples of 256) */
    const uint64_t per_layer = 1024 + 36864 + 18432 + 18432 + 36864 + 1024 + 73728 + 73728 + 107520;
    assert_int_equal(p.weights, 272128 + 1024 + 2 * per_layer);
    assert_int_equal(p.kv, 2ull * 2 * 112 * 128 * 2);
    assert_int_equal(p.sizes.logits, 32 * 1000);
    assert_int_equal(p.sizes.partial, 32 * 4 * 66); /* prefill: a partial per token and head beats 8 x 4 x 1 chunk */
    assert_int_equal(p.sizes.x16, 32 * 512);
    assert_int_equal(p.sizes.w16, 1000 * 256); /* the widest product: the tied head, 1000 rows */
    assert_int_equal(p.sizes.inputs, 5 * 32 + 7);
    assert_int_equal(p.total, p.weights + p.kv + p.scratch + GPU_PLAN_RESERVE);
    gpu_plan_compute(&m, 1000, 1, &p);
    assert_int_equal(p.n_cells, 1008);
    assert_int_equal(p.decode_chunks, 4);
    assert_int_equal(p.sizes.partial, 8 * 4 * 4 * 66); /* decode: 8 tokens x 4 heads x 4 chunks */
    gpu_plan_compute(&m, 100000, 1, &p);
    assert_int_equal(p.decode_chunks, GPU_ATTENTION_MAX_CHUNKS); /* longer chunks, not more */
    assert_int_equal(gpu_plan_tile_rows(100000, 4096), (1 << 24) / 4096);
    assert_int_equal(gpu_plan_tile_rows(10, 4096), 10);
}

static void test_plan_fit(void **state) {
    (void)state;
    model m;
    model_layer layers[2];
    tiny_model(&m, layers);
    gpu_plan p;
    gpu_plan_compute(&m, 4096, 64, &p);
    assert_int_equal(gpu_plan_max_ctx(&m, 64, p.total, 1 << 20), 4096);
    assert_int_equal(gpu_plan_max_ctx(&m, 64, p.total - 1, 1 << 20), 4096 - 16);
    assert_int_equal(gpu_plan_max_ctx(&m, 64, p.total, 1000), 992); /* the limit, in whole blocks */
    celer_error err = {0};
    assert_int_equal(gpu_plan_check(&p, &m, p.total, "test GPU", &err), CELER_OK);
    assert_int_equal(gpu_plan_check(&p, &m, p.total - 1, "test GPU", &err), CELER_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "does not fit on test GPU"));
    assert_non_null(strstr(err.msg, "(4096 positions)"));
    assert_non_null(strstr(err.msg, "-c 4080 would fit"));
    assert_int_equal(gpu_plan_check(&p, &m, 1 << 20, "test GPU", &err), CELER_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "the weights alone do not fit"));
    assert_int_equal(gpu_plan_max_ctx(&m, 64, 1 << 20, 1 << 20), 0);
}

/* --gpu without a usable device: a clear error, never a hang or an abort. With a GPU in a
 * CUDA build the context is created (tests/test_cuda_forward.c checks what it computes). */
static void test_gpu_context_without_device(void **state) {
    (void)state;
    const char *path = getenv("CELER_MODEL");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "SKIPPED: model not found at %s (run scripts/get-model.sh)\n", path ? path : "$CELER_MODEL");
        skip();
    }
    fclose(f);
    celer_error err = {0};
    celer_model *model = NULL;
    assert_int_equal(celer_model_load(path, &model, &err), CELER_OK);
    celer_context_params p;
    celer_context_params_default(&p);
    assert_false(p.gpu);
    p.gpu = true;
    p.n_ctx = 256;
    celer_context *ctx = NULL;
    celer_status st = celer_context_new(model, &p, &ctx, &err);
#ifdef CELER_HAVE_CUDA
    if (st == CELER_OK) {
        fprintf(stderr, "note: a CUDA device is present: the --gpu context was created (backend %s)\n", celer_context_backend(ctx));
        assert_string_equal(celer_context_backend(ctx), "cuda");
        celer_context_free(ctx);
    } else {
        fprintf(stderr, "no device, as expected here: %s\n", err.msg);
        assert_int_equal(st, CELER_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "--gpu: no CUDA device: cudaGetDeviceCount: "));
        assert_null(ctx);
    }
#else
    assert_int_equal(st, CELER_ERR_UNSUPPORTED);
    assert_string_equal(err.msg, "--gpu: this celer was built without CUDA: cmake -DCELER_CUDA=ON");
    assert_null(ctx);
#endif
    p.gpu = false; /* the CPU path is untouched */
    assert_int_equal(celer_context_new(model, &p, &ctx, &err), CELER_OK);
    assert_string_equal(celer_context_backend(ctx), "cpu");
    celer_context_free(ctx);
    celer_model_free(model);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_numbers),
        cmocka_unit_test(test_plan_fit),
        cmocka_unit_test(test_gpu_context_without_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
