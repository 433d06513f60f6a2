/* Conv and ConvTranspose over 1 to 6 spatial axes, with groups, strides, dilations, pads or
 * auto_pad, and an optional bias, and onyx.FusedConv (Conv with an activation and a residual
 * in its epilogue, made by runtime/passes_conv.c).
 *
 * float32 Conv keeps ONNX's NCHW layout and runs one of five ways, picked in reshape:
 *   - depthwise (one channel and one map per group, two axes): conv_kernels' row kernels, on a
 *     padded copy of the input rows, vectors held in registers across the taps;
 *   - 3x3, unit strides and dilations, one group, constant weights, enough 2x2 tiles:
 *     Winograd F(2x2, 3x3), 16 products of the weights transformed once by the transformed
 *     input, 2.25 times fewer multiply-adds (winograd_plan);
 *   - strided, one group, an image's few channels, wide output rows (a stem): the input of a
 *     band of rows copied into phase planes and read in place tap by tap (gemm_shifted), no
 *     im2col matrix (shifted_plan);
 *   - few output positions (14x14, 7x7), one group: the product turned around, Y^T =
 *     patches W^T, with the image's channels last and the weights packed once per plan, so
 *     that the maps, not the positions, fill the GEMM kernel's 48-column panels;
 *   - otherwise Y = W im2col(X) per group, the im2col matrix built a block of positions at a
 *     time in per-thread scratch (L2-sized; read in place for a 1x1 kernel with unit stride
 *     and no padding), the weights read in place as the GEMM's left operand.
 * Bias, activation and residual run in the GEMM's epilogue while each tile is in cache. Tasks
 * split positions and output channels so that two threads share even one image.
 *
 * float64, float16 and bfloat16 (widened to float) multiply each group's weights by the
 * im2col blocks with whole products. ConvTranspose multiplies the transposed weights of one
 * output channel by the input and scatters the product onto the output with col2im. */
#include "conv_kernels.h"
#include "conv_plan.h"
#include "count.h"
#include "float_dispatch.h"
#include "gemm.h"
#include "half.h"
#include "im2col.h"

#include <string.h>

#define CONV_MAX_VALUE ((int64_t)INT32_MAX)

static onyx_status conv_check_common(op_context *ctx, uint32_t dtypes, conv_params **out)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 2, dtypes);
    if (!st)
        st = conv_params_read(ctx, out);
    if (!st)
        op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return st;
}

static onyx_status conv_check(op_context *ctx)
{
    conv_params *p;
    return conv_check_common(ctx, DT_FLOATS | DT(FLOAT16) | DT(BFLOAT16), &p);
}

/* ---- Conv -------------------------------------------------------------------------------- */

static bool is_half(onyx_dtype dtype) { return dtype == ONYX_DTYPE_FLOAT16 || dtype == ONYX_DTYPE_BFLOAT16; }

/* ---- float32: im2col blocks on the GEMM, depthwise rows ---------------------------------- */

/* Floats of an im2col block: 512 KiB, which stays in L2 while the GEMM sweeps it once per
 * strip of output channels. */
#define CONV_BLOCK_FLOATS ((int64_t)1 << 17)
/* Blocks of output positions are whole multiples of every GEMM kernel's panel (8, 16, 48). */
#define CONV_BLOCK_ALIGN 48
/* Output channels per task are whole multiples of every kernel's register rows. */
#define CONV_MAP_ALIGN 8
/* Tasks wanted per image at least, so that 2 to 4 threads share even a small convolution. */
#define CONV_TARGET_TASKS 4
/* ... as long as each keeps this many multiply-adds (a few microseconds): products turned
 * around are cut this fine, which the GEMM alone would leave whole below 2^21 (MobileNet's
 * 1x1 convolutions at 14x14: 40 -> 240 channels had run on one thread). */
#define CONV_SHARE_MACS ((int64_t)1 << 18)
#define CONV_SCRATCH_ALIGN 64
/* Scratch of depthwise_lanes on planes wider than a vector, at most (1 MiB). */
#define CONV_LANES_FLOATS ((int64_t)1 << 18)
/* Products turned around (conv_state.transposed): up to this many output positions, and this
 * many floats of output and of input per image (Y^T and the image with channels last sit in
 * scratch), ... */
#define CONV_TRANSPOSED_POSITIONS 256
#define CONV_TRANSPOSED_OUTPUT ((int64_t)1 << 20)
/* ... and this many floats of patch matrix (16 MiB). */
#define CONV_TRANSPOSED_PATCHES ((int64_t)1 << 22)
/* The shifted path (conv_state.shifted): floats of a band's input copy and of its output in
 * scratch, each at most this many (256 KiB, in L2 beside the weights) unless a single output
 * row needs more, and up to 4 times as many for that row; ... */
#define CONV_SHIFTED_FLOATS ((int64_t)1 << 16)
/* ... and the columns computed beyond each output row (the phase planes' width) at most an
 * eighth of the row. */
#define CONV_SHIFTED_WASTE 8
/* Winograd: floats of a band's transformed input (16 x channels x tiles), and of the products
 * of a chunk of maps (16 x maps x tiles), at most (512 KiB, unless one tile row needs more). */
#define CONV_WINOGRAD_FLOATS ((int64_t)1 << 17)
/* Winograd: tiles per band at least (see winograd_plan). */
#define CONV_WINOGRAD_MIN_TILES 24
/* channels_last_output: positions per task, at most (their rows of X^T transposed in scratch). */
#define CONV_NHWC_BLOCK 256

static float *align_scratch(void *p)
{
    return (float *)(((uintptr_t)p + CONV_SCRATCH_ALIGN - 1) & ~(uintptr_t)(CONV_SCRATCH_ALIGN - 1));
}

static int64_t round_up(int64_t x, int64_t to) { return ceil_div(x, to) * to; }

static conv2d_window window_2d(const window_geometry *g)
{
    return (conv2d_window){.in_h = g->in[0], .in_w = g->in[1], .out_h = g->out[0], .out_w = g->out[1],
                           .kernel_h = g->kernel[0], .kernel_w = g->kernel[1], .stride_h = g->stride[0],
                           .stride_w = g->stride[1], .dilation_h = g->dilation[0], .dilation_w = g->dilation[1],
                           .pad_top = g->pad_begin[0], .pad_left = g->pad_begin[1], .pad_bottom = g->pad_end[0],
                           .pad_right = g->pad_end[1]};
}

/* Whether to turn the product around (see conv_state.transposed): one group, two axes, at
 * most CONV_TRANSPOSED_POSITIONS output positions not filling whole panels, constant weights.
 * Then packs the weights, their rows reordered to (tap, channel) as the patch matrix has them,
 * and plans the product, its tasks and scratch (the image with channels last, the patch
 * matrix, Y^T and the GEMM's own). */
static bool transposed_plan(op_context *ctx, int64_t images, int64_t groups)
{
    conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const onyx_tensor *w = op_input(ctx, 1);
    int64_t positions = g->out_count, maps = s->maps, taps = g->kernel_count, channels = s->channels;
    if (groups != 1 || g->axes != 2 || positions == 0 || positions > CONV_TRANSPOSED_POSITIONS ||
        positions % CONV_BLOCK_ALIGN == 0 || maps < 2 * CONV_MAP_ALIGN || !w->data ||
        positions * maps > CONV_TRANSPOSED_OUTPUT || g->in_count * channels > CONV_TRANSPOSED_OUTPUT ||
        positions * s->rows > CONV_TRANSPOSED_PATCHES)
        return false;
    const gemm_kernel *kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    size_t bytes = gemm_packed_b_bytes(kernel, s->rows, maps);
    void *memory = bytes != SIZE_MAX ? op_alloc_state(ctx, bytes) : NULL;
    float *reordered = memory ? op_alloc_temp(ctx, (size_t)(maps * s->rows) * sizeof(float)) : NULL;
    if (!reordered)
        return false; /* the plain orientation needs no memory of its own */
    const float *weights = w->data;
    for (int64_t m = 0; m < maps; m++)
        for (int64_t c = 0; c < channels; c++)
            for (int64_t t = 0; t < taps; t++)
                reordered[m * s->rows + t * channels + c] = weights[m * s->rows + c * taps + t];
    gemm_pack_b(&s->packed_weights, kernel, true, s->rows, maps, reordered, s->rows, memory);
    op_free_temp(ctx, reordered);
    gemm_plan_init(&s->plan, kernel, positions, maps, s->rows, false, false, &s->packed_weights);
    gemm_plan_share(&s->plan, OP_MIN(CONV_TARGET_TASKS, positions * maps * s->rows / CONV_SHARE_MACS));
    s->transposed = true;
    ctx->n_tasks = images * gemm_plan_tasks(&s->plan);
    ctx->task_cost = gemm_plan_task_cost(&s->plan);
    size_t floats = (size_t)(g->in_count * channels + (s->direct ? 0 : s->rows * positions) + positions * maps);
    ctx->scratch_bytes = floats * sizeof(float) + s->plan.scratch_bytes + 3 * CONV_SCRATCH_ALIGN;
    return true;
}

/* Whether to run Winograd F(2x2, 3x3) (see conv_state.winograd): 16 products of maps x
 * channels by channels x tiles, each tile 2x2 outputs, instead of one of maps x 9 channels by
 * 4 outputs: 2.25 times fewer multiply-adds, for a transform of the input and of the output
 * (additions only, accurate to a few ulps of the output's terms). The weights' transform
 * U = G g G^T (G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]) is made here, once. */
static bool winograd_plan(op_context *ctx, int64_t images, int64_t groups)
{
    conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const onyx_tensor *w = op_input(ctx, 1);
    if (groups != 1 || g->axes != 2 || g->kernel[0] != 3 || g->kernel[1] != 3 || g->stride[0] != 1 ||
        g->stride[1] != 1 || g->dilation[0] != 1 || g->dilation[1] != 1 || !w->data || g->out_count == 0 ||
        s->channels < CONV_MAP_ALIGN || s->maps < CONV_MAP_ALIGN)
        return false;
    int64_t tiles_w = ceil_div(g->out[1], 2), tiles_h = ceil_div(g->out[0], 2);
    int64_t row_floats = 16 * s->channels * tiles_w;
    if (row_floats > 4 * CONV_WINOGRAD_FLOATS)
        return false;
    /* Tile rows per band: as many as fit, for the most columns per product, each transformed
     * weight read once per band; then chunks of maps for the tasks wanted and for the
     * products' share of scratch. */
    int64_t rows = OP_MAX(1, OP_MIN(tiles_h, CONV_WINOGRAD_FLOATS / row_floats));
    int64_t bands = ceil_div(tiles_h, rows);
    rows = ceil_div(tiles_h, bands);
    int64_t tiles = rows * tiles_w;
    /* Below this many tiles the 16 transformed weights (1.8 times the weights) are read for too
     * few columns: the product waits on memory (512 maps of 7x7: 2.7 times slower than im2col). */
    if (tiles < CONV_WINOGRAD_MIN_TILES)
        return false;
    int64_t want = ceil_div(CONV_TARGET_TASKS, OP_MAX(images, 1));
    int64_t chunks = OP_MAX(ceil_div(want, bands), ceil_div(16 * s->maps * tiles, CONV_WINOGRAD_FLOATS));
    /* An even number of tasks, so that two threads share them evenly: ResNet's 56x56 layers
     * (7 bands) cut their maps in two (at 2 threads 0.43 -> 0.39 ms on Zen 5; 2% slower at 1;
     * only a band that two threads share is transformed twice). */
    if (images * bands * chunks % 2)
        chunks *= 2;
    chunks = OP_MIN(chunks, ceil_div(s->maps, CONV_MAP_ALIGN));
    int64_t chunk = round_up(ceil_div(s->maps, chunks), CONV_MAP_ALIGN);
    float *u = op_alloc_state(ctx, (size_t)(16 * s->maps * s->channels) * sizeof(float));
    if (!u)
        return false;
    const float *weights = w->data;
    int64_t es = s->maps * s->channels;
    for (int64_t m = 0; m < s->maps; m++)
        for (int64_t c = 0; c < s->channels; c++) {
            const float *k = weights + (m * s->channels + c) * 9;
            float gk[4][3]; /* G k */
            for (int j = 0; j < 3; j++) {
                gk[0][j] = k[j];
                gk[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
                gk[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
                gk[3][j] = k[6 + j];
            }
            for (int i = 0; i < 4; i++) { /* (G k) G^T */
                float *row = u + (4 * i) * es + m * s->channels + c;
                row[0] = gk[i][0];
                row[es] = 0.5f * (gk[i][0] + gk[i][1] + gk[i][2]);
                row[2 * es] = 0.5f * (gk[i][0] - gk[i][1] + gk[i][2]);
                row[3 * es] = gk[i][2];
            }
        }
    s->winograd = true;
    s->winograd_weights = u;
    s->band_rows = rows;
    s->bands = bands;
    s->map_chunk = chunk;
    s->map_chunks = ceil_div(s->maps, chunk);
    conv2d_window win = window_2d(g);
    ctx->n_tasks = images * bands * s->map_chunks;
    ctx->task_cost = 16 * chunk * s->channels * tiles;
    size_t floats = (size_t)(16 * (winograd_stride(s->channels * tiles) + winograd_stride(chunk * tiles)) +
                             winograd_scratch_floats(&win, rows));
    ctx->scratch_bytes = floats * sizeof(float) + 3 * CONV_SCRATCH_ALIGN;
    return true;
}

/* Whether to read the input in place (see conv_state.shifted): one group, two axes, a kernel
 * larger than 1x1, strides, an image's few channels (a network's stem), and output rows wide
 * enough that the columns computed past their end cost little. There im2col gathers single
 * floats at the stride; elsewhere it copies whole runs and its block feeds the GEMM from
 * aligned rows, while the shifted product reads its panel's rows from more cache lines than
 * L1 holds. Measured on Zen 3 against im2col: ResNet's 7x7/2 stem (3 channels) 10-20%
 * faster; 3x3/2 from 64 channels 10% slower, and 3x3/1 on 64 channels of 56x56 4% slower.
 *
 * The input of a band of output rows, with its padding, is copied into stride x stride
 * phase planes per channel (phase (py, px) holds padded rows py, py + sh, ... and columns px,
 * px + sw, ...), so that every tap is a unit-stride shift within one of them: output position
 * (r, x) of the band sits at r * phase_w + x, and tap (ky, kx) of channel c reads it at
 * offsets[(c, ky, kx)] further on. The product then multiplies the weights (maps x rows, in
 * place) by those shifted rows with no im2col matrix: its columns are the band's rows of
 * phase_w positions, of which the first out_w are outputs. */
static bool shifted_plan(op_context *ctx, int64_t images, int64_t groups)
{
    conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    if (groups != 1 || g->axes != 2 || g->kernel_count == 1 || g->out_count == 0 ||
        (g->stride[0] == 1 && g->stride[1] == 1) || s->channels > CONV_STEM_CHANNELS)
        return false;
    int64_t sh = g->stride[0], sw = g->stride[1];
    int64_t dy_max = (g->kernel[0] - 1) * g->dilation[0] / sh, dx_max = (g->kernel[1] - 1) * g->dilation[1] / sw;
    int64_t phase_w = g->out[1] + dx_max, planes = s->channels * sh * sw;
    if (phase_w * CONV_SHIFTED_WASTE > g->out[1] * (CONV_SHIFTED_WASTE + 1))
        return false;
    /* Rows per band: enough bands for CONV_TARGET_TASKS tasks per image, fewer rows while the
     * band's input or output outgrows its share of scratch. */
    int64_t want = ceil_div(CONV_TARGET_TASKS, OP_MAX(images, 1));
    int64_t rows = ceil_div(g->out[0], OP_MIN(g->out[0], want));
    while (rows > 1 && (planes * (rows + dy_max + 1) * phase_w > CONV_SHIFTED_FLOATS ||
                        s->maps * rows * phase_w > CONV_SHIFTED_FLOATS))
        rows--;
    int64_t in_floats = planes * (rows + dy_max + 1) * phase_w, out_floats = s->maps * rows * phase_w;
    if (in_floats > 4 * CONV_SHIFTED_FLOATS || out_floats > 4 * CONV_SHIFTED_FLOATS)
        return false;
    s->offsets = op_alloc_state(ctx, (size_t)s->rows * sizeof(int32_t));
    if (!s->offsets)
        return false; /* im2col needs no memory of its own */
    s->shifted = true;
    s->phase_w = phase_w;
    s->phase_rows = rows + dy_max + 1; /* the last row: columns past the band's last output row */
    s->band_rows = rows;
    s->bands = ceil_div(g->out[0], rows);
    int64_t plane = s->phase_rows * phase_w, taps = g->kernel_count;
    for (int64_t c = 0; c < s->channels; c++)
        for (int64_t ky = 0; ky < g->kernel[0]; ky++)
            for (int64_t kx = 0; kx < g->kernel[1]; kx++) {
                int64_t y = ky * g->dilation[0], x = kx * g->dilation[1];
                int64_t phase = (c * sh + y % sh) * sw + x % sw;
                s->offsets[c * taps + ky * g->kernel[1] + kx] = (int32_t)(phase * plane + y / sh * phase_w + x / sw);
            }
    ctx->n_tasks = images * s->bands;
    ctx->task_cost = s->maps * s->rows * rows * g->out[1];
    ctx->scratch_bytes = (size_t)(in_floats + out_floats) * sizeof(float) + 2 * CONV_SCRATCH_ALIGN;
    return true;
}

/* Bands of output rows of a depthwise convolution's tasks: as many as `want` (fewer on short
 * planes). */
static void depthwise_bands(conv_state *s, int64_t want)
{
    int64_t rows = s->geometry.out[0];
    s->band_rows = rows ? ceil_div(rows, OP_MIN(rows, want)) : 0;
    s->bands = s->band_rows ? ceil_div(rows, s->band_rows) : 0;
}

/* Depthwise planes no wider than a vector (14x14, 7x7 at 16 floats) waste lanes along their
 * rows, and on AVX-512 kernels of 3x3 and up pay the transpositions back: then `lanes`
 * channels at once, one in each lane, a task per block of them. Measured on AVX-512 (Zen 5)
 * against the rows kernel, with blocks of 7 or 8 pixels in registers: 7x7 96ch 56x56 0.31 ->
 * 0.22 ms, 3x3 144ch 56x56 0.176 -> 0.130, 3x3/2 96ch 112x112 0.249 -> 0.185, 3x3 88ch 28x28
 * 0.029 -> 0.022 (earlier, blocks of 4: 5x5 576ch 7x7 0.080 -> 0.025). With 8
 * lanes (AVX2, Zen 3) the rows kernel's blocks of 4 vectors win on the wider planes: 5x5 240ch
 * 14x14 68 vs 88 us, 672ch 14x14 189 vs 248, 240ch 28x28 268 vs 293, 7x7 96ch 56x56 621 vs 722;
 * narrow planes stay with the lanes (5x5 576ch 7x7 95 vs 77 us, 3x3 1152ch 7x7 132 vs 77). */
static bool depthwise_lanes_plan(op_context *ctx, int64_t images)
{
    conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const conv_kernels *k = conv_kernels_get(GEMM_KERNEL_BEST);
    conv2d_window w = window_2d(g);
    int64_t floats = depthwise_lanes_floats(&w, k->lanes);
    bool narrow = g->out[1] <= k->lanes && floats <= CONV_BLOCK_FLOATS;
    if (!narrow && (g->kernel_count < 9 || floats > CONV_LANES_FLOATS || k->lanes < 16))
        return false;
    s->lanes = k->lanes;
    ctx->n_tasks = images * ceil_div(s->channels, s->lanes);
    ctx->task_cost = s->lanes * g->out_count * g->kernel_count;
    ctx->scratch_bytes = (size_t)floats * sizeof(float) + CONV_SCRATCH_ALIGN;
    return true;
}

/* Output positions [first, last) of block `block` of a float32 convolution's plain path: whole
 * panels of CONV_BLOCK_ALIGN spread evenly over the blocks (17 panels in 4 blocks: 4, 4, 4
 * and 5, where blocks of 5 panels left 2 for the last), so that the tasks two threads share
 * are alike. s->block is the widest. */
static void float_block_span(const conv_state *s, int64_t block, int64_t *first, int64_t *last)
{
    int64_t positions = s->geometry.out_count, panels = ceil_div(positions, CONV_BLOCK_ALIGN);
    *first = OP_MIN(positions, block * panels / s->blocks * CONV_BLOCK_ALIGN);
    *last = OP_MIN(positions, (block + 1) * panels / s->blocks * CONV_BLOCK_ALIGN);
}

/* The task grid of a float32 convolution (see conv_state): blocks of output positions sized
 * for the cache, cut further (positions first, where the input is read in place; else output
 * channels, which shares an im2col block between the tasks of one thread) until an image has
 * CONV_TARGET_TASKS tasks. */
static void conv_float_plan(op_context *ctx)
{
    conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    int64_t images = op_input(ctx, 0)->dims[0], groups = ((const conv_params *)ctx->params)->group;
    int64_t want = ceil_div(CONV_TARGET_TASKS, OP_MAX(1, images * groups));
    s->depthwise = g->axes == 2 && s->channels_per_group == 1 && s->maps_per_group == 1 &&
                   g->kernel[1] <= CONV_WINDOW_MAX_KERNEL;
    if (s->depthwise && depthwise_lanes_plan(ctx, images))
        return;
    if (s->depthwise) {
        /* Bands of rows, as many as `want`; the kernel copies the input of a band in parts
         * of at most a block's size (a large plane). */
        conv2d_window w = window_2d(g);
        depthwise_bands(s, want);
        int64_t copy = conv2d_plan_copy(&w, s->band_rows, CONV_BLOCK_FLOATS);
        s->copy_rows = w.copy_rows;
        ctx->n_tasks = images * groups * s->bands;
        ctx->task_cost = s->band_rows * g->out[1] * g->kernel_count;
        ctx->scratch_bytes = (size_t)copy * sizeof(float) + CONV_SCRATCH_ALIGN;
        return;
    }
    if (winograd_plan(ctx, images, groups) || shifted_plan(ctx, images, groups) ||
        transposed_plan(ctx, images, groups))
        return;
    int64_t most = s->direct ? g->out_count : OP_MAX(CONV_BLOCK_ALIGN, CONV_BLOCK_FLOATS / OP_MAX(s->rows, 1));
    int64_t panels = ceil_div(g->out_count, CONV_BLOCK_ALIGN);
    int64_t blocks = ceil_div(g->out_count, OP_MAX(most, 1));
    if (s->direct)
        blocks = OP_MAX(blocks, OP_MIN(want, panels));
    s->blocks = OP_MIN(blocks, panels);
    s->block = s->blocks ? OP_MIN(g->out_count, ceil_div(panels, s->blocks) * CONV_BLOCK_ALIGN) : 0;
    int64_t chunks = OP_MIN(ceil_div(want, OP_MAX(s->blocks, 1)),
                            ceil_div(s->maps_per_group, 2 * CONV_MAP_ALIGN));
    s->map_chunk = round_up(ceil_div(s->maps_per_group, OP_MAX(chunks, 1)), CONV_MAP_ALIGN);
    s->map_chunks = s->maps_per_group ? ceil_div(s->maps_per_group, s->map_chunk) : 0;
    ctx->n_tasks = images * groups * s->blocks * s->map_chunks;
    ctx->task_cost = s->map_chunk * s->rows * s->block;
    ctx->scratch_bytes = s->direct ? 0 : (size_t)(s->rows * s->block) * sizeof(float) + CONV_SCRATCH_ALIGN;
}

/* The epilogue of a float32 convolution's output block starting at `at` of output plane
 * (image, map): its fused activation and residual (onyx.FusedConv's input 3). */
static gemm_epilogue conv_epilogue(const op_context *ctx, int64_t plane_offset, int64_t ld)
{
    const conv_params *p = ctx->params;
    const onyx_tensor *z = op_input(ctx, 3);
    return (gemm_epilogue){.activation = (gemm_activation)p->activation,
                           .params = {p->activation_params[0], p->activation_params[1]},
                           .residual = z ? (const float *)z->data + plane_offset : NULL, .ld_residual = ld,
                           .residual_first = p->residual_first};
}

/* onyx.FusedConv's channel scale for `image` (C floats), or NULL. */
static const float *channel_scale(const op_context *ctx, int64_t image)
{
    const onyx_tensor *scale = op_input(ctx, 4);
    return scale ? (const float *)scale->data + (scale->dims[0] > 1 ? image : 0) * scale->dims[1] : NULL;
}

/* dst[i][j] = src[i][j] scale[j] over rows x cols (dst may be src): the channel scale applied to
 * rows of channels (X^T) or of weights (W's columns). */
static void scale_columns(float *dst, const float *src, int64_t rows, int64_t cols, const float *scale)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            dst[i * cols + j] = src[i * cols + j] * scale[j];
}

/* A block of `lanes` channels of a depthwise convolution on narrow planes, then the epilogue. */
static void depthwise_lanes_task(const op_context *ctx, int64_t task, float *scratch)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const onyx_tensor *bias = op_input(ctx, 2);
    int64_t blocks = ceil_div(s->channels, s->lanes), image = task / blocks, c0 = task % blocks * s->lanes;
    int64_t channels = OP_MIN(s->lanes, s->channels - c0), plane = image * s->channels + c0;
    conv2d_window w = window_2d(g);
    float *out = (float *)ctx->outputs[0]->data + plane * g->out_count;
    conv_kernels_get(GEMM_KERNEL_BEST)->depthwise_lanes(
        &w, channels, (const float *)ctx->inputs[0]->data + plane * g->in_count,
        (const float *)ctx->inputs[1]->data + c0 * g->kernel_count, bias ? (const float *)bias->data + c0 : NULL,
        out, scratch);
    gemm_epilogue e = conv_epilogue(ctx, plane * g->out_count, g->out_count);
    if (e.activation != GEMM_ACTIVATION_NONE || e.residual)
        gemm_apply_epilogue(NULL, out, g->out_count, channels, g->out_count, &e);
}

/* Output rows of one plane of a depthwise convolution, then the epilogue on them. */
static void depthwise_task(const op_context *ctx, int64_t task, float *scratch)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const onyx_tensor *bias = op_input(ctx, 2);
    int64_t plane = task / s->bands, channel = plane % s->channels;
    int64_t row0 = task % s->bands * s->band_rows, row1 = OP_MIN(g->out[0], row0 + s->band_rows);
    conv2d_window w = window_2d(g);
    w.copy_rows = s->copy_rows;
    float *out = (float *)ctx->outputs[0]->data + plane * g->out_count;
    const float *in = (const float *)ctx->inputs[0]->data + plane * g->in_count;
    const float *weights = (const float *)ctx->inputs[1]->data + channel * g->kernel_count;
    float b = bias ? ((const float *)bias->data)[channel] : 0.0f;
    /* A cheap activation as the rows are stored; a residual or another one after. */
    gemm_epilogue e = conv_epilogue(ctx, plane * g->out_count + row0 * g->out[1], g->out[1]), stored, rest;
    gemm_epilogue_split(&e, false, &stored, &rest);
    conv_kernels_get(GEMM_KERNEL_BEST)->depthwise_rows(&w, in, weights, b, stored.activation, stored.params, out, row0,
                                                       row1, scratch);
    if (rest.activation != GEMM_ACTIVATION_NONE || rest.residual)
        gemm_apply_epilogue(NULL, out + row0 * g->out[1], g->out[1], row1 - row0, g->out[1], &rest);
}

/* Task `task` of the Winograd path: chunk (task % map_chunks) of the maps over tile-row band
 * (task / map_chunks % bands) of image (task / map_chunks / bands). The band's transformed
 * input stays in scratch for the thread's next chunk (*loaded: the band it holds). */
static void winograd_task(const op_context *ctx, int64_t task, float *scratch, int64_t *loaded)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const conv_kernels *kernels = conv_kernels_get(GEMM_KERNEL_BEST);
    const onyx_tensor *bias = op_input(ctx, 2);
    int64_t chunk = task % s->map_chunks, band_task = task / s->map_chunks;
    int64_t image = band_task / s->bands, tile_row0 = band_task % s->bands * s->band_rows;
    int64_t tiles_w = ceil_div(g->out[1], 2), tile_rows = OP_MIN(s->band_rows, ceil_div(g->out[0], 2) - tile_row0);
    int64_t tiles = tile_rows * tiles_w, band_tiles = s->band_rows * tiles_w;
    int64_t map0 = chunk * s->map_chunk, maps = OP_MIN(s->map_chunk, s->maps - map0);
    conv2d_window w = window_2d(g);
    float *v = scratch;
    float *products = align_scratch(v + 16 * winograd_stride(s->channels * band_tiles));
    float *transform = align_scratch(products + 16 * winograd_stride(s->map_chunk * band_tiles));
    if (*loaded != band_task) {
        kernels->winograd_input(&w, s->channels, (const float *)ctx->inputs[0]->data + image * s->channels * g->in_count,
                                tile_row0, tile_rows, v, transform);
        *loaded = band_task;
    }
    for (int e = 0; e < 16; e++) {
        gemm_plan plan;
        gemm_plan_init(&plan, NULL, maps, tiles, s->channels, false, false, NULL);
        gemm_args args = {.a = s->winograd_weights + (e * s->maps + map0) * s->channels, .lda = s->channels,
                          .b = v + e * winograd_stride(s->channels * tiles), .ldb = tiles,
                          .c = products + e * winograd_stride(maps * tiles), .ldc = tiles, .alpha = 1, .beta = 0};
        gemm_run(&plan, &args, 0, gemm_plan_tasks(&plan), NULL);
    }
    int64_t plane0 = image * s->maps + map0;
    float *y = (float *)ctx->outputs[0]->data + plane0 * g->out_count;
    kernels->winograd_output(&w, maps, products, tile_row0, tile_rows, y, transform);
    int64_t row0 = 2 * tile_row0, rows = OP_MIN(g->out[0], 2 * (tile_row0 + tile_rows)) - row0;
    gemm_epilogue e = conv_epilogue(ctx, plane0 * g->out_count + row0 * g->out[1], g->out_count);
    e.row_bias = bias ? (const float *)bias->data + map0 : NULL;
    if (e.row_bias || e.activation != GEMM_ACTIVATION_NONE || e.residual)
        gemm_apply_epilogue(NULL, y + row0 * g->out[1], g->out_count, maps, rows * g->out[1], &e);
}

/* The input of band rows [row0, ...) of one image for the shifted path: per channel its
 * stride x stride phase planes, phase_rows x phase_w each, zeros where the window reads
 * padding (and in the columns and rows past what any output reads). */
static void shifted_copy(const conv_state *s, const float *image, int64_t row0, float *band)
{
    const window_geometry *g = &s->geometry;
    int64_t sh = g->stride[0], sw = g->stride[1], h = g->in[0], w = g->in[1], width = s->phase_w;
    const conv_kernels *kernels = conv_kernels_get(GEMM_KERNEL_BEST);
    for (int64_t c = 0; c < s->channels; c++)
        for (int64_t py = 0; py < sh; py++)
            for (int64_t px = 0; px < sw; px++)
                for (int64_t r = 0; r < s->phase_rows; r++, band += width) {
                    int64_t iy = (row0 + r) * sh + py - g->pad_begin[0];
                    if (iy < 0 || iy >= h) {
                        memset(band, 0, (size_t)width * sizeof(float));
                        continue;
                    }
                    const float *src = image + (c * h + iy) * w;
                    /* Columns [lo, hi) read the image: ix = x * sw + px - pad_left in [0, w). */
                    int64_t shift = px - g->pad_begin[1];
                    int64_t lo = OP_MIN(width, shift >= 0 ? 0 : ceil_div(-shift, sw));
                    int64_t hi = OP_MAX(lo, OP_MIN(width, w - shift > 0 ? ceil_div(w - shift, sw) : 0));
                    memset(band, 0, (size_t)lo * sizeof(float));
                    kernels->gather_columns(band + lo, src + lo * sw + shift, hi - lo, sw);
                    memset(band + hi, 0, (size_t)(width - hi) * sizeof(float));
                }
}

/* Task `task` of the shifted path: band (task % bands) of image (task / bands), all maps, in
 * phase_w-wide rows into scratch; the first out_w of each row then go to Y, and the epilogue
 * (bias, activation, residual) runs there. */
static void shifted_task(const op_context *ctx, int64_t task, float *scratch)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const onyx_tensor *bias = op_input(ctx, 2);
    int64_t image = task / s->bands, row0 = task % s->bands * s->band_rows;
    int64_t rows = OP_MIN(s->band_rows, g->out[0] - row0), n = rows * s->phase_w, width = g->out[1];
    float *band = scratch;
    float *product = align_scratch(band + s->channels * g->stride[0] * g->stride[1] * s->phase_rows * s->phase_w);
    shifted_copy(s, (const float *)ctx->inputs[0]->data + image * s->channels * g->in_count, row0, band);
    int64_t at = image * s->maps * g->out_count + row0 * width;
    /* The bias and a cheap activation in the product's tiles; a residual or another
     * activation on the output after. */
    gemm_epilogue e = conv_epilogue(ctx, at, g->out_count), stored, rest;
    e.row_bias = bias ? bias->data : NULL;
    gemm_epilogue_split(&e, false, &stored, &rest);
    gemm_shifted(NULL, s->maps, n, s->rows, ctx->inputs[1]->data, s->rows, band, s->offsets, product, n, &stored);
    float *y = (float *)ctx->outputs[0]->data + at;
    for (int64_t m = 0; m < s->maps; m++)
        for (int64_t r = 0; r < rows; r++)
            memcpy(y + m * g->out_count + r * width, product + m * n + r * s->phase_w, (size_t)width * sizeof(float));
    if (rest.activation != GEMM_ACTIVATION_NONE || rest.residual)
        gemm_apply_epilogue(NULL, y, g->out_count, s->maps, rows * width, &rest);
}

/* The patch matrix of an image with channels last: row p holds, tap after tap, the channels
 * under that tap when the window sits at output position p (zeros in the padding). */
static void patches(const window_geometry *g, int64_t channels, const float *image, float *out)
{
    size_t run = (size_t)channels * sizeof(float);
    for (int64_t oy = 0; oy < g->out[0]; oy++)
        for (int64_t ox = 0; ox < g->out[1]; ox++)
            for (int64_t ky = 0; ky < g->kernel[0]; ky++) {
                int64_t iy = oy * g->stride[0] - g->pad_begin[0] + ky * g->dilation[0];
                for (int64_t kx = 0; kx < g->kernel[1]; kx++, out += channels) {
                    int64_t ix = ox * g->stride[1] - g->pad_begin[1] + kx * g->dilation[1];
                    if (iy >= 0 && iy < g->in[0] && ix >= 0 && ix < g->in[1])
                        memcpy(out, image + (iy * g->in[1] + ix) * channels, run);
                    else
                        memset(out, 0, run);
                }
            }
}

/* Task `task` of a product turned around: the patch matrix of its image (unless the thread has
 * it already, *loaded), the GEMM task's block of Y^T with the bias, transposed into Y, then the
 * activation and residual there. */
static void transposed_task(const op_context *ctx, int64_t task, float *scratch, int64_t *loaded)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const onyx_tensor *bias = op_input(ctx, 2);
    int64_t per_image = gemm_plan_tasks(&s->plan), image = task / per_image, positions = g->out_count;
    const conv_kernels *kernels = conv_kernels_get(GEMM_KERNEL_BEST);
    float *image_last = scratch;
    float *patch = s->direct ? image_last : align_scratch(image_last + g->in_count * s->channels);
    float *yt = align_scratch(s->direct ? image_last + g->in_count * s->channels : patch + s->rows * positions);
    void *gemm_scratch = align_scratch(yt + positions * s->maps);
    if (*loaded != image) {
        /* The image with its channels last: (positions x channels) = (channels x positions)^T. */
        kernels->transpose((const float *)ctx->inputs[0]->data + image * s->channels * g->in_count, g->in_count,
                           s->channels, g->in_count, image_last, s->channels);
        const float *scale = channel_scale(ctx, image);
        if (scale)
            scale_columns(image_last, image_last, g->in_count, s->channels, scale);
        if (!s->direct)
            patches(g, s->channels, image_last, patch);
        *loaded = image;
    }
    gemm_args args = {.a = patch, .lda = s->rows, .c = yt, .ldc = s->maps, .alpha = 1, .beta = 0,
                      .epilogue = {.bias = bias ? bias->data : NULL}};
    gemm_run(&s->plan, &args, task % per_image, task % per_image + 1, gemm_scratch);
    int64_t i0, i1, j0, j1;
    gemm_task_block(&s->plan, task % per_image, &i0, &i1, &j0, &j1);
    float *y = (float *)ctx->outputs[0]->data + (image * s->maps + j0) * positions + i0;
    kernels->transpose(yt + i0 * s->maps + j0, s->maps, i1 - i0, j1 - j0, y, positions);
    gemm_epilogue e = conv_epilogue(ctx, (image * s->maps + j0) * positions + i0, positions);
    if (e.activation != GEMM_ACTIVATION_NONE || e.residual)
        gemm_apply_epilogue(NULL, y, positions, j1 - j0, i1 - i0, &e);
}

/* ---- onyx.FusedConv with its channels last (runtime/passes_conv.c: layout_channels_last) */

/* Columns of a stem's interleaved input rows (stem_channels_last_task): those the output row's
 * windows span, padding included. */
static int64_t stem_columns(const window_geometry *g)
{
    return (g->out[1] - 1) * g->stride[1] + (g->kernel[1] - 1) * g->dilation[1] + 1;
}

/* The plan of an onyx.FusedConv with its channels last (the flags runtime/passes_conv.c sets,
 * conv_params): a 1x1 convolution writing [N, H, W, M] (Y^T = X^T W^T in blocks of positions,
 * the weights packed once, the bias per column), reading X [N, C, H, W] (each block's X^T
 * transposed into scratch) or [N, H, W, C] (X^T read in place), with its residual and channel
 * scale; a stem writing [N, H, W, M] (stem_channels_last_task); or a depthwise convolution
 * reading [N, H, W, C] and writing either layout (the weights reordered to [tap][channel] and
 * the bias copied once, tasks of bands of output rows as depthwise_task's). Any other node
 * with the flags is refused. */
static onyx_status channels_last_plan(op_context *ctx)
{
    const conv_params *p = ctx->params;
    conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const onyx_tensor *w = op_input(ctx, 1), *bias = op_input(ctx, 2);
    bool extras = op_input(ctx, 3) || op_input(ctx, 4); /* a residual or a channel scale */
    int64_t images = op_input(ctx, 0)->dims[0], want = ceil_div(CONV_TARGET_TASKS, OP_MAX(images, 1));
    bool constant = g->axes == 2 && w->data; /* constant weights, which the plan reads */
    bool unit = constant && p->group == 1;
    for (int d = 0; d < g->axes; d++)
        unit = unit && g->kernel[d] == 1 && g->stride[d] == 1 && g->pad_begin[d] == 0 && g->pad_end[d] == 0;
    /* A stem: an image's few channels, any kernel without dilation along the rows. */
    bool stem = constant && p->group == 1 && s->channels <= CONV_STEM_CHANNELS && g->dilation[1] == 1 &&
                !p->channels_last_input && !extras;
    bool depthwise = constant && s->channels_per_group == 1 && s->maps_per_group == 1 && p->channels_last_input &&
                     !extras;
    if (!(unit && p->channels_last_output) && !stem && !depthwise)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "channels_last_output and channels_last_input need constant weights over two axes and "
                        "a 1x1 convolution (one group, unit strides, no padding) writing channels last, a stem "
                        "(one group, at most %d input channels, no dilation along the rows) writing them, or a "
                        "depthwise convolution reading them; only the 1x1 one takes a residual or a scale",
                        CONV_STEM_CHANNELS);
    s->channels_last = true;
    bool empty = g->out_count == 0 || s->maps == 0 || images == 0;
    if (s->channels == 0 && !empty)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "channels_last_output and channels_last_input need at least one input channel");
    if (empty || s->channels == 0) { /* an empty output: no tasks */
        ctx->n_tasks = 0;
        ctx->scratch_bytes = 0;
        return ONYX_OK;
    }
    if (depthwise) {
        int64_t channels = s->channels, taps = g->kernel_count;
        s->nhwc_weights = op_alloc_state(ctx, (size_t)(channels * (taps + 1)) * sizeof(float));
        if (!s->nhwc_weights)
            return ONYX_ERROR_OUT_OF_MEMORY;
        s->nhwc_bias = s->nhwc_weights + channels * taps;
        const float *weights = w->data;
        for (int64_t c = 0; c < channels; c++) {
            for (int64_t t = 0; t < taps; t++)
                s->nhwc_weights[t * channels + c] = weights[c * taps + t];
            s->nhwc_bias[c] = bias ? ((const float *)bias->data)[c] : 0.0f;
        }
        depthwise_bands(s, want);
        ctx->n_tasks = images * s->bands;
        ctx->task_cost = channels * s->band_rows * g->out[1] * taps;
        /* The end blocks' copies (depthwise_nhwc_floats), and a row of the output unless it is
         * channels last (written in place). */
        conv2d_window win = window_2d(g);
        ctx->scratch_bytes = (size_t)(depthwise_nhwc_floats(&win, channels) +
                                      (p->channels_last_output ? 0 : g->out[1] * channels)) *
                                 sizeof(float) +
                             2 * CONV_SCRATCH_ALIGN;
        return ONYX_OK;
    }
    const gemm_kernel *kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    size_t bytes = gemm_packed_b_bytes(kernel, s->rows, s->maps);
    void *memory = bytes != SIZE_MAX ? op_alloc_state(ctx, bytes) : NULL;
    /* A stem's patches hold (kx, ky, c) (stem_channels_last_task): the weights' rows so too. */
    float *reordered = memory && !unit ? op_alloc_temp(ctx, (size_t)(s->maps * s->rows) * sizeof(float)) : NULL;
    if (!memory || (!unit && !reordered))
        return ONYX_ERROR_OUT_OF_MEMORY;
    const float *weights = w->data;
    int64_t kh = g->kernel[0], kw = g->kernel[1], channels = s->channels;
    for (int64_t m = 0; reordered && m < s->maps; m++)
        for (int64_t c = 0; c < channels; c++)
            for (int64_t ky = 0; ky < kh; ky++)
                for (int64_t kx = 0; kx < kw; kx++)
                    reordered[m * s->rows + (kx * kh + ky) * channels + c] = weights[m * s->rows + (c * kh + ky) * kw + kx];
    gemm_pack_b(&s->packed_weights, kernel, true, s->rows, s->maps, unit ? weights : reordered, s->rows, memory);
    op_free_temp(ctx, reordered);
    if (!unit) {
        /* Bands of output rows, as the depthwise convolution's. */
        depthwise_bands(s, want);
        ctx->n_tasks = images * s->bands;
        ctx->task_cost = s->band_rows * g->out[1] * s->maps * s->rows;
        ctx->scratch_bytes = (size_t)(stem_columns(g) * kh * channels) * sizeof(float) + CONV_SCRATCH_ALIGN;
        return ONYX_OK;
    }
    /* Tasks (image, block of positions, chunk of maps): blocks of at most CONV_NHWC_BLOCK
     * positions, as many as a multiple of CONV_TARGET_TASKS so that 2 or 4 threads share them
     * evenly; where there are fewer blocks than that (14x14, 7x7), the maps cut into chunks of
     * whole panels of the packed weights instead (rows of a block are too few to cut further:
     * 8 positions took two register tiles, one a third empty). X^T in scratch unless read in
     * place, unscaled. */
    int64_t positions = g->out_count, nr = gemm_panel_columns(kernel);
    int64_t blocks = ceil_div(positions, CONV_NHWC_BLOCK);
    int64_t chunks = blocks >= want ? 1 : OP_MIN(ceil_div(want, blocks), ceil_div(s->maps, nr));
    s->map_chunk = round_up(ceil_div(s->maps, chunks), nr);
    s->map_chunks = ceil_div(s->maps, s->map_chunk);
    if (blocks == 1 && s->map_chunks % 2 && s->map_chunks > 1 && positions >= 2 * CONV_BLOCK_ALIGN)
        blocks = 2; /* an odd number of chunks (three of whole panels) in each of two blocks, so
                       that 2 threads share the tasks evenly (14x14 projections to 48 or 80 maps) */
    else if (blocks > 1)
        blocks = round_up(blocks, want);
    s->block = OP_MAX(1, round_up(ceil_div(positions, blocks), CONV_MAP_ALIGN));
    s->blocks = ceil_div(positions, s->block);
    ctx->n_tasks = images * s->blocks * s->map_chunks;
    ctx->task_cost = s->block * s->map_chunk * s->rows;
    /* The channel scale on whichever is smaller of a task's rows of X^T and its chunk of W^T
     * (a block of 3136 positions by 144 channels against 144 x 24 weights). */
    s->scaled_weights = op_input(ctx, 4) && p->channels_last_input && s->map_chunk < s->block;
    bool copy = !p->channels_last_input || (op_input(ctx, 4) && !s->scaled_weights);
    size_t floats = copy ? (size_t)(s->block * s->channels) : 0;
    if (s->scaled_weights)
        floats = gemm_packed_b_bytes(kernel, s->rows, s->map_chunk) / sizeof(float);
    ctx->scratch_bytes = floats ? floats * sizeof(float) + CONV_SCRATCH_ALIGN : 0;
    return ONYX_OK;
}

/* Columns [j0, j0 + width) of the packed W^T (j0 a whole number of its panels). */
static gemm_packed_b weights_chunk(const conv_state *s, int64_t j0, int64_t width)
{
    gemm_packed_b chunk = s->packed_weights;
    chunk.panels += j0 * chunk.k;
    chunk.n = width;
    return chunk;
}

/* `rows` rows of Y^T, from its float `at` on, columns [j0, j0 + width) (j0 a whole number of
 * the packed weights' panels): rows of X^T or patches (lda apart from a) times the packed W^T
 * (or `scaled`, its chunk scaled), with the epilogue (bias per column, activation, residual) on
 * the tiles. */
static void channels_last_product(const op_context *ctx, const float *a, int64_t lda, int64_t rows, int64_t at,
                                  int64_t j0, int64_t width, const gemm_packed_b *scaled)
{
    const conv_state *s = ctx->state;
    const conv_params *p = ctx->params;
    const onyx_tensor *bias = op_input(ctx, 2), *z = op_input(ctx, 3); /* the residual, channels last as Y^T */
    gemm_packed_b panels = scaled ? *scaled : weights_chunk(s, j0, width);
    gemm_plan plan;
    gemm_plan_init(&plan, panels.kernel, rows, width, s->rows, false, false, &panels);
    gemm_args args = {.a = a, .lda = lda, .c = (float *)ctx->outputs[0]->data + at + j0, .ldc = s->maps,
                      .alpha = 1, .beta = 0,
                      .epilogue = {.bias = bias ? (const float *)bias->data + j0 : NULL,
                                   .activation = (gemm_activation)p->activation,
                                   .params = {p->activation_params[0], p->activation_params[1]},
                                   .residual = z ? (const float *)z->data + at + j0 : NULL, .ld_residual = s->maps,
                                   .residual_first = p->residual_first}};
    gemm_run(&plan, &args, 0, gemm_plan_tasks(&plan), NULL);
}

/* A task of channels_last_output for a 1x1 convolution: a block of positions of one image, its
 * rows of X^T (positions x channels) read in place (X channels last) or transposed into
 * scratch, scaled there by the channel scale if any (and kept for the thread's next task on
 * the same block, *loaded), times a chunk of the packed W^T into the same rows of Y^T; or with
 * scaled_weights, X^T read in place times the chunk scaled in scratch (kept for the thread's
 * next task of the same image and chunk). */
static void channels_last_output_task(const op_context *ctx, int64_t task, float *scratch, int64_t *loaded)
{
    const conv_state *s = ctx->state;
    int64_t per_image = s->blocks * s->map_chunks, image = task / per_image, chunk = task % s->map_chunks;
    int64_t block = task / s->map_chunks, positions = s->geometry.out_count, channels = s->channels;
    int64_t i0 = block % s->blocks * s->block, rows = OP_MIN(s->block, positions - i0);
    const float *x = (const float *)ctx->inputs[0]->data, *a = scratch, *scale = channel_scale(ctx, image);
    int64_t j0 = chunk * s->map_chunk, width = OP_MIN(s->map_chunk, s->maps - j0);
    if (s->scaled_weights) {
        gemm_packed_b weights = weights_chunk(s, j0, width), scaled = weights;
        float *panels = align_scratch(scratch);
        scaled.panels = panels;
        if (*loaded != image * s->map_chunks + chunk) {
            gemm_packed_b_scale_rows(&scaled, &weights, scale, panels);
            *loaded = image * s->map_chunks + chunk;
        }
        channels_last_product(ctx, x + (image * positions + i0) * channels, channels, rows,
                              (image * positions + i0) * s->maps, j0, width, &scaled);
        return;
    }
    bool in_place = ((const conv_params *)ctx->params)->channels_last_input && !scale;
    if (in_place) {
        a = x + (image * positions + i0) * channels;
    } else if (*loaded != block) {
        if (((const conv_params *)ctx->params)->channels_last_input) {
            scale_columns(scratch, x + (image * positions + i0) * channels, rows, channels, scale);
        } else {
            conv_kernels_get(GEMM_KERNEL_BEST)
                ->transpose(x + image * channels * positions + i0, positions, channels, rows, scratch, channels);
            if (scale)
                scale_columns(scratch, scratch, rows, channels, scale);
        }
        *loaded = block;
    }
    channels_last_product(ctx, a, channels, rows, (image * positions + i0) * s->maps, j0, width, NULL);
}

/* A task of channels_last_output for a stem: output rows [row0, row1) of one image. For each,
 * the input rows its taps read are interleaved into one row of `columns`, [x][ky][c] with the
 * padding as zeros: the patch of output column ox (kx, ky, c, as the packed weights' rows) is
 * then the run of kernel_w * kernel_h * channels floats at ox * stride_w * kernel_h * channels,
 * and the product reads the patches in place, rows that far apart. */
static void stem_channels_last_task(const op_context *ctx, int64_t task, float *columns)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const conv_kernels *kernels = conv_kernels_get(GEMM_KERNEL_BEST);
    int64_t image = task / s->bands, row0 = task % s->bands * s->band_rows;
    int64_t row1 = OP_MIN(g->out[0], row0 + s->band_rows), channels = s->channels, kh = g->kernel[0];
    int64_t column = kh * channels, width = stem_columns(g);
    const float *in = (const float *)ctx->inputs[0]->data + image * channels * g->in_count;
    /* Columns [x0, x1) lie over the input row; the rest is padding. */
    int64_t x0 = OP_MIN(width, g->pad_begin[1]), x1 = OP_MAX(x0, OP_MIN(width, g->pad_begin[1] + g->in[1]));
    memset(columns, 0, (size_t)(x0 * column) * sizeof(float));
    memset(columns + x1 * column, 0, (size_t)((width - x1) * column) * sizeof(float));
    for (int64_t oy = row0; oy < row1; oy++) {
        for (int64_t ky = 0; ky < kh; ky++) {
            int64_t iy = oy * g->stride[0] - g->pad_begin[0] + ky * g->dilation[0];
            if (iy < 0 || iy >= g->in[0]) {
                for (int64_t x = x0; x < x1; x++)
                    memset(columns + x * column + ky * channels, 0, (size_t)channels * sizeof(float));
                continue;
            }
            kernels->transpose(in + iy * g->in[1] + (x0 - g->pad_begin[1]), g->in_count, channels, x1 - x0,
                               columns + x0 * column + ky * channels, column);
        }
        channels_last_product(ctx, columns, g->stride[1] * column, g->out[1],
                              (image * g->out_count + oy * g->out[1]) * s->maps, 0, s->maps, NULL);
    }
}

/* A task of a depthwise convolution reading channels last: output rows [row0, row1) of one
 * image, a row of every channel at a time (depthwise_nhwc) into the output (channels last
 * too) or into scratch, its activation applied there while it is in cache, then transposed
 * into the output planes. */
static void channels_last_input_task(const op_context *ctx, int64_t task, float *tile)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const conv_kernels *kernels = conv_kernels_get(GEMM_KERNEL_BEST);
    int64_t image = task / s->bands, row0 = task % s->bands * s->band_rows, row1 = OP_MIN(g->out[0], row0 + s->band_rows);
    int64_t channels = s->channels, positions = g->out_count, width = g->out[1];
    bool last = ((const conv_params *)ctx->params)->channels_last_output;
    conv2d_window w = window_2d(g);
    const float *in = (const float *)ctx->inputs[0]->data + image * g->in_count * channels;
    float *out = (float *)ctx->outputs[0]->data + image * channels * positions;
    gemm_epilogue activation = conv_epilogue(ctx, 0, 0); /* no residual: refused in the plan */
    float *copies = last ? tile : align_scratch(tile + width * channels);
    for (int64_t oy = row0; oy < row1; oy++) {
        float *row = last ? out + oy * width * channels : tile;
        kernels->depthwise_nhwc(&w, channels, in, s->nhwc_weights, s->nhwc_bias, oy, row, copies);
        if (activation.activation != GEMM_ACTIVATION_NONE)
            gemm_apply_epilogue(NULL, row, channels, width, channels, &activation);
        if (!last)
            kernels->transpose(tile, channels, width, channels, out + oy * width, positions);
    }
}

/* Each task: output positions [first, last) of one image and group for a chunk of its maps, as
 * their weights (maps x rows, read in place) times the im2col block (rows x positions, built
 * in scratch unless direct, and kept for the thread's next task on the same block), with the
 * bias, activation and residual in the GEMM's epilogue. */
static void conv_tasks_f32(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const float *x = ctx->inputs[0]->data, *w = ctx->inputs[1]->data;
    const onyx_tensor *bias = op_input(ctx, 2);
    int64_t groups = ((const conv_params *)ctx->params)->group, loaded = -1;
    float *columns = align_scratch(scratch);
    for (int64_t task = begin; task < end; task++) {
        if (s->channels_last) {
            if (s->nhwc_weights)
                channels_last_input_task(ctx, task, columns);
            else if (s->direct)
                channels_last_output_task(ctx, task, columns, &loaded);
            else
                stem_channels_last_task(ctx, task, columns);
            continue;
        }
        if (s->depthwise) {
            if (s->lanes)
                depthwise_lanes_task(ctx, task, columns);
            else
                depthwise_task(ctx, task, columns);
            continue;
        }
        if (s->transposed) {
            transposed_task(ctx, task, columns, &loaded);
            continue;
        }
        if (s->shifted) {
            shifted_task(ctx, task, columns);
            continue;
        }
        if (s->winograd) {
            winograd_task(ctx, task, columns, &loaded);
            continue;
        }
        int64_t chunk = task % s->map_chunks, block_task = task / s->map_chunks;
        int64_t block = block_task % s->blocks, image_group = block_task / s->blocks;
        int64_t group = image_group % groups, image = image_group / groups;
        int64_t first, last;
        float_block_span(s, block, &first, &last);
        int64_t width = last - first;
        const float *in = x + (image * s->channels + group * s->channels_per_group) * g->in_count;
        const float *col = in + first;
        int64_t ldb = g->in_count;
        if (!s->direct) {
            if (loaded != block_task) {
                if (g->axes == 2) {
                    conv2d_window w = window_2d(g);
                    const conv_kernels *k = conv_kernels_get(GEMM_KERNEL_BEST);
                    k->im2col(&w, s->channels_per_group, in, first, last, columns);
                } else {
                    im2col_f32(g, s->channels_per_group, in, first, last, columns);
                }
                loaded = block_task;
            }
            col = columns;
            ldb = width;
        }
        int64_t map0 = group * s->maps_per_group + chunk * s->map_chunk;
        int64_t maps = OP_MIN(s->map_chunk, s->maps_per_group - chunk * s->map_chunk);
        int64_t at = (image * s->maps + map0) * g->out_count + first;
        const float *a = w + map0 * s->rows, *scale = channel_scale(ctx, image);
        if (scale) { /* direct: the scratch holds no columns */
            scale_columns(columns, a, maps, s->rows, scale);
            a = columns;
        }
        gemm_plan plan;
        gemm_plan_init(&plan, NULL, maps, width, s->rows, false, false, NULL);
        gemm_args args = {.a = a, .lda = s->rows, .b = col, .ldb = ldb,
                          .c = (float *)ctx->outputs[0]->data + at, .ldc = g->out_count, .alpha = 1, .beta = 0,
                          .epilogue = conv_epilogue(ctx, at, g->out_count)};
        args.epilogue.row_bias = bias ? (const float *)bias->data + map0 : NULL;
        gemm_run(&plan, &args, 0, gemm_plan_tasks(&plan), NULL);
    }
}

static onyx_status conv_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    if (x->dtype == ONYX_DTYPE_FLOAT) {
        onyx_status st = conv_forward_reshape(ctx, 1, 2, sizeof(float));
        if (!st && ctx->concrete)
            conv_float_plan(ctx);
        return st;
    }
    if (!is_half(x->dtype))
        return conv_forward_reshape(ctx, 1, 2, onyx_dtype_size(x->dtype));
    /* float16 / bfloat16 are computed in float: besides the im2col block, the scratch holds
     * the image and weights of one group and the block's output, widened (conv_tasks_half). */
    onyx_status st = conv_forward_reshape(ctx, 1, 2, sizeof(float));
    if (st || !ctx->concrete)
        return st;
    const conv_state *s = ctx->state;
    int64_t floats = s->channels_per_group * s->geometry.in_count + s->maps_per_group * (s->rows + s->block);
    ctx->scratch_bytes += (size_t)floats * sizeof(float);
    return ONYX_OK;
}

/* Each task: output positions [first, last) of one image and group, as W_group (maps x rows)
 * times the im2col block (rows x positions), then the bias. */
#define CONV_TASKS(T, GEMM, IM2COL)                                                            \
    static void conv_tasks_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        T *columns = scratch;                                                                  \
        const conv_state *s = ctx->state;                                                      \
        const window_geometry *g = &s->geometry;                                               \
        const T *x = ctx->inputs[0]->data, *w = ctx->inputs[1]->data;                          \
        const onyx_tensor *bias = op_input(ctx, 2);                                            \
        int64_t groups = ((const conv_params *)ctx->params)->group;                            \
        int64_t rows = s->rows;                                                                \
        for (int64_t task = begin; task < end; task++) {                                       \
            int64_t image, group, first, last;                                                 \
            conv_forward_task(s, groups, task, &image, &group, &first, &last);                 \
            const T *in = x + (image * s->channels + group * s->channels_per_group) * g->in_count; \
            const T *col = in + first;                                                         \
            int64_t ldb = g->in_count;                                                         \
            if (!s->direct) {                                                                  \
                IM2COL(g, s->channels_per_group, in, first, last, columns);                    \
                col = columns;                                                                 \
                ldb = last - first;                                                            \
            }                                                                                  \
            int64_t map0 = group * s->maps_per_group;                                          \
            T *y = (T *)ctx->outputs[0]->data + (image * s->maps + map0) * g->out_count + first; \
            GEMM(false, false, s->maps_per_group, last - first, rows, 1, w + map0 * rows, rows, col, ldb, 0, y, \
                 g->out_count);                                                                \
            for (int64_t m = 0; bias && m < s->maps_per_group; m++) {                          \
                T b = ((const T *)bias->data)[map0 + m];                                       \
                for (int64_t i = 0; i < last - first; i++)                                     \
                    y[m * g->out_count + i] += b;                                              \
            }                                                                                  \
        }                                                                                      \
    }
CONV_TASKS(double, gemm_f64, im2col_f64)

/* Conv of float16 or bfloat16 as the float tasks, on the image and weights of the task's
 * group widened to float in scratch (once for a thread's consecutive tasks of one image and
 * group), and each output rounded back once, after the bias. */
static void conv_tasks_half(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const conv_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    bool bf16 = ctx->inputs[0]->dtype == ONYX_DTYPE_BFLOAT16;
    const uint16_t *x = ctx->inputs[0]->data, *w = ctx->inputs[1]->data;
    const onyx_tensor *bias = op_input(ctx, 2);
    uint16_t *out = ctx->outputs[0]->data;
    int64_t groups = ((const conv_params *)ctx->params)->group, rows = s->rows;
    float *columns = scratch;
    float *image = columns + (s->direct ? 0 : rows * s->block);
    float *weights = image + s->channels_per_group * g->in_count;
    float *y = weights + s->maps_per_group * rows;
    int64_t loaded = -1; /* image * groups + group whose data image and weights hold */
    for (int64_t task = begin; task < end; task++) {
        int64_t n, group, first, last;
        conv_forward_task(s, groups, task, &n, &group, &first, &last);
        int64_t map0 = group * s->maps_per_group, count = last - first;
        if (loaded != n * groups + group) {
            half_widen(image, bf16, x + (n * s->channels + group * s->channels_per_group) * g->in_count, 1,
                       s->channels_per_group * g->in_count);
            half_widen(weights, bf16, w + map0 * rows, 1, s->maps_per_group * rows);
            loaded = n * groups + group;
        }
        const float *col = image + first;
        int64_t ldb = g->in_count;
        if (!s->direct) {
            im2col_f32(g, s->channels_per_group, image, first, last, columns);
            col = columns;
            ldb = count;
        }
        gemm_f32(false, false, s->maps_per_group, count, rows, 1, weights, rows, col, ldb, 0, y, count);
        for (int64_t m = 0; m < s->maps_per_group; m++) {
            float b = 0;
            if (bias)
                half_widen(&b, bf16, (const uint16_t *)bias->data + map0 + m, 1, 1);
            uint16_t *o = out + (n * s->maps + map0 + m) * g->out_count + first;
            for (int64_t i = 0; i < count; i++)
                o[i] = bf16 ? float_to_bfloat16(y[m * count + i] + b) : float_to_half(y[m * count + i] + b);
        }
    }
}

static onyx_status conv_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    if (is_half(ctx->inputs[0]->dtype)) {
        conv_tasks_half(ctx, begin, end, scratch);
        return ONYX_OK;
    }
    return run_float_kernel(ctx, begin, end, scratch, conv_tasks_f32, conv_tasks_double);
}

const op_descriptor op_Conv = {conv_check, conv_reshape, conv_run, 0};

/* ---- onyx.FusedConv ---------------------------------------------------------------------- */

/* Conv(X, W, B) of float32, then in its epilogue an activation (attribute `activation`, a
 * gemm_activation, with `activation_alpha` and `activation_beta`: Clip's min and max,
 * HardSigmoid's alpha and beta) and the residual Z (input 3, of Y's shape), added after the
 * activation or, with residual_first, before it. With S (input 4, [N or 1, C, 1, 1]), a 1x1
 * convolution of X S instead: the weights (or the copy of X the product turned around reads)
 * scaled per image. Made by runtime/passes_conv.c. */
static onyx_status fused_conv_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 5, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 5, 2, DT(FLOAT));
    conv_params *p;
    if (!st)
        st = conv_params_read(ctx, &p);
    int64_t activation = 0, residual_first = 0;
    if (!st)
        st = op_attr_int(ctx, "activation", 0, &activation);
    if (!st)
        st = op_attr_float(ctx, "activation_alpha", 0, &p->activation_params[0]);
    if (!st)
        st = op_attr_float(ctx, "activation_beta", 0, &p->activation_params[1]);
    if (!st)
        st = op_attr_int(ctx, "residual_first", 0, &residual_first);
    int64_t last_out = 0, last_in = 0;
    if (!st)
        st = op_attr_int(ctx, "channels_last_output", 0, &last_out);
    if (!st)
        st = op_attr_int(ctx, "channels_last_input", 0, &last_in);
    if (st)
        return st;
    if ((last_out != 0 && last_out != 1) || (last_in != 0 && last_in != 1))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "channels_last_output and channels_last_input are flags (0 or 1)");
    p->channels_last_output = last_out;
    p->channels_last_input = last_in;
    if (activation < GEMM_ACTIVATION_NONE || activation > GEMM_ACTIVATION_LAST)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "unknown activation %lld", (long long)activation);
    p->activation = (int)activation;
    p->residual_first = residual_first != 0;
    op_set_output_dtypes(ctx, ONYX_DTYPE_FLOAT);
    return ONYX_OK;
}

static onyx_status fused_conv_reshape(op_context *ctx)
{
    const conv_params *p = ctx->params;
    onyx_status st = conv_forward_reshape(ctx, 1, 2, sizeof(float));
    onyx_tensor *y = op_output(ctx, 0);
    const onyx_tensor *z = op_input(ctx, 3);
    if (st)
        return st;
    if (p->channels_last_output && y->rank >= 3) {
        int64_t maps = y->dims[1];
        memmove(y->dims + 1, y->dims + 2, (size_t)(y->rank - 2) * sizeof(int64_t));
        y->dims[y->rank - 1] = maps;
    }
    bool same = !z || z->rank == y->rank;
    for (int d = 0; z && same && d < y->rank; d++)
        same = dim_may_equal(z->dims[d], y->dims[d]);
    if (!same) {
        char sz[128], sy[128];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "residual Z %s must have the shape of Y %s",
                        shape_str(z, sz, sizeof sz), shape_str(y, sy, sizeof sy));
    }
    const onyx_tensor *scale = op_input(ctx, 4), nchw = conv_input_nchw(ctx), *x = &nchw;
    if (scale) {
        bool fits = scale->rank == 4 && x->rank == 4 && dim_may_equal(scale->dims[1], x->dims[1]) &&
                    dim_may_equal(scale->dims[2], 1) && dim_may_equal(scale->dims[3], 1) &&
                    (dim_may_equal(scale->dims[0], 1) || dim_may_equal(scale->dims[0], x->dims[0]));
        if (!fits) {
            char ss[128], sx[128];
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the channel scale S %s must be [N or 1, C, 1, 1] for X %s",
                            shape_str(scale, ss, sizeof ss), shape_str(x, sx, sizeof sx));
        }
    }
    if (ctx->concrete && (p->channels_last_output || p->channels_last_input))
        return channels_last_plan(ctx);
    if (!ctx->concrete)
        return ONYX_OK;
    conv_float_plan(ctx);
    const conv_state *s = ctx->state;
    if (scale && !s->transposed && (!s->direct || s->depthwise || p->group != 1))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "a channel scale (input 4) needs a 1x1 convolution with "
                                                       "one group, unit strides and no padding");
    if (scale && !s->transposed) /* the scaled weights of a task */
        ctx->scratch_bytes = (size_t)(s->map_chunk * s->rows) * sizeof(float) + CONV_SCRATCH_ALIGN;
    return ONYX_OK;
}

static onyx_status fused_conv_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    conv_tasks_f32(ctx, begin, end, scratch);
    return ONYX_OK;
}

const op_descriptor op_FusedConv = {fused_conv_check, fused_conv_reshape, fused_conv_run, 0};

/* ---- ConvTranspose ----------------------------------------------------------------------- */

/* Reads a list attribute of non-negative values (count -1 when absent). */
static onyx_status read_sizes(op_context *ctx, const char *name, const int64_t **values, int64_t *count)
{
    onyx_status st = op_attr_ints(ctx, name, values, count);
    for (int64_t i = 0; i < *count && !st; i++)
        if ((*values)[i] < 0 || (*values)[i] > CONV_MAX_VALUE)
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                          "attribute '%s' has value %lld", name, (long long)(*values)[i]);
    return st;
}

static onyx_status conv_transpose_check(op_context *ctx)
{
    conv_params *p;
    onyx_status st = conv_check_common(ctx, DT_FLOATS, &p);
    if (!st)
        st = read_sizes(ctx, "output_padding", &p->output_padding, &p->output_padding_count);
    if (!st)
        st = read_sizes(ctx, "output_shape", &p->output_shape, &p->output_shape_count);
    return st;
}

/* The output length of spatial axis d and its padding at the beginning. The full transposed
 * convolution is stride * (in - 1) + output_padding + extent long; the padding trims it to
 * the output (a negative padding, when output_shape asks for more, extends it with zeros).
 * `requested` is the length output_shape asks for, or -1. */
static onyx_status transposed_axis(const op_context *ctx, int d, int64_t in, int64_t kernel, int64_t adjust,
                                   int64_t requested, int64_t *out, int64_t *pad_begin)
{
    const window_attrs *w = &((const conv_params *)ctx->params)->window;
    int64_t stride = w->strides[d], dilation = w->dilations[d];
    if (adjust >= stride && adjust >= dilation)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "output_padding %lld of spatial axis %d is not below its stride or dilation",
                        (long long)adjust, d);
    int64_t full = stride * (in - 1) + adjust + (kernel - 1) * dilation + 1;
    if (requested >= 0 || w->auto_pad == AUTO_PAD_SAME_UPPER || w->auto_pad == AUTO_PAD_SAME_LOWER) {
        *out = requested >= 0 ? requested : in * stride;
        int64_t total = full - *out;
        *pad_begin = w->auto_pad == AUTO_PAD_SAME_UPPER ? floor_div(total, 2) : total - floor_div(total, 2);
    } else if (w->auto_pad == AUTO_PAD_VALID) {
        *pad_begin = 0;
        *out = full;
    } else {
        *pad_begin = w->pads[d];
        *out = full - w->pads[d] - w->pads[WINDOW_MAX_AXES + d];
    }
    if (*out < 0)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the pads leave spatial axis %d of the output %lld long", d,
                        (long long)*out);
    return ONYX_OK;
}

static onyx_status conv_transpose_reshape(op_context *ctx)
{
    const conv_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *w = op_input(ctx, 1);
    int64_t maps = dim_mul(w->dims[1], p->group), kernel[WINDOW_MAX_AXES], out[WINDOW_MAX_AXES];
    int axes;
    onyx_status st = conv_shapes(ctx, 1, 2, true, maps, &axes, kernel);
    if (st)
        return st;
    /* output_shape holds the spatial dims, or a whole shape ending with them. */
    const int64_t *requested = p->output_shape_count > 0 ? p->output_shape + (p->output_shape_count == axes + 2 ? 2 : 0) : NULL;
    if (p->output_padding_count >= 0 && p->output_padding_count != axes)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'output_padding' has %lld values for %d spatial axes",
                        (long long)p->output_padding_count, axes);
    if (p->output_shape_count >= 0 && p->output_shape_count != axes && p->output_shape_count != axes + 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'output_shape' has %lld values for %d spatial axes",
                        (long long)p->output_shape_count, axes);
    window_geometry g = {.axes = axes}; /* from Y to X: the convolution this one is the adjoint of */
    for (int d = 0; d < axes; d++) {
        int64_t in = x->dims[2 + d];
        out[d] = DIM_UNKNOWN;
        if (dim_known(in) && dim_known(kernel[d]) &&
            (st = transposed_axis(ctx, d, in, kernel[d], p->output_padding_count > 0 ? p->output_padding[d] : 0,
                                  p->output_shape_count > 0 ? requested[d] : -1, &out[d], &g.pad_begin[d])))
            return st;
        g.in[d] = out[d];
        g.out[d] = in;
        g.kernel[d] = kernel[d];
        g.stride[d] = p->window.strides[d];
        g.dilation[d] = p->window.dilations[d];
    }
    conv_output_shape(ctx, maps, axes, out);
    if (!ctx->concrete)
        return ONYX_OK;

    conv_state *s;
    if ((st = conv_state_new(ctx, maps, &g, &s)))
        return st;
    ctx->n_tasks = x->dims[0] * maps;
    ctx->task_cost = g.kernel_count * g.out_count * s->channels_per_group;
    ctx->scratch_bytes = (size_t)(g.kernel_count * g.out_count) * onyx_dtype_size(x->dtype);
    return ONYX_OK;
}

/* Each task: one output plane (image, map), as the map's weights transposed (taps x channels
 * of its group) times the group's input (channels x positions), scattered onto the plane. */
#define CONV_TRANSPOSE_TASKS(T, GEMM, COL2IM)                                                  \
    static void conv_transpose_tasks_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        T *col = scratch;                                                                      \
        const conv_state *s = ctx->state;                                                      \
        const window_geometry *g = &s->geometry;                                               \
        const onyx_tensor *bias = op_input(ctx, 2);                                            \
        int64_t taps = g->kernel_count, positions = g->out_count;                              \
        for (int64_t task = begin; task < end; task++) {                                       \
            int64_t image = task / s->maps, map = task % s->maps;                              \
            int64_t group = map / s->maps_per_group, map_in_group = map % s->maps_per_group;   \
            const T *x = (const T *)ctx->inputs[0]->data +                                     \
                         (image * s->channels + group * s->channels_per_group) * positions;    \
            const T *w = (const T *)ctx->inputs[1]->data +                                     \
                         (group * s->channels_per_group * s->maps_per_group + map_in_group) * taps; \
            GEMM(true, false, taps, positions, s->channels_per_group, 1, w, s->maps_per_group * taps, x, positions, 0, \
                 col, positions);                                                              \
            T *y = (T *)ctx->outputs[0]->data + task * g->in_count;                            \
            T b = bias ? ((const T *)bias->data)[map] : 0;                                     \
            for (int64_t i = 0; i < g->in_count; i++)                                          \
                y[i] = b;                                                                      \
            COL2IM(g, 1, col, y);                                                              \
        }                                                                                      \
    }
CONV_TRANSPOSE_TASKS(float, gemm_f32, col2im_f32)
CONV_TRANSPOSE_TASKS(double, gemm_f64, col2im_f64)

static onyx_status conv_transpose_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return run_float_kernel(ctx, begin, end, scratch, conv_transpose_tasks_float, conv_transpose_tasks_double);
}

const op_descriptor op_ConvTranspose = {conv_transpose_check, conv_transpose_reshape, conv_transpose_run, 0};
