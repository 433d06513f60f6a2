/* Pad: grows (or, with negative pads, crops) each axis, filling the new places by mode:
 * constant (a value), edge (the nearest element), reflect (mirrored about the edge element,
 * as numpy.pad) or, from opset 19, wrap (the axis repeated, as if it were a ring). The pads
 * and the constant value are inputs from opset 11, the attributes `pads` (`paddings` in
 * opset 1) and `value` before; from opset 18 an `axes` input names the axes the pads are for
 * (the others are not padded). An axis is cropped first and then padded from what is left,
 * as onnxruntime does: edge, reflect and wrap read only the kept elements. A task fills one
 * output row. */
#include "op.h"
#include "scalar.h"
#include "shape_input.h"
#include "strided_copy.h"

#include <string.h>

typedef enum pad_mode { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT, PAD_WRAP } pad_mode;

typedef struct pad_params {
    pad_mode mode;
    const int64_t *pads; /* before opset 11: the attribute */
    int64_t n_pads;
    unsigned char value[16]; /* the fill without a constant_value input: the value attribute
                                (before opset 11) or 0, in the input's dtype */
} pad_params;

typedef struct pad_state {
    int rank;
    int64_t begin[ONYX_MAX_RANK];     /* output positions before the kept elements of each axis */
    int64_t kept_first[ONYX_MAX_RANK]; /* the first input index of each axis kept (after a crop) */
    int64_t kept[ONYX_MAX_RANK];      /* the input elements of each axis kept */
    int64_t out_dims[ONYX_MAX_RANK];
    int64_t in_strides[ONYX_MAX_RANK];
    int64_t rows;                     /* output elements / the last dim */
    size_t elem;
} pad_state;

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
    int64_t pads[2 * ONYX_MAX_RANK], kept[ONYX_MAX_RANK];
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
        kept[i] = OP_MAX(d - OP_MAX(-pads[i], 0) - OP_MAX(-pads[i + rank], 0), 0);
        if (p->mode != PAD_CONSTANT && kept[i] == 0 && y->dims[i] > 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d is empty%s: no edge to pad it from",
                            i, d ? " once cropped" : "");
    }
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = op_check_shape(ctx, rank, y->dims, "output")))
        return st;
    pad_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    /* A scalar is padded as a vector of one element (by nothing: it has no pads). */
    s->rank = rank ? rank : 1;
    s->kept[0] = s->out_dims[0] = s->in_strides[0] = 1;
    for (int i = 0; i < rank; i++) {
        s->begin[i] = OP_MAX(pads[i], 0);
        s->kept_first[i] = OP_MAX(-pads[i], 0);
        s->kept[i] = kept[i];
    }
    memcpy(s->out_dims, y->dims, (size_t)rank * sizeof *y->dims);
    strides_of(x, s->in_strides);
    s->elem = onyx_dtype_size(x->dtype);
    int64_t inner = s->out_dims[s->rank - 1];
    s->rows = inner ? tensor_count(y) / inner : 0;
    ctx->state = s;
    ctx->n_tasks = s->rows;
    ctx->task_cost = inner;
    return ONYX_OK;
}

/* The input index that output index o of axis d takes its value from; -1 for the constant. */
static int64_t pad_source(pad_mode mode, const pad_state *s, int d, int64_t o)
{
    int64_t i = o - s->begin[d], n = s->kept[d], first = s->kept_first[d];
    if (i >= 0 && i < n)
        return first + i;
    if (mode == PAD_CONSTANT)
        return -1;
    if (mode == PAD_EDGE || n == 1)
        return first + (i < 0 ? 0 : n - 1);
    /* Wrap: the index taken modulo the kept length. Reflect: folded into one period of the
     * mirrored sequence 0..n-1..1. */
    int64_t period = mode == PAD_WRAP ? n : 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return first + (i < n ? i : period - i);
}

static onyx_status pad_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const pad_params *p = ctx->params;
    const pad_state *s = ctx->state;
    const onyx_tensor *value = op_input(ctx, 2);
    const char *x = ctx->inputs[0]->data;
    const void *fill = value ? value->data : p->value;
    size_t elem = s->elem;
    int last = s->rank - 1;
    int64_t inner = s->out_dims[last], pad = s->begin[last], kept_first = s->kept_first[last];
    for (int64_t row = begin; row < end; row++) {
        char *dst = (char *)ctx->outputs[0]->data + (size_t)(row * inner) * elem;
        /* The input row this row reads: none when one of its outer indices is in a constant pad. */
        int64_t offset = 0, rest = row;
        bool constant_row = false;
        for (int d = last - 1; d >= 0; d--) {
            int64_t i = pad_source(p->mode, s, d, rest % s->out_dims[d]);
            rest /= s->out_dims[d];
            constant_row |= i < 0;
            offset += i * s->in_strides[d];
        }
        /* Output [first, stop) is one run of the input, copied at once; the rest one by one. */
        int64_t first = constant_row ? 0 : OP_MIN(pad, inner);
        int64_t stop = constant_row ? 0 : OP_MIN(inner, pad + s->kept[last]);
        if (stop > first)
            memcpy(dst + (size_t)first * elem, x + (size_t)(offset + kept_first) * elem,
                   (size_t)(stop - first) * elem);
        for (int64_t o = 0; o < inner; o++) {
            if (o == first && stop > first) {
                o = stop - 1; /* copied above */
                continue;
            }
            int64_t i = constant_row ? -1 : pad_source(p->mode, s, last, o);
            memcpy(dst + (size_t)o * elem, i < 0 ? fill : x + (size_t)(offset + i) * elem, elem);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Pad = {pad_check, pad_reshape, pad_run, 0};
