/* Scalar inputs whose values set output shapes (a window's size, a DFT's length). */
#ifndef ONYX_SCALAR_H
#define ONYX_SCALAR_H

#include "op.h"

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
