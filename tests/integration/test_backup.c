/*
 * Backups that restore (issue 18, acceptance 4; deploy/backup.md): the restore drill, run for real
 * on clusters of the test's own (Unix sockets only).
 *
 * base_backup_while_contacts_arrive: two threads post contacts to a daemon without pause while
 * pg_basebackup (tar format, WAL streamed, fast checkpoint) copies the cluster; the backup is
 * unpacked into a new data directory and started as a new cluster, the old daemon and cluster
 * stopped; a daemon on the copy with the same master key file opens every contact acknowledged
 * (201) before the backup began, its sealed fields whole. Contacts acknowledged during the backup
 * may or may not be in it: the test reports how many are, and the drill's times.
 *
 * point_in_time_recovery: WAL archived by deploy/wal-archive (the archive_command of
 * deploy/backup.md); a base backup, then contacts A, a recovery target time, contacts B; the
 * backup restored with restore_command and recovery_target_time ends at the target: every A
 * contact opens, no B contact is there.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

#define PG_BIN     "/usr/lib/postgresql/15/bin"
#define WAL_SCRIPT HL_TEST_SRCDIR "/deploy/wal-archive"
#define POSTERS    2
#define MAX_POSTS  6000
#define PRE_BACKUP 100 /* contacts acknowledged before the backup begins, at least */
#define PITR_EACH  20  /* contacts before and after the recovery target */

static hl_testd_t d, restored;
static hl_testpg_t primary, copy;

static void teardown(void)
{
    hl_testd_stop(&restored); /* before d: it uses d's master key file */
    hl_testd_stop(&d);
    hl_testpg_destroy(&copy);
    hl_testpg_destroy(&primary);
}

TestSuite(backup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------------- */

static PGconn *connect_to(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);

    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s: %s", conninfo, PQerrorMessage(conn));
    return conn;
}

/* The first column of the first row of SQL on CONNINFO (malloc'd; NULL: no row or NULL). */
static char *query(const char *conninfo, const char *sql)
{
    PGconn *conn = connect_to(conninfo);
    PGresult *res = PQexec(conn, sql);
    char *v = NULL;

    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return v;
}

/* The sealed fields of contact number I, different for each. */
static void summary_of(int i, char *out, size_t len)
{
    snprintf(out, len, "Contact %d: she is scared to go home", i);
}

static void name_of(int i, char *out, size_t len)
{
    snprintf(out, len, "Child %d", i);
}

/* POSTs contact number I (source id bk-I) to D; its id in ID when stored (201 or 200). */
static long post_contact(const hl_testd_t *daemon, int i, char id[40])
{
    char source[32], text[96];
    json_t *c, *reply = NULL;
    long status;

    snprintf(source, sizeof(source), "bk-%d", i);
    c = it_contact(source);
    summary_of(i, text, sizeof(text));
    json_object_set_new(c, "summary", json_string(text));
    name_of(i, text, sizeof(text));
    json_object_set_new(json_object_get(c, "child"), "name", json_string(text));
    status = it_post(daemon, daemon->tokens.frontend, c, &reply);
    id[0] = '\0';
    if ((status == 201 || status == 200) && it_str(reply, "id") != NULL)
        snprintf(id, 40, "%s", it_str(reply, "id"));
    json_decref(reply);
    return status;
}

/* GET /v1/contacts/{ID} on DAEMON as admin: 200 with contact I's sealed fields, or 404. Returns
 * whether it is there; fails the test on anything else. */
static bool opens(const hl_testd_t *daemon, const char *id, int i)
{
    char path[96], want[96];
    long status;
    json_t *r;

    snprintf(path, sizeof(path), "/v1/contacts/%s", id);
    r = hl_testd_request(daemon, "GET", path, daemon->tokens.admin, NULL, NULL, &status, NULL);
    cr_assert(status == 200 || status == 404, "GET %s on the restored cluster: %ld", path, status);
    if (status == 200) {
        summary_of(i, want, sizeof(want));
        cr_assert_str_eq(it_str(r, "summary") != NULL ? it_str(r, "summary") : "", want,
                         "contact %d's summary does not open whole", i);
        name_of(i, want, sizeof(want));
        cr_assert_str_eq(it_str(r, "child/name") != NULL ? it_str(r, "child/name") : "", want,
                         "contact %d's child name does not open whole", i);
    }
    json_decref(r);
    return status == 200;
}

typedef struct {
    char id[40];
    long status;
    double acked; /* hl_testd_now() when the reply came */
} post_t;

static post_t posts[MAX_POSTS];
static atomic_int next_post, stored_count;
static atomic_bool stop_posting;

/* How many of the contacts whose indexes in POSTS are IDX[0..N) are in the restored cluster. */
static int present(const int *idx, int n)
{
    size_t cap = 64 + (size_t)n * 40, len;
    char *sql = malloc(cap), *v;
    int found;

    cr_assert_not_null(sql);
    len = (size_t)snprintf(sql, cap, "SELECT count(*)::text FROM contacts WHERE id = ANY ('{");
    for (int k = 0; k < n; k++)
        len += (size_t)snprintf(sql + len, cap - len, "%s%s", k > 0 ? "," : "", posts[idx[k]].id);
    snprintf(sql + len, cap - len, "}'::uuid[])");
    v = query(copy.conninfo, sql);
    found = v != NULL ? atoi(v) : 0;
    free(v);
    free(sql);
    return found;
}

static void exec_as_pg(const hl_testpg_t *pg, const char *const *argv, const char *what)
{
    int rc = hl_testpg_exec(pg, argv);

    cr_assert_eq(rc, 0, "%s: exit %d (see %s/pg-local.log)", what, rc, pg->dir);
}

/* pg_basebackup of ORIGIN into DIR/backup as deploy/backup.md takes it: tar format (base.tar and
 * pg_wal.tar), the WAL it needs streamed alongside, a fast checkpoint. */
static void base_backup(const hl_testpg_t *pg, const hl_testpg_t *origin)
{
    char dir[HL_TESTD_PATH_LEN + 16];
    const char *argv[] = {PG_BIN "/pg_basebackup", "-D", dir, "-Ft", "-X", "stream", "-c", "fast", "-d",
                          origin->conninfo,        NULL};

    snprintf(dir, sizeof(dir), "%s/backup", pg->dir);
    exec_as_pg(pg, argv, "pg_basebackup");
}

/* The backup in DIR/backup unpacked into DIR/data (mode 0700), as deploy/backup.md restores it. */
static void unpack(const hl_testpg_t *pg)
{
    char data[HL_TESTD_PATH_LEN + 16], wal[HL_TESTD_PATH_LEN + 32], base_tar[HL_TESTD_PATH_LEN + 32],
        wal_tar[HL_TESTD_PATH_LEN + 32];
    const char *mkdir_argv[] = {"/bin/mkdir", "-m", "0700", data, NULL};
    const char *base_argv[] = {"/bin/tar", "-xf", base_tar, "-C", data, NULL};
    const char *wal_argv[] = {"/bin/tar", "-xf", wal_tar, "-C", wal, NULL};

    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(wal, sizeof(wal), "%s/data/pg_wal", pg->dir);
    snprintf(base_tar, sizeof(base_tar), "%s/backup/base.tar", pg->dir);
    snprintf(wal_tar, sizeof(wal_tar), "%s/backup/pg_wal.tar", pg->dir);
    exec_as_pg(pg, mkdir_argv, "mkdir data");
    exec_as_pg(pg, base_argv, "tar -xf base.tar");
    exec_as_pg(pg, wal_argv, "tar -xf pg_wal.tar");
}

static double file_mb(const hl_testpg_t *pg, const char *name)
{
    char path[HL_TESTD_PATH_LEN + 64];
    struct stat st;

    snprintf(path, sizeof(path), "%s/backup/%s", pg->dir, name);
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return (double)st.st_size / 1e6;
}

/* ---- a base backup while contacts arrive --------------------------------------------------- */

static void *poster(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_posting)) {
        int i = atomic_fetch_add(&next_post, 1);

        if (i >= MAX_POSTS)
            break;
        posts[i].status = post_contact(&d, i, posts[i].id);
        posts[i].acked = hl_testd_now();
        if (posts[i].id[0] != '\0')
            atomic_fetch_add(&stored_count, 1);
    }
    return NULL;
}

Test(backup, base_backup_while_contacts_arrive)
{
    hl_testd_opts_t opts = {.conninfo = NULL};
    pthread_t threads[POSTERS];
    double t0, t_begin, t_end, t_unpacked, t_started, t_served;
    int n, before = 0, during = 0, during_restored = 0, after = 0, after_restored = 0, spooled = 0;

    t0 = hl_testd_now();
    hl_testpg_create(&primary);
    opts.conninfo = primary.conninfo;
    hl_testd_start(&d, &opts);
    hl_testpg_create_dir(&copy);
    cr_log_info("cluster and daemon ready in %.2f s", hl_testd_now() - t0);

    for (int i = 0; i < POSTERS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, poster, NULL), 0);
    for (t0 = hl_testd_now(); atomic_load(&stored_count) < PRE_BACKUP; usleep(10 * 1000))
        cr_assert_lt(hl_testd_now() - t0, 30.0, "fewer than %d contacts stored in 30 s", PRE_BACKUP);

    t_begin = hl_testd_now();
    cr_log_info("%d contacts stored in %.2f s", atomic_load(&stored_count), t_begin - t0);
    base_backup(&copy, &primary);
    t_end = hl_testd_now();
    atomic_store(&stop_posting, true);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(threads[i], NULL);
    n = atomic_load(&next_post) < MAX_POSTS ? atomic_load(&next_post) : MAX_POSTS;

    /* The old server is gone: its daemon and cluster stop (the daemon's directory, with the
     * master key file, stays: the new daemon uses the same key file). */
    cr_assert_eq(hl_testd_term(&d), 0);
    hl_testpg_stop(&primary);

    t0 = hl_testd_now();
    unpack(&copy);
    t_unpacked = hl_testd_now();
    hl_testpg_start_restored(&copy, &primary);
    t_started = hl_testd_now();
    opts.conninfo = copy.conninfo;
    hl_testd_start_peer(&restored, &d, &opts);
    t_served = hl_testd_now();

    int *during_idx = calloc((size_t)n + 1, sizeof(int)), *after_idx = calloc((size_t)n + 1, sizeof(int));
    cr_assert(during_idx != NULL && after_idx != NULL);
    for (int i = 0; i < n; i++) {
        const post_t *p = &posts[i];

        cr_assert(p->status == 201 || p->status == 202, "POST contact %d: %ld", i, p->status);
        if (p->status == 202) {
            spooled++; /* in the old daemon's spool, in no database backup (deploy/backup.md) */
        } else if (p->acked < t_begin) {
            before++;
            cr_assert(
                opens(&restored, p->id, i),
                "contact %d (%s), stored %.3f s before the backup began, is not in the restored cluster", i,
                p->id, t_begin - p->acked);
        } else if (p->acked <= t_end) {
            during_idx[during++] = i;
        } else {
            after_idx[after++] = i;
        }
    }
    during_restored = present(during_idx, during);
    after_restored = present(after_idx, after);
    free(during_idx);
    free(after_idx);
    cr_assert_geq(before, PRE_BACKUP);
    cr_log_info("backup of %.1f MB (base.tar) + %.1f MB (pg_wal.tar) in %.2f s while contacts arrived; "
                "unpacked in %.2f s, PostgreSQL started in %.2f s, the daemon in %.2f s: "
                "backup + restore + start %.2f s (with the daemon %.2f s)",
                file_mb(&copy, "base.tar"), file_mb(&copy, "pg_wal.tar"), t_end - t_begin, t_unpacked - t0,
                t_started - t_unpacked, t_served - t_started, t_end - t_begin + t_started - t0,
                t_end - t_begin + t_served - t0);
    cr_log_info("contacts stored before the backup began: %d, all opened on the restored cluster; "
                "acknowledged during the backup: %d, %d of them restored; after it: %d, %d restored; "
                "spooled (202): %d",
                before, during, during_restored, after, after_restored, spooled);
}

/* ---- point-in-time recovery ---------------------------------------------------------------- */

/* The primary archives its WAL with deploy/wal-archive into ARCHIVE (restarted for archive_mode). */
static void archive_wal(const char *archive)
{
    char script[HL_TESTD_PATH_LEN + 32], conf[HL_TESTD_PATH_LEN + 32];
    const char *mkdir_argv[] = {"/bin/mkdir", "-m", "0700", archive, NULL};
    size_t len;
    char *text = hl_testd_read_file(WAL_SCRIPT, &len);
    FILE *f;

    /* A copy the postgres user can reach whatever the checkout's parents allow. */
    cr_assert_not_null(text, "%s", WAL_SCRIPT);
    snprintf(script, sizeof(script), "%s/wal-archive", primary.dir);
    f = fopen(script, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(script, 0755), 0);
    free(text);
    exec_as_pg(&primary, mkdir_argv, "mkdir archive");
    snprintf(conf, sizeof(conf), "%s/data/postgresql.conf", primary.dir);
    f = fopen(conf, "a");
    cr_assert_not_null(f);
    fprintf(f, "archive_mode = on\narchive_command = '%s %%p %%f %s'\n", script, archive);
    cr_assert_eq(fclose(f), 0);
    hl_testpg_stop(&primary);
    hl_testpg_start(&primary);
}

/* Posts contacts FIRST .. FIRST + PITR_EACH - 1, each stored (201); their ids in IDS. */
static void post_batch(int first, char ids[][40])
{
    for (int i = 0; i < PITR_EACH; i++) {
        long status = post_contact(&d, first + i, ids[i]);
        cr_assert_eq(status, 201, "POST contact %d: %ld", first + i, status);
    }
}

Test(backup, point_in_time_recovery)
{
    hl_testd_opts_t opts = {.conninfo = NULL};
    char archive[HL_TESTD_PATH_LEN + 16], conf[HL_TESTD_PATH_LEN + 32], signal_file[HL_TESTD_PATH_LEN + 32];
    char a_ids[PITR_EACH][40], b_ids[PITR_EACH][40], sql[256], *target, *segment, *v;
    const char *touch_argv[] = {"/usr/bin/touch", signal_file, NULL};
    double t0;
    FILE *f;

    hl_testpg_create(&primary);
    snprintf(archive, sizeof(archive), "%s/archive", primary.dir);
    archive_wal(archive);
    opts.conninfo = primary.conninfo;
    hl_testd_start(&d, &opts);
    hl_testpg_create_dir(&copy);
    base_backup(&copy, &primary);

    /* A, then the target (the server's clock, after A's commits), then B. */
    post_batch(0, a_ids);
    target = query(primary.conninfo, "SELECT clock_timestamp()::text");
    post_batch(PITR_EACH, b_ids);
    /* B's WAL into the archive: the segment closed, and archived. */
    segment = query(primary.conninfo, "SELECT pg_walfile_name(pg_switch_wal())");
    snprintf(sql, sizeof(sql), "SELECT (coalesce(last_archived_wal, '') >= '%s')::text FROM pg_stat_archiver",
             segment);
    for (t0 = hl_testd_now();; usleep(20 * 1000)) {
        v = query(primary.conninfo, "SELECT failed_count::text FROM pg_stat_archiver");
        cr_assert_str_eq(v, "0", "the archive_command failed (see %s/server.log)", primary.dir);
        free(v);
        v = query(primary.conninfo, sql);
        bool archived = strcmp(v, "true") == 0;
        free(v);
        if (archived)
            break;
        cr_assert_lt(hl_testd_now() - t0, 10.0, "segment %s not archived in 10 s", segment);
    }
    free(segment);
    cr_assert_eq(hl_testd_term(&d), 0);
    hl_testpg_stop(&primary);

    /* The restore: the base backup, WAL from the archive up to the target, then promoted. The copy
     * archives nothing (its WAL must not go into the production archive). */
    t0 = hl_testd_now();
    unpack(&copy);
    snprintf(conf, sizeof(conf), "%s/data/postgresql.conf", copy.dir);
    f = fopen(conf, "a");
    cr_assert_not_null(f);
    fprintf(f,
            "archive_mode = off\n"
            "restore_command = 'cp %s/%%f %%p'\n"
            "recovery_target_time = '%s'\n"
            "recovery_target_action = 'promote'\n",
            archive, target);
    cr_assert_eq(fclose(f), 0);
    snprintf(signal_file, sizeof(signal_file), "%s/data/recovery.signal", copy.dir);
    exec_as_pg(&copy, touch_argv, "touch recovery.signal");
    hl_testpg_start_restored(&copy, &primary);
    for (;; usleep(20 * 1000)) {
        v = query(copy.conninfo, "SELECT pg_is_in_recovery()::text");
        bool promoted = strcmp(v, "false") == 0;
        free(v);
        if (promoted)
            break;
        cr_assert_lt(hl_testd_now() - t0, 20.0, "the copy did not reach the target and promote in 20 s");
    }
    cr_log_info("point-in-time recovery to %s: restored and promoted in %.2f s", target, hl_testd_now() - t0);
    free(target);

    opts.conninfo = copy.conninfo;
    hl_testd_start_peer(&restored, &d, &opts);
    for (int i = 0; i < PITR_EACH; i++) {
        cr_expect(opens(&restored, a_ids[i], i), "contact %d, stored before the target, is missing", i);
        cr_expect_not(opens(&restored, b_ids[i], PITR_EACH + i),
                      "contact %d, stored after the target, is there", PITR_EACH + i);
    }
}
