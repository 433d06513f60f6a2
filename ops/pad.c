/* Pad: grows (or, with negative pads, crops) each axis, filling the new places by mode:
 * constant (a value), edge (the nearest element), reflect (mirrored about the edge element,
 * as numpy.pad) or, from opset 19, wrap (the axis repeated, as if it were a ring). The pads
 * and the constant value are inputs from opset 11, the attributes `pads` (`paddings` in
 * opset 1) and `value` before; from opset 18 an `axes` input names the axes the pads are for
 * (the others are not padded). An axis is cropped first and then padded from what is left,
 * as onnxruntime does: edge, reflect and wrap read only the kept elements (kernels/pad_rows). */
#include "op.h"
#include "pad_rows.h"
#include "scalar.h"
#include "shape_input.h"

#include <string.h>

typedef struct pad_params {
    pad_mode mode;
    const int64_t *pads; /* before opset 11: the attribute */
    int64_t n_pads;
    unsigned char value[16]; /* the fill without a constant_value input: the value attribute
                                (before opset 11) or 0, in the input's dtype */
} pad_params;

static onyx_status pad_check(op_context *ctx)
{
    bool pad_inputs = ctx->opset >= 11;
    onyx_status st = op_check_arity(ctx, pad_inputs ? 2 : 1, ctx->opset >= 18 ? 4 : pad_inputs ? 3 : 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st && pad_inputs)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (!st && pad_inputs)
        st = op_check_same_dtype(ctx, 0, 2);
    if (!st && ctx->opset >= 18)
        st = op_check_input(ctx, 3, false, DT(INT32) | DT(INT64));
    const char *pads_name = ctx->opset >= 2 ? "pads" : "paddings", *mode = "constant";
    if (!st && !pad_inputs)
        st = op_attr_require(ctx, pads_name);
    pad_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    float value = 0;
    if ((st = op_attr_string(ctx, "mode", "constant", &mode)) ||
        (!pad_inputs && ((st = op_attr_ints(ctx, pads_name, &p->pads, &p->n_pads)) ||
                         (st = op_attr_float(ctx, "value", 0, &value)))))
        return st;
    if (!strcmp(mode, "constant"))
        p->mode = PAD_CONSTANT;
    else if (!strcmp(mode, "edge"))
        p->mode = PAD_EDGE;
    else if (!strcmp(mode, "reflect"))
        p->mode = PAD_REFLECT;
    else if (!strcmp(mode, "wrap") && ctx->opset >= 19)
        p->mode = PAD_WRAP;
    else
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "mode '%s' is not one of constant, edge, reflect%s",
                        mode, ctx->opset >= 19 ? ", wrap" : "");
    onyx_dtype dtype = op_input(ctx, 0)->dtype;
    scalar_store(p->value, 0, dtype, value);
    ctx->params = p;
    op_set_output_dtypes(ctx, dtype);
    return ONYX_OK;
}

/* The pads of every axis of a tensor of `rank`: [begin of each axis..., end of each
 * axis...]. ONYX_DEFER when they (or the axes they are for) are not known yet. */
static onyx_status pad_amounts(const op_context *ctx, int rank, int64_t *pads)
{
    const pad_params *p = ctx->params;
    int64_t given[2 * ONYX_MAX_RANK], n, axes[ONYX_MAX_RANK], n_axes = -1;
    onyx_status st = ONYX_OK;
    if (ctx->opset < 11) {
        if (p->n_pads > 2 * ONYX_MAX_RANK)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'pads' has %lld values",
                            (long long)p->n_pads);
        memcpy(given, p->pads, (size_t)p->n_pads * sizeof *given);
        n = p->n_pads;
    } else {
        /* An error in either input is reported even while the other is not known yet. */
        if ((st = shape_input_read(ctx, 1, given, 2 * ONYX_MAX_RANK, &n)) && st != ONYX_DEFER)
            return st;
        onyx_status axes_st = ONYX_OK;
        if (ctx->opset >= 18)
            axes_st = shape_input_read(ctx, 3, axes, ONYX_MAX_RANK, &n_axes);
        if (axes_st || st)
            return axes_st ? axes_st : st;
    }
    if (n_axes < 0) {
        if (n != 2 * rank)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "pads has %lld values for an input of rank %d",
                            (long long)n, rank);
        memcpy(pads, given, (size_t)n * sizeof *pads);
        return ONYX_OK;
    }
    if (n != 2 * n_axes)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "pads has %lld values for %lld axes", (long long)n,
                        (long long)n_axes);
    bool named[ONYX_MAX_RANK] = {false};
    memset(pads, 0, 2 * (size_t)rank * sizeof *pads);
    for (int64_t i = 0; i < n_axes; i++) {
        int axis;
        if ((st = op_axis(ctx, "axes", axes[i], rank, &axis)))
            return st;
        if (named[axis])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d is repeated in axes", axis);
        named[axis] = true;
        pads[axis] = given[i];
        pads[rank + axis] = given[n_axes + i];
    }
    return ONYX_OK;
}

static onyx_status pad_reshape(op_context *ctx)
{
    const pad_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *value = op_input(ctx, 2);
    onyx_tensor *y = op_output(ctx, 0);
    int rank = x->rank;
    int64_t pads[2 * ONYX_MAX_RANK];
    tensor_set_shape(y, rank, x->dims);
    onyx_status st = pad_amounts(ctx, rank, pads);
    if (st == ONYX_DEFER) {
        for (int i = 0; i < rank; i++)
            y->dims[i] = DIM_UNKNOWN; /* the rank is known, the dims are not */
        return ctx->concrete ? ONYX_DEFER : ONYX_OK;
    }
    if (st)
        return st;
    if (value && ctx->concrete && tensor_count(value) != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "constant_value must hold one element");
    for (int i = 0; i < rank; i++) {
        int64_t d = x->dims[i];
        if (!dim_known(d))
            continue;
        if (__builtin_add_overflow(d, pads[i], &y->dims[i]) ||
            __builtin_add_overflow(y->dims[i], pads[i + rank], &y->dims[i]) || y->dims[i] < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d of %lld padded by %lld and %lld is out of range", i,
                            (long long)d, (long long)pads[i], (long long)pads[i + rank]);
        /* What the crops leave; y->dims[i] >= 0 bounds the pads, so this cannot overflow. */
        int64_t kept = OP_MAX(d - OP_MAX(-pads[i], 0) - OP_MAX(-pads[i + rank], 0), 0);
        if (p->mode != PAD_CONSTANT && kept == 0 && y->dims[i] > 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d is empty%s: no edge to pad it from",
                            i, d ? " once cropped" : "");
    }
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = op_check_shape(ctx, rank, y->dims, "output")))
        return st;
    return pad_rows_plan(ctx, p->mode, x, y, pads);
}

static onyx_status pad_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const pad_params *p = ctx->params;
    const onyx_tensor *value = op_input(ctx, 2);
    pad_rows_run(ctx->state, ctx->inputs[0]->data, ctx->outputs[0]->data, value ? value->data : p->value, begin,
                 end);
    return ONYX_OK;
}

const op_descriptor op_Pad = {pad_check, pad_reshape, pad_run, 0};
