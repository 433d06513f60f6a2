/* Col2Im: the inverse of im2col, as PyTorch's fold. The input (N, C * prod(block_shape), L)
 * holds, for each of the L block positions of a sliding window over an image of
 * `image_shape` (with strides, dilations and pads as a convolution's), the C blocks' values;
 * each value is added into the image element it came from (overlapping blocks sum, values
 * that fall into the padding are dropped). Output (N, C, image_shape...). A task is one
 * (sample, channel) image, which only its own values reach. */
#include "float_dispatch.h"
#include "shape_input.h"

#include <string.h>

/* Bounds that keep every index product within int64 (dims are bounded by the element limit,
 * attributes and block sizes here). */
#define COL2IM_MAX_VALUE INT32_MAX

typedef struct col2im_params {
    const int64_t *strides, *pads, *dilations; /* NULL: the defaults (1, 0, 1) */
    int64_t n_strides, n_pads, n_dilations;
} col2im_params;

typedef struct col2im_state {
    int n;                           /* spatial dims */
    int64_t image[ONYX_MAX_RANK];    /* image_shape */
    int64_t block[ONYX_MAX_RANK];    /* block_shape */
    int64_t blocks[ONYX_MAX_RANK];   /* block positions along each dim */
    int64_t stride[ONYX_MAX_RANK], dilation[ONYX_MAX_RANK], pad[ONYX_MAX_RANK]; /* pad: before */
    int64_t kernel, length, image_size; /* prod(block), L, prod(image) */
} col2im_state;

static onyx_status col2im_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (!st)
        st = op_check_input(ctx, 2, true, DT(INT64));
    col2im_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_ints(ctx, "strides", &p->strides, &p->n_strides)) ||
        (st = op_attr_ints(ctx, "pads", &p->pads, &p->n_pads)) ||
        (st = op_attr_ints(ctx, "dilations", &p->dilations, &p->n_dilations)))
        return st;
    const char *names[] = {"strides", "pads", "dilations"};
    const int64_t *lists[] = {p->strides, p->pads, p->dilations};
    const int64_t counts[] = {p->n_strides, p->n_pads, p->n_dilations};
    for (int a = 0; a < 3; a++)
        for (int64_t i = 0; i < counts[a]; i++)
            if (lists[a][i] < (a == 1 ? 0 : 1) || lists[a][i] > COL2IM_MAX_VALUE)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' holds %lld; it must be %s",
                                names[a], (long long)lists[a][i], a == 1 ? "non-negative" : "positive");
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

/* An error unless attribute `name` (count values, -1 when absent) has `want` values. */
static onyx_status check_count(const op_context *ctx, const char *name, int64_t count, int64_t want)
{
    if (count < 0 || count == want)
        return ONYX_OK;
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' has %lld values; image_shape asks for "
                    "%lld", name, (long long)count, (long long)want);
}

static onyx_status col2im_reshape(op_context *ctx)
{
    const col2im_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    char buf[128];
    if (x->rank != 3)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %s must have rank 3 (N, C * block size, "
                        "blocks)", shape_str(x, buf, sizeof buf));
    int64_t image[ONYX_MAX_RANK], block[ONYX_MAX_RANK], n_image, n_block;
    onyx_status st = shape_input_read(ctx, 1, image, ONYX_MAX_RANK - 2, &n_image);
    if (!st)
        st = shape_input_read(ctx, 2, block, ONYX_MAX_RANK - 2, &n_block);
    if (st == ONYX_DEFER) {
        /* Without image_shape the output's rank is still known when its length is. */
        const onyx_tensor *shape = op_input(ctx, 1);
        if (ctx->concrete || shape->rank != 1 || !dim_known(shape->dims[0]) ||
            shape->dims[0] > ONYX_MAX_RANK - 2)
            return ctx->concrete ? ONYX_DEFER : ONYX_OK;
        int64_t dims[ONYX_MAX_RANK] = {x->dims[0], DIM_UNKNOWN};
        for (int d = 0; d < shape->dims[0]; d++)
            dims[2 + d] = DIM_UNKNOWN;
        tensor_set_shape(y, 2 + (int)shape->dims[0], dims);
        return ONYX_OK;
    }
    if (st)
        return st;
    int n = (int)n_image;
    if (n < 1 || n_block != n_image)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "image_shape has %lld values and block_shape %lld; "
                        "they must be as many, at least one", (long long)n_image, (long long)n_block);
    if ((st = check_count(ctx, "strides", p->n_strides, n)) ||
        (st = check_count(ctx, "pads", p->n_pads, 2 * n)) ||
        (st = check_count(ctx, "dilations", p->n_dilations, n)))
        return st;
    col2im_state s = {.n = n, .kernel = 1, .length = 1, .image_size = 1};
    for (int d = 0; d < n; d++) {
        if (image[d] < 0 || block[d] < 1 || image[d] > COL2IM_MAX_VALUE || block[d] > COL2IM_MAX_VALUE)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "image_shape %lld and block_shape %lld of dim %d: "
                            "an image dim must be non-negative and a block dim positive", (long long)image[d],
                            (long long)block[d], d);
        s.image[d] = image[d];
        s.block[d] = block[d];
        s.stride[d] = p->strides ? p->strides[d] : 1;
        s.dilation[d] = p->dilations ? p->dilations[d] : 1;
        s.pad[d] = p->pads ? p->pads[d] : 0;
        int64_t padded = image[d] + (p->pads ? p->pads[d] + p->pads[d + n] : 0);
        int64_t extent = s.dilation[d] * (block[d] - 1) + 1;
        if (padded < extent)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "dim %d: the block spans %lld, more than the padded "
                            "image (%lld)", d, (long long)extent, (long long)padded);
        s.blocks[d] = (padded - extent) / s.stride[d] + 1;
        /* The products stay within the element limit's reach: a block larger than the input's
         * dim 1 cannot divide it, and blocks must multiply to the input's L. */
        if (__builtin_mul_overflow(s.kernel, block[d], &s.kernel) ||
            __builtin_mul_overflow(s.length, s.blocks[d], &s.length) ||
            __builtin_mul_overflow(s.image_size, image[d], &s.image_size))
            return op_error(ctx, ONYX_ERROR_RUNTIME, "image_shape or block_shape is too large");
    }
    int64_t dims[ONYX_MAX_RANK] = {x->dims[0], DIM_UNKNOWN};
    if (dim_known(x->dims[1])) {
        if (x->dims[1] % s.kernel)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "input %s: dim 1 is not a multiple of the block size "
                            "%lld", shape_str(x, buf, sizeof buf), (long long)s.kernel);
        dims[1] = x->dims[1] / s.kernel;
    }
    if (dim_known(x->dims[2]) && x->dims[2] != s.length)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "input %s: dim 2 must be the number of block positions, "
                        "%lld", shape_str(x, buf, sizeof buf), (long long)s.length);
    memcpy(dims + 2, image, (size_t)n * sizeof *image);
    tensor_set_shape(y, 2 + n, dims);
    if (!ctx->concrete)
        return ONYX_OK;
    if ((st = op_check_shape(ctx, y->rank, y->dims, "output")))
        return st;
    col2im_state *state = op_alloc_state(ctx, sizeof *state);
    if (!state)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *state = s;
    ctx->state = state;
    ctx->n_tasks = dims[0] * dims[1];
    /* With images to make, dim 1 > 0 holds the block size: its product with L is a count of
     * input elements. */
    ctx->task_cost = ctx->n_tasks ? s.kernel * s.length * 2 + s.image_size : 0;
    return ONYX_OK;
}

#define COL2IM_IMAGES(T)                                                                       \
    static void col2im_images_##T(const op_context *ctx, int64_t begin, int64_t end, void *scratch) \
    {                                                                                          \
        (void)scratch;                                                                         \
        const col2im_state *s = ctx->state;                                                    \
        for (int64_t t = begin; t < end; t++) {                                                \
            const T *x = (const T *)ctx->inputs[0]->data + t * s->kernel * s->length;          \
            T *y = (T *)ctx->outputs[0]->data + t * s->image_size;                             \
            for (int64_t i = 0; i < s->image_size; i++)                                        \
                y[i] = 0;                                                                      \
            for (int64_t k = 0; k < s->kernel; k++) {                                          \
                for (int64_t l = 0; l < s->length; l++) {                                      \
                    /* The image element of kernel offset k in block position l. */            \
                    int64_t at = 0, kr = k, lr = l, scale = 1;                                 \
                    bool inside = true;                                                        \
                    for (int d = s->n - 1; d >= 0; d--) {                                      \
                        int64_t i = lr % s->blocks[d] * s->stride[d] - s->pad[d] +             \
                                    kr % s->block[d] * s->dilation[d];                         \
                        kr /= s->block[d];                                                     \
                        lr /= s->blocks[d];                                                    \
                        inside &= i >= 0 && i < s->image[d];                                   \
                        at += i * scale;                                                       \
                        scale *= s->image[d];                                                  \
                    }                                                                          \
                    if (inside)                                                                \
                        y[at] += x[k * s->length + l];                                         \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }
COL2IM_IMAGES(float)
COL2IM_IMAGES(double)

static onyx_status col2im_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    return run_float_kernel(ctx, begin, end, scratch, col2im_images_float, col2im_images_double);
}

const op_descriptor op_Col2Im = {col2im_check, col2im_reshape, col2im_run, 0};
