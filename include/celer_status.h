/* celer_status.h: the status values and error line every celer function reports with.
 * Part of the public API (include/celer.h includes it). */
#ifndef CELER_STATUS_H
#define CELER_STATUS_H

typedef enum {
    CELER_OK = 0,
    CELER_ERR_IO,          /* file missing, unreadable, mmap failed */
    CELER_ERR_FORMAT,      /* malformed file or data */
    CELER_ERR_UNSUPPORTED, /* valid but not supported (architecture, tensor type) */
    CELER_ERR_INVALID_ARG, /* bad argument from the caller */
    CELER_ERR_NOMEM,       /* allocation failed or a size overflowed */
    CELER_ERR_RANGE,       /* out of range: context full, token id, ... */
    CELER_ERR_CANCELLED,   /* the caller asked to stop */
} celer_status;

typedef struct {
    char msg[512]; /* one line, no trailing newline */
} celer_error;

#endif
