#include "checks.h"

onyx_status check_one_input(op_context *ctx, uint32_t dtypes, onyx_dtype output)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, dtypes);
    if (!st)
        op_set_output_dtypes(ctx, output ? output : op_input(ctx, 0)->dtype);
    return st;
}

onyx_status check_data_and_shape(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (!st)
        op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return st;
}

onyx_status need_input_values(const op_context *ctx)
{
    if (!ctx->concrete)
        return ONYX_DEFER;
    for (int i = 0; i < ctx->n_inputs + ctx->n_implicit; i++) {
        const onyx_tensor *t = ctx->inputs[i];
        if (t && !t->data && (!op_is_tensor(t) || tensor_count(t) > 0))
            return ONYX_DEFER;
    }
    return ONYX_OK;
}
