#include "casework/cases.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/dbpool.h"
#include "log.h"

#define EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::int8"
#define US_TS(param)  "('epoch'::timestamptz + " param "::int8 * interval '1 microsecond')"

#define AD_ID_MAX (2 * HL_RECORD_UUID_LEN + 2)

/* ---- helpers ------------------------------------------------------------------------------- */

/* R, the result of WHAT: anything but WANT is logged (PostgreSQL's primary message and SQLSTATE
 * only: its DETAIL may quote values) and gives HL_EDB. The caller PQclear()s *RES on success. */
static int check(PGconn *conn, const char *what, PGresult *r, ExecStatusType want, PGresult **res)
{
    if (PQresultStatus(r) != want) {
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        hl_log(HL_LOG_ERROR, "cases (%s): PostgreSQL %s: %.200s", what, state != NULL ? state : "-",
               msg != NULL ? msg : PQerrorMessage(conn));
        PQclear(r);
        return HL_EDB;
    }
    if (res != NULL)
        *res = r;
    else
        PQclear(r);
    return HL_OK;
}

/* Runs SQL, a statement by key, prepared on the pool's connections (hl_dbpool_exec): results
 * as text. */
static int run(PGconn *conn, const char *what, const char *sql, int n, const char *const *values,
               const int *lengths, const int *formats, ExecStatusType want, PGresult **res)
{
    return check(conn, what, hl_dbpool_exec(conn, sql, n, values, lengths, formats, 0), want, res);
}

/* The same with binary results (read with i64(), flag(), take_bytea() and, for text, copy()):
 * sealed columns come as they are stored, not as hex to be unescaped. */
static int run_binary(PGconn *conn, const char *what, const char *sql, int n, const char *const *values,
                      const int *lengths, const int *formats, ExecStatusType want, PGresult **res)
{
    return check(conn, what, hl_dbpool_exec(conn, sql, n, values, lengths, formats, 1), want, res);
}

static void sealed_clear(hl_sealed_t *s)
{
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

/* A bytea column of a binary result into OUT (NULL stays "none"). */
static int take_bytea(const PGresult *res, int row, int col, hl_sealed_t *out)
{
    size_t len = (size_t)PQgetlength(res, row, col);

    if (PQgetisnull(res, row, col))
        return HL_OK;
    if ((out->data = malloc(len > 0 ? len : 1)) == NULL)
        return HL_ENOMEM;
    memcpy(out->data, PQgetvalue(res, row, col), len);
    out->len = len;
    return HL_OK;
}

/* An int8 column of a binary result (big-endian); 0 for NULL. */
static int64_t i64(const PGresult *res, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;

    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* A boolean column of a binary result; false for NULL. */
static bool flag(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetlength(res, row, col) == 1 &&
           PQgetvalue(res, row, col)[0] != 0;
}

/* An integer column of a text result; 0 for NULL. */
static int64_t num(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Decimal text of V into BUF, or NULL (SQL NULL) when !SET. */
static const char *opt_num(char buf[24], bool set, int64_t v)
{
    if (!set)
        return NULL;
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

static void copy(char *dst, size_t cap, const PGresult *res, int row, int col)
{
    snprintf(dst, cap, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

static const char *ad_id(char buf[AD_ID_MAX], const char *case_id, const char *sub_id)
{
    if (sub_id == NULL)
        return case_id;
    snprintf(buf, AD_ID_MAX, "%s/%s", case_id, sub_id);
    return buf;
}

/* ---- sealing ------------------------------------------------------------------------------- */

int hl_cases_seal(hl_crypto_keyring_t *kr, const char *table, const char *column, const char *case_id,
                  const char *sub_id, const char *pt, hl_sealed_t *out)
{
    char buf[AD_ID_MAX];
    hl_crypto_ad_t ad = {table, column, ad_id(buf, case_id, sub_id)};
    size_t len, cap;
    int rc;

    sealed_clear(out);
    if (pt == NULL)
        return HL_OK;
    len = strlen(pt);
    cap = HL_CRYPTO_SEALED_LEN(len);
    if ((out->data = malloc(cap)) == NULL)
        return HL_ENOMEM;
    rc = hl_crypto_seal(kr, &ad, (const uint8_t *)pt, len, out->data, cap, &out->len);
    if (rc != HL_OK)
        sealed_clear(out);
    return rc;
}

int hl_cases_open(hl_crypto_keyring_t *kr, const char *table, const char *column, const char *case_id,
                  const char *sub_id, const hl_sealed_t *ct, char **pt, size_t *ptlen)
{
    char buf[AD_ID_MAX];
    hl_crypto_ad_t ad = {table, column, ad_id(buf, case_id, sub_id)};
    int rc;

    *pt = NULL;
    *ptlen = 0;
    if (ct->data == NULL)
        return HL_OK;
    rc = hl_crypto_open_alloc(kr, &ad, ct->data, ct->len, pt, ptlen);
    if (rc != HL_OK)
        hl_log(HL_LOG_ERROR, "case %s: sealed %s.%s of %s did not open", case_id, table, column,
               sub_id != NULL ? sub_id : "the case");
    return rc;
}

/* ---- cases --------------------------------------------------------------------------------- */

enum {
    C_ID,
    C_HELPLINE,
    C_CREATED_BY,
    C_CREATED_BY_NAME,
    C_ASSIGNED,
    C_ASSIGNED_NAME,
    C_STATUS,
    C_PRIORITY,
    C_FOLLOW_UP,
    C_CREATED,
    C_UPDATED,
    C_CLOSED,
    C_CONTACTS,
    C_LABEL,
    C_SUMMARY
};

#define CASE_COLUMNS(sealed)                                                                                 \
    "SELECT c.id::text, c.helpline_id, c.created_by, cu.name, c.assigned_to, au.name, c.status, "            \
    "c.priority, " EPOCH_US("c.follow_up_at") ", " EPOCH_US("c.created_at") ", " EPOCH_US(                   \
        "c.updated_at") ", " EPOCH_US("c.closed_at") ", "                                                    \
                                                     "(SELECT count(*) FROM case_contacts cc WHERE "         \
                                                     "cc.case_id = c.id), " sealed                           \
                                                     " FROM cases c JOIN users cu ON cu.id = c.created_by "  \
                                                     "LEFT JOIN users au ON au.id = c.assigned_to "

void hl_case_row_clear(hl_case_row_t *c)
{
    sealed_clear(&c->label);
    sealed_clear(&c->summary);
}

static int decode_case(const PGresult *res, int row, hl_case_row_t *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    copy(c->id, sizeof(c->id), res, row, C_ID);
    c->helpline_id = i64(res, row, C_HELPLINE);
    c->created_by = i64(res, row, C_CREATED_BY);
    copy(c->created_by_name, sizeof(c->created_by_name), res, row, C_CREATED_BY_NAME);
    c->assigned_to = i64(res, row, C_ASSIGNED);
    copy(c->assigned_to_name, sizeof(c->assigned_to_name), res, row, C_ASSIGNED_NAME);
    if (!hl_case_status_parse(PQgetvalue(res, row, C_STATUS), &c->status) ||
        !hl_case_priority_parse(PQgetvalue(res, row, C_PRIORITY), &c->priority)) {
        hl_log(HL_LOG_ERROR, "case %s: a stored value is outside helpline's vocabularies", c->id);
        return HL_EDB;
    }
    c->has_follow_up = !PQgetisnull(res, row, C_FOLLOW_UP);
    c->follow_up_at = i64(res, row, C_FOLLOW_UP);
    c->created_at = i64(res, row, C_CREATED);
    c->updated_at = i64(res, row, C_UPDATED);
    c->has_closed = !PQgetisnull(res, row, C_CLOSED);
    c->closed_at = i64(res, row, C_CLOSED);
    c->contacts_count = i64(res, row, C_CONTACTS);
    if ((rc = take_bytea(res, row, C_LABEL, &c->label)) != HL_OK ||
        (rc = take_bytea(res, row, C_SUMMARY, &c->summary)) != HL_OK)
        hl_case_row_clear(c);
    return rc;
}

int hl_cases_load(PGconn *conn, int64_t helpline_id, const char *id, bool for_update, bool with_sealed,
                  hl_case_row_t *out)
{
    static const char sealed[] = CASE_COLUMNS("c.label, c.summary") "WHERE c.id = $1 AND c.helpline_id = $2";
    static const char plain[] =
        CASE_COLUMNS("NULL::bytea, NULL::bytea") "WHERE c.id = $1 AND c.helpline_id = $2";
    char hl[24], sql[sizeof(sealed) + 32];
    const char *values[2] = {id, hl};
    PGresult *res = NULL;
    int rc;

    snprintf(hl, sizeof(hl), "%lld", (long long)helpline_id);
    snprintf(sql, sizeof(sql), "%s%s", with_sealed ? sealed : plain, for_update ? " FOR UPDATE OF c" : "");
    if ((rc = run_binary(conn, "load", sql, 2, values, NULL, NULL, PGRES_TUPLES_OK, &res)) != HL_OK)
        return rc;
    rc = PQntuples(res) == 0 ? HL_ENOTFOUND : decode_case(res, 0, out);
    PQclear(res);
    return rc;
}

int hl_cases_read(PGconn *conn, const hl_case_caller_t *who, const char *id, const char *audit_action,
                  hl_case_row_t *out, bool *audited)
{
    /* The case with its sealed fields, and in the same statement (one transaction, committed
     * before the row reaches helplined) the audit row of access/audit.c's
     * hl_audit_write_case when the reader is one of the case's writers. */
    static const char sql[] =
        "WITH c AS (" CASE_COLUMNS("c.label, c.summary") "WHERE c.id = $1 AND c.helpline_id = $2), "
                                                         "a AS (INSERT INTO audit_log (helpline_id, user_id, "
                                                         "action, case_id) SELECT $2, $3, $4, $1 FROM c "
                                                         "WHERE $5::bool OR c.created_by = $6::int8 OR "
                                                         "c.assigned_to = $6::int8 RETURNING 1) "
                                                         "SELECT c.*, (SELECT count(*) FROM a) FROM c";
    char hl[24], user[24], writer[24];
    const char *values[6] = {id,
                             opt_num(hl, true, who->helpline_id),
                             opt_num(user, who->user_id > 0, who->user_id),
                             audit_action,
                             who->any_case ? "true" : "false",
                             opt_num(writer, who->writer_id > 0, who->writer_id)};
    PGresult *res = NULL;
    int rc;

    *audited = false;
    if ((rc = run_binary(conn, "read", sql, 6, values, NULL, NULL, PGRES_TUPLES_OK, &res)) != HL_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rc = HL_ENOTFOUND;
    } else {
        rc = decode_case(res, 0, out);
        *audited = i64(res, 0, C_SUMMARY + 1) == 1;
    }
    PQclear(res);
    return rc;
}

int hl_cases_user(PGconn *conn, int64_t helpline_id, const char *name, int64_t *id, char role[16],
                  bool *revoked)
{
    char hl[24];
    const char *values[2] = {hl, name};
    PGresult *res = NULL;
    int rc;

    snprintf(hl, sizeof(hl), "%lld", (long long)helpline_id);
    rc = run(conn, "user",
             "SELECT id, role, revoked_at IS NOT NULL FROM users WHERE helpline_id = $1 AND name = $2", 2,
             values, NULL, NULL, PGRES_TUPLES_OK, &res);
    if (rc != HL_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rc = HL_ENOTFOUND;
    } else {
        *id = num(res, 0, 0);
        snprintf(role, 16, "%s", PQgetvalue(res, 0, 1));
        *revoked = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    }
    PQclear(res);
    return rc;
}

int hl_cases_contact(PGconn *conn, int64_t helpline_id, const char *contact_id,
                     char counsellor[HL_CASES_NAME_MAX + 1])
{
    char hl[24];
    const char *values[2] = {contact_id, hl};
    PGresult *res = NULL;
    int rc;

    snprintf(hl, sizeof(hl), "%lld", (long long)helpline_id);
    rc = run(conn, "contact", "SELECT counsellor FROM contacts WHERE id = $1 AND helpline_id = $2", 2, values,
             NULL, NULL, PGRES_TUPLES_OK, &res);
    if (rc != HL_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = HL_ENOTFOUND;
    else
        copy(counsellor, HL_CASES_NAME_MAX + 1, res, 0, 0);
    PQclear(res);
    return rc;
}

int hl_cases_insert(PGconn *conn, const hl_case_row_t *c)
{
    char hl[24], by[24], assigned[24], follow[24];
    const char *values[8] = {c->id,
                             opt_num(hl, true, c->helpline_id),
                             opt_num(by, true, c->created_by),
                             opt_num(assigned, c->assigned_to > 0, c->assigned_to),
                             hl_case_priority_name(c->priority),
                             opt_num(follow, c->has_follow_up, c->follow_up_at),
                             (const char *)c->label.data,
                             (const char *)c->summary.data};
    const int lengths[8] = {0, 0, 0, 0, 0, 0, (int)c->label.len, (int)c->summary.len};
    const int formats[8] = {0, 0, 0, 0, 0, 0, 1, 1};

    return run(conn, "insert",
               "INSERT INTO cases (id, helpline_id, created_by, assigned_to, priority, follow_up_at, label, "
               "summary) VALUES ($1, $2, $3, $4, $5, " US_TS("$6") ", $7, $8)",
               8, values, lengths, formats, PGRES_COMMAND_OK, NULL);
}

/* An UPDATE being built: its text and parameters ($1 is the case id). */
typedef struct {
    char sql[512];
    size_t len;
    const char *values[8];
    int lengths[8], formats[8];
    int n;
} update_t;

static void update_sql(update_t *u, const char *fmt, ...) HL_PRINTF(2, 3);
static void update_sql(update_t *u, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    u->len += (size_t)vsnprintf(u->sql + u->len, sizeof(u->sql) - u->len, fmt, ap);
    va_end(ap);
}

/* Adds a parameter and returns its number. */
static int update_param(update_t *u, const char *value, int length, int format)
{
    u->values[u->n] = value;
    u->lengths[u->n] = length;
    u->formats[u->n] = format;
    return ++u->n;
}

int hl_cases_update(PGconn *conn, const hl_case_row_t *c, unsigned changed)
{
    update_t u = {.n = 0};
    char assigned[24], follow[24];
    int p;

    update_param(&u, c->id, 0, 0);
    update_sql(&u, "UPDATE cases SET updated_at = now()");
    if (changed & HL_CASES_LABEL)
        update_sql(&u, ", label = $%d", update_param(&u, (const char *)c->label.data, (int)c->label.len, 1));
    if (changed & HL_CASES_SUMMARY)
        update_sql(&u, ", summary = $%d",
                   update_param(&u, (const char *)c->summary.data, (int)c->summary.len, 1));
    if (changed & HL_CASES_PRIORITY)
        update_sql(&u, ", priority = $%d", update_param(&u, hl_case_priority_name(c->priority), 0, 0));
    if (changed & HL_CASES_FOLLOW_UP)
        update_sql(&u, ", follow_up_at = " US_TS("$%d"),
                   update_param(&u, opt_num(follow, c->has_follow_up, c->follow_up_at), 0, 0));
    if (changed & HL_CASES_ASSIGNED)
        update_sql(&u, ", assigned_to = $%d::int8",
                   update_param(&u, opt_num(assigned, c->assigned_to > 0, c->assigned_to), 0, 0));
    if (changed & HL_CASES_STATUS) {
        p = update_param(&u, hl_case_status_name(c->status), 0, 0);
        update_sql(&u, ", status = $%d, closed_at = CASE WHEN $%d = 'closed' THEN now() END", p, p);
    }
    update_sql(&u, " WHERE id = $1");
    return run(conn, "update", u.sql, u.n, u.values, u.lengths, u.formats, PGRES_COMMAND_OK, NULL);
}

/* ---- timeline ------------------------------------------------------------------------------ */

int hl_cases_add_entry(PGconn *conn, const char *case_id, hl_case_entry_t *e)
{
    char by[24];
    bool contact = e->kind == HL_CASE_ENTRY_CONTACT, referral = e->kind == HL_CASE_ENTRY_REFERRAL,
         status = e->kind == HL_CASE_ENTRY_STATUS;
    const char *values[11] = {
        e->id,
        case_id,
        hl_case_entry_kind_name(e->kind),
        opt_num(by, e->by > 0, e->by),
        e->kind == HL_CASE_ENTRY_NOTE ? (const char *)e->text.data : NULL,
        contact ? e->contact_id : NULL,
        contact ? (e->unlinked ? "true" : "false") : NULL,
        referral ? e->referral_id : NULL,
        referral ? hl_referral_state_name(e->referral_state) : NULL,
        status && e->status_from >= 0 ? hl_case_status_name((hl_case_status_t)e->status_from) : NULL,
        status ? hl_case_status_name(e->status_to) : NULL};
    const int lengths[11] = {0, 0, 0, 0, (int)e->text.len, 0, 0, 0, 0, 0, 0};
    const int formats[11] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};

    PGresult *res = NULL;
    int rc =
        run(conn, "entry",
            "INSERT INTO case_entries (id, case_id, kind, by_user, text, contact_id, unlinked, referral_id, "
            "referral_state, status_from, status_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
            "RETURNING " EPOCH_US("at"),
            11, values, lengths, formats, PGRES_TUPLES_OK, &res);

    if (rc == HL_OK) {
        e->at = num(res, 0, 0);
        PQclear(res);
    }
    return rc;
}

/* The statement of N_ROWS notes: their VALUES, the case rows each note's caller writes locked in
 * id order (batches that run at once wait for each other's rows, never in a cycle), each stamped
 * once, and the notes whose caller writes the case as it is now, locked, inserted in their
 * order; then for each note its entry's time, or whether its case is there at all. The WHERE of
 * the lock is checked again on a row changed while it waited (READ COMMITTED), and the INSERT
 * checks each note against the rows the UPDATE returns, the case rows as they are once locked:
 * two notes of one case in a batch by a writer and by someone else store only the first. */
#define NOTE_PARAMS 7

static char *notes_sql(size_t n_rows)
{
    static const char head[] = "WITH n (o, case_id, hl, any_case, writer, id, by_user, text) AS (VALUES ";
    static const char tail[] =
        "), l AS (SELECT c.id FROM cases c JOIN n ON c.id = n.case_id AND c.helpline_id = n.hl"
        " AND (n.any_case OR c.created_by = n.writer OR c.assigned_to = n.writer)"
        " ORDER BY c.id FOR NO KEY UPDATE OF c),"
        " u AS (UPDATE cases c SET updated_at = now() WHERE c.id IN (SELECT id FROM l)"
        " RETURNING c.id, c.created_by, c.assigned_to),"
        " e AS (INSERT INTO case_entries (id, case_id, kind, by_user, text)"
        " SELECT n.id, n.case_id, 'note', n.by_user, n.text FROM n JOIN u ON u.id = n.case_id"
        " WHERE n.any_case OR u.created_by = n.writer OR u.assigned_to = n.writer"
        " ORDER BY n.o RETURNING id, at)"
        " SELECT n.o, (extract(epoch FROM e.at) * 1000000)::int8, e.id IS NOT NULL"
        " OR EXISTS (SELECT FROM cases c WHERE c.id = n.case_id AND c.helpline_id = n.hl)"
        " FROM n LEFT JOIN e ON e.id = n.id";
    size_t cap = sizeof(head) + sizeof(tail) + n_rows * 160, len;
    char *sql = malloc(cap);

    if (sql == NULL)
        return NULL;
    len = (size_t)snprintf(sql, cap, "%s", head);
    for (size_t r = 0; r < n_rows; r++) {
        int p = (int)(r * NOTE_PARAMS);
        len += (size_t)snprintf(
            sql + len, cap - len,
            "%s(%zu::int8, $%d::uuid, $%d::int8, $%d::bool, $%d::int8, $%d::uuid, $%d::int8, "
            "$%d::bytea)",
            r > 0 ? ", " : "", r, p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7);
    }
    snprintf(sql + len, cap - len, "%s", tail);
    return sql;
}

int hl_cases_add_notes(PGconn *conn, hl_case_note_t *notes, size_t n)
{
    /* Batches of 1, 2, 4, ... HL_CASES_NOTES_MAX rows, the last ones empty (NULL ids match no
     * case): a few statements for the sessions to prepare. */
    size_t rows = 1;
    char nums[HL_CASES_NOTES_MAX][3][24];
    const char *values[HL_CASES_NOTES_MAX * NOTE_PARAMS] = {NULL};
    int lengths[HL_CASES_NOTES_MAX * NOTE_PARAMS] = {0}, formats[HL_CASES_NOTES_MAX * NOTE_PARAMS] = {0};
    PGresult *res = NULL;
    char *sql;
    int rc;

    if (n == 0 || n > HL_CASES_NOTES_MAX)
        return HL_EINVAL;
    while (rows < n)
        rows *= 2;
    for (size_t i = 0; i < n; i++) {
        const hl_case_caller_t *who = notes[i].who;
        const hl_case_entry_t *e = notes[i].e;
        size_t p = i * NOTE_PARAMS;
        values[p] = notes[i].case_id;
        values[p + 1] = opt_num(nums[i][0], true, who->helpline_id);
        values[p + 2] = who->any_case ? "true" : "false";
        values[p + 3] = opt_num(nums[i][1], who->writer_id > 0, who->writer_id);
        values[p + 4] = e->id;
        values[p + 5] = opt_num(nums[i][2], e->by > 0, e->by);
        values[p + 6] = (const char *)e->text.data;
        lengths[p + 6] = (int)e->text.len;
        formats[p + 6] = 1;
        notes[i].rc = HL_EDB;
    }
    for (size_t i = n; i < rows; i++)
        formats[i * NOTE_PARAMS + 6] = 1;
    if ((sql = notes_sql(rows)) == NULL)
        return HL_ENOMEM;
    rc = run_binary(conn, "notes", sql, (int)(rows * NOTE_PARAMS), values, lengths, formats, PGRES_TUPLES_OK,
                    &res);
    free(sql);
    if (rc != HL_OK)
        return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t o = i64(res, r, 0);
        if (o < 0 || (size_t)o >= n)
            continue; /* an empty row */
        if (!PQgetisnull(res, r, 1)) {
            notes[o].e->at = i64(res, r, 1);
            notes[o].rc = HL_OK;
        } else {
            notes[o].rc = flag(res, r, 2) ? HL_EPERM : HL_ENOTFOUND;
        }
    }
    PQclear(res);
    return HL_OK;
}

enum {
    E_ID,
    E_KIND,
    E_AT,
    E_BY,
    E_BY_NAME,
    E_TEXT,
    E_CONTACT,
    E_UNLINKED,
    E_CHANNEL,
    E_CONTACT_TYPE,
    E_CATEGORIES,
    E_REFERRAL,
    E_REFERRAL_TO,
    E_REFERRAL_STATE,
    E_ORGANISATION,
    E_DETAILS,
    E_STATUS_FROM,
    E_STATUS_TO,
    E_SEQ
};

void hl_case_entries_free(hl_case_entry_t *e, size_t n)
{
    for (size_t i = 0; e != NULL && i < n; i++) {
        sealed_clear(&e[i].text);
        sealed_clear(&e[i].organisation);
        sealed_clear(&e[i].details);
        free(e[i].categories_json);
    }
    free(e);
}

static int decode_entry(const PGresult *res, int row, hl_case_entry_t *e)
{
    int rc;
    hl_case_status_t st;

    copy(e->id, sizeof(e->id), res, row, E_ID);
    e->at = i64(res, row, E_AT);
    e->seq = i64(res, row, E_SEQ);
    e->by = i64(res, row, E_BY);
    copy(e->by_name, sizeof(e->by_name), res, row, E_BY_NAME);
    copy(e->contact_id, sizeof(e->contact_id), res, row, E_CONTACT);
    e->unlinked = flag(res, row, E_UNLINKED);
    e->channel = e->contact_type = -1;
    if (!PQgetisnull(res, row, E_CHANNEL)) {
        hl_channel_t ch;
        hl_contact_type_t ct;
        if (hl_contact_channel_parse(PQgetvalue(res, row, E_CHANNEL), &ch))
            e->channel = (int)ch;
        if (hl_contact_type_parse(PQgetvalue(res, row, E_CONTACT_TYPE), &ct))
            e->contact_type = (int)ct;
    }
    if ((e->categories_json =
             strdup(PQgetisnull(res, row, E_CATEGORIES) ? "[]" : PQgetvalue(res, row, E_CATEGORIES))) == NULL)
        return HL_ENOMEM;
    copy(e->referral_id, sizeof(e->referral_id), res, row, E_REFERRAL);
    e->status_from = -1;
    if (!PQgetisnull(res, row, E_STATUS_FROM) &&
        hl_case_status_parse(PQgetvalue(res, row, E_STATUS_FROM), &st))
        e->status_from = (int)st;
    if (!hl_case_entry_kind_parse(PQgetvalue(res, row, E_KIND), &e->kind) ||
        (e->kind == HL_CASE_ENTRY_REFERRAL &&
         (!hl_contact_action_parse(PQgetvalue(res, row, E_REFERRAL_TO), &e->referral_to) ||
          !hl_referral_state_parse(PQgetvalue(res, row, E_REFERRAL_STATE), &e->referral_state))) ||
        (e->kind == HL_CASE_ENTRY_STATUS &&
         !hl_case_status_parse(PQgetvalue(res, row, E_STATUS_TO), &e->status_to))) {
        hl_log(HL_LOG_ERROR, "case entry %s: a stored value is outside helpline's vocabularies", e->id);
        return HL_EDB;
    }
    if ((rc = take_bytea(res, row, E_TEXT, &e->text)) != HL_OK ||
        (rc = take_bytea(res, row, E_ORGANISATION, &e->organisation)) != HL_OK)
        return rc;
    return take_bytea(res, row, E_DETAILS, &e->details);
}

/* Timeline order: (at, seq). */
static int entry_cmp(const void *a, const void *b)
{
    const hl_case_entry_t *x = a, *y = b;

    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

int hl_cases_timeline(PGconn *conn, const char *case_id, hl_case_entry_t **out, size_t *n)
{
    /* No ORDER BY: sorted here. PostgreSQL would sort the joined rows, sealed columns and all
     * (about 160 kB for 200 entries, half the query's time); the index gives them in order
     * anyway, and the joins' hash tables may not keep it. */
    static const char sql[] = "SELECT e.id::text, e.kind, " EPOCH_US(
        "e.at") ", e.by_user, u.name, e.text, e.contact_id::text, "
                "e.unlinked, c.channel, c.contact_type, "
                /* only contact entries have categories: no subquery for the others (half the
                 * query's time for a 200-entry timeline, docs/benchmarks.md) */
                "CASE WHEN e.contact_id IS NOT NULL THEN (SELECT array_to_json(array_agg(cc.code ORDER BY "
                "cc.code))::text FROM contact_categories cc "
                " WHERE cc.contact_id = e.contact_id AND cc.source <> 'suggested') END, "
                "e.referral_id::text, r.referral_to, e.referral_state, r.organisation, r.details, "
                "e.status_from, e.status_to, e.seq "
                "FROM case_entries e LEFT JOIN users u ON u.id = e.by_user "
                "LEFT JOIN contacts c ON c.id = e.contact_id LEFT JOIN referrals r ON r.id = e.referral_id "
                "WHERE e.case_id = $1";
    const char *values[1] = {case_id};
    hl_case_entry_t *e = NULL;
    PGresult *res = NULL;
    int rc, rows;

    if ((rc = run_binary(conn, "timeline", sql, 1, values, NULL, NULL, PGRES_TUPLES_OK, &res)) != HL_OK)
        return rc;
    rows = PQntuples(res);
    if ((e = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*e))) == NULL)
        rc = HL_ENOMEM;
    for (int i = 0; rc == HL_OK && i < rows; i++)
        rc = decode_entry(res, i, &e[i]);
    PQclear(res);
    if (rc != HL_OK) {
        hl_case_entries_free(e, rows > 0 ? (size_t)rows : 0);
        return rc;
    }
    qsort(e, (size_t)rows, sizeof(*e), entry_cmp);
    *out = e;
    *n = (size_t)rows;
    return HL_OK;
}

/* ---- contacts ------------------------------------------------------------------------------ */

int hl_cases_link(PGconn *conn, const char *case_id, const char *contact_id, int64_t user_id, bool *linked,
                  char holder[HL_RECORD_UUID_LEN + 1])
{
    char by[24];
    const char *values[3] = {contact_id, case_id, opt_num(by, user_id > 0, user_id)};
    PGresult *res = NULL;
    int rc;

    /* The primary key decides: a concurrent link of the same contact waits for the other
     * transaction and then does nothing; the holder is read after it. An unlink that commits
     * in between leaves no holder: try again. */
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = run(conn, "link",
                 "INSERT INTO case_contacts (contact_id, case_id, linked_by) VALUES ($1, $2, $3) "
                 "ON CONFLICT (contact_id) DO NOTHING",
                 3, values, NULL, NULL, PGRES_COMMAND_OK, &res);
        if (rc != HL_OK)
            return rc;
        *linked = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (*linked)
            return HL_OK;
        rc = run(conn, "link", "SELECT case_id::text FROM case_contacts WHERE contact_id = $1", 1, values,
                 NULL, NULL, PGRES_TUPLES_OK, &res);
        if (rc != HL_OK)
            return rc;
        if (PQntuples(res) == 1) {
            copy(holder, HL_RECORD_UUID_LEN + 1, res, 0, 0);
            PQclear(res);
            return HL_OK;
        }
        PQclear(res);
    }
    hl_log(HL_LOG_ERROR, "case %s: linking contact %s raced with unlinks three times", case_id, contact_id);
    return HL_EDB;
}

int hl_cases_unlink(PGconn *conn, const char *case_id, const char *contact_id)
{
    const char *values[2] = {contact_id, case_id};
    PGresult *res = NULL;
    int rc = run(conn, "unlink", "DELETE FROM case_contacts WHERE contact_id = $1 AND case_id = $2", 2,
                 values, NULL, NULL, PGRES_COMMAND_OK, &res);

    if (rc != HL_OK)
        return rc;
    rc = strcmp(PQcmdTuples(res), "1") == 0 ? HL_OK : HL_ENOTFOUND;
    PQclear(res);
    return rc;
}

/* ---- referrals ----------------------------------------------------------------------------- */

int hl_cases_add_referral(PGconn *conn, const char *case_id, const hl_referral_row_t *r)
{
    char by[24];
    const char *values[7] = {r->id,
                             case_id,
                             hl_contact_action_name(r->to),
                             (const char *)r->organisation.data,
                             (const char *)r->details.data,
                             hl_referral_state_name(r->state),
                             opt_num(by, r->created_by > 0, r->created_by)};
    const int lengths[7] = {0, 0, 0, (int)r->organisation.len, (int)r->details.len, 0, 0};
    const int formats[7] = {0, 0, 0, 1, 1, 0, 0};

    return run(conn, "referral",
               "INSERT INTO referrals (id, case_id, referral_to, organisation, details, state, created_by) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7)",
               7, values, lengths, formats, PGRES_COMMAND_OK, NULL);
}

int hl_cases_lock_referral(PGconn *conn, const char *case_id, const char *rid, hl_referral_row_t *out)
{
    const char *values[2] = {rid, case_id};
    PGresult *res = NULL;
    int rc =
        run(conn, "referral",
            "SELECT referral_to, state, created_by FROM referrals WHERE id = $1 AND case_id = $2 FOR UPDATE",
            2, values, NULL, NULL, PGRES_TUPLES_OK, &res);

    if (rc != HL_OK)
        return rc;
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) == 0) {
        rc = HL_ENOTFOUND;
    } else if (!hl_contact_action_parse(PQgetvalue(res, 0, 0), &out->to) ||
               !hl_referral_state_parse(PQgetvalue(res, 0, 1), &out->state)) {
        hl_log(HL_LOG_ERROR, "referral %s: a stored value is outside helpline's vocabularies", rid);
        rc = HL_EDB;
    } else {
        snprintf(out->id, sizeof(out->id), "%s", rid);
        out->created_by = num(res, 0, 2);
    }
    PQclear(res);
    return rc;
}

int hl_cases_set_referral_state(PGconn *conn, const char *rid, hl_referral_state_t state)
{
    const char *values[2] = {rid, hl_referral_state_name(state)};

    return run(conn, "referral", "UPDATE referrals SET state = $2, updated_at = now() WHERE id = $1", 2,
               values, NULL, NULL, PGRES_COMMAND_OK, NULL);
}

/* ---- list ---------------------------------------------------------------------------------- */

int hl_cases_list(PGconn *conn, const hl_case_filter_t *f, hl_case_row_t **out, size_t *n)
{
    static const char sql[] = CASE_COLUMNS(
        "NULL::bytea, NULL::bytea") "WHERE c.helpline_id = $1 "
                                    "AND ($2::text IS NULL OR c.status = $2) "
                                    "AND ($3::text IS NULL OR c.priority = $3) "
                                    "AND ($4::int8 IS NULL OR c.assigned_to = $4) "
                                    "AND (NOT $5::bool OR c.assigned_to IS NULL) "
                                    "AND ($6::int8 IS NULL OR c.follow_up_at < " US_TS(
                                        "$6") ") "
                                              "AND ($7::int8 IS NULL OR (c.created_at, c.id) < (" US_TS(
                                                  "$7") ", $8::uuid)) "
                                                        "ORDER BY c.created_at DESC, c.id DESC LIMIT $9";
    char hl[24], assigned[24], follow[24], after[24], limit[24], after_id[HL_RECORD_UUID_LEN + 1];
    const char *values[9];
    hl_case_row_t *rows = NULL;
    PGresult *res = NULL;
    int rc, count;

    hl_record_id_to_text(f->after_id, after_id);
    values[0] = opt_num(hl, true, f->helpline_id);
    values[1] = f->status >= 0 ? hl_case_status_name((hl_case_status_t)f->status) : NULL;
    values[2] = f->priority >= 0 ? hl_case_priority_name((hl_case_priority_t)f->priority) : NULL;
    values[3] = opt_num(assigned, f->assigned == HL_CASES_ASSIGNED_TO, f->assigned_to);
    values[4] = f->assigned == HL_CASES_UNASSIGNED ? "true" : "false";
    values[5] = opt_num(follow, f->has_follow_up_before, f->follow_up_before);
    values[6] = opt_num(after, f->has_after, f->after_created);
    values[7] = f->has_after ? after_id : NULL;
    values[8] = opt_num(limit, true, f->limit);
    /* Not prepared: a generic plan could not use the index of the filters given. */
    if ((rc = check(conn, "list", PQexecParams(conn, sql, 9, NULL, values, NULL, NULL, 1), PGRES_TUPLES_OK,
                    &res)) != HL_OK)
        return rc;
    count = PQntuples(res);
    if ((rows = calloc(count > 0 ? (size_t)count : 1, sizeof(*rows))) == NULL)
        rc = HL_ENOMEM;
    for (int i = 0; rc == HL_OK && i < count; i++)
        rc = decode_case(res, i, &rows[i]);
    PQclear(res);
    if (rc != HL_OK) {
        free(rows);
        return rc;
    }
    *out = rows;
    *n = (size_t)count;
    return HL_OK;
}
