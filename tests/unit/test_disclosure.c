/*
 * lib/disclosure: known answers for small tables, and a brute-force checker that confirms,
 * with exact rational Gaussian elimination (independent of the library's modular one),
 * that no suppressed cell of hundreds of random tables is derivable from the published
 * cells, line totals and grand total.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disclosure.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static hl_disclosure_table_t *table(size_t ndims, const size_t *dims, const uint64_t *counts)
{
    hl_disclosure_table_t *t = NULL;

    cr_assert_eq(hl_disclosure_table_new(ndims, dims, &t), HL_OK);
    memcpy(t->counts, counts, t->ncells * sizeof(uint64_t));
    return t;
}

/* States as a string: '.' published, 'P' primary, 'C' complementary, 'U' unknown. */
static void states(const hl_disclosure_table_t *t, char *out)
{
    static const char sym[] = ".PCU";

    for (size_t c = 0; c < t->ncells; c++)
        out[c] = sym[t->state[c]];
    out[t->ncells] = '\0';
}

/* ---- exact rationals -------------------------------------------------------------------- */

typedef struct {
    int64_t n, d; /* d > 0, gcd(n, d) == 1 */
} q_t;

static int64_t gcd64(int64_t a, int64_t b)
{
    if (a < 0)
        a = -a;
    while (b) {
        int64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static q_t q_make(int64_t n, int64_t d)
{
    q_t r;
    int64_t g;

    cr_assert_neq(d, 0);
    if (d < 0) {
        n = -n;
        d = -d;
    }
    g = gcd64(n, d);
    if (g == 0)
        g = 1;
    r.n = n / g;
    r.d = d / g;
    if (r.n == 0)
        r.d = 1;
    return r;
}

static int64_t mul_checked(int64_t a, int64_t b)
{
    int64_t r;

    cr_assert(!__builtin_mul_overflow(a, b, &r), "rational overflow");
    return r;
}

static q_t q_sub(q_t a, q_t b)
{
    int64_t l, r, n;

    l = mul_checked(a.n, b.d);
    r = mul_checked(b.n, a.d);
    cr_assert(!__builtin_sub_overflow(l, r, &n), "rational overflow");
    return q_make(n, mul_checked(a.d, b.d));
}

static q_t q_mul(q_t a, q_t b)
{
    q_t x = q_make(a.n, b.d), y = q_make(b.n, a.d); /* cross-cancel first */

    return q_make(mul_checked(x.n, y.n), mul_checked(x.d, y.d));
}

static q_t q_div(q_t a, q_t b)
{
    cr_assert_neq(b.n, 0);
    return q_mul(a, q_make(b.d, b.n));
}

/*
 * The brute-force checker: unknowns are the suppressed cells, equations the published line
 * totals and the grand total (each minus its published cells). DERIV[u] is set for each
 * unknown whose unit vector is in the row space (a row of the reduced row echelon form).
 * Returns the number of derivable cells.
 */
static size_t derivable_cells(const hl_disclosure_table_t *t, bool *deriv_cell)
{
    size_t nunk = 0, neq = 0, rank = 0, nderiv = 0;
    size_t *unk = malloc(t->ncells * sizeof(size_t));
    size_t *cell_of = malloc(t->ncells * sizeof(size_t));
    size_t maxeq = 1;
    q_t *m;

    cr_assert_not_null(unk);
    cr_assert_not_null(cell_of);
    for (size_t d = 0; d < t->ndims; d++)
        maxeq += t->nlines[d];
    for (size_t c = 0; c < t->ncells; c++) {
        deriv_cell[c] = false;
        unk[c] = SIZE_MAX;
        if (hl_disclosure_suppressed(t, c)) {
            cell_of[nunk] = c;
            unk[c] = nunk++;
        }
    }
    m = calloc(maxeq * (nunk ? nunk : 1), sizeof(q_t));
    cr_assert_not_null(m);
    for (size_t i = 0; i < maxeq * nunk; i++)
        m[i] = q_make(0, 1);
    for (size_t d = 0; d < t->ndims; d++) {
        for (size_t l = 0; l < t->nlines[d]; l++) {
            if (t->line_withheld[d][l])
                continue;
            for (size_t j = 0; j < t->dims[d]; j++) {
                size_t u = unk[hl_disclosure_line_cell(t, d, l, j)];
                if (u != SIZE_MAX)
                    m[neq * nunk + u] = q_make(1, 1);
            }
            neq++;
        }
    }
    if (!t->total_withheld) {
        for (size_t u = 0; u < nunk; u++)
            m[neq * nunk + u] = q_make(1, 1);
        neq++;
    }
    /* Gauss-Jordan elimination. */
    for (size_t col = 0; col < nunk && rank < neq; col++) {
        size_t piv = SIZE_MAX;

        for (size_t r = rank; r < neq && piv == SIZE_MAX; r++)
            if (m[r * nunk + col].n != 0)
                piv = r;
        if (piv == SIZE_MAX)
            continue;
        for (size_t c = 0; c < nunk; c++) {
            q_t tmp = m[piv * nunk + c];
            m[piv * nunk + c] = m[rank * nunk + c];
            m[rank * nunk + c] = tmp;
        }
        q_t p = m[rank * nunk + col];
        for (size_t c = 0; c < nunk; c++)
            m[rank * nunk + c] = q_div(m[rank * nunk + c], p);
        for (size_t r = 0; r < neq; r++) {
            q_t f = m[r * nunk + col];
            if (r == rank || f.n == 0)
                continue;
            for (size_t c = 0; c < nunk; c++)
                m[r * nunk + c] = q_sub(m[r * nunk + c], q_mul(f, m[rank * nunk + c]));
        }
        rank++;
    }
    for (size_t r = 0; r < rank; r++) {
        size_t nz = 0, at = 0;
        for (size_t c = 0; c < nunk; c++)
            if (m[r * nunk + c].n != 0) {
                nz++;
                at = c;
            }
        if (nz == 1) {
            deriv_cell[cell_of[at]] = true;
            nderiv++;
        }
    }
    free(m);
    free(cell_of);
    free(unk);
    return nderiv;
}

/* Every property the library promises, for table T after apply with K over COUNTS. */
static void check_table(const hl_disclosure_table_t *t, uint64_t k, const char *what)
{
    bool *deriv = malloc(t->ncells * sizeof(bool));

    cr_assert_not_null(deriv);
    for (size_t c = 0; c < t->ncells; c++) {
        if (t->counts[c] == 0 && t->state[c] != HL_DISCLOSURE_UNKNOWN)
            cr_assert_eq(t->state[c], HL_DISCLOSURE_PUBLISHED, "%s: zero cell %zu suppressed", what, c);
        if (t->state[c] == HL_DISCLOSURE_PUBLISHED && t->counts[c] > 0)
            cr_assert_geq(t->counts[c], k, "%s: published cell %zu below k", what, c);
    }
    if (t->ndims == 1)
        cr_assert_eq(t->total_withheld, t->line_withheld[0][0], "%s: 1-D total flags differ", what);
    cr_assert_eq(derivable_cells(t, deriv), 0, "%s: a suppressed cell is derivable", what);
    free(deriv);
}

/* ---- known answers ------------------------------------------------------------------------ */

Test(disclosure_basic, one_dimension_margin_gets_complement)
{
    size_t dims[] = {3};
    uint64_t counts[] = {10, 2, 20};
    hl_disclosure_table_t *t = table(1, dims, counts);
    char s[8];

    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "CP.");
    cr_assert(!t->total_withheld);
    check_table(t, 5, "1-D");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, two_dimensions_rectangle)
{
    size_t dims[] = {2, 3};
    uint64_t counts[] = {10, 2, 20, /**/ 15, 30, 40};
    hl_disclosure_table_t *t = table(2, dims, counts);
    char s[8];

    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    /* row 0 takes 10, column 1 takes 30, then row 1 takes 15: a 2x2 rectangle. */
    cr_assert_str_eq(s, "CP.CC.");
    cr_assert_eq(hl_disclosure_count_withheld(t), 0);
    check_table(t, 5, "2x3");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, recoverable_from_row_margin)
{
    /* Without complementary suppression the 3 is the row total minus the 40. */
    size_t dims[] = {3, 2};
    uint64_t counts[] = {40, 3, /**/ 50, 60, /**/ 70, 80};
    hl_disclosure_table_t *t = table(2, dims, counts);
    char s[8];

    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "CPCC..");
    check_table(t, 5, "3x2");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, bridge_between_two_cycles)
{
    /*
     * After step 2 every row and column with a suppressed cell holds two, yet cell (2,1)
     * (the 2) joins the cycle rows {0,2} x columns {0,4} to the cycle rows {1,3} x columns
     * {1,2}: the sum of rows 1 and 3 minus columns 1 and 2 gives it. The exact check adds
     * the 33 at (2,2).
     */
    size_t dims[] = {4, 6};
    uint64_t counts[] = {2, 0, 0,  0, 3,  0,  /**/ 0, 36, 3, 51, 0, 0,
                         2, 2, 33, 0, 14, 33, /**/ 0, 34, 8, 0,  0, 8};
    hl_disclosure_table_t *t = table(2, dims, counts);
    bool deriv[24];
    char s[32];

    cr_assert_eq(hl_disclosure_apply(t, 6), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "P...P."
                        ".CP..."
                        "PPC.C."
                        ".CC...");
    check_table(t, 6, "bridge");
    /* and the checker does see the bridge without the extra suppression */
    t->state[2 * 6 + 2] = HL_DISCLOSURE_PUBLISHED;
    cr_assert_eq(derivable_cells(t, deriv), 1);
    cr_assert(deriv[2 * 6 + 1]);
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, checker_sees_margin_recovery)
{
    size_t dims[] = {2, 3};
    uint64_t counts[] = {10, 2, 20, /**/ 15, 30, 40};
    hl_disclosure_table_t *t = table(2, dims, counts);
    bool deriv[6];

    t->state[1] = HL_DISCLOSURE_PRIMARY; /* primary suppression alone */
    cr_assert_eq(derivable_cells(t, deriv), 1);
    cr_assert(deriv[1]);
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, zeros_stay_published_and_lines_withheld)
{
    size_t dims[] = {2, 2};
    uint64_t counts[] = {0, 3, /**/ 0, 50};
    hl_disclosure_table_t *t = table(2, dims, counts);
    char s[8];

    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, ".P.C");
    /* Rows (lines along dimension 1) have no non-zero cell left: their totals are withheld. */
    cr_assert(t->line_withheld[1][0]);
    cr_assert(t->line_withheld[1][1]);
    cr_assert(!t->line_withheld[0][0]);
    cr_assert(!t->line_withheld[0][1]);
    cr_assert(!t->total_withheld);
    check_table(t, 5, "zeros");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, one_dimension_lone_small_cell_withholds_total)
{
    size_t dims[] = {4};
    uint64_t counts[] = {0, 0, 4, 0};
    hl_disclosure_table_t *t = table(1, dims, counts);
    char s[8];

    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "..P.");
    cr_assert(t->total_withheld);
    cr_assert(t->line_withheld[0][0]);
    cr_assert_eq(hl_disclosure_count_withheld(t), 1);
    check_table(t, 5, "lone");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, nothing_to_do)
{
    size_t dims[] = {2, 2};
    uint64_t zeros[] = {0, 0, 0, 0}, big[] = {5, 6, 7, 0}, small[] = {1, 2, 3, 4};
    hl_disclosure_table_t *t = table(2, dims, zeros);
    char s[8];

    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "....");
    hl_disclosure_table_free(t);

    t = table(2, dims, big);
    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "....");
    hl_disclosure_table_free(t);

    t = table(2, dims, small); /* k = 1: nothing is small */
    cr_assert_eq(hl_disclosure_apply(t, 1), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "....");
    cr_assert_eq(hl_disclosure_count_withheld(t), 0);
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, all_small)
{
    size_t dims[] = {2, 2};
    uint64_t counts[] = {1, 2, 3, 4};
    hl_disclosure_table_t *t = table(2, dims, counts);
    char s[8];

    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "PPPP");
    cr_assert_eq(hl_disclosure_count_suppressed(t), 4);
    check_table(t, 5, "all small");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, three_dimensions)
{
    size_t dims[] = {2, 2, 2};
    uint64_t counts[] = {1, 20, 30, 40, 50, 60, 70, 80};
    hl_disclosure_table_t *t = table(3, dims, counts);

    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    /* A single cell of a 2x2x2 cube needs a whole cube of 8 suppressions (each line
     * through each suppressed cell holds another one). */
    cr_assert_eq(hl_disclosure_count_suppressed(t), 8);
    check_table(t, 5, "cube");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, unknown_cells_count_as_suppressed)
{
    size_t dims[] = {3};
    uint64_t counts[] = {0, 30, 40};
    hl_disclosure_table_t *t = table(1, dims, counts);
    char s[8];

    t->state[0] = HL_DISCLOSURE_UNKNOWN; /* a merged cell whose input was suppressed */
    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    states(t, s);
    cr_assert_str_eq(s, "UC.");
    check_table(t, 5, "unknown");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, preset_withheld_lines_are_kept)
{
    size_t dims[] = {2, 2};
    uint64_t counts[] = {2, 30, 40, 50};
    hl_disclosure_table_t *t = table(2, dims, counts);

    hl_disclosure_withhold_line(t, 0, 0); /* column 0 total unknown */
    cr_assert_eq(hl_disclosure_apply(t, 5), HL_OK);
    cr_assert(t->line_withheld[0][0]);
    check_table(t, 5, "preset");
    hl_disclosure_table_free(t);
}

Test(disclosure_basic, invalid_arguments)
{
    size_t dims[] = {2, 0, 3, 3, 3};
    size_t big[] = {65536, 2};
    hl_disclosure_table_t *t = NULL;

    cr_assert_eq(hl_disclosure_table_new(0, dims, &t), HL_EINVAL);
    cr_assert_eq(hl_disclosure_table_new(5, dims, &t), HL_EINVAL);
    cr_assert_eq(hl_disclosure_table_new(2, dims, &t), HL_EINVAL);
    cr_assert_eq(hl_disclosure_table_new(2, big, &t), HL_EINVAL);
    cr_assert_null(t);
    cr_assert_eq(hl_disclosure_table_new(1, dims, &t), HL_OK);
    cr_assert_eq(hl_disclosure_apply(t, 0), HL_EINVAL);
    hl_disclosure_table_free(t);
    hl_disclosure_table_free(NULL);
}

Test(disclosure_basic, index_and_lines)
{
    size_t dims[] = {2, 3, 4}, co[3], back[3];
    hl_disclosure_table_t *t = NULL;

    cr_assert_eq(hl_disclosure_table_new(3, dims, &t), HL_OK);
    cr_assert_eq(t->ncells, 24);
    cr_assert_eq(t->nlines[0], 12);
    cr_assert_eq(t->nlines[1], 8);
    cr_assert_eq(t->nlines[2], 6);
    for (size_t c = 0; c < t->ncells; c++) {
        hl_disclosure_coords(t, c, co);
        cr_assert_eq(hl_disclosure_index(t, co), c);
        for (size_t d = 0; d < 3; d++) {
            size_t l = hl_disclosure_line_of(t, d, c);
            cr_assert_eq(hl_disclosure_line_cell(t, d, l, co[d]), c);
            for (size_t j = 0; j < dims[d]; j++) {
                hl_disclosure_coords(t, hl_disclosure_line_cell(t, d, l, j), back);
                for (size_t e = 0; e < 3; e++)
                    cr_assert_eq(back[e], e == d ? j : co[e]);
            }
        }
    }
    hl_disclosure_table_free(t);
}

/* ---- random tables -------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: fixed seed, same tables on every run and platform */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

/* Skewed counts: many zeros and small values, some large ones. */
static uint64_t rnd_count(uint64_t k)
{
    uint64_t r = rnd_below(10);

    if (r < 3)
        return 0;
    if (r < 7)
        return 1 + rnd_below(k + 2);
    return 1 + rnd_below(60);
}

static size_t random_cases;
static size_t random_suppressed;
static size_t random_complementary;
static size_t random_withheld;

static void random_case(size_t ndims, const size_t *dims, uint64_t k, bool unknowns)
{
    hl_disclosure_table_t *a = NULL, *b = NULL;
    char what[96];

    cr_assert_eq(hl_disclosure_table_new(ndims, dims, &a), HL_OK);
    cr_assert_eq(hl_disclosure_table_new(ndims, dims, &b), HL_OK);
    for (size_t c = 0; c < a->ncells; c++) {
        a->counts[c] = b->counts[c] = rnd_count(k);
        if (unknowns && a->counts[c] > 0 && rnd_below(8) == 0)
            a->state[c] = b->state[c] = HL_DISCLOSURE_UNKNOWN;
    }
    snprintf(what, sizeof(what), "case %zu (%zu dims, %zu cells, k %" PRIu64 ")", random_cases, ndims,
             a->ncells, k);
    cr_assert_eq(hl_disclosure_apply(a, k), HL_OK, "%s", what);
    cr_assert_eq(hl_disclosure_apply(b, k), HL_OK, "%s", what);
    check_table(a, k, what);
    /* deterministic: same data, same flags */
    cr_assert_eq(memcmp(a->state, b->state, a->ncells), 0, "%s: not deterministic", what);
    for (size_t d = 0; d < ndims; d++)
        cr_assert_eq(memcmp(a->line_withheld[d], b->line_withheld[d], a->nlines[d] * sizeof(bool)), 0,
                     "%s: not deterministic", what);
    cr_assert_eq(a->total_withheld, b->total_withheld);
    random_cases++;
    random_suppressed += hl_disclosure_count_suppressed(a);
    for (size_t c = 0; c < a->ncells; c++)
        random_complementary += a->state[c] == HL_DISCLOSURE_COMPLEMENTARY;
    random_withheld += hl_disclosure_count_withheld(a);
    hl_disclosure_table_free(a);
    hl_disclosure_table_free(b);
}

#define RANDOM_PER_SHAPE 200

Test(disclosure_random, one_dimension)
{
    rng_state = 0x9e3779b97f4a7c15ULL;
    random_cases = 0;
    for (int i = 0; i < RANDOM_PER_SHAPE; i++) {
        size_t dims[] = {1 + rnd_below(10)};
        random_case(1, dims, 3 + rnd_below(8), i % 4 == 3);
    }
    cr_assert_eq(random_cases, RANDOM_PER_SHAPE);
}

Test(disclosure_random, two_dimensions)
{
    rng_state = 0x243f6a8885a308d3ULL;
    random_cases = random_suppressed = random_complementary = random_withheld = 0;
    for (int i = 0; i < 3 * RANDOM_PER_SHAPE; i++) {
        size_t dims[] = {1 + rnd_below(6), 1 + rnd_below(6)};
        random_case(2, dims, 3 + rnd_below(8), i % 4 == 3);
    }
    cr_assert_eq(random_cases, 3 * RANDOM_PER_SHAPE);
    /* The random tables exercise the complementary and withholding paths. */
    cr_assert_gt(random_complementary, random_cases);
    cr_assert_gt(random_withheld, 10);
}

Test(disclosure_random, three_dimensions)
{
    rng_state = 0x13198a2e03707344ULL;
    random_cases = 0;
    for (int i = 0; i < RANDOM_PER_SHAPE; i++) {
        size_t dims[] = {1 + rnd_below(3), 1 + rnd_below(3), 1 + rnd_below(3)};
        random_case(3, dims, 3 + rnd_below(8), i % 4 == 3);
    }
    cr_assert_eq(random_cases, RANDOM_PER_SHAPE);
}

Test(disclosure_random, four_dimensions)
{
    rng_state = 0xa4093822299f31d0ULL;
    random_cases = 0;
    for (int i = 0; i < RANDOM_PER_SHAPE / 2; i++) {
        size_t dims[] = {1 + rnd_below(3), 1 + rnd_below(2), 1 + rnd_below(3), 1 + rnd_below(2)};
        random_case(4, dims, 3 + rnd_below(8), i % 4 == 3);
    }
    cr_assert_eq(random_cases, RANDOM_PER_SHAPE / 2);
}

Test(disclosure_random, larger_tables_finish)
{
    /* A /v1/stats-sized table (12 x 7 x 4) with many small cells, checked the same way. */
    size_t dims[] = {12, 7, 4};

    rng_state = 0x082efa98ec4e6c89ULL;
    random_cases = 0;
    for (int i = 0; i < 5; i++)
        random_case(3, dims, 5, false);
}

/* ---- sums of protected tables (hl_disclosure_add) ------------------------------------- */

/* A copy of T's flags, to see that hl_disclosure_apply changes nothing. */
typedef struct {
    uint8_t state[512];
    bool lines[HL_DISCLOSURE_MAX_DIMS][512];
    bool total;
} flags_t;

static void flags_of(const hl_disclosure_table_t *t, flags_t *f)
{
    cr_assert_leq(t->ncells, sizeof(f->state));
    memset(f, 0, sizeof(*f));
    memcpy(f->state, t->state, t->ncells);
    for (size_t d = 0; d < t->ndims; d++)
        memcpy(f->lines[d], t->line_withheld[d], t->nlines[d] * sizeof(bool));
    f->total = t->total_withheld;
}

Test(disclosure_add, cells_lines_and_totals)
{
    size_t dims[] = {3};
    uint64_t a[] = {10, 2, 20}, b[] = {6, 7, 30};
    hl_disclosure_table_t *pa = table(1, dims, a), *pb = table(1, dims, b), *sum = NULL;
    char s[8];

    cr_assert_eq(hl_disclosure_apply(pa, 5), HL_OK);
    cr_assert_eq(hl_disclosure_apply(pb, 5), HL_OK);
    cr_assert_eq(hl_disclosure_table_new(1, dims, &sum), HL_OK);
    cr_assert_eq(hl_disclosure_add(sum, pa, SIZE_MAX, 0), HL_OK);
    cr_assert_eq(hl_disclosure_add(sum, pb, SIZE_MAX, 0), HL_OK);
    states(sum, s);
    /* 10 + 6 would be 16, but 10 was suppressed in the first part: unknown, or 6 = 16 - 10. */
    cr_assert_str_eq(s, "UU.");
    cr_assert_eq(sum->counts[0], 0);
    cr_assert_eq(sum->counts[2], 50);
    cr_assert(!sum->total_withheld);
    check_table(sum, 5, "sum");
    cr_assert_eq(hl_disclosure_apply(sum, 5), HL_OK);
    states(sum, s);
    cr_assert_str_eq(s, "UU.", "the sum of protected parts needs nothing more");
    hl_disclosure_table_free(sum);
    hl_disclosure_table_free(pb);
    hl_disclosure_table_free(pa);
}

Test(disclosure_add, into_a_dimension)
{
    size_t pdims[] = {3}, sdims[] = {2, 3};
    uint64_t a[] = {10, 2, 20}, b[] = {6, 7, 30};
    hl_disclosure_table_t *pa = table(1, pdims, a), *pb = table(1, pdims, b), *sum = NULL;
    flags_t before, after;
    char s[8];

    cr_assert_eq(hl_disclosure_apply(pa, 5), HL_OK);
    cr_assert_eq(hl_disclosure_apply(pb, 5), HL_OK);
    cr_assert_eq(hl_disclosure_table_new(2, sdims, &sum), HL_OK);
    cr_assert_eq(hl_disclosure_add(sum, pa, 0, 0), HL_OK); /* month 0 */
    cr_assert_eq(hl_disclosure_add(sum, pb, 0, 1), HL_OK); /* month 1 */
    states(sum, s);
    cr_assert_str_eq(s, "UU....");
    /* The sums over both months of columns 0 and 1 hold an unknown: withheld. 6 and 7 stay
     * published: they are the second month's own counts. */
    cr_assert(sum->line_withheld[0][0] && sum->line_withheld[0][1] && !sum->line_withheld[0][2]);
    cr_assert(!sum->line_withheld[1][0] && !sum->line_withheld[1][1] && !sum->total_withheld);
    check_table(sum, 5, "months");
    flags_of(sum, &before);
    cr_assert_eq(hl_disclosure_apply(sum, 5), HL_OK);
    flags_of(sum, &after);
    cr_assert_eq(memcmp(&before, &after, sizeof(before)), 0);
    hl_disclosure_table_free(sum);
    hl_disclosure_table_free(pb);
    hl_disclosure_table_free(pa);
}

Test(disclosure_add, withheld_totals_carry_over)
{
    size_t pdims[] = {3}, sdims[] = {2, 3};
    uint64_t lone[] = {0, 2, 0}; /* a lone small count: the part withholds its total */
    hl_disclosure_table_t *p = table(1, pdims, lone), *sum = NULL, *flat = NULL;

    cr_assert_eq(hl_disclosure_apply(p, 5), HL_OK);
    cr_assert(p->total_withheld);
    cr_assert_eq(hl_disclosure_table_new(2, sdims, &sum), HL_OK);
    cr_assert_eq(hl_disclosure_add(sum, p, 0, 1), HL_OK);
    cr_assert(sum->line_withheld[1][1], "the part's total is the line of its month");
    cr_assert(sum->total_withheld);
    cr_assert_eq(hl_disclosure_table_new(1, pdims, &flat), HL_OK);
    cr_assert_eq(hl_disclosure_add(flat, p, SIZE_MAX, 0), HL_OK);
    cr_assert(flat->total_withheld && flat->line_withheld[0][0]);
    hl_disclosure_table_free(flat);
    hl_disclosure_table_free(sum);
    hl_disclosure_table_free(p);
}

Test(disclosure_add, shapes_and_overflow)
{
    size_t d3[] = {3}, d4[] = {4}, d23[] = {2, 3}, d32[] = {3, 2};
    hl_disclosure_table_t *p3 = NULL, *p4 = NULL, *s23 = NULL, *s32 = NULL, *s3 = NULL;

    cr_assert_eq(hl_disclosure_table_new(1, d3, &p3), HL_OK);
    cr_assert_eq(hl_disclosure_table_new(1, d4, &p4), HL_OK);
    cr_assert_eq(hl_disclosure_table_new(2, d23, &s23), HL_OK);
    cr_assert_eq(hl_disclosure_table_new(2, d32, &s32), HL_OK);
    cr_assert_eq(hl_disclosure_table_new(1, d3, &s3), HL_OK);
    cr_assert_eq(hl_disclosure_add(s3, p4, SIZE_MAX, 0), HL_EINVAL);
    cr_assert_eq(hl_disclosure_add(s23, p3, SIZE_MAX, 0), HL_EINVAL);
    cr_assert_eq(hl_disclosure_add(s23, p3, 0, 2), HL_EINVAL, "value out of range");
    cr_assert_eq(hl_disclosure_add(s23, p3, 2, 0), HL_EINVAL, "dimension out of range");
    cr_assert_eq(hl_disclosure_add(s23, p3, 1, 0), HL_EINVAL, "the rest is {2}, not {3}");
    cr_assert_eq(hl_disclosure_add(s32, p3, 1, 1), HL_OK);
    cr_assert_eq(hl_disclosure_add(NULL, p3, SIZE_MAX, 0), HL_EINVAL);
    p3->counts[1] = UINT64_MAX;
    s3->counts[1] = 1;
    cr_assert_eq(hl_disclosure_add(s3, p3, SIZE_MAX, 0), HL_EINVAL);
    cr_assert_eq(s3->counts[1], 1, "a failed add changes nothing");
    hl_disclosure_table_free(s3);
    hl_disclosure_table_free(s32);
    hl_disclosure_table_free(s23);
    hl_disclosure_table_free(p4);
    hl_disclosure_table_free(p3);
}

/*
 * Random parts, each protected on its own, added up with or without a new dimension: the sum
 * keeps every promise of a protected table (checked by the exact rational checker), and
 * hl_disclosure_apply with the parts' k changes nothing in it.
 */
Test(disclosure_add, random_sums_are_protected_and_closed)
{
    size_t cases = 0, unknown = 0;

    rng_state = 0x452821e638d01377ULL;
    for (int i = 0; i < 300; i++) {
        size_t pn = 1 + rnd_below(3), nparts = 2 + rnd_below(3), pdims[HL_DISCLOSURE_MAX_DIMS];
        size_t sdims[HL_DISCLOSURE_MAX_DIMS], d = rnd_below(2) == 0 ? SIZE_MAX : rnd_below(pn + 1);
        uint64_t k = 3 + rnd_below(6);
        hl_disclosure_table_t *sum = NULL;
        flags_t before, after;
        char what[96];

        for (size_t e = 0; e < pn; e++)
            pdims[e] = 1 + rnd_below(pn == 1 ? 6 : 4);
        for (size_t e = 0, pe = 0; e < pn + (d != SIZE_MAX); e++)
            sdims[e] = e == d ? nparts : pdims[pe++];
        cr_assert_eq(hl_disclosure_table_new(pn + (d != SIZE_MAX), sdims, &sum), HL_OK);
        for (size_t j = 0; j < nparts; j++) {
            hl_disclosure_table_t *p = NULL;

            cr_assert_eq(hl_disclosure_table_new(pn, pdims, &p), HL_OK);
            for (size_t c = 0; c < p->ncells; c++)
                p->counts[c] = rnd_count(k);
            cr_assert_eq(hl_disclosure_apply(p, k), HL_OK);
            cr_assert_eq(hl_disclosure_add(sum, p, d, j), HL_OK);
            hl_disclosure_table_free(p);
        }
        snprintf(what, sizeof(what), "sum %d (%zu parts of %zu dims, into %zu, k %" PRIu64 ")", i, nparts, pn,
                 d, k);
        check_table(sum, k, what);
        unknown += hl_disclosure_count_suppressed(sum);
        flags_of(sum, &before);
        cr_assert_eq(hl_disclosure_apply(sum, k), HL_OK, "%s", what);
        flags_of(sum, &after);
        cr_assert_eq(memcmp(&before, &after, sizeof(before)), 0, "%s: apply changed the sum", what);
        hl_disclosure_table_free(sum);
        cases++;
    }
    cr_assert_eq(cases, 300);
    cr_assert_gt(unknown, 300, "the parts suppress cells");
}
