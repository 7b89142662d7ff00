/* encode.c: text -> ids (special tokens cut out first, then BPE or SPM on the plain text
 * between them, as llama.cpp's llama_vocab::impl::tokenize), token pieces, and the
 * streaming detokenizer. Tests: tests/test_tokenizer.c. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"

/* A stretch of the input: plain text (token = -1) or one special token. */
typedef struct {
    int32_t token;
    size_t off, len;
} fragment;

typedef struct {
    fragment *items; /* (cap) */
    size_t n, cap;
} fragment_list;

static celer_status fragment_push(fragment_list *l, fragment f, celer_error *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        fragment *p = realloc(l->items, cap * sizeof(*p));
        if (!p) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = f;
    return CELER_OK;
}

static bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Cuts every occurrence of special token id out of the plain fragment f (leftmost first,
 * non-overlapping), trimming whitespace beside it when the token says so. */
static celer_status cut_fragment(const tokenizer *t, const char *text, fragment f, int32_t id, fragment_list *out,
                                 celer_error *err) {
    const char *tok = token_text(t, id);
    size_t tl = token_len(t, id);
    uint32_t attr = t->attr[id];
    celer_status st = CELER_OK;
    while (st == CELER_OK && f.len > 0) {
        const char *hit = memmem(text + f.off, f.len, tok, tl);
        if (!hit) return fragment_push(out, f, err);
        size_t at = (size_t)(hit - text), left = at - f.off;
        if (attr & TOKEN_ATTR_LSTRIP)
            while (left > 0 && ascii_space(text[f.off + left - 1])) left--;
        if (left > 0) st = fragment_push(out, (fragment){-1, f.off, left}, err);
        if (st == CELER_OK) st = fragment_push(out, (fragment){id, at, tl}, err);
        size_t end = f.off + f.len;
        f.off = at + tl;
        f.len = end - f.off;
        if (attr & TOKEN_ATTR_RSTRIP)
            while (f.len > 0 && ascii_space(text[f.off])) f.off++, f.len--;
    }
    return st;
}

/* Splits the text at special tokens, longest first; control and unknown tokens only when
 * parse_special (user-defined ones always). *frags holds the result. */
static celer_status partition(const tokenizer *t, const char *text, size_t len, bool parse_special,
                              fragment_list *frags, celer_error *err) {
    fragment_list next = {0};
    celer_status st = len > 0 ? fragment_push(frags, (fragment){-1, 0, len}, err) : CELER_OK;
    for (int32_t s = 0; st == CELER_OK && s < t->n_special; s++) {
        int32_t id = t->special[s];
        if (!parse_special && (t->attr[id] & (TOKEN_ATTR_CONTROL | TOKEN_ATTR_UNKNOWN))) continue;
        next.n = 0;
        for (size_t i = 0; st == CELER_OK && i < frags->n; i++)
            st = frags->items[i].token >= 0 ? fragment_push(&next, frags->items[i], err)
                                            : cut_fragment(t, text, frags->items[i], id, &next, err);
        fragment_list tmp = *frags;
        *frags = next;
        next = tmp;
    }
    free(next.items);
    return st;
}

/* SentencePiece input: a leading space when asked for, every space as U+2581. */
static celer_status spm_fragment(const tokenizer *t, const char *text, size_t len, bool prefix, token_list *out,
                                 celer_error *err) {
    char *buf = malloc(3 * (len + 1));
    if (!buf) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory for %zu bytes", len);
    size_t n = 0;
    if (prefix) memcpy(buf, "\xE2\x96\x81", 3), n = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(buf + n, "\xE2\x96\x81", 3), n += 3;
        else buf[n++] = text[i];
    }
    celer_status st = spm_encode(t, buf, n, out, err);
    free(buf);
    return st;
}

static celer_status encode_fragments(const tokenizer *t, const char *text, const fragment_list *frags, token_list *out,
                                     celer_error *err) {
    bool prev_special = true; /* SPM: the first text gets the prefix space */
    celer_status st = CELER_OK;
    for (size_t i = 0; st == CELER_OK && i < frags->n; i++) {
        fragment f = frags->items[i];
        if (f.token >= 0) {
            st = token_list_push(out, f.token, err);
            prev_special = true;
        } else if (t->kind == TOKENIZER_SPM) {
            st = spm_fragment(t, text + f.off, f.len, t->add_space_prefix && prev_special, out, err);
            prev_special = false;
        } else {
            st = bpe_encode(t, text + f.off, f.len, out, err);
        }
    }
    return st;
}

celer_status tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_special,
                              bool parse_special, int32_t **ids, size_t *n_ids, celer_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (len > (1u << 30))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "tokenizer: %zu bytes of text, at most 2^30 per call", len);
    if (len > 0 && !text) return celer_error_set(err, CELER_ERR_INVALID_ARG, "tokenizer: NULL text");
    token_list out = {0};
    fragment_list frags = {0};
    celer_status st = partition(t, text, len, parse_special, &frags, err);
    if (st == CELER_OK && add_special && t->add_bos) {
        st = t->bos >= 0 ? token_list_push(&out, t->bos, err)
                         : celer_error_set(err, CELER_ERR_FORMAT, "tokenizer: the model asks for BOS but has no BOS token");
    }
    if (st == CELER_OK) st = encode_fragments(t, text, &frags, &out, err);
    if (st == CELER_OK && add_special && t->add_eos) {
        st = t->eos >= 0 ? token_list_push(&out, t->eos, err)
                         : celer_error_set(err, CELER_ERR_FORMAT, "tokenizer: the model asks for EOS but has no EOS token");
    }
    if (st == CELER_OK && !out.ids && !(out.ids = malloc(sizeof(int32_t))))
        st = celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
    free(frags.items);
    if (st != CELER_OK) {
        free(out.ids);
        return st;
    }
    *ids = out.ids;
    *n_ids = out.n;
    return CELER_OK;
}

celer_status tokenizer_piece(const tokenizer *t, int32_t id, bool render_special, const char **bytes,
                             size_t *len, celer_error *err) {
    if (id < 0 || id >= t->n_vocab) {
        *bytes = "";
        *len = 0;
        return celer_error_set(err, CELER_ERR_RANGE, "tokenizer: token id %d outside the vocabulary (0..%d)", id,
                               t->n_vocab - 1);
    }
    bool hidden = !render_special && (t->attr[id] & (TOKEN_ATTR_CONTROL | TOKEN_ATTR_UNKNOWN));
    *bytes = t->piece + t->piece_off[id];
    *len = hidden ? 0 : (size_t)(t->piece_off[id + 1] - t->piece_off[id]);
    return CELER_OK;
}

/* ---- streaming detokenizer ---- */

void detokenizer_init(detokenizer *d) { *d = (detokenizer){0}; }

/* How many bytes at the end of buf start a UTF-8 character that is still missing bytes. */
static size_t incomplete_tail(const char *buf, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        uint8_t b = (uint8_t)buf[n - k];
        if ((b & 0xC0) == 0x80) continue; /* continuation: look further back */
        size_t need = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

size_t detokenizer_push(detokenizer *d, const tokenizer *t, int32_t id, char *out, size_t out_cap) {
    const char *piece;
    size_t n;
    if (tokenizer_piece(t, id, d->render_special, &piece, &n, NULL) != CELER_OK) return 0;
    size_t total = d->n_pending + n;
    CHECK(total <= out_cap); /* the caller's buffer: tokenizer_max_piece_len + DETOKENIZER_SLACK */
    memcpy(out, d->pending, d->n_pending);
    memcpy(out + d->n_pending, piece, n);
    size_t keep = incomplete_tail(out, total);
    memcpy(d->pending, out + total - keep, keep);
    d->n_pending = keep;
    return total - keep;
}

size_t detokenizer_flush(detokenizer *d, char *out, size_t out_cap) {
    CHECK(d->n_pending <= out_cap);
    size_t n = d->n_pending;
    memcpy(out, d->pending, n);
    d->n_pending = 0;
    return n;
}
