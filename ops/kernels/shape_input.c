#include "shape_input.h"

bool values_unknown(const onyx_tensor *t)
{
    if (t->data)
        return false;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] == 0)
            return false;
    return true;
}

onyx_status shape_input_read(const op_context *ctx, int i, int64_t *values, int64_t max, int64_t *count)
{
    const onyx_tensor *t = op_input(ctx, i);
    *count = -1;
    if (!t)
        return ONYX_OK;
    if (t->rank > 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' must be 1-D, got rank %d", op_input_name(ctx, i),
                        t->rank);
    if (t->rank == 1 && dim_known(t->dims[0]) && t->dims[0] > max)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "input '%s' has %lld values; onyx handles at most %lld",
                        op_input_name(ctx, i), (long long)t->dims[0], (long long)max);
    if (values_unknown(t))
        return ONYX_DEFER;
    *count = tensor_read_ints(t, values, max);
    if (*count < 0)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' must hold int32 or int64 values",
                        op_input_name(ctx, i));
    return ONYX_OK;
}

onyx_status shape_input_rank_only(const op_context *ctx, int i, onyx_tensor *out)
{
    const onyx_tensor *t = op_input(ctx, i);
    if (ctx->concrete || !t || t->rank != 1 || !dim_known(t->dims[0]) || t->dims[0] > ONYX_MAX_RANK)
        return ONYX_DEFER;
    out->rank = (int)t->dims[0];
    for (int d = 0; d < out->rank; d++)
        out->dims[d] = DIM_UNKNOWN;
    return ONYX_OK;
}
