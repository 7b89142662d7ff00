/* merge.c: the symbol chain and the candidate queue that BPE and SPM merging share.
 * Tests: tests/test_tokenizer.c. */
#include <stdlib.h>

#include "tokenizer/tokenizer_impl.h"

celer_status token_list_push(token_list *l, int32_t id, celer_error *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int32_t *p = realloc(l->ids, cap * sizeof(int32_t));
        if (!p) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory for %zu tokens", cap);
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return CELER_OK;
}

static bool before(const merge_candidate *a, const merge_candidate *b) {
    return a->key > b->key || (a->key == b->key && a->left < b->left);
}

celer_status merge_queue_push(merge_queue *q, merge_candidate c, celer_error *err) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 64;
        merge_candidate *p = realloc(q->heap, cap * sizeof(*p));
        if (!p) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory for merges");
        q->heap = p;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0 && before(&c, &q->heap[(i - 1) / 2])) { /* sift up */
        q->heap[i] = q->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->heap[i] = c;
    return CELER_OK;
}

bool merge_queue_pop(merge_queue *q, merge_candidate *out) {
    if (q->n == 0) return false;
    *out = q->heap[0];
    merge_candidate last = q->heap[--q->n];
    size_t i = 0;
    for (;;) { /* sift down */
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && before(&q->heap[c + 1], &q->heap[c])) c++;
        if (!before(&q->heap[c], &last)) break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->n > 0) q->heap[i] = last;
    return true;
}

void merge_queue_free(merge_queue *q) {
    free(q->heap);
    *q = (merge_queue){0};
}

static size_t utf8_len_from_lead(uint8_t b) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[b >> 4];
}

celer_status merge_symbols_init(merge_symbol **syms, size_t *cap, size_t *n_syms, const char *s, size_t n,
                                celer_error *err) {
    if (n > *cap) {
        merge_symbol *p = realloc(*syms, n * sizeof(merge_symbol));
        if (!p) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory for %zu symbols", n);
        *syms = p;
        *cap = n;
    }
    size_t k = 0;
    for (size_t off = 0; off < n; k++) {
        size_t len = utf8_len_from_lead((uint8_t)s[off]);
        if (len > n - off) len = n - off;
        (*syms)[k] = (merge_symbol){.prev = (int32_t)k - 1, .next = (int32_t)k + 1, .off = (uint32_t)off, .n = (uint32_t)len};
        off += len;
    }
    if (k > 0) (*syms)[k - 1].next = -1;
    *n_syms = k;
    return CELER_OK;
}
