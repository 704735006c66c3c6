/*
 * Asterisk cdr_csv records (Master.csv): the column list and one line's parser.
 *
 * cdr_csv writes one record per line: text fields in double quotes with an embedded quote
 * doubled, numbers (duration, billsec) bare, fields separated by commas. The parser takes
 * RFC 4180 quoting on one line (a record never spans lines in cdr_csv; a quote left open at
 * the end of the line makes the line malformed). The column set depends on cdr.conf
 * ([csv] loguniqueid, loguserfield, newcdrcolumns), so it is configurable: three presets or
 * a comma list of names (docs/front-ends.md).
 */
#ifndef HL_CDR_CSV_H
#define HL_CDR_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef enum {
    HL_CDR_ACCOUNTCODE = 0,
    HL_CDR_SRC,
    HL_CDR_DST,
    HL_CDR_DCONTEXT,
    HL_CDR_CLID,
    HL_CDR_CHANNEL,
    HL_CDR_DSTCHANNEL,
    HL_CDR_LASTAPP,
    HL_CDR_LASTDATA,
    HL_CDR_START,
    HL_CDR_ANSWER,
    HL_CDR_END,
    HL_CDR_DURATION,
    HL_CDR_BILLSEC,
    HL_CDR_DISPOSITION,
    HL_CDR_AMAFLAGS,
    HL_CDR_UNIQUEID,
    HL_CDR_USERFIELD,
    HL_CDR_PEERACCOUNT,
    HL_CDR_LINKEDID,
    HL_CDR_SEQUENCE,
    HL_CDR_N_FIELDS,
    HL_CDR_IGNORE = HL_CDR_N_FIELDS /* a column that is read and dropped ("_" in a list) */
} hl_cdr_field_t;

#define HL_CDR_MAX_COLUMNS 40
#define HL_CDR_LINE_MAX    16384 /* longer lines are malformed */

typedef struct hl_cdr_columns {
    size_t n;
    hl_cdr_field_t col[HL_CDR_MAX_COLUMNS];
} hl_cdr_columns_t;

/* The field's cdr_csv name ("linkedid"), NULL out of range. */
const char *hl_cdr_field_name(hl_cdr_field_t f);

/*
 * "default" (the 16 columns cdr_csv always writes), "uniqueid" (+ uniqueid, userfield:
 * loguniqueid and loguserfield on), "all" (+ peeraccount, linkedid, sequence: newcdrcolumns
 * on too), or a comma list of field names ("_" for a column to ignore). HL_EINVAL with ERR
 * naming the bad entry.
 */
int hl_cdr_columns_parse(const char *spec, hl_cdr_columns_t *out, char *err, size_t errlen) HL_MUSTCHECK;

bool hl_cdr_columns_has(const hl_cdr_columns_t *cols, hl_cdr_field_t f);

/* One parsed line: each known field's value (NUL-terminated, "" when not in the column set). */
typedef struct hl_cdr_record {
    const char *f[HL_CDR_N_FIELDS];
    char buf[HL_CDR_LINE_MAX + 1];
} hl_cdr_record_t;

/*
 * Parses LINE (LEN bytes, without the line end; a trailing CR is dropped) with COLS.
 * HL_EINVAL with ERR (never a field value) for bad quoting, a line too long, or a number
 * of fields other than COLS->n.
 */
int hl_cdr_record_parse(const char *line, size_t len, const hl_cdr_columns_t *cols, hl_cdr_record_t *out,
                        char *err, size_t errlen) HL_MUSTCHECK;

#endif
