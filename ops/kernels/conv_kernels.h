/* Row kernels of 2-D windows over one NCHW plane: depthwise convolution (a convolution whose
 * group has one input channel), MaxPool and AveragePool, the sum of a plane for
 * GlobalAveragePool, and the im2col matrix of a convolution over two axes. The window kernels
 * write whole output rows, so that the operators split planes into rows among threads.
 *
 * Written once (conv_kernels_template.h) over GCC's generic vectors and plain loops the
 * compiler vectorizes, compiled per instruction set (conv_kernels_avx512.c,
 * conv_kernels_avx2.c and conv_kernels_portable.c) and chosen at run time from the
 * processor's features. */
#ifndef ONYX_CONV_KERNELS_H
#define ONYX_CONV_KERNELS_H

#include "gemm.h"

#include <stdbool.h>
#include <stdint.h>

/* One 2-D window over a plane of in_h x in_w: the window of output (oy, ox) covers input rows
 * oy * stride_h - pad_top + ky * dilation_h and columns ox * stride_w - pad_left + kx *
 * dilation_w, for taps ky < kernel_h, kx < kernel_w; taps outside the plane are padding. */
typedef struct conv2d_window {
    int64_t in_h, in_w, out_h, out_w;
    int64_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
    int64_t pad_bottom, pad_right; /* AveragePool's count_include_pad counts taps up to these */
    int64_t copy_rows; /* depthwise and MaxPool: output rows whose input one copy holds (see
                          conv2d_plan_copy) */
} conv2d_window;

typedef struct conv_kernels {
    const char *name;
    int lanes; /* floats in a vector of this family (depthwise_lanes' channel block) */
    /* Output rows [row0, row1) of a depthwise plane: out = activation(bias + the sum over the
     * taps of weights[ky * kernel_w + kx] times the input under them (padding counts 0)), the
     * activation none or one gemm_epilogue_split stores (params: its gemm_epilogue.params). */
    void (*depthwise_rows)(const conv2d_window *g, const float *in, const float *weights, float bias,
                           gemm_activation activation, const float *params, float *out, int64_t row0,
                           int64_t row1, float *scratch);
    /* Output rows [row0, row1) of MaxPool: the largest input under the window, NaN when one
     * is NaN, -inf when the window holds no input element. */
    void (*max_pool_rows)(const conv2d_window *g, const float *in, float *out, int64_t row0, int64_t row1,
                          float *scratch);
    /* A depthwise convolution of `channels` (at most `lanes`) planes at once, the channels in
     * the vector lanes: for planes too narrow to fill vectors along their rows (7x7). Planes
     * in_h x in_w apart in `in` and out_h x out_w apart in `out`; weights[c * taps + t];
     * bias NULL or one per channel. `scratch`: depthwise_lanes_floats(g) floats, 64-byte
     * aligned. Any kernel size. */
    void (*depthwise_lanes)(const conv2d_window *g, int64_t channels, const float *in, const float *weights,
                            const float *bias, float *out, float *scratch);
    /* Output row oy of a depthwise convolution of an image with its `channels` channels last,
     * in[(iy * in_w + ix) * channels + c], into tile[ox * channels + c] (out_w x channels
     * floats): bias[c] plus the taps inside the image, weights[(ky * kernel_w + kx) * channels
     * + c] (bias and weights reordered so by the caller). Any kernel size, stride and
     * dilation. `scratch`: depthwise_nhwc_floats(g, channels) floats. */
    void (*depthwise_nhwc)(const conv2d_window *g, int64_t channels, const float *in, const float *weights,
                           const float *bias, int64_t oy, float *tile, float *scratch);
    /* dst[i] = src[i * stride] for i < n, in whole vectors for strides 1 and 2 (the columns of
     * one phase of a row; reads no further than src[(n - 1) * stride]). */
    void (*gather_columns)(float *dst, const float *src, int64_t n, int64_t stride);
    /* Both take kernel_w <= CONV_WINDOW_MAX_KERNEL, g->copy_rows set and `scratch` of the
     * floats conv2d_plan_copy returned, 64-byte aligned: they copy the input rows a band of
     * output rows reads, padded, and sweep the copy with vectors held in registers. */
    /* Output rows [row0, row1) of AveragePool: the sum under the window over the count of its
     * taps inside the input, or inside the padded input when count_pad (NaN for none). */
    void (*average_pool_rows)(const conv2d_window *g, const float *in, bool count_pad, float *out,
                              int64_t row0, int64_t row1);
    /* The sum of x[0..n), in float, in a fixed order. */
    float (*sum)(const float *x, int64_t n);
    /* Columns [first, last) of the im2col matrix of `channels` planes of in_h x in_w (im2col.h
     * for the layout), rows last - first wide: whole runs along the output rows, copied or
     * gathered, zeroed in the padding. */
    void (*im2col)(const conv2d_window *g, int64_t channels, const float *image, int64_t first, int64_t last,
                   float *col);
    /* dst[c * ld_dst + r] = src[r * ld_src + c] for r < rows, c < cols: blocks of 8 x 8 in
     * registers where the instruction set has them. */
    void (*transpose)(const float *src, int64_t ld_src, int64_t rows, int64_t cols, float *dst, int64_t ld_dst);
    /* Winograd F(2x2, 3x3), for a 3x3 kernel with unit strides and dilations (conv.c): tile
     * (ty, tx) computes output rows 2ty, 2ty + 1 and columns 2tx, 2tx + 1 from the 4x4 input
     * at row 2ty - pad_top, column 2tx - pad_left (padding 0); tiles_w = (out_w + 1) / 2 per
     * row. Tiles t = (ty - tile_row0) * tiles_w + tx of tile rows [tile_row0, + tile_rows):
     * winograd_input writes B^T d B of each of `channels` planes (in_h x in_w apart) as
     * v[e * winograd_stride(channels * tiles) + c * tiles + t] for its 16 elements e; scratch:
     * winograd_scratch_floats. winograd_output reads m[e * winograd_stride(maps * tiles) +
     * k * tiles + t] and writes A^T m A, the outputs that lie inside the planes, onto `maps`
     * planes of out (out_h x out_w apart). */
    void (*winograd_input)(const conv2d_window *g, int64_t channels, const float *image, int64_t tile_row0,
                           int64_t tile_rows, float *v, float *scratch);
    void (*winograd_output)(const conv2d_window *g, int64_t maps, const float *m, int64_t tile_row0,
                            int64_t tile_rows, float *out, float *scratch);
} conv_kernels;

/* Floats from one of the 16 matrices of a Winograd transform to the next: `floats`, and a
 * cache line, so that the 16 streams of its writes (and reads) do not fall into the same L1
 * sets when the matrices' size is a multiple of 4 KiB (measured: 64 channels of 112 tiles,
 * 2.3 ms -> 0.7 ms). */
static inline int64_t winograd_stride(int64_t floats) { return floats + 16; }

/* Output pixels depthwise_nhwc computes at once, a vector of channels of each. */
#define CONV_NHWC_PIXELS 8

/* Scratch floats of depthwise_nhwc: the columns a block of pixels reads on each tap row, with
 * the padding's zeros, channels last. */
static inline int64_t depthwise_nhwc_floats(const conv2d_window *g, int64_t channels)
{
    return g->kernel_h * ((CONV_NHWC_PIXELS - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1) * channels;
}

/* The widest kernel depthwise_rows and max_pool_rows take (kernel_w). */
#define CONV_WINDOW_MAX_KERNEL 16
/* The copy's rows are whole multiples of the widest vectors (16 floats). */
#define CONV_COPY_ALIGN 16

/* Columns of one row of the copy of the input that depthwise_rows and max_pool_rows make. */
static inline int64_t conv2d_copy_width(const conv2d_window *g)
{
    return (g->out_w + CONV_COPY_ALIGN - 1) / CONV_COPY_ALIGN * CONV_COPY_ALIGN +
           (g->kernel_w - 1) * g->dilation_w / g->stride_w;
}

/* The window whose copy (see depthwise_rows) holds the input rows of one row of Winograd
 * tiles: 4 rows, their columns split into even and odd, so that tile t reads columns t and
 * t + 1 of both (g: the 3x3 unit-stride convolution). */
static inline conv2d_window winograd_copy_window(const conv2d_window *g)
{
    conv2d_window w = *g;
    w.out_w = (g->out_w + 1) / 2;
    w.kernel_w = 4;
    w.stride_w = 2;
    w.dilation_w = 1;
    w.stride_h = 1;
    return w;
}

/* Rows of at least this many tiles go through conv_kernels' Winograd transforms in vectors
 * (of this many lanes at least), their band's input copied once. */
#define WINOGRAD_VECTOR_TILES 4

/* Scratch of winograd_input (the copy of a band's input rows, or of 4 rows, in 2 phases) and
 * winograd_output (12 rows of tiles), floats, for bands of up to tile_rows rows of tiles. */
static inline int64_t winograd_scratch_floats(const conv2d_window *g, int64_t tile_rows)
{
    conv2d_window w = winograd_copy_window(g);
    int64_t rows = 2 * (2 * tile_rows + 2);
    return (rows > 12 ? rows : 12) * conv2d_copy_width(&w);
}

/* Floats of the copy for `rows` output rows: the padded input rows they read, split into
 * stride_w phases. */
static inline int64_t conv2d_copy_floats(const conv2d_window *g, int64_t rows)
{
    int64_t in_rows = rows > 0 ? (rows - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1 : 0;
    return g->stride_w * in_rows * conv2d_copy_width(g);
}

/* Sets g->copy_rows to the most of `rows` output rows (at least 1) whose copy takes at most
 * `most` floats; returns the floats of scratch depthwise_rows and max_pool_rows then need. */
static inline int64_t conv2d_plan_copy(conv2d_window *g, int64_t rows, int64_t most)
{
    g->copy_rows = rows > 1 ? rows : 1;
    while (g->copy_rows > 1 && conv2d_copy_floats(g, g->copy_rows) > most)
        g->copy_rows = (g->copy_rows + 1) / 2;
    return conv2d_copy_floats(g, g->copy_rows);
}

/* The columns of the padded row max_pool_rows takes a window of dilation 1 and a column stride
 * of 1 or 2 in (separably: the max down each column of the taps' rows into that row, then along
 * it, split into even and odd columns for stride 2), and the floats it sets aside for it and
 * for each of the two halves: the columns, rounded up and a vector of slack. */
static inline int64_t max_pool_row_width(const conv2d_window *g) { return (g->out_w - 1) * g->stride_w + g->kernel_w; }
static inline int64_t max_pool_row_span(const conv2d_window *g)
{
    return (max_pool_row_width(g) + CONV_COPY_ALIGN - 1) / CONV_COPY_ALIGN * CONV_COPY_ALIGN + 2 * CONV_COPY_ALIGN;
}

/* conv2d_plan_copy for max_pool_rows: the floats of scratch it needs, whichever way it goes (the
 * copy of the window, or the row and its halves). */
static inline int64_t conv2d_plan_max_pool(conv2d_window *g, int64_t rows, int64_t most)
{
    int64_t copy = conv2d_plan_copy(g, rows, most), row = 3 * max_pool_row_span(g);
    return copy > row ? copy : row;
}

/* Scratch of depthwise_lanes, floats: the padded input rows it reads, the weights, the output
 * and the input, all with channels last, `lanes` channels each. */
static inline int64_t depthwise_lanes_floats(const conv2d_window *g, int lanes)
{
    int64_t rows = (g->out_h - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1;
    int64_t cols = (g->out_w - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
    return (rows * cols + g->kernel_h * g->kernel_w + g->out_h * g->out_w) * lanes;
}

/* The row kernels compiled for the instruction set of GEMM kernel family `id` (GEMM_KERNEL_BEST:
 * the best this processor runs), or NULL when the processor cannot run it. */
const conv_kernels *conv_kernels_get(gemm_kernel_id id);

#endif
