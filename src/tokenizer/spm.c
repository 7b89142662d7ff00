/* spm.c: SentencePiece-style BPE (Llama 2): start from UTF-8 characters, repeatedly merge
 * the neighbouring pair whose joined text is the token with the highest score (ties:
 * leftmost); what stays no token is spelled with byte tokens <0xXX>. As llama.cpp's
 * llm_tokenizer_spm_session. Tests: tests/test_tokenizer.c. */
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer/tokenizer_impl.h"

static celer_status queue_pair(const tokenizer *t, merge_queue *q, const merge_symbol *syms, const char *text,
                               int32_t left, int32_t right, celer_error *err) {
    if (left < 0 || right < 0) return CELER_OK;
    uint32_t size = syms[left].n + syms[right].n;
    int32_t id = strmap_get(&t->ids, text + syms[left].off, size, NULL, 0);
    if (id < 0) return CELER_OK;
    merge_candidate c = {.key = t->score[id], .left = left, .right = right, .size = size};
    return merge_queue_push(q, c, err);
}

/* llama.cpp's byte_to_token: "<0xXX>", else the byte itself as a token. */
static celer_status push_byte(const tokenizer *t, uint8_t byte, token_list *out, celer_error *err) {
    char hex[7];
    snprintf(hex, sizeof(hex), "<0x%02X>", byte);
    int32_t id = strmap_get(&t->ids, hex, 6, NULL, 0);
    if (id < 0) id = strmap_get(&t->ids, (const char *)&byte, 1, NULL, 0);
    if (id < 0) id = t->unk; /* llama.cpp fails here; <unk> is what SentencePiece would emit */
    if (id < 0)
        return celer_error_set(err, CELER_ERR_FORMAT, "tokenizer: the vocabulary has no token for byte 0x%02X", byte);
    return token_list_push(out, id, err);
}

static celer_status emit_symbol(const tokenizer *t, const char *s, size_t n, token_list *out, celer_error *err) {
    int32_t id = strmap_get(&t->ids, s, n, NULL, 0);
    if (id >= 0) return token_list_push(out, id, err);
    celer_status st = CELER_OK;
    for (size_t i = 0; st == CELER_OK && i < n; i++) st = push_byte(t, (uint8_t)s[i], out, err);
    return st;
}

celer_status spm_encode(const tokenizer *t, const char *text, size_t len, token_list *out, celer_error *err) {
    merge_symbol *syms = NULL;
    size_t cap = 0, n_syms = 0;
    merge_queue q = {0};
    celer_status st = merge_symbols_init(&syms, &cap, &n_syms, text, len, err);
    for (size_t i = 1; st == CELER_OK && i < n_syms; i++) st = queue_pair(t, &q, syms, text, (int32_t)i - 1, (int32_t)i, err);
    merge_candidate c;
    while (st == CELER_OK && merge_queue_pop(&q, &c)) {
        merge_symbol *l = &syms[c.left], *r = &syms[c.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != c.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) syms[r->next].prev = c.left;
        st = queue_pair(t, &q, syms, text, l->prev, c.left, err);
        if (st == CELER_OK) st = queue_pair(t, &q, syms, text, c.left, l->next, err);
    }
    for (int32_t i = 0; st == CELER_OK && n_syms > 0 && i >= 0; i = syms[i].next)
        st = emit_symbol(t, text + syms[i].off, syms[i].n, out, err);
    free(syms);
    merge_queue_free(&q);
    return st;
}
