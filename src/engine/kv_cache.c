/* kv_cache.c: paged fp16 KV cache with a shared free list of blocks. Tested in
 * tests/test_kv_cache.c. */
#include "engine/kv_cache.h"

#include <stdlib.h>
#include <string.h>

struct kv_cache {
    int32_t n_layer;
    int32_t n_kv_dim;
    int32_t n_blocks;
    int32_t n_seq_max;
    uint16_t *k;           /* (n_layer, n_blocks, KV_BLOCK_SIZE, n_kv_dim) fp16 */
    uint16_t *v;           /* (n_layer, n_blocks, KV_BLOCK_SIZE, n_kv_dim) fp16 */
    int32_t *free_list;    /* (n_blocks) stack of free block ids */
    int32_t n_free;
    int32_t *block_table;  /* (n_seq_max, n_blocks) block ids of each sequence, in order */
    int32_t *seq_len;      /* (n_seq_max) positions held */
    int32_t *new_len;      /* (n_seq_max) scratch for reserve */
};

static celer_status cache_init(kv_cache **out, int32_t n_layer, int32_t n_kv_dim, int32_t n_cells, int32_t n_seq_max, bool storage,
                               celer_error *err) {
    *out = NULL;
    if (n_layer < 1 || n_kv_dim < 1 || n_cells < 1 || n_seq_max < 1 || n_seq_max > 65536)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "kv cache: invalid size (layers %d, dim %d, cells %d, sequences %d)",
                               n_layer, n_kv_dim, n_cells, n_seq_max);
    int64_t n_blocks = ((int64_t)n_cells + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
    uint64_t elems = (uint64_t)n_layer * (uint64_t)n_blocks * KV_BLOCK_SIZE * (uint64_t)n_kv_dim;
    if (elems > (UINT64_C(1) << 40))
        return celer_error_set(err, CELER_ERR_NOMEM, "kv cache: %d cells x %d layers x %d dims is too large", n_cells, n_layer, n_kv_dim);
    kv_cache *kv = calloc(1, sizeof(*kv));
    if (!kv) return celer_error_set(err, CELER_ERR_NOMEM, "kv cache: out of memory");
    kv->n_layer = n_layer;
    kv->n_kv_dim = n_kv_dim;
    kv->n_blocks = (int32_t)n_blocks;
    kv->n_seq_max = n_seq_max;
    if (storage) {
        /* Ordinary pages, not huge ones (core/hugemem.h): a prompt's first KV write to
         * each layer would fault in and zero a 2 MiB page, about 8 ms more time to first
         * token for a new context (measured), and at times a compaction stall. */
        kv->k = malloc(elems * sizeof(uint16_t));
        kv->v = malloc(elems * sizeof(uint16_t));
    }
    kv->free_list = malloc((size_t)n_blocks * sizeof(int32_t));
    kv->block_table = malloc((size_t)n_seq_max * (size_t)n_blocks * sizeof(int32_t));
    kv->seq_len = calloc((size_t)n_seq_max, sizeof(int32_t));
    kv->new_len = calloc((size_t)n_seq_max, sizeof(int32_t));
    if ((storage && (!kv->k || !kv->v)) || !kv->free_list || !kv->block_table || !kv->seq_len || !kv->new_len) {
        kv_cache_free(kv);
        return celer_error_set(err, CELER_ERR_NOMEM, "kv cache: out of memory for %lld MiB",
                               (long long)(2 * elems * sizeof(uint16_t) >> 20));
    }
    for (int32_t i = 0; i < kv->n_blocks; i++) kv->free_list[i] = kv->n_blocks - 1 - i;
    kv->n_free = kv->n_blocks;
    *out = kv;
    return CELER_OK;
}

celer_status kv_cache_init(kv_cache **out, int32_t n_layer, int32_t n_kv_dim, int32_t n_cells, int32_t n_seq_max,
                           celer_error *err) {
    return cache_init(out, n_layer, n_kv_dim, n_cells, n_seq_max, true, err);
}

celer_status kv_cache_init_external(kv_cache **out, int32_t n_layer, int32_t n_kv_dim, int32_t n_cells, int32_t n_seq_max,
                                    celer_error *err) {
    return cache_init(out, n_layer, n_kv_dim, n_cells, n_seq_max, false, err);
}

void kv_cache_free(kv_cache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->free_list);
    free(kv->block_table);
    free(kv->seq_len);
    free(kv->new_len);
    free(kv);
}

static int32_t blocks_for(int32_t n_positions) { return (n_positions + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE; }

celer_status kv_cache_reserve(kv_cache *kv, const celer_batch *batch, celer_error *err) {
    memcpy(kv->new_len, kv->seq_len, (size_t)kv->n_seq_max * sizeof(int32_t));
    for (int32_t i = 0; i < batch->n_tokens; i++) {
        int32_t s = batch->seq_id[i];
        if (s < 0 || s >= kv->n_seq_max)
            return celer_error_set(err, CELER_ERR_RANGE, "batch token %d: sequence id %d out of range [0, %d)", i, s, kv->n_seq_max);
        if (batch->pos[i] != kv->new_len[s])
            return celer_error_set(err, CELER_ERR_RANGE, "batch token %d: position %d does not continue sequence %d (next position is %d)",
                                   i, batch->pos[i], s, kv->new_len[s]);
        kv->new_len[s]++;
    }
    int64_t need = 0;
    for (int32_t s = 0; s < kv->n_seq_max; s++) need += blocks_for(kv->new_len[s]) - blocks_for(kv->seq_len[s]);
    if (need > kv->n_free)
        return celer_error_set(err, CELER_ERR_RANGE, "context full: the batch needs %lld more KV blocks of %d positions, %d are free (raise -c)",
                               (long long)need, KV_BLOCK_SIZE, kv->n_free);
    for (int32_t s = 0; s < kv->n_seq_max; s++) {
        int32_t *table = kv->block_table + (int64_t)s * kv->n_blocks;
        for (int32_t b = blocks_for(kv->seq_len[s]); b < blocks_for(kv->new_len[s]); b++) table[b] = kv->free_list[--kv->n_free];
        kv->seq_len[s] = kv->new_len[s];
    }
    return CELER_OK;
}

static int64_t row_index(const kv_cache *kv, int32_t layer, int32_t seq, int32_t pos) {
    CHECK(layer >= 0 && layer < kv->n_layer && seq >= 0 && seq < kv->n_seq_max && pos >= 0 && pos < kv->seq_len[seq]);
    int32_t block = kv->block_table[(int64_t)seq * kv->n_blocks + pos / KV_BLOCK_SIZE];
    return (((int64_t)layer * kv->n_blocks + block) * KV_BLOCK_SIZE + pos % KV_BLOCK_SIZE) * kv->n_kv_dim;
}

uint16_t *kv_cache_k(kv_cache *kv, int32_t layer, int32_t seq, int32_t pos) {
    CHECK(kv->k);
    return kv->k + row_index(kv, layer, seq, pos);
}
uint16_t *kv_cache_v(kv_cache *kv, int32_t layer, int32_t seq, int32_t pos) {
    CHECK(kv->v);
    return kv->v + row_index(kv, layer, seq, pos);
}

int32_t kv_cache_cell(const kv_cache *kv, int32_t seq, int32_t pos) {
    CHECK(seq >= 0 && seq < kv->n_seq_max && pos >= 0 && pos < kv->seq_len[seq]);
    return kv->block_table[(int64_t)seq * kv->n_blocks + pos / KV_BLOCK_SIZE] * KV_BLOCK_SIZE + pos % KV_BLOCK_SIZE;
}

const int32_t *kv_cache_seq_blocks(const kv_cache *kv, int32_t seq) {
    CHECK(seq >= 0 && seq < kv->n_seq_max);
    return kv->block_table + (int64_t)seq * kv->n_blocks;
}

int32_t kv_cache_seq_len(const kv_cache *kv, int32_t seq) {
    return seq >= 0 && seq < kv->n_seq_max ? kv->seq_len[seq] : 0;
}

void kv_cache_seq_truncate(kv_cache *kv, int32_t seq, int32_t n) {
    if (seq < 0 || seq >= kv->n_seq_max || n < 0 || n >= kv->seq_len[seq]) return;
    int32_t *table = kv->block_table + (int64_t)seq * kv->n_blocks;
    for (int32_t b = blocks_for(n); b < blocks_for(kv->seq_len[seq]); b++) kv->free_list[kv->n_free++] = table[b];
    kv->seq_len[seq] = n;
}

int32_t kv_cache_n_seq_max(const kv_cache *kv) { return kv->n_seq_max; }
int32_t kv_cache_n_cells(const kv_cache *kv) { return kv->n_blocks * KV_BLOCK_SIZE; }
int32_t kv_cache_free_blocks(const kv_cache *kv) { return kv->n_free; }
int32_t kv_cache_total_blocks(const kv_cache *kv) { return kv->n_blocks; }
uint64_t kv_cache_bytes(const kv_cache *kv) {
    return 2ull * (uint64_t)kv->n_layer * (uint64_t)kv->n_blocks * KV_BLOCK_SIZE * (uint64_t)kv->n_kv_dim * sizeof(uint16_t);
}
