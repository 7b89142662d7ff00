/* synth.h: Llama-shaped models with random weights, written as standard GGUF files for
 * benchmarks (`celer synth`). Nothing is quantized: valid blocks are written directly
 * (random quant bytes, fp16 scales chosen so a matrix of n_in columns has weights of RMS
 * 1/sqrt(n_in) and mean zero, so activations keep their scale through the layers; norms
 * are ones), streamed in large writes, so a 45 GB file takes about what the disk takes.
 * The file carries a byte-level BPE tokenizer padded to n_vocab with unique filler tokens,
 * its plan in celer.synth.* keys, and a general.name that says the weights are random.
 * Tests: tests/test_synth.c (blocks, plans, a written file loaded and decoded),
 * tests/test_synth.sh (the command, bench on the files, the gguf Python package). */
#ifndef CELER_MODEL_SYNTH_H
#define CELER_MODEL_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "format/gguf.h"

typedef enum { SYNTH_VOCAB_LLAMA3, SYNTH_VOCAB_CHATML } synth_vocab_style;

typedef struct {
    const char *like; /* the preset it started from, or "custom" */
    int32_t n_vocab, n_ctx, n_embd, n_layer, n_head, n_head_kv, n_ff;
    float rope_freq_base, norm_eps;
    bool tied_output;                /* no output.weight: the embedding is the output head */
    synth_vocab_style vocab_style;   /* special tokens, pre-tokenizer and chat template */
} synth_shape;

/* The presets' names, ", "-separated, for help texts and errors. */
extern const char synth_preset_names[];
/* Fills out from a preset (llama3-8b, llama3-70b, smollm2-135m, tinyllama-1.1b); false if unknown. */
bool synth_shape_preset(const char *name, synth_shape *out);
/* Every dimension positive and consistent: heads divide n_embd, KV heads divide heads,
 * head dim even and within the backends' limits, the vocabulary large enough for the tokenizer. */
celer_status synth_shape_check(const synth_shape *s, celer_error *err);
/* Tokens the tokenizer needs before filler (bytes, merges, specials): the smallest n_vocab. */
int32_t synth_min_vocab(void);

typedef enum {
    SYNTH_MIX_NONE, /* every matrix in the one type asked for */
    SYNTH_MIX_Q3Q4, /* FFN at 3-4 bits, attention 8, embedding 4, output 6 (see synth.c) */
} synth_mix;

/* Parses "q4_K", "Q4_K", "bf16", ... (ggml's names, any case) into a weight type celer
 * runs; false if none. */
bool synth_parse_type(const char *name, uint32_t *type);
/* "f32, f16, bf16, q4_0, ..." for messages. */
const char *synth_type_list(void);

typedef struct {
    char name[48];
    uint32_t type;   /* what is written */
    uint32_t wanted; /* what the plan asked for; != type: fallen back (rows not a multiple of its block) */
    int64_t ne0, ne1; /* ne1 == 1: a vector (norm, f32 ones) */
    float rms;       /* of the weights; 0 for norms */
    uint64_t bytes;  /* without padding */
} synth_tensor;

typedef struct {
    synth_shape shape;
    uint32_t type; /* SYNTH_MIX_NONE's type */
    synth_mix mix;
    uint64_t seed;
    synth_tensor *tensors; /* (n_tensors) in file order */
    int32_t n_tensors;
    int32_t n_fallback;  /* tensors whose type fell back */
    uint64_t n_params;   /* elements of all tensors */
    uint64_t weight_bytes; /* all tensors' bytes, unpadded */
    void *header;        /* the file up to its data section (gguf_writer_header) */
    size_t header_size;
    uint64_t alignment;
    uint64_t file_bytes; /* header + padded data: exactly what synth_write writes */
    char plan_text[512]; /* one line per role: "ffn_gate,ffn_up: q3_K (layers 20-59), q4_K (others)" */
} synth_plan;

celer_status synth_plan_init(synth_plan *p, const synth_shape *s, uint32_t type, synth_mix mix, uint64_t seed,
                             celer_error *err);
void synth_plan_free(synth_plan *p);

/* Called after every large write with the bytes written so far (of p->file_bytes). */
typedef void (*synth_progress_fn)(void *user, uint64_t done, uint64_t total);

/* Writes the file to "<path>.tmp" and renames it, generating with n_threads threads (0:
 * the online cores, at most 16; the bytes are the same for any count). Refuses an
 * existing path unless force, and a disk without room (checked first; a disk that fills
 * anyway is reported with the bytes written, and the partial file removed). */
celer_status synth_write(const synth_plan *p, const char *path, bool force, int n_threads, synth_progress_fn progress,
                         void *user, celer_error *err);

/* ---- random blocks (synth_blocks.c) ---- */

/* How to make random blocks of one type whose values have RMS rms and mean ~0. */
typedef struct {
    uint32_t type;
    size_t block_bytes;
    int64_t block_size;
    uint16_t d, dmin;    /* fp16 scale (and min) fields, the same in every block */
    size_t d_offset, dmin_offset; /* where they go in a block; dmin_offset SIZE_MAX: no min */
    uint8_t *scale_pool; /* (SYNTH_POOL, scale_bytes) packed sub-block scales, for K-quants */
    size_t scale_offset, scale_bytes; /* where a block's scales sit */
    uint16_t *values;    /* (4096) f16/bf16 values (f32: 4096 floats) for the float types */
} synth_blocks;

celer_status synth_blocks_init(synth_blocks *b, uint32_t type, float rms, uint64_t seed, celer_error *err);
void synth_blocks_free(synth_blocks *b);
/* Writes n_blocks random blocks to dst; *rng is the stream's state (never 0). */
void synth_blocks_fill(const synth_blocks *b, void *dst, uint64_t n_blocks, uint64_t *rng);

#endif
