/* Broadcasting binary arithmetic and comparison: Add, Sub, Mul, Div, Pow, Equal.
 * Integer arithmetic wraps (computed in the unsigned type); integer division by zero gives 0
 * rather than a trap. */
#include "elementwise.h"

/* Kernels `<op>_<DTYPE>` for float types from FEXPR and integer types from IEXPR, and the
 * family table `<op>_family` over all of them. */
#define ARITH_F(D, T) BINARY_KERNEL(PASTE(ARITH_NAME, D), T, T, ARITH_FEXPR)
#define KERNEL_ENTRY(D, ...) [ONYX_DTYPE_##D] = PASTE(ARITH_NAME, D),

#define ARITH_NAME add
#define ARITH_FEXPR x + y
FOR_FLOAT_TYPES(ARITH_F)
#define ADD_I(D, T, U) BINARY_KERNEL(add_##D, T, T, (U)x + (U)y)
FOR_INT_TYPES_U(ADD_I)
static const binary_family add_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef ARITH_NAME
#undef ARITH_FEXPR

#define ARITH_NAME sub
#define ARITH_FEXPR x - y
FOR_FLOAT_TYPES(ARITH_F)
#define SUB_I(D, T, U) BINARY_KERNEL(sub_##D, T, T, (U)x - (U)y)
FOR_INT_TYPES_U(SUB_I)
static const binary_family sub_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef ARITH_NAME
#undef ARITH_FEXPR

#define ARITH_NAME mul
#define ARITH_FEXPR x * y
FOR_FLOAT_TYPES(ARITH_F)
#define MUL_I(D, T, U) BINARY_KERNEL(mul_##D, T, T, (U)x * (U)y)
FOR_INT_TYPES_U(MUL_I)
static const binary_family mul_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef ARITH_NAME
#undef ARITH_FEXPR

#define ARITH_NAME div
#define ARITH_FEXPR x / y
FOR_FLOAT_TYPES(ARITH_F)
#define DIV_S(D, T, U) BINARY_KERNEL(div_##D, T, T, y == 0 ? 0 : y == -1 ? (T)(0u - (U)x) : x / y)
#define DIV_U(D, T, U) BINARY_KERNEL(div_##D, T, T, y == 0 ? 0 : x / y)
FOR_SIGNED_TYPES_U(DIV_S)
FOR_UNSIGNED_TYPES_U(DIV_U)
static const binary_family div_family = {.kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY)}};
#undef ARITH_NAME
#undef ARITH_FEXPR

/* Equal: every numeric type and bool, bool output. */
#define EQ(D, T) BINARY_KERNEL(equal_##D, T, uint8_t, x == y)
FOR_NUMERIC_TYPES(EQ)
EQ(BOOL, uint8_t)
#define ARITH_NAME equal
static const binary_family equal_family = {
    .kernels = {FOR_NUMERIC_TYPES(KERNEL_ENTRY) KERNEL_ENTRY(BOOL)}, .bool_output = true};
#undef ARITH_NAME

/* Pow: the exponent may have another type than the base. Integer powers of integers are
 * exact (repeated squaring, wrapping); everything else goes through double. */
static int64_t ipow(int64_t base, int64_t exp)
{
    if (exp < 0)
        return base == 1 ? 1 : base == -1 ? (exp % 2 ? -1 : 1) : 0;
    uint64_t result = 1, b = (uint64_t)base;
    for (uint64_t e = (uint64_t)exp; e; e >>= 1, b *= b)
        if (e & 1)
            result *= b;
    return (int64_t)result;
}

BINARY_KERNEL(pow_ff, float, float, y == 2.0f ? x * x : powf(x, y))
BINARY_KERNEL(pow_dd, double, double, pow(x, y))
#define POW_FLOAT(TA, NA, TB, NB) BINARY_KERNEL2(pow_##NA##NB##_mixed, TA, TB, TA, pow((double)x, (double)y))
#define POW_INT(TA, NA, TB, NB) BINARY_KERNEL2(pow_##NA##NB##_mixed, TA, TB, TA, ipow(x, (int64_t)y))
POW_FLOAT(float, f, double, d)
POW_FLOAT(float, f, int32_t, i)
POW_FLOAT(float, f, int64_t, l)
POW_FLOAT(double, d, float, f)
POW_FLOAT(double, d, int32_t, i)
POW_FLOAT(double, d, int64_t, l)
POW_FLOAT(int32_t, i, float, f)
POW_FLOAT(int32_t, i, double, d)
POW_INT(int32_t, i, int32_t, i)
POW_INT(int32_t, i, int64_t, l)
POW_FLOAT(int64_t, l, float, f)
POW_FLOAT(int64_t, l, double, d)
POW_INT(int64_t, l, int32_t, i)
POW_INT(int64_t, l, int64_t, l)

static binary_kernel pow_pick(onyx_dtype a, onyx_dtype b)
{
    static const onyx_dtype types[4] = {ONYX_DTYPE_FLOAT, ONYX_DTYPE_DOUBLE, ONYX_DTYPE_INT32, ONYX_DTYPE_INT64};
    static const binary_kernel table[4][4] = {
        {pow_ff, pow_fd_mixed, pow_fi_mixed, pow_fl_mixed},
        {pow_df_mixed, pow_dd, pow_di_mixed, pow_dl_mixed},
        {pow_if_mixed, pow_id_mixed, pow_ii_mixed, pow_il_mixed},
        {pow_lf_mixed, pow_ld_mixed, pow_li_mixed, pow_ll_mixed},
    };
    int i = -1, j = -1;
    for (int k = 0; k < 4; k++) {
        if (types[k] == a)
            i = k;
        if (types[k] == b)
            j = k;
    }
    return i < 0 || j < 0 ? NULL : table[i][j];
}
static const binary_family pow_family = {.mixed_types = true, .pick = pow_pick};

BINARY_OPERATOR(Add, add_family);
BINARY_OPERATOR(Sub, sub_family);
BINARY_OPERATOR(Mul, mul_family);
BINARY_OPERATOR(Div, div_family);
BINARY_OPERATOR(Pow, pow_family);
BINARY_OPERATOR(Equal, equal_family);
