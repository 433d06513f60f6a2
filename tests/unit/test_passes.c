/* Each fusion pass fires on the PyTorch exports it is written for, and the fused graph gives
 * the unfused graph's outputs within 1e-5. */
#include "harness.h"
#include "ir.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Options with the fusion passes on or off. */
static onyx_options *optimizing(bool optimize)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_optimization(o, optimize), ONYX_OK);
    return o;
}

static onyx_model *load(const char *model, bool optimize)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/model.onnx", ONYX_SOURCE_DIR, model);
    onyx_options *o = optimizing(optimize);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_file(path, o, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
    onyx_options_free(o);
    return m;
}

/* Asserts that the committed model is there and loads (both exports of every block). */
static bool loadable(const char *model)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/model.onnx", ONYX_SOURCE_DIR, model);
    cr_assert_eq(access(path, R_OK), 0, "models/%s is not committed", model);
    onyx_model *m;
    onyx_status st = onyx_model_load_file(path, NULL, &m);
    cr_assert_eq(st, ONYX_OK, "%s: %s", model, onyx_model_errmsg(m));
    onyx_model_free(m);
    return true;
}

/* Live nodes of the main graph with this op type computing floats (not shape arithmetic). */
static int live_float(const onyx_model *m, const char *op_type)
{
    int count = 0;
    for (int i = 0; i < m->graph.n_nodes; i++) {
        const node *n = &m->graph.nodes[i];
        count += !n->dead && !strcmp(n->op_type, op_type) && !n->domain[0] && n->n_outputs > 0 &&
                 n->outputs[0] >= 0 && m->graph.values[n->outputs[0]].info.dtype == ONYX_DTYPE_FLOAT;
    }
    return count;
}

/* Live nodes of the main graph with this op type (and domain). */
static int live(const onyx_model *m, const char *domain, const char *op_type)
{
    int count = 0;
    for (int i = 0; i < m->graph.n_nodes; i++) {
        const node *n = &m->graph.nodes[i];
        count += !n->dead && !strcmp(n->op_type, op_type) && !strcmp(n->domain, domain);
    }
    return count;
}

/* FusedMatMul nodes applying activation `act` (2: GELU erf, 3: GELU tanh). */
static int fused_with(const onyx_model *m, int64_t act)
{
    int count = 0;
    for (int i = 0; i < m->graph.n_nodes; i++) {
        const node *n = &m->graph.nodes[i];
        const attribute *a = node_attr(n, "activation");
        count += !n->dead && !strcmp(n->op_type, "FusedMatMul") && a && a->i == act;
    }
    return count;
}

/* Runs the model on data set 0 of its directory; returns a copy of output 0. */
static float *run_set0(const onyx_model *m, const char *model, int64_t *count)
{
    onyx_session *s;
    cr_assert_eq(onyx_session_create(m, NULL, &s), ONYX_OK);
    onyx_tensor inputs[4];
    size_t n = onyx_model_input_count(m);
    for (size_t i = 0; i < n; i++) {
        char path[1024], msg[512];
        snprintf(path, sizeof path, "%s/models/%s/test_data_set_0/input_%zu.pb", ONYX_SOURCE_DIR, model, i);
        cr_assert_eq(onyx_tensor_read_file(path, &inputs[i], NULL, msg, sizeof msg), ONYX_OK, "%s", msg);
        cr_assert_eq(onyx_session_set_input(s, i, &inputs[i]), ONYX_OK, "%s", onyx_session_errmsg(s));
    }
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor y;
    cr_assert_eq(onyx_session_get_output(s, 0, &y), ONYX_OK);
    *count = onyx_tensor_element_count(&y);
    float *copy = malloc((size_t)*count * sizeof(float));
    memcpy(copy, y.data, (size_t)*count * sizeof(float));
    for (size_t i = 0; i < n; i++)
        onyx_tensor_free_data(inputs[i].data);
    onyx_session_free(s);
    return copy;
}

/* Fused and unfused runs agree within 1e-5. */
static void same_results(const char *model)
{
    onyx_model *fused = load(model, true), *plain = load(model, false);
    int64_t n1, n2;
    float *a = run_set0(fused, model, &n1), *b = run_set0(plain, model, &n2);
    cr_assert_eq(n1, n2);
    double worst = 0;
    for (int64_t i = 0; i < n1; i++)
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    cr_assert(worst <= 1e-5, "%s: fused and unfused outputs differ by %g", model, worst);
    free(a);
    free(b);
    onyx_model_free(fused);
    onyx_model_free(plain);
}

Test(passes, gelu_erf_form_is_fused)
{
    onyx_model *m = load("ffn_gelu", true), *plain = load("ffn_gelu", false);
    /* The Gelu made of the pattern then moves into the preceding MatMul's epilogue. */
    cr_assert_eq(live(m, "onyx", "Gelu") + fused_with(m, 2), 1);
    cr_assert_eq(live(m, "", "Erf"), 0);
    cr_assert_eq(live(plain, "onyx", "Gelu"), 0);
    cr_assert_eq(live(plain, "", "Erf"), 1);
    onyx_model_free(m);
    onyx_model_free(plain);
    same_results("ffn_gelu");
}

Test(passes, gelu_tanh_form_is_fused)
{
    onyx_model *m = load("gpt2_block", true);
    cr_assert_eq(live(m, "onyx", "Gelu") + fused_with(m, 3), 1);
    cr_assert_eq(live(m, "", "Tanh"), 0);
    onyx_model_free(m);
    same_results("gpt2_block");
}

Test(passes, written_out_layernorm_is_fused)
{
    /* Exported at opset 14: LayerNorm written out. Its Sqrt go; the two that compute the
     * attention's sqrt(1/sqrt(head size)) from shapes go with the attention fusion. */
    onyx_model *m = load("encoder_postnorm_relu_op14", true);
    onyx_model *plain = load("encoder_postnorm_relu_op14", false);
    cr_assert_eq(live(m, "", "LayerNormalization"), 2);
    cr_assert_eq(live(m, "", "ReduceMean"), 0);
    cr_assert_eq(live(plain, "", "Sqrt") - live(m, "", "Sqrt"), 4);
    onyx_model_free(m);
    onyx_model_free(plain);
    same_results("encoder_postnorm_relu_op14");
}

Test(passes, written_out_layernorm_with_axes_as_an_input_is_fused)
{
    /* From opset 18 ReduceMean takes its axes as an input: the same LayerNorm, written out by an
     * exporter at opset 18, fuses as at 14 (and [-1] or the last axis's index both qualify). */
    static const int64_t last_axis[2] = {-1, 2};
    for (int k = 0; k < 2; k++) {
        builder *b = builder_new(18);
        builder_input(b, "X", ONYX_DTYPE_FLOAT, 3, DIMS(2, 3, 4), NULL);
        builder_initializer(b, "axes", ONYX_DTYPE_INT64, 1, DIMS(1), &last_axis[k]);
        builder_initializer(b, "two", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(2));
        builder_initializer(b, "eps", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1e-5f));
        builder_initializer(b, "gamma", ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, 0.5f, -2, 1.5f));
        builder_initializer(b, "beta", ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(0.1f, 0, -0.3f, 1));
        builder_node(b, "ReduceMean", "X,axes", "mean");
        builder_node(b, "Sub", "X,mean", "d");
        builder_node(b, "Pow", "d,two", "d2");
        builder_node(b, "ReduceMean", "d2,axes", "var");
        builder_node(b, "Add", "var,eps", "ve");
        builder_node(b, "Sqrt", "ve", "sd");
        builder_node(b, "Div", "d,sd", "n");
        builder_node(b, "Mul", "n,gamma", "g");
        builder_node(b, "Add", "g,beta", "Y");
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        size_t size;
        const uint8_t *bytes = builder_pack(b, &size);
        onyx_model *m;
        cr_assert_eq(onyx_model_load_buffer(bytes, size, NULL, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
        cr_assert_eq(live(m, "", "LayerNormalization"), 1);
        cr_assert_eq(live(m, "", "ReduceMean"), 0);
        onyx_model_free(m);
        float xs[24];
        for (int i = 0; i < 24; i++)
            xs[i] = (float)((i * 7) % 11) - 5.0f + 0.25f * (float)i;
        onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 3, 4), xs);
        run_result fused = run_model_with(b, (run_settings){0}, 1, &x);
        run_result plain = run_model_with(b, (run_settings){.plain = true}, 1, &x);
        cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
        expect_tensor(&fused.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 3, 4), plain.outputs[0].data, 1e-5);
        run_result_free(&fused);
        run_result_free(&plain);
        builder_free(b);
    }
}

Test(passes, inspection_reports_the_model_as_written)
{
    onyx_model *m = load("encoder_postnorm_relu_op14", true);
    int reduce_means = 0;
    for (size_t i = 0; i < onyx_model_node_count(m); i++) {
        onyx_node_info info;
        cr_assert_eq(onyx_model_node_info(m, i, &info), ONYX_OK);
        reduce_means += !strcmp(info.op_type, "ReduceMean");
        cr_assert_str_neq(info.op_type, "LayerNormalization");
    }
    cr_assert_eq(reduce_means, 4);
    onyx_model_free(m);
}

Test(passes, a_pattern_whose_middle_is_read_elsewhere_is_left_alone)
{
    /* GELU written out, but the Erf result is also a graph output: it must stay. */
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(3), NULL);
    builder_initializer(b, "sqrt2", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS((float)M_SQRT2));
    builder_initializer(b, "one", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1));
    builder_initializer(b, "half", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5f));
    builder_node(b, "Div", "X,sqrt2", "d");
    builder_node(b, "Erf", "d", "e");
    builder_node(b, "Add", "e,one", "a");
    builder_node(b, "Mul", "X,a", "m");
    builder_node(b, "Mul", "m,half", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    builder_output(b, "e", ONYX_DTYPE_FLOAT);
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, NULL, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
    cr_assert_eq(live(m, "onyx", "Gelu"), 0);
    cr_assert_eq(live(m, "", "Erf"), 1);
    onyx_model_free(m);
    /* Without the extra output it is fused, and gives x * Phi(x). */
    builder_graph(b)->n_output = 1;
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-1, 0, 2));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-0.15865525f, 0, 1.9544997f), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(passes, attention_is_fused_in_every_exported_form)
{
    /* Each block exported by PyTorch 2's TorchScript exporter and by its dynamo exporter; the
     * scale is folded in whole (no float Mul is left: both write scaled_dot_product_attention
     * as Q sqrt(s) times sqrt(s) K^T, TorchScript with sqrt(s) computed from the head size). */
    static const struct {
        const char *model;
        int heads_fused; /* Attention nodes expected */
    } cases[] = {
        {"mha_tutorial", 4},             /* per-head modules: causal Where mask, Mul scale */
        {"mha_tutorial_dynamo", 4},
        {"mha_torch", 1},                /* nn.MultiheadAttention: Q and K^T scaled */
        {"mha_torch_dynamo", 1},
        {"mha_torch_padding_mask", 1},   /* ... plus an additive key padding mask */
        {"mha_torch_padding_mask_dynamo", 1},
        {"encoder_postnorm_relu_op14", 1},
        {"encoder_postnorm_relu_dynamo", 1},
        {"encoder_prenorm_gelu_op17", 1},
        {"encoder_prenorm_gelu_dynamo", 1},
        {"gpt2_block", 1},               /* fused QKV split into heads, causal Where */
        {"gpt2_block_dynamo", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!loadable(cases[i].model))
            continue;
        onyx_model *m = load(cases[i].model, true);
        cr_assert_eq(live(m, "onyx", "Attention"), cases[i].heads_fused, "%s", cases[i].model);
        cr_assert_eq(live(m, "", "Softmax"), 0, "%s", cases[i].model);
        cr_assert_eq(live_float(m, "Mul"), 0, "%s: %d", cases[i].model, live_float(m, "Mul"));
        onyx_model_free(m);
        same_results(cases[i].model);
    }
}

/* onyx.Attention nodes of the model built by b once loaded, optimized or not. */
/* Inputs Q [batch, sq, d], K [batch, d, sk] (MatMul's right operand) and V [batch, sk, dv]. */
static void qkv_inputs(builder *b, int64_t batch, int64_t sq, int64_t sk, int64_t d, int64_t dv)
{
    builder_input(b, "Q", ONYX_DTYPE_FLOAT, 3, DIMS(batch, sq, d), NULL);
    builder_input(b, "K", ONYX_DTYPE_FLOAT, 3, DIMS(batch, d, sk), NULL);
    builder_input(b, "V", ONYX_DTYPE_FLOAT, 3, DIMS(batch, sk, dv), NULL);
}

static int attention_nodes(builder *b, bool optimize)
{
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_options *o = optimizing(optimize);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, o, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
    int count = live(m, "onyx", "Attention");
    onyx_model_free(m);
    onyx_options_free(o);
    return count;
}

Test(passes, attention_scales_and_empty_keys_match_the_unfused_graph)
{
    /* softmax(scale(Q K)) V with a divisor that is no power of two (folded into the exp as
     * its reciprocal), a negative factor (not folded: the maximum is taken after scaling), no
     * keys at all (an empty sum: the output is zeros, not 0/0), and no queries. */
    static const struct {
        const char *op;
        float scale;
        int64_t sq, sk;
    } cases[] = {{"Div", 6.9282032f, 37, 40}, {"Mul", -0.37f, 37, 40}, {"Div", 8.0f, 37, 0}, {"Div", 8.0f, 0, 40}};
    enum { BATCH = 3, SQ = 37, D = 48, DV = 20 };
    static float q[BATCH * SQ * D], k[BATCH * D * 40], v[BATCH * 40 * DV];
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        q[i] = (float)((int)(i * 7919 % 61) - 30) / 10.0f;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        k[i] = (float)((int)(i * 104729 % 53) - 26) / 10.0f;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        v[i] = (float)((int)(i * 15485863 % 47) - 23) / 10.0f;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t sq = cases[c].sq, sk = cases[c].sk;
        builder *b = builder_new(17);
        qkv_inputs(b, BATCH, sq, sk, D, DV);
        builder_initializer(b, "s", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(cases[c].scale));
        builder_node(b, "MatMul", "Q,K", "qk");
        builder_node(b, cases[c].op, "qk,s", "scaled");
        builder_attr_int(b, builder_node(b, "Softmax", "scaled", "p"), "axis", -1);
        builder_node(b, "MatMul", "p,V", "Y");
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        onyx_tensor inputs[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, sq, D), q),
                                 tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, D, sk), k),
                                 tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, sk, DV), v)};
        cr_assert_eq(attention_nodes(b, true), 1, "case %zu: the attention pass fires", c);
        cr_assert_eq(attention_nodes(b, false), 0);
        run_result fused = run_model_with(b, (run_settings){0}, 3, inputs);
        run_result plain = run_model_with(b, (run_settings){.plain = true}, 3, inputs);
        cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
        expect_tensor(&fused.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, sq, DV), plain.outputs[0].data, 1e-5);
        run_result_free(&fused);
        run_result_free(&plain);
        builder_free(b);
    }
}

Test(passes, attention_with_q_and_k_scaled_matches_the_unfused_graph)
{
    /* scaled_dot_product_attention as PyTorch 2's exporters write it: softmax((Q f)(g K^T)) V,
     * f and g constants (dynamo: the same one) or Sqrt of one runtime value (TorchScript). Fused
     * into one Attention whose scale is f g (or that value); a K^T factor that is not the
     * matching Sqrt stays a Mul before the fused node. */
    enum { B = 2, SQ = 5, D = 8, SK = 6, DV = 3, FORMS = 4 };
    static float q[B * SQ * D], k[B * D * SK], v[B * SK * DV];
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        q[i] = (float)((int)(i * 7919 % 61) - 30) / 10.0f;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        k[i] = (float)((int)(i * 104729 % 53) - 26) / 10.0f;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        v[i] = (float)((int)(i * 15485863 % 47) - 23) / 10.0f;
    for (int form = 0; form < FORMS; form++) {
        builder *b = builder_new(17);
        qkv_inputs(b, B, SQ, SK, D, DV);
        builder_input(b, "s", ONYX_DTYPE_FLOAT, 0, NULL, NULL);
        builder_initializer(b, "f", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5946036f));
        builder_initializer(b, "g", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(-0.75f));
        if (form == 0) { /* dynamo: one constant on both sides */
            builder_node(b, "Mul", "Q,f", "qs");
            builder_node(b, "Mul", "K,f", "ks");
        } else if (form == 1) { /* two constants, K's factor first */
            builder_node(b, "Mul", "Q,f", "qs");
            builder_node(b, "Mul", "g,K", "ks");
        } else { /* TorchScript: Sqrt of the same runtime value on both sides (form 3: not) */
            builder_node(b, "Sqrt", "s", "r1");
            builder_node(b, "Sqrt", form == 2 ? "s" : "f", "r2");
            builder_node(b, "Mul", "Q,r1", "qs");
            builder_node(b, "Mul", "K,r2", "ks");
        }
        builder_node(b, "MatMul", "qs,ks", "qk");
        builder_attr_int(b, builder_node(b, "Softmax", "qk", "p"), "axis", -1);
        builder_node(b, "MatMul", "p,V", "Y");
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        size_t size;
        const uint8_t *bytes = builder_pack(b, &size);
        onyx_model *m;
        cr_assert_eq(onyx_model_load_buffer(bytes, size, NULL, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
        cr_assert_eq(live(m, "onyx", "Attention"), 1, "form %d", form);
        cr_assert_eq(live(m, "", "Mul"), form == 3 ? 1 : 0, "form %d", form);
        onyx_model_free(m);
        onyx_tensor inputs[4] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, SQ, D), q),
                                 tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, D, SK), k),
                                 tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, SK, DV), v),
                                 tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.125f))};
        run_result fused = run_model_with(b, (run_settings){0}, 4, inputs);
        run_result plain = run_model_with(b, (run_settings){.plain = true}, 4, inputs);
        cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
        expect_tensor(&fused.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(B, SQ, DV), plain.outputs[0].data, 1e-5);
        run_result_free(&fused);
        run_result_free(&plain);
        builder_free(b);
    }
}

Test(passes, onnx_gelu_goes_into_the_matmul_epilogue)
{
    /* MatMul + bias -> Gelu-20 (the dynamo exporter's nn.GELU), both approximations. */
    static const char *const approximate[] = {"none", "tanh"};
    for (int a = 0; a < 2; a++) {
        builder *b = builder_new(20);
        builder_input(b, "A", ONYX_DTYPE_FLOAT, 2, DIMS(3, 4), NULL);
        builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 2, DIMS(4, 2),
                            FLOATS(1, -2, 0.5f, 1, -1, 0.25f, 2, -0.5f));
        builder_initializer(b, "bias", ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0.1f, -0.3f));
        builder_node(b, "MatMul", "A,W", "p");
        builder_node(b, "Add", "p,bias", "q");
        builder_attr_string(b, builder_node(b, "Gelu", "q", "Y"), "approximate", approximate[a]);
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        size_t size;
        const uint8_t *bytes = builder_pack(b, &size);
        onyx_model *m;
        onyx_status st = onyx_model_load_buffer(bytes, size, NULL, &m);
        cr_assert_eq(st, ONYX_OK, "%s", onyx_model_errmsg(m));
        cr_assert_eq(fused_with(m, 2 + a), 1);
        cr_assert_eq(live(m, "", "Gelu"), 0);
        onyx_model_free(m);
        onyx_tensor x =
            tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 4), FLOATS(-3, -1, 0, 1, 2, 0.5f, -0.5f, 4, 1, 1, 1, -2));
        run_result fused = run_model_with(b, (run_settings){0}, 1, &x);
        run_result plain = run_model_with(b, (run_settings){.plain = true}, 1, &x);
        cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
        expect_tensor(&fused.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), plain.outputs[0].data, 1e-5);
        run_result_free(&fused);
        run_result_free(&plain);
        builder_free(b);
    }
}

Test(passes, matmul_bias_activation_and_residual_are_fused)
{
    static const struct {
        const char *model;
        int fused;     /* FusedMatMul nodes expected */
        int adds_left; /* Add nodes left (in the main path) */
    } cases[] = {
        {"ffn_relu", 2, 0},   /* MatMul+bias+Relu, MatMul+bias */
        {"ffn_relu_dynamo", 2, 0},
        {"ffn_gelu", 2, 0},   /* MatMul+bias+Gelu(erf), MatMul+bias */
        {"ffn_gelu_dynamo", 2, 0}, /* ... the Gelu an ONNX Gelu-20 */
        /* QKV +bias; output projection +bias+residual; MLP up +bias+Gelu(tanh); down +bias+residual */
        {"gpt2_block", 4, 0},
        {"gpt2_block_dynamo", 4, 0},
        /* in-projection +bias; FFN up +bias+activation; FFN down +bias+residual (the output
         * projection is a Gemm, its residual an Add) */
        {"encoder_prenorm_gelu_op17", 3, 1},
        {"encoder_prenorm_gelu_dynamo", 3, 1},
        {"encoder_postnorm_relu_op14", 3, 1},
        {"encoder_postnorm_relu_dynamo", 3, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!loadable(cases[i].model))
            continue;
        onyx_model *m = load(cases[i].model, true);
        cr_assert_eq(live(m, "onyx", "FusedMatMul"), cases[i].fused, "%s: %d", cases[i].model,
                     live(m, "onyx", "FusedMatMul"));
        if (cases[i].adds_left >= 0)
            cr_assert_eq(live(m, "", "Add"), cases[i].adds_left, "%s: %d", cases[i].model, live(m, "", "Add"));
        onyx_model_free(m);
        same_results(cases[i].model);
    }
}

Test(passes, fused_residual_that_turns_out_smaller_is_broadcast)
{
    /* Y = A W + b + R with A [M,3], R [N,4] symbolic: fused, yet R arrives as [1,4]. */
    builder *b = builder_new(13);
    builder_input(b, "A", ONYX_DTYPE_FLOAT, 2, DIMS(-1, 3), (const char *const[]){"M", NULL});
    builder_input(b, "R", ONYX_DTYPE_FLOAT, 2, DIMS(-1, 4), (const char *const[]){"N", NULL});
    builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 2, DIMS(3, 4), FLOATS(1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1));
    builder_initializer(b, "bias", ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(10, 20, 30, 40));
    builder_node(b, "MatMul", "A,W", "p");
    builder_node(b, "Add", "p,bias", "q");
    builder_node(b, "Add", "q,R", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, NULL, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
    cr_assert_eq(live(m, "onyx", "FusedMatMul"), 1);
    onyx_model_free(m);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(1, 2, 3, 4, 5, 6)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 4), FLOATS(100, 200, 300, 400))};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    /* A W = [[1,2,3,6],[4,5,6,15]] */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 4),
                  FLOATS(111, 222, 333, 446, 114, 225, 336, 455), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(passes, packed_weights_replace_their_originals)
{
    /* ffn_relu's two weights (64x256 and 256x64 floats, 128 KiB) are packed for the GEMM; the
     * model should then hold about one copy of them, not two. */
    onyx_model *m = load("ffn_relu", true);
    size_t weights = 2 * 64 * 256 * sizeof(float);
    cr_assert(onyx_model_memory_bytes(m) < weights * 3 / 2, "the model holds %zu bytes for %zu of weights",
              onyx_model_memory_bytes(m), weights);
    onyx_model_free(m);
    same_results("ffn_relu");
}

/* ---- Hugging Face architectures (models/hf.py) and the transformer passes ------------------ */

/* Live nodes (domain, op_type) of the model built by b, loaded with the passes on. */
static int live_built(builder *b, const char *domain, const char *op_type)
{
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, NULL, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
    int count = live(m, domain, op_type);
    onyx_model_free(m);
    return count;
}

/* Runs b fused and unfused on the inputs: output 0 agrees within tol and has `count` floats. */
static void built_same_results(builder *b, int n_inputs, const onyx_tensor *inputs, int64_t count, double tol)
{
    run_result fused = run_model_with(b, (run_settings){0}, n_inputs, inputs);
    run_result plain = run_model_with(b, (run_settings){.plain = true}, n_inputs, inputs);
    cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
    cr_assert_eq(onyx_tensor_element_count(&fused.outputs[0]), count);
    cr_assert_eq(onyx_tensor_element_count(&plain.outputs[0]), count);
    expect_tensor(&fused.outputs[0], ONYX_DTYPE_FLOAT, plain.outputs[0].rank, plain.outputs[0].dims,
                  plain.outputs[0].data, tol);
    run_result_free(&fused);
    run_result_free(&plain);
}

/* Deterministic values in about [-2, 2]. */
static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((int)((i * 7919u + seed * 104729u) % 83u) - 41) / 20.0f;
}

Test(passes, attention_leaves_out_keys_masked_for_a_whole_row_block)
{
    /* An added mask as PyTorch's exporters write it (the most negative float): causal, with
     * padding keys at the end of batch entry 1 and every key masked for one row of entry 2
     * (its softmax spreads evenly over all keys, so none may be left out there), and -inf
     * for entry 0's last rows. The fused kernel leaves out the keys masked for a whole block
     * of rows; the unfused graph computes them all. */
    enum { BATCH = 3, SQ = 70, SK = 70, D = 24, DV = 16 };
    static float q[BATCH * SQ * D], k[BATCH * D * SK], v[BATCH * SK * DV], mask[BATCH * SQ * SK];
    fill(q, sizeof q / sizeof q[0], 1);
    fill(k, sizeof k / sizeof k[0], 2);
    fill(v, sizeof v / sizeof v[0], 3);
    for (int b = 0; b < BATCH; b++)
        for (int i = 0; i < SQ; i++)
            for (int j = 0; j < SK; j++) {
                bool masked = j > i || (b == 1 && j >= 50) || (b == 2 && i == 40);
                mask[(b * SQ + i) * SK + j] = !masked ? 0.0f : b == 0 && i >= 60 ? -INFINITY : -FLT_MAX;
            }
    builder *b = builder_new(17);
    qkv_inputs(b, BATCH, SQ, SK, D, DV);
    builder_input(b, "M", ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, SQ, SK), NULL);
    builder_initializer(b, "s", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.2f));
    builder_node(b, "MatMul", "Q,K", "qk");
    builder_node(b, "Mul", "qk,s", "scaled");
    builder_node(b, "Add", "scaled,M", "masked");
    builder_attr_int(b, builder_node(b, "Softmax", "masked", "p"), "axis", -1);
    builder_node(b, "MatMul", "p,V", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_tensor inputs[4] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, SQ, D), q),
                             tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, D, SK), k),
                             tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, SK, DV), v),
                             tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, SQ, SK), mask)};
    cr_assert_eq(attention_nodes(b, true), 1, "the attention pass fires");
    built_same_results(b, 4, inputs, BATCH * SQ * DV, 1e-5);
    builder_free(b);
}

Test(passes, hf_models_fuse_and_match_the_unfused_graph)
{
    /* Each export of models/hf.py: which fused nodes the passes make, and which written-out
     * nodes are gone (both exporters' spellings). */
    static const struct {
        const char *model;
        int attention, rmsnorm, rotary, swiglu, gelu;
    } cases[] = {
        /* BERT, ViT, Whisper: their GELU (erf) goes into FusedMatMul, but Whisper's after a Conv */
        {"hf_bert", 2, 0, 0, 0, 0},         {"hf_bert_dynamo", 2, 0, 0, 0, 0},
        {"hf_gpt2", 2, 0, 0, 0, 2},         {"hf_gpt2_dynamo", 2, 0, 0, 0, 2},
        {"hf_llama", 2, 5, 4, 2, 0},        {"hf_llama_dynamo", 2, 5, 4, 2, 0},
        {"hf_whisper", 6, 0, 0, 0, 2},      {"hf_whisper_dynamo", 6, 0, 0, 0, 2},
        {"hf_vit", 2, 0, 0, 0, 0},          {"hf_vit_dynamo", 2, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!loadable(cases[i].model))
            continue;
        onyx_model *m = load(cases[i].model, true);
        const char *name = cases[i].model;
        cr_assert_eq(live(m, "onyx", "Attention"), cases[i].attention, "%s", name);
        cr_assert_eq(live(m, "", "Softmax"), 0, "%s", name);
        cr_assert_eq(live(m, "", "RMSNormalization"), cases[i].rmsnorm, "%s", name);
        cr_assert_eq(live(m, "onyx", "RotaryEmbedding"), cases[i].rotary, "%s", name);
        cr_assert_eq(live(m, "", "SwiGLU"), cases[i].swiglu, "%s", name);
        /* GELUs not taken into a MatMul's epilogue (Whisper's follow a Conv) */
        cr_assert_eq(live(m, "onyx", "Gelu") + live(m, "", "Gelu"), cases[i].gelu, "%s", name);
        int written_out = live_float(m, "Sigmoid") + live_float(m, "Neg") + live_float(m, "Tanh") +
                          live_float(m, "Pow") + live_float(m, "Sqrt") + live_float(m, "IsNaN");
        cr_assert_eq(written_out, 0, "%s", name);
        if (!strncmp(name, "hf_whisper", 10)) /* q_proj(x) * scaling: into the attention's scale */
            cr_assert_eq(live_float(m, "Mul"), 0, "%s", name);
        if (cases[i].rmsnorm) {
            /* grouped-query attention: the repeat_kv Expand of K and V is gone */
            cr_assert_eq(live_float(m, "Expand"), 0, "%s", name);
        }
        onyx_model_free(m);
        same_results(name);
    }
}

Test(passes, rmsnorm_in_both_spellings_matches_the_unfused_graph)
{
    /* weight * (x * 1/sqrt(mean(x^2) + eps)): TorchScript's Div(1, Sqrt) with the axes an
     * attribute and a Cast to float (opset 17), dynamo's Reciprocal with the axes an input
     * (opset 18); and one whose mean is over another axis, left alone. */
    enum { B = 3, S = 5, D = 24 };
    static float x[B * S * D], w[D];
    fill(x, B * S * D, 1);
    fill(w, D, 2);
    for (int form = 0; form < 3; form++) {
        builder *b = builder_new(form == 0 ? 17 : 18);
        builder_input(b, "X", ONYX_DTYPE_FLOAT, 3, DIMS(B, S, D), NULL);
        builder_initializer(b, "w", ONYX_DTYPE_FLOAT, 1, DIMS(D), w);
        builder_initializer(b, "two", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(2));
        builder_initializer(b, "one", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1));
        builder_initializer(b, "eps", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1e-6f));
        builder_initializer(b, "axes", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(form == 2 ? 1 : -1));
        if (form == 0) {
            builder_attr_int(b, builder_node(b, "Cast", "X", "x"), "to", ONYX_DTYPE_FLOAT);
            builder_node(b, "Pow", "x,two", "x2");
            Onnx__NodeProto *mean = builder_node(b, "ReduceMean", "x2", "ms");
            builder_attr_ints(b, mean, "axes", 1, INT64S(-1));
        } else {
            builder_node(b, "Identity", "X", "x");
            builder_node(b, "Pow", "x,two", "x2");
            builder_node(b, "ReduceMean", "x2,axes", "ms");
        }
        builder_node(b, "Add", "ms,eps", "mse");
        builder_node(b, "Sqrt", "mse", "r");
        builder_node(b, form == 0 ? "Div" : "Reciprocal", form == 0 ? "one,r" : "r", "inv");
        builder_node(b, "Mul", "x,inv", "n");
        builder_node(b, "Mul", "w,n", "Y");
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        cr_assert_eq(live_built(b, "", "RMSNormalization"), form < 2, "form %d", form);
        onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, S, D), x);
        built_same_results(b, 1, &in, B * S * D, 1e-5);
        builder_free(b);
    }
}

Test(passes, rotary_embedding_written_out_matches_the_unfused_graph)
{
    /* x cos + cat(-x2, x1) sin, x [B, H, S, D]; tables [1 or B, 1, S, D] whose halves differ
     * (the kernel takes each half's own), the Slice ends as constants or INT64_MAX; a Slice at
     * another point than the half is left alone. */
    enum { B = 2, H = 3, S = 5, D = 8 };
    static float x[B * H * S * D], cos_t[B * S * D], sin_t[B * S * D];
    fill(x, sizeof x / sizeof x[0], 3);
    fill(cos_t, sizeof cos_t / sizeof cos_t[0], 4);
    fill(sin_t, sizeof sin_t / sizeof sin_t[0], 5);
    for (int form = 0; form < 3; form++) {
        int64_t tb = form == 1 ? B : 1, half = form == 2 ? 3 : D / 2;
        builder *b = builder_new(17);
        builder_input(b, "X", ONYX_DTYPE_FLOAT, 4, DIMS(B, H, S, D), NULL);
        builder_initializer(b, "cos", ONYX_DTYPE_FLOAT, 4, DIMS(tb, 1, S, D), cos_t);
        builder_initializer(b, "sin", ONYX_DTYPE_FLOAT, 4, DIMS(tb, 1, S, D), sin_t);
        builder_initializer(b, "zero", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0));
        builder_initializer(b, "half", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(half));
        builder_initializer(b, "end", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(INT64_MAX));
        builder_initializer(b, "axis", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(form == 1 ? 3 : -1));
        builder_initializer(b, "step", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(1));
        builder_node(b, "Mul", "X,cos", "xc");
        builder_node(b, "Slice", "X,zero,half,axis,step", "x1");
        builder_node(b, "Slice", "X,half,end,axis,step", "x2");
        builder_node(b, "Neg", "x2", "nx2");
        builder_attr_int(b, builder_node(b, "Concat", "nx2,x1", "rot"), "axis", -1);
        builder_node(b, "Mul", form == 1 ? "sin,rot" : "rot,sin", "rs");
        builder_node(b, "Add", form == 1 ? "rs,xc" : "xc,rs", "Y");
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        cr_assert_eq(live_built(b, "onyx", "RotaryEmbedding"), form < 2, "form %d", form);
        onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, H, S, D), x);
        built_same_results(b, 1, &in, B * H * S * D, 1e-6);
        builder_free(b);
    }
}

Test(passes, swiglu_and_gelu_with_pow_match_the_unfused_graph)
{
    enum { N = 2, S = 7, F = 40 };
    static float g[N * S * F], u[N * S * F];
    fill(g, N * S * F, 6);
    fill(u, N * S * F, 7);
    g[0] = 30, g[1] = -30, g[2] = 90, g[3] = -90; /* the exp's clamps */
    builder *b = builder_new(17);
    builder_input(b, "G", ONYX_DTYPE_FLOAT, 3, DIMS(N, S, F), NULL);
    builder_input(b, "U", ONYX_DTYPE_FLOAT, 3, DIMS(N, S, F), NULL);
    builder_node(b, "Sigmoid", "G", "sg");
    builder_node(b, "Mul", "G,sg", "silu");
    builder_node(b, "Mul", "silu,U", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    cr_assert_eq(live_built(b, "", "SwiGLU"), 1);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(N, S, F), g),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(N, S, F), u)};
    built_same_results(b, 2, in, N * S * F, 1e-6);
    builder_free(b);

    b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 3, DIMS(N, S, F), NULL);
    builder_initializer(b, "half", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5f));
    builder_initializer(b, "three", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(3));
    builder_initializer(b, "c3", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.044715f));
    builder_initializer(b, "c1", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.7978845608f));
    builder_initializer(b, "one", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1));
    builder_node(b, "Mul", "X,half", "hx");
    builder_node(b, "Pow", "X,three", "x3");
    builder_node(b, "Mul", "x3,c3", "cx3");
    builder_node(b, "Add", "X,cx3", "in");
    builder_node(b, "Mul", "in,c1", "arg");
    builder_node(b, "Tanh", "arg", "t");
    builder_node(b, "Add", "t,one", "t1");
    builder_node(b, "Mul", "hx,t1", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    cr_assert_eq(live_built(b, "onyx", "Gelu"), 1);
    built_same_results(b, 1, in, N * S * F, 1e-5);
    builder_free(b);
}

/* Grouped-query attention as LLaMA's eager attention writes it: K and V each Concat(past, new)
 * then repeat_kv (Unsqueeze, Expand, Reshape), K^T by Transpose, a scale, an additive mask
 * [B, 1, Sq, Sk], Softmax, MatMul. */
static builder *gqa_attention(int64_t sq, int64_t past, int64_t sk_new, bool nan_rows)
{
    enum { B = 2, HQ = 4, HKV = 2, D = 8 };
    int64_t sk = past + sk_new;
    builder *b = builder_new(17);
    builder_input(b, "Q", ONYX_DTYPE_FLOAT, 4, DIMS(B, HQ, sq, D), NULL);
    builder_input(b, "PK", ONYX_DTYPE_FLOAT, 4, DIMS(B, HKV, past, D), NULL);
    builder_input(b, "NK", ONYX_DTYPE_FLOAT, 4, DIMS(B, HKV, sk_new, D), NULL);
    builder_input(b, "PV", ONYX_DTYPE_FLOAT, 4, DIMS(B, HKV, past, D), NULL);
    builder_input(b, "NV", ONYX_DTYPE_FLOAT, 4, DIMS(B, HKV, sk_new, D), NULL);
    builder_input(b, "M", ONYX_DTYPE_FLOAT, 4, DIMS(B, 1, sq, sk), NULL);
    builder_initializer(b, "axes", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(2));
    builder_initializer(b, "shape5", ONYX_DTYPE_INT64, 1, DIMS(5), INT64S(B, HKV, HQ / HKV, sk, D));
    builder_initializer(b, "shape4", ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(B, HQ, sk, D));
    builder_initializer(b, "s", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.35355339f));
    builder_initializer(b, "zero", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0));
    builder_attr_int(b, builder_node(b, "Concat", "PK,NK", "K"), "axis", 2);
    builder_attr_int(b, builder_node(b, "Concat", "PV,NV", "V"), "axis", 2);
    builder_node(b, "Unsqueeze", "K,axes", "ku");
    builder_node(b, "Expand", "ku,shape5", "ke");
    builder_node(b, "Reshape", "ke,shape4", "kr");
    builder_node(b, "Unsqueeze", "V,axes", "vu");
    builder_node(b, "Expand", "vu,shape5", "ve");
    builder_node(b, "Reshape", "ve,shape4", "vr");
    builder_attr_ints(b, builder_node(b, "Transpose", "kr", "kt"), "perm", 4, INT64S(0, 1, 3, 2));
    builder_node(b, "MatMul", "Q,kt", "qk");
    builder_node(b, "Mul", "qk,s", "scaled");
    builder_node(b, "Add", "scaled,M", "masked");
    builder_attr_int(b, builder_node(b, "Softmax", "masked", nan_rows ? "p0" : "p"), "axis", -1);
    if (nan_rows) {
        builder_node(b, "IsNaN", "p0", "nan");
        builder_node(b, "Where", "nan,zero,p0", "p");
    }
    builder_node(b, "MatMul", "p,vr", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

Test(passes, grouped_query_attention_shares_kv_heads_and_matches_the_unfused_graph)
{
    /* Prefill (Sq = Sk, a causal mask), a longer prompt after a cache (Sq 16: the keys gathered
     * once per key/value head), and decoding (Sq 1 after a past of 6); the last with a row
     * masked throughout by -inf and Where(IsNaN) after the softmax (zeros, not NaN). */
    enum { B = 2, HQ = 4, HKV = 2, D = 8 };
    static const struct {
        int64_t sq, past, sk_new;
        bool nan_rows;
    } cases[] = {{7, 0, 7, false}, {16, 3, 16, false}, {1, 6, 1, false}, {5, 2, 5, true}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t sq = cases[c].sq, past = cases[c].past, sk_new = cases[c].sk_new, sk = past + sk_new;
        static float q[B * HQ * 16 * D], pk[B * HKV * 8 * D], nk[B * HKV * 16 * D], pv[B * HKV * 8 * D],
            nv[B * HKV * 16 * D], mask[B * 16 * 32];
        fill(q, sizeof q / sizeof q[0], 11);
        fill(pk, sizeof pk / sizeof pk[0], 12);
        fill(nk, sizeof nk / sizeof nk[0], 13);
        fill(pv, sizeof pv / sizeof pv[0], 14);
        fill(nv, sizeof nv / sizeof nv[0], 15);
        for (int64_t bi = 0; bi < B; bi++)
            for (int64_t i = 0; i < sq; i++)
                for (int64_t j = 0; j < sk; j++) /* causal after the past, padding key 0 of batch 1 */
                    mask[(bi * sq + i) * sk + j] = j > past + i || (bi == 1 && j == 0) ? -INFINITY : 0.0f;
        if (cases[c].nan_rows)
            for (int64_t j = 0; j < sk; j++)
                mask[(1 * sq + 2) * sk + j] = -INFINITY;
        builder *b = gqa_attention(sq, past, sk_new, cases[c].nan_rows);
        cr_assert_eq(live_built(b, "onyx", "Attention"), 1, "case %zu", c);
        int left = live_built(b, "", "Expand") + live_built(b, "", "Transpose") + live_built(b, "", "IsNaN");
        cr_assert_eq(left, 0, "case %zu", c);
        onyx_tensor in[6] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, HQ, sq, D), q),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, HKV, past, D), pk),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, HKV, sk_new, D), nk),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, HKV, past, D), pv),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, HKV, sk_new, D), nv),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, 1, sq, sk), mask)};
        if (!cases[c].nan_rows) {
            built_same_results(b, 6, in, B * HQ * sq * D, 1e-5);
        } else {
            /* The unfused graph's row is zeros; so is the fused one's. */
            run_result fused = run_model_with(b, (run_settings){0}, 6, in);
            run_result plain = run_model_with(b, (run_settings){.plain = true}, 6, in);
            cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
            expect_tensor(&fused.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(B, HQ, sq, D), plain.outputs[0].data,
                          1e-5);
            const float *y = fused.outputs[0].data;
            for (int64_t h = 0; h < HQ; h++)
                for (int64_t e = 0; e < D; e++)
                    cr_assert_eq(y[((1 * HQ + h) * sq + 2) * D + e], 0.0f);
            run_result_free(&fused);
            run_result_free(&plain);
        }
        builder_free(b);
    }
}

Test(passes, a_factor_of_q_before_its_heads_are_split_joins_the_scale)
{
    /* softmax(T(R(x c)) K) V: c joins the attention's scale and the Reshape reads x; not when
     * the split Q is also an output (its values would change). */
    enum { B = 2, S = 6, H = 2, D = 4 };
    static float x[B * S * H * D], k[B * H * D * S], v[B * H * S * D];
    fill(x, sizeof x / sizeof x[0], 21);
    fill(k, sizeof k / sizeof k[0], 22);
    fill(v, sizeof v / sizeof v[0], 23);
    for (int exposed = 0; exposed < 2; exposed++) {
        builder *b = builder_new(17);
        builder_input(b, "X", ONYX_DTYPE_FLOAT, 3, DIMS(B, S, H * D), NULL);
        builder_input(b, "K", ONYX_DTYPE_FLOAT, 4, DIMS(B, H, D, S), NULL);
        builder_input(b, "V", ONYX_DTYPE_FLOAT, 4, DIMS(B, H, S, D), NULL);
        builder_initializer(b, "c", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5f));
        builder_initializer(b, "s", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.7f));
        builder_initializer(b, "heads", ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(B, S, H, D));
        builder_node(b, "Mul", "X,c", "xc");
        builder_node(b, "Reshape", "xc,heads", "q4");
        builder_attr_ints(b, builder_node(b, "Transpose", "q4", "q"), "perm", 4, INT64S(0, 2, 1, 3));
        builder_node(b, "MatMul", "q,K", "qk");
        builder_node(b, "Mul", "qk,s", "scaled");
        builder_attr_int(b, builder_node(b, "Softmax", "scaled", "p"), "axis", -1);
        builder_node(b, "MatMul", "p,V", "Y");
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        if (exposed)
            builder_output(b, "q4", ONYX_DTYPE_FLOAT);
        cr_assert_eq(live_built(b, "onyx", "Attention"), 1);
        cr_assert_eq(live_built(b, "", "Mul"), exposed);
        onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, S, H * D), x),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, H, D, S), k),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, H, S, D), v)};
        run_result fused = run_model_with(b, (run_settings){0}, 3, in);
        run_result plain = run_model_with(b, (run_settings){.plain = true}, 3, in);
        cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
        for (int o = 0; o <= exposed; o++)
            expect_tensor(&fused.outputs[o], ONYX_DTYPE_FLOAT, plain.outputs[o].rank, plain.outputs[o].dims,
                          plain.outputs[o].data, 1e-5);
        run_result_free(&fused);
        run_result_free(&plain);
        builder_free(b);
    }
}

Test(passes, a_boolean_mask_turned_into_an_added_fill_becomes_the_condition)
{
    /* scores + Where(c, 0, -inf) (BERT's padding mask, TorchScript) and + Where(c, -inf, 0)
     * (GPT-2's causal one): c and the fill go into the fused node, rows masked throughout
     * included (NaN both ways); a fill of -1 (not absorbing) stays an added mask. */
    enum { B = 2, S = 5, D = 4 };
    static float q[B * S * D], k[B * D * S], v[B * S * D];
    static uint8_t c[B * S * S];
    fill(q, sizeof q / sizeof q[0], 31);
    fill(k, sizeof k / sizeof k[0], 32);
    fill(v, sizeof v / sizeof v[0], 33);
    for (int i = 0; i < B * S * S; i++)
        c[i] = (i % S) <= (i / S % S) && !(i >= S * S && i < S * S + S); /* batch 1, row 0: none */
    static const float fills[3] = {-INFINITY, -INFINITY, -1.0f};
    for (int form = 0; form < 3; form++) {
        builder *b = builder_new(17);
        qkv_inputs(b, B, S, S, D, D);
        builder_input(b, "C", ONYX_DTYPE_BOOL, 3, DIMS(B, S, S), NULL);
        builder_initializer(b, "zero", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0));
        builder_initializer(b, "f", ONYX_DTYPE_FLOAT, 0, NULL, &fills[form]);
        builder_node(b, "Where", form == 1 ? "C,f,zero" : "C,zero,f", "m");
        builder_node(b, "MatMul", "Q,K", "qk");
        builder_node(b, "Add", "qk,m", "masked");
        builder_attr_int(b, builder_node(b, "Softmax", "masked", "p"), "axis", -1);
        builder_node(b, "MatMul", "p,V", "Y");
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        cr_assert_eq(live_built(b, "onyx", "Attention"), 1, "form %d", form);
        cr_assert_eq(live_built(b, "", "Where"), form == 2, "form %d", form);
        onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, S, D), q),
                             tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, D, S), k),
                             tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, S, D), v),
                             tensor_of(ONYX_DTYPE_BOOL, 3, DIMS(B, S, S), c)};
        run_result fused = run_model_with(b, (run_settings){0}, 4, in);
        run_result plain = run_model_with(b, (run_settings){.plain = true}, 4, in);
        cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
        const float *got = fused.outputs[0].data, *want = plain.outputs[0].data;
        for (int i = 0; i < B * S * D; i++) { /* NaN where the unfused graph gives NaN */
            bool same = isnan(want[i]) ? isnan(got[i]) : fabsf(got[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i]));
            cr_assert(same, "form %d, element %d: %g, not %g", form, i, got[i], want[i]);
        }
        run_result_free(&fused);
        run_result_free(&plain);
        builder_free(b);
    }
}

Test(passes, heads_split_before_a_transpose_are_read_and_written_where_they_lie)
{
    /* Q, K and V split into heads as [B, S, H, D] and transposed to [B, H, S, D] (K^T at once,
     * [0, 2, 3, 1], or as K then its last two dims), Y transposed back: the Transposes go into
     * the fused node, with and without shared key/value heads (HKV 1 or 2 of 4, repeated after
     * the transposes as LLaMA does), at one and two threads, for one and many query rows. */
    enum { B = 2, HQ = 4, D = 8 };
    static float q[B * 40 * HQ * D], k[B * 40 * HQ * D], v[B * 40 * HQ * D];
    fill(q, sizeof q / sizeof q[0], 41);
    fill(k, sizeof k / sizeof k[0], 42);
    fill(v, sizeof v / sizeof v[0], 43);
    static const struct {
        int64_t sq, sk, hkv;
        bool kt_at_once;
    } cases[] = {{40, 40, 4, true}, {7, 9, 4, false}, {40, 40, 2, false}, {1, 9, 1, false}, {5, 5, 2, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t sq = cases[c].sq, sk = cases[c].sk, hkv = cases[c].hkv;
        builder *b = builder_new(17);
        builder_input(b, "Q", ONYX_DTYPE_FLOAT, 4, DIMS(B, sq, HQ, D), NULL);
        builder_input(b, "K", ONYX_DTYPE_FLOAT, 4, DIMS(B, sk, hkv, D), NULL);
        builder_input(b, "V", ONYX_DTYPE_FLOAT, 4, DIMS(B, sk, hkv, D), NULL);
        builder_initializer(b, "s", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.35f));
        builder_initializer(b, "axes", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(2));
        builder_initializer(b, "shape5", ONYX_DTYPE_INT64, 1, DIMS(5), INT64S(B, hkv, HQ / hkv, sk, D));
        builder_initializer(b, "shape4", ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(B, HQ, sk, D));
        builder_attr_ints(b, builder_node(b, "Transpose", "Q", "qh"), "perm", 4, INT64S(0, 2, 1, 3));
        builder_attr_ints(b, builder_node(b, "Transpose", "V", "vh"), "perm", 4, INT64S(0, 2, 1, 3));
        const char *vv = "vh";
        if (cases[c].kt_at_once) {
            builder_attr_ints(b, builder_node(b, "Transpose", "K", "kt"), "perm", 4, INT64S(0, 2, 3, 1));
        } else {
            builder_attr_ints(b, builder_node(b, "Transpose", "K", "kh"), "perm", 4, INT64S(0, 2, 1, 3));
            const char *kk = "kh";
            if (hkv != HQ) { /* repeat_kv after the transposes, as LLaMA */
                builder_node(b, "Unsqueeze", "kh,axes", "ku");
                builder_node(b, "Expand", "ku,shape5", "ke");
                builder_node(b, "Reshape", "ke,shape4", "kr");
                builder_node(b, "Unsqueeze", "vh,axes", "vu");
                builder_node(b, "Expand", "vu,shape5", "ve");
                builder_node(b, "Reshape", "ve,shape4", "vr");
                kk = "kr", vv = "vr";
            }
            builder_attr_ints(b, builder_node(b, "Transpose", kk, "kt"), "perm", 4, INT64S(0, 1, 3, 2));
        }
        builder_node(b, "MatMul", "qh,kt", "qk");
        builder_node(b, "Mul", "qk,s", "scaled");
        builder_attr_int(b, builder_node(b, "Softmax", "scaled", "p"), "axis", -1);
        char pv[16];
        snprintf(pv, sizeof pv, "p,%s", vv);
        builder_node(b, "MatMul", pv, "yh");
        builder_attr_ints(b, builder_node(b, "Transpose", "yh", "Y"), "perm", 4, INT64S(0, 2, 1, 3));
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        cr_assert_eq(live_built(b, "onyx", "Attention"), 1, "case %zu", c);
        int left = live_built(b, "", "Transpose") + live_built(b, "", "Expand");
        cr_assert_eq(left, 0, "case %zu: %d left", c, left);
        onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, sq, HQ, D), q),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, sk, hkv, D), k),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(B, sk, hkv, D), v)};
        for (int threads = 1; threads <= 2; threads++) {
            run_result fused = run_model_with(b, (run_settings){.threads = threads}, 3, in);
            run_result plain = run_model_with(b, (run_settings){.plain = true}, 3, in);
            cr_assert(fused.run == ONYX_OK && plain.run == ONYX_OK, "%s%s", fused.message, plain.message);
            expect_tensor(&fused.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(B, sq, HQ, D), plain.outputs[0].data,
                          1e-5);
            run_result_free(&fused);
            run_result_free(&plain);
        }
        builder_free(b);
    }
}
