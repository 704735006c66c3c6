/*
 * GET /v1/stats and GET /v1/reports/quarterly (api.md): the rollup through disclosure control.
 *
 * The HTTP thread checks the query (400s, the bounds of hl_stats_plan) and hands the work to a
 * thread of its own, deferring the reply: libmicrohttpd serves many connections on each of its
 * threads, so work done there would also hold up /healthz and intake on those connections. At
 * most half as many statistics requests as HTTP threads (at least one) run at once; the others
 * are 503 with Retry-After at once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "report.h"
#include "stats.h"

#define K_MAX                 1000
#define MAX_NETWORK_HELPLINES 256
/* A job waits this long for a connection, then holds it at most HL_DBPOOL_DEADLINE_MS: it
 * answers within the 5 s hl_http_stop gives deferred replies, also when PostgreSQL hangs. */
#define POOL_WAIT_MS 1000

static void bad_param(hl_request_t *req, const char *param, const char *message)
{
    hl_http_reply_error(req, 400, "invalid_field", message, param);
}

/* ---- running statistics off the HTTP threads ------------------------------------------------ */

/* Statistics requests running now. One daemon per process, so the count is the process's. */
static atomic_uint stats_running;

static bool stats_enter(hl_request_t *req, const hl_app_t *app)
{
    unsigned limit = app->cfg->threads > 1 ? (unsigned)app->cfg->threads / 2 : 1;
    unsigned now = atomic_load(&stats_running);

    do {
        if (now >= limit) {
            hl_http_reply_error(req, 503, "unavailable", "too many statistics requests at once; try again",
                                NULL);
            return false;
        }
    } while (!atomic_compare_exchange_weak(&stats_running, &now, now + 1));
    return true;
}

static void stats_leave(void)
{
    atomic_fetch_sub(&stats_running, 1);
}

/* One request's work, with copies of everything it needs from the request. */
typedef struct job {
    hl_request_t *req;
    hl_app_t *app;
    hl_principal_t who;
    char *helpline; /* ?helpline=, or NULL */
    uint64_t k;
    bool csv; /* /v1/stats: Accept: text/csv; report: format=csv */
    bool report;
    hl_stats_query_t q; /* /v1/stats */
    int year, quarter;  /* report */
} job_t;

/* A job's reply, sent once everything shared is released (after it, the daemon may stop). */
typedef struct answer {
    unsigned status; /* 0: none yet (a 503) */
    json_t *json;
    char *text;
    size_t len;
    const char *content_type;
    const char *code, *message, *field; /* error replies; static strings */
} answer_t;

static void answer_error(answer_t *a, unsigned status, const char *code, const char *message,
                         const char *field)
{
    a->status = status;
    a->code = code;
    a->message = message;
    a->field = field;
}

static void answer_send(hl_request_t *req, answer_t *a)
{
    if (a->status == 0)
        hl_http_reply_error(req, 503, "unavailable", "cannot read statistics now", NULL);
    else if (a->json != NULL)
        hl_http_reply_json(req, a->status, a->json);
    else if (a->text != NULL)
        hl_http_reply_raw(req, a->status, a->content_type, a->text, a->len);
    else
        hl_http_reply_error(req, a->status, a->code, a->message, a->field);
    free(a->text);
}

static void run_stats(job_t *job, answer_t *a);
static void run_report(job_t *job, answer_t *a);

static void job_free(job_t *job)
{
    free(job->helpline);
    free(job);
}

static void *job_main(void *arg)
{
    job_t *job = arg;
    hl_request_t *req = job->req;
    answer_t a = {0};

    if (job->report)
        run_report(job, &a);
    else
        run_stats(job, &a);
    job_free(job);
    stats_leave();
    answer_send(req, &a);
    return NULL;
}

/* A job for REQ (stats_enter passed), or NULL after a 503. */
static job_t *job_new(hl_request_t *req, hl_app_t *app)
{
    job_t *job = calloc(1, sizeof(*job));
    const char *helpline = hl_http_query(req, "helpline");

    if (job != NULL && helpline != NULL && (job->helpline = strdup(helpline)) == NULL) {
        free(job);
        job = NULL;
    }
    if (job == NULL) {
        stats_leave();
        hl_http_reply_error(req, 503, "unavailable", "out of memory", NULL);
        return NULL;
    }
    job->req = req;
    job->app = app;
    job->who = *hl_http_principal(req);
    return job;
}

/* Runs JOB on a detached thread of its own; the reply is deferred until it answers. */
static void job_start(job_t *job)
{
    hl_request_t *req = job->req;
    pthread_attr_t attr;
    pthread_t thread;
    bool started = false;

    hl_http_defer(req);
    if (pthread_attr_init(&attr) == 0) {
        started = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_create(&thread, &attr, job_main, job) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) {
        job_free(job);
        stats_leave();
        hl_http_reply_error(req, 503, "unavailable", "cannot read statistics now", NULL);
    }
}

/* ---- query parameters (on the HTTP thread) ---------------------------------------------------- */

/* k from the query (not below k_min), or k_min. */
static bool parse_k(hl_request_t *req, const hl_app_t *app, uint64_t *k)
{
    const char *s = hl_http_query(req, "k");
    char *end;
    unsigned long v;

    *k = (uint64_t)app->cfg->k_min;
    if (s == NULL)
        return true;
    v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < (unsigned long)app->cfg->k_min || v > K_MAX) {
        char msg[96];
        snprintf(msg, sizeof(msg), "k must be an integer %d..%d", app->cfg->k_min, K_MAX);
        bad_param(req, "k", msg);
        return false;
    }
    *k = v;
    return true;
}

static bool parse_by(hl_request_t *req, hl_stats_query_t *q)
{
    const char *by = hl_http_query(req, "by");
    char buf[256], *save = NULL;

    if (by == NULL || *by == '\0' || strlen(by) >= sizeof(buf)) {
        bad_param(req, "by",
                  "by must list 1..4 of category subcategory age_band gender channel contact_type "
                  "region month");
        return false;
    }
    strcpy(buf, by);
    q->ndims = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        hl_stat_dim_t d;
        if (!hl_stat_dim_parse(tok, &d) || q->ndims == HL_DISCLOSURE_MAX_DIMS) {
            bad_param(req, "by",
                      "by must list 1..4 of category subcategory age_band gender channel contact_type "
                      "region month");
            return false;
        }
        for (size_t i = 0; i < q->ndims; i++) {
            if (q->dims[i] == d) {
                bad_param(req, "by", "by must not repeat a dimension");
                return false;
            }
        }
        q->dims[q->ndims++] = d;
    }
    return q->ndims > 0 || (bad_param(req, "by", "by must list at least one dimension"), false);
}

/* FROM and TO; for sliced queries (users without row-level access) whole calendar months. */
static bool parse_dates(hl_request_t *req, hl_stats_query_t *q)
{
    const char *from = hl_http_query(req, "from"), *to = hl_http_query(req, "to");

    if (from == NULL || !hl_stats_date_valid(from)) {
        bad_param(req, "from", "from must be a date YYYY-MM-DD");
        return false;
    }
    if (to == NULL || !hl_stats_date_valid(to)) {
        bad_param(req, "to", "to must be a date YYYY-MM-DD");
        return false;
    }
    if (strcmp(from, to) > 0) {
        bad_param(req, "to", "to must not be before from");
        return false;
    }
    if (q->sliced && !hl_stats_first_of_month(from)) {
        bad_param(req, "from",
                  "network users count whole calendar months: from must be the first day of a month");
        return false;
    }
    if (q->sliced && !hl_stats_last_of_month(to)) {
        bad_param(req, "to", "network users count whole calendar months: to must be the last day of a month");
        return false;
    }
    memcpy(q->from, from, 11);
    memcpy(q->to, to, 11);
    return true;
}

/* The 400 for a query over the bounds of hl_stats_plan, naming FIELD ("to" or "by"). */
static void too_large(hl_request_t *req, answer_t *a, const char *field)
{
    static const char months[] =
        "from..to spans too many months for this table (at most 1200; network users: "
        "fewer with many dimensions or helplines); ask for a shorter range";
    static const char cells[] = "this table is too large to publish safely; ask for fewer dimensions";
    bool to = strcmp(field, "to") == 0;

    if (a != NULL)
        answer_error(a, 400, "invalid_field", to ? months : cells, to ? "to" : "by");
    else
        bad_param(req, to ? "to" : "by", to ? months : cells);
}

static bool wants_csv(hl_request_t *req)
{
    const char *accept = hl_http_header(req, "Accept");

    return accept != NULL && strcasestr(accept, "text/csv") != NULL;
}

/* ---- GET /v1/stats ---------------------------------------------------------------------------- */

/*
 * The helplines a caller may count: its own; a network user, every helpline of its network
 * (or one of them with ?helpline=CODE). Writes the ids (ascending) and the number; false after
 * answering.
 */
static bool helplines_of(const job_t *job, PGconn *conn, int64_t *ids, size_t *n, answer_t *a)
{
    const hl_principal_t *who = &job->who;
    const char *values[2] = {who->network, job->helpline};
    PGresult *res;

    *n = 0;
    if (who->role != HL_ROLE_NETWORK || who->network[0] == '\0') {
        if (job->helpline != NULL && strcmp(job->helpline, who->helpline_code) != 0) {
            answer_error(a, 403, "forbidden", "this user may read only its own helpline", "helpline");
            return false;
        }
        ids[(*n)++] = who->helpline_id;
        return true;
    }
    res = PQexecParams(conn,
                       "SELECT id FROM helplines WHERE network = $1 AND ($2::text IS NULL OR code = $2) "
                       "ORDER BY id LIMIT 256",
                       2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        answer_error(a, 503, "unavailable", "cannot read statistics now", NULL);
        return false;
    }
    for (int r = 0; r < PQntuples(res) && *n < MAX_NETWORK_HELPLINES; r++)
        ids[(*n)++] = strtoll(PQgetvalue(res, r, 0), NULL, 10);
    PQclear(res);
    if (*n == 0) {
        answer_error(a, 404, "not_found", "no such helpline in this network", "helpline");
        return false;
    }
    return true;
}

/* One CSV field, quoted when it must be (RFC 4180). */
static void csv_field(FILE *f, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n") != NULL) {
        fputc('"', f);
        for (; *s != '\0'; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputs(last ? "\r\n" : ",", f);
}

static void stats_answer(const job_t *job, const hl_stats_table_t *t, const hl_disclosure_table_t *dt,
                         uint64_t total, bool total_suppressed, answer_t *a)
{
    const hl_stats_query_t *q = &job->q;
    bool csv = job->csv;
    json_t *cells = csv ? NULL : json_array(), *by = csv ? NULL : json_array();
    char *text = NULL;
    size_t len = 0;
    FILE *f = csv ? open_memstream(&text, &len) : NULL;
    size_t coords[HL_DISCLOSURE_MAX_DIMS];

    if (csv && f == NULL) {
        answer_error(a, 503, "unavailable", "out of memory", NULL);
        return;
    }
    for (size_t d = 0; d < q->ndims; d++) {
        if (csv)
            csv_field(f, hl_stat_dim_name(q->dims[d]), false);
        else
            json_array_append_new(by, json_string(hl_stat_dim_name(q->dims[d])));
    }
    if (csv)
        fputs("count,suppressed\r\n", f);
    /* Zero cells are left out (an absent combination is 0); suppressed cells are listed. */
    for (size_t cell = 0; cell < t->ncells; cell++) {
        bool suppressed = hl_disclosure_suppressed(dt, cell);
        if (dt->counts[cell] == 0 && !suppressed)
            continue;
        hl_disclosure_coords(dt, cell, coords);
        if (csv) {
            for (size_t d = 0; d < q->ndims; d++)
                csv_field(f, t->values[d][coords[d]], false);
            if (suppressed)
                fputs(",true\r\n", f);
            else
                fprintf(f, "%llu,false\r\n", (unsigned long long)dt->counts[cell]);
            continue;
        }
        json_t *c = json_object();
        for (size_t d = 0; d < q->ndims; d++)
            json_object_set_new(c, hl_stat_dim_name(q->dims[d]), json_string(t->values[d][coords[d]]));
        if (suppressed) {
            json_object_set_new(c, "count", json_null());
            json_object_set_new(c, "suppressed", json_true());
        } else {
            json_object_set_new(c, "count", json_integer((json_int_t)dt->counts[cell]));
        }
        json_array_append_new(cells, c);
    }
    a->status = 200;
    if (csv) {
        fclose(f);
        a->text = text;
        a->len = len;
        a->content_type = "text/csv; charset=utf-8";
        return;
    }
    a->json = json_pack("{s:s, s:s, s:o, s:I, s:o, s:o}", "from", q->from, "to", q->to, "by", by, "k",
                        (json_int_t)job->k, "total_contacts",
                        total_suppressed ? json_pack("{s:n, s:b}", "count", "suppressed", 1)
                                         : json_pack("{s:I}", "count", (json_int_t)total),
                        "cells", cells);
    if (a->json == NULL)
        answer_error(a, 503, "unavailable", "out of memory", NULL);
}

static void run_stats(job_t *job, answer_t *a)
{
    hl_app_t *app = job->app;
    int64_t ids[MAX_NETWORK_HELPLINES];
    hl_stats_table_t *t = NULL;
    hl_disclosure_table_t *dt = NULL;
    hl_taxref_t *ref = NULL;
    PGconn *conn = hl_dbpool_acquire(app->read_pool, POOL_WAIT_MS);
    const char *field = "by";
    uint64_t total = 0;
    bool total_suppressed = true;
    int rc;

    if (conn == NULL) {
        answer_error(a, 503, "unavailable", "cannot read statistics now", NULL);
        return;
    }
    if (!helplines_of(job, conn, ids, &job->q.n_helplines, a))
        goto out;
    job->q.helplines = ids;
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);
    rc = hl_stats_fetch(conn, tax, &job->q, &t, &field);
    if (rc == HL_EINVAL) {
        too_large(NULL, a, field);
        goto out;
    }
    if (rc == HL_OK)
        rc = hl_stats_protect(t, (uint64_t)app->cfg->k_min, job->k, &dt, &total, &total_suppressed);
    if (rc == HL_EINVAL)
        answer_error(a, 400, "invalid_field",
                     "this table is too fine to publish safely; ask for fewer dimensions", "by");
    else if (rc != HL_OK)
        answer_error(a, 503, "unavailable", "cannot read statistics now", NULL);
    else
        stats_answer(job, t, dt, total, total_suppressed, a);
out:
    if (ref != NULL)
        hl_app_taxonomy_release(ref);
    hl_disclosure_table_free(dt);
    hl_stats_table_free(t);
    hl_dbpool_release(app->read_pool, conn);
}

void hl_handle_stats(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    hl_stats_query_t q = {.sliced = hl_http_principal(req)->role == HL_ROLE_NETWORK, .n_helplines = 1};
    hl_stats_plan_t plan;
    hl_taxref_t *ref = NULL;
    const char *field = "by";
    uint64_t k;
    job_t *job;
    int rc;

    if (!parse_dates(req, &q) || !parse_by(req, &q) || !parse_k(req, app, &k))
        return;
    /* The bounds before any work: one helpline here, the network's once they are known. */
    rc = hl_stats_plan(hl_app_taxonomy_acquire(app, &ref), &q, &plan, &field);
    if (ref != NULL)
        hl_app_taxonomy_release(ref);
    if (rc != HL_OK) {
        too_large(req, NULL, field);
        return;
    }
    if (!stats_enter(req, app) || (job = job_new(req, app)) == NULL)
        return;
    job->q = q;
    job->k = k;
    job->csv = wants_csv(req);
    job_start(job);
}

/* ---- quarterly report ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    bool counselling_only;
    size_t ndims;
    hl_stat_dim_t dims[2];
} report_table_def_t;

/* docs/report-format.md: which contacts each table counts. */
static const report_table_def_t report_tables[] = {
    {HL_REPORT_TABLE_CONTACT_TYPE, false, 1, {HL_STAT_CONTACT_TYPE}},
    {HL_REPORT_TABLE_CATEGORY, true, 1, {HL_STAT_CATEGORY}},
    {HL_REPORT_TABLE_SUBCATEGORY, true, 1, {HL_STAT_SUBCATEGORY}},
    {HL_REPORT_TABLE_AGE_BAND_GENDER, true, 2, {HL_STAT_AGE_BAND, HL_STAT_GENDER}},
    {HL_REPORT_TABLE_CHANNEL, false, 1, {HL_STAT_CHANNEL}},
    {HL_REPORT_TABLE_REGION, true, 1, {HL_STAT_REGION}},
};
#define N_REPORT_TABLES (sizeof(report_tables) / sizeof(report_tables[0]))

typedef struct {
    char code[33], name[201], country[3], network[33];
    int64_t id;
} helpline_row_t;

/* The helpline the report is about: the caller's, or (network users) ?helpline=CODE of its network. */
static bool report_helpline(const job_t *job, PGconn *conn, helpline_row_t *h, answer_t *a)
{
    const hl_principal_t *who = &job->who;
    const char *code = job->helpline;
    const char *values[2] = {code != NULL ? code : who->helpline_code, who->network};
    bool other = code != NULL && strcmp(code, who->helpline_code) != 0;
    PGresult *res;
    bool ok = false;

    if (other && (who->role != HL_ROLE_NETWORK || who->network[0] == '\0')) {
        answer_error(a, 403, "forbidden", "this user may report only on its own helpline", "helpline");
        return false;
    }
    res = PQexecParams(conn,
                       "SELECT id, code, name, country, coalesce(network, '') FROM helplines WHERE code = $1"
                       " AND ($2 = '' OR network = $2 OR code = $1)",
                       2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        answer_error(a, 503, "unavailable", "cannot build the report now", NULL);
    } else if (PQntuples(res) != 1 || (other && strcmp(PQgetvalue(res, 0, 4), who->network) != 0)) {
        answer_error(a, 404, "not_found", "no such helpline in this network", "helpline");
    } else {
        h->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(h->code, sizeof(h->code), "%s", PQgetvalue(res, 0, 1));
        snprintf(h->name, sizeof(h->name), "%s", PQgetvalue(res, 0, 2));
        snprintf(h->country, sizeof(h->country), "%s", PQgetvalue(res, 0, 3));
        snprintf(h->network, sizeof(h->network), "%s", PQgetvalue(res, 0, 4));
        ok = true;
    }
    PQclear(res);
    return ok;
}

static bool parse_quarter(hl_request_t *req, int *year, int *quarter)
{
    const char *y = hl_http_query(req, "year"), *q = hl_http_query(req, "quarter");
    char *end;

    *year = y != NULL ? (int)strtol(y, &end, 10) : 0;
    if (y == NULL || *end != '\0' || *year < 2000 || *year > 9999) {
        bad_param(req, "year", "year must be 2000..9999");
        return false;
    }
    *quarter = q != NULL ? (int)strtol(q, &end, 10) : 0;
    if (q == NULL || *end != '\0' || *quarter < 1 || *quarter > 4) {
        bad_param(req, "quarter", "quarter must be 1..4");
        return false;
    }
    return true;
}

/*
 * The report's tables: whoever fetches it, the report goes to the network, so each table is the
 * sum of the three monthly tables a network user may ask /v1/stats for, protected the same way
 * (sliced, hl_stats_protect); hl_report_build takes them as presets.
 */
static int report_tables_fetch(PGconn *conn, const hl_taxonomy_t *tax, const job_t *job,
                               const helpline_row_t *h, hl_stats_table_t **tables,
                               hl_disclosure_table_t **protected, hl_report_table_t *rt)
{
    static const char *const ends[] = {"03-31", "06-30", "09-30", "12-31"};
    int rc = HL_OK;

    for (size_t i = 0; i < N_REPORT_TABLES && rc == HL_OK; i++) {
        hl_stats_query_t q = {.helplines = &h->id,
                              .n_helplines = 1,
                              .ndims = report_tables[i].ndims,
                              .counselling_only = report_tables[i].counselling_only,
                              .sliced = true};
        uint64_t unused_total;
        bool unused_suppressed;

        unsigned year = (unsigned)job->year % 10000u,
                 quarter = (unsigned)(job->quarter - 1) % 4u; /* checked */

        snprintf(q.from, sizeof(q.from), "%04u-%02u-01", year, quarter * 3u + 1u);
        snprintf(q.to, sizeof(q.to), "%04u-%s", year, ends[quarter]);
        memcpy(q.dims, report_tables[i].dims, report_tables[i].ndims * sizeof(q.dims[0]));
        rc = hl_stats_fetch(conn, tax, &q, &tables[i], NULL);
        if (rc == HL_OK)
            rc = hl_stats_protect(tables[i], (uint64_t)job->app->cfg->k_min, job->k, &protected[i],
                                  &unused_total, &unused_suppressed);
        if (rc != HL_OK)
            break;
        rt[i].name = report_tables[i].name;
        rt[i].ndims = tables[i]->ndims;
        for (size_t d = 0; d < tables[i]->ndims; d++) {
            rt[i].dims[d].name = hl_stat_dim_name(tables[i]->dims[d]);
            rt[i].dims[d].nvalues = tables[i]->nvalues[d];
            rt[i].dims[d].values = (const char *const *)tables[i]->values[d];
        }
        rt[i].counts = tables[i]->counts;
        rt[i].preset = protected[i];
    }
    return rc;
}

static void run_report(job_t *job, answer_t *a)
{
    hl_app_t *app = job->app;
    hl_stats_table_t *tables[N_REPORT_TABLES] = {0};
    hl_disclosure_table_t *protected[N_REPORT_TABLES] = {0};
    hl_report_table_t rt[N_REPORT_TABLES];
    hl_report_input_t in = {0};
    hl_report_error_t rerr;
    hl_crypto_signer_t *signer = NULL;
    helpline_row_t h;
    hl_taxref_t *ref = NULL;
    PGconn *conn = hl_dbpool_acquire(app->read_pool, POOL_WAIT_MS);
    json_t *doc = NULL;
    char generated[32];
    time_t now = time(NULL);
    struct tm tm;
    int rc;

    if (conn == NULL) {
        answer_error(a, 503, "unavailable", "cannot build the report now", NULL);
        return;
    }
    if (!report_helpline(job, conn, &h, a))
        goto out;
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);
    rc = report_tables_fetch(conn, tax, job, &h, tables, protected, rt);
    if (rc == HL_OK)
        rc = hl_crypto_signer_derive(app->keyring, (uint64_t)h.id, &signer);
    if (rc != HL_OK) {
        answer_error(a, 503, "unavailable", "cannot build the report now", NULL);
        goto out;
    }
    gmtime_r(&now, &tm);
    strftime(generated, sizeof(generated), "%Y-%m-%dT%H:%M:%SZ", &tm);
    in.helpline = (hl_report_helpline_t){h.code, h.name, h.country, h.network[0] != '\0' ? h.network : NULL};
    in.year = job->year;
    in.quarter = job->quarter;
    in.taxonomy_version = hl_taxonomy_version(tax);
    in.k = job->k;
    in.generated_at = generated;
    in.ntables = N_REPORT_TABLES;
    in.tables = rt;
    rc = hl_report_build(&in, &doc, &rerr);
    if (rc == HL_OK)
        rc = hl_report_sign(doc, signer);
    if (rc == HL_OK)
        rc = job->csv ? hl_report_to_csv(doc, &a->text, &a->len) : hl_report_to_json(doc, &a->text, &a->len);
    if (rc != HL_OK) {
        free(a->text);
        a->text = NULL;
        answer_error(a, 503, "unavailable", "cannot build the report now", NULL);
        goto out;
    }
    a->status = 200;
    a->content_type = job->csv ? "text/csv; charset=utf-8" : "application/json";
out:
    json_decref(doc);
    hl_crypto_signer_free(signer);
    for (size_t i = 0; i < N_REPORT_TABLES; i++) {
        hl_disclosure_table_free(protected[i]);
        hl_stats_table_free(tables[i]);
    }
    if (ref != NULL)
        hl_app_taxonomy_release(ref);
    hl_dbpool_release(app->read_pool, conn);
}

void hl_handle_report(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const char *format = hl_http_query(req, "format");
    int year, quarter;
    uint64_t k;
    job_t *job;

    if (!parse_quarter(req, &year, &quarter) || !parse_k(req, app, &k))
        return;
    if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        bad_param(req, "format", "format must be json or csv");
        return;
    }
    if (!stats_enter(req, app) || (job = job_new(req, app)) == NULL)
        return;
    job->report = true;
    job->year = year;
    job->quarter = quarter;
    job->k = k;
    job->csv = format != NULL && strcmp(format, "csv") == 0;
    job_start(job);
}
