/* Softmax. Opset < 13 flattens the input to 2-D at `axis` (default 1) and normalizes each
 * row; opset >= 13 normalizes along `axis` alone (default -1). Numerically stable: the row
 * maximum is subtracted before exponentiating. A row of only -inf gives NaN, as PyTorch. */
#include "op.h"

#include <math.h>

typedef struct softmax_params {
    int64_t axis;
} softmax_params;

typedef struct softmax_state {
    int64_t outer, len, inner;
} softmax_state;

static onyx_status softmax_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS);
    if (st)
        return st;
    softmax_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "axis", ctx->opset >= 13 ? -1 : 1, &p->axis)))
        return st;
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
    softmax_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (ctx->opset < 13) {
        s->outer = shape_count(x->dims, axis);
        s->len = shape_count(x->dims + axis, x->rank - axis);
        s->inner = 1;
    } else {
        shape_split(x, axis, &s->outer, &s->len, &s->inner);
    }
    ctx->state = s;
    ctx->n_tasks = s->outer * s->inner;
    ctx->task_cost = s->len * 16;
    return ONYX_OK;
}

#define SOFTMAX_ROW(T, EXP)                                                                    \
    static void softmax_row_##T(const T *x, T *y, int64_t len, int64_t stride)                 \
    {                                                                                          \
        T max = -INFINITY;                                                                     \
        for (int64_t i = 0; i < len; i++)                                                      \
            max = x[i * stride] > max ? x[i * stride] : max;                                   \
        T sum = 0;                                                                             \
        for (int64_t i = 0; i < len; i++) {                                                    \
            T e = EXP(x[i * stride] - max);                                                    \
            y[i * stride] = e;                                                                 \
            sum += e;                                                                          \
        }                                                                                      \
        T inv = 1 / sum;                                                                       \
        for (int64_t i = 0; i < len; i++)                                                      \
            y[i * stride] *= inv;                                                              \
    }
SOFTMAX_ROW(float, expf)
SOFTMAX_ROW(double, exp)

static onyx_status softmax_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const softmax_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[0];
    for (int64_t t = begin; t < end; t++) {
        int64_t o = t / s->inner, i = t % s->inner, base = o * s->len * s->inner + i;
        if (x->dtype == ONYX_DTYPE_FLOAT)
            softmax_row_float((const float *)x->data + base, (float *)ctx->outputs[0]->data + base, s->len, s->inner);
        else
            softmax_row_double((const double *)x->data + base, (double *)ctx->outputs[0]->data + base, s->len, s->inner);
    }
    return ONYX_OK;
}

const op_descriptor op_Softmax = {softmax_check, softmax_reshape, softmax_run, 0};
