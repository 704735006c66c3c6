/*
 * lib/case (vocabularies, status machine, the request codec) and server/cases' sealing: the
 * associated data binds each sealed case field to its table, column, case and entry, so a
 * sealed note copied onto another entry, case or column does not open. The text of GET
 * /v1/cases/{id} (case_json.c) in each view, with every character a note may hold. Bodies are
 * written with single quotes; J() turns them into double quotes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case.h"
#include "casework/case_json.h"
#include "casework/cases.h"
#include "crypto.h"

#define MARKER "ZQXJ7MARKER"

static char *J(const char *s)
{
    char *r = strdup(s);

    cr_assert_not_null(r);
    for (char *p = r; *p; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

/* ---- vocabularies and state machines ------------------------------------------------------- */

Test(cases_codec, status_machine_is_api_md)
{
    /* rows: from; columns: to (open, in_progress, closed) */
    static const bool allowed[3][3] = {{false, true, true},   /* open -> in_progress, closed */
                                       {false, false, true},  /* in_progress -> closed */
                                       {false, true, false}}; /* closed -> in_progress (reopen) */

    for (int f = 0; f < HL_CASE_N_STATUSES; f++)
        for (int t = 0; t < HL_CASE_N_STATUSES; t++)
            cr_expect_eq(hl_case_transition_ok((hl_case_status_t)f, (hl_case_status_t)t), allowed[f][t],
                         "%s -> %s", hl_case_status_name((hl_case_status_t)f),
                         hl_case_status_name((hl_case_status_t)t));
    cr_expect_not(hl_case_transition_ok((hl_case_status_t)7, HL_CASE_OPEN));
}

Test(cases_codec, referral_state_changes_to_any_other_state)
{
    for (int f = 0; f < HL_REFERRAL_N_STATES; f++)
        for (int t = 0; t < HL_REFERRAL_N_STATES; t++)
            cr_expect_eq(hl_referral_change_ok((hl_referral_state_t)f, (hl_referral_state_t)t), f != t);
    cr_expect_not(hl_referral_change_ok(HL_REFERRAL_MADE, (hl_referral_state_t)9));
}

Test(cases_codec, vocabularies_round_trip)
{
    const char *statuses[] = {"open", "in_progress", "closed"};
    const char *priorities[] = {"low", "normal", "high", "critical"};
    const char *states[] = {"made", "accepted", "declined", "completed"};
    const char *kinds[] = {"contact", "note", "referral", "status"};
    hl_case_status_t s;
    hl_case_priority_t p;
    hl_referral_state_t r;
    hl_case_entry_kind_t k;

    for (int i = 0; i < 3; i++) {
        cr_assert(hl_case_status_parse(statuses[i], &s));
        cr_expect_str_eq(hl_case_status_name(s), statuses[i]);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert(hl_case_priority_parse(priorities[i], &p));
        cr_expect_str_eq(hl_case_priority_name(p), priorities[i]);
        cr_assert(hl_referral_state_parse(states[i], &r));
        cr_expect_str_eq(hl_referral_state_name(r), states[i]);
        cr_assert(hl_case_entry_kind_parse(kinds[i], &k));
        cr_expect_str_eq(hl_case_entry_kind_name(k), kinds[i]);
    }
    cr_expect_not(hl_case_status_parse("Open", &s));
    cr_expect_not(hl_case_status_parse("", &s));
    cr_expect_not(hl_case_status_parse(NULL, &s));
    cr_expect_null(hl_case_status_name(HL_CASE_N_STATUSES));
    cr_expect_null(hl_case_priority_name((hl_case_priority_t)-1));
}

Test(cases_codec, referral_targets_are_the_referral_actions)
{
    int n = 0;

    for (int a = 0; a < HL_CONTACT_N_ACTIONS; a++)
        if (hl_case_is_referral((hl_action_t)a)) {
            cr_expect_eq(strncmp(hl_contact_action_name((hl_action_t)a), "referral.", 9), 0);
            n++;
        }
    cr_expect_eq(n, 6);
    cr_expect_not(hl_case_is_referral(HL_CONTACT_ACTION_REPORT_CSAM));
    cr_expect_not(hl_case_is_referral(HL_CONTACT_N_ACTIONS));
}

Test(cases_codec, uuid_syntax)
{
    cr_expect(hl_case_uuid_valid("0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11", 36));
    cr_expect(hl_case_uuid_valid("0B5C2F7E-8A1D-4F3E-9C6B-2D7E1F0A9B11", 36));
    cr_expect_not(hl_case_uuid_valid("0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b1", 35));
    cr_expect_not(hl_case_uuid_valid("0b5c2f7e18a1d-4f3e-9c6b-2d7e1f0a9b11", 36));
    cr_expect_not(hl_case_uuid_valid("0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b1g", 36));
}

/* ---- parsing: good bodies ------------------------------------------------------------------ */

static hl_case_input_t *parse_ok(hl_case_body_t kind, const char *single_quoted)
{
    char *body = J(single_quoted);
    hl_case_input_t *in = NULL;
    hl_contact_error_t err;
    int rc = hl_case_parse(kind, body, strlen(body), &in, &err);

    cr_assert_eq(rc, HL_OK, "%s: %s %s", body, err.code, err.message);
    free(body);
    return in;
}

Test(cases_codec, create_full_and_minimal)
{
    hl_case_input_t *in = parse_ok(
        HL_CASE_BODY_CREATE, "{'label': 'Wanjiru, school', 'summary': 'line one\\nline two',"
                             " 'priority': 'high', 'follow_up_at': '2026-12-01T09:00:00+03:00',"
                             " 'assigned_to': 'amina', 'contacts': ['0B5C2F7E-8A1D-4F3E-9C6B-2D7E1F0A9B11',"
                             " '0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b12']}");

    cr_expect_str_eq(in->label, "Wanjiru, school");
    cr_expect_str_eq(in->summary, "line one\nline two");
    cr_expect_eq(in->priority, HL_CASE_PRIORITY_HIGH);
    cr_expect_eq(in->has_follow_up_at, HL_CONTACT_SET);
    cr_expect_eq(in->follow_up_at, 1796104800LL * 1000000);
    cr_expect_str_eq(in->assigned_to, "amina");
    cr_expect_eq(in->n_contacts, 2);
    cr_expect_str_eq(in->contacts[0], "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11", "ids are lower-cased");
    hl_case_input_free(in);

    in = parse_ok(HL_CASE_BODY_CREATE,
                  "{'label': 'x', 'summary': null, 'follow_up_at': null, 'assigned_to': null}");
    cr_expect_eq(in->has_summary, HL_CONTACT_NULL);
    cr_expect_eq(in->has_follow_up_at, HL_CONTACT_NULL);
    cr_expect_eq(in->has_assigned_to, HL_CONTACT_NULL);
    cr_expect_eq(in->has_priority, HL_CONTACT_ABSENT);
    cr_expect_eq(in->n_contacts, 0);
    hl_case_input_free(in);
}

Test(cases_codec, patch_note_referral_state)
{
    hl_case_input_t *in = parse_ok(HL_CASE_BODY_PATCH, "{'status': 'in_progress', 'summary': ''}");

    cr_expect_eq(in->has_status, HL_CONTACT_SET);
    cr_expect_eq(in->status, HL_CASE_IN_PROGRESS);
    cr_expect_str_eq(in->summary, "");
    cr_expect_eq(in->has_label, HL_CONTACT_ABSENT);
    hl_case_input_free(in);

    in = parse_ok(HL_CASE_BODY_NOTE, "{'text': 'called the school\\tok'}");
    cr_expect_str_eq(in->text, "called the school\tok");
    hl_case_input_free(in);

    in = parse_ok(HL_CASE_BODY_REFERRAL, "{'to': 'referral.law_enforcement', 'organisation': 'Police',"
                                         " 'details': 'OB 12/2026', 'state': 'accepted'}");
    cr_expect_eq(in->to, HL_CONTACT_ACTION_REFERRAL_LAW_ENFORCEMENT);
    cr_expect_str_eq(in->organisation, "Police");
    cr_expect_str_eq(in->details, "OB 12/2026");
    cr_expect_eq(in->state, HL_REFERRAL_ACCEPTED);
    hl_case_input_free(in);

    in = parse_ok(HL_CASE_BODY_REFERRAL, "{'to': 'referral.healthcare'}");
    cr_expect_eq(in->has_state, HL_CONTACT_ABSENT);
    cr_expect_eq(in->has_organisation, HL_CONTACT_ABSENT);
    hl_case_input_free(in);

    in = parse_ok(HL_CASE_BODY_REFERRAL_STATE, "{'state': 'completed'}");
    cr_expect_eq(in->state, HL_REFERRAL_COMPLETED);
    hl_case_input_free(in);
}

/* ---- parsing: bad bodies ------------------------------------------------------------------- */

typedef struct {
    hl_case_body_t kind;
    const char *body; /* single-quoted; NULL: the empty body */
    const char *code;
    const char *field; /* NULL: no field */
} bad_t;

static const bad_t bad[] = {
    {HL_CASE_BODY_CREATE, NULL, "bad_json", NULL},
    {HL_CASE_BODY_CREATE, "{'label': ", "bad_json", NULL},
    {HL_CASE_BODY_CREATE, "{'label': 'a', 'label': 'b'}", "bad_json", NULL},
    {HL_CASE_BODY_CREATE, "['label']", "bad_json", ""},
    {HL_CASE_BODY_CREATE, "{}", "missing_field", "/label"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'colour': 'red'}", "unknown_field", "/colour"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'a/b~c': 1}", "unknown_field", "/a~1b~0c"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'status': 'closed'}", "unknown_field", "/status"},
    {HL_CASE_BODY_CREATE, "{'label': ''}", "invalid_field", "/label"},
    {HL_CASE_BODY_CREATE, "{'label': null}", "invalid_field", "/label"},
    {HL_CASE_BODY_CREATE, "{'label': 7}", "invalid_field", "/label"},
    {HL_CASE_BODY_CREATE, "{'label': 'two\\nlines " MARKER "'}", "invalid_field", "/label"},
    {HL_CASE_BODY_CREATE, "{'label': 'nul\\u0000" MARKER "'}", "invalid_field", "/label"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'summary': 5}", "invalid_field", "/summary"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'summary': 'bell\\u0007" MARKER "'}", "invalid_field", "/summary"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'priority': 'urgent'}", "invalid_field", "/priority"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'priority': null}", "invalid_field", "/priority"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'follow_up_at': '2026-12-01'}", "invalid_field", "/follow_up_at"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'follow_up_at': '" MARKER "'}", "invalid_field", "/follow_up_at"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'assigned_to': 'a b'}", "invalid_field", "/assigned_to"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'assigned_to': 3}", "invalid_field", "/assigned_to"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'contacts': 'abc'}", "invalid_field", "/contacts"},
    {HL_CASE_BODY_CREATE, "{'label': 'x', 'contacts': ['" MARKER "']}", "invalid_field", "/contacts/0"},
    {HL_CASE_BODY_CREATE,
     "{'label': 'x', 'contacts': ['0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11', "
     "'0B5C2F7E-8A1D-4F3E-9C6B-2D7E1F0A9B11']}",
     "invalid_field", "/contacts/1"},
    {HL_CASE_BODY_PATCH, "{}", "missing_field", ""},
    {HL_CASE_BODY_PATCH, "{'contacts': []}", "unknown_field", "/contacts"},
    {HL_CASE_BODY_PATCH, "{'status': 'reopened'}", "invalid_field", "/status"},
    {HL_CASE_BODY_PATCH, "{'status': null}", "invalid_field", "/status"},
    {HL_CASE_BODY_PATCH, "{'label': null}", "invalid_field", "/label"},
    {HL_CASE_BODY_NOTE, "{}", "missing_field", "/text"},
    {HL_CASE_BODY_NOTE, "{'text': ''}", "invalid_field", "/text"},
    {HL_CASE_BODY_NOTE, "{'text': null}", "invalid_field", "/text"},
    {HL_CASE_BODY_NOTE, "{'text': 'x', 'label': 'y'}", "unknown_field", "/label"},
    {HL_CASE_BODY_REFERRAL, "{'organisation': 'x'}", "missing_field", "/to"},
    {HL_CASE_BODY_REFERRAL, "{'to': 'report.csam'}", "invalid_field", "/to"},
    {HL_CASE_BODY_REFERRAL, "{'to': 'referral.police'}", "invalid_field", "/to"},
    {HL_CASE_BODY_REFERRAL, "{'to': 'referral.healthcare', 'organisation': ''}", "invalid_field",
     "/organisation"},
    {HL_CASE_BODY_REFERRAL, "{'to': 'referral.healthcare', 'details': 1}", "invalid_field", "/details"},
    {HL_CASE_BODY_REFERRAL, "{'to': 'referral.healthcare', 'state': 'lost'}", "invalid_field", "/state"},
    {HL_CASE_BODY_REFERRAL_STATE, "{}", "missing_field", "/state"},
    {HL_CASE_BODY_REFERRAL_STATE, "{'state': 'made', 'to': 'referral.healthcare'}", "unknown_field", "/to"},
};

Test(cases_codec, bad_bodies_name_their_field_and_never_echo_values)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *body = bad[i].body != NULL ? J(bad[i].body) : strdup("");
        hl_case_input_t *in = NULL;
        hl_contact_error_t err;
        int rc = hl_case_parse(bad[i].kind, body, strlen(body), &in, &err);

        cr_expect_eq(rc, HL_EINVAL, "case %zu: %s", i, body);
        if (rc == HL_EINVAL) {
            cr_expect_str_eq(err.code, bad[i].code, "case %zu: %s: %s", i, body, err.message);
            cr_expect_eq(err.has_field, bad[i].field != NULL, "case %zu", i);
            if (bad[i].field != NULL)
                cr_expect_str_eq(err.field, bad[i].field, "case %zu: %s", i, body);
            cr_expect_null(strstr(err.message, MARKER), "case %zu echoes the value: %s", i, err.message);
        }
        cr_expect_null(in);
        free(body);
    }
}

Test(cases_codec, limits)
{
    char *big = malloc(HL_CASE_NOTE_MAX + 64);
    hl_case_input_t *in = NULL;
    hl_contact_error_t err;
    int n;

    cr_assert_not_null(big);
    /* 200 two-byte characters is a valid label (characters, not bytes), 201 is not */
    n = sprintf(big, "{\"label\": \"");
    for (int i = 0; i < 200; i++)
        n += sprintf(big + n, "\xc3\xa9");
    sprintf(big + n, "\"}");
    cr_assert_eq(hl_case_parse(HL_CASE_BODY_CREATE, big, strlen(big), &in, &err), HL_OK);
    hl_case_input_free(in);
    in = NULL;
    sprintf(big + n, "x\"}");
    cr_assert_eq(hl_case_parse(HL_CASE_BODY_CREATE, big, strlen(big), &in, &err), HL_EINVAL);
    cr_expect_str_eq(err.field, "/label");
    /* a note of exactly 64 KiB is fine, one byte more is not */
    n = sprintf(big, "{\"text\": \"");
    memset(big + n, 'a', HL_CASE_NOTE_MAX);
    sprintf(big + n + HL_CASE_NOTE_MAX, "\"}");
    cr_assert_eq(hl_case_parse(HL_CASE_BODY_NOTE, big, strlen(big), &in, &err), HL_OK);
    hl_case_input_free(in);
    in = NULL;
    sprintf(big + n + HL_CASE_NOTE_MAX, "a\"}");
    cr_assert_eq(hl_case_parse(HL_CASE_BODY_NOTE, big, strlen(big), &in, &err), HL_EINVAL);
    cr_expect_str_eq(err.field, "/text");
    /* 101 contacts */
    n = sprintf(big, "{\"label\": \"x\", \"contacts\": [");
    for (int i = 0; i <= HL_CASE_MAX_CONTACTS; i++)
        n += sprintf(big + n, "%s\"0b5c2f7e-8a1d-4f3e-9c6b-%012d\"", i > 0 ? "," : "", i);
    sprintf(big + n, "]}");
    cr_assert_eq(hl_case_parse(HL_CASE_BODY_CREATE, big, strlen(big), &in, &err), HL_EINVAL);
    cr_expect_str_eq(err.field, "/contacts");
    free(big);
}

/* ---- sealing ------------------------------------------------------------------------------- */

#define CASE_A  "6f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a90"
#define CASE_B  "6f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a91"
#define ENTRY_1 "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11"
#define ENTRY_2 "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b12"

static hl_crypto_keyring_t *keyring(void)
{
    uint8_t master[HL_CRYPTO_KEY_BYTES];
    hl_crypto_keyring_t *kr = NULL;

    cr_assert_eq(hl_crypto_init(), HL_OK);
    for (int i = 0; i < HL_CRYPTO_KEY_BYTES; i++)
        master[i] = (uint8_t)i;
    cr_assert_eq(hl_crypto_keyring_new(master, &kr), HL_OK);
    return kr;
}

static bool opens(hl_crypto_keyring_t *kr, const char *table, const char *column, const char *case_id,
                  const char *sub_id, const hl_sealed_t *ct, const char *want)
{
    char *pt = NULL;
    size_t len = 0;
    int rc = hl_cases_open(kr, table, column, case_id, sub_id, ct, &pt, &len);

    if (rc == HL_OK) {
        cr_expect_str_eq(pt, want);
        hl_crypto_wipe_free(pt, len);
    }
    return rc == HL_OK;
}

Test(cases_sealing, note_copied_to_another_entry_case_or_column_does_not_open)
{
    hl_crypto_keyring_t *kr = keyring();
    hl_sealed_t note = {NULL, 0};

    cr_assert_eq(
        hl_cases_seal(kr, HL_CASES_ENTRIES, "text", CASE_A, ENTRY_1, "she is safe at her aunt's", &note),
        HL_OK);
    cr_assert_not_null(note.data);
    cr_expect(opens(kr, HL_CASES_ENTRIES, "text", CASE_A, ENTRY_1, &note, "she is safe at her aunt's"));
    cr_expect_not(opens(kr, HL_CASES_ENTRIES, "text", CASE_A, ENTRY_2, &note, ""), "another entry");
    cr_expect_not(opens(kr, HL_CASES_ENTRIES, "text", CASE_B, ENTRY_1, &note, ""), "another case");
    cr_expect_not(opens(kr, HL_CASES_ENTRIES, "text", ENTRY_1, NULL, &note, ""), "no case in the id");
    cr_expect_not(opens(kr, HL_CASES_TABLE, "summary", CASE_A, NULL, &note, ""), "the case's summary");
    cr_expect_not(opens(kr, HL_CASES_REFERRALS, "details", CASE_A, ENTRY_1, &note, ""),
                  "a referral's details");
    free(note.data);
    hl_crypto_keyring_free(kr);
}

Test(cases_sealing, case_and_referral_fields_are_bound_to_their_column)
{
    hl_crypto_keyring_t *kr = keyring();
    hl_sealed_t label = {NULL, 0}, org = {NULL, 0}, none = {NULL, 0};
    char *pt = (char *)1;
    size_t len = 9;

    cr_assert_eq(hl_cases_seal(kr, HL_CASES_TABLE, "label", CASE_A, NULL, "Wanjiru", &label), HL_OK);
    cr_assert_eq(hl_cases_seal(kr, HL_CASES_REFERRALS, "organisation", CASE_A, ENTRY_1, "Police", &org),
                 HL_OK);
    cr_expect(opens(kr, HL_CASES_TABLE, "label", CASE_A, NULL, &label, "Wanjiru"));
    cr_expect_not(opens(kr, HL_CASES_TABLE, "label", CASE_B, NULL, &label, ""), "another case");
    cr_expect_not(opens(kr, HL_CASES_TABLE, "summary", CASE_A, NULL, &label, ""), "the summary column");
    cr_expect(opens(kr, HL_CASES_REFERRALS, "organisation", CASE_A, ENTRY_1, &org, "Police"));
    cr_expect_not(opens(kr, HL_CASES_REFERRALS, "details", CASE_A, ENTRY_1, &org, ""), "details");
    cr_expect_not(opens(kr, HL_CASES_REFERRALS, "organisation", CASE_A, ENTRY_2, &org, ""),
                  "another referral");
    /* a flipped bit */
    org.data[org.len - 1] ^= 1;
    cr_expect_not(opens(kr, HL_CASES_REFERRALS, "organisation", CASE_A, ENTRY_1, &org, ""));
    /* none seals to none and opens to NULL */
    cr_assert_eq(hl_cases_seal(kr, HL_CASES_TABLE, "summary", CASE_A, NULL, NULL, &none), HL_OK);
    cr_expect_null(none.data);
    cr_assert_eq(hl_cases_open(kr, HL_CASES_TABLE, "summary", CASE_A, NULL, &none, &pt, &len), HL_OK);
    cr_expect_null(pt);
    cr_expect_eq(len, 0);
    free(label.data);
    free(org.data);
    hl_crypto_keyring_free(kr);
}

/* ---- the reply of GET /v1/cases/{id} (hl_case_reply_text) ----------------------------------- */

#define REFERRAL_1 "1c6d3f8a-9b2e-4a4f-8d7c-3e8f2a1b0c22"
#define CONTACT_1  "2d7e4a9b-0c3f-4b5a-9e8d-4f9a3b2c1d33"
#define T0         INT64_C(1764806400000000) /* 2025-12-04T00:00:00Z */

/* Every character class a JSON string escapes or passes: quotes, backslash, the short escapes,
 * other control characters, DEL, two-, three- and four-byte UTF-8, a slash and markup. */
static const char SPECIAL[] = "\"q\" \\ \b\f\n\r\t \x01\x1f \x7f é 中 😀 </script>";

typedef struct {
    hl_crypto_keyring_t *kr;
    hl_case_row_t c;
    hl_case_entry_t e[4];
} reply_fixture_t;

static void fixture(reply_fixture_t *f, const char *note)
{
    memset(f, 0, sizeof(*f));
    f->kr = keyring();
    snprintf(f->c.id, sizeof(f->c.id), "%s", CASE_A);
    snprintf(f->c.created_by_name, sizeof(f->c.created_by_name), "amina");
    f->c.status = HL_CASE_OPEN;
    f->c.priority = HL_CASE_PRIORITY_HIGH;
    f->c.created_at = f->c.updated_at = T0;
    f->c.contacts_count = 1;
    cr_assert_eq(hl_cases_seal(f->kr, HL_CASES_TABLE, "label", CASE_A, NULL, "Label " MARKER, &f->c.label),
                 HL_OK);

    static const char *const ids[4] = {ENTRY_1, ENTRY_2, "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b13",
                                       "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b14"};
    hl_case_entry_t *e = f->e;
    for (int i = 0; i < 4; i++) {
        snprintf(e[i].id, sizeof(e[i].id), "%s", ids[i]);
        e[i].at = T0 + i;
        snprintf(e[i].by_name, sizeof(e[i].by_name), "amina");
        e[i].channel = e[i].contact_type = -1;
        e[i].status_from = -1;
    }
    e[0].kind = HL_CASE_ENTRY_STATUS;
    e[0].status_to = HL_CASE_OPEN;
    e[1].kind = HL_CASE_ENTRY_CONTACT;
    snprintf(e[1].contact_id, sizeof(e[1].contact_id), "%s", CONTACT_1);
    e[1].channel = HL_CONTACT_CHANNEL_PHONE;
    e[1].contact_type = HL_CONTACT_TYPE_COUNSELLING;
    e[1].categories_json = strdup("[\"violence.physical\",\"education.school_fees\"]");
    e[2].kind = HL_CASE_ENTRY_NOTE;
    cr_assert_eq(hl_cases_seal(f->kr, HL_CASES_ENTRIES, "text", CASE_A, e[2].id, note, &e[2].text), HL_OK);
    e[3].kind = HL_CASE_ENTRY_REFERRAL;
    snprintf(e[3].referral_id, sizeof(e[3].referral_id), "%s", REFERRAL_1);
    e[3].referral_to = HL_CONTACT_ACTION_REFERRAL_CHILD_PROTECTION;
    e[3].referral_state = HL_REFERRAL_ACCEPTED;
    cr_assert_eq(hl_cases_seal(f->kr, HL_CASES_REFERRALS, "organisation", CASE_A, REFERRAL_1, "Org " MARKER,
                               &e[3].organisation),
                 HL_OK);
    for (int i = 0; i < 4; i++)
        if (e[i].categories_json == NULL)
            cr_assert_not_null(e[i].categories_json = strdup("[]"));
}

static void fixture_free(reply_fixture_t *f)
{
    for (int i = 0; i < 4; i++) {
        free(f->e[i].text.data);
        free(f->e[i].organisation.data);
        free(f->e[i].categories_json);
    }
    hl_case_row_clear(&f->c);
    hl_crypto_keyring_free(f->kr);
}

/* The reply in VIEW, parsed (and its text, which must be valid JSON). */
static json_t *reply(reply_fixture_t *f, hl_case_view_t view, char **text)
{
    size_t len = 0;
    json_t *j;
    json_error_t err;

    cr_assert_eq(hl_case_reply_text(f->kr, &f->c, f->e, 4, view, text, &len), HL_OK);
    cr_assert_eq(strlen(*text), len);
    j = json_loadb(*text, len, 0, &err);
    cr_assert_not_null(j, "not JSON: %s: %s", err.text, *text);
    return j;
}

Test(cases_reply, sealed_view_opens_every_field_and_escapes_every_character)
{
    reply_fixture_t f;
    char *text = NULL;
    json_t *r, *tl;

    fixture(&f, SPECIAL);
    r = reply(&f, HL_CASE_VIEW_SEALED, &text);
    cr_expect_str_eq(json_string_value(json_object_get(r, "label")), "Label " MARKER);
    cr_expect(json_is_null(json_object_get(r, "summary")));
    cr_expect_str_eq(json_string_value(json_object_get(r, "priority")), "high");
    tl = json_object_get(r, "timeline");
    cr_assert_eq(json_array_size(tl), 4);
    /* the case's fields, then the timeline last, as before */
    cr_expect_eq(strncmp(text, "{\"id\":\"" CASE_A "\",\"status\":\"open\"", 47), 0, "%s", text);
    cr_expect_not_null(strstr(text, ",\"label\":\"Label " MARKER "\",\"summary\":null,\"timeline\":[{"), "%s",
                       text);

    json_t *st = json_array_get(tl, 0), *ct = json_array_get(tl, 1), *nt = json_array_get(tl, 2),
           *rf = json_array_get(tl, 3);
    cr_expect_str_eq(json_string_value(json_object_get(st, "at")), "2025-12-04T00:00:00Z");
    cr_expect(json_is_null(json_object_get(st, "from")));
    cr_expect_str_eq(json_string_value(json_object_get(st, "to")), "open");
    cr_expect_str_eq(json_string_value(json_object_get(ct, "channel")), "phone");
    cr_expect_eq(json_array_size(json_object_get(ct, "categories")), 2);
    cr_expect(json_is_false(json_object_get(ct, "unlinked")));
    cr_expect_str_eq(json_string_value(json_object_get(nt, "at")), "2025-12-04T00:00:00.000002Z");
    cr_expect_eq(json_string_length(json_object_get(nt, "text")), strlen(SPECIAL));
    cr_expect_str_eq(json_string_value(json_object_get(nt, "text")), SPECIAL, "the note's text, exactly");
    cr_expect_str_eq(json_string_value(json_object_get(rf, "organisation")), "Org " MARKER);
    cr_expect(json_is_null(json_object_get(rf, "details")));
    cr_expect_str_eq(json_string_value(json_object_get(rf, "state")), "accepted");
    /* what jansson wrote for the same text */
    json_t *s = json_string(SPECIAL);
    char *want = json_dumps(s, JSON_ENCODE_ANY);
    cr_expect_not_null(strstr(text, want), "escaped as jansson does: %s", want);
    free(want);
    json_decref(s);
    json_decref(r);
    hl_crypto_wipe_free(text, strlen(text));
    fixture_free(&f);
}

Test(cases_reply, plain_and_metadata_views_hold_no_sealed_field)
{
    reply_fixture_t f;
    char *text = NULL;
    json_t *r, *e;
    size_t i;

    fixture(&f, "Note " MARKER);
    r = reply(&f, HL_CASE_VIEW_PLAIN, &text);
    cr_expect_null(strstr(text, MARKER), "%s", text);
    cr_expect_null(json_object_get(r, "label"));
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(r, "timeline"), 3), "to")),
        "referral.child_protection");
    json_decref(r);
    hl_crypto_wipe_free(text, strlen(text));

    r = reply(&f, HL_CASE_VIEW_METADATA, &text);
    cr_expect_null(strstr(text, MARKER));
    json_array_foreach(json_object_get(r, "timeline"), i, e)
    {
        cr_expect_eq(json_object_size(e), 4, "only id kind at by: %s", text);
    }
    json_decref(r);
    hl_crypto_wipe_free(text, strlen(text));
    fixture_free(&f);
}

Test(cases_reply, bad_text_and_bad_categories)
{
    reply_fixture_t f;
    char *text = NULL;
    size_t len = 0;
    json_t *r;

    /* a note that is not UTF-8 (a lone continuation byte, an overlong '/', a surrogate) */
    const char *not_utf8[] = {"a\x80z", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe4\xb8"};
    for (size_t i = 0; i < sizeof(not_utf8) / sizeof(not_utf8[0]); i++) {
        fixture(&f, not_utf8[i]);
        cr_expect_eq(hl_case_reply_text(f.kr, &f.c, f.e, 4, HL_CASE_VIEW_SEALED, &text, &len), HL_EIO, "%zu",
                     i);
        cr_expect_null(text);
        /* no sealed field is opened in the plain view, so it answers */
        cr_expect_eq(hl_case_reply_text(f.kr, &f.c, f.e, 4, HL_CASE_VIEW_PLAIN, &text, &len), HL_OK);
        hl_crypto_wipe_free(text, len);
        fixture_free(&f);
    }
    /* a note that does not open */
    fixture(&f, "x");
    f.e[2].text.data[f.e[2].text.len - 1] ^= 1;
    cr_expect_eq(hl_case_reply_text(f.kr, &f.c, f.e, 4, HL_CASE_VIEW_SEALED, &text, &len), HL_ECRYPTO);
    cr_expect_null(text);
    /* categories that are not a plain array of codes come out as [] */
    free(f.e[1].categories_json);
    cr_assert_not_null(f.e[1].categories_json = strdup("[\"a\"],\"x\":[1]"));
    r = reply(&f, HL_CASE_VIEW_PLAIN, &text);
    cr_expect_eq(
        json_array_size(json_object_get(json_array_get(json_object_get(r, "timeline"), 1), "categories")), 0,
        "%s", text);
    cr_expect_null(json_object_get(json_array_get(json_object_get(r, "timeline"), 1), "x"));
    json_decref(r);
    hl_crypto_wipe_free(text, strlen(text));
    fixture_free(&f);
}
