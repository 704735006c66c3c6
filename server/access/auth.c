#include "access/auth.h"

#include <errno.h>
#include <pthread.h>
#include <sodium/utils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/audit.h"
#include "log.h"
#include "contacts/tokenfile.h"
#include "access/users.h"

#define CACHE_SLOTS   1024 /* direct-mapped by selector */
#define FAILURE_SLOTS 256
#define SAVE_REFRESH  3600 /* seconds: the frontend-tokens file's dates are at most this much behind */

_Static_assert(HL_TOKENFILE_MAX_ENTRIES <= HL_USERS_CONFIRM_MAX, "the sweep confirms the whole list at once");

typedef struct {
    bool used;
    int64_t checked_us; /* monotonic: when the database last confirmed it */
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
    char *state_dir; /* NULL: the frontend list is not kept on disk */
    unsigned cache_seconds;
    pthread_mutex_t lock; /* everything below up to save_lock */
    cache_entry_t cache[CACHE_SLOTS];
    failure_entry_t failures[FAILURE_SLOTS];
    /* Frontend tokens the database confirmed, for intake while it cannot be reached. Looked up
     * only then, and on a confirmation: linear search is fine. */
    hl_tokenfile_entry_t frontends[HL_TOKENFILE_MAX_ENTRIES];
    size_t n_frontends;
    bool dirty;       /* frontends changed since the file was written */
    int64_t saved_at; /* wall clock of the last write or load of the file */
    bool stopping;
    pthread_cond_t wake;       /* the sweeper's sleep (CLOCK_MONOTONIC) */
    pthread_mutex_t save_lock; /* one writer of the file at a time; guards snapshot */
    hl_tokenfile_entry_t snapshot[HL_TOKENFILE_MAX_ENTRIES];
    /* The sweeper's own buffers (only it touches them). */
    uint8_t sweep_sel[HL_TOKENFILE_MAX_ENTRIES][HL_CRYPTO_TOKEN_SELECTOR_BYTES];
    uint8_t sweep_hash[HL_TOKENFILE_MAX_ENTRIES][HL_CRYPTO_TOKEN_HASH_BYTES];
    bool sweep_live[HL_TOKENFILE_MAX_ENTRIES];
    bool sweeper_running;
    pthread_t sweeper;
};

static int64_t now_us(void)
{
    return hl_monotonic_us();
}

static int64_t wall(void)
{
    return (int64_t)time(NULL);
}

static size_t slot_of(const uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES])
{
    /* The selector is random: its first bytes are a fine hash. */
    return ((size_t)selector[0] | (size_t)selector[1] << 8) % CACHE_SLOTS;
}

/* ---- the frontend list (auth->lock held) ------------------------------------------------------ */

static size_t frontend_find(const hl_auth_t *auth, const uint8_t *selector)
{
    for (size_t i = 0; i < auth->n_frontends; i++)
        if (memcmp(auth->frontends[i].selector, selector, HL_CRYPTO_TOKEN_SELECTOR_BYTES) == 0)
            return i;
    return SIZE_MAX;
}

static void frontend_remove(hl_auth_t *auth, size_t i)
{
    auth->frontends[i] = auth->frontends[auth->n_frontends - 1];
    auth->n_frontends--;
    sodium_memzero(&auth->frontends[auth->n_frontends], sizeof(auth->frontends[0]));
    auth->dirty = true;
}

static bool same_principal(const hl_principal_t *a, const hl_principal_t *b)
{
    return a->user_id == b->user_id && a->role == b->role && a->helpline_id == b->helpline_id &&
           strcmp(a->name, b->name) == 0 && strcmp(a->helpline_code, b->helpline_code) == 0 &&
           strcmp(a->network, b->network) == 0;
}

/* The database has just confirmed this frontend token. */
static void frontend_confirmed(hl_auth_t *auth, const uint8_t *selector, const uint8_t *hash,
                               const hl_principal_t *p, int64_t now)
{
    size_t i = frontend_find(auth, selector);
    hl_tokenfile_entry_t *e;

    if (i == SIZE_MAX) {
        if (auth->n_frontends < HL_TOKENFILE_MAX_ENTRIES) {
            i = auth->n_frontends++;
        } else {
            i = 0; /* full: the one confirmed longest ago makes room */
            for (size_t j = 1; j < auth->n_frontends; j++)
                if (auth->frontends[j].validated_at < auth->frontends[i].validated_at)
                    i = j;
        }
        memset(&auth->frontends[i], 0, sizeof(auth->frontends[i]));
        auth->dirty = true;
    }
    e = &auth->frontends[i];
    if (memcmp(e->selector, selector, sizeof(e->selector)) != 0 ||
        memcmp(e->hash, hash, sizeof(e->hash)) != 0 || !same_principal(&e->principal, p)) {
        memcpy(e->selector, selector, sizeof(e->selector));
        memcpy(e->hash, hash, sizeof(e->hash));
        e->principal = *p;
        auth->dirty = true;
    }
    e->validated_at = now;
    if (now - auth->saved_at >= SAVE_REFRESH)
        auth->dirty = true;
}

/* ---- the frontend-tokens file ----------------------------------------------------------------- */

/* Writes the list when it changed. Whoever finds another thread writing leaves it to that one,
 * which looks at DIRTY again after it let go of the file. */
static void persist(hl_auth_t *auth)
{
    bool again = true;

    if (auth->state_dir == NULL)
        return;
    while (again) {
        bool failed = false;

        if (pthread_mutex_trylock(&auth->save_lock) != 0)
            return;
        for (;;) {
            int64_t now = wall();
            size_t n;

            pthread_mutex_lock(&auth->lock);
            if (!auth->dirty) {
                pthread_mutex_unlock(&auth->lock);
                break;
            }
            n = auth->n_frontends;
            memcpy(auth->snapshot, auth->frontends, n * sizeof(auth->frontends[0]));
            auth->dirty = false;
            pthread_mutex_unlock(&auth->lock);
            failed = hl_tokenfile_save(auth->state_dir, auth->kr, auth->snapshot, n) != HL_OK;
            sodium_memzero(auth->snapshot, n * sizeof(auth->snapshot[0]));
            pthread_mutex_lock(&auth->lock);
            if (failed)
                auth->dirty = true; /* tried again on the next change or sweep */
            else
                auth->saved_at = now;
            pthread_mutex_unlock(&auth->lock);
            if (failed)
                break;
            hl_log(HL_LOG_DEBUG, "auth: %s/" HL_TOKENFILE_NAME ": %zu token(s) written", auth->state_dir, n);
        }
        pthread_mutex_unlock(&auth->save_lock);
        pthread_mutex_lock(&auth->lock);
        again = !failed && auth->dirty;
        pthread_mutex_unlock(&auth->lock);
    }
}

static void load(hl_auth_t *auth)
{
    hl_tokenfile_entry_t *entries = NULL;
    size_t n = 0;
    int rc = hl_tokenfile_load(auth->state_dir, auth->kr, wall(), &entries, &n);

    if (rc == HL_ENOTFOUND)
        return;
    if (rc != HL_OK) {
        hl_log(HL_LOG_WARN,
               "auth: %s/" HL_TOKENFILE_NAME " not used (%s): until the database answers, front ends "
               "get 503",
               auth->state_dir, hl_strerror(rc));
        return;
    }
    memcpy(auth->frontends, entries, n * sizeof(entries[0]));
    auth->n_frontends = n;
    auth->saved_at = wall();
    sodium_memzero(entries, n * sizeof(entries[0]));
    free(entries);
    hl_log(HL_LOG_INFO, "auth: %zu frontend token(s) known from %s/" HL_TOKENFILE_NAME, n, auth->state_dir);
}

/* ---- the sweeper: drops revoked frontend tokens every cache_seconds --------------------------- */

static void sweep(hl_auth_t *auth)
{
    size_t n;
    int64_t now;
    PGconn *conn;
    int rc;

    pthread_mutex_lock(&auth->lock);
    n = auth->n_frontends;
    for (size_t i = 0; i < n; i++) {
        memcpy(auth->sweep_sel[i], auth->frontends[i].selector, HL_CRYPTO_TOKEN_SELECTOR_BYTES);
        memcpy(auth->sweep_hash[i], auth->frontends[i].hash, HL_CRYPTO_TOKEN_HASH_BYTES);
    }
    pthread_mutex_unlock(&auth->lock);
    if (n == 0)
        return;
    conn = hl_dbpool_acquire(auth->pool, 1000);
    if (conn == NULL)
        return;
    rc = hl_users_frontends_live(conn, (const uint8_t(*)[HL_CRYPTO_TOKEN_SELECTOR_BYTES])auth->sweep_sel,
                                 (const uint8_t(*)[HL_CRYPTO_TOKEN_HASH_BYTES])auth->sweep_hash, n,
                                 auth->sweep_live);
    hl_dbpool_release(auth->pool, conn);
    if (rc != HL_OK)
        return;
    now = wall();
    pthread_mutex_lock(&auth->lock);
    /* Entries added meanwhile were confirmed by their request; look up by selector. */
    for (size_t k = 0; k < n; k++) {
        size_t i = frontend_find(auth, auth->sweep_sel[k]);

        if (i == SIZE_MAX ||
            memcmp(auth->frontends[i].hash, auth->sweep_hash[k], HL_CRYPTO_TOKEN_HASH_BYTES) != 0)
            continue;
        if (auth->sweep_live[k]) {
            auth->frontends[i].validated_at = now;
            continue;
        }
        cache_entry_t *c = &auth->cache[slot_of(auth->sweep_sel[k])];
        if (c->used && memcmp(c->selector, auth->sweep_sel[k], HL_CRYPTO_TOKEN_SELECTOR_BYTES) == 0)
            sodium_memzero(c, sizeof(*c));
        hl_log(HL_LOG_INFO, "auth: frontend user %lld revoked: its token is dropped",
               (long long)auth->frontends[i].principal.user_id);
        frontend_remove(auth, i);
    }
    if (now - auth->saved_at >= SAVE_REFRESH && auth->n_frontends > 0)
        auth->dirty = true;
    pthread_mutex_unlock(&auth->lock);
}

static void *sweeper_main(void *arg)
{
    hl_auth_t *auth = arg;
    struct timespec until;

    pthread_mutex_lock(&auth->lock);
    while (!auth->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += auth->cache_seconds;
        while (!auth->stopping && pthread_cond_timedwait(&auth->wake, &auth->lock, &until) != ETIMEDOUT)
            ;
        if (auth->stopping)
            break;
        pthread_mutex_unlock(&auth->lock);
        sweep(auth);
        persist(auth);
        pthread_mutex_lock(&auth->lock);
    }
    pthread_mutex_unlock(&auth->lock);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------------- */

int hl_auth_new(hl_crypto_keyring_t *kr, hl_dbpool_t *pool, const hl_auth_opts_t *opts, hl_auth_t **out)
{
    hl_auth_t *auth;
    pthread_condattr_t attr;
    unsigned secs = opts != NULL ? opts->cache_seconds : 0;

    if (kr == NULL || pool == NULL || out == NULL || secs > HL_AUTH_CACHE_SECONDS)
        return HL_EINVAL;
    auth = calloc(1, sizeof(*auth));
    if (auth == NULL)
        return HL_ENOMEM;
    auth->kr = kr;
    auth->pool = pool;
    auth->cache_seconds = secs != 0 ? secs : HL_AUTH_CACHE_SECONDS;
    if (opts != NULL && opts->state_dir != NULL && (auth->state_dir = strdup(opts->state_dir)) == NULL) {
        free(auth);
        return HL_ENOMEM;
    }
    pthread_mutex_init(&auth->lock, NULL);
    pthread_mutex_init(&auth->save_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&auth->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (auth->state_dir != NULL)
        load(auth);
    if (pthread_create(&auth->sweeper, NULL, sweeper_main, auth) != 0) {
        hl_auth_free(auth);
        return HL_ENOMEM;
    }
    auth->sweeper_running = true;
    *out = auth;
    return HL_OK;
}

void hl_auth_free(hl_auth_t *auth)
{
    if (auth == NULL)
        return;
    if (auth->sweeper_running) {
        pthread_mutex_lock(&auth->lock);
        auth->stopping = true;
        pthread_cond_signal(&auth->wake);
        pthread_mutex_unlock(&auth->lock);
        pthread_join(auth->sweeper, NULL);
    }
    sodium_memzero(auth->cache, sizeof(auth->cache));
    sodium_memzero(auth->frontends, sizeof(auth->frontends));
    pthread_cond_destroy(&auth->wake);
    pthread_mutex_destroy(&auth->save_lock);
    pthread_mutex_destroy(&auth->lock);
    free(auth->state_dir);
    free(auth);
}

/* ---- failures ----------------------------------------------------------------------------------- */

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

/* ---- the check ---------------------------------------------------------------------------------- */

/* A principal for SELECTOR whose verifier hash matches, confirmed less than cache_seconds ago. */
static bool cache_fresh(hl_auth_t *auth, const uint8_t *selector, const uint8_t *hash, hl_principal_t *out)
{
    cache_entry_t *e = &auth->cache[slot_of(selector)];
    bool hit;

    pthread_mutex_lock(&auth->lock);
    hit = e->used && now_us() - e->checked_us < (int64_t)auth->cache_seconds * 1000000 &&
          memcmp(e->selector, selector, HL_CRYPTO_TOKEN_SELECTOR_BYTES) == 0 &&
          sodium_memcmp(e->hash, hash, HL_CRYPTO_TOKEN_HASH_BYTES) == 0;
    if (hit)
        *out = e->principal;
    pthread_mutex_unlock(&auth->lock);
    /* A cached selector with another verifier falls through to the database, which refuses it. */
    return hit;
}

/* The database cannot be asked: a frontend token it confirmed within HL_TOKENFILE_MAX_AGE. */
static bool frontend_fallback(hl_auth_t *auth, const uint8_t *selector, const uint8_t *hash,
                              hl_principal_t *out)
{
    int64_t now = wall();
    bool hit = false;
    size_t i;

    pthread_mutex_lock(&auth->lock);
    i = frontend_find(auth, selector);
    if (i != SIZE_MAX && now - auth->frontends[i].validated_at < HL_TOKENFILE_MAX_AGE &&
        sodium_memcmp(auth->frontends[i].hash, hash, HL_CRYPTO_TOKEN_HASH_BYTES) == 0) {
        *out = auth->frontends[i].principal;
        hit = true;
    }
    pthread_mutex_unlock(&auth->lock);
    return hit;
}

/* The database refused a token. When it is one we had accepted (same verifier: not someone
 * guessing at a known selector), it was revoked: forget it everywhere. True when the file
 * must be written. */
static bool forget(hl_auth_t *auth, const uint8_t *selector, const uint8_t *hash)
{
    cache_entry_t *e = &auth->cache[slot_of(selector)];
    bool dirty;
    size_t i;

    pthread_mutex_lock(&auth->lock);
    if (e->used && memcmp(e->selector, selector, HL_CRYPTO_TOKEN_SELECTOR_BYTES) == 0 &&
        sodium_memcmp(e->hash, hash, HL_CRYPTO_TOKEN_HASH_BYTES) == 0)
        sodium_memzero(e, sizeof(*e));
    i = frontend_find(auth, selector);
    if (i != SIZE_MAX && sodium_memcmp(auth->frontends[i].hash, hash, HL_CRYPTO_TOKEN_HASH_BYTES) == 0)
        frontend_remove(auth, i);
    dirty = auth->dirty;
    pthread_mutex_unlock(&auth->lock);
    return dirty;
}

/* The database confirmed the token. True when the file must be written. */
static bool remember(hl_auth_t *auth, const uint8_t *selector, const uint8_t *hash, const hl_principal_t *p)
{
    cache_entry_t *e = &auth->cache[slot_of(selector)];
    bool dirty;

    pthread_mutex_lock(&auth->lock);
    e->used = true;
    e->checked_us = now_us();
    memcpy(e->selector, selector, HL_CRYPTO_TOKEN_SELECTOR_BYTES);
    memcpy(e->hash, hash, HL_CRYPTO_TOKEN_HASH_BYTES);
    e->principal = *p;
    if (p->role == HL_ROLE_FRONTEND)
        frontend_confirmed(auth, selector, hash, p, wall());
    dirty = auth->dirty;
    pthread_mutex_unlock(&auth->lock);
    return dirty;
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
    bool save = false;
    int rc;

    if (hl_crypto_token_parse(token, selector, verifier) != HL_OK)
        return fail(auth, client_ip);
    rc = hl_crypto_token_hash(auth->kr, verifier, hash);
    if (rc != HL_OK || cache_fresh(auth, selector, hash, out))
        goto out;
    conn = hl_dbpool_acquire(auth->pool, 2000);
    rc = conn != NULL ? hl_users_authenticate(conn, auth->kr, token, &user) : HL_EDB;
    if (rc == HL_OK)
        rc = principal_from_user(conn, &user, &p);
    if (rc == HL_EDB) {
        rc = frontend_fallback(auth, selector, hash, out) ? HL_OK : HL_EDB;
        goto out;
    }
    if (rc == HL_ECRYPTO) {
        save = forget(auth, selector, hash);
        rc = fail(auth, client_ip);
        goto out;
    }
    if (rc != HL_OK)
        goto out;
    save = remember(auth, selector, hash, &p);
    *out = p;
out:
    if (conn != NULL)
        hl_dbpool_release(auth->pool, conn);
    if (save)
        persist(auth);
    sodium_memzero(verifier, sizeof(verifier));
    sodium_memzero(hash, sizeof(hash));
    return rc;
}

void hl_auth_forget_user(hl_auth_t *auth, int64_t user_id)
{
    bool dirty;

    pthread_mutex_lock(&auth->lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (auth->cache[i].used && auth->cache[i].principal.user_id == user_id)
            sodium_memzero(&auth->cache[i], sizeof(auth->cache[i]));
    for (size_t i = auth->n_frontends; i-- > 0;)
        if (auth->frontends[i].principal.user_id == user_id)
            frontend_remove(auth, i);
    dirty = auth->dirty;
    pthread_mutex_unlock(&auth->lock);
    if (dirty)
        persist(auth);
}
