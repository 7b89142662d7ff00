/* test_threadpool.c: every thread runs each job exactly once, jobs see the caller's
 * writes, barriers order phases, sleeping workers wake, splits cover ranges exactly, bad
 * sizes are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "core/threadpool.h"

typedef struct {
    int counts[8];
    long long covered[1000];
    int round;
    int seen_round[8];
} job_state;

static void job(void *ctx, int ith, int nth) {
    job_state *s = ctx;
    s->counts[ith]++;
    s->seen_round[ith] = s->round;
    long long b, e;
    threadpool_split(1000, ith, nth, &b, &e);
    for (long long i = b; i < e; i++) s->covered[i]++;
}

static void test_runs_each_thread_once(void **state) {
    (void)state;
    for (int n = 1; n <= 4; n++) {
        threadpool *pool = NULL;
        assert_int_equal(threadpool_init(&pool, n, NULL), CELER_OK);
        assert_int_equal(threadpool_size(pool), n);
        job_state s;
        memset(&s, 0, sizeof(s));
        for (int r = 1; r <= 200; r++) {
            s.round = r;
            threadpool_run(pool, job, &s);
            for (int i = 0; i < n; i++) assert_int_equal(s.seen_round[i], r);
        }
        for (int i = 0; i < n; i++) assert_int_equal(s.counts[i], 200);
        for (int i = 0; i < 1000; i++) assert_int_equal(s.covered[i], 200);
        threadpool_free(pool);
    }
}

typedef struct {
    int slots[8];
    int errors;
    int round;
} barrier_state;

/* Phase 1 writes this thread's slot, phase 2 reads every slot: the barrier must make
 * all writes visible, round after round. */
static void barrier_job(void *ctx, int ith, int nth) {
    barrier_state *s = ctx;
    threadpool *pool = *(threadpool **)(s + 1);
    for (int phase = 0; phase < 3; phase++) {
        s->slots[ith] = s->round * 10 + phase;
        threadpool_barrier(pool);
        for (int i = 0; i < nth; i++)
            if (s->slots[i] != s->round * 10 + phase) __atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
        threadpool_barrier(pool);
    }
}

static void test_barrier(void **state) {
    (void)state;
    for (int n = 1; n <= 4; n++) {
        struct {
            barrier_state s;
            threadpool *pool;
        } b;
        memset(&b, 0, sizeof(b));
        assert_int_equal(threadpool_init(&b.pool, n, NULL), CELER_OK);
        for (int r = 1; r <= 500; r++) {
            b.s.round = r;
            threadpool_run(b.pool, barrier_job, &b.s);
        }
        assert_int_equal(b.s.errors, 0);
        threadpool_free(b.pool);
    }
}

/* Jobs spaced further apart than the spin: the workers sleep and must still wake. */
static void test_wakes_after_sleep(void **state) {
    (void)state;
    threadpool *pool = NULL;
    assert_int_equal(threadpool_init(&pool, 3, NULL), CELER_OK);
    job_state s;
    memset(&s, 0, sizeof(s));
    for (int r = 1; r <= 5; r++) {
        struct timespec ts = {0, 30 * 1000 * 1000};
        nanosleep(&ts, NULL);
        s.round = r;
        threadpool_run(pool, job, &s);
        for (int i = 0; i < 3; i++) assert_int_equal(s.seen_round[i], r);
    }
    threadpool_free(pool);
}

static void test_split_exact(void **state) {
    (void)state;
    for (long long n = 0; n < 50; n++)
        for (int nth = 1; nth < 9; nth++) {
            long long next = 0;
            for (int i = 0; i < nth; i++) {
                long long b, e;
                threadpool_split(n, i, nth, &b, &e);
                assert_int_equal(b, next);
                assert_true(e - b <= n / nth + 1);
                next = e;
            }
            assert_int_equal(next, n);
        }
}

static void test_bad_sizes(void **state) {
    (void)state;
    threadpool *pool = NULL;
    celer_error err = {0};
    assert_int_equal(threadpool_init(&pool, 0, &err), CELER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "thread count 0"));
    assert_null(pool);
    assert_int_equal(threadpool_init(&pool, 5000, &err), CELER_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_each_thread_once),
        cmocka_unit_test(test_split_exact),
        cmocka_unit_test(test_barrier),
        cmocka_unit_test(test_wakes_after_sleep),
        cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
