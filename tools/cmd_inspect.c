/* cmd_inspect.c: `celer inspect FILE|DIR`: metadata and tensor table of a GGUF file, or of
 * the GGUF form of a Hugging Face directory (format/hf_import.h). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "format/gguf.h"
#include "format/hf_import.h"
#include "quant/quant.h"

static void print_string(const gguf_string *s, size_t max) {
    putchar('"');
    for (uint64_t i = 0; i < s->len && i < max; i++) {
        unsigned char c = (unsigned char)s->data[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('"');
    if (s->len > max) printf("... (%" PRIu64 " bytes)", s->len);
}

static void print_scalar(gguf_type type, const void *p) {
    uint64_t u = 0;
    int64_t i = 0;
    switch (type) {
    case GGUF_TYPE_UINT8: printf("%u", *(const uint8_t *)p); break;
    case GGUF_TYPE_INT8: printf("%d", *(const int8_t *)p); break;
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); printf("%u", v); } break;
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); printf("%d", v); } break;
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); printf("%" PRIu32, v); } break;
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); printf("%" PRId32, v); } break;
    case GGUF_TYPE_FLOAT32: { float v; memcpy(&v, p, 4); printf("%g", (double)v); } break;
    case GGUF_TYPE_BOOL: printf("%s", *(const uint8_t *)p ? "true" : "false"); break;
    case GGUF_TYPE_UINT64: memcpy(&u, p, 8); printf("%" PRIu64, u); break;
    case GGUF_TYPE_INT64: memcpy(&i, p, 8); printf("%" PRId64, i); break;
    case GGUF_TYPE_FLOAT64: { double v; memcpy(&v, p, 8); printf("%g", v); } break;
    default: printf("?"); break;
    }
}

static size_t scalar_size(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    default: return 8;
    }
}

static void print_value(const gguf_value *v) {
    if (v->is_array) {
        printf("[%s x %" PRIu64 "] ", gguf_type_name(v->elem_type), v->n);
        for (uint64_t i = 0; i < v->n && i < 8; i++) {
            if (i) fputs(", ", stdout);
            if (v->elem_type == GGUF_TYPE_STRING) print_string(&((const gguf_string *)v->data)[i], 40);
            else print_scalar(v->elem_type, (const char *)v->data + i * scalar_size(v->elem_type));
        }
        if (v->n > 8) fputs(", ...", stdout);
        return;
    }
    switch (v->type) {
    case GGUF_TYPE_STRING: print_string(&v->str, 200); break;
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64: printf("%g", v->num.f64); break;
    case GGUF_TYPE_BOOL: printf("%s", v->num.u64 ? "true" : "false"); break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64: printf("%" PRId64, v->num.i64); break;
    default: printf("%" PRIu64, v->num.u64); break;
    }
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: celer inspect FILE|DIR\n\nPrints a GGUF file's version, metadata (arrays abbreviated) and tensor table\n"
                   "(name, type, shape, bytes, offset), then totals. DIR: a Hugging Face model directory\n"
                   "(config.json, tokenizer.json, *.safetensors), shown as the GGUF file celer imports it as.\n\n"
                   "  -h, --help   this help\n");
            return 0;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "celer inspect: unknown option '%s' (try `celer inspect --help`)\n", argv[i]);
            return 2;
        }
        if (path) {
            fprintf(stderr, "celer inspect: one file at a time ('%s' and '%s' given)\n", path, argv[i]);
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "celer inspect: no file given (usage: celer inspect FILE|DIR)\n");
        return 2;
    }
    gguf_file *f = NULL;
    celer_error err = {0};
    if (model_file_open(path, &f, &err) != CELER_OK) {
        fprintf(stderr, "celer inspect: %s\n", err.msg);
        return 1;
    }
    bool imported = f->base == NULL; /* built in memory from a directory: no offsets */
    if (imported)
        printf("directory: %s\nHugging Face model imported as GGUF: %" PRIu64 " metadata keys, %" PRIu64 " tensors, %zu bytes of safetensors\n\n",
               path, f->n_kv, f->n_tensors, f->size);
    else
        printf("file: %s\nGGUF version %u, alignment %" PRIu64 ", %" PRIu64 " metadata keys, %" PRIu64 " tensors, %zu bytes\n\n",
               path, f->version, f->alignment, f->n_kv, f->n_tensors, f->size);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        printf("%-45s ", f->kv[i].key.data);
        print_value(&f->kv[i].value);
        putchar('\n');
    }
    printf("\n%-5s %-40s %-6s %-26s %12s %12s\n", "#", "tensor", "type", "shape", "bytes", "offset");
    uint64_t total = 0, n_elements = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        char shape[64] = "";
        size_t used = 0;
        for (uint32_t d = 0; d < t->n_dims && used < sizeof(shape); d++)
            used += (size_t)snprintf(shape + used, sizeof(shape) - used, d ? " x %" PRId64 : "%" PRId64, t->ne[d]);
        char offset[24] = "-";
        if (!imported) snprintf(offset, sizeof(offset), "%" PRIu64, f->data_offset + t->offset);
        printf("%-5" PRIu64 " %-40s %-6s %-26s %12" PRIu64 " %12s\n", i, t->name.data, quant_type_name(t->type), shape, t->size, offset);
        total += t->size;
        n_elements += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    printf("\n%" PRIu64 " tensors, %" PRIu64 " elements, %.2f MiB, %.3f bits per element\n", f->n_tensors, n_elements,
           (double)total / (1024.0 * 1024.0), n_elements ? 8.0 * (double)total / (double)n_elements : 0.0);
    gguf_close(f);
    return 0;
}
