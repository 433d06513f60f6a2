/* MatMul (numpy semantics: 1-D operands promoted and squeezed, batch dims broadcast) and
 * Gemm (2-D, transposes, alpha/beta, bias broadcast onto the output).
 *
 * float32 products run on the tiled GEMM of gemm.h: a right operand that is a constant of
 * the model (weights) is packed once in check, each product is planned in reshape, and the
 * tasks are tiles of the output (times the batch), so any thread count gives the same bits.
 * float16 and bfloat16 products run on the same kernels: each task widens blocks of its
 * operands to float32 in scratch, sums in float32 and rounds each output element once.
 * With onyx_options_set_precision's ONYX_PRECISION_BF16, on a processor with AVX512-BF16, a
 * float32 product with constant weights runs on the bfloat16 GEMM of gemm_bf16.h instead (the
 * weights rounded and packed once in check, the other operand rounded as it is packed). */
#include "broadcast.h"
#include "count.h"
#include "gemm.h"
#include "gemm_bf16.h"
#include "half.h"
#include "matmul_shape.h"

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

/* One whole product of the batch in float64 or integers: c (m x n) = a (m x k) * b (k x n),
 * all contiguous. */
static void product(onyx_dtype dt, const void *a, const void *b, void *c, int64_t m, int64_t n, int64_t k)
{
    if (dt == ONYX_DTYPE_DOUBLE)
        gemm_f64(false, false, m, n, k, 1.0, a, k, b, n, 0.0, c, n);
    else
        int_matmul(dt)(a, b, c, m, n, k);
}

/* ---- float16 and bfloat16 products ------------------------------------------------------- */

/* The block of C one task computes, and the passes over k: the operands' blocks widened to
 * float32 (HALF_BM x HALF_KC of A, HALF_KC x HALF_BN of B) and C's block take 224 KiB of
 * scratch, and widening costs (HALF_BM + HALF_BN) / (HALF_BM * HALF_BN), about 2%, of the
 * multiply-adds. */
#define HALF_BM 64
#define HALF_BN 128
#define HALF_KC 256
#define HALF_SCRATCH_FLOATS (HALF_BM * HALF_KC + HALF_KC * HALF_BN + HALF_BM * HALF_BN)

static bool is_half(onyx_dtype dt) { return dt == ONYX_DTYPE_FLOAT16 || dt == ONYX_DTYPE_BFLOAT16; }

/* rows x cols of a 16-bit matrix (rows ld apart) widened into dense floats. */
static void widen_block(onyx_dtype dt, const uint16_t *src, int64_t ld, int64_t rows, int64_t cols,
                        float *dst)
{
    for (int64_t r = 0; r < rows; r++, src += ld, dst += cols)
        half_widen(dst, dt == ONYX_DTYPE_BFLOAT16, src, 1, cols);
}

/* Rows [i0, i1) and columns [j0, j1) of c (m x n) = a (m x k) * b (k x n), all contiguous, of
 * a 16-bit dtype: the sums in float32 over k in passes of HALF_KC (the same order whatever
 * the block), each result rounded to nearest even once. */
static void half_product_block(onyx_dtype dt, const uint16_t *a, const uint16_t *b, uint16_t *c, int64_t n,
                               int64_t k, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float *scratch)
{
    int64_t rows = i1 - i0, cols = j1 - j0;
    float *wa = scratch, *wb = wa + HALF_BM * HALF_KC, *wc = wb + HALF_KC * HALF_BN;
    if (k == 0)
        memset(wc, 0, (size_t)(rows * cols) * sizeof(float));
    for (int64_t p = 0; p < k; p += HALF_KC) {
        int64_t kc = OP_MIN(HALF_KC, k - p);
        widen_block(dt, a + i0 * k + p, k, rows, kc, wa);
        widen_block(dt, b + p * n + j0, n, kc, cols, wb);
        gemm_f32(false, false, rows, cols, kc, 1.0f, wa, kc, wb, cols, p ? 1.0f : 0.0f, wc, cols);
    }
    for (int64_t i = 0; i < rows; i++)
        half_narrow(c + (i0 + i) * n + j0, dt == ONYX_DTYPE_BFLOAT16, wc + i * cols, cols);
}

/* ---- constant right operands, packed at load ---------------------------------------------- */

/* A constant right operand packed in check: for the float32 kernels, or rounded to bfloat16
 * for the bfloat16 GEMM (ONYX_PRECISION_BF16), or neither (both NULL). */
typedef struct packed_weights {
    const gemm_packed_b *f32;
    const gemm_bf16_packed_b *bf16;
} packed_weights;

/* Packs op(b) (k x n), a constant of the model, for the best kernel into memory owned by the
 * model's params: both stay NULL when there is nothing to gain (not a float32 constant, too
 * narrow to fill vectors, or the node will be folded anyway because a is constant too). The
 * packed copy is held besides the initializer: k x n, n rounded up to whole vectors (in
 * bfloat16 when the model is loaded with ONYX_PRECISION_BF16 and the processor has
 * AVX512-BF16, the only case where the bfloat16 GEMM runs). */
static onyx_status pack_constant_b(op_context *ctx, const onyx_tensor *a, const onyx_tensor *b, bool trans_b,
                                   packed_weights *packed)
{
    const gemm_kernel *kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    *packed = (packed_weights){0};
    if (b->dtype != ONYX_DTYPE_FLOAT || !b->data || a->data || b->rank != 2)
        return ONYX_OK;
    int64_t k = b->dims[trans_b ? 1 : 0], n = b->dims[trans_b ? 0 : 1];
    if (!gemm_pack_b_pays(kernel, n))
        return ONYX_OK;
    if (op_precision(ctx) == ONYX_PRECISION_BF16 && gemm_bf16_supported()) {
        size_t bytes = gemm_bf16_packed_b_bytes(k, n);
        gemm_bf16_packed_b *result = op_alloc_params(ctx, sizeof *result);
        void *memory = result && bytes != SIZE_MAX ? op_alloc_params_uninit(ctx, bytes) : NULL;
        if (!memory)
            return ONYX_ERROR_OUT_OF_MEMORY;
        gemm_bf16_pack_b(result, trans_b, k, n, b->data, b->dims[1], memory);
        packed->bf16 = result;
        ctx->released_inputs |= 1u << 1;
        return ONYX_OK;
    }
    size_t bytes = gemm_packed_b_bytes(kernel, k, n);
    gemm_packed_b *result = op_alloc_params(ctx, sizeof *result);
    void *memory = result && bytes != SIZE_MAX ? op_alloc_params_uninit(ctx, bytes) : NULL;
    if (!memory)
        return ONYX_ERROR_OUT_OF_MEMORY;
    gemm_pack_b(result, kernel, trans_b, k, n, b->data, b->dims[1], memory);
    packed->f32 = result;
    ctx->released_inputs |= 1u << 1; /* runs read the packed copy only */
    return ONYX_OK;
}

/* ---- float32 products: the float32 or the bfloat16 GEMM ------------------------------------ */

typedef struct f32_plan {
    bool bf16;          /* the weights are packed for the bfloat16 GEMM: bf16_plan, else plan */
    gemm_plan plan;
    gemm_bf16_plan bf16_plan;
} f32_plan;

static void f32_plan_init(f32_plan *fp, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
                          const packed_weights *w)
{
    fp->bf16 = w->bf16 != NULL;
    if (fp->bf16)
        gemm_bf16_plan_init(&fp->bf16_plan, m, trans_a, w->bf16);
    else
        gemm_plan_init(&fp->plan, NULL, m, n, k, trans_a, trans_b, w->f32);
}

/* The plan's tasks, cost and scratch, into ctx (reshape). */
static void f32_plan_size(op_context *ctx, const f32_plan *fp)
{
    ctx->n_tasks = fp->bf16 ? gemm_bf16_plan_tasks(&fp->bf16_plan) : gemm_plan_tasks(&fp->plan);
    ctx->task_cost = fp->bf16 ? gemm_bf16_plan_task_cost(&fp->bf16_plan) : gemm_plan_task_cost(&fp->plan);
    ctx->scratch_bytes = fp->bf16 ? fp->bf16_plan.scratch_bytes : fp->plan.scratch_bytes;
}

static void f32_run(const f32_plan *fp, const gemm_args *args, int64_t begin, int64_t end, void *scratch)
{
    if (fp->bf16)
        gemm_bf16_run(&fp->bf16_plan, args, begin, end, scratch);
    else
        gemm_run(&fp->plan, args, begin, end, scratch);
}

static void f32_task_block(const f32_plan *fp, int64_t task, int64_t *i0, int64_t *i1, int64_t *j0,
                           int64_t *j1)
{
    if (fp->bf16)
        gemm_bf16_task_block(&fp->bf16_plan, task, i0, i1, j0, j1);
    else
        gemm_task_block(&fp->plan, task, i0, i1, j0, j1);
}

/* ---- MatMul ------------------------------------------------------------------------------ */

#define MATMUL_DTYPES                                                                          \
    (DT_FLOATS | DT(FLOAT16) | DT(BFLOAT16) | DT(INT32) | DT(INT64) | DT(UINT32) | DT(UINT64))

typedef struct matmul_params {
    packed_weights packed_b;       /* B, when constant and worth packing */
    gemm_activation activation;    /* onyx.FusedMatMul: applied after the bias */
} matmul_params;

typedef struct matmul_state {
    int64_t m, n, k, batch;
    int64_t *a_index, *b_index; /* per output batch: which A and B matrix */
    size_t elem;
    f32_plan plan;              /* float32: the tiles of one product */
    int64_t tiles;              /* tasks per product (1 for float64 and integers) */
    int64_t tiles_n;            /* float16, bfloat16: blocks of HALF_BN columns per row of blocks */
    const struct residual_broadcast *residual_broadcast; /* FusedMatMul: see there */
} matmul_state;

/* Input types, params, and B packed when it is a constant: shared by MatMul and FusedMatMul. */
static onyx_status matmul_setup(op_context *ctx)
{
    onyx_status st = op_check_input(ctx, 0, true, MATMUL_DTYPES);
    if (!st)
        st = op_check_input(ctx, 1, true, MATMUL_DTYPES);
    if (!st)
        st = op_check_same_dtype(ctx, 0, 1);
    if (st)
        return st;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    matmul_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->params = p;
    return pack_constant_b(ctx, op_input(ctx, 0), op_input(ctx, 1), false, &p->packed_b);
}

static onyx_status matmul_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    return st ? st : matmul_setup(ctx);
}

static onyx_status matmul_reshape(op_context *ctx)
{
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1);
    onyx_tensor *y = op_output(ctx, 0);
    matmul_dims dims;
    onyx_status st = matmul_shape(ctx, 0, 1, &dims, y);
    if (st)
        return st;
    int64_t m = dims.m, k = dims.k, n = dims.n;
    const onyx_tensor ba = dims.batch_a, bb = dims.batch_b;
    if (!ctx->concrete)
        return ONYX_OK;

    matmul_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->n = n;
    s->k = k;
    s->elem = onyx_dtype_size(a->dtype);
    const onyx_tensor out_batch = dims.batch;
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
    if (a->dtype == ONYX_DTYPE_FLOAT) {
        const matmul_params *p = ctx->params;
        f32_plan_init(&s->plan, s->m, s->n, s->k, false, false, &p->packed_b);
        f32_plan_size(ctx, &s->plan);
        s->tiles = ctx->n_tasks;
    } else if (is_half(a->dtype)) {
        s->tiles_n = OP_MAX(ceil_div(s->n, HALF_BN), 1);
        s->tiles = ceil_div(s->m, HALF_BM) * s->tiles_n;
        ctx->task_cost = OP_MIN(s->m, HALF_BM) * OP_MIN(s->n, HALF_BN) * OP_MAX(s->k, 1);
        ctx->scratch_bytes = HALF_SCRATCH_FLOATS * sizeof(float);
    } else {
        s->tiles = 1;
        ctx->task_cost = s->m * s->n * s->k;
    }
    ctx->n_tasks = s->batch * s->tiles;
    return ONYX_OK;
}

/* Task t is tile t % tiles of product t / tiles. */
static onyx_status matmul_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const matmul_state *s = ctx->state;
    const char *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;
    char *y = ctx->outputs[0]->data;
    onyx_dtype dt = ctx->inputs[0]->dtype;
    size_t a_mat = (size_t)(s->m * s->k) * s->elem, b_mat = (size_t)(s->k * s->n) * s->elem;
    size_t y_mat = (size_t)(s->m * s->n) * s->elem;
    for (int64_t task = begin; task < end;) {
        int64_t i = task / s->tiles, first = task - i * s->tiles, stop = OP_MIN(s->tiles, end - i * s->tiles);
        /* B has no data of its own when its packed copy replaced it (a constant B). */
        const char *ai = a + (size_t)s->a_index[i] * a_mat, *bi = b ? b + (size_t)s->b_index[i] * b_mat : NULL;
        char *yi = y + (size_t)i * y_mat;
        if (dt == ONYX_DTYPE_FLOAT) {
            gemm_args args = {.a = (const float *)ai, .lda = s->k, .b = (const float *)bi, .ldb = s->n,
                              .c = (float *)yi, .ldc = s->n, .alpha = 1.0f};
            f32_run(&s->plan, &args, first, stop, scratch);
        } else if (is_half(dt)) {
            for (int64_t t = first; t < stop; t++) {
                int64_t i0 = t / s->tiles_n * HALF_BM, j0 = t % s->tiles_n * HALF_BN;
                half_product_block(dt, (const uint16_t *)ai, (const uint16_t *)bi, (uint16_t *)yi, s->n, s->k,
                                   i0, OP_MIN(i0 + HALF_BM, s->m), j0, OP_MIN(j0 + HALF_BN, s->n), scratch);
            }
        } else {
            product(dt, ai, bi, yi, s->m, s->n, s->k);
        }
        task = i * s->tiles + stop;
    }
    return ONYX_OK;
}

const op_descriptor op_MatMul = {matmul_check, matmul_reshape, matmul_run, 0};

/* ---- onyx.FusedMatMul ---------------------------------------------------------------------- */

/* MatMul(A, B) + bias, then an activation, then + residual, all in the GEMM's epilogue: made
 * by the fusion pass (runtime/passes.c) from MatMul -> Add -> Relu/Gelu -> Add chains.
 * Inputs: A, B (rank 2), optional bias [n], optional residual of the output's shape. float32. */
static onyx_status fused_matmul_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 4, 1, 1);
    for (int i = 0; i < 4 && !st; i++)
        st = op_check_input(ctx, i, i < 2, DT(FLOAT));
    int64_t activation = 0;
    if (!st)
        st = op_attr_int(ctx, "activation", 0, &activation);
    if (st)
        return st;
    if (activation < GEMM_ACTIVATION_NONE || activation > GEMM_ACTIVATION_GELU_TANH)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "unknown activation %lld", (long long)activation);
    if ((st = matmul_setup(ctx)))
        return st;
    ((matmul_params *)ctx->params)->activation = (gemm_activation)activation;
    return ONYX_OK;
}

/* A residual whose concrete shape turns out smaller than the output (the pass could only see
 * symbolic shapes): added after the product, broadcast, instead of in the epilogue. */
typedef struct residual_broadcast {
    int rank;
    int64_t dims[ONYX_MAX_RANK];    /* the output's */
    int64_t strides[ONYX_MAX_RANK]; /* the residual's, 0 where it repeats */
} residual_broadcast;

static onyx_status fused_matmul_reshape(op_context *ctx)
{
    const onyx_tensor *b = op_input(ctx, 1), *bias = op_input(ctx, 2), *residual = op_input(ctx, 3);
    if (b->rank != 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "B must be 2-D");
    onyx_status st = matmul_reshape(ctx);
    if (st)
        return st;
    const onyx_tensor *y = op_output(ctx, 0);
    char sy[128], sr[128];
    if (bias && (bias->rank != 1 || !dim_may_equal(bias->dims[0], b->dims[1])))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "bias must have B's %lld columns", (long long)b->dims[1]);
    /* The residual broadcasts onto the output, never the other way. */
    bool fits = !residual || residual->rank == y->rank;
    for (int d = 0; fits && residual && d < y->rank; d++)
        fits = dim_may_equal(residual->dims[d], y->dims[d]) || residual->dims[d] == 1;
    if (!fits)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "residual %s does not broadcast onto the product's shape %s "
                        "(load with optimization off to run this graph unfused)",
                        shape_str(residual, sr, sizeof sr), shape_str(y, sy, sizeof sy));
    if (!ctx->concrete || !residual || !memcmp(residual->dims, y->dims, (size_t)y->rank * sizeof(int64_t)))
        return ONYX_OK;
    const onyx_tensor *pair[2] = {y, residual};
    onyx_tensor joined;
    if ((st = broadcast_shape(ctx, 2, pair, &joined)))
        return st;
    residual_broadcast *rb = op_alloc_state(ctx, sizeof *rb);
    if (!rb)
        return ONYX_ERROR_OUT_OF_MEMORY;
    rb->rank = y->rank;
    int64_t stride = 1;
    for (int d = y->rank - 1; d >= 0; d--) {
        rb->dims[d] = y->dims[d];
        rb->strides[d] = residual->dims[d] == 1 ? 0 : stride;
        stride *= residual->dims[d];
    }
    ((matmul_state *)ctx->state)->residual_broadcast = rb;
    return ONYX_OK;
}

/* Adds a broadcast residual to rows [i0, i1) and columns [j0, j1) of y (m x n). */
static void add_residual_broadcast(const residual_broadcast *rb, const float *residual, float *y, int64_t n,
                                   int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    int64_t col_stride = rb->strides[rb->rank - 1];
    for (int64_t i = i0; i < i1; i++) {
        int64_t off = 0, rest = i;
        for (int d = rb->rank - 2; d >= 0; d--) {
            off += (rest % rb->dims[d]) * rb->strides[d];
            rest /= rb->dims[d];
        }
        for (int64_t j = j0; j < j1; j++)
            y[i * n + j] += residual[off + j * col_stride];
    }
}

static onyx_status fused_matmul_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const matmul_params *p = ctx->params;
    const matmul_state *s = ctx->state;
    const onyx_tensor *bias = op_input(ctx, 2), *residual = op_input(ctx, 3);
    const residual_broadcast *rb = s->residual_broadcast;
    gemm_args args = {.a = ctx->inputs[0]->data, .lda = s->k, .b = ctx->inputs[1]->data, .ldb = s->n,
                      .c = ctx->outputs[0]->data, .ldc = s->n, .alpha = 1.0f,
                      .epilogue = {.bias = bias ? bias->data : NULL, .activation = p->activation,
                                   .residual = residual && !rb ? residual->data : NULL, .ld_residual = s->n}};
    if (!rb) {
        f32_run(&s->plan, &args, begin, end, scratch);
        return ONYX_OK;
    }
    for (int64_t t = begin; t < end; t++) {
        int64_t i0, i1, j0, j1;
        f32_run(&s->plan, &args, t, t + 1, scratch);
        f32_task_block(&s->plan, t, &i0, &i1, &j0, &j1);
        add_residual_broadcast(rb, residual->data, args.c, s->n, i0, i1, j0, j1);
    }
    return ONYX_OK;
}

const op_descriptor op_FusedMatMul = {fused_matmul_check, fused_matmul_reshape, fused_matmul_run, 0};

/* ---- Gemm -------------------------------------------------------------------------------- */

typedef struct gemm_params {
    bool trans_a, trans_b;
    float alpha, beta;
    packed_weights packed_b; /* B, when constant and worth packing */
} gemm_params;

/* How C joins the product. */
typedef enum c_use {
    C_UNUSED,   /* absent, or beta = 0 */
    C_BIAS,     /* one value per column and beta = 1: the epilogue's bias */
    C_RESIDUAL, /* Y's shape and beta = 1: the epilogue's residual */
    C_PREFILL,  /* otherwise: Y = beta * C first, the product accumulated onto it */
} c_use;

typedef struct gemm_state {
    int64_t m, n, k;
    int64_t c_rows, c_cols; /* C's dims as a matrix broadcast onto m x n (1 = repeated) */
    c_use c;
    f32_plan plan; /* float32 */
} gemm_state;

static onyx_status gemm_op_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 2, DT_FLOATS);
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
    return pack_constant_b(ctx, op_input(ctx, 0), op_input(ctx, 1), p->trans_b, &p->packed_b);
}

static c_use choose_c_use(const gemm_params *p, const gemm_state *s, const onyx_tensor *c, bool f32)
{
    if (!c || p->beta == 0.0f)
        return C_UNUSED;
    if (f32 && p->beta == 1.0f && s->c_rows == 1 && s->c_cols == s->n)
        return C_BIAS;
    if (f32 && p->beta == 1.0f && s->c_rows == s->m && s->c_cols == s->n)
        return C_RESIDUAL;
    return C_PREFILL;
}

static onyx_status gemm_op_reshape(op_context *ctx)
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
    s->c_rows = c && c->rank == 2 ? c->dims[0] : 1;
    s->c_cols = c && c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    bool f32 = a->dtype == ONYX_DTYPE_FLOAT;
    s->c = choose_c_use(p, s, c, f32);
    ctx->state = s;
    if (f32) {
        f32_plan_init(&s->plan, m, n, k, p->trans_a, p->trans_b, &p->packed_b);
        f32_plan_size(ctx, &s->plan);
    } else {
        ctx->task_cost = m * n * k;
    }
    return ONYX_OK;
}

/* Y[i0:i1, j0:j1] = beta * C, C's dims of 1 repeated. */
static void fill_beta_c(const gemm_state *s, const onyx_tensor *c, onyx_tensor *y, double beta, int64_t i0,
                        int64_t i1, int64_t j0, int64_t j1)
{
    int64_t row_step = s->c_rows == 1 ? 0 : s->c_cols, col_step = s->c_cols == 1 ? 0 : 1;
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) {
            int64_t src = i * row_step + j * col_step, dst = i * s->n + j;
            if (y->dtype == ONYX_DTYPE_FLOAT)
                ((float *)y->data)[dst] = (float)beta * ((const float *)c->data)[src];
            else
                ((double *)y->data)[dst] = beta * ((const double *)c->data)[src];
        }
}

static onyx_status gemm_op_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const gemm_params *p = ctx->params;
    const gemm_state *s = ctx->state;
    const onyx_tensor *a = ctx->inputs[0], *b = ctx->inputs[1], *c = op_input(ctx, 2);
    onyx_tensor *y = ctx->outputs[0];
    int64_t lda = p->trans_a ? s->m : s->k, ldb = p->trans_b ? s->k : s->n;
    if (a->dtype == ONYX_DTYPE_DOUBLE) {
        if (s->c == C_PREFILL)
            fill_beta_c(s, c, y, p->beta, 0, s->m, 0, s->n);
        gemm_f64(p->trans_a, p->trans_b, s->m, s->n, s->k, p->alpha, a->data, lda, b->data, ldb,
                 s->c == C_PREFILL ? 1.0 : 0.0, y->data, s->n);
        return ONYX_OK;
    }
    gemm_args args = {.a = a->data, .lda = lda, .b = b->data, .ldb = ldb, .c = y->data, .ldc = s->n,
                      .alpha = p->alpha, .beta = s->c == C_PREFILL ? 1.0f : 0.0f};
    if (s->c == C_BIAS)
        args.epilogue.bias = c->data;
    if (s->c == C_RESIDUAL) {
        args.epilogue.residual = c->data;
        args.epilogue.ld_residual = s->n;
    }
    for (int64_t task = begin; task < end; task++) {
        if (s->c == C_PREFILL) {
            int64_t i0, i1, j0, j1;
            f32_task_block(&s->plan, task, &i0, &i1, &j0, &j1);
            fill_beta_c(s, c, y, p->beta, i0, i1, j0, j1);
        }
        f32_run(&s->plan, &args, task, task + 1, scratch);
    }
    return ONYX_OK;
}

const op_descriptor op_Gemm = {gemm_op_check, gemm_op_reshape, gemm_op_run, 0};
