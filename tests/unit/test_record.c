#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts/record.h"

TestSuite(record);

static void set_sealed(hl_sealed_t *s, const void *p, size_t n)
{
    s->data = malloc(n ? n : 1);
    cr_assert_not_null(s->data);
    if (n > 0)
        memcpy(s->data, p, n);
    s->len = n;
}

/* A record with every field set, sealed fields holding NULs and high bytes. */
static hl_record_t *full_record(void)
{
    static const uint8_t name[] = {0x00, 0x01, 0xff, 0x80, 0x00, 0x7f};
    hl_record_t *r = NULL;

    cr_assert_eq(hl_record_new(&r), HL_OK);
    for (int i = 0; i < HL_RECORD_ID_BYTES; i++)
        r->id[i] = (uint8_t)(0xa0 + i);
    r->helpline_id = 42;
    r->created_by = 7;
    r->source_system = strdup("aselo");
    r->source_id = strdup("call-\"1\"\\x");
    r->channel = HL_CONTACT_CHANNEL_MESSAGING_APP;
    r->contact_type = HL_CONTACT_TYPE_REFERRAL;
    r->started_at = INT64_C(1785000000123456);
    r->has_ended_at = true;
    r->ended_at = INT64_C(1785000600000000);
    r->counsellor = strdup("c.one");
    r->child_age = 14;
    r->child_gender = HL_CONTACT_GENDER_NON_BINARY;
    r->child_region = HL_CONTACT_REGION_RURAL;
    r->caller_relationship = HL_CONTACT_REL_SELF;
    r->urgency = HL_CONTACT_URGENCY_CRITICAL;
    r->n_actions = 2;
    r->actions[0] = HL_CONTACT_ACTION_REFERRAL_LAW_ENFORCEMENT;
    r->actions[1] = HL_CONTACT_ACTION_OTHER;
    r->n_local_categories = 2;
    r->local_categories[0] = strdup("Sextortion");
    r->local_categories[1] = strdup("Bullying, \"online\"");
    set_sealed(&r->child_name, name, sizeof(name));
    set_sealed(&r->caller_name, "cn", 2);
    set_sealed(&r->caller_phone, "cp", 2);
    set_sealed(&r->summary, "", 0);
    set_sealed(&r->transcript, "tr", 2);
    r->has_phone_bidx = true;
    memset(r->phone_bidx, 0x5a, HL_RECORD_BIDX_BYTES);
    strcpy(r->taxonomy_version, "2026.1");
    r->n_categories = 2;
    strcpy(r->categories[0].code, "violence.online_sexual_abuse_exploitation");
    r->categories[0].source = HL_CATEGORY_MAPPED;
    strcpy(r->categories[1].code, "violence");
    r->categories[1].source = HL_CATEGORY_SUGGESTED;
    r->n_terms = 1;
    strcpy(r->terms[0].term_id, "child_pornography");
    r->terms[0].field = HL_TERM_IN_TRANSCRIPT;
    r->terms[0].occurrences = 3;
    return r;
}

/* The smallest valid record. */
static hl_record_t *min_record(void)
{
    hl_record_t *r = NULL;

    cr_assert_eq(hl_record_new(&r), HL_OK);
    memset(r->id, 0x11, HL_RECORD_ID_BYTES);
    r->helpline_id = 1;
    r->source_system = strdup("s");
    r->source_id = strdup("i");
    r->started_at = 0;
    strcpy(r->taxonomy_version, "v");
    return r;
}

static void assert_sealed_eq(const hl_sealed_t *a, const hl_sealed_t *b)
{
    cr_assert_eq(a->data == NULL, b->data == NULL);
    cr_assert_eq(a->len, b->len);
    if (a->data != NULL && a->len > 0)
        cr_assert_eq(memcmp(a->data, b->data, a->len), 0);
}

static void assert_opt_str_eq(const char *a, const char *b)
{
    cr_assert_eq(a == NULL, b == NULL);
    if (a != NULL)
        cr_assert_str_eq(a, b);
}

static void assert_record_eq(const hl_record_t *a, const hl_record_t *b)
{
    cr_assert_eq(memcmp(a->id, b->id, HL_RECORD_ID_BYTES), 0);
    cr_assert_eq(a->helpline_id, b->helpline_id);
    cr_assert_eq(a->created_by, b->created_by);
    cr_assert_str_eq(a->source_system, b->source_system);
    cr_assert_str_eq(a->source_id, b->source_id);
    cr_assert_eq(a->channel, b->channel);
    cr_assert_eq(a->contact_type, b->contact_type);
    cr_assert_eq(a->started_at, b->started_at);
    cr_assert_eq(a->has_ended_at, b->has_ended_at);
    if (a->has_ended_at)
        cr_assert_eq(a->ended_at, b->ended_at);
    assert_opt_str_eq(a->counsellor, b->counsellor);
    cr_assert_eq(a->child_age, b->child_age);
    cr_assert_eq(a->child_gender, b->child_gender);
    cr_assert_eq(a->child_region, b->child_region);
    cr_assert_eq(a->caller_relationship, b->caller_relationship);
    cr_assert_eq(a->urgency, b->urgency);
    cr_assert_eq(a->n_actions, b->n_actions);
    for (size_t i = 0; i < a->n_actions; i++)
        cr_assert_eq(a->actions[i], b->actions[i]);
    cr_assert_eq(a->n_local_categories, b->n_local_categories);
    for (size_t i = 0; i < a->n_local_categories; i++)
        cr_assert_str_eq(a->local_categories[i], b->local_categories[i]);
    assert_sealed_eq(&a->child_name, &b->child_name);
    assert_sealed_eq(&a->caller_name, &b->caller_name);
    assert_sealed_eq(&a->caller_phone, &b->caller_phone);
    assert_sealed_eq(&a->summary, &b->summary);
    assert_sealed_eq(&a->transcript, &b->transcript);
    cr_assert_eq(a->has_phone_bidx, b->has_phone_bidx);
    if (a->has_phone_bidx)
        cr_assert_eq(memcmp(a->phone_bidx, b->phone_bidx, HL_RECORD_BIDX_BYTES), 0);
    cr_assert_str_eq(a->taxonomy_version, b->taxonomy_version);
    cr_assert_eq(a->n_categories, b->n_categories);
    for (size_t i = 0; i < a->n_categories; i++) {
        cr_assert_str_eq(a->categories[i].code, b->categories[i].code);
        cr_assert_eq(a->categories[i].source, b->categories[i].source);
    }
    cr_assert_eq(a->n_terms, b->n_terms);
    for (size_t i = 0; i < a->n_terms; i++) {
        cr_assert_str_eq(a->terms[i].term_id, b->terms[i].term_id);
        cr_assert_eq(a->terms[i].field, b->terms[i].field);
        cr_assert_eq(a->terms[i].occurrences, b->terms[i].occurrences);
    }
}

static void encode_ok(const hl_record_t *r, uint8_t **buf, size_t *len)
{
    cr_assert_eq(hl_record_encode(r, buf, len), HL_OK);
    cr_assert_gt(*len, 4);
}

Test(record, new_has_every_optional_field_none)
{
    hl_record_t *r = NULL;

    cr_assert_eq(hl_record_new(&r), HL_OK);
    cr_assert_eq(r->child_age, -1);
    cr_assert_eq(r->child_gender, -1);
    cr_assert_eq(r->child_region, -1);
    cr_assert_eq(r->caller_relationship, -1);
    cr_assert_eq(r->urgency, -1);
    cr_assert_null(r->counsellor);
    cr_assert_null(r->child_name.data);
    cr_assert_not(r->has_phone_bidx);
    cr_assert_not(r->has_ended_at);
    hl_record_free(r);
    hl_record_free(NULL);
}

Test(record, new_id_is_random_version_4)
{
    uint8_t a[HL_RECORD_ID_BYTES], b[HL_RECORD_ID_BYTES];
    char text[HL_RECORD_UUID_LEN + 1];

    hl_record_new_id(a);
    hl_record_new_id(b);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    cr_assert_eq(a[6] >> 4, 4);
    cr_assert_eq(a[8] & 0xc0, 0x80);
    hl_record_id_to_text(a, text);
    cr_assert_eq(strlen(text), HL_RECORD_UUID_LEN);
    cr_assert_eq(text[14], '4');
}

Test(record, id_text_round_trip)
{
    static const uint8_t id[HL_RECORD_ID_BYTES] = {0x0b, 0x5c, 0x12, 0x34, 0xab, 0xcd, 0x4e, 0xf0,
                                                   0x89, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd};
    uint8_t back[HL_RECORD_ID_BYTES];
    char text[HL_RECORD_UUID_LEN + 1];

    hl_record_id_to_text(id, text);
    cr_assert_str_eq(text, "0b5c1234-abcd-4ef0-8901-23456789abcd");
    cr_assert(hl_record_id_from_text(text, back));
    cr_assert_eq(memcmp(id, back, sizeof(id)), 0);
    memset(back, 0, sizeof(back));
    cr_assert(hl_record_id_from_text("0B5C1234-ABCD-4EF0-8901-23456789ABCD", back));
    cr_assert_eq(memcmp(id, back, sizeof(id)), 0);
}

Test(record, id_from_text_is_strict)
{
    static const char *const bad[] = {
        "",
        "0b5c1234-abcd-4ef0-8901-23456789abc",   /* short */
        "0b5c1234-abcd-4ef0-8901-23456789abcde", /* long */
        "0b5c1234abcd-4ef0-8901-23456789abcd-",  /* dash misplaced */
        "0b5c1234-abcd-4ef0-8901_23456789abcd",  /* not a dash */
        "0b5c1234-abcd-4ef0-8901-23456789abcg",  /* not hex */
        " 0b5c1234-abcd-4ef0-8901-23456789abc",  /* space */
        "0b5c1234-abcd-4ef0-8901-23456789abcd ", /* trailing */
        "{0b5c1234-abcd-4ef0-8901-23456789abcd}",
        "0b5c1234abcd4ef0890123456789abcd", /* no dashes */
        "0b5c1234-abcd-4ef0-8901-2345\0"
        "6789abcd",
    };
    uint8_t id[HL_RECORD_ID_BYTES], zero[HL_RECORD_ID_BYTES] = {0};

    memset(id, 0, sizeof(id));
    for (size_t i = 0; i < HL_ARRAY_LEN(bad); i++) {
        cr_assert_not(hl_record_id_from_text(bad[i], id), "accepted case %zu", i);
        cr_assert_eq(memcmp(id, zero, sizeof(id)), 0, "output written on failure (case %zu)", i);
    }
    cr_assert_not(hl_record_id_from_text(NULL, id));
}

Test(record, round_trip_full_and_minimal)
{
    hl_record_t *recs[2] = {full_record(), min_record()};

    for (size_t k = 0; k < 2; k++) {
        uint8_t *buf = NULL, *buf2 = NULL;
        size_t len = 0, len2 = 0;
        hl_record_t *back = NULL;

        encode_ok(recs[k], &buf, &len);
        cr_assert_eq(hl_record_decode(buf, len, &back), HL_OK);
        assert_record_eq(recs[k], back);
        /* canonical: the decoded record encodes to the same bytes */
        encode_ok(back, &buf2, &len2);
        cr_assert_eq(len, len2);
        cr_assert_eq(memcmp(buf, buf2, len), 0);
        free(buf);
        free(buf2);
        hl_record_free(back);
        hl_record_free(recs[k]);
    }
}

/* Known answer: the minimal record's bytes, so a format change breaks this test. */
Test(record, encoding_known_answer)
{
    static const char expect[] = "484c5201"                         /* "HLR", version 1 */
                                 "11111111111111111111111111111111" /* id */
                                 "0100000000000000"                 /* helpline_id 1 */
                                 "0000000000000000"                 /* created_by 0 */
                                 "0100000073"                       /* source_system "s" */
                                 "0100000069"                       /* source_id "i" */
                                 "00"                               /* channel phone */
                                 "00"                               /* contact_type counselling */
                                 "0000000000000000"                 /* started_at */
                                 "00"                               /* has_ended_at */
                                 "0000000000000000"                 /* ended_at */
                                 "00"                               /* counsellor absent */
                                 "ffffffff"                         /* child_age -1 */
                                 "ffffffff"                         /* child_gender -1 */
                                 "ffffffff"                         /* child_region -1 */
                                 "ffffffff"                         /* caller_relationship -1 */
                                 "ffffffff"                         /* urgency -1 */
                                 "00"                               /* actions */
                                 "00"                               /* local_categories */
                                 "0000000000"                       /* five sealed fields absent */
                                 "00"                               /* no phone blind index */
                                 "0100000076"                       /* taxonomy_version "v" */
                                 "00"                               /* categories */
                                 "00";                              /* terms */
    hl_record_t *r = min_record();
    uint8_t *buf = NULL;
    size_t len = 0;
    char hex[512] = "";

    encode_ok(r, &buf, &len);
    cr_assert_lt(len * 2, sizeof(hex));
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", buf[i]);
    cr_assert_str_eq(hex, expect);
    free(buf);
    hl_record_free(r);
}

Test(record, every_truncation_fails)
{
    hl_record_t *r = full_record();
    uint8_t *buf = NULL;
    size_t len = 0;

    encode_ok(r, &buf, &len);
    for (size_t n = 0; n < len; n++) {
        hl_record_t *back = NULL;
        /* a copy of exactly n bytes, so ASan sees any read past the end */
        uint8_t *cut = malloc(n ? n : 1);
        cr_assert_not_null(cut);
        memcpy(cut, buf, n);
        cr_assert_eq(hl_record_decode(cut, n, &back), HL_EINVAL, "prefix of %zu accepted", n);
        cr_assert_null(back);
        free(cut);
    }
    free(buf);
    hl_record_free(r);
}

Test(record, trailing_bytes_fail)
{
    hl_record_t *r = min_record(), *back = NULL;
    uint8_t *buf = NULL, *longer;
    size_t len = 0;

    encode_ok(r, &buf, &len);
    longer = calloc(1, len + 1);
    cr_assert_not_null(longer);
    memcpy(longer, buf, len);
    cr_assert_eq(hl_record_decode(longer, len + 1, &back), HL_EINVAL);
    cr_assert_eq(hl_record_decode(NULL, 0, &back), HL_EINVAL);
    free(longer);
    free(buf);
    hl_record_free(r);
}

/* Every byte flipped in every bit: refused, or a valid record (never a crash or a leak). */
Test(record, corrupted_bytes_fail_cleanly)
{
    hl_record_t *r = full_record();
    uint8_t *buf = NULL;
    size_t len = 0, accepted = 0;

    encode_ok(r, &buf, &len);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            hl_record_t *back = NULL;
            int rc;

            buf[i] ^= (uint8_t)(1u << bit);
            rc = hl_record_decode(buf, len, &back);
            cr_assert(rc == HL_OK || rc == HL_EINVAL);
            if (rc == HL_OK) {
                cr_assert(hl_record_valid(back));
                accepted++;
            }
            hl_record_free(back);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    cr_assert_lt(accepted, len * 8); /* most flips in lengths, tags and enums are refused */
    free(buf);
    hl_record_free(r);
}

static size_t find(const uint8_t *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return i;
    cr_assert_fail("'%s' not in the encoding", needle);
    return 0;
}

Test(record, specific_corruptions_fail)
{
    hl_record_t *r = min_record(), *back = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    encode_ok(r, &buf, &len);
    /* offsets in the minimal encoding (see encoding_known_answer) */
    struct {
        size_t off;
        uint8_t val;
        const char *what;
    } cases[] = {
        {0, 'X', "magic"},
        {3, 2, "version"},
        {40, 0, "NUL inside source_system"},
        {46, HL_CONTACT_N_CHANNELS, "channel"},
        {47, HL_CONTACT_N_TYPES, "contact_type"},
        {56, 2, "has_ended_at not a boolean"},
        {57, 1, "ended_at without has_ended_at"},
        {65, 2, "counsellor tag"},
        {66, 26, "child_age above 25"},
        {70, 4, "child_gender"},
        {74, 4, "child_region"},
        {78, 13, "caller_relationship"},
        {82, 3, "urgency"},
        {86, HL_CONTACT_MAX_ACTIONS + 1, "actions count"},
        {87, HL_CONTACT_MAX_LOCAL_CATEGORIES + 1, "local_categories count"},
        {88, 2, "sealed tag"},
        {93, 2, "bidx tag"},
        {94, 32, "taxonomy_version longer than the input"},
        {99, HL_RECORD_MAX_CATEGORIES + 1, "categories count"},
        {100, HL_RECORD_MAX_TERMS + 1, "terms count"},
    };
    cr_assert_eq(len, 101);
    for (size_t i = 0; i < HL_ARRAY_LEN(cases); i++) {
        uint8_t saved = buf[cases[i].off];
        buf[cases[i].off] = cases[i].val;
        cr_assert_eq(hl_record_decode(buf, len, &back), HL_EINVAL, "accepted: %s", cases[i].what);
        buf[cases[i].off] = saved;
    }
    cr_assert_eq(hl_record_decode(buf, len, &back), HL_OK);
    hl_record_free(back);
    back = NULL;
    /* taxonomy_version of 31 bytes fits its array, 32 does not */
    for (size_t vlen = 31; vlen <= 32; vlen++) {
        uint8_t spliced[160];
        size_t n = 94;
        memcpy(spliced, buf, n);
        spliced[n++] = (uint8_t)vlen;
        spliced[n++] = 0;
        spliced[n++] = 0;
        spliced[n++] = 0;
        memset(spliced + n, 'x', vlen);
        n += vlen;
        spliced[n++] = 0;
        spliced[n++] = 0;
        cr_assert_eq(hl_record_decode(spliced, n, &back), vlen == 31 ? HL_OK : HL_EINVAL);
        if (back != NULL)
            cr_assert_eq(strlen(back->taxonomy_version), 31);
        hl_record_free(back);
        back = NULL;
    }
    free(buf);
    hl_record_free(r);

    /* a category source and a term field out of range, in the full record */
    r = full_record();
    encode_ok(r, &buf, &len);
    {
        size_t at = find(buf, len, "violence.online_sexual_abuse_exploitation");
        at += strlen("violence.online_sexual_abuse_exploitation");
        buf[at] = 3;
        cr_assert_eq(hl_record_decode(buf, len, &back), HL_EINVAL);
        buf[at] = HL_CATEGORY_MAPPED;
        at = find(buf, len, "child_pornography") + strlen("child_pornography");
        buf[at] = 2;
        cr_assert_eq(hl_record_decode(buf, len, &back), HL_EINVAL);
        buf[at] = HL_TERM_IN_TRANSCRIPT;
        cr_assert_eq(hl_record_decode(buf, len, &back), HL_OK);
        hl_record_free(back);
    }
    free(buf);
    hl_record_free(r);
}

Test(record, encode_refuses_malformed)
{
    hl_record_t *r = min_record();
    uint8_t *buf = NULL;
    size_t len = 0;

    r->channel = HL_CONTACT_N_CHANNELS;
    cr_assert_eq(hl_record_encode(r, &buf, &len), HL_EINVAL);
    r->channel = HL_CONTACT_CHANNEL_CHAT;
    r->n_categories = HL_RECORD_MAX_CATEGORIES + 1;
    cr_assert_eq(hl_record_encode(r, &buf, &len), HL_EINVAL);
    r->n_categories = 0;
    r->child_age = -2;
    cr_assert_eq(hl_record_encode(r, &buf, &len), HL_EINVAL);
    r->child_age = -1;
    r->started_at = INT64_MIN;
    cr_assert_eq(hl_record_encode(r, &buf, &len), HL_EINVAL);
    r->started_at = 0;
    memset(r->taxonomy_version, 'x', sizeof(r->taxonomy_version)); /* no NUL */
    cr_assert_eq(hl_record_encode(r, &buf, &len), HL_EINVAL);
    strcpy(r->taxonomy_version, "v");
    free(r->source_id);
    r->source_id = NULL;
    cr_assert_eq(hl_record_encode(r, &buf, &len), HL_EINVAL);
    cr_assert_null(buf);
    hl_record_free(r);
}
