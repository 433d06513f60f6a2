/* Edge cases of the elementwise operators beyond the ONNX test suite: integer wrapping and
 * division by zero, NaN and infinities, rounding, attribute defaults, broadcasting of variadic
 * inputs and the pre-opset-7/8 broadcasting rules. Expected values are worked out from the
 * operator specifications (numpy's reference semantics), by hand. */
#include "harness.h"

#include <math.h>
#include <string.h>

#define INT32S(...) ((const int32_t[]){__VA_ARGS__})
#define INT8S(...) ((const int8_t[]){__VA_ARGS__})
#define UINT8S(...) ((const uint8_t[]){__VA_ARGS__})
#define UINT64S(...) ((const uint64_t[]){__VA_ARGS__})

/* Runs b on its n inputs and checks output OUT against `want`: floating point within `tol`,
 * every other dtype byte for byte. Frees b. */
static void expect_output(builder *b, int n, const onyx_tensor *inputs, onyx_tensor want, double tol)
{
    run_result r = run_model(b, n, inputs);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    const onyx_tensor *got = &r.outputs[0];
    if (want.dtype == ONYX_DTYPE_FLOAT || want.dtype == ONYX_DTYPE_DOUBLE) {
        expect_tensor(got, want.dtype, want.rank, want.dims, want.data, tol);
    } else {
        cr_assert_eq(got->dtype, want.dtype, "dtype %s, expected %s", onyx_dtype_name(got->dtype),
                     onyx_dtype_name(want.dtype));
        cr_assert_eq(got->rank, want.rank);
        cr_assert(!memcmp(got->dims, want.dims, (size_t)want.rank * sizeof want.dims[0]), "shape differs");
        size_t bytes = (size_t)onyx_tensor_element_count(&want) * onyx_dtype_size(want.dtype);
        cr_assert(!memcmp(got->data, want.data, bytes), "values differ");
    }
    run_result_free(&r);
    builder_free(b);
}

/* Loading b fails with `status` and a message naming every given part. Frees b. */
#define EXPECT_LOAD_ERROR(b, n, inputs, status, ...)                                           \
    do {                                                                                       \
        run_result r_ = run_model(b, n, inputs);                                               \
        cr_assert_eq(r_.load, status, "load gave %d: %s", r_.load, r_.message);                \
        expect_message(r_.message, __VA_ARGS__, NULL);                                         \
        builder_free(b);                                                                       \
    } while (0)

/* ---- unary ------------------------------------------------------------------------------ */

Test(elementwise, abs_and_neg_of_the_most_negative_integer_wrap)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(-5, INT32_MIN, 7));
    expect_output(builder_single_node(13, "Abs", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(5, INT32_MIN, 7)), 0);
    onyx_tensor y = tensor_of(ONYX_DTYPE_INT8, 1, DIMS(3), INT8S(-128, 5, 0));
    expect_output(builder_single_node(13, "Neg", "X", &y, 0, "OUT"), 1, &y,
                  tensor_of(ONYX_DTYPE_INT8, 1, DIMS(3), INT8S(-128, -5, 0)), 0);
}

Test(elementwise, round_halves_to_even)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(6), FLOATS(0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 2.4f));
    expect_output(builder_single_node(11, "Round", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(6), FLOATS(0, 2, 2, 0, -2, 2)), 0);
}

Test(elementwise, sign_of_zero_nan_and_unsigned)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(-2, -0.0f, 3, NAN, INFINITY));
    builder *b = builder_single_node(13, "Sign", "X", &x, 0, "OUT");
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(-1, 0, 1, NAN, 1), 0);
    cr_assert(!signbit(((const float *)r.outputs[0].data)[1]), "sign(-0) is +0, as numpy gives");
    run_result_free(&r);
    builder_free(b);

    onyx_tensor u = tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(3), UINT64S(0, 7, UINT64_MAX));
    expect_output(builder_single_node(13, "Sign", "X", &u, 0, "OUT"), 1, &u,
                  tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(3), UINT64S(0, 1, 1)), 0);
}

Test(elementwise, isinf_flags_and_isnan)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(4), ((const double[]){-INFINITY, INFINITY, 1, NAN}));
    builder *b = builder_single_node(10, "IsInf", "X", &x, 0, "OUT");
    builder_attr_int(b, builder_first_node(b), "detect_negative", 0);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(4), BOOLS(0, 1, 0, 0)), 0);
    b = builder_single_node(10, "IsInf", "X", &x, 0, "OUT");
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(4), BOOLS(1, 1, 0, 0)), 0);
    expect_output(builder_single_node(13, "IsNaN", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(4), BOOLS(0, 0, 0, 1)), 0);
}

Test(elementwise, not_of_bool)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(1, 2), BOOLS(1, 0));
    expect_output(builder_single_node(1, "Not", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(1, 2), BOOLS(0, 1)), 0);
}

Test(elementwise, unsupported_dtype_is_reported_at_load)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(1), INT32S(1));
    builder *b = builder_single_node(13, "Exp", "X", &x, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 1, &x, ONYX_ERROR_UNSUPPORTED, "Exp", "int32");
}

/* ---- activations ------------------------------------------------------------------------ */

Test(elementwise, sigmoid_and_softplus_stay_finite_for_large_inputs)
{
    /* 1 / (1 + e^100) = 3.72e-44 (a float32 subnormal); log(1 + e^100) = 100. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-100, 0, 100));
    expect_output(builder_single_node(13, "Sigmoid", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(3.72e-44f, 0.5f, 1)), 1e-6);
    expect_output(builder_single_node(1, "Softplus", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(3.72e-44f, 0.693147182f, 100)), 1e-6);
}

Test(elementwise, activation_attributes_and_defaults)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(-2, -1, 1, 2));
    /* Celu alpha 2: 2 * (e^(x/2) - 1) below 0: -1.26424112, -0.786938681. */
    builder *b = builder_single_node(12, "Celu", "X", &x, 0, "OUT");
    builder_attr_float(b, builder_first_node(b), "alpha", 2);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(-1.26424112f, -0.786938681f, 1, 2)), 1e-6);
    /* Selu defaults: gamma * alpha * (e^x - 1) = 1.05070102 * 1.67326319 * (e^x - 1). */
    expect_output(builder_single_node(6, "Selu", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(-1.52016647f, -1.11133074f, 1.05070102f, 2.10140204f)),
                  1e-6);
    /* Shrink lambd 1.5, bias 0.5: |x| <= 1.5 gives 0, else x -/+ bias toward 0. */
    b = builder_single_node(9, "Shrink", "X", &x, 0, "OUT");
    builder_attr_float(b, builder_first_node(b), "lambd", 1.5f);
    builder_attr_float(b, builder_first_node(b), "bias", 0.5f);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(-1.5f, 0, 0, 1.5f)), 0);
    /* ThresholdedRelu default alpha 1: x > 1 passes, x == 1 does not. */
    expect_output(builder_single_node(10, "ThresholdedRelu", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(0, 0, 0, 2)), 0);
    /* HardSigmoid alpha 0.5, beta 0.25: clip(0.5 x + 0.25, 0, 1). */
    b = builder_single_node(6, "HardSigmoid", "X", &x, 0, "OUT");
    builder_attr_float(b, builder_first_node(b), "alpha", 0.5f);
    builder_attr_float(b, builder_first_node(b), "beta", 0.25f);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(0, 0, 0.75f, 1)), 0);
    /* LeakyRelu default alpha 0.01. */
    expect_output(builder_single_node(16, "LeakyRelu", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(-0.02f, -0.01f, 1, 2)), 1e-7);
}

Test(elementwise, hard_swish_and_elu_in_double)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(4), ((const double[]){-4, -1, 1, 4}));
    /* x * clip(x / 6 + 1/2, 0, 1). */
    expect_output(builder_single_node(14, "HardSwish", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(4), ((const double[]){0, -1.0 / 3, 2.0 / 3, 4})),
                  1e-7);
    /* Elu alpha 0.5: 0.5 * (e^x - 1) below 0. */
    builder *b = builder_single_node(6, "Elu", "X", &x, 0, "OUT");
    builder_attr_float(b, builder_first_node(b), "alpha", 0.5f);
    expect_output(b, 1, &x,
                  tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(4), ((const double[]){-0.490842180, -0.316060279, 1, 4})), 1e-8);
}

Test(elementwise, activation_keeps_nan)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(NAN));
    expect_output(builder_single_node(6, "HardSigmoid", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(NAN)), 0);
    expect_output(builder_single_node(13, "Clip", "X", &x, 0, "OUT"), 1, &x,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(NAN)), 0);
}

/* ---- Clip ------------------------------------------------------------------------------- */

Test(elementwise, clip_inputs_absent_leave_values_unbounded)
{
    /* Only max given (min absent): infinities below stay; an absent bound clips nothing. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-INFINITY, 0.5f, INFINITY)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1))};
    expect_output(builder_single_node(13, "Clip", "X,,MAX", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-INFINITY, 0.5f, 1)), 0);
    onyx_tensor big = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(INT64_MIN, INT64_MAX));
    expect_output(builder_single_node(13, "Clip", "X", &big, 0, "OUT"), 1, &big, big, 0);
}

Test(elementwise, clip_min_above_max_gives_max)
{
    /* numpy's clip is min(max(x, low), high): with low 2 > high 1, everything is 1. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT8, 1, DIMS(3), INT8S(-5, 0, 5)),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, INT8S(2)), tensor_of(ONYX_DTYPE_INT8, 0, NULL, INT8S(1))};
    expect_output(builder_single_node(12, "Clip", "X,MIN,MAX", in, 0, "OUT"), 3, in,
                  tensor_of(ONYX_DTYPE_INT8, 1, DIMS(3), INT8S(1, 1, 1)), 0);
}

Test(elementwise, clip_attributes_before_opset_11)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-3, 0, INFINITY));
    builder *b = builder_single_node(6, "Clip", "X", &x, 0, "OUT");
    builder_attr_float(b, builder_first_node(b), "min", -1);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-1, 0, INFINITY)), 0);
}

Test(elementwise, clip_bounds_must_be_one_value_of_the_input_dtype)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0, 0))};
    builder *b = builder_single_node(13, "Clip", "X,MIN", in, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "Clip", "'MIN'", "[2]", "one value");
    in[1] = tensor_of(ONYX_DTYPE_DOUBLE, 0, NULL, ((const double[]){0}));
    b = builder_single_node(13, "Clip", "X,MIN", in, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "Clip", "'MIN'", "same dtype");
}

/* ---- PRelu ------------------------------------------------------------------------------ */

Test(elementwise, prelu_slope_per_channel_before_opset_7)
{
    /* X [1,3,2], slope [3]: one slope per channel (axis 1), as Caffe2 and PyTorch do. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 2), FLOATS(-1, 1, -1, 1, -1, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3))};
    expect_output(builder_single_node(6, "PRelu", "X,SLOPE", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 3, 2), FLOATS(-1, 1, -2, 1, -3, 1)), 0);
    /* From opset 7 the slope broadcasts numpy-style, from the last axis: [3] against [..,2]. */
    builder *b = builder_single_node(16, "PRelu", "X,SLOPE", in, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "PRelu", "broadcast");
}

Test(elementwise, prelu_slope_must_not_grow_x)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(-1, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 3, 4))};
    builder *b = builder_single_node(16, "PRelu", "X,SLOPE", in, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "PRelu", "'SLOPE' [2,2]", "onto", "'X' [2]");
}

Test(elementwise, prelu_integer_product_wraps)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(-2, INT32_MIN, 5)),
                         tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(3))};
    /* -2 * 3 = -6; INT32_MIN * 3 wraps to INT32_MIN (3 * 2^31 = 2^31 mod 2^32). */
    expect_output(builder_single_node(16, "PRelu", "X,SLOPE", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(-6, INT32_MIN, 5)), 0);
}

/* ---- binary ----------------------------------------------------------------------------- */

Test(elementwise, mod_takes_the_divisors_sign_and_fmod_the_dividends)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT32, 1, DIMS(6), INT32S(-7, 7, -7, 7, 5, INT32_MIN)),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(6), INT32S(3, -3, -3, 3, 0, -1))};
    /* Divisor 0 and INT32_MIN mod -1 give 0 instead of trapping. */
    expect_output(builder_single_node(13, "Mod", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_INT32, 1, DIMS(6), INT32S(2, -2, -1, 1, 0, 0)), 0);
    builder *b = builder_single_node(13, "Mod", "A,B", in, 0, "OUT");
    builder_attr_int(b, builder_first_node(b), "fmod", 1);
    expect_output(b, 2, in, tensor_of(ONYX_DTYPE_INT32, 1, DIMS(6), INT32S(-1, 1, -1, 1, 0, 0)), 0);
}

Test(elementwise, mod_of_floats_requires_fmod)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(-7.5f, 7.5f)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 0))};
    builder *b = builder_single_node(13, "Mod", "A,B", in, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "Mod", "'fmod'", "float");
    b = builder_single_node(13, "Mod", "A,B", in, 0, "OUT");
    builder_attr_int(b, builder_first_node(b), "fmod", 1);
    expect_output(b, 2, in, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(-1.5f, NAN)), 0);
}

Test(elementwise, mod_28_of_bfloat16_floors)
{
    /* bfloat16 bits: -7.5 0xC0F0, 7.5 0x40F0, 2 0x4000, -2 0xC000; -7.5 mod 2 = 0.5 (0x3F00),
     * 7.5 mod -2 = -0.5 (0xBF00), 4 mod -2 = -0 (0x8000: a zero takes the divisor's sign). */
    static const uint16_t a[3] = {0xC0F0, 0x40F0, 0x4080}, b[3] = {0x4000, 0xC000, 0xC000};
    static const uint16_t want[3] = {0x3F00, 0xBF00, 0x8000};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_BFLOAT16, 1, DIMS(3), a),
                         tensor_of(ONYX_DTYPE_BFLOAT16, 1, DIMS(3), b)};
    expect_output(builder_single_node(28, "Mod", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BFLOAT16, 1, DIMS(3), want), 0);
}

Test(elementwise, bitshift_by_the_width_or_more_gives_zero)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(4), UINT8S(1, 1, 255, 255)),
                         tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(4), UINT8S(7, 8, 1, 200))};
    builder *b = builder_single_node(11, "BitShift", "X,Y", in, 0, "OUT");
    builder_attr_string(b, builder_first_node(b), "direction", "LEFT");
    expect_output(b, 2, in, tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(4), UINT8S(128, 0, 254, 0)), 0);
    b = builder_single_node(11, "BitShift", "X,Y", in, 0, "OUT");
    builder_attr_string(b, builder_first_node(b), "direction", "RIGHT");
    expect_output(b, 2, in, tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(4), UINT8S(0, 0, 127, 0)), 0);
    b = builder_single_node(11, "BitShift", "X,Y", in, 0, "OUT");
    builder_attr_string(b, builder_first_node(b), "direction", "UP");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "BitShift", "'direction'", "UP");
}

Test(elementwise, comparisons_of_large_unsigned_and_equal_values)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(3), UINT64S(1ull << 63, 1, 5)),
                         tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(3), UINT64S(1, 1ull << 63, 5))};
    expect_output(builder_single_node(13, "Greater", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(3), BOOLS(1, 0, 0)), 0);
    expect_output(builder_single_node(13, "Less", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(3), BOOLS(0, 1, 0)), 0);
    expect_output(builder_single_node(16, "GreaterOrEqual", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(3), BOOLS(1, 0, 1)), 0);
    expect_output(builder_single_node(16, "LessOrEqual", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(3), BOOLS(0, 1, 1)), 0);
}

Test(elementwise, comparison_with_nan_is_false)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(NAN, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(NAN))};
    expect_output(builder_single_node(16, "LessOrEqual", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(2), BOOLS(0, 0)), 0);
}

Test(elementwise, legacy_broadcast_from_an_axis_at_opset_1)
{
    /* A [2,3], B [2] with broadcast=1, axis=0: B[i] compared with row i. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(1, 2, 3, 1, 2, 3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 3))};
    builder *b = builder_single_node(1, "Less", "A,B", in, 0, "OUT");
    builder_attr_int(b, builder_first_node(b), "broadcast", 1);
    builder_attr_int(b, builder_first_node(b), "axis", 0);
    expect_output(b, 2, in, tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(2, 3), BOOLS(1, 0, 0, 1, 1, 0)), 0);
    /* Without broadcast=1 the shapes must match. */
    b = builder_single_node(1, "Less", "A,B", in, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "Less", "broadcast");
}

Test(elementwise, boolean_operators_broadcast)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(2, 1), BOOLS(0, 1)),
                         tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(2), BOOLS(0, 1))};
    expect_output(builder_single_node(7, "And", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(2, 2), BOOLS(0, 0, 0, 1)), 0);
    expect_output(builder_single_node(7, "Or", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(2, 2), BOOLS(0, 1, 1, 1)), 0);
    expect_output(builder_single_node(7, "Xor", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(2, 2), BOOLS(0, 1, 1, 0)), 0);
}

Test(elementwise, pow_integer_base_converts_back_without_overflow)
{
    /* 2^40 clamps to INT32_MAX, (-8)^0.5 is NaN -> 0, 2^-1 = 0.5 truncates to 0. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(2, -8, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(40, 0.5f, -1))};
    expect_output(builder_single_node(15, "Pow", "X,Y", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(INT32_MAX, 0, 0)), 0);
}

Test(elementwise, pow_with_unsigned_exponents)
{
    /* (-1)^(2^63 + 1) is -1 (odd), 3^2 = 9; float 2^3 = 8. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(-1, 3)),
                         tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(2), UINT64S((1ull << 63) + 1, 2))};
    expect_output(builder_single_node(15, "Pow", "X,Y", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(-1, 9)), 0);
    onyx_tensor f[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(2)),
                        tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(1), UINT64S(3))};
    expect_output(builder_single_node(15, "Pow", "X,Y", f, 0, "OUT"), 2, f,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(8)), 0);
}

Test(elementwise, castlike_takes_the_dtype_not_the_values)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(-2.7f, NAN, 3.5f)),
                         tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(99))};
    expect_output(builder_single_node(15, "CastLike", "X,LIKE", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(-2, 0, 3)), 0);
}

/* ---- variadic --------------------------------------------------------------------------- */

Test(elementwise, sum_and_mean_broadcast_every_input)
{
    /* [2,1] + [3] + [] -> [2,3]. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(10, 20, 30)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(100))};
    expect_output(builder_single_node(13, "Sum", "A,B,C", in, 0, "OUT"), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(111, 121, 131, 112, 122, 132)), 0);
    expect_output(builder_single_node(13, "Mean", "A,B,C", in, 0, "OUT"), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3),
                            FLOATS(37, 121.0f / 3, 131.0f / 3, 112.0f / 3, 122.0f / 3, 44)),
                  1e-6);
}

Test(elementwise, max_and_min_propagate_nan)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(NAN, 1, 5)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(0, NAN, 2))};
    expect_output(builder_single_node(13, "Max", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(NAN, NAN, 5)), 0);
    expect_output(builder_single_node(13, "Min", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(NAN, NAN, 2)), 0);
}

Test(elementwise, min_of_one_and_of_unsigned_inputs)
{
    onyx_tensor one = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(INT64_MIN, 4));
    expect_output(builder_single_node(13, "Min", "A", &one, 0, "OUT"), 1, &one, one, 0);
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(2), UINT64S(UINT64_MAX, 3)),
                         tensor_of(ONYX_DTYPE_UINT64, 0, NULL, UINT64S(1ull << 63)),
                         tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(1), UINT64S(UINT64_MAX - 1))};
    expect_output(builder_single_node(13, "Min", "A,B,C", in, 0, "OUT"), 3, in,
                  tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(2), UINT64S(1ull << 63, 3)), 0);
    expect_output(builder_single_node(13, "Max", "A,B,C", in, 0, "OUT"), 3, in,
                  tensor_of(ONYX_DTYPE_UINT64, 1, DIMS(2), UINT64S(UINT64_MAX, UINT64_MAX - 1)), 0);
}

Test(elementwise, max_over_many_tasks_with_repeated_first_input)
{
    /* A [300,1] and B [1,100]: 30000 outputs, more than one task (16384 elements each), so
     * row 163 is cut at column 84 between tasks; A's values repeat along each row.
     * Max(i, 100 + 2j) at (i, j): B's values win on that row's cut part. */
    enum { ROWS = 300, COLS = 100 };
    static float a[ROWS], b[COLS], want[ROWS * COLS];
    for (int i = 0; i < ROWS; i++)
        a[i] = (float)i;
    for (int j = 0; j < COLS; j++)
        b[j] = (float)(100 + 2 * j);
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < COLS; j++)
            want[i * COLS + j] = a[i] > b[j] ? a[i] : b[j];
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(ROWS, 1), a), tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, COLS), b)};
    expect_output(builder_single_node(13, "Max", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(ROWS, COLS), want), 0);
}

Test(elementwise, variadic_inputs_must_match_before_opset_8)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1))};
    builder *b = builder_single_node(6, "Sum", "A,B", in, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "Sum", "'A' [2]", "'B' []", "opset 6");
    /* The same at opset 8 broadcasts. */
    expect_output(builder_single_node(8, "Sum", "A,B", in, 0, "OUT"), 2, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 3)), 0);
}

Test(elementwise, variadic_inputs_must_share_a_dtype)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(1), ((const double[]){1}))};
    builder *b = builder_single_node(13, "Max", "A,B", in, 0, "OUT");
    EXPECT_LOAD_ERROR(b, 2, in, ONYX_ERROR_INVALID_MODEL, "Max", "'B'", "same dtype");
}
