#include "contacts/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts/classify.h"
#include "log.h"

/* Column order of the SELECT below. */
enum {
    COL_SOURCE_SYSTEM,
    COL_SOURCE_ID,
    COL_CHANNEL,
    COL_CONTACT_TYPE,
    COL_STARTED,
    COL_ENDED,
    COL_COUNSELLOR,
    COL_CHILD_AGE,
    COL_CHILD_GENDER,
    COL_CHILD_REGION,
    COL_CALLER_REL,
    COL_URGENCY,
    COL_ACTIONS,
    COL_LOCAL,
    COL_CHILD_NAME,
    COL_CALLER_NAME,
    COL_CALLER_PHONE,
    COL_SUMMARY,
    COL_TRANSCRIPT,
    COL_CREATED,
    COL_UPDATED,
    COL_VERSION,
    COL_CASE
};

#define EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::int8"

/* One line per group of columns, in COL_ order. */
/* clang-format off */
static const char select_sql[] =
    "SELECT source_system, source_id, channel, contact_type, "
    EPOCH_US("started_at") ", " EPOCH_US("ended_at") ", "
    "counsellor, child_age, child_gender, child_region, caller_relationship, urgency, "
    "array_to_json(actions)::text, array_to_json(local_categories)::text, "
    "child_name, caller_name, caller_phone, summary, transcript, "
    EPOCH_US("created_at") ", " EPOCH_US("updated_at") ", taxonomy_version, "
    "(SELECT case_id::text FROM case_contacts WHERE contact_id = contacts.id) "
    "FROM contacts WHERE id = $1 AND helpline_id = $2";
/* clang-format on */

static bool is_null(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) != 0;
}

static const char *val(const PGresult *res, int col)
{
    return PQgetvalue(res, 0, col);
}

static int dup_into(char **slot, hl_contact_presence_t *has, const char *s)
{
    *slot = strdup(s);
    if (*slot == NULL)
        return HL_ENOMEM;
    *has = HL_CONTACT_SET;
    return HL_OK;
}

/* Opens the sealed column COL (bytea, hex text) into *SLOT. */
static int open_sealed(hl_crypto_keyring_t *kr, const PGresult *res, int col, const char *id,
                       const char *column, char **slot, hl_contact_presence_t *has)
{
    size_t ctlen = 0, ptlen = 0;
    unsigned char *ct;
    hl_crypto_ad_t ad = {"contacts", column, id};
    int rc;

    if (is_null(res, col))
        return HL_OK;
    ct = PQunescapeBytea((const unsigned char *)val(res, col), &ctlen);
    if (ct == NULL)
        return HL_ENOMEM;
    rc = hl_crypto_open_alloc(kr, &ad, ct, ctlen, slot, &ptlen);
    PQfreemem(ct);
    if (rc == HL_OK)
        *has = HL_CONTACT_SET;
    else
        hl_log(HL_LOG_ERROR, "contact %s: sealed %s did not open", id, column);
    return rc;
}

static int fill_strings(char **arr, size_t *n, size_t max, hl_contact_presence_t *has, const char *json_text)
{
    json_t *a = json_loads(json_text, 0, NULL);
    size_t i;
    json_t *v;
    int rc = HL_OK;

    if (a == NULL)
        return HL_EDB;
    json_array_foreach(a, i, v)
    {
        if (*n == max || (arr[*n] = strdup(json_string_value(v))) == NULL) {
            rc = HL_ENOMEM;
            break;
        }
        (*n)++;
    }
    if (*n > 0)
        *has = HL_CONTACT_SET;
    json_decref(a);
    return rc;
}

static int fill_actions(hl_contact_t *c, const char *json_text)
{
    json_t *a = json_loads(json_text, 0, NULL);
    size_t i;
    json_t *v;

    if (a == NULL)
        return HL_EDB;
    json_array_foreach(a, i, v)
    {
        hl_action_t act;
        if (c->n_actions < HL_CONTACT_MAX_ACTIONS && hl_contact_action_parse(json_string_value(v), &act))
            c->actions[c->n_actions++] = act;
    }
    if (c->n_actions > 0)
        c->has_actions = HL_CONTACT_SET;
    json_decref(a);
    return HL_OK;
}

/* Enum columns were written by helplined from the same vocabularies: an unknown value is a bug. */
#define ENUM_COL(col, parse, target, has)                                                                    \
    do {                                                                                                     \
        if (!is_null(res, col)) {                                                                            \
            if (!parse(val(res, col), &(target)))                                                            \
                goto bad_row;                                                                                \
            (has) = HL_CONTACT_SET;                                                                          \
        }                                                                                                    \
    } while (0)

static int decode_row(const PGresult *res, hl_crypto_keyring_t *kr, bool open_sensitive,
                      hl_stored_contact_t *sc)
{
    hl_contact_t *c = NULL;
    int rc;

    rc = hl_contact_new(&c);
    if (rc != HL_OK)
        return rc;
    sc->contact = c;
    if ((rc = dup_into(&c->source.system, &c->has_source, val(res, COL_SOURCE_SYSTEM))) != HL_OK ||
        (rc = dup_into(&c->source.id, &c->has_source, val(res, COL_SOURCE_ID))) != HL_OK)
        return rc;
    ENUM_COL(COL_CHANNEL, hl_contact_channel_parse, c->channel, c->has_channel);
    ENUM_COL(COL_CONTACT_TYPE, hl_contact_type_parse, c->contact_type, c->has_contact_type);
    c->started_at = strtoll(val(res, COL_STARTED), NULL, 10);
    c->has_started_at = HL_CONTACT_SET;
    if (!is_null(res, COL_ENDED)) {
        c->ended_at = strtoll(val(res, COL_ENDED), NULL, 10);
        c->has_ended_at = HL_CONTACT_SET;
    }
    if (!is_null(res, COL_COUNSELLOR) &&
        (rc = dup_into(&c->counsellor, &c->has_counsellor, val(res, COL_COUNSELLOR))) != HL_OK)
        return rc;
    if (!is_null(res, COL_CHILD_AGE)) {
        c->child.age = atoi(val(res, COL_CHILD_AGE));
        c->child.has_age = HL_CONTACT_SET;
    }
    ENUM_COL(COL_CHILD_GENDER, hl_contact_gender_parse, c->child.gender, c->child.has_gender);
    ENUM_COL(COL_CHILD_REGION, hl_contact_region_parse, c->child.region, c->child.has_region);
    ENUM_COL(COL_CALLER_REL, hl_contact_relationship_parse, c->caller.relationship,
             c->caller.has_relationship);
    ENUM_COL(COL_URGENCY, hl_contact_urgency_parse, c->urgency, c->has_urgency);
    if ((rc = fill_actions(c, val(res, COL_ACTIONS))) != HL_OK ||
        (rc = fill_strings(c->local_categories, &c->n_local_categories, HL_CONTACT_MAX_LOCAL_CATEGORIES,
                           &c->has_local_categories, val(res, COL_LOCAL))) != HL_OK)
        return rc;
    if (open_sensitive) {
        if ((rc = open_sealed(kr, res, COL_CHILD_NAME, sc->id, "child_name", &c->child.name,
                              &c->child.has_name)) != HL_OK ||
            (rc = open_sealed(kr, res, COL_CALLER_NAME, sc->id, "caller_name", &c->caller.name,
                              &c->caller.has_name)) != HL_OK ||
            (rc = open_sealed(kr, res, COL_CALLER_PHONE, sc->id, "caller_phone", &c->caller.phone,
                              &c->caller.has_phone)) != HL_OK ||
            (rc = open_sealed(kr, res, COL_SUMMARY, sc->id, "summary", &c->summary, &c->has_summary)) !=
                HL_OK ||
            (rc = open_sealed(kr, res, COL_TRANSCRIPT, sc->id, "transcript", &c->transcript,
                              &c->has_transcript)) != HL_OK)
            return rc;
    }
    if (c->child.has_age || c->child.has_gender || c->child.has_region || c->child.has_name ||
        !is_null(res, COL_CHILD_NAME))
        c->has_child = HL_CONTACT_SET;
    if (c->caller.has_relationship || c->caller.has_phone || c->caller.has_name ||
        !is_null(res, COL_CALLER_PHONE) || !is_null(res, COL_CALLER_NAME))
        c->has_caller = HL_CONTACT_SET;
    sc->created_at = strtoll(val(res, COL_CREATED), NULL, 10);
    sc->updated_at = strtoll(val(res, COL_UPDATED), NULL, 10);
    snprintf(sc->taxonomy_version, sizeof(sc->taxonomy_version), "%s", val(res, COL_VERSION));
    snprintf(sc->case_id, sizeof(sc->case_id), "%s", val(res, COL_CASE)); /* "" when NULL */
    return HL_OK;
bad_row:
    hl_log(HL_LOG_ERROR, "contact %s: a stored value is outside helpline's vocabularies", sc->id);
    return HL_EDB;
}

static int load_categories(PGconn *conn, const char *const *params, hl_stored_contact_t *sc)
{
    PGresult *res =
        PQexecParams(conn,
                     "SELECT code, source FROM contact_categories WHERE contact_id = $1 "
                     "ORDER BY CASE source WHEN 'given' THEN 0 WHEN 'mapped' THEN 1 ELSE 2 END, code",
                     1, NULL, params, NULL, NULL, 0);
    int rc = HL_EDB;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto out;
    for (int r = 0; r < PQntuples(res) && sc->n_categories < HL_RECORD_MAX_CATEGORIES; r++) {
        hl_record_category_t *c = &sc->categories[sc->n_categories++];
        const char *src = PQgetvalue(res, r, 1);
        snprintf(c->code, sizeof(c->code), "%s", PQgetvalue(res, r, 0));
        c->source = strcmp(src, "given") == 0    ? HL_CATEGORY_GIVEN
                    : strcmp(src, "mapped") == 0 ? HL_CATEGORY_MAPPED
                                                 : HL_CATEGORY_SUGGESTED;
    }
    PQclear(res);
    res = PQexecParams(conn,
                       "SELECT term_id, field, occurrences FROM contact_terms WHERE contact_id = $1 "
                       "ORDER BY field, term_id",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto out;
    for (int r = 0; r < PQntuples(res) && sc->n_terms < HL_RECORD_MAX_TERMS; r++) {
        hl_record_term_t *t = &sc->terms[sc->n_terms++];
        snprintf(t->term_id, sizeof(t->term_id), "%s", PQgetvalue(res, r, 0));
        t->field = strcmp(PQgetvalue(res, r, 1), "summary") == 0 ? HL_TERM_IN_SUMMARY : HL_TERM_IN_TRANSCRIPT;
        t->occurrences = (uint32_t)strtoul(PQgetvalue(res, r, 2), NULL, 10);
    }
    rc = HL_OK;
out:
    if (rc != HL_OK)
        hl_log(HL_LOG_ERROR, "contact %s: cannot read categories: %s", sc->id, PQerrorMessage(conn));
    PQclear(res);
    return rc;
}

int hl_store_load(PGconn *conn, hl_crypto_keyring_t *kr, const char *id, int64_t helpline_id,
                  bool open_sensitive, bool for_update, hl_stored_contact_t *out)
{
    char hl[24], sql[sizeof(select_sql) + 16];
    const char *params[2] = {id, hl};
    PGresult *res;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", id);
    out->helpline_id = helpline_id;
    snprintf(hl, sizeof(hl), "%lld", (long long)helpline_id);
    snprintf(sql, sizeof(sql), "%s%s", select_sql, for_update ? " FOR UPDATE" : "");
    res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_log(HL_LOG_ERROR, "contact %s: cannot read: %s", id, PQerrorMessage(conn));
        rc = HL_EDB;
    } else if (PQntuples(res) == 0) {
        rc = HL_ENOTFOUND;
    } else {
        rc = decode_row(res, kr, open_sensitive, out);
        if (rc == HL_OK)
            rc = load_categories(conn, params, out);
    }
    PQclear(res);
    if (rc != HL_OK)
        hl_stored_contact_clear(out);
    return rc;
}

void hl_stored_contact_clear(hl_stored_contact_t *sc)
{
    hl_contact_free(sc->contact);
    sc->contact = NULL;
}

/* ---- update -------------------------------------------------------------------------------- */

#define MAX_PARAMS 24

typedef struct {
    char sql[2048];
    size_t len;
    int n;
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS];
    int formats[MAX_PARAMS];
    char numbers[MAX_PARAMS][24];
} update_t;

/* Appends "column = <expr with $N>" for one parameter. */
static void set_param(update_t *u, const char *column, const char *expr, const char *value, int length,
                      int format)
{
    int i = u->n++;

    u->values[i] = value;
    u->lengths[i] = length;
    u->formats[i] = format;
    u->len += (size_t)snprintf(u->sql + u->len, sizeof(u->sql) - u->len, ", %s = ", column);
    for (const char *p = expr; *p != '\0'; p++) {
        if (*p == '?')
            u->len += (size_t)snprintf(u->sql + u->len, sizeof(u->sql) - u->len, "$%d", i + 1);
        else if (u->len + 1 < sizeof(u->sql))
            u->sql[u->len++] = *p;
    }
    u->sql[u->len] = '\0';
}

static void set_text(update_t *u, const char *column, const char *value)
{
    set_param(u, column, "?", value, 0, 0);
}

static void set_int(update_t *u, const char *column, const char *cast, long long v, bool null)
{
    snprintf(u->numbers[u->n], sizeof(u->numbers[0]), "%lld", v);
    set_param(u, column, cast, null ? NULL : u->numbers[u->n], 0, 0);
}

static void set_sealed(update_t *u, const char *column, const hl_sealed_t *s)
{
    set_param(u, column, "?::bytea", (const char *)s->data, (int)s->len, 1);
}

static void set_enum(update_t *u, const char *column, const char *name)
{
    set_param(u, column, "?", name, 0, 0);
}

static char *strings_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    char *text;

    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    text = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

static char *actions_json(const hl_record_t *rec)
{
    const char *names[HL_CONTACT_MAX_ACTIONS];

    for (size_t i = 0; i < rec->n_actions; i++)
        names[i] = hl_contact_action_name(rec->actions[i]);
    return strings_json((char *const *)(uintptr_t)names, rec->n_actions);
}

static int exec_ok(PGconn *conn, const char *what, const char *sql, int n, const char *const *values,
                   const int *lengths, const int *formats)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, values, lengths, formats, 0);
    int rc = HL_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_log(HL_LOG_ERROR, "contact update (%s): %s", what, PQerrorMessage(conn));
        rc = HL_EDB;
    }
    PQclear(res);
    return rc;
}

static int replace_categories(PGconn *conn, const char *id, const hl_record_t *rec, bool summary_changed)
{
    json_t *cats = json_array(), *terms = json_array();
    char *cats_text = NULL, *terms_text = NULL;
    int rc = HL_ENOMEM;

    if (cats == NULL || terms == NULL)
        goto out;
    for (size_t i = 0; i < rec->n_categories; i++)
        json_array_append_new(cats, json_pack("{s:s, s:s}", "code", rec->categories[i].code, "source",
                                              hl_category_source_name(rec->categories[i].source)));
    for (size_t i = 0; i < rec->n_terms; i++)
        if (rec->terms[i].field == HL_TERM_IN_SUMMARY)
            json_array_append_new(terms, json_pack("{s:s, s:i}", "term", rec->terms[i].term_id, "n",
                                                   (json_int_t)rec->terms[i].occurrences));
    cats_text = json_dumps(cats, JSON_COMPACT);
    terms_text = json_dumps(terms, JSON_COMPACT);
    if (cats_text == NULL || terms_text == NULL)
        goto out;
    const char *p1[1] = {id};
    const char *p2[2] = {id, cats_text};
    const char *p3[2] = {id, terms_text};
    rc = exec_ok(conn, "categories", "DELETE FROM contact_categories WHERE contact_id = $1", 1, p1, NULL,
                 NULL);
    if (rc == HL_OK)
        rc = exec_ok(conn, "categories",
                     "INSERT INTO contact_categories (contact_id, code, source) "
                     "SELECT $1::uuid, c->>'code', c->>'source' FROM json_array_elements($2::json) c",
                     2, p2, NULL, NULL);
    if (rc == HL_OK && summary_changed)
        rc = exec_ok(conn, "terms", "DELETE FROM contact_terms WHERE contact_id = $1 AND field = 'summary'",
                     1, p1, NULL, NULL);
    if (rc == HL_OK && summary_changed)
        rc = exec_ok(
            conn, "terms",
            "INSERT INTO contact_terms (contact_id, term_id, field, occurrences) "
            "SELECT $1::uuid, t->>'term', 'summary', (t->>'n')::int FROM json_array_elements($2::json) t",
            2, p3, NULL, NULL);
out:
    free(cats_text);
    free(terms_text);
    json_decref(cats);
    json_decref(terms);
    return rc;
}

int hl_store_update(PGconn *conn, const hl_record_t *rec, unsigned changed)
{
    update_t *u = calloc(1, sizeof(*u));
    char id[HL_RECORD_UUID_LEN + 1], hl[24];
    char *actions = NULL, *local = NULL;
    int rc = HL_ENOMEM;

    if (u == NULL)
        return HL_ENOMEM;
    hl_record_id_to_text(rec->id, id);
    snprintf(hl, sizeof(hl), "%lld", (long long)rec->helpline_id);
    u->values[0] = id;
    u->values[1] = hl;
    u->n = 2;
    u->len = (size_t)snprintf(u->sql, sizeof(u->sql), "UPDATE contacts SET updated_at = now()");
    set_text(u, "taxonomy_version", rec->taxonomy_version);
    if (changed & HL_STORE_CONTACT_TYPE)
        set_enum(u, "contact_type", hl_contact_type_name(rec->contact_type));
    if (changed & HL_STORE_CHILD) {
        set_int(u, "child_age", "?::int2", rec->child_age, rec->child_age < 0);
        set_enum(u, "child_gender", rec->child_gender < 0 ? NULL : hl_contact_gender_name(rec->child_gender));
        set_enum(u, "child_region", rec->child_region < 0 ? NULL : hl_contact_region_name(rec->child_region));
        set_sealed(u, "child_name", &rec->child_name);
    }
    if (changed & HL_STORE_CALLER) {
        set_enum(u, "caller_relationship",
                 rec->caller_relationship < 0 ? NULL
                                              : hl_contact_relationship_name(rec->caller_relationship));
        set_sealed(u, "caller_name", &rec->caller_name);
        set_sealed(u, "caller_phone", &rec->caller_phone);
        set_param(u, "caller_phone_bidx", "?::bytea",
                  rec->has_phone_bidx ? (const char *)rec->phone_bidx : NULL, HL_RECORD_BIDX_BYTES, 1);
    }
    if (changed & HL_STORE_ACTIONS) {
        if ((actions = actions_json(rec)) == NULL)
            goto out;
        set_param(u, "actions", "ARRAY(SELECT json_array_elements_text(?::json))", actions, 0, 0);
    }
    if (changed & HL_STORE_URGENCY)
        set_enum(u, "urgency", rec->urgency < 0 ? NULL : hl_contact_urgency_name(rec->urgency));
    if (changed & HL_STORE_LOCAL_CATEGORIES) {
        if ((local = strings_json(rec->local_categories, rec->n_local_categories)) == NULL)
            goto out;
        set_param(u, "local_categories", "ARRAY(SELECT json_array_elements_text(?::json))", local, 0, 0);
    }
    if (changed & HL_STORE_SUMMARY)
        set_sealed(u, "summary", &rec->summary);
    u->len +=
        (size_t)snprintf(u->sql + u->len, sizeof(u->sql) - u->len, " WHERE id = $1 AND helpline_id = $2");
    rc = exec_ok(conn, "contact", u->sql, u->n, u->values, u->lengths, u->formats);
    if (rc == HL_OK)
        rc = replace_categories(conn, id, rec, (changed & HL_STORE_SUMMARY) != 0);
out:
    free(actions);
    free(local);
    free(u);
    return rc;
}
