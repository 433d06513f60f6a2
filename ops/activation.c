/* Activations: Sigmoid, Softplus, Softsign, Mish, the ones with float attributes (Elu, Celu, Selu,
 * LeakyRelu, HardSigmoid, HardSwish, Swish, Shrink, ThresholdedRelu), Clip and PRelu. */
#include "elementwise.h"
#include "gemm.h" /* gemm_activate_into: the vector sigmoid */
#include "half.h"

#include <stdint.h>
#include <string.h>
#include <tgmath.h>

/* min(max(v, low), high), as numpy's clip: NaN stays NaN, and low > high gives high. */
#define CLIP_EXPR(v, low, high) (((v) < (low) ? (low) : (v)) > (high) ? (high) : ((v) < (low) ? (low) : (v)))

VECTOR_FLOAT_FAMILY(sigmoid, GEMM_ACTIVATION_SIGMOID, 1 / (1 + exp(-x)))
/* log(1 + e^x) without overflowing e^x for large x. */
FLOAT_FAMILY(softplus, x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))
FLOAT_FAMILY(softsign, x / (1 + fabs(x)))
/* x * tanh(softplus(x)), softplus as above so that large x does not overflow e^x. */
FLOAT_FAMILY(mish, x * tanh(x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))))
/* x * sigmoid(alpha * x). */
FLOAT_FAMILY(swish, x / (1 + exp(-alpha * x)), .alpha_name = "alpha", .alpha_default = 1)
FLOAT_FAMILY(elu, x < 0 ? alpha * expm1(x) : x, .alpha_name = "alpha", .alpha_default = 1)
/* max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), which is one or the other term for any
 * alpha != 0. */
FLOAT_FAMILY(celu, x > 0 ? x : alpha * expm1(x / alpha), .alpha_name = "alpha", .alpha_default = 1)
/* Celu-28 adds double, float16 and bfloat16 (computed in float). The bfloat16 result is rounded
 * to nearest even, as ONNX's test data (ml_dtypes) has it, where half.h's float_to_bfloat16
 * truncates. */
static inline float celu_float(float x, float alpha) { return x > 0 ? x : alpha * expm1(x / alpha); }
static inline uint16_t bfloat16_nearest(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40); /* NaN stays NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}
UNARY_KERNEL(celu_FLOAT16, uint16_t, uint16_t, float_to_half(celu_float(half_to_float(x), alpha)))
UNARY_KERNEL(celu_BFLOAT16, uint16_t, uint16_t, bfloat16_nearest(celu_float(bfloat16_to_float(x), alpha)))
static const unary_family celu_28_family = {
    .kernels = {[ONYX_DTYPE_FLOAT] = celu_FLOAT, [ONYX_DTYPE_DOUBLE] = celu_DOUBLE,
                [ONYX_DTYPE_FLOAT16] = celu_FLOAT16, [ONYX_DTYPE_BFLOAT16] = celu_BFLOAT16},
    .alpha_name = "alpha", .alpha_default = 1};
/* beta is gamma. */
FLOAT_FAMILY(selu, x > 0 ? beta * x : beta * alpha * expm1(x), .alpha_name = "alpha",
             .alpha_default = 1.67326319217681884765625f, .beta_name = "gamma",
             .beta_default = 1.05070102214813232421875f)
FLOAT_FAMILY(leaky_relu, x < 0 ? alpha * x : x, .alpha_name = "alpha", .alpha_default = 0.01f)
FLOAT_FAMILY(hard_sigmoid, CLIP_EXPR(alpha * x + beta, 0, 1), .alpha_name = "alpha", .alpha_default = 0.2f,
             .beta_name = "beta", .beta_default = 0.5f)
/* x * HardSigmoid(x) with alpha 1/6, beta 1/2. */
FLOAT_FAMILY(hard_swish, x * CLIP_EXPR(alpha * x + beta, 0, 1), .alpha_default = 1.0f / 6, .beta_default = 0.5f)
/* alpha is the bias, beta lambd. */
FLOAT_FAMILY(shrink, x < -beta ? x + alpha : x > beta ? x - alpha : 0, .alpha_name = "bias", .alpha_default = 0,
             .beta_name = "lambd", .beta_default = 0.5f)
FLOAT_FAMILY(thresholded_relu, x > alpha ? x : 0, .alpha_name = "alpha", .alpha_default = 1)

/* Clip before opset 11: the bounds are float attributes, absent ones unbounded. */
FLOAT_FAMILY(clip_attributes, CLIP_EXPR(x, alpha, beta), .alpha_name = "min", .alpha_default = -INFINITY,
             .beta_name = "max", .beta_default = INFINITY)

/* Clip from opset 11: the bounds are optional inputs of the input's dtype; an absent one is
 * the dtype's infinity or limit, so unbounded. */
#define FOR_CLIP_TYPES(X)                                                                      \
    X(FLOAT, float, -INFINITY, INFINITY) X(DOUBLE, double, -INFINITY, INFINITY)                \
    X(INT8, int8_t, INT8_MIN, INT8_MAX) X(INT16, int16_t, INT16_MIN, INT16_MAX)                \
    X(INT32, int32_t, INT32_MIN, INT32_MAX) X(INT64, int64_t, INT64_MIN, INT64_MAX)            \
    X(UINT8, uint8_t, 0, UINT8_MAX) X(UINT16, uint16_t, 0, UINT16_MAX)                         \
    X(UINT32, uint32_t, 0, UINT32_MAX) X(UINT64, uint64_t, 0, UINT64_MAX)
#define CLIP_INPUTS(D, T, NO_LOW, NO_HIGH)                                                     \
    ELEMENTWISE_CLONES static void clip_##D(void *o_, const void *i_, int64_t n,               \
                                            const unary_args *args)                            \
    {                                                                                          \
        T *restrict o = o_;                                                                    \
        const T *restrict in = i_;                                                             \
        T low = NO_LOW, high = NO_HIGH;                                                        \
        if (args->low)                                                                         \
            memcpy(&low, args->low, sizeof low);                                               \
        if (args->high)                                                                        \
            memcpy(&high, args->high, sizeof high);                                            \
        for (int64_t i = 0; i < n; i++)                                                        \
            o[i] = CLIP_EXPR(in[i], low, high);                                                \
    }
FOR_CLIP_TYPES(CLIP_INPUTS)
#define KERNEL_PREFIX clip
static const unary_family clip_family = {.kernels = {FOR_CLIP_TYPES(KERNEL_ENTRY)}, .bound_inputs = true};
#undef KERNEL_PREFIX

/* PRelu: the slope broadcasts onto X. Signed products wrap (computed unsigned); unsigned
 * values are never negative, so the slope never applies to them. */
#define PRELU_F(D, T) BINARY_KERNEL(prelu_##D, T, T, x < 0 ? y * x : x)
#define PRELU_S(D, T, U) BINARY_KERNEL(prelu_##D, T, T, x < 0 ? (T)((U)y * (U)x) : x)
#define PRELU_U(D, T, U) BINARY_KERNEL(prelu_##D, T, T, ((void)y, x))
FOR_FLOAT_TYPES(PRELU_F)
FOR_SIGNED_TYPES_U(PRELU_S)
FOR_UNSIGNED_TYPES_U(PRELU_U)
#define KERNEL_PREFIX prelu
static const binary_family prelu_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}, .onto_first = true};
#undef KERNEL_PREFIX

static onyx_status celu_check(op_context *ctx)
{
    return unary_check(ctx, ctx->opset >= 28 ? &celu_28_family : &celu_family);
}
const op_descriptor op_Celu = {celu_check, unary_reshape, unary_run, 0};
static onyx_status clip_check(op_context *ctx) { return unary_check(ctx, &clip_family); }
const op_descriptor op_Clip = {clip_check, unary_reshape, unary_run, 0};
static onyx_status clip_1_check(op_context *ctx) { return unary_check(ctx, &clip_attributes_family); }
const op_descriptor op_Clip_1 = {clip_1_check, unary_reshape, unary_run, 0};
static onyx_status elu_check(op_context *ctx) { return unary_check(ctx, &elu_family); }
const op_descriptor op_Elu = {elu_check, unary_reshape, unary_run, 0};
static onyx_status hard_sigmoid_check(op_context *ctx) { return unary_check(ctx, &hard_sigmoid_family); }
const op_descriptor op_HardSigmoid = {hard_sigmoid_check, unary_reshape, unary_run, 0};
static onyx_status hard_swish_check(op_context *ctx) { return unary_check(ctx, &hard_swish_family); }
const op_descriptor op_HardSwish = {hard_swish_check, unary_reshape, unary_run, 0};
static onyx_status leaky_relu_check(op_context *ctx) { return unary_check(ctx, &leaky_relu_family); }
const op_descriptor op_LeakyRelu = {leaky_relu_check, unary_reshape, unary_run, 0};

static onyx_status mish_check(op_context *ctx) { return unary_check(ctx, &mish_family); }
const op_descriptor op_Mish = {mish_check, unary_reshape, unary_run, 0};
static onyx_status prelu_check(op_context *ctx) { return binary_check(ctx, &prelu_family); }
const op_descriptor op_PRelu = {prelu_check, binary_reshape, binary_run, 0};
static onyx_status selu_check(op_context *ctx) { return unary_check(ctx, &selu_family); }
const op_descriptor op_Selu = {selu_check, unary_reshape, unary_run, 0};
static onyx_status shrink_check(op_context *ctx) { return unary_check(ctx, &shrink_family); }
const op_descriptor op_Shrink = {shrink_check, unary_reshape, unary_run, 0};
static onyx_status sigmoid_check(op_context *ctx) { return unary_check(ctx, &sigmoid_family); }
const op_descriptor op_Sigmoid = {sigmoid_check, unary_reshape, unary_run, 0};
static onyx_status softplus_check(op_context *ctx) { return unary_check(ctx, &softplus_family); }
const op_descriptor op_Softplus = {softplus_check, unary_reshape, unary_run, 0};
static onyx_status softsign_check(op_context *ctx) { return unary_check(ctx, &softsign_family); }
const op_descriptor op_Softsign = {softsign_check, unary_reshape, unary_run, 0};

static onyx_status swish_check(op_context *ctx) { return unary_check(ctx, &swish_family); }
const op_descriptor op_Swish = {swish_check, unary_reshape, unary_run, 0};
static onyx_status thresholded_relu_check(op_context *ctx) { return unary_check(ctx, &thresholded_relu_family); }
const op_descriptor op_ThresholdedRelu = {thresholded_relu_check, unary_reshape, unary_run, 0};
