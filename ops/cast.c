/* Cast between the numeric types, bool, float16 and bfloat16. Integers convert modulo the
 * target's width (as numpy does); floats to integers truncate toward zero, NaN giving 0 and
 * out-of-range values clamping, so that no conversion is undefined behaviour. */
#include "half.h"
#include "op.h"

#include <math.h>

#define CAST_CHUNK 16384
#define CAST_DTYPES (DT_NUMERIC | DT(BOOL) | DT(FLOAT16) | DT(BFLOAT16))

/* One element, held exactly: integers as 64-bit, floating point as double. */
typedef struct scalar {
    bool is_float;
    double f;
    uint64_t bits; /* integers, two's complement */
} scalar;

static scalar load(const void *data, int64_t i, onyx_dtype dt)
{
    scalar s = {0};
    switch (dt) {
    case ONYX_DTYPE_FLOAT: s.is_float = true, s.f = ((const float *)data)[i]; break;
    case ONYX_DTYPE_DOUBLE: s.is_float = true, s.f = ((const double *)data)[i]; break;
    case ONYX_DTYPE_FLOAT16: s.is_float = true, s.f = half_to_float(((const uint16_t *)data)[i]); break;
    case ONYX_DTYPE_BFLOAT16: s.is_float = true, s.f = bfloat16_to_float(((const uint16_t *)data)[i]); break;
    case ONYX_DTYPE_INT8: s.bits = (uint64_t)(int64_t)((const int8_t *)data)[i]; break;
    case ONYX_DTYPE_INT16: s.bits = (uint64_t)(int64_t)((const int16_t *)data)[i]; break;
    case ONYX_DTYPE_INT32: s.bits = (uint64_t)(int64_t)((const int32_t *)data)[i]; break;
    case ONYX_DTYPE_INT64: s.bits = (uint64_t)((const int64_t *)data)[i]; break;
    case ONYX_DTYPE_UINT8: case ONYX_DTYPE_BOOL: s.bits = ((const uint8_t *)data)[i]; break;
    case ONYX_DTYPE_UINT16: s.bits = ((const uint16_t *)data)[i]; break;
    case ONYX_DTYPE_UINT32: s.bits = ((const uint32_t *)data)[i]; break;
    case ONYX_DTYPE_UINT64: s.bits = ((const uint64_t *)data)[i]; break;
    default: break;
    }
    return s;
}

/* The integer bits of a value: floats truncated and clamped to the 64-bit range. */
static uint64_t as_bits(scalar s)
{
    if (!s.is_float)
        return s.bits;
    double t = trunc(s.f);
    if (isnan(t))
        return 0;
    if (t >= 9223372036854775807.0)
        return t >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)t;
    if (t <= -9223372036854775808.0)
        return (uint64_t)INT64_MIN;
    return (uint64_t)(int64_t)t;
}

static bool is_signed_int(onyx_dtype dt)
{
    return dt == ONYX_DTYPE_INT8 || dt == ONYX_DTYPE_INT16 || dt == ONYX_DTYPE_INT32 || dt == ONYX_DTYPE_INT64;
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

static void store(void *data, int64_t i, onyx_dtype dt, scalar s, onyx_dtype src)
{
    switch (dt) {
    case ONYX_DTYPE_FLOAT: ((float *)data)[i] = as_float(s, src); break;
    case ONYX_DTYPE_DOUBLE: ((double *)data)[i] = as_double(s, src); break;
    case ONYX_DTYPE_FLOAT16: ((uint16_t *)data)[i] = float_to_half((float)as_double(s, src)); break;
    case ONYX_DTYPE_BFLOAT16: ((uint16_t *)data)[i] = float_to_bfloat16((float)as_double(s, src)); break;
    case ONYX_DTYPE_BOOL: ((uint8_t *)data)[i] = s.is_float ? s.f != 0 : s.bits != 0; break;
    case ONYX_DTYPE_INT8: case ONYX_DTYPE_UINT8: ((uint8_t *)data)[i] = (uint8_t)as_bits(s); break;
    case ONYX_DTYPE_INT16: case ONYX_DTYPE_UINT16: ((uint16_t *)data)[i] = (uint16_t)as_bits(s); break;
    case ONYX_DTYPE_INT32: case ONYX_DTYPE_UINT32: ((uint32_t *)data)[i] = (uint32_t)as_bits(s); break;
    case ONYX_DTYPE_INT64: case ONYX_DTYPE_UINT64: ((uint64_t *)data)[i] = as_bits(s); break;
    default: break;
    }
}

static onyx_status cast_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, CAST_DTYPES);
    int64_t to;
    if (!st)
        st = op_attr_require(ctx, "to");
    if (!st)
        st = op_attr_int(ctx, "to", 0, &to);
    if (st)
        return st;
    if (to < 0 || to >= 32 || !(CAST_DTYPES & (1u << to)))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "cast to %s (%lld) is not supported",
                        onyx_dtype_name((onyx_dtype)to), (long long)to);
    op_set_output_dtypes(ctx, (onyx_dtype)to);
    return ONYX_OK;
}

/* CastLike: Cast to the dtype of input 1, whose values are never read. */
static onyx_status castlike_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, CAST_DTYPES);
    if (!st)
        st = op_check_input(ctx, 1, true, CAST_DTYPES);
    if (st)
        return st;
    op_set_output_dtypes(ctx, op_input(ctx, 1)->dtype);
    return ONYX_OK;
}

static onyx_status cast_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    if (ctx->concrete) {
        ctx->n_tasks = (tensor_count(x) + CAST_CHUNK - 1) / CAST_CHUNK;
        ctx->task_cost = CAST_CHUNK;
    }
    return ONYX_OK;
}

static onyx_status cast_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    int64_t last = OP_MIN(end * CAST_CHUNK, tensor_count(x));
    for (int64_t i = begin * CAST_CHUNK; i < last; i++)
        store(y->data, i, y->dtype, load(x->data, i, x->dtype), x->dtype);
    return ONYX_OK;
}

const op_descriptor op_Cast = {cast_check, cast_reshape, cast_run, 0};
const op_descriptor op_CastLike = {castlike_check, cast_reshape, cast_run, 1u << 1};
