/* Reductions over a set of axes, shared by the Reduce* operators, ArgMax/ArgMin and the
 * normalizations: the axes are read and normalized once, the output shape derived, and the
 * input split into kept and reduced axes (adjacent axes of a kind merged) so that a kernel
 * walks, for each output element, the offsets of the elements it reduces. */
#ifndef ONYX_REDUCE_H
#define ONYX_REDUCE_H

#include "op.h"

typedef struct reduce_plan {
    int64_t out_count;  /* output elements */
    int64_t red_count;  /* input elements reduced into each */
    int kept_rank, red_rank;
    int64_t kept_dims[ONYX_MAX_RANK], kept_strides[ONYX_MAX_RANK];
    int64_t red_dims[ONYX_MAX_RANK], red_strides[ONYX_MAX_RANK];
    bool contiguous;    /* the reduced elements of each output are one contiguous run */
} reduce_plan;

/* Marks the reduced axes of x in mask[] from `axes` (count < 0 or 0: all axes, unless
 * noop_when_empty) and sets out's shape (reduced axes kept as 1 when keepdims). Errors for
 * out-of-range or repeated axes. */
onyx_status reduce_shape(const op_context *ctx, const onyx_tensor *x, const int64_t *axes, int64_t count,
                         bool keepdims, bool noop_when_empty, bool mask[ONYX_MAX_RANK], onyx_tensor *out);
void reduce_plan_init(reduce_plan *p, const onyx_tensor *x, const bool mask[ONYX_MAX_RANK]);
/* Input offset of the first element reduced into output element i. */
int64_t reduce_base(const reduce_plan *p, int64_t i);

/* Iterates `off` over the input offsets reduced into the output element whose first offset
 * is `base`, in row-major order of the reduced axes. */
#define REDUCE_FOR_EACH(p, base, off)                                                          \
    for (int64_t reduce_idx_[ONYX_MAX_RANK] = {0}, off = (base), reduce_n_ = 0;                \
         reduce_n_ < (p)->red_count;                                                           \
         reduce_n_++, off = reduce_step_((p), reduce_idx_, off))

static inline int64_t reduce_step_(const reduce_plan *p, int64_t *idx, int64_t off)
{
    for (int d = p->red_rank - 1; d >= 0; d--) {
        off += p->red_strides[d];
        if (++idx[d] < p->red_dims[d])
            return off;
        off -= p->red_strides[d] * p->red_dims[d];
        idx[d] = 0;
    }
    return off;
}

#endif
