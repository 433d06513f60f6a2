/* Edge cases of the recurrent, quantization, signal and Det operators beyond the ONNX test
 * suite. Expected values are worked out by hand from the specifications (or, where noted,
 * with numpy following the specification's formulas). */
#include "harness.h"

#include <math.h>
#include <string.h>

#define INT8S(...) ((const int8_t[]){__VA_ARGS__})
#define UINT8S(...) ((const uint8_t[]){__VA_ARGS__})
#define INT32S(...) ((const int32_t[]){__VA_ARGS__})
#define DOUBLES(...) ((const double[]){__VA_ARGS__})

/* A list-of-strings attribute (builder.h has none): a string attribute made into one. */
static void attr_strings(builder *b, Onnx__NodeProto *node, const char *name, int n, const char *const *values)
{
    builder_attr_string(b, node, name, "");
    Onnx__AttributeProto *a = node->attribute[node->n_attribute - 1];
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    a->has_s = 0;
    a->n_strings = (size_t)n;
    a->strings = builder_alloc(b, (size_t)n * sizeof *a->strings);
    for (int i = 0; i < n; i++)
        a->strings[i] = (ProtobufCBinaryData){strlen(values[i]), (uint8_t *)builder_strdup(b, values[i])};
}

/* Loads and runs b; asserts success. */
static run_result run_ok(builder *b, int n, const onyx_tensor *in)
{
    run_result r = run_model(b, n, in);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    return r;
}

/* ---- quantization ------------------------------------------------------------------------ */

Test(quantize, rounds_half_to_even_and_saturates_int8)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(8), FLOATS(0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300, -300, NAN)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1)),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, INT8S(0))};
    builder *b = builder_single_node(13, "QuantizeLinear", "x,s,z", in, 0, "y");
    run_result r = run_ok(b, 3, in);
    /* NaN has no nearest level: onyx gives the zero point. */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT8, 1, DIMS(8), INT8S(0, 2, 2, 0, -2, 127, -128, 0), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(quantize, without_zero_point_gives_uint8)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-1, 3, 1000)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(2))};
    builder *b = builder_single_node(10, "QuantizeLinear", "x,s", in, 0, "y");
    run_result r = run_ok(b, 2, in);
    /* -0.5 rounds to -0 -> 0; 1.5 rounds to 2; 500 saturates. */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_UINT8, 1, DIMS(3), UINT8S(0, 2, 255), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(quantize, per_axis_int32_input_negative_axis)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT32, 2, DIMS(2, 2), INT32S(10, 20, -30, 40)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(10, 4)),
                         tensor_of(ONYX_DTYPE_INT8, 1, DIMS(2), INT8S(1, -1))};
    builder *b = builder_single_node(13, "QuantizeLinear", "x,s,z", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "axis", -1);
    run_result r = run_ok(b, 3, in);
    /* Column 0: x / 10 + 1; column 1: x / 4 - 1. */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT8, 2, DIMS(2, 2), INT8S(2, 4, -2, 9), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(quantize, vector_scale_before_opset_13_is_rejected)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2))};
    builder *b = builder_single_node(10, "QuantizeLinear", "x,s", in, 0, "y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "QuantizeLinear", "'s'", "scalar", NULL);
    builder_free(b);
}

Test(quantize, per_axis_scale_must_match_the_axis)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(2, 3), UINT8S(1, 2, 3, 4, 5, 6)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3))};
    builder *b = builder_single_node(13, "DequantizeLinear", "x,s", in, 0,
                                     "y"); /* axis 1 has 3: fine */ run_result r = run_ok(b, 2, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(1, 4, 9, 4, 10, 18), 0);
    run_result_free(&r);
    builder_free(b);
    b = builder_single_node(13, "DequantizeLinear", "x,s", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "axis", 0); /* axis 0 has 2 */
    r = run_model(b, 2, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "DequantizeLinear", "axis 0", NULL);
    builder_free(b);
}

Test(quantize, dequantize_int32_extremes)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(INT32_MAX, INT32_MIN)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5f))};
    builder *b = builder_single_node(10, "DequantizeLinear", "x,s", in, 0, "y");
    run_result r = run_ok(b, 2, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1073741824.0f, -1073741824.0f), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(quantize, dynamic_of_zeros_has_scale_one)
{
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(0, 0, 0))};
    builder *b = builder_single_node(11, "DynamicQuantizeLinear", "x", in, 0, "y,s,z");
    run_result r = run_ok(b, 1, in);
    /* An empty range: onyx (like onnxruntime) uses scale 1 rather than dividing 0 by 0. */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_UINT8, 1, DIMS(3), UINT8S(0, 0, 0), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1), 0);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_UINT8, 0, NULL, UINT8S(0), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(quantize, dynamic_symmetric_range)
{
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-1, 0, 1))};
    builder *b = builder_single_node(11, "DynamicQuantizeLinear", "x", in, 0, "y,s,z");
    run_result r = run_ok(b, 1, in);
    /* scale = 2/255 in float32; 1/scale is 127.49999 there (numpy), so the zero point is 127. */
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(2.0f / 255), 1e-7);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_UINT8, 0, NULL, UINT8S(127), 0);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_UINT8, 1, DIMS(3), UINT8S(0, 127, 254), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(quantize, matmul_integer_per_row_and_column_zero_points_batched)
{
    /* A int8 [2,2,3] (the second matrix twice the first), B uint8 [3,2] shared; zero points
     * per row of A and per column of B. Expected: numpy, (A - za[:, None]) @ (B - zb). */
    onyx_tensor in[4] = {
        tensor_of(ONYX_DTYPE_INT8, 3, DIMS(2, 2, 3), INT8S(1, -2, 3, 4, 5, -6, 2, -4, 6, 8, 10, -12)),
        tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(3, 2), UINT8S(200, 3, 7, 255, 0, 9)),
        tensor_of(ONYX_DTYPE_INT8, 1, DIMS(2), INT8S(1, -1)),
        tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(2), UINT8S(128, 0))};
    builder *b = builder_single_node(10, "MatMulInteger", "A,B,za,zb", in, 0, "Y");
    run_result r = run_ok(b, 4, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 3, DIMS(2, 2, 2), INT32S(107, -747, 274, 1500, 37, -1227, 725, 2733),
                  0);
    run_result_free(&r);
    builder_free(b);
}

Test(quantize, matmul_integer_one_dimensional_a)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(2), UINT8S(255, 1)),
                         tensor_of(ONYX_DTYPE_INT8, 2, DIMS(2, 2), INT8S(-128, 1, 127, -1))};
    builder *b = builder_single_node(10, "MatMulInteger", "A,B", in, 0, "Y");
    run_result r = run_ok(b, 2, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(255 * -128 + 127, 255 - 1), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(quantize, qlinear_matmul_saturates_int8_output)
{
    /* a = [[10, -10]] (scale 1, zp 0) times b = [[5], [5]] - zp 1 = [[4], [4]]: 40 - 40 = 0,
     * then 0 / 0.5 + 100 = 100; the second column 10*4 - 10*(-4) = 80 -> 160 + 100 saturates. */
    onyx_tensor in[8] = {tensor_of(ONYX_DTYPE_INT8, 2, DIMS(1, 2), INT8S(10, -10)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1)),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, INT8S(0)),
                         tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(2, 2), UINT8S(5, 5, 5, 0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 1)),
                         tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(2), UINT8S(1, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5f)),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, INT8S(100))};
    builder *b = builder_single_node(10, "QLinearMatMul", "a,as,az,b,bs,bz,ys,yz", in, 0, "y");
    run_result r = run_ok(b, 8, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT8, 2, DIMS(1, 2), INT8S(100, 127), 0);
    run_result_free(&r);
    builder_free(b);
}

/* ---- Det --------------------------------------------------------------------------------- */

Test(det, needs_row_swaps)
{
    /* Expansion along the first row: 0 - 2 * 15 + 1 * 3 = -27; the first pivot is 0. */
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(3, 3), DOUBLES(0, 2, 1, 3, 0, 0, 1, 1, 5))};
    builder *b = builder_single_node(11, "Det", "X", in, 0, "Y");
    run_result r = run_ok(b, 1, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 0, NULL, DOUBLES(-27), 1e-12);
    run_result_free(&r);
    builder_free(b);
}

Test(det, singular_and_empty_matrices)
{
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), FLOATS(1, 2, 2, 4, 0, 0, 0, 0))};
    builder *b = builder_single_node(11, "Det", "X", in, 0, "Y");
    run_result r = run_ok(b, 1, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0, 0), 0);
    run_result_free(&r);
    builder_free(b);
    /* The determinant of a 0 x 0 matrix is the empty product, 1. */
    in[0] = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 0, 0), NULL);
    b = builder_single_node(11, "Det", "X", in, 0, "Y");
    r = run_ok(b, 1, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 1), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(det, rejects_non_square_input)
{
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(1, 2, 3, 4, 5, 6))};
    builder *b = builder_single_node(11, "Det", "X", in, 0, "Y");
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Det", "[2,3]", "square", NULL);
    builder_free(b);
}

/* ---- signal ------------------------------------------------------------------------------ */

Test(signal, dft_zero_padded_onesided)
{
    /* [1, 2, 3] padded to 4: X_k = sum x_j (-i)^(jk): 6, 1 - 2i - 3 = -2 - 2i, 1 - 2 + 3 = 2. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 1), FLOATS(1, 2, 3)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(4))};
    builder *b = builder_single_node(17, "DFT", "x,n", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "onesided", 1);
    run_result r = run_ok(b, 2, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 2), FLOATS(6, 0, -2, -2, 2, 0), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(signal, dft_inverse_of_an_impulse_spectrum)
{
    /* The inverse of a spectrum that is 1 at bin 1 of 3 is exp(2 pi i j / 3) / 3. */
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(1, 3, 2), DOUBLES(0, 0, 1, 0, 0, 0))};
    builder *b = builder_single_node(17, "DFT", "x", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "inverse", 1);
    run_result r = run_ok(b, 1, in);
    double c = cos(2 * M_PI / 3) / 3, s = sin(2 * M_PI / 3) / 3;
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 3, DIMS(1, 3, 2), DOUBLES(1.0 / 3, 0, c, s, c, -s), 1e-12);
    run_result_free(&r);
    builder_free(b);
}

Test(signal, onesided_complex_input_is_rejected)
{
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 2), FLOATS(1, 0, 0, 1))};
    builder *b = builder_single_node(17, "DFT", "x", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "onesided", 1);
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "DFT", "onesided", "real", NULL);
    builder_free(b);
}

Test(signal, dft_20_irfft_of_an_odd_length_along_the_default_axis)
{
    /* Axis -2 by default at opset 20; the one-sided spectrum [1, 2 + i, 0.5 - i] to 5 real
     * samples, values from numpy.fft.irfft(..., n=5). */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(3, 2), DOUBLES(1, 0, 2, 1, 0.5, -1)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(5))};
    builder *b = builder_single_node(20, "DFT", "x,n", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "onesided", 1);
    builder_attr_int(b, builder_first_node(b), "inverse", 1);
    run_result r = run_ok(b, 2, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 2, DIMS(5, 1),
                  DOUBLES(1.2, 0.14010169102389633, -1.0009469040600192, 0.23012651081008217,
                          0.4307187022260406),
                  1e-12);
    run_result_free(&r);
    builder_free(b);
}

Test(signal, dft_20_reads_its_axis_from_an_input)
{
    /* x [2, 2, 1] transformed along axis 0 (the input), not the default -2: [1, 3] -> 4, -2. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 1), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(0))};
    builder *b = builder_single_node(20, "DFT", "x,,axis", in, 0, "y");
    run_result r = run_ok(b, 2, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), FLOATS(4, 0, 6, 0, -2, 0, -2, 0), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(signal, stft_frame_length_must_match_the_window)
{
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 8, 1), FLOATS(1, 2, 3, 4, 5, 6, 7, 8)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, 1, 1, 1)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(3))};
    builder *b = builder_single_node(17, "STFT", "s,step,w,n", in, 0x8, "y");
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "STFT", "frame_length 3", "window", NULL);
    builder_free(b);
}

Test(signal, stft_frames_of_a_constant_signal)
{
    /* Frames of 4 ones every 2 samples of 8: 3 frames, each with only a DC bin of 4. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 8, 1), FLOATS(1, 1, 1, 1, 1, 1, 1, 1)),
                         tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(2)),
                         tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(4))};
    builder *b = builder_single_node(17, "STFT", "s,step,,n", in, 0x4, "y");
    run_result r = run_ok(b, 2, in);
    float expected[3 * 3 * 2] = {4, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0};
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(1, 3, 3, 2), expected, 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(signal, windows_in_other_dtypes)
{
    /* Periodic Hann of 4: 0.5 - 0.5 cos(pi i / 2) = 0, 0.5, 1, 0.5, as double. */
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(4))};
    builder *b = builder_single_node(17, "HannWindow", "n", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "output_datatype", ONYX_DTYPE_DOUBLE);
    run_result r = run_ok(b, 1, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 1, DIMS(4), DOUBLES(0, 0.5, 1, 0.5), 1e-15);
    run_result_free(&r);
    builder_free(b);
    /* A symmetric window of one point is 1 (numpy's and PyTorch's convention: 0/0 otherwise). */
    in[0] = tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(1));
    b = builder_single_node(17, "BlackmanWindow", "n", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "periodic", 0);
    builder_attr_int(b, builder_first_node(b), "output_datatype", ONYX_DTYPE_UINT8);
    r = run_ok(b, 1, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_UINT8, 1, DIMS(1), UINT8S(1), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(signal, window_rejects_string_output_datatype)
{
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(4))};
    builder *b = builder_single_node(17, "HammingWindow", "n", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "output_datatype", ONYX_DTYPE_STRING);
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "HammingWindow", "output_datatype", NULL);
    builder_free(b);
}

Test(signal, mel_bands_past_the_spectrum_fail_at_run)
{
    /* An upper edge of 40 kHz at 8 kHz: the peak of band 1 lies near 4.6 kHz, bin
     * floor(9 * 4638 / 8000) = 5 of a 5-bin spectrum. */
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(2)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(8)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(8000)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(40000))};
    builder *b = builder_single_node(17, "MelWeightMatrix", "m,n,r,lo,hi", in, 0, "y");
    run_result r = run_model(b, 5, in);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "MelWeightMatrix", "outside the spectrum", NULL);
    builder_free(b);
}

/* ---- recurrent --------------------------------------------------------------------------- */

/* A one-unit Relu RNN over X [2 steps, 2 rows, 1] = (1, 2), (3, 4) with W = 1, R = 0.5, no
 * bias, initial states 0 and 10, and the given sequence lengths. */
static builder *tiny_rnn(const char *direction, const int32_t *lengths, onyx_tensor *in)
{
    /* Static: the caller runs the model on these after this function returns. */
    static const float x[] = {1, 2, 3, 4}, w[] = {1}, r[] = {0.5f}, h0[] = {0, 10};
    in[0] = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 1), x);
    in[1] = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), w);
    in[2] = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), r);
    in[3] = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), lengths);
    in[4] = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), h0);
    builder *b = builder_single_node(14, "RNN", "X,W,R,,L,H0", in, 0, "Y,Y_h");
    builder_attr_int(b, builder_first_node(b), "hidden_size", 1);
    builder_attr_string(b, builder_first_node(b), "direction", direction);
    attr_strings(b, builder_first_node(b), "activations", 1, (const char *[]){"Relu"});
    return b;
}

Test(recurrent, sequence_lengths_freeze_state_and_zero_outputs)
{
    onyx_tensor in[5];
    builder *b = tiny_rnn("forward", INT32S(2, 1), in);
    run_result r = run_ok(b, 5, in);
    /* Row 0 reads x = 1, 3: h = 1, then 3 + 0.5 = 3.5. Row 1 (length 1) reads x = 2:
     * h = 2 + 0.5 * 10 = 7, and its Y at step 1 is 0. */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(2, 1, 2, 1), FLOATS(1, 7, 3.5f, 0), 1e-6);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(3.5f, 7), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(recurrent, reverse_reads_each_sequence_from_its_own_end)
{
    onyx_tensor in[5];
    builder *b = tiny_rnn("reverse", INT32S(2, 1), in);
    run_result r = run_ok(b, 5, in);
    /* Row 0 reads x = 3 then 1: h = 3 (Y at t 1), then 1 + 1.5 = 2.5 (Y at t 0). Row 1 reads
     * only its step 0. */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(2, 1, 2, 1), FLOATS(2.5f, 7, 3, 0), 1e-6);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(2.5f, 7), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(recurrent, empty_sequence_keeps_the_initial_state)
{
    onyx_tensor in[5];
    builder *b = tiny_rnn("forward", INT32S(2, 0), in);
    run_result r = run_ok(b, 5, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(2, 1, 2, 1), FLOATS(1, 0, 3.5f, 0), 1e-6);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(3.5f, 10), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(recurrent, sequence_length_out_of_range_fails_at_run)
{
    onyx_tensor in[5];
    builder *b = tiny_rnn("forward", INT32S(3, 1), in);
    run_result r = run_model(b, 5, in);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "RNN", "sequence_lens[0] = 3", NULL);
    builder_free(b);
}

Test(recurrent, alpha_goes_to_the_activations_that_take_one)
{
    /* Bidirectional over x = -1 with W = 1, R = 0: Relu forward gives 0, LeakyRelu backward
     * takes the first alpha (Relu has none): -0.1. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(-1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 1, 1), FLOATS(1, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 1, 1), FLOATS(0, 0))};
    builder *b = builder_single_node(7, "RNN", "X,W,R", in, 0, ",Y_h");
    builder_attr_int(b, builder_first_node(b), "hidden_size", 1);
    builder_attr_string(b, builder_first_node(b), "direction", "bidirectional");
    attr_strings(b, builder_first_node(b), "activations", 2, (const char *[]){"Relu", "leakyrelu"});
    builder_attr_floats(b, builder_first_node(b), "activation_alpha", 1, FLOATS(0.1f));
    run_result r = run_ok(b, 3, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 1, 1), FLOATS(0, -0.1f), 1e-7);
    run_result_free(&r);
    builder_free(b);
}

/* One GRU step of one unit: x = 1, H0 = 1, W = (z, r, h) = (0, 0, 1), R = (0, 0, 2),
 * Rbh = 1, so that z = r = 0.5. */
static run_result gru_step_result(int64_t linear_before_reset)
{
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 1), FLOATS(0, 0, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 1), FLOATS(0, 0, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 6), FLOATS(0, 0, 0, 0, 0, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(1))};
    builder *b = builder_single_node(14, "GRU", "X,W,R,B,,H0", in, 0, ",Y_h");
    builder_attr_int(b, builder_first_node(b), "hidden_size", 1);
    builder_attr_int(b, builder_first_node(b), "linear_before_reset", linear_before_reset);
    run_result r = run_ok(b, 5, in);
    builder_free(b);
    return r;
}

Test(recurrent, gru_linear_before_reset_both_ways)
{
    /* Default: h~ = tanh(1 + (0.5 * 1) * 2 + 1) = tanh(3); linear before reset:
     * h~ = tanh(1 + 0.5 * (1 * 2 + 1)) = tanh(2.5). H = 0.5 h~ + 0.5. */
    run_result r = gru_step_result(0);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(0.99752738f), 1e-6);
    run_result_free(&r);
    r = gru_step_result(1);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(0.99330715f), 1e-6);
    run_result_free(&r);
}

/* One LSTM step of one unit: x = 1, all W 1, R 0, no bias, peepholes 1, C0 = 1, H0 = 0,
 * input_forget (f = 1 - i). */
static run_result lstm_step_result(bool clip)
{
    onyx_tensor in[6] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 4, 1), FLOATS(1, 1, 1, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 4, 1), FLOATS(0, 0, 0, 0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), FLOATS(1, 1, 1))};
    builder *b = builder_single_node(14, "LSTM", "X,W,R,,,H0,C0,P", in, 0, ",Y_h,Y_c");
    builder_attr_int(b, builder_first_node(b), "hidden_size", 1);
    builder_attr_int(b, builder_first_node(b), "input_forget", 1);
    if (clip)
        builder_attr_float(b, builder_first_node(b), "clip", 0.5f);
    run_result r = run_ok(b, 6, in);
    builder_free(b);
    return r;
}

Test(recurrent, lstm_peepholes_input_forget_and_clip)
{
    /* i = sigmoid(1 + C0) = sigmoid(2), f = 1 - i, C = f + i tanh(1), o = sigmoid(1 + C),
     * H = o tanh(C) (numpy: C = 0.790012829, H = 0.564215925). With clip 0.5 every
     * pre-activation (2, 1, 1 + C) is cut to 0.5: C = 0.665189805, H = 0.362151096. */
    run_result r = lstm_step_result(false);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(0.564215925f), 1e-6);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(0.790012829f), 1e-6);
    run_result_free(&r);
    r = lstm_step_result(true);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(0.362151096f), 1e-6);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(0.665189805f), 1e-6);
    run_result_free(&r);
}

Test(recurrent, batch_first_initial_state_shape_is_checked)
{
    /* layout 1 wants initial_h as [batch 2, directions 1, hidden 1], not [1, 2, 1]. */
    onyx_tensor in[5];
    builder *b = tiny_rnn("forward", INT32S(2, 2), in);
    builder_attr_int(b, builder_first_node(b), "layout", 1);
    run_result r = run_model(b, 5, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "RNN", "'H0'", "[1,2,1]", "expected [2,1,1]", NULL);
    builder_free(b);
}

Test(recurrent, unknown_activation_is_unsupported)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 1), FLOATS(0, 0, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 1), FLOATS(0, 0, 2))};
    builder *b = builder_single_node(14, "GRU", "X,W,R", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "hidden_size", 1);
    attr_strings(b, builder_first_node(b), "activations", 2, (const char *[]){"Sigmoid", "Gelu"});
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED);
    expect_message(r.message, "GRU", "Gelu", NULL);
    builder_free(b);
}

Test(recurrent, weights_of_the_wrong_gate_count_are_rejected)
{
    /* An LSTM of hidden size 1 needs W [1, 4, 1]. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 1), FLOATS(0, 0, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 4, 1), FLOATS(0, 0, 2, 0))};
    builder *b = builder_single_node(14, "LSTM", "X,W,R", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "hidden_size", 1);
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "LSTM", "'W'", "expected [1,4,1]", NULL);
    builder_free(b);
}

Test(recurrent, double_inputs_are_unsupported)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(1, 1, 1), DOUBLES(1)),
                         tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(1, 1, 1), DOUBLES(1)),
                         tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(1, 1, 1), DOUBLES(1))};
    builder *b = builder_single_node(14, "RNN", "X,W,R", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "hidden_size", 1);
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED);
    expect_message(r.message, "RNN", "double", NULL);
    builder_free(b);
}

/* ---- the 8, 6, 4 and 2-bit dtypes: Cast, QuantizeLinear, DequantizeLinear ---------------- */

/* Expected codes below come from ml_dtypes and onnx.numpy_helper (ONNX's reference), run on
 * the same inputs. */

/* A one-byte-per-element output of `dtype` holding exactly `codes`. */
static void expect_codes(const onyx_tensor *got, onyx_dtype dtype, int64_t n, const uint8_t *codes)
{
    cr_assert_eq(got->dtype, dtype, "dtype %s, expected %s", onyx_dtype_name(got->dtype),
                 onyx_dtype_name(dtype));
    cr_assert_eq(onyx_tensor_element_count(got), n);
    for (int64_t i = 0; i < n; i++)
        cr_expect_eq(((const uint8_t *)got->data)[i], codes[i], "element %lld: %#x, expected %#x",
                     (long long)i, ((const uint8_t *)got->data)[i], codes[i]);
}

/* Cast of a float [n] to `to` at `opset`, with round_mode `mode` (NULL: none) and saturate. */
static void cast_codes(int opset, int64_t n, const float *x, onyx_dtype to, const char *mode, int saturate,
                       const uint8_t *codes)
{
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(n), x)};
    builder *b = builder_single_node(opset, "Cast", "x", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "to", to);
    builder_attr_int(b, builder_first_node(b), "saturate", saturate);
    if (mode)
        builder_attr_string(b, builder_first_node(b), "round_mode", mode);
    run_result r = run_ok(b, 1, in);
    expect_codes(&r.outputs[0], to, n, codes);
    run_result_free(&r);
    builder_free(b);
}

Test(narrow_dtypes, cast_to_float6_rounds_to_even_and_saturates)
{
    /* 0.0625 lies halfway between 0 and the smallest subnormal, 0.125: to even, 0. */
    cast_codes(28, 5, FLOATS(0.3f, 7.7f, -100, 0.0625f, 3.3f), ONYX_DTYPE_FLOAT6E2M3, NULL, 1,
               UINT8S(0x02, 0x1f, 0x3f, 0x00, 0x15));
}

Test(narrow_dtypes, cast_to_float8e8m0_by_round_mode)
{
    const float *x = FLOATS(3, 0.75f, 1.5f, 3e38f, 0);
    cast_codes(24, 5, x, ONYX_DTYPE_FLOAT8E8M0, "up", 1, UINT8S(0x81, 0x7f, 0x80, 0xfe, 0x00));
    cast_codes(24, 5, x, ONYX_DTYPE_FLOAT8E8M0, "up", 0, UINT8S(0x81, 0x7f, 0x80, 0xff, 0x00));
    cast_codes(24, 5, x, ONYX_DTYPE_FLOAT8E8M0, "down", 0, UINT8S(0x80, 0x7e, 0x7f, 0xfe, 0x00));
    cast_codes(24, 5, x, ONYX_DTYPE_FLOAT8E8M0, "nearest", 1, UINT8S(0x81, 0x7f, 0x80, 0xfe, 0x00));
}

Test(narrow_dtypes, cast_to_float8_saturate_or_not)
{
    const float *x = FLOATS(1e5f, -1e5f, 60000, INFINITY);
    cast_codes(19, 4, x, ONYX_DTYPE_FLOAT8E5M2, NULL, 0, UINT8S(0x7c, 0xfc, 0x7b, 0x7c));
    cast_codes(19, 4, x, ONYX_DTYPE_FLOAT8E4M3FNUZ, NULL, 1, UINT8S(0x7f, 0xff, 0x7f, 0x7f));
    /* FNUZ has no -0 (its code is NaN): negatives rounding to 0 give +0. */
    cast_codes(19, 2, FLOATS(-1e-9f, -0.0f), ONYX_DTYPE_FLOAT8E4M3FNUZ, NULL, 1, UINT8S(0, 0));
}

Test(narrow_dtypes, cast_attributes_are_checked)
{
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1))};
    builder *b = builder_single_node(24, "Cast", "x", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "to", ONYX_DTYPE_FLOAT8E8M0);
    builder_attr_string(b, builder_first_node(b), "round_mode", "sideways");
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Cast", "round_mode", "sideways", NULL);
    builder_free(b);
    /* float8e8m0 came with Cast-24: refused at opset 23, naming the dtype. */
    b = builder_single_node(23, "Cast", "x", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "to", ONYX_DTYPE_FLOAT8E8M0);
    r = run_model(b, 1, in);
    cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED);
    expect_message(r.message, "Cast", "float8e8m0", "opset 23", NULL);
    builder_free(b);
}

Test(narrow_dtypes, narrow_integers_given_to_onyx_keep_only_their_low_bits)
{
    /* int4 0xf9 is -7 (its low nibble), uint2 0xfe is 2: the bits above are ignored. */
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_INT4, 1, DIMS(2), UINT8S(0xf9, 0x07))};
    builder *b = builder_single_node(21, "Cast", "x", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "to", ONYX_DTYPE_INT8);
    run_result r = run_ok(b, 1, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT8, 1, DIMS(2), INT8S(-7, 7), 0);
    run_result_free(&r);
    builder_free(b);
    in[0] = tensor_of(ONYX_DTYPE_UINT2, 1, DIMS(2), UINT8S(0xfe, 0x01));
    b = builder_single_node(25, "Cast", "x", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "to", ONYX_DTYPE_FLOAT);
    r = run_ok(b, 1, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 1), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(narrow_dtypes, blocked_quantize_with_a_partial_last_block)
{
    /* x [1, 5] in blocks of 2 along axis 1: scales for columns {0,1}, {2,3}, {4}. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 5), FLOATS(10, -10, 7, 9, 100)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), FLOATS(2, 3, 4)),
                         tensor_of(ONYX_DTYPE_INT4, 2, DIMS(1, 3), INT8S(1, 0, -1))};
    builder *b = builder_single_node(21, "QuantizeLinear", "x,s,z", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    builder_attr_int(b, builder_first_node(b), "block_size", 2);
    run_result r = run_ok(b, 3, in);
    /* 10/2+1 = 6, -10/2+1 = -4, 7/3 = 2.33 -> 2, 9/3 = 3, 100/4-1 = 24 -> 7 (saturated). */
    expect_codes(&r.outputs[0], ONYX_DTYPE_INT4, 5, (const uint8_t[]){6, (uint8_t)-4, 2, 3, 7});
    run_result_free(&r);
    builder_free(b);
}

Test(narrow_dtypes, blocked_scale_must_cover_x)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 5), FLOATS(1, 2, 3, 4, 5)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 2), FLOATS(1, 2))};
    builder *b = builder_single_node(21, "QuantizeLinear", "x,s", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    builder_attr_int(b, builder_first_node(b), "block_size", 2); /* 5 columns need 3 blocks */
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "QuantizeLinear", "'s'", "block", NULL);
    builder_free(b);
}

Test(narrow_dtypes, quantize_output_dtype_must_agree_with_the_zero_point)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1)),
                         tensor_of(ONYX_DTYPE_UINT8, 0, NULL, UINT8S(0))};
    builder *b = builder_single_node(21, "QuantizeLinear", "x,s,z", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "output_dtype", ONYX_DTYPE_INT16);
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "QuantizeLinear", "output_dtype", "int16", "uint8", NULL);
    builder_free(b);
    /* int2 came with QuantizeLinear-25. */
    b = builder_single_node(23, "QuantizeLinear", "x,s", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "output_dtype", ONYX_DTYPE_INT2);
    r = run_model(b, 2, in);
    cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED);
    expect_message(r.message, "QuantizeLinear", "int2", NULL);
    builder_free(b);
}

Test(narrow_dtypes, quantize_precision_must_be_a_float_type)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1))};
    builder *b = builder_single_node(23, "QuantizeLinear", "x,s", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "precision", ONYX_DTYPE_DOUBLE);
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED);
    expect_message(r.message, "QuantizeLinear", "precision", "double", NULL);
    builder_free(b);
}

Test(narrow_dtypes, dequantize_with_a_float8e8m0_scale)
{
    /* Scales 2^(code - 127): 2^-2 and 2^3. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT4, 1, DIMS(2), INT8S(-8, 7)),
                         tensor_of(ONYX_DTYPE_FLOAT8E8M0, 1, DIMS(2), UINT8S(125, 130))};
    builder *b = builder_single_node(24, "DequantizeLinear", "x,s", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "axis", 0);
    builder_attr_int(b, builder_first_node(b), "output_dtype", ONYX_DTYPE_FLOAT);
    run_result r = run_ok(b, 2, in);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(-2, 56), 0);
    run_result_free(&r);
    builder_free(b);
    /* Without output_dtype y would be float8e8m0, which DequantizeLinear does not give. */
    b = builder_single_node(24, "DequantizeLinear", "x,s", in, 0, "y");
    builder_attr_int(b, builder_first_node(b), "axis", 0);
    r = run_model(b, 2, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "DequantizeLinear", "float8e8m0", "output_dtype", NULL);
    builder_free(b);
}
