/* CenterCropPad: each listed axis (`axes`, by default all) cropped or padded with zeros to the
 * length the `shape` input gives it, centred: a crop starts at floor((dim - len) / 2), a pad
 * puts floor((len - dim) / 2) zeros before and the rest (one more when odd) after. It is Pad
 * with constant 0 and pads from the centring (negative ones cropping); a task fills one
 * output row. */
#include "op.h"
#include "shape_input.h"
#include "strided_copy.h"

#include <string.h>

typedef struct center_crop_pad_params {
    const int64_t *axes; /* NULL: all axes */
    int64_t n_axes;
} center_crop_pad_params;

typedef struct center_crop_pad_state {
    int rank;
    int64_t begin[ONYX_MAX_RANK]; /* output index - input index along each axis */
    int64_t in_dims[ONYX_MAX_RANK];
    int64_t out_dims[ONYX_MAX_RANK];
    int64_t in_strides[ONYX_MAX_RANK];
    int64_t rows; /* output elements / the last dim */
    size_t elem;
} center_crop_pad_state;

static onyx_status center_crop_pad_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT32) | DT(INT64));
    center_crop_pad_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_ints(ctx, "axes", &p->axes, &p->n_axes)))
        return st;
    if (p->n_axes < 0)
        p->axes = NULL;
    if (p->n_axes > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'axes' has %lld values",
                        (long long)p->n_axes);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status center_crop_pad_reshape(op_context *ctx)
{
    const center_crop_pad_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    int rank = x->rank;
    /* The axes, normalized and each listed once. */
    int axes[ONYX_MAX_RANK], n_axes = p->axes ? (int)p->n_axes : rank;
    bool seen[ONYX_MAX_RANK] = {false};
    onyx_status st;
    for (int i = 0; i < n_axes; i++) {
        if (!p->axes)
            axes[i] = i;
        else if ((st = op_axis(ctx, "axes", p->axes[i], rank, &axes[i])))
            return st;
        if (seen[axes[i]])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'axes' lists axis %d twice", axes[i]);
        seen[axes[i]] = true;
    }
    tensor_set_shape(y, rank, x->dims);
    int64_t lens[ONYX_MAX_RANK], n;
    st = shape_input_read(ctx, 1, lens, ONYX_MAX_RANK, &n);
    if (st == ONYX_DEFER) {
        for (int i = 0; i < n_axes; i++)
            y->dims[axes[i]] = DIM_UNKNOWN; /* the rank is known, the cropped or padded dims are not */
        return ctx->concrete ? ONYX_DEFER : ONYX_OK;
    }
    if (st)
        return st;
    if (n != n_axes)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "shape '%s' has %lld values for %d axes",
                        op_input_name(ctx, 1), (long long)n, n_axes);
    for (int i = 0; i < n_axes; i++) {
        if (lens[i] < 0)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "shape '%s' gives axis %d the length %lld",
                            op_input_name(ctx, 1), axes[i], (long long)lens[i]);
        y->dims[axes[i]] = lens[i];
    }
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = op_check_shape(ctx, rank, y->dims, "output")))
        return st;
    center_crop_pad_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    /* A scalar has no axes to change: a vector of one element. */
    s->rank = rank ? rank : 1;
    s->in_dims[0] = s->out_dims[0] = s->in_strides[0] = 1;
    memcpy(s->in_dims, x->dims, (size_t)rank * sizeof *x->dims);
    memcpy(s->out_dims, y->dims, (size_t)rank * sizeof *y->dims);
    strides_of(x, s->in_strides);
    for (int d = 0; d < s->rank; d++) {
        int64_t in = s->in_dims[d], out = s->out_dims[d];
        s->begin[d] = out >= in ? (out - in) / 2 : -((in - out) / 2);
    }
    s->elem = onyx_dtype_size(x->dtype);
    int64_t inner = s->out_dims[s->rank - 1];
    s->rows = inner ? tensor_count(y) / inner : 0;
    ctx->state = s;
    ctx->n_tasks = s->rows;
    ctx->task_cost = inner;
    return ONYX_OK;
}

static onyx_status center_crop_pad_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const center_crop_pad_state *s = ctx->state;
    const char *x = ctx->inputs[0]->data;
    size_t elem = s->elem;
    int last = s->rank - 1;
    int64_t inner = s->out_dims[last], shift = s->begin[last], n = s->in_dims[last];
    for (int64_t row = begin; row < end; row++) {
        char *dst = (char *)ctx->outputs[0]->data + (size_t)(row * inner) * elem;
        /* The input row this row reads: none when one of its outer indices is in the padding. */
        int64_t offset = 0, rest = row;
        bool zero_row = false;
        for (int d = last - 1; d >= 0; d--) {
            int64_t i = rest % s->out_dims[d] - s->begin[d];
            rest /= s->out_dims[d];
            zero_row |= i < 0 || i >= s->in_dims[d];
            offset += i * s->in_strides[d];
        }
        /* Output [first, stop) is input [first - shift, stop - shift); zeros around it. */
        int64_t first = zero_row ? 0 : OP_MIN(OP_MAX(shift, 0), inner);
        int64_t stop = zero_row ? 0 : OP_MAX(first, OP_MIN(inner, shift + n));
        memset(dst, 0, (size_t)first * elem);
        if (stop > first)
            memcpy(dst + (size_t)first * elem, x + (size_t)(offset + first - shift) * elem,
                   (size_t)(stop - first) * elem);
        memset(dst + (size_t)stop * elem, 0, (size_t)(inner - stop) * elem);
    }
    return ONYX_OK;
}

const op_descriptor op_CenterCropPad = {center_crop_pad_check, center_crop_pad_reshape, center_crop_pad_run,
                                        0};
