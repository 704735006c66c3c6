/* Disclosure control for dense count tables: see disclosure.h for the rules. */
#include "disclosure.h"

#include <stdlib.h>
#include <string.h>

/* ---- tables ------------------------------------------------------------------------------ */

int hl_disclosure_table_new(size_t ndims, const size_t *dims, hl_disclosure_table_t **out)
{
    hl_disclosure_table_t *t = NULL;
    size_t ncells = 1;
    int rc = HL_EINVAL;

    if (ndims < 1 || ndims > HL_DISCLOSURE_MAX_DIMS || !dims || !out)
        goto out;
    for (size_t d = 0; d < ndims; d++) {
        if (dims[d] < 1 || dims[d] > HL_DISCLOSURE_MAX_CELLS)
            goto out;
        ncells *= dims[d];
        if (ncells > HL_DISCLOSURE_MAX_CELLS)
            goto out;
    }
    rc = HL_ENOMEM;
    t = calloc(1, sizeof(*t));
    if (!t)
        goto out;
    t->ndims = ndims;
    t->ncells = ncells;
    for (size_t d = ndims; d-- > 0;) {
        t->dims[d] = dims[d];
        t->stride[d] = d + 1 == ndims ? 1 : t->stride[d + 1] * t->dims[d + 1];
        t->nlines[d] = ncells / dims[d];
    }
    t->counts = calloc(ncells, sizeof(*t->counts));
    t->state = calloc(ncells, sizeof(*t->state));
    if (!t->counts || !t->state)
        goto out;
    for (size_t d = 0; d < ndims; d++) {
        t->line_withheld[d] = calloc(t->nlines[d], sizeof(bool));
        if (!t->line_withheld[d])
            goto out;
    }
    *out = t;
    t = NULL;
    rc = HL_OK;
out:
    hl_disclosure_table_free(t);
    return rc;
}

void hl_disclosure_table_free(hl_disclosure_table_t *t)
{
    if (!t)
        return;
    for (size_t d = 0; d < HL_DISCLOSURE_MAX_DIMS; d++)
        free(t->line_withheld[d]);
    free(t->state);
    free(t->counts);
    free(t);
}

size_t hl_disclosure_index(const hl_disclosure_table_t *t, const size_t *coords)
{
    size_t cell = 0;

    for (size_t d = 0; d < t->ndims; d++)
        cell += coords[d] * t->stride[d];
    return cell;
}

void hl_disclosure_coords(const hl_disclosure_table_t *t, size_t cell, size_t *coords)
{
    for (size_t d = 0; d < t->ndims; d++)
        coords[d] = (cell / t->stride[d]) % t->dims[d];
}

size_t hl_disclosure_line_of(const hl_disclosure_table_t *t, size_t d, size_t cell)
{
    size_t s = t->stride[d];

    return (cell / (s * t->dims[d])) * s + cell % s;
}

size_t hl_disclosure_line_cell(const hl_disclosure_table_t *t, size_t d, size_t line, size_t j)
{
    size_t s = t->stride[d];

    return (line / s) * s * t->dims[d] + line % s + j * s;
}

void hl_disclosure_withhold_line(hl_disclosure_table_t *t, size_t d, size_t line)
{
    t->line_withheld[d][line] = true;
    if (t->ndims == 1)
        t->total_withheld = true;
}

void hl_disclosure_withhold_total(hl_disclosure_table_t *t)
{
    t->total_withheld = true;
    if (t->ndims == 1)
        t->line_withheld[0][0] = true;
}

size_t hl_disclosure_count_suppressed(const hl_disclosure_table_t *t)
{
    size_t n = 0;

    for (size_t c = 0; c < t->ncells; c++)
        n += hl_disclosure_suppressed(t, c);
    return n;
}

size_t hl_disclosure_count_withheld(const hl_disclosure_table_t *t)
{
    size_t n = 0;

    for (size_t d = 0; d < t->ndims; d++)
        for (size_t l = 0; l < t->nlines[d]; l++)
            n += t->line_withheld[d][l];
    if (t->ndims > 1)
        n += t->total_withheld;
    return n;
}

/* ---- sums of protected tables ---------------------------------------------------------- */

/* The cell of SUM that cell C of PART goes to (see hl_disclosure_add). */
static size_t sum_cell(const hl_disclosure_table_t *sum, const hl_disclosure_table_t *part, size_t d,
                       size_t v, size_t c)
{
    size_t co[HL_DISCLOSURE_MAX_DIMS], cell = 0;

    hl_disclosure_coords(part, c, co);
    for (size_t e = 0, pe = 0; e < sum->ndims; e++)
        cell += (e == d ? v : co[pe++]) * sum->stride[e];
    return cell;
}

static bool shapes_fit(const hl_disclosure_table_t *sum, const hl_disclosure_table_t *part, size_t d,
                       size_t v)
{
    if (d != SIZE_MAX && (d >= sum->ndims || v >= sum->dims[d]))
        return false;
    if (part->ndims + (d != SIZE_MAX) != sum->ndims)
        return false;
    for (size_t e = 0, pe = 0; e < sum->ndims; e++)
        if (e != d && part->dims[pe++] != sum->dims[e])
            return false;
    return true;
}

int hl_disclosure_add(hl_disclosure_table_t *sum, const hl_disclosure_table_t *part, size_t d, size_t v)
{
    if (!sum || !part || !shapes_fit(sum, part, d, v))
        return HL_EINVAL;
    /* Check first, so that a failed add changes nothing. */
    for (size_t c = 0; c < part->ncells; c++) {
        size_t s = sum_cell(sum, part, d, v, c);

        if (!hl_disclosure_suppressed(part, c) && sum->state[s] != HL_DISCLOSURE_UNKNOWN &&
            sum->counts[s] > UINT64_MAX - part->counts[c])
            return HL_EINVAL;
    }
    for (size_t c = 0; c < part->ncells; c++) {
        size_t s = sum_cell(sum, part, d, v, c);

        if (hl_disclosure_suppressed(part, c)) {
            sum->state[s] = HL_DISCLOSURE_UNKNOWN;
            sum->counts[s] = 0;
            /* The line along D adds this unknown to other parts' cells: not computable. */
            if (d != SIZE_MAX)
                hl_disclosure_withhold_line(sum, d, hl_disclosure_line_of(sum, d, s));
        } else if (sum->state[s] != HL_DISCLOSURE_UNKNOWN) {
            sum->counts[s] += part->counts[c];
        }
    }
    for (size_t e = 0; e < part->ndims; e++) {
        size_t se = d != SIZE_MAX && e >= d ? e + 1 : e;

        for (size_t l = 0; l < part->nlines[e]; l++) {
            if (!part->line_withheld[e][l])
                continue;
            size_t s = sum_cell(sum, part, d, v, hl_disclosure_line_cell(part, e, l, 0));
            hl_disclosure_withhold_line(sum, se, hl_disclosure_line_of(sum, se, s));
        }
    }
    if (part->total_withheld)
        hl_disclosure_withhold_total(sum);
    return HL_OK;
}

/* ---- step 2: one more suppressed cell on every line with exactly one ------------------- */

/* The smallest non-zero published count on line LINE along D (ties: lowest index), or
 * SIZE_MAX; *NSUP gets the number of suppressed cells on the line. */
static size_t line_candidate(const hl_disclosure_table_t *t, size_t d, size_t line, size_t *nsup)
{
    size_t best = SIZE_MAX;

    *nsup = 0;
    for (size_t j = 0; j < t->dims[d]; j++) {
        size_t c = hl_disclosure_line_cell(t, d, line, j);

        if (hl_disclosure_suppressed(t, c))
            (*nsup)++;
        else if (t->counts[c] > 0 && (best == SIZE_MAX || t->counts[c] < t->counts[best]))
            best = c;
    }
    return best;
}

static void heuristic(hl_disclosure_table_t *t)
{
    bool changed = true;

    while (changed) {
        changed = false;
        for (size_t d = 0; d < t->ndims; d++) {
            for (size_t l = 0; l < t->nlines[d]; l++) {
                size_t nsup = 0, best;

                if (t->line_withheld[d][l])
                    continue;
                best = line_candidate(t, d, l, &nsup);
                if (nsup != 1)
                    continue;
                if (best != SIZE_MAX)
                    t->state[best] = HL_DISCLOSURE_COMPLEMENTARY;
                else
                    hl_disclosure_withhold_line(t, d, l);
                changed = true;
            }
        }
    }
}

/* ---- step 3: exact derivability, modulo the prime 2^61 - 1 ----------------------------- */

#define P61 ((uint64_t)0x1fffffffffffffffULL)

__extension__ typedef unsigned __int128 u128_t;

static uint64_t mod_mul(uint64_t a, uint64_t b)
{
    u128_t x = (u128_t)a * b;
    uint64_t r = (uint64_t)(x & P61) + (uint64_t)(x >> 61);

    while (r >= P61)
        r -= P61;
    return r;
}

static uint64_t mod_sub(uint64_t a, uint64_t b)
{
    return a >= b ? a - b : a + P61 - b;
}

static uint64_t mod_inv(uint64_t a)
{
    uint64_t r = 1, e = P61 - 2;

    while (e) {
        if (e & 1)
            r = mod_mul(r, a);
        a = mod_mul(a, a);
        e >>= 1;
    }
    return r;
}

/* Row space of equations over N unknowns kept in reduced row echelon form. */
typedef struct basis {
    size_t n, rank;
    uint64_t *rows; /* n x n */
    size_t *pivot;  /* n */
} basis_t;

static void basis_reduce(const basis_t *b, uint64_t *v)
{
    for (size_t i = 0; i < b->rank; i++) {
        const uint64_t *row = b->rows + i * b->n;
        uint64_t f = v[b->pivot[i]];

        if (f == 0)
            continue;
        for (size_t c = 0; c < b->n; c++)
            if (row[c])
                v[c] = mod_sub(v[c], mod_mul(f, row[c]));
    }
}

/* Adds V (destroyed) to the row space. */
static void basis_add(basis_t *b, uint64_t *v)
{
    size_t p = SIZE_MAX;
    uint64_t inv;
    uint64_t *nr;

    basis_reduce(b, v);
    for (size_t c = 0; c < b->n && p == SIZE_MAX; c++)
        if (v[c])
            p = c;
    if (p == SIZE_MAX)
        return;
    inv = mod_inv(v[p]);
    for (size_t c = 0; c < b->n; c++)
        v[c] = mod_mul(v[c], inv);
    for (size_t i = 0; i < b->rank; i++) {
        uint64_t *row = b->rows + i * b->n;
        uint64_t f = row[p];

        if (f == 0)
            continue;
        for (size_t c = 0; c < b->n; c++)
            if (v[c])
                row[c] = mod_sub(row[c], mod_mul(f, v[c]));
    }
    nr = b->rows + b->rank * b->n;
    memcpy(nr, v, b->n * sizeof(*v));
    b->pivot[b->rank++] = p;
}

typedef struct exact {
    hl_disclosure_table_t *t;
    size_t nunk;
    size_t *unk_of_cell; /* ncells: unknown number or SIZE_MAX */
    size_t *cell_of_unk; /* nunk */
    size_t *parent;      /* union-find over unknowns */
    size_t *comp;        /* nunk: component root */
    size_t *local;       /* nunk: index inside its component */
    size_t *comp_size;   /* indexed by root */
    bool *derivable;     /* nunk */
    uint64_t *vec;       /* scratch vector */
    basis_t b;
} exact_t;

static size_t uf_find(size_t *parent, size_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* Builds the row space of the equations of component ROOT (plus the all-ones row when
 * WITH_SUM) into e->b, sized for the component. */
static int component_basis(exact_t *e, size_t root, bool with_sum)
{
    hl_disclosure_table_t *t = e->t;
    size_t n = e->comp_size[root];

    free(e->b.rows);
    free(e->b.pivot);
    e->b.rows = calloc(n * n, sizeof(uint64_t));
    e->b.pivot = calloc(n, sizeof(size_t));
    e->b.n = n;
    e->b.rank = 0;
    if (!e->b.rows || !e->b.pivot)
        return HL_ENOMEM;
    for (size_t d = 0; d < t->ndims; d++) {
        for (size_t l = 0; l < t->nlines[d]; l++) {
            bool any = false;

            if (t->line_withheld[d][l])
                continue;
            memset(e->vec, 0, n * sizeof(uint64_t));
            for (size_t j = 0; j < t->dims[d]; j++) {
                size_t u = e->unk_of_cell[hl_disclosure_line_cell(t, d, l, j)];

                if (u == SIZE_MAX)
                    continue;
                if (e->comp[u] != root)
                    break; /* all unknowns of a line share one component */
                e->vec[e->local[u]] = 1;
                any = true;
            }
            if (any)
                basis_add(&e->b, e->vec);
        }
    }
    if (with_sum) {
        for (size_t i = 0; i < n; i++)
            e->vec[i] = 1;
        basis_add(&e->b, e->vec);
    }
    return HL_OK;
}

/* Marks the unknowns of component ROOT whose unit vector is a row of the reduced basis. */
static void mark_derivable(exact_t *e, size_t root)
{
    for (size_t i = 0; i < e->b.rank; i++) {
        const uint64_t *row = e->b.rows + i * e->b.n;
        size_t nz = 0;

        for (size_t c = 0; c < e->b.n; c++)
            nz += row[c] != 0;
        if (nz != 1)
            continue;
        for (size_t u = 0; u < e->nunk; u++)
            if (e->comp[u] == root && e->local[u] == e->b.pivot[i])
                e->derivable[u] = true;
    }
}

/* Is the all-ones vector of the component in e->b's row space? */
static bool sum_determined(exact_t *e)
{
    for (size_t i = 0; i < e->b.n; i++)
        e->vec[i] = 1;
    basis_reduce(&e->b, e->vec);
    for (size_t i = 0; i < e->b.n; i++)
        if (e->vec[i])
            return false;
    return true;
}

static void exact_free(exact_t *e)
{
    free(e->b.rows);
    free(e->b.pivot);
    free(e->vec);
    free(e->derivable);
    free(e->comp_size);
    free(e->local);
    free(e->comp);
    free(e->parent);
    free(e->cell_of_unk);
    free(e->unk_of_cell);
}

/* Fills e (zeroed by the caller) with the derivable suppressed cells of T. */
static int exact_check(hl_disclosure_table_t *t, exact_t *e)
{
    size_t nsd = 0, last_nsd = SIZE_MAX;
    int rc = HL_ENOMEM;

    e->t = t;
    e->unk_of_cell = malloc(t->ncells * sizeof(size_t));
    if (!e->unk_of_cell)
        goto out;
    for (size_t c = 0; c < t->ncells; c++)
        e->unk_of_cell[c] = hl_disclosure_suppressed(t, c) ? e->nunk++ : SIZE_MAX;
    rc = HL_EINVAL;
    if (e->nunk > HL_DISCLOSURE_MAX_SUPPRESSED)
        goto out;
    rc = HL_ENOMEM;
    if (e->nunk == 0) {
        rc = HL_OK;
        goto out;
    }
    e->cell_of_unk = malloc(e->nunk * sizeof(size_t));
    e->parent = malloc(e->nunk * sizeof(size_t));
    e->comp = malloc(e->nunk * sizeof(size_t));
    e->local = malloc(e->nunk * sizeof(size_t));
    e->comp_size = calloc(e->nunk, sizeof(size_t));
    e->derivable = calloc(e->nunk, sizeof(bool));
    e->vec = malloc(e->nunk * sizeof(uint64_t));
    if (!e->cell_of_unk || !e->parent || !e->comp || !e->local || !e->comp_size || !e->derivable || !e->vec)
        goto out;
    for (size_t c = 0; c < t->ncells; c++)
        if (e->unk_of_cell[c] != SIZE_MAX)
            e->cell_of_unk[e->unk_of_cell[c]] = c;
    for (size_t u = 0; u < e->nunk; u++)
        e->parent[u] = u;
    /* Components: unknowns sharing a published line. */
    for (size_t d = 0; d < t->ndims; d++) {
        for (size_t l = 0; l < t->nlines[d]; l++) {
            size_t first = SIZE_MAX;

            if (t->line_withheld[d][l])
                continue;
            for (size_t j = 0; j < t->dims[d]; j++) {
                size_t u = e->unk_of_cell[hl_disclosure_line_cell(t, d, l, j)];

                if (u == SIZE_MAX)
                    continue;
                if (first == SIZE_MAX)
                    first = u;
                else
                    e->parent[uf_find(e->parent, u)] = uf_find(e->parent, first);
            }
        }
    }
    for (size_t u = 0; u < e->nunk; u++) {
        size_t r = uf_find(e->parent, u);

        e->comp[u] = r;
        e->local[u] = e->comp_size[r]++;
    }
    /* Each component on its own, and whether its sum is determined. */
    for (size_t r = 0; r < e->nunk; r++) {
        if (e->comp_size[r] == 0)
            continue;
        rc = component_basis(e, r, false);
        if (rc < 0)
            goto out;
        mark_derivable(e, r);
        if (!sum_determined(e)) {
            nsd++;
            last_nsd = r;
        }
    }
    /*
     * The grand total (a 1-D table's total is its line, already used): it is the sum of
     * all component sums, so it determines the sum of a component exactly when every other
     * component's sum is determined; when all are, it adds nothing.
     */
    if (t->ndims > 1 && !t->total_withheld && nsd == 1) {
        rc = component_basis(e, last_nsd, true);
        if (rc < 0)
            goto out;
        mark_derivable(e, last_nsd);
    }
    rc = HL_OK;
out:
    return rc;
}

/* ---- apply -------------------------------------------------------------------------------- */

static bool lines_touched(const hl_disclosure_table_t *t, bool *const *touched, size_t cell)
{
    for (size_t d = 0; d < t->ndims; d++)
        if (touched[d][hl_disclosure_line_of(t, d, cell)])
            return true;
    return false;
}

static void touch_lines(const hl_disclosure_table_t *t, bool *const *touched, size_t cell)
{
    for (size_t d = 0; d < t->ndims; d++)
        touched[d][hl_disclosure_line_of(t, d, cell)] = true;
}

/* Is cell C a better complement than BEST (SIZE_MAX: none yet)? Smaller count, then lower index. */
static bool better(const hl_disclosure_table_t *t, size_t c, size_t best)
{
    if (best == SIZE_MAX)
        return true;
    if (t->counts[c] != t->counts[best])
        return t->counts[c] < t->counts[best];
    return c < best;
}

/* One more suppression or withheld total for derivable cell CELL (see disclosure.h).
 * *STOP is set when the change is table-wide (the round ends). */
static void protect(hl_disclosure_table_t *t, bool *const *touched, size_t cell, bool *stop)
{
    size_t best = SIZE_MAX;

    for (size_t d = 0; d < t->ndims; d++) {
        size_t l = hl_disclosure_line_of(t, d, cell), nsup, c;

        if (t->line_withheld[d][l])
            continue;
        c = line_candidate(t, d, l, &nsup);
        if (c != SIZE_MAX && better(t, c, best))
            best = c;
    }
    if (best != SIZE_MAX) {
        t->state[best] = HL_DISCLOSURE_COMPLEMENTARY;
        touch_lines(t, touched, best);
        return;
    }
    for (size_t d = 0; d < t->ndims; d++) {
        size_t l = hl_disclosure_line_of(t, d, cell);

        if (!t->line_withheld[d][l]) {
            hl_disclosure_withhold_line(t, d, l);
            touched[d][l] = true;
            return;
        }
    }
    *stop = true;
    for (size_t c = 0; c < t->ncells; c++)
        if (!hl_disclosure_suppressed(t, c) && t->counts[c] > 0 &&
            (best == SIZE_MAX || t->counts[c] < t->counts[best]))
            best = c;
    if (best != SIZE_MAX)
        t->state[best] = HL_DISCLOSURE_COMPLEMENTARY;
    else
        hl_disclosure_withhold_total(t);
}

int hl_disclosure_apply(hl_disclosure_table_t *t, uint64_t k)
{
    bool *touched[HL_DISCLOSURE_MAX_DIMS] = {NULL};
    exact_t e;
    int rc = HL_EINVAL;

    memset(&e, 0, sizeof(e));
    if (!t || k == 0)
        goto out;
    rc = HL_ENOMEM;
    for (size_t d = 0; d < t->ndims; d++) {
        touched[d] = calloc(t->nlines[d], sizeof(bool));
        if (!touched[d])
            goto out;
    }
    for (size_t c = 0; c < t->ncells; c++)
        if (t->state[c] == HL_DISCLOSURE_PUBLISHED && t->counts[c] > 0 && t->counts[c] < k)
            t->state[c] = HL_DISCLOSURE_PRIMARY;
    for (;;) {
        bool stop = false, any = false;

        heuristic(t);
        exact_free(&e);
        memset(&e, 0, sizeof(e));
        rc = exact_check(t, &e);
        if (rc < 0)
            goto out;
        for (size_t d = 0; d < t->ndims; d++)
            memset(touched[d], 0, t->nlines[d] * sizeof(bool));
        for (size_t u = 0; u < e.nunk && !stop; u++) {
            size_t cell = e.cell_of_unk[u];

            if (!e.derivable[u])
                continue;
            any = true;
            if (!lines_touched(t, touched, cell))
                protect(t, touched, cell, &stop);
        }
        if (!any)
            break;
    }
    rc = HL_OK;
out:
    exact_free(&e);
    for (size_t d = 0; d < HL_DISCLOSURE_MAX_DIMS; d++)
        free(touched[d]);
    return rc;
}
