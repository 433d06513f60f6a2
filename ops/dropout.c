/* Dropout. In inference (no training_mode input, or false, and always before opset 12) the
 * output is the input and the mask all true. In training mode each element is kept with
 * probability 1 - ratio: mask = u >= ratio for u uniform in [0, 1), output = x * mask * scale
 * with scale = 1 / (1 - ratio).
 *
 * The draws come from MT19937 seeded with the `seed` attribute, one double per element in
 * order, made as numpy's RandomState(seed).uniform makes them (two 32-bit outputs give 53
 * bits): a seeded node then drops the elements ONNX's reference implementation drops. Without
 * `seed`, ONNX leaves the seed to the runtime: each run takes a fresh one. */
#include "mt19937.h"
#include "op.h"
#include "scalar.h"

#include <math.h>
#include <string.h>

#define COPY_CHUNK (1 << 20)

/* ---- the operator ------------------------------------------------------------------------ */

typedef struct dropout_params {
    bool has_seed;
    uint32_t seed;
} dropout_params;

typedef struct dropout_state {
    bool inference; /* known at reshape to run as the identity */
} dropout_state;

static onyx_status dropout_check(op_context *ctx)
{
    bool inputs = ctx->opset >= 12; /* ratio and training_mode as inputs */
    onyx_status st = op_check_arity(ctx, 1, inputs ? 3 : 1, 1, 2);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS);
    if (!st && inputs)
        st = op_check_input(ctx, 1, false, DT_FLOATS);
    if (!st && inputs)
        st = op_check_input(ctx, 2, false, DT(BOOL));
    if (st)
        return st;
    dropout_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (inputs && op_has_attr(ctx, "seed")) {
        int64_t seed;
        if ((st = op_attr_int(ctx, "seed", 0, &seed)))
            return st;
        /* numpy takes seeds in [0, 2^32): larger ones keep their low 32 bits. */
        p->has_seed = true;
        p->seed = (uint32_t)(uint64_t)seed;
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    if (op_output(ctx, 1))
        ctx->outputs[1]->dtype = ctx->opset >= 10 ? ONYX_DTYPE_BOOL : op_input(ctx, 0)->dtype;
    return ONYX_OK;
}

/* An error unless ratio is in [0, 1): 1 would scale the kept elements (none) by infinity. */
static onyx_status check_ratio(const op_context *ctx, double ratio)
{
    if (ratio >= 0 && ratio < 1)
        return ONYX_OK;
    return op_error(ctx, ONYX_ERROR_RUNTIME, "ratio '%s' is %g; it must be in [0, 1)",
                    op_input_name(ctx, 1), ratio);
}

/* An error unless input i, when present, is a scalar or one value. */
static onyx_status check_scalar(const op_context *ctx, int i, const char *what)
{
    const onyx_tensor *t = op_input(ctx, i);
    if (!t || t->rank == 0 || (t->rank == 1 && dim_may_equal(t->dims[0], 1)))
        return ONYX_OK;
    char buf[128];
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s '%s' %s must be a scalar", what, op_input_name(ctx, i),
                    shape_str(t, buf, sizeof buf));
}

static onyx_status dropout_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0), *ratio = op_input(ctx, 1), *training = op_input(ctx, 2);
    onyx_status st = check_scalar(ctx, 1, "ratio");
    if (!st)
        st = check_scalar(ctx, 2, "training_mode");
    if (st)
        return st;
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (op_output(ctx, 1))
        tensor_set_shape(op_output(ctx, 1), x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    dropout_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    /* Training mode writes output and input apart, so only a known inference may share them;
     * an unknown training_mode is read in run, which then draws in one task (the draws follow
     * one another in element order). Inference ignores the ratio. */
    s->inference = !training || (training->data && !*(const uint8_t *)training->data);
    ctx->state = s;
    if (!s->inference && ratio && ratio->data &&
        (st = check_ratio(ctx, scalar_load(ratio->data, 0, ratio->dtype))))
        return st;
    if (s->inference) {
        ctx->output_is_view = true;
        size_t bytes = tensor_bytes(x);
        ctx->n_tasks = (int64_t)((bytes + COPY_CHUNK - 1) / COPY_CHUNK);
        ctx->task_cost = COPY_CHUNK / 4;
    }
    return ONYX_OK;
}

/* Every element kept: the output a copy, the mask true (1 in the input's type before opset 10). */
static void run_identity(const op_context *ctx, int64_t begin, int64_t end, bool all_tasks)
{
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0], *mask = op_output(ctx, 1);
    size_t bytes = tensor_bytes(x);
    size_t first = all_tasks ? 0 : (size_t)begin * COPY_CHUNK;
    size_t last = all_tasks ? bytes : OP_MIN((size_t)end * COPY_CHUNK, bytes);
    if (first < last && y->data != x->data)
        memcpy((char *)y->data + first, (const char *)x->data + first, last - first);
    if (mask && begin == 0) {
        int64_t n = tensor_count(mask);
        for (int64_t i = 0; i < n; i++)
            scalar_store(mask->data, i, mask->dtype, 1);
    }
}

/* x * mask * scale in the input's type, as numpy computes it (0 * x keeps the sign of x, and
 * NaN). */
#define DROPOUT_TRAIN(T)                                                                       \
    do {                                                                                       \
        const T *xs = x->data;                                                                 \
        T *ys = y->data;                                                                       \
        T scale = (T)scale_r;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                      \
            bool keep = mt_uniform(&mt) >= r;                                                  \
            ys[i] = keep ? xs[i] * scale : (T)0 * xs[i];                                       \
            if (m)                                                                             \
                m[i] = keep;                                                                   \
        }                                                                                      \
    } while (0)

static onyx_status dropout_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const dropout_params *p = ctx->params;
    const dropout_state *s = ctx->state;
    if (s->inference) {
        run_identity(ctx, begin, end, false);
        return ONYX_OK;
    }
    const onyx_tensor *x = ctx->inputs[0], *ratio = op_input(ctx, 1), *training = op_input(ctx, 2);
    onyx_tensor *y = ctx->outputs[0], *mask = op_output(ctx, 1);
    double r = ratio ? scalar_load(ratio->data, 0, ratio->dtype) : 0.5;
    if (!*(const uint8_t *)training->data || r == 0) {
        run_identity(ctx, begin, end, true);
        return ONYX_OK;
    }
    onyx_status st = check_ratio(ctx, r);
    if (st)
        return st;
    /* The ratio compares with the draws in double (exact for a float ratio); the scale is
     * computed in the ratio's type, as numpy computes 1 / (1 - ratio). */
    double scale_r = 1 / (1 - r);
    if (ratio && ratio->dtype == ONYX_DTYPE_FLOAT)
        scale_r = 1.0f / (1.0f - (float)r);
    mt19937 mt;
    mt_seed(&mt, p->has_seed ? p->seed : fresh_seed());
    int64_t n = tensor_count(x);
    uint8_t *m = mask ? mask->data : NULL;
    if (x->dtype == ONYX_DTYPE_FLOAT)
        DROPOUT_TRAIN(float);
    else
        DROPOUT_TRAIN(double);
    return ONYX_OK;
}

const op_descriptor op_Dropout = {dropout_check, dropout_reshape, dropout_run, 0};
