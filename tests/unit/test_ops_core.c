/* Edge cases of the transformer operators beyond the ONNX test suite. Expected values are
 * worked out by hand from the operator specifications. */
#include "harness.h"

#include <math.h>

Test(ops, add_broadcasts_both_ways)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(10, 20, 30))};
    builder *b = builder_single_node(14, "Add", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(11, 21, 31, 12, 22, 32), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, add_incompatible_shapes_names_inputs)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3))};
    builder *b = builder_single_node(14, "Add", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Add", "'A'", "'B'", "broadcast", NULL);
    builder_free(b);
}

Test(ops, integer_division_by_zero_does_not_trap)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(7, INT64_MIN, -7)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(0, -1, 2))};
    builder *b = builder_single_node(14, "Div", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    /* 7/0 -> 0 (defined by onyx); INT64_MIN / -1 wraps; -7/2 truncates toward zero. */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(0, INT64_MIN, -3), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, pow_with_integer_exponent)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(2, -3, 0.5f)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(3))};
    builder *b = builder_single_node(15, "Pow", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(8, -27, 0.125f), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, matmul_one_dimensional_operands)
{
    /* [2] x [2,3] -> [3]; [2,3] x [3] -> [2]. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(1, 2, 3, 4, 5, 6))};
    builder *b = builder_single_node(13, "MatMul", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(9, 12, 15), 0);
    run_result_free(&r);
    builder_free(b);

    onyx_tensor in2[2] = {in[1], tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 0, -1))};
    b = builder_single_node(13, "MatMul", "A,B", in2, 0, "Y");
    r = run_model(b, 2, in2);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(-2, -2), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, matmul_broadcasts_batches)
{
    /* A [2,1,1,2] x B [3,2,1] -> [2,3,1,1]: A's batch 2 against B's batch 3. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(2, 1, 1, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(3, 2, 1), FLOATS(1, 1, 1, 0, 0, 1))};
    builder *b = builder_single_node(13, "MatMul", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(2, 3, 1, 1), FLOATS(3, 1, 2, 7, 3, 4), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, matmul_inner_dim_mismatch_is_named)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(0, 0, 0, 0, 0, 0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(0, 0, 0, 0, 0, 0))};
    builder *b = builder_single_node(13, "MatMul", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "MatMul", "'A'", "[2,3]", "'B'", NULL);
    builder_free(b);
}

Test(ops, softmax_axis_semantics_before_and_after_13)
{
    /* [2,2,2]: opset 11 axis=1 normalizes each flattened row of 4; opset 13 axis=1 only
     * along the middle axis. */
    float x[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), x);
    builder *b = builder_single_node(11, "Softmax", "A", &in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    run_result r = run_model(b, 1, &in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), FLOATS(.25, .25, .25, .25, .25, .25, .25, .25), 1e-7);
    run_result_free(&r);
    builder_free(b);
    b = builder_single_node(13, "Softmax", "A", &in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    r = run_model(b, 1, &in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), FLOATS(.5, .5, .5, .5, .5, .5, .5, .5), 1e-7);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, softmax_is_stable_for_large_values)
{
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1000, 1000, -INFINITY));
    builder *b = builder_single_node(13, "Softmax", "A", &in, 0, "Y");
    run_result r = run_model(b, 1, &in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(.5, .5, 0), 1e-7);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, gather_negative_and_out_of_range_indices)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(10, 20, 30)),
                         tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, 2), INT64S(-1, 0))};
    builder *b = builder_single_node(13, "Gather", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(1, 2), FLOATS(30, 10), 0);
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, 2), INT64S(3, 0));
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "Gather", "index 3", NULL);
    builder_free(b);
}

Test(ops, reshape_copies_zero_and_infers_minus_one)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), x),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(0, -1))};
    builder *b = builder_single_node(14, "Reshape", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(1, 6), x, 0);
    run_result_free(&r);
    /* allowzero: a 0 means an empty dim, which 6 elements cannot fill. */
    builder_attr_int(b, builder_first_node(b), "allowzero", 1);
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Reshape", "-1", NULL);
    builder_free(b);
}

Test(ops, slice_negative_steps_and_clamping)
{
    float x[5] = {0, 1, 2, 3, 4};
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), x),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(-1)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(INT64_MIN)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0))};
    onyx_tensor steps = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(-2));
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(5), NULL);
    builder_input(b, "S", ONYX_DTYPE_INT64, 1, DIMS(1), NULL);
    builder_input(b, "E", ONYX_DTYPE_INT64, 1, DIMS(1), NULL);
    builder_input(b, "A", ONYX_DTYPE_INT64, 1, DIMS(1), NULL);
    builder_input(b, "T", ONYX_DTYPE_INT64, 1, DIMS(1), NULL);
    builder_node(b, "Slice", "X,S,E,A,T", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_tensor all[5] = {in[0], in[1], in[2], in[3], steps};
    run_result r = run_model(b, 5, all);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(4, 2, 0), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, cast_float_to_int_truncates_and_never_traps)
{
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(-2.7f, 2.7f, NAN, 1e30f));
    builder *b = builder_single_node(13, "Cast", "A", &in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "to", ONYX_DTYPE_INT32);
    run_result r = run_model(b, 1, &in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    const int32_t *y = r.outputs[0].data;
    cr_assert_eq(y[0], -2);
    cr_assert_eq(y[1], 2);
    cr_assert_eq(y[2], 0);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, layernorm_with_statistics_outputs)
{
    builder *b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), NULL);
    builder_initializer(b, "S", ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2));
    builder_initializer(b, "B", ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0, 1));
    Onnx__NodeProto *n = builder_node(b, "LayerNormalization", "X,S,B", "Y,M,I");
    builder_attr_float(b, n, "epsilon", 0);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    builder_output(b, "M", ONYX_DTYPE_FLOAT);
    builder_output(b, "I", ONYX_DTYPE_FLOAT);
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 3, 5, 5));
    run_result r = run_model(b, 1, &x);
    /* Row 1: mean 2, variance 1 -> [-1, 1] * [1, 2] + [0, 1]. Row 2: variance 0 with
     * epsilon 0 -> 0 * inf = NaN, as the formula gives. */
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(-1, 3, NAN, NAN), 1e-6);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(2, 5), 1e-6);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(1, INFINITY), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(ops, shape_to_reshape_chain_is_folded_per_shape)
{
    /* Y = Reshape(X, Concat(Gather(Shape(X), 0), [-1])): [b, 2, 3] -> [b, 6], any b. */
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 3, DIMS(-1, 2, 3), NULL);
    builder_initializer(b, "zero", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0));
    builder_initializer(b, "minus_one", ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(-1));
    builder_node(b, "Shape", "X", "s");
    builder_node(b, "Gather", "s,zero", "batch");
    Onnx__NodeProto *c = builder_node(b, "Concat", "batch,minus_one", "target");
    builder_attr_int(b, c, "axis", 0);
    builder_node(b, "Reshape", "X,target", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    float x[18];
    for (int i = 0; i < 18; i++)
        x[i] = (float)i;
    for (int batch = 1; batch <= 3; batch++) {
        onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(batch, 2, 3), x);
        run_result r = run_model(b, 1, &in);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(batch, 6), x, 0);
        run_result_free(&r);
    }
    builder_free(b);
}
