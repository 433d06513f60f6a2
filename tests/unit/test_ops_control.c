/* Control flow: If, Loop and Scan, with subgraphs reading values of the enclosing graph. */
#include "harness.h"

#include <string.h>

/* Y = If(C) then X + 1 else X * 2, where both branches read X from the main graph. */
static builder *if_model(void)
{
    builder *b = builder_new(13);
    builder_input(b, "C", ONYX_DTYPE_BOOL, 0, NULL, NULL);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(-1), NULL);
    builder_initializer(b, "one", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1));
    builder_initializer(b, "two", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(2));
    Onnx__GraphProto *then_g = builder_subgraph(b, "then");
    builder_graph_node(b, then_g, "Add", "X,one", "t");
    builder_graph_output(b, then_g, "t", ONYX_DTYPE_FLOAT);
    Onnx__GraphProto *else_g = builder_subgraph(b, "else");
    builder_graph_node(b, else_g, "Mul", "X,two", "e");
    builder_graph_output(b, else_g, "e", ONYX_DTYPE_FLOAT);
    Onnx__NodeProto *n = builder_node(b, "If", "C", "Y");
    builder_attr_graph(b, n, "then_branch", then_g);
    builder_attr_graph(b, n, "else_branch", else_g);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

Test(control, if_branches_read_the_enclosing_graph)
{
    builder *b = if_model();
    float x[3] = {1, 2, 3};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_BOOL, 0, NULL, BOOLS(1)), tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), x)};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(2, 3, 4), 0);
    run_result_free(&r);
    in[0] = tensor_of(ONYX_DTYPE_BOOL, 0, NULL, BOOLS(0));
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(2, 4, 6), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(control, if_branch_error_names_the_node)
{
    builder *b = if_model();
    /* The else branch reads a value that exists nowhere. */
    builder_first_node(b)->attribute[1]->g->node[0]->input[0] = "missing";
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "'missing'", NULL);
    builder_free(b);
}

Test(control, if_branches_must_agree_on_dtypes)
{
    builder *b = if_model();
    Onnx__GraphProto *else_g = builder_first_node(b)->attribute[1]->g;
    Onnx__NodeProto *cast = builder_graph_node(b, else_g, "Cast", "e", "e64");
    builder_attr_int(b, cast, "to", ONYX_DTYPE_DOUBLE);
    else_g->output[0]->name = "e64";
    else_g->output[0]->type->tensor_type->elem_type = ONYX_DTYPE_DOUBLE;
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "If", "float", "double", NULL);
    builder_free(b);
}

/* A Loop summing 0 + 1 + ... while the running sum stays below a threshold read from the
 * enclosing graph: cond and M both used, plus a scan output of every partial sum. */
Test(control, loop_with_cond_trip_count_and_scan_output)
{
    builder *b = builder_new(13);
    builder_input(b, "M", ONYX_DTYPE_INT64, 0, NULL, NULL);
    builder_input(b, "limit", ONYX_DTYPE_INT64, 0, NULL, NULL);
    builder_initializer(b, "zero", ONYX_DTYPE_INT64, 0, NULL, INT64S(0));
    builder_initializer(b, "yes", ONYX_DTYPE_BOOL, 0, NULL, BOOLS(1));
    Onnx__GraphProto *body = builder_subgraph(b, "body");
    builder_graph_input(b, body, "i", ONYX_DTYPE_INT64, 0, NULL);
    builder_graph_input(b, body, "cond_in", ONYX_DTYPE_BOOL, 0, NULL);
    builder_graph_input(b, body, "sum_in", ONYX_DTYPE_INT64, 0, NULL);
    builder_graph_node(b, body, "Add", "sum_in,i", "sum_out");
    builder_graph_node(b, body, "Less", "sum_out,limit", "cond_out");
    builder_graph_node(b, body, "Identity", "sum_out", "partial");
    builder_graph_output(b, body, "cond_out", ONYX_DTYPE_BOOL);
    builder_graph_output(b, body, "sum_out", ONYX_DTYPE_INT64);
    builder_graph_output(b, body, "partial", ONYX_DTYPE_INT64);
    Onnx__NodeProto *n = builder_node(b, "Loop", "M,yes,zero", "sum,partials");
    builder_attr_graph(b, n, "body", body);
    builder_output(b, "sum", ONYX_DTYPE_INT64);
    builder_output(b, "partials", ONYX_DTYPE_INT64);

    /* Stops on cond: sums 0,1,3,6,10 (10 >= 10 ends it after 5 iterations). */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(100)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(10))};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 0, NULL, INT64S(10), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 1, DIMS(5), INT64S(0, 1, 3, 6, 10), 0);
    run_result_free(&r);
    /* Stops on M: two iterations. */
    in[0] = tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(2));
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 0, NULL, INT64S(1), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(0, 1), 0);
    run_result_free(&r);
    /* Zero iterations: the initial value, and an empty scan output. */
    in[0] = tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(0));
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 0, NULL, INT64S(0), 0);
    cr_assert_eq(r.outputs[1].dims[0], 0);
    run_result_free(&r);
    builder_free(b);
}

/* Scan over the rows of X in reverse, carrying a running sum, with the partial sums stacked
 * along axis 1 of the output. */
Test(control, scan_reverse_with_output_axis)
{
    builder *b = builder_new(11);
    builder_input(b, "init", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), NULL);
    Onnx__GraphProto *body = builder_subgraph(b, "body");
    builder_graph_input(b, body, "acc_in", ONYX_DTYPE_FLOAT, 1, DIMS(2));
    builder_graph_input(b, body, "row", ONYX_DTYPE_FLOAT, 1, DIMS(2));
    builder_graph_node(b, body, "Add", "acc_in,row", "acc_out");
    builder_graph_node(b, body, "Identity", "acc_out", "partial");
    builder_graph_output(b, body, "acc_out", ONYX_DTYPE_FLOAT);
    builder_graph_output(b, body, "partial", ONYX_DTYPE_FLOAT);
    Onnx__NodeProto *n = builder_node(b, "Scan", "init,X", "acc,partials");
    builder_attr_graph(b, n, "body", body);
    builder_attr_int(b, n, "num_scan_inputs", 1);
    builder_attr_ints(b, n, "scan_input_directions", 1, INT64S(1));
    builder_attr_ints(b, n, "scan_output_axes", 1, INT64S(1));
    builder_output(b, "acc", ONYX_DTYPE_FLOAT);
    builder_output(b, "partials", ONYX_DTYPE_FLOAT);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0, 100)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(1, 2, 3, 4, 5, 6))};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(9, 112), 0);
    /* Rows taken 5,6 then 3,4 then 1,2: partial sums [5,106], [8,110], [9,112] along axis 1. */
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(5, 8, 9, 106, 110, 112), 0);
    run_result_free(&r);
    builder_free(b);
}

/* ---- subgraph outputs the file leaves untyped ------------------------------------------ */

/* If, Loop and Scan whose subgraph inputs and outputs carry no type in the file (exporters leave
 * them out, or write an empty TypeProto, or a tensor type without its element type): the types
 * come from the producing nodes, and only a conflict is refused. Expected values are worked
 * out by hand. */

/* The three ways a file leaves a value's type out. */
enum untyped_form { NO_TYPE, EMPTY_TYPE, NO_ELEM_TYPE, FORMS };

static void untype(Onnx__ValueInfoProto *vi, enum untyped_form form)
{
    if (form == NO_TYPE) {
        vi->type = NULL;
    } else if (form == EMPTY_TYPE) {
        vi->type->value_case = ONNX__TYPE_PROTO__VALUE__NOT_SET;
        vi->type->tensor_type = NULL;
    } else {
        vi->type->tensor_type->has_elem_type = 0;
        vi->type->tensor_type->elem_type = 0;
    }
}

/* Every input and output of g (and of its nodes' subgraphs) untyped. */
static void untype_graph(Onnx__GraphProto *g, enum untyped_form form, bool inputs_too)
{
    for (size_t i = 0; i < g->n_output; i++)
        untype(g->output[i], form);
    for (size_t i = 0; inputs_too && i < g->n_input; i++)
        untype(g->input[i], form);
    for (size_t n = 0; n < g->n_node; n++)
        for (size_t a = 0; a < g->node[n]->n_attribute; a++)
            if (g->node[n]->attribute[a]->g)
                untype_graph(g->node[n]->attribute[a]->g, form, true);
}

/* Loads b and checks output `index`'s dtype as the model reports it. */
static void expect_output_dtype(builder *b, size_t index, onyx_dtype want)
{
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, NULL, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
    onyx_value_info info;
    cr_assert_eq(onyx_model_output_info(m, index, &info), ONYX_OK);
    cr_assert_eq(info.dtype, want, "output %zu: %s", index, onyx_dtype_name(info.dtype));
    onyx_model_free(m);
}

Test(subgraph_types, if_branch_outputs_without_types_take_their_nodes_types)
{
    for (int form = 0; form < FORMS; form++) {
        builder *b = if_model();
        untype_graph(builder_graph(b), form, false);
        expect_output_dtype(b, 0, ONYX_DTYPE_FLOAT);
        float x[3] = {1, 2, 3};
        for (int c = 0; c < 2; c++) {
            onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_BOOL, 0, NULL, BOOLS(c)),
                                 tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), x)};
            run_result r = run_model(b, 2, in);
            cr_assert_eq(r.run, ONYX_OK, "form %d: %s", form, r.message);
            expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), c ? FLOATS(2, 3, 4) : FLOATS(2, 4, 6),
                          0);
            run_result_free(&r);
        }
        builder_free(b);
    }
}

Test(subgraph_types, if_branches_giving_different_types_are_refused)
{
    /* Nothing declared: the then branch gives float, the else branch double. */
    builder *b = if_model();
    Onnx__GraphProto *else_g = builder_first_node(b)->attribute[1]->g;
    builder_attr_int(b, builder_graph_node(b, else_g, "Cast", "e", "e64"), "to", ONYX_DTYPE_DOUBLE);
    else_g->output[0]->name = "e64";
    untype_graph(builder_graph(b), NO_TYPE, false);
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "branches give output 0 as float and double", NULL);
    builder_free(b);
}

/* sum, partials = Loop(M, cond, S0) with body: s_out = s_in + X, cond_out = cond_in, partial =
 * s_out; and when `nested`, s_out = If(cond_in) then s_in + X else s_in - X inside the body. */
static builder *loop_model(bool nested)
{
    builder *b = builder_new(17);
    builder_input(b, "M", ONYX_DTYPE_INT64, 0, NULL, NULL);
    builder_input(b, "S0", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_initializer(b, "yes", ONYX_DTYPE_BOOL, 0, NULL, BOOLS(1));
    Onnx__GraphProto *body = builder_subgraph(b, "body");
    builder_graph_input(b, body, "i", ONYX_DTYPE_INT64, 0, NULL);
    builder_graph_input(b, body, "cond_in", ONYX_DTYPE_BOOL, 0, NULL);
    builder_graph_input(b, body, "s_in", ONYX_DTYPE_FLOAT, -1, NULL);
    builder_graph_node(b, body, "Identity", "cond_in", "cond_out");
    if (nested) {
        Onnx__GraphProto *then_g = builder_subgraph(b, "then");
        builder_graph_node(b, then_g, "Add", "s_in,X", "a");
        builder_graph_output(b, then_g, "a", ONYX_DTYPE_FLOAT);
        Onnx__GraphProto *else_g = builder_subgraph(b, "else");
        builder_graph_node(b, else_g, "Sub", "s_in,X", "d");
        builder_graph_output(b, else_g, "d", ONYX_DTYPE_FLOAT);
        Onnx__NodeProto *n = builder_graph_node(b, body, "If", "cond_in", "s_out");
        builder_attr_graph(b, n, "then_branch", then_g);
        builder_attr_graph(b, n, "else_branch", else_g);
    } else {
        builder_graph_node(b, body, "Add", "s_in,X", "s_out");
    }
    builder_graph_node(b, body, "Identity", "s_out", "partial");
    builder_graph_output(b, body, "cond_out", ONYX_DTYPE_BOOL);
    builder_graph_output(b, body, "s_out", ONYX_DTYPE_FLOAT);
    builder_graph_output(b, body, "partial", ONYX_DTYPE_FLOAT);
    Onnx__NodeProto *n = builder_node(b, "Loop", "M,yes,S0", "sum,partials");
    builder_attr_graph(b, n, "body", body);
    builder_output(b, "sum", ONYX_DTYPE_FLOAT);
    builder_output(b, "partials", ONYX_DTYPE_FLOAT);
    return b;
}

Test(subgraph_types, loop_body_without_types_takes_its_nodes_types)
{
    for (int nested = 0; nested < 2; nested++) {
        for (int form = 0; form < FORMS; form++) {
            builder *b = loop_model(nested);
            untype_graph(builder_graph(b), form, false);
            expect_output_dtype(b, 0, ONYX_DTYPE_FLOAT);
            expect_output_dtype(b, 1, ONYX_DTYPE_FLOAT);
            onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(3)),
                                 tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, -1)),
                                 tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0.5f, 2))};
            run_result r = run_model(b, 3, in);
            cr_assert_eq(r.run, ONYX_OK, "nested %d, form %d: %s", nested, form, r.message);
            /* cond stays true: three additions of X (the nested If takes its then branch). */
            expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2.5f, 5), 0);
            expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(1.5f, 1, 2, 3, 2.5f, 5), 0);
            run_result_free(&r);
            builder_free(b);
        }
    }
}

Test(subgraph_types, loop_carried_value_changing_type_is_refused)
{
    /* Nothing declared: the body casts the carried float to double. */
    builder *b = loop_model(false);
    Onnx__GraphProto *body = builder_first_node(b)->attribute[0]->g;
    builder_attr_int(b, builder_graph_node(b, body, "Cast", "s_out", "s_out64"), "to", ONYX_DTYPE_DOUBLE);
    body->output[1]->name = "s_out64";
    untype_graph(builder_graph(b), NO_TYPE, false);
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "loop-carried value 0 is double in the subgraph but must be float", NULL);
    builder_free(b);
}

Test(subgraph_types, scan_body_without_types_takes_its_nodes_types)
{
    /* acc, ys = Scan(A0, XS): acc += x for each row x of XS, ys its running values. */
    for (int form = 0; form < FORMS; form++) {
        builder *b = builder_new(17);
        builder_input(b, "A0", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
        builder_input(b, "XS", ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), NULL);
        Onnx__GraphProto *body = builder_subgraph(b, "body");
        builder_graph_input(b, body, "acc", ONYX_DTYPE_FLOAT, -1, NULL);
        builder_graph_input(b, body, "x", ONYX_DTYPE_FLOAT, -1, NULL);
        builder_graph_node(b, body, "Add", "acc,x", "acc2");
        builder_graph_node(b, body, "Identity", "acc2", "y");
        builder_graph_output(b, body, "acc2", ONYX_DTYPE_FLOAT);
        builder_graph_output(b, body, "y", ONYX_DTYPE_FLOAT);
        Onnx__NodeProto *n = builder_node(b, "Scan", "A0,XS", "acc,ys");
        builder_attr_graph(b, n, "body", body);
        builder_attr_int(b, n, "num_scan_inputs", 1);
        builder_output(b, "acc", ONYX_DTYPE_FLOAT);
        builder_output(b, "ys", ONYX_DTYPE_FLOAT);
        untype_graph(builder_graph(b), form, false);
        expect_output_dtype(b, 1, ONYX_DTYPE_FLOAT);
        onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0, 10)),
                             tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(1, 2, 3, 4, 5, 6))};
        run_result r = run_model(b, 2, in);
        cr_assert_eq(r.run, ONYX_OK, "form %d: %s", form, r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(9, 22), 0);
        expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(1, 12, 4, 16, 9, 22), 0);
        run_result_free(&r);
        builder_free(b);
    }
}
