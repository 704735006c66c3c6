/*
 * Login throttling (api.md: "repeated failures are slowed per user and per address").
 *
 * Two tables of failure counts: one keyed by the login name (helpline code and user name as
 * given, whether or not such a user exists, so the throttle tells nothing about who exists), one
 * by the client address. Within a window, the first HL_THROTTLE_USER_FREE failures of a name and
 * HL_THROTTLE_ADDR_FREE of an address cost nothing; each further one blocks the key for 1, 2, 4,
 * ... seconds, at most HL_THROTTLE_MAX_DELAY. A blocked key is answered 429 with Retry-After
 * before any password work is done. A key forgets its failures HL_THROTTLE_WINDOW seconds after
 * the last one; a successful login clears its name (not its address, which an attacker with one
 * account of their own could otherwise reset at will). Nothing sleeps: the caller refuses.
 *
 * The tables have a fixed size (no memory grows with an attack). A key's slot is found by a
 * keyed SipHash (a random key per process, so nobody can aim names at one slot) among
 * HL_THROTTLE_PROBE neighbours; when all are taken, the one idle longest that is not blocked
 * makes room (a blocked one only when all are blocked).
 */
#ifndef HL_THROTTLE_H
#define HL_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define HL_THROTTLE_USER_FREE  5
#define HL_THROTTLE_ADDR_FREE  20
#define HL_THROTTLE_MAX_DELAY  300 /* seconds */
#define HL_THROTTLE_WINDOW     900 /* seconds without a failure that clear a key */
#define HL_THROTTLE_USER_SLOTS 4096
#define HL_THROTTLE_ADDR_SLOTS 1024
#define HL_THROTTLE_PROBE      8
#define HL_THROTTLE_KEY_MAX    112 /* longer keys are cut (only invalid names are that long) */

typedef enum { HL_THROTTLE_USER = 0, HL_THROTTLE_ADDR = 1 } hl_throttle_kind_t;

typedef struct hl_throttle hl_throttle_t;

int hl_throttle_new(hl_throttle_t **out) HL_MUSTCHECK;
void hl_throttle_free(hl_throttle_t *t);

/* Seconds KEY must wait before its next attempt, rounded up (0: it may try now). NOW: milliseconds
 * on a monotonic clock (tests pass their own), here and below. */
unsigned hl_throttle_wait(hl_throttle_t *t, hl_throttle_kind_t kind, const char *key, int64_t now);

/* Counts a failure of KEY; true when it leaves KEY blocked for the first time in its window (the
 * caller writes one audit row then). */
bool hl_throttle_fail(hl_throttle_t *t, hl_throttle_kind_t kind, const char *key, int64_t now);

/* Forgets KEY's failures (a successful login). */
void hl_throttle_clear(hl_throttle_t *t, hl_throttle_kind_t kind, const char *key, int64_t now);

#endif
