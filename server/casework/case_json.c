#include "casework/case_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *hl_case_time_json(bool set, int64_t us)
{
    char buf[HL_CONTACT_TIME_LEN];

    if (!set || !hl_contact_time_format(us, buf))
        return json_null();
    return json_string(buf);
}

static json_t *name_or_null(const char *name)
{
    return name[0] != '\0' ? json_string(name) : json_null();
}

/* Opens a sealed field into OBJ[KEY] (null when there is none). */
static int put_opened(json_t *obj, const char *key, hl_crypto_keyring_t *kr, const char *table,
                      const char *column, const char *case_id, const char *sub_id, const hl_sealed_t *ct)
{
    char *pt = NULL;
    size_t len = 0;
    int rc = hl_cases_open(kr, table, column, case_id, sub_id, ct, &pt, &len);

    if (rc != HL_OK)
        return rc;
    /* json_stringn: the length is the envelope's, the text was checked when it was sealed */
    json_t *v = pt != NULL ? json_stringn(pt, len) : json_null();
    hl_crypto_wipe_free(pt, len);
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        return HL_ENOMEM;
    return HL_OK;
}

int hl_case_json(hl_crypto_keyring_t *kr, const hl_case_row_t *c, hl_case_view_t view, json_t **out)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:I}", "id", c->id, "status",
                          hl_case_status_name(c->status), "priority", hl_case_priority_name(c->priority),
                          "follow_up_at", hl_case_time_json(c->has_follow_up, c->follow_up_at), "assigned_to",
                          name_or_null(c->assigned_to_name), "created_by", c->created_by_name, "created_at",
                          hl_case_time_json(true, c->created_at), "updated_at",
                          hl_case_time_json(true, c->updated_at), "closed_at",
                          hl_case_time_json(c->has_closed, c->closed_at), "contacts_count",
                          (json_int_t)c->contacts_count);
    int rc = j != NULL ? HL_OK : HL_ENOMEM;

    if (rc == HL_OK && view == HL_CASE_VIEW_SEALED &&
        ((rc = put_opened(j, "label", kr, HL_CASES_TABLE, "label", c->id, NULL, &c->label)) != HL_OK ||
         (rc = put_opened(j, "summary", kr, HL_CASES_TABLE, "summary", c->id, NULL, &c->summary)) != HL_OK)) {
        hl_contact_json_free(j);
        return rc;
    }
    *out = j;
    return rc;
}

/* ---- the reply of GET /v1/cases/{id} as text -------------------------------------------------- */

/* JSON text being written. It holds opened sealed fields: every buffer it leaves behind is
 * wiped (growth copies, then wipes the old one). */
typedef struct {
    char *buf;
    size_t len, cap;
    int rc; /* the first error; nothing is written after one */
} text_t;

static void grow(text_t *t, size_t more)
{
    size_t cap = t->cap;
    char *buf;

    if (t->rc != HL_OK || t->len + more + 1 <= t->cap)
        return;
    while (cap < t->len + more + 1)
        cap = cap * 2 + 4096;
    if ((buf = malloc(cap)) == NULL) {
        t->rc = HL_ENOMEM;
        return;
    }
    if (t->buf != NULL)
        memcpy(buf, t->buf, t->len);
    hl_crypto_wipe_free(t->buf, t->cap);
    t->buf = buf;
    t->cap = cap;
}

static void raw(text_t *t, const char *s, size_t n)
{
    grow(t, n);
    if (t->rc != HL_OK)
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void lit(text_t *t, const char *s)
{
    raw(t, s, strlen(s));
}

/* The length of the UTF-8 sequence at S (N bytes left), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t k = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
    uint32_t c;

    if (s[0] < 0xC2 || s[0] > 0xF4 || n < k)
        return 0;
    c = s[0] & (0x3F >> (k - 1));
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3Fu);
    }
    /* overlong forms, surrogates and past U+10FFFF */
    if ((k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 || c > 0x10FFFF)) || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return k;
}

/* S (N bytes of UTF-8; anything else is HL_EIO) as a JSON string, escaped as jansson does. */
static void str(text_t *t, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    raw(t, "\"", 1);
    while (t->rc == HL_OK && p < end) {
        const unsigned char *run = p;
        char esc[8];
        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80)
            p++;
        raw(t, (const char *)run, (size_t)(p - run));
        if (p == end)
            break;
        if (*p >= 0x80) {
            size_t k = utf8_len(p, (size_t)(end - p));
            if (k == 0) {
                t->rc = HL_EIO;
                break;
            }
            raw(t, (const char *)p, k);
            p += k;
            continue;
        }
        switch (*p) {
        case '"':
            lit(t, "\\\"");
            break;
        case '\\':
            lit(t, "\\\\");
            break;
        case '\b':
            lit(t, "\\b");
            break;
        case '\f':
            lit(t, "\\f");
            break;
        case '\n':
            lit(t, "\\n");
            break;
        case '\r':
            lit(t, "\\r");
            break;
        case '\t':
            lit(t, "\\t");
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", *p);
            lit(t, esc);
        }
        p++;
    }
    raw(t, "\"", 1);
}

/* ,"KEY": (KEY needs no escaping) */
static void key(text_t *t, const char *k)
{
    raw(t, ",\"", 2);
    lit(t, k);
    raw(t, "\":", 2);
}

/* ,"KEY":"V" or ,"KEY":null when V is NULL */
static void field(text_t *t, const char *k, const char *v)
{
    key(t, k);
    if (v != NULL)
        str(t, v, strlen(v));
    else
        lit(t, "null");
}

static void field_time(text_t *t, const char *k, int64_t us)
{
    char buf[HL_CONTACT_TIME_LEN];

    field(t, k, hl_contact_time_format(us, buf) ? buf : NULL);
}

/* ,"KEY": and the sealed field CT opened (null when there is none). */
static void field_opened(text_t *t, const char *k, hl_crypto_keyring_t *kr, const char *table,
                         const char *column, const char *case_id, const char *sub_id, const hl_sealed_t *ct)
{
    char *pt = NULL;
    size_t len = 0;
    int rc;

    if (t->rc != HL_OK)
        return;
    if ((rc = hl_cases_open(kr, table, column, case_id, sub_id, ct, &pt, &len)) != HL_OK) {
        t->rc = rc;
        return;
    }
    key(t, k);
    if (pt != NULL)
        str(t, pt, len);
    else
        lit(t, "null");
    hl_crypto_wipe_free(pt, len);
}

/* A contact entry's categories, a JSON array of codes as PostgreSQL gave it, if it is one of
 * plain codes; [] otherwise. */
static void field_categories(text_t *t, const char *json)
{
    size_t n = strlen(json);
    bool plain = n >= 2 && json[0] == '[' && json[n - 1] == ']';

    for (size_t i = 1; plain && i + 1 < n; i++)
        plain = strchr("\",._-", json[i]) != NULL || (json[i] >= 'a' && json[i] <= 'z') ||
                (json[i] >= 'A' && json[i] <= 'Z') || (json[i] >= '0' && json[i] <= '9');
    key(t, "categories");
    lit(t, plain ? json : "[]");
}

static void entry_text(text_t *t, hl_crypto_keyring_t *kr, const char *case_id, const hl_case_entry_t *e,
                       hl_case_view_t view)
{
    bool sealed = view == HL_CASE_VIEW_SEALED;

    lit(t, "{\"id\":");
    str(t, e->id, strlen(e->id));
    field(t, "kind", hl_case_entry_kind_name(e->kind));
    field_time(t, "at", e->at);
    field(t, "by", e->by_name[0] != '\0' ? e->by_name : NULL);
    if (view == HL_CASE_VIEW_METADATA) {
        lit(t, "}");
        return;
    }
    switch (e->kind) {
    case HL_CASE_ENTRY_CONTACT:
        field(t, "contact_id", e->contact_id);
        field(t, "channel", e->channel >= 0 ? hl_contact_channel_name((hl_channel_t)e->channel) : NULL);
        field(t, "contact_type",
              e->contact_type >= 0 ? hl_contact_type_name((hl_contact_type_t)e->contact_type) : NULL);
        field_categories(t, e->categories_json);
        key(t, "unlinked");
        lit(t, e->unlinked ? "true" : "false");
        break;
    case HL_CASE_ENTRY_NOTE:
        if (sealed)
            field_opened(t, "text", kr, HL_CASES_ENTRIES, "text", case_id, e->id, &e->text);
        break;
    case HL_CASE_ENTRY_REFERRAL:
        field(t, "referral_id", e->referral_id);
        field(t, "to", hl_contact_action_name(e->referral_to));
        field(t, "state", hl_referral_state_name(e->referral_state));
        if (sealed) {
            field_opened(t, "organisation", kr, HL_CASES_REFERRALS, "organisation", case_id, e->referral_id,
                         &e->organisation);
            field_opened(t, "details", kr, HL_CASES_REFERRALS, "details", case_id, e->referral_id,
                         &e->details);
        }
        break;
    case HL_CASE_ENTRY_STATUS:
        field(t, "from", e->status_from >= 0 ? hl_case_status_name((hl_case_status_t)e->status_from) : NULL);
        field(t, "to", hl_case_status_name(e->status_to));
        break;
    default:
        break;
    }
    lit(t, "}");
}

int hl_case_reply_text(hl_crypto_keyring_t *kr, const hl_case_row_t *c, const hl_case_entry_t *e, size_t n,
                       hl_case_view_t view, char **out, size_t *len)
{
    json_t *head = NULL;
    char *head_text = NULL;
    size_t head_len = 0, want = 64;
    text_t t = {NULL, 0, 0, HL_OK};

    *out = NULL;
    *len = 0;
    if ((t.rc = hl_case_json(kr, c, view, &head)) != HL_OK)
        return t.rc;
    head_text = json_dumps(head, JSON_COMPACT);
    hl_contact_json_free(head);
    if (head_text == NULL)
        return HL_ENOMEM;
    head_len = strlen(head_text);
    /* One allocation for the usual reply: the sealed fields' sizes and a little per entry. */
    for (size_t i = 0; i < n; i++)
        want += 192 + e[i].text.len + e[i].organisation.len + e[i].details.len + strlen(e[i].categories_json);
    grow(&t, head_len + want);
    /* the case's object, its closing brace replaced by the timeline */
    raw(&t, head_text, head_len - 1);
    hl_crypto_wipe_free(head_text, head_len);
    lit(&t, ",\"timeline\":[");
    for (size_t i = 0; i < n && t.rc == HL_OK; i++) {
        if (i > 0)
            raw(&t, ",", 1);
        entry_text(&t, kr, c->id, &e[i], view);
    }
    lit(&t, "]}");
    if (t.rc != HL_OK) {
        hl_crypto_wipe_free(t.buf, t.cap);
        return t.rc;
    }
    *out = t.buf;
    *len = t.len;
    return HL_OK;
}
