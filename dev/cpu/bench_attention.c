/* bench_attention.c: timing of cpu_attention for one layer of a prompt (SmolLM2's shape:
 * 9 query heads over 3 KV heads of 64), for comparing attention versions (the numbers
 * in docs/benchmarks.md, "what each piece gained"). Correctness is tests/test_ops.c's.
 *
 *   cc -O2 -march=native -Isrc -Iinclude dev/cpu/bench_attention.c build/libceler.a \
 *      -lcjson -lpcre2-8 -lmicrohttpd -lm -lpthread -o /tmp/bench_attention
 *   /tmp/bench_attention [THREADS] [TOKENS]      default 1 thread, 512 tokens
 *
 * Prints the best of 10 runs of all TOKENS tokens attending causally over themselves. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/cpu/ops.h"
#include "core/half.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const int n_threads = argc > 1 ? atoi(argv[1]) : 1, n = argc > 2 ? atoi(argv[2]) : 512;
    enum { HD = 64, NH = 9, NKV = 3 };
    if (n_threads < 1 || n < 1) return 2;
    const int n_ctx = n;
    model_hparams hp = {.head_dim = HD, .n_head = NH, .n_head_kv = NKV};
    kv_cache *kv = NULL;
    celer_batch b;
    threadpool *pool = NULL;
    if (kv_cache_init(&kv, 1, NKV * HD, n_ctx, 2, NULL) != CELER_OK || celer_batch_init(&b, n, NULL) != CELER_OK ||
        threadpool_init(&pool, n_threads, NULL) != CELER_OK)
        return 1;
    for (int p = 0; p < n; p++) celer_batch_add(&b, 0, p, 1, true, NULL);
    if (kv_cache_reserve(kv, &b, NULL) != CELER_OK) return 1;
    for (int p = 0; p < n; p++)
        for (int d = 0; d < NKV * HD; d++) {
            kv_cache_k(kv, 0, 1, p)[d] = celer_fp32_to_fp16((float)rand() / (float)RAND_MAX - 0.5f);
            kv_cache_v(kv, 0, 1, p)[d] = celer_fp32_to_fp16((float)rand() / (float)RAND_MAX - 0.5f);
        }
    float *q = malloc(sizeof(float) * (size_t)n * NH * HD), *out = malloc(sizeof(float) * (size_t)n * NH * HD);
    float *scores = malloc(cpu_attention_scores_floats(n_threads, NH, NKV, HD, n_ctx) * sizeof(float));
    if (!q || !out || !scores) return 1;
    for (int i = 0; i < n * NH * HD; i++) q[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    cpu_attention_args a = {.q = q, .out = out, .pos = b.pos, .seq_id = b.seq_id, .n = n, .layer = 0, .n_ctx = n_ctx, .hp = &hp,
                            .kv = kv, .scores = scores};
    double best = 1e30;
    for (int it = 0; it < 10; it++) {
        double t0 = now_s();
        cpu_attention(pool, &a);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    printf("attention, one layer, %d tokens, %d threads: %.2f ms\n", n, n_threads, best * 1e3);
    free(q);
    free(out);
    free(scores);
    threadpool_free(pool);
    celer_batch_free(&b);
    kv_cache_free(kv);
    return 0;
}
