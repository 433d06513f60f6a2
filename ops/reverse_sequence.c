/* ReverseSequence: for each batch entry b, reverses the first sequence_lens[b] steps along
 * the time axis and copies the rest. The batch and time axes are 0 and 1, in either order;
 * a task copies the block of the dims after them for one (batch, time) pair. */
#include "op.h"

#include <string.h>

typedef struct reverse_params {
    int batch_axis, time_axis;
} reverse_params;

typedef struct reverse_state {
    int64_t batch, time, block; /* block: elements after the first two axes */
} reverse_state;

static onyx_status reverse_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT64));
    int64_t batch_axis, time_axis;
    if (!st)
        st = op_attr_int(ctx, "batch_axis", 1, &batch_axis);
    if (!st)
        st = op_attr_int(ctx, "time_axis", 0, &time_axis);
    if (st)
        return st;
    if ((batch_axis != 0 && batch_axis != 1) || time_axis != 1 - batch_axis)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "batch_axis (%lld) and time_axis (%lld) must be 0 and 1",
                        (long long)batch_axis, (long long)time_axis);
    reverse_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->batch_axis = (int)batch_axis;
    p->time_axis = (int)time_axis;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status reverse_reshape(op_context *ctx)
{
    const reverse_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *lens = op_input(ctx, 1);
    if (x->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input must have rank >= 2, got %d", x->rank);
    if (lens->rank != 1 || !dim_may_equal(lens->dims[0], x->dims[p->batch_axis])) {
        char a[128], b[128];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "sequence_lens %s must be 1-D with the batch size of input %s",
                        shape_str(lens, a, sizeof a), shape_str(x, b, sizeof b));
    }
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    reverse_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->batch = x->dims[p->batch_axis];
    s->time = x->dims[p->time_axis];
    s->block = shape_count(x->dims + 2, x->rank - 2);
    ctx->state = s;
    ctx->n_tasks = s->batch * s->time;
    ctx->task_cost = s->block;
    return ONYX_OK;
}

static onyx_status reverse_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const reverse_params *p = ctx->params;
    const reverse_state *s = ctx->state;
    const int64_t *lens = ctx->inputs[1]->data;
    size_t block = (size_t)s->block * onyx_dtype_size(ctx->inputs[0]->dtype);
    for (int64_t task = begin; task < end; task++) {
        int64_t b = task / s->time, t = task % s->time, len = lens[b];
        if (len < 0 || len > s->time)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b,
                            (long long)len, (long long)s->time);
        int64_t from = t < len ? len - 1 - t : t;
        /* Offsets of (b, t) and (b, from) in blocks: the batch axis first or second. */
        int64_t dst = p->batch_axis == 0 ? b * s->time + t : t * s->batch + b;
        int64_t src = p->batch_axis == 0 ? b * s->time + from : from * s->batch + b;
        if (block)
            memcpy((char *)ctx->outputs[0]->data + (size_t)dst * block,
                   (const char *)ctx->inputs[0]->data + (size_t)src * block, block);
    }
    return ONYX_OK;
}

const op_descriptor op_ReverseSequence = {reverse_check, reverse_reshape, reverse_run, 0};
