/*
 * helpline-cdr's checkpoint: which file (path and inode) and how far into it everything has
 * been delivered (a byte offset at a line start), plus the keys of delivered calls that have
 * lines beyond that offset (calls interleave in Master.csv), so a restart posts none twice.
 * Saved with write, fsync, rename and a directory fsync: a crash leaves the old or the new
 * checkpoint, never a torn one.
 */
#ifndef HL_CDR_STATE_H
#define HL_CDR_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_calls.h"
#include "util.h"

#define HL_CDR_STATE_MAX_DONE 4096
#define HL_CDR_PATH_MAX       4096

typedef struct hl_cdr_state {
    char path[HL_CDR_PATH_MAX];
    uint64_t inode;
    uint64_t offset;
    size_t n_done;
    char (*done)[HL_CDR_KEY_MAX + 1]; /* malloc'd, HL_CDR_STATE_MAX_DONE entries */
} hl_cdr_state_t;

int hl_cdr_state_init(hl_cdr_state_t *st) HL_MUSTCHECK;
void hl_cdr_state_clear(hl_cdr_state_t *st);

/* Reads FILE into ST: 0; HL_ENOTFOUND when there is no checkpoint yet (ST empty); HL_EINVAL
 * (ERR names the line) for a damaged one; HL_EIO. */
int hl_cdr_state_load(const char *file, hl_cdr_state_t *st, char *err, size_t errlen) HL_MUSTCHECK;

/* Writes ST to FILE atomically and durably. */
int hl_cdr_state_save(const char *file, const hl_cdr_state_t *st) HL_MUSTCHECK;

/* Adds KEY to the done list (false when it is full). */
bool hl_cdr_state_add_done(hl_cdr_state_t *st, const char *key);

#endif
