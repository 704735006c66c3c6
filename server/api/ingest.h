/*
 * Turning a parsed contact into a sealed record and handing it to the writer, shared by
 * POST /v1/contacts and the front-end ingest endpoints (handlers_ingest.c): classify,
 * seal every sensitive field, compute the phone's blind index, then submit with a deferred
 * reply that is sent only after the writer's completion (design.md invariant 2).
 * The sealing helpers are also what PATCH uses.
 */
#ifndef HL_INGEST_H
#define HL_INGEST_H

#include <stdint.h>

#include <jansson.h>

#include "app.h"
#include "contacts/classify.h"
#include "contact.h"
#include "contacts/record.h"

/* For whom a contact is created. */
typedef struct hl_ingest_origin {
    int64_t helpline_id;
    const char *helpline_code;      /* for the local category mapping */
    int64_t user_id;                /* created_by; 0: no user (a webhook) */
    const char *default_counsellor; /* used when the contact names none; NULL: none */
} hl_ingest_origin_t;

/* Seals PT (NULL: absent) for contacts.COLUMN of contact ID into OUT (replacing what it held). */
int hl_ingest_seal(hl_app_t *app, const char *id, const char *column, const char *pt,
                   hl_sealed_t *out) HL_MUSTCHECK;

/* Child columns of REC from C's child object. */
int hl_ingest_fill_child(hl_app_t *app, const char *id, const hl_contact_t *c, hl_record_t *rec) HL_MUSTCHECK;

/* Caller columns, sealed, and the phone's blind index; HL_EINVAL with ERR for a bad number. */
int hl_ingest_fill_caller(hl_app_t *app, const char *id, const hl_contact_t *c, hl_record_t *rec,
                          hl_classify_error_t *err) HL_MUSTCHECK;

int hl_ingest_copy_local_categories(const hl_contact_t *c, hl_record_t *rec) HL_MUSTCHECK;

/* Copies CL's categories and terms and TAX's version into REC. */
void hl_ingest_take_classification(hl_record_t *rec, const hl_classification_t *cl, const hl_taxonomy_t *tax);

/*
 * Classifies C against TAX for ORIGIN and builds its sealed record (*OUT, a new id) and the
 * reply's classification part (*REPLY: categories, terminology, taxonomy_version).
 * HL_EINVAL with ERR filled for input that cannot be stored (unknown code, unmapped label,
 * bad phone number); any other error is internal (HL_ENOMEM: out of memory). Nothing is sent.
 */
int hl_ingest_build(hl_app_t *app, const hl_taxonomy_t *tax, const hl_contact_t *c,
                    const hl_ingest_origin_t *origin, hl_record_t **out, json_t **reply,
                    hl_classify_error_t *err) HL_MUSTCHECK;

/* Reply statuses of hl_ingest_submit: api.md's 201/202/200, or 200 for every durable outcome
 * (webhook senders that retry anything but 200). */
typedef enum { HL_INGEST_REPLY_API = 0, HL_INGEST_REPLY_ALWAYS_200 = 1 } hl_ingest_reply_mode_t;

/* Defers REQ and submits REC (taken over, as is REPLY); the reply follows the writer's
 * completion: created, spooled, duplicate (200), refused (400) or unavailable (503). */
void hl_ingest_submit(hl_app_t *app, hl_request_t *req, hl_record_t *rec, json_t *reply,
                      hl_ingest_reply_mode_t mode);

/* 503 for HL_ENOMEM / HL_EDB, else 500; the message says nothing was changed. */
void hl_ingest_reply_internal(hl_request_t *req, int rc);

#endif
