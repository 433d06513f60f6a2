/* Element counts of the shapes an operator computes in reshape. The runtime checks an output
 * shape against the limits only after reshape returns, so an operator that needs such a count
 * first (tasks, costs, state sizes) checks the shape itself (check_output_shape) or multiplies
 * with an overflow check. */
#ifndef ONYX_COUNT_H
#define ONYX_COUNT_H

#include "op.h"

#include <stdio.h>

/* The product of dims[0..n), or -1 when a dim is negative or a partial product overflows. */
static inline int64_t checked_count(const int64_t *dims, int n)
{
    int64_t count = 1;
    for (int i = 0; i < n; i++)
        if (dims[i] < 0 || __builtin_mul_overflow(count, dims[i], &count))
            return -1;
    return count;
}

/* ceil(a / b) for a >= 0 and b > 0, without the overflow of (a + b - 1) / b: in reshape, a dim
 * of an empty tensor may be near 2^63. */
static inline int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

/* op_check_shape on out, named as output 0. */
static inline onyx_status check_output_shape(const op_context *ctx, const onyx_tensor *out)
{
    char what[300];
    snprintf(what, sizeof what, "output '%s'", op_output_name(ctx, 0));
    return op_check_shape(ctx, out->rank, out->dims, what);
}

#endif
