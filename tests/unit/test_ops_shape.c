/* Edge cases of the shape and indexing operators beyond the ONNX test suite: index
 * validation, duplicate scatter indices, data-dependent output shapes (run node by node),
 * integer extremes, and the padding and reshaping corner cases of each spec. Expected values
 * are worked out by hand (or with numpy where noted) from the operator specifications. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Runs b on the inputs that are not constants. */
static run_result run_node(builder *b, int n_inputs, const onyx_tensor *inputs, unsigned constants)
{
    onyx_tensor fed[8];
    int n = 0;
    for (int i = 0; i < n_inputs; i++)
        if (!(constants & (1u << i)))
            fed[n++] = inputs[i];
    return run_model(b, n, fed);
}

/* Builds, runs and frees a one-node model whose inputs are all graph inputs, with one int
 * attribute when `attr` is not NULL. */
static run_result run_op(int opset, const char *op, int n_inputs, const onyx_tensor *inputs, const char *attr,
                         int64_t value)
{
    static const char *const names[] = {"", "A", "A,B", "A,B,C", "A,B,C,D", "A,B,C,D,E"}; /* by n_inputs */
    builder *b = builder_single_node(opset, op, names[n_inputs], inputs, 0, "Y");
    if (attr)
        builder_attr_int(b, builder_first_node(b), attr, value);
    run_result r = run_node(b, n_inputs, inputs, 0);
    builder_free(b);
    return r;
}

/* Asserts got's shape: for outputs with no elements, or whose values are checked apart. */
static void expect_shape(const onyx_tensor *got, int rank, const int64_t *dims)
{
    cr_assert_eq(got->rank, rank, "rank %d, expected %d", got->rank, rank);
    for (int i = 0; i < rank; i++)
        cr_assert_eq(got->dims[i], dims[i], "dim %d is %lld, expected %lld", i, (long long)got->dims[i],
                     (long long)dims[i]);
}

#define INT32S(...) ((const int32_t[]){__VA_ARGS__})
#define DOUBLES(...) ((const double[]){__VA_ARGS__})

/* ---- Flatten, Reshape, Size -------------------------------------------------------------- */

Test(shape, flatten_axis_at_either_end)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), x);
    run_result r = run_op(13, "Flatten", 1, &in, "axis", 3); /* the rank itself: [6, 1] */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(6, 1), x, 0);
    run_result_free(&r);
    r = run_op(13, "Flatten", 1, &in, "axis", -3); /* = 0: [1, 6] */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(1, 6), x, 0);
    run_result_free(&r);
    r = run_op(13, "Flatten", 1, &in, "axis", 4);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Flatten", "axis 4", NULL);
}

Test(shape, reshape_opset_1_takes_the_shape_attribute)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), x);
    builder *b = builder_single_node(1, "Reshape", "A", &in, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "shape", 2, INT64S(3, -1));
    run_result r = run_node(b, 1, &in, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), x, 0);
    run_result_free(&r);
    builder_free(b);
}

Test(shape, reshape_with_overflowing_shape_is_an_error)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(INT64_C(1) << 40, INT64_C(1) << 40, 16))};
    builder *b = builder_single_node(13, "Reshape", "A,B", in, 2, "Y");
    run_result r = run_node(b, 2, in, 2);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Reshape", "overflows", NULL);
    builder_free(b);
}

Test(shape, size_counts_elements_of_empty_tensors_too)
{
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 0, 3), NULL);
    run_result r = run_op(13, "Size", 1, &in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 0, NULL, INT64S(0), 0);
    run_result_free(&r);
    in = tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(3, 5), BOOLS(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    r = run_op(1, "Size", 1, &in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 0, NULL, INT64S(15), 0);
    run_result_free(&r);
}

Test(shape, split_sizes_computed_at_run_time)
{
    /* The sizes are a graph input of symbolic length: known only when running. */
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(3), NULL);
    builder_input(b, "S", ONYX_DTYPE_INT64, 1, DIMS(-1), NULL);
    builder_node(b, "Split", "X,S", "Y,Z");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    builder_output(b, "Z", ONYX_DTYPE_FLOAT);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, 2))};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 3), 0);
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(INT64_MAX, 4));
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Split", "out of range", NULL);
    builder_free(b);
}

/* Split-18 into n outputs by num_outputs: a one-node model over X (and the sizes S when given). */
static run_result run_split_18(const onyx_tensor *x, int n_outputs, int64_t num_outputs,
                               const onyx_tensor *sizes)
{
    onyx_tensor in[2] = {*x, sizes ? *sizes : *x};
    static const char *const outputs[] = {"", "Y", "Y,Z", "Y,Z,W", "Y,Z,W,V"}; /* by n_outputs */
    builder *b = builder_single_node(18, "Split", sizes ? "A,B" : "A", in, 2, outputs[n_outputs]);
    builder_attr_int(b, builder_first_node(b), "num_outputs", num_outputs);
    run_result r = run_node(b, sizes ? 2 : 1, in, 2);
    builder_free(b);
    return r;
}

Test(shape, split_18_num_outputs_leaves_a_smaller_last_part)
{
    /* 4 in 3 parts: chunks of ceil(4 / 3) = 2, the last takes the 0 left (numpy.array_split
     * would give 2, 1, 1: ONNX's rule differs). */
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(1, 2, 3, 4));
    run_result r = run_split_18(&x, 3, 3, NULL);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, 2), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(3, 4), 0);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_INT64, 1, DIMS(0), NULL, 0);
    run_result_free(&r);
}

Test(shape, split_18_num_outputs_is_checked)
{
    /* 5 in 4 parts of 2 would need a last part of -1: refused when the node is planned (at
     * load it might be in an If branch that never runs). */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(1, 2, 3, 4, 5));
    run_result r = run_split_18(&x, 4, 4, NULL);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Split", "cannot be split", NULL);
    run_result_free(&r);
    r = run_split_18(&x, 2, 3, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Split", "num_outputs", "2 outputs", NULL);
    onyx_tensor sizes = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(2, 3));
    r = run_split_18(&x, 2, 2, &sizes);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Split", "not both", NULL);
}

/* ---- Range ------------------------------------------------------------------------------- */

Test(shape, range_counts_exactly_at_int64_extremes)
{
    /* [MAX - 2, MAX) by 1: two values; limit - start alone would not overflow, but a
     * negative range down from MAX to MIN would: its count is ceil((2^64 - 1) / 2^62) = 4. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(INT64_MAX - 2)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(INT64_MAX)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(1))};
    run_result r = run_op(11, "Range", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 1, DIMS(2));
    cr_assert_eq(((int64_t *)r.outputs[0].data)[0], INT64_MAX - 2);
    cr_assert_eq(((int64_t *)r.outputs[0].data)[1], INT64_MAX - 1);
    run_result_free(&r);

    in[0] = tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(INT64_MAX));
    in[1] = tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(INT64_MIN));
    in[2] = tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(-(INT64_C(1) << 62)));
    r = run_op(11, "Range", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    /* MAX - k * 2^62 for k < 4, written so that the test itself does not overflow. */
    const int64_t want[4] = {INT64_MAX, INT64_MAX - (INT64_C(1) << 62), -1, -(INT64_C(1) << 62) - 1};
    expect_shape(&r.outputs[0], 1, DIMS(4));
    cr_assert_arr_eq(r.outputs[0].data, want, sizeof want);
    run_result_free(&r);
}

Test(shape, range_of_floats_rounds_the_count_up)
{
    /* ceil((1 - 0) / 0.3) = 4: 0, 0.3, 0.6, 0.9. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_DOUBLE, 0, NULL, DOUBLES(0)), tensor_of(ONYX_DTYPE_DOUBLE, 0, NULL, DOUBLES(1)),
                         tensor_of(ONYX_DTYPE_DOUBLE, 0, NULL, DOUBLES(0.3))};
    run_result r = run_op(11, "Range", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 1, DIMS(4), DOUBLES(0, 0.3, 0.6, 0.9), 1e-12);
    run_result_free(&r);
}

Test(shape, range_27_of_float16_steps_in_float)
{
    /* float16 2048 (0x6800) to 2052 (0x6802) by 1 (0x3C00): halves are 2 apart there, so
     * stepping in float16 would stay at 2048; in float the values are 2048, 2049, 2050 and
     * 2051, rounded half to even: 2048, 2048, 2050 (0x6801), 2052. */
    static const uint16_t start = 0x6800, limit = 0x6802, delta = 0x3C00;
    static const uint16_t want[4] = {0x6800, 0x6800, 0x6801, 0x6802};
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT16, 0, NULL, &start),
                         tensor_of(ONYX_DTYPE_FLOAT16, 0, NULL, &limit),
                         tensor_of(ONYX_DTYPE_FLOAT16, 0, NULL, &delta)};
    run_result r = run_op(27, "Range", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 1, DIMS(4));
    cr_assert_arr_eq(r.outputs[0].data, want, sizeof want);
    run_result_free(&r);
    r = run_op(27, "Range", 3, in, "stash_type", ONYX_DTYPE_FLOAT16);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Range", "stash_type", NULL);
    r = run_op(11, "Range", 3, in, NULL, 0); /* no float16 before opset 27 */
    cr_assert_neq(r.load, ONYX_OK);
}

Test(shape, range_with_zero_delta_or_nan_is_a_runtime_error)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(0)), tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(5)),
                         tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(0))};
    run_result r = run_op(11, "Range", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "Range", "delta is 0", NULL);
    onyx_tensor f[3] = {tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0)), tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(NAN)),
                        tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1))};
    r = run_op(11, "Range", 3, f, NULL, 0);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "Range", "no finite count", NULL);
}

Test(shape, range_longer_than_the_element_limit_is_refused_before_it_is_split)
{
    /* 0 to INT64_MAX by 1: a count of 2^63 - 1, refused as a limit (its split into tasks once
     * overflowed first). */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(0)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(INT64_MAX)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(1))};
    run_result r = run_op(11, "Range", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_ERROR_LIMIT, "%s", r.message);
    expect_message(r.message, "Range", "9223372036854775807 elements", NULL);
}

Test(shape, range_empty_when_delta_points_away)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT16, 0, NULL, (const int16_t[]){3}),
                         tensor_of(ONYX_DTYPE_INT16, 0, NULL, (const int16_t[]){5}),
                         tensor_of(ONYX_DTYPE_INT16, 0, NULL, (const int16_t[]){-1})};
    run_result r = run_op(11, "Range", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 1, DIMS(0));
    run_result_free(&r);
}

/* ---- Tile -------------------------------------------------------------------------------- */

Test(shape, tile_repeats_each_axis_and_zero_empties)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT32, 2, DIMS(2, 1), INT32S(1, 2)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(2, 3))};
    run_result r = run_op(13, "Tile", 2, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 2, DIMS(4, 3), INT32S(1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2), 0);
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(0, 3));
    r = run_op(13, "Tile", 2, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 2, DIMS(0, 3));
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, -1));
    r = run_op(13, "Tile", 2, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Tile", "negative", NULL);
}

/* ---- Pad --------------------------------------------------------------------------------- */

/* Pad-13 of x with `pads` (an initializer) in `mode`; constant value from `value` when not NULL. */
static run_result run_pad(const onyx_tensor *x, int n_pads, const int64_t *pads, const char *mode,
                          const onyx_tensor *value)
{
    onyx_tensor in[3] = {*x, tensor_of(ONYX_DTYPE_INT64, 1, DIMS(n_pads), pads), value ? *value : *x};
    builder *b = builder_single_node(13, "Pad", value ? "A,B,C" : "A,B", in, 2, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", mode);
    run_result r = run_node(b, value ? 3 : 2, in, 2);
    builder_free(b);
    return r;
}

Test(shape, pad_reflect_beyond_the_axis_repeats_the_mirror)
{
    /* numpy.pad([1, 2, 3], (4, 0), 'reflect') = [1, 2, 3, 2, 1, 2, 3]. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3));
    run_result r = run_pad(&x, 2, INT64S(4, 0), "reflect", NULL);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(7), FLOATS(1, 2, 3, 2, 1, 2, 3), 0);
    run_result_free(&r);
    /* numpy.pad([1, 2, 3], (0, 5), 'reflect') = [1, 2, 3, 2, 1, 2, 3, 2]. */
    r = run_pad(&x, 2, INT64S(0, 5), "reflect", NULL);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(8), FLOATS(1, 2, 3, 2, 1, 2, 3, 2), 0);
    run_result_free(&r);
}

Test(shape, pad_edge_on_outer_and_inner_axes)
{
    /* numpy.pad([[1, 2], [3, 4]], ((1, 0), (0, 2)), 'edge'). */
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 2), INT64S(1, 2, 3, 4));
    run_result r = run_pad(&x, 4, INT64S(1, 0, 0, 2), "edge", NULL);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 2, DIMS(3, 4), INT64S(1, 2, 2, 2, 1, 2, 2, 2, 3, 4, 4, 4), 0);
    run_result_free(&r);
}

Test(shape, pad_negative_pads_crop_and_constant_fills_whole_rows)
{
    /* Rows: one constant row before; columns: one cropped at the start, one 9 at the end. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT32, 2, DIMS(2, 3), INT32S(1, 2, 3, 4, 5, 6));
    onyx_tensor nine = tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(9));
    run_result r = run_pad(&x, 4, INT64S(1, -1, 0, 1), "constant", &nine);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 2, DIMS(3, 3), INT32S(9, 9, 9, 2, 3, 9, 5, 6, 9), 0);
    run_result_free(&r);
    r = run_pad(&x, 4, INT64S(0, -4, 0, 0), "constant", NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Pad", "axis 1", NULL);
}

Test(shape, pad_edge_of_an_empty_axis_is_an_error)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 0), NULL);
    run_result r = run_pad(&x, 4, INT64S(0, 1, 0, 1), "edge", NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Pad", "empty", NULL);
    r = run_pad(&x, 4, INT64S(0, 1, 0, 1), "constant", NULL); /* constant has no such need */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(0, 0, 0, 0), 0);
    run_result_free(&r);
}

Test(shape, pad_opset_2_attributes)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(2), DOUBLES(1, 2));
    builder *b = builder_single_node(2, "Pad", "A", &x, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "pads", 2, INT64S(1, 2));
    builder_attr_float(b, builder_first_node(b), "value", 1.5f);
    run_result r = run_node(b, 1, &x, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 1, DIMS(5), DOUBLES(1.5, 1, 2, 1.5, 1.5), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(shape, pad_pads_from_a_graph_input_run_node_by_node)
{
    /* The pads are not known when planning: the output shape waits for them. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(2, 1))};
    run_result r = run_op(11, "Pad", 2, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(0, 0, 1, 2, 0), 0);
    run_result_free(&r);
}

/* Pad at `opset` (18 or later) of x in `mode` with `pads` for the int32 `axes` (both
 * initializers; no axes input when n_axes < 0), no constant_value. */
static run_result run_pad_axes(int opset, const onyx_tensor *x, int n_pads, const int64_t *pads, int n_axes,
                               const int32_t *axes, const char *mode)
{
    onyx_tensor in[3] = {*x, tensor_of(ONYX_DTYPE_INT64, 1, DIMS(n_pads), pads),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(n_axes), axes)};
    builder *b = builder_single_node(opset, "Pad", n_axes >= 0 ? "X,P,,A" : "X,P", in, 6, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", mode);
    run_result r = run_model(b, 1, x);
    builder_free(b);
    return r;
}

Test(shape, pad_18_pads_only_the_named_axes)
{
    /* numpy.pad(x, ((0, 0), (1, 2))): axis -1 only. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT32, 2, DIMS(2, 3), INT32S(1, 2, 3, 4, 5, 6));
    run_result r = run_pad_axes(18, &x, 2, INT64S(1, 2), 1, INT32S(-1), "constant");
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 2, DIMS(2, 6),
                  INT32S(0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0), 0);
    run_result_free(&r);
    /* numpy.pad(x, ((1, 0), (0, 0)), 'wrap'): axis 0 only. */
    r = run_pad_axes(19, &x, 2, INT64S(1, 0), 1, INT32S(0), "wrap");
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 2, DIMS(3, 3), INT32S(4, 5, 6, 1, 2, 3, 4, 5, 6), 0);
    run_result_free(&r);
}

Test(shape, pad_19_wrap_repeats_the_axis_and_wraps_what_a_crop_leaves)
{
    /* numpy.pad([1, 2], (3, 0), 'wrap') = [2, 1, 2, 1, 2]. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2));
    run_result r = run_pad_axes(19, &x, 2, INT64S(3, 0), -1, NULL, "wrap");
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(2, 1, 2, 1, 2), 0);
    run_result_free(&r);
    /* Crop one at the start, wrap two at the end: numpy.pad([2, 3, 4, 5], (0, 2), 'wrap'). */
    x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(1, 2, 3, 4, 5));
    r = run_pad_axes(19, &x, 2, INT64S(-1, 2), -1, NULL, "wrap");
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(6), FLOATS(2, 3, 4, 5, 2, 3), 0);
    run_result_free(&r);
    /* Reflect of the one element a crop leaves: numpy.pad([3], (0, 3), 'reflect'). */
    x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3));
    r = run_pad_axes(19, &x, 2, INT64S(-2, 3), -1, NULL, "reflect");
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(3, 3, 3, 3), 0);
    run_result_free(&r);
    /* A crop of the whole axis leaves nothing to wrap. */
    r = run_pad_axes(19, &x, 2, INT64S(-3, 1), -1, NULL, "wrap");
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Pad", "axis 0 is empty once cropped", NULL);
}

Test(shape, pad_18_bad_axes_and_modes_are_rejected)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 2), FLOATS(1, 2));
    run_result r = run_pad_axes(18, &x, 2, INT64S(1, 1), -1, NULL, "wrap"); /* wrap is new in 19 */
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Pad", "mode 'wrap'", NULL);
    r = run_pad_axes(18, &x, 4, INT64S(1, 1, 1, 1), 2, INT32S(1, -1), "constant");
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Pad", "axis 1 is repeated", NULL);
    r = run_pad_axes(18, &x, 4, INT64S(1, 1, 1, 1), 1, INT32S(0), "constant");
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Pad", "4 values for 1 axes", NULL);
    r = run_pad_axes(18, &x, 2, INT64S(1, 1), 1, INT32S(2), "constant");
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Pad", "axes", NULL);
}

Test(shape, pad_18_axes_from_a_graph_input_run_node_by_node)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0))};
    builder *b = builder_new(18);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), NULL);
    builder_initializer(b, "P", ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(0, 1));
    builder_input(b, "A", ONYX_DTYPE_INT64, 1, DIMS(1), NULL);
    builder_attr_string(b, builder_node(b, "Pad", "X,P,,A", "Y"), "mode", "edge");
    builder_output(b, "Y", ONYX_DTYPE_UNDEFINED);
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(3, 1), FLOATS(1, 2, 2), 0);
    run_result_free(&r);
    builder_free(b);
}

/* ---- GatherElements, GatherND ------------------------------------------------------------ */

Test(shape, gather_elements_checks_every_index)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_INT32, 2, DIMS(2, 2), INT32S(-1, 0, 1, -2))};
    run_result r = run_op(13, "GatherElements", 2, in, "axis", 1);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(2, 1, 4, 3), 0);
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT32, 2, DIMS(2, 2), INT32S(0, 0, 0, -3));
    r = run_op(13, "GatherElements", 2, in, "axis", 1);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "GatherElements", "index -3", NULL);
}

Test(shape, gather_elements_indices_wider_than_data_are_rejected)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 2), INT64S(0, 0, 0, 0))};
    run_result r = run_op(13, "GatherElements", 2, in, "axis", 0);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "GatherElements", "exceed", NULL);
}

Test(shape, gather_nd_with_batch_dims_and_bad_index)
{
    /* data [2, 2, 2], batch_dims 1, indices [[1], [0]]: batch 0 row 1, batch 1 row 0. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT64, 3, DIMS(2, 2, 2), INT64S(0, 1, 2, 3, 4, 5, 6, 7)),
                         tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 1), INT64S(1, 0))};
    run_result r = run_op(13, "GatherND", 2, in, "batch_dims", 1);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 2, DIMS(2, 2), INT64S(2, 3, 4, 5), 0);
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 1), INT64S(-1, 2));
    r = run_op(13, "GatherND", 2, in, "batch_dims", 1);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "GatherND", "index 2", NULL);
}

/* ---- ScatterElements, ScatterND ---------------------------------------------------------- */

/* ScatterElements-16 with `reduction` along axis 0 of a 1-D data. */
static run_result run_scatter(onyx_dtype dtype, const void *data, int n_data, const int64_t *indices,
                              const void *updates, int n_updates, const char *reduction)
{
    onyx_tensor in[3] = {tensor_of(dtype, 1, DIMS(n_data), data), tensor_of(ONYX_DTYPE_INT64, 1, DIMS(n_updates), indices),
                         tensor_of(dtype, 1, DIMS(n_updates), updates)};
    builder *b = builder_single_node(16, "ScatterElements", "A,B,C", in, 0, "Y");
    if (reduction)
        builder_attr_string(b, builder_first_node(b), "reduction", reduction);
    run_result r = run_node(b, 3, in, 0);
    builder_free(b);
    return r;
}

Test(shape, scatter_duplicate_indices_apply_in_order)
{
    const float data[3] = {1, 1, 1}, updates[4] = {2, 3, 4, 5};
    const int64_t indices[4] = {1, 1, -2, 0};
    run_result r = run_scatter(ONYX_DTYPE_FLOAT, data, 3, indices, updates, 4, NULL); /* last write wins */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(5, 4, 1), 0);
    run_result_free(&r);
    r = run_scatter(ONYX_DTYPE_FLOAT, data, 3, indices, updates, 4, "add"); /* 1 + 2 + 3 + 4 */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(6, 10, 1), 0);
    run_result_free(&r);
    r = run_scatter(ONYX_DTYPE_FLOAT, data, 3, indices, updates, 4, "mul"); /* 1 * 2 * 3 * 4 */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(5, 24, 1), 0);
    run_result_free(&r);
}

Test(shape, scatter_integer_reductions_wrap)
{
    const int8_t data[2] = {127, -128}, updates[2] = {1, 2};
    run_result r = run_scatter(ONYX_DTYPE_INT8, data, 2, INT64S(0, 1), updates, 2, "add");
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT8, 1, DIMS(2), (const int8_t[]){-128, -126}, 0);
    run_result_free(&r);
    const int64_t big[1] = {INT64_MAX}, two[1] = {2};
    r = run_scatter(ONYX_DTYPE_INT64, big, 1, INT64S(0), two, 1, "mul"); /* 2 * (2^63 - 1) mod 2^64 = -2 */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    cr_assert_eq(((int64_t *)r.outputs[0].data)[0], -2);
    run_result_free(&r);
}

Test(shape, scatter_bad_index_and_bad_reduction)
{
    const float data[2] = {0, 0}, updates[1] = {1};
    run_result r = run_scatter(ONYX_DTYPE_FLOAT, data, 2, INT64S(2), updates, 1, NULL);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "ScatterElements", "index 2", NULL);
    r = run_scatter(ONYX_DTYPE_FLOAT, data, 2, INT64S(0), updates, 1, "max"); /* opset 18 */
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "reduction 'max'", NULL);
}

Test(shape, scatter_18_max_and_min_keep_nan_as_numpy)
{
    /* numpy's maximum / minimum: a NaN on either side gives NaN. Element 0 gets 5 then 2,
     * element 1 (NaN) gets 3, element 2 gets NaN then 7. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(4, NAN, 1)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(5), INT64S(0, 0, 1, 2, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(5, 2, 3, NAN, 7))};
    const char *reductions[2] = {"max", "min"};
    const float want[2][3] = {{5, NAN, NAN}, {2, NAN, NAN}};
    for (int i = 0; i < 2; i++) {
        builder *b = builder_single_node(18, "ScatterElements", "A,B,C", in, 0, "Y");
        builder_attr_string(b, builder_first_node(b), "reduction", reductions[i]);
        run_result r = run_node(b, 3, in, 0);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        const float *got = r.outputs[0].data;
        cr_assert(got[0] == want[i][0] && isnan(got[1]) && isnan(got[2]), "%s: %g %g %g", reductions[i],
                  got[0], got[1], got[2]);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(shape, scatter_nd_adds_duplicate_slices)
{
    /* data [3, 2]; rows 2, 2 and -3 (= 0) updated by adding. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(0, 0, 0, 0, 1, 1)),
                         tensor_of(ONYX_DTYPE_INT64, 2, DIMS(3, 1), INT64S(2, 2, -3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(1, 2, 10, 20, 5, 5))};
    builder *b = builder_single_node(16, "ScatterND", "A,B,C", in, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "reduction", "add");
    run_result r = run_node(b, 3, in, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(5, 5, 0, 0, 12, 23), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(shape, scatter_nd_updates_shape_is_checked)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(0, 0, 0, 0, 0, 0)),
                         tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, 1), INT64S(0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), FLOATS(1, 2, 3))};
    run_result r = run_op(13, "ScatterND", 3, in, NULL, 0);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "ScatterND", "[1,3]", "[1,2]", NULL);
}

Test(shape, scatter_nd_into_empty_slices_still_checks_indices)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 0), NULL), tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, 1), INT64S(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 0), NULL)};
    run_result r = run_op(13, "ScatterND", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 2, DIMS(2, 0));
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, 1), INT64S(2));
    r = run_op(13, "ScatterND", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "ScatterND", "index 2", NULL);
}

/* ---- OneHot, EyeLike --------------------------------------------------------------------- */

Test(shape, onehot_truncates_float_indices_and_skips_out_of_range)
{
    /* depth 3: 1.7 -> 1, -0.5 -> 0, 3 and NaN leave their column off, -3 -> 0. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(1.7f, -0.5f, 3, NAN, -3)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(3)),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(-1, 7))};
    run_result r = run_op(11, "OneHot", 3, in, "axis", 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 2, DIMS(3, 5),
                  INT32S(-1, 7, -1, -1, 7, /**/ 7, -1, -1, -1, -1, /**/ -1, -1, -1, -1, -1), 0);
    run_result_free(&r);
    /* Opset 9: negative indices are out of range. */
    r = run_op(9, "OneHot", 3, in, "axis", 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 2, DIMS(3, 5),
                  INT32S(-1, 7, -1, -1, -1, /**/ 7, -1, -1, -1, -1, /**/ -1, -1, -1, -1, -1), 0);
    run_result_free(&r);
}

Test(shape, onehot_negative_depth_is_a_runtime_error)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0)), tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(-2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0, 1))};
    run_result r = run_op(11, "OneHot", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "OneHot", "depth", NULL);
}

Test(shape, onehot_of_depth_zero_is_empty)
{
    /* -0.5 truncates to 0, which is no place of a depth-0 axis. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(-0.5f, 0)), tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0)),
                         tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(2), BOOLS(0, 1))};
    run_result r = run_op(11, "OneHot", 3, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 2, DIMS(2, 0));
    run_result_free(&r);
}

Test(shape, eyelike_off_diagonal_and_beyond)
{
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(9, 9, 9, 9, 9, 9));
    builder *b = builder_single_node(9, "EyeLike", "A", &in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "k", 2);
    builder_attr_int(b, builder_first_node(b), "dtype", ONYX_DTYPE_INT32);
    run_result r = run_node(b, 1, &in, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 2, DIMS(2, 3), INT32S(0, 0, 1, 0, 0, 0), 0);
    run_result_free(&r);
    builder_free(b);
    r = run_op(9, "EyeLike", 1, &in, "k", INT64_MIN); /* no diagonal: all zeros, no overflow */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(0, 0, 0, 0, 0, 0), 0);
    run_result_free(&r);
}

/* ---- NonZero, Compress: output sizes known only from the data ---------------------------- */

Test(shape, nonzero_treats_negative_zero_as_zero_and_nan_as_not)
{
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(-0.0f, NAN, 0, 2));
    run_result r = run_op(13, "NonZero", 1, &in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 2, DIMS(2, 2), INT64S(0, 1, 1, 1), 0);
    run_result_free(&r);
    in = tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(5)); /* a scalar: [0, 1], as the spec says */
    r = run_op(13, "NonZero", 1, &in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 2, DIMS(0, 1));
    run_result_free(&r);
}

Test(shape, nonzero_feeds_the_next_node_at_run_time)
{
    /* Y = Transpose(NonZero(X)): the size of NonZero's output is known only once X is. */
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_BOOL, 1, DIMS(-1), NULL);
    builder_node(b, "NonZero", "X", "N");
    builder_node(b, "Transpose", "N", "Y");
    builder_output(b, "Y", ONYX_DTYPE_INT64);
    onyx_tensor x = tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(5), BOOLS(0, 1, 1, 0, 1));
    for (int pass = 0; pass < 2; pass++) {
        run_result r = run_model(b, 1, &x);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 2, DIMS(3, 1), INT64S(1, 2, 4), 0);
        run_result_free(&r);
    }
    builder_free(b);
}

Test(shape, compress_short_and_long_conditions)
{
    /* A condition shorter than the axis selects among its first entries. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(1, 2, 3, 4, 5, 6)),
                         tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(2), BOOLS(0, 1))};
    run_result r = run_op(11, "Compress", 2, in, "axis", 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(1, 2), FLOATS(3, 4), 0);
    run_result_free(&r);
    /* A longer one may not select beyond it (numpy raises too). */
    in[1] = tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(4), BOOLS(1, 0, 0, 1));
    r = run_op(11, "Compress", 2, in, "axis", 0);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "Compress", "index 3", NULL);
    in[1] = tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(4), BOOLS(1, 0, 1, 0));
    r = run_op(11, "Compress", 2, in, "axis", 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 5, 6), 0);
    run_result_free(&r);
    /* No axis: the flattened input. */
    in[1] = tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(6), BOOLS(0, 0, 0, 1, 1, 0));
    r = run_op(11, "Compress", 2, in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(4, 5), 0);
    run_result_free(&r);
}

/* ---- Unique ------------------------------------------------------------------------------ */

Test(shape, unique_all_outputs_with_nan_and_signed_zeros)
{
    /* numpy.unique([2, nan, -0., 0., 1, nan, 2], return_index, return_inverse, return_counts). */
    onyx_tensor in = tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(7), DOUBLES(2, NAN, -0.0, 0.0, 1, NAN, 2));
    builder *b = builder_single_node(11, "Unique", "A", &in, 0, "Y,Z,W,V");
    run_result r = run_node(b, 1, &in, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 1, DIMS(4), DOUBLES(0, 1, 2, NAN), 0);
    cr_assert(signbit(((double *)r.outputs[0].data)[0]), "the first of equal zeros is kept: -0");
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(2, 4, 0, 1), 0);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_INT64, 1, DIMS(7), INT64S(2, 3, 0, 0, 1, 3, 2), 0);
    expect_tensor(&r.outputs[3], ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(2, 1, 2, 2), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(shape, unique_unsorted_slices_along_an_axis)
{
    /* Columns of [[1, 0, 1, 2], [3, 9, 3, 0]]: (1,3), (0,9), (1,3), (2,0); in order of first occurrence. */
    onyx_tensor in = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 4), INT64S(1, 0, 1, 2, 3, 9, 3, 0));
    builder *b = builder_single_node(11, "Unique", "A", &in, 0, "Y,Z,W,V");
    builder_attr_int(b, builder_first_node(b), "axis", -1);
    builder_attr_int(b, builder_first_node(b), "sorted", 0);
    run_result r = run_node(b, 1, &in, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 2, DIMS(2, 3), INT64S(1, 0, 2, 3, 9, 0), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(0, 1, 3), 0);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(0, 1, 0, 2), 0);
    expect_tensor(&r.outputs[3], ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(2, 1, 1), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(shape, unique_of_an_empty_tensor_and_of_a_constant)
{
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(0, 3), NULL);
    run_result r = run_op(11, "Unique", 1, &in, NULL, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 1, DIMS(0));
    run_result_free(&r);
    /* A constant input: folded at load. */
    in = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(5), INT32S(3, 1, 3, 3, 1));
    builder *b = builder_single_node(11, "Unique", "A", &in, 1, "Y");
    r = run_node(b, 1, &in, 1);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(1, 3), 0);
    run_result_free(&r);
    builder_free(b);
}

/* ---- DepthToSpace, SpaceToDepth, ReverseSequence, Slice ---------------------------------- */

Test(shape, depth_to_space_modes_and_space_to_depth_inverse)
{
    /* Channels 0..7 of [1, 8, 1, 1], blocksize 2: DCR reads channel (i * 2 + j) * 2 + c,
     * CRD channel c * 4 + i * 2 + j (numpy reshape/transpose of the spec). */
    int64_t x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    onyx_tensor in = tensor_of(ONYX_DTYPE_INT64, 4, DIMS(1, 8, 1, 1), x);
    builder *b = builder_single_node(13, "DepthToSpace", "A", &in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "blocksize", 2);
    run_result r = run_node(b, 1, &in, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 4, DIMS(1, 2, 2, 2), INT64S(0, 2, 4, 6, 1, 3, 5, 7), 0);
    run_result_free(&r);
    builder_attr_string(b, builder_first_node(b), "mode", "CRD");
    r = run_node(b, 1, &in, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 4, DIMS(1, 2, 2, 2), x, 0);
    run_result_free(&r);
    builder_free(b);

    /* SpaceToDepth undoes DCR DepthToSpace. */
    onyx_tensor space = tensor_of(ONYX_DTYPE_INT64, 4, DIMS(1, 2, 2, 2), INT64S(0, 2, 4, 6, 1, 3, 5, 7));
    b = builder_single_node(13, "SpaceToDepth", "A", &space, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "blocksize", 2);
    r = run_node(b, 1, &space, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 4, DIMS(1, 8, 1, 1), x, 0);
    run_result_free(&r);
    builder_free(b);

    /* SpaceToDepth-28 CRD undoes CRD DepthToSpace (which left x in place); before opset 28
     * SpaceToDepth has no mode and the attribute changes nothing. */
    onyx_tensor crd = tensor_of(ONYX_DTYPE_INT64, 4, DIMS(1, 2, 2, 2), x);
    int opsets[2] = {28, 13};
    const int64_t *want[2] = {x, INT64S(0, 4, 1, 5, 2, 6, 3, 7)};
    for (int i = 0; i < 2; i++) {
        b = builder_single_node(opsets[i], "SpaceToDepth", "A", &crd, 0, "Y");
        builder_attr_int(b, builder_first_node(b), "blocksize", 2);
        builder_attr_string(b, builder_first_node(b), "mode", "CRD");
        r = run_node(b, 1, &crd, 0);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 4, DIMS(1, 8, 1, 1), want[i], 0);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(shape, space_to_depth_needs_divisible_dims)
{
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 3, 2), FLOATS(0, 0, 0, 0, 0, 0));
    run_result r = run_op(13, "SpaceToDepth", 1, &in, "blocksize", 2);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "SpaceToDepth", "height 3", NULL);
    r = run_op(13, "DepthToSpace", 1, &in, "blocksize", INT64_C(1) << 33); /* its square overflows */
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "blocksize", NULL);
}

Test(shape, reverse_sequence_lengths_are_checked)
{
    /* time_axis 1, batch_axis 0: row b reverses its first lens[b] entries; 0 keeps the row. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(1, 2, 3, 4, 5, 6)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(0, 2))};
    builder *b = builder_single_node(10, "ReverseSequence", "A,B", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "time_axis", 1);
    builder_attr_int(b, builder_first_node(b), "batch_axis", 0);
    run_result r = run_node(b, 2, in, 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(1, 2, 3, 5, 4, 6), 0);
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(1, 4));
    r = run_node(b, 2, in, 0);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "ReverseSequence", "sequence_lens[1] = 4", NULL);
    builder_free(b);
}

Test(shape, slice_with_extreme_steps_takes_one_element)
{
    float x[4] = {0, 1, 2, 3};
    const int64_t steps[2] = {INT64_MAX, INT64_MIN};
    const float want[2] = {1, 3};
    const int64_t starts[2] = {1, -1};
    const int64_t ends[2] = {INT64_MAX, INT64_MIN};
    for (int i = 0; i < 2; i++) {
        onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), x), tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), &starts[i]),
                             tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), &ends[i]), tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0)),
                             tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), &steps[i])};
        run_result r = run_op(13, "Slice", 5, in, NULL, 0);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(1), &want[i], 0);
        run_result_free(&r);
    }
}

Test(shape, trilu_of_empty_rows)
{
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 3, 0), NULL);
    run_result r = run_op(14, "Trilu", 1, &in, "upper", 0);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_shape(&r.outputs[0], 3, DIMS(2, 3, 0));
    run_result_free(&r);
}

/* ---- threads ----------------------------------------------------------------------------- */

Test(shape, strided_copies_split_over_threads_match_one_thread)
{
    /* Transpose, Tile and Pad of a [64, 48, 40] tensor: many rows, several tasks per thread. */
    enum { N = 64 * 48 * 40 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++)
        x[i] = (float)i;
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(64, 48, 40), x);
    for (int op = 0; op < 3; op++) {
        builder *b = builder_new(13);
        builder_input(b, "X", ONYX_DTYPE_FLOAT, 3, DIMS(64, 48, 40), NULL);
        size_t bytes = N * sizeof(float);
        if (op == 0) {
            Onnx__NodeProto *n = builder_node(b, "Transpose", "X", "Y");
            builder_attr_ints(b, n, "perm", 3, INT64S(2, 0, 1));
        } else if (op == 1) {
            builder_initializer(b, "R", ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(1, 2, 1));
            builder_node(b, "Tile", "X,R", "Y");
            bytes *= 2;
        } else {
            builder_initializer(b, "P", ONYX_DTYPE_INT64, 1, DIMS(6), INT64S(0, 1, 2, 0, 1, 2));
            Onnx__NodeProto *n = builder_node(b, "Pad", "X,P", "Y");
            builder_attr_string(b, n, "mode", "reflect");
            bytes = 64 * 50 * 44 * sizeof(float);
        }
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        void *one = malloc(bytes), *four = malloc(bytes);
        run_into(b, 1, 1, &in, one, bytes);
        run_into(b, 4, 1, &in, four, bytes);
        cr_assert(!memcmp(one, four, bytes), "operator %d differs with 4 threads", op);
        if (op == 0) /* Y[k, i, j] = X[i, j, k] */
            cr_assert_eq(((float *)one)[1 * 64 * 48 + 2 * 48 + 3], x[2 * 48 * 40 + 3 * 40 + 1]);
        free(one);
        free(four);
        builder_free(b);
    }
    free(x);
}

Test(shape, transposes_of_odd_sizes_match_the_index_formula)
{
    /* Perms whose output's last axis is strided in the input while the axis before it is not
     * (copied in blocks of rows), and others, over sizes that are not multiples of the block,
     * for 1-, 2-, 4- and 8-byte elements, at 1 and 3 threads. */
    static const int64_t dims[4] = {3, 5, 37, 21};
    static const int64_t perms[][4] = {{0, 1, 3, 2}, {1, 2, 3, 0}, {3, 0, 1, 2}, {2, 3, 1, 0}, {0, 2, 1, 3}};
    static const onyx_dtype dtypes[] = {ONYX_DTYPE_UINT8, ONYX_DTYPE_FLOAT16, ONYX_DTYPE_FLOAT, ONYX_DTYPE_DOUBLE};
    enum { N = 3 * 5 * 37 * 21 };
    for (size_t t = 0; t < sizeof dtypes / sizeof *dtypes; t++) {
        size_t elem = onyx_dtype_size(dtypes[t]);
        unsigned char *x = malloc(N * elem), *want = malloc(N * elem);
        for (size_t i = 0; i < N * elem; i++)
            x[i] = (unsigned char)(i * 7 + i / 251);
        onyx_tensor in = tensor_of(dtypes[t], 4, dims, x);
        for (size_t p = 0; p < sizeof perms / sizeof *perms; p++) {
            const int64_t *perm = perms[p];
            int64_t out_dims[4], in_strides[4] = {5 * 37 * 21, 37 * 21, 21, 1};
            for (int d = 0; d < 4; d++)
                out_dims[d] = dims[perm[d]];
            for (int64_t o = 0; o < N; o++) { /* Y[i0, i1, i2, i3] = X[i_perm^-1...] */
                int64_t rest = o, src = 0;
                for (int d = 3; d >= 0; d--) {
                    src += (rest % out_dims[d]) * in_strides[perm[d]];
                    rest /= out_dims[d];
                }
                memcpy(want + o * (int64_t)elem, x + src * (int64_t)elem, elem);
            }
            builder *b = builder_new(13);
            builder_input(b, "X", dtypes[t], 4, dims, NULL);
            Onnx__NodeProto *n = builder_node(b, "Transpose", "X", "Y");
            builder_attr_ints(b, n, "perm", 4, perm);
            builder_output(b, "Y", dtypes[t]);
            for (int threads = 1; threads <= 3; threads += 2) {
                void *got = malloc(N * elem);
                run_into(b, threads, 1, &in, got, N * elem);
                cr_assert(!memcmp(got, want, N * elem), "dtype %d perm %zu, %d threads", (int)dtypes[t], p, threads);
                free(got);
            }
            builder_free(b);
        }
        free(x);
        free(want);
    }
}
