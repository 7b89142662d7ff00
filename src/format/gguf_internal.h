/* gguf_internal.h: what gguf.c (the reader) and gguf_write.c (the writer) share and no
 * one else sees: the file struct as allocated, with its name for messages and, for files
 * built in memory (gguf_writer_finish), the owner of the tensor data. */
#ifndef CELER_FORMAT_GGUF_INTERNAL_H
#define CELER_FORMAT_GGUF_INTERNAL_H

#include "format/gguf.h"

typedef struct {
    gguf_file pub;
    char *name;                  /* "<buffer>", the path, or the importer's name */
    void (*release)(void *owner); /* called last by gguf_close when not NULL */
    void *owner;
} gguf_file_owned;

#endif
