/* Shared helpers: error names, the monotonic clock, little-endian integers. */
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

/* The on-disk byte order, whatever the machine's. */
Test(util, little_endian_round_trip)
{
    uint8_t b[8];
    static const uint8_t want[8] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};

    hl_le64_put(b, UINT64_C(0x0102030405060708));
    cr_assert_eq(memcmp(b, want, 8), 0);
    cr_assert_eq(hl_le64_get(b), UINT64_C(0x0102030405060708));
    cr_assert_eq(hl_le32_get(b), UINT32_C(0x05060708));
    hl_le32_put(b, UINT32_MAX);
    cr_assert_eq(hl_le32_get(b), UINT32_MAX);
    cr_assert_eq(hl_le64_get(b), UINT64_C(0x01020304ffffffff));
}
