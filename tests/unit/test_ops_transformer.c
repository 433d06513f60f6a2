/* The transformer operators beyond the ONNX test suite: Attention at sizes that span several
 * blocks of query rows with every input at once, RMSNormalization's broadcast Scale,
 * RotaryEmbedding and TensorScatter's data errors. Expected values come from the plain loops
 * of the operators' definitions below (never from onyx's own output). */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Values in [-1, 1] in steps of 1/8 from a fixed sequence. */
static float *values(int64_t n, unsigned seed)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((int)(seed >> 16) % 17 - 8) / 8.0f;
    }
    return v;
}

/* ---- Attention ----------------------------------------------------------------------------- */

typedef struct attention_case {
    int opset;
    bool rank3;
    int64_t b, hq, hkv, sq, skv, past, d, dv;
    bool causal;
    int64_t left, right; /* -1: unbounded */
    float softcap;
    int mask_rank;       /* 0: none */
    int64_t mask_dims[4];
    bool bool_mask, nonpad;
    int64_t nonpad_len[4];
    int qk_mode;
    bool no_qk; /* leave qk_matmul_output out: rows reduce to ranges of keys when unmasked */
} attention_case;

/* Element (b, head, s, c) of a [B, H, S, C] tensor or its [B, S, H * C] form. */
static int64_t at4(bool rank3, int64_t heads, int64_t seq, int64_t size, int64_t b, int64_t h, int64_t s,
                   int64_t c)
{
    return rank3 ? ((b * seq + s) * heads + h) * size + c : ((b * heads + h) * seq + s) * size + c;
}

/* The definition, in double: Y, the qk output and present_key / present_value. */
static void attention_by_definition(const attention_case *t, const float *q, const float *k, const float *v,
                                    const void *mask, const float *pk, const float *pv, float *y, float *qk,
                                    float *present_k, float *present_v)
{
    int64_t total = t->past + t->skv, group = t->hq / t->hkv;
    double scale = 1 / sqrt((double)t->d);
    for (int64_t b = 0; b < t->b; b++)
        for (int64_t h = 0; h < t->hkv; h++)
            for (int64_t j = 0; j < total; j++) {
                for (int64_t c = 0; c < t->d; c++)
                    present_k[((b * t->hkv + h) * total + j) * t->d + c] =
                        j < t->past ? pk[((b * t->hkv + h) * t->past + j) * t->d + c]
                                    : k[at4(t->rank3, t->hkv, t->skv, t->d, b, h, j - t->past, c)];
                for (int64_t c = 0; c < t->dv; c++)
                    present_v[((b * t->hkv + h) * total + j) * t->dv + c] =
                        j < t->past ? pv[((b * t->hkv + h) * t->past + j) * t->dv + c]
                                    : v[at4(t->rank3, t->hkv, t->skv, t->dv, b, h, j - t->past, c)];
            }
    double *s = malloc((size_t)total * sizeof *s), *bias = malloc((size_t)total * sizeof *bias);
    for (int64_t b = 0; b < t->b; b++)
        for (int64_t h = 0; h < t->hq; h++)
            for (int64_t i = 0; i < t->sq; i++) {
                int64_t offset = t->nonpad ? t->nonpad_len[b] - t->sq : t->past, at = i + offset;
                bool attends = false;
                for (int64_t j = 0; j < total; j++) {
                    const float *kr = present_k + ((b * t->hkv + h / group) * total + j) * t->d;
                    double dot = 0;
                    for (int64_t c = 0; c < t->d; c++)
                        dot += q[at4(t->rank3, t->hq, t->sq, t->d, b, h, i, c)] * (double)kr[c];
                    s[j] = dot * scale;
                    double capped = t->softcap > 0 ? t->softcap * tanh(s[j] / t->softcap) : s[j];
                    bool allowed = !(t->causal && j > at) && !(t->left >= 0 && j < at - t->left) &&
                                   !(t->right >= 0 && j > at + t->right) &&
                                   !(t->nonpad && j >= t->nonpad_len[b]);
                    double m = 0;
                    if (t->mask_rank) {
                        const int64_t idx[4] = {b, h, i, j};
                        int64_t off = 0, last = t->mask_dims[t->mask_rank - 1];
                        for (int r = 0; r < t->mask_rank; r++) {
                            int64_t dim = t->mask_dims[r], x = idx[r + 4 - t->mask_rank];
                            off = off * dim + (dim == 1 ? 0 : x);
                        }
                        if (j >= last)
                            allowed = false;
                        else if (t->bool_mask)
                            allowed = allowed && ((const uint8_t *)mask)[off];
                        else
                            m = ((const float *)mask)[off];
                    }
                    bias[j] = allowed ? m : -INFINITY;
                    attends |= bias[j] != -INFINITY;
                    double value = t->qk_mode == 0 ? s[j] : t->qk_mode == 1 ? capped : capped + bias[j];
                    s[j] = capped + bias[j];
                    if (qk)
                        qk[((b * t->hq + h) * t->sq + i) * total + j] = (float)value;
                }
                double max = -INFINITY, sum = 0;
                for (int64_t j = 0; j < total; j++)
                    max = fmax(max, s[j]);
                for (int64_t j = 0; j < total; j++)
                    sum += s[j] = attends ? exp(s[j] - max) : 0;
                for (int64_t j = 0; j < total; j++) {
                    s[j] = attends ? s[j] / sum : 0;
                    if (qk && t->qk_mode == 3)
                        qk[((b * t->hq + h) * t->sq + i) * total + j] = (float)s[j];
                }
                for (int64_t c = 0; c < t->dv; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j < total; j++)
                        acc += s[j] * present_v[((b * t->hkv + h / group) * total + j) * t->dv + c];
                    y[at4(t->rank3, t->hq, t->sq, t->dv, b, h, i, c)] = (float)acc;
                }
            }
    free(s);
    free(bias);
}

static void check_attention(const attention_case *t)
{
    int64_t total = t->past + t->skv;
    int64_t q_dims[4], k_dims[4], v_dims[4], y_dims[4];
    if (t->rank3) {
        memcpy(q_dims, DIMS(t->b, t->sq, t->hq * t->d), 3 * sizeof(int64_t));
        memcpy(k_dims, DIMS(t->b, t->skv, t->hkv * t->d), 3 * sizeof(int64_t));
        memcpy(v_dims, DIMS(t->b, t->skv, t->hkv * t->dv), 3 * sizeof(int64_t));
        memcpy(y_dims, DIMS(t->b, t->sq, t->hq * t->dv), 3 * sizeof(int64_t));
    } else {
        memcpy(q_dims, DIMS(t->b, t->hq, t->sq, t->d), 4 * sizeof(int64_t));
        memcpy(k_dims, DIMS(t->b, t->hkv, t->skv, t->d), 4 * sizeof(int64_t));
        memcpy(v_dims, DIMS(t->b, t->hkv, t->skv, t->dv), 4 * sizeof(int64_t));
        memcpy(y_dims, DIMS(t->b, t->hq, t->sq, t->dv), 4 * sizeof(int64_t));
    }
    int rank = t->rank3 ? 3 : 4;
    int64_t nq = t->b * t->hq * t->sq * t->d, nk = t->b * t->hkv * t->skv * t->d;
    int64_t nv = t->b * t->hkv * t->skv * t->dv;
    int64_t npk = t->b * t->hkv * t->past * t->d, npv = t->b * t->hkv * t->past * t->dv, nmask = 1;
    for (int r = 0; r < t->mask_rank; r++)
        nmask *= t->mask_dims[r];
    float *q = values(nq, 1), *k = values(nk, 2), *v = values(nv, 3);
    float *pk = values(npk, 4), *pv = values(npv, 5);
    float *fmask = values(nmask, 6);
    uint8_t *bmask = malloc((size_t)nmask);
    for (int64_t i = 0; i < nmask; i++)
        bmask[i] = fmask[i] > -0.5f;
    const void *mask = t->bool_mask ? (const void *)bmask : fmask;
    int64_t ny = t->b * t->hq * t->sq * t->dv, nqk = t->b * t->hq * t->sq * total;
    int64_t npres_k = t->b * t->hkv * total * t->d, npres_v = t->b * t->hkv * total * t->dv;
    float *y = malloc((size_t)ny * sizeof *y), *qk = malloc((size_t)nqk * sizeof *qk);
    float *pres_k = malloc((size_t)npres_k * sizeof *pres_k);
    float *pres_v = malloc((size_t)npres_v * sizeof *pres_v);
    attention_by_definition(t, q, k, v, mask, pk, pv, y, qk, pres_k, pres_v);

    onyx_tensor in[7];
    int n = 0;
    char names[128] = "Q,K,V", outputs[128] = "Y";
    in[n++] = tensor_of(ONYX_DTYPE_FLOAT, rank, q_dims, q);
    in[n++] = tensor_of(ONYX_DTYPE_FLOAT, rank, k_dims, k);
    in[n++] = tensor_of(ONYX_DTYPE_FLOAT, rank, v_dims, v);
    strcat(names, t->mask_rank ? ",mask" : ",");
    if (t->mask_rank)
        in[n++] = tensor_of(t->bool_mask ? ONYX_DTYPE_BOOL : ONYX_DTYPE_FLOAT, t->mask_rank, t->mask_dims,
                            mask);
    strcat(names, t->past ? ",past_k,past_v" : ",,");
    if (t->past) {
        in[n++] = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(t->b, t->hkv, t->past, t->d), pk);
        in[n++] = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(t->b, t->hkv, t->past, t->dv), pv);
    }
    if (t->nonpad) {
        strcat(names, ",nonpad");
        in[n++] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(t->b), t->nonpad_len);
    }
    strcat(outputs, t->nonpad ? ",," : ",present_k,present_v");
    if (!t->no_qk)
        strcat(outputs, ",QK");
    builder *bld = builder_single_node(t->opset, "Attention", names, in, 0, outputs);
    Onnx__NodeProto *node = builder_first_node(bld);
    if (t->rank3) {
        builder_attr_int(bld, node, "q_num_heads", t->hq);
        builder_attr_int(bld, node, "kv_num_heads", t->hkv);
    }
    builder_attr_int(bld, node, "is_causal", t->causal);
    builder_attr_int(bld, node, "qk_matmul_output_mode", t->qk_mode);
    if (t->softcap > 0)
        builder_attr_float(bld, node, "softcap", t->softcap);
    if (t->left >= 0)
        builder_attr_int(bld, node, "left_window_size", t->left);
    if (t->right >= 0)
        builder_attr_int(bld, node, "right_window_size", t->right);
    for (int threads = 1; threads <= 3; threads += 2) {
        run_result r = run_model_with(bld, (run_settings){.threads = threads}, n, in);
        cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, rank, y_dims, y, 1e-5);
        int o = 1;
        if (!t->nonpad) {
            expect_tensor(&r.outputs[o++], ONYX_DTYPE_FLOAT, 4, DIMS(t->b, t->hkv, total, t->d), pres_k, 0);
            expect_tensor(&r.outputs[o++], ONYX_DTYPE_FLOAT, 4, DIMS(t->b, t->hkv, total, t->dv), pres_v, 0);
        }
        if (!t->no_qk)
            expect_tensor(&r.outputs[o], ONYX_DTYPE_FLOAT, 4, DIMS(t->b, t->hq, t->sq, total), qk, 1e-5);
        run_result_free(&r);
    }
    builder_free(bld);
    free(q), free(k), free(v), free(pk), free(pv), free(fmask), free(bmask);
    free(y), free(qk), free(pres_k), free(pres_v);
}

Test(attention, rank3_grouped_heads_past_causal_and_a_short_float_mask_over_several_row_blocks)
{
    /* 70 query rows: three blocks of rows, the last partial; the mask covers 50 of 75 keys. */
    attention_case t = {.opset = 23, .rank3 = true, .b = 2, .hq = 4, .hkv = 2, .sq = 70, .skv = 70, .past = 5,
                        .d = 8, .dv = 6, .causal = true, .left = -1, .right = -1, .mask_rank = 2,
                        .mask_dims = {70, 50}, .qk_mode = 2};
    check_attention(&t);
}

Test(attention, rank4_softcap_bool_mask_of_rank_3_and_the_softcapped_scores)
{
    attention_case t = {.opset = 24, .b = 2, .hq = 3, .hkv = 1, .sq = 33, .skv = 40, .past = 3, .d = 5,
                        .dv = 7,
                        .left = -1, .right = -1, .softcap = 1.5f, .mask_rank = 3, .mask_dims = {3, 1, 43},
                        .bool_mask = true, .qk_mode = 1};
    check_attention(&t);
}

Test(attention, window_and_padding_of_an_external_cache_with_probabilities_out)
{
    /* Batch 1 has fewer valid keys than queries: its first rows see no key and are zeros. */
    attention_case t = {.opset = 25, .b = 2, .hq = 2, .hkv = 2, .sq = 40, .skv = 48, .d = 4, .dv = 4,
                        .causal = true, .left = 6, .right = -1, .mask_rank = 1, .mask_dims = {48},
                        .bool_mask = true, .nonpad = true, .nonpad_len = {47, 30}, .qk_mode = 3};
    check_attention(&t);
}

Test(attention, bidirectional_window_and_raw_scores)
{
    attention_case t = {.opset = 25, .b = 1, .hq = 2, .hkv = 1, .sq = 35, .skv = 35, .past = 2, .d = 3,
                        .dv = 2,
                        .left = 3, .right = 2, .qk_mode = 0};
    check_attention(&t);
}

Test(attention, unmasked_causal_window_and_padding_reduce_rows_to_ranges_of_keys)
{
    attention_case past = {.opset = 25, .rank3 = true, .b = 2, .hq = 6, .hkv = 3, .sq = 45, .skv = 45,
                           .past = 20, .d = 4, .dv = 3, .causal = true, .left = 10, .right = -1,
                           .no_qk = true};
    check_attention(&past);
    attention_case padded = {.opset = 24, .b = 3, .hq = 2, .hkv = 1, .sq = 40, .skv = 64, .d = 4, .dv = 5,
                             .causal = true, .left = -1, .right = -1, .nonpad = true,
                             .nonpad_len = {64, 50, 10},
                             .no_qk = true};
    check_attention(&padded);
}

Test(attention, decoding_a_few_tokens_with_a_past_reads_keys_in_place)
{
    /* group x Sq below 16 query rows per key/value head: no copy of the keys. */
    attention_case plain = {.opset = 23, .b = 2, .hq = 4, .hkv = 2, .sq = 2, .skv = 2, .past = 37, .d = 6,
                            .dv = 5, .causal = true, .left = -1, .right = -1, .no_qk = true};
    check_attention(&plain);
    attention_case masked = {.opset = 23, .rank3 = true, .b = 1, .hq = 3, .hkv = 1, .sq = 1, .skv = 1,
                             .past = 20, .d = 4, .dv = 4, .left = -1, .right = -1, .softcap = 0.75f,
                             .mask_rank = 4, .mask_dims = {1, 3, 1, 21}, .qk_mode = 2};
    check_attention(&masked);
}

/* Loads a model of one Attention node on Q, K, V (and more) and expects the load to fail. */
static void expect_attention_refused(int opset, int n, const onyx_tensor *in, const char *names,
                                     int64_t q_heads, int64_t kv_heads, const char *part)
{
    builder *b = builder_single_node(opset, "Attention", names, in, 0, "Y");
    if (q_heads)
        builder_attr_int(b, builder_first_node(b), "q_num_heads", q_heads);
    if (kv_heads)
        builder_attr_int(b, builder_first_node(b), "kv_num_heads", kv_heads);
    run_result r = run_model(b, n, in);
    cr_assert_neq(r.load, ONYX_OK, "loaded; expected an error about %s", part);
    expect_message(r.message, part, NULL);
    run_result_free(&r);
    builder_free(b);
}

Test(attention, bad_shapes_and_inputs_are_named_at_load)
{
    float data[64] = {0};
    onyx_tensor q4 = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 2, 4), data);
    onyx_tensor k4 = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 3, 4), data);
    onyx_tensor q3 = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 8), data);
    onyx_tensor k3 = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 8), data);
    onyx_tensor long_mask = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 4), data);
    onyx_tensor int_mask = tensor_of(ONYX_DTYPE_INT32, 2, DIMS(2, 3), data);
    onyx_tensor past = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 1, 4), data);
    onyx_tensor nonpad = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), data);
    onyx_tensor q3heads = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 3, 2, 4), data);
    expect_attention_refused(23, 4, (onyx_tensor[]){q4, k4, k4, long_mask}, "Q,K,V,M", 0, 0, "attn_mask");
    expect_attention_refused(23, 4, (onyx_tensor[]){q4, k4, k4, int_mask}, "Q,K,V,M", 0, 0, "int32");
    expect_attention_refused(23, 3, (onyx_tensor[]){q3, k3, k3}, "Q,K,V", 0, 0, "q_num_heads");
    expect_attention_refused(23, 3, (onyx_tensor[]){q3, k3, k3}, "Q,K,V", 3, 2, "multiples");
    expect_attention_refused(23, 3, (onyx_tensor[]){q3heads, k4, k4}, "Q,K,V", 0, 0,
                             "multiple of the key/value");
    expect_attention_refused(23, 4, (onyx_tensor[]){q4, k4, k4, past}, "Q,K,V,,P", 0, 0, "together");
    expect_attention_refused(24, 6, (onyx_tensor[]){q4, k4, k4, past, past, nonpad}, "Q,K,V,,P,PV,N", 0, 0,
                             "nonpad_kv_seqlen");
}

/* ---- RMSNormalization ----------------------------------------------------------------------- */

Test(rms_normalization, scale_broadcast_within_the_normalized_shape_and_double)
{
    /* X [2, 3, 4] over axis 1: Scale [3, 1] repeats along the last dim (the general path). */
    float *x = values(24, 7);
    const float scale[3] = {0.5f, -2, 3};
    float want[24];
    for (int r = 0; r < 2; r++) {
        double sq = 0;
        for (int i = 0; i < 12; i++)
            sq += (double)x[r * 12 + i] * x[r * 12 + i];
        double inv = 1 / sqrt(sq / 12 + 0.25);
        for (int i = 0; i < 12; i++)
            want[r * 12 + i] = (float)(x[r * 12 + i] * inv * scale[i / 4]);
    }
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 3, 4), x),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 1), scale)};
    builder *b = builder_single_node(23, "RMSNormalization", "X,S", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    builder_attr_float(b, builder_first_node(b), "epsilon", 0.25f);
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 3, 4), want, 1e-6);
    run_result_free(&r);
    builder_free(b);

    double xd[24], scale_d[3] = {0.5, -2, 3}, want_d[24];
    for (int i = 0; i < 24; i++)
        xd[i] = x[i], want_d[i] = want[i];
    onyx_tensor ind[2] = {tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(2, 3, 4), xd),
                          tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(3, 1), scale_d)};
    b = builder_single_node(23, "RMSNormalization", "X,S", ind, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", -2);
    builder_attr_float(b, builder_first_node(b), "epsilon", 0.25f);
    r = run_model(b, 2, ind);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 3, DIMS(2, 3, 4), want_d, 1e-6);
    run_result_free(&r);
    builder_free(b);
    free(x);
}

Test(rms_normalization, scale_that_grows_the_normalized_shape_is_refused)
{
    float data[8] = {0};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 4), data),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 4), data)};
    builder *b = builder_single_node(23, "RMSNormalization", "X,S", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_neq(r.load, ONYX_OK);
    expect_message(r.message, "normalized shape", NULL);
    run_result_free(&r);
    builder_free(b);
}

/* ---- RotaryEmbedding ------------------------------------------------------------------------ */

/* The float16 bits of f, which must be zero or a normal half with at most 11 significant bits. */
static uint16_t half_of(float f)
{
    if (f == 0)
        return 0;
    int e;
    float m = frexpf(fabsf(f), &e); /* |f| = m 2^e, m in [0.5, 1): 1.x 2^(e - 1) */
    uint16_t bits = (uint16_t)(((e - 1 + 15) << 10) | (uint16_t)((m * 2 - 1) * 1024));
    return f < 0 ? (uint16_t)(bits | 0x8000) : bits;
}

Test(rotary_embedding, float16_rotates_as_float_and_positions_outside_the_cache_fail)
{
    /* X [1, 1, 2, 4] (one head, two tokens), full rotation in halves, positions 1 and 0. */
    const float x[8] = {1, 2, 3, 4, -1, 0.5f, 2, -3};
    const float cos_c[4] = {1, 0.5f, 0, -1}, sin_c[4] = {0, 0.25f, 1, 0.75f};
    const int64_t pos[2] = {1, 0};
    float want[8];
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 2; i++) {
            float c = cos_c[pos[t] * 2 + i], s = sin_c[pos[t] * 2 + i];
            float x1 = x[t * 4 + i], x2 = x[t * 4 + i + 2];
            want[t * 4 + i] = c * x1 - s * x2;
            want[t * 4 + i + 2] = s * x1 + c * x2;
        }
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 4), x),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), cos_c),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), sin_c),
                         tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, 2), pos)};
    builder *b = builder_single_node(23, "RotaryEmbedding", "X,C,S,P", in, 0, "Y");
    run_result r = run_model(b, 4, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 4), want, 1e-6);
    run_result_free(&r);
    const int64_t bad[2] = {2, 0};
    in[3].data = (void *)bad;
    r = run_model(b, 4, in);
    cr_assert_neq(r.run, ONYX_OK);
    expect_message(r.message, "position id 2", NULL);
    run_result_free(&r);
    builder_free(b);

    /* float16: every value above is exact in half precision, as are the results. */
    uint16_t xh[8], ch[4], sh[4], want_h[8];
    for (int i = 0; i < 8; i++)
        xh[i] = half_of(x[i]), want_h[i] = half_of(want[i]);
    for (int i = 0; i < 4; i++)
        ch[i] = half_of(cos_c[i]), sh[i] = half_of(sin_c[i]);
    onyx_tensor inh[4] = {tensor_of(ONYX_DTYPE_FLOAT16, 4, DIMS(1, 1, 2, 4), xh),
                          tensor_of(ONYX_DTYPE_FLOAT16, 2, DIMS(2, 2), ch),
                          tensor_of(ONYX_DTYPE_FLOAT16, 2, DIMS(2, 2), sh), in[3]};
    inh[3].data = (void *)pos;
    b = builder_single_node(23, "RotaryEmbedding", "X,C,S,P", inh, 0, "Y");
    r = run_model(b, 4, inh);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.outputs[0].dtype, ONYX_DTYPE_FLOAT16);
    for (int i = 0; i < 8; i++) {
        uint16_t got = ((const uint16_t *)r.outputs[0].data)[i];
        cr_assert_eq(got, want_h[i], "element %d is 0x%04x, expected 0x%04x", i, got, want_h[i]);
    }
    run_result_free(&r);
    builder_free(b);
}

Test(rotary_embedding, odd_rotary_dim_and_missing_num_heads_are_refused)
{
    float data[16] = {0};
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 8), data),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 2), data),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 2), data)};
    builder *b = builder_single_node(23, "RotaryEmbedding", "X,C,S", in, 0, "Y");
    run_result r = run_model(b, 3, in);
    cr_assert_neq(r.load, ONYX_OK);
    expect_message(r.message, "num_heads", NULL);
    run_result_free(&r);
    builder_attr_int(b, builder_first_node(b), "rotary_embedding_dim", 3);
    r = run_model(b, 3, in);
    cr_assert_neq(r.load, ONYX_OK);
    expect_message(r.message, "rotary_embedding_dim", NULL);
    run_result_free(&r);
    builder_free(b);
}

/* ---- TensorScatter -------------------------------------------------------------------------- */

Test(tensor_scatter, circular_wraps_a_negative_index_and_linear_overflow_fails)
{
    /* Cache [2, 4, 1] along axis 1; update [2, 3, 1]; batch 0 at -1 (= 3), batch 1 at 2. */
    const float cache[8] = {0, 1, 2, 3, 10, 11, 12, 13}, update[6] = {-1, -2, -3, -4, -5, -6};
    const int64_t idx[2] = {-1, 2};
    const float want[8] = {-2, -3, 2, -1, -6, 11, -4, -5};
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 4, 1), cache),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 3, 1), update),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), idx)};
    builder *b = builder_single_node(24, "TensorScatter", "C,U,I", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    builder_attr_string(b, builder_first_node(b), "mode", "circular");
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 4, 1), want, 0);
    run_result_free(&r);
    builder_free(b);

    b = builder_single_node(24, "TensorScatter", "C,U,I", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    const int64_t fits[2] = {1, 0};
    in[2].data = (void *)fits;
    r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    const float want_linear[8] = {0, -1, -2, -3, -4, -5, -6, 13};
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 4, 1), want_linear, 0);
    run_result_free(&r);
    in[2].data = (void *)idx;
    r = run_model(b, 3, in);
    cr_assert_neq(r.run, ONYX_OK);
    expect_message(r.message, "write index -1", NULL);
    run_result_free(&r);
    builder_free(b);
}

Test(tensor_scatter, batch_axis_and_a_longer_update_are_refused)
{
    float data[16] = {0};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 4, 1), data),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 5, 1), data)};
    builder *b = builder_single_node(24, "TensorScatter", "C,U", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_neq(r.load, ONYX_OK);
    expect_message(r.message, "no longer", NULL);
    run_result_free(&r);
    builder_attr_int(b, builder_first_node(b), "axis", 0);
    r = run_model(b, 2, in);
    cr_assert_neq(r.load, ONYX_OK);
    expect_message(r.message, "batch", NULL);
    run_result_free(&r);
    builder_free(b);
}
