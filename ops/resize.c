/* Resize (opsets 10, 11 and 13) and the Upsample it replaced (7 and 9), over any number of
 * axes: nearest (four rounding modes), N-linear and N-cubic (cubic_coeff_a, exclude_outside)
 * interpolation, every coordinate transformation mode, output dims from scales or sizes.
 *
 * Interpolation is separable: each output index of each axis maps to the input indices it
 * reads (its taps: 1 for nearest, 2 for linear, 4 for cubic, clamped to the edges) and their
 * weights, taps of weight 0 dropped. An output element is the sum, over every combination of
 * one tap per axis, of the product of the weights times the input element. The taps are
 * computed as the rows are written (once a row for the axes before the last), so that the
 * state stays small whatever the output dims.
 *
 * Upsample and Resize-10 map coordinates as x / scale and round nearest down when upsampling,
 * up when downsampling (as onnxruntime). Linear and cubic need float or double data; nearest
 * copies elements of any fixed-size type. */
#include "count.h"
#include "cubic.h"
#include "float_dispatch.h"

#include <math.h>
#include <string.h>

typedef enum resize_mode { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC } resize_mode;
typedef enum coordinate_mode {
    COORD_HALF_PIXEL,
    COORD_PYTORCH_HALF_PIXEL,
    COORD_ALIGN_CORNERS,
    COORD_ASYMMETRIC,
    COORD_TF_HALF_PIXEL_FOR_NN,
    COORD_TF_CROP_AND_RESIZE,
} coordinate_mode;
typedef enum nearest_rounding {
    ROUND_PREFER_FLOOR,
    ROUND_PREFER_CEIL,
    ROUND_FLOOR,
    ROUND_CEIL,
    ROUND_LEGACY, /* Upsample, Resize-10: floor when upsampling, ceil when downsampling */
} nearest_rounding;

#define RESIZE_MAX_TAPS 4
/* Output dims are bounded (those from scales before their float-to-int conversion) so that
 * coordinates stay exact in double. */
#define RESIZE_MAX_DIM ((double)INT32_MAX)

typedef struct resize_params {
    resize_mode mode;
    coordinate_mode coord;
    nearest_rounding rounding;
    double cubic_a, extrapolation;
    bool exclude_outside;
    bool upsample;                  /* Upsample: every scale must be >= 1 */
    int roi, scales, sizes;         /* input indices, -1 when the version has no such input */
    const float *scale_attr;        /* Upsample-7 */
    int64_t scale_attr_count;
} resize_params;

/* Per axis: the output length, the scale the coordinate transformations divide by, the length
 * align_corners and tf_crop_and_resize take for the output (before flooring when it comes
 * from scales, as the ONNX reference has it), and the roi. */
typedef struct resize_axes {
    int64_t out[ONYX_MAX_RANK];
    double scale[ONYX_MAX_RANK], length[ONYX_MAX_RANK], roi_start[ONYX_MAX_RANK], roi_end[ONYX_MAX_RANK];
} resize_axes;

typedef struct resize_state {
    resize_axes axes;
    int rank;
    int64_t in[ONYX_MAX_RANK], stride[ONYX_MAX_RANK]; /* the input's dims and element strides */
    int64_t combos; /* most tap combinations over the axes before the last */
    bool nearest;   /* every output element copies one input element */
} resize_state;

/* ---- check ------------------------------------------------------------------------------- */

static onyx_status read_choice(const op_context *ctx, const char *name, const char *dflt, const char *const *names,
                               int n, int *out)
{
    const char *value;
    onyx_status st = op_attr_string(ctx, name, dflt, &value);
    for (*out = 0; !st && *out < n; (*out)++)
        if (!strcmp(value, names[*out]))
            return ONYX_OK;
    return st ? st : op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' has unknown value '%s'", name, value);
}

/* Inputs, by version: Upsample-7 X; Upsample-9 and Resize-10 X, scales; Resize-11 X, roi,
 * scales, [sizes]; Resize-13 X, [roi], [scales], [sizes]. */
static onyx_status resize_check_common(op_context *ctx, bool upsample)
{
    bool legacy = upsample || ctx->opset < 11;
    int min_inputs = legacy ? (upsample && ctx->opset < 9 ? 1 : 2) : ctx->opset < 13 ? 3 : 1;
    int max_inputs = legacy ? min_inputs : 4;
    onyx_status st = op_check_arity(ctx, min_inputs, max_inputs, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_NUMERIC | DT(BOOL) | DT(FLOAT16) | DT(BFLOAT16));
    if (st)
        return st;
    resize_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->upsample = upsample;
    p->roi = legacy ? -1 : 1;
    p->scales = max_inputs == 1 ? -1 : legacy ? 1 : 2;
    p->sizes = legacy ? -1 : 3;
    if (p->roi >= 0 && (st = op_check_input(ctx, p->roi, ctx->opset < 13, DT_FLOATS)))
        return st;
    if (p->scales >= 0 && (st = op_check_input(ctx, p->scales, ctx->opset < 13, DT(FLOAT))))
        return st;
    if (p->sizes >= 0 && (st = op_check_input(ctx, p->sizes, false, DT(INT64))))
        return st;
    if (p->scales < 0) {
        if ((st = op_attr_require(ctx, "scales")) ||
            (st = op_attr_floats(ctx, "scales", &p->scale_attr, &p->scale_attr_count)))
            return st;
    }

    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                         "tf_half_pixel_for_nn", "tf_crop_and_resize"};
    static const char *const roundings[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    int mode, coord = COORD_ASYMMETRIC, rounding = ROUND_LEGACY;
    if ((st = read_choice(ctx, "mode", "nearest", modes, legacy ? 2 : 3, &mode)))
        return st;
    if (!legacy && ((st = read_choice(ctx, "coordinate_transformation_mode", "half_pixel", coords, 6, &coord)) ||
                    (st = read_choice(ctx, "nearest_mode", "round_prefer_floor", roundings, 4, &rounding))))
        return st;
    p->mode = (resize_mode)mode;
    p->coord = (coordinate_mode)coord;
    p->rounding = (nearest_rounding)rounding;
    float cubic_a = -0.75f, extrapolation = 0;
    int64_t exclude = 0;
    if (!legacy && ((st = op_attr_float(ctx, "cubic_coeff_a", -0.75f, &cubic_a)) ||
                    (st = op_attr_float(ctx, "extrapolation_value", 0, &extrapolation)) ||
                    (st = op_attr_int(ctx, "exclude_outside", 0, &exclude))))
        return st;
    p->cubic_a = cubic_a;
    p->extrapolation = extrapolation;
    p->exclude_outside = exclude != 0;
    onyx_dtype dt = op_input(ctx, 0)->dtype;
    bool weighted = p->mode != MODE_NEAREST || p->coord == COORD_TF_CROP_AND_RESIZE;
    if (weighted && dt != ONYX_DTYPE_FLOAT && dt != ONYX_DTYPE_DOUBLE)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                        "%s interpolation of %s data is not supported (float and double only)",
                        p->mode == MODE_NEAREST ? "tf_crop_and_resize" : modes[p->mode], onyx_dtype_name(dt));
    ctx->params = p;
    op_set_output_dtypes(ctx, dt);
    return ONYX_OK;
}

static onyx_status resize_check(op_context *ctx) { return resize_check_common(ctx, false); }
static onyx_status upsample_check(op_context *ctx) { return resize_check_common(ctx, true); }

/* ---- output dims ------------------------------------------------------------------------- */

/* An optional 1-D input given as an empty tensor counts as absent. */
static const onyx_tensor *list_input(const op_context *ctx, int i)
{
    const onyx_tensor *t = i >= 0 ? op_input(ctx, i) : NULL;
    return t && !(t->rank == 1 && t->dims[0] == 0) ? t : NULL;
}

static onyx_status check_list(const op_context *ctx, int i, const onyx_tensor *t, int64_t count)
{
    char buf[128];
    if (t->rank != 1 || !dim_may_equal(t->dims[0], count))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "input '%s' %s must be 1-D with %lld values", op_input_name(ctx, i),
                        shape_str(t, buf, sizeof buf), (long long)count);
    return ONYX_OK;
}

/* ONYX_DEFER when a value needed is not known yet. */
static onyx_status resize_output_dims(const op_context *ctx, const onyx_tensor *x, resize_axes *a)
{
    const resize_params *p = ctx->params;
    const onyx_tensor *roi = list_input(ctx, p->roi), *scales = list_input(ctx, p->scales);
    const onyx_tensor *sizes = list_input(ctx, p->sizes);
    int rank = x->rank;
    onyx_status st;
    /* A list of unknown length may turn out empty: absent. */
    bool undetermined = (scales && !dim_known(scales->dims[0])) || (sizes && !dim_known(sizes->dims[0]));
    if (scales && sizes && !undetermined)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "only one of scales and sizes may be given");
    if (undetermined)
        return ONYX_DEFER;
    if (!scales && !sizes && !p->scale_attr)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "one of scales and sizes must be given");
    if (p->scale_attr && p->scale_attr_count != rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'scales' has %lld values for rank %d",
                        (long long)p->scale_attr_count, rank);
    if ((scales && (st = check_list(ctx, p->scales, scales, rank))) ||
        (sizes && (st = check_list(ctx, p->sizes, sizes, rank))))
        return st;
    bool crop = p->coord == COORD_TF_CROP_AND_RESIZE;
    if (crop && !roi)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "tf_crop_and_resize needs the roi input");
    if (crop && (st = check_list(ctx, p->roi, roi, 2 * (int64_t)rank)))
        return st;
    if ((scales && !scales->data) || (sizes && !sizes->data) || (crop && !roi->data))
        return ONYX_DEFER;
    for (int d = 0; d < rank; d++) {
        int64_t in = x->dims[d];
        a->roi_start[d] = crop ? float_at(roi, d) : 0;
        a->roi_end[d] = crop ? float_at(roi, rank + d) : 1;
        if (sizes) {
            a->out[d] = ((const int64_t *)sizes->data)[d];
            if (a->out[d] < 0 || a->out[d] > (int64_t)RESIZE_MAX_DIM)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                "sizes has value %lld, outside [0, %lld]", (long long)a->out[d],
                                (long long)RESIZE_MAX_DIM);
            if (dim_known(in) && in == 0 && a->out[d] > 0)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d is empty and cannot be resized to %lld", d,
                                (long long)a->out[d]);
            a->scale[d] = in > 0 ? (double)a->out[d] / (double)in : 1;
            a->length[d] = (double)a->out[d];
            continue;
        }
        double scale = scales ? ((const float *)scales->data)[d] : p->scale_attr[d];
        if (!(scale > 0 && isfinite(scale)) || (p->upsample && scale < 1))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scale %g of axis %d is not %s", scale, d,
                            p->upsample ? "a finite value >= 1" : "a finite positive value");
        a->scale[d] = scale;
        a->length[d] = dim_known(in) ? (double)in * scale * (a->roi_end[d] - a->roi_start[d]) : 0;
        double out = floor(a->length[d]);
        if (!(out >= 0 && out <= RESIZE_MAX_DIM))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d would be %g long", d, out);
        a->out[d] = dim_known(in) ? (int64_t)out : DIM_UNKNOWN;
    }
    return ONYX_OK;
}

/* ---- taps -------------------------------------------------------------------------------- */

/* The input coordinate output index o of axis d maps to. */
static double original_coordinate(const resize_params *p, const resize_axes *a, int d, int64_t o, int64_t in)
{
    double x = (double)o, scale = a->scale[d], length = a->length[d];
    switch (p->coord) {
    case COORD_HALF_PIXEL: return (x + 0.5) / scale - 0.5;
    case COORD_PYTORCH_HALF_PIXEL: return a->out[d] > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case COORD_ALIGN_CORNERS: return length > 1 ? x * (double)(in - 1) / (length - 1) : 0;
    case COORD_ASYMMETRIC: return x / scale;
    case COORD_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / scale;
    case COORD_TF_CROP_AND_RESIZE: {
        double start = a->roi_start[d], end = a->roi_end[d];
        return length > 1 ? start * (double)(in - 1) + x * (end - start) * (double)(in - 1) / (length - 1)
                          : 0.5 * (start + end) * (double)(in - 1);
    }
    }
    return x;
}

/* The nearest input index to x. */
static double nearest_index(nearest_rounding rounding, double x, double scale)
{
    double fl = floor(x), frac = x - fl;
    switch (rounding) {
    case ROUND_PREFER_FLOOR: return frac <= 0.5 ? fl : fl + 1;
    case ROUND_PREFER_CEIL: return frac < 0.5 ? fl : fl + 1;
    case ROUND_FLOOR: return fl;
    case ROUND_CEIL: return ceil(x);
    case ROUND_LEGACY: return scale < 1 ? ceil(x) : fl;
    }
    return fl;
}

/* The taps of output index o of axis d: their count (0 when the coordinate falls outside the
 * input for tf_crop_and_resize: the output is then the extrapolation value), input offsets
 * and weights. */
static int axis_taps(const resize_params *p, const resize_state *s, int d, int64_t o, int64_t *offset, double *weight)
{
    int64_t in = s->in[d];
    double x = original_coordinate(p, &s->axes, d, o, in), w[RESIZE_MAX_TAPS];
    if (p->coord == COORD_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1)))
        return 0;
    /* Far outside, every tap clamps to the edge: bound x before converting it. */
    x = fmin(fmax(x, -(double)RESIZE_MAX_TAPS), (double)(in + RESIZE_MAX_TAPS));
    double base = floor(x), t = x - base;
    int first = 0, n = 1;
    if (p->mode == MODE_NEAREST) {
        base = nearest_index(p->rounding, x, s->axes.scale[d]);
        w[0] = 1;
    } else if (p->mode == MODE_LINEAR) {
        n = 2;
        w[0] = 1 - t;
        w[1] = t;
    } else {
        n = 4;
        first = -1;
        cubic_weights(t, p->cubic_a, w);
    }
    double sum = 0;
    for (int k = 0; k < n; k++) {
        int64_t index = (int64_t)base + first + k;
        if (p->exclude_outside && (index < 0 || index >= in))
            w[k] = 0;
        sum += w[k];
    }
    int count = 0;
    for (int k = 0; k < n; k++) {
        double weight_k = p->exclude_outside && sum != 0 ? w[k] / sum : w[k];
        if (weight_k == 0)
            continue;
        offset[count] = OP_MIN(OP_MAX((int64_t)base + first + k, 0), in - 1) * s->stride[d];
        weight[count++] = weight_k;
    }
    return count;
}

static onyx_status resize_reshape(op_context *ctx)
{
    const resize_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    resize_axes a;
    if (x->rank < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "X must have at least one axis");
    onyx_status st = resize_output_dims(ctx, x, &a);
    if (st == ONYX_DEFER && !ctx->concrete) {
        tensor_set_shape(y, x->rank, x->dims);
        for (int d = 0; d < y->rank; d++)
            y->dims[d] = DIM_UNKNOWN;
        return ONYX_OK;
    }
    if (st)
        return st;
    tensor_set_shape(y, x->rank, a.out);
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = check_output_shape(ctx, y)))
        return st;

    resize_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->axes = a;
    s->rank = x->rank;
    s->nearest = p->mode == MODE_NEAREST && p->coord != COORD_TF_CROP_AND_RESIZE;
    int taps = s->nearest ? 1 : p->mode == MODE_LINEAR ? 2 : RESIZE_MAX_TAPS;
    int64_t stride = 1, width = a.out[s->rank - 1];
    s->combos = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        s->in[d] = x->dims[d];
        s->stride[d] = stride;
        stride *= x->dims[d];
        if (d < s->rank - 1)
            s->combos *= taps;
    }
    ctx->state = s;
    ctx->n_tasks = width ? tensor_count(y) / width : 0;
    ctx->task_cost = width * s->combos * taps * 2;
    /* Each row's tap combinations over the axes before the last: an offset and a weight each. */
    ctx->scratch_bytes = (size_t)s->combos * (sizeof(int64_t) + sizeof(double));
    return ONYX_OK;
}

/* ---- run --------------------------------------------------------------------------------- */

/* The tap combinations of the axes before the last for output row `row`: their input offsets
 * and weight products. Returns their count, 0 when the row lies outside the input. */
static int64_t row_combos(const op_context *ctx, int64_t row, int64_t *offset, double *weight)
{
    const resize_state *s = ctx->state;
    int64_t n = 1, pos[ONYX_MAX_RANK];
    for (int d = s->rank - 2; d >= 0; d--) {
        pos[d] = row % s->axes.out[d];
        row /= s->axes.out[d];
    }
    offset[0] = 0;
    weight[0] = 1;
    for (int d = 0; d < s->rank - 1; d++) {
        int64_t tap_offset[RESIZE_MAX_TAPS];
        double tap_weight[RESIZE_MAX_TAPS];
        int taps = axis_taps(ctx->params, s, d, pos[d], tap_offset, tap_weight);
        /* Each combination so far times each tap, written back to front in place. */
        for (int64_t i = n - 1; i >= 0; i--)
            for (int k = taps - 1; k >= 0; k--) {
                offset[i * taps + k] = offset[i] + tap_offset[k];
                weight[i * taps + k] = weight[i] * tap_weight[k];
            }
        n *= taps;
    }
    return n;
}

#define RESIZE_ROWS(T)                                                                         \
    static void resize_rows_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        const resize_state *s = ctx->state;                                                    \
        const T *x = ctx->inputs[0]->data;                                                     \
        T extrapolation = (T)((const resize_params *)ctx->params)->extrapolation;              \
        int64_t width = s->axes.out[s->rank - 1], *offset = scratch;                           \
        double *weight = (double *)(offset + s->combos);                                       \
        for (int64_t row = begin; row < end; row++) {                                          \
            T *y = (T *)ctx->outputs[0]->data + row * width;                                   \
            int64_t n = row_combos(ctx, row, offset, weight);                                  \
            for (int64_t o = 0; o < width; o++) {                                              \
                int64_t tap_offset[RESIZE_MAX_TAPS];                                           \
                double tap_weight[RESIZE_MAX_TAPS], sum = 0;                                   \
                int taps = n ? axis_taps(ctx->params, s, s->rank - 1, o, tap_offset, tap_weight) : 0; \
                for (int64_t i = 0; i < n; i++) {                                              \
                    double partial = 0;                                                        \
                    for (int k = 0; k < taps; k++)                                             \
                        partial += tap_weight[k] * (double)x[offset[i] + tap_offset[k]];       \
                    sum += weight[i] * partial;                                                \
                }                                                                              \
                y[o] = taps ? (T)sum : extrapolation;                                          \
            }                                                                                  \
        }                                                                                      \
    }
RESIZE_ROWS(float)
RESIZE_ROWS(double)

/* Nearest: each output element is a copy of one input element, of any type of that size. */
#define NEAREST_ROWS(T)                                                                        \
    static void nearest_rows_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        const resize_state *s = ctx->state;                                                    \
        const T *x = ctx->inputs[0]->data;                                                     \
        int64_t width = s->axes.out[s->rank - 1], *offset = scratch;                           \
        for (int64_t row = begin; row < end; row++) {                                          \
            T *y = (T *)ctx->outputs[0]->data + row * width;                                   \
            row_combos(ctx, row, offset, (double *)(offset + s->combos));                      \
            for (int64_t o = 0; o < width; o++) {                                              \
                int64_t tap_offset;                                                            \
                double tap_weight;                                                             \
                axis_taps(ctx->params, s, s->rank - 1, o, &tap_offset, &tap_weight);           \
                y[o] = x[offset[0] + tap_offset];                                              \
            }                                                                                  \
        }                                                                                      \
    }
NEAREST_ROWS(uint8_t)
NEAREST_ROWS(uint16_t)
NEAREST_ROWS(uint32_t)
NEAREST_ROWS(uint64_t)

static onyx_status resize_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const resize_state *s = ctx->state;
    onyx_dtype dt = ctx->inputs[0]->dtype;
    if (!s->nearest)
        return run_float_kernel(ctx, begin, end, scratch, resize_rows_float, resize_rows_double);
    switch (onyx_dtype_size(dt)) {
    case 1: nearest_rows_uint8_t(ctx, begin, end, scratch); break;
    case 2: nearest_rows_uint16_t(ctx, begin, end, scratch); break;
    case 4: nearest_rows_uint32_t(ctx, begin, end, scratch); break;
    default: nearest_rows_uint64_t(ctx, begin, end, scratch); break;
    }
    return ONYX_OK;
}

const op_descriptor op_Resize = {resize_check, resize_reshape, resize_run, 0};
const op_descriptor op_Upsample = {upsample_check, resize_reshape, resize_run, 0};
