/* Broadcasting binary arithmetic: Add, Sub, Mul, Div, Pow, Mod.
 * Integer arithmetic wraps (computed in the unsigned type); integer division and modulo by
 * zero give 0 rather than a trap. */
#include "elementwise.h"
#include "half.h"

/* Kernels `<op>_<DTYPE>` for float types from FEXPR and integer types from IEXPR, and the
 * family table `<op>_family` over all of them. */
#define ARITH_F(D, T) BINARY_KERNEL(PASTE(KERNEL_PREFIX, D), T, T, ARITH_FEXPR)

#define KERNEL_PREFIX add
#define ARITH_FEXPR x + y
FOR_FLOAT_TYPES(ARITH_F)
#define ADD_I(D, T, U) BINARY_KERNEL(add_##D, T, T, (U)x + (U)y)
FOR_INT_TYPES_U(ADD_I)
static const binary_family add_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX
#undef ARITH_FEXPR

#define KERNEL_PREFIX sub
#define ARITH_FEXPR x - y
FOR_FLOAT_TYPES(ARITH_F)
#define SUB_I(D, T, U) BINARY_KERNEL(sub_##D, T, T, (U)x - (U)y)
FOR_INT_TYPES_U(SUB_I)
static const binary_family sub_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX
#undef ARITH_FEXPR

#define KERNEL_PREFIX mul
#define ARITH_FEXPR x * y
FOR_FLOAT_TYPES(ARITH_F)
#define MUL_I(D, T, U) BINARY_KERNEL(mul_##D, T, T, (U)x * (U)y)
FOR_INT_TYPES_U(MUL_I)
static const binary_family mul_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX
#undef ARITH_FEXPR

#define KERNEL_PREFIX div
#define ARITH_FEXPR x / y
FOR_FLOAT_TYPES(ARITH_F)
#define DIV_S(D, T, U) BINARY_KERNEL(div_##D, T, T, y == 0 ? 0 : y == -1 ? (T)(0u - (U)x) : x / y)
#define DIV_U(D, T, U) BINARY_KERNEL(div_##D, T, T, y == 0 ? 0 : x / y)
FOR_SIGNED_TYPES_U(DIV_S)
FOR_UNSIGNED_TYPES_U(DIV_U)
static const binary_family div_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef KERNEL_PREFIX
#undef ARITH_FEXPR

/* Mod: integer mod takes the sign of the divisor (Python's %); fmod that of the dividend
 * (C's % and fmod). A zero divisor gives 0 for integers (NaN for floats, from fmod), and a
 * divisor of -1 gives 0 without computing INT_MIN % -1, which traps. Float mod (fmod = 0,
 * opset 28) is A - floor(A / B) * B as numpy's mod: fmod moved into the divisor's sign, a
 * zero remainder signed as the divisor; the special cases of the spec follow from fmod's
 * (an infinite or NaN operand, a zero divisor give NaN; x finite over an infinite divisor of
 * the other sign gives the divisor). */
#define FLOORED_MOD(x, y) ((x) % (y) != 0 && ((x) % (y) < 0) != ((y) < 0) ? (x) % (y) + (y) : (x) % (y))
#define MOD_S(D, T)                                                                            \
    BINARY_KERNEL(mod_##D, T, T, y == 0 || y == -1 ? 0 : FLOORED_MOD(x, y))                    \
    BINARY_KERNEL(fmod_##D, T, T, y == 0 || y == -1 ? 0 : x % y)
#define MOD_U(D, T) BINARY_KERNEL(mod_##D, T, T, y == 0 ? 0 : x % y)
FOR_SIGNED_TYPES(MOD_S)
FOR_UNSIGNED_TYPES(MOD_U)
static inline double floored_fmod(double x, double y)
{
    double r = fmod(x, y);
    if (r == 0)
        return copysign(0, y);
    return (r < 0) != (y < 0) ? r + y : r;
}
static inline float floored_fmodf(float x, float y)
{
    float r = fmodf(x, y);
    if (r == 0)
        return copysignf(0, y);
    return (r < 0) != (y < 0) ? r + y : r;
}
BINARY_KERNEL(fmod_FLOAT, float, float, fmodf(x, y))
BINARY_KERNEL(fmod_DOUBLE, double, double, fmod(x, y))
BINARY_KERNEL(mod_FLOAT, float, float, floored_fmodf(x, y))
BINARY_KERNEL(mod_DOUBLE, double, double, floored_fmod(x, y))
/* Exact in float: the remainder of two halves is representable in half (the divisor added to
 * it is rounded once, as numpy does for float16). */
BINARY_KERNEL(fmod_FLOAT16, uint16_t, uint16_t, float_to_half(fmodf(half_to_float(x), half_to_float(y))))
BINARY_KERNEL(fmod_BFLOAT16, uint16_t, uint16_t,
              float_to_bfloat16(fmodf(bfloat16_to_float(x), bfloat16_to_float(y))))
BINARY_KERNEL(mod_FLOAT16, uint16_t, uint16_t,
              float_to_half(floored_fmodf(half_to_float(x), half_to_float(y))))
BINARY_KERNEL(mod_BFLOAT16, uint16_t, uint16_t,
              float_to_bfloat16(floored_fmodf(bfloat16_to_float(x), bfloat16_to_float(y))))

#define KERNEL_PREFIX mod
static const binary_family mod_family = {
    .kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY) KERNEL_ENTRY(FLOAT16) KERNEL_ENTRY(BFLOAT16)}};
#undef KERNEL_PREFIX
/* Unsigned mod and fmod agree. */
#define KERNEL_PREFIX fmod
static const binary_family fmod_family = {
    .kernels = {FOR_SIGNED_TYPES(KERNEL_ENTRY) FOR_FLOAT_TYPES(KERNEL_ENTRY) KERNEL_ENTRY(FLOAT16)
                KERNEL_ENTRY(BFLOAT16)
                [ONYX_DTYPE_UINT8] = mod_UINT8, [ONYX_DTYPE_UINT16] = mod_UINT16,
                [ONYX_DTYPE_UINT32] = mod_UINT32, [ONYX_DTYPE_UINT64] = mod_UINT64}};
#undef KERNEL_PREFIX

static onyx_status mod_check(op_context *ctx)
{
    int64_t fmod_flag;
    onyx_status st = op_attr_int(ctx, "fmod", 0, &fmod_flag);
    if (st)
        return st;
    if (fmod_flag != 0 && fmod_flag != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'fmod' is %lld; expected 0 or 1",
                        (long long)fmod_flag);
    const onyx_tensor *a = op_input(ctx, 0);
    /* Before opset 28 float mod was left undefined. */
    if (ctx->opset < 28 && !fmod_flag && a && (DT_FLOATS | DT(FLOAT16) | DT(BFLOAT16)) & (1u << a->dtype))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'fmod' must be 1 for %s inputs before opset 28",
                        onyx_dtype_name(a->dtype));
    return binary_check(ctx, fmod_flag ? &fmod_family : &mod_family);
}

/* Pow: the exponent may have any numeric type. Integer powers of integers are exact (repeated
 * squaring, wrapping); everything else goes through double, and back to an integer base's
 * type truncated and clamped (NaN giving 0), so that no conversion is undefined. */
static int64_t ipow(int64_t base, uint64_t exponent, bool negative)
{
    if (negative)
        return base == 1 ? 1 : base == -1 ? (exponent % 2 ? -1 : 1) : 0;
    uint64_t result = 1, b = (uint64_t)base;
    for (uint64_t e = exponent; e; e >>= 1, b *= b)
        if (e & 1)
            result *= b;
    return (int64_t)result;
}

static int64_t saturate(double v, int64_t low, int64_t high)
{
    if (isnan(v))
        return 0;
    if (v <= (double)low)
        return low;
    if (v >= (double)high)
        return high; /* (double)INT64_MAX is 2^63, out of range itself */
    return (int64_t)v;
}

#define POW_DOUBLE(x, y) pow((double)(x), (double)(y))
#define POW_INT_S(x, y) ipow(x, (y) < 0 ? 0u - (uint64_t)(y) : (uint64_t)(y), (y) < 0)
#define POW_INT_U(x, y) ipow(x, y, false)
/* pow_<BASE>_<EXPONENT> for a base dtype B over each exponent dtype. */
#define POW_KERNELS(B, TB, FLOAT_EXPR, SIGNED_EXPR, UNSIGNED_EXPR)                             \
    BINARY_KERNEL2(pow_##B##_FLOAT, TB, float, TB, FLOAT_EXPR)                                 \
    BINARY_KERNEL2(pow_##B##_DOUBLE, TB, double, TB, FLOAT_EXPR)                               \
    BINARY_KERNEL2(pow_##B##_INT8, TB, int8_t, TB, SIGNED_EXPR)                                \
    BINARY_KERNEL2(pow_##B##_INT16, TB, int16_t, TB, SIGNED_EXPR)                              \
    BINARY_KERNEL2(pow_##B##_INT32, TB, int32_t, TB, SIGNED_EXPR)                              \
    BINARY_KERNEL2(pow_##B##_INT64, TB, int64_t, TB, SIGNED_EXPR)                              \
    BINARY_KERNEL2(pow_##B##_UINT8, TB, uint8_t, TB, UNSIGNED_EXPR)                            \
    BINARY_KERNEL2(pow_##B##_UINT16, TB, uint16_t, TB, UNSIGNED_EXPR)                          \
    BINARY_KERNEL2(pow_##B##_UINT32, TB, uint32_t, TB, UNSIGNED_EXPR)                          \
    BINARY_KERNEL2(pow_##B##_UINT64, TB, uint64_t, TB, UNSIGNED_EXPR)
/* Squaring is the common case (LayerNorm written out), kept off powf. */
BINARY_KERNEL(pow_FLOAT_FLOAT, float, float, y == 2.0f ? x * x : powf(x, y))
BINARY_KERNEL2(pow_FLOAT_DOUBLE, float, double, float, POW_DOUBLE(x, y))
#define POW_FLOAT_BY_INT(D, T) BINARY_KERNEL2(pow_FLOAT_##D, float, T, float, POW_DOUBLE(x, y))
FOR_INT_TYPES(POW_FLOAT_BY_INT)
POW_KERNELS(DOUBLE, double, POW_DOUBLE(x, y), POW_DOUBLE(x, y), POW_DOUBLE(x, y))
POW_KERNELS(INT32, int32_t, saturate(POW_DOUBLE(x, y), INT32_MIN, INT32_MAX), (int32_t)POW_INT_S(x, y),
            (int32_t)POW_INT_U(x, y))
POW_KERNELS(INT64, int64_t, saturate(POW_DOUBLE(x, y), INT64_MIN, INT64_MAX), POW_INT_S(x, y), POW_INT_U(x, y))

static binary_kernel pow_pick(onyx_dtype base, onyx_dtype exponent)
{
#define POW_ROW(B) [ONYX_DTYPE_##B] = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}
    static const binary_kernel table[DTYPE_COUNT][DTYPE_COUNT] = {
#define KERNEL_PREFIX pow_FLOAT
        POW_ROW(FLOAT),
#undef KERNEL_PREFIX
#define KERNEL_PREFIX pow_DOUBLE
        POW_ROW(DOUBLE),
#undef KERNEL_PREFIX
#define KERNEL_PREFIX pow_INT32
        POW_ROW(INT32),
#undef KERNEL_PREFIX
#define KERNEL_PREFIX pow_INT64
        POW_ROW(INT64),
#undef KERNEL_PREFIX
    };
    return table[base][exponent];
}
static const binary_family pow_family = {.mixed_types = true, .pick = pow_pick};

static onyx_status add_check(op_context *ctx) { return binary_check(ctx, &add_family); }
const op_descriptor op_Add = {add_check, binary_reshape, binary_run, 0};
static onyx_status sub_check(op_context *ctx) { return binary_check(ctx, &sub_family); }
const op_descriptor op_Sub = {sub_check, binary_reshape, binary_run, 0};
static onyx_status mul_check(op_context *ctx) { return binary_check(ctx, &mul_family); }
const op_descriptor op_Mul = {mul_check, binary_reshape, binary_run, 0};
static onyx_status div_check(op_context *ctx) { return binary_check(ctx, &div_family); }
const op_descriptor op_Div = {div_check, binary_reshape, binary_run, 0};
const op_descriptor op_Mod = {mod_check, binary_reshape, binary_run, 0};
static onyx_status pow_check(op_context *ctx) { return binary_check(ctx, &pow_family); }
const op_descriptor op_Pow = {pow_check, binary_reshape, binary_run, 0};
