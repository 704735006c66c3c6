/* Shared helpers: error names and the monotonic clock. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

Test(util, every_error_has_a_name)
{
    static const int errs[] = {HL_OK,     HL_EINVAL,  HL_ENOMEM, HL_EIO,   HL_ENOTFOUND,
                               HL_EEXIST, HL_ECRYPTO, HL_EDB,    HL_EPERM, HL_ECONFLICT};

    for (size_t i = 0; i < HL_ARRAY_LEN(errs); i++) {
        cr_assert_not_null(hl_strerror(errs[i]));
        cr_assert_gt(strlen(hl_strerror(errs[i])), 0, "error %d", errs[i]);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(hl_strerror(errs[i]), hl_strerror(errs[j]), "errors %d and %d", errs[i],
                              errs[j]);
    }
}

Test(util, monotonic_clock_counts_microseconds)
{
    int64_t t0 = hl_monotonic_us(), t1;

    usleep(20000);
    t1 = hl_monotonic_us();
    cr_assert_geq(t1 - t0, 20000, "a 20 ms sleep took %lld us", (long long)(t1 - t0));
    cr_assert_lt(t1 - t0, 5000000, "a 20 ms sleep took %lld us", (long long)(t1 - t0));
}
