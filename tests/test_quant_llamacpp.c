/* test_quant_llamacpp.c: celer's quantized files are what llama.cpp reads. The model is
 * quantized with the pins of tests/data/golden/mix/pins.tsv (every type celer writes,
 * no calibration, so the bytes are those scripts/make_mix_golden.py gave llama.cpp);
 * the file's tensor types must be the ones llama.cpp's side recorded, and celer's logits
 * on it (the longest parity prompt) must match llama.cpp's (tests/data/golden/mix/logits.f32) as closely as the two
 * engines match on the shipped file (test_parity.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "celer.h"
#include "engine/engine_internal.h"
#include "format/gguf.h"
#include "quant/quant.h"
#include "quantize/qplan.h"
#include "quantize/qrun.h"

static char *golden_path(const char *name) {
    const char *src = getenv("CELER_SOURCE_DIR");
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/tests/data/golden/%s", src ? src : ".", name);
    return buf;
}

static uint32_t type_by_name(const char *name) {
    for (uint32_t t = 0; t < QUANT_TYPE_COUNT; t++)
        if (quant_get_traits(t) && strcmp(quant_type_name(t), name) == 0) return t;
    fail_msg("unknown type '%s' in pins.tsv", name);
    return 0;
}

static void test_llamacpp_reads_celer(void **state) {
    (void)state;
    const char *mpath = getenv("CELER_MODEL");
    celer_model *cm = NULL;
    celer_error err = {0};
    if (!mpath || celer_model_load(mpath, &cm, &err) != CELER_OK) {
        fprintf(stderr, "SKIPPED: model not found at %s (run scripts/get-model.sh)\n", mpath ? mpath : "$CELER_MODEL");
        return;
    }
    qz_state s;
    assert_int_equal(qz_collect(&s, celer_model_bound(cm), 2, &err), CELER_OK);
    FILE *f = fopen(golden_path("mix/pins.tsv"), "r");
    assert_non_null(f);
    char line[512];
    uint32_t base = QUANT_Q8_0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        if (strcmp(line, "base") == 0) base = type_by_name(tab + 1);
        else assert_int_equal(qz_pin(&s, line, type_by_name(tab + 1), &err), CELER_OK);
    }
    fclose(f);
    assert_int_equal(qz_plan_uniform(&s, base, &err), CELER_OK);
    char path[] = "/tmp/celer-test-mix-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(qz_write(&s, path, NULL, &err), CELER_OK);

    /* the types llama.cpp's side saw */
    gguf_file *g = NULL;
    assert_int_equal(gguf_open(path, &g, &err), CELER_OK);
    f = fopen(golden_path("mix/types.tsv"), "r");
    assert_non_null(f);
    int n_types = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        const gguf_tensor *t = gguf_find_tensor(g, line);
        assert_non_null(t);
        if (strcasecmp(quant_type_name(t->type), tab + 1) != 0) fail_msg("%s: %s here, %s in llama.cpp's file", line, quant_type_name(t->type), tab + 1);
        n_types++;
    }
    fclose(f);
    assert_int_equal((uint64_t)n_types, g->n_tensors);
    gguf_close(g);

    /* the longest prompt of the parity goldens */
    f = fopen(golden_path("model/prompts.tsv"), "r");
    assert_non_null(f);
    static char big[1 << 16];
    static int32_t ids[4096];
    int n = 0;
    while (fgets(big, sizeof(big), f)) {
        if (big[0] == '#') continue;
        char *p = strchr(big, '\t');
        p = p ? strchr(p + 1, '\t') : NULL;
        assert_non_null(p);
        char *end = strchr(p + 1, '\t'); /* the ids field ends at the next tab */
        if (end) *end = '\0';
        int32_t row[4096];
        int k = 0;
        for (char *tok = strtok(p + 1, " \n"); tok && k < 4096; tok = strtok(NULL, " \n")) row[k++] = (int32_t)strtol(tok, NULL, 10);
        if (k > n) {
            memcpy(ids, row, (size_t)k * sizeof(int32_t));
            n = k;
        }
    }
    fclose(f);
    assert_true(n > 4);
    celer_model *q = NULL;
    assert_int_equal(celer_model_load(path, &q, &err), CELER_OK);
    celer_context_params cp;
    celer_context_params_default(&cp);
    cp.n_ctx = 1024;
    cp.n_batch = 512;
    cp.n_threads = 2;
    celer_context *ctx = NULL;
    assert_int_equal(celer_context_new(q, &cp, &ctx, &err), CELER_OK);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, 512, &err), CELER_OK);
    for (int start = 0; start < n; start += 512) {
        celer_batch_clear(&b);
        for (int i = start; i < n && i < start + 512; i++) celer_batch_add(&b, ids[i], i, 0, i == n - 1, &err);
        assert_int_equal(celer_decode(ctx, &b, &err), CELER_OK);
    }
    int32_t nv = celer_model_n_vocab(q);
    const float *mine = celer_get_logits(ctx, 0);
    float *ref = malloc((size_t)nv * sizeof(float));
    f = fopen(golden_path("mix/logits.f32"), "rb");
    assert_non_null(f);
    assert_int_equal(fread(ref, sizeof(float), (size_t)nv, f), (size_t)nv);
    fclose(f);
    float *la = malloc((size_t)nv * sizeof(float)), *lb = malloc((size_t)nv * sizeof(float));
    qrun_log_softmax(ref, la, nv);
    qrun_log_softmax(mine, lb, nv);
    double kl = 0.0, max_diff = 0.0;
    int32_t top_ref = 0, top_mine = 0;
    for (int32_t i = 0; i < nv; i++) {
        kl += exp((double)la[i]) * ((double)la[i] - (double)lb[i]);
        max_diff = fmax(max_diff, fabs((double)ref[i] - (double)mine[i]));
        if (ref[i] > ref[top_ref]) top_ref = i;
        if (mine[i] > mine[top_mine]) top_mine = i;
    }
    fprintf(stderr, "mixed file (%d prompt tokens): KL(llama.cpp || celer) %.5f, max |logit diff| %.4f, top %d / %d\n", n, kl, max_diff,
            top_ref, top_mine);
    assert_true(kl < 0.05); /* test_parity's per-prompt tolerance */
    assert_int_equal(top_ref, top_mine);
    free(ref), free(la), free(lb);
    celer_batch_free(&b);
    celer_context_free(ctx);
    celer_model_free(q);
    unlink(path);
    qz_free(&s);
    celer_model_free(cm);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_llamacpp_reads_celer)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
