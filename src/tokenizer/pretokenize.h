/* pretokenize.h: byte-level BPE pre-tokenization: the regular expressions that cut text
 * into words before merges, chosen by tokenizer.ggml.pre exactly as llama.cpp chooses them.
 *
 * Some pre-tokenizers apply a list of expressions in turn: each one splits every piece the
 * previous ones left, and the stretches between its matches stay pieces of their own. The
 * expressions run in PCRE2 (UTF mode, JIT when available) on text prepared so PCRE2 sees
 * what llama.cpp's matcher sees: non-ASCII White_Space becomes U+000B, so that \s (ASCII
 * only here, as in std::regex) still matches it, and code points assigned after PCRE2's
 * Unicode version get stand-ins of the same class. Words come out GPT-2 byte-encoded.
 * Tests: tests/test_tokenizer.c against llama.cpp goldens for several pre types. */
#ifndef CELER_TOKENIZER_PRETOKENIZE_H
#define CELER_TOKENIZER_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* What a pre-tokenizer name implies besides its expressions (llama.cpp's vocab flags). */
typedef struct {
    bool ignore_merges; /* a word that is itself a token skips the merges */
    bool add_bos;       /* the default for add_bos_token becomes true */
    bool no_bos;        /* the default BOS id becomes "none" */
} pretokenizer_flags;

typedef struct pretokenizer pretokenizer;

/* name: tokenizer.ggml.pre, or NULL when the file has none (then "default", as llama.cpp,
 * with a warning on stderr). An unknown name is CELER_ERR_UNSUPPORTED naming it. */
celer_status pretokenizer_init(pretokenizer **out, const char *name, pretokenizer_flags *flags,
                               celer_error *err);
void pretokenizer_free(pretokenizer *p);
const char *pretokenizer_name(const pretokenizer *p);

/* Called once per word, in order; word is GPT-2 byte-encoded, n > 0 bytes. A non-OK
 * return stops the split and is passed back. */
typedef celer_status (*pretokenizer_word_fn)(void *user, const char *word, size_t n, celer_error *err);

/* Splits text (any bytes: invalid UTF-8 reads as U+FFFD per byte, as in llama.cpp). */
celer_status pretokenizer_split(const pretokenizer *p, const char *text, size_t len,
                                pretokenizer_word_fn fn, void *user, celer_error *err);

#endif
