#include "conv_plan.h"

#include "count.h"

#include <string.h>

#define CONV_MAX_GROUP ((int64_t)INT32_MAX)
/* Elements of im2col scratch per block of output positions (1 MiB of floats), and the fewest
 * positions a block has, below which the product gets too thin to run well. */
#define CONV_SCRATCH_ELEMENTS ((int64_t)1 << 18)
#define CONV_MIN_BLOCK 32

onyx_status conv_params_read(op_context *ctx, conv_params **out)
{
    conv_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    onyx_status st;
    if ((st = window_attrs_read(ctx, WINDOW_AUTO_PAD | WINDOW_DILATIONS, &p->window)) ||
        (st = op_attr_int(ctx, "group", 1, &p->group)))
        return st;
    if (p->group < 1 || p->group > CONV_MAX_GROUP)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'group' is %lld, not a positive count",
                        (long long)p->group);
    ctx->params = p;
    *out = p;
    return ONYX_OK;
}

onyx_tensor conv_input_nchw(const op_context *ctx)
{
    const conv_params *p = ctx->params;
    onyx_tensor x = *op_input(ctx, 0);
    if (p->channels_last_input && x.rank >= 3) {
        int64_t c = x.dims[x.rank - 1];
        memmove(x.dims + 2, x.dims + 1, (size_t)(x.rank - 2) * sizeof(int64_t));
        x.dims[1] = c;
    }
    return x;
}

onyx_status conv_shapes(op_context *ctx, int w_input, int b_input, bool transposed, int64_t maps, int *axes,
                        int64_t *kernel)
{
    const conv_params *p = ctx->params;
    const onyx_tensor nchw = conv_input_nchw(ctx), *x = &nchw, *w = op_input(ctx, w_input);
    const onyx_tensor *b = b_input >= 0 ? op_input(ctx, b_input) : NULL;
    char sx[128], sw[128];
    *axes = x->rank - 2;
    onyx_status st = window_check_axes(ctx, &p->window, x, *axes);
    if (st)
        return st;
    if (w->rank != x->rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "W %s must have the rank of X %s", shape_str(w, sw, sizeof sw),
                        shape_str(x, sx, sizeof sx));
    int64_t c = x->dims[1], group = p->group;
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

void conv_output_shape(op_context *ctx, int64_t maps, int axes, const int64_t *spatial)
{
    onyx_tensor *y = op_output(ctx, 0);
    y->rank = axes + 2;
    y->dims[0] = op_input(ctx, 0)->dims[0];
    y->dims[1] = maps;
    memcpy(y->dims + 2, spatial, (size_t)axes * sizeof(int64_t));
}

onyx_status conv_state_new(op_context *ctx, int64_t maps, window_geometry *g, conv_state **out)
{
    const conv_params *p = ctx->params;
    onyx_status st;
    if ((st = check_output_shape(ctx, op_output(ctx, 0))) || (st = window_geometry_count(ctx, g)))
        return st;
    conv_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->geometry = *g;
    s->channels = conv_input_nchw(ctx).dims[1];
    s->channels_per_group = s->channels / p->group;
    s->maps = maps;
    s->maps_per_group = maps / p->group;
    ctx->state = *out = s;
    return ONYX_OK;
}

onyx_status conv_forward_reshape(op_context *ctx, int w_input, int b_input, size_t column_element_size)
{
    const conv_params *p = ctx->params;
    const onyx_tensor nchw = conv_input_nchw(ctx), *x = &nchw, *w = op_input(ctx, w_input);
    int64_t maps = w->dims[0], kernel[WINDOW_MAX_AXES], in[WINDOW_MAX_AXES];
    int axes;
    onyx_status st = conv_shapes(ctx, w_input, b_input, false, maps, &axes, kernel);
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

    conv_state *s;
    if ((st = conv_state_new(ctx, maps, &g, &s)))
        return st;
    s->direct = g.in_count == g.out_count;
    for (int d = 0; d < axes; d++)
        s->direct = s->direct && g.kernel[d] == 1 && g.stride[d] == 1 && g.pad_begin[d] == 0;
    s->rows = s->channels_per_group * g.kernel_count;
    s->block = OP_MIN(g.out_count, OP_MAX(CONV_MIN_BLOCK, CONV_SCRATCH_ELEMENTS / OP_MAX(s->rows, 1)));
    s->blocks = s->block ? (g.out_count + s->block - 1) / s->block : 0;
    ctx->n_tasks = x->dims[0] * p->group * s->blocks;
    ctx->task_cost = s->maps_per_group * s->rows * s->block;
    ctx->scratch_bytes = s->direct ? 0 : (size_t)(s->rows * s->block) * column_element_size;
    return ONYX_OK;
}
