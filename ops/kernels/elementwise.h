/* Building blocks of elementwise operators: the numeric C types by dtype, and the shared
 * machinery of broadcasting binary operators (Add, Equal, ...), so that an operator is its
 * per-element expression and one descriptor line. */
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

#define DTYPE_COUNT (ONYX_DTYPE_BFLOAT16 + 1)

/* a_b with both macro-expanded first: names kernels from a family name and a dtype. */
#define PASTE_(a, b) a##_##b
#define PASTE(a, b) PASTE_(a, b)

/* out[i] = f(a[i * step_a], b[i * step_b]) for i < n; steps are 0 or 1. */
typedef void (*binary_kernel)(void *out, const void *a, int64_t step_a, const void *b, int64_t step_b,
                              int64_t n);

/* Defines `static void name(...)`, a binary_kernel computing OUT from a TA `x` and a TB `y`
 * with EXPR, the four step cases written out so that each loop vectorizes. Compiled for
 * AVX-512, AVX2 and baseline x86-64, chosen once per process by the loader (ifunc). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(ONYX_NO_CLONES)
#define ELEMENTWISE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ELEMENTWISE_CLONES
/* ---- unary ------------------------------------------------------------------------------ */

/* out[i] = f(in[i]) for i < n, with up to two float attributes (alpha, beta). */
typedef void (*unary_kernel)(void *out, const void *in, int64_t n, float alpha, float beta);

/* Defines `static void name(...)`, a unary_kernel computing OUT from a T `x` with EXPR, which
 * may use `alpha` and `beta`. */
#define UNARY_KERNEL(name, T, OUT, EXPR)                                                       \
    ELEMENTWISE_CLONES static void name(void *o_, const void *i_, int64_t n, float alpha,       \
                                        float beta)                                            \
    {                                                                                          \
        OUT *restrict o = o_;                                                                  \
        const T *restrict in = i_;                                                             \
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
    const char *alpha_name;    /* float attributes read into alpha / beta, or NULL */
    float alpha_default;
    const char *beta_name;
    float beta_default;
} unary_family;

onyx_status unary_check(op_context *ctx, const unary_family *family);
onyx_status unary_reshape(op_context *ctx);
onyx_status unary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch);

#define UNARY_OPERATOR(name, family)                                                           \
    static onyx_status name##_check(op_context *ctx) { return unary_check(ctx, &family); }       \
    const op_descriptor op_##name = {name##_check, unary_reshape, unary_run, 0}

#endif
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
} binary_family;

onyx_status binary_check(op_context *ctx, const binary_family *family);
onyx_status binary_reshape(op_context *ctx);
onyx_status binary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch);

/* Declares `const op_descriptor op_<name>` for a binary family `family`. */
#define BINARY_OPERATOR(name, family)                                                          \
    static onyx_status name##_check(op_context *ctx) { return binary_check(ctx, &family); }      \
    const op_descriptor op_##name = {name##_check, binary_reshape, binary_run, 0}

/* ---- unary ------------------------------------------------------------------------------ */

/* out[i] = f(in[i]) for i < n, with up to two float attributes (alpha, beta). */
typedef void (*unary_kernel)(void *out, const void *in, int64_t n, float alpha, float beta);

/* Defines `static void name(...)`, a unary_kernel computing OUT from a T `x` with EXPR, which
 * may use `alpha` and `beta`. */
#define UNARY_KERNEL(name, T, OUT, EXPR)                                                       \
    ELEMENTWISE_CLONES static void name(void *o_, const void *i_, int64_t n, float alpha,       \
                                        float beta)                                            \
    {                                                                                          \
        OUT *restrict o = o_;                                                                  \
        const T *restrict in = i_;                                                             \
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
    const char *alpha_name;    /* float attributes read into alpha / beta, or NULL */
    float alpha_default;
    const char *beta_name;
    float beta_default;
} unary_family;

onyx_status unary_check(op_context *ctx, const unary_family *family);
onyx_status unary_reshape(op_context *ctx);
onyx_status unary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch);

#define UNARY_OPERATOR(name, family)                                                           \
    static onyx_status name##_check(op_context *ctx) { return unary_check(ctx, &family); }       \
    const op_descriptor op_##name = {name##_check, unary_reshape, unary_run, 0}

#endif
