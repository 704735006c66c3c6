#include "auth.h"

#include <pthread.h>
#include <sodium/utils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "log.h"
#include "users.h"

#define CACHE_SLOTS   1024 /* direct-mapped by selector */
#define FAILURE_SLOTS 256

typedef struct {
    bool used;
    time_t expires;
    uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES];
    uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES]; /* keyed hash of the verifier that was accepted */
    hl_principal_t principal;
} cache_entry_t;

typedef struct {
    char ip[64];
    time_t window_start;
    unsigned failures;
    bool reported; /* a burst row was written for this window */
} failure_entry_t;

struct hl_auth {
    hl_crypto_keyring_t *kr;
    hl_dbpool_t *pool;
    pthread_mutex_t lock;
    cache_entry_t cache[CACHE_SLOTS];
    failure_entry_t failures[FAILURE_SLOTS];
};

int hl_auth_new(hl_crypto_keyring_t *kr, hl_dbpool_t *pool, hl_auth_t **out)
{
    hl_auth_t *auth = calloc(1, sizeof(*auth));

    if (auth == NULL)
        return HL_ENOMEM;
    auth->kr = kr;
    auth->pool = pool;
    pthread_mutex_init(&auth->lock, NULL);
    *out = auth;
    return HL_OK;
}

void hl_auth_free(hl_auth_t *auth)
{
    if (auth == NULL)
        return;
    sodium_memzero(auth->cache, sizeof(auth->cache));
    pthread_mutex_destroy(&auth->lock);
    free(auth);
}

static size_t slot_of(const uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES])
{
    /* The selector is random: its first bytes are a fine hash. */
    return ((size_t)selector[0] | (size_t)selector[1] << 8) % CACHE_SLOTS;
}

static size_t ip_slot(const char *ip)
{
    size_t h = 5381;

    for (const char *p = ip; *p != '\0'; p++)
        h = h * 33 + (unsigned char)*p;
    return h % FAILURE_SLOTS;
}

/* Counts a failure; true when this one completes a burst that has not been reported. */
static bool note_failure(hl_auth_t *auth, const char *ip, unsigned *count)
{
    failure_entry_t *e = &auth->failures[ip_slot(ip)];
    time_t now = time(NULL);
    bool burst = false;

    pthread_mutex_lock(&auth->lock);
    if (strcmp(e->ip, ip) != 0 || now - e->window_start >= 60) {
        snprintf(e->ip, sizeof(e->ip), "%s", ip);
        e->window_start = now;
        e->failures = 0;
        e->reported = false;
    }
    e->failures++;
    *count = e->failures;
    if (e->failures >= HL_AUTH_BURST_FAILURES && !e->reported) {
        e->reported = true;
        burst = true;
    }
    pthread_mutex_unlock(&auth->lock);
    return burst;
}

static void report_burst(hl_auth_t *auth, const char *ip, unsigned count)
{
    char detail[128];
    PGconn *conn = hl_dbpool_acquire(auth->pool, 1000);

    hl_log(HL_LOG_WARN, "auth: %u failed token checks from %s within a minute", count, ip);
    if (conn == NULL)
        return;
    snprintf(detail, sizeof(detail), "client %s: %u failures within a minute", ip, count);
    if (hl_audit_write(conn, 0, 0, HL_AUDIT_LOGIN_FAILURES, NULL, detail) != HL_OK)
        hl_log(HL_LOG_ERROR, "auth: login failure burst not audited");
    hl_dbpool_release(auth->pool, conn);
}

static int fail(hl_auth_t *auth, const char *ip)
{
    unsigned count;

    if (note_failure(auth, ip, &count))
        report_burst(auth, ip, count);
    return HL_ENOTFOUND;
}

/*
 * A cached principal for SELECTOR whose verifier matches. STALE accepts an entry past its
 * time: only while the database cannot be asked (a revocation cannot reach the daemon then
 * anyway), so front ends keep posting, and the spool keeps working, through an outage.
 */
static bool cache_lookup(hl_auth_t *auth, const uint8_t *selector, const uint8_t *verifier, bool stale,
                         hl_principal_t *out)
{
    cache_entry_t *e = &auth->cache[slot_of(selector)];
    uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    bool hit = false;

    pthread_mutex_lock(&auth->lock);
    if (e->used && (stale || e->expires > time(NULL)) &&
        memcmp(e->selector, selector, HL_CRYPTO_TOKEN_SELECTOR_BYTES) == 0) {
        memcpy(hash, e->hash, sizeof(hash));
        *out = e->principal;
        hit = true;
    }
    pthread_mutex_unlock(&auth->lock);
    if (!hit)
        return false;
    /* A cached selector with another verifier falls through to the database, which refuses it. */
    return hl_crypto_token_verify(auth->kr, verifier, hash, sizeof(hash)) == HL_OK;
}

static int principal_from_user(PGconn *conn, const hl_user_t *user, hl_principal_t *out)
{
    char id[24];
    const char *values[1] = {id};
    PGresult *res;
    int rc = HL_EDB;

    memset(out, 0, sizeof(*out));
    if (!hl_role_parse(user->role, &out->role))
        return HL_ENOTFOUND;
    out->user_id = user->id;
    out->helpline_id = user->helpline_id;
    snprintf(out->name, sizeof(out->name), "%s", user->name);
    snprintf(out->helpline_code, sizeof(out->helpline_code), "%s", user->helpline_code);
    snprintf(id, sizeof(id), "%lld", (long long)user->helpline_id);
    res = PQexecParams(conn, "SELECT coalesce(network, '') FROM helplines WHERE id = $1", 1, NULL, values,
                       NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(out->network, sizeof(out->network), "%s", PQgetvalue(res, 0, 0));
        rc = HL_OK;
    }
    PQclear(res);
    return rc;
}

int hl_auth_check(hl_auth_t *auth, const char *token, const char *client_ip, hl_principal_t *out)
{
    uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES], verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    hl_user_t user;
    hl_principal_t p;
    PGconn *conn = NULL;
    int rc;

    if (hl_crypto_token_parse(token, selector, verifier) != HL_OK)
        return fail(auth, client_ip);
    if (cache_lookup(auth, selector, verifier, false, out)) {
        rc = HL_OK;
        goto out;
    }
    conn = hl_dbpool_acquire(auth->pool, 2000);
    rc = conn != NULL ? hl_users_authenticate(conn, auth->kr, token, &user) : HL_EDB;
    if (rc == HL_EDB) {
        rc = cache_lookup(auth, selector, verifier, true, out) ? HL_OK : HL_EDB;
        goto out;
    }
    if (rc == HL_ECRYPTO) {
        rc = fail(auth, client_ip);
        goto out;
    }
    if (rc == HL_OK)
        rc = principal_from_user(conn, &user, &p);
    if (rc == HL_OK)
        rc = hl_crypto_token_hash(auth->kr, verifier, hash);
    if (rc != HL_OK)
        goto out;
    pthread_mutex_lock(&auth->lock);
    cache_entry_t *e = &auth->cache[slot_of(selector)];
    e->used = true;
    e->expires = time(NULL) + HL_AUTH_CACHE_SECONDS;
    memcpy(e->selector, selector, sizeof(selector));
    memcpy(e->hash, hash, sizeof(hash));
    e->principal = p;
    pthread_mutex_unlock(&auth->lock);
    *out = p;
out:
    if (conn != NULL)
        hl_dbpool_release(auth->pool, conn);
    sodium_memzero(verifier, sizeof(verifier));
    sodium_memzero(hash, sizeof(hash));
    return rc;
}
