#include "strided_copy.h"

#include <string.h>

void strides_of(const onyx_tensor *t, int64_t *strides)
{
    int64_t stride = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        strides[i] = stride;
        stride *= t->dims[i];
    }
}

onyx_status strided_copy_plan(op_context *ctx, int rank, const int64_t *dims, const int64_t *strides, int64_t base)
{
    strided_copy *c = op_alloc_state(ctx, sizeof *c);
    if (!c)
        return ONYX_ERROR_OUT_OF_MEMORY;
    c->base = base;
    c->elem = onyx_dtype_size(op_output(ctx, 0)->dtype);
    int64_t total = shape_count(dims, rank);
    c->rank = 0;
    for (int i = 0; i < rank && total; i++) {
        if (dims[i] == 1)
            continue;
        int last = c->rank - 1;
        if (last >= 0 && c->strides[last] == strides[i] * dims[i]) {
            c->dims[last] *= dims[i]; /* one run in the input too: one axis */
            c->strides[last] = strides[i];
        } else {
            c->dims[c->rank] = dims[i];
            c->strides[c->rank] = strides[i];
            c->rank++;
        }
    }
    if (c->rank == 0) { /* a single element, or none */
        c->rank = 1;
        c->dims[0] = total ? 1 : 0;
        c->strides[0] = 1;
    }
    int64_t inner = c->dims[c->rank - 1];
    c->rows = inner ? total / inner : 0;
    /* One contiguous run from the start: the output is the input's first bytes, so the
     * planner may let it share the input's memory (then run copies nothing). */
    ctx->output_is_view = c->rank == 1 && c->strides[0] == 1 && c->base == 0;
    ctx->state = c;
    ctx->n_tasks = c->rows;
    ctx->task_cost = inner;
    return ONYX_OK;
}

/* `rows` output rows of n elements, `step` apart in the input, from src on. More than one row
 * only when their sources are neighbours in the input (the axis before the last has input
 * stride 1): each column is then one run of `rows` input elements, so that a transposition
 * reads every input cache line once instead of one element per line per row, and large
 * power-of-two steps do not keep evicting the same cache sets. */
#define TILED_LOOP(T)                                                                          \
    for (int64_t j = 0; j < n; j++)                                                            \
        for (int64_t i = 0; i < rows; i++)                                                     \
            ((T *)dst)[i * n + j] = ((const T *)src)[i + j * step];

static void copy_rows(char *dst, const char *src, int64_t rows, int64_t n, int64_t step, size_t elem)
{
    switch (elem) {
    case 1: TILED_LOOP(uint8_t) return;
    case 2: TILED_LOOP(uint16_t) return;
    case 4: TILED_LOOP(uint32_t) return;
    case 8: TILED_LOOP(uint64_t) return;
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++)
            memcpy(dst + (size_t)(i * n + j) * elem, src + (i + j * step) * (int64_t)elem, elem);
}

onyx_status strided_copy_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const strided_copy *c = ctx->state;
    const char *x = ctx->inputs[0]->data;
    char *y = ctx->outputs[0]->data;
    if (x == y)
        return ONYX_OK; /* a view sharing its input's memory */
    int last = c->rank - 1;
    int64_t n = c->dims[last], step = c->strides[last];
    size_t elem = c->elem;
    bool tiled = step != 1 && last >= 1 && c->strides[last - 1] == 1;
    for (int64_t row = begin; row < end;) {
        int64_t off = c->base, r = row;
        for (int d = last - 1; d >= 0 && r; d--) {
            off += (r % c->dims[d]) * c->strides[d];
            r /= c->dims[d];
        }
        char *dst = y + (size_t)(row * n) * elem;
        const char *src = x + off * (int64_t)elem;
        /* tiled: up to 16 rows, within this task and along one run of the axis before the last */
        int64_t rows = tiled ? OP_MIN(OP_MIN(16, end - row), c->dims[last - 1] - row % c->dims[last - 1]) : 1;
        if (step == 1)
            memcpy(dst, src, (size_t)n * elem);
        else
            copy_rows(dst, src, rows, n, step, elem);
        row += rows;
    }
    return ONYX_OK;
}
