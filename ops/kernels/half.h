/* IEEE half precision and bfloat16 conversions. */
#ifndef ONYX_HALF_H
#define ONYX_HALF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf, NaN */
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant) { /* subnormal: normalize */
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even, overflow to inf, NaN kept. */
static inline uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u)
        return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
    if (abs >= 0x477ff000u) /* rounds to above the largest half */
        return (uint16_t)(sign | 0x7c00);
    if (abs < 0x38800000u) { /* subnormal or zero in half */
        if (abs < 0x33000000u)
            return (uint16_t)sign;
        uint32_t mant = (abs & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(abs >> 23); /* 14..24 */
        uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((abs >> 13) - (112u << 10)), rest = abs & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
        half++;
    return (uint16_t)(sign | half);
}

/* A double rounded to nearest even half directly (as numpy's astype does), not through the
 * nearest float, which could round twice: the float is taken rounded to odd instead (toward
 * zero, its last bit set when inexact), which keeps the 13 bits below half's enough to decide. */
static inline uint16_t double_to_half(double d)
{
    float f = (float)d;
    if ((double)f != d && f == f && (f < 0 ? -f : f) <= 65504.0f) {
        if ((f < 0 ? -(double)f : (double)f) > (d < 0 ? -d : d))
            f = nextafterf(f, 0.0f);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        bits |= 1;
        memcpy(&f, &bits, 4);
    }
    return float_to_half(f);
}

static inline float bfloat16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even (overflow to inf), as ONNX's reference converts since it took
 * ml_dtypes' bfloat16; NaN stays a quiet NaN of the same sign rather than rounding into inf. */
static inline uint16_t float_to_bfloat16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

#endif
