/* CenterCropPad: each listed axis (`axes`, by default all) cropped or padded with zeros to the
 * length the `shape` input gives it, centred: a crop starts at floor((dim - len) / 2), a pad
 * puts floor((len - dim) / 2) zeros before and the rest (one more when odd) after. It is Pad
 * with constant 0 and pads from the centring (negative ones cropping): Pad's row copies
 * (kernels/pad_rows) run it. */
#include "op.h"
#include "pad_rows.h"
#include "shape_input.h"

typedef struct center_crop_pad_params {
    const int64_t *axes; /* NULL: all axes */
    int64_t n_axes;
} center_crop_pad_params;

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
    /* Centring as pads: a crop starts at floor((dim - len) / 2), a pad puts floor((len - dim) / 2)
     * zeros before; the rest of the difference goes after. */
    int64_t pads[2 * ONYX_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        int64_t in = x->dims[d], out = y->dims[d];
        pads[d] = out >= in ? (out - in) / 2 : -((in - out) / 2);
        pads[rank + d] = out - in - pads[d];
    }
    return pad_rows_plan(ctx, PAD_CONSTANT, x, y, pads);
}

static onyx_status center_crop_pad_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    static const unsigned char zero[16]; /* one element of any dtype */
    pad_rows_run(ctx->state, ctx->inputs[0]->data, ctx->outputs[0]->data, zero, begin, end);
    return ONYX_OK;
}

const op_descriptor op_CenterCropPad = {center_crop_pad_check, center_crop_pad_reshape, center_crop_pad_run,
                                        0};
