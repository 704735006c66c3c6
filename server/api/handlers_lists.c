/* GET /v1/contacts (api.md "Lists"): filters, roles and the cursor; the query is contact_list.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "casework/contact_list.h"
#include "http/cursor.h"
#include "stats/stats.h"
#include "access/users.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT     200
#define DAY_US        (INT64_C(86400) * 1000000)

/* The parsed query: what contact_list.c runs and what the cursor is bound to. */
typedef struct list_params {
    hl_contact_list_query_t q;
    const char *category;
    const char *case_param;
    const char *caller_of;
    char case_id[HL_RECORD_UUID_LEN + 1];
    char caller_id[HL_RECORD_UUID_LEN + 1];
    char limit_text[8];
    hl_cursor_scope_t scope;
} list_params_t;

static void bad(hl_request_t *req, const char *param, const char *message)
{
    hl_http_reply_error(req, 400, "invalid_field", message, param);
}

/* Query parameter NAME: NULL when absent; "" is a value (and refused by every parser below). */
static const char *param(hl_request_t *req, const char *name)
{
    return hl_http_query(req, name);
}

/* A date YYYY-MM-DD as the microsecond of its UTC midnight. */
static bool date_us(const char *s, int64_t *us)
{
    char ts[32];

    if (!hl_stats_date_valid(s))
        return false;
    snprintf(ts, sizeof(ts), "%sT00:00:00Z", s);
    return hl_contact_time_parse(ts, strlen(ts), us);
}

static bool parse_dates(hl_request_t *req, hl_contact_list_query_t *q)
{
    const char *from = param(req, "from"), *to = param(req, "to");
    char probe[HL_CONTACT_TIME_LEN];

    if (from != NULL && !(q->has_from = date_us(from, &q->from_us))) {
        bad(req, "from", "from must be a date YYYY-MM-DD");
        return false;
    }
    if (to != NULL && !(q->has_to = date_us(to, &q->to_us))) {
        bad(req, "to", "to must be a date YYYY-MM-DD");
        return false;
    }
    if (q->has_from && q->has_to && q->from_us > q->to_us) {
        bad(req, "to", "to must not be before from");
        return false;
    }
    /* to is inclusive: up to the next midnight (none after 9999-12-31: no bound needed). */
    if (q->has_to) {
        q->to_us += DAY_US;
        q->has_to = hl_contact_time_format(q->to_us, probe);
    }
    return true;
}

static bool parse_counsellor(hl_request_t *req, const hl_principal_t *who, hl_contact_list_query_t *q)
{
    const char *c = param(req, "counsellor");

    if (c != NULL && strcmp(c, "me") != 0 && !hl_users_name_valid(c)) {
        bad(req, "counsellor", "counsellor must be 'me' or a username");
        return false;
    }
    if (c != NULL && strcmp(c, "me") == 0)
        c = who->name;
    /* Counsellors list their own contacts: the filter is always their own name. */
    if (who->role == HL_ROLE_COUNSELLOR) {
        if (c != NULL && strcmp(c, who->name) != 0) {
            hl_http_reply_error(req, 403, "forbidden", "counsellors list their own contacts", "counsellor");
            return false;
        }
        c = who->name;
    }
    q->counsellor = c;
    return true;
}

/* The codes a category filter matches: the code, and for a top-level one its subcategories. */
static bool parse_category(hl_request_t *req, const hl_taxonomy_t *tax, list_params_t *p)
{
    const hl_taxonomy_category_t *cat;
    hl_contact_list_query_t *q = &p->q;

    p->category = param(req, "category");
    if (p->category == NULL)
        return true;
    cat = hl_taxonomy_category(tax, p->category);
    if (cat == NULL) {
        hl_http_reply_error(req, 400, "unknown_category", "category must be a code of the taxonomy",
                            "category");
        return false;
    }
    q->codes[q->n_codes++] = cat->code;
    for (size_t i = 0; cat->parent == NULL && i < cat->n_children && q->n_codes < HL_CONTACT_LIST_MAX_CODES;
         i++)
        q->codes[q->n_codes++] = cat->children[i]->code;
    return true;
}

static bool parse_vocabularies(hl_request_t *req, hl_contact_list_query_t *q)
{
    const char *channel = param(req, "channel"), *type = param(req, "contact_type"),
               *urgency = param(req, "urgency");
    hl_channel_t ch;
    hl_contact_type_t ct;
    hl_urgency_t ur;

    if (channel != NULL && !hl_contact_channel_parse(channel, &ch)) {
        bad(req, "channel",
            "channel must be one of phone sms chat messaging_app social_media email walk_in letter other");
        return false;
    }
    if (type != NULL && !hl_contact_type_parse(type, &ct)) {
        bad(req, "contact_type",
            "contact_type must be one of counselling information referral silent hang_up missed abusive "
            "prank wrong_number thank_you other");
        return false;
    }
    if (urgency != NULL && !hl_contact_urgency_parse(urgency, &ur)) {
        bad(req, "urgency", "urgency must be one of non_critical urgent critical");
        return false;
    }
    q->channel = channel != NULL ? hl_contact_channel_name(ch) : NULL;
    q->contact_type = type != NULL ? hl_contact_type_name(ct) : NULL;
    q->urgency = urgency != NULL ? hl_contact_urgency_name(ur) : NULL;
    return true;
}

/* An id in its canonical text (lower case), or false. */
static bool canonical_id(const char *s, char out[HL_RECORD_UUID_LEN + 1])
{
    uint8_t raw[HL_RECORD_ID_BYTES];

    if (!hl_record_id_from_text(s, raw))
        return false;
    hl_record_id_to_text(raw, out);
    return true;
}

static bool parse_ids(hl_request_t *req, list_params_t *p)
{
    p->case_param = param(req, "case");
    if (p->case_param != NULL) {
        if (strcmp(p->case_param, "none") == 0) {
            p->q.case_mode = HL_CONTACT_LIST_CASE_NONE;
        } else if (canonical_id(p->case_param, p->case_id)) {
            p->q.case_mode = HL_CONTACT_LIST_CASE_ID;
            p->q.case_id = p->case_param = p->case_id;
        } else {
            bad(req, "case", "case must be 'none' or a case id");
            return false;
        }
    }
    p->caller_of = param(req, "caller_of");
    if (p->caller_of != NULL) {
        if (!canonical_id(p->caller_of, p->caller_id)) {
            bad(req, "caller_of", "caller_of must be a contact id");
            return false;
        }
        p->caller_of = p->caller_id;
    }
    return true;
}

static bool parse_limit(hl_request_t *req, hl_contact_list_query_t *q)
{
    const char *s = param(req, "limit");
    char *end;
    unsigned long v;

    q->limit = DEFAULT_LIMIT;
    if (s == NULL)
        return true;
    v = strtoul(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || v < 1 || v > MAX_LIMIT) {
        bad(req, "limit", "limit must be an integer 1..200");
        return false;
    }
    q->limit = (unsigned)v;
    return true;
}

/* Everything that shapes the result, normalised, in a fixed order (cursor.h). */
static void build_scope(list_params_t *p, const hl_principal_t *who)
{
    hl_cursor_scope_t *s = &p->scope;
    const hl_contact_list_query_t *q = &p->q;
    char from[HL_CONTACT_TIME_LEN], to[HL_CONTACT_TIME_LEN];

    hl_cursor_scope_init(s, "contacts", who->user_id);
    hl_cursor_scope_add(s, "from", q->has_from && hl_contact_time_format(q->from_us, from) ? from : NULL);
    hl_cursor_scope_add(s, "to", q->has_to && hl_contact_time_format(q->to_us, to) ? to : NULL);
    hl_cursor_scope_add(s, "counsellor", q->counsellor);
    hl_cursor_scope_add(s, "category", p->category);
    hl_cursor_scope_add(s, "channel", q->channel);
    hl_cursor_scope_add(s, "contact_type", q->contact_type);
    hl_cursor_scope_add(s, "urgency", q->urgency);
    hl_cursor_scope_add(s, "case", p->case_param);
    hl_cursor_scope_add(s, "caller_of", p->caller_of);
    snprintf(p->limit_text, sizeof(p->limit_text), "%u", q->limit);
    hl_cursor_scope_add(s, "limit", p->limit_text);
}

static bool parse_cursor(hl_request_t *req, hl_app_t *app, list_params_t *p)
{
    const char *c = param(req, "cursor");
    int rc;

    if (c == NULL)
        return true;
    rc = hl_cursor_decode(app->keyring, &p->scope, c, &p->q.after_us, p->q.after_id);
    if (rc == HL_EINVAL) {
        bad(req, "cursor", "cursor is not one this query returned; start again without it");
        return false;
    }
    if (rc != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot list contacts now", NULL);
        return false;
    }
    p->q.has_after = true;
    return true;
}

/* caller_of: the blind index of the named contact's phone number, never the number. */
static bool resolve_caller(hl_request_t *req, PGconn *conn, const hl_principal_t *who, list_params_t *p,
                           bool *no_phone)
{
    char *owner = NULL;
    bool ok = false;
    int rc;

    *no_phone = false;
    if (p->caller_of == NULL)
        return true;
    rc = hl_contact_list_phone_of(conn, who->helpline_id, p->caller_of, &p->q.has_phone, p->q.phone_bidx,
                                  &owner);
    if (rc == HL_ENOTFOUND) {
        bad(req, "caller_of", "caller_of must be the id of a contact of this helpline");
    } else if (rc != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot list contacts now", NULL);
    } else if (who->role == HL_ROLE_COUNSELLOR && (owner == NULL || strcmp(owner, who->name) != 0)) {
        /* Same-number links of another counsellor's contact would tell its phone number apart. */
        hl_http_reply_error(req, 403, "forbidden", "counsellors look up the callers of their own contacts",
                            "caller_of");
    } else {
        *no_phone = !p->q.has_phone;
        ok = true;
    }
    free(owner);
    return ok;
}

static void reply_page(hl_request_t *req, hl_app_t *app, const list_params_t *p, hl_contact_list_page_t *page)
{
    char cursor[HL_CURSOR_TEXT_LEN + 1];
    json_t *next = json_null();

    if (page->more) {
        if (hl_cursor_encode(app->keyring, &p->scope, page->last_us, page->last_id, cursor) != HL_OK) {
            json_decref(page->items);
            hl_http_reply_error(req, 503, "unavailable", "cannot list contacts now", NULL);
            return;
        }
        next = json_string(cursor);
    }
    hl_http_reply_json(req, 200, json_pack("{s:o, s:o}", "items", page->items, "next_cursor", next));
}

void hl_handle_contacts_list(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);
    list_params_t p;
    hl_contact_list_page_t page = {0};
    hl_taxref_t *ref = NULL;
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);
    PGconn *conn = NULL;
    bool no_phone = false;
    int rc;

    memset(&p, 0, sizeof(p));
    p.q.helpline_id = who->helpline_id;
    p.q.drive_max = HL_CONTACT_LIST_DRIVE_MAX;
    if (!parse_dates(req, &p.q) || !parse_counsellor(req, who, &p.q) || !parse_category(req, tax, &p) ||
        !parse_vocabularies(req, &p.q) || !parse_ids(req, &p) || !parse_limit(req, &p.q))
        goto out;
    build_scope(&p, who);
    if (!parse_cursor(req, app, &p))
        goto out;
    /* Lists may lag a little behind intake: they read the standby when there is one. */
    if ((conn = hl_dbpool_acquire(app->read_pool, 2000)) == NULL) {
        hl_http_reply_error(req, 503, "unavailable", "cannot list contacts now", NULL);
        goto out;
    }
    if (!resolve_caller(req, conn, who, &p, &no_phone))
        goto out;
    if (no_phone) { /* a contact without a number has no same-number contacts */
        hl_http_reply_json(req, 200, json_pack("{s:[], s:n}", "items", "next_cursor"));
        goto out;
    }
    rc = hl_contact_list_fetch(conn, &p.q, &page);
    if (rc != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot list contacts now", NULL);
        goto out;
    }
    reply_page(req, app, &p, &page);
out:
    hl_dbpool_release(app->read_pool, conn);
    hl_app_taxonomy_release(ref);
}
