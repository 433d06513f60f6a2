/* Products of 8-bit matrices with numpy matmul semantics (1-D operands promoted, batch dims
 * broadcast): MatMulInteger, the exact int32 product of the operands minus their zero
 * points, and QLinearMatMul, that product rescaled and quantized again.
 *
 * A's quantization parameters are per tensor, per row ([M], or [..., M, 1] with A's batch
 * dims) and B's per tensor or per column ([N], or [..., 1, N]). Sums wrap modulo 2^32: the
 * specification allows the accumulation to overflow in 32 bits. */
#include "broadcast.h"
#include "gemm.h" /* gemm_activation */
#include "half.h"
#include "matmul_shape.h"
#include "qgemm.h"
#include "quantize.h"

#include <string.h>

/* How a quantization parameter tensor is indexed for row m of A (column n of B). */
typedef enum param_layout {
    PARAM_PER_TENSOR,     /* one value */
    PARAM_PER_VECTOR,     /* [M]: value m, shared by every matrix of the batch */
    PARAM_PER_MATRIX,     /* [..., M, 1]: value (matrix * M + m) */
} param_layout;

/* Where each operand's parameters are among the node's inputs (-1: none). */
typedef struct qmatmul_inputs {
    int a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point;
} qmatmul_inputs;

static const qmatmul_inputs matmul_integer_inputs = {0, -1, 2, 1, -1, 3, -1, -1};
static const qmatmul_inputs qlinear_matmul_inputs = {0, 1, 2, 3, 4, 5, 6, 7};

typedef struct qmatmul_state {
    int64_t m, n, k;
    broadcast batch; /* output matrix -> A's and B's matrix */
    param_layout a_layout, b_layout;
} qmatmul_state;

/* ---- check ------------------------------------------------------------------------------- */

/* The scales' dtypes: float; from QLinearMatMul-21 on also float16 and bfloat16 (all three
 * scales of one dtype). */
static uint32_t scale_dtypes(const op_context *ctx)
{
    return ctx->opset >= 21 ? DT(FLOAT) | DT(FLOAT16) | DT(BFLOAT16) : DT(FLOAT);
}

static onyx_status check_operand(const op_context *ctx, int data, int scale, int zero_point, bool required)
{
    onyx_status st = op_check_input(ctx, data, true, DT(UINT8) | DT(INT8));
    if (!st && scale >= 0)
        st = op_check_input(ctx, scale, required, scale_dtypes(ctx));
    if (!st && zero_point >= 0)
        st = op_check_input(ctx, zero_point, required, DT(UINT8) | DT(INT8));
    if (!st && zero_point >= 0)
        st = op_check_same_dtype(ctx, zero_point, data);
    return st;
}

static onyx_status matmul_integer_check(op_context *ctx)
{
    const qmatmul_inputs *in = &matmul_integer_inputs;
    onyx_status st = op_check_arity(ctx, 2, 4, 1, 1);
    if (!st)
        st = check_operand(ctx, in->a, -1, in->a_zero_point, false);
    if (!st)
        st = check_operand(ctx, in->b, -1, in->b_zero_point, false);
    if (!st)
        op_set_output_dtypes(ctx, ONYX_DTYPE_INT32);
    return st;
}

static onyx_status qlinear_matmul_check(op_context *ctx)
{
    const qmatmul_inputs *in = &qlinear_matmul_inputs;
    onyx_status st = op_check_arity(ctx, 8, 8, 1, 1);
    if (!st)
        st = check_operand(ctx, in->a, in->a_scale, in->a_zero_point, true);
    if (!st)
        st = check_operand(ctx, in->b, in->b_scale, in->b_zero_point, true);
    if (!st)
        st = op_check_input(ctx, in->y_scale, true, scale_dtypes(ctx));
    if (!st)
        st = op_check_same_dtype(ctx, in->b_scale, in->a_scale);
    if (!st)
        st = op_check_same_dtype(ctx, in->y_scale, in->a_scale);
    if (!st)
        st = op_check_input(ctx, in->y_zero_point, true, DT(UINT8) | DT(INT8));
    if (!st)
        op_set_output_dtypes(ctx, op_input(ctx, in->y_zero_point)->dtype);
    return st;
}

/* ---- reshape ----------------------------------------------------------------------------- */

static bool dims_may_equal(const onyx_tensor *t, int rank, const int64_t *dims)
{
    bool same = t->rank == rank;
    for (int i = 0; same && i < rank; i++)
        same = dim_may_equal(t->dims[i], dims[i]);
    return same;
}

/* The layout of parameter input `param` of `operand` (rank >= 1), whose rows (A) or columns
 * (B) number `len`; `per_row` for A. */
static onyx_status param_layout_of(const op_context *ctx, int param, const onyx_tensor *operand, int64_t len,
                                   bool per_row, param_layout *layout)
{
    const onyx_tensor *t = op_input(ctx, param);
    *layout = PARAM_PER_TENSOR;
    bool one_value = true;
    for (int i = 0; t && i < t->rank; i++)
        one_value = one_value && dim_may_equal(t->dims[i], 1);
    if (!t || one_value)
        return ONYX_OK;
    if (dims_may_equal(t, 1, &len)) {
        *layout = PARAM_PER_VECTOR;
        return ONYX_OK;
    }
    /* One vector per matrix: the operand's shape with the reduced dim set to 1. */
    int64_t dims[ONYX_MAX_RANK];
    memcpy(dims, operand->dims, (size_t)operand->rank * sizeof dims[0]);
    if (operand->rank >= 2)
        dims[operand->rank - (per_row ? 1 : 2)] = 1;
    if (operand->rank >= 2 && dims_may_equal(t, operand->rank, dims)) {
        *layout = PARAM_PER_MATRIX;
        return ONYX_OK;
    }
    char st[128], so[128];
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s is neither a scalar nor per %s of '%s' %s",
                    op_input_name(ctx, param), shape_str(t, st, sizeof st), per_row ? "row" : "column",
                    op_input_name(ctx, per_row ? 0 : 1), shape_str(operand, so, sizeof so));
}

/* The operand's scale and zero point have one layout (their shapes must be the same). */
static onyx_status operand_layout(const op_context *ctx, int scale, int zero_point, const onyx_tensor *operand,
                                  int64_t len, bool per_row, param_layout *layout)
{
    onyx_status st = ONYX_OK;
    param_layout scale_layout = PARAM_PER_TENSOR;
    if (scale >= 0)
        st = param_layout_of(ctx, scale, operand, len, per_row, &scale_layout);
    if (!st)
        st = param_layout_of(ctx, zero_point, operand, len, per_row, layout);
    if (!st && scale >= 0 && scale_layout != *layout)
        st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' and '%s' differ in shape", op_input_name(ctx, scale),
                      op_input_name(ctx, zero_point));
    return st;
}

static onyx_status qmatmul_reshape(op_context *ctx, const qmatmul_inputs *in)
{
    const onyx_tensor *a = op_input(ctx, in->a), *b = op_input(ctx, in->b);
    onyx_tensor *y = op_output(ctx, 0);
    char sa[128];
    matmul_dims dims;
    onyx_status st = matmul_shape(ctx, in->a, in->b, &dims, y);
    if (st)
        return st;
    int64_t m = dims.m, k = dims.k, n = dims.n;
    const onyx_tensor *batches[2] = {&dims.batch_a, &dims.batch_b}, batch_y = dims.batch;

    param_layout a_layout, b_layout;
    if ((st = operand_layout(ctx, in->a_scale, in->a_zero_point, a, m, true, &a_layout)) ||
        (st = operand_layout(ctx, in->b_scale, in->b_zero_point, b, n, false, &b_layout)))
        return st;
    for (int i = 0; i < 2 && in->y_scale >= 0; i++) {
        const onyx_tensor *t = op_input(ctx, i ? in->y_zero_point : in->y_scale);
        if (t->rank > 1 || (t->rank == 1 && !dim_may_equal(t->dims[0], 1)))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s must be a scalar",
                            op_input_name(ctx, i ? in->y_zero_point : in->y_scale), shape_str(t, sa, sizeof sa));
    }
    if (!ctx->concrete)
        return ONYX_OK;

    qmatmul_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->m = m;
    s->n = n;
    s->k = k;
    s->a_layout = a_layout;
    s->b_layout = b_layout;
    broadcast_init(&s->batch, 2, batches, &batch_y);
    ctx->state = s;
    ctx->n_tasks = shape_count(batch_y.dims, batch_y.rank) * m;
    ctx->task_cost = n * k;
    ctx->scratch_bytes = (size_t)n * sizeof(uint32_t);
    return ONYX_OK;
}

static onyx_status matmul_integer_reshape(op_context *ctx) { return qmatmul_reshape(ctx, &matmul_integer_inputs); }
static onyx_status qlinear_matmul_reshape(op_context *ctx) { return qmatmul_reshape(ctx, &qlinear_matmul_inputs); }

/* ---- run --------------------------------------------------------------------------------- */

static int64_t param_index(param_layout layout, int64_t matrix, int64_t len, int64_t i)
{
    return layout == PARAM_PER_TENSOR ? 0 : layout == PARAM_PER_VECTOR ? i : matrix * len + i;
}

/* acc[j] += a * b[j] for j < n, wrapping. */
#define ACCUMULATE_ROW(T)                                                                      \
    static void accumulate_row_##T(uint32_t *restrict acc, int32_t a, const T *restrict b, int64_t n) \
    {                                                                                          \
        for (int64_t j = 0; j < n; j++)                                                        \
            acc[j] += (uint32_t)(a * (int32_t)b[j]);                                           \
    }
ACCUMULATE_ROW(uint8_t)
ACCUMULATE_ROW(int8_t)

/* Output row `task` of the product: which matrices of A and B it reads, and which row. */
typedef struct qmatmul_row {
    int64_t a_matrix, b_matrix, row;
} qmatmul_row;

static qmatmul_row row_of(const qmatmul_state *s, int64_t task)
{
    int64_t matrix = task / s->m, offsets[2], within = matrix % s->batch.inner;
    broadcast_row(&s->batch, matrix / s->batch.inner, offsets);
    return (qmatmul_row){offsets[0] + within * s->batch.step[0], offsets[1] + within * s->batch.step[1],
                         task % s->m};
}

/* One row of the integer product: acc[j] = sum_k (a[k] - za) * (b[k][j] - zb_j), computed as
 * sum_k (a[k] - za) * b[k][j] - zb_j * sum_k (a[k] - za), so that B is read as it is. */
static void product_row(const op_context *ctx, const qmatmul_inputs *in, qmatmul_row r, uint32_t *acc)
{
    const qmatmul_state *s = ctx->state;
    const onyx_tensor *a = ctx->inputs[in->a], *b = ctx->inputs[in->b];
    const onyx_tensor *zb = op_input(ctx, in->b_zero_point);
    int32_t za = quant_load(op_input(ctx, in->a_zero_point), param_index(s->a_layout, r.a_matrix, s->m, r.row));
    int64_t a_base = (r.a_matrix * s->m + r.row) * s->k, b_base = r.b_matrix * s->k * s->n;
    memset(acc, 0, (size_t)s->n * sizeof *acc);
    uint32_t a_sum = 0;
    for (int64_t p = 0; p < s->k; p++) {
        int32_t av = quant_load(a, a_base + p) - za;
        a_sum += (uint32_t)av;
        if (b->dtype == ONYX_DTYPE_INT8)
            accumulate_row_int8_t(acc, av, (const int8_t *)b->data + b_base + p * s->n, s->n);
        else
            accumulate_row_uint8_t(acc, av, (const uint8_t *)b->data + b_base + p * s->n, s->n);
    }
    if (zb)
        for (int64_t j = 0; j < s->n; j++)
            acc[j] -= (uint32_t)quant_load(zb, param_index(s->b_layout, r.b_matrix, s->n, j)) * a_sum;
}

static onyx_status matmul_integer_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const qmatmul_state *s = ctx->state;
    int32_t *y = ctx->outputs[0]->data;
    const uint32_t *acc = scratch;
    for (int64_t t = begin; t < end; t++) {
        product_row(ctx, &matmul_integer_inputs, row_of(s, t), scratch);
        for (int64_t j = 0; j < s->n; j++)
            y[t * s->n + j] = (int32_t)acc[j]; /* modulo 2^32, as GCC defines it */
    }
    return ONYX_OK;
}

/* Scale i of a float, float16 or bfloat16 tensor, as a float (exact). */
static float scale_load(const onyx_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ONYX_DTYPE_FLOAT16: return half_to_float(((const uint16_t *)t->data)[i]);
    case ONYX_DTYPE_BFLOAT16: return bfloat16_to_float(((const uint16_t *)t->data)[i]);
    default: return ((const float *)t->data)[i];
    }
}

/* x rounded to the scales' dtype, as numpy rounds each step of arithmetic on them. */
static float scale_round(onyx_dtype dt, float x)
{
    switch (dt) {
    case ONYX_DTYPE_FLOAT16: return half_to_float(float_to_half(x));
    case ONYX_DTYPE_BFLOAT16: return bfloat16_to_float(float_to_bfloat16(x));
    default: return x;
    }
}

/* One output of QLinearMatMul from its int32 sum. */
static int32_t requantize_sum(int32_t acc, onyx_dtype scale_dt, float row_scale, float col_scale,
                              float y_scale,
                              int32_t y_zero_point, quant_range range)
{
    if (scale_dt == ONYX_DTYPE_FLOAT) {
        float multiplier = row_scale * col_scale / y_scale;
        return quantize_scaled((float)acc * multiplier, y_zero_point, range);
    }
    /* As ONNX's reference computes: the multiplier in the scales' dtype (each product and
     * quotient rounded to it), then the int32 sum times it in double (numpy promotes int32
     * times float16 to float64). */
    float product = scale_round(scale_dt, row_scale * col_scale);
    float multiplier = scale_round(scale_dt, product / y_scale);
    return quantize_scaled_double((double)acc * multiplier, y_zero_point, range);
}

static onyx_status qlinear_matmul_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const qmatmul_inputs *in = &qlinear_matmul_inputs;
    const qmatmul_state *s = ctx->state;
    const onyx_tensor *a_scale = ctx->inputs[in->a_scale], *b_scale = ctx->inputs[in->b_scale];
    float y_scale = scale_load(ctx->inputs[in->y_scale], 0);
    int32_t y_zero_point = quant_load(ctx->inputs[in->y_zero_point], 0);
    onyx_tensor *y = ctx->outputs[0];
    quant_range range = quant_range_of(y->dtype);
    onyx_dtype scale_dt = a_scale->dtype;
    const uint32_t *acc = scratch;
    for (int64_t t = begin; t < end; t++) {
        qmatmul_row r = row_of(s, t);
        product_row(ctx, in, r, scratch);
        float row_scale = scale_load(a_scale, param_index(s->a_layout, r.a_matrix, s->m, r.row));
        for (int64_t j = 0; j < s->n; j++) {
            float col_scale = scale_load(b_scale, param_index(s->b_layout, r.b_matrix, s->n, j));
            int32_t q = requantize_sum((int32_t)acc[j], scale_dt, row_scale, col_scale, y_scale, y_zero_point,
                                       range);
            quant_store(y->data, t * s->n + j, y->dtype, q);
        }
    }
    return ONYX_OK;
}


/* ---- a constant 2-D B on the int8 GEMM --------------------------------------------------- */

/* B (a constant of the model) packed for the int8 GEMM, with its zero points and scales. */
typedef struct qconst_b {
    qgemm_packed_b packed;
    int64_t k, n;
    int32_t *zero_points;     /* NULL when absent */
    bool zp_per_column;
    float *scales;            /* onyx.QMatMul: one or n */
    bool scale_per_column;
    float *bias;              /* onyx.QMatMul: n values or NULL */
    gemm_activation activation; /* onyx.QMatMul: after the bias */
    bool requantize, y_signed;  /* onyx.QMatMul: y_scale and y_zero_point given */
    bool runtime_b;             /* onyx.QMatMul: B computed while running, packed on each run */
    float y_scale;
    int32_t y_zero_point;
} qconst_b;

/* The count of a parameter of B's columns: 1 (a scalar or [1]) or n ([n]); -1 otherwise. */
static int64_t column_param_count(const onyx_tensor *t, int64_t n)
{
    int64_t count = tensor_count(t);
    if (t->rank == 0 || (t->rank == 1 && count == 1))
        return 1;
    if (t->rank == 1 && count == n)
        return n;
    if (t->rank == 2 && t->dims[0] == 1 && t->dims[1] == n) /* [1, N]: per column, as MatMulInteger allows */
        return n;
    return -1;
}

/* Packs B (input b) and reads its zero point (input zp, or -1), both constants, into *out:
 * false (nothing recorded) when they are not constants the GEMM takes; an error is returned
 * only for memory. */
static onyx_status pack_qconst_b(op_context *ctx, int b, int zp, qconst_b **out, bool *taken)
{
    const onyx_tensor *tb = op_input(ctx, b), *tz = zp >= 0 ? op_input(ctx, zp) : NULL;
    *taken = false;
    if (!tb || !tb->data || tb->rank != 2 || (tz && !tz->data))
        return ONYX_OK;
    int64_t k = tb->dims[0], n = tb->dims[1], zp_count = tz ? column_param_count(tz, n) : 0;
    if (zp_count < 0)
        return ONYX_OK;
    size_t bytes = qgemm_packed_b_bytes(k, n);
    qconst_b *q = op_alloc_params(ctx, sizeof *q);
    void *memory = q && bytes != SIZE_MAX ? op_alloc_params_uninit(ctx, bytes) : NULL;
    int32_t *zps = tz && memory ? op_alloc_params(ctx, (size_t)zp_count * sizeof *zps) : NULL;
    if (!memory || (tz && !zps))
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int64_t j = 0; j < zp_count; j++)
        zps[j] = quant_load(tz, j);
    qgemm_pack_b(&q->packed, tb->data, tb->dtype == ONYX_DTYPE_INT8, k, n, n, memory);
    q->k = k;
    q->n = n;
    q->zero_points = zps;
    q->zp_per_column = zp_count > 1;
    *out = q;
    *taken = true;
    ctx->released_inputs |= 1u << b | (zp >= 0 ? 1u << zp : 0); /* runs read the copies only */
    return ONYX_OK;
}

/* MatMulInteger: its params say whether B is packed (NULL: the general path above). */
typedef struct matmul_integer_params {
    const qconst_b *b;
} matmul_integer_params;

typedef struct qgemm_state {
    qmatmul_state general; /* first: MatMulInteger's general path reads the state as this */
    qgemm_plan plan;
    bool fast;             /* MatMulInteger: the int8 GEMM (else the row-by-row product) */
} qgemm_state;

/* One value for all of A (absent, a scalar or [1], known at load): what the GEMM takes. The
 * packed path is chosen at load, since B's own data is released once packed. */
static bool per_tensor(const onyx_tensor *t)
{
    if (!t)
        return true;
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] != 1)
            return false;
    return t->rank >= 0;
}

/* The params of MatMulInteger and QLinearMatMul after their plain check: B (input b_input,
 * zero point zp_input, -1: none) packed for the int8 GEMM when `pack` holds and A is not a
 * constant scalar. */
static onyx_status packed_params(op_context *ctx, bool pack, int b_input, int zp_input)
{
    matmul_integer_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->params = p;
    qconst_b *b = NULL;
    bool taken;
    onyx_status st;
    if (pack && !op_input(ctx, 0)->data && op_input(ctx, 0)->rank != 0 &&
        (st = pack_qconst_b(ctx, b_input, zp_input, &b, &taken)))
        return st;
    p->b = b;
    return ONYX_OK;
}

/* The GEMM's plan over the packed B, after the plain reshape made the general state: B is 2-D,
 * so A's batch dims only repeat its rows and A is one (batch * m) x k matrix. NULL when out of
 * memory. */
static qgemm_state *plan_packed(op_context *ctx, const qconst_b *b)
{
    qgemm_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return NULL;
    s->general = *(const qmatmul_state *)ctx->state;
    ctx->state = s;
    const onyx_tensor *a = op_input(ctx, 0);
    s->fast = true;
    qgemm_plan_init(&s->plan, NULL, shape_count(a->dims, a->rank - 1), b->n, b->k);
    ctx->n_tasks = qgemm_plan_tasks(&s->plan);
    ctx->task_cost = qgemm_plan_task_cost(&s->plan);
    return s;
}

static onyx_status matmul_integer_check_packed(op_context *ctx)
{
    onyx_status st = matmul_integer_check(ctx);
    return st ? st : packed_params(ctx, per_tensor(op_input(ctx, 2)), 1, ctx->n_inputs > 3 ? 3 : -1);
}

static onyx_status matmul_integer_reshape_packed(op_context *ctx)
{
    const matmul_integer_params *p = ctx->params;
    onyx_status st = matmul_integer_reshape(ctx);
    if (st || !ctx->concrete || !p->b)
        return st;
    const qgemm_state *s = plan_packed(ctx, p->b);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->scratch_bytes = s->plan.scratch_bytes;
    return ONYX_OK;
}

static onyx_status matmul_integer_run_packed(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const matmul_integer_params *p = ctx->params;
    const qgemm_state *s = ctx->state;
    if (!p->b || !s->fast)
        return matmul_integer_run(ctx, begin, end, scratch);
    const onyx_tensor *a = ctx->inputs[0];
    qgemm_args args = {.a = a->data, .lda = p->b->k, .a_signed = a->dtype == ONYX_DTYPE_INT8,
                       .a_zero_point = quant_load(op_input(ctx, 2), 0), .b = &p->b->packed,
                       .b_zero_points = p->b->zero_points, .b_zp_per_column = p->b->zp_per_column,
                       .c32 = ctx->outputs[0]->data, .ldc = p->b->n};
    for (int64_t t = begin; t < end; t++)
        qgemm_run_task(&s->plan, t, &args, scratch);
    return ONYX_OK;
}

const op_descriptor op_MatMulInteger = {matmul_integer_check_packed, matmul_integer_reshape_packed,
                                        matmul_integer_run_packed, 0};

/* QLinearMatMul with a constant B the same way: the int32 sums of each task's block from the
 * GEMM into scratch, then requantized as above. */
static onyx_status qlinear_matmul_check_packed(op_context *ctx)
{
    onyx_status st = qlinear_matmul_check(ctx);
    return st ? st : packed_params(ctx, per_tensor(op_input(ctx, 1)) && per_tensor(op_input(ctx, 2)), 3, 5);
}

static onyx_status qlinear_matmul_reshape_packed(op_context *ctx)
{
    const matmul_integer_params *p = ctx->params;
    onyx_status st = qlinear_matmul_reshape(ctx);
    if (st || !ctx->concrete || !p->b)
        return st;
    const qgemm_state *s = plan_packed(ctx, p->b);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    size_t block = (size_t)(s->plan.tile_m * s->plan.tile_n) * sizeof(int32_t);
    ctx->scratch_bytes = s->plan.scratch_bytes + block + 64;
    return ONYX_OK;
}

static onyx_status qlinear_matmul_run_packed(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const matmul_integer_params *p = ctx->params;
    const qgemm_state *s = ctx->state;
    if (!p->b || !s->fast)
        return qlinear_matmul_run(ctx, begin, end, scratch);
    const qmatmul_inputs *in = &qlinear_matmul_inputs;
    const onyx_tensor *a = ctx->inputs[in->a], *a_scale = ctx->inputs[in->a_scale];
    const onyx_tensor *b_scale = ctx->inputs[in->b_scale];
    onyx_tensor *y = ctx->outputs[0];
    int32_t *block = scratch;
    size_t block_bytes = (size_t)(s->plan.tile_m * s->plan.tile_n) * sizeof(int32_t);
    void *gemm_scratch = (char *)scratch + (block_bytes + 63) / 64 * 64;
    qgemm_args args = {.a = a->data, .lda = p->b->k, .a_signed = a->dtype == ONYX_DTYPE_INT8,
                       .a_zero_point = quant_load(ctx->inputs[in->a_zero_point], 0), .b = &p->b->packed,
                       .b_zero_points = p->b->zero_points, .b_zp_per_column = p->b->zp_per_column,
                       .c32 = block,
                       .ldc = s->plan.tile_n, .c_local = true};
    float row_scale = scale_load(a_scale, 0), y_scale = scale_load(ctx->inputs[in->y_scale], 0);
    int32_t y_zero_point = quant_load(ctx->inputs[in->y_zero_point], 0);
    quant_range range = quant_range_of(y->dtype);
    bool per_column = tensor_count(b_scale) > 1;
    for (int64_t t = begin; t < end; t++) {
        int64_t i0, i1, j0, j1;
        qgemm_task_block(&s->plan, t, &i0, &i1, &j0, &j1);
        qgemm_run_task(&s->plan, t, &args, gemm_scratch);
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = j0; j < j1; j++) {
                float col_scale = scale_load(b_scale, per_column ? j : 0);
                int32_t q = requantize_sum(block[(i - i0) * s->plan.tile_n + j - j0], a_scale->dtype,
                                           row_scale,
                                           col_scale, y_scale, y_zero_point, range);
                quant_store(y->data, i * p->b->n + j, y->dtype, q);
            }
    }
    return ONYX_OK;
}

const op_descriptor op_QLinearMatMul = {qlinear_matmul_check_packed, qlinear_matmul_reshape_packed,
                                        qlinear_matmul_run_packed, 0};

/* ---- onyx.QMatMul: a quantized product with float output ----------------------------------- */
/* Y = (A - a_zero_point) (B - b_zero_point) a_scale b_scale + bias, the product exact in int32
 * and the rest in float in the order written: what runtime/passes_quant.c makes of ONNX
 * Runtime's quantized graphs (DynamicQuantizeLinear, MatMulInteger, Cast, Mul, Add; and
 * DequantizeLinear pairs around MatMul). Inputs: A (uint8 or int8, [..., K]), a_scale (float
 * scalar), a_zero_point (A's type, scalar, optional), B (constant uint8 or int8 [K, N]),
 * b_scale (constant float, scalar or [N]), b_zero_point (constant, B's type, scalar or [N],
 * optional), bias (constant float [N], optional), y_scale and y_zero_point (constant scalars,
 * float and uint8 or int8, optional, both or neither: the result is then quantized and
 * dequantized again with them, as QuantizeLinear and DequantizeLinear after the product do).
 * Attribute activation: a gemm_activation (0 none, 1 ReLU, 2 GELU erf, 3 GELU tanh), applied
 * after the bias.
 *
 * B may also be computed while running (QDQ's attention products): A and B are then any
 * batches of matrices as numpy's matmul takes them, b_scale and b_zero_point one value each,
 * no bias; each output matrix packs its B on each run. */

static onyx_status qmatmul_fused_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 5, 9, 1, 1);
    if (!st)
        st = check_operand(ctx, 0, 1, 2, false);
    if (!st)
        st = op_check_input(ctx, 7, op_input(ctx, 8) != NULL, DT(FLOAT));
    if (!st)
        st = op_check_input(ctx, 8, op_input(ctx, 7) != NULL, DT(UINT8) | DT(INT8));
    if (!st)
        st = check_operand(ctx, 3, 4, 5, false);
    if (!st)
        st = op_check_input(ctx, 4, true, DT(FLOAT));
    if (!st)
        st = op_check_input(ctx, 1, true, DT(FLOAT));
    if (!st)
        st = op_check_input(ctx, 6, false, DT(FLOAT));
    if (st)
        return st;
    const onyx_tensor *b = op_input(ctx, 3), *b_scale = op_input(ctx, 4), *bias = op_input(ctx, 6);
    char sb[128];
    int64_t activation = 0;
    if ((st = op_attr_int(ctx, "activation", 0, &activation)))
        return st;
    if (activation < GEMM_ACTIVATION_NONE || activation > GEMM_ACTIVATION_GELU_TANH)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "unknown activation %lld", (long long)activation);
    const onyx_tensor *y_scale = op_input(ctx, 7), *y_zp = op_input(ctx, 8);
    for (int i = 7; i <= 8 && y_scale; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        if (!t->data || tensor_count(t) != 1 || t->rank > 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s must be a constant scalar",
                            op_input_name(ctx, i),
                            shape_str(t, sb, sizeof sb));
    }
    if (!b->data) {
        /* B computed while running: any batch of matrices, its parameters one value each. */
        if (bias)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "a bias '%s' needs a constant '%s'",
                            op_input_name(ctx, 6),
                            op_input_name(ctx, 3));
        qconst_b *q = op_alloc_params(ctx, sizeof *q);
        if (!q)
            return ONYX_ERROR_OUT_OF_MEMORY;
        q->runtime_b = true;
        q->activation = (gemm_activation)activation;
        if (y_scale) {
            q->requantize = true;
            q->y_scale = ((const float *)y_scale->data)[0];
            q->y_zero_point = quant_load(y_zp, 0);
            q->y_signed = y_zp->dtype == ONYX_DTYPE_INT8;
        }
        ctx->params = q;
        op_set_output_dtypes(ctx, ONYX_DTYPE_FLOAT);
        return ONYX_OK;
    }
    if (b->rank != 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s must be a matrix when constant",
                        op_input_name(ctx, 3),
                        shape_str(b, sb, sizeof sb));
    int64_t n = b->dims[1];
    for (int i = 4; i <= 6; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        if (t && (!t->data || (i == 6 ? !(t->rank == 1 && t->dims[0] == n) : column_param_count(t, n) < 0)))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s must be a constant %s of '%s' %s",
                            op_input_name(ctx, i), shape_str(t, sb, sizeof sb),
                            i == 6 ? "vector, one value per column" : "scalar or one value per column",
                            op_input_name(ctx, 3), shape_str(b, sb + 64, sizeof sb - 64));
    }
    qconst_b *q = NULL;
    bool taken;
    if ((st = pack_qconst_b(ctx, 3, op_input(ctx, 5) ? 5 : -1, &q, &taken)))
        return st;
    if (!taken) /* the checks above leave nothing it refuses */
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' cannot be packed", op_input_name(ctx, 3));
    int64_t scales = column_param_count(b_scale, n);
    q->scales = op_alloc_params(ctx, (size_t)scales * sizeof(float));
    q->bias = bias ? op_alloc_params(ctx, (size_t)n * sizeof(float)) : NULL;
    if (!q->scales || (bias && !q->bias))
        return ONYX_ERROR_OUT_OF_MEMORY;
    memcpy(q->scales, b_scale->data, (size_t)scales * sizeof(float));
    q->scale_per_column = scales > 1;
    q->activation = (gemm_activation)activation;
    if (y_scale) {
        q->requantize = true;
        q->y_scale = ((const float *)y_scale->data)[0];
        q->y_zero_point = quant_load(y_zp, 0);
        q->y_signed = y_zp->dtype == ONYX_DTYPE_INT8;
    }
    if (bias)
        memcpy(q->bias, bias->data, (size_t)n * sizeof(float));
    ctx->released_inputs |= 1u << 4 | (bias ? 1u << 6 : 0);
    ctx->params = q;
    op_set_output_dtypes(ctx, ONYX_DTYPE_FLOAT);
    return ONYX_OK;
}

/* B computed while running: numpy's matmul over batches, one task per output matrix, which
 * packs its B and runs the whole product. */
typedef struct qmatmul_runtime_state {
    qgemm_plan plan;
    broadcast batch;      /* output matrix -> A's and B's matrix */
    int64_t m, n, k;
    size_t packed_bytes;
} qmatmul_runtime_state;

static onyx_status qmatmul_runtime_reshape(op_context *ctx)
{
    char sa[128];
    for (int i = 1; i <= 5; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        if (i != 3 && t && !(t->rank == 0 || (t->rank == 1 && dim_may_equal(t->dims[0], 1))))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s must be a scalar", op_input_name(ctx, i),
                            shape_str(t, sa, sizeof sa));
    }
    matmul_dims dims;
    onyx_status st = matmul_shape(ctx, 0, 3, &dims, op_output(ctx, 0));
    if (st || !ctx->concrete)
        return st;
    qmatmul_runtime_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    const onyx_tensor *batches[2] = {&dims.batch_a, &dims.batch_b};
    broadcast_init(&s->batch, 2, batches, &dims.batch);
    s->m = dims.m;
    s->n = dims.n;
    s->k = dims.k;
    s->packed_bytes = qgemm_packed_b_bytes(dims.k, dims.n);
    if (s->packed_bytes == SIZE_MAX)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' is too large", op_input_name(ctx, 3));
    qgemm_plan_init(&s->plan, NULL, dims.m, dims.n, dims.k);
    ctx->state = s;
    ctx->n_tasks = shape_count(dims.batch.dims, dims.batch.rank);
    ctx->task_cost = dims.m * dims.n * (dims.k > 0 ? dims.k : 1) / 4;
    ctx->scratch_bytes = s->packed_bytes + s->plan.scratch_bytes + 64;
    return ONYX_OK;
}

static onyx_status qmatmul_runtime_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const qconst_b *q = ctx->params;
    const qmatmul_runtime_state *s = ctx->state;
    const onyx_tensor *a = ctx->inputs[0], *b = ctx->inputs[3], *b_zp = op_input(ctx, 5);
    int32_t zb = quant_load(b_zp, 0);
    float b_scale = ((const float *)ctx->inputs[4]->data)[0];
    void *gemm_scratch = (char *)scratch + (s->packed_bytes + 63) / 64 * 64;
    for (int64_t t = begin; t < end; t++) {
        int64_t offsets[2], within = t % s->batch.inner;
        broadcast_row(&s->batch, t / s->batch.inner, offsets);
        int64_t a_matrix = offsets[0] + within * s->batch.step[0];
        int64_t b_matrix = offsets[1] + within * s->batch.step[1];
        qgemm_packed_b packed;
        qgemm_pack_b(&packed, (const uint8_t *)b->data + b_matrix * s->k * s->n, b->dtype == ONYX_DTYPE_INT8,
                     s->k,
                     s->n, s->n, scratch);
        qgemm_args args = {.a = (const uint8_t *)a->data + a_matrix * s->m * s->k, .lda = s->k,
                           .a_signed = a->dtype == ONYX_DTYPE_INT8,
                           .a_zero_point = quant_load(op_input(ctx, 2), 0),
                           .b = &packed, .b_zero_points = b_zp ? &zb : NULL,
                           .c = (float *)ctx->outputs[0]->data + t * s->m * s->n,
                           .ldc = s->n, .a_scale = ((const float *)ctx->inputs[1]->data)[0],
                           .b_scales = &b_scale,
                           .activation = q->activation, .requantize = q->requantize, .y_signed = q->y_signed,
                           .y_scale = q->y_scale, .y_zero_point = q->y_zero_point};
        for (int64_t task = 0; task < qgemm_plan_tasks(&s->plan); task++)
            qgemm_run_task(&s->plan, task, &args, gemm_scratch);
    }
    return ONYX_OK;
}

static onyx_status qmatmul_fused_reshape(op_context *ctx)
{
    const qconst_b *q = ctx->params;
    if (q->runtime_b)
        return qmatmul_runtime_reshape(ctx);
    const onyx_tensor *a = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    char sa[128];
    if (a->rank < 1 || !dim_may_equal(a->dims[a->rank - 1], q->k))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s does not end in %lld, the rows of '%s'",
                        op_input_name(ctx, 0), shape_str(a, sa, sizeof sa), (long long)q->k,
                        op_input_name(ctx, 3));
    for (int i = 1; i <= 2; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        if (t && !(t->rank == 0 || (t->rank == 1 && dim_may_equal(t->dims[0], 1))))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s must be a scalar", op_input_name(ctx, i),
                            shape_str(t, sa, sizeof sa));
    }
    y->rank = a->rank;
    memcpy(y->dims, a->dims, (size_t)a->rank * sizeof a->dims[0]);
    y->dims[a->rank - 1] = q->n;
    if (!ctx->concrete)
        return ONYX_OK;
    qgemm_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    qgemm_plan_init(&s->plan, NULL, shape_count(a->dims, a->rank - 1), q->n, q->k);
    ctx->state = s;
    ctx->n_tasks = qgemm_plan_tasks(&s->plan);
    ctx->task_cost = qgemm_plan_task_cost(&s->plan);
    ctx->scratch_bytes = s->plan.scratch_bytes;
    return ONYX_OK;
}

static onyx_status qmatmul_fused_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const qconst_b *q = ctx->params;
    if (q->runtime_b)
        return qmatmul_runtime_run(ctx, begin, end, scratch);
    const qgemm_state *s = ctx->state;
    const onyx_tensor *a = ctx->inputs[0];
    qgemm_args args = {.a = a->data, .lda = q->k, .a_signed = a->dtype == ONYX_DTYPE_INT8,
                       .a_zero_point = quant_load(op_input(ctx, 2), 0), .b = &q->packed,
                       .b_zero_points = q->zero_points, .b_zp_per_column = q->zp_per_column,
                       .c = ctx->outputs[0]->data, .ldc = q->n,
                       .a_scale = ((const float *)ctx->inputs[1]->data)[0],
                       .b_scales = q->scales, .b_scale_per_column = q->scale_per_column, .bias = q->bias,
                       .activation = q->activation, .requantize = q->requantize, .y_signed = q->y_signed,
                       .y_scale = q->y_scale, .y_zero_point = q->y_zero_point};
    for (int64_t t = begin; t < end; t++)
        qgemm_run_task(&s->plan, t, &args, scratch);
    return ONYX_OK;
}

const op_descriptor op_QMatMul = {qmatmul_fused_check, qmatmul_fused_reshape, qmatmul_fused_run, 0};
