/* ArgMax and ArgMin: the int64 position of the largest / smallest element along `axis`
 * (default 0), the axis kept as 1 when keepdims (default 1). Of equal elements the first wins,
 * or the last with select_last_index (from opset 12). NaN counts as the extreme, as in numpy.
 * An empty axis has no position to give: an error when the output is not empty itself. */
#include "axis.h"
#include "reduce.h"

typedef struct argmax_params {
    arg_extreme_fn kernel;
    int64_t axis;
    bool keepdims, largest, last;
} argmax_params;

static onyx_status arg_extreme_check(op_context *ctx, bool largest)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_NUMERIC_IO);
    if (st)
        return st;
    argmax_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t keepdims, last = 0;
    if ((st = op_attr_int(ctx, "axis", 0, &p->axis)) || (st = op_attr_int(ctx, "keepdims", 1, &keepdims)) ||
        (ctx->opset >= 12 && (st = op_attr_int(ctx, "select_last_index", 0, &last))))
        return st;
    p->kernel = arg_extreme_kernel(op_input(ctx, 0)->dtype);
    p->keepdims = keepdims != 0;
    p->largest = largest;
    p->last = last != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, ONYX_DTYPE_INT64);
    return ONYX_OK;
}

static onyx_status argmax_reshape(op_context *ctx)
{
    const argmax_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    bool mask[ONYX_MAX_RANK];
    onyx_status st = reduce_shape(ctx, x, &p->axis, 1, p->keepdims, false, mask, op_output(ctx, 0));
    if (st || !ctx->concrete)
        return st;
    int axis = 0;
    while (!mask[axis])
        axis++;
    axis_rows rows = axis_rows_of(x, axis);
    if (rows.len == 0 && axis_row_count(&rows) > 0)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "axis %d of input '%s' is empty: no position to give", axis,
                        op_input_name(ctx, 0));
    return axis_rows_plan(ctx, rows, 1);
}

static onyx_status argmax_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const argmax_params *p = ctx->params;
    const axis_rows *rows = ctx->state;
    const char *x = ctx->inputs[0]->data;
    size_t elem = onyx_dtype_size(ctx->inputs[0]->dtype);
    int64_t *y = ctx->outputs[0]->data;
    for (int64_t r = begin; r < end; r++)
        y[r] = p->kernel(x + (size_t)axis_row_start(rows, r) * elem, rows->len, rows->inner, p->largest, p->last);
    return ONYX_OK;
}

static onyx_status argmax_check(op_context *ctx) { return arg_extreme_check(ctx, true); }
static onyx_status argmin_check(op_context *ctx) { return arg_extreme_check(ctx, false); }

const op_descriptor op_ArgMax = {argmax_check, argmax_reshape, argmax_run, 0};
const op_descriptor op_ArgMin = {argmin_check, argmax_reshape, argmax_run, 0};
