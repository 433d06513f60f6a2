/* Sequences and optionals: the error paths the ONNX node tests do not reach (positions out
 * of range, empty sequences and optionals, type mismatches, sequences where a tensor is
 * required), and the public API's blocks (onyx_value_pack / _item, a malformed block
 * refused at onyx_session_set_input). Expected values are worked out by hand here. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

/* Turns value info vi's tensor type into a sequence, optional or optional sequence of it. */
static void wrap_type(builder *b, Onnx__ValueInfoProto *vi, int flags)
{
    Onnx__TypeProto *t = vi->type;
    if (flags & ONYX_SEQUENCE) {
        Onnx__TypeProto *seq = builder_alloc(b, sizeof *seq);
        Onnx__TypeProto__Sequence *s = builder_alloc(b, sizeof *s);
        onnx__type_proto__init(seq);
        onnx__type_proto__sequence__init(s);
        s->elem_type = t;
        seq->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
        seq->sequence_type = s;
        t = seq;
    }
    if (flags & ONYX_OPTIONAL) {
        Onnx__TypeProto *opt = builder_alloc(b, sizeof *opt);
        Onnx__TypeProto__Optional *o = builder_alloc(b, sizeof *o);
        onnx__type_proto__init(opt);
        onnx__type_proto__optional__init(o);
        o->elem_type = t;
        opt->value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE;
        opt->optional_type = o;
        t = opt;
    }
    vi->type = t;
}

static Onnx__ValueInfoProto *last_input(builder *b)
{
    return builder_graph(b)->input[builder_graph(b)->n_input - 1];
}
static Onnx__ValueInfoProto *last_output(builder *b)
{
    return builder_graph(b)->output[builder_graph(b)->n_output - 1];
}

/* seq = (X, Y); Z inserted at `pos`; then its item `at`, its length and all of it concatenated. */
static builder *insert_model(void)
{
    builder *b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(-1), (const char *const[]){"a"});
    builder_input(b, "Y", ONYX_DTYPE_FLOAT, 1, DIMS(-1), (const char *const[]){"b"});
    builder_input(b, "Z", ONYX_DTYPE_FLOAT, 1, DIMS(-1), (const char *const[]){"c"});
    builder_input(b, "pos", ONYX_DTYPE_INT64, 0, NULL, NULL);
    builder_input(b, "at", ONYX_DTYPE_INT32, 0, NULL, NULL);
    builder_node(b, "SequenceConstruct", "X,Y", "s");
    builder_node(b, "SequenceInsert", "s,Z,pos", "s2");
    builder_node(b, "SequenceAt", "s2,at", "item");
    builder_node(b, "SequenceLength", "s2", "n");
    Onnx__NodeProto *c = builder_node(b, "ConcatFromSequence", "s2", "all");
    builder_attr_int(b, c, "axis", 0);
    builder_output(b, "item", ONYX_DTYPE_FLOAT);
    builder_output(b, "n", ONYX_DTYPE_INT64);
    builder_output(b, "all", ONYX_DTYPE_FLOAT);
    return b;
}

Test(sequences, insert_at_length_and_concat)
{
    builder *b = insert_model();
    int64_t pos = -1; /* before the last: (X, Z, Y) */
    int32_t at = 1;
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(4, 5, 6)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, &pos),
                         tensor_of(ONYX_DTYPE_INT32, 0, NULL, &at)};
    run_result r = run_model(b, 5, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(4, 5, 6), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 0, NULL, INT64S(3), 0);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_FLOAT, 1, DIMS(6), FLOATS(1, 2, 4, 5, 6, 3), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(sequences, positions_out_of_range_are_errors_naming_the_node)
{
    builder *b = insert_model();
    int64_t pos = 3; /* one past the end of (X, Y) + 1 */
    int32_t at = 0;
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(4, 5, 6)),
                         tensor_of(ONYX_DTYPE_INT64, 0, NULL, &pos),
                         tensor_of(ONYX_DTYPE_INT32, 0, NULL, &at)};
    run_result r = run_model(b, 5, in);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "SequenceInsert", "position 3 is out of range", NULL);
    run_result_free(&r);
    pos = 0;
    at = -4; /* the sequence has 3 */
    r = run_model(b, 5, in);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "SequenceAt", "position -4 is out of range", NULL);
    run_result_free(&r);
    builder_free(b);
}

Test(sequences, empty_sequences_are_errors_where_an_item_is_needed)
{
    builder *b = builder_new(17);
    builder_node(b, "SequenceEmpty", "", "s");
    builder_node(b, "SequenceErase", "s", "e");
    builder_node(b, "SequenceLength", "e", "n");
    builder_output(b, "n", ONYX_DTYPE_INT64);
    run_result r = run_model(b, 0, NULL);
    cr_assert_neq(r.load == ONYX_OK ? r.run : r.load, ONYX_OK);
    expect_message(r.message, "SequenceErase", "empty", NULL);
    run_result_free(&r);
    builder_free(b);

    b = builder_new(17);
    builder_node(b, "SequenceEmpty", "", "s");
    Onnx__NodeProto *c = builder_node(b, "ConcatFromSequence", "s", "y");
    builder_attr_int(b, c, "axis", 0);
    builder_output(b, "y", ONYX_DTYPE_FLOAT);
    r = run_model(b, 0, NULL);
    cr_assert_neq(r.load == ONYX_OK ? r.run : r.load, ONYX_OK);
    expect_message(r.message, "ConcatFromSequence", "empty", NULL);
    run_result_free(&r);
    builder_free(b);
}

Test(sequences, type_mismatches_fail_at_load)
{
    /* An int64 tensor into a sequence of floats. */
    builder *b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_input(b, "I", ONYX_DTYPE_INT64, 1, DIMS(2), NULL);
    builder_node(b, "SequenceConstruct", "X", "s");
    builder_node(b, "SequenceInsert", "s,I", "s2");
    builder_node(b, "SequenceLength", "s2", "n");
    builder_output(b, "n", ONYX_DTYPE_INT64);
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "SequenceInsert", "int64", "float", NULL);
    builder_free(b);

    /* A sequence where an operator takes a tensor. */
    b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "SequenceConstruct", "X", "s");
    builder_node(b, "Abs", "s", "y");
    builder_output(b, "y", ONYX_DTYPE_FLOAT);
    r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Abs", "sequence(float)", "tensor", NULL);
    builder_free(b);

    /* A tensor where an operator takes a sequence. */
    b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "SequenceLength", "X", "n");
    builder_output(b, "n", ONYX_DTYPE_INT64);
    r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "SequenceLength", "must be a sequence", NULL);
    builder_free(b);
}

Test(sequences, empty_optional_has_no_element_to_get)
{
    builder *b = builder_new(18);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    wrap_type(b, last_input(b), ONYX_OPTIONAL);
    builder_node(b, "OptionalHasElement", "X", "has");
    builder_node(b, "OptionalGetElement", "X", "y");
    builder_output(b, "has", ONYX_DTYPE_BOOL);
    builder_output(b, "y", ONYX_DTYPE_FLOAT);
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_model *model = NULL;
    onyx_session *s = NULL;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, NULL, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    onyx_value_info info;
    onyx_model_input_info(model, 0, &info);
    cr_assert_eq(info.dtype, ONYX_OPTIONAL_OF(ONYX_DTYPE_FLOAT));
    cr_assert_eq(info.rank, -1);

    onyx_tensor none;
    cr_assert_eq(onyx_value_pack(ONYX_OPTIONAL_OF(ONYX_DTYPE_FLOAT), 0, NULL, &none), ONYX_OK);
    cr_assert_eq(onyx_value_length(&none), 0);
    cr_assert_eq(onyx_session_set_input(s, 0, &none), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_RUNTIME);
    expect_message(onyx_session_errmsg(s), "OptionalGetElement", "holds no value", NULL);

    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(7, 8)), some;
    cr_assert_eq(onyx_value_pack(ONYX_OPTIONAL_OF(ONYX_DTYPE_FLOAT), 1, &x, &some), ONYX_OK);
    cr_assert_eq(onyx_session_set_input(s, 0, &some), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor has, y;
    onyx_session_get_output(s, 0, &has);
    onyx_session_get_output(s, 1, &y);
    expect_tensor(&has, ONYX_DTYPE_BOOL, 0, NULL, BOOLS(1), 0);
    expect_tensor(&y, ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(7, 8), 0);
    onyx_tensor_free_data(none.data);
    onyx_tensor_free_data(some.data);
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
}

/* Identity of a sequence input: the API takes a packed block and gives one back. */
static builder *identity_model(void)
{
    builder *b = builder_new(17);
    builder_input(b, "S", ONYX_DTYPE_FLOAT, 1, DIMS(-1), NULL);
    wrap_type(b, last_input(b), ONYX_SEQUENCE);
    builder_node(b, "Identity", "S", "T");
    builder_output(b, "T", ONYX_DTYPE_FLOAT);
    wrap_type(b, last_output(b), ONYX_SEQUENCE);
    return b;
}

Test(sequences, api_passes_sequences_in_and_out)
{
    builder *b = identity_model();
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_model *model = NULL;
    onyx_session *s = NULL;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, NULL, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    onyx_tensor items[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                            tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), FLOATS(3, 4, 5))};
    onyx_tensor seq, out, item;
    cr_assert_eq(onyx_value_pack(ONYX_SEQUENCE_OF(ONYX_DTYPE_FLOAT), 2, items, &seq), ONYX_OK);
    cr_assert_eq(onyx_session_set_input(s, 0, &seq), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    cr_assert_eq(out.dtype, ONYX_SEQUENCE_OF(ONYX_DTYPE_FLOAT));
    cr_assert_eq(onyx_value_length(&out), 2);
    cr_assert_eq(onyx_value_item(&out, 1, &item), ONYX_OK);
    expect_tensor(&item, ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), FLOATS(3, 4, 5), 0);
    cr_assert_eq(onyx_value_item(&out, 2, &item), ONYX_ERROR_INVALID_ARGUMENT);

    /* A tensor where the model takes a sequence, and a block whose count lies. */
    cr_assert_eq(onyx_session_set_input(s, 0, &items[0]), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(s), "sequence(float)", NULL);
    void *bad = malloc((size_t)seq.dims[0] + 64);
    cr_assert(bad);
    void *aligned = (void *)(((uintptr_t)bad + 63) & ~(uintptr_t)63);
    memcpy(aligned, seq.data, (size_t)seq.dims[0]);
    onyx_tensor broken = seq;
    broken.data = aligned;
    ((int64_t *)aligned)[0] = INT64_C(1) << 40;
    cr_assert_neq(onyx_session_set_input(s, 0, &broken), ONYX_OK);
    expect_message(onyx_session_errmsg(s), "input 'S'", NULL);
    /* An item whose dtype is not the sequence's. */
    memcpy(aligned, seq.data, (size_t)seq.dims[0]);
    ((int32_t *)((char *)aligned + 16))[0] = ONYX_DTYPE_INT64;
    cr_assert_eq(onyx_session_set_input(s, 0, &broken), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(s), "item 0", "int64", NULL);
    /* An item whose data lies past the block's end. */
    memcpy(aligned, seq.data, (size_t)seq.dims[0]);
    broken.dims[0] -= 64;
    cr_assert_neq(onyx_session_set_input(s, 0, &broken), ONYX_OK);
    free(bad);

    /* onyx_value_pack refuses items of another dtype and two items in an optional. */
    onyx_tensor wrong = tensor_of(ONYX_DTYPE_INT64, 0, NULL, INT64S(1)), v;
    onyx_dtype seq_type = ONYX_SEQUENCE_OF(ONYX_DTYPE_FLOAT), opt_type = ONYX_OPTIONAL_OF(ONYX_DTYPE_FLOAT);
    cr_assert_eq(onyx_value_pack(seq_type, 1, &wrong, &v), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_value_pack(opt_type, 2, items, &v), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_value_pack(ONYX_DTYPE_FLOAT, 1, items, &v), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_value_length(&items[0]), -1);

    onyx_tensor_free_data(seq.data);
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
}

Test(sequences, split_to_sequence_checks_its_lengths)
{
    builder *b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(5), NULL);
    builder_input(b, "split", ONYX_DTYPE_INT64, 1, DIMS(2), NULL);
    builder_node(b, "SplitToSequence", "X,split", "s");
    builder_node(b, "SequenceLength", "s", "n");
    builder_output(b, "n", ONYX_DTYPE_INT64);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(1, 2, 3, 4, 5)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(2, 2))};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "SplitToSequence", "add up to 4, not 5", NULL);
    run_result_free(&r);
    in[1] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(2, 3));
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 0, NULL, INT64S(2), 0);
    run_result_free(&r);
    builder_free(b);
}

/* (A, B) stacked on a new axis 1, and concatenated along axis 1: [[1,2],[3,4]] and [[5,6],[7,8]]. */
Test(sequences, concat_from_sequence_stacks_and_concatenates)
{
    for (int new_axis = 0; new_axis <= 1; new_axis++) {
        builder *b = builder_new(17);
        builder_input(b, "A", ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), NULL);
        builder_input(b, "B", ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), NULL);
        builder_node(b, "SequenceConstruct", "A,B", "s");
        Onnx__NodeProto *c = builder_node(b, "ConcatFromSequence", "s", "y");
        builder_attr_int(b, c, "axis", 1);
        builder_attr_int(b, c, "new_axis", new_axis);
        builder_output(b, "y", ONYX_DTYPE_FLOAT);
        onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 3, 4)),
                             tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(5, 6, 7, 8))};
        run_result r = run_model(b, 2, in);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        if (new_axis) /* y[i][k][j] = item k's [i][j] */
            expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), FLOATS(1, 2, 5, 6, 3, 4, 7, 8),
                          0);
        else
            expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 4), FLOATS(1, 2, 5, 6, 3, 4, 7, 8), 0);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(sequences, concat_from_sequence_refuses_unlike_shapes)
{
    builder *b = builder_new(17);
    builder_input(b, "A", ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), NULL);
    builder_input(b, "B", ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), NULL);
    builder_node(b, "SequenceConstruct", "A,B", "s");
    Onnx__NodeProto *c = builder_node(b, "ConcatFromSequence", "s", "y");
    builder_attr_int(b, c, "axis", 1);
    builder_output(b, "y", ONYX_DTYPE_FLOAT);
    float zeros[6] = {0};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), zeros),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), zeros)};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "ConcatFromSequence", "tensor 1", NULL);
    run_result_free(&r);
    builder_free(b);
}

/* SequenceMap over two sequences of different lengths. */
Test(sequences, sequence_map_needs_sequences_of_one_length)
{
    builder *b = builder_new(17);
    builder_input(b, "A", ONYX_DTYPE_FLOAT, 1, DIMS(1), NULL);
    builder_node(b, "SequenceConstruct", "A,A", "s2");
    builder_node(b, "SequenceConstruct", "A", "s1");
    Onnx__GraphProto *body = builder_subgraph(b, "body");
    builder_graph_input(b, body, "x", ONYX_DTYPE_FLOAT, -1, NULL);
    builder_graph_input(b, body, "y", ONYX_DTYPE_FLOAT, -1, NULL);
    builder_graph_node(b, body, "Add", "x,y", "z");
    builder_graph_output(b, body, "z", ONYX_DTYPE_FLOAT);
    Onnx__NodeProto *m = builder_node(b, "SequenceMap", "s2,s1", "out");
    builder_attr_graph(b, m, "body", body);
    builder_node(b, "SequenceLength", "out", "n");
    builder_output(b, "n", ONYX_DTYPE_INT64);
    onyx_tensor in[1] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1))};
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "SequenceMap", "input sequence 1 has 1 tensors, the first 2", NULL);
    run_result_free(&r);
    builder_free(b);
}
