/* Scalars: one element of any numeric dtype (and bool, float16, bfloat16) as a double, and
 * back, for operators that read a scalar input of any numeric type (OneHot's depth and
 * indices) or write a value given as a float attribute (Pad's value, EyeLike's and Dropout's
 * ones); and integer scalar inputs whose values set output shapes (a window's size, a DFT's
 * length). */
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

/* The value of input i, an int32 or int64 scalar (or one-element vector): ONYX_DEFER while
 * it is not known, an error when it holds more than one value. */
static inline onyx_status scalar_int_input(const op_context *ctx, int i, int64_t *value)
{
    const onyx_tensor *t = op_input(ctx, i);
    if (t->rank > 1 || (t->rank == 1 && !dim_may_equal(t->dims[0], 1))) {
        char st[128];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must be a scalar", op_input_name(ctx, i),
                        shape_str(t, st, sizeof st));
    }
    if (!t->data)
        return ONYX_DEFER;
    *value = tensor_int_at(t, 0);
    return ONYX_OK;
}

#endif
