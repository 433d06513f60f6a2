/* Elementwise unary math: Abs, Neg, Sign, Relu, rounding, the float functions (Exp, Log,
 * Sqrt, Erf, trigonometric and hyperbolic) and float classification (IsNaN, IsInf).
 * Integer negation wraps (computed in the unsigned type), so that -INT_MIN is INT_MIN rather
 * than undefined. */
#include "elementwise.h"

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

FLOAT_FAMILY(exp, exp(x))
FLOAT_FAMILY(log, log(x))
FLOAT_FAMILY(reciprocal, 1 / x)
FLOAT_FAMILY(sqrt, sqrt(x))
FLOAT_FAMILY(erf, erf(x))
FLOAT_FAMILY(tanh, tanh(x))
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

UNARY_OPERATOR(Abs, abs_family);
UNARY_OPERATOR(Acos, acos_family);
UNARY_OPERATOR(Acosh, acosh_family);
UNARY_OPERATOR(Asin, asin_family);
UNARY_OPERATOR(Asinh, asinh_family);
UNARY_OPERATOR(Atan, atan_family);
UNARY_OPERATOR(Atanh, atanh_family);
UNARY_OPERATOR(Ceil, ceil_family);
UNARY_OPERATOR(Cos, cos_family);
UNARY_OPERATOR(Cosh, cosh_family);
UNARY_OPERATOR(Erf, erf_family);
UNARY_OPERATOR(Exp, exp_family);
UNARY_OPERATOR(Floor, floor_family);
UNARY_OPERATOR(IsInf, isinf_family);
UNARY_OPERATOR(IsNaN, isnan_family);
UNARY_OPERATOR(Log, log_family);
UNARY_OPERATOR(Neg, neg_family);
UNARY_OPERATOR(Reciprocal, reciprocal_family);
UNARY_OPERATOR(Relu, relu_family);
UNARY_OPERATOR(Round, round_family);
UNARY_OPERATOR(Sign, sign_family);
UNARY_OPERATOR(Sin, sin_family);
UNARY_OPERATOR(Sinh, sinh_family);
UNARY_OPERATOR(Sqrt, sqrt_family);
UNARY_OPERATOR(Tan, tan_family);
UNARY_OPERATOR(Tanh, tanh_family);
