/* The bfloat16 GEMM driver: packing, the task grid and cache blocking. See gemm_bf16.h.
 *
 * As the float32 driver (gemm.c): a task computes a block of C of whole 48-column panels and
 * evenly many rows; the sums run over k in passes of kc, and in each pass the task's rows of A
 * are rounded to bfloat16 into scratch once, then the block is swept panel by panel (a panel of
 * B stays in cache while every 8-row strip of A goes past). The epilogue is the float32 AVX-512
 * kernel's, run on each tile right after its last pass. */
#include "gemm_bf16.h"

#include "count.h"
#include "cpu.h"
#include "gemm_bf16_kernel.h"
#include "gemm_kernel.h"
#include "half.h"

#include <stdlib.h>
#include <string.h>

/* Depth of a pass over k: a B panel of kc x 48 bfloat16 (96 KiB at most) in L2 beside the
 * task's rows of A (256 x kc bfloat16, 512 KiB at most): half the bytes of the float32 GEMM's
 * passes of the same depth. */
#define BF16_KC_MAX 1024
#define BF16_MC_MAX 256
/* As in gemm.c: tasks of at least about a million multiply-adds, about 8 of them. */
#define BF16_TASK_MIN_MACS ((int64_t)1 << 20)
#define BF16_TARGET_TASKS 8

/* The kernel, or NULL when the processor lacks AVX512-BF16 or the environment sets ONYX_NO_BF16
 * (to a non-empty value): that lets tests and users see the float32 fallback on any processor. */
static const gemm_bf16_kernel *kernel_get(void)
{
#if defined(__x86_64__)
    const char *off = getenv("ONYX_NO_BF16");
    if (cpu_features_get()->avx512_bf16 && !(off && *off))
        return &gemm_bf16_kernel_avx512;
#endif
    return NULL;
}

bool gemm_bf16_supported(void) { return kernel_get() != NULL; }

const char *gemm_bf16_kernel_name(void) { return kernel_get() ? kernel_get()->name : NULL; }

/* ---- packing B ---------------------------------------------------------------------------- */

/* Panel j (a multiple of 48) is as wide as the vectors covering its columns, and starts at
 * pair j * ceil(k / 2). */
static int64_t panel_width(int64_t n, int64_t j)
{
    return min64(GEMM_BF16_NR, ceil_div(n - j, GEMM_BF16_VLEN) * GEMM_BF16_VLEN);
}

size_t gemm_bf16_packed_b_bytes(int64_t k, int64_t n)
{
    int64_t pairs;
    if (__builtin_mul_overflow(ceil_div(n, GEMM_BF16_VLEN) * GEMM_BF16_VLEN, ceil_div(k, 2), &pairs) ||
        (uint64_t)pairs > (SIZE_MAX - GEMM_ALIGN) / sizeof(uint32_t))
        return SIZE_MAX;
    return (size_t)pairs * sizeof(uint32_t) + GEMM_ALIGN;
}

void gemm_bf16_pack_b(gemm_bf16_packed_b *packed, bool trans_b, int64_t k, int64_t n, const float *b,
                      int64_t ldb, void *memory)
{
    uint32_t *panels = align_up(memory);
    const int64_t kp = ceil_div(k, 2);
    for (int64_t j0 = 0; j0 < n; j0 += GEMM_BF16_NR) {
        const int64_t width = panel_width(n, j0), cols = min64(GEMM_BF16_NR, n - j0);
        uint16_t *panel = (uint16_t *)(panels + j0 * kp);
        /* Element (p, j) goes to pair row p / 2, column j, half p % 2; zeros fill the padding
         * columns and an odd k's last half-row. Each source row (column, transposed) read
         * contiguously: this runs once per weight at load. */
        if (k % 2)
            memset(panel + (kp - 1) * width * 2, 0, (size_t)width * 2 * sizeof(uint16_t));
        for (int64_t j = cols; j < width; j++)
            for (int64_t p = 0; p < k; p++)
                panel[(p / 2 * width + j) * 2 + p % 2] = 0;
        if (!trans_b) {
            for (int64_t p = 0; p < k; p++) {
                const float *src = b + p * ldb + j0;
                uint16_t *dst = panel + p / 2 * width * 2 + p % 2;
                for (int64_t j = 0; j < cols; j++)
                    dst[2 * j] = float_to_bfloat16(src[j]);
            }
        } else {
            for (int64_t j = 0; j < cols; j++) {
                const float *src = b + (j0 + j) * ldb;
                uint16_t *dst = panel + j * 2;
                for (int64_t p = 0; p < k; p++)
                    dst[p / 2 * width * 2 + p % 2] = float_to_bfloat16(src[p]);
            }
        }
    }
    *packed = (gemm_bf16_packed_b){.k = k, .n = n, .panels = panels};
}

/* ---- planning ----------------------------------------------------------------------------- */

void gemm_bf16_plan_init(gemm_bf16_plan *plan, int64_t m, bool trans_a, const gemm_bf16_packed_b *packed_b)
{
    const int64_t n = packed_b->n, k = packed_b->k;
    *plan = (gemm_bf16_plan){.packed_b = packed_b, .m = m, .n = n, .k = k, .trans_a = trans_a};
    /* Passes begin on even k, where the packed pairs of B begin. */
    plan->kc = even_block(k, BF16_KC_MAX);
    if (plan->kc < k)
        plan->kc += plan->kc % 2;
    plan->tile_m = even_block(m, BF16_MC_MAX);
    if (plan->tile_m < m)
        plan->tile_m = ceil_div(plan->tile_m, GEMM_BF16_MR) * GEMM_BF16_MR;
    plan->tiles_m = m > 0 ? ceil_div(m, plan->tile_m) : 0;
    int64_t panels = max64(1, ceil_div(n, GEMM_BF16_NR));
    int64_t macs = m * n * max64(k, 1);
    int64_t wanted = min64(BF16_TARGET_TASKS, max64(1, macs / BF16_TASK_MIN_MACS));
    int64_t col_tiles = min64(panels, max64(1, ceil_div(wanted, max64(plan->tiles_m, 1))));
    plan->tile_n = ceil_div(panels, col_tiles) * GEMM_BF16_NR;
    plan->tiles_n = n > 0 ? col_tiles : 0;
    plan->scratch_bytes = (size_t)(plan->tile_m * ceil_div(plan->kc, 2)) * sizeof(uint32_t) + GEMM_ALIGN;
}

void gemm_bf16_task_block(const gemm_bf16_plan *plan, int64_t task, int64_t *i0, int64_t *i1, int64_t *j0,
                          int64_t *j1)
{
    int64_t ti = task / plan->tiles_n, tj = task % plan->tiles_n;
    *i0 = ti * plan->tile_m;
    *i1 = min64(plan->m, *i0 + plan->tile_m);
    int64_t panels = ceil_div(plan->n, GEMM_BF16_NR);
    *j0 = tj * panels / plan->tiles_n * GEMM_BF16_NR;
    *j1 = min64(plan->n, (tj + 1) * panels / plan->tiles_n * GEMM_BF16_NR);
}

/* ---- running ------------------------------------------------------------------------------ */

static gemm_epilogue epilogue_at(const gemm_epilogue *e, int64_t i, int64_t j)
{
    gemm_epilogue at = *e;
    if (at.bias)
        at.bias += j;
    if (at.residual)
        at.residual += i * at.ld_residual + j;
    return at;
}

static void run_block(const gemm_bf16_plan *plan, const gemm_bf16_kernel *kr, const gemm_kernel *fk,
                      const gemm_args *args, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                      uint32_t *a_scratch)
{
    const int64_t k = plan->k, ldc = args->ldc, kp_all = ceil_div(k, 2);
    const gemm_epilogue *e = &args->epilogue;
    const bool finish = e->bias || e->residual || e->activation != GEMM_ACTIVATION_NONE;
    for (int64_t p0 = 0; p0 == 0 || p0 < k; p0 += plan->kc) {
        const int64_t kc = min64(plan->kc, k - p0), kp = ceil_div(kc, 2);
        const bool last_pass = p0 + kc >= k;
        kr->pack_a(a_scratch, args->a, args->lda, plan->trans_a, i0, i1, p0, kc);
        gemm_bf16_tile tile = {.kp = kp, .lda = kp, .ldc = ldc, .alpha = args->alpha,
                               .beta = p0 == 0 ? args->beta : 1.0f};
        for (int64_t j = j0; j < j1; j += GEMM_BF16_NR) {
            const int64_t cols = min64(GEMM_BF16_NR, j1 - j);
            tile.ldb = panel_width(plan->n, j);
            tile.b = plan->packed_b->panels + j * kp_all + p0 / 2 * tile.ldb;
            tile.nr = (int)cols;
            const int vectors = (int)ceil_div(cols, GEMM_BF16_VLEN);
            for (int64_t i = i0; i < i1; i += GEMM_BF16_MR) {
                const int64_t rows = min64(GEMM_BF16_MR, i1 - i);
                tile.a = a_scratch + (i - i0) * kp;
                tile.c = args->c + i * ldc + j;
                kr->tiles[rows - 1][vectors - 1](&tile);
                if (last_pass && finish) {
                    gemm_epilogue at = epilogue_at(e, i, j);
                    fk->epilogue(tile.c, ldc, rows, cols, &at);
                }
            }
        }
    }
}

void gemm_bf16_run(const gemm_bf16_plan *plan, const gemm_args *args, int64_t begin, int64_t end,
                   void *scratch)
{
#if defined(__x86_64__)
    /* Plans are made only where gemm_bf16_supported() said yes. */
    const gemm_bf16_kernel *kr = &gemm_bf16_kernel_avx512;
#else
    const gemm_bf16_kernel *kr = NULL;
#endif
    /* The float32 kernel family of the same processor: AVX512-BF16 implies AVX-512F. */
    const gemm_kernel *fk = gemm_kernel_get(GEMM_KERNEL_BEST);
    uint32_t *a_scratch = align_up(scratch);
    for (int64_t task = begin; task < end; task++) {
        int64_t i0, i1, j0, j1;
        gemm_bf16_task_block(plan, task, &i0, &i1, &j0, &j1);
        run_block(plan, kr, fk, args, i0, i1, j0, j1, a_scratch);
    }
}
