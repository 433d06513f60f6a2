/* Tile: repeats the input along each axis. A strided copy over the output viewed as
 * (repeat, dim) pairs, the repeat axes having input stride 0. */
#include "checks.h"
#include "op.h"
#include "shape_input.h"
#include "strided_copy.h"

static onyx_status tile_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    int64_t repeats[ONYX_MAX_RANK], n;
    tensor_set_shape(y, x->rank, x->dims);
    onyx_status st = shape_input_read(ctx, 1, repeats, ONYX_MAX_RANK, &n);
    if (st == ONYX_DEFER) {
        for (int i = 0; i < y->rank; i++)
            y->dims[i] = DIM_UNKNOWN; /* the rank is known, the dims are not */
        return ctx->concrete ? ONYX_DEFER : ONYX_OK;
    }
    if (st)
        return st;
    if (n != x->rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "repeats has %lld values for an input of rank %d", (long long)n,
                        x->rank);
    for (int i = 0; i < x->rank; i++) {
        if (repeats[i] < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "repeats[%d] is negative (%lld)", i, (long long)repeats[i]);
        if (dim_known(x->dims[i]) && __builtin_mul_overflow(x->dims[i], repeats[i], &y->dims[i]))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d repeated %lld times overflows", i,
                            (long long)repeats[i]);
    }
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = op_check_shape(ctx, y->rank, y->dims, "output")))
        return st;
    int64_t dims[STRIDED_MAX_RANK], strides[STRIDED_MAX_RANK], in_strides[ONYX_MAX_RANK];
    strides_of(x, in_strides);
    for (int i = 0; i < x->rank; i++) {
        dims[2 * i] = repeats[i];
        strides[2 * i] = 0;
        dims[2 * i + 1] = x->dims[i];
        strides[2 * i + 1] = in_strides[i];
    }
    return strided_copy_plan(ctx, 2 * x->rank, dims, strides, 0);
}

const op_descriptor op_Tile = {check_data_and_shape, tile_reshape, strided_copy_run, 0};
