/* RotaryEmbedding (opset 23): rotates pairs of each head's first rotary_embedding_dim
 * elements by the angle of the token's position, given as cos and sin caches:
 *     real = cos x1 - sin x2,  imag = sin x1 + cos x2
 * where the pairs (x1, x2) are the two halves of the rotated part, or its even and odd
 * elements when `interleaved`; the elements after it are copied. Input 0 is
 * [batch, heads, seq, head_size], or [batch, seq, heads * head_size] with `num_heads`.
 * The caches are [max_position + 1, rotary_dim / 2] indexed by position_ids [batch, seq], or
 * without position_ids [batch, seq, rotary_dim / 2] directly. float16 and bfloat16 are
 * computed in float and rounded once. Each task is one (token, head) vector.
 *
 * onyx.RotaryEmbedding, made by the rotary fusion pass from x * cos + rotate_half(x) * sin as
 * Hugging Face models write it (rotate_half(x) = concat(-x2, x1) of x's halves x1, x2): X
 * [batch, heads, seq, head_size], cos and sin [batch or 1, 1, seq, head_size], whole-width
 * tables whose two halves each multiply their own half of the result:
 *     y1 = cos1 x1 - sin1 x2,  y2 = cos2 x2 + sin2 x1
 * (Hugging Face's tables repeat one half, cos1 = cos2; the kernel does not rely on it). It
 * runs on RotaryEmbedding's kernel, which reads one half-width row for both halves. */
#include "dtype_io.h"

#include <string.h>

typedef struct rotary_params {
    bool interleaved;
    int64_t rotary_dim; /* 0: the whole head */
    int64_t num_heads;  /* 0: not given */
} rotary_params;

typedef struct rotary_state {
    bool rank3;
    int64_t batch, heads, seq, head_size, half; /* half: rotary_dim / 2 */
    int64_t positions;                          /* rows of the caches when indexed */
} rotary_state;

static onyx_status rotary_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 4, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 3, DT(FLOAT) | DT(FLOAT16) | DT(BFLOAT16));
    if (!st)
        st = op_check_input(ctx, 3, false, DT(INT64));
    rotary_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t interleaved;
    if ((st = op_attr_int(ctx, "interleaved", 0, &interleaved)) ||
        (st = op_attr_int(ctx, "rotary_embedding_dim", 0, &p->rotary_dim)) ||
        (st = op_attr_int(ctx, "num_heads", 0, &p->num_heads)))
        return st;
    if (p->rotary_dim < 0 || p->rotary_dim % 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "rotary_embedding_dim must be even and >= 0, got %lld",
                        (long long)p->rotary_dim);
    if (p->num_heads < 0)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "num_heads must be > 0, got %lld",
                        (long long)p->num_heads);
    p->interleaved = interleaved != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

/* An error unless cache dim `d` of input i is `want` (or may be). */
static onyx_status cache_dim(const op_context *ctx, int i, int d, int64_t want, const char *what)
{
    const onyx_tensor *t = op_input(ctx, i);
    if (dim_may_equal(t->dims[d], want))
        return ONYX_OK;
    char a[128];
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s: dim %d must be %s (%lld)",
                    op_input_name(ctx, i), shape_str(t, a, sizeof a), d, what, (long long)want);
}

static onyx_status rotary_reshape(op_context *ctx)
{
    const rotary_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *pos = op_input(ctx, 3);
    char a[128];
    if (x->rank != 3 && x->rank != 4)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must have rank 3 or 4",
                        op_input_name(ctx, 0), shape_str(x, a, sizeof a));
    bool rank3 = x->rank == 3;
    int64_t batch = x->dims[0], seq = x->dims[rank3 ? 1 : 2], heads, head_size;
    if (rank3) {
        if (!p->num_heads)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "num_heads is required for an input of rank 3");
        heads = p->num_heads;
        if (dim_known(x->dims[2]) && x->dims[2] % heads)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "hidden size %lld is not a multiple of num_heads %lld", (long long)x->dims[2],
                            (long long)heads);
        head_size = dim_known(x->dims[2]) ? x->dims[2] / heads : DIM_UNKNOWN;
    } else {
        heads = x->dims[1];
        head_size = x->dims[3];
    }
    int64_t rotary_dim = p->rotary_dim ? p->rotary_dim : head_size;
    if (dim_known(head_size) && (rotary_dim > head_size || rotary_dim % 2))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "the rotated part (%lld) must be even and at most the head size (%lld)",
                        (long long)rotary_dim, (long long)head_size);
    int64_t half = dim_known(rotary_dim) ? rotary_dim / 2 : DIM_UNKNOWN;
    onyx_status st;
    for (int i = 1; i < 3; i++) {
        const onyx_tensor *c = op_input(ctx, i);
        if (c->rank != (pos ? 2 : 3))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must have rank %d %s",
                            op_input_name(ctx, i), shape_str(c, a, sizeof a), pos ? 2 : 3,
                            pos ? "with position_ids" : "without position_ids");
        if ((st = cache_dim(ctx, i, c->rank - 1, half, "half the rotated part")))
            return st;
        if (!pos && ((st = cache_dim(ctx, i, 0, batch, "the batch size")) ||
                     (st = cache_dim(ctx, i, 1, seq, "the sequence length"))))
            return st;
        if (pos && (st = cache_dim(ctx, i, 0, op_input(ctx, 1)->dims[0], "the cos cache's")))
            return st;
    }
    if (pos && (pos->rank != 2 || !dim_may_equal(pos->dims[0], batch) || !dim_may_equal(pos->dims[1], seq)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "position_ids %s must be [batch, sequence length]",
                        shape_str(pos, a, sizeof a));
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    rotary_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *s = (rotary_state){rank3, batch, heads, seq, head_size, half, pos ? op_input(ctx, 1)->dims[0] : 0};
    ctx->state = s;
    ctx->n_tasks = head_size ? batch * heads * seq : 0;
    ctx->task_cost = head_size * 4;
    return ONYX_OK;
}

/* One head vector: pair i is (i, i + half) or (2i, 2i + 1) when interleaved; the first element
 * of a pair turns by cos1[i], sin1[i], the second by cos2[i], sin2[i] (the same row for ONNX's
 * half-width caches). */
#define ROTARY_KERNEL(D, T, V, LOAD, STORE)                                                    \
    static void rotary_##D(bool interleaved, int64_t head_size, const T *x, const T *cos1, const T *sin1, \
                           const T *cos2, const T *sin2, T *y, int64_t half)                   \
    {                                                                                          \
        int64_t step = interleaved ? 2 : 1, gap = interleaved ? 1 : half;                      \
        for (int64_t i = 0; i < half; i++) {                                                   \
            V x1 = LOAD(x[i * step]), x2 = LOAD(x[i * step + gap]);                            \
            y[i * step] = STORE(LOAD(cos1[i]) * x1 - LOAD(sin1[i]) * x2);                      \
            y[i * step + gap] = STORE(LOAD(sin2[i]) * x1 + LOAD(cos2[i]) * x2);                \
        }                                                                                      \
        memcpy(y + 2 * half, x + 2 * half, (size_t)(head_size - 2 * half) * sizeof(T));      \
    }
ROTARY_KERNEL(FLOAT, float, float, DTYPE_IO_SAME, DTYPE_IO_SAME)
ROTARY_KERNEL(FLOAT16, uint16_t, float, half_to_float, float_to_half)
ROTARY_KERNEL(BFLOAT16, uint16_t, float, bfloat16_to_float, float_to_bfloat16)

static onyx_status rotary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const rotary_params *p = ctx->params;
    const rotary_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[0], *pos = op_input(ctx, 3);
    size_t elem = onyx_dtype_size(x->dtype);
    for (int64_t r = begin; r < end; r++) {
        /* r counts head vectors in memory order: (b, h, t) for rank 4, (b, t, h) for rank 3. */
        int64_t b, t;
        if (s->rank3)
            b = r / (s->seq * s->heads), t = r / s->heads % s->seq;
        else
            b = r / (s->heads * s->seq), t = r % s->seq;
        int64_t token = b * s->seq + t, row = token;
        if (pos) {
            row = ((const int64_t *)pos->data)[token];
            if (row < 0 || row >= s->positions)
                return op_error(ctx, ONYX_ERROR_RUNTIME, "position id %lld is outside the caches' [0, %lld)",
                                (long long)row, (long long)s->positions);
        }
        const char *xr = (const char *)x->data + (size_t)(r * s->head_size) * elem;
        char *yr = (char *)ctx->outputs[0]->data + (size_t)(r * s->head_size) * elem;
        const char *c = (const char *)ctx->inputs[1]->data + (size_t)(row * s->half) * elem;
        const char *sn = (const char *)ctx->inputs[2]->data + (size_t)(row * s->half) * elem;
        if (x->dtype == ONYX_DTYPE_FLOAT)
            rotary_FLOAT(p->interleaved, s->head_size, (const float *)xr, (const float *)c, (const float *)sn,
                         (const float *)c, (const float *)sn, (float *)yr, s->half);
        else if (x->dtype == ONYX_DTYPE_FLOAT16)
            rotary_FLOAT16(p->interleaved, s->head_size, (const uint16_t *)xr, (const uint16_t *)c,
                           (const uint16_t *)sn, (const uint16_t *)c, (const uint16_t *)sn, (uint16_t *)yr,
                           s->half);
        else
            rotary_BFLOAT16(p->interleaved, s->head_size, (const uint16_t *)xr, (const uint16_t *)c,
                            (const uint16_t *)sn, (const uint16_t *)c, (const uint16_t *)sn, (uint16_t *)yr,
                            s->half);
    }
    return ONYX_OK;
}

const op_descriptor op_RotaryEmbedding = {rotary_check, rotary_reshape, rotary_run, 0};

/* ---- onyx.RotaryEmbedding (whole-width tables, see the top) -------------------------------- */

typedef struct onyx_rotary_state {
    int64_t heads, seq, head_size;
    bool shared; /* the tables' batch dim is 1 */
} onyx_rotary_state;

static onyx_status onyx_rotary_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 3, DT(FLOAT));
    if (st)
        return st;
    op_set_output_dtypes(ctx, ONYX_DTYPE_FLOAT);
    return ONYX_OK;
}

static onyx_status onyx_rotary_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    char a[128], b[128];
    if (x->rank != 4 || (dim_known(x->dims[3]) && x->dims[3] % 2))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X %s must be [batch, heads, seq, even head size]",
                        shape_str(x, a, sizeof a));
    const onyx_tensor *t[2] = {op_input(ctx, 1), op_input(ctx, 2)};
    for (int i = 0; i < 2; i++)
        if (t[i]->rank != 4 || t[i]->dims[1] != 1 || !dim_may_equal(t[i]->dims[2], x->dims[2]) ||
            !dim_may_equal(t[i]->dims[3], x->dims[3]) ||
            (t[i]->dims[0] != 1 && !dim_may_equal(t[i]->dims[0], x->dims[0])) ||
            !dim_may_equal(t[i]->dims[0], t[0]->dims[0]))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "cos and sin %s must be [batch or 1, 1, seq, head size] for X %s",
                            shape_str(t[i], a, sizeof a), shape_str(x, b, sizeof b));
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    onyx_rotary_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *s = (onyx_rotary_state){x->dims[1], x->dims[2], x->dims[3], t[0]->dims[0] == 1};
    ctx->state = s;
    ctx->n_tasks = s->head_size ? x->dims[0] * s->heads * s->seq : 0;
    ctx->task_cost = s->head_size * 4;
    return ONYX_OK;
}

static onyx_status onyx_rotary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const onyx_rotary_state *s = ctx->state;
    const float *x = ctx->inputs[0]->data, *cos = ctx->inputs[1]->data, *sin = ctx->inputs[2]->data;
    float *y = ctx->outputs[0]->data;
    int64_t d = s->head_size, half = d / 2;
    for (int64_t r = begin; r < end; r++) {
        int64_t b = r / (s->heads * s->seq), t = r % s->seq;
        int64_t row = ((s->shared ? 0 : b) * s->seq + t) * d;
        rotary_FLOAT(false, d, x + r * d, cos + row, sin + row, cos + row + half, sin + row + half, y + r * d,
                     half);
    }
    return ONYX_OK;
}

const op_descriptor op_OnyxRotaryEmbedding = {onyx_rotary_check, onyx_rotary_reshape, onyx_rotary_run, 0};
