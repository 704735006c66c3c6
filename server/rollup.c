#include "rollup.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define CODE_MAX HL_RECORD_CODE_MAX

typedef struct {
    int64_t helpline_id;
    char day[32]; /* YYYY-MM-DD */
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

const char HL_ROLLUP_SQL[] =
    "WITH x AS (SELECT * FROM json_to_recordset($1::json)"
    " AS x(h int8, d date, l text, c text, sc text, a text, g text, ch text, t text, r text, n int8)),"
    " daily AS (INSERT INTO stats_daily AS s (helpline_id, day, level, category, subcategory, age_band, "
    "gender,"
    " channel, contact_type, region, contacts) SELECT h, d, l, c, sc, a, g, ch, t, r, n FROM x"
    " ON CONFLICT (helpline_id, level, day, category, subcategory, age_band, gender, channel, contact_type, "
    "region)"
    " DO UPDATE SET contacts = s.contacts + EXCLUDED.contacts)"
    " INSERT INTO stats_monthly AS s (helpline_id, month, level, category, subcategory, age_band, gender, "
    "channel,"
    " contact_type, region, contacts)"
    " SELECT h, date_trunc('month', d)::date, l, c, sc, a, g, ch, t, r, sum(n) FROM x"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ORDER BY 1, 3, 2, 4, 5, 6, 7, 8, 9, 10"
    " ON CONFLICT (helpline_id, level, month, category, subcategory, age_band, gender, channel, contact_type,"
    " region) DO UPDATE SET contacts = s.contacts + EXCLUDED.contacts";

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

int hl_rollup_add(hl_rollup_t *r, const hl_rollup_contact_t *c, int delta)
{
    cell_t proto = {0};
    char tops[HL_RECORD_MAX_CATEGORIES][CODE_MAX];
    size_t n_tops = 0;
    time_t secs = (time_t)(c->started_at / 1000000 - (c->started_at % 1000000 < 0 ? 1 : 0));
    struct tm tm;
    int rc;

    gmtime_r(&secs, &tm);
    proto.helpline_id = c->helpline_id;
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

static int cell_cmp(const void *pa, const void *pb)
{
    const cell_t *a = pa, *b = pb;
    int d;

    if (a->helpline_id != b->helpline_id)
        return a->helpline_id < b->helpline_id ? -1 : 1;
    if ((d = strcmp(a->level, b->level)) != 0 || (d = strcmp(a->day, b->day)) != 0 ||
        (d = strcmp(a->category, b->category)) != 0 || (d = strcmp(a->subcategory, b->subcategory)) != 0 ||
        (d = strcmp(a->age_band, b->age_band)) != 0 || (d = strcmp(a->gender, b->gender)) != 0 ||
        (d = strcmp(a->channel, b->channel)) != 0 || (d = strcmp(a->contact_type, b->contact_type)) != 0)
        return d;
    return strcmp(a->region, b->region);
}

int hl_rollup_json(hl_rollup_t *r, char **out)
{
    json_t *arr = json_array();
    size_t i = 0;
    int rc = HL_ENOMEM;

    if (arr == NULL)
        return HL_ENOMEM;
    qsort(r->cells, r->n, sizeof(*r->cells), cell_cmp);
    while (i < r->n) {
        const cell_t *c = &r->cells[i];
        int64_t sum = 0;
        size_t j = i;

        for (; j < r->n && cell_cmp(c, &r->cells[j]) == 0; j++)
            sum += r->cells[j].delta;
        i = j;
        if (sum == 0)
            continue;
        json_t *row = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "h",
                                (json_int_t)c->helpline_id, "d", c->day, "l", c->level, "c", c->category,
                                "sc", c->subcategory, "a", c->age_band, "g", c->gender, "ch", c->channel, "t",
                                c->contact_type, "r", c->region, "n", (json_int_t)sum);
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
    char *json = NULL;
    const char *values[1];
    PGresult *res;
    int rc;

    if (hl_rollup_empty(r))
        return HL_OK;
    rc = hl_rollup_json(r, &json);
    if (rc != HL_OK)
        return rc;
    values[0] = json;
    res = PQexecParams(conn, HL_ROLLUP_SQL, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        hl_log(HL_LOG_ERROR, "statistics rollup: %s", PQresultErrorMessage(res));
        rc = HL_EDB;
    }
    PQclear(res);
    free(json);
    return rc;
}
