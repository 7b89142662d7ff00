/* threadpool.c: persistent workers woken per job by a generation counter. Tested in
 * tests/test_threadpool.c. */
#include "core/threadpool.h"

#include <pthread.h>
#include <stdlib.h>

struct threadpool {
    int n_threads;
    pthread_t *threads; /* (n_threads - 1) */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a new job or shutdown */
    pthread_cond_t done; /* the last worker finished */
    threadpool_fn fn;
    void *ctx;
    unsigned long generation; /* bumped once per job */
    int n_pending;            /* workers still running the current job */
    int shutdown;
};

typedef struct {
    threadpool *pool;
    int ith;
} worker_arg;

static void *worker_main(void *arg_) {
    worker_arg *arg = arg_;
    threadpool *pool = arg->pool;
    int ith = arg->ith;
    free(arg);
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->shutdown && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->shutdown) break;
        seen = pool->generation;
        threadpool_fn fn = pool->fn;
        void *ctx = pool->ctx;
        pthread_mutex_unlock(&pool->lock);
        fn(ctx, ith, pool->n_threads);
        pthread_mutex_lock(&pool->lock);
        if (--pool->n_pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
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
    pthread_cond_init(&pool->done, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!pool->threads) {
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
    pool->shutdown = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i - 1], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int threadpool_size(const threadpool *pool) { return pool->n_threads; }

void threadpool_run(threadpool *pool, threadpool_fn fn, void *ctx) {
    if (pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_pending = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    fn(ctx, 0, pool->n_threads);
    pthread_mutex_lock(&pool->lock);
    while (pool->n_pending > 0) pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
