/* timer.h: monotonic wall-clock time in seconds, for speed reports. */
#ifndef CELER_CORE_TIMER_H
#define CELER_CORE_TIMER_H

#include <time.h>

static inline double celer_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
