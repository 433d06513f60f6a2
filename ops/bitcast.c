/* BitCast: the input's bytes read as another type of the same width (`to`), shape kept. The
 * output is the input's memory unchanged, so the planner may share it, except for a cast to
 * bool: onyx holds bools as 0 or 1, so any other byte becomes 1 (true, as a nonzero byte
 * reads everywhere), keeping every later operator's reading of bools valid. */
#include "op.h"

#include <string.h>

#define BITCAST_CHUNK (1 << 20)

typedef struct bitcast_params {
    bool to_bool;
} bitcast_params;

static onyx_status bitcast_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    int64_t to;
    if (!st)
        st = op_attr_require(ctx, "to");
    if (!st)
        st = op_attr_int(ctx, "to", 0, &to);
    if (st)
        return st;
    onyx_dtype from = op_input(ctx, 0)->dtype;
    if (to < 0 || to >= 32 || !(DT_ALL & (1u << to)))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "bit cast to %s (%lld) is not supported",
                        onyx_dtype_name((onyx_dtype)to), (long long)to);
    if (onyx_dtype_size((onyx_dtype)to) != onyx_dtype_size(from))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "'to' is %s, of %zu bytes, but input '%s' is %s, of %zu",
                        onyx_dtype_name((onyx_dtype)to), onyx_dtype_size((onyx_dtype)to),
                        op_input_name(ctx, 0), onyx_dtype_name(from), onyx_dtype_size(from));
    bitcast_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->to_bool = to == ONYX_DTYPE_BOOL;
    ctx->params = p;
    op_set_output_dtypes(ctx, (onyx_dtype)to);
    return ONYX_OK;
}

static onyx_status bitcast_reshape(op_context *ctx)
{
    const bitcast_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    ctx->output_is_view = !p->to_bool;
    if (ctx->concrete) {
        size_t bytes = tensor_bytes(x);
        ctx->n_tasks = (int64_t)((bytes + BITCAST_CHUNK - 1) / BITCAST_CHUNK);
        ctx->task_cost = BITCAST_CHUNK / 4;
    }
    return ONYX_OK;
}

static onyx_status bitcast_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const bitcast_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    size_t bytes = tensor_bytes(x);
    size_t first = (size_t)begin * BITCAST_CHUNK, last = OP_MIN((size_t)end * BITCAST_CHUNK, bytes);
    const uint8_t *in = x->data;
    uint8_t *out = y->data;
    if (p->to_bool) {
        for (size_t i = first; i < last; i++)
            out[i] = in[i] != 0;
    } else if (first < last && out != in) {
        memcpy(out + first, in + first, last - first);
    }
    return ONYX_OK;
}

const op_descriptor op_BitCast = {bitcast_check, bitcast_reshape, bitcast_run, 0};
