/* Hostile models and inputs: each ends in an error status with a message naming what and
 * where, never a crash, and the limits hold before anything large is allocated. */
#include "harness.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- protobuf bytes written by hand, for shapes the builder cannot express ---------------- */

typedef struct bytes {
    uint8_t *data;
    size_t size, cap;
} bytes;

static void put(bytes *b, const void *data, size_t n)
{
    if (b->size + n > b->cap) {
        b->cap = (b->size + n) * 2;
        b->data = realloc(b->data, b->cap);
        cr_assert_not_null(b->data);
    }
    memcpy(b->data + b->size, data, n);
    b->size += n;
}

static void put_varint(bytes *b, uint64_t v)
{
    uint8_t out[10];
    size_t n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        out[n] |= v ? 0x80 : 0;
        n++;
    } while (v);
    put(b, out, n);
}

/* Field `number` holding `payload` as a length-delimited field; payload is consumed. */
static bytes wrap(int number, bytes payload)
{
    bytes b = {0};
    put_varint(&b, (uint64_t)number << 3 | 2);
    put_varint(&b, payload.size);
    put(&b, payload.data, payload.size);
    free(payload.data);
    return b;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

/* A model whose graph input X has a type nesting `depth` sequences around a float tensor.
 * Written outside in, from the sizes of every level computed first. */
static bytes nested_type_model(int depth)
{
    static const uint8_t tensor_type[] = {0x0a, 0x02, 0x08, 0x01}; /* tensor_type { elem_type: FLOAT } */
    size_t *type_size = malloc(((size_t)depth + 1) * sizeof *type_size);
    size_t *sequence_size = malloc(((size_t)depth + 1) * sizeof *sequence_size);
    cr_assert(type_size && sequence_size);
    type_size[0] = sizeof tensor_type;
    for (int i = 1; i <= depth; i++) { /* sequence_type (4) { elem_type (1) { level i - 1 } } */
        sequence_size[i] = 1 + varint_size(type_size[i - 1]) + type_size[i - 1];
        type_size[i] = 1 + varint_size(sequence_size[i]) + sequence_size[i];
    }
    size_t type = type_size[depth];
    size_t input = 3 + 1 + varint_size(type) + type; /* name "X", type (2) */
    size_t graph = 1 + varint_size(input) + input;   /* input (11) */
    bytes b = {0};
    put(&b, "\x08\x08", 2); /* ir_version 8 */
    put(&b, "\x42\x04\x0a\x00\x10\x0d", 6); /* opset_import { domain: "" version: 13 } */
    put(&b, "\x3a", 1); /* graph (7) */
    put_varint(&b, graph);
    put(&b, "\x5a", 1); /* input (11) */
    put_varint(&b, input);
    put(&b, "\x0a\x01X\x12", 4); /* name, then type (2) */
    put_varint(&b, type);
    for (int i = depth; i >= 1; i--) {
        put(&b, "\x22", 1);
        put_varint(&b, sequence_size[i]);
        put(&b, "\x0a", 1);
        put_varint(&b, type_size[i - 1]);
    }
    put(&b, tensor_type, sizeof tensor_type);
    free(type_size);
    free(sequence_size);
    return b;
}

static onyx_status load_bytes(const bytes *b, const onyx_options *options, char *msg, size_t size)
{
    onyx_model *model = NULL;
    onyx_status st = onyx_model_load_buffer(b->data, b->size, options, &model);
    snprintf(msg, size, "%s", onyx_model_errmsg(model));
    onyx_model_free(model);
    return st;
}

Test(malformed, deep_message_nesting_is_refused_before_unpacking)
{
    /* A hundred thousand levels in about 1 MB: protobuf-c alone would overflow the stack. */
    bytes model = nested_type_model(100000);
    char msg[2048];
    cr_assert_eq(load_bytes(&model, NULL, msg, sizeof msg), ONYX_ERROR_LIMIT, "%s", msg);
    expect_message(msg, "nest", NULL);
    free(model.data);
    /* A few levels are fine for the scan; onyx then refuses the sequence type by name. */
    model = nested_type_model(3);
    cr_assert_eq(load_bytes(&model, NULL, msg, sizeof msg), ONYX_ERROR_UNSUPPORTED, "%s", msg);
    expect_message(msg, "'X'", "sequence", NULL);
    free(model.data);
}

/* ---- tensor data: checked against the dims before the tensor is allocated ---------------- */

/* A model reading initializer W, declared float [2^28] (1 GiB), with `w` set up by the caller. */
static builder *huge_initializer_model(Onnx__TensorProto **w)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(1), NULL);
    *w = builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1));
    (*w)->dims[0] = INT64_C(1) << 28;
    builder_node(b, "Add", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

static onyx_status load_with(builder *b, const onyx_options *options, char *msg, size_t size)
{
    size_t n;
    const uint8_t *packed = builder_pack(b, &n);
    bytes copy = {.data = (uint8_t *)packed, .size = n};
    return load_bytes(&copy, options, msg, size);
}

/* Options whose memory limit (64 MiB) a 1 GiB tensor would exceed if it were allocated. */
static onyx_options *small_memory(void)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_MEMORY_BYTES, INT64_C(64) << 20), ONYX_OK);
    return o;
}

Test(malformed, short_typed_data_fails_before_allocating)
{
    Onnx__TensorProto *w;
    builder *b = huge_initializer_model(&w);
    static float one[1] = {1};
    w->has_raw_data = 0;
    w->n_float_data = 1;
    w->float_data = one;
    onyx_options *o = small_memory();
    char msg[2048];
    /* Not "cannot allocate": the mismatch is found first. */
    cr_assert_eq(load_with(b, o, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL, "%s", msg);
    expect_message(msg, "'W'", "holds 1 elements", "268435456", NULL);
    onyx_options_free(o);
    builder_free(b);
}

Test(malformed, short_external_data_fails_before_allocating)
{
    char dir[] = "/tmp/onyx-malformed-XXXXXX", path[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/w.bin", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(FLOATS(1, 2), sizeof(float), 2, f);
    fclose(f);
    Onnx__TensorProto *w;
    builder *b = huge_initializer_model(&w);
    builder_external_data(b, w, "w.bin");
    onyx_options *o = small_memory();
    cr_assert_eq(onyx_options_set_external_data_dir(o, dir), ONYX_OK);
    char msg[2048];
    cr_assert_eq(load_with(b, o, msg, sizeof msg), ONYX_ERROR_INVALID_MODEL, "%s", msg);
    expect_message(msg, "'W'", "w.bin", "has 8 bytes", NULL);
    onyx_options_free(o);
    builder_free(b);
    unlink(path);
    rmdir(dir);
}

/* ---- nodes with many inputs -------------------------------------------------------------- */

Test(malformed, a_node_may_have_more_inputs_than_a_mask_has_bits)
{
    /* Concat of a constant C 39 times, then X: the checks over a node's inputs get past bit
     * 31 of the operator's input mask (a shift by 32 or more is undefined behaviour, which
     * the sanitizer build catches) at load, where C is known, and when planning, where X is
     * the one input without data. */
    char inputs[40 * 2 + 1] = "";
    for (int i = 0; i < 39; i++)
        strcat(inputs, "C,");
    strcat(inputs, "X");
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(1), NULL);
    builder_initializer(b, "C", ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1));
    Onnx__NodeProto *n = builder_node(b, "Concat", inputs, "Y");
    builder_attr_int(b, n, "axis", 0);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(2.5f));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    float want[40];
    for (int i = 0; i < 40; i++)
        want[i] = i < 39 ? 1.0f : 2.5f;
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(40), want, 0);
    run_result_free(&r);
    builder_free(b);
}

/* ---- limits: checked before allocating --------------------------------------------------- */

Test(malformed, tensor_element_limit_stays_within_32_bits)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_TENSOR_ELEMENTS, INT32_MAX), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_TENSOR_ELEMENTS, INT64_C(1) << 31), ONYX_ERROR_INVALID_ARGUMENT);
    onyx_options_free(o);
}

Test(malformed, node_count_is_refused_before_unpacking)
{
    /* 5000 Relu nodes; the node limit (100) is what fails, not the memory limit (256 KiB)
     * that unpacking them all would exceed. */
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    char in[32] = "X", out[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(out, sizeof out, i == 4999 ? "Y" : "v%d", i);
        builder_node(b, "Relu", in, out);
        snprintf(in, sizeof in, "%s", out);
    }
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_MEMORY_BYTES, 256 << 10), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_GRAPH_NODES, 100), ONYX_OK);
    char msg[2048];
    cr_assert_eq(load_with(b, o, msg, sizeof msg), ONYX_ERROR_LIMIT, "%s", msg);
    expect_message(msg, "more than 100 nodes", NULL);
    onyx_options_free(o);
    builder_free(b);
}

Test(malformed, subgraph_depth_is_refused_before_unpacking)
{
    /* If nodes nested 20 deep: above the default depth limit of 16. */
    builder *b = builder_new(13);
    builder_input(b, "C", ONYX_DTYPE_BOOL, 0, NULL, NULL);
    Onnx__GraphProto *inner = NULL;
    for (int depth = 0; depth < 20; depth++) {
        Onnx__GraphProto *g = builder_subgraph(b, "branch");
        builder_graph_output(b, g, "R", ONYX_DTYPE_BOOL);
        Onnx__NodeProto *n = builder_graph_node(b, g, inner ? "If" : "Identity", "C", "R");
        if (inner) {
            builder_attr_graph(b, n, "then_branch", inner);
            builder_attr_graph(b, n, "else_branch", inner);
        }
        inner = g;
    }
    Onnx__NodeProto *top = builder_node(b, "If", "C", "Y");
    builder_attr_graph(b, top, "then_branch", inner);
    builder_attr_graph(b, top, "else_branch", inner);
    builder_output(b, "Y", ONYX_DTYPE_BOOL);
    char msg[2048];
    cr_assert_eq(load_with(b, NULL, msg, sizeof msg), ONYX_ERROR_LIMIT, "%s", msg);
    expect_message(msg, "subgraphs nest deeper than the limit of 16", NULL);
    builder_free(b);
}

/* ---- inputs at run time ------------------------------------------------------------------ */

/* A: float [batch, 3], B: float [batch, 3] (the same symbol), Y = A + B. */
static builder *shared_dim_model(void)
{
    builder *b = builder_new(13);
    const char *const batch[] = {"batch", NULL};
    builder_input(b, "A", ONYX_DTYPE_FLOAT, 2, DIMS(-1, 3), batch);
    builder_input(b, "B", ONYX_DTYPE_FLOAT, 2, DIMS(-1, 3), batch);
    builder_node(b, "Add", "A,B", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

Test(malformed, inputs_sharing_a_symbolic_dim_must_agree)
{
    builder *b = shared_dim_model();
    float data[6] = {0};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), data), tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), data)};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_INVALID_INPUT, "%s", r.message);
    expect_message(r.message, "'A'", "'B'", "'batch'", "2", "1", NULL);
    builder_free(b);
}

Test(malformed, empty_inputs_give_empty_outputs)
{
    builder *b = shared_dim_model();
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(0, 3), NULL), tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(0, 3), NULL)};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(0, 3), NULL, 0);
    run_result_free(&r);
    builder_free(b);
}

Test(malformed, a_product_over_an_empty_axis_is_zero)
{
    /* [2,0] x [0,3]: every output element is an empty sum, 0 (numpy gives the same). The
     * output memory is not zeroed beforehand, so the kernel must write the zeros. */
    builder *b = builder_new(13);
    builder_input(b, "A", ONYX_DTYPE_FLOAT, 2, DIMS(2, -1), (const char *const[]){NULL, "k"});
    builder_input(b, "B", ONYX_DTYPE_FLOAT, 2, DIMS(-1, 3), (const char *const[]){"k", NULL});
    builder_node(b, "MatMul", "A,B", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 0), NULL), tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(0, 3), NULL)};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), FLOATS(0, 0, 0, 0, 0, 0), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(malformed, empty_tensors_with_huge_dims_are_refused)
{
    /* An empty tensor may carry dims near 2^63 beside its zero, which operators multiply into
     * task counts and sizes: a batched MatMul of such inputs once allocated its index tables
     * with an overflowed size and wrote past them. Inputs are refused when set... */
    builder *b = builder_new(13);
    builder_input(b, "A", ONYX_DTYPE_FLOAT, 3, DIMS(-1, 0, 2), (const char *const[]){"h", NULL, NULL});
    builder_input(b, "B", ONYX_DTYPE_FLOAT, 3, DIMS(-1, 2, 0), (const char *const[]){"h", NULL, NULL});
    builder_node(b, "MatMul", "A,B", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    const int64_t huge = ((int64_t)1 << 61) + 1;
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(huge, 0, 2), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(huge, 2, 0), NULL)};
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_LIMIT, "%s", r.message);
    expect_message(r.message, "'A'", "is empty", "2305843009213693953", NULL);
    builder_free(b);
    /* ...and so are operator outputs: ConstantOfShape [0, 2^40], read back through Shape. */
    b = builder_new(13);
    builder_input(b, "S", ONYX_DTYPE_INT64, 1, DIMS(2), NULL);
    builder_node(b, "ConstantOfShape", "S", "Z");
    builder_node(b, "Shape", "Z", "Y");
    builder_output(b, "Y", ONYX_DTYPE_INT64);
    onyx_tensor shape = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(0, (int64_t)1 << 40));
    r = run_model(b, 1, &shape);
    cr_assert_eq(r.run, ONYX_ERROR_LIMIT, "%s", r.message);
    expect_message(r.message, "ConstantOfShape", "is empty", "1099511627776", NULL);
    builder_free(b);
}

Test(malformed, a_broadcast_larger_than_64_bits_is_refused_before_it_is_counted)
{
    /* Four inputs of 2^16 elements, each along its own axis: their broadcast has 2^64. */
    builder *b = builder_new(13);
    static float ones[1 << 16];
    onyx_tensor in[4];
    const char *names[4] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++) {
        int64_t dims[4] = {1, 1, 1, 1};
        dims[i] = 1 << 16;
        builder_input(b, names[i], ONYX_DTYPE_FLOAT, 4, dims, NULL);
        in[i] = tensor_of(ONYX_DTYPE_FLOAT, 4, dims, ones);
    }
    builder_node(b, "Max", "A,B,C,D", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    run_result r = run_model(b, 4, in);
    cr_assert_eq(r.run, ONYX_ERROR_LIMIT, "%s", r.message);
    expect_message(r.message, "Max", "broadcast shape", "overflows 64 bits", NULL);
    builder_free(b);
    /* MatMul's batch too, before it sizes its index tables: two empty operands, each within the
     * bounds, whose batches [P, 1] and [1, P] broadcast to P^2. */
    const int64_t p = INT32_MAX;
    b = builder_new(13);
    builder_input(b, "A", ONYX_DTYPE_FLOAT, 4, DIMS(p, 1, 0, 1), NULL);
    builder_input(b, "B", ONYX_DTYPE_FLOAT, 4, DIMS(1, p, 1, 0), NULL);
    builder_node(b, "MatMul", "A,B", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_tensor empty[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(p, 1, 0, 1), NULL),
                            tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, p, 1, 0), NULL)};
    r = run_model(b, 2, empty);
    cr_assert_eq(r.run, ONYX_ERROR_LIMIT, "%s", r.message);
    expect_message(r.message, "MatMul", "broadcast shape", NULL);
    builder_free(b);
}

Test(malformed, many_tiny_names_are_refused_before_unpacking)
{
    /* One Concat node with 200 000 empty input names: 400 KB of protobuf that would unpack
     * into some 16 MB of strings. With a 4 MiB memory limit the estimate refuses it first
     * (not protobuf-c failing half-way, which reads as a corrupt file). */
    bytes node = {0};
    put(&node, "\x0a\x01X", 3);
    for (int i = 0; i < 200000; i++)
        put(&node, "\x0a\x00", 2);
    put(&node, "\x12\x01Y\x22\x06" "Concat", 11);
    bytes graph = wrap(1, node);
    bytes model = {0};
    put(&model, "\x08\x08\x42\x04\x0a\x00\x10\x0d", 8);
    bytes wrapped = wrap(7, graph);
    put(&model, wrapped.data, wrapped.size);
    free(wrapped.data);
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_MEMORY_BYTES, 4 << 20), ONYX_OK);
    char msg[2048];
    cr_assert_eq(load_bytes(&model, o, msg, sizeof msg), ONYX_ERROR_LIMIT, "%s", msg);
    expect_message(msg, "unpacking", "memory limit", NULL);
    onyx_options_free(o);
    free(model.data);
}

/* ---- no data lost: inputs are never written, output files appear whole or not at all ---- */

/* A copy of t's data in pages mapped read-only: any write into it faults. */
static void *read_only_copy(const onyx_tensor *t, size_t *mapped)
{
    size_t bytes = (size_t)onyx_tensor_element_count(t) * onyx_dtype_size(t->dtype);
    long page = sysconf(_SC_PAGESIZE);
    *mapped = (bytes / (size_t)page + 1) * (size_t)page;
    void *p = mmap(NULL, *mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    memcpy(p, t->data, bytes);
    cr_assert_eq(mprotect(p, *mapped, PROT_READ), 0);
    return p;
}

Test(malformed, committed_models_never_write_into_their_inputs)
{
    static const char *const names[] = {"encoder_postnorm_relu_op14", "encoder_prenorm_gelu_op17", "ffn_gelu",
                                        "ffn_relu", "gpt2_block", "mha_torch", "mha_torch_padding_mask",
                                        "mha_tutorial"};
    for (size_t m = 0; m < sizeof names / sizeof names[0]; m++) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s/model.onnx", ONYX_SOURCE_DIR, names[m]);
        onyx_model *model;
        cr_assert_eq(onyx_model_load_file(path, NULL, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
        for (int threads = 1; threads <= 2; threads++) {
            onyx_options *o;
            onyx_session *s;
            cr_assert_eq(onyx_options_create(&o), ONYX_OK);
            cr_assert_eq(onyx_options_set_threads(o, threads), ONYX_OK);
            cr_assert_eq(onyx_session_create(model, o, &s), ONYX_OK);
            void *mapped[8] = {0};
            size_t sizes[8] = {0}, n = onyx_model_input_count(model);
            for (size_t i = 0; i < n && i < 8; i++) {
                onyx_tensor t;
                char msg[512];
                snprintf(path, sizeof path, "%s/models/%s/test_data_set_0/input_%zu.pb", ONYX_SOURCE_DIR, names[m], i);
                cr_assert_eq(onyx_tensor_read_file(path, &t, NULL, msg, sizeof msg), ONYX_OK, "%s", msg);
                mapped[i] = read_only_copy(&t, &sizes[i]);
                onyx_tensor_free_data(t.data);
                t.data = mapped[i];
                cr_assert_eq(onyx_session_set_input(s, i, &t), ONYX_OK, "%s", onyx_session_errmsg(s));
            }
            cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s: %s", names[m], onyx_session_errmsg(s));
            for (size_t i = 0; i < n && i < 8; i++)
                munmap(mapped[i], sizes[i]);
            onyx_session_free(s);
            onyx_options_free(o);
        }
        onyx_model_free(model);
    }
}

/* Writes a 1 MiB tensor over `path` in a child process that may write at most 4 KiB to any
 * file: the write fails half-way, as an interrupted run would. Returns the child's status. */
static onyx_status write_cut_short(const char *path)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct rlimit small = {4096, 4096};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &small);
        static float big[1 << 18];
        onyx_tensor t = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1 << 18), big);
        _exit(onyx_tensor_write_npy(path, &t, NULL, 0));
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    return (onyx_status)WEXITSTATUS(status);
}

Test(malformed, an_output_file_is_whole_or_absent)
{
    char dir[] = "/tmp/onyx-output-XXXXXX", path[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/y.npy", dir);
    onyx_tensor small = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3));
    char msg[512];
    cr_assert_eq(onyx_tensor_write_npy(path, &small, msg, sizeof msg), ONYX_OK, "%s", msg);
    /* A write cut short leaves the previous file as it was, and no temporary file. */
    cr_assert_eq(write_cut_short(path), ONYX_ERROR_IO);
    onyx_tensor back;
    cr_assert_eq(onyx_tensor_read_file(path, &back, NULL, msg, sizeof msg), ONYX_OK, "%s", msg);
    expect_tensor(&back, ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(1, 2, 3), 0);
    onyx_tensor_free_data(back.data);
    unlink(path);
    cr_assert_eq(write_cut_short(path), ONYX_ERROR_IO);
    cr_assert_eq(access(path, F_OK), -1, "a half-written file was left");
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
    closedir(d);
    cr_assert_eq(entries, 0, "a temporary file was left in %s", dir);
    rmdir(dir);
}

/* ---- subgraph runs: a Loop of 10^18 iterations is refused, not run for years ---------- */

/* Y = Loop(M, true, V) with a body passing V through: M iterations of nothing. V is the graph
 * input X, or with `constant` an initializer, so that the Loop is computed at load. */
static builder *trivial_loop_model(int64_t trips, bool constant)
{
    builder *b = builder_new(13);
    Onnx__GraphProto *body = builder_subgraph(b, "body");
    builder_graph_input(b, body, "i", ONYX_DTYPE_INT64, 0, NULL);
    builder_graph_input(b, body, "c", ONYX_DTYPE_BOOL, 0, NULL);
    builder_graph_input(b, body, "v", ONYX_DTYPE_FLOAT, 1, DIMS(1));
    builder_graph_node(b, body, "Identity", "c", "c_out");
    builder_graph_node(b, body, "Identity", "v", "v_out");
    builder_graph_output(b, body, "c_out", ONYX_DTYPE_BOOL);
    builder_graph_output(b, body, "v_out", ONYX_DTYPE_FLOAT);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(1), NULL);
    builder_initializer(b, "M", ONYX_DTYPE_INT64, 0, NULL, &trips);
    builder_initializer(b, "C", ONYX_DTYPE_BOOL, 0, NULL, BOOLS(1));
    builder_initializer(b, "K", ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(4));
    Onnx__NodeProto *loop = builder_node(b, "Loop", constant ? "M,C,K" : "M,C,X", "L");
    builder_attr_graph(b, loop, "body", body);
    builder_node(b, "Add", "L,X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

Test(malformed, endless_loops_stop_at_the_subgraph_run_limit)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_SUBGRAPH_RUNS, 1000), ONYX_OK);
    for (int constant = 0; constant <= 1; constant++) {
        builder *b = trivial_loop_model(INT64_C(1000000000000000000), constant);
        size_t n;
        const uint8_t *packed = builder_pack(b, &n);
        onyx_model *model;
        onyx_session *s = NULL;
        onyx_status st = onyx_model_load_buffer(packed, n, o, &model);
        const char *message = onyx_model_errmsg(model);
        if (!constant) { /* computed when running; with `constant`, at load */
            cr_assert_eq(st, ONYX_OK, "%s", message);
            cr_assert_eq(onyx_session_create(model, o, &s), ONYX_OK);
            onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1));
            cr_assert_eq(onyx_session_set_input(s, 0, &x), ONYX_OK);
            st = onyx_session_run(s);
            message = onyx_session_errmsg(s);
        }
        cr_assert_eq(st, ONYX_ERROR_LIMIT, "%s", message);
        expect_message(message, "Loop", "1000 subgraph runs", NULL);
        onyx_session_free(s);
        onyx_model_free(model);
        builder_free(b);
    }
    onyx_options_free(o);
}

Test(malformed, loops_within_the_subgraph_run_limit_run)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_SUBGRAPH_RUNS, 5), ONYX_OK);
    for (int64_t trips = 5; trips <= 6; trips++) {
        builder *b = trivial_loop_model(trips, false);
        size_t n;
        const uint8_t *packed = builder_pack(b, &n);
        onyx_model *model;
        onyx_session *s;
        cr_assert_eq(onyx_model_load_buffer(packed, n, o, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
        cr_assert_eq(onyx_session_create(model, o, &s), ONYX_OK);
        onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1));
        cr_assert_eq(onyx_session_set_input(s, 0, &x), ONYX_OK);
        /* The limit holds per run: the second run may iterate as many times again. */
        for (int run = 0; run < 2; run++)
            cr_assert_eq(onyx_session_run(s), trips <= 5 ? ONYX_OK : ONYX_ERROR_LIMIT, "%lld trips: %s",
                         (long long)trips, onyx_session_errmsg(s));
        onyx_session_free(s);
        onyx_model_free(model);
        builder_free(b);
    }
    onyx_options_free(o);
}

/* ---- special files: refused, never waited on ------------------------------------------- */

Test(malformed, fifos_are_refused_not_waited_on, .timeout = 20)
{
    char dir[] = "/tmp/onyx-fifo-XXXXXX", fifo[256], model_path[256], msg[2048];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    /* A model file, a tensor file, and external data that are FIFOs without a writer. */
    onyx_model *model;
    cr_assert_eq(onyx_model_load_file(fifo, NULL, &model), ONYX_ERROR_IO);
    expect_message(onyx_model_errmsg(model), "pipe", "not a regular file", NULL);
    onyx_model_free(model);
    onyx_tensor t;
    cr_assert_eq(onyx_tensor_read_file(fifo, &t, NULL, msg, sizeof msg), ONYX_ERROR_IO);
    expect_message(msg, "pipe", "not a regular file", NULL);
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_external_data(b, builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL), "pipe");
    builder_node(b, "Add", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *packed = builder_pack(b, &n);
    snprintf(model_path, sizeof model_path, "%s/model.onnx", dir);
    FILE *f = fopen(model_path, "wb");
    cr_assert_not_null(f);
    fwrite(packed, 1, n, f);
    fclose(f);
    cr_assert_eq(onyx_model_load_file(model_path, NULL, &model), ONYX_ERROR_INVALID_MODEL);
    expect_message(onyx_model_errmsg(model), "'W'", "pipe", "not a regular file", NULL);
    onyx_model_free(model);
    builder_free(b);
    unlink(model_path);
    unlink(fifo);
    rmdir(dir);
}
