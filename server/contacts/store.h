/*
 * Reading and updating one stored contact (GET and PATCH /v1/contacts/{id}). New contacts
 * are written by the writer (group commit); this module serves the request threads.
 * Sealed fields are opened only when asked for, and wiped when the stored contact is cleared.
 */
#ifndef HL_STORE_H
#define HL_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "contact.h"
#include "crypto.h"
#include "contacts/record.h"

typedef struct hl_stored_contact {
    char id[HL_RECORD_UUID_LEN + 1];
    int64_t helpline_id;
    hl_contact_t *contact; /* sensitive fields present only when opened */
    int64_t created_at, updated_at;
    char taxonomy_version[HL_RECORD_VERSION_MAX];
    char case_id[HL_RECORD_UUID_LEN + 1]; /* the case it is linked to, "" when none */
    size_t n_categories;
    hl_record_category_t categories[HL_RECORD_MAX_CATEGORIES];
    size_t n_terms;
    hl_record_term_t terms[HL_RECORD_MAX_TERMS];
} hl_stored_contact_t;

/*
 * Loads contact ID of HELPLINE_ID (FOR UPDATE inside the caller's transaction when asked).
 * OPEN_SENSITIVE opens the sealed fields. HL_ENOTFOUND (no such contact in that helpline),
 * HL_EDB, HL_ECRYPTO (a sealed field did not open), HL_ENOMEM. Clear OUT afterwards.
 */
int hl_store_load(PGconn *conn, hl_crypto_keyring_t *kr, const char *id, int64_t helpline_id,
                  bool open_sensitive, bool for_update, hl_stored_contact_t *out) HL_MUSTCHECK;

void hl_stored_contact_clear(hl_stored_contact_t *sc);

/* What a PATCH changed: the columns hl_store_update writes. */
enum {
    HL_STORE_CONTACT_TYPE = 1 << 0,
    HL_STORE_CHILD = 1 << 1,  /* age, gender, region, sealed name */
    HL_STORE_CALLER = 1 << 2, /* relationship, sealed phone and name, phone blind index */
    HL_STORE_ACTIONS = 1 << 3,
    HL_STORE_URGENCY = 1 << 4,
    HL_STORE_LOCAL_CATEGORIES = 1 << 5,
    HL_STORE_SUMMARY = 1 << 6 /* sealed summary, and its terminology findings */
};

/*
 * Writes the CHANGED columns of REC (same id and helpline as stored), replaces its categories
 * with REC's, and its summary findings when the summary changed; stamps updated_at and the
 * taxonomy version. Runs inside the caller's transaction.
 */
int hl_store_update(PGconn *conn, const hl_record_t *rec, unsigned changed) HL_MUSTCHECK;

#endif
