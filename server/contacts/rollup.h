/*
 * The statistics rollup (migrations 0003 and 0005: stats_daily, stats_monthly, stats_pending):
 * what one contact adds to the cells, accumulated for a batch of contacts and appended to
 * stats_pending in the caller's transaction. The writer adds each new contact (+1, keyed by its
 * id) inside its batch statement, where only the contacts that statement actually inserted
 * count; PATCH removes the old contribution (-1) and adds the new one (+1) in its transaction.
 * Only given and mapped categories count. hl_rollup_merge folds the pending rows into the two
 * rollup tables; statistics read both (server/stats/stats.c).
 */
#ifndef HL_ROLLUP_H
#define HL_ROLLUP_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contact.h"
#include "contacts/record.h"
#include "util.h"

/* What the rollup needs of a contact. */
typedef struct hl_rollup_contact {
    int64_t helpline_id;
    int64_t started_at; /* microseconds since the epoch; the cell's day is its UTC date */
    hl_channel_t channel;
    hl_contact_type_t contact_type;
    int age;    /* -1: unknown */
    int gender; /* hl_gender_t, -1: unknown */
    int region; /* hl_region_t, -1: unknown */
    size_t n_codes;
    const char *codes[HL_RECORD_MAX_CATEGORIES]; /* counted categories (given, mapped) */
} hl_rollup_contact_t;

typedef struct hl_rollup hl_rollup_t;

int hl_rollup_new(hl_rollup_t **out) HL_MUSTCHECK;
void hl_rollup_free(hl_rollup_t *r);

/* The counted part of a record (its given and mapped categories). Points into REC. */
void hl_rollup_contact_from_record(const hl_record_t *rec, hl_rollup_contact_t *out);

/* Adds DELTA (+1 or -1) to every cell the contact counts in. */
int hl_rollup_add(hl_rollup_t *r, const hl_rollup_contact_t *c, int delta) HL_MUSTCHECK;

/*
 * The same, with the cells keyed by the contact's id: the upsert counts them only when the
 * id is among the ids its statement inserted (HL_ROLLUP_FILTER_INSERTED below).
 */
int hl_rollup_add_keyed(hl_rollup_t *r, const uint8_t id[HL_RECORD_ID_BYTES], const hl_rollup_contact_t *c,
                        int delta) HL_MUSTCHECK;

/* No cell changes. */
bool hl_rollup_empty(const hl_rollup_t *r);

/*
 * The cells as HL_ROLLUP_NPARAMS one-dimensional binary arrays (PostgreSQL's wire format:
 * contact id uuid (NULL when not keyed), helpline int8, day date, level, category,
 * subcategory, age band, gender, channel, contact type, region text, delta int8), merged
 * (equal key and id: deltas summed, zero sums dropped) and sorted. Pass them with format 1.
 */
#define HL_ROLLUP_NPARAMS 12
typedef struct hl_rollup_params {
    char *values[HL_ROLLUP_NPARAMS];
    int lengths[HL_ROLLUP_NPARAMS];
    Oid types[HL_ROLLUP_NPARAMS];
    size_t n_cells;
} hl_rollup_params_t;

int hl_rollup_params(hl_rollup_t *r, hl_rollup_params_t *out) HL_MUSTCHECK;
void hl_rollup_params_free(hl_rollup_params_t *p);

/*
 * The append as a list of common table expressions ("rx AS (...), rp AS (INSERT INTO
 * stats_pending ...)") reading the arrays from parameters $FIRST .. $FIRST+11, to be embedded
 * in a WITH by the caller. With FILTER_INSERTED, the statement must define a CTE "ins" (before
 * this list) returning the ids it inserted, and keyed cells of other ids are left out; unkeyed
 * cells always count. Cells are summed per key. Returns the SQL (malloc'd) in *OUT.
 */
int hl_rollup_sql(int first, bool filter_inserted, char **out) HL_MUSTCHECK;

/* The merged cells as JSON ([{"h","d","l","c","sc","a","g","ch","t","r","n"}...]), for tests. */
int hl_rollup_json(hl_rollup_t *r, char **out) HL_MUSTCHECK;

/* Appends the cells on CONN (inside the caller's transaction); logs and returns HL_EDB on error. */
int hl_rollup_apply(hl_rollup_t *r, PGconn *conn) HL_MUSTCHECK;

/*
 * Folds every pending row into stats_daily and stats_monthly and deletes it, in one
 * transaction of its own on CONN (which must be idle), serialised with every other merge on
 * the database by an advisory lock. *ROWS is the number of pending rows folded, *CELLS the
 * number of daily cells they changed. Logs and returns HL_EDB on error (nothing folded).
 */
int hl_rollup_merge(PGconn *conn, uint64_t *rows, uint64_t *cells) HL_MUSTCHECK;

#endif
