/* Asterisk cdr_csv lines (cdr_csv.h). */
#include "cdr_csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[HL_CDR_N_FIELDS] = {
    "accountcode", "src",      "dst",      "dcontext",  "clid",        "channel",  "dstchannel",
    "lastapp",     "lastdata", "start",    "answer",    "end",         "duration", "billsec",
    "disposition", "amaflags", "uniqueid", "userfield", "peeraccount", "linkedid", "sequence",
};

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

const char *hl_cdr_field_name(hl_cdr_field_t f)
{
    return (unsigned)f < HL_CDR_N_FIELDS ? names[f] : NULL;
}

int hl_cdr_columns_parse(const char *spec, hl_cdr_columns_t *out, char *err, size_t errlen)
{
    hl_cdr_columns_t c = {0};
    size_t n_preset = 0;

    if (spec == NULL || spec[0] == '\0')
        return fail(err, errlen, "the column list is empty");
    if (strcmp(spec, "default") == 0)
        n_preset = HL_CDR_AMAFLAGS + 1;
    else if (strcmp(spec, "uniqueid") == 0)
        n_preset = HL_CDR_USERFIELD + 1;
    else if (strcmp(spec, "all") == 0)
        n_preset = HL_CDR_SEQUENCE + 1;
    if (n_preset > 0) {
        for (size_t i = 0; i < n_preset; i++)
            c.col[i] = (hl_cdr_field_t)i;
        c.n = n_preset;
        *out = c;
        return HL_OK;
    }
    for (const char *p = spec;;) {
        size_t len = strcspn(p, ","), i;
        if (c.n == HL_CDR_MAX_COLUMNS)
            return fail(err, errlen, "more than %d columns", HL_CDR_MAX_COLUMNS);
        if (len == 1 && p[0] == '_') {
            c.col[c.n++] = HL_CDR_IGNORE;
        } else {
            for (i = 0; i < HL_CDR_N_FIELDS; i++)
                if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0)
                    break;
            if (i == HL_CDR_N_FIELDS)
                return fail(err, errlen, "unknown column '%.*s' (cdr_csv names, or _ to ignore one)",
                            (int)(len > 40 ? 40 : len), p);
            if (hl_cdr_columns_has(&c, (hl_cdr_field_t)i))
                return fail(err, errlen, "column '%s' given twice", names[i]);
            c.col[c.n++] = (hl_cdr_field_t)i;
        }
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *out = c;
    return HL_OK;
}

bool hl_cdr_columns_has(const hl_cdr_columns_t *cols, hl_cdr_field_t f)
{
    for (size_t i = 0; i < cols->n; i++)
        if (cols->col[i] == f)
            return true;
    return false;
}

int hl_cdr_record_parse(const char *line, size_t len, const hl_cdr_columns_t *cols, hl_cdr_record_t *out,
                        char *err, size_t errlen)
{
    size_t i = 0, o = 0, field = 0;
    char *b = out->buf;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > HL_CDR_LINE_MAX)
        return fail(err, errlen, "line longer than %d bytes", HL_CDR_LINE_MAX);
    for (size_t k = 0; k < HL_CDR_N_FIELDS; k++)
        out->f[k] = "";
    if (len == 0)
        return fail(err, errlen, "empty line");
    for (;;) {
        size_t start = o;
        if (i < len && line[i] == '"') {
            /* Quoted: "" is a quote; the field ends at the closing quote, then , or the end. */
            for (i++;; i++) {
                if (i >= len)
                    return fail(err, errlen, "field %zu: quote not closed", field + 1);
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        b[o++] = '"';
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                b[o++] = line[i];
            }
            if (i < len && line[i] != ',')
                return fail(err, errlen, "field %zu: text after the closing quote", field + 1);
        } else {
            for (; i < len && line[i] != ','; i++) {
                if (line[i] == '"')
                    return fail(err, errlen, "field %zu: quote inside an unquoted field", field + 1);
                b[o++] = line[i];
            }
        }
        b[o++] = '\0';
        if (field < cols->n && cols->col[field] != HL_CDR_IGNORE)
            out->f[cols->col[field]] = b + start;
        field++;
        if (i >= len)
            break;
        i++; /* the comma */
        if (i == len) {
            /* A trailing comma: one more, empty field. */
            b[o++] = '\0';
            if (field < cols->n && cols->col[field] != HL_CDR_IGNORE)
                out->f[cols->col[field]] = b + o - 1;
            field++;
            break;
        }
    }
    if (field != cols->n) {
        for (size_t k = 0; k < HL_CDR_N_FIELDS; k++)
            out->f[k] = "";
        return fail(err, errlen, "%zu fields where the column set has %zu", field, cols->n);
    }
    return HL_OK;
}
