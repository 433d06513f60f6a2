/* The scatters, which copy `data` and write `updates` into it at places read from indices:
 * ScatterElements (and Scatter, its name before opset 11) along an axis, ScatterND by tuples
 * of indices. From opset 16 a reduction (add, mul; from opset 18 max, min) combines each
 * update with the value in place instead of replacing it. Updates are applied one after the
 * other in the order of the indices, so that duplicate indices give the same result every
 * time: the last one wins, or all of them are combined in order. One task, for that order. */
#include "dtype_io.h"
#include "elementwise.h"
#include "half.h"
#include "indexing.h"
#include "op.h"

#include <math.h>
#include <string.h>

/* *dst = *dst (op) *src, for one element. */
typedef void (*combine_fn)(void *dst, const void *src);

/* Integers wrap (as numpy's do), computed unsigned so that no overflow is undefined: 1u *
 * keeps the narrow types from promoting to signed int. */
#define INT_COMBINERS(DT, T, U)                                                                \
    static void add_##DT(void *d, const void *s)                                               \
    {                                                                                          \
        U a = (U)(*(T *)d), b = (U)(*(const T *)s);                                          \
        *(T *)d = (T)(1u * a + b);                                                             \
    }                                                                                          \
    static void mul_##DT(void *d, const void *s)                                               \
    {                                                                                          \
        U a = (U)(*(T *)d), b = (U)(*(const T *)s);                                          \
        *(T *)d = (T)(1u * a * b);                                                             \
    }
#define FLOAT_COMBINERS(DT, T)                                                                 \
    static void add_##DT(void *d, const void *s) { *(T *)d += *(const T *)s; }                 \
    static void mul_##DT(void *d, const void *s) { *(T *)d *= *(const T *)s; }
#define HALF_COMBINERS(DT, TO_FLOAT, FROM_FLOAT)                                               \
    static void add_##DT(void *d, const void *s)                                               \
    {                                                                                          \
        *(uint16_t *)d = FROM_FLOAT(TO_FLOAT(*(uint16_t *)d) + TO_FLOAT(*(const uint16_t *)s)); \
    }                                                                                          \
    static void mul_##DT(void *d, const void *s)                                               \
    {                                                                                          \
        *(uint16_t *)d = FROM_FLOAT(TO_FLOAT(*(uint16_t *)d) * TO_FLOAT(*(const uint16_t *)s)); \
    }
FOR_INT_TYPES_U(INT_COMBINERS)
FOR_FLOAT_TYPES(FLOAT_COMBINERS)
HALF_COMBINERS(FLOAT16, half_to_float, float_to_half)
HALF_COMBINERS(BFLOAT16, bfloat16_to_float, float_to_bfloat16)
/* Booleans as numpy adds and multiplies them: or, and. */
static void add_BOOL(void *d, const void *s) { *(uint8_t *)d = *(uint8_t *)d | *(const uint8_t *)s; }
static void mul_BOOL(void *d, const void *s) { *(uint8_t *)d = *(uint8_t *)d & *(const uint8_t *)s; }

/* max and min as numpy's maximum and minimum: a NaN on either side wins (the update replaces
 * the value when it is greater, smaller or NaN; a NaN in place stays). */
#define EXTREMA(DT, T, ...)                                                                    \
    static void max_##DT(void *d, const void *s)                                               \
    {                                                                                          \
        T a = *(T *)d, b = *(const T *)s;                                                      \
        if (b > a || VALUE_IS_NAN(b))                                                             \
            *(T *)d = b;                                                                       \
    }                                                                                          \
    static void min_##DT(void *d, const void *s)                                               \
    {                                                                                          \
        T a = *(T *)d, b = *(const T *)s;                                                      \
        if (b < a || VALUE_IS_NAN(b))                                                             \
            *(T *)d = b;                                                                       \
    }
#define HALF_EXTREMA(DT, TO_FLOAT)                                                             \
    static void max_##DT(void *d, const void *s)                                               \
    {                                                                                          \
        float a = TO_FLOAT(*(uint16_t *)d), b = TO_FLOAT(*(const uint16_t *)s);                \
        if (b > a || isnan(b))                                                                 \
            *(uint16_t *)d = *(const uint16_t *)s;                                             \
    }                                                                                          \
    static void min_##DT(void *d, const void *s)                                               \
    {                                                                                          \
        float a = TO_FLOAT(*(uint16_t *)d), b = TO_FLOAT(*(const uint16_t *)s);                \
        if (b < a || isnan(b))                                                                 \
            *(uint16_t *)d = *(const uint16_t *)s;                                             \
    }
FOR_NUMERIC_TYPES(EXTREMA)
HALF_EXTREMA(FLOAT16, half_to_float)
HALF_EXTREMA(BFLOAT16, bfloat16_to_float)
/* Booleans: max is or, min is and. */
static void max_BOOL(void *d, const void *s) { add_BOOL(d, s); }
static void min_BOOL(void *d, const void *s) { mul_BOOL(d, s); }

#define ADDER(DT, ...) [ONYX_DTYPE_##DT] = add_##DT,
#define MULTIPLIER(DT, ...) [ONYX_DTYPE_##DT] = mul_##DT,
static const combine_fn adders[DTYPE_COUNT] = {
    FOR_NUMERIC_TYPES(ADDER) ADDER(FLOAT16) ADDER(BFLOAT16) ADDER(BOOL)};
static const combine_fn multipliers[DTYPE_COUNT] = {
    FOR_NUMERIC_TYPES(MULTIPLIER) MULTIPLIER(FLOAT16) MULTIPLIER(BFLOAT16) MULTIPLIER(BOOL)};
#define MAXIMUM(DT, ...) [ONYX_DTYPE_##DT] = max_##DT,
#define MINIMUM(DT, ...) [ONYX_DTYPE_##DT] = min_##DT,
static const combine_fn maxima[DTYPE_COUNT] = {FOR_NUMERIC_TYPES(MAXIMUM) MAXIMUM(FLOAT16) MAXIMUM(BFLOAT16)
                                                   MAXIMUM(BOOL)};
static const combine_fn minima[DTYPE_COUNT] = {FOR_NUMERIC_TYPES(MINIMUM) MINIMUM(FLOAT16) MINIMUM(BFLOAT16)
                                                   MINIMUM(BOOL)};

typedef struct scatter_params {
    int64_t axis;       /* ScatterElements */
    combine_fn combine; /* NULL: an update replaces the value */
} scatter_params;

/* Inputs data, indices (of `index_dtypes`), updates (data's dtype); the axis and reduction
 * attributes. */
static onyx_status scatter_check(op_context *ctx, uint32_t index_dtypes)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, index_dtypes);
    if (!st)
        st = op_check_input(ctx, 2, true, DT_ALL);
    if (!st)
        st = op_check_same_dtype(ctx, 0, 2);
    const char *reduction = "none";
    if (!st && ctx->opset >= 16) /* the attribute exists from opset 16 */
        st = op_attr_string(ctx, "reduction", "none", &reduction);
    scatter_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "axis", 0, &p->axis)))
        return st;
    onyx_dtype dtype = op_input(ctx, 0)->dtype;
    if (!strcmp(reduction, "add"))
        p->combine = adders[dtype];
    else if (!strcmp(reduction, "mul"))
        p->combine = multipliers[dtype];
    else if (ctx->opset >= 18 && !strcmp(reduction, "max"))
        p->combine = maxima[dtype];
    else if (ctx->opset >= 18 && !strcmp(reduction, "min"))
        p->combine = minima[dtype];
    else if (strcmp(reduction, "none"))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "reduction '%s' is not one of none, add, mul%s",
                        reduction, ctx->opset >= 18 ? ", max, min" : "");
    ctx->params = p;
    op_set_output_dtypes(ctx, dtype);
    return ONYX_OK;
}

/* The output is data with updates written in: first the copy. */
static void copy_data(const op_context *ctx)
{
    const onyx_tensor *data = ctx->inputs[0];
    if (ctx->outputs[0]->data != data->data && tensor_bytes(data))
        memcpy(ctx->outputs[0]->data, data->data, tensor_bytes(data));
}

static void put(const scatter_params *p, char *dst, const char *src, size_t bytes, size_t elem)
{
    if (!p->combine) {
        if (bytes)
            memcpy(dst, src, bytes);
        return;
    }
    for (size_t i = 0; i < bytes; i += elem)
        p->combine(dst + i, src + i);
}

/* ---- ScatterElements and Scatter --------------------------------------------------------- */

static onyx_status scatter_elements_check(op_context *ctx) { return scatter_check(ctx, DT(INT32) | DT(INT64)); }

static onyx_status scatter_elements_reshape(op_context *ctx)
{
    const scatter_params *p = ctx->params;
    const onyx_tensor *data = op_input(ctx, 0), *indices = op_input(ctx, 1);
    int axis;
    onyx_status st = element_walk_check(ctx, data, indices, op_input(ctx, 2), p->axis, &axis);
    if (st)
        return st;
    tensor_set_shape(op_output(ctx, 0), data->rank, data->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    if (!element_walk_plan(ctx, data, indices, axis))
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->task_cost = tensor_count(data);
    return ONYX_OK;
}

static onyx_status scatter_elements_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const scatter_params *p = ctx->params;
    const element_walk *w = ctx->state;
    const onyx_tensor *indices = ctx->inputs[1];
    const char *updates = ctx->inputs[2]->data;
    char *y = ctx->outputs[0]->data;
    size_t elem = onyx_dtype_size(ctx->inputs[0]->dtype);
    int64_t axis_stride = w->data_strides[w->axis];
    copy_data(ctx);
    for (int64_t row = 0; row < w->rows; row++) {
        int64_t base = element_walk_row(w, row);
        for (int64_t k = 0; k < w->inner; k++) {
            int64_t j = row * w->inner + k, idx = tensor_int_at(indices, j);
            if (!index_normalize(&idx, w->len))
                return index_error(ctx, idx, w->len);
            put(p, y + (size_t)(base + k * w->inner_step + idx * axis_stride) * elem, updates + (size_t)j * elem, elem,
                elem);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_ScatterElements = {scatter_elements_check, scatter_elements_reshape, scatter_elements_run, 0};
const op_descriptor op_Scatter = {scatter_elements_check, scatter_elements_reshape, scatter_elements_run, 0};

/* ---- ScatterND --------------------------------------------------------------------------- */

static onyx_status scatter_nd_check(op_context *ctx) { return scatter_check(ctx, DT(INT64)); }

static onyx_status scatter_nd_reshape(op_context *ctx)
{
    const onyx_tensor *data = op_input(ctx, 0), *indices = op_input(ctx, 1), *updates = op_input(ctx, 2);
    onyx_tensor expected;
    onyx_status st = nd_walk_shape(ctx, data, indices, 0, &expected);
    tensor_set_shape(op_output(ctx, 0), data->rank, data->dims);
    if (st == ONYX_DEFER && !ctx->concrete)
        return ONYX_OK; /* the depth is symbolic: the output has data's shape all the same */
    if (st)
        return st;
    bool same = updates->rank == expected.rank;
    for (int d = 0; same && d < updates->rank; d++)
        same = dim_may_equal(updates->dims[d], expected.dims[d]);
    if (!same) {
        char a[128], b[128];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "updates %s must have shape %s (indices[:-1] + data[depth:])",
                        shape_str(updates, a, sizeof a), shape_str(&expected, b, sizeof b));
    }
    if (!ctx->concrete)
        return ONYX_OK;
    if (!nd_walk_plan(ctx, data, indices, 0))
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->task_cost = tensor_count(data);
    return ONYX_OK;
}

static onyx_status scatter_nd_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const nd_walk *w = ctx->state;
    const char *updates = ctx->inputs[2]->data;
    size_t elem = onyx_dtype_size(ctx->inputs[0]->dtype), block = (size_t)w->slice * elem;
    copy_data(ctx);
    for (int64_t t = 0; t < w->tuples; t++) {
        int64_t offset;
        onyx_status st = nd_walk_offset(ctx, w, ctx->inputs[1], t, &offset);
        if (st)
            return st;
        put(ctx->params, (char *)ctx->outputs[0]->data + (size_t)offset * elem, updates + (size_t)t * block, block,
            elem);
    }
    return ONYX_OK;
}

const op_descriptor op_ScatterND = {scatter_nd_check, scatter_nd_reshape, scatter_nd_run, 0};
