/* Range: start, start + delta, ... up to limit (excluded), from three scalar inputs. The
 * count, max(ceil((limit - start) / delta), 0), needs their values: until they are known
 * the output size is unknown (see ONYX_DEFER). Integer counts are computed exactly, in
 * unsigned arithmetic where limit - start would overflow. Range-27 adds float16 and
 * bfloat16, whose values are computed in the float type stash_type names (float by default,
 * or double) and rounded to the output's type. */
#include "count.h"
#include "op.h"
#include "scalar.h"
#include "shape_input.h"

#include <math.h>

#define RANGE_DTYPES (DT_FLOATS | DT(INT16) | DT(INT32) | DT(INT64))
#define RANGE_CHUNK 65536

typedef struct range_params {
    bool stash_double; /* float16 and bfloat16: values computed in double, else in float */
} range_params;

static bool is_float(onyx_dtype dtype)
{
    return dtype == ONYX_DTYPE_FLOAT || dtype == ONYX_DTYPE_DOUBLE || dtype == ONYX_DTYPE_FLOAT16 ||
           dtype == ONYX_DTYPE_BFLOAT16;
}

/* An integer input's value, exactly. */
static int64_t int_value(const onyx_tensor *t)
{
    switch (t->dtype) {
    case ONYX_DTYPE_INT16: return *(const int16_t *)t->data;
    case ONYX_DTYPE_INT32: return *(const int32_t *)t->data;
    default: return *(const int64_t *)t->data;
    }
}

static onyx_status range_check(op_context *ctx)
{
    bool halves = ctx->opset >= 27;
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 3, RANGE_DTYPES | (halves ? DT(FLOAT16) | DT(BFLOAT16) : 0));
    if (st)
        return st;
    range_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t stash = ONYX_DTYPE_FLOAT;
    if (halves && (st = op_attr_int(ctx, "stash_type", ONYX_DTYPE_FLOAT, &stash)))
        return st;
    if (stash != ONYX_DTYPE_FLOAT && stash != ONYX_DTYPE_DOUBLE)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "stash_type %lld is not float (1) or double (11)",
                        (long long)stash);
    p->stash_double = stash == ONYX_DTYPE_DOUBLE;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

/* The element count of the range; an error when delta is 0 or the count is not finite. */
static onyx_status range_count(const op_context *ctx, int64_t *count)
{
    const onyx_tensor *start = op_input(ctx, 0), *limit = op_input(ctx, 1), *delta = op_input(ctx, 2);
    if (is_float(start->dtype)) {
        double s = scalar_load(start->data, 0, start->dtype), l = scalar_load(limit->data, 0, limit->dtype);
        double d = scalar_load(delta->data, 0, delta->dtype), n = ceil((l - s) / d);
        if (d == 0 || isnan(n) || n >= 0x1p62)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "range from %g to %g by %g has no finite count", s, l, d);
        *count = n > 0 ? (int64_t)n : 0;
        return ONYX_OK;
    }
    int64_t s = int_value(start), l = int_value(limit), d = int_value(delta);
    if (d == 0)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "delta is 0");
    if (d > 0 ? l <= s : l >= s) {
        *count = 0;
        return ONYX_OK;
    }
    uint64_t span = d > 0 ? (uint64_t)l - (uint64_t)s : (uint64_t)s - (uint64_t)l;
    uint64_t step = d > 0 ? (uint64_t)d : -(uint64_t)d, n = (span - 1) / step + 1;
    if (n > INT64_MAX)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "range from %lld to %lld by %lld is too long", (long long)s,
                        (long long)l, (long long)d);
    *count = (int64_t)n;
    return ONYX_OK;
}

static onyx_status range_reshape(op_context *ctx)
{
    onyx_tensor *y = op_output(ctx, 0);
    y->rank = 1;
    y->dims[0] = DIM_UNKNOWN;
    for (int i = 0; i < 3; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        if (t->rank > 1 || (t->rank == 1 && !dim_may_equal(t->dims[0], 1)))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' must be a scalar", op_input_name(ctx, i));
        if (values_unknown(t))
            return ONYX_OK; /* the count is not known yet */
    }
    onyx_status st = range_count(ctx, &y->dims[0]);
    if (st || !ctx->concrete || (st = check_output_shape(ctx, y)))
        return st;
    ctx->n_tasks = ceil_div(y->dims[0], RANGE_CHUNK);
    ctx->task_cost = RANGE_CHUNK;
    return ONYX_OK;
}

static onyx_status range_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const onyx_tensor *start = ctx->inputs[0], *delta = ctx->inputs[2];
    onyx_tensor *y = ctx->outputs[0];
    int64_t last = OP_MIN(end * RANGE_CHUNK, y->dims[0]);
    bool half = y->dtype == ONYX_DTYPE_FLOAT16 || y->dtype == ONYX_DTYPE_BFLOAT16;
    if (half && !((const range_params *)ctx->params)->stash_double) {
        /* stash_type float: start + i * delta in float (exact conversions from the halves). */
        float s = (float)scalar_load(start->data, 0, start->dtype);
        float d = (float)scalar_load(delta->data, 0, delta->dtype);
        for (int64_t i = begin * RANGE_CHUNK; i < last; i++)
            scalar_store(y->data, i, y->dtype, s + (float)i * d);
        return ONYX_OK;
    }
    if (is_float(y->dtype)) {
        double s = scalar_load(start->data, 0, start->dtype), d = scalar_load(delta->data, 0, delta->dtype);
        for (int64_t i = begin * RANGE_CHUNK; i < last; i++)
            scalar_store(y->data, i, y->dtype, s + (double)i * d);
        return ONYX_OK;
    }
    /* Every value lies between start and limit: the unsigned sum wraps back into range. */
    uint64_t s = (uint64_t)int_value(start), d = (uint64_t)int_value(delta);
    for (int64_t i = begin * RANGE_CHUNK; i < last; i++) {
        int64_t v = (int64_t)(s + (uint64_t)i * d);
        switch (y->dtype) {
        case ONYX_DTYPE_INT16: ((int16_t *)y->data)[i] = (int16_t)v; break;
        case ONYX_DTYPE_INT32: ((int32_t *)y->data)[i] = (int32_t)v; break;
        default: ((int64_t *)y->data)[i] = v; break;
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Range = {range_check, range_reshape, range_run, 0};
