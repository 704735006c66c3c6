/*
 * lib/report: the helpline-quarterly/1 document. Known answers for the canonical JSON and
 * the Ed25519 signature (a format change breaks them), every single-byte change of a signed
 * report fails verification, wrong keys fail, the network merge verifies with the network
 * key and its totals are the sums of the inputs' totals, no merged count minus any of its
 * inputs is below k, mixed inputs are refused, tables built from protected parts keep the
 * parts' suppressions (presets), and the CSV form round-trips through a small RFC 4180 parser.
 * The fixture carries the casework tables (referral, case_status, issue 16) beside the contact
 * tables, with known answers of their own.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto.h"
#include "report.h"

/* ---- fixtures ------------------------------------------------------------------------------- */

static const char *const contact_types[] = {"counselling", "information", "referral", "silent", "hang_up"};
static const char *const categories[] = {"violence", "mental_health", "family", "sexuality"};
static const char *const subcategories[] = {"violence.physical",     "violence.sexual",
                                            "mental_health.anxiety", "mental_health.self_harm",
                                            "family.divorce",        "sexuality.identity"};
static const char *const age_bands[] = {"0-6", "7-9", "10-12", "13-15", "16-17", "18-25", "unknown"};
static const char *const genders[] = {"girl", "boy", "non_binary", "unknown"};
static const char *const channels[] = {"phone", "sms", "chat", "email"};
static const char *const regions[] = {"urban", "town", "rural", "unknown"};
static const char *const referral_to[] = {"referral.child_protection",   "referral.healthcare",
                                          "referral.law_enforcement",    "referral.mental_health",
                                          "referral.other_organisation", "referral.school_counsellor"};
static const char *const referral_states[] = {"made", "accepted", "declined", "completed"};
static const char *const case_statuses[] = {"open", "in_progress", "closed"};

#define DIM(n, v)                                                                                            \
    {                                                                                                        \
        (n), HL_ARRAY_LEN(v), (v)                                                                            \
    }

/* Counts of one helpline; SCALE varies them between helplines. */
#define N_TABLES 8

typedef struct fixture {
    uint64_t contact_type[5], category[4], subcategory[6], age_gender[28], channel[4], region[4];
    uint64_t referral[24], case_status[3];
    hl_report_table_t tables[N_TABLES];
    hl_report_input_t in;
} fixture_t;

static void fixture_init(fixture_t *f, const char *code, uint64_t scale, int quarter)
{
    static const uint64_t ct[] = {120, 40, 12, 3, 30};
    static const uint64_t cat[] = {50, 45, 22, 2};
    static const uint64_t sub[] = {30, 20, 25, 19, 22, 2};
    static const uint64_t ag[] = {0, 0, 1,  2,  /**/ 4, 6, 0,      0, /**/ 10, 12, 0,      1, /**/ 20, 15,
                                  2, 3, 18, 11, 0,      0, /**/ 5, 6, 0,       0,  /**/ 3, 4, 0,       2};
    static const uint64_t ch[] = {100, 20, 80, 5};
    static const uint64_t rg[] = {70, 40, 60, 35};
    /* referral_to x referral_state (made accepted declined completed) */
    static const uint64_t rf[] = {12, 30, 2, 15, /**/ 8, 10, 0, 6, /**/ 20, 5, 3, 9,
                                  0,  7,  0, 11, /**/ 1, 0,  0, 4, /**/ 6,  6, 6, 6};
    static const uint64_t cs[] = {40, 25, 31};

    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < 5; i++)
        f->contact_type[i] = ct[i] * scale;
    for (size_t i = 0; i < 4; i++)
        f->category[i] = cat[i] * scale;
    for (size_t i = 0; i < 6; i++)
        f->subcategory[i] = sub[i] * scale;
    for (size_t i = 0; i < 28; i++)
        f->age_gender[i] = ag[i] * scale;
    for (size_t i = 0; i < 4; i++) {
        f->channel[i] = ch[i] * scale;
        f->region[i] = rg[i] * scale;
    }
    for (size_t i = 0; i < 24; i++)
        f->referral[i] = rf[i] * scale;
    for (size_t i = 0; i < 3; i++)
        f->case_status[i] = cs[i] * scale;
    f->tables[0] =
        (hl_report_table_t){"contact_type", 1, {DIM("contact_type", contact_types)}, f->contact_type, NULL};
    f->tables[1] = (hl_report_table_t){"category", 1, {DIM("category", categories)}, f->category, NULL};
    f->tables[2] =
        (hl_report_table_t){"subcategory", 1, {DIM("subcategory", subcategories)}, f->subcategory, NULL};
    f->tables[3] = (hl_report_table_t){
        "age_band_gender", 2, {DIM("age_band", age_bands), DIM("gender", genders)}, f->age_gender, NULL};
    f->tables[4] = (hl_report_table_t){"channel", 1, {DIM("channel", channels)}, f->channel, NULL};
    f->tables[5] = (hl_report_table_t){"region", 1, {DIM("region", regions)}, f->region, NULL};
    f->tables[6] =
        (hl_report_table_t){HL_REPORT_TABLE_REFERRAL,
                            2,
                            {DIM("referral_to", referral_to), DIM("referral_state", referral_states)},
                            f->referral,
                            NULL};
    f->tables[7] = (hl_report_table_t){
        HL_REPORT_TABLE_CASE_STATUS, 1, {DIM("case_status", case_statuses)}, f->case_status, NULL};
    f->in = (hl_report_input_t){
        .helpline = {code, "Child Helpline", "KE", "KE-NET"},
        .year = 2026,
        .quarter = quarter,
        .taxonomy_version = "2026.1",
        .k = 5,
        .generated_at = "2026-10-01T06:00:00Z",
        .ntables = N_TABLES,
        .tables = f->tables,
    };
}

static hl_crypto_signer_t *signer(uint8_t base)
{
    uint8_t seed[HL_CRYPTO_KEY_BYTES];
    hl_crypto_signer_t *s = NULL;

    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (uint8_t)(base + i);
    cr_assert_eq(hl_crypto_signer_from_seed(seed, &s), HL_OK);
    return s;
}

static json_t *signed_report(fixture_t *f, hl_crypto_signer_t *s)
{
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;

    cr_assert_eq(hl_report_build(&f->in, &doc, &err), HL_OK, "%s", err.message);
    cr_assert_eq(hl_report_sign(doc, s), HL_OK);
    return doc;
}

static void init(void)
{
    cr_assert_eq(hl_crypto_init(), HL_OK);
}

static json_t *table_of(json_t *doc, const char *name)
{
    json_t *t = json_object_get(json_object_get(doc, "tables"), name);

    cr_assert_not_null(t, "no table %s", name);
    return t;
}

/* ---- known answers ---------------------------------------------------------------------------- */

static const char *const kat_types[] = {"counselling", "silent", "prank"};
static const char *const kat_ages[] = {"13-15", "16-17"};
static const char *const kat_genders[] = {"girl", "boy"};

/* The canonical JSON of the small report below: sorted keys, compact. */
static const char kat_canonical[] =
    "{\"format\":\"helpline-quarterly/"
    "1\",\"generated_at\":\"2026-10-01T06:00:00Z\",\"helpline\":{\"code\":\"KE01\","
    "\"country\":\"KE\",\"name\":\"Childline \\\"Kenya\\\" – "
    "116\",\"network\":null},\"k\":5,\"period\":{\"from\":\"2026-07-01\","
    "\"quarter\":3,\"to\":\"2026-09-30\",\"year\":2026},\"tables\":{\"age_band_gender\":{\"cells\":[{\"age_"
    "band\":\"13-15\","
    "\"count\":null,\"gender\":\"girl\",\"suppressed\":true},{\"age_band\":\"13-15\",\"count\":null,"
    "\"gender\":\"boy\",\"suppressed\":true},{\"age_band\":\"16-17\",\"count\":null,\"gender\":\"girl\","
    "\"suppressed\":true},{\"age_band\":\"16-17\",\"count\":0,\"gender\":\"boy\"}],\"dimensions\":[\"age_"
    "band\","
    "\"gender\"],\"total\":31,\"withheld\":[{\"gender\":\"girl\",\"over\":\"age_band\"},{\"gender\":\"boy\","
    "\"over\":\"age_band\"},{\"age_band\":\"13-15\",\"over\":\"gender\"},{\"age_band\":\"16-17\","
    "\"over\":\"gender\"}]},\"contact_type\":{\"cells\":[{\"contact_type\":\"counselling\",\"count\":40},"
    "{\"contact_type\":\"silent\",\"count\":null,\"suppressed\":true},{\"contact_type\":\"prank\","
    "\"count\":null,\"suppressed\":true}],\"dimensions\":[\"contact_type\"],\"total\":55,\"withheld\":[]}},"
    "\"taxonomy_version\":\"2026.1\"}";
static const char kat_signature[] =
    "p91cpC8IlaYEP3SbzpfEERWV0YUcgDT2bv+3TE3FA5PWPcPmTiCOBeygPtfLrwjAlhgjWXdmdMuGZgxhWUBzCw==";
static const char kat_key_id[] = "9d24e2eeaf27c2a0";

static json_t *kat_report(void)
{
    static const uint64_t types[] = {40, 3, 12};
    static const uint64_t ag[] = {20, 2, 9, 0};
    hl_report_table_t tables[] = {
        {"contact_type", 1, {DIM("contact_type", kat_types)}, types, NULL},
        {"age_band_gender", 2, {DIM("age_band", kat_ages), DIM("gender", kat_genders)}, ag, NULL},
    };
    hl_report_input_t in = {
        .helpline = {"KE01", "Childline \"Kenya\" – 116", "KE", NULL},
        .year = 2026,
        .quarter = 3,
        .taxonomy_version = "2026.1",
        .k = 5,
        .generated_at = "2026-10-01T06:00:00Z",
        .ntables = 2,
        .tables = tables,
    };
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;

    cr_assert_eq(hl_report_build(&in, &doc, &err), HL_OK, "%s", err.message);
    return doc;
}

TestSuite(report_format, .init = init);

Test(report_format, canonical_known_answer)
{
    json_t *doc = kat_report();
    char *canon = NULL;
    size_t len = 0;

    cr_assert_eq(hl_report_canonical(doc, &canon, &len), HL_OK);
    cr_assert_str_eq(canon, kat_canonical);
    cr_assert_eq(len, strlen(kat_canonical));
    free(canon);
    json_decref(doc);
}

Test(report_format, signature_known_answer)
{
    json_t *doc = kat_report(), *sig;
    hl_crypto_signer_t *s = signer(0);
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    char *canon = NULL;

    cr_assert_eq(hl_report_sign(doc, s), HL_OK);
    sig = json_object_get(doc, "signature");
    cr_assert_str_eq(json_string_value(json_object_get(sig, "alg")), "ed25519");
    cr_assert_str_eq(json_string_value(json_object_get(sig, "key_id")), kat_key_id);
    cr_assert_str_eq(json_string_value(json_object_get(sig, "value")), kat_signature);
    /* the signature is not part of what is signed */
    cr_assert_eq(hl_report_canonical(doc, &canon, NULL), HL_OK);
    cr_assert_str_eq(canon, kat_canonical);
    hl_crypto_signer_public_key(s, pk);
    cr_assert_eq(hl_report_verify(doc, pk), HL_OK);
    free(canon);
    hl_crypto_signer_free(s);
    json_decref(doc);
}

/*
 * The casework tables (issue 16): referral_to x referral_state and case_status, the names and
 * vocabularies helplined gives them. Known answers for the canonical JSON, the signature and
 * the CSV. With k = 5: referrals to child protection accepted (2) are below k; the row's next
 * smallest (completed, 6) and the column's (law enforcement accepted, 7) go with it; law
 * enforcement's row then needs a second cell (declined, 5), and the declined and completed
 * columns, with one suppressed cell and zeros, have their totals withheld. Case status: 3 put
 * in progress is below k, closed (9) is its complement.
 */
static const char kat_case_canonical[] =
    "{\"format\":\"helpline-quarterly/1\",\"generated_at\":\"2027-01-05T06:00:00Z\",\"helpline\":{\"code"
    "\":\"KE01\",\"country\":\"KE\",\"name\":\"Childline Kenya\",\"network\":\"KE-NET\"},\"k\":5,\"period"
    "\":{\"from\":\"2026-10-01\",\"quarter\":4,\"to\":\"2026-12-31\",\"year\":2026},\"tables\":{\"case_sta"
    "tus\":{\"cells\":[{\"case_status\":\"open\",\"count\":14},{\"case_status\":\"in_progress\",\"count\""
    ":null,\"suppressed\":true},{\"case_status\":\"closed\",\"count\":null,\"suppressed\":true}],\"dimens"
    "ions\":[\"case_status\"],\"total\":26,\"withheld\":[]},\"referral\":{\"cells\":[{\"count\":9,\"refer"
    "ral_state\":\"made\",\"referral_to\":\"referral.child_protection\"},{\"count\":null,\"referral_state"
    "\":\"accepted\",\"referral_to\":\"referral.child_protection\",\"suppressed\":true},{\"count\":0,\"re"
    "ferral_state\":\"declined\",\"referral_to\":\"referral.child_protection\"},{\"count\":null,\"referra"
    "l_state\":\"completed\",\"referral_to\":\"referral.child_protection\",\"suppressed\":true},{\"count"
    "\":12,\"referral_state\":\"made\",\"referral_to\":\"referral.law_enforcement\"},{\"count\":null,\"ref"
    "erral_state\":\"accepted\",\"referral_to\":\"referral.law_enforcement\",\"suppressed\":true},{\"coun"
    "t\":null,\"referral_state\":\"declined\",\"referral_to\":\"referral.law_enforcement\",\"suppressed\""
    ":true},{\"count\":0,\"referral_state\":\"completed\",\"referral_to\":\"referral.law_enforcement\"}],"
    "\"dimensions\":[\"referral_to\",\"referral_state\"],\"total\":41,\"withheld\":[{\"over\":\"referral_"
    "to\",\"referral_state\":\"declined\"},{\"over\":\"referral_to\",\"referral_state\":\"completed\"}]}}"
    ",\"taxonomy_version\":\"2026.1\"}";
static const char kat_case_signature[] =
    "9RHdVkmiWstJtwSvz3C9UdiwptWmV9ewfrPcnMivBJMGxzwOTg/XLWAtG0GR7tUczPXfA0lwzTz6D21tdi7DDA==";
static const char kat_case_csv[] =
    "table,kind,dimension_1,value_1,dimension_2,value_2,count,suppressed\r\n"
    "case_status,cell,case_status,open,,,14,false\r\n"
    "case_status,cell,case_status,in_progress,,,,true\r\n"
    "case_status,cell,case_status,closed,,,,true\r\n"
    "case_status,total,,,,,26,false\r\n"
    "referral,cell,referral_to,referral.child_protection,referral_state,made,9,false\r\n"
    "referral,cell,referral_to,referral.child_protection,referral_state,accepted,,true\r\n"
    "referral,cell,referral_to,referral.child_protection,referral_state,declined,0,false\r\n"
    "referral,cell,referral_to,referral.child_protection,referral_state,completed,,true\r\n"
    "referral,cell,referral_to,referral.law_enforcement,referral_state,made,12,false\r\n"
    "referral,cell,referral_to,referral.law_enforcement,referral_state,accepted,,true\r\n"
    "referral,cell,referral_to,referral.law_enforcement,referral_state,declined,,true\r\n"
    "referral,cell,referral_to,referral.law_enforcement,referral_state,completed,0,false\r\n"
    "referral,total,,,,,41,false\r\n"
    "referral,margin,referral_to,,referral_state,declined,,true\r\n"
    "referral,margin,referral_to,,referral_state,completed,,true\r\n";

static json_t *kat_case_report(void)
{
    static const char *const to[] = {"referral.child_protection", "referral.law_enforcement"};
    static const uint64_t referrals[] = {9, 2, 0, 6, /**/ 12, 7, 5, 0};
    static const uint64_t statuses[] = {14, 3, 9};
    hl_report_table_t tables[] = {
        {HL_REPORT_TABLE_REFERRAL,
         2,
         {DIM("referral_to", to), DIM("referral_state", referral_states)},
         referrals,
         NULL},
        {HL_REPORT_TABLE_CASE_STATUS, 1, {DIM("case_status", case_statuses)}, statuses, NULL},
    };
    hl_report_input_t in = {
        .helpline = {"KE01", "Childline Kenya", "KE", "KE-NET"},
        .year = 2026,
        .quarter = 4,
        .taxonomy_version = "2026.1",
        .k = 5,
        .generated_at = "2027-01-05T06:00:00Z",
        .ntables = 2,
        .tables = tables,
    };
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;

    cr_assert_eq(hl_report_build(&in, &doc, &err), HL_OK, "%s", err.message);
    return doc;
}

Test(report_format, casework_tables_known_answers)
{
    json_t *doc = kat_case_report(), *parsed = NULL;
    hl_crypto_signer_t *s = signer(0);
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    hl_report_error_t err = {{0}};
    char *canon = NULL, *text = NULL, *csv = NULL;
    size_t len = 0;

    cr_assert_eq(hl_report_canonical(doc, &canon, &len), HL_OK);
    cr_assert_str_eq(canon, kat_case_canonical);
    cr_assert_eq(hl_report_sign(doc, s), HL_OK);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "signature"), "value")),
                     kat_case_signature);
    cr_assert_eq(hl_report_to_csv(doc, &csv, &len), HL_OK);
    cr_assert_str_eq(csv, kat_case_csv);
    /* a helpline-quarterly/1 reader takes the new tables as any others: verify, validate, parse */
    hl_crypto_signer_public_key(s, pk);
    cr_assert_eq(hl_report_to_json(doc, &text, &len), HL_OK);
    cr_assert_eq(hl_report_verify_text(text, len, pk, &parsed, &err), HL_OK, "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(parsed, "format")), "helpline-quarterly/1");
    json_decref(parsed);
    free(csv);
    free(text);
    free(canon);
    hl_crypto_signer_free(s);
    json_decref(doc);
}

Test(report_format, small_cells_suppressed)
{
    fixture_t f;
    hl_report_error_t err = {{0}};
    json_t *doc = NULL, *cells;

    fixture_init(&f, "KE01", 1, 3);
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_OK, "%s", err.message);
    cr_assert_eq(hl_report_validate(doc, &err), HL_OK, "%s", err.message);
    /* contact_type: the 3 silent contacts are suppressed, and the 12 referrals with them */
    cells = json_object_get(table_of(doc, "contact_type"), "cells");
    cr_assert(json_is_null(json_object_get(json_array_get(cells, 3), "count")));
    cr_assert(json_is_true(json_object_get(json_array_get(cells, 3), "suppressed")));
    cr_assert(json_is_null(json_object_get(json_array_get(cells, 2), "count")));
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(cells, 0), "count")), 120);
    cr_assert_eq(json_integer_value(json_object_get(table_of(doc, "contact_type"), "total")), 205);
    /* no published non-zero count below k anywhere */
    const char *name;
    json_t *t;
    json_object_foreach(json_object_get(doc, "tables"), name, t)
    {
        json_t *c;
        size_t i;
        json_array_foreach(json_object_get(t, "cells"), i, c)
        {
            json_t *cnt = json_object_get(c, "count");
            if (json_is_integer(cnt))
                cr_assert(json_integer_value(cnt) == 0 || json_integer_value(cnt) >= 5, "%s cell %zu", name,
                          i);
        }
    }
    json_decref(doc);
}

Test(report_format, build_rejects_bad_input)
{
    fixture_t f;
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;
    static const char *const dup[] = {"a", "a"};

    fixture_init(&f, "KE01", 1, 5);
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    fixture_init(&f, "KE01", 1, 3);
    f.in.k = 0;
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    fixture_init(&f, "KE01", 1, 3);
    f.in.generated_at = "2026-10-01 06:00:00";
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    fixture_init(&f, "KE01", 1, 3);
    f.in.helpline.country = "ke";
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    fixture_init(&f, "KE01", 1, 3);
    f.tables[1].name = "contact_type";
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    cr_assert_str_eq(err.message, "table contact_type twice");
    fixture_init(&f, "KE01", 1, 3);
    f.tables[1].dims[0] = (hl_report_dim_t)DIM("category", dup);
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    fixture_init(&f, "KE01", 1, 3);
    f.tables[1].dims[0].name = "count";
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    fixture_init(&f, "KE01", 1, 3);
    f.category[0] = HL_REPORT_COUNT_MAX + 1;
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    cr_assert_null(doc);
}

/* ---- verification ---------------------------------------------------------------------------- */

TestSuite(report_verify, .init = init);

Test(report_verify, good_and_wrong_keys)
{
    fixture_t f;
    hl_crypto_signer_t *s = signer(1), *other = signer(2);
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], opk[HL_CRYPTO_SIGN_PK_BYTES];
    char b64[HL_CRYPTO_SIGN_PK_B64_LEN + 1];
    json_t *doc;

    fixture_init(&f, "KE01", 1, 3);
    doc = signed_report(&f, s);
    hl_crypto_signer_public_key(s, pk);
    hl_crypto_signer_public_key(other, opk);
    hl_crypto_sign_pk_to_b64(pk, b64);
    cr_assert_eq(hl_report_verify(doc, pk), HL_OK);
    cr_assert_eq(hl_report_verify_b64(doc, b64), HL_OK);
    cr_assert_eq(hl_report_verify(doc, opk), HL_ECRYPTO);
    cr_assert_eq(hl_report_verify_b64(doc, "not base64"), HL_EINVAL);

    /* the right signature under someone else's key id */
    char kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];
    hl_crypto_sign_key_id(opk, kid);
    json_object_set_new(json_object_get(doc, "signature"), "key_id", json_string(kid));
    cr_assert_eq(hl_report_verify(doc, pk), HL_ECRYPTO);

    /* extra members in the signature, another alg, no signature */
    json_decref(doc);
    doc = signed_report(&f, s);
    json_object_set_new(json_object_get(doc, "signature"), "note", json_string("x"));
    cr_assert_eq(hl_report_verify(doc, pk), HL_ECRYPTO);
    json_object_del(json_object_get(doc, "signature"), "note");
    cr_assert_eq(hl_report_verify(doc, pk), HL_OK);
    json_object_set_new(json_object_get(doc, "signature"), "alg", json_string("ed448"));
    cr_assert_eq(hl_report_verify(doc, pk), HL_ECRYPTO);
    json_object_del(doc, "signature");
    cr_assert_eq(hl_report_verify(doc, pk), HL_ECRYPTO);

    json_decref(doc);
    hl_crypto_signer_free(other);
    hl_crypto_signer_free(s);
}

Test(report_verify, every_byte_change_fails)
{
    fixture_t f;
    hl_crypto_signer_t *s = signer(1);
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80};
    json_t *doc, *back = NULL;
    char *text = NULL;
    size_t len = 0, checked = 0;

    fixture_init(&f, "KE01", 1, 3);
    doc = signed_report(&f, s);
    hl_crypto_signer_public_key(s, pk);
    cr_assert_eq(hl_report_to_json(doc, &text, &len), HL_OK);
    cr_assert_eq(text[len - 1], '\n');
    cr_assert_eq(hl_report_verify_text(text, len, pk, &back, NULL), HL_OK);
    cr_assert(json_equal(back, doc));
    json_decref(back);
    /* every byte of the document (tables, header and signature), every bit */
    for (size_t i = 0; i + 1 < len; i++) {
        for (size_t m = 0; m < HL_ARRAY_LEN(masks); m++) {
            text[i] ^= (char)masks[m];
            cr_assert_neq(hl_report_verify_text(text, len, pk, NULL, NULL), HL_OK,
                          "byte %zu mask %02x verifies", i, masks[m]);
            text[i] ^= (char)masks[m];
            checked++;
        }
    }
    cr_assert_gt(checked, 8 * 2000);
    cr_assert_eq(hl_report_verify_text(text, len, pk, NULL, NULL), HL_OK);
    /* truncation */
    cr_assert_neq(hl_report_verify_text(text, len / 2, pk, NULL, NULL), HL_OK);
    free(text);
    json_decref(doc);
    hl_crypto_signer_free(s);
}

Test(report_verify, every_value_change_fails)
{
    fixture_t f;
    hl_crypto_signer_t *s = signer(1);
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    const char *name;
    json_t *doc, *t;
    size_t changed = 0;

    fixture_init(&f, "KE01", 1, 3);
    doc = signed_report(&f, s);
    hl_crypto_signer_public_key(s, pk);
    json_object_foreach(json_object_get(doc, "tables"), name, t)
    {
        json_t *c;
        size_t i;
        json_array_foreach(json_object_get(t, "cells"), i, c)
        {
            json_t *cnt = json_object_get(c, "count");
            if (!json_is_integer(cnt))
                continue;
            json_int_t v = json_integer_value(cnt);
            json_integer_set(cnt, v + 1);
            cr_assert_eq(hl_report_verify(doc, pk), HL_ECRYPTO, "%s cell %zu", name, i);
            json_integer_set(cnt, v);
            changed++;
        }
    }
    cr_assert_gt(changed, 30);
    cr_assert_eq(hl_report_verify(doc, pk), HL_OK);
    json_decref(doc);
    hl_crypto_signer_free(s);
}

/* ---- validation ------------------------------------------------------------------------------- */

TestSuite(report_validate, .init = init);

static int validate_mutated(void (*mutate)(json_t *doc))
{
    fixture_t f;
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;
    int rc;

    fixture_init(&f, "KE01", 1, 3);
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_OK);
    mutate(doc);
    rc = hl_report_validate(doc, &err);
    json_decref(doc);
    return rc;
}

static json_t *first_cell(json_t *doc, const char *table)
{
    return json_array_get(json_object_get(table_of(doc, table), "cells"), 0);
}

static void m_small_count(json_t *doc)
{
    json_object_set_new(first_cell(doc, "region"), "count", json_integer(2));
}
static void m_real(json_t *doc)
{
    json_object_set_new(first_cell(doc, "region"), "count", json_real(70.0));
}
static void m_unknown_member(json_t *doc)
{
    json_object_set_new(doc, "comment", json_string("x"));
}
static void m_missing_cell(json_t *doc)
{
    json_array_remove(json_object_get(table_of(doc, "region"), "cells"), 1);
}
static void m_order(json_t *doc)
{
    json_t *cells = json_object_get(table_of(doc, "age_band_gender"), "cells");
    json_t *c = json_incref(json_array_get(cells, 0));
    json_array_remove(cells, 0);
    json_array_append_new(cells, c);
}
static void m_total(json_t *doc)
{
    json_object_set_new(table_of(doc, "region"), "total", json_integer(1));
}
static void m_period(json_t *doc)
{
    json_object_set_new(json_object_get(doc, "period"), "to", json_string("2026-09-31"));
}
static void m_format(json_t *doc)
{
    json_object_set_new(doc, "format", json_string("helpline-quarterly/2"));
}
static void m_suppressed_with_count(json_t *doc)
{
    json_object_set_new(first_cell(doc, "region"), "suppressed", json_true());
}
static void m_nothing(json_t *doc)
{
    (void)doc;
}

Test(report_validate, rejects_bad_documents)
{
    cr_assert_eq(validate_mutated(m_nothing), HL_OK);
    cr_assert_eq(validate_mutated(m_small_count), HL_EINVAL);
    cr_assert_eq(validate_mutated(m_real), HL_EINVAL);
    cr_assert_eq(validate_mutated(m_unknown_member), HL_EINVAL);
    cr_assert_eq(validate_mutated(m_missing_cell), HL_EINVAL);
    cr_assert_eq(validate_mutated(m_order), HL_EINVAL);
    cr_assert_eq(validate_mutated(m_total), HL_EINVAL);
    cr_assert_eq(validate_mutated(m_period), HL_EINVAL);
    cr_assert_eq(validate_mutated(m_format), HL_EINVAL);
    cr_assert_eq(validate_mutated(m_suppressed_with_count), HL_EINVAL);
}

Test(report_validate, parse_rejects_duplicate_keys_and_non_json)
{
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;
    const char dup[] = "{\"format\":\"helpline-quarterly/1\",\"format\":\"helpline-quarterly/1\"}";

    cr_assert_eq(hl_report_parse(dup, strlen(dup), &doc, &err), HL_EINVAL);
    cr_assert_eq(hl_report_parse("[", 1, &doc, &err), HL_EINVAL);
    cr_assert_eq(hl_report_parse("{}", 2, &doc, &err), HL_EINVAL);
    cr_assert_null(doc);
}

/* ---- merge --------------------------------------------------------------------------------------- */

TestSuite(report_merge, .init = init);

static const hl_report_helpline_t network = {"KE-NET", "Kenya child helpline network", "KE", NULL};

Test(report_merge, two_helplines)
{
    fixture_t a, b;
    hl_crypto_signer_t *sa = signer(1), *sb = signer(2), *sn = signer(3);
    uint8_t pks[2][HL_CRYPTO_SIGN_PK_BYTES], npk[HL_CRYPTO_SIGN_PK_BYTES];
    hl_report_error_t err = {{0}};
    json_t *in[2], *m = NULL;
    const char *name;
    json_t *t;
    char *text = NULL;
    size_t len = 0, totals = 0;

    fixture_init(&a, "KE01", 1, 3);
    fixture_init(&b, "KE02", 3, 3);
    b.in.k = 10;
    in[0] = signed_report(&a, sa);
    in[1] = signed_report(&b, sb);
    hl_crypto_signer_public_key(sa, pks[0]);
    hl_crypto_signer_public_key(sb, pks[1]);
    hl_crypto_signer_public_key(sn, npk);

    cr_assert_eq(hl_report_merge(in, (const uint8_t(*)[HL_CRYPTO_SIGN_PK_BYTES])pks, 2, &network,
                                 "2026-10-02T08:00:00Z", sn, &m, &err),
                 HL_OK, "%s", err.message);
    cr_assert_eq(hl_report_verify(m, npk), HL_OK);
    cr_assert_eq(hl_report_verify(m, pks[0]), HL_ECRYPTO);
    cr_assert_eq(hl_report_validate(m, &err), HL_OK, "%s", err.message);
    /* through text too */
    cr_assert_eq(hl_report_to_json(m, &text, &len), HL_OK);
    cr_assert_eq(hl_report_verify_text(text, len, npk, NULL, &err), HL_OK, "%s", err.message);
    free(text);

    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "helpline"), "code")), "KE-NET");
    cr_assert_eq(json_integer_value(json_object_get(m, "k")), 10);
    cr_assert_eq(json_array_size(json_object_get(m, "sources")), 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(m, "sources"), 1), "code")), "KE02");
    cr_assert(json_equal(json_object_get(m, "period"), json_object_get(in[0], "period")));

    json_object_foreach(json_object_get(m, "tables"), name, t)
    {
        json_t *ta = table_of(in[0], name), *tb = table_of(in[1], name), *c;
        json_t *tot = json_object_get(t, "total");
        size_t i;

        /* totals: the sum of the inputs' totals (every input publishes them here) */
        cr_assert(json_is_integer(json_object_get(ta, "total")));
        cr_assert(json_is_integer(json_object_get(tb, "total")));
        cr_assert(json_is_integer(tot), "%s: merged total withheld", name);
        cr_assert_eq(json_integer_value(tot),
                     json_integer_value(json_object_get(ta, "total")) +
                         json_integer_value(json_object_get(tb, "total")),
                     "%s: total", name);
        totals++;
        json_array_foreach(json_object_get(t, "cells"), i, c)
        {
            json_t *ca = json_object_get(json_array_get(json_object_get(ta, "cells"), i), "count");
            json_t *cb = json_object_get(json_array_get(json_object_get(tb, "cells"), i), "count");
            json_t *cm = json_object_get(c, "count");

            if (json_is_null(ca) || json_is_null(cb))
                cr_assert(json_is_null(cm), "%s cell %zu: an input suppressed it", name, i);
            else if (json_is_integer(cm))
                cr_assert_eq(json_integer_value(cm), json_integer_value(ca) + json_integer_value(cb));
            if (json_is_integer(cm))
                cr_assert(json_integer_value(cm) == 0 || json_integer_value(cm) >= 10);
        }
    }
    cr_assert_eq(totals, N_TABLES);

    json_decref(m);
    json_decref(in[0]);
    json_decref(in[1]);
    hl_crypto_signer_free(sn);
    hl_crypto_signer_free(sb);
    hl_crypto_signer_free(sa);
}

static int try_merge(fixture_t *a, fixture_t *b, bool tamper, hl_report_error_t *err)
{
    hl_crypto_signer_t *sa = signer(1), *sb = signer(2), *sn = signer(3);
    uint8_t pks[2][HL_CRYPTO_SIGN_PK_BYTES];
    json_t *in[2], *m = NULL;
    int rc;

    in[0] = signed_report(a, sa);
    in[1] = signed_report(b, sb);
    hl_crypto_signer_public_key(sa, pks[0]);
    hl_crypto_signer_public_key(sb, pks[1]);
    if (tamper)
        json_integer_set(
            json_object_get(json_array_get(json_object_get(table_of(in[1], "region"), "cells"), 0), "count"),
            1000);
    rc = hl_report_merge(in, (const uint8_t(*)[HL_CRYPTO_SIGN_PK_BYTES])pks, 2, &network,
                         "2026-10-02T08:00:00Z", sn, &m, err);
    if (rc < 0)
        cr_assert_null(m);
    json_decref(m);
    json_decref(in[0]);
    json_decref(in[1]);
    hl_crypto_signer_free(sn);
    hl_crypto_signer_free(sb);
    hl_crypto_signer_free(sa);
    return rc;
}

Test(report_merge, refuses_mixed_inputs)
{
    fixture_t a, b;
    hl_report_error_t err = {{0}};

    fixture_init(&a, "KE01", 1, 3);
    fixture_init(&b, "KE02", 2, 2);
    cr_assert_eq(try_merge(&a, &b, false, &err), HL_ECONFLICT);
    cr_assert_str_eq(err.message, "input 1: a different period than input 0");

    fixture_init(&b, "KE02", 2, 3);
    b.in.year = 2025;
    cr_assert_eq(try_merge(&a, &b, false, &err), HL_ECONFLICT);

    fixture_init(&b, "KE02", 2, 3);
    b.in.taxonomy_version = "2025.4";
    cr_assert_eq(try_merge(&a, &b, false, &err), HL_ECONFLICT);
    cr_assert_str_eq(err.message, "input 1: a different taxonomy version than input 0");

    fixture_init(&b, "KE01", 2, 3);
    cr_assert_eq(try_merge(&a, &b, false, &err), HL_ECONFLICT);

    fixture_init(&b, "KE02", 2, 3);
    b.in.ntables = 5;
    cr_assert_eq(try_merge(&a, &b, false, &err), HL_ECONFLICT);

    /* A report of a helplined from before the casework tables, with one from after: the
     * message names the table that is missing, either way round. */
    fixture_init(&b, "KE02", 2, 3);
    b.in.ntables = 6;
    cr_assert_eq(try_merge(&a, &b, false, &err), HL_ECONFLICT);
    cr_assert_str_eq(err.message,
                     "input 1 has no table case_status (input 0 has it): fetch every report from "
                     "the same helplined version");
    cr_assert_eq(try_merge(&b, &a, false, &err), HL_ECONFLICT);
    cr_assert_str_eq(err.message,
                     "input 0 has no table case_status (input 1 has it): fetch every report from "
                     "the same helplined version");

    fixture_init(&b, "KE02", 2, 3);
    b.tables[5].dims[0].nvalues = 3;
    cr_assert_eq(try_merge(&a, &b, false, &err), HL_ECONFLICT);

    fixture_init(&b, "KE02", 2, 3);
    cr_assert_eq(try_merge(&a, &b, true, &err), HL_ECRYPTO);
    cr_assert_str_eq(err.message, "input 1: the signature does not verify with its key");

    cr_assert_eq(try_merge(&a, &b, false, &err), HL_OK, "%s", err.message);
}

Test(report_merge, suppressed_input_cells_stay_suppressed)
{
    fixture_t a, b;
    hl_crypto_signer_t *sa = signer(1), *sb = signer(2), *sn = signer(3);
    uint8_t pks[2][HL_CRYPTO_SIGN_PK_BYTES], npk[HL_CRYPTO_SIGN_PK_BYTES];
    hl_report_error_t err = {{0}};
    json_t *in[2], *m = NULL, *cells;

    fixture_init(&a, "KE01", 1, 3);
    fixture_init(&b, "KE02", 1, 3);
    /* A: 2 sms contacts (suppressed, with email as the complement); B: 500 sms contacts. */
    a.channel[1] = 2;
    b.channel[1] = 500;
    in[0] = signed_report(&a, sa);
    in[1] = signed_report(&b, sb);
    hl_crypto_signer_public_key(sa, pks[0]);
    hl_crypto_signer_public_key(sb, pks[1]);
    hl_crypto_signer_public_key(sn, npk);
    cr_assert_eq(hl_report_merge(in, (const uint8_t(*)[HL_CRYPTO_SIGN_PK_BYTES])pks, 2, &network,
                                 "2026-10-02T08:00:00Z", sn, &m, &err),
                 HL_OK, "%s", err.message);
    cells = json_object_get(table_of(m, "channel"), "cells");
    /* sms: 2 + 500 would give A's 2 away from B's 500: stays suppressed, and so does a
     * second cell so the total does not give it either */
    cr_assert(json_is_true(json_object_get(json_array_get(cells, 1), "suppressed")));
    cr_assert_eq(json_integer_value(json_object_get(table_of(m, "channel"), "total")),
                 json_integer_value(json_object_get(table_of(in[0], "channel"), "total")) +
                     json_integer_value(json_object_get(table_of(in[1], "channel"), "total")));
    size_t nsup = 0;
    for (size_t i = 0; i < json_array_size(cells); i++)
        nsup += json_is_true(json_object_get(json_array_get(cells, i), "suppressed"));
    cr_assert_geq(nsup, 2);
    cr_assert_eq(hl_report_verify(m, npk), HL_OK);
    json_decref(m);
    json_decref(in[0]);
    json_decref(in[1]);
    hl_crypto_signer_free(sn);
    hl_crypto_signer_free(sb);
    hl_crypto_signer_free(sa);
}

/* Random small counts for every table of F: what the daemon's monthly slices make common. */
static void randomize(fixture_t *f, uint64_t *rng)
{
    uint64_t *tables[] = {f->contact_type, f->category, f->subcategory, f->age_gender,
                          f->channel,      f->region,   f->referral,    f->case_status};
    size_t sizes[] = {5, 4, 6, 28, 4, 4, 24, 3};

    for (size_t t = 0; t < N_TABLES; t++) {
        for (size_t i = 0; i < sizes[t]; i++) {
            *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
            uint64_t r = (*rng >> 33) % 10;
            tables[t][i] = r < 3 ? 0 : r < 7 ? 1 + (*rng >> 40) % 6 : 5 + (*rng >> 40) % 40;
        }
    }
}

/*
 * Issue 15: merging must not reveal a difference below k. Whoever holds the merged report and
 * some of its inputs can subtract; every merged count is the sum of counts every input
 * published (each 0 or at least its k), so the merged count minus any inputs is the sum of the
 * other inputs' published counts: 0 or at least k. Totals likewise, and a line total withheld
 * in an input stays withheld.
 */
Test(report_merge, no_difference_below_k)
{
    hl_crypto_signer_t *ss[3] = {signer(1), signer(2), signer(3)}, *sn = signer(4);
    uint8_t pks[3][HL_CRYPTO_SIGN_PK_BYTES];
    uint64_t rng = 0x6a09e667f3bcc908ULL, kmin = 5;
    size_t cells = 0, suppressed = 0;

    for (int i = 0; i < 3; i++)
        hl_crypto_signer_public_key(ss[i], pks[i]);
    for (int round = 0; round < 40; round++) {
        fixture_t f[3];
        json_t *in[3], *m = NULL, *t;
        hl_report_error_t err = {{0}};
        const char *name;
        char code[8];

        for (int i = 0; i < 3; i++) {
            snprintf(code, sizeof(code), "KE0%d", i + 1);
            fixture_init(&f[i], code, 1, 3);
            randomize(&f[i], &rng);
            f[i].in.k = kmin + (uint64_t)(round + i) % 4;
            in[i] = signed_report(&f[i], ss[i]);
        }
        cr_assert_eq(hl_report_merge(in, (const uint8_t(*)[HL_CRYPTO_SIGN_PK_BYTES])pks, 3, &network,
                                     "2026-10-02T08:00:00Z", sn, &m, &err),
                     HL_OK, "%s", err.message);
        json_object_foreach(json_object_get(m, "tables"), name, t)
        {
            json_t *c;
            size_t j;
            bool all_totals = true;
            json_int_t total_sum = 0;

            for (int i = 0; i < 3; i++) {
                json_t *ti = json_object_get(table_of(in[i], name), "total");
                all_totals &= json_is_integer(ti);
                total_sum += json_integer_value(ti);
                /* withheld lines of an input stay withheld */
                json_t *w;
                size_t wi;
                json_array_foreach(json_object_get(table_of(in[i], name), "withheld"), wi, w)
                {
                    json_t *mw;
                    size_t mi;
                    bool found = false;
                    json_array_foreach(json_object_get(t, "withheld"), mi, mw) found |= json_equal(w, mw);
                    cr_assert(found, "round %d %s: a line total input %d withheld is published", round, name,
                              i);
                }
            }
            if (json_is_integer(json_object_get(t, "total"))) {
                cr_assert(all_totals, "round %d %s: a total an input withheld is published", round, name);
                cr_assert_eq(json_integer_value(json_object_get(t, "total")), total_sum);
            }
            json_array_foreach(json_object_get(t, "cells"), j, c)
            {
                json_t *cm = json_object_get(c, "count");
                json_int_t sum = 0;
                bool all = true;

                cells++;
                if (json_is_null(cm)) {
                    suppressed++;
                    continue;
                }
                for (int i = 0; i < 3; i++) {
                    json_t *ci = json_object_get(
                        json_array_get(json_object_get(table_of(in[i], name), "cells"), j), "count");
                    all &= json_is_integer(ci);
                    sum += json_integer_value(ci);
                }
                cr_assert(all, "round %d %s cell %zu: published though an input suppressed it", round, name,
                          j);
                cr_assert_eq(json_integer_value(cm), sum);
                /* merged minus any set of inputs: the others' published counts */
                for (unsigned set = 0; set < 8; set++) {
                    json_int_t diff = json_integer_value(cm);
                    for (int i = 0; i < 3; i++)
                        if (set & (1u << i))
                            diff -= json_integer_value(json_object_get(
                                json_array_get(json_object_get(table_of(in[i], name), "cells"), j), "count"));
                    cr_assert(diff == 0 || diff >= (json_int_t)kmin,
                              "round %d %s cell %zu: a difference of %lld", round, name, j, (long long)diff);
                }
            }
        }
        json_decref(m);
        for (int i = 0; i < 3; i++)
            json_decref(in[i]);
    }
    cr_assert_gt(suppressed, cells / 10, "the random inputs suppress cells");
    hl_crypto_signer_free(sn);
    for (int i = 0; i < 3; i++)
        hl_crypto_signer_free(ss[i]);
}

/* ---- presets (tables made of protected parts) ----------------------------------------------- */

TestSuite(report_preset, .init = init);

Test(report_preset, unknown_cells_and_withheld_totals_carry_over)
{
    static const uint64_t counts[] = {12, 7, 30, 9};
    hl_report_table_t tb = {"channel", 1, {DIM("channel", channels)}, counts, NULL};
    hl_disclosure_table_t *preset = NULL;
    size_t four = 4, three = 3;
    fixture_t f;
    json_t *doc = NULL, *cells;
    hl_report_error_t err = {{0}};

    fixture_init(&f, "KE01", 1, 3);
    cr_assert_eq(hl_disclosure_table_new(1, &four, &preset), HL_OK);
    preset->state[1] = HL_DISCLOSURE_UNKNOWN; /* suppressed in a part: 7 is not the count to publish */
    tb.preset = preset;
    f.in.tables = &tb;
    f.in.ntables = 1;
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_OK, "%s", err.message);
    cells = json_object_get(table_of(doc, "channel"), "cells");
    cr_assert(json_is_true(json_object_get(json_array_get(cells, 1), "suppressed")));
    /* the total is published (58), so a second cell goes: the smallest, 9 */
    cr_assert(json_is_true(json_object_get(json_array_get(cells, 3), "suppressed")));
    cr_assert_eq(json_integer_value(json_object_get(table_of(doc, "channel"), "total")), 58);
    cr_assert_eq(hl_report_validate(doc, &err), HL_OK, "%s", err.message);
    json_decref(doc);

    /* a preset withheld total is withheld */
    preset->state[1] = HL_DISCLOSURE_PUBLISHED;
    hl_disclosure_withhold_total(preset);
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_OK, "%s", err.message);
    cr_assert(json_is_null(json_object_get(table_of(doc, "channel"), "total")));
    json_decref(doc);
    hl_disclosure_table_free(preset);

    /* another shape is refused */
    cr_assert_eq(hl_disclosure_table_new(1, &three, &preset), HL_OK);
    tb.preset = preset;
    doc = NULL;
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_EINVAL);
    cr_assert_null(doc);
    cr_assert(strstr(err.message, "preset") != NULL, "%s", err.message);
    hl_disclosure_table_free(preset);
}

/* ---- CSV ---------------------------------------------------------------------------------------- */

/* A small RFC 4180 reader: rows of fields, CRLF line ends required. */
typedef struct csv {
    size_t nrows;
    size_t nfields[512];
    char *fields[512][16];
} csv_t;

static void csv_parse(const char *s, csv_t *out)
{
    char field[1024];
    size_t flen = 0;
    bool quoted = false, start = true;

    memset(out, 0, sizeof(*out));
    while (*s) {
        cr_assert_lt(out->nrows, 512);
        if (start && *s == '"') {
            quoted = true;
            start = false;
            s++;
            continue;
        }
        start = false;
        if (quoted) {
            if (*s == '"' && s[1] == '"') {
                field[flen++] = '"';
                s += 2;
            } else if (*s == '"') {
                quoted = false;
                s++;
                cr_assert(*s == ',' || *s == '\r', "text after a closing quote");
            } else {
                field[flen++] = *s++;
            }
            cr_assert_lt(flen, sizeof(field));
            continue;
        }
        if (*s == ',' || *s == '\r') {
            size_t r = out->nrows, f = out->nfields[r]++;
            cr_assert_lt(f, 16);
            field[flen] = '\0';
            out->fields[r][f] = strdup(field);
            flen = 0;
            start = true;
            if (*s == '\r') {
                cr_assert_eq(s[1], '\n', "bare CR");
                out->nrows++;
                s++;
            }
            s++;
            continue;
        }
        cr_assert(*s != '"' && *s != '\n', "stray quote or bare LF");
        field[flen++] = *s++;
        cr_assert_lt(flen, sizeof(field));
    }
    cr_assert(start && flen == 0, "last line without CRLF");
}

static void csv_free(csv_t *c)
{
    for (size_t r = 0; r < c->nrows; r++)
        for (size_t f = 0; f < c->nfields[r]; f++)
            free(c->fields[r][f]);
}

Test(report_csv, round_trip, .init = init)
{
    static const char *const odd[] = {"plain", "with,comma", "with \"quotes\"", "two\r\nlines"};
    static const char *const sides[] = {"a", "b"};
    static const uint64_t odd_counts[] = {20, 3, 40, 50, /**/ 0, 30, 6, 7};
    fixture_t f;
    hl_report_table_t tables[N_TABLES + 1];
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;
    csv_t *csv = calloc(1, sizeof(csv_t));
    char *text = NULL;
    size_t len = 0, row = 1, margins = 0;

    cr_assert_not_null(csv);
    fixture_init(&f, "KE01", 1, 3);
    memcpy(tables, f.tables, sizeof(f.tables));
    tables[N_TABLES] =
        (hl_report_table_t){"odd", 2, {DIM("side", sides), DIM("label", odd)}, odd_counts, NULL};
    f.in.tables = tables;
    f.in.ntables = N_TABLES + 1;
    cr_assert_eq(hl_report_build(&f.in, &doc, &err), HL_OK, "%s", err.message);
    cr_assert_eq(hl_report_to_csv(doc, &text, &len), HL_OK);
    cr_assert_eq(strlen(text), len);
    csv_parse(text, csv);

    const char *header[] = {"table",       "kind",    "dimension_1", "value_1",
                            "dimension_2", "value_2", "count",       "suppressed"};
    cr_assert_eq(csv->nfields[0], 8);
    for (size_t i = 0; i < 8; i++)
        cr_assert_str_eq(csv->fields[0][i], header[i]);

    /* tables in canonical (sorted) order: cells, then the total, then withheld margins */
    const char *order[] = {"age_band_gender", "case_status", "category",   "channel", "contact_type", "odd",
                           "referral",        "region",      "subcategory"};
    for (size_t ti = 0; ti < HL_ARRAY_LEN(order); ti++) {
        json_t *tab = table_of(doc, order[ti]), *dims = json_object_get(tab, "dimensions"), *c;
        size_t i;

        json_array_foreach(json_object_get(tab, "cells"), i, c)
        {
            char **fl = csv->fields[row];
            json_t *cnt = json_object_get(c, "count");

            cr_assert_eq(csv->nfields[row], 8);
            cr_assert_str_eq(fl[0], order[ti]);
            cr_assert_str_eq(fl[1], "cell");
            for (size_t d = 0; d < 2; d++) {
                if (d < json_array_size(dims)) {
                    const char *dn = json_string_value(json_array_get(dims, d));
                    cr_assert_str_eq(fl[2 + 2 * d], dn);
                    cr_assert_str_eq(fl[3 + 2 * d], json_string_value(json_object_get(c, dn)));
                } else {
                    cr_assert_str_eq(fl[2 + 2 * d], "");
                    cr_assert_str_eq(fl[3 + 2 * d], "");
                }
            }
            if (json_is_null(cnt)) {
                cr_assert_str_eq(fl[6], "");
                cr_assert_str_eq(fl[7], "true");
            } else {
                cr_assert_eq(strtoll(fl[6], NULL, 10), json_integer_value(cnt));
                cr_assert_str_eq(fl[7], "false");
            }
            row++;
        }
        cr_assert_str_eq(csv->fields[row][1], "total");
        if (json_is_null(json_object_get(tab, "total")))
            cr_assert_str_eq(csv->fields[row][6], "");
        else
            cr_assert_eq(strtoll(csv->fields[row][6], NULL, 10),
                         json_integer_value(json_object_get(tab, "total")));
        row++;
        json_array_foreach(json_object_get(tab, "withheld"), i, c)
        {
            cr_assert_str_eq(csv->fields[row][1], "margin");
            cr_assert_str_eq(csv->fields[row][7], "true");
            margins++;
            row++;
        }
    }
    cr_assert_eq(row, csv->nrows);
    cr_assert_str_eq(csv->fields[row - 1][0], "subcategory");
    /* quoting: the odd values come back byte for byte */
    bool seen[4] = {false};
    for (size_t r = 1; r < csv->nrows; r++)
        for (size_t i = 0; i < 4; i++)
            if (strcmp(csv->fields[r][0], "odd") == 0 && strcmp(csv->fields[r][5], odd[i]) == 0)
                seen[i] = true;
    for (size_t i = 0; i < 4; i++)
        cr_assert(seen[i], "value %zu lost", i);
    cr_assert_not_null(strstr(text, "\"with \"\"quotes\"\"\""));
    (void)margins;
    csv_free(csv);
    free(csv);
    free(text);
    json_decref(doc);
}
