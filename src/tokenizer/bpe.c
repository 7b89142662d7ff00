/* bpe.c: byte-level BPE: pre-tokenize into words, then in each word repeatedly merge the
 * neighbouring pair with the lowest merge rank (ties: leftmost), as llama.cpp's
 * llm_tokenizer_bpe_session. Tests: tests/test_tokenizer.c. */
#include <stdlib.h>

#include "tokenizer/tokenizer_impl.h"

typedef struct {
    const tokenizer *t;
    token_list *out;
    merge_symbol *syms; /* (cap_syms) */
    size_t cap_syms;
    merge_queue queue;
    const char *word;
} bpe_state;

static celer_status queue_pair(bpe_state *s, int32_t left, int32_t right, celer_error *err) {
    if (left < 0 || right < 0) return CELER_OK;
    const merge_symbol *l = &s->syms[left], *r = &s->syms[right];
    int32_t rank = strmap_get(&s->t->merges, s->word + l->off, l->n, s->word + r->off, r->n);
    if (rank < 0) return CELER_OK;
    merge_candidate c = {.key = -(double)rank, .left = left, .right = right, .size = l->n + r->n};
    return merge_queue_push(&s->queue, c, err);
}

/* A symbol that is no token is spelled byte by byte; bytes without a token are dropped. */
static celer_status emit_symbol(bpe_state *s, const char *text, size_t n, celer_error *err) {
    int32_t id = strmap_get(&s->t->ids, text, n, NULL, 0);
    if (id >= 0) return token_list_push(s->out, id, err);
    for (size_t i = 0; i < n; i++) {
        id = strmap_get(&s->t->ids, text + i, 1, NULL, 0);
        celer_status st = id >= 0 ? token_list_push(s->out, id, err) : CELER_OK;
        if (st != CELER_OK) return st;
    }
    return CELER_OK;
}

static celer_status bpe_word(void *user, const char *word, size_t n, celer_error *err) {
    bpe_state *s = user;
    if (s->t->ignore_merges) {
        int32_t id = strmap_get(&s->t->ids, word, n, NULL, 0);
        if (id >= 0) return token_list_push(s->out, id, err);
    }
    size_t n_syms;
    celer_status st = merge_symbols_init(&s->syms, &s->cap_syms, &n_syms, word, n, err);
    s->word = word;
    s->queue.n = 0;
    for (size_t i = 1; st == CELER_OK && i < n_syms; i++) st = queue_pair(s, (int32_t)i - 1, (int32_t)i, err);
    merge_candidate c;
    while (st == CELER_OK && merge_queue_pop(&s->queue, &c)) {
        merge_symbol *l = &s->syms[c.left], *r = &s->syms[c.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != c.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->syms[r->next].prev = c.left;
        st = queue_pair(s, l->prev, c.left, err);
        if (st == CELER_OK) st = queue_pair(s, c.left, l->next, err);
    }
    for (int32_t i = 0; st == CELER_OK && n_syms > 0 && i >= 0; i = s->syms[i].next)
        st = emit_symbol(s, word + s->syms[i].off, s->syms[i].n, err);
    return st;
}

celer_status bpe_encode(const tokenizer *t, const char *text, size_t len, token_list *out, celer_error *err) {
    bpe_state s = {.t = t, .out = out};
    celer_status st = pretokenizer_split(t->pre, text, len, bpe_word, &s, err);
    free(s.syms);
    merge_queue_free(&s.queue);
    return st;
}
