#include "db/replag.h"

#include <string.h>

void hl_replag_init(hl_replag_t *t)
{
    memset(t, 0, sizeof(*t));
}

void hl_replag_primary(hl_replag_t *t, int64_t at_us, uint64_t lsn)
{
    if (t->have_latest && lsn < t->latest)
        hl_replag_init(t);
    t->latest = lsn;
    t->have_latest = true;
    if (t->n > 0 && lsn <= t->s[t->n - 1].lsn)
        return; /* no new WAL: the first time it was seen stays */
    if (t->n == HL_REPLAG_SAMPLES) {
        size_t k = 0;
        for (size_t i = 0; i < t->n; i += 2)
            t->s[k++] = t->s[i];
        t->n = k;
    }
    t->s[t->n++] = (hl_replag_sample_t){.at_us = at_us, .lsn = lsn};
}

bool hl_replag_standby(hl_replag_t *t, int64_t now_us, uint64_t replay, double *seconds, uint64_t *bytes)
{
    size_t done = 0;

    while (done < t->n && t->s[done].lsn <= replay)
        done++;
    memmove(t->s, t->s + done, (t->n - done) * sizeof(t->s[0]));
    t->n -= done;
    if (!t->have_latest)
        return false;
    *seconds = t->n > 0 && now_us > t->s[0].at_us ? (double)(now_us - t->s[0].at_us) / 1e6 : 0.0;
    *bytes = t->latest > replay ? t->latest - replay : 0;
    return true;
}

/* Up to 8 hex digits, the whole of [P, END). */
static bool hex32(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;

    if (end <= p || end - p > 8)
        return false;
    for (; p < end; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

bool hl_replag_parse_lsn(const char *text, uint64_t *out)
{
    const char *slash = text != NULL ? strchr(text, '/') : NULL;
    uint64_t hi, lo;

    if (slash == NULL || !hex32(text, slash, &hi) || !hex32(slash + 1, slash + strlen(slash), &lo))
        return false;
    *out = hi << 32 | lo;
    return true;
}
