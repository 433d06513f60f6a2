/* Softmax, LogSoftmax and Hardmax: one row kernel each (ops/kernels/softmax.c), one axis
 * handling for all three. Opset < 13 flattens the input to 2-D at `axis` (default 1) and
 * normalizes each row of the flattened shape; opset >= 13 normalizes along `axis` alone
 * (default -1). */
#include "softmax.h"

typedef struct softmax_params {
    axis_map_fn row;
    int64_t axis;
} softmax_params;

static onyx_status softmax_check(op_context *ctx, softmax_kind kind)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS | DT(FLOAT16) | DT(BFLOAT16));
    if (st)
        return st;
    softmax_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "axis", ctx->opset >= 13 ? -1 : 1, &p->axis)))
        return st;
    p->row = softmax_row_kernel(kind, op_input(ctx, 0)->dtype);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status softmax_reshape(op_context *ctx)
{
    const softmax_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    int axis;
    /* Before 13 the axis may equal the rank (a flattened row of one element per row). */
    onyx_status st = op_axis(ctx, "axis", p->axis, x->rank + (ctx->opset < 13 && p->axis == x->rank), &axis);
    if (st || !ctx->concrete)
        return st;
    /* Before 13: the rows of x flattened to 2-D at axis. */
    axis_rows rows = ctx->opset < 13 ? (axis_rows){shape_count(x->dims, axis), shape_count(x->dims + axis, x->rank - axis), 1}
                                     : axis_rows_of(x, axis);
    return axis_rows_plan(ctx, rows, 16);
}

static onyx_status softmax_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const softmax_params *p = ctx->params;
    axis_map_run(ctx, p->row, 0, begin, end);
    return ONYX_OK;
}

static onyx_status softmax_op_check(op_context *ctx) { return softmax_check(ctx, SOFTMAX); }
const op_descriptor op_Softmax = {softmax_op_check, softmax_reshape, softmax_run, 0};
static onyx_status log_softmax_check(op_context *ctx) { return softmax_check(ctx, LOG_SOFTMAX); }
const op_descriptor op_LogSoftmax = {log_softmax_check, softmax_reshape, softmax_run, 0};
static onyx_status hardmax_check(op_context *ctx) { return softmax_check(ctx, HARDMAX); }
const op_descriptor op_Hardmax = {hardmax_check, softmax_reshape, softmax_run, 0};
