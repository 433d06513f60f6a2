/* Edge cases beyond the ONNX test suite of the operators of recent opsets: Dropout's training
 * mode, BitCast, the Bitwise operators, CumProd, GroupNormalization, LpNormalization, Col2Im,
 * CenterCropPad, AffineGrid, Mish, Swish and ONNX's Gelu. Expected values are worked out by
 * hand from the specifications (the arithmetic is in the comments) or are published values
 * (numpy's first uniform draws for seed 0); never taken from onyx's own output. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

#define U8S(...) ((const uint8_t[]){__VA_ARGS__})
#define I8S(...) ((const int8_t[]){__VA_ARGS__})
#define I16S(...) ((const int16_t[]){__VA_ARGS__})
#define I32S(...) ((const int32_t[]){__VA_ARGS__})
#define U16S(...) ((const uint16_t[]){__VA_ARGS__})
#define DOUBLES(...) ((const double[]){__VA_ARGS__})

/* Runs b on its n_graph graph inputs and checks output 0; frees b. */
static void expect_output(builder *b, int n_graph, const onyx_tensor *inputs, onyx_tensor want, double tol)
{
    run_result r = run_model(b, n_graph, inputs);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], want.dtype, want.rank, want.dims, want.data, tol);
    run_result_free(&r);
    builder_free(b);
}

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

/* ---- Dropout ----------------------------------------------------------------------------- */

/* A Dropout-22 model with X, ratio and training_mode as graph inputs and outputs Y and mask. */
static builder *dropout_model(const onyx_tensor *in, bool seeded, int64_t seed)
{
    builder *b = builder_single_node(22, "Dropout", "X,ratio,training_mode", in, 0, "Y,mask");
    if (seeded)
        builder_attr_int(b, builder_first_node(b), "seed", seed);
    return b;
}

Test(dropout, seed_0_draws_what_numpy_draws)
{
    /* np.random.seed(0); np.random.rand(10) is 0.549, 0.715, 0.603, 0.545, 0.424, 0.646,
     * 0.438, 0.892, 0.964, 0.383: with ratio 0.5 the 5th, 7th and 10th are dropped, the others
     * scaled by 1 / (1 - 0.5) = 2. */
    float ones[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(10), ones),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5f)),
                         tensor_of(ONYX_DTYPE_BOOL, 0, NULL, BOOLS(1))};
    for (int threads = 1; threads <= 4; threads += 3) {
        builder *b = dropout_model(in, true, 0);
        run_result r = run_model_with(b, (run_settings){.threads = threads}, 3, in);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(10), FLOATS(2, 2, 2, 2, 0, 2, 0, 2, 2, 0), 0);
        expect_tensor(&r.outputs[1], ONYX_DTYPE_BOOL, 1, DIMS(10), BOOLS(1, 1, 1, 1, 0, 1, 0, 1, 1, 0), 0);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(dropout, without_a_seed_the_mask_and_the_scaled_output_agree)
{
    /* Ratio 0.75 keeps about a quarter, each scaled by 4; x = i + 1 tells the elements apart. */
    enum { N = 4000 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++)
        x[i] = (float)(i + 1);
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(N), x),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.75f)),
                         tensor_of(ONYX_DTYPE_BOOL, 0, NULL, BOOLS(1))};
    builder *b = dropout_model(in, false, 0);
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    const float *y = r.outputs[0].data;
    const uint8_t *mask = r.outputs[1].data;
    int kept = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(mask[i] <= 1);
        cr_assert_eq(y[i], mask[i] ? 4.0f * x[i] : 0.0f, "element %d: %g with mask %d", i, y[i], mask[i]);
        kept += mask[i];
    }
    /* 1000 expected; 6 standard deviations (27) either way. */
    cr_assert(kept > 830 && kept < 1170, "%d of %d kept", kept, N);
    run_result_free(&r);
    builder_free(b);
    free(x);
}

Test(dropout, training_false_or_ratio_0_is_the_identity)
{
    /* The compound literals live as long as the function: the second case's too. */
    static const float ratios[2] = {0.5f, 0};
    static const uint8_t training[2] = {0, 1};
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(3), DOUBLES(1, -2, NAN))};
    for (int k = 0; k < 2; k++) {
        in[1] = tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, &ratios[k]);
        in[2] = tensor_of(ONYX_DTYPE_BOOL, 0, NULL, &training[k]);
        builder *b = dropout_model(in, true, 7);
        run_result r = run_model(b, 3, in);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        const double *y = r.outputs[0].data;
        cr_assert(y[0] == 1 && y[1] == -2 && isnan(y[2]));
        expect_tensor(&r.outputs[1], ONYX_DTYPE_BOOL, 1, DIMS(3), BOOLS(1, 1, 1), 0);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(dropout, a_ratio_of_1_is_refused_in_training)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1)),
                         tensor_of(ONYX_DTYPE_BOOL, 0, NULL, BOOLS(1))};
    expect_failure(dropout_model(in, true, 0), 3, in, false, ONYX_ERROR_RUNTIME, "ratio");
}

/* ---- BitCast ----------------------------------------------------------------------------- */

Test(bitcast, float16_bits_read_as_int16)
{
    /* Half 1.0 is 0x3c00 = 15360, -2.0 is 0xc000 = -16384 as int16. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(2), U16S(0x3c00, 0xc000));
    builder *b = builder_single_node(26, "BitCast", "X", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "to", ONYX_DTYPE_INT16);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_INT16, 1, DIMS(2), I16S(15360, -16384)), 0);
}

Test(bitcast, to_bool_makes_nonzero_bytes_true)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(4), U8S(0, 1, 2, 255));
    builder *b = builder_single_node(26, "BitCast", "X", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "to", ONYX_DTYPE_BOOL);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(4), BOOLS(0, 1, 1, 1)), 0);
}

Test(bitcast, types_of_different_widths_are_refused)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2));
    builder *b = builder_single_node(26, "BitCast", "X", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "to", ONYX_DTYPE_INT64);
    expect_failure(b, 1, &x, true, ONYX_ERROR_INVALID_MODEL, "bytes");
}

/* ---- Bitwise ----------------------------------------------------------------------------- */

Test(bitwise, not_and_xor_of_signed_values)
{
    /* ~(-128) = 127, ~0 = -1; -1 ^ 5 = ~5 = -6. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT8, 1, DIMS(2), I8S(-128, 0));
    expect_output(builder_single_node(18, "BitwiseNot", "X", &x, 0, "Y"), 1, &x,
                  tensor_of(ONYX_DTYPE_INT8, 1, DIMS(2), I8S(127, -1)), 0);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT8, 1, DIMS(2), I8S(-1, 12)),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, I8S(5))};
    expect_output(builder_single_node(18, "BitwiseXor", "A,B", in, 0, "Y"), 2, in,
                  tensor_of(ONYX_DTYPE_INT8, 1, DIMS(2), I8S(-6, 9)), 0);
}

Test(bitwise, floats_and_mixed_types_are_refused)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1))};
    expect_failure(builder_single_node(18, "BitwiseAnd", "A,B", in, 0, "Y"), 2, in, true,
                   ONYX_ERROR_UNSUPPORTED, "BitwiseAnd");
    onyx_tensor mixed[2] = {tensor_of(ONYX_DTYPE_INT8, 1, DIMS(1), I8S(1)),
                            tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(1), U8S(1))};
    expect_failure(builder_single_node(18, "BitwiseOr", "A,B", mixed, 0, "Y"), 2, mixed, true,
                   ONYX_ERROR_INVALID_MODEL, "BitwiseOr");
}

/* ---- CumProd ----------------------------------------------------------------------------- */

Test(cumprod, integer_products_wrap)
{
    /* 65536 * 65536 = 2^32, 0 modulo 2^32; exclusive starts at 1. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), I32S(65536, 65536, 3)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(0))};
    expect_output(builder_single_node(26, "CumProd", "X,axis", in, 0x2, "Y"), 1, in,
                  tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), I32S(65536, 0, 0)), 0);
    builder *b = builder_single_node(26, "CumProd", "X,axis", in, 0x2, "Y");
    builder_attr_int(b, builder_first_node(b), "exclusive", 1);
    expect_output(b, 1, in, tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), I32S(1, 65536, 0)), 0);
}

/* ---- GroupNormalization ------------------------------------------------------------------ */

Test(group_normalization, scale_and_bias_apply_per_channel_within_a_group)
{
    /* One group of two channels holding 1, 3 and 5, 7: mean 4, variance (9 + 1 + 1 + 9) / 4 =
     * 5, so (x - 4) / sqrt(5) with epsilon 0; channel 0 scaled by 1, channel 1 by 2 plus 10. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 2), FLOATS(1, 3, 5, 7)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0, 10))};
    builder *b = builder_single_node(21, "GroupNormalization", "X,scale,bias", in, 0x6, "Y");
    builder_attr_int(b, builder_first_node(b), "num_groups", 1);
    builder_attr_float(b, builder_first_node(b), "epsilon", 0);
    float r = 1 / sqrtf(5);
    float want[4] = {-3 * r, -r, 10 + 2 * r, 10 + 6 * r};
    expect_output(b, 1, in, tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 2), want), 1e-6);
}

Test(group_normalization, channels_must_divide_into_the_groups)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 1), FLOATS(1, 2, 3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 1, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(0, 0, 0))};
    builder *b = builder_single_node(21, "GroupNormalization", "X,scale,bias", in, 0x6, "Y");
    builder_attr_int(b, builder_first_node(b), "num_groups", 2);
    expect_failure(b, 1, in, true, ONYX_ERROR_INVALID_MODEL, "num_groups");
    expect_failure(builder_single_node(21, "GroupNormalization", "X,scale,bias", in, 0x6, "Y"), 1, in, true,
                   ONYX_ERROR_INVALID_MODEL, "num_groups");
}

Test(group_normalization, opset_18_with_per_group_scale_is_refused)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(0))};
    builder *b = builder_single_node(18, "GroupNormalization", "X,scale,bias", in, 0x6, "Y");
    builder_attr_int(b, builder_first_node(b), "num_groups", 1);
    expect_failure(b, 1, in, true, ONYX_ERROR_UNSUPPORTED, "GroupNormalization");
}

/* ---- LpNormalization --------------------------------------------------------------------- */

Test(lp_normalization, l1_takes_magnitudes_and_a_zero_row_stays_zero)
{
    /* Rows (3, -4) and (0, 0): L1 norm 7, L2 norm 5. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(3, -4, 0, 0));
    builder *b = builder_single_node(22, "LpNormalization", "X", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "p", 1);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(3.0f / 7, -4.0f / 7, 0, 0)),
                  1e-6);
    /* Along axis 0: columns (3, 0) and (-4, 0). */
    b = builder_single_node(1, "LpNormalization", "X", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", 0);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, -1, 0, 0)), 1e-6);
}

Test(lp_normalization, p_other_than_1_or_2_is_refused)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(3, 4));
    builder *b = builder_single_node(22, "LpNormalization", "X", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "p", 3);
    expect_failure(b, 1, &x, true, ONYX_ERROR_INVALID_MODEL, "'p'");
}

/* ---- Col2Im ------------------------------------------------------------------------------ */

Test(col2im, overlapping_blocks_sum)
{
    /* A 1 x 4 image, blocks of 1 x 2 at 3 positions: kernel offset k at position l lands on
     * w = l + k. Offset 0 holds 1, 2, 3 and offset 1 holds 10, 20, 30: 1, 2 + 10, 3 + 20, 30. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), FLOATS(1, 2, 3, 10, 20, 30)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, 4)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, 2))};
    expect_output(builder_single_node(18, "Col2Im", "X,image_shape,block_shape", in, 0x6, "Y"), 1, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 4), FLOATS(1, 12, 23, 30)), 0);
}

Test(col2im, the_block_count_must_match_the_input)
{
    /* 1 x 4 with blocks of 1 x 2 has 3 positions, not 2. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, 4)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, 2))};
    expect_failure(builder_single_node(18, "Col2Im", "X,image_shape,block_shape", in, 0x6, "Y"), 1, in, true,
                   ONYX_ERROR_RUNTIME, "block positions");
}

/* ---- CenterCropPad ----------------------------------------------------------------------- */

Test(center_crop_pad, int32_shape_and_odd_differences)
{
    /* Axis 0: 3 -> 2 crops from floor(1 / 2) = 0; axis 1: 1 -> 4 pads 1 before and 2 after. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT8, 2, DIMS(3, 1), I8S(1, 2, 3)),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), I32S(2, 4))};
    expect_output(builder_single_node(18, "CenterCropPad", "X,shape", in, 0x2, "Y"), 1, in,
                  tensor_of(ONYX_DTYPE_INT8, 2, DIMS(2, 4), I8S(0, 1, 0, 0, 0, 2, 0, 0)), 0);
}

Test(center_crop_pad, shape_must_give_one_length_per_axis)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(2))};
    expect_failure(builder_single_node(18, "CenterCropPad", "X,shape", in, 0x2, "Y"), 1, in, true,
                   ONYX_ERROR_INVALID_MODEL, "shape");
    builder *b = builder_single_node(18, "CenterCropPad", "X,shape", in, 0x2, "Y");
    builder_attr_ints(b, builder_first_node(b), "axes", 2, INT64S(1, -1));
    expect_failure(b, 1, in, true, ONYX_ERROR_INVALID_MODEL, "twice");
}

/* ---- AffineGrid -------------------------------------------------------------------------- */

Test(affine_grid, an_axis_of_one_position)
{
    /* Identity theta, H = 1, W = 2. Without align_corners W's positions are -0.5 and 0.5 and
     * H's one is 0; with it W's are -1 and 1 and H's is -1. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), FLOATS(1, 0, 0, 0, 1, 0)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(1, 1, 1, 2))};
    expect_output(builder_single_node(20, "AffineGrid", "theta,size", in, 0x2, "Y"), 1, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), FLOATS(-0.5f, 0, 0.5f, 0)), 1e-7);
    builder *b = builder_single_node(20, "AffineGrid", "theta,size", in, 0x2, "Y");
    builder_attr_int(b, builder_first_node(b), "align_corners", 1);
    expect_output(b, 1, in, tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), FLOATS(-1, -1, 1, -1)), 1e-7);
}

Test(affine_grid, theta_must_fit_the_size)
{
    /* Size of 5 values asks for 3D: theta (1, 3, 4), not (1, 2, 3). */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), FLOATS(1, 0, 0, 0, 1, 0)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(5), INT64S(1, 1, 1, 1, 2))};
    expect_failure(builder_single_node(20, "AffineGrid", "theta,size", in, 0x2, "Y"), 1, in, true,
                   ONYX_ERROR_RUNTIME, "theta");
}

/* ---- Mish, Swish, Gelu ------------------------------------------------------------------- */

Test(activations, mish_and_swish_stay_finite_and_swish_reads_alpha)
{
    /* mish(x) -> x for large x, -> -0 for very negative x; mish(1) = tanh(ln(1 + e)) =
     * 0.865098. swish(1) with alpha 2 = 1 / (1 + e^-2) = 0.880797. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1000, -1000, 1));
    expect_output(builder_single_node(22, "Mish", "X", &x, 0, "Y"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1000, 0, 0.865098f)), 1e-6);
    onyx_tensor one = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1));
    builder *b = builder_single_node(24, "Swish", "X", &one, 0, "Y");
    builder_attr_float(b, builder_first_node(b), "alpha", 2);
    expect_output(b, 1, &one, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(0.880797f)), 1e-6);
}

Test(activations, onnx_gelu_refuses_an_unknown_approximation)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1));
    builder *b = builder_single_node(20, "Gelu", "X", &x, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "approximate", "sigmoid");
    expect_failure(b, 1, &x, true, ONYX_ERROR_INVALID_MODEL, "approximate");
}
