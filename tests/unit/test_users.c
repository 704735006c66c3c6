/* server/users and the user/keygen/signing-key subcommands, against a real PostgreSQL. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "crypto.h"
#include "db/migrate.h"
#include "pgtest.h"
#include "access/users.h"

static hl_pgtest_t db;
static PGconn *conn;
static hl_crypto_keyring_t *kr;
static char tmpdir[64];
static char key_path[128];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void exec(const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s",
              sql, PQerrorMessage(conn));
    PQclear(res);
}

static void setup(void)
{
    int applied = 0;

    cr_assert_eq(hl_crypto_init(), HL_OK);
    hl_pgtest_create(&db);
    conn = hl_pgtest_connect(&db);
    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    exec("INSERT INTO helplines (code, name, country) VALUES ('ke-116', 'Childline Kenya', 'KE'),"
         " ('ug-116', 'Sauti 116', 'UG')");
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hl-users-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(key_path, sizeof(key_path), "%s/master.key", tmpdir);
    cr_assert_eq(hl_crypto_keygen_file(key_path), HL_OK);
    cr_assert_eq(hl_crypto_keyring_load(key_path, &kr), HL_OK);
}

static void teardown(void)
{
    hl_crypto_keyring_free(kr);
    PQfinish(conn);
    hl_pgtest_drop(&db);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(users, .init = setup, .fini = teardown);

static void add(const char *code, const char *name, const char *role,
                char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1])
{
    int64_t id = 0;

    cr_assert_eq(hl_users_add(conn, kr, code, name, role, token, &id), HL_OK);
    cr_assert_gt(id, 0);
}

Test(users, add_then_authenticate)
{
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    hl_user_t u;

    add("ke-116", "amina", "counsellor", token);
    cr_assert_eq(strlen(token), HL_CRYPTO_TOKEN_TEXT_LEN);
    cr_assert_eq(hl_users_authenticate(conn, kr, token, &u), HL_OK);
    cr_assert_str_eq(u.name, "amina");
    cr_assert_str_eq(u.role, "counsellor");
    cr_assert_str_eq(u.helpline_code, "ke-116");
    cr_assert_eq(u.helpline_id, hl_pgtest_scalar(conn, "SELECT id FROM helplines WHERE code = 'ke-116'"));
    cr_assert_eq(u.id, hl_pgtest_scalar(conn, "SELECT id FROM users WHERE name = 'amina'"));
}

Test(users, revoked_token_fails)
{
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    bool already = true;
    hl_user_t u;
    uint64_t before;

    add("ke-116", "amina", "counsellor", token);
    cr_assert_eq(hl_users_revoke(conn, "amina", NULL, &already, NULL), HL_OK);
    cr_assert_not(already);
    before = hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN);
    cr_assert_eq(hl_users_authenticate(conn, kr, token, &u), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN), before + 1);
    cr_assert_eq(hl_users_revoke(conn, "amina", "ke-116", &already, NULL), HL_OK);
    cr_assert(already);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM users WHERE revoked_at IS NOT NULL"), 1);
}

/* The frontend list's re-check (server/access/auth.c): which tokens still belong to a live frontend user. */
Test(users, frontends_live)
{
    char tokens[5][HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[6][HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[6][HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    bool live[6];

    add("ke-116", "gateway", "frontend", tokens[0]);
    add("ug-116", "gateway", "frontend", tokens[1]);
    add("ke-116", "old-gateway", "frontend", tokens[2]);
    add("ke-116", "amina", "counsellor", tokens[3]);
    add("ke-116", "gateway3", "frontend", tokens[4]);
    cr_assert_eq(hl_users_revoke(conn, "old-gateway", NULL, NULL, NULL), HL_OK);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(hl_crypto_token_parse(tokens[i], sel[i], ver), HL_OK);
        cr_assert_eq(hl_crypto_token_hash(kr, ver, hash[i]), HL_OK);
    }
    hash[4][0] ^= 1;                      /* gateway3's selector with another hash */
    memset(sel[5], 0x5a, sizeof(sel[5])); /* a selector nobody has */
    memcpy(hash[5], hash[0], sizeof(hash[5]));
    memset(live, 1, sizeof(live));
    cr_assert_eq(hl_users_frontends_live(conn, (const uint8_t(*)[HL_CRYPTO_TOKEN_SELECTOR_BYTES])sel,
                                         (const uint8_t(*)[HL_CRYPTO_TOKEN_HASH_BYTES])hash, 6, live),
                 HL_OK);
    cr_expect(live[0] && live[1], "live front ends of two helplines");
    cr_expect_not(live[2], "a revoked front end");
    cr_expect_not(live[3], "a counsellor is not a front end");
    cr_expect_not(live[4], "a hash that does not match");
    cr_expect_not(live[5], "an unknown selector");
    cr_expect_eq(hl_users_frontends_live(conn, NULL, NULL, 0, NULL), HL_OK);
    cr_expect_eq(hl_users_frontends_live(conn, (const uint8_t(*)[HL_CRYPTO_TOKEN_SELECTOR_BYTES])sel,
                                         (const uint8_t(*)[HL_CRYPTO_TOKEN_HASH_BYTES])hash,
                                         HL_USERS_CONFIRM_MAX + 1, live),
                 HL_EINVAL);
    sodium_memzero(ver, sizeof(ver));
}

Test(users, altered_token_fails)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    hl_user_t u;

    add("ke-116", "amina", "counsellor", token);
    for (size_t i = 0; i < HL_CRYPTO_TOKEN_TEXT_LEN; i++) {
        char saved = token[i];
        token[i] = saved == alphabet[i % 64] ? alphabet[(i + 1) % 64] : alphabet[i % 64];
        cr_assert_eq(hl_users_authenticate(conn, kr, token, &u), HL_ECRYPTO, "changed char %zu accepted", i);
        token[i] = saved;
    }
    token[HL_CRYPTO_TOKEN_TEXT_LEN - 1] = '\0'; /* truncated */
    cr_assert_eq(hl_users_authenticate(conn, kr, token, &u), HL_ECRYPTO);
}

Test(users, malformed_missing_or_unknown_token_fails_the_same)
{
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1], other[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    hl_user_t u;
    uint64_t before = hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN);

    add("ke-116", "amina", "counsellor", token);
    cr_assert_eq(hl_crypto_token_new(kr, other, sel, hash), HL_OK); /* never stored */
    cr_assert_eq(hl_users_authenticate(conn, kr, other, &u), HL_ECRYPTO);
    cr_assert_eq(hl_users_authenticate(conn, kr, NULL, &u), HL_ECRYPTO);
    cr_assert_eq(hl_users_authenticate(conn, kr, "", &u), HL_ECRYPTO);
    cr_assert_eq(hl_users_authenticate(conn, kr, "Bearer x", &u), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN), before + 4);
    /* A token from a keyring with another master key does not verify either. */
    hl_crypto_keyring_t *kr2 = NULL;
    uint8_t m[HL_CRYPTO_KEY_BYTES] = {1};
    cr_assert_eq(hl_crypto_keyring_new(m, &kr2), HL_OK);
    cr_assert_eq(hl_users_authenticate(conn, kr2, token, &u), HL_ECRYPTO);
    hl_crypto_keyring_free(kr2);
}

/* Acceptance 4: what the users table holds is useless as a token. */
Test(users, table_holds_no_usable_token)
{
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1], forged[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    char ver_hex[2 * HL_CRYPTO_TOKEN_VERIFIER_BYTES + 1];
    hl_user_t u;

    add("ke-116", "amina", "admin", token);
    cr_assert_eq(hl_crypto_token_parse(token, sel, ver), HL_OK);
    sodium_bin2hex(ver_hex, sizeof(ver_hex), ver, sizeof(ver));

    PGresult *res = PQexecParams(conn, "SELECT token_selector, token_hash, users::text FROM users", 0, NULL,
                                 NULL, NULL, NULL, 1);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    cr_assert_eq(PQntuples(res), 1);
    const uint8_t *db_sel = (const uint8_t *)PQgetvalue(res, 0, 0);
    const uint8_t *db_hash = (const uint8_t *)PQgetvalue(res, 0, 1);
    const char *row = PQgetvalue(res, 0, 2);
    cr_assert_eq(PQgetlength(res, 0, 0), HL_CRYPTO_TOKEN_SELECTOR_BYTES);
    cr_assert_eq(PQgetlength(res, 0, 1), HL_CRYPTO_TOKEN_HASH_BYTES);
    cr_assert_arr_eq(db_sel, sel, sizeof(sel));
    cr_assert_arr_neq(db_hash, ver, sizeof(ver), "the verifier itself is stored");
    /* Neither the token text, its verifier part, nor the verifier bytes appear in the row. */
    cr_assert_null(strstr(row, token));
    cr_assert_null(strstr(row, token + 23));
    cr_assert_null(strstr(row, ver_hex));
    cr_assert_null(memmem(db_hash, HL_CRYPTO_TOKEN_HASH_BYTES, ver, 8));
    /* A token rebuilt from what the table holds (selector + stored hash as verifier) fails. */
    cr_assert_eq(hl_crypto_b64_encode(db_sel, HL_CRYPTO_TOKEN_SELECTOR_BYTES, true, forged, 23), HL_OK);
    forged[22] = '.';
    cr_assert_eq(hl_crypto_b64_encode(db_hash, HL_CRYPTO_TOKEN_HASH_BYTES, true, forged + 23, 44), HL_OK);
    cr_assert_eq(hl_users_authenticate(conn, kr, forged, &u), HL_ECRYPTO);
    PQclear(res);
    cr_assert_eq(hl_users_authenticate(conn, kr, token, &u), HL_OK);
    sodium_memzero(ver, sizeof(ver));
}

Test(users, add_and_revoke_errors)
{
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1], t2[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    bool already;
    hl_user_t u;

    add("ke-116", "amina", "counsellor", token);
    cr_assert_eq(hl_users_add(conn, kr, "ke-116", "amina", "supervisor", t2, NULL), HL_EEXIST);
    cr_assert_eq(hl_users_add(conn, kr, "zz-999", "amina", "supervisor", t2, NULL), HL_ENOTFOUND);
    cr_assert_eq(hl_users_add(conn, kr, "ke-116", "baraka", "root", t2, NULL), HL_EINVAL);
    cr_assert_eq(hl_users_add(conn, kr, "ke-116", "-baraka", "admin", t2, NULL), HL_EINVAL);
    cr_assert_eq(hl_users_add(conn, kr, "ke-116", "bar aka", "admin", t2, NULL), HL_EINVAL);
    cr_assert_eq(hl_users_add(conn, kr, "ke-116", "", "admin", t2, NULL), HL_EINVAL);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM users"), 1);
    cr_assert_eq(hl_users_revoke(conn, "nobody", NULL, &already, NULL), HL_ENOTFOUND);

    /* The same name in two helplines: revoke needs the code. */
    add("ug-116", "amina", "network", t2);
    cr_assert_eq(hl_users_revoke(conn, "amina", NULL, &already, NULL), HL_ECONFLICT);
    cr_assert_eq(hl_users_revoke(conn, "amina", "ug-116", &already, NULL), HL_OK);
    cr_assert_eq(hl_users_authenticate(conn, kr, t2, &u), HL_ECRYPTO);
    cr_assert_eq(hl_users_authenticate(conn, kr, token, &u), HL_OK);
    cr_assert_str_eq(u.helpline_code, "ke-116");
    cr_assert(hl_users_role_valid("frontend"));
    cr_assert_not(hl_users_role_valid("Admin"));
    cr_assert_not(hl_users_role_valid(NULL));
}

/* ---- the subcommands ---------------------------------------------------------------------- */

static int run_admin(hl_admin_fn fn, int argc, char **argv, char *out, size_t cap)
{
    char path[] = "/tmp/hl-stdout-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(1);
    hl_config_t cfg;
    ssize_t n;
    int status;

    cr_assert(fd >= 0 && saved >= 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.database_url = db.conninfo;
    cfg.key_file = key_path;
    fflush(stdout);
    dup2(fd, 1);
    status = fn(argc, argv, &cfg);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return status;
}

Test(users, cli_user_add_prints_only_the_token)
{
    char out[512], token[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    char *add_argv[] = {"user", "add", "amina", "--role", "counsellor", "--helpline", "ke-116", NULL};
    char *dup_argv[] = {"user", "add", "amina", "--role=counsellor", "--helpline=ke-116", NULL};
    char *bad_role[] = {"user", "add", "baraka", "--role", "boss", "--helpline", "ke-116", NULL};
    char *no_code[] = {"user", "add", "baraka", "--role", "admin", NULL};
    char *revoke[] = {"user", "revoke", "amina", NULL};
    hl_user_t u;

    cr_assert_eq(run_admin(hl_admin_user, 7, add_argv, out, sizeof(out)), 0);
    cr_assert_eq(strlen(out), HL_CRYPTO_TOKEN_TEXT_LEN + 1, "stdout: '%s'", out);
    cr_assert_eq(out[HL_CRYPTO_TOKEN_TEXT_LEN], '\n');
    memcpy(token, out, HL_CRYPTO_TOKEN_TEXT_LEN);
    token[HL_CRYPTO_TOKEN_TEXT_LEN] = '\0';
    cr_assert_eq(hl_users_authenticate(conn, kr, token, &u), HL_OK);
    cr_assert_str_eq(u.role, "counsellor");

    cr_assert_eq(run_admin(hl_admin_user, 5, dup_argv, out, sizeof(out)), 1);
    cr_assert_str_eq(out, "");
    cr_assert_eq(run_admin(hl_admin_user, 7, bad_role, out, sizeof(out)), 2);
    cr_assert_eq(run_admin(hl_admin_user, 5, no_code, out, sizeof(out)), 2);
    cr_assert_str_eq(out, "");

    cr_assert_eq(run_admin(hl_admin_user, 3, revoke, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(hl_users_authenticate(conn, kr, token, &u), HL_ECRYPTO);
}

Test(users, cli_keygen_and_signing_key_show)
{
    char out[512], path[160], want[128];
    char *keygen[] = {"keygen", "-o", path, NULL};
    char *show[] = {"signing-key", "show", "--helpline", "ke-116", NULL};
    char *show_all[] = {"signing-key", "show", NULL};
    char *show_none[] = {"signing-key", "show", "--helpline", "xx-000", NULL};
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    char b64[HL_CRYPTO_SIGN_PK_B64_LEN + 1], kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];
    hl_crypto_signer_t *s = NULL;
    struct stat st;

    snprintf(path, sizeof(path), "%s/other.key", tmpdir);
    cr_assert_eq(run_admin(hl_admin_keygen, 3, keygen, out, sizeof(out)), 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0400);
    cr_assert_eq(run_admin(hl_admin_keygen, 3, keygen, out, sizeof(out)), 1, "overwrote a key file");
    cr_assert_eq(run_admin(hl_admin_keygen, 1, keygen, out, sizeof(out)), 2);

    cr_assert_eq(
        hl_crypto_signer_derive(
            kr, (uint64_t)hl_pgtest_scalar(conn, "SELECT id FROM helplines WHERE code = 'ke-116'"), &s),
        HL_OK);
    hl_crypto_signer_public_key(s, pk);
    hl_crypto_signer_free(s);
    hl_crypto_sign_pk_to_b64(pk, b64);
    hl_crypto_sign_key_id(pk, kid);
    snprintf(want, sizeof(want), "ke-116 ed25519 %s %s\n", kid, b64);
    cr_assert_eq(run_admin(hl_admin_signing_key, 4, show, out, sizeof(out)), 0);
    cr_assert_str_eq(out, want);
    cr_assert_eq(run_admin(hl_admin_signing_key, 2, show_all, out, sizeof(out)), 0);
    cr_assert(strncmp(out, want, strlen(want)) == 0 && strstr(out, "\nug-116 ed25519 ") != NULL, "%s", out);
    cr_assert_eq(run_admin(hl_admin_signing_key, 4, show_none, out, sizeof(out)), 1);
}
