/* A broadcasting copy split into tasks: the broadcast of the inputs onto the output, each output
 * row cut into pieces of at most BROADCAST_PIECE elements (Expand, Where). */
#ifndef ONYX_BROADCAST_PIECES_H
#define ONYX_BROADCAST_PIECES_H

#include "broadcast.h"
#include "op.h"

#define BROADCAST_PIECE 16384

typedef struct broadcast_pieces {
    broadcast b;
    int64_t pieces, piece_len; /* pieces per output row, and their length */
    size_t elem;               /* bytes per element */
} broadcast_pieces;

/* Plans the copy of ins[0..n) onto out into the node's state (ctx->state) and sets its tasks
 * (rows times pieces). */
onyx_status broadcast_pieces_init(op_context *ctx, int n, const onyx_tensor *const *ins, const onyx_tensor *out);

#endif
