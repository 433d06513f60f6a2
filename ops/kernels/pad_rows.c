/* Padding (and cropping) copies, row by row (see pad_rows.h). */
#include "pad_rows.h"

#include "strided_copy.h"

#include <string.h>

onyx_status pad_rows_plan(op_context *ctx, pad_mode mode, const onyx_tensor *x, const onyx_tensor *y,
                          const int64_t *pads)
{
    pad_rows *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int rank = x->rank;
    s->mode = mode;
    /* A scalar is padded as a vector of one element (by nothing: it has no pads). */
    s->rank = rank ? rank : 1;
    s->kept[0] = s->out_dims[0] = s->in_strides[0] = 1;
    for (int i = 0; i < rank; i++) {
        s->begin[i] = OP_MAX(pads[i], 0);
        s->kept_first[i] = OP_MAX(-pads[i], 0);
        /* What the crops leave; y's dims >= 0 bound the pads, so this cannot overflow. */
        s->kept[i] = OP_MAX(x->dims[i] - OP_MAX(-pads[i], 0) - OP_MAX(-pads[i + rank], 0), 0);
    }
    memcpy(s->out_dims, y->dims, (size_t)rank * sizeof *y->dims);
    strides_of(x, s->in_strides);
    s->elem = onyx_dtype_size(x->dtype);
    int64_t inner = s->out_dims[s->rank - 1];
    s->rows = inner ? tensor_count(y) / inner : 0;
    ctx->state = s;
    ctx->n_tasks = s->rows;
    ctx->task_cost = inner;
    return ONYX_OK;
}

/* The input index that output index o of axis d takes its value from; -1 for the constant. */
static int64_t pad_source(const pad_rows *s, int d, int64_t o)
{
    int64_t i = o - s->begin[d], n = s->kept[d], first = s->kept_first[d];
    if (i >= 0 && i < n)
        return first + i;
    if (s->mode == PAD_CONSTANT)
        return -1;
    if (s->mode == PAD_EDGE || n == 1)
        return first + (i < 0 ? 0 : n - 1);
    /* Wrap: the index taken modulo the kept length. Reflect: folded into one period of the
     * mirrored sequence 0..n-1..1. */
    int64_t period = s->mode == PAD_WRAP ? n : 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return first + (i < n ? i : period - i);
}

void pad_rows_run(const pad_rows *s, const void *x_, void *y, const void *fill, int64_t begin, int64_t end)
{
    const char *x = x_;
    size_t elem = s->elem;
    int last = s->rank - 1;
    int64_t inner = s->out_dims[last], pad = s->begin[last], kept_first = s->kept_first[last];
    for (int64_t row = begin; row < end; row++) {
        char *dst = (char *)y + (size_t)(row * inner) * elem;
        /* The input row this row reads: none when one of its outer indices is in a constant pad. */
        int64_t offset = 0, rest = row;
        bool constant_row = false;
        for (int d = last - 1; d >= 0; d--) {
            int64_t i = pad_source(s, d, rest % s->out_dims[d]);
            rest /= s->out_dims[d];
            constant_row |= i < 0;
            offset += i * s->in_strides[d];
        }
        /* Output [first, stop) is one run of the input, copied at once; the rest one by one. */
        int64_t first = constant_row ? 0 : OP_MIN(pad, inner);
        int64_t stop = constant_row ? 0 : OP_MIN(inner, pad + s->kept[last]);
        if (stop > first)
            memcpy(dst + (size_t)first * elem, x + (size_t)(offset + kept_first) * elem,
                   (size_t)(stop - first) * elem);
        for (int64_t o = 0; o < inner; o++) {
            if (o == first && stop > first) {
                o = stop - 1; /* copied above */
                continue;
            }
            int64_t i = constant_row ? -1 : pad_source(s, last, o);
            memcpy(dst + (size_t)o * elem, i < 0 ? fill : x + (size_t)(offset + i) * elem, elem);
        }
    }
}
