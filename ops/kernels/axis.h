/* Work along one axis, shared by the operators that treat each line of a tensor along an axis
 * as a unit (Softmax and its family, ArgMax, CumSum, TopK, the losses): the tensor seen as
 * outer x len x inner, a "row" being the len elements at one (outer, inner) position, `inner`
 * apart in memory. */
#ifndef ONYX_AXIS_H
#define ONYX_AXIS_H

#include "dtype_io.h"
#include "op.h"

typedef struct axis_rows {
    int64_t outer, len, inner;
} axis_rows;

static inline axis_rows axis_rows_of(const onyx_tensor *t, int axis)
{
    axis_rows r;
    shape_split(t, axis, &r.outer, &r.len, &r.inner);
    return r;
}

static inline int64_t axis_row_count(const axis_rows *r) { return r->outer * r->inner; }

/* Offset of the first element of row `row` (rows numbered in memory order of their starts). */
static inline int64_t axis_row_start(const axis_rows *r, int64_t row)
{
    return row / r->inner * r->len * r->inner + row % r->inner;
}

/* Plans work done row by row: `rows` becomes the state, with one task per row costing
 * `cost_per_element` per element of it. */
onyx_status axis_rows_plan(op_context *ctx, axis_rows rows, int64_t cost_per_element);

/* Maps one row of x onto the same row of y (same dtype and layout); `options` are the
 * operator's own flags. */
typedef void (*axis_map_fn)(const void *x, void *y, int64_t len, int64_t stride, unsigned options);
/* Runs rows [begin, end) of input 0, planned by axis_rows_plan, through `map` into output 0. */
void axis_map_run(const op_context *ctx, axis_map_fn map, unsigned options, int64_t begin, int64_t end);

/* The position of the largest (or smallest) of x[0], x[stride], ... x[(len-1)*stride], x an
 * array of the kernel's dtype: the first of equal ones, or the last when `last`. NaN wins over
 * any number, as numpy's and PyTorch's argmax and argmin have it. A row of len 0 gives 0. */
typedef int64_t (*arg_extreme_fn)(const void *x, int64_t len, int64_t stride, bool largest, bool last);
/* The function for a numeric dtype (float16 and bfloat16 included), NULL for others. */
arg_extreme_fn arg_extreme_kernel(onyx_dtype dtype);

#endif
