/* Elementwise unary math: Relu, Erf, Tanh, Sqrt. */
#include "elementwise.h"

#define UNARY_ENTRY(D, T) [ONYX_DTYPE_##D] = PASTE(UNARY_NAME, D),

/* Relu keeps NaN (x < 0 is false for it), as PyTorch does. */
#define RELU(D, T) UNARY_KERNEL(relu_##D, T, T, x < 0 ? 0 : x)
FOR_FLOAT_TYPES(RELU)
FOR_SIGNED_TYPES(RELU)
#define UNARY_NAME relu
static const unary_family relu_family = {.kernels = {FOR_FLOAT_TYPES(UNARY_ENTRY) FOR_SIGNED_TYPES(UNARY_ENTRY)}};
#undef UNARY_NAME

/* The float math functions: float32 through the C library's float variant, float64 through
 * the double one. */
#define FLOAT_MATH(name, ffn, dfn)                                                             \
    UNARY_KERNEL(name##_FLOAT, float, float, ffn(x))                                            \
    UNARY_KERNEL(name##_DOUBLE, double, double, dfn(x))                                         \
    static const unary_family name##_family = {                                                \
        .kernels = {[ONYX_DTYPE_FLOAT] = name##_FLOAT, [ONYX_DTYPE_DOUBLE] = name##_DOUBLE}};

FLOAT_MATH(erf, erff, erf)
FLOAT_MATH(tanh, tanhf, tanh)
FLOAT_MATH(sqrt, sqrtf, sqrt)

UNARY_OPERATOR(Relu, relu_family);
UNARY_OPERATOR(Erf, erf_family);
UNARY_OPERATOR(Tanh, tanh_family);
UNARY_OPERATOR(Sqrt, sqrt_family);
