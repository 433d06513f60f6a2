/* CumSum: running sums along the axis given by the second input (a scalar, or one value),
 * from the end with `reverse`, each excluding its own element with `exclusive`. Floats
 * accumulate in double; integers wrap in 64 bits, then to their width (no overflow UB). */
#include "axis.h"
#include "dtype_io.h"

typedef void (*cumsum_row_fn)(const void *x, void *y, int64_t len, int64_t stride, bool exclusive, bool reverse);

#define CUMSUM_ROW(D, T, ACC, LOAD, STORE)                                                     \
    static void cumsum_##D(const void *x_, void *y_, int64_t len, int64_t stride, bool exclusive, bool reverse) \
    {                                                                                          \
        const T *x = x_;                                                                       \
        T *y = y_;                                                                             \
        ACC sum = 0;                                                                           \
        for (int64_t k = 0; k < len; k++) {                                                    \
            int64_t at = (reverse ? len - 1 - k : k) * stride;                                 \
            ACC v = LOAD(x[at]);                                                               \
            if (exclusive)                                                                     \
                y[at] = STORE(sum);                                                            \
            sum += v;                                                                          \
            if (!exclusive)                                                                    \
                y[at] = STORE(sum);                                                            \
        }                                                                                      \
    }
#define FLOAT_CUMSUM(D, T, V, LOAD, STORE) CUMSUM_ROW(D, T, double, LOAD, STORE)
#define INT_CUMSUM(D, T, V, LOAD, STORE) CUMSUM_ROW(D, T, uint64_t, LOAD, STORE)
FOR_FLOAT_IO(FLOAT_CUMSUM)
FOR_INT_IO(INT_CUMSUM)

static cumsum_row_fn cumsum_kernel(onyx_dtype dtype)
{
#define CUMSUM_CASE(D, T, V, LOAD, STORE)                                                      \
    case ONYX_DTYPE_##D:                                                                       \
        return cumsum_##D;
    switch (dtype) {
        FOR_NUMERIC_IO(CUMSUM_CASE)
    default:
        return NULL;
    }
}

typedef struct cumsum_params {
    cumsum_row_fn row;
    bool exclusive, reverse;
} cumsum_params;

static onyx_status cumsum_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_NUMERIC_IO);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT32) | DT(INT64));
    if (st)
        return st;
    cumsum_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t exclusive, reverse;
    if ((st = op_attr_int(ctx, "exclusive", 0, &exclusive)) || (st = op_attr_int(ctx, "reverse", 0, &reverse)))
        return st;
    p->row = cumsum_kernel(op_input(ctx, 0)->dtype);
    p->exclusive = exclusive != 0;
    p->reverse = reverse != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status cumsum_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0), *axis_in = op_input(ctx, 1);
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (axis_in->rank > 1 || (axis_in->rank == 1 && dim_known(axis_in->dims[0]) && axis_in->dims[0] != 1)) {
        char buf[128];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis input '%s' must hold one value, got shape %s",
                        op_input_name(ctx, 1), shape_str(axis_in, buf, sizeof buf));
    }
    if (!ctx->concrete)
        return ONYX_OK;
    if (!axis_in->data)
        return ONYX_DEFER;
    int axis;
    onyx_status st = op_axis(ctx, "axis", tensor_int_at(axis_in, 0), x->rank, &axis);
    if (st)
        return st;
    axis_rows *rows = op_alloc_state(ctx, sizeof *rows);
    if (!rows)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *rows = axis_rows_of(x, axis);
    ctx->state = rows;
    ctx->n_tasks = axis_row_count(rows);
    ctx->task_cost = rows->len;
    return ONYX_OK;
}

static onyx_status cumsum_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const cumsum_params *p = ctx->params;
    const axis_rows *rows = ctx->state;
    size_t elem = onyx_dtype_size(ctx->inputs[0]->dtype);
    const char *x = ctx->inputs[0]->data;
    char *y = ctx->outputs[0]->data;
    for (int64_t r = begin; r < end; r++) {
        size_t start = (size_t)axis_row_start(rows, r) * elem;
        p->row(x + start, y + start, rows->len, rows->inner, p->exclusive, p->reverse);
    }
    return ONYX_OK;
}

const op_descriptor op_CumSum = {cumsum_check, cumsum_reshape, cumsum_run, 0};
