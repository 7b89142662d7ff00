/* gguf.c: GGUF v2/v3 reader. Validates a whole file image before exposing anything.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv key/values
 * (string key, u32 type, value); n_tensors tensor infos (string name, u32 n_dims,
 * i64 ne[n_dims], u32 type, u64 offset); zero padding to general.alignment; tensor data.
 * Strings are a u64 length then bytes; arrays are a u32 element type, a u64 count, then
 * the elements. Every count is checked against the bytes left before anything is
 * allocated, so a hostile header cannot ask for more memory than the file could fill.
 * Tests: tests/test_gguf.c (round trip, one negative test per malformed class, every
 * truncation of a small file); fuzz/fuzz_gguf.c (libFuzzer, scripts/fuzz.sh). */
#include "format/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf_internal.h"
#include "quant/quant.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c decodes little-endian fields with memcpy: a little-endian host is assumed"
#endif

/* Smallest encodings, for rejecting absurd counts before allocating: a key/value is a
 * length (8), at least one key byte, a type (4) and at least one value byte; a tensor
 * info is a length (8), at least one name byte, n_dims (4), one ne (8), type (4) and
 * offset (8). */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_INFO_BYTES 33u


typedef struct {
    const char *name;  /* for messages */
    const uint8_t *p;  /* (size) the whole image */
    uint64_t size;
    uint64_t pos;
    celer_error *err;
    /* What is being read, for messages: section "header", "key/value" or "tensor info",
     * its index, and its key or tensor name once known. */
    const char *section;
    uint64_t index;
    const gguf_string *item;
} reader;

/* ---- helpers shared with the getters ---- */

size_t gguf_type_size(gguf_type type) {
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_type_name(gguf_type type) {
    static const char *const names[GGUF_TYPE_COUNT] = {
        "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
        "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
    };
    return (unsigned)type < GGUF_TYPE_COUNT ? names[type] : "unknown";
}

#define PRINTABLE_MAX 64

/* Bytes in the well-formed UTF-8 sequence at p (n bytes available), 0 if malformed. */
static size_t utf8_length(const unsigned char *p, uint64_t n) {
    size_t len = p[0] < 0x80 ? 1 : (p[0] >> 5) == 0x6 ? 2 : (p[0] >> 4) == 0xE ? 3 : (p[0] >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* A printable excerpt of a key or name for one-line messages: control bytes and
 * malformed UTF-8 become '?', more than PRINTABLE_MAX bytes are cut with "...". */
static const char *printable(const gguf_string *s, char buf[PRINTABLE_MAX + 4]) {
    const unsigned char *p = (const unsigned char *)s->data;
    uint64_t i = 0;
    size_t n = 0;
    while (i < s->len && n < PRINTABLE_MAX) {
        size_t len = utf8_length(p + i, s->len - i);
        if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
            buf[n++] = '?';
            i++;
        } else if (n + len <= PRINTABLE_MAX) {
            memcpy(buf + n, p + i, len);
            n += len;
            i += len;
        } else break;
    }
    memcpy(buf + n, i < s->len ? "..." : "", i < s->len ? 4 : 1);
    return buf;
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

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        free(f->kv[i].key.data);
        value_free(&f->kv[i].value);
    }
    free(f->kv);
    for (uint64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name.data);
    free(f->tensors);
    if (f->mapping) munmap(f->mapping, f->size);
    gguf_file_owned *owned = (gguf_file_owned *)f;
    free(owned->name);
    if (owned->release) owned->release(owned->owner);
    free(f);
}

/* ---- primitive reads ---- */

static void describe(const reader *r, char *buf, size_t size) {
    char item[PRINTABLE_MAX + 4];
    if (strcmp(r->section, "header") == 0) snprintf(buf, size, "the header");
    else if (r->item) snprintf(buf, size, "%s '%s' (%s %" PRIu64 ")", strcmp(r->section, "key/value") == 0 ? "key" : "tensor",
                               printable(r->item, item), r->section, r->index);
    else snprintf(buf, size, "%s %" PRIu64, r->section, r->index);
}

static celer_status truncated(reader *r, uint64_t need) {
    char what[160];
    describe(r, what, sizeof(what));
    return celer_error_set(r->err, CELER_ERR_FORMAT,
                           "%s: truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64 " but the file ends at %" PRIu64,
                           r->name, what, need, r->pos, r->size);
}

static uint64_t bytes_left(const reader *r) { return r->size - r->pos; }

static celer_status read_raw(reader *r, void *dst, uint64_t n) {
    if (n > bytes_left(r)) return truncated(r, n);
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return CELER_OK;
}

static celer_status read_u32(reader *r, uint32_t *v) { return read_raw(r, v, 4); }
static celer_status read_u64(reader *r, uint64_t *v) { return read_raw(r, v, 8); }

/* A u64 length, then that many bytes, copied and NUL-terminated. */
static celer_status read_string(reader *r, gguf_string *s, const char *what) {
    uint64_t len = 0;
    celer_status st = read_u64(r, &len);
    if (st != CELER_OK) return st;
    if (len > bytes_left(r)) {
        char where[160];
        describe(r, where, sizeof(where));
        return celer_error_set(r->err, CELER_ERR_FORMAT,
                               "%s: %s: %s length %" PRIu64 " at offset %" PRIu64 " exceeds the %" PRIu64 " bytes left in the file",
                               r->name, where, what, len, r->pos - 8, bytes_left(r));
    }
    s->data = malloc(len + 1);
    if (!s->data) return celer_error_set(r->err, CELER_ERR_NOMEM, "%s: out of memory for a %s of %" PRIu64 " bytes", r->name, what, len);
    memcpy(s->data, r->p + r->pos, len);
    s->data[len] = '\0';
    s->len = len;
    r->pos += len;
    return CELER_OK;
}

/* ---- key/values ---- */

/* "file: key 'k' (key/value i): <problem>" about the key being read. */
__attribute__((format(printf, 2, 3))) static celer_status kv_error(reader *r, const char *fmt, ...) {
    char where[160], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    describe(r, where, sizeof(where));
    return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: %s: %s", r->name, where, msg);
}

/* Decodes one little-endian scalar of a numeric type into v->num. */
static void decode_scalar(gguf_type type, const uint8_t *p, gguf_value *v) {
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: memcpy(&u8, p, 1); v->num.u64 = u8; break;
    case GGUF_TYPE_INT8: memcpy(&i8, p, 1); v->num.i64 = i8; break;
    case GGUF_TYPE_UINT16: memcpy(&u16, p, 2); v->num.u64 = u16; break;
    case GGUF_TYPE_INT16: memcpy(&i16, p, 2); v->num.i64 = i16; break;
    case GGUF_TYPE_UINT32: memcpy(&u32, p, 4); v->num.u64 = u32; break;
    case GGUF_TYPE_INT32: memcpy(&i32, p, 4); v->num.i64 = i32; break;
    case GGUF_TYPE_FLOAT32: memcpy(&f32, p, 4); v->num.f64 = f32; break;
    case GGUF_TYPE_UINT64: memcpy(&v->num.u64, p, 8); break;
    case GGUF_TYPE_INT64: memcpy(&v->num.i64, p, 8); break;
    case GGUF_TYPE_FLOAT64: memcpy(&v->num.f64, p, 8); break;
    default: CHECK(!"decode_scalar: not a numeric type");
    }
}

/* BOOL bytes must be 0 or 1 so that every reader agrees on their meaning. */
static celer_status check_bools(reader *r, const uint8_t *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1) return kv_error(r, "bool element %" PRIu64 " is %u, expected 0 or 1", i, p[i]);
    return CELER_OK;
}

static celer_status read_array(reader *r, gguf_value *v) {
    uint32_t elem = 0;
    uint64_t n = 0;
    celer_status st;
    if ((st = read_u32(r, &elem)) != CELER_OK) return st;
    if (elem == GGUF_TYPE_ARRAY) return kv_error(r, "nested arrays are not supported");
    if (elem >= GGUF_TYPE_COUNT) return kv_error(r, "array element type %" PRIu32 " is invalid (expected 0..%d)", elem, GGUF_TYPE_COUNT - 1);
    if ((st = read_u64(r, &n)) != CELER_OK) return st;
    uint64_t elem_min = elem == GGUF_TYPE_STRING ? 8 : gguf_type_size(elem);
    if (n > bytes_left(r) / elem_min)
        return kv_error(r, "array of %" PRIu64 " elements cannot fit in the %" PRIu64 " bytes left in the file", n, bytes_left(r));
    v->is_array = true;
    v->type = v->elem_type = (gguf_type)elem;
    if (elem == GGUF_TYPE_STRING) {
        /* calloc'd, so a partly read array frees cleanly */
        v->data = calloc(n ? n : 1, sizeof(gguf_string));
        if (!v->data) return celer_error_set(r->err, CELER_ERR_NOMEM, "%s: out of memory for %" PRIu64 " strings", r->name, n);
        v->n = n;
        gguf_string *strs = v->data;
        for (uint64_t i = 0; i < n; i++)
            if ((st = read_string(r, &strs[i], "string array element")) != CELER_OK) return st;
        return CELER_OK;
    }
    uint64_t bytes = n * elem_min;
    v->data = malloc(bytes ? bytes : 1);
    if (!v->data) return celer_error_set(r->err, CELER_ERR_NOMEM, "%s: out of memory for an array of %" PRIu64 " bytes", r->name, bytes);
    v->n = n;
    memcpy(v->data, r->p + r->pos, bytes);
    r->pos += bytes;
    return elem == GGUF_TYPE_BOOL ? check_bools(r, v->data, n) : CELER_OK;
}

static celer_status read_value(reader *r, gguf_value *v) {
    uint32_t type = 0;
    celer_status st = read_u32(r, &type);
    if (st != CELER_OK) return st;
    if (type >= GGUF_TYPE_COUNT) return kv_error(r, "value type %" PRIu32 " is invalid (expected 0..%d)", type, GGUF_TYPE_COUNT - 1);
    if (type == GGUF_TYPE_ARRAY) return read_array(r, v);
    v->type = (gguf_type)type;
    if (type == GGUF_TYPE_STRING) return read_string(r, &v->str, "string value");
    uint8_t raw[8];
    if ((st = read_raw(r, raw, gguf_type_size(v->type))) != CELER_OK) return st;
    decode_scalar(v->type, raw, v);
    return type == GGUF_TYPE_BOOL ? check_bools(r, raw, 1) : CELER_OK;
}

/* Orders strings by length then bytes (keys and names may hold NULs). */
static int compare_strings(const void *a, const void *b) {
    const gguf_string *x = *(const gguf_string *const *)a, *y = *(const gguf_string *const *)b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->data, y->data, x->len);
}

/* A string that occurs twice among n, or NULL: sorts the pointers, so O(n log n) even
 * for hostile files. */
static const gguf_string *find_duplicate(const gguf_string **strs, uint64_t n) {
    qsort(strs, n, sizeof(*strs), compare_strings);
    for (uint64_t i = 1; i < n; i++)
        if (compare_strings(&strs[i - 1], &strs[i]) == 0) return strs[i];
    return NULL;
}

static celer_status check_duplicate_keys(reader *r, gguf_file *f) {
    if (f->n_kv < 2) return CELER_OK;
    const gguf_string **keys = malloc(f->n_kv * sizeof(*keys));
    if (!keys) return celer_error_set(r->err, CELER_ERR_NOMEM, "%s: out of memory checking %" PRIu64 " keys", r->name, f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++) keys[i] = &f->kv[i].key;
    const gguf_string *dup = find_duplicate(keys, f->n_kv);
    char key[PRINTABLE_MAX + 4];
    celer_status st = dup ? celer_error_set(r->err, CELER_ERR_FORMAT, "%s: duplicate key '%s'", r->name, printable(dup, key)) : CELER_OK;
    free(keys);
    return st;
}

static celer_status read_kvs(reader *r, gguf_file *f, uint64_t n_kv) {
    f->kv = calloc(n_kv ? n_kv : 1, sizeof(gguf_kv));
    if (!f->kv) return celer_error_set(r->err, CELER_ERR_NOMEM, "%s: out of memory for %" PRIu64 " key/values", r->name, n_kv);
    r->section = "key/value";
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        f->n_kv = i + 1; /* counted before reading so a failure frees what was read */
        r->index = i;
        r->item = NULL;
        celer_status st = read_string(r, &kv->key, "key");
        if (st != CELER_OK) return st;
        if (kv->key.len == 0)
            return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: key/value %" PRIu64 " at offset %" PRIu64 " has an empty key", r->name, i, r->pos - 8);
        r->item = &kv->key;
        if ((st = read_value(r, &kv->value)) != CELER_OK) return st;
    }
    return check_duplicate_keys(r, f);
}

/* general.alignment: optional, UINT32, a nonzero power of two. */
static celer_status read_alignment(reader *r, gguf_file *f) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return CELER_OK;
    const gguf_value *v = &kv->value;
    if (v->is_array || v->type != GGUF_TYPE_UINT32)
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: general.alignment must be of type UINT32, found %s%s", r->name,
                               v->is_array ? "an array of " : "", gguf_type_name(v->type));
    if (v->num.u64 == 0 || (v->num.u64 & (v->num.u64 - 1)) != 0)
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: general.alignment = %" PRIu64 " is not a nonzero power of two", r->name, v->num.u64);
    f->alignment = v->num.u64;
    return CELER_OK;
}

/* ---- tensor infos ---- */

/* Refuses a count of items that cannot fit in the bytes left, before anything is
 * allocated for them. */
static celer_status check_count(reader *r, const char *field, uint64_t n, uint64_t min_bytes, const char *items) {
    if (n <= bytes_left(r) / min_bytes) return CELER_OK;
    return celer_error_set(r->err, CELER_ERR_FORMAT,
                           "%s: %s = %" PRIu64 " cannot fit: the %" PRIu64 " bytes left at offset %" PRIu64 " hold at most %" PRIu64
                           " %s (file truncated or count corrupt)",
                           r->name, field, n, bytes_left(r), r->pos, bytes_left(r) / min_bytes, items);
}

/* "file: tensor 'name': <problem>". */
__attribute__((format(printf, 4, 5))) static celer_status tensor_error(reader *r, celer_status status, const gguf_tensor *t,
                                                                       const char *fmt, ...) {
    char name[PRINTABLE_MAX + 4], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return celer_error_set(r->err, status, "%s: tensor '%s': %s", r->name, printable(&t->name, name), msg);
}

/* ne: n_dims values, each >= 1, whose product fits in int64. */
static celer_status read_shape(reader *r, gguf_tensor *t) {
    celer_status st = read_u32(r, &t->n_dims);
    if (st != CELER_OK) return st;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return tensor_error(r, CELER_ERR_FORMAT, t, "n_dims is %" PRIu32 ", expected 1..%d", t->n_dims, GGUF_MAX_DIMS);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        uint64_t raw = 0;
        if ((st = read_u64(r, &raw)) != CELER_OK) return st;
        memcpy(&t->ne[d], &raw, 8);
        if (t->ne[d] < 1) return tensor_error(r, CELER_ERR_FORMAT, t, "ne[%" PRIu32 "] is %" PRId64 ", expected >= 1", d, t->ne[d]);
        if (__builtin_mul_overflow(n_elements, t->ne[d], &n_elements))
            return tensor_error(r, CELER_ERR_FORMAT, t, "shape has more than 2^63-1 elements (at ne[%" PRIu32 "] = %" PRId64 ")", d, t->ne[d]);
    }
    return CELER_OK;
}

/* type: one quant.h supports; ne[0] a whole number of blocks; size in 64 bits. */
static celer_status check_type(reader *r, gguf_tensor *t) {
    const quant_traits *traits = quant_get_traits(t->type);
    if (!traits) {
        const char *name = quant_type_name(t->type);
        if (strcmp(name, "unknown") == 0) return tensor_error(r, CELER_ERR_FORMAT, t, "type %" PRIu32 " is not a known ggml type", t->type);
        return tensor_error(r, CELER_ERR_UNSUPPORTED, t, "type %" PRIu32 " (%s) is not supported", t->type, name);
    }
    if (t->ne[0] % traits->block_size != 0)
        return tensor_error(r, CELER_ERR_FORMAT, t, "ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRId64, t->ne[0],
                            traits->name, traits->block_size);
    uint64_t size = quant_row_size(t->type, t->ne[0]);
    bool overflow = size == 0;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) overflow |= __builtin_mul_overflow(size, (uint64_t)t->ne[d], &size);
    if (overflow) return tensor_error(r, CELER_ERR_FORMAT, t, "size in bytes does not fit in 64 bits");
    t->size = size;
    return CELER_OK;
}

static celer_status read_tensor_info(reader *r, gguf_tensor *t) {
    celer_status st = read_string(r, &t->name, "tensor name");
    if (st != CELER_OK) return st;
    if (t->name.len == 0)
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: tensor info %" PRIu64 " at offset %" PRIu64 " has an empty name", r->name, r->index, r->pos - 8);
    r->item = &t->name;
    if ((st = read_shape(r, t)) != CELER_OK) return st;
    if ((st = read_u32(r, &t->type)) != CELER_OK) return st;
    if ((st = check_type(r, t)) != CELER_OK) return st;
    return read_u64(r, &t->offset);
}

static celer_status check_duplicate_names(reader *r, gguf_file *f) {
    if (f->n_tensors < 2) return CELER_OK;
    const gguf_string **names = malloc(f->n_tensors * sizeof(*names));
    if (!names) return celer_error_set(r->err, CELER_ERR_NOMEM, "%s: out of memory checking %" PRIu64 " tensor names", r->name, f->n_tensors);
    for (uint64_t i = 0; i < f->n_tensors; i++) names[i] = &f->tensors[i].name;
    const gguf_string *dup = find_duplicate(names, f->n_tensors);
    char name[PRINTABLE_MAX + 4];
    celer_status st = dup ? celer_error_set(r->err, CELER_ERR_FORMAT, "%s: duplicate tensor name '%s'", r->name, printable(dup, name)) : CELER_OK;
    free(names);
    return st;
}

static celer_status read_tensor_infos(reader *r, gguf_file *f, uint64_t n_tensors) {
    celer_status st = check_count(r, "n_tensors", n_tensors, MIN_TENSOR_INFO_BYTES, "tensor infos");
    if (st != CELER_OK) return st;
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof(gguf_tensor));
    if (!f->tensors) return celer_error_set(r->err, CELER_ERR_NOMEM, "%s: out of memory for %" PRIu64 " tensor infos", r->name, n_tensors);
    r->section = "tensor info";
    for (uint64_t i = 0; i < n_tensors; i++) {
        f->n_tensors = i + 1;
        r->index = i;
        r->item = NULL;
        if ((st = read_tensor_info(r, &f->tensors[i])) != CELER_OK) return st;
    }
    return check_duplicate_names(r, f);
}

/* ---- tensor data ---- */

static int compare_offsets(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Every tensor aligned and inside the file (checked before this). No two overlap:
 * sorted by offset, each must end before the next begins. */
static celer_status check_overlaps(reader *r, gguf_file *f) {
    if (f->n_tensors < 2) return CELER_OK;
    const gguf_tensor **sorted = malloc(f->n_tensors * sizeof(*sorted));
    if (!sorted) return celer_error_set(r->err, CELER_ERR_NOMEM, "%s: out of memory checking %" PRIu64 " tensors", r->name, f->n_tensors);
    for (uint64_t i = 0; i < f->n_tensors; i++) sorted[i] = &f->tensors[i];
    qsort(sorted, f->n_tensors, sizeof(*sorted), compare_offsets);
    celer_status st = CELER_OK;
    for (uint64_t i = 1; i < f->n_tensors && st == CELER_OK; i++) {
        const gguf_tensor *a = sorted[i - 1], *b = sorted[i];
        if (a->offset + a->size <= b->offset) continue; /* both inside the file: no overflow */
        char na[PRINTABLE_MAX + 4], nb[PRINTABLE_MAX + 4];
        st = celer_error_set(r->err, CELER_ERR_FORMAT,
                             "%s: tensors '%s' [offset %" PRIu64 ", size %" PRIu64 "] and '%s' [offset %" PRIu64 ", size %" PRIu64 "] overlap",
                             r->name, printable(&a->name, na), f->data_offset + a->offset, a->size,
                             printable(&b->name, nb), f->data_offset + b->offset, b->size);
    }
    free(sorted);
    return st;
}

static celer_status place_tensors(reader *r, gguf_file *f) {
    uint64_t a = f->alignment;
    f->data_offset = (r->pos + a - 1) / a * a; /* pos <= size < 2^63 and a <= 2^31: no overflow */
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % a != 0)
            return tensor_error(r, CELER_ERR_FORMAT, t, "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64, t->offset, a);
        uint64_t start = 0, end = 0;
        if (__builtin_add_overflow(f->data_offset, t->offset, &start))
            return tensor_error(r, CELER_ERR_FORMAT, t, "data offset %" PRIu64 " is past end of file (size %" PRIu64 ")", t->offset, r->size);
        if (__builtin_add_overflow(start, t->size, &end) || end > r->size) {
            char name[PRINTABLE_MAX + 4];
            return celer_error_set(r->err, CELER_ERR_FORMAT,
                                   "%s: tensor '%s' data [offset %" PRIu64 ", size %" PRIu64 "] extends past end of file (size %" PRIu64 ")",
                                   r->name, printable(&t->name, name), start, t->size, r->size);
        }
        t->data = r->p + start;
    }
    return check_overlaps(r, f);
}

/* ---- header and top level ---- */

static celer_status read_version(reader *r, uint32_t *version) {
    celer_status st = read_u32(r, version);
    if (st != CELER_OK) return st;
    uint32_t v = *version;
    if (v != 0 && (v & 0xFFFF) == 0)
        return celer_error_set(r->err, CELER_ERR_UNSUPPORTED,
                               "%s: big-endian GGUF file (version field reads 0x%08" PRIx32 ", i.e. version %" PRIu32 " byte-swapped); only little-endian files are supported",
                               r->name, v, __builtin_bswap32(v));
    if (v == 1)
        return celer_error_set(r->err, CELER_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (only versions 2 and 3); convert the file with a newer llama.cpp", r->name);
    if (v < 2 || v > 3)
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: bad GGUF version %" PRIu32 " (expected 2 or 3)", r->name, v);
    return CELER_OK;
}

static celer_status read_header(reader *r, gguf_file *f, uint64_t *n_tensors, uint64_t *n_kv) {
    r->section = "header";
    char magic[4];
    celer_status st = read_raw(r, magic, 4);
    if (st != CELER_OK) return st;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0) {
        char shown[5];
        for (int i = 0; i < 4; i++) shown[i] = (magic[i] >= 0x20 && magic[i] < 0x7f) ? magic[i] : '?';
        shown[4] = '\0';
        return celer_error_set(r->err, CELER_ERR_FORMAT, "%s: not a GGUF file (bad magic '%s', expected 'GGUF')", r->name, shown);
    }
    if ((st = read_version(r, &f->version)) != CELER_OK) return st;
    if ((st = read_u64(r, n_tensors)) != CELER_OK) return st;
    if ((st = read_u64(r, n_kv)) != CELER_OK) return st;
    if ((st = check_count(r, "n_kv", *n_kv, MIN_KV_BYTES, "key/values")) != CELER_OK) return st;
    return check_count(r, "n_tensors", *n_tensors, MIN_TENSOR_INFO_BYTES, "tensor infos");
}

static celer_status parse_image(reader *r, gguf_file *f) {
    uint64_t n_tensors = 0, n_kv = 0;
    celer_status st;
    if ((st = read_header(r, f, &n_tensors, &n_kv)) != CELER_OK) return st;
    if ((st = read_kvs(r, f, n_kv)) != CELER_OK) return st;
    if ((st = read_alignment(r, f)) != CELER_OK) return st;
    if ((st = read_tensor_infos(r, f, n_tensors)) != CELER_OK) return st;
    return place_tensors(r, f);
}

/* Parses base[0..size) named name; mapping (may be NULL) is handed to the result, or
 * unmapped on failure. */
static celer_status parse_named(const char *name, const void *base, size_t size, void *mapping, gguf_file **out, celer_error *err) {
    *out = NULL;
    gguf_file_owned *owned = calloc(1, sizeof(*owned));
    char *name_copy = strdup(name);
    if (!owned || !name_copy) {
        free(owned);
        free(name_copy);
        if (mapping) munmap(mapping, size);
        return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", name);
    }
    gguf_file *f = &owned->pub;
    owned->name = name_copy;
    f->base = base;
    f->size = size;
    f->mapping = mapping;
    reader r = {.name = name, .p = base, .size = size, .err = err, .section = "header"};
    celer_status st = parse_image(&r, f);
    if (st != CELER_OK) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return CELER_OK;
}

celer_status gguf_parse(const void *buf, size_t size, gguf_file **out, celer_error *err) {
    if (!buf && size) {
        *out = NULL;
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "<buffer>: NULL buffer of %zu bytes", size);
    }
    static const uint8_t empty[1];
    return parse_named("<buffer>", buf ? buf : empty, size, NULL, out, err);
}

celer_status gguf_open(const char *path, gguf_file **out, celer_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not hang us */
    if (fd < 0) return celer_error_set(err, CELER_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    celer_status st = CELER_OK;
    if (fstat(fd, &sb) != 0) st = celer_error_set(err, CELER_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode)) st = celer_error_set(err, CELER_ERR_IO, "%s: is a directory, not a GGUF file", path);
    else if (!S_ISREG(sb.st_mode)) st = celer_error_set(err, CELER_ERR_IO, "%s: not a regular file", path);
    else if (sb.st_size == 0) st = celer_error_set(err, CELER_ERR_IO, "%s: file is empty", path);
    if (st != CELER_OK) {
        close(fd);
        return st;
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) return celer_error_set(err, CELER_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, size, strerror(map_errno));
    return parse_named(path, map, size, map, out, err);
}

/* ---- lookups and typed getters ---- */

static bool string_equals(const gguf_string *s, const char *c) {
    size_t n = strlen(c);
    return s->len == n && memcmp(s->data, c, n) == 0;
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (string_equals(&f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (string_equals(&f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static const char *file_name(const gguf_file *f) { return ((const gguf_file_owned *)f)->name; }

static bool is_signed_int(gguf_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

static bool is_unsigned_int(gguf_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
}

/* Looks key up and checks it is a scalar accepted by want ("an integer", ...). */
static celer_status find_scalar(const gguf_file *f, const char *key, bool (*accept)(gguf_type), const char *want,
                                const gguf_value **out, celer_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return CELER_ERR_RANGE;
    const gguf_value *v = &kv->value;
    if (v->is_array || !accept(v->type))
        return celer_error_set(err, CELER_ERR_FORMAT, "%s: key '%s' is %s%s, expected %s", file_name(f), key,
                               v->is_array ? "an array of " : "", gguf_type_name(v->type), want);
    *out = v;
    return CELER_OK;
}

static bool accept_int(gguf_type t) { return is_signed_int(t) || is_unsigned_int(t); }
static bool accept_float(gguf_type t) { return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64; }
static bool accept_bool(gguf_type t) { return t == GGUF_TYPE_BOOL; }
static bool accept_string(gguf_type t) { return t == GGUF_TYPE_STRING; }

/* An integer of any type, range-checked against [min, max], returned as its 64 bits. */
static celer_status get_int(const gguf_file *f, const char *key, int64_t min, uint64_t max, uint64_t *bits, celer_error *err) {
    const gguf_value *v = NULL;
    celer_status st = find_scalar(f, key, accept_int, "an integer", &v, err);
    if (st != CELER_OK) return st;
    bool ok = is_signed_int(v->type) ? (v->num.i64 >= min && (v->num.i64 < 0 || (uint64_t)v->num.i64 <= max)) : v->num.u64 <= max;
    if (!ok) {
        if (is_signed_int(v->type))
            return celer_error_set(err, CELER_ERR_FORMAT, "%s: key '%s' = %" PRId64 " is out of range [%" PRId64 ", %" PRIu64 "]",
                                   file_name(f), key, v->num.i64, min, max);
        return celer_error_set(err, CELER_ERR_FORMAT, "%s: key '%s' = %" PRIu64 " is out of range [%" PRId64 ", %" PRIu64 "]",
                               file_name(f), key, v->num.u64, min, max);
    }
    *bits = v->num.u64; /* two's complement: callers cast back */
    return CELER_OK;
}

celer_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, celer_error *err) {
    uint64_t bits = 0;
    celer_status st = get_int(f, key, 0, UINT32_MAX, &bits, err);
    if (st == CELER_OK) *out = (uint32_t)bits;
    return st;
}

celer_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, celer_error *err) {
    uint64_t bits = 0;
    celer_status st = get_int(f, key, 0, UINT64_MAX, &bits, err);
    if (st == CELER_OK) *out = bits;
    return st;
}

celer_status gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, celer_error *err) {
    uint64_t bits = 0;
    celer_status st = get_int(f, key, INT64_MIN, INT64_MAX, &bits, err);
    if (st == CELER_OK) memcpy(out, &bits, sizeof(*out));
    return st;
}

celer_status gguf_get_f32(const gguf_file *f, const char *key, float *out, celer_error *err) {
    const gguf_value *v = NULL;
    celer_status st = find_scalar(f, key, accept_float, "FLOAT32 or FLOAT64", &v, err);
    if (st != CELER_OK) return st;
    if (isfinite(v->num.f64) && fabs(v->num.f64) > FLT_MAX)
        return celer_error_set(err, CELER_ERR_FORMAT, "%s: key '%s' = %g does not fit in a float", file_name(f), key, v->num.f64);
    *out = (float)v->num.f64;
    return CELER_OK;
}

celer_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, celer_error *err) {
    const gguf_value *v = NULL;
    celer_status st = find_scalar(f, key, accept_bool, "BOOL", &v, err);
    if (st == CELER_OK) *out = v->num.u64 != 0;
    return st;
}

celer_status gguf_get_str(const gguf_file *f, const char *key, const gguf_string **out, celer_error *err) {
    const gguf_value *v = NULL;
    celer_status st = find_scalar(f, key, accept_string, "STRING", &v, err);
    if (st == CELER_OK) *out = &v->str;
    return st;
}

celer_status gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type, const gguf_value **out, celer_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return CELER_ERR_RANGE;
    const gguf_value *v = &kv->value;
    if (!v->is_array || (elem_type != GGUF_TYPE_COUNT && v->elem_type != elem_type))
        return celer_error_set(err, CELER_ERR_FORMAT, "%s: key '%s' is %s%s, expected an array of %s", file_name(f), key,
                               v->is_array ? "an array of " : "", gguf_type_name(v->type),
                               elem_type == GGUF_TYPE_COUNT ? "any type" : gguf_type_name(elem_type));
    *out = v;
    return CELER_OK;
}
