#include "elementwise.h"

#include "count.h"
#include "half.h"

#include <limits.h>
#include <string.h>

#define ELEMENTWISE_CHUNK 16384

/* ---- float16 and bfloat16 --------------------------------------------------------------- */

/* A family without a kernel of its own for float16 or bfloat16 computes them with its float
 * kernel: each piece is widened to float a block at a time in stack buffers, and the result
 * rounded back to nearest even, which is what numpy (ONNX's reference) does for the
 * arithmetic of these types. float keeps 24 bits, more than twice the 11 of float16 plus 2,
 * so for +, -, *, / and sqrt the double rounding gives the correctly rounded result. */
#define HALF_BLOCK 256

static bool is_half(onyx_dtype dtype) { return dtype == ONYX_DTYPE_FLOAT16 || dtype == ONYX_DTYPE_BFLOAT16; }

/* The dtype whose kernel computes `dtype`: float for the half types. */
static onyx_dtype widened(onyx_dtype dtype) { return is_half(dtype) ? ONYX_DTYPE_FLOAT : dtype; }

typedef struct binary_params {
    binary_kernel kernel;
    bool legacy;      /* opset < 7: B broadcast onto A from `axis`, only if `broadcast` */
    bool legacy_broadcast;
    int64_t axis;
    bool has_axis;
    bool onto_first;  /* the output keeps A's shape (binary_family.onto_first) */
    bool widen;       /* a float16/bfloat16 input or output goes through a float kernel */
    onyx_dtype a_dtype, b_dtype, out_dtype;
} binary_params;

typedef struct binary_state {
    broadcast b;
    int64_t pieces, piece_len;
    size_t out_size, a_size, b_size;
} binary_state;

onyx_status binary_check(op_context *ctx, const binary_family *family)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (st)
        return st;
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1);
    if (!a || !b)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "both inputs are required");
    binary_kernel kernel = NULL;
    bool widen = false;
    if (family->mixed_types) {
        kernel = family->pick(a->dtype, b->dtype);
        if (!kernel && (is_half(a->dtype) || is_half(b->dtype))) {
            kernel = family->pick(widened(a->dtype), widened(b->dtype));
            widen = true;
        }
    } else {
        if ((st = op_check_same_dtype(ctx, 0, 1)))
            return st;
        kernel = family->kernels[a->dtype];
        if (!kernel && is_half(a->dtype)) {
            kernel = family->kernels[ONYX_DTYPE_FLOAT];
            widen = true;
        }
    }
    if (!kernel)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "no implementation for dtypes %s and %s",
                        onyx_dtype_name(a->dtype), onyx_dtype_name(b->dtype));
    binary_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kernel = kernel;
    p->onto_first = family->onto_first;
    p->widen = widen;
    p->a_dtype = a->dtype;
    p->b_dtype = b->dtype;
    p->out_dtype = family->bool_output ? ONYX_DTYPE_BOOL : a->dtype;
    if (ctx->opset < 7 && family->onto_first) {
        p->legacy = p->legacy_broadcast = p->has_axis = true;
        p->axis = 1;
    } else if (ctx->opset < 7) {
        int64_t flag;
        p->legacy = true;
        if ((st = op_attr_int(ctx, "broadcast", 0, &flag)) || (st = op_attr_int(ctx, "axis", 0, &p->axis)))
            return st;
        p->legacy_broadcast = flag != 0;
        p->has_axis = op_has_attr(ctx, "axis");
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, p->out_dtype);
    return ONYX_OK;
}

/* One piece of a binary operator whose inputs or output are float16/bfloat16, through the
 * float kernel: the half operands widened, the half result rounded back, block by block. */
static void binary_widened(const binary_params *p, char *out, size_t out_size, const char *a, size_t a_size,
                           int64_t sa, const char *b, size_t b_size, int64_t sb, int64_t n)
{
    float fa[HALF_BLOCK], fb[HALF_BLOCK], fo[HALF_BLOCK];
    bool ha = is_half(p->a_dtype), hb = is_half(p->b_dtype), ho = is_half(p->out_dtype);
    for (int64_t i = 0; i < n; i += HALF_BLOCK) {
        int64_t m = OP_MIN(HALF_BLOCK, n - i);
        const char *pa = a + (size_t)(i * sa) * a_size, *pb = b + (size_t)(i * sb) * b_size;
        if (ha)
            half_widen(fa, p->a_dtype == ONYX_DTYPE_BFLOAT16, (const uint16_t *)pa, sa, sa ? m : 1);
        if (hb)
            half_widen(fb, p->b_dtype == ONYX_DTYPE_BFLOAT16, (const uint16_t *)pb, sb, sb ? m : 1);
        p->kernel(ho ? (void *)fo : out + (size_t)i * out_size, ha ? (const void *)fa : pa, sa,
                  hb ? (const void *)fb : pb, sb, m);
        if (ho)
            half_narrow((uint16_t *)(out + (size_t)i * out_size), p->out_dtype == ONYX_DTYPE_BFLOAT16, fo, m);
    }
}

/* Opset < 7 broadcasting: B's dims line up with A's from `axis` (default: A's last dims).
 * Rewritten as numpy broadcasting by padding B's shape with 1s. */
static onyx_status legacy_view(const op_context *ctx, const binary_params *p, const onyx_tensor *a,
                               const onyx_tensor *b, onyx_tensor *view)
{
    *view = *b;
    char sa[128], sb[128];
    if (!p->legacy_broadcast) {
        bool same = a->rank == b->rank;
        for (int i = 0; same && i < a->rank; i++)
            same = dim_may_equal(a->dims[i], b->dims[i]);
        if (!same)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "inputs %s and %s differ and the 'broadcast' attribute is 0",
                            shape_str(a, sa, sizeof sa), shape_str(b, sb, sizeof sb));
        return ONYX_OK;
    }
    if (p->onto_first && b->rank >= a->rank)
        return ONYX_OK; /* not a per-channel slope: plain broadcasting */
    int64_t axis = p->has_axis ? p->axis : a->rank - b->rank;
    if (axis < 0)
        axis += a->rank;
    if (axis < 0 || axis + b->rank > a->rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "cannot broadcast %s onto %s from axis %lld",
                        shape_str(b, sb, sizeof sb), shape_str(a, sa, sizeof sa), (long long)p->axis);
    view->rank = a->rank;
    for (int i = 0; i < a->rank; i++)
        view->dims[i] = i >= axis && i < axis + b->rank ? b->dims[i - axis] : 1;
    return ONYX_OK;
}

/* The broadcast of A and B must have A's shape. */
static onyx_status check_onto_first(const op_context *ctx, const onyx_tensor *out)
{
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1);
    bool same = out->rank == a->rank;
    for (int i = 0; same && i < a->rank; i++)
        same = dim_may_equal(out->dims[i], a->dims[i]);
    if (same)
        return ONYX_OK;
    char sa[128], sb[128];
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s does not broadcast onto input '%s' %s",
                    op_input_name(ctx, 1), shape_str(b, sb, sizeof sb), op_input_name(ctx, 0),
                    shape_str(a, sa, sizeof sa));
}

onyx_status binary_reshape(op_context *ctx)
{
    const binary_params *p = ctx->params;
    const onyx_tensor *a = op_input(ctx, 0), *b = op_input(ctx, 1);
    onyx_tensor *out = op_output(ctx, 0);
    onyx_tensor view;
    if (p->legacy) {
        onyx_status st = legacy_view(ctx, p, a, b, &view);
        if (st)
            return st;
        b = &view;
    }
    const onyx_tensor *ins[2] = {a, b};
    onyx_status st = broadcast_shape(ctx, 2, ins, out);
    if (!st && p->onto_first)
        st = check_onto_first(ctx, out);
    if (st || !ctx->concrete)
        return st;
    binary_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    broadcast_init(&s->b, 2, ins, out);
    s->pieces = broadcast_tasks(ctx, &s->b, ELEMENTWISE_CHUNK);
    s->piece_len = ceil_div(s->b.inner, s->pieces);
    s->out_size = onyx_dtype_size(out->dtype);
    s->a_size = onyx_dtype_size(a->dtype);
    s->b_size = onyx_dtype_size(b->dtype);
    ctx->state = s;
    return ONYX_OK;
}

onyx_status binary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const binary_params *p = ctx->params;
    const binary_state *s = ctx->state;
    const char *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;
    char *out = ctx->outputs[0]->data;
    for (int64_t t = begin; t < end; t++) {
        int64_t row = t / s->pieces, start = (t % s->pieces) * s->piece_len;
        int64_t len = OP_MIN(s->piece_len, s->b.inner - start);
        int64_t off[2];
        broadcast_row(&s->b, row, off);
        char *o = out + (size_t)(row * s->b.inner + start) * s->out_size;
        const char *pa = a + (size_t)(off[0] + start * s->b.step[0]) * s->a_size;
        const char *pb = b + (size_t)(off[1] + start * s->b.step[1]) * s->b_size;
        if (p->widen)
            binary_widened(p, o, s->out_size, pa, s->a_size, s->b.step[0], pb, s->b_size, s->b.step[1], len);
        else
            p->kernel(o, pa, s->b.step[0], pb, s->b.step[1], len);
    }
    return ONYX_OK;
}

/* ---- unary ------------------------------------------------------------------------------ */

typedef struct unary_params {
    unary_kernel kernel;
    unary_args args;
    bool bound_inputs;
    bool widen;           /* float16/bfloat16 through the float kernel */
    onyx_dtype in_dtype, out_dtype;
} unary_params;

typedef struct unary_state {
    int64_t count;
    size_t in_size, out_size;
} unary_state;

/* Reads attribute `name` (NULL: none) into *value, as a float or from an int. */
static onyx_status unary_attr(const op_context *ctx, const unary_family *family, const char *name,
                              float dflt, float *value)
{
    *value = dflt;
    if (!name)
        return ONYX_OK;
    if (!family->int_attributes)
        return op_attr_float(ctx, name, dflt, value);
    int64_t flag;
    onyx_status st = op_attr_int(ctx, name, (int64_t)dflt, &flag);
    *value = (float)flag;
    return st;
}

onyx_status unary_check(op_context *ctx, const unary_family *family)
{
    onyx_status st = op_check_arity(ctx, 1, family->bound_inputs ? 3 : 1, 1, 1);
    if (st)
        return st;
    const onyx_tensor *x = op_input(ctx, 0);
    if (!x)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input 0 is required");
    for (int i = 1; i < ctx->n_inputs; i++)
        if ((st = op_check_same_dtype(ctx, i, 0)))
            return st;
    unary_kernel kernel = family->kernels[x->dtype];
    bool widen = !kernel && is_half(x->dtype);
    if (widen)
        kernel = family->kernels[ONYX_DTYPE_FLOAT];
    if (!kernel)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "no implementation for dtype %s",
                        onyx_dtype_name(x->dtype));
    unary_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kernel = kernel;
    p->widen = widen;
    p->in_dtype = x->dtype;
    p->out_dtype = family->output_dtype ? family->output_dtype : x->dtype;
    p->bound_inputs = family->bound_inputs;
    if ((st = unary_attr(ctx, family, family->alpha_name, family->alpha_default, &p->args.alpha)) ||
        (st = unary_attr(ctx, family, family->beta_name, family->beta_default, &p->args.beta)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, p->out_dtype);
    return ONYX_OK;
}

/* unary_run's elements through the float kernel, for a float16/bfloat16 input (and output
 * unless it is bool): bounds widened too. */
static void unary_widened(const unary_params *p, unary_args args, char *out, size_t out_size, const char *in,
                          int64_t n)
{
    float fi[HALF_BLOCK], fo[HALF_BLOCK], low, high;
    if (args.low) {
        half_widen(&low, p->in_dtype == ONYX_DTYPE_BFLOAT16, (const uint16_t *)(args.low), 0, 1);
        args.low = &low;
    }
    if (args.high) {
        half_widen(&high, p->in_dtype == ONYX_DTYPE_BFLOAT16, (const uint16_t *)(args.high), 0, 1);
        args.high = &high;
    }
    bool ho = is_half(p->out_dtype);
    for (int64_t i = 0; i < n; i += HALF_BLOCK) {
        int64_t m = OP_MIN(HALF_BLOCK, n - i);
        half_widen(fi, p->in_dtype == ONYX_DTYPE_BFLOAT16, (const uint16_t *)(in + (size_t)i * 2), 1, m);
        p->kernel(ho ? (void *)fo : out + (size_t)i * out_size, fi, m, &args);
        if (ho)
            half_narrow((uint16_t *)(out + (size_t)i * out_size), p->out_dtype == ONYX_DTYPE_BFLOAT16, fo, m);
    }
}

onyx_status unary_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    for (int i = 1; i < ctx->n_inputs; i++) {
        const onyx_tensor *bound = op_input(ctx, i);
        for (int d = 0; bound && d < bound->rank; d++)
            if (dim_known(bound->dims[d]) && bound->dims[d] != 1) {
                char s[128];
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d '%s' %s must hold one value",
                                i, op_input_name(ctx, i), shape_str(bound, s, sizeof s));
            }
    }
    tensor_set_shape(y, x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    unary_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->count = tensor_count(x);
    s->in_size = onyx_dtype_size(x->dtype);
    s->out_size = onyx_dtype_size(y->dtype);
    ctx->state = s;
    ctx->n_tasks = (s->count + ELEMENTWISE_CHUNK - 1) / ELEMENTWISE_CHUNK;
    ctx->task_cost = ELEMENTWISE_CHUNK;
    return ONYX_OK;
}

onyx_status unary_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const unary_params *p = ctx->params;
    const unary_state *s = ctx->state;
    unary_args args = p->args;
    if (p->bound_inputs) {
        const onyx_tensor *low = op_input(ctx, 1), *high = op_input(ctx, 2);
        args.low = low ? low->data : NULL;
        args.high = high ? high->data : NULL;
    }
    int64_t first = begin * ELEMENTWISE_CHUNK, last = OP_MIN(end * ELEMENTWISE_CHUNK, s->count);
    if (first >= last)
        return ONYX_OK;
    char *out = (char *)ctx->outputs[0]->data + (size_t)first * s->out_size;
    const char *in = (const char *)ctx->inputs[0]->data + (size_t)first * s->in_size;
    if (p->widen)
        unary_widened(p, args, out, s->out_size, in, last - first);
    else
        p->kernel(out, in, last - first, &args);
    return ONYX_OK;
}

/* ---- variadic --------------------------------------------------------------------------- */

typedef struct variadic_params {
    accumulate_kernel kernel;
    finish_kernel finish;
    onyx_dtype widen; /* float16/bfloat16 through the float kernels, or 0 */
} variadic_params;

typedef struct variadic_state {
    int64_t count;          /* output elements */
    size_t size;            /* bytes per element */
    broadcast inputs[];     /* each input broadcast onto the output on its own */
} variadic_state;

onyx_status variadic_check(op_context *ctx, const variadic_family *family)
{
    onyx_status st = op_check_arity(ctx, 1, INT_MAX, 1, 1);
    for (int i = 0; !st && i < ctx->n_inputs; i++)
        if (!(st = op_check_input(ctx, i, true, DT_ALL)))
            st = op_check_same_dtype(ctx, i, 0);
    if (st)
        return st;
    onyx_dtype dtype = op_input(ctx, 0)->dtype, kernel_dtype = dtype;
    if (!family->kernels[dtype] && is_half(dtype))
        kernel_dtype = ONYX_DTYPE_FLOAT;
    if (!family->kernels[kernel_dtype])
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "no implementation for dtype %s",
                        onyx_dtype_name(dtype));
    variadic_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->kernel = family->kernels[kernel_dtype];
    p->finish = family->finish[kernel_dtype];
    p->widen = kernel_dtype != dtype ? dtype : 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, dtype);
    return ONYX_OK;
}

onyx_status variadic_reshape(op_context *ctx)
{
    const onyx_tensor *const *ins = (const onyx_tensor *const *)ctx->inputs;
    onyx_tensor *out = op_output(ctx, 0);
    if (ctx->opset < 8) /* before multidirectional broadcasting */
        for (int k = 1; k < ctx->n_inputs; k++) {
            bool same = ins[k]->rank == ins[0]->rank;
            for (int i = 0; same && i < ins[0]->rank; i++)
                same = dim_may_equal(ins[k]->dims[i], ins[0]->dims[i]);
            if (!same) {
                char s0[128], sk[128];
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                "inputs '%s' %s and '%s' %s differ; opset %d does not broadcast",
                                op_input_name(ctx, 0), shape_str(ins[0], s0, sizeof s0),
                                op_input_name(ctx, k), shape_str(ins[k], sk, sizeof sk), ctx->opset);
            }
        }
    onyx_status st = broadcast_shape(ctx, ctx->n_inputs, ins, out);
    if (st || !ctx->concrete)
        return st;
    variadic_state *s = op_alloc_state(ctx, sizeof *s + (size_t)ctx->n_inputs * sizeof s->inputs[0]);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int k = 0; k < ctx->n_inputs; k++)
        broadcast_init(&s->inputs[k], 1, &ins[k], out);
    s->count = tensor_count(out);
    s->size = onyx_dtype_size(out->dtype);
    ctx->state = s;
    ctx->n_tasks = (s->count + ELEMENTWISE_CHUNK - 1) / ELEMENTWISE_CHUNK;
    ctx->task_cost = ELEMENTWISE_CHUNK * ctx->n_inputs;
    return ONYX_OK;
}

/* The run of output elements from `pos` (before `last`) over which input `b` advances by its
 * step: its length, and in *offset the input's element at `pos`. */
static int64_t broadcast_piece(const broadcast *b, int64_t pos, int64_t last, int64_t *offset)
{
    int64_t row = pos / b->inner, column = pos % b->inner;
    broadcast_row(b, row, offset);
    *offset += column * b->step[0];
    return OP_MIN(b->inner - column, last - pos);
}

/* out[i] = in[i * step] for i < n, elements of `size` bytes; a repeated element is copied in
 * doubling blocks. */
static void copy_piece(char *out, const char *in, int64_t step, int64_t n, size_t size)
{
    if (step) {
        memcpy(out, in, (size_t)n * size);
        return;
    }
    memcpy(out, in, size);
    for (int64_t done = 1; done < n; done *= 2)
        memcpy(out + (size_t)done * size, out, (size_t)OP_MIN(done, n - done) * size);
}

/* The accumulation and finish of a float16/bfloat16 piece through the float kernels: the
 * accumulator is rounded back after each input, as numpy's operations on these types do. */
static void accumulate_widened(const variadic_params *p, char *acc, const char *in, int64_t step, int64_t n)
{
    float fa[HALF_BLOCK], fi[HALF_BLOCK];
    for (int64_t i = 0; i < n; i += HALF_BLOCK) {
        int64_t m = OP_MIN(HALF_BLOCK, n - i);
        half_widen(fa, p->widen == ONYX_DTYPE_BFLOAT16, (const uint16_t *)(acc + (size_t)i * 2), 1, m);
        half_widen(fi, p->widen == ONYX_DTYPE_BFLOAT16, (const uint16_t *)(in + (size_t)(i * step) * 2), step,
                   step ? m : 1);
        p->kernel(fa, fi, step, m);
        half_narrow((uint16_t *)(acc + (size_t)i * 2), p->widen == ONYX_DTYPE_BFLOAT16, fa, m);
    }
}

static void finish_widened(const variadic_params *p, char *acc, int64_t n, int64_t count)
{
    float fa[HALF_BLOCK];
    for (int64_t i = 0; i < n; i += HALF_BLOCK) {
        int64_t m = OP_MIN(HALF_BLOCK, n - i);
        half_widen(fa, p->widen == ONYX_DTYPE_BFLOAT16, (const uint16_t *)(acc + (size_t)i * 2), 1, m);
        p->finish(fa, m, count);
        half_narrow((uint16_t *)(acc + (size_t)i * 2), p->widen == ONYX_DTYPE_BFLOAT16, fa, m);
    }
}

onyx_status variadic_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const variadic_params *p = ctx->params;
    const variadic_state *s = ctx->state;
    char *out = ctx->outputs[0]->data;
    for (int64_t t = begin; t < end; t++) {
        int64_t first = t * ELEMENTWISE_CHUNK, last = OP_MIN(first + ELEMENTWISE_CHUNK, s->count);
        for (int k = 0; k < ctx->n_inputs; k++) {
            const broadcast *b = &s->inputs[k];
            const char *in = ctx->inputs[k]->data;
            for (int64_t pos = first, len, offset; pos < last; pos += len) {
                len = broadcast_piece(b, pos, last, &offset);
                char *acc = out + (size_t)pos * s->size;
                const char *piece = in + (size_t)offset * s->size;
                if (k == 0)
                    copy_piece(acc, piece, b->step[0], len, s->size);
                else if (p->widen)
                    accumulate_widened(p, acc, piece, b->step[0], len);
                else
                    p->kernel(acc, piece, b->step[0], len);
            }
        }
        if (p->finish && p->widen)
            finish_widened(p, out + (size_t)first * s->size, last - first, ctx->n_inputs);
        else if (p->finish)
            p->finish(out + (size_t)first * s->size, last - first, ctx->n_inputs);
    }
    return ONYX_OK;
}
