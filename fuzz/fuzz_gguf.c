/* fuzz_gguf.c: libFuzzer target for the GGUF reader and writer.
 *
 * Every input is parsed. A refused input must come back with one line naming
 * "<buffer>". An accepted one has every getter called on every key and every tensor
 * byte read (ASan checks the bounds), then goes through the writer and back: the
 * rewritten file must parse, hold the same keys and tensors, and rewrite to the same
 * bytes again (write . parse is idempotent).
 * Run: scripts/fuzz.sh [seconds] (builds with clang into build-fuzz, seeds in fuzz/seeds/gguf). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

#define REQUIRE(cond)                                                                      \
    do {                                                                                   \
        if (!(cond)) __builtin_trap();                                                     \
    } while (0)

static void call_getters(const gguf_file *f, const gguf_kv *kv) {
    const char *key = kv->key.data; /* a key with a NUL inside is looked up by its prefix */
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f32;
    bool b;
    const gguf_string *s;
    const gguf_value *v;
    celer_error err;
    (void)gguf_get_u32(f, key, &u32, &err);
    (void)gguf_get_u64(f, key, &u64, &err);
    (void)gguf_get_i64(f, key, &i64, &err);
    (void)gguf_get_f32(f, key, &f32, &err);
    (void)gguf_get_bool(f, key, &b, &err);
    if (gguf_get_str(f, key, &s, &err) == CELER_OK) REQUIRE(s->data[s->len] == '\0');
    if (gguf_get_arr(f, key, GGUF_TYPE_COUNT, &v, &err) == CELER_OK) REQUIRE(v->is_array && v->type != GGUF_TYPE_ARRAY);
    if (strlen(key) == kv->key.len) REQUIRE(gguf_find_kv(f, key) == kv);
}

/* Reads every tensor byte so an out-of-range pointer shows up under ASan. */
static uint8_t touch_tensors(const gguf_file *f) {
    uint8_t sum = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        REQUIRE(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS && t->size > 0);
        REQUIRE((const uint8_t *)t->data >= f->base && t->size <= f->size);
        REQUIRE((uint64_t)((const uint8_t *)t->data - f->base) <= f->size - t->size);
        for (uint64_t k = 0; k < t->size; k++) sum ^= ((const uint8_t *)t->data)[k];
    }
    return sum;
}

/* Serialises f through the writer; false when a name the writer cannot take (one with a
 * NUL inside) makes the round trip meaningless, or when a huge alignment (legal up to
 * 2^31) would make the rewritten file megabytes of padding and the fuzzer slow. */
static bool rewrite(const gguf_file *f, void **out, size_t *size) {
    if (f->alignment > 1024) return false;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (strlen(f->tensors[i].name.data) != f->tensors[i].name.len) return false;
    gguf_writer *w = gguf_writer_new();
    REQUIRE(w);
    for (uint64_t i = 0; i < f->n_kv; i++) REQUIRE(gguf_writer_copy_kv(w, &f->kv[i], NULL) == CELER_OK);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        REQUIRE(gguf_writer_add_tensor(w, t->name.data, t->type, t->n_dims, t->ne, t->data, NULL) == CELER_OK);
    }
    REQUIRE(gguf_writer_to_buffer(w, out, size, NULL) == CELER_OK);
    gguf_writer_free(w);
    return true;
}

static void check_same(const gguf_file *a, const gguf_file *b) {
    REQUIRE(a->n_kv == b->n_kv && a->n_tensors == b->n_tensors && a->alignment == b->alignment);
    for (uint64_t i = 0; i < a->n_kv; i++) {
        REQUIRE(a->kv[i].key.len == b->kv[i].key.len && !memcmp(a->kv[i].key.data, b->kv[i].key.data, a->kv[i].key.len));
        REQUIRE(a->kv[i].value.type == b->kv[i].value.type && a->kv[i].value.is_array == b->kv[i].value.is_array);
        REQUIRE(a->kv[i].value.n == b->kv[i].value.n);
    }
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        REQUIRE(x->type == y->type && x->n_dims == y->n_dims && x->size == y->size);
        REQUIRE(!memcmp(x->ne, y->ne, sizeof(x->ne)) && !memcmp(x->data, y->data, x->size));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    celer_error err = {{0}};
    if (gguf_parse(data, size, &f, &err) != CELER_OK) {
        REQUIRE(f == NULL && strncmp(err.msg, "<buffer>: ", 10) == 0 && !strchr(err.msg, '\n'));
        return 0;
    }
    for (uint64_t i = 0; i < f->n_kv; i++) call_getters(f, &f->kv[i]);
    volatile uint8_t sink = touch_tensors(f);
    (void)sink;
    void *buf1 = NULL, *buf2 = NULL;
    size_t size1 = 0, size2 = 0;
    if (rewrite(f, &buf1, &size1)) {
        gguf_file *g = NULL;
        REQUIRE(gguf_parse(buf1, size1, &g, &err) == CELER_OK);
        check_same(f, g);
        REQUIRE(rewrite(g, &buf2, &size2));
        REQUIRE(size1 == size2 && !memcmp(buf1, buf2, size1));
        gguf_close(g);
    }
    free(buf1);
    free(buf2);
    gguf_close(f);
    return 0;
}
