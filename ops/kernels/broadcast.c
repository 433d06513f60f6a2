#include "broadcast.h"

#include "count.h"

#include <string.h>

/* The broadcast of two dims: DIM_UNKNOWN for two different symbols; *bad set when two known
 * dims clash. */
static int64_t combine(int64_t a, int64_t b, bool *bad)
{
    if (a == b || b == 1)
        return a;
    if (a == 1)
        return b;
    if (dim_known(a) && dim_known(b)) {
        *bad = true;
        return a;
    }
    if (dim_known(a))
        return a; /* b is symbolic: valid only if it is 1 or a */
    if (dim_known(b))
        return b;
    return DIM_UNKNOWN;
}

onyx_status broadcast_shape(const op_context *ctx, int n, const onyx_tensor *const *inputs, onyx_tensor *out)
{
    int rank = 0;
    for (int k = 0; k < n; k++)
        if (inputs[k] && inputs[k]->rank > rank)
            rank = inputs[k]->rank;
    int64_t dims[ONYX_MAX_RANK];
    for (int i = 0; i < rank; i++)
        dims[i] = 1;
    for (int k = 0; k < n; k++) {
        const onyx_tensor *t = inputs[k];
        if (!t)
            continue;
        for (int i = 0; i < t->rank; i++) {
            int at = rank - t->rank + i;
            bool bad = false;
            int64_t d = combine(dims[at], t->dims[i], &bad);
            if (bad) {
                char a[128], b[128];
                /* Name the first input that clashes with this one. */
                int other = 0;
                for (int j = 0; j < k; j++)
                    if (inputs[j] && inputs[j]->rank >= rank - at && inputs[j]->dims[inputs[j]->rank - (rank - at)] == dims[at])
                        other = j;
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                "inputs '%s' %s and '%s' %s cannot be broadcast together (axis %d: %lld vs %lld)",
                                op_input_name(ctx, other), shape_str(inputs[other], a, sizeof a),
                                op_input_name(ctx, k), shape_str(t, b, sizeof b), at,
                                (long long)dims[at], (long long)t->dims[i]);
            }
            dims[at] = d;
        }
    }
    tensor_set_shape(out, rank, dims);
    /* Each input's shape is bounded, but a broadcast of several may be as large as their
     * product: held to the same bounds before an operator counts it out. */
    return ctx->concrete ? op_check_shape(ctx, rank, dims, "the broadcast shape") : ONYX_OK;
}

void broadcast_init(broadcast *b, int n, const onyx_tensor *const *inputs, const onyx_tensor *out)
{
    memset(b, 0, sizeof *b);
    b->n_inputs = n;
    int rank = 0;
    int64_t dims[ONYX_MAX_RANK], strides[BROADCAST_MAX_INPUTS][ONYX_MAX_RANK];
    /* Each input's element stride on each output axis (0 where it is repeated), then only
     * the output axes of size != 1. */
    int64_t tmp[BROADCAST_MAX_INPUTS][ONYX_MAX_RANK];
    for (int k = 0; k < n; k++) {
        const onyx_tensor *t = inputs[k];
        int64_t s = 1;
        for (int i = out->rank - 1; i >= 0; i--) {
            int at = i - (out->rank - t->rank);
            int64_t d = at >= 0 ? t->dims[at] : 1;
            tmp[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    for (int i = 0; i < out->rank; i++) {
        if (out->dims[i] == 1)
            continue;
        dims[rank] = out->dims[i];
        for (int k = 0; k < n; k++)
            strides[k][rank] = tmp[k][i];
        rank++;
    }
    if (rank == 0) {
        dims[0] = 1;
        for (int k = 0; k < n; k++)
            strides[k][0] = 0;
        rank = 1;
    }
    /* Merge axis i into i + 1 when every input walks them as one. */
    int r = 0;
    b->dims[0] = dims[0];
    for (int k = 0; k < n; k++)
        b->strides[k][0] = strides[k][0];
    for (int i = 1; i < rank; i++) {
        bool merge = true;
        for (int k = 0; k < n && merge; k++)
            merge = b->strides[k][r] == strides[k][i] * dims[i];
        if (merge) {
            b->dims[r] *= dims[i];
            for (int k = 0; k < n; k++)
                b->strides[k][r] = strides[k][i];
        } else {
            r++;
            b->dims[r] = dims[i];
            for (int k = 0; k < n; k++)
                b->strides[k][r] = strides[k][i];
        }
    }
    b->rank = r + 1;
    b->inner = b->dims[r];
    for (int k = 0; k < n; k++)
        b->step[k] = b->strides[k][r];
    int64_t count = shape_count(out->dims, out->rank);
    b->rows = b->inner ? count / b->inner : 0;
}

void broadcast_row(const broadcast *b, int64_t row, int64_t *offsets)
{
    for (int k = 0; k < b->n_inputs; k++)
        offsets[k] = 0;
    for (int i = b->rank - 2; i >= 0 && row; i--) {
        int64_t idx = row % b->dims[i];
        row /= b->dims[i];
        for (int k = 0; k < b->n_inputs; k++)
            offsets[k] += idx * b->strides[k][i];
    }
}

int64_t broadcast_tasks(op_context *ctx, const broadcast *b, int64_t chunk)
{
    int64_t pieces = b->inner > chunk ? ceil_div(b->inner, chunk) : 1;
    ctx->n_tasks = b->rows * pieces;
    ctx->task_cost = b->inner / pieces + 1;
    return pieces;
}
