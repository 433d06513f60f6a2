/* TensorScatter (opset 24): the KV-cache update. present_cache is past_cache with `update`
 * written along the sequence axis at write_indices[batch] (0 when absent) onward; in
 * "circular" mode positions wrap modulo the cache's length, in "linear" mode they must fit.
 * Each task is one index of the dims before the axis: it copies that block of the cache and
 * writes the update's rows into it. Bytes are copied, so every fixed-size dtype works. */
#include "op.h"

#include <string.h>

typedef struct scatter_params {
    int64_t axis;
    bool circular;
} scatter_params;

typedef struct scatter_state {
    int64_t outer, per_batch; /* blocks before the axis; blocks per batch entry */
    int64_t max_len, len;     /* the cache's and the update's sequence length */
    size_t row_bytes;         /* one position: the dims after the axis */
} scatter_state;

static onyx_status scatter_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 2, 2, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 2, false, DT(INT64));
    scatter_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    const char *mode;
    if ((st = op_attr_int(ctx, "axis", -2, &p->axis)) || (st = op_attr_string(ctx, "mode", "linear", &mode)))
        return st;
    if (strcmp(mode, "linear") && strcmp(mode, "circular"))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "mode must be \"linear\" or \"circular\", got \"%s\"",
                        mode);
    p->circular = !strcmp(mode, "circular");
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status scatter_reshape(op_context *ctx)
{
    const scatter_params *p = ctx->params;
    const onyx_tensor *past = op_input(ctx, 0), *update = op_input(ctx, 1), *idx = op_input(ctx, 2);
    char a[128], b[128];
    int axis;
    onyx_status st = op_axis(ctx, "axis", p->axis, past->rank, &axis);
    if (st)
        return st;
    if (axis == 0)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis must not be the batch dim 0");
    bool fits = update->rank == past->rank;
    for (int d = 0; fits && d < past->rank; d++)
        fits = d != axis ? dim_may_equal(update->dims[d], past->dims[d])
                         : !dim_known(update->dims[d]) || !dim_known(past->dims[d]) ||
                               update->dims[d] <= past->dims[d];
    if (!fits)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "update %s must have the cache's shape %s but a sequence dim (axis %d) no longer",
                        shape_str(update, a, sizeof a), shape_str(past, b, sizeof b), axis);
    if (idx && (idx->rank != 1 || !dim_may_equal(idx->dims[0], past->dims[0])))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "write_indices %s must be [batch size]",
                        shape_str(idx, a, sizeof a));
    tensor_set_shape(op_output(ctx, 0), past->rank, past->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    scatter_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->outer = shape_count(past->dims, axis);
    s->per_batch = past->dims[0] ? s->outer / past->dims[0] : 1;
    s->max_len = past->dims[axis];
    s->len = update->dims[axis];
    s->row_bytes = (size_t)shape_count(past->dims + axis + 1, past->rank - axis - 1);
    s->row_bytes *= onyx_dtype_size(past->dtype);
    ctx->state = s;
    ctx->n_tasks = s->max_len && s->row_bytes ? s->outer : 0;
    ctx->task_cost = (int64_t)((size_t)s->max_len * s->row_bytes);
    return ONYX_OK;
}

static onyx_status scatter_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const scatter_params *p = ctx->params;
    const scatter_state *s = ctx->state;
    const onyx_tensor *idx = op_input(ctx, 2);
    const char *past = ctx->inputs[0]->data, *update = ctx->inputs[1]->data;
    char *out = ctx->outputs[0]->data;
    size_t block = (size_t)s->max_len * s->row_bytes, update_block = (size_t)s->len * s->row_bytes;
    for (int64_t o = begin; o < end; o++) {
        int64_t start = idx ? ((const int64_t *)idx->data)[o / s->per_batch] : 0;
        if (!p->circular && (start < 0 || start > s->max_len - s->len))
            return op_error(ctx, ONYX_ERROR_RUNTIME,
                            "write index %lld with %lld positions to write does not fit the cache's %lld",
                            (long long)start, (long long)s->len, (long long)s->max_len);
        char *dst = out + (size_t)o * block;
        memcpy(dst, past + (size_t)o * block, block);
        const char *src = update + (size_t)o * update_block;
        if (!p->circular) {
            memcpy(dst + (size_t)start * s->row_bytes, src, update_block);
            continue;
        }
        /* Wraps as Python's %, which the reference uses: a negative index counts from the end. */
        int64_t at = start % s->max_len;
        if (at < 0)
            at += s->max_len;
        for (int64_t i = 0; i < s->len; i++, at = at + 1 == s->max_len ? 0 : at + 1)
            memcpy(dst + (size_t)at * s->row_bytes, src + (size_t)i * s->row_bytes, s->row_bytes);
    }
    return ONYX_OK;
}

const op_descriptor op_TensorScatter = {scatter_check, scatter_reshape, scatter_run, 0};
