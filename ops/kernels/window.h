/* Sliding windows over the spatial axes of an (N, C, D1, ..., Dn) tensor, shared by the
 * convolutions and the pools: their attributes (kernel_shape, strides, dilations, pads,
 * auto_pad, ceil_mode) read and range-checked once, and, for given input dims, the output
 * length and the padding of each axis. */
#ifndef ONYX_WINDOW_H
#define ONYX_WINDOW_H

#include "op.h"

#define WINDOW_MAX_AXES (ONYX_MAX_RANK - 2)

typedef enum window_auto_pad {
    AUTO_PAD_NOTSET,
    AUTO_PAD_SAME_UPPER, /* output = ceil(input / stride); an odd padding's extra at the end */
    AUTO_PAD_SAME_LOWER, /* the same, the extra at the beginning */
    AUTO_PAD_VALID,      /* no padding */
} window_auto_pad;

/* Which attributes an operator version has, beyond kernel_shape, strides and pads. */
enum {
    WINDOW_KERNEL_REQUIRED = 1 << 0, /* the pools; the convolutions may take it from W */
    WINDOW_AUTO_PAD = 1 << 1,
    WINDOW_DILATIONS = 1 << 2,
    WINDOW_CEIL_MODE = 1 << 3,
};

typedef struct window_attrs {
    int axes;                           /* spatial axes the lists name; -1 when none is given */
    bool has_kernel;
    int64_t kernel[WINDOW_MAX_AXES];
    int64_t strides[WINDOW_MAX_AXES];   /* 1 when absent */
    int64_t dilations[WINDOW_MAX_AXES]; /* 1 when absent */
    int64_t pads[2 * WINDOW_MAX_AXES];  /* begins, then ends; 0 when absent */
    window_auto_pad auto_pad;
    bool ceil_mode;
} window_attrs;

/* The defaults: no axes named, unit strides and dilations, no padding. */
void window_attrs_init(window_attrs *w);
/* Reads the attributes `features` says the version has (others are left at their defaults).
 * Every value is range-checked (kernel, stride, dilation >= 1, pads >= 0, all below 2^31, so
 * that the geometry's arithmetic cannot overflow) and the lists must agree on the number of
 * spatial axes. */
onyx_status window_attrs_read(op_context *ctx, unsigned features, window_attrs *w);

/* The geometry of a window operation from `in` to `out` dims: the window at output position
 * o of axis d covers the input coordinates o * stride - pad_begin + k * dilation for the
 * kernel taps k < kernel. */
typedef struct window_geometry {
    int axes;
    int64_t in[WINDOW_MAX_AXES], out[WINDOW_MAX_AXES], kernel[WINDOW_MAX_AXES];
    int64_t stride[WINDOW_MAX_AXES], dilation[WINDOW_MAX_AXES];
    int64_t pad_begin[WINDOW_MAX_AXES], pad_end[WINDOW_MAX_AXES];
    int64_t in_count, out_count, kernel_count; /* products over the axes (concrete dims only) */
} window_geometry;

/* Checks that x has the `axes` spatial dims the attributes name, when they name any. */
onyx_status window_check_axes(const op_context *ctx, const window_attrs *w, const onyx_tensor *x, int axes);

/* The geometry of a convolution or pool over the spatial dims `in` (symbolic at load: the
 * output dims are unknown then) with the window `kernel`: output lengths from the pads,
 * auto_pad and ceil_mode. An error when a kernel does not fit in its padded input. */
onyx_status window_geometry_init(const op_context *ctx, const window_attrs *w, int axes, const int64_t *in,
                                 const int64_t *kernel, window_geometry *g);

/* Sets the products in_count, out_count and kernel_count from concrete dims; an error when
 * one does not fit in 64 bits (an output or a kernel far beyond any limit). */
onyx_status window_geometry_count(const op_context *ctx, window_geometry *g);

/* The kernel taps [*first, *last) of axis d whose input coordinate lies in [lo, hi) when the
 * window sits at output position o: [0, in) for the taps inside the input, [-pad_begin,
 * in + pad_end) for those inside the padded input. */
static inline void window_taps(const window_geometry *g, int d, int64_t o, int64_t lo, int64_t hi, int64_t *first,
                               int64_t *last)
{
    int64_t start = o * g->stride[d] - g->pad_begin[d], dil = g->dilation[d];
    /* The smallest k with start + k * dil >= lo, and the smallest with start + k * dil >= hi. */
    int64_t f = start >= lo ? 0 : (lo - start + dil - 1) / dil;
    int64_t l = start >= hi ? 0 : (hi - start + dil - 1) / dil;
    *first = OP_MIN(f, g->kernel[d]);
    *last = OP_MAX(*first, OP_MIN(l, g->kernel[d]));
}

/* Floor division for a positive divisor, whatever the sign of a (C's '/' truncates). */
static inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

#endif
