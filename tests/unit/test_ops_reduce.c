/* Edge cases of the reductions, the softmax family, ArgMax, CumSum, TopK, Einsum and the
 * losses beyond the ONNX test suite. Expected values are worked out by hand from the operator
 * specifications (numpy's conventions where the specification defers to them). */
#include "harness.h"

#include <math.h>

#define INT32S(...) ((const int32_t[]){__VA_ARGS__})
#define HALFS(...) ((const uint16_t[]){__VA_ARGS__})

/* Runs a single-output node and checks its output against `expected`. */
static void expect_node(builder *b, int n_inputs, const onyx_tensor *inputs, onyx_tensor expected, double tol)
{
    run_result r = run_model(b, n_inputs, inputs);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], expected.dtype, expected.rank, expected.dims, expected.data, tol);
    run_result_free(&r);
}

/* ---- reductions --------------------------------------------------------------------------- */

Test(reduce, sum_of_int32_wraps_to_the_width)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(INT32_MAX, 1));
    builder *b = builder_single_node(11, "ReduceSum", "A", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "keepdims", 0);
    expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(INT32_MIN)), 0);
    builder_free(b);
}

Test(reduce, max_and_min_propagate_nan)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(1, NAN, 3, 4, 5, 6));
    const char *ops[2] = {"ReduceMax", "ReduceMin"};
    const float *expected[2] = {FLOATS(NAN, 6), FLOATS(NAN, 4)};
    for (int i = 0; i < 2; i++) {
        builder *b = builder_single_node(13, ops[i], "A", &x, 0, "Y");
        builder_attr_ints(b, builder_first_node(b), "axes", 1, INT64S(1));
        builder_attr_int(b, builder_first_node(b), "keepdims", 0);
        expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), expected[i]), 0);
        builder_free(b);
    }
}

Test(reduce, an_empty_axis_gives_the_identity_of_each_operation)
{
    float none[1] = {0};
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 0), none);
    struct {
        const char *op;
        float value;
    } cases[] = {{"ReduceSum", 0},         {"ReduceSumSquare", 0},         {"ReduceL1", 0},
                 {"ReduceL2", 0},          {"ReduceProd", 1},              {"ReduceMax", -INFINITY},
                 {"ReduceMin", INFINITY},  {"ReduceMean", NAN},            {"ReduceLogSum", -INFINITY},
                 {"ReduceLogSumExp", -INFINITY}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder *b = builder_single_node(12, cases[i].op, "A", &x, 0, "Y");
        builder_attr_ints(b, builder_first_node(b), "axes", 1, INT64S(1));
        builder_attr_int(b, builder_first_node(b), "keepdims", 0);
        float v = cases[i].value;
        expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(v, v)), 0);
        builder_free(b);
    }
}

Test(reduce, log_sum_exp_is_stable_and_handles_infinities)
{
    /* 1000 + ln 2; all -inf gives -inf (log 0); +inf dominates. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(1000, 1000, -INFINITY, -INFINITY, INFINITY, 1));
    builder *b = builder_single_node(13, "ReduceLogSumExp", "A", &x, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "axes", 1, INT64S(1));
    builder_attr_int(b, builder_first_node(b), "keepdims", 0);
    expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1000.6931472f, -INFINITY, INFINITY)), 1e-7);
    builder_free(b);
}

/* ReduceSum 13 over X [2,2] with its axes from a graph input of any length. */
static builder *reduce_sum_13(int64_t noop_with_empty_axes)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), NULL);
    builder_input(b, "axes", ONYX_DTYPE_INT64, 1, DIMS(-1), NULL);
    builder_attr_int(b, builder_node(b, "ReduceSum", "X,axes", "Y"), "noop_with_empty_axes", noop_with_empty_axes);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

Test(reduce, sum_13_takes_axes_as_input_and_noop_with_empty_axes)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(0), INT64S(0))};
    /* Empty axes: every axis, or none with noop_with_empty_axes. */
    builder *b = reduce_sum_13(0);
    expect_node(b, 2, in, tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 1), FLOATS(10)), 0);
    builder_free(b);
    b = reduce_sum_13(1);
    expect_node(b, 2, in, tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 3, 4)), 0);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(-1));
    expect_node(b, 2, in, tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(3, 7)), 0);
    builder_free(b);
}

Test(reduce, sum_13_rejects_an_axes_attribute)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2));
    builder *b = builder_single_node(13, "ReduceSum", "A", &x, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "axes", 1, INT64S(0));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "ReduceSum", "axes", "input", NULL);
    builder_free(b);
}

Test(reduce, max_and_min_20_of_bool_are_any_and_all)
{
    /* Rows [0 0], [0 1], [1 1] and an empty row set: numpy's max / min of bools (any / all),
     * with False / True, the lowest / highest bool, for the empty reduction. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(3, 2), BOOLS(0, 0, 0, 1, 1, 1));
    onyx_tensor empty = tensor_of(ONYX_DTYPE_BOOL, 2, DIMS(1, 0), NULL);
    const char *ops[2] = {"ReduceMax", "ReduceMin"};
    const uint8_t *expected[2] = {BOOLS(0, 1, 1), BOOLS(0, 0, 1)}, empty_value[2] = {0, 1};
    for (int i = 0; i < 2; i++) {
        onyx_tensor axes = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(1));
        builder *b = builder_new(20);
        builder_input(b, "X", ONYX_DTYPE_BOOL, 2, DIMS(-1, -1), (const char *const[]){"rows", "columns"});
        builder_initializer(b, "axes", ONYX_DTYPE_INT64, axes.rank, axes.dims, axes.data);
        builder_attr_int(b, builder_node(b, ops[i], "X,axes", "Y"), "keepdims", 0);
        builder_output(b, "Y", ONYX_DTYPE_UNDEFINED);
        expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(3), expected[i]), 0);
        expect_node(b, 1, &empty, tensor_of(ONYX_DTYPE_BOOL, 1, DIMS(1), &empty_value[i]), 0);
        builder_free(b);
        /* Before opset 20 bool is not among the types. */
        b = builder_single_node(18, ops[i], "A", &x, 0, "Y");
        run_result r = run_model(b, 1, &x);
        cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED, "%s", r.message);
        expect_message(r.message, ops[i], "bool", NULL);
        builder_free(b);
    }
}

Test(reduce, log_sum_28_takes_only_floating_point)
{
    /* log(2 + 3) = 1.609 stored as int32 by truncation at 18; refused from 28. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(2, 3));
    const char *ops[2] = {"ReduceLogSum", "ReduceLogSumExp"};
    for (int i = 0; i < 2; i++) {
        builder *b = builder_single_node(28, ops[i], "A", &x, 0, "Y");
        run_result r = run_model(b, 1, &x);
        cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED, "%s", r.message);
        expect_message(r.message, ops[i], "int32", NULL);
        builder_free(b);
    }
    builder *b = builder_single_node(18, "ReduceLogSum", "A", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "keepdims", 0);
    expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_INT32, 0, NULL, INT32S(1)), 0);
    builder_free(b);
}

Test(reduce, mean_18_with_a_constant_empty_axes_input)
{
    /* An initializer of no axes: the noop leaves X as it is; without it every axis goes. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 3, 4));
    for (int noop = 0; noop < 2; noop++) {
        builder *b = builder_new(18);
        builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), NULL);
        builder_initializer(b, "axes", ONYX_DTYPE_INT64, 1, DIMS(0), NULL);
        builder_attr_int(b, builder_node(b, "ReduceMean", "X,axes", "Y"), "noop_with_empty_axes", noop);
        builder_output(b, "Y", ONYX_DTYPE_UNDEFINED);
        expect_node(b, 1, &x, noop ? x : tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 1), FLOATS(2.5f)), 0);
        builder_free(b);
    }
}

Test(reduce, a_repeated_axis_is_rejected_at_load)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 3, 4));
    builder *b = builder_single_node(13, "ReduceMax", "A", &x, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "axes", 2, INT64S(1, -1));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "ReduceMax", "axis 1 is repeated", NULL);
    builder_free(b);
}

Test(reduce, over_axes_that_are_not_adjacent)
{
    /* x[i][j][k] = 6i + 2j + k; summing i and k leaves, for j: 2j*4 + (0+1+6+7). */
    int64_t x[12];
    for (int i = 0; i < 12; i++)
        x[i] = i;
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT64, 3, DIMS(2, 3, 2), x),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(0, 2))};
    builder *b = builder_single_node(13, "ReduceSum", "A,B", in, 0, "Y");
    expect_node(b, 2, in, tensor_of(ONYX_DTYPE_INT64, 3, DIMS(1, 3, 1), INT64S(14, 22, 30)), 0);
    builder_free(b);
}

Test(reduce, integer_mean_truncates_and_l2_is_exact)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(-7, 0));
    builder *b = builder_single_node(13, "ReduceMean", "A", &x, 0, "Y");
    expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_INT32, 1, DIMS(1), INT32S(-3)), 0); /* -3.5 toward 0 */
    builder_free(b);
    x = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(3, -4));
    b = builder_single_node(13, "ReduceL2", "A", &x, 0, "Y");
    expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_INT32, 1, DIMS(1), INT32S(5)), 0);
    builder_free(b);
}

Test(reduce, mean_of_float16)
{
    /* 1, 2, 3, 4 as IEEE halves; their mean 2.5 is 0x4100. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(4), HALFS(0x3C00, 0x4000, 0x4200, 0x4400));
    builder *b = builder_single_node(13, "ReduceMean", "A", &x, 0, "Y");
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.outputs[0].dtype, ONYX_DTYPE_FLOAT16);
    cr_assert_eq(((const uint16_t *)r.outputs[0].data)[0], 0x4100);
    run_result_free(&r);
    builder_free(b);
}

/* ---- ArgMax / ArgMin ---------------------------------------------------------------------- */

Test(argmax, nan_wins_and_select_last_index_takes_the_last_tie)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, NAN, 3, NAN));
    onyx_tensor ints = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(4), INT32S(2, 5, 5, 1));
    struct {
        const char *op;
        const onyx_tensor *x;
        int64_t last, expected;
    } cases[] = {{"ArgMax", &x, 0, 1},    {"ArgMax", &x, 1, 3},    {"ArgMin", &x, 0, 1},
                 {"ArgMin", &x, 1, 3},    {"ArgMax", &ints, 0, 1}, {"ArgMax", &ints, 1, 2},
                 {"ArgMin", &ints, 1, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder *b = builder_single_node(13, cases[i].op, "A", cases[i].x, 0, "Y");
        builder_attr_int(b, builder_first_node(b), "select_last_index", cases[i].last);
        expect_node(b, 1, cases[i].x, tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(cases[i].expected)), 0);
        builder_free(b);
    }
}

Test(argmax, an_empty_axis_is_an_error)
{
    float none[1] = {0};
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 0), none);
    builder *b = builder_single_node(13, "ArgMax", "A", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME, "%s", r.message);
    expect_message(r.message, "ArgMax", "empty", NULL);
    builder_free(b);
}

/* ---- the softmax family ------------------------------------------------------------------- */

Test(softmax, hardmax_marks_the_first_of_equal_maxima)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(3, 1, 3));
    builder *b = builder_single_node(13, "Hardmax", "A", &x, 0, "Y");
    expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 0, 0)), 0);
    builder_free(b);
}

Test(softmax, hardmax_before_13_flattens_at_axis)
{
    /* axis 0: the whole [2,2] is one row; its first maximum is at flat position 1. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(2, 2), ((const double[]){1, 5, 5, 2}));
    builder *b = builder_single_node(11, "Hardmax", "A", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "axis", 0);
    expect_node(b, 1, &x, tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(2, 2), ((const double[]){0, 1, 0, 0})), 0);
    builder_free(b);
}

Test(softmax, log_softmax_is_stable_for_large_values)
{
    /* [1000, 0]: log(1 + e^-1000) rounds to 0. [0, 0]: -ln 2 each. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1000, 0, 0, 0));
    builder *b = builder_single_node(13, "LogSoftmax", "A", &x, 0, "Y");
    expect_node(b, 1, &x,
                tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(0, -1000, -0.69314718f, -0.69314718f)), 1e-7);
    builder_free(b);
}

/* ---- CumSum ------------------------------------------------------------------------------- */

Test(cumsum, exclusive_and_reverse_on_integers)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(1, 2, 3)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(0))};
    struct {
        int exclusive, reverse;
        const int32_t *expected;
    } cases[] = {{0, 0, INT32S(1, 3, 6)}, {1, 0, INT32S(0, 1, 3)}, {0, 1, INT32S(6, 5, 3)}, {1, 1, INT32S(5, 3, 0)}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder *b = builder_single_node(14, "CumSum", "A,B", in, 0, "Y");
        builder_attr_int(b, builder_first_node(b), "exclusive", cases[i].exclusive);
        builder_attr_int(b, builder_first_node(b), "reverse", cases[i].reverse);
        expect_node(b, 2, in, tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), cases[i].expected), 0);
        builder_free(b);
    }
}

Test(cumsum, an_axis_out_of_range_is_an_error)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3)),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(1), INT32S(1))};
    builder *b = builder_single_node(14, "CumSum", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_neq(r.run, ONYX_OK);
    expect_message(r.message, "CumSum", "axis 1 is out of range", NULL);
    builder_free(b);
}

/* ---- TopK --------------------------------------------------------------------------------- */

/* Runs TopK (opset 11) with k and `largest` on x and checks both outputs. */
static void expect_topk(onyx_tensor x, int64_t k, int largest, onyx_tensor values, const int64_t *indices)
{
    onyx_tensor in[2] = {x, tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), &k)};
    builder *b = builder_single_node(11, "TopK", "A,B", in, 0, "V,I");
    builder_attr_int(b, builder_first_node(b), "largest", largest);
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], values.dtype, values.rank, values.dims, values.data, 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, values.rank, values.dims, indices, 0);
    run_result_free(&r);
    builder_free(b);
}

Test(topk, equal_values_keep_the_lower_index_first)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, 3, 3, 2));
    expect_topk(x, 2, 1, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(3, 3)), INT64S(1, 2));
    expect_topk(x, 2, 0, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)), INT64S(0, 3));
    onyx_tensor ints = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(3), INT32S(2, 1, 1));
    expect_topk(ints, 2, 0, tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(1, 1)), INT64S(1, 2));
}

Test(topk, nan_is_larger_than_any_number)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, NAN, 2));
    expect_topk(x, 1, 1, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(NAN)), INT64S(1));
    expect_topk(x, 1, 0, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1)), INT64S(0));
}

Test(topk, k_above_the_axis_length_is_rejected)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(5))};
    builder *b = builder_single_node(11, "TopK", "A,B", in, 0, "V,I");
    run_result r = run_model(b, 2, in);
    cr_assert_neq(r.run, ONYX_OK);
    expect_message(r.message, "TopK", "k 5", NULL);
    builder_free(b);
}

/* ---- Einsum ------------------------------------------------------------------------------- */

static builder *einsum(const char *equation, int n_inputs, const onyx_tensor *inputs)
{
    builder *b = builder_single_node(12, "Einsum", n_inputs == 2 ? "A,B" : "A", inputs, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "equation", equation);
    return b;
}

Test(einsum, implicit_output_lists_single_labels_in_ascii_order)
{
    /* "ab,Bc" -> "Babc": out[B][a][b][c] = A[a][b] * M[B][c], upper case first. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(3, 4))};
    builder *b = einsum("ab,Bc", 2, in);
    expect_node(b, 2, in, tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(2, 1, 2, 1), FLOATS(3, 6, 4, 8)), 0);
    builder_free(b);
}

Test(einsum, diagonal_and_broadcast_ellipsis)
{
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    onyx_tensor cube = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), x);
    builder *b = einsum("...ii->...i", 1, &cube);
    expect_node(b, 1, &cube, tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(0, 3, 4, 7)), 0);
    builder_free(b);
    /* A [2,1,2] batch 2 against B [1,2,1] batch 1 (broadcast): [1,2].[5,6] and [3,4].[5,6]. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 1, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(5, 6))};
    b = einsum("...ij, ...jk -> ...ik", 2, in);
    expect_node(b, 2, in, tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 1, 1), FLOATS(17, 39)), 0);
    builder_free(b);
}

Test(einsum, integer_contraction)
{
    /* [[1,2],[3,4]] x [[5,6],[7,8]] and its trace. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 2), INT64S(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 2), INT64S(5, 6, 7, 8))};
    builder *b = einsum("ij,jk", 2, in);
    expect_node(b, 2, in, tensor_of(ONYX_DTYPE_INT64, 2, DIMS(2, 2), INT64S(19, 22, 43, 50)), 0);
    builder_free(b);
    b = einsum("ii", 1, in);
    expect_node(b, 1, in, tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(5)), 0);
    builder_free(b);
}

Test(einsum, bad_equations_are_rejected_at_load)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(0, 0, 0, 0, 0, 0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(4, 2), FLOATS(0, 0, 0, 0, 0, 0, 0, 0))};
    struct {
        const char *equation;
        int n_inputs;
        const char *says;
    } cases[] = {{"ij->k", 1, "'k'"},   {"ij,jk->ik", 1, "more terms"}, {"i.j", 1, "'...'"},
                 {"ij,jk", 2, "'j'"},   {"ijk", 1, "rank 2"},         {"ij->ii", 1, "repeated"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder *b = einsum(cases[i].equation, cases[i].n_inputs, in);
        run_result r = run_model(b, cases[i].n_inputs, in);
        cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL, "'%s': %s", cases[i].equation, r.message);
        expect_message(r.message, "Einsum", cases[i].says, NULL);
        builder_free(b);
    }
}

/* ---- losses ------------------------------------------------------------------------------- */

/* NLL over log-probabilities [[-1,-2],[-3,-4],[-5,-6]], labels A, weights [2, 3]. */
static builder *nll(const char *reduction, int64_t ignore_index)
{
    builder *b = builder_new(13);
    builder_initializer(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(-1, -2, -3, -4, -5, -6));
    builder_input(b, "A", ONYX_DTYPE_INT64, 1, DIMS(3), NULL);
    builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 3));
    Onnx__NodeProto *n = builder_node(b, "NegativeLogLikelihoodLoss", "X,A,W", "Y");
    builder_attr_string(b, n, "reduction", reduction);
    builder_attr_int(b, n, "ignore_index", ignore_index);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

Test(loss, nll_weights_and_ignore_index)
{
    /* Labels [0, 1, 0], 1 ignored: losses [1*2, 0, 5*2]; the mean divides by 2 + 0 + 2. */
    onyx_tensor labels = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(0, 1, 0));
    const char *reductions[3] = {"none", "sum", "mean"};
    onyx_tensor expected[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(2, 0, 10)),
                               tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(12)),
                               tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(3))};
    for (int i = 0; i < 3; i++) {
        builder *b = nll(reductions[i], 1);
        expect_node(b, 1, &labels, expected[i], 1e-7);
        builder_free(b);
    }
}

Test(loss, nll_mean_of_only_ignored_labels_is_nan)
{
    onyx_tensor labels = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(-1, -1, -1));
    builder *b = nll("mean", -1);
    expect_node(b, 1, &labels, tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(NAN)), 0);
    builder_free(b);
}

Test(loss, nll_label_out_of_range_is_a_runtime_error)
{
    onyx_tensor labels = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(0, 2, 0));
    builder *b = nll("sum", -100);
    run_result r = run_model(b, 1, &labels);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME, "%s", r.message);
    expect_message(r.message, "NegativeLogLikelihoodLoss", "label 2", NULL);
    builder_free(b);
}

Test(loss, softmax_cross_entropy_with_log_prob)
{
    /* Scores [0, 0] -> log_prob [-ln 2, -ln 2]; [ln 3, 0] -> [ln 3/4, ln 1/4]. Labels [1, 0]:
     * losses ln 2 and -ln 3/4, mean 0.4904146. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(0, 0, 1.0986123f, 0)),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), INT32S(1, 0))};
    builder *b = builder_single_node(13, "SoftmaxCrossEntropyLoss", "A,B", in, 0, "Y,P");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.4904146f), 1e-6);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 2, DIMS(2, 2),
                  FLOATS(-0.6931472f, -0.6931472f, -0.2876821f, -1.3862944f), 1e-6);
    run_result_free(&r);
    builder_free(b);
}
