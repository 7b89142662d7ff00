/* test_kv_cache.c: the paged KV cache: positions must continue each sequence,
 * reservation is all-or-nothing, blocks return to the shared pool, rows of different
 * sequences never alias. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "engine/kv_cache.h"

static void add(celer_batch *b, int32_t pos, int32_t seq) { assert_int_equal(celer_batch_add(b, 1, pos, seq, false, NULL), CELER_OK); }

static void test_append_and_rows(void **state) {
    (void)state;
    kv_cache *kv = NULL;
    assert_int_equal(kv_cache_init(&kv, 2, 8, 64, 2, NULL), CELER_OK);
    assert_int_equal(kv_cache_total_blocks(kv), 64 / KV_BLOCK_SIZE);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, 64, NULL), CELER_OK);
    for (int32_t p = 0; p < 20; p++) add(&b, p, 0); /* 2 blocks */
    for (int32_t p = 0; p < 5; p++) add(&b, p, 1);  /* 1 block */
    assert_int_equal(kv_cache_reserve(kv, &b, NULL), CELER_OK);
    assert_int_equal(kv_cache_seq_len(kv, 0), 20);
    assert_int_equal(kv_cache_seq_len(kv, 1), 5);
    assert_int_equal(kv_cache_free_blocks(kv), 1);
    /* every (layer, seq, pos) row is distinct: write a tag, read it back */
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < 2; s++)
            for (int p = 0; p < kv_cache_seq_len(kv, s); p++)
                for (int d = 0; d < 8; d++) kv_cache_k(kv, l, s, p)[d] = (uint16_t)(l * 1000 + s * 100 + p);
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < 2; s++)
            for (int p = 0; p < kv_cache_seq_len(kv, s); p++) assert_int_equal(kv_cache_k(kv, l, s, p)[7], l * 1000 + s * 100 + p);
    /* positions of one block are consecutive rows (the attention kernels rely on it) */
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < 2; s++)
            for (int p = 0; p < kv_cache_seq_len(kv, s); p++) {
                const int p0 = p / KV_BLOCK_SIZE * KV_BLOCK_SIZE;
                assert_ptr_equal(kv_cache_k(kv, l, s, p), kv_cache_k(kv, l, s, p0) + (p - p0) * 8);
                assert_ptr_equal(kv_cache_v(kv, l, s, p), kv_cache_v(kv, l, s, p0) + (p - p0) * 8);
            }
    kv_cache_seq_truncate(kv, 0, 3);
    assert_int_equal(kv_cache_seq_len(kv, 0), 3);
    assert_int_equal(kv_cache_free_blocks(kv), 2);
    kv_cache_seq_truncate(kv, 1, 0);
    kv_cache_seq_truncate(kv, 0, 0);
    assert_int_equal(kv_cache_free_blocks(kv), 4);
    celer_batch_free(&b);
    kv_cache_free(kv);
}

static void test_rejects_bad_positions(void **state) {
    (void)state;
    kv_cache *kv = NULL;
    celer_error err = {0};
    assert_int_equal(kv_cache_init(&kv, 1, 4, 32, 2, NULL), CELER_OK);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, 64, NULL), CELER_OK);
    add(&b, 1, 0); /* a gap: sequence 0 starts at 0 */
    assert_int_equal(kv_cache_reserve(kv, &b, &err), CELER_ERR_RANGE);
    assert_non_null(strstr(err.msg, "does not continue sequence 0"));
    celer_batch_clear(&b);
    add(&b, 0, 2); /* no such sequence */
    assert_int_equal(kv_cache_reserve(kv, &b, &err), CELER_ERR_RANGE);
    assert_non_null(strstr(err.msg, "sequence id 2"));
    celer_batch_clear(&b);
    for (int32_t p = 0; p < 33; p++) add(&b, p, 0); /* more than the cache holds */
    assert_int_equal(kv_cache_reserve(kv, &b, &err), CELER_ERR_RANGE);
    assert_non_null(strstr(err.msg, "context full"));
    assert_int_equal(kv_cache_seq_len(kv, 0), 0); /* nothing changed */
    assert_int_equal(kv_cache_free_blocks(kv), 2);
    celer_batch_free(&b);
    kv_cache_free(kv);
    assert_int_equal(kv_cache_init(&kv, 0, 4, 32, 1, &err), CELER_ERR_INVALID_ARG);
    assert_null(kv);
}

/* The allocator without host storage (the CUDA backend's): cells are distinct across
 * sequences, follow each sequence's block list, and cover 0..n_cells-1. */
static void test_external_cells(void **state) {
    (void)state;
    kv_cache *kv = NULL;
    assert_int_equal(kv_cache_init_external(&kv, 2, 8, 64, 2, NULL), CELER_OK);
    assert_int_equal(kv_cache_n_cells(kv), 64);
    celer_batch b;
    assert_int_equal(celer_batch_init(&b, 64, NULL), CELER_OK);
    for (int32_t p = 0; p < 20; p++) add(&b, p, 0);
    for (int32_t p = 0; p < 30; p++) add(&b, p, 1);
    assert_int_equal(kv_cache_reserve(kv, &b, NULL), CELER_OK);
    bool seen[64] = {false};
    for (int s = 0; s < 2; s++) {
        const int32_t *blocks = kv_cache_seq_blocks(kv, s);
        for (int p = 0; p < kv_cache_seq_len(kv, s); p++) {
            int32_t cell = kv_cache_cell(kv, s, p);
            assert_true(cell >= 0 && cell < 64);
            assert_false(seen[cell]);
            seen[cell] = true;
            assert_int_equal(cell, blocks[p / KV_BLOCK_SIZE] * KV_BLOCK_SIZE + p % KV_BLOCK_SIZE);
        }
    }
    assert_int_equal(kv_cache_free_blocks(kv), 0);
    kv_cache_seq_truncate(kv, 1, 16);
    assert_int_equal(kv_cache_free_blocks(kv), 1);
    celer_batch_free(&b);
    kv_cache_free(kv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_rows),
        cmocka_unit_test(test_rejects_bad_positions),
        cmocka_unit_test(test_external_cells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
