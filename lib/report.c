/* The signed quarterly report: see report.h and docs/report-format.md. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TABLES      32
#define K_MAX           1000
#define CODE_MAX        64
#define HL_NAME_MAX     200
#define TAXVER_MAX      64
#define GENERATED_LEN   20 /* YYYY-MM-DDTHH:MM:SSZ */
#define CANONICAL_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* A table while it is read, built or merged. Strings are borrowed from the caller or from a
 * document that outlives the rtab. */
typedef struct rtab {
    const char *name;
    size_t ndims;
    const char *dim[HL_DISCLOSURE_MAX_DIMS];
    size_t nvals[HL_DISCLOSURE_MAX_DIMS];
    const char **vals[HL_DISCLOSURE_MAX_DIMS];
    hl_disclosure_table_t *t;
    uint64_t total; /* when !t->total_withheld */
} rtab_t;

HL_PRINTF(2, 3) static void seterr(hl_report_error_t *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

static void rtab_clear(rtab_t *r)
{
    for (size_t d = 0; d < HL_DISCLOSURE_MAX_DIMS; d++)
        free(r->vals[d]);
    hl_disclosure_table_free(r->t);
    memset(r, 0, sizeof(*r));
}

static void rtabs_free(rtab_t *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++)
        rtab_clear(&r[i]);
    free(r);
}

/* ---- small validators ---------------------------------------------------------------------- */

static bool valid_name(const char *s)
{
    size_t n;

    if (!s || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    n = strlen(s);
    if (n > HL_REPORT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Dimension names must not collide with the other keys of cells and withheld lines. */
static bool valid_dim_name(const char *s)
{
    return valid_name(s) && strcmp(s, "count") != 0 && strcmp(s, "suppressed") != 0 && strcmp(s, "over") != 0;
}

static bool valid_text(const char *s, size_t max)
{
    return s && s[0] != '\0' && strlen(s) <= max;
}

static bool valid_country(const char *s)
{
    return s && strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

static bool valid_timestamp(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";

    if (!s || strlen(s) != GENERATED_LEN)
        return false;
    for (size_t i = 0; i < GENERATED_LEN; i++)
        if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
            return false;
    return true;
}

static bool valid_key_id(const char *s)
{
    if (!s || strlen(s) != HL_CRYPTO_SIGN_KEY_ID_LEN)
        return false;
    for (size_t i = 0; i < HL_CRYPTO_SIGN_KEY_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void period_dates(int year, int quarter, char from[32], char to[32])
{
    static const char *const ends[] = {"03-31", "06-30", "09-30", "12-31"};

    snprintf(from, 32, "%04d-%02d-01", year, (quarter - 1) * 3 + 1);
    snprintf(to, 32, "%04d-%s", year, ends[quarter - 1]);
}

static bool valid_helpline(const hl_report_helpline_t *h)
{
    return h && valid_text(h->code, CODE_MAX) && valid_text(h->name, HL_NAME_MAX) &&
           valid_country(h->country) && (!h->network || valid_text(h->network, CODE_MAX));
}

/* ---- JSON building --------------------------------------------------------------------------- */

/* Sets KEY to V (a new reference, stolen); false when V is NULL or the set fails. */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static bool append(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}

static json_t *rtab_to_json(const rtab_t *r)
{
    const hl_disclosure_table_t *t = r->t;
    json_t *tab = json_object(), *dims = json_array(), *cells = json_array(), *wh = json_array();
    json_t *res = NULL;
    size_t co[HL_DISCLOSURE_MAX_DIMS];
    bool rc_ok;

    if (!tab || !dims || !cells || !wh)
        goto out;
    for (size_t d = 0; d < r->ndims; d++)
        if (!append(dims, json_string(r->dim[d])))
            goto out;
    for (size_t c = 0; c < t->ncells; c++) {
        json_t *cell = json_object();

        if (!append(cells, cell))
            goto out;
        hl_disclosure_coords(t, c, co);
        for (size_t d = 0; d < r->ndims; d++)
            if (!put(cell, r->dim[d], json_string(r->vals[d][co[d]])))
                goto out;
        if (!hl_disclosure_suppressed(t, c)) {
            if (!put(cell, "count", json_integer((json_int_t)t->counts[c])))
                goto out;
        } else if (!put(cell, "count", json_null()) || !put(cell, "suppressed", json_true())) {
            goto out;
        }
    }
    if (!put(tab, "total", t->total_withheld ? json_null() : json_integer((json_int_t)r->total)))
        goto out;
    for (size_t d = 0; d < r->ndims && r->ndims > 1; d++) {
        for (size_t l = 0; l < t->nlines[d]; l++) {
            json_t *w;

            if (!t->line_withheld[d][l])
                continue;
            w = json_object();
            if (!append(wh, w) || !put(w, "over", json_string(r->dim[d])))
                goto out;
            hl_disclosure_coords(t, hl_disclosure_line_cell(t, d, l, 0), co);
            for (size_t e = 0; e < r->ndims; e++)
                if (e != d && !put(w, r->dim[e], json_string(r->vals[e][co[e]])))
                    goto out;
        }
    }
    /* json_object_set_new takes the reference even when it fails */
    rc_ok = put(tab, "dimensions", dims);
    dims = NULL;
    rc_ok = put(tab, "cells", cells) && rc_ok;
    cells = NULL;
    rc_ok = put(tab, "withheld", wh) && rc_ok;
    wh = NULL;
    if (!rc_ok)
        goto out;
    res = tab;
    tab = NULL;
out:
    json_decref(wh);
    json_decref(cells);
    json_decref(dims);
    json_decref(tab);
    return res;
}

static json_t *doc_header(const hl_report_helpline_t *h, int year, int quarter, const char *taxver,
                          uint64_t k, const char *generated_at)
{
    json_t *doc = json_object(), *hl = json_object(), *per = json_object(), *res = NULL;
    char from[32], to[32];

    if (!doc || !hl || !per)
        goto out;
    period_dates(year, quarter, from, to);
    if (!put(hl, "code", json_string(h->code)) || !put(hl, "name", json_string(h->name)) ||
        !put(hl, "country", json_string(h->country)) ||
        !put(hl, "network", h->network ? json_string(h->network) : json_null()))
        goto out;
    if (!put(per, "year", json_integer(year)) || !put(per, "quarter", json_integer(quarter)) ||
        !put(per, "from", json_string(from)) || !put(per, "to", json_string(to)))
        goto out;
    if (!put(doc, "format", json_string(HL_REPORT_FORMAT)) || !put(doc, "helpline", json_incref(hl)) ||
        !put(doc, "period", json_incref(per)) || !put(doc, "taxonomy_version", json_string(taxver)) ||
        !put(doc, "k", json_integer((json_int_t)k)) || !put(doc, "generated_at", json_string(generated_at)) ||
        !put(doc, "tables", json_object()))
        goto out;
    res = doc;
    doc = NULL;
out:
    json_decref(per);
    json_decref(hl);
    json_decref(doc);
    return res;
}

/* ---- build ------------------------------------------------------------------------------------ */

static int check_table_input(const hl_report_table_t *tb, hl_report_error_t *err)
{
    if (!valid_name(tb->name) || tb->ndims < 1 || tb->ndims > HL_DISCLOSURE_MAX_DIMS || !tb->counts) {
        seterr(err, "a table has a bad name, dimensions or counts");
        return HL_EINVAL;
    }
    for (size_t d = 0; d < tb->ndims; d++) {
        const hl_report_dim_t *dm = &tb->dims[d];

        if (!valid_dim_name(dm->name) || dm->nvalues < 1 || !dm->values) {
            seterr(err, "table %s: bad dimension %zu", tb->name, d);
            return HL_EINVAL;
        }
        for (size_t e = 0; e < d; e++)
            if (strcmp(tb->dims[e].name, dm->name) == 0) {
                seterr(err, "table %s: dimension %s twice", tb->name, dm->name);
                return HL_EINVAL;
            }
        for (size_t i = 0; i < dm->nvalues; i++) {
            if (!valid_text(dm->values[i], HL_REPORT_VALUE_MAX)) {
                seterr(err, "table %s: bad value %zu of %s", tb->name, i, dm->name);
                return HL_EINVAL;
            }
            for (size_t j = 0; j < i; j++)
                if (strcmp(dm->values[i], dm->values[j]) == 0) {
                    seterr(err, "table %s: repeated value in %s", tb->name, dm->name);
                    return HL_EINVAL;
                }
        }
    }
    return HL_OK;
}

/* Carries PRESET's suppressed cells and withheld totals over to T (same shape). */
static int preset_table(hl_disclosure_table_t *t, const hl_disclosure_table_t *preset)
{
    if (preset->ndims != t->ndims || memcmp(preset->dims, t->dims, t->ndims * sizeof(t->dims[0])) != 0)
        return HL_EINVAL;
    for (size_t c = 0; c < t->ncells; c++)
        if (hl_disclosure_suppressed(preset, c))
            t->state[c] = HL_DISCLOSURE_UNKNOWN;
    for (size_t d = 0; d < t->ndims; d++)
        for (size_t l = 0; l < t->nlines[d]; l++)
            if (preset->line_withheld[d][l])
                hl_disclosure_withhold_line(t, d, l);
    if (preset->total_withheld)
        hl_disclosure_withhold_total(t);
    return HL_OK;
}

int hl_report_build(const hl_report_input_t *in, json_t **out, hl_report_error_t *err)
{
    json_t *doc = NULL, *tables;
    rtab_t r;
    int rc = HL_EINVAL;

    memset(&r, 0, sizeof(r));
    if (!in || !out) {
        seterr(err, "no input");
        goto out;
    }
    if (!valid_helpline(&in->helpline)) {
        seterr(err, "bad helpline code, name, country or network");
        goto out;
    }
    if (in->year < 2000 || in->year > 9999 || in->quarter < 1 || in->quarter > 4) {
        seterr(err, "bad year or quarter");
        goto out;
    }
    if (!valid_text(in->taxonomy_version, TAXVER_MAX) || in->k < 1 || in->k > K_MAX ||
        !valid_timestamp(in->generated_at)) {
        seterr(err, "bad taxonomy_version, k or generated_at");
        goto out;
    }
    if (in->ntables < 1 || in->ntables > MAX_TABLES || !in->tables) {
        seterr(err, "a report has 1..%d tables", MAX_TABLES);
        goto out;
    }
    for (size_t i = 0; i < in->ntables; i++) {
        rc = check_table_input(&in->tables[i], err);
        if (rc < 0)
            goto out;
        rc = HL_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->tables[i].name, in->tables[j].name) == 0) {
                seterr(err, "table %s twice", in->tables[i].name);
                goto out;
            }
    }
    rc = HL_ENOMEM;
    doc = doc_header(&in->helpline, in->year, in->quarter, in->taxonomy_version, in->k, in->generated_at);
    if (!doc)
        goto out;
    tables = json_object_get(doc, "tables");
    for (size_t i = 0; i < in->ntables; i++) {
        const hl_report_table_t *tb = &in->tables[i];
        size_t dims[HL_DISCLOSURE_MAX_DIMS];

        r.name = tb->name;
        r.ndims = tb->ndims;
        for (size_t d = 0; d < tb->ndims; d++) {
            r.dim[d] = tb->dims[d].name;
            r.nvals[d] = dims[d] = tb->dims[d].nvalues;
            r.vals[d] = malloc(dims[d] * sizeof(char *));
            if (!r.vals[d])
                goto out;
            for (size_t j = 0; j < dims[d]; j++)
                r.vals[d][j] = tb->dims[d].values[j];
        }
        rc = hl_disclosure_table_new(tb->ndims, dims, &r.t);
        if (rc < 0) {
            seterr(err, "table %s: too many cells", tb->name);
            goto out;
        }
        rc = HL_EINVAL;
        for (size_t c = 0; c < r.t->ncells; c++) {
            if (tb->counts[c] > HL_REPORT_COUNT_MAX || r.total + tb->counts[c] > HL_REPORT_COUNT_MAX) {
                seterr(err, "table %s: count too large", tb->name);
                goto out;
            }
            r.t->counts[c] = tb->counts[c];
            r.total += tb->counts[c];
        }
        if (tb->preset && preset_table(r.t, tb->preset) < 0) {
            seterr(err, "table %s: the preset has another shape", tb->name);
            goto out; /* rc is HL_EINVAL */
        }
        rc = hl_disclosure_apply(r.t, in->k);
        if (rc < 0) {
            seterr(err, "table %s: disclosure control failed (%s)", tb->name, hl_strerror(rc));
            goto out;
        }
        rc = HL_ENOMEM;
        if (!put(tables, tb->name, rtab_to_json(&r)))
            goto out;
        rtab_clear(&r);
    }
    *out = doc;
    doc = NULL;
    rc = HL_OK;
out:
    if (rc == HL_ENOMEM)
        seterr(err, "out of memory");
    rtab_clear(&r);
    json_decref(doc);
    return rc;
}

/* ---- canonical form, signing, verifying ------------------------------------------------------ */

int hl_report_canonical(json_t *doc, char **out, size_t *len)
{
    json_t *copy = NULL;
    char *s = NULL;
    int rc = HL_EINVAL;

    if (!json_is_object(doc) || !out)
        goto out;
    rc = HL_ENOMEM;
    copy = json_copy(doc); /* shallow: the members are shared, not copied */
    if (!copy)
        goto out;
    json_object_del(copy, "signature");
    s = json_dumps(copy, CANONICAL_FLAGS);
    if (!s)
        goto out;
    if (len)
        *len = strlen(s);
    *out = s;
    rc = HL_OK;
out:
    json_decref(copy);
    return rc;
}

int hl_report_sign(json_t *doc, hl_crypto_signer_t *signer)
{
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], sig[HL_CRYPTO_SIGN_BYTES];
    char key_id[HL_CRYPTO_SIGN_KEY_ID_LEN + 1], b64[HL_CRYPTO_SIGN_B64_LEN + 1];
    json_t *so = NULL;
    char *canon = NULL;
    size_t len = 0;
    int rc = HL_EINVAL;

    if (!json_is_object(doc) || !signer)
        goto out;
    rc = hl_report_canonical(doc, &canon, &len);
    if (rc < 0)
        goto out;
    rc = hl_crypto_sign(signer, (const uint8_t *)canon, len, sig);
    if (rc < 0)
        goto out;
    hl_crypto_signer_public_key(signer, pk);
    hl_crypto_sign_key_id(pk, key_id);
    hl_crypto_sign_to_b64(sig, b64);
    rc = HL_ENOMEM;
    so = json_object();
    if (!so || !put(so, "alg", json_string("ed25519")) || !put(so, "key_id", json_string(key_id)) ||
        !put(so, "value", json_string(b64)))
        goto out;
    if (json_object_set(doc, "signature", so) != 0)
        goto out;
    rc = HL_OK;
out:
    json_decref(so);
    free(canon);
    return rc;
}

int hl_report_verify(json_t *doc, const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES])
{
    uint8_t sig[HL_CRYPTO_SIGN_BYTES];
    char key_id[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];
    const char *alg, *kid, *value;
    json_t *so;
    char *canon = NULL;
    size_t len = 0;
    int rc = HL_ECRYPTO;

    if (!json_is_object(doc) || !pk)
        goto out;
    so = json_object_get(doc, "signature");
    if (!json_is_object(so) || json_object_size(so) != 3)
        goto out;
    alg = json_string_value(json_object_get(so, "alg"));
    kid = json_string_value(json_object_get(so, "key_id"));
    value = json_string_value(json_object_get(so, "value"));
    if (!alg || !kid || !value || strcmp(alg, "ed25519") != 0)
        goto out;
    hl_crypto_sign_key_id(pk, key_id);
    if (strcmp(kid, key_id) != 0 || hl_crypto_sign_from_b64(value, sig) < 0)
        goto out;
    rc = hl_report_canonical(doc, &canon, &len);
    if (rc < 0)
        goto out;
    rc = hl_crypto_verify(pk, (const uint8_t *)canon, len, sig) < 0 ? HL_ECRYPTO : HL_OK;
out:
    free(canon);
    return rc;
}

int hl_report_verify_b64(json_t *doc, const char *pk_b64)
{
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];

    if (!pk_b64 || hl_crypto_sign_pk_from_b64(pk_b64, pk) < 0)
        return HL_EINVAL;
    return hl_report_verify(doc, pk);
}

/* ---- validation -------------------------------------------------------------------------------- */

/* Exactly the keys in KEYS (NULL-terminated) are present, plus those in OPT (may be NULL). */
static bool exact_keys(json_t *obj, const char *const *keys, const char *const *opt)
{
    size_t n = 0;
    const char *key;
    json_t *v;

    for (size_t i = 0; keys[i]; i++) {
        if (!json_object_get(obj, keys[i]))
            return false;
        n++;
    }
    json_object_foreach(obj, key, v)
    {
        bool ok = false;

        (void)v;
        for (size_t i = 0; keys[i] && !ok; i++)
            ok = strcmp(keys[i], key) == 0;
        for (size_t i = 0; opt && opt[i] && !ok; i++)
            ok = strcmp(opt[i], key) == 0;
        if (!ok)
            return false;
    }
    return n <= json_object_size(obj);
}

static bool json_count(json_t *v, uint64_t *out)
{
    json_int_t i;

    if (!json_is_integer(v))
        return false;
    i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > HL_REPORT_COUNT_MAX)
        return false;
    *out = (uint64_t)i;
    return true;
}

static size_t value_index(const rtab_t *r, size_t d, const char *v)
{
    for (size_t i = 0; i < r->nvals[d]; i++)
        if (strcmp(r->vals[d][i], v) == 0)
            return i;
    return SIZE_MAX;
}

/* The dimension values in order of first appearance; the cells must then be the full
 * product in row-major order. */
static int collect_values(rtab_t *r, json_t *cells, hl_report_error_t *err)
{
    size_t ncells = json_array_size(cells), product = 1;

    for (size_t d = 0; d < r->ndims; d++) {
        r->vals[d] = malloc(ncells * sizeof(char *));
        if (!r->vals[d])
            return HL_ENOMEM;
    }
    for (size_t c = 0; c < ncells; c++) {
        json_t *cell = json_array_get(cells, c);

        if (!json_is_object(cell)) {
            seterr(err, "table %s: cell %zu is not an object", r->name, c);
            return HL_EINVAL;
        }
        for (size_t d = 0; d < r->ndims; d++) {
            const char *v = json_string_value(json_object_get(cell, r->dim[d]));

            if (!valid_text(v, HL_REPORT_VALUE_MAX)) {
                seterr(err, "table %s: cell %zu: bad or missing %s", r->name, c, r->dim[d]);
                return HL_EINVAL;
            }
            if (value_index(r, d, v) == SIZE_MAX)
                r->vals[d][r->nvals[d]++] = v;
        }
    }
    for (size_t d = 0; d < r->ndims && product <= ncells; d++)
        product *= r->nvals[d]; /* each factor <= ncells <= HL_DISCLOSURE_MAX_CELLS: no overflow */
    if (product != ncells) {
        seterr(err, "table %s: cells are not every combination of the dimension values", r->name);
        return HL_EINVAL;
    }
    return HL_OK;
}

static int parse_cells(rtab_t *r, json_t *cells, uint64_t k, hl_report_error_t *err)
{
    size_t co[HL_DISCLOSURE_MAX_DIMS];
    uint64_t sum = 0;

    for (size_t c = 0; c < r->t->ncells; c++) {
        json_t *cell = json_array_get(cells, c), *cnt = json_object_get(cell, "count");
        json_t *sup = json_object_get(cell, "suppressed");
        size_t nkeys = r->ndims + 1 + (sup != NULL);

        hl_disclosure_coords(r->t, c, co);
        for (size_t d = 0; d < r->ndims; d++)
            if (strcmp(json_string_value(json_object_get(cell, r->dim[d])), r->vals[d][co[d]]) != 0) {
                seterr(err, "table %s: cell %zu out of row-major order", r->name, c);
                return HL_EINVAL;
            }
        if (!cnt || json_object_size(cell) != nkeys) {
            seterr(err, "table %s: cell %zu: missing count or unknown member", r->name, c);
            return HL_EINVAL;
        }
        if (sup) {
            if (!json_is_true(sup) || !json_is_null(cnt)) {
                seterr(err, "table %s: cell %zu: a suppressed cell has count null", r->name, c);
                return HL_EINVAL;
            }
            r->t->state[c] = HL_DISCLOSURE_UNKNOWN;
            continue;
        }
        if (!json_count(cnt, &r->t->counts[c])) {
            seterr(err, "table %s: cell %zu: count is not an integer 0..2^53-1", r->name, c);
            return HL_EINVAL;
        }
        if (r->t->counts[c] > 0 && r->t->counts[c] < k) {
            seterr(err, "table %s: cell %zu: published count below k", r->name, c);
            return HL_EINVAL;
        }
        sum += r->t->counts[c];
        if (sum > HL_REPORT_COUNT_MAX) {
            seterr(err, "table %s: counts too large", r->name);
            return HL_EINVAL;
        }
    }
    if (!r->t->total_withheld &&
        (r->total < sum || (hl_disclosure_count_suppressed(r->t) == 0 && r->total != sum))) {
        seterr(err, "table %s: total does not match the cells", r->name);
        return HL_EINVAL;
    }
    return HL_OK;
}

static int parse_withheld(rtab_t *r, json_t *wh, hl_report_error_t *err)
{
    size_t co[HL_DISCLOSURE_MAX_DIMS];

    if (!json_is_array(wh) || (r->ndims == 1 && json_array_size(wh) != 0)) {
        seterr(err, "table %s: bad withheld list", r->name);
        return HL_EINVAL;
    }
    for (size_t i = 0; i < json_array_size(wh); i++) {
        json_t *w = json_array_get(wh, i);
        const char *over = json_string_value(json_object_get(w, "over"));
        size_t d = SIZE_MAX, line;

        for (size_t e = 0; e < r->ndims && over; e++)
            if (strcmp(r->dim[e], over) == 0)
                d = e;
        if (d == SIZE_MAX || json_object_size(w) != r->ndims) {
            seterr(err, "table %s: withheld %zu: bad dimensions", r->name, i);
            return HL_EINVAL;
        }
        for (size_t e = 0; e < r->ndims; e++) {
            const char *v = e == d ? r->vals[e][0] : json_string_value(json_object_get(w, r->dim[e]));

            co[e] = v ? value_index(r, e, v) : SIZE_MAX;
            if (co[e] == SIZE_MAX) {
                seterr(err, "table %s: withheld %zu: bad value of %s", r->name, i, r->dim[e]);
                return HL_EINVAL;
            }
        }
        line = hl_disclosure_line_of(r->t, d, hl_disclosure_index(r->t, co));
        if (r->t->line_withheld[d][line]) {
            seterr(err, "table %s: withheld %zu: listed twice", r->name, i);
            return HL_EINVAL;
        }
        hl_disclosure_withhold_line(r->t, d, line);
    }
    return HL_OK;
}

static int rtab_from_json(rtab_t *r, const char *name, json_t *tab, uint64_t k, hl_report_error_t *err)
{
    static const char *const keys[] = {"dimensions", "cells", "total", "withheld", NULL};
    json_t *dims, *cells, *total;
    size_t sizes[HL_DISCLOSURE_MAX_DIMS];
    int rc = HL_EINVAL;

    r->name = name;
    if (!valid_name(name) || !json_is_object(tab) || !exact_keys(tab, keys, NULL)) {
        seterr(err, "table %s: bad name or members", valid_name(name) ? name : "?");
        goto out;
    }
    dims = json_object_get(tab, "dimensions");
    cells = json_object_get(tab, "cells");
    total = json_object_get(tab, "total");
    r->ndims = json_array_size(dims);
    if (!json_is_array(dims) || r->ndims < 1 || r->ndims > HL_DISCLOSURE_MAX_DIMS) {
        seterr(err, "table %s: 1..%d dimensions", name, HL_DISCLOSURE_MAX_DIMS);
        goto out;
    }
    for (size_t d = 0; d < r->ndims; d++) {
        r->dim[d] = json_string_value(json_array_get(dims, d));
        if (!valid_dim_name(r->dim[d])) {
            seterr(err, "table %s: bad dimension name", name);
            goto out;
        }
        for (size_t e = 0; e < d; e++)
            if (strcmp(r->dim[e], r->dim[d]) == 0) {
                seterr(err, "table %s: dimension %s twice", name, r->dim[d]);
                goto out;
            }
    }
    if (!json_is_array(cells) || json_array_size(cells) < 1 ||
        json_array_size(cells) > HL_DISCLOSURE_MAX_CELLS) {
        seterr(err, "table %s: 1..%d cells", name, HL_DISCLOSURE_MAX_CELLS);
        goto out;
    }
    rc = collect_values(r, cells, err);
    if (rc < 0)
        goto out;
    for (size_t d = 0; d < r->ndims; d++)
        sizes[d] = r->nvals[d];
    rc = hl_disclosure_table_new(r->ndims, sizes, &r->t);
    if (rc < 0)
        goto out;
    rc = HL_EINVAL;
    if (json_is_null(total)) {
        hl_disclosure_withhold_total(r->t);
    } else if (!json_count(total, &r->total)) {
        seterr(err, "table %s: total is not an integer 0..2^53-1 or null", name);
        goto out;
    }
    rc = parse_withheld(r, json_object_get(tab, "withheld"), err);
    if (rc < 0)
        goto out;
    rc = parse_cells(r, cells, k, err);
out:
    return rc;
}

/* Validates DOC; with TABS, *TABS gets its tables (sorted by name) and *NTABS their count. */
static int validate(json_t *doc, rtab_t **tabs, size_t *ntabs, hl_report_error_t *err)
{
    static const char *const keys[] = {"format", "helpline",     "period", "taxonomy_version",
                                       "k",      "generated_at", "tables", NULL};
    static const char *const opt[] = {"signature", "sources", NULL};
    static const char *const hl_keys[] = {"code", "name", "country", "network", NULL};
    static const char *const per_keys[] = {"year", "quarter", "from", "to", NULL};
    static const char *const src_keys[] = {"code", "key_id", NULL};
    static const char *const sig_keys[] = {"alg", "key_id", "value", NULL};
    hl_report_helpline_t h;
    json_t *hl, *per, *tables, *v, *src, *sig;
    const char *fmt, *key, **names = NULL;
    char from[32], to[32];
    json_int_t year, quarter, k;
    rtab_t *r = NULL;
    size_t n = 0;
    int rc = HL_EINVAL;

    if (!json_is_object(doc) || !exact_keys(doc, keys, opt)) {
        seterr(err, "not a report: missing or unknown members");
        goto out;
    }
    fmt = json_string_value(json_object_get(doc, "format"));
    if (!fmt || strcmp(fmt, HL_REPORT_FORMAT) != 0) {
        seterr(err, "format is not %s", HL_REPORT_FORMAT);
        goto out;
    }
    hl = json_object_get(doc, "helpline");
    h.code = json_string_value(json_object_get(hl, "code"));
    h.name = json_string_value(json_object_get(hl, "name"));
    h.country = json_string_value(json_object_get(hl, "country"));
    h.network = json_string_value(json_object_get(hl, "network"));
    if (!json_is_object(hl) || !exact_keys(hl, hl_keys, NULL) || !valid_helpline(&h) ||
        (!h.network && !json_is_null(json_object_get(hl, "network")))) {
        seterr(err, "bad helpline");
        goto out;
    }
    per = json_object_get(doc, "period");
    year = json_integer_value(json_object_get(per, "year"));
    quarter = json_integer_value(json_object_get(per, "quarter"));
    if (!json_is_object(per) || !exact_keys(per, per_keys, NULL) ||
        !json_is_integer(json_object_get(per, "year")) || !json_is_integer(json_object_get(per, "quarter")) ||
        year < 2000 || year > 9999 || quarter < 1 || quarter > 4) {
        seterr(err, "bad period");
        goto out;
    }
    period_dates((int)year, (int)quarter, from, to);
    v = json_object_get(per, "from");
    if (!json_is_string(v) || strcmp(json_string_value(v), from) != 0) {
        seterr(err, "bad period");
        goto out;
    }
    v = json_object_get(per, "to");
    if (!json_is_string(v) || strcmp(json_string_value(v), to) != 0) {
        seterr(err, "bad period");
        goto out;
    }
    k = json_integer_value(json_object_get(doc, "k"));
    if (!valid_text(json_string_value(json_object_get(doc, "taxonomy_version")), TAXVER_MAX) ||
        !json_is_integer(json_object_get(doc, "k")) || k < 1 || k > K_MAX ||
        !valid_timestamp(json_string_value(json_object_get(doc, "generated_at")))) {
        seterr(err, "bad taxonomy_version, k or generated_at");
        goto out;
    }
    src = json_object_get(doc, "sources");
    if (src) {
        if (!json_is_array(src) || json_array_size(src) < 1) {
            seterr(err, "bad sources");
            goto out;
        }
        for (size_t i = 0; i < json_array_size(src); i++) {
            json_t *s = json_array_get(src, i);

            if (!json_is_object(s) || !exact_keys(s, src_keys, NULL) ||
                !valid_text(json_string_value(json_object_get(s, "code")), CODE_MAX) ||
                !valid_key_id(json_string_value(json_object_get(s, "key_id")))) {
                seterr(err, "bad sources");
                goto out;
            }
        }
    }
    sig = json_object_get(doc, "signature");
    if (sig &&
        (!json_is_object(sig) || !exact_keys(sig, sig_keys, NULL) ||
         !json_is_string(json_object_get(sig, "alg")) || !json_is_string(json_object_get(sig, "key_id")) ||
         !json_is_string(json_object_get(sig, "value")))) {
        seterr(err, "bad signature member");
        goto out;
    }
    tables = json_object_get(doc, "tables");
    if (!json_is_object(tables) || json_object_size(tables) < 1 || json_object_size(tables) > MAX_TABLES) {
        seterr(err, "a report has 1..%d tables", MAX_TABLES);
        goto out;
    }
    rc = HL_ENOMEM;
    names = calloc(json_object_size(tables), sizeof(char *));
    r = calloc(json_object_size(tables), sizeof(rtab_t));
    if (!names || !r)
        goto out;
    json_object_foreach(tables, key, v)
    {
        size_t i = n++;

        (void)v;
        /* insertion sort by byte value: the canonical order */
        while (i > 0 && strcmp(names[i - 1], key) > 0) {
            names[i] = names[i - 1];
            i--;
        }
        names[i] = key;
    }
    for (size_t i = 0; i < n; i++) {
        rc = rtab_from_json(&r[i], names[i], json_object_get(tables, names[i]), (uint64_t)k, err);
        if (rc < 0) {
            if (rc == HL_ENOMEM)
                seterr(err, "out of memory");
            goto out;
        }
    }
    if (tabs) {
        *tabs = r;
        *ntabs = n;
        r = NULL;
    }
    rc = HL_OK;
out:
    rtabs_free(r, n);
    free(names);
    return rc;
}

int hl_report_validate(json_t *doc, hl_report_error_t *err)
{
    return validate(doc, NULL, NULL, err);
}

int hl_report_parse(const char *text, size_t len, json_t **out, hl_report_error_t *err)
{
    json_error_t jerr;
    json_t *doc = NULL;
    int rc = HL_EINVAL;

    if (!text || !out)
        goto out;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        seterr(err, "not JSON: line %d column %d", jerr.line, jerr.column);
        goto out;
    }
    rc = hl_report_validate(doc, err);
    if (rc < 0)
        goto out;
    *out = doc;
    doc = NULL;
out:
    json_decref(doc);
    return rc;
}

int hl_report_verify_text(const char *text, size_t len, const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES],
                          json_t **out, hl_report_error_t *err)
{
    json_error_t jerr;
    json_t *doc = NULL;
    int rc = HL_EINVAL;

    if (!text || !pk)
        goto out;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        seterr(err, "not a report: not a JSON object");
        goto out;
    }
    rc = hl_report_verify(doc, pk);
    if (rc < 0) {
        seterr(err, "the signature does not verify with this key");
        goto out;
    }
    rc = hl_report_validate(doc, err);
    if (rc < 0)
        goto out;
    if (out) {
        *out = doc;
        doc = NULL;
    }
out:
    json_decref(doc);
    return rc;
}

int hl_report_to_json(json_t *doc, char **out, size_t *len)
{
    char *s = NULL, *r = NULL;
    size_t n;
    int rc = HL_EINVAL;

    if (!json_is_object(doc) || !out)
        goto out;
    rc = HL_ENOMEM;
    s = json_dumps(doc, CANONICAL_FLAGS);
    if (!s)
        goto out;
    n = strlen(s);
    r = malloc(n + 2);
    if (!r)
        goto out;
    memcpy(r, s, n);
    r[n] = '\n';
    r[n + 1] = '\0';
    if (len)
        *len = n + 1;
    *out = r;
    rc = HL_OK;
out:
    free(s);
    return rc;
}

/* ---- CSV ------------------------------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One field (RFC 4180), preceded by a comma unless FIRST. */
static void csv_field(buf_t *b, const char *s, bool first)
{
    if (!first)
        buf_add(b, ",", 1);
    if (!s)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        buf_add(b, s, strlen(s));
        return;
    }
    buf_add(b, "\"", 1);
    for (const char *q = s; *q; q++) {
        if (*q == '"')
            buf_add(b, "\"\"", 2);
        else
            buf_add(b, q, 1);
    }
    buf_add(b, "\"", 1);
}

/* A row: table, kind, then for each of N dimension slots the name and value (VALS[d] NULL
 * for an empty value, DIMS NULL for no dimensions), count (NULL: empty), suppressed. */
static void csv_row(buf_t *b, const char *table, const char *kind, const rtab_t *r, const char *const *vals,
                    size_t nslots, const char *count, bool suppressed)
{
    csv_field(b, table, true);
    csv_field(b, kind, false);
    for (size_t d = 0; d < nslots; d++) {
        bool has = r && vals && d < r->ndims;

        csv_field(b, has ? r->dim[d] : NULL, false);
        csv_field(b, has ? vals[d] : NULL, false);
    }
    csv_field(b, count, false);
    csv_field(b, suppressed ? "true" : "false", false);
    buf_add(b, "\r\n", 2);
}

int hl_report_to_csv(json_t *doc, char **out, size_t *len)
{
    rtab_t *tabs = NULL;
    size_t ntabs = 0, nslots = 1;
    buf_t b = {NULL, 0, 0, false};
    char num[24];
    int rc;

    rc = validate(doc, &tabs, &ntabs, NULL);
    if (rc < 0 || !out)
        goto out;
    for (size_t i = 0; i < ntabs; i++)
        if (tabs[i].ndims > nslots)
            nslots = tabs[i].ndims;
    csv_field(&b, "table", true);
    csv_field(&b, "kind", false);
    for (size_t d = 1; d <= nslots; d++) {
        snprintf(num, sizeof(num), "dimension_%zu", d);
        csv_field(&b, num, false);
        snprintf(num, sizeof(num), "value_%zu", d);
        csv_field(&b, num, false);
    }
    csv_field(&b, "count", false);
    csv_field(&b, "suppressed", false);
    buf_add(&b, "\r\n", 2);
    for (size_t i = 0; i < ntabs; i++) {
        const rtab_t *r = &tabs[i];
        const hl_disclosure_table_t *t = r->t;
        const char *vals[HL_DISCLOSURE_MAX_DIMS];
        size_t co[HL_DISCLOSURE_MAX_DIMS];

        for (size_t c = 0; c < t->ncells; c++) {
            bool sup = hl_disclosure_suppressed(t, c);

            hl_disclosure_coords(t, c, co);
            for (size_t d = 0; d < r->ndims; d++)
                vals[d] = r->vals[d][co[d]];
            snprintf(num, sizeof(num), "%llu", (unsigned long long)t->counts[c]);
            csv_row(&b, r->name, "cell", r, vals, nslots, sup ? NULL : num, sup);
        }
        snprintf(num, sizeof(num), "%llu", (unsigned long long)r->total);
        csv_row(&b, r->name, "total", NULL, NULL, nslots, t->total_withheld ? NULL : num, t->total_withheld);
        for (size_t d = 0; d < r->ndims && r->ndims > 1; d++) {
            for (size_t l = 0; l < t->nlines[d]; l++) {
                if (!t->line_withheld[d][l])
                    continue;
                hl_disclosure_coords(t, hl_disclosure_line_cell(t, d, l, 0), co);
                for (size_t e = 0; e < r->ndims; e++)
                    vals[e] = e == d ? NULL : r->vals[e][co[e]];
                csv_row(&b, r->name, "margin", r, vals, nslots, NULL, true);
            }
        }
    }
    rc = HL_ENOMEM;
    if (b.oom)
        goto out;
    if (len)
        *len = b.len;
    *out = b.p;
    b.p = NULL;
    rc = HL_OK;
out:
    free(b.p);
    rtabs_free(tabs, ntabs);
    return rc;
}

/* ---- merge -------------------------------------------------------------------------------------- */

/* The first table (by name) of A that B lacks, or NULL. */
static const char *missing_table(const rtab_t *a, size_t na, const rtab_t *b, size_t nb)
{
    for (size_t i = 0; i < na; i++) {
        bool found = false;

        for (size_t j = 0; j < nb && !found; j++)
            found = strcmp(a[i].name, b[j].name) == 0;
        if (!found)
            return a[i].name;
    }
    return NULL;
}

/* Checks that input I has input 0's tables: a report of an older helplined lacks the tables
 * added since (docs/report-format.md, "Versions"); the message names one. */
static int same_tables(rtab_t *const *tabs, const size_t *ntabs, size_t i, hl_report_error_t *err)
{
    const char *name = missing_table(tabs[0], ntabs[0], tabs[i], ntabs[i]);

    if (name != NULL) {
        seterr(
            err,
            "input %zu has no table %s (input 0 has it): fetch every report from the same helplined version",
            i, name);
        return HL_ECONFLICT;
    }
    if ((name = missing_table(tabs[i], ntabs[i], tabs[0], ntabs[0])) != NULL) {
        seterr(
            err,
            "input 0 has no table %s (input %zu has it): fetch every report from the same helplined version",
            name, i);
        return HL_ECONFLICT;
    }
    return HL_OK;
}

static int same_structure(const rtab_t *a, const rtab_t *b, hl_report_error_t *err, size_t input)
{
    bool same = strcmp(a->name, b->name) == 0 && a->ndims == b->ndims;

    for (size_t d = 0; same && d < a->ndims; d++) {
        same = strcmp(a->dim[d], b->dim[d]) == 0 && a->nvals[d] == b->nvals[d];
        for (size_t i = 0; same && i < a->nvals[d]; i++)
            same = strcmp(a->vals[d][i], b->vals[d][i]) == 0;
    }
    if (!same) {
        seterr(err, "input %zu: table %s differs in dimensions or values from input 0", input, a->name);
        return HL_ECONFLICT;
    }
    return HL_OK;
}

static int merge_table(rtab_t *m, rtab_t *const *in, size_t n, size_t ti, uint64_t k, hl_report_error_t *err)
{
    const rtab_t *first = &in[0][ti];
    bool total_known = true;
    int rc;

    *m = *first;
    memset(m->vals, 0, sizeof(m->vals));
    m->t = NULL;
    m->total = 0;
    for (size_t d = 0; d < m->ndims; d++) {
        m->vals[d] = malloc(m->nvals[d] * sizeof(char *));
        if (!m->vals[d])
            return HL_ENOMEM;
        memcpy(m->vals[d], first->vals[d], m->nvals[d] * sizeof(char *));
    }
    rc = hl_disclosure_table_new(m->ndims, m->nvals, &m->t);
    if (rc < 0)
        return rc;
    /* Cells suppressed in any input are unknown, totals withheld in any input withheld. */
    for (size_t i = 0; i < n; i++) {
        const rtab_t *part = &in[i][ti];

        if (hl_disclosure_add(m->t, part->t, SIZE_MAX, 0) < 0) {
            seterr(err, "table %s: sum too large", m->name);
            return HL_EINVAL;
        }
        if (part->t->total_withheld)
            total_known = false;
        else
            m->total += part->total;
        if (m->total > HL_REPORT_COUNT_MAX) {
            seterr(err, "table %s: sum too large", m->name);
            return HL_EINVAL;
        }
    }
    for (size_t c = 0; c < m->t->ncells; c++) {
        if (m->t->counts[c] > HL_REPORT_COUNT_MAX) {
            seterr(err, "table %s: sum too large", m->name);
            return HL_EINVAL;
        }
    }
    if (!total_known)
        m->total = 0;
    rc = hl_disclosure_apply(m->t, k);
    if (rc < 0)
        seterr(err, "table %s: disclosure control failed (%s)", m->name, hl_strerror(rc));
    return rc;
}

int hl_report_merge(json_t *const *inputs, const uint8_t (*pks)[HL_CRYPTO_SIGN_PK_BYTES], size_t n,
                    const hl_report_helpline_t *network, const char *generated_at, hl_crypto_signer_t *signer,
                    json_t **out, hl_report_error_t *err)
{
    rtab_t **tabs = NULL, m;
    size_t *ntabs = NULL;
    json_t *doc = NULL, *sources, *tables, *first_per;
    const char *taxver;
    uint64_t k = 1;
    int rc = HL_EINVAL;

    memset(&m, 0, sizeof(m));
    if (!inputs || !pks || n < 1 || !out || !signer) {
        seterr(err, "no inputs");
        goto out;
    }
    if (!valid_helpline(network) || !valid_timestamp(generated_at)) {
        seterr(err, "bad network helpline or generated_at");
        goto out;
    }
    rc = HL_ENOMEM;
    tabs = calloc(n, sizeof(*tabs));
    ntabs = calloc(n, sizeof(*ntabs));
    if (!tabs || !ntabs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        rc = hl_report_verify(inputs[i], pks[i]);
        if (rc < 0) {
            seterr(err, "input %zu: the signature does not verify with its key", i);
            goto out;
        }
        rc = validate(inputs[i], &tabs[i], &ntabs[i], err);
        if (rc < 0)
            goto out;
    }
    /* Everything must describe the same period, vocabulary and tables. */
    rc = HL_ECONFLICT;
    first_per = json_object_get(inputs[0], "period");
    taxver = json_string_value(json_object_get(inputs[0], "taxonomy_version"));
    for (size_t i = 0; i < n; i++) {
        json_t *per = json_object_get(inputs[i], "period");
        const char *code = json_string_value(json_object_get(json_object_get(inputs[i], "helpline"), "code"));
        uint64_t ki = (uint64_t)json_integer_value(json_object_get(inputs[i], "k"));

        if (!json_equal(per, first_per)) {
            seterr(err, "input %zu: a different period than input 0", i);
            goto out;
        }
        if (strcmp(json_string_value(json_object_get(inputs[i], "taxonomy_version")), taxver) != 0) {
            seterr(err, "input %zu: a different taxonomy version than input 0", i);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_object_get(json_object_get(inputs[j], "helpline"), "code")),
                       code) == 0) {
                seterr(err, "input %zu: helpline %s already merged (input %zu)", i, code, j);
                goto out;
            }
        rc = same_tables(tabs, ntabs, i, err);
        if (rc < 0)
            goto out;
        for (size_t ti = 0; ti < ntabs[0]; ti++) {
            rc = same_structure(&tabs[0][ti], &tabs[i][ti], err, i);
            if (rc < 0)
                goto out;
        }
        rc = HL_ECONFLICT;
        if (ki > k)
            k = ki;
    }
    rc = HL_ENOMEM;
    doc = doc_header(network, (int)json_integer_value(json_object_get(first_per, "year")),
                     (int)json_integer_value(json_object_get(first_per, "quarter")), taxver, k, generated_at);
    if (!doc)
        goto out;
    sources = json_array();
    if (!put(doc, "sources", sources))
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_object();
        char key_id[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];

        hl_crypto_sign_key_id(pks[i], key_id);
        if (!append(sources, s) ||
            !put(s, "code", json_copy(json_object_get(json_object_get(inputs[i], "helpline"), "code"))) ||
            !put(s, "key_id", json_string(key_id)))
            goto out;
    }
    tables = json_object_get(doc, "tables");
    for (size_t ti = 0; ti < ntabs[0]; ti++) {
        rc = merge_table(&m, tabs, n, ti, k, err);
        if (rc < 0)
            goto out;
        rc = HL_ENOMEM;
        if (!put(tables, m.name, rtab_to_json(&m)))
            goto out;
        rtab_clear(&m);
    }
    rc = hl_report_sign(doc, signer);
    if (rc < 0)
        goto out;
    *out = doc;
    doc = NULL;
out:
    if (rc == HL_ENOMEM)
        seterr(err, "out of memory");
    rtab_clear(&m);
    json_decref(doc);
    for (size_t i = 0; tabs && i < n; i++)
        rtabs_free(tabs[i], ntabs[i]);
    free(ntabs);
    free(tabs);
    return rc;
}
