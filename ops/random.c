/* Random generators: RandomUniform, RandomNormal (shape from the `shape` attribute),
 * RandomUniformLike, RandomNormalLike (shape of the input) and Bernoulli (one draw per
 * probability of the input).
 *
 * With a `seed` attribute the draws are those of ONNX's reference implementation: numpy's
 * RandomState(int(seed)) (MT19937, kernels/mt19937.h), one per element in order, the value
 * then computed as numpy computes it in the output's type (RandomUniform:
 * rand().astype(T) * (high - low) + low, each step rounded to T). Without one, a fresh seed
 * per run. The draws follow one another, so each node runs as one task. Note that a node
 * whose inputs are known at load (RandomUniform and RandomNormal have none; the *Like
 * operators read only their input's shape) is computed once, there, by the runtime. */
#include "dtype_io.h"
#include "mt19937.h"
#include "op.h"
#include "scalar.h"

#include <math.h>

typedef enum { RANDOM_UNIFORM, RANDOM_NORMAL, RANDOM_BERNOULLI } random_kind;

typedef struct random_params {
    random_kind kind;
    bool has_seed;
    uint32_t seed;
    double a, b;          /* uniform: low and high; normal: mean and scale */
    bool like;            /* the shape is input 0's */
    int rank;             /* otherwise the `shape` attribute's */
    int64_t dims[ONYX_MAX_RANK];
} random_params;

/* The float types the generators' outputs may have: bfloat16 from opset 22. */
static uint32_t float_outputs(const op_context *ctx)
{
    return DT_FLOATS | DT(FLOAT16) | (ctx->opset >= 22 ? DT(BFLOAT16) : 0);
}

/* The output dtype: the `dtype` attribute, else `fallback` (0 when there is none to take). */
static onyx_status output_dtype(op_context *ctx, onyx_dtype fallback, uint32_t allowed, onyx_dtype *dtype)
{
    int64_t value;
    onyx_status st = op_attr_int(ctx, "dtype", fallback, &value);
    if (st)
        return st;
    if (!op_has_attr(ctx, "dtype") && !fallback)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'dtype' is required");
    if (value <= 0 || value >= 32 || !(allowed & (1u << value)))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                        "attribute 'dtype' is %lld: not an output type onyx supports here", (long long)value);
    *dtype = (onyx_dtype)value;
    return ONYX_OK;
}

/* Reads `seed`, a float, which the reference truncates to an int for numpy. */
static onyx_status read_seed(op_context *ctx, random_params *p)
{
    float seed;
    onyx_status st = op_attr_float(ctx, "seed", 0, &seed);
    if (st)
        return st;
    p->has_seed = op_has_attr(ctx, "seed");
    if (p->has_seed && !(seed > -1 && seed < 4294967296.0f))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute 'seed' is %g; expected a value in [0, 2^32)", (double)seed);
    p->seed = p->has_seed ? (uint32_t)seed : 0;
    return ONYX_OK;
}

/* Reads the seed and the distribution's two float attributes into a and b. */
static onyx_status read_common(op_context *ctx, random_params *p, const char *a_name, float a_default,
                               const char *b_name, float b_default)
{
    float a, b;
    onyx_status st;
    if ((st = read_seed(ctx, p)) || (st = op_attr_float(ctx, a_name, a_default, &a)) ||
        (st = op_attr_float(ctx, b_name, b_default, &b)))
        return st;
    p->a = a;
    p->b = b;
    return ONYX_OK;
}

static onyx_status random_check(op_context *ctx, random_kind kind, bool like)
{
    onyx_status st = op_check_arity(ctx, like ? 1 : 0, like ? 1 : 0, 1, 1);
    if (st)
        return st;
    random_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kind = kind;
    p->like = like;
    if (kind == RANDOM_UNIFORM)
        st = read_common(ctx, p, "low", 0, "high", 1);
    else
        st = read_common(ctx, p, "mean", 0, "scale", 1);
    if (st)
        return st;
    onyx_dtype dtype = ONYX_DTYPE_FLOAT;
    if (like) {
        /* Any input type; the output takes it only when it is a float type. */
        if ((st = op_check_input(ctx, 0, true, DT_ALL)))
            return st;
        onyx_dtype in = op_input(ctx, 0)->dtype;
        st = output_dtype(ctx, float_outputs(ctx) & (1u << in) ? in : 0, float_outputs(ctx), &dtype);
    } else {
        const int64_t *dims;
        int64_t rank;
        if ((st = op_attr_require(ctx, "shape")) || (st = op_attr_ints(ctx, "shape", &dims, &rank)))
            return st;
        if (rank > ONYX_MAX_RANK)
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "attribute 'shape' has %lld dims; onyx allows %d",
                            (long long)rank, ONYX_MAX_RANK);
        if ((st = op_check_shape(ctx, (int)rank, dims, "attribute 'shape'")))
            return st;
        p->rank = (int)rank;
        for (int d = 0; d < p->rank; d++)
            p->dims[d] = dims[d];
        st = output_dtype(ctx, ONYX_DTYPE_FLOAT, float_outputs(ctx), &dtype);
    }
    if (st)
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, dtype);
    return ONYX_OK;
}

static onyx_status random_uniform_check(op_context *ctx) { return random_check(ctx, RANDOM_UNIFORM, false); }
static onyx_status random_uniform_like_check(op_context *ctx)
{
    return random_check(ctx, RANDOM_UNIFORM, true);
}
static onyx_status random_normal_check(op_context *ctx) { return random_check(ctx, RANDOM_NORMAL, false); }
static onyx_status random_normal_like_check(op_context *ctx)
{
    return random_check(ctx, RANDOM_NORMAL, true);
}

static onyx_status bernoulli_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS | DT(FLOAT16) | DT(BFLOAT16));
    if (st)
        return st;
    random_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kind = RANDOM_BERNOULLI;
    p->like = true;
    onyx_dtype dtype = ONYX_DTYPE_FLOAT;
    if ((st = read_seed(ctx, p)) ||
        (st = output_dtype(ctx, op_input(ctx, 0)->dtype, DT_ALL, &dtype)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, dtype);
    return ONYX_OK;
}

static onyx_status random_reshape(op_context *ctx)
{
    const random_params *p = ctx->params;
    if (p->like)
        tensor_set_shape(op_output(ctx, 0), op_input(ctx, 0)->rank, op_input(ctx, 0)->dims);
    else
        tensor_set_shape(op_output(ctx, 0), p->rank, p->dims);
    if (ctx->concrete)
        ctx->task_cost = tensor_count(op_output(ctx, 0));
    return ONYX_OK;
}

/* v rounded to dtype and read back: numpy's arithmetic in the output type. */
static double in_type(onyx_dtype dtype, double v)
{
    switch (dtype) {
    case ONYX_DTYPE_FLOAT: return (float)v;
    case ONYX_DTYPE_FLOAT16: return half_to_float(double_to_half(v));
    case ONYX_DTYPE_BFLOAT16: return bfloat16_to_float(float_to_bfloat16((float)v));
    default: return v;
    }
}

static onyx_status random_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    if (begin >= end)
        return ONYX_OK;
    const random_params *p = ctx->params;
    onyx_tensor *y = ctx->outputs[0];
    int64_t n = tensor_count(y);
    mt19937 mt;
    mt_seed(&mt, p->has_seed ? p->seed : fresh_seed());
    if (p->kind == RANDOM_BERNOULLI) {
        const onyx_tensor *x = ctx->inputs[0];
        for (int64_t i = 0; i < n; i++) {
            double prob = float_io_load(x->dtype, x->data, i);
            if (!(prob >= 0 && prob <= 1))
                return op_error(ctx, ONYX_ERROR_INVALID_INPUT,
                                "input '%s' holds %g at %lld: not a probability", op_input_name(ctx, 0), prob,
                                (long long)i);
            scalar_store(y->data, i, y->dtype, mt_bernoulli(&mt, prob));
        }
        return ONYX_OK;
    }
    /* uniform: rand() * (high - low) + low; normal: randn() * scale + mean. The reference
     * holds float attributes as numpy float32 scalars, so each step is computed in float32
     * (double for a double output) and rounded to the output type; high - low in float32. */
    float a = (float)p->a, b = (float)p->b;
    double factor = p->kind == RANDOM_UNIFORM ? (double)(b - a) : (double)b;
    bool wide = y->dtype == ONYX_DTYPE_DOUBLE;
    for (int64_t i = 0; i < n; i++) {
        double v = in_type(y->dtype, p->kind == RANDOM_UNIFORM ? mt_uniform(&mt) : mt_gauss(&mt));
        v = in_type(y->dtype, wide ? v * factor : (float)(v * factor));
        float_io_store(y->dtype, y->data, i, wide ? v + a : (float)(v + a));
    }
    return ONYX_OK;
}

const op_descriptor op_Bernoulli = {bernoulli_check, random_reshape, random_run, 0};
const op_descriptor op_RandomNormal = {random_normal_check, random_reshape, random_run, 0};
const op_descriptor op_RandomNormalLike = {random_normal_like_check, random_reshape, random_run, 1};
const op_descriptor op_RandomUniform = {random_uniform_check, random_reshape, random_run, 0};
const op_descriptor op_RandomUniformLike = {random_uniform_like_check, random_reshape, random_run, 1};
