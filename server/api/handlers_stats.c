/*
 * GET /v1/stats and GET /v1/reports/quarterly (api.md): the rollup through disclosure control.
 *
 * Every query is bounded before any work (hl_stats_plan), and at most half as many statistics
 * requests as HTTP threads (at least one) run at once; the others are 503 with Retry-After at
 * once. libmicrohttpd serves many connections on each of its threads: one busy with statistics
 * holds up the connections it already serves (a bounded request, milliseconds) but accepts no
 * new ones, so the other half is always there for /healthz and intake. (Handing the work to a
 * thread of its own, with the reply deferred, cost 0.3 to 1.5 ms a request on a busy two-core
 * machine, where a request takes about 2 ms.)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "report.h"
#include "stats/stats.h"

#define K_MAX                 1000
#define MAX_NETWORK_HELPLINES 256

static void bad_param(hl_request_t *req, const char *param, const char *message)
{
    hl_http_reply_error(req, 400, "invalid_field", message, param);
}

/* ---- the concurrency limit -------------------------------------------------------------------- */

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

/* ---- query parameters ------------------------------------------------------------------------ */

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

#define BY_MESSAGE                                                                                           \
    "by must list 1..4 of category subcategory age_band gender channel contact_type region month "           \
    "referral_to referral_state case_status week"

static bool parse_by(hl_request_t *req, hl_stats_query_t *q)
{
    const char *by = hl_http_query(req, "by");
    char buf[256], *save = NULL;
    hl_stats_unit_t unit;

    if (by == NULL || *by == '\0' || strlen(by) >= sizeof(buf)) {
        bad_param(req, "by", BY_MESSAGE);
        return false;
    }
    strcpy(buf, by);
    q->ndims = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        hl_stat_dim_t d;
        if (!hl_stat_dim_parse(tok, &d) || q->ndims == HL_DISCLOSURE_MAX_DIMS) {
            bad_param(req, "by", BY_MESSAGE);
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
    if (q->ndims == 0) {
        bad_param(req, "by", "by must list at least one dimension");
        return false;
    }
    for (size_t i = 0; i < q->ndims && q->sliced; i++) {
        if (q->dims[i] == HL_STAT_WEEK) {
            bad_param(req, "by",
                      "week is not offered to network users: their statistics are sums of whole calendar "
                      "months, which weeks straddle; ask for month");
            return false;
        }
    }
    /* A table counts one thing: contacts, referrals or case status changes (docs/http-api.md). */
    if (!hl_stats_unit_of(q->dims, q->ndims, &unit)) {
        bad_param(req, "by",
                  "by must not mix units: referral_to and referral_state count referrals, case_status "
                  "counts case status changes, the others count contacts; month goes with any");
        return false;
    }
    return true;
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
static void too_large(hl_request_t *req, const char *field)
{
    if (strcmp(field, "to") == 0)
        bad_param(req, "to",
                  "from..to spans too many months for this table (at most 1200; network users: fewer with "
                  "many dimensions or helplines); ask for a shorter range");
    else
        bad_param(req, "by", "this table is too large to publish safely; ask for fewer dimensions");
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
 * replying.
 */
static bool helplines_of(hl_request_t *req, PGconn *conn, int64_t *ids, size_t *n)
{
    const hl_principal_t *who = hl_http_principal(req);
    const char *only = hl_http_query(req, "helpline");
    const char *values[2] = {who->network, only};
    PGresult *res;

    *n = 0;
    if (who->role != HL_ROLE_NETWORK || who->network[0] == '\0') {
        if (only != NULL && strcmp(only, who->helpline_code) != 0) {
            hl_http_reply_error(req, 403, "forbidden", "this user may read only its own helpline",
                                "helpline");
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
        hl_http_reply_error(req, 503, "unavailable", "cannot read statistics now", NULL);
        return false;
    }
    for (int r = 0; r < PQntuples(res) && *n < MAX_NETWORK_HELPLINES; r++)
        ids[(*n)++] = strtoll(PQgetvalue(res, r, 0), NULL, 10);
    PQclear(res);
    if (*n == 0) {
        hl_http_reply_error(req, 404, "not_found", "no such helpline in this network", "helpline");
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

/* The published cells: DT's counts (the exact counts, or for sliced tables the sums of the
 * slices' published counts: the same wherever a cell is published). */
static void reply_stats(hl_request_t *req, const hl_stats_query_t *q, const hl_stats_table_t *t,
                        const hl_disclosure_table_t *dt, uint64_t k, uint64_t total, bool total_suppressed)
{
    bool csv = wants_csv(req);
    json_t *cells = csv ? NULL : json_array(), *by = csv ? NULL : json_array(), *body;
    char *text = NULL, total_name[48];
    size_t len = 0;
    FILE *f = csv ? open_memstream(&text, &len) : NULL;
    size_t coords[HL_DISCLOSURE_MAX_DIMS];

    if (csv && f == NULL) {
        hl_http_reply_error(req, 503, "unavailable", "out of memory", NULL);
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
    if (csv) {
        fclose(f);
        hl_http_reply_raw(req, 200, "text/csv; charset=utf-8", text, len);
        free(text);
        return;
    }
    /* total_contacts, total_referrals or total_status_changes: what the table counts. */
    snprintf(total_name, sizeof(total_name), "total_%s", hl_stats_unit_name(t->unit));
    body = json_pack("{s:s, s:s, s:o, s:I, s:o, s:o}", "from", q->from, "to", q->to, "by", by, "k",
                     (json_int_t)k, total_name,
                     total_suppressed ? json_pack("{s:n, s:b}", "count", "suppressed", 1)
                                      : json_pack("{s:I}", "count", (json_int_t)total),
                     "cells", cells);
    hl_http_reply_json(req, 200, body);
}

void hl_handle_stats(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    hl_stats_query_t q = {.sliced = hl_http_principal(req)->role == HL_ROLE_NETWORK, .n_helplines = 1};
    hl_stats_plan_t plan;
    int64_t ids[MAX_NETWORK_HELPLINES];
    hl_stats_table_t *t = NULL;
    hl_disclosure_table_t *dt = NULL;
    hl_taxref_t *ref = NULL;
    PGconn *conn = NULL;
    const char *field = "by";
    uint64_t k, total = 0;
    bool total_suppressed = true;
    int rc;

    if (!parse_dates(req, &q) || !parse_by(req, &q) || !parse_k(req, app, &k))
        return;
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);
    /* The bounds before any work: one helpline here, the network's once they are known. */
    if (hl_stats_plan(tax, &q, &plan, &field) != HL_OK) {
        too_large(req, field);
        goto out;
    }
    if (!stats_enter(req, app))
        goto out;
    conn = hl_dbpool_acquire(app->read_pool, 2000);
    if (conn == NULL) {
        hl_http_reply_error(req, 503, "unavailable", "cannot read statistics now", NULL);
        goto leave;
    }
    if (!helplines_of(req, conn, ids, &q.n_helplines))
        goto leave;
    q.helplines = ids;
    rc = hl_stats_fetch(conn, tax, &q, &t, &field);
    if (rc == HL_EINVAL) {
        too_large(req, field);
        goto leave;
    }
    if (rc == HL_OK)
        rc = hl_stats_protect(t, (uint64_t)app->cfg->k_min, k, &dt, &total, &total_suppressed);
    if (rc == HL_EINVAL)
        bad_param(req, "by", "this table is too fine to publish safely; ask for fewer dimensions");
    else if (rc != HL_OK)
        hl_http_reply_error(req, 503, "unavailable", "cannot read statistics now", NULL);
    else
        reply_stats(req, &q, t, dt, k, total, total_suppressed);
leave:
    stats_leave();
out:
    if (ref != NULL)
        hl_app_taxonomy_release(ref);
    hl_disclosure_table_free(dt);
    hl_stats_table_free(t);
    hl_dbpool_release(app->read_pool, conn);
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
    {HL_REPORT_TABLE_REFERRAL, false, 2, {HL_STAT_REFERRAL_TO, HL_STAT_REFERRAL_STATE}},
    {HL_REPORT_TABLE_CASE_STATUS, false, 1, {HL_STAT_CASE_STATUS}},
};
#define N_REPORT_TABLES (sizeof(report_tables) / sizeof(report_tables[0]))

typedef struct {
    char code[33], name[201], country[3], network[33];
    int64_t id;
} helpline_row_t;

/* The helpline the report is about: the caller's, or (network users) ?helpline=CODE of its network. */
static bool report_helpline(hl_request_t *req, PGconn *conn, helpline_row_t *h)
{
    const hl_principal_t *who = hl_http_principal(req);
    const char *code = hl_http_query(req, "helpline");
    const char *values[2] = {code != NULL ? code : who->helpline_code, who->network};
    bool other = code != NULL && strcmp(code, who->helpline_code) != 0;
    PGresult *res;
    bool ok = false;

    if (other && (who->role != HL_ROLE_NETWORK || who->network[0] == '\0')) {
        hl_http_reply_error(req, 403, "forbidden", "this user may report only on its own helpline",
                            "helpline");
        return false;
    }
    res = PQexecParams(conn,
                       "SELECT id, code, name, country, coalesce(network, '') FROM helplines WHERE code = $1"
                       " AND ($2 = '' OR network = $2 OR code = $1)",
                       2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot build the report now", NULL);
    } else if (PQntuples(res) != 1 || (other && strcmp(PQgetvalue(res, 0, 4), who->network) != 0)) {
        hl_http_reply_error(req, 404, "not_found", "no such helpline in this network", "helpline");
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
static int report_tables_fetch(hl_app_t *app, PGconn *conn, const hl_taxonomy_t *tax, const helpline_row_t *h,
                               int year, int quarter, uint64_t k, hl_stats_table_t **tables,
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

        snprintf(q.from, sizeof(q.from), "%04d-%02d-01", year, (quarter - 1) * 3 + 1);
        snprintf(q.to, sizeof(q.to), "%04d-%s", year, ends[quarter - 1]);
        memcpy(q.dims, report_tables[i].dims, report_tables[i].ndims * sizeof(q.dims[0]));
        rc = hl_stats_fetch(conn, tax, &q, &tables[i], NULL);
        if (rc == HL_OK)
            rc = hl_stats_protect(tables[i], (uint64_t)app->cfg->k_min, k, &protected[i], &unused_total,
                                  &unused_suppressed);
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

void hl_handle_report(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    hl_stats_table_t *tables[N_REPORT_TABLES] = {0};
    hl_disclosure_table_t *protected[N_REPORT_TABLES] = {0};
    hl_report_table_t rt[N_REPORT_TABLES];
    hl_report_input_t in = {0};
    hl_report_error_t rerr;
    hl_crypto_signer_t *signer = NULL;
    helpline_row_t h;
    hl_taxref_t *ref = NULL;
    PGconn *conn = NULL;
    json_t *doc = NULL;
    char generated[32], *text = NULL;
    size_t len = 0;
    const char *format = hl_http_query(req, "format");
    bool csv = format != NULL && strcmp(format, "csv") == 0;
    int year, quarter, rc;
    uint64_t k;
    time_t now = time(NULL);
    struct tm tm;

    if (!parse_quarter(req, &year, &quarter) || !parse_k(req, app, &k))
        return;
    if (format != NULL && !csv && strcmp(format, "json") != 0) {
        bad_param(req, "format", "format must be json or csv");
        return;
    }
    if (!stats_enter(req, app))
        return;
    conn = hl_dbpool_acquire(app->read_pool, 2000);
    if (conn == NULL) {
        hl_http_reply_error(req, 503, "unavailable", "cannot build the report now", NULL);
        goto out;
    }
    if (!report_helpline(req, conn, &h))
        goto out;
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);
    rc = report_tables_fetch(app, conn, tax, &h, year, quarter, k, tables, protected, rt);
    if (rc == HL_OK)
        rc = hl_crypto_signer_derive(app->keyring, (uint64_t)h.id, &signer);
    if (rc != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot build the report now", NULL);
        goto out;
    }
    gmtime_r(&now, &tm);
    strftime(generated, sizeof(generated), "%Y-%m-%dT%H:%M:%SZ", &tm);
    in.helpline = (hl_report_helpline_t){h.code, h.name, h.country, h.network[0] != '\0' ? h.network : NULL};
    in.year = year;
    in.quarter = quarter;
    in.taxonomy_version = hl_taxonomy_version(tax);
    in.k = k;
    in.generated_at = generated;
    in.ntables = N_REPORT_TABLES;
    in.tables = rt;
    rc = hl_report_build(&in, &doc, &rerr);
    if (rc == HL_OK)
        rc = hl_report_sign(doc, signer);
    if (rc == HL_OK)
        rc = csv ? hl_report_to_csv(doc, &text, &len) : hl_report_to_json(doc, &text, &len);
    if (rc != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot build the report now", NULL);
        goto out;
    }
    hl_http_reply_raw(req, 200, csv ? "text/csv; charset=utf-8" : "application/json", text, len);
out:
    free(text);
    json_decref(doc);
    hl_crypto_signer_free(signer);
    for (size_t i = 0; i < N_REPORT_TABLES; i++) {
        hl_disclosure_table_free(protected[i]);
        hl_stats_table_free(tables[i]);
    }
    if (ref != NULL)
        hl_app_taxonomy_release(ref);
    hl_dbpool_release(app->read_pool, conn);
    stats_leave();
}
