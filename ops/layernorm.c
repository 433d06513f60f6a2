/* LayerNormalization (opset 17): normalizes over the axes from `axis` to the end,
 * Y = (X - mean) / sqrt(var + epsilon) * Scale + B, with optional Mean and InvStdDev outputs
 * (the reduced axes kept as 1). Two-pass mean and variance, computed in double for float
 * inputs. Scale and B broadcast onto the normalized shape.
 *
 * RMSNormalization (opset 23) is the same without centering and without B:
 * Y = X / sqrt(mean(X^2) + epsilon) * Scale, so it shares the shape rules and the row loops
 * (its "mean" is 0 and its "variance" the mean square). */
#include "broadcast.h"
#include "elementwise.h"

#include <math.h>

typedef struct layernorm_params {
    int64_t axis;
    float epsilon;
    bool rms; /* RMSNormalization: no centering, no B, no statistics outputs */
} layernorm_params;

typedef struct layernorm_state {
    int64_t rows, len;
    broadcast scale, bias; /* onto one row of len elements */
    bool has_bias;
} layernorm_state;

static onyx_status norm_check(op_context *ctx, bool rms)
{
    /* RMSNormalization's schema lets Scale (and Y) have another float type than X; onyx
     * computes in X's type and takes Scale of the same type only. */
    onyx_status st = rms ? op_check_arity(ctx, 2, 2, 1, 1) : op_check_arity(ctx, 2, 3, 1, 3);
    if (!st)
        st = op_check_inputs_alike(ctx, rms ? 2 : 3, 2, DT_FLOATS);
    if (st)
        return st;
    layernorm_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->rms = rms;
    int64_t stash;
    if ((st = op_attr_int(ctx, "axis", -1, &p->axis)) || (st = op_attr_float(ctx, "epsilon", 1e-5f, &p->epsilon)) ||
        (st = op_attr_int(ctx, "stash_type", 1, &stash)))
        return st;
    if (stash != 1 && stash != 11)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "stash_type %lld is not supported (float or double only)",
                        (long long)stash);
    ctx->params = p;
    onyx_dtype dt = op_input(ctx, 0)->dtype;
    op_set_output_dtypes(ctx, dt);
    /* Mean and InvStdDev have the stash type. */
    for (int i = 1; i < ctx->n_outputs; i++)
        if (ctx->outputs[i])
            ctx->outputs[i]->dtype = stash == 11 ? ONYX_DTYPE_DOUBLE : ONYX_DTYPE_FLOAT;
    return ONYX_OK;
}

static onyx_status layernorm_check(op_context *ctx) { return norm_check(ctx, false); }
static onyx_status rmsnorm_check(op_context *ctx) { return norm_check(ctx, true); }

/* The normalized part of x (dims from axis on) as a tensor shape. */
static onyx_tensor row_shape(const onyx_tensor *x, int axis)
{
    onyx_tensor r = {.dtype = x->dtype, .rank = x->rank - axis};
    for (int i = axis; i < x->rank; i++)
        r.dims[i - axis] = x->dims[i];
    return r;
}

static onyx_status layernorm_reshape(op_context *ctx)
{
    const layernorm_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *scale = op_input(ctx, 1), *bias = op_input(ctx, 2);
    int axis;
    onyx_status st = op_axis(ctx, "axis", p->axis, x->rank, &axis);
    if (st)
        return st;
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    for (int i = 1; i < 3; i++) {
        onyx_tensor *stat = op_output(ctx, i);
        if (!stat)
            continue;
        tensor_set_shape(stat, x->rank, x->dims);
        for (int d = axis; d < x->rank; d++)
            stat->dims[d] = 1;
    }
    /* Scale and B must broadcast onto the normalized shape without growing it. */
    onyx_tensor row = row_shape(x, axis), tmp;
    for (int i = 1; i < 3; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        if (!t)
            continue;
        const onyx_tensor *pair[2] = {&row, t};
        if ((st = broadcast_shape(ctx, 2, pair, &tmp)))
            return st;
        bool same = tmp.rank == row.rank;
        for (int d = 0; same && d < row.rank; d++)
            same = dim_may_equal(tmp.dims[d], row.dims[d]);
        if (!same) {
            char a[128], b[128];
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s does not broadcast onto the normalized shape %s",
                            op_input_name(ctx, i), shape_str(t, a, sizeof a), shape_str(&row, b, sizeof b));
        }
    }
    if (!ctx->concrete)
        return ONYX_OK;
    layernorm_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->rows = shape_count(x->dims, axis);
    s->len = tensor_count(&row);
    const onyx_tensor *si[1] = {scale};
    broadcast_init(&s->scale, 1, si, &row);
    if (bias) {
        const onyx_tensor *bi[1] = {bias};
        broadcast_init(&s->bias, 1, bi, &row);
        s->has_bias = true;
    }
    ctx->state = s;
    ctx->n_tasks = s->rows;
    ctx->task_cost = s->len * 4;
    return ONYX_OK;
}

#define LAYERNORM_ROWS(T)                                                                      \
    static void layernorm_##T(const op_context *ctx, const layernorm_params *p, int64_t begin, int64_t end) \
    {                                                                                          \
        const layernorm_state *s = ctx->state;                                                 \
        const T *x = ctx->inputs[0]->data, *scale = ctx->inputs[1]->data;                      \
        const T *bias = s->has_bias ? ctx->inputs[2]->data : NULL;                             \
        T *y = ctx->outputs[0]->data;                                                          \
        onyx_tensor *mean_out = op_output(ctx, 1), *inv_out = op_output(ctx, 2);               \
        for (int64_t r = begin; r < end; r++) {                                                \
            const T *xr = x + r * s->len;                                                      \
            T *yr = y + r * s->len;                                                            \
            double sum = 0, sq = 0;                                                            \
            for (int64_t i = 0; i < s->len && !p->rms; i++)                                    \
                sum += xr[i];                                                                  \
            double mean = s->len ? sum / (double)s->len : 0;                                   \
            for (int64_t i = 0; i < s->len; i++)                                               \
                sq += (xr[i] - mean) * (xr[i] - mean);                                         \
            double var = s->len ? sq / (double)s->len : 0;                                     \
            double inv = 1.0 / sqrt(var + (double)p->epsilon);                                 \
            for (int64_t row = 0, i = 0; row < s->scale.rows; row++) {                         \
                int64_t so, bo = 0;                                                            \
                broadcast_row(&s->scale, row, &so);                                            \
                if (bias)                                                                      \
                    broadcast_row(&s->bias, row, &bo);                                         \
                for (int64_t j = 0; j < s->scale.inner; j++, i++) {                            \
                    double v = (xr[i] - mean) * inv * scale[so + j * s->scale.step[0]];        \
                    if (bias)                                                                  \
                        v += bias[bo + j * s->bias.step[0]];                                   \
                    yr[i] = (T)v;                                                              \
                }                                                                              \
            }                                                                                  \
            if (mean_out && mean_out->dtype == ONYX_DTYPE_FLOAT)                              \
                ((float *)mean_out->data)[r] = (float)mean;                                    \
            else if (mean_out)                                                                 \
                ((double *)mean_out->data)[r] = mean;                                          \
            if (inv_out && inv_out->dtype == ONYX_DTYPE_FLOAT)                                \
                ((float *)inv_out->data)[r] = (float)inv;                                      \
            else if (inv_out)                                                                  \
                ((double *)inv_out->data)[r] = inv;                                            \
        }                                                                                      \
    }
LAYERNORM_ROWS(float)
LAYERNORM_ROWS(double)

/* The common case, float32 with Scale and B of the row's length: sums in 16 float lanes
 * (vectorized; each lane adds len/16 terms), combined in double. */
#define LANES 16
ELEMENTWISE_CLONES static void layernorm_float_rows(const float *x, float *y, const float *scale, const float *bias,
                                                    int64_t len, float epsilon, float *mean_out, float *inv_out)
{
    float acc[LANES] = {0};
    int64_t whole = len - len % LANES;
    for (int64_t j = 0; j < whole; j += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[j + l];
    double sum = 0;
    for (int l = 0; l < LANES; l++)
        sum += acc[l];
    for (int64_t j = whole; j < len; j++)
        sum += x[j];
    float mean = (float)(sum / (double)len);
    float sq[LANES] = {0};
    for (int64_t j = 0; j < whole; j += LANES)
        for (int l = 0; l < LANES; l++)
            sq[l] += (x[j + l] - mean) * (x[j + l] - mean);
    double var = 0;
    for (int l = 0; l < LANES; l++)
        var += sq[l];
    for (int64_t j = whole; j < len; j++)
        var += (double)(x[j] - mean) * (x[j] - mean);
    float inv = (float)(1.0 / sqrt(var / (double)len + (double)epsilon));
    if (bias)
        for (int64_t j = 0; j < len; j++)
            y[j] = (x[j] - mean) * inv * scale[j] + bias[j];
    else
        for (int64_t j = 0; j < len; j++)
            y[j] = (x[j] - mean) * inv * scale[j];
    *mean_out = mean;
    *inv_out = inv;
}

/* RMSNormalization's common case, as layernorm_float_rows: the mean square in 16 lanes. */
ELEMENTWISE_CLONES static void rmsnorm_float_rows(const float *x, float *y, const float *scale, int64_t len,
                                                  float epsilon)
{
    float sq[LANES] = {0};
    int64_t whole = len - len % LANES;
    for (int64_t j = 0; j < whole; j += LANES)
        for (int l = 0; l < LANES; l++)
            sq[l] += x[j + l] * x[j + l];
    double sum = 0;
    for (int l = 0; l < LANES; l++)
        sum += sq[l];
    for (int64_t j = whole; j < len; j++)
        sum += (double)x[j] * x[j];
    float inv = (float)(1.0 / sqrt(sum / (double)len + (double)epsilon));
    for (int64_t j = 0; j < len; j++)
        y[j] = x[j] * inv * scale[j];
}

static onyx_status layernorm_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const layernorm_state *s = ctx->state;
    const onyx_tensor *mean = op_output(ctx, 1), *inv = op_output(ctx, 2);
    bool whole_rows = s->scale.rows == 1 && s->scale.step[0] == 1 && s->scale.inner == s->len &&
                      (!s->has_bias || (s->bias.rows == 1 && s->bias.step[0] == 1 && s->bias.inner == s->len));
    if (ctx->inputs[0]->dtype == ONYX_DTYPE_FLOAT && whole_rows && s->len > 0 &&
        (!mean || mean->dtype == ONYX_DTYPE_FLOAT) && (!inv || inv->dtype == ONYX_DTYPE_FLOAT)) {
        const layernorm_params *p = ctx->params;
        for (int64_t r = begin; r < end && p->rms; r++)
            rmsnorm_float_rows((const float *)ctx->inputs[0]->data + r * s->len,
                               (float *)ctx->outputs[0]->data + r * s->len, ctx->inputs[1]->data, s->len,
                               p->epsilon);
        for (int64_t r = begin; r < end && !p->rms; r++) {
            float m, i;
            layernorm_float_rows((const float *)ctx->inputs[0]->data + r * s->len,
                                 (float *)ctx->outputs[0]->data + r * s->len, ctx->inputs[1]->data,
                                 s->has_bias ? ctx->inputs[2]->data : NULL, s->len, p->epsilon, &m, &i);
            if (mean)
                ((float *)mean->data)[r] = m;
            if (inv)
                ((float *)inv->data)[r] = i;
        }
        return ONYX_OK;
    }
    if (ctx->inputs[0]->dtype == ONYX_DTYPE_FLOAT)
        layernorm_float(ctx, ctx->params, begin, end);
    else
        layernorm_double(ctx, ctx->params, begin, end);
    return ONYX_OK;
}

const op_descriptor op_LayerNormalization = {layernorm_check, layernorm_reshape, layernorm_run, 0};
const op_descriptor op_RMSNormalization = {rmsnorm_check, layernorm_reshape, layernorm_run, 0};
