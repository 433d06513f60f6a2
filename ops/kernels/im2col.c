#include "im2col.h"

#include <stdbool.h>

/* pos = the multi-index of flat position p over dims[0..n). */
static void unravel(int64_t p, const int64_t *dims, int n, int64_t *pos)
{
    for (int d = n - 1; d >= 0; d--) {
        pos[d] = p % dims[d];
        p /= dims[d];
    }
}

/* Adds `steps` to the last axis of pos and carries into the axes before it; steps never takes
 * the last axis past its end by more than one row. */
static void advance(int64_t *pos, const int64_t *dims, int n, int64_t steps)
{
    pos[n - 1] += steps;
    for (int d = n - 1; d > 0 && pos[d] >= dims[d]; d--) {
        pos[d] -= dims[d];
        pos[d - 1]++;
    }
}

/* Defines `name`, which walks rows (channel, tap) of the column matrix and its columns
 * [first, last), run by run along the last output axis, and applies INSIDE(col element,
 * image element) where the tap lands in the image and OUTSIDE(col element) in the padding. */
#define COLUMN_WALK(name, IMAGE_T, COL_T, INSIDE, OUTSIDE)                                     \
    static void name(const window_geometry *g, int64_t channels, IMAGE_T *image, int64_t first, int64_t last, \
                     COL_T *col)                                                               \
    {                                                                                          \
        int n = g->axes, inner = n - 1;                                                        \
        int64_t width = last - first, tap[WINDOW_MAX_AXES] = {0};                              \
        if (width <= 0)                                                                        \
            return; /* no columns (an empty output grid): nothing to walk */                    \
        for (int64_t row = 0; row < channels * g->kernel_count; row++) {                       \
            IMAGE_T *plane = image + (row / g->kernel_count) * g->in_count;                    \
            COL_T *dst = col + row * width;                                                    \
            int64_t pos[WINDOW_MAX_AXES];                                                      \
            unravel(first, g->out, n, pos);                                                    \
            for (int64_t p = first; p < last;) {                                               \
                int64_t run = OP_MIN(g->out[inner] - pos[inner], last - p), offset = 0;       \
                bool inside = true;                                                            \
                for (int d = 0; d < inner && inside; d++) {                                    \
                    int64_t x = pos[d] * g->stride[d] - g->pad_begin[d] + tap[d] * g->dilation[d]; \
                    inside = x >= 0 && x < g->in[d];                                           \
                    offset = offset * g->in[d] + x;                                            \
                }                                                                              \
                offset *= g->in[inner];                                                        \
                int64_t x = pos[inner] * g->stride[inner] - g->pad_begin[inner] + tap[inner] * g->dilation[inner]; \
                for (int64_t i = p; i < p + run; i++, x += g->stride[inner]) {                 \
                    if (inside && x >= 0 && x < g->in[inner])                                  \
                        INSIDE(dst[i - first], plane[offset + x]);                             \
                    else                                                                       \
                        OUTSIDE(dst[i - first]);                                               \
                }                                                                              \
                p += run;                                                                      \
                advance(pos, g->out, n, run);                                                  \
            }                                                                                  \
            for (int d = inner; d >= 0 && ++tap[d] == g->kernel[d]; d--)                       \
                tap[d] = 0;                                                                    \
        }                                                                                      \
    }

#define GATHER(c, x) ((c) = (x))
#define ZERO(c) ((c) = 0)
#define SCATTER_ADD(c, x) ((x) += (c))
#define SKIP(c) ((void)(c))

COLUMN_WALK(walk_im2col_f32, const float, float, GATHER, ZERO)
COLUMN_WALK(walk_im2col_f64, const double, double, GATHER, ZERO)
COLUMN_WALK(walk_im2col_i32, const int32_t, int32_t, GATHER, ZERO)
COLUMN_WALK(walk_col2im_f32, float, const float, SCATTER_ADD, SKIP)
COLUMN_WALK(walk_col2im_f64, double, const double, SCATTER_ADD, SKIP)

void im2col_f32(const window_geometry *g, int64_t channels, const float *image, int64_t first, int64_t last,
                float *col)
{
    walk_im2col_f32(g, channels, image, first, last, col);
}

void im2col_f64(const window_geometry *g, int64_t channels, const double *image, int64_t first, int64_t last,
                double *col)
{
    walk_im2col_f64(g, channels, image, first, last, col);
}

void im2col_i32(const window_geometry *g, int64_t channels, const int32_t *image, int64_t first, int64_t last,
                int32_t *col)
{
    walk_im2col_i32(g, channels, image, first, last, col);
}

void col2im_f32(const window_geometry *g, int64_t channels, const float *col, float *image)
{
    walk_col2im_f32(g, channels, image, 0, g->out_count, col);
}

void col2im_f64(const window_geometry *g, int64_t channels, const double *col, double *image)
{
    walk_col2im_f64(g, channels, image, 0, g->out_count, col);
}

