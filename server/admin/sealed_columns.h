/*
 * The registry of sealed columns: every bytea column that holds a lib/crypto envelope,
 * with its table and the id column whose text form is the envelope's record id (the AD).
 * `helplined keys reencrypt` walks this list. Add a line to sealed_columns.c whenever a
 * migration adds a sealed column.
 */
#ifndef HL_SEALED_COLUMNS_H
#define HL_SEALED_COLUMNS_H

#include <stddef.h>

typedef struct hl_sealed_column {
    const char *table;
    const char *id_column;    /* primary key; its ::text is the record id in the AD */
    const char *column;       /* nullable bytea holding an envelope */
    const char *scope_column; /* NULL, or a column whose ::text comes first in the record id:
                               * "<scope>/<id>" (a case's entries and referrals: case_id) */
} hl_sealed_column_t;

extern const hl_sealed_column_t hl_sealed_columns[];
extern const size_t hl_sealed_columns_count;

#endif
