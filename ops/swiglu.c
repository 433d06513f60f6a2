/* SwiGLU (opset 28): Y = A * sigmoid(alpha * A) * B, A (the gate) and B (the value) of one
 * shape, no broadcasting. float16 and bfloat16 compute on float and round once at the store.
 * Also the kernel of LLaMA-style MLPs, silu(gate) * up, that the SwiGLU fusion pass finds:
 * float32 with alpha 1 runs the GEMM epilogue's vector SiLU on blocks that stay in L1, then
 * the product; another alpha an exp of its own (libm's is one call per element). */
#include "dtype_io.h"
#include "elementwise.h"
#include "gemm.h" /* gemm_activate_into: the vector SiLU */
#include "op.h"

#include <math.h>
#include <string.h>

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
SWIGLU_KERNEL(DOUBLE, double, double, DTYPE_IO_SAME, DTYPE_IO_SAME)
SWIGLU_KERNEL(FLOAT16, uint16_t, float, half_to_float, float_to_half)
SWIGLU_KERNEL(BFLOAT16, uint16_t, float, bfloat16_to_float, float_to_bfloat16)

/* e^x in float within 2 ulp for x in [-87.3, 88.3], clamped to that range (so that 2^n stays a
 * normal float): Cody-Waite reduction to r in [-ln2/2, ln2/2], Cephes' degree-7 polynomial,
 * 2^n put into the exponent bits; branch-free so that loops of it vectorize. NaN gives a finite
 * value: the callers' quotient x / (1 + e^-x) is NaN through x. */
static inline float exp_clamped(float x)
{
    float c = x > -87.3f ? x : -87.3f;
    c = c < 88.3f ? c : 88.3f;
    float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = c - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Elements of a block of the vector path: their SiLU and product in L1. */
#define SWIGLU_BLOCK 1024

/* x sigmoid(alpha x) y. The clamped exp changes only results below 1e-36 in size, and -inf
 * (for alpha > 0) gives -inf where x sigmoid(x) is NaN. With alpha 1, the vector SiLU
 * (gemm.h: within 1e-6 relative) times y; GCC left the general loop scalar (6 ns a float on
 * Zen 3, 1.5 ms of each 128-token LLaMA MLP of 2048), hence the two. */
ELEMENTWISE_CLONES static void swiglu_product(float *restrict y, const float *restrict b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] *= b[i];
}

static void swiglu_float(const float *restrict a, const float *restrict b, float *restrict y, int64_t i0,
                         int64_t i1, float alpha)
{
    if (alpha == 1.0f) {
        for (int64_t i = i0; i < i1; i += SWIGLU_BLOCK) {
            int64_t n = OP_MIN(SWIGLU_BLOCK, i1 - i);
            gemm_activate_into(y + i, a + i, n, GEMM_ACTIVATION_SILU);
            swiglu_product(y + i, b + i, n);
        }
        return;
    }
    for (int64_t i = i0; i < i1; i++)
        y[i] = a[i] / (1.0f + exp_clamped(-alpha * a[i])) * b[i];
}

static onyx_status swiglu_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const swiglu_params *p = ctx->params;
    const onyx_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    int64_t n = tensor_count(a), i0 = begin * SWIGLU_CHUNK, i1 = OP_MIN(n, end * SWIGLU_CHUNK);
    void *y = ctx->outputs[0]->data;
    switch (a->dtype) {
    case ONYX_DTYPE_FLOAT:
        swiglu_float(a->data, b->data, y, i0, i1, p->alpha);
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
