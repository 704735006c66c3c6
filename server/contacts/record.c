/*
 * Sealed contact records: allocation, ids, and the spool's byte form (docs/writer.md
 * "Record format"). Nothing here ever sees plaintext: sealed fields are opaque bytes.
 */
#include "contacts/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

/* Byte form: "HLR" then the format version, then the fields in struct order. */
#define REC_MAGIC0  'H'
#define REC_MAGIC1  'L'
#define REC_MAGIC2  'R'
#define REC_VERSION 1

int hl_record_new(hl_record_t **out)
{
    hl_record_t *rec = calloc(1, sizeof(*rec));

    if (rec == NULL)
        return HL_ENOMEM;
    rec->child_age = -1;
    rec->child_gender = -1;
    rec->child_region = -1;
    rec->caller_relationship = -1;
    rec->urgency = -1;
    *out = rec;
    return HL_OK;
}

void hl_record_free(hl_record_t *rec)
{
    if (rec == NULL)
        return;
    free(rec->source_system);
    free(rec->source_id);
    free(rec->counsellor);
    /* Every slot, not only n_local_categories: a half-decoded record may hold one more. */
    for (size_t i = 0; i < HL_CONTACT_MAX_LOCAL_CATEGORIES; i++)
        free(rec->local_categories[i]);
    free(rec->child_name.data);
    free(rec->caller_name.data);
    free(rec->caller_phone.data);
    free(rec->summary.data);
    free(rec->transcript.data);
    free(rec);
}

/* ------------------------------------------------------------------------------------ */
/* Ids                                                                                   */

static void fill_random(uint8_t *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            break;
        }
        got += (size_t)n;
    }
    if (got < len) {
        /* getrandom(2) missing (ENOSYS): the kernel's pool through the device instead. */
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        while (fd >= 0 && got < len) {
            ssize_t n = read(fd, buf + got, len - got);
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                break;
            }
            got += (size_t)n;
        }
        if (fd >= 0)
            close(fd);
    }
    if (got < len) {
        /* An id that is not random could collide or be guessed: refuse to go on. */
        hl_log(HL_LOG_ERROR, "no randomness available for record ids");
        abort();
    }
}

void hl_record_new_id(uint8_t id[HL_RECORD_ID_BYTES])
{
    fill_random(id, HL_RECORD_ID_BYTES);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

void hl_record_id_to_text(const uint8_t id[HL_RECORD_ID_BYTES], char out[HL_RECORD_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < HL_RECORD_ID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 0x0f];
    }
    out[o] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool hl_record_id_from_text(const char *text, uint8_t id[HL_RECORD_ID_BYTES])
{
    uint8_t tmp[HL_RECORD_ID_BYTES];
    size_t t = 0;

    if (text == NULL)
        return false;
    for (size_t i = 0; i < HL_RECORD_ID_BYTES; i++) {
        int hi, lo;

        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (text[t] != '-')
                return false;
            t++;
        }
        hi = hex_value(text[t]);
        if (hi < 0)
            return false;
        lo = hex_value(text[t + 1]); /* text[t] was a hex digit, so text[t + 1] is readable */
        if (lo < 0)
            return false;
        tmp[i] = (uint8_t)(hi << 4 | lo);
        t += 2;
    }
    if (text[t] != '\0')
        return false;
    memcpy(id, tmp, sizeof(tmp));
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* Validation shared by encode and decode                                                */

static bool fixed_str_ok(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* Years 0001..9999 (as hl_contact_time_format): also keeps PostgreSQL's epoch shift in range. */
static bool time_ok(int64_t us)
{
    return us >= INT64_C(-62135596800000000) && us <= INT64_C(253402300799999999);
}

bool hl_record_valid(const hl_record_t *rec)
{
    if (rec == NULL || rec->source_system == NULL || rec->source_id == NULL)
        return false;
    if (!time_ok(rec->started_at) || (rec->has_ended_at && !time_ok(rec->ended_at)))
        return false;
    if ((unsigned)rec->channel >= HL_CONTACT_N_CHANNELS || (unsigned)rec->contact_type >= HL_CONTACT_N_TYPES)
        return false;
    if (rec->child_age < -1 || rec->child_age > HL_CONTACT_AGE_MAX)
        return false;
    if (rec->child_gender < -1 || rec->child_gender >= HL_CONTACT_N_GENDERS)
        return false;
    if (rec->child_region < -1 || rec->child_region >= HL_CONTACT_N_REGIONS)
        return false;
    if (rec->caller_relationship < -1 || rec->caller_relationship >= HL_CONTACT_N_RELATIONSHIPS)
        return false;
    if (rec->urgency < -1 || rec->urgency >= HL_CONTACT_N_URGENCIES)
        return false;
    if (rec->n_actions > HL_CONTACT_MAX_ACTIONS || rec->n_local_categories > HL_CONTACT_MAX_LOCAL_CATEGORIES)
        return false;
    for (size_t i = 0; i < rec->n_actions; i++)
        if ((unsigned)rec->actions[i] >= HL_CONTACT_N_ACTIONS)
            return false;
    for (size_t i = 0; i < rec->n_local_categories; i++)
        if (rec->local_categories[i] == NULL)
            return false;
    if (!fixed_str_ok(rec->taxonomy_version, sizeof(rec->taxonomy_version)))
        return false;
    if (rec->n_categories > HL_RECORD_MAX_CATEGORIES || rec->n_terms > HL_RECORD_MAX_TERMS)
        return false;
    for (size_t i = 0; i < rec->n_categories; i++) {
        const hl_record_category_t *c = &rec->categories[i];
        if (!fixed_str_ok(c->code, sizeof(c->code)) || (unsigned)c->source > HL_CATEGORY_SUGGESTED)
            return false;
    }
    for (size_t i = 0; i < rec->n_terms; i++) {
        const hl_record_term_t *t = &rec->terms[i];
        if (!fixed_str_ok(t->term_id, sizeof(t->term_id)) || (unsigned)t->field > HL_TERM_IN_TRANSCRIPT)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* Encode                                                                                */

typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
    bool oom;
} wbuf_t;

static void put(wbuf_t *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 512;
        uint8_t *nb;

        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        nb = realloc(b->buf, cap);
        if (nb == NULL) {
            b->oom = true;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void put_u8(wbuf_t *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    put(b, &x, 1);
}

static void put_u32(wbuf_t *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, 4);
}

static void put_u64(wbuf_t *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, 8);
}

/* A signed small value stored as int32 (two's complement), for the "-1: none" fields. */
static void put_i32(wbuf_t *b, int v)
{
    put_u32(b, (uint32_t)v);
}

static void put_bytes(wbuf_t *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        b->oom = true; /* cannot be represented: refused like an allocation failure */
        return;
    }
    put_u32(b, (uint32_t)n);
    put(b, p, n);
}

static void put_str(wbuf_t *b, const char *s)
{
    put_bytes(b, s, strlen(s));
}

static void put_opt_str(wbuf_t *b, const char *s)
{
    put_u8(b, s != NULL);
    if (s != NULL)
        put_str(b, s);
}

static void put_sealed(wbuf_t *b, const hl_sealed_t *s)
{
    put_u8(b, s->data != NULL);
    if (s->data != NULL)
        put_bytes(b, s->data, s->len);
}

int hl_record_encode(const hl_record_t *rec, uint8_t **out, size_t *outlen)
{
    wbuf_t b = {0};
    int rc = HL_EINVAL;

    if (!hl_record_valid(rec))
        goto out;
    put_u8(&b, REC_MAGIC0);
    put_u8(&b, REC_MAGIC1);
    put_u8(&b, REC_MAGIC2);
    put_u8(&b, REC_VERSION);
    put(&b, rec->id, HL_RECORD_ID_BYTES);
    put_u64(&b, (uint64_t)rec->helpline_id);
    put_u64(&b, (uint64_t)rec->created_by);
    put_str(&b, rec->source_system);
    put_str(&b, rec->source_id);
    put_u8(&b, (unsigned)rec->channel);
    put_u8(&b, (unsigned)rec->contact_type);
    put_u64(&b, (uint64_t)rec->started_at);
    put_u8(&b, rec->has_ended_at);
    put_u64(&b, rec->has_ended_at ? (uint64_t)rec->ended_at : 0);
    put_opt_str(&b, rec->counsellor);
    put_i32(&b, rec->child_age);
    put_i32(&b, rec->child_gender);
    put_i32(&b, rec->child_region);
    put_i32(&b, rec->caller_relationship);
    put_i32(&b, rec->urgency);
    put_u8(&b, (unsigned)rec->n_actions);
    for (size_t i = 0; i < rec->n_actions; i++)
        put_u8(&b, (unsigned)rec->actions[i]);
    put_u8(&b, (unsigned)rec->n_local_categories);
    for (size_t i = 0; i < rec->n_local_categories; i++)
        put_str(&b, rec->local_categories[i]);
    put_sealed(&b, &rec->child_name);
    put_sealed(&b, &rec->caller_name);
    put_sealed(&b, &rec->caller_phone);
    put_sealed(&b, &rec->summary);
    put_sealed(&b, &rec->transcript);
    put_u8(&b, rec->has_phone_bidx);
    if (rec->has_phone_bidx)
        put(&b, rec->phone_bidx, HL_RECORD_BIDX_BYTES);
    put_str(&b, rec->taxonomy_version);
    put_u8(&b, (unsigned)rec->n_categories);
    for (size_t i = 0; i < rec->n_categories; i++) {
        put_str(&b, rec->categories[i].code);
        put_u8(&b, (unsigned)rec->categories[i].source);
    }
    put_u8(&b, (unsigned)rec->n_terms);
    for (size_t i = 0; i < rec->n_terms; i++) {
        put_str(&b, rec->terms[i].term_id);
        put_u8(&b, (unsigned)rec->terms[i].field);
        put_u32(&b, rec->terms[i].occurrences);
    }
    if (b.oom) {
        rc = HL_ENOMEM;
        goto out;
    }
    *out = b.buf;
    *outlen = b.len;
    b.buf = NULL;
    rc = HL_OK;
out:
    free(b.buf);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Decode: every read checks what remains; any failure sets bad and reads zeros after.   */

typedef struct {
    const uint8_t *p;
    size_t left;
    bool bad;
    bool oom;
} rbuf_t;

static const uint8_t *take(rbuf_t *r, size_t n)
{
    const uint8_t *p;

    if (r->bad || r->left < n) {
        r->bad = true;
        return NULL;
    }
    p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static unsigned get_u8(rbuf_t *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

static bool get_bool(rbuf_t *r)
{
    unsigned v = get_u8(r);
    if (v > 1)
        r->bad = true;
    return v == 1;
}

static uint32_t get_u32(rbuf_t *r)
{
    const uint8_t *p = take(r, 4);
    uint32_t v = 0;

    if (p != NULL)
        for (int i = 3; i >= 0; i--)
            v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(rbuf_t *r)
{
    const uint8_t *p = take(r, 8);
    uint64_t v = 0;

    if (p != NULL)
        for (int i = 7; i >= 0; i--)
            v = v << 8 | p[i];
    return v;
}

static int64_t get_i64(rbuf_t *r)
{
    uint64_t u = get_u64(r);
    int64_t v;

    memcpy(&v, &u, sizeof(v)); /* two's complement, without implementation-defined conversion */
    return v;
}

static int get_i32(rbuf_t *r)
{
    uint32_t u = get_u32(r);
    int32_t v;

    memcpy(&v, &u, sizeof(v));
    return (int)v;
}

/* A length-prefixed string, NUL-free: its bytes in place (not terminated) and its length. */
static const uint8_t *get_str_raw(rbuf_t *r, size_t *len)
{
    uint32_t n = get_u32(r);
    const uint8_t *p = take(r, n);

    if (p == NULL || memchr(p, '\0', n) != NULL) {
        r->bad = true;
        return NULL;
    }
    *len = n;
    return p;
}

static char *get_str(rbuf_t *r)
{
    size_t n = 0;
    const uint8_t *p = get_str_raw(r, &n);
    char *s;

    if (p == NULL)
        return NULL;
    s = malloc(n + 1);
    if (s == NULL) {
        r->oom = r->bad = true;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Into a fixed array of CAP bytes: the string and its NUL must fit. */
static void get_fixed_str(rbuf_t *r, char *dst, size_t cap)
{
    size_t n = 0;
    const uint8_t *p = get_str_raw(r, &n);

    if (p == NULL)
        return;
    if (n >= cap) {
        r->bad = true;
        return;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
}

static void get_sealed(rbuf_t *r, hl_sealed_t *s)
{
    uint32_t n;
    const uint8_t *p;

    if (!get_bool(r))
        return;
    n = get_u32(r);
    p = take(r, n);
    if (p == NULL)
        return;
    s->data = malloc(n ? n : 1); /* present and empty stays non-NULL */
    if (s->data == NULL) {
        r->oom = r->bad = true;
        return;
    }
    if (n > 0)
        memcpy(s->data, p, n);
    s->len = n;
}

int hl_record_decode(const uint8_t *buf, size_t len, hl_record_t **out)
{
    rbuf_t r = {.p = buf, .left = len};
    hl_record_t *rec = NULL;
    const uint8_t *p;
    int rc;

    if (buf == NULL && len > 0)
        return HL_EINVAL;
    rc = hl_record_new(&rec);
    if (rc != HL_OK)
        goto out;
    rc = HL_EINVAL;
    p = take(&r, 4);
    if (p == NULL || p[0] != REC_MAGIC0 || p[1] != REC_MAGIC1 || p[2] != REC_MAGIC2 || p[3] != REC_VERSION)
        goto out;
    p = take(&r, HL_RECORD_ID_BYTES);
    if (p != NULL)
        memcpy(rec->id, p, HL_RECORD_ID_BYTES);
    rec->helpline_id = get_i64(&r);
    rec->created_by = get_i64(&r);
    rec->source_system = get_str(&r);
    rec->source_id = get_str(&r);
    rec->channel = (hl_channel_t)get_u8(&r);
    rec->contact_type = (hl_contact_type_t)get_u8(&r);
    rec->started_at = get_i64(&r);
    rec->has_ended_at = get_bool(&r);
    rec->ended_at = get_i64(&r);
    if (!rec->has_ended_at && rec->ended_at != 0)
        r.bad = true;
    if (get_bool(&r))
        rec->counsellor = get_str(&r);
    rec->child_age = get_i32(&r);
    rec->child_gender = get_i32(&r);
    rec->child_region = get_i32(&r);
    rec->caller_relationship = get_i32(&r);
    rec->urgency = get_i32(&r);
    rec->n_actions = get_u8(&r);
    if (rec->n_actions > HL_CONTACT_MAX_ACTIONS) {
        r.bad = true;
        rec->n_actions = 0;
    }
    for (size_t i = 0; i < rec->n_actions; i++)
        rec->actions[i] = (hl_action_t)get_u8(&r);
    rec->n_local_categories = get_u8(&r);
    if (rec->n_local_categories > HL_CONTACT_MAX_LOCAL_CATEGORIES) {
        r.bad = true;
        rec->n_local_categories = 0;
    }
    for (size_t i = 0; i < rec->n_local_categories && !r.bad; i++)
        rec->local_categories[i] = get_str(&r);
    get_sealed(&r, &rec->child_name);
    get_sealed(&r, &rec->caller_name);
    get_sealed(&r, &rec->caller_phone);
    get_sealed(&r, &rec->summary);
    get_sealed(&r, &rec->transcript);
    rec->has_phone_bidx = get_bool(&r);
    if (rec->has_phone_bidx) {
        p = take(&r, HL_RECORD_BIDX_BYTES);
        if (p != NULL)
            memcpy(rec->phone_bidx, p, HL_RECORD_BIDX_BYTES);
    }
    get_fixed_str(&r, rec->taxonomy_version, sizeof(rec->taxonomy_version));
    rec->n_categories = get_u8(&r);
    if (rec->n_categories > HL_RECORD_MAX_CATEGORIES) {
        r.bad = true;
        rec->n_categories = 0;
    }
    for (size_t i = 0; i < rec->n_categories && !r.bad; i++) {
        get_fixed_str(&r, rec->categories[i].code, sizeof(rec->categories[i].code));
        rec->categories[i].source = (hl_category_source_t)get_u8(&r);
    }
    rec->n_terms = get_u8(&r);
    if (rec->n_terms > HL_RECORD_MAX_TERMS) {
        r.bad = true;
        rec->n_terms = 0;
    }
    for (size_t i = 0; i < rec->n_terms && !r.bad; i++) {
        get_fixed_str(&r, rec->terms[i].term_id, sizeof(rec->terms[i].term_id));
        rec->terms[i].field = (hl_term_field_t)get_u8(&r);
        rec->terms[i].occurrences = get_u32(&r);
    }
    if (r.oom) {
        rc = HL_ENOMEM;
        goto out;
    }
    if (r.bad || r.left != 0 || !hl_record_valid(rec))
        goto out;
    *out = rec;
    rec = NULL;
    rc = HL_OK;
out:
    hl_record_free(rec);
    return rc;
}
