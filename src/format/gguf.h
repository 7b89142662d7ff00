/* gguf.h: GGUF v2/v3 reader and writer.
 *
 * The reader validates everything before exposing it: header, every key/value (all 13
 * value types, arrays, nested arrays rejected unless well-formed), tensor infos (type,
 * dims, 64-bit sizes), alignment, data offsets inside the file, no overlapping tensors,
 * no duplicate keys or tensor names. Metadata is copied into owned memory; tensor data
 * stays in the mapping (mmap for files, the caller's buffer for gguf_parse).
 * Tests: tests/test_gguf.c (round trip, one negative test per malformed class);
 * fuzz/fuzz_gguf.c (libFuzzer). */
#ifndef CELER_FORMAT_GGUF_H
#define CELER_FORMAT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

typedef struct {
    uint64_t len;
    char *data; /* owned, len bytes followed by a NUL (the string may itself hold NULs) */
} gguf_string;

typedef struct {
    gguf_type type; /* never GGUF_TYPE_ARRAY here */
    union {
        uint64_t u64; /* UINT8/16/32/64, BOOL (0 or 1) */
        int64_t i64;  /* INT8/16/32/64 */
        double f64;   /* FLOAT32, FLOAT64 */
    } num;
    gguf_string str; /* STRING */
    /* ARRAY: elem_type is the element type (nested arrays are rejected: no model uses
     * them); data holds n elements: packed little-endian numbers of the element size
     * for numeric types (1 byte per BOOL), or gguf_string[n] for STRING. Owned. */
    bool is_array;
    gguf_type elem_type;
    uint64_t n;
    void *data;
} gguf_value;

typedef struct {
    gguf_string key;
    gguf_value value;
} gguf_kv;

typedef struct {
    gguf_string name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) dimension; unused dims 1 */
    uint32_t type;             /* ggml type id, see quant/quant.h */
    uint64_t offset;           /* relative to the start of the data section */
    uint64_t size;             /* bytes, from type and shape */
    const void *data;          /* inside the mapping */
} gguf_tensor;

typedef struct gguf_file {
    uint32_t version;
    uint64_t alignment;
    uint64_t n_kv;
    gguf_kv *kv; /* (n_kv) */
    uint64_t n_tensors;
    gguf_tensor *tensors; /* (n_tensors) */
    uint64_t data_offset; /* file offset of the tensor data section */
    const uint8_t *base;  /* the whole file; NULL for a file built in memory (gguf_writer_finish) */
    size_t size;          /* bytes of base, or what a built file reports (its sources' bytes) */
    void *mapping; /* non-NULL when the reader owns an mmap of base */
} gguf_file;

/* Opens and validates path; maps it read-only. err names the file and the problem. */
celer_status gguf_open(const char *path, gguf_file **out, celer_error *err);

/* Validates an in-memory image (borrowed: buf must outlive the result). */
celer_status gguf_parse(const void *buf, size_t size, gguf_file **out, celer_error *err);

void gguf_close(gguf_file *f);

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);
const char *gguf_type_name(gguf_type type);
/* Bytes of one element of a numeric type (1 for BOOL); 0 for STRING, ARRAY and unknown. */
size_t gguf_type_size(gguf_type type);

/* Typed getters. Integers accept any integer type whose value fits; floats accept
 * FLOAT32/FLOAT64. Return CELER_ERR_FORMAT naming the key on a type mismatch or
 * out-of-range value, and CELER_ERR_RANGE (with no message set) when the key is
 * absent, so callers can fall back to a default. */
celer_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, celer_error *err);
celer_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, celer_error *err);
celer_status gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, celer_error *err);
celer_status gguf_get_f32(const gguf_file *f, const char *key, float *out, celer_error *err);
celer_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, celer_error *err);
/* Returns the owned string (NUL-terminated) inside f. */
celer_status gguf_get_str(const gguf_file *f, const char *key, const gguf_string **out,
                          celer_error *err);
/* Array of the given element type (pass GGUF_TYPE_COUNT to accept any). */
celer_status gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type,
                          const gguf_value **out, celer_error *err);

/* ---- writer ----
 * Builds a GGUF v3 file: metadata in insertion order, tensors in insertion order, each
 * aligned to general.alignment (default 32). Tensor data is borrowed until write. */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
/* Each setter copies its arguments; setting an existing key replaces its value. */
celer_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, celer_error *err);
celer_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, celer_error *err);
celer_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, celer_error *err);
celer_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v, celer_error *err);
celer_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v, celer_error *err);
celer_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v, celer_error *err);
/* Numeric array: n elements of elem_type, packed little-endian. */
celer_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
                                 const void *data, uint64_t n, celer_error *err);
celer_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t n, celer_error *err);
/* Copies one key/value from a file read by gguf_open/gguf_parse. */
celer_status gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv, celer_error *err);
/* data must hold exactly the bytes implied by type and ne; it is borrowed. */
celer_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const int64_t *ne, const void *data,
                                    celer_error *err);
/* A tensor whose bytes the caller writes itself, after the header (for files too big to
 * hold: celer synth). size (may be NULL) gets its bytes. gguf_writer_write and
 * gguf_writer_to_buffer refuse a writer that holds one. */
celer_status gguf_writer_add_tensor_info(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                         const int64_t *ne, uint64_t *size, celer_error *err);
/* Everything before the data section, padded to the alignment, into a malloc'd buffer;
 * tensor offsets assigned. The file is this header, then each tensor's bytes in insertion
 * order, each padded with zeros to *alignment; *data_size is the padded total. */
celer_status gguf_writer_header(gguf_writer *w, void **out, size_t *out_size, uint64_t *alignment, uint64_t *data_size,
                                celer_error *err);
/* Writes the whole file (to path.tmp, then renames: nothing half-written is left). */
celer_status gguf_writer_write(gguf_writer *w, const char *path, celer_error *err);
/* Serialises into a malloc'd buffer (for tests and fuzz seeds). */
celer_status gguf_writer_to_buffer(gguf_writer *w, void **out, size_t *out_size, celer_error *err);
/* A file in memory, for importers of other formats (format/hf_import.c): the writer's
 * key/values and tensor infos move into *out (w is left empty and still needs
 * gguf_writer_free); tensor data stays where it is, owned by owner, which gguf_close
 * hands to release last (release may be NULL). On failure release(owner) is called too.
 * The result has base NULL, tensor offsets 0, and size as given. */
celer_status gguf_writer_finish(gguf_writer *w, const char *name, uint64_t size, void (*release)(void *owner), void *owner,
                                gguf_file **out, celer_error *err);

#endif
