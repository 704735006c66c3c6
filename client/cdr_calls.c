/* Asterisk CDR legs into calls, calls into contacts (cdr_calls.h). */
#include "cdr_calls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contact.h"
#include "crypto.h"

/* 9999-12-31T23:59:59Z, the latest time a contact takes (in microseconds it fits an int64). */
#define LATEST_TIME INT64_C(253402300799)

HL_PRINTF(3, 4) static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && len > 0) {
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return HL_EINVAL;
}

bool hl_cdr_time_parse(const char *s, bool utc, int64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, se, n = 0;
    time_t t;

    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || s[n] != '\0' ||
        n != 19 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
        h < 0 || mi < 0 || se < 0)
        return false;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    tm.tm_isdst = -1;
    t = utc ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1 || t > LATEST_TIME) /* a local time west of UTC on 9999-12-31 */
        return false;
    *out = (int64_t)t;
    return true;
}

bool hl_cdr_disposition_parse(const char *s, hl_cdr_disposition_t *out)
{
    static const struct {
        const char *name;
        hl_cdr_disposition_t d;
    } map[] = {{"NO ANSWER", HL_CDR_NO_ANSWER},
               {"FAILED", HL_CDR_FAILED},
               {"BUSY", HL_CDR_BUSY},
               {"ANSWERED", HL_CDR_ANSWERED},
               {"CONGESTION", HL_CDR_CONGESTION}};

    for (size_t i = 0; i < HL_ARRAY_LEN(map); i++)
        if (strcmp(s, map[i].name) == 0) {
            *out = map[i].d;
            return true;
        }
    return false;
}

static bool parse_long(const char *s, long *out)
{
    char *end;
    long v;

    if (s[0] == '\0')
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return false;
    *out = v;
    return true;
}

/* Whether KEY can be a contact's source.id: valid UTF-8 (jansson refuses anything else, and
 * the call would never be posted) without control characters (the codec refuses them). */
static bool key_ok(const char *key)
{
    const unsigned char *p = (const unsigned char *)key;

    while (*p != '\0') {
        unsigned c = *p;
        size_t n;
        uint32_t cp;

        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && cp > 0x10ffff) ||
            (n == 3 && cp < 0x10000))
            return false;
        p += n + 1;
    }
    return true;
}

int hl_cdr_leg_from_record(const hl_cdr_record_t *r, bool utc, hl_cdr_leg_t *out, char *err, size_t errlen)
{
    hl_cdr_leg_t leg;
    const char *key = r->f[HL_CDR_LINKEDID][0] != '\0' ? r->f[HL_CDR_LINKEDID] : r->f[HL_CDR_UNIQUEID];
    long duration = 0;

    memset(&leg, 0, sizeof(leg));
    if (key[0] == '\0')
        return fail(err, errlen, "no linkedid or uniqueid");
    if (strlen(key) > HL_CDR_KEY_MAX)
        return fail(err, errlen, "linkedid/uniqueid longer than %d", HL_CDR_KEY_MAX);
    if (!key_ok(key))
        return fail(err, errlen, "linkedid/uniqueid is not UTF-8 text without control characters");
    snprintf(leg.key, sizeof(leg.key), "%s", key);
    if (!hl_cdr_time_parse(r->f[HL_CDR_START], utc, &leg.start))
        return fail(err, errlen, "start is not a 'YYYY-MM-DD HH:MM:SS' time");
    if (r->f[HL_CDR_END][0] != '\0') {
        if (!hl_cdr_time_parse(r->f[HL_CDR_END], utc, &leg.end))
            return fail(err, errlen, "end is not a 'YYYY-MM-DD HH:MM:SS' time");
    } else if (parse_long(r->f[HL_CDR_DURATION], &duration) && duration <= LATEST_TIME - leg.start) {
        leg.end = leg.start + duration;
    } else {
        leg.end = leg.start;
    }
    if (!hl_cdr_disposition_parse(r->f[HL_CDR_DISPOSITION], &leg.disposition))
        return fail(err, errlen, "unknown disposition");
    if (!parse_long(r->f[HL_CDR_BILLSEC], &leg.billsec))
        return fail(err, errlen, "billsec is not a number");
    if (strlen(r->f[HL_CDR_SRC]) <= HL_CDR_SRC_MAX)
        snprintf(leg.src, sizeof(leg.src), "%s", r->f[HL_CDR_SRC]);
    if (strlen(r->f[HL_CDR_DSTCHANNEL]) <= HL_CDR_CHANNEL_MAX)
        snprintf(leg.dstchannel, sizeof(leg.dstchannel), "%s", r->f[HL_CDR_DSTCHANNEL]);
    *out = leg;
    return HL_OK;
}

/* ---- grouping ------------------------------------------------------------------------------ */

struct hl_cdr_calls {
    hl_cdr_call_t *v;
    size_t n, cap;
};

int hl_cdr_calls_new(hl_cdr_calls_t **out)
{
    hl_cdr_calls_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return HL_ENOMEM;
    *out = c;
    return HL_OK;
}

void hl_cdr_calls_free(hl_cdr_calls_t *calls)
{
    if (calls == NULL)
        return;
    free(calls->v);
    free(calls);
}

int hl_cdr_calls_add(hl_cdr_calls_t *calls, const hl_cdr_leg_t *leg, uint64_t line_start, uint64_t line_end,
                     double now)
{
    hl_cdr_call_t *c = NULL;
    bool person = leg->disposition == HL_CDR_ANSWERED && leg->dstchannel[0] != '\0';

    for (size_t i = 0; i < calls->n; i++)
        if (strcmp(calls->v[i].key, leg->key) == 0) {
            c = &calls->v[i];
            break;
        }
    if (c == NULL) {
        if (calls->n == calls->cap) {
            size_t cap = calls->cap == 0 ? 16 : calls->cap * 2;
            hl_cdr_call_t *v = realloc(calls->v, cap * sizeof(*v));
            if (v == NULL)
                return HL_ENOMEM;
            calls->v = v;
            calls->cap = cap;
        }
        c = &calls->v[calls->n++];
        memset(c, 0, sizeof(*c));
        snprintf(c->key, sizeof(c->key), "%s", leg->key);
        snprintf(c->src, sizeof(c->src), "%s", leg->src);
        c->start = c->first_leg_start = leg->start;
        c->end = leg->end;
        c->first_offset = line_start;
    } else {
        if (leg->start < c->first_leg_start) {
            c->first_leg_start = leg->start;
            snprintf(c->src, sizeof(c->src), "%s", leg->src);
        }
        if (leg->start < c->start)
            c->start = leg->start;
        if (leg->end > c->end)
            c->end = leg->end;
    }
    if (person && (!c->answered || leg->billsec > c->talk)) {
        c->answered = true;
        c->talk = leg->billsec;
        snprintf(c->agent_channel, sizeof(c->agent_channel), "%s", leg->dstchannel);
    }
    c->n_legs++;
    if (line_end > c->last_offset)
        c->last_offset = line_end;
    c->last_read = now;
    return HL_OK;
}

bool hl_cdr_calls_take(hl_cdr_calls_t *calls, double now, double quiet, bool flush, hl_cdr_call_t *out)
{
    size_t best = calls->n;
    bool too_many = calls->n > HL_CDR_MAX_PENDING;

    for (size_t i = 0; i < calls->n; i++) {
        const hl_cdr_call_t *c = &calls->v[i];
        bool complete = flush || too_many || now - c->last_read >= quiet;
        if (complete && (best == calls->n || c->first_offset < calls->v[best].first_offset))
            best = i;
    }
    if (best == calls->n)
        return false;
    *out = calls->v[best];
    calls->v[best] = calls->v[calls->n - 1];
    calls->n--;
    return true;
}

size_t hl_cdr_calls_pending(const hl_cdr_calls_t *calls)
{
    return calls->n;
}

uint64_t hl_cdr_calls_min_offset(const hl_cdr_calls_t *calls)
{
    uint64_t min = UINT64_MAX;

    for (size_t i = 0; i < calls->n; i++)
        if (calls->v[i].first_offset < min)
            min = calls->v[i].first_offset;
    return min;
}

const char *hl_cdr_contact_type(const hl_cdr_call_t *call, long hangup_seconds)
{
    if (!call->answered)
        return "missed";
    if (call->talk < hangup_seconds)
        return "hang_up";
    return "counselling";
}

/* ---- agents ---------------------------------------------------------------------------------- */

bool hl_cdr_channel_extension(const char *channel, char *ext, size_t extcap, char *tech, size_t techcap)
{
    const char *slash = strchr(channel, '/'), *res;
    size_t n;

    if (slash == NULL || slash == channel || extcap == 0)
        return false;
    if (tech != NULL && techcap > 0)
        snprintf(tech, techcap, "%.*s", (int)(slash - channel), channel);
    res = slash + 1;
    n = strcspn(res, "@;"); /* Local/1001@from-queue-00000012;1 */
    if (res[n] == '\0') {
        /* SIP/1001-0000002a: the channel's sequence number after the last "-". */
        const char *dash = NULL;
        for (const char *p = res; p < res + n; p++)
            if (*p == '-')
                dash = p;
        if (dash != NULL && dash[1] != '\0' && strspn(dash + 1, "0123456789abcdefABCDEF") == strlen(dash + 1))
            n = (size_t)(dash - res);
    }
    if (n == 0 || n >= extcap)
        return false;
    memcpy(ext, res, n);
    ext[n] = '\0';
    return true;
}

typedef struct {
    char *key, *user;
} agent_t;

struct hl_cdr_agents {
    agent_t *v;
    size_t n;
};

void hl_cdr_agents_free(hl_cdr_agents_t *agents)
{
    if (agents == NULL)
        return;
    for (size_t i = 0; i < agents->n; i++) {
        free(agents->v[i].key);
        free(agents->v[i].user);
    }
    free(agents->v);
    free(agents);
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static bool username_ok(const char *s)
{
    size_t n = strlen(s);

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

int hl_cdr_agents_load(const char *path, hl_cdr_agents_t **out, char *err, size_t errlen)
{
    hl_cdr_agents_t *a = calloc(1, sizeof(*a));
    FILE *f = NULL;
    char line[512];
    int lineno = 0, rc = HL_ENOMEM;

    if (a == NULL)
        goto out;
    if ((f = fopen(path, "r")) == NULL) {
        rc = HL_EIO;
        fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = trim(line), *eq, *key, *user;
        agent_t *v;
        lineno++;
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL) {
            rc = fail(err, errlen, "%s:%d: expected 'extension = username'", path, lineno);
            goto out;
        }
        *eq = '\0';
        key = trim(s);
        user = trim(eq + 1);
        if (*key == '\0' || !username_ok(user)) {
            rc = fail(err, errlen,
                      "%s:%d: the extension is empty or the username is not 1..64 of A-Z a-z 0-9 . _ -", path,
                      lineno);
            goto out;
        }
        if ((v = realloc(a->v, (a->n + 1) * sizeof(*v))) == NULL)
            goto out;
        a->v = v;
        v[a->n].key = strdup(key);
        v[a->n].user = strdup(user);
        a->n++;
        if (v[a->n - 1].key == NULL || v[a->n - 1].user == NULL)
            goto out;
    }
    if (ferror(f)) {
        rc = fail(err, errlen, "cannot read %s", path);
        goto out;
    }
    *out = a;
    a = NULL;
    rc = HL_OK;
out:
    if (f != NULL)
        fclose(f);
    hl_cdr_agents_free(a);
    return rc;
}

static const char *agents_find(const hl_cdr_agents_t *agents, const char *key)
{
    for (size_t i = 0; i < agents->n; i++)
        if (strcmp(agents->v[i].key, key) == 0)
            return agents->v[i].user;
    return NULL;
}

const char *hl_cdr_agents_lookup(const hl_cdr_agents_t *agents, const char *channel)
{
    char ext[HL_CDR_CHANNEL_MAX + 1], tech[32], full[HL_CDR_CHANNEL_MAX + 40];
    const char *user;

    if (agents == NULL || !hl_cdr_channel_extension(channel, ext, sizeof(ext), tech, sizeof(tech)))
        return NULL;
    snprintf(full, sizeof(full), "%s/%s", tech, ext);
    user = agents_find(agents, full);
    return user != NULL ? user : agents_find(agents, ext);
}

/* ---- contact ---------------------------------------------------------------------------------- */

/* Whether the daemon takes SRC as caller.phone (the codec's characters, the blind index's digits). */
static bool phone_ok(const char *s)
{
    char digits[HL_CRYPTO_PHONE_DIGITS_MAX + 1];
    size_t n = strlen(s);

    if (n < HL_CONTACT_PHONE_MIN || n > HL_CONTACT_PHONE_MAX || strspn(s, "0123456789 +-().") != n)
        return false;
    return hl_crypto_phone_normalise(s, NULL, digits, sizeof(digits)) == HL_OK;
}

json_t *hl_cdr_call_contact(const hl_cdr_call_t *call, const char *system, const hl_cdr_agents_t *agents,
                            long hangup_seconds)
{
    char started[HL_CONTACT_TIME_LEN], ended[HL_CONTACT_TIME_LEN];
    const char *counsellor = call->answered ? hl_cdr_agents_lookup(agents, call->agent_channel) : NULL;
    json_t *c;

    if (!hl_contact_time_format(call->start * 1000000, started))
        return NULL;
    c = json_pack("{s:{s:s, s:s}, s:s, s:s, s:s}", "source", "system", system, "id", call->key, "channel",
                  "phone", "contact_type", hl_cdr_contact_type(call, hangup_seconds), "started_at", started);
    if (c == NULL)
        return NULL;
    if (call->end >= call->start && hl_contact_time_format(call->end * 1000000, ended))
        json_object_set_new(c, "ended_at", json_string(ended));
    if (counsellor != NULL)
        json_object_set_new(c, "counsellor", json_string(counsellor));
    if (phone_ok(call->src))
        json_object_set_new(c, "caller", json_pack("{s:s}", "phone", call->src));
    return c;
}
