/* TopK: the k largest (or smallest, largest=0) elements along `axis` (default -1) and their
 * int64 positions, in order. k is an attribute before opset 10, the second input from 10;
 * `largest` and `sorted` arrive in 11. Of equal elements the lower position comes first, as
 * the specification asks; NaN is larger than any number (numpy's sort order). The output
 * is always sorted, which sorted=0 (any order) allows. */
#include "axis.h"
#include "dtype_io.h"

#include <stdlib.h>
#include <string.h>

/* Compares x[a] and x[b] (offsets in elements): <0, 0, >0; NaN above every number. */
typedef int (*topk_compare_fn)(const void *x, int64_t a, int64_t b);

#define TOPK_COMPARE(D, T, V, LOAD, STORE)                                                     \
    static int compare_##D(const void *x_, int64_t a, int64_t b)                               \
    {                                                                                          \
        const T *x = x_;                                                                       \
        V va = LOAD(x[a]), vb = LOAD(x[b]);                                                    \
        bool a_nan = VALUE_IS_NAN(va), b_nan = VALUE_IS_NAN(vb);                               \
        if (a_nan || b_nan)                                                                    \
            return (int)a_nan - (int)b_nan;                                                    \
        return (va > vb) - (va < vb);                                                          \
    }
FOR_NUMERIC_IO(TOPK_COMPARE)

static topk_compare_fn topk_compare(onyx_dtype dtype)
{
#define TOPK_COMPARE_CASE(D, T, V, LOAD, STORE)                                                \
    case ONYX_DTYPE_##D:                                                                       \
        return compare_##D;
    switch (dtype) {
        FOR_NUMERIC_IO(TOPK_COMPARE_CASE)
    default:
        return NULL;
    }
}

typedef struct topk_params {
    topk_compare_fn compare;
    int64_t axis, k; /* k: the attribute before opset 10 */
    bool largest;
} topk_params;

typedef struct topk_state {
    axis_rows in, out; /* out.len is k */
    size_t elem;
} topk_state;

static onyx_status topk_check(op_context *ctx)
{
    bool k_input = ctx->opset >= 10;
    onyx_status st = op_check_arity(ctx, k_input ? 2 : 1, k_input ? 2 : 1, 2, 2);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_NUMERIC_IO);
    if (!st && k_input)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (!st && !k_input)
        st = op_attr_require(ctx, "k");
    if (st)
        return st;
    topk_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t largest = 1, sorted = 1;
    if ((st = op_attr_int(ctx, "axis", -1, &p->axis)) || (!k_input && (st = op_attr_int(ctx, "k", 0, &p->k))) ||
        (ctx->opset >= 11 &&
         ((st = op_attr_int(ctx, "largest", 1, &largest)) || (st = op_attr_int(ctx, "sorted", 1, &sorted)))))
        return st;
    p->compare = topk_compare(op_input(ctx, 0)->dtype);
    p->largest = largest != 0;
    ctx->params = p;
    if (ctx->outputs[0])
        ctx->outputs[0]->dtype = op_input(ctx, 0)->dtype;
    if (ctx->outputs[1])
        ctx->outputs[1]->dtype = ONYX_DTYPE_INT64;
    return ONYX_OK;
}

/* k from the attribute or the input; *known false when the input's value is not known yet. */
static onyx_status topk_k(op_context *ctx, int64_t *k, bool *known)
{
    const topk_params *p = ctx->params;
    const onyx_tensor *k_in = op_input(ctx, 1);
    *known = true;
    if (!k_in) {
        *k = p->k;
    } else if (k_in->rank != 1 || (dim_known(k_in->dims[0]) && k_in->dims[0] != 1)) {
        char buf[128];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "K input '%s' must be 1-D holding one value, got shape %s",
                        op_input_name(ctx, 1), shape_str(k_in, buf, sizeof buf));
    } else if (!k_in->data) {
        *known = false;
        return ONYX_OK;
    } else {
        *k = tensor_int_at(k_in, 0);
    }
    if (*k < 0)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "k must not be negative, got %lld", (long long)*k);
    return ONYX_OK;
}

static onyx_status topk_reshape(op_context *ctx)
{
    const topk_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    int axis;
    int64_t k = DIM_UNKNOWN;
    bool known;
    onyx_status st = op_axis(ctx, "axis", p->axis, x->rank, &axis);
    if (!st)
        st = topk_k(ctx, &k, &known);
    if (st)
        return st;
    if (known && dim_known(x->dims[axis]) && k > x->dims[axis])
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "k %lld is above the %lld elements of axis %d", (long long)k,
                        (long long)x->dims[axis], axis);
    onyx_tensor shape = *x;
    shape.dims[axis] = known ? k : DIM_UNKNOWN;
    for (int i = 0; i < 2; i++)
        if (ctx->outputs[i])
            tensor_set_shape(ctx->outputs[i], shape.rank, shape.dims);
    if (!ctx->concrete)
        return ONYX_OK;
    if (!known)
        return ONYX_DEFER;
    topk_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->in = axis_rows_of(x, axis);
    s->out = axis_rows_of(&shape, axis);
    s->elem = onyx_dtype_size(x->dtype);
    ctx->state = s;
    ctx->n_tasks = axis_row_count(&s->in);
    ctx->task_cost = s->in.len * 16;
    ctx->scratch_bytes = (size_t)s->in.len * sizeof(int64_t);
    return ONYX_OK;
}

typedef struct row_order {
    const void *row;
    int64_t stride;
    topk_compare_fn compare;
    bool largest;
} row_order;

/* Orders two positions of a row: the larger (or smaller) value first, then the lower position,
 * a total order so that the unstable qsort gives one answer. */
static int order_positions(const void *a_, const void *b_, void *order_)
{
    const row_order *o = order_;
    int64_t a = *(const int64_t *)a_, b = *(const int64_t *)b_;
    int c = o->compare(o->row, a * o->stride, b * o->stride);
    if (c)
        return o->largest ? -c : c;
    return (a > b) - (a < b);
}

static onyx_status topk_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const topk_params *p = ctx->params;
    const topk_state *s = ctx->state;
    const char *x = ctx->inputs[0]->data;
    onyx_tensor *values = op_output(ctx, 0), *indices = op_output(ctx, 1);
    int64_t *positions = scratch;
    for (int64_t r = begin; r < end; r++) {
        const char *row = x + (size_t)axis_row_start(&s->in, r) * s->elem;
        for (int64_t i = 0; i < s->in.len; i++)
            positions[i] = i;
        row_order order = {row, s->in.inner, p->compare, p->largest};
        if (s->in.len > 1)
            qsort_r(positions, (size_t)s->in.len, sizeof *positions, order_positions, &order);
        int64_t out_start = axis_row_start(&s->out, r);
        for (int64_t j = 0; j < s->out.len; j++) {
            int64_t at = out_start + j * s->out.inner;
            if (values)
                memcpy((char *)values->data + (size_t)at * s->elem,
                       row + (size_t)(positions[j] * s->in.inner) * s->elem, s->elem);
            if (indices)
                ((int64_t *)indices->data)[at] = positions[j];
        }
    }
    return ONYX_OK;
}

const op_descriptor op_TopK = {topk_check, topk_reshape, topk_run, 0};
