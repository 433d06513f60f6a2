/* Selections whose size is in the data: NonZero (the coordinates of the non-zero elements)
 * and Compress (the slices where a condition holds). Their output shapes need the values
 * they count; until those are known the output size is unknown, and the runtime runs the
 * graph node by node (see ONYX_DEFER). */
#include "checks.h"
#include "op.h"
#include "shape_input.h"

#include <string.h>

/* ---- NonZero ----------------------------------------------------------------------------- */

/* Floating-point zeros are +0 and -0 (NaN is non-zero): every bit but the sign clear. */
static bool element_nonzero(const onyx_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ONYX_DTYPE_FLOAT: return ((const float *)t->data)[i] != 0;
    case ONYX_DTYPE_DOUBLE: return ((const double *)t->data)[i] != 0;
    case ONYX_DTYPE_FLOAT16: case ONYX_DTYPE_BFLOAT16: return ((const uint16_t *)t->data)[i] & 0x7fff;
    default: break;
    }
    switch (onyx_dtype_size(t->dtype)) {
    case 1: return ((const uint8_t *)t->data)[i];
    case 2: return ((const uint16_t *)t->data)[i];
    case 4: return ((const uint32_t *)t->data)[i];
    default: return ((const uint64_t *)t->data)[i];
    }
}

static onyx_status nonzero_check(op_context *ctx) { return check_one_input(ctx, DT_ALL, ONYX_DTYPE_INT64); }

static onyx_status nonzero_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    y->rank = 2;
    y->dims[0] = x->rank; /* a scalar gives [0, N], as the spec says (numpy would give [1, N]) */
    y->dims[1] = DIM_UNKNOWN;
    if (values_unknown(x))
        return ONYX_OK;
    int64_t n = tensor_count(x), nonzero = 0;
    for (int64_t i = 0; i < n; i++)
        nonzero += element_nonzero(x, i);
    y->dims[1] = nonzero;
    return ONYX_OK;
}

static onyx_status nonzero_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    int64_t *out = y->data, nonzero = y->dims[1], n = tensor_count(x), found = 0;
    int64_t coords[ONYX_MAX_RANK] = {0};
    for (int64_t i = 0; i < n; i++) {
        if (element_nonzero(x, i)) {
            for (int d = 0; d < x->rank; d++)
                out[d * nonzero + found] = coords[d];
            found++;
        }
        for (int d = x->rank - 1; d >= 0 && ++coords[d] == x->dims[d]; d--)
            coords[d] = 0;
    }
    return ONYX_OK;
}

const op_descriptor op_NonZero = {nonzero_check, nonzero_reshape, nonzero_run, 0};

/* ---- Compress ---------------------------------------------------------------------------- */

typedef struct compress_params {
    bool flatten; /* no axis: select elements of the flattened input */
    int64_t axis;
} compress_params;

typedef struct compress_state {
    int64_t outer, len, inner; /* input split around the axis */
    int64_t selected;          /* slices kept */
    size_t elem;
} compress_state;

static onyx_status compress_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(BOOL));
    compress_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    p->flatten = !op_has_attr(ctx, "axis");
    if ((st = op_attr_int(ctx, "axis", 0, &p->axis)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status compress_reshape(op_context *ctx)
{
    const compress_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *condition = op_input(ctx, 1);
    onyx_tensor *y = op_output(ctx, 0);
    int axis = 0;
    onyx_status st = p->flatten ? ONYX_OK : op_axis(ctx, "axis", p->axis, x->rank, &axis);
    if (st)
        return st;
    if (condition->rank != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "condition must be 1-D, got rank %d", condition->rank);
    if (p->flatten)
        tensor_set_shape(y, 1, (int64_t[]){DIM_UNKNOWN});
    else
        tensor_set_shape(y, x->rank, x->dims);
    y->dims[axis] = DIM_UNKNOWN;
    if (values_unknown(condition))
        return ONYX_OK;
    /* As numpy.compress: a condition shorter than the axis selects among its first entries;
     * one that is longer may not select beyond the axis. */
    int64_t len = p->flatten ? 1 : x->dims[axis];
    for (int d = 0; p->flatten && d < x->rank; d++)
        len = dim_mul(len, x->dims[d]);
    int64_t selected = 0;
    const uint8_t *c = condition->data;
    for (int64_t i = 0; i < condition->dims[0]; i++) {
        if (!c[i])
            continue;
        if (dim_known(len) && i >= len)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "condition selects index %lld, beyond the axis of %lld",
                            (long long)i, (long long)len);
        selected++;
    }
    y->dims[axis] = selected;
    if (!ctx->concrete)
        return ONYX_OK;
    compress_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (p->flatten)
        s->outer = 1, s->len = len, s->inner = 1;
    else
        shape_split(x, axis, &s->outer, &s->len, &s->inner);
    s->selected = selected;
    s->elem = onyx_dtype_size(x->dtype);
    ctx->state = s;
    ctx->n_tasks = s->outer;
    ctx->task_cost = selected * s->inner;
    return ONYX_OK;
}

static onyx_status compress_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const compress_state *s = ctx->state;
    const uint8_t *c = ctx->inputs[1]->data;
    int64_t n = OP_MIN(ctx->inputs[1]->dims[0], s->len);
    size_t block = (size_t)s->inner * s->elem;
    for (int64_t o = begin; o < end && block; o++) {
        const char *src = (const char *)ctx->inputs[0]->data + (size_t)(o * s->len) * block;
        char *dst = (char *)ctx->outputs[0]->data + (size_t)(o * s->selected) * block;
        for (int64_t i = 0; i < n; i++)
            if (c[i]) {
                memcpy(dst, src + (size_t)i * block, block);
                dst += block;
            }
    }
    return ONYX_OK;
}

const op_descriptor op_Compress = {compress_check, compress_reshape, compress_run, 0};
