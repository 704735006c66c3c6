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
