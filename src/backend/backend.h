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

/* The inputs of a layer's matrix products, for calibration (src/quantize/): the rows of x
 * that the named matrices multiply. */
typedef enum {
    BACKEND_IN_QKV,     /* normed residual: input of wq, wk, wv */
    BACKEND_IN_ATTN_OUT, /* attention output: input of wo */
    BACKEND_IN_GATE_UP, /* normed residual: input of w_gate, w_up */
    BACKEND_IN_DOWN,    /* silu(gate) * up: input of w_down */
    BACKEND_IN_OUTPUT,  /* final normed rows of the tokens that want logits: input of the head (layer -1) */
} backend_input;
/* x: (n, n_cols) row-major. Called from the forward's thread, between products. */
typedef void (*backend_observe_fn)(void *user, int32_t layer, backend_input which, const float *x, int64_t n, int64_t n_cols);

typedef struct {
    int32_t n_threads;
    int32_t n_batch; /* most tokens per forward */
    int32_t n_ctx;   /* most positions one sequence can attend over */
    backend_observe_fn observe; /* NULL: none */
    void *observe_user;
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

/* The stages with calls, most time first, up to max of them into out; returns how many
 * stages have calls. names, calls, seconds: (n_ops), n_ops <= BACKEND_MAX_OPS. */
#define BACKEND_MAX_OPS 32
int32_t backend_profile_report(const char *const *names, const uint64_t *calls, const double *seconds, int32_t n_ops,
                               celer_op_stat *out, int32_t max);

#ifdef CELER_HAVE_CUDA
/* src/backend/cuda/: the whole forward on CUDA device 0 (docs/gpu.md). */
extern const backend_ops backend_cuda;
/* Device 0's free memory and a one-line name; CELER_ERR_UNSUPPORTED with a clear line when
 * there is no device or driver. */
celer_status cuda_device_memory(uint64_t *free_bytes, char *name, size_t name_size, celer_error *err);
#endif

#endif
