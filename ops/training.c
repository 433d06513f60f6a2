/* The optimizers of domain ai.onnx.preview.training: Adagrad, Adam and Momentum. Each takes a
 * learning rate R and an iteration count T (scalars), then n tensors to optimize, their n
 * gradients and their n accumulators (Adam: two sets), and returns the n updated tensors then
 * the updated accumulators, each update a closed form per element, computed step by step in
 * the precision ONNX's reference (numpy) computes it: float32 for float tensors, except what
 * the int64 T promotes to double (Adagrad's and Adam's learning rates, and so their updates
 * of X). */
#include "dtype_io.h"
#include "op.h"

#include <math.h>
#include <string.h>

typedef enum { OPT_ADAGRAD, OPT_ADAM, OPT_MOMENTUM } optimizer_kind;

typedef struct optimizer_params {
    optimizer_kind kind;
    int sets;              /* accumulator sets per tensor: 1, or 2 for Adam (V and H) */
    int n;                 /* tensors optimized */
    double norm_coefficient, norm_coefficient_post, decay_factor, epsilon, alpha, beta;
    bool nesterov;
} optimizer_params;

static onyx_status attr_double(const op_context *ctx, const char *name, float dflt, bool required,
                               double *value)
{
    float f;
    onyx_status st = required ? op_attr_require(ctx, name) : ONYX_OK;
    if (!st)
        st = op_attr_float(ctx, name, dflt, &f);
    if (!st && !isfinite(f))
        st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' is not finite", name);
    *value = f;
    return st;
}

static onyx_status optimizer_check(op_context *ctx, optimizer_kind kind)
{
    optimizer_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kind = kind;
    p->sets = kind == OPT_ADAM ? 2 : 1;
    int per = 2 + p->sets; /* X, G and the accumulators */
    if (ctx->n_inputs < 2 + per || (ctx->n_inputs - 2) % per)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "%d inputs: expected R, T and %d per optimized tensor (X, G%s)", ctx->n_inputs, per,
                        kind == OPT_ADAM ? ", V, H" : kind == OPT_ADAGRAD ? ", H" : ", V");
    p->n = (ctx->n_inputs - 2) / per;
    if (ctx->n_outputs != (1 + p->sets) * p->n)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%d outputs: expected %d for %d optimized tensors",
                        ctx->n_outputs, (1 + p->sets) * p->n, p->n);
    onyx_status st = op_check_input(ctx, 0, true, DT_FLOATS);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (!st)
        st = op_check_input(ctx, 2, true, DT_FLOATS);
    for (int i = 3; !st && i < ctx->n_inputs; i++)
        if (!(st = op_check_input(ctx, i, true, DT_FLOATS)))
            st = op_check_same_dtype(ctx, i, 2);
    for (int i = 0; !st && i < ctx->n_outputs; i++)
        if (!op_output(ctx, i))
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "output %d is required", i);
    if (st)
        return st;
    switch (kind) {
    case OPT_ADAGRAD:
        if ((st = attr_double(ctx, "norm_coefficient", 0, false, &p->norm_coefficient)) ||
            (st = attr_double(ctx, "decay_factor", 0, false, &p->decay_factor)) ||
            (st = attr_double(ctx, "epsilon", 1e-6f, false, &p->epsilon)))
            return st;
        break;
    case OPT_ADAM:
        if ((st = attr_double(ctx, "norm_coefficient", 0, false, &p->norm_coefficient)) ||
            (st = attr_double(ctx, "norm_coefficient_post", 0, false, &p->norm_coefficient_post)) ||
            (st = attr_double(ctx, "alpha", 0.9f, false, &p->alpha)) ||
            (st = attr_double(ctx, "beta", 0.999f, false, &p->beta)) ||
            (st = attr_double(ctx, "epsilon", 1e-6f, false, &p->epsilon)))
            return st;
        break;
    case OPT_MOMENTUM: {
        const char *mode;
        if ((st = attr_double(ctx, "norm_coefficient", 0, true, &p->norm_coefficient)) ||
            (st = attr_double(ctx, "alpha", 0, true, &p->alpha)) ||
            (st = attr_double(ctx, "beta", 0, true, &p->beta)) || (st = op_attr_require(ctx, "mode")) ||
            (st = op_attr_string(ctx, "mode", "", &mode)))
            return st;
        if (strcmp(mode, "standard") && strcmp(mode, "nesterov"))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "attribute 'mode' is '%s'; expected 'standard' or 'nesterov'", mode);
        p->nesterov = !strcmp(mode, "nesterov");
        break;
    }
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 2)->dtype);
    return ONYX_OK;
}

static onyx_status adagrad_check(op_context *ctx) { return optimizer_check(ctx, OPT_ADAGRAD); }
static onyx_status adam_check(op_context *ctx) { return optimizer_check(ctx, OPT_ADAM); }
static onyx_status momentum_check(op_context *ctx) { return optimizer_check(ctx, OPT_MOMENTUM); }

static bool same_shape(const onyx_tensor *a, const onyx_tensor *b)
{
    bool same = a->rank == b->rank;
    for (int d = 0; same && d < a->rank; d++)
        same = dim_may_equal(a->dims[d], b->dims[d]);
    return same;
}

static onyx_status optimizer_reshape(op_context *ctx)
{
    const optimizer_params *p = ctx->params;
    char s1[128], s2[128];
    for (int i = 0; i < 2; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        for (int d = 0; d < t->rank; d++)
            if (dim_known(t->dims[d]) && t->dims[d] != 1)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d '%s' %s must be a scalar", i,
                                op_input_name(ctx, i), shape_str(t, s1, sizeof s1));
    }
    for (int k = 0; k < p->n; k++) {
        const onyx_tensor *x = op_input(ctx, 2 + k);
        for (int j = 1; j <= 1 + p->sets; j++) {
            const onyx_tensor *other = op_input(ctx, 2 + j * p->n + k);
            if (!same_shape(x, other))
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s and input '%s' %s differ",
                                op_input_name(ctx, 2 + k), shape_str(x, s1, sizeof s1),
                                op_input_name(ctx, 2 + j * p->n + k), shape_str(other, s2, sizeof s2));
        }
        for (int j = 0; j <= p->sets; j++)
            tensor_set_shape(op_output(ctx, j * p->n + k), x->rank, x->dims);
    }
    if (ctx->concrete) {
        int64_t total = 0;
        for (int k = 0; k < p->n; k++)
            total += tensor_count(op_input(ctx, 2 + k));
        ctx->n_tasks = p->n;
        ctx->task_cost = total / p->n + 1;
    }
    return ONYX_OK;
}

/* v rounded to float when the tensors are float: the reference's numpy arithmetic on float32
 * arrays and float32 attributes rounds each step so (a step of two floats computed in double
 * and rounded once is the float step). */
static inline double rounded(bool single, double v) { return single ? (double)(float)v : v; }

/* Tensor k of the node: its update from R, T and its G and accumulators. */
static onyx_status optimizer_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const optimizer_params *p = ctx->params;
    const onyx_tensor *r_in = op_input(ctx, 0); /* R and T hold one value each (reshape) */
    double r = float_io_load(r_in->dtype, r_in->data, 0);
    int64_t t = ((const int64_t *)op_input(ctx, 1)->data)[0];
    onyx_dtype dtype = op_input(ctx, 2)->dtype;
    bool single = dtype == ONYX_DTYPE_FLOAT;
    int n = p->n;
    /* Adagrad's rate decays with T, and Adam's carries the bias corrections of both momentums
     * from the first step (T > 0) on: both in double, as T (int64) promotes them. */
    double rate = r;
    bool rate_double = false;
    if (p->kind == OPT_ADAM && t > 0) {
        rate = r * sqrt(1 - pow(p->beta, (double)t)) / (1 - pow(p->alpha, (double)t));
        rate_double = true;
    } else if (p->kind == OPT_ADAGRAD) {
        rate = r / (1 + (double)t * p->decay_factor);
    }
    /* Differences of float attributes are float32 whatever the tensors' type. */
    double one_minus_alpha = (float)(1 - p->alpha), one_minus_beta = (float)(1 - p->beta);
    double keep = (float)(1 - p->norm_coefficient_post);
    double beta_adjusted = t > 0 ? p->beta : 1; /* Momentum: the gradient's weight is 1 at first */
    for (int64_t k = begin; k < end; k++) {
        const onyx_tensor *x_in = op_input(ctx, 2 + (int)k);
        const void *x = x_in->data, *g = op_input(ctx, 2 + n + (int)k)->data;
        const void *v = op_input(ctx, 2 + 2 * n + (int)k)->data;
        const void *h = p->sets == 2 ? op_input(ctx, 2 + 3 * n + (int)k)->data : NULL;
        void *x_out = op_output(ctx, (int)k)->data, *v_out = op_output(ctx, n + (int)k)->data;
        void *h_out = p->sets == 2 ? op_output(ctx, 2 * n + (int)k)->data : NULL;
        int64_t count = tensor_count(x_in);
        for (int64_t i = 0; i < count; i++) {
            double xi = float_io_load(dtype, x, i);
            double gi = rounded(single, p->norm_coefficient * xi);
            gi = rounded(single, gi + float_io_load(dtype, g, i));
            double vi = float_io_load(dtype, v, i), x_new, v_new;
            switch (p->kind) {
            case OPT_ADAGRAD: { /* v is the accumulated squared gradient */
                v_new = rounded(single, vi + rounded(single, gi * gi));
                double root = rounded(single, rounded(single, sqrt(v_new)) + p->epsilon);
                x_new = xi - rate * gi / root;
                break;
            }
            case OPT_ADAM: {
                double hi = float_io_load(dtype, h, i);
                v_new = rounded(single, rounded(single, p->alpha * vi) +
                                            rounded(single, one_minus_alpha * gi));
                double squared = rounded(single, gi * gi);
                double h_new = rounded(single, rounded(single, p->beta * hi) +
                                                   rounded(single, one_minus_beta * squared));
                double root = rounded(single, rounded(single, sqrt(h_new)) + p->epsilon);
                double step = rounded(single, v_new / root);
                if (rate_double)
                    x_new = keep * (xi - rate * step);
                else
                    x_new = rounded(single, keep * rounded(single, xi - rounded(single, rate * step)));
                float_io_store(dtype, h_out, i, h_new);
                break;
            }
            default: /* Momentum */
                v_new = rounded(single, rounded(single, p->alpha * vi) +
                                            rounded(single, beta_adjusted * gi));
                if (p->nesterov)
                    x_new = xi - rounded(single, r * rounded(single, gi + rounded(single, p->alpha * v_new)));
                else
                    x_new = xi - rounded(single, r * v_new);
                break;
            }
            float_io_store(dtype, x_out, i, x_new);
            float_io_store(dtype, v_out, i, v_new);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Adagrad = {adagrad_check, optimizer_reshape, optimizer_run, 0};
const op_descriptor op_Adam = {adam_check, optimizer_reshape, optimizer_run, 0};
const op_descriptor op_Momentum = {momentum_check, optimizer_reshape, optimizer_run, 0};
