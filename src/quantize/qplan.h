/* qplan.h: selective quantization: which type each tensor gets, from measurements.
 *
 *   qz_collect      the quantizable tensors of a bound model and their candidate types
 *   qz_calibrate    run the source model over calibration text: per-matrix input
 *                   importance (mean squared input per column) and reference log-probs
 *   qz_measure      per tensor and candidate: the importance-weighted error of
 *                   quantizing it (layer-local), and for a subset of tensors the
 *                   end-to-end KL divergence at the logits with that one tensor
 *                   quantized, which scales the local errors into predicted KL
 *   qz_plan         one type per tensor minimizing the predicted total KL under a byte
 *                   budget: a multiple-choice knapsack solved exactly by dynamic
 *                   programming over the budget in small units
 *   qz_write        quantize every tensor to its type and write a standard GGUF (to a
 *                   temporary name, renamed when complete) with the plan in metadata
 *   qz_plan_json, qz_report_html   the plan and a per-layer report with a plot
 *
 * Tests: tests/test_quantize_plan.c, tests/test_cli.sh. */
#ifndef CELER_QUANTIZE_QPLAN_H
#define CELER_QUANTIZE_QPLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "core/threadpool.h"
#include "model/model.h"

#define QZ_MAX_CAND 16

typedef enum { QZ_EMBD, QZ_OUTPUT, QZ_Q, QZ_K, QZ_V, QZ_O, QZ_GATE, QZ_UP, QZ_DOWN, QZ_CLASS_COUNT } qz_class;

typedef struct {
    const char *name;     /* the GGUF tensor name (the model's) */
    qz_class cls;
    int32_t layer;        /* -1 for the embedding and the head */
    model_tensor *slot;   /* where the model binds it */
    int64_t n_cols, n_rows;
    const float *imp;     /* (n_cols) input importance after calibration, or NULL (uniform) */
    int n_cand;
    uint32_t cand[QZ_MAX_CAND];      /* candidate types, most bits first */
    uint64_t cand_bytes[QZ_MAX_CAND];
    double cand_err[QZ_MAX_CAND];    /* importance-weighted squared error over the tensor */
    double cand_cost[QZ_MAX_CAND];   /* predicted KL (nats per token) = scale * err */
    double scale;          /* KL per unit of weighted error */
    bool scale_measured;   /* scale from this tensor's own KL measurement (else interpolated) */
    uint32_t probe_type;   /* the type measured end to end, when scale_measured */
    double probe_kl;
    int chosen;            /* index into cand, -1 before planning */
    bool pinned;           /* --tensor-type fixed its candidates */
} qz_tensor;

typedef struct {
    model *m;               /* the source model (borrowed) */
    qz_tensor *t;           /* (n) */
    int n;
    uint64_t n_params;      /* all tensors' elements */
    uint64_t fixed_bytes;   /* bytes of tensors that are not quantized (norms, biases) */
    float *imp_store;       /* owned importance arrays */
    /* reference log-probs of the KL positions, (n_kl, n_vocab) */
    float *ref_logp;
    int64_t n_kl;
    int32_t *kl_tokens;     /* (n_kl_chunks * n_ctx) the chunks the KL is measured on */
    int32_t n_kl_chunks, n_ctx;
    int32_t n_threads;
    bool verbose;           /* progress on stderr */
} qz_state;

/* Candidate types for a tensor with rows of n_cols (those quant_quantize writes whose
 * block divides n_cols, from the list given, or celer's default list when types == NULL). */
int qz_candidates(int64_t n_cols, const uint32_t *types, int n_types, uint32_t *out);

/* Sets t's candidates to those of types (NULL: the default list) that fit its rows, with
 * their bytes; returns how many. */
int qz_set_candidates(qz_tensor *t, const uint32_t *types, int n_types);
/* Bits per weight of a type (8 * block bytes / block elements), 0 if unknown. */
double qz_bits_per_weight(uint32_t type);

celer_status qz_collect(qz_state *s, model *m, int32_t n_threads, celer_error *err);
void qz_free(qz_state *s);

/* Pins tensors whose name matches the POSIX extended regex to one type (error if the
 * regex is invalid, matches nothing, or the type cannot hold the tensor's rows). */
celer_status qz_pin(qz_state *s, const char *regex, uint32_t type, celer_error *err);

/* tokens: calibration text, n_chunks chunks of n_ctx; the first n_kl_chunks of them also
 * give the reference log-probs (second half of each chunk). */
celer_status qz_calibrate(qz_state *s, const int32_t *tokens, size_t n_tokens, int32_t n_ctx, int32_t n_chunks, int32_t n_kl_chunks,
                          int32_t bos, celer_error *err);

/* n_kl_evals: end-to-end measurements (0: none, every scale interpolated from the
 * defaults; >= n: every tensor measured). */
celer_status qz_measure(qz_state *s, int n_kl_evals, celer_error *err);

/* Chooses types within budget_bytes for all quantized tensors together. */
celer_status qz_plan(qz_state *s, uint64_t budget_bytes, celer_error *err);
/* The smallest and largest total bytes of the quantized tensors over all choices. */
void qz_bytes_range(const qz_state *s, uint64_t *min_bytes, uint64_t *max_bytes);
/* Picks one type for every tensor (uniform quantization; the candidate list's fallbacks
 * apply where type's block does not divide the rows: the nearest type by bits). */
celer_status qz_plan_uniform(qz_state *s, uint32_t type, celer_error *err);

double qz_predicted_kl(const qz_state *s);
uint64_t qz_planned_bytes(const qz_state *s);

/* Writes the plan as JSON (malloc'd string). */
char *qz_plan_json(const qz_state *s, const char *target);
celer_status qz_report_html(const qz_state *s, const char *target, const char *path, celer_error *err);

const char *qz_class_name(qz_class c);
/* Progress of long steps on stderr when s->verbose: one updating line on a terminal,
 * else a line per tenth of the work. detail may be NULL. */
void qz_progress(const qz_state *s, const char *what, int done, int total, const char *detail);
/* t's source weights quantized to type with its importance (malloc'd), NULL on error. */
void *qz_quantize_tensor(const qz_tensor *t, uint32_t type, threadpool *pool, celer_error *err);

/* The measurements (importances, every candidate's error, the KL scales) as a GGUF file,
 * and back: other budgets planned without calibrating again. Loading fails if a current
 * candidate has no measurement. */
celer_status qz_save_stats(const qz_state *s, const char *path, celer_error *err);
celer_status qz_load_stats(qz_state *s, const char *path, celer_error *err);

/* Quantizes to the plan and writes path (via path.tmp). plan_json goes into the
 * metadata as celer.quantize.plan. */
celer_status qz_write(qz_state *s, const char *path, const char *plan_json, celer_error *err);

#endif
