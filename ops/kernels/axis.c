#include "axis.h"

#define ARG_EXTREME_ROW(D, T, V, LOAD, STORE)                                                  \
    static int64_t arg_extreme_##D(const void *x_, int64_t len, int64_t stride, bool largest, bool last) \
    {                                                                                          \
        const T *x = x_;                                                                       \
        int64_t best_at = 0;                                                                   \
        V best = len ? LOAD(x[0]) : 0;                                                         \
        for (int64_t i = 1; i < len; i++) {                                                    \
            V v = LOAD(x[i * stride]);                                                         \
            bool v_nan = VALUE_IS_NAN(v), best_nan = VALUE_IS_NAN(best);                       \
            bool wins = !best_nan && (v_nan || (largest ? v > best : v < best));               \
            bool ties = best_nan ? v_nan : v == best;                                          \
            if (wins || (last && ties)) {                                                      \
                best_at = i;                                                                   \
                best = v;                                                                      \
            }                                                                                  \
        }                                                                                      \
        return best_at;                                                                        \
    }
FOR_NUMERIC_IO(ARG_EXTREME_ROW)

arg_extreme_fn arg_extreme_kernel(onyx_dtype dtype)
{
#define ARG_EXTREME_CASE(D, T, V, LOAD, STORE)                                                 \
    case ONYX_DTYPE_##D:                                                                       \
        return arg_extreme_##D;
    switch (dtype) {
        FOR_NUMERIC_IO(ARG_EXTREME_CASE)
    default:
        return NULL;
    }
}
