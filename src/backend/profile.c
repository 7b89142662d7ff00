/* profile.c: the per-stage profile a backend keeps (backend.h), as celer_profile_get
 * reports it. Tests: tests/test_engine.c (profile of a CPU forward). */
#include "backend/backend.h"

int32_t backend_profile_report(const char *const *names, const uint64_t *calls, const double *seconds, int32_t n_ops,
                               celer_op_stat *out, int32_t max) {
    celer_op_stat all[BACKEND_MAX_OPS];
    int32_t n = 0;
    for (int32_t op = 0; op < n_ops && op < BACKEND_MAX_OPS; op++)
        if (calls[op]) all[n++] = (celer_op_stat){.name = names[op], .calls = calls[op], .seconds = seconds[op]};
    for (int32_t i = 1; i < n; i++) /* most time first */
        for (int32_t j = i; j > 0 && all[j].seconds > all[j - 1].seconds; j--) {
            const celer_op_stat tmp = all[j];
            all[j] = all[j - 1];
            all[j - 1] = tmp;
        }
    for (int32_t i = 0; i < n && i < max; i++) out[i] = all[i];
    return n;
}
