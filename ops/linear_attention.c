/* LinearAttention (opset 27): attention as a recurrence over a (d_k x d_v) state per key/value
 * head, run token by token:
 *
 *   linear       S = S + k v^T
 *   gated        S = exp(g) S + k v^T
 *   delta        S = S + beta k (v - S^T k)^T
 *   gated_delta  S = exp(g) S + beta k (v - exp(g) S^T k)^T
 *   o = scale q^T S  for each query head that shares the key/value head (GQA)
 *
 * q, k, v, decay and beta are packed (B, T, heads * dim); the state is (B, H_kv, d_k, d_v).
 * Like ONNX's reference the state and every sum are float32 whatever the dtypes (float16 and
 * bfloat16 are converted on load and store). chunk_size is a hint for chunk-parallel
 * implementations; the sequential recurrence here gives the same result. One task is one
 * (batch, key/value head): it owns that head's state and its query heads' outputs. */
#include "dtype_io.h"
#include "op.h"

#include <math.h>
#include <string.h>

enum { LA_QUERY, LA_KEY, LA_VALUE, LA_PAST, LA_DECAY, LA_BETA };

typedef struct linear_attention_params {
    int64_t q_heads, kv_heads;
    float scale; /* 0: 1 / sqrt(d_k) */
    bool gated, delta;
} linear_attention_params;

/* Sizes found by reshape for run. */
typedef struct linear_attention_state {
    int64_t batch, len, d_k, d_v;
    float scale;
    bool decay_per_key; /* decay is (B, T, H_kv * d_k), else (B, T, H_kv) */
    bool beta_per_head; /* beta is (B, T, H_kv), else (B, T, 1) */
} linear_attention_state;

static onyx_status linear_attention_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 3, 6, 1, 2);
    if (!st)
        st = op_check_inputs_alike(ctx, 3, 3, DT(FLOAT) | DT(FLOAT16) | DT(BFLOAT16));
    if (!st)
        st = op_check_input(ctx, LA_PAST, false, DT(FLOAT) | DT(FLOAT16) | DT(BFLOAT16));
    for (int i = LA_DECAY; i <= LA_BETA && !st; i++)
        st = op_check_same_dtype(ctx, i, LA_QUERY);
    linear_attention_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    const char *rule;
    int64_t chunk;
    if ((st = op_attr_require(ctx, "q_num_heads")) || (st = op_attr_require(ctx, "kv_num_heads")) ||
        (st = op_attr_int(ctx, "q_num_heads", 0, &p->q_heads)) ||
        (st = op_attr_int(ctx, "kv_num_heads", 0, &p->kv_heads)) ||
        (st = op_attr_float(ctx, "scale", 0.0f, &p->scale)) ||
        (st = op_attr_int(ctx, "chunk_size", 64, &chunk)) || /* a hint: read for its type only */
        (st = op_attr_string(ctx, "update_rule", "gated_delta", &rule)))
        return st;
    if (p->q_heads <= 0 || p->kv_heads <= 0 || p->q_heads > INT32_MAX || p->q_heads % p->kv_heads)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "q_num_heads (%lld) must be a positive multiple of "
                        "kv_num_heads (%lld)", (long long)p->q_heads, (long long)p->kv_heads);
    if (!isfinite(p->scale))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scale must be finite");
    if (!strcmp(rule, "linear"))
        p->gated = false, p->delta = false;
    else if (!strcmp(rule, "gated"))
        p->gated = true, p->delta = false;
    else if (!strcmp(rule, "delta"))
        p->gated = false, p->delta = true;
    else if (!strcmp(rule, "gated_delta"))
        p->gated = true, p->delta = true;
    else
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "update_rule must be 'linear', 'gated', 'delta' or "
                        "'gated_delta', not '%s'", rule);
    /* The rule says which of decay and beta it reads: one given to a rule that ignores it is a
     * model error (ONNX's reference refuses it too), one missing cannot be defaulted. */
    if (p->gated != (op_input(ctx, LA_DECAY) != NULL))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "update_rule '%s' %s the decay input", rule,
                        p->gated ? "requires" : "takes no");
    if (p->delta != (op_input(ctx, LA_BETA) != NULL))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "update_rule '%s' %s the beta input", rule,
                        p->delta ? "requires" : "takes no");
    ctx->params = p;
    op_output(ctx, 0)->dtype = op_input(ctx, LA_QUERY)->dtype;
    if (op_output(ctx, 1)) /* the state keeps past_state's dtype; query's without one */
        op_output(ctx, 1)->dtype = op_input(ctx, op_input(ctx, LA_PAST) ? LA_PAST : LA_QUERY)->dtype;
    return ONYX_OK;
}

/* Splits a packed last dim into heads: *dim = last / heads, or an error naming `what`. */
static onyx_status head_dim(const op_context *ctx, const onyx_tensor *t, int64_t heads, const char *what,
                            int64_t *dim)
{
    int64_t last = t->dims[2];
    *dim = DIM_UNKNOWN;
    if (!dim_known(last))
        return ONYX_OK;
    if (last % heads)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "%s's last dim %lld is not a multiple of its %lld heads", what, (long long)last,
                        (long long)heads);
    *dim = last / heads;
    return ONYX_OK;
}

static onyx_status linear_attention_reshape(op_context *ctx)
{
    const linear_attention_params *p = ctx->params;
    static const char *const names[] = {"query", "key", "value", "past_state", "decay", "beta"};
    char s[96];
    for (int i = 0; i <= LA_BETA; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        int rank = i == LA_PAST ? 4 : 3;
        if (t && t->rank != rank)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s must have rank %d, not shape %s", names[i],
                            rank, shape_str(t, s, sizeof s));
    }
    const onyx_tensor *q = op_input(ctx, LA_QUERY), *k = op_input(ctx, LA_KEY), *v = op_input(ctx, LA_VALUE);
    const onyx_tensor *past = op_input(ctx, LA_PAST), *decay = op_input(ctx, LA_DECAY);
    const onyx_tensor *beta = op_input(ctx, LA_BETA);
    int64_t batch = q->dims[0], len = q->dims[1], d_k, d_kk, d_v;
    onyx_status st = head_dim(ctx, q, p->q_heads, "query", &d_k);
    if (!st)
        st = head_dim(ctx, k, p->kv_heads, "key", &d_kk);
    if (!st)
        st = head_dim(ctx, v, p->kv_heads, "value", &d_v);
    if (st)
        return st;
    if (!dim_may_equal(d_k, d_kk))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "query's head size %lld differs from key's %lld",
                        (long long)d_k, (long long)d_kk);
    if (!dim_known(d_k))
        d_k = d_kk;
    const onyx_tensor *packed[] = {k, v, decay, beta};
    for (int i = 0; i < 4; i++)
        if (packed[i] &&
            (!dim_may_equal(packed[i]->dims[0], batch) || !dim_may_equal(packed[i]->dims[1], len)))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "%s %s must share query's batch and sequence length (%lld, %lld)",
                            names[i == 0 ? 1 : i == 1 ? 2 : i + 2], shape_str(packed[i], s, sizeof s),
                            (long long)batch, (long long)len);
    int64_t state_dims[4] = {batch, p->kv_heads, d_k, d_v};
    if (past)
        for (int d = 0; d < 4; d++)
            if (!dim_may_equal(past->dims[d], state_dims[d]))
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "past_state %s must be (batch, kv_num_heads, "
                                "d_k, d_v) = (%lld, %lld, %lld, %lld)", shape_str(past, s, sizeof s),
                                (long long)batch, (long long)p->kv_heads, (long long)d_k, (long long)d_v);
    bool decay_per_key = false, beta_per_head = false;
    if (decay && dim_known(decay->dims[2])) {
        decay_per_key = dim_known(d_k) && decay->dims[2] == p->kv_heads * d_k;
        if (!decay_per_key && decay->dims[2] != p->kv_heads)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "decay's last dim %lld must be kv_num_heads (%lld) or kv_num_heads * d_k",
                            (long long)decay->dims[2], (long long)p->kv_heads);
    }
    if (beta && dim_known(beta->dims[2])) {
        beta_per_head = beta->dims[2] == p->kv_heads;
        if (!beta_per_head && beta->dims[2] != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "beta's last dim %lld must be kv_num_heads (%lld) "
                            "or 1", (long long)beta->dims[2], (long long)p->kv_heads);
    }
    tensor_set_shape(op_output(ctx, 0), 3, (int64_t[]){batch, len, dim_mul(p->q_heads, d_v)});
    if (op_output(ctx, 1))
        tensor_set_shape(op_output(ctx, 1), 4, state_dims);
    if (!ctx->concrete)
        return ONYX_OK;
    /* One head's state is scratch even when present_state is not asked for: bounded like a
     * tensor (d_k * d_v is not bounded by any input's size). */
    if ((st = op_check_shape(ctx, 4, state_dims, "the recurrent state (B, H_kv, d_k, d_v)")))
        return st;
    linear_attention_state *ls = op_alloc_state(ctx, sizeof *ls);
    if (!ls)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *ls = (linear_attention_state){batch, len, d_k, d_v, p->scale, decay_per_key, beta_per_head};
    if (ls->scale == 0.0f)
        ls->scale = d_k > 0 ? (float)(1.0 / sqrt((double)d_k)) : 1.0f;
    ctx->state = ls;
    ctx->n_tasks = batch * p->kv_heads;
    ctx->task_cost = (len + 1) * d_k * d_v * (3 + p->q_heads / p->kv_heads);
    /* The head's state, the vector written into it and one key, as float. */
    ctx->scratch_bytes = (size_t)(d_k * d_v + d_v + d_k) * sizeof(float);
    return ONYX_OK;
}

static onyx_status linear_attention_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const linear_attention_params *p = ctx->params;
    const linear_attention_state *ls = ctx->state;
    const onyx_tensor *q = ctx->inputs[LA_QUERY], *k = ctx->inputs[LA_KEY], *v = ctx->inputs[LA_VALUE];
    const onyx_tensor *past = op_input(ctx, LA_PAST), *decay = op_input(ctx, LA_DECAY);
    const onyx_tensor *beta = op_input(ctx, LA_BETA);
    onyx_tensor *y = ctx->outputs[0], *present = op_output(ctx, 1);
    onyx_dtype dt = q->dtype;
    int64_t hkv = p->kv_heads, hq = p->q_heads, group = hq / hkv, len = ls->len, dk = ls->d_k, dv = ls->d_v;
    float *state = scratch, *w = state + dk * dv, *key = w + dv;
    for (int64_t task = begin; task < end; task++) {
        int64_t b = task / hkv, h = task % hkv;
        for (int64_t i = 0; i < dk * dv; i++)
            state[i] = past ? (float)float_io_load(past->dtype, past->data, task * dk * dv + i) : 0.0f;
        for (int64_t t = 0; t < len; t++) {
            int64_t row = b * len + t; /* (b, t) of the packed inputs */
            for (int64_t d = 0; d < dk; d++)
                key[d] = (float)float_io_load(dt, k->data, (row * hkv + h) * dk + d);
            if (decay) { /* S = exp(g) S, g per key dim or per head */
                for (int64_t d = 0; d < dk; d++) {
                    int64_t at = ls->decay_per_key ? (row * hkv + h) * dk + d : row * hkv + h;
                    float g = expf((float)float_io_load(dt, decay->data, at));
                    for (int64_t m = 0; m < dv; m++)
                        state[d * dv + m] *= g;
                }
            }
            for (int64_t m = 0; m < dv; m++)
                w[m] = (float)float_io_load(dt, v->data, (row * hkv + h) * dv + m);
            if (beta) { /* w = beta (v - S^T k) */
                float rate = (float)float_io_load(dt, beta->data, ls->beta_per_head ? row * hkv + h : row);
                for (int64_t m = 0; m < dv; m++) {
                    float retrieved = 0.0f;
                    for (int64_t d = 0; d < dk; d++)
                        retrieved += state[d * dv + m] * key[d];
                    w[m] = rate * (w[m] - retrieved);
                }
            }
            for (int64_t d = 0; d < dk; d++) /* S += k w^T */
                for (int64_t m = 0; m < dv; m++)
                    state[d * dv + m] += key[d] * w[m];
            for (int64_t qh = h * group; qh < (h + 1) * group; qh++) { /* o = scale q^T S */
                int64_t qbase = (row * hq + qh) * dk, obase = (row * hq + qh) * dv;
                for (int64_t m = 0; m < dv; m++)
                    w[m] = 0.0f;
                for (int64_t d = 0; d < dk; d++) {
                    float qd = (float)float_io_load(dt, q->data, qbase + d);
                    for (int64_t m = 0; m < dv; m++)
                        w[m] += qd * state[d * dv + m];
                }
                for (int64_t m = 0; m < dv; m++)
                    float_io_store(dt, y->data, obase + m, ls->scale * w[m]);
            }
        }
        for (int64_t i = 0; present && i < dk * dv; i++)
            float_io_store(present->dtype, present->data, task * dk * dv + i, state[i]);
    }
    return ONYX_OK;
}

const op_descriptor op_LinearAttention = {linear_attention_check, linear_attention_reshape,
                                          linear_attention_run, 0};
