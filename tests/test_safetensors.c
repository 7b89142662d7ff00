/* test_safetensors.c: the .safetensors reader. Valid files round trip (every field, the
 * data pointers, lookups, a file on disk); then one negative test per validation rule,
 * each checking the one-line message names the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/safetensors.h"
#include "safetensors_builder.h"

/* ---- helpers ---- */

/* An image whose header is exactly json (no padding) followed by data_len bytes i*7. */
static uint8_t *raw_image(const char *json, size_t data_len, size_t *size) {
    size_t n = strlen(json);
    uint8_t *img = malloc(8 + n + data_len + 1);
    uint64_t len = n;
    memcpy(img, &len, 8);
    memcpy(img + 8, json, n);
    for (size_t i = 0; i < data_len; i++) img[8 + n + i] = (uint8_t)(i * 7);
    *size = 8 + n + data_len;
    return img;
}

/* Parsing json + data_len bytes must fail with a message containing want. */
static void expect_error(const char *json, size_t data_len, const char *want) {
    size_t size = 0;
    uint8_t *img = raw_image(json, data_len, &size);
    safetensors_file *f = (safetensors_file *)1;
    celer_error err = {{0}};
    celer_status st = safetensors_parse(img, size, &f, &err);
    if (st != CELER_ERR_FORMAT || !strstr(err.msg, want))
        fail_msg("header %s: got status %d, message '%s'; wanted a format error containing '%s'", json, st, err.msg, want);
    assert_null(f);
    assert_int_equal(strncmp(err.msg, "<buffer>: ", 10), 0);
    assert_null(strchr(err.msg, '\n'));
    free(img);
}

static safetensors_file *parse_ok(const uint8_t *img, size_t size) {
    safetensors_file *f = NULL;
    celer_error err = {{0}};
    if (safetensors_parse(img, size, &f, &err) != CELER_OK) fail_msg("unexpected error: %s", err.msg);
    return f;
}

/* ---- valid files ---- */

static void test_round_trip(void **state) {
    (void)state;
    float f32[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    uint16_t bf16[4] = {0x3f80, 0xbf80, 0x4000, 0x0000};
    uint16_t f16[3] = {0x3c00, 0xc000, 0x7bff};
    int64_t i64[2] = {-1, 1ll << 40};
    st_builder b;
    st_init(&b);
    st_add_metadata(&b);
    st_add(&b, "model.embed_tokens.weight", "F32", 2, (int64_t[]){2, 3}, f32, sizeof(f32));
    st_add(&b, "norm", "BF16", 1, (int64_t[]){4}, bf16, sizeof(bf16));
    st_add(&b, "empty", "F16", 2, (int64_t[]){0, 5}, NULL, 0);
    st_add(&b, "half", "F16", 3, (int64_t[]){1, 3, 1}, f16, sizeof(f16));
    st_add(&b, "position_ids", "I64", 1, (int64_t[]){2}, i64, sizeof(i64));
    st_add(&b, "scalar", "F32", 0, NULL, &f32[2], 4);
    size_t size = 0;
    uint8_t *img = st_image(&b, &size);
    safetensors_file *f = parse_ok(img, size);
    assert_int_equal(f->n_tensors, 6);
    assert_int_equal(f->n_meta, 1);
    assert_string_equal(f->meta[0].key, "format");
    assert_string_equal(f->meta[0].value, "pt");
    assert_int_equal(f->data_offset % 8, 0);
    assert_int_equal(f->size, size);

    const safetensors_tensor *t = safetensors_find(f, "model.embed_tokens.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, SAFETENSORS_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->n_elements, 6);
    assert_int_equal(t->begin, 0);
    assert_int_equal(t->end, 24);
    assert_ptr_equal(t->data, img + f->data_offset);
    assert_memory_equal(t->data, f32, sizeof(f32));

    t = safetensors_find(f, "norm");
    assert_int_equal(t->dtype, SAFETENSORS_BF16);
    assert_memory_equal(t->data, bf16, sizeof(bf16));
    t = safetensors_find(f, "empty");
    assert_int_equal(t->n_elements, 0);
    assert_int_equal(t->begin, t->end);
    t = safetensors_find(f, "half");
    assert_int_equal(t->n_dims, 3);
    assert_memory_equal(t->data, f16, sizeof(f16));
    t = safetensors_find(f, "position_ids");
    assert_int_equal(t->dtype, SAFETENSORS_I64); /* accepted; only the importer refuses it */
    assert_memory_equal(t->data, i64, sizeof(i64));
    t = safetensors_find(f, "scalar");
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(t->n_elements, 1);
    assert_memory_equal(t->data, &f32[2], 4);
    assert_null(safetensors_find(f, "missing"));
    assert_string_equal(safetensors_dtype_name(SAFETENSORS_BF16), "BF16");
    assert_int_equal(safetensors_dtype_size(SAFETENSORS_F64), 8);
    safetensors_close(f);
    free(img);
    st_free(&b);
}

/* Offsets out of header order, numbers written as 3.0, spaces and newlines: all valid. */
static void test_valid_variants(void **state) {
    (void)state;
    size_t size = 0;
    uint8_t *img = raw_image("{\n \"b\": {\"shape\": [2.0], \"dtype\": \"U8\", \"data_offsets\": [4, 6], \"extra\": 1},\n"
                             " \"a\": {\"dtype\": \"I32\", \"shape\": [], \"data_offsets\": [0, 4]} }  ",
                             6, &size);
    safetensors_file *f = parse_ok(img, size);
    assert_int_equal(f->n_tensors, 2);
    assert_int_equal(f->n_meta, 0);
    assert_ptr_equal(safetensors_find(f, "b")->data, img + f->data_offset + 4);
    safetensors_close(f);
    free(img);
    img = raw_image("{}", 0, &size); /* no tensors at all */
    f = parse_ok(img, size);
    assert_int_equal(f->n_tensors, 0);
    safetensors_close(f);
    free(img);
}

static void test_open_file(void **state) {
    (void)state;
    char dir[] = "/tmp/celer_test_safetensors_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    float v[4] = {1, 2, 3, 4};
    st_builder b;
    st_init(&b);
    st_add(&b, "w", "F32", 2, (int64_t[]){2, 2}, v, sizeof(v));
    assert_int_equal(st_write(&b, path), 0);
    safetensors_file *f = NULL;
    celer_error err = {{0}};
    assert_int_equal(safetensors_open(path, &f, &err), CELER_OK);
    assert_non_null(f->mapping);
    assert_memory_equal(safetensors_find(f, "w")->data, v, sizeof(v));
    safetensors_close(f);

    assert_int_equal(safetensors_open(dir, &f, &err), CELER_ERR_IO); /* a directory */
    assert_non_null(strstr(err.msg, "not a regular file"));
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/none.safetensors", dir);
    assert_int_equal(safetensors_open(missing, &f, &err), CELER_ERR_IO);
    assert_non_null(strstr(err.msg, missing));
    FILE *fp = fopen(path, "wb"); /* 3 bytes: shorter than the length field */
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    assert_int_equal(safetensors_open(path, &f, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_null(f);
    unlink(path);
    rmdir(dir);
    st_free(&b);
}

/* ---- one negative test per rule ---- */

static void test_truncated_header(void **state) {
    (void)state;
    safetensors_file *f = NULL;
    celer_error err = {{0}};
    assert_int_equal(safetensors_parse("\x10\0\0", 3, &f, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    uint8_t img[8 + 10];
    uint64_t n = 64; /* says 64 header bytes, 10 follow */
    memcpy(img, &n, 8);
    memcpy(img + 8, "{\"a\":{}}  ", 10);
    assert_int_equal(safetensors_parse(img, sizeof(img), &f, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "header length 64 but only 10 bytes follow"));
    assert_int_equal(safetensors_parse(NULL, 0, &f, &err), CELER_ERR_FORMAT);
}

static void test_header_too_big(void **state) {
    (void)state;
    uint8_t img[16] = {0};
    uint64_t n = SAFETENSORS_MAX_HEADER + 1ull;
    memcpy(img, &n, 8);
    safetensors_file *f = NULL;
    celer_error err = {{0}};
    assert_int_equal(safetensors_parse(img, sizeof(img), &f, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "exceeds the 100000000-byte limit"));
    n = UINT64_MAX;
    memcpy(img, &n, 8);
    assert_int_equal(safetensors_parse(img, sizeof(img), &f, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "exceeds"));
}

static void test_bad_json(void **state) {
    (void)state;
    expect_error("{\"a\": {\"dtype\": \"F32\",", 0, "not valid JSON");
    expect_error("{\"a\": 1} trailing", 0, "not valid JSON");
    expect_error("[1, 2]", 0, "does not start with '{'");
    expect_error("{", 0, "cannot hold a JSON object");
    expect_error("{\"a\": \"\xc3\x28\"}", 0, "not valid UTF-8 (byte 0xc3 at offset 7)");
    expect_error("{\"\xed\xa0\x80\": 1}", 0, "not valid UTF-8"); /* an encoded surrogate */
    expect_error("{\"\xc0\xaf\": 1}", 0, "not valid UTF-8");     /* overlong '/' */
    size_t size = 0;
    uint8_t *img = raw_image("{\"a\":\"x\"}", 0, &size);
    img[8 + 6] = 0; /* a raw NUL inside the header */
    safetensors_file *f = NULL;
    celer_error err = {{0}};
    assert_int_equal(safetensors_parse(img, size, &f, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "NUL byte at offset 6"));
    free(img);
    expect_error("{\"a\": 1}", 0, "tensor 'a': entry is not an object");
    expect_error("{\"__metadata__\": {\"k\": 1}}", 0, "\"__metadata__\" value of 'k' is not a string");
    expect_error("{\"__metadata__\": []}", 0, "\"__metadata__\" is not an object");
}

static void test_unknown_dtype(void **state) {
    (void)state;
    expect_error("{\"w\":{\"dtype\":\"Q4_0\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "tensor 'w': unknown dtype 'Q4_0'");
    expect_error("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'f32'");
    expect_error("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is missing or not a string");
    expect_error("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is missing");
}

static void test_size_mismatch(void **state) {
    (void)state;
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12,
                 "tensor 'w': data_offsets [0, 12] hold 12 bytes but 4 elements of F32 need 16");
    expect_error("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "hold 8 bytes but 3 elements of BF16 need 6");
}

static void test_overlap(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 12, "tensors 'a' and 'b' overlap");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                 "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                 8, "overlap"); /* an empty tensor inside another one */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 8, "overlap"); /* two names for the same bytes */
}

static void test_gap(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                 20, "4 bytes of the data section at offset 8 belong to no tensor (gap before 'b')");
    expect_error("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "gap before 'b'");
}

static void test_trailing_bytes(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "4 trailing bytes after the last tensor");
    expect_error("{}", 3, "3 trailing bytes");
}

static void test_offsets_past_end(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                 "tensor 'a': data_offsets [0, 8] extend past the data section (4 bytes)");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before they begin");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "not an array of two offsets");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", 8, "not an array of two offsets");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "non-negative integers");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 8, "non-negative integers below 2^53");
}

static void test_duplicate_names(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                 8, "tensor name 'a' appears twice");
    expect_error("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice");
}

static void test_bad_shapes(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "shape[0] = -1 is not a non-negative integer");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 10, "shape[0] = 2.5 is not");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "shape[0] is not a number");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740994],\"data_offsets\":[0,8]}}", 8, "below 2^53");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1099511627776,1073741824],\"data_offsets\":[0,8]}}", 8,
                 "element count overflows 64 bits"); /* 2^40 * 2^30 */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,8]}}", 8,
                 "overflow 64 bits"); /* 2^62 elements of 4 bytes */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dimensions");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "\"shape\" is missing or not an array");
}

/* A long name with control characters is shown cut and cleaned, on one line. */
static void test_message_names(void **state) {
    (void)state;
    char json[512];
    snprintf(json, sizeof(json), "{\"%s\\n%s\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbb");
    expect_error(json, 0, "aaaaaaaa...");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_valid_variants),
        cmocka_unit_test(test_open_file),        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_header_too_big),   cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_unknown_dtype),    cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_overlap),          cmocka_unit_test(test_gap),
        cmocka_unit_test(test_trailing_bytes),   cmocka_unit_test(test_offsets_past_end),
        cmocka_unit_test(test_duplicate_names),  cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_message_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
