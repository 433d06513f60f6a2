/* Gelu: x * Phi(x), exactly with erf, or with PyTorch's tanh approximation. One descriptor
 * serves ONNX's Gelu (opset 20 on) and onyx's own domain's, which the GELU fusion pass makes
 * from the erf or tanh pattern in models of older opsets: the two have the same attribute
 * and meaning. */
#include "elementwise.h"
#include "gemm.h" /* gemm_activate_into: the GEMM epilogue's vector GELU */

#include <string.h>

/* float: the vector GELU of the GEMM's epilogue (within 1e-6 relative; see gemm.h), the same
 * as a GELU fused into a product computes; a scalar erf per element costs about ten times as
 * much. double: the C library's erf and tanh. */
static void gelu_erf_FLOAT(void *out, const void *in, int64_t n, const unary_args *args)
{
    (void)args;
    gemm_activate_into(out, in, n, GEMM_ACTIVATION_GELU_ERF);
}

static void gelu_tanh_FLOAT(void *out, const void *in, int64_t n, const unary_args *args)
{
    (void)args;
    gemm_activate_into(out, in, n, GEMM_ACTIVATION_GELU_TANH);
}

UNARY_KERNEL(gelu_erf_DOUBLE, double, double, 0.5 * x * (1 + erf(x * M_SQRT1_2)))
UNARY_KERNEL(gelu_tanh_DOUBLE, double, double, 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))))

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
