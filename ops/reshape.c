/* Operators that keep the data and change only the shape: Reshape, Squeeze, Unsqueeze,
 * Flatten and Identity. They share one run: a copy of the bytes. (Dropout, the identity in
 * inference, is in dropout.c for its training mode.) */
#include "op.h"
#include "shape_input.h"

#include <string.h>

#define COPY_CHUNK (1 << 20)

static onyx_status copy_tasks(op_context *ctx)
{
    ctx->output_is_view = true;
    if (ctx->concrete) {
        size_t bytes = op_value_bytes(op_input(ctx, 0));
        ctx->n_tasks = (int64_t)((bytes + COPY_CHUNK - 1) / COPY_CHUNK);
        ctx->task_cost = COPY_CHUNK / 4;
    }
    return ONYX_OK;
}

static onyx_status copy_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    size_t bytes = op_value_bytes(ctx->inputs[0]); /* Identity copies a sequence's block whole */
    size_t first = (size_t)begin * COPY_CHUNK, last = OP_MIN((size_t)end * COPY_CHUNK, bytes);
    if (first < last && ctx->outputs[0]->data != ctx->inputs[0]->data)
        memcpy((char *)ctx->outputs[0]->data + first, (const char *)ctx->inputs[0]->data + first, last - first);
    return ONYX_OK;
}

static onyx_status same_type_check(op_context *ctx, int max_inputs, int max_outputs)
{
    onyx_status st = op_check_arity(ctx, 1, max_inputs, 1, max_outputs);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return st;
}

/* ---- Reshape ----------------------------------------------------------------------------- */

typedef struct reshape_params {
    bool allowzero;       /* a 0 in the shape means 0, not "copy the input's dim" */
    const int64_t *shape; /* before opset 5: the target shape is an attribute */
    int64_t n_shape;
} reshape_params;

static onyx_status reshape_check(op_context *ctx)
{
    bool shape_input = ctx->opset >= 5;
    onyx_status st = op_check_arity(ctx, shape_input ? 2 : 1, shape_input ? 2 : 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st && shape_input)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (!st && !shape_input)
        st = op_attr_require(ctx, "shape");
    reshape_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t allowzero = 0;
    if (ctx->opset >= 14 && (st = op_attr_int(ctx, "allowzero", 0, &allowzero)))
        return st;
    if (!shape_input && (st = op_attr_ints(ctx, "shape", &p->shape, &p->n_shape)))
        return st;
    if (p->n_shape > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "target rank %lld is above %d", (long long)p->n_shape,
                        ONYX_MAX_RANK);
    p->allowzero = allowzero != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

/* The target shape, from the attribute or input 1: ONYX_DEFER when not known yet. */
static onyx_status reshape_target(const op_context *ctx, int64_t *dims, int64_t *n)
{
    const reshape_params *p = ctx->params;
    if (ctx->opset >= 5)
        return shape_input_read(ctx, 1, dims, ONYX_MAX_RANK, n);
    for (int64_t i = 0; i < p->n_shape; i++)
        dims[i] = p->shape[i];
    *n = p->n_shape;
    return ONYX_OK;
}

static onyx_status reshape_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    bool allowzero = ((const reshape_params *)ctx->params)->allowzero;
    int64_t dims[ONYX_MAX_RANK], n;
    onyx_status st = reshape_target(ctx, dims, &n);
    if (st == ONYX_DEFER)
        return shape_input_rank_only(ctx, 1, y);
    if (st)
        return st;
    int infer = -1;
    int64_t known = 1;
    bool all_known = true;
    for (int i = 0; i < n; i++) {
        if (dims[i] == -1) {
            if (infer >= 0)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "shape has more than one -1");
            infer = i;
            continue;
        }
        if (dims[i] < -1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "shape has invalid dim %lld", (long long)dims[i]);
        if (dims[i] == 0 && !allowzero) {
            if (i >= x->rank)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "shape dim %d is 0 (copy) but the input has rank %d",
                                i, x->rank);
            dims[i] = x->dims[i];
        }
        if (!dim_known(dims[i]))
            all_known = false;
        else if (__builtin_mul_overflow(known, dims[i], &known))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "shape: element count overflows 64 bits");
    }
    int64_t total = shape_count(x->dims, x->rank);
    for (int i = 0; i < x->rank; i++)
        all_known &= dim_known(x->dims[i]);
    char a[128], b[128];
    if (infer >= 0) {
        if (!all_known)
            dims[infer] = DIM_UNKNOWN;
        else if (known == 0 || total % known)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "cannot reshape %s (%lld elements) with a -1 dim",
                            shape_str(x, a, sizeof a), (long long)total);
        else
            dims[infer] = total / known;
    } else if (all_known && known != total) {
        onyx_tensor want = {.rank = (int)n};
        memcpy(want.dims, dims, (size_t)n * sizeof(int64_t));
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                        shape_str(x, a, sizeof a), (long long)total, shape_str(&want, b, sizeof b), (long long)known);
    }
    tensor_set_shape(y, (int)n, dims);
    return copy_tasks(ctx);
}

const op_descriptor op_Reshape = {reshape_check, reshape_reshape, copy_run, 0};

/* ---- Squeeze / Unsqueeze ----------------------------------------------------------------- */

/* Axes from the attribute (opset < 13) or the second input. */
static onyx_status axes_of(const op_context *ctx, int64_t *axes, int64_t *count)
{
    if (ctx->opset >= 13)
        return shape_input_read(ctx, 1, axes, ONYX_MAX_RANK, count);
    const int64_t *attr;
    onyx_status st = op_attr_ints(ctx, "axes", &attr, count);
    if (st)
        return st;
    if (*count > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "too many axes");
    for (int64_t i = 0; i < *count; i++)
        axes[i] = attr[i];
    return ONYX_OK;
}

static onyx_status squeeze_check(op_context *ctx)
{
    onyx_status st = same_type_check(ctx, ctx->opset >= 13 ? 2 : 1, 1);
    if (!st && ctx->opset >= 13)
        st = op_check_input(ctx, 1, false, DT(INT64));
    return st;
}

static onyx_status squeeze_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    int64_t axes[ONYX_MAX_RANK], n;
    onyx_status st = axes_of(ctx, axes, &n);
    if (st)
        return st;
    bool drop[ONYX_MAX_RANK] = {false};
    if (n < 0) {
        /* No axes: every dim of 1, which needs the dims to be known. */
        for (int i = 0; i < x->rank; i++) {
            if (!dim_known(x->dims[i]))
                return ONYX_DEFER;
            drop[i] = x->dims[i] == 1;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        int axis;
        if ((st = op_axis(ctx, "axis", axes[i], x->rank, &axis)))
            return st;
        if (dim_known(x->dims[axis]) && x->dims[axis] != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "cannot squeeze axis %d of size %lld", axis,
                            (long long)x->dims[axis]);
        drop[axis] = true;
    }
    int rank = 0;
    for (int i = 0; i < x->rank; i++)
        if (!drop[i])
            y->dims[rank++] = x->dims[i];
    y->rank = rank;
    return copy_tasks(ctx);
}

const op_descriptor op_Squeeze = {squeeze_check, squeeze_reshape, copy_run, 0};

static onyx_status unsqueeze_check(op_context *ctx)
{
    onyx_status st = same_type_check(ctx, ctx->opset >= 13 ? 2 : 1, 1);
    if (!st && ctx->opset >= 13)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (!st && ctx->opset < 13)
        st = op_attr_require(ctx, "axes");
    return st;
}

static onyx_status unsqueeze_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    int64_t axes[ONYX_MAX_RANK], n;
    onyx_status st = axes_of(ctx, axes, &n);
    if (st)
        return st;
    int rank = x->rank + (int)(n < 0 ? 0 : n);
    if (rank > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "output rank %d is above %d", rank, ONYX_MAX_RANK);
    bool add[ONYX_MAX_RANK] = {false};
    for (int64_t i = 0; i < n; i++) {
        int axis;
        if ((st = op_axis(ctx, "axis", axes[i], rank, &axis)))
            return st;
        if (add[axis])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d is repeated", axis);
        add[axis] = true;
    }
    for (int i = 0, j = 0; i < rank; i++)
        y->dims[i] = add[i] ? 1 : x->dims[j++];
    y->rank = rank;
    return copy_tasks(ctx);
}

const op_descriptor op_Unsqueeze = {unsqueeze_check, unsqueeze_reshape, copy_run, 0};

/* ---- Flatten ----------------------------------------------------------------------------- */

typedef struct flatten_params {
    int64_t axis;
} flatten_params;

static onyx_status flatten_check(op_context *ctx)
{
    onyx_status st = same_type_check(ctx, 1, 1);
    flatten_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    ctx->params = p;
    return op_attr_int(ctx, "axis", 1, &p->axis);
}

static onyx_status flatten_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    int64_t axis = ((const flatten_params *)ctx->params)->axis;
    /* The axis is where the dims are cut in two, so it may also be the rank. */
    if (axis < -x->rank || axis > x->rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axis,
                        x->rank);
    if (axis < 0)
        axis += x->rank;
    int64_t dims[2] = {1, 1};
    for (int i = 0; i < x->rank; i++)
        dims[i >= axis] = dim_mul(dims[i >= axis], x->dims[i]);
    tensor_set_shape(op_output(ctx, 0), 2, dims);
    return copy_tasks(ctx);
}

const op_descriptor op_Flatten = {flatten_check, flatten_reshape, copy_run, 0};

/* ---- Identity ---------------------------------------------------------------------------- */

static onyx_status same_shape_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    return copy_tasks(ctx);
}

static onyx_status identity_check(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    if (x && !op_is_tensor(x) && !op_check_arity(ctx, 1, 1, 1, 1)) { /* a sequence or optional */
        op_set_output_dtypes(ctx, x->dtype);
        return ONYX_OK;
    }
    return same_type_check(ctx, 1, 1);
}

const op_descriptor op_Identity = {identity_check, same_shape_reshape, copy_run, 0, false, 1};
