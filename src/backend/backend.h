/* backend.h: the interface every compute backend fills: a small table of functions
 * chosen once when a context is created.
 *
 * forward() runs one batch: it reads weights from the model (host pointers, or its own
 * prepared copies), writes the batch's keys and values into the KV cache (positions
 * already reserved by kv_cache_reserve) and the logits of the tokens that want them.
 * Tests: tests/test_forward.c, tests/test_parity.c. */
#ifndef CELER_BACKEND_BACKEND_H
#define CELER_BACKEND_BACKEND_H

#include "celer.h"
#include "core/status.h"
#include "engine/kv_cache.h"
#include "model/model.h"

typedef struct backend backend;

typedef struct {
    int32_t n_threads;
    int32_t n_batch; /* most tokens per forward */
    int32_t n_ctx;   /* most positions one sequence can attend over */
} backend_config;

typedef struct {
    const char *name;
    celer_status (*init)(backend **out, const model *m, const backend_config *cfg, celer_error *err);
    /* logits: (number of batch tokens with logits=true, n_vocab) */
    celer_status (*forward)(backend *b, kv_cache *kv, const celer_batch *batch, float *logits, celer_error *err);
    void (*free)(backend *b);
    /* Per-stage wall times of forward (celer_profile_*): enable (and reset), read. */
    void (*profile)(backend *b, bool enable);
    int32_t (*profile_get)(const backend *b, celer_op_stat *out, int32_t max);
} backend_ops;

extern const backend_ops backend_cpu;

#endif
