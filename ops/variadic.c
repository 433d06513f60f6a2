/* Variadic elementwise operators over one or more broadcast inputs: Sum, Mean, Min, Max.
 * Min and Max propagate NaN, as numpy's minimum/maximum and PyTorch do. */
#include "elementwise.h"
#include "half.h"

#define SUM(D, T) ACCUMULATE_KERNEL(sum_##D, T, x + y)
FOR_FLOAT_TYPES(SUM)
#define KERNEL_PREFIX sum
static const variadic_family sum_family = {.kernels = {FOR_FLOAT_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX

#define MEAN_FINISH(D, T)                                                                      \
    static void mean_##D(void *acc_, int64_t n, int64_t count)                                 \
    {                                                                                          \
        T *acc = acc_;                                                                         \
        for (int64_t i = 0; i < n; i++)                                                        \
            acc[i] /= (T)count;                                                                \
    }
FOR_FLOAT_TYPES(MEAN_FINISH)
/* The sum, divided by the input count once complete. */
static const variadic_family mean_family = {
    .kernels = {[ONYX_DTYPE_FLOAT] = sum_FLOAT, [ONYX_DTYPE_DOUBLE] = sum_DOUBLE},
    .finish = {[ONYX_DTYPE_FLOAT] = mean_FLOAT, [ONYX_DTYPE_DOUBLE] = mean_DOUBLE}};

#define MIN_MAX_F(D, T)                                                                        \
    ACCUMULATE_KERNEL(min_##D, T, isnan(x) || x < y ? x : y)                                   \
    ACCUMULATE_KERNEL(max_##D, T, isnan(x) || x > y ? x : y)
#define MIN_MAX_I(D, T)                                                                        \
    ACCUMULATE_KERNEL(min_##D, T, x < y ? x : y)                                               \
    ACCUMULATE_KERNEL(max_##D, T, x > y ? x : y)
FOR_FLOAT_TYPES(MIN_MAX_F)
FOR_INT_TYPES(MIN_MAX_I)
/* float16 compared as float; the result is one of the inputs, so exact. */
#define H(v) half_to_float(v)
ACCUMULATE_KERNEL(min_FLOAT16, uint16_t, isnan(H(x)) || H(x) < H(y) ? x : y)
ACCUMULATE_KERNEL(max_FLOAT16, uint16_t, isnan(H(x)) || H(x) > H(y) ? x : y)
#undef H
#define KERNEL_PREFIX min
static const variadic_family min_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY) KERNEL_ENTRY(FLOAT16)}};
#undef KERNEL_PREFIX
#define KERNEL_PREFIX max
static const variadic_family max_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY) KERNEL_ENTRY(FLOAT16)}};
#undef KERNEL_PREFIX

static onyx_status max_check(op_context *ctx) { return variadic_check(ctx, &max_family); }
const op_descriptor op_Max = {max_check, variadic_reshape, variadic_run, 0};
static onyx_status mean_check(op_context *ctx) { return variadic_check(ctx, &mean_family); }
const op_descriptor op_Mean = {mean_check, variadic_reshape, variadic_run, 0};
static onyx_status min_check(op_context *ctx) { return variadic_check(ctx, &min_family); }
const op_descriptor op_Min = {min_check, variadic_reshape, variadic_run, 0};
static onyx_status sum_check(op_context *ctx) { return variadic_check(ctx, &sum_family); }
const op_descriptor op_Sum = {sum_check, variadic_reshape, variadic_run, 0};
