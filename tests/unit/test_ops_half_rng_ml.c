/* Beyond the ONNX test suite: float16 and bfloat16 through the elementwise families (pieces
 * longer than one conversion block, broadcast steps, rounding to nearest even, rounding after
 * each input of Sum) and Conv; the random generators' draws (numpy's published first values
 * for seed 0) and refusals; the optimizers' and ai.onnx.ml operators' error paths. Expected
 * values are worked out by hand (the arithmetic is in the comments) or published, never taken
 * from onyx's own output. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

#define U16S(...) ((const uint16_t[]){__VA_ARGS__})
#define DOUBLES(...) ((const double[]){__VA_ARGS__})

/* The float16 bits of v, which must be a normal float16 value or 0 (exact, no rounding). */
static uint16_t half_exact(double v)
{
    if (v == 0)
        return 0;
    int e;
    double m = frexp(fabs(v), &e); /* v = m 2^e, m in [0.5, 1) */
    uint16_t mant = (uint16_t)((m * 2 - 1) * 1024);
    cr_assert_eq((double)((m * 2 - 1) * 1024), (double)mant, "%g is not a float16", v);
    cr_assert(e - 1 >= -14 && e - 1 <= 15, "%g is not a normal float16", v);
    return (uint16_t)((v < 0 ? 0x8000 : 0) | ((e - 1 + 15) << 10) | mant);
}

/* Runs b on its inputs and asserts that output 0 has dtype `dtype` and, as raw 16-bit words,
 * `bits`; frees b. */
static void expect_bits(builder *b, int n_inputs, const onyx_tensor *inputs, onyx_dtype dtype, int rank,
                        const int64_t *dims, const uint16_t *bits)
{
    run_result r = run_model(b, n_inputs, inputs);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.outputs[0].dtype, dtype, "dtype %s", onyx_dtype_name(r.outputs[0].dtype));
    onyx_tensor words = r.outputs[0];
    words.dtype = ONYX_DTYPE_UINT16;
    expect_tensor(&words, ONYX_DTYPE_UINT16, rank, dims, bits, 0);
    run_result_free(&r);
    builder_free(b);
}

/* Moves the node of a builder_single_node model, and the opset it imports, into `domain`
 * (ai.onnx.ml, ai.onnx.preview.training); returns b. */
static builder *in_domain(builder *b, const char *domain)
{
    builder_model(b)->opset_import[0]->domain = (char *)domain;
    builder_first_node(b)->domain = (char *)domain;
    return b;
}

static void expect_failure(builder *b, int n_inputs, const onyx_tensor *inputs, bool at_load,
                           onyx_status status, const char *what)
{
    run_result r = run_model(b, n_inputs, inputs);
    if (!at_load)
        cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(at_load ? r.load : r.run, status, "status %d: %s", at_load ? r.load : r.run, r.message);
    expect_message(r.message, what, NULL);
    run_result_free(&r);
    builder_free(b);
}

/* ---- float16 and bfloat16 ---------------------------------------------------------------- */

Test(half, add_over_long_rows_with_each_broadcast_step)
{
    /* A [3, 700] + B [3, 1]: rows of 700 (several conversion blocks) against one repeated
     * value; and A + C [700]: both advancing. Every value and sum is a float16 exactly. */
    enum { ROWS = 3, COLS = 700 };
    static uint16_t a[ROWS * COLS], c[COLS], want_b[ROWS * COLS], want_c[ROWS * COLS];
    uint16_t bias[ROWS];
    for (int r = 0; r < ROWS; r++) {
        bias[r] = half_exact(r * 4 - 4);
        for (int i = 0; i < COLS; i++) {
            double av = (i % 64) * 0.5 - 16 + r;
            a[r * COLS + i] = half_exact(av);
            want_b[r * COLS + i] = half_exact(av + (r * 4 - 4));
            want_c[r * COLS + i] = half_exact(av + (i % 8) * 0.25);
        }
    }
    for (int i = 0; i < COLS; i++)
        c[i] = half_exact((i % 8) * 0.25);
    onyx_tensor in_b[2] = {tensor_of(ONYX_DTYPE_FLOAT16, 2, DIMS(ROWS, COLS), a),
                           tensor_of(ONYX_DTYPE_FLOAT16, 2, DIMS(ROWS, 1), bias)};
    expect_bits(builder_single_node(14, "Add", "A,B", in_b, 0, "Y"), 2, in_b, ONYX_DTYPE_FLOAT16, 2,
                DIMS(ROWS, COLS), want_b);
    onyx_tensor in_c[2] = {tensor_of(ONYX_DTYPE_FLOAT16, 2, DIMS(ROWS, COLS), a),
                           tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(COLS), c)};
    expect_bits(builder_single_node(14, "Add", "A,B", in_c, 0, "Y"), 2, in_c, ONYX_DTYPE_FLOAT16, 2,
                DIMS(ROWS, COLS), want_c);
}

Test(half, division_rounds_to_nearest)
{
    /* 1 / 3: float16 0x3555 (0.333251953125); bfloat16 0x3eab (float 0x3eaaaaab, whose low
     * half 0xaaab is above the midpoint, rounds up). */
    onyx_tensor h[2] = {tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(1), U16S(0x3c00)),
                        tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(1), U16S(0x4200))};
    expect_bits(builder_single_node(14, "Div", "A,B", h, 0, "Y"), 2, h, ONYX_DTYPE_FLOAT16, 1, DIMS(1),
                U16S(0x3555));
    onyx_tensor bf[2] = {tensor_of(ONYX_DTYPE_BFLOAT16, 1, DIMS(1), U16S(0x3f80)),
                         tensor_of(ONYX_DTYPE_BFLOAT16, 1, DIMS(1), U16S(0x4040))};
    expect_bits(builder_single_node(14, "Div", "A,B", bf, 0, "Y"), 2, bf, ONYX_DTYPE_BFLOAT16, 1, DIMS(1),
                U16S(0x3eab));
}

Test(half, bfloat16_ties_round_to_even)
{
    /* 1 + 2^-8 lies midway between bfloat16 1 (0x3f80) and 1 + 2^-7 (0x3f81): even is 0x3f80.
     * (1 + 2^-7) + 2^-8 lies midway between 0x3f81 and 0x3f82: even is 0x3f82 (truncation
     * would keep 0x3f81). */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_BFLOAT16, 1, DIMS(2), U16S(0x3f80, 0x3f81)),
                         tensor_of(ONYX_DTYPE_BFLOAT16, 1, DIMS(2), U16S(0x3b80, 0x3b80))};
    expect_bits(builder_single_node(14, "Add", "A,B", in, 0, "Y"), 2, in, ONYX_DTYPE_BFLOAT16, 1, DIMS(2),
                U16S(0x3f80, 0x3f82));
}

Test(half, sum_rounds_after_each_input)
{
    /* In float16 2048 + 1 = 2049 is a tie between 2048 and 2050 (spacing 2): even 2048; + 1
     * again: 2048 (0x6800), as numpy adds float16 arrays one by one. Rounding once at the end
     * would give 2050. Mean divides that 2048 by 3: 682.67 rounds to 682.5 (0x6155). */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(1), U16S(0x6800)),
                         tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(1), U16S(0x3c00)),
                         tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(1), U16S(0x3c00))};
    expect_bits(builder_single_node(13, "Sum", "A,B,C", in, 0, "Y"), 3, in, ONYX_DTYPE_FLOAT16, 1, DIMS(1),
                U16S(0x6800));
    expect_bits(builder_single_node(13, "Mean", "A,B,C", in, 0, "Y"), 3, in, ONYX_DTYPE_FLOAT16, 1, DIMS(1),
                U16S(0x6155));
}

Test(half, isinf_and_isnan_over_many_elements)
{
    /* 600 float16 values: +inf at 3, -inf at 300, NaN at 599, the rest 1.5. */
    enum { N = 600 };
    static uint16_t x[N];
    static uint8_t inf[N], nan_[N];
    for (int i = 0; i < N; i++)
        x[i] = 0x3e00;
    x[3] = 0x7c00, x[300] = 0xfc00, x[599] = 0x7e00;
    inf[3] = inf[300] = 1;
    nan_[599] = 1;
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(N), x);
    builder *b = builder_single_node(20, "IsInf", "X", &in, 0, "Y");
    run_result r = run_model(b, 1, &in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_BOOL, 1, DIMS(N), inf, 0);
    run_result_free(&r);
    builder_free(b);
    b = builder_single_node(20, "IsNaN", "X", &in, 0, "Y");
    r = run_model(b, 1, &in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_BOOL, 1, DIMS(N), nan_, 0);
    run_result_free(&r);
    builder_free(b);
}

Test(half, conv_with_bias_in_float16)
{
    /* X [1, 1, 5] = 1..5, W [2, 1, 3] = (1, 0, -1) and (0.5, 0.5, 0.5), B = (0.25, -1):
     * map 0: x[i] - x[i+2] + 0.25 = -1.75 each; map 1: (x[i] + x[i+1] + x[i+2]) / 2 - 1 =
     * 2, 3.5, 5. */
    onyx_tensor in[3] = {
        tensor_of(ONYX_DTYPE_FLOAT16, 3, DIMS(1, 1, 5),
                  U16S(half_exact(1), half_exact(2), half_exact(3), half_exact(4), half_exact(5))),
        tensor_of(ONYX_DTYPE_FLOAT16, 3, DIMS(2, 1, 3),
                  U16S(half_exact(1), 0, half_exact(-1), half_exact(0.5), half_exact(0.5), half_exact(0.5))),
        tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(2), U16S(half_exact(0.25), half_exact(-1)))};
    expect_bits(builder_single_node(22, "Conv", "X,W,B", in, 0, "Y"), 3, in, ONYX_DTYPE_FLOAT16, 3,
                DIMS(1, 2, 3),
                U16S(half_exact(-1.75), half_exact(-1.75), half_exact(-1.75), half_exact(2), half_exact(3.5),
                     half_exact(5)));
}

/* ---- random generators ------------------------------------------------------------------- */

Test(random, seeded_uniform_and_normal_draw_what_numpy_draws)
{
    /* np.random.RandomState(0).rand(3) = 0.5488135, 0.71518937, 0.60276338; scaled to
     * [-1, 3): 4 u - 1 = 1.195254, 1.8607575, 1.4110535 (float32 arithmetic). */
    builder *b = builder_single_node(22, "RandomUniform", "", NULL, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "shape", 1, DIMS(3));
    builder_attr_float(b, builder_first_node(b), "seed", 0);
    builder_attr_float(b, builder_first_node(b), "low", -1);
    builder_attr_float(b, builder_first_node(b), "high", 3);
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1.195254f, 1.8607575f, 1.4110535f),
                  1e-6);
    run_result_free(&r);
    builder_free(b);
    /* np.random.RandomState(0).randn(3) = 1.76405235, 0.40015721, 0.97873798. */
    b = builder_single_node(22, "RandomNormal", "", NULL, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "shape", 1, DIMS(3));
    builder_attr_float(b, builder_first_node(b), "seed", 0);
    builder_attr_int(b, builder_first_node(b), "dtype", ONYX_DTYPE_DOUBLE);
    r = run_model(b, 0, NULL);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 1, DIMS(3), DOUBLES(1.76405235, 0.40015721, 0.97873798),
                  1e-8);
    run_result_free(&r);
    builder_free(b);
}

Test(random, bernoulli_draws_once_per_element_as_numpy)
{
    /* numpy's binomial(1, p) takes one uniform per element, p = 0 and 1 included, and for
     * p = 0.5 gives 1 when u > 0.5. Seed 0's draws 0.549, 0.715, 0.603, 0.545, 0.424 against
     * p = 0.5, 0, 0.5, 1, 0.5: 1, 0, 1, 1, 0. */
    onyx_tensor p = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(0.5f, 0, 0.5f, 1, 0.5f));
    builder *b = builder_single_node(22, "Bernoulli", "P", &p, 0, "Y");
    builder_attr_float(b, builder_first_node(b), "seed", 0);
    builder_attr_int(b, builder_first_node(b), "dtype", ONYX_DTYPE_INT64);
    run_result r = run_model(b, 1, &p);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 1, DIMS(5), INT64S(1, 0, 1, 1, 0), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(random, refusals)
{
    onyx_tensor p = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0.5f, 1.5f));
    expect_failure(builder_single_node(22, "Bernoulli", "P", &p, 0, "Y"), 1, &p, false,
                   ONYX_ERROR_INVALID_INPUT, "not a probability");
    builder *b = builder_single_node(22, "RandomUniform", "", NULL, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "shape", 1, DIMS(3));
    builder_attr_float(b, builder_first_node(b), "seed", -5);
    expect_failure(b, 0, NULL, true, ONYX_ERROR_INVALID_MODEL, "seed");
    b = builder_single_node(22, "RandomNormal", "", NULL, 0, "Y");
    expect_failure(b, 0, NULL, true, ONYX_ERROR_INVALID_MODEL, "shape");
    onyx_tensor ints = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, 2));
    expect_failure(builder_single_node(22, "RandomUniformLike", "X", &ints, 0, "Y"), 1, &ints, true,
                   ONYX_ERROR_INVALID_MODEL, "dtype");
}

/* ---- optimizers -------------------------------------------------------------------------- */

Test(training, momentum_update_and_refusals)
{
    /* Momentum, standard, T = 1: v = alpha v + beta g = 0.5 * 1 + 0.25 * 2 = 1; x = x - r v
     * = 3 - 0.5 * 1 = 2.5. */
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5f)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1))};
    const char *domain = "ai.onnx.preview.training";
    builder *b = in_domain(builder_single_node(1, "Momentum", "R,T,X,G,V", in, 0, "X_new,V_new"), domain);
    builder_attr_float(b, builder_first_node(b), "alpha", 0.5f);
    builder_attr_float(b, builder_first_node(b), "beta", 0.25f);
    builder_attr_float(b, builder_first_node(b), "norm_coefficient", 0);
    builder_attr_string(b, builder_first_node(b), "mode", "standard");
    run_result r = run_model(b, 5, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(2.5f), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1), 0);
    run_result_free(&r);
    builder_free(b);

    b = in_domain(builder_single_node(1, "Momentum", "R,T,X,G,V", in, 0, "X_new,V_new"), domain);
    builder_attr_float(b, builder_first_node(b), "alpha", 0.5f);
    builder_attr_float(b, builder_first_node(b), "beta", 0.25f);
    builder_attr_float(b, builder_first_node(b), "norm_coefficient", 0);
    builder_attr_string(b, builder_first_node(b), "mode", "heavy");
    expect_failure(b, 5, in, true, ONYX_ERROR_INVALID_MODEL, "mode");

    b = in_domain(builder_single_node(1, "Momentum", "R,T,X,G,V", in, 0, "X_new,V_new"), domain);
    expect_failure(b, 5, in, true, ONYX_ERROR_INVALID_MODEL, "norm_coefficient"); /* required */

    b = in_domain(builder_single_node(1, "Adagrad", "R,T,X,G", in, 0, "X_new"), domain);
    expect_failure(b, 4, in, true, ONYX_ERROR_INVALID_MODEL, "inputs");

    onyx_tensor mismatched[5] = {in[0], in[1], in[2], tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                                 in[4]};
    b = in_domain(builder_single_node(1, "Adagrad", "R,T,X,G,H", mismatched, 0, "X_new,H_new"), domain);
    expect_failure(b, 5, mismatched, true, ONYX_ERROR_INVALID_MODEL, "differ");
}

/* ---- ai.onnx.ml -------------------------------------------------------------------------- */

Test(ml, array_feature_extractor_indices)
{
    /* X [2, 3]; indices (2, -1): columns 2 and 2 (the last). An index of 3 is out of range. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 3), INT64S(1, 2, 3, 4, 5, 6)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(2, -1))};
    builder *b = in_domain(builder_single_node(1, "ArrayFeatureExtractor", "X,I", in, 0, "Y"), "ai.onnx.ml");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 2, DIMS(2, 2), INT64S(3, 3, 6, 6), 0);
    run_result_free(&r);
    builder_free(b);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(3));
    b = in_domain(builder_single_node(1, "ArrayFeatureExtractor", "X,I", in, 0, "Y"), "ai.onnx.ml");
    expect_failure(b, 2, in, false, ONYX_ERROR_INVALID_INPUT, "out of range");
}

/* A TreeEnsemble of nodes whose branches are given; one target, one tree rooted at 0. */
static builder *tree_model(const onyx_tensor *x, int n, const int64_t *true_ids, const int64_t *true_leafs,
                           const int64_t *false_ids, const int64_t *false_leafs)
{
    builder *b = in_domain(builder_single_node(5, "TreeEnsemble", "X", x, 0, "Y"), "ai.onnx.ml");
    Onnx__NodeProto *node = builder_first_node(b);
    static const int64_t zeros[4] = {0, 0, 0, 0};
    static const uint8_t modes[4] = {0, 0, 0, 0};
    static const float splits[4] = {1, 2, 3, 4}, weights[2] = {10, 20};
    builder_attr_ints(b, node, "nodes_featureids", n, zeros);
    builder_attr_tensor(b, node, "nodes_modes", ONYX_DTYPE_UINT8, 1, DIMS(n), modes);
    builder_attr_tensor(b, node, "nodes_splits", ONYX_DTYPE_FLOAT, 1, DIMS(n), splits);
    builder_attr_ints(b, node, "nodes_truenodeids", n, true_ids);
    builder_attr_ints(b, node, "nodes_trueleafs", n, true_leafs);
    builder_attr_ints(b, node, "nodes_falsenodeids", n, false_ids);
    builder_attr_ints(b, node, "nodes_falseleafs", n, false_leafs);
    builder_attr_ints(b, node, "leaf_targetids", 2, zeros);
    builder_attr_tensor(b, node, "leaf_weights", ONYX_DTYPE_FLOAT, 1, DIMS(2), weights);
    builder_attr_ints(b, node, "tree_roots", 1, zeros);
    builder_attr_int(b, node, "n_targets", 1);
    return b;
}

Test(ml, tree_ensemble_walks_and_refuses_cycles)
{
    /* Node 0: x <= 1 ? node 1 : leaf 1 (20); node 1: x <= 2 ? leaf 0 (10) : leaf 1. x = 0.5
     * goes through node 1 to leaf 0; 1.5 and 2.5 are false at node 0: 10, 20, 20. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 1), FLOATS(0.5f, 1.5f, 2.5f));
    builder *b = tree_model(&x, 2, INT64S(1, 0), INT64S(0, 1), INT64S(1, 1), INT64S(1, 1));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(3, 1), FLOATS(10, 20, 20), 0);
    run_result_free(&r);
    builder_free(b);
    /* Node 1's true branch back to node 0: a cycle. A branch to leaf 5 of 2: out of range. */
    expect_failure(tree_model(&x, 2, INT64S(1, 0), INT64S(0, 0), INT64S(1, 1), INT64S(1, 1)), 1, &x, true,
                   ONYX_ERROR_INVALID_MODEL, "cycle");
    expect_failure(tree_model(&x, 2, INT64S(1, 5), INT64S(0, 1), INT64S(1, 1), INT64S(1, 1)), 1, &x, true,
                   ONYX_ERROR_INVALID_MODEL, "leaf");
}

Test(ml, tree_ensemble_post_transforms)
{
    /* LOGISTIC (2) of the leaf weights 10 and 20: 1 / (1 + e^-10) = 0.9999546,
     * 1 / (1 + e^-20) = 0.999999998. PROBIT (4) is refused. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(0.5f, 2.5f));
    builder *b = tree_model(&x, 2, INT64S(1, 0), INT64S(0, 1), INT64S(1, 1), INT64S(1, 1));
    builder_attr_int(b, builder_first_node(b), "post_transform", 2);
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(0.9999546f, 1.0f), 1e-7);
    run_result_free(&r);
    builder_free(b);
    b = tree_model(&x, 2, INT64S(1, 0), INT64S(0, 1), INT64S(1, 1), INT64S(1, 1));
    builder_attr_int(b, builder_first_node(b), "post_transform", 4);
    expect_failure(b, 1, &x, true, ONYX_ERROR_UNSUPPORTED, "PROBIT");
}
