/* A broadcasting copy split into tasks (see broadcast_pieces.h). */
#include "broadcast_pieces.h"

#include "count.h"

onyx_status broadcast_pieces_init(op_context *ctx, int n, const onyx_tensor *const *ins, const onyx_tensor *out)
{
    broadcast_pieces *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    broadcast_init(&s->b, n, ins, out);
    s->pieces = broadcast_tasks(ctx, &s->b, BROADCAST_PIECE);
    s->piece_len = ceil_div(s->b.inner, s->pieces);
    s->elem = onyx_dtype_size(out->dtype);
    ctx->state = s;
    return ONYX_OK;
}
