/* hf_internal.h: what the parts of the Hugging Face importer share: reading a directory's
 * JSON files (hf_json.c) with typed lookups that say which file and key is wrong, the
 * pieces of a SentencePiece tokenizer.model (hf_sentencepiece.c), and the tokenizer
 * conversion (hf_tokenizer.c) that hf_import.c calls.
 * In all lookups a key that is absent or JSON null counts as absent.
 * Tests: tests/test_hf_import.c. */
#ifndef CELER_FORMAT_HF_INTERNAL_H
#define CELER_FORMAT_HF_INTERNAL_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "format/gguf.h"

#define HF_MAX_FILE_BYTES (1024u * 1024u * 1024u) /* a tokenizer.json of a huge vocabulary is ~30 MB */

/* Reads dir/name whole into *out (malloc'd, NUL-terminated after *len bytes); a missing
 * file gives *out = NULL and CELER_OK. */
celer_status hf_file_read(const char *dir, const char *name, char **out, size_t *len, celer_error *err);
/* Reads dir/name as JSON into *out (cJSON_Delete it). A missing file is CELER_ERR_IO
 * "<dir>: <name> is missing" when required, else *out = NULL and CELER_OK. */
celer_status hf_json_read(const char *dir, const char *name, bool required, cJSON **out, celer_error *err);

/* obj[key], or NULL when obj is not an object, the key is absent or its value is null. */
const cJSON *hf_json_get(const cJSON *obj, const char *key);
/* The string obj[key], or NULL when absent or not a string. */
const char *hf_json_str(const cJSON *obj, const char *key);

/* Typed values of obj[key]; where ("dir/config.json") names the file in messages.
 * Absent: CELER_ERR_RANGE with no message, so callers can fall back to a default.
 * Wrong type or out of [min, max]: CELER_ERR_FORMAT naming the file and key. */
celer_status hf_json_int(const cJSON *obj, const char *key, const char *where, int64_t min, int64_t max, int64_t *out,
                         celer_error *err);
celer_status hf_json_float(const cJSON *obj, const char *key, const char *where, double *out, celer_error *err);
celer_status hf_json_bool(const cJSON *obj, const char *key, const char *where, bool *out, celer_error *err);

/* One piece of a SentencePiece model: its text, score and type (1 normal, 2 unknown,
 * 3 control, 4 user defined, 5 unused, 6 byte, as in GGUF). */
typedef struct {
    char *text; /* owned */
    float score;
    int32_t type;
} hf_piece;

/* Parses a tokenizer.model image; where names it in messages. */
celer_status hf_sentencepiece_read(const uint8_t *data, size_t size, const char *where, hf_piece **out, size_t *n,
                                   celer_error *err);
void hf_pieces_free(hf_piece *pieces, size_t n);

/* Converts dir's tokenizer (tokenizer.model when there is one, as convert_hf_to_gguf.py
 * prefers it, else tokenizer.json's byte-level BPE), tokenizer_config.json and the
 * special token ids of config (config.json) into the tokenizer.* keys convert_hf_to_gguf.py
 * writes, into w. n_vocab: rows of the token embedding (ids beyond the tokenizer's are
 * "[PAD<id>]" tokens of type UNUSED). arch: "llama" or "qwen2". */
celer_status hf_tokenizer_import(const char *dir, const cJSON *config, const char *arch, int64_t n_vocab, gguf_writer *w,
                                 celer_error *err);

#endif
