#include "stats/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case.h"
#include "contact.h"
#include "log.h"

static const char *const dim_names[HL_STAT_N_DIMS] = {
    "category", "subcategory", "age_band",    "gender",         "channel",     "contact_type",
    "region",   "month",       "referral_to", "referral_state", "case_status", "week"};

/* The stats_daily expression of each dimension: referrals and status changes keep their values
 * in the category and subcategory columns of their levels (migration 0010). */
static const char *const dim_sql[HL_STAT_N_DIMS] = {
    "category", "subcategory",  "age_band", "gender",
    "channel",  "contact_type", "region",   "to_char(day, 'YYYY-MM')",
    "category", "subcategory",  "category", "to_char(date_trunc('week', day), 'YYYY-MM-DD')"};

static const char *const unit_names[] = {"contacts", "referrals", "status_changes"};

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

const char *hl_stats_unit_name(hl_stats_unit_t u)
{
    return (unsigned)u < HL_ARRAY_LEN(unit_names) ? unit_names[u] : NULL;
}

bool hl_stats_unit_of(const hl_stat_dim_t *dims, size_t ndims, hl_stats_unit_t *out)
{
    hl_stats_unit_t unit = HL_STATS_CONTACTS;
    bool contacts = false, others = false;

    for (size_t i = 0; i < ndims; i++) {
        hl_stats_unit_t u;

        switch (dims[i]) {
        case HL_STAT_MONTH:
        case HL_STAT_WEEK:
            continue;
        case HL_STAT_REFERRAL_TO:
        case HL_STAT_REFERRAL_STATE:
            u = HL_STATS_REFERRALS;
            break;
        case HL_STAT_CASE_STATUS:
            u = HL_STATS_STATUS_CHANGES;
            break;
        default:
            contacts = true;
            continue;
        }
        if (others && u != unit)
            return false;
        others = true;
        unit = u;
    }
    if (contacts && others)
        return false;
    *out = unit;
    return true;
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

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

bool hl_stats_first_of_month(const char *from)
{
    return atoi(from + 8) == 1;
}

bool hl_stats_last_of_month(const char *to)
{
    return atoi(to + 8) == days_in_month(atoi(to), atoi(to + 5));
}

/* Months since January of year 0 of "YYYY-MM[-DD]". */
static long month_number(const char *s)
{
    return atol(s) * 12 + atoi(s + 5) - 1;
}

/* Days since 1970-01-01 of "YYYY-MM-DD" (proleptic Gregorian; H. Hinnant's days_from_civil). */
static long day_number(const char *s)
{
    long y = atol(s), m = atoi(s + 5), d = atoi(s + 8);
    long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" of day number DAYS (civil_from_days). */
static void day_text(long days, char out[64])
{
    long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;

    snprintf(out, 64, "%04ld-%02ld-%02ld", yoe + era * 400 + (m <= 2), m, d);
}

/* The day number of the Monday of the week of day number DAYS (1970-01-01 was a Thursday). */
static long monday_of(long days)
{
    long wd = ((days + 3) % 7 + 7) % 7; /* 0 Monday .. 6 Sunday */

    return days - wd;
}

/* The ISO weeks FROM..TO touches. */
static size_t week_count(const char *from, const char *to)
{
    return (size_t)((monday_of(day_number(to)) - monday_of(day_number(from))) / 7 + 1);
}

static bool has_dim(const hl_stats_query_t *q, hl_stat_dim_t d)
{
    for (size_t i = 0; i < q->ndims; i++)
        if (q->dims[i] == d)
            return true;
    return false;
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
    free(t->slice_totals);
    free(t->slice_counts);
    free(t->counts);
    free(t);
}

/* ---- vocabularies ------------------------------------------------------------------------ */

/* The values of one dimension, in order, with a hash index (open addressing, linear probing):
 * adding and finding cost the same whatever the size, so a table costs its cells. */
typedef struct {
    char **v;
    size_t n, cap;
    size_t *slot; /* nslot entries: value index + 1, 0 when free; nslot a power of two > 2n */
    size_t nslot;
} vocab_t;

static size_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static long vocab_find(const vocab_t *vb, const char *s)
{
    if (vb->nslot == 0)
        return -1;
    for (size_t i = hash_str(s) & (vb->nslot - 1);; i = (i + 1) & (vb->nslot - 1)) {
        if (vb->slot[i] == 0)
            return -1;
        if (strcmp(vb->v[vb->slot[i] - 1], s) == 0)
            return (long)(vb->slot[i] - 1);
    }
}

static void vocab_index(size_t *slot, size_t nslot, const char *s, size_t index)
{
    size_t i = hash_str(s) & (nslot - 1);

    while (slot[i] != 0)
        i = (i + 1) & (nslot - 1);
    slot[i] = index + 1;
}

static int vocab_add(vocab_t *vb, const char *s)
{
    if (vocab_find(vb, s) >= 0)
        return HL_OK;
    if (vb->n == vb->cap) {
        size_t cap = vb->cap == 0 ? 16 : vb->cap * 2;
        char **grown = realloc(vb->v, cap * sizeof(*grown));
        if (grown == NULL)
            return HL_ENOMEM;
        vb->v = grown;
        vb->cap = cap;
    }
    if (2 * (vb->n + 1) >= vb->nslot) {
        size_t nslot = vb->nslot == 0 ? 32 : vb->nslot * 2;
        size_t *slot = calloc(nslot, sizeof(*slot));
        if (slot == NULL)
            return HL_ENOMEM;
        for (size_t i = 0; i < vb->n; i++)
            vocab_index(slot, nslot, vb->v[i], i);
        free(vb->slot);
        vb->slot = slot;
        vb->nslot = nslot;
    }
    if ((vb->v[vb->n] = strdup(s)) == NULL)
        return HL_ENOMEM;
    vocab_index(vb->slot, vb->nslot, s, vb->n);
    vb->n++;
    return HL_OK;
}

static void vocab_free(vocab_t *vb)
{
    for (size_t i = 0; i < vb->n && vb->v != NULL; i++)
        free(vb->v[i]);
    free(vb->v);
    free(vb->slot);
    memset(vb, 0, sizeof(*vb));
}

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
static const char *referral_state_name(int i)
{
    return hl_referral_state_name((hl_referral_state_t)i);
}
static const char *case_status_name(int i)
{
    return hl_case_status_name((hl_case_status_t)i);
}

/* The referral.* action codes, in the actions' order. */
static size_t referral_to_count(void)
{
    size_t n = 0;

    for (int a = 0; a < HL_CONTACT_N_ACTIONS; a++)
        n += hl_case_is_referral((hl_action_t)a);
    return n;
}

static int add_referral_to(vocab_t *vb)
{
    int rc = HL_OK;

    for (int a = 0; a < HL_CONTACT_N_ACTIONS && rc == HL_OK; a++)
        if (hl_case_is_referral((hl_action_t)a))
            rc = vocab_add(vb, hl_contact_action_name((hl_action_t)a));
    return rc;
}

/* Every month from FROM to TO, "YYYY-MM". */
static int add_months(vocab_t *vb, const char *from, const char *to)
{
    long first = month_number(from), last = month_number(to);
    char buf[48];
    int rc = HL_OK;

    for (long m = first; m <= last && rc == HL_OK; m++) {
        snprintf(buf, sizeof(buf), "%04ld-%02ld", m / 12, m % 12 + 1);
        rc = vocab_add(vb, buf);
    }
    return rc;
}

/* The Monday of every ISO week FROM..TO touches, "YYYY-MM-DD" (the first may be before FROM). */
static int add_weeks(vocab_t *vb, const char *from, const char *to)
{
    long last = monday_of(day_number(to));
    char buf[64];
    int rc = HL_OK;

    for (long w = monday_of(day_number(from)); w <= last && rc == HL_OK; w += 7) {
        day_text(w, buf);
        rc = vocab_add(vb, buf);
    }
    return rc;
}

/* How many values vocabulary() gives D, without building them (hl_stats_plan). */
static size_t vocabulary_size(const hl_taxonomy_t *tax, const hl_stats_query_t *q, hl_stat_dim_t d,
                              size_t months)
{
    size_t n = 0;

    switch (d) {
    case HL_STAT_CATEGORY:
        for (size_t i = 0; i < hl_taxonomy_category_count(tax); i++)
            n += hl_taxonomy_category_at(tax, i)->parent == NULL;
        return n;
    case HL_STAT_SUBCATEGORY:
        return hl_taxonomy_category_count(tax);
    case HL_STAT_AGE_BAND:
        return HL_CONTACT_N_AGE_BANDS;
    case HL_STAT_GENDER:
        return HL_CONTACT_N_GENDERS;
    case HL_STAT_CHANNEL:
        return HL_CONTACT_N_CHANNELS;
    case HL_STAT_CONTACT_TYPE:
        return q->counselling_only ? HL_CONTACT_TYPE_SILENT : HL_CONTACT_N_TYPES;
    case HL_STAT_REGION:
        return HL_CONTACT_N_REGIONS;
    case HL_STAT_MONTH:
        return months;
    case HL_STAT_REFERRAL_TO:
        return referral_to_count();
    case HL_STAT_REFERRAL_STATE:
        return HL_REFERRAL_N_STATES;
    case HL_STAT_CASE_STATUS:
        return HL_CASE_N_STATUSES;
    case HL_STAT_WEEK:
        return week_count(q->from, q->to);
    default:
        return 0;
    }
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
    case HL_STAT_REFERRAL_TO:
        return add_referral_to(vb);
    case HL_STAT_REFERRAL_STATE:
        return add_enum(vb, HL_REFERRAL_N_STATES, referral_state_name);
    case HL_STAT_CASE_STATUS:
        return add_enum(vb, HL_CASE_N_STATUSES, case_status_name);
    case HL_STAT_WEEK:
        return add_weeks(vb, q->from, q->to);
    default:
        return HL_EINVAL;
    }
}

/* ---- bounds ------------------------------------------------------------------------------- */

/* Checks sizes (dimension sizes SIZES, MONTHS, Q's helplines) against the bounds. */
static int check_sizes(const hl_stats_query_t *q, const size_t *sizes, size_t months, hl_stats_unit_t unit,
                       hl_stats_plan_t *out, const char **field)
{
    hl_stats_plan_t p = {.months = months, .cells = 1, .slices = 1, .slice_cells = 1, .unit = unit};

    for (size_t d = 0; d < q->ndims; d++) {
        size_t n = sizes[d] > 0 ? sizes[d] : 1;

        /* Each factor is below 2^17 after the checks, so the products cannot overflow. */
        if (n > HL_DISCLOSURE_MAX_CELLS || (p.cells *= n) > HL_DISCLOSURE_MAX_CELLS) {
            *field = "by";
            return HL_EINVAL;
        }
        if (q->dims[d] != HL_STAT_MONTH)
            p.slice_cells *= n;
    }
    if (!q->sliced) {
        p.slice_cells = p.cells;
    } else {
        p.slices = q->n_helplines * months;
        if (q->n_helplines > HL_STATS_MAX_SLICE_WORK || p.slices > HL_STATS_MAX_SLICE_WORK ||
            p.slices * p.slice_cells > HL_STATS_MAX_SLICE_WORK) {
            *field = months > 1 ? "to" : "by";
            return HL_EINVAL;
        }
    }
    *out = p;
    return HL_OK;
}

int hl_stats_plan(const hl_taxonomy_t *tax, const hl_stats_query_t *q, hl_stats_plan_t *out,
                  const char **field)
{
    long months = month_number(q->to) - month_number(q->from) + 1;
    size_t sizes[HL_DISCLOSURE_MAX_DIMS];
    hl_stats_unit_t unit;
    const char *unused;

    if (field == NULL)
        field = &unused;
    /* Slices are calendar months, which weeks straddle (docs/http-api.md). */
    if (q->ndims < 1 || q->ndims > HL_DISCLOSURE_MAX_DIMS || !hl_stats_unit_of(q->dims, q->ndims, &unit) ||
        (q->counselling_only && unit != HL_STATS_CONTACTS) || (q->sliced && has_dim(q, HL_STAT_WEEK))) {
        *field = "by";
        return HL_EINVAL;
    }
    if (months < 1 || months > HL_STATS_MAX_MONTHS) {
        *field = "to";
        return HL_EINVAL;
    }
    for (size_t d = 0; d < q->ndims; d++)
        sizes[d] = vocabulary_size(tax, q, q->dims[d], (size_t)months);
    return check_sizes(q, sizes, (size_t)months, unit, out, field);
}

/* ---- queries ------------------------------------------------------------------------------ */

/* The level of stats_daily the unit's totals are read from (one row per contact, referral or
 * status change). Dimensions of two units never get here (hl_stats_plan refuses them). */
static const char *total_level(const hl_stats_query_t *q)
{
    hl_stats_unit_t unit = HL_STATS_CONTACTS;

    if (hl_stats_unit_of(q->dims, q->ndims, &unit) && unit == HL_STATS_REFERRALS)
        return "referral";
    return unit == HL_STATS_STATUS_CHANGES ? "case_status" : "total";
}

/* The level the cells of Q are read from. */
static const char *level_of(const hl_stats_query_t *q)
{
    const char *level = total_level(q);

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
    " FROM (SELECT helpline_id, month AS day, category, subcategory, age_band, gender, channel, "            \
    "contact_type, region, contacts"                                                                         \
    " FROM stats_monthly WHERE $5::date IS NOT NULL AND helpline_id = ANY($1::int8[]) AND level = $2"        \
    " AND month BETWEEN $5::date AND $6::date" filter                                                        \
    " UNION ALL SELECT helpline_id, day, category, subcategory, age_band, gender, channel, contact_type, "   \
    "region, contacts"                                                                                       \
    " FROM stats_daily WHERE helpline_id = ANY($1::int8[]) AND level = $2 AND day BETWEEN $3::date AND "     \
    "$4::date"                                                                                               \
    " AND ($5::date IS NULL OR day < $5::date OR day >= $6::date + interval '1 month')" filter               \
    " UNION ALL SELECT helpline_id, day, category, subcategory, age_band, gender, channel, contact_type, "   \
    "region, contacts"                                                                                       \
    " FROM stats_pending WHERE helpline_id = ANY($1::int8[]) AND level = $2 AND day BETWEEN $3::date AND "   \
    "$4::date" filter ") u"
#define COUNSELLING_SQL " AND contact_type IN ('counselling', 'information', 'referral')"
/* The slice columns of a sliced query: helpline and month. */
#define SLICE_COLS "helpline_id, to_char(day, 'YYYY-MM'), "

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
    /* stats_monthly's rows have no days: a table by week reads every day from stats_daily. */
    bool months = !has_dim(q, HL_STAT_WEEK) && whole_months(q->from, q->to, first, last);
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
    PGresult *res = run(conn, q, sql, total_level(q));

    if (res == NULL)
        return HL_EDB;
    *out = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return HL_OK;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The slice of row R of a sliced result (columns helpline_id, month first), or SIZE_MAX. */
static size_t slice_of(const hl_stats_query_t *q, const hl_stats_table_t *t, PGresult *res, int r)
{
    int64_t id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
    const int64_t *h = bsearch(&id, q->helplines, q->n_helplines, sizeof(id), cmp_id);
    long m = month_number(PQgetvalue(res, r, 1)) - month_number(q->from);

    if (h == NULL || m < 0 || (size_t)m >= t->nmonths)
        return SIZE_MAX;
    return (size_t)(h - q->helplines) * t->nmonths + (size_t)m;
}

/* Per-slice contact counts of a sliced query, and their sum. */
static int fetch_slice_totals(PGconn *conn, const hl_stats_query_t *q, hl_stats_table_t *t)
{
    const char *sql = q->counselling_only
                          ? "SELECT " SLICE_COLS "sum(contacts)" SOURCE_SQL(COUNSELLING_SQL) " GROUP BY 1, 2"
                          : "SELECT " SLICE_COLS "sum(contacts)" SOURCE_SQL("") " GROUP BY 1, 2";
    PGresult *res = run(conn, q, sql, total_level(q));
    int rc = HL_OK;

    if (res == NULL)
        return HL_EDB;
    for (int r = 0; r < PQntuples(res) && rc == HL_OK; r++) {
        size_t s = slice_of(q, t, res, r);
        uint64_t n = strtoull(PQgetvalue(res, r, 2), NULL, 10);

        if (s == SIZE_MAX) {
            rc = HL_EDB;
            break;
        }
        t->slice_totals[s] += n;
        t->total += n;
    }
    PQclear(res);
    return rc;
}

/* Places the rows of RES (cells query) into T: exact counts, and per slice when sliced. */
static int place_rows(const hl_stats_query_t *q, hl_stats_table_t *t, const vocab_t *vb, PGresult *res)
{
    int off = q->sliced ? 2 : 0;

    for (int r = 0; r < PQntuples(res); r++) {
        size_t cell = 0, scell = 0, s = 0;
        uint64_t n = strtoull(PQgetvalue(res, r, off + (int)q->ndims), NULL, 10);

        for (size_t d = 0; d < q->ndims; d++) {
            size_t i = (size_t)vocab_find(&vb[d], PQgetvalue(res, r, off + (int)d));
            cell = cell * t->nvalues[d] + i;
            if (d != t->month_dim)
                scell = scell * t->nvalues[d] + i;
        }
        t->counts[cell] += n;
        if (!q->sliced)
            continue;
        if ((s = slice_of(q, t, res, r)) == SIZE_MAX)
            return HL_EDB;
        t->slice_counts[s * t->slice_ncells + scell] += n;
    }
    return HL_OK;
}

int hl_stats_fetch(PGconn *conn, const hl_taxonomy_t *tax, const hl_stats_query_t *q, hl_stats_table_t **out,
                   const char **field)
{
    hl_stats_table_t *t = NULL;
    vocab_t vb[HL_DISCLOSURE_MAX_DIMS] = {{0}};
    hl_stats_plan_t plan;
    char sql[4096], cols[256] = "";
    size_t len = 0, max_rows, sizes[HL_DISCLOSURE_MAX_DIMS];
    PGresult *res = NULL;
    const char *unused;
    int rc;

    if (field == NULL)
        field = &unused;
    if ((rc = hl_stats_plan(tax, q, &plan, field)) != HL_OK)
        return rc;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return HL_ENOMEM;
    t->ndims = q->ndims;
    t->month_dim = SIZE_MAX;
    t->unit = plan.unit;
    for (size_t d = 0; d < q->ndims; d++) {
        t->dims[d] = q->dims[d];
        if (q->dims[d] == HL_STAT_MONTH)
            t->month_dim = d;
        len += (size_t)snprintf(cols + len, sizeof(cols) - len, "%s, ", dim_sql[q->dims[d]]);
        if ((rc = vocabulary(tax, q, q->dims[d], &vb[d])) != HL_OK)
            goto out;
    }
    /* One row more than can fit tells that the data holds more values than planned. */
    max_rows = q->sliced ? HL_STATS_MAX_SLICE_WORK : HL_DISCLOSURE_MAX_CELLS;
    snprintf(sql, sizeof(sql), "SELECT %s%ssum(contacts)%s GROUP BY %s%.*s LIMIT %zu",
             q->sliced ? SLICE_COLS : "", cols,
             q->counselling_only ? SOURCE_SQL(COUNSELLING_SQL) : SOURCE_SQL(""), q->sliced ? SLICE_COLS : "",
             (int)(len - 2), cols, max_rows + 1);
    res = run(conn, q, sql, level_of(q));
    if (res == NULL) {
        rc = HL_EDB;
        goto out;
    }
    rc = HL_EINVAL;
    if ((size_t)PQntuples(res) > max_rows) {
        *field = "by";
        goto out;
    }
    /* Values the vocabulary lacks (a code of another taxonomy version) still get their cells. */
    for (int r = 0; r < PQntuples(res); r++)
        for (size_t d = 0; d < q->ndims; d++)
            if ((rc = vocab_add(&vb[d], PQgetvalue(res, r, (q->sliced ? 2 : 0) + (int)d))) != HL_OK)
                goto out;
    for (size_t d = 0; d < q->ndims; d++)
        sizes[d] = t->nvalues[d] = vb[d].n;
    if ((rc = check_sizes(q, sizes, plan.months, plan.unit, &plan, field)) != HL_OK)
        goto out;
    rc = HL_ENOMEM;
    t->ncells = plan.cells;
    if ((t->counts = calloc(t->ncells, sizeof(*t->counts))) == NULL)
        goto out;
    if (q->sliced) {
        t->nslices = plan.slices;
        t->nmonths = plan.months;
        t->slice_ncells = plan.slice_cells;
        t->slice_counts = calloc(t->nslices * t->slice_ncells, sizeof(*t->slice_counts));
        t->slice_totals = calloc(t->nslices, sizeof(*t->slice_totals));
        if (t->slice_counts == NULL || t->slice_totals == NULL)
            goto out;
    }
    if ((rc = place_rows(q, t, vb, res)) != HL_OK)
        goto out;
    rc = q->sliced ? fetch_slice_totals(conn, q, t) : hl_stats_total(conn, q, &t->total);
    if (rc != HL_OK)
        goto out;
    for (size_t d = 0; d < q->ndims; d++) {
        t->values[d] = vb[d].v;
        vb[d].v = NULL;
        vb[d].n = 0;
    }
    *out = t;
    t = NULL;
    rc = HL_OK;
out:
    for (size_t d = 0; d < HL_DISCLOSURE_MAX_DIMS; d++)
        vocab_free(&vb[d]);
    PQclear(res);
    if (t != NULL)
        memset(t->nvalues, 0, sizeof(t->nvalues)); /* the values are still the vocabularies' */
    hl_stats_table_free(t);
    return rc;
}

/* ---- disclosure control ------------------------------------------------------------------- */

static bool by_category(const hl_stats_table_t *t)
{
    for (size_t d = 0; d < t->ndims; d++)
        if (t->dims[d] == HL_STAT_CATEGORY || t->dims[d] == HL_STAT_SUBCATEGORY)
            return true;
    return false;
}

/* T back to the state of hl_disclosure_table_new, with COUNTS. */
static void reset(hl_disclosure_table_t *t, const uint64_t *counts)
{
    memcpy(t->counts, counts, t->ncells * sizeof(*counts));
    memset(t->state, HL_DISCLOSURE_PUBLISHED, t->ncells);
    for (size_t d = 0; d < t->ndims; d++)
        memset(t->line_withheld[d], 0, t->nlines[d] * sizeof(bool));
    t->total_withheld = false;
}

static bool all_zero(const uint64_t *counts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (counts[i] != 0)
            return false;
    return true;
}

int hl_stats_protect(const hl_stats_table_t *t, uint64_t k_base, uint64_t k, hl_disclosure_table_t **out,
                     uint64_t *total, bool *total_suppressed)
{
    hl_disclosure_table_t *sum = NULL, *part = NULL;
    size_t dims[HL_DISCLOSURE_MAX_DIMS + 1], pdims[HL_DISCLOSURE_MAX_DIMS], nd = t->ndims, pn = 0;
    bool slice_withheld = false, cats = by_category(t);
    uint64_t n = t->total;
    int rc;

    for (size_t d = 0; d < t->ndims; d++) {
        dims[d] = t->nvalues[d];
        if (d != t->month_dim)
            pdims[pn++] = t->nvalues[d];
    }
    /* A table of months alone: slices of one cell, a second dimension of one value for both. */
    if (t->nslices > 0 && pn == 0)
        dims[nd++] = pdims[pn++] = 1;
    if ((rc = hl_disclosure_table_new(nd, dims, &sum)) != HL_OK)
        goto out;
    if (t->nslices == 0)
        memcpy(sum->counts, t->counts, t->ncells * sizeof(*t->counts));
    else if ((rc = hl_disclosure_table_new(pn, pdims, &part)) != HL_OK)
        goto out;
    for (size_t s = 0; s < t->nslices; s++) {
        const uint64_t *counts = t->slice_counts + s * t->slice_ncells;
        uint64_t st = t->slice_totals[s];

        /* The contact count of a slice is a cell of its own, protected with the slice. */
        if (!all_zero(counts, t->slice_ncells)) {
            reset(part, counts);
            if ((rc = hl_disclosure_apply(part, k_base)) != HL_OK ||
                (rc = hl_disclosure_add(sum, part, t->month_dim, s % t->nmonths)) != HL_OK)
                goto out;
            slice_withheld |= !cats && part->total_withheld;
        }
        slice_withheld |= st > 0 && st < k_base;
    }
    /* With the slices' own k the sum of protected slices needs nothing more (hl_disclosure_add):
     * applying it would only refuse sums with over HL_DISCLOSURE_MAX_SUPPRESSED unknown cells. */
    if ((t->nslices == 0 || k != k_base) && (rc = hl_disclosure_apply(sum, k)) != HL_OK)
        goto out;
    *total = n;
    *total_suppressed = slice_withheld || (n > 0 && n < k) || (!cats && sum->total_withheld);
    *out = sum;
    sum = NULL;
out:
    hl_disclosure_table_free(part);
    hl_disclosure_table_free(sum);
    return rc;
}
