/* kv_cache.h: the key/value cache, paged. Its layout is private to kv_cache.c.
 *
 * Cells are grouped in blocks of KV_BLOCK_SIZE positions; each sequence owns a list of
 * blocks taken from one shared free list, so sequences of any length share one pool
 * (no fixed per-sequence split). Keys and values are stored as fp16 rows of
 * n_kv_dim = n_head_kv * head_dim.
 * Use: kv_cache_reserve(batch) checks positions and takes blocks (all or nothing); the
 * backend then writes rows with kv_cache_k/kv_cache_v and reads positions 0..pos.
 * Tests: tests/test_kv_cache.c. */
#ifndef CELER_ENGINE_KV_CACHE_H
#define CELER_ENGINE_KV_CACHE_H

#include <stdint.h>

#include "celer.h"
#include "core/status.h"

#define KV_BLOCK_SIZE 16

typedef struct kv_cache kv_cache;

/* n_cells: total positions over all sequences; n_seq_max: sequence ids 0..n_seq_max-1. */
celer_status kv_cache_init(kv_cache **out, int32_t n_layer, int32_t n_kv_dim, int32_t n_cells, int32_t n_seq_max,
                           celer_error *err);
/* The block allocator alone, for a backend that keeps K and V itself (on a device, as
 * (n_layer, n_cells, n_kv_dim) fp16 addressed by kv_cache_cell): kv_cache_k/v must not
 * be called on it. */
celer_status kv_cache_init_external(kv_cache **out, int32_t n_layer, int32_t n_kv_dim, int32_t n_cells, int32_t n_seq_max,
                                    celer_error *err);
void kv_cache_free(kv_cache *kv);

/* Checks that each sequence's tokens in the batch continue it in order (the first at
 * position seq_len, then +1 each) and takes the blocks they need. On error nothing
 * changes. On success the sequences' lengths include the batch. */
celer_status kv_cache_reserve(kv_cache *kv, const celer_batch *batch, celer_error *err);

/* Row of (n_kv_dim) fp16 values for a position already reserved. Positions of one
 * block are consecutive rows: kv_cache_k(pos + i) == kv_cache_k(pos) + i * n_kv_dim while
 * pos and pos + i are in the same block (pos / KV_BLOCK_SIZE equal); the same for V. */
uint16_t *kv_cache_k(kv_cache *kv, int32_t layer, int32_t seq, int32_t pos);
uint16_t *kv_cache_v(kv_cache *kv, int32_t layer, int32_t seq, int32_t pos);

/* Flat cell index (0..kv_cache_n_cells-1) of a position already reserved: block id *
 * KV_BLOCK_SIZE + pos % KV_BLOCK_SIZE. */
int32_t kv_cache_cell(const kv_cache *kv, int32_t seq, int32_t pos);
/* Block ids of seq in position order: ceil(kv_cache_seq_len / KV_BLOCK_SIZE) of them. */
const int32_t *kv_cache_seq_blocks(const kv_cache *kv, int32_t seq);

int32_t kv_cache_seq_len(const kv_cache *kv, int32_t seq);
/* Keeps positions [0, n) of seq and returns the rest of its blocks to the pool. */
void kv_cache_seq_truncate(kv_cache *kv, int32_t seq, int32_t n);
int32_t kv_cache_n_seq_max(const kv_cache *kv);
int32_t kv_cache_n_cells(const kv_cache *kv);
int32_t kv_cache_free_blocks(const kv_cache *kv);
int32_t kv_cache_total_blocks(const kv_cache *kv);
uint64_t kv_cache_bytes(const kv_cache *kv);

#endif
