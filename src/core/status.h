/* status.h: error values for library code.
 *
 * Library functions return a celer_status and, on failure, write one clear line into a
 * caller-owned celer_error (what failed, which file or tensor, expected versus found).
 * Only main() exits. CHECK() is an always-on invariant check (never compiled out). */
#ifndef CELER_CORE_STATUS_H
#define CELER_CORE_STATUS_H

#include <stdio.h>
#include <stdlib.h>

#include "celer_status.h"

/* Formats the message into err (if not NULL) and returns status, so callers can write
 * `return celer_error_set(err, CELER_ERR_FORMAT, "%s: ...", path);`. */
celer_status celer_error_set(celer_error *err, celer_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *celer_status_name(celer_status status);

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "celer: internal check failed at %s:%d: %s\n", __FILE__,       \
                    __LINE__, #cond);                                                      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#endif
