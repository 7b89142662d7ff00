/* gguf_write.c: GGUF v3 writer. Metadata and tensors are kept in insertion order; the
 * file is the header, the key/values, the tensor infos, zero padding to the alignment
 * (general.alignment if set, else 32), then each tensor's data padded with zeros to the
 * alignment. Files are written to "<path>.tmp" and renamed, so a failed write never
 * leaves a half-written file under the real name.
 * Tests: tests/test_gguf.c (writer -> reader round trips of every value type and of
 * tensors of several types); the fuzz target re-writes every file it parses. */
#include "format/gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf_internal.h"
#include "quant/quant.h"

struct gguf_writer {
    gguf_kv *kv; /* (n_kv) owned, insertion order */
    uint64_t n_kv, cap_kv;
    gguf_tensor *tensors; /* (n_tensors) names owned, data borrowed; offset set on write */
    uint64_t n_tensors, cap_tensors;
};

/* ---- owned copies ---- */

static bool string_copy(gguf_string *dst, const char *data, uint64_t len) {
    dst->data = malloc(len + 1);
    if (!dst->data) return false;
    if (len) memcpy(dst->data, data, len);
    dst->data[len] = '\0';
    dst->len = len;
    return true;
}

static void value_free(gguf_value *v) {
    free(v->str.data);
    if (v->is_array && v->elem_type == GGUF_TYPE_STRING && v->data) {
        gguf_string *strs = v->data;
        for (uint64_t i = 0; i < v->n; i++) free(strs[i].data);
    }
    free(v->data);
    memset(v, 0, sizeof(*v));
}

/* Deep copy of an array's elements into dst (whose header fields are already set). */
static bool array_copy(gguf_value *dst, const void *data, uint64_t n, bool strings_are_c) {
    if (dst->elem_type != GGUF_TYPE_STRING) {
        size_t bytes = (size_t)(n * gguf_type_size(dst->elem_type)); /* overflow checked by callers */
        dst->data = malloc(bytes ? bytes : 1);
        if (!dst->data) return false;
        if (bytes) memcpy(dst->data, data, bytes);
        dst->n = n;
        return true;
    }
    gguf_string *strs = calloc(n ? n : 1, sizeof(gguf_string));
    if (!strs) return false;
    dst->data = strs;
    dst->n = n;
    for (uint64_t i = 0; i < n; i++) {
        const char *c = strings_are_c ? ((const char *const *)data)[i] : ((const gguf_string *)data)[i].data;
        uint64_t len = strings_are_c ? strlen(c) : ((const gguf_string *)data)[i].len;
        if (!string_copy(&strs[i], c, len)) return false;
    }
    return true;
}

/* ---- the writer ---- */

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key.data);
        value_free(&w->kv[i].value);
    }
    free(w->kv);
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name.data);
    free(w->tensors);
    free(w);
}

static bool grow(void **items, uint64_t *cap, uint64_t n, size_t item_size) {
    if (n < *cap) return true;
    uint64_t new_cap = *cap ? 2 * *cap : 16;
    void *p = realloc(*items, new_cap * item_size);
    if (!p) return false;
    *items = p;
    *cap = new_cap;
    return true;
}

static gguf_kv *find_key(gguf_writer *w, const char *key, uint64_t len) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (w->kv[i].key.len == len && memcmp(w->kv[i].key.data, key, len) == 0) return &w->kv[i];
    return NULL;
}

/* Takes ownership of *v (freed on failure too); replaces the value of an existing key. */
static celer_status set_value(gguf_writer *w, const char *key, uint64_t key_len, gguf_value *v, celer_error *err) {
    if (!key || key_len == 0) {
        value_free(v);
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: empty or NULL key");
    }
    gguf_kv *kv = find_key(w, key, key_len);
    if (kv) {
        value_free(&kv->value);
        kv->value = *v;
        return CELER_OK;
    }
    if (!grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof(gguf_kv))) {
        value_free(v);
        return celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory adding key '%s'", key);
    }
    kv = &w->kv[w->n_kv];
    if (!string_copy(&kv->key, key, key_len)) {
        value_free(v);
        return celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory adding key '%s'", key);
    }
    kv->value = *v;
    w->n_kv++;
    return CELER_OK;
}

static celer_status set_scalar(gguf_writer *w, const char *key, gguf_type type, gguf_value v, celer_error *err) {
    v.type = type;
    return set_value(w, key, key ? strlen(key) : 0, &v, err);
}

celer_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, celer_error *err) {
    return set_scalar(w, key, GGUF_TYPE_UINT32, (gguf_value){.num.u64 = v}, err);
}

celer_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, celer_error *err) {
    return set_scalar(w, key, GGUF_TYPE_INT32, (gguf_value){.num.i64 = v}, err);
}

celer_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, celer_error *err) {
    return set_scalar(w, key, GGUF_TYPE_UINT64, (gguf_value){.num.u64 = v}, err);
}

celer_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v, celer_error *err) {
    return set_scalar(w, key, GGUF_TYPE_FLOAT32, (gguf_value){.num.f64 = v}, err);
}

celer_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v, celer_error *err) {
    return set_scalar(w, key, GGUF_TYPE_BOOL, (gguf_value){.num.u64 = v}, err);
}

celer_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v, celer_error *err) {
    if (!v) return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: NULL string for key '%s'", key ? key : "(null)");
    gguf_value value = {.type = GGUF_TYPE_STRING};
    if (!string_copy(&value.str, v, strlen(v))) return celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory for key '%s'", key);
    return set_value(w, key, key ? strlen(key) : 0, &value, err);
}

/* Element type, size, NULL pointers and bool bytes of an array about to be copied. */
static celer_status check_array(const char *shown, gguf_type elem_type, const void *data, uint64_t n, bool strings_are_c,
                                celer_error *err) {
    if (elem_type >= GGUF_TYPE_COUNT || elem_type == GGUF_TYPE_ARRAY)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: key '%s': array element type %d is not allowed", shown, (int)elem_type);
    size_t elem = elem_type == GGUF_TYPE_STRING ? sizeof(gguf_string) : gguf_type_size(elem_type);
    if (n > SIZE_MAX / elem)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: key '%s': array of %" PRIu64 " elements is too large", shown, n);
    if (n && !data) return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: key '%s': NULL data for %" PRIu64 " elements", shown, n);
    for (uint64_t i = 0; strings_are_c && i < n; i++)
        if (!((const char *const *)data)[i])
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: key '%s': string %" PRIu64 " is NULL", shown, i);
    for (uint64_t i = 0; elem_type == GGUF_TYPE_BOOL && i < n; i++)
        if (((const uint8_t *)data)[i] > 1)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: key '%s': bool element %" PRIu64 " is %u, expected 0 or 1", shown, i,
                                   ((const uint8_t *)data)[i]);
    return CELER_OK;
}

static celer_status set_array(gguf_writer *w, const char *key, uint64_t key_len, gguf_type elem_type, const void *data,
                              uint64_t n, bool strings_are_c, celer_error *err) {
    const char *shown = key ? key : "(null)";
    celer_status st = check_array(shown, elem_type, data, n, strings_are_c, err);
    if (st != CELER_OK) return st;
    gguf_value v = {.type = elem_type, .is_array = true, .elem_type = elem_type};
    if (!array_copy(&v, data, n, strings_are_c)) {
        value_free(&v);
        return celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory for key '%s'", shown);
    }
    return set_value(w, key, key_len, &v, err);
}

celer_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type, const void *data, uint64_t n,
                                 celer_error *err) {
    if (elem_type == GGUF_TYPE_STRING)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: key '%s': use gguf_writer_set_arr_str for strings", key ? key : "(null)");
    return set_array(w, key, key ? strlen(key) : 0, elem_type, data, n, false, err);
}

celer_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n, celer_error *err) {
    return set_array(w, key, key ? strlen(key) : 0, GGUF_TYPE_STRING, strs, n, true, err);
}

celer_status gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv, celer_error *err) {
    const gguf_value *src = &kv->value;
    if (src->is_array) return set_array(w, kv->key.data, kv->key.len, src->elem_type, src->data, src->n, false, err);
    if ((unsigned)src->type >= GGUF_TYPE_COUNT || src->type == GGUF_TYPE_ARRAY)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: key '%s': value type %d is not allowed", kv->key.data, (int)src->type);
    gguf_value v = {.type = src->type, .num = src->num};
    if (src->type == GGUF_TYPE_STRING && !string_copy(&v.str, src->str.data, src->str.len))
        return celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory for key '%s'", kv->key.data);
    if (src->type == GGUF_TYPE_BOOL) v.num.u64 = src->num.u64 != 0;
    return set_value(w, kv->key.data, kv->key.len, &v, err);
}

/* ---- tensors ---- */

/* Checks shape and type as the reader will, and computes the size in bytes. */
static celer_status tensor_size(const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne, uint64_t *size,
                                celer_error *err) {
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: tensor '%s': n_dims is %" PRIu32 ", expected 1..%d", name, n_dims, GGUF_MAX_DIMS);
    const quant_traits *traits = quant_get_traits(type);
    if (!traits)
        return celer_error_set(err, CELER_ERR_UNSUPPORTED, "gguf writer: tensor '%s': type %" PRIu32 " (%s) is not supported", name, type,
                               quant_type_name(type));
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; d++)
        if (ne[d] < 1 || __builtin_mul_overflow(n_elements, ne[d], &n_elements))
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: tensor '%s': ne[%" PRIu32 "] = %" PRId64 " is < 1 or overflows", name, d, ne[d]);
    if (ne[0] % traits->block_size != 0)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRId64,
                               name, ne[0], traits->name, traits->block_size);
    uint64_t bytes = quant_row_size(type, ne[0]);
    bool overflow = bytes == 0;
    for (uint32_t d = 1; d < n_dims; d++) overflow |= __builtin_mul_overflow(bytes, (uint64_t)ne[d], &bytes);
    if (overflow) return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: tensor '%s': size does not fit in 64 bits", name);
    *size = bytes;
    return CELER_OK;
}

/* data NULL: an info-only tensor, whose bytes the caller streams after gguf_writer_header. */
static celer_status add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                               const void *data, celer_error *err) {
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name.data, name) == 0)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    uint64_t size = 0;
    celer_status st = tensor_size(name, type, n_dims, ne, &size, err);
    if (st != CELER_OK) return st;
    if (!grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof(gguf_tensor)))
        return celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory adding tensor '%s'", name);
    gguf_tensor *t = &w->tensors[w->n_tensors];
    *t = (gguf_tensor){.n_dims = n_dims, .type = type, .size = size, .data = data, .ne = {1, 1, 1, 1}};
    for (uint32_t d = 0; d < n_dims; d++) t->ne[d] = ne[d];
    if (!string_copy(&t->name, name, strlen(name)))
        return celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory adding tensor '%s'", name);
    w->n_tensors++;
    return CELER_OK;
}

celer_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                                    const void *data, celer_error *err) {
    if (!name || !*name) return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: empty or NULL tensor name");
    if (!data) return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: tensor '%s': NULL data", name);
    return add_tensor(w, name, type, n_dims, ne, data, err);
}

celer_status gguf_writer_add_tensor_info(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                                         uint64_t *size, celer_error *err) {
    if (!name || !*name) return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: empty or NULL tensor name");
    celer_status st = add_tensor(w, name, type, n_dims, ne, NULL, err);
    if (st == CELER_OK && size) *size = w->tensors[w->n_tensors - 1].size;
    return st;
}

/* The writer's own outputs need every tensor's bytes. */
static celer_status check_all_data(const gguf_writer *w, celer_error *err) {
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (!w->tensors[i].data)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: tensor '%s' has no data (added as info only: stream it after gguf_writer_header)",
                                   w->tensors[i].name.data);
    return CELER_OK;
}

/* ---- serialisation ---- */

typedef struct {
    uint8_t *p; /* (cap) */
    size_t n, cap;
    bool oom;
} byte_buf;

static void put(byte_buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_zeros(byte_buf *b, size_t n) {
    static const uint8_t zeros[256];
    for (size_t chunk; n > 0 && !b->oom; n -= chunk) {
        chunk = n < sizeof(zeros) ? n : sizeof(zeros);
        put(b, zeros, chunk);
    }
}

static void put_u32(byte_buf *b, uint32_t v) { put(b, &v, 4); } /* little-endian host, as in gguf.c */
static void put_u64(byte_buf *b, uint64_t v) { put(b, &v, 8); }

static void put_string(byte_buf *b, const gguf_string *s) {
    put_u64(b, s->len);
    put(b, s->data, s->len);
}

/* One scalar from num, in the file's encoding for type. */
static void put_scalar(byte_buf *b, gguf_type type, const gguf_value *v) {
    uint8_t raw[8];
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: raw[0] = (uint8_t)v->num.u64; break;
    case GGUF_TYPE_INT8: { int8_t x = (int8_t)v->num.i64; memcpy(raw, &x, 1); } break;
    case GGUF_TYPE_UINT16: { uint16_t x = (uint16_t)v->num.u64; memcpy(raw, &x, 2); } break;
    case GGUF_TYPE_INT16: { int16_t x = (int16_t)v->num.i64; memcpy(raw, &x, 2); } break;
    case GGUF_TYPE_UINT32: { uint32_t x = (uint32_t)v->num.u64; memcpy(raw, &x, 4); } break;
    case GGUF_TYPE_INT32: { int32_t x = (int32_t)v->num.i64; memcpy(raw, &x, 4); } break;
    case GGUF_TYPE_FLOAT32: { float x = (float)v->num.f64; memcpy(raw, &x, 4); } break;
    default: memcpy(raw, &v->num, 8); break; /* UINT64, INT64, FLOAT64 */
    }
    put(b, raw, gguf_type_size(type));
}

static void put_kv(byte_buf *b, const gguf_kv *kv) {
    const gguf_value *v = &kv->value;
    put_string(b, &kv->key);
    put_u32(b, v->is_array ? GGUF_TYPE_ARRAY : v->type);
    if (!v->is_array) {
        if (v->type == GGUF_TYPE_STRING) put_string(b, &v->str);
        else put_scalar(b, v->type, v);
        return;
    }
    put_u32(b, v->elem_type);
    put_u64(b, v->n);
    if (v->elem_type == GGUF_TYPE_STRING)
        for (uint64_t i = 0; i < v->n; i++) put_string(b, &((const gguf_string *)v->data)[i]);
    else put(b, v->data, (size_t)(v->n * gguf_type_size(v->elem_type)));
}

static uint64_t pad_to(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

static celer_status writer_alignment(const gguf_writer *w, uint64_t *alignment, celer_error *err) {
    *alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key.data, "general.alignment") != 0 || w->kv[i].key.len != strlen("general.alignment")) continue;
        const gguf_value *v = &w->kv[i].value;
        if (v->is_array || v->type != GGUF_TYPE_UINT32 || v->num.u64 == 0 || (v->num.u64 & (v->num.u64 - 1)) != 0)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: general.alignment must be a UINT32 power of two");
        *alignment = v->num.u64;
    }
    return CELER_OK;
}

/* Everything before the tensor data, padded to the alignment; assigns tensor offsets
 * and returns the data section's size. */
static celer_status build_header(gguf_writer *w, byte_buf *b, uint64_t *alignment, uint64_t *data_size, celer_error *err) {
    celer_status st = writer_alignment(w, alignment, err);
    if (st != CELER_OK) return st;
    put(b, GGUF_MAGIC, 4);
    put_u32(b, 3);
    put_u64(b, w->n_tensors);
    put_u64(b, w->n_kv);
    for (uint64_t i = 0; i < w->n_kv; i++) put_kv(b, &w->kv[i]);
    uint64_t offset = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        gguf_tensor *t = &w->tensors[i];
        t->offset = offset;
        if (offset > UINT64_MAX - *alignment || t->size > UINT64_MAX - *alignment - offset)
            return celer_error_set(err, CELER_ERR_INVALID_ARG, "gguf writer: tensor data exceeds 2^64 bytes at '%s'", t->name.data);
        offset += pad_to(t->size, *alignment);
        put_string(b, &t->name);
        put_u32(b, t->n_dims);
        put(b, t->ne, 8 * (size_t)t->n_dims);
        put_u32(b, t->type);
        put_u64(b, t->offset);
    }
    put_zeros(b, (size_t)(pad_to(b->n, *alignment) - b->n));
    if (b->oom) return celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory building the header");
    *data_size = offset;
    return CELER_OK;
}

celer_status gguf_writer_to_buffer(gguf_writer *w, void **out, size_t *out_size, celer_error *err) {
    *out = NULL;
    *out_size = 0;
    byte_buf b = {0};
    uint64_t alignment = 0, data_size = 0;
    celer_status st = check_all_data(w, err);
    if (st == CELER_OK) st = build_header(w, &b, &alignment, &data_size, err);
    if (st == CELER_OK && data_size > SIZE_MAX - b.n)
        st = celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: %" PRIu64 " bytes of tensor data do not fit in memory", data_size);
    uint8_t *buf = NULL;
    if (st == CELER_OK && !(buf = calloc(1, b.n + data_size))) /* zeroed: the padding */
        st = celer_error_set(err, CELER_ERR_NOMEM, "gguf writer: out of memory for a %" PRIu64 "-byte file", b.n + data_size);
    if (st != CELER_OK) {
        free(b.p);
        return st;
    }
    memcpy(buf, b.p, b.n);
    for (uint64_t i = 0; i < w->n_tensors; i++) memcpy(buf + b.n + w->tensors[i].offset, w->tensors[i].data, w->tensors[i].size);
    *out = buf;
    *out_size = b.n + data_size;
    free(b.p);
    return CELER_OK;
}

static bool write_zeros(FILE *fp, uint64_t n) {
    static const uint8_t zeros[4096];
    while (n > 0) {
        size_t chunk = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
        if (fwrite(zeros, 1, chunk, fp) != chunk) return false;
        n -= chunk;
    }
    return true;
}

/* Header, then each tensor and its zero padding; fsync'd so the rename is durable. */
static bool write_stream(FILE *fp, const gguf_writer *w, const byte_buf *header, uint64_t alignment) {
    if (fwrite(header->p, 1, header->n, fp) != header->n) return false;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const gguf_tensor *t = &w->tensors[i];
        if (fwrite(t->data, 1, t->size, fp) != t->size) return false;
        if (!write_zeros(fp, pad_to(t->size, alignment) - t->size)) return false;
    }
    return fflush(fp) == 0 && fsync(fileno(fp)) == 0;
}

celer_status gguf_writer_write(gguf_writer *w, const char *path, celer_error *err) {
    byte_buf header = {0};
    uint64_t alignment = 0, data_size = 0;
    celer_status st = check_all_data(w, err);
    if (st == CELER_OK) st = build_header(w, &header, &alignment, &data_size, err);
    if (st != CELER_OK) {
        free(header.p);
        return st;
    }
    char *tmp = malloc(strlen(path) + 5);
    if (!tmp) {
        free(header.p);
        return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, strlen(path) + 5, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) st = celer_error_set(err, CELER_ERR_IO, "%s: cannot open for writing: %s", tmp, strerror(errno));
    else {
        bool ok = write_stream(fp, w, &header, alignment);
        int saved = errno;
        ok = (fclose(fp) == 0) && ok;
        if (!ok) st = celer_error_set(err, CELER_ERR_IO, "%s: write failed: %s", tmp, strerror(saved ? saved : errno));
        else if (rename(tmp, path) != 0) st = celer_error_set(err, CELER_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        if (st != CELER_OK) unlink(tmp);
    }
    free(tmp);
    free(header.p);
    return st;
}

celer_status gguf_writer_header(gguf_writer *w, void **out, size_t *out_size, uint64_t *alignment, uint64_t *data_size,
                                celer_error *err) {
    *out = NULL;
    *out_size = 0;
    byte_buf b = {0};
    celer_status st = build_header(w, &b, alignment, data_size, err);
    if (st != CELER_OK) {
        free(b.p);
        return st;
    }
    *out = b.p;
    *out_size = b.n;
    return CELER_OK;
}

/* ---- a file in memory ---- */

celer_status gguf_writer_finish(gguf_writer *w, const char *name, uint64_t size, void (*release)(void *owner), void *owner,
                                gguf_file **out, celer_error *err) {
    *out = NULL;
    uint64_t alignment = 0;
    celer_status st = writer_alignment(w, &alignment, err);
    gguf_file_owned *owned = st == CELER_OK ? calloc(1, sizeof(*owned)) : NULL;
    char *name_copy = owned ? strdup(name) : NULL;
    if (st == CELER_OK && (!owned || !name_copy)) st = celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", name);
    if (st != CELER_OK) {
        free(owned);
        if (release) release(owner);
        return st;
    }
    gguf_file *f = &owned->pub;
    owned->name = name_copy;
    owned->release = release;
    owned->owner = owner;
    f->version = 3;
    f->alignment = alignment;
    f->kv = w->kv;
    f->n_kv = w->n_kv;
    f->tensors = w->tensors;
    f->n_tensors = w->n_tensors;
    f->size = (size_t)size;
    for (uint64_t i = 0; i < f->n_tensors; i++) f->tensors[i].offset = 0; /* no data section */
    w->kv = NULL, w->n_kv = w->cap_kv = 0;
    w->tensors = NULL, w->n_tensors = w->cap_tensors = 0;
    *out = f;
    return CELER_OK;
}
