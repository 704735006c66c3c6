#include "contacts/rocketchat.h"

#include <sodium.h> /* sodium_memzero only */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contact.h"
#include "crypto.h"

#define TRUNCATION_MARK                                                                                      \
    "\n[transcript cut at the 1 MiB limit by helplined; the whole chat stays in Rocket.Chat]\n"

static int fail(hl_rocketchat_error_t *err, const char *code, const char *field, const char *message)
{
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->message, sizeof(err->message), "%s", message);
    return HL_EINVAL;
}

/* The string member NAME of OBJ, NULL when absent, not a string or empty. */
static const char *str(const json_t *obj, const char *name)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    return s != NULL && s[0] != '\0' ? s : NULL;
}

int hl_rocketchat_kind(const json_t *payload, hl_rocketchat_kind_t *kind, hl_rocketchat_error_t *err)
{
    const char *type, *id;

    if (!json_is_object(payload))
        return fail(err, "invalid_field", "", "the body must be a JSON object");
    type = str(payload, "type");
    if (type == NULL)
        return fail(err, "missing_field", "/type", "type is required (a Rocket.Chat webhook event type)");
    id = str(payload, "_id");
    *kind = strcmp(type, "LivechatSession") == 0 && (id == NULL || strcmp(id, HL_ROCKETCHAT_TEST_ROOM) != 0)
                ? HL_ROCKETCHAT_SESSION
                : HL_ROCKETCHAT_IGNORED;
    return HL_OK;
}

/* Whether S holds a control character, which the contact codec refuses in one-line fields
 * (source.id, names). */
static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Timestamp member NAME as microseconds; false when absent or not RFC 3339. */
static bool timestamp(const json_t *obj, const char *name, int64_t *us)
{
    const char *s = str(obj, name);

    return s != NULL && hl_contact_time_parse(s, strlen(s), us);
}

/* Whether S fits the contact codec's counsellor rule: 1..64 of [A-Za-z0-9._-]. */
static bool counsellor_ok(const char *s)
{
    size_t n = strnlen(s, HL_CONTACT_COUNSELLOR_MAX + 1);

    if (n < 1 || n > HL_CONTACT_COUNSELLOR_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Whether S is a phone number the codec and the blind index take. */
static bool phone_ok(const char *s)
{
    char digits[HL_CRYPTO_PHONE_DIGITS_MAX + 1];
    size_t n = strnlen(s, HL_CONTACT_PHONE_MAX + 1);

    if (n < HL_CONTACT_PHONE_MIN || n > HL_CONTACT_PHONE_MAX || strspn(s, "0123456789 +-().") != n)
        return false;
    return hl_crypto_phone_normalise(s, NULL, digits, sizeof(digits)) == HL_OK;
}

/* The first usable number of visitor.phone: [{"phoneNumber": ...}], or a plain string. */
static const char *visitor_phone(const json_t *visitor)
{
    const json_t *phone = json_is_object(visitor) ? json_object_get(visitor, "phone") : NULL;
    size_t i;
    const json_t *v;

    if (json_is_string(phone))
        return phone_ok(json_string_value(phone)) ? json_string_value(phone) : NULL;
    json_array_foreach(phone, i, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v) : str(v, "phoneNumber");
        if (s != NULL && phone_ok(s))
            return s;
    }
    return NULL;
}

/* At most MAX code points of S (a new string), NULL on ENOMEM. */
static char *utf8_prefix(const char *s, size_t max)
{
    size_t i = 0, cps = 0;

    while (s[i] != '\0' && cps < max) {
        i++;
        while ((s[i] & 0xC0) == 0x80)
            i++;
        cps++;
    }
    return strndup(s, i);
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool full;
} text_t;

static void text_free(text_t *t)
{
    if (t->buf != NULL) {
        sodium_memzero(t->buf, t->cap);
        free(t->buf);
    }
    memset(t, 0, sizeof(*t));
}

/* Appends N bytes of S; grows by copying and wiping (the text is a chat). */
static int text_add(text_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap == 0 ? 4096 : t->cap;
        char *nb;
        while (cap < t->len + n + 1)
            cap *= 2;
        if ((nb = malloc(cap)) == NULL)
            return HL_ENOMEM;
        if (t->buf != NULL) {
            memcpy(nb, t->buf, t->len);
            sodium_memzero(t->buf, t->cap);
            free(t->buf);
        }
        t->buf = nb;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return HL_OK;
}

/* One "who: text\n" line; past the limit, the part that fits, cut at a character boundary,
 * and the truncation mark. */
static int text_line(text_t *t, const char *who, const char *msg)
{
    const size_t limit = HL_CONTACT_TRANSCRIPT_MAX - (sizeof(TRUNCATION_MARK) - 1);
    size_t wl = strlen(who), ml = strlen(msg), room;
    int rc;

    if (t->full)
        return HL_OK;
    if (t->len + wl + 2 + ml + 1 <= limit) {
        if ((rc = text_add(t, who, wl)) != HL_OK || (rc = text_add(t, ": ", 2)) != HL_OK ||
            (rc = text_add(t, msg, ml)) != HL_OK)
            return rc;
        return text_add(t, "\n", 1);
    }
    t->full = true;
    room = limit - t->len;
    if (room > wl + 2) {
        size_t cut = room - wl - 2;
        while (cut > 0 && (msg[cut] & 0xC0) == 0x80)
            cut--;
        if ((rc = text_add(t, who, wl)) != HL_OK || (rc = text_add(t, ": ", 2)) != HL_OK ||
            (rc = text_add(t, msg, cut)) != HL_OK)
            return rc;
    }
    return text_add(t, TRUNCATION_MARK, sizeof(TRUNCATION_MARK) - 1);
}

/* Does message M come from the agent side? Rocket.Chat marks non-visitor messages with
 * agentId; older or other shapes carry u{_id,username} or username. */
static bool from_agent(const json_t *m, const json_t *visitor, const json_t *agent, const json_t *served)
{
    const json_t *u = json_object_get(m, "u");
    const char *sid = str(u, "_id"), *suser = str(u, "username");

    if (str(m, "agentId") != NULL)
        return true;
    if (suser == NULL)
        suser = str(m, "username");
    if ((sid != NULL && str(visitor, "_id") != NULL && strcmp(sid, str(visitor, "_id")) == 0) ||
        (suser != NULL && str(visitor, "username") != NULL && strcmp(suser, str(visitor, "username")) == 0))
        return false;
    if ((sid != NULL && ((str(agent, "_id") != NULL && strcmp(sid, str(agent, "_id")) == 0) ||
                         (str(served, "_id") != NULL && strcmp(sid, str(served, "_id")) == 0))) ||
        (suser != NULL && ((str(agent, "username") != NULL && strcmp(suser, str(agent, "username")) == 0) ||
                           (str(served, "username") != NULL && strcmp(suser, str(served, "username")) == 0))))
        return true;
    /* A known sender who is not the visitor is staff (another agent after a transfer). */
    return (sid != NULL || suser != NULL) &&
           (str(visitor, "_id") != NULL || str(visitor, "username") != NULL);
}

static int transcript(const json_t *payload, text_t *t, size_t *n_messages)
{
    const json_t *visitor = json_object_get(payload, "visitor"), *agent = json_object_get(payload, "agent");
    const json_t *served = json_object_get(payload, "servedBy");
    const json_t *messages = json_object_get(payload, "messages"), *m;
    size_t i;
    int rc;

    json_array_foreach(messages, i, m)
    {
        const char *msg = str(m, "msg");
        /* System messages (t: "livechat-close", "uj", ...) and attachments without text. */
        if (msg == NULL || json_object_get(m, "t") != NULL)
            continue;
        if ((rc = text_line(t, from_agent(m, visitor, agent, served) ? "agent" : "visitor", msg)) != HL_OK)
            return rc;
        (*n_messages)++;
    }
    return HL_OK;
}

int hl_rocketchat_map(const json_t *payload, hl_rocketchat_mapped_t *out, hl_rocketchat_error_t *err)
{
    const json_t *visitor = json_object_get(payload, "visitor");
    const char *id = str(payload, "_id"), *counsellor, *phone, *vname;
    char started[HL_CONTACT_TIME_LEN], ended[HL_CONTACT_TIME_LEN];
    int64_t start_us, end_us;
    bool has_end;
    json_t *c = NULL, *caller = NULL;
    char *name = NULL;
    text_t t = {0};
    int rc = HL_ENOMEM;

    memset(out, 0, sizeof(*out));
    if (id == NULL)
        return fail(err, "missing_field", "/_id", "_id (the room id) is required");
    if (strlen(id) > HL_CONTACT_SOURCE_ID_MAX || has_control(id))
        return fail(err, "invalid_field", "/_id",
                    "_id must be at most 128 characters, none a control character");
    if (!timestamp(payload, "createdAt", &start_us) || !hl_contact_time_format(start_us, started))
        return fail(err, json_object_get(payload, "createdAt") == NULL ? "missing_field" : "invalid_field",
                    "/createdAt", "createdAt must be an RFC 3339 timestamp");
    has_end = timestamp(payload, "closedAt", &end_us) || timestamp(payload, "lastMessageAt", &end_us);
    has_end = has_end && end_us >= start_us && hl_contact_time_format(end_us, ended);

    c = json_pack("{s:{s:s, s:s}, s:s, s:s, s:s}", "source", "system", HL_ROCKETCHAT_SYSTEM, "id", id,
                  "channel", "chat", "contact_type", "counselling", "started_at", started);
    if (c == NULL)
        goto out;
    if (has_end && json_object_set_new(c, "ended_at", json_string(ended)) != 0)
        goto out;
    counsellor = str(json_object_get(payload, "agent"), "username");
    if (counsellor == NULL)
        counsellor = str(json_object_get(payload, "servedBy"), "username");
    if (counsellor != NULL && counsellor_ok(counsellor) &&
        json_object_set_new(c, "counsellor", json_string(counsellor)) != 0)
        goto out;

    phone = visitor_phone(visitor);
    vname = str(visitor, "name");
    if (vname != NULL && has_control(vname))
        vname = NULL; /* the codec would refuse the contact */
    if (phone != NULL || vname != NULL) {
        if ((caller = json_object()) == NULL || json_object_set_new(c, "caller", caller) != 0)
            goto out;
        if (phone != NULL && json_object_set_new(caller, "phone", json_string(phone)) != 0)
            goto out;
        if (vname != NULL && ((name = utf8_prefix(vname, HL_CONTACT_NAME_MAX)) == NULL ||
                              json_object_set_new(caller, "name", json_string(name)) != 0))
            goto out;
    }
    if ((rc = transcript(payload, &t, &out->n_messages)) != HL_OK)
        goto out;
    rc = HL_ENOMEM;
    if (t.len > 0 && json_object_set_new(c, "transcript", json_stringn(t.buf, t.len)) != 0)
        goto out;
    out->truncated = t.full;
    out->contact = c;
    c = NULL;
    rc = HL_OK;
out:
    if (name != NULL) {
        sodium_memzero(name, strlen(name));
        free(name);
    }
    text_free(&t);
    hl_contact_json_free(c);
    return rc;
}
