/* Row kernels of the softmax family, shared by Softmax, LogSoftmax, Hardmax and
 * SoftmaxCrossEntropyLoss: each normalizes one row of `len` elements, `stride` apart, of x
 * into y (same dtype, same layout). Numerically stable: the row maximum is subtracted before
 * exponentiating. A row holding NaN, or only -inf, gives NaN, as PyTorch does. */
#ifndef ONYX_SOFTMAX_H
#define ONYX_SOFTMAX_H

#include "axis.h"

typedef enum softmax_kind {
    SOFTMAX,     /* exp(x - max) / sum exp(x - max) */
    LOG_SOFTMAX, /* (x - max) - log(sum exp(x - max)) */
    HARDMAX,     /* 1 at the first largest element, 0 elsewhere */
    SOFTMAX_KIND_COUNT
} softmax_kind;

/* The row kernel (an axis_map_fn; it takes no options) for a floating-point dtype (float16 and bfloat16 computed as float), NULL
 * for other dtypes. */
axis_map_fn softmax_row_kernel(softmax_kind kind, onyx_dtype dtype);

#endif
