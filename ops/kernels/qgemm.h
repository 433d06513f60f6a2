/* Products of 8-bit integer matrices, C = (A - za) (B - zb), row-major, summed exactly in
 * int32 (wrapping modulo 2^32 as the ONNX operators allow), for MatMulInteger and the fused
 * quantized operators.
 *
 * The kernels use the u8 x s8 dot product of VNNI (vpdpbusd: four byte products summed into
 * each int32 lane; without VNNI, AVX2 widens the bytes to int16 for vpmaddwd, as exact), so A is
 * made unsigned and B signed: an s8 A is read as A + 128 and a u8 B
 * is packed as B - 128, the shifts folded into the zero points, and the zero points applied
 * after the product through A's row sums and B's column sums:
 *
 *     sum_k (A - a_off)(B' - b_off_j) = sum_k A B' - a_off colsum_j - b_off_j rowsum_i
 *                                       + k a_off b_off_j
 *
 * B, a constant of the model (the weights), is packed once (qgemm_pack_b) into panels of 16
 * columns with k in groups of 4 bytes: the layout one vpdpbusd reads. A product is planned
 * for its shapes (qgemm_plan_init) and run as tasks, each a block of C, on any thread; the
 * integer sums make every split give the same bits. The result is stored as int32, or as
 * float (float)C * (a_scale * b_scale_j) + bias_j, in that order of float operations (as
 * Cast, Mul and Add compute it), then optionally an activation (ReLU, GELU) of the float GEMM's
 * epilogue. */
#ifndef ONYX_QGEMM_H
#define ONYX_QGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct qgemm_kernel qgemm_kernel;

typedef enum qgemm_kernel_id {
    QGEMM_KERNEL_BEST,       /* the fastest this processor runs */
    QGEMM_KERNEL_PORTABLE,   /* plain C, any processor */
    QGEMM_KERNEL_AVX2,       /* AVX2 without VNNI: int16 vpmaddwd on YMM, 3x48 tile */
    QGEMM_KERNEL_AVX_VNNI,   /* AVX-VNNI on YMM, 6x16 tile */
    QGEMM_KERNEL_AVX512_VNNI /* AVX512-VNNI on ZMM, 8x48 tile */
} qgemm_kernel_id;

/* The kernel family `id`, or NULL when this processor (or this build) cannot run it. */
const qgemm_kernel *qgemm_kernel_get(qgemm_kernel_id id);
const char *qgemm_kernel_name(const qgemm_kernel *kernel);

/* Columns per panel, and k per group, of the packed layout (the same for every kernel). */
#define QGEMM_PANEL 16
#define QGEMM_KGROUP 4

/* B, k x n, packed: panel p holds columns [16p, 16p + 16) as k4 / 4 groups of 64 bytes,
 * group g being, for each of the 16 columns, B'[4g .. 4g + 3][col] (B' = B, or B - 128 for
 * an unsigned B); k padded to k4 and n to whole panels with zeros. */
typedef struct qgemm_packed_b {
    int64_t k, n, k4, panels;
    bool b_signed;         /* B was int8 (else uint8, shifted) */
    const int8_t *data;
    const int32_t *col_sums; /* sum over k of B'[k][j], panels * 16 values */
} qgemm_packed_b;

/* Bytes qgemm_pack_b needs (alignment slack included); SIZE_MAX when too large. */
size_t qgemm_packed_b_bytes(int64_t k, int64_t n);
/* Packs B (int8 when b_signed, else uint8), k x n with rows ldb apart, into `memory`. */
void qgemm_pack_b(qgemm_packed_b *packed, const void *b, bool b_signed, int64_t k, int64_t n, int64_t ldb,
                  void *memory);
/* The same with element (p, j) of B at b[p * row_step + j * column_step] (B^T: 1 and ldb). */
void qgemm_pack_b_strided(qgemm_packed_b *packed, const void *b, bool b_signed, int64_t k, int64_t n,
                          int64_t row_step, int64_t column_step, void *memory);

typedef struct qgemm_plan {
    const qgemm_kernel *kernel;
    int64_t m, n, k, k4;
    int64_t tile_m, tile_n; /* the largest block of C one task computes */
    int64_t tiles_m, tiles_n;
    size_t scratch_bytes;   /* per thread */
} qgemm_plan;

/* Plans an m x n x k product for `kernel` (NULL: the best). */
void qgemm_plan_init(qgemm_plan *plan, const qgemm_kernel *kernel, int64_t m, int64_t n, int64_t k);
static inline int64_t qgemm_plan_tasks(const qgemm_plan *plan) { return plan->tiles_m * plan->tiles_n; }
static inline int64_t qgemm_plan_task_cost(const qgemm_plan *plan)
{
    return plan->tile_m * plan->tile_n * (plan->k > 0 ? plan->k : 1) / 4; /* 4 products per op */
}

typedef struct qgemm_args {
    const void *a;           /* m x k, rows lda apart */
    int64_t lda;
    bool a_signed;           /* int8 (else uint8) */
    int32_t a_zero_point;    /* in A's own type's values */
    const qgemm_packed_b *b;
    const int32_t *b_zero_points; /* NULL: none; else one (b_zp_per_column false) or n values */
    bool b_zp_per_column;
    /* Output: int32 into c32, or else float into c with the scales and bias; at C's element
     * (i, j), or with c_local at (i - i0, j - j0) of the task's block (qgemm_task_block). */
    int32_t *c32;
    float *c;
    int64_t ldc;
    bool c_local;
    float a_scale;
    const float *b_scales;   /* one, or n when b_scale_per_column */
    bool b_scale_per_column;
    const float *bias;       /* n values, or NULL */
    int activation;          /* float output: a gemm_activation (gemm.h) applied after the bias */
    /* Float output, last: quantized and dequantized again with y_scale and y_zero_point (int8
     * when y_signed, else uint8), as QuantizeLinear then DequantizeLinear compute it. */
    bool requantize, y_signed;
    float y_scale;
    int32_t y_zero_point;
} qgemm_args;

/* The block of C that task `task` computes: rows [*i0, *i1), columns [*j0, *j1). */
void qgemm_task_block(const qgemm_plan *plan, int64_t task, int64_t *i0, int64_t *i1, int64_t *j0,
                      int64_t *j1);
/* Computes task `task`'s block of C; scratch holds plan->scratch_bytes. */
void qgemm_run_task(const qgemm_plan *plan, int64_t task, const qgemm_args *args, void *scratch);

/* ---- quantizing activations: the element-wise steps around the GEMM -------------------------- */

/* y[i] = saturate(round(x[i] / scale) + zero_point) to int8 (is_signed) or uint8, rounding
 * half to even, NaN giving the zero point: QuantizeLinear's and DynamicQuantizeLinear's
 * formula with float arithmetic, on the best kernel. */
void qgemm_quantize(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed, void *y);
/* *lo = min(*lo, x[i]...) and *hi = max(*hi, x[i]...), NaNs passed over. */
void qgemm_range(const float *x, int64_t n, float *lo, float *hi);
/* The scalar forms (the portable kernel's), for the vector kernels' tails. */
void qgemm_quantize_scalar(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed,
                           void *y);
void qgemm_range_scalar(const float *x, int64_t n, float *lo, float *hi);

/* ---- what each kernel file provides -------------------------------------------------------- */

/* The epilogue of one tile, its pointers at the tile's origin: C = acc + col_term_j
 * - b_off_j row_sums_i, then stored as int32 (c32) or float (c: times scale_j, plus bias_j). */
typedef struct qgemm_out {
    int32_t *c32;
    float *c;
    int64_t ldc;
    const int32_t *col_term; /* a_off (k b_off_j - colsum_j) */
    const int32_t *b_off;    /* NULL when every b_off_j is 0 */
    const int32_t *row_sums; /* of A as read (unsigned), per row */
    const float *scale;      /* a_scale * b_scale_j */
    const float *bias;       /* or NULL */
} qgemm_out;

/* mr x nc tile (mr <= the kernel's mr, nc <= its nr) of A (unsigned bytes, k4 per row, rows
 * lda apart) times the packed panels from b (panels b_stride bytes apart). */
typedef void (*qgemm_tile_fn)(int64_t mr, int64_t nc, int64_t k4, const uint8_t *a, int64_t lda,
                              const int8_t *b,
                              int64_t b_stride, const qgemm_out *out);

/* AVX2 pieces (qgemm_avx2.c), shared by the YMM kernels; called only on an AVX2 processor. The
 * epilogue of an mr x nc tile whose int32 sums are rows ld apart from `sums`; the vector forms
 * of qgemm_quantize_scalar and qgemm_range_scalar. */
#if defined(__x86_64__)
void qgemm_avx2_store_tile(const int32_t *sums, int64_t ld, int64_t mr, int64_t nc, const qgemm_out *out);
void qgemm_avx2_quantize(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed, void *y);
void qgemm_avx2_range(const float *x, int64_t n, float *lo, float *hi);
#endif

struct qgemm_kernel {
    const char *name;
    int mr, nr;
    qgemm_tile_fn tile;
    void (*quantize)(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed, void *y);
    void (*range)(const float *x, int64_t n, float *lo, float *hi);
};

extern const qgemm_kernel qgemm_kernel_portable;
#if defined(__x86_64__)
extern const qgemm_kernel qgemm_kernel_avx2;
extern const qgemm_kernel qgemm_kernel_avx_vnni;
extern const qgemm_kernel qgemm_kernel_avx512_vnni;
#endif

#endif
