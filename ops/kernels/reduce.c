#include "reduce.h"

#include <string.h>

onyx_status reduce_shape(const op_context *ctx, const onyx_tensor *x, const int64_t *axes, int64_t count,
                         bool keepdims, bool noop_when_empty, bool mask[ONYX_MAX_RANK], onyx_tensor *out)
{
    memset(mask, 0, ONYX_MAX_RANK * sizeof(bool));
    if (count <= 0) {
        for (int i = 0; i < x->rank && !noop_when_empty; i++)
            mask[i] = true;
    } else {
        for (int64_t i = 0; i < count; i++) {
            int axis;
            onyx_status st = op_axis(ctx, "reduction axis", axes[i], x->rank, &axis);
            if (st)
                return st;
            if (mask[axis])
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "reduction axis %d is repeated", axis);
            mask[axis] = true;
        }
    }
    int rank = 0;
    int64_t dims[ONYX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        if (!mask[i])
            dims[rank++] = x->dims[i];
        else if (keepdims)
            dims[rank++] = 1;
    }
    tensor_set_shape(out, rank, dims);
    return ONYX_OK;
}

void reduce_plan_init(reduce_plan *p, const onyx_tensor *x, const bool mask[ONYX_MAX_RANK])
{
    memset(p, 0, sizeof *p);
    int64_t strides[ONYX_MAX_RANK], s = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= x->dims[i];
    }
    p->out_count = p->red_count = 1;
    int last_kind = -1; /* 0 kept, 1 reduced: merge an axis into the previous one of its kind */
    for (int i = 0; i < x->rank; i++) {
        int64_t d = x->dims[i];
        if (d == 1)
            continue; /* contributes nothing to either side */
        int kind = mask[i] ? 1 : 0;
        int64_t *dims = kind ? p->red_dims : p->kept_dims, *str = kind ? p->red_strides : p->kept_strides;
        int *rank = kind ? &p->red_rank : &p->kept_rank;
        if (last_kind == kind && str[*rank - 1] == strides[i] * d) {
            dims[*rank - 1] *= d;
            str[*rank - 1] = strides[i];
        } else {
            dims[*rank] = d;
            str[*rank] = strides[i];
            (*rank)++;
        }
        last_kind = kind;
        if (kind)
            p->red_count *= d;
        else
            p->out_count *= d;
    }
    p->contiguous = p->red_rank == 0 || (p->red_rank == 1 && p->red_strides[0] == 1);
}

int64_t reduce_base(const reduce_plan *p, int64_t i)
{
    int64_t off = 0;
    for (int d = p->kept_rank - 1; d >= 0 && i; d--) {
        off += (i % p->kept_dims[d]) * p->kept_strides[d];
        i /= p->kept_dims[d];
    }
    return off;
}
