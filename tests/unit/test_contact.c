/*
 * lib/contact: the strict contact codec. Table-driven: each case mutates one field of a
 * valid full record (JSON Pointer path + new JSON value, or deletion) and checks the exact
 * error code and field pointer, and that the message never echoes the submitted value.
 * JSON in this file is written with single quotes; J() turns them into double quotes.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contact.h"

#define MARKER "ZQXJ7MARKER"

static const char full_json[] =
    "{'source': {'system': 'asterisk', 'id': '1732270000.42'},"
    " 'channel': 'phone', 'contact_type': 'counselling',"
    " 'started_at': '2026-11-22T10:00:00Z', 'ended_at': '2026-11-22T10:12:30Z',"
    " 'counsellor': 'amina',"
    " 'child': {'age': 14, 'gender': 'girl', 'region': 'rural', 'name': 'Wanjiru'},"
    " 'caller': {'relationship': 'self', 'phone': '+254700000001', 'name': 'Achieng'},"
    " 'categories': ['violence.online_sexual_abuse_exploitation'],"
    " 'local_categories': ['Sextortion'], 'actions': ['referral.law_enforcement'],"
    " 'urgency': 'urgent', 'summary': 'free text\\nline two', 'transcript': 'chat log'}";

static const char minimal_json[] = "{'source': {'system': 'web', 'id': '1'}, 'channel': 'chat',"
                                   " 'contact_type': 'silent', 'started_at': '2026-11-22T10:00:00+02:00'}";

/* A malloc'd copy of S with every ' turned into ". */
static char *J(const char *s)
{
    char *r = strdup(s);
    cr_assert_not_null(r);
    for (char *p = r; *p; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

static char *repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *r = malloc(ul * n + 1);
    cr_assert_not_null(r);
    for (size_t i = 0; i < n; i++)
        memcpy(r + i * ul, unit, ul);
    r[ul * n] = '\0';
    return r;
}

/* WRAP with its first '@' replaced by S (WRAP NULL: a JSON string of S). */
static char *wrap_in(const char *wrap, const char *s)
{
    const char *w = wrap ? wrap : "'@'";
    const char *at = strchr(w, '@');
    cr_assert_not_null(at);
    size_t len = strlen(w) + strlen(s);
    char *r = malloc(len);
    cr_assert_not_null(r);
    snprintf(r, len, "%.*s%s%s", (int)(at - w), w, s, at + 1);
    for (char *p = r; *p; p++)
        if (*p == '\'' && (p < r + (at - w) || p >= r + (at - w) + strlen(s)))
            *p = '"';
    return r;
}

/* BASE (single-quoted JSON) with PATH set to VALUE (double-quoted JSON) or deleted. */
static char *mutate(const char *base, const char *path, const char *value)
{
    char *b = J(base), *segs = strdup(path), *save = NULL, *out;
    if (path[0] == '\0') {
        free(segs);
        return b;
    }
    json_error_t jerr;
    json_t *root = json_loads(b, JSON_REJECT_DUPLICATES, &jerr), *obj = root;
    cr_assert_not_null(root, "base: %s", jerr.text);
    char *seg = strtok_r(segs + 1, "/", &save), *next;
    for (; (next = strtok_r(NULL, "/", &save)) != NULL; seg = next) {
        obj = json_object_get(obj, seg);
        cr_assert(json_is_object(obj), "path %s", path);
    }
    if (value == NULL) {
        cr_assert_eq(json_object_del(obj, seg), 0, "path %s", path);
    } else {
        json_t *v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        cr_assert_not_null(v, "value %s: %s", value, jerr.text);
        cr_assert_eq(json_object_set_new(obj, seg, v), 0);
    }
    out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert_not_null(out);
    json_decref(root);
    free(segs);
    free(b);
    return out;
}

/* ------------------------------------------------------------------------------------ */

/* Inline arrays, no pointers: Criterion runs each parameterized test in a new process. */
enum { BASE_FULL = 0, BASE_MINIMAL, BASE_EMPTY };

struct mcase {
    int base;
    char path[32];
    char value[320]; /* JSON ('-quoted); "" and rep == 0: delete */
    char unit[8];    /* rep > 0: value = wrap with @ = unit x rep */
    size_t rep;
    char wrap[16]; /* "": a string */
    char code[16]; /* "": must parse */
    char field[32];
};

/* clang-format off */
#define OK(p, v)              {0, p, v, "", 0, "", "", ""}
#define BAD(p, v, c, f)       {0, p, v, "", 0, "", c, f}
#define INV(p, v)             BAD(p, v, HL_CONTACT_ERR_INVALID_FIELD, p)
#define INVAT(p, v, f)        BAD(p, v, HL_CONTACT_ERR_INVALID_FIELD, f)
#define MISS(p)               BAD(p, "", HL_CONTACT_ERR_MISSING_FIELD, p)
#define UNK(p, v)             BAD(p, v, HL_CONTACT_ERR_UNKNOWN_FIELD, p)
#define REP(p, u, n, w, c, f) {0, p, "", u, n, w, c, f}
/* clang-format on */

static struct mcase post_cases[] = {
    /* source */
    MISS("/source"),
    INV("/source", "null"),
    INV("/source", "'asterisk'"),
    INV("/source", "[]"),
    MISS("/source/system"),
    MISS("/source/id"),
    INV("/source/system", "null"),
    INV("/source/system", "5"),
    INV("/source/system", "''"),
    REP("/source/system", "s", 64, "", "", ""),
    REP("/source/system", "s", 65, "", HL_CONTACT_ERR_INVALID_FIELD, "/source/system"),
    REP("/source/system", "\xc3\xa9", 64, "", "", ""),
    REP("/source/id", "9", 128, "", "", ""),
    REP("/source/id", "9", 129, "", HL_CONTACT_ERR_INVALID_FIELD, "/source/id"),
    INV("/source/id", "''"),
    INV("/source/id", "42"),
    INV("/source/id", "'a\\tb'"),
    UNK("/source/nope", "1"),
    /* channel */
    MISS("/channel"),
    INV("/channel", "null"),
    INV("/channel", "'fax'"),
    INV("/channel", "'Phone'"),
    INV("/channel", "3"),
    INV("/channel", "['phone']"),
    OK("/channel", "'walk_in'"),
    OK("/channel", "'messaging_app'"),
    /* contact_type */
    MISS("/contact_type"),
    INV("/contact_type", "null"),
    INV("/contact_type", "'chat'"),
    INV("/contact_type", "true"),
    OK("/contact_type", "'wrong_number'"),
    /* started_at / ended_at */
    MISS("/started_at"),
    INV("/started_at", "null"),
    INV("/started_at", "1732270000"),
    INV("/started_at", "'2027-11-22T10:00:00'"),
    INV("/started_at", "'2027-11-22 10:00:00Z'"),
    INV("/started_at", "'2027-02-29T10:00:00Z'"),
    INV("/started_at", "'2027-02-30T10:00:00Z'"),
    INV("/started_at", "'2027-11-22T24:00:00Z'"),
    INV("/started_at", "'2027-11-22T10:60:00Z'"),
    INV("/started_at", "'2027-11-22T10:00:60Z'"),
    INV("/started_at", "'2027-13-01T10:00:00Z'"),
    INV("/started_at", "'2027-11-22T10:00:00+02:60'"),
    INV("/started_at", "'2027-11-22T10:00:00+0200'"),
    INV("/started_at", "'2027-11-22'"),
    INV("/started_at", "''"),
    INV("/started_at", "'2027-11-22T10:00:00.Z'"),
    INV("/started_at", "'2027-11-22T10:00:00.1234567890Z'"),
    INV("/started_at", "'2027-11-22T10:00:00Z '"),
    OK("/started_at", "'2026-11-22T10:00:00.123456789Z'"),
    INVAT("/started_at", "'2026-11-22T10:12:31Z'", "/ended_at"),
    OK("/started_at", "'2026-11-22T10:12:30Z'"),
    OK("/started_at", "'2026-11-22T12:12:30+02:00'"),
    INVAT("/started_at", "'2026-11-22T12:12:30-02:00'", "/ended_at"),
    OK("/started_at", "'2024-02-29T10:00:00Z'"),
    INV("/ended_at", "'2026-02-29T10:00:00Z'"),
    OK("/ended_at", "null"),
    OK("/ended_at", "'2026-11-22T10:00:00Z'"),
    INV("/ended_at", "'2026-11-22T09:59:59.999999Z'"),
    INV("/ended_at", "'soon'"),
    INV("/ended_at", "{}"),
    /* counsellor */
    OK("/counsellor", "null"),
    OK("/counsellor", "'Amina.O_k-1'"),
    INV("/counsellor", "''"),
    INV("/counsellor", "'amina smith'"),
    INV("/counsellor", "'am\\u00efna'"),
    INV("/counsellor", "7"),
    REP("/counsellor", "c", 64, "", "", ""),
    REP("/counsellor", "c", 65, "", HL_CONTACT_ERR_INVALID_FIELD, "/counsellor"),
    /* child */
    OK("/child", "null"),
    OK("/child", "{}"),
    INV("/child", "'girl'"),
    INV("/child", "[]"),
    UNK("/child/nope", "1"),
    UNK("/child/age_band", "'13-15'"),
    OK("/child/age", "null"),
    OK("/child/age", "0"),
    OK("/child/age", "25"),
    INV("/child/age", "26"),
    INV("/child/age", "-1"),
    INV("/child/age", "14.0"),
    INV("/child/age", "'14'"),
    INV("/child/age", "true"),
    INV("/child/age", "99999999999"),
    OK("/child/gender", "null"),
    OK("/child/gender", "'non_binary'"),
    INV("/child/gender", "'female'"),
    INV("/child/gender", "1"),
    OK("/child/region", "'unknown'"),
    INV("/child/region", "'city'"),
    INV("/child/region", "5"),
    INV("/child/region", "{}"),
    OK("/child/name", "null"),
    INV("/child/name", "''"),
    INV("/child/name", "5"),
    INV("/child/name", "'Wan\\u0000jiru'"),
    INV("/child/name", "'Wan\\u0007jiru'"),
    INV("/child/name", "'Wan\\njiru'"),
    INV("/child/name", "'Wan\\u007fjiru'"),
    REP("/child/name", "n", 200, "", "", ""),
    REP("/child/name", "\xc3\xa9", 200, "", "", ""),
    REP("/child/name", "\xf0\x9f\x99\x82", 200, "", "", ""),
    REP("/child/name", "n", 201, "", HL_CONTACT_ERR_INVALID_FIELD, "/child/name"),
    REP("/child/name", "\xc3\xa9", 201, "", HL_CONTACT_ERR_INVALID_FIELD, "/child/name"),
    /* caller */
    OK("/caller", "null"),
    INV("/caller", "3"),
    UNK("/caller/nope", "null"),
    UNK("/caller/age", "30"),
    OK("/caller/relationship", "'neighbour'"),
    OK("/caller/relationship", "null"),
    INV("/caller/relationship", "'mother'"),
    INV("/caller/relationship", "{}"),
    OK("/caller/phone", "'+(254) 700-000.001'"),
    OK("/caller/phone", "'112'"),
    OK("/caller/phone", "null"),
    INV("/caller/phone", "'12'"),
    INV("/caller/phone", "'+1 2'"),
    INV("/caller/phone", "'+254 ext 7'"),
    INV("/caller/phone", "'(+) -.'"),
    INV("/caller/phone", "254700000001"),
    REP("/caller/phone", "1", 32, "", "", ""),
    REP("/caller/phone", "1", 33, "", HL_CONTACT_ERR_INVALID_FIELD, "/caller/phone"),
    OK("/caller/name", "null"),
    INV("/caller/name", "''"),
    INV("/caller/name", "5"),
    INV("/caller/name", "['Achieng']"),
    INV("/caller/name", "'Ach\\u0000ieng'"),
    REP("/caller/name", "a", 201, "", HL_CONTACT_ERR_INVALID_FIELD, "/caller/name"),
    /* categories */
    OK("/categories", "null"),
    OK("/categories", "[]"),
    OK("/categories", "['violence', 'mental_health.self_harm', 'a1_b2.c3']"),
    OK("/categories", "['a','b','c','d','e','f','g','h']"),
    INV("/categories", "['a','b','c','d','e','f','g','h','i']"),
    INV("/categories", "'violence'"),
    INV("/categories", "{}"),
    INVAT("/categories", "['violence', 'Violence']", "/categories/1"),
    INVAT("/categories", "[3]", "/categories/0"),
    INVAT("/categories", "[null]", "/categories/0"),
    INVAT("/categories", "['']", "/categories/0"),
    INVAT("/categories", "['a..b']", "/categories/0"),
    INVAT("/categories", "['a.b.c']", "/categories/0"),
    INVAT("/categories", "['.a']", "/categories/0"),
    INVAT("/categories", "['a.']", "/categories/0"),
    INVAT("/categories", "['a b']", "/categories/0"),
    INVAT("/categories", "['a-b']", "/categories/0"),
    INVAT("/categories", "['ok', 'x', 'ok']", "/categories/2"),
    REP("/categories", "c", 128, "['@']", "", ""),
    REP("/categories", "c", 129, "['@']", HL_CONTACT_ERR_INVALID_FIELD, "/categories/0"),
    /* local_categories */
    OK("/local_categories", "null"),
    OK("/local_categories", "['Sextortion', 'Revenge Porn', 'Cyber Bullying']"),
    INV("/local_categories", "['1','2','3','4','5','6','7','8','9']"),
    INV("/local_categories", "'Sextortion'"),
    INVAT("/local_categories", "['']", "/local_categories/0"),
    INVAT("/local_categories", "['x', 'x']", "/local_categories/1"),
    INVAT("/local_categories", "['x', 2]", "/local_categories/1"),
    INVAT("/local_categories", "['a\\u0000b']", "/local_categories/0"),
    REP("/local_categories", "l", 200, "['@']", "", ""),
    REP("/local_categories", "l", 201, "['ok', '@']", HL_CONTACT_ERR_INVALID_FIELD, "/local_categories/1"),
    /* actions */
    OK("/actions", "null"),
    OK("/actions", "[]"),
    OK("/actions",
       "['direct_intervention','resources_recommended','referral.child_protection','referral.healthcare',"
       "'referral.law_enforcement','referral.mental_health','referral.other_organisation',"
       "'referral.school_counsellor','report.csam','other']"),
    INVAT("/actions", "['fly']", "/actions/0"),
    INVAT("/actions", "['other', 'referral']", "/actions/1"),
    INVAT("/actions", "['other', 'other']", "/actions/1"),
    INVAT("/actions", "[1]", "/actions/0"),
    INV("/actions", "'other'"),
    INV("/actions", "['a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a']"),
    /* urgency */
    OK("/urgency", "null"),
    OK("/urgency", "'critical'"),
    OK("/urgency", "'non_critical'"),
    INV("/urgency", "'high'"),
    INV("/urgency", "2"),
    /* summary, transcript */
    OK("/summary", "null"),
    OK("/summary", "''"),
    OK("/summary", "'a\\r\\n\\tb'"),
    INV("/summary", "'a\\u0001b'"),
    INV("/summary", "'a\\u0000b'"),
    INV("/summary", "'a\\u001bb'"),
    INV("/summary", "['text']"),
    REP("/summary", "s", 65536, "", "", ""),
    REP("/summary", "s", 65537, "", HL_CONTACT_ERR_INVALID_FIELD, "/summary"),
    OK("/transcript", "null"),
    OK("/transcript", "'line\\r\\nline'"),
    INV("/transcript", "'a\\u0000b'"),
    INV("/transcript", "false"),
    INV("/transcript", "'a\\u0007b'"),
    OK("/transcript", "''"),
    REP("/transcript", "t", 1048576, "", "", ""),
    REP("/transcript", "t", 1048577, "", HL_CONTACT_ERR_INVALID_FIELD, "/transcript"),
    /* unknown top-level fields, pointer escaping */
    UNK("/nope", "1"),
    UNK("/confirm_suggested", "true"),
    UNK("/id", "'0b5c'"),
    UNK("/Channel", "'phone'"),
    BAD("/a~b", "1", HL_CONTACT_ERR_UNKNOWN_FIELD, "/a~0b"),
    BAD("/\xc3\xa9", "1", HL_CONTACT_ERR_UNKNOWN_FIELD, "/\xc3\xa9"),
    /* the minimal record, and its fields */
    {BASE_MINIMAL, "/ended_at", "'2026-11-22T08:00:00Z'", "", 0, "", "", ""},
    {BASE_MINIMAL, "/ended_at", "'2026-11-22T09:59:59+02:00'", "", 0, "", HL_CONTACT_ERR_INVALID_FIELD,
     "/ended_at"},
    {BASE_MINIMAL, "/child", "{'age': null}", "", 0, "", "", ""},
};

ParameterizedTestParameters(contact_fields, post)
{
    return cr_make_param_array(struct mcase, post_cases, sizeof(post_cases) / sizeof(post_cases[0]));
}

/* The value text of a case (malloc'd, double-quoted JSON) or NULL for a deletion. */
static char *case_value(const struct mcase *mc)
{
    if (mc->rep > 0) {
        char *u = repeat(mc->unit, mc->rep), *v = wrap_in(mc->wrap[0] ? mc->wrap : NULL, u);
        free(u);
        return v;
    }
    return mc->value[0] ? J(mc->value) : NULL;
}

static void check_case(const struct mcase *mc, bool patch)
{
    char *value = case_value(mc);
    const char *base = mc->base == BASE_MINIMAL ? minimal_json
                       : mc->base == BASE_EMPTY ? "{}"
                       : patch                  ? "{'urgency': 'urgent', 'child': {'age': 3}, 'caller': {}}"
                                                : full_json;
    char *body = mutate(base, mc->path, value);
    hl_contact_t *c = NULL;
    hl_contact_error_t err;
    int rc;

    memset(&err, 0, sizeof(err));
    rc = patch ? hl_contact_parse_patch(body, strlen(body), &c, &err)
               : hl_contact_parse(body, strlen(body), &c, &err);
    if (mc->code[0] == '\0') {
        cr_expect_eq(rc, 0, "%s = %.60s: expected success, got %s at %s: %s", mc->path,
                     value ? value : "(deleted)", err.code, err.field, err.message);
        cr_expect_not_null(c);
    } else {
        cr_expect_eq(rc, HL_EINVAL, "%s = %.60s: expected %s", mc->path, value ? value : "(deleted)",
                     mc->code);
        cr_expect_null(c);
        if (rc == HL_EINVAL) {
            cr_expect_str_eq(err.code, mc->code, "%s: code %s", mc->path, err.code);
            cr_expect(err.has_field, "%s", mc->path);
            cr_expect_str_eq(err.field, mc->field, "%s: field %s (%s)", mc->path, err.field, err.message);
            cr_expect(strlen(err.message) > 0);
            /* The message never echoes a submitted string value. */
            if (value != NULL && value[0] == '"' && strlen(value) > 5) {
                char inner[64];
                snprintf(inner, sizeof(inner), "%.*s", (int)(strlen(value) - 2 < 40 ? strlen(value) - 2 : 40),
                         value + 1);
                cr_expect_null(strstr(err.message, inner), "%s: message echoes the value: %s", mc->path,
                               err.message);
            }
        }
    }
    hl_contact_free(c);
    free(body);
    free(value);
}

ParameterizedTest(struct mcase *mc, contact_fields, post)
{
    check_case(mc, false);
}

/* ------------------------------------------------------------------------------------ */
/* PATCH                                                                                  */

static struct mcase patch_cases[] = {
    OK("/urgency", "'critical'"),
    OK("/urgency", "null"),
    OK("/summary", "null"),
    OK("/summary", "'new text'"),
    OK("/contact_type", "'prank'"),
    OK("/categories", "['violence.bullying']"),
    OK("/categories", "null"),
    OK("/local_categories", "['Sextortion']"),
    OK("/actions", "['report.csam']"),
    OK("/child", "{'age': 15}"),
    OK("/child", "null"),
    OK("/caller", "{'relationship': 'parent'}"),
    OK("/confirm_suggested", "true"),
    OK("/confirm_suggested", "false"),
    INV("/confirm_suggested", "'yes'"),
    INV("/confirm_suggested", "null"),
    INV("/confirm_suggested", "1"),
    INV("/contact_type", "null"),
    INV("/contact_type", "'chat'"),
    INV("/urgency", "'high'"),
    INV("/child/age", "26"),
    INV("/caller/phone", "'12'"),
    UNK("/child/nope", "1"),
    INVAT("/categories", "['A']", "/categories/0"),
    UNK("/source", "{'system': 'x', 'id': 'y'}"),
    UNK("/channel", "'sms'"),
    UNK("/started_at", "'2026-11-22T10:00:00Z'"),
    UNK("/ended_at", "'2026-11-22T10:00:00Z'"),
    UNK("/counsellor", "'amina'"),
    UNK("/transcript", "'text'"),
    UNK("/nope", "1"),
    {BASE_EMPTY, "", "", "", 0, "", HL_CONTACT_ERR_MISSING_FIELD, ""},
};

ParameterizedTestParameters(contact_patch, fields)
{
    return cr_make_param_array(struct mcase, patch_cases, sizeof(patch_cases) / sizeof(patch_cases[0]));
}

ParameterizedTest(struct mcase *mc, contact_patch, fields)
{
    check_case(mc, true);
}

static hl_contact_t *parse_ok(const char *json_sq, bool patch)
{
    char *b = J(json_sq);
    hl_contact_t *c = NULL;
    hl_contact_error_t err;
    int rc =
        patch ? hl_contact_parse_patch(b, strlen(b), &c, &err) : hl_contact_parse(b, strlen(b), &c, &err);
    cr_assert_eq(rc, 0, "%s: %s at %s: %s", json_sq, rc == HL_EINVAL ? err.code : "?", err.field,
                 err.message);
    free(b);
    return c;
}

static void parse_err(const char *body, size_t len, bool patch, const char *code, const char *field)
{
    hl_contact_t *c = NULL;
    hl_contact_error_t err;
    int rc = patch ? hl_contact_parse_patch(body, len, &c, &err) : hl_contact_parse(body, len, &c, &err);

    cr_assert_eq(rc, HL_EINVAL, "body %.*s parsed", (int)len, body);
    cr_expect_null(c);
    cr_expect_str_eq(err.code, code, "%.*s: %s (%s)", (int)len, body, err.code, err.message);
    if (field == NULL) {
        cr_expect_not(err.has_field, "%.*s: field %s", (int)len, body, err.field);
    } else {
        cr_expect(err.has_field);
        cr_expect_str_eq(err.field, field, "%.*s: field %s", (int)len, body, err.field);
    }
    cr_expect_null(strstr(err.message, MARKER), "message echoes input: %s", err.message);
}

Test(contact_patch, presence)
{
    hl_contact_t *c =
        parse_ok("{'summary': null, 'urgency': 'critical', 'child': {'age': null, 'gender': 'boy'},"
                 " 'confirm_suggested': true}",
                 true);

    cr_expect_eq(c->has_summary, HL_CONTACT_NULL);
    cr_expect_null(c->summary);
    cr_expect_eq(c->has_urgency, HL_CONTACT_SET);
    cr_expect_eq(c->urgency, HL_CONTACT_URGENCY_CRITICAL);
    cr_expect_eq(c->has_child, HL_CONTACT_SET);
    cr_expect_eq(c->child.has_age, HL_CONTACT_NULL);
    cr_expect_eq(c->child.has_gender, HL_CONTACT_SET);
    cr_expect_eq(c->child.gender, HL_CONTACT_GENDER_BOY);
    cr_expect_eq(c->child.has_region, HL_CONTACT_ABSENT);
    cr_expect_eq(c->child.has_name, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_confirm_suggested, HL_CONTACT_SET);
    cr_expect(c->confirm_suggested);
    cr_expect_eq(c->has_source, HL_CONTACT_ABSENT);
    cr_expect_null(c->source.system);
    cr_expect_eq(c->has_channel, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_contact_type, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_started_at, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_categories, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_caller, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_transcript, HL_CONTACT_ABSENT);
    hl_contact_free(c);
}

Test(contact_patch, frozen_message)
{
    const char body[] = "{\"started_at\": \"2026-11-22T10:00:00Z\"}";
    hl_contact_t *c = NULL;
    hl_contact_error_t err;

    cr_assert_eq(hl_contact_parse_patch(body, strlen(body), &c, &err), HL_EINVAL);
    cr_expect_str_eq(err.code, HL_CONTACT_ERR_UNKNOWN_FIELD);
    cr_expect_str_eq(err.field, "/started_at");
    cr_expect_str_eq(err.message, "started_at cannot be changed by PATCH");
}

Test(contact_patch, not_object_and_bad_json)
{
    parse_err("[]", 2, true, HL_CONTACT_ERR_BAD_JSON, "");
    parse_err("{", 1, true, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("{\"urgency\": \"urgent\", \"urgency\": \"critical\"}", 44, true, HL_CONTACT_ERR_BAD_JSON,
              NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Whole records                                                                          */

Test(contact_parse, full_record)
{
    hl_contact_t *c = parse_ok(full_json, false);

    cr_expect_eq(c->has_source, HL_CONTACT_SET);
    cr_expect_str_eq(c->source.system, "asterisk");
    cr_expect_str_eq(c->source.id, "1732270000.42");
    cr_expect_eq(c->channel, HL_CONTACT_CHANNEL_PHONE);
    cr_expect_eq(c->contact_type, HL_CONTACT_TYPE_COUNSELLING);
    cr_expect_eq(c->started_at, INT64_C(1795341600) * 1000000);
    cr_expect_eq(c->has_ended_at, HL_CONTACT_SET);
    cr_expect_eq(c->ended_at - c->started_at, INT64_C(750) * 1000000);
    cr_expect_str_eq(c->counsellor, "amina");
    cr_expect_eq(c->has_child, HL_CONTACT_SET);
    cr_expect_eq(c->child.has_age, HL_CONTACT_SET);
    cr_expect_eq(c->child.age, 14);
    cr_expect_eq(c->child.gender, HL_CONTACT_GENDER_GIRL);
    cr_expect_eq(c->child.region, HL_CONTACT_REGION_RURAL);
    cr_expect_str_eq(c->child.name, "Wanjiru");
    cr_expect_eq(c->caller.relationship, HL_CONTACT_REL_SELF);
    cr_expect_str_eq(c->caller.phone, "+254700000001");
    cr_expect_str_eq(c->caller.name, "Achieng");
    cr_expect_eq(c->n_categories, 1);
    cr_expect_str_eq(c->categories[0], "violence.online_sexual_abuse_exploitation");
    cr_expect_eq(c->n_local_categories, 1);
    cr_expect_str_eq(c->local_categories[0], "Sextortion");
    cr_expect_eq(c->n_actions, 1);
    cr_expect_eq(c->actions[0], HL_CONTACT_ACTION_REFERRAL_LAW_ENFORCEMENT);
    cr_expect_eq(c->urgency, HL_CONTACT_URGENCY_URGENT);
    cr_expect_str_eq(c->summary, "free text\nline two");
    cr_expect_str_eq(c->transcript, "chat log");
    cr_expect_eq(c->has_confirm_suggested, HL_CONTACT_ABSENT);
    cr_expect_eq(hl_contact_child_age_band(c), HL_CONTACT_AGE_13_15);
    hl_contact_free(c);
}

Test(contact_parse, minimal_record)
{
    hl_contact_t *c = parse_ok(minimal_json, false);

    cr_expect_str_eq(c->source.system, "web");
    cr_expect_str_eq(c->source.id, "1");
    cr_expect_eq(c->channel, HL_CONTACT_CHANNEL_CHAT);
    cr_expect_eq(c->contact_type, HL_CONTACT_TYPE_SILENT);
    cr_expect_eq(c->started_at, INT64_C(1795334400) * 1000000);
    cr_expect_eq(c->has_ended_at, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_counsellor, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_child, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_caller, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_categories, HL_CONTACT_ABSENT);
    cr_expect_eq(c->n_categories, 0);
    cr_expect_eq(c->has_local_categories, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_actions, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_urgency, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_summary, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_transcript, HL_CONTACT_ABSENT);
    cr_expect_eq(hl_contact_child_age_band(c), HL_CONTACT_AGE_UNKNOWN);
    hl_contact_free(c);
}

Test(contact_parse, nulls_are_tracked)
{
    hl_contact_t *c =
        parse_ok("{'source': {'system': 'web', 'id': '1'}, 'channel': 'chat', 'contact_type': 'silent',"
                 " 'started_at': '2026-11-22T10:00:00Z', 'ended_at': null, 'counsellor': null,"
                 " 'child': null, 'caller': {'phone': null}, 'categories': null,"
                 " 'local_categories': [], 'actions': null, 'urgency': null, 'summary': null,"
                 " 'transcript': null}",
                 false);

    cr_expect_eq(c->has_ended_at, HL_CONTACT_NULL);
    cr_expect_eq(c->has_counsellor, HL_CONTACT_NULL);
    cr_expect_eq(c->has_child, HL_CONTACT_NULL);
    cr_expect_eq(c->has_caller, HL_CONTACT_SET);
    cr_expect_eq(c->caller.has_phone, HL_CONTACT_NULL);
    cr_expect_eq(c->caller.has_name, HL_CONTACT_ABSENT);
    cr_expect_eq(c->has_categories, HL_CONTACT_NULL);
    cr_expect_eq(c->has_local_categories, HL_CONTACT_SET);
    cr_expect_eq(c->n_local_categories, 0);
    cr_expect_eq(c->has_actions, HL_CONTACT_NULL);
    cr_expect_eq(c->has_urgency, HL_CONTACT_NULL);
    cr_expect_eq(c->has_summary, HL_CONTACT_NULL);
    cr_expect_eq(c->has_transcript, HL_CONTACT_NULL);
    hl_contact_free(c);
}

Test(contact_parse, body_errors)
{
    static const char nul_body[] = "{\"channel\": \"phone\"\0}";
    static const char bad_utf8[] = "{\"nope\": \"\xff\xfe\"}";

    parse_err("", 0, false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err(NULL, 0, false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("{", 1, false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("{\"a\": " MARKER "}", strlen("{\"a\": " MARKER "}"), false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("{\"a\": \"" MARKER, strlen("{\"a\": \"" MARKER), false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("[]", 2, false, HL_CONTACT_ERR_BAD_JSON, "");
    parse_err("[{}]", 4, false, HL_CONTACT_ERR_BAD_JSON, "");
    parse_err("42", 2, false, HL_CONTACT_ERR_BAD_JSON, "");
    parse_err("null", 4, false, HL_CONTACT_ERR_BAD_JSON, "");
    parse_err("\"" MARKER "\"", strlen(MARKER) + 2, false, HL_CONTACT_ERR_BAD_JSON, "");
    parse_err("{} x", 4, false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("{}{}", 4, false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("{} " MARKER, strlen("{} " MARKER), false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err(nul_body, sizeof(nul_body) - 1, false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err(bad_utf8, sizeof(bad_utf8) - 1, false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("{\"" MARKER "\": 1, \"" MARKER "\": 2}", strlen("{\"" MARKER "\": 1, \"" MARKER "\": 2}"),
              false, HL_CONTACT_ERR_BAD_JSON, NULL);
    parse_err("{\"child\": {\"name\": \"a\", \"name\": \"" MARKER "\"}}",
              strlen("{\"child\": {\"name\": \"a\", \"name\": \"" MARKER "\"}}"), false,
              HL_CONTACT_ERR_BAD_JSON, NULL);
    /* A trailing newline or space is whitespace, not garbage. */
    {
        char *b = J(minimal_json);
        size_t n = strlen(b);
        char *b2 = malloc(n + 3);
        hl_contact_t *c = NULL;
        hl_contact_error_t err;
        memcpy(b2, b, n);
        memcpy(b2 + n, " \n", 3);
        cr_expect_eq(hl_contact_parse(b2, n + 2, &c, &err), 0);
        /* Only LEN bytes are read: the NUL-less prefix parses too. */
        hl_contact_free(c);
        c = NULL;
        cr_expect_eq(hl_contact_parse(b2, n, &c, &err), 0);
        hl_contact_free(c);
        free(b2);
        free(b);
    }
}

Test(contact_parse, deep_nesting_is_bad_json_or_unknown)
{
    size_t depth = 5000, n = 0;
    char *b = malloc(depth * 2 + 16);
    hl_contact_t *c = NULL;
    hl_contact_error_t err;

    n += (size_t)sprintf(b, "{\"x\":");
    for (size_t i = 0; i < depth; i++)
        b[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        b[n++] = ']';
    b[n++] = '}';
    cr_expect_eq(hl_contact_parse(b, n, &c, &err), HL_EINVAL);
    cr_expect_str_eq(err.code, HL_CONTACT_ERR_BAD_JSON);
    free(b);
}

Test(contact_parse, nul_in_key_is_bad_json)
{
    /* jansson 2.14 refuses \u0000 in object keys even with JSON_ALLOW_NUL. */
    static const char body[] = "{\"chi\\u0000ld\": {}}";
    parse_err(body, sizeof(body) - 1, false, HL_CONTACT_ERR_BAD_JSON, NULL);
    static const char body2[] = "{\"child\\u0000\": {}}";
    parse_err(body2, sizeof(body2) - 1, true, HL_CONTACT_ERR_BAD_JSON, NULL);
}

Test(contact_parse, long_unknown_key_is_cut)
{
    char *key = repeat("\xc3\xa9", 300);
    size_t len = strlen(key) + 16;
    char *body = malloc(len);
    hl_contact_t *c = NULL;
    hl_contact_error_t err;

    snprintf(body, len, "{\"%s\": 1}", key);
    cr_assert_eq(hl_contact_parse(body, strlen(body), &c, &err), HL_EINVAL);
    cr_expect_str_eq(err.code, HL_CONTACT_ERR_UNKNOWN_FIELD);
    cr_expect_eq(strlen(err.field), 255); /* "/" + 127 two-byte characters */
    cr_expect_eq(strncmp(err.field, "/\xc3\xa9", 3), 0);
    free(body);
    free(key);
}

Test(contact_parse, slash_in_key_is_escaped)
{
    static const char body[] = "{\"a/b~\": 1}";
    parse_err(body, sizeof(body) - 1, false, HL_CONTACT_ERR_UNKNOWN_FIELD, "/a~1b~0");
    static const char body2[] = "{\"child\": {\"/\": 1}}";
    parse_err(body2, sizeof(body2) - 1, true, HL_CONTACT_ERR_UNKNOWN_FIELD, "/child/~1");
}

/* ------------------------------------------------------------------------------------ */
/* Error order                                                                            */

struct ocase {
    const char *body; /* '-quoted */
    const char *code;
    const char *field;
};

static struct ocase order_cases[] = {
    /* unknown top-level keys first, in document order */
    {"{'channel': 'fax', 'zz': 1, 'aa': 2}", HL_CONTACT_ERR_UNKNOWN_FIELD, "/zz"},
    {"{'child': {'age': 99}, 'nope': 1}", HL_CONTACT_ERR_UNKNOWN_FIELD, "/nope"},
    /* then the fields in schema order */
    {"{'channel': 'fax'}", HL_CONTACT_ERR_MISSING_FIELD, "/source"},
    {"{'source': {'system': 'a', 'id': 'b'}, 'contact_type': 'x', 'channel': 'fax'}",
     HL_CONTACT_ERR_INVALID_FIELD, "/channel"},
    {"{'source': {'id': '', 'nope': 1}}", HL_CONTACT_ERR_UNKNOWN_FIELD, "/source/nope"},
    {"{'source': {'id': ''}}", HL_CONTACT_ERR_MISSING_FIELD, "/source/system"},
    {"{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent', 'child': {'age': "
     "99},"
     " 'summary': 3}",
     HL_CONTACT_ERR_MISSING_FIELD, "/started_at"},
    {"{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
     " 'started_at': '2026-01-01T00:00:00Z', 'summary': 3, 'child': {'name': '', 'age': 99, 'x': 1}}",
     HL_CONTACT_ERR_UNKNOWN_FIELD, "/child/x"},
    {"{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
     " 'started_at': '2026-01-01T00:00:00Z', 'summary': 3, 'child': {'name': '', 'age': 99}}",
     HL_CONTACT_ERR_INVALID_FIELD, "/child/age"},
    {"{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
     " 'started_at': '2026-01-01T00:00:00Z', 'actions': ['x'], 'categories': ['A', 'B']}",
     HL_CONTACT_ERR_INVALID_FIELD, "/categories/0"},
    {"{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
     " 'started_at': '2026-01-01T00:00:00Z', 'transcript': 3, 'summary': 3, 'urgency': 3}",
     HL_CONTACT_ERR_INVALID_FIELD, "/urgency"},
    {"{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
     " 'started_at': '2026-01-01T00:00:00Z', 'counsellor': 'a b', 'ended_at': '2025-01-01T00:00:00Z'}",
     HL_CONTACT_ERR_INVALID_FIELD, "/ended_at"},
    /* PATCH: contact_type before child before the arrays before summary */
    {"{'summary': 1, 'actions': 1, 'child': 1, 'contact_type': 1}", HL_CONTACT_ERR_INVALID_FIELD,
     "/contact_type"},
};

Test(contact_errors, deterministic_order)
{
    for (size_t i = 0; i < sizeof(order_cases) / sizeof(order_cases[0]); i++) {
        const struct ocase *oc = &order_cases[i];
        char *b = J(oc->body);
        bool patch = i == sizeof(order_cases) / sizeof(order_cases[0]) - 1;
        hl_contact_t *c = NULL;
        hl_contact_error_t err;
        int rc =
            patch ? hl_contact_parse_patch(b, strlen(b), &c, &err) : hl_contact_parse(b, strlen(b), &c, &err);
        cr_expect_eq(rc, HL_EINVAL, "case %zu", i);
        if (rc == HL_EINVAL) {
            cr_expect_str_eq(err.code, oc->code, "case %zu: %s", i, err.code);
            cr_expect_str_eq(err.field, oc->field, "case %zu: %s", i, err.field);
        }
        hl_contact_free(c);
        free(b);
    }
}

Test(contact_errors, messages_never_echo_values)
{
    /* Each body carries MARKER in an invalid value; the message must not. */
    static const char *const bodies[] = {
        "{'source': {'system': '" MARKER "\\u0001', 'id': 'x'}}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': '" MARKER "'}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': '" MARKER "'}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '" MARKER "'}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'counsellor': '" MARKER " x'}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'child': {'name': '" MARKER "\\u0000'}}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'child': {'gender': '" MARKER "'}}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'caller': {'phone': '" MARKER "'}}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'caller': {'name': '" MARKER "\\t'}}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'categories': ['" MARKER "']}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'local_categories': ['" MARKER "', '" MARKER "']}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'actions': ['" MARKER "']}",
        "{'source': {'system': 'a', 'id': 'b'}, 'channel': 'sms', 'contact_type': 'silent',"
        " 'started_at': '2026-01-01T00:00:00Z', 'summary': '" MARKER "\\u0002'}",
        "{'" MARKER "': '" MARKER "'}",
        "{'child': {'" MARKER "': 1}}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char *b = J(bodies[i]);
        hl_contact_t *c = NULL;
        hl_contact_error_t err;
        cr_expect_eq(hl_contact_parse(b, strlen(b), &c, &err), HL_EINVAL, "body %zu", i);
        cr_expect_null(strstr(err.message, MARKER), "body %zu: %s", i, err.message);
        hl_contact_free(c);
        free(b);
    }
}

Test(contact_errors, err_may_be_null_and_out_untouched)
{
    hl_contact_t *c = (hl_contact_t *)0x1;
    cr_expect_eq(hl_contact_parse("{}", 2, &c, NULL), HL_EINVAL);
    cr_expect_eq(c, (hl_contact_t *)0x1);
}

/* ------------------------------------------------------------------------------------ */
/* Round trip and serialising                                                             */

static void round_trip(const char *json_sq, bool patch)
{
    hl_contact_t *a = parse_ok(json_sq, patch), *b = NULL;
    json_t *j = hl_contact_to_json(a, true);
    char *text;
    hl_contact_error_t err;
    int rc;

    cr_assert_not_null(j);
    text = json_dumps(j, JSON_COMPACT);
    cr_assert_not_null(text);
    rc = patch ? hl_contact_parse_patch(text, strlen(text), &b, &err)
               : hl_contact_parse(text, strlen(text), &b, &err);
    cr_assert_eq(rc, 0, "%s: %s", text, err.message);
    cr_expect(hl_contact_equal(a, b), "round trip differs: %s", text);
    hl_contact_free(a);
    hl_contact_free(b);
    free(text);
    hl_contact_json_free(j);
}

Test(contact_json, round_trip)
{
    round_trip(full_json, false);
    round_trip(minimal_json, false);
    round_trip(
        "{'source': {'system': 'web', 'id': '1'}, 'channel': 'chat', 'contact_type': 'silent',"
        " 'started_at': '2026-11-22T10:00:00.5+05:30', 'ended_at': null, 'counsellor': null,"
        " 'child': {'age': null, 'gender': null}, 'caller': {}, 'categories': [],"
        " 'local_categories': null, 'actions': ['other', 'report.csam'], 'urgency': null, 'summary': '',"
        " 'transcript': null}",
        false);
    round_trip("{'summary': null, 'confirm_suggested': true, 'child': {'age': 3}}", true);
    round_trip("{'contact_type': 'referral', 'categories': ['a.b', 'c']}", true);
    round_trip("{'confirm_suggested': false}", true);
}

Test(contact_json, shape_and_sensitive_fields)
{
    hl_contact_t *c = parse_ok(full_json, false);
    json_t *full = hl_contact_to_json(c, true), *safe = hl_contact_to_json(c, false);

    cr_assert_not_null(full);
    cr_assert_not_null(safe);
    cr_expect_str_eq(json_string_value(json_object_get(full, "started_at")), "2026-11-22T10:00:00Z");
    cr_expect_str_eq(json_string_value(json_object_get(full, "ended_at")), "2026-11-22T10:12:30Z");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(full, "source"), "id")),
                     "1732270000.42");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(full, "child"), "age")), 14);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(full, "child"), "name")), "Wanjiru");
    cr_expect_str_eq(json_string_value(json_object_get(full, "summary")), "free text\nline two");
    cr_expect_null(json_object_get(full, "confirm_suggested"));
    cr_expect_eq(json_object_size(full), 14);

    cr_expect_null(json_object_get(json_object_get(safe, "child"), "name"));
    cr_expect_not_null(json_object_get(json_object_get(safe, "child"), "age"));
    cr_expect_null(json_object_get(json_object_get(safe, "caller"), "name"));
    cr_expect_null(json_object_get(json_object_get(safe, "caller"), "phone"));
    cr_expect_not_null(json_object_get(json_object_get(safe, "caller"), "relationship"));
    cr_expect_null(json_object_get(safe, "summary"));
    cr_expect_null(json_object_get(safe, "transcript"));
    cr_expect_eq(json_object_size(safe), 12);
    hl_contact_json_free(full);
    hl_contact_json_free(safe);
    hl_contact_free(c);
}

Test(contact_json, nulls_and_fractions)
{
    hl_contact_t *c =
        parse_ok("{'source': {'system': 'web', 'id': '1'}, 'channel': 'chat', 'contact_type': 'silent',"
                 " 'started_at': '2026-11-22T10:00:00.25+01:00', 'child': null, 'summary': null}",
                 false);
    json_t *j = hl_contact_to_json(c, true);

    cr_assert_not_null(j);
    cr_expect_str_eq(json_string_value(json_object_get(j, "started_at")), "2026-11-22T09:00:00.250000Z");
    cr_expect(json_is_null(json_object_get(j, "child")));
    cr_expect(json_is_null(json_object_get(j, "summary")));
    cr_expect_null(json_object_get(j, "caller"));
    cr_expect_null(json_object_get(j, "ended_at"));
    hl_contact_json_free(j);
    hl_contact_free(c);
}

Test(contact_json, invalid_struct_gives_null)
{
    hl_contact_t *c = NULL;

    cr_assert_eq(hl_contact_new(&c), 0);
    json_t *j = hl_contact_to_json(c, true);
    cr_expect_not_null(j);
    cr_expect_eq(json_object_size(j), 0);
    json_decref(j);
    c->has_channel = HL_CONTACT_SET;
    c->channel = HL_CONTACT_N_CHANNELS;
    cr_expect_null(hl_contact_to_json(c, true));
    c->channel = HL_CONTACT_CHANNEL_SMS;
    c->has_started_at = HL_CONTACT_SET;
    c->started_at = INT64_MAX;
    cr_expect_null(hl_contact_to_json(c, true));
    c->has_started_at = HL_CONTACT_ABSENT;
    c->has_summary = HL_CONTACT_SET; /* but summary == NULL */
    cr_expect_null(hl_contact_to_json(c, true));
    cr_expect_not_null(j = hl_contact_to_json(c, false));
    json_decref(j);
    c->has_summary = HL_CONTACT_ABSENT;
    c->has_categories = HL_CONTACT_SET;
    c->n_categories = HL_CONTACT_MAX_CATEGORIES + 1;
    cr_expect_null(hl_contact_to_json(c, true));
    c->n_categories = 0;
    c->has_child = HL_CONTACT_SET;
    c->child.has_age = HL_CONTACT_SET;
    c->child.age = 26;
    cr_expect_null(hl_contact_to_json(c, true));
    hl_contact_free(c);
}

Test(contact_json, equal)
{
    hl_contact_t *a = parse_ok(full_json, false), *b = parse_ok(full_json, false);

    cr_expect(hl_contact_equal(a, b));
    cr_expect(hl_contact_equal(NULL, NULL));
    cr_expect_not(hl_contact_equal(a, NULL));
    b->child.age = 15;
    cr_expect_not(hl_contact_equal(a, b));
    b->child.age = 14;
    b->caller.has_name = HL_CONTACT_NULL;
    cr_expect_not(hl_contact_equal(a, b));
    b->caller.has_name = HL_CONTACT_SET;
    b->summary[0] = 'F';
    cr_expect_not(hl_contact_equal(a, b));
    hl_contact_free(a);
    hl_contact_free(b);
}

Test(contact_json, wipe)
{
    json_t *j = json_pack("{s:s, s:[s, {s:s}], s:i}", "a", "secret", "b", "x", "c", "hidden", "n", 3);
    const char *a, *c;

    cr_assert_not_null(j);
    hl_contact_json_wipe(j);
    a = json_string_value(json_object_get(j, "a"));
    c = json_string_value(json_object_get(json_array_get(json_object_get(j, "b"), 1), "c"));
    for (size_t i = 0; i < 6; i++) {
        cr_expect_eq(a[i], '\0');
        cr_expect_eq(c[i], '\0');
    }
    hl_contact_json_free(j);
    hl_contact_json_free(NULL);
    hl_contact_json_wipe(NULL);
    hl_contact_free(NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Timestamps                                                                             */

struct tcase {
    const char *s;
    bool ok;
    int64_t us;
};

static const struct tcase time_cases[] = {
    {"1970-01-01T00:00:00Z", true, 0},
    {"1970-01-01t00:00:00z", true, 0},
    {"1970-01-01T00:00:00-00:00", true, 0},
    {"1970-01-01T01:00:00+01:00", true, 0},
    {"1969-12-31T23:59:59.5Z", true, -500000},
    {"1970-01-01T00:00:00.000001Z", true, 1},
    {"1970-01-01T00:00:00.1234569Z", true, 123456},
    {"2026-11-22T10:00:00Z", true, INT64_C(1795341600000000)},
    {"2026-11-22T12:00:00+02:00", true, INT64_C(1795341600000000)},
    {"2026-11-22T04:30:00-05:30", true, INT64_C(1795341600000000)},
    {"2024-02-29T00:00:00Z", true, INT64_C(1709164800000000)},
    {"2000-02-29T12:00:00Z", true, INT64_C(951825600000000)},
    {"0001-01-01T00:00:00Z", true, INT64_C(-62135596800000000)},
    {"9999-12-31T23:59:59.999999Z", true, INT64_C(253402300799999999)},
    {"2026-12-31T23:59:59+23:59", true, INT64_C(1798675259000000)},
    {"2026-02-29T00:00:00Z", false, 0},
    {"1900-02-29T00:00:00Z", false, 0},
    {"2026-04-31T00:00:00Z", false, 0},
    {"2026-00-10T00:00:00Z", false, 0},
    {"2026-01-00T00:00:00Z", false, 0},
    {"2026-01-01T24:00:00Z", false, 0},
    {"2026-01-01T23:59:60Z", false, 0},
    {"2026-01-01T00:00:00", false, 0},
    {"2026-01-01T00:00:00+24:00", false, 0},
    {"2026-01-01T00:00:00+1:00", false, 0},
    {"2026-01-01T00:00:00+01:00:00", false, 0},
    {"2026-01-01T00:00:00.Z", false, 0},
    {"2026-01-01T00:00Z", false, 0},
    {"26-01-01T00:00:00Z", false, 0},
    {"+2026-01-01T00:00:00Z", false, 0},
    {"2026-01-01X00:00:00Z", false, 0},
    {"2026-1-01T00:00:00Z", false, 0},
    {"2026-01-01T00:00:00ZZ", false, 0},
    {"0000-01-01T00:00:00Z", false, 0},
    {"0001-01-01T00:00:00+00:01", false, 0},
    {"9999-12-31T23:59:59-00:01", false, 0},
    {"", false, 0},
};

Test(contact_time, parse_table)
{
    for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
        int64_t us = 42;
        bool ok = hl_contact_time_parse(time_cases[i].s, strlen(time_cases[i].s), &us);
        cr_expect_eq(ok, time_cases[i].ok, "%s", time_cases[i].s);
        if (time_cases[i].ok)
            cr_expect_eq(us, time_cases[i].us, "%s: %lld", time_cases[i].s, (long long)us);
        else
            cr_expect_eq(us, 42, "%s: output written on failure", time_cases[i].s);
    }
    cr_expect_not(hl_contact_time_parse(NULL, 0, &(int64_t){0}));
    /* Only LEN bytes are read. */
    int64_t us = 0;
    cr_expect(hl_contact_time_parse("2026-11-22T10:00:00Zjunk", 20, &us));
}

Test(contact_time, format)
{
    char buf[HL_CONTACT_TIME_LEN];
    static const struct {
        int64_t us;
        const char *s;
    } cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {1, "1970-01-01T00:00:00.000001Z"},
        {-1, "1969-12-31T23:59:59.999999Z"},
        {-500000, "1969-12-31T23:59:59.500000Z"},
        {INT64_C(1795341600000000), "2026-11-22T10:00:00Z"},
        {INT64_C(1709164800000000), "2024-02-29T00:00:00Z"},
        {INT64_C(-62135596800000000), "0001-01-01T00:00:00Z"},
        {INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t back = 0;
        cr_assert(hl_contact_time_format(cases[i].us, buf));
        cr_expect_str_eq(buf, cases[i].s);
        cr_expect(hl_contact_time_parse(buf, strlen(buf), &back));
        cr_expect_eq(back, cases[i].us);
    }
    cr_expect_not(hl_contact_time_format(INT64_C(253402300800000000), buf));
    cr_expect_not(hl_contact_time_format(INT64_C(-62135596800000001), buf));
    cr_expect_not(hl_contact_time_format(INT64_MIN, buf));
}

/* ------------------------------------------------------------------------------------ */
/* Vocabularies                                                                           */

#define CHECK_VOCAB(fname, type, count, first, last)                                                         \
    do {                                                                                                     \
        for (int i = 0; i < (int)(count); i++) {                                                             \
            type v;                                                                                          \
            const char *n = hl_contact_##fname##_name((type)i);                                              \
            cr_assert_not_null(n, #fname " %d", i);                                                          \
            cr_expect(hl_contact_##fname##_parse(n, &v), "%s", n);                                           \
            cr_expect_eq((int)v, i, "%s", n);                                                                \
        }                                                                                                    \
        cr_expect_null(hl_contact_##fname##_name((type)(count)));                                            \
        cr_expect_null(hl_contact_##fname##_name((type)-1));                                                 \
        cr_expect_str_eq(hl_contact_##fname##_name((type)0), first);                                         \
        cr_expect_str_eq(hl_contact_##fname##_name((type)((count)-1)), last);                                \
        type untouched = (type)1;                                                                            \
        cr_expect_not(hl_contact_##fname##_parse("nope", &untouched));                                       \
        cr_expect_not(hl_contact_##fname##_parse("", &untouched));                                           \
        cr_expect_not(hl_contact_##fname##_parse(NULL, &untouched));                                         \
        cr_expect_eq((int)untouched, 1);                                                                     \
    } while (0)

Test(contact_vocab, names_round_trip)
{
    CHECK_VOCAB(channel, hl_channel_t, HL_CONTACT_N_CHANNELS, "phone", "other");
    CHECK_VOCAB(type, hl_contact_type_t, HL_CONTACT_N_TYPES, "counselling", "other");
    CHECK_VOCAB(gender, hl_gender_t, HL_CONTACT_N_GENDERS, "girl", "unknown");
    CHECK_VOCAB(region, hl_region_t, HL_CONTACT_N_REGIONS, "urban", "unknown");
    CHECK_VOCAB(relationship, hl_relationship_t, HL_CONTACT_N_RELATIONSHIPS, "self", "unknown");
    CHECK_VOCAB(action, hl_action_t, HL_CONTACT_N_ACTIONS, "direct_intervention", "other");
    CHECK_VOCAB(urgency, hl_urgency_t, HL_CONTACT_N_URGENCIES, "non_critical", "critical");
    CHECK_VOCAB(age_band, hl_age_band_t, HL_CONTACT_N_AGE_BANDS, "0-6", "unknown");
    cr_expect_str_eq(hl_contact_action_name(HL_CONTACT_ACTION_REFERRAL_SCHOOL_COUNSELLOR),
                     "referral.school_counsellor");
    cr_expect_str_eq(hl_contact_relationship_name(HL_CONTACT_REL_NEIGHBOUR), "neighbour");
    cr_expect_str_eq(hl_contact_type_name(HL_CONTACT_TYPE_THANK_YOU), "thank_you");
}

Test(contact_vocab, counselling_types)
{
    for (int t = 0; t < HL_CONTACT_N_TYPES; t++)
        cr_expect_eq(hl_contact_type_is_counselling((hl_contact_type_t)t), t <= HL_CONTACT_TYPE_REFERRAL,
                     "%d", t);
}

Test(contact_vocab, age_bands)
{
    static const struct {
        int age;
        const char *band;
    } cases[] = {{-1, "unknown"}, {0, "0-6"},    {6, "0-6"},    {7, "7-9"},      {9, "7-9"},
                 {10, "10-12"},   {12, "10-12"}, {13, "13-15"}, {15, "13-15"},   {16, "16-17"},
                 {17, "16-17"},   {18, "18-25"}, {25, "18-25"}, {26, "unknown"}, {1000, "unknown"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_str_eq(hl_contact_age_band_name(hl_contact_age_band(cases[i].age)), cases[i].band, "age %d",
                         cases[i].age);
    cr_expect_eq(hl_contact_child_age_band(NULL), HL_CONTACT_AGE_UNKNOWN);
}
