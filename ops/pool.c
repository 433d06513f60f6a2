/* Pooling over the spatial axes of (N, C, D1, ..., Dn): MaxPool (with its Indices output),
 * AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool and GlobalLpPool (a window as large as
 * the input), and MaxUnpool, which scatters pooled values back to the positions their indices
 * name.
 *
 * Padding never contributes a value: MaxPool and LpPool skip it, AveragePool counts it only
 * with count_include_pad. A window that holds no input element at all (a large dilation over
 * a small input) gives -inf (the lowest value of an integer type) and index -1 for MaxPool,
 * NaN for AveragePool and 0 for LpPool. */
#include "conv_kernels.h"
#include "count.h"
#include "reduce.h"
#include "window.h"

#include <math.h>
#include <string.h>

/* The most floats of input the MaxPool row kernel copies at a time. */
#define POOL_COPY_FLOATS ((int64_t)1 << 16)

typedef enum pool_kind { POOL_MAX, POOL_AVERAGE, POOL_LP } pool_kind;

typedef struct pool_params {
    pool_kind kind;
    bool global;
    window_attrs window;
    bool count_include_pad;     /* AveragePool */
    bool column_major_indices;  /* MaxPool's storage_order = 1 */
    int64_t p;                  /* LpPool */
} pool_params;

typedef struct pool_state {
    window_geometry geometry;
    /* float32 without Indices: 2-D windows by conv_kernels' row kernels (window set), global
     * averages by their plane sum (plane_sum), one task per output row; NULL: the general walk */
    const conv_kernels *rows;
    conv2d_window window;
    bool plane_sum;
    int64_t rows_per_plane;                /* output rows (along the last axis) per (n, c) */
    int64_t in_strides[WINDOW_MAX_AXES];   /* of the input plane, row-major */
} pool_state;

/* The attributes of each operator version: features for window_attrs_read. */
static unsigned window_features(const op_context *ctx, pool_kind kind)
{
    unsigned f = WINDOW_KERNEL_REQUIRED | WINDOW_AUTO_PAD;
    if (kind == POOL_MAX && ctx->opset >= 10)
        f |= WINDOW_DILATIONS | WINDOW_CEIL_MODE;
    if (kind == POOL_AVERAGE && ctx->opset >= 10)
        f |= WINDOW_CEIL_MODE;
    if (kind == POOL_AVERAGE && ctx->opset >= 19)
        f |= WINDOW_DILATIONS;
    if (kind == POOL_LP && ctx->opset >= 18)
        f |= WINDOW_DILATIONS | WINDOW_CEIL_MODE;
    return f;
}

static onyx_status pool_check(op_context *ctx, pool_kind kind, bool global)
{
    bool indices = kind == POOL_MAX && !global && ctx->opset >= 8;
    uint32_t dtypes = kind == POOL_MAX && !global && ctx->opset >= 12 ? DT_FLOATS | DT(INT8) | DT(UINT8) : DT_FLOATS;
    onyx_status st = op_check_arity(ctx, 1, 1, 1, indices ? 2 : 1);
    if (!st)
        st = op_check_input(ctx, 0, true, dtypes);
    if (st)
        return st;
    pool_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kind = kind;
    p->global = global;
    if (global)
        window_attrs_init(&p->window);
    else if ((st = window_attrs_read(ctx, window_features(ctx, kind), &p->window)))
        return st;
    int64_t flag = 0;
    if (kind == POOL_AVERAGE && ctx->opset >= 7 && (st = op_attr_int(ctx, "count_include_pad", 0, &flag)))
        return st;
    p->count_include_pad = flag != 0;
    if (indices && (st = op_attr_int(ctx, "storage_order", 0, &flag)))
        return st;
    if (indices && flag != 0 && flag != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute 'storage_order' is %lld, not 0 or 1", (long long)flag);
    p->column_major_indices = indices && flag == 1;
    if (kind == POOL_LP) {
        if ((st = op_attr_int(ctx, "p", 2, &p->p)))
            return st;
        if (p->p < 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "attribute 'p' is %lld, not a positive integer", (long long)p->p);
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    if (op_output(ctx, 1))
        op_output(ctx, 1)->dtype = ONYX_DTYPE_INT64;
    return ONYX_OK;
}

/* Picks the row kernels for a float32 MaxPool or AveragePool over two axes, or the plane sum
 * for a GlobalAveragePool (one task per plane then). */
static void fast_path(const pool_params *p, pool_state *s, op_context *ctx)
{
    const window_geometry *g = &s->geometry;
    if (p->global) {
        if (p->kind == POOL_AVERAGE) {
            s->rows = conv_kernels_get(GEMM_KERNEL_BEST);
            s->plane_sum = true;
            ctx->task_cost = g->in_count;
        }
        return;
    }
    if (g->axes != 2 || (p->kind == POOL_MAX && g->kernel[1] > CONV_WINDOW_MAX_KERNEL))
        return;
    s->rows = conv_kernels_get(GEMM_KERNEL_BEST);
    s->window = (conv2d_window){.in_h = g->in[0], .in_w = g->in[1], .out_h = g->out[0], .out_w = g->out[1],
                                .kernel_h = g->kernel[0], .kernel_w = g->kernel[1], .stride_h = g->stride[0],
                                .stride_w = g->stride[1], .dilation_h = g->dilation[0],
                                .dilation_w = g->dilation[1], .pad_top = g->pad_begin[0],
                                .pad_left = g->pad_begin[1], .pad_bottom = g->pad_end[0],
                                .pad_right = g->pad_end[1]};
    /* MaxPool copies the input of up to a plane's rows (or of 256 KiB) at a time. */
    if (p->kind == POOL_MAX)
        ctx->scratch_bytes =
            (size_t)conv2d_plan_max_pool(&s->window, g->out[0], POOL_COPY_FLOATS) * sizeof(float) + 64;
}

static onyx_status pool_reshape(op_context *ctx)
{
    const pool_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    int axes = x->rank - 2;
    onyx_status st = window_check_axes(ctx, &p->window, x, axes);
    if (st)
        return st;
    /* A global pool is one window over the whole input: 1 long on every axis. */
    window_geometry g;
    if ((st = window_geometry_init(ctx, &p->window, axes, x->dims + 2, p->global ? x->dims + 2 : p->window.kernel, &g)))
        return st;
    for (int d = 0; d < axes && p->global; d++)
        g.out[d] = 1;
    for (int i = 0; i < ctx->n_outputs; i++) {
        onyx_tensor *y = op_output(ctx, i);
        if (!y)
            continue;
        y->rank = x->rank;
        y->dims[0] = x->dims[0];
        y->dims[1] = x->dims[1];
        memcpy(y->dims + 2, g.out, (size_t)axes * sizeof(int64_t));
    }
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = check_output_shape(ctx, op_output(ctx, 0))) || (st = window_geometry_count(ctx, &g)))
        return st;
    pool_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->geometry = g;
    s->rows_per_plane = shape_count(g.out, axes - 1);
    int64_t stride = 1;
    for (int d = axes - 1; d >= 0; d--) {
        s->in_strides[d] = stride;
        stride *= g.in[d];
    }
    ctx->state = s;
    ctx->n_tasks = x->dims[0] * x->dims[1] * s->rows_per_plane;
    ctx->task_cost = g.out[axes - 1] * OP_MIN(g.kernel_count, g.in_count); /* taps that read the input */
    if (x->dtype == ONYX_DTYPE_FLOAT && !op_output(ctx, 1) && p->kind != POOL_LP)
        fast_path(p, s, ctx);
    return ONYX_OK;
}

/* The input elements of the window at output position pos, as a box of offsets in the input
 * plane for REDUCE_FOR_EACH; *padded is the count of its taps inside the padded input. */
static int64_t window_box(const pool_state *s, const int64_t *pos, reduce_plan *box, int64_t *padded)
{
    const window_geometry *g = &s->geometry;
    int64_t base = 0;
    box->red_rank = g->axes;
    box->red_count = *padded = 1;
    for (int d = 0; d < g->axes; d++) {
        int64_t first, last, pad_first, pad_last;
        window_taps(g, d, pos[d], 0, g->in[d], &first, &last);
        window_taps(g, d, pos[d], -g->pad_begin[d], g->in[d] + g->pad_end[d], &pad_first, &pad_last);
        box->red_dims[d] = last - first;
        box->red_strides[d] = g->dilation[d] * s->in_strides[d];
        box->red_count *= last - first;
        *padded *= pad_last - pad_first;
        base += (pos[d] * g->stride[d] - g->pad_begin[d] + first * g->dilation[d]) * s->in_strides[d];
    }
    return base;
}

/* The Indices value of input offset `off` of plane `plane`: its flat index in X, row-major,
 * or with the spatial axes in column-major order (storage_order 1). */
static int64_t pool_index(const pool_state *s, bool column_major, int64_t plane, int64_t off)
{
    const window_geometry *g = &s->geometry;
    if (!column_major)
        return plane * g->in_count + off;
    int64_t index = 0, scale = 1;
    for (int d = 0; d < g->axes; d++) {
        index += off / s->in_strides[d] % g->in[d] * scale;
        scale *= g->in[d];
    }
    return plane * g->in_count + index;
}

/* Defines pool_rows_T: output rows [begin, end) of every kind for element type T, whose
 * lowest value is LOWEST. */
#define POOL_ROWS(T, LOWEST)                                                                   \
    static void pool_rows_##T(const op_context *ctx, int64_t begin, int64_t end)               \
    {                                                                                          \
        const pool_params *p = ctx->params;                                                    \
        const pool_state *s = ctx->state;                                                      \
        const window_geometry *g = &s->geometry;                                               \
        const onyx_tensor *indices = op_output(ctx, 1);                                        \
        int last = g->axes - 1;                                                                \
        for (int64_t row = begin; row < end; row++) {                                          \
            int64_t plane = row / s->rows_per_plane, pos[WINDOW_MAX_AXES];                     \
            for (int64_t d = last - 1, r = row % s->rows_per_plane; d >= 0; d--) {             \
                pos[d] = r % g->out[d];                                                        \
                r /= g->out[d];                                                                \
            }                                                                                  \
            const T *x = (const T *)ctx->inputs[0]->data + plane * g->in_count;                \
            T *y = (T *)ctx->outputs[0]->data + row * g->out[last];                            \
            for (pos[last] = 0; pos[last] < g->out[last]; pos[last]++) {                       \
                reduce_plan box;                                                               \
                int64_t padded, base = window_box(s, pos, &box, &padded), best = -1;           \
                double acc = 0;                                                                \
                switch (p->kind) {                                                             \
                case POOL_MAX: {                                                               \
                    T max = LOWEST;                                                            \
                    REDUCE_FOR_EACH(&box, base, off) {                                         \
                        T v = x[off];                                                          \
                        if (best < 0 || v > max || (v != v && max == max)) { /* NaN wins */    \
                            max = v;                                                           \
                            best = off;                                                        \
                        }                                                                      \
                    }                                                                          \
                    y[pos[last]] = max;                                                        \
                    if (indices)                                                               \
                        ((int64_t *)indices->data)[row * g->out[last] + pos[last]] =           \
                            best < 0 ? -1 : pool_index(s, p->column_major_indices, plane, best); \
                    break;                                                                     \
                }                                                                              \
                case POOL_AVERAGE: {                                                           \
                    REDUCE_FOR_EACH(&box, base, off) acc += x[off];                            \
                    int64_t count = p->count_include_pad ? padded : box.red_count;             \
                    y[pos[last]] = (T)(count ? acc / (double)count : NAN);                     \
                    break;                                                                     \
                }                                                                              \
                case POOL_LP:                                                                  \
                    REDUCE_FOR_EACH(&box, base, off) {                                         \
                        double v = fabs((double)x[off]);                                       \
                        acc += p->p == 2 ? v * v : pow(v, (double)p->p);                       \
                    }                                                                          \
                    y[pos[last]] = (T)(p->p == 2 ? sqrt(acc) : pow(acc, 1.0 / (double)p->p));   \
                    break;                                                                     \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }
POOL_ROWS(float, -INFINITY)
POOL_ROWS(double, -INFINITY)
POOL_ROWS(int8_t, INT8_MIN)
POOL_ROWS(uint8_t, 0)

/* Output rows [begin, end) by the row kernels, or planes [begin, end) by the plane sum. */
static void pool_rows_fast(const op_context *ctx, int64_t begin, int64_t end, float *scratch)
{
    const pool_params *p = ctx->params;
    const pool_state *s = ctx->state;
    const window_geometry *g = &s->geometry;
    const float *x = ctx->inputs[0]->data;
    float *y = ctx->outputs[0]->data;
    if (s->plane_sum) {
        for (int64_t plane = begin; plane < end; plane++)
            y[plane] = g->in_count ? s->rows->sum(x + plane * g->in_count, g->in_count) / (float)g->in_count
                                   : NAN;
        return;
    }
    for (int64_t row = begin; row < end;) {
        int64_t plane = row / s->rows_per_plane, first = row % s->rows_per_plane;
        int64_t last = OP_MIN(s->rows_per_plane, first + end - row);
        const float *in = x + plane * g->in_count;
        float *out = y + plane * g->out_count;
        if (p->kind == POOL_MAX)
            s->rows->max_pool_rows(&s->window, in, out, first, last, scratch);
        else
            s->rows->average_pool_rows(&s->window, in, p->count_include_pad, out, first, last);
        row += last - first;
    }
}

static onyx_status pool_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    if (((const pool_state *)ctx->state)->rows) {
        pool_rows_fast(ctx, begin, end, (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63));
        return ONYX_OK;
    }
    switch (ctx->inputs[0]->dtype) {
    case ONYX_DTYPE_FLOAT: pool_rows_float(ctx, begin, end); break;
    case ONYX_DTYPE_DOUBLE: pool_rows_double(ctx, begin, end); break;
    case ONYX_DTYPE_INT8: pool_rows_int8_t(ctx, begin, end); break;
    default: pool_rows_uint8_t(ctx, begin, end); break;
    }
    return ONYX_OK;
}

static onyx_status max_pool_check(op_context *ctx) { return pool_check(ctx, POOL_MAX, false); }
const op_descriptor op_MaxPool = {max_pool_check, pool_reshape, pool_run, 0};
static onyx_status average_pool_check(op_context *ctx) { return pool_check(ctx, POOL_AVERAGE, false); }
const op_descriptor op_AveragePool = {average_pool_check, pool_reshape, pool_run, 0};
static onyx_status lp_pool_check(op_context *ctx) { return pool_check(ctx, POOL_LP, false); }
const op_descriptor op_LpPool = {lp_pool_check, pool_reshape, pool_run, 0};
static onyx_status global_max_pool_check(op_context *ctx) { return pool_check(ctx, POOL_MAX, true); }
const op_descriptor op_GlobalMaxPool = {global_max_pool_check, pool_reshape, pool_run, 0};
static onyx_status global_average_pool_check(op_context *ctx) { return pool_check(ctx, POOL_AVERAGE, true); }
const op_descriptor op_GlobalAveragePool = {global_average_pool_check, pool_reshape, pool_run, 0};
static onyx_status global_lp_pool_check(op_context *ctx) { return pool_check(ctx, POOL_LP, true); }
const op_descriptor op_GlobalLpPool = {global_lp_pool_check, pool_reshape, pool_run, 0};

/* ---- onyx.GlobalAveragePool ------------------------------------------------------------- */

/* GlobalAveragePool of X with its channels last ([N, spatial..., C], as runtime/passes_conv.c
 * leaves a convolution's output): Y [N, C, 1, ...], the ONNX operator's. Tasks of an image's
 * block of channels (a cache line of each position, twice: blocks small enough for two threads
 * to share a few hundred channels evenly), summed position after position (in float, in that
 * order). */
#define CHANNELS_LAST_BLOCK 32

static onyx_status channels_last_mean_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(FLOAT));
    if (!st)
        op_set_output_dtypes(ctx, ONYX_DTYPE_FLOAT);
    return st;
}

static onyx_status channels_last_mean_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    if (x->rank < 3)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X must have rank 3 or more, not %d", x->rank);
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = x->dims[x->rank - 1];
    for (int d = 2; d < y->rank; d++)
        y->dims[d] = 1;
    if (ctx->concrete) {
        int64_t positions = shape_count(x->dims + 1, x->rank - 2);
        ctx->n_tasks = x->dims[0] * ceil_div(y->dims[1], CHANNELS_LAST_BLOCK);
        ctx->task_cost = positions * CHANNELS_LAST_BLOCK;
    }
    return ONYX_OK;
}

static onyx_status channels_last_mean_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const onyx_tensor *x = ctx->inputs[0];
    int64_t channels = x->dims[x->rank - 1], positions = shape_count(x->dims + 1, x->rank - 2);
    int64_t blocks = ceil_div(channels, CHANNELS_LAST_BLOCK);
    const float *in = x->data;
    float *y = ctx->outputs[0]->data;
    for (int64_t task = begin; task < end; task++) {
        int64_t image = task / blocks, c0 = task % blocks * CHANNELS_LAST_BLOCK;
        int64_t n = OP_MIN(CHANNELS_LAST_BLOCK, channels - c0);
        float acc[CHANNELS_LAST_BLOCK] = {0};
        const float *row = in + image * positions * channels + c0;
        if (n == CHANNELS_LAST_BLOCK) /* a whole block: the sums held in registers */
            for (int64_t p = 0; p < positions; p++, row += channels)
                for (int64_t c = 0; c < CHANNELS_LAST_BLOCK; c++)
                    acc[c] += row[c];
        else
            for (int64_t p = 0; p < positions; p++, row += channels)
                for (int64_t c = 0; c < n; c++)
                    acc[c] += row[c];
        for (int64_t c = 0; c < n; c++)
            y[image * channels + c0 + c] = positions ? acc[c] / (float)positions : NAN;
    }
    return ONYX_OK;
}

const op_descriptor op_OnyxGlobalAveragePool = {channels_last_mean_check, channels_last_mean_reshape,
                                                channels_last_mean_run, 0};

/* ---- MaxUnpool --------------------------------------------------------------------------- */

typedef struct unpool_params {
    window_attrs window;
} unpool_params;

typedef struct unpool_state {
    onyx_tensor inferred; /* the shape the indices are flat positions in */
} unpool_state;

static onyx_status unpool_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS);
    for (int i = 1; i < 3 && !st; i++)
        st = op_check_input(ctx, i, i < 2, DT(INT64));
    if (st)
        return st;
    unpool_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = window_attrs_read(ctx, WINDOW_KERNEL_REQUIRED, &p->window)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

/* The output is the shape MaxPool's input had: (in - 1) * stride + kernel - pads on each
 * spatial axis. An output_shape input overrides it (and the pads): it may be larger, the
 * inferred shape (without pads) then sits at its beginning, the rest zeros. */
static onyx_status unpool_reshape(op_context *ctx)
{
    const unpool_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *indices = op_input(ctx, 1), *shape = op_input(ctx, 2);
    onyx_tensor *y = op_output(ctx, 0);
    char sx[128], si[128];
    int axes = x->rank - 2;
    onyx_status st = window_check_axes(ctx, &p->window, x, axes);
    if (st)
        return st;
    bool same = indices->rank == x->rank;
    for (int d = 0; same && d < x->rank; d++)
        same = dim_may_equal(indices->dims[d], x->dims[d]);
    if (!same)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "I %s must have the shape of X %s",
                        shape_str(indices, si, sizeof si), shape_str(x, sx, sizeof sx));
    onyx_tensor inferred = {.dtype = x->dtype, .rank = x->rank};
    inferred.dims[0] = x->dims[0];
    inferred.dims[1] = x->dims[1];
    for (int d = 0; d < axes; d++) {
        int64_t in = x->dims[2 + d], pads = shape ? 0 : p->window.pads[d] + p->window.pads[WINDOW_MAX_AXES + d];
        inferred.dims[2 + d] =
            dim_known(in) ? (in - 1) * p->window.strides[d] + p->window.kernel[d] - pads : DIM_UNKNOWN;
        if (dim_known(in) && inferred.dims[2 + d] < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the pads leave spatial axis %d of the output %lld long", d,
                            (long long)inferred.dims[2 + d]);
    }
    *y = (onyx_tensor){.dtype = y->dtype, .rank = x->rank};
    memcpy(y->dims, inferred.dims, sizeof y->dims);
    if (shape) {
        if (shape->rank != 1 || !dim_may_equal(shape->dims[0], x->rank))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "output_shape %s must be 1-D with one value per axis of X",
                            shape_str(shape, si, sizeof si));
        if (!shape->data) {
            for (int d = 0; d < y->rank; d++)
                y->dims[d] = DIM_UNKNOWN;
            return ctx->concrete ? ONYX_DEFER : ONYX_OK;
        }
        for (int d = 0; d < y->rank; d++) {
            y->dims[d] = ((const int64_t *)shape->data)[d];
            if (dim_known(inferred.dims[d]) && y->dims[d] < inferred.dims[d])
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                "output_shape dim %d is %lld, below the %lld MaxUnpool infers",
                                d, (long long)y->dims[d], (long long)inferred.dims[d]);
        }
    }
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = check_output_shape(ctx, y)))
        return st;
    unpool_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->inferred = inferred;
    ctx->state = s;
    ctx->task_cost = tensor_count(y); /* one task: indices may point anywhere, the last write wins */
    return ONYX_OK;
}

#define UNPOOL(T)                                                                              \
    static onyx_status unpool_##T(const op_context *ctx)                                       \
    {                                                                                          \
        const unpool_state *s = ctx->state;                                                    \
        const onyx_tensor *x = ctx->inputs[0], *indices = ctx->inputs[1];                      \
        onyx_tensor *y = ctx->outputs[0];                                                      \
        int64_t count = tensor_count(&s->inferred), n = tensor_count(x);                       \
        bool reshaped = memcmp(s->inferred.dims, y->dims, (size_t)y->rank * sizeof(int64_t)) != 0; \
        memset(y->data, 0, tensor_bytes(y));                                                   \
        for (int64_t i = 0; i < n; i++) {                                                      \
            int64_t index = ((const int64_t *)indices->data)[i], at = 0, scale = 1;            \
            if (index < 0 || index >= count)                                                   \
                return op_error(ctx, ONYX_ERROR_RUNTIME, "index %lld is out of range for an output of %lld elements", \
                                (long long)index, (long long)count);                           \
            for (int d = y->rank - 1; reshaped && d >= 0; d--) {                               \
                at += index % s->inferred.dims[d] * scale;                                     \
                index /= s->inferred.dims[d];                                                  \
                scale *= y->dims[d];                                                           \
            }                                                                                  \
            ((T *)y->data)[reshaped ? at : index] = ((const T *)x->data)[i];                   \
        }                                                                                      \
        return ONYX_OK;                                                                        \
    }
UNPOOL(float)
UNPOOL(double)

static onyx_status unpool_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    return ctx->inputs[0]->dtype == ONYX_DTYPE_FLOAT ? unpool_float(ctx) : unpool_double(ctx);
}

const op_descriptor op_MaxUnpool = {unpool_check, unpool_reshape, unpool_run, 0};
