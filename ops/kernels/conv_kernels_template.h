/* The row kernels of conv_kernels.h, written once over GCC's generic vectors (CONV_LANES
 * floats) and plain loops, and compiled per instruction set: the file including this one
 * defines CONV_LANES, CONV_KERNELS_NAME and CONV_KERNELS_SYMBOL. Where AVX2 or AVX-512 is
 * enabled, masked loads and stores and 8x8 transpositions use their intrinsics.
 *
 * Depthwise convolution and MaxPool copy the input rows a band of output rows reads, padded and
 * split by column phase (any stride then loads consecutive floats), and sweep the copy in
 * blocks of rows x vectors whose accumulators stay in registers across every tap. On narrow
 * planes the depthwise kernel puts channels in the lanes instead. AveragePool makes one pass
 * per tap over each output row, held in L1. */
#include "conv_kernels.h"

#include <math.h>
#include <stdint.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <string.h>

/* The output columns [*lo, *hi) whose tap at input offset `offset` (ox * stride + offset)
 * lies in [0, in_w). */
static inline void tap_columns(const conv2d_window *g, int64_t offset, int64_t *lo, int64_t *hi)
{
    int64_t s = g->stride_w;
    int64_t first = offset >= 0 ? 0 : (-offset + s - 1) / s;
    int64_t end = g->in_w - offset <= 0 ? 0 : (g->in_w - offset + s - 1) / s;
    *lo = first < g->out_w ? first : g->out_w;
    *hi = end < g->out_w ? end : g->out_w;
    if (*hi < *lo)
        *hi = *lo;
}

/* o[ox] OP= in[ox * stride + offset] for ox in [lo, hi). */
#define ROW_PASS(STEP)                                                                         \
    do {                                                                                       \
        int64_t lo, hi;                                                                        \
        tap_columns(g, offset, &lo, &hi);                                                      \
        const float *restrict src = row + offset;                                              \
        if (g->stride_w == 1)                                                                  \
            for (int64_t ox = lo; ox < hi; ox++)                                               \
                STEP(o[ox], src[ox]);                                                          \
        else if (g->stride_w == 2)                                                             \
            for (int64_t ox = lo; ox < hi; ox++)                                               \
                STEP(o[ox], src[2 * ox]);                                                      \
        else                                                                                   \
            for (int64_t ox = lo; ox < hi; ox++)                                               \
                STEP(o[ox], src[ox * g->stride_w]);                                            \
    } while (0)

#define ADD(acc, x) ((acc) += (x))

/* The input rows of output row oy: taps [*k0, *k1) of the kernel's rows lie inside. */
static inline void tap_rows(const conv2d_window *g, int64_t oy, int64_t *k0, int64_t *k1)
{
    int64_t start = oy * g->stride_h - g->pad_top, d = g->dilation_h;
    int64_t f = start >= 0 ? 0 : (-start + d - 1) / d;
    int64_t l = start >= g->in_h ? 0 : (g->in_h - start + d - 1) / d;
    *k0 = f < g->kernel_h ? f : g->kernel_h;
    *k1 = l < g->kernel_h ? l : g->kernel_h;
    if (*k1 < *k0)
        *k1 = *k0;
}

/* ---- depthwise convolution and MaxPool: vectors over a padded copy ----------------------- */

/* Rows of the copy up to this many floats are padded in one run over the whole copy. */
#define CONV_COPY_NARROW 48

/* A native vector of CONV_LANES floats (the including file's: 16, 8 or 4), in GCC's generic
 * vectors, and the mask its comparisons give. */
typedef float conv_vec __attribute__((vector_size(CONV_LANES * sizeof(float))));
typedef int32_t conv_mask __attribute__((vector_size(CONV_LANES * sizeof(float))));

/* Unaligned loads and stores, through memcpy. */
#define LOAD_VEC(v, p) memcpy(&(v), (p), sizeof(conv_vec))
#define STORE_VEC(p, v) memcpy((p), &(v), sizeof(conv_vec))

/* dst[0..n) = src[0..n): whole vectors, the last of them ending at n (overlapping the one
 * before: no masked store, which is slow on AMD's cores, and no libc call, which would cost as
 * much as these short rows); rows shorter than a vector element by element. */
static inline void copy_row(float *restrict dst, const float *restrict src, int64_t n)
{
    if (n < CONV_LANES) {
        for (int64_t i = 0; i < n; i++)
            dst[i] = src[i];
        return;
    }
    conv_vec v;
    for (int64_t i = 0; i + CONV_LANES < n; i += CONV_LANES) {
        LOAD_VEC(v, src + i);
        STORE_VEC(dst + i, v);
    }
    LOAD_VEC(v, src + n - CONV_LANES);
    STORE_VEC(dst + n - CONV_LANES, v);
}

/* dst[i] = src[2 i] for i in [0, n): the even floats of two vectors, the second loaded one
 * float early so that no load reaches past src[2 (n - 1)]; the last vector ending at n as in
 * copy_row. */
static inline void copy_even(float *restrict dst, const float *restrict src, int64_t n)
{
    if (n < CONV_LANES) {
        for (int64_t i = 0; i < n; i++)
            dst[i] = src[2 * i];
        return;
    }
    for (int64_t i = 0;; i += CONV_LANES) {
        if (i + CONV_LANES > n)
            i = n - CONV_LANES;
        conv_vec a, b;
        LOAD_VEC(a, src + 2 * i);
        LOAD_VEC(b, src + 2 * i + CONV_LANES - 1);
#if defined(__AVX2__) && !defined(__AVX512F__)
        /* Two in-lane shuffles instead of the two cross-lane permutes and a blend GCC makes of
         * the generic shuffle (15% faster on a stride-2 depthwise convolution, Zen 3). */
        __m256 va, vb;
        memcpy(&va, &a, sizeof va);
        memcpy(&vb, &b, sizeof vb);
        __m256 pairs = _mm256_castpd_ps(
            _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(va, vb, 0xD8)), 0xD8));
        conv_vec v;
        memcpy(&v, &pairs, sizeof v);
#elif CONV_LANES == 16
        conv_vec v = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31);
#elif CONV_LANES == 8
        conv_vec v = __builtin_shufflevector(a, b, 0, 2, 4, 6, 9, 11, 13, 15);
#else
        conv_vec v = __builtin_shufflevector(a, b, 0, 2, 5, 7);
#endif
        STORE_VEC(dst + i, v);
        if (i + CONV_LANES >= n)
            break;
    }
}

static void gather_columns(float *restrict dst, const float *restrict src, int64_t n, int64_t stride)
{
    if (stride == 1)
        copy_row(dst, src, n);
    else if (stride == 2)
        copy_even(dst, src, n);
    else
        for (int64_t i = 0; i < n; i++)
            dst[i] = src[i * stride];
}

/* Copies the input rows that output rows [row0, row0 + rows) read into `copy`, padded with
 * `pad` and split by column phase: row j of phase r holds the padded input row
 * row0 * stride_h + j at columns r, r + stride_w, r + 2 stride_w, ... So the tap at column
 * offset t of output column ox reads phase t % stride_w at ox + t / stride_w: whatever the
 * stride, a vector of outputs loads consecutive floats. */
static void window_copy(const conv2d_window *g, const float *in, int64_t row0, int64_t in_rows, float pad,
                        float *copy)
{
    const int64_t width = conv2d_copy_width(g), s = g->stride_w;
    /* Narrow rows: the padding first, in one long run over the whole copy (a loop per row's
     * edges would cost more than the row); wide ones: each row's edges. */
    const bool narrow = width <= CONV_COPY_NARROW;
    if (narrow)
        for (int64_t c = 0; c < s * in_rows * width; c++)
            copy[c] = pad;
    for (int64_t r = 0; r < s; r++) {
        /* Column c of phase r holds input column c * s + x0: inside for c in [lo, hi). */
        int64_t x0 = r - g->pad_left;
        int64_t lo = x0 >= 0 ? 0 : (-x0 + s - 1) / s, hi = x0 >= g->in_w ? 0 : (g->in_w - x0 + s - 1) / s;
        lo = lo < width ? lo : width;
        hi = hi < width ? (hi > lo ? hi : lo) : width;
        for (int64_t j = 0; j < in_rows; j++) {
            float *restrict dst = copy + (r * in_rows + j) * width;
            int64_t iy = row0 * g->stride_h - g->pad_top + j;
            bool inside = iy >= 0 && iy < g->in_h;
            if (!narrow) {
                for (int64_t c = 0; c < (inside ? lo : width); c++)
                    dst[c] = pad;
                for (int64_t c = inside ? hi : width; c < width; c++)
                    dst[c] = pad;
            }
            if (!inside)
                continue;
            const float *row = in + iy * g->in_w + x0;
            gather_columns(dst + lo, row + lo * s, hi - lo, s);
        }
    }
}

/* The larger of acc and x, NaN winning (x replaces acc when larger or NaN; NaN in acc stays). */
static inline conv_vec max_nan(conv_vec acc, conv_vec x)
{
    conv_mask take = (x > acc) | (x != x);
    return (conv_vec)((take & (conv_mask)x) | (~take & (conv_mask)acc));
}

/* The same for one float. */
static inline float max_nan_1(float acc, float x) { return x > acc || x != x ? x : acc; }

/* x where take, else y. */
static inline conv_vec select_vec(conv_mask take, conv_vec x, conv_vec y)
{
    return (conv_vec)((take & (conv_mask)x) | (~take & (conv_mask)y));
}

/* min(max(x, lo), hi), NaN passing through, as the GEMM's clamp. */
static inline conv_vec clamp_vec(conv_vec x, float lo, float hi)
{
    conv_vec l = (conv_vec){0} + lo, h = (conv_vec){0} + hi;
    x = select_vec(x < l, l, x);
    return select_vec(x > h, h, x);
}

/* One of the activations the GEMM's tiles apply (gemm_epilogue_split's), as they compute it:
 * ReLU and Clip keep NaN. */
static inline conv_vec activate_vec(conv_vec x, gemm_activation activation, const float *params)
{
    switch (activation) {
    case GEMM_ACTIVATION_RELU: return select_vec((x > 0.0f) | (x != x), x, (conv_vec){0});
    case GEMM_ACTIVATION_CLIP: return clamp_vec(x, params[0], params[1]);
    case GEMM_ACTIVATION_HARD_SIGMOID: return clamp_vec(x * params[0] + params[1], 0.0f, 1.0f);
    case GEMM_ACTIVATION_HARD_SWISH: return x * clamp_vec(x * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
    default: return x;
    }
}

#define STEP_FMA(acc, w, x) ((acc) += (w) * (x))
#define STEP_MAX(acc, w, x) ((acc) = max_nan((acc), (x)))

/* Writes the vector of an output row at column x0: whole, or its first out_w - x0 lanes on a row
 * narrower than a vector. */
static inline void store_output(float *row, int64_t out_w, int64_t x0, conv_vec x)
{
    if (x0 + CONV_LANES <= out_w) {
        STORE_VEC(row + x0, x);
    } else {
        /* The first out_w - x0 lanes: masked where the instruction set has masks. */
#if defined(__AVX512F__) && CONV_LANES == 16
        __m512 lanes;
        memcpy(&lanes, &x, sizeof lanes);
        _mm512_mask_storeu_ps(row + x0, (__mmask16)((1u << (out_w - x0)) - 1u), lanes);
#elif defined(__AVX2__) && CONV_LANES == 8
        __m256 lanes;
        memcpy(&lanes, &x, sizeof lanes);
        __m256i mask =
            _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(out_w - x0)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_maskstore_ps(row + x0, mask, lanes);
#else
        float lanes[CONV_LANES];
        STORE_VEC(lanes, x);
        for (int64_t i = 0; i < out_w - x0; i++)
            row[x0 + i] = lanes[i];
#endif
    }
}

/* R output rows from oy by N vectors at columns xs[0..N), accumulated in registers across
 * every tap (the R x N chains of dependent steps overlap). columns[kx]: where tap column kx
 * reads in the copy, relative to the start of its row; j0: the copy row of output row oy's
 * first tap. */
#define WINDOW_BLOCK(NAME, STEP, R, N)                                                         \
    static inline void NAME##_##R##x##N(const conv2d_window *g, const float *copy, const int64_t *columns, \
                                        int64_t width, int64_t j0, const float *weights, float init, \
                                        gemm_activation act, const float *params, float *out,  \
                                        int64_t oy, const int64_t *xs)                         \
    {                                                                                          \
        conv_vec acc[R][N];                                                                    \
        for (int r = 0; r < R; r++)                                                            \
            for (int i = 0; i < N; i++)                                                        \
                acc[r][i] = (conv_vec){0} + init;                                              \
        const int64_t row_step = g->stride_h * width;                                          \
        for (int64_t ky = 0; ky < g->kernel_h; ky++) {                                         \
            const float *line = copy + (j0 + ky * g->dilation_h) * width;                      \
            const float *tap_weights = weights ? weights + ky * g->kernel_w : NULL;            \
            for (int64_t kx = 0; kx < g->kernel_w; kx++) {                                     \
                conv_vec w = (conv_vec){0} + (tap_weights ? tap_weights[kx] : 0.0f);           \
                (void)w;                                                                       \
                const float *src = line + columns[kx];                                         \
                for (int r = 0; r < R; r++, src += row_step)                                   \
                    for (int i = 0; i < N; i++) {                                              \
                        conv_vec x;                                                            \
                        LOAD_VEC(x, src + xs[i]);                                              \
                        STEP(acc[r][i], w, x);                                                 \
                    }                                                                          \
            }                                                                                  \
        }                                                                                      \
        for (int r = 0; r < R; r++)                                                            \
            for (int i = 0; i < N; i++)                                                        \
                store_output(out + (oy + r) * g->out_w, g->out_w, xs[i],                       \
                             activate_vec(acc[r][i], act, params));                            \
    }
WINDOW_BLOCK(depthwise, STEP_FMA, 1, 1)
WINDOW_BLOCK(depthwise, STEP_FMA, 2, 1)
WINDOW_BLOCK(depthwise, STEP_FMA, 4, 1)
WINDOW_BLOCK(depthwise, STEP_FMA, 4, 2)
WINDOW_BLOCK(depthwise, STEP_FMA, 2, 2)
WINDOW_BLOCK(depthwise, STEP_FMA, 2, 3)
WINDOW_BLOCK(depthwise, STEP_FMA, 2, 4)
WINDOW_BLOCK(max_pool, STEP_MAX, 1, 1)
WINDOW_BLOCK(max_pool, STEP_MAX, 2, 1)
WINDOW_BLOCK(max_pool, STEP_MAX, 4, 1)
WINDOW_BLOCK(max_pool, STEP_MAX, 4, 2)
WINDOW_BLOCK(max_pool, STEP_MAX, 2, 2)
WINDOW_BLOCK(max_pool, STEP_MAX, 2, 3)
WINDOW_BLOCK(max_pool, STEP_MAX, 2, 4)

/* Output rows [row0, row1) of one band (at most g->copy_rows): the input it reads copied, then
 * swept in blocks of two rows by up to four vectors, or four rows by one or two (narrow rows),
 * so that several chains of dependent steps overlap; a last row alone. */
#define WINDOW_BAND(NAME, PAD)                                                                 \
    static void NAME##_band(const conv2d_window *g, const float *in, const float *weights, float init, \
                            gemm_activation act, const float *params, float *out, int64_t row0, \
                            int64_t row1, float *scratch)                                      \
    {                                                                                          \
        const int64_t in_rows = (row1 - row0 - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1; \
        const int64_t width = conv2d_copy_width(g);                                            \
        /* Whole vectors along the row, then one ending at its end, overlapping the one before \
         * (or a narrower row's only vector, stored in part). */                               \
        const int64_t whole = g->out_w / CONV_LANES, vectors = (g->out_w + CONV_LANES - 1) / CONV_LANES; \
        const int64_t last = g->out_w > CONV_LANES ? g->out_w - CONV_LANES : 0;                 \
        window_copy(g, in, row0, in_rows, PAD, scratch);                                       \
        /* Tap column kx (offset t = kx * dilation_w in the padded row) reads phase            \
         * t % stride_w from column t / stride_w on. */                                        \
        int64_t columns[CONV_WINDOW_MAX_KERNEL];                                               \
        for (int64_t kx = 0, phase = 0, at = 0; kx < g->kernel_w; kx++) {                     \
            /* kx * dilation_w = at * stride_w + phase, without a division per tap */         \
            columns[kx] = phase * in_rows * width + at;                                        \
            for (phase += g->dilation_w; phase >= g->stride_w; phase -= g->stride_w)           \
                at++;                                                                          \
        }                                                                                      \
        /* Blocks of at least 4 vectors where the row has them (4 rows by 1 or 2 on narrow     \
         * rows), so that enough chains of dependent steps overlap to hide their latency. */   \
        int64_t oy = row0;                                                                     \
        const int64_t first[2] = {0, last};                                                    \
        for (; vectors <= 2 && oy + 4 <= row1; oy += 4) {                                      \
            int64_t j0 = (oy - row0) * g->stride_h;                                            \
            if (vectors == 1)                                                                  \
                NAME##_4x1(g, scratch, columns, width, j0, weights, init, act, params, out, oy, first);     \
            else                                                                               \
                NAME##_4x2(g, scratch, columns, width, j0, weights, init, act, params, out, oy, first);     \
        }                                                                                      \
        for (; oy < row1; oy += 2) {                                                           \
            int64_t j0 = (oy - row0) * g->stride_h;                                            \
            for (int64_t v = 0; v < vectors; v += 4) {                                         \
                int64_t xs[4], n = vectors - v < 4 ? vectors - v : 4;                          \
                for (int64_t i = 0; i < n; i++)                                                \
                    xs[i] = v + i < whole ? (v + i) * CONV_LANES : last;                       \
                if (oy + 1 == row1)                                                            \
                    for (int64_t i = 0; i < n; i++)                                            \
                        NAME##_1x1(g, scratch, columns, width, j0, weights, init, act, params, out, oy, xs + i); \
                else if (n == 4)                                                               \
                    NAME##_2x4(g, scratch, columns, width, j0, weights, init, act, params, out, oy, xs);    \
                else if (n == 3)                                                               \
                    NAME##_2x3(g, scratch, columns, width, j0, weights, init, act, params, out, oy, xs);    \
                else if (n == 2)                                                               \
                    NAME##_2x2(g, scratch, columns, width, j0, weights, init, act, params, out, oy, xs);    \
                else                                                                           \
                    NAME##_2x1(g, scratch, columns, width, j0, weights, init, act, params, out, oy, xs);    \
            }                                                                                  \
        }                                                                                      \
    }
WINDOW_BAND(depthwise, 0.0f)
WINDOW_BAND(max_pool, -INFINITY)

static void depthwise_rows(const conv2d_window *g, const float *in, const float *weights, float bias,
                           gemm_activation activation, const float *params, float *out, int64_t row0,
                           int64_t row1, float *scratch)
{
    for (int64_t r = row0; r < row1; r += g->copy_rows)
        depthwise_band(g, in, weights, bias, activation, params, out, r,
                       r + g->copy_rows < row1 ? r + g->copy_rows : row1, scratch);
}

/* Output rows [row0, row1) of a max pool of dilation 1 and column stride 1 or 2, separably (no
 * copy of the window): for each, the max down the columns of its tap rows into one row of
 * `scratch` padded with -inf (column x at input column x - pad_left), then along that row:
 * output column ox at columns ox * stride + kx, for stride 2 from the row split into its even
 * and odd columns first (tap kx reads one of them at ox + kx / 2), so that each takes vectors of
 * consecutive floats. 3x3/2 over 112x112: (kh - 1) + (kw - 1) maxes per vector instead of kh kw. */
static void max_pool_separable(const conv2d_window *g, const float *in, float *out, int64_t row0, int64_t row1,
                               float *scratch)
{
    const int64_t s = g->stride_w, width = max_pool_row_width(g), span = max_pool_row_span(g);
    float *row = scratch, *even = row + span, *odd = even + span;
    /* The row's columns inside the input: [lo, hi). */
    int64_t lo = g->pad_left < width ? g->pad_left : width;
    int64_t hi = g->in_w + g->pad_left < width ? g->in_w + g->pad_left : width;
    const int64_t whole = g->out_w / CONV_LANES * CONV_LANES;
    for (int64_t oy = row0; oy < row1; oy++) {
        int64_t ky0, ky1;
        tap_rows(g, oy, &ky0, &ky1);
        /* -inf outside the input's columns, or throughout when no tap row lies inside. */
        int64_t inside_lo = ky0 < ky1 ? lo : width, inside_hi = ky0 < ky1 ? hi : width;
        for (int64_t x = 0; x < inside_lo; x++)
            row[x] = -INFINITY;
        for (int64_t x = inside_hi; x < width; x++)
            row[x] = -INFINITY;
        if (ky0 < ky1) {
            /* Input column x - pad_left of the first tap row, then of the others. */
            const float *first = in + (oy * g->stride_h - g->pad_top + ky0) * g->in_w;
            int64_t x = lo;
            /* Whole vectors, the last one overlapping the one before (the same maxima again)
             * rather than a scalar tail. */
            for (; x < hi && hi - lo >= CONV_LANES; x += CONV_LANES) {
                if (x + CONV_LANES > hi)
                    x = hi - CONV_LANES;
                conv_vec m, v;
                LOAD_VEC(m, first + (x - g->pad_left));
                for (int64_t ky = ky0 + 1; ky < ky1; ky++) {
                    LOAD_VEC(v, first + (ky - ky0) * g->in_w + (x - g->pad_left));
                    m = max_nan(m, v);
                }
                STORE_VEC(row + x, m);
            }
            for (; x < hi; x++) {
                float m = first[x - g->pad_left];
                for (int64_t ky = ky0 + 1; ky < ky1; ky++)
                    m = max_nan_1(m, first[(ky - ky0) * g->in_w + (x - g->pad_left)]);
                row[x] = m;
            }
        }
        const float *phase[2] = {row, row};
        if (s == 2) {
            copy_even(even, row, (width + 1) / 2);
            copy_even(odd, row + 1, width / 2);
            phase[0] = even, phase[1] = odd;
        }
        float *o = out + oy * g->out_w;
        int64_t ox = 0;
        for (; ox < g->out_w && whole; ox += CONV_LANES) {
            if (ox + CONV_LANES > g->out_w)
                ox = g->out_w - CONV_LANES; /* overlapping the one before, as above */
            conv_vec m, v;
            LOAD_VEC(m, phase[0] + ox);
            for (int64_t kx = 1; kx < g->kernel_w; kx++) {
                LOAD_VEC(v, (s == 2 ? phase[kx & 1] + kx / 2 : row + kx) + ox);
                m = max_nan(m, v);
            }
            STORE_VEC(o + ox, m);
        }
        for (; ox < g->out_w; ox++) {
            float m = row[ox * s];
            for (int64_t kx = 1; kx < g->kernel_w; kx++)
                m = max_nan_1(m, row[ox * s + kx]);
            o[ox] = m;
        }
    }
}

static void max_pool_rows(const conv2d_window *g, const float *in, float *out, int64_t row0, int64_t row1,
                          float *scratch)
{
    if (g->dilation_h == 1 && g->dilation_w == 1 && (g->stride_w == 1 || g->stride_w == 2)) {
        max_pool_separable(g, in, out, row0, row1, scratch);
        return;
    }
    for (int64_t r = row0; r < row1; r += g->copy_rows)
        max_pool_band(g, in, NULL, -INFINITY, GEMM_ACTIVATION_NONE, NULL, out, r,
                      r + g->copy_rows < row1 ? r + g->copy_rows : row1, scratch);
}

/* ---- depthwise with the channels in the lanes --------------------------------------------- */

static void transpose(const float *src, int64_t ld_src, int64_t rows, int64_t cols, float *dst, int64_t ld_dst);

/* n (at most CONV_NHWC_PIXELS) consecutive output pixels of a depthwise convolution with C
 * channels in each pixel, into out[p * C + c]: tap (ky, kx) of pixel p reads src[ky * dy + p *
 * sx + kx * dx + c] for ky < taps_h, weights[(ky * kw + kx) * C + c] (from the first tap row
 * read). For depthwise_nhwc's rows with their channels last, and depthwise_lanes' padded window
 * (C = CONV_LANES channels in the lanes). A vector of channels at a time, the weight vector of a tap serving
 * all the pixels (their chains of dependent steps overlap); the last vector overlapping the one
 * before (the same outputs again) rather than channels one by one, unless C is short of a
 * vector. Inlined with n constant (8, 7), the pixels' loop unrolls with the accumulators in
 * registers. */
static inline __attribute__((always_inline)) void nhwc_block(const float *src, int64_t dy, int64_t sx, int64_t dx,
                                                             int64_t taps_h, int64_t kw, const float *weights,
                                                             const float *bias, int64_t C, int n, float *out)
{
    enum { P = CONV_NHWC_PIXELS };
    int64_t c = 0;
    for (; c < C && C >= CONV_LANES; c += CONV_LANES) {
        if (c + CONV_LANES > C)
            c = C - CONV_LANES;
        conv_vec acc[P], b;
        LOAD_VEC(b, bias + c);
        for (int p = 0; p < P; p++)
            acc[p] = b;
        for (int64_t ky = 0; ky < taps_h; ky++) {
            const float *in = src + ky * dy + c, *wt = weights + ky * kw * C + c;
            for (int64_t kx = 0; kx < kw; kx++, in += dx, wt += C) {
                conv_vec w;
                LOAD_VEC(w, wt);
#pragma GCC unroll 8
                for (int p = 0; p < n; p++) {
                    conv_vec v;
                    LOAD_VEC(v, in + p * sx);
                    acc[p] += w * v;
                }
            }
        }
        for (int p = 0; p < n; p++)
            STORE_VEC(out + p * C + c, acc[p]);
    }
    for (; c < C; c++)
        for (int p = 0; p < n; p++) {
            float acc = bias[c];
            for (int64_t ky = 0; ky < taps_h; ky++)
                for (int64_t kx = 0; kx < kw; kx++)
                    acc += weights[(ky * kw + kx) * C + c] * src[ky * dy + p * sx + kx * dx + c];
            out[p * C + c] = acc;
        }
}

/* nhwc_block with n 8 or 7 as constants. */
static void nhwc_pixels(const float *src, int64_t dy, int64_t sx, int64_t dx, int64_t taps_h, int64_t kw,
                        const float *weights, const float *bias, int64_t C, int n, float *out)
{
    if (n == 8)
        nhwc_block(src, dy, sx, dx, taps_h, kw, weights, bias, C, 8, out);
    else if (n == 7)
        nhwc_block(src, dy, sx, dx, taps_h, kw, weights, bias, C, 7, out);
    else
        nhwc_block(src, dy, sx, dx, taps_h, kw, weights, bias, C, n, out);
}

static void depthwise_lanes(const conv2d_window *g, int64_t channels, const float *in, const float *weights,
                            const float *bias, float *out, float *scratch)
{
    enum { L = CONV_LANES };
    const int64_t rows = (g->out_h - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1;
    const int64_t cols = (g->out_w - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
    const int64_t taps = g->kernel_h * g->kernel_w, plane = g->in_h * g->in_w, out_count = g->out_h * g->out_w;
    float *padded = scratch, *w = padded + rows * cols * L, *o = w + taps * L;
    /* The window's rows and columns, padded with zeros, channel after channel in each pixel:
     * each input row transposed into its place, zeros around it (and in the lanes past the
     * channels of a last, partial block). Columns [x0, x1) of a padded row are input columns
     * [x0 - pad_left, x1 - pad_left). */
    const int64_t x0 = g->pad_left < cols ? g->pad_left : cols;
    const int64_t x1 = g->pad_left + g->in_w < cols ? g->pad_left + g->in_w : cols;
    for (int64_t y = 0; y < rows; y++) {
        float *line = padded + y * cols * L;
        int64_t iy = y - g->pad_top;
        bool inside = iy >= 0 && iy < g->in_h && x1 > x0;
        for (int64_t i = inside && channels == L ? x0 * L : cols * L; i-- > 0;)
            line[i] = 0.0f;
        for (int64_t i = inside && channels == L ? x1 * L : cols * L; i < cols * L; i++)
            line[i] = 0.0f;
        if (inside)
            transpose(in + iy * g->in_w, plane, channels, x1 - x0, line + x0 * L, L);
    }
    for (int64_t t = 0; t < taps; t++)
        for (int64_t c = 0; c < L; c++)
            w[t * L + c] = c < channels ? weights[c * taps + t] : 0.0f;
    float b[L];
    for (int64_t c = 0; c < L; c++)
        b[c] = c < channels && bias ? bias[c] : 0.0f;
    /* Blocks of 8 output pixels along a row (7 where that divides the row and 8 does not: 7,
     * 14, 28), each weight vector loaded serving the block's products; a row's last pixels a
     * block ending at its end (computing some again), or fewer on a row narrower than that. */
    const int per = g->out_w % 8 && g->out_w % 7 == 0 ? 7 : 8;
    const int64_t dy = g->dilation_h * cols * L, sx = g->stride_w * L, dx = g->dilation_w * L;
    for (int64_t oy = 0; oy < g->out_h; oy++)
        for (int64_t ox = 0; ox < g->out_w; ox += per) {
            if (ox + per > g->out_w && g->out_w >= per)
                ox = g->out_w - per;
            int n = g->out_w - ox < per ? (int)(g->out_w - ox) : per;
            const float *line = padded + (oy * g->stride_h * cols + ox * g->stride_w) * L;
            float *dst = o + (oy * g->out_w + ox) * L;
            nhwc_pixels(line, dy, sx, dx, g->kernel_h, g->kernel_w, w, b, L, n, dst);
        }
    transpose(o, L, out_count, channels, out, out_count);
}

/* ---- depthwise convolution of an image with its channels last ---------------------------- */

/* Tap columns [kx0, kx1) of output column ox lie inside the input row. */
static inline void nhwc_tap_columns(const conv2d_window *g, int64_t ox, int64_t *kx0, int64_t *kx1)
{
    int64_t x = ox * g->stride_w - g->pad_left, d = g->dilation_w, kw = g->kernel_w;
    int64_t first = x >= 0 ? 0 : (-x + d - 1) / d, end = x >= g->in_w ? 0 : (g->in_w - x + d - 1) / d;
    *kx0 = first < kw ? first : kw;
    *kx1 = end < kw ? (end > *kx0 ? end : *kx0) : kw;
}

/* One output pixel (column ox) into tile[0..C): four vectors of channels at a time (four chains
 * of dependent steps), then one, then the channels short of a vector one by one, over the taps
 * inside. `rows`: offset in `in` of the input row of tap row 0 (maybe outside the image: only
 * rows ky0.. are read). */
static void nhwc_pixel(const conv2d_window *g, int64_t C, const float *in, int64_t rows, const float *weights,
                       const float *bias, int64_t ky0, int64_t ky1, int64_t ox, float *tile)
{
    enum { L = CONV_LANES };
    int64_t kx0, kx1;
    nhwc_tap_columns(g, ox, &kx0, &kx1);
    const int64_t kw = g->kernel_w, dy = g->dilation_h * g->in_w * C, dx = g->dilation_w * C;
    const int64_t x = rows + (ox * g->stride_w - g->pad_left) * C; /* offset of tap (0, 0) */
    int64_t c = 0;
    for (; c + 4 * L <= C; c += 4 * L) {
        conv_vec acc[4];
        for (int u = 0; u < 4; u++)
            LOAD_VEC(acc[u], bias + c + u * L);
        for (int64_t ky = ky0; ky < ky1; ky++)
            for (int64_t kx = kx0; kx < kx1; kx++) {
                const float *src = in + (x + ky * dy + kx * dx + c), *wt = weights + (ky * kw + kx) * C + c;
                for (int u = 0; u < 4; u++) {
                    conv_vec w, v;
                    LOAD_VEC(w, wt + u * L);
                    LOAD_VEC(v, src + u * L);
                    acc[u] += w * v;
                }
            }
        for (int u = 0; u < 4; u++)
            STORE_VEC(tile + c + u * L, acc[u]);
    }
    for (; c + L <= C; c += L) {
        conv_vec acc;
        LOAD_VEC(acc, bias + c);
        for (int64_t ky = ky0; ky < ky1; ky++)
            for (int64_t kx = kx0; kx < kx1; kx++) {
                conv_vec w, v;
                LOAD_VEC(w, weights + (ky * kw + kx) * C + c);
                LOAD_VEC(v, in + (x + ky * dy + kx * dx + c));
                acc += w * v;
            }
        STORE_VEC(tile + c, acc);
    }
    for (; c < C; c++) {
        float acc = bias[c];
        for (int64_t ky = ky0; ky < ky1; ky++)
            for (int64_t kx = kx0; kx < kx1; kx++)
                acc += weights[(ky * kw + kx) * C + c] * in[x + ky * dy + kx * dx + c];
        tile[c] = acc;
    }
}

/* Output row oy of a depthwise convolution of an image with its channels last, every channel,
 * into tile[ox * channels + c]. The tap rows outside the image are skipped. The pixels whose
 * taps all lie inside the row read it in place, CONV_NHWC_PIXELS at a time (nhwc_block), the
 * run's last block overlapping the one before where more than half a block would be left; the
 * pixels whose taps reach past the row's ends go one by one over the taps inside
 * (nhwc_pixel), unless the whole row is no wider than a block: then it is one block, reading a
 * copy of its columns with the padding's zeros in `scratch` (depthwise_nhwc_floats): on 7x7
 * planes every pixel of a 5x5 kernel reaches outside, and one by one (a weight load for each
 * input load) they took half of MobileNet's depthwise time; MobileNet 5-8% faster. (Copies
 * for the end blocks of wider rows cost as much as they saved. Loading each input vector once
 * for the taps of all the pixels that read it, at unit stride, was slower: GCC then keeps the
 * accumulators in memory.) */
static void depthwise_nhwc(const conv2d_window *g, int64_t channels, const float *in, const float *weights,
                           const float *bias, int64_t oy, float *tile, float *scratch)
{
    enum { P = CONV_NHWC_PIXELS };
    const int64_t C = channels, kw = g->kernel_w, out_w = g->out_w;
    const int64_t sx = g->stride_w * C, dx = g->dilation_w * C, dy = g->dilation_h * g->in_w * C;
    int64_t ky0, ky1;
    tap_rows(g, oy, &ky0, &ky1);
    const int64_t rows = (oy * g->stride_h - g->pad_top) * g->in_w * C;
    /* The first tap row inside the image (none when ky0 == ky1: then nothing is read). */
    const float *first_row = in + (ky0 < ky1 ? rows + ky0 * dy : 0), *first_weights = weights + ky0 * kw * C;
    /* Output columns whose taps all lie inside the row: [lo, hi). */
    int64_t lo = (g->pad_left + g->stride_w - 1) / g->stride_w;
    int64_t reach = g->in_w - 1 - (kw - 1) * g->dilation_w + g->pad_left;
    int64_t hi = reach < 0 ? 0 : reach / g->stride_w + 1;
    hi = hi < out_w ? hi : out_w;
    /* A row of at most a block's pixels reaching past its ends (7x7 planes of a 5x5 or 3x3
     * kernel): one block, from a copy of its columns with the padding's zeros. */
    if ((lo > 0 || hi < out_w) && out_w <= P) {
        /* Columns [x0, x0 + width) of each tap row, zeros outside the input. */
        int64_t n = out_w, x0 = -g->pad_left, width = (n - 1) * g->stride_w + (kw - 1) * g->dilation_w + 1;
        int64_t in0 = x0 < 0 ? -x0 : 0, in1 = g->in_w - x0 < width ? g->in_w - x0 : width;
        for (int64_t ky = 0; ky < ky1 - ky0; ky++) {
            float *copy = scratch + ky * width * C;
            for (int64_t x = 0; x < width; x++)
                if (x < in0 || x >= in1)
                    for (int64_t c = 0; c < C; c++)
                        copy[x * C + c] = 0.0f;
            if (in1 > in0) /* input columns [x0 + in0, x0 + in1) */
                memcpy(copy + in0 * C, first_row + ky * dy + (x0 + in0) * C, (size_t)((in1 - in0) * C) * sizeof(float));
        }
        nhwc_pixels(scratch, width * C, sx, dx, ky1 - ky0, kw, first_weights, bias, C, (int)n, tile);
        return;
    }
    /* Otherwise a block at a time where all the block's pixels lie in [lo, hi). */
    for (int64_t ox = 0; ox < out_w;) {
        if (ox >= lo && ox + P > hi && hi - lo >= P && 2 * (hi - ox) >= P)
            ox = hi - P; /* the run's last block overlapping the one before */
        if (ox < lo || ox + P > hi) {
            nhwc_pixel(g, C, in, rows, weights, bias, ky0, ky1, ox, tile + ox * C);
            ox++;
            continue;
        }
        nhwc_block(first_row + (ox * g->stride_w - g->pad_left) * C, dy, sx, dx, ky1 - ky0, kw, first_weights, bias,
                   C, P, tile + ox * C);
        ox += P;
    }
}

/* ---- im2col of two axes ------------------------------------------------------------------ */

/* dst[i] = row[x0 + i * stride] for i in [0, n), 0 where that is outside [0, in_w). */
static inline void gather_run(float *restrict dst, const float *restrict row, int64_t in_w, int64_t x0,
                              int64_t stride, int64_t n)
{
    int64_t lo = x0 >= 0 ? 0 : (-x0 + stride - 1) / stride;
    int64_t hi = x0 >= in_w ? 0 : (in_w - x0 + stride - 1) / stride;
    lo = lo < n ? lo : n;
    hi = hi < n ? (hi > lo ? hi : lo) : n;
    for (int64_t i = 0; i < lo; i++)
        dst[i] = 0.0f;
    if (stride == 1)
        for (int64_t i = lo; i < hi; i++)
            dst[i] = row[x0 + i];
    else if (stride == 2)
        for (int64_t i = lo; i < hi; i++)
            dst[i] = row[x0 + 2 * i];
    else
        for (int64_t i = lo; i < hi; i++)
            dst[i] = row[x0 + i * stride];
    for (int64_t i = hi; i < n; i++)
        dst[i] = 0.0f;
}

static void im2col(const conv2d_window *g, int64_t channels, const float *image, int64_t first, int64_t last,
                   float *col)
{
    const int64_t plane = g->in_h * g->in_w;
    float *dst = col;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t ky = 0; ky < g->kernel_h; ky++)
            for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                const float *src = image + c * plane;
                int64_t oy = first / g->out_w, ox = first % g->out_w;
                for (int64_t p = first; p < last; ox = 0, oy++) {
                    int64_t run = g->out_w - ox < last - p ? g->out_w - ox : last - p;
                    int64_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
                    if (iy < 0 || iy >= g->in_h)
                        for (int64_t i = 0; i < run; i++)
                            dst[i] = 0.0f;
                    else
                        gather_run(dst, src + iy * g->in_w, g->in_w,
                                   ox * g->stride_w - g->pad_left + kx * g->dilation_w, g->stride_w, run);
                    dst += run;
                    p += run;
                }
            }
}

/* ---- transposition ----------------------------------------------------------------------- */

#if defined(__AVX2__)
/* The 8 x 8 block at src (rows ld_src apart) into dst (rows ld_dst apart), transposed. */
static inline void transpose_8x8(const float *src, int64_t ld_src, float *dst, int64_t ld_dst)
{
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + i * ld_src);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ld_dst, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ld_dst, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}
#endif

static inline __attribute__((always_inline)) void transpose_few(const float *src, int64_t ld_src, int rows,
                                                              int64_t cols, float *dst, int64_t ld_dst)
{
    for (int64_t c = 0; c < cols; c++, dst += ld_dst)
        for (int r = 0; r < rows; r++)
            dst[r] = src[r * ld_src + c];
}

static void transpose(const float *src, int64_t ld_src, int64_t rows, int64_t cols, float *dst, int64_t ld_dst)
{
    int64_t r0 = 0;
#if defined(__AVX2__)
    for (; r0 + 8 <= rows; r0 += 8) {
        int64_t c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8)
            transpose_8x8(src + r0 * ld_src + c0, ld_src, dst + c0 * ld_dst + r0, ld_dst);
        for (int64_t c = c0; c < cols; c++)
            for (int64_t r = r0; r < r0 + 8; r++)
                dst[c * ld_dst + r] = src[r * ld_src + c];
    }
#endif
    /* A few rows (a stem's channels): each column's few floats together, the rows' count fixed
     * in the loop so that it unrolls. */
    switch (rows - r0) {
    case 1: transpose_few(src + r0 * ld_src, ld_src, 1, cols, dst + r0, ld_dst); return;
    case 2: transpose_few(src + r0 * ld_src, ld_src, 2, cols, dst + r0, ld_dst); return;
    case 3: transpose_few(src + r0 * ld_src, ld_src, 3, cols, dst + r0, ld_dst); return;
    case 4: transpose_few(src + r0 * ld_src, ld_src, 4, cols, dst + r0, ld_dst); return;
    default: break;
    }
    /* The rest, in blocks that stay in cache. */
    for (int64_t c0 = 0; c0 < cols; c0 += 16)
        for (int64_t r = r0; r < rows; r++)
            for (int64_t c = c0; c < (c0 + 16 < cols ? c0 + 16 : cols); c++)
                dst[c * ld_dst + r] = src[r * ld_src + c];
}

/* Taps of axis extent `in` (padded by pad_begin before and pad_end after) that the window at
 * `start` (its first tap's coordinate) covers inside [lo, hi). */
static inline int64_t taps_inside(int64_t start, int64_t kernel, int64_t dilation, int64_t lo, int64_t hi)
{
    int64_t f = start >= lo ? 0 : (lo - start + dilation - 1) / dilation;
    int64_t l = start >= hi ? 0 : (hi - start + dilation - 1) / dilation;
    f = f < kernel ? f : kernel;
    l = l < kernel ? l : kernel;
    return l > f ? l - f : 0;
}

static void average_pool_rows(const conv2d_window *g, const float *in, bool count_pad, float *out, int64_t row0,
                              int64_t row1)
{
    for (int64_t oy = row0; oy < row1; oy++) {
        float *restrict o = out + oy * g->out_w;
        for (int64_t ox = 0; ox < g->out_w; ox++)
            o[ox] = 0.0f;
        int64_t k0, k1;
        tap_rows(g, oy, &k0, &k1);
        for (int64_t ky = k0; ky < k1; ky++) {
            const float *row = in + (oy * g->stride_h - g->pad_top + ky * g->dilation_h) * g->in_w;
            for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                int64_t offset = kx * g->dilation_w - g->pad_left;
                ROW_PASS(ADD);
            }
        }
        int64_t y0 = oy * g->stride_h - g->pad_top;
        int64_t rows = count_pad
                           ? taps_inside(y0, g->kernel_h, g->dilation_h, -g->pad_top, g->in_h + g->pad_bottom)
                           : k1 - k0;
        for (int64_t ox = 0; ox < g->out_w; ox++) {
            int64_t x0 = ox * g->stride_w - g->pad_left;
            int64_t cols = count_pad ? taps_inside(x0, g->kernel_w, g->dilation_w, -g->pad_left,
                                                   g->in_w + g->pad_right)
                                     : taps_inside(x0, g->kernel_w, g->dilation_w, 0, g->in_w);
            int64_t count = rows * cols;
            o[ox] = count ? o[ox] / (float)count : NAN;
        }
    }
}

/* Four vectors of partial sums (four chains of dependent adds), then single vectors, a scalar
 * tail, and the lanes halved: a few dozen instructions for the small planes of
 * GlobalAveragePool (7x7), where a call costs more than its adds. */
static float sum(const float *x, int64_t n)
{
    conv_vec acc[4] = {{0}, {0}, {0}, {0}}, v;
    int64_t i = 0;
    for (; i + 4 * CONV_LANES <= n; i += 4 * CONV_LANES)
        for (int u = 0; u < 4; u++) {
            LOAD_VEC(v, x + i + u * CONV_LANES);
            acc[u] += v;
        }
    for (int u = 0; i + CONV_LANES <= n; i += CONV_LANES, u++) {
        LOAD_VEC(v, x + i);
        acc[u] += v;
    }
    float tail = 0.0f, lanes[CONV_LANES];
    for (; i < n; i++)
        tail += x[i];
    v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    STORE_VEC(lanes, v);
    for (int width = CONV_LANES / 2; width >= 1; width /= 2)
        for (int l = 0; l < width; l++)
            lanes[l] += lanes[l + width];
    return lanes[0] + tail;
}

/* ---- Winograd F(2x2, 3x3) (conv_kernels.h) ------------------------------------------------ */

/* d B for one row of tiles (columns: even[t], odd[t], even[t + 1], odd[t + 1]), written to 4
 * streams `es` apart. */
static inline void winograd_columns(const float *restrict even, const float *restrict odd, int64_t tw,
                                    float *restrict out, int64_t es)
{
    float *restrict v0 = out, *restrict v1 = out + es, *restrict v2 = out + 2 * es, *restrict v3 = out + 3 * es;
    for (int64_t t = 0; t < tw; t++) {
        v0[t] = even[t] - even[t + 1];
        v1[t] = odd[t] + even[t + 1];
        v2[t] = even[t + 1] - odd[t];
        v3[t] = odd[t] - odd[t + 1];
    }
}

/* Interleaving shuffles of two vectors of N lanes: the first and second halves of a[0], b[0],
 * a[1], b[1], ... */
#define PAIRS_LO_16 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define PAIRS_HI_16 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#define PAIRS_LO_8 0, 8, 1, 9, 2, 10, 3, 11
#define PAIRS_HI_8 4, 12, 5, 13, 6, 14, 7, 15
#define PAIRS_LO_4 0, 4, 1, 5
#define PAIRS_HI_4 2, 6, 3, 7
#define PAIRS_LO_2 0, 2
#define PAIRS_HI_2 1, 3

/* For a vector type V of N lanes (the kernel's own, and its halves and quarters for narrower
 * rows): winograd_input_vectors##S, B^T d B of a row of tw >= N tiles from its 4 input rows
 * split into even and odd columns (phase[r][0], phase[r][1]), and winograd_output_vectors##S,
 * A^T x A of a row of tw >= N tiles (src: its first tile in matrix 0, the matrices es apart)
 * into two rows of 2 tw outputs. A vector of tiles at a time, the last overlapping the one
 * before, both passes in registers (16 loads and 16 stores a vector going in; 16 loads and
 * the pairs of each row interleaved by shuffles coming out), where the plain loops'
 * remainders and checks cost more than their arithmetic (ResNet's 56x56 layers: the input
 * transform 21% of the convolution, the output's 14%). */
#define WINOGRAD_VECTORS(S, V, N, LO, HI)                                                         \
    static void winograd_input_vectors##S(float *phase[4][2], int64_t tw, float *restrict out, int64_t es) \
    {                                                                                           \
        for (int64_t t = 0;; t += N) {                                                          \
            if (t + N > tw)                                                                     \
                t = tw - N;                                                                     \
            V u[4][4]; /* columns even[t], odd[t], even[t + 1], odd[t + 1]; B^T over the rows */ \
            for (int k = 0; k < 4; k++) {                                                       \
                V d[4];                                                                         \
                for (int r = 0; r < 4; r++)                                                     \
                    memcpy(&d[r], phase[r][k & 1] + t + (k >> 1), sizeof(V));                   \
                u[0][k] = d[0] - d[2];                                                          \
                u[1][k] = d[1] + d[2];                                                          \
                u[2][k] = d[2] - d[1];                                                          \
                u[3][k] = d[1] - d[3];                                                          \
            }                                                                                   \
            for (int i = 0; i < 4; i++) {                                                       \
                float *o = out + 4 * i * es + t;                                                \
                V w[4] = {u[i][0] - u[i][2], u[i][1] + u[i][2], u[i][2] - u[i][1], u[i][1] - u[i][3]}; \
                for (int j = 0; j < 4; j++)                                                     \
                    memcpy(o + j * es, &w[j], sizeof(V));                                       \
            }                                                                                   \
            if (t + N >= tw)                                                                    \
                break;                                                                          \
        }                                                                                       \
    }                                                                                           \
    static inline void store_pairs##S(float *dst, V a, V b)                                     \
    {                                                                                           \
        V lo = __builtin_shufflevector(a, b, LO), hi = __builtin_shufflevector(a, b, HI);      \
        memcpy(dst, &lo, sizeof(V));                                                            \
        memcpy(dst + N, &hi, sizeof(V));                                                        \
    }                                                                                           \
    static void winograd_output_vectors##S(const float *src, int64_t tw, int64_t es, float *restrict row0, \
                                           float *restrict row1)                                \
    {                                                                                           \
        for (int64_t t = 0;; t += N) {                                                          \
            if (t + N > tw)                                                                     \
                t = tw - N;                                                                     \
            V s0[4], s1[4]; /* A^T over the rows (x0 + x1 + x2, x1 - x2 - x3), by columns */    \
            for (int j = 0; j < 4; j++) {                                                       \
                V x[4];                                                                         \
                for (int i = 0; i < 4; i++)                                                     \
                    memcpy(&x[i], src + (4 * i + j) * es + t, sizeof(V));                       \
                s0[j] = x[0] + x[1] + x[2];                                                     \
                s1[j] = x[1] - x[2] - x[3];                                                     \
            }                                                                                   \
            /* A over the columns, the two outputs of each tile side by side */               \
            store_pairs##S(row0 + 2 * t, s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3]);         \
            store_pairs##S(row1 + 2 * t, s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3]);         \
            if (t + N >= tw)                                                                    \
                break;                                                                          \
        }                                                                                       \
    }

#if CONV_LANES == 16
WINOGRAD_VECTORS(, conv_vec, 16, PAIRS_LO_16, PAIRS_HI_16)
typedef float conv_half __attribute__((vector_size(8 * sizeof(float))));
WINOGRAD_VECTORS(_half, conv_half, 8, PAIRS_LO_8, PAIRS_HI_8)
typedef float conv_quarter __attribute__((vector_size(4 * sizeof(float))));
WINOGRAD_VECTORS(_quarter, conv_quarter, 4, PAIRS_LO_4, PAIRS_HI_4)
#elif CONV_LANES == 8
WINOGRAD_VECTORS(, conv_vec, 8, PAIRS_LO_8, PAIRS_HI_8)
typedef float conv_half __attribute__((vector_size(4 * sizeof(float))));
WINOGRAD_VECTORS(_half, conv_half, 4, PAIRS_LO_4, PAIRS_HI_4)
#else
WINOGRAD_VECTORS(, conv_vec, 4, PAIRS_LO_4, PAIRS_HI_4)
#endif

/* The widest of the above for a row of tw >= WINOGRAD_VECTOR_TILES tiles. */
static void winograd_input_row(float *phase[4][2], int64_t tw, float *restrict out, int64_t es)
{
#if CONV_LANES >= 16
    if (tw < CONV_LANES / 2) {
        winograd_input_vectors_quarter(phase, tw, out, es);
        return;
    }
#endif
#if CONV_LANES >= 8
    if (tw < CONV_LANES) {
        winograd_input_vectors_half(phase, tw, out, es);
        return;
    }
#endif
    winograd_input_vectors(phase, tw, out, es);
}

/* The same for the output. */
static void winograd_output_row(const float *src, int64_t tw, int64_t es, float *restrict row0, float *restrict row1)
{
#if CONV_LANES >= 16
    if (tw < CONV_LANES / 2) {
        winograd_output_vectors_quarter(src, tw, es, row0, row1);
        return;
    }
#endif
#if CONV_LANES >= 8
    if (tw < CONV_LANES) {
        winograd_output_vectors_half(src, tw, es, row0, row1);
        return;
    }
#endif
    winograd_output_vectors(src, tw, es, row0, row1);
}
_Static_assert(CONV_LANES / 4 == WINOGRAD_VECTOR_TILES || CONV_LANES == WINOGRAD_VECTOR_TILES ||
                   CONV_LANES / 2 == WINOGRAD_VECTOR_TILES,
               "the narrowest Winograd vectors are WINOGRAD_VECTOR_TILES wide");

/* B^T d B in two passes of plain loops over the row of tiles (vectorised by the compiler): B^T
 * combines the 4 input rows (split into even and odd columns) into 4 rows, then B combines
 * their columns. */
static void winograd_input(const conv2d_window *g, int64_t channels, const float *image, int64_t tile_row0,
                           int64_t tile_rows, float *restrict v, float *restrict scratch)
{
    const int64_t tw = (g->out_w + 1) / 2, half = tw + 1, tiles = tile_rows * tw;
    const int64_t es = winograd_stride(channels * tiles);
    const conv2d_window copy = winograd_copy_window(g);
    const int64_t width = conv2d_copy_width(&copy);
    float *phase[4][2]; /* row r of the tiles' input, its even and odd columns */
    for (int r = 0; r < 4; r++) {
        phase[r][0] = scratch + r * width;
        phase[r][1] = scratch + (4 + r) * width;
    }
    if (tw >= WINOGRAD_VECTOR_TILES) {
        /* The band's input rows copied once (each is read by two rows of tiles), the rows of
         * tiles in vectors, reading the copy in place. */
        const int64_t in_rows = 2 * tile_rows + 2;
        for (int64_t c = 0; c < channels; c++) {
            window_copy(&copy, image + c * g->in_h * g->in_w, 2 * tile_row0, in_rows, 0.0f, scratch);
            for (int64_t ty = 0; ty < tile_rows; ty++) {
                for (int r = 0; r < 4; r++)
                    for (int q = 0; q < 2; q++)
                        phase[r][q] = scratch + (q * in_rows + 2 * ty + r) * width;
                winograd_input_row(phase, tw, v + c * tiles + ty * tw, es);
            }
        }
        return;
    }
    for (int64_t c = 0; c < channels; c++) {
        const float *plane = image + c * g->in_h * g->in_w;
        for (int64_t ty = 0; ty < tile_rows; ty++) {
            window_copy(&copy, plane, 2 * (tile_row0 + ty), 4, 0.0f, scratch);
            float *out = v + c * tiles + ty * tw;
            /* B^T over the rows, in place: (d0 - d2, d1 + d2, d2 - d1, d1 - d3) */
            for (int q = 0; q < 2; q++) {
                float *restrict d0 = phase[0][q], *restrict d1 = phase[1][q];
                float *restrict d2 = phase[2][q], *restrict d3 = phase[3][q];
                for (int64_t x = 0; x < half; x++) {
                    float a0 = d0[x], a1 = d1[x], a2 = d2[x], a3 = d3[x];
                    d0[x] = a0 - a2;
                    d1[x] = a1 + a2;
                    d2[x] = a2 - a1;
                    d3[x] = a1 - a3;
                }
            }
            for (int i = 0; i < 4; i++)
                winograd_columns(phase[i][0], phase[i][1], tw, out + 4 * i * es, es);
        }
    }
}

/* A^T x A in two passes of plain loops over the row of tiles, as the input's transform. */
static void winograd_output(const conv2d_window *g, int64_t maps, const float *m, int64_t tile_row0,
                            int64_t tile_rows, float *out, float *restrict scratch)
{
    const int64_t tw = (g->out_w + 1) / 2, tiles = tile_rows * tw, es = winograd_stride(maps * tiles);
    const int64_t plane = g->out_h * g->out_w;
    float *restrict s[2][4], *restrict rows[2];
    for (int i = 0; i < 2; i++) {
        rows[i] = scratch + i * 2 * tw;
        for (int j = 0; j < 4; j++)
            s[i][j] = scratch + 4 * tw + (4 * i + j) * tw;
    }
    for (int64_t k = 0; k < maps; k++)
        for (int64_t ty = 0; ty < tile_rows; ty++) {
            const float *src = m + k * tiles + ty * tw;
            int64_t oy = 2 * (tile_row0 + ty);
            float *o = out + k * plane + oy * g->out_w;
            /* Straight into the output rows where they are whole (an even width, both rows
             * inside); else through scratch. */
            bool whole = g->out_w == 2 * tw && oy + 1 < g->out_h;
            if (tw >= WINOGRAD_VECTOR_TILES) {
                winograd_output_row(src, tw, es, whole ? o : rows[0], whole ? o + g->out_w : rows[1]);
                if (!whole) {
                    memcpy(o, rows[0], (size_t)g->out_w * sizeof(float));
                    if (oy + 1 < g->out_h)
                        memcpy(o + g->out_w, rows[1], (size_t)g->out_w * sizeof(float));
                }
                continue;
            }
            /* A^T over the rows: (x0 + x1 + x2, x1 - x2 - x3), column by column */
            for (int j = 0; j < 4; j++) {
                const float *restrict x0 = src + j * es, *restrict x1 = src + (4 + j) * es;
                const float *restrict x2 = src + (8 + j) * es, *restrict x3 = src + (12 + j) * es;
                float *restrict s0 = s[0][j], *restrict s1 = s[1][j];
                for (int64_t t = 0; t < tw; t++) {
                    s0[t] = x0[t] + x1[t] + x2[t];
                    s1[t] = x1[t] - x2[t] - x3[t];
                }
            }
            /* A over the columns, the two outputs of each tile side by side */
            for (int i = 0; i < 2; i++) {
                const float *restrict a = s[i][0], *restrict b = s[i][1], *restrict c = s[i][2], *restrict d = s[i][3];
                float *restrict row = rows[i];
                for (int64_t t = 0; t < tw; t++) {
                    row[2 * t] = a[t] + b[t] + c[t];
                    row[2 * t + 1] = b[t] - c[t] - d[t];
                }
            }
            memcpy(o, rows[0], (size_t)g->out_w * sizeof(float));
            if (oy + 1 < g->out_h)
                memcpy(o + g->out_w, rows[1], (size_t)g->out_w * sizeof(float));
        }
}

const conv_kernels CONV_KERNELS_SYMBOL = {
    .name = CONV_KERNELS_NAME,
    .lanes = CONV_LANES,
    .depthwise_lanes = depthwise_lanes,
    .depthwise_nhwc = depthwise_nhwc,
    .gather_columns = gather_columns,
    .depthwise_rows = depthwise_rows,
    .max_pool_rows = max_pool_rows,
    .average_pool_rows = average_pool_rows,
    .sum = sum,
    .im2col = im2col,
    .transpose = transpose,
    .winograd_input = winograd_input,
    .winograd_output = winograd_output,
};
