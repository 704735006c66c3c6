/*
 * make bench-crypto: seal+open throughput for 100-byte and 10 KiB fields (keys mprotected
 * around every call, and pinned readable as a serving daemon keeps them), token checks,
 * blind indexes and report signatures per second. One thread, about 1 s per figure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

#define SECONDS 1.0

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_crypto: %s failed\n", what);
    exit(1);
}

static const hl_crypto_ad_t AD = {"contacts", "transcript", "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11"};

static void seal_open(hl_crypto_keyring_t *kr, size_t size, bool pinned)
{
    uint8_t *pt = malloc(size), *ct = malloc(HL_CRYPTO_SEALED_LEN(size)), *back = malloc(size);
    size_t ctlen = 0, backlen = 0;
    unsigned long n = 0;
    double t0, t;

    if (pt == NULL || ct == NULL || back == NULL)
        die("malloc");
    memset(pt, 'x', size);
    if (pinned)
        hl_crypto_keyring_pin(kr);
    t0 = now();
    do {
        for (int i = 0; i < 64; i++, n++) {
            if (hl_crypto_seal(kr, &AD, pt, size, ct, HL_CRYPTO_SEALED_LEN(size), &ctlen) != HL_OK ||
                hl_crypto_open(kr, &AD, ct, ctlen, back, size, &backlen) != HL_OK || backlen != size)
                die("seal/open");
        }
        t = now() - t0;
    } while (t < SECONDS);
    if (pinned)
        hl_crypto_keyring_unpin(kr);
    printf("seal+open %6zu B %-9s %9.1f MB/s  %10.0f pairs/s  %6.2f us/pair\n", size,
           pinned ? "(pinned)" : "(mprotect)", (double)n * (double)size / t / 1e6, (double)n / t,
           t / (double)n * 1e6);
    free(pt);
    free(ct);
    free(back);
}

static void tokens(hl_crypto_keyring_t *kr)
{
    char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t sel2[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    unsigned long n = 0;
    double t0, t;

    if (hl_crypto_token_new(kr, text, sel, hash) != HL_OK)
        die("token_new");
    hl_crypto_keyring_pin(kr);
    t0 = now();
    do {
        for (int i = 0; i < 256; i++, n++) {
            if (hl_crypto_token_parse(text, sel2, ver) != HL_OK ||
                hl_crypto_token_verify(kr, ver, hash, sizeof(hash)) != HL_OK)
                die("token verify");
        }
        t = now() - t0;
    } while (t < SECONDS);
    hl_crypto_keyring_unpin(kr);
    printf("token parse+verify (no database)        %10.0f /s        %6.2f us each\n", (double)n / t,
           t / (double)n * 1e6);
}

static void blind_index(hl_crypto_keyring_t *kr)
{
    uint8_t out[HL_CRYPTO_BLIND_INDEX_BYTES];
    unsigned long n = 0;
    double t0, t;

    hl_crypto_keyring_pin(kr);
    t0 = now();
    do {
        for (int i = 0; i < 256; i++, n++)
            if (hl_crypto_blind_index_phone(kr, "+254 700 000 001", NULL, out) != HL_OK)
                die("blind index");
        t = now() - t0;
    } while (t < SECONDS);
    hl_crypto_keyring_unpin(kr);
    printf("blind index (phone)                     %10.0f /s        %6.2f us each\n", (double)n / t,
           t / (double)n * 1e6);
}

static void signatures(hl_crypto_keyring_t *kr)
{
    hl_crypto_signer_t *s = NULL;
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], sig[HL_CRYPTO_SIGN_BYTES], msg[4096];
    unsigned long n = 0, m = 0;
    double t0, t, t2;

    memset(msg, '{', sizeof(msg));
    if (hl_crypto_signer_derive(kr, 1, &s) != HL_OK)
        die("signer");
    hl_crypto_signer_public_key(s, pk);
    t0 = now();
    do {
        for (int i = 0; i < 64; i++, n++)
            if (hl_crypto_sign(s, msg, sizeof(msg), sig) != HL_OK)
                die("sign");
        t = now() - t0;
    } while (t < SECONDS);
    t0 = now();
    do {
        for (int i = 0; i < 64; i++, m++)
            if (hl_crypto_verify(pk, msg, sizeof(msg), sig) != HL_OK)
                die("verify");
        t2 = now() - t0;
    } while (t2 < SECONDS);
    printf("ed25519 sign 4 KiB report               %10.0f /s\n", (double)n / t);
    printf("ed25519 verify 4 KiB report             %10.0f /s\n", (double)m / t2);
    hl_crypto_signer_free(s);
}

int main(void)
{
    uint8_t master[HL_CRYPTO_KEY_BYTES];
    hl_crypto_keyring_t *kr = NULL;

    if (hl_crypto_init() != HL_OK)
        die("init");
    for (int i = 0; i < HL_CRYPTO_KEY_BYTES; i++)
        master[i] = (uint8_t)(i * 7);
    if (hl_crypto_keyring_new(master, &kr) != HL_OK)
        die("keyring");
    seal_open(kr, 100, false);
    seal_open(kr, 100, true);
    seal_open(kr, 10240, false);
    seal_open(kr, 10240, true);
    tokens(kr);
    blind_index(kr);
    signatures(kr);
    hl_crypto_keyring_free(kr);
    return 0;
}
