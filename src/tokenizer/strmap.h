/* strmap.h: a fixed-capacity open-addressing hash map from byte strings to int32.
 *
 * A key is a pair of byte strings (a, b): the token table uses (text, ""), the BPE merge
 * table (left, right), so a merge is found without building the joined string. Keys are
 * borrowed: the bytes must outlive the map. Tests: tests/test_tokenizer.c. */
#ifndef CELER_TOKENIZER_STRMAP_H
#define CELER_TOKENIZER_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *a, *b;
    uint32_t na, nb;
    uint64_t hash;
    int32_t value; /* -1: empty slot */
} strmap_entry;

typedef struct {
    strmap_entry *slots; /* (cap) */
    size_t cap;          /* power of two, at least twice the most keys */
    size_t n;
} strmap;

/* Room for max_keys keys. Returns false when out of memory. */
bool strmap_init(strmap *m, size_t max_keys);
void strmap_free(strmap *m);

/* Adds (a, b) -> value (value >= 0) unless the key is present. Returns the value now
 * stored for the key: value itself, or the earlier one. Never exceeds max_keys. */
int32_t strmap_put(strmap *m, const char *a, size_t na, const char *b, size_t nb, int32_t value);

/* Replaces or adds. */
void strmap_set(strmap *m, const char *a, size_t na, const char *b, size_t nb, int32_t value);

/* The value for (a, b), or -1. */
int32_t strmap_get(const strmap *m, const char *a, size_t na, const char *b, size_t nb);

#endif
