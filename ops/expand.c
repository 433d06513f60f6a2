/* Broadcasting copies: Expand (to a shape given as an input) and Where (choose between two
 * broadcast inputs by a broadcast condition). */
#include "broadcast.h"
#include "checks.h"
#include "count.h"
#include "op.h"
#include "shape_input.h"

#include <string.h>

#define BROADCAST_CHUNK 16384

typedef struct copy_state {
    broadcast b;
    int64_t pieces, piece_len;
    size_t elem;
} copy_state;

static onyx_status copy_state_init(op_context *ctx, int n, const onyx_tensor *const *ins, const onyx_tensor *out)
{
    copy_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    broadcast_init(&s->b, n, ins, out);
    s->pieces = broadcast_tasks(ctx, &s->b, BROADCAST_CHUNK);
    s->piece_len = ceil_div(s->b.inner, s->pieces);
    s->elem = onyx_dtype_size(out->dtype);
    ctx->state = s;
    return ONYX_OK;
}

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
    if (!st)
        st = op_check_shape(ctx, (int)n, target.dims, "shape");
    if (st)
        return st;
    target.rank = (int)n;
    const onyx_tensor *both[2] = {x, &target};
    if ((st = broadcast_shape(ctx, 2, both, y)) || !ctx->concrete)
        return st;
    return copy_state_init(ctx, 1, both, y);
}

static onyx_status expand_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const copy_state *s = ctx->state;
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

/* ---- Where ------------------------------------------------------------------------------- */

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
    return copy_state_init(ctx, 3, ins, y);
}

#define WHERE_LOOP(T)                                                                          \
    for (int64_t i = 0; i < len; i++)                                                          \
        ((T *)dst)[i] = c[i * sc] ? ((const T *)a)[i * sa] : ((const T *)b)[i * sb];

static onyx_status where_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const copy_state *s = ctx->state;
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
