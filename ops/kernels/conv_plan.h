/* What the convolutions share before their arithmetic: the attributes (window and group),
 * the checks of X, W and B, the output shape, and the plan of a forward convolution as a
 * product per image, group and block of output positions with an im2col matrix (or the input
 * itself for a 1x1 kernel with unit stride and no padding). Conv, ConvTranspose, ConvInteger
 * and QLinearConv read them; their weights and bias sit at different inputs, named here by
 * index. */
#ifndef ONYX_CONV_PLAN_H
#define ONYX_CONV_PLAN_H

#include "gemm.h"
#include "window.h"

/* An image's few channels: a convolution over at most this many input channels is a
 * network's stem, whose products read its input's patches (conv.c: shifted_plan, and
 * channels_last_output, which runtime/passes_conv.c gives such a stem). */
#define CONV_STEM_CHANNELS 4

typedef struct conv_params {
    window_attrs window;
    int64_t group;
    /* ConvTranspose: its lists as in the model (count -1 when absent), checked against the
     * spatial axes once the rank of X is known */
    const int64_t *output_padding, *output_shape;
    int64_t output_padding_count, output_shape_count;
    /* onyx.FusedConv: what its epilogue applies (a gemm_activation and its two parameters),
     * and whether the residual (input 3) is added before the activation */
    int activation;
    float activation_params[2];
    bool residual_first;
    /* onyx.FusedConv between a 1x1 convolution (or a stem) and the depthwise one reading its
     * output alone (runtime/passes_conv.c): that output, and so the depthwise one's input, is
     * [N, H, W, C] instead of [N, C, H, W] */
    bool channels_last_output, channels_last_input;
} conv_params;

typedef struct conv_state {
    window_geometry geometry; /* forward: from X to Y; ConvTranspose: from Y to X (its adjoint) */
    int64_t channels, channels_per_group, maps, maps_per_group; /* C and M, and per group */
    int64_t rows;          /* forward: rows of the im2col matrix, channels_per_group * taps */
    int64_t block, blocks; /* forward: output positions per task, and tasks per image and group */
    bool direct;           /* forward: the im2col matrix is the input itself */
    /* float32 Conv and onyx.FusedConv: tasks are (image, group, block, chunk of map_chunk
     * feature maps), or for a depthwise convolution (one channel and one map per group, two
     * axes) (image, channel, band of band_rows output rows) */
    int64_t map_chunk, map_chunks;
    bool depthwise;
    int64_t band_rows, bands;
    int64_t copy_rows; /* depthwise: output rows whose input the kernel copies at a time */
    int64_t lanes;     /* depthwise on narrow planes: channels per task, in the vector lanes
                          (conv_kernels' depthwise_lanes); 0: by rows */
    /* float32, one group, few output positions (14x14, 7x7): the product turned around, the
     * positions as its rows (so that they need not fill the kernel's 48-column panels) and
     * the maps as its columns, from the weights packed once in the plan: Y^T = col^T W^T, in
     * tasks of `plan` per image, each transposing its block of Y^T into Y */
    bool transposed;
    gemm_packed_b packed_weights;
    gemm_plan plan;
    /* float32, one group, two axes, a kernel larger than 1x1 (conv.c, shifted_plan): tasks
     * (image, band of band_rows output rows); each copies its band's input, padded and split
     * into stride x stride phases of phase_rows x phase_w floats, and reads it in place tap by
     * tap (gemm_shifted): row p of the product at `offsets[p]` */
    bool shifted;
    int64_t phase_w, phase_rows;
    int32_t *offsets;
    /* float32, one group, a 3x3 kernel with unit strides and dilations, constant weights
     * (conv.c, winograd_plan): Winograd F(2x2, 3x3) in tasks (image, band of band_rows tile
     * rows, chunk of map_chunk maps), from the weights transformed once, G g G^T, as 16
     * matrices of maps x channels */
    bool winograd;
    float *winograd_weights;
    /* channels_last_output (conv.c, channels_last_plan): the product turned around as in
     * `transposed`, Y^T = X^T W^T (a stem's: patches W^T) from packed_weights, in tasks of
     * `block` positions (`blocks` per image) written as they come out;
     * channels_last_input: tasks (image, band of band_rows output rows) of conv_kernels'
     * depthwise_nhwc on the weights and bias reordered channels last, each block of pixels
     * transposed into the NCHW output */
    bool channels_last;
    bool scaled_weights; /* a 1x1 one reading channels last: the channel scale on a copy of its
                            chunk of packed W^T (smaller than its block of X^T) */
    float *nhwc_weights, *nhwc_bias;
} conv_state;

/* Reads kernel_shape, strides, dilations, pads, auto_pad and group into params (ctx->params). */
onyx_status conv_params_read(op_context *ctx, conv_params **out);

/* Checks the shapes of X (input 0), W (input w_input) and B (input b_input, -1 for none):
 * ranks, channels and groups, `maps` (M) feature maps, and the kernel taken from W or checked
 * against kernel_shape (unknown entries when W's dims are). W is [M, C / group, kernel...],
 * or [C, M / group, kernel...] when transposed. Returns the number of spatial axes. */
onyx_status conv_shapes(op_context *ctx, int w_input, int b_input, bool transposed, int64_t maps, int *axes,
                        int64_t *kernel);

/* X's dims as [N, C, spatial...] (onyx.FusedConv's channels_last_input reads [N, spatial..., C]). */
onyx_tensor conv_input_nchw(const op_context *ctx);
/* Y = [N, M, spatial...]. */
void conv_output_shape(op_context *ctx, int64_t maps, int axes, const int64_t *spatial);

/* With concrete dims: checks the element counts of the output and of g, and makes the state
 * (ctx->state) of geometry g, its channels and maps filled in. */
onyx_status conv_state_new(op_context *ctx, int64_t maps, window_geometry *g, conv_state **out);

/* reshape of a forward convolution: the output shape, and with concrete dims the state, the
 * tasks (N * group * blocks) and the scratch of one im2col block, of elements
 * `column_element_size` bytes wide (none when direct). */
onyx_status conv_forward_reshape(op_context *ctx, int w_input, int b_input, size_t column_element_size);

/* What task `task` of a forward convolution computes: output positions [*first, *last) of
 * one image and group. */
static inline void conv_forward_task(const conv_state *s, int64_t groups, int64_t task, int64_t *image,
                                     int64_t *group, int64_t *first, int64_t *last)
{
    int64_t block = task % s->blocks, image_group = task / s->blocks;
    *group = image_group % groups;
    *image = image_group / groups;
    *first = block * s->block;
    *last = OP_MIN(*first + s->block, s->geometry.out_count);
}

#endif
