/* MatMul (numpy semantics: 1-D operands promoted and squeezed, batch dims broadcast) and
 * Gemm (2-D, transposes, alpha/beta, bias broadcast onto the output). */
#include "broadcast.h"
#include "elementwise.h"
#include "gemm.h"

#include <string.h>

/* ---- integer products (float types go to the GEMM kernels) ------------------------------ */

typedef void (*int_matmul_fn)(const void *a, const void *b, void *c, int64_t m, int64_t n, int64_t k);
#define INT_MATMUL(D, T, U)                                                                    \
    static void matmul_##D(const void *a_, const void *b_, void *c_, int64_t m, int64_t n, int64_t k) \
    {                                                                                          \
        const T *a = a_, *b = b_;                                                              \
        T *c = c_;                                                                             \
        for (int64_t i = 0; i < m; i++)                                                        \
            for (int64_t j = 0; j < n; j++) {                                                  \
                U sum = 0;                                                                     \
                for (int64_t p = 0; p < k; p++)                                                \
                    sum += (U)a[i * k + p] * (U)b[p * n + j];                                   \
                c[i * n + j] = (T)sum;                                                         \
            }                                                                                  \
    }
INT_MATMUL(INT32, int32_t, uint32_t)
INT_MATMUL(INT64, int64_t, uint64_t)
INT_MATMUL(UINT32, uint32_t, uint32_t)
INT_MATMUL(UINT64, uint64_t, uint64_t)

static int_matmul_fn int_matmul(onyx_dtype dt)
{
    switch (dt) {
    case ONYX_DTYPE_INT32: return matmul_INT32;
    case ONYX_DTYPE_INT64: return matmul_INT64;
    case ONYX_DTYPE_UINT32: return matmul_UINT32;
    case ONYX_DTYPE_UINT64: return matmul_UINT64;
    default: return NULL;
    }
}

/* One product of the batch: c (m x n) = a (m x k) * b (k x n), all contiguous. */
static void product(onyx_dtype dt, const void *a, const void *b, void *c, int64_t m, int64_t n, int64_t k)
{
    if (dt == ONYX_DTYPE_FLOAT)
        gemm_f32(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    else if (dt == ONYX_DTYPE_DOUBLE)
        gemm_f64(false, false, m, n, k, 1.0, a, k, b, n, 0.0, c, n);
    else
        int_matmul(dt)(a, b, c, m, n, k);
}

/* ---- MatMul ------------------------------------------------------------------------------ */

#define MATMUL_DTYPES (DT_FLOATS | DT(INT32) | DT(INT64) | DT(UINT32) | DT(UINT64))

typedef struct matmul_state {
    int64_t m, n, k, batch;
    int64_t *a_index, *b_index; /* per output batch: which A and B matrix */
    size_t elem;
} matmul_state;

static onyx_status matmul_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, MATMUL_DTYPES);
    if (!st)
        st = op_check_input(ctx, 1, true, MATMUL_DTYPES);
    if (!st)
        st = op_check_same_dtype(ctx, 0, 1);
    if (!st)
        op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return st;
}

/* Batch dims of t (all but the last two; none for rank <= 2) as a tensor shape. */
static onyx_tensor batch_of(const onyx_tensor *t)
{
    onyx_tensor b = {.dtype = t->dtype, .rank = t->rank > 2 ? t->rank - 2 : 0};
    for (int i = 0; i < b.rank; i++)
        b.dims[i] = t->dims[i];
    return b;
}

static onyx_status matmul_reshape(op_context *ctx)
{
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1);
    onyx_tensor *y = op_output(ctx, 0);
    char sa[128], sb[128];
    if (a->rank < 1 || b->rank < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "inputs must have rank >= 1, got %s and %s",
                        shape_str(a, sa, sizeof sa), shape_str(b, sb, sizeof sb));
    int64_t m = a->rank >= 2 ? a->dims[a->rank - 2] : 1, k = a->dims[a->rank - 1];
    int64_t kb = b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0], n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    if (!dim_may_equal(k, kb))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "inner dims differ: '%s' %s has %lld columns, '%s' %s has %lld rows",
                        op_input_name(ctx, 0), shape_str(a, sa, sizeof sa), (long long)k,
                        op_input_name(ctx, 1), shape_str(b, sb, sizeof sb), (long long)kb);
    onyx_tensor ba = batch_of(a), bb = batch_of(b);
    const onyx_tensor *batches[2] = {&ba, &bb};
    onyx_status st = broadcast_shape(ctx, 2, batches, y);
    if (st)
        return st;
    if (a->rank >= 2)
        y->dims[y->rank++] = m;
    if (b->rank >= 2)
        y->dims[y->rank++] = n;
    if (!ctx->concrete)
        return ONYX_OK;

    matmul_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->n = n;
    s->k = k;
    s->elem = onyx_dtype_size(a->dtype);
    onyx_tensor out_batch = batch_of(y);
    out_batch.rank = y->rank - (a->rank >= 2) - (b->rank >= 2);
    int64_t batch = shape_count(out_batch.dims, out_batch.rank);
    if (b->rank <= 2) {
        /* Shared right operand (weights): the batch folds into the rows, one product. */
        s->m = m * batch;
        s->batch = 1;
    } else {
        s->m = m;
        s->batch = batch;
    }
    s->a_index = op_alloc_state(ctx, (size_t)s->batch * sizeof(int64_t));
    s->b_index = op_alloc_state(ctx, (size_t)s->batch * sizeof(int64_t));
    if (!s->a_index || !s->b_index)
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < s->batch && b->rank > 2; i++) {
        /* The multi-index of output batch i, mapped onto each operand (dims of 1 repeat). */
        int64_t rest = i, ia = 0, ib = 0, stride_a = 1, stride_b = 1;
        for (int d = out_batch.rank - 1; d >= 0; d--) {
            int64_t idx = rest % out_batch.dims[d];
            rest /= out_batch.dims[d];
            int da = d - (out_batch.rank - ba.rank), db = d - (out_batch.rank - bb.rank);
            if (da >= 0) {
                ia += (ba.dims[da] == 1 ? 0 : idx) * stride_a;
                stride_a *= ba.dims[da];
            }
            if (db >= 0) {
                ib += (bb.dims[db] == 1 ? 0 : idx) * stride_b;
                stride_b *= bb.dims[db];
            }
        }
        s->a_index[i] = ia;
        s->b_index[i] = ib;
    }
    ctx->state = s;
    ctx->n_tasks = s->batch;
    ctx->task_cost = s->m * s->n * s->k;
    return ONYX_OK;
}

static onyx_status matmul_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const matmul_state *s = ctx->state;
    const char *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;
    char *y = ctx->outputs[0]->data;
    onyx_dtype dt = ctx->inputs[0]->dtype;
    size_t a_mat = (size_t)(s->m * s->k) * s->elem, b_mat = (size_t)(s->k * s->n) * s->elem;
    size_t y_mat = (size_t)(s->m * s->n) * s->elem;
    for (int64_t i = begin; i < end; i++)
        product(dt, a + (size_t)s->a_index[i] * a_mat, b + (size_t)s->b_index[i] * b_mat, y + (size_t)i * y_mat,
                s->m, s->n, s->k);
    return ONYX_OK;
}

const op_descriptor op_MatMul = {matmul_check, matmul_reshape, matmul_run, 0};

/* ---- Gemm -------------------------------------------------------------------------------- */

typedef struct gemm_params {
    bool trans_a, trans_b;
    float alpha, beta;
} gemm_params;

typedef struct gemm_state {
    int64_t m, n, k;
    broadcast bias; /* C onto Y, when C is present */
} gemm_state;

static onyx_status gemm_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    for (int i = 0; i < 3 && !st; i++)
        st = op_check_input(ctx, i, i < 2, DT_FLOATS);
    for (int i = 1; i < 3 && !st; i++)
        st = op_check_same_dtype(ctx, 0, i);
    if (st)
        return st;
    gemm_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t ta, tb;
    if ((st = op_attr_int(ctx, "transA", 0, &ta)) || (st = op_attr_int(ctx, "transB", 0, &tb)) ||
        (st = op_attr_float(ctx, "alpha", 1.0f, &p->alpha)) || (st = op_attr_float(ctx, "beta", 1.0f, &p->beta)))
        return st;
    /* Gemm-6's 'broadcast' attribute needs no reading: without it C had to have Y's shape,
     * a special case of the broadcasting done for every version. */
    p->trans_a = ta != 0;
    p->trans_b = tb != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status gemm_reshape(op_context *ctx)
{
    const gemm_params *p = ctx->params;
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1), *c = op_input(ctx, 2);
    onyx_tensor *y = op_output(ctx, 0);
    char sa[128], sb[128];
    if (a->rank != 2 || b->rank != 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "A and B must be 2-D, got %s and %s",
                        shape_str(a, sa, sizeof sa), shape_str(b, sb, sizeof sb));
    int64_t m = a->dims[p->trans_a ? 1 : 0], k = a->dims[p->trans_a ? 0 : 1];
    int64_t kb = b->dims[p->trans_b ? 1 : 0], n = b->dims[p->trans_b ? 0 : 1];
    if (!dim_may_equal(k, kb))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "inner dims differ: A %s%s, B %s%s",
                        shape_str(a, sa, sizeof sa), p->trans_a ? " transposed" : "",
                        shape_str(b, sb, sizeof sb), p->trans_b ? " transposed" : "");
    y->rank = 2;
    y->dims[0] = m;
    y->dims[1] = n;
    if (c) {
        /* C broadcasts one way: onto Y's shape. */
        onyx_tensor tmp;
        const onyx_tensor *both[2] = {y, c};
        onyx_status st = broadcast_shape(ctx, 2, both, &tmp);
        if (st)
            return st;
        if (tmp.rank != 2 || !dim_may_equal(tmp.dims[0], m) || !dim_may_equal(tmp.dims[1], n))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "C %s does not broadcast to [%lld,%lld]",
                            shape_str(c, sa, sizeof sa), (long long)m, (long long)n);
    }
    if (!ctx->concrete)
        return ONYX_OK;
    gemm_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->m = m;
    s->n = n;
    s->k = k;
    if (c) {
        const onyx_tensor *ins[1] = {c};
        broadcast_init(&s->bias, 1, ins, y);
    }
    ctx->state = s;
    ctx->task_cost = m * n * k;
    return ONYX_OK;
}

static onyx_status gemm_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const gemm_params *p = ctx->params;
    const gemm_state *s = ctx->state;
    const onyx_tensor *a = ctx->inputs[0], *b = ctx->inputs[1], *c = op_input(ctx, 2);
    onyx_tensor *y = ctx->outputs[0];
    bool f32 = a->dtype == ONYX_DTYPE_FLOAT;
    double beta = c && p->beta != 0.0f ? p->beta : 0.0;
    if (beta != 0.0) {
        /* Y = beta * C (broadcast), then accumulate the product onto it. */
        for (int64_t row = 0; row < s->bias.rows; row++) {
            int64_t off;
            broadcast_row(&s->bias, row, &off);
            for (int64_t j = 0; j < s->bias.inner; j++) {
                int64_t src = off + j * s->bias.step[0], dst = row * s->bias.inner + j;
                if (f32)
                    ((float *)y->data)[dst] = (float)beta * ((const float *)c->data)[src];
                else
                    ((double *)y->data)[dst] = beta * ((const double *)c->data)[src];
            }
        }
    }
    int64_t lda = p->trans_a ? s->m : s->k, ldb = p->trans_b ? s->k : s->n;
    if (f32)
        gemm_f32(p->trans_a, p->trans_b, s->m, s->n, s->k, p->alpha, a->data, lda, b->data, ldb,
                 beta != 0.0 ? 1.0f : 0.0f, y->data, s->n);
    else
        gemm_f64(p->trans_a, p->trans_b, s->m, s->n, s->k, p->alpha, a->data, lda, b->data, ldb,
                 beta != 0.0 ? 1.0 : 0.0, y->data, s->n);
    return ONYX_OK;
}

const op_descriptor op_Gemm = {gemm_check, gemm_reshape, gemm_run, 0};
