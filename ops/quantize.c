/* Linear quantization: QuantizeLinear and DequantizeLinear, per tensor, (opset 13) per
 * slice along an axis or (opset 21) per block along it, to and from the 8, 16, 4 and 2-bit
 * integers and (opset 19) the 8, 6 and 4-bit floats; DynamicQuantizeLinear, which picks
 * the uint8 scale and zero point that cover the input's range (and 0) first; and onyx.QDQ,
 * a QuantizeLinear and DequantizeLinear pair in one pass. Float to and from 8-bit integers
 * per tensor (what quantized models run) goes to vector kernels (qgemm.h). */
#include "qgemm.h" /* qgemm_quantize, qgemm_range: the vector kernels */
#include "quantize.h"

#define QUANT_CHUNK 16384

/* ---- 8-bit blocks, per tensor, in float: loops the compiler vectorizes ---------------------- */

/* (float)(x - zero_point) * scale, as dequantize_linear_run computes it. */
static void dequantize_block_u8(const uint8_t *x, int64_t n, float scale, int32_t zero_point, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)((int32_t)x[i] - zero_point) * scale;
}

static void dequantize_block_s8(const int8_t *x, int64_t n, float scale, int32_t zero_point, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)((int32_t)x[i] - zero_point) * scale;
}

/* ---- QuantizeLinear and DequantizeLinear ------------------------------------------------- */

/* Inputs: x, then its scale, then its optional zero point. */
enum { QUANT_X, QUANT_SCALE, QUANT_ZERO_POINT };

#define QUANT_FLOAT8 (DT(FLOAT8E4M3FN) | DT(FLOAT8E4M3FNUZ) | DT(FLOAT8E5M2) | DT(FLOAT8E5M2FNUZ))
#define QUANT_HALVES (DT(FLOAT) | DT(FLOAT16) | DT(BFLOAT16))

/* The quantized dtypes (y of QuantizeLinear, x of DequantizeLinear, both zero points) each
 * version takes: each added some. */
static uint32_t quantized_dtypes(int opset)
{
    uint32_t mask = DT(UINT8) | DT(INT8);
    if (opset >= 19)
        mask |= QUANT_FLOAT8;
    if (opset >= 21)
        mask |= DT(UINT16) | DT(INT16) | DT(UINT4) | DT(INT4);
    if (opset >= 23)
        mask |= DT(FLOAT4E2M1);
    if (opset >= 25)
        mask |= DT(UINT2) | DT(INT2);
    if (opset >= 28)
        mask |= DT(FLOAT6E2M3) | DT(FLOAT6E3M2);
    return mask;
}

typedef struct quant_params {
    int64_t axis;       /* of the per-axis (opset 13) and blocked (opset 21) forms */
    int64_t block_size; /* 0: per tensor or per axis */
    bool saturate;      /* float8 outputs of QuantizeLinear (opset 19) */
    onyx_dtype precision; /* of QuantizeLinear's division: FLOAT, FLOAT16 or BFLOAT16 */
} quant_params;

enum quant_form { QUANT_PER_TENSOR, QUANT_PER_AXIS, QUANT_BLOCKED };

/* Element i of x lies at (outer, a, inner) around the axis (len `axis_len`); it uses scale
 * and zero point 0 (per tensor), a (per axis), or (outer, a / block, inner) of a scale whose
 * axis has `scale_len` (blocked). */
typedef struct quant_state {
    enum quant_form form;
    int64_t count, inner, axis_len, scale_len, block;
} quant_state;

/* The value of element i of x, a scale or a zero point, whatever its dtype; 0 for a NULL
 * tensor (an absent zero point). */
static double quant_value(const onyx_tensor *t, int64_t i)
{
    if (!t)
        return 0;
    minifloat_format mf;
    switch (t->dtype) {
    case ONYX_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case ONYX_DTYPE_FLOAT16: return half_to_float(((const uint16_t *)t->data)[i]);
    case ONYX_DTYPE_BFLOAT16: return bfloat16_to_float(((const uint16_t *)t->data)[i]);
    case ONYX_DTYPE_FLOAT8E8M0: return e8m0_to_float(((const uint8_t *)t->data)[i]);
    default:
        if (minifloat_format_of(t->dtype, &mf))
            return minifloat_to_float(mf, ((const uint8_t *)t->data)[i]);
        return quant_load(t, i);
    }
}

/* v rounded to a float dtype the arithmetic is done in. */
static double round_to(onyx_dtype dt, double v)
{
    switch (dt) {
    case ONYX_DTYPE_FLOAT16: return half_to_float(float_to_half((float)v));
    case ONYX_DTYPE_BFLOAT16: return bfloat16_to_float(float_to_bfloat16((float)v));
    default: return (float)v;
    }
}

/* Reads and checks the attributes both operators have, at the versions that have them. */
static onyx_status quant_attrs(op_context *ctx, quant_params *p, int64_t *output_dtype)
{
    onyx_status st = ONYX_OK;
    *output_dtype = 0;
    if (ctx->opset >= 13)
        st = op_attr_int(ctx, "axis", 1, &p->axis);
    if (!st && ctx->opset >= 21)
        st = op_attr_int(ctx, "block_size", 0, &p->block_size);
    if (!st && ctx->opset >= 21)
        st = op_attr_int(ctx, "output_dtype", 0, output_dtype);
    if (st)
        return st;
    if (p->block_size < 0)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute block_size is %lld; it must be positive",
                        (long long)p->block_size);
    if (*output_dtype < 0 || *output_dtype >= 32)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute output_dtype %lld is no dtype",
                        (long long)*output_dtype);
    p->saturate = true;
    return ONYX_OK;
}

/* The dtype of y: output_dtype, which the zero point's dtype must match, or the zero
 * point's, or uint8. */
static onyx_status quantize_linear_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    uint32_t x_dtypes = ctx->opset >= 19 ? QUANT_HALVES | DT(INT32) : DT(FLOAT) | DT(INT32);
    uint32_t y_dtypes = quantized_dtypes(ctx->opset);
    if (!st)
        st = op_check_input(ctx, QUANT_X, true, x_dtypes);
    /* The scale: float before opset 19; then one of x's dtypes, which opsets 19 and 21 ask to
     * be x's own (onyx takes any, as opset 23 does: the division has a precision of its own). */
    if (!st)
        st = op_check_input(ctx, QUANT_SCALE, true,
                            ctx->opset < 19   ? DT(FLOAT)
                            : ctx->opset < 24 ? QUANT_HALVES | DT(INT32)
                                              : QUANT_HALVES | DT(INT32) | DT(FLOAT8E8M0));
    if (!st)
        st = op_check_input(ctx, QUANT_ZERO_POINT, false, y_dtypes);
    if (st)
        return st;
    quant_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t output_dtype, precision = 0, saturate = 1;
    if ((st = quant_attrs(ctx, p, &output_dtype)))
        return st;
    if (ctx->opset >= 19 && (st = op_attr_int(ctx, "saturate", 1, &saturate)))
        return st;
    if (ctx->opset >= 23 && (st = op_attr_int(ctx, "precision", 0, &precision)))
        return st;
    if (saturate != 0 && saturate != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute saturate is %lld; it must be 0 or 1",
                        (long long)saturate);
    p->saturate = saturate;
    /* The division is done in `precision`, by default the scale's dtype (as ONNX says) where
     * that is a float one; in float for an int32 or float8e8m0 scale. */
    const onyx_tensor *scale = op_input(ctx, QUANT_SCALE), *zero_point = op_input(ctx, QUANT_ZERO_POINT);
    if (precision == 0)
        p->precision = scale->dtype == ONYX_DTYPE_FLOAT16 || scale->dtype == ONYX_DTYPE_BFLOAT16
                           ? scale->dtype : ONYX_DTYPE_FLOAT;
    else if (precision > 0 && precision < 32 && (QUANT_HALVES & (1u << precision)))
        p->precision = (onyx_dtype)precision;
    else
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                        "attribute precision %s (%lld) is not supported; float, float16 or bfloat16 are",
                        onyx_dtype_name((onyx_dtype)precision), (long long)precision);
    if (output_dtype && !(y_dtypes & (1u << output_dtype)))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "attribute output_dtype %s (%lld) is not a quantized "
                        "dtype QuantizeLinear-%d gives", onyx_dtype_name((onyx_dtype)output_dtype),
                        (long long)output_dtype, ctx->opset);
    if (output_dtype && zero_point && zero_point->dtype != (onyx_dtype)output_dtype)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute output_dtype %s and zero point '%s' (%s) differ",
                        onyx_dtype_name((onyx_dtype)output_dtype), op_input_name(ctx, QUANT_ZERO_POINT),
                        onyx_dtype_name(zero_point->dtype));
    ctx->params = p;
    op_set_output_dtypes(ctx, zero_point ? zero_point->dtype
                              : output_dtype ? (onyx_dtype)output_dtype : ONYX_DTYPE_UINT8);
    return ONYX_OK;
}

/* y's dtype: output_dtype (opset 23), or the scale's. */
static onyx_status dequantize_linear_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    if (!st)
        st = op_check_input(ctx, QUANT_X, true, quantized_dtypes(ctx->opset) | DT(INT32));
    if (!st)
        st = op_check_input(ctx, QUANT_SCALE, true,
                            ctx->opset < 19   ? DT(FLOAT)
                            : ctx->opset < 24 ? QUANT_HALVES
                                              : QUANT_HALVES | DT(FLOAT8E8M0));
    if (!st)
        st = op_check_same_dtype(ctx, QUANT_ZERO_POINT, QUANT_X);
    if (st)
        return st;
    quant_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t output_dtype;
    if ((st = quant_attrs(ctx, p, &output_dtype)))
        return st;
    if (ctx->opset < 23)
        output_dtype = 0; /* the attribute of QuantizeLinear-21 only */
    const onyx_tensor *scale = op_input(ctx, QUANT_SCALE);
    onyx_dtype y = output_dtype ? (onyx_dtype)output_dtype : scale->dtype;
    if (!(QUANT_HALVES & (1u << y)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "output dtype %s is not float, float16 or bfloat16%s", onyx_dtype_name(y),
                        output_dtype ? "" : " (a float8e8m0 scale needs attribute output_dtype)");
    ctx->params = p;
    op_set_output_dtypes(ctx, y);
    return ONYX_OK;
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
        /* The same shape; ONNX's own tests give a scalar scale a [1] zero point too. */
        bool same = zero_point->rank == scale->rank;
        if (may_be_one_element(zero_point) && may_be_one_element(scale))
            same = true;
        for (int i = 0; same && i < scale->rank && i < zero_point->rank; i++)
            same = dim_may_equal(zero_point->dims[i], scale->dims[i]);
        if (!same)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "zero point '%s' %s and scale '%s' %s differ in shape",
                            op_input_name(ctx, QUANT_ZERO_POINT), shape_str(zero_point, sx, sizeof sx),
                            op_input_name(ctx, QUANT_SCALE), shape_str(scale, ss, sizeof ss));
    }
    enum quant_form form = QUANT_PER_TENSOR;
    int axis = 0;
    if (p->block_size > 0) {
        /* Blocked: the scale is x's shape, but for ceil(len / block_size) along the axis. */
        onyx_status st = op_axis(ctx, "axis", p->axis, x->rank, &axis);
        if (st)
            return st;
        bool fits = scale->rank == x->rank;
        for (int i = 0; fits && i < x->rank; i++)
            fits = i == axis ? !dim_known(x->dims[i]) || !dim_known(scale->dims[i]) ||
                                   scale->dims[i] == (x->dims[i] + p->block_size - 1) / p->block_size
                             : dim_may_equal(scale->dims[i], x->dims[i]);
        if (!fits)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "scale '%s' %s does not block x %s by %lld along axis %d (its dim there must "
                            "be ceil(%s / %lld), the others x's)", op_input_name(ctx, QUANT_SCALE),
                            shape_str(scale, ss, sizeof ss), shape_str(x, sx, sizeof sx),
                            (long long)p->block_size, axis, "x's dim", (long long)p->block_size);
        form = QUANT_BLOCKED;
    } else if (!may_be_one_element(scale)) {
        /* Per axis: one scale per slice of x along `axis`, the only form that reads it. */
        if (ctx->opset < 13 || scale->rank != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scale '%s' %s must be a scalar%s",
                            op_input_name(ctx, QUANT_SCALE), shape_str(scale, ss, sizeof ss),
                            ctx->opset < 13 ? " before opset 13" : " or a vector (or give block_size)");
        onyx_status st = op_axis(ctx, "axis", p->axis, x->rank, &axis);
        if (st)
            return st;
        if (!dim_may_equal(scale->dims[0], x->dims[axis]))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scale '%s' %s does not match axis %d of x %s",
                            op_input_name(ctx, QUANT_SCALE), shape_str(scale, ss, sizeof ss), axis,
                            shape_str(x, sx, sizeof sx));
        form = QUANT_PER_AXIS;
    }
    if (!ctx->concrete)
        return ONYX_OK;
    quant_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->form = form;
    s->count = tensor_count(x);
    if (form != QUANT_PER_TENSOR) {
        int64_t outer;
        shape_split(x, axis, &outer, &s->axis_len, &s->inner);
        s->scale_len = scale->dims[axis];
        s->block = p->block_size;
    }
    ctx->state = s;
    ctx->n_tasks = (s->count + QUANT_CHUNK - 1) / QUANT_CHUNK;
    ctx->task_cost = QUANT_CHUNK;
    return ONYX_OK;
}

/* The index of element i's scale and zero point. */
static int64_t param_of(const quant_state *s, int64_t i)
{
    if (s->form == QUANT_PER_TENSOR)
        return 0;
    int64_t slice = i / s->inner, a = slice % s->axis_len;
    if (s->form == QUANT_PER_AXIS)
        return a;
    return ((slice / s->axis_len) * s->scale_len + a / s->block) * s->inner + i % s->inner;
}

static onyx_status quantize_linear_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const quant_params *p = ctx->params;
    const quant_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[QUANT_X], *scale = ctx->inputs[QUANT_SCALE];
    const onyx_tensor *zero_point = op_input(ctx, QUANT_ZERO_POINT);
    onyx_tensor *y = ctx->outputs[0];
    int64_t first = begin * QUANT_CHUNK, last = OP_MIN(end * QUANT_CHUNK, s->count);
    if (s->form == QUANT_PER_TENSOR && x->dtype == ONYX_DTYPE_FLOAT && scale->dtype == ONYX_DTYPE_FLOAT &&
        p->precision == ONYX_DTYPE_FLOAT && (y->dtype == ONYX_DTYPE_UINT8 || y->dtype == ONYX_DTYPE_INT8)) {
        float sc = ((const float *)scale->data)[0];
        int32_t zp = quant_load(zero_point, 0);
        qgemm_quantize((const float *)x->data + first, last - first, sc, zp, y->dtype == ONYX_DTYPE_INT8,
                       (uint8_t *)y->data + first);
        return ONYX_OK;
    }
    minifloat_format mf = {0};
    bool to_float = minifloat_format_of(y->dtype, &mf);
    quant_range range = quant_range_of(y->dtype);
    for (int64_t i = begin * QUANT_CHUNK; i < OP_MIN(end * QUANT_CHUNK, s->count); i++) {
        int64_t c = param_of(s, i);
        /* x and the scale in the division's precision, and their quotient rounded to it. */
        double v = round_to(p->precision, round_to(p->precision, quant_value(x, i)) /
                                              round_to(p->precision, quant_value(scale, c)));
        if (to_float) /* x / scale + zero point, rounded once to the float type */
            ((uint8_t *)y->data)[i] = (uint8_t)minifloat_from_double(mf, v + quant_value(zero_point, c),
                                                                      p->saturate);
        else
            quant_store(y->data, i, y->dtype, quantize_scaled_double(v, quant_load(zero_point, c), range));
    }
    return ONYX_OK;
}

static onyx_status dequantize_linear_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const quant_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[QUANT_X], *scale = ctx->inputs[QUANT_SCALE];
    const onyx_tensor *zero_point = op_input(ctx, QUANT_ZERO_POINT);
    onyx_tensor *y = ctx->outputs[0];
    int64_t first = begin * QUANT_CHUNK, last = OP_MIN(end * QUANT_CHUNK, s->count);
    if (s->form == QUANT_PER_TENSOR && y->dtype == ONYX_DTYPE_FLOAT && scale->dtype == ONYX_DTYPE_FLOAT &&
        (x->dtype == ONYX_DTYPE_UINT8 || x->dtype == ONYX_DTYPE_INT8)) {
        float sc = ((const float *)scale->data)[0];
        int32_t zp = quant_load(zero_point, 0);
        if (x->dtype == ONYX_DTYPE_UINT8)
            dequantize_block_u8((const uint8_t *)x->data + first, last - first, sc, zp,
                                (float *)y->data + first);
        else
            dequantize_block_s8((const int8_t *)x->data + first, last - first, sc, zp,
                                (float *)y->data + first);
        return ONYX_OK;
    }
    minifloat_format mf = {0};
    bool from_float = minifloat_format_of(x->dtype, &mf);
    for (int64_t i = begin * QUANT_CHUNK; i < OP_MIN(end * QUANT_CHUNK, s->count); i++) {
        int64_t c = param_of(s, i);
        /* The difference exactly (in 64 bits for integers: int32 values minus their zero
         * point cannot overflow), then the product in float, rounded once to y's dtype. */
        float dx = from_float ? (float)(quant_value(x, i) - quant_value(zero_point, c))
                              : (float)((int64_t)quant_load(x, i) - quant_load(zero_point, c));
        float_io_store(y->dtype, y->data, i, dx * (float)quant_value(scale, c));
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
    qgemm_range(in, count, &lo, &hi);
    quant_range range = quant_range_of(ONYX_DTYPE_UINT8);
    /* An all-zero input has an empty range: scale 1 (as onnxruntime) rather than 0/0. */
    float scale = hi == lo ? 1.0f : (hi - lo) / (float)(range.max - range.min);
    int32_t zero_point = quantize_scaled((float)range.min - lo / scale, 0, range);
    qgemm_quantize(in, count, scale, zero_point, false, ctx->outputs[DYNAMIC_Y]->data);
    if (op_output(ctx, DYNAMIC_SCALE))
        *(float *)ctx->outputs[DYNAMIC_SCALE]->data = scale;
    if (op_output(ctx, DYNAMIC_ZERO_POINT))
        *(uint8_t *)ctx->outputs[DYNAMIC_ZERO_POINT]->data = (uint8_t)zero_point;
    return ONYX_OK;
}

const op_descriptor op_DynamicQuantizeLinear = {dynamic_quantize_check, dynamic_quantize_reshape,
                                                dynamic_quantize_run, 0};

/* ---- onyx.QDQ: QuantizeLinear then DequantizeLinear of the same parameters -------------------- */
/* x (float) -> (saturate(round(x / scale) + zero_point) - zero_point) * scale, per tensor, the
 * integers 8-bit of the zero point's dtype: the two nodes ONNX Runtime's QDQ format puts on
 * a float value, in one pass and without the intermediate tensor (runtime/passes_quant.c).
 * Inputs: x, scale (float scalar), zero_point (uint8 or int8 scalar). */

static onyx_status qdq_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(FLOAT));
    if (!st)
        st = op_check_input(ctx, 1, true, DT(FLOAT));
    if (!st)
        st = op_check_input(ctx, 2, true, DT(UINT8) | DT(INT8));
    if (!st)
        op_set_output_dtypes(ctx, ONYX_DTYPE_FLOAT);
    return st;
}

static onyx_status qdq_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    char sp[128];
    for (int i = 1; i <= 2; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        if (!(t->rank == 0 || (t->rank == 1 && dim_may_equal(t->dims[0], 1))))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "'%s' %s must be a scalar", op_input_name(ctx, i),
                            shape_str(t, sp, sizeof sp));
    }
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (ctx->concrete) {
        ctx->n_tasks = (tensor_count(x) + QUANT_CHUNK - 1) / QUANT_CHUNK;
        ctx->task_cost = QUANT_CHUNK;
    }
    return ONYX_OK;
}

static onyx_status qdq_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const onyx_tensor *x = ctx->inputs[0], *zp = ctx->inputs[2];
    float scale = ((const float *)ctx->inputs[1]->data)[0];
    int32_t zero_point = quant_load(zp, 0);
    bool is_signed = zp->dtype == ONYX_DTYPE_INT8;
    const float *in = x->data;
    float *out = ctx->outputs[0]->data;
    int64_t last = OP_MIN(end * QUANT_CHUNK, tensor_count(x));
    uint8_t q[1024];
    for (int64_t i = begin * QUANT_CHUNK; i < last; i += (int64_t)sizeof q) {
        int64_t n = OP_MIN((int64_t)sizeof q, last - i);
        qgemm_quantize(in + i, n, scale, zero_point, is_signed, q);
        if (is_signed)
            dequantize_block_s8((const int8_t *)q, n, scale, zero_point, out + i);
        else
            dequantize_block_u8(q, n, scale, zero_point, out + i);
    }
    return ONYX_OK;
}

const op_descriptor op_QDQ = {qdq_check, qdq_reshape, qdq_run, 0};
