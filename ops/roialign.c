/* RoiAlign (opsets 10 and 16): for each region of interest, a (C, output_height,
 * output_width) map pooled from its image of X. Each output bin averages, or takes the max
 * of, a grid of bilinearly interpolated samples: sampling_ratio per axis, or ceil(bin size)
 * when it is 0.
 *
 * The arithmetic is onnxruntime's, which the ONNX reference implementation copies: a sample
 * more than one pixel outside the map is 0, a closer one is clamped to the edge;
 * 'output_half_pixel' (and opset 10, which predates the attribute) leaves RoI coordinates
 * unshifted and makes every RoI at least 1x1; and 'max' takes the largest of the four
 * weighted corner values of each sample (not of the interpolated samples). */
#include "count.h"
#include "dtype_io.h"

#include <math.h>
#include <string.h>

/* Samples per bin and axis beyond which a RoI is refused (an infinite or absurd RoI with
 * adaptive sampling), so that counts stay far from overflow. */
#define ROI_MAX_GRID ((double)INT32_MAX)

typedef struct roialign_params {
    bool max;        /* mode 'max', else 'avg' */
    bool half_pixel; /* coordinate_transformation_mode 'half_pixel' */
    int64_t height, width, sampling_ratio;
    double spatial_scale;
} roialign_params;

static onyx_status read_mode(op_context *ctx, const char *name, const char *dflt, const char *a, const char *b,
                             bool *is_b)
{
    const char *value;
    onyx_status st = op_attr_string(ctx, name, dflt, &value);
    if (st)
        return st;
    if (strcmp(value, a) && strcmp(value, b))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' is '%s', not '%s' or '%s'", name, value, a, b);
    *is_b = !strcmp(value, b);
    return ONYX_OK;
}

static onyx_status roialign_check(op_context *ctx)
{
    const uint32_t dtypes = DT_FLOATS | DT(FLOAT16);
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    for (int i = 0; i < 2 && !st; i++)
        st = op_check_input(ctx, i, true, dtypes);
    if (!st)
        st = op_check_same_dtype(ctx, 1, 0);
    if (!st)
        st = op_check_input(ctx, 2, true, DT(INT64));
    if (st)
        return st;
    roialign_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    float scale;
    bool output_half_pixel = true;
    if ((st = read_mode(ctx, "mode", "avg", "avg", "max", &p->max)) ||
        (ctx->opset >= 16 && (st = read_mode(ctx, "coordinate_transformation_mode", "half_pixel", "half_pixel",
                                             "output_half_pixel", &output_half_pixel))) ||
        (st = op_attr_int(ctx, "output_height", 1, &p->height)) ||
        (st = op_attr_int(ctx, "output_width", 1, &p->width)) ||
        (st = op_attr_int(ctx, "sampling_ratio", 0, &p->sampling_ratio)) ||
        (st = op_attr_float(ctx, "spatial_scale", 1.0f, &scale)))
        return st;
    p->half_pixel = !output_half_pixel;
    p->spatial_scale = scale;
    const char *names[] = {"output_height", "output_width", "sampling_ratio"};
    const int64_t values[] = {p->height, p->width, p->sampling_ratio};
    for (int i = 0; i < 3; i++) {
        int64_t least = i < 2 ? 1 : 0;
        if (values[i] < least || values[i] > INT32_MAX)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' is %lld, not %s count", names[i],
                            (long long)values[i], least ? "a positive" : "a non-negative");
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status roialign_reshape(op_context *ctx)
{
    const roialign_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *rois = op_input(ctx, 1), *batch = op_input(ctx, 2);
    char sx[128], sr[128];
    if (x->rank != 4)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X %s must be 4-D (N, C, H, W)", shape_str(x, sx, sizeof sx));
    if (rois->rank != 2 || !dim_may_equal(rois->dims[1], 4) || batch->rank != 1 ||
        !dim_may_equal(rois->dims[0], batch->dims[0]))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "rois %s must be (num_rois, 4) and batch_indices %s (num_rois)",
                        shape_str(rois, sr, sizeof sr), shape_str(batch, sx, sizeof sx));
    int64_t dims[4] = {dim_known(rois->dims[0]) ? rois->dims[0] : batch->dims[0], x->dims[1], p->height, p->width};
    tensor_set_shape(op_output(ctx, 0), 4, dims);
    if (!ctx->concrete)
        return ONYX_OK;
    onyx_status st = check_output_shape(ctx, op_output(ctx, 0));
    if (st)
        return st;
    ctx->n_tasks = dims[0] * dims[1] * dims[2]; /* output rows */
    ctx->task_cost = p->width * 4 * OP_MAX(p->sampling_ratio, 2) * OP_MAX(p->sampling_ratio, 2);
    return ONYX_OK;
}

/* The bilinear taps of a sample at coordinate v along an axis of `size` pixels. */
typedef struct axis_sample {
    bool inside;       /* no more than a pixel outside: otherwise the sample is 0 */
    int64_t low, high; /* the pixels on either side, clamped to the axis */
    double frac;       /* the weight of `high` (1 - frac that of `low`) */
} axis_sample;

static axis_sample sample_at(double v, int64_t size)
{
    axis_sample a = {.inside = size > 0 && v >= -1.0 && v <= (double)size}; /* false for NaN too */
    if (!a.inside)
        return a;
    v = fmax(v, 0);
    a.low = (int64_t)v;
    if (a.low >= size - 1) {
        a.low = a.high = size - 1;
        v = (double)a.low;
    } else {
        a.high = a.low + 1;
    }
    a.frac = v - (double)a.low;
    return a;
}

/* The samples of one RoI along one axis: bins of `bin` pixels from `start`, `grid` samples a
 * bin. */
typedef struct roi_axis {
    double start, bin;
    int64_t grid;
} roi_axis;

/* The axis of a RoI from its coordinates `begin` and `end` (in the image), pooled into `bins`.
 * An error when adaptive sampling would take too many samples. */
static onyx_status roi_axis_of(const op_context *ctx, int64_t roi, double begin, double end, int64_t bins,
                               roi_axis *a)
{
    const roialign_params *p = ctx->params;
    double offset = p->half_pixel ? 0.5 : 0.0;
    a->start = begin * p->spatial_scale - offset;
    double length = end * p->spatial_scale - offset - a->start;
    if (!p->half_pixel)
        length = fmax(length, 1.0); /* NaN stays NaN: its samples fall outside */
    a->bin = length / (double)bins;
    if (p->sampling_ratio > 0) {
        a->grid = p->sampling_ratio;
        return ONYX_OK;
    }
    double grid = ceil(a->bin);
    if (grid > ROI_MAX_GRID)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "RoI %lld asks for %g samples per bin and axis", (long long)roi, grid);
    a->grid = grid > 0 ? (int64_t)grid : 0; /* an empty or inverted RoI, or NaN: no samples */
    return ONYX_OK;
}

/* Sample i of bin b. */
static double sample_coordinate(const roi_axis *a, int64_t b, int64_t i)
{
    return a->start + (double)b * a->bin + ((double)i + 0.5) * a->bin / (double)a->grid;
}

/* Output rows (RoI, channel, bin row) [begin, end) of dtype D (dtype_io.h), computed in
 * double. */
#define ROIALIGN_ROWS(D, T, V, LOAD, STORE)                                                    \
    static onyx_status roialign_rows_##D(const op_context *ctx, int64_t begin, int64_t end)    \
    {                                                                                          \
        const roialign_params *p = ctx->params;                                                \
        const onyx_tensor *x = ctx->inputs[0];                                                 \
        const T *rois = ctx->inputs[1]->data;                                                  \
        const int64_t *batch = ctx->inputs[2]->data;                                           \
        int64_t channels = x->dims[1], height = x->dims[2], width = x->dims[3];                \
        for (int64_t row = begin; row < end; row++) {                                          \
            int64_t bin_y = row % p->height, channel = row / p->height % channels;             \
            int64_t roi = row / p->height / channels, image = batch[roi];                      \
            if (image < 0 || image >= x->dims[0])                                              \
                return op_error(ctx, ONYX_ERROR_RUNTIME, "batch index %lld of RoI %lld is outside [0, %lld)", \
                                (long long)image, (long long)roi, (long long)x->dims[0]);      \
            const T *r = rois + roi * 4;                                                       \
            roi_axis ax, ay;                                                                   \
            onyx_status st = roi_axis_of(ctx, roi, LOAD(r[0]), LOAD(r[2]), p->width, &ax);     \
            if (!st)                                                                           \
                st = roi_axis_of(ctx, roi, LOAD(r[1]), LOAD(r[3]), p->height, &ay);            \
            if (st)                                                                            \
                return st;                                                                     \
            const T *plane = (const T *)x->data + (image * channels + channel) * height * width; \
            T *y = (T *)ctx->outputs[0]->data + row * p->width;                                \
            for (int64_t bin_x = 0; bin_x < p->width; bin_x++) {                               \
                double sum = 0, max = 0;                                                       \
                bool first = true;                                                             \
                for (int64_t iy = 0; iy < ay.grid; iy++) {                                     \
                    axis_sample sy = sample_at(sample_coordinate(&ay, bin_y, iy), height);     \
                    for (int64_t ix = 0; ix < ax.grid; ix++) {                                 \
                        axis_sample sx = sample_at(sample_coordinate(&ax, bin_x, ix), width);  \
                        double corner[4] = {0, 0, 0, 0};                                       \
                        if (sy.inside && sx.inside) {                                          \
                            const T *lo = plane + sy.low * width, *hi = plane + sy.high * width; \
                            corner[0] = (1 - sy.frac) * (1 - sx.frac) * LOAD(lo[sx.low]);      \
                            corner[1] = (1 - sy.frac) * sx.frac * LOAD(lo[sx.high]);           \
                            corner[2] = sy.frac * (1 - sx.frac) * LOAD(hi[sx.low]);            \
                            corner[3] = sy.frac * sx.frac * LOAD(hi[sx.high]);                 \
                        }                                                                      \
                        sum += corner[0] + corner[1] + corner[2] + corner[3];                  \
                        double top = fmax(fmax(corner[0], corner[1]), fmax(corner[2], corner[3])); \
                        max = first ? top : fmax(max, top);                                    \
                        first = false;                                                         \
                    }                                                                          \
                }                                                                              \
                double count = (double)OP_MAX(ay.grid * ax.grid, 1);                           \
                y[bin_x] = STORE((V)(p->max ? max : sum / count));                             \
            }                                                                                  \
        }                                                                                      \
        return ONYX_OK;                                                                        \
    }

FOR_FLOAT_IO(ROIALIGN_ROWS)

static onyx_status roialign_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
#define ROIALIGN_CASE(D, T, V, LOAD, STORE)                                                    \
    case ONYX_DTYPE_##D:                                                                       \
        return roialign_rows_##D(ctx, begin, end);
    switch (ctx->inputs[0]->dtype) {
        FOR_FLOAT_IO(ROIALIGN_CASE)
    default:
        return ONYX_ERROR_INVALID_STATE; /* check admits no other dtype */
    }
}

const op_descriptor op_RoiAlign = {roialign_check, roialign_reshape, roialign_run, 0};
