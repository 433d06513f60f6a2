/* Concat and Split: joining and cutting along one axis. Both copy, for each index of the
 * axes before `axis`, one contiguous block per input (or output). */
#include "op.h"
#include "shape_input.h"

#include <string.h>

typedef struct axis_params {
    int64_t axis;
    const int64_t *split; /* Split before opset 13: sizes from the attribute, or NULL */
    int64_t n_split;
} axis_params;

typedef struct axis_state {
    int axis;
    int64_t outer, inner; /* products of the dims before and after the axis */
    size_t elem;
} axis_state;

static onyx_status axis_state_init(op_context *ctx, const onyx_tensor *t, int axis)
{
    axis_state *s = op_alloc_state(ctx, sizeof *s);
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

/* ---- Concat ------------------------------------------------------------------------------ */

static onyx_status concat_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1 << 20, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, ctx->n_inputs, ctx->n_inputs, DT_ALL);
    if (!st && ctx->opset >= 4)
        st = op_attr_require(ctx, "axis");
    axis_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
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
    const axis_params *p = ctx->params;
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
    return ctx->concrete ? axis_state_init(ctx, y, axis) : ONYX_OK;
}

static onyx_status concat_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const axis_state *s = ctx->state;
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

/* ---- Split ------------------------------------------------------------------------------- */

static onyx_status split_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, ctx->opset >= 13 ? 2 : 1, 1, 1 << 20);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st && ctx->opset >= 13)
        st = op_check_input(ctx, 1, false, DT(INT64));
    axis_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "axis", 0, &p->axis)))
        return st;
    if (ctx->opset < 13 && (st = op_attr_ints(ctx, "split", &p->split, &p->n_split)))
        return st;
    for (int i = 0; i < ctx->n_outputs; i++)
        if (!ctx->outputs[i])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "output %d has no name", i);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status split_reshape(op_context *ctx)
{
    const axis_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *sizes_in = op_input(ctx, 1);
    int axis;
    onyx_status st = op_axis(ctx, "axis", p->axis, x->rank, &axis);
    if (st)
        return st;
    const int64_t *sizes = p->n_split > 0 ? p->split : NULL;
    int64_t n_sizes = p->n_split;
    if (sizes_in && values_unknown(sizes_in)) {
        /* Computed sizes: each output has the input's shape but for the axis, until known. */
        for (int i = 0; i < ctx->n_outputs; i++) {
            tensor_set_shape(op_output(ctx, i), x->rank, x->dims);
            op_output(ctx, i)->dims[axis] = DIM_UNKNOWN;
        }
        return ONYX_OK;
    }
    if (sizes_in) {
        sizes = sizes_in->data;
        n_sizes = tensor_count(sizes_in);
    }
    int64_t len = x->dims[axis], total = 0;
    if (sizes) {
        if (n_sizes != ctx->n_outputs)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "split has %lld sizes for %d outputs", (long long)n_sizes,
                            ctx->n_outputs);
        for (int64_t i = 0; i < n_sizes; i++)
            if (sizes[i] < 0 || __builtin_add_overflow(total, sizes[i], &total))
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "split size %lld is out of range", (long long)sizes[i]);
        if (dim_known(len) && total != len)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "split sizes add up to %lld, the axis has %lld",
                            (long long)total, (long long)len);
    } else if (dim_known(len) && len % ctx->n_outputs) {
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis of %lld cannot be split equally in %d", (long long)len,
                        ctx->n_outputs);
    }
    for (int i = 0; i < ctx->n_outputs; i++) {
        onyx_tensor *y = op_output(ctx, i);
        tensor_set_shape(y, x->rank, x->dims);
        y->dims[axis] = sizes ? sizes[i] : dim_known(len) ? len / ctx->n_outputs : DIM_UNKNOWN;
    }
    return ctx->concrete ? axis_state_init(ctx, x, axis) : ONYX_OK;
}

static onyx_status split_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const axis_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[0];
    size_t row = (size_t)(x->dims[s->axis] * s->inner) * s->elem;
    for (int64_t o = begin; o < end; o++) {
        const char *src = (const char *)x->data + (size_t)o * row;
        for (int i = 0; i < ctx->n_outputs; i++) {
            onyx_tensor *y = ctx->outputs[i];
            size_t block = (size_t)(y->dims[s->axis] * s->inner) * s->elem;
            if (block)
                memcpy((char *)y->data + (size_t)o * block, src, block);
            src += block;
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Split = {split_check, split_reshape, split_run, 0};
