/* safetensors.h: a validating reader of .safetensors files (Hugging Face weights).
 *
 * Layout: a little-endian u64 N, N bytes of UTF-8 JSON, then the data section. The JSON
 * is an object mapping each tensor name to {"dtype", "shape", "data_offsets": [begin,
 * end]} (offsets relative to the data section), plus an optional "__metadata__" object
 * of string values. The reader checks, before exposing anything: N <= 100 MB and
 * N <= file size - 8; the header is valid UTF-8 and one JSON object (trailing spaces
 * allowed); every dtype is known; shape entries are non-negative integers whose product
 * (and byte size) fits in 64 bits; end - begin == elements * dtype size exactly; offsets
 * lie inside the data section; sorted by offset the tensors are contiguous, do not
 * overlap and cover the whole data section (no gap, no trailing bytes); no name repeats.
 *
 * Dtypes: every dtype of the format with a whole number of bytes per element is known
 * and validated (BOOL, U8, I8, F8_E4M3, F8_E5M2, U16, I16, F16, BF16, U32, I32, F32, U64,
 * I64, F64); a name outside that list is an error naming the tensor and the dtype. Only
 * F32, F16 and BF16 are usable as weights: a file holding an I64 buffer still opens,
 * and the importer refuses such a tensor by name if a model needs it.
 * Numbers must be integral; beyond 2^53 (where JSON parsers lose precision) they are
 * refused, which no real offset or dimension reaches.
 * Files are mapped read-only; tensor data stays in the mapping.
 * Tests: tests/test_safetensors.c (round trips, one negative test per rule);
 * fuzz/fuzz_safetensors.c (libFuzzer, scripts/fuzz.sh). */
#ifndef CELER_FORMAT_SAFETENSORS_H
#define CELER_FORMAT_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u) /* bytes of JSON, as the format's reference reader */
#define SAFETENSORS_MAX_DIMS 8

typedef enum {
    SAFETENSORS_BOOL,
    SAFETENSORS_U8,
    SAFETENSORS_I8,
    SAFETENSORS_F8_E4M3,
    SAFETENSORS_F8_E5M2,
    SAFETENSORS_U16,
    SAFETENSORS_I16,
    SAFETENSORS_F16,
    SAFETENSORS_BF16,
    SAFETENSORS_U32,
    SAFETENSORS_I32,
    SAFETENSORS_F32,
    SAFETENSORS_U64,
    SAFETENSORS_I64,
    SAFETENSORS_F64,
    SAFETENSORS_DTYPE_COUNT
} safetensors_dtype;

typedef struct {
    char *name;              /* owned, NUL-terminated valid UTF-8 (may be empty) */
    safetensors_dtype dtype;
    uint32_t n_dims;         /* 0 for a scalar */
    int64_t shape[SAFETENSORS_MAX_DIMS]; /* outermost first, as in PyTorch: (shape[0], ..., shape[n_dims-1]) */
    uint64_t n_elements;
    uint64_t begin, end;     /* byte offsets in the data section */
    const void *data;        /* (end - begin bytes) inside the mapping */
} safetensors_tensor;

typedef struct {
    char *key, *value; /* owned */
} safetensors_meta;

typedef struct {
    size_t n_tensors;
    safetensors_tensor *tensors; /* (n_tensors) in header order */
    size_t n_meta;
    safetensors_meta *meta;      /* (n_meta) "__metadata__" entries */
    const uint8_t *base;         /* the whole file */
    size_t size;
    uint64_t data_offset;        /* 8 + N */
    void *mapping;               /* non-NULL when the reader owns an mmap of base */
    char *name;                  /* path or "<buffer>", for messages */
} safetensors_file;

/* Opens, maps read-only and validates path; err names the file and the problem. */
celer_status safetensors_open(const char *path, safetensors_file **out, celer_error *err);
/* Validates an in-memory image (borrowed: buf must outlive the result); messages start
 * with "<buffer>: ". */
celer_status safetensors_parse(const void *buf, size_t size, safetensors_file **out, celer_error *err);
void safetensors_close(safetensors_file *f);

/* The tensor called name, or NULL. Linear: callers with many lookups index the tensors. */
const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name);
/* The format's name ("BF16"), and bytes per element. */
const char *safetensors_dtype_name(safetensors_dtype dtype);
size_t safetensors_dtype_size(safetensors_dtype dtype);

#endif
