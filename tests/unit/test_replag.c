/* server/db/replag.c: a read replica's replay lag from the primary's WAL positions and the standby's
 * replayed one (docs/scale-out.md, "Read replica"). Times in microseconds, made up. */
#include <criterion/criterion.h>

#include "db/replag.h"

#define S 1000000 /* one second */

static hl_replag_t t;

static void init(void)
{
    hl_replag_init(&t);
}

TestSuite(replag, .init = init);

static void expect_lag(int64_t now, uint64_t replay, double seconds, uint64_t bytes)
{
    double s = -1;
    uint64_t b = UINT64_MAX;

    cr_assert(hl_replag_standby(&t, now, replay, &s, &b), "no lag at %lld", (long long)now);
    cr_expect_float_eq(s, seconds, 1e-9, "at %lld us: %.6f s, expected %.6f", (long long)now, s, seconds);
    cr_expect_eq(b, bytes, "at %lld us: %llu bytes, expected %llu", (long long)now, (unsigned long long)b,
                 (unsigned long long)bytes);
}

/* An idle primary writes no WAL: its standby has replayed everything, however long ago the last
 * transaction was (now() - pg_last_xact_replay_timestamp() would grow by a second a second). */
Test(replag, idle_primary_reads_zero)
{
    for (int64_t now = 0; now < 3600 * (int64_t)S; now += S / 2) {
        hl_replag_primary(&t, now, 0x3000148);
        expect_lag(now + 1000, 0x3000148, 0, 0);
    }
}

/* Replay paused while the primary writes: the seconds count from the first probe that saw WAL the
 * standby lacks, the bytes from the primary's last position. Resumed: 0 again. */
Test(replag, paused_replay_grows_then_clears)
{
    hl_replag_primary(&t, 0, 1000);
    expect_lag(1000, 1000, 0, 0);
    for (int i = 1; i <= 20; i++) {
        hl_replag_primary(&t, (int64_t)i * S / 2, 1000 + (uint64_t)i * 500);
        expect_lag((int64_t)i * S / 2 + 1000, 1000, (i * 0.5 - 0.5) + 0.001, (uint64_t)i * 500);
    }
    /* Half replayed: the oldest position it lacks was first seen at probe 11 (5.5 s). */
    hl_replag_primary(&t, 21 * S / 2, 11500);
    expect_lag(21 * S / 2 + 1000, 6000, 10.5 - 5.5 + 0.001, 5500);
    hl_replag_primary(&t, 11 * S, 11500);
    expect_lag(11 * S + 1000, 11500, 0, 0);
}

/* A standby ahead of the primary's last seen position (it was asked later) reads 0, not a
 * wrapped-around byte count. */
Test(replag, standby_ahead_reads_zero)
{
    hl_replag_primary(&t, 0, 5000);
    expect_lag(1000, 7000, 0, 0);
}

/* Behind by more probes than it keeps: the oldest position stays, so the seconds stay right. */
Test(replag, long_lag_keeps_the_oldest)
{
    int64_t now = 0;

    for (int i = 0; i < 10 * HL_REPLAG_SAMPLES; i++, now += S / 2)
        hl_replag_primary(&t, now, 100 + (uint64_t)i);
    cr_expect_leq(t.n, (size_t)HL_REPLAG_SAMPLES);
    expect_lag(now, 99, (double)now / S, 100 + 10 * HL_REPLAG_SAMPLES - 1 - 99);
    /* Half replayed: the next position kept was first seen no earlier than the WAL the standby
     * now lacks was written (at most the true lag), and the bytes stay exact. */
    double s;
    uint64_t b;
    uint64_t replay = 100 + 5 * HL_REPLAG_SAMPLES;
    double true_lag = (double)now / S - (double)(replay + 1 - 100) / 2;
    cr_assert(hl_replag_standby(&t, now, replay, &s, &b));
    cr_expect_eq(b, 100 + 10 * HL_REPLAG_SAMPLES - 1 - replay);
    cr_expect_gt(s, 0);
    cr_expect_leq(s, true_lag, "%.3f s, at most %.3f", s, true_lag);
}

/* Another primary after a failover starts lower: what the old one wrote does not count. */
Test(replag, primary_going_back_starts_over)
{
    hl_replag_primary(&t, 0, 90000);
    hl_replag_primary(&t, S, 100000);
    hl_replag_primary(&t, 2 * S, 50000);
    expect_lag(2 * S + 1000, 50000, 0, 0);
}

/* Before the primary has answered once, no lag is known. */
Test(replag, no_primary_position_no_lag)
{
    double s = 7;
    uint64_t b = 7;

    cr_expect_not(hl_replag_standby(&t, S, 12345, &s, &b));
    cr_expect_float_eq(s, 7, 0);
    cr_expect_eq(b, 7);
}

Test(replag, parses_pg_lsn)
{
    static const struct {
        const char *text;
        bool ok;
        uint64_t lsn;
    } cases[] = {
        {"0/0", true, 0},
        {"0/3000148", true, 0x3000148},
        {"16/B374D848", true, 0x16B374D848},
        {"16/b374d848", true, 0x16B374D848},
        {"FFFFFFFF/FFFFFFFF", true, UINT64_MAX},
        {"", false, 0},
        {"/", false, 0},
        {"1/", false, 0},
        {"/1", false, 0},
        {"123456789/0", false, 0},
        {"0/123456789", false, 0},
        {"g/0", false, 0},
        {"0/0x", false, 0},
        {"0/1/2", false, 0},
        {" 0/1", false, 0},
        {"-1/0", false, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 42;
        bool ok = hl_replag_parse_lsn(cases[i].text, &v);
        cr_expect_eq(ok, cases[i].ok, "\"%s\"", cases[i].text);
        cr_expect_eq(v, cases[i].ok ? cases[i].lsn : 42, "\"%s\"", cases[i].text);
    }
    cr_expect_not(hl_replag_parse_lsn(NULL, &(uint64_t){0}));
}
