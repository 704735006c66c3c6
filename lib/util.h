/* Shared definitions: error codes, attributes and tiny helpers used by every module. */
#ifndef HL_UTIL_H
#define HL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define HL_MUSTCHECK         __attribute__((warn_unused_result))
#define HL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define HL_NORETURN          __attribute__((noreturn))

#define HL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fallible functions return 0 or one of these (always negative). */
enum hl_error {
    HL_OK = 0,
    HL_EINVAL = -1, /* bad input from a caller or a file */
    HL_ENOMEM = -2, /* out of memory */
    HL_EIO = -3,    /* file or socket error */
    HL_ENOTFOUND = -4,
    HL_EEXIST = -5,   /* already exists */
    HL_ECRYPTO = -6,  /* a seal could not be opened or a signature verified: no detail, ever */
    HL_EDB = -7,      /* PostgreSQL said no or is unreachable */
    HL_EPERM = -8,    /* not allowed (file mode, role) */
    HL_ECONFLICT = -9 /* state does not allow it (e.g. a changed migration) */
};

/* A short English name for an error code, for messages. */
const char *hl_strerror(int err);

/* Microseconds on the monotonic clock (for durations and deadlines, never for dates). */
int64_t hl_monotonic_us(void);

/* Little-endian integers in on-disk formats (spool segments, the frontend-tokens file). */
void hl_le32_put(uint8_t *p, uint32_t v);
uint32_t hl_le32_get(const uint8_t *p);
void hl_le64_put(uint8_t *p, uint64_t v);
uint64_t hl_le64_get(const uint8_t *p);

#endif
