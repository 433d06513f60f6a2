/* Cast and CastLike between every numeric dtype ONNX 1.23 defines, bool among them.
 * Integers convert modulo the target's width (as numpy does); float, double and float16 to
 * the 8 to 64-bit integers truncate toward zero, NaN giving 0 and out-of-range values
 * clamping, so that no conversion is undefined behaviour. The types numpy lacks follow
 * ONNX's reference (ml_dtypes): bfloat16 and the 8, 6 and 4-bit floats to integers, and any
 * float to the 4 and 2-bit ones, truncate, a value outside the target's range giving 0; to
 * the 8, 6 and 4-bit floats values round to nearest even, out-of-range ones saturating (the
 * `saturate` attribute, float8 targets) or becoming inf / NaN; to FLOAT8E8M0 by `round_mode`. */
#include "dtype_io.h"
#include "op.h"

#include <math.h>
#include <string.h>

#define CAST_CHUNK 16384
#define CAST_DTYPES_13 (DT_NUMERIC | DT(BOOL) | DT(FLOAT16) | DT(BFLOAT16))
#define CAST_FLOAT8 (DT(FLOAT8E4M3FN) | DT(FLOAT8E4M3FNUZ) | DT(FLOAT8E5M2) | DT(FLOAT8E5M2FNUZ))

/* The dtypes Cast and CastLike take and give at an opset: the types each version added. */
static uint32_t cast_dtypes(int opset)
{
    uint32_t mask = CAST_DTYPES_13;
    if (opset >= 19)
        mask |= CAST_FLOAT8;
    if (opset >= 21)
        mask |= DT(INT4) | DT(UINT4);
    if (opset >= 23)
        mask |= DT(FLOAT4E2M1);
    if (opset >= 24)
        mask |= DT(FLOAT8E8M0);
    if (opset >= 25)
        mask |= DT(INT2) | DT(UINT2);
    if (opset >= 28)
        mask |= DT(FLOAT6E2M3) | DT(FLOAT6E3M2);
    return mask;
}

typedef struct cast_params {
    bool saturate;          /* float8 targets: out-of-range values to the largest finite one */
    e8m0_rounding rounding; /* FLOAT8E8M0 targets */
} cast_params;

/* One element, held exactly: integers as 64-bit, floating point as double. */
typedef struct scalar {
    bool is_float;
    double f;
    uint64_t bits; /* integers, two's complement */
} scalar;

static scalar load(const void *data, int64_t i, onyx_dtype dt)
{
    scalar s = {0};
    minifloat_format mf;
    switch (dt) {
    case ONYX_DTYPE_FLOAT: s.is_float = true, s.f = ((const float *)data)[i]; break;
    case ONYX_DTYPE_DOUBLE: s.is_float = true, s.f = ((const double *)data)[i]; break;
    case ONYX_DTYPE_FLOAT16: s.is_float = true, s.f = half_to_float(((const uint16_t *)data)[i]); break;
    case ONYX_DTYPE_BFLOAT16: s.is_float = true, s.f = bfloat16_to_float(((const uint16_t *)data)[i]); break;
    case ONYX_DTYPE_FLOAT8E8M0: s.is_float = true, s.f = e8m0_to_float(((const uint8_t *)data)[i]); break;
    case ONYX_DTYPE_INT8: s.bits = (uint64_t)(int64_t)((const int8_t *)data)[i]; break;
    case ONYX_DTYPE_INT16: s.bits = (uint64_t)(int64_t)((const int16_t *)data)[i]; break;
    case ONYX_DTYPE_INT32: s.bits = (uint64_t)(int64_t)((const int32_t *)data)[i]; break;
    case ONYX_DTYPE_INT64: s.bits = (uint64_t)((const int64_t *)data)[i]; break;
    case ONYX_DTYPE_UINT8: case ONYX_DTYPE_BOOL: s.bits = ((const uint8_t *)data)[i]; break;
    case ONYX_DTYPE_UINT16: s.bits = ((const uint16_t *)data)[i]; break;
    case ONYX_DTYPE_UINT32: s.bits = ((const uint32_t *)data)[i]; break;
    case ONYX_DTYPE_UINT64: s.bits = ((const uint64_t *)data)[i]; break;
    case ONYX_DTYPE_INT4: case ONYX_DTYPE_UINT4: case ONYX_DTYPE_INT2: case ONYX_DTYPE_UINT2:
        s.bits = (uint64_t)(int64_t)narrow_int_load(dt, ((const uint8_t *)data)[i]);
        break;
    default:
        if (minifloat_format_of(dt, &mf))
            s.is_float = true, s.f = minifloat_to_float(mf, ((const uint8_t *)data)[i]);
        break;
    }
    return s;
}

/* The integer bits of a value: floats truncated and clamped to the 64-bit range. */
static uint64_t as_bits(scalar s)
{
    if (!s.is_float)
        return s.bits;
    return real_to_int_bits(s.f);
}

static bool is_signed_int(onyx_dtype dt)
{
    return (DT_SIGNED_INTS | DT(INT4) | DT(INT2)) & (1u << dt);
}

static double as_double(scalar s, onyx_dtype src)
{
    if (s.is_float)
        return s.f;
    return is_signed_int(src) ? (double)(int64_t)s.bits : (double)s.bits;
}

/* float from an integer directly, rounding once. */
static float as_float(scalar s, onyx_dtype src)
{
    if (s.is_float)
        return (float)s.f;
    return is_signed_int(src) ? (float)(int64_t)s.bits : (float)s.bits;
}

/* A 4 or 2-bit integer: an integer wraps to the width (two's complement), as the wider ones
 * do; a float truncates, and one outside the range (NaN, inf) gives 0, as ml_dtypes casts. */
static uint8_t narrow_int_store(onyx_dtype dt, scalar s)
{
    int32_t min, max;
    narrow_int_range(dt, &min, &max);
    if (!s.is_float)
        return (uint8_t)narrow_int_load(dt, (uint8_t)s.bits);
    double t = trunc(s.f);
    return t >= min && t <= max ? (uint8_t)(int8_t)t : 0;
}

/* The float dtypes numpy lacks, which ONNX's reference converts with ml_dtypes. */
#define CAST_ML_FLOATS (DT(BFLOAT16) | DT(FLOAT8E8M0) | DT_MINIFLOATS)

/* ml_dtypes converts its floats to an integer type by truncating, and a value outside the
 * type's range (NaN, inf) to 0: as Cast of those dtypes does, where ONNX leaves it undefined.
 * Returns false for the other sources or targets. */
static bool ml_float_to_int(onyx_dtype dt, scalar s, onyx_dtype src, uint64_t *bits)
{
    static const double lo[ONYX_DTYPE_UINT64 + 1] = {
        [ONYX_DTYPE_INT8] = -0x1p7, [ONYX_DTYPE_INT16] = -0x1p15,
        [ONYX_DTYPE_INT32] = -0x1p31, [ONYX_DTYPE_INT64] = -0x1p63,
    };
    static const double hi[ONYX_DTYPE_UINT64 + 1] = {
        [ONYX_DTYPE_INT8] = 0x1p7,   [ONYX_DTYPE_INT16] = 0x1p15,  [ONYX_DTYPE_INT32] = 0x1p31,
        [ONYX_DTYPE_INT64] = 0x1p63, [ONYX_DTYPE_UINT8] = 0x1p8,   [ONYX_DTYPE_UINT16] = 0x1p16,
        [ONYX_DTYPE_UINT32] = 0x1p32, [ONYX_DTYPE_UINT64] = 0x1p64,
    };
    if (!(CAST_ML_FLOATS & (1u << src)) || !(DT_INTS & (1u << dt)))
        return false;
    double t = trunc(s.f);
    /* lo is 0 for the unsigned types; [lo, hi) holds every value of the type. */
    *bits = t >= lo[dt] && t < hi[dt] ? (t < 0 ? (uint64_t)(int64_t)t : (uint64_t)t) : 0;
    return true;
}

static void store(void *data, int64_t i, onyx_dtype dt, scalar s, onyx_dtype src, const cast_params *p)
{
    minifloat_format mf;
    if (ml_float_to_int(dt, s, src, &s.bits))
        s.is_float = false;
    switch (dt) {
    case ONYX_DTYPE_FLOAT: ((float *)data)[i] = as_float(s, src); break;
    case ONYX_DTYPE_DOUBLE: ((double *)data)[i] = as_double(s, src); break;
    case ONYX_DTYPE_FLOAT16: ((uint16_t *)data)[i] = float_to_half((float)as_double(s, src)); break;
    case ONYX_DTYPE_BFLOAT16: ((uint16_t *)data)[i] = float_to_bfloat16((float)as_double(s, src)); break;
    /* The reference converts to float first, then takes the exponent of its bits. */
    case ONYX_DTYPE_FLOAT8E8M0:
        ((uint8_t *)data)[i] = e8m0_from_float(as_float(s, src), p->saturate, p->rounding);
        break;
    case ONYX_DTYPE_BOOL: ((uint8_t *)data)[i] = s.is_float ? s.f != 0 : s.bits != 0; break;
    case ONYX_DTYPE_INT8: case ONYX_DTYPE_UINT8: ((uint8_t *)data)[i] = (uint8_t)as_bits(s); break;
    case ONYX_DTYPE_INT16: case ONYX_DTYPE_UINT16: ((uint16_t *)data)[i] = (uint16_t)as_bits(s); break;
    case ONYX_DTYPE_INT32: case ONYX_DTYPE_UINT32: ((uint32_t *)data)[i] = (uint32_t)as_bits(s); break;
    case ONYX_DTYPE_INT64: case ONYX_DTYPE_UINT64: ((uint64_t *)data)[i] = as_bits(s); break;
    case ONYX_DTYPE_INT4: case ONYX_DTYPE_UINT4: case ONYX_DTYPE_INT2: case ONYX_DTYPE_UINT2:
        ((uint8_t *)data)[i] = narrow_int_store(dt, s);
        break;
    default:
        /* The 8, 6 and 4-bit floats; `saturate` only matters to those with inf or NaN. */
        if (minifloat_format_of(dt, &mf))
            ((uint8_t *)data)[i] = (uint8_t)minifloat_from_double(mf, as_double(s, src), p->saturate);
        break;
    }
}

/* Reads saturate (Cast-19 on) and round_mode (Cast-24 on) into the node's params. */
static onyx_status cast_attrs(op_context *ctx)
{
    cast_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t saturate = 1;
    const char *mode = "up";
    onyx_status st = ONYX_OK;
    if (ctx->opset >= 19)
        st = op_attr_int(ctx, "saturate", 1, &saturate);
    if (!st && ctx->opset >= 24)
        st = op_attr_string(ctx, "round_mode", "up", &mode);
    if (st)
        return st;
    if (saturate != 0 && saturate != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute saturate is %lld; it must be 0 or 1",
                        (long long)saturate);
    p->saturate = saturate;
    if (!strcmp(mode, "up"))
        p->rounding = E8M0_UP;
    else if (!strcmp(mode, "down"))
        p->rounding = E8M0_DOWN;
    else if (!strcmp(mode, "nearest"))
        p->rounding = E8M0_NEAREST;
    else
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute round_mode is '%s'; it must be 'up', 'down' or 'nearest'", mode);
    ctx->params = p;
    return ONYX_OK;
}

static onyx_status cast_check(op_context *ctx)
{
    uint32_t dtypes = cast_dtypes(ctx->opset);
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, dtypes);
    int64_t to;
    if (!st)
        st = op_attr_require(ctx, "to");
    if (!st)
        st = op_attr_int(ctx, "to", 0, &to);
    if (!st)
        st = cast_attrs(ctx);
    if (st)
        return st;
    if (to < 0 || to >= 32 || !(dtypes & (1u << to)))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "cast to %s (%lld) is not supported at opset %d",
                        onyx_dtype_name((onyx_dtype)to), (long long)to, ctx->opset);
    op_set_output_dtypes(ctx, (onyx_dtype)to);
    return ONYX_OK;
}

/* CastLike: Cast to the dtype of input 1, whose values are never read. */
static onyx_status castlike_check(op_context *ctx)
{
    uint32_t dtypes = cast_dtypes(ctx->opset);
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, dtypes);
    if (!st)
        st = op_check_input(ctx, 1, true, dtypes);
    if (!st)
        st = cast_attrs(ctx);
    if (st)
        return st;
    op_set_output_dtypes(ctx, op_input(ctx, 1)->dtype);
    return ONYX_OK;
}

/* A cast to the input's own dtype, for the types whose every byte pattern converts to itself
 * (not the packed narrow types, whose unused high bits a cast clears): the bytes unchanged, as
 * exporters write it (softmax(..., dtype=float32).to(float32) in Hugging Face's attention). */
static bool same_type(const onyx_tensor *x, const onyx_tensor *y)
{
    if (x->dtype != y->dtype)
        return false;
    switch (x->dtype) {
    case ONYX_DTYPE_FLOAT: case ONYX_DTYPE_DOUBLE: case ONYX_DTYPE_FLOAT16: case ONYX_DTYPE_BFLOAT16:
    case ONYX_DTYPE_INT8: case ONYX_DTYPE_INT16: case ONYX_DTYPE_INT32: case ONYX_DTYPE_INT64:
    case ONYX_DTYPE_UINT8: case ONYX_DTYPE_UINT16: case ONYX_DTYPE_UINT32: case ONYX_DTYPE_UINT64:
        return true;
    default:
        return false;
    }
}

static onyx_status cast_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    /* The planner may give input and output the same memory: run then has nothing to do. */
    ctx->output_is_view = same_type(x, op_output(ctx, 0));
    if (ctx->concrete) {
        ctx->n_tasks = (tensor_count(x) + CAST_CHUNK - 1) / CAST_CHUNK;
        ctx->task_cost = CAST_CHUNK;
    }
    return ONYX_OK;
}

static onyx_status cast_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const cast_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    int64_t last = OP_MIN(end * CAST_CHUNK, tensor_count(x));
    if (same_type(x, y)) {
        size_t size = onyx_dtype_size(x->dtype);
        size_t from = (size_t)(begin * CAST_CHUNK) * size;
        if (x->data != y->data && last > begin * CAST_CHUNK)
            memcpy((char *)y->data + from, (const char *)x->data + from, (size_t)last * size - from);
        return ONYX_OK;
    }
    for (int64_t i = begin * CAST_CHUNK; i < last; i++)
        store(y->data, i, y->dtype, load(x->data, i, x->dtype), x->dtype, p);
    return ONYX_OK;
}

const op_descriptor op_Cast = {cast_check, cast_reshape, cast_run, 0};
const op_descriptor op_CastLike = {castlike_check, cast_reshape, cast_run, 1u << 1};
