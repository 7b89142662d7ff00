/* test_gguf.c: the GGUF reader and writer.
 *
 * Round trips (writer -> reader -> compare) of every value type, of numeric and string
 * arrays, and of tensors of several types and shapes, through memory and through a file;
 * the real model's metadata and tensor table; the typed getters; and one negative test
 * per malformed class (modelled on llama.cpp's tests/test-gguf.cpp), each asserting the
 * status and a piece of the message, plus every truncation of a valid small file.
 * Every parse gets an exactly sized heap copy so AddressSanitizer catches any overread. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"
#include "quant/quant.h"

/* ---- a tiny byte builder for hand-made (malformed) files ---- */

typedef struct {
    uint8_t *p; /* (cap) */
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }

static void put_str(bytes *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void put_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void put_kv_u32(bytes *b, const char *key, gguf_type type, uint32_t v) {
    put_str(b, key);
    put_u32(b, type);
    put_u32(b, v);
}

static void put_zeros(bytes *b, size_t n) {
    for (size_t i = 0; i < n; i++) put(b, "", 1);
}

static void pad_to(bytes *b, size_t alignment) { put_zeros(b, (alignment - b->n % alignment) % alignment); }

typedef struct {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
    uint64_t offset;
} info;

static void put_info(bytes *b, const info *t) {
    put_str(b, t->name);
    put_u32(b, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims; d++) put(b, &t->ne[d], 8);
    put_u32(b, t->type);
    put_u64(b, t->offset);
}

/* A v3 file with no metadata, the given tensor infos, padding to 32, data_bytes zeros. */
static bytes craft_tensors(const info *infos, size_t n, size_t data_bytes) {
    bytes b = {0};
    put_header(&b, 3, n, 0);
    for (size_t i = 0; i < n; i++) put_info(&b, &infos[i]);
    pad_to(&b, 32);
    put_zeros(&b, data_bytes);
    return b;
}

/* ---- parsing through exact-size heap copies ---- */

typedef struct {
    void *buf;
    gguf_file *f;
} parsed;

static celer_status parse_copy(const void *src, size_t n, parsed *out, celer_error *err) {
    out->buf = malloc(n ? n : 1);
    assert_non_null(out->buf);
    if (n) memcpy(out->buf, src, n);
    celer_status st = gguf_parse(out->buf, n, &out->f, err);
    if (st != CELER_OK) {
        assert_null(out->f);
        free(out->buf);
        out->buf = NULL;
    }
    return st;
}

static void parsed_free(parsed *p) {
    gguf_close(p->f);
    free(p->buf);
}

/* Asserts the image is refused with status want and a message holding "<buffer>" and want_text. */
static void expect_fail(const void *src, size_t n, celer_status want, const char *want_text) {
    celer_error err = {{0}};
    parsed p;
    celer_status st = parse_copy(src, n, &p, &err);
    if (st != want || !strstr(err.msg, want_text) || !strstr(err.msg, "<buffer>"))
        print_error("expected %s with '%s', got %s: %s\n", celer_status_name(want), want_text, celer_status_name(st), err.msg);
    assert_int_equal(st, want);
    assert_non_null(strstr(err.msg, want_text));
    assert_non_null(strstr(err.msg, "<buffer>"));
}

static void expect_fail_bytes(bytes *b, celer_status want, const char *want_text) {
    expect_fail(b->p, b->n, want, want_text);
    free(b->p);
}

static void to_buffer(gguf_writer *w, void **buf, size_t *size) {
    celer_error err = {{0}};
    celer_status st = gguf_writer_to_buffer(w, buf, size, &err);
    if (st != CELER_OK) print_error("to_buffer: %s\n", err.msg);
    assert_int_equal(st, CELER_OK);
}

/* ---- round trips ---- */

static gguf_kv scalar_kv(const char *key, gguf_type type) {
    gguf_kv kv = {.key = {strlen(key), (char *)key}, .value = {.type = type}};
    return kv;
}

/* Scalars of all 12 non-array types: the types without a setter go through copy_kv. */
static void add_all_scalars(gguf_writer *w) {
    gguf_kv kv;
    kv = scalar_kv("t.u8", GGUF_TYPE_UINT8), kv.value.num.u64 = 250;
    assert_int_equal(gguf_writer_copy_kv(w, &kv, NULL), CELER_OK);
    kv = scalar_kv("t.i8", GGUF_TYPE_INT8), kv.value.num.i64 = -120;
    assert_int_equal(gguf_writer_copy_kv(w, &kv, NULL), CELER_OK);
    kv = scalar_kv("t.u16", GGUF_TYPE_UINT16), kv.value.num.u64 = 65000;
    assert_int_equal(gguf_writer_copy_kv(w, &kv, NULL), CELER_OK);
    kv = scalar_kv("t.i16", GGUF_TYPE_INT16), kv.value.num.i64 = -32000;
    assert_int_equal(gguf_writer_copy_kv(w, &kv, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_u32(w, "t.u32", 4000000000u, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_i32(w, "t.i32", -2000000000, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_f32(w, "t.f32", 1.5e-5f, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_bool(w, "t.bool", true, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_str(w, "t.str", "héllo", NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_u64(w, "t.u64", UINT64_MAX - 1, NULL), CELER_OK);
    kv = scalar_kv("t.i64", GGUF_TYPE_INT64), kv.value.num.i64 = INT64_MIN + 3;
    assert_int_equal(gguf_writer_copy_kv(w, &kv, NULL), CELER_OK);
    kv = scalar_kv("t.f64", GGUF_TYPE_FLOAT64), kv.value.num.f64 = -1e300;
    assert_int_equal(gguf_writer_copy_kv(w, &kv, NULL), CELER_OK);
    /* a string holding a NUL and an empty string */
    kv = scalar_kv("t.str_nul", GGUF_TYPE_STRING), kv.value.str = (gguf_string){3, "a\0b"};
    assert_int_equal(gguf_writer_copy_kv(w, &kv, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_str(w, "t.str_empty", "", NULL), CELER_OK);
}

static void check_all_scalars(const gguf_file *f) {
    const gguf_kv *kv;
    assert_non_null(kv = gguf_find_kv(f, "t.u8"));
    assert_int_equal(kv->value.type, GGUF_TYPE_UINT8);
    assert_false(kv->value.is_array);
    assert_int_equal(kv->value.num.u64, 250);
    assert_int_equal(gguf_find_kv(f, "t.i8")->value.num.i64, -120);
    assert_int_equal(gguf_find_kv(f, "t.i8")->value.type, GGUF_TYPE_INT8);
    assert_int_equal(gguf_find_kv(f, "t.u16")->value.num.u64, 65000);
    assert_int_equal(gguf_find_kv(f, "t.i16")->value.num.i64, -32000);
    assert_int_equal(gguf_find_kv(f, "t.u32")->value.num.u64, 4000000000u);
    assert_int_equal(gguf_find_kv(f, "t.u32")->value.type, GGUF_TYPE_UINT32);
    assert_int_equal(gguf_find_kv(f, "t.i32")->value.num.i64, -2000000000);
    assert_true(gguf_find_kv(f, "t.f32")->value.num.f64 == (double)1.5e-5f);
    assert_int_equal(gguf_find_kv(f, "t.f32")->value.type, GGUF_TYPE_FLOAT32);
    assert_int_equal(gguf_find_kv(f, "t.bool")->value.num.u64, 1);
    assert_int_equal(gguf_find_kv(f, "t.bool")->value.type, GGUF_TYPE_BOOL);
    assert_string_equal(gguf_find_kv(f, "t.str")->value.str.data, "héllo");
    assert_int_equal(gguf_find_kv(f, "t.str")->value.type, GGUF_TYPE_STRING);
    assert_true(gguf_find_kv(f, "t.u64")->value.num.u64 == UINT64_MAX - 1);
    assert_true(gguf_find_kv(f, "t.i64")->value.num.i64 == INT64_MIN + 3);
    assert_true(gguf_find_kv(f, "t.f64")->value.num.f64 == -1e300);
    assert_int_equal(gguf_find_kv(f, "t.f64")->value.type, GGUF_TYPE_FLOAT64);
    const gguf_string *s = &gguf_find_kv(f, "t.str_nul")->value.str;
    assert_int_equal(s->len, 3);
    assert_memory_equal(s->data, "a\0b", 4); /* NUL-terminated after its length too */
    assert_int_equal(gguf_find_kv(f, "t.str_empty")->value.str.len, 0);
    assert_string_equal(gguf_find_kv(f, "t.str_empty")->value.str.data, "");
}

/* One array per numeric element type: n elements of elem_size bytes, bytes i*7+k. */
static const gguf_type numeric_types[] = {GGUF_TYPE_UINT8, GGUF_TYPE_INT8, GGUF_TYPE_UINT16, GGUF_TYPE_INT16,
                                          GGUF_TYPE_UINT32, GGUF_TYPE_INT32, GGUF_TYPE_FLOAT32, GGUF_TYPE_UINT64,
                                          GGUF_TYPE_INT64, GGUF_TYPE_FLOAT64};

static void array_pattern(uint8_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(i * 7 + 3);
}

static void add_all_arrays(gguf_writer *w) {
    uint8_t data[8 * 5];
    array_pattern(data, sizeof(data));
    for (size_t i = 0; i < sizeof(numeric_types) / sizeof(numeric_types[0]); i++) {
        char key[32];
        snprintf(key, sizeof(key), "a.%s", gguf_type_name(numeric_types[i]));
        assert_int_equal(gguf_writer_set_arr(w, key, numeric_types[i], data, 5, NULL), CELER_OK);
    }
    const uint8_t bools[4] = {1, 0, 0, 1};
    assert_int_equal(gguf_writer_set_arr(w, "a.BOOL", GGUF_TYPE_BOOL, bools, 4, NULL), CELER_OK);
    const char *strs[] = {"alpha", "", "γάμμα"};
    assert_int_equal(gguf_writer_set_arr_str(w, "a.STRING", strs, 3, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_arr(w, "a.empty", GGUF_TYPE_INT32, NULL, 0, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_arr_str(w, "a.empty_str", NULL, 0, NULL), CELER_OK);
}

static void check_all_arrays(const gguf_file *f) {
    uint8_t data[8 * 5];
    array_pattern(data, sizeof(data));
    const gguf_value *v = NULL;
    for (size_t i = 0; i < sizeof(numeric_types) / sizeof(numeric_types[0]); i++) {
        char key[32];
        snprintf(key, sizeof(key), "a.%s", gguf_type_name(numeric_types[i]));
        assert_int_equal(gguf_get_arr(f, key, numeric_types[i], &v, NULL), CELER_OK);
        assert_true(v->is_array);
        assert_int_equal(v->elem_type, numeric_types[i]);
        assert_int_equal(v->n, 5);
        assert_memory_equal(v->data, data, 5 * gguf_type_size(numeric_types[i]));
    }
    assert_int_equal(gguf_get_arr(f, "a.BOOL", GGUF_TYPE_BOOL, &v, NULL), CELER_OK);
    assert_memory_equal(v->data, ((uint8_t[]){1, 0, 0, 1}), 4);
    assert_int_equal(gguf_get_arr(f, "a.STRING", GGUF_TYPE_STRING, &v, NULL), CELER_OK);
    assert_int_equal(v->n, 3);
    const gguf_string *s = v->data;
    assert_string_equal(s[0].data, "alpha");
    assert_int_equal(s[1].len, 0);
    assert_string_equal(s[2].data, "γάμμα");
    assert_int_equal(gguf_get_arr(f, "a.empty", GGUF_TYPE_COUNT, &v, NULL), CELER_OK);
    assert_int_equal(v->n, 0);
    assert_int_equal(v->elem_type, GGUF_TYPE_INT32);
    assert_int_equal(gguf_get_arr(f, "a.empty_str", GGUF_TYPE_STRING, &v, NULL), CELER_OK);
    assert_int_equal(v->n, 0);
}

static void test_round_trip_values(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    add_all_scalars(w);
    add_all_arrays(w);
    /* setting a key again replaces its value in place */
    assert_int_equal(gguf_writer_set_u32(w, "t.u32", 7, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_u32(w, "t.u32", 4000000000u, NULL), CELER_OK);
    void *buf = NULL;
    size_t size = 0;
    to_buffer(w, &buf, &size);
    gguf_writer_free(w);
    parsed p;
    celer_error err = {{0}};
    assert_int_equal(parse_copy(buf, size, &p, &err), CELER_OK);
    free(buf);
    assert_int_equal(p.f->version, 3);
    assert_int_equal(p.f->n_kv, 14 + 14);
    assert_int_equal(p.f->n_tensors, 0);
    assert_int_equal(p.f->alignment, GGUF_DEFAULT_ALIGNMENT);
    assert_string_equal(p.f->kv[0].key.data, "t.u8"); /* insertion order */
    check_all_scalars(p.f);
    check_all_arrays(p.f);
    /* copy_kv of every parsed key reproduces the same file */
    gguf_writer *w2 = gguf_writer_new();
    for (uint64_t i = 0; i < p.f->n_kv; i++) assert_int_equal(gguf_writer_copy_kv(w2, &p.f->kv[i], NULL), CELER_OK);
    void *buf2 = NULL;
    size_t size2 = 0;
    to_buffer(w2, &buf2, &size2);
    assert_int_equal(size2, p.f->size);
    assert_memory_equal(buf2, p.f->base, size2);
    free(buf2);
    gguf_writer_free(w2);
    parsed_free(&p);
}

/* Fixture: the file of add_all_scalars + add_all_arrays, parsed. */
static int setup_values(void **state) {
    gguf_writer *w = gguf_writer_new();
    add_all_scalars(w);
    add_all_arrays(w);
    void *buf = NULL;
    size_t size = 0;
    to_buffer(w, &buf, &size);
    gguf_writer_free(w);
    parsed *p = malloc(sizeof(*p));
    assert_int_equal(parse_copy(buf, size, p, NULL), CELER_OK);
    free(buf);
    *state = p;
    return 0;
}

static int teardown_values(void **state) {
    parsed_free(*state);
    free(*state);
    return 0;
}

static void test_get_integers(void **state) {
    const gguf_file *f = ((parsed *)*state)->f;
    celer_error err = {{0}};
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    /* integers convert between types when the value fits */
    assert_int_equal(gguf_get_u32(f, "t.u8", &u32, &err), CELER_OK);
    assert_int_equal(u32, 250);
    assert_int_equal(gguf_get_u32(f, "t.u32", &u32, &err), CELER_OK);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(gguf_get_i64(f, "t.i8", &i64, &err), CELER_OK);
    assert_int_equal(i64, -120);
    assert_int_equal(gguf_get_i64(f, "t.u32", &i64, &err), CELER_OK);
    assert_int_equal(i64, 4000000000);
    assert_int_equal(gguf_get_u64(f, "t.u64", &u64, &err), CELER_OK);
    assert_true(u64 == UINT64_MAX - 1);
    assert_int_equal(gguf_get_i64(f, "t.i64", &i64, &err), CELER_OK);
    assert_true(i64 == INT64_MIN + 3);
    /* out of range and wrong type: FORMAT naming the file and the key */
    assert_int_equal(gguf_get_u32(f, "t.i8", &u32, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "<buffer>: key 't.i8' = -120 is out of range"));
    assert_int_equal(gguf_get_u32(f, "t.u64", &u32, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "t.u64"));
    assert_int_equal(gguf_get_i64(f, "t.u64", &i64, &err), CELER_ERR_FORMAT);
    assert_int_equal(gguf_get_u64(f, "t.i16", &u64, &err), CELER_ERR_FORMAT);
    assert_int_equal(gguf_get_u32(f, "t.str", &u32, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "'t.str' is STRING, expected an integer"));
    assert_int_equal(gguf_get_u32(f, "a.UINT32", &u32, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "an array of UINT32"));
    assert_int_equal(gguf_get_u32(f, "t.bool", &u32, &err), CELER_ERR_FORMAT);
    /* absent: RANGE with no message, so callers can fall back to a default */
    err.msg[0] = '\0';
    assert_int_equal(gguf_get_u32(f, "nope", &u32, &err), CELER_ERR_RANGE);
    assert_int_equal(gguf_get_u64(f, "nope", &u64, &err), CELER_ERR_RANGE);
    assert_int_equal(gguf_get_i64(f, "nope", &i64, &err), CELER_ERR_RANGE);
    assert_string_equal(err.msg, "");
}

static void test_get_others(void **state) {
    const gguf_file *f = ((parsed *)*state)->f;
    celer_error err = {{0}};
    float f32 = 0;
    bool b = false;
    const gguf_string *s = NULL;
    const gguf_value *v = NULL;
    assert_int_equal(gguf_get_f32(f, "t.f32", &f32, &err), CELER_OK);
    assert_true(f32 == 1.5e-5f);
    assert_int_equal(gguf_get_f32(f, "t.f64", &f32, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "does not fit in a float"));
    assert_int_equal(gguf_get_f32(f, "t.u32", &f32, &err), CELER_ERR_FORMAT);
    assert_int_equal(gguf_get_bool(f, "t.bool", &b, &err), CELER_OK);
    assert_true(b);
    assert_int_equal(gguf_get_bool(f, "t.u8", &b, &err), CELER_ERR_FORMAT);
    assert_int_equal(gguf_get_str(f, "t.str", &s, &err), CELER_OK);
    assert_string_equal(s->data, "héllo");
    assert_int_equal(gguf_get_str(f, "a.STRING", &s, &err), CELER_ERR_FORMAT);
    assert_int_equal(gguf_get_arr(f, "a.STRING", GGUF_TYPE_INT32, &v, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "expected an array of INT32"));
    assert_int_equal(gguf_get_arr(f, "t.str", GGUF_TYPE_COUNT, &v, &err), CELER_ERR_FORMAT);
    err.msg[0] = '\0';
    assert_int_equal(gguf_get_f32(f, "nope", &f32, &err), CELER_ERR_RANGE);
    assert_int_equal(gguf_get_bool(f, "nope", &b, &err), CELER_ERR_RANGE);
    assert_int_equal(gguf_get_str(f, "nope", &s, &err), CELER_ERR_RANGE);
    assert_int_equal(gguf_get_arr(f, "nope", GGUF_TYPE_COUNT, &v, &err), CELER_ERR_RANGE);
    assert_string_equal(err.msg, "");
    assert_null(gguf_find_kv(f, "t"));
    assert_null(gguf_find_tensor(f, "t.u8"));
    assert_string_equal(gguf_type_name(GGUF_TYPE_FLOAT64), "FLOAT64");
    assert_string_equal(gguf_type_name((gguf_type)99), "unknown");
    assert_int_equal(gguf_type_size(GGUF_TYPE_INT16), 2);
    assert_int_equal(gguf_type_size(GGUF_TYPE_STRING), 0);
}

typedef struct {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
} tensor_spec;

static const tensor_spec tensor_specs[] = {
    {"f32.matrix", QUANT_F32, 2, {8, 3, 1, 1}},
    {"f16.vector", QUANT_F16, 1, {17, 1, 1, 1}},
    {"q8_0.weight", QUANT_Q8_0, 2, {64, 2, 1, 1}},
    {"q4_1.3d", QUANT_Q4_1, 3, {32, 3, 2, 1}},
    {"q6_K.row", QUANT_Q6_K, 1, {256, 1, 1, 1}},
    {"bf16.4d", QUANT_BF16, 4, {4, 1, 3, 2}},
};
enum { N_SPECS = sizeof(tensor_specs) / sizeof(tensor_specs[0]) };

static size_t spec_size(const tensor_spec *t) { return quant_row_size(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]); }

/* Tensors of several types; data[i] filled with a per-tensor pattern. */
static gguf_writer *tensor_writer(uint8_t *data[N_SPECS], uint32_t alignment) {
    gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "llama", NULL), CELER_OK);
    if (alignment) assert_int_equal(gguf_writer_set_u32(w, "general.alignment", alignment, NULL), CELER_OK);
    for (int i = 0; i < N_SPECS; i++) {
        size_t n = spec_size(&tensor_specs[i]);
        assert_true(n > 0);
        data[i] = malloc(n);
        for (size_t k = 0; k < n; k++) data[i][k] = (uint8_t)(k * 13 + i);
        const tensor_spec *t = &tensor_specs[i];
        assert_int_equal(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data[i], NULL), CELER_OK);
    }
    return w;
}

static void check_tensors(const gguf_file *f, uint8_t *data[N_SPECS], uint64_t alignment) {
    assert_int_equal(f->n_tensors, N_SPECS);
    assert_int_equal(f->alignment, alignment);
    assert_int_equal(f->data_offset % alignment, 0);
    for (int i = 0; i < N_SPECS; i++) {
        const tensor_spec *s = &tensor_specs[i];
        const gguf_tensor *t = gguf_find_tensor(f, s->name);
        assert_ptr_equal(t, &f->tensors[i]); /* insertion order */
        assert_int_equal(t->type, s->type);
        assert_int_equal(t->n_dims, s->n_dims);
        for (int d = 0; d < GGUF_MAX_DIMS; d++) assert_int_equal(t->ne[d], s->ne[d]);
        assert_int_equal(t->size, spec_size(s));
        assert_int_equal(t->offset % alignment, 0);
        assert_ptr_equal(t->data, f->base + f->data_offset + t->offset);
        assert_memory_equal(t->data, data[i], t->size);
        /* padding after the data is zero */
        const uint8_t *end = (const uint8_t *)t->data + t->size;
        for (uint64_t k = t->size; k % alignment != 0 && end < f->base + f->size; k++, end++) assert_int_equal(*end, 0);
    }
}

static void test_round_trip_tensors(void **state) {
    (void)state;
    const uint32_t alignments[] = {0, 64, 1, 256};
    for (size_t a = 0; a < sizeof(alignments) / sizeof(alignments[0]); a++) {
        uint8_t *data[N_SPECS];
        gguf_writer *w = tensor_writer(data, alignments[a]);
        void *buf = NULL;
        size_t size = 0;
        to_buffer(w, &buf, &size);
        gguf_writer_free(w);
        parsed p;
        celer_error err = {{0}};
        celer_status st = parse_copy(buf, size, &p, &err);
        if (st != CELER_OK) print_error("%s\n", err.msg);
        assert_int_equal(st, CELER_OK);
        free(buf);
        check_tensors(p.f, data, alignments[a] ? alignments[a] : GGUF_DEFAULT_ALIGNMENT);
        parsed_free(&p);
        for (int i = 0; i < N_SPECS; i++) free(data[i]);
    }
}

static void test_writer_refuses(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    celer_error err = {{0}};
    float data[64] = {0};
    int64_t ne[4] = {8, 1, 1, 1};
    assert_int_equal(gguf_writer_add_tensor(w, "a", QUANT_F32, 1, ne, data, &err), CELER_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "a", QUANT_F32, 1, ne, data, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "duplicate tensor name 'a'"));
    assert_int_equal(gguf_writer_add_tensor(w, "b", QUANT_F32, 5, ne, data, &err), CELER_ERR_INVALID_ARG);
    assert_int_equal(gguf_writer_add_tensor(w, "b", QUANT_Q8_0, 1, ne, data, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "block size 32"));
    assert_int_equal(gguf_writer_add_tensor(w, "b", 9999, 1, ne, data, &err), CELER_ERR_UNSUPPORTED);
    ne[0] = 0;
    assert_int_equal(gguf_writer_add_tensor(w, "b", QUANT_F32, 1, ne, data, &err), CELER_ERR_INVALID_ARG);
    assert_int_equal(gguf_writer_add_tensor(w, "", QUANT_F32, 1, ne, data, &err), CELER_ERR_INVALID_ARG);
    assert_int_equal(gguf_writer_set_u32(w, "", 1, &err), CELER_ERR_INVALID_ARG);
    assert_int_equal(gguf_writer_set_arr(w, "x", GGUF_TYPE_ARRAY, data, 1, &err), CELER_ERR_INVALID_ARG);
    assert_int_equal(gguf_writer_set_arr(w, "x", GGUF_TYPE_STRING, data, 1, &err), CELER_ERR_INVALID_ARG);
    assert_int_equal(gguf_writer_set_arr(w, "x", GGUF_TYPE_BOOL, (uint8_t[]){1, 2}, 2, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "bool element 1 is 2"));
    /* an alignment the reader would refuse is refused at write time */
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 48, &err), CELER_OK);
    void *buf = NULL;
    size_t size = 0;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "general.alignment"));
    assert_null(buf);
    gguf_writer_free(w);
}

/* A unique scratch directory under /tmp. */
static void scratch_dir(char *dir, size_t size) {
    snprintf(dir, size, "/tmp/celer_test_gguf_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

/* gguf_writer_finish: a file in memory whose tensors point into the owner's memory; the
 * owner is released once, by gguf_close, or at once when finishing fails. */
static void count_release(void *owner) { (*(int *)owner)++; }

static void test_finish_in_memory(void **state) {
    (void)state;
    float data[6] = {1, 2, 3, 4, 5, 6};
    int released = 0;
    celer_error err = {{0}};
    gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "llama", &err), CELER_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "t", QUANT_F32, 2, (int64_t[]){3, 2}, data, &err), CELER_OK);
    gguf_file *f = NULL;
    assert_int_equal(gguf_writer_finish(w, "dir/model", 1234, count_release, &released, &f, &err), CELER_OK);
    gguf_writer_free(w); /* emptied: the file owns the keys and tensor infos now */
    assert_null(f->base);
    assert_null(f->mapping);
    assert_int_equal(f->size, 1234);
    assert_int_equal(f->n_kv, 1);
    const gguf_tensor *t = gguf_find_tensor(f, "t");
    assert_non_null(t);
    assert_ptr_equal(t->data, data);
    assert_int_equal(t->size, sizeof(data));
    uint32_t v = 0;
    assert_int_equal(gguf_get_u32(f, "general.architecture", &v, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "dir/model: key 'general.architecture'")); /* messages name it */
    assert_int_equal(released, 0);
    gguf_close(f);
    assert_int_equal(released, 1);

    w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 3, &err), CELER_OK);
    assert_int_equal(gguf_writer_finish(w, "dir/model", 0, count_release, &released, &f, &err), CELER_ERR_INVALID_ARG);
    assert_null(f);
    assert_int_equal(released, 2);
    gguf_writer_free(w);
}

static void test_write_and_open_file(void **state) {
    (void)state;
    char dir[64], path[128], tmp[140];
    scratch_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/model.gguf", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    uint8_t *data[N_SPECS];
    gguf_writer *w = tensor_writer(data, 0);
    celer_error err = {{0}};
    assert_int_equal(gguf_writer_write(w, path, &err), CELER_OK);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed away */
    void *buf = NULL;
    size_t size = 0;
    to_buffer(w, &buf, &size);
    gguf_file *f = NULL;
    assert_int_equal(gguf_open(path, &f, &err), CELER_OK);
    assert_non_null(f->mapping);
    assert_int_equal(f->size, size);
    assert_memory_equal(f->base, buf, size); /* file and buffer writers agree */
    check_tensors(f, data, GGUF_DEFAULT_ALIGNMENT);
    gguf_close(f);
    free(buf);
    /* a directory that does not exist: IO, naming the temporary file */
    assert_int_equal(gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err), CELER_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf.tmp"));
    gguf_writer_free(w);
    for (int i = 0; i < N_SPECS; i++) free(data[i]);
    unlink(path);
    rmdir(dir);
}

static void expect_open_fail(const char *path, celer_status want, const char *want_text) {
    gguf_file *f = (gguf_file *)1;
    celer_error err = {{0}};
    celer_status st = gguf_open(path, &f, &err);
    if (st != want || !strstr(err.msg, want_text)) print_error("%s: got %s: %s\n", path, celer_status_name(st), err.msg);
    assert_int_equal(st, want);
    assert_null(f);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, want_text));
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void test_open_errors(void **state) {
    (void)state;
    char dir[64], path[128];
    scratch_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/missing.gguf", dir);
    expect_open_fail(path, CELER_ERR_IO, "No such file or directory");
    expect_open_fail(dir, CELER_ERR_IO, "is a directory");
    snprintf(path, sizeof(path), "%s/empty.gguf", dir);
    write_file(path, "", 0);
    expect_open_fail(path, CELER_ERR_IO, "empty");
    unlink(path);
    snprintf(path, sizeof(path), "%s/fifo.gguf", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    expect_open_fail(path, CELER_ERR_IO, "not a regular file");
    unlink(path);
    snprintf(path, sizeof(path), "%s/text.gguf", dir);
    write_file(path, "this is not a model", 19);
    expect_open_fail(path, CELER_ERR_FORMAT, "bad magic 'this'");
    if (geteuid() != 0) { /* root reads anything */
        assert_int_equal(chmod(path, 0), 0);
        expect_open_fail(path, CELER_ERR_IO, "Permission denied");
    }
    unlink(path);
    rmdir(dir);
}

/* ---- the real model ---- */

static void test_real_model(void **state) {
    (void)state;
    const char *path = getenv("CELER_MODEL");
    if (!path || access(path, R_OK) != 0) {
        fprintf(stderr, "SKIPPED: model not found at %s\n", path ? path : "(CELER_MODEL not set)");
        skip();
    }
    gguf_file *f = NULL;
    celer_error err = {{0}};
    celer_status st = gguf_open(path, &f, &err);
    if (st != CELER_OK) print_error("%s\n", err.msg);
    assert_int_equal(st, CELER_OK);
    assert_int_equal(f->version, 3);
    assert_int_equal(f->n_tensors, 272);
    assert_int_equal(f->n_kv, 33);
    uint32_t n_layer = 0;
    assert_int_equal(gguf_get_u32(f, "llama.block_count", &n_layer, &err), CELER_OK);
    assert_int_equal(n_layer, 30);
    const gguf_string *arch = NULL;
    assert_int_equal(gguf_get_str(f, "general.architecture", &arch, &err), CELER_OK);
    assert_string_equal(arch->data, "llama");
    const gguf_value *tokens = NULL;
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), CELER_OK);
    assert_int_equal(tokens->n, 49152);
    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, QUANT_Q8_0);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 576);
    assert_int_equal(t->ne[1], 49152);
    assert_int_equal(t->size, 576 / 32 * 34 * 49152);
    /* the metadata survives copy_kv -> writer -> reader unchanged */
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < f->n_kv; i++) assert_int_equal(gguf_writer_copy_kv(w, &f->kv[i], &err), CELER_OK);
    void *buf = NULL;
    size_t size = 0;
    to_buffer(w, &buf, &size);
    gguf_writer_free(w);
    parsed p;
    assert_int_equal(parse_copy(buf, size, &p, &err), CELER_OK);
    free(buf);
    assert_int_equal(p.f->n_kv, 33);
    assert_int_equal(gguf_get_arr(p.f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), CELER_OK);
    const gguf_string *a = tokens->data, *b = gguf_find_kv(f, "tokenizer.ggml.tokens")->value.data;
    for (uint64_t i = 0; i < 49152; i++) {
        assert_int_equal(a[i].len, b[i].len);
        assert_memory_equal(a[i].data, b[i].data, a[i].len);
    }
    parsed_free(&p);
    gguf_close(f);
}

/* ---- malformed files: header ---- */

static void test_bad_header(void **state) {
    (void)state;
    bytes b = {0};
    put(&b, "GGUX", 4), put_u32(&b, 3), put_u64(&b, 0), put_u64(&b, 0);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "bad magic 'GGUX'");
    b = (bytes){0}, put_header(&b, 0, 0, 0);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "bad GGUF version 0");
    b = (bytes){0}, put_header(&b, 1, 0, 0);
    expect_fail_bytes(&b, CELER_ERR_UNSUPPORTED, "version 1 is not supported");
    b = (bytes){0}, put_header(&b, 4, 0, 0);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "bad GGUF version 4");
    b = (bytes){0}, put_header(&b, 0x03000000, 0, 0); /* version 3 written big-endian */
    expect_fail_bytes(&b, CELER_ERR_UNSUPPORTED, "big-endian");
    b = (bytes){0}, put_header(&b, 3, 0, UINT64_MAX);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "n_kv = 18446744073709551615 cannot fit");
    b = (bytes){0}, put_header(&b, 3, 1000, 0);
    put_zeros(&b, 1000); /* 1000 tensor infos need at least 33000 bytes */
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "n_tensors = 1000 cannot fit: the 1000 bytes left at offset 24 hold at most 30 tensor infos");
    b = (bytes){0}, put_header(&b, 3, (uint64_t)1 << 62, 0);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "cannot fit");
    /* v2 is read like v3; an empty file with only a header is valid */
    b = (bytes){0}, put_header(&b, 2, 0, 0);
    parsed p;
    assert_int_equal(parse_copy(b.p, b.n, &p, NULL), CELER_OK);
    assert_int_equal(p.f->version, 2);
    parsed_free(&p);
    free(b.p);
    expect_fail("", 0, CELER_ERR_FORMAT, "truncated");
}

/* ---- malformed files: key/values ---- */

static void test_bad_kv(void **state) {
    (void)state;
    bytes b = {0};
    put_header(&b, 3, 0, 1), put_u64(&b, UINT64_MAX - 3), put_zeros(&b, 20); /* key length */
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "key length 18446744073709551612 at offset 24 exceeds the 20 bytes left");
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_kv_u32(&b, "", GGUF_TYPE_UINT32, 1);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "empty key");
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_kv_u32(&b, "k", (gguf_type)GGUF_TYPE_COUNT, 1);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "key 'k' (key/value 0): value type 13 is invalid");
    b = (bytes){0}, put_header(&b, 3, 0, 2), put_kv_u32(&b, "k", GGUF_TYPE_UINT32, 1), put_kv_u32(&b, "k", GGUF_TYPE_UINT32, 2);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "duplicate key 'k'");
    /* string value longer than the file */
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_str(&b, "s"), put_u32(&b, GGUF_TYPE_STRING), put_u64(&b, 1000), put(&b, "abc", 3);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "key 's' (key/value 0): string value length 1000");
    /* bool that is neither 0 nor 1 */
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_str(&b, "flag"), put_u32(&b, GGUF_TYPE_BOOL), put(&b, "\x02", 1);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "key 'flag' (key/value 0): bool element 0 is 2, expected 0 or 1");
    /* keys in messages: control bytes and malformed UTF-8 shown as '?', long keys cut */
    const char *odd = "k\n\xff\xe5\x90\x8d";
    b = (bytes){0}, put_header(&b, 3, 0, 2), put_kv_u32(&b, odd, GGUF_TYPE_UINT32, 1), put_kv_u32(&b, odd, GGUF_TYPE_UINT32, 1);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "duplicate key 'k??\xe5\x90\x8d'");
    char long_key[101], shown[96];
    memset(long_key, 'x', 100), long_key[100] = '\0';
    snprintf(shown, sizeof(shown), "duplicate key '%.64s...'", long_key);
    b = (bytes){0}, put_header(&b, 3, 0, 2), put_kv_u32(&b, long_key, GGUF_TYPE_UINT32, 1), put_kv_u32(&b, long_key, GGUF_TYPE_UINT32, 1);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, shown);
}

static void put_array_head(bytes *b, const char *key, gguf_type elem, uint64_t n) {
    put_str(b, key);
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, elem);
    put_u64(b, n);
}

static void test_bad_arrays(void **state) {
    (void)state;
    bytes b = {0};
    put_header(&b, 3, 0, 1), put_array_head(&b, "nest", GGUF_TYPE_ARRAY, 1), put_u32(&b, GGUF_TYPE_UINT8), put_u64(&b, 0);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "key 'nest' (key/value 0): nested arrays are not supported");
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_array_head(&b, "arr", (gguf_type)77, 0);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "array element type 77 is invalid");
    /* absurd lengths are refused before allocating */
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_array_head(&b, "arr", GGUF_TYPE_UINT64, UINT64_MAX / 4), put_zeros(&b, 16);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "cannot fit in the 16 bytes left");
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_array_head(&b, "strs", GGUF_TYPE_STRING, (uint64_t)1 << 60), put_zeros(&b, 16);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "key 'strs' (key/value 0): array of 1152921504606846976 elements cannot fit");
    /* a string element running past the end */
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_array_head(&b, "strs", GGUF_TYPE_STRING, 2), put_str(&b, "ok"), put_u64(&b, 9);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "string array element length 9");
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_array_head(&b, "bools", GGUF_TYPE_BOOL, 3), put(&b, "\x01\x00\x05", 3);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "bool element 2 is 5");
}

static void test_bad_alignment(void **state) {
    (void)state;
    const uint32_t bad[] = {0, 3, 48, 0x80000001u};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bytes b = {0};
        put_header(&b, 3, 0, 1), put_kv_u32(&b, "general.alignment", GGUF_TYPE_UINT32, bad[i]);
        expect_fail_bytes(&b, CELER_ERR_FORMAT, "is not a nonzero power of two");
    }
    bytes b = {0};
    put_header(&b, 3, 0, 1), put_kv_u32(&b, "general.alignment", GGUF_TYPE_INT32, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "general.alignment must be of type UINT32, found INT32");
    b = (bytes){0}, put_header(&b, 3, 0, 1), put_array_head(&b, "general.alignment", GGUF_TYPE_UINT32, 1), put_u32(&b, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "found an array of UINT32");
}

/* ---- malformed files: tensor infos ---- */

static void test_bad_tensor_info(void **state) {
    (void)state;
    bytes b;
    b = craft_tensors(&(info){"t", 0, {1, 1, 1, 1}, QUANT_F32, 0}, 1, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor 't': n_dims is 0, expected 1..4");
    b = craft_tensors(&(info){"t", 5, {1, 1, 1, 1}, QUANT_F32, 0}, 1, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor 't': n_dims is 5");
    b = craft_tensors(&(info){"t", 2, {8, 0, 1, 1}, QUANT_F32, 0}, 1, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor 't': ne[1] is 0, expected >= 1");
    b = craft_tensors(&(info){"t", 2, {8, -4, 1, 1}, QUANT_F32, 0}, 1, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "ne[1] is -4");
    b = craft_tensors(&(info){"t", 3, {(int64_t)1 << 31, (int64_t)1 << 31, 4, 1}, QUANT_F32, 0}, 1, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "shape has more than 2^63-1 elements");
    /* elements fit, bytes do not */
    b = craft_tensors(&(info){"t", 2, {(int64_t)1 << 40, (int64_t)1 << 22, 1, 1}, QUANT_F32, 0}, 1, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "size in bytes does not fit in 64 bits");
    b = craft_tensors(&(info){"t", 1, {8, 1, 1, 1}, 9999, 0}, 1, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor 't': type 9999 is not a known ggml type");
    b = craft_tensors(&(info){"t", 1, {33, 1, 1, 1}, QUANT_Q8_0, 0}, 1, 64);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "ne[0] = 33 is not a multiple of the q8_0 block size 32");
    b = craft_tensors(&(info){"", 1, {8, 1, 1, 1}, QUANT_F32, 0}, 1, 32);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor info 0 at offset 24 has an empty name");
    /* a tensor name length past the end */
    b = (bytes){0}, put_header(&b, 3, 1, 0), put_u64(&b, 1u << 20), put_zeros(&b, 40);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor info 0: tensor name length 1048576");
    const info dup[2] = {{"w", 1, {8, 1, 1, 1}, QUANT_F32, 0}, {"w", 1, {8, 1, 1, 1}, QUANT_F32, 32}};
    b = craft_tensors(dup, 2, 64);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "duplicate tensor name 'w'");
}

/* ---- malformed files: tensor data ---- */

static void test_bad_tensor_data(void **state) {
    (void)state;
    bytes b;
    b = craft_tensors(&(info){"t", 1, {8, 1, 1, 1}, QUANT_F32, 16}, 1, 64);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor 't': data offset 16 is not a multiple of the alignment 32");
    /* header is 24 + (8+1+4+8+4+8) = 57 bytes, padded to 64; 32 bytes of data needed, 31 present */
    b = craft_tensors(&(info){"blk.0.attn_q.weight", 1, {8, 1, 1, 1}, QUANT_F32, 0}, 1, 31);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor 'blk.0.attn_q.weight' data [offset 96, size 32] extends past end of file (size 127)");
    b = craft_tensors(&(info){"t", 1, {8, 1, 1, 1}, QUANT_F32, 1024}, 1, 64);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensor 't' data [offset 1088, size 32] extends past end of file");
    b = craft_tensors(&(info){"t", 1, {8, 1, 1, 1}, QUANT_F32, UINT64_MAX - 31}, 1, 64);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "is past end of file");
    const info overlap[2] = {{"a", 1, {16, 1, 1, 1}, QUANT_F32, 0}, {"b", 1, {8, 1, 1, 1}, QUANT_F32, 32}};
    b = craft_tensors(overlap, 2, 128);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "tensors 'a' [offset 96, size 64] and 'b' [offset 128, size 32] overlap");
    const info same[2] = {{"a", 1, {8, 1, 1, 1}, QUANT_F32, 32}, {"b", 1, {8, 1, 1, 1}, QUANT_F32, 32}};
    b = craft_tensors(same, 2, 128);
    expect_fail_bytes(&b, CELER_ERR_FORMAT, "overlap");
    /* the same tensors without overlap parse, in any offset order */
    const info apart[2] = {{"a", 1, {16, 1, 1, 1}, QUANT_F32, 64}, {"b", 1, {8, 1, 1, 1}, QUANT_F32, 0}};
    b = craft_tensors(apart, 2, 128);
    parsed p;
    celer_error err = {{0}};
    assert_int_equal(parse_copy(b.p, b.n, &p, &err), CELER_OK);
    assert_int_equal(gguf_find_tensor(p.f, "a")->offset, 64);
    parsed_free(&p);
    free(b.p);
}

/* A small valid file whose last tensor ends exactly at the end, so every shorter prefix
 * is missing something the reader needs. */
static void test_truncation_everywhere(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    add_all_scalars(w);
    const char *strs[] = {"a", "bc"};
    assert_int_equal(gguf_writer_set_arr_str(w, "a.str", strs, 2, NULL), CELER_OK);
    const int16_t nums[3] = {1, -2, 3};
    assert_int_equal(gguf_writer_set_arr(w, "a.i16", GGUF_TYPE_INT16, nums, 3, NULL), CELER_OK);
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 16, NULL), CELER_OK);
    uint8_t data[64];
    array_pattern(data, sizeof(data));
    assert_int_equal(gguf_writer_add_tensor(w, "q", QUANT_Q8_0, 1, (int64_t[]){32}, data, NULL), CELER_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "f", QUANT_F32, 2, (int64_t[]){2, 2}, data, NULL), CELER_OK);
    void *buf = NULL;
    size_t size = 0;
    to_buffer(w, &buf, &size);
    gguf_writer_free(w);
    parsed p;
    assert_int_equal(parse_copy(buf, size, &p, NULL), CELER_OK);
    parsed_free(&p);
    for (size_t n = 0; n < size; n++) {
        celer_error err = {{0}};
        celer_status st = parse_copy(buf, n, &p, &err);
        if (st != CELER_ERR_FORMAT || !strstr(err.msg, "<buffer>: ")) print_error("prefix %zu: %s: %s\n", n, celer_status_name(st), err.msg);
        assert_int_equal(st, CELER_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "<buffer>: "));
    }
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_values),
        cmocka_unit_test_setup_teardown(test_get_integers, setup_values, teardown_values),
        cmocka_unit_test_setup_teardown(test_get_others, setup_values, teardown_values),
        cmocka_unit_test(test_round_trip_tensors),
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test(test_write_and_open_file),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_real_model),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_kv),
        cmocka_unit_test(test_bad_arrays),
        cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_bad_tensor_info),
        cmocka_unit_test(test_bad_tensor_data),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_finish_in_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
