/* The GEMM driver: kernel choice, packing, the task grid and cache blocking. See gemm.h.
 *
 * A task computes a block of C (at most tile_m x tile_n): the column blocks hold whole panels,
 * as evenly many as can be (so that the pool's equal shares of tasks are equal shares of
 * work, whatever n), and the row blocks as evenly many rows. Within it the sums run over k in
 * passes of kc (see GEMM_KC_MAX); in each pass the block is swept panel by panel (nr columns
 * of B, which stay in cache while every mr-row strip of A goes past). A is read in place
 * (rows lda apart): only a transposed A is copied, into scratch. B is read from its packed
 * panels, in place (rows ldb apart), or, transposed, from a panel repacked in scratch. The
 * epilogue runs on each tile right after its last pass, while it is in L1. */
#include "gemm.h"

#include "count.h"
#include "cpu.h"
#include "gemm_kernel.h"
#include "onyx.h"

#include <stdint.h>
#include <string.h>

/* Depth of a pass over k. Each pass reads and writes the task's block of C once more, so
 * fewer passes pay while the B panel (kc x 48 floats, 192 KiB at most) stays in L2 beside the
 * strip of A going past: measured on the FFN and projection shapes (k 512 to 3072), 1024
 * beat 384 by 1-3% (512 -> one pass instead of two, 2048 -> two instead of six). */
#define GEMM_KC_MAX 1024
/* Rows of C per task. */
#define GEMM_MC_MAX 256
/* Below this many multiply-adds a task is not worth splitting further (a few microseconds). */
#define GEMM_TASK_MIN_MACS ((int64_t)1 << 20)
/* With fewer rows than this (a decoder's step: one), each weight read is used by so few rows that
 * the product runs at memory speed, not the FMA's: a task is worth it at a share of that many
 * multiply-adds (GEMM_TASK_MIN_MACS / 16 for one row: 256 KiB of weights, tens of microseconds).
 * Measured on a LLaMA decoder step (d_model 768, 2 threads, Zen 3): its 768 x 2048 projections
 * had run on one thread. */
#define GEMM_FEW_ROWS 16
/* Enough tasks for the pool to balance 2 to 4 threads without splitting hairs. The pool gives
 * each thread one contiguous range of a node's tasks, so where they are few their number is
 * kept even, a power of two of column blocks times an even number of row blocks: 7 tasks on 2
 * threads run as 4 against 3, the node taking 4/3.5 of its time (ConvNeXt's 3136-row products
 * had 13 row blocks). */
#define GEMM_TARGET_TASKS 8
/* Row blocks fewer than this are made an even number. */
#define GEMM_EVEN_ROW_BLOCKS 32

/* ---- kernels ------------------------------------------------------------------------------ */

const gemm_kernel *gemm_kernel_get(gemm_kernel_id id)
{
    const cpu_features *cpu = cpu_features_get();
    switch (id) {
    case GEMM_KERNEL_BEST:
#if defined(__x86_64__)
        if (cpu->avx512f)
            return &gemm_kernel_avx512;
        if (cpu->avx2_fma)
            return &gemm_kernel_avx2;
#endif
        return &gemm_kernel_portable;
    case GEMM_KERNEL_PORTABLE: return &gemm_kernel_portable;
#if defined(__x86_64__)
    case GEMM_KERNEL_AVX2: return cpu->avx2_fma ? &gemm_kernel_avx2 : NULL;
    case GEMM_KERNEL_AVX512: return cpu->avx512f ? &gemm_kernel_avx512 : NULL;
#else
    case GEMM_KERNEL_AVX2:
    case GEMM_KERNEL_AVX512: return NULL;
#endif
    }
    return NULL;
}

const char *gemm_kernel_name(const gemm_kernel *kernel) { return kernel->name; }

ONYX_API const char *onyx_gemm_kernel_name(void) { return gemm_kernel_get(GEMM_KERNEL_BEST)->name; }

void gemm_activate(const gemm_kernel *kernel, float *x, int64_t n, gemm_activation activation)
{
    if (!kernel)
        kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    gemm_epilogue e = {.activation = activation};
    kernel->epilogue(x, n, 1, n, &e);
}

void gemm_apply_epilogue(const gemm_kernel *kernel, float *c, int64_t ldc, int64_t rows, int64_t cols,
                         const gemm_epilogue *e)
{
    if (!kernel)
        kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    kernel->epilogue(c, ldc, rows, cols, e);
}

void gemm_activate_into(float *out, const float *in, int64_t n, gemm_activation activation)
{
    if (out != in)
        memcpy(out, in, (size_t)n * sizeof(float));
    gemm_activate(NULL, out, n, activation);
}

void gemm_softmax_row(const gemm_kernel *kernel, float *x, int64_t n)
{
    if (!kernel)
        kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    kernel->softmax_row(x, n);
}

float gemm_exp_row(const gemm_kernel *kernel, float *x, int64_t n, float mul)
{
    if (!kernel)
        kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    return kernel->exp_row(x, n, mul);
}

/* ---- packing ------------------------------------------------------------------------------ */

/* Copies rows [p0, p0 + kc) of op(B)'s columns [j0, j0 + cols) into a panel of kc rows of nr
 * floats, zero-padded beyond `cols`. */
static void pack_panel(float *panel, int64_t nr, bool trans_b, const float *b, int64_t ldb, int64_t p0,
                       int64_t kc, int64_t j0, int64_t cols)
{
    if (!trans_b) {
        for (int64_t p = 0; p < kc; p++) {
            memcpy(panel + p * nr, b + (p0 + p) * ldb + j0, (size_t)cols * sizeof(float));
            memset(panel + p * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
        }
        return;
    }
    /* B is n x k: column j of op(B) is row j of B, read contiguously. */
    if (cols < nr)
        for (int64_t p = 0; p < kc; p++)
            memset(panel + p * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
    for (int64_t j = 0; j < cols; j++) {
        const float *src = b + (j0 + j) * ldb + p0;
        for (int64_t p = 0; p < kc; p++)
            panel[p * nr + j] = src[p];
    }
}

/* Packed panels are nr columns wide but the last, which is only as wide as the vectors that
 * cover its columns: padding costs less than a vector per row. Panel j (a multiple of nr)
 * starts at float j * k. */
static int64_t panel_width(const gemm_kernel *kernel, int64_t n, int64_t j)
{
    return min64(kernel->nr, ceil_div(n - j, kernel->vector) * kernel->vector);
}

int64_t gemm_panel_columns(const gemm_kernel *kernel) { return kernel->nr; }

bool gemm_pack_b_pays(const gemm_kernel *kernel, int64_t n)
{
    int64_t padded = ceil_div(n, kernel->vector) * kernel->vector;
    return n > 0 && padded <= n + n / 2;
}

size_t gemm_packed_b_bytes(const gemm_kernel *kernel, int64_t k, int64_t n)
{
    int64_t floats;
    if (__builtin_mul_overflow(ceil_div(n, kernel->vector) * kernel->vector, k, &floats) ||
        (uint64_t)floats > (SIZE_MAX - GEMM_ALIGN) / sizeof(float))
        return SIZE_MAX;
    return (size_t)floats * sizeof(float) + GEMM_ALIGN;
}

void gemm_pack_b(gemm_packed_b *packed, const gemm_kernel *kernel, bool trans_b, int64_t k, int64_t n,
                 const float *b, int64_t ldb, void *memory)
{
    float *panels = align_up(memory);
    for (int64_t j = 0; j < n; j += kernel->nr)
        pack_panel(panels + j * k, panel_width(kernel, n, j), trans_b, b, ldb, 0, k, j, min64(kernel->nr, n - j));
    *packed = (gemm_packed_b){.kernel = kernel, .k = k, .n = n, .panels = panels};
}

void gemm_packed_b_scale_rows(gemm_packed_b *packed, const gemm_packed_b *from, const float *scale, void *memory)
{
    float *panels = align_up(memory);
    const gemm_kernel *kernel = from->kernel;
    for (int64_t j = 0; j < from->n; j += kernel->nr) {
        int64_t width = panel_width(kernel, from->n, j);
        const float *src = from->panels + j * from->k;
        float *dst = panels + j * from->k;
        for (int64_t p = 0; p < from->k; p++)
            for (int64_t c = 0; c < width; c++)
                dst[p * width + c] = src[p * width + c] * scale[p];
    }
    *packed = (gemm_packed_b){.kernel = kernel, .k = from->k, .n = from->n, .panels = panels};
}

/* ---- planning ----------------------------------------------------------------------------- */

/* Cuts the plan's columns into `blocks` blocks of whole panels (fewer where there are fewer
 * panels). */
static void cut_columns(gemm_plan *plan, int64_t blocks)
{
    int64_t panels = max64(1, ceil_div(plan->n, plan->kernel->nr));
    blocks = min64(panels, max64(1, blocks));
    plan->tile_n = ceil_div(panels, blocks) * plan->kernel->nr; /* the widest */
    plan->tiles_n = plan->n > 0 ? blocks : 0;
}

/* The largest power of two at most x (1 below 2). */
static int64_t power_of_two_at_most(int64_t x)
{
    int64_t p = 1;
    while (p <= x / 2)
        p *= 2;
    return p;
}

void gemm_plan_share(gemm_plan *plan, int64_t tasks)
{
    tasks = power_of_two_at_most(tasks);
    if (gemm_plan_tasks(plan) < tasks)
        cut_columns(plan, ceil_div(tasks, max64(plan->tiles_m, 1)));
    /* Too few panels: the rows too, in whole register tiles. */
    if (gemm_plan_tasks(plan) < tasks && plan->m > plan->kernel->mr) {
        int64_t blocks = ceil_div(tasks, max64(plan->tiles_n, 1));
        plan->tile_m = ceil_div(ceil_div(plan->m, blocks), plan->kernel->mr) * plan->kernel->mr;
        plan->tiles_m = ceil_div(plan->m, plan->tile_m);
    }
}

void gemm_plan_init(gemm_plan *plan, const gemm_kernel *kernel, int64_t m, int64_t n, int64_t k,
                    bool trans_a, bool trans_b, const gemm_packed_b *packed_b)
{
    if (packed_b)
        kernel = packed_b->kernel;
    else if (!kernel)
        kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    *plan = (gemm_plan){.kernel = kernel, .packed_b = packed_b, .m = m, .n = n, .k = k,
                        .trans_a = trans_a, .trans_b = trans_b && !packed_b};
    plan->kc = even_block(k, GEMM_KC_MAX);
    plan->tile_m = even_block(m, GEMM_MC_MAX);
    int64_t row_blocks = m > 0 ? ceil_div(m, plan->tile_m) : 0;
    if (row_blocks > 1 && row_blocks < GEMM_EVEN_ROW_BLOCKS && row_blocks % 2)
        plan->tile_m = even_block(m, ceil_div(m, row_blocks + 1));
    if (plan->tile_m < m)
        plan->tile_m = ceil_div(plan->tile_m, kernel->mr) * kernel->mr;
    plan->tiles_m = m > 0 ? ceil_div(m, plan->tile_m) : 0;
    /* Columns: cut into enough blocks of whole panels for about GEMM_TARGET_TASKS tasks, as
     * far as the work is worth sharing: a power of two of them. */
    int64_t macs = m * n * max64(k, 1);
    int64_t min_macs = GEMM_TASK_MIN_MACS * min64(max64(m, 1), GEMM_FEW_ROWS) / GEMM_FEW_ROWS;
    int64_t wanted = power_of_two_at_most(min64(GEMM_TARGET_TASKS, macs / min_macs));
    cut_columns(plan, ceil_div(wanted, max64(plan->tiles_m, 1)));
    size_t floats = 0;
    if (trans_a)
        floats += (size_t)(plan->tile_m * plan->kc);
    if (plan->trans_b)
        floats += (size_t)(plan->kc * kernel->nr);
    plan->scratch_bytes = floats ? floats * sizeof(float) + 2 * GEMM_ALIGN : 0;
}

void gemm_task_block(const gemm_plan *plan, int64_t task, int64_t *i0, int64_t *i1, int64_t *j0, int64_t *j1)
{
    int64_t ti = task / plan->tiles_n, tj = task % plan->tiles_n;
    *i0 = ti * plan->tile_m;
    *i1 = min64(plan->m, *i0 + plan->tile_m);
    /* Column block tj: panels [tj * panels / tiles_n, (tj + 1) * panels / tiles_n). */
    int64_t nr = plan->kernel->nr, panels = ceil_div(plan->n, nr);
    *j0 = tj * panels / plan->tiles_n * nr;
    *j1 = min64(plan->n, (tj + 1) * panels / plan->tiles_n * nr);
}

/* ---- running ------------------------------------------------------------------------------ */

static bool has_epilogue(const gemm_epilogue *e)
{
    return e->bias || e->row_bias || e->residual || e->activation != GEMM_ACTIVATION_NONE;
}

/* The activations the register tiles apply as they store (a few instructions each). */
static bool tile_activation(gemm_activation activation)
{
    return activation == GEMM_ACTIVATION_NONE || activation == GEMM_ACTIVATION_RELU ||
           activation == GEMM_ACTIVATION_CLIP || activation == GEMM_ACTIVATION_HARD_SIGMOID ||
           activation == GEMM_ACTIVATION_HARD_SWISH;
}

void gemm_epilogue_split(const gemm_epilogue *e, bool residual, gemm_epilogue *stored, gemm_epilogue *rest)
{
    *stored = (gemm_epilogue){.bias = e->bias, .row_bias = e->row_bias};
    *rest = *e;
    rest->bias = rest->row_bias = NULL;
    if (tile_activation(e->activation) && (residual || !e->residual)) {
        *stored = *e;
        rest->activation = GEMM_ACTIVATION_NONE;
        rest->residual = NULL;
    }
}

/* The epilogue of the tile at (i, j): its pointers moved to the tile's origin. */
static gemm_epilogue epilogue_at(const gemm_epilogue *e, int64_t i, int64_t j)
{
    gemm_epilogue at = *e;
    if (at.bias)
        at.bias += j;
    if (at.row_bias)
        at.row_bias += i;
    if (at.residual)
        at.residual += i * at.ld_residual + j;
    return at;
}

/* The rows of the register tile at a strip's row i, up to `end`: mr, but where fewer than
 * 1.5 mr are left, half of them (rounded up): a tile of few rows keeps few accumulators, whose
 * chains of dependent FMAs then bound it (one row of the AVX2 6x16 tile runs at a quarter of
 * the FMA rate, two at a half), so 6 + 1 rows go as 4 + 3 and 6 + 2 as 4 + 4. Each element is
 * summed in the same order whatever its tile. */
static int64_t tile_rows(int64_t mr, int64_t i, int64_t end)
{
    int64_t left = end - i;
    return left > mr && 2 * left < 3 * mr ? (left + 1) / 2 : min64(mr, left);
}

/* Rows [i0, i1) of op(A), columns [p0, p0 + kc), from A stored k x m, into rows of kc. */
static void pack_a_transposed(float *dst, const float *a, int64_t lda, int64_t i0, int64_t i1, int64_t p0,
                              int64_t kc)
{
    for (int64_t p = 0; p < kc; p++) {
        const float *src = a + (p0 + p) * lda;
        for (int64_t i = i0; i < i1; i++)
            dst[(i - i0) * kc + p] = src[i];
    }
}

static void run_block(const gemm_plan *plan, const gemm_args *args, int64_t i0, int64_t i1, int64_t j0,
                      int64_t j1, float *a_scratch, float *b_scratch)
{
    const gemm_kernel *kr = plan->kernel;
    const int64_t k = plan->k, ldc = args->ldc;
    if (i1 - i0 == 1 && plan->packed_b && !plan->trans_a && k > 0) {
        /* One row by whole panels: the row kernel, then the epilogue; a last narrower panel as
         * below. Over k in the tiles' passes, so that every column is summed in the same order
         * whichever path takes it (equal columns of B give equal results). */
        int64_t panels = (j1 - j0) / kr->nr;
        if (panels > 0) {
            float *c = args->c + i0 * ldc + j0;
            for (int64_t p0 = 0; p0 < k; p0 += plan->kc)
                kr->gemv(min64(plan->kc, k - p0), args->a + i0 * args->lda + p0,
                         plan->packed_b->panels + j0 * k + p0 * kr->nr, k * kr->nr, panels, c, args->alpha,
                         p0 == 0 ? args->beta : 1.0f);
            if (has_epilogue(&args->epilogue)) {
                gemm_epilogue e = epilogue_at(&args->epilogue, i0, j0);
                kr->epilogue(c, ldc, 1, panels * kr->nr, &e);
            }
            j0 += panels * kr->nr;
            if (j0 >= j1)
                return;
        }
    }
    /* What the tiles of the last pass apply as they store; the rest, if any, on the tile after. */
    gemm_epilogue stored, rest;
    gemm_epilogue_split(&args->epilogue, true, &stored, &rest);
    const gemm_epilogue *e = &stored;
    const bool finish = has_epilogue(&rest);
    for (int64_t p0 = 0; p0 == 0 || p0 < k; p0 += plan->kc) {
        const int64_t kc = min64(plan->kc, k - p0);
        const bool last_pass = p0 + kc >= k;
        gemm_tile tile = {.k = kc, .alpha = args->alpha, .beta = p0 == 0 ? args->beta : 1.0f, .ldc = ldc,
                          .activation = last_pass ? e->activation : GEMM_ACTIVATION_NONE,
                          .params = {e->params[0], e->params[1]}, .ld_residual = e->ld_residual,
                          .residual_first = e->residual_first};
        const float *a = args->a + i0 * args->lda + p0;
        tile.lda = args->lda;
        if (plan->trans_a) {
            pack_a_transposed(a_scratch, args->a, args->lda, i0, i1, p0, kc);
            a = a_scratch;
            tile.lda = kc;
        }
        for (int64_t j = j0; j < j1; j += kr->nr) {
            const int64_t cols = min64(kr->nr, j1 - j);
            if (plan->packed_b) {
                tile.ldb = panel_width(kr, plan->n, j);
                tile.b = plan->packed_b->panels + j * k + p0 * tile.ldb;
            } else if (plan->trans_b) {
                pack_panel(b_scratch, kr->nr, true, args->b, args->ldb, p0, kc, j, cols);
                tile.b = b_scratch;
                tile.ldb = kr->nr;
            } else {
                tile.b = args->b + p0 * args->ldb + j;
                tile.ldb = args->ldb;
            }
            tile.nr = (int)cols;
            const int vectors = (int)ceil_div(cols, kr->vector);
            for (int64_t i = i0, rows; i < i1; i += rows) {
                rows = tile_rows(kr->mr, i, i1);
                tile.a = a + (i - i0) * tile.lda;
                tile.c = args->c + i * ldc + j;
                tile.bias = last_pass && e->bias ? e->bias + j : NULL;
                tile.row_bias = last_pass && e->row_bias ? e->row_bias + i : NULL;
                tile.residual = last_pass && e->residual ? e->residual + i * e->ld_residual + j : NULL;
                kr->tiles[rows - 1][vectors - 1](&tile);
                if (last_pass && finish) {
                    gemm_epilogue e = epilogue_at(&rest, i, j);
                    kr->epilogue(tile.c, ldc, rows, cols, &e);
                }
            }
        }
    }
}

void gemm_run(const gemm_plan *plan, const gemm_args *args, int64_t begin, int64_t end, void *scratch)
{
    float *a_scratch = NULL, *b_scratch = NULL;
    if (plan->scratch_bytes) {
        a_scratch = align_up(scratch);
        b_scratch = plan->trans_a ? align_up(a_scratch + plan->tile_m * plan->kc) : a_scratch;
    }
    for (int64_t task = begin; task < end; task++) {
        int64_t i0, i1, j0, j1;
        gemm_task_block(plan, task, &i0, &i1, &j0, &j1);
        run_block(plan, args, i0, i1, j0, j1, a_scratch, b_scratch);
    }
}

void gemm_shifted(const gemm_kernel *kernel, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                  const float *b, const int32_t *offsets, float *c, int64_t ldc, const gemm_epilogue *e)
{
    static const gemm_epilogue none = {0};
    if (!e)
        e = &none;
    if (!kernel)
        kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    const int64_t kc_max = even_block(k, GEMM_KC_MAX);
    /* Panel by panel, every strip of A going past each: the rows of B a panel reads (a few
     * lines of the input per channel) stay in L1 meanwhile. */
    for (int64_t p0 = 0; p0 == 0 || p0 < k; p0 += kc_max) {
        const bool last_pass = p0 + kc_max >= k;
        gemm_tile tile = {.k = min64(kc_max, k - p0), .b = b, .b_offsets = offsets + p0, .lda = lda, .ldc = ldc,
                          .alpha = 1.0f, .beta = p0 == 0 ? 0.0f : 1.0f,
                          .activation = last_pass ? e->activation : GEMM_ACTIVATION_NONE,
                          .params = {e->params[0], e->params[1]}};
        for (int64_t j = 0; j < n; j += kernel->nr) {
            const int64_t cols = min64(kernel->nr, n - j);
            tile.b = b + j;
            tile.nr = (int)cols;
            const int vectors = (int)ceil_div(cols, kernel->vector);
            for (int64_t i = 0, rows; i < m; i += rows) {
                rows = tile_rows(kernel->mr, i, m);
                tile.a = a + i * lda + p0;
                tile.c = c + i * ldc + j;
                tile.bias = last_pass && e->bias ? e->bias + j : NULL;
                tile.row_bias = last_pass && e->row_bias ? e->row_bias + i : NULL;
                kernel->shifted[rows - 1][vectors - 1](&tile);
            }
        }
    }
}

/* ---- whole products ----------------------------------------------------------------------- */

/* C = alpha op(A) op(B) + beta C row by row, each row of C gathering op(A)'s terms times op(B)'s
 * rows (a loop along the row, which the compiler vectorizes where B is not transposed): for
 * float64 and the float32 products onyx's kernel does not plan (A transposed). Correct at any
 * layout, not fast; beta 0 does not read C. */
#define PLAIN_GEMM(T, NAME)                                                                    \
    static void NAME(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T *a, \
                     int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc)            \
    {                                                                                          \
        for (int64_t i = 0; i < m; i++) {                                                      \
            T *row = c + i * ldc;                                                              \
            for (int64_t j = 0; j < n; j++)                                                    \
                row[j] = beta == 0 ? 0 : beta * row[j];                                        \
            for (int64_t p = 0; p < k; p++) {                                                  \
                T term = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);                  \
                if (trans_b)                                                                   \
                    for (int64_t j = 0; j < n; j++)                                            \
                        row[j] += term * b[j * ldb + p];                                       \
                else                                                                           \
                    for (int64_t j = 0; j < n; j++)                                            \
                        row[j] += term * b[p * ldb + j];                                       \
            }                                                                                  \
        }                                                                                      \
    }
PLAIN_GEMM(float, plain_gemm_f32)
PLAIN_GEMM(double, plain_gemm_f64)

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m == 0 || n == 0)
        return;
    if (trans_b && !trans_a && k > 0) {
        /* B transposed (attention's Q K^T with keys as rows, recurrent weights): onyx's kernel in
         * passes of at most TRANS_B_KC terms, each repacking B's panels into a buffer on the stack. */
        enum { TRANS_B_KC = 128 };
        float buffer[TRANS_B_KC * GEMM_MAX_NV * 16 + 2 * GEMM_ALIGN / sizeof(float)];
        for (int64_t p0 = 0; p0 < k; p0 += TRANS_B_KC) {
            gemm_plan plan;
            gemm_plan_init(&plan, NULL, m, n, min64(TRANS_B_KC, k - p0), false, true, NULL);
            if (plan.scratch_bytes > sizeof buffer)
                break; /* a kernel wider than any of today's: the plain loops below */
            gemm_args args = {.a = a + p0, .lda = lda, .b = b + p0, .ldb = ldb, .c = c, .ldc = ldc,
                              .alpha = alpha, .beta = p0 ? 1.0f : beta};
            gemm_run(&plan, &args, 0, gemm_plan_tasks(&plan), buffer);
            if (p0 + TRANS_B_KC >= k)
                return;
        }
    }
    if (trans_a || trans_b) {
        plain_gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gemm_plan plan;
    gemm_plan_init(&plan, NULL, m, n, k, false, false, NULL);
    gemm_args args = {.a = a, .lda = lda, .b = b, .ldb = ldb, .c = c, .ldc = ldc, .alpha = alpha, .beta = beta};
    gemm_run(&plan, &args, 0, gemm_plan_tasks(&plan), NULL);
}

void gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
              int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc)
{
    plain_gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
