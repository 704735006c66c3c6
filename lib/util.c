#include "util.h"

#include <time.h>

const char *hl_strerror(int err)
{
    switch (err) {
    case HL_OK:
        return "ok";
    case HL_EINVAL:
        return "invalid input";
    case HL_ENOMEM:
        return "out of memory";
    case HL_EIO:
        return "input/output error";
    case HL_ENOTFOUND:
        return "not found";
    case HL_EEXIST:
        return "already exists";
    case HL_ECRYPTO:
        return "cryptographic check failed";
    case HL_EDB:
        return "database error";
    case HL_EPERM:
        return "not permitted";
    case HL_ECONFLICT:
        return "conflict";
    default:
        return "unknown error";
    }
}

int64_t hl_monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void hl_le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint32_t hl_le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void hl_le64_put(uint8_t *p, uint64_t v)
{
    hl_le32_put(p, (uint32_t)v);
    hl_le32_put(p + 4, (uint32_t)(v >> 32));
}

uint64_t hl_le64_get(const uint8_t *p)
{
    return (uint64_t)hl_le32_get(p) | (uint64_t)hl_le32_get(p + 4) << 32;
}
