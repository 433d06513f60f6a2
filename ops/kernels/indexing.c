#include "indexing.h"
#include "strided_copy.h"

onyx_status index_error(const op_context *ctx, int64_t idx, int64_t len)
{
    return op_error(ctx, ONYX_ERROR_RUNTIME, "index %lld is out of range for an axis of %lld", (long long)idx,
                    (long long)len);
}

/* ---- GatherElements and ScatterElements -------------------------------------------------- */

onyx_status element_walk_check(const op_context *ctx, const onyx_tensor *data, const onyx_tensor *indices,
                               const onyx_tensor *updates, int64_t axis_attr, int *out)
{
    char a[128], b[128];
    int axis;
    onyx_status st = op_axis(ctx, "axis", axis_attr, data->rank, &axis);
    if (st)
        return st;
    *out = axis;
    if (indices->rank != data->rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "indices %s must have the rank of data %s",
                        shape_str(indices, a, sizeof a), shape_str(data, b, sizeof b));
    for (int d = 0; d < data->rank; d++)
        if (d != axis && dim_known(indices->dims[d]) && dim_known(data->dims[d]) && indices->dims[d] > data->dims[d])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "indices %s exceed data %s at axis %d",
                            shape_str(indices, a, sizeof a), shape_str(data, b, sizeof b), d);
    bool same = !updates || updates->rank == indices->rank;
    for (int d = 0; same && updates && d < updates->rank; d++)
        same = dim_may_equal(updates->dims[d], indices->dims[d]);
    if (!same)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "updates %s must have the shape of indices %s",
                        shape_str(updates, a, sizeof a), shape_str(indices, b, sizeof b));
    return ONYX_OK;
}

element_walk *element_walk_plan(op_context *ctx, const onyx_tensor *data, const onyx_tensor *indices, int axis)
{
    element_walk *w = op_alloc_state(ctx, sizeof *w);
    if (!w)
        return NULL;
    w->rank = indices->rank;
    w->axis = axis;
    for (int d = 0; d < w->rank; d++)
        w->dims[d] = indices->dims[d];
    strides_of(data, w->data_strides);
    w->len = data->dims[axis];
    w->inner = w->dims[w->rank - 1];
    w->inner_step = axis == w->rank - 1 ? 0 : w->data_strides[w->rank - 1];
    w->rows = w->inner ? tensor_count(indices) / w->inner : 0;
    ctx->state = w;
    return w;
}

int64_t element_walk_row(const element_walk *w, int64_t row)
{
    int64_t offset = 0;
    for (int d = w->rank - 2; d >= 0 && row; d--) {
        if (d != w->axis)
            offset += (row % w->dims[d]) * w->data_strides[d];
        row /= w->dims[d];
    }
    return offset;
}

/* ---- GatherND and ScatterND -------------------------------------------------------------- */

onyx_status nd_walk_shape(const op_context *ctx, const onyx_tensor *data, const onyx_tensor *indices,
                          int batch_dims, onyx_tensor *out)
{
    char a[128], b[128];
    shape_str(data, a, sizeof a);
    shape_str(indices, b, sizeof b);
    if (data->rank < 1 || indices->rank < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "data %s and indices %s must have rank >= 1", a, b);
    if (batch_dims < 0 || batch_dims >= OP_MIN(data->rank, indices->rank))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "batch_dims %d must be below the ranks of data %s and indices %s",
                        batch_dims, a, b);
    for (int d = 0; d < batch_dims; d++)
        if (!dim_may_equal(data->dims[d], indices->dims[d]))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "data %s and indices %s differ in batch dim %d", a, b, d);
    int64_t depth = indices->dims[indices->rank - 1];
    if (!dim_known(depth))
        return ONYX_DEFER; /* the output's rank depends on it */
    if (depth < 1 || depth > data->rank - batch_dims)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "indices %s: a tuple of %lld indices into data %s after %d batch dims",
                        b, (long long)depth, a, batch_dims);
    int rank = indices->rank - 1 + data->rank - batch_dims - (int)depth;
    if (rank > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "output rank %d is above %d", rank, ONYX_MAX_RANK);
    int r = 0;
    for (int d = 0; d < indices->rank - 1; d++)
        out->dims[r++] = d < batch_dims && !dim_known(indices->dims[d]) ? data->dims[d] : indices->dims[d];
    for (int d = batch_dims + (int)depth; d < data->rank; d++)
        out->dims[r++] = data->dims[d];
    out->rank = rank;
    return ONYX_OK;
}

nd_walk *nd_walk_plan(op_context *ctx, const onyx_tensor *data, const onyx_tensor *indices, int batch_dims)
{
    nd_walk *w = op_alloc_state(ctx, sizeof *w);
    if (!w)
        return NULL;
    int64_t strides[ONYX_MAX_RANK];
    strides_of(data, strides);
    w->depth = (int)indices->dims[indices->rank - 1];
    for (int t = 0; t < w->depth; t++) {
        w->dims[t] = data->dims[batch_dims + t];
        w->strides[t] = strides[batch_dims + t];
    }
    w->slice = shape_count(data->dims + batch_dims + w->depth, data->rank - batch_dims - w->depth);
    w->tuples = shape_count(indices->dims, indices->rank - 1);
    int64_t batches = shape_count(indices->dims, batch_dims);
    w->tuples_per_batch = batches ? w->tuples / batches : 0;
    w->batch_stride = shape_count(data->dims + batch_dims, data->rank - batch_dims);
    ctx->state = w;
    return w;
}

onyx_status nd_walk_offset(const op_context *ctx, const nd_walk *w, const onyx_tensor *indices, int64_t t,
                           int64_t *offset)
{
    *offset = (t / w->tuples_per_batch) * w->batch_stride;
    for (int k = 0; k < w->depth; k++) {
        int64_t idx = tensor_int_at(indices, t * w->depth + k);
        if (!index_normalize(&idx, w->dims[k]))
            return index_error(ctx, idx, w->dims[k]);
        *offset += idx * w->strides[k];
    }
    return ONYX_OK;
}
