#include "window.h"

#include "count.h"

#include <string.h>

/* Attribute values are bounded so that sums and products of a few of them with dims (which
 * are below 2^31 too) stay far from int64 overflow. */
#define WINDOW_VALUE_MAX ((int64_t)INT32_MAX)

/* Reads an ints attribute of `per_axis` values per spatial axis into dst (left alone when
 * absent), each in [min, WINDOW_VALUE_MAX], and records or checks the number of axes. */
static onyx_status read_list(op_context *ctx, const char *name, int per_axis, int64_t min, int64_t *dst,
                             int *axes)
{
    const int64_t *values;
    int64_t count;
    onyx_status st = op_attr_ints(ctx, name, &values, &count);
    if (st || count < 0)
        return st;
    if (count % per_axis || count / per_axis > WINDOW_MAX_AXES)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute '%s' has %lld values: not %d per spatial axis for at most %d axes",
                        name, (long long)count, per_axis, WINDOW_MAX_AXES);
    int n = (int)(count / per_axis);
    if (*axes >= 0 && n != *axes)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' has %lld values, for %d spatial axes", name,
                        (long long)count, *axes);
    *axes = n;
    for (int64_t i = 0; i < count; i++) {
        if (values[i] < min || values[i] > WINDOW_VALUE_MAX)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' has value %lld, outside [%lld, %lld]", name,
                            (long long)values[i], (long long)min, (long long)WINDOW_VALUE_MAX);
        dst[i] = values[i];
    }
    return ONYX_OK;
}

void window_attrs_init(window_attrs *w)
{
    memset(w, 0, sizeof *w);
    w->axes = -1;
    for (int i = 0; i < WINDOW_MAX_AXES; i++)
        w->strides[i] = w->dilations[i] = 1;
}

onyx_status window_attrs_read(op_context *ctx, unsigned features, window_attrs *w)
{
    window_attrs_init(w);
    onyx_status st = read_list(ctx, "kernel_shape", 1, 1, w->kernel, &w->axes);
    if (st)
        return st;
    w->has_kernel = w->axes >= 0;
    if (!w->has_kernel && (features & WINDOW_KERNEL_REQUIRED))
        return op_attr_require(ctx, "kernel_shape");
    if ((st = read_list(ctx, "strides", 1, 1, w->strides, &w->axes)))
        return st;
    if ((features & WINDOW_DILATIONS) && (st = read_list(ctx, "dilations", 1, 1, w->dilations, &w->axes)))
        return st;
    /* pads lists begins then ends: read them into place for the axes once known. */
    int64_t pads[2 * WINDOW_MAX_AXES] = {0};
    if ((st = read_list(ctx, "pads", 2, 0, pads, &w->axes)))
        return st;
    int n = OP_MAX(w->axes, 0);
    for (int i = 0; i < n; i++) {
        w->pads[i] = pads[i];
        w->pads[WINDOW_MAX_AXES + i] = pads[n + i];
    }

    static const char *const modes[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    const char *auto_pad = "NOTSET";
    if ((features & WINDOW_AUTO_PAD) && (st = op_attr_string(ctx, "auto_pad", "NOTSET", &auto_pad)))
        return st;
    size_t m = 0;
    while (m < sizeof modes / sizeof modes[0] && strcmp(auto_pad, modes[m]))
        m++;
    if (m == sizeof modes / sizeof modes[0])
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute 'auto_pad' is '%s', not NOTSET, SAME_UPPER, SAME_LOWER or VALID",
                        auto_pad);
    w->auto_pad = (window_auto_pad)m;
    if (features & WINDOW_CEIL_MODE) {
        int64_t ceil_mode;
        if ((st = op_attr_int(ctx, "ceil_mode", 0, &ceil_mode)))
            return st;
        w->ceil_mode = ceil_mode != 0;
    }
    return ONYX_OK;
}

onyx_status window_check_axes(const op_context *ctx, const window_attrs *w, const onyx_tensor *x, int axes)
{
    char buf[128];
    if (axes < 1 || axes > WINDOW_MAX_AXES)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must have 1 to %d spatial axes after N and C",
                        op_input_name(ctx, 0), shape_str(x, buf, sizeof buf), WINDOW_MAX_AXES);
    if (w->axes >= 0 && w->axes != axes)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the attributes are for %d spatial axes, input '%s' %s has %d",
                        w->axes, op_input_name(ctx, 0), shape_str(x, buf, sizeof buf), axes);
    return ONYX_OK;
}

/* Output length and padding of axis d for a known input length. */
static onyx_status axis_init(const op_context *ctx, const window_attrs *w, int d, window_geometry *g)
{
    int64_t in = g->in[d], stride = g->stride[d];
    int64_t extent = (g->kernel[d] - 1) * g->dilation[d] + 1;
    switch (w->auto_pad) {
    case AUTO_PAD_SAME_UPPER:
    case AUTO_PAD_SAME_LOWER: {
        g->out[d] = (in + stride - 1) / stride;
        int64_t total = OP_MAX(0, (g->out[d] - 1) * stride + extent - in);
        int64_t smaller = total / 2;
        g->pad_begin[d] = w->auto_pad == AUTO_PAD_SAME_UPPER ? smaller : total - smaller;
        g->pad_end[d] = total - g->pad_begin[d];
        return ONYX_OK;
    }
    case AUTO_PAD_VALID:
        g->pad_begin[d] = g->pad_end[d] = 0;
        break;
    case AUTO_PAD_NOTSET:
        g->pad_begin[d] = w->pads[d];
        g->pad_end[d] = w->pads[WINDOW_MAX_AXES + d];
        break;
    }
    int64_t span = in + g->pad_begin[d] + g->pad_end[d] - extent;
    if (span < 0)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "the window of spatial axis %d (%lld wide, dilated) is larger than the padded input (%lld)",
                        d, (long long)extent, (long long)(in + g->pad_begin[d] + g->pad_end[d]));
    g->out[d] = span / stride + 1;
    /* ceil_mode adds a last, partial window, but only one that starts inside the input or its
     * leading padding (as PyTorch), never one wholly in the trailing padding. */
    if (w->ceil_mode && span % stride && (g->out[d]) * stride < in + g->pad_begin[d])
        g->out[d]++;
    return ONYX_OK;
}

onyx_status window_geometry_init(const op_context *ctx, const window_attrs *w, int axes, const int64_t *in,
                                 const int64_t *kernel, window_geometry *g)
{
    memset(g, 0, sizeof *g);
    g->axes = axes;
    for (int d = 0; d < axes; d++) {
        g->in[d] = in[d];
        g->kernel[d] = kernel[d];
        g->stride[d] = w->strides[d];
        g->dilation[d] = w->dilations[d];
        if (!dim_known(in[d])) {
            g->out[d] = DIM_UNKNOWN;
            continue;
        }
        onyx_status st = axis_init(ctx, w, d, g);
        if (st)
            return st;
    }
    return ONYX_OK;
}

onyx_status window_geometry_count(const op_context *ctx, window_geometry *g)
{
    g->in_count = checked_count(g->in, g->axes);
    g->out_count = checked_count(g->out, g->axes);
    g->kernel_count = checked_count(g->kernel, g->axes);
    if (g->in_count < 0 || g->out_count < 0 || g->kernel_count < 0)
        return op_error(ctx, ONYX_ERROR_LIMIT, "the window or its output has too many elements");
    return ONYX_OK;
}
