/* onyx.Attention: softmax(scale(Q K) + mask) V in one operator, made by the attention fusion
 * pass from the MatMul -> scale -> mask -> Softmax -> MatMul chains PyTorch exports. Each task
 * is a block of query rows of one batch entry (one head): its scores stay in scratch memory
 * instead of going through memory twice as [batch, Sq, Sk] tensors.
 *
 * Inputs: 0 Q [..., Sq, D]; 1 K [..., D, Sk] (as MatMul's right operand); 2 V [..., Sk, Dv];
 * 3 scale (optional scalar: scores are multiplied, or divided when `scale_divides`);
 * 4 additive mask (optional, broadcast onto [..., Sq, Sk]); 5 boolean mask (optional, same
 * broadcast: where it equals `fill_when`, the score becomes `fill`, as ONNX's Where).
 * Batch dims of Q, K and V broadcast. Output: [..., Sq, Dv]. */
#include "broadcast.h"
#include "count.h"
#include "gemm.h"

#include <math.h>
#include <string.h>

#define ROW_BLOCK 32

typedef struct attention_params {
    bool scale_divides;
    float fill;
    bool fill_when;
} attention_params;

/* Where an input's element lies for (batch index, row, column) of the scores: strides on the
 * broadcast batch dims and on rows and columns (0 where the input repeats). */
typedef struct operand_layout {
    int64_t batch_strides[ONYX_MAX_RANK];
    int64_t row_stride, col_stride;
} operand_layout;

typedef struct attention_state {
    int batch_rank;
    int64_t batch_dims[ONYX_MAX_RANK];
    int64_t batches, sq, sk, d, dv, row_blocks;
    operand_layout q, k, v, add, cond;
    const gemm_kernel *kernel;
} attention_state;

static onyx_status attention_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 6, 1, 1);
    for (int i = 0; i < 5 && !st; i++)
        st = op_check_input(ctx, i, i < 3, DT(FLOAT));
    if (!st)
        st = op_check_input(ctx, 5, false, DT(BOOL));
    attention_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t divides, when;
    if ((st = op_attr_int(ctx, "scale_divides", 0, &divides)) || (st = op_attr_float(ctx, "fill", -INFINITY, &p->fill)) ||
        (st = op_attr_int(ctx, "fill_when", 1, &when)))
        return st;
    p->scale_divides = divides != 0;
    p->fill_when = when != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, ONYX_DTYPE_FLOAT);
    return ONYX_OK;
}

/* t's shape without its last two dims. */
static onyx_tensor batch_part(const onyx_tensor *t)
{
    onyx_tensor b = {.dtype = t->dtype, .rank = t->rank - 2};
    memcpy(b.dims, t->dims, (size_t)b.rank * sizeof(int64_t));
    return b;
}

/* Strides of t (row-major) aligned to the scores' shape [batch dims..., rows, cols]. */
static void layout_of(const onyx_tensor *t, int batch_rank, operand_layout *l)
{
    memset(l, 0, sizeof *l);
    int rank = batch_rank + 2;
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        int at = d - (rank - t->rank);
        int64_t size = at >= 0 ? t->dims[at] : 1, s = size == 1 ? 0 : stride;
        if (d == rank - 1)
            l->col_stride = s;
        else if (d == rank - 2)
            l->row_stride = s;
        else
            l->batch_strides[d] = s;
        stride *= size;
    }
}

static int64_t batch_offset(const attention_state *s, const operand_layout *l, int64_t b)
{
    int64_t off = 0;
    for (int d = s->batch_rank - 1; d >= 0 && b; d--) {
        off += (b % s->batch_dims[d]) * l->batch_strides[d];
        b /= s->batch_dims[d];
    }
    return off;
}

static onyx_status attention_reshape(op_context *ctx)
{
    const onyx_tensor *q = op_input(ctx, 0), *k = op_input(ctx, 1), *v = op_input(ctx, 2);
    const onyx_tensor *scale = op_input(ctx, 3), *add = op_input(ctx, 4), *cond = op_input(ctx, 5);
    onyx_tensor *y = op_output(ctx, 0);
    char a[128], b[128], c[128];
    if (q->rank < 2 || k->rank < 2 || v->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "Q, K and V need rank >= 2");
    int64_t sq = q->dims[q->rank - 2], d = q->dims[q->rank - 1], sk = k->dims[k->rank - 1];
    int64_t dv = v->dims[v->rank - 1];
    if (!dim_may_equal(d, k->dims[k->rank - 2]) || !dim_may_equal(sk, v->dims[v->rank - 2]))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "Q %s, K %s and V %s do not chain", shape_str(q, a, sizeof a),
                        shape_str(k, b, sizeof b), shape_str(v, c, sizeof c));
    onyx_tensor qb = batch_part(q), kb = batch_part(k), vb = batch_part(v);
    const onyx_tensor *batches[3] = {&qb, &kb, &vb};
    onyx_status st = broadcast_shape(ctx, 3, batches, y);
    if (st)
        return st;
    int batch_rank = y->rank;
    onyx_tensor scores = *y;
    scores.dims[scores.rank++] = sq;
    scores.dims[scores.rank++] = sk;
    for (int i = 4; i < 6; i++) {
        const onyx_tensor *m = op_input(ctx, i), *pair[2] = {&scores, m};
        onyx_tensor joined;
        if (m && ((st = broadcast_shape(ctx, 2, pair, &joined)) || joined.rank != scores.rank))
            return st ? st : op_error(ctx, ONYX_ERROR_INVALID_MODEL, "a mask has more dims than the scores");
    }
    y->dims[y->rank++] = sq;
    y->dims[y->rank++] = dv;
    if (!ctx->concrete)
        return ONYX_OK;
    /* The output's shape, checked, bounds the task count and sizes below; an empty one needs
     * no tasks (nor scratch for scores nothing would read). */
    if ((st = check_output_shape(ctx, y)))
        return st;
    if (tensor_count(y) == 0) {
        ctx->n_tasks = 0;
        return ONYX_OK;
    }
    if (scale && tensor_count(scale) != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scale must hold one element");
    attention_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->batch_rank = batch_rank;
    memcpy(s->batch_dims, y->dims, (size_t)batch_rank * sizeof(int64_t));
    s->batches = shape_count(y->dims, batch_rank);
    s->sq = sq, s->sk = sk, s->d = d, s->dv = dv;
    /* Q, K and V are read as whole matrices: their row and column strides are the plain ones. */
    layout_of(q, batch_rank, &s->q);
    layout_of(k, batch_rank, &s->k);
    layout_of(v, batch_rank, &s->v);
    if (add)
        layout_of(add, batch_rank, &s->add);
    if (cond)
        layout_of(cond, batch_rank, &s->cond);
    s->row_blocks = ceil_div(sq, ROW_BLOCK);
    s->kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    ctx->state = s;
    ctx->n_tasks = s->batches * s->row_blocks;
    ctx->task_cost = OP_MIN(sq, ROW_BLOCK) * sk * (d + dv) * 2;
    ctx->scratch_bytes = (size_t)(ROW_BLOCK * sk) * sizeof(float);
    return ONYX_OK;
}

/* Scale and masks of one row of scores, in place. */
static void scale_and_mask(const attention_params *p, float *row, int64_t n, float scale, const float *add,
                           int64_t add_step, const uint8_t *cond, int64_t cond_step)
{
    if (p->scale_divides)
        for (int64_t j = 0; j < n; j++)
            row[j] /= scale;
    else
        for (int64_t j = 0; j < n; j++)
            row[j] *= scale;
    if (add)
        for (int64_t j = 0; j < n; j++)
            row[j] += add[j * add_step];
    if (cond)
        for (int64_t j = 0; j < n; j++)
            if ((cond[j * cond_step] != 0) == p->fill_when)
                row[j] = p->fill;
}

/* Each row of scores becomes exp(score - max) and its output row, the product with V, is
 * divided by the row's sum afterwards: dv divisions instead of sk. Without masks a positive
 * scale goes into the exp as a factor (a divisor as its reciprocal), instead of a pass of its
 * own over the scores. */
static onyx_status attention_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const attention_params *p = ctx->params;
    const attention_state *s = ctx->state;
    const float *q = ctx->inputs[0]->data, *k = ctx->inputs[1]->data, *v = ctx->inputs[2]->data;
    const onyx_tensor *scale_t = op_input(ctx, 3), *add_t = op_input(ctx, 4), *cond_t = op_input(ctx, 5);
    float scale = scale_t ? *(const float *)scale_t->data : 1.0f;
    float factor = p->scale_divides ? 1.0f / scale : scale;
    bool folded = !add_t && !cond_t && factor > 0 && isfinite(factor);
    float *y = ctx->outputs[0]->data, *scores = scratch, inverse_sums[ROW_BLOCK];
    for (int64_t t = begin; t < end; t++) {
        int64_t b = t / s->row_blocks, i0 = (t % s->row_blocks) * ROW_BLOCK, rows = OP_MIN(ROW_BLOCK, s->sq - i0);
        const float *qb = q + batch_offset(s, &s->q, b) + i0 * s->d;
        const float *kb = k + batch_offset(s, &s->k, b), *vb = v + batch_offset(s, &s->v, b);
        gemm_f32(false, false, rows, s->sk, s->d, 1.0f, qb, s->d, kb, s->sk, 0.0f, scores, s->sk);
        for (int64_t i = 0; i < rows; i++) {
            float *row = scores + i * s->sk;
            if (!folded) {
                const float *add = add_t ? (const float *)add_t->data + batch_offset(s, &s->add, b) +
                                               (i0 + i) * s->add.row_stride : NULL;
                const uint8_t *cond = cond_t ? (const uint8_t *)cond_t->data + batch_offset(s, &s->cond, b) +
                                                   (i0 + i) * s->cond.row_stride : NULL;
                scale_and_mask(p, row, s->sk, scale, add, s->add.col_stride, cond, s->cond.col_stride);
            }
            /* No keys: the product with V is an empty sum (zeros), to be left as it is. */
            inverse_sums[i] = s->sk ? 1.0f / gemm_exp_row(s->kernel, row, s->sk, folded ? factor : 1.0f) : 1.0f;
        }
        float *yb = y + (b * s->sq + i0) * s->dv;
        gemm_f32(false, false, rows, s->dv, s->sk, 1.0f, scores, s->sk, vb, s->dv, 0.0f, yb, s->dv);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < s->dv; j++)
                yb[i * s->dv + j] *= inverse_sums[i];
    }
    return ONYX_OK;
}

const op_descriptor op_Attention = {attention_check, attention_reshape, attention_run, 0};
