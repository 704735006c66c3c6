/*
 * Asterisk CDR legs grouped into calls, and a call turned into a contact (docs/front-ends.md).
 *
 * A call is the legs that share a linkedid (or uniqueid when the column set has no linkedid).
 * Its start is the earliest leg start, its end the latest leg end, its caller the src of the
 * earliest leg. A person answered when a leg is ANSWERED with a destination channel (a leg
 * answered by the PBX itself, an IVR, queue or voicemail, has none); the longest such leg
 * gives the talk time and the agent (its dstchannel's extension through the agents map).
 * contact_type: no person answered -> missed; talk time under hangup_seconds -> hang_up;
 * else counselling (categories pending a counsellor's classification).
 *
 * A call is complete (no more legs expected) when its last leg was read QUIET seconds ago
 * (cdr_csv writes the legs of a call when its channels hang up, close together), at the end
 * of the input (flush), or, to bound memory on a long backlog, when it is the oldest of more
 * than HL_CDR_MAX_PENDING pending calls. Times in the records are not used for this: legs are
 * written in hangup order, not in order of their times.
 */
#ifndef HL_CDR_CALLS_H
#define HL_CDR_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cdr_csv.h"
#include "util.h"

#define HL_CDR_KEY_MAX     128 /* = source.id's limit */
#define HL_CDR_SRC_MAX     64
#define HL_CDR_CHANNEL_MAX 160
#define HL_CDR_MAX_PENDING 20000

typedef enum {
    HL_CDR_NO_ANSWER = 0,
    HL_CDR_FAILED,
    HL_CDR_BUSY,
    HL_CDR_ANSWERED,
    HL_CDR_CONGESTION,
} hl_cdr_disposition_t;

typedef struct hl_cdr_leg {
    char key[HL_CDR_KEY_MAX + 1]; /* linkedid, else uniqueid */
    char src[HL_CDR_SRC_MAX + 1]; /* "" when longer */
    char dstchannel[HL_CDR_CHANNEL_MAX + 1];
    int64_t start, end; /* seconds since the epoch (UTC) */
    long billsec;
    hl_cdr_disposition_t disposition;
} hl_cdr_leg_t;

/* "2026-11-22 10:00:00" (cdr_csv's format) in UTC or in the local time zone -> epoch seconds;
 * false for anything else, or a time after 9999-12-31T23:59:59Z. */
bool hl_cdr_time_parse(const char *s, bool utc, int64_t *out) HL_MUSTCHECK;

/* "ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION". */
bool hl_cdr_disposition_parse(const char *s, hl_cdr_disposition_t *out) HL_MUSTCHECK;

/* A leg from a parsed record. HL_EINVAL with ERR (no values) when the key, start,
 * disposition or billsec is missing or unusable. UTC: the times are UTC (cdr.conf usegmtime). */
int hl_cdr_leg_from_record(const hl_cdr_record_t *r, bool utc, hl_cdr_leg_t *out, char *err,
                           size_t errlen) HL_MUSTCHECK;

typedef struct hl_cdr_call {
    char key[HL_CDR_KEY_MAX + 1];
    char src[HL_CDR_SRC_MAX + 1];
    int64_t start, end, first_leg_start;
    bool answered; /* by a person */
    long talk;     /* billsec of the longest answered leg */
    char agent_channel[HL_CDR_CHANNEL_MAX + 1];
    size_t n_legs;
    uint64_t first_offset; /* where its first line starts in the file */
    uint64_t last_offset;  /* where its last line ends */
    double last_read;      /* monotonic seconds when its last leg was read */
} hl_cdr_call_t;

typedef struct hl_cdr_calls hl_cdr_calls_t;

int hl_cdr_calls_new(hl_cdr_calls_t **out) HL_MUSTCHECK;
void hl_cdr_calls_free(hl_cdr_calls_t *calls);

/* Adds LEG, read from bytes [LINE_START, LINE_END) of the input at time NOW. HL_ENOMEM. */
int hl_cdr_calls_add(hl_cdr_calls_t *calls, const hl_cdr_leg_t *leg, uint64_t line_start, uint64_t line_end,
                     double now) HL_MUSTCHECK;

/* Takes out the complete call that starts earliest in the input: true and *OUT, or false. FLUSH:
 * every call is complete. */
bool hl_cdr_calls_take(hl_cdr_calls_t *calls, double now, double quiet, bool flush, hl_cdr_call_t *out);

size_t hl_cdr_calls_pending(const hl_cdr_calls_t *calls);

/* The smallest first_offset of the pending calls; UINT64_MAX when none. */
uint64_t hl_cdr_calls_min_offset(const hl_cdr_calls_t *calls);

/* missed, hang_up or counselling. */
const char *hl_cdr_contact_type(const hl_cdr_call_t *call, long hangup_seconds);

/* The extension of a channel name: "SIP/1001-0000002a" -> "1001", "PJSIP/1001-00000012" ->
 * "1001", "Local/1001@from-queue-00000012;1" -> "1001", "Agent/1001" -> "1001". TECH gets
 * "SIP" (may be NULL). false when CHANNEL has no "/". */
bool hl_cdr_channel_extension(const char *channel, char *ext, size_t extcap, char *tech, size_t techcap);

/* The counsellor map: "extension = username" lines ("SIP/1001 = amina" or "1001 = amina"). */
typedef struct hl_cdr_agents hl_cdr_agents_t;

/* Loads PATH; HL_EINVAL (ERR names the line), HL_EIO, HL_ENOMEM. */
int hl_cdr_agents_load(const char *path, hl_cdr_agents_t **out, char *err, size_t errlen) HL_MUSTCHECK;
void hl_cdr_agents_free(hl_cdr_agents_t *agents);

/* The counsellor of a channel ("TECH/EXT" first, then "EXT"); NULL when unmapped. */
const char *hl_cdr_agents_lookup(const hl_cdr_agents_t *agents, const char *channel);

/* The api.md contact for CALL (a new reference). AGENTS may be NULL. NULL on ENOMEM. */
json_t *hl_cdr_call_contact(const hl_cdr_call_t *call, const char *system, const hl_cdr_agents_t *agents,
                            long hangup_seconds);

#endif
