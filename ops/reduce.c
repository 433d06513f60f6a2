/* Reductions over axes: ReduceMean. Axes come from the 'axes' attribute, or from the second
 * input where the operator version takes them so (ReduceSum-13, every Reduce* from 18). */
#include "elementwise.h"
#include "reduce.h"

/* Reduces the elements of each output i in [begin, end). */
typedef void (*reduce_kernel)(const reduce_plan *p, const void *in, void *out, int64_t begin, int64_t end);

typedef struct reduce_family {
    reduce_kernel kernels[DTYPE_COUNT];
    int axes_input_since; /* opset from which axes are an input (0: never) */
} reduce_family;

typedef struct reduce_params {
    reduce_kernel kernel;
    bool keepdims, noop_when_empty, axes_from_input;
    const int64_t *axes;
    int64_t n_axes;
} reduce_params;

static onyx_status reduce_check(op_context *ctx, const reduce_family *family)
{
    bool from_input = family->axes_input_since && ctx->opset >= family->axes_input_since;
    onyx_status st = op_check_arity(ctx, 1, from_input ? 2 : 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st && from_input)
        st = op_check_input(ctx, 1, false, DT(INT64));
    if (st)
        return st;
    const onyx_tensor *x = op_input(ctx, 0);
    reduce_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (!(p->kernel = family->kernels[x->dtype]))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "no implementation for dtype %s", onyx_dtype_name(x->dtype));
    int64_t keepdims, noop;
    if ((st = op_attr_int(ctx, "keepdims", 1, &keepdims)) ||
        (st = op_attr_int(ctx, "noop_with_empty_axes", 0, &noop)))
        return st;
    p->keepdims = keepdims != 0;
    p->noop_when_empty = noop != 0;
    p->axes_from_input = from_input;
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
        if (!axes_in->data)
            return ONYX_DEFER;
        if (axes_in->rank != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axes must be 1-D");
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

#define REDUCE_OPERATOR(name, family)                                                          \
    static onyx_status name##_check(op_context *ctx) { return reduce_check(ctx, &family); }      \
    const op_descriptor op_##name = {name##_check, reduce_reshape, reduce_run, 0}

/* ---- ReduceMean ---------------------------------------------------------------------------- */

/* Sums in the accumulator type ACC (double for float inputs: the mean of many floats stays
 * accurate), then divides by the count. */
#define MEAN_KERNEL(D, T, ACC, EMPTY)                                                               \
    static void mean_##D(const reduce_plan *p, const void *in_, void *out_, int64_t begin, int64_t end) \
    {                                                                                          \
        const T *in = in_;                                                                     \
        T *out = out_;                                                                         \
        for (int64_t i = begin; i < end; i++) {                                                \
            ACC sum = 0;                                                                       \
            int64_t base = reduce_base(p, i);                                                  \
            if (p->contiguous) {                                                               \
                for (int64_t j = 0; j < p->red_count; j++)                                     \
                    sum += in[base + j];                                                       \
            } else {                                                                           \
                REDUCE_FOR_EACH(p, base, off) sum += in[off];                                  \
            }                                                                                  \
            out[i] = p->red_count ? (T)(sum / (ACC)p->red_count) : (EMPTY);                      \
        }                                                                                      \
    }
MEAN_KERNEL(FLOAT, float, double, NAN) /* the mean of nothing, as numpy has it */
MEAN_KERNEL(DOUBLE, double, double, NAN)
MEAN_KERNEL(INT32, int32_t, int64_t, 0)
MEAN_KERNEL(INT64, int64_t, int64_t, 0)

static const reduce_family mean_family = {
    .kernels = {[ONYX_DTYPE_FLOAT] = mean_FLOAT, [ONYX_DTYPE_DOUBLE] = mean_DOUBLE,
                [ONYX_DTYPE_INT32] = mean_INT32, [ONYX_DTYPE_INT64] = mean_INT64},
    .axes_input_since = 18};

REDUCE_OPERATOR(ReduceMean, mean_family);
