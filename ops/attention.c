/* Attention, softmax(scale(Q K) + mask) V in one kernel, for two operators:
 *
 * onyx.Attention, made by the attention fusion pass from the MatMul -> scale -> mask ->
 * Softmax -> MatMul chains PyTorch exports. Inputs: 0 Q [..., Sq, D]; 1 K [..., D, Sk] (as
 * MatMul's right operand); 2 V [..., Sk, Dv]; 3 scale (optional scalar: scores are
 * multiplied, or divided when `scale_divides`); 4 additive mask (optional, broadcast onto
 * [..., Sq, Sk]); 5 boolean mask (optional, same broadcast: where it equals `fill_when`, the
 * score becomes `fill`, as ONNX's Where). Batch dims of Q, K and V broadcast. Output
 * [..., Sq, Dv]. With `keys_as_rows` K is [..., Sk, D] instead (the pass drops the Transpose
 * before the first MatMul). With `kv_heads_shared` (grouped-query attention: the pass drops
 * the repeat_kv Unsqueeze/Expand/Reshape of K and V) the head dim of K and V (the last batch
 * dim, rank >= 3) holds Hkv heads where Q's holds Hq, Hq a multiple of Hkv: query head h reads
 * key/value head h / (Hq / Hkv), as in ai.onnx Attention, and nothing is copied. With
 * `nan_to_zero` a row of probabilities holding NaN (all of it then: a row masked throughout
 * with -inf, or NaN scores) is zeros, as the Where(IsNaN(p), 0, p) PyTorch's exporters write
 * after the softmax of scaled_dot_product_attention with a mask. `seq_first` (bits 1 Q, 2 K,
 * 4 V, 8 Y) marks rank-4 operands that lie as [B, S, H, D] (the head split before the
 * Transpose to [B, H, S, D], which the pass drops): read, or Y written, through strides; K only
 * with keys_as_rows.
 *
 * ai.onnx Attention (opsets 23, 24, 25): Q [B, Hq, Sq, D], K [B, Hkv, Skv, D], V [B, Hkv,
 * Skv, Dv], or the rank-3 [B, S, heads * size] forms with q_num_heads / kv_num_heads; each
 * group of Hq / Hkv query heads shares one key/value head. past_key / past_value [B, Hkv, P,
 * ...] come before K and V along the keys (present_key / present_value are the
 * concatenations); scores are scale * Q K^T (scale defaults to 1/sqrt(D)), soft-capped as
 * softcap * tanh(s / softcap), plus a bias: attn_mask (bool: false is -inf; float: added;
 * broadcast onto [B, Hq, Sq, T] and -inf beyond its last dim when shorter than the T keys),
 * the causal rule (query i sees key j <= i + offset, offset = P, or nonpad_kv_seqlen[b] - Sq
 * for an external cache), the window of opset 25 and the padding keys j >= nonpad_kv_seqlen[b]
 * as -inf. A row whose bias is -inf throughout gives zeros, not NaN. qk_matmul_output is
 * the scaled product (mode 0, as the spec says: ONNX's reference gives it soft-capped), after
 * softcap (1), after the bias (2) or the probabilities (3).
 * float32 runs the softmax in float (at least the precision softmax_precision asks) or in
 * double when it asks for double. float16 and bfloat16 are converted to float per task, and
 * rounded back where ONNX's reference rounds (its numpy arrays hold the input's type at each
 * step, and results one or two bfloat16 steps apart fail a tolerance of 1e-3): Q and K each
 * times the rounded square root of the scale, their product, the softcap's quotient, tanh and
 * product, the biased scores; the softmax in softmax_precision when given, else in the
 * input's type (x - max, exp and quotient rounded; the sum in float for float16, rounded at
 * each addition for bfloat16, as numpy and ml_dtypes reduce); probabilities and Y rounded to
 * the input's type.
 *
 * Each task is a block of query rows of one batch entry (one head): its scores stay in
 * scratch memory instead of going through memory twice as [batch, Sq, Sk] tensors. For
 * ai.onnx the batch dims are [B, Hkv, group], K and V repeating along the group, and each
 * thread gathers a key/value head's keys once as [D, T] for the tasks it runs of that head. */
#include "broadcast.h"
#include "conv_kernels.h"
#include "count.h"
#include "dtype_io.h"
#include "gemm.h"

#include <math.h>
#include <string.h>

#define ROW_BLOCK 32
/* ai.onnx: the query rows that share a key/value head (group x Sq) from which a thread copies
 * its keys as [D, T] for onyx's GEMM; for fewer (decoding a token) each block multiplies by
 * K as it lies, transposed (OpenBLAS), instead of copying it for a product hardly larger. */
#define GATHER_ROWS 16
/* Bounds on sequence positions and window sizes: far beyond any tensor's length, small
 * enough that sums of a few of them cannot overflow. */
#define POSITION_LIMIT ((int64_t)1 << 48)

typedef enum qk_mode { QK_SCALED, QK_SOFTCAPPED, QK_BIASED, QK_SOFTMAX } qk_mode;

typedef struct attention_params {
    bool onnx; /* ai.onnx Attention; otherwise onyx.Attention */
    /* onyx.Attention */
    bool scale_divides;
    float fill;
    bool fill_when;
    bool keys_as_rows, kv_heads_shared, nan_to_zero;
    int64_t seq_first; /* bits: Q 1, K 2, V 4, Y 8 laid out [B, S, H, D] */
    /* ai.onnx Attention */
    bool has_scale, causal;
    bool softmax_double; /* softmax_precision double: the exps and sums in double */
    onyx_dtype softmax_dtype; /* softmax_precision, 0 when not given */
    float scale, softcap; /* softcap <= 0: none */
    qk_mode qk_mode;
    int64_t q_heads, kv_heads; /* 0: not given */
    int64_t left, right;       /* window sizes, -1: unbounded */
} attention_params;

/* Where an input's element lies for (batch index, row, column) of the scores: strides on the
 * batch dims and on rows and columns (0 where the input repeats). */
typedef struct operand_layout {
    int64_t batch_strides[ONYX_MAX_RANK];
    int64_t row_stride, col_stride;
} operand_layout;

/* Keys and values come in up to two runs along the key axis: the past cache, then the new. */
typedef struct kv_segment {
    int k_input, v_input;
    int64_t len;
    operand_layout k, v; /* batch strides */
    int64_t ldk, ldv;    /* elements between rows (K is [keys, D] for ai.onnx, [D, keys] for onyx) */
} kv_segment;

typedef struct attention_state {
    int batch_rank;
    int64_t batch_dims[ONYX_MAX_RANK]; /* onyx: the broadcast batch dims; ai.onnx: [B, Hkv, group] */
    int64_t batches, sq, sk, d, dv, row_blocks; /* sk: every key, past and new */
    operand_layout q, y, add, cond;             /* ai.onnx: attn_mask's layout in add */
    int64_t ldq, ldy;
    int n_segments;
    kv_segment seg[2];
    /* ai.onnx */
    int64_t group, kv_heads, past, mask_len;
    float scale;
    bool plain;   /* no mask, softcap or qk output: a row is a range of keys, the scale the exp's factor */
    bool convert; /* float16, bfloat16: computed on float copies in scratch, rounded as ONNX's
                     reference rounds (see the top) */
    float operand_scale;      /* convert: Q and K are multiplied by it (then s->scale is 1) */
    onyx_dtype softmax_dtype; /* convert: the type the softmax rounds to (or double) */
    bool gather;  /* keys gathered as [D, T] (see GATHER_ROWS) */
    bool keys_as_rows; /* onyx: K is [..., Sk, D] */
    onyx_dtype dtype;
    const gemm_kernel *kernel;
} attention_state;

/* ---- onyx.Attention ---------------------------------------------------------------------- */

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
    int64_t divides, when, rows, shared, nan_zero;
    if ((st = op_attr_int(ctx, "nan_to_zero", 0, &nan_zero)) ||
        (st = op_attr_int(ctx, "scale_divides", 0, &divides)) ||
        (st = op_attr_float(ctx, "fill", -INFINITY, &p->fill)) ||
        (st = op_attr_int(ctx, "fill_when", 1, &when)) || (st = op_attr_int(ctx, "keys_as_rows", 0, &rows)) ||
        (st = op_attr_int(ctx, "kv_heads_shared", 0, &shared)) ||
        (st = op_attr_int(ctx, "seq_first", 0, &p->seq_first)))
        return st;
    if (p->seq_first < 0 || p->seq_first > 15 || ((p->seq_first & 2) && !rows))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "seq_first %lld: bits 1, 2 (with keys_as_rows), 4 and 8", (long long)p->seq_first);
    p->scale_divides = divides != 0;
    p->fill_when = when != 0;
    p->keys_as_rows = rows != 0;
    p->kv_heads_shared = shared != 0;
    p->nan_to_zero = nan_zero != 0;
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

/* An operand as the kernel reads it: its dims in the kernel's order and their strides in
 * elements. */
typedef struct operand_view {
    int rank;
    int64_t dims[ONYX_MAX_RANK], strides[ONYX_MAX_RANK];
} operand_view;

/* Strides of view v aligned to the scores' shape [batch dims..., rows, cols] (0 where v
 * repeats). */
static void layout_of(const operand_view *v, int batch_rank, operand_layout *l)
{
    memset(l, 0, sizeof *l);
    int rank = batch_rank + 2;
    for (int d = rank - 1; d >= 0; d--) {
        int at = d - (rank - v->rank);
        int64_t s = at >= 0 && v->dims[at] != 1 ? v->strides[at] : 0;
        if (d == rank - 1)
            l->col_stride = s;
        else if (d == rank - 2)
            l->row_stride = s;
        else
            l->batch_strides[d] = s;
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

/* t's shape with dims 1 and 2 swapped when `seq_first` (a rank-4 [B, S, H, D] seen as [B, H,
 * S, D]), else t's. */
static onyx_tensor logical_shape(const onyx_tensor *t, bool seq_first)
{
    onyx_tensor l = *t;
    if (seq_first && t->rank == 4)
        l.dims[1] = t->dims[2], l.dims[2] = t->dims[1];
    return l;
}

/* The view of row-major t, dims 1 and 2 swapped when `seq_first`. */
static operand_view view_of(const onyx_tensor *t, bool seq_first)
{
    operand_view v = {.rank = t->rank};
    int64_t stride = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        v.dims[d] = t->dims[d], v.strides[d] = stride;
        stride *= t->dims[d];
    }
    if (seq_first && t->rank == 4) {
        int64_t dim = v.dims[1], st = v.strides[1];
        v.dims[1] = v.dims[2], v.strides[1] = v.strides[2];
        v.dims[2] = dim, v.strides[2] = st;
    }
    return v;
}

/* v with its head dim (the one before the last two) split in two, for shared key/value heads:
 * [..., H, r, c] -> [..., H / group, group, r, c] for Q, Y and masks (a head dim of 1: [..., 1,
 * 1, r, c]), [..., H, 1, r, c] for K and V (repeating along the group). Without a head dim, v
 * as it is. */
static operand_view split_heads(const operand_view *v, int64_t group, bool kv)
{
    operand_view split = *v;
    if (v->rank < 3)
        return split;
    int h = v->rank - 3;
    int64_t heads = v->dims[h], stride = v->strides[h];
    bool whole = kv || heads == 1;
    split.dims[h] = whole ? heads : heads / group;
    split.strides[h] = whole ? stride : stride * group;
    split.dims[h + 1] = whole ? 1 : group;
    split.strides[h + 1] = whole ? 0 : stride;
    for (int i = 1; i <= 2; i++)
        split.dims[h + 1 + i] = v->dims[h + i], split.strides[h + 1 + i] = v->strides[h + i];
    split.rank = v->rank + 1;
    return split;
}

static onyx_status attention_reshape(op_context *ctx)
{
    const attention_params *p = ctx->params;
    const onyx_tensor *qp = op_input(ctx, 0), *kp = op_input(ctx, 1), *vp = op_input(ctx, 2);
    const onyx_tensor *scale = op_input(ctx, 3), *add = op_input(ctx, 4), *cond = op_input(ctx, 5);
    onyx_tensor *y = op_output(ctx, 0);
    char a[128], b[128], c[128];
    if (qp->rank < 2 || kp->rank < 2 || vp->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "Q, K and V need rank >= 2");
    bool q_sf = p->seq_first & 1, k_sf = p->seq_first & 2, v_sf = p->seq_first & 4, y_sf = p->seq_first & 8;
    if ((q_sf && qp->rank != 4) || (k_sf && kp->rank != 4) || (v_sf && vp->rank != 4))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "operands laid out [B, S, H, D] (seq_first) need rank 4");
    /* Shapes below are those the kernel reads: [B, H, S, D] for operands laid out seq first. */
    onyx_tensor ql = logical_shape(qp, q_sf), kl = logical_shape(kp, k_sf), vl = logical_shape(vp, v_sf);
    const onyx_tensor *q = &ql, *k = &kl, *v = &vl;
    int kd = k->rank - (p->keys_as_rows ? 1 : 2), ks = k->rank - (p->keys_as_rows ? 2 : 1);
    int64_t sq = q->dims[q->rank - 2], d = q->dims[q->rank - 1], sk = k->dims[ks];
    int64_t dv = v->dims[v->rank - 1];
    if (!dim_may_equal(d, k->dims[kd]) || !dim_may_equal(sk, v->dims[v->rank - 2]))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "Q %s, K %s and V %s do not chain",
                        shape_str(q, a, sizeof a), shape_str(k, b, sizeof b), shape_str(v, c, sizeof c));
    onyx_tensor qb = batch_part(q), kb = batch_part(k), vb = batch_part(v);
    int64_t group = 1;
    if (p->kv_heads_shared) {
        /* K's and V's heads stand for Q's in the broadcast; the group is their ratio. */
        int h = q->rank - 3;
        if (q->rank < 3 || k->rank != q->rank || v->rank != q->rank || q->rank + 1 > ONYX_MAX_RANK)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "shared key/value heads need Q, K and V of one rank (3 to %d)",
                            ONYX_MAX_RANK - 1);
        int64_t hq = q->dims[h], hk = k->dims[h];
        if (!dim_may_equal(hk, v->dims[h]) || (dim_known(hq) && dim_known(hk) && (hk == 0 || hq % hk)))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "Q %s: its heads must be a multiple of those of K %s and V %s",
                            shape_str(q, a, sizeof a), shape_str(k, b, sizeof b), shape_str(v, c, sizeof c));
        if (dim_known(hq) && dim_known(hk))
            group = hq / hk;
        kb.dims[h] = vb.dims[h] = hq;
    }
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
    if (y_sf && y->rank != 4)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "Y laid out [B, S, H, D] (seq_first) needs rank 4");
    if (y_sf) /* written [B, S, H, Dv] */
        *y = logical_shape(y, true);
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
    /* Shared key/value heads: every operand seen with its head dim split into (kv head, member
     * of the group), K and V repeating along the members. */
    operand_view qs = view_of(qp, q_sf), ks_ = view_of(kp, k_sf), vs = view_of(vp, v_sf);
    operand_view ys = view_of(y, y_sf), adds = view_of(add ? add : qp, false);
    operand_view conds = view_of(cond ? cond : qp, false);
    if (p->kv_heads_shared) {
        if (group > 1 && ((add && add->rank >= 3 && add->dims[add->rank - 3] != 1 &&
                           add->dims[add->rank - 3] != q->dims[q->rank - 3]) ||
                          (cond && cond->rank >= 3 && cond->dims[cond->rank - 3] != 1 &&
                           cond->dims[cond->rank - 3] != q->dims[q->rank - 3])))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "a mask's heads must be 1 or Q's");
        qs = split_heads(&qs, group, false);
        ks_ = split_heads(&ks_, group, true);
        vs = split_heads(&vs, group, true);
        ys = split_heads(&ys, group, false);
        adds = split_heads(&adds, group, false);
        conds = split_heads(&conds, group, false);
        batch_rank++;
    }
    s->batch_rank = batch_rank;
    memcpy(s->batch_dims, ys.dims, (size_t)batch_rank * sizeof(int64_t));
    s->batches = shape_count(ys.dims, batch_rank);
    s->sq = sq, s->sk = sk, s->d = d, s->dv = dv;
    s->group = group;
    s->keys_as_rows = p->keys_as_rows;
    /* Q, K and V are read as whole matrices: their row and column strides are the plain ones. */
    layout_of(&qs, batch_rank, &s->q);
    layout_of(&ys, batch_rank, &s->y);
    /* Rows lie these strides apart (for GEMM's leading dims: not 0 when there is one row). */
    s->ldq = qs.strides[qs.rank - 2], s->ldy = ys.strides[ys.rank - 2];
    s->n_segments = 1;
    s->seg[0] = (kv_segment){.k_input = 1, .v_input = 2, .len = sk, .ldv = vs.strides[vs.rank - 2]};
    s->seg[0].ldk = p->keys_as_rows ? ks_.strides[ks_.rank - 2] : sk;
    layout_of(&ks_, batch_rank, &s->seg[0].k);
    layout_of(&vs, batch_rank, &s->seg[0].v);
    if (add)
        layout_of(&adds, batch_rank, &s->add);
    if (cond)
        layout_of(&conds, batch_rank, &s->cond);
    s->row_blocks = ceil_div(sq, ROW_BLOCK);
    s->dtype = ONYX_DTYPE_FLOAT;
    s->kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    /* Keys as rows are gathered as [D, Sk] once per key/value head and thread (for onyx's GEMM)
     * when enough query rows share them; for fewer the product takes K as it lies. */
    s->gather = p->keys_as_rows && group * sq >= GATHER_ROWS;
    ctx->state = s;
    ctx->n_tasks = s->batches * s->row_blocks;
    ctx->task_cost = OP_MIN(sq, ROW_BLOCK) * sk * (d + dv) * 2;
    ctx->scratch_bytes = (size_t)(ROW_BLOCK * sk + (s->gather ? d * sk : 0)) * sizeof(float);
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

/* An additive mask at most this is a key masked out: -inf, or the most negative float that
 * PyTorch's exporters write instead (torch.finfo(float32).min). */
#define MASKED_OUT (-1e30f)

/* onyx.Attention with an additive mask: the keys [0, n) that query rows [i0, i0 + rows) of batch
 * entry b may attend, the others masked out for every row of them (a causal mask's upper
 * triangle, padding at the end); every key where a row is masked throughout (its softmax
 * spreads over all keys). A key masked out adds at least 1e30 below a row's largest score,
 * whose exp is 0 in float: it is left out of both products, as long as no score reaches 1e29
 * (an infinite or NaN score there is not looked at). */
static int64_t onyx_keys(const op_context *ctx, const attention_state *s, int64_t b, int64_t i0, int64_t rows)
{
    const onyx_tensor *add_t = op_input(ctx, 4);
    if (!add_t || op_input(ctx, 5) || !s->add.col_stride)
        return s->sk;
    const float *add = (const float *)add_t->data + batch_offset(s, &s->add, b);
    int64_t n = 0;
    for (int64_t i = i0; i < i0 + rows; i++) {
        const float *row = add + i * s->add.row_stride;
        int64_t j = s->sk;
        while (j > n && row[(j - 1) * s->add.col_stride] <= MASKED_OUT)
            j--;
        if (j == n) { /* masked from n on: does it attend a key before n? */
            int64_t k = 0;
            while (k < n && row[k * s->add.col_stride] <= MASKED_OUT)
                k++;
            if (k == n)
                return s->sk;
        }
        n = j;
    }
    return n;
}

/* Row i of batch entry b of onyx.Attention's scores, its first n keys, becomes exp(score -
 * max); returns the factor that normalizes it. Without masks a positive scale goes into the
 * exp as a factor (a divisor as its reciprocal), instead of a pass of its own over the scores. */
static float onyx_row(const op_context *ctx, const attention_state *s, float *row, int64_t b, int64_t i,
                      int64_t n)
{
    const attention_params *p = ctx->params;
    const onyx_tensor *scale_t = op_input(ctx, 3), *add_t = op_input(ctx, 4), *cond_t = op_input(ctx, 5);
    float scale = scale_t ? *(const float *)scale_t->data : 1.0f;
    float factor = p->scale_divides ? 1.0f / scale : scale;
    bool folded = !add_t && !cond_t && factor > 0 && isfinite(factor);
    if (!folded) {
        const float *add = add_t ? (const float *)add_t->data + batch_offset(s, &s->add, b) +
                                       i * s->add.row_stride : NULL;
        const uint8_t *cond = cond_t ? (const uint8_t *)cond_t->data + batch_offset(s, &s->cond, b) +
                                           i * s->cond.row_stride : NULL;
        scale_and_mask(p, row, n, scale, add, s->add.col_stride, cond, s->cond.col_stride);
    }
    /* No keys: the product with V is an empty sum (zeros), to be left as it is. */
    if (!n)
        return 1.0f;
    float sum = gemm_exp_row(s->kernel, row, n, folded ? factor : 1.0f);
    if (p->nan_to_zero && isnan(sum)) {
        memset(row, 0, (size_t)n * sizeof(float));
        return 0.0f;
    }
    return 1.0f / sum;
}

/* ---- ai.onnx Attention ------------------------------------------------------------------- */

#define ONNX_DTYPES (DT(FLOAT) | DT(FLOAT16) | DT(BFLOAT16))

static onyx_status onnx_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, ctx->opset >= 24 ? 7 : 6, 1, 4);
    if (!st)
        st = op_check_input(ctx, 0, true, ONNX_DTYPES);
    /* V and past_value may have another float type than Q in the schema (T2): onyx computes
     * both products in Q's type and takes them of that type only. */
    const int alike[4] = {1, 2, 4, 5};
    for (int i = 0; i < 4 && !st; i++)
        if (!(st = op_check_input(ctx, alike[i], alike[i] < 3, ONNX_DTYPES)))
            st = op_check_same_dtype(ctx, alike[i], 0);
    if (!st)
        st = op_check_input(ctx, 6, false, DT(INT64));
    if (st)
        return st;
    onyx_dtype dt = op_input(ctx, 0)->dtype;
    const onyx_tensor *mask = op_input(ctx, 3);
    if (mask && mask->dtype != ONYX_DTYPE_BOOL && mask->dtype != dt)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "attn_mask must be bool or of Q's dtype %s, got %s",
                        onyx_dtype_name(dt), onyx_dtype_name(mask->dtype));
    attention_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->onnx = true;
    int64_t causal, mode, precision;
    if ((st = op_attr_float(ctx, "scale", 0, &p->scale)) ||
        (st = op_attr_int(ctx, "is_causal", 0, &causal)) ||
        (st = op_attr_float(ctx, "softcap", 0, &p->softcap)) ||
        (st = op_attr_int(ctx, "qk_matmul_output_mode", 0, &mode)) ||
        (st = op_attr_int(ctx, "softmax_precision", 1, &precision)) ||
        (st = op_attr_int(ctx, "q_num_heads", 0, &p->q_heads)) ||
        (st = op_attr_int(ctx, "kv_num_heads", 0, &p->kv_heads)))
        return st;
    p->left = p->right = -1;
    if (ctx->opset >= 25 && ((st = op_attr_int(ctx, "left_window_size", -1, &p->left)) ||
                             (st = op_attr_int(ctx, "right_window_size", -1, &p->right))))
        return st;
    p->has_scale = op_has_attr(ctx, "scale");
    p->causal = causal != 0;
    if (mode < QK_SCALED || mode > QK_SOFTMAX)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "qk_matmul_output_mode must be 0 to 3, got %lld",
                        (long long)mode);
    p->qk_mode = (qk_mode)mode;
    /* The softmax runs in float, as precise as float, bfloat16 and float16 ask, or in double. */
    if (precision != ONYX_DTYPE_FLOAT && precision != ONYX_DTYPE_FLOAT16 &&
        precision != ONYX_DTYPE_BFLOAT16 && precision != ONYX_DTYPE_DOUBLE)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "softmax_precision must be float (1), float16 (10), double (11) or bfloat16 (16), "
                        "got %lld",
                        (long long)precision);
    p->softmax_double = precision == ONYX_DTYPE_DOUBLE;
    p->softmax_dtype = op_has_attr(ctx, "softmax_precision") ? (onyx_dtype)precision : 0;
    if (p->q_heads < 0 || p->kv_heads < 0 || p->q_heads > INT32_MAX || p->kv_heads > INT32_MAX)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "q_num_heads %lld and kv_num_heads %lld must be > 0",
                        (long long)p->q_heads, (long long)p->kv_heads);
    if (p->left < -1 || p->right < -1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "left_window_size %lld and right_window_size %lld must be >= -1", (long long)p->left,
                        (long long)p->right);
    p->left = OP_MIN(p->left, POSITION_LIMIT);
    p->right = OP_MIN(p->right, POSITION_LIMIT);
    ctx->params = p;
    op_set_output_dtypes(ctx, dt);
    return ONYX_OK;
}

/* Shape errors of the ai.onnx operator name the inputs with their shapes. */
static onyx_status shape_error(const op_context *ctx, const char *what)
{
    char a[128], b[128], c[128];
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "Q %s, K %s and V %s: %s",
                    shape_str(op_input(ctx, 0), a, sizeof a), shape_str(op_input(ctx, 1), b, sizeof b),
                    shape_str(op_input(ctx, 2), c, sizeof c), what);
}

/* dims / heads for a rank-3 input's hidden size; *ok false when it does not divide. */
static int64_t per_head(int64_t dims, int64_t heads, bool *ok)
{
    if (!dim_known(dims))
        return DIM_UNKNOWN;
    if (dims % heads)
        *ok = false;
    return dims / heads;
}

static void set_strides(operand_layout *l, int64_t batch, int64_t kv_head, int64_t group_member)
{
    memset(l, 0, sizeof *l);
    l->batch_strides[0] = batch, l->batch_strides[1] = kv_head, l->batch_strides[2] = group_member;
}

/* attn_mask's strides on [B, Hkv, group] and its rows, broadcast as [B, Hq, Sq, L] from the
 * right; its columns run to its own last dim L. */
static void mask_layout(const onyx_tensor *m, int64_t group, operand_layout *l)
{
    int64_t strides[4] = {0}, stride = 1;
    for (int d = 3; d >= 4 - m->rank; d--) {
        int64_t size = m->dims[d - (4 - m->rank)];
        strides[d] = size == 1 ? 0 : stride;
        stride *= size;
    }
    set_strides(l, strides[0], strides[1] * group, strides[1]);
    l->row_stride = strides[2];
    l->col_stride = 1;
}

static onyx_status onnx_reshape(op_context *ctx)
{
    const attention_params *p = ctx->params;
    const onyx_tensor *q = op_input(ctx, 0), *k = op_input(ctx, 1), *v = op_input(ctx, 2);
    const onyx_tensor *mask = op_input(ctx, 3);
    const onyx_tensor *past_k = op_input(ctx, 4), *past_v = op_input(ctx, 5), *nonpad = op_input(ctx, 6);
    char a[128], b[128];
    if ((q->rank != 3 && q->rank != 4) || k->rank != q->rank || v->rank != q->rank)
        return shape_error(ctx, "must all have rank 3 or all rank 4");
    bool rank3 = q->rank == 3, ok = true;
    int64_t batch = q->dims[0], hq, hkv, sq, skv, d, dk, dv;
    if (rank3) {
        if (!p->q_heads || !p->kv_heads)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "q_num_heads and kv_num_heads are required with rank-3 inputs");
        hq = p->q_heads, hkv = p->kv_heads;
        sq = q->dims[1], skv = k->dims[1];
        d = per_head(q->dims[2], hq, &ok), dk = per_head(k->dims[2], hkv, &ok);
        dv = per_head(v->dims[2], hkv, &ok);
        if (!ok)
            return shape_error(ctx, "hidden sizes must be multiples of q_num_heads and kv_num_heads");
        if (!dim_may_equal(v->dims[1], skv))
            return shape_error(ctx, "K and V must have the same sequence length");
    } else {
        hq = q->dims[1], hkv = k->dims[1], sq = q->dims[2], skv = k->dims[2];
        d = q->dims[3], dk = k->dims[3], dv = v->dims[3];
        if (!dim_may_equal(v->dims[1], hkv) || !dim_may_equal(v->dims[2], skv))
            return shape_error(ctx, "K and V must have the same heads and sequence length");
        if ((p->q_heads && !dim_may_equal(hq, p->q_heads)) ||
            (p->kv_heads && !dim_may_equal(hkv, p->kv_heads)))
            return shape_error(ctx, "q_num_heads and kv_num_heads differ from the inputs' heads");
    }
    if (!dim_may_equal(k->dims[0], batch) || !dim_may_equal(v->dims[0], batch))
        return shape_error(ctx, "batch sizes differ");
    if (!dim_may_equal(d, dk))
        return shape_error(ctx, "Q and K must have the same head size");
    if ((dim_known(hkv) && hkv == 0) || (dim_known(hq) && hq == 0))
        return shape_error(ctx, "there must be query and key/value heads");
    if (dim_known(hq) && dim_known(hkv) && hq % hkv)
        return shape_error(ctx, "the query heads must be a multiple of the key/value heads");
    if (!past_k != !past_v)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "past_key and past_value must be given together");
    if (past_k && nonpad)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "nonpad_kv_seqlen cannot be combined with past_key");
    int64_t past = 0;
    if (past_k) {
        const int64_t want_k[4] = {batch, hkv, past_k->dims[2], d};
        const int64_t want_v[4] = {batch, hkv, past_k->dims[2], dv};
        bool fits = past_k->rank == 4 && past_v->rank == 4;
        for (int i = 0; fits && i < 4; i++)
            fits = dim_may_equal(past_k->dims[i], want_k[i]) && dim_may_equal(past_v->dims[i], want_v[i]);
        if (!fits)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "past_key %s and past_value %s must be [batch, kv heads, past length, head size]",
                            shape_str(past_k, a, sizeof a), shape_str(past_v, b, sizeof b));
        past = past_k->dims[2];
    }
    int64_t total = dim_add(past, skv);
    if (nonpad && (nonpad->rank != 1 || !dim_may_equal(nonpad->dims[0], batch)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "nonpad_kv_seqlen %s must be [batch]",
                        shape_str(nonpad, a, sizeof a));
    if (mask) {
        const int64_t scores[4] = {batch, hq, sq, total};
        bool fits = mask->rank >= 1 && mask->rank <= 4;
        for (int i = 0; fits && i < mask->rank; i++) {
            int64_t m = mask->dims[i], want = scores[i + 4 - mask->rank];
            fits = i == mask->rank - 1 ? !dim_known(m) || !dim_known(want) || m <= want
                                       : m == 1 || dim_may_equal(m, want);
        }
        if (!fits)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "attn_mask %s does not broadcast onto [batch, q heads, q length, total length] "
                            "(its last dim may be shorter)", shape_str(mask, a, sizeof a));
    }
    int64_t hidden = DIM_UNKNOWN;
    if (dim_known(hq) && dim_known(dv) && __builtin_mul_overflow(hq, dv, &hidden))
        return shape_error(ctx, "the output's hidden size overflows");
    const int64_t y_dims[4] = {batch, rank3 ? sq : hq, rank3 ? hidden : sq, dv};
    const int64_t shapes[3][4] = {{batch, hkv, total, d}, {batch, hkv, total, dv}, {batch, hq, sq, total}};
    tensor_set_shape(op_output(ctx, 0), q->rank, y_dims);
    for (int i = 1; i < 4; i++)
        if (op_output(ctx, i))
            tensor_set_shape(op_output(ctx, i), 4, shapes[i - 1]);
    if (!ctx->concrete)
        return ONYX_OK;
    /* Y's shape, checked, bounds the tasks (batch x heads x query rows, its dims but the
     * last); the keys and head sizes, dims of inputs, bound the scratch. The scores are never
     * held whole unless qk_matmul_output asks for them (the runtime checks outputs). */
    const int64_t full_y[4] = {batch, hq, sq, dv};
    onyx_status st = op_check_shape(ctx, 4, full_y, "the output Y");
    if (st)
        return st;
    attention_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t group = hkv ? hq / hkv : 0;
    s->batch_rank = 3;
    s->batch_dims[0] = batch, s->batch_dims[1] = hkv, s->batch_dims[2] = group;
    s->batches = batch * hq;
    s->sq = sq, s->sk = total, s->d = d, s->dv = dv;
    s->group = group, s->kv_heads = hkv, s->past = past;
    if (rank3) {
        set_strides(&s->q, sq * hq * d, group * d, d);
        set_strides(&s->y, sq * hq * dv, group * dv, dv);
        s->ldq = hq * d, s->ldy = hq * dv;
    } else {
        set_strides(&s->q, hq * sq * d, group * sq * d, sq * d);
        set_strides(&s->y, hq * sq * dv, group * sq * dv, sq * dv);
        s->ldq = d, s->ldy = dv;
    }
    if (past_k) {
        kv_segment *g = &s->seg[s->n_segments++];
        *g = (kv_segment){.k_input = 4, .v_input = 5, .len = past, .ldk = d, .ldv = dv};
        set_strides(&g->k, hkv * past * d, past * d, 0);
        set_strides(&g->v, hkv * past * dv, past * dv, 0);
    }
    kv_segment *g = &s->seg[s->n_segments++];
    *g = (kv_segment){.k_input = 1, .v_input = 2, .len = skv};
    if (rank3) {
        set_strides(&g->k, skv * hkv * d, d, 0);
        set_strides(&g->v, skv * hkv * dv, dv, 0);
        g->ldk = hkv * d, g->ldv = hkv * dv;
    } else {
        set_strides(&g->k, hkv * skv * d, skv * d, 0);
        set_strides(&g->v, hkv * skv * dv, skv * dv, 0);
        g->ldk = d, g->ldv = dv;
    }
    s->mask_len = mask ? mask->dims[mask->rank - 1] : total;
    if (mask)
        mask_layout(mask, group, &s->add);
    s->scale = p->has_scale ? p->scale : d > 0 ? (float)(1.0 / sqrt((double)d)) : 1.0f;
    s->dtype = q->dtype;
    s->convert = q->dtype != ONYX_DTYPE_FLOAT;
    s->plain = !s->convert && !mask && p->softcap <= 0 && !p->softmax_double && !op_output(ctx, 3) &&
               s->scale > 0 && isfinite(s->scale);
    if (s->convert) {
        /* The reference's sqrt(scale), rounded to the input's type, multiplies Q and K; a
         * scale without a real root (which would give NaN there) multiplies the product. */
        double scale = p->has_scale ? (double)p->scale : d > 0 ? 1.0 / sqrt((double)d) : 1.0;
        s->operand_scale = 1.0f;
        if (scale > 0 && isfinite(scale)) {
            s->operand_scale = q->dtype == ONYX_DTYPE_FLOAT16 ? half_to_float(double_to_half(sqrt(scale)))
                                                              : float_round_bfloat16((float)sqrt(scale));
            s->scale = 1.0f;
        }
        s->softmax_dtype = p->softmax_dtype ? p->softmax_dtype : q->dtype;
    }
    s->gather = s->convert || group * sq >= GATHER_ROWS;
    s->kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    /* The present outputs are written by the first row block of each key/value head, even
     * without query rows. */
    s->row_blocks = OP_MAX(ceil_div(sq, ROW_BLOCK), op_output(ctx, 1) || op_output(ctx, 2) ? 1 : 0);
    ctx->state = s;
    ctx->n_tasks = s->batches * s->row_blocks;
    ctx->task_cost = OP_MIN(sq, ROW_BLOCK) * total * (d + dv) * 2;
    /* Scores, the keys as [D, T], and for 16-bit dtypes float copies of a block of Q, of the
     * values and of a block of Y. */
    size_t floats = (size_t)(ROW_BLOCK * total + (s->gather ? d * total : 0));
    if (s->convert)
        floats += (size_t)(ROW_BLOCK * (d + dv) + total * dv);
    ctx->scratch_bytes = floats * sizeof(float);
    return ONYX_OK;
}

static inline float load_at(onyx_dtype dtype, const void *data, int64_t i)
{
    return dtype == ONYX_DTYPE_FLOAT ? ((const float *)data)[i] : (float)float_io_load(dtype, data, i);
}

static inline void store_at(onyx_dtype dtype, void *data, int64_t i, float v)
{
    if (dtype == ONYX_DTYPE_FLOAT)
        ((float *)data)[i] = v;
    else
        float_io_store(dtype, data, i, v);
}

/* x rounded to a 16-bit float type, as a float; other types leave it as it is. */
static inline float round_to(onyx_dtype dtype, float x)
{
    if (dtype == ONYX_DTYPE_FLOAT16)
        return float_round_half(x);
    return dtype == ONYX_DTYPE_BFLOAT16 ? float_round_bfloat16(x) : x;
}

/* A 16-bit element of Q or K times the scale's root, rounded back to its type. */
static inline float load_scaled(const attention_state *s, const void *data, int64_t i)
{
    return round_to(s->dtype, load_at(s->dtype, data, i) * s->operand_scale);
}

/* The keys [*lo, *hi) that the causal, window and padding rules and a short attn_mask leave
 * to query row i of batch entry bi, from the query's absolute position. */
static void key_range(const op_context *ctx, const attention_state *s, int64_t bi, int64_t i, int64_t *lo,
                      int64_t *hi)
{
    const attention_params *p = ctx->params;
    const onyx_tensor *nonpad = op_input(ctx, 6);
    int64_t offset = s->past;
    *lo = 0, *hi = OP_MIN(s->sk, s->mask_len);
    if (nonpad) {
        int64_t valid = ((const int64_t *)nonpad->data)[bi / (s->kv_heads * s->group)];
        valid = OP_MAX(-POSITION_LIMIT, OP_MIN(valid, POSITION_LIMIT));
        *hi = OP_MIN(*hi, OP_MAX(valid, 0));
        offset = valid - s->sq;
    }
    int64_t at = i + offset;
    if (p->causal)
        *hi = OP_MIN(*hi, at + 1);
    if (p->right >= 0)
        *hi = OP_MIN(*hi, at + p->right + 1);
    if (p->left >= 0)
        *lo = OP_MAX(*lo, at - p->left);
}

/* The sum of a row of exps of type `dtype`: bfloat16 rounded at each addition (ml_dtypes
 * reduces with its own add), the others in float (numpy sums float16 in float). */
static float sum_exps(onyx_dtype dtype, const float *row, int64_t n)
{
    float sum = 0;
    if (dtype == ONYX_DTYPE_BFLOAT16)
        for (int64_t j = 0; j < n; j++)
            sum = float_round_bfloat16(sum + row[j]);
    else
        for (int64_t j = 0; j < n; j++)
            sum += row[j];
    return round_to(dtype, sum);
}

/* onnx_row for float16 and bfloat16 (s->convert): each step rounded where ONNX's reference
 * rounds (see the top); the row holds the product of the scaled Q and K, and becomes the
 * probabilities, rounded to the input's type. Returns 1, or 0 for a row that attends no key
 * (its probabilities set to 0). */
static float onnx_row_rounded(const op_context *ctx, const attention_state *s, float *row, int64_t bi,
                              int64_t i, int64_t n, int64_t lo, int64_t hi)
{
    const attention_params *p = ctx->params;
    const onyx_tensor *mask = op_input(ctx, 3), *qk = op_output(ctx, 3);
    onyx_dtype t = s->dtype, u = s->softmax_dtype;
    const void *bias = NULL;
    if (mask)
        bias = (const char *)mask->data +
               (size_t)(batch_offset(s, &s->add, bi) + i * s->add.row_stride) * onyx_dtype_size(mask->dtype);
    bool bool_mask = mask && mask->dtype == ONYX_DTYPE_BOOL;
    void *out = qk ? (char *)qk->data + (size_t)((bi * s->sq + i) * s->sk) * onyx_dtype_size(t) : NULL;
    float cap = round_to(t, p->softcap);
    bool attends = false;
    for (int64_t j = 0; j < n; j++) {
        float x = round_to(t, row[j]);
        if (s->scale != 1.0f)
            x = round_to(t, x * s->scale);
        if (out && p->qk_mode == QK_SCALED)
            store_at(t, out, j, x);
        if (p->softcap > 0)
            x = round_to(t, round_to(t, tanhf(round_to(t, x / cap))) * cap);
        if (out && p->qk_mode == QK_SOFTCAPPED)
            store_at(t, out, j, x);
        float add = j >= lo && j < hi ? 0.0f : -INFINITY;
        if (bias && add == 0)
            add = bool_mask ? (((const uint8_t *)bias)[j] ? 0.0f : -INFINITY) : load_at(t, bias, j);
        x = round_to(t, x + add);
        attends |= add != -INFINITY;
        if (out && p->qk_mode == QK_BIASED)
            store_at(t, out, j, x);
        row[j] = round_to(u, x);
    }
    if (!attends) {
        memset(row, 0, (size_t)n * sizeof(float));
    } else if (u == ONYX_DTYPE_DOUBLE) {
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j < n; j++)
            max = row[j] > max || isnan(row[j]) ? row[j] : max;
        max = max == -INFINITY ? 0 : max; /* only -inf: exps of 0, then zeros */
        for (int64_t j = 0; j < n; j++)
            sum += exp((double)row[j] - max);
        sum = sum == 0 ? 1 : sum;
        for (int64_t j = 0; j < n; j++)
            row[j] = round_to(t, (float)(exp((double)row[j] - max) / sum));
    } else {
        float max = -INFINITY;
        for (int64_t j = 0; j < n; j++)
            max = row[j] > max || isnan(row[j]) ? row[j] : max;
        max = max == -INFINITY ? 0 : max;
        for (int64_t j = 0; j < n; j++)
            row[j] = round_to(u, expf(round_to(u, row[j] - max)));
        float sum = sum_exps(u, row, n);
        sum = sum == 0 ? 1 : sum;
        for (int64_t j = 0; j < n; j++)
            row[j] = round_to(t, round_to(u, row[j] / sum));
    }
    if (out && p->qk_mode == QK_SOFTMAX)
        for (int64_t j = 0; j < n; j++)
            store_at(t, out, j, row[j]);
    return attends ? 1.0f : 0.0f;
}

/* Row i of batch entry bi of ai.onnx Attention's scores, its first n keys (the others are
 * masked for the whole block): scale, softcap and bias, the qk_matmul_output row, then
 * exp(score - max). Returns the factor that normalizes the row, 0 for a row that attends no
 * key (its exps set to 0). */
static float onnx_row(const op_context *ctx, const attention_state *s, float *row, int64_t bi, int64_t i,
                      int64_t n)
{
    const attention_params *p = ctx->params;
    const onyx_tensor *mask = op_input(ctx, 3), *qk = op_output(ctx, 3);
    int64_t lo, hi;
    key_range(ctx, s, bi, i, &lo, &hi);
    if (s->convert)
        return onnx_row_rounded(ctx, s, row, bi, i, n, lo, hi);
    if (s->plain) {
        /* Only the keys [lo, hi) count, with the scale as the exp's factor; the scores of the
         * others are never looked at (not even a NaN among them, which the definition's
         * score + -inf would spread). */
        float inverse = lo < hi ? 1.0f / gemm_exp_row(s->kernel, row + lo, hi - lo, s->scale) : 0.0f;
        memset(row, 0, (size_t)OP_MAX(OP_MIN(lo, n), 0) * sizeof(float));
        if (hi < n)
            memset(row + OP_MAX(hi, 0), 0, (size_t)(n - OP_MAX(hi, 0)) * sizeof(float));
        return inverse;
    }
    const void *bias = NULL;
    if (mask)
        bias = (const char *)mask->data +
               (size_t)(batch_offset(s, &s->add, bi) + i * s->add.row_stride) * onyx_dtype_size(mask->dtype);
    bool bool_mask = mask && mask->dtype == ONYX_DTYPE_BOOL;
    void *out = qk ? (char *)qk->data + (size_t)((bi * s->sq + i) * s->sk) * onyx_dtype_size(s->dtype) : NULL;
    bool attends = false, finite = false;
    for (int64_t j = 0; j < n; j++) {
        float x = row[j] * s->scale;
        if (out && p->qk_mode == QK_SCALED)
            store_at(s->dtype, out, j, x);
        if (p->softcap > 0)
            x = p->softcap * tanhf(x / p->softcap);
        if (out && p->qk_mode == QK_SOFTCAPPED)
            store_at(s->dtype, out, j, x);
        float add = j >= lo && j < hi ? 0.0f : -INFINITY;
        if (bias && add == 0)
            add = bool_mask ? (((const uint8_t *)bias)[j] ? 0.0f : -INFINITY) : load_at(s->dtype, bias, j);
        x += add;
        attends |= add != -INFINITY;
        finite |= x != -INFINITY;
        if (out && p->qk_mode == QK_BIASED)
            store_at(s->dtype, out, j, x);
        row[j] = x;
    }
    /* A row of only -inf has no softmax: zeros, as where every key is masked. */
    float inverse = 0;
    if (attends && finite && p->softmax_double) {
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j < n; j++)
            max = row[j] > max || isnan(row[j]) ? row[j] : max;
        for (int64_t j = 0; j < n; j++)
            sum += exp((double)row[j] - max);
        for (int64_t j = 0; j < n; j++)
            row[j] = (float)(exp((double)row[j] - max) / sum);
        inverse = 1;
    } else if (attends && finite) {
        inverse = 1.0f / gemm_exp_row(s->kernel, row, n, 1.0f);
    } else {
        memset(row, 0, (size_t)n * sizeof(float));
    }
    if (out && p->qk_mode == QK_SOFTMAX)
        for (int64_t j = 0; j < n; j++)
            store_at(s->dtype, out, j, row[j] * inverse);
    return inverse;
}

/* present_key and present_value of key/value head bi / group: the past rows, then the new. */
static void write_present(const op_context *ctx, const attention_state *s, int64_t bi)
{
    size_t es = onyx_dtype_size(s->dtype);
    int64_t head = bi / s->group; /* b * Hkv + kv head */
    for (int which = 0; which < 2; which++) {
        onyx_tensor *out = op_output(ctx, 1 + which);
        if (!out)
            continue;
        int64_t width = which ? s->dv : s->d;
        char *dst = (char *)out->data + (size_t)(head * s->sk * width) * es;
        for (int g = 0; g < s->n_segments; g++) {
            const kv_segment *seg = &s->seg[g];
            const operand_layout *l = which ? &seg->v : &seg->k;
            int64_t ld = which ? seg->ldv : seg->ldk;
            const char *src = (const char *)ctx->inputs[which ? seg->v_input : seg->k_input]->data +
                              (size_t)batch_offset(s, l, bi) * es;
            for (int64_t r = 0; r < seg->len; r++, dst += (size_t)width * es)
                memcpy(dst, src + (size_t)(r * ld) * es, (size_t)width * es);
        }
    }
}

/* ---- the kernel both run on -------------------------------------------------------------- */

/* rows x cols of a 16-bit dtype, rows ld apart, into dense floats. */
static void load_rows(onyx_dtype dtype, const void *src, int64_t ld, int64_t rows, int64_t cols, float *dst)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[r * cols + c] = load_at(dtype, src, r * ld + c);
}

/* ai.onnx: the keys of key/value head bi / group, past and new, as one [D, T] matrix kt (MatMul's
 * right operand, so that the product runs on onyx's own kernels), and for 16-bit dtypes the
 * values as floats [T, Dv] in vt. */
static void gather_keys(const op_context *ctx, const attention_state *s, int64_t bi, float *kt, float *vt)
{
    size_t es = onyx_dtype_size(s->dtype);
    for (int g = 0, first = 0; g < s->n_segments; first += s->seg[g].len, g++) {
        const kv_segment *seg = &s->seg[g];
        const char *k = (const char *)ctx->inputs[seg->k_input]->data;
        const char *v = (const char *)ctx->inputs[seg->v_input]->data;
        k += (size_t)batch_offset(s, &seg->k, bi) * es;
        v += (size_t)batch_offset(s, &seg->v, bi) * es;
        if (s->convert) {
            for (int64_t r = 0; r < seg->len; r++)
                for (int64_t c = 0; c < s->d; c++)
                    kt[c * s->sk + first + r] = load_scaled(s, k, r * seg->ldk + c);
            load_rows(s->dtype, v, seg->ldv, seg->len, s->dv, vt + first * s->dv);
        } else {
            const conv_kernels *kernels = conv_kernels_get(GEMM_KERNEL_BEST);
            kernels->transpose((const float *)k, seg->ldk, seg->len, s->d, kt + first, s->sk);
        }
    }
}

/* Query rows [i0, i0 + rows) of batch entry bi. Each row of scores becomes exp(score - max)
 * and its output row, the product with V, is multiplied by the row's normalizing factor
 * afterwards: dv products instead of sk divisions. Keys that no row of the block may attend
 * (beyond the causal or window bound of its last row) are left out of both products.
 * *gathered: the key/value head whose keys the scratch holds (ai.onnx), -1 for none. */
static void attend_block(const op_context *ctx, const attention_state *s, int64_t bi, int64_t i0,
                         int64_t rows, float *scores, int64_t *gathered)
{
    const attention_params *p = ctx->params;
    size_t es = onyx_dtype_size(s->dtype);
    const char *q = (const char *)ctx->inputs[0]->data;
    char *y = (char *)ctx->outputs[0]->data;
    q += (size_t)(batch_offset(s, &s->q, bi) + i0 * s->ldq) * es;
    y += (size_t)(batch_offset(s, &s->y, bi) + i0 * s->ldy) * es;
    const float *qf = (const float *)q;
    const float *kf = (const float *)ctx->inputs[1]->data + batch_offset(s, &s->seg[0].k, bi);
    int64_t ldq = s->ldq, ldy = s->ldy, ldk = s->sk, n = s->sk;
    float *yf = (float *)y, *vt = NULL;
    if (!p->onnx && s->gather) {
        /* The batch entries of one key/value head are consecutive (its group's members last). */
        float *kt = scores + ROW_BLOCK * s->sk;
        if (*gathered != bi / s->group)
            gather_keys(ctx, s, bi, kt, NULL);
        *gathered = bi / s->group;
        kf = kt;
    }
    if (p->onnx) {
        float *kt = scores + ROW_BLOCK * s->sk, *qc = s->convert ? kt + s->d * s->sk : NULL;
        vt = s->convert ? qc + ROW_BLOCK * s->d : NULL;
        if (s->gather && *gathered != bi / s->group)
            gather_keys(ctx, s, bi, kt, vt);
        *gathered = bi / s->group;
        kf = kt;
        if (s->convert) {
            load_rows(s->dtype, q, s->ldq, rows, s->d, qc);
            for (int64_t e = 0; e < rows * s->d; e++)
                qc[e] = round_to(s->dtype, qc[e] * s->operand_scale);
            qf = qc, ldq = s->d, yf = vt + s->sk * s->dv, ldy = s->dv;
        }
        if (!op_output(ctx, 3)) {
            int64_t lo, hi;
            key_range(ctx, s, bi, i0 + rows - 1, &lo, &hi);
            n = OP_MAX(hi, 0);
        }
    } else {
        n = onyx_keys(ctx, s, bi, i0, rows);
    }
    if (!s->d || !n) {
        for (int64_t i = 0; i < rows; i++)
            memset(scores + i * s->sk, 0, (size_t)n * sizeof(float));
    } else if ((!p->onnx && !s->keys_as_rows) || s->gather) {
        gemm_f32(false, false, rows, n, s->d, 1.0f, qf, ldq, kf, ldk, 0.0f, scores, s->sk);
    } else {
        for (int g = 0, first = 0; g < s->n_segments && first < n; first += s->seg[g].len, g++) {
            const kv_segment *seg = &s->seg[g];
            int64_t len = OP_MIN(seg->len, n - first);
            const float *k = (const float *)ctx->inputs[seg->k_input]->data + batch_offset(s, &seg->k, bi);
            if (len)
                gemm_f32(false, true, rows, len, s->d, 1.0f, qf, ldq, k, seg->ldk, 0.0f, scores + first, s->sk);
        }
    }
    float factors[ROW_BLOCK];
    for (int64_t i = 0; i < rows; i++)
        factors[i] = p->onnx ? onnx_row(ctx, s, scores + i * s->sk, bi, i0 + i, n)
                             : onyx_row(ctx, s, scores + i * s->sk, bi, i0 + i, n);
    if (!s->dv)
        return;
    /* The values of the first n keys: float copies, or each run of the inputs in place. */
    bool written = false;
    if (s->convert && n) {
        gemm_f32(false, false, rows, s->dv, n, 1.0f, scores, s->sk, vt, s->dv, 0.0f, yf, ldy);
        written = true;
    }
    for (int g = 0, first = 0; !s->convert && g < s->n_segments && first < n; first += s->seg[g].len, g++) {
        const kv_segment *seg = &s->seg[g];
        int64_t len = OP_MIN(seg->len, n - first);
        if (!len)
            continue;
        const float *v = (const float *)ctx->inputs[seg->v_input]->data + batch_offset(s, &seg->v, bi);
        gemm_f32(false, false, rows, s->dv, len, 1.0f, scores + first, s->sk, v, seg->ldv,
                 written ? 1.0f : 0.0f, yf, ldy);
        written = true;
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < s->dv; j++)
            yf[i * ldy + j] = written ? yf[i * ldy + j] * factors[i] : 0.0f;
    if (s->convert)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < s->dv; j++)
                store_at(s->dtype, y, i * s->ldy + j, yf[i * ldy + j]);
}

static onyx_status attention_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const attention_params *p = ctx->params;
    const attention_state *s = ctx->state;
    int64_t gathered = -1;
    for (int64_t t = begin; t < end; t++) {
        int64_t bi = t / s->row_blocks, i0 = (t % s->row_blocks) * ROW_BLOCK;
        int64_t rows = OP_MIN(ROW_BLOCK, s->sq - i0);
        if (p->onnx && i0 == 0 && bi % s->group == 0)
            write_present(ctx, s, bi);
        if (rows > 0)
            attend_block(ctx, s, bi, i0, rows, scratch, &gathered);
    }
    return ONYX_OK;
}

const op_descriptor op_Attention = {attention_check, attention_reshape, attention_run, 0};
const op_descriptor op_OnnxAttention = {onnx_check, onnx_reshape, attention_run, 0};
