/* Transpose: permutes axes (default: reversed). Axes that stay neighbours are merged, so a
 * head split such as [B,S,H,D] -> [B,H,S,D] becomes a copy of D-element runs. */
#include "op.h"

#include <string.h>

typedef struct transpose_params {
    const int64_t *perm; /* NULL: reverse */
    int64_t n_perm;
} transpose_params;

typedef struct transpose_state {
    int rank;                       /* after merging; >= 1 */
    int64_t dims[ONYX_MAX_RANK];    /* output dims */
    int64_t strides[ONYX_MAX_RANK]; /* input stride for each output axis */
    int64_t rows;                   /* output elements / dims[rank - 1] */
    size_t elem;
} transpose_state;

static onyx_status transpose_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    transpose_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_ints(ctx, "perm", &p->perm, &p->n_perm)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status transpose_reshape(op_context *ctx)
{
    const transpose_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    int rank = x->rank, perm[ONYX_MAX_RANK];
    bool seen[ONYX_MAX_RANK] = {false};
    if (p->perm && p->n_perm != rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "perm has %lld entries for rank %d", (long long)p->n_perm, rank);
    for (int i = 0; i < rank; i++) {
        int64_t a = p->perm ? p->perm[i] : rank - 1 - i;
        if (a < 0 || a >= rank || seen[a])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "perm is not a permutation of 0..%d", rank - 1);
        seen[a] = true;
        perm[i] = (int)a;
    }
    y->rank = rank;
    for (int i = 0; i < rank; i++)
        y->dims[i] = x->dims[perm[i]];
    if (!ctx->concrete)
        return ONYX_OK;

    transpose_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t in_strides[ONYX_MAX_RANK], stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
        in_strides[i] = stride;
        stride *= x->dims[i];
    }
    s->rank = 0;
    for (int i = 0; i < rank; i++) {
        int64_t d = x->dims[perm[i]], st_in = in_strides[perm[i]];
        if (d == 1)
            continue;
        if (s->rank > 0 && s->strides[s->rank - 1] == st_in * d) {
            s->dims[s->rank - 1] *= d; /* contiguous in the input too: one axis */
            s->strides[s->rank - 1] = st_in;
        } else {
            s->dims[s->rank] = d;
            s->strides[s->rank] = st_in;
            s->rank++;
        }
    }
    if (s->rank == 0) {
        s->rank = 1;
        s->dims[0] = 1;
        s->strides[0] = 1;
    }
    s->elem = onyx_dtype_size(x->dtype);
    /* Only axes of size 1 move: the bytes keep their order. */
    ctx->output_is_view = s->rank == 1 && s->strides[0] == 1;
    int64_t inner = s->dims[s->rank - 1];
    s->rows = inner ? tensor_count(y) / inner : 0;
    ctx->state = s;
    ctx->n_tasks = s->rows;
    ctx->task_cost = inner;
    return ONYX_OK;
}

static onyx_status transpose_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const transpose_state *s = ctx->state;
    const char *x = ctx->inputs[0]->data;
    char *y = ctx->outputs[0]->data;
    int last = s->rank - 1;
    int64_t inner = s->dims[last], step = s->strides[last];
    size_t elem = s->elem;
    for (int64_t row = begin; row < end; row++) {
        int64_t off = 0, r = row;
        for (int d = last - 1; d >= 0 && r; d--) {
            off += (r % s->dims[d]) * s->strides[d];
            r /= s->dims[d];
        }
        char *dst = y + (size_t)(row * inner) * elem;
        const char *src = x + (size_t)off * elem;
        if (step == 1) {
            memcpy(dst, src, (size_t)inner * elem);
        } else if (elem == 4) {
            for (int64_t i = 0; i < inner; i++)
                ((uint32_t *)dst)[i] = ((const uint32_t *)src)[i * step];
        } else {
            for (int64_t i = 0; i < inner; i++)
                memcpy(dst + (size_t)i * elem, src + (size_t)(i * step) * elem, elem);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_Transpose = {transpose_check, transpose_reshape, transpose_run, 0};
