/* Each fusion pass fires on the PyTorch exports it is written for, and the fused graph gives
 * the unfused graph's outputs within 1e-5. */
#include "harness.h"
#include "ir.h"

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
        builder_input(b, "Q", ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, sq, D), NULL);
        builder_input(b, "K", ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, D, sk), NULL);
        builder_input(b, "V", ONYX_DTYPE_FLOAT, 3, DIMS(BATCH, sk, DV), NULL);
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
        builder_input(b, "Q", ONYX_DTYPE_FLOAT, 3, DIMS(B, SQ, D), NULL);
        builder_input(b, "K", ONYX_DTYPE_FLOAT, 3, DIMS(B, D, SK), NULL);
        builder_input(b, "V", ONYX_DTYPE_FLOAT, 3, DIMS(B, SK, DV), NULL);
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
