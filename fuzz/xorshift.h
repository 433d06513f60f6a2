/* The deterministic generator of the fuzz targets and the malformed-model sweep: the same
 * seed gives the same cases on every machine. */
#ifndef ONYX_XORSHIFT_H
#define ONYX_XORSHIFT_H

#include <stdint.h>

/* xorshift64 (Marsaglia): the next value of a nonzero state. */
static inline uint64_t xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
