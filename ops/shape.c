/* Shape and Size: int64 outputs computed from the input's shape alone (the runtime folds them
 * when shapes are known). */
#include "checks.h"
#include "op.h"

typedef struct shape_params {
    int64_t start, end;
} shape_params;

/* Shape and Size: any input, of which they read only the shape; int64 output. */
static onyx_status shape_info_check(op_context *ctx) { return check_one_input(ctx, DT_ALL, ONYX_DTYPE_INT64); }

static onyx_status shape_check(op_context *ctx)
{
    onyx_status st = shape_info_check(ctx);
    shape_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "start", 0, &p->start)) || (st = op_attr_int(ctx, "end", INT64_MAX, &p->end)))
        return st;
    ctx->params = p;
    return ONYX_OK;
}

/* The [start, end) range of axes, clamped as the spec says. */
static void shape_range(const shape_params *p, int rank, int64_t *start, int64_t *end)
{
    *start = p->start < 0 ? p->start + rank : p->start;
    *end = p->end < 0 ? p->end + rank : p->end;
    *start = OP_MAX(0, OP_MIN(*start, rank));
    *end = OP_MAX(*start, OP_MIN(*end, rank));
}

static onyx_status shape_reshape(op_context *ctx)
{
    int64_t start, end;
    shape_range(ctx->params, op_input(ctx, 0)->rank, &start, &end);
    onyx_tensor *y = op_output(ctx, 0);
    y->rank = 1;
    y->dims[0] = end - start;
    return ONYX_OK;
}

static onyx_status shape_run(const op_context *ctx, int64_t begin, int64_t end_task, void *scratch)
{
    (void)begin, (void)end_task, (void)scratch;
    const onyx_tensor *x = ctx->inputs[0];
    int64_t start, end;
    shape_range(ctx->params, x->rank, &start, &end);
    for (int64_t i = start; i < end; i++)
        ((int64_t *)ctx->outputs[0]->data)[i - start] = x->dims[i];
    return ONYX_OK;
}

const op_descriptor op_Shape = {shape_check, shape_reshape, shape_run, 1u << 0};

/* ---- Size -------------------------------------------------------------------------------- */

static onyx_status size_reshape(op_context *ctx)
{
    op_output(ctx, 0)->rank = 0;
    return ONYX_OK;
}

static onyx_status size_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    *(int64_t *)ctx->outputs[0]->data = tensor_count(ctx->inputs[0]);
    return ONYX_OK;
}

const op_descriptor op_Size = {shape_info_check, size_reshape, size_run, 1u << 0};
