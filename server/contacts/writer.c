/*
 * The writer: group commit of sealed records (writer.h, docs/writer.md), on one thread per
 * connection (wconn_t: its PGconn, its batch, its backoff). Everything below "connection
 * thread" runs on one such thread and touches only its own wconn_t; the queue, the stopping
 * and collecting flags, the count of connections up and the counters are shared under mu.
 */
#include "contacts/writer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "db/db.h"
#include "db/dbwatch.h"
#include "log.h"
#include "contacts/rollup.h"

#define DEFAULT_MAX_BATCH    256
#define DEFAULT_MAX_DELAY_US 2000
#define DEFAULT_MAX_QUEUE    10000
#define BATCH_MAX_BYTES      (32u * 1024 * 1024) /* sealed bytes in one batch, beyond the first record */
#define BACKOFF_MIN_US       100000              /* reconnect: 100 ms doubling ... */
#define BACKOFF_MAX_US       5000000             /* ... to 5 s */
#define REPLAY_RETRY_US      1000000             /* after a replay that stopped on an error */
#define REPLAY_SLICE         256                 /* replayed records before queued work may go first */

/* The batch statement (batch_sql()), prepared on each connection (prepare_conn) under a name
 * that carries a hash of its text (hl_writer.batch_name). */
#define BATCH_PARAMS 31 /* before the rollup's */
#define PARAMS_TOTAL (BATCH_PARAMS + HL_ROLLUP_NPARAMS)

/* Internal: the connection is gone (or the server is shutting down). Never returned to callers. */
#define WR_ECONNLOST (-100)
/* Internal: PostgreSQL chose this transaction as a deadlock victim (SQLSTATE 40P01) or failed
 * it for serialization (40001): nothing was stored, the same transaction may simply be retried. */
#define WR_ERETRY (-101)
/* Internal: PostgreSQL did not answer in time (lock_timeout, statement_timeout: SQLSTATE 55P03,
 * 57014; the connection itself is fine): nothing was stored, the records go to the spool. */
#define WR_EBUSY (-102)

/* Server-side limits of each batch transaction (set_config in its pipeline), and the client-side
 * deadline of the whole transaction (dbwatch.h), for a server that cannot even act on them. Under
 * these, a contact waits at most a few seconds for a hung PostgreSQL before it is spooled (202). */
#define TX_LOCK_TIMEOUT      "1s"
#define TX_STATEMENT_TIMEOUT "2s"
#define TX_DEADLINE_MS       2500

/* PostgreSQL type OIDs (catalog/pg_type.dat). */
#define OID_BYTEA            17
#define OID_INT8             20
#define OID_INT2             21
#define OID_INT4             23
#define OID_TEXT             25
#define OID_TIMESTAMPTZ      1184
#define OID_UUID             2950
#define OID_INT2_ARRAY       1005
#define OID_INT4_ARRAY       1007
#define OID_TEXT_ARRAY       1009
#define OID_INT8_ARRAY       1016
#define OID_BYTEA_ARRAY      1001
#define OID_TIMESTAMPTZ_ARRY 1185
#define OID_UUID_ARRAY       2951

/* PostgreSQL timestamps count microseconds from 2000-01-01 UTC; ours from 1970-01-01. */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

/* A submitted record waiting in the queue. */
typedef struct slot {
    hl_record_t *rec;
    hl_writer_done_fn done;
    void *arg;
    int64_t at_us; /* when it was queued (monotonic) */
} slot_t;

/* A record being stored, with its result and the scratch of the transaction it is in. */
typedef struct entry {
    hl_record_t *rec;
    hl_writer_done_fn done; /* NULL for a replayed record */
    void *arg;
    bool resolved;
    hl_write_result_t res;
    /* scratch, reset by each transaction */
    int dup_of;       /* index (in the transaction) of an earlier record with the same source, or -1 */
    bool inserted;    /* this transaction inserted it */
    int64_t db_count; /* contacts with the same caller before this transaction */
} entry_t;

/* One connection of the writer: its thread, its PGconn and its batch (connection thread only). */
typedef struct wconn {
    hl_writer_t *w;
    unsigned index; /* 0 replays the spool */
    pthread_t thread;
    PGconn *conn;
    int64_t backoff_us;
    int64_t next_connect_us;
    int64_t next_replay_us;
    entry_t *batch;   /* max_batch entries */
    entry_t **order;  /* max_batch pointers: the records of one transaction */
    size_t replaying; /* records applied in the current replay call */
    bool unnamed;     /* the session does not keep prepared statements (a transaction pooler) */
    bool timed_out;   /* the last transaction passed TX_DEADLINE_MS: no retry, spool */
} wconn_t;

struct hl_writer {
    char *conninfo;
    hl_spool_t *spool;
    size_t max_batch;
    unsigned max_delay_us;
    size_t max_queue;
    unsigned n_conns;
    char *batch_sql;               /* the batch statement (batch_sql()), read-only once started */
    char batch_name[32];           /* its prepared name: hl_batch_ and a hash of the text */
    Oid batch_types[PARAMS_TOTAL]; /* its parameters' types (batch_types()), likewise */

    pthread_mutex_t mu;
    pthread_cond_t cond; /* work to take, a connection up or down, stopping */
    pthread_cond_t full; /* the collecting thread's batch is full (max_batch waiting) */
    slot_t *ring;        /* max_queue slots */
    size_t head;
    size_t count;
    bool stopping;
    bool collecting;      /* a connection thread is gathering the next batch */
    unsigned busy;        /* connection threads between taking a batch and its completions */
    unsigned n_up;        /* connections connected */
    hl_writer_stats_t st; /* queued and database_up are filled in by get_stats */

    wconn_t *conns; /* n_conns */
};

static void deadline_ts(int64_t us, struct timespec *ts)
{
    ts->tv_sec = (time_t)(us / 1000000);
    ts->tv_nsec = (long)(us % 1000000) * 1000;
}

/* libpq messages end with a newline; log lines must not. */
static int msg_len(const char *msg)
{
    size_t n = strlen(msg);

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    return (int)n;
}

/* ------------------------------------------------------------------------------------ */
/* PostgreSQL binary arrays (src/backend/utils/adt/arrayfuncs.c array_recv), one dimension */

typedef struct pgarr {
    uint8_t *buf;
    size_t len;
    size_t cap;
    uint32_t n;
    bool has_null;
    bool oom;
} pgarr_t;

static void arr_raw(pgarr_t *a, const void *p, size_t n)
{
    if (a->oom)
        return;
    if (a->cap - a->len < n) {
        size_t cap = a->cap ? a->cap : 256;
        uint8_t *nb;

        while (cap - a->len < n) {
            if (cap > SIZE_MAX / 2) {
                a->oom = true;
                return;
            }
            cap *= 2;
        }
        nb = realloc(a->buf, cap);
        if (nb == NULL) {
            a->oom = true;
            return;
        }
        a->buf = nb;
        a->cap = cap;
    }
    if (n > 0)
        memcpy(a->buf + a->len, p, n);
    a->len += n;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void arr_u32(pgarr_t *a, uint32_t v)
{
    uint8_t x[4];

    be32(x, v);
    arr_raw(a, x, 4);
}

/* Header: ndim 1, has-null flag, element type, dimension length, lower bound 1 (patched at the end). */
static void arr_begin(pgarr_t *a, uint32_t elem_oid)
{
    arr_u32(a, 1);
    arr_u32(a, 0);
    arr_u32(a, elem_oid);
    arr_u32(a, 0);
    arr_u32(a, 1);
}

static void arr_add(pgarr_t *a, const void *p, size_t len)
{
    if (len > INT32_MAX) {
        a->oom = true;
        return;
    }
    arr_u32(a, (uint32_t)len);
    arr_raw(a, p, len);
    a->n++;
}

static void arr_null(pgarr_t *a)
{
    arr_u32(a, UINT32_MAX); /* length -1 */
    a->has_null = true;
    a->n++;
}

static void arr_i64(pgarr_t *a, int64_t v)
{
    uint8_t x[8];
    uint64_t u = (uint64_t)v;

    be32(x, (uint32_t)(u >> 32));
    be32(x + 4, (uint32_t)u);
    arr_add(a, x, 8);
}

static void arr_i32(pgarr_t *a, int32_t v)
{
    uint8_t x[4];

    be32(x, (uint32_t)v);
    arr_add(a, x, 4);
}

static void arr_i16(pgarr_t *a, int v)
{
    uint8_t x[2] = {(uint8_t)((unsigned)v >> 8), (uint8_t)v};
    arr_add(a, x, 2);
}

static void arr_text(pgarr_t *a, const char *s)
{
    if (s == NULL)
        arr_null(a);
    else
        arr_add(a, s, strlen(s));
}

static void arr_sealed(pgarr_t *a, const hl_sealed_t *s)
{
    if (s->data == NULL)
        arr_null(a);
    else
        arr_add(a, s->data, s->len);
}

static void arr_end(pgarr_t *a)
{
    if (a->oom)
        return;
    if (a->n == 0) { /* an empty array has no dimensions */
        be32(a->buf, 0);
        a->len = 12;
        return;
    }
    be32(a->buf + 4, a->has_null);
    be32(a->buf + 12, a->n);
}

#define MAX_PARAMS 31

typedef struct params {
    pgarr_t arr[MAX_PARAMS];
    Oid types[MAX_PARAMS];
    int n;
} params_t;

static pgarr_t *param(params_t *p, Oid array_oid, uint32_t elem_oid)
{
    pgarr_t *a = &p->arr[p->n];

    p->types[p->n++] = array_oid;
    arr_begin(a, elem_oid);
    return a;
}

static void params_free(params_t *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->arr[i].buf);
}

/* A text[] literal ({"a","b"}) in one text value: the 2-D-free way to pass one array per row. */
static void arr_text_array_literal(pgarr_t *a, const char *const *items, size_t n)
{
    pgarr_t lit = {0};

    arr_raw(&lit, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            arr_raw(&lit, ",", 1);
        arr_raw(&lit, "\"", 1);
        for (const char *c = items[i]; *c != '\0'; c++) {
            if (*c == '"' || *c == '\\')
                arr_raw(&lit, "\\", 1);
            arr_raw(&lit, c, 1);
        }
        arr_raw(&lit, "\"", 1);
    }
    arr_raw(&lit, "}", 1);
    if (lit.oom)
        a->oom = true;
    else
        arr_add(a, lit.buf, lit.len);
    free(lit.buf);
}

static int64_t be64_at(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return (int64_t)v;
}

static int32_t be32_at(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]);
}

/* ------------------------------------------------------------------------------------ */
/* Statements (connection thread)                                                        */

typedef struct tx {
    wconn_t *wc;
    entry_t **e;
    size_t n;
} tx_t;

static bool starts_with(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Classifies a failed statement and logs it once. Logged: the step, SQLSTATE, and for
 * anything but a data exception (class 22, whose messages may quote input) PostgreSQL's
 * primary message, which in TERSE mode names constraints, never row values.
 */
static int classify(wconn_t *wc, const PGresult *res, const char *what, size_t n)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (PQstatus(wc->conn) != CONNECTION_OK || starts_with(state, "08") || starts_with(state, "57P")) {
        const char *msg = PQerrorMessage(wc->conn);
        hl_log(HL_LOG_WARN, "writer: connection to PostgreSQL lost during %s (%zu record(s)): %.*s", what, n,
               msg_len(msg), msg);
        return WR_ECONNLOST;
    }
    if (state == NULL) {
        const char *msg = PQerrorMessage(wc->conn);
        hl_log(HL_LOG_WARN, "writer: %s failed (%zu record(s)): %.*s", what, n, msg_len(msg), msg);
        return HL_EDB;
    }
    if (strcmp(state, "25006") == 0) {
        /* A standby, or a database made read-only: nothing can be stored there, so the records
         * go to the spool, as when PostgreSQL is down (prepare_conn refuses such a session). */
        hl_log(HL_LOG_WARN, "writer: %s failed (%zu record(s)): the database is read-only", what, n);
        return WR_ECONNLOST;
    }
    if (strcmp(state, "26000") == 0) {
        /* The session does not have the prepared batch statement: a pooler in transaction mode
         * ran it on another server connection. From now on this connection sends it unnamed,
         * parsed with each batch, and the batch is simply run again. */
        if (!wc->unnamed)
            hl_log(HL_LOG_WARN,
                   "writer: connection %u: the server session lost the batch statement (a pooler "
                   "in transaction mode?); sending it unnamed from now on",
                   wc->index);
        wc->unnamed = true;
        return WR_ERETRY;
    }
    if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0) {
        hl_log(HL_LOG_WARN,
               "writer: %s failed (%zu record(s)): PostgreSQL did not answer in time (SQLSTATE %s)", what, n,
               state);
        return WR_EBUSY;
    }
    if (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0) {
        if (strcmp(state, "40P01") == 0) {
            pthread_mutex_lock(&wc->w->mu);
            wc->w->st.deadlocks++;
            pthread_mutex_unlock(&wc->w->mu);
        }
        hl_log(HL_LOG_WARN, "writer: %s failed (%zu record(s)): SQLSTATE %s, to be retried", what, n, state);
        return WR_ERETRY;
    }
    if (starts_with(state, "22")) {
        hl_log(HL_LOG_WARN, "writer: %s failed (%zu record(s)): data exception, SQLSTATE %s", what, n, state);
        return HL_EINVAL;
    }
    hl_log(HL_LOG_WARN, "writer: %s failed (%zu record(s)): SQLSTATE %s: %s", what, n, state,
           primary ? primary : "?");
    return starts_with(state, "23") ? HL_EINVAL : HL_EDB;
}

static const char *category_source_name(hl_category_source_t s)
{
    static const char *const names[] = {"given", "mapped", "suggested"};
    return names[s];
}

static const char *term_field_name(hl_term_field_t f)
{
    static const char *const names[] = {"summary", "transcript"};
    return names[f];
}

/*
 * The batch statement: $1..$24 the contacts (first of each source), $25..$27 their categories,
 * $28..$31 their terms, $32..$43 their rollup cells (rollup.h), all keyed by contact id. ins
 * inserts the contacts; categories, terms and cells count only for the ids ins returned. The
 * result has one row per contact row: its position (1-based), whether it was inserted now, and
 * the caller's earlier contacts (the statement's snapshot: before this insert), -1 without a phone.
 *
 * ON CONFLICT names no index, so it covers both unique keys, the id and the source: the id is
 * a keyed hash of the source (hl_crypto_source_id), and two daemons inserting the same source
 * at once meet on contacts_pkey first, which a conflict target of the source key alone left to
 * fail with 23505. The rows go in id order, so that two batches sharing sources take their
 * index entries in the same order and cannot deadlock.
 */
static const char batch_sql_head[] =
    "WITH ins AS (INSERT INTO contacts (id, helpline_id, source_system, source_id, channel, contact_type,"
    " started_at, ended_at, counsellor, created_by, child_age, child_gender, child_region,"
    " caller_relationship, urgency, actions, local_categories, child_name, caller_name,"
    " caller_phone, summary, transcript, caller_phone_bidx, taxonomy_version)"
    " SELECT r.id, r.helpline_id, r.source_system, r.source_id, r.channel, r.contact_type,"
    " r.started_at, r.ended_at, r.counsellor, r.created_by, r.child_age, r.child_gender,"
    " r.child_region, r.caller_relationship, r.urgency, r.actions::text[], r.local_categories::text[],"
    " r.child_name, r.caller_name, r.caller_phone, r.summary, r.transcript, r.caller_phone_bidx,"
    " r.taxonomy_version"
    " FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[],"
    " $7::timestamptz[], $8::timestamptz[], $9::text[], $10::int8[], $11::int2[], $12::text[],"
    " $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::bytea[], $19::bytea[],"
    " $20::bytea[], $21::bytea[], $22::bytea[], $23::bytea[], $24::text[])"
    " AS r(id, helpline_id, source_system, source_id, channel, contact_type, started_at, ended_at,"
    " counsellor, created_by, child_age, child_gender, child_region, caller_relationship, urgency,"
    " actions, local_categories, child_name, caller_name, caller_phone, summary, transcript,"
    " caller_phone_bidx, taxonomy_version)"
    " ORDER BY r.id ON CONFLICT DO NOTHING"
    " RETURNING id),"
    " cat AS (INSERT INTO contact_categories (contact_id, code, source)"
    " SELECT x.id, x.code, x.source FROM unnest($25::uuid[], $26::text[], $27::text[]) AS x(id, code, source)"
    " WHERE x.id IN (SELECT id FROM ins)),"
    " term AS (INSERT INTO contact_terms (contact_id, term_id, field, occurrences)"
    " SELECT x.id, x.term, x.field, x.occ FROM unnest($28::uuid[], $29::text[], $30::text[], $31::int4[])"
    " AS x(id, term, field, occ) WHERE x.id IN (SELECT id FROM ins)),";
static const char batch_sql_tail[] =
    " SELECT k.o::int4, i.id IS NOT NULL,"
    " CASE WHEN k.b IS NULL THEN -1::int8 ELSE (SELECT count(*) FROM contacts p"
    " WHERE p.helpline_id = k.h AND p.caller_phone_bidx = k.b) END"
    " FROM unnest($1::uuid[], $2::int8[], $23::bytea[]) WITH ORDINALITY"
    " AS k(id, h, b, o) LEFT JOIN ins i ON i.id = k.id";

/*
 * The prepared statement's name: hl_batch_ and a 64-bit FNV-1a hash of its text. Behind a pooler
 * that shares server sessions, a statement of this name is this very text, whichever daemon (or
 * version of it) prepared it.
 */
static void batch_name(const char *sql, char *out, size_t cap)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (const unsigned char *c = (const unsigned char *)sql; *c != '\0'; c++)
        h = (h ^ *c) * UINT64_C(1099511628211);
    snprintf(out, cap, "hl_batch_%016" PRIx64, h);
}

static int batch_sql(char **out)
{
    char *cells = NULL, *sql = NULL;
    size_t len;
    int rc = hl_rollup_sql(BATCH_PARAMS + 1, true, &cells);

    if (rc != HL_OK)
        return rc;
    len = sizeof(batch_sql_head) + strlen(cells) + sizeof(batch_sql_tail);
    sql = malloc(len);
    if (sql == NULL) {
        rc = HL_ENOMEM;
    } else {
        snprintf(sql, len, "%s %s%s", batch_sql_head, cells, batch_sql_tail);
        *out = sql;
    }
    free(cells);
    return rc;
}

/* The contact rows (first of each source), their categories and terms as arrays; POS maps rows to entries. */
static void contact_params(tx_t *t, params_t *p, size_t *pos)
{
    pgarr_t *id = param(p, OID_UUID_ARRAY, OID_UUID);
    pgarr_t *hl = param(p, OID_INT8_ARRAY, OID_INT8);
    pgarr_t *ssys = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *sid = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *channel = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *ctype = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *started = param(p, OID_TIMESTAMPTZ_ARRY, OID_TIMESTAMPTZ);
    pgarr_t *ended = param(p, OID_TIMESTAMPTZ_ARRY, OID_TIMESTAMPTZ);
    pgarr_t *counsellor = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *created_by = param(p, OID_INT8_ARRAY, OID_INT8);
    pgarr_t *age = param(p, OID_INT2_ARRAY, OID_INT2);
    pgarr_t *gender = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *region = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *relationship = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *urgency = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *actions = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *local = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *child_name = param(p, OID_BYTEA_ARRAY, OID_BYTEA);
    pgarr_t *caller_name = param(p, OID_BYTEA_ARRAY, OID_BYTEA);
    pgarr_t *caller_phone = param(p, OID_BYTEA_ARRAY, OID_BYTEA);
    pgarr_t *summary = param(p, OID_BYTEA_ARRAY, OID_BYTEA);
    pgarr_t *transcript = param(p, OID_BYTEA_ARRAY, OID_BYTEA);
    pgarr_t *bidx = param(p, OID_BYTEA_ARRAY, OID_BYTEA);
    pgarr_t *taxver = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *cat_id = param(p, OID_UUID_ARRAY, OID_UUID);
    pgarr_t *cat_code = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *cat_source = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *term_id = param(p, OID_UUID_ARRAY, OID_UUID);
    pgarr_t *term = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *field = param(p, OID_TEXT_ARRAY, OID_TEXT);
    pgarr_t *occ = param(p, OID_INT4_ARRAY, OID_INT4);
    size_t rows = 0;

    for (size_t i = 0; i < t->n; i++) {
        const hl_record_t *r = t->e[i]->rec;
        const char *names[HL_CONTACT_MAX_ACTIONS];

        if (t->e[i]->dup_of >= 0)
            continue;
        pos[rows++] = i;
        arr_add(id, r->id, HL_RECORD_ID_BYTES);
        arr_i64(hl, r->helpline_id);
        arr_text(ssys, r->source_system);
        arr_text(sid, r->source_id);
        arr_text(channel, hl_contact_channel_name(r->channel));
        arr_text(ctype, hl_contact_type_name(r->contact_type));
        arr_i64(started, r->started_at - PG_EPOCH_OFFSET_US);
        if (r->has_ended_at)
            arr_i64(ended, r->ended_at - PG_EPOCH_OFFSET_US);
        else
            arr_null(ended);
        arr_text(counsellor, r->counsellor);
        if (r->created_by != 0)
            arr_i64(created_by, r->created_by);
        else
            arr_null(created_by);
        if (r->child_age >= 0)
            arr_i16(age, r->child_age);
        else
            arr_null(age);
        arr_text(gender, r->child_gender >= 0 ? hl_contact_gender_name((hl_gender_t)r->child_gender) : NULL);
        arr_text(region, r->child_region >= 0 ? hl_contact_region_name((hl_region_t)r->child_region) : NULL);
        arr_text(relationship, r->caller_relationship >= 0
                                   ? hl_contact_relationship_name((hl_relationship_t)r->caller_relationship)
                                   : NULL);
        arr_text(urgency, r->urgency >= 0 ? hl_contact_urgency_name((hl_urgency_t)r->urgency) : NULL);
        for (size_t k = 0; k < r->n_actions; k++)
            names[k] = hl_contact_action_name(r->actions[k]);
        arr_text_array_literal(actions, names, r->n_actions);
        arr_text_array_literal(local, (const char *const *)r->local_categories, r->n_local_categories);
        arr_sealed(child_name, &r->child_name);
        arr_sealed(caller_name, &r->caller_name);
        arr_sealed(caller_phone, &r->caller_phone);
        arr_sealed(summary, &r->summary);
        arr_sealed(transcript, &r->transcript);
        if (r->has_phone_bidx)
            arr_add(bidx, r->phone_bidx, HL_RECORD_BIDX_BYTES);
        else
            arr_null(bidx);
        arr_text(taxver, r->taxonomy_version);
        for (size_t k = 0; k < r->n_categories; k++) {
            arr_add(cat_id, r->id, HL_RECORD_ID_BYTES);
            arr_text(cat_code, r->categories[k].code);
            arr_text(cat_source, category_source_name(r->categories[k].source));
        }
        for (size_t k = 0; k < r->n_terms; k++) {
            arr_add(term_id, r->id, HL_RECORD_ID_BYTES);
            arr_text(term, r->terms[k].term_id);
            arr_text(field, term_field_name(r->terms[k].field));
            /* above INT32_MAX it turns negative and the CHECK refuses the record */
            arr_i32(occ, (int32_t)r->terms[k].occurrences);
        }
    }
}

/* The rollup cells of every contact row, keyed by its id (only the inserted ones will count). */
static int rollup_params(tx_t *t, hl_rollup_params_t *out)
{
    hl_rollup_t *r = NULL;
    hl_rollup_contact_t c;
    int rc = hl_rollup_new(&r);

    for (size_t i = 0; rc == HL_OK && i < t->n; i++) {
        if (t->e[i]->dup_of >= 0)
            continue;
        hl_rollup_contact_from_record(t->e[i]->rec, &c);
        rc = hl_rollup_add_keyed(r, t->e[i]->rec->id, &c, 1);
    }
    if (rc == HL_OK)
        rc = hl_rollup_params(r, out);
    hl_rollup_free(r);
    return rc;
}

/* The batch statement's parameter types, from the arrays of an empty batch. */
static int batch_types(Oid types[PARAMS_TOTAL])
{
    tx_t t = {.n = 0};
    size_t pos[1]; /* no rows to map */
    params_t p = {0};
    hl_rollup_params_t rp = {.n_cells = 0};
    int rc = rollup_params(&t, &rp);

    if (rc == HL_OK) {
        contact_params(&t, &p, pos);
        memcpy(types, p.types, sizeof(Oid) * BATCH_PARAMS);
        memcpy(types + BATCH_PARAMS, rp.types, sizeof(Oid) * HL_ROLLUP_NPARAMS);
    }
    hl_rollup_params_free(&rp);
    params_free(&p);
    return rc;
}

/* Reads the results of one pipelined query into *ROWS (when wanted); the first error wins. */
static int pipeline_read(wconn_t *wc, const char *what, size_t n, int rc, PGresult **rows, bool *ok)
{
    PGresult *res;

    *ok = false;
    while ((res = PQgetResult(wc->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            *ok = true;
            if (rows != NULL && st == PGRES_TUPLES_OK) {
                *rows = res;
                res = NULL;
            }
        } else if (st != PGRES_PIPELINE_ABORTED && rc == HL_OK) {
            rc = classify(wc, res, what, n);
        }
        PQclear(res);
        if (rc == WR_ECONNLOST)
            break;
    }
    return rc;
}

/* The transaction's settings, local to it: nothing outlives the transaction (a pooler hands the
 * server session to other clients afterwards). */
static const char tx_settings[] = "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
                                  " set_config('lock_timeout', '" TX_LOCK_TIMEOUT "', true),"
                                  " set_config('statement_timeout', '" TX_STATEMENT_TIMEOUT "', true)";

/*
 * BEGIN, the settings, the batch statement (prepared by prepare_conn, or unnamed) and COMMIT,
 * sent in one pipeline: one round trip.
 * *ROWS gets the batch statement's rows; HL_OK only when COMMIT succeeded. Any failure to drive
 * the pipeline leaves the connection unusable: WR_ECONNLOST.
 */
static int pipeline_tx(tx_t *t, params_t *p, hl_rollup_params_t *rp, PGresult **rows)
{
    static const char *const names[] = {"BEGIN", "transaction settings", "batch statement", "COMMIT"};
    const hl_writer_t *w = t->wc->w;
    wconn_t *wc = t->wc;
    PGconn *c = wc->conn;
    const char *values[PARAMS_TOTAL];
    int lengths[PARAMS_TOTAL], formats[PARAMS_TOTAL];
    bool ok = false, committed = false;
    PGresult *res = NULL;
    int rc = HL_OK;

    for (int i = 0; i < p->n; i++) {
        arr_end(&p->arr[i]);
        if (p->arr[i].oom || p->arr[i].len > INT32_MAX) {
            hl_log(HL_LOG_ERROR, "writer: out of memory building the batch statement (%zu record(s))", t->n);
            return HL_ENOMEM;
        }
        values[i] = (const char *)p->arr[i].buf;
        lengths[i] = (int)p->arr[i].len;
    }
    for (int i = 0; i < HL_ROLLUP_NPARAMS; i++) {
        values[BATCH_PARAMS + i] = rp->values[i];
        lengths[BATCH_PARAMS + i] = rp->lengths[i];
    }
    for (int i = 0; i < PARAMS_TOTAL; i++)
        formats[i] = 1;

    if (PQenterPipelineMode(c) != 1 || PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
        PQsendQueryParams(c, tx_settings, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
        (wc->unnamed
             ? PQsendQueryParams(c, w->batch_sql, PARAMS_TOTAL, w->batch_types, values, lengths, formats, 1)
             : PQsendQueryPrepared(c, w->batch_name, PARAMS_TOTAL, values, lengths, formats, 1)) != 1 ||
        PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1 || PQpipelineSync(c) != 1) {
        const char *msg = PQerrorMessage(c);
        hl_log(HL_LOG_WARN, "writer: cannot send the batch (%zu record(s)): %.*s", t->n, msg_len(msg), msg);
        return WR_ECONNLOST;
    }
    for (int q = 0; q < 4 && rc != WR_ECONNLOST; q++) {
        rc = pipeline_read(wc, names[q], t->n, rc, q == 2 ? rows : NULL, &ok);
        if (q == 3)
            committed = ok;
    }
    if (rc == WR_ECONNLOST)
        return rc;
    res = PQgetResult(c);
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC || PQexitPipelineMode(c) != 1) {
        const char *msg = PQerrorMessage(c);
        hl_log(HL_LOG_WARN, "writer: batch pipeline out of step (%zu record(s)): %.*s", t->n, msg_len(msg),
               msg);
        rc = WR_ECONNLOST;
    } else if (rc == HL_OK && (!committed || *rows == NULL)) {
        hl_log(HL_LOG_WARN, "writer: batch transaction did not commit (%zu record(s))", t->n);
        rc = HL_EDB;
    }
    PQclear(res);
    return rc;
}

/*
 * The batch in one statement and one round trip (BEGIN, statement, COMMIT pipelined). Marks
 * the inserted records and callers' earlier
 * contacts. Results are only read here; run_tx resolves the records.
 */
static int batch_tx(tx_t *t)
{
    params_t p = {0};
    hl_rollup_params_t rp = {.n_cells = 0};
    size_t *pos = calloc(t->n, sizeof(*pos));
    PGresult *rows = NULL;
    size_t n_rows = 0;
    int rc = HL_ENOMEM;

    if (pos == NULL)
        goto out;
    contact_params(t, &p, pos);
    n_rows = p.arr[0].n;
    if ((rc = rollup_params(t, &rp)) != HL_OK) {
        hl_log(HL_LOG_ERROR, "writer: statistics rollup of %zu record(s): %s", t->n, hl_strerror(rc));
        goto out;
    }
    rc = pipeline_tx(t, &p, &rp, &rows);
    if (rc != HL_OK)
        goto out;
    for (int row = 0; row < PQntuples(rows); row++) {
        int32_t o = be32_at(PQgetvalue(rows, row, 0));
        entry_t *e;

        if (o < 1 || (size_t)o > n_rows)
            continue;
        e = t->e[pos[o - 1]];
        e->inserted = PQgetvalue(rows, row, 1)[0] != 0;
        e->db_count = be64_at(PQgetvalue(rows, row, 2));
    }
out:
    PQclear(rows);
    hl_rollup_params_free(&rp);
    params_free(&p);
    free(pos);
    return rc;
}

static bool same_source(const hl_record_t *a, const hl_record_t *b)
{
    return a->helpline_id == b->helpline_id && strcmp(a->source_system, b->source_system) == 0 &&
           strcmp(a->source_id, b->source_id) == 0;
}

static bool same_caller(const hl_record_t *a, const hl_record_t *b)
{
    return a->has_phone_bidx && b->has_phone_bidx && a->helpline_id == b->helpline_id &&
           memcmp(a->phone_bidx, b->phone_bidx, HL_RECORD_BIDX_BYTES) == 0;
}

/*
 * Stores the N records of E in one transaction: BEGIN, the batch statement, COMMIT, in one
 * pipeline. Only after COMMIT returned are the results set (resolved). On failure nothing is
 * resolved and the transaction is rolled back: HL_EINVAL (a record broke a constraint), HL_EDB,
 * HL_ENOMEM, or WR_ECONNLOST (the connection is unusable; a lost COMMIT may or may not have
 * committed; wc->timed_out when it was the deadline), WR_EBUSY or WR_ERETRY. A record ON
 * CONFLICT skipped is a DUPLICATE of a committed row with its own id (ids derive from sources),
 * whether or not the statement's snapshot could see that row. The whole transaction, its
 * ROLLBACK included, runs under the TX_DEADLINE_MS watch.
 */
static int run_tx(wconn_t *wc, entry_t **e, size_t n)
{
    tx_t t = {.wc = wc, .e = e, .n = n};
    hl_dbwatch_t watch;
    bool watched = hl_dbwatch_arm(&watch, wc->conn, TX_DEADLINE_MS) == HL_OK;
    int rc;

    wc->timed_out = false;
    for (size_t i = 0; i < n; i++) {
        e[i]->dup_of = -1;
        e[i]->inserted = false;
        e[i]->db_count = 0;
        for (size_t j = 0; j < i; j++) {
            if (e[j]->dup_of < 0 && same_source(e[i]->rec, e[j]->rec)) {
                e[i]->dup_of = (int)j;
                break;
            }
        }
    }
    rc = batch_tx(&t);
    if (rc != HL_OK)
        goto out;

    /* Committed. */
    for (size_t i = 0; i < n; i++) {
        entry_t *x = e[i];

        x->resolved = true;
        x->res.err = HL_OK;
        x->res.previous_contacts = -1;
        if (x->dup_of >= 0) {
            x->res.status = HL_WRITE_DUPLICATE;
            memcpy(x->res.id, e[x->dup_of]->res.id, HL_RECORD_ID_BYTES);
        } else if (!x->inserted) {
            x->res.status = HL_WRITE_DUPLICATE;
            memcpy(x->res.id, x->rec->id, HL_RECORD_ID_BYTES);
        } else {
            x->res.status = HL_WRITE_CREATED;
            memcpy(x->res.id, x->rec->id, HL_RECORD_ID_BYTES);
            if (x->rec->has_phone_bidx) {
                int64_t prev = x->db_count;
                for (size_t j = 0; j < i; j++)
                    if (e[j]->inserted && same_caller(e[j]->rec, x->rec))
                        prev++;
                x->res.previous_contacts = prev;
            }
        }
    }
out:
    if (rc != HL_OK && rc != WR_ECONNLOST && PQtransactionStatus(wc->conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(wc->conn, "ROLLBACK");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            int r2 = classify(wc, res, "ROLLBACK", n);
            if (r2 == WR_ECONNLOST)
                rc = WR_ECONNLOST;
        }
        PQclear(res);
    }
    if (watched && hl_dbwatch_disarm(&watch) && rc != HL_OK) {
        /* A committed batch keeps its results; the broken connection shows at its next use. */
        hl_log(HL_LOG_WARN, "writer: connection %u: no answer from PostgreSQL in %d ms (%zu record(s))",
               wc->index, TX_DEADLINE_MS, n);
        wc->timed_out = true;
        rc = WR_ECONNLOST;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Connection and spool (connection thread)                                              */

/* One more or one fewer connection up; a thread without one may wait for the others. */
static void count_up(hl_writer_t *w, bool up)
{
    pthread_mutex_lock(&w->mu);
    if (up)
        w->n_up++;
    else
        w->n_up--;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

/* Closes the connection; the thread tries a new one once its backoff expires, and no later than
 * now has a deadline to wake for (an idle connection 0 with records spooled would otherwise
 * sleep until new work came, and the spool would wait for it). */
static void drop_conn(wconn_t *wc)
{
    int64_t now = hl_monotonic_us();

    if (wc->conn == NULL)
        return;
    PQfinish(wc->conn);
    wc->conn = NULL;
    if (wc->next_connect_us < now)
        wc->next_connect_us = now;
    count_up(wc->w, false);
}

/*
 * Readies a new connection: refuses a read-only session (a hot standby, or a database made
 * read-only), whose every batch would fail, and prepares the batch statement. It is parsed once
 * per connection, but planned at every execution with that batch's parameters
 * (force_custom_plan, set in each transaction): a generic plan cannot see the arrays' lengths
 * nor, when made on a small table, pick the right index for the repeat-caller count
 * (docs/writer.md). Skipping the parse saves about 0.5 ms of the server's time per batch. A
 * statement of that name already in the session (SQLSTATE 42P05) means a pooler shares server
 * sessions between clients: the connection then sends the statement unnamed.
 */
static bool prepare_conn(wconn_t *wc, PGconn *conn)
{
    hl_dbwatch_t watch;
    bool watched = hl_dbwatch_arm(&watch, conn, TX_DEADLINE_MS) == HL_OK;
    PGresult *res = PQexec(conn, "SHOW transaction_read_only");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, read_only = false;
    const char *state;

    if (ok && strcmp(PQgetvalue(res, 0, 0), "off") != 0)
        read_only = true;
    PQclear(res);
    if (ok && !read_only && !wc->unnamed) {
        res = PQprepare(conn, wc->w->batch_name, wc->w->batch_sql, PARAMS_TOTAL, wc->w->batch_types);
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok && state != NULL && strcmp(state, "42P05") == 0) {
            hl_log(HL_LOG_WARN,
                   "writer: connection %u: the server session already holds the batch statement "
                   "(a pooler in transaction mode?); sending it unnamed",
                   wc->index);
            wc->unnamed = ok = true;
        }
        PQclear(res);
    }
    if (watched && hl_dbwatch_disarm(&watch)) {
        hl_log(HL_LOG_ERROR, "writer: connection %u: no answer from PostgreSQL in %d ms", wc->index,
               TX_DEADLINE_MS);
        return false;
    }
    if (read_only) {
        hl_log(HL_LOG_ERROR,
               "writer: connection %u: the database is read-only (a standby?); contacts go to "
               "the spool until it accepts writes",
               wc->index);
        return false;
    }
    if (!ok) {
        const char *msg = PQerrorMessage(conn);
        hl_log(HL_LOG_ERROR, "writer: connection %u cannot prepare the batch statement: %.*s", wc->index,
               msg_len(msg), msg);
    }
    return ok;
}

/* Connects unless connected; without FORCE only once the backoff has expired. */
static bool ensure_conn(wconn_t *wc, bool force)
{
    int64_t now = hl_monotonic_us();
    PGconn *conn = NULL;
    char name[32];

    if (wc->conn != NULL)
        return true;
    if (!force && now < wc->next_connect_us)
        return false;
    snprintf(name, sizeof(name), "helplined writer %u", wc->index);
    if (hl_db_connect_as(wc->w->conninfo, name, &conn) != HL_OK || !prepare_conn(wc, conn)) {
        PQfinish(conn); /* NULL when the connection failed */
        wc->next_connect_us = hl_monotonic_us() + wc->backoff_us;
        wc->backoff_us = wc->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : wc->backoff_us * 2;
        return false;
    }
    hl_log(HL_LOG_INFO, "writer: connection %u connected to PostgreSQL", wc->index);
    wc->conn = conn;
    wc->backoff_us = BACKOFF_MIN_US;
    wc->next_replay_us = 0;
    count_up(wc->w, true);
    return true;
}

static void fail_entry(entry_t *e, int err)
{
    e->resolved = true;
    e->res.status = HL_WRITE_FAILED;
    e->res.err = err;
    e->res.previous_contacts = -1;
    memcpy(e->res.id, e->rec->id, HL_RECORD_ID_BYTES);
}

/* Appends E to the spool (fsync'd) and resolves it SPOOLED, or FAILED when that is impossible. */
static void spool_entry(hl_writer_t *w, entry_t *e)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = HL_EDB;

    if (w->spool != NULL) {
        rc = hl_record_encode(e->rec, &buf, &len);
        if (rc == HL_OK)
            rc = hl_spool_append(w->spool, buf, len);
        free(buf);
    }
    if (rc != HL_OK) {
        char id[HL_RECORD_UUID_LEN + 1];
        hl_record_id_to_text(e->rec->id, id);
        hl_log(HL_LOG_ERROR, "writer: record %s neither stored nor spooled: %s", id,
               w->spool ? hl_strerror(rc) : "no spool");
        fail_entry(e, rc);
        return;
    }
    e->resolved = true;
    e->res.status = HL_WRITE_SPOOLED;
    e->res.err = HL_OK;
    e->res.previous_contacts = -1;
    memcpy(e->res.id, e->rec->id, HL_RECORD_ID_BYTES);
}

typedef struct replay_ctx {
    wconn_t *wc;
    bool yielded;
} replay_ctx_t;

static bool queue_waiting(hl_writer_t *w)
{
    bool waiting;

    pthread_mutex_lock(&w->mu);
    waiting = w->count > 0;
    pthread_mutex_unlock(&w->mu);
    return waiting;
}

/* One spooled record, in its own transaction. 0 once committed (or refused for good). */
static int replay_one(void *arg, const void *buf, size_t len)
{
    replay_ctx_t *ctx = arg;
    wconn_t *wc = ctx->wc;
    hl_writer_t *w = wc->w;
    hl_record_t *rec = NULL;
    entry_t e = {0};
    entry_t *pe = &e;
    char id[HL_RECORD_UUID_LEN + 1];
    int rc;

    /* Alone, the connection lets queued work go first now and then; with others, they take it. */
    if (w->n_conns == 1 && wc->replaying >= REPLAY_SLICE && queue_waiting(w)) {
        ctx->yielded = true; /* the replay resumes here */
        rc = HL_ECONFLICT;
        goto out;
    }
    if (wc->conn == NULL) {
        rc = HL_EDB;
        goto out;
    }
    rc = hl_record_decode(buf, len, &rec);
    if (rc == HL_ENOMEM)
        goto out;
    if (rc != HL_OK) {
        hl_log(HL_LOG_ERROR, "writer: spooled record of %zu bytes is not a valid record; skipped", len);
        pthread_mutex_lock(&w->mu);
        w->st.failed++;
        pthread_mutex_unlock(&w->mu);
        rc = HL_OK;
        goto out;
    }
    e.rec = rec;
    hl_record_id_to_text(rec->id, id);
    rc = run_tx(wc, &pe, 1);
    if (rc == WR_ECONNLOST) {
        drop_conn(wc);
        rc = HL_EDB;
    } else if (rc == WR_ERETRY) {
        rc = HL_EDB; /* the replay stops here and is tried again later */
    } else if (rc == HL_EINVAL) {
        /* It will never be accepted: keeping it would block every record behind it. */
        hl_log(HL_LOG_ERROR, "writer: spooled record %s refused by PostgreSQL; dropped from the spool", id);
        pthread_mutex_lock(&w->mu);
        w->st.failed++;
        pthread_mutex_unlock(&w->mu);
        rc = HL_OK;
    } else if (rc == HL_OK) {
        wc->replaying++;
        pthread_mutex_lock(&w->mu);
        w->st.replayed++;
        pthread_mutex_unlock(&w->mu);
    }
out:
    hl_record_free(rec);
    return rc;
}

static void replay(wconn_t *wc)
{
    replay_ctx_t ctx = {.wc = wc};
    size_t n = 0;
    int rc;

    wc->replaying = 0;
    rc = hl_spool_replay(wc->w->spool, replay_one, &ctx, &n);
    if (rc == HL_OK) {
        hl_log(HL_LOG_INFO, "writer: spool replay done, %zu record(s) applied", n);
        if (hl_spool_pending(wc->w->spool) > 0)
            wc->next_replay_us = hl_monotonic_us() + REPLAY_RETRY_US;
    } else if (!ctx.yielded) {
        hl_log(HL_LOG_WARN, "writer: spool replay stopped after %zu record(s): %s", n, hl_strerror(rc));
        wc->next_replay_us = hl_monotonic_us() + REPLAY_RETRY_US;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Batches (connection thread)                                                           */

/* One record alone, in its own transaction; a deadlock victim is tried once more. */
static int run_one(wconn_t *wc, entry_t **e)
{
    int rc = run_tx(wc, e, 1);

    if (rc == WR_ERETRY)
        rc = run_tx(wc, e, 1);
    return rc == WR_ERETRY ? HL_EDB : rc;
}

static void process_batch(wconn_t *wc, size_t n)
{
    hl_writer_t *w = wc->w;
    entry_t **v = wc->order;
    size_t m = 0, spooled = 0;
    int rc = WR_ECONNLOST;
    hl_writer_stats_t d = {0};

    for (size_t i = 0; i < n; i++) {
        entry_t *e = &wc->batch[i];
        if (!hl_record_valid(e->rec)) {
            char id[HL_RECORD_UUID_LEN + 1];
            hl_record_id_to_text(e->rec->id, id);
            hl_log(HL_LOG_ERROR, "writer: record %s is malformed; refused", id);
            fail_entry(e, HL_EINVAL);
            continue;
        }
        v[m++] = e;
    }
    if (m > 0 && wc->conn != NULL) {
        rc = run_tx(wc, v, m);
        if (rc == WR_ECONNLOST && !wc->timed_out) {
            /* The connection may have died while idle: one fresh attempt before spooling (not
             * after a deadline: the server hangs, and the records should wait no longer). */
            drop_conn(wc);
            if (ensure_conn(wc, true))
                rc = run_tx(wc, v, m);
            if (rc == WR_ECONNLOST)
                drop_conn(wc);
        }
        if (rc == WR_ERETRY) /* a deadlock with another connection's batch: the whole batch once more */
            rc = run_tx(wc, v, m);
        if (rc == WR_ECONNLOST)
            drop_conn(wc);
        if (wc->timed_out) /* a hung server: the next records go to the spool without waiting */
            wc->next_connect_us = hl_monotonic_us() + wc->backoff_us;
    }
    if (m > 0 && rc != HL_OK && rc != WR_ECONNLOST && rc != WR_EBUSY) {
        /* One bad row never fails its batch-mates: each record alone, in its own transaction. */
        if (m > 1)
            hl_log(HL_LOG_INFO, "writer: retrying %zu record(s) one by one", m);
        for (size_t i = 0; i < m && wc->conn != NULL; i++) {
            int r1;

            if (v[i]->resolved)
                continue;
            r1 = m > 1 || rc == HL_EDB || rc == WR_ERETRY ? run_one(wc, &v[i]) : rc;
            if (r1 == WR_ECONNLOST) {
                drop_conn(wc);
            } else if (r1 == WR_EBUSY) {
                break; /* this record and the rest go to the spool */
            } else if (r1 != HL_OK) {
                char id[HL_RECORD_UUID_LEN + 1];
                hl_record_id_to_text(v[i]->rec->id, id);
                hl_log(HL_LOG_ERROR, "writer: record %s refused: %s", id, hl_strerror(r1));
                fail_entry(v[i], r1);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        entry_t *e = &wc->batch[i];
        if (!e->resolved) {
            spool_entry(w, e);
            spooled += e->res.status == HL_WRITE_SPOOLED;
        }
        switch (e->res.status) {
        case HL_WRITE_CREATED:
            d.created++;
            break;
        case HL_WRITE_DUPLICATE:
            d.duplicates++;
            break;
        case HL_WRITE_SPOOLED:
            d.spooled++;
            break;
        default:
            d.failed++;
            break;
        }
    }
    if (spooled > 0)
        hl_log(HL_LOG_WARN, "writer: PostgreSQL unavailable; %zu record(s) spooled", spooled);

    pthread_mutex_lock(&w->mu);
    w->st.batches++;
    w->st.created += d.created;
    w->st.duplicates += d.duplicates;
    w->st.spooled += d.spooled;
    w->st.failed += d.failed;
    if (spooled > 0) /* connection 0 may be up and idle: the spool has records for it to replay */
        pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);

    for (size_t i = 0; i < n; i++) {
        entry_t *e = &wc->batch[i];
        e->done(e->arg, &e->res);
        hl_record_free(e->rec);
        e->rec = NULL;
    }
}

static size_t sealed_bytes(const hl_record_t *r)
{
    return r->child_name.len + r->caller_name.len + r->caller_phone.len + r->summary.len + r->transcript.len;
}

/* Moves up to max_batch queued records (and at most BATCH_MAX_BYTES of sealed data) into wc's batch. */
static size_t take_batch(wconn_t *wc)
{
    hl_writer_t *w = wc->w;
    size_t n = 0, bytes = 0;

    while (w->count > 0 && n < w->max_batch) {
        slot_t *s = &w->ring[w->head];
        size_t b = sealed_bytes(s->rec);

        if (n > 0 && bytes + b > BATCH_MAX_BYTES)
            break;
        bytes += b;
        wc->batch[n] = (entry_t){.rec = s->rec, .done = s->done, .arg = s->arg, .dup_of = -1};
        n++;
        w->head = (w->head + 1) % w->max_queue;
        w->count--;
    }
    return n;
}

/*
 * Whether WC may take queued work now (under mu): not while another thread gathers the next
 * batch, and without a connection only when no other connection is up (then it spools).
 */
static bool may_take(const wconn_t *wc)
{
    const hl_writer_t *w = wc->w;

    return w->count > 0 && !w->collecting && (wc->conn != NULL || w->n_up == 0);
}

static void *writer_main(void *arg)
{
    wconn_t *wc = arg;
    hl_writer_t *w = wc->w;

    ensure_conn(wc, true);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        bool stopping = w->stopping;
        bool replays = wc->index == 0 && w->spool != NULL;
        int64_t deadline = 0;
        size_t n;

        if (w->count == 0 && stopping)
            break;
        /* Reconnect (once the backoff expired); connection 0 replays the spool before new work. */
        pthread_mutex_unlock(&w->mu);
        ensure_conn(wc, false);
        if (!stopping && replays && wc->conn != NULL && hl_monotonic_us() >= wc->next_replay_us &&
            hl_spool_pending(w->spool) > 0)
            replay(wc);
        pthread_mutex_lock(&w->mu);

        if (!may_take(wc)) {
            if (w->count == 0 && w->stopping)
                break;
            if (wc->conn == NULL)
                deadline = wc->next_connect_us;
            else if (replays && hl_spool_pending(w->spool) > 0)
                deadline = wc->next_replay_us;
            if (deadline > 0) {
                struct timespec ts;
                deadline_ts(deadline, &ts);
                pthread_cond_timedwait(&w->cond, &w->mu, &ts);
            } else {
                pthread_cond_wait(&w->cond, &w->mu);
            }
            continue;
        }
        /* Group commit: while another connection has a batch in flight, wait for more until
         * max_batch, max_delay_us after the first arrived, or that batch is done; with none in
         * flight, PostgreSQL is idle and waiting would only add latency. */
        w->collecting = true;
        deadline = w->ring[w->head].at_us + w->max_delay_us;
        while (w->busy > 0 && w->count > 0 && w->count < w->max_batch && !w->stopping &&
               hl_monotonic_us() < deadline) {
            struct timespec ts;
            deadline_ts(deadline, &ts);
            pthread_cond_timedwait(&w->full, &w->mu, &ts);
        }
        n = take_batch(wc);
        w->collecting = false;
        w->busy++;
        if (w->n_conns > 1) /* another thread may gather the next batch meanwhile */
            pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mu);
        if (n > 0)
            process_batch(wc, n);
        pthread_mutex_lock(&w->mu);
        w->busy--;
        if (w->collecting) /* the collecting thread need not wait for this batch any longer */
            pthread_cond_signal(&w->full);
    }
    pthread_mutex_unlock(&w->mu);
    drop_conn(wc);
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Public API                                                                            */

static void writer_free(hl_writer_t *w)
{
    if (w == NULL)
        return;
    for (unsigned i = 0; w->conns != NULL && i < w->n_conns; i++) {
        free(w->conns[i].batch);
        free(w->conns[i].order);
    }
    free(w->conns);
    free(w->conninfo);
    free(w->batch_sql);
    free(w->ring);
    free(w);
}

/* Stops the first N threads (started, none of them past the queue yet) and joins them. */
static void join_threads(hl_writer_t *w, unsigned n)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_cond_broadcast(&w->full);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < n; i++)
        pthread_join(w->conns[i].thread, NULL);
}

int hl_writer_start(const hl_writer_opts_t *opts, hl_writer_t **out)
{
    hl_writer_t *w = NULL;
    pthread_condattr_t ca;
    bool mu_ok = false, cond_ok = false;
    unsigned started = 0;
    int rc = HL_EINVAL;

    if (opts == NULL || opts->conninfo == NULL || opts->connections > HL_WRITER_MAX_CONNECTIONS)
        goto out;
    rc = HL_ENOMEM;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        goto out;
    w->spool = opts->spool;
    w->max_batch = opts->max_batch ? opts->max_batch : DEFAULT_MAX_BATCH;
    w->max_delay_us = opts->max_delay_us ? opts->max_delay_us : DEFAULT_MAX_DELAY_US;
    w->max_queue = opts->max_queue ? opts->max_queue : DEFAULT_MAX_QUEUE;
    w->n_conns = opts->connections ? opts->connections : 1;
    if (w->max_batch > INT32_MAX)
        w->max_batch = INT32_MAX;
    w->conninfo = strdup(opts->conninfo);
    w->ring = calloc(w->max_queue, sizeof(*w->ring));
    w->conns = calloc(w->n_conns, sizeof(*w->conns));
    if (w->conninfo == NULL || w->ring == NULL || w->conns == NULL || batch_sql(&w->batch_sql) != HL_OK ||
        batch_types(w->batch_types) != HL_OK)
        goto out;
    batch_name(w->batch_sql, w->batch_name, sizeof(w->batch_name));
    for (unsigned i = 0; i < w->n_conns; i++) {
        wconn_t *wc = &w->conns[i];

        wc->w = w;
        wc->index = i;
        wc->backoff_us = BACKOFF_MIN_US;
        wc->batch = calloc(w->max_batch, sizeof(*wc->batch));
        wc->order = calloc(w->max_batch, sizeof(*wc->order));
        if (wc->batch == NULL || wc->order == NULL)
            goto out;
    }
    rc = HL_EIO;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        goto out;
    mu_ok = true;
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    cond_ok = pthread_cond_init(&w->cond, &ca) == 0;
    if (cond_ok && pthread_cond_init(&w->full, &ca) != 0) {
        pthread_cond_destroy(&w->cond);
        cond_ok = false;
    }
    pthread_condattr_destroy(&ca);
    if (!cond_ok)
        goto out;
    for (; started < w->n_conns; started++) {
        if (pthread_create(&w->conns[started].thread, NULL, writer_main, &w->conns[started]) != 0) {
            hl_log(HL_LOG_ERROR, "writer: cannot start writer thread %u", started);
            goto out;
        }
    }
    *out = w;
    w = NULL;
    rc = HL_OK;
out:
    if (w != NULL) {
        if (started > 0)
            join_threads(w, started);
        if (cond_ok) {
            pthread_cond_destroy(&w->full);
            pthread_cond_destroy(&w->cond);
        }
        if (mu_ok)
            pthread_mutex_destroy(&w->mu);
        writer_free(w);
    }
    return rc;
}

int hl_writer_submit(hl_writer_t *w, hl_record_t *rec, hl_writer_done_fn done, void *arg)
{
    int rc = HL_ECONFLICT;

    if (w == NULL || rec == NULL || done == NULL)
        return HL_EINVAL;
    pthread_mutex_lock(&w->mu);
    if (!w->stopping && w->count < w->max_queue) {
        w->ring[(w->head + w->count) % w->max_queue] =
            (slot_t){.rec = rec, .done = done, .arg = arg, .at_us = hl_monotonic_us()};
        w->count++;
        /* A collecting thread needs waking only once its batch is full (else its delay or the
         * end of the batch in flight ends its wait); with several threads, the one that may
         * take the work is not necessarily the one woken. */
        if (w->collecting) {
            if (w->count >= w->max_batch)
                pthread_cond_signal(&w->full);
        } else if (w->n_conns > 1) {
            pthread_cond_broadcast(&w->cond);
        } else {
            pthread_cond_signal(&w->cond);
        }
        rc = HL_OK;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void hl_writer_stop(hl_writer_t *w)
{
    if (w == NULL)
        return;
    join_threads(w, w->n_conns);
    pthread_cond_destroy(&w->full);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    writer_free(w);
}

void hl_writer_get_stats(hl_writer_t *w, hl_writer_stats_t *out)
{
    if (w == NULL || out == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    out->queued = w->count;
    out->database_up = w->n_up > 0;
    pthread_mutex_unlock(&w->mu);
}
