/* Gelu: x * Phi(x), exactly with erf, or with PyTorch's tanh approximation. One descriptor
 * serves ONNX's Gelu (opset 20 on) and onyx's own domain's, which the GELU fusion pass makes
 * from the erf or tanh pattern in models of older opsets: the two have the same attribute
 * and meaning. */
#include "elementwise.h"

#include <string.h>

#define GELU_ERF(D, T) UNARY_KERNEL(gelu_erf_##D, T, T, (T)0.5 * x * ((T)1 + erf((double)x * M_SQRT1_2)))
#define GELU_TANH(D, T)                                                                                          \
    UNARY_KERNEL(gelu_tanh_##D, T, T,                                                                            \
                 (T)0.5 * x * ((T)1 + tanh(0.7978845608028654 * ((double)x + 0.044715 * (double)x * x * x))))
FOR_FLOAT_TYPES(GELU_ERF)
FOR_FLOAT_TYPES(GELU_TANH)

static const unary_family gelu_erf_family = {.kernels = {[ONYX_DTYPE_FLOAT] = gelu_erf_FLOAT,
                                                         [ONYX_DTYPE_DOUBLE] = gelu_erf_DOUBLE}};
static const unary_family gelu_tanh_family = {.kernels = {[ONYX_DTYPE_FLOAT] = gelu_tanh_FLOAT,
                                                          [ONYX_DTYPE_DOUBLE] = gelu_tanh_DOUBLE}};

static onyx_status gelu_check(op_context *ctx)
{
    const char *approximate;
    onyx_status st = op_attr_string(ctx, "approximate", "none", &approximate);
    if (st)
        return st;
    if (strcmp(approximate, "none") && strcmp(approximate, "tanh"))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "approximate must be 'none' or 'tanh', not '%s'", approximate);
    return unary_check(ctx, strcmp(approximate, "tanh") ? &gelu_erf_family : &gelu_tanh_family);
}

const op_descriptor op_Gelu = {gelu_check, unary_reshape, unary_run, 0};
