#include "casework/contact_list.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contact.h"
#include "log.h"

#define MAX_PARAMS 16
#define SQL_MAX    2048

/* A query under construction: SQL text of constant fragments, values only as parameters. */
typedef struct builder {
    char sql[SQL_MAX];
    size_t len;
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS];
    int formats[MAX_PARAMS];
    int n;
    bool overflow;
} builder_t;

static void append(builder_t *b, const char *text)
{
    size_t n = strlen(text);

    if (n >= sizeof(b->sql) - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->sql + b->len, text, n + 1);
    b->len += n;
}

/* Appends BEFORE "$N" AFTER, N the number of VALUE (LEN bytes, sent binary when LEN > 0). */
static void cond(builder_t *b, const char *before, const char *value, int len, const char *after)
{
    char ref[16];

    if (b->n == MAX_PARAMS) {
        b->overflow = true;
        return;
    }
    b->values[b->n] = value;
    b->lengths[b->n] = len;
    b->formats[b->n] = len > 0;
    b->n++;
    snprintf(ref, sizeof(ref), "$%d", b->n);
    append(b, before);
    append(b, ref);
    append(b, after);
}

/* A text[] literal of the codes, each quoted. */
static char *codes_literal(const hl_contact_list_query_t *q)
{
    size_t cap = 3, used = 0;
    char *s;

    for (size_t i = 0; i < q->n_codes; i++)
        cap += 2 * strlen(q->codes[i]) + 3;
    if ((s = malloc(cap)) == NULL)
        return NULL;
    s[used++] = '{';
    for (size_t i = 0; i < q->n_codes; i++) {
        if (i > 0)
            s[used++] = ',';
        s[used++] = '"';
        for (const char *p = q->codes[i]; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\')
                s[used++] = '\\';
            s[used++] = *p;
        }
        s[used++] = '"';
    }
    s[used++] = '}';
    s[used] = '\0';
    return s;
}

static json_t *nullable(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* One row of the SELECT below as api.md's item. */
static json_t *item_of(const PGresult *res, int row, int64_t *us)
{
    char started[HL_CONTACT_TIME_LEN];
    json_t *item, *codes;

    *us = strtoll(PQgetvalue(res, row, 1), NULL, 10);
    if (!hl_contact_time_format(*us, started))
        return NULL;
    codes = PQgetisnull(res, row, 7) ? json_array() : json_loads(PQgetvalue(res, row, 7), 0, NULL);
    if (!json_is_array(codes)) {
        json_decref(codes);
        return NULL;
    }
    item = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id", PQgetvalue(res, row, 0), "started_at",
                     started, "channel", PQgetvalue(res, row, 2), "contact_type", PQgetvalue(res, row, 3),
                     "counsellor", nullable(res, row, 4), "categories", codes, "urgency",
                     nullable(res, row, 5), "case_id", nullable(res, row, 6));
    return item;
}

/*
 * Whether the category's rows are few (fewer than Q->drive_max in contact_categories, every
 * helpline and source counted): then the page is found from them, through their index, and
 * sorted; else by walking the helpline's contacts newest first until enough of them match. A
 * walk costs about limit / (share of contacts in the category) rows, a few for a common
 * category, the whole helpline for one that is rare or only in old contacts; PostgreSQL's
 * estimate does not choose well between the two (2.5 s for a category of 0.5 % of 200,000
 * contacts, docs/http-api.md). The count stops at drive_max rows: an index-only scan.
 */
static int few_in_category(PGconn *conn, const char *codes, unsigned drive_max, bool *few)
{
    char limit[16];
    const char *values[2] = {codes, limit};
    PGresult *res;
    int rc = HL_OK;

    *few = false;
    if (drive_max == 0)
        return HL_OK;
    snprintf(limit, sizeof(limit), "%u", drive_max);
    res = PQexecParams(conn,
                       "SELECT count(*) FROM (SELECT 1 FROM contact_categories "
                       "WHERE code = ANY ($1::text[]) LIMIT $2::int8) s",
                       2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        hl_log(HL_LOG_ERROR, "contact list: category count failed (SQLSTATE %s)",
               state != NULL ? state : "none");
        rc = HL_EDB;
    } else {
        *few = strtoull(PQgetvalue(res, 0, 0), NULL, 10) < drive_max;
    }
    PQclear(res);
    return rc;
}

int hl_contact_list_fetch(PGconn *conn, const hl_contact_list_query_t *q, hl_contact_list_page_t *out)
{
    builder_t b = {.len = 0};
    char helpline[24], limit[16], from[HL_CONTACT_TIME_LEN], to[HL_CONTACT_TIME_LEN],
        after[HL_CONTACT_TIME_LEN];
    char after_id[HL_RECORD_UUID_LEN + 1];
    char *codes = NULL;
    PGresult *res = NULL;
    json_t *items = NULL;
    uint8_t last_id[HL_RECORD_ID_BYTES];
    int64_t us = 0;
    bool more, few = false;
    int rc = HL_ENOMEM, rows;

    if (q->limit < 1 || q->limit > 200)
        return HL_EINVAL;
    snprintf(helpline, sizeof(helpline), "%" PRId64, q->helpline_id);
    snprintf(limit, sizeof(limit), "%u", q->limit + 1); /* one more: is there a next page? */
    if (q->n_codes > 0) {
        if ((codes = codes_literal(q)) == NULL)
            goto out;
        if ((rc = few_in_category(conn, codes, q->drive_max, &few)) != HL_OK)
            goto out;
        rc = HL_ENOMEM;
    }
    /* The page itself (inner query) is found from contacts alone, through an index on
     * (helpline_id[, counsellor], started_at[, id]) read backwards; only its rows get their
     * categories (outer query), so no filter's cost grows with the categories of skipped rows. */
    append(&b,
           "SELECT p.id, (extract(epoch FROM p.started_at) * 1000000)::int8, p.channel, p.contact_type, "
           "p.counsellor, p.urgency, p.case_id, "
           "(SELECT array_to_json(array_agg(k.code ORDER BY k.code))::text FROM contact_categories k "
           "WHERE k.contact_id = p.id AND k.source <> 'suggested') "
           "FROM (SELECT c.id, c.started_at, c.channel, c.contact_type, c.counsellor, c.urgency, cc.case_id "
           "FROM contacts c LEFT JOIN case_contacts cc ON cc.contact_id = c.id WHERE ");
    cond(&b, "c.helpline_id = ", helpline, 0, "");
    if (q->counsellor != NULL)
        cond(&b, " AND c.counsellor = ", q->counsellor, 0, "");
    if (q->has_from) {
        if (!hl_contact_time_format(q->from_us, from))
            goto bad;
        cond(&b, " AND c.started_at >= ", from, 0, "::timestamptz");
    }
    if (q->has_to) {
        if (!hl_contact_time_format(q->to_us, to))
            goto bad;
        cond(&b, " AND c.started_at < ", to, 0, "::timestamptz");
    }
    if (q->channel != NULL)
        cond(&b, " AND c.channel = ", q->channel, 0, "");
    if (q->contact_type != NULL)
        cond(&b, " AND c.contact_type = ", q->contact_type, 0, "");
    if (q->urgency != NULL)
        cond(&b, " AND c.urgency = ", q->urgency, 0, "");
    if (q->has_phone)
        cond(&b, " AND c.caller_phone_bidx = ", (const char *)q->phone_bidx, HL_CRYPTO_BLIND_INDEX_BYTES,
             "::bytea");
    /* On the join column, so that PostgreSQL plans an anti join (walking the newest contacts)
     * rather than joining every contact with every link (cc.case_id IS NULL did, 0.5 s). */
    if (q->case_mode == HL_CONTACT_LIST_CASE_NONE)
        append(&b, " AND cc.contact_id IS NULL");
    else if (q->case_mode == HL_CONTACT_LIST_CASE_ID)
        cond(&b, " AND cc.case_id = ", q->case_id, 0, "::uuid");
    if (q->n_codes > 0) {
        if (few) /* an array computed once: the contacts are fetched by id, then sorted */
            cond(&b,
                 " AND c.id = ANY (ARRAY(SELECT f.contact_id FROM contact_categories f "
                 "WHERE f.code = ANY (",
                 codes, 0, "::text[]) AND f.source <> 'suggested'))");
        else
            cond(&b,
                 " AND EXISTS (SELECT 1 FROM contact_categories f WHERE f.contact_id = c.id "
                 "AND f.code = ANY (",
                 codes, 0, "::text[]) AND f.source <> 'suggested')");
    }
    if (q->has_after) {
        if (!hl_contact_time_format(q->after_us, after))
            goto bad;
        hl_record_id_to_text(q->after_id, after_id);
        cond(&b, " AND (c.started_at, c.id) < (", after, 0, "::timestamptz, ");
        cond(&b, "", after_id, 0, "::uuid)");
    }
    cond(&b, " ORDER BY c.started_at DESC, c.id DESC LIMIT ", limit, 0, "::int8) p");
    append(&b, " ORDER BY p.started_at DESC, p.id DESC");
    if (b.overflow)
        goto bad;
    res = PQexecParams(conn, b.sql, b.n, NULL, b.values, b.lengths, b.formats, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* The SQLSTATE only: a message may quote a value. */
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        hl_log(HL_LOG_ERROR, "contact list query failed (SQLSTATE %s)", state != NULL ? state : "none");
        rc = HL_EDB;
        goto out;
    }
    if ((items = json_array()) == NULL)
        goto out;
    rows = PQntuples(res);
    more = rows > (int)q->limit;
    if (more)
        rows = (int)q->limit;
    for (int r = 0; r < rows; r++) {
        json_t *item = item_of(res, r, &us);
        if (item == NULL || json_array_append_new(items, item) != 0)
            goto out;
        if (r == rows - 1 && more && !hl_record_id_from_text(PQgetvalue(res, r, 0), last_id)) {
            rc = HL_EDB;
            goto out;
        }
    }
    out->more = more;
    out->last_us = us;
    if (more)
        memcpy(out->last_id, last_id, sizeof(last_id));
    out->items = items;
    items = NULL;
    rc = HL_OK;
    goto out;
bad:
    rc = HL_EINVAL;
out:
    json_decref(items);
    PQclear(res);
    free(codes);
    return rc;
}

int hl_contact_list_phone_of(PGconn *conn, int64_t helpline_id, const char *id, bool *has_phone,
                             uint8_t bidx[HL_CRYPTO_BLIND_INDEX_BYTES], char **counsellor)
{
    char helpline[24];
    const char *values[2] = {id, helpline};
    PGresult *res;
    int rc = HL_OK;

    snprintf(helpline, sizeof(helpline), "%" PRId64, helpline_id);
    /* Binary results: the blind index as its 16 bytes. */
    res = PQexecParams(conn,
                       "SELECT caller_phone_bidx, convert_to(counsellor, 'UTF8') FROM contacts "
                       "WHERE id = $1::uuid AND helpline_id = $2::int8",
                       2, NULL, values, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = HL_EDB;
        goto out;
    }
    if (PQntuples(res) == 0) {
        rc = HL_ENOTFOUND;
        goto out;
    }
    *counsellor = NULL;
    if (!PQgetisnull(res, 0, 1) &&
        (*counsellor = strndup(PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1))) == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    *has_phone = !PQgetisnull(res, 0, 0) && PQgetlength(res, 0, 0) == HL_CRYPTO_BLIND_INDEX_BYTES;
    if (*has_phone)
        memcpy(bidx, PQgetvalue(res, 0, 0), HL_CRYPTO_BLIND_INDEX_BYTES);
out:
    PQclear(res);
    return rc;
}
