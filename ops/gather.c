/* The gathers, which copy elements of `data` picked by indices (negative ones counting from
 * the end): Gather (slices along an axis), GatherElements (one element per index, along an
 * axis) and GatherND (slices picked by tuples of indices). An index out of range is an error
 * at run time, never a read outside the data. */
#include "indexing.h"
#include "op.h"

#include <string.h>

typedef struct gather_params {
    int64_t axis;       /* Gather, GatherElements */
    int64_t batch_dims; /* GatherND */
} gather_params;

/* data of any dtype, indices of `index_dtypes`: the params, for the check to fill in. */
static onyx_status gather_check_inputs(op_context *ctx, uint32_t index_dtypes, gather_params **params)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, index_dtypes);
    if (st)
        return st;
    if (!(*params = op_alloc_params(ctx, sizeof **params)))
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->params = *params;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status gather_axis_check(op_context *ctx)
{
    gather_params *p;
    onyx_status st = gather_check_inputs(ctx, DT(INT32) | DT(INT64), &p);
    return st ? st : op_attr_int(ctx, "axis", 0, &p->axis);
}

/* ---- Gather ------------------------------------------------------------------------------ */

typedef struct gather_state {
    int64_t outer, len, inner, n_indices;
    size_t elem;
} gather_state;

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
        int64_t o = t / s->n_indices, idx = tensor_int_at(indices, t % s->n_indices);
        if (!index_normalize(&idx, s->len))
            return index_error(ctx, idx, s->len);
        if (block)
            memcpy((char *)ctx->outputs[0]->data + (size_t)t * block,
                   (const char *)data->data + (size_t)(o * s->len + idx) * block, block);
    }
    return ONYX_OK;
}

const op_descriptor op_Gather = {gather_axis_check, gather_reshape, gather_run, 0};

/* ---- GatherElements ---------------------------------------------------------------------- */

static onyx_status gather_elements_reshape(op_context *ctx)
{
    const gather_params *p = ctx->params;
    const onyx_tensor *data = op_input(ctx, 0), *indices = op_input(ctx, 1);
    int axis;
    onyx_status st = element_walk_check(ctx, data, indices, NULL, p->axis, &axis);
    if (st)
        return st;
    tensor_set_shape(op_output(ctx, 0), indices->rank, indices->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    const element_walk *w = element_walk_plan(ctx, data, indices, axis);
    if (!w)
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->n_tasks = w->rows;
    ctx->task_cost = w->inner;
    return ONYX_OK;
}

static onyx_status gather_elements_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const element_walk *w = ctx->state;
    const onyx_tensor *data = ctx->inputs[0], *indices = ctx->inputs[1];
    size_t elem = onyx_dtype_size(data->dtype);
    int64_t axis_stride = w->data_strides[w->axis];
    for (int64_t row = begin; row < end; row++) {
        int64_t base = element_walk_row(w, row);
        for (int64_t k = 0; k < w->inner; k++) {
            int64_t j = row * w->inner + k, idx = tensor_int_at(indices, j);
            if (!index_normalize(&idx, w->len))
                return index_error(ctx, idx, w->len);
            memcpy((char *)ctx->outputs[0]->data + (size_t)j * elem,
                   (const char *)data->data + (size_t)(base + k * w->inner_step + idx * axis_stride) * elem, elem);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_GatherElements = {gather_axis_check, gather_elements_reshape, gather_elements_run, 0};

/* ---- GatherND ---------------------------------------------------------------------------- */

static onyx_status gather_nd_check(op_context *ctx)
{
    gather_params *p;
    onyx_status st = gather_check_inputs(ctx, DT(INT64), &p);
    if (!st && ctx->opset >= 12) /* batch_dims exists from opset 12 */
        st = op_attr_int(ctx, "batch_dims", 0, &p->batch_dims);
    return st;
}

static onyx_status gather_nd_reshape(op_context *ctx)
{
    const gather_params *p = ctx->params;
    const onyx_tensor *data = op_input(ctx, 0), *indices = op_input(ctx, 1);
    int batch_dims = (int)OP_MAX(-1, OP_MIN(p->batch_dims, ONYX_MAX_RANK)); /* range-checked below */
    onyx_status st = nd_walk_shape(ctx, data, indices, batch_dims, op_output(ctx, 0));
    if (st || !ctx->concrete)
        return st;
    const nd_walk *w = nd_walk_plan(ctx, data, indices, batch_dims);
    if (!w)
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->n_tasks = w->tuples;
    ctx->task_cost = w->slice;
    return ONYX_OK;
}

static onyx_status gather_nd_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const nd_walk *w = ctx->state;
    size_t elem = onyx_dtype_size(ctx->inputs[0]->dtype), block = (size_t)w->slice * elem;
    for (int64_t t = begin; t < end; t++) {
        int64_t offset;
        onyx_status st = nd_walk_offset(ctx, w, ctx->inputs[1], t, &offset);
        if (st)
            return st;
        if (block)
            memcpy((char *)ctx->outputs[0]->data + (size_t)t * block,
                   (const char *)ctx->inputs[0]->data + (size_t)offset * elem, block);
    }
    return ONYX_OK;
}

const op_descriptor op_GatherND = {gather_nd_check, gather_nd_reshape, gather_nd_run, 0};
