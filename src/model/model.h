/* model.h: a Llama-family model bound to the tensors of a GGUF file.
 *
 * model_load reads hyper-parameters from the file's metadata (nothing is specific to one
 * model), then checks every tensor it needs for presence, type and shape, naming the
 * tensor on any mismatch. Weights stay in the file's mapping; backends read them through
 * model_tensor (host pointers) or upload/repack them in their prepare step.
 * Tests: tests/test_model.c (real model and synthetic files with one thing wrong). */
#ifndef CELER_MODEL_MODEL_H
#define CELER_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "format/gguf.h"

/* Limits the backends are written for; model_load refuses files beyond them. */
#define MODEL_MAX_HEAD_DIM 512
#define MODEL_MAX_GQA_GROUP 16 /* query heads per KV head */

typedef enum {
    MODEL_ARCH_LLAMA, /* Llama 2/3, Mistral, SmolLM2, TinyLlama */
    MODEL_ARCH_QWEN2, /* QKV bias, NeoX-style rotary */
} model_arch;

typedef enum {
    ROPE_PAIRS_ADJACENT, /* rotate (x[2i], x[2i+1]): GGUF "llama" (Q/K rows pre-permuted) */
    ROPE_PAIRS_HALVES,   /* rotate (x[i], x[i + n_rot/2]): NeoX / Qwen2 */
} rope_pairing;

typedef struct {
    model_arch arch;
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim; /* per head, for Q, K and V */
    int32_t n_ff;
    int32_t n_rot; /* rotated dimensions per head (<= head_dim) */
    rope_pairing rope_pairs;
    float rope_freq_base;
    float rope_freq_scale; /* 1 / linear scaling factor */
    float norm_eps;
    bool tied_output; /* no output.weight: the token embedding is the output head */
    bool qkv_bias;    /* Q/K/V biases: always for qwen2, for llama when blk.0.attn_q.bias exists */
} model_hparams;

/* A weight as stored in the file: rows of ne[0] elements, ne[1] rows. */
typedef struct {
    const char *name;
    uint32_t type; /* quant_type */
    int64_t ne[2];
    size_t row_bytes;
    const void *data; /* (ne[1], row_bytes) */
    /* 0: data is the file's layout. P > 0: a backend's copy repacked in groups of P rows
     * for its kernels (quant/kernels.h); only that backend's ops read it. */
    int32_t pack_rows;
} model_tensor;

typedef struct {
    model_tensor attn_norm; /* (n_embd) f32 */
    model_tensor wq;        /* (n_head * head_dim, n_embd) */
    model_tensor wk;        /* (n_head_kv * head_dim, n_embd) */
    model_tensor wv;        /* (n_head_kv * head_dim, n_embd) */
    model_tensor bq, bk, bv; /* f32 biases, data NULL unless qkv_bias */
    model_tensor wo;        /* (n_embd, n_head * head_dim) */
    model_tensor ffn_norm;  /* (n_embd) f32 */
    model_tensor w_gate;    /* (n_ff, n_embd) */
    model_tensor w_up;      /* (n_ff, n_embd) */
    model_tensor w_down;    /* (n_embd, n_ff) */
} model_layer;

typedef struct {
    model_hparams hp;
    gguf_file *file;        /* owned */
    char *name;             /* general.name or the file name; owned */
    model_tensor tok_embd;  /* (n_vocab, n_embd) */
    model_tensor output_norm; /* (n_embd) f32 */
    model_tensor output;    /* (n_vocab, n_embd); == tok_embd when tied */
    const float *rope_freq_factors; /* (n_rot / 2) or NULL: divides each frequency (Llama 3.1) */
    model_layer *layers;    /* (n_layer) */
    uint64_t weight_bytes;  /* all tensors' bytes */
} model;

/* Takes ownership of file on success and on failure. */
celer_status model_load(model **out, gguf_file *file, const char *path, celer_error *err);
void model_free(model *m);
const char *model_arch_name(model_arch arch);

#endif
