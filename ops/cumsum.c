/* CumSum and CumProd: running sums or products along the axis given by the second input (a
 * scalar, or one value), from the end with `reverse`, each excluding its own element with
 * `exclusive` (whose first result is then 0 or 1, the empty sum or product). Floats
 * accumulate in double; integers wrap in 64 bits, then to their width (no overflow UB). */
#include "axis.h"
#include "dtype_io.h"

/* The options of a row. */
#define CUMSUM_EXCLUSIVE 1u
#define CUMSUM_REVERSE 2u

/* A row kernel `NAME_D`: acc starts at INIT and takes each element v by `acc OP= v`. */
#define CUMULATIVE_ROW(NAME, D, T, ACC, LOAD, STORE, INIT, OP)                                 \
    static void NAME##_##D(const void *x_, void *y_, int64_t len, int64_t stride, unsigned options) \
    {                                                                                          \
        const T *x = x_;                                                                       \
        T *y = y_;                                                                             \
        bool exclusive = options & CUMSUM_EXCLUSIVE, reverse = options & CUMSUM_REVERSE;       \
        ACC acc = INIT;                                                                        \
        for (int64_t k = 0; k < len; k++) {                                                    \
            int64_t at = (reverse ? len - 1 - k : k) * stride;                                 \
            ACC v = LOAD(x[at]);                                                               \
            if (exclusive)                                                                     \
                y[at] = STORE(acc);                                                            \
            acc OP v;                                                                          \
            if (!exclusive)                                                                    \
                y[at] = STORE(acc);                                                            \
        }                                                                                      \
    }
#define FLOAT_CUMULATIVE(D, T, V, LOAD, STORE)                                                 \
    CUMULATIVE_ROW(cumsum, D, T, double, LOAD, STORE, 0, +=)                                   \
    CUMULATIVE_ROW(cumprod, D, T, double, LOAD, STORE, 1, *=)
/* Signed values convert to uint64_t modulo 2^64, so the unsigned product is the wrapped one. */
#define INT_CUMULATIVE(D, T, V, LOAD, STORE)                                                   \
    CUMULATIVE_ROW(cumsum, D, T, uint64_t, LOAD, STORE, 0, +=)                                 \
    CUMULATIVE_ROW(cumprod, D, T, uint64_t, LOAD, STORE, 1, *=)
FOR_FLOAT_IO(FLOAT_CUMULATIVE)
FOR_INT_IO(INT_CUMULATIVE)

static axis_map_fn cumulative_kernel(onyx_dtype dtype, bool product)
{
#define CUMULATIVE_CASE(D, T, V, LOAD, STORE)                                                  \
    case ONYX_DTYPE_##D:                                                                       \
        return product ? cumprod_##D : cumsum_##D;
    switch (dtype) {
        FOR_NUMERIC_IO(CUMULATIVE_CASE)
    default:
        return NULL;
    }
}

typedef struct cumsum_params {
    axis_map_fn row;
    unsigned options;
} cumsum_params;

static onyx_status cumulative_check(op_context *ctx, bool product)
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
    p->row = cumulative_kernel(op_input(ctx, 0)->dtype, product);
    p->options = (exclusive ? CUMSUM_EXCLUSIVE : 0) | (reverse ? CUMSUM_REVERSE : 0);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status cumsum_check(op_context *ctx) { return cumulative_check(ctx, false); }
static onyx_status cumprod_check(op_context *ctx) { return cumulative_check(ctx, true); }

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
    return axis_rows_plan(ctx, axis_rows_of(x, axis), 1);
}

static onyx_status cumsum_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const cumsum_params *p = ctx->params;
    axis_map_run(ctx, p->row, p->options, begin, end);
    return ONYX_OK;
}

const op_descriptor op_CumSum = {cumsum_check, cumsum_reshape, cumsum_run, 0};
const op_descriptor op_CumProd = {cumprod_check, cumsum_reshape, cumsum_run, 0};
