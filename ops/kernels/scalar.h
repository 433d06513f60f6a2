/* One element of any numeric dtype (and bool, float16, bfloat16) as a double, and back: for
 * operators that read a scalar input of any numeric type (OneHot's depth and indices) or
 * write a value given as a float attribute (Pad's value, EyeLike's and Dropout's ones). */
#ifndef ONYX_SCALAR_H
#define ONYX_SCALAR_H

#include "op.h"

/* Element i of data, of dtype, as a double (64-bit integers beyond 2^53 round). */
double scalar_load(const void *data, int64_t i, onyx_dtype dtype);
/* Stores v into element i of data, of dtype. Integers truncate toward zero and saturate at
 * their range, NaN giving 0, so that no value converts with undefined behaviour. */
void scalar_store(void *data, int64_t i, onyx_dtype dtype, double v);
/* v truncated toward zero into [lo, hi] (NaN gives lo): a float made an index or a count. */
int64_t scalar_clamp_int(double v, int64_t lo, int64_t hi);

#endif
