/* Pad: grows (or, with negative pads, crops) each axis, filling the new places by mode:
 * constant (a value), edge (the nearest element) or reflect (mirrored about the edge
 * element, as numpy.pad). The pads and the constant value are inputs from opset 11, the
 * attributes `pads` (`paddings` in opset 1) and `value` before. A task fills one output row. */
#include "op.h"
#include "scalar.h"
#include "shape_input.h"
#include "strided_copy.h"

#include <string.h>

typedef enum pad_mode { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT } pad_mode;

typedef struct pad_params {
    pad_mode mode;
    const int64_t *pads; /* before opset 11: the attribute */
    int64_t n_pads;
    unsigned char value[16]; /* the fill without a constant_value input: the value attribute
                                (before opset 11) or 0, in the input's dtype */
} pad_params;

typedef struct pad_state {
    int rank;
    int64_t begin[ONYX_MAX_RANK];     /* pad before each axis (negative: cropped) */
    int64_t in_dims[ONYX_MAX_RANK];
    int64_t out_dims[ONYX_MAX_RANK];
    int64_t in_strides[ONYX_MAX_RANK];
    int64_t rows;                     /* output elements / the last dim */
    size_t elem;
} pad_state;

static onyx_status pad_check(op_context *ctx)
{
    bool pad_inputs = ctx->opset >= 11;
    onyx_status st = op_check_arity(ctx, pad_inputs ? 2 : 1, pad_inputs ? 3 : 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st && pad_inputs)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (!st && pad_inputs)
        st = op_check_same_dtype(ctx, 0, 2);
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
    else
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "mode '%s' is not one of constant, edge, reflect", mode);
    onyx_dtype dtype = op_input(ctx, 0)->dtype;
    scalar_store(p->value, 0, dtype, value);
    ctx->params = p;
    op_set_output_dtypes(ctx, dtype);
    return ONYX_OK;
}

/* The pads: [begin of each axis..., end of each axis...]. ONYX_DEFER when not known yet. */
static onyx_status pad_amounts(const op_context *ctx, int64_t *pads, int64_t *n)
{
    const pad_params *p = ctx->params;
    if (ctx->opset >= 11)
        return shape_input_read(ctx, 1, pads, 2 * ONYX_MAX_RANK, n);
    if (p->n_pads > 2 * ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'pads' has %lld values", (long long)p->n_pads);
    memcpy(pads, p->pads, (size_t)p->n_pads * sizeof *pads);
    *n = p->n_pads;
    return ONYX_OK;
}

static onyx_status pad_reshape(op_context *ctx)
{
    const pad_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *value = op_input(ctx, 2);
    onyx_tensor *y = op_output(ctx, 0);
    int rank = x->rank;
    int64_t pads[2 * ONYX_MAX_RANK], n;
    tensor_set_shape(y, rank, x->dims);
    onyx_status st = pad_amounts(ctx, pads, &n);
    if (st == ONYX_DEFER) {
        for (int i = 0; i < rank; i++)
            y->dims[i] = DIM_UNKNOWN; /* the rank is known, the dims are not */
        return ctx->concrete ? ONYX_DEFER : ONYX_OK;
    }
    if (st)
        return st;
    if (n != 2 * rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "pads has %lld values for an input of rank %d", (long long)n,
                        rank);
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
        if (p->mode != PAD_CONSTANT && d == 0 && y->dims[i] > 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d is empty: there is no edge to pad it from", i);
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
    s->in_dims[0] = s->out_dims[0] = s->in_strides[0] = 1;
    memcpy(s->begin, pads, (size_t)rank * sizeof *pads);
    memcpy(s->in_dims, x->dims, (size_t)rank * sizeof *x->dims);
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

/* The input index that output index o of an axis (of n input elements, padded by `begin`
 * before) takes its value from; -1 for the constant. */
static int64_t pad_source(pad_mode mode, int64_t o, int64_t begin, int64_t n)
{
    int64_t i = o - begin;
    if (i >= 0 && i < n)
        return i;
    if (mode == PAD_CONSTANT)
        return -1;
    if (mode == PAD_EDGE || n == 1)
        return i < 0 ? 0 : n - 1;
    /* Reflect: the index folded into one period of the mirrored sequence 0..n-1..1. */
    int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
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
    int64_t inner = s->out_dims[last], pad = s->begin[last], n = s->in_dims[last];
    for (int64_t row = begin; row < end; row++) {
        char *dst = (char *)ctx->outputs[0]->data + (size_t)(row * inner) * elem;
        /* The input row this row reads: none when one of its outer indices is in a constant pad. */
        int64_t offset = 0, rest = row;
        bool constant_row = false;
        for (int d = last - 1; d >= 0; d--) {
            int64_t i = pad_source(p->mode, rest % s->out_dims[d], s->begin[d], s->in_dims[d]);
            rest /= s->out_dims[d];
            constant_row |= i < 0;
            offset += i * s->in_strides[d];
        }
        /* Output [first, stop) is one run of the input, copied at once; the rest one by one. */
        int64_t first = constant_row ? 0 : OP_MIN(OP_MAX(pad, 0), inner);
        int64_t stop = constant_row ? 0 : OP_MAX(first, OP_MIN(inner, pad + n));
        if (stop > first)
            memcpy(dst + (size_t)first * elem, x + (size_t)(offset + first - pad) * elem, (size_t)(stop - first) * elem);
        for (int64_t o = 0; o < inner; o++) {
            if (o == first && stop > first) {
                o = stop - 1; /* copied above */
                continue;
            }
            int64_t i = constant_row ? -1 : pad_source(p->mode, o, pad, n);
            memcpy(dst + (size_t)o * elem, i < 0 ? fill : x + (size_t)(offset + i) * elem, elem);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Pad = {pad_check, pad_reshape, pad_run, 0};
