/* What ONNX's node tests leave out of SwiGLU, CausalConvWithState, LinearAttention, DeformConv
 * and FlexAttention: their error paths, SwiGLU's float32 blocks, DeformConv on one spatial
 * axis, and FlexAttention's modifiers reading values of the enclosing graph. Expected values
 * are worked out by hand from the specifications (the arithmetic is in the comments) or in
 * double, never taken from onyx. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs b and expects the load (or, when `at_load` is false, the run) to fail with `status`
 * and a message naming `what`; frees b. */
static void expect_failure(builder *b, int n_graph, const onyx_tensor *inputs, bool at_load,
                           onyx_status status, const char *what)
{
    run_result r = run_model(b, n_graph, inputs);
    if (!at_load)
        cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(at_load ? r.load : r.run, status, "status %d: %s", at_load ? r.load : r.run, r.message);
    expect_message(r.message, what, NULL);
    run_result_free(&r);
    builder_free(b);
}

/* ---- SwiGLU ------------------------------------------------------------------------------ */

Test(swiglu, double_values)
{
    /* Y = A sigmoid(A) B: A = 1, B = 2 gives 2 / (1 + e^-1) = 1.4621171572600098;
     * A = 0 gives 0; A = -1, B = 1 gives -1 / (1 + e) = -0.2689414213699951. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(3), (const double[]){1, 0, -1}),
                         tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(3), (const double[]){2, 5, 1})};
    builder *b = builder_single_node(28, "SwiGLU", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 1, DIMS(3),
                  (const double[]){1.4621171572600098, 0, -0.2689414213699951}, 1e-12);
    run_result_free(&r);
    builder_free(b);
}

/* float32 with alpha 1 (the vector path, in blocks of 1024 and a tail) against double. */
Test(swiglu, float_blocks_against_double)
{
    enum { N = 2500 };
    float *a = malloc(N * sizeof(float)), *bv = malloc(N * sizeof(float)), *want = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        a[i] = (float)((i * 37 % 1201) - 600) * 0.05f; /* -30 .. 30 */
        bv[i] = (float)((i * 53 % 401) - 200) * 0.01f;
        want[i] = (float)((double)a[i] / (1.0 + exp(-(double)a[i])) * (double)bv[i]);
    }
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, N / 2), a),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, N / 2), bv)};
    builder *b = builder_single_node(28, "SwiGLU", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, N / 2), want, 1e-5);
    run_result_free(&r);
    builder_free(b);
    free(a);
    free(bv);
    free(want);
}

Test(swiglu, refuses_to_broadcast)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), NULL)};
    builder *b = builder_single_node(28, "SwiGLU", "A,B", in, 0, "Y");
    expect_failure(b, 0, NULL, true, ONYX_ERROR_INVALID_MODEL, "same shape");
}

Test(swiglu, refuses_integers)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), NULL),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), NULL)};
    builder *b = builder_single_node(28, "SwiGLU", "A,B", in, 0, "Y");
    run_result r = run_model(b, 0, NULL);
    cr_assert_neq(r.load, ONYX_OK, "int32 SwiGLU loaded");
    expect_message(r.message, "int32", NULL);
    run_result_free(&r);
    builder_free(b);
}

/* ---- CausalConvWithState ----------------------------------------------------------------- */

/* A CausalConvWithState-27 model on input (1, 2, 3) and weight `wdims`, with a past_state of
 * `pdims` when given. */
static builder *causal_conv_model(const int64_t *wdims, const int64_t *pdims, const char *activation)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, wdims, NULL)};
    if (pdims)
        in[2] = tensor_of(ONYX_DTYPE_FLOAT, 3, pdims, NULL);
    builder *b = builder_single_node(27, "CausalConvWithState", pdims ? "X,W,,P" : "X,W", in, 0, "Y,S");
    if (activation)
        builder_attr_string(b, builder_first_node(b), "activation", activation);
    return b;
}

Test(causal_conv_with_state, refuses_an_unknown_activation)
{
    expect_failure(causal_conv_model(DIMS(2, 1, 3), NULL, "gelu"), 0, NULL, true, ONYX_ERROR_INVALID_MODEL,
                   "'gelu'");
}

Test(causal_conv_with_state, refuses_a_weight_of_other_channels)
{
    expect_failure(causal_conv_model(DIMS(3, 1, 3), NULL, NULL), 0, NULL, true, ONYX_ERROR_INVALID_MODEL,
                   "weight");
}

Test(causal_conv_with_state, refuses_a_past_state_of_other_length)
{
    /* k = 3 carries 2 positions, not 3. */
    expect_failure(causal_conv_model(DIMS(2, 1, 3), DIMS(1, 2, 3), NULL), 0, NULL, true,
                   ONYX_ERROR_INVALID_MODEL, "past_state");
}

Test(causal_conv_with_state, refuses_double)
{
    /* Its schema allows float, float16 and bfloat16 only (unlike SwiGLU's). */
    builder *b = builder_new(27);
    builder_input(b, "X", ONYX_DTYPE_DOUBLE, 3, DIMS(1, 2, 3), NULL);
    builder_input(b, "W", ONYX_DTYPE_DOUBLE, 3, DIMS(2, 1, 3), NULL);
    builder_node(b, "CausalConvWithState", "X,W", "Y,S");
    builder_output(b, "Y", ONYX_DTYPE_UNDEFINED);
    run_result r = run_model(b, 0, NULL);
    cr_assert_neq(r.load, ONYX_OK, "double CausalConvWithState loaded");
    expect_message(r.message, "double", NULL);
    run_result_free(&r);
    builder_free(b);
}

Test(causal_conv_with_state, values_with_a_state_longer_than_the_input)
{
    /* k = 4, L = 1 (one channel): padded = [p0, p1, p2, x0] = [1, 2, 3, 4]; with weight
     * [1, 10, 100, 1000], y = 1 + 20 + 300 + 4000 = 4321; the new state is the last 3 of the
     * padded row, [2, 3, 4]. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 4), FLOATS(1, 10, 100, 1000)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 3), FLOATS(1, 2, 3))};
    builder *b = builder_single_node(27, "CausalConvWithState", "X,W,,P", in, 0, "Y,S");
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(4321), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 3), FLOATS(2, 3, 4), 0);
    run_result_free(&r);
    builder_free(b);
}

/* ---- LinearAttention --------------------------------------------------------------------- */

/* A LinearAttention-27 model of B = 1, T = 2, one head of d_k = d_v = 1, with the given update
 * rule and optional inputs (comma-separated names after query,key,value). */
static builder *linear_attention_model(const char *rule, const char *inputs, int64_t q_heads,
                                       int64_t kv_heads)
{
    /* query (1, 2, q_heads); key, value and whichever of decay and beta `inputs` names
     * (1, 2, kv_heads). */
    onyx_tensor kv = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, kv_heads), NULL);
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, q_heads), NULL), kv, kv, kv, kv};
    builder *b = builder_single_node(27, "LinearAttention", inputs, in, 0, "Y,S");
    Onnx__NodeProto *n = builder_first_node(b);
    builder_attr_int(b, n, "q_num_heads", q_heads);
    builder_attr_int(b, n, "kv_num_heads", kv_heads);
    if (rule)
        builder_attr_string(b, n, "update_rule", rule);
    return b;
}

Test(linear_attention, gated_rules_need_decay)
{
    /* The default rule is gated_delta: decay and beta both required. */
    expect_failure(linear_attention_model(NULL, "q,k,v,,,beta", 1, 1), 0, NULL, true,
                   ONYX_ERROR_INVALID_MODEL, "decay");
    expect_failure(linear_attention_model("gated", "q,k,v", 1, 1), 0, NULL, true, ONYX_ERROR_INVALID_MODEL,
                   "decay");
}

Test(linear_attention, rules_refuse_inputs_they_ignore)
{
    expect_failure(linear_attention_model("linear", "q,k,v,,,beta", 1, 1), 0, NULL, true,
                   ONYX_ERROR_INVALID_MODEL, "beta");
    expect_failure(linear_attention_model("delta", "q,k,v,,g,beta", 1, 1), 0, NULL, true,
                   ONYX_ERROR_INVALID_MODEL, "decay");
}

Test(linear_attention, refuses_an_unknown_rule_and_bad_head_counts)
{
    expect_failure(linear_attention_model("mamba", "q,k,v", 1, 1), 0, NULL, true, ONYX_ERROR_INVALID_MODEL,
                   "'mamba'");
    expect_failure(linear_attention_model("linear", "q,k,v", 3, 2), 0, NULL, true, ONYX_ERROR_INVALID_MODEL,
                   "multiple of kv_num_heads");
}

Test(linear_attention, linear_rule_values)
{
    /* d_k = d_v = 1, scale 1 (explicit): S1 = 1 * 3 = 3, o1 = q1 S1 = 3; S2 = 3 + 2 * 4 = 11,
     * o2 = 2 * 11 = 22; the state is 11. */
    builder *b = linear_attention_model("linear", "q,k,v", 1, 1);
    builder_attr_float(b, builder_first_node(b), "scale", 1.0f);
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(3, 4))};
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(3, 22), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), FLOATS(11), 0);
    run_result_free(&r);
    builder_free(b);
}

/* ---- DeformConv -------------------------------------------------------------------------- */

Test(deform_conv, one_spatial_axis)
{
    /* X = [1, 2, 3, 4], kernel [1, 1], every offset 0.5: output o samples X at o + 0.5 and
     * o + 1.5, linearly, with zero beyond the end: o = 0: 1.5 + 2.5 = 4; o = 1: 2.5 + 3.5 = 6;
     * o = 2: 3.5 + 0.5 * 4 = 5.5. Bias 1 on top. */
    float offsets[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 4), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), FLOATS(1, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), offsets),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1))};
    builder *b = builder_single_node(22, "DeformConv", "X,W,offset,B", in, 0, "Y");
    run_result r = run_model(b, 4, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 3), FLOATS(5, 7, 6.5f), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

/* A DeformConv-22 model of X (1, 2, 3, 3), W `wdims` and offset `odims`, group `group`. */
static builder *deform_conv_model(const int64_t *wdims, const int64_t *odims, int64_t group)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 3, 3), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, wdims, NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, odims, NULL)};
    builder *b = builder_single_node(22, "DeformConv", "X,W,offset", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "group", group);
    return b;
}

Test(deform_conv, refuses_offsets_of_other_channels_or_positions)
{
    /* A 2x2 kernel on 3x3 gives 2x2 outputs and needs 2 * 2 * 2 = 8 offset channels. */
    expect_failure(deform_conv_model(DIMS(1, 2, 2, 2), DIMS(1, 6, 2, 2), 1), 0, NULL, true,
                   ONYX_ERROR_INVALID_MODEL, "offset");
    expect_failure(deform_conv_model(DIMS(1, 2, 2, 2), DIMS(1, 8, 3, 3), 1), 0, NULL, true,
                   ONYX_ERROR_INVALID_MODEL, "offset");
}

Test(deform_conv, refuses_channels_that_do_not_match_the_group)
{
    expect_failure(deform_conv_model(DIMS(1, 2, 2, 2), DIMS(1, 8, 2, 2), 2), 0, NULL, true,
                   ONYX_ERROR_INVALID_MODEL, "group");
    expect_failure(deform_conv_model(DIMS(1, 1, 2, 2), DIMS(1, 8, 2, 2), 0), 0, NULL, true,
                   ONYX_ERROR_INVALID_MODEL, "group");
}

/* ---- FlexAttention ----------------------------------------------------------------------- */

/* A model importing ai.onnx.preview 1 besides the default domain, with a FlexAttention node
 * on Q (1, 1, 1, 1), K (1, 1, 2, 1) and V (1, 1, 2, 1). */
static builder *flex_model(Onnx__NodeProto **node)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 1), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 1), NULL)};
    builder *b = builder_single_node(23, "FlexAttention", "Q,K,V", in, 0, "Y");
    builder_import(b, "ai.onnx.preview", 1);
    *node = builder_first_node(b);
    (*node)->domain = "ai.onnx.preview";
    return b;
}

/* Q = 1, K = [0, 1], V = [1, 3], scale 1 (head size 1): scores [0, 1]. */
static void flex_inputs(onyx_tensor *in)
{
    /* Static: the tensors outlive this call. */
    static const float q[] = {1}, k[] = {0, 1}, v[] = {1, 3};
    static const int64_t one[] = {1, 1, 1, 1}, two[] = {1, 1, 2, 1};
    in[0] = tensor_of(ONYX_DTYPE_FLOAT, 4, one, q);
    in[1] = tensor_of(ONYX_DTYPE_FLOAT, 4, two, k);
    in[2] = tensor_of(ONYX_DTYPE_FLOAT, 4, two, v);
}

/* A one-node modifier graph: out = op(in, other) (other NULL for a unary op). */
static Onnx__GraphProto *modifier(builder *b, const char *op, const char *other)
{
    Onnx__GraphProto *g = builder_subgraph(b, "mod");
    builder_graph_input(b, g, "s", ONYX_DTYPE_FLOAT, 4, DIMS(-1, -1, -1, -1));
    char inputs[64];
    snprintf(inputs, sizeof inputs, other ? "s,%s" : "s", other);
    builder_graph_node(b, g, op, inputs, "t");
    builder_graph_output(b, g, "t", ONYX_DTYPE_FLOAT);
    return g;
}

Test(flex_attention, score_mod_masks_with_a_value_of_the_enclosing_graph)
{
    /* Without a mask: softmax [0, 1] = [1, e] / (1 + e), Y = (1 + 3e) / (1 + e) =
     * 2.4621171572600098. The score_mod adds [0, -inf] from the main graph: Y = V[0] = 1. */
    Onnx__NodeProto *n;
    builder *b = flex_model(&n);
    builder_initializer(b, "mask", ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 2), FLOATS(0, -INFINITY));
    builder_attr_graph(b, n, "score_mod", modifier(b, "Add", "mask"));
    onyx_tensor in[3];
    flex_inputs(in);
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), FLOATS(1), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(flex_attention, prob_mod_and_no_modifier)
{
    Onnx__NodeProto *n;
    builder *b = flex_model(&n);
    onyx_tensor in[3];
    flex_inputs(in);
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), FLOATS(2.4621171572600098f), 1e-6);
    run_result_free(&r);
    builder_free(b);
    /* prob_mod doubles the probabilities: Y doubles. */
    b = flex_model(&n);
    builder_initializer(b, "two", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(2));
    builder_attr_graph(b, n, "prob_mod", modifier(b, "Mul", "two"));
    r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), FLOATS(4.9242343145200196f), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(flex_attention, a_modifier_that_changes_the_shape_fails_the_run)
{
    /* Scores (1, 1, 1, 2) transposed to (1, 1, 2, 1). */
    Onnx__NodeProto *n;
    builder *b = flex_model(&n);
    Onnx__GraphProto *g = modifier(b, "Transpose", NULL);
    builder_attr_ints(b, g->node[0], "perm", 4, INT64S(0, 1, 3, 2));
    builder_attr_graph(b, n, "score_mod", g);
    onyx_tensor in[3];
    flex_inputs(in);
    run_result r = run_model(b, 3, in);
    cr_assert_neq(r.run, ONYX_OK, "a reshaping score_mod ran");
    expect_message(r.message, "score_mod", "keep shape", NULL);
    run_result_free(&r);
    builder_free(b);
}

Test(flex_attention, refuses_bad_modifier_signatures_and_precisions)
{
    Onnx__NodeProto *n;
    builder *b = flex_model(&n);
    Onnx__GraphProto *g = modifier(b, "Cast", NULL);
    builder_attr_int(b, g->node[0], "to", ONYX_DTYPE_DOUBLE);
    g->output[0]->type->tensor_type->elem_type = ONYX_DTYPE_DOUBLE;
    builder_attr_graph(b, n, "prob_mod", g);
    expect_failure(b, 0, NULL, true, ONYX_ERROR_INVALID_MODEL, "softmax precision");

    b = flex_model(&n);
    g = modifier(b, "Add", "s2");
    builder_graph_input(b, g, "s2", ONYX_DTYPE_FLOAT, 4, DIMS(-1, -1, -1, -1));
    builder_attr_graph(b, n, "score_mod", g);
    expect_failure(b, 0, NULL, true, ONYX_ERROR_INVALID_MODEL, "one input");

    b = flex_model(&n);
    builder_attr_int(b, n, "softmax_precision", ONYX_DTYPE_FLOAT16);
    expect_failure(b, 0, NULL, true, ONYX_ERROR_UNSUPPORTED, "softmax_precision");
}

Test(flex_attention, refuses_query_heads_not_a_multiple_of_key_heads)
{
    Onnx__NodeProto *n;
    builder *b = flex_model(&n);
    Onnx__GraphProto *graph = builder_graph(b);
    /* Q with 3 heads against K and V with 2. */
    graph->input[0]->type->tensor_type->shape->dim[1]->dim_value = 3;
    graph->input[1]->type->tensor_type->shape->dim[1]->dim_value = 2;
    graph->input[2]->type->tensor_type->shape->dim[1]->dim_value = 2;
    expect_failure(b, 0, NULL, true, ONYX_ERROR_INVALID_MODEL, "multiple");
}
