/* Slice: starts/ends/axes/steps as inputs (opset >= 10) or attributes (before), negative
 * values counting from the end and everything clamped as the spec says. */
#include "op.h"
#include "strided_copy.h"

static onyx_status slice_check(op_context *ctx)
{
    bool inputs = ctx->opset >= 10;
    onyx_status st = op_check_arity(ctx, inputs ? 3 : 1, inputs ? 5 : 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    for (int i = 1; i < 5 && !st && inputs; i++)
        st = op_check_input(ctx, i, i < 3, DT(INT32) | DT(INT64));
    if (!st && !inputs && !((st = op_attr_require(ctx, "starts"))))
        st = op_attr_require(ctx, "ends");
    if (!st)
        op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return st;
}

/* Reads parameter list k: from input k (opset >= 10) or the attribute `name`. *n is -1 when
 * absent; ONYX_DEFER when the input's values are not known yet. */
static onyx_status slice_list(const op_context *ctx, int k, const char *name, int64_t *out, int64_t *n)
{
    *n = -1;
    if (ctx->opset >= 10) {
        const onyx_tensor *t = op_input(ctx, k);
        if (!t)
            return ONYX_OK;
        if (t->rank != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' must be 1-D", op_input_name(ctx, k));
        if (!t->data && tensor_count(t) > 0)
            return ONYX_DEFER;
        if ((*n = tensor_read_ints(t, out, ONYX_MAX_RANK)) < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' has too many values", op_input_name(ctx, k));
        return ONYX_OK;
    }
    const int64_t *v;
    onyx_status st = op_attr_ints(ctx, name, &v, n);
    if (st)
        return st;
    if (*n > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' has too many values", name);
    for (int64_t i = 0; i < *n; i++)
        out[i] = v[i];
    return ONYX_OK;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static onyx_status slice_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    int64_t starts[ONYX_MAX_RANK], ends[ONYX_MAX_RANK], axes[ONYX_MAX_RANK], steps[ONYX_MAX_RANK];
    int64_t ns, ne, na, nt;
    onyx_status st;
    if ((st = slice_list(ctx, 1, "starts", starts, &ns)) || (st = slice_list(ctx, 2, "ends", ends, &ne)) ||
        (st = slice_list(ctx, 3, "axes", axes, &na)) || (st = slice_list(ctx, 4, "steps", steps, &nt))) {
        if (st != ONYX_DEFER || ctx->concrete)
            return st;
        /* At load, with the bounds still unknown: the rank is the input's all the same. */
        y->rank = x->rank;
        for (int i = 0; i < x->rank; i++)
            y->dims[i] = DIM_UNKNOWN;
        return ONYX_OK;
    }
    if (ns != ne || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "starts, ends, axes and steps must have the same length");
    int64_t start[ONYX_MAX_RANK], step[ONYX_MAX_RANK];
    bool seen[ONYX_MAX_RANK] = {false};
    tensor_set_shape(y, x->rank, x->dims);
    for (int i = 0; i < x->rank; i++)
        start[i] = 0, step[i] = 1;
    for (int64_t i = 0; i < ns; i++) {
        int axis;
        if ((st = op_axis(ctx, "axis", na >= 0 ? axes[i] : i, x->rank, &axis)))
            return st;
        if (seen[axis])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d is repeated", axis);
        seen[axis] = true;
        int64_t s = nt >= 0 ? steps[i] : 1, d = x->dims[axis];
        if (s == 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "step is 0 on axis %d", axis);
        if (!dim_known(d)) {
            y->dims[axis] = DIM_UNKNOWN;
            continue;
        }
        int64_t b = starts[i], e = ends[i];
        b = b < 0 ? (b < -d ? 0 : b + d) : b;
        e = e < 0 ? (e < -d ? -1 : e + d) : e;
        if (s > 0) {
            b = clamp(b, 0, d);
            e = clamp(e, 0, d);
        } else {
            b = clamp(b, 0, d - 1);
            e = clamp(e, -1, d - 1);
        }
        /* ceil(distance / |step|), in unsigned arithmetic: the step may be INT64_MIN. */
        uint64_t distance = s > 0 ? (uint64_t)(e > b ? e - b : 0) : (uint64_t)(b > e ? b - e : 0);
        uint64_t magnitude = s > 0 ? (uint64_t)s : -(uint64_t)s;
        int64_t n = distance ? (int64_t)((distance - 1) / magnitude + 1) : 0;
        start[axis] = b;
        step[axis] = n > 1 ? s : 1; /* a huge step taking one element must not reach stride arithmetic */
        y->dims[axis] = n;
    }
    if (!ctx->concrete)
        return ONYX_OK;
    int64_t in_strides[ONYX_MAX_RANK], strides[ONYX_MAX_RANK], base = 0;
    strides_of(x, in_strides);
    for (int i = 0; i < x->rank; i++) {
        strides[i] = in_strides[i] * step[i];
        base += in_strides[i] * start[i];
    }
    return strided_copy_plan(ctx, x->rank, y->dims, strides, base);
}

const op_descriptor op_Slice = {slice_check, slice_reshape, strided_copy_run, 0};
