#include "elementwise.h"

#include <string.h>

#define ELEMENTWISE_CHUNK 16384

typedef struct binary_params {
    binary_kernel kernel;
    bool legacy;      /* opset < 7: B broadcast onto A from `axis`, only if `broadcast` */
    bool legacy_broadcast;
    int64_t axis;
    bool has_axis;
} binary_params;

typedef struct binary_state {
    broadcast b;
    int64_t pieces, piece_len;
    size_t out_size, a_size, b_size;
} binary_state;

onyx_status binary_check(op_context *ctx, const binary_family *family)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (st)
        return st;
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1);
    if (!a || !b)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "both inputs are required");
    binary_kernel kernel = NULL;
    if (family->mixed_types) {
        kernel = family->pick(a->dtype, b->dtype);
    } else {
        if ((st = op_check_same_dtype(ctx, 0, 1)))
            return st;
        kernel = family->kernels[a->dtype];
    }
    if (!kernel)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "no implementation for dtypes %s and %s",
                        onyx_dtype_name(a->dtype), onyx_dtype_name(b->dtype));
    binary_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kernel = kernel;
    if (ctx->opset < 7) {
        int64_t flag;
        p->legacy = true;
        if ((st = op_attr_int(ctx, "broadcast", 0, &flag)) || (st = op_attr_int(ctx, "axis", 0, &p->axis)))
            return st;
        p->legacy_broadcast = flag != 0;
        p->has_axis = op_has_attr(ctx, "axis");
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, family->bool_output ? ONYX_DTYPE_BOOL : a->dtype);
    return ONYX_OK;
}

/* Opset < 7 broadcasting: B's dims line up with A's from `axis` (default: A's last dims).
 * Rewritten as numpy broadcasting by padding B's shape with 1s. */
static onyx_status legacy_view(const op_context *ctx, const binary_params *p, const onyx_tensor *a,
                               const onyx_tensor *b, onyx_tensor *view)
{
    *view = *b;
    char sa[128], sb[128];
    if (!p->legacy_broadcast) {
        bool same = a->rank == b->rank;
        for (int i = 0; same && i < a->rank; i++)
            same = dim_may_equal(a->dims[i], b->dims[i]);
        if (!same)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "inputs %s and %s differ and the 'broadcast' attribute is 0",
                            shape_str(a, sa, sizeof sa), shape_str(b, sb, sizeof sb));
        return ONYX_OK;
    }
    int64_t axis = p->has_axis ? p->axis : a->rank - b->rank;
    if (axis < 0)
        axis += a->rank;
    if (axis < 0 || axis + b->rank > a->rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "cannot broadcast %s onto %s from axis %lld",
                        shape_str(b, sb, sizeof sb), shape_str(a, sa, sizeof sa), (long long)p->axis);
    view->rank = a->rank;
    for (int i = 0; i < a->rank; i++)
        view->dims[i] = i >= axis && i < axis + b->rank ? b->dims[i - axis] : 1;
    return ONYX_OK;
}

onyx_status binary_reshape(op_context *ctx)
{
    const binary_params *p = ctx->params;
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1);
    onyx_tensor *out = op_output(ctx, 0);
    onyx_tensor view;
    if (p->legacy) {
        onyx_status st = legacy_view(ctx, p, a, b, &view);
        if (st)
            return st;
        b = &view;
    }
    const onyx_tensor *ins[2] = {a, b};
    onyx_status st = broadcast_shape(ctx, 2, ins, out);
    if (st || !ctx->concrete)
        return st;
    binary_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    broadcast_init(&s->b, 2, ins, out);
    s->pieces = broadcast_tasks(ctx, &s->b, ELEMENTWISE_CHUNK);
    s->piece_len = (s->b.inner + s->pieces - 1) / s->pieces;
    s->out_size = onyx_dtype_size(out->dtype);
    s->a_size = onyx_dtype_size(a->dtype);
    s->b_size = onyx_dtype_size(b->dtype);
    ctx->state = s;
    return ONYX_OK;
}

onyx_status binary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const binary_params *p = ctx->params;
    const binary_state *s = ctx->state;
    const char *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;
    char *out = ctx->outputs[0]->data;
    for (int64_t t = begin; t < end; t++) {
        int64_t row = t / s->pieces, start = (t % s->pieces) * s->piece_len;
        int64_t len = OP_MIN(s->piece_len, s->b.inner - start);
        int64_t off[2];
        broadcast_row(&s->b, row, off);
        p->kernel(out + (size_t)(row * s->b.inner + start) * s->out_size,
                  a + (size_t)(off[0] + start * s->b.step[0]) * s->a_size, s->b.step[0],
                  b + (size_t)(off[1] + start * s->b.step[1]) * s->b_size, s->b.step[1], len);
    }
    return ONYX_OK;
}

/* ---- unary ------------------------------------------------------------------------------ */

typedef struct unary_params {
    unary_kernel kernel;
    float alpha, beta;
} unary_params;

typedef struct unary_state {
    int64_t count;
    size_t in_size, out_size;
} unary_state;

onyx_status unary_check(op_context *ctx, const unary_family *family)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (st)
        return st;
    const onyx_tensor *x = op_input(ctx, 0);
    if (!x)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input 0 is required");
    if (!family->kernels[x->dtype])
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "no implementation for dtype %s",
                        onyx_dtype_name(x->dtype));
    unary_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kernel = family->kernels[x->dtype];
    p->alpha = family->alpha_default;
    p->beta = family->beta_default;
    if ((family->alpha_name && (st = op_attr_float(ctx, family->alpha_name, family->alpha_default, &p->alpha))) ||
        (family->beta_name && (st = op_attr_float(ctx, family->beta_name, family->beta_default, &p->beta))))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, family->output_dtype ? family->output_dtype : x->dtype);
    return ONYX_OK;
}

onyx_status unary_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    tensor_set_shape(y, x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    unary_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->count = tensor_count(x);
    s->in_size = onyx_dtype_size(x->dtype);
    s->out_size = onyx_dtype_size(y->dtype);
    ctx->state = s;
    ctx->n_tasks = (s->count + ELEMENTWISE_CHUNK - 1) / ELEMENTWISE_CHUNK;
    ctx->task_cost = ELEMENTWISE_CHUNK;
    return ONYX_OK;
}

onyx_status unary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const unary_params *p = ctx->params;
    const unary_state *s = ctx->state;
    int64_t first = begin * ELEMENTWISE_CHUNK, last = OP_MIN(end * ELEMENTWISE_CHUNK, s->count);
    if (first < last)
        p->kernel((char *)ctx->outputs[0]->data + (size_t)first * s->out_size,
                  (const char *)ctx->inputs[0]->data + (size_t)first * s->in_size, last - first,
                  p->alpha, p->beta);
    return ONYX_OK;
}
