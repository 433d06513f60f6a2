/* Matrix products for the operators, row-major throughout.
 *
 * float32 runs on onyx's own micro-kernels (AVX-512, AVX2+FMA or portable C, the best one the
 * processor supports, chosen once per process). A product
 *
 *     C = act(alpha * op(A) op(B) + beta * C + bias) + residual
 *
 * with op(A) m x k, op(B) k x n, is planned once for its shapes (gemm_plan_init: tile grid,
 * cache blocking, scratch size) and run as tasks, each computing its own block of C. Every
 * element's sum runs over k in the same order whatever the split, so any number of threads
 * gives bit-identical results. A right operand that is a constant of the model (weights) is
 * packed once into the kernel's panel layout (gemm_pack_b) and read from there.
 *
 * float64 runs on plain loops (gemm_f64): onyx links no BLAS. */
#ifndef ONYX_GEMM_H
#define ONYX_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- kernels ------------------------------------------------------------------------------ */

/* One family of micro-kernels (an instruction set and a register tile). */
typedef struct gemm_kernel gemm_kernel;

typedef enum gemm_kernel_id {
    GEMM_KERNEL_BEST,     /* the fastest this processor runs: AVX-512, else AVX2, else portable */
    GEMM_KERNEL_PORTABLE, /* plain C, any processor */
    GEMM_KERNEL_AVX2,     /* AVX2 + FMA, 6x16 tile */
    GEMM_KERNEL_AVX512,   /* AVX-512F, 8x48 tile */
} gemm_kernel_id;

/* The kernel family `id`, or NULL when this processor (or this build) cannot run it. Operators
 * use GEMM_KERNEL_BEST; tests name the others to check each one. */
const gemm_kernel *gemm_kernel_get(gemm_kernel_id id);
/* "avx512 8x48", "avx2 6x16", "portable 4x8". */
const char *gemm_kernel_name(const gemm_kernel *kernel);

/* ---- what is applied to each tile of C while it is in cache ------------------------------- */

typedef enum gemm_activation {
    GEMM_ACTIVATION_NONE,
    GEMM_ACTIVATION_RELU,      /* max(x, 0); NaN stays NaN */
    GEMM_ACTIVATION_GELU_ERF,  /* x/2 (1 + erf(x/sqrt 2)): within 1e-6 relative for every x
                                  whose result is a normal float */
    GEMM_ACTIVATION_GELU_TANH, /* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): within 1e-6
                                  relative for x >= -3, 2e-5 down to -10 (|result| < 0.004) */
    /* The activations of convolutional networks (onyx.FusedConv), with their two parameters
     * p0, p1 in gemm_epilogue.params: */
    GEMM_ACTIVATION_CLIP,         /* min(max(x, p0), p1); NaN stays NaN */
    GEMM_ACTIVATION_HARD_SIGMOID, /* max(0, min(1, p0 x + p1)) */
    GEMM_ACTIVATION_HARD_SWISH,   /* x max(0, min(1, x/6 + 1/2)) */
    GEMM_ACTIVATION_SILU,         /* x / (1 + exp(-x)) within 1e-6 relative for x >= -80 (|x| e^x,
                                     below 1e-32, further down) */
    /* Not for products: the vector kernels of Erf, Sigmoid, Tanh and Exp, through gemm_activate.
     * NaN stays NaN in each. */
    GEMM_ACTIVATION_ERF,     /* erf(x) within 2 ulp; +-1 exactly for |x| >= 6, erf(-0) = -0 */
    GEMM_ACTIVATION_SIGMOID, /* 1 / (1 + exp(-x)) within 1e-6 relative (exp as below) */
    GEMM_ACTIVATION_TANH,    /* tanh(x) within 2e-7 relative; +-1 from |x| = 9 on, tanh(-0) = -0 */
    GEMM_ACTIVATION_EXP,     /* exp(x) within 2 ulp; inf above 88.7, through the subnormals to 0 below */
} gemm_activation;
/* The last activation onyx.FusedConv accepts. */
#define GEMM_ACTIVATION_LAST GEMM_ACTIVATION_SILU

typedef struct gemm_epilogue {
    const float *bias;          /* n values, one per column of C; NULL: none */
    const float *row_bias;      /* m values, one per row of C (a convolution's output channels
                                   in NCHW); NULL: none */
    gemm_activation activation; /* applied after the bias */
    float params[2];            /* of the activation: see gemm_activation */
    const float *residual;      /* m x n, rows ld_residual apart, added last; NULL: none.
                                   Must not overlap C (C += ... is beta = 1 instead). */
    int64_t ld_residual;
    bool residual_first;        /* the residual added before the activation instead (ResNet's
                                   Relu(conv + shortcut)) */
} gemm_epilogue;

/* Applies `activation` to x[0..n) in place, with `kernel`'s vector code (NULL: the best). */
void gemm_activate(const gemm_kernel *kernel, float *x, int64_t n, gemm_activation activation);
/* out = activation(in), n floats; in may be out (then in place). For the elementwise operators
 * that run the epilogue's vector activations (Gelu, Erf). */
void gemm_activate_into(float *out, const float *in, int64_t n, gemm_activation activation);
/* Applies `e` to rows x cols of c (rows ldc apart) in place, with `kernel`'s vector code (NULL:
 * the best); e's pointers are at c's origin. */
void gemm_apply_epilogue(const gemm_kernel *kernel, float *c, int64_t ldc, int64_t rows, int64_t cols,
                         const gemm_epilogue *e);

/* x[0..n) = softmax(x) in place with the kernel family's vector exp (about 1 ulp), NULL:
 * the best kernel. NaN in the row, or a row of only -inf, gives NaN, as the formula does. */
void gemm_softmax_row(const gemm_kernel *kernel, float *x, int64_t n);
/* The unnormalized softmax of mul * x, for mul > 0: x[0..n) = exp(mul (x - max x)) in place;
 * returns the sum, by which each element is yet to be divided (a caller may instead divide
 * what it computes from the row). NaN anywhere, or a row of only -inf, gives a NaN sum. */
float gemm_exp_row(const gemm_kernel *kernel, float *x, int64_t n, float mul);

/* ---- a right operand packed once ---------------------------------------------------------- */

/* op(B), k x n, in the panel layout of one kernel family: panels of the kernel's nr columns,
 * each k rows of nr floats, the last zero-padded to whole vectors. */
typedef struct gemm_packed_b {
    const gemm_kernel *kernel;
    int64_t k, n;
    const float *panels;
} gemm_packed_b;

/* The columns of one panel of `kernel` (its nr): a column range of a packed operand that starts
 * at a multiple of it is a packed operand too (panels from j * k on). */
int64_t gemm_panel_columns(const gemm_kernel *kernel);
/* Whether packing a k x n operand for `kernel` is worth its memory: false when the padding to
 * whole vectors would make it more than half as large again (n of a few columns). */
bool gemm_pack_b_pays(const gemm_kernel *kernel, int64_t n);
/* Bytes of memory gemm_pack_b needs (alignment slack included); SIZE_MAX when too large. */
size_t gemm_packed_b_bytes(const gemm_kernel *kernel, int64_t k, int64_t n);
/* Packs op(B) (k x n; B is n x k when trans_b), rows ldb apart, into `memory`. */
void gemm_pack_b(gemm_packed_b *packed, const gemm_kernel *kernel, bool trans_b, int64_t k, int64_t n,
                 const float *b, int64_t ldb, void *memory);
/* `from` with its row p times scale[p] (diag(scale) op(B)), into `memory` (gemm_packed_b_bytes
 * of from's k and n): a scale of A's columns applied to B instead, A diag(s) B = A (diag(s) B),
 * where B is the smaller. */
void gemm_packed_b_scale_rows(gemm_packed_b *packed, const gemm_packed_b *from, const float *scale, void *memory);

/* ---- planned products --------------------------------------------------------------------- */

typedef struct gemm_plan {
    const gemm_kernel *kernel;
    const gemm_packed_b *packed_b; /* B as packed once, or NULL: B given with each run */
    int64_t m, n, k;
    bool trans_a, trans_b;         /* A is k x m / B is n x k (trans_b: not with packed_b) */
    int64_t kc;                    /* sums run over k in passes of kc: fixed by k alone */
    int64_t tile_m, tile_n;        /* the largest block of C one task computes */
    int64_t tiles_m, tiles_n;
    size_t scratch_bytes;          /* per thread, for packing what must be repacked */
} gemm_plan;

/* Plans a product for `kernel` (NULL: the best), or for packed_b's kernel when B is packed. */
void gemm_plan_init(gemm_plan *plan, const gemm_kernel *kernel, int64_t m, int64_t n, int64_t k,
                    bool trans_a, bool trans_b, const gemm_packed_b *packed_b);
static inline int64_t gemm_plan_tasks(const gemm_plan *plan) { return plan->tiles_m * plan->tiles_n; }
/* Cuts the plan's columns further, then its rows, for about `tasks` tasks (the largest power
 * of two at most that, which 2 and 4 threads share evenly): for a
 * caller that shares smaller products between threads than gemm_plan_init would (it keeps a
 * task at a million multiply-adds or more). */
void gemm_plan_share(gemm_plan *plan, int64_t tasks);
/* Multiply-adds of one task (the largest), for the thread pool's cost estimate. */
static inline int64_t gemm_plan_task_cost(const gemm_plan *plan)
{
    return plan->tile_m * plan->tile_n * (plan->k > 0 ? plan->k : 1);
}
/* The block of C that task `task` computes: rows [*i0, *i1), columns [*j0, *j1). */
void gemm_task_block(const gemm_plan *plan, int64_t task, int64_t *i0, int64_t *i1, int64_t *j0, int64_t *j1);

typedef struct gemm_args {
    const float *a;
    int64_t lda;
    const float *b; /* ignored when the plan has packed_b */
    int64_t ldb;
    float *c;
    int64_t ldc;
    float alpha, beta; /* beta 0: C is only written (may hold NaN before) */
    gemm_epilogue epilogue;
} gemm_args;

/* Computes tasks [begin, end) of the plan. `scratch`: plan->scratch_bytes private to the
 * calling thread (may be NULL when that is 0). Never allocates. */
void gemm_run(const gemm_plan *plan, const gemm_args *args, int64_t begin, int64_t end, void *scratch);

/* Splits `e` into what the register tiles (and the depthwise rows, conv_kernels.h) apply as
 * they store — the bias and row bias, and a cheap activation (ReLU, Clip, HardSigmoid,
 * HardSwish) with the residual where `residual` says they take one or there is none — and
 * the rest (GELU, SiLU, Erf and what comes with them), which takes gemm_apply_epilogue's pass. */
void gemm_epilogue_split(const gemm_epilogue *e, bool residual, gemm_epilogue *stored, gemm_epilogue *rest);

/* C (m x n, rows ldc apart) = A B on the calling thread, with A m x k (rows lda apart) and
 * row p of B the n floats at b + offsets[p]: a convolution's input read in place, tap by tap
 * (conv.c's shifted path), with no im2col matrix. Every offset + n floats must lie in b's
 * memory. `e` (NULL: none): its bias, row bias and activation, a part gemm_epilogue_split
 * stores without a residual, applied in the tiles. Never allocates. */
void gemm_shifted(const gemm_kernel *kernel, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                  const float *b, const int32_t *offsets, float *c, int64_t ldc, const gemm_epilogue *e);

/* ---- whole products in one call ---------------------------------------------------------- */

/* C = alpha * op(A) * op(B) + beta * C on the calling thread, without scratch: onyx's kernel
 * unless A is transposed (then plain loops; no operator's hot path does that); a transposed B
 * is repacked in passes through a 24 KiB buffer on the calling thread's stack. Operators prefer
 * gemm_plan_init and gemm_run, which pack, split into tasks and fuse epilogues. */
void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* The same in float64, on plain loops (the conformance operators' float64: correct, not fast). */
void gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
              int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

#endif
