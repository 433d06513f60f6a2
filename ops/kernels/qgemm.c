/* The int8 GEMM driver: B's packing, the plan, and each task's A packing and per-column
 * terms; the tiles are the kernel families' (qgemm_portable.c, qgemm_avx2.c, qgemm_avxvnni.c,
 * qgemm_avx512vnni.c). See qgemm.h. */
#include "qgemm.h"

#include "cpu.h"
#include "gemm.h" /* gemm_activate */

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

const qgemm_kernel *qgemm_kernel_get(qgemm_kernel_id id)
{
#if defined(__x86_64__)
    const cpu_features *f = cpu_features_get();
    switch (id) {
    case QGEMM_KERNEL_BEST:
        return f->avx512_vnni ? &qgemm_kernel_avx512_vnni
               : f->avx_vnni  ? &qgemm_kernel_avx_vnni
               : f->avx2_fma  ? &qgemm_kernel_avx2
                              : &qgemm_kernel_portable;
    case QGEMM_KERNEL_AVX512_VNNI: return f->avx512_vnni ? &qgemm_kernel_avx512_vnni : NULL;
    case QGEMM_KERNEL_AVX_VNNI: return f->avx_vnni ? &qgemm_kernel_avx_vnni : NULL;
    case QGEMM_KERNEL_AVX2: return f->avx2_fma ? &qgemm_kernel_avx2 : NULL;
    case QGEMM_KERNEL_PORTABLE: return &qgemm_kernel_portable;
    }
    return NULL;
#else
    return id == QGEMM_KERNEL_BEST || id == QGEMM_KERNEL_PORTABLE ? &qgemm_kernel_portable : NULL;
#endif
}

const char *qgemm_kernel_name(const qgemm_kernel *kernel) { return kernel->name; }

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

size_t qgemm_packed_b_bytes(int64_t k, int64_t n)
{
    if (k < 0 || n < 0 || k > INT64_MAX / 8 || n > INT64_MAX / 8)
        return SIZE_MAX;
    int64_t k4 = round_up(k, QGEMM_KGROUP), n16 = round_up(n, QGEMM_PANEL), data;
    if (__builtin_mul_overflow(k4, n16, &data) || data > INT64_MAX / 2 - 4 * n16 - 128)
        return SIZE_MAX;
    return (size_t)(data + 4 * n16 + 128); /* the panels, the column sums, alignment */
}

void qgemm_pack_b(qgemm_packed_b *packed, const void *b, bool b_signed, int64_t k, int64_t n, int64_t ldb,
                  void *memory)
{
    qgemm_pack_b_strided(packed, b, b_signed, k, n, ldb, 1, memory);
}

void qgemm_pack_b_strided(qgemm_packed_b *packed, const void *b, bool b_signed, int64_t k, int64_t n,
                          int64_t row_step, int64_t column_step, void *memory)
{
    int64_t k4 = round_up(k, QGEMM_KGROUP), panels = round_up(n, QGEMM_PANEL) / QGEMM_PANEL;
    int8_t *data = (int8_t *)(((uintptr_t)memory + 63) & ~(uintptr_t)63);
    int32_t *sums = (int32_t *)(data + k4 * panels * QGEMM_PANEL);
    memset(data, 0, (size_t)(k4 * panels * QGEMM_PANEL));
    memset(sums, 0, (size_t)(panels * QGEMM_PANEL) * sizeof *sums);
    const int8_t *bs = b;
    const uint8_t *bu = b;
    /* Whole blocks of 4 rows by 16 columns of a row-major B at once: a 4 x 16 byte transpose
     * in two rounds of interleaving (B is packed on each run when it is not a constant). */
    int64_t k_done = 0, n_done = 0;
#if defined(__SSE2__)
    if (column_step == 1) {
        k_done = k / 4 * 4;
        n_done = n / 16 * 16;
        const __m128i flip = _mm_set1_epi8(b_signed ? 0 : (char)0x80);
        for (int64_t p = 0; p < k_done; p += 4)
            for (int64_t j = 0; j < n_done; j += 16) {
                const uint8_t *src = bu + p * row_step + j;
                __m128i r0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)src), flip);
                __m128i r1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + row_step)), flip);
                __m128i r2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + 2 * row_step)), flip);
                __m128i r3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + 3 * row_step)), flip);
                __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
                __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
                int8_t *dst = data + j / QGEMM_PANEL * k4 * QGEMM_PANEL + p * QGEMM_PANEL;
                _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi16(t0, t2));
                _mm_storeu_si128((__m128i *)(dst + 16), _mm_unpackhi_epi16(t0, t2));
                _mm_storeu_si128((__m128i *)(dst + 32), _mm_unpacklo_epi16(t1, t3));
                _mm_storeu_si128((__m128i *)(dst + 48), _mm_unpackhi_epi16(t1, t3));
            }
    }
#endif
    for (int64_t p = 0; p < k; p++) {
        int8_t *group = data + p / QGEMM_KGROUP * QGEMM_PANEL * QGEMM_KGROUP + p % QGEMM_KGROUP;
        for (int64_t j = p < k_done ? n_done : 0; j < n; j++) {
            int64_t at = p * row_step + j * column_step;
            group[(j / QGEMM_PANEL) * k4 * QGEMM_PANEL + (j % QGEMM_PANEL) * QGEMM_KGROUP] =
                b_signed ? bs[at] : (int8_t)(bu[at] - 128);
        }
    }
    /* The column sums of B' (a loop the compiler vectorizes when B's rows are contiguous). */
    for (int64_t p = 0; p < k; p++) {
        if (column_step == 1) {
            const int8_t *row = bs + p * row_step;
            const uint8_t *urow = bu + p * row_step;
            if (b_signed)
                for (int64_t j = 0; j < n; j++)
                    sums[j] += row[j];
            else
                for (int64_t j = 0; j < n; j++)
                    sums[j] += (int32_t)urow[j] - 128;
        } else {
            for (int64_t j = 0; j < n; j++) {
                int64_t at = p * row_step + j * column_step;
                sums[j] += b_signed ? bs[at] : (int32_t)bu[at] - 128;
            }
        }
    }
    *packed = (qgemm_packed_b){.k = k, .n = n, .k4 = k4, .panels = panels, .b_signed = b_signed,
                               .data = data, .col_sums = sums};
}

/* Blocks of C per task: a few register tiles each way, so that a task's panels of B (tile_n
 * columns by k) stay in L2 while its rows of A pass through L1. Tasks run down a column of
 * blocks first (task_block), so the next task finds those panels still in L2 and only A's
 * smaller rows come again: in row order, a B larger than L2 (768 x 3072 bytes, say) came back
 * from L3 for every block of rows, 30-40% slower on the AVX2 kernel. Threads given runs of
 * tasks share B's columns out between them. */
#define TILE_M_TILES 8
#define TILE_N_COLUMNS 192

void qgemm_plan_init(qgemm_plan *plan, const qgemm_kernel *kernel, int64_t m, int64_t n, int64_t k)
{
    if (!kernel)
        kernel = qgemm_kernel_get(QGEMM_KERNEL_BEST);
    int64_t k4 = round_up(k, QGEMM_KGROUP);
    int64_t tile_m = min64(round_up(m > 0 ? m : 1, kernel->mr), (int64_t)kernel->mr * TILE_M_TILES);
    int64_t tile_n = min64(round_up(n > 0 ? n : 1, kernel->nr), round_up(TILE_N_COLUMNS, kernel->nr));
    *plan = (qgemm_plan){.kernel = kernel, .m = m, .n = n, .k = k, .k4 = k4, .tile_m = tile_m,
                         .tile_n = tile_n,
                         .tiles_m = m > 0 ? (m + tile_m - 1) / tile_m : 0,
                         .tiles_n = n > 0 ? (n + tile_n - 1) / tile_n : 0};
    plan->scratch_bytes = (size_t)(round_up(tile_m * k4, 64) + 4 * tile_m + 4 * 4 * tile_n + 128);
}

void qgemm_task_block(const qgemm_plan *plan, int64_t task, int64_t *i0, int64_t *i1, int64_t *j0,
                      int64_t *j1)
{
    /* Column-major over the blocks (see TILE_M_TILES). */
    *i0 = task % plan->tiles_m * plan->tile_m;
    *j0 = task / plan->tiles_m * plan->tile_n;
    *i1 = min64(plan->m, *i0 + plan->tile_m);
    *j1 = min64(plan->n, *j0 + plan->tile_n);
}

void qgemm_run_task(const qgemm_plan *plan, int64_t task, const qgemm_args *args, void *scratch)
{
    const qgemm_kernel *kernel = plan->kernel;
    const qgemm_packed_b *b = args->b;
    int64_t k = plan->k, k4 = plan->k4;
    int64_t i0, i1, j0, j1;
    qgemm_task_block(plan, task, &i0, &i1, &j0, &j1);
    int64_t rows = i1 - i0, cols = j1 - j0;

    uint8_t *a_packed = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    int32_t *row_sums = (int32_t *)(a_packed + round_up(plan->tile_m * k4, 64));
    int32_t *col_term = row_sums + plan->tile_m, *b_off = col_term + plan->tile_n;
    float *scale = (float *)(b_off + plan->tile_n);

    /* Per column: B's offset (its zero point in the shifted values), the terms of A's. */
    uint32_t a_off = (uint32_t)(args->a_zero_point + (args->a_signed ? 128 : 0));
    int32_t b_shift = b->b_signed ? 0 : 128;
    bool any_b_off = false;
    for (int64_t j = 0; j < cols; j++) {
        int32_t zb = !args->b_zero_points ? 0 : args->b_zero_points[args->b_zp_per_column ? j0 + j : 0];
        b_off[j] = zb - b_shift;
        any_b_off |= b_off[j] != 0;
        col_term[j] = (int32_t)(a_off * ((uint32_t)k * (uint32_t)b_off[j] - (uint32_t)b->col_sums[j0 + j]));
        if (!args->c32)
            scale[j] = args->a_scale * args->b_scales[args->b_scale_per_column ? j0 + j : 0];
    }

    /* A's rows, unsigned, k padded to whole groups (B's padding is zero), with their sums
     * when some column has an offset. An unsigned A whose rows are whole groups is read where
     * it lies. */
    const uint8_t *a = args->a;
    bool direct = !args->a_signed && k == k4;
    const uint8_t *a_rows = direct ? a + i0 * args->lda : a_packed;
    int64_t a_ld = direct ? args->lda : k4;
    uint8_t flip = args->a_signed ? 0x80 : 0;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = a + (i0 + r) * args->lda;
        if (!direct) {
            uint8_t *dst = a_packed + r * k4;
            for (int64_t p = 0; p < k; p++)
                dst[p] = src[p] ^ flip;
            for (int64_t p = k; p < k4; p++)
                dst[p] = 0;
            src = dst;
        }
        if (any_b_off) {
            uint32_t sum = 0;
            for (int64_t p = 0; p < k; p++)
                sum += src[p];
            row_sums[r] = (int32_t)sum;
        }
    }

    int64_t b_stride = k4 * QGEMM_PANEL;
    for (int64_t j = 0; j < cols; j += kernel->nr) {
        int64_t nc = min64(cols - j, kernel->nr);
        const int8_t *panel = b->data + (j0 + j) / QGEMM_PANEL * b_stride;
        for (int64_t i = 0; i < rows; i += kernel->mr) {
            int64_t c_at = args->c_local ? i * args->ldc + j : (i0 + i) * args->ldc + j0 + j;
            qgemm_out out = {.c32 = args->c32 ? args->c32 + c_at : NULL, .c = args->c ? args->c + c_at : NULL,
                             .ldc = args->ldc, .col_term = col_term + j,
                             .b_off = any_b_off ? b_off + j : NULL,
                             .row_sums = row_sums + i, .scale = scale + j,
                             .bias = args->bias ? args->bias + j0 + j : NULL};
            kernel->tile(min64(rows - i, kernel->mr), nc, k4, a_rows + i * a_ld, a_ld, panel, b_stride, &out);
        }
    }
    /* The activation over the block while it is still in cache. */
    for (int64_t r = 0; args->c && args->activation != GEMM_ACTIVATION_NONE && r < rows; r++)
        gemm_activate(NULL, args->c + (args->c_local ? r * args->ldc : (i0 + r) * args->ldc + j0), cols,
                      (gemm_activation)args->activation);
    if (!args->c || !args->requantize)
        return;
    uint8_t q[256];
    for (int64_t r = 0; r < rows; r++) {
        float *y = args->c + (args->c_local ? r * args->ldc : (i0 + r) * args->ldc + j0);
        for (int64_t j = 0; j < cols; j += (int64_t)sizeof q) {
            int64_t n = min64(cols - j, (int64_t)sizeof q);
            qgemm_quantize(y + j, n, args->y_scale, args->y_zero_point, args->y_signed, q);
            for (int64_t t = 0; t < n; t++) {
                int32_t level = args->y_signed ? (int32_t)(int8_t)q[t] : (int32_t)q[t];
                y[j + t] = (float)(level - args->y_zero_point) * args->y_scale;
            }
        }
    }
}

void qgemm_quantize(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed, void *y)
{
    qgemm_kernel_get(QGEMM_KERNEL_BEST)->quantize(x, n, scale, zero_point, is_signed, y);
}

void qgemm_range(const float *x, int64_t n, float *lo, float *hi)
{
    qgemm_kernel_get(QGEMM_KERNEL_BEST)->range(x, n, lo, hi);
}
