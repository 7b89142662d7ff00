/* strmap.c: open addressing with linear probing, FNV-1a hashes over both key parts.
 * Tests: tests/test_tokenizer.c. */
#include "tokenizer/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static uint64_t hash_pair(const char *a, size_t na, const char *b, size_t nb) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < na; i++) h = (h ^ (uint8_t)a[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < nb; i++) h = (h ^ (uint8_t)b[i]) * 0x100000001b3ull;
    h = (h ^ na) * 0x100000001b3ull; /* where a ends is part of the key */
    return h ^ (h >> 29);
}

bool strmap_init(strmap *m, size_t max_keys) {
    size_t cap = 16;
    while (cap < 2 * max_keys) cap *= 2;
    m->slots = malloc(cap * sizeof(strmap_entry));
    m->cap = cap;
    m->n = 0;
    if (!m->slots) return false;
    for (size_t i = 0; i < cap; i++) m->slots[i].value = -1;
    return true;
}

void strmap_free(strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

/* The slot holding (a, b), or the empty slot where it would go. */
static strmap_entry *find_slot(const strmap *m, const char *a, size_t na, const char *b, size_t nb,
                               uint64_t h) {
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        strmap_entry *e = &m->slots[i];
        if (e->value < 0) return e;
        if (e->hash == h && e->na == na && e->nb == nb && memcmp(e->a, a, na) == 0 &&
            memcmp(e->b, b, nb) == 0)
            return e;
    }
}

static strmap_entry *insert(strmap *m, const char *a, size_t na, const char *b, size_t nb,
                            bool *fresh) {
    uint64_t h = hash_pair(a, na, b, nb);
    strmap_entry *e = find_slot(m, a, na, b, nb, h);
    *fresh = e->value < 0;
    if (*fresh) {
        CHECK(2 * (m->n + 1) <= m->cap);
        *e = (strmap_entry){.a = a, .b = b, .na = (uint32_t)na, .nb = (uint32_t)nb, .hash = h};
        m->n++;
    }
    return e;
}

int32_t strmap_put(strmap *m, const char *a, size_t na, const char *b, size_t nb, int32_t value) {
    bool fresh;
    strmap_entry *e = insert(m, a, na, b ? b : "", nb, &fresh);
    if (fresh) e->value = value;
    return e->value;
}

void strmap_set(strmap *m, const char *a, size_t na, const char *b, size_t nb, int32_t value) {
    bool fresh;
    insert(m, a, na, b ? b : "", nb, &fresh)->value = value;
}

int32_t strmap_get(const strmap *m, const char *a, size_t na, const char *b, size_t nb) {
    if (!b) b = "";
    return find_slot(m, a, na, b, nb, hash_pair(a, na, b, nb))->value;
}
