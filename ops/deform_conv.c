/* DeformConv (opsets 19, 22): a grouped convolution whose kernel taps sample the input at
 * learned fractional offsets, optionally weighted by a mask (deformable convolution v1/v2).
 *
 * For output position o and kernel tap t, in every spatial axis i:
 *     p_i = o_i * stride_i - pad_begin_i + t_i * dilation_i + offset[n, (g, t, i), o]
 * and the input is read at p by multilinear interpolation, the corners outside the input
 * counting as zero (GridSample with align_corners and zero padding, as ONNX's reference does).
 * Each batch item (one task) gathers those samples, times the mask, into columns of
 * (C * taps) x (output positions), then multiplies each group's weights by its block of
 * rows with onyx's GEMM. Any number of spatial axes; float16 and bfloat16 compute on float. */
#include "dtype_io.h"
#include "gemm.h"
#include "op.h"

#include <math.h>
#include <string.h>

enum { DC_X, DC_W, DC_OFFSET, DC_B, DC_MASK };
#define DC_MAX_SPATIAL (ONYX_MAX_RANK - 2)

typedef struct deform_conv_params {
    int64_t group, offset_group;
    /* Attributes as the model gives them (count -1 when absent); their lengths are checked
     * against the input's rank in reshape. */
    const int64_t *kernel_shape, *strides, *pads, *dilations;
    int64_t n_kernel_shape, n_strides, n_pads, n_dilations;
} deform_conv_params;

typedef struct deform_conv_state {
    int n;                   /* spatial axes */
    int64_t in[DC_MAX_SPATIAL], out[DC_MAX_SPATIAL], kernel[DC_MAX_SPATIAL];
    int64_t stride[DC_MAX_SPATIAL], pad[DC_MAX_SPATIAL], dilation[DC_MAX_SPATIAL];
    int64_t channels, out_channels, taps, positions, in_size;
} deform_conv_state;

static onyx_status deform_conv_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 5, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 5, 3, DT_FLOAT_IO);
    deform_conv_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "group", 1, &p->group)) ||
        (st = op_attr_int(ctx, "offset_group", 1, &p->offset_group)) ||
        (st = op_attr_ints(ctx, "kernel_shape", &p->kernel_shape, &p->n_kernel_shape)) ||
        (st = op_attr_ints(ctx, "strides", &p->strides, &p->n_strides)) ||
        (st = op_attr_ints(ctx, "pads", &p->pads, &p->n_pads)) ||
        (st = op_attr_ints(ctx, "dilations", &p->dilations, &p->n_dilations)))
        return st;
    if (p->group < 1 || p->offset_group < 1 || p->group > INT32_MAX || p->offset_group > INT32_MAX)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "group (%lld) and offset_group (%lld) must be in [1, 2^31)",
                        (long long)p->group, (long long)p->offset_group);
    /* Bounded so that positions computed from them never overflow. */
    for (int64_t i = 0; i < p->n_kernel_shape; i++)
        if (p->kernel_shape[i] < 1 || p->kernel_shape[i] > INT32_MAX)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "kernel_shape values must be in [1, 2^31)");
    for (int64_t i = 0; i < p->n_strides; i++)
        if (p->strides[i] < 1 || p->strides[i] > INT32_MAX)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "strides must be in [1, 2^31)");
    for (int64_t i = 0; i < p->n_dilations; i++)
        if (p->dilations[i] < 1 || p->dilations[i] > INT32_MAX)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "dilations must be in [1, 2^31)");
    for (int64_t i = 0; i < p->n_pads; i++)
        if (p->pads[i] < 0 || p->pads[i] > INT32_MAX)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "pads must be in [0, 2^31)");
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, DC_X)->dtype);
    return ONYX_OK;
}

/* An error unless an attribute list has `per_axis` values for each of the n spatial axes (or
 * is absent). */
static onyx_status need_len(const op_context *ctx, const char *name, int64_t count, int n, int per_axis)
{
    if (count < 0 || count == (int64_t)n * per_axis)
        return ONYX_OK;
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s has %lld values; X's %d spatial axes need %d", name,
                    (long long)count, n, n * per_axis);
}

static onyx_status deform_conv_reshape(op_context *ctx)
{
    const deform_conv_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, DC_X), *w = op_input(ctx, DC_W), *off = op_input(ctx, DC_OFFSET);
    const onyx_tensor *bias = op_input(ctx, DC_B), *mask = op_input(ctx, DC_MASK);
    char s[96], s2[96], s3[96];
    if (x->rank < 3 || x->rank > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "X %s must be (N, C, D1, ...) with at least one spatial axis",
                        shape_str(x, s, sizeof s));
    int n = x->rank - 2;
    if (w->rank != x->rank || off->rank != x->rank || (mask && mask->rank != x->rank) ||
        (bias && bias->rank != 1))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "W, offset and mask must have X's rank %d, B rank 1",
                        x->rank);
    onyx_status st = need_len(ctx, "kernel_shape", p->n_kernel_shape, n, 1);
    if (!st)
        st = need_len(ctx, "strides", p->n_strides, n, 1);
    if (!st)
        st = need_len(ctx, "dilations", p->n_dilations, n, 1);
    if (!st)
        st = need_len(ctx, "pads", p->n_pads, n, 2);
    if (st)
        return st;
    int64_t channels = x->dims[1], out_channels = w->dims[0], taps = 1;
    bool known = true;
    deform_conv_state ds = {.n = n, .channels = channels, .out_channels = out_channels};
    int64_t out_dims[ONYX_MAX_RANK] = {x->dims[0], out_channels};
    for (int i = 0; i < n; i++) {
        int64_t k = w->dims[2 + i];
        if (p->n_kernel_shape >= 0 && !dim_may_equal(k, p->kernel_shape[i]))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "kernel_shape disagrees with W %s",
                            shape_str(w, s, sizeof s));
        if (p->n_kernel_shape >= 0)
            k = p->kernel_shape[i];
        ds.kernel[i] = k;
        ds.in[i] = x->dims[2 + i];
        ds.stride[i] = p->n_strides >= 0 ? p->strides[i] : 1;
        ds.dilation[i] = p->n_dilations >= 0 ? p->dilations[i] : 1;
        ds.pad[i] = p->n_pads >= 0 ? p->pads[i] : 0;
        int64_t end_pad = p->n_pads >= 0 ? p->pads[n + i] : 0;
        out_dims[2 + i] = DIM_UNKNOWN;
        if (dim_known(k) && (k < 1 || k > INT32_MAX))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "W's kernel dims must be in [1, 2^31)");
        if (dim_known(k) && dim_known(ds.in[i])) {
            int64_t span = (k - 1) * ds.dilation[i] + 1, padded = ds.in[i] + ds.pad[i] + end_pad;
            if (padded < span)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                "the dilated kernel (%lld) exceeds the padded input (%lld) along axis %d",
                                (long long)span, (long long)padded, i);
            out_dims[2 + i] = (padded - span) / ds.stride[i] + 1;
        }
        ds.out[i] = out_dims[2 + i];
        taps = dim_mul(taps, k);
        known = known && dim_known(k) && dim_known(ds.in[i]);
    }
    /* As a division: W's dim 1 times group could overflow. */
    if (dim_known(channels) && dim_known(w->dims[1]) &&
        (channels % p->group || channels / p->group != w->dims[1]))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "X's %lld channels must be W's dim 1 (%lld) times group (%lld)", (long long)channels,
                        (long long)w->dims[1], (long long)p->group);
    if (dim_known(out_channels) && out_channels % p->group)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "W's %lld output channels are not a multiple of group %lld", (long long)out_channels,
                        (long long)p->group);
    if (dim_known(channels) && channels % p->offset_group)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "X's %lld channels are not a multiple of offset_group %lld", (long long)channels,
                        (long long)p->offset_group);
    if (bias && !dim_may_equal(bias->dims[0], out_channels))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "B %s must have W's %lld output channels",
                        shape_str(bias, s, sizeof s), (long long)out_channels);
    /* offset (N, offset_group * taps * n, out...) and mask (N, offset_group * taps, out...). */
    const onyx_tensor *per_tap[2] = {off, mask};
    for (int j = 0; j < 2; j++) {
        const onyx_tensor *t = per_tap[j];
        if (!t)
            continue;
        int64_t want = DIM_UNKNOWN; /* offset_group * taps (* n): may overflow for a hostile W */
        if (dim_known(taps) && __builtin_mul_overflow(p->offset_group * (j == 0 ? n : 1), taps, &want))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "offset_group times W's kernel taps overflows");
        bool ok = dim_may_equal(t->dims[0], x->dims[0]) && dim_may_equal(t->dims[1], want);
        for (int i = 0; i < n; i++)
            ok = ok && dim_may_equal(t->dims[2 + i], out_dims[2 + i]);
        if (!ok)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "%s %s must be (N, offset_group * %s, output dims) for X %s and W %s",
                            j == 0 ? "offset" : "mask", shape_str(t, s, sizeof s),
                            j == 0 ? "kernel taps * spatial axes" : "kernel taps",
                            shape_str(x, s2, sizeof s2), shape_str(w, s3, sizeof s3));
    }
    tensor_set_shape(op_output(ctx, 0), x->rank, out_dims);
    if (!ctx->concrete || !known)
        return ONYX_OK;
    ds.taps = taps;
    ds.positions = shape_count(ds.out, n);
    ds.in_size = shape_count(ds.in, n);
    /* The sampled columns of one item: bounded like a tensor (taps * positions is not bounded
     * by any input's size). */
    int64_t rows = channels * taps, wcount = tensor_count(w);
    int64_t columns[2] = {rows, ds.positions};
    if ((st = op_check_shape(ctx, 2, columns, "the sampled columns (C * taps, outputs)")))
        return st;
    deform_conv_state *state = op_alloc_state(ctx, sizeof *state);
    if (!state)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *state = ds;
    ctx->state = state;
    ctx->n_tasks = x->dims[0];
    ctx->task_cost = rows * ds.positions * ((1 << n) + out_channels / p->group);
    /* One item's columns (double for double), and for 16-bit dtypes W and Y as float. */
    bool half = x->dtype == ONYX_DTYPE_FLOAT16 || x->dtype == ONYX_DTYPE_BFLOAT16;
    size_t v = x->dtype == ONYX_DTYPE_DOUBLE ? sizeof(double) : sizeof(float);
    ctx->scratch_bytes = (size_t)(rows * ds.positions) * v;
    if (half)
        ctx->scratch_bytes += (size_t)(wcount + out_channels * ds.positions) * sizeof(float);
    return ONYX_OK;
}

/* X[c] (one channel of one item, `in_size` values from `base`) read at the fractional
 * position pos[0..n) by multilinear interpolation; corners outside count as zero. */
static double sample(const deform_conv_state *ds, onyx_dtype dt, const void *x, int64_t base,
                     const double *pos)
{
    int64_t lo[DC_MAX_SPATIAL];
    double frac[DC_MAX_SPATIAL];
    for (int i = 0; i < ds->n; i++) {
        /* Far outside (or NaN): every corner is out, and floor must not overflow. */
        if (!(pos[i] > -1.0 && pos[i] < (double)ds->in[i]))
            return 0.0;
        double f = floor(pos[i]);
        lo[i] = (int64_t)f;
        frac[i] = pos[i] - f;
    }
    double sum = 0.0;
    for (int corner = 0; corner < 1 << ds->n; corner++) {
        double weight = 1.0;
        int64_t at = 0;
        bool inside = true;
        for (int i = 0; i < ds->n && inside; i++) {
            int up = corner >> i & 1;
            int64_t c = lo[i] + up;
            inside = c >= 0 && c < ds->in[i];
            weight *= up ? frac[i] : 1.0 - frac[i];
            at = at * ds->in[i] + c;
        }
        if (inside && weight != 0.0)
            sum += weight * float_io_load(dt, x, base + at);
    }
    return sum;
}

/* Fills columns[(c * taps + t) * positions + o] for item `item`: float, or double when
 * `wide`. */
static void fill_columns(const op_context *ctx, const deform_conv_state *ds, int64_t item, void *columns,
                         bool wide)
{
    const deform_conv_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[DC_X], *off = ctx->inputs[DC_OFFSET], *mask = op_input(ctx, DC_MASK);
    onyx_dtype dt = x->dtype;
    int n = ds->n;
    int64_t per_group = ds->channels / p->offset_group, positions = ds->positions;
    for (int64_t t = 0; t < ds->taps; t++) {
        int64_t tap[DC_MAX_SPATIAL];
        for (int i = n - 1; i >= 0; i--) { /* t as a multi-index, last axis fastest */
            int64_t below = 1;
            for (int j = i + 1; j < n; j++)
                below *= ds->kernel[j];
            tap[i] = t / below % ds->kernel[i];
        }
        for (int64_t g = 0; g < p->offset_group; g++) {
            int64_t channel = item * p->offset_group * ds->taps + g * ds->taps + t; /* of mask */
            for (int64_t o = 0; o < positions; o++) {
                double pos[DC_MAX_SPATIAL];
                for (int64_t i = n - 1, r = o; i >= 0; i--) {
                    int64_t oi = r % ds->out[i];
                    r /= ds->out[i];
                    double shift = float_io_load(dt, off->data, (channel * n + i) * positions + o);
                    pos[i] = (double)(oi * ds->stride[i] - ds->pad[i] + tap[i] * ds->dilation[i]) + shift;
                }
                double m = mask ? float_io_load(dt, mask->data, channel * positions + o) : 1.0;
                for (int64_t c = g * per_group; c < (g + 1) * per_group; c++) {
                    int64_t base = (item * ds->channels + c) * ds->in_size;
                    double v = m == 0.0 ? 0.0 : m * sample(ds, dt, x->data, base, pos);
                    int64_t at = (c * ds->taps + t) * positions + o;
                    if (wide)
                        ((double *)columns)[at] = v;
                    else
                        ((float *)columns)[at] = (float)v;
                }
            }
        }
    }
}

/* Y block (ocg x positions, rows `ld` apart) of each group = W_g columns_g, in V. */
#define DC_PRODUCT(V, GEMM)                                                                                  \
    static void product_##V(const deform_conv_state *ds, int64_t groups, const V *w, const V *columns,      \
                            V *out)                                                                          \
    {                                                                                                        \
        int64_t positions = ds->positions, ocg = ds->out_channels / groups;                                  \
        int64_t k = ds->channels / groups * ds->taps; /* a row of W: one group's rows of columns */          \
        for (int64_t g = 0; g < groups; g++) {                                                               \
            V *block = out + g * ocg * positions;                                                            \
            if (k == 0) /* no input channels: the sums are empty */                                          \
                memset(block, 0, (size_t)(ocg * positions) * sizeof(V));                                     \
            else                                                                                             \
                GEMM(false, false, ocg, positions, k, 1, w + g * ocg * k, k, columns + g * k * positions,    \
                     positions, 0, block, positions);                                                        \
        }                                                                                                    \
    }
DC_PRODUCT(float, gemm_f32)
DC_PRODUCT(double, gemm_f64)

static onyx_status deform_conv_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const deform_conv_params *p = ctx->params;
    const deform_conv_state *ds = ctx->state;
    const onyx_tensor *w = ctx->inputs[DC_W], *bias = op_input(ctx, DC_B);
    onyx_tensor *y = ctx->outputs[0];
    onyx_dtype dt = y->dtype;
    int64_t positions = ds->positions, oc = ds->out_channels, block = oc * positions;
    int64_t rows = ds->channels * ds->taps, wcount = tensor_count(w);
    /* float and double compute in place in Y; 16-bit dtypes through float copies of W and Y. */
    float *wf = (float *)scratch + rows * positions, *out = wf + wcount;
    if (dt == ONYX_DTYPE_FLOAT16 || dt == ONYX_DTYPE_BFLOAT16)
        for (int64_t i = 0; i < wcount; i++)
            wf[i] = (float)float_io_load(dt, w->data, i);
    for (int64_t item = begin; item < end; item++) {
        if (dt == ONYX_DTYPE_DOUBLE) {
            double *yd = (double *)y->data + item * block;
            fill_columns(ctx, ds, item, scratch, true);
            product_double(ds, p->group, w->data, scratch, yd);
            for (int64_t c = 0; bias && c < oc; c++)
                for (int64_t o = 0; o < positions; o++)
                    yd[c * positions + o] += ((const double *)bias->data)[c];
            continue;
        }
        fill_columns(ctx, ds, item, scratch, false);
        if (dt == ONYX_DTYPE_FLOAT) {
            float *yf = (float *)y->data + item * block;
            product_float(ds, p->group, w->data, scratch, yf);
            for (int64_t c = 0; bias && c < oc; c++)
                for (int64_t o = 0; o < positions; o++)
                    yf[c * positions + o] += ((const float *)bias->data)[c];
            continue;
        }
        product_float(ds, p->group, wf, scratch, out);
        for (int64_t c = 0; c < oc; c++) {
            float b = bias ? (float)float_io_load(dt, bias->data, c) : 0.0f;
            for (int64_t o = 0; o < positions; o++)
                float_io_store(dt, y->data, item * block + c * positions + o, out[c * positions + o] + b);
        }
    }
    return ONYX_OK;
}

const op_descriptor op_DeformConv = {deform_conv_check, deform_conv_reshape, deform_conv_run, 0};
