/* SwiGLU (opset 28): Y = A * sigmoid(alpha * A) * B, A (the gate) and B (the value) of one
 * shape, no broadcasting. float16 and bfloat16 compute on float and round once at the store. */
#include "dtype_io.h"
#include "op.h"

#include <math.h>

/* Elements per task: enough that splitting pays for itself. */
#define SWIGLU_CHUNK 16384

typedef struct swiglu_params {
    float alpha;
} swiglu_params;

static onyx_status swiglu_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 2, 2, DT_FLOAT_IO);
    swiglu_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_float(ctx, "alpha", 1.0f, &p->alpha)))
        return st;
    if (!isfinite(p->alpha))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "alpha must be finite, not %g", (double)p->alpha);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status swiglu_reshape(op_context *ctx)
{
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1);
    bool same = a->rank == b->rank;
    for (int d = 0; same && d < a->rank; d++)
        same = dim_may_equal(a->dims[d], b->dims[d]);
    if (!same) {
        char sa[96], sb[96];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "A %s and B %s must have the same shape (no broadcasting)",
                        shape_str(a, sa, sizeof sa), shape_str(b, sb, sizeof sb));
    }
    onyx_tensor *y = op_output(ctx, 0);
    tensor_set_shape(y, a->rank, a->dims);
    for (int d = 0; d < a->rank; d++) /* a known dim of either input makes the output's known */
        if (!dim_known(y->dims[d]))
            y->dims[d] = b->dims[d];
    if (ctx->concrete) {
        ctx->n_tasks = (tensor_count(a) + SWIGLU_CHUNK - 1) / SWIGLU_CHUNK;
        ctx->task_cost = SWIGLU_CHUNK * 8;
    }
    return ONYX_OK;
}

#define SWIGLU_KERNEL(D, T, V, LOAD, STORE)                                                      \
    static void swiglu_##D(const void *a_, const void *b_, void *y_, int64_t i0, int64_t i1, V alpha) \
    {                                                                                            \
        const T *a = a_, *b = b_;                                                                \
        T *y = y_;                                                                               \
        for (int64_t i = i0; i < i1; i++) {                                                      \
            V x = LOAD(a[i]);                                                                    \
            y[i] = STORE(x / ((V)1 + exp(-alpha * x)) * LOAD(b[i]));                             \
        }                                                                                        \
    }
FOR_FLOAT_IO(SWIGLU_KERNEL)

static onyx_status swiglu_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const swiglu_params *p = ctx->params;
    const onyx_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    int64_t n = tensor_count(a), i0 = begin * SWIGLU_CHUNK, i1 = OP_MIN(n, end * SWIGLU_CHUNK);
    void *y = ctx->outputs[0]->data;
    switch (a->dtype) {
    case ONYX_DTYPE_FLOAT:
        swiglu_FLOAT(a->data, b->data, y, i0, i1, p->alpha);
        break;
    case ONYX_DTYPE_DOUBLE:
        swiglu_DOUBLE(a->data, b->data, y, i0, i1, p->alpha);
        break;
    case ONYX_DTYPE_FLOAT16:
        swiglu_FLOAT16(a->data, b->data, y, i0, i1, p->alpha);
        break;
    case ONYX_DTYPE_BFLOAT16:
        swiglu_BFLOAT16(a->data, b->data, y, i0, i1, p->alpha);
        break;
    default:
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "no kernel for %s", onyx_dtype_name(a->dtype));
    }
    return ONYX_OK;
}

const op_descriptor op_SwiGLU = {swiglu_check, swiglu_reshape, swiglu_run, 0};
