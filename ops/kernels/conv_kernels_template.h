/* The row kernels of conv_kernels.h, written once as plain loops and compiled per instruction
 * set: the file including this one defines CONV_KERNELS_NAME and CONV_KERNELS_SYMBOL.
 *
 * Each output row is computed in place in the output: for each kernel tap whose input row
 * exists, one pass over the output columns whose tap lands inside the input row, so that the
 * innermost loop has no branch and a fixed stride (1 and 2 spelled out, for the vectorizer).
 * A row (at most a few thousand floats) stays in L1 across the passes. */
#include "conv_kernels.h"

#include <math.h>

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

#define MULTIPLY_ADD(acc, x) ((acc) += w * (x))
/* NaN wins: x replaces acc when larger or NaN (and NaN in acc stays). */
#define MAXIMUM(acc, x) ((acc) = ((x) > (acc) || (x) != (x)) ? (x) : (acc))
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

static void depthwise_rows(const conv2d_window *g, const float *in, const float *weights, float bias, float *out,
                           int64_t row0, int64_t row1)
{
    for (int64_t oy = row0; oy < row1; oy++) {
        float *restrict o = out + oy * g->out_w;
        for (int64_t ox = 0; ox < g->out_w; ox++)
            o[ox] = bias;
        int64_t k0, k1;
        tap_rows(g, oy, &k0, &k1);
        for (int64_t ky = k0; ky < k1; ky++) {
            const float *row = in + (oy * g->stride_h - g->pad_top + ky * g->dilation_h) * g->in_w;
            for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                const float w = weights[ky * g->kernel_w + kx];
                int64_t offset = kx * g->dilation_w - g->pad_left;
                ROW_PASS(MULTIPLY_ADD);
            }
        }
    }
}

static void max_pool_rows(const conv2d_window *g, const float *in, float *out, int64_t row0, int64_t row1)
{
    for (int64_t oy = row0; oy < row1; oy++) {
        float *restrict o = out + oy * g->out_w;
        for (int64_t ox = 0; ox < g->out_w; ox++)
            o[ox] = -INFINITY;
        int64_t k0, k1;
        tap_rows(g, oy, &k0, &k1);
        for (int64_t ky = k0; ky < k1; ky++) {
            const float *row = in + (oy * g->stride_h - g->pad_top + ky * g->dilation_h) * g->in_w;
            for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                int64_t offset = kx * g->dilation_w - g->pad_left;
                ROW_PASS(MAXIMUM);
            }
        }
    }
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
        int64_t rows = count_pad ? taps_inside(y0, g->kernel_h, g->dilation_h, -g->pad_top, g->in_h + g->pad_bottom)
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

/* 32 partial sums, the lanes of any vector width the compiler picks, added pairwise at the end. */
static float sum(const float *x, int64_t n)
{
    float acc[32] = {0};
    int64_t whole = n - n % 32;
    for (int64_t i = 0; i < whole; i += 32)
        for (int l = 0; l < 32; l++)
            acc[l] += x[i + l];
    for (int64_t i = whole; i < n; i++)
        acc[i - whole] += x[i];
    for (int width = 16; width >= 1; width /= 2)
        for (int l = 0; l < width; l++)
            acc[l] += acc[l + width];
    return acc[0];
}

const conv_kernels CONV_KERNELS_SYMBOL = {
    .name = CONV_KERNELS_NAME,
    .depthwise_rows = depthwise_rows,
    .max_pool_rows = max_pool_rows,
    .average_pool_rows = average_pool_rows,
    .sum = sum,
};
