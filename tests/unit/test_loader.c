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

/* ---- the packed dtypes: unpacked to one element per byte where ONNX data is read --------- */

/* A TensorProto of `dtype` and dims [n] with the given raw_data (or int32_data when
 * `entries` is not NULL), read back through onyx_tensor_read_buffer. */
static onyx_status read_proto(onyx_dtype dtype, int64_t n, const void *raw, size_t raw_size,
                              const int32_t *entries, size_t n_entries, onyx_tensor *t, char *msg)
{
    Onnx__TensorProto p;
    onnx__tensor_proto__init(&p);
    int64_t dims[1] = {n};
    p.n_dims = 1;
    p.dims = dims;
    p.has_data_type = 1;
    p.data_type = (int32_t)dtype;
    if (entries) {
        p.n_int32_data = n_entries;
        p.int32_data = (int32_t *)entries;
    } else {
        p.has_raw_data = 1;
        p.raw_data = (ProtobufCBinaryData){raw_size, (uint8_t *)raw};
    }
    uint8_t buf[256];
    size_t size = onnx__tensor_proto__pack(&p, buf);
    return onyx_tensor_read_buffer(buf, size, t, NULL, msg, 2048);
}

static void read_ok(onyx_dtype dtype, int64_t n, const void *raw, size_t raw_size, const int32_t *entries,
                    size_t n_entries, onyx_tensor *t)
{
    char msg[2048];
    cr_assert_eq(read_proto(dtype, n, raw, raw_size, entries, n_entries, t, msg), ONYX_OK, "%s", msg);
}

static void expect_bytes(const onyx_tensor *t, onyx_dtype dtype, int64_t n, const uint8_t *want)
{
    cr_assert_eq(t->dtype, dtype);
    cr_assert_eq(t->rank, 1);
    cr_assert_eq(t->dims[0], n);
    for (int64_t i = 0; i < n; i++)
        cr_expect_eq(((const uint8_t *)t->data)[i], want[i], "element %lld: %#x, expected %#x",
                     (long long)i, ((const uint8_t *)t->data)[i], want[i]);
}

/* Expected values from onnx.numpy_helper.to_array of the same protos. */
Test(loader, packed_raw_data_is_unpacked)
{
    onyx_tensor t;
    /* int4 [-1, 7, -8]: two to a byte, low nibble first, the last byte half padding. */
    read_ok(ONYX_DTYPE_INT4, 3, (const uint8_t[]){0x7f, 0x08}, 2, NULL, 0, &t);
    expect_bytes(&t, ONYX_DTYPE_INT4, 3, (const uint8_t[]){0xff, 0x07, 0xf8});
    onyx_tensor_free_data(t.data);
    /* uint2 [3, 0, 1, 2, 3]: four to a byte. */
    read_ok(ONYX_DTYPE_UINT2, 5, (const uint8_t[]){0x93, 0x03}, 2, NULL, 0, &t);
    expect_bytes(&t, ONYX_DTYPE_UINT2, 5, (const uint8_t[]){3, 0, 1, 2, 3});
    onyx_tensor_free_data(t.data);
    /* float6e3m2 codes [63, 1, 32, 21, 42]: a 6-bit LSB-first stream, ceil(5 * 6 / 8) bytes. */
    read_ok(ONYX_DTYPE_FLOAT6E3M2, 5, (const uint8_t[]){0x7f, 0x00, 0x56, 0x2a}, 4, NULL, 0, &t);
    expect_bytes(&t, ONYX_DTYPE_FLOAT6E3M2, 5, (const uint8_t[]){63, 1, 32, 21, 42});
    onyx_tensor_free_data(t.data);
}

Test(loader, packed_int32_data_is_unpacked)
{
    onyx_tensor t;
    /* 4-bit: two elements to an entry. */
    read_ok(ONYX_DTYPE_INT4, 3, NULL, 0, (const int32_t[]){0x7f, 0x08}, 2, &t);
    expect_bytes(&t, ONYX_DTYPE_INT4, 3, (const uint8_t[]){0xff, 0x07, 0xf8});
    onyx_tensor_free_data(t.data);
    /* 6-bit: one element to an entry, bits 0-5 (numpy_helper masks the rest off too). */
    read_ok(ONYX_DTYPE_FLOAT6E2M3, 2, NULL, 0, (const int32_t[]){0x13f, 0x15}, 2, &t);
    expect_bytes(&t, ONYX_DTYPE_FLOAT6E2M3, 2, (const uint8_t[]){0x3f, 0x15});
    onyx_tensor_free_data(t.data);
    /* float8: one to an entry. */
    read_ok(ONYX_DTYPE_FLOAT8E5M2, 2, NULL, 0, (const int32_t[]){0x7c, 0xfe}, 2, &t);
    expect_bytes(&t, ONYX_DTYPE_FLOAT8E5M2, 2, (const uint8_t[]){0x7c, 0xfe});
    onyx_tensor_free_data(t.data);
}

Test(loader, packed_data_of_the_wrong_size_is_an_error)
{
    char msg[2048];
    onyx_tensor t;
    /* 3 int4 need 2 bytes, not 3 (one per element) nor 1. */
    cr_assert_eq(read_proto(ONYX_DTYPE_INT4, 3, (const uint8_t[]){1, 2, 3}, 3, NULL, 0, &t, msg),
                 ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "raw_data", "3 bytes", "int4", "need 2", NULL);
    cr_assert_eq(read_proto(ONYX_DTYPE_UINT2, 5, (const uint8_t[]){1}, 1, NULL, 0, &t, msg),
                 ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "raw_data", "uint2", "need 2", NULL);
    /* 3 int4 in int32_data take 2 entries. */
    cr_assert_eq(read_proto(ONYX_DTYPE_INT4, 3, NULL, 0, (const int32_t[]){1, 2, 3}, 3, &t, msg),
                 ONYX_ERROR_INVALID_MODEL);
    expect_message(msg, "3 int32_data entries", "not the 2", NULL);
}

Test(loader, packed_initializer_runs)
{
    builder *b = builder_new(21);
    Onnx__TensorProto *w = builder_initializer(b, "W", ONYX_DTYPE_INT4, 1, DIMS(3), NULL);
    w->raw_data = (ProtobufCBinaryData){2, builder_alloc(b, 2)};
    memcpy(w->raw_data.data, (const uint8_t[]){0x7f, 0x08}, 2);
    Onnx__NodeProto *cast = builder_node(b, "Cast", "W", "Y");
    builder_attr_int(b, cast, "to", ONYX_DTYPE_INT8);
    builder_output(b, "Y", ONYX_DTYPE_INT8);
    int8_t y[3];
    run_into(b, 1, 0, NULL, y, sizeof y);
    cr_expect(y[0] == -1 && y[1] == 7 && y[2] == -8, "%d %d %d", y[0], y[1], y[2]);
    builder_free(b);
}

Test(loader, operators_refuse_dtypes_they_lack)
{
    builder *b = builder_new(21);
    builder_input(b, "X", ONYX_DTYPE_FLOAT8E4M3FN, 1, DIMS(2), NULL);
    Onnx__NodeProto *n = builder_node(b, "Relu", "X", "Y");
    n->name = "act";
    builder_output(b, "Y", ONYX_DTYPE_FLOAT8E4M3FN);
    char msg[2048];
    cr_assert_eq(load(b, msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    expect_message(msg, "'act'", "Relu", "float8e4m3fn", NULL);
    builder_free(b);
}
