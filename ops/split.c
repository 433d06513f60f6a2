/* Split: cuts the input along one axis into consecutive parts, one per output. The sizes of
 * the parts come from the `split` attribute (before opset 13) or input (from 13); without
 * them the axis is cut equally, which must then divide it, or, from opset 18, into
 * `num_outputs` parts of ceil(length / num_outputs) with a smaller last one. A task copies,
 * for one index of the axes before `axis`, one contiguous block into each output. */
#include "op.h"
#include "shape_input.h"

#include <string.h>

typedef struct split_params {
    int64_t axis;
    const int64_t *split; /* before opset 13: sizes from the attribute, or NULL */
    int64_t n_split;
    bool uneven;          /* from opset 18, num_outputs given: the last part may be smaller */
} split_params;

typedef struct split_state {
    int axis;
    int64_t inner; /* product of the dims after the axis */
    size_t elem;
} split_state;

static onyx_status split_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, ctx->opset >= 13 ? 2 : 1, 1, 1 << 20);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st && ctx->opset >= 13)
        st = op_check_input(ctx, 1, false, DT(INT64));
    split_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "axis", 0, &p->axis)))
        return st;
    if (ctx->opset < 13 && (st = op_attr_ints(ctx, "split", &p->split, &p->n_split)))
        return st;
    if (ctx->opset >= 18 && op_has_attr(ctx, "num_outputs")) {
        int64_t n;
        if ((st = op_attr_int(ctx, "num_outputs", 0, &n)))
            return st;
        if (n != ctx->n_outputs)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'num_outputs' is %lld with %d outputs",
                            (long long)n, ctx->n_outputs);
        if (op_input(ctx, 1))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "takes either the input 'split' or the attribute 'num_outputs', not both");
        p->uneven = true;
    }
    /* Neither split nor num_outputs at opset 18 is outside the specification; onyx cuts
     * equally by the output count then, as before 18 (and as onnxruntime does). */
    for (int i = 0; i < ctx->n_outputs; i++)
        if (!ctx->outputs[i])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "output %d has no name", i);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

/* The length of output i when the axis of `len` (known) is cut without given sizes into n
 * parts; -1 when it cannot be. */
static int64_t split_part(bool uneven, int64_t len, int n, int i)
{
    if (!uneven)
        return len % n ? -1 : len / n;
    int64_t chunk = len / n + (len % n != 0);
    /* The parts before the last are `chunk` long; the last takes the rest, which is negative
     * when the chunks overrun the axis (a length of 5 in 4 parts of 2). */
    return i < n - 1 ? chunk : len - chunk * (n - 1);
}

/* Gives every output the input's shape but an unknown length on the axis. */
static void split_unknown_parts(op_context *ctx, const onyx_tensor *x, int axis)
{
    for (int i = 0; i < ctx->n_outputs; i++) {
        tensor_set_shape(op_output(ctx, i), x->rank, x->dims);
        op_output(ctx, i)->dims[axis] = DIM_UNKNOWN;
    }
}

static onyx_status split_reshape(op_context *ctx)
{
    const split_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *sizes_in = op_input(ctx, 1);
    int axis;
    onyx_status st = op_axis(ctx, "axis", p->axis, x->rank, &axis);
    if (st)
        return st;
    const int64_t *sizes = p->n_split > 0 ? p->split : NULL;
    int64_t n_sizes = p->n_split;
    if (sizes_in && values_unknown(sizes_in)) {
        split_unknown_parts(ctx, x, axis); /* computed sizes, not known yet */
        return ctx->concrete ? ONYX_DEFER : ONYX_OK;
    }
    if (sizes_in) {
        if (sizes_in->rank != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input 'split' must be 1-D, got rank %d",
                            sizes_in->rank);
        sizes = sizes_in->data;
        n_sizes = tensor_count(sizes_in);
    }
    int64_t len = x->dims[axis], total = 0;
    if (sizes) {
        if (n_sizes != ctx->n_outputs)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "split has %lld sizes for %d outputs",
                            (long long)n_sizes, ctx->n_outputs);
        for (int64_t i = 0; i < n_sizes; i++)
            if (sizes[i] < 0 || __builtin_add_overflow(total, sizes[i], &total))
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "split size %lld is out of range",
                                (long long)sizes[i]);
        if (dim_known(len) && total != len)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "split sizes add up to %lld, the axis has %lld",
                            (long long)total, (long long)len);
    } else if (dim_known(len) && split_part(p->uneven, len, ctx->n_outputs, ctx->n_outputs - 1) < 0) {
        /* At load this may be a branch of an If that never runs (the expanded AffineGrid
         * splits a shape of 3 or 4 dims both ways, as ONNX's inference allows): the parts
         * stay unknown then, and only planning the node is an error. */
        if (!ctx->concrete) {
            split_unknown_parts(ctx, x, axis);
            return ONYX_OK;
        }
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis of %lld cannot be split %s in %d",
                        (long long)len, p->uneven ? "into equal parts and a smaller last one" : "equally",
                        ctx->n_outputs);
    }
    for (int i = 0; i < ctx->n_outputs; i++) {
        onyx_tensor *y = op_output(ctx, i);
        tensor_set_shape(y, x->rank, x->dims);
        y->dims[axis] = sizes             ? sizes[i]
                        : dim_known(len) ? split_part(p->uneven, len, ctx->n_outputs, i)
                                         : DIM_UNKNOWN;
    }
    if (!ctx->concrete)
        return ONYX_OK;
    split_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t outer;
    s->axis = axis;
    shape_split(x, axis, &outer, &len, &s->inner);
    s->elem = onyx_dtype_size(x->dtype);
    ctx->state = s;
    ctx->n_tasks = outer;
    ctx->task_cost = len * s->inner;
    return ONYX_OK;
}

static onyx_status split_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const split_state *s = ctx->state;
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
