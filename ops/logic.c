/* Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual) with bool output, the
 * boolean operators (Not, And, Or, Xor) and BitShift (opsets 11 and 28). */
#include "broadcast.h"
#include "elementwise.h"
#include "string_tensor.h"

#include <string.h>

#define COMPARISONS(D, T)                                                                      \
    BINARY_KERNEL(equal_##D, T, uint8_t, x == y)                                               \
    BINARY_KERNEL(less_##D, T, uint8_t, x < y)                                                 \
    BINARY_KERNEL(greater_##D, T, uint8_t, x > y)                                              \
    BINARY_KERNEL(less_or_equal_##D, T, uint8_t, x <= y)                                       \
    BINARY_KERNEL(greater_or_equal_##D, T, uint8_t, x >= y)
FOR_NUMERIC_TYPES(COMPARISONS)
BINARY_KERNEL(equal_BOOL, uint8_t, uint8_t, (x != 0) == (y != 0))

#define KERNEL_PREFIX equal
static const binary_family equal_family = {
    .kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY) KERNEL_ENTRY(BOOL)}, .bool_output = true};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX less
static const binary_family less_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}, .bool_output = true};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX greater
static const binary_family greater_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}, .bool_output = true};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX less_or_equal
static const binary_family less_or_equal_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}, .bool_output = true};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX greater_or_equal
static const binary_family greater_or_equal_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)},
                                                      .bool_output = true};
#undef KERNEL_PREFIX

/* Bool elements are read as false (0) or true (anything else) and written as 0 or 1. */
UNARY_KERNEL(not_BOOL, uint8_t, uint8_t, x == 0)
BINARY_KERNEL(and_BOOL, uint8_t, uint8_t, (x != 0) & (y != 0))
BINARY_KERNEL(or_BOOL, uint8_t, uint8_t, (x | y) != 0)
BINARY_KERNEL(xor_BOOL, uint8_t, uint8_t, (x != 0) != (y != 0))
static const unary_family not_family = {.kernels = {[ONYX_DTYPE_BOOL] = not_BOOL}};
static const binary_family and_family = {.kernels = {[ONYX_DTYPE_BOOL] = and_BOOL}};
static const binary_family or_family = {.kernels = {[ONYX_DTYPE_BOOL] = or_BOOL}};
static const binary_family xor_family = {.kernels = {[ONYX_DTYPE_BOOL] = xor_BOOL}};

/* BitShift on unsigned integers, and from opset 28 on signed ones: shifting by the width or
 * more gives 0 (in C it would be undefined). Signed: a left shift computed unsigned (bits
 * past the sign bit dropped), a right shift arithmetic (written so, rather than left to the
 * compiler), and a shift amount that is negative or the width or more gives what the sign
 * extension alone would: -1 shifting a negative value right, 0 otherwise. */
#define SHIFTS(D, T)                                                                           \
    BINARY_KERNEL(shift_left_##D, T, T, (uint64_t)y >= 8 * sizeof(T) ? 0 : (T)(x << y))        \
    BINARY_KERNEL(shift_right_##D, T, T, (uint64_t)y >= 8 * sizeof(T) ? 0 : (T)(x >> y))
FOR_UNSIGNED_TYPES(SHIFTS)
#define SIGNED_SHIFTS(D, T, U)                                                                 \
    BINARY_KERNEL(shift_left_##D, T, T, (uint64_t)y >= 8 * sizeof(T) ? 0 : (T)(U)((U)x << y)) \
    BINARY_KERNEL(shift_right_##D, T, T,                                                       \
                  (uint64_t)y >= 8 * sizeof(T) ? (x < 0 ? -1 : 0) : x < 0 ? (T) ~(~x >> y) : (T)(x >> y))
FOR_SIGNED_TYPES_U(SIGNED_SHIFTS)
#define KERNEL_PREFIX shift_left
static const binary_family shift_left_family = {.kernels = {FOR_UNSIGNED_TYPES(KERNEL_ENTRY)}};
static const binary_family shift_left_family_28 = {.kernels = {FOR_INT_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX shift_right
static const binary_family shift_right_family = {.kernels = {FOR_UNSIGNED_TYPES(KERNEL_ENTRY)}};
static const binary_family shift_right_family_28 = {.kernels = {FOR_INT_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX

static onyx_status bitshift_check(op_context *ctx)
{
    const char *direction;
    onyx_status st = op_attr_require(ctx, "direction");
    if (!st)
        st = op_attr_string(ctx, "direction", "", &direction);
    if (st)
        return st;
    bool signed_too = ctx->opset >= 28;
    if (!strcmp(direction, "LEFT"))
        return binary_check(ctx, signed_too ? &shift_left_family_28 : &shift_left_family);
    if (!strcmp(direction, "RIGHT"))
        return binary_check(ctx, signed_too ? &shift_right_family_28 : &shift_right_family);
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'direction' is '%s'; expected LEFT or RIGHT",
                    direction);
}

static onyx_status and_check(op_context *ctx) { return binary_check(ctx, &and_family); }
const op_descriptor op_And = {and_check, binary_reshape, binary_run, 0};
const op_descriptor op_BitShift = {bitshift_check, binary_reshape, binary_run, 0};
/* Equal on strings (opset 19): byte-wise equality, broadcast. Not through the kernels of the
 * numeric types: elements are (offset, length) entries of a block (op.h); one task. */
static bool strings_in(const op_context *ctx) { return ctx->inputs[0]->dtype == ONYX_DTYPE_STRING; }

static onyx_status equal_check(op_context *ctx)
{
    const onyx_tensor *a = op_input(ctx, 0);
    if (!a || a->dtype != ONYX_DTYPE_STRING)
        return binary_check(ctx, &equal_family);
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 2, 2, DT(STRING));
    if (!st)
        op_set_output_dtypes(ctx, ONYX_DTYPE_BOOL);
    return st;
}

static onyx_status equal_reshape(op_context *ctx)
{
    if (!strings_in(ctx))
        return binary_reshape(ctx);
    return broadcast_shape(ctx, 2, (const onyx_tensor *const *)ctx->inputs, ctx->outputs[0]);
}

static onyx_status equal_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    if (!strings_in(ctx))
        return binary_run(ctx, begin, end, scratch);
    const onyx_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    onyx_tensor *y = ctx->outputs[0];
    int64_t n = tensor_count(y);
    for (int64_t i = 0; i < n; i++) {
        size_t x_len, y_len;
        const char *x = op_string_at(a, strings_broadcast_index(y, a, i), &x_len);
        const char *z = op_string_at(b, strings_broadcast_index(y, b, i), &y_len);
        ((uint8_t *)y->data)[i] = x_len == y_len && !memcmp(x, z, x_len);
    }
    return ONYX_OK;
}
const op_descriptor op_Equal = {equal_check, equal_reshape, equal_run, 0};
static onyx_status greater_check(op_context *ctx) { return binary_check(ctx, &greater_family); }
const op_descriptor op_Greater = {greater_check, binary_reshape, binary_run, 0};
static onyx_status greater_or_equal_check(op_context *ctx) { return binary_check(ctx, &greater_or_equal_family); }
const op_descriptor op_GreaterOrEqual = {greater_or_equal_check, binary_reshape, binary_run, 0};
static onyx_status less_check(op_context *ctx) { return binary_check(ctx, &less_family); }
const op_descriptor op_Less = {less_check, binary_reshape, binary_run, 0};
static onyx_status less_or_equal_check(op_context *ctx) { return binary_check(ctx, &less_or_equal_family); }
const op_descriptor op_LessOrEqual = {less_or_equal_check, binary_reshape, binary_run, 0};
static onyx_status not_check(op_context *ctx) { return unary_check(ctx, &not_family); }
const op_descriptor op_Not = {not_check, unary_reshape, unary_run, 0};
static onyx_status or_check(op_context *ctx) { return binary_check(ctx, &or_family); }
const op_descriptor op_Or = {or_check, binary_reshape, binary_run, 0};
static onyx_status xor_check(op_context *ctx) { return binary_check(ctx, &xor_family); }
const op_descriptor op_Xor = {xor_check, binary_reshape, binary_run, 0};
