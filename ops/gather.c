/* Gather: picks slices of `data` along `axis` by index (negative indices count from the
 * end). An index out of range is an error at run time, never a read outside the data. */
#include "op.h"

#include <string.h>

typedef struct gather_params {
    int64_t axis;
} gather_params;

typedef struct gather_state {
    int64_t outer, len, inner, n_indices;
    size_t elem;
} gather_state;

static onyx_status gather_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT32) | DT(INT64));
    gather_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "axis", 0, &p->axis)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status gather_reshape(op_context *ctx)
{
    const gather_params *p = ctx->params;
    const onyx_tensor *data = op_input(ctx, 0), *indices = op_input(ctx, 1);
    onyx_tensor *y = op_output(ctx, 0);
    int axis;
    onyx_status st = op_axis(ctx, "axis", p->axis, data->rank, &axis);
    if (st)
        return st;
    int rank = data->rank - 1 + indices->rank;
    if (rank > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "output rank %d is above %d", rank, ONYX_MAX_RANK);
    int r = 0;
    for (int i = 0; i < axis; i++)
        y->dims[r++] = data->dims[i];
    for (int i = 0; i < indices->rank; i++)
        y->dims[r++] = indices->dims[i];
    for (int i = axis + 1; i < data->rank; i++)
        y->dims[r++] = data->dims[i];
    y->rank = rank;
    if (!ctx->concrete)
        return ONYX_OK;
    gather_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    shape_split(data, axis, &s->outer, &s->len, &s->inner);
    s->n_indices = tensor_count(indices);
    s->elem = onyx_dtype_size(data->dtype);
    ctx->state = s;
    ctx->n_tasks = s->outer * s->n_indices;
    ctx->task_cost = s->inner;
    return ONYX_OK;
}

static onyx_status gather_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const gather_state *s = ctx->state;
    const onyx_tensor *data = ctx->inputs[0], *indices = ctx->inputs[1];
    size_t block = (size_t)s->inner * s->elem;
    for (int64_t t = begin; t < end; t++) {
        int64_t o = t / s->n_indices, j = t % s->n_indices;
        int64_t idx = tensor_int_at(indices, j);
        if (idx < -s->len || idx >= s->len)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "index %lld is out of range for an axis of %lld", (long long)idx,
                            (long long)s->len);
        if (idx < 0)
            idx += s->len;
        if (block)
            memcpy((char *)ctx->outputs[0]->data + (size_t)t * block,
                   (const char *)data->data + (size_t)(o * s->len + idx) * block, block);
    }
    return ONYX_OK;
}

const op_descriptor op_Gather = {gather_check, gather_reshape, gather_run, 0};
