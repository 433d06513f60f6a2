/* CausalConvWithState (opset 27): a depthwise causal 1-D convolution with a carried state.
 *
 *   padded  = concat(past_state or zeros (B, C, k-1), input (B, C, L)) along the last axis
 *   output  = act(bias[c] + sum_j weight[c, 0, j] * padded[b, c, t + j]),   t in [0, L)
 *   present = padded[b, c, L .. L + k - 1)
 *
 * act is SiLU (x * sigmoid(x), 'silu' or its alias 'swish') or none. float16 and bfloat16
 * compute on float and round once per output element; one task is one (batch, channel) row. */
#include "dtype_io.h"
#include "op.h"

#include <string.h>

enum { CC_INPUT, CC_WEIGHT, CC_BIAS, CC_PAST };

typedef struct causal_conv_params {
    bool silu;
} causal_conv_params;

static onyx_status causal_conv_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 4, 1, 2);
    if (!st)
        st = op_check_inputs_alike(ctx, 4, 2, DT(FLOAT) | DT(FLOAT16) | DT(BFLOAT16));
    if (st)
        return st;
    const char *activation;
    if ((st = op_attr_string(ctx, "activation", "none", &activation)))
        return st;
    bool silu = !strcmp(activation, "silu") || !strcmp(activation, "swish");
    if (!silu && strcmp(activation, "none"))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "activation must be 'silu', 'swish' or 'none', not '%s'", activation);
    causal_conv_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->silu = silu;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, CC_INPUT)->dtype);
    return ONYX_OK;
}

/* An error unless `t` has rank `rank` (named `what` in the message). */
static onyx_status need_rank(const op_context *ctx, const onyx_tensor *t, int rank, const char *what)
{
    if (t->rank == rank)
        return ONYX_OK;
    char s[96];
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s must have rank %d, not shape %s", what, rank,
                    shape_str(t, s, sizeof s));
}

static onyx_status causal_conv_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, CC_INPUT), *w = op_input(ctx, CC_WEIGHT);
    const onyx_tensor *bias = op_input(ctx, CC_BIAS), *past = op_input(ctx, CC_PAST);
    onyx_status st = need_rank(ctx, x, 3, "input (batch, channels, length)");
    if (!st)
        st = need_rank(ctx, w, 3, "weight (channels, 1, k)");
    if (!st && bias)
        st = need_rank(ctx, bias, 1, "bias (channels)");
    if (!st && past)
        st = need_rank(ctx, past, 3, "past_state (batch, channels, k - 1)");
    if (st)
        return st;
    int64_t batch = x->dims[0], channels = x->dims[1], k = w->dims[2];
    char s[96];
    if (!dim_may_equal(w->dims[0], channels) || !dim_may_equal(w->dims[1], 1))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "weight %s must be (channels = %lld, 1, k)",
                        shape_str(w, s, sizeof s), (long long)channels);
    if (dim_known(k) && k < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the kernel size (weight's last dim) must be >= 1");
    if (bias && !dim_may_equal(bias->dims[0], channels))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "bias %s must have channels = %lld values",
                        shape_str(bias, s, sizeof s), (long long)channels);
    int64_t carry = dim_known(k) ? k - 1 : DIM_UNKNOWN;
    if (past && (!dim_may_equal(past->dims[0], batch) || !dim_may_equal(past->dims[1], channels) ||
                 !dim_may_equal(past->dims[2], carry)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "past_state %s must be (batch, channels, k - 1) = "
                        "(%lld, %lld, %lld)", shape_str(past, s, sizeof s), (long long)batch,
                        (long long)channels, (long long)carry);
    tensor_set_shape(op_output(ctx, 0), 3, x->dims);
    onyx_tensor *present = op_output(ctx, 1);
    if (present)
        tensor_set_shape(present, 3, (int64_t[]){batch, channels, carry});
    if (ctx->concrete) {
        ctx->n_tasks = batch * channels;
        ctx->task_cost = (x->dims[2] + 1) * k;
    }
    return ONYX_OK;
}

/* v rounded to `dt` and back. */
static inline float round_to(onyx_dtype dt, float v)
{
    if (dt == ONYX_DTYPE_FLOAT16)
        return half_to_float(float_to_half(v));
    if (dt == ONYX_DTYPE_BFLOAT16)
        return bfloat16_to_float(float_to_bfloat16(v));
    return v;
}

/* padded[j] of one row: past (or zero) for j < k - 1, the input after. */
#define PADDED(j) ((j) < carry ? (past ? (float)float_io_load(dt, past, pbase + (j)) : 0.0f)          \
                               : (float)float_io_load(dt, x, xbase + (j) - carry))

static onyx_status causal_conv_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const causal_conv_params *p = ctx->params;
    const onyx_tensor *xt = ctx->inputs[CC_INPUT], *wt = ctx->inputs[CC_WEIGHT];
    const onyx_tensor *bt = op_input(ctx, CC_BIAS), *pt = op_input(ctx, CC_PAST);
    onyx_dtype dt = xt->dtype;
    int64_t channels = xt->dims[1], len = xt->dims[2], k = wt->dims[2], carry = k - 1;
    const void *x = xt->data, *w = wt->data, *past = pt ? pt->data : NULL;
    void *y = ctx->outputs[0]->data;
    onyx_tensor *present = op_output(ctx, 1);
    for (int64_t row = begin; row < end; row++) {
        int64_t c = row % channels, xbase = row * len, pbase = row * carry, wbase = c * k;
        float b = bt ? (float)float_io_load(dt, bt->data, c) : 0.0f;
        for (int64_t t = 0; t < len; t++) {
            float sum = b;
            for (int64_t j = 0; j < k; j++)
                sum += (float)float_io_load(dt, w, wbase + j) * PADDED(t + j);
            if (p->silu) /* on the convolution rounded to the dtype, as ONNX's reference */
                sum = round_to(dt, sum), sum = sum / (1.0f + expf(-sum));
            float_io_store(dt, y, xbase + t, sum);
        }
        /* The state is copied, not recomputed: exact in every dtype. */
        for (int64_t j = 0; present && j < carry; j++)
            float_io_store(dt, present->data, pbase + j, PADDED(len + j));
    }
    return ONYX_OK;
}

const op_descriptor op_CausalConvWithState = {causal_conv_check, causal_conv_reshape, causal_conv_run, 0};
