/* Where: chooses between two broadcast inputs by a broadcast condition. */
#include "broadcast_pieces.h"
#include "op.h"

#include <string.h>

static onyx_status where_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(BOOL));
    if (!st)
        st = op_check_input(ctx, 1, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 2, true, DT_ALL);
    if (!st)
        st = op_check_same_dtype(ctx, 1, 2);
    if (!st)
        op_set_output_dtypes(ctx, op_input(ctx, 1)->dtype);
    return st;
}

static onyx_status where_reshape(op_context *ctx)
{
    const onyx_tensor *ins[3] = {op_input(ctx, 0), op_input(ctx, 1), op_input(ctx, 2)};
    onyx_tensor *y = op_output(ctx, 0);
    onyx_status st = broadcast_shape(ctx, 3, ins, y);
    if (st || !ctx->concrete)
        return st;
    return broadcast_pieces_init(ctx, 3, ins, y);
}

#define WHERE_LOOP(T)                                                                          \
    for (int64_t i = 0; i < len; i++)                                                          \
        ((T *)dst)[i] = c[i * sc] ? ((const T *)a)[i * sa] : ((const T *)b)[i * sb];

static onyx_status where_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const broadcast_pieces *s = ctx->state;
    size_t elem = s->elem;
    int64_t sc = s->b.step[0], sa = s->b.step[1], sb = s->b.step[2];
    for (int64_t t = begin; t < end; t++) {
        int64_t row = t / s->pieces, start = (t % s->pieces) * s->piece_len;
        int64_t len = OP_MIN(s->piece_len, s->b.inner - start), off[3];
        broadcast_row(&s->b, row, off);
        const uint8_t *c = (const uint8_t *)ctx->inputs[0]->data + off[0] + start * sc;
        const char *a = (const char *)ctx->inputs[1]->data + (size_t)(off[1] + start * sa) * elem;
        const char *b = (const char *)ctx->inputs[2]->data + (size_t)(off[2] + start * sb) * elem;
        char *dst = (char *)ctx->outputs[0]->data + (size_t)(row * s->b.inner + start) * elem;
        switch (elem) {
        case 1: WHERE_LOOP(uint8_t) break;
        case 2: WHERE_LOOP(uint16_t) break;
        case 4: WHERE_LOOP(uint32_t) break;
        case 8: WHERE_LOOP(uint64_t) break;
        default:
            for (int64_t i = 0; i < len; i++)
                memcpy(dst + (size_t)i * elem, c[i * sc] ? a + (size_t)(i * sa) * elem : b + (size_t)(i * sb) * elem,
                       elem);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Where = {where_check, where_reshape, where_run, 0};
