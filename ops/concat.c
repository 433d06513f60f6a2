/* Concat: joins its inputs along one axis, copying, for each index of the axes before
 * `axis`, one contiguous block per input. (Split, the converse, is in split.c.) */
#include "op.h"

#include <string.h>

typedef struct concat_params {
    int64_t axis;
} concat_params;

typedef struct concat_state {
    int axis;
    int64_t outer, inner; /* products of the dims before and after the axis */
    size_t elem;
} concat_state;

static onyx_status concat_state_init(op_context *ctx, const onyx_tensor *t, int axis)
{
    concat_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t len;
    s->axis = axis;
    shape_split(t, axis, &s->outer, &len, &s->inner);
    s->elem = onyx_dtype_size(t->dtype);
    ctx->state = s;
    ctx->n_tasks = s->outer;
    ctx->task_cost = len * s->inner;
    return ONYX_OK;
}

static onyx_status concat_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1 << 20, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, ctx->n_inputs, ctx->n_inputs, DT_ALL);
    if (!st && ctx->opset >= 4)
        st = op_attr_require(ctx, "axis");
    concat_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "axis", 1, &p->axis)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status concat_reshape(op_context *ctx)
{
    const concat_params *p = ctx->params;
    const onyx_tensor *first = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    int axis;
    onyx_status st = op_axis(ctx, "axis", p->axis, first->rank, &axis);
    if (st)
        return st;
    tensor_set_shape(y, first->rank, first->dims);
    for (int i = 1; i < ctx->n_inputs; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        char a[128], b[128];
        bool same = t->rank == first->rank;
        for (int d = 0; same && d < t->rank; d++)
            same = d == axis || dim_may_equal(t->dims[d], y->dims[d]);
        if (!same)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s does not match input '%s' %s outside axis %d",
                            op_input_name(ctx, i), shape_str(t, a, sizeof a), op_input_name(ctx, 0),
                            shape_str(first, b, sizeof b), axis);
        for (int d = 0; d < t->rank; d++)
            if (d != axis && !dim_known(y->dims[d]))
                y->dims[d] = t->dims[d]; /* a known size settles a symbolic one */
        y->dims[axis] = dim_add(y->dims[axis], t->dims[axis]);
    }
    return ctx->concrete ? concat_state_init(ctx, y, axis) : ONYX_OK;
}

static onyx_status concat_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const concat_state *s = ctx->state;
    const onyx_tensor *y = ctx->outputs[0];
    size_t row = (size_t)(y->dims[s->axis] * s->inner) * s->elem;
    for (int64_t o = begin; o < end; o++) {
        char *dst = (char *)y->data + (size_t)o * row;
        for (int i = 0; i < ctx->n_inputs; i++) {
            const onyx_tensor *t = ctx->inputs[i];
            size_t block = (size_t)(t->dims[s->axis] * s->inner) * s->elem;
            if (block)
                memcpy(dst, (const char *)t->data + (size_t)o * block, block);
            dst += block;
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Concat = {concat_check, concat_reshape, concat_run, 0};
