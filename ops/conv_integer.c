/* ConvInteger and QLinearConv: convolutions of 8-bit integers (int8 or uint8, X and W each
 * its own), computed exactly in 32-bit integers on Conv's forward plan (conv_plan.h). Each
 * task offsets its group's weights and input image by their zero points into scratch, so that
 * the padding, which stands for the real value 0, is the integer 0 of the im2col matrix; then
 * multiplies. ConvInteger writes the int32 sums. QLinearConv adds its int32 bias and
 * requantizes each sum by x_scale * w_scale / y_scale, rounding half to even, adding
 * y_zero_point and saturating to the output type.
 *
 * Sums are taken modulo 2^32: the spec lets the accumulation overflow only in 32 bits, and
 * unsigned arithmetic makes that wrap defined. Zero points are per tensor, but W's (and
 * QLinearConv's w_scale) may be per output channel.
 *
 * When W and its zero point are constants of the model, W is packed once for the int8 GEMM
 * (qgemm.h, VNNI) and each task's product runs there instead: the im2col block, turned into
 * rows of 8-bit values (one per output position, the padding at the zero point), times W^T
 * packed per group, the zero points through the GEMM's sums, the result transposed into the
 * feature maps. */
#include "conv_plan.h"
#include "im2col.h"
#include "qgemm.h"

#include <math.h>

/* Where each operator has its inputs (X is input 0 in both); -1 for those it lacks. */
typedef struct qconv_inputs {
    int w, x_zero, w_zero;
    int x_scale, w_scale, y_scale, y_zero, bias; /* QLinearConv, onyx.QConv */
    bool float_out;                              /* onyx.QConv */
} qconv_inputs;

static const qconv_inputs conv_integer_inputs = {
    .w = 1, .x_zero = 2, .w_zero = 3, .x_scale = -1, .w_scale = -1, .y_scale = -1, .y_zero = -1, .bias = -1};
static const qconv_inputs qlinear_conv_inputs = {
    .w = 3, .x_zero = 2, .w_zero = 5, .x_scale = 1, .w_scale = 4, .y_scale = 6, .y_zero = 7, .bias = 8};
static const qconv_inputs qconv_float_inputs = {.w = 3, .x_zero = 2, .w_zero = 5, .x_scale = 1, .w_scale = 4,
                                                .y_scale = -1, .y_zero = -1, .bias = 6, .float_out = true};

#define DT_QUANTIZED (DT(INT8) | DT(UINT8))

/* The params: conv_plan's first (conv_plan.c reads them as conv_params), then W packed per
 * group when constant (NULL otherwise) with its zero points. */
typedef struct qconv_params {
    conv_params conv;
    qgemm_packed_b *packed; /* [group] */
    int32_t *w_zero;        /* NULL, or one value, or one per feature map */
    bool w_zero_per_map;
} qconv_params;

/* Packs constant W ([M, C / group, taps...]) for the GEMM: per group, W^T (rows x maps). */
static onyx_status pack_weights(op_context *ctx, const qconv_inputs *in, qconv_params *q)
{
    const onyx_tensor *w = op_input(ctx, in->w), *w_zero = op_input(ctx, in->w_zero);
    int64_t groups = q->conv.group, maps = w->rank >= 1 ? w->dims[0] : 0;
    if (!w->data || (w_zero && !w_zero->data) || w->rank < 3 || op_input(ctx, 0)->data || groups < 1 ||
        maps % groups)
        return ONYX_OK;
    int64_t zero_count = w_zero ? tensor_count(w_zero) : 0;
    if (w_zero && !(w_zero->rank <= 1 && (zero_count == 1 || zero_count == maps)))
        return ONYX_OK; /* reshape says what is wrong */
    int64_t rows = tensor_count(w) / (maps ? maps : 1), per_group = maps / groups;
    size_t bytes = qgemm_packed_b_bytes(rows, per_group);
    q->packed = op_alloc_params(ctx, (size_t)groups * sizeof *q->packed);
    q->w_zero = w_zero ? op_alloc_params(ctx, (size_t)zero_count * sizeof *q->w_zero) : NULL;
    if (!q->packed || bytes == SIZE_MAX || (w_zero && !q->w_zero))
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int64_t g = 0; g < groups; g++) {
        void *memory = op_alloc_params_uninit(ctx, bytes);
        if (!memory)
            return ONYX_ERROR_OUT_OF_MEMORY;
        const int8_t *base = (const int8_t *)w->data + g * per_group * rows; /* bytes either way */
        qgemm_pack_b_strided(&q->packed[g], base, w->dtype == ONYX_DTYPE_INT8, rows, per_group, 1, rows,
                             memory);
    }
    for (int64_t i = 0; i < zero_count; i++)
        q->w_zero[i] = w_zero->dtype == ONYX_DTYPE_UINT8 ? ((const uint8_t *)w_zero->data)[i]
                                                         : ((const int8_t *)w_zero->data)[i];
    q->w_zero_per_map = zero_count > 1;
    ctx->released_inputs |= 1u << in->w | (w_zero ? 1u << in->w_zero : 0);
    return ONYX_OK;
}

static onyx_status qconv_check(op_context *ctx, const qconv_inputs *in)
{
    bool quantized = in->y_zero >= 0, scaled = quantized || in->float_out;
    onyx_status st = quantized ? op_check_arity(ctx, 8, 9, 1, 1)
                     : in->float_out ? op_check_arity(ctx, 5, 7, 1, 1) : op_check_arity(ctx, 2, 4, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_QUANTIZED);
    if (!st)
        st = op_check_input(ctx, in->w, true, DT_QUANTIZED);
    if (!st)
        st = op_check_input(ctx, in->x_zero, quantized, DT_QUANTIZED);
    if (!st)
        st = op_check_same_dtype(ctx, in->x_zero, 0);
    if (!st)
        st = op_check_input(ctx, in->w_zero, quantized, DT_QUANTIZED);
    if (!st)
        st = op_check_same_dtype(ctx, in->w_zero, in->w);
    const int scales[] = {in->x_scale, in->w_scale, in->y_scale};
    for (int i = 0; scaled && i < (quantized ? 3 : 2) && !st; i++)
        st = op_check_input(ctx, scales[i], true, DT(FLOAT));
    if (quantized && !st)
        st = op_check_input(ctx, in->y_zero, true, DT_QUANTIZED);
    if (scaled && !st)
        st = op_check_input(ctx, in->bias, false, quantized ? DT(INT32) : DT(FLOAT));
    conv_params *p;
    if (!st)
        st = conv_params_read(ctx, &p);
    if (st)
        return st;
    qconv_params *q = op_alloc_params(ctx, sizeof *q);
    if (!q)
        return ONYX_ERROR_OUT_OF_MEMORY;
    q->conv = *p;
    ctx->params = q;
    if ((st = pack_weights(ctx, in, q)))
        return st;
    op_set_output_dtypes(ctx, quantized ? op_input(ctx, in->y_zero)->dtype
                              : in->float_out ? ONYX_DTYPE_FLOAT : ONYX_DTYPE_INT32);
    return ONYX_OK;
}

/* Checks that input i, when present, holds one value, or one per feature map when
 * `per_map`. */
static onyx_status check_quantization(const op_context *ctx, int i, bool per_map, int64_t maps)
{
    const onyx_tensor *t = op_input(ctx, i);
    if (!t)
        return ONYX_OK;
    char buf[128];
    int64_t count = t->rank == 0 ? 1 : t->dims[0];
    bool ok = t->rank <= 1 && (!dim_known(count) || count == 1 || (per_map && dim_may_equal(count, maps)));
    if (!ok)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must hold one value%s", op_input_name(ctx, i),
                        shape_str(t, buf, sizeof buf), per_map ? ", or one per feature map" : "");
    return ONYX_OK;
}

static onyx_status qconv_reshape(op_context *ctx, const qconv_inputs *in)
{
    bool quantized = in->y_zero >= 0 || in->float_out; /* sums kept for an epilogue */
    int64_t maps = op_input(ctx, in->w)->dims[0];
    onyx_status st = ONYX_OK;
    const int per_tensor[] = {in->x_zero, in->x_scale, in->y_scale, in->y_zero}, per_map[] = {in->w_zero, in->w_scale};
    for (int k = 0; k < 4 && !st; k++)
        st = per_tensor[k] >= 0 ? check_quantization(ctx, per_tensor[k], false, maps) : ONYX_OK;
    for (int k = 0; k < 2 && !st; k++)
        st = per_map[k] >= 0 ? check_quantization(ctx, per_map[k], true, maps) : ONYX_OK;
    if (!st)
        st = conv_forward_reshape(ctx, in->w, in->bias, sizeof(int32_t));
    if (st || !ctx->concrete)
        return st;
    /* Scratch: the centered weights of a group and its centered image before the im2col
     * block, and for QLinearConv the sums of a block before they are requantized. */
    const conv_state *s = ctx->state;
    int64_t extra = s->maps_per_group * s->rows + s->channels_per_group * s->geometry.in_count +
                    (quantized ? s->maps_per_group * s->block : 0);
    ctx->scratch_bytes += (size_t)extra * sizeof(int32_t);
    if (((const qconv_params *)ctx->params)->packed) {
        /* The GEMM's: im2col's block when direct, its rows of bytes, the sums, and its own. */
        qgemm_plan plan;
        qgemm_plan_init(&plan, NULL, s->block, s->maps_per_group, s->rows);
        int64_t bytes = (s->direct ? s->rows * s->block * 4 : 0) + s->rows * s->block + 64 +
                        s->block * s->maps_per_group * 4 + 64;
        ctx->scratch_bytes += (size_t)bytes + plan.scratch_bytes;
    }
    return ONYX_OK;
}

/* Element i of an int8 or uint8 tensor (0 when absent); element 0 when it holds one. */
static int32_t quantized_at(const onyx_tensor *t, int64_t i)
{
    if (!t)
        return 0;
    i = tensor_count(t) == 1 ? 0 : i;
    return t->dtype == ONYX_DTYPE_UINT8 ? ((const uint8_t *)t->data)[i] : ((const int8_t *)t->data)[i];
}

/* dst[0..n) = elements [offset, offset + n) of an int8 or uint8 tensor, minus `zero`. */
static void center(const onyx_tensor *t, int64_t offset, int64_t n, int32_t zero, int32_t *dst)
{
    if (t->dtype == ONYX_DTYPE_UINT8) {
        const uint8_t *v = (const uint8_t *)t->data + offset;
        for (int64_t i = 0; i < n; i++)
            dst[i] = (int32_t)v[i] - zero;
    } else {
        const int8_t *v = (const int8_t *)t->data + offset;
        for (int64_t i = 0; i < n; i++)
            dst[i] = (int32_t)v[i] - zero;
    }
}

/* c (m x n, rows ldc apart) = a (m x k, contiguous) times b (k x n, rows ldb apart), modulo
 * 2^32. */
static void gemm_i32(int64_t m, int64_t n, int64_t k, const int32_t *a, const int32_t *b, int64_t ldb, int32_t *c,
                     int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        uint32_t *row = (uint32_t *)(c + i * ldc);
        for (int64_t j = 0; j < n; j++)
            row[j] = 0;
        for (int64_t p = 0; p < k; p++) {
            uint32_t a_ip = (uint32_t)a[i * k + p];
            const int32_t *b_row = b + p * ldb;
            for (int64_t j = 0; j < n; j++)
                row[j] += a_ip * (uint32_t)b_row[j];
        }
    }
}

/* QLinearConv: output positions [first, last) of maps [map0, map0 + maps) from their sums
 * (rows of last - first). */
static void requantize(const op_context *ctx, const qconv_inputs *in, int64_t image, int64_t map0, int64_t maps,
                       int64_t first, int64_t last, const int32_t *sums)
{
    const conv_state *s = ctx->state;
    const onyx_tensor *w_scale = ctx->inputs[in->w_scale], *bias = op_input(ctx, in->bias);
    onyx_tensor *y = ctx->outputs[0];
    double x_scale = *(const float *)ctx->inputs[in->x_scale]->data;
    double y_scale = *(const float *)ctx->inputs[in->y_scale]->data;
    double y_zero = quantized_at(ctx->inputs[in->y_zero], 0);
    bool unsigned_y = y->dtype == ONYX_DTYPE_UINT8;
    double lowest = unsigned_y ? 0 : INT8_MIN, highest = unsigned_y ? UINT8_MAX : INT8_MAX;
    int64_t n = last - first;
    for (int64_t m = 0; m < maps; m++) {
        int64_t map = map0 + m;
        double scale = x_scale * ((const float *)w_scale->data)[tensor_count(w_scale) == 1 ? 0 : map] / y_scale;
        uint32_t b = bias ? (uint32_t)((const int32_t *)bias->data)[map] : 0;
        int64_t at = (image * s->maps + map) * s->geometry.out_count + first;
        for (int64_t i = 0; i < n; i++) {
            int32_t sum = (int32_t)((uint32_t)sums[m * n + i] + b);
            /* nearbyint rounds half to even; fmax/fmin also take NaN (a zero or NaN scale) to
             * a bound, never to an undefined conversion. */
            double v = fmin(fmax(nearbyint(sum * scale) + y_zero, lowest), highest);
            if (unsigned_y)
                ((uint8_t *)y->data)[at + i] = (uint8_t)v;
            else
                ((int8_t *)y->data)[at + i] = (int8_t)v;
        }
    }
}

/* onyx.QConv: the sums as floats, (float)sum * (x_scale * w_scale) + bias, the operations of
 * Cast, Mul and Add; QLinearConv: requantized. */
static void finish(const op_context *ctx, const qconv_inputs *in, int64_t image, int64_t map0, int64_t maps,
                   int64_t first, int64_t last, const int32_t *sums)
{
    if (!in->float_out) {
        requantize(ctx, in, image, map0, maps, first, last, sums);
        return;
    }
    const conv_state *s = ctx->state;
    const onyx_tensor *w_scale = ctx->inputs[in->w_scale], *bias = op_input(ctx, in->bias);
    float x_scale = *(const float *)ctx->inputs[in->x_scale]->data;
    int64_t n = last - first;
    for (int64_t m = 0; m < maps; m++) {
        int64_t map = map0 + m;
        float scale = x_scale * ((const float *)w_scale->data)[tensor_count(w_scale) == 1 ? 0 : map];
        float *y = (float *)ctx->outputs[0]->data + (image * s->maps + map) * s->geometry.out_count + first;
        const int32_t *row = sums + m * n;
        if (bias) {
            float b = ((const float *)bias->data)[map];
            for (int64_t i = 0; i < n; i++)
                y[i] = (float)row[i] * scale + b;
        } else {
            for (int64_t i = 0; i < n; i++)
                y[i] = (float)row[i] * scale;
        }
    }
}

/* The product of one task on the int8 GEMM: col (rows x n, rows ldb apart, image values minus
 * x_zero) times the group's packed W^T, into sums (maps_per_group x n, rows ld apart). */
static void qgemm_block(const op_context *ctx, int64_t group, const int32_t *col, int64_t ldb, int64_t n,
                        int32_t x_zero, bool x_signed, int32_t *sums, int64_t ld, void *scratch)
{
    const conv_state *s = ctx->state;
    const qconv_params *q = ctx->params;
    int64_t rows = s->rows, maps = s->maps_per_group;
    uint8_t *a = scratch; /* n x rows: the values again (the padding at x_zero) */
    int32_t *c = (int32_t *)(((uintptr_t)(a + n * rows) + 63) & ~(uintptr_t)63);
    void *gemm_scratch = (void *)(((uintptr_t)(c + n * maps) + 63) & ~(uintptr_t)63);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++)
            a[i * rows + r] = (uint8_t)(col[r * ldb + i] + x_zero);
    qgemm_plan plan;
    qgemm_plan_init(&plan, NULL, n, maps, rows);
    const int32_t *w_zero = q->w_zero && q->w_zero_per_map ? q->w_zero + group * maps : q->w_zero;
    qgemm_args args = {.a = a, .lda = rows, .a_signed = x_signed, .a_zero_point = x_zero,
                       .b = &q->packed[group],
                       .b_zero_points = w_zero, .b_zp_per_column = q->w_zero_per_map, .c32 = c, .ldc = maps};
    for (int64_t t = 0; t < qgemm_plan_tasks(&plan); t++)
        qgemm_run_task(&plan, t, &args, gemm_scratch);
    for (int64_t m = 0; m < maps; m++)
        for (int64_t i = 0; i < n; i++)
            sums[m * ld + i] = c[i * maps + m];
}

static onyx_status qconv_run(const op_context *ctx, const qconv_inputs *in, int64_t begin, int64_t end, int32_t *scratch)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const onyx_tensor *x = ctx->inputs[0], *w = ctx->inputs[in->w], *w_zero = op_input(ctx, in->w_zero);
    bool quantized = in->y_zero >= 0 || in->float_out; /* sums kept for an epilogue */
    const qconv_params *q = ctx->params;
    int64_t groups = q->conv.group, cpg = s->channels_per_group, mpg = s->maps_per_group;
    int32_t *weights = scratch, *image = weights + mpg * s->rows, *sums = image + cpg * g->in_count;
    int32_t *columns = sums + (quantized ? mpg * s->block : 0);
    /* The GEMM's scratch after the im2col block (which it uses also when direct). */
    void *gemm_scratch = columns + s->rows * s->block;
    int32_t x_zero = quantized_at(op_input(ctx, in->x_zero), 0);
    /* What the scratch holds: tasks of one image and group follow each other. */
    int64_t centered_group = -1, centered_image = -1;
    for (int64_t task = begin; task < end; task++) {
        int64_t n, group, first, last;
        conv_forward_task(s, groups, task, &n, &group, &first, &last);
        int64_t map0 = group * mpg;
        if (group != centered_group && !q->packed)
            for (int64_t m = 0; m < mpg; m++)
                center(w, (map0 + m) * s->rows, s->rows, quantized_at(w_zero, map0 + m), weights + m * s->rows);
        if (group != centered_group || n != centered_image)
            center(x, (n * s->channels + group * cpg) * g->in_count, cpg * g->in_count, x_zero, image);
        centered_group = group;
        centered_image = n;
        const int32_t *col = image + first;
        int64_t ldb = g->in_count;
        if (!s->direct) {
            im2col_i32(g, cpg, image, first, last, columns);
            col = columns;
            ldb = last - first;
        }
        if (q->packed) {
            int32_t *y = quantized ? sums
                                   : (int32_t *)ctx->outputs[0]->data + (n * s->maps + map0) * g->out_count +
                                         first;
            qgemm_block(ctx, group, col, ldb, last - first, x_zero, x->dtype == ONYX_DTYPE_INT8, y,
                        quantized ? last - first : g->out_count, gemm_scratch);
            if (quantized)
                finish(ctx, in, n, map0, mpg, first, last, sums);
        } else if (quantized) {
            gemm_i32(mpg, last - first, s->rows, weights, col, ldb, sums, last - first);
            finish(ctx, in, n, map0, mpg, first, last, sums);
        } else {
            int32_t *y = (int32_t *)ctx->outputs[0]->data + (n * s->maps + map0) * g->out_count + first;
            gemm_i32(mpg, last - first, s->rows, weights, col, ldb, y, g->out_count);
        }
    }
    return ONYX_OK;
}

/* The two operators differ only in where their inputs are. */
static onyx_status conv_integer_check(op_context *ctx) { return qconv_check(ctx, &conv_integer_inputs); }
static onyx_status conv_integer_reshape(op_context *ctx) { return qconv_reshape(ctx, &conv_integer_inputs); }
static onyx_status conv_integer_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return qconv_run(ctx, &conv_integer_inputs, begin, end, scratch);
}
const op_descriptor op_ConvInteger = {conv_integer_check, conv_integer_reshape, conv_integer_run, 0};

static onyx_status qlinear_conv_check(op_context *ctx) { return qconv_check(ctx, &qlinear_conv_inputs); }
static onyx_status qlinear_conv_reshape(op_context *ctx) { return qconv_reshape(ctx, &qlinear_conv_inputs); }
static onyx_status qlinear_conv_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return qconv_run(ctx, &qlinear_conv_inputs, begin, end, scratch);
}
const op_descriptor op_QLinearConv = {qlinear_conv_check, qlinear_conv_reshape, qlinear_conv_run, 0};

/* onyx.QConv: a convolution of 8-bit integers with float output, (sum of (x - x_zero_point)
 * (w - w_zero_point)) * x_scale * w_scale + bias: what runtime/passes_quant.c makes of
 * DequantizeLinear -> Conv with weights DequantizeLinear(int8) (ONNX Runtime's QDQ format).
 * Inputs: x, x_scale, x_zero_point (optional), w, w_scale (one, or one per feature map),
 * w_zero_point (optional), bias (float, one per feature map, optional); Conv's attributes. */
static onyx_status qconv_float_check(op_context *ctx) { return qconv_check(ctx, &qconv_float_inputs); }
static onyx_status qconv_float_reshape(op_context *ctx) { return qconv_reshape(ctx, &qconv_float_inputs); }
static onyx_status qconv_float_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return qconv_run(ctx, &qconv_float_inputs, begin, end, scratch);
}
const op_descriptor op_QConv = {qconv_float_check, qconv_float_reshape, qconv_float_run, 0};
