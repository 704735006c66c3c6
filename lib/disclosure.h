/*
 * Statistical disclosure control for count tables (design.md invariant 5): primary
 * suppression of every non-zero count below k, then complementary suppression until no
 * suppressed count can be derived from what is published.
 *
 * A table has 1..HL_DISCLOSURE_MAX_DIMS dimensions and is dense: every combination of
 * dimension values is a cell, zeros included. Cells are stored row-major, the last
 * dimension varying fastest (index = sum of coord[d] * stride[d]).
 *
 * What counts as published (the attacker's knowledge):
 *   - every cell whose state is HL_DISCLOSURE_PUBLISHED, with its count (zeros included:
 *     a zero is not disclosive and is never suppressed);
 *   - every line total that is not withheld. A line along dimension d is the set of cells
 *     that share all coordinates except the one of d (rows and columns of a 2-D table).
 *     All line totals are treated as published, whether or not the caller prints them,
 *     because a caller can ask for the coarser table anyway;
 *   - the grand total unless withheld. In a 1-D table the only line IS the grand total:
 *     line_withheld[0][0] and total_withheld are kept equal.
 *
 * hl_disclosure_apply:
 *   1. primary: every PUBLISHED cell with 0 < count < k becomes PRIMARY. Cells the caller
 *      marked UNKNOWN (a suppressed input of a merge) count as suppressed from the start;
 *   2. heuristic, to a fixed point: every line that is not withheld and holds exactly one
 *      suppressed cell gets a second one, the smallest non-zero PUBLISHED count of the line
 *      (ties: lowest cell index), marked COMPLEMENTARY; a line with no such cell has its
 *      total withheld instead. Lines are visited dimension by dimension, in index order;
 *   3. exact check: the suppressed cells are the unknowns of the linear system made of the
 *      published line totals and grand total (minus the published cells in them). A cell is
 *      derivable iff its unit vector lies in the row space of that system (Gaussian
 *      elimination modulo the prime 2^61-1, per connected component of the unknowns, the
 *      grand total handled exactly across components). The "one other suppressed cell per
 *      line" rule of step 2 is not sufficient on its own (in 2-D, a suppressed cell that is
 *      a bridge between two suppressed cycles is derivable), so for each derivable cell
 *      (index order) one more suppression is added: the smallest non-zero PUBLISHED count on
 *      a non-withheld line through it; failing that, the first non-withheld line through it
 *      is withheld; failing that, the smallest non-zero PUBLISHED count of the whole table;
 *      failing that, the grand total is withheld. Then back to step 2 until nothing is
 *      derivable. Every round suppresses or withholds something, so it terminates.
 * The result depends only on the counts, states, preset withheld flags and k: the same data
 * gives the same table.
 *
 * Callers: never print a suppressed cell's count, never distinguish PRIMARY from
 * COMPLEMENTARY or UNKNOWN (that would mark the small counts), and never print a withheld
 * line total or grand total. Withheld lines are listed by scanning line_withheld (e.g. the
 * report's "withheld" list); /v1/stats must not print them either.
 *
 * Limits (documented in docs/report-format.md):
 *   - protection is against exact derivation by linear combination, not against interval
 *     (bound) disclosure;
 *   - each table is protected on its own: higher-order margins (plane sums of a 3-D table)
 *     are sums of lines and add nothing unless a line is withheld, and a coarser table of
 *     the same data must go through hl_disclosure_apply itself; consistency across linked
 *     tables is not guaranteed;
 *   - categories are multi-valued (a contact counts once in each of its categories), so
 *     category line sums are not contact counts; treating every line sum as published is the
 *     conservative choice and still protects.
 *
 * Thread-safe: no global state; one table must not be used by two threads at once.
 */
#ifndef HL_DISCLOSURE_H
#define HL_DISCLOSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define HL_DISCLOSURE_MAX_DIMS       4
#define HL_DISCLOSURE_MAX_CELLS      65536 /* product of the dimension sizes */
#define HL_DISCLOSURE_MAX_SUPPRESSED 4096  /* more suppressed cells: HL_EINVAL (ask for a coarser table) */

typedef enum {
    HL_DISCLOSURE_PUBLISHED = 0,     /* count published (zeros always are) */
    HL_DISCLOSURE_PRIMARY = 1,       /* 0 < count < k */
    HL_DISCLOSURE_COMPLEMENTARY = 2, /* suppressed so that others cannot be derived */
    HL_DISCLOSURE_UNKNOWN = 3        /* set by the caller: count not known (merge input suppressed) */
} hl_disclosure_state_t;

typedef struct hl_disclosure_table {
    size_t ndims;
    size_t dims[HL_DISCLOSURE_MAX_DIMS];   /* values per dimension, each >= 1 */
    size_t stride[HL_DISCLOSURE_MAX_DIMS]; /* stride[ndims - 1] == 1 */
    size_t ncells;
    uint64_t *counts;                            /* ncells; ignored for UNKNOWN cells */
    uint8_t *state;                              /* ncells hl_disclosure_state_t, all PUBLISHED after _new */
    size_t nlines[HL_DISCLOSURE_MAX_DIMS];       /* lines along dimension d: ncells / dims[d] */
    bool *line_withheld[HL_DISCLOSURE_MAX_DIMS]; /* nlines[d] flags, all false after _new */
    bool total_withheld;
} hl_disclosure_table_t;

/* A table of NDIMS (1..4) dimensions of sizes DIMS (each >= 1, product at most
 * HL_DISCLOSURE_MAX_CELLS): counts 0, every cell PUBLISHED, nothing withheld. */
int hl_disclosure_table_new(size_t ndims, const size_t *dims, hl_disclosure_table_t **out) HL_MUSTCHECK;
void hl_disclosure_table_free(hl_disclosure_table_t *t);

/* Cell index of COORDS (ndims entries, each < dims[d]) and back. */
size_t hl_disclosure_index(const hl_disclosure_table_t *t, const size_t *coords);
void hl_disclosure_coords(const hl_disclosure_table_t *t, size_t cell, size_t *coords);

/* The line along dimension D through CELL (0 .. nlines[D] - 1), and the J-th cell
 * (J < dims[D]) of line LINE along D. */
size_t hl_disclosure_line_of(const hl_disclosure_table_t *t, size_t d, size_t cell);
size_t hl_disclosure_line_cell(const hl_disclosure_table_t *t, size_t d, size_t line, size_t j);

/* Withholds a line total (in a 1-D table: the grand total) or the grand total: for
 * callers that preset what is not known (merge), before hl_disclosure_apply. */
void hl_disclosure_withhold_line(hl_disclosure_table_t *t, size_t d, size_t line);
void hl_disclosure_withhold_total(hl_disclosure_table_t *t);

static inline bool hl_disclosure_suppressed(const hl_disclosure_table_t *t, size_t cell)
{
    return t->state[cell] != HL_DISCLOSURE_PUBLISHED;
}

/*
 * Applies disclosure control with threshold K (>= 1) as described above. Call it once per
 * table, after setting counts, UNKNOWN states and preset withheld flags. HL_EINVAL for
 * K == 0 or more than HL_DISCLOSURE_MAX_SUPPRESSED suppressed cells, HL_ENOMEM; on failure
 * the table is in an unspecified state and must not be published.
 */
int hl_disclosure_apply(hl_disclosure_table_t *t, uint64_t k) HL_MUSTCHECK;

/*
 * Adds PART, a table already through hl_disclosure_apply, into SUM (fresh from _new, or after
 * earlier adds): for tables made of disjoint parts, such as the per-helpline, per-month tables
 * that statistics for users without row-level access are built from (docs/http-api.md). A cell
 * grows by PART's published count and becomes UNKNOWN (count 0) when PART suppressed it; a line
 * total or grand total PART withheld is withheld in SUM.
 *
 * D == SIZE_MAX: PART has SUM's dimensions. D < SUM->ndims: PART has SUM's dimensions without D
 * and goes into the cells whose coordinate D is V (V < SUM->dims[D]); a line of SUM along D then
 * adds cells of several parts, and is withheld when any of them is suppressed.
 *
 * Everything SUM then publishes (cells, line totals, grand total) is a sum of what the parts
 * publish, and a sum of unknowns of different parts is derivable only when each of them is: so
 * no suppressed count of a part becomes derivable, and hl_disclosure_apply(SUM) with the parts'
 * k finds nothing to do (tests/unit/test_disclosure.c checks both). HL_EINVAL for shapes that
 * do not fit or a sum over 2^64.
 */
int hl_disclosure_add(hl_disclosure_table_t *sum, const hl_disclosure_table_t *part, size_t d,
                      size_t v) HL_MUSTCHECK;

/* Suppressed cells (any state but PUBLISHED) and withheld totals (lines and grand total,
 * a 1-D table's total counted once), for tests and metrics. */
size_t hl_disclosure_count_suppressed(const hl_disclosure_table_t *t);
size_t hl_disclosure_count_withheld(const hl_disclosure_table_t *t);

#endif
