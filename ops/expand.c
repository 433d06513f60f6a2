/* Expand: a broadcasting copy to a shape given as an input. */
#include "broadcast_pieces.h"
#include "checks.h"
#include "op.h"
#include "shape_input.h"

#include <string.h>

/* ---- Expand ------------------------------------------------------------------------------ */

static onyx_status expand_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    if (op_input(ctx, 1)->rank != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "shape must be 1-D");
    onyx_tensor target = {.dtype = x->dtype};
    int64_t n;
    onyx_status st = shape_input_read(ctx, 1, target.dims, ONYX_MAX_RANK, &n);
    /* A shape computed while running: its length still gives the output's rank (its dims
     * unknown, but for x's dims above 1), which later inference and the fusion passes use. */
    if (st == ONYX_DEFER && !(st = shape_input_rank_only(ctx, 1, &target)))
        n = target.rank;
    else if (!st)
        st = op_check_shape(ctx, (int)n, target.dims, "shape");
    if (st)
        return st;
    target.rank = (int)n;
    const onyx_tensor *both[2] = {x, &target};
    if ((st = broadcast_shape(ctx, 2, both, y)) || !ctx->concrete)
        return st;
    return broadcast_pieces_init(ctx, 1, both, y);
}

static onyx_status expand_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const broadcast_pieces *s = ctx->state;
    const char *x = ctx->inputs[0]->data;
    char *y = ctx->outputs[0]->data;
    size_t elem = s->elem;
    for (int64_t t = begin; t < end; t++) {
        int64_t row = t / s->pieces, start = (t % s->pieces) * s->piece_len;
        int64_t len = OP_MIN(s->piece_len, s->b.inner - start), off;
        broadcast_row(&s->b, row, &off);
        char *dst = y + (size_t)(row * s->b.inner + start) * elem;
        if (s->b.step[0]) {
            memcpy(dst, x + (size_t)(off + start) * elem, (size_t)len * elem);
        } else {
            for (int64_t i = 0; i < len; i++)
                memcpy(dst + (size_t)i * elem, x + (size_t)off * elem, elem);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Expand = {check_data_and_shape, expand_reshape, expand_run, 0};
