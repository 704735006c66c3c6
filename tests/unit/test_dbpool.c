/* server/dbpool: the pool never lends more connections than it has. */
#include <criterion/criterion.h>

#include "db/dbpool.h"
#include "pgtest.h"

static hl_pgtest_t db;

static void setup(void)
{
    hl_pgtest_create(&db);
}

static void teardown(void)
{
    hl_pgtest_drop(&db);
}

TestSuite(dbpool, .init = setup, .fini = teardown, .timeout = 30);

/* Found by tests/fuzz/fuzz_http.c: a handler that released the NULL of a failed acquire pushed
 * a slot the pool did not have; the idle stack then overflowed its array, and meanwhile the pool
 * lent one connection more than its size. */
Test(dbpool, release_of_null_is_a_no_op)
{
    hl_dbpool_t *pool = NULL, *down = NULL;
    PGconn *c1, *c2;

    cr_assert_eq(hl_dbpool_new("host=/nonexistent/helpline-test port=1 dbname=x", 1, &down), HL_OK);
    for (int i = 0; i < 4; i++) {
        cr_assert_null(hl_dbpool_acquire(down, 100));
        hl_dbpool_release(down, NULL); /* what the handler did */
    }
    hl_dbpool_free(down);

    cr_assert_eq(hl_dbpool_new(db.conninfo, 1, &pool), HL_OK);
    c1 = hl_dbpool_acquire(pool, 1000);
    cr_assert_not_null(c1);
    hl_dbpool_release(pool, NULL);
    c2 = hl_dbpool_acquire(pool, 100);
    cr_expect_null(c2, "a pool of one lent a second connection");
    hl_dbpool_release(pool, c2);
    hl_dbpool_release(pool, c1);
    c1 = hl_dbpool_acquire(pool, 1000);
    cr_expect_not_null(c1, "the one connection is back");
    hl_dbpool_release(pool, c1);
    hl_dbpool_free(pool);
}
