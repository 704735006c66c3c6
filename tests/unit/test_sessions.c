/*
 * Web sessions without a daemon: session token hashing and CSRF tokens (lib/crypto, known
 * answers cross-checked with Python), passwords, the expiry rule (access/sessions.h), the login
 * throttle (access/throttle.h) and the hasher's bound (access/hasher.h).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "access/hasher.h"
#include "access/sessions.h"
#include "access/throttle.h"
#include "crypto.h"

static void init(void)
{
    cr_assert_eq(hl_crypto_init(), HL_OK);
}

static hl_crypto_keyring_t *fixed_keyring(void)
{
    uint8_t m[HL_CRYPTO_KEY_BYTES];
    hl_crypto_keyring_t *kr = NULL;

    for (int i = 0; i < HL_CRYPTO_KEY_BYTES; i++)
        m[i] = (uint8_t)i;
    cr_assert_eq(hl_crypto_keyring_new(m, &kr), HL_OK);
    return kr;
}

/* ---- session tokens and CSRF tokens ------------------------------------------------------------ */

TestSuite(session_tokens, .init = init);

/* Python: blake2b(bytes(range(0xa0, 0xc0)), digest_size=32, key=kdf(master, 1, b'SESSION1')), and
 * base64url(blake2b(bytes(range(0x10, 0x20)), digest_size=16, key=kdf(master, 2, b'SESSION1')))
 * with kdf as in docs/keys.md section 9. */
Test(session_tokens, known_answers)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t v[HL_CRYPTO_TOKEN_VERIFIER_BYTES], sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
        h[HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t want[HL_CRYPTO_TOKEN_HASH_BYTES];
    char csrf[HL_CRYPTO_CSRF_LEN + 1];
    size_t len = 0;

    for (int i = 0; i < HL_CRYPTO_TOKEN_VERIFIER_BYTES; i++)
        v[i] = (uint8_t)(0xa0 + i);
    for (int i = 0; i < HL_CRYPTO_TOKEN_SELECTOR_BYTES; i++)
        sel[i] = (uint8_t)(0x10 + i);
    cr_assert_eq(sodium_hex2bin(want, sizeof(want),
                                "c4da5384a32ebeaea22e4b39945cac29424e98438149e3ba0c5bc1dbfb95ea7f", 64, NULL,
                                &len, NULL),
                 0);
    cr_assert_eq(hl_crypto_session_hash(kr, v, h), HL_OK);
    cr_assert_arr_eq(h, want, sizeof(want));
    cr_assert_eq(hl_crypto_session_csrf(kr, sel, csrf), HL_OK);
    cr_assert_str_eq(csrf, "vCS0xTwuzz5ZoZCH-SkohQ");
    hl_crypto_keyring_free(kr);
}

Test(session_tokens, apart_from_access_tokens)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t sel2[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    uint8_t token_hash[HL_CRYPTO_TOKEN_HASH_BYTES];

    cr_assert_eq(hl_crypto_session_new(kr, text, sel, hash), HL_OK);
    cr_assert_eq(hl_crypto_token_parse(text, sel2, ver), HL_OK);
    cr_assert_arr_eq(sel, sel2, sizeof(sel));
    cr_assert_eq(hl_crypto_session_verify(kr, ver, hash, sizeof(hash)), HL_OK);
    /* The same verifier under the access token key is another hash: a session is no bearer token. */
    cr_assert_eq(hl_crypto_token_hash(kr, ver, token_hash), HL_OK);
    cr_assert(memcmp(token_hash, hash, sizeof(hash)) != 0);
    cr_assert_eq(hl_crypto_token_verify(kr, ver, hash, sizeof(hash)), HL_ECRYPTO);
    hl_crypto_keyring_free(kr);
}

Test(session_tokens, altered_unknown_and_wrong_csrf_fail)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1], csrf[HL_CRYPTO_CSRF_LEN + 1], other[HL_CRYPTO_CSRF_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t sel2[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    uint64_t before = hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN);

    cr_assert_eq(hl_crypto_session_new(kr, text, sel, hash), HL_OK);
    cr_assert_eq(hl_crypto_token_parse(text, sel2, ver), HL_OK);
    ver[31] ^= 1;
    cr_assert_eq(hl_crypto_session_verify(kr, ver, hash, sizeof(hash)), HL_ECRYPTO);
    ver[31] ^= 1;
    cr_assert_eq(hl_crypto_session_verify(kr, ver, NULL, 0), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_session_csrf(kr, sel, csrf), HL_OK);
    cr_assert_eq(strlen(csrf), HL_CRYPTO_CSRF_LEN);
    cr_assert_eq(hl_crypto_session_csrf_check(kr, sel, csrf), HL_OK);
    /* Another session's token, a changed character, a prefix, extra characters, none. */
    sel2[0] = sel[0] ^ 1;
    memcpy(sel2 + 1, sel + 1, sizeof(sel) - 1);
    cr_assert_eq(hl_crypto_session_csrf(kr, sel2, other), HL_OK);
    cr_assert_eq(hl_crypto_session_csrf_check(kr, sel, other), HL_ECRYPTO);
    strcpy(other, csrf);
    other[5] = other[5] == 'A' ? 'B' : 'A';
    cr_assert_eq(hl_crypto_session_csrf_check(kr, sel, other), HL_ECRYPTO);
    other[0] = '\0';
    cr_assert_eq(hl_crypto_session_csrf_check(kr, sel, other), HL_ECRYPTO);
    char longer[HL_CRYPTO_CSRF_LEN + 2];
    snprintf(longer, sizeof(longer), "%sA", csrf);
    cr_assert_eq(hl_crypto_session_csrf_check(kr, sel, longer), HL_ECRYPTO);
    char shorter[HL_CRYPTO_CSRF_LEN];
    memcpy(shorter, csrf, HL_CRYPTO_CSRF_LEN - 1); /* the last character cut */
    shorter[HL_CRYPTO_CSRF_LEN - 1] = '\0';
    cr_assert_eq(hl_crypto_session_csrf_check(kr, sel, shorter), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_session_csrf_check(kr, sel, NULL), HL_ECRYPTO);
    cr_assert_geq(hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN), before + 8);
    hl_crypto_keyring_free(kr);
}

/* ---- passwords ----------------------------------------------------------------------------- */

TestSuite(passwords, .init = init, .timeout = 60);

Test(passwords, acceptable_lengths)
{
    static const char max_ok[HL_CRYPTO_PASSWORD_MAX_BYTES + 2] = {0};
    char big[HL_CRYPTO_PASSWORD_MAX_BYTES + 2];

    cr_assert(hl_crypto_password_acceptable("twelve chars", 12));
    cr_assert_not(hl_crypto_password_acceptable("eleven char", 11));
    /* Characters, not bytes: 11 two-byte letters are 22 bytes but 11 characters. */
    cr_assert_not(hl_crypto_password_acceptable("ñññññññññññ", strlen("ñññññññññññ")));
    cr_assert(hl_crypto_password_acceptable("ññññññññññññ", strlen("ññññññññññññ")));
    cr_assert_not(hl_crypto_password_acceptable("twelve\0chars", 12), "a NUL byte");
    memset(big, 'x', sizeof(big));
    cr_assert(hl_crypto_password_acceptable(big, HL_CRYPTO_PASSWORD_MAX_BYTES));
    cr_assert_not(hl_crypto_password_acceptable(big, HL_CRYPTO_PASSWORD_MAX_BYTES + 1));
    cr_assert_not(hl_crypto_password_acceptable(max_ok, 0));
    cr_assert_not(hl_crypto_password_acceptable(NULL, 0));
}

Test(passwords, argon2id_round_trip_and_failures)
{
    char hash[HL_CRYPTO_PASSWORD_HASH_MAX];
    uint64_t before = hl_crypto_failures(HL_CRYPTO_FAIL_PASSWORD);

    cr_assert_eq(hl_crypto_password_hash("correct horse battery", 21, hash), HL_OK);
    cr_assert(strncmp(hash, "$argon2id$v=19$m=65536,t=2,p=1$", 31) == 0, "%s", hash);
    cr_assert(hl_crypto_password_current(hash));
    cr_assert_eq(hl_crypto_password_verify(hash, "correct horse battery", 21), HL_OK);
    cr_assert_eq(hl_crypto_password_verify(hash, "correct horse batterY", 21), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_password_verify(hash, "correct horse battery", 20), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_password_verify(NULL, "correct horse battery", 21), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_password_verify("", "correct horse battery", 21), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_failures(HL_CRYPTO_FAIL_PASSWORD), before + 4);
}

/* An unknown user is checked against the dummy string: it must cost what a real check costs. */
Test(passwords, the_dummy_has_todays_cost)
{
    cr_assert(hl_crypto_password_current(hl_crypto_password_dummy()));
    cr_assert(strncmp(hl_crypto_password_dummy(), "$argon2id$", 10) == 0);
}

Test(passwords, older_cost_is_not_current)
{
    char old[crypto_pwhash_STRBYTES];

    cr_assert_eq(crypto_pwhash_str_alg(old, "correct horse battery", 21, crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13),
                 0);
    cr_assert_not(hl_crypto_password_current(old));
    cr_assert_eq(hl_crypto_password_verify(old, "correct horse battery", 21), HL_OK);
    cr_assert_not(hl_crypto_password_current(NULL));
}

/* ---- expiry ----------------------------------------------------------------------------------- */

Test(session_expiry, idle_and_absolute_limits)
{
    static const struct {
        int64_t age, idle;
        bool expired;
    } cases[] = {
        {0, 0, false},    {1799, 1799, false}, {1800, 1800, true}, {1801, 0, false}, {43199, 1799, false},
        {43200, 0, true}, {43200, 1800, true}, {50000, 10, true},  {-5, -5, false}, /* the database's clock
                                                                                       stepped back */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(hl_sessions_expired(cases[i].age, cases[i].idle, 1800, 43200), cases[i].expired,
                     "case %zu", i);
}

/* ---- throttle ------------------------------------------------------------------------------ */

static hl_throttle_t *throttle(void)
{
    hl_throttle_t *t = NULL;

    cr_assert_eq(hl_throttle_new(&t), HL_OK);
    return t;
}

Test(throttle, free_failures_then_doubling_delays_capped)
{
    hl_throttle_t *t = throttle();
    int64_t now = 1000000; /* ms */

    for (int i = 0; i < HL_THROTTLE_USER_FREE; i++) {
        cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", now), 0);
        cr_assert_not(hl_throttle_fail(t, HL_THROTTLE_USER, "demo/amina", now));
    }
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", now), 0);
    cr_assert(hl_throttle_fail(t, HL_THROTTLE_USER, "demo/amina", now), "the first block is reported");
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", now), 1);
    /* A full second, however late in a second the failure came; Retry-After rounds up. */
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", now + 999), 1);
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", now + 1000), 0);
    /* Each further failure doubles the wait: 2, 4, 8, ... up to HL_THROTTLE_MAX_DELAY. */
    unsigned want = 1;
    for (int i = 0; i < 12; i++) {
        now += 1000 * (int64_t)want;
        cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", now), 0);
        cr_assert_not(hl_throttle_fail(t, HL_THROTTLE_USER, "demo/amina", now), "reported once per window");
        want = want * 2 > HL_THROTTLE_MAX_DELAY ? HL_THROTTLE_MAX_DELAY : want * 2;
        cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", now), want, "step %d", i);
    }
    /* Other names and the other table are not touched. */
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/baraka", now), 0);
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_ADDR, "demo/amina", now), 0);
    /* A window without a failure forgets everything. */
    now += 1000 * (int64_t)HL_THROTTLE_WINDOW;
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", now), 0);
    cr_assert_not(hl_throttle_fail(t, HL_THROTTLE_USER, "demo/amina", now));
    hl_throttle_free(t);
}

Test(throttle, addresses_get_more_and_clear_forgets_a_name)
{
    hl_throttle_t *t = throttle();

    for (int i = 0; i < HL_THROTTLE_ADDR_FREE; i++)
        cr_assert_not(hl_throttle_fail(t, HL_THROTTLE_ADDR, "192.0.2.7", 50000));
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_ADDR, "192.0.2.7", 50000), 0);
    cr_assert(hl_throttle_fail(t, HL_THROTTLE_ADDR, "192.0.2.7", 50000));
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_ADDR, "192.0.2.7", 50000), 1);
    for (int i = 0; i <= HL_THROTTLE_USER_FREE; i++)
        (void)hl_throttle_fail(t, HL_THROTTLE_USER, "za/zola", 50000);
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "za/zola", 50000), 1);
    hl_throttle_clear(t, HL_THROTTLE_USER, "za/zola", 50000);
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "za/zola", 50000), 0);
    hl_throttle_free(t);
}

/* A flood of other names fills every slot: blocked names are the last to make room. */
Test(throttle, a_flood_of_names_keeps_blocked_ones)
{
    hl_throttle_t *t = throttle();
    char key[32];

    for (int i = 0; i <= HL_THROTTLE_USER_FREE; i++)
        (void)hl_throttle_fail(t, HL_THROTTLE_USER, "demo/amina", 10000);
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", 10000), 1);
    for (int i = 0; i < 4 * HL_THROTTLE_USER_SLOTS; i++) {
        snprintf(key, sizeof(key), "demo/guess%d", i);
        (void)hl_throttle_fail(t, HL_THROTTLE_USER, key, 10000);
    }
    cr_assert_eq(hl_throttle_wait(t, HL_THROTTLE_USER, "demo/amina", 10000), 1);
    hl_throttle_free(t);
}

/* ---- hasher -------------------------------------------------------------------------------- */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    atomic_int started, ran;
} gate_t;

static void gated_job(void *arg)
{
    gate_t *g = arg;

    atomic_fetch_add(&g->started, 1);
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_add(&g->ran, 1);
}

Test(hasher, bounded_queue_refuses_at_once_and_stop_runs_the_rest)
{
    gate_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0};
    hl_hasher_t *h = NULL;
    int queued = 0;

    cr_assert_eq(hl_hasher_start(2, 3, &h), HL_OK);
    /* Two run (and wait at the gate), three wait in the queue, the rest are refused at once. */
    for (int i = 0; i < 2; i++)
        cr_assert(hl_hasher_submit(h, gated_job, &g));
    for (int i = 0; i < 5000 && atomic_load(&g.started) < 2; i++)
        usleep(1000);
    cr_assert_eq(atomic_load(&g.started), 2);
    for (int i = 0; i < 18; i++)
        queued += hl_hasher_submit(h, gated_job, &g);
    cr_assert_eq(queued, 3, "%d", queued);
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    hl_hasher_stop(h);
    cr_assert_eq(atomic_load(&g.ran), 5);
}
