/* Conv and ConvTranspose over 1 to 6 spatial axes, with groups, strides, dilations, pads or
 * auto_pad, and an optional bias. Both are lowered to the GEMM kernel: Conv multiplies each
 * group's weights by the im2col matrix of its input, built a block of output positions at a
 * time in per-thread scratch (or read in place for a 1x1 kernel with unit stride and no
 * padding); ConvTranspose multiplies the transposed weights of one output channel by the
 * input and scatters the product onto the output with col2im. */
#include "count.h"
#include "float_dispatch.h"
#include "gemm.h"
#include "im2col.h"

#include <string.h>

#define CONV_MAX_VALUE ((int64_t)INT32_MAX)
/* Elements of im2col scratch per block of output positions (1 MiB of floats), and the fewest
 * positions a block has, below which the product gets too thin to run well. */
#define CONV_SCRATCH_ELEMENTS ((int64_t)1 << 18)
#define CONV_MIN_BLOCK 32

typedef struct conv_params {
    window_attrs window;
    int64_t group;
    /* ConvTranspose: its lists as in the model (count -1 when absent), checked against the
     * spatial axes once the rank of X is known */
    const int64_t *output_padding, *output_shape;
    int64_t output_padding_count, output_shape_count;
} conv_params;

typedef struct conv_state {
    window_geometry geometry; /* Conv: from X to Y; ConvTranspose: from Y to X (its adjoint) */
    int64_t channels, channels_per_group, maps, maps_per_group; /* C and M, and per group */
    int64_t block, blocks; /* Conv: output positions per task, and tasks per image and group */
    bool direct;           /* Conv: the im2col matrix is the input itself */
} conv_state;

static onyx_status conv_check_common(op_context *ctx, conv_params **out)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    for (int i = 0; i < 3 && !st; i++)
        st = op_check_input(ctx, i, i < 2, DT_FLOATS);
    for (int i = 1; i < 3 && !st; i++)
        st = op_check_same_dtype(ctx, 0, i);
    if (st)
        return st;
    conv_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = window_attrs_read(ctx, WINDOW_AUTO_PAD | WINDOW_DILATIONS, &p->window)) ||
        (st = op_attr_int(ctx, "group", 1, &p->group)))
        return st;
    if (p->group < 1 || p->group > CONV_MAX_VALUE)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'group' is %lld, not a positive count",
                        (long long)p->group);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    *out = p;
    return ONYX_OK;
}

static onyx_status conv_check(op_context *ctx)
{
    conv_params *p;
    return conv_check_common(ctx, &p);
}

/* Checks the shapes of X, W and B: ranks, channels and groups, `maps` (M) feature maps, and
 * the kernel taken from W or checked against kernel_shape (unknown entries when W's dims
 * are). Returns the number of spatial axes. */
static onyx_status conv_shapes(op_context *ctx, bool transposed, int64_t maps, int *axes, int64_t *kernel)
{
    const conv_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *w = op_input(ctx, 1), *b = op_input(ctx, 2);
    char sx[128], sw[128];
    *axes = x->rank - 2;
    onyx_status st = window_check_axes(ctx, &p->window, x, *axes);
    if (st)
        return st;
    if (w->rank != x->rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "W %s must have the rank of X %s", shape_str(w, sw, sizeof sw),
                        shape_str(x, sx, sizeof sx));
    int64_t c = x->dims[1], group = p->group;
    /* Conv's W is [M, C / group, kernel...], ConvTranspose's [C, M / group, kernel...]. */
    bool channels_ok = transposed ? dim_may_equal(c, w->dims[0])
                                  : !dim_known(c) || dim_may_equal(c / group, w->dims[1]);
    if (!channels_ok || (dim_known(c) && c % group))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X %s and W %s do not agree on the channels for group %lld",
                        shape_str(x, sx, sizeof sx), shape_str(w, sw, sizeof sw), (long long)group);
    if (dim_known(maps) && maps % group)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "W %s gives %lld feature maps, not a multiple of group %lld",
                        shape_str(w, sw, sizeof sw), (long long)maps, (long long)group);
    for (int d = 0; d < *axes; d++) {
        int64_t k = w->dims[2 + d];
        if (dim_known(k) && k < 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "W %s has an empty kernel", shape_str(w, sw, sizeof sw));
        if (p->window.has_kernel && !dim_may_equal(k, p->window.kernel[d]))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "W %s does not match attribute 'kernel_shape'",
                            shape_str(w, sw, sizeof sw));
        kernel[d] = p->window.has_kernel ? p->window.kernel[d] : k;
    }
    if (b && (b->rank != 1 || !dim_may_equal(b->dims[0], maps)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "B %s must be 1-D with one value per feature map (%lld)",
                        shape_str(b, sx, sizeof sx), (long long)maps);
    return ONYX_OK;
}

/* Y = [N, M, spatial...]. */
static void conv_output_shape(op_context *ctx, int64_t maps, int axes, const int64_t *spatial)
{
    onyx_tensor *y = op_output(ctx, 0);
    y->rank = axes + 2;
    y->dims[0] = op_input(ctx, 0)->dims[0];
    y->dims[1] = maps;
    memcpy(y->dims + 2, spatial, (size_t)axes * sizeof(int64_t));
}

static conv_state *conv_state_new(op_context *ctx, int64_t maps)
{
    const conv_params *p = ctx->params;
    conv_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return NULL;
    s->channels = op_input(ctx, 0)->dims[1];
    s->channels_per_group = s->channels / p->group;
    s->maps = maps;
    s->maps_per_group = maps / p->group;
    ctx->state = s;
    return s;
}

/* ---- Conv -------------------------------------------------------------------------------- */

static onyx_status conv_reshape(op_context *ctx)
{
    const conv_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *w = op_input(ctx, 1);
    int64_t maps = w->dims[0], kernel[WINDOW_MAX_AXES], in[WINDOW_MAX_AXES];
    int axes;
    onyx_status st = conv_shapes(ctx, false, maps, &axes, kernel);
    if (st)
        return st;
    for (int d = 0; d < axes; d++)
        in[d] = dim_known(kernel[d]) ? x->dims[2 + d] : DIM_UNKNOWN; /* no output length without the kernel */
    window_geometry g;
    if ((st = window_geometry_init(ctx, &p->window, axes, in, kernel, &g)))
        return st;
    conv_output_shape(ctx, maps, axes, g.out);
    if (!ctx->concrete)
        return ONYX_OK;

    if ((st = check_output_count(ctx, op_output(ctx, 0))) || (st = window_geometry_count(ctx, &g)))
        return st;
    conv_state *s = conv_state_new(ctx, maps);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->geometry = g;
    s->direct = g.in_count == g.out_count;
    for (int d = 0; d < axes; d++)
        s->direct = s->direct && g.kernel[d] == 1 && g.stride[d] == 1 && g.pad_begin[d] == 0;
    int64_t rows = s->channels_per_group * g.kernel_count;
    s->block = OP_MIN(g.out_count, OP_MAX(CONV_MIN_BLOCK, CONV_SCRATCH_ELEMENTS / OP_MAX(rows, 1)));
    s->blocks = s->block ? (g.out_count + s->block - 1) / s->block : 0;
    ctx->n_tasks = x->dims[0] * p->group * s->blocks;
    ctx->task_cost = s->maps_per_group * rows * s->block;
    ctx->scratch_bytes = s->direct ? 0 : (size_t)(rows * s->block) * onyx_dtype_size(x->dtype);
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
        int64_t rows = s->channels_per_group * g->kernel_count;                                \
        for (int64_t task = begin; task < end; task++) {                                       \
            int64_t block = task % s->blocks, image_group = task / s->blocks;                  \
            int64_t group = image_group % groups, image = image_group / groups;                \
            int64_t first = block * s->block, last = OP_MIN(first + s->block, g->out_count);   \
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
CONV_TASKS(float, gemm_f32, im2col_f32)
CONV_TASKS(double, gemm_f64, im2col_f64)

static onyx_status conv_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return run_float_kernel(ctx, begin, end, scratch, conv_tasks_float, conv_tasks_double);
}

const op_descriptor op_Conv = {conv_check, conv_reshape, conv_run, 0};

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
    onyx_status st = conv_check_common(ctx, &p);
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
    onyx_status st = conv_shapes(ctx, true, maps, &axes, kernel);
    if (st)
        return st;
    /* output_shape holds the spatial dims, or a whole shape ending with them. */
    const int64_t *requested = p->output_shape + (p->output_shape_count == axes + 2 ? 2 : 0);
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

    if ((st = check_output_count(ctx, op_output(ctx, 0))) || (st = window_geometry_count(ctx, &g)))
        return st;
    conv_state *s = conv_state_new(ctx, maps);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->geometry = g;
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
