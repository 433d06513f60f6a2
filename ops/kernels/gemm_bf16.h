/* float32 matrix products computed from bfloat16 operands (onyx_options_set_precision's
 * ONYX_PRECISION_BF16), row-major throughout:
 *
 *     C = act(alpha * op(A) B + beta * C + bias) + residual
 *
 * with op(A) m x k float32, rounded to bfloat16 (to nearest, ties to even) as it is packed, and
 * B k x n a constant of the model, rounded and packed once (gemm_bf16_pack_b). The products of
 * pairs of bfloat16 are summed in float32 by AVX512-BF16's vdpbf16ps, which does two
 * multiply-adds per float lane where an FMA does one. The epilogue is the float32 GEMM's
 * (gemm.h: gemm_epilogue, applied by the AVX-512 kernel's epilogue function), in float32.
 *
 * Accuracy: each operand carries 8 significant bits instead of 24 (a relative rounding of up to
 * 2^-9 per element), so a sum over k of products of unit-sized values is off by about
 * 2^-9 sqrt(k) of its terms' scale; the sums themselves are float32.
 *
 * Planned and split into tasks as the float32 GEMM is (gemm.h): every element's sum runs over k
 * in the same order whatever the split, so any number of threads gives bit-identical results.
 * Only processors with AVX512-BF16 run it: gemm_bf16_supported() says whether this one does. */
#ifndef ONYX_GEMM_BF16_H
#define ONYX_GEMM_BF16_H

#include "gemm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether this processor (and this build) runs the bfloat16 GEMM, and the environment does
 * not turn it off (ONYX_NO_BF16 set to a non-empty value: the float32 fallback, for tests). */
bool gemm_bf16_supported(void);
/* "avx512-bf16 8x48", or NULL when unsupported. */
const char *gemm_bf16_kernel_name(void);

/* op(B), k x n, rounded to bfloat16 in the kernel's layout: panels of 48 columns (the last as
 * wide as the 16-column vectors covering it, zero-padded), each ceil(k/2) rows of column
 * pairs: row q holds, for each column j, B[2q][j] then B[2q + 1][j] (0 beyond k). */
typedef struct gemm_bf16_packed_b {
    int64_t k, n;
    const uint32_t *panels;
} gemm_bf16_packed_b;

/* Bytes of memory gemm_bf16_pack_b needs (alignment slack included); SIZE_MAX when too large. */
size_t gemm_bf16_packed_b_bytes(int64_t k, int64_t n);
/* Rounds and packs op(B) (k x n; B is n x k when trans_b), rows ldb apart, into `memory`.
 * Needs no BF16 instructions (the packing is plain C). */
void gemm_bf16_pack_b(gemm_bf16_packed_b *packed, bool trans_b, int64_t k, int64_t n, const float *b,
                      int64_t ldb, void *memory);

typedef struct gemm_bf16_plan {
    const gemm_bf16_packed_b *packed_b;
    int64_t m, n, k;
    bool trans_a;            /* A is k x m */
    int64_t kc;              /* sums run over k in passes of kc (even but perhaps the last) */
    int64_t tile_m, tile_n;  /* the largest block of C one task computes */
    int64_t tiles_m, tiles_n;
    size_t scratch_bytes;    /* per thread: the task's rows of A rounded to bfloat16 */
} gemm_bf16_plan;

/* Plans C (m x packed_b->n) = op(A) (m x packed_b->k) B. Call only when supported. */
void gemm_bf16_plan_init(gemm_bf16_plan *plan, int64_t m, bool trans_a, const gemm_bf16_packed_b *packed_b);
static inline int64_t gemm_bf16_plan_tasks(const gemm_bf16_plan *plan)
{
    return plan->tiles_m * plan->tiles_n;
}
/* Multiply-adds of one task (the largest), for the thread pool's cost estimate. */
static inline int64_t gemm_bf16_plan_task_cost(const gemm_bf16_plan *plan)
{
    return plan->tile_m * plan->tile_n * (plan->k > 0 ? plan->k : 1);
}
/* The block of C that task `task` computes: rows [*i0, *i1), columns [*j0, *j1). */
void gemm_bf16_task_block(const gemm_bf16_plan *plan, int64_t task, int64_t *i0, int64_t *i1, int64_t *j0,
                          int64_t *j1);
/* Computes tasks [begin, end) of the plan; args->b is ignored (B is the plan's packed_b).
 * `scratch`: plan->scratch_bytes private to the calling thread. Never allocates. */
void gemm_bf16_run(const gemm_bf16_plan *plan, const gemm_args *args, int64_t begin, int64_t end,
                   void *scratch);

#endif
