/* status.c: error formatting. Tested through every module's negative tests. */
#include "core/status.h"

#include <stdarg.h>

celer_status celer_error_set(celer_error *err, celer_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *celer_status_name(celer_status status) {
    switch (status) {
    case CELER_OK: return "ok";
    case CELER_ERR_IO: return "io error";
    case CELER_ERR_FORMAT: return "format error";
    case CELER_ERR_UNSUPPORTED: return "unsupported";
    case CELER_ERR_INVALID_ARG: return "invalid argument";
    case CELER_ERR_NOMEM: return "out of memory";
    case CELER_ERR_RANGE: return "out of range";
    case CELER_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
