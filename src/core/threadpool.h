/* threadpool.h: a persistent pool of worker threads for data-parallel ops.
 *
 * threadpool_run(pool, fn, ctx) calls fn(ctx, ith, nth) once on each of nth threads (the
 * caller is thread 0) and returns when all are done. Workers are created once in
 * threadpool_init, spin briefly between jobs and then sleep; nothing is created per
 * token.
 * Tests: tests/test_threadpool.c. */
#ifndef CELER_CORE_THREADPOOL_H
#define CELER_CORE_THREADPOOL_H

#include "core/status.h"

typedef void (*threadpool_fn)(void *ctx, int ith, int nth);

typedef struct threadpool threadpool;

/* n_threads >= 1 (1 means: run everything on the caller). */
celer_status threadpool_init(threadpool **out, int n_threads, celer_error *err);
void threadpool_free(threadpool *pool);
int threadpool_size(const threadpool *pool);
void threadpool_run(threadpool *pool, threadpool_fn fn, void *ctx);

/* Inside a job: waits until all nth threads of the pool have reached it (every thread
 * of the job must call it the same number of times). */
void threadpool_barrier(threadpool *pool);

/* Splits [0, n) into nth nearly equal parts; part ith is [*begin, *end). */
static inline void threadpool_split(long long n, int ith, int nth, long long *begin, long long *end) {
    long long per = n / nth, rem = n % nth;
    *begin = ith * per + (ith < rem ? ith : rem);
    *end = *begin + per + (ith < rem ? 1 : 0);
}

#endif
