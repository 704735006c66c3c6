#include "access/throttle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

typedef struct {
    bool used;
    bool reported; /* blocked once in this window */
    char key[HL_THROTTLE_KEY_MAX];
    unsigned failures;
    int64_t last;  /* the last failure, ms */
    int64_t until; /* blocked before this, ms */
} entry_t;

typedef struct {
    entry_t *slots;
    size_t n;
    unsigned free_failures;
} table_t;

struct hl_throttle {
    pthread_mutex_t lock;
    uint8_t hash_key[HL_CRYPTO_SHORTHASH_KEY_BYTES];
    table_t tables[2];
};

int hl_throttle_new(hl_throttle_t **out)
{
    static const size_t sizes[2] = {HL_THROTTLE_USER_SLOTS, HL_THROTTLE_ADDR_SLOTS};
    static const unsigned free_failures[2] = {HL_THROTTLE_USER_FREE, HL_THROTTLE_ADDR_FREE};
    hl_throttle_t *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return HL_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    for (int k = 0; k < 2; k++) {
        t->tables[k].slots = calloc(sizes[k], sizeof(entry_t));
        t->tables[k].n = sizes[k];
        t->tables[k].free_failures = free_failures[k];
        if (t->tables[k].slots == NULL) {
            hl_throttle_free(t);
            return HL_ENOMEM;
        }
    }
    if (hl_crypto_random(t->hash_key, sizeof(t->hash_key)) != HL_OK) {
        hl_throttle_free(t);
        return HL_ECRYPTO;
    }
    *out = t;
    return HL_OK;
}

void hl_throttle_free(hl_throttle_t *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->tables[0].slots);
    free(t->tables[1].slots);
    free(t);
}

static bool live(const entry_t *e, int64_t now)
{
    return e->used && now - e->last < (int64_t)HL_THROTTLE_WINDOW * 1000;
}

/* KEY's entry, or NULL; with CREATE, a slot for it (lock held). */
static entry_t *find(hl_throttle_t *t, table_t *tab, const char *key, int64_t now, bool create)
{
    char k[HL_THROTTLE_KEY_MAX];
    size_t base, victim = SIZE_MAX;

    memset(k, 0, sizeof(k));
    strncpy(k, key, sizeof(k) - 1);
    base = (size_t)(hl_crypto_shorthash(t->hash_key, k, strlen(k)) % tab->n);
    for (size_t i = 0; i < HL_THROTTLE_PROBE; i++) {
        entry_t *e = &tab->slots[(base + i) % tab->n];

        if (live(e, now) && strcmp(e->key, k) == 0)
            return e;
    }
    if (!create)
        return NULL;
    /* A free (or forgotten) slot, else the one idle longest that is not blocked, else the one idle
     * longest. */
    for (int pass = 0; pass < 3 && victim == SIZE_MAX; pass++) {
        for (size_t i = 0; i < HL_THROTTLE_PROBE; i++) {
            size_t s = (base + i) % tab->n;
            const entry_t *e = &tab->slots[s];

            if (pass == 0 && !live(e, now)) {
                victim = s;
                break;
            }
            if (pass == 1 && e->until > now)
                continue;
            if (pass > 0 && (victim == SIZE_MAX || e->last < tab->slots[victim].last))
                victim = s;
        }
    }
    entry_t *e = &tab->slots[victim];
    memset(e, 0, sizeof(*e));
    e->used = true;
    memcpy(e->key, k, sizeof(k));
    return e;
}

unsigned hl_throttle_wait(hl_throttle_t *t, hl_throttle_kind_t kind, const char *key, int64_t now)
{
    const entry_t *e;
    unsigned wait = 0;

    pthread_mutex_lock(&t->lock);
    e = find(t, &t->tables[kind], key, now, false);
    if (e != NULL && e->until > now)
        wait = (unsigned)((e->until - now + 999) / 1000); /* whole seconds, rounded up */
    pthread_mutex_unlock(&t->lock);
    return wait;
}

bool hl_throttle_fail(hl_throttle_t *t, hl_throttle_kind_t kind, const char *key, int64_t now)
{
    table_t *tab = &t->tables[kind];
    bool first_block = false;
    entry_t *e;

    pthread_mutex_lock(&t->lock);
    e = find(t, tab, key, now, true);
    e->failures++;
    e->last = now;
    if (e->failures > tab->free_failures) {
        unsigned over = e->failures - tab->free_failures - 1;
        int64_t delay = over >= 9 ? HL_THROTTLE_MAX_DELAY : (int64_t)1 << over;

        e->until = now + 1000 * (delay < HL_THROTTLE_MAX_DELAY ? delay : HL_THROTTLE_MAX_DELAY);
        first_block = !e->reported;
        e->reported = true;
    }
    pthread_mutex_unlock(&t->lock);
    return first_block;
}

void hl_throttle_clear(hl_throttle_t *t, hl_throttle_kind_t kind, const char *key, int64_t now)
{
    entry_t *e;

    pthread_mutex_lock(&t->lock);
    e = find(t, &t->tables[kind], key, now, false);
    if (e != NULL)
        memset(e, 0, sizeof(*e));
    pthread_mutex_unlock(&t->lock);
}
