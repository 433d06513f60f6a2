/* Elements of any numeric dtype (float16 and bfloat16 included) read as double and written
 * back from double, for operators that compute in double whatever their tensors hold: the
 * signal generators (output_datatype), DFT and STFT, Det. Writing to an integer dtype
 * truncates toward zero and saturates, NaN giving 0, so that no conversion is undefined. */
#ifndef ONYX_CONVERT_H
#define ONYX_CONVERT_H

#include "half.h"
#include "op.h"

#include <math.h>

static inline double load_as_double(const void *data, int64_t i, onyx_dtype dt)
{
    switch (dt) {
    case ONYX_DTYPE_FLOAT: return ((const float *)data)[i];
    case ONYX_DTYPE_DOUBLE: return ((const double *)data)[i];
    case ONYX_DTYPE_FLOAT16: return half_to_float(((const uint16_t *)data)[i]);
    case ONYX_DTYPE_BFLOAT16: return bfloat16_to_float(((const uint16_t *)data)[i]);
    case ONYX_DTYPE_INT8: return ((const int8_t *)data)[i];
    case ONYX_DTYPE_INT16: return ((const int16_t *)data)[i];
    case ONYX_DTYPE_INT32: return ((const int32_t *)data)[i];
    case ONYX_DTYPE_INT64: return (double)((const int64_t *)data)[i];
    case ONYX_DTYPE_UINT8: return ((const uint8_t *)data)[i];
    case ONYX_DTYPE_UINT16: return ((const uint16_t *)data)[i];
    case ONYX_DTYPE_UINT32: return ((const uint32_t *)data)[i];
    case ONYX_DTYPE_UINT64: return (double)((const uint64_t *)data)[i];
    default: return 0;
    }
}

/* v truncated and clamped to [lo, hi] (bounds exactly representable, or rounding up to the
 * next power of two for 64-bit ones, hence the >= test). */
static inline double clamp_truncated(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    v = trunc(v);
    return v < lo ? lo : v >= hi ? hi : v;
}

static inline void store_from_double(void *data, int64_t i, onyx_dtype dt, double v)
{
    switch (dt) {
    case ONYX_DTYPE_FLOAT: ((float *)data)[i] = (float)v; break;
    case ONYX_DTYPE_DOUBLE: ((double *)data)[i] = v; break;
    case ONYX_DTYPE_FLOAT16: ((uint16_t *)data)[i] = float_to_half((float)v); break;
    case ONYX_DTYPE_BFLOAT16: ((uint16_t *)data)[i] = float_to_bfloat16((float)v); break;
    case ONYX_DTYPE_INT8: ((int8_t *)data)[i] = (int8_t)clamp_truncated(v, INT8_MIN, INT8_MAX); break;
    case ONYX_DTYPE_INT16: ((int16_t *)data)[i] = (int16_t)clamp_truncated(v, INT16_MIN, INT16_MAX); break;
    case ONYX_DTYPE_INT32: ((int32_t *)data)[i] = (int32_t)clamp_truncated(v, INT32_MIN, INT32_MAX); break;
    case ONYX_DTYPE_UINT8: ((uint8_t *)data)[i] = (uint8_t)clamp_truncated(v, 0, UINT8_MAX); break;
    case ONYX_DTYPE_UINT16: ((uint16_t *)data)[i] = (uint16_t)clamp_truncated(v, 0, UINT16_MAX); break;
    case ONYX_DTYPE_UINT32: ((uint32_t *)data)[i] = (uint32_t)clamp_truncated(v, 0, UINT32_MAX); break;
    case ONYX_DTYPE_INT64: {
        double t = clamp_truncated(v, -9223372036854775808.0, 9223372036854775808.0);
        ((int64_t *)data)[i] = t >= 9223372036854775808.0 ? INT64_MAX : (int64_t)t;
        break;
    }
    case ONYX_DTYPE_UINT64: {
        double t = clamp_truncated(v, 0, 18446744073709551616.0);
        ((uint64_t *)data)[i] = t >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)t;
        break;
    }
    default: break;
    }
}

#endif
