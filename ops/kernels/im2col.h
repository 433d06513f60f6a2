/* The lowering of a convolution to a matrix product, and its adjoint for the transposed
 * convolution, over a window_geometry (N-dimensional, strided, dilated, padded).
 *
 * The column matrix of an image of `channels` planes has one row per (channel, kernel tap),
 * taps in row-major order of the kernel, and one column per output position: the input
 * element under that tap when the window sits at that position, or 0 in the padding. A
 * convolution is then W (M x channels * taps) times this matrix. */
#ifndef ONYX_IM2COL_H
#define ONYX_IM2COL_H

#include "window.h"

/* Writes columns [first, last) of the column matrix of `image` (channels x g->in) into col,
 * row-major with rows of last - first elements. */
void im2col_f32(const window_geometry *g, int64_t channels, const float *image, int64_t first, int64_t last,
                float *col);
void im2col_f64(const window_geometry *g, int64_t channels, const double *image, int64_t first, int64_t last,
                double *col);
/* The same for integer convolutions, over an image already offset by its zero point. */
void im2col_i32(const window_geometry *g, int64_t channels, const int32_t *image, int64_t first, int64_t last,
                int32_t *col);

/* The adjoint: adds each element of col (the whole matrix, channels * taps x g->out_count)
 * onto the image element under it; elements that fall in the padding are dropped. */
void col2im_f32(const window_geometry *g, int64_t channels, const float *col, float *image);
void col2im_f64(const window_geometry *g, int64_t channels, const double *col, double *image);

#endif
