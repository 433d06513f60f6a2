/* Trilu: keeps the upper (or lower) triangle of the last two dims, from diagonal k. */
#include "op.h"

#include <string.h>

typedef struct trilu_params {
    bool upper;
} trilu_params;

static onyx_status trilu_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, false, DT(INT64));
    trilu_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t upper;
    if ((st = op_attr_int(ctx, "upper", 1, &upper)))
        return st;
    p->upper = upper != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status trilu_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0), *k = op_input(ctx, 1);
    if (x->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input must have rank >= 2, got %d", x->rank);
    if (k && k->rank != 0 && !(k->rank == 1 && k->dims[0] == 1))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "k must be a scalar");
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (ctx->concrete) {
        /* Rows of the matrices, unless they are empty. */
        ctx->n_tasks = x->dims[x->rank - 1] ? shape_count(x->dims, x->rank - 1) : 0;
        ctx->task_cost = x->dims[x->rank - 1];
    }
    return ONYX_OK;
}

static onyx_status trilu_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const trilu_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0], *kt = op_input(ctx, 1);
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    int64_t k = kt ? ((const int64_t *)kt->data)[0] : 0;
    k = OP_MAX(-(rows + cols), OP_MIN(k, rows + cols)); /* beyond this nothing changes */
    size_t elem = onyx_dtype_size(x->dtype);
    for (int64_t r = begin; r < end; r++) {
        int64_t i = r % rows; /* row within its matrix */
        const char *src = (const char *)x->data + (size_t)(r * cols) * elem;
        char *dst = (char *)ctx->outputs[0]->data + (size_t)(r * cols) * elem;
        /* Upper keeps columns j >= i + k; lower keeps j <= i + k. */
        int64_t lo = p->upper ? i + k : 0, hi = p->upper ? cols : i + k + 1;
        lo = OP_MAX(0, OP_MIN(lo, cols));
        hi = OP_MAX(lo, OP_MIN(hi, cols));
        memset(dst, 0, (size_t)cols * elem);
        memcpy(dst + (size_t)lo * elem, src + (size_t)lo * elem, (size_t)(hi - lo) * elem);
    }
    return ONYX_OK;
}

const op_descriptor op_Trilu = {trilu_check, trilu_reshape, trilu_run, 0};
