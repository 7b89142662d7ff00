/* threadpool.c: persistent workers that spin briefly on an atomic job counter, then
 * sleep on a condition variable; the caller spins for completion. A decode step issues
 * a few hundred jobs, so waking a worker must cost about a microsecond, not the tens a
 * condition-variable round trip takes. Tested in tests/test_threadpool.c. */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Waiting: SPIN_PAUSES busy pauses (a few microseconds, the usual gap between two ops
 * when every thread has its own core), then sched_yield in a loop, so a thread that
 * shares its core with others (more threads than cores, a loaded machine) hands it over
 * instead of burning its time slice. A worker idle for SPIN_BEFORE_SLEEP rounds (about
 * a millisecond or two: longer than the gap between two decode steps) sleeps on the
 * condition variable until the next job. */
#define SPIN_PAUSES 256
#define SPIN_BEFORE_SLEEP 4096

static inline void spin_wait(unsigned *spins) {
    if (++*spins < SPIN_PAUSES) cpu_relax();
    else sched_yield();
}

struct threadpool {
    int n_threads;
    pthread_t *threads; /* (n_threads - 1) */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    threadpool_fn fn;                 /* the current job, published by generation */
    void *ctx;
    _Atomic unsigned long generation; /* bumped once per job */
    _Atomic int n_pending;            /* workers still running the current job */
    _Atomic int n_sleeping;           /* workers waiting on wake */
    _Atomic int shutdown;
    _Atomic int barrier_count;        /* threads arrived at the current barrier */
    _Atomic unsigned barrier_phase;   /* bumped when all arrive */
};

typedef struct {
    threadpool *pool;
    int ith;
} worker_arg;

/* Waits until generation moves past seen (or shutdown); returns the new generation. */
static unsigned long wait_for_job(threadpool *pool, unsigned long seen) {
    for (unsigned spins = 0; spins < SPIN_BEFORE_SLEEP;) {
        unsigned long g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&pool->shutdown, memory_order_acquire)) return g;
        spin_wait(&spins);
    }
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add(&pool->n_sleeping, 1); /* seq_cst: pairs with the caller's load in run */
    unsigned long g;
    while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->shutdown)) pthread_cond_wait(&pool->wake, &pool->lock);
    atomic_fetch_sub(&pool->n_sleeping, 1);
    pthread_mutex_unlock(&pool->lock);
    return g;
}

static void *worker_main(void *arg_) {
    worker_arg *arg = arg_;
    threadpool *pool = arg->pool;
    int ith = arg->ith;
    free(arg);
    unsigned long seen = 0;
    for (;;) {
        seen = wait_for_job(pool, seen);
        if (atomic_load_explicit(&pool->shutdown, memory_order_acquire)) break;
        pool->fn(pool->ctx, ith, pool->n_threads);
        atomic_fetch_sub_explicit(&pool->n_pending, 1, memory_order_release);
    }
    return NULL;
}

celer_status threadpool_init(threadpool **out, int n_threads, celer_error *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "thread count %d out of range [1, 1024]", n_threads);
    threadpool *pool = calloc(1, sizeof(*pool));
    if (!pool) return celer_error_set(err, CELER_ERR_NOMEM, "thread pool: out of memory");
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!pool->threads) {
        pool->n_threads = 1;
        threadpool_free(pool);
        return celer_error_set(err, CELER_ERR_NOMEM, "thread pool: out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = malloc(sizeof(*arg));
        if (arg) *arg = (worker_arg){.pool = pool, .ith = i};
        if (!arg || pthread_create(&pool->threads[i - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            pool->n_threads = i; /* only these were started */
            threadpool_free(pool);
            return celer_error_set(err, CELER_ERR_NOMEM, "thread pool: cannot start thread %d", i);
        }
    }
    *out = pool;
    return CELER_OK;
}

void threadpool_free(threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->shutdown, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i - 1], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    free(pool->threads);
    free(pool);
}

int threadpool_size(const threadpool *pool) { return pool->n_threads; }

void threadpool_run(threadpool *pool, threadpool_fn fn, void *ctx) {
    if (pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->n_pending, pool->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->generation, 1); /* seq_cst: publishes fn, ctx, n_pending */
    if (atomic_load(&pool->n_sleeping) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    fn(ctx, 0, pool->n_threads);
    for (unsigned spins = 0; atomic_load_explicit(&pool->n_pending, memory_order_acquire) > 0;) spin_wait(&spins);
}

void threadpool_barrier(threadpool *pool) {
    if (pool->n_threads == 1) return;
    unsigned phase = atomic_load_explicit(&pool->barrier_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&pool->barrier_count, 1, memory_order_acq_rel) == pool->n_threads - 1) {
        atomic_store_explicit(&pool->barrier_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&pool->barrier_phase, 1, memory_order_release);
        return;
    }
    for (unsigned spins = 0; atomic_load_explicit(&pool->barrier_phase, memory_order_acquire) == phase;) spin_wait(&spins);
}
