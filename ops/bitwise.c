/* BitwiseAnd, BitwiseOr, BitwiseXor (broadcasting, as the other binary operators) and
 * BitwiseNot, on the integer types. The result of each is computed in the type itself:
 * bit operations on integers never overflow, and the promotion to int for the narrow types
 * is undone by the cast back. */
#include "elementwise.h"

#define BITWISE(D, T)                                                                          \
    BINARY_KERNEL(bitwise_and_##D, T, T, x & y)                                                \
    BINARY_KERNEL(bitwise_or_##D, T, T, x | y)                                                 \
    BINARY_KERNEL(bitwise_xor_##D, T, T, x ^ y)                                                \
    UNARY_KERNEL(bitwise_not_##D, T, T, ~x)
FOR_INT_TYPES(BITWISE)

#define KERNEL_PREFIX bitwise_and
static const binary_family bitwise_and_family = {.kernels = {FOR_INT_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX bitwise_or
static const binary_family bitwise_or_family = {.kernels = {FOR_INT_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX bitwise_xor
static const binary_family bitwise_xor_family = {.kernels = {FOR_INT_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX bitwise_not
static const unary_family bitwise_not_family = {.kernels = {FOR_INT_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX

static onyx_status bitwise_and_check(op_context *ctx) { return binary_check(ctx, &bitwise_and_family); }
static onyx_status bitwise_or_check(op_context *ctx) { return binary_check(ctx, &bitwise_or_family); }
static onyx_status bitwise_xor_check(op_context *ctx) { return binary_check(ctx, &bitwise_xor_family); }
static onyx_status bitwise_not_check(op_context *ctx) { return unary_check(ctx, &bitwise_not_family); }

const op_descriptor op_BitwiseAnd = {bitwise_and_check, binary_reshape, binary_run, 0};
const op_descriptor op_BitwiseOr = {bitwise_or_check, binary_reshape, binary_run, 0};
const op_descriptor op_BitwiseXor = {bitwise_xor_check, binary_reshape, binary_run, 0};
const op_descriptor op_BitwiseNot = {bitwise_not_check, unary_reshape, unary_run, 0};
