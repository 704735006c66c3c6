/*
 * The statistics rollup (migration 0003, stats_daily): what one contact adds to the daily
 * cells, accumulated for a batch of contacts and applied with one upsert. The writer adds
 * each new contact (+1) in its batch transaction; PATCH removes the old contribution (-1)
 * and adds the new one (+1) in its transaction. Only given and mapped categories count.
 */
#ifndef HL_ROLLUP_H
#define HL_ROLLUP_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "contact.h"
#include "record.h"
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

/* No cell changes. */
bool hl_rollup_empty(const hl_rollup_t *r);

/*
 * The upsert: HL_ROLLUP_SQL with one text parameter, the JSON that hl_rollup_json returns
 * (cells merged, deltas summed, zero deltas dropped, sorted so concurrent transactions lock
 * rows in the same order). The caller frees the JSON.
 */
extern const char HL_ROLLUP_SQL[];
int hl_rollup_json(hl_rollup_t *r, char **out) HL_MUSTCHECK;

/* Runs the upsert on CONN (inside the caller's transaction); logs and returns HL_EDB on error. */
int hl_rollup_apply(hl_rollup_t *r, PGconn *conn) HL_MUSTCHECK;

#endif
