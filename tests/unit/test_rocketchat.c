/* server/rocketchat: LivechatSession payloads mapped to api.md contacts. */
#include <criterion/criterion.h>
#include <string.h>

#include "contact.h"
#include "contacts/rocketchat.h"

static json_t *load(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    cr_assert_not_null(j, "%s", text);
    return j;
}

static const char *get(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);

    if (b != NULL)
        v = json_object_get(v, b);
    return json_string_value(v);
}

Test(rocketchat, kinds)
{
    static const struct {
        const char *json;
        int rc;
        hl_rocketchat_kind_t kind;
    } cases[] = {
        {"{\"type\":\"LivechatSession\",\"_id\":\"r1\"}", HL_OK, HL_ROCKETCHAT_SESSION},
        {"{\"type\":\"Message\",\"_id\":\"r1\"}", HL_OK, HL_ROCKETCHAT_IGNORED},
        {"{\"type\":\"LivechatSessionQueued\"}", HL_OK, HL_ROCKETCHAT_IGNORED},
        {"{\"type\":\"LivechatSession\",\"_id\":\"" HL_ROCKETCHAT_TEST_ROOM "\"}", HL_OK,
         HL_ROCKETCHAT_IGNORED},
        {"{\"_id\":\"r1\"}", HL_EINVAL, 0},
        {"[1]", HL_EINVAL, 0},
    };
    hl_rocketchat_error_t err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = load(cases[i].json);
        hl_rocketchat_kind_t k = HL_ROCKETCHAT_SESSION;
        int rc = hl_rocketchat_kind(j, &k, &err);
        cr_expect_eq(rc, cases[i].rc, "%s", cases[i].json);
        if (rc == HL_OK)
            cr_expect_eq(k, cases[i].kind, "%s", cases[i].json);
        json_decref(j);
    }
}

Test(rocketchat, map_session)
{
    json_t *p =
        load("{\"type\":\"LivechatSession\",\"_id\":\"room1\",\"createdAt\":\"2026-11-22T18:00:00.000Z\","
             "\"lastMessageAt\":\"2026-11-22T18:10:00.000Z\",\"closedAt\":\"2026-11-22T18:12:00.000Z\","
             "\"visitor\":{\"_id\":\"v1\",\"username\":\"guest-1\",\"name\":\"Kid\","
             "\"phone\":[{\"phoneNumber\":\"not a number\"},{\"phoneNumber\":\"+254 700 000 001\"}]},"
             "\"servedBy\":{\"_id\":\"a1\",\"username\":\"amina\"},"
             "\"messages\":[{\"u\":{\"_id\":\"v1\"},\"msg\":\"hi\"},"
             "{\"u\":{\"_id\":\"a1\"},\"msg\":\"hello\"},"
             "{\"username\":\"guest-1\",\"msg\":\"bye\"},"
             "{\"username\":\"someone\",\"agentId\":\"a2\",\"msg\":\"take care\"},"
             "{\"u\":{\"_id\":\"a1\"},\"t\":\"livechat-close\",\"msg\":\"closed\"},"
             "{\"u\":{\"_id\":\"a3\"},\"msg\":\"transferred agent\"},"
             "{\"u\":{\"_id\":\"v1\"},\"file\":{}}]}");
    hl_rocketchat_mapped_t m;
    hl_rocketchat_error_t err;
    hl_contact_t *c = NULL;
    hl_contact_error_t cerr;
    char *text;

    cr_assert_eq(hl_rocketchat_map(p, &m, &err), HL_OK);
    cr_expect_str_eq(get(m.contact, "source", "system"), "rocketchat");
    cr_expect_str_eq(get(m.contact, "source", "id"), "room1");
    cr_expect_str_eq(get(m.contact, "channel", NULL), "chat");
    cr_expect_str_eq(get(m.contact, "contact_type", NULL), "counselling");
    cr_expect_str_eq(get(m.contact, "started_at", NULL), "2026-11-22T18:00:00Z");
    cr_expect_str_eq(get(m.contact, "ended_at", NULL), "2026-11-22T18:12:00Z", "closedAt wins");
    cr_expect_str_eq(get(m.contact, "counsellor", NULL), "amina");
    cr_expect_str_eq(get(m.contact, "caller", "phone"), "+254 700 000 001");
    cr_expect_str_eq(get(m.contact, "caller", "name"), "Kid");
    cr_expect_str_eq(get(m.contact, "transcript", NULL),
                     "visitor: hi\nagent: hello\nvisitor: bye\nagent: take care\nagent: transferred agent\n");
    cr_expect_eq(m.n_messages, 5);
    cr_expect(!m.truncated);
    /* The mapped contact passes the POST /v1/contacts codec. */
    text = json_dumps(m.contact, 0);
    cr_expect_eq(hl_contact_parse(text, strlen(text), &c, &cerr), HL_OK, "%s", cerr.message);
    free(text);
    hl_contact_free(c);
    hl_contact_json_free(m.contact);
    json_decref(p);
}

Test(rocketchat, unusable_fields_left_out_or_refused)
{
    json_t *p = load("{\"type\":\"LivechatSession\",\"_id\":\"room2\",\"createdAt\":\"2026-11-22T18:00:00Z\","
                     "\"lastMessageAt\":\"2026-11-22T17:00:00Z\",\"visitor\":{\"phone\":\"12\"},"
                     "\"agent\":{\"username\":\"amina@example\"},\"messages\":[]}");
    hl_rocketchat_mapped_t m;
    hl_rocketchat_error_t err;

    cr_assert_eq(hl_rocketchat_map(p, &m, &err), HL_OK);
    cr_expect_null(json_object_get(m.contact, "ended_at"), "an end before the start is left out");
    cr_expect_null(json_object_get(m.contact, "counsellor"));
    cr_expect_null(json_object_get(m.contact, "caller"));
    cr_expect_null(json_object_get(m.contact, "transcript"));
    hl_contact_json_free(m.contact);
    json_decref(p);

    p = load("{\"type\":\"LivechatSession\",\"_id\":\"room3\",\"createdAt\":\"yesterday\"}");
    cr_expect_eq(hl_rocketchat_map(p, &m, &err), HL_EINVAL);
    cr_expect_str_eq(err.field, "/createdAt");
    json_decref(p);
    p = load("{\"type\":\"LivechatSession\",\"_id\":\"\",\"createdAt\":\"2026-11-22T18:00:00Z\"}");
    cr_expect_eq(hl_rocketchat_map(p, &m, &err), HL_EINVAL);
    cr_expect_str_eq(err.field, "/_id");
    json_decref(p);
}

Test(rocketchat, transcript_cut_at_the_limit_on_a_character_boundary)
{
    size_t big = 700000;
    char *msg = malloc(big + 1);
    json_t *p = load("{\"type\":\"LivechatSession\",\"_id\":\"room4\",\"createdAt\":\"2026-11-22T18:00:00Z\","
                     "\"visitor\":{\"_id\":\"v\"},\"messages\":[]}");
    json_t *msgs = json_object_get(p, "messages");
    hl_rocketchat_mapped_t m;
    hl_rocketchat_error_t err;
    const char *t;
    size_t len;

    /* "é" is two bytes: the cut must not split one. */
    for (size_t i = 0; i + 1 < big; i += 2)
        memcpy(msg + i, "\xc3\xa9", 2);
    msg[big] = '\0';
    for (int i = 0; i < 3; i++)
        json_array_append_new(msgs, json_pack("{s:{s:s}, s:s}", "u", "_id", "v", "msg", msg));
    cr_assert_eq(hl_rocketchat_map(p, &m, &err), HL_OK);
    cr_expect(m.truncated);
    t = json_string_value(json_object_get(m.contact, "transcript"));
    cr_assert_not_null(t, "jansson accepted the cut text as UTF-8");
    len = strlen(t);
    cr_expect_leq(len, HL_CONTACT_TRANSCRIPT_MAX);
    cr_expect_gt(len, HL_CONTACT_TRANSCRIPT_MAX - 200);
    cr_expect(strstr(t, "[transcript cut at the 1 MiB limit") != NULL);
    hl_contact_json_free(m.contact);
    json_decref(p);
    free(msg);
}

/* Found by tests/fuzz/fuzz_rocketchat.c: a room id or visitor name with a control character was
 * mapped, then refused by the contact codec (400; Rocket.Chat drops the chat after ten retries). */
Test(rocketchat, control_characters_refused_in_the_id_left_out_of_the_name)
{
    static const char *const bad_ids[] = {"room\\nforged ERROR line", "room\\u007f", "\\t"};
    hl_rocketchat_mapped_t m;
    hl_rocketchat_error_t err;
    hl_contact_t *c = NULL;
    hl_contact_error_t cerr;
    char json[256], *text;
    json_t *p;

    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        snprintf(json, sizeof(json),
                 "{\"type\":\"LivechatSession\",\"_id\":\"%s\",\"createdAt\":\"2026-11-22T18:00:00Z\"}",
                 bad_ids[i]);
        p = load(json);
        cr_expect_eq(hl_rocketchat_map(p, &m, &err), HL_EINVAL, "%s", json);
        cr_expect_str_eq(err.field, "/_id");
        json_decref(p);
    }
    p = load("{\"type\":\"LivechatSession\",\"_id\":\"room5\",\"createdAt\":\"2026-11-22T18:00:00Z\","
             "\"visitor\":{\"name\":\"Kid\\u0007\\nx\",\"phone\":\"+254 700 000 001\"}}");
    cr_assert_eq(hl_rocketchat_map(p, &m, &err), HL_OK);
    cr_expect_null(json_object_get(json_object_get(m.contact, "caller"), "name"));
    cr_expect_str_eq(get(m.contact, "caller", "phone"), "+254 700 000 001");
    text = json_dumps(m.contact, JSON_COMPACT);
    cr_assert_not_null(text);
    cr_expect_eq(hl_contact_parse(text, strlen(text), &c, &cerr), HL_OK,
                 "the codec takes the mapped contact");
    hl_contact_free(c);
    free(text);
    hl_contact_json_free(m.contact);
    json_decref(p);
}
