/* unicode.h: the few Unicode facts the tokenizers need, decided as llama.cpp decides them.
 *
 * - UTF-8 decoding that never fails: an invalid byte becomes U+FFFD and decoding goes on
 *   at the next byte (overlong forms and surrogates are accepted, as llama.cpp does).
 * - The White_Space set and the GPT-2 byte <-> code point map of byte-level BPE.
 * - Stand-ins for code points that Unicode 15.1 classifies but PCRE2's tables do not.
 * Tests: tests/test_tokenizer.c. */
#ifndef CELER_TOKENIZER_UNICODE_H
#define CELER_TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UNICODE_REPLACEMENT 0xFFFDu

/* Decodes one code point at s[*pos] (pos < len) and advances *pos past it. */
uint32_t unicode_decode(const uint8_t *s, size_t len, size_t *pos);

/* Writes the UTF-8 form of cp (any value up to 0x1FFFFF, surrogates included) into out[4];
 * returns its length. */
size_t unicode_encode(uint32_t cp, uint8_t *out);

/* The Unicode White_Space property (llama.cpp's \s). */
bool unicode_is_whitespace(uint32_t cp);

/* GPT-2 byte-level BPE: every byte maps to a printable code point (U+0021..U+0143). */
uint32_t unicode_byte_to_cp(uint8_t byte);
/* Inverse of unicode_byte_to_cp; returns -1 for a code point no byte maps to. */
int unicode_cp_to_byte(uint32_t cp);

/* A range of code points assigned after Unicode 14.0 with its class: 'L', 'N', 'P', 'S',
 * 'M' (letter, number, punctuation, symbol, mark). Generated table, unicode_delta.c. */
typedef struct {
    uint32_t first, last;
    char cls;
} unicode_delta_range;
extern const unicode_delta_range unicode_delta_ranges[];
extern const size_t unicode_delta_count;

/* If cp is in the delta table, returns a code point with the same class and the same UTF-8
 * length that PCRE2 (Unicode >= 14) already classifies so; otherwise returns cp. */
uint32_t unicode_pcre2_stand_in(uint32_t cp);

#endif
