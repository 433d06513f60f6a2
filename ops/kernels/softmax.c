#include "softmax.h"

#include "dtype_io.h"

#include "gemm.h"

#include <math.h>
#include <string.h>

/* exp and log in the precision of their argument. */
#define EXP_OF(v) _Generic((v), float: expf, default: exp)(v)
#define LOG_OF(v) _Generic((v), float: logf, default: log)(v)

/* Softmax rounds where ONNX's reference (numpy) does for float16 and bfloat16: x - max, each
 * exp and each quotient to the type, the sum accumulated in float for float16 (numpy's half
 * sum) and rounded at every addition for bfloat16 (ml_dtypes'); LOAD(STORE(v)) is v for float
 * and double. The row maximum skips NaN, which propagates through the sum. */
#define SOFTMAX_ROWS(D, T, V, LOAD, STORE)                                                     \
    static V row_max_##D(const T *x, int64_t len, int64_t stride)                              \
    {                                                                                          \
        V max = -INFINITY;                                                                     \
        for (int64_t i = 0; i < len; i++) {                                                    \
            V v = LOAD(x[i * stride]);                                                         \
            max = v > max ? v : max;                                                           \
        }                                                                                      \
        return max;                                                                            \
    }                                                                                          \
    static void softmax_##D(const void *x_, void *y_, int64_t len, int64_t stride, unsigned options) \
    {                                                                                          \
        const T *x = x_;                                                                       \
        T *y = y_;                                                                             \
        V max = row_max_##D(x, len, stride), sum = 0;                                          \
        (void)options;                                                                         \
        for (int64_t i = 0; i < len; i++) {                                                    \
            T e = STORE(EXP_OF(LOAD(STORE(LOAD(x[i * stride]) - max))));                       \
            y[i * stride] = e;                                                                 \
            sum += LOAD(e);                                                                    \
            if (ONYX_DTYPE_##D == ONYX_DTYPE_BFLOAT16)                                         \
                sum = LOAD(STORE(sum));                                                        \
        }                                                                                      \
        V total = LOAD(STORE(sum));                                                            \
        for (int64_t i = 0; i < len; i++)                                                      \
            y[i * stride] = STORE(LOAD(y[i * stride]) / total);                                \
    }                                                                                          \
    static void log_softmax_##D(const void *x_, void *y_, int64_t len, int64_t stride, unsigned options) \
    {                                                                                          \
        const T *x = x_;                                                                       \
        T *y = y_;                                                                             \
        V max = row_max_##D(x, len, stride), sum = 0;                                          \
        (void)options;                                                                         \
        for (int64_t i = 0; i < len; i++)                                                      \
            sum += EXP_OF(LOAD(x[i * stride]) - max);                                          \
        V log_sum = LOG_OF(sum);                                                               \
        for (int64_t i = 0; i < len; i++)                                                      \
            y[i * stride] = STORE((LOAD(x[i * stride]) - max) - log_sum);                      \
    }                                                                                          \
    static void hardmax_##D(const void *x_, void *y_, int64_t len, int64_t stride, unsigned options) \
    {                                                                                          \
        T *y = y_;                                                                             \
        (void)options;                                                                         \
        for (int64_t i = 0; i < len; i++)                                                      \
            y[i * stride] = STORE((V)0);                                                       \
        if (len)                                                                               \
            y[arg_extreme_kernel(ONYX_DTYPE_##D)(x_, len, stride, true, false) * stride] = STORE((V)1); \
    }
FOR_FLOAT_IO(SOFTMAX_ROWS)

/* float32 rows laid out contiguously: the GEMM kernels' vectorized softmax (its exp is within
 * about an ulp of expf). */
static void softmax_float_rows(const void *x, void *y, int64_t len, int64_t stride, unsigned options)
{
    if (stride != 1) {
        softmax_FLOAT(x, y, len, stride, options);
        return;
    }
    if (x != y)
        memcpy(y, x, (size_t)len * sizeof(float));
    gemm_softmax_row(NULL, y, len);
}

axis_map_fn softmax_row_kernel(softmax_kind kind, onyx_dtype dtype)
{
    if (kind == SOFTMAX && dtype == ONYX_DTYPE_FLOAT)
        return softmax_float_rows;
#define SOFTMAX_ROW_CASE(D, T, V, LOAD, STORE)                                                 \
    case ONYX_DTYPE_##D: {                                                                     \
        static const axis_map_fn kinds[SOFTMAX_KIND_COUNT] = {softmax_##D, log_softmax_##D, hardmax_##D}; \
        return kinds[kind];                                                                    \
    }
    switch (dtype) {
        FOR_FLOAT_IO(SOFTMAX_ROW_CASE)
    default:
        return NULL;
    }
}
