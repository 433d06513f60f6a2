/* How each numeric dtype is read and written by kernels that compute on a wider or other type
 * than they store: float16 and bfloat16 are stored as 16 bits and computed on as float, the
 * others as themselves. Kernels written once over (T, V, LOAD, STORE) then cover every dtype.
 *
 * X(D, T, V, LOAD, STORE): dtype ONYX_DTYPE_<D> is stored as T and computed on as V;
 * LOAD(t) gives the V of a T, STORE(v) the T of a V. */
#ifndef ONYX_DTYPE_IO_H
#define ONYX_DTYPE_IO_H

#include "half.h"
#include "op.h"

#include <math.h>
#include <stdint.h>

#define DTYPE_IO_SAME(x) (x)

#define FOR_FLOAT_IO(X)                                                                        \
    X(FLOAT, float, float, DTYPE_IO_SAME, DTYPE_IO_SAME)                                       \
    X(DOUBLE, double, double, DTYPE_IO_SAME, DTYPE_IO_SAME)                                    \
    X(FLOAT16, uint16_t, float, half_to_float, float_to_half)                                  \
    X(BFLOAT16, uint16_t, float, bfloat16_to_float, float_to_bfloat16)

#define FOR_SIGNED_IO(X)                                                                       \
    X(INT8, int8_t, int8_t, DTYPE_IO_SAME, DTYPE_IO_SAME)                                      \
    X(INT16, int16_t, int16_t, DTYPE_IO_SAME, DTYPE_IO_SAME)                                   \
    X(INT32, int32_t, int32_t, DTYPE_IO_SAME, DTYPE_IO_SAME)                                   \
    X(INT64, int64_t, int64_t, DTYPE_IO_SAME, DTYPE_IO_SAME)

#define FOR_UNSIGNED_IO(X)                                                                     \
    X(UINT8, uint8_t, uint8_t, DTYPE_IO_SAME, DTYPE_IO_SAME)                                   \
    X(UINT16, uint16_t, uint16_t, DTYPE_IO_SAME, DTYPE_IO_SAME)                                \
    X(UINT32, uint32_t, uint32_t, DTYPE_IO_SAME, DTYPE_IO_SAME)                                \
    X(UINT64, uint64_t, uint64_t, DTYPE_IO_SAME, DTYPE_IO_SAME)

#define FOR_INT_IO(X) FOR_SIGNED_IO(X) FOR_UNSIGNED_IO(X)
#define FOR_NUMERIC_IO(X) FOR_FLOAT_IO(X) FOR_INT_IO(X)

/* The dtypes above, as a registry / check mask. */
#define DT_FLOAT_IO (DT_FLOATS | DT(FLOAT16) | DT(BFLOAT16))
#define DT_NUMERIC_IO (DT_FLOAT_IO | DT_INTS)

/* The format of an 8, 6 or 4-bit floating-point dtype other than FLOAT8E8M0; false for the
 * others. */
static inline bool minifloat_format_of(onyx_dtype dtype, minifloat_format *f)
{
    switch (dtype) {
    case ONYX_DTYPE_FLOAT8E4M3FN: *f = MINIFLOAT_E4M3FN; return true;
    case ONYX_DTYPE_FLOAT8E4M3FNUZ: *f = MINIFLOAT_E4M3FNUZ; return true;
    case ONYX_DTYPE_FLOAT8E5M2: *f = MINIFLOAT_E5M2; return true;
    case ONYX_DTYPE_FLOAT8E5M2FNUZ: *f = MINIFLOAT_E5M2FNUZ; return true;
    case ONYX_DTYPE_FLOAT4E2M1: *f = MINIFLOAT_E2M1; return true;
    case ONYX_DTYPE_FLOAT6E2M3: *f = MINIFLOAT_E2M3; return true;
    case ONYX_DTYPE_FLOAT6E3M2: *f = MINIFLOAT_E3M2; return true;
    default: return false;
    }
}

/* The dtypes of 4 and 2-bit integers, held one per byte (see onyx_dtype in onyx.h). */
#define DT_NARROW_INTS (DT(INT4) | DT(UINT4) | DT(INT2) | DT(UINT2))
/* The 8, 6 and 4-bit floating-point dtypes. */
#define DT_MINIFLOATS                                                                          \
    (DT(FLOAT8E4M3FN) | DT(FLOAT8E4M3FNUZ) | DT(FLOAT8E5M2) | DT(FLOAT8E5M2FNUZ) | DT(FLOAT4E2M1) | \
     DT(FLOAT6E2M3) | DT(FLOAT6E3M2))

/* Bits of a 4 or 2-bit integer dtype, 0 for the others. */
static inline int narrow_int_bits(onyx_dtype dtype)
{
    return dtype == ONYX_DTYPE_INT4 || dtype == ONYX_DTYPE_UINT4 ? 4
           : dtype == ONYX_DTYPE_INT2 || dtype == ONYX_DTYPE_UINT2 ? 2 : 0;
}

/* The value of a 4 or 2-bit integer's byte: its low bits, sign-extended for INT4 and INT2 (the
 * bits above are ignored, as onyx.h says). */
static inline int32_t narrow_int_load(onyx_dtype dtype, uint8_t byte)
{
    int bits = narrow_int_bits(dtype);
    int32_t v = byte & ((1 << bits) - 1), sign = 1 << (bits - 1);
    return dtype == ONYX_DTYPE_INT4 || dtype == ONYX_DTYPE_INT2 ? (v ^ sign) - sign : v;
}

/* The range of a 4 or 2-bit integer dtype. */
static inline void narrow_int_range(onyx_dtype dtype, int32_t *min, int32_t *max)
{
    int bits = narrow_int_bits(dtype);
    bool is_signed = dtype == ONYX_DTYPE_INT4 || dtype == ONYX_DTYPE_INT2;
    *min = is_signed ? -(1 << (bits - 1)) : 0;
    *max = is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
}

/* NaN test for a value of any numeric C type (false for integers). */
#define VALUE_IS_NAN(v) _Generic((v), float: isnan((float)(v)), double: isnan((double)(v)), default: 0)

/* The smallest and largest value of an integer C type. */
#define INT_TYPE_MIN(T)                                                                        \
    _Generic((T)0, int8_t: INT8_MIN, int16_t: INT16_MIN, int32_t: INT32_MIN, int64_t: INT64_MIN, default: 0)
#define INT_TYPE_MAX(T)                                                                        \
    _Generic((T)0, int8_t: INT8_MAX, int16_t: INT16_MAX, int32_t: INT32_MAX, int64_t: INT64_MAX,         \
             uint8_t: UINT8_MAX, uint16_t: UINT16_MAX, uint32_t: UINT32_MAX, uint64_t: UINT64_MAX)

/* Element i of a floating-point array of dtype `dtype`, as double; and the converse. For
 * code off the hot path that handles every float dtype through one loop. */
static inline double float_io_load(onyx_dtype dtype, const void *data, int64_t i)
{
#define FLOAT_IO_LOAD_CASE(D, T, V, LOAD, STORE)                                               \
    case ONYX_DTYPE_##D:                                                                       \
        return LOAD(((const T *)data)[i]);
    switch (dtype) {
        FOR_FLOAT_IO(FLOAT_IO_LOAD_CASE)
    default:
        return 0;
    }
#undef FLOAT_IO_LOAD_CASE
}
static inline void float_io_store(onyx_dtype dtype, void *data, int64_t i, double value)
{
#define FLOAT_IO_STORE_CASE(D, T, V, LOAD, STORE)                                              \
    case ONYX_DTYPE_##D:                                                                       \
        ((T *)data)[i] = STORE((V)value);                                                      \
        break;
    switch (dtype) {
        FOR_FLOAT_IO(FLOAT_IO_STORE_CASE)
    default:
        break;
    }
#undef FLOAT_IO_STORE_CASE
}

/* A real result stored into an integer dtype the way Cast stores it: truncated toward zero,
 * NaN as 0, clamped to the 64-bit range, then wrapped to the width by the assignment. Never
 * the undefined behaviour of converting an out-of-range double. */
static inline uint64_t real_to_int_bits(double r)
{
    double t = trunc(r);
    if (isnan(t))
        return 0;
    if (t >= 0x1p63)
        return t >= 0x1p64 ? UINT64_MAX : (uint64_t)t;
    return t < -0x1p63 ? (uint64_t)INT64_MIN : (uint64_t)(int64_t)t;
}

#endif
