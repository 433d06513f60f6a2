/* AffineGrid: a sampling grid for GridSample from a batch of affine matrices theta, (N, 2, 3)
 * for 2D or (N, 3, 4) for 3D. The `size` input (N, C, H, W) or (N, C, D, H, W) spaces the
 * positions of each axis evenly in [-1, 1]: the pixel centres with align_corners, else the
 * centres of pixels that tile [-1, 1] (a length of 1 puts its one position at -1 with
 * align_corners, as numpy's arange does for ONNX's reference, at 0 without). Output (N, H, W,
 * 2) or (N, D, H, W, 3): theta times (x, y[, z], 1), x along W. A task is one row along W. */
#include "float_dispatch.h"
#include "shape_input.h"

typedef struct affine_grid_params {
    bool align_corners;
} affine_grid_params;

typedef struct affine_grid_state {
    int dims;          /* 2 or 3 */
    int64_t size[3];   /* D (1 in 2D), H, W */
} affine_grid_state;

static onyx_status affine_grid_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT64));
    affine_grid_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t align;
    if ((st = op_attr_int(ctx, "align_corners", 0, &align)))
        return st;
    if (align != 0 && align != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'align_corners' is %lld; it must be 0 or 1",
                        (long long)align);
    p->align_corners = align;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status affine_grid_reshape(op_context *ctx)
{
    const onyx_tensor *theta = op_input(ctx, 0), *size_in = op_input(ctx, 1);
    onyx_tensor *y = op_output(ctx, 0);
    char buf[128];
    if (theta->rank != 3)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "theta %s must have rank 3",
                        shape_str(theta, buf, sizeof buf));
    int64_t size[5], n;
    onyx_status st = shape_input_read(ctx, 1, size, 5, &n);
    if (st == ONYX_DEFER) {
        /* The grid's rank follows from size's length when that is known: 4 values give 2D. */
        if (ctx->concrete)
            return ONYX_DEFER;
        if (size_in->rank != 1 || (size_in->dims[0] != 4 && size_in->dims[0] != 5))
            return ONYX_OK;
        int64_t dims[5] = {theta->dims[0], DIM_UNKNOWN, DIM_UNKNOWN, DIM_UNKNOWN, DIM_UNKNOWN};
        dims[size_in->dims[0] - 1] = size_in->dims[0] - 2; /* the last axis: one coordinate per spatial dim */
        tensor_set_shape(y, (int)size_in->dims[0], dims);
        return ONYX_OK;
    }
    if (st)
        return st;
    if (n != 4 && n != 5)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "size '%s' has %lld values; it must be (N, C, H, W) or (N, C, D, H, W)",
                        op_input_name(ctx, 1), (long long)n);
    int dims = (int)n - 2;
    if (!dim_may_equal(theta->dims[0], size[0]) || !dim_may_equal(theta->dims[1], dims) ||
        !dim_may_equal(theta->dims[2], dims + 1))
        return op_error(ctx, ONYX_ERROR_RUNTIME, "theta %s must be (N, %d, %d) for size N = %lld",
                        shape_str(theta, buf, sizeof buf), dims, dims + 1, (long long)size[0]);
    int64_t out[5];
    for (int i = 0; i < dims; i++)
        out[1 + i] = size[2 + i];
    out[0] = size[0];
    out[dims + 1] = dims;
    if ((st = op_check_shape(ctx, dims + 2, out, "output")))
        return st;
    tensor_set_shape(y, dims + 2, out);
    if (!ctx->concrete)
        return ONYX_OK;
    affine_grid_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->dims = dims;
    s->size[0] = dims == 3 ? size[2] : 1;
    s->size[1] = size[n - 2];
    s->size[2] = size[n - 1];
    ctx->state = s;
    ctx->n_tasks = size[0] * s->size[0] * s->size[1];
    ctx->task_cost = s->size[2] * dims * (dims + 1) * 2;
    return ONYX_OK;
}

/* Position i of an axis of `len` positions in [-1, 1]. */
static double grid_position(int64_t i, int64_t len, bool align_corners)
{
    if (align_corners)
        return len > 1 ? -1 + (double)i * (2.0 / (double)(len - 1)) : -1;
    double step = 2.0 / (double)len;
    return -1 + step / 2 + (double)i * step;
}

#define AFFINE_GRID_ROWS(T)                                                                    \
    static void affine_grid_rows_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        (void)scratch;                                                                         \
        const affine_grid_params *p = ctx->params;                                             \
        const affine_grid_state *s = ctx->state;                                               \
        int k = s->dims, cols = k + 1;                                                         \
        int64_t width = s->size[2];                                                            \
        for (int64_t t = begin; t < end; t++) {                                                \
            int64_t h = t % s->size[1], d = t / s->size[1] % s->size[0];                       \
            int64_t sample = t / s->size[1] / s->size[0];                                      \
            const T *theta = (const T *)ctx->inputs[0]->data + sample * k * cols;              \
            T *y = (T *)ctx->outputs[0]->data + t * width * k;                                 \
            /* (x, y[, z], 1): x varies along the row. */                                      \
            double in[4] = {0, grid_position(h, s->size[1], p->align_corners),                 \
                            k == 3 ? grid_position(d, s->size[0], p->align_corners) : 1, 1};    \
            for (int64_t w = 0; w < width; w++) {                                              \
                in[0] = grid_position(w, width, p->align_corners);                             \
                for (int r = 0; r < k; r++) {                                                  \
                    double v = 0;                                                              \
                    for (int c = 0; c < cols; c++)                                             \
                        v += (double)theta[r * cols + c] * in[c];                              \
                    y[w * k + r] = (T)v;                                                       \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }
AFFINE_GRID_ROWS(float)
AFFINE_GRID_ROWS(double)

static onyx_status affine_grid_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return run_float_kernel(ctx, begin, end, scratch, affine_grid_rows_float, affine_grid_rows_double);
}

const op_descriptor op_AffineGrid = {affine_grid_check, affine_grid_reshape, affine_grid_run, 0};
