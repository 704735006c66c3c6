/*
 * helplined serve: start-up, signals and graceful shutdown.
 *
 * Start: keys, taxonomy, web files, spool, writer (replays the spool once the database answers), the
 * statistics merger, the connection pool, then HTTP. Signals are blocked in every thread and
 * taken here with sigwait: SIGTERM/SIGINT stop accepting, drain the writer (store or spool what
 * is queued, answer it), fold the pending statistics, then close; SIGHUP reloads the taxonomy
 * and log_level.
 */
#include <malloc.h>
#include <signal.h>
#include <sodium/utils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "app.h"
#include "casework/cases.h"
#include "log.h"

/* jansson holds copies of request bodies (names, phone numbers, summaries) while it parses
 * and builds them: every block it frees is wiped first. */
static void *json_alloc(size_t size)
{
    return malloc(size);
}

static void json_wipe_free(void *p)
{
    if (p != NULL) {
        sodium_memzero(p, malloc_usable_size(p));
        free(p);
    }
}

static int authenticate(void *arg, const char *token, const char *client_ip, hl_principal_t *out)
{
    hl_app_t *app = arg;

    return hl_auth_check(app->auth, token, client_ip, out);
}

static int authenticate_session(void *arg, const char *cookie, const char *csrf, bool need_csrf,
                                hl_principal_t *out)
{
    hl_app_t *app = arg;

    return hl_sessions_check(app->sessions, cookie, csrf, need_csrf, out);
}

/* SIGHUP: the reloadable part of the config (log_level, taxonomy_dir) and the taxonomy. */
static void reload(hl_app_t *app, const char *config_path)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    if (hl_config_load(config_path, &cfg, err) != HL_OK) {
        hl_log(HL_LOG_ERROR, "reload: configuration not reloaded: %s", err);
        return;
    }
    hl_log_set_level(cfg->log_level);
    if (hl_app_taxonomy_load(app, cfg->taxonomy_dir) != HL_OK)
        hl_log(HL_LOG_ERROR, "reload: the previous taxonomy stays in use");
    hl_config_free(cfg);
}

static int serve(const hl_config_t *cfg, const char *config_path)
{
    hl_app_t app = {.cfg = cfg};
    sigset_t signals;
    int sig, status = 1;

    pthread_mutex_init(&app.tax_lock, NULL);
    json_set_alloc_funcs(json_alloc, json_wipe_free);
    /* Block before any thread starts, so every thread inherits the mask. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg->database_url == NULL || cfg->key_file == NULL) {
        hl_log(HL_LOG_ERROR, "serve needs database_url and key_file in the configuration");
        goto out;
    }
    if (hl_crypto_init() != HL_OK || hl_crypto_keyring_load(cfg->key_file, &app.keyring) != HL_OK)
        goto out;
    hl_crypto_keyring_pin(app.keyring);
    if (hl_app_taxonomy_load(&app, cfg->taxonomy_dir) != HL_OK ||
        hl_webfiles_load(cfg->web_dir, HL_WEBFILES_CHARTJS_DIR, &app.web) != HL_OK)
        goto out;
    if (hl_spool_open(cfg->spool_dir, &app.spool) != HL_OK) {
        hl_log(HL_LOG_ERROR, "cannot open the spool in %s", cfg->spool_dir);
        goto out;
    }
    /* Two writer connections by default: one batch commits (fsync) while the next one runs. */
    _Static_assert(HL_CONFIG_MAX_WRITER_CONNECTIONS <= HL_WRITER_MAX_CONNECTIONS,
                   "the config accepts more writer connections than the writer takes");
    hl_writer_opts_t wopts = {
        .conninfo = cfg->database_url, .spool = app.spool, .connections = (unsigned)cfg->writer_connections};
    hl_merger_opts_t mopts = {.conninfo = cfg->database_url, .interval_ms = 1000};
    hl_health_opts_t hlopts = {
        .conninfo = cfg->database_url, .replica_conninfo = cfg->read_database_url, .spool = app.spool};
    /* Frontend tokens are kept beside the spool: after a restart during an outage front ends go on
     * posting into it (server/access/auth.h). */
    hl_auth_opts_t aopts = {.state_dir = cfg->spool_dir, .cache_seconds = (unsigned)cfg->token_cache_seconds};
    hl_sessions_opts_t sopts = {.idle_seconds = (unsigned)cfg->session_idle,
                                .max_seconds = (unsigned)cfg->session_max};
    if (hl_writer_start(&wopts, &app.writer) != HL_OK || hl_merger_start(&mopts, &app.merger) != HL_OK ||
        hl_health_start(&hlopts, &app.health) != HL_OK ||
        hl_dbpool_new(cfg->database_url, (size_t)cfg->threads + 2 + HL_HASHER_THREADS, &app.pool) != HL_OK ||
        (cfg->read_database_url != NULL &&
         hl_dbpool_new(cfg->read_database_url, (size_t)cfg->threads, &app.read_pool) != HL_OK) ||
        hl_auth_new(app.keyring, app.pool, &aopts, &app.auth) != HL_OK ||
        hl_sessions_new(app.keyring, app.pool, &sopts, &app.sessions) != HL_OK ||
        hl_throttle_new(&app.throttle) != HL_OK ||
        hl_hasher_start(HL_HASHER_THREADS, HL_HASHER_QUEUE, &app.hasher) != HL_OK ||
        /* a queue slot for every connection (one request each at a time): only a stopping
         * db_jobs refuses a note; its threads store the notes queued in batches (db/dbjobs.h) */
        hl_dbjobs_start(HL_DBJOBS_THREADS, (unsigned)cfg->max_connections, HL_CASES_NOTES_MAX,
                        &app.db_jobs) != HL_OK)
        goto out;
    /* Only routes that read, and may read a little in the past, take app.read_pool (docs/scale-out.md). */
    if (app.read_pool == NULL)
        app.read_pool = app.pool;
    hl_http_opts_t hopts = {
        .host = cfg->listen_host,
        .port = cfg->listen_port,
        .threads = (unsigned)cfg->threads,
        .max_body_bytes = cfg->max_body_bytes,
        .max_connections = (unsigned)cfg->max_connections,
        .max_connections_per_ip = (unsigned)cfg->max_connections_per_ip,
        .header_timeout_seconds = (unsigned)cfg->header_timeout_seconds,
        .tls_cert_file = cfg->tls_cert,
        .tls_key_file = cfg->tls_key,
        .routes = hl_routes,
        .n_routes = hl_n_routes,
        .authenticate = authenticate,
        .authenticate_session = authenticate_session,
        .app = &app,
    };
    if (hl_http_start(&hopts, &app.http) != HL_OK)
        goto out;
    hl_log(HL_LOG_INFO, "helplined ready");
    for (;;) {
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            hl_log(HL_LOG_INFO, "SIGHUP: reloading");
            reload(&app, config_path);
            continue;
        }
        hl_log(HL_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    hl_http_quiesce(app.http);
    status = 0;
out:
    /* The writer answers everything queued before HTTP closes the connections. */
    if (app.writer != NULL)
        hl_writer_stop(app.writer);
    hl_merger_stop(app.merger);
    hl_hasher_stop(app.hasher);  /* answers the logins it holds while HTTP can still send them */
    hl_dbjobs_stop(app.db_jobs); /* likewise the notes */
    hl_http_stop(app.http);
    hl_webfiles_free(app.web);
    hl_health_stop(app.health);
    hl_auth_free(app.auth);
    hl_throttle_free(app.throttle);
    hl_sessions_free(app.sessions);
    if (app.read_pool != app.pool)
        hl_dbpool_free(app.read_pool);
    hl_dbpool_free(app.pool);
    hl_spool_close(app.spool);
    if (app.tax != NULL)
        hl_app_taxonomy_drop(&app);
    if (app.keyring != NULL) {
        hl_crypto_keyring_unpin(app.keyring);
        hl_crypto_keyring_free(app.keyring);
    }
    pthread_mutex_destroy(&app.tax_lock);
    if (status == 0)
        hl_log(HL_LOG_INFO, "helplined stopped");
    return status;
}

int hl_admin_serve(int argc, char **argv, const hl_config_t *cfg)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: helplined [serve] [-c FILE]\n");
        return 2;
    }
    return serve(cfg, cfg->source_path);
}
