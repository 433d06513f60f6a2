#include "axis.h"

onyx_status axis_rows_plan(op_context *ctx, axis_rows rows, int64_t cost_per_element)
{
    axis_rows *state = op_alloc_state(ctx, sizeof *state);
    if (!state)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *state = rows;
    ctx->state = state;
    ctx->n_tasks = axis_row_count(&rows);
    ctx->task_cost = rows.len * cost_per_element;
    return ONYX_OK;
}

void axis_map_run(const op_context *ctx, axis_map_fn map, unsigned options, int64_t begin, int64_t end)
{
    const axis_rows *rows = ctx->state;
    size_t elem = onyx_dtype_size(ctx->inputs[0]->dtype);
    const char *x = ctx->inputs[0]->data;
    char *y = ctx->outputs[0]->data;
    for (int64_t r = begin; r < end; r++) {
        size_t start = (size_t)axis_row_start(rows, r) * elem;
        map(x + start, y + start, rows->len, rows->inner, options);
    }
}

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
