/* IEEE half precision, bfloat16 and the 8, 6 and 4-bit floating-point conversions. */
#ifndef ONYX_HALF_H
#define ONYX_HALF_H

#include <math.h>
#include <stdbool.h>
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

/* Round to nearest even, NaN kept (quiet), as ONNX's reference converts since it took
 * ml_dtypes' bfloat16 (ONNX 1.23's test data; older test data truncated). */
static inline uint16_t float_to_bfloat16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fffu + ((x >> 16) & 1); /* an overflow carries into the exponent: inf */
    return (uint16_t)(x >> 16);
}

/* dst[i] = src[i * step] widened to float, for i < n: float16 values, or bfloat16 ones when
 * `bf16`. The block conversion that the operators computing these types in float share. */
static inline void half_widen(float *dst, bool bf16, const uint16_t *src, int64_t step, int64_t n)
{
    if (bf16)
        for (int64_t i = 0; i < n; i++)
            dst[i] = bfloat16_to_float(src[i * step]);
    else
        for (int64_t i = 0; i < n; i++)
            dst[i] = half_to_float(src[i * step]);
}

/* dst[i] = src[i] rounded to float16 (bfloat16 when `bf16`), ties to even, for i < n. */
static inline void half_narrow(uint16_t *dst, bool bf16, const float *src, int64_t n)
{
    if (bf16)
        for (int64_t i = 0; i < n; i++)
            dst[i] = float_to_bfloat16(src[i]);
    else
        for (int64_t i = 0; i < n; i++)
            dst[i] = float_to_half(src[i]);
}

/* f rounded to the nearest float16 (bfloat16), ties to even, as a float again: the rounding
 * numpy applies after each step of arithmetic on arrays of those types. */
static inline float float_round_half(float f) { return half_to_float(float_to_half(f)); }
static inline float float_round_bfloat16(float f) { return bfloat16_to_float(float_to_bfloat16(f)); }

/* ---- the minifloats: 8, 6 and 4-bit floating point -------------------------------------- */

/* How a format spends its codes beyond the finite numbers. */
typedef enum minifloat_kind {
    MINIFLOAT_IEEE,   /* top exponent: inf (mantissa 0) and NaNs (FLOAT8E5M2) */
    MINIFLOAT_FN,     /* only S.1111.111 is NaN; no inf (FLOAT8E4M3FN) */
    MINIFLOAT_FNUZ,   /* only 1000 0000 (-0) is NaN; no inf, no -0 (the FNUZ types) */
    MINIFLOAT_FINITE, /* every code a number (FLOAT4E2M1, FLOAT6E2M3, FLOAT6E3M2) */
} minifloat_kind;

typedef struct minifloat_format {
    int exp_bits, man_bits, bias;
    minifloat_kind kind;
} minifloat_format;

static const minifloat_format MINIFLOAT_E4M3FN = {4, 3, 7, MINIFLOAT_FN};
static const minifloat_format MINIFLOAT_E4M3FNUZ = {4, 3, 8, MINIFLOAT_FNUZ};
static const minifloat_format MINIFLOAT_E5M2 = {5, 2, 15, MINIFLOAT_IEEE};
static const minifloat_format MINIFLOAT_E5M2FNUZ = {5, 2, 16, MINIFLOAT_FNUZ};
static const minifloat_format MINIFLOAT_E2M1 = {2, 1, 1, MINIFLOAT_FINITE};
static const minifloat_format MINIFLOAT_E2M3 = {2, 3, 1, MINIFLOAT_FINITE};
static const minifloat_format MINIFLOAT_E3M2 = {3, 2, 3, MINIFLOAT_FINITE};

/* The largest finite value: the top exponent with a full mantissa, less the codes that inf,
 * NaN take (IEEE: the whole top exponent; FN: the full mantissa of the top one). */
static inline double minifloat_max(minifloat_format f)
{
    int top = (1 << f.exp_bits) - 1 - (f.kind == MINIFLOAT_IEEE);
    double mantissa = 2.0 - ldexp(f.kind == MINIFLOAT_FN ? 2.0 : 1.0, -f.man_bits);
    return ldexp(mantissa, top - f.bias);
}

/* The value of a code (its bits above the format's width ignored); every finite value is
 * exact in a float. */
static inline float minifloat_to_float(minifloat_format f, unsigned code)
{
    int width = 1 + f.exp_bits + f.man_bits;
    code &= (1u << width) - 1;
    unsigned sign = code >> (width - 1), exp = (code >> f.man_bits) & ((1u << f.exp_bits) - 1);
    unsigned man = code & ((1u << f.man_bits) - 1), top = (1u << f.exp_bits) - 1;
    if ((f.kind == MINIFLOAT_FNUZ && code == 1u << (width - 1)) ||
        (f.kind == MINIFLOAT_FN && exp == top && man == (1u << f.man_bits) - 1) ||
        (f.kind == MINIFLOAT_IEEE && exp == top && man))
        return sign ? -NAN : NAN; /* the sign kept, as ml_dtypes keeps it */
    float v = f.kind == MINIFLOAT_IEEE && exp == top ? INFINITY
              : exp ? ldexpf(1.0f + ldexpf((float)man, -f.man_bits), (int)exp - f.bias)
                    : ldexpf((float)man, 1 - f.bias - f.man_bits);
    return sign ? -v : v;
}

/* The code of x rounded to nearest even, as ml_dtypes (ONNX's reference) converts. Beyond
 * the largest finite value: that value when `saturate` or the format has no inf or NaN;
 * otherwise inf (IEEE) or NaN. NaN gives NaN; where there is none (FINITE), a zero of the
 * opposite sign, as ml_dtypes gives. FNUZ has no -0: negatives that round to 0 give +0. */
static inline unsigned minifloat_from_double(minifloat_format f, double x, bool saturate)
{
    int width = 1 + f.exp_bits + f.man_bits;
    unsigned sign = signbit(x) ? 1u << (width - 1) : 0, top = (1u << f.exp_bits) - 1;
    unsigned max_code = f.kind == MINIFLOAT_IEEE ? (top - 1) << f.man_bits | ((1u << f.man_bits) - 1)
                        : f.kind == MINIFLOAT_FN ? top << f.man_bits | ((1u << f.man_bits) - 2)
                                                 : (1u << (width - 1)) - 1;
    unsigned nan = f.kind == MINIFLOAT_FNUZ ? 1u << (width - 1)
                   : f.kind == MINIFLOAT_FN ? sign | ((1u << (width - 1)) - 1)
                   : f.kind == MINIFLOAT_IEEE ? sign | top << f.man_bits | 1u << (f.man_bits - 1)
                                              : sign ^ 1u << (width - 1);
    if (isnan(x))
        return nan;
    double a = fabs(x), rounded = a;
    if (!isinf(a)) {
        /* The spacing of the format at a's exponent (that of the subnormals below the
         * normals): a / quantum is exact in a double, and so is its rounding times it. */
        int e;
        frexp(a, &e);
        int exp = e - 1 < 1 - f.bias ? 1 - f.bias : e - 1;
        double quantum = ldexp(1.0, exp - f.man_bits);
        rounded = nearbyint(a / quantum) * quantum;
    }
    if (rounded > minifloat_max(f)) {
        if (saturate || f.kind == MINIFLOAT_FINITE)
            return sign | max_code;
        return f.kind == MINIFLOAT_IEEE ? sign | top << f.man_bits : nan;
    }
    if (rounded == 0)
        return f.kind == MINIFLOAT_FNUZ ? 0 : sign;
    int e;
    frexp(rounded, &e);
    unsigned code;
    if (e - 1 < 1 - f.bias) /* subnormal */
        code = (unsigned)ldexp(rounded, f.bias - 1 + f.man_bits);
    else
        code = (unsigned)(e - 1 + f.bias) << f.man_bits |
               (unsigned)ldexp(ldexp(rounded, 1 - e) - 1.0, f.man_bits);
    return sign | code;
}

/* FLOAT8E8M0: the power of two 2^(code - 127), 0xff NaN. */
static inline float e8m0_to_float(uint8_t code)
{
    return code == 0xff ? NAN : ldexpf(1.0f, (int)code - 127);
}

/* The E8M0 code of x, by the rules of ONNX's reference (numpy_helper.to_float8e8m0): x's
 * float exponent, rounded up when any mantissa bit is set ("up"), by its guard, round and
 * sticky bits ("nearest"), or not ("down"); NaN and inf give 0xff, and `saturate` keeps a
 * rounding from carrying past the largest code, 0xfe. The sign is ignored. */
typedef enum e8m0_rounding { E8M0_UP, E8M0_NEAREST, E8M0_DOWN } e8m0_rounding;
static inline uint8_t e8m0_from_float(float x, bool saturate, e8m0_rounding mode)
{
    uint32_t bits;
    memcpy(&bits, &x, 4);
    unsigned exp = (bits >> 23) & 0xff;
    if (exp == 0xff)
        return 0xff;
    bool up = false;
    if (mode == E8M0_UP)
        up = (bits & 0x7fffff) != 0;
    else if (mode == E8M0_NEAREST)
        up = (bits & 0x400000) && ((bits & 0x200000) || (bits & 0x1fffff) || exp > 0);
    if (up && saturate && exp == 0xfe)
        up = false;
    return (uint8_t)(exp + up); /* 0xfe + 1 without saturate: 0xff, NaN */
}

#endif
