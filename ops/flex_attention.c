/* FlexAttention (ai.onnx.preview, version 1): scaled dot-product attention over rank-4
 * inputs with optional modifier subgraphs:
 *
 *   scores = scale * Q K^T            (B, Hq, L, S); query head h reads key/value head
 *                                     h / (Hq / Hkv) (grouped-query attention)
 *   scores = score_mod(scores)        when the attribute is given
 *   probs  = softmax(scores, axis -1)
 *   probs  = prob_mod(probs)          when the attribute is given
 *   Y      = probs V                  (B, Hq, L, Ev)
 *
 * Scores and probabilities are kept in the softmax precision: float32, or float64 for double
 * inputs, or as softmax_precision says (float or double; the 16-bit ones are refused). For
 * 16-bit inputs, as in ONNX's reference, Q and K are scaled by sqrt(scale) and multiplied with
 * each result rounded to the input type before the scores are widened; the last product runs
 * in the softmax precision.
 *
 * Without modifiers each task is one (batch, query head), with onyx's GEMM for both products.
 * A modifier sees the whole score tensor at once, and a subgraph runs only outside `run` (which
 * must not allocate): like If/Loop/Scan (control.c), the node then computes everything in
 * reshape once its inputs are known (the graph runs node by node) and `run` copies the result. */
#include "dtype_io.h"
#include "gemm.h"
#include "op.h"

#include <math.h>
#include <string.h>

enum { FA_Q, FA_K, FA_V };

typedef struct flex_params {
    bool has_scale;
    float scale;
    onyx_dtype precision; /* FLOAT or DOUBLE */
    const struct graph *score_mod, *prob_mod;
} flex_params;

typedef struct flex_state {
    int64_t batch, q_heads, kv_heads, len, kv_len, head, v_head;
    double scale;
    size_t scratch_values; /* per head, in the softmax precision */
    void *result;          /* Y, when computed in reshape (modifiers) */
} flex_state;

/* Checks a modifier's signature and types it: (B, Hq, L, S) -> same, in the precision. */
static onyx_status check_modifier(op_context *ctx, const struct graph *g, const char *name,
                                  onyx_dtype precision)
{
    if (op_graph_input_count(g) != 1 || op_graph_output_count(g) != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "%s must take one input and give one output, not %d and %d", name,
                        op_graph_input_count(g), op_graph_output_count(g));
    onyx_tensor in = {.dtype = precision, .rank = 4};
    for (int d = 0; d < 4; d++) /* each call sees other sizes */
        in.dims[d] = DIM_UNKNOWN;
    onyx_tensor out = {0};
    onyx_status st = op_graph_check(ctx, g, &in, &out);
    if (st)
        return st;
    if (out.dtype != precision)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s gives %s; it must keep the softmax precision %s",
                        name, onyx_dtype_name(out.dtype), onyx_dtype_name(precision));
    if (out.rank >= 0 && out.rank != 4)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s gives rank %d; it must keep rank 4", name,
                        out.rank);
    return ONYX_OK;
}

static onyx_status flex_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 3, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 3, DT_FLOAT_IO);
    flex_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    onyx_dtype dt = op_input(ctx, FA_Q)->dtype;
    int64_t precision, dflt = dt == ONYX_DTYPE_DOUBLE ? ONYX_DTYPE_DOUBLE : ONYX_DTYPE_FLOAT;
    p->has_scale = op_has_attr(ctx, "scale");
    if ((st = op_attr_float(ctx, "scale", 1.0f, &p->scale)) ||
        (st = op_attr_int(ctx, "softmax_precision", dflt, &precision)))
        return st;
    if (!isfinite(p->scale))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scale must be finite");
    if (precision == ONYX_DTYPE_FLOAT16 || precision == ONYX_DTYPE_BFLOAT16)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                        "softmax_precision %s is not implemented (float and double are)",
                        onyx_dtype_name((onyx_dtype)precision));
    if (precision != ONYX_DTYPE_FLOAT && precision != ONYX_DTYPE_DOUBLE)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "softmax_precision %lld is not a floating-point type",
                        (long long)precision);
    p->precision = (onyx_dtype)precision;
    p->score_mod = op_attr_graph(ctx, "score_mod");
    p->prob_mod = op_attr_graph(ctx, "prob_mod");
    if (op_has_attr(ctx, "score_mod") && !p->score_mod)
        return ONYX_ERROR_INVALID_MODEL; /* not a graph: recorded by op_attr_graph */
    if (op_has_attr(ctx, "prob_mod") && !p->prob_mod)
        return ONYX_ERROR_INVALID_MODEL;
    if (p->score_mod && (st = check_modifier(ctx, p->score_mod, "score_mod", p->precision)))
        return st;
    if (p->prob_mod && (st = check_modifier(ctx, p->prob_mod, "prob_mod", p->precision)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, dt);
    return ONYX_OK;
}

/* ---- one head, in the softmax precision V ------------------------------------------------ */

static bool narrow(onyx_dtype dt) { return dt == ONYX_DTYPE_FLOAT16 || dt == ONYX_DTYPE_BFLOAT16; }

/* v rounded to the 16-bit dtype dt and back. */
static float round_to(onyx_dtype dt, float v)
{
    return dt == ONYX_DTYPE_FLOAT16 ? half_to_float(float_to_half(v)) : bfloat16_to_float(float_to_bfloat16(v));
}

/* Loads n values of a tensor from `at` as V into dst, or returns the data itself when it is
 * already V. */
#define FLEX_HEAD_KERNELS(V, SUFFIX, GEMM)                                                                   \
    static const V *load_##SUFFIX(const onyx_tensor *t, int64_t at, int64_t n, V *dst)                       \
    {                                                                                                        \
        if (sizeof(V) == onyx_dtype_size(t->dtype) && !narrow(t->dtype))                                     \
            return (const V *)t->data + at;                                                                  \
        for (int64_t i = 0; i < n; i++)                                                                      \
            dst[i] = (V)float_io_load(t->dtype, t->data, at + i);                                            \
        return dst;                                                                                          \
    }                                                                                                        \
    /* scores (L x S) of head bh; `work` holds L*E + S*E values. */                                          \
    static void scores_##SUFFIX(const flex_state *s, const onyx_tensor *q, const onyx_tensor *k, int64_t bh, \
                                V *scores, V *work)                                                          \
    {                                                                                                        \
        int64_t b = bh / s->q_heads, kvh = bh % s->q_heads / (s->q_heads / s->kv_heads);                     \
        int64_t L = s->len, S = s->kv_len, E = s->head;                                                      \
        onyx_dtype dt = q->dtype;                                                                            \
        const V *qh = load_##SUFFIX(q, bh * L * E, L * E, work);                                             \
        const V *kh = load_##SUFFIX(k, (b * s->kv_heads + kvh) * S * E, S * E, work + L * E);                \
        if (!narrow(dt)) {                                                                                   \
            GEMM(false, true, L, S, E, (V)s->scale, qh, E, kh, E, (V)0, scores, S);                          \
            return;                                                                                          \
        }                                                                                                    \
        /* As ONNX's reference: Q and K times sqrt(scale), their product, each rounded to the                \
         * input type (the copies in `work` are ours to change). */                                          \
        float root = round_to(dt, sqrtf((float)s->scale));                                                   \
        for (int64_t i = 0; i < (L + S) * E; i++)                                                            \
            work[i] = (V)round_to(dt, (float)work[i] * root);                                                \
        GEMM(false, true, L, S, E, (V)1, work, E, work + L * E, E, (V)0, scores, S);                         \
        for (int64_t i = 0; i < L * S; i++)                                                                  \
            scores[i] = (V)round_to(dt, (float)scores[i]);                                                   \
    }                                                                                                        \
    /* Softmax of `rows` rows of n in place: a row of only -inf (or with NaN) gives NaN. */                  \
    static void softmax_##SUFFIX(V *x, int64_t rows, int64_t n)                                              \
    {                                                                                                        \
        for (int64_t r = 0; r < rows; r++, x += n) {                                                         \
            V max = -(V)INFINITY, sum = 0;                                                                   \
            for (int64_t i = 0; i < n; i++)                                                                  \
                max = x[i] > max || isnan(x[i]) ? x[i] : max;                                                \
            for (int64_t i = 0; i < n; i++)                                                                  \
                sum += x[i] = (V)exp(x[i] - max);                                                            \
            for (int64_t i = 0; i < n; i++)                                                                  \
                x[i] /= sum;                                                                                 \
        }                                                                                                    \
    }                                                                                                        \
    /* Y of head bh = probs V, stored into y (the output's dtype); `work` holds S*Ev + L*Ev values. */       \
    static void output_##SUFFIX(const flex_state *s, const onyx_tensor *v, int64_t bh, const V *probs,       \
                                onyx_dtype dt, void *y, V *work)                                             \
    {                                                                                                        \
        int64_t b = bh / s->q_heads, kvh = bh % s->q_heads / (s->q_heads / s->kv_heads);                     \
        int64_t L = s->len, S = s->kv_len, Ev = s->v_head;                                                   \
        const V *vh = load_##SUFFIX(v, (b * s->kv_heads + kvh) * S * Ev, S * Ev, work);                      \
        V *out = work + S * Ev;                                                                              \
        GEMM(false, false, L, Ev, S, (V)1, probs, S, vh, Ev, (V)0, out, Ev);                                 \
        for (int64_t i = 0; i < L * Ev; i++)                                                                 \
            float_io_store(dt, y, bh * L * Ev + i, out[i]);                                                  \
    }
FLEX_HEAD_KERNELS(float, f32, gemm_f32)
FLEX_HEAD_KERNELS(double, f64, gemm_f64)

/* Heads [begin, end) without modifiers; `scratch` holds s->scratch_values values. */
static void flex_heads(const op_context *ctx, const flex_state *s, int64_t begin, int64_t end, void *scratch,
                       void *y)
{
    const flex_params *p = ctx->params;
    const onyx_tensor *q = ctx->inputs[FA_Q], *k = ctx->inputs[FA_K], *v = ctx->inputs[FA_V];
    int64_t ls = s->len * s->kv_len;
    for (int64_t bh = begin; bh < end; bh++) {
        if (p->precision == ONYX_DTYPE_DOUBLE) {
            double *scores = scratch;
            scores_f64(s, q, k, bh, scores, scores + ls);
            softmax_f64(scores, s->len, s->kv_len);
            output_f64(s, v, bh, scores, q->dtype, y, scores + ls);
        } else {
            float *scores = scratch;
            scores_f32(s, q, k, bh, scores, scores + ls);
            softmax_f32(scores, s->len, s->kv_len);
            output_f32(s, v, bh, scores, q->dtype, y, scores + ls);
        }
    }
}

/* Runs modifier `g` on the (B, Hq, L, S) tensor at `data` and writes its result back there. */
static onyx_status apply_modifier(op_context *ctx, const struct graph *g, const char *name,
                                  const flex_state *s, void *data)
{
    const flex_params *p = ctx->params;
    onyx_tensor in = {.dtype = p->precision, .rank = 4, .dims = {s->batch, s->q_heads, s->len, s->kv_len},
                      .data = data};
    onyx_tensor out = {0};
    onyx_status st = op_graph_run(ctx, g, &in, &out);
    if (st)
        return st;
    if (out.dtype != in.dtype || out.rank != 4 || memcmp(out.dims, in.dims, sizeof(int64_t) * 4)) {
        char a[96], b[96];
        st = op_error(ctx, ONYX_ERROR_RUNTIME, "%s gave %s %s for %s %s; it must keep shape and type", name,
                      onyx_dtype_name(out.dtype), shape_str(&out, a, sizeof a), onyx_dtype_name(in.dtype),
                      shape_str(&in, b, sizeof b));
    } else {
        memcpy(data, out.data, tensor_bytes(&in));
    }
    op_free_temp(ctx, out.data);
    return st;
}

/* With modifiers: the whole computation, into s->result (state memory). */
static onyx_status flex_with_modifiers(op_context *ctx, flex_state *s)
{
    const flex_params *p = ctx->params;
    const onyx_tensor *q = ctx->inputs[FA_Q], *k = ctx->inputs[FA_K], *v = ctx->inputs[FA_V];
    int64_t heads = s->batch * s->q_heads, ls = s->len * s->kv_len;
    size_t size = onyx_dtype_size(p->precision);
    onyx_tensor *y = ctx->outputs[0];
    if (!(s->result = op_alloc_state(ctx, tensor_bytes(y) + 1)))
        return ONYX_ERROR_OUT_OF_MEMORY;
    /* All the scores (the modifiers see them at once), then one head's work space. */
    size_t work = s->scratch_values - (size_t)ls;
    char *scores = op_alloc_temp(ctx, ((size_t)(heads * ls) + work + 1) * size);
    if (!scores)
        return ONYX_ERROR_LIMIT;
    void *space = scores + (size_t)(heads * ls) * size;
    bool wide = p->precision == ONYX_DTYPE_DOUBLE;
    for (int64_t bh = 0; bh < heads; bh++) {
        if (wide)
            scores_f64(s, q, k, bh, (double *)scores + bh * ls, space);
        else
            scores_f32(s, q, k, bh, (float *)scores + bh * ls, space);
    }
    onyx_status st = p->score_mod ? apply_modifier(ctx, p->score_mod, "score_mod", s, scores) : ONYX_OK;
    if (!st) {
        if (wide)
            softmax_f64((double *)scores, heads * s->len, s->kv_len);
        else
            softmax_f32((float *)scores, heads * s->len, s->kv_len);
        if (p->prob_mod)
            st = apply_modifier(ctx, p->prob_mod, "prob_mod", s, scores);
    }
    for (int64_t bh = 0; bh < heads && !st; bh++) {
        if (wide)
            output_f64(s, v, bh, (double *)scores + bh * ls, q->dtype, s->result, space);
        else
            output_f32(s, v, bh, (float *)scores + bh * ls, q->dtype, s->result, space);
    }
    op_free_temp(ctx, scores);
    return st;
}

static onyx_status flex_reshape(op_context *ctx)
{
    const flex_params *p = ctx->params;
    const onyx_tensor *q = op_input(ctx, FA_Q), *k = op_input(ctx, FA_K), *v = op_input(ctx, FA_V);
    char a[96], b[96], c[96];
    if (q->rank != 4 || k->rank != 4 || v->rank != 4)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "Q %s, K %s and V %s must have rank 4",
                        shape_str(q, a, sizeof a), shape_str(k, b, sizeof b), shape_str(v, c, sizeof c));
    int64_t hq = q->dims[1], hkv = k->dims[1];
    bool ok = dim_may_equal(k->dims[0], q->dims[0]) && dim_may_equal(v->dims[0], q->dims[0]) &&
              dim_may_equal(v->dims[1], hkv) && dim_may_equal(v->dims[2], k->dims[2]) &&
              dim_may_equal(k->dims[3], q->dims[3]);
    if (!ok)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "Q %s, K %s and V %s must be (B, Hq, L, E), (B, Hkv, S, E) and (B, Hkv, S, Ev)",
                        shape_str(q, a, sizeof a), shape_str(k, b, sizeof b),
                        shape_str(v, c, sizeof c));
    if (dim_known(hq) && dim_known(hkv) && (hkv == 0 ? hq != 0 : hq % hkv))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "Q's %lld heads must be a multiple of K's %lld",
                        (long long)hq, (long long)hkv);
    tensor_set_shape(op_output(ctx, 0), 4, (int64_t[]){q->dims[0], hq, q->dims[2], v->dims[3]});
    if (!ctx->concrete)
        return ONYX_OK;
    bool mods = p->score_mod || p->prob_mod;
    /* The scores are not bounded by any input's size (L * S against L * E and S * E): bound
     * them like a tensor, all of them when a modifier sees them at once, else one head's. */
    int64_t scores[4] = {mods ? q->dims[0] : 1, mods ? hq : 1, q->dims[2], k->dims[2]};
    onyx_status st = op_check_shape(ctx, 4, scores, "the attention scores (B, Hq, L, S)");
    if (st)
        return st;
    if (mods)
        for (int i = 0; i < ctx->n_inputs + ctx->n_implicit; i++)
            if (ctx->inputs[i] && !ctx->inputs[i]->data && tensor_count(ctx->inputs[i]) > 0)
                return ONYX_DEFER; /* the subgraphs run here, on the data */
    flex_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *s = (flex_state){q->dims[0], hq, hkv, q->dims[2], k->dims[2], q->dims[3], v->dims[3]};
    s->scale = p->has_scale ? p->scale : 1.0 / sqrt((double)(s->head > 0 ? s->head : 1));
    /* scores (L x S), then Q and K of the head (L*E + S*E), later reused for V and Y. */
    int64_t first = (s->len + s->kv_len) * s->head, second = (s->kv_len + s->len) * s->v_head;
    s->scratch_values = (size_t)(s->len * s->kv_len + OP_MAX(first, second));
    ctx->state = s;
    ctx->n_tasks = s->batch * hq;
    if (ctx->n_tasks == 0)
        return ONYX_OK; /* an empty output, nothing to compute */
    if (mods) {
        ctx->n_tasks = 1; /* run copies the result */
        return flex_with_modifiers(ctx, s);
    }
    ctx->task_cost = s->len * s->kv_len * (s->head + s->v_head + 4);
    ctx->scratch_bytes = s->scratch_values * onyx_dtype_size(p->precision);
    return ONYX_OK;
}

static onyx_status flex_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const flex_state *s = ctx->state;
    onyx_tensor *y = ctx->outputs[0];
    if (s->result) {
        if (begin == 0 && tensor_bytes(y))
            memcpy(y->data, s->result, tensor_bytes(y));
        return ONYX_OK;
    }
    flex_heads(ctx, s, begin, end, scratch, y->data);
    return ONYX_OK;
}

const op_descriptor op_FlexAttention = {flex_check, flex_reshape, flex_run, 0};
