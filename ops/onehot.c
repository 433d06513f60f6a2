/* OneHot: a new axis of `depth` places per index, holding values[1] (on) where the index
 * points and values[0] (off) elsewhere. Indices and depth may be of any numeric type
 * (floats truncate toward zero); an index outside [-depth, depth) ([0, depth) before opset
 * 11) leaves its column off, as the spec says. The depth shapes the output: it must be
 * known before running. */
#include "op.h"
#include "scalar.h"
#include "shape_input.h"

#include <math.h>
#include <string.h>

#define ONEHOT_NUMBERS (DT_NUMERIC | DT(FLOAT16) | DT(BFLOAT16))

typedef struct onehot_params {
    int64_t axis;
} onehot_params;

typedef struct onehot_state {
    int64_t outer, depth, inner; /* output [outer, depth, inner] */
} onehot_state;

static onyx_status onehot_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, ONEHOT_NUMBERS);
    if (!st)
        st = op_check_input(ctx, 1, true, ONEHOT_NUMBERS);
    if (!st)
        st = op_check_input(ctx, 2, true, DT_ALL);
    onehot_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "axis", -1, &p->axis)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 2)->dtype);
    return ONYX_OK;
}

static onyx_status onehot_reshape(op_context *ctx)
{
    const onyx_tensor *indices = op_input(ctx, 0), *depth = op_input(ctx, 1), *values = op_input(ctx, 2);
    onyx_tensor *y = op_output(ctx, 0);
    int rank = indices->rank + 1, axis;
    if (rank > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "output rank %d is above %d", rank, ONYX_MAX_RANK);
    onyx_status st = op_axis(ctx, "axis", ((const onehot_params *)ctx->params)->axis, rank, &axis);
    if (st)
        return st;
    if (depth->rank > 1 || (depth->rank == 1 && !dim_may_equal(depth->dims[0], 1)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "depth must hold one value");
    if (values->rank != 1 || !dim_may_equal(values->dims[0], 2))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "values must be [off_value, on_value]");
    y->rank = rank;
    for (int d = 0, i = 0; d < rank; d++)
        y->dims[d] = d == axis ? DIM_UNKNOWN : indices->dims[i++];
    if (values_unknown(depth))
        return ONYX_OK;
    double n = scalar_load(depth->data, 0, depth->dtype);
    if (!(n >= 0))
        return op_error(ctx, ONYX_ERROR_RUNTIME, "depth %g is not a number >= 0", n);
    y->dims[axis] = scalar_clamp_int(n, 0, INT64_MAX);
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = op_check_shape(ctx, y->rank, y->dims, "output")))
        return st;
    onehot_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->outer = shape_count(y->dims, axis);
    s->depth = y->dims[axis];
    s->inner = shape_count(y->dims + axis + 1, rank - axis - 1);
    ctx->state = s;
    ctx->n_tasks = s->outer;
    ctx->task_cost = s->depth * s->inner;
    return ONYX_OK;
}

static onyx_status onehot_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const onehot_state *s = ctx->state;
    const onyx_tensor *indices = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    size_t elem = onyx_dtype_size(y->dtype);
    const char *off = ctx->inputs[2]->data, *on = off + elem;
    /* Negative indices count from the end from opset 11; before, they are out of range. */
    double depth = (double)s->depth, lowest = ctx->opset >= 11 ? -depth : 0;
    for (int64_t o = begin; o < end; o++) {
        char *block = (char *)y->data + (size_t)(o * s->depth * s->inner) * elem;
        for (int64_t k = 0; k < s->depth * s->inner; k++)
            memcpy(block + (size_t)k * elem, off, elem);
        for (int64_t i = 0; i < s->inner; i++) {
            double v = trunc(scalar_load(indices->data, o * s->inner + i, indices->dtype));
            if (!(v >= lowest && v < depth)) /* also NaN */
                continue;
            int64_t idx = (int64_t)v; /* within +-depth: exact */
            if (idx < 0)
                idx += s->depth;
            memcpy(block + (size_t)(idx * s->inner + i) * elem, on, elem);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_OneHot = {onehot_check, onehot_reshape, onehot_run, 0};
