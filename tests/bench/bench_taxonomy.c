/*
 * make bench-taxonomy: how long the shipped taxonomy takes to load, and how fast the
 * classifier reads helpline-like text (single thread). The text is generated: counsellor
 * notes in English, French, Spanish and Swahili with accents, some Cyrillic and Arabic,
 * punctuation, numbers, and terms of the taxonomy at a realistic density.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taxonomy.h"

#define TAX_DIR       HL_TEST_SRCDIR "/taxonomy"
#define TEXT_BYTES    (8u * 1024 * 1024)
#define LOAD_RUNS     30
#define CLASSIFY_RUNS 9

static const char *const english[] = {
    "The caller is a 14 year old girl who says her stepfather hits her when he is drunk.",
    "She has not been to school for two weeks because she is afraid of the other pupils.",
    "Counsellor explained the options and agreed a safety plan; she will call back tomorrow.",
    "He met someone online who asked for photos and now threatens to share them: sextortion.",
    "The boy's mother called about his low mood, poor sleep and talk of self-harm.",
    "Referred to the police child protection unit and to the local social worker (ref. 2026/114).",
    "A neighbour reports that three young children are left alone at night without food.",
    "The girl was groomed through a game chat; the man sent child sexual abuse material.",
    "Caller asked about HIV testing and whether her parents must be told.",
    "Silent call, 40 seconds, no answer after two prompts.",
    "Her uncle arranged a forced marriage for next month; she is 15 and wants to finish school.",
    "He says the older boys called him names and posted the video in the class group.",
};
static const char *const french[] = {
    "L'appelante, âgée de 13 ans, dit que son beau-père la frappe; elle a peur de rentrer.",
    "Il a reçu des messages d'un adulte qui lui demandait des photos intimes.",
    "La conseillère a orienté l'enfant vers le service de protection de l'enfance.",
    "Elle évoque des idées suicidaires depuis la séparation de ses parents.",
    "Un pédophile? Non: un agresseur sexuel d'enfants, selon la fiche.",
};
static const char *const spanish[] = {
    "La niña de 12 años cuenta que su tío le tocó y que tiene miedo de decírselo a su madre.",
    "El chico recibió amenazas por internet; le piden dinero a cambio de no publicar las fotos.",
    "Se le explicó qué es el abuso sexual y dónde puede pedir ayuda en su comunidad.",
    "Pregunta por la edad de consentimiento y por métodos anticonceptivos.",
};
static const char *const swahili[] = {
    "Mtoto wa miaka 11 anasema baba yake humpiga kila siku na hapati chakula cha kutosha.",
    "Msichana huyu aliacha shule kwa sababu ya mimba; anahitaji msaada wa kisheria.",
};
static const char *const other[] = {
    "Мальчик говорит, что его травят в школе и в интернете.",
    "تقول الطفلة إنها تتعرض للعنف في المنزل",
    "Called back 😢 – no answer; left a message ✔",
};

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* Fills BUF with LEN bytes of notes; MIXED: all languages, else English only. */
static size_t make_text(char *buf, size_t len, bool mixed)
{
    size_t n = 0;
    for (;;) {
        const char *s;
        uint32_t r = rnd(100);
        if (!mixed || r < 55)
            s = english[rnd(HL_ARRAY_LEN(english))];
        else if (r < 70)
            s = french[rnd(HL_ARRAY_LEN(french))];
        else if (r < 85)
            s = spanish[rnd(HL_ARRAY_LEN(spanish))];
        else if (r < 93)
            s = swahili[rnd(HL_ARRAY_LEN(swahili))];
        else
            s = other[rnd(HL_ARRAY_LEN(other))];
        size_t l = strlen(s);
        if (n + l + 2 > len)
            break;
        memcpy(buf + n, s, l);
        n += l;
        buf[n++] = rnd(6) == 0 ? '\n' : ' ';
    }
    return n;
}

static int bench_classify(const hl_taxonomy_t *tax, const char *name, const char *text, size_t len)
{
    double t[CLASSIFY_RUNS], cpu[CLASSIFY_RUNS];
    size_t matches = 0;
    char err[HL_TAXONOMY_ERR_LEN];
    for (int run = -1; run < CLASSIFY_RUNS; run++) { /* run -1 warms the caches */
        hl_taxonomy_result_t *res = NULL;
        double c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID), t0 = now_ms();
        if (hl_taxonomy_classify(tax, text, len, &res, err) != HL_OK) {
            fprintf(stderr, "bench_taxonomy: classify: %s\n", err);
            return 1;
        }
        double t1 = now_ms(), c1 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
        matches = res->n_matches;
        hl_taxonomy_result_free(res);
        if (run >= 0) {
            t[run] = t1 - t0;
            cpu[run] = c1 - c0;
        }
    }
    qsort(t, CLASSIFY_RUNS, sizeof(*t), cmp_double);
    qsort(cpu, CLASSIFY_RUNS, sizeof(*cpu), cmp_double);
    printf("classify %-7s %5.2f MB, %6zu matches: wall median %6.1f MB/s, best %6.1f MB/s; "
           "thread CPU time median %6.1f MB/s, best %6.1f MB/s (%d runs, 1 thread)\n",
           name, (double)len / 1e6, matches, (double)len / 1e3 / t[CLASSIFY_RUNS / 2],
           (double)len / 1e3 / t[0], (double)len / 1e3 / cpu[CLASSIFY_RUNS / 2], (double)len / 1e3 / cpu[0],
           CLASSIFY_RUNS);
    return 0;
}

int main(void)
{
    double t[LOAD_RUNS], cpu[LOAD_RUNS];
    char err[HL_TAXONOMY_ERR_LEN];
    hl_taxonomy_t *tax = NULL;
    char *text = NULL;
    size_t len;
    int status = 1;

    for (int run = 0; run < LOAD_RUNS; run++) {
        hl_taxonomy_t *tmp = NULL;
        double c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID), t0 = now_ms();
        if (hl_taxonomy_load(TAX_DIR, &tmp, err) != HL_OK) {
            fprintf(stderr, "bench_taxonomy: %s\n", err);
            goto out;
        }
        t[run] = now_ms() - t0;
        cpu[run] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (run == 0)
            tax = tmp;
        else
            hl_taxonomy_free(tmp);
    }
    qsort(t, LOAD_RUNS, sizeof(*t), cmp_double);
    qsort(cpu, LOAD_RUNS, sizeof(*cpu), cmp_double);
    printf("load     taxonomy %s (%zu categories, %zu terms, %zu helpline mappings): wall median %.2f ms, "
           "min %.2f ms, max %.2f ms; thread CPU time median %.2f ms (%d runs)\n",
           hl_taxonomy_version(tax), hl_taxonomy_category_count(tax), hl_taxonomy_term_count(tax),
           hl_taxonomy_helpline_count(tax), t[LOAD_RUNS / 2], t[0], t[LOAD_RUNS - 1], cpu[LOAD_RUNS / 2],
           LOAD_RUNS);

    text = malloc(TEXT_BYTES);
    if (text == NULL)
        goto out;
    len = make_text(text, TEXT_BYTES, false);
    if (bench_classify(tax, "english", text, len) != 0)
        goto out;
    len = make_text(text, TEXT_BYTES, true);
    if (bench_classify(tax, "mixed", text, len) != 0)
        goto out;
    status = 0;
out:
    free(text);
    hl_taxonomy_free(tax);
    return status;
}
