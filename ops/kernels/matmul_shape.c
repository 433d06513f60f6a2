#include "matmul_shape.h"

#include "broadcast.h"

#include <string.h>

/* t's dims but the last two (none for rank <= 2). */
static onyx_tensor batch_of(const onyx_tensor *t)
{
    onyx_tensor b = {.dtype = t->dtype, .rank = t->rank > 2 ? t->rank - 2 : 0};
    memcpy(b.dims, t->dims, (size_t)b.rank * sizeof b.dims[0]);
    return b;
}

onyx_status matmul_shape(const op_context *ctx, int a_index, int b_index, matmul_dims *d, onyx_tensor *y)
{
    const onyx_tensor *a = op_input(ctx, a_index), *b = op_input(ctx, b_index);
    char sa[128], sb[128];
    if (a->rank < 1 || b->rank < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "inputs must have rank >= 1, got %s and %s",
                        shape_str(a, sa, sizeof sa), shape_str(b, sb, sizeof sb));
    d->m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
    d->k = a->dims[a->rank - 1];
    d->n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    int64_t kb = b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0];
    if (!dim_may_equal(d->k, kb))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "inner dims differ: '%s' %s has %lld columns, '%s' %s has %lld rows",
                        op_input_name(ctx, a_index), shape_str(a, sa, sizeof sa), (long long)d->k,
                        op_input_name(ctx, b_index), shape_str(b, sb, sizeof sb), (long long)kb);
    d->batch_a = batch_of(a);
    d->batch_b = batch_of(b);
    const onyx_tensor *batches[2] = {&d->batch_a, &d->batch_b};
    onyx_status st = broadcast_shape(ctx, 2, batches, &d->batch);
    if (st)
        return st;
    y->rank = d->batch.rank;
    memcpy(y->dims, d->batch.dims, (size_t)d->batch.rank * sizeof y->dims[0]);
    if (a->rank >= 2)
        y->dims[y->rank++] = d->m;
    if (b->rank >= 2)
        y->dims[y->rank++] = d->n;
    return ONYX_OK;
}
