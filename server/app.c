#include "app.h"

#include <stdlib.h>

#include "log.h"

struct hl_taxref {
    hl_taxonomy_t *tax;
    atomic_int refs; /* one for being current, one per reader */
};

static void taxref_put(hl_taxref_t *ref)
{
    if (ref != NULL && atomic_fetch_sub(&ref->refs, 1) == 1) {
        hl_taxonomy_free(ref->tax);
        free(ref);
    }
}

const hl_taxonomy_t *hl_app_taxonomy_acquire(hl_app_t *app, hl_taxref_t **out)
{
    hl_taxref_t *ref;

    pthread_mutex_lock(&app->tax_lock);
    ref = app->tax;
    atomic_fetch_add(&ref->refs, 1);
    pthread_mutex_unlock(&app->tax_lock);
    *out = ref;
    return ref->tax;
}

void hl_app_taxonomy_release(hl_taxref_t *ref)
{
    taxref_put(ref);
}

int hl_app_taxonomy_load(hl_app_t *app, const char *dir)
{
    char err[HL_TAXONOMY_ERR_LEN];
    hl_taxref_t *ref = calloc(1, sizeof(*ref)), *old;
    int rc;

    if (ref == NULL)
        return HL_ENOMEM;
    rc = hl_taxonomy_load(dir, &ref->tax, err);
    if (rc != HL_OK) {
        hl_log(HL_LOG_ERROR, "taxonomy not loaded: %s", err);
        free(ref);
        return rc;
    }
    atomic_init(&ref->refs, 1);
    pthread_mutex_lock(&app->tax_lock);
    old = app->tax;
    app->tax = ref;
    pthread_mutex_unlock(&app->tax_lock);
    taxref_put(old);
    hl_log(HL_LOG_INFO, "taxonomy %s loaded from %s", hl_taxonomy_version(ref->tax), dir);
    return HL_OK;
}

void hl_app_taxonomy_drop(hl_app_t *app)
{
    pthread_mutex_lock(&app->tax_lock);
    taxref_put(app->tax);
    app->tax = NULL;
    pthread_mutex_unlock(&app->tax_lock);
}
