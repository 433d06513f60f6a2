#include "softmax.h"

#include "axis.h"
#include "dtype_io.h"

#include <math.h>

/* exp and log in the precision of their argument. */
#define EXP_OF(v) _Generic((v), float: expf, default: exp)(v)
#define LOG_OF(v) _Generic((v), float: logf, default: log)(v)

/* The maximum of a row; NaN is skipped here and propagates through the sums instead. */
#define ROW_MAX(V, max, x, len, stride, LOAD)                                                     \
    for (int64_t i = 0; i < (len); i++) {                                                      \
        V v_ = LOAD((x)[i * (stride)]);                                                        \
        max = v_ > max ? v_ : max;                                                             \
    }

/* Softmax keeps each exp in y, then scales: for float16 and bfloat16 that rounds twice, within
 * one unit of their last place. */
#define SOFTMAX_ROWS(D, T, V, LOAD, STORE)                                                     \
    static void softmax_##D(const void *x_, void *y_, int64_t len, int64_t stride)             \
    {                                                                                          \
        const T *x = x_;                                                                       \
        T *y = y_;                                                                             \
        V max = -INFINITY, sum = 0;                                                            \
        ROW_MAX(V, max, x, len, stride, LOAD)                                                  \
        for (int64_t i = 0; i < len; i++) {                                                    \
            V e = EXP_OF(LOAD(x[i * stride]) - max);                                           \
            y[i * stride] = STORE(e);                                                          \
            sum += e;                                                                          \
        }                                                                                      \
        V inv = 1 / sum;                                                                       \
        for (int64_t i = 0; i < len; i++)                                                      \
            y[i * stride] = STORE(LOAD(y[i * stride]) * inv);                                  \
    }                                                                                          \
    static void log_softmax_##D(const void *x_, void *y_, int64_t len, int64_t stride)         \
    {                                                                                          \
        const T *x = x_;                                                                       \
        T *y = y_;                                                                             \
        V max = -INFINITY, sum = 0;                                                            \
        ROW_MAX(V, max, x, len, stride, LOAD)                                                  \
        for (int64_t i = 0; i < len; i++)                                                      \
            sum += EXP_OF(LOAD(x[i * stride]) - max);                                          \
        V log_sum = LOG_OF(sum);                                                               \
        for (int64_t i = 0; i < len; i++)                                                      \
            y[i * stride] = STORE((LOAD(x[i * stride]) - max) - log_sum);                      \
    }                                                                                          \
    static void hardmax_##D(const void *x_, void *y_, int64_t len, int64_t stride)             \
    {                                                                                          \
        T *y = y_;                                                                             \
        for (int64_t i = 0; i < len; i++)                                                      \
            y[i * stride] = STORE((V)0);                                                       \
        if (len)                                                                               \
            y[arg_extreme_kernel(ONYX_DTYPE_##D)(x_, len, stride, true, false) * stride] = STORE((V)1); \
    }
FOR_FLOAT_IO(SOFTMAX_ROWS)

softmax_row_fn softmax_row_kernel(softmax_kind kind, onyx_dtype dtype)
{
#define SOFTMAX_ROW_CASE(D, T, V, LOAD, STORE)                                                 \
    case ONYX_DTYPE_##D: {                                                                     \
        static const softmax_row_fn kinds[SOFTMAX_KIND_COUNT] = {softmax_##D, log_softmax_##D, hardmax_##D}; \
        return kinds[kind];                                                                    \
    }
    switch (dtype) {
        FOR_FLOAT_IO(SOFTMAX_ROW_CASE)
    default:
        return NULL;
    }
}
