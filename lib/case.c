/* Case vocabularies, status machine and request codec. See case.h. */
#include "case.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium/utils.h>

/* ---- vocabularies ------------------------------------------------------------------------ */

static const char *const status_names[HL_CASE_N_STATUSES] = {"open", "in_progress", "closed"};
static const char *const priority_names[HL_CASE_N_PRIORITIES] = {"low", "normal", "high", "critical"};
static const char *const state_names[HL_REFERRAL_N_STATES] = {"made", "accepted", "declined", "completed"};
static const char *const kind_names[HL_CASE_N_ENTRY_KINDS] = {"contact", "note", "referral", "status"};

/* S (LEN bytes, may hold a NUL: then it matches nothing) in NAMES: its index, or -1. */
static int find(const char *const *names, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return (int)i;
    return -1;
}

#define VOCAB(fname, type, array)                                                                            \
    const char *fname##_name(type v)                                                                         \
    {                                                                                                        \
        return (int)v >= 0 && (size_t)v < HL_ARRAY_LEN(array) ? array[v] : NULL;                             \
    }                                                                                                        \
    bool fname##_parse(const char *s, type *out)                                                             \
    {                                                                                                        \
        int i = s != NULL ? find(array, HL_ARRAY_LEN(array), s, strlen(s)) : -1;                             \
        if (i < 0)                                                                                           \
            return false;                                                                                    \
        *out = (type)i;                                                                                      \
        return true;                                                                                         \
    }

VOCAB(hl_case_status, hl_case_status_t, status_names)
VOCAB(hl_case_priority, hl_case_priority_t, priority_names)
VOCAB(hl_referral_state, hl_referral_state_t, state_names)
VOCAB(hl_case_entry_kind, hl_case_entry_kind_t, kind_names)

bool hl_case_is_referral(hl_action_t a)
{
    const char *name = hl_contact_action_name(a);

    return name != NULL && strncmp(name, "referral.", 9) == 0;
}

bool hl_case_transition_ok(hl_case_status_t from, hl_case_status_t to)
{
    switch (from) {
    case HL_CASE_OPEN:
        return to == HL_CASE_IN_PROGRESS || to == HL_CASE_CLOSED;
    case HL_CASE_IN_PROGRESS:
        return to == HL_CASE_CLOSED;
    case HL_CASE_CLOSED:
        return to == HL_CASE_IN_PROGRESS;
    default:
        return false;
    }
}

bool hl_referral_change_ok(hl_referral_state_t from, hl_referral_state_t to)
{
    return from != to && (int)from >= 0 && from < HL_REFERRAL_N_STATES && (int)to >= 0 &&
           to < HL_REFERRAL_N_STATES;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool hl_case_uuid_valid(const char *s, size_t len)
{
    if (len != HL_CASE_UUID_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

/* ---- errors and strings ------------------------------------------------------------------ */

static int fail(hl_contact_error_t *e, const char *code, const char *ptr, const char *fmt, ...)
    HL_PRINTF(4, 5);

static int fail(hl_contact_error_t *e, const char *code, const char *ptr, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    e->has_field = ptr != NULL;
    snprintf(e->field, sizeof(e->field), "%s", ptr != NULL ? ptr : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return HL_EINVAL;
}

enum {
    STR_BYTES = 1u << 0, /* limits count bytes, not characters */
    STR_TEXT = 1u << 1,  /* \n \r \t allowed */
    STR_NULL = 1u << 2   /* null allowed */
};

/* The string at KEY of ROOT into *OUT (and *HAS), checked: no NUL, no control characters (but
 * newlines and tabs in text), MIN..MAX characters or bytes. */
static int take_string(json_t *root, const char *key, size_t min, size_t max, unsigned flags,
                       hl_contact_presence_t *has, char **out, hl_contact_error_t *e)
{
    json_t *v = json_object_get(root, key);
    char ptr[80];
    const char *s;
    size_t len, n = 0;

    snprintf(ptr, sizeof(ptr), "/%s", key);
    if (v == NULL)
        return HL_OK;
    if (json_is_null(v) && (flags & STR_NULL)) {
        *has = HL_CONTACT_NULL;
        return HL_OK;
    }
    if (!json_is_string(v))
        return fail(e, HL_CONTACT_ERR_INVALID_FIELD, ptr, "%s must be a string%s", key,
                    (flags & STR_NULL) ? " or null" : "");
    s = json_string_value(v);
    len = json_string_length(v);
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b == 0)
            return fail(e, HL_CONTACT_ERR_INVALID_FIELD, ptr, "%s must not contain NUL characters", key);
        if ((b < 0x20 || b == 0x7f) && !((flags & STR_TEXT) && (b == '\n' || b == '\r' || b == '\t')))
            return fail(e, HL_CONTACT_ERR_INVALID_FIELD, ptr, "%s must not contain control characters%s", key,
                        (flags & STR_TEXT) ? " other than newline, carriage return and tab" : "");
        n += (flags & STR_BYTES) || (b & 0xc0) != 0x80;
    }
    if (n < min || n > max)
        return fail(e, HL_CONTACT_ERR_INVALID_FIELD, ptr, "%s must be %zu..%zu %s", key, min, max,
                    (flags & STR_BYTES) ? "bytes" : "characters");
    if ((*out = malloc(len + 1)) == NULL)
        return HL_ENOMEM;
    memcpy(*out, s, len + 1);
    *has = HL_CONTACT_SET;
    return HL_OK;
}

/* One of NAMES at KEY of ROOT (never null) into *OUT; REQUIRED: missing_field when absent. */
static int take_enum(json_t *root, const char *key, const char *const *names, size_t n, bool required,
                     hl_contact_presence_t *has, int *out, hl_contact_error_t *e)
{
    json_t *v = json_object_get(root, key);
    char ptr[80], list[200];
    size_t used = 0;
    int i;

    snprintf(ptr, sizeof(ptr), "/%s", key);
    if (v == NULL)
        return required ? fail(e, HL_CONTACT_ERR_MISSING_FIELD, ptr, "%s is required", key) : HL_OK;
    if (json_is_string(v) && (i = find(names, n, json_string_value(v), json_string_length(v))) >= 0) {
        *out = i;
        *has = HL_CONTACT_SET;
        return HL_OK;
    }
    list[0] = '\0';
    for (size_t k = 0; k < n; k++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", k > 0 ? " " : "", names[k]);
    return fail(e, HL_CONTACT_ERR_INVALID_FIELD, ptr, "%s must be one of: %s", key, list);
}

/* 1..64 of [A-Za-z0-9._-], starting with a letter or digit (the users table's names). */
static bool is_username(const char *s, size_t len)
{
    if (len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

/* ---- bodies ------------------------------------------------------------------------------ */

static const char *const create_keys[] = {"label",       "summary",  "priority", "follow_up_at",
                                          "assigned_to", "contacts", NULL};
static const char *const patch_keys[] = {"label",       "summary", "priority", "follow_up_at",
                                         "assigned_to", "status",  NULL};
static const char *const note_keys[] = {"text", NULL};
static const char *const referral_keys[] = {"to", "organisation", "details", "state", NULL};
static const char *const state_keys[] = {"state", NULL};

static const char *const *keys_of(hl_case_body_t kind)
{
    switch (kind) {
    case HL_CASE_BODY_CREATE:
        return create_keys;
    case HL_CASE_BODY_PATCH:
        return patch_keys;
    case HL_CASE_BODY_NOTE:
        return note_keys;
    case HL_CASE_BODY_REFERRAL:
        return referral_keys;
    default:
        return state_keys;
    }
}

/* The first key of ROOT (document order) that KIND does not take. */
static int check_keys(json_t *root, hl_case_body_t kind, hl_contact_error_t *e)
{
    const char *const *allowed = keys_of(kind);

    for (void *it = json_object_iter(root); it != NULL; it = json_object_iter_next(root, it)) {
        const char *key = json_object_iter_key(it);
        size_t key_len = json_object_iter_key_len(it);
        bool known = false;
        char ptr[HL_CONTACT_ERR_FIELD_LEN];

        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strlen(allowed[i]) == key_len && memcmp(allowed[i], key, key_len) == 0;
        if (known)
            continue;
        /* The key as a JSON Pointer: "~" and "/" escaped, cut at a NUL, or at a character
         * boundary when too long. */
        size_t n = 1;
        ptr[0] = '/';
        for (size_t i = 0; i < key_len && key[i] != '\0'; i++) {
            bool esc = key[i] == '~' || key[i] == '/';
            if (n + (esc ? 2 : 1) >= sizeof(ptr)) {
                while (n > 1 && ((unsigned char)ptr[n - 1] & 0xc0) == 0x80)
                    n--;
                if (n > 1 && (unsigned char)ptr[n - 1] >= 0xc0)
                    n--;
                break;
            }
            if (esc) {
                ptr[n++] = '~';
                ptr[n++] = key[i] == '~' ? '0' : '1';
            } else {
                ptr[n++] = key[i];
            }
        }
        ptr[n] = '\0';
        if (kind == HL_CASE_BODY_PATCH && strcmp(ptr, "/contacts") == 0)
            return fail(e, HL_CONTACT_ERR_UNKNOWN_FIELD, ptr,
                        "contacts cannot be changed by PATCH: link and unlink them one by one");
        if (kind == HL_CASE_BODY_CREATE && strcmp(ptr, "/status") == 0)
            return fail(e, HL_CONTACT_ERR_UNKNOWN_FIELD, ptr, "a new case is always open");
        return fail(e, HL_CONTACT_ERR_UNKNOWN_FIELD, ptr, "unknown field");
    }
    return HL_OK;
}

static int parse_contacts(json_t *root, hl_case_input_t *in, hl_contact_error_t *e)
{
    json_t *arr = json_object_get(root, "contacts"), *v;
    size_t i;
    char ptr[32];

    if (arr == NULL)
        return HL_OK;
    if (!json_is_array(arr))
        return fail(e, HL_CONTACT_ERR_INVALID_FIELD, "/contacts", "contacts must be an array of contact ids");
    if (json_array_size(arr) > HL_CASE_MAX_CONTACTS)
        return fail(e, HL_CONTACT_ERR_INVALID_FIELD, "/contacts", "contacts must hold at most %d ids",
                    HL_CASE_MAX_CONTACTS);
    json_array_foreach(arr, i, v)
    {
        snprintf(ptr, sizeof(ptr), "/contacts/%zu", i);
        if (!json_is_string(v) || !hl_case_uuid_valid(json_string_value(v), json_string_length(v)))
            return fail(e, HL_CONTACT_ERR_INVALID_FIELD, ptr, "each contact must be a contact id (a UUID)");
        char *id = in->contacts[in->n_contacts];
        for (size_t k = 0; k <= HL_CASE_UUID_LEN; k++) {
            char c = json_string_value(v)[k];
            id[k] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        }
        for (size_t k = 0; k < in->n_contacts; k++)
            if (strcmp(in->contacts[k], id) == 0)
                return fail(e, HL_CONTACT_ERR_INVALID_FIELD, ptr, "a contact is listed twice");
        in->n_contacts++;
    }
    return HL_OK;
}

static int parse_assigned_to(json_t *root, hl_case_input_t *in, hl_contact_error_t *e)
{
    json_t *v = json_object_get(root, "assigned_to");

    if (v == NULL)
        return HL_OK;
    if (json_is_null(v)) {
        in->has_assigned_to = HL_CONTACT_NULL;
        return HL_OK;
    }
    if (!json_is_string(v) || !is_username(json_string_value(v), json_string_length(v)))
        return fail(e, HL_CONTACT_ERR_INVALID_FIELD, "/assigned_to",
                    "assigned_to must be a user name (1..64 of A-Z a-z 0-9 . _ -) or null");
    if ((in->assigned_to = strdup(json_string_value(v))) == NULL)
        return HL_ENOMEM;
    in->has_assigned_to = HL_CONTACT_SET;
    return HL_OK;
}

static int parse_follow_up(json_t *root, hl_case_input_t *in, hl_contact_error_t *e)
{
    json_t *v = json_object_get(root, "follow_up_at");

    if (v == NULL)
        return HL_OK;
    if (json_is_null(v)) {
        in->has_follow_up_at = HL_CONTACT_NULL;
        return HL_OK;
    }
    if (!json_is_string(v) ||
        !hl_contact_time_parse(json_string_value(v), json_string_length(v), &in->follow_up_at))
        return fail(e, HL_CONTACT_ERR_INVALID_FIELD, "/follow_up_at",
                    "follow_up_at must be an RFC 3339 timestamp with offset, or null");
    in->has_follow_up_at = HL_CONTACT_SET;
    return HL_OK;
}

/* CREATE and PATCH. */
static int parse_case(json_t *root, bool patch, hl_case_input_t *in, hl_contact_error_t *e)
{
    int rc, v = 0;

    if (patch && json_object_size(root) == 0)
        return fail(e, HL_CONTACT_ERR_MISSING_FIELD, "", "a PATCH body must hold at least one field");
    if (!patch && json_object_get(root, "label") == NULL)
        return fail(e, HL_CONTACT_ERR_MISSING_FIELD, "/label", "label is required");
    if ((rc = take_string(root, "label", 1, HL_CASE_LABEL_MAX, 0, &in->has_label, &in->label, e)) != HL_OK ||
        (rc = take_string(root, "summary", 0, HL_CASE_SUMMARY_MAX, STR_BYTES | STR_TEXT | STR_NULL,
                          &in->has_summary, &in->summary, e)) != HL_OK ||
        (rc = take_enum(root, "priority", priority_names, HL_CASE_N_PRIORITIES, false, &in->has_priority, &v,
                        e)) != HL_OK)
        return rc;
    in->priority = (hl_case_priority_t)v;
    if ((rc = parse_follow_up(root, in, e)) != HL_OK || (rc = parse_assigned_to(root, in, e)) != HL_OK)
        return rc;
    if (!patch)
        return parse_contacts(root, in, e);
    v = 0;
    rc = take_enum(root, "status", status_names, HL_CASE_N_STATUSES, false, &in->has_status, &v, e);
    in->status = (hl_case_status_t)v;
    return rc;
}

static int parse_referral(json_t *root, hl_case_input_t *in, hl_contact_error_t *e)
{
    json_t *to = json_object_get(root, "to");
    int rc, v = HL_REFERRAL_MADE;

    if (to == NULL)
        return fail(e, HL_CONTACT_ERR_MISSING_FIELD, "/to", "to is required");
    if (!json_is_string(to) || strlen(json_string_value(to)) != json_string_length(to) ||
        !hl_contact_action_parse(json_string_value(to), &in->to) || !hl_case_is_referral(in->to))
        return fail(e, HL_CONTACT_ERR_INVALID_FIELD, "/to",
                    "to must be one of: referral.child_protection referral.healthcare "
                    "referral.law_enforcement referral.mental_health referral.other_organisation "
                    "referral.school_counsellor");
    if ((rc = take_string(root, "organisation", 1, HL_CASE_ORGANISATION_MAX, STR_NULL, &in->has_organisation,
                          &in->organisation, e)) != HL_OK ||
        (rc = take_string(root, "details", 0, HL_CASE_DETAILS_MAX, STR_BYTES | STR_TEXT | STR_NULL,
                          &in->has_details, &in->details, e)) != HL_OK ||
        (rc = take_enum(root, "state", state_names, HL_REFERRAL_N_STATES, false, &in->has_state, &v, e)) !=
            HL_OK)
        return rc;
    in->state = (hl_referral_state_t)v;
    return HL_OK;
}

static int parse_fields(hl_case_body_t kind, json_t *root, hl_case_input_t *in, hl_contact_error_t *e)
{
    hl_contact_presence_t has = HL_CONTACT_ABSENT;
    int rc, v = 0;

    if (!json_is_object(root))
        return fail(e, HL_CONTACT_ERR_BAD_JSON, "", "the body must be a JSON object");
    if ((rc = check_keys(root, kind, e)) != HL_OK)
        return rc;
    switch (kind) {
    case HL_CASE_BODY_CREATE:
    case HL_CASE_BODY_PATCH:
        return parse_case(root, kind == HL_CASE_BODY_PATCH, in, e);
    case HL_CASE_BODY_NOTE:
        if (json_object_get(root, "text") == NULL)
            return fail(e, HL_CONTACT_ERR_MISSING_FIELD, "/text", "text is required");
        return take_string(root, "text", 1, HL_CASE_NOTE_MAX, STR_BYTES | STR_TEXT, &has, &in->text, e);
    case HL_CASE_BODY_REFERRAL:
        return parse_referral(root, in, e);
    default:
        rc = take_enum(root, "state", state_names, HL_REFERRAL_N_STATES, true, &in->has_state, &v, e);
        in->state = (hl_referral_state_t)v;
        return rc;
    }
}

int hl_case_parse(hl_case_body_t kind, const char *body, size_t len, hl_case_input_t **out,
                  hl_contact_error_t *err)
{
    hl_contact_error_t e;
    hl_case_input_t *in = NULL;
    json_t *root = NULL;
    json_error_t jerr;
    int rc;

    memset(&e, 0, sizeof(e));
    if (body == NULL || len == 0) {
        rc = fail(&e, HL_CONTACT_ERR_BAD_JSON, NULL, "the body is empty");
        goto out;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        /* jansson's own text may quote the input: never pass it on. */
        if (json_error_code(&jerr) == json_error_out_of_memory)
            rc = HL_ENOMEM;
        else if (json_error_code(&jerr) == json_error_duplicate_key)
            rc = fail(&e, HL_CONTACT_ERR_BAD_JSON, NULL, "duplicate object key at line %d, column %d",
                      jerr.line, jerr.column);
        else
            rc = fail(&e, HL_CONTACT_ERR_BAD_JSON, NULL, "malformed JSON at line %d, column %d", jerr.line,
                      jerr.column);
        goto out;
    }
    if ((in = calloc(1, sizeof(*in))) == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    rc = parse_fields(kind, root, in, &e);
out:
    hl_contact_json_free(root);
    if (rc == HL_OK) {
        *out = in;
    } else {
        hl_case_input_free(in);
        if (rc == HL_EINVAL && err != NULL)
            *err = e;
    }
    return rc;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

void hl_case_input_free(hl_case_input_t *in)
{
    if (in == NULL)
        return;
    wipe_free(in->label);
    wipe_free(in->summary);
    wipe_free(in->assigned_to);
    wipe_free(in->text);
    wipe_free(in->organisation);
    wipe_free(in->details);
    sodium_memzero(in, sizeof(*in));
    free(in);
}
