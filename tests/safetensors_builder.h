/* safetensors_builder.h: writes .safetensors images for the tests (test_safetensors.c,
 * test_hf_import.c): tensors in insertion order, contiguous, the header padded with
 * spaces to a multiple of 8 as Hugging Face's writer does. Tensor bytes are borrowed until
 * the image or file is written. Test code only: allocation failures abort. */
#ifndef CELER_TESTS_SAFETENSORS_BUILDER_H
#define CELER_TESTS_SAFETENSORS_BUILDER_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const void *bytes;
    size_t n;
} st_segment;

typedef struct {
    char *json; /* the header being built, without the closing brace */
    size_t json_len, json_cap;
    st_segment *segments; /* (n_entries) borrowed tensor bytes */
    size_t segments_cap;
    size_t data_len;
    int n_entries, n_segments;
} st_builder;

static void st_reserve(void **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t cap2 = *cap ? *cap : 256;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2);
    if (!q) abort();
    *p = q;
    *cap = cap2;
}

__attribute__((format(printf, 2, 3))) static void st_printf(st_builder *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    st_reserve((void **)&b->json, &b->json_cap, b->json_len + (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->json + b->json_len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->json_len += (size_t)n;
}

static void st_init(st_builder *b) {
    memset(b, 0, sizeof(*b));
    st_printf(b, "{");
}

static void st_free(st_builder *b) {
    free(b->json);
    free(b->segments);
    memset(b, 0, sizeof(*b));
}

/* Adds "__metadata__": {"format": "pt"} (what PyTorch's writer puts there). */
__attribute__((unused)) static void st_add_metadata(st_builder *b) {
    st_printf(b, "%s\"__metadata__\":{\"format\":\"pt\"}", b->n_entries++ ? "," : "");
}

/* Adds a tensor: dtype as the format names it, shape outermost first, bytes borrowed. The
 * name is written as it is (no escaping): test names are plain. */
static void st_add(st_builder *b, const char *name, const char *dtype, int n_dims, const int64_t *shape, const void *bytes,
                   size_t n_bytes) {
    st_printf(b, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", b->n_entries++ ? "," : "", name, dtype);
    for (int d = 0; d < n_dims; d++) st_printf(b, "%s%lld", d ? "," : "", (long long)shape[d]);
    st_printf(b, "],\"data_offsets\":[%zu,%zu]}", b->data_len, b->data_len + n_bytes);
    st_reserve((void **)&b->segments, &b->segments_cap, (size_t)(b->n_segments + 1) * sizeof(st_segment));
    b->segments[b->n_segments++] = (st_segment){bytes, n_bytes};
    b->data_len += n_bytes;
}

/* The header: the length field and the padded JSON, malloc'd, *size bytes. */
static uint8_t *st_header(const st_builder *b, size_t *size) {
    size_t n = b->json_len + 1;
    size_t padded = (n + 7) / 8 * 8;
    uint8_t *out = malloc(8 + padded);
    if (!out) abort();
    uint64_t len = padded;
    memcpy(out, &len, 8);
    memcpy(out + 8, b->json, b->json_len);
    out[8 + b->json_len] = '}';
    memset(out + 8 + n, ' ', padded - n);
    *size = 8 + padded;
    return out;
}

/* The file image: malloc'd, *size bytes. */
__attribute__((unused)) static uint8_t *st_image(const st_builder *b, size_t *size) {
    size_t header = 0;
    uint8_t *h = st_header(b, &header);
    uint8_t *out = realloc(h, header + b->data_len + 1);
    if (!out) abort();
    size_t at = header;
    for (int i = 0; i < b->n_segments; i++) {
        if (b->segments[i].n) memcpy(out + at, b->segments[i].bytes, b->segments[i].n);
        at += b->segments[i].n;
    }
    *size = at;
    return out;
}

/* Writes the file; returns 0 on success. */
__attribute__((unused)) static int st_write(const st_builder *b, const char *path) {
    size_t size = 0;
    uint8_t *h = st_header(b, &size);
    FILE *f = fopen(path, "wb");
    int rc = !f || fwrite(h, 1, size, f) != size;
    for (int i = 0; i < b->n_segments && !rc; i++)
        rc = b->segments[i].n && fwrite(b->segments[i].bytes, 1, b->segments[i].n, f) != b->segments[i].n;
    if (f && fclose(f) != 0) rc = 1;
    free(h);
    return rc;
}

#endif
