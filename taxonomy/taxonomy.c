/*
 * The taxonomy: loader, validator, lookups and the Aho-Corasick classifier.
 *
 * Text model. The classifier reads UTF-8 one character at a time and turns it into a stream
 * of symbols: a..z and 0..9 (Latin letters with diacritics fold to ASCII, "PÉDOPHILE" ->
 * "pedophile", "ß" -> "ss"), SEP for a run of soft separators (white space, hyphens,
 * apostrophes, slashes, underscores), SEP BRK SEP for a run that holds any other punctuation
 * (or a control character, or NUL), and W for a letter that does not fold (Cyrillic, CJK,
 * ...). Combining marks and zero-width joiners are skipped. The stream starts and ends with a
 * SEP. An alias goes through the same folding and becomes the pattern SEP body SEP, so word
 * boundaries fall out of the automaton: "grooming" matches " grooming " but never
 * "groomingly". A ring buffer keeps the byte offset of the character behind each of the last
 * 256 symbols, which turns a pattern's symbol span back into bytes of the original text.
 *
 * All the loaded data lives in one arena, freed at once.
 */
#include "taxonomy.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define NSYM             39
#define SYM_SEP          36
#define SYM_BRK          37
#define SYM_W            38
#define RING             256
#define RING_MASK        (RING - 1)
#define MAX_PATTERN_SYMS RING /* SEP body SEP */
#define MAX_FILE_BYTES   (16u * 1024 * 1024)
#define MAX_CODE_LEN     64
#define MAX_HELPLINE_LEN 32
#define MAX_VERSION_LEN  32
#define MAX_STATES       65535u /* the build table holds 16-bit state ids */

/* ASCII: letters and digits -> symbol, soft separators -> SEP, everything else -> BRK. */
static const uint8_t ascii_sym[128] = {
    37, 37, 37, 37, 37, 37, 37, 37, 37, 36, 36, 36, 36, 36, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37,
    37, 37, 37, 37, 37, 37, 36, 37, 37, 37, 37, 37, 37, 36, 37, 37, 37, 37, 37, 36, 37, 36, 26, 27, 28, 29,
    30, 31, 32, 33, 34, 35, 37, 37, 37, 37, 37, 37, 37, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 37, 37, 37, 37, 36, 37, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 37, 37, 37, 37, 37};

/* ------------------------------------------------------------------------------------ */
/* Arena                                                                                 */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, size;
    max_align_t data[];
} arena_block_t;

typedef struct arena {
    arena_block_t *head;
} arena_t;

static void *arena_alloc(arena_t *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    if (a->head == NULL || a->head->size - a->head->used < size) {
        size_t bsize = size > 60000 ? size : 60000;
        arena_block_t *b = malloc(sizeof(*b) + bsize);
        if (b == NULL)
            return NULL;
        b->size = bsize;
        b->used = 0;
        if (a->head != NULL && size > 60000) {
            /* keep filling the current block; the big one goes behind it */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
        b->used = size;
        return (char *)b->data + (b->used - size);
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += size;
    return p;
}

static void *arena_calloc(arena_t *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = arena_alloc(a, n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

static char *arena_strdup(arena_t *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(a, n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void arena_free(arena_t *a)
{
    arena_block_t *b = a->head;
    while (b != NULL) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Characters                                                                            */

typedef enum { CK_SYM, CK_FOLD, CK_SOFT, CK_HARD, CK_IGNORE, CK_WORD } char_kind_t;

/* U+00C0..U+00FF; NULL for the two maths signs. */
static const char *const fold_latin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c",  "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  NULL, "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c",  "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  NULL, "o", "u", "u", "u", "u", "y", "th", "y"};

/* U+0100..U+017F, one letter each; '*' marks the two-letter ones (Ĳ ĳ Œ œ). */
static const char fold_ext_a[129] = "aaaaaaccccccccdd"
                                    "ddeeeeeeeeeegggg"
                                    "gggghhhhiiiiiiii"
                                    "ii**jjkkklllllll"
                                    "lllnnnnnnnnnoooo"
                                    "oo**rrrrrrssssss"
                                    "ssttttttuuuuuuuu"
                                    "uuuuwwyyyzzzzzzs";

/* U+01CD..U+01DC (pinyin vowels with caron and the like). */
static const char fold_ext_b[17] = "aaiioouuuuuuuuuu";

static const char *const fold_lig[7] = {"ff", "fi", "fl", "ffi", "ffl", "st", "st"};

/* Single-letter fold strings, indexed by letter. */
static const char *const letter_str[26] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
                                           "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z"};

/*
 * Classifies one non-ASCII code point (ASCII goes through ascii_sym). For CK_FOLD, *FOLD is
 * 1..3 lower-case ASCII letters.
 */
static char_kind_t cp_kind(uint32_t cp, const char **fold)
{
    if (cp < 0xC0) {
        if (cp == 0xA0)
            return CK_SOFT; /* no-break space */
        if (cp == 0xAD)
            return CK_IGNORE; /* soft hyphen */
        if (cp == 0xAA) {
            *fold = "a";
            return CK_FOLD;
        }
        if (cp == 0xBA) {
            *fold = "o";
            return CK_FOLD;
        }
        if (cp == 0xB5 || cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0xBC && cp <= 0xBE))
            return CK_WORD;
        return CK_HARD; /* C1 controls, Latin-1 punctuation and symbols */
    }
    if (cp < 0x100) {
        *fold = fold_latin1[cp - 0xC0];
        return *fold != NULL ? CK_FOLD : CK_HARD;
    }
    if (cp < 0x180) {
        char c = fold_ext_a[cp - 0x100];
        if (c == '*')
            *fold = (cp == 0x132 || cp == 0x133) ? "ij" : "oe";
        else
            *fold = letter_str[c - 'a'];
        return CK_FOLD;
    }
    if (cp >= 0x1CD && cp <= 0x1DC) {
        *fold = letter_str[fold_ext_b[cp - 0x1CD] - 'a'];
        return CK_FOLD;
    }
    if (cp >= 0x218 && cp <= 0x21B) {
        *fold = cp < 0x21A ? "s" : "t";
        return CK_FOLD;
    }
    if (cp == 0x2BC || cp == 0x2BB)
        return CK_SOFT; /* modifier letter apostrophes */
    if (cp >= 0x300 && cp <= 0x36F)
        return CK_IGNORE; /* combining diacritics: "e" + U+0301 is "e" */
    if (cp >= 0x2000 && cp <= 0x206F) {
        if (cp <= 0x200B || cp == 0x2010 || cp == 0x2011 || cp == 0x2018 || cp == 0x2019 || cp == 0x201B ||
            cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F)
            return CK_SOFT;
        if (cp == 0x200C || cp == 0x200D || cp == 0x200E || cp == 0x200F || (cp >= 0x2060 && cp <= 0x2064))
            return CK_IGNORE;
        return CK_HARD;
    }
    if (cp >= 0x2070 && cp <= 0x2BFF)
        return CK_HARD; /* super/subscripts, currency, arrows, maths, boxes, shapes */
    if (cp == 0x3000)
        return CK_SOFT;
    if (cp >= 0x3001 && cp <= 0x303F)
        return CK_HARD;
    if (cp >= 0xFB00 && cp <= 0xFB06) {
        *fold = fold_lig[cp - 0xFB00];
        return CK_FOLD;
    }
    if ((cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF || (cp >= 0xE0000 && cp <= 0xE007F) ||
        (cp >= 0xE0100 && cp <= 0xE01EF))
        return CK_IGNORE; /* variation selectors, BOM, tags */
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
        if (cp >= 0xFF21 && cp <= 0xFF3A) {
            *fold = letter_str[cp - 0xFF21];
            return CK_FOLD;
        }
        if (cp >= 0xFF41 && cp <= 0xFF5A) {
            *fold = letter_str[cp - 0xFF41];
            return CK_FOLD;
        }
        if (cp >= 0xFF10 && cp <= 0xFF19)
            return CK_WORD;
        return CK_HARD; /* full-width punctuation */
    }
    if (cp >= 0x1F000 && cp <= 0x1FAFF)
        return CK_HARD; /* emoji and pictographs */
    return CK_WORD;
}

/* Decodes one UTF-8 character at P (N > 0 bytes left). Returns its length, 0 if invalid. */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        if (n < 2 || (p[1] & 0xC0) != 0x80)
            return 0;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        v = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))
            return 0;
        *cp = v;
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        v = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) |
            (p[3] & 0x3F);
        if (v < 0x10000 || v > 0x10FFFF)
            return 0;
        *cp = v;
        return 4;
    }
    return 0;
}

/*
 * The symbol stream of TEXT exactly as the classifier sees it (framing SEPs included).
 * *OUT is malloc'd. HL_EINVAL with *BAD = byte offset on invalid UTF-8; HL_ENOMEM.
 */
static int fold_symbols(const char *text, size_t len, uint8_t **out, size_t *nout, size_t *bad)
{
    const uint8_t *p = (const uint8_t *)text;
    size_t cap = len + 8, n = 0, i = 0;
    int pend = 1, rc = HL_OK;
    uint8_t *s = malloc(cap);
    if (s == NULL)
        return HL_ENOMEM;
    while (i < len) {
        uint32_t cp;
        const char *fold = NULL;
        size_t clen = utf8_decode(p + i, len - i, &cp);
        char_kind_t k;
        uint8_t one = 0;
        if (clen == 0) {
            *bad = i;
            rc = HL_EINVAL;
            goto out;
        }
        if (cp < 0x80) {
            one = ascii_sym[cp];
            k = one < SYM_SEP ? CK_SYM : one == SYM_SEP ? CK_SOFT : CK_HARD;
        } else {
            k = cp_kind(cp, &fold);
        }
        i += clen;
        if (k == CK_SOFT) {
            if (!pend)
                pend = 1;
            continue;
        }
        if (k == CK_HARD) {
            pend = 2;
            continue;
        }
        if (k == CK_IGNORE)
            continue;
        if (n + 8 > cap) {
            uint8_t *ns = realloc(s, cap * 2);
            if (ns == NULL) {
                rc = HL_ENOMEM;
                goto out;
            }
            s = ns;
            cap *= 2;
        }
        if (pend) {
            s[n++] = SYM_SEP;
            if (pend == 2) {
                s[n++] = SYM_BRK;
                s[n++] = SYM_SEP;
            }
            pend = 0;
        }
        if (k == CK_SYM)
            s[n++] = one;
        else if (k == CK_WORD)
            s[n++] = SYM_W;
        else
            for (const char *f = fold; *f; f++)
                s[n++] = (uint8_t)(*f - 'a');
    }
    if (n + 4 > cap) {
        uint8_t *ns = realloc(s, cap + 4);
        if (ns == NULL) {
            rc = HL_ENOMEM;
            goto out;
        }
        s = ns;
    }
    if (!pend)
        pend = 1;
    s[n++] = SYM_SEP;
    if (pend == 2) {
        s[n++] = SYM_BRK;
        s[n++] = SYM_SEP;
    }
out:
    if (rc != HL_OK) {
        free(s);
        return rc;
    }
    *out = s;
    *nout = n;
    return HL_OK;
}

static bool is_space_cp(uint32_t cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/*
 * The key a local label is matched by: folded like the classifier does (case, accents),
 * white space trimmed and collapsed to one ' ', punctuation and other characters kept.
 * Returns an arena string (or a malloc'd one when A is NULL); NULL on invalid UTF-8 or OOM.
 */
static char *label_key(arena_t *a, const char *label)
{
    size_t len = strlen(label), n = 0;
    const uint8_t *p = (const uint8_t *)label;
    char *k = malloc(len * 3 + 1);
    char *res = NULL;
    bool space = false;
    if (k == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        const char *fold = NULL;
        size_t clen = utf8_decode(p + i, len - i, &cp);
        if (clen == 0)
            goto out;
        if (is_space_cp(cp)) {
            space = n > 0;
            i += clen;
            continue;
        }
        if (space) {
            k[n++] = ' ';
            space = false;
        }
        if (cp < 0x80) {
            k[n++] = (cp >= 'A' && cp <= 'Z') ? (char)(cp + 32) : (char)cp;
        } else {
            char_kind_t kind = cp_kind(cp, &fold);
            if (kind == CK_FOLD) {
                for (const char *f = fold; *f; f++)
                    k[n++] = *f;
            } else if (kind != CK_IGNORE) {
                memcpy(k + n, p + i, clen);
                n += clen;
            }
        }
        i += clen;
    }
    k[n] = '\0';
    if (a == NULL) {
        res = k;
        k = NULL;
    } else {
        res = arena_strdup(a, k);
    }
out:
    free(k);
    return res;
}

/* ------------------------------------------------------------------------------------ */
/* The structure                                                                         */

typedef struct label_entry {
    const char *key;
    const hl_taxonomy_mapping_t *map;
} label_entry_t;

typedef struct helpline_map {
    const char *code;
    hl_taxonomy_mapping_t *maps; /* file order */
    size_t n;
    label_entry_t *sorted; /* by key */
} helpline_map_t;

typedef struct automaton {
    uint16_t *delta;    /* n_states * NSYM, complete (a DFA); only while building */
    uint32_t *next;     /* the same DFA, each entry premultiplied: row offset (state * NSYM) */
    uint32_t *out_pat;  /* pattern + 1 ending in this state, or 0 */
    uint32_t *out_next; /* next state on the suffix chain with an output, or 0 */
    uint8_t *has_out;   /* out_pat || out_next */
    uint32_t n_states;
    uint32_t *pat_term; /* term index */
    uint16_t *pat_nsep; /* SEP symbols in the pattern, the framing two included */
    size_t n_pats;
} automaton_t;

struct hl_taxonomy {
    arena_t arena;
    const char *version;
    hl_taxonomy_category_t *cats;
    size_t n_cats;
    const hl_taxonomy_category_t **cats_sorted;
    hl_taxonomy_term_t *terms;
    size_t n_terms;
    const hl_taxonomy_term_t **terms_sorted;
    helpline_map_t *helplines; /* sorted by code */
    size_t n_helplines;
    automaton_t ac;
};

/* ------------------------------------------------------------------------------------ */
/* Errors and JSON helpers                                                               */

typedef struct loader {
    hl_taxonomy_t *tax;
    const char *file; /* the file being read, for messages */
    char *err;
} loader_t;

static int fail(loader_t *ld, int rc, const char *path, const char *fmt, ...) HL_PRINTF(4, 5);

static int fail(loader_t *ld, int rc, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (ld->err == NULL)
        return rc;
    if (path != NULL)
        n = snprintf(ld->err, HL_TAXONOMY_ERR_LEN, "%s: %s: ", ld->file, path[0] ? path : "(document)");
    else
        n = snprintf(ld->err, HL_TAXONOMY_ERR_LEN, "%s: ", ld->file);
    if (n < 0 || n >= HL_TAXONOMY_ERR_LEN - 1)
        return rc;
    va_start(ap, fmt);
    vsnprintf(ld->err + n, HL_TAXONOMY_ERR_LEN - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

static int oom(loader_t *ld)
{
    return fail(ld, HL_ENOMEM, NULL, "out of memory");
}

static int read_json(loader_t *ld, const char *path, json_t **out)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    json_error_t je;
    json_t *j = NULL;
    char *buf = NULL;
    size_t size;
    int rc = HL_OK;
    if (f == NULL)
        return fail(ld, HL_EIO, NULL, "cannot open: %s", strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fail(ld, HL_EIO, NULL, "not a regular file");
        goto out;
    }
    if ((unsigned long long)st.st_size > MAX_FILE_BYTES) {
        rc = fail(ld, HL_EINVAL, NULL, "larger than %u bytes", MAX_FILE_BYTES);
        goto out;
    }
    size = (size_t)st.st_size;
    buf = malloc(size + 1);
    if (buf == NULL) {
        rc = oom(ld);
        goto out;
    }
    if (fread(buf, 1, size, f) != size || ferror(f)) {
        rc = fail(ld, HL_EIO, NULL, "cannot read: %s", strerror(errno));
        goto out;
    }
    j = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        rc = fail(ld, HL_EINVAL, NULL, "line %d, column %d: bad JSON: %s", je.line, je.column, je.text);
        goto out;
    }
    if (!json_is_object(j)) {
        rc = fail(ld, HL_EINVAL, "", "must be a JSON object");
        json_decref(j);
        j = NULL;
        goto out;
    }
    *out = j;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* Every key of OBJ must be in ALLOWED (NULL-terminated). */
static int check_keys(loader_t *ld, json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const char *const *a = allowed;
        while (*a != NULL && strcmp(*a, key) != 0)
            a++;
        if (*a == NULL)
            return fail(ld, HL_EINVAL, path, "unknown key \"%s\"", key);
    }
    return HL_OK;
}

static bool valid_utf8(const char *s)
{
    size_t len = strlen(s);
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_decode((const uint8_t *)s + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/*
 * Reads the string member KEY of OBJ into the arena. REQUIRED: missing is an error; else
 * missing or null leaves *OUT NULL. Strings must be non-empty.
 */
static int get_string(loader_t *ld, json_t *obj, const char *path, const char *key, bool required,
                      const char **out)
{
    char p[160];
    const char *why;
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || (json_is_null(v) && !required)) {
        if (!required)
            return HL_OK;
        why = "missing";
    } else if (!json_is_string(v)) {
        why = "must be a string";
    } else if (json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
        why = "must be a non-empty string without NUL";
    } else if (!valid_utf8(json_string_value(v))) {
        why = "invalid UTF-8";
    } else {
        *out = arena_strdup(&ld->tax->arena, json_string_value(v));
        return *out != NULL ? HL_OK : oom(ld);
    }
    snprintf(p, sizeof(p), "%s/%s", path, key);
    return fail(ld, HL_EINVAL, p, "%s", why);
}

static int get_bool(loader_t *ld, json_t *obj, const char *path, const char *key, bool dflt, bool *out)
{
    char p[160];
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (v == NULL)
        return HL_OK;
    if (!json_is_boolean(v)) {
        snprintf(p, sizeof(p), "%s/%s", path, key);
        return fail(ld, HL_EINVAL, p, "must be true or false");
    }
    *out = json_is_true(v);
    return HL_OK;
}

/* One code segment: [a-z][a-z0-9_]*. */
static bool valid_segment(const char *s, size_t n)
{
    if (n == 0 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return s[n - 1] != '_';
}

static bool valid_code(const char *code)
{
    size_t len = strlen(code);
    const char *seg = code;
    if (len > MAX_CODE_LEN)
        return false;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t n = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        if (!valid_segment(seg, n))
            return false;
        if (dot == NULL)
            return true;
        seg = dot + 1;
    }
}

static bool valid_helpline(const char *s, size_t n)
{
    if (n == 0 || n > MAX_HELPLINE_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '_' || c == '-'))))
            return false;
    }
    return true;
}

static int cmp_cat(const void *a, const void *b)
{
    const hl_taxonomy_category_t *const *x = a, *const *y = b;
    return strcmp((*x)->code, (*y)->code);
}

static int cmp_term(const void *a, const void *b)
{
    const hl_taxonomy_term_t *const *x = a, *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

static int cmp_label(const void *a, const void *b)
{
    const label_entry_t *x = a, *y = b;
    return strcmp(x->key, y->key);
}

static int cmp_helpline(const void *a, const void *b)
{
    const helpline_map_t *x = a, *y = b;
    return strcmp(x->code, y->code);
}

static int cmp_str(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

static const hl_taxonomy_category_t *find_cat(const hl_taxonomy_t *tax, const char *code)
{
    hl_taxonomy_category_t key = {.code = code};
    const hl_taxonomy_category_t *kp = &key;
    const hl_taxonomy_category_t *const *r;
    if (tax->cats_sorted == NULL || code == NULL)
        return NULL;
    r = bsearch(&kp, tax->cats_sorted, tax->n_cats, sizeof(*tax->cats_sorted), cmp_cat);
    return r != NULL ? *r : NULL;
}

static const hl_taxonomy_term_t *find_term(const hl_taxonomy_t *tax, const char *id)
{
    hl_taxonomy_term_t key = {.id = id};
    const hl_taxonomy_term_t *kp = &key;
    const hl_taxonomy_term_t *const *r;
    if (tax->terms_sorted == NULL || id == NULL)
        return NULL;
    r = bsearch(&kp, tax->terms_sorted, tax->n_terms, sizeof(*tax->terms_sorted), cmp_term);
    return r != NULL ? *r : NULL;
}

/* ------------------------------------------------------------------------------------ */
/* categories.json                                                                       */

static int load_categories(loader_t *ld, const char *dir)
{
    static const char *const top_keys[] = {"version", "source", "note", "categories", NULL};
    static const char *const cat_keys[] = {"code", "label", "description", "parent", "deprecated", NULL};
    hl_taxonomy_t *tax = ld->tax;
    char file[4096], path[96];
    json_t *root = NULL, *arr, *item;
    const char **parents = NULL;
    const hl_taxonomy_category_t ***kids = NULL;
    size_t *nchild = NULL, i;
    int rc;

    snprintf(file, sizeof(file), "%s/categories.json", dir);
    ld->file = file;
    if ((rc = read_json(ld, file, &root)) != HL_OK)
        goto out;
    if ((rc = check_keys(ld, root, "", top_keys)) != HL_OK)
        goto out;
    if ((rc = get_string(ld, root, "", "version", true, &tax->version)) != HL_OK)
        goto out;
    if (strlen(tax->version) > MAX_VERSION_LEN) {
        rc = fail(ld, HL_EINVAL, "/version", "longer than %d characters", MAX_VERSION_LEN);
        goto out;
    }
    for (const char *c = tax->version; *c; c++) {
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '.' ||
              *c == '-' || *c == '_')) {
            rc = fail(ld, HL_EINVAL, "/version", "only letters, digits, '.', '-' and '_' are allowed");
            goto out;
        }
    }
    arr = json_object_get(root, "categories");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        rc = fail(ld, HL_EINVAL, "/categories", "must be a non-empty array");
        goto out;
    }
    tax->n_cats = json_array_size(arr);
    tax->cats = arena_calloc(&tax->arena, tax->n_cats, sizeof(*tax->cats));
    tax->cats_sorted = arena_calloc(&tax->arena, tax->n_cats, sizeof(*tax->cats_sorted));
    parents = calloc(tax->n_cats, sizeof(*parents));
    nchild = calloc(tax->n_cats, sizeof(*nchild));
    if (tax->cats == NULL || tax->cats_sorted == NULL || parents == NULL || nchild == NULL) {
        rc = oom(ld);
        goto out;
    }
    json_array_foreach(arr, i, item)
    {
        hl_taxonomy_category_t *c = &tax->cats[i];
        snprintf(path, sizeof(path), "/categories/%zu", i);
        if (!json_is_object(item)) {
            rc = fail(ld, HL_EINVAL, path, "must be an object");
            goto out;
        }
        if ((rc = check_keys(ld, item, path, cat_keys)) != HL_OK ||
            (rc = get_string(ld, item, path, "code", true, &c->code)) != HL_OK ||
            (rc = get_string(ld, item, path, "label", true, &c->label)) != HL_OK ||
            (rc = get_string(ld, item, path, "description", true, &c->description)) != HL_OK ||
            (rc = get_string(ld, item, path, "parent", false, &parents[i])) != HL_OK ||
            (rc = get_bool(ld, item, path, "deprecated", false, &c->deprecated)) != HL_OK)
            goto out;
        if (!valid_code(c->code)) {
            snprintf(path, sizeof(path), "/categories/%zu/code", i);
            rc = fail(ld, HL_EINVAL, path,
                      "bad code \"%s\": dot-separated snake_case segments ([a-z][a-z0-9_]*), at most %d "
                      "characters",
                      c->code, MAX_CODE_LEN);
            goto out;
        }
        tax->cats_sorted[i] = c;
    }
    qsort(tax->cats_sorted, tax->n_cats, sizeof(*tax->cats_sorted), cmp_cat);
    for (i = 1; i < tax->n_cats; i++) {
        if (strcmp(tax->cats_sorted[i - 1]->code, tax->cats_sorted[i]->code) == 0) {
            size_t a = (size_t)(tax->cats_sorted[i - 1] - tax->cats),
                   b = (size_t)(tax->cats_sorted[i] - tax->cats);
            snprintf(path, sizeof(path), "/categories/%zu/code", a > b ? a : b);
            rc = fail(ld, HL_EINVAL, path, "duplicate code \"%s\" (first at /categories/%zu)",
                      tax->cats_sorted[i]->code, a < b ? a : b);
            goto out;
        }
    }
    for (i = 0; i < tax->n_cats; i++) {
        hl_taxonomy_category_t *c = &tax->cats[i];
        const char *dot = strrchr(c->code, '.');
        if (parents[i] == NULL) {
            if (dot != NULL) {
                snprintf(path, sizeof(path), "/categories/%zu", i);
                rc = fail(ld, HL_EINVAL, path, "code \"%s\" has a dot but no \"parent\"", c->code);
                goto out;
            }
            continue;
        }
        snprintf(path, sizeof(path), "/categories/%zu/parent", i);
        c->parent = find_cat(tax, parents[i]);
        if (c->parent == NULL) {
            rc = fail(ld, HL_EINVAL, path, "parent \"%s\" of \"%s\" does not exist", parents[i], c->code);
            goto out;
        }
        if (dot == NULL || (size_t)(dot - c->code) != strlen(parents[i]) ||
            strncmp(c->code, parents[i], (size_t)(dot - c->code)) != 0) {
            rc = fail(ld, HL_EINVAL, path, "code \"%s\" must be \"%s.<segment>\"", c->code, parents[i]);
            goto out;
        }
        nchild[c->parent - tax->cats]++;
    }
    kids = calloc(tax->n_cats, sizeof(*kids));
    if (kids == NULL) {
        rc = oom(ld);
        goto out;
    }
    for (i = 0; i < tax->n_cats; i++) {
        if (nchild[i] == 0)
            continue;
        kids[i] = arena_calloc(&tax->arena, nchild[i], sizeof(**kids));
        if (kids[i] == NULL) {
            rc = oom(ld);
            goto out;
        }
        tax->cats[i].children = kids[i];
    }
    for (i = 0; i < tax->n_cats; i++) {
        hl_taxonomy_category_t *c = &tax->cats[i];
        if (c->parent != NULL) {
            size_t pi = (size_t)(c->parent - tax->cats);
            kids[pi][tax->cats[pi].n_children++] = c;
        }
    }
    rc = HL_OK;
out:
    free(kids);
    free(parents);
    free(nchild);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* terms.json                                                                            */

static const char *const verdict_names[] = {"use", "caution", "avoid"};
static const char *const evidence_names[] = {"confirmed", "secondary", "unconfirmed", "project_advice", NULL};

static int load_aliases(loader_t *ld, json_t *obj, const char *tpath, hl_taxonomy_term_t *t)
{
    hl_taxonomy_t *tax = ld->tax;
    char path[160];
    const char *lang;
    json_t *list, *a;
    size_t n = 0, i;
    hl_taxonomy_alias_t *al;

    snprintf(path, sizeof(path), "%s/aliases", tpath);
    if (!json_is_object(obj))
        return fail(ld, HL_EINVAL, path, "must be an object of language -> [aliases]");
    json_object_foreach(obj, lang, list)
    {
        size_t ll = strlen(lang);
        if (ll < 2 || ll > 3 || strspn(lang, "abcdefghijklmnopqrstuvwxyz") != ll)
            return fail(ld, HL_EINVAL, path, "\"%s\" is not a language code (ISO 639, lower case)", lang);
        snprintf(path, sizeof(path), "%s/aliases/%s", tpath, lang);
        if (!json_is_array(list))
            return fail(ld, HL_EINVAL, path, "must be an array of strings");
        n += json_array_size(list);
    }
    al = arena_calloc(&tax->arena, n ? n : 1, sizeof(*al));
    if (al == NULL)
        return oom(ld);
    n = 0;
    json_object_foreach(obj, lang, list)
    {
        const char *l = arena_strdup(&tax->arena, lang);
        if (l == NULL)
            return oom(ld);
        json_array_foreach(list, i, a)
        {
            snprintf(path, sizeof(path), "%s/aliases/%s/%zu", tpath, lang, i);
            if (!json_is_string(a) || json_string_length(a) == 0 ||
                strlen(json_string_value(a)) != json_string_length(a))
                return fail(ld, HL_EINVAL, path, "must be a non-empty string without NUL");
            if (!valid_utf8(json_string_value(a)))
                return fail(ld, HL_EINVAL, path, "invalid UTF-8");
            al[n].lang = l;
            al[n].text = arena_strdup(&tax->arena, json_string_value(a));
            if (al[n].text == NULL)
                return oom(ld);
            n++;
        }
    }
    t->aliases = al;
    t->n_aliases = n;
    return HL_OK;
}

static int load_terms(loader_t *ld, const char *dir)
{
    static const char *const top_keys[] = {"note", "terms", NULL};
    static const char *const term_keys[] = {"id",       "label",   "verdict", "preferred", "preferred_term",
                                            "category", "aliases", "detect",  "note",      "source",
                                            "evidence", "edition", NULL};
    hl_taxonomy_t *tax = ld->tax;
    char file[4096], path[96], p2[128];
    json_t *root = NULL, *arr, *item;
    const char **pref_ids = NULL;
    size_t i;
    int rc;

    snprintf(file, sizeof(file), "%s/terms.json", dir);
    ld->file = file;
    if ((rc = read_json(ld, file, &root)) != HL_OK)
        goto out;
    if ((rc = check_keys(ld, root, "", top_keys)) != HL_OK)
        goto out;
    arr = json_object_get(root, "terms");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        rc = fail(ld, HL_EINVAL, "/terms", "must be a non-empty array");
        goto out;
    }
    tax->n_terms = json_array_size(arr);
    tax->terms = arena_calloc(&tax->arena, tax->n_terms, sizeof(*tax->terms));
    tax->terms_sorted = arena_calloc(&tax->arena, tax->n_terms, sizeof(*tax->terms_sorted));
    pref_ids = calloc(tax->n_terms, sizeof(*pref_ids));
    if (tax->terms == NULL || tax->terms_sorted == NULL || pref_ids == NULL) {
        rc = oom(ld);
        goto out;
    }
    json_array_foreach(arr, i, item)
    {
        hl_taxonomy_term_t *t = &tax->terms[i];
        const char *verdict = NULL, *cat = NULL;
        size_t v;
        snprintf(path, sizeof(path), "/terms/%zu", i);
        if (!json_is_object(item)) {
            rc = fail(ld, HL_EINVAL, path, "must be an object");
            goto out;
        }
        if ((rc = check_keys(ld, item, path, term_keys)) != HL_OK ||
            (rc = get_string(ld, item, path, "id", true, &t->id)) != HL_OK ||
            (rc = get_string(ld, item, path, "label", true, &t->label)) != HL_OK ||
            (rc = get_string(ld, item, path, "verdict", true, &verdict)) != HL_OK ||
            (rc = get_string(ld, item, path, "preferred", false, &t->preferred)) != HL_OK ||
            (rc = get_string(ld, item, path, "preferred_term", false, &pref_ids[i])) != HL_OK ||
            (rc = get_string(ld, item, path, "category", false, &cat)) != HL_OK ||
            (rc = get_bool(ld, item, path, "detect", true, &t->detect)) != HL_OK ||
            (rc = get_string(ld, item, path, "note", false, &t->note)) != HL_OK ||
            (rc = get_string(ld, item, path, "source", true, &t->source)) != HL_OK ||
            (rc = get_string(ld, item, path, "evidence", true, &t->evidence)) != HL_OK ||
            (rc = get_string(ld, item, path, "edition", false, &t->edition)) != HL_OK)
            goto out;
        snprintf(p2, sizeof(p2), "%s/id", path);
        if (!valid_segment(t->id, strlen(t->id)) || strlen(t->id) > MAX_CODE_LEN) {
            rc = fail(ld, HL_EINVAL, p2, "bad id \"%s\": snake_case ([a-z][a-z0-9_]*)", t->id);
            goto out;
        }
        for (v = 0; v < HL_ARRAY_LEN(verdict_names); v++)
            if (strcmp(verdict, verdict_names[v]) == 0)
                break;
        snprintf(p2, sizeof(p2), "%s/verdict", path);
        if (v == HL_ARRAY_LEN(verdict_names)) {
            rc = fail(ld, HL_EINVAL, p2, "unknown verdict \"%s\" (use, caution or avoid)", verdict);
            goto out;
        }
        t->verdict = (hl_taxonomy_verdict_t)v;
        if (t->verdict == HL_TAXONOMY_AVOID && t->preferred == NULL && pref_ids[i] == NULL) {
            snprintf(p2, sizeof(p2), "%s/preferred", path);
            rc = fail(ld, HL_EINVAL, p2,
                      "missing: an avoid-term needs a replacement (\"preferred\" or \"preferred_term\")");
            goto out;
        }
        if (t->verdict == HL_TAXONOMY_USE && (t->preferred != NULL || pref_ids[i] != NULL)) {
            rc = fail(ld, HL_EINVAL, path, "a use-term has no \"preferred\" or \"preferred_term\"");
            goto out;
        }
        for (v = 0; evidence_names[v] != NULL; v++)
            if (strcmp(t->evidence, evidence_names[v]) == 0)
                break;
        if (evidence_names[v] == NULL) {
            snprintf(p2, sizeof(p2), "%s/evidence", path);
            rc = fail(ld, HL_EINVAL, p2,
                      "unknown evidence \"%s\" (confirmed, secondary, unconfirmed, project_advice)",
                      t->evidence);
            goto out;
        }
        if (cat != NULL) {
            t->category = find_cat(tax, cat);
            if (t->category == NULL) {
                snprintf(p2, sizeof(p2), "%s/category", path);
                rc = fail(ld, HL_EINVAL, p2, "unknown category code \"%s\"", cat);
                goto out;
            }
        }
        json_t *aliases = json_object_get(item, "aliases");
        if (aliases == NULL) {
            rc = fail(ld, HL_EINVAL, path, "missing \"aliases\"");
            goto out;
        }
        if ((rc = load_aliases(ld, aliases, path, t)) != HL_OK)
            goto out;
        if (t->detect && t->n_aliases == 0) {
            snprintf(p2, sizeof(p2), "%s/aliases", path);
            rc = fail(ld, HL_EINVAL, p2, "a term that is searched for needs at least one alias");
            goto out;
        }
        tax->terms_sorted[i] = t;
    }
    qsort(tax->terms_sorted, tax->n_terms, sizeof(*tax->terms_sorted), cmp_term);
    for (i = 1; i < tax->n_terms; i++) {
        if (strcmp(tax->terms_sorted[i - 1]->id, tax->terms_sorted[i]->id) == 0) {
            size_t a = (size_t)(tax->terms_sorted[i - 1] - tax->terms),
                   b = (size_t)(tax->terms_sorted[i] - tax->terms);
            snprintf(path, sizeof(path), "/terms/%zu/id", a > b ? a : b);
            rc = fail(ld, HL_EINVAL, path, "duplicate id \"%s\" (first at /terms/%zu)",
                      tax->terms_sorted[i]->id, a < b ? a : b);
            goto out;
        }
    }
    for (i = 0; i < tax->n_terms; i++) {
        hl_taxonomy_term_t *t = &tax->terms[i];
        if (pref_ids[i] == NULL)
            continue;
        snprintf(path, sizeof(path), "/terms/%zu/preferred_term", i);
        t->preferred_term = find_term(tax, pref_ids[i]);
        if (t->preferred_term == NULL) {
            rc = fail(ld, HL_EINVAL, path, "term \"%s\" does not exist", pref_ids[i]);
            goto out;
        }
        if (t->preferred_term->verdict != HL_TAXONOMY_USE) {
            rc = fail(ld, HL_EINVAL, path, "preferred term \"%s\" is not a use-term", pref_ids[i]);
            goto out;
        }
        if (t->preferred == NULL)
            t->preferred = t->preferred_term->label;
    }
    rc = HL_OK;
out:
    free(pref_ids);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* mappings/<helpline>.json                                                              */

static int load_mapping(loader_t *ld, const char *file, const char *code, helpline_map_t *hm)
{
    static const char *const top_keys[] = {"helpline", "name", "note", "labels", NULL};
    static const char *const label_keys[] = {"label", "group", "category", "term", NULL};
    hl_taxonomy_t *tax = ld->tax;
    char path[96];
    json_t *root = NULL, *arr, *item;
    const char *hl = NULL, *name = NULL, *note = NULL;
    size_t i;
    int rc;

    ld->file = file;
    if ((rc = read_json(ld, file, &root)) != HL_OK)
        goto out;
    if ((rc = check_keys(ld, root, "", top_keys)) != HL_OK ||
        (rc = get_string(ld, root, "", "helpline", false, &hl)) != HL_OK ||
        (rc = get_string(ld, root, "", "name", false, &name)) != HL_OK ||
        (rc = get_string(ld, root, "", "note", false, &note)) != HL_OK)
        goto out;
    if (hl != NULL && strcmp(hl, code) != 0) {
        rc = fail(ld, HL_EINVAL, "/helpline", "\"%s\" does not match the file name (helpline \"%s\")", hl,
                  code);
        goto out;
    }
    hm->code = arena_strdup(&tax->arena, code);
    arr = json_object_get(root, "labels");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        rc = fail(ld, HL_EINVAL, "/labels", "must be a non-empty array");
        goto out;
    }
    hm->n = json_array_size(arr);
    hm->maps = arena_calloc(&tax->arena, hm->n, sizeof(*hm->maps));
    hm->sorted = arena_calloc(&tax->arena, hm->n, sizeof(*hm->sorted));
    if (hm->code == NULL || hm->maps == NULL || hm->sorted == NULL) {
        rc = oom(ld);
        goto out;
    }
    json_array_foreach(arr, i, item)
    {
        hl_taxonomy_mapping_t *m = &hm->maps[i];
        const char *cat = NULL, *term = NULL;
        char p2[128];
        snprintf(path, sizeof(path), "/labels/%zu", i);
        if (!json_is_object(item)) {
            rc = fail(ld, HL_EINVAL, path, "must be an object");
            goto out;
        }
        if ((rc = check_keys(ld, item, path, label_keys)) != HL_OK ||
            (rc = get_string(ld, item, path, "label", true, &m->label)) != HL_OK ||
            (rc = get_string(ld, item, path, "group", false, &m->group)) != HL_OK ||
            (rc = get_string(ld, item, path, "category", true, &cat)) != HL_OK ||
            (rc = get_string(ld, item, path, "term", false, &term)) != HL_OK)
            goto out;
        m->category = find_cat(tax, cat);
        if (m->category == NULL) {
            snprintf(p2, sizeof(p2), "%s/category", path);
            rc = fail(ld, HL_EINVAL, p2, "unknown category code \"%s\"", cat);
            goto out;
        }
        if (term != NULL) {
            m->term = find_term(tax, term);
            if (m->term == NULL) {
                snprintf(p2, sizeof(p2), "%s/term", path);
                rc = fail(ld, HL_EINVAL, p2, "unknown term \"%s\"", term);
                goto out;
            }
        }
        hm->sorted[i].map = m;
        hm->sorted[i].key = label_key(&tax->arena, m->label);
        if (hm->sorted[i].key == NULL) {
            rc = oom(ld);
            goto out;
        }
        if (hm->sorted[i].key[0] == '\0') {
            snprintf(p2, sizeof(p2), "%s/label", path);
            rc = fail(ld, HL_EINVAL, p2, "label is only white space");
            goto out;
        }
    }
    qsort(hm->sorted, hm->n, sizeof(*hm->sorted), cmp_label);
    for (i = 1; i < hm->n; i++) {
        if (strcmp(hm->sorted[i - 1].key, hm->sorted[i].key) == 0) {
            size_t a = (size_t)(hm->sorted[i - 1].map - hm->maps), b = (size_t)(hm->sorted[i].map - hm->maps);
            snprintf(path, sizeof(path), "/labels/%zu/label", a > b ? a : b);
            rc = fail(ld, HL_EINVAL, path,
                      "label \"%s\" is the same as /labels/%zu (case, accents and spaces ignored)",
                      hm->maps[a > b ? a : b].label, a < b ? a : b);
            goto out;
        }
    }
    rc = HL_OK;
out:
    json_decref(root);
    return rc;
}

static int load_mappings(loader_t *ld, const char *dir)
{
    hl_taxonomy_t *tax = ld->tax;
    char mdir[4096], file[4400];
    DIR *d = NULL;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = HL_OK;

    snprintf(mdir, sizeof(mdir), "%s/mappings", dir);
    ld->file = mdir;
    d = opendir(mdir);
    if (d == NULL) {
        if (errno == ENOENT)
            return HL_OK; /* no helpline mappings: fine */
        return fail(ld, HL_EIO, NULL, "cannot open directory: %s", strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (!valid_helpline(de->d_name, len - 5)) {
            snprintf(file, sizeof(file), "%s/%s", mdir, de->d_name);
            ld->file = file;
            rc = fail(
                ld, HL_EINVAL, NULL,
                "file name must be <helpline code>.json, the code [a-z0-9][a-z0-9_-]*, at most %d characters",
                MAX_HELPLINE_LEN);
            goto out;
        }
        if (n == cap) {
            char **nn = realloc(names, (cap ? cap * 2 : 16) * sizeof(*names));
            if (nn == NULL) {
                rc = oom(ld);
                goto out;
            }
            names = nn;
            cap = cap ? cap * 2 : 16;
        }
        names[n] = strndup(de->d_name, len - 5);
        if (names[n] == NULL) {
            rc = oom(ld);
            goto out;
        }
        n++;
    }
    if (n == 0)
        goto out;
    qsort(names, n, sizeof(*names), cmp_str);
    tax->helplines = arena_calloc(&tax->arena, n, sizeof(*tax->helplines));
    if (tax->helplines == NULL) {
        rc = oom(ld);
        goto out;
    }
    for (i = 0; i < n; i++) {
        snprintf(file, sizeof(file), "%s/%s.json", mdir, names[i]);
        if ((rc = load_mapping(ld, file, names[i], &tax->helplines[i])) != HL_OK)
            goto out;
        tax->n_helplines++;
    }
out:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (d != NULL)
        closedir(d);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* The automaton                                                                         */

typedef struct pattern {
    uint8_t *syms;
    size_t n;
    uint32_t term;
    uint32_t alias;
} pattern_t;

static void free_automaton(automaton_t *ac)
{
    free(ac->delta);
    free(ac->next);
    free(ac->out_pat);
    free(ac->out_next);
    free(ac->has_out);
    free(ac->pat_term);
    free(ac->pat_nsep);
    memset(ac, 0, sizeof(*ac));
}

/* Path of alias A of term T, for messages. */
static void alias_path(const hl_taxonomy_t *tax, size_t t, size_t a, char *buf, size_t size)
{
    const hl_taxonomy_term_t *term = &tax->terms[t];
    size_t k = 0;
    for (size_t j = 0; j < a; j++)
        if (strcmp(term->aliases[j].lang, term->aliases[a].lang) == 0)
            k++;
    snprintf(buf, size, "/terms/%zu/aliases/%s/%zu", t, term->aliases[a].lang, k);
}

static int build_automaton(loader_t *ld, const char *dir)
{
    hl_taxonomy_t *tax = ld->tax;
    automaton_t *ac = &tax->ac;
    char file[4096], path[160];
    pattern_t *pats = NULL;
    uint32_t *fail_link = NULL, *queue = NULL;
    size_t n_pats = 0, total = 1, i, t, a;
    int rc = HL_OK;

    snprintf(file, sizeof(file), "%s/terms.json", dir);
    ld->file = file;
    for (t = 0; t < tax->n_terms; t++)
        if (tax->terms[t].detect)
            n_pats += tax->terms[t].n_aliases;
    pats = calloc(n_pats ? n_pats : 1, sizeof(*pats));
    if (pats == NULL) {
        rc = oom(ld);
        goto out;
    }
    n_pats = 0;
    for (t = 0; t < tax->n_terms; t++) {
        const hl_taxonomy_term_t *term = &tax->terms[t];
        if (!term->detect)
            continue;
        for (a = 0; a < term->n_aliases; a++) {
            pattern_t *p = &pats[n_pats];
            size_t bad = 0;
            const char *text = term->aliases[a].text;
            rc = fold_symbols(text, strlen(text), &p->syms, &p->n, &bad);
            if (rc == HL_ENOMEM) {
                rc = oom(ld);
                goto out;
            }
            if (rc != HL_OK) {
                alias_path(tax, t, a, path, sizeof(path));
                rc = fail(ld, HL_EINVAL, path, "invalid UTF-8 in alias");
                goto out;
            }
            n_pats++;
            for (i = 0; i < p->n; i++) {
                if (p->syms[i] == SYM_W) {
                    alias_path(tax, t, a, path, sizeof(path));
                    rc = fail(ld, HL_EINVAL, path,
                              "alias \"%s\" has a letter outside the Latin script, which can never match",
                              text);
                    goto out;
                }
            }
            if (p->n < 3 || p->syms[1] >= SYM_SEP || p->syms[p->n - 2] >= SYM_SEP) {
                alias_path(tax, t, a, path, sizeof(path));
                rc =
                    fail(ld, HL_EINVAL, path, "alias \"%s\" must start and end with a letter or digit", text);
                goto out;
            }
            if (p->n > MAX_PATTERN_SYMS) {
                alias_path(tax, t, a, path, sizeof(path));
                rc = fail(ld, HL_EINVAL, path, "alias \"%s\" is too long", text);
                goto out;
            }
            p->term = (uint32_t)t;
            p->alias = (uint32_t)a;
            total += p->n;
        }
    }
    if (total > (size_t)MAX_STATES * 64) {
        rc = fail(ld, HL_EINVAL, "/terms", "aliases too many or too long for the classifier");
        goto out;
    }
    ac->delta = calloc(total * NSYM, sizeof(*ac->delta));
    ac->out_pat = calloc(total, sizeof(*ac->out_pat));
    ac->out_next = calloc(total, sizeof(*ac->out_next));
    ac->has_out = calloc(total, sizeof(*ac->has_out));
    ac->pat_term = calloc(n_pats ? n_pats : 1, sizeof(*ac->pat_term));
    ac->pat_nsep = calloc(n_pats ? n_pats : 1, sizeof(*ac->pat_nsep));
    fail_link = calloc(total, sizeof(*fail_link));
    queue = calloc(total, sizeof(*queue));
    if (ac->delta == NULL || ac->out_pat == NULL || ac->out_next == NULL || ac->has_out == NULL ||
        ac->pat_term == NULL || ac->pat_nsep == NULL || fail_link == NULL || queue == NULL) {
        rc = oom(ld);
        goto out;
    }
    /* the trie: 0 is the root, and no edge ever leads back to it, so 0 means "no edge" */
    ac->n_states = 1;
    for (i = 0; i < n_pats; i++) {
        const pattern_t *p = &pats[i];
        uint32_t s = 0;
        for (size_t k = 0; k < p->n; k++) {
            uint16_t *e = &ac->delta[(size_t)s * NSYM + p->syms[k]];
            if (*e == 0) {
                if (ac->n_states == MAX_STATES) {
                    rc = fail(ld, HL_EINVAL, "/terms",
                              "aliases too many or too long for the classifier (%u states)", MAX_STATES);
                    goto out;
                }
                *e = (uint16_t)ac->n_states++;
            }
            s = *e;
        }
        if (ac->out_pat[s] != 0) {
            uint32_t other = ac->pat_term[ac->out_pat[s] - 1];
            if (other == p->term)
                continue; /* the same alias twice (or in two languages): one is enough */
            alias_path(tax, p->term, p->alias, path, sizeof(path));
            rc = fail(ld, HL_EINVAL, path, "alias \"%s\" is also an alias of term \"%s\"",
                      tax->terms[p->term].aliases[p->alias].text, tax->terms[other].id);
            goto out;
        }
        ac->pat_term[ac->n_pats] = p->term;
        uint16_t nsep = 0;
        for (size_t k = 0; k < p->n; k++)
            nsep += p->syms[k] == SYM_SEP;
        ac->pat_nsep[ac->n_pats] = nsep;
        ac->n_pats++;
        ac->out_pat[s] = (uint32_t)ac->n_pats;
    }
    /* breadth first: failure links, then the missing edges from the failure state's row */
    size_t head = 0, tail = 0;
    queue[tail++] = 0;
    while (head < tail) {
        uint32_t s = queue[head++];
        uint16_t *row = &ac->delta[(size_t)s * NSYM];
        for (unsigned c = 0; c < NSYM; c++) {
            uint32_t u = row[c];
            if (u != 0) {
                uint32_t f = s == 0 ? 0 : ac->delta[(size_t)fail_link[s] * NSYM + c];
                fail_link[u] = f;
                ac->out_next[u] = ac->out_pat[f] != 0 ? f : ac->out_next[f];
                ac->has_out[u] = ac->out_pat[u] != 0 || ac->out_next[u] != 0;
                queue[tail++] = u;
            } else if (s != 0) {
                row[c] = ac->delta[(size_t)fail_link[s] * NSYM + c];
            }
        }
    }
    ac->next = malloc((size_t)ac->n_states * NSYM * sizeof(*ac->next));
    if (ac->next == NULL) {
        rc = oom(ld);
        goto out;
    }
    for (i = 0; i < (size_t)ac->n_states * NSYM; i++)
        ac->next[i] = (uint32_t)ac->delta[i] * NSYM;
    free(ac->delta);
    ac->delta = NULL;
out:
    for (i = 0; i < n_pats; i++)
        free(pats[i].syms);
    free(pats);
    free(fail_link);
    free(queue);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Public: load, free, lookups                                                           */

int hl_taxonomy_load(const char *dir, hl_taxonomy_t **out, char err[HL_TAXONOMY_ERR_LEN])
{
    hl_taxonomy_t *tax = calloc(1, sizeof(*tax));
    loader_t ld = {.tax = tax, .file = dir, .err = err};
    int rc;
    if (err != NULL)
        err[0] = '\0';
    if (tax == NULL)
        return oom(&ld);
    if ((rc = load_categories(&ld, dir)) != HL_OK || (rc = load_terms(&ld, dir)) != HL_OK ||
        (rc = load_mappings(&ld, dir)) != HL_OK || (rc = build_automaton(&ld, dir)) != HL_OK)
        goto out;
    *out = tax;
    tax = NULL;
out:
    hl_taxonomy_free(tax);
    return rc;
}

void hl_taxonomy_free(hl_taxonomy_t *tax)
{
    if (tax == NULL)
        return;
    free_automaton(&tax->ac);
    arena_free(&tax->arena);
    free(tax);
}

const char *hl_taxonomy_version(const hl_taxonomy_t *tax)
{
    return tax->version;
}

size_t hl_taxonomy_category_count(const hl_taxonomy_t *tax)
{
    return tax->n_cats;
}

const hl_taxonomy_category_t *hl_taxonomy_category_at(const hl_taxonomy_t *tax, size_t i)
{
    return i < tax->n_cats ? &tax->cats[i] : NULL;
}

const hl_taxonomy_category_t *hl_taxonomy_category(const hl_taxonomy_t *tax, const char *code)
{
    return find_cat(tax, code);
}

size_t hl_taxonomy_term_count(const hl_taxonomy_t *tax)
{
    return tax->n_terms;
}

const hl_taxonomy_term_t *hl_taxonomy_term_at(const hl_taxonomy_t *tax, size_t i)
{
    return i < tax->n_terms ? &tax->terms[i] : NULL;
}

const hl_taxonomy_term_t *hl_taxonomy_term(const hl_taxonomy_t *tax, const char *id)
{
    return find_term(tax, id);
}

const char *hl_taxonomy_verdict_name(hl_taxonomy_verdict_t verdict)
{
    return (unsigned)verdict < HL_ARRAY_LEN(verdict_names) ? verdict_names[verdict] : "unknown";
}

size_t hl_taxonomy_helpline_count(const hl_taxonomy_t *tax)
{
    return tax->n_helplines;
}

const char *hl_taxonomy_helpline_at(const hl_taxonomy_t *tax, size_t i)
{
    return i < tax->n_helplines ? tax->helplines[i].code : NULL;
}

static const helpline_map_t *find_helpline(const hl_taxonomy_t *tax, const char *code)
{
    helpline_map_t key = {.code = code};
    if (code == NULL || tax->n_helplines == 0)
        return NULL;
    return bsearch(&key, tax->helplines, tax->n_helplines, sizeof(*tax->helplines), cmp_helpline);
}

bool hl_taxonomy_has_helpline(const hl_taxonomy_t *tax, const char *helpline)
{
    return find_helpline(tax, helpline) != NULL;
}

size_t hl_taxonomy_mapping_count(const hl_taxonomy_t *tax, const char *helpline)
{
    const helpline_map_t *hm = find_helpline(tax, helpline);
    return hm != NULL ? hm->n : 0;
}

const hl_taxonomy_mapping_t *hl_taxonomy_mapping_at(const hl_taxonomy_t *tax, const char *helpline, size_t i)
{
    const helpline_map_t *hm = find_helpline(tax, helpline);
    return hm != NULL && i < hm->n ? &hm->maps[i] : NULL;
}

const hl_taxonomy_mapping_t *hl_taxonomy_map_local(const hl_taxonomy_t *tax, const char *helpline,
                                                   const char *label)
{
    const helpline_map_t *hm = find_helpline(tax, helpline);
    const hl_taxonomy_mapping_t *res = NULL;
    label_entry_t key;
    const label_entry_t *r;
    char *k;
    if (hm == NULL || label == NULL)
        return NULL;
    k = label_key(NULL, label);
    if (k == NULL)
        return NULL;
    key.key = k;
    key.map = NULL;
    r = bsearch(&key, hm->sorted, hm->n, sizeof(*hm->sorted), cmp_label);
    if (r != NULL)
        res = r->map;
    free(k);
    return res;
}

/* ------------------------------------------------------------------------------------ */
/* Classification                                                                        */

typedef struct cand {
    size_t start, end;
    uint32_t term;
} cand_t;

/*
 * Scanner state. A pattern is SEP body SEP and its body starts with the symbol right after
 * its leading SEP, so only one offset per SEP is kept: after_sep[k] is the byte offset of
 * the character behind the symbol that followed SEP number k. A match ending at SEP number
 * t with n SEPs in its pattern starts at after_sep[t - n + 1] and ends where the separator
 * run of SEP t begins.
 */
typedef struct scan {
    const automaton_t *ac;
    uint32_t state;
    size_t nsep; /* SEP symbols consumed */
    cand_t *cands;
    size_t n_cands, cap_cands;
    size_t after_sep[RING];
} scan_t;

/* 0..35 letters and digits, SYM_SEP, SYM_BRK, or NON_ASCII for bytes >= 0x80. */
#define NON_ASCII 40
static uint8_t byte_sym(uint8_t c)
{
    return c < 0x80 ? ascii_sym[c] : NON_ASCII;
}

static int report(scan_t *s, size_t end)
{
    const automaton_t *ac = s->ac;
    uint32_t cur = s->state / NSYM;
    uint32_t st = ac->out_pat[cur] != 0 ? cur : ac->out_next[cur];
    size_t t = s->nsep - 1; /* the trailing SEP */
    while (st != 0) {
        uint32_t pi = ac->out_pat[st] - 1;
        if (s->n_cands == s->cap_cands) {
            size_t ncap = s->cap_cands ? s->cap_cands * 2 : 16;
            cand_t *nc = realloc(s->cands, ncap * sizeof(*nc));
            if (nc == NULL)
                return HL_ENOMEM;
            s->cands = nc;
            s->cap_cands = ncap;
        }
        s->cands[s->n_cands].start = s->after_sep[(t - ac->pat_nsep[pi] + 1) & RING_MASK];
        s->cands[s->n_cands].end = end;
        s->cands[s->n_cands].term = ac->pat_term[pi];
        s->n_cands++;
        st = ac->out_next[st];
    }
    return HL_OK;
}

/*
 * Emits the pending separator run (PEND 1: soft only, 2: with punctuation) that began at
 * byte RUN_OFF and is followed by the character at byte NEXT_OFF.
 */
static int flush_sep(scan_t *s, int pend, size_t run_off, size_t next_off)
{
    const uint32_t *next = s->ac->next;
    s->state = next[s->state + SYM_SEP];
    s->nsep++;
    if (s->ac->has_out[s->state / NSYM]) {
        int rc = report(s, run_off);
        if (rc != HL_OK)
            return rc;
    }
    if (pend == 2) {
        s->after_sep[(s->nsep - 1) & RING_MASK] = run_off;
        s->state = next[s->state + SYM_BRK];
        s->state = next[s->state + SYM_SEP];
        s->nsep++;
    }
    s->after_sep[(s->nsep - 1) & RING_MASK] = next_off;
    return HL_OK;
}

static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1; /* longest first */
    return x->term < y->term ? -1 : x->term > y->term;
}

int hl_taxonomy_classify(const hl_taxonomy_t *tax, const char *text, size_t len, hl_taxonomy_result_t **out,
                         char err[HL_TAXONOMY_ERR_LEN])
{
    const uint8_t *p = (const uint8_t *)text;
    const uint32_t *next = tax->ac.next;
    hl_taxonomy_result_t *res = NULL;
    bool *seen = NULL;
    scan_t *s = malloc(sizeof(*s));
    int pend = 1, rc = HL_OK;
    size_t pend_off = 0, i = 0, n_sel = 0, last_end = 0;

    if (err != NULL)
        err[0] = '\0';
    if (s == NULL)
        return HL_ENOMEM;
    s->ac = &tax->ac;
    s->state = 0;
    s->nsep = 0;
    s->cands = NULL;
    s->n_cands = s->cap_cands = 0;
    if (text == NULL)
        len = 0;
    while (i < len) {
        uint8_t k = byte_sym(p[i]);
        if (k < SYM_SEP) {
            /* the hot loop: a run of ASCII letters and digits, in which no pattern can end */
            uint32_t state;
            if (pend) {
                if ((rc = flush_sep(s, pend, pend_off, i)) != HL_OK)
                    goto out;
                pend = 0;
            }
            state = s->state;
            do {
                state = next[state + k];
            } while (++i < len && (k = byte_sym(p[i])) < SYM_SEP);
            s->state = state;
            continue;
        }
        if (k == SYM_SEP) {
            if (!pend) {
                pend = 1;
                pend_off = i;
            }
            i++;
            continue;
        }
        if (k == SYM_BRK) {
            if (!pend)
                pend_off = i;
            pend = 2;
            i++;
            continue;
        }
        uint32_t cp;
        const char *fold = NULL;
        size_t clen = utf8_decode(p + i, len - i, &cp);
        if (clen == 0) {
            if (err != NULL)
                snprintf(err, HL_TAXONOMY_ERR_LEN, "invalid UTF-8 at byte %zu", i);
            rc = HL_EINVAL;
            goto out;
        }
        switch (cp_kind(cp, &fold)) {
        case CK_SOFT:
            if (!pend) {
                pend = 1;
                pend_off = i;
            }
            break;
        case CK_HARD:
            if (!pend)
                pend_off = i;
            pend = 2;
            break;
        case CK_IGNORE:
            break;
        case CK_FOLD:
        case CK_WORD:
        case CK_SYM:
            if (pend) {
                if ((rc = flush_sep(s, pend, pend_off, i)) != HL_OK)
                    goto out;
                pend = 0;
            }
            if (fold == NULL)
                s->state = next[s->state + SYM_W];
            else
                for (const char *f = fold; *f; f++)
                    s->state = next[s->state + (unsigned)(*f - 'a')];
            break;
        }
        i += clen;
    }
    if (!pend) {
        pend = 1;
        pend_off = len;
    }
    if ((rc = flush_sep(s, pend, pend_off, len)) != HL_OK)
        goto out;

    /* leftmost, then longest; no overlaps */
    if (s->n_cands > 1)
        qsort(s->cands, s->n_cands, sizeof(*s->cands), cmp_cand);
    for (i = 0; i < s->n_cands; i++) {
        if (n_sel == 0 || s->cands[i].start >= last_end) {
            s->cands[n_sel++] = s->cands[i];
            last_end = s->cands[i].end;
        }
    }
    res = calloc(1, sizeof(*res));
    seen = calloc(tax->n_cats ? tax->n_cats : 1, sizeof(*seen));
    if (res == NULL || seen == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    if (n_sel > 0) {
        res->matches = malloc(n_sel * sizeof(*res->matches));
        res->categories = malloc(n_sel * sizeof(*res->categories));
        if (res->matches == NULL || res->categories == NULL) {
            rc = HL_ENOMEM;
            goto out;
        }
    }
    for (i = 0; i < n_sel; i++) {
        const hl_taxonomy_term_t *t = &tax->terms[s->cands[i].term];
        res->matches[i].term = t;
        res->matches[i].start = s->cands[i].start;
        res->matches[i].end = s->cands[i].end;
        if (t->category != NULL && !seen[t->category - tax->cats]) {
            seen[t->category - tax->cats] = true;
            res->categories[res->n_categories++] = t->category;
        }
    }
    res->n_matches = n_sel;
    *out = res;
    res = NULL;
out:
    if (rc == HL_ENOMEM && err != NULL)
        snprintf(err, HL_TAXONOMY_ERR_LEN, "out of memory");
    hl_taxonomy_result_free(res);
    free(seen);
    free(s->cands);
    free(s);
    return rc;
}

void hl_taxonomy_result_free(hl_taxonomy_result_t *res)
{
    if (res == NULL)
        return;
    free(res->matches);
    free(res->categories);
    free(res);
}

int hl_taxonomy_fold(const char *text, size_t len, char **out)
{
    uint8_t *syms = NULL;
    size_t n = 0, bad = 0, k = 0;
    char *s = NULL;
    int rc = fold_symbols(text != NULL ? text : "", text != NULL ? len : 0, &syms, &n, &bad);
    if (rc != HL_OK)
        return rc;
    s = malloc(n + 1);
    if (s == NULL) {
        free(syms);
        return HL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t y = syms[i];
        if (y < 26)
            s[k++] = (char)('a' + y);
        else if (y < SYM_SEP)
            s[k++] = (char)('0' + y - 26);
        else if (y == SYM_SEP)
            s[k++] = ' ';
        else if (y == SYM_BRK)
            s[k++] = '|';
        else
            s[k++] = '#';
    }
    s[k] = '\0';
    free(syms);
    *out = s;
    return HL_OK;
}

/* ------------------------------------------------------------------------------------ */
/* JSON                                                                                  */

/* json_object_set_new that remembers a failure. */
static void jset(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        *ok = false;
}

static void jpush(json_t *arr, json_t *v, bool *ok)
{
    if (v == NULL || json_array_append_new(arr, v) != 0)
        *ok = false;
}

static json_t *jstr_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *category_json(const hl_taxonomy_category_t *c, bool *ok)
{
    json_t *o = json_object();
    if (o == NULL) {
        *ok = false;
        return NULL;
    }
    jset(o, "code", json_string(c->code), ok);
    jset(o, "label", json_string(c->label), ok);
    jset(o, "description", json_string(c->description), ok);
    if (c->deprecated)
        jset(o, "deprecated", json_true(), ok);
    if (c->n_children > 0) {
        json_t *ch = json_array();
        for (size_t i = 0; ch != NULL && i < c->n_children; i++)
            jpush(ch, category_json(c->children[i], ok), ok);
        jset(o, "children", ch, ok);
    }
    return o;
}

json_t *hl_taxonomy_to_json(const hl_taxonomy_t *tax)
{
    bool ok = true;
    json_t *root = json_object(), *cats = json_array(), *terms = json_array();
    if (root == NULL || cats == NULL || terms == NULL) {
        json_decref(root);
        json_decref(cats);
        json_decref(terms);
        return NULL;
    }
    jset(root, "version", json_string(tax->version), &ok);
    jset(root, "categories", cats, &ok);
    jset(root, "terms", terms, &ok);
    for (size_t i = 0; ok && i < tax->n_cats; i++)
        if (tax->cats[i].parent == NULL)
            jpush(cats, category_json(&tax->cats[i], &ok), &ok);
    for (size_t i = 0; ok && i < tax->n_terms; i++) {
        const hl_taxonomy_term_t *t = &tax->terms[i];
        json_t *o = json_object(), *al = json_object();
        jpush(terms, o, &ok);
        if (o == NULL || al == NULL) {
            json_decref(al);
            ok = false;
            break;
        }
        jset(o, "id", json_string(t->id), &ok);
        jset(o, "label", json_string(t->label), &ok);
        jset(o, "verdict", json_string(verdict_names[t->verdict]), &ok);
        jset(o, "preferred", jstr_or_null(t->preferred), &ok);
        jset(o, "preferred_term", jstr_or_null(t->preferred_term ? t->preferred_term->id : NULL), &ok);
        jset(o, "category", jstr_or_null(t->category ? t->category->code : NULL), &ok);
        jset(o, "aliases", al, &ok);
        for (size_t a = 0; ok && a < t->n_aliases; a++) {
            json_t *list = json_object_get(al, t->aliases[a].lang);
            if (list == NULL) {
                list = json_array();
                jset(al, t->aliases[a].lang, list, &ok);
            }
            if (ok)
                jpush(list, json_string(t->aliases[a].text), &ok);
        }
        if (!t->detect)
            jset(o, "detect", json_false(), &ok);
        if (t->note != NULL)
            jset(o, "note", json_string(t->note), &ok);
        jset(o, "source", json_string(t->source), &ok);
        jset(o, "evidence", json_string(t->evidence), &ok);
    }
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static json_t *finding_json(const hl_taxonomy_term_t *t, json_t *found, bool *ok)
{
    json_t *o = json_object();
    if (o == NULL) {
        json_decref(found);
        *ok = false;
        return NULL;
    }
    jset(o, "found", found, ok);
    jset(o, "term", json_string(t->id), ok);
    jset(o, "label", json_string(t->label), ok);
    jset(o, "verdict", json_string(verdict_names[t->verdict]), ok);
    jset(o, "preferred", jstr_or_null(t->preferred), ok);
    jset(o, "category", jstr_or_null(t->category ? t->category->code : NULL), ok);
    return o;
}

static bool has_code(json_t *cats, const char *code)
{
    size_t i;
    json_t *c;
    json_array_foreach(cats, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "code")), code) == 0)
            return true;
    }
    return false;
}

static void push_category(json_t *cats, const hl_taxonomy_category_t *c, const char *source, bool *ok)
{
    json_t *o;
    if (has_code(cats, c->code))
        return;
    o = json_object();
    if (o == NULL) {
        *ok = false;
        return;
    }
    jset(o, "code", json_string(c->code), ok);
    jset(o, "label", json_string(c->label), ok);
    jset(o, "source", json_string(source), ok);
    jpush(cats, o, ok);
}

int hl_taxonomy_classify_json(const hl_taxonomy_t *tax, const char *helpline, const char *const *local,
                              size_t n_local, const char *text, size_t len, json_t **out,
                              char err[HL_TAXONOMY_ERR_LEN])
{
    hl_taxonomy_result_t *res = NULL;
    json_t *root = NULL, *cats = NULL, *terms = NULL;
    bool ok = true;
    int rc = HL_OK;

    if (err != NULL)
        err[0] = '\0';
    if (n_local > 0 && !hl_taxonomy_has_helpline(tax, helpline)) {
        if (err != NULL)
            snprintf(err, HL_TAXONOMY_ERR_LEN, "helpline \"%s\" has no mapping file",
                     helpline != NULL ? helpline : "(none)");
        return HL_ENOTFOUND;
    }
    if (text != NULL && (rc = hl_taxonomy_classify(tax, text, len, &res, err)) != HL_OK)
        return rc;
    root = json_object();
    cats = json_array();
    terms = json_array();
    if (root == NULL || cats == NULL || terms == NULL) {
        json_decref(cats);
        json_decref(terms);
        rc = HL_ENOMEM;
        goto out;
    }
    jset(root, "taxonomy_version", json_string(tax->version), &ok);
    jset(root, "categories", cats, &ok);
    jset(root, "terminology", terms, &ok);
    for (size_t i = 0; ok && i < n_local; i++) {
        const hl_taxonomy_mapping_t *m = hl_taxonomy_map_local(tax, helpline, local[i]);
        if (m == NULL) {
            if (err != NULL)
                snprintf(err, HL_TAXONOMY_ERR_LEN,
                         "local category \"%.200s\" is not in the mapping of helpline \"%s\"", local[i],
                         helpline);
            rc = HL_ENOTFOUND;
            goto out;
        }
        push_category(cats, m->category, "mapped", &ok);
        if (m->term != NULL) {
            json_t *f = finding_json(m->term, json_string(m->label), &ok);
            if (f != NULL)
                jset(f, "local", json_true(), &ok);
            jpush(terms, f, &ok);
        }
    }
    for (size_t i = 0; ok && res != NULL && i < res->n_matches; i++) {
        const hl_taxonomy_match_t *m = &res->matches[i];
        json_t *f = finding_json(m->term, json_stringn(text + m->start, m->end - m->start), &ok);
        if (f != NULL) {
            jset(f, "start", json_integer((json_int_t)m->start), &ok);
            jset(f, "end", json_integer((json_int_t)m->end), &ok);
        }
        jpush(terms, f, &ok);
    }
    for (size_t i = 0; ok && res != NULL && i < res->n_categories; i++)
        push_category(cats, res->categories[i], "suggested", &ok);
    if (!ok) {
        rc = HL_ENOMEM;
        goto out;
    }
    *out = root;
    root = NULL;
out:
    if (rc == HL_ENOMEM && err != NULL)
        snprintf(err, HL_TAXONOMY_ERR_LEN, "out of memory");
    json_decref(root);
    hl_taxonomy_result_free(res);
    return rc;
}
