/* celer.h: the engine API. The CLI, the server, the benchmarks and other programs use
 * only this; nothing above it touches a backend directly.
 *
 *   celer_model_load → celer_context_new → (celer_tokenize → celer_generate | celer_decode)
 *   → celer_context_free → celer_model_free
 *
 * Every function that can fail returns a celer_status and fills a caller-owned
 * celer_error with one line saying what failed. The batch is the unit of work:
 * celer_decode runs tokens of several sequences at once. */
#ifndef CELER_H
#define CELER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "celer_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct celer_model celer_model;
typedef struct celer_context celer_context;

/* A batch of tokens, each with its position, sequence id and whether its logits are
 * wanted. Arrays are (capacity). */
typedef struct {
    int32_t n_tokens;
    int32_t capacity;
    int32_t *token;
    int32_t *pos;
    int32_t *seq_id;
    bool *logits;
} celer_batch;

celer_status celer_batch_init(celer_batch *b, int32_t capacity, celer_error *err);
void celer_batch_free(celer_batch *b);
void celer_batch_clear(celer_batch *b);
/* CELER_ERR_RANGE if the batch is full. */
celer_status celer_batch_add(celer_batch *b, int32_t token, int32_t pos, int32_t seq_id, bool logits, celer_error *err);

/* ---- model ---- */
/* path: a GGUF file, or a Hugging Face directory (config.json, tokenizer.json,
 * *.safetensors in F32/F16/BF16) imported in memory as convert_hf_to_gguf.py would. */
celer_status celer_model_load(const char *path, celer_model **out, celer_error *err);
void celer_model_free(celer_model *m);
int32_t celer_model_n_vocab(const celer_model *m);
int32_t celer_model_n_ctx_train(const celer_model *m);
/* One line: name, architecture, parameters, file size. */
void celer_model_describe(const celer_model *m, char *buf, size_t size);

/* ---- tokens ---- */
/* *ids is malloc'd; the caller frees it. add_special: BOS/EOS as the model asks;
 * parse_special: control-token texts such as "<|im_start|>" become their tokens. */
celer_status celer_tokenize(const celer_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                            int32_t **ids, size_t *n_ids, celer_error *err);
/* Bytes of one token (not NUL-terminated; may be part of a UTF-8 character). */
celer_status celer_token_piece(const celer_model *m, int32_t token, const char **bytes, size_t *len, celer_error *err);
bool celer_token_is_eog(const celer_model *m, int32_t token);
int32_t celer_token_bos(const celer_model *m); /* -1 if the model has none */
bool celer_model_adds_bos(const celer_model *m); /* whether add_special prepends BOS */
/* Longest piece of any token, in bytes. */
size_t celer_token_max_piece_len(const celer_model *m);

/* Streaming detokenization: push token ids one at a time and get back only whole UTF-8
 * characters (bytes that can never complete one pass through as they are); the outputs
 * and the final flush concatenate to the tokens' pieces. Control tokens print nothing.
 * out_cap must be at least celer_token_max_piece_len + 8. */
typedef struct {
    char pending[8]; /* the start of a character still missing bytes */
    size_t n_pending;
} celer_text_stream;
void celer_text_stream_init(celer_text_stream *s);
size_t celer_text_stream_push(celer_text_stream *s, const celer_model *m, int32_t token, char *out, size_t out_cap);
size_t celer_text_stream_flush(celer_text_stream *s, char *out, size_t out_cap);

/* Renders chat messages with the model's template (or template_name when not NULL, e.g.
 * "chatml", "llama3"); add_assistant opens the assistant's turn. *out is malloc'd. */
typedef struct {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} celer_chat_message;
celer_status celer_chat_render(const celer_model *m, const char *template_name, const celer_chat_message *msgs, size_t n,
                               bool add_assistant, char **out, celer_error *err);

/* ---- context: KV cache, threads, scratch ---- */
typedef struct {
    int32_t n_ctx;     /* KV cache positions over all sequences; 0 = min(model's, 4096) */
    int32_t n_batch;   /* most tokens in one celer_decode call; default 512 */
    int32_t n_seq_max; /* sequence ids 0..n_seq_max-1; default 1 */
    int32_t n_threads; /* default: number of online cores */
    bool gpu;          /* run on CUDA device 0 (a build with -DCELER_CUDA=ON); n_ctx 0 then
                          also shrinks the default context to what fits; default false */
} celer_context_params;

void celer_context_params_default(celer_context_params *p);
celer_status celer_context_new(celer_model *m, const celer_context_params *p, celer_context **out, celer_error *err);
void celer_context_free(celer_context *ctx);
int32_t celer_context_n_ctx(const celer_context *ctx);
int32_t celer_context_n_batch(const celer_context *ctx);
const celer_model *celer_context_model(const celer_context *ctx);
uint64_t celer_context_kv_bytes(const celer_context *ctx);
/* "cpu" or "cuda": the backend running the context. */
const char *celer_context_backend(const celer_context *ctx);

/* Runs the batch through the model and appends it to the KV cache. Each sequence's
 * tokens must continue it in order (first at celer_seq_len). On error nothing is
 * appended. Logits of the tokens with logits=true are then available, in batch order,
 * from celer_get_logits(ctx, 0..n_outputs-1). */
celer_status celer_decode(celer_context *ctx, const celer_batch *batch, celer_error *err);
int32_t celer_n_outputs(const celer_context *ctx);
const float *celer_get_logits(const celer_context *ctx, int32_t i); /* (n_vocab), NULL if out of range */
int32_t celer_seq_len(const celer_context *ctx, int32_t seq);
/* Keeps positions [0, n) of seq; the rest is forgotten. */
void celer_seq_truncate(celer_context *ctx, int32_t seq, int32_t n);
int32_t celer_context_n_seq_max(const celer_context *ctx);

/* The paged KV pool: blocks of block_size positions shared by all sequences. A batch
 * that needs more blocks than are free is refused by celer_decode (CELER_ERR_RANGE,
 * nothing appended); a scheduler checks n_free first. */
typedef struct {
    int32_t block_size; /* positions per block */
    int32_t n_blocks;   /* blocks in the pool */
    int32_t n_free;     /* blocks on the free list */
} celer_kv_stats;
void celer_kv_get_stats(const celer_context *ctx, celer_kv_stats *out);
/* Blocks sequence seq holds now: ceil(celer_seq_len / block_size). */
int32_t celer_seq_blocks(const celer_context *ctx, int32_t seq);

/* ---- generation ---- */
typedef struct {
    float temperature;  /* 0: greedy */
    int32_t top_k;      /* <= 0: off */
    float top_p;        /* 1: off */
    float min_p;        /* 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n;
    float presence_penalty;
    float frequency_penalty;
    uint64_t seed;
} celer_sampling;

void celer_sampling_default(celer_sampling *s); /* temp 0.8, top_k 40, top_p 0.95, min_p 0.05, seed from time */

typedef struct {
    int32_t n_predict; /* tokens to generate at most; < 0: until end of generation or context full */
    bool ignore_eog;   /* keep going past end-of-generation tokens */
    celer_sampling sampling;
} celer_generate_params;

typedef struct {
    int32_t n_prompt;
    int32_t n_generated;
    double prompt_s;   /* time to first token, prompt evaluation included */
    double generate_s; /* time of the remaining tokens */
    bool hit_eog;
} celer_generate_stats;

/* Called for each generated token with the text it completes (only whole UTF-8
 * characters; may be empty). Return false to stop. */
typedef bool (*celer_token_fn)(void *user, int32_t token, const char *text, size_t len);

/* Evaluates prompt (appended to sequence seq) and samples up to n_predict tokens. */
celer_status celer_generate(celer_context *ctx, int32_t seq, const int32_t *prompt, size_t n_prompt,
                            const celer_generate_params *p, celer_token_fn on_token, void *user,
                            celer_generate_stats *stats, celer_error *err);

/* ---- sizes and profiling (for benchmarks) ---- */
/* Bytes of the weight tensors read to decode one token: every matrix of every layer,
 * the norms and the output head (one row of the token embedding, when it is not the
 * head too). Not counting the KV cache. */
uint64_t celer_model_decode_bytes(const celer_model *m);
/* Bytes of keys and values one decoded token reads per position of its context. */
uint64_t celer_model_kv_bytes_per_pos(const celer_model *m);
/* Parameters (elements of all weight tensors) and file size in bytes. */
uint64_t celer_model_n_params(const celer_model *m);
uint64_t celer_model_file_bytes(const celer_model *m);

/* Per-operation wall time inside celer_decode, summed over calls while enabled.
 * Names are stable strings ("matmul_qkv", "attention", "ffn_up_gate", ...). */
typedef struct {
    const char *name;
    uint64_t calls;
    double seconds;
} celer_op_stat;
void celer_profile_enable(celer_context *ctx, bool on); /* also resets */
/* Fills up to max entries (most time first) and returns how many kinds there are. */
int32_t celer_profile_get(const celer_context *ctx, celer_op_stat *out, int32_t max);

/* ---- perplexity ----
 * llama-perplexity's method: tokens split into n_chunks chunks of n_ctx, the first token
 * of each replaced by BOS when the model adds one, the second half of each scored. The
 * context needs n_ctx positions on sequence 0 (which it clears). */
typedef struct {
    int32_t n_chunks;   /* chunks evaluated */
    long long n_scored; /* tokens scored */
    double ppl;
    double ppl_stderr;  /* standard error of ppl */
} celer_ppl_result;

/* Called after each chunk with the running perplexity; return false to stop. */
typedef bool (*celer_ppl_fn)(void *user, int32_t chunk, double running_ppl);

celer_status celer_perplexity(celer_context *ctx, const int32_t *tokens, size_t n_tokens, int32_t n_ctx, int32_t n_chunks,
                              celer_ppl_fn on_chunk, void *user, celer_ppl_result *out, celer_error *err);

#ifdef __cplusplus
}
#endif

#endif
