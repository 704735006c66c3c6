/*
 * The front-end adapters end to end (docs/front-ends.md): the real helpline-cdr binary on
 * Master.csv fixtures (multi-leg, unanswered, short, quoted commas, malformed lines, rotation,
 * SIGKILL and restart mid-file, the daemon down mid-file) against the real daemon; and
 * POST /v1/ingest/rocketchat with recorded-shape Rocket.Chat payloads.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "util.h"

#define CDR_BIN  HL_TEST_BUILDDIR "/helpline-cdr"
#define CDR_DATA HL_TEST_SRCDIR "/tests/data/cdr"
#define RC_DATA  HL_TEST_SRCDIR "/tests/data/rocketchat"
#define RC_PATH  "/v1/ingest/rocketchat"

static hl_testd_t d;

static void start(void)
{
    hl_testd_start(&d, NULL);
}

static void start_big(void)
{
    hl_testd_opts_t o = {.max_body_bytes = 4u << 20};
    hl_testd_start(&d, &o);
}

static void stop(void)
{
    hl_testd_stop(&d);
}

TestSuite(frontends, .init = start, .fini = stop, .timeout = 180);

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void copy_file(const char *from, const char *to, const char *mode)
{
    size_t len;
    char *data = hl_testd_read_file(from, &len);
    FILE *f = fopen(to, mode);

    cr_assert_not_null(data, "cannot read %s", from);
    cr_assert_not_null(f, "cannot open %s", to);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    free(data);
}

static void append_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");

    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* ---- helpline-cdr ---------------------------------------------------------------------------- */

/* Starts helpline-cdr with ARGS (NULL-terminated, after the binary), stdout and stderr appended to LOG. */
static pid_t cdr_spawn(const char *log, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    pid_t pid;

    argv[n++] = CDR_BIN;
    for (; args[n - 1] != NULL && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        setenv("HELPLINE_URL", d.url, 1);
        setenv("HELPLINE_TOKEN", d.tokens.frontend, 1);
        setenv("HELPLINE_CONFIG", "/nonexistent/helpline-config", 1);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    return pid;
}

/* Waits for PID at most SECONDS; its exit status, or -1 (then it is killed). */
static int cdr_wait(pid_t pid, double seconds)
{
    double end = hl_testd_now() + seconds;
    int status;

    while (hl_testd_now() < end) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static long count_sql(const char *sql)
{
    return it_scalar(&d, sql);
}

static long asterisk_contacts(void)
{
    return count_sql("SELECT count(*) FROM contacts WHERE source_system = 'asterisk'");
}

static bool wait_contacts(long n, double seconds)
{
    double end = hl_testd_now() + seconds;

    while (hl_testd_now() < end) {
        if (asterisk_contacts() >= n)
            return true;
        sleep_ms(50);
    }
    return false;
}

static size_t occurrences(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The named contact's column, as text ("" for NULL). */
static void contact_col(const char *source_id, const char *expr, char *out, size_t cap)
{
    char sql[512];
    PGconn *conn = hl_testd_db(&d);
    PGresult *res;
    const char *values[1] = {source_id};

    snprintf(sql, sizeof(sql), "SELECT %s FROM contacts WHERE source_system = 'asterisk' AND source_id = $1",
             expr);
    res = PQexecParams(conn, sql, 1, NULL, values, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    cr_assert_eq(PQntuples(res), 1, "contact %s: %d rows", source_id, PQntuples(res));
    snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
}

static void expect_contact(const char *id, const char *type, const char *counsellor, bool phone,
                           const char *started, const char *ended)
{
    char v[128];

    contact_col(id, "contact_type", v, sizeof(v));
    cr_expect_str_eq(v, type, "call %s: contact_type", id);
    contact_col(id, "channel", v, sizeof(v));
    cr_expect_str_eq(v, "phone");
    contact_col(id, "coalesce(counsellor, '')", v, sizeof(v));
    cr_expect_str_eq(v, counsellor, "call %s: counsellor", id);
    contact_col(id, "(caller_phone IS NOT NULL AND caller_phone_bidx IS NOT NULL)::text", v, sizeof(v));
    cr_expect_str_eq(v, phone ? "true" : "false", "call %s: caller phone", id);
    contact_col(id, "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')", v, sizeof(v));
    cr_expect_str_eq(v, started, "call %s: started_at", id);
    contact_col(id, "to_char(ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')", v, sizeof(v));
    cr_expect_str_eq(v, ended, "call %s: ended_at", id);
    contact_col(id, "(created_by IS NOT NULL)::text", v, sizeof(v));
    cr_expect_str_eq(v, "true", "call %s: posted by the frontend user", id);
}

Test(frontends, cdr_master_csv_one_contact_per_call)
{
    char csv[600], cp[600], log[600];
    const char *args[] = {"--file",       csv, "--once", "--utc", "--agents", CDR_DATA "/agents.conf",
                          "--checkpoint", cp,  NULL};
    char *text;

    snprintf(csv, sizeof(csv), "%s/Master.csv", d.dir);
    snprintf(cp, sizeof(cp), "%s/cdr.checkpoint", d.dir);
    snprintf(log, sizeof(log), "%s/cdr.log", d.dir);
    copy_file(CDR_DATA "/Master.csv", csv, "w");
    cr_assert_eq(cdr_wait(cdr_spawn(log, args), 60), 0, "helpline-cdr failed:\n%s",
                 hl_testd_read_file(log, NULL));
    cr_assert_eq(asterisk_contacts(), 5);
    expect_contact("1763805600.10", "counselling", "baraka", true, "2026-11-22 09:59:50",
                   "2026-11-22 10:04:26");
    expect_contact("1763805660.13", "missed", "", false, "2026-11-22 10:01:00", "2026-11-22 10:02:30");
    expect_contact("1763805780.15", "hang_up", "amina", true, "2026-11-22 10:03:00", "2026-11-22 10:03:07");
    expect_contact("1763805900.16", "counselling", "amina", true, "2026-11-22 10:05:00",
                   "2026-11-22 10:15:02");
    expect_contact("1763807000.18", "missed", "", true, "2026-11-22 10:20:00", "2026-11-22 10:20:03");

    text = hl_testd_read_file(log, NULL);
    cr_expect_eq(occurrences(text, "skipped:"), 2, "two malformed lines reported:\n%s", text);
    cr_expect_eq(occurrences(text, ": created ("), 5);
    cr_expect(!it_contains(text, strlen(text), "700000001") && !it_contains(text, strlen(text), "0722000003"),
              "the log holds a phone number:\n%s", text);
    free(text);

    /* Again: everything is behind the checkpoint; nothing is posted. */
    cr_assert_eq(cdr_wait(cdr_spawn(log, args), 60), 0);
    text = hl_testd_read_file(log, NULL);
    cr_expect_eq(occurrences(text, ": created ("), 5);
    cr_expect_eq(occurrences(text, ": duplicate ("), 0, "a call was posted twice:\n%s", text);
    free(text);
    cr_expect_eq(asterisk_contacts(), 5);
}

Test(frontends, cdr_stdin_and_bad_token)
{
    char log[600], cmd[1400];
    char *text;
    int status;

    snprintf(log, sizeof(log), "%s/cdr-stdin.log", d.dir);
    snprintf(cmd, sizeof(cmd),
             "HELPLINE_URL='%s' HELPLINE_TOKEN='%s' HELPLINE_CONFIG=/nonexistent %s --file - --once --utc "
             "< %s/Master.csv >> %s 2>&1",
             d.url, d.tokens.frontend, CDR_BIN, CDR_DATA, log);
    status = system(cmd);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "stdin run failed:\n%s",
              hl_testd_read_file(log, NULL));
    cr_assert_eq(asterisk_contacts(), 5);

    /* A revoked or wrong token: exit 1, nothing skipped for good. */
    snprintf(
        cmd, sizeof(cmd),
        "HELPLINE_URL='%s' HELPLINE_TOKEN=not-a-token HELPLINE_CONFIG=/nonexistent %s --file - --once --utc "
        "< %s/Master.csv >> %s 2>&1",
        d.url, CDR_BIN, CDR_DATA, log);
    status = system(cmd);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "bad token: status 0x%x", (unsigned)status);
    text = hl_testd_read_file(log, NULL);
    cr_expect(it_contains(text, strlen(text), "check the URL and token"), "%s", text);
    free(text);
}

/* Writes N calls of two legs each, the legs of neighbouring calls interleaved. */
static void write_many_calls(const char *path, int n)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    for (int i = 0; i <= n; i++) {
        /* first leg of call i (the ringing agent), then the answered leg of call i-1 */
        if (i < n)
            fprintf(
                f,
                "\"\",\"07%08d\",\"116\",\"from-pstn\",\"\"\"C\"\" "
                "<07%08d>\",\"SIP/trunk-%08x\",\"SIP/1001-%08x\","
                "\"Queue\",\"helpline\",\"2026-11-20 %02d:%02d:00\",\"\",\"2026-11-20 %02d:%02d:10\",10,0,"
                "\"NO ANSWER\",\"DOCUMENTATION\",\"1763600000.%d\",\"\",\"\",\"1763600000.%d\",\"%d\"\n",
                i, i, i, i, i / 60 % 24, i % 60, i / 60 % 24, i % 60, i, i, 2 * i);
        if (i > 0) {
            int j = i - 1;
            fprintf(f,
                    "\"\",\"07%08d\",\"116\",\"from-pstn\",\"\"\"C\"\" "
                    "<07%08d>\",\"SIP/trunk-%08x\",\"SIP/1002-%08x\","
                    "\"Queue\",\"helpline\",\"2026-11-20 %02d:%02d:00\",\"2026-11-20 %02d:%02d:12\","
                    "\"2026-11-20 "
                    "%02d:%02d:50\",50,38,\"ANSWERED\",\"DOCUMENTATION\",\"1763600000.%d\",\"\",\"\","
                    "\"1763600000.%d\",\"%d\"\n",
                    j, j, j, j, j / 60 % 24, j % 60, j / 60 % 24, j % 60, j / 60 % 24, j % 60, j, j,
                    2 * j + 1);
        }
    }
    cr_assert_eq(fclose(f), 0);
}

Test(frontends, cdr_sigkill_and_daemon_down_mid_file_store_each_call_once)
{
    enum { N = 400 };
    char csv[600], cp[600], log[600];
    const char *args[] = {"--file", csv, "--utc", "--checkpoint", cp, NULL};
    long at_kill[2];
    char *text;
    pid_t pid;
    size_t created, duplicates;

    snprintf(csv, sizeof(csv), "%s/Master.csv", d.dir);
    snprintf(cp, sizeof(cp), "%s/cdr.checkpoint", d.dir);
    snprintf(log, sizeof(log), "%s/cdr.log", d.dir);
    write_many_calls(csv, N);

    for (int k = 0; k < 2; k++) {
        pid = cdr_spawn(log, args);
        cr_assert(wait_contacts(60 + 120 * k, 60));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        at_kill[k] = asterisk_contacts();
        cr_log_info("SIGKILL %d at %ld contacts", k + 1, at_kill[k]);
    }
    cr_expect_lt(at_kill[1], N, "the adapter finished before the second kill; make the file longer");

    /* The daemon dies under the adapter: it retries with backoff until the daemon is back. */
    pid = cdr_spawn(log, args);
    cr_assert(wait_contacts(at_kill[1] + 40, 60));
    hl_testd_kill(&d);
    sleep_ms(1500);
    hl_testd_restart(&d);
    cr_assert_eq(cdr_wait(pid, 120), 0, "helpline-cdr:\n%s", hl_testd_read_file(log, NULL));

    cr_expect_eq(asterisk_contacts(), N);
    cr_expect_eq(count_sql("SELECT count(DISTINCT source_id) FROM contacts WHERE source_system = 'asterisk'"),
                 N);
    cr_expect_eq(
        count_sql("SELECT count(*) FROM contacts WHERE source_system = 'asterisk'"
                  " AND contact_type = 'counselling' AND ended_at - started_at = interval '50 seconds'"),
        N);
    text = hl_testd_read_file(log, NULL);
    created = occurrences(text, ": created (");
    duplicates = occurrences(text, ": duplicate (");
    cr_log_info("created %zu, duplicate %zu", created, duplicates);
    /* A call posted just before a SIGKILL, or answered by a daemon killed after its COMMIT, is posted
     * again and answered "duplicate": at most one per interruption. */
    cr_expect_leq(duplicates, 3, "too many calls posted again:\n%s", text);
    cr_expect_geq(created + duplicates, (size_t)N);
    cr_expect(it_contains(text, strlen(text), "retrying in"), "the adapter never had to retry");
    free(text);
}

static bool wait_source(const char *source_id, double seconds)
{
    char sql[256];
    double end = hl_testd_now() + seconds;

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM contacts WHERE source_system = 'asterisk' AND source_id = '%s'",
             source_id);
    while (hl_testd_now() < end) {
        if (count_sql(sql) == 1)
            return true;
        sleep_ms(50);
    }
    return false;
}

Test(frontends, cdr_follow_survives_rotation_and_restart)
{
    char csv[600], old1[600], old2[600], cp[600], log[600];
    const char *args[] = {"--file",
                          csv,
                          "--follow",
                          "--utc",
                          "--quiet-seconds",
                          "1",
                          "--checkpoint",
                          cp,
                          "--agents",
                          CDR_DATA "/agents.conf",
                          NULL};
    size_t len;
    char *late = hl_testd_read_file(CDR_DATA "/rotate-late.csv", &len), *text;
    pid_t pid;

    snprintf(csv, sizeof(csv), "%s/Master.csv", d.dir);
    snprintf(old1, sizeof(old1), "%s/Master.csv.1", d.dir);
    snprintf(old2, sizeof(old2), "%s/Master.csv.2", d.dir);
    snprintf(cp, sizeof(cp), "%s/cdr.checkpoint", d.dir);
    snprintf(log, sizeof(log), "%s/cdr.log", d.dir);
    cr_assert_not_null(late);

    copy_file(CDR_DATA "/rotate-1.csv", csv, "w");
    pid = cdr_spawn(log, args);
    cr_assert(wait_contacts(2, 30), "%s", hl_testd_read_file(log, NULL));

    /* A line written in two parts, then logrotate: rename and a new file at once. */
    {
        char half[2048];
        snprintf(half, sizeof(half), "%.*s", (int)(len / 2), late);
        append_text(csv, half);
        sleep_ms(400);
        append_text(csv, late + len / 2);
    }
    cr_assert_eq(rename(csv, old1), 0);
    copy_file(CDR_DATA "/rotate-2.csv", csv, "w");
    cr_assert(wait_contacts(5, 30), "%s", hl_testd_read_file(log, NULL));
    cr_expect(wait_source("1763942340.104", 1));
    expect_contact("1763942340.104", "counselling", "baraka", true, "2026-11-23 23:59:00",
                   "2026-11-23 23:59:59");
    expect_contact("1763942410.201", "hang_up", "amina", true, "2026-11-24 00:00:10", "2026-11-24 00:00:14");
    kill(pid, SIGTERM);
    cr_expect_eq(cdr_wait(pid, 20), 0);

    /* While the adapter is down: a call in the current file, which is then rotated away, and a new file. */
    append_text(csv,
                "\"\",\"0700000301\",\"116\",\"from-pstn\",\"x\",\"SIP/trunk-00000301\",\"\",\"Queue\",\"q\","
                "\"2026-11-24 02:00:00\",\"\",\"2026-11-24 02:00:30\",30,0,\"NO ANSWER\",\"DOCUMENTATION\","
                "\"1763949600.301\",\"\",\"\",\"1763949600.301\",\"301\"\n");
    cr_assert_eq(rename(csv, old2), 0);
    append_text(
        csv, "\"\",\"0700000401\",\"116\",\"from-pstn\",\"x\",\"SIP/trunk-00000401\",\"SIP/1001-00000402\","
             "\"Dial\",\"SIP/1001\",\"2026-11-24 03:00:00\",\"2026-11-24 03:00:01\",\"2026-11-24 03:10:01\","
             "601,600,\"ANSWERED\",\"DOCUMENTATION\",\"1763953200.401\",\"\",\"\",\"1763953200.401\","
             "\"401\"\n");
    pid = cdr_spawn(log, args);
    cr_assert(wait_contacts(7, 30), "%s", hl_testd_read_file(log, NULL));
    cr_expect(wait_source("1763949600.301", 1));
    cr_expect(wait_source("1763953200.401", 1));
    kill(pid, SIGTERM);
    cr_expect_eq(cdr_wait(pid, 20), 0);
    cr_expect_eq(asterisk_contacts(), 7);
    text = hl_testd_read_file(log, NULL);
    cr_expect_eq(occurrences(text, ": duplicate ("), 0, "%s", text);
    cr_expect(it_contains(text, strlen(text), "finishing rotated"), "%s", text);
    free(text);
    free(late);
}

/* ---- Rocket.Chat ----------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    char **buf = arg;
    size_t old = *buf != NULL ? strlen(*buf) : 0, add = size * n;
    char *nb = realloc(*buf, old + add + 1);

    if (nb == NULL)
        return 0;
    memcpy(nb + old, data, add);
    nb[old + add] = '\0';
    *buf = nb;
    return add;
}

/* POSTs BODY to the Rocket.Chat endpoint with SECRET in the header (NULL: none); the status, *REPLY. */
static long rc_post(const char *secret, const char *body, size_t len, json_t **reply)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[128], hdr[256];
    char *resp = NULL;
    long status = 0;

    cr_assert_not_null(c);
    snprintf(url, sizeof(url), "%s" RC_PATH, d.url);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (secret != NULL) {
        snprintf(hdr, sizeof(hdr), "X-RocketChat-Livechat-Token: %s", secret);
        h = curl_slist_append(h, hdr);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (reply != NULL)
        *reply = resp != NULL ? json_loads(resp, 0, NULL) : NULL;
    free(resp);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static long rc_post_file(const char *secret, const char *file, json_t **reply)
{
    size_t len;
    char *body = hl_testd_read_file(file, &len);
    long status;

    cr_assert_not_null(body, "%s", file);
    status = rc_post(secret, body, len, reply);
    free(body);
    return status;
}

static void set_secret(char *secret, size_t cap)
{
    const char *args[] = {"ingest-secret", "set", "--helpline", "demo", "--system", "rocketchat", NULL};

    cr_assert_eq(hl_testd_admin(&d, secret, cap, args), 0);
    cr_assert_eq(strlen(secret), 43, "secret '%s'", secret);
}

static long rc_count(const char *room)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM contacts WHERE source_system = 'rocketchat' AND source_id = '%s'", room);
    return count_sql(sql);
}

Test(frontends, rocketchat_close_sealed_idempotent)
{
    char secret[128], dump[600];
    json_t *reply = NULL;
    const char *marks[] = {"Wanjiru Zmvq", "799 314 159", "254799314159", "zqxjvw",
                           "kvzqjx",       "zjqxwv",      "wanjiru.zmvq"};
    size_t len;
    char *text;

    set_secret(secret, sizeof(secret));
    cr_assert_eq(rc_post_file(secret, RC_DATA "/close.json", &reply), 200);
    cr_expect_str_eq(it_str(reply, "status"), "created");
    cr_expect_not_null(it_str(reply, "id"));
    cr_expect_eq(json_array_size(json_object_get(reply, "terminology")), 1, "the transcript was classified");
    json_decref(reply);
    cr_expect_eq(rc_count("hQ7xWk2mPzR4tYv9c"), 1);
    cr_expect_eq(
        count_sql("SELECT count(*) FROM contacts WHERE source_id = 'hQ7xWk2mPzR4tYv9c'"
                  " AND channel = 'chat' AND contact_type = 'counselling' AND counsellor = 'amina'"
                  " AND created_by IS NULL AND transcript IS NOT NULL AND caller_name IS NOT NULL"
                  " AND caller_phone IS NOT NULL AND caller_phone_bidx IS NOT NULL"
                  " AND started_at = '2026-11-22T18:02:11.412Z' AND ended_at = '2026-11-22T18:31:40.007Z'"),
        1);
    cr_expect_eq(count_sql("SELECT count(*) FROM contact_terms t JOIN contacts c ON c.id = t.contact_id"
                           " WHERE c.source_id = 'hQ7xWk2mPzR4tYv9c' AND t.field = 'transcript'"
                           " AND t.term_id = 'child_pornography'"),
                 1);

    /* Redelivery (Rocket.Chat retries): 200, the same contact. */
    cr_assert_eq(rc_post_file(secret, RC_DATA "/close.json", &reply), 200);
    cr_expect_str_eq(it_str(reply, "status"), "duplicate");
    json_decref(reply);
    cr_expect_eq(rc_count("hQ7xWk2mPzR4tYv9c"), 1);

    /* The shape of Rocket.Chat's own sample: phone as a string, messages with username/agentId. */
    cr_assert_eq(rc_post_file(secret, RC_DATA "/close-sample-shape.json", &reply), 200);
    cr_expect_str_eq(it_str(reply, "status"), "created");
    json_decref(reply);
    cr_expect_eq(count_sql("SELECT count(*) FROM contacts WHERE source_id = 'Rk5bN8vC3xZ1qW7eT'"
                           " AND counsellor = 'agent.username' AND caller_phone_bidx IS NOT NULL"),
                 1);

    snprintf(dump, sizeof(dump), "%s/dump.sql", d.dir);
    cr_assert_eq(hl_testd_pg_dump(d.conninfo, dump), 0);
    text = hl_testd_read_file(dump, &len);
    cr_assert_not_null(text);
    cr_expect(it_contains(text, len, "hQ7xWk2mPzR4tYv9c"), "the dump holds the room id");
    for (size_t i = 0; i < HL_ARRAY_LEN(marks); i++)
        cr_expect(!it_contains(text, len, marks[i]) && !it_contains_hex(text, len, marks[i]),
                  "the database dump holds '%s'", marks[i]);
    cr_expect(!it_contains(text, len, secret), "the dump holds the secret");
    free(text);
    text = hl_testd_read_file(d.log, &len);
    for (size_t i = 0; i < HL_ARRAY_LEN(marks); i++)
        cr_expect(!it_contains(text, len, marks[i]), "the daemon log holds '%s'", marks[i]);
    free(text);
}

Test(frontends, rocketchat_statuses)
{
    char secret[128], other[128];
    json_t *reply = NULL;
    static const char bad_json[] = "{\"type\": \"LivechatSession\", \"_id\": ";

    set_secret(secret, sizeof(secret));
    /* No, a wrong, a malformed, and a bearer token: 401, nothing stored. */
    cr_expect_eq(rc_post_file(NULL, RC_DATA "/close.json", NULL), 401);
    snprintf(other, sizeof(other), "%s", secret);
    other[5] = other[5] == 'A' ? 'B' : 'A';
    cr_expect_eq(rc_post_file(other, RC_DATA "/close.json", NULL), 401);
    cr_expect_eq(rc_post_file("short", RC_DATA "/close.json", NULL), 401);
    cr_expect_eq(rc_post_file(d.tokens.frontend, RC_DATA "/close.json", NULL), 401);
    cr_expect_eq(rc_count("hQ7xWk2mPzR4tYv9c"), 0);

    /* Other events and Rocket.Chat's "Send test" sample: acknowledged and ignored. */
    cr_expect_eq(rc_post_file(secret, RC_DATA "/message.json", &reply), 200);
    cr_expect_str_eq(it_str(reply, "status"), "ignored");
    json_decref(reply);
    cr_expect_eq(rc_post_file(secret, RC_DATA "/unknown-type.json", &reply), 200);
    cr_expect_str_eq(it_str(reply, "status"), "ignored");
    json_decref(reply);
    cr_expect_eq(rc_post_file(secret, RC_DATA "/test-button.json", &reply), 200);
    cr_expect_str_eq(it_str(reply, "status"), "ignored");
    json_decref(reply);

    /* Missing fields and bad JSON: 400 naming the field. */
    cr_expect_eq(rc_post_file(secret, RC_DATA "/missing-id.json", &reply), 400);
    cr_expect_str_eq(it_str(reply, "error/field"), "/_id");
    json_decref(reply);
    cr_expect_eq(rc_post_file(secret, RC_DATA "/missing-created.json", &reply), 400);
    cr_expect_str_eq(it_str(reply, "error/field"), "/createdAt");
    json_decref(reply);
    cr_expect_eq(rc_post(secret, bad_json, strlen(bad_json), &reply), 400);
    cr_expect_str_eq(it_str(reply, "error/code"), "bad_json");
    json_decref(reply);
    cr_expect_eq(rc_post(secret, "{\"_id\": \"x\"}", 12, NULL), 400);
    cr_expect_eq(count_sql("SELECT count(*) FROM contacts"), 0);

    /* A new secret replaces the old one. */
    set_secret(other, sizeof(other));
    cr_expect_eq(rc_post_file(secret, RC_DATA "/close.json", NULL), 401);
    cr_expect_eq(rc_post_file(other, RC_DATA "/close.json", NULL), 200);
}

/* A close payload whose messages hold TOTAL bytes of text. */
static char *huge_payload(size_t total, size_t *len)
{
    json_t *p = json_load_file(RC_DATA "/close.json", 0, NULL), *msgs = json_array();
    size_t chunk = 60000;
    char *text = malloc(chunk + 1), *out;

    cr_assert_not_null(p);
    cr_assert_not_null(text);
    memset(text, 'w', chunk);
    text[chunk] = '\0';
    for (size_t done = 0, i = 0; done < total; done += chunk, i++)
        json_array_append_new(msgs,
                              json_pack("{s:{s:s}, s:s}", "u", "_id",
                                        i % 2 == 0 ? "Vt3QyXw8kLmN2pR5s" : "Ag9nT4kW2xQ7mZ1bc", "msg", text));
    json_object_set_new(p, "messages", msgs);
    json_object_set_new(p, "_id", json_string("HugeRoom000000001"));
    out = json_dumps(p, JSON_COMPACT);
    *len = strlen(out);
    json_decref(p);
    free(text);
    return out;
}

Test(frontends, rocketchat_huge_transcript, .init = start_big)
{
    char secret[128];
    json_t *reply = NULL;
    size_t len;
    char *body;

    set_secret(secret, sizeof(secret));
    /* Over the transcript limit, under the body limit: stored, cut at the limit, marked. */
    body = huge_payload(1500000, &len);
    cr_assert_eq(rc_post(secret, body, len, &reply), 200);
    cr_expect_str_eq(it_str(reply, "status"), "created");
    cr_expect(json_is_true(json_object_get(reply, "transcript_truncated")));
    json_decref(reply);
    free(body);
    cr_expect_eq(count_sql("SELECT count(*) FROM contacts WHERE source_id = 'HugeRoom000000001'"
                           " AND length(transcript) BETWEEN 1000000 AND 1048576 + 45"),
                 1);
    /* Over the daemon's body limit: 413, nothing stored. */
    body = huge_payload(5000000, &len);
    json_t *p = json_loads(body, 0, NULL);
    free(body);
    json_object_set_new(p, "_id", json_string("HugeRoom000000002"));
    body = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    cr_expect_eq(rc_post(secret, body, strlen(body), NULL), 413);
    free(body);
    cr_expect_eq(rc_count("HugeRoom000000002"), 0);
}

static size_t lines_containing(const char *text, const char *needle, bool at_line_start)
{
    size_t n = 0;

    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        if (!at_line_start || p == text || p[-1] == '\n')
            n++;
    return n;
}

/*
 * Issue 15, findings 9 and 10: a room _id holding a newline wrote a forged log line, and every
 * request with a bad secret wrote a warning (20 MB of log in 15 s). The room id is escaped, and
 * the bad-secret warnings are rate limited with the count of what was dropped.
 */
Test(frontends, rocketchat_log_lines_cannot_be_forged_or_flooded, .init = start_big)
{
    static const char forged[] = "2026-01-01T00:00:00.000Z helplined[1] error: FORGED-LINE";
    char secret[128], id[160], *log;
    json_t *p;
    size_t len;
    char *body = huge_payload(1500000, &len);

    set_secret(secret, sizeof(secret));
    p = json_loads(body, 0, NULL);
    free(body);
    snprintf(id, sizeof(id), "Room\n%s", forged);
    json_object_set_new(p, "_id", json_string(id));
    body = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    long status = rc_post(secret, body, strlen(body), NULL);
    free(body);
    cr_log_info("a room id with a newline: %ld", status);
    for (int i = 0; i < 300; i++)
        cr_assert_eq(rc_post("not-the-secret", "{}", 2, NULL), 401);

    log = hl_testd_read_file(d.log, NULL);
    cr_assert_not_null(log);
    cr_expect_eq(lines_containing(log, forged, true), 0, "a forged line in the daemon's log");
    size_t warned = lines_containing(log, "rocketchat webhook from", false);
    cr_expect_leq(warned, 10, "%zu bad-secret warnings for 300 requests", warned);
    cr_expect_geq(warned, 1);
    free(log);
}
