/* Transpose: permutes axes (default: reversed). A strided copy whose axes that stay
 * neighbours are merged, so a head split such as [B,S,H,D] -> [B,H,S,D] copies D-element runs. */
#include "checks.h"
#include "op.h"
#include "strided_copy.h"

typedef struct transpose_params {
    const int64_t *perm; /* NULL: reverse */
    int64_t n_perm;
} transpose_params;

static onyx_status transpose_check(op_context *ctx)
{
    onyx_status st = check_one_input(ctx, DT_ALL, ONYX_DTYPE_UNDEFINED);
    transpose_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_ints(ctx, "perm", &p->perm, &p->n_perm)))
        return st;
    ctx->params = p;
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
    int64_t in_strides[ONYX_MAX_RANK], strides[ONYX_MAX_RANK];
    strides_of(x, in_strides);
    for (int i = 0; i < rank; i++)
        strides[i] = in_strides[perm[i]];
    return strided_copy_plan(ctx, rank, y->dims, strides, 0);
}

const op_descriptor op_Transpose = {transpose_check, transpose_reshape, strided_copy_run, 0};
