/* DepthToSpace and SpaceToDepth: move blocks of blocksize x blocksize between the channels
 * and the spatial dims of an NCHW tensor, the channels ordered depth-column-row (DCR) or
 * column-row-depth (CRD: DepthToSpace from opset 11, SpaceToDepth from opset 28). Each is a
 * strided copy: the output viewed as six axes, one per factor of the channel and spatial
 * indices, with the matching input strides. */
#include "checks.h"
#include "op.h"
#include "strided_copy.h"

#include <string.h>

typedef struct space_depth_params {
    int64_t blocksize;
    bool column_row_depth; /* mode CRD: channel c * bs^2 + i * bs + j (else DCR) */
} space_depth_params;

/* `mode` exists from opset `mode_since` on; before, the order is DCR. */
static onyx_status space_depth_check(op_context *ctx, int mode_since)
{
    onyx_status st = check_one_input(ctx, DT_ALL, ONYX_DTYPE_UNDEFINED);
    if (!st)
        st = op_attr_require(ctx, "blocksize");
    space_depth_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    const char *mode = "DCR";
    if ((st = op_attr_int(ctx, "blocksize", 0, &p->blocksize)) ||
        (ctx->opset >= mode_since && (st = op_attr_string(ctx, "mode", "DCR", &mode))))
        return st;
    int64_t area;
    if (p->blocksize < 1 || __builtin_mul_overflow(p->blocksize, p->blocksize, &area))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "blocksize %lld is out of range", (long long)p->blocksize);
    if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "mode '%s' is not DCR or CRD", mode);
    p->column_row_depth = !strcmp(mode, "CRD");
    ctx->params = p;
    return ONYX_OK;
}

/* d * factor, unknown when d is; an error when it overflows. */
static onyx_status scale_dim(const op_context *ctx, int64_t d, int64_t factor, int64_t *out)
{
    if (!dim_known(d))
        *out = DIM_UNKNOWN;
    else if (__builtin_mul_overflow(d, factor, out))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "dim %lld times %lld overflows", (long long)d, (long long)factor);
    return ONYX_OK;
}

/* d / divisor, unknown when d is; an error when it does not divide. */
static onyx_status divide_dim(const op_context *ctx, const char *what, int64_t d, int64_t divisor, int64_t *out)
{
    if (dim_known(d) && d % divisor)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s %lld is not a multiple of %lld", what, (long long)d,
                        (long long)divisor);
    *out = dim_known(d) ? d / divisor : DIM_UNKNOWN;
    return ONYX_OK;
}

static onyx_status space_depth_shape(op_context *ctx, bool to_space)
{
    const space_depth_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    if (x->rank != 4)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input must be 4-D (NCHW), got rank %d", x->rank);
    int64_t bs = p->blocksize;
    y->rank = 4;
    y->dims[0] = x->dims[0];
    onyx_status st = to_space ? divide_dim(ctx, "channels", x->dims[1], bs * bs, &y->dims[1])
                              : scale_dim(ctx, x->dims[1], bs * bs, &y->dims[1]);
    for (int d = 2; d < 4 && !st; d++)
        st = to_space ? scale_dim(ctx, x->dims[d], bs, &y->dims[d])
                      : divide_dim(ctx, d == 2 ? "height" : "width", x->dims[d], bs, &y->dims[d]);
    return st;
}

static onyx_status depth_to_space_reshape(op_context *ctx)
{
    onyx_status st = space_depth_shape(ctx, true);
    if (st || !ctx->concrete)
        return st;
    const space_depth_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *y = op_output(ctx, 0);
    int64_t bs = p->blocksize, c = y->dims[1], h = x->dims[2], w = x->dims[3], plane = h * w;
    /* Output [N, C', H, i, W, j], the input channel being (i * bs + j) * C' + c (DCR) or
     * c * bs^2 + i * bs + j (CRD). */
    int64_t dims[6] = {x->dims[0], c, h, bs, w, bs};
    int64_t strides[6] = {x->dims[1] * plane, plane, w, bs * c * plane, 1, c * plane};
    if (p->column_row_depth) {
        strides[1] = bs * bs * plane;
        strides[3] = bs * plane;
        strides[5] = plane;
    }
    return strided_copy_plan(ctx, 6, dims, strides, 0);
}

static onyx_status space_to_depth_reshape(op_context *ctx)
{
    onyx_status st = space_depth_shape(ctx, false);
    if (st || !ctx->concrete)
        return st;
    const onyx_tensor *x = op_input(ctx, 0), *y = op_output(ctx, 0);
    const space_depth_params *p = ctx->params;
    int64_t bs = p->blocksize, c = x->dims[1], h = x->dims[2], w = x->dims[3];
    /* Output [N, i, j, C, H', W'], the output channel being (i * bs + j) * C + c (DCR), or
     * [N, C, i, j, H', W'], c * bs^2 + i * bs + j (CRD), reading input row h' * bs + i and
     * column w' * bs + j. */
    int64_t dims[6] = {x->dims[0], bs, bs, c, y->dims[2], y->dims[3]};
    int64_t strides[6] = {c * h * w, w, 1, h * w, bs * w, bs};
    if (p->column_row_depth) {
        dims[1] = c;
        dims[3] = bs;
        strides[1] = h * w;
        strides[2] = w;
        strides[3] = 1;
    }
    return strided_copy_plan(ctx, 6, dims, strides, 0);
}

static onyx_status depth_to_space_check(op_context *ctx) { return space_depth_check(ctx, 11); }
static onyx_status space_to_depth_check(op_context *ctx) { return space_depth_check(ctx, 28); }

const op_descriptor op_DepthToSpace = {depth_to_space_check, depth_to_space_reshape, strided_copy_run, 0};
const op_descriptor op_SpaceToDepth = {space_to_depth_check, space_to_depth_reshape, strided_copy_run, 0};
