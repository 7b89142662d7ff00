/* hf_sentencepiece.c: the pieces of a SentencePiece tokenizer.model (a protobuf
 * ModelProto): field 1 repeats SentencePiece messages {1: piece (string), 2: score
 * (float), 3: type (enum, NORMAL when absent)}; every other field is skipped. The reader
 * checks every length against the bytes left and refuses groups, unknown wire types,
 * types outside 1..6 and pieces without text.
 * Tests: tests/test_hf_import.c (a tokenizer.model written from a SentencePiece GGUF). */
#include <inttypes.h>
#include <string.h>

#include "format/hf_internal.h"

typedef struct {
    const uint8_t *p, *end;
} pb_reader;

static bool pb_varint(pb_reader *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end) return false;
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

/* The bytes of a length-delimited field. */
static bool pb_bytes(pb_reader *r, const uint8_t **data, uint64_t *len) {
    if (!pb_varint(r, len) || *len > (uint64_t)(r->end - r->p)) return false;
    *data = r->p;
    r->p += *len;
    return true;
}

static bool pb_skip(pb_reader *r, uint32_t wire) {
    uint64_t v = 0;
    const uint8_t *data = NULL;
    switch (wire) {
    case 0: return pb_varint(r, &v);
    case 1: if (r->end - r->p < 8) return false; r->p += 8; return true;
    case 2: return pb_bytes(r, &data, &v);
    case 5: if (r->end - r->p < 4) return false; r->p += 4; return true;
    default: return false; /* groups (3, 4) and unknown wire types */
    }
}

static celer_status read_piece(const uint8_t *data, uint64_t len, hf_piece *out, const char *where, size_t index, celer_error *err) {
    pb_reader r = {data, data + len};
    out->type = 1;
    while (r.p < r.end) {
        uint64_t key = 0;
        if (!pb_varint(&r, &key)) break;
        uint32_t field = (uint32_t)(key >> 3), wire = (uint32_t)(key & 7);
        const uint8_t *text = NULL;
        uint64_t n = 0, v = 0;
        if (field == 1 && wire == 2) {
            if (!pb_bytes(&r, &text, &n)) break;
            free(out->text);
            if (!(out->text = malloc(n + 1))) return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", where);
            memcpy(out->text, text, n);
            out->text[n] = '\0';
        } else if (field == 2 && wire == 5) {
            if (r.end - r.p < 4) break;
            memcpy(&out->score, r.p, 4); /* little-endian host, as the GGUF reader assumes */
            r.p += 4;
        } else if (field == 3 && wire == 0) {
            if (!pb_varint(&r, &v)) break;
            if (v < 1 || v > 6) return celer_error_set(err, CELER_ERR_FORMAT, "%s: piece %zu has type %" PRIu64 " (expected 1..6)", where, index, v);
            out->type = (int32_t)v;
        } else if (!pb_skip(&r, wire)) {
            break;
        }
    }
    if (r.p != r.end) return celer_error_set(err, CELER_ERR_FORMAT, "%s: piece %zu is malformed", where, index);
    if (!out->text) return celer_error_set(err, CELER_ERR_FORMAT, "%s: piece %zu has no text", where, index);
    return CELER_OK;
}

void hf_pieces_free(hf_piece *pieces, size_t n) {
    for (size_t i = 0; pieces && i < n; i++) free(pieces[i].text);
    free(pieces);
}

celer_status hf_sentencepiece_read(const uint8_t *data, size_t size, const char *where, hf_piece **out, size_t *n_out, celer_error *err) {
    *out = NULL;
    *n_out = 0;
    size_t cap = size / 2 + 1; /* a piece takes at least 2 bytes (its key and length) */
    hf_piece *pieces = calloc(cap, sizeof(*pieces));
    if (!pieces) return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", where);
    pb_reader r = {data, data + size};
    size_t n = 0;
    celer_status st = CELER_OK;
    while (r.p < r.end && st == CELER_OK) {
        uint64_t key = 0, len = 0;
        const uint8_t *piece = NULL;
        if (!pb_varint(&r, &key)) st = celer_error_set(err, CELER_ERR_FORMAT, "%s: not a SentencePiece model (bad field key)", where);
        else if ((key >> 3) == 1 && (key & 7) == 2) {
            if (!pb_bytes(&r, &piece, &len) || n == cap) st = celer_error_set(err, CELER_ERR_FORMAT, "%s: piece %zu is truncated", where, n);
            else st = read_piece(piece, len, &pieces[n], where, n, err), n++;
        } else if (!pb_skip(&r, (uint32_t)(key & 7))) {
            st = celer_error_set(err, CELER_ERR_FORMAT, "%s: not a SentencePiece model (field %" PRIu64 " is malformed)", where, key >> 3);
        }
    }
    if (st == CELER_OK && n == 0) st = celer_error_set(err, CELER_ERR_FORMAT, "%s: holds no pieces", where);
    if (st != CELER_OK) {
        hf_pieces_free(pieces, n);
        return st;
    }
    *out = pieces;
    *n_out = n;
    return CELER_OK;
}
