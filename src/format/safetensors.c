/* safetensors.c: the .safetensors reader (format and rules in safetensors.h).
 *
 * Order of checks: the header length against the file, the header bytes as UTF-8, the
 * JSON (cJSON), each entry's fields, then the layout of the data section as a whole.
 * Every message is one line naming the file and, where there is one, the tensor.
 * Tests: tests/test_safetensors.c; fuzz/fuzz_safetensors.c. */
#include "format/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads the little-endian header length with memcpy: a little-endian host is assumed"
#endif

#define MAX_EXACT_INTEGER 9007199254740992.0 /* 2^53: every integer up to it is a double */
#define PRINTABLE_MAX 64

static const struct {
    const char *name;
    size_t size;
} dtypes[SAFETENSORS_DTYPE_COUNT] = {
    [SAFETENSORS_BOOL] = {"BOOL", 1},       [SAFETENSORS_U8] = {"U8", 1},     [SAFETENSORS_I8] = {"I8", 1},
    [SAFETENSORS_F8_E4M3] = {"F8_E4M3", 1}, [SAFETENSORS_F8_E5M2] = {"F8_E5M2", 1},
    [SAFETENSORS_U16] = {"U16", 2},         [SAFETENSORS_I16] = {"I16", 2},   [SAFETENSORS_F16] = {"F16", 2},
    [SAFETENSORS_BF16] = {"BF16", 2},       [SAFETENSORS_U32] = {"U32", 4},   [SAFETENSORS_I32] = {"I32", 4},
    [SAFETENSORS_F32] = {"F32", 4},         [SAFETENSORS_U64] = {"U64", 8},   [SAFETENSORS_I64] = {"I64", 8},
    [SAFETENSORS_F64] = {"F64", 8},
};

const char *safetensors_dtype_name(safetensors_dtype dtype) {
    return (unsigned)dtype < SAFETENSORS_DTYPE_COUNT ? dtypes[dtype].name : "unknown";
}

size_t safetensors_dtype_size(safetensors_dtype dtype) {
    return (unsigned)dtype < SAFETENSORS_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

void safetensors_close(safetensors_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    if (f->mapping) munmap(f->mapping, f->size);
    free(f->name);
    free(f);
}

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name) {
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

/* ---- UTF-8 ---- */

/* Bytes of the well-formed UTF-8 sequence at p (n available): no overlong forms, no
 * surrogates, nothing above U+10FFFF; 0 if malformed. */
static size_t utf8_sequence(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t len = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
    if (c == 0xED && p[1] > 0x9F) return 0; /* surrogate */
    if (c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
    if (c == 0xF4 && p[1] > 0x8F) return 0; /* above U+10FFFF */
    return len;
}

/* Offset of the first malformed byte, or n when all of p is valid. */
static size_t utf8_first_error(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_sequence(p + i, n - i);
        if (len == 0) return i;
        i += len;
    }
    return n;
}

/* A name fit for a one-line message: control characters become '?', long names are cut
 * (at a character boundary) with "...". Names are valid UTF-8 by then. */
static const char *printable(const char *s, char buf[PRINTABLE_MAX + 4]) {
    size_t n = 0, i = 0, len = strlen(s);
    while (i < len && n < PRINTABLE_MAX) {
        size_t k = utf8_sequence((const unsigned char *)s + i, len - i);
        if (k == 0 || (k == 1 && ((unsigned char)s[i] < 0x20 || s[i] == 0x7f))) {
            buf[n++] = '?';
            i++;
        } else if (n + k <= PRINTABLE_MAX) {
            memcpy(buf + n, s + i, k);
            n += k;
            i += k;
        } else break;
    }
    memcpy(buf + n, i < len ? "..." : "", i < len ? 4 : 1);
    return buf;
}

/* ---- the header ---- */

typedef struct {
    const char *name; /* for messages */
    celer_error *err;
    uint64_t data_size;
} parser;

__attribute__((format(printf, 3, 4))) static celer_status tensor_error(parser *p, const char *tensor, const char *fmt, ...) {
    char msg[320], shown[PRINTABLE_MAX + 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: tensor '%s': %s", p->name, printable(tensor, shown), msg);
}

/* A JSON number that is a non-negative integer up to 2^53. */
static bool json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d > MAX_EXACT_INTEGER || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

static celer_status read_dtype(parser *p, const char *name, const cJSON *entry, safetensors_tensor *t) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(v)) return tensor_error(p, name, "\"dtype\" is missing or not a string");
    for (int d = 0; d < SAFETENSORS_DTYPE_COUNT; d++)
        if (strcmp(v->valuestring, dtypes[d].name) == 0) {
            t->dtype = (safetensors_dtype)d;
            return CELER_OK;
        }
    char shown[PRINTABLE_MAX + 4];
    return tensor_error(p, name, "unknown dtype '%s'", printable(v->valuestring, shown));
}

static celer_status read_shape(parser *p, const char *name, const cJSON *entry, safetensors_tensor *t) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(v)) return tensor_error(p, name, "\"shape\" is missing or not an array");
    int n = cJSON_GetArraySize(v);
    if (n > SAFETENSORS_MAX_DIMS) return tensor_error(p, name, "shape has %d dimensions, at most %d are supported", n, SAFETENSORS_MAX_DIMS);
    t->n_dims = (uint32_t)n;
    uint64_t elements = 1;
    int d = 0;
    for (const cJSON *dim = v->child; dim; dim = dim->next, d++) {
        uint64_t x = 0;
        if (!json_uint(dim, &x)) {
            if (cJSON_IsNumber(dim)) return tensor_error(p, name, "shape[%d] = %g is not a non-negative integer below 2^53", d, dim->valuedouble);
            return tensor_error(p, name, "shape[%d] is not a number", d);
        }
        t->shape[d] = (int64_t)x;
        if (__builtin_mul_overflow(elements, x, &elements))
            return tensor_error(p, name, "shape's element count overflows 64 bits");
    }
    t->n_elements = elements;
    return CELER_OK;
}

static celer_status read_offsets(parser *p, const char *name, const cJSON *entry, safetensors_tensor *t) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return tensor_error(p, name, "\"data_offsets\" is missing or not an array of two offsets");
    if (!json_uint(v->child, &t->begin) || !json_uint(v->child->next, &t->end))
        return tensor_error(p, name, "data_offsets must be non-negative integers below 2^53");
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(t->n_elements, (uint64_t)dtypes[t->dtype].size, &bytes))
        return tensor_error(p, name, "%" PRIu64 " elements of %s overflow 64 bits", t->n_elements, dtypes[t->dtype].name);
    if (t->begin > t->end) return tensor_error(p, name, "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", t->begin, t->end);
    if (t->end > p->data_size)
        return tensor_error(p, name, "data_offsets [%" PRIu64 ", %" PRIu64 "] extend past the data section (%" PRIu64 " bytes)", t->begin, t->end,
                            p->data_size);
    if (t->end - t->begin != bytes)
        return tensor_error(p, name, "data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64 " bytes but %" PRIu64 " elements of %s need %" PRIu64,
                            t->begin, t->end, t->end - t->begin, t->n_elements, dtypes[t->dtype].name, bytes);
    return CELER_OK;
}

static celer_status read_metadata(parser *p, const cJSON *v, safetensors_file *f) {
    if (!cJSON_IsObject(v)) return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: \"__metadata__\" is not an object", p->name);
    int n = cJSON_GetArraySize(v);
    f->meta = calloc(n > 0 ? (size_t)n : 1, sizeof(*f->meta));
    if (!f->meta) return celer_error_set(p->err, CELER_ERR_NOMEM, "%s: out of memory", p->name);
    for (const cJSON *kv = v->child; kv; kv = kv->next) {
        char shown[PRINTABLE_MAX + 4];
        if (!cJSON_IsString(kv))
            return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: \"__metadata__\" value of '%s' is not a string", p->name, printable(kv->string, shown));
        safetensors_meta *m = &f->meta[f->n_meta++];
        m->key = strdup(kv->string);
        m->value = strdup(kv->valuestring);
        if (!m->key || !m->value) return celer_error_set(p->err, CELER_ERR_NOMEM, "%s: out of memory", p->name);
    }
    return CELER_OK;
}

static celer_status read_entries(parser *p, const cJSON *root, safetensors_file *f) {
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc(n > 0 ? (size_t)n : 1, sizeof(*f->tensors));
    if (!f->tensors) return celer_error_set(p->err, CELER_ERR_NOMEM, "%s: out of memory for %d tensors", p->name, n);
    bool have_meta = false;
    for (const cJSON *entry = root->child; entry; entry = entry->next) {
        celer_status st;
        if (strcmp(entry->string, "__metadata__") == 0) {
            if (have_meta) return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: \"__metadata__\" appears twice", p->name);
            have_meta = true;
            if ((st = read_metadata(p, entry, f)) != CELER_OK) return st;
            continue;
        }
        if (!cJSON_IsObject(entry)) return tensor_error(p, entry->string, "entry is not an object");
        safetensors_tensor *t = &f->tensors[f->n_tensors++];
        if (!(t->name = strdup(entry->string))) return celer_error_set(p->err, CELER_ERR_NOMEM, "%s: out of memory", p->name);
        if ((st = read_dtype(p, t->name, entry, t)) != CELER_OK) return st;
        if ((st = read_shape(p, t->name, entry, t)) != CELER_OK) return st;
        if ((st = read_offsets(p, t->name, entry, t)) != CELER_OK) return st;
        t->data = f->base + f->data_offset + t->begin;
    }
    return CELER_OK;
}

/* ---- the data section as a whole ---- */

static int by_offset(const void *a, const void *b) {
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a, *y = *(const safetensors_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const safetensors_tensor *const *)a)->name, (*(const safetensors_tensor *const *)b)->name);
}

/* Sorted by offset, each tensor must begin where the previous one ended and the last
 * must end at the end of the file; sorted by name, no two may be equal. */
static celer_status check_layout(parser *p, safetensors_file *f) {
    const safetensors_tensor **sorted = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof(*sorted));
    if (!sorted) return celer_error_set(p->err, CELER_ERR_NOMEM, "%s: out of memory", p->name);
    for (size_t i = 0; i < f->n_tensors; i++) sorted[i] = &f->tensors[i];
    qsort(sorted, f->n_tensors, sizeof(*sorted), by_name);
    celer_status st = CELER_OK;
    char a[PRINTABLE_MAX + 4], b[PRINTABLE_MAX + 4];
    for (size_t i = 1; i < f->n_tensors && st == CELER_OK; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            st = celer_error_set(p->err, CELER_ERR_FORMAT, "%s: tensor name '%s' appears twice", p->name, printable(sorted[i]->name, a));
    if (st == CELER_OK) qsort(sorted, f->n_tensors, sizeof(*sorted), by_offset);
    uint64_t at = 0;
    for (size_t i = 0; i < f->n_tensors && st == CELER_OK; i++) {
        const safetensors_tensor *t = sorted[i];
        if (t->begin < at)
            st = celer_error_set(p->err, CELER_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (data [%" PRIu64 ", %" PRIu64 "] and [%" PRIu64 ", %" PRIu64 "])",
                                 p->name, printable(sorted[i - 1]->name, a), printable(t->name, b), sorted[i - 1]->begin, sorted[i - 1]->end,
                                 t->begin, t->end);
        else if (t->begin > at)
            st = celer_error_set(p->err, CELER_ERR_FORMAT, "%s: %" PRIu64 " bytes of the data section at offset %" PRIu64 " belong to no tensor (gap before '%s')",
                                 p->name, t->begin - at, at, printable(t->name, a));
        at = t->end;
    }
    if (st == CELER_OK && at != p->data_size)
        st = celer_error_set(p->err, CELER_ERR_FORMAT, "%s: %" PRIu64 " trailing bytes after the last tensor (data section of %" PRIu64 " bytes, tensors end at %" PRIu64 ")",
                             p->name, p->data_size - at, p->data_size, at);
    free(sorted);
    return st;
}

/* ---- top level ---- */

/* The header's JSON text: its length checked against the file and the cap, its bytes
 * valid UTF-8 without NUL, copied NUL-terminated for the JSON parser. */
static celer_status read_header_text(parser *p, safetensors_file *f, char **text, uint64_t *n) {
    if (f->size < 8)
        return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: truncated: %zu bytes, a safetensors file starts with an 8-byte header length", p->name, f->size);
    memcpy(n, f->base, 8);
    if (*n > SAFETENSORS_MAX_HEADER)
        return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the %u-byte limit (not a safetensors file?)", p->name, *n,
                               SAFETENSORS_MAX_HEADER);
    if (*n > f->size - 8)
        return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: truncated: header length %" PRIu64 " but only %zu bytes follow it", p->name, *n, f->size - 8);
    if (*n < 2) return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: header of %" PRIu64 " bytes cannot hold a JSON object", p->name, *n);
    const unsigned char *h = f->base + 8;
    if (h[0] != '{') return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: header does not start with '{' (byte 0x%02x)", p->name, h[0]);
    const void *nul = memchr(h, 0, (size_t)*n);
    if (nul) return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: header holds a NUL byte at offset %td", p->name, (const unsigned char *)nul - h);
    size_t bad = utf8_first_error(h, (size_t)*n);
    if (bad != *n) return celer_error_set(p->err, CELER_ERR_FORMAT, "%s: header is not valid UTF-8 (byte 0x%02x at offset %zu)", p->name, h[bad], bad);
    if (!(*text = malloc((size_t)*n + 1))) return celer_error_set(p->err, CELER_ERR_NOMEM, "%s: out of memory for a %" PRIu64 "-byte header", p->name, *n);
    memcpy(*text, h, (size_t)*n);
    (*text)[*n] = '\0';
    return CELER_OK;
}

static celer_status parse_image(parser *p, safetensors_file *f) {
    char *text = NULL;
    uint64_t n = 0;
    celer_status st = read_header_text(p, f, &text, &n);
    if (st != CELER_OK) return st;
    f->data_offset = 8 + n;
    p->data_size = f->size - f->data_offset;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        st = celer_error_set(p->err, CELER_ERR_FORMAT, "%s: header is not valid JSON (error near byte %zu of %" PRIu64 ")", p->name, at, n);
    } else if (!cJSON_IsObject(root)) {
        st = celer_error_set(p->err, CELER_ERR_FORMAT, "%s: header is JSON but not an object", p->name);
    } else {
        st = read_entries(p, root, f);
        if (st == CELER_OK) st = check_layout(p, f);
    }
    cJSON_Delete(root);
    free(text);
    return st;
}

/* Parses base[0..size) named name; mapping (may be NULL) goes to the result, or is
 * unmapped on failure. */
static celer_status parse_named(const char *name, const void *base, size_t size, void *mapping, safetensors_file **out, celer_error *err) {
    *out = NULL;
    safetensors_file *f = calloc(1, sizeof(*f));
    char *name_copy = strdup(name);
    if (!f || !name_copy) {
        free(f);
        free(name_copy);
        if (mapping) munmap(mapping, size);
        return celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory", name);
    }
    f->name = name_copy;
    f->base = base;
    f->size = size;
    f->mapping = mapping;
    parser p = {.name = name, .err = err};
    celer_status st = parse_image(&p, f);
    if (st != CELER_OK) {
        safetensors_close(f);
        return st;
    }
    *out = f;
    return CELER_OK;
}

celer_status safetensors_parse(const void *buf, size_t size, safetensors_file **out, celer_error *err) {
    if (!buf && size) {
        *out = NULL;
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "<buffer>: NULL buffer of %zu bytes", size);
    }
    static const uint8_t empty[1];
    return parse_named("<buffer>", buf ? buf : empty, size, NULL, out, err);
}

celer_status safetensors_open(const char *path, safetensors_file **out, celer_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not hang us */
    if (fd < 0) return celer_error_set(err, CELER_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    celer_status st = CELER_OK;
    if (fstat(fd, &sb) != 0) st = celer_error_set(err, CELER_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = celer_error_set(err, CELER_ERR_IO, "%s: not a regular file", path);
    else if (sb.st_size < 8) st = celer_error_set(err, CELER_ERR_FORMAT, "%s: truncated: %lld bytes, a safetensors file starts with an 8-byte header length", path, (long long)sb.st_size);
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
