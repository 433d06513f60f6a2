/* Normalizations over groups of elements: BatchNormalization (inference with given
 * statistics, and the training mode of opset 14 with batch statistics and running averages),
 * InstanceNormalization, MeanVarianceNormalization; LRN, across channels; GroupNormalization,
 * over groups of channels; and LpNormalization, along an axis.
 *
 * The first three share one scheme: the axes normalized together are "reduced" axes of a
 * reduce_plan, whose output elements are the groups (a channel, a (sample, channel) plane,
 * ...). For each group an operator-specific function turns the group's mean and variance
 * (two-pass, in double) into y = x * scale + shift, applied to the group's elements. */
#include "axis.h"
#include "float_dispatch.h"
#include "reduce.h"

#include <math.h>

typedef struct affine {
    double scale, shift;
} affine;

/* The affine map of group `group` from its mean and (population) variance; may also write
 * per-group outputs (BatchNormalization's running statistics). */
typedef affine (*group_map)(const op_context *ctx, int64_t group, double mean, double var);

typedef struct norm_params {
    group_map map;
    bool needs_moments; /* false when the statistics are inputs (BatchNormalization inference) */
    float epsilon, momentum;
    bool training;       /* BatchNormalization */
    bool per_activation; /* BatchNormalization before 9 with spatial = 0 */
    const int64_t *axes; /* MeanVarianceNormalization */
    int64_t n_axes;
    int64_t lrn_size;    /* LRN */
    float lrn_alpha, lrn_beta, lrn_bias;
} norm_params;

typedef struct norm_state {
    reduce_plan plan;  /* each output element of the plan is a group */
    int64_t channels;  /* the channel (index of scale, B, ...) of group g is g % channels */
} norm_state;

static norm_params *norm_params_new(op_context *ctx, group_map map, bool needs_moments)
{
    norm_params *p = op_alloc_params(ctx, sizeof *p);
    if (p) {
        p->map = map;
        p->needs_moments = needs_moments;
        ctx->params = p;
        op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    }
    return p;
}

static void store_at(onyx_tensor *t, int64_t i, double v)
{
    if (t->dtype == ONYX_DTYPE_FLOAT)
        ((float *)t->data)[i] = (float)v;
    else
        ((double *)t->data)[i] = v;
}

/* Whether t may hold `count` elements (unknown dims may make it so). */
static bool count_may_equal(const onyx_tensor *t, int64_t count)
{
    for (int d = 0; d < t->rank; d++)
        if (!dim_known(t->dims[d]))
            return true;
    return !dim_known(count) || shape_count(t->dims, t->rank) == count;
}

/* Inputs first..last must be 1-D with `count` elements each (any shape with that count when
 * `any_shape`). */
static onyx_status check_per_channel(const op_context *ctx, int first, int last, int64_t count, bool any_shape)
{
    for (int i = first; i <= last; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        char buf[128];
        if (any_shape ? !count_may_equal(t, count) : t->rank != 1 || !dim_may_equal(t->dims[0], count))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must hold one value per channel (%lld)",
                            op_input_name(ctx, i), shape_str(t, buf, sizeof buf), (long long)count);
    }
    return ONYX_OK;
}

/* Output 0 takes X's shape; the plan groups X's elements by the axes `reduced` leaves. */
static onyx_status norm_plan(op_context *ctx, const bool reduced[ONYX_MAX_RANK], int64_t channels)
{
    const onyx_tensor *x = op_input(ctx, 0);
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    norm_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    reduce_plan_init(&s->plan, x, reduced);
    s->channels = OP_MAX(channels, 1);
    ctx->state = s;
    ctx->n_tasks = s->plan.out_count;
    ctx->task_cost = s->plan.red_count * 4;
    return ONYX_OK;
}

#define NORM_GROUPS(T)                                                                         \
    static void norm_groups_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        (void)scratch;                                                                         \
        const norm_params *p = ctx->params;                                                    \
        const reduce_plan *plan = &((const norm_state *)ctx->state)->plan;                     \
        const T *x = ctx->inputs[0]->data;                                                     \
        T *y = ctx->outputs[0]->data;                                                          \
        for (int64_t g = begin; g < end; g++) {                                                \
            int64_t base = reduce_base(plan, g);                                               \
            double mean = 0, var = 0, n = (double)plan->red_count;                             \
            if (p->needs_moments && plan->red_count) {                                         \
                REDUCE_FOR_EACH(plan, base, off) mean += x[off];                               \
                mean /= n;                                                                     \
                REDUCE_FOR_EACH(plan, base, off) var += (x[off] - mean) * (x[off] - mean);     \
                var /= n;                                                                      \
            }                                                                                  \
            affine a = p->map(ctx, g, mean, var);                                              \
            REDUCE_FOR_EACH(plan, base, off) y[off] = (T)(x[off] * a.scale + a.shift);         \
        }                                                                                      \
    }
NORM_GROUPS(float)
NORM_GROUPS(double)

static onyx_status norm_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return run_float_kernel(ctx, begin, end, scratch, norm_groups_float, norm_groups_double);
}

/* y = (x - mean) / sqrt(var + epsilon) * scale[c] + B[c], with scale and B inputs 1 and 2. */
static affine scale_and_shift(const op_context *ctx, int64_t c, double mean, double var)
{
    const norm_params *p = ctx->params;
    double k = float_at(ctx->inputs[1], c) / sqrt(var + (double)p->epsilon);
    return (affine){k, float_at(ctx->inputs[2], c) - mean * k};
}

/* ---- BatchNormalization ------------------------------------------------------------------ */

static affine batchnorm_inference(const op_context *ctx, int64_t group, double mean, double var)
{
    (void)mean, (void)var;
    int64_t c = group % ((const norm_state *)ctx->state)->channels;
    return scale_and_shift(ctx, c, float_at(ctx->inputs[3], c), float_at(ctx->inputs[4], c));
}

/* Training: the batch's statistics normalize; the running ones move toward them. */
static affine batchnorm_training(const op_context *ctx, int64_t c, double mean, double var)
{
    const norm_params *p = ctx->params;
    double m = p->momentum;
    onyx_tensor *running_mean = op_output(ctx, 1), *running_var = op_output(ctx, 2);
    if (running_mean)
        store_at(running_mean, c, float_at(ctx->inputs[3], c) * m + mean * (1 - m));
    if (running_var)
        store_at(running_var, c, float_at(ctx->inputs[4], c) * m + var * (1 - m));
    return scale_and_shift(ctx, c, mean, var);
}

static onyx_status batchnorm_check(op_context *ctx)
{
    bool v14 = ctx->opset >= 14;
    onyx_status st = op_check_arity(ctx, 5, 5, 1, v14 ? 3 : 5);
    for (int i = 0; i < 5 && !st; i++)
        st = op_check_input(ctx, i, true, DT_FLOATS);
    /* From 15 the scale and B (T1) and the statistics (T2) may each have another float type. */
    for (int i = 1; i < 5 && !st; i++)
        st = op_check_same_dtype(ctx, ctx->opset >= 15 ? (i < 3 ? 1 : 3) : 0, i);
    if (st)
        return st;
    int64_t training = 0, spatial = 1;
    if (v14 && (st = op_attr_int(ctx, "training_mode", 0, &training)))
        return st;
    if (ctx->opset < 9 && (st = op_attr_int(ctx, "spatial", 1, &spatial)))
        return st;
    if (v14 && !training && ctx->n_outputs > 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "running_mean and running_var are outputs of training_mode only");
    if (!v14 && ctx->n_outputs > 1)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                        "the training outputs of BatchNormalization before opset 14 are not supported");
    norm_params *p = norm_params_new(ctx, training ? batchnorm_training : batchnorm_inference, training != 0);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->training = training != 0;
    p->per_activation = spatial == 0;
    if ((st = op_attr_float(ctx, "epsilon", 1e-5f, &p->epsilon)) ||
        (st = op_attr_float(ctx, "momentum", 0.9f, &p->momentum)))
        return st;
    for (int i = 1; i < ctx->n_outputs; i++)
        if (ctx->outputs[i])
            ctx->outputs[i]->dtype = op_input(ctx, 3)->dtype;
    return ONYX_OK;
}

static onyx_status batchnorm_reshape(op_context *ctx)
{
    const norm_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    char buf[128];
    if (x->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X %s must have N and C axes", shape_str(x, buf, sizeof buf));
    /* Per activation (spatial = 0), every element of a sample has its own statistics. */
    int64_t channels = p->per_activation ? shape_count(x->dims + 1, x->rank - 1) : x->dims[1];
    for (int d = 1; p->per_activation && d < x->rank; d++)
        if (!dim_known(x->dims[d]))
            channels = DIM_UNKNOWN;
    onyx_status st = check_per_channel(ctx, 1, 4, channels, p->per_activation);
    if (st)
        return st;
    for (int i = 1; i < 3; i++)
        if (op_output(ctx, i))
            tensor_set_shape(op_output(ctx, i), 1, &x->dims[1]);
    /* Training normalizes each channel over the batch and the spatial axes; inference each
     * (sample, channel) plane with the same given statistics. */
    bool reduced[ONYX_MAX_RANK] = {false};
    for (int d = 0; d < x->rank; d++)
        reduced[d] = p->training ? d != 1 : d >= 2 && !p->per_activation;
    return norm_plan(ctx, reduced, channels);
}

const op_descriptor op_BatchNormalization = {batchnorm_check, batchnorm_reshape, norm_run, 0};

/* ---- InstanceNormalization --------------------------------------------------------------- */

static affine instancenorm_map(const op_context *ctx, int64_t group, double mean, double var)
{
    return scale_and_shift(ctx, group % ((const norm_state *)ctx->state)->channels, mean, var);
}

static onyx_status instancenorm_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 3, DT_FLOATS);
    norm_params *p = st ? NULL : norm_params_new(ctx, instancenorm_map, true);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    return op_attr_float(ctx, "epsilon", 1e-5f, &p->epsilon);
}

static onyx_status instancenorm_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    char buf[128];
    if (x->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "input %s must have N and C axes", shape_str(x, buf, sizeof buf));
    onyx_status st = check_per_channel(ctx, 1, 2, x->dims[1], false);
    bool reduced[ONYX_MAX_RANK] = {false};
    for (int d = 2; d < x->rank; d++)
        reduced[d] = true;
    return st ? st : norm_plan(ctx, reduced, x->dims[1]);
}

const op_descriptor op_InstanceNormalization = {instancenorm_check, instancenorm_reshape, norm_run, 0};

/* ---- MeanVarianceNormalization ----------------------------------------------------------- */

/* (x - mean) / (sqrt(var) + 1e-9): the epsilon of the operator's function definition. */
static affine mvn_map(const op_context *ctx, int64_t group, double mean, double var)
{
    (void)ctx, (void)group;
    double k = 1 / (sqrt(var) + 1e-9);
    return (affine){k, -mean * k};
}

static onyx_status mvn_check(op_context *ctx)
{
    static const int64_t default_axes[] = {0, 2, 3};
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS);
    norm_params *p = st ? NULL : norm_params_new(ctx, mvn_map, true);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_ints(ctx, "axes", &p->axes, &p->n_axes)))
        return st;
    if (p->n_axes < 0) {
        p->axes = default_axes;
        p->n_axes = 3;
    }
    return ONYX_OK;
}

static onyx_status mvn_reshape(op_context *ctx)
{
    const norm_params *p = ctx->params;
    bool reduced[ONYX_MAX_RANK];
    onyx_tensor kept;
    /* An empty axes list, like an absent one for ReduceMean in the operator's function,
     * normalizes over all axes. */
    onyx_status st = reduce_shape(ctx, op_input(ctx, 0), p->axes, p->n_axes, true, false, reduced, &kept);
    return st ? st : norm_plan(ctx, reduced, 1);
}

const op_descriptor op_MeanVarianceNormalization = {mvn_check, mvn_reshape, norm_run, 0};

/* ---- LRN --------------------------------------------------------------------------------- */

typedef struct lrn_state {
    int64_t channels, inner; /* C, and the elements of one channel of a sample */
} lrn_state;

static onyx_status lrn_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS);
    if (!st)
        st = op_attr_require(ctx, "size");
    norm_params *p = st ? NULL : norm_params_new(ctx, NULL, false);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "size", 1, &p->lrn_size)) || (st = op_attr_float(ctx, "alpha", 1e-4f, &p->lrn_alpha)) ||
        (st = op_attr_float(ctx, "beta", 0.75f, &p->lrn_beta)) || (st = op_attr_float(ctx, "bias", 1.0f, &p->lrn_bias)))
        return st;
    if (p->lrn_size < 1 || p->lrn_size > INT32_MAX)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute 'size' is %lld, not a positive count", (long long)p->lrn_size);
    return ONYX_OK;
}

static onyx_status lrn_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    char buf[128];
    if (x->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X %s must have N and C axes", shape_str(x, buf, sizeof buf));
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    lrn_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->channels = x->dims[1];
    s->inner = shape_count(x->dims + 2, x->rank - 2);
    ctx->state = s;
    ctx->n_tasks = x->dims[0] * s->channels;
    ctx->task_cost = s->inner * OP_MIN(((const norm_params *)ctx->params)->lrn_size, s->channels) * 2;
    return ONYX_OK;
}

/* One (sample, channel) plane per task: each element divided by (bias + alpha / size * the
 * sum of squares across the channels c - floor((size - 1) / 2) .. c + ceil((size - 1) / 2)) ^ beta. */
#define LRN_PLANES(T)                                                                          \
    static void lrn_planes_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        (void)scratch;                                                                         \
        const norm_params *p = ctx->params;                                                    \
        const lrn_state *s = ctx->state;                                                       \
        const T *x = ctx->inputs[0]->data;                                                     \
        T *y = ctx->outputs[0]->data;                                                          \
        double alpha = (double)p->lrn_alpha / (double)p->lrn_size;                             \
        for (int64_t t = begin; t < end; t++) {                                                \
            int64_t c = t % s->channels, sample = t - c;                                       \
            int64_t from = OP_MAX(0, c - (p->lrn_size - 1) / 2);                               \
            int64_t to = OP_MIN(s->channels - 1, c + p->lrn_size / 2);                          \
            for (int64_t i = 0; i < s->inner; i++) {                                           \
                double sum = 0;                                                                \
                for (int64_t k = from; k <= to; k++) {                                         \
                    double v = x[(sample + k) * s->inner + i];                                 \
                    sum += v * v;                                                              \
                }                                                                              \
                y[t * s->inner + i] = (T)(x[t * s->inner + i] / pow(p->lrn_bias + alpha * sum, p->lrn_beta)); \
            }                                                                                  \
        }                                                                                      \
    }
LRN_PLANES(float)
LRN_PLANES(double)

static onyx_status lrn_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return run_float_kernel(ctx, begin, end, scratch, lrn_planes_float, lrn_planes_double);
}

const op_descriptor op_LRN = {lrn_check, lrn_reshape, lrn_run, 0};

/* ---- GroupNormalization ------------------------------------------------------------------ */

/* Opset 21 (18 is deprecated: its scale and bias held one value per group). The channels of a
 * sample fall into num_groups groups of C / num_groups consecutive channels; each (sample,
 * group) is normalized by its own mean and variance, then each channel scaled and shifted by
 * its own scale and bias. A group's elements are contiguous in X, so a task is one of them.
 * The statistics are computed in double whatever stash_type asks (float or double). */

typedef struct groupnorm_params {
    int64_t groups;
    float epsilon;
} groupnorm_params;

typedef struct groupnorm_state {
    int64_t channels, per_group, inner; /* C, C / groups, the elements of one channel */
} groupnorm_state;

static onyx_status groupnorm_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 3, DT_FLOATS);
    if (!st)
        st = op_attr_require(ctx, "num_groups");
    if (st)
        return st;
    groupnorm_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t stash;
    if ((st = op_attr_int(ctx, "num_groups", 1, &p->groups)) ||
        (st = op_attr_float(ctx, "epsilon", 1e-5f, &p->epsilon)) ||
        (st = op_attr_int(ctx, "stash_type", 1, &stash)))
        return st;
    if (p->groups < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'num_groups' is %lld; it must be positive",
                        (long long)p->groups);
    if (stash != 1 && stash != 11)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                        "stash_type %lld is not supported (float or double only)", (long long)stash);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status groupnorm_reshape(op_context *ctx)
{
    const groupnorm_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    char buf[128];
    if (x->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X %s must have N and C axes",
                        shape_str(x, buf, sizeof buf));
    int64_t channels = x->dims[1];
    if (dim_known(channels) && channels % p->groups)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "X %s has %lld channels, not a multiple of num_groups (%lld)",
                        shape_str(x, buf, sizeof buf), (long long)channels, (long long)p->groups);
    onyx_status st = check_per_channel(ctx, 1, 2, channels, false);
    if (st)
        return st;
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    groupnorm_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->channels = channels;
    s->per_group = channels / p->groups;
    s->inner = shape_count(x->dims + 2, x->rank - 2);
    ctx->state = s;
    /* With no channels any num_groups divides C: no groups then, however many it names. */
    ctx->n_tasks = channels ? x->dims[0] * p->groups : 0;
    ctx->task_cost = s->per_group * s->inner * 4;
    return ONYX_OK;
}

#define GROUPNORM_GROUPS(T)                                                                    \
    static void groupnorm_groups_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        (void)scratch;                                                                         \
        const groupnorm_params *p = ctx->params;                                               \
        const groupnorm_state *s = ctx->state;                                                 \
        const T *scale = ctx->inputs[1]->data, *bias = ctx->inputs[2]->data;                   \
        int64_t len = s->per_group * s->inner;                                                 \
        for (int64_t t = begin; t < end; t++) {                                                \
            const T *x = (const T *)ctx->inputs[0]->data + t * len;                            \
            T *y = (T *)ctx->outputs[0]->data + t * len;                                       \
            double mean = 0, var = 0;                                                          \
            for (int64_t i = 0; i < len; i++)                                                  \
                mean += x[i];                                                                  \
            mean = len ? mean / (double)len : 0;                                               \
            for (int64_t i = 0; i < len; i++)                                                  \
                var += (x[i] - mean) * (x[i] - mean);                                          \
            var = len ? var / (double)len : 0;                                                 \
            double inv = 1 / sqrt(var + (double)p->epsilon);                                   \
            int64_t first = t % p->groups * s->per_group;                                      \
            for (int64_t c = 0; c < s->per_group; c++) {                                       \
                double k = scale[first + c] * inv, shift = bias[first + c] - mean * k;         \
                for (int64_t i = c * s->inner; i < (c + 1) * s->inner; i++)                    \
                    y[i] = (T)(x[i] * k + shift);                                              \
            }                                                                                  \
        }                                                                                      \
    }
GROUPNORM_GROUPS(float)
GROUPNORM_GROUPS(double)

static onyx_status groupnorm_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return run_float_kernel(ctx, begin, end, scratch, groupnorm_groups_float, groupnorm_groups_double);
}

const op_descriptor op_GroupNormalization = {groupnorm_check, groupnorm_reshape, groupnorm_run, 0};

/* ---- LpNormalization --------------------------------------------------------------------- */

/* Each row along `axis` divided by its L1 or L2 norm (in double); a row of norm 0 gives 0s. The
 * row option is p. */
#define LPNORM_ROW(D, T, V, LOAD, STORE)                                                       \
    static void lpnorm_##D(const void *x_, void *y_, int64_t len, int64_t stride, unsigned p) \
    {                                                                                          \
        const T *x = x_;                                                                       \
        T *y = y_;                                                                             \
        double norm = 0;                                                                       \
        for (int64_t k = 0; k < len; k++) {                                                    \
            double v = LOAD(x[k * stride]);                                                    \
            norm += p == 1 ? fabs(v) : v * v;                                                  \
        }                                                                                      \
        if (p == 2)                                                                            \
            norm = sqrt(norm);                                                                 \
        for (int64_t k = 0; k < len; k++)                                                      \
            y[k * stride] = STORE((V)(norm == 0 ? 0 : LOAD(x[k * stride]) / norm));           \
    }
FOR_FLOAT_IO(LPNORM_ROW)

typedef struct lpnorm_params {
    axis_map_fn row;
    int64_t axis;
    unsigned p;
} lpnorm_params;

static onyx_status lpnorm_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOAT_IO);
    if (st)
        return st;
    lpnorm_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t order;
    if ((st = op_attr_int(ctx, "p", 2, &order)) || (st = op_attr_int(ctx, "axis", -1, &p->axis)))
        return st;
    if (order != 1 && order != 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'p' is %lld; it must be 1 or 2",
                        (long long)order);
    p->p = (unsigned)order;
    switch (op_input(ctx, 0)->dtype) {
#define LPNORM_CASE(D, T, V, LOAD, STORE)                                                      \
    case ONYX_DTYPE_##D:                                                                       \
        p->row = lpnorm_##D;                                                                   \
        break;
        FOR_FLOAT_IO(LPNORM_CASE)
#undef LPNORM_CASE
    default:
        break;
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status lpnorm_reshape(op_context *ctx)
{
    const lpnorm_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    int axis;
    onyx_status st = op_axis(ctx, "axis", p->axis, x->rank, &axis);
    if (st)
        return st;
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    return ctx->concrete ? axis_rows_plan(ctx, axis_rows_of(x, axis), 3) : ONYX_OK;
}

static onyx_status lpnorm_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const lpnorm_params *p = ctx->params;
    axis_map_run(ctx, p->row, p->p, begin, end);
    return ONYX_OK;
}

const op_descriptor op_LpNormalization = {lpnorm_check, lpnorm_reshape, lpnorm_run, 0};
