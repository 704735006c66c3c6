/* server/db/dbjobs: jobs run in the order they came, those queued behind a busy thread for the
 * same function go to it together, up to a batch; a full queue refuses at once; stop returns
 * once what was queued ran. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "db/dbjobs.h"

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;   /* the gate: a batch whose first job waits for it blocks until it opens */
    int started; /* batches taken by a thread */
    int order[32];
    int n;
    int batches[32]; /* the size of each batch run */
    int n_batches;
} log_t;

static log_t lg = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, {0}, 0, {0}, 0};

typedef struct {
    int id;
    bool gate;
} job_arg_t;

static void jobs(void **args, size_t n)
{
    job_arg_t *first = args[0];

    pthread_mutex_lock(&lg.lock);
    lg.started++;
    pthread_cond_broadcast(&lg.cond);
    while (first->gate && !lg.open)
        pthread_cond_wait(&lg.cond, &lg.lock);
    for (size_t i = 0; i < n; i++)
        lg.order[lg.n++] = ((job_arg_t *)args[i])->id;
    lg.batches[lg.n_batches++] = (int)n;
    pthread_cond_broadcast(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
}

/* The same, another function: never in a batch with the first. */
static void other_jobs(void **args, size_t n)
{
    jobs(args, n);
}

static void open_gate(void)
{
    pthread_mutex_lock(&lg.lock);
    lg.open = true;
    pthread_cond_broadcast(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
}

/* Waits until a thread took the first batch (and waits at the gate). */
static void wait_started(void)
{
    pthread_mutex_lock(&lg.lock);
    while (lg.started == 0)
        pthread_cond_wait(&lg.cond, &lg.lock);
    pthread_mutex_unlock(&lg.lock);
}

static void reset(void)
{
    lg.open = false;
    lg.started = lg.n = lg.n_batches = 0;
}

TestSuite(dbjobs, .init = reset, .timeout = 10);

Test(dbjobs, bad_arguments)
{
    hl_dbjobs_t *j = NULL;

    cr_expect_eq(hl_dbjobs_start(0, 4, 1, &j), HL_EINVAL);
    cr_expect_eq(hl_dbjobs_start(1, 0, 1, &j), HL_EINVAL);
    cr_expect_eq(hl_dbjobs_start(1, 4, 0, &j), HL_EINVAL);
    cr_expect_eq(hl_dbjobs_start(1, 4, 1, NULL), HL_EINVAL);
    hl_dbjobs_stop(NULL);
}

/* One thread held by a job at the gate: the queue of two takes two more and refuses the third;
 * with batches of one, the queued ones run one by one in order, and stop returns once they ran. */
Test(dbjobs, in_order_full_queue_refuses_stop_runs_the_queued)
{
    hl_dbjobs_t *j = NULL;
    job_arg_t a[4] = {{1, true}, {2, false}, {3, false}, {4, false}};

    cr_assert_eq(hl_dbjobs_start(1, 2, 1, &j), HL_OK);
    cr_assert(hl_dbjobs_submit(j, jobs, &a[0]));
    wait_started();
    cr_assert(hl_dbjobs_submit(j, jobs, &a[1]));
    cr_assert(hl_dbjobs_submit(j, jobs, &a[2]));
    cr_expect_not(hl_dbjobs_submit(j, jobs, &a[3]), "a full queue refuses");
    open_gate();
    hl_dbjobs_stop(j);
    cr_assert_eq(lg.n, 3);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(lg.order[i], i + 1);
    cr_expect_eq(lg.n_batches, 3);
}

/* Jobs queued behind a busy thread go to it together, in order, up to the batch (4), and never
 * with another function's. */
Test(dbjobs, queued_jobs_of_one_function_run_as_batches)
{
    hl_dbjobs_t *j = NULL;
    job_arg_t a[9];

    cr_assert_eq(hl_dbjobs_start(1, 16, 4, &j), HL_OK);
    a[0] = (job_arg_t){0, true};
    cr_assert(hl_dbjobs_submit(j, jobs, &a[0]));
    wait_started();
    for (int i = 1; i < 9; i++) {
        a[i] = (job_arg_t){i, false};
        cr_assert(hl_dbjobs_submit(j, i == 6 ? other_jobs : jobs, &a[i]));
    }
    open_gate();
    hl_dbjobs_stop(j);
    cr_assert_eq(lg.n, 9);
    for (int i = 0; i < 9; i++)
        cr_expect_eq(lg.order[i], i);
    /* 0 alone (taken first), 1-4 (the batch is full), 5, then 6 (another function), 7-8 */
    int want[] = {1, 4, 1, 1, 2};
    cr_assert_eq(lg.n_batches, 5);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(lg.batches[i], want[i], "batch %d", i);
}

Test(dbjobs, many_threads_run_every_job)
{
    hl_dbjobs_t *j = NULL;
    job_arg_t a[16];

    open_gate();
    cr_assert_eq(hl_dbjobs_start(4, 16, 8, &j), HL_OK);
    for (int i = 0; i < 16; i++) {
        a[i] = (job_arg_t){i, false};
        cr_assert(hl_dbjobs_submit(j, jobs, &a[i]));
    }
    hl_dbjobs_stop(j);
    cr_expect_eq(lg.n, 16);
}
