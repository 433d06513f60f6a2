/* GridSample (opset 16): Y[n, c, h, w] samples X[n, c] at the point grid[n, h, w] = (x, y),
 * normalized to [-1, 1] over the input's width and height, by nearest, bilinear or bicubic
 * interpolation; points outside read zeros, the border, or the input reflected at its edges.
 *
 * The arithmetic is PyTorch's grid_sample, which the operator was written to match: nearest
 * rounds half to even; bilinear pads the point, bicubic each of its 16 taps; coordinates that
 * are NaN or beyond the int range become -100 (outside: they read nothing).
 *
 * Each task is one output row of one image: the taps of each point (input offsets and
 * weights) are worked out once and applied to every channel. */
#include "count.h"
#include "cubic.h"
#include "dtype_io.h"

#include <math.h>
#include <string.h>

#define GRID_MAX_TAPS 16
#define GRID_CUBIC_A -0.75 /* PyTorch's bicubic coefficient */

typedef enum grid_mode { GRID_BILINEAR, GRID_NEAREST, GRID_BICUBIC } grid_mode;
typedef enum grid_padding { GRID_ZEROS, GRID_BORDER, GRID_REFLECTION } grid_padding;

typedef struct gridsample_params {
    grid_mode mode;
    grid_padding padding;
    bool align_corners;
} gridsample_params;

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
    const uint32_t dtypes = DT_FLOATS | DT(FLOAT16);
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    for (int i = 0; i < 2 && !st; i++)
        st = op_check_input(ctx, i, true, dtypes);
    if (!st)
        st = op_check_same_dtype(ctx, 1, 0);
    if (st)
        return st;
    gridsample_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    static const char *const modes[3] = {"bilinear", "nearest", "bicubic"};
    static const char *const paddings[3] = {"zeros", "border", "reflection"};
    int mode, padding;
    int64_t align_corners;
    if ((st = read_choice(ctx, "mode", modes, &mode)) || (st = read_choice(ctx, "padding_mode", paddings, &padding)) ||
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
    if (x->rank != 4 || grid->rank != 4 || !dim_may_equal(grid->dims[3], 2) ||
        !dim_may_equal(grid->dims[0], x->dims[0]))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X %s must be (N, C, H, W) and grid %s (N, H_out, W_out, 2)",
                        shape_str(x, sx, sizeof sx), shape_str(grid, sg, sizeof sg));
    int64_t n = dim_known(x->dims[0]) ? x->dims[0] : grid->dims[0];
    tensor_set_shape(op_output(ctx, 0), 4, (int64_t[]){n, x->dims[1], grid->dims[1], grid->dims[2]});
    if (!ctx->concrete)
        return ONYX_OK;
    onyx_status st = check_output_shape(ctx, op_output(ctx, 0));
    if (st)
        return st;
    ctx->n_tasks = n * grid->dims[1];
    ctx->task_cost = grid->dims[2] * OP_MAX(x->dims[1], 1) * GRID_MAX_TAPS;
    return ONYX_OK;
}

/* ---- coordinates ------------------------------------------------------------------------- */

/* The pixel coordinate of normalized coordinate v over `size` pixels. */
static double unnormalize(const gridsample_params *p, double v, int64_t size)
{
    return p->align_corners ? (v + 1) / 2 * (double)(size - 1) : ((v + 1) * (double)size - 1) / 2;
}

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

/* The taps of grid point (gx, gy) over an input plane of height x width: offsets into the
 * plane and weights, those outside the plane left out. Returns their count. */
static int point_taps(const gridsample_params *p, int64_t height, int64_t width, double gx, double gy, int64_t *offset,
                      double *weight)
{
    double x = unnormalize(p, gx, width), y = unnormalize(p, gy, height);
    double wx[4] = {1}, wy[4] = {1};
    int taps = 1;
    if (p->mode != GRID_BICUBIC) { /* bilinear and nearest pad the point itself */
        x = pad_coordinate(p, x, width);
        y = pad_coordinate(p, y, height);
    }
    if (p->mode == GRID_NEAREST) {
        x = nearbyint(x); /* half to even, as PyTorch */
        y = nearbyint(y);
    } else if (p->mode == GRID_BILINEAR) {
        taps = 2;
        wx[1] = x - floor(x);
        wx[0] = 1 - wx[1];
        wy[1] = y - floor(y);
        wy[0] = 1 - wy[1];
    } else {
        taps = 4;
        cubic_weights(x - floor(x), GRID_CUBIC_A, wx);
        cubic_weights(y - floor(y), GRID_CUBIC_A, wy);
    }
    double x0 = floor(x) - (taps == 4), y0 = floor(y) - (taps == 4);
    int n = 0;
    for (int i = 0; i < taps; i++)
        for (int j = 0; j < taps; j++) {
            double tx = x0 + j, ty = y0 + i;
            if (taps == 4) { /* bicubic pads each tap */
                tx = pad_coordinate(p, tx, width);
                ty = pad_coordinate(p, ty, height);
            }
            if (!(tx >= 0 && tx < (double)width && ty >= 0 && ty < (double)height))
                continue;
            offset[n] = (int64_t)ty * width + (int64_t)tx;
            weight[n++] = wy[i] * wx[j];
        }
    return n;
}

/* ---- run --------------------------------------------------------------------------------- */

/* Output rows (image, output row) [begin, end) of dtype D (dtype_io.h), computed in double. */
#define GRIDSAMPLE_ROWS(D, T, V, LOAD, STORE)                                                  \
    static void gridsample_rows_##D(const op_context *ctx, int64_t begin, int64_t end)         \
    {                                                                                          \
        const gridsample_params *p = ctx->params;                                              \
        const onyx_tensor *x = ctx->inputs[0], *grid = ctx->inputs[1];                        \
        int64_t channels = x->dims[1], height = x->dims[2], width = x->dims[3];                \
        int64_t out_h = grid->dims[1], out_w = grid->dims[2], plane = height * width;          \
        for (int64_t row = begin; row < end; row++) {                                          \
            int64_t image = row / out_h, h = row % out_h;                                      \
            const T *points = (const T *)grid->data + row * out_w * 2;                         \
            const T *in = (const T *)x->data + image * channels * plane;                       \
            T *out = (T *)ctx->outputs[0]->data + image * channels * out_h * out_w + h * out_w; \
            for (int64_t w = 0; w < out_w; w++) {                                              \
                int64_t offset[GRID_MAX_TAPS];                                                 \
                double weight[GRID_MAX_TAPS];                                                  \
                int taps = point_taps(p, height, width, LOAD(points[2 * w]), LOAD(points[2 * w + 1]), offset, weight); \
                for (int64_t c = 0; c < channels; c++) {                                       \
                    double sum = 0;                                                            \
                    for (int k = 0; k < taps; k++)                                             \
                        sum += weight[k] * LOAD(in[c * plane + offset[k]]);                    \
                    out[c * out_h * out_w + w] = STORE((V)sum);                                \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

FOR_FLOAT_IO(GRIDSAMPLE_ROWS)

static onyx_status gridsample_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
#define GRIDSAMPLE_CASE(D, T, V, LOAD, STORE)                                                  \
    case ONYX_DTYPE_##D:                                                                       \
        gridsample_rows_##D(ctx, begin, end);                                                  \
        return ONYX_OK;
    switch (ctx->inputs[0]->dtype) {
        FOR_FLOAT_IO(GRIDSAMPLE_CASE)
    default:
        return ONYX_ERROR_INVALID_STATE; /* check admits no other dtype */
    }
}

const op_descriptor op_GridSample = {gridsample_check, gridsample_reshape, gridsample_run, 0};
