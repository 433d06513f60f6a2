/* Linear quantization: QuantizeLinear and DequantizeLinear, per tensor or (opset 13) per
 * slice along an axis, and DynamicQuantizeLinear, which picks the uint8 scale and zero point
 * that cover the input's range (and 0) first. */
#include "quantize.h"

#define QUANT_CHUNK 16384

/* ---- QuantizeLinear and DequantizeLinear ------------------------------------------------- */

/* Inputs: x, then its scale, then its optional zero point. */
enum { QUANT_X, QUANT_SCALE, QUANT_ZERO_POINT };

typedef struct quant_params {
    int64_t axis; /* of the per-axis form (opset 13) */
} quant_params;

/* Element i of x uses scale and zero point (i / inner) % channels: one channel for the
 * per-tensor form. */
typedef struct quant_state {
    int64_t count, inner, channels;
} quant_state;

static onyx_status quant_check(op_context *ctx, uint32_t x_dtypes, bool quantize)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    if (!st)
        st = op_check_input(ctx, QUANT_X, true, x_dtypes);
    if (!st)
        st = op_check_input(ctx, QUANT_SCALE, true, DT(FLOAT));
    if (!st)
        st = quantize ? op_check_input(ctx, QUANT_ZERO_POINT, false, DT(UINT8) | DT(INT8))
                      : op_check_same_dtype(ctx, QUANT_ZERO_POINT, QUANT_X);
    if (st)
        return st;
    quant_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (ctx->opset >= 13 && (st = op_attr_int(ctx, "axis", 1, &p->axis)))
        return st;
    ctx->params = p;
    const onyx_tensor *zero_point = op_input(ctx, QUANT_ZERO_POINT);
    /* The quantized type is the zero point's, uint8 without one. */
    op_set_output_dtypes(ctx, !quantize ? ONYX_DTYPE_FLOAT : zero_point ? zero_point->dtype : ONYX_DTYPE_UINT8);
    return ONYX_OK;
}

static onyx_status quantize_linear_check(op_context *ctx)
{
    return quant_check(ctx, DT(FLOAT) | DT(INT32), true);
}

static onyx_status dequantize_linear_check(op_context *ctx)
{
    return quant_check(ctx, DT(UINT8) | DT(INT8) | DT(INT32), false);
}

/* A scalar or a one-element vector (the per-tensor form), or, at load, perhaps one. */
static bool may_be_one_element(const onyx_tensor *t)
{
    return t->rank == 0 || (t->rank == 1 && dim_may_equal(t->dims[0], 1));
}

static onyx_status quant_reshape(op_context *ctx)
{
    const quant_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, QUANT_X), *scale = op_input(ctx, QUANT_SCALE);
    const onyx_tensor *zero_point = op_input(ctx, QUANT_ZERO_POINT);
    char ss[128], sx[128];
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (zero_point) {
        bool same = zero_point->rank == scale->rank;
        for (int i = 0; same && i < scale->rank; i++)
            same = dim_may_equal(zero_point->dims[i], scale->dims[i]);
        if (!same)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "zero point '%s' %s and scale '%s' %s differ in shape",
                            op_input_name(ctx, QUANT_ZERO_POINT), shape_str(zero_point, sx, sizeof sx),
                            op_input_name(ctx, QUANT_SCALE), shape_str(scale, ss, sizeof ss));
    }
    int64_t outer = 1, channels = 1, inner = 1;
    if (!may_be_one_element(scale)) {
        /* Per axis: one scale per slice of x along `axis`, the only form that reads it. */
        if (ctx->opset < 13 || scale->rank != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scale '%s' %s must be a scalar%s",
                            op_input_name(ctx, QUANT_SCALE), shape_str(scale, ss, sizeof ss),
                            ctx->opset < 13 ? " before opset 13" : " or a vector");
        int axis;
        onyx_status st = op_axis(ctx, "axis", p->axis, x->rank, &axis);
        if (st)
            return st;
        if (!dim_may_equal(scale->dims[0], x->dims[axis]))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scale '%s' %s does not match axis %d of x %s",
                            op_input_name(ctx, QUANT_SCALE), shape_str(scale, ss, sizeof ss), axis,
                            shape_str(x, sx, sizeof sx));
        if (ctx->concrete)
            shape_split(x, axis, &outer, &channels, &inner);
    }
    if (!ctx->concrete)
        return ONYX_OK;
    quant_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->count = tensor_count(x);
    s->channels = channels;
    s->inner = inner;
    ctx->state = s;
    ctx->n_tasks = (s->count + QUANT_CHUNK - 1) / QUANT_CHUNK;
    ctx->task_cost = QUANT_CHUNK;
    return ONYX_OK;
}

static int64_t channel_of(const quant_state *s, int64_t i)
{
    return s->channels == 1 ? 0 : i / s->inner % s->channels;
}

static onyx_status quantize_linear_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const quant_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[QUANT_X], *zero_point = op_input(ctx, QUANT_ZERO_POINT);
    const float *scale = ctx->inputs[QUANT_SCALE]->data;
    onyx_tensor *y = ctx->outputs[0];
    quant_range range = quant_range_of(y->dtype);
    for (int64_t i = begin * QUANT_CHUNK; i < OP_MIN(end * QUANT_CHUNK, s->count); i++) {
        int64_t c = channel_of(s, i);
        /* int32 inputs divide as float, as the reference does. */
        float v = x->dtype == ONYX_DTYPE_FLOAT ? ((const float *)x->data)[i] : (float)((const int32_t *)x->data)[i];
        quant_store(y->data, i, y->dtype, quantize_scaled(v / scale[c], quant_load(zero_point, c), range));
    }
    return ONYX_OK;
}

static onyx_status dequantize_linear_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const quant_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[QUANT_X], *zero_point = op_input(ctx, QUANT_ZERO_POINT);
    const float *scale = ctx->inputs[QUANT_SCALE]->data;
    float *y = ctx->outputs[0]->data;
    for (int64_t i = begin * QUANT_CHUNK; i < OP_MIN(end * QUANT_CHUNK, s->count); i++) {
        int64_t c = channel_of(s, i);
        /* The difference in 64 bits: int32 values minus their zero point cannot overflow. */
        y[i] = (float)((int64_t)quant_load(x, i) - quant_load(zero_point, c)) * scale[c];
    }
    return ONYX_OK;
}

const op_descriptor op_QuantizeLinear = {quantize_linear_check, quant_reshape, quantize_linear_run, 0};
const op_descriptor op_DequantizeLinear = {dequantize_linear_check, quant_reshape, dequantize_linear_run, 0};

/* ---- DynamicQuantizeLinear --------------------------------------------------------------- */

enum { DYNAMIC_Y, DYNAMIC_SCALE, DYNAMIC_ZERO_POINT };

static onyx_status dynamic_quantize_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 3, 3);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(FLOAT));
    if (st)
        return st;
    const onyx_dtype dtypes[3] = {[DYNAMIC_Y] = ONYX_DTYPE_UINT8, [DYNAMIC_SCALE] = ONYX_DTYPE_FLOAT,
                                  [DYNAMIC_ZERO_POINT] = ONYX_DTYPE_UINT8};
    for (int i = 0; i < 3; i++)
        if (op_output(ctx, i))
            op_output(ctx, i)->dtype = dtypes[i];
    return ONYX_OK;
}

static onyx_status dynamic_quantize_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    tensor_set_shape(op_output(ctx, DYNAMIC_Y), x->rank, x->dims);
    for (int i = DYNAMIC_SCALE; i <= DYNAMIC_ZERO_POINT; i++)
        if (op_output(ctx, i))
            tensor_set_shape(op_output(ctx, i), 0, NULL);
    if (ctx->concrete)
        ctx->task_cost = tensor_count(x);
    return ONYX_OK;
}

/* One task: the range of the whole input decides the parameters before any element is
 * quantized. */
static onyx_status dynamic_quantize_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const onyx_tensor *x = ctx->inputs[0];
    const float *in = x->data;
    int64_t count = tensor_count(x);
    /* The range always holds 0, so that 0 is exactly representable; NaNs are passed over. */
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < count; i++) {
        lo = fminf(lo, in[i]);
        hi = fmaxf(hi, in[i]);
    }
    quant_range range = quant_range_of(ONYX_DTYPE_UINT8);
    /* An all-zero input has an empty range: scale 1 (as onnxruntime) rather than 0/0. */
    float scale = hi == lo ? 1.0f : (hi - lo) / (float)(range.max - range.min);
    int32_t zero_point = quantize_scaled((float)range.min - lo / scale, 0, range);
    uint8_t *y = ctx->outputs[DYNAMIC_Y]->data;
    for (int64_t i = 0; i < count; i++)
        y[i] = (uint8_t)quantize_scaled(in[i] / scale, zero_point, range);
    if (op_output(ctx, DYNAMIC_SCALE))
        *(float *)ctx->outputs[DYNAMIC_SCALE]->data = scale;
    if (op_output(ctx, DYNAMIC_ZERO_POINT))
        *(uint8_t *)ctx->outputs[DYNAMIC_ZERO_POINT]->data = (uint8_t)zero_point;
    return ONYX_OK;
}

const op_descriptor op_DynamicQuantizeLinear = {dynamic_quantize_check, dynamic_quantize_reshape,
                                                dynamic_quantize_run, 0};
