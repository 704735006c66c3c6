/*
 * Rocket.Chat Omnichannel webhooks (docs/front-ends.md): a LivechatSession (chat closed)
 * payload mapped to the api.md contact JSON that POST /v1/contacts takes, so it goes through
 * the same codec, classifier and sealing. Fields that cannot be stored as given are left out
 * (an unusable phone number, an agent name outside the counsellor alphabet, a visitor name with
 * a control character) or cut (a name over 200 characters, a transcript over
 * HL_CONTACT_TRANSCRIPT_MAX), so a chat that can be stored is never refused for them
 * (Rocket.Chat retries a refusal ten times, then drops it).
 */
#ifndef HL_ROCKETCHAT_H
#define HL_ROCKETCHAT_H

#include <stdbool.h>

#include <jansson.h>

#include "util.h"

#define HL_ROCKETCHAT_SYSTEM "rocketchat"
/* The room id of the sample payload Rocket.Chat's "Send test" button posts. */
#define HL_ROCKETCHAT_TEST_ROOM "fasd6f5a4sd6f8a4sdf"

typedef enum {
    HL_ROCKETCHAT_SESSION = 0, /* a LivechatSession: map it */
    HL_ROCKETCHAT_IGNORED = 1, /* another event type, or the "Send test" sample */
} hl_rocketchat_kind_t;

typedef struct hl_rocketchat_mapped {
    json_t *contact;   /* the api.md contact (holds plaintext: release with hl_contact_json_free) */
    bool truncated;    /* the transcript was cut at the limit */
    size_t n_messages; /* messages that went into the transcript */
} hl_rocketchat_mapped_t;

typedef struct hl_rocketchat_error {
    const char *code;  /* missing_field, invalid_field */
    char message[160]; /* never a submitted value */
    char field[64];    /* JSON Pointer into the Rocket.Chat payload */
} hl_rocketchat_error_t;

/* What PAYLOAD is: a session to map, or something to acknowledge and ignore. HL_EINVAL (ERR
 * filled) when it is not an object with a string "type". */
int hl_rocketchat_kind(const json_t *payload, hl_rocketchat_kind_t *kind,
                       hl_rocketchat_error_t *err) HL_MUSTCHECK;

/* Maps a LivechatSession. HL_EINVAL (ERR filled) when _id or createdAt is missing or unusable
 * (an _id over 128 bytes or with a control character); HL_ENOMEM. */
int hl_rocketchat_map(const json_t *payload, hl_rocketchat_mapped_t *out,
                      hl_rocketchat_error_t *err) HL_MUSTCHECK;

#endif
