#include "contacts/rollup.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "log.h"

#define CODE_MAX HL_RECORD_CODE_MAX

typedef struct {
    bool keyed;
    uint8_t id[HL_RECORD_ID_BYTES]; /* the contact's, when keyed */
    int64_t helpline_id;
    int32_t pg_day; /* days since 2000-01-01 (PostgreSQL's date) */
    char day[32];   /* YYYY-MM-DD */
    const char *level;
    char category[CODE_MAX];
    char subcategory[CODE_MAX];
    const char *age_band, *gender, *channel, *contact_type, *region;
    int64_t delta;
} cell_t;

struct hl_rollup {
    cell_t *cells;
    size_t n, cap;
};

/* PostgreSQL type OIDs (catalog/pg_type.dat). */
#define OID_INT8       20
#define OID_TEXT       25
#define OID_DATE       1082
#define OID_UUID       2950
#define OID_INT8_ARRAY 1016
#define OID_TEXT_ARRAY 1009
#define OID_DATE_ARRAY 1182
#define OID_UUID_ARRAY 2951

#define PG_EPOCH_DAYS 10957 /* 1970-01-01 to 2000-01-01 */

/*
 * $1 .. $12 of the arrays; %d placeholders are filled in by hl_rollup_sql. The deltas are
 * summed per cell and appended to stats_pending: no row of the shared cells is locked, so
 * concurrent transactions never wait for each other here (hl_rollup_merge folds them in).
 */
static const char rollup_sql_fmt[] =
    "rx AS (SELECT * FROM unnest($%d::uuid[], $%d::int8[], $%d::date[], $%d::text[], $%d::text[],"
    " $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::int8[])"
    " AS x(id, h, d, l, c, sc, a, g, ch, t, r, n)%s),"
    " rp AS (INSERT INTO stats_pending (helpline_id, day, level, category, subcategory, age_band, gender,"
    " channel, contact_type, region, contacts)"
    " SELECT h, d, l, c, sc, a, g, ch, t, r, sum(n)::int8 FROM rx GROUP BY h, l, d, c, sc, a, g, ch, t, r"
    " HAVING sum(n) <> 0)";

/*
 * The merge: every pending row this statement's snapshot sees is deleted and its sum per cell
 * applied to stats_daily, then (summed per month) to stats_monthly. Nothing else writes the
 * cells and merges are serialised (hl_rollup_merge), so no order is needed against deadlocks:
 * sorting 10-column keys took a third of a busy merge. Cells whose sum is negative (a PATCH
 * moving contacts out of them) are UPDATEd: an INSERT of the negative row would fail the
 * contacts >= 0 check before ON CONFLICT applies; their cell exists, because the +1 that put the
 * contact there committed before the PATCH read it, so it is folded already or folded now.
 */
static const char merge_sql[] =
    "WITH p AS (DELETE FROM stats_pending RETURNING *),"
    " x AS (SELECT helpline_id AS h, day AS d, level AS l, category AS c, subcategory AS sc, age_band AS a,"
    " gender AS g, channel AS ch, contact_type AS t, region AS r, sum(contacts)::int8 AS n FROM p"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 HAVING sum(contacts) <> 0),"
    " xm AS (SELECT h, date_trunc('month', d)::date AS m, l, c, sc, a, g, ch, t, r, sum(n)::int8 AS n FROM x"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 HAVING sum(n) <> 0),"
    " rdn AS (UPDATE stats_daily s SET contacts = s.contacts + x.n FROM x"
    " WHERE x.n < 0 AND s.helpline_id = x.h AND s.level = x.l AND s.day = x.d AND s.category = x.c"
    " AND s.subcategory = x.sc AND s.age_band = x.a AND s.gender = x.g AND s.channel = x.ch"
    " AND s.contact_type = x.t AND s.region = x.r),"
    " rd AS (INSERT INTO stats_daily AS s (helpline_id, day, level, category, subcategory, age_band, gender,"
    " channel, contact_type, region, contacts)"
    " SELECT h, d, l, c, sc, a, g, ch, t, r, n FROM x WHERE n > 0"
    " ON CONFLICT (helpline_id, level, day, category, subcategory, age_band, gender, channel, contact_type,"
    " region) DO UPDATE SET contacts = s.contacts + EXCLUDED.contacts),"
    " rmn AS (UPDATE stats_monthly s SET contacts = s.contacts + xm.n FROM xm"
    " WHERE xm.n < 0 AND s.helpline_id = xm.h AND s.level = xm.l AND s.month = xm.m AND s.category = xm.c"
    " AND s.subcategory = xm.sc AND s.age_band = xm.a AND s.gender = xm.g AND s.channel = xm.ch"
    " AND s.contact_type = xm.t AND s.region = xm.r),"
    " rm AS (INSERT INTO stats_monthly AS s (helpline_id, month, level, category, subcategory, age_band,"
    " gender, channel, contact_type, region, contacts)"
    " SELECT h, m, l, c, sc, a, g, ch, t, r, n FROM xm WHERE n > 0"
    " ON CONFLICT (helpline_id, level, month, category, subcategory, age_band, gender, channel, contact_type,"
    " region) DO UPDATE SET contacts = s.contacts + EXCLUDED.contacts)"
    " SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM x)";

#define FILTER_INSERTED_SQL " WHERE x.id IS NULL OR x.id IN (SELECT id FROM ins)"

int hl_rollup_sql(int first, bool filter_inserted, char **out)
{
    const char *filter = filter_inserted ? FILTER_INSERTED_SQL : "";
    int len = snprintf(NULL, 0, rollup_sql_fmt, first, first + 1, first + 2, first + 3, first + 4, first + 5,
                       first + 6, first + 7, first + 8, first + 9, first + 10, first + 11, filter);
    char *s;

    if (len < 0 || (s = malloc((size_t)len + 1)) == NULL)
        return HL_ENOMEM;
    snprintf(s, (size_t)len + 1, rollup_sql_fmt, first, first + 1, first + 2, first + 3, first + 4, first + 5,
             first + 6, first + 7, first + 8, first + 9, first + 10, first + 11, filter);
    *out = s;
    return HL_OK;
}

int hl_rollup_new(hl_rollup_t **out)
{
    hl_rollup_t *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return HL_ENOMEM;
    *out = r;
    return HL_OK;
}

void hl_rollup_free(hl_rollup_t *r)
{
    if (r == NULL)
        return;
    free(r->cells);
    free(r);
}

void hl_rollup_contact_from_record(const hl_record_t *rec, hl_rollup_contact_t *out)
{
    memset(out, 0, sizeof(*out));
    out->helpline_id = rec->helpline_id;
    out->started_at = rec->started_at;
    out->channel = rec->channel;
    out->contact_type = rec->contact_type;
    out->age = rec->child_age;
    out->gender = rec->child_gender;
    out->region = rec->child_region;
    for (size_t i = 0; i < rec->n_categories; i++)
        if (rec->categories[i].source != HL_CATEGORY_SUGGESTED)
            out->codes[out->n_codes++] = rec->categories[i].code;
}

bool hl_rollup_empty(const hl_rollup_t *r)
{
    return r->n == 0;
}

static int push(hl_rollup_t *r, const cell_t *proto, const char *level, const char *category,
                const char *subcategory)
{
    cell_t *c;

    if (r->n == r->cap) {
        size_t cap = r->cap == 0 ? 64 : r->cap * 2;
        cell_t *grown = realloc(r->cells, cap * sizeof(*grown));
        if (grown == NULL)
            return HL_ENOMEM;
        r->cells = grown;
        r->cap = cap;
    }
    c = &r->cells[r->n++];
    *c = *proto;
    c->level = level;
    snprintf(c->category, sizeof(c->category), "%s", category);
    snprintf(c->subcategory, sizeof(c->subcategory), "%s", subcategory);
    return HL_OK;
}

/* The top-level part of a code ("violence" of "violence.bullying"). */
static void top_of(const char *code, char out[CODE_MAX])
{
    size_t n = strcspn(code, ".");

    if (n >= CODE_MAX)
        n = CODE_MAX - 1;
    memcpy(out, code, n);
    out[n] = '\0';
}

static int add_cells(hl_rollup_t *r, const uint8_t *id, const hl_rollup_contact_t *c, int delta)
{
    cell_t proto = {0};
    char tops[HL_RECORD_MAX_CATEGORIES][CODE_MAX];
    size_t n_tops = 0;
    int64_t days = c->started_at / 86400000000LL - (c->started_at % 86400000000LL < 0 ? 1 : 0);
    time_t secs = (time_t)(days * 86400);
    struct tm tm;
    int rc;

    if (c->n_codes > HL_RECORD_MAX_CATEGORIES || days - PG_EPOCH_DAYS < INT32_MIN ||
        days - PG_EPOCH_DAYS > INT32_MAX || gmtime_r(&secs, &tm) == NULL)
        return HL_EINVAL;
    if (id != NULL) {
        proto.keyed = true;
        memcpy(proto.id, id, HL_RECORD_ID_BYTES);
    }
    proto.helpline_id = c->helpline_id;
    proto.pg_day = (int32_t)(days - PG_EPOCH_DAYS);
    snprintf(proto.day, sizeof(proto.day), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    proto.age_band = hl_contact_age_band_name(hl_contact_age_band(c->age));
    proto.gender = c->gender < 0 ? "unknown" : hl_contact_gender_name((hl_gender_t)c->gender);
    proto.region = c->region < 0 ? "unknown" : hl_contact_region_name((hl_region_t)c->region);
    proto.channel = hl_contact_channel_name(c->channel);
    proto.contact_type = hl_contact_type_name(c->contact_type);
    proto.delta = delta;
    if (proto.gender == NULL || proto.region == NULL || proto.channel == NULL || proto.contact_type == NULL)
        return HL_EINVAL;
    if ((rc = push(r, &proto, "total", "", "")) != HL_OK)
        return rc;
    for (size_t i = 0; i < c->n_codes; i++) {
        bool seen = false;
        top_of(c->codes[i], tops[n_tops]);
        for (size_t j = 0; j < n_tops; j++)
            seen = seen || strcmp(tops[j], tops[n_tops]) == 0;
        if (!seen && (rc = push(r, &proto, "category", tops[n_tops], "")) != HL_OK)
            return rc;
        if ((rc = push(r, &proto, "subcategory", tops[n_tops], c->codes[i])) != HL_OK)
            return rc;
        if (!seen)
            n_tops++;
    }
    return HL_OK;
}

int hl_rollup_add(hl_rollup_t *r, const hl_rollup_contact_t *c, int delta)
{
    return add_cells(r, NULL, c, delta);
}

int hl_rollup_add_keyed(hl_rollup_t *r, const uint8_t id[HL_RECORD_ID_BYTES], const hl_rollup_contact_t *c,
                        int delta)
{
    return add_cells(r, id, c, delta);
}

static int cell_cmp(const void *pa, const void *pb)
{
    const cell_t *a = pa, *b = pb;
    int d;

    if (a->keyed != b->keyed)
        return a->keyed ? 1 : -1;
    if (a->keyed && (d = memcmp(a->id, b->id, HL_RECORD_ID_BYTES)) != 0)
        return d;
    if (a->helpline_id != b->helpline_id)
        return a->helpline_id < b->helpline_id ? -1 : 1;
    if ((d = strcmp(a->level, b->level)) != 0 || (d = strcmp(a->day, b->day)) != 0 ||
        (d = strcmp(a->category, b->category)) != 0 || (d = strcmp(a->subcategory, b->subcategory)) != 0 ||
        (d = strcmp(a->age_band, b->age_band)) != 0 || (d = strcmp(a->gender, b->gender)) != 0 ||
        (d = strcmp(a->channel, b->channel)) != 0 || (d = strcmp(a->contact_type, b->contact_type)) != 0)
        return d;
    return strcmp(a->region, b->region);
}

/* Sorts the cells and merges equal ones (deltas summed, zero sums dropped) in place. */
static void merge(hl_rollup_t *r)
{
    size_t i = 0, m = 0;

    if (r->n == 0) /* no cells allocated yet: qsort must not see NULL */
        return;
    qsort(r->cells, r->n, sizeof(*r->cells), cell_cmp);
    while (i < r->n) {
        size_t j = i;
        int64_t sum = 0;

        for (; j < r->n && cell_cmp(&r->cells[i], &r->cells[j]) == 0; j++)
            sum += r->cells[j].delta;
        if (sum != 0) {
            r->cells[m] = r->cells[i];
            r->cells[m++].delta = sum;
        }
        i = j;
    }
    r->n = m;
}

/* ---- binary arrays (src/backend/utils/adt/arrayfuncs.c array_recv), one dimension ---- */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint32_t n;
    bool has_null, oom;
} arr_t;

static void put(arr_t *a, const void *p, size_t n)
{
    if (a->oom)
        return;
    if (a->cap - a->len < n) {
        size_t cap = a->cap ? a->cap : 256;
        uint8_t *nb;

        while (cap - a->len < n)
            cap *= 2;
        if (cap > INT32_MAX || (nb = realloc(a->buf, cap)) == NULL) {
            a->oom = true;
            return;
        }
        a->buf = nb;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

static void put_u32(arr_t *a, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(a, x, 4);
}

static void elem(arr_t *a, const void *p, size_t n)
{
    put_u32(a, (uint32_t)n);
    put(a, p, n);
    a->n++;
}

static void elem_null(arr_t *a)
{
    put_u32(a, UINT32_MAX);
    a->has_null = true;
    a->n++;
}

static void elem_i64(arr_t *a, int64_t v)
{
    uint64_t u = (uint64_t)v;
    uint8_t x[8];

    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(u >> (56 - 8 * i));
    elem(a, x, 8);
}

static void elem_i32(arr_t *a, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t x[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    elem(a, x, 4);
}

static void elem_text(arr_t *a, const char *s)
{
    elem(a, s, strlen(s));
}

/* Header of N elements of ELEM_OID; the has-null flag is patched in at the end. */
static void header(arr_t *a, uint32_t elem_oid, size_t n)
{
    put_u32(a, n > 0 ? 1 : 0);
    put_u32(a, 0);
    put_u32(a, elem_oid);
    if (n > 0) {
        put_u32(a, (uint32_t)n);
        put_u32(a, 1);
    }
}

void hl_rollup_params_free(hl_rollup_params_t *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < HL_ROLLUP_NPARAMS; i++) {
        free(p->values[i]);
        p->values[i] = NULL;
    }
}

int hl_rollup_params(hl_rollup_t *r, hl_rollup_params_t *out)
{
    static const uint32_t elem_oids[HL_ROLLUP_NPARAMS] = {OID_UUID, OID_INT8, OID_DATE, OID_TEXT,
                                                          OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT,
                                                          OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8};
    static const Oid array_oids[HL_ROLLUP_NPARAMS] = {
        OID_UUID_ARRAY, OID_INT8_ARRAY, OID_DATE_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY,
        OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_INT8_ARRAY};
    arr_t a[HL_ROLLUP_NPARAMS] = {{0}};
    int rc = HL_ENOMEM;

    merge(r);
    if (r->n > INT32_MAX)
        goto out;
    for (int k = 0; k < HL_ROLLUP_NPARAMS; k++)
        header(&a[k], elem_oids[k], r->n);
    for (size_t i = 0; i < r->n; i++) {
        const cell_t *c = &r->cells[i];

        if (c->keyed)
            elem(&a[0], c->id, HL_RECORD_ID_BYTES);
        else
            elem_null(&a[0]);
        elem_i64(&a[1], c->helpline_id);
        elem_i32(&a[2], c->pg_day);
        elem_text(&a[3], c->level);
        elem_text(&a[4], c->category);
        elem_text(&a[5], c->subcategory);
        elem_text(&a[6], c->age_band);
        elem_text(&a[7], c->gender);
        elem_text(&a[8], c->channel);
        elem_text(&a[9], c->contact_type);
        elem_text(&a[10], c->region);
        elem_i64(&a[11], c->delta);
    }
    for (int k = 0; k < HL_ROLLUP_NPARAMS; k++) {
        if (a[k].oom)
            goto out;
        if (a[k].has_null)
            a[k].buf[7] = 1; /* the has-null flag, big-endian int32 at offset 4 */
    }
    for (int k = 0; k < HL_ROLLUP_NPARAMS; k++) {
        out->values[k] = (char *)a[k].buf;
        out->lengths[k] = (int)a[k].len;
        out->types[k] = array_oids[k];
        a[k].buf = NULL;
    }
    out->n_cells = r->n;
    rc = HL_OK;
out:
    for (int k = 0; k < HL_ROLLUP_NPARAMS; k++)
        free(a[k].buf);
    return rc;
}

int hl_rollup_json(hl_rollup_t *r, char **out)
{
    json_t *arr = json_array();
    int rc = HL_ENOMEM;

    if (arr == NULL)
        return HL_ENOMEM;
    merge(r);
    for (size_t i = 0; i < r->n; i++) {
        const cell_t *c = &r->cells[i];
        json_t *row = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "h",
                                (json_int_t)c->helpline_id, "d", c->day, "l", c->level, "c", c->category,
                                "sc", c->subcategory, "a", c->age_band, "g", c->gender, "ch", c->channel, "t",
                                c->contact_type, "r", c->region, "n", (json_int_t)c->delta);
        if (row == NULL || json_array_append_new(arr, row) != 0)
            goto out;
    }
    *out = json_dumps(arr, JSON_COMPACT);
    if (*out != NULL)
        rc = HL_OK;
out:
    json_decref(arr);
    return rc;
}

int hl_rollup_apply(hl_rollup_t *r, PGconn *conn)
{
    static const int formats[HL_ROLLUP_NPARAMS] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    hl_rollup_params_t p = {.n_cells = 0};
    char *cte = NULL, *sql = NULL;
    PGresult *res = NULL;
    size_t len;
    int rc;

    if (hl_rollup_empty(r))
        return HL_OK;
    if ((rc = hl_rollup_params(r, &p)) != HL_OK || p.n_cells == 0 ||
        (rc = hl_rollup_sql(1, false, &cte)) != HL_OK)
        goto out;
    len = strlen(cte) + 32;
    rc = HL_ENOMEM;
    if ((sql = malloc(len)) == NULL)
        goto out;
    snprintf(sql, len, "WITH %s SELECT 1", cte);
    res = PQexecParams(conn, sql, HL_ROLLUP_NPARAMS, p.types, (const char *const *)p.values, p.lengths,
                       formats, 0);
    rc = HL_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        hl_log(HL_LOG_ERROR, "statistics rollup failed: SQLSTATE %s", state ? state : "?");
        rc = HL_EDB;
    }
out:
    PQclear(res);
    free(sql);
    free(cte);
    hl_rollup_params_free(&p);
    return rc;
}

/* Serialises merges (of this daemon and any other on the same database): a merge's statement
 * must see every earlier merge's cells, or it could UPDATE a cell that is not there yet. */
#define MERGE_LOCK_KEY 0x68656c706c696e65LL /* "helpline" */

int hl_rollup_merge(PGconn *conn, uint64_t *rows, uint64_t *cells)
{
    char lock_sql[64];
    PGresult *res = NULL;
    const char *state;
    uint64_t n_rows, n_cells;

    snprintf(lock_sql, sizeof(lock_sql), "SELECT pg_advisory_xact_lock(%lld)", MERGE_LOCK_KEY);
    if (hl_db_exec(conn, "BEGIN") != HL_OK)
        return HL_EDB;
    res = PQexec(conn, lock_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto fail;
    PQclear(res);
    /* The sums per cell are hash aggregates over every pending row: in memory, not spilled
     * to temporary files as with the default 4 MB (a second of a busy writer is 25,000 rows). */
    res = PQexec(conn, "SET LOCAL work_mem = '64MB'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        goto fail;
    PQclear(res);
    res = PQexec(conn, merge_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        goto fail;
    n_rows = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    n_cells = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (hl_db_exec(conn, "COMMIT") != HL_OK)
        return HL_EDB;
    *rows = n_rows;
    *cells = n_cells;
    return HL_OK;
fail:
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    hl_log(HL_LOG_ERROR, "statistics merge failed: SQLSTATE %s", state ? state : "?");
    PQclear(res);
    /* Nothing was folded; a failed ROLLBACK means the connection is gone, and with it the
     * transaction. */
    PQclear(PQexec(conn, "ROLLBACK"));
    return HL_EDB;
}
