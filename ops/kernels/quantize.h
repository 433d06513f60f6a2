/* Linear 8-bit quantization as ONNX defines it, shared by QuantizeLinear,
 * DynamicQuantizeLinear and QLinearMatMul: q = saturate(round(x / scale) + zero_point), the
 * rounding to nearest with ties to even, the saturation to the range of the 8-bit type. */
#ifndef ONYX_QUANTIZE_H
#define ONYX_QUANTIZE_H

#include "op.h"

#include <math.h>

/* The range of a quantized dtype: uint8 or int8. */
typedef struct quant_range {
    int32_t min, max;
} quant_range;

static inline quant_range quant_range_of(onyx_dtype dt)
{
    return dt == ONYX_DTYPE_INT8 ? (quant_range){INT8_MIN, INT8_MAX} : (quant_range){0, UINT8_MAX};
}

/* Element i of a uint8, int8 or int32 tensor; 0 for a NULL tensor (an absent zero point). */
static inline int32_t quant_load(const onyx_tensor *t, int64_t i)
{
    if (!t)
        return 0;
    switch (t->dtype) {
    case ONYX_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case ONYX_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    default: return ((const uint8_t *)t->data)[i];
    }
}

static inline void quant_store(void *data, int64_t i, onyx_dtype dt, int32_t q)
{
    if (dt == ONYX_DTYPE_INT8)
        ((int8_t *)data)[i] = (int8_t)q;
    else
        ((uint8_t *)data)[i] = (uint8_t)q;
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

#endif
