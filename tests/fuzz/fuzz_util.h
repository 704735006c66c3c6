/*
 * Shared by the fuzz targets: "@@rep:N:UNIT@@" in an input stands for UNIT (1..16 bytes, no
 * '@') written N times (N up to 8 decimal digits), so a committed seed of a few hundred bytes
 * reaches the 1 MiB field limits, the 1.5 MiB body limit of fuzz_http and the 4 MiB spool
 * record limit, where mutation alone would take hours to grow an input that far. Anything else
 * is copied as it is. The expansion stops at FUZZ_EXPAND_MAX bytes.
 */
#ifndef HL_FUZZ_UTIL_H
#define HL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_EXPAND_MAX (8u * 1024 * 1024)

typedef struct {
    uint8_t *p;
    size_t len, cap;
} fuzz_buf_t;

static inline void fuzz_buf_reserve(fuzz_buf_t *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
}

static inline void fuzz_buf_add(fuzz_buf_t *b, const void *data, size_t n)
{
    if (n > FUZZ_EXPAND_MAX - b->len)
        n = FUZZ_EXPAND_MAX - b->len;
    fuzz_buf_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* UNIT written COUNT times (as far as FUZZ_EXPAND_MAX allows), doubling what is written. */
static inline void fuzz_buf_repeat(fuzz_buf_t *b, const uint8_t *unit, size_t unit_len, size_t count)
{
    size_t total = count * unit_len, start = b->len;

    if (total > FUZZ_EXPAND_MAX - b->len)
        total = FUZZ_EXPAND_MAX - b->len;
    fuzz_buf_reserve(b, total);
    if (total > 0)
        fuzz_buf_add(b, unit, unit_len < total ? unit_len : total);
    while (b->len - start < total) {
        size_t have = b->len - start, n = have < total - have ? have : total - have;
        memcpy(b->p + b->len, b->p + start, n);
        b->len += n;
    }
    b->p[b->len] = '\0';
}

/* Parses "N:UNIT@@" at P (END excluded): true with *COUNT, *UNIT, *UNIT_LEN and *NEXT past it. */
static inline int fuzz_rep_parse(const uint8_t *p, const uint8_t *end, size_t *count, const uint8_t **unit,
                                 size_t *unit_len, const uint8_t **next)
{
    size_t n = 0, digits = 0;

    while (p < end && *p >= '0' && *p <= '9' && digits < 8) {
        n = n * 10 + (size_t)(*p++ - '0');
        digits++;
    }
    if (digits == 0 || p >= end || *p++ != ':')
        return 0;
    *unit = p;
    while (p < end && *p != '@' && p - *unit < 16)
        p++;
    if (p == *unit || end - p < 2 || p[0] != '@' || p[1] != '@')
        return 0;
    *count = n;
    *unit_len = (size_t)(p - *unit);
    *next = p + 2;
    return 1;
}

/* DATA with every repetition expanded: a NUL-terminated malloc'd copy (*LEN bytes before the NUL). */
static inline uint8_t *fuzz_expand(const uint8_t *data, size_t size, size_t *len)
{
    static const char tag[] = "@@rep:";
    const uint8_t *p = data, *end = data + size;
    fuzz_buf_t b = {0};

    fuzz_buf_add(&b, "", 0);
    while (p < end) {
        const uint8_t *at = memmem(p, (size_t)(end - p), tag, sizeof(tag) - 1), *unit, *next;
        size_t count, unit_len;

        if (at == NULL) {
            fuzz_buf_add(&b, p, (size_t)(end - p));
            break;
        }
        fuzz_buf_add(&b, p, (size_t)(at - p));
        if (!fuzz_rep_parse(at + sizeof(tag) - 1, end, &count, &unit, &unit_len, &next)) {
            fuzz_buf_add(&b, at, 1);
            p = at + 1;
            continue;
        }
        fuzz_buf_repeat(&b, unit, unit_len, count);
        p = next;
    }
    *len = b.len;
    return b.p;
}

#endif
