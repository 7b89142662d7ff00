/* tokenizer.h: text <-> token ids from GGUF metadata, matching llama.cpp token for token.
 *
 * Two kinds, chosen by tokenizer.ggml.model:
 *   "gpt2"  byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM, StarCoder, DeepSeek...): the text
 *           is cut into words by the pre-tokenizer expressions of tokenizer.ggml.pre (see
 *           pretokenize.h), each word byte-encoded and merged by tokenizer.ggml.merges rank.
 *   "llama" SentencePiece-style BPE (Llama 2, Mistral, TinyLlama): spaces become U+2581,
 *           pieces merge by tokenizer.ggml.scores, unknown bytes fall back to <0xXX> tokens.
 * Special tokens (token_type CONTROL, USER_DEFINED, UNKNOWN) are cut out of the text first,
 * longest first; CONTROL and UNKNOWN ones only when parse_special. The end-of-generation
 * set, the BOS/EOS defaults and add_bos follow llama.cpp's src/llama-vocab.cpp.
 * Tests: tests/test_tokenizer.c (goldens from llama.cpp: tests/data/golden/tokens.tsv,
 * written by scripts/make_golden_tokens.py). */
#ifndef CELER_TOKENIZER_TOKENIZER_H
#define CELER_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "format/gguf.h"

typedef struct tokenizer tokenizer;

/* Reads every tokenizer.* key it needs from f; f may be closed afterwards. */
celer_status tokenizer_init_from_gguf(tokenizer **out, const gguf_file *f, celer_error *err);
void tokenizer_free(tokenizer *t);

int32_t tokenizer_n_vocab(const tokenizer *t);
int32_t tokenizer_bos(const tokenizer *t); /* -1 if none */
int32_t tokenizer_eos(const tokenizer *t); /* -1 if none */
int32_t tokenizer_eot(const tokenizer *t); /* end of turn (<|eot_id|>, <|im_end|>...), -1 if none */
/* Whether add_special prepends BOS (tokenizer.ggml.add_bos_token, else the model type's default). */
bool tokenizer_add_bos(const tokenizer *t);
/* End of generation: EOS, EOT, EOM and the texts llama.cpp treats so (<|im_end|>,
 * <|eot_id|>, <end_of_turn>, <|endoftext|>...). False for an out-of-range id. */
bool tokenizer_is_eog(const tokenizer *t, int32_t id);
/* "gpt2" or "llama"; the pre-tokenizer name ("" for "llama"). */
const char *tokenizer_model(const tokenizer *t);
const char *tokenizer_pre(const tokenizer *t);

/* text -> ids. add_special: BOS first (and EOS last) when the model asks for them, as
 * llama.cpp's add_special. parse_special: control-token texts in the text become their
 * tokens. *ids is malloc'd (never NULL on success), the caller frees it. */
celer_status tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_special,
                              bool parse_special, int32_t **ids, size_t *n_ids, celer_error *err);

/* The bytes of one token as llama.cpp's token_to_piece(special = render_special) gives them
 * (may be part of a UTF-8 character; control tokens are empty unless render_special).
 * *bytes stays valid while t lives. CELER_ERR_RANGE for an out-of-range id. */
celer_status tokenizer_piece(const tokenizer *t, int32_t id, bool render_special, const char **bytes,
                             size_t *len, celer_error *err);
/* The longest piece any token has. */
size_t tokenizer_max_piece_len(const tokenizer *t);
/* The token's text as stored in the vocabulary (NUL-terminated), or NULL if out of range. */
const char *tokenizer_token_text(const tokenizer *t, int32_t id);

/* Streaming detokenizer: push ids one at a time, get back only complete UTF-8 characters
 * (bytes that can never complete a character are passed through as they are), so the
 * concatenation of all outputs and the final flush equals the concatenated pieces.
 * out_cap must be at least tokenizer_max_piece_len(t) + 4 (DETOKENIZER_SLACK). */
#define DETOKENIZER_SLACK 4
typedef struct {
    char pending[8];     /* the start of a character still missing bytes (at most 3) */
    size_t n_pending;
    bool render_special; /* default false: control tokens print nothing */
} detokenizer;

void detokenizer_init(detokenizer *d);
/* Returns the number of bytes written to out; an out-of-range id writes nothing. */
size_t detokenizer_push(detokenizer *d, const tokenizer *t, int32_t id, char *out, size_t out_cap);
/* Writes whatever is still pending (an incomplete character, as is); out_cap >= 8. */
size_t detokenizer_flush(detokenizer *d, char *out, size_t out_cap);

#endif
