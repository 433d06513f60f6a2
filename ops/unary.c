/* Elementwise unary math: Abs, Neg, Sign, Relu, rounding, the float functions (Exp, Log,
 * Sqrt, Erf, trigonometric and hyperbolic) and float classification (IsNaN, IsInf).
 * Integer negation wraps (computed in the unsigned type), so that -INT_MIN is INT_MIN rather
 * than undefined. */
#include "elementwise.h"
#include "gemm.h" /* gemm_activate_into: the vector exp, erf and tanh */


#include <tgmath.h>

/* Relu keeps NaN (x < 0 is false for it), as PyTorch does. */
#define RELU(D, T) UNARY_KERNEL(relu_##D, T, T, x < 0 ? 0 : x)
FOR_FLOAT_TYPES(RELU)
FOR_SIGNED_TYPES(RELU)
#define KERNEL_PREFIX relu
static const unary_family relu_family = {.kernels = {FOR_FLOAT_TYPES(KERNEL_ENTRY) FOR_SIGNED_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX

#define ABS_F(D, T) UNARY_KERNEL(abs_##D, T, T, fabs(x))
#define ABS_S(D, T, U) UNARY_KERNEL(abs_##D, T, T, x < 0 ? (T)(0u - (U)x) : x)
#define ABS_U(D, T, U) UNARY_KERNEL(abs_##D, T, T, x)
FOR_FLOAT_TYPES(ABS_F)
FOR_SIGNED_TYPES_U(ABS_S)
FOR_UNSIGNED_TYPES_U(ABS_U)
#define KERNEL_PREFIX abs
static const unary_family abs_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX

#define NEG_F(D, T) UNARY_KERNEL(neg_##D, T, T, -x)
#define NEG_S(D, T, U) UNARY_KERNEL(neg_##D, T, T, (T)(0u - (U)x))
FOR_FLOAT_TYPES(NEG_F)
FOR_SIGNED_TYPES_U(NEG_S)
#define KERNEL_PREFIX neg
static const unary_family neg_family = {.kernels = {FOR_FLOAT_TYPES(KERNEL_ENTRY) FOR_SIGNED_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX

/* The sign of NaN is NaN, and of -0 is +0, as numpy gives. */
#define SIGN_F(D, T) UNARY_KERNEL(sign_##D, T, T, isnan(x) ? x : (x > 0) - (x < 0))
#define SIGN_S(D, T) UNARY_KERNEL(sign_##D, T, T, (x > 0) - (x < 0))
#define SIGN_U(D, T) UNARY_KERNEL(sign_##D, T, T, x > 0)
FOR_FLOAT_TYPES(SIGN_F)
FOR_SIGNED_TYPES(SIGN_S)
FOR_UNSIGNED_TYPES(SIGN_U)
#define KERNEL_PREFIX sign
static const unary_family sign_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX

VECTOR_FLOAT_FAMILY(exp, GEMM_ACTIVATION_EXP, exp(x))
FLOAT_FAMILY(log, log(x))
FLOAT_FAMILY(reciprocal, 1 / x)
FLOAT_FAMILY(sqrt, sqrt(x))
VECTOR_FLOAT_FAMILY(erf, GEMM_ACTIVATION_ERF, erf(x))
VECTOR_FLOAT_FAMILY(tanh, GEMM_ACTIVATION_TANH, tanh(x))
FLOAT_FAMILY(sin, sin(x))
FLOAT_FAMILY(cos, cos(x))
FLOAT_FAMILY(tan, tan(x))
FLOAT_FAMILY(asin, asin(x))
FLOAT_FAMILY(acos, acos(x))
FLOAT_FAMILY(atan, atan(x))
FLOAT_FAMILY(sinh, sinh(x))
FLOAT_FAMILY(cosh, cosh(x))
FLOAT_FAMILY(asinh, asinh(x))
FLOAT_FAMILY(acosh, acosh(x))
FLOAT_FAMILY(atanh, atanh(x))
FLOAT_FAMILY(floor, floor(x))
FLOAT_FAMILY(ceil, ceil(x))
/* rint rounds halves to even in the default rounding mode, as Round specifies. */
FLOAT_FAMILY(round, rint(x))

FLOAT_PREDICATE_FAMILY(isnan, isnan(x))
/* alpha and beta: the detect_positive and detect_negative flags. */
FLOAT_PREDICATE_FAMILY(isinf, isinf(x) && (x > 0 ? alpha != 0 : beta != 0), .alpha_name = "detect_positive",
                       .alpha_default = 1, .beta_name = "detect_negative", .beta_default = 1,
                       .int_attributes = true)

static onyx_status abs_check(op_context *ctx) { return unary_check(ctx, &abs_family); }
const op_descriptor op_Abs = {abs_check, unary_reshape, unary_run, 0};
static onyx_status acos_check(op_context *ctx) { return unary_check(ctx, &acos_family); }
const op_descriptor op_Acos = {acos_check, unary_reshape, unary_run, 0};
static onyx_status acosh_check(op_context *ctx) { return unary_check(ctx, &acosh_family); }
const op_descriptor op_Acosh = {acosh_check, unary_reshape, unary_run, 0};
static onyx_status asin_check(op_context *ctx) { return unary_check(ctx, &asin_family); }
const op_descriptor op_Asin = {asin_check, unary_reshape, unary_run, 0};
static onyx_status asinh_check(op_context *ctx) { return unary_check(ctx, &asinh_family); }
const op_descriptor op_Asinh = {asinh_check, unary_reshape, unary_run, 0};
static onyx_status atan_check(op_context *ctx) { return unary_check(ctx, &atan_family); }
const op_descriptor op_Atan = {atan_check, unary_reshape, unary_run, 0};
static onyx_status atanh_check(op_context *ctx) { return unary_check(ctx, &atanh_family); }
const op_descriptor op_Atanh = {atanh_check, unary_reshape, unary_run, 0};
static onyx_status ceil_check(op_context *ctx) { return unary_check(ctx, &ceil_family); }
const op_descriptor op_Ceil = {ceil_check, unary_reshape, unary_run, 0};
static onyx_status cos_check(op_context *ctx) { return unary_check(ctx, &cos_family); }
const op_descriptor op_Cos = {cos_check, unary_reshape, unary_run, 0};
static onyx_status cosh_check(op_context *ctx) { return unary_check(ctx, &cosh_family); }
const op_descriptor op_Cosh = {cosh_check, unary_reshape, unary_run, 0};
static onyx_status erf_check(op_context *ctx) { return unary_check(ctx, &erf_family); }
const op_descriptor op_Erf = {erf_check, unary_reshape, unary_run, 0};
static onyx_status exp_check(op_context *ctx) { return unary_check(ctx, &exp_family); }
const op_descriptor op_Exp = {exp_check, unary_reshape, unary_run, 0};
static onyx_status floor_check(op_context *ctx) { return unary_check(ctx, &floor_family); }
const op_descriptor op_Floor = {floor_check, unary_reshape, unary_run, 0};
static onyx_status is_inf_check(op_context *ctx) { return unary_check(ctx, &isinf_family); }
const op_descriptor op_IsInf = {is_inf_check, unary_reshape, unary_run, 0};
static onyx_status is_na_n_check(op_context *ctx) { return unary_check(ctx, &isnan_family); }
const op_descriptor op_IsNaN = {is_na_n_check, unary_reshape, unary_run, 0};
static onyx_status log_check(op_context *ctx) { return unary_check(ctx, &log_family); }
const op_descriptor op_Log = {log_check, unary_reshape, unary_run, 0};
static onyx_status neg_check(op_context *ctx) { return unary_check(ctx, &neg_family); }
const op_descriptor op_Neg = {neg_check, unary_reshape, unary_run, 0};
static onyx_status reciprocal_check(op_context *ctx) { return unary_check(ctx, &reciprocal_family); }
const op_descriptor op_Reciprocal = {reciprocal_check, unary_reshape, unary_run, 0};
static onyx_status relu_check(op_context *ctx) { return unary_check(ctx, &relu_family); }
const op_descriptor op_Relu = {relu_check, unary_reshape, unary_run, 0};
static onyx_status round_check(op_context *ctx) { return unary_check(ctx, &round_family); }
const op_descriptor op_Round = {round_check, unary_reshape, unary_run, 0};
static onyx_status sign_check(op_context *ctx) { return unary_check(ctx, &sign_family); }
const op_descriptor op_Sign = {sign_check, unary_reshape, unary_run, 0};
static onyx_status sin_check(op_context *ctx) { return unary_check(ctx, &sin_family); }
const op_descriptor op_Sin = {sin_check, unary_reshape, unary_run, 0};
static onyx_status sinh_check(op_context *ctx) { return unary_check(ctx, &sinh_family); }
const op_descriptor op_Sinh = {sinh_check, unary_reshape, unary_run, 0};
static onyx_status sqrt_check(op_context *ctx) { return unary_check(ctx, &sqrt_family); }
const op_descriptor op_Sqrt = {sqrt_check, unary_reshape, unary_run, 0};
static onyx_status tan_check(op_context *ctx) { return unary_check(ctx, &tan_family); }
const op_descriptor op_Tan = {tan_check, unary_reshape, unary_run, 0};
static onyx_status tanh_check(op_context *ctx) { return unary_check(ctx, &tanh_family); }
const op_descriptor op_Tanh = {tanh_check, unary_reshape, unary_run, 0};
