/* Softmax, LogSoftmax and Hardmax: one row kernel each (ops/kernels/softmax.c), one axis
 * handling for all three. Opset < 13 flattens the input to 2-D at `axis` (default 1) and
 * normalizes each row of the flattened shape; opset >= 13 normalizes along `axis` alone
 * (default -1). */
#include "axis.h"
#include "softmax.h"

typedef struct softmax_params {
    softmax_row_fn row;
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
    axis_rows *rows = op_alloc_state(ctx, sizeof *rows);
    if (!rows)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (ctx->opset < 13)
        *rows = (axis_rows){shape_count(x->dims, axis), shape_count(x->dims + axis, x->rank - axis), 1};
    else
        *rows = axis_rows_of(x, axis);
    ctx->state = rows;
    ctx->n_tasks = axis_row_count(rows);
    ctx->task_cost = rows->len * 16;
    return ONYX_OK;
}

static onyx_status softmax_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const softmax_params *p = ctx->params;
    const axis_rows *rows = ctx->state;
    size_t elem = onyx_dtype_size(ctx->inputs[0]->dtype);
    const char *x = ctx->inputs[0]->data;
    char *y = ctx->outputs[0]->data;
    for (int64_t r = begin; r < end; r++) {
        size_t start = (size_t)axis_row_start(rows, r) * elem;
        p->row(x + start, y + start, rows->len, rows->inner);
    }
    return ONYX_OK;
}

#define SOFTMAX_OPERATOR(name, kind)                                                           \
    static onyx_status name##_check(op_context *ctx) { return softmax_check(ctx, kind); }       \
    const op_descriptor op_##name = {name##_check, softmax_reshape, softmax_run, 0}

SOFTMAX_OPERATOR(Softmax, SOFTMAX);
SOFTMAX_OPERATOR(LogSoftmax, LOG_SOFTMAX);
SOFTMAX_OPERATOR(Hardmax, HARDMAX);
