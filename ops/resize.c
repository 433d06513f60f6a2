/* Resize (opsets 10, 11, 13, 18 and 19) and the Upsample it replaced (7 and 9), over any
 * number of axes: nearest (four rounding modes), N-linear and N-cubic (cubic_coeff_a,
 * exclude_outside) interpolation, every coordinate transformation mode, output dims from
 * scales or sizes. Resize-18 adds antialias (linear and cubic kernels stretched by 1 / scale
 * when downsampling, their weights normalized), axes (roi, scales and sizes name a subset of
 * the axes; the others keep their length) and keep_aspect_ratio_policy (sizes scaled by one
 * factor for every listed axis); Resize-19 the half_pixel_symmetric mode.
 *
 * Interpolation is separable: each output index of each axis maps to the input indices it
 * reads (its taps: 1 for nearest, 2 for linear, 4 for cubic, clamped to the edges) and their
 * weights, taps of weight 0 dropped. An output element is the sum, over every combination of
 * one tap per axis, of the product of the weights times the input element. The taps are
 * computed as the rows are written (once a row for the axes before the last), so that the
 * state stays small whatever the output dims. Taps that clamp to the same edge element are
 * merged, so an axis has at most as many taps as input elements however wide an antialiasing
 * kernel gets.
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
    COORD_HALF_PIXEL_SYMMETRIC,
} coordinate_mode;
typedef enum aspect_policy { ASPECT_STRETCH, ASPECT_NOT_LARGER, ASPECT_NOT_SMALLER } aspect_policy;
typedef enum nearest_rounding {
    ROUND_PREFER_FLOOR,
    ROUND_PREFER_CEIL,
    ROUND_FLOOR,
    ROUND_CEIL,
    ROUND_LEGACY, /* Upsample, Resize-10: floor when upsampling, ceil when downsampling */
} nearest_rounding;

/* Taps of the kernels without antialiasing (cubic: 4). */
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
    bool antialias;                 /* linear and cubic only */
    aspect_policy policy;
    const int64_t *axes;            /* Resize-18: the axes roi, scales and sizes refer to */
    int64_t axes_count;             /* -1: all */
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
    /* Per axis, for linear and cubic: the kernel's taps relative to floor(x) (first, count),
     * the factor its argument is multiplied by (min(scale, 1) when antialiasing, else 1), and
     * the most taps left after merging (at most the input length). */
    int64_t first[ONYX_MAX_RANK], n_raw[ONYX_MAX_RANK], taps[ONYX_MAX_RANK];
    double kernel_scale[ONYX_MAX_RANK];
    int64_t max_taps;
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
    static const char *const coords[] = {"half_pixel",           "pytorch_half_pixel", "align_corners",
                                         "asymmetric",           "tf_half_pixel_for_nn", "tf_crop_and_resize",
                                         "half_pixel_symmetric"};
    static const char *const policies[] = {"stretch", "not_larger", "not_smaller"};
    static const char *const roundings[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    int mode, coord = COORD_ASYMMETRIC, rounding = ROUND_LEGACY, policy = ASPECT_STRETCH;
    if ((st = read_choice(ctx, "mode", "nearest", modes, legacy ? 2 : 3, &mode)))
        return st;
    if (!legacy && ((st = read_choice(ctx, "coordinate_transformation_mode", "half_pixel", coords,
                                      ctx->opset >= 19 ? 7 : 6, &coord)) ||
                    (st = read_choice(ctx, "nearest_mode", "round_prefer_floor", roundings, 4, &rounding))))
        return st;
    int64_t antialias = 0;
    p->axes_count = -1;
    if (!legacy && ctx->opset >= 18 &&
        ((st = read_choice(ctx, "keep_aspect_ratio_policy", "stretch", policies, 3, &policy)) ||
         (st = op_attr_int(ctx, "antialias", 0, &antialias)) ||
         (st = op_attr_ints(ctx, "axes", &p->axes, &p->axes_count))))
        return st;
    if (p->axes_count > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'axes' has %lld values, more than rank %d",
                        (long long)p->axes_count, ONYX_MAX_RANK);
    p->policy = (aspect_policy)policy;
    /* The spec leaves antialias to linear and cubic; nearest ignores it. */
    p->antialias = antialias != 0 && mode != MODE_NEAREST;
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

/* The axes roi, scales and sizes refer to, in their order: `axes` normalized, or every axis. */
static onyx_status listed_axes(const op_context *ctx, int rank, int *axis, int *n)
{
    const resize_params *p = ctx->params;
    if (p->axes_count < 0) {
        for (int d = 0; d < rank; d++)
            axis[d] = d;
        *n = rank;
        return ONYX_OK;
    }
    if (p->axes_count > rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'axes' has %lld values for rank %d",
                        (long long)p->axes_count, rank);
    bool seen[ONYX_MAX_RANK] = {false};
    for (int i = 0; i < p->axes_count; i++) {
        onyx_status st = op_axis(ctx, "axes", p->axes[i], rank, &axis[i]);
        if (st)
            return st;
        if (seen[axis[i]])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'axes' repeats axis %d", axis[i]);
        seen[axis[i]] = true;
    }
    *n = (int)p->axes_count;
    return ONYX_OK;
}

/* Output dims under keep_aspect_ratio_policy not_larger / not_smaller: one scale, the least or
 * the greatest of sizes / input length over the listed axes, for all of them. */
static onyx_status keep_aspect_ratio(const op_context *ctx, const onyx_tensor *x, const int64_t *sizes,
                                     const int *axis, int n, resize_axes *a)
{
    const resize_params *p = ctx->params;
    double scale = 0;
    for (int i = 0; i < n; i++) {
        int64_t in = x->dims[axis[i]];
        if (!dim_known(in)) {
            for (int k = 0; k < n; k++)
                a->out[axis[k]] = DIM_UNKNOWN;
            return ONYX_OK;
        }
        if (in == 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "axis %d is empty: keep_aspect_ratio_policy has no ratio to keep", axis[i]);
        double ratio = (double)sizes[i] / (double)in;
        if (i == 0 || (p->policy == ASPECT_NOT_LARGER ? ratio < scale : ratio > scale))
            scale = ratio;
    }
    for (int i = 0; i < n; i++) {
        int d = axis[i];
        /* round half up, as the spec's round_int */
        double out = floor(scale * (double)x->dims[d] + 0.5);
        if (!(out <= RESIZE_MAX_DIM))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d would be %g long", d, out);
        a->out[d] = (int64_t)out;
        a->scale[d] = scale > 0 ? scale : 1;
        a->length[d] = scale * (double)x->dims[d];
    }
    return ONYX_OK;
}

/* ONYX_DEFER when a value needed is not known yet. */
static onyx_status resize_output_dims(const op_context *ctx, const onyx_tensor *x, resize_axes *a)
{
    const resize_params *p = ctx->params;
    const onyx_tensor *roi = list_input(ctx, p->roi), *scales = list_input(ctx, p->scales);
    const onyx_tensor *sizes = list_input(ctx, p->sizes);
    int rank = x->rank, axis[ONYX_MAX_RANK], n = 0;
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
    if ((st = listed_axes(ctx, rank, axis, &n)))
        return st;
    if ((scales && (st = check_list(ctx, p->scales, scales, n))) ||
        (sizes && (st = check_list(ctx, p->sizes, sizes, n))))
        return st;
    bool crop = p->coord == COORD_TF_CROP_AND_RESIZE;
    if (crop && !roi)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "tf_crop_and_resize needs the roi input");
    if (crop && (st = check_list(ctx, p->roi, roi, 2 * (int64_t)n)))
        return st;
    if ((scales && !scales->data) || (sizes && !sizes->data) || (crop && !roi->data))
        return ONYX_DEFER;
    /* Axes not listed keep their length: scale 1 over the whole roi. */
    for (int d = 0; d < rank; d++) {
        a->out[d] = x->dims[d];
        a->scale[d] = 1;
        a->length[d] = dim_known(x->dims[d]) ? (double)x->dims[d] : 0;
        a->roi_start[d] = 0;
        a->roi_end[d] = 1;
    }
    for (int i = 0; i < n; i++) {
        int d = axis[i];
        int64_t in = x->dims[d];
        a->roi_start[d] = crop ? float_at(roi, i) : 0;
        a->roi_end[d] = crop ? float_at(roi, n + i) : 1;
        if (sizes) {
            a->out[d] = ((const int64_t *)sizes->data)[i];
            if (a->out[d] < 0 || a->out[d] > (int64_t)RESIZE_MAX_DIM)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                "sizes has value %lld, outside [0, %lld]", (long long)a->out[d],
                                (long long)RESIZE_MAX_DIM);
            if (dim_known(in) && in == 0 && a->out[d] > 0 && p->policy == ASPECT_STRETCH)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %d is empty and cannot be resized to %lld", d,
                                (long long)a->out[d]);
            a->scale[d] = in > 0 ? (double)a->out[d] / (double)in : 1;
            a->length[d] = (double)a->out[d];
            continue;
        }
        double scale = scales ? ((const float *)scales->data)[i] : p->scale_attr[d];
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
    if (sizes && p->policy != ASPECT_STRETCH)
        return keep_aspect_ratio(ctx, x, sizes->data, axis, n, a);
    return ONYX_OK;
}

/* ---- taps -------------------------------------------------------------------------------- */

/* The input coordinate output index o of axis d maps to. */
static double original_coordinate(const resize_params *p, const resize_axes *a, int d, int64_t o, int64_t in)
{
    double x = (double)o, scale = a->scale[d], length = a->length[d];
    switch (p->coord) {
    case COORD_HALF_PIXEL: return (x + 0.5) / scale - 0.5;
    case COORD_HALF_PIXEL_SYMMETRIC: {
        /* Centres the output on the input where the output length was rounded down. */
        double adjustment = (double)a->out[d] / length;
        return (double)in / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5;
    }
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

/* Keys' cubic kernel at distance x (either sign). */
static double cubic_kernel(double x, double A)
{
    x = fabs(x);
    if (x <= 1)
        return ((A + 2) * x - (A + 3)) * x * x + 1;
    return x < 2 ? ((A * x - 5 * A) * x + 8 * A) * x - 4 * A : 0;
}

/* The weight of tap j (relative to floor(x)) at fraction t on axis d: the kernel at distance
 * j - t, stretched when antialiasing. */
static double tap_weight(const resize_params *p, const resize_state *s, int d, int64_t j, double t)
{
    double arg = ((double)j - t) * s->kernel_scale[d];
    if (p->mode == MODE_LINEAR)
        return fmax(1 - fabs(arg), 0);
    return cubic_kernel(arg, p->cubic_a);
}

/* The taps of output index o of axis d: their count (0 when the coordinate falls outside the
 * input for tf_crop_and_resize: the output is then the extrapolation value), input offsets
 * and weights (room for s->taps[d]). */
static int64_t axis_taps(const resize_params *p, const resize_state *s, int d, int64_t o, int64_t *offset,
                         double *weight)
{
    int64_t in = s->in[d], n = s->n_raw[d], first = s->first[d];
    double x = original_coordinate(p, &s->axes, d, o, in), w[RESIZE_MAX_TAPS];
    if (p->coord == COORD_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1)))
        return 0;
    /* Far outside, every tap clamps to the edge: bound x before converting it. */
    double margin = (double)(n + RESIZE_MAX_TAPS);
    x = fmin(fmax(x, -margin), (double)in + margin);
    double base = floor(x), t = x - base;
    if (p->mode == MODE_NEAREST) {
        base = nearest_index(p->rounding, x, s->axes.scale[d]);
        offset[0] = OP_MIN(OP_MAX((int64_t)base, 0), in - 1) * s->stride[d];
        weight[0] = 1;
        return 1;
    }
    if (!p->antialias) {
        /* The usual 2 or 4 taps, as before antialias existed (the same rounding). */
        if (p->mode == MODE_LINEAR) {
            w[0] = 1 - t;
            w[1] = t;
        } else {
            cubic_weights(t, p->cubic_a, w);
        }
    }
    /* Each tap's weight added to the slot of its (clamped) input index: indices rise with j,
     * so equal ones are adjacent. */
    double sum = 0;
    int64_t count = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t index = (int64_t)base + first + k;
        double wk = p->antialias ? tap_weight(p, s, d, first + k, t) : w[k];
        if (p->exclude_outside && (index < 0 || index >= in))
            wk = 0;
        sum += wk;
        int64_t off = OP_MIN(OP_MAX(index, 0), in - 1) * s->stride[d];
        if (count > 0 && offset[count - 1] == off) {
            weight[count - 1] += wk;
        } else {
            offset[count] = off;
            weight[count++] = wk;
        }
    }
    bool normalize = (p->exclude_outside || p->antialias) && sum != 0;
    int64_t kept = 0;
    for (int64_t k = 0; k < count; k++) {
        double wk = normalize ? weight[k] / sum : weight[k];
        if (wk == 0)
            continue;
        offset[kept] = offset[k];
        weight[kept++] = wk;
    }
    return kept;
}

/* The kernel of each axis: its taps around floor(x) and their bound after merging. */
static onyx_status plan_taps(const op_context *ctx, resize_state *s)
{
    const resize_params *p = ctx->params;
    s->max_taps = 1;
    s->combos = 1;
    for (int d = 0; d < s->rank; d++) {
        int64_t in = s->in[d];
        s->kernel_scale[d] = 1;
        if (p->mode == MODE_NEAREST) {
            s->first[d] = 0;
            s->n_raw[d] = 1;
        } else if (!p->antialias) {
            s->first[d] = p->mode == MODE_LINEAR ? 0 : -1;
            s->n_raw[d] = p->mode == MODE_LINEAR ? 2 : 4;
        } else {
            /* The kernel's support (1 linear, 2 cubic) widened by 1 / scale when downsampling. */
            double scale = fmin(s->axes.scale[d], 1), support = p->mode == MODE_LINEAR ? 1 : 2;
            double first = floor(-support / scale) + 1;
            /* Every output coordinate has scale * in >= 1/2 (the output would be empty
             * otherwise) unless a roi wider than the input stretches it: bound the loop. */
            if (!(-first <= 8 * (double)in + 16))
                return op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                                "antialiasing axis %d at scale %g would read %g taps for each output element",
                                d, scale, 2 - 2 * first);
            s->first[d] = (int64_t)first;
            s->n_raw[d] = 2 - 2 * (int64_t)first;
            s->kernel_scale[d] = scale;
        }
        s->taps[d] = OP_MAX(OP_MIN(s->n_raw[d], in), 1);
        s->max_taps = OP_MAX(s->max_taps, s->taps[d]);
        if (d < s->rank - 1)
            s->combos *= s->taps[d];
    }
    return ONYX_OK;
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
    int64_t stride = 1, width = a.out[s->rank - 1];
    for (int d = s->rank - 1; d >= 0; d--) {
        s->in[d] = x->dims[d];
        s->stride[d] = stride;
        stride *= x->dims[d];
    }
    ctx->state = s;
    ctx->n_tasks = width ? tensor_count(y) / width : 0;
    if (!ctx->n_tasks)
        return ONYX_OK;
    if ((st = plan_taps(ctx, s)))
        return st;
    ctx->task_cost = width * s->combos * s->taps[s->rank - 1] * 2;
    /* Each row's tap combinations over the axes before the last, then one axis's taps: an
     * offset and a weight each. */
    ctx->scratch_bytes = (size_t)(s->combos + s->max_taps) * (sizeof(int64_t) + sizeof(double));
    return ONYX_OK;
}

/* ---- run --------------------------------------------------------------------------------- */

/* The tap combinations of the axes before the last for output row `row`: their input offsets
 * and weight products. Returns their count, 0 when the row lies outside the input. */
static int64_t row_combos(const op_context *ctx, int64_t row, int64_t *offset, double *weight,
                          int64_t *tap_offset, double *tap_weight)
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
        int64_t taps = axis_taps(ctx->params, s, d, pos[d], tap_offset, tap_weight);
        /* Each combination so far times each tap, written back to front in place. */
        for (int64_t i = n - 1; i >= 0; i--)
            for (int64_t k = taps - 1; k >= 0; k--) {
                offset[i * taps + k] = offset[i] + tap_offset[k];
                weight[i * taps + k] = weight[i] * tap_weight[k];
            }
        n *= taps;
    }
    return n;
}

/* The scratch: the row's combinations (offsets, weights), then one axis's taps. */
#define RESIZE_SCRATCH                                                                         \
    int64_t *offset = scratch, *tap_offset = offset + s->combos;                               \
    double *weight = (double *)(tap_offset + s->max_taps), *tap_weight = weight + s->combos;

#define RESIZE_ROWS(T)                                                                         \
    static void resize_rows_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        const resize_state *s = ctx->state;                                                    \
        const T *x = ctx->inputs[0]->data;                                                     \
        T extrapolation = (T)((const resize_params *)ctx->params)->extrapolation;              \
        int64_t width = s->axes.out[s->rank - 1];                                              \
        RESIZE_SCRATCH                                                                         \
        for (int64_t row = begin; row < end; row++) {                                          \
            T *y = (T *)ctx->outputs[0]->data + row * width;                                   \
            int64_t n = row_combos(ctx, row, offset, weight, tap_offset, tap_weight);          \
            for (int64_t o = 0; o < width; o++) {                                              \
                double sum = 0;                                                                \
                int64_t taps = n ? axis_taps(ctx->params, s, s->rank - 1, o, tap_offset, tap_weight) : 0; \
                for (int64_t i = 0; i < n; i++) {                                              \
                    double partial = 0;                                                        \
                    for (int64_t k = 0; k < taps; k++)                                         \
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
        int64_t width = s->axes.out[s->rank - 1];                                              \
        RESIZE_SCRATCH                                                                         \
        for (int64_t row = begin; row < end; row++) {                                          \
            T *y = (T *)ctx->outputs[0]->data + row * width;                                   \
            row_combos(ctx, row, offset, weight, tap_offset, tap_weight);                      \
            for (int64_t o = 0; o < width; o++) {                                              \
                axis_taps(ctx->params, s, s->rank - 1, o, tap_offset, tap_weight);             \
                y[o] = x[offset[0] + tap_offset[0]];                                           \
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
