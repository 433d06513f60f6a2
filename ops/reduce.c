/* Reductions over axes: ReduceSum, ReduceSumSquare, ReduceMean, ReduceProd, ReduceMax,
 * ReduceMin, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp. Axes come from the 'axes'
 * attribute, or from the second input where the operator version takes them so (ReduceSum
 * from 13, every Reduce* from 18).
 *
 * Arithmetic: floating-point inputs accumulate in double and round once. Integer sums,
 * products and means wrap modulo 2^64 (as numpy's int64 arithmetic does), then to the width;
 * Max and Min compare natively; the real-valued results (L2, LogSum, LogSumExp) are computed
 * in double and stored as Cast would. An empty reduction gives the identity of the operation:
 * 0 for sums, 1 for Prod, the lowest value for Max, NaN (0 for integers) for Mean. Max and
 * Min also take bool from opset 20; LogSum and LogSumExp take only floating point from 28. */
#include "dtype_io.h"
#include "elementwise.h"
#include "reduce.h"
#include "shape_input.h"

typedef enum reduce_op {
    REDUCE_SUM,
    REDUCE_SUM_SQUARE,
    REDUCE_MEAN,
    REDUCE_PROD,
    REDUCE_MAX,
    REDUCE_MIN,
    REDUCE_L1,
    REDUCE_L2,
    REDUCE_LOG_SUM,
    REDUCE_LOG_SUM_EXP,
    REDUCE_OP_COUNT
} reduce_op;

/* Reduces the elements of each output i in [begin, end). */
typedef void (*reduce_kernel)(const reduce_plan *p, const void *in, void *out, int64_t begin, int64_t end);

/* ---- kernels ------------------------------------------------------------------------------ */

/* Defines `name_fold(p, in, base)`: `acc` (an ACC) starts at INIT, then STEP runs for each
 * element `x` (a V read with LOAD) reduced into the output whose first input offset is base.
 * INIT may use p, in and base (a first pass of another fold). */
#define REDUCE_FOLD(name, T, V, ACC, LOAD, INIT, STEP)                                         \
    static inline ACC name##_fold(const reduce_plan *p, const T *in, int64_t base)             \
    {                                                                                          \
        ACC acc = INIT;                                                                        \
        if (p->contiguous) {                                                                   \
            for (int64_t j = 0; j < p->red_count; j++) {                                       \
                V x = LOAD(in[base + j]);                                                      \
                STEP;                                                                          \
            }                                                                                  \
        } else {                                                                               \
            REDUCE_FOR_EACH(p, base, off) {                                                    \
                V x = LOAD(in[off]);                                                           \
                STEP;                                                                          \
            }                                                                                  \
        }                                                                                      \
        return acc;                                                                            \
    }

/* Defines the reduce_kernel `name` over that fold: each output is RESULT, an expression of
 * `acc` and `n` (the count of elements reduced). */
#define REDUCER(name, T, V, ACC, LOAD, INIT, STEP, RESULT)                                     \
    REDUCE_FOLD(name, T, V, ACC, LOAD, INIT, STEP)                                             \
    static void name(const reduce_plan *p, const void *in_, void *out_, int64_t begin, int64_t end) \
    {                                                                                          \
        const T *in = in_;                                                                     \
        T *out = out_;                                                                         \
        const int64_t n = p->red_count;                                                        \
        (void)n;                                                                               \
        for (int64_t i = begin; i < end; i++) {                                                \
            ACC acc = name##_fold(p, in, reduce_base(p, i));                                   \
            out[i] = RESULT;                                                                   \
        }                                                                                      \
    }

/* NaN propagates through Max and Min, as in numpy. */
#define KEEP_MAX(acc, x) acc = (x) > (acc) || VALUE_IS_NAN(x) ? (x) : (acc)
#define KEEP_MIN(acc, x) acc = (x) < (acc) || VALUE_IS_NAN(x) ? (x) : (acc)

/* LogSumExp shifts by the maximum so that exp cannot overflow: max + log(sum exp(x - max)).
 * An infinite maximum is not subtracted (inf - inf would be NaN): the sum then gives +inf,
 * or -inf when every element is -inf. */
typedef struct log_sum_exp_acc {
    double shift, sum;
} log_sum_exp_acc;
static inline log_sum_exp_acc log_sum_exp_start(double max)
{
    return (log_sum_exp_acc){isinf(max) ? 0 : max, 0};
}
static inline double log_sum_exp_result(log_sum_exp_acc a) { return a.shift + log(a.sum); }

/* Floating-point dtypes: every operation, in double. STORE takes the double result. */
#define FLOAT_REDUCERS(D, T, V, LOAD, STORE)                                                   \
    REDUCER(sum_##D, T, double, double, LOAD, 0, acc += x, STORE(acc))                         \
    REDUCER(sum_square_##D, T, double, double, LOAD, 0, acc += x * x, STORE(acc))              \
    REDUCER(mean_##D, T, double, double, LOAD, 0, acc += x, STORE(n ? acc / (double)n : NAN))  \
    REDUCER(prod_##D, T, double, double, LOAD, 1, acc *= x, STORE(acc))                        \
    REDUCER(max_##D, T, double, double, LOAD, -INFINITY, KEEP_MAX(acc, x), STORE(acc))         \
    REDUCER(min_##D, T, double, double, LOAD, INFINITY, KEEP_MIN(acc, x), STORE(acc))          \
    REDUCER(l1_##D, T, double, double, LOAD, 0, acc += fabs(x), STORE(acc))
FOR_FLOAT_IO(FLOAT_REDUCERS)

/* Integer dtypes: sums and products wrap in 64 bits (unsigned arithmetic: no overflow UB);
 * Max and Min stay in the type. */
#define MAGNITUDE(v) ((v) < 0 ? 0 - (uint64_t)(v) : (uint64_t)(v))
#define INT_REDUCERS(D, T, V, LOAD, STORE)                                                     \
    REDUCER(sum_##D, T, uint64_t, uint64_t, LOAD, 0, acc += x, acc)                            \
    REDUCER(sum_square_##D, T, uint64_t, uint64_t, LOAD, 0, acc += x * x, acc)                 \
    REDUCER(prod_##D, T, uint64_t, uint64_t, LOAD, 1, acc *= x, acc)                           \
    REDUCER(max_##D, T, T, T, LOAD, INT_TYPE_MIN(T), KEEP_MAX(acc, x), acc)                    \
    REDUCER(min_##D, T, T, T, LOAD, INT_TYPE_MAX(T), KEEP_MIN(acc, x), acc)
#define SIGNED_REDUCERS(D, T, V, LOAD, STORE)                                                  \
    REDUCER(mean_##D, T, uint64_t, uint64_t, LOAD, 0, acc += x, n ? (int64_t)acc / n : 0)     \
    REDUCER(l1_##D, T, uint64_t, uint64_t, MAGNITUDE, 0, acc += x, acc)
#define UNSIGNED_REDUCERS(D, T, V, LOAD, STORE)                                                \
    REDUCER(mean_##D, T, uint64_t, uint64_t, LOAD, 0, acc += x, n ? acc / (uint64_t)n : 0)    \
    REDUCER(l1_##D, T, uint64_t, uint64_t, LOAD, 0, acc += x, acc)
FOR_INT_IO(INT_REDUCERS)
FOR_SIGNED_IO(SIGNED_REDUCERS)
FOR_UNSIGNED_IO(UNSIGNED_REDUCERS)

/* Real-valued results, for every dtype: computed in double; integers store them as Cast. */
#define REAL_REDUCERS(D, T, V, LOAD, STORE)                                                    \
    REDUCER(l2_##D, T, double, double, LOAD, 0, acc += x * x, STORE(sqrt(acc)))                \
    REDUCER(log_sum_##D, T, double, double, LOAD, 0, acc += x, STORE(log(acc)))                \
    REDUCER(log_sum_exp_##D, T, double, log_sum_exp_acc, LOAD,                                 \
            log_sum_exp_start(max_##D##_fold(p, in, base)), acc.sum += exp(x - acc.shift),     \
            STORE(log_sum_exp_result(acc)))
#define INT_REAL_REDUCERS(D, T, V, LOAD, STORE) REAL_REDUCERS(D, T, V, LOAD, real_to_int_bits)
FOR_FLOAT_IO(REAL_REDUCERS)
FOR_INT_IO(INT_REAL_REDUCERS)

/* Bool (ReduceMax and ReduceMin from opset 20): Max is "any", Min is "all"; an empty
 * reduction gives false and true, the lowest and highest bool. */
#define BOOL_LOAD(v) ((v) != 0)
REDUCER(max_BOOL, uint8_t, uint8_t, uint8_t, BOOL_LOAD, 0, acc |= x, acc)
REDUCER(min_BOOL, uint8_t, uint8_t, uint8_t, BOOL_LOAD, 1, acc &= x, acc)

#define KERNELS_OF(D, T, V, LOAD, STORE)                                                       \
    [ONYX_DTYPE_##D] = {[REDUCE_SUM] = sum_##D,                                                \
                        [REDUCE_SUM_SQUARE] = sum_square_##D,                                  \
                        [REDUCE_MEAN] = mean_##D,                                              \
                        [REDUCE_PROD] = prod_##D,                                              \
                        [REDUCE_MAX] = max_##D,                                                \
                        [REDUCE_MIN] = min_##D,                                                \
                        [REDUCE_L1] = l1_##D,                                                  \
                        [REDUCE_L2] = l2_##D,                                                  \
                        [REDUCE_LOG_SUM] = log_sum_##D,                                        \
                        [REDUCE_LOG_SUM_EXP] = log_sum_exp_##D},
static const reduce_kernel kernels[DTYPE_COUNT][REDUCE_OP_COUNT] = {
    FOR_NUMERIC_IO(KERNELS_OF)[ONYX_DTYPE_BOOL] = {[REDUCE_MAX] = max_BOOL, [REDUCE_MIN] = min_BOOL},
};

/* ---- the operators ------------------------------------------------------------------------ */

typedef struct reduce_params {
    reduce_kernel kernel;
    bool keepdims, noop_when_empty, axes_from_input;
    const int64_t *axes;
    int64_t n_axes;
} reduce_params;

static onyx_status reduce_check(op_context *ctx, reduce_op op, int axes_input_since)
{
    bool from_input = ctx->opset >= axes_input_since;
    bool bools = (op == REDUCE_MAX || op == REDUCE_MIN) && ctx->opset >= 20;
    onyx_status st = op_check_arity(ctx, 1, from_input ? 2 : 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_NUMERIC_IO | (bools ? DT(BOOL) : 0));
    if (!st && from_input)
        st = op_check_input(ctx, 1, false, DT(INT64));
    if (st)
        return st;
    const onyx_tensor *x = op_input(ctx, 0);
    reduce_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kernel = kernels[x->dtype][op];
    int64_t keepdims, noop;
    if ((st = op_attr_int(ctx, "keepdims", 1, &keepdims)) ||
        (st = op_attr_int(ctx, "noop_with_empty_axes", 0, &noop)))
        return st;
    p->keepdims = keepdims != 0;
    p->noop_when_empty = noop != 0;
    p->axes_from_input = from_input;
    if (from_input && op_has_attr(ctx, "axes"))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "takes its axes as an input at opset %d, not as an attribute",
                        ctx->opset);
    if (!from_input && (st = op_attr_ints(ctx, "axes", &p->axes, &p->n_axes)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, x->dtype);
    return ONYX_OK;
}

static onyx_status reduce_reshape(op_context *ctx)
{
    const reduce_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *axes_in = op_input(ctx, 1);
    const int64_t *axes = p->axes;
    int64_t n_axes = p->n_axes;
    if (p->axes_from_input && axes_in) {
        if (axes_in->rank != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axes must be 1-D");
        if (values_unknown(axes_in))
            return ONYX_DEFER;
        axes = axes_in->data;
        n_axes = axes_in->dims[0];
    }
    bool mask[ONYX_MAX_RANK];
    onyx_status st = reduce_shape(ctx, x, axes, n_axes, p->keepdims, p->noop_when_empty, mask, op_output(ctx, 0));
    if (st || !ctx->concrete)
        return st;
    reduce_plan *plan = op_alloc_state(ctx, sizeof *plan);
    if (!plan)
        return ONYX_ERROR_OUT_OF_MEMORY;
    reduce_plan_init(plan, x, mask);
    ctx->state = plan;
    ctx->n_tasks = plan->out_count;
    ctx->task_cost = plan->red_count;
    return ONYX_OK;
}

static onyx_status reduce_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const reduce_params *p = ctx->params;
    p->kernel(ctx->state, ctx->inputs[0]->data, ctx->outputs[0]->data, begin, end);
    return ONYX_OK;
}

static onyx_status reduce_sum_check(op_context *ctx) { return reduce_check(ctx, REDUCE_SUM, 13); }
const op_descriptor op_ReduceSum = {reduce_sum_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_sum_square_check(op_context *ctx) { return reduce_check(ctx, REDUCE_SUM_SQUARE, 18); }
const op_descriptor op_ReduceSumSquare = {reduce_sum_square_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_mean_check(op_context *ctx) { return reduce_check(ctx, REDUCE_MEAN, 18); }
const op_descriptor op_ReduceMean = {reduce_mean_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_prod_check(op_context *ctx) { return reduce_check(ctx, REDUCE_PROD, 18); }
const op_descriptor op_ReduceProd = {reduce_prod_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_max_check(op_context *ctx) { return reduce_check(ctx, REDUCE_MAX, 18); }
const op_descriptor op_ReduceMax = {reduce_max_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_min_check(op_context *ctx) { return reduce_check(ctx, REDUCE_MIN, 18); }
const op_descriptor op_ReduceMin = {reduce_min_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_l1_check(op_context *ctx) { return reduce_check(ctx, REDUCE_L1, 18); }
const op_descriptor op_ReduceL1 = {reduce_l1_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_l2_check(op_context *ctx) { return reduce_check(ctx, REDUCE_L2, 18); }
const op_descriptor op_ReduceL2 = {reduce_l2_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_log_sum_check(op_context *ctx) { return reduce_check(ctx, REDUCE_LOG_SUM, 18); }
const op_descriptor op_ReduceLogSum = {reduce_log_sum_check, reduce_reshape, reduce_run, 0};
static onyx_status reduce_log_sum_exp_check(op_context *ctx) { return reduce_check(ctx, REDUCE_LOG_SUM_EXP, 18); }
const op_descriptor op_ReduceLogSumExp = {reduce_log_sum_exp_check, reduce_reshape, reduce_run, 0};
