/*
 * The running daemon's shared state, handed to every HTTP handler. Built by serve.c at
 * start-up; everything in it is thread-safe or immutable, except the taxonomy pointer,
 * which SIGHUP swaps (readers hold a reference while they use it).
 */
#ifndef HL_APP_H
#define HL_APP_H

#include <pthread.h>
#include <stdatomic.h>

#include "access/auth.h"
#include "access/hasher.h"
#include "access/sessions.h"
#include "access/throttle.h"
#include "config.h"
#include "crypto.h"
#include "db/dbjobs.h"
#include "db/dbpool.h"
#include "health.h"
#include "http/http.h"
#include "http/webfiles.h"
#include "stats/merger.h"
#include "contacts/spool.h"
#include "taxonomy.h"
#include "contacts/writer.h"

typedef struct hl_taxref hl_taxref_t;

typedef struct hl_app {
    const hl_config_t *cfg;
    hl_crypto_keyring_t *keyring;
    hl_spool_t *spool;
    hl_writer_t *writer;
    hl_merger_t *merger;
    hl_health_t *health;
    hl_dbpool_t *pool;      /* database_url: everything that writes, and reads that must see it */
    hl_dbpool_t *read_pool; /* read_database_url (may lag behind): statistics, reports; else pool */
    hl_dbjobs_t *db_jobs;   /* handlers' database work off the HTTP threads (case notes); pool's */
    hl_auth_t *auth;
    hl_sessions_t *sessions; /* web sessions */
    hl_throttle_t *throttle; /* failed logins */
    hl_hasher_t *hasher;     /* Argon2id work: logins, passwords set */
    hl_http_t *http;
    hl_webfiles_t *web; /* the web application's files and Chart.js (NULL: none) */
    pthread_mutex_t tax_lock;
    hl_taxref_t *tax;
    _Atomic uint64_t audit_failures;
} hl_app_t;

/* The current taxonomy, held until hl_app_taxonomy_release(REF). */
const hl_taxonomy_t *hl_app_taxonomy_acquire(hl_app_t *app, hl_taxref_t **ref);
void hl_app_taxonomy_release(hl_taxref_t *ref);

/* Loads the taxonomy from DIR and makes it current; the old one is freed when its last
 * reader lets go. On error the current one stays. */
int hl_app_taxonomy_load(hl_app_t *app, const char *dir) HL_MUSTCHECK;
void hl_app_taxonomy_drop(hl_app_t *app);

/* The route table of api.md (routes.c). */
extern const hl_route_t hl_routes[];
extern const size_t hl_n_routes;

/* Handlers (handlers_*.c). */
void hl_handle_contacts_create(hl_request_t *req, void *app);
void hl_handle_contacts_get(hl_request_t *req, void *app);
void hl_handle_contacts_patch(hl_request_t *req, void *app);
void hl_handle_contacts_list(hl_request_t *req, void *app); /* handlers_lists.c */
void hl_handle_taxonomy(hl_request_t *req, void *app);
void hl_handle_classify(hl_request_t *req, void *app);
void hl_handle_healthz(hl_request_t *req, void *app);
void hl_handle_metrics(hl_request_t *req, void *app);
void hl_handle_web(hl_request_t *req, void *app); /* the web application's files */
void hl_handle_stats(hl_request_t *req, void *app);
void hl_handle_report(hl_request_t *req, void *app);
void hl_handle_helplines(hl_request_t *req, void *app);      /* handlers_helplines.c */
void hl_handle_reports_verify(hl_request_t *req, void *app); /* handlers_helplines.c */
/* handlers_cases.c */
void hl_handle_cases_create(hl_request_t *req, void *app);
void hl_handle_cases_list(hl_request_t *req, void *app);
void hl_handle_cases_get(hl_request_t *req, void *app);
void hl_handle_cases_patch(hl_request_t *req, void *app);
void hl_handle_cases_note(hl_request_t *req, void *app);
void hl_handle_cases_referral(hl_request_t *req, void *app);
void hl_handle_cases_referral_patch(hl_request_t *req, void *app);
void hl_handle_cases_link(hl_request_t *req, void *app);
void hl_handle_cases_unlink(hl_request_t *req, void *app);
/* handlers_session.c */
void hl_handle_session_create(hl_request_t *req, void *app);
void hl_admit_session_get(hl_request_t *req, void *app, hl_principal_t *who);
void hl_handle_session_get(hl_request_t *req, void *app);
void hl_handle_session_delete(hl_request_t *req, void *app);
/* handlers_users.c */
void hl_handle_users_list(hl_request_t *req, void *app);
void hl_handle_users_create(hl_request_t *req, void *app);
void hl_handle_users_password(hl_request_t *req, void *app);
void hl_handle_users_revoke(hl_request_t *req, void *app);
void hl_handle_ingest_rocketchat(hl_request_t *req, void *app); /* handlers_ingest.c */
void hl_admit_ingest_rocketchat(hl_request_t *req, void *app, hl_principal_t *who);

#endif
