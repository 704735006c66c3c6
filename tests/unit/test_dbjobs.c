/* server/db/dbjobs: jobs run in the order they came, a full queue refuses at once, stop returns
 * once what was queued ran. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "db/dbjobs.h"

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;   /* the gate: jobs that wait for it block until it opens */
    int started; /* jobs taken by a thread */
    int order[16];
    int n;
} log_t;

static log_t lg = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, {0}, 0};

typedef struct {
    int id;
    bool gate;
} job_arg_t;

static void job(void *arg)
{
    job_arg_t *a = arg;

    pthread_mutex_lock(&lg.lock);
    lg.started++;
    pthread_cond_broadcast(&lg.cond);
    while (a->gate && !lg.open)
        pthread_cond_wait(&lg.cond, &lg.lock);
    lg.order[lg.n++] = a->id;
    pthread_cond_broadcast(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
}

static void open_gate(void)
{
    pthread_mutex_lock(&lg.lock);
    lg.open = true;
    pthread_cond_broadcast(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
}

static void reset(void)
{
    lg.open = false;
    lg.started = lg.n = 0;
}

TestSuite(dbjobs, .init = reset, .timeout = 10);

Test(dbjobs, bad_arguments)
{
    hl_dbjobs_t *j = NULL;

    cr_expect_eq(hl_dbjobs_start(0, 4, &j), HL_EINVAL);
    cr_expect_eq(hl_dbjobs_start(1, 0, &j), HL_EINVAL);
    cr_expect_eq(hl_dbjobs_start(1, 4, NULL), HL_EINVAL);
    hl_dbjobs_stop(NULL);
}

/* One thread held by a job at the gate: the queue of two takes two more and refuses the third;
 * the queued ones run in order, and stop returns once they ran. */
Test(dbjobs, in_order_full_queue_refuses_stop_runs_the_queued)
{
    hl_dbjobs_t *j = NULL;
    job_arg_t a[4] = {{1, true}, {2, false}, {3, false}, {4, false}};

    cr_assert_eq(hl_dbjobs_start(1, 2, &j), HL_OK);
    cr_assert(hl_dbjobs_submit(j, job, &a[0]));
    pthread_mutex_lock(&lg.lock);
    while (lg.started == 0) /* the thread took job 1 and waits at the gate */
        pthread_cond_wait(&lg.cond, &lg.lock);
    pthread_mutex_unlock(&lg.lock);
    cr_assert(hl_dbjobs_submit(j, job, &a[1]));
    cr_assert(hl_dbjobs_submit(j, job, &a[2]));
    cr_expect_not(hl_dbjobs_submit(j, job, &a[3]), "a full queue refuses");
    open_gate();
    hl_dbjobs_stop(j);
    cr_assert_eq(lg.n, 3);
    cr_expect_eq(lg.order[0], 1);
    cr_expect_eq(lg.order[1], 2);
    cr_expect_eq(lg.order[2], 3);
}

Test(dbjobs, many_threads_run_every_job)
{
    hl_dbjobs_t *j = NULL;
    job_arg_t a[16];

    open_gate();
    cr_assert_eq(hl_dbjobs_start(4, 16, &j), HL_OK);
    for (int i = 0; i < 16; i++) {
        a[i] = (job_arg_t){i, false};
        cr_assert(hl_dbjobs_submit(j, job, &a[i]));
    }
    hl_dbjobs_stop(j);
    cr_expect_eq(lg.n, 16);
}
