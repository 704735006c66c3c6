#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contact.h"
#include "log.h"

static const char *const dim_names[HL_STAT_N_DIMS] = {"category", "subcategory",  "age_band", "gender",
                                                      "channel",  "contact_type", "region",   "month"};

/* The stats_daily expression of each dimension. */
static const char *const dim_sql[HL_STAT_N_DIMS] = {
    "category", "subcategory",  "age_band", "gender",
    "channel",  "contact_type", "region",   "to_char(day, 'YYYY-MM')"};

const char *hl_stat_dim_name(hl_stat_dim_t d)
{
    return (unsigned)d < HL_STAT_N_DIMS ? dim_names[d] : NULL;
}

bool hl_stat_dim_parse(const char *s, hl_stat_dim_t *out)
{
    for (int i = 0; i < HL_STAT_N_DIMS; i++) {
        if (strcmp(s, dim_names[i]) == 0) {
            *out = (hl_stat_dim_t)i;
            return true;
        }
    }
    return false;
}

bool hl_stats_date_valid(const char *s)
{
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    char tail;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days[m - 1])
        return false;
    return !(m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
}

void hl_stats_table_free(hl_stats_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t d = 0; d < t->ndims; d++) {
        for (size_t i = 0; i < t->nvalues[d]; i++)
            free(t->values[d][i]);
        free(t->values[d]);
    }
    free(t->counts);
    free(t);
}

/* ---- vocabularies ------------------------------------------------------------------------ */

typedef struct {
    char **v;
    size_t n, cap;
} vocab_t;

static int vocab_add(vocab_t *vb, const char *s)
{
    for (size_t i = 0; i < vb->n; i++)
        if (strcmp(vb->v[i], s) == 0)
            return HL_OK;
    if (vb->n == vb->cap) {
        size_t cap = vb->cap == 0 ? 16 : vb->cap * 2;
        char **grown = realloc(vb->v, cap * sizeof(*grown));
        if (grown == NULL)
            return HL_ENOMEM;
        vb->v = grown;
        vb->cap = cap;
    }
    if ((vb->v[vb->n] = strdup(s)) == NULL)
        return HL_ENOMEM;
    vb->n++;
    return HL_OK;
}

static long vocab_find(const vocab_t *vb, const char *s)
{
    for (size_t i = 0; i < vb->n; i++)
        if (strcmp(vb->v[i], s) == 0)
            return (long)i;
    return -1;
}

typedef const char *(*name_fn)(int);

static int add_enum(vocab_t *vb, int n, const char *(*name)(int))
{
    int rc = HL_OK;

    for (int i = 0; i < n && rc == HL_OK; i++)
        rc = vocab_add(vb, name(i));
    return rc;
}

/* Adapters: the contact.h helpers take their own enum types. */
static const char *age_band_name(int i)
{
    return hl_contact_age_band_name((hl_age_band_t)i);
}
static const char *gender_name(int i)
{
    return hl_contact_gender_name((hl_gender_t)i);
}
static const char *channel_name(int i)
{
    return hl_contact_channel_name((hl_channel_t)i);
}
static const char *type_name(int i)
{
    return hl_contact_type_name((hl_contact_type_t)i);
}
static const char *region_name(int i)
{
    return hl_contact_region_name((hl_region_t)i);
}

/* Every month from FROM to TO, "YYYY-MM". */
static int add_months(vocab_t *vb, const char *from, const char *to)
{
    int y = atoi(from), m = atoi(from + 5), ty = atoi(to), tm = atoi(to + 5);
    char buf[16];
    int rc = HL_OK;

    while (rc == HL_OK && (y < ty || (y == ty && m <= tm))) {
        snprintf(buf, sizeof(buf), "%04d-%02d", y, m);
        rc = vocab_add(vb, buf);
        if (++m > 12) {
            m = 1;
            y++;
        }
    }
    return rc;
}

static int vocabulary(const hl_taxonomy_t *tax, const hl_stats_query_t *q, hl_stat_dim_t d, vocab_t *vb)
{
    int rc = HL_OK;

    switch (d) {
    case HL_STAT_CATEGORY:
    case HL_STAT_SUBCATEGORY:
        for (size_t i = 0; i < hl_taxonomy_category_count(tax) && rc == HL_OK; i++) {
            const hl_taxonomy_category_t *c = hl_taxonomy_category_at(tax, i);
            if (d == HL_STAT_SUBCATEGORY || c->parent == NULL)
                rc = vocab_add(vb, c->code);
        }
        return rc;
    case HL_STAT_AGE_BAND:
        return add_enum(vb, HL_CONTACT_N_AGE_BANDS, age_band_name);
    case HL_STAT_GENDER:
        return add_enum(vb, HL_CONTACT_N_GENDERS, gender_name);
    case HL_STAT_CHANNEL:
        return add_enum(vb, HL_CONTACT_N_CHANNELS, channel_name);
    case HL_STAT_CONTACT_TYPE:
        return add_enum(vb, q->counselling_only ? HL_CONTACT_TYPE_SILENT : HL_CONTACT_N_TYPES, type_name);
    case HL_STAT_REGION:
        return add_enum(vb, HL_CONTACT_N_REGIONS, region_name);
    case HL_STAT_MONTH:
        return add_months(vb, q->from, q->to);
    default:
        return HL_EINVAL;
    }
}

/* ---- queries ------------------------------------------------------------------------------ */

static const char *level_of(const hl_stats_query_t *q)
{
    const char *level = "total";

    for (size_t i = 0; i < q->ndims; i++) {
        if (q->dims[i] == HL_STAT_SUBCATEGORY)
            return "subcategory";
        if (q->dims[i] == HL_STAT_CATEGORY)
            level = "category";
    }
    return level;
}

static char *helplines_array(const hl_stats_query_t *q)
{
    size_t cap = 4 + q->n_helplines * 21, len = 0;
    char *s = malloc(cap);

    if (s == NULL)
        return NULL;
    s[len++] = '{';
    for (size_t i = 0; i < q->n_helplines; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%lld", i > 0 ? "," : "", (long long)q->helplines[i]);
    snprintf(s + len, cap - len, "}");
    return s;
}

/*
 * The cells of a date range: whole calendar months from stats_monthly, the days of partial
 * months at either end from stats_daily ($3..$4 the range, $5..$6 the first days of the
 * first and last whole month, NULL when there is none), and the deltas of the range not yet
 * merged into either (stats_pending: a few seconds of writes, read whole). One statement, one
 * snapshot: a merge commits its deletion and its cells at once, so a row counts exactly once.
 */
#define SOURCE_SQL(filter)                                                                                   \
    " FROM (SELECT month AS day, category, subcategory, age_band, gender, channel, contact_type, region, "   \
    "contacts"                                                                                               \
    " FROM stats_monthly WHERE $5::date IS NOT NULL AND helpline_id = ANY($1::int8[]) AND level = $2"        \
    " AND month BETWEEN $5::date AND $6::date" filter                                                        \
    " UNION ALL SELECT day, category, subcategory, age_band, gender, channel, contact_type, region, "        \
    "contacts"                                                                                               \
    " FROM stats_daily WHERE helpline_id = ANY($1::int8[]) AND level = $2 AND day BETWEEN $3::date AND "     \
    "$4::date"                                                                                               \
    " AND ($5::date IS NULL OR day < $5::date OR day >= $6::date + interval '1 month')" filter               \
    " UNION ALL SELECT day, category, subcategory, age_band, gender, channel, contact_type, region, "        \
    "contacts"                                                                                               \
    " FROM stats_pending WHERE helpline_id = ANY($1::int8[]) AND level = $2 AND day BETWEEN $3::date AND "   \
    "$4::date" filter ") u"
#define COUNSELLING_SQL " AND contact_type IN ('counselling', 'information', 'referral')"

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

/* The first days of the first and last whole month within FROM..TO; false when none. */
static bool whole_months(const char *from, const char *to, char first[16], char last[16])
{
    int fy = atoi(from), fm = atoi(from + 5), fd = atoi(from + 8);
    int ty = atoi(to), tm = atoi(to + 5), td = atoi(to + 8);

    if (fd != 1 && ++fm > 12) {
        fm = 1;
        fy++;
    }
    if (td != days_in_month(ty, tm) && --tm < 1) {
        tm = 12;
        ty--;
    }
    if (fy > ty || (fy == ty && fm > tm))
        return false;
    snprintf(first, 16, "%04d-%02d-01", fy, fm);
    snprintf(last, 16, "%04d-%02d-01", ty, tm);
    return true;
}

static PGresult *run(PGconn *conn, const hl_stats_query_t *q, const char *sql, const char *level)
{
    char *helplines = helplines_array(q);
    char first[16], last[16];
    bool months = whole_months(q->from, q->to, first, last);
    const char *values[6] = {helplines, level, q->from, q->to, months ? first : NULL, months ? last : NULL};
    PGresult *res;

    if (helplines == NULL)
        return NULL;
    res = PQexecParams(conn, sql, 6, NULL, values, NULL, NULL, 0);
    free(helplines);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_log(HL_LOG_ERROR, "statistics query failed: %s", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

int hl_stats_total(PGconn *conn, const hl_stats_query_t *q, uint64_t *out)
{
    const char *sql = q->counselling_only ? "SELECT coalesce(sum(contacts), 0)" SOURCE_SQL(COUNSELLING_SQL)
                                          : "SELECT coalesce(sum(contacts), 0)" SOURCE_SQL("");
    PGresult *res = run(conn, q, sql, "total");

    if (res == NULL)
        return HL_EDB;
    *out = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return HL_OK;
}

int hl_stats_fetch(PGconn *conn, const hl_taxonomy_t *tax, const hl_stats_query_t *q, hl_stats_table_t **out)
{
    hl_stats_table_t *t = calloc(1, sizeof(*t));
    vocab_t vb[HL_DISCLOSURE_MAX_DIMS] = {{0}};
    char sql[4096], cols[256] = "";
    size_t len = 0;
    PGresult *res = NULL;
    int rc = HL_ENOMEM;

    if (t == NULL)
        return HL_ENOMEM;
    t->ndims = q->ndims;
    for (size_t d = 0; d < q->ndims; d++) {
        t->dims[d] = q->dims[d];
        len += (size_t)snprintf(cols + len, sizeof(cols) - len, "%s, ", dim_sql[q->dims[d]]);
        if ((rc = vocabulary(tax, q, q->dims[d], &vb[d])) != HL_OK)
            goto out;
    }
    snprintf(sql, sizeof(sql), "SELECT %ssum(contacts)%s GROUP BY %.*s", cols,
             q->counselling_only ? SOURCE_SQL(COUNSELLING_SQL) : SOURCE_SQL(""), (int)(len - 2), cols);
    res = run(conn, q, sql, level_of(q));
    if (res == NULL) {
        rc = HL_EDB;
        goto out;
    }
    /* Values the vocabulary lacks (a code of another taxonomy version) still get their cells. */
    for (int r = 0; r < PQntuples(res); r++)
        for (size_t d = 0; d < q->ndims; d++)
            if ((rc = vocab_add(&vb[d], PQgetvalue(res, r, (int)d))) != HL_OK)
                goto out;
    t->ncells = 1;
    for (size_t d = 0; d < q->ndims; d++) {
        t->nvalues[d] = vb[d].n;
        t->values[d] = vb[d].v;
        vb[d].v = NULL;
        t->ncells *= t->nvalues[d];
    }
    if (t->ncells > HL_DISCLOSURE_MAX_CELLS) {
        rc = HL_EINVAL;
        goto out;
    }
    t->counts = calloc(t->ncells, sizeof(*t->counts));
    if (t->counts == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        size_t cell = 0;
        for (size_t d = 0; d < q->ndims; d++) {
            vocab_t view = {t->values[d], t->nvalues[d], t->nvalues[d]};
            cell = cell * t->nvalues[d] + (size_t)vocab_find(&view, PQgetvalue(res, r, (int)d));
        }
        t->counts[cell] += strtoull(PQgetvalue(res, r, (int)q->ndims), NULL, 10);
    }
    *out = t;
    t = NULL;
    rc = HL_OK;
out:
    for (size_t d = 0; d < HL_DISCLOSURE_MAX_DIMS; d++) {
        for (size_t i = 0; i < vb[d].n && vb[d].v != NULL; i++)
            free(vb[d].v[i]);
        free(vb[d].v);
    }
    PQclear(res);
    hl_stats_table_free(t);
    return rc;
}

int hl_stats_disclosure_table(const hl_stats_table_t *t, hl_disclosure_table_t **out)
{
    hl_disclosure_table_t *dt = NULL;
    int rc = hl_disclosure_table_new(t->ndims, t->nvalues, &dt);

    if (rc != HL_OK)
        return rc;
    memcpy(dt->counts, t->counts, t->ncells * sizeof(*t->counts));
    *out = dt;
    return HL_OK;
}
