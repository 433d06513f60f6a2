/* The loader's error paths: each bad model gets a clear error naming what and where. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* X (float [2]) -> Relu -> Y: the smallest valid model, to break in various ways. */
static builder *relu_model(void)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "Relu", "X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

static onyx_status load(builder *b, char *message, size_t size)
{
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    onyx_model *model = NULL;
    onyx_status st = onyx_model_load_buffer(bytes, n, NULL, &model);
    snprintf(message, size, "%s", onyx_model_errmsg(model));
    onyx_model_free(model);
    return st;
}

Test(loader, valid_model_loads)
{
    builder *b = relu_model();
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_OK, "%s", msg);
    builder_free(b);
}

Test(loader, every_truncation_is_an_error)
{
    builder *b = relu_model();
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    uint8_t *copy = malloc(n);
    memcpy(copy, bytes, n);
    for (size_t len = 0; len < n; len++) {
        onyx_model *model = NULL;
        onyx_status st = onyx_model_load_buffer(copy, len, NULL, &model);
        /* Some prefixes are valid protobufs of a smaller model; none may load as this one. */
        cr_assert_neq(st, ONYX_OK, "a model truncated to %zu of %zu bytes loaded", len, n);
        cr_assert(strlen(onyx_model_errmsg(model)) > 0);
        onyx_model_free(model);
    }
    free(copy);
    builder_free(b);
}

Test(loader, garbage_is_not_a_model)
{
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34};
    onyx_model *model = NULL;
    cr_assert_eq(onyx_model_load_buffer(garbage, sizeof garbage, NULL, &model), ONYX_ERROR_INVALID_MODEL);
    expect_message(onyx_model_errmsg(model), "protobuf", NULL);
    onyx_model_free(model);
}

Test(loader, short_raw_data_is_an_error)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(4), NULL);
    Onnx__TensorProto *w = builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, 2, 3, 4));
    w->raw_data.len = 12; /* one float short */
    builder_node(b, "Add", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'W'", "raw_data", "12", "16", NULL);
    builder_free(b);
}

Test(loader, typed_data_count_must_match_dims)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(3), NULL);
    Onnx__TensorProto *w = builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3));
    w->has_raw_data = 0;
    static float two[2] = {1, 2};
    w->n_float_data = 2;
    w->float_data = two;
    builder_node(b, "Add", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'W'", "3 elements", NULL);
    builder_free(b);
}

Test(loader, negative_and_overflowing_dims_are_errors)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    Onnx__TensorProto *w = builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2));
    builder_node(b, "Add", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    w->dims[0] = -2;
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'W'", "negative", NULL);
    /* 2^40 * 2^40 elements: the product overflows 64 bits. */
    static int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    w->n_dims = 2;
    w->dims = huge;
    onyx_status st = load(b, msg, sizeof msg);
    cr_assert(st == ONYX_ERROR_INVALID_MODEL || st == ONYX_ERROR_LIMIT, "%s", msg);
    expect_message(msg, "'W'", NULL);
    builder_free(b);
}

Test(loader, unsupported_nodes_are_all_listed)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    Onnx__NodeProto *n1 = builder_node(b, "FancyOp", "X", "A");
    n1->name = "first";
    builder_node(b, "Relu", "A", "B");
    Onnx__NodeProto *n2 = builder_node(b, "OtherOp", "B", "Y");
    n2->name = "second";
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    expect_message(msg, "2 nodes", "'first'", "FancyOp", "'second'", "OtherOp", NULL);
    builder_free(b);
}

Test(loader, unsupported_model_can_still_be_inspected)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "Relu", "X", "A");
    builder_node(b, "FancyOp", "A", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer(bytes, n, NULL, &model), ONYX_ERROR_UNSUPPORTED);
    cr_assert_eq(onyx_model_node_count(model), 2);
    onyx_node_info info;
    cr_assert_eq(onyx_model_node_info(model, 1, &info), ONYX_OK);
    cr_assert_str_eq(info.op_type, "FancyOp");
    cr_assert_eq(info.supported, 0);
    cr_assert_eq(onyx_model_node_info(model, 0, &info), ONYX_OK);
    cr_assert_eq(info.supported, 1);
    onyx_session *session;
    cr_assert_eq(onyx_session_create(model, NULL, &session), ONYX_ERROR_INVALID_STATE);
    onyx_session_free(session);
    onyx_model_free(model);
    builder_free(b);
}

Test(loader, opset_newer_than_onyx_is_unsupported)
{
    builder *b = relu_model();
    builder_model(b)->opset_import[0]->version = 99;
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    expect_message(msg, "opset 99", "ai.onnx", "28", NULL);
    builder_free(b);
}

/* A node resolves to the schema in effect at its opset: Add has not changed since opset 14, so
 * an opset-25 model runs it; a version onyx lists as unsupported is refused by name. */
Test(loader, unchanged_operator_runs_at_later_opsets)
{
    builder *b = builder_new(25);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "Relu", "X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_OK, "%s", msg);
    builder_free(b);
}

Test(loader, cycle_is_an_error)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    Onnx__NodeProto *a = builder_node(b, "Add", "X,C", "A");
    a->name = "loop_a";
    builder_node(b, "Relu", "A", "C");
    builder_node(b, "Relu", "A", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "cycle", NULL);
    builder_free(b);
}

Test(loader, nodes_out_of_order_are_sorted)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "Relu", "A", "Y"); /* reads A, produced below */
    builder_node(b, "Neg", "X", "A");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    /* Neg may not be implemented yet; either way the order is not the problem. */
    char msg[2048];
    onyx_status st = load(b, msg, sizeof msg);
    cr_assert(st == ONYX_OK || st == ONYX_ERROR_UNSUPPORTED, "%s", msg);
    builder_free(b);
}

Test(loader, missing_input_is_named)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    Onnx__NodeProto *n = builder_node(b, "Add", "X,nowhere", "Y");
    n->name = "adder";
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'adder'", "Add", "'nowhere'", NULL);
    builder_free(b);
}

Test(loader, output_produced_twice_is_an_error)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "Relu", "X", "Y");
    builder_node(b, "Relu", "X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'Y'", "already produced", NULL);
    builder_free(b);
}

Test(loader, missing_required_attribute_is_named)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    Onnx__NodeProto *n = builder_node(b, "Cast", "X", "Y");
    n->name = "caster";
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'caster'", "Cast", "'to'", NULL);
    builder_free(b);
}

Test(loader, wrong_attribute_type_is_named)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), NULL);
    Onnx__NodeProto *n = builder_node(b, "Softmax", "X", "Y");
    builder_attr_float(b, n, "axis", 1.0f);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "Softmax", "'axis'", "int", "float", NULL);
    builder_free(b);
}

Test(loader, declared_output_dtype_must_match)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "Relu", "X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_INT64);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'Y'", "int64", "float", NULL);
    builder_free(b);
}

/* ---- external data --------------------------------------------------------------------- */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/onyx-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    fclose(f);
}

/* A model whose initializer W (float [2]) lives in `location`; loaded from its file. */
static onyx_status load_external(const char *location, char *msg, size_t size)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    Onnx__TensorProto *w = builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    w->has_raw_data = 0;
    w->has_data_location = 1;
    w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    Onnx__StringStringEntryProto *e = builder_alloc(b, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = "location";
    e->value = builder_strdup(b, location);
    w->n_external_data = 1;
    w->external_data = builder_alloc(b, sizeof(void *));
    w->external_data[0] = e;
    builder_node(b, "Add", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    char path[512];
    snprintf(path, sizeof path, "%s/model/model.onnx", tmpdir);
    write_file(path, bytes, n);
    onyx_model *model = NULL;
    onyx_status st = onyx_model_load_file(path, NULL, &model);
    snprintf(msg, size, "%s", onyx_model_errmsg(model));
    onyx_model_free(model);
    builder_free(b);
    return st;
}

Test(loader, external_data_inside_the_directory_loads)
{
    make_tmpdir();
    char path[512], msg[2048];
    snprintf(path, sizeof path, "%s/model", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/model/weights.bin", tmpdir);
    write_file(path, FLOATS(1, 2), 8);
    cr_assert_eq(load_external("weights.bin", msg, sizeof msg), ONYX_OK, "%s", msg);
    /* Shorter than the tensor: an error, not a read past the end. */
    write_file(path, FLOATS(1), 4);
    cr_assert_eq(load_external("weights.bin", msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'W'", "weights.bin", NULL);
}

Test(loader, external_data_may_not_escape_the_directory)
{
    make_tmpdir();
    char path[512], target[512], msg[2048];
    snprintf(path, sizeof path, "%s/model", tmpdir);
    mkdir(path, 0700);
    snprintf(target, sizeof target, "%s/secret.bin", tmpdir);
    write_file(target, FLOATS(1, 2), 8);

    cr_assert_eq(load_external(target, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL); /* absolute */
    expect_message(msg, "'W'", "relative", NULL);
    cr_assert_eq(load_external("../secret.bin", msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'W'", "..", NULL);
    snprintf(path, sizeof path, "%s/model/link.bin", tmpdir);
    cr_assert_eq(symlink(target, path), 0);
    cr_assert_eq(load_external("link.bin", msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'W'", "outside", NULL);
}

Test(loader, external_data_refused_for_buffers_without_a_directory)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    Onnx__TensorProto *w = builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    w->has_raw_data = 0;
    w->has_data_location = 1;
    w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    builder_node(b, "Add", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'W'", NULL);
    builder_free(b);
}

Test(loader, unnamed_first_output_is_an_error)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), NULL);
    Onnx__NodeProto *n = builder_node(b, "Transpose", "X", "");
    n->name = "nameless";
    builder_node(b, "Relu", "X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "'nameless'", "first output", NULL);
    builder_free(b);
}
