/* Operators computed in float or double: one kernel per type generated from one body, which
 * run picks by the dtype of input 0; and reading float-or-double parameters as double. */
#ifndef ONYX_FLOAT_DISPATCH_H
#define ONYX_FLOAT_DISPATCH_H

#include "op.h"

/* Computes tasks [begin, end) of the node; cannot fail. */
typedef void (*float_kernel)(const op_context *ctx, int64_t begin, int64_t end, void *scratch);

static inline onyx_status run_float_kernel(const op_context *ctx, int64_t begin, int64_t end, void *scratch,
                                           float_kernel f32, float_kernel f64)
{
    (ctx->inputs[0]->dtype == ONYX_DTYPE_FLOAT ? f32 : f64)(ctx, begin, end, scratch);
    return ONYX_OK;
}

/* Element i of a float or double tensor. */
static inline double float_at(const onyx_tensor *t, int64_t i)
{
    return t->dtype == ONYX_DTYPE_FLOAT ? ((const float *)t->data)[i] : ((const double *)t->data)[i];
}

#endif
