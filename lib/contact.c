/* The contact record and its strict JSON codec. See contact.h and docs/contact-format.md. */
#include "contact.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium/utils.h>

/* ------------------------------------------------------------------------------------ */
/* Vocabularies                                                                          */

static const char *const channel_names[HL_CONTACT_N_CHANNELS] = {
    "phone", "sms", "chat", "messaging_app", "social_media", "email", "walk_in", "letter", "other"};

static const char *const type_names[HL_CONTACT_N_TYPES] = {
    "counselling", "information", "referral",     "silent",    "hang_up", "missed",
    "abusive",     "prank",       "wrong_number", "thank_you", "other"};

static const char *const gender_names[HL_CONTACT_N_GENDERS] = {"girl", "boy", "non_binary", "unknown"};

static const char *const region_names[HL_CONTACT_N_REGIONS] = {"urban", "town", "rural", "unknown"};

static const char *const relationship_names[HL_CONTACT_N_RELATIONSHIPS] = {
    "self",    "parent",       "caregiver", "relative", "sibling", "friend", "partner",
    "teacher", "professional", "neighbour", "stranger", "other",   "unknown"};

static const char *const action_names[HL_CONTACT_N_ACTIONS] = {"direct_intervention",
                                                               "resources_recommended",
                                                               "referral.child_protection",
                                                               "referral.healthcare",
                                                               "referral.law_enforcement",
                                                               "referral.mental_health",
                                                               "referral.other_organisation",
                                                               "referral.school_counsellor",
                                                               "report.csam",
                                                               "other"};

static const char *const urgency_names[HL_CONTACT_N_URGENCIES] = {"non_critical", "urgent", "critical"};

static const char *const age_band_names[HL_CONTACT_N_AGE_BANDS] = {"0-6",   "7-9",   "10-12",  "13-15",
                                                                   "16-17", "18-25", "unknown"};

typedef struct {
    const char *const *names;
    size_t n;
} vocab_t;

#define VOCAB(a) ((vocab_t){(a), HL_ARRAY_LEN(a)})

static const char *vocab_name(vocab_t v, int i)
{
    if (i < 0 || (size_t)i >= v.n)
        return NULL;
    return v.names[i];
}

/* S is LEN bytes (may hold a NUL: then it matches nothing). */
static bool vocab_find(vocab_t v, const char *s, size_t len, int *out)
{
    for (size_t i = 0; i < v.n; i++) {
        if (strlen(v.names[i]) == len && memcmp(v.names[i], s, len) == 0) {
            *out = (int)i;
            return true;
        }
    }
    return false;
}

static bool vocab_parse(vocab_t v, const char *s, int *out)
{
    if (s == NULL)
        return false;
    return vocab_find(v, s, strlen(s), out);
}

#define VOCAB_FUNCS(fname, type, array)                                                                      \
    const char *hl_contact_##fname##_name(type v)                                                            \
    {                                                                                                        \
        return vocab_name(VOCAB(array), (int)v);                                                             \
    }                                                                                                        \
    bool hl_contact_##fname##_parse(const char *s, type *out)                                                \
    {                                                                                                        \
        int i;                                                                                               \
        if (!vocab_parse(VOCAB(array), s, &i))                                                               \
            return false;                                                                                    \
        *out = (type)i;                                                                                      \
        return true;                                                                                         \
    }

VOCAB_FUNCS(channel, hl_channel_t, channel_names)
VOCAB_FUNCS(type, hl_contact_type_t, type_names)
VOCAB_FUNCS(gender, hl_gender_t, gender_names)
VOCAB_FUNCS(region, hl_region_t, region_names)
VOCAB_FUNCS(relationship, hl_relationship_t, relationship_names)
VOCAB_FUNCS(action, hl_action_t, action_names)
VOCAB_FUNCS(urgency, hl_urgency_t, urgency_names)
VOCAB_FUNCS(age_band, hl_age_band_t, age_band_names)

bool hl_contact_type_is_counselling(hl_contact_type_t t)
{
    return t == HL_CONTACT_TYPE_COUNSELLING || t == HL_CONTACT_TYPE_INFORMATION ||
           t == HL_CONTACT_TYPE_REFERRAL;
}

hl_age_band_t hl_contact_age_band(int age)
{
    if (age < 0 || age > HL_CONTACT_AGE_MAX)
        return HL_CONTACT_AGE_UNKNOWN;
    if (age <= 6)
        return HL_CONTACT_AGE_0_6;
    if (age <= 9)
        return HL_CONTACT_AGE_7_9;
    if (age <= 12)
        return HL_CONTACT_AGE_10_12;
    if (age <= 15)
        return HL_CONTACT_AGE_13_15;
    if (age <= 17)
        return HL_CONTACT_AGE_16_17;
    return HL_CONTACT_AGE_18_25;
}

hl_age_band_t hl_contact_child_age_band(const hl_contact_t *c)
{
    if (c == NULL || c->has_child != HL_CONTACT_SET || c->child.has_age != HL_CONTACT_SET)
        return HL_CONTACT_AGE_UNKNOWN;
    return hl_contact_age_band(c->child.age);
}

/* ------------------------------------------------------------------------------------ */
/* Timestamps                                                                            */

#define US_PER_SEC  INT64_C(1000000)
#define TIME_MIN_US (INT64_C(-62135596800) * US_PER_SEC)                   /* 0001-01-01T00:00:00Z */
#define TIME_MAX_US (INT64_C(253402300799) * US_PER_SEC + INT64_C(999999)) /* 9999-12-31T23:59:59.999999Z */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* N ASCII digits at S, or -1. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool hl_contact_time_parse(const char *s, size_t len, int64_t *out_us)
{
    int y, mo, d, h, mi, se, off_min = 0;
    int64_t frac_us = 0, us;
    size_t i = 19;

    /* YYYY-MM-DDTHH:MM:SS is 19 bytes; the shortest valid form adds "Z". */
    if (s == NULL || len < 20)
        return false;
    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    se = digits(s + 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return false;
    if (s[i] == '.') {
        size_t start = ++i, nd;
        while (i < len && is_digit(s[i])) {
            if (i - start < 6)
                frac_us = frac_us * 10 + (s[i] - '0');
            i++;
        }
        nd = i - start;
        if (nd == 0 || nd > 9)
            return false;
        for (; nd < 6; nd++)
            frac_us *= 10;
    }
    if (i >= len)
        return false;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (len - i < 6 || s[i + 3] != ':')
            return false;
        oh = digits(s + i + 1, 2);
        om = digits(s + i + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59)
            return false;
        off_min = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
        i += 6;
    } else {
        return false;
    }
    if (i != len)
        return false;
    /* Leap seconds (:60) are rejected: nothing downstream can represent them. */
    if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(y, (unsigned)mo) || h > 23 || mi > 59 ||
        se > 59)
        return false;
    us = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - off_min * 60;
    us = us * US_PER_SEC + frac_us;
    if (us < TIME_MIN_US || us > TIME_MAX_US)
        return false;
    *out_us = us;
    return true;
}

bool hl_contact_time_format(int64_t us, char buf[HL_CONTACT_TIME_LEN])
{
    int64_t secs, frac, days, sod, y;
    unsigned m, d;

    if (us < TIME_MIN_US || us > TIME_MAX_US)
        return false;
    secs = us / US_PER_SEC;
    frac = us % US_PER_SEC;
    if (frac < 0) {
        frac += US_PER_SEC;
        secs--;
    }
    days = secs / 86400;
    sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    /* The ranges are known; the modulos tell the compiler so. */
    unsigned yy = (unsigned)y % 10000u, hh = (unsigned)(sod / 3600) % 24u, mi = (unsigned)(sod / 60 % 60),
             ss = (unsigned)(sod % 60), ff = (unsigned)frac % 1000000u;
    if (ff != 0)
        snprintf(buf, HL_CONTACT_TIME_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ", yy, m % 100u, d % 100u, hh,
                 mi % 60u, ss % 60u, ff);
    else
        snprintf(buf, HL_CONTACT_TIME_LEN, "%04u-%02u-%02uT%02u:%02u:%02uZ", yy, m % 100u, d % 100u, hh,
                 mi % 60u, ss % 60u);
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* Memory                                                                                */

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}

int hl_contact_new(hl_contact_t **out)
{
    hl_contact_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return HL_ENOMEM;
    *out = c;
    return 0;
}

void hl_contact_free(hl_contact_t *c)
{
    if (c == NULL)
        return;
    wipe_free(c->source.system);
    wipe_free(c->source.id);
    wipe_free(c->counsellor);
    wipe_free(c->child.name);
    wipe_free(c->caller.phone);
    wipe_free(c->caller.name);
    for (size_t i = 0; i < HL_CONTACT_MAX_CATEGORIES; i++)
        wipe_free(c->categories[i]);
    for (size_t i = 0; i < HL_CONTACT_MAX_LOCAL_CATEGORIES; i++)
        wipe_free(c->local_categories[i]);
    wipe_free(c->summary);
    wipe_free(c->transcript);
    sodium_memzero(c, sizeof(*c));
    free(c);
}

/* Deeper than any tree jansson parses (JSON_PARSER_MAX_DEPTH) or this module builds. */
#define WIPE_MAX_DEPTH 4096

static void json_wipe_depth(json_t *j, int depth)
{
    if (j == NULL || depth > WIPE_MAX_DEPTH)
        return;
    if (json_is_string(j)) {
        size_t len = json_string_length(j);
        /* jansson only hands out const pointers; the buffer is its own malloc'd copy. */
        void *p = (void *)(uintptr_t)json_string_value(j);
        if (p != NULL && len > 0)
            sodium_memzero(p, len);
    } else if (json_is_object(j)) {
        for (void *it = json_object_iter(j); it != NULL; it = json_object_iter_next(j, it))
            json_wipe_depth(json_object_iter_value(it), depth + 1);
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            json_wipe_depth(json_array_get(j, i), depth + 1);
    }
}

void hl_contact_json_wipe(json_t *j)
{
    json_wipe_depth(j, 0);
}

void hl_contact_json_free(json_t *j)
{
    if (j == NULL)
        return;
    hl_contact_json_wipe(j);
    json_decref(j);
}

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                                */

#define E_BAD_JSON HL_CONTACT_ERR_BAD_JSON
#define E_UNKNOWN  HL_CONTACT_ERR_UNKNOWN_FIELD
#define E_INVALID  HL_CONTACT_ERR_INVALID_FIELD
#define E_MISSING  HL_CONTACT_ERR_MISSING_FIELD

/* Fills E (PTR NULL: no field applies) and returns HL_EINVAL. */
static int fail(hl_contact_error_t *e, const char *code, const char *ptr, const char *fmt, ...)
    HL_PRINTF(4, 5);

static int fail(hl_contact_error_t *e, const char *code, const char *ptr, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    e->has_field = ptr != NULL;
    e->field[0] = '\0';
    if (ptr != NULL)
        snprintf(e->field, sizeof(e->field), "%s", ptr);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return HL_EINVAL;
}

/* Byte length of the UTF-8 sequence starting with B (1 for stray bytes). */
static size_t utf8_seq_len(unsigned char b)
{
    if (b >= 0xf0)
        return 4;
    if (b >= 0xe0)
        return 3;
    if (b >= 0xc0)
        return 2;
    return 1;
}

/*
 * DST (capacity CAP, holding a pointer) += "/" + KEY escaped per RFC 6901. KEY stops at
 * KEY_LEN or a NUL; it is cut at a character boundary when DST would overflow.
 */
static void ptr_append_key(char *dst, size_t cap, const char *key, size_t key_len)
{
    size_t n = strlen(dst), i = 0;

    if (n + 2 > cap)
        return;
    dst[n++] = '/';
    while (i < key_len && key[i] != '\0') {
        unsigned char b = (unsigned char)key[i];
        size_t cl = utf8_seq_len(b), rl = cl;
        const char *src = key + i;
        if (cl > key_len - i)
            cl = rl = key_len - i;
        if (b == '~') {
            src = "~0";
            rl = 2;
        } else if (b == '/') {
            src = "~1";
            rl = 2;
        }
        if (n + rl + 1 > cap)
            break;
        memcpy(dst + n, src, rl);
        n += rl;
        i += cl;
    }
    dst[n] = '\0';
}

/* ------------------------------------------------------------------------------------ */
/* Field validation                                                                      */

enum {
    STR_BYTES = 1u << 0,    /* limits count bytes, not characters */
    STR_TEXT = 1u << 1,     /* \n \r \t allowed */
    STR_NULLABLE = 1u << 2, /* say "or null" in the type message */
};

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* Checks a JSON string value's type, content (no NUL, no control characters) and length. */
static int check_string(json_t *v, const char *ptr, const char *name, size_t min, size_t max, unsigned flags,
                        hl_contact_error_t *e)
{
    const char *s;
    size_t len, n;

    if (!json_is_string(v))
        return fail(e, E_INVALID, ptr, "%s must be a string%s", name,
                    (flags & STR_NULLABLE) ? " or null" : "");
    s = json_string_value(v);
    len = json_string_length(v);
    if (memchr(s, '\0', len) != NULL)
        return fail(e, E_INVALID, ptr, "%s must not contain NUL characters", name);
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        if ((b < 0x20 || b == 0x7f) && !((flags & STR_TEXT) && (b == '\n' || b == '\r' || b == '\t')))
            return fail(e, E_INVALID, ptr, "%s must not contain control characters%s", name,
                        (flags & STR_TEXT) ? " other than newline, carriage return and tab" : "");
    }
    n = (flags & STR_BYTES) ? len : utf8_chars(s, len);
    if (n < min || n > max) {
        if (min == 0)
            return fail(e, E_INVALID, ptr, "%s must be at most %zu %s", name, max,
                        (flags & STR_BYTES) ? "bytes" : "characters");
        return fail(e, E_INVALID, ptr, "%s must be %zu..%zu %s", name, min, max,
                    (flags & STR_BYTES) ? "bytes" : "characters");
    }
    return 0;
}

static int dup_string(json_t *v, char **out)
{
    size_t len = json_string_length(v);
    char *s = malloc(len + 1);

    if (s == NULL)
        return HL_ENOMEM;
    memcpy(s, json_string_value(v), len);
    s[len] = '\0';
    *out = s;
    return 0;
}

static int take_string(json_t *v, const char *ptr, const char *name, size_t min, size_t max, unsigned flags,
                       char **out, hl_contact_error_t *e)
{
    int rc = check_string(v, ptr, name, min, max, flags, e);
    if (rc == 0)
        rc = dup_string(v, out);
    return rc;
}

static int take_enum(json_t *v, const char *ptr, const char *name, vocab_t voc, int *out,
                     hl_contact_error_t *e)
{
    char list[HL_CONTACT_ERR_MESSAGE_LEN];
    size_t n = 0;

    if (json_is_string(v) && vocab_find(voc, json_string_value(v), json_string_length(v), out))
        return 0;
    list[0] = '\0';
    for (size_t i = 0; i < voc.n && n < sizeof(list); i++) {
        int w = snprintf(list + n, sizeof(list) - n, "%s%s", i ? " " : "", voc.names[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    return fail(e, E_INVALID, ptr, "%s must be one of: %s", name, list);
}

static bool is_code(const char *s, size_t len)
{
    size_t seg = 0;
    bool dot = false;

    if (len == 0 || len > HL_CONTACT_CODE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if ((ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_') {
            seg++;
        } else if (ch == '.' && !dot && seg > 0) {
            dot = true;
            seg = 0;
        } else {
            return false;
        }
    }
    return seg > 0;
}

static bool is_username(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '.' ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static bool is_phone(const char *s, size_t len)
{
    size_t nd = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (is_digit(ch))
            nd++;
        else if (!strchr(" +-().", ch))
            return false;
    }
    return nd >= 3;
}

/* Where V (the value of KEY in OBJ, or NULL) stands: absent, null or a value. */
static hl_contact_presence_t lookup(json_t *obj, const char *key, json_t **v)
{
    *v = json_object_get(obj, key);
    if (*v == NULL)
        return HL_CONTACT_ABSENT;
    if (json_is_null(*v))
        return HL_CONTACT_NULL;
    return HL_CONTACT_SET;
}

static bool in_list(const char *const *list, const char *key, size_t key_len, const char **match)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (strlen(list[i]) == key_len && memcmp(list[i], key, key_len) == 0) {
            if (match != NULL)
                *match = list[i];
            return true;
        }
    }
    return false;
}

/*
 * The first key of OBJ (document order) that is not in ALLOWED is an unknown_field; a key
 * in FROZEN gets a "cannot be changed" message. WHERE names the object in messages (NULL:
 * the body).
 */
static int check_keys(json_t *obj, const char *ptr, const char *where, const char *const *allowed,
                      const char *const *frozen, hl_contact_error_t *e)
{
    for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it), *known = NULL;
        size_t key_len = json_object_iter_key_len(it);
        char p[HL_CONTACT_ERR_FIELD_LEN];

        if (in_list(allowed, key, key_len, NULL))
            continue;
        snprintf(p, sizeof(p), "%s", ptr);
        ptr_append_key(p, sizeof(p), key, key_len);
        if (in_list(frozen, key, key_len, &known))
            return fail(e, E_UNKNOWN, p, "%s cannot be changed by PATCH", known);
        if (where != NULL)
            return fail(e, E_UNKNOWN, p, "unknown field in %s", where);
        return fail(e, E_UNKNOWN, p, "unknown field");
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Parsing                                                                               */

static const char *const post_keys[] = {
    "source",     "channel", "contact_type", "started_at", "ended_at",
    "counsellor", "child",   "caller",       "categories", "local_categories",
    "actions",    "urgency", "summary",      "transcript", NULL};

static const char *const patch_keys[] = {
    "categories",   "local_categories",  "child", "caller", "actions", "urgency", "summary",
    "contact_type", "confirm_suggested", NULL};

static const char *const patch_frozen[] = {"source",     "channel",    "started_at", "ended_at",
                                           "counsellor", "transcript", NULL};

static const char *const source_keys[] = {"system", "id", NULL};
static const char *const child_keys[] = {"age", "gender", "region", "name", NULL};
static const char *const caller_keys[] = {"relationship", "phone", "name", NULL};

static int parse_source(json_t *root, hl_contact_t *c, hl_contact_error_t *e)
{
    json_t *obj, *v;
    hl_contact_presence_t p = lookup(root, "source", &obj);
    int rc;

    if (p == HL_CONTACT_ABSENT)
        return fail(e, E_MISSING, "/source", "source is required");
    if (!json_is_object(obj))
        return fail(e, E_INVALID, "/source", "source must be an object with system and id");
    rc = check_keys(obj, "/source", "source", source_keys, NULL, e);
    if (rc != 0)
        return rc;
    if (lookup(obj, "system", &v) == HL_CONTACT_ABSENT)
        return fail(e, E_MISSING, "/source/system", "source.system is required");
    rc = take_string(v, "/source/system", "source.system", 1, HL_CONTACT_SOURCE_SYSTEM_MAX, 0,
                     &c->source.system, e);
    if (rc != 0)
        return rc;
    if (lookup(obj, "id", &v) == HL_CONTACT_ABSENT)
        return fail(e, E_MISSING, "/source/id", "source.id is required");
    rc = take_string(v, "/source/id", "source.id", 1, HL_CONTACT_SOURCE_ID_MAX, 0, &c->source.id, e);
    if (rc != 0)
        return rc;
    c->has_source = HL_CONTACT_SET;
    return 0;
}

/* A required (not nullable) enum at /KEY. */
static int parse_required_enum(json_t *root, const char *key, vocab_t voc, bool required,
                               hl_contact_presence_t *has, int *out, hl_contact_error_t *e)
{
    json_t *v;
    char ptr[64];

    snprintf(ptr, sizeof(ptr), "/%s", key);
    if (lookup(root, key, &v) == HL_CONTACT_ABSENT) {
        if (required)
            return fail(e, E_MISSING, ptr, "%s is required", key);
        return 0;
    }
    if (take_enum(v, ptr, key, voc, out, e) != 0)
        return HL_EINVAL;
    *has = HL_CONTACT_SET;
    return 0;
}

/* A nullable enum: KEY in OBJ, at PTR, named NAME in messages. */
static int parse_opt_enum(json_t *obj, const char *key, const char *ptr, const char *name, vocab_t voc,
                          hl_contact_presence_t *has, int *out, hl_contact_error_t *e)
{
    json_t *v;
    hl_contact_presence_t p = lookup(obj, key, &v);

    if (p == HL_CONTACT_SET && take_enum(v, ptr, name, voc, out, e) != 0)
        return HL_EINVAL;
    *has = p;
    return 0;
}

/* A nullable string. */
static int parse_opt_string(json_t *obj, const char *key, const char *ptr, const char *name, size_t min,
                            size_t max, unsigned flags, hl_contact_presence_t *has, char **out,
                            hl_contact_error_t *e)
{
    json_t *v;
    hl_contact_presence_t p = lookup(obj, key, &v);

    if (p == HL_CONTACT_SET) {
        int rc = take_string(v, ptr, name, min, max, flags | STR_NULLABLE, out, e);
        if (rc != 0)
            return rc;
    }
    *has = p;
    return 0;
}

static int parse_time(json_t *v, const char *ptr, const char *name, bool nullable, int64_t *out,
                      hl_contact_error_t *e)
{
    if (!json_is_string(v) || !hl_contact_time_parse(json_string_value(v), json_string_length(v), out))
        return fail(e, E_INVALID, ptr,
                    "%s must be an RFC 3339 timestamp with offset, e.g. 2026-11-22T10:00:00Z or "
                    "2026-11-22T12:00:00+02:00%s",
                    name, nullable ? ", or null" : "");
    return 0;
}

static int parse_times(json_t *root, hl_contact_t *c, hl_contact_error_t *e)
{
    json_t *v;
    hl_contact_presence_t p;

    if (lookup(root, "started_at", &v) == HL_CONTACT_ABSENT)
        return fail(e, E_MISSING, "/started_at", "started_at is required");
    if (parse_time(v, "/started_at", "started_at", false, &c->started_at, e) != 0)
        return HL_EINVAL;
    c->has_started_at = HL_CONTACT_SET;
    p = lookup(root, "ended_at", &v);
    if (p == HL_CONTACT_SET) {
        if (parse_time(v, "/ended_at", "ended_at", true, &c->ended_at, e) != 0)
            return HL_EINVAL;
        if (c->ended_at < c->started_at)
            return fail(e, E_INVALID, "/ended_at", "ended_at must not be before started_at");
    }
    c->has_ended_at = p;
    return 0;
}

static int parse_counsellor(json_t *root, hl_contact_t *c, hl_contact_error_t *e)
{
    json_t *v;
    hl_contact_presence_t p = lookup(root, "counsellor", &v);

    if (p == HL_CONTACT_SET) {
        int rc = check_string(v, "/counsellor", "counsellor", 1, HL_CONTACT_COUNSELLOR_MAX, STR_NULLABLE, e);
        if (rc != 0)
            return rc;
        if (!is_username(json_string_value(v), json_string_length(v)))
            return fail(e, E_INVALID, "/counsellor",
                        "counsellor must be a username: letters, digits, '.', '_' and '-'");
        rc = dup_string(v, &c->counsellor);
        if (rc != 0)
            return rc;
    }
    c->has_counsellor = p;
    return 0;
}

/* child or caller: absent, null or an object with only KEYS. */
static int open_object(json_t *root, const char *key, const char *const *keys, hl_contact_presence_t *has,
                       json_t **obj, hl_contact_error_t *e)
{
    char ptr[64];
    hl_contact_presence_t p = lookup(root, key, obj);

    snprintf(ptr, sizeof(ptr), "/%s", key);
    if (p == HL_CONTACT_SET) {
        int rc;
        if (!json_is_object(*obj))
            return fail(e, E_INVALID, ptr, "%s must be an object or null", key);
        rc = check_keys(*obj, ptr, key, keys, NULL, e);
        if (rc != 0)
            return rc;
    }
    *has = p;
    return 0;
}

static int parse_child(json_t *root, hl_contact_t *c, hl_contact_error_t *e)
{
    json_t *obj, *v;
    int rc = open_object(root, "child", child_keys, &c->has_child, &obj, e);
    int tmp;

    if (rc != 0 || c->has_child != HL_CONTACT_SET)
        return rc;
    c->child.has_age = lookup(obj, "age", &v);
    if (c->child.has_age == HL_CONTACT_SET) {
        json_int_t age = json_is_integer(v) ? json_integer_value(v) : -1;
        if (age < 0 || age > HL_CONTACT_AGE_MAX)
            return fail(e, E_INVALID, "/child/age", "child.age must be an integer 0..%d or null",
                        HL_CONTACT_AGE_MAX);
        c->child.age = (int)age;
    }
    tmp = 0;
    rc = parse_opt_enum(obj, "gender", "/child/gender", "child.gender", VOCAB(gender_names),
                        &c->child.has_gender, &tmp, e);
    if (rc != 0)
        return rc;
    c->child.gender = (hl_gender_t)tmp;
    tmp = 0;
    rc = parse_opt_enum(obj, "region", "/child/region", "child.region", VOCAB(region_names),
                        &c->child.has_region, &tmp, e);
    if (rc != 0)
        return rc;
    c->child.region = (hl_region_t)tmp;
    return parse_opt_string(obj, "name", "/child/name", "child.name", 1, HL_CONTACT_NAME_MAX, 0,
                            &c->child.has_name, &c->child.name, e);
}

static int parse_caller(json_t *root, hl_contact_t *c, hl_contact_error_t *e)
{
    json_t *obj, *v;
    int rc = open_object(root, "caller", caller_keys, &c->has_caller, &obj, e);
    int tmp = 0;
    hl_contact_presence_t p;

    if (rc != 0 || c->has_caller != HL_CONTACT_SET)
        return rc;
    rc = parse_opt_enum(obj, "relationship", "/caller/relationship", "caller.relationship",
                        VOCAB(relationship_names), &c->caller.has_relationship, &tmp, e);
    if (rc != 0)
        return rc;
    c->caller.relationship = (hl_relationship_t)tmp;
    p = lookup(obj, "phone", &v);
    if (p == HL_CONTACT_SET) {
        rc = check_string(v, "/caller/phone", "caller.phone", HL_CONTACT_PHONE_MIN, HL_CONTACT_PHONE_MAX,
                          STR_NULLABLE, e);
        if (rc != 0)
            return rc;
        if (!is_phone(json_string_value(v), json_string_length(v)))
            return fail(e, E_INVALID, "/caller/phone",
                        "caller.phone must hold at least 3 digits and only digits, spaces and + - ( ) .");
        rc = dup_string(v, &c->caller.phone);
        if (rc != 0)
            return rc;
    }
    c->caller.has_phone = p;
    return parse_opt_string(obj, "name", "/caller/name", "caller.name", 1, HL_CONTACT_NAME_MAX, 0,
                            &c->caller.has_name, &c->caller.name, e);
}

typedef enum { ARR_CODES, ARR_LABELS, ARR_ACTIONS } arr_kind_t;

/* categories, local_categories or actions: absent, null or an array of at most MAX items. */
static int parse_array(json_t *root, hl_contact_t *c, const char *key, arr_kind_t kind, size_t max,
                       hl_contact_error_t *e)
{
    json_t *arr;
    char ptr[64], name[64];
    hl_contact_presence_t p = lookup(root, key, &arr);
    int rc = 0;

    if (p != HL_CONTACT_SET)
        goto out;
    snprintf(ptr, sizeof(ptr), "/%s", key);
    if (!json_is_array(arr)) {
        rc = fail(e, E_INVALID, ptr, "%s must be an array or null", key);
        goto out;
    }
    if (json_array_size(arr) > max) {
        rc = fail(e, E_INVALID, ptr, "%s must have at most %zu items", key, max);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        const char *s;
        size_t len;
        snprintf(ptr, sizeof(ptr), "/%s/%zu", key, i);
        snprintf(name, sizeof(name), "%s[%zu]", key, i);
        if (kind == ARR_ACTIONS) {
            int a;
            rc = take_enum(v, ptr, name, VOCAB(action_names), &a, e);
            if (rc != 0)
                goto out;
            for (size_t j = 0; j < c->n_actions; j++) {
                if (c->actions[j] == (hl_action_t)a) {
                    rc = fail(e, E_INVALID, ptr, "%s repeats an earlier action", name);
                    goto out;
                }
            }
            c->actions[c->n_actions++] = (hl_action_t)a;
            continue;
        }
        if (kind == ARR_CODES) {
            rc = check_string(v, ptr, name, 1, HL_CONTACT_CODE_MAX, STR_BYTES, e);
            if (rc == 0 && !is_code(json_string_value(v), json_string_length(v)))
                rc = fail(e, E_INVALID, ptr,
                          "%s must be a category code: lowercase letters, digits and '_', with at most one "
                          "'.', e.g. violence.bullying",
                          name);
        } else {
            rc = check_string(v, ptr, name, 1, HL_CONTACT_LOCAL_CATEGORY_MAX, 0, e);
        }
        if (rc != 0)
            goto out;
        s = json_string_value(v);
        len = json_string_length(v);
        char **dst = kind == ARR_CODES ? c->categories : c->local_categories;
        size_t *n = kind == ARR_CODES ? &c->n_categories : &c->n_local_categories;
        for (size_t j = 0; j < *n; j++) {
            if (strlen(dst[j]) == len && memcmp(dst[j], s, len) == 0) {
                rc = fail(e, E_INVALID, ptr, "%s repeats an earlier %s", name,
                          kind == ARR_CODES ? "code" : "label");
                goto out;
            }
        }
        rc = dup_string(v, &dst[*n]);
        if (rc != 0)
            goto out;
        (*n)++;
    }
out:
    if (rc == 0) {
        if (strcmp(key, "categories") == 0)
            c->has_categories = p;
        else if (strcmp(key, "local_categories") == 0)
            c->has_local_categories = p;
        else
            c->has_actions = p;
    }
    return rc;
}

/* The fields, in the documented order; C is filled as it goes. */
static int parse_fields(json_t *root, bool patch, hl_contact_t *c, hl_contact_error_t *e)
{
    int rc, tmp = 0;
    json_t *v;

    if (!json_is_object(root))
        return fail(e, E_BAD_JSON, "", "the body must be a JSON object");
    rc = check_keys(root, "", NULL, patch ? patch_keys : post_keys, patch ? patch_frozen : NULL, e);
    if (rc != 0)
        return rc;
    if (patch && json_object_size(root) == 0)
        return fail(e, E_MISSING, "", "a PATCH body must hold at least one field");
    if (!patch) {
        rc = parse_source(root, c, e);
        if (rc != 0)
            return rc;
        rc = parse_required_enum(root, "channel", VOCAB(channel_names), true, &c->has_channel, &tmp, e);
        if (rc != 0)
            return rc;
        c->channel = (hl_channel_t)tmp;
    }
    tmp = 0;
    rc = parse_required_enum(root, "contact_type", VOCAB(type_names), !patch, &c->has_contact_type, &tmp, e);
    if (rc != 0)
        return rc;
    c->contact_type = (hl_contact_type_t)tmp;
    if (!patch) {
        rc = parse_times(root, c, e);
        if (rc == 0)
            rc = parse_counsellor(root, c, e);
        if (rc != 0)
            return rc;
    }
    rc = parse_child(root, c, e);
    if (rc == 0)
        rc = parse_caller(root, c, e);
    if (rc == 0)
        rc = parse_array(root, c, "categories", ARR_CODES, HL_CONTACT_MAX_CATEGORIES, e);
    if (rc == 0)
        rc = parse_array(root, c, "local_categories", ARR_LABELS, HL_CONTACT_MAX_LOCAL_CATEGORIES, e);
    if (rc == 0)
        rc = parse_array(root, c, "actions", ARR_ACTIONS, HL_CONTACT_MAX_ACTIONS, e);
    if (rc != 0)
        return rc;
    tmp = 0;
    rc = parse_opt_enum(root, "urgency", "/urgency", "urgency", VOCAB(urgency_names), &c->has_urgency, &tmp,
                        e);
    if (rc != 0)
        return rc;
    c->urgency = (hl_urgency_t)tmp;
    rc = parse_opt_string(root, "summary", "/summary", "summary", 0, HL_CONTACT_SUMMARY_MAX,
                          STR_BYTES | STR_TEXT, &c->has_summary, &c->summary, e);
    if (rc == 0 && !patch)
        rc = parse_opt_string(root, "transcript", "/transcript", "transcript", 0, HL_CONTACT_TRANSCRIPT_MAX,
                              STR_BYTES | STR_TEXT, &c->has_transcript, &c->transcript, e);
    if (rc != 0 || !patch)
        return rc;
    if (lookup(root, "confirm_suggested", &v) != HL_CONTACT_ABSENT) {
        if (!json_is_boolean(v))
            return fail(e, E_INVALID, "/confirm_suggested", "confirm_suggested must be true or false");
        c->confirm_suggested = json_is_true(v);
        c->has_confirm_suggested = HL_CONTACT_SET;
    }
    return 0;
}

static int parse_common(const char *body, size_t len, bool patch, hl_contact_t **out, hl_contact_error_t *err)
{
    hl_contact_error_t e;
    hl_contact_t *c = NULL;
    json_t *root = NULL;
    json_error_t jerr;
    int rc;

    memset(&e, 0, sizeof(e));
    if (body == NULL || len == 0) {
        rc = fail(&e, E_BAD_JSON, NULL, "the body is empty");
        goto out;
    }
    /* JSON_ALLOW_NUL: a \u0000 reaches the field check, so the error can name the field. */
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        /* jansson's own text may quote the input ("near '...'"): never pass it on. */
        switch (json_error_code(&jerr)) {
        case json_error_out_of_memory:
            rc = HL_ENOMEM;
            break;
        case json_error_duplicate_key:
            rc = fail(&e, E_BAD_JSON, NULL, "duplicate object key at line %d, column %d", jerr.line,
                      jerr.column);
            break;
        case json_error_end_of_input_expected:
            rc = fail(&e, E_BAD_JSON, NULL, "unexpected data after the JSON value at line %d, column %d",
                      jerr.line, jerr.column);
            break;
        case json_error_stack_overflow:
            rc = fail(&e, E_BAD_JSON, NULL, "JSON nested too deeply");
            break;
        default:
            rc = fail(&e, E_BAD_JSON, NULL, "malformed JSON at line %d, column %d", jerr.line, jerr.column);
            break;
        }
        goto out;
    }
    rc = hl_contact_new(&c);
    if (rc != 0)
        goto out;
    rc = parse_fields(root, patch, c, &e);
out:
    hl_contact_json_free(root);
    if (rc == 0) {
        *out = c;
    } else {
        hl_contact_free(c);
        if (rc == HL_EINVAL && err != NULL)
            *err = e;
    }
    return rc;
}

int hl_contact_parse(const char *body, size_t len, hl_contact_t **out, hl_contact_error_t *err)
{
    return parse_common(body, len, false, out, err);
}

int hl_contact_parse_patch(const char *body, size_t len, hl_contact_t **out, hl_contact_error_t *err)
{
    return parse_common(body, len, true, out, err);
}

/* ------------------------------------------------------------------------------------ */
/* Serialising                                                                           */

/* Adds KEY per presence P; VALUE (stolen, may be NULL on failure) is used only when SET. */
static int put(json_t *obj, const char *key, hl_contact_presence_t p, json_t *value)
{
    if (p == HL_CONTACT_ABSENT) {
        hl_contact_json_free(value);
        return 0;
    }
    if (p == HL_CONTACT_NULL) {
        hl_contact_json_free(value);
        value = json_null();
    } else if (p != HL_CONTACT_SET) {
        hl_contact_json_free(value);
        return -1;
    }
    /* json_object_set_new releases VALUE on failure, NULL included. */
    return json_object_set_new(obj, key, value);
}

static json_t *str_or_null(hl_contact_presence_t p, const char *s)
{
    return p == HL_CONTACT_SET && s != NULL ? json_string(s) : NULL;
}

static json_t *enum_or_null(hl_contact_presence_t p, vocab_t voc, int v)
{
    const char *name = vocab_name(voc, v);
    return p == HL_CONTACT_SET && name != NULL ? json_string(name) : NULL;
}

static json_t *time_or_null(hl_contact_presence_t p, int64_t us)
{
    char buf[HL_CONTACT_TIME_LEN];
    return p == HL_CONTACT_SET && hl_contact_time_format(us, buf) ? json_string(buf) : NULL;
}

static json_t *strings_or_null(hl_contact_presence_t p, char *const *items, size_t n, size_t max)
{
    json_t *arr;

    if (p != HL_CONTACT_SET || n > max || (arr = json_array()) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL || json_array_append_new(arr, json_string(items[i])) != 0) {
            hl_contact_json_free(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *actions_or_null(const hl_contact_t *c)
{
    json_t *arr;

    if (c->has_actions != HL_CONTACT_SET || c->n_actions > HL_CONTACT_MAX_ACTIONS ||
        (arr = json_array()) == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_actions; i++) {
        const char *name = hl_contact_action_name(c->actions[i]);
        if (name == NULL || json_array_append_new(arr, json_string(name)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* An object that put() fills, or NULL when P is not SET. */
static json_t *object_if_set(hl_contact_presence_t p)
{
    return p == HL_CONTACT_SET ? json_object() : NULL;
}

json_t *hl_contact_to_json(const hl_contact_t *c, bool include_sensitive)
{
    json_t *o = NULL, *src = NULL, *child = NULL, *caller = NULL;
    int rc = 0;

    if (c == NULL || (o = json_object()) == NULL)
        return NULL;
    src = object_if_set(c->has_source);
    if (src != NULL) {
        rc |= put(src, "system", HL_CONTACT_SET, str_or_null(HL_CONTACT_SET, c->source.system));
        rc |= put(src, "id", HL_CONTACT_SET, str_or_null(HL_CONTACT_SET, c->source.id));
    }
    rc |= put(o, "source", c->has_source, src);
    rc |= put(o, "channel", c->has_channel,
              enum_or_null(c->has_channel, VOCAB(channel_names), (int)c->channel));
    rc |= put(o, "contact_type", c->has_contact_type,
              enum_or_null(c->has_contact_type, VOCAB(type_names), (int)c->contact_type));
    rc |= put(o, "started_at", c->has_started_at, time_or_null(c->has_started_at, c->started_at));
    rc |= put(o, "ended_at", c->has_ended_at, time_or_null(c->has_ended_at, c->ended_at));
    rc |= put(o, "counsellor", c->has_counsellor, str_or_null(c->has_counsellor, c->counsellor));

    child = object_if_set(c->has_child);
    if (child != NULL) {
        rc |=
            put(child, "age", c->child.has_age,
                c->child.has_age == HL_CONTACT_SET && c->child.age >= 0 && c->child.age <= HL_CONTACT_AGE_MAX
                    ? json_integer(c->child.age)
                    : NULL);
        rc |= put(child, "gender", c->child.has_gender,
                  enum_or_null(c->child.has_gender, VOCAB(gender_names), (int)c->child.gender));
        rc |= put(child, "region", c->child.has_region,
                  enum_or_null(c->child.has_region, VOCAB(region_names), (int)c->child.region));
        if (include_sensitive)
            rc |= put(child, "name", c->child.has_name, str_or_null(c->child.has_name, c->child.name));
    }
    rc |= put(o, "child", c->has_child, child);

    caller = object_if_set(c->has_caller);
    if (caller != NULL) {
        rc |= put(
            caller, "relationship", c->caller.has_relationship,
            enum_or_null(c->caller.has_relationship, VOCAB(relationship_names), (int)c->caller.relationship));
        if (include_sensitive) {
            rc |=
                put(caller, "phone", c->caller.has_phone, str_or_null(c->caller.has_phone, c->caller.phone));
            rc |= put(caller, "name", c->caller.has_name, str_or_null(c->caller.has_name, c->caller.name));
        }
    }
    rc |= put(o, "caller", c->has_caller, caller);

    rc |= put(o, "categories", c->has_categories,
              strings_or_null(c->has_categories, c->categories, c->n_categories, HL_CONTACT_MAX_CATEGORIES));
    rc |= put(o, "local_categories", c->has_local_categories,
              strings_or_null(c->has_local_categories, c->local_categories, c->n_local_categories,
                              HL_CONTACT_MAX_LOCAL_CATEGORIES));
    rc |= put(o, "actions", c->has_actions, actions_or_null(c));
    rc |= put(o, "urgency", c->has_urgency,
              enum_or_null(c->has_urgency, VOCAB(urgency_names), (int)c->urgency));
    if (include_sensitive) {
        rc |= put(o, "summary", c->has_summary, str_or_null(c->has_summary, c->summary));
        rc |= put(o, "transcript", c->has_transcript, str_or_null(c->has_transcript, c->transcript));
    }
    if (c->has_confirm_suggested == HL_CONTACT_SET)
        rc |= put(o, "confirm_suggested", HL_CONTACT_SET, json_boolean(c->confirm_suggested));
    if (rc != 0) {
        hl_contact_json_free(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* Equality                                                                              */

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

#define SAME_P(pa, pb) ((pa) == (pb))

static bool opt_str_eq(hl_contact_presence_t pa, const char *a, hl_contact_presence_t pb, const char *b)
{
    return pa == pb && (pa != HL_CONTACT_SET || str_eq(a, b));
}

static bool opt_int_eq(hl_contact_presence_t pa, int64_t a, hl_contact_presence_t pb, int64_t b)
{
    return pa == pb && (pa != HL_CONTACT_SET || a == b);
}

static bool strs_eq(hl_contact_presence_t pa, char *const *a, size_t na, hl_contact_presence_t pb,
                    char *const *b, size_t nb)
{
    if (pa != pb)
        return false;
    if (pa != HL_CONTACT_SET)
        return true;
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i], b[i]))
            return false;
    return true;
}

bool hl_contact_equal(const hl_contact_t *a, const hl_contact_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (!SAME_P(a->has_source, b->has_source) ||
        (a->has_source == HL_CONTACT_SET &&
         (!str_eq(a->source.system, b->source.system) || !str_eq(a->source.id, b->source.id))))
        return false;
    if (!opt_int_eq(a->has_channel, a->channel, b->has_channel, b->channel) ||
        !opt_int_eq(a->has_contact_type, a->contact_type, b->has_contact_type, b->contact_type) ||
        !opt_int_eq(a->has_started_at, a->started_at, b->has_started_at, b->started_at) ||
        !opt_int_eq(a->has_ended_at, a->ended_at, b->has_ended_at, b->ended_at) ||
        !opt_str_eq(a->has_counsellor, a->counsellor, b->has_counsellor, b->counsellor))
        return false;
    if (!SAME_P(a->has_child, b->has_child))
        return false;
    if (a->has_child == HL_CONTACT_SET &&
        (!opt_int_eq(a->child.has_age, a->child.age, b->child.has_age, b->child.age) ||
         !opt_int_eq(a->child.has_gender, a->child.gender, b->child.has_gender, b->child.gender) ||
         !opt_int_eq(a->child.has_region, a->child.region, b->child.has_region, b->child.region) ||
         !opt_str_eq(a->child.has_name, a->child.name, b->child.has_name, b->child.name)))
        return false;
    if (!SAME_P(a->has_caller, b->has_caller))
        return false;
    if (a->has_caller == HL_CONTACT_SET &&
        (!opt_int_eq(a->caller.has_relationship, a->caller.relationship, b->caller.has_relationship,
                     b->caller.relationship) ||
         !opt_str_eq(a->caller.has_phone, a->caller.phone, b->caller.has_phone, b->caller.phone) ||
         !opt_str_eq(a->caller.has_name, a->caller.name, b->caller.has_name, b->caller.name)))
        return false;
    if (!strs_eq(a->has_categories, a->categories, a->n_categories, b->has_categories, b->categories,
                 b->n_categories) ||
        !strs_eq(a->has_local_categories, a->local_categories, a->n_local_categories, b->has_local_categories,
                 b->local_categories, b->n_local_categories))
        return false;
    if (a->has_actions != b->has_actions)
        return false;
    if (a->has_actions == HL_CONTACT_SET) {
        if (a->n_actions != b->n_actions || a->n_actions > HL_CONTACT_MAX_ACTIONS)
            return false;
        for (size_t i = 0; i < a->n_actions; i++)
            if (a->actions[i] != b->actions[i])
                return false;
    }
    return opt_int_eq(a->has_urgency, a->urgency, b->has_urgency, b->urgency) &&
           opt_str_eq(a->has_summary, a->summary, b->has_summary, b->summary) &&
           opt_str_eq(a->has_transcript, a->transcript, b->has_transcript, b->transcript) &&
           opt_int_eq(a->has_confirm_suggested, a->confirm_suggested, b->has_confirm_suggested,
                      b->confirm_suggested);
}
