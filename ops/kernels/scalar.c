#include "scalar.h"
#include "half.h"

#include <math.h>

double scalar_load(const void *data, int64_t i, onyx_dtype dtype)
{
    switch (dtype) {
    case ONYX_DTYPE_FLOAT: return ((const float *)data)[i];
    case ONYX_DTYPE_DOUBLE: return ((const double *)data)[i];
    case ONYX_DTYPE_FLOAT16: return half_to_float(((const uint16_t *)data)[i]);
    case ONYX_DTYPE_BFLOAT16: return bfloat16_to_float(((const uint16_t *)data)[i]);
    case ONYX_DTYPE_INT8: return ((const int8_t *)data)[i];
    case ONYX_DTYPE_INT16: return ((const int16_t *)data)[i];
    case ONYX_DTYPE_INT32: return ((const int32_t *)data)[i];
    case ONYX_DTYPE_INT64: return (double)((const int64_t *)data)[i];
    case ONYX_DTYPE_UINT8: case ONYX_DTYPE_BOOL: return ((const uint8_t *)data)[i];
    case ONYX_DTYPE_UINT16: return ((const uint16_t *)data)[i];
    case ONYX_DTYPE_UINT32: return ((const uint32_t *)data)[i];
    case ONYX_DTYPE_UINT64: return (double)((const uint64_t *)data)[i];
    default: return 0;
    }
}

int64_t scalar_clamp_int(double v, int64_t lo, int64_t hi)
{
    v = trunc(v);
    if (!(v > (double)lo)) /* also NaN */
        return lo;
    if (v >= (double)hi)
        return hi;
    return (int64_t)v;
}

/* The unsigned integers: [0, hi]. */
static uint64_t clamp_unsigned(double v, uint64_t hi)
{
    v = trunc(v);
    if (!(v > 0))
        return 0;
    return v >= (double)hi ? hi : (uint64_t)v;
}

void scalar_store(void *data, int64_t i, onyx_dtype dtype, double v)
{
    switch (dtype) {
    case ONYX_DTYPE_FLOAT: ((float *)data)[i] = (float)v; break;
    case ONYX_DTYPE_DOUBLE: ((double *)data)[i] = v; break;
    case ONYX_DTYPE_FLOAT16: ((uint16_t *)data)[i] = float_to_half((float)v); break;
    case ONYX_DTYPE_BFLOAT16: ((uint16_t *)data)[i] = float_to_bfloat16((float)v); break;
    case ONYX_DTYPE_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    case ONYX_DTYPE_INT8: ((int8_t *)data)[i] = (int8_t)scalar_clamp_int(v, INT8_MIN, INT8_MAX); break;
    case ONYX_DTYPE_INT16: ((int16_t *)data)[i] = (int16_t)scalar_clamp_int(v, INT16_MIN, INT16_MAX); break;
    case ONYX_DTYPE_INT32: ((int32_t *)data)[i] = (int32_t)scalar_clamp_int(v, INT32_MIN, INT32_MAX); break;
    case ONYX_DTYPE_INT64: ((int64_t *)data)[i] = scalar_clamp_int(v, INT64_MIN, INT64_MAX); break;
    case ONYX_DTYPE_UINT8: ((uint8_t *)data)[i] = (uint8_t)clamp_unsigned(v, UINT8_MAX); break;
    case ONYX_DTYPE_UINT16: ((uint16_t *)data)[i] = (uint16_t)clamp_unsigned(v, UINT16_MAX); break;
    case ONYX_DTYPE_UINT32: ((uint32_t *)data)[i] = (uint32_t)clamp_unsigned(v, UINT32_MAX); break;
    case ONYX_DTYPE_UINT64: ((uint64_t *)data)[i] = clamp_unsigned(v, UINT64_MAX); break;
    default: break;
    }
}
