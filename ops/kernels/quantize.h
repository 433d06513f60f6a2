/* Linear quantization as ONNX defines it, shared by QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear and QLinearMatMul: q = saturate(round(x / scale) + zero_point), the
 * rounding to nearest with ties to even, the saturation to the range of the integer type;
 * for the 8, 6 and 4-bit float types, the rounding of the float conversion instead. */
#ifndef ONYX_QUANTIZE_H
#define ONYX_QUANTIZE_H

#include "dtype_io.h"
#include "op.h"

#include <math.h>

/* The range of a quantized integer dtype: 8, 16, 4 or 2-bit, signed or not. */
typedef struct quant_range {
    int32_t min, max;
} quant_range;

static inline quant_range quant_range_of(onyx_dtype dt)
{
    quant_range r;
    switch (dt) {
    case ONYX_DTYPE_INT8: return (quant_range){INT8_MIN, INT8_MAX};
    case ONYX_DTYPE_INT16: return (quant_range){INT16_MIN, INT16_MAX};
    case ONYX_DTYPE_UINT16: return (quant_range){0, UINT16_MAX};
    case ONYX_DTYPE_INT4: case ONYX_DTYPE_UINT4: case ONYX_DTYPE_INT2: case ONYX_DTYPE_UINT2:
        narrow_int_range(dt, &r.min, &r.max);
        return r;
    default: return (quant_range){0, UINT8_MAX};
    }
}

/* Element i of an integer tensor of at most 32 bits (the 4 and 2-bit ones held one per
 * byte); 0 for a NULL tensor (an absent zero point). */
static inline int32_t quant_load(const onyx_tensor *t, int64_t i)
{
    if (!t)
        return 0;
    switch (t->dtype) {
    case ONYX_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case ONYX_DTYPE_INT16: return ((const int16_t *)t->data)[i];
    case ONYX_DTYPE_UINT16: return ((const uint16_t *)t->data)[i];
    case ONYX_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case ONYX_DTYPE_INT4: case ONYX_DTYPE_UINT4: case ONYX_DTYPE_INT2: case ONYX_DTYPE_UINT2:
        return narrow_int_load(t->dtype, ((const uint8_t *)t->data)[i]);
    default: return ((const uint8_t *)t->data)[i];
    }
}

/* Stores q, within the range of integer dtype dt, as element i. */
static inline void quant_store(void *data, int64_t i, onyx_dtype dt, int32_t q)
{
    switch (dt) {
    case ONYX_DTYPE_INT16: case ONYX_DTYPE_UINT16: ((uint16_t *)data)[i] = (uint16_t)q; break;
    default: ((uint8_t *)data)[i] = (uint8_t)q; break; /* 8-bit, and 4 and 2-bit sign-extended */
    }
}

/* saturate(round_half_even(scaled) + zero_point). The rounding is the default floating-point
 * mode's (nearbyintf); the sum is clamped while still a float, so that infinities convert
 * safely; NaN, which has no nearest level, gives the zero point (the level of 0). */
static inline int32_t quantize_scaled(float scaled, int32_t zero_point, quant_range range)
{
    if (isnan(scaled))
        return zero_point;
    float q = nearbyintf(scaled) + (float)zero_point;
    return q <= (float)range.min ? range.min : q >= (float)range.max ? range.max : (int32_t)q;
}

/* quantize_scaled in double, for quotients computed in double (exact for 16-bit ranges). */
static inline int32_t quantize_scaled_double(double scaled, int32_t zero_point, quant_range range)
{
    if (isnan(scaled))
        return zero_point;
    double q = nearbyint(scaled) + (double)zero_point;
    return q <= (double)range.min ? range.min : q >= (double)range.max ? range.max : (int32_t)q;
}

#endif
