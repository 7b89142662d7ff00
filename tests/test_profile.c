/* test_profile.c: backend_profile_report (src/backend/profile.c), the per-stage profile
 * both backends report through celer_profile_get: stages without calls left out, most
 * time first, at most max written, the count of stages with calls returned. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "backend/backend.h"

static void test_order_and_limits(void **state) {
    (void)state;
    const char *const names[5] = {"a", "b", "c", "d", "e"};
    const uint64_t calls[5] = {3, 0, 1, 7, 2};
    const double seconds[5] = {0.5, 9.0, 2.0, 0.25, 1.0};
    celer_op_stat out[5];
    memset(out, 0, sizeof(out));
    assert_int_equal(backend_profile_report(names, calls, seconds, 5, out, 5), 4); /* "b" has no calls */
    const char *const want[4] = {"c", "e", "a", "d"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(out[i].name, want[i]);
        if (i) assert_true(out[i - 1].seconds >= out[i].seconds);
    }
    assert_int_equal(out[3].calls, 7);
    assert_null(out[4].name); /* untouched */

    celer_op_stat two[3];
    memset(two, 0, sizeof(two));
    assert_int_equal(backend_profile_report(names, calls, seconds, 5, two, 2), 4); /* count, not what fit */
    assert_string_equal(two[0].name, "c");
    assert_string_equal(two[1].name, "e");
    assert_null(two[2].name);

    const uint64_t none[5] = {0};
    assert_int_equal(backend_profile_report(names, none, seconds, 5, out, 5), 0);
    assert_int_equal(backend_profile_report(names, calls, seconds, 5, NULL, 0), 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_order_and_limits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
