/* GridSample (opsets 16, 20 and 22): Y[n, c, o1, ..., or] samples X[n, c] at the point
 * grid[n, o1, ..., or] = (x, y, ...), normalized to [-1, 1] over the input's spatial axes
 * (the first component for the last axis), by nearest, N-linear or N-cubic interpolation;
 * points outside read zeros, the border, or the input reflected at its edges. Opset 16 has
 * 2 spatial axes and names the modes bilinear and bicubic; opset 20 any number of spatial
 * axes and the names linear and cubic; opset 22 adds bfloat16. The grid may be of another
 * float dtype than X.
 *
 * The arithmetic is PyTorch's grid_sample, which the operator was written to match: nearest
 * rounds half to even; linear pads the point, cubic each of its taps; coordinates that are
 * NaN or beyond the int range become -100 (outside: they read nothing). Interpolation is
 * separable: a point's taps are the combinations of the taps of each axis (1, 2 or 4).
 *
 * Each task is one output row (the last spatial axis) of one image: the taps of each point
 * (input offsets and weights) are worked out once and applied to every channel. */
#include "count.h"
#include "cubic.h"
#include "dtype_io.h"

#include <math.h>
#include <string.h>

#define GRID_AXIS_TAPS 4
#define GRID_MAX_SPATIAL (ONYX_MAX_RANK - 2)
#define GRID_CUBIC_A -0.75 /* PyTorch's bicubic coefficient */

typedef enum grid_mode { GRID_LINEAR, GRID_NEAREST, GRID_CUBIC } grid_mode;
typedef enum grid_padding { GRID_ZEROS, GRID_BORDER, GRID_REFLECTION } grid_padding;

typedef struct gridsample_params {
    grid_mode mode;
    grid_padding padding;
    bool align_corners;
} gridsample_params;

/* Per plan: the spatial dims of X and of the output, the most taps a point has. */
typedef struct gridsample_state {
    int r;
    int64_t in[GRID_MAX_SPATIAL], stride[GRID_MAX_SPATIAL], out[GRID_MAX_SPATIAL];
    int64_t plane, out_plane, max_taps;
} gridsample_state;

static onyx_status read_choice(const op_context *ctx, const char *name, const char *const names[3], int *out)
{
    const char *value;
    onyx_status st = op_attr_string(ctx, name, names[0], &value);
    for (*out = 0; !st && *out < 3; (*out)++)
        if (!strcmp(value, names[*out]))
            return ONYX_OK;
    return st ? st
              : op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' is '%s', not '%s', '%s' or '%s'", name, value,
                         names[0], names[1], names[2]);
}

static onyx_status gridsample_check(op_context *ctx)
{
    const uint32_t dtypes = ctx->opset >= 22 ? DT_FLOAT_IO : DT_FLOATS | DT(FLOAT16);
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    for (int i = 0; i < 2 && !st; i++)
        st = op_check_input(ctx, i, true, dtypes);
    if (st)
        return st;
    gridsample_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    static const char *const modes_16[3] = {"bilinear", "nearest", "bicubic"};
    static const char *const modes_20[3] = {"linear", "nearest", "cubic"};
    static const char *const paddings[3] = {"zeros", "border", "reflection"};
    int mode, padding;
    int64_t align_corners;
    if ((st = read_choice(ctx, "mode", ctx->opset >= 20 ? modes_20 : modes_16, &mode)) ||
        (st = read_choice(ctx, "padding_mode", paddings, &padding)) ||
        (st = op_attr_int(ctx, "align_corners", 0, &align_corners)))
        return st;
    if (align_corners != 0 && align_corners != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'align_corners' is %lld, not 0 or 1",
                        (long long)align_corners);
    p->mode = (grid_mode)mode;
    p->padding = (grid_padding)padding;
    p->align_corners = align_corners;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status gridsample_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0), *grid = op_input(ctx, 1);
    char sx[128], sg[128];
    /* Opset 16: 2 spatial axes only. */
    int r = x->rank - 2;
    bool bad = ctx->opset < 20 ? x->rank != 4 : r < 1;
    if (bad || grid->rank != x->rank || !dim_may_equal(grid->dims[r + 1], r) ||
        !dim_may_equal(grid->dims[0], x->dims[0]))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        ctx->opset < 20 ? "X %s must be (N, C, H, W) and grid %s (N, H_out, W_out, 2)"
                                        : "X %s must be (N, C, D1, ..., Dr) with r >= 1 and grid %s "
                                          "(N, D1_out, ..., Dr_out, r)",
                        shape_str(x, sx, sizeof sx), shape_str(grid, sg, sizeof sg));
    int64_t dims[ONYX_MAX_RANK];
    dims[0] = dim_known(x->dims[0]) ? x->dims[0] : grid->dims[0];
    dims[1] = x->dims[1];
    for (int i = 0; i < r; i++)
        dims[2 + i] = grid->dims[1 + i];
    onyx_tensor *y = op_output(ctx, 0);
    tensor_set_shape(y, x->rank, dims);
    if (!ctx->concrete)
        return ONYX_OK;
    onyx_status st = check_output_shape(ctx, y);
    if (st)
        return st;
    gridsample_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    const gridsample_params *p = ctx->params;
    int axis_taps = p->mode == GRID_NEAREST ? 1 : p->mode == GRID_LINEAR ? 2 : GRID_AXIS_TAPS;
    s->r = r;
    s->plane = 1;
    s->out_plane = 1;
    s->max_taps = 1;
    for (int i = r - 1; i >= 0; i--) {
        s->in[i] = x->dims[2 + i];
        s->out[i] = grid->dims[1 + i];
        s->stride[i] = s->plane;
        s->plane *= s->in[i];
        s->out_plane *= s->out[i];
        s->max_taps *= axis_taps;
    }
    ctx->state = s;
    ctx->n_tasks = s->out[r - 1] ? dims[0] * (s->out_plane / s->out[r - 1]) : 0;
    ctx->task_cost = s->out[r - 1] * OP_MAX(x->dims[1], 1) * s->max_taps;
    /* A point's taps: an offset and a weight each. */
    ctx->scratch_bytes = (size_t)s->max_taps * (sizeof(int64_t) + sizeof(double));
    return ONYX_OK;
}

/* ---- coordinates ------------------------------------------------------------------------- */

/* v reflected into [twice_low / 2, twice_high / 2] as often as it takes. */
static double reflect(double v, double twice_low, double twice_high)
{
    if (twice_low == twice_high)
        return 0;
    double low = twice_low / 2, span = (twice_high - twice_low) / 2;
    v = fabs(v - low);
    double extra = fmod(v, span), flips = floor(v / span);
    return fmod(flips, 2) == 0 ? extra + low : span - extra + low;
}

/* A pixel coordinate after padding: inside [0, size - 1] for border and reflection; -100
 * (outside) when NaN or beyond the int range, so that conversions stay defined. */
static double pad_coordinate(const gridsample_params *p, double v, int64_t size)
{
    if (p->padding == GRID_REFLECTION)
        v = p->align_corners ? reflect(v, 0, 2 * (double)(size - 1)) : reflect(v, -1, 2 * (double)size - 1);
    if (p->padding != GRID_ZEROS)
        v = v < 0 ? 0 : v > (double)(size - 1) ? (double)(size - 1) : v; /* NaN stays NaN */
    return v >= INT32_MIN && v <= INT32_MAX - 1 ? v : -100;
}

/* The taps on one axis of `size` elements for pixel coordinate v: offsets (times `stride`)
 * and weights, those outside the axis left out. Returns their count. */
static int axis_taps(const gridsample_params *p, double v, int64_t size, int64_t stride, int64_t *offset,
                     double *weight)
{
    double w[GRID_AXIS_TAPS] = {1};
    int taps = 1;
    if (p->mode != GRID_CUBIC) /* linear and nearest pad the point itself */
        v = pad_coordinate(p, v, size);
    if (p->mode == GRID_NEAREST) {
        v = nearbyint(v); /* half to even, as PyTorch */
    } else if (p->mode == GRID_LINEAR) {
        taps = 2;
        w[1] = v - floor(v);
        w[0] = 1 - w[1];
    } else {
        taps = 4;
        cubic_weights(v - floor(v), GRID_CUBIC_A, w);
    }
    double first = floor(v) - (taps == 4);
    int n = 0;
    for (int j = 0; j < taps; j++) {
        double t = first + j;
        if (taps == 4) /* cubic pads each tap */
            t = pad_coordinate(p, t, size);
        if (!(t >= 0 && t < (double)size))
            continue;
        offset[n] = (int64_t)t * stride;
        weight[n++] = w[j];
    }
    return n;
}

/* The taps of the grid point whose r components start at element `at` of the grid: offsets
 * into an input plane and weights, the combinations of one tap per axis (the first axis
 * outermost). Returns their count. */
static int64_t point_taps(const gridsample_params *p, const gridsample_state *s, const onyx_tensor *grid,
                          int64_t at, int64_t *offset, double *weight)
{
    int64_t n = 1;
    offset[0] = 0;
    weight[0] = 1;
    for (int i = 0; i < s->r; i++) {
        /* The grid lists the axes last first: (x, y, z) for (D, H, W). */
        double g = float_io_load(grid->dtype, grid->data, at + s->r - 1 - i);
        double size = (double)s->in[i];
        double v = p->align_corners ? (g + 1) / 2 * (size - 1) : ((g + 1) * size - 1) / 2;
        int64_t tap_offset[GRID_AXIS_TAPS];
        double tap_weight[GRID_AXIS_TAPS];
        int taps = axis_taps(p, v, s->in[i], s->stride[i], tap_offset, tap_weight);
        /* Each combination so far times each tap, written back to front in place. */
        for (int64_t c = n - 1; c >= 0; c--)
            for (int k = taps - 1; k >= 0; k--) {
                offset[c * taps + k] = offset[c] + tap_offset[k];
                weight[c * taps + k] = weight[c] * tap_weight[k];
            }
        n *= taps;
    }
    return n;
}

/* ---- run --------------------------------------------------------------------------------- */

/* Output rows (image, output row) [begin, end) of dtype D (dtype_io.h), computed in double. */
#define GRIDSAMPLE_ROWS(D, T, V, LOAD, STORE)                                                  \
    static void gridsample_rows_##D(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        const gridsample_params *p = ctx->params;                                              \
        const gridsample_state *s = ctx->state;                                                \
        const onyx_tensor *grid = ctx->inputs[1];                                              \
        int64_t channels = ctx->inputs[0]->dims[1], width = s->out[s->r - 1];                  \
        int64_t rows = s->out_plane / width, *offset = scratch;                                \
        double *weight = (double *)(offset + s->max_taps);                                     \
        for (int64_t row = begin; row < end; row++) {                                          \
            int64_t image = row / rows, within = row % rows;                                   \
            const T *in = (const T *)ctx->inputs[0]->data + image * channels * s->plane;       \
            T *out = (T *)ctx->outputs[0]->data + image * channels * s->out_plane + within * width; \
            for (int64_t w = 0; w < width; w++) {                                              \
                int64_t taps = point_taps(p, s, grid, (row * width + w) * s->r, offset, weight); \
                for (int64_t c = 0; c < channels; c++) {                                       \
                    double sum = 0;                                                            \
                    for (int64_t k = 0; k < taps; k++)                                         \
                        sum += weight[k] * LOAD(in[c * s->plane + offset[k]]);                 \
                    out[c * s->out_plane + w] = STORE((V)sum);                                 \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

FOR_FLOAT_IO(GRIDSAMPLE_ROWS)

static onyx_status gridsample_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
#define GRIDSAMPLE_CASE(D, T, V, LOAD, STORE)                                                  \
    case ONYX_DTYPE_##D:                                                                       \
        gridsample_rows_##D(ctx, begin, end, scratch);                                         \
        return ONYX_OK;
    switch (ctx->inputs[0]->dtype) {
        FOR_FLOAT_IO(GRIDSAMPLE_CASE)
    default:
        return ONYX_ERROR_INVALID_STATE; /* check admits no other dtype */
    }
}

const op_descriptor op_GridSample = {gridsample_check, gridsample_reshape, gridsample_run, 0};
