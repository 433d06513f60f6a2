/* Building blocks of elementwise operators: the numeric C types by dtype, and the shared
 * machinery of unary (Relu, Clip, ...), broadcasting binary (Add, Less, ...) and variadic
 * (Sum, Max, ...) operators, so that an operator is its per-element expression and one
 * descriptor line.
 *
 * float16 and bfloat16: a family without a kernel of its own for them runs its FLOAT kernel,
 * the machinery widening the operands to float block by block and rounding the results back
 * to nearest even (variadic: after each input, as numpy does). Which operators accept them is
 * then only their dtype mask in ops.def. */
#ifndef ONYX_ELEMENTWISE_H
#define ONYX_ELEMENTWISE_H

#include "broadcast.h"
#include "op.h"

#include <math.h>

/* X(DTYPE, ctype) for each numeric dtype with a C type. */
#define FOR_FLOAT_TYPES(X) X(FLOAT, float) X(DOUBLE, double)
#define FOR_SIGNED_TYPES(X) X(INT8, int8_t) X(INT16, int16_t) X(INT32, int32_t) X(INT64, int64_t)
#define FOR_UNSIGNED_TYPES(X) X(UINT8, uint8_t) X(UINT16, uint16_t) X(UINT32, uint32_t) X(UINT64, uint64_t)
#define FOR_INT_TYPES(X) FOR_SIGNED_TYPES(X) FOR_UNSIGNED_TYPES(X)
#define FOR_NUMERIC_TYPES(X) FOR_FLOAT_TYPES(X) FOR_INT_TYPES(X)
/* Integer types with the unsigned type of the same width, for wrapping arithmetic. */
#define FOR_SIGNED_TYPES_U(X) X(INT8, int8_t, uint8_t) X(INT16, int16_t, uint16_t) \
    X(INT32, int32_t, uint32_t) X(INT64, int64_t, uint64_t)
#define FOR_UNSIGNED_TYPES_U(X) X(UINT8, uint8_t, uint8_t) X(UINT16, uint16_t, uint16_t) \
    X(UINT32, uint32_t, uint32_t) X(UINT64, uint64_t, uint64_t)
#define FOR_INT_TYPES_U(X) FOR_SIGNED_TYPES_U(X) FOR_UNSIGNED_TYPES_U(X)

/* Tables indexed by dtype cover every dtype, so that one indexed by an input whose dtype the
 * registry does not check (Pow's exponent) finds NULL, not memory past its end. */
#define DTYPE_COUNT (ONYX_DTYPE_FLOAT6E3M2 + 1)

/* a_b with both macro-expanded first: names kernels from a family name and a dtype. */
#define PASTE_(a, b) a##_##b
#define PASTE(a, b) PASTE_(a, b)

/* `[ONYX_DTYPE_<D>] = <KERNEL_PREFIX>_<D>,`: kernel tables are built as
 * {FOR_..._TYPES(KERNEL_ENTRY)} with KERNEL_PREFIX defined as the kernels' family name. */
#define KERNEL_ENTRY(D, ...) [ONYX_DTYPE_##D] = PASTE(KERNEL_PREFIX, D),

/* Kernels are compiled for AVX-512, AVX2 and baseline x86-64, chosen once per process by the
 * loader (ifunc). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(ONYX_NO_CLONES)
#define ELEMENTWISE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ELEMENTWISE_CLONES
#endif

/* ---- binary ----------------------------------------------------------------------------- */

/* out[i] = f(a[i * step_a], b[i * step_b]) for i < n; steps are 0 or 1. */
typedef void (*binary_kernel)(void *out, const void *a, int64_t step_a, const void *b, int64_t step_b,
                              int64_t n);

/* Defines `static void name(...)`, a binary_kernel computing OUT from a TA `x` and a TB `y`
 * with EXPR, the four step cases written out so that each loop vectorizes. */
#define BINARY_KERNEL2(name, TA, TB, OUT, EXPR)                                                 \
    ELEMENTWISE_CLONES static void name(void *o_, const void *a_, int64_t sa, const void *b_,   \
                                        int64_t sb, int64_t n)                                 \
    {                                                                                          \
        OUT *restrict o = o_;                                                                  \
        const TA *restrict a = a_;                                                             \
        const TB *restrict b = b_;                                                             \
        if (sa && sb) {                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                  \
                TA x = a[i];                                                                   \
                TB y = b[i];                                                                   \
                o[i] = (OUT)(EXPR);                                                            \
            }                                                                                  \
        } else if (sa) {                                                                       \
            const TB y = b[0];                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                  \
                TA x = a[i];                                                                   \
                o[i] = (OUT)(EXPR);                                                            \
            }                                                                                  \
        } else if (sb) {                                                                       \
            const TA x = a[0];                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                  \
                TB y = b[i];                                                                   \
                o[i] = (OUT)(EXPR);                                                            \
            }                                                                                  \
        } else {                                                                               \
            TA x = a[0];                                                                       \
            TB y = b[0];                                                                       \
            OUT v = (OUT)(EXPR);                                                               \
            for (int64_t i = 0; i < n; i++)                                                    \
                o[i] = v;                                                                      \
        }                                                                                      \
    }
#define BINARY_KERNEL(name, T, OUT, EXPR) BINARY_KERNEL2(name, T, T, OUT, EXPR)

/* A broadcasting binary operator: its kernels by input dtype, and the output dtype. */
typedef struct binary_family {
    binary_kernel kernels[DTYPE_COUNT];
    bool bool_output;       /* comparisons: output is bool */
    bool mixed_types;       /* the second input may have another dtype (Pow) */
    binary_kernel (*pick)(onyx_dtype a, onyx_dtype b); /* mixed_types: the kernel for a pair */
    /* B broadcasts onto A, whose shape the output keeps (PRelu's slope). Before opset 7 a B
     * of lower rank lines up with A from axis 1: one value per channel. */
    bool onto_first;
} binary_family;

onyx_status binary_check(op_context *ctx, const binary_family *family);
onyx_status binary_reshape(op_context *ctx);
onyx_status binary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch);

/* ---- unary ------------------------------------------------------------------------------ */

/* What a unary kernel reads besides its input: up to two float attributes, and bounds given
 * as inputs (Clip): each a pointer to one element of the input's dtype, NULL when absent. */
typedef struct unary_args {
    float alpha, beta;
    const void *low, *high;
} unary_args;

/* out[i] = f(in[i]) for i < n. */
typedef void (*unary_kernel)(void *out, const void *in, int64_t n, const unary_args *args);

/* Defines `static void name(...)`, a unary_kernel computing OUT from a T `x` with EXPR, which
 * may use `alpha` and `beta`. */
#define UNARY_KERNEL(name, T, OUT, EXPR)                                                       \
    ELEMENTWISE_CLONES static void name(void *o_, const void *i_, int64_t n,                   \
                                        const unary_args *args)                                \
    {                                                                                          \
        OUT *restrict o = o_;                                                                  \
        const T *restrict in = i_;                                                             \
        const float alpha = args->alpha, beta = args->beta;                                    \
        (void)alpha;                                                                           \
        (void)beta;                                                                            \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T x = in[i];                                                                       \
            o[i] = (OUT)(EXPR);                                                                \
        }                                                                                      \
    }

typedef struct unary_family {
    unary_kernel kernels[DTYPE_COUNT];
    onyx_dtype output_dtype;   /* 0: same as the input */
    const char *alpha_name;    /* attributes read into alpha / beta, or NULL for the default */
    float alpha_default;
    const char *beta_name;
    float beta_default;
    bool int_attributes;       /* alpha and beta come from int attributes (IsInf's flags) */
    bool bound_inputs;         /* optional scalar inputs 1 and 2 are `low` and `high` (Clip) */
} unary_family;

onyx_status unary_check(op_context *ctx, const unary_family *family);
onyx_status unary_reshape(op_context *ctx);
onyx_status unary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch);

/* `static const unary_family <name>_family` of float and double kernels computing EXPR, which
 * serves both types where the file includes <tgmath.h> (each math function then resolves to
 * its float or double variant by the type of x). The arguments after EXPR initialize the
 * family's other fields. FLOAT_PREDICATE_FAMILY: bool output. */
#define FLOAT_FAMILY_(name, OUT_F, OUT_D, EXPR, ...)                                          \
    UNARY_KERNEL(name##_FLOAT, float, OUT_F, EXPR)                                             \
    UNARY_KERNEL(name##_DOUBLE, double, OUT_D, EXPR)                                           \
    static const unary_family name##_family = {                                                \
        .kernels = {[ONYX_DTYPE_FLOAT] = name##_FLOAT, [ONYX_DTYPE_DOUBLE] = name##_DOUBLE},    \
        __VA_ARGS__};
#define FLOAT_FAMILY(name, EXPR, ...) FLOAT_FAMILY_(name, float, double, EXPR, __VA_ARGS__)
/* A family whose float kernel is the GEMM epilogue's vector `activation` (gemm.h gives its
 * accuracy; several times as fast as the C library's function per element) and whose double
 * kernel computes EXPR. float16 and bfloat16 go through the float kernel. Needs gemm.h. */
#define VECTOR_FLOAT_FAMILY(name, activation, EXPR)                                           \
    static void name##_FLOAT(void *out, const void *in, int64_t n, const unary_args *args)     \
    {                                                                                          \
        (void)args;                                                                            \
        gemm_activate_into(out, in, n, activation);                                            \
    }                                                                                          \
    UNARY_KERNEL(name##_DOUBLE, double, double, EXPR)                                          \
    static const unary_family name##_family = {                                                \
        .kernels = {[ONYX_DTYPE_FLOAT] = name##_FLOAT, [ONYX_DTYPE_DOUBLE] = name##_DOUBLE}};
#define FLOAT_PREDICATE_FAMILY(name, EXPR, ...)                                               \
    FLOAT_FAMILY_(name, uint8_t, uint8_t, EXPR, .output_dtype = ONYX_DTYPE_BOOL, __VA_ARGS__)

/* ---- variadic --------------------------------------------------------------------------- */

/* acc[i] = f(acc[i], in[i * step]) for i < n; step is 0 or 1. */
typedef void (*accumulate_kernel)(void *acc, const void *in, int64_t step, int64_t n);
/* acc[i] = g(acc[i], count) for i < n, once every input is folded in (Mean's division). */
typedef void (*finish_kernel)(void *acc, int64_t n, int64_t count);

/* Defines `static void name(...)`, an accumulate_kernel computing the new T value from the
 * accumulated `x` and the input's `y` with EXPR. */
#define ACCUMULATE_KERNEL(name, T, EXPR)                                                       \
    ELEMENTWISE_CLONES static void name(void *acc_, const void *in_, int64_t step, int64_t n)   \
    {                                                                                          \
        T *restrict acc = acc_;                                                                \
        const T *restrict in = in_;                                                            \
        if (step) {                                                                            \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = acc[i], y = in[i];                                                       \
                acc[i] = (T)(EXPR);                                                            \
            }                                                                                  \
        } else {                                                                               \
            const T y = in[0];                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = acc[i];                                                                  \
                acc[i] = (T)(EXPR);                                                            \
            }                                                                                  \
        }                                                                                      \
    }

/* A variadic operator over 1 or more inputs of one dtype, broadcast together (from opset 8;
 * before, all of one shape): the first input is copied out, each next one folded in. */
typedef struct variadic_family {
    accumulate_kernel kernels[DTYPE_COUNT];
    finish_kernel finish[DTYPE_COUNT]; /* NULL entries: nothing to finish */
} variadic_family;

onyx_status variadic_check(op_context *ctx, const variadic_family *family);
onyx_status variadic_reshape(op_context *ctx);
onyx_status variadic_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch);

#endif
