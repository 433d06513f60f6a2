/* String tensors: the public API's blocks (onyx_string_tensor_pack / onyx_string_at, a
 * malformed caller block refused at onyx_session_set_input, an output buffer too small), and
 * the error paths of the string operators the ONNX node tests do not reach (invalid UTF-8,
 * regular expressions POSIX cannot honour, the memory limit, empty tensors, a graph of
 * several string nodes). Expected values are worked out by hand here. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct loaded {
    onyx_model *model;
    onyx_session *session;
    onyx_status load;
} loaded;

static loaded load(builder *b, int64_t memory_limit)
{
    loaded l = {0};
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    if (memory_limit)
        onyx_options_set_limit(o, ONYX_LIMIT_MEMORY_BYTES, memory_limit);
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    l.load = onyx_model_load_buffer(bytes, size, o, &l.model);
    if (!l.load)
        cr_assert_eq(onyx_session_create(l.model, o, &l.session), ONYX_OK, "%s",
                     onyx_session_errmsg(l.session));
    onyx_options_free(o);
    return l;
}

static void unload(loaded *l)
{
    onyx_session_free(l->session);
    onyx_model_free(l->model);
}

static onyx_tensor strings(int rank, const int64_t *dims, const char *const *s)
{
    onyx_tensor t;
    cr_assert_eq(onyx_string_tensor_pack(rank, dims, s, NULL, &t), ONYX_OK);
    return t;
}

static void expect_strings(const onyx_tensor *t, int rank, const int64_t *dims, const char *const *want)
{
    cr_assert_eq(t->dtype, ONYX_DTYPE_STRING);
    cr_assert_eq(t->rank, rank);
    int64_t n = 1;
    for (int d = 0; d < rank; d++) {
        cr_assert_eq(t->dims[d], dims[d], "dim %d: %lld, expected %lld", d, (long long)t->dims[d],
                     (long long)dims[d]);
        n *= dims[d];
    }
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = onyx_string_at(t, i, &len);
        cr_assert(s, "element %lld unreadable", (long long)i);
        cr_assert(len == strlen(want[i]) && !memcmp(s, want[i], len), "element %lld: '%.*s', expected '%s'",
                  (long long)i, (int)len, s, want[i]);
    }
}

Test(strings, pack_and_read_back)
{
    const char *s[] = {"a", "", "h\xc3\xa9llo", NULL};
    onyx_tensor t;
    cr_assert_eq(onyx_string_tensor_pack(2, DIMS(2, 2), s, NULL, &t), ONYX_OK);
    expect_strings(&t, 2, DIMS(2, 2), (const char *const[]){"a", "", "h\xc3\xa9llo", ""});
    size_t len = 99;
    cr_assert_eq(onyx_string_at(&t, 4, &len), NULL);
    cr_assert_eq(onyx_string_at(&t, -1, &len), NULL);
    onyx_tensor f = t;
    f.dtype = ONYX_DTYPE_FLOAT;
    cr_assert_eq(onyx_string_at(&f, 0, &len), NULL);
    onyx_tensor_free_data(t.data);
    /* Explicit lengths: a string holding a NUL. */
    cr_assert_eq(onyx_string_tensor_pack(1, DIMS(1), (const char *const[]){"a\0b"}, (const size_t[]){3}, &t),
                 ONYX_OK);
    const char *e = onyx_string_at(&t, 0, &len);
    cr_assert(len == 3 && !memcmp(e, "a\0b", 3) && e[3] == '\0');
    onyx_tensor_free_data(t.data);
    cr_assert_eq(onyx_string_tensor_pack(1, DIMS(-1), s, NULL, &t), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_string_tensor_pack(1, DIMS(1), (const char *const[]){NULL}, (const size_t[]){2}, &t),
                 ONYX_ERROR_INVALID_ARGUMENT);
}

/* Y = StringConcat(X, "!") then Equal(Y, "ab!"): a graph of string nodes, an initializer of
 * strings, broadcasting. */
static builder *concat_model(void)
{
    builder *b = builder_new(20);
    builder_input(b, "X", ONYX_DTYPE_STRING, 1, DIMS(-1), NULL);
    builder_output(b, "Y", ONYX_DTYPE_STRING);
    builder_output(b, "E", ONYX_DTYPE_BOOL);
    Onnx__TensorProto *bang = builder_initializer(b, "bang", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0));
    bang->data_type = ONYX_DTYPE_STRING;
    bang->has_raw_data = 0;
    bang->n_string_data = 1;
    bang->string_data = builder_alloc(b, sizeof(ProtobufCBinaryData));
    bang->string_data[0] = (ProtobufCBinaryData){1, (uint8_t *)builder_strdup(b, "!")};
    Onnx__TensorProto *want = builder_initializer(b, "want", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0));
    want->data_type = ONYX_DTYPE_STRING;
    want->has_raw_data = 0;
    want->n_string_data = 1;
    want->string_data = builder_alloc(b, sizeof(ProtobufCBinaryData));
    want->string_data[0] = (ProtobufCBinaryData){3, (uint8_t *)builder_strdup(b, "ab!")};
    builder_node(b, "StringConcat", "X,bang", "Y");
    builder_node(b, "Equal", "Y,want", "E");
    return b;
}

Test(strings, graph_of_string_nodes_and_output_buffer)
{
    builder *b = concat_model();
    loaded l = load(b, 0);
    cr_assert_eq(l.load, ONYX_OK, "%s", onyx_model_errmsg(l.model));
    onyx_tensor x = strings(1, DIMS(3), (const char *const[]){"ab", "", "x"});
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    cr_assert_eq(onyx_session_run(l.session), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    onyx_tensor y, e;
    onyx_session_get_output(l.session, 0, &y);
    onyx_session_get_output(l.session, 1, &e);
    expect_strings(&y, 1, DIMS(3), (const char *const[]){"ab!", "!", "x!"});
    expect_tensor(&e, ONYX_DTYPE_BOOL, 1, DIMS(3), BOOLS(1, 0, 0), 0);
    /* Into a caller's buffer: the block moves whole; one too small fails cleanly. */
    _Alignas(64) unsigned char buffer[512];
    cr_assert_eq(onyx_session_set_output_buffer(l.session, 0, buffer, 20), ONYX_OK);
    cr_assert_eq(onyx_session_run(l.session), ONYX_ERROR_INVALID_ARGUMENT);
    expect_message(onyx_session_errmsg(l.session), "output 'Y' needs", NULL);
    cr_assert_eq(onyx_session_set_output_buffer(l.session, 0, buffer, sizeof buffer), ONYX_OK);
    cr_assert_eq(onyx_session_run(l.session), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    onyx_session_get_output(l.session, 0, &y);
    cr_assert_eq(y.data, (void *)buffer);
    expect_strings(&y, 1, DIMS(3), (const char *const[]){"ab!", "!", "x!"});
    onyx_tensor_free_data(x.data);
    unload(&l);
    builder_free(b);
}

Test(strings, malformed_caller_block_is_refused)
{
    builder *b = concat_model();
    loaded l = load(b, 0);
    cr_assert_eq(l.load, ONYX_OK);
    onyx_tensor x = strings(1, DIMS(2), (const char *const[]){"ab", "cd"});
    int64_t *h = x.data;
    /* The count in the header against the shape. */
    onyx_tensor bad = x;
    bad.dims[0] = 3;
    cr_assert_eq(onyx_session_set_input(l.session, 0, &bad), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(l.session), "not a string block", NULL);
    /* An element past the block's end. */
    int64_t *entry = h + 2;
    int64_t saved = entry[1];
    entry[1] = 1000;
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(l.session), "string 0 lies outside the block", NULL);
    entry[1] = saved;
    /* An offset into the header. */
    entry[0] = 0;
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_ERROR_INVALID_INPUT);
    entry[0] = 48;
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    /* A NULL block for elements; an empty tensor may have none. */
    bad = x;
    bad.data = NULL;
    cr_assert_neq(onyx_session_set_input(l.session, 0, &bad), ONYX_OK);
    onyx_tensor empty = {.dtype = ONYX_DTYPE_STRING, .rank = 1, .dims = {0}};
    cr_assert_eq(onyx_session_set_input(l.session, 0, &empty), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    cr_assert_eq(onyx_session_run(l.session), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    onyx_tensor y;
    onyx_session_get_output(l.session, 0, &y);
    cr_assert_eq(y.rank, 1);
    cr_assert_eq(y.dims[0], 0);
    onyx_tensor_free_data(x.data);
    unload(&l);
    builder_free(b);
}

Test(strings, memory_limit_bounds_string_outputs)
{
    builder *b = builder_new(20);
    builder_input(b, "X", ONYX_DTYPE_STRING, 1, DIMS(-1), NULL);
    builder_input(b, "Z", ONYX_DTYPE_STRING, 1, DIMS(-1), NULL);
    builder_output(b, "Y", ONYX_DTYPE_STRING);
    builder_node(b, "StringConcat", "X,Z", "Y");
    loaded l = load(b, 1 << 20);
    cr_assert_eq(l.load, ONYX_OK);
    size_t big = 600 * 1024;
    char *s = malloc(big + 1);
    memset(s, 'a', big);
    s[big] = '\0';
    onyx_tensor x = strings(1, DIMS(1), (const char *const[]){s});
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    cr_assert_eq(onyx_session_set_input(l.session, 1, &x), ONYX_OK);
    onyx_status st = onyx_session_run(l.session);
    cr_assert_eq(st, ONYX_ERROR_LIMIT, "%d: %s", st, onyx_session_errmsg(l.session));
    onyx_tensor_free_data(x.data);
    free(s);
    unload(&l);
    builder_free(b);
}

Test(strings, normalizer_refuses_invalid_utf8)
{
    builder *b = builder_new(10);
    builder_input(b, "X", ONYX_DTYPE_STRING, 1, DIMS(-1), NULL);
    builder_output(b, "Y", ONYX_DTYPE_STRING);
    Onnx__NodeProto *n = builder_node(b, "StringNormalizer", "X", "Y");
    builder_attr_string(b, n, "case_change_action", "UPPER");
    loaded l = load(b, 0);
    cr_assert_eq(l.load, ONYX_OK, "%s", onyx_model_errmsg(l.model));
    /* Latin-1, Greek and Cyrillic keep their UTF-8 length when mapped. */
    onyx_tensor x = strings(1, DIMS(3), (const char *const[]){"\xc3\xa9t\xc3\xa9", "\xce\xb1\xce\xb2",
                                                              "\xd0\xb4" "a"});
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_OK);
    cr_assert_eq(onyx_session_run(l.session), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    onyx_tensor y;
    onyx_session_get_output(l.session, 0, &y);
    expect_strings(&y, 1, DIMS(3), (const char *const[]){"\xc3\x89T\xc3\x89", "\xce\x91\xce\x92",
                                                         "\xd0\x94" "A"});
    onyx_tensor_free_data(x.data);
    /* A lone continuation byte; a truncated sequence. */
    x = strings(1, DIMS(2), (const char *const[]){"ok", "\xc3"});
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_OK);
    cr_assert_eq(onyx_session_run(l.session), ONYX_ERROR_RUNTIME);
    expect_message(onyx_session_errmsg(l.session), "element 1", "not valid UTF-8", NULL);
    onyx_tensor_free_data(x.data);
    unload(&l);
    builder_free(b);
}

static onyx_status regex_load(const char *pattern, char *message, size_t size)
{
    builder *b = builder_new(20);
    builder_input(b, "X", ONYX_DTYPE_STRING, 1, DIMS(-1), NULL);
    builder_output(b, "Y", ONYX_DTYPE_BOOL);
    Onnx__NodeProto *n = builder_node(b, "RegexFullMatch", "X", "Y");
    builder_attr_string(b, n, "pattern", pattern);
    loaded l = load(b, 0);
    snprintf(message, size, "%s", l.model ? onyx_model_errmsg(l.model) : "");
    onyx_status st = l.load;
    unload(&l);
    builder_free(b);
    return st;
}

Test(strings, regex_patterns_posix_cannot_honour_are_refused)
{
    char msg[1024];
    cr_assert_eq(regex_load("(?i)abc", msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    expect_message(msg, "RegexFullMatch", "(?i)abc", "flags", NULL);
    cr_assert_eq(regex_load("\\p{L}+", msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    cr_assert_eq(regex_load("[\\W]", msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    cr_assert_eq(regex_load("a(b", msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    cr_assert_eq(regex_load("[abc", msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    cr_assert_eq(regex_load("\\", msg, sizeof msg), ONYX_ERROR_UNSUPPORTED);
    cr_assert_eq(regex_load("(?:ab)+c*?\\d{2}[\\w-]", msg, sizeof msg), ONYX_OK, "%s", msg);
}

Test(strings, regex_full_match_semantics)
{
    builder *b = builder_new(20);
    builder_input(b, "X", ONYX_DTYPE_STRING, 1, DIMS(-1), NULL);
    builder_output(b, "Y", ONYX_DTYPE_BOOL);
    Onnx__NodeProto *n = builder_node(b, "RegexFullMatch", "X", "Y");
    builder_attr_string(b, n, "pattern", "(?:ab)+c*?\\d{2}[\\w-]");
    loaded l = load(b, 0);
    cr_assert_eq(l.load, ONYX_OK, "%s", onyx_model_errmsg(l.model));
    /* Full match: a prefix or a substring that matches is not enough. */
    onyx_tensor x = strings(1, DIMS(6), (const char *const[]){"abab12-", "abcc99_", "ab12", "xab12a",
                                                              "ab12ab", ""});
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_OK);
    cr_assert_eq(onyx_session_run(l.session), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    onyx_tensor y;
    onyx_session_get_output(l.session, 0, &y);
    expect_tensor(&y, ONYX_DTYPE_BOOL, 1, DIMS(6), BOOLS(1, 1, 0, 0, 0, 0), 0);
    onyx_tensor_free_data(x.data);
    unload(&l);
    builder_free(b);
}

Test(strings, split_maxsplit_and_empty_strings)
{
    builder *b = builder_new(20);
    builder_input(b, "X", ONYX_DTYPE_STRING, 1, DIMS(-1), NULL);
    builder_output(b, "Y", ONYX_DTYPE_STRING);
    builder_output(b, "Z", ONYX_DTYPE_INT64);
    Onnx__NodeProto *n = builder_node(b, "StringSplit", "X", "Y,Z");
    builder_attr_string(b, n, "delimiter", "::");
    builder_attr_int(b, n, "maxsplit", 1);
    loaded l = load(b, 0);
    cr_assert_eq(l.load, ONYX_OK, "%s", onyx_model_errmsg(l.model));
    /* As Python's "a::b::c".split("::", 1) and "".split("::", 1). */
    onyx_tensor x = strings(1, DIMS(3), (const char *const[]){"a::b::c", "", "::"});
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_OK);
    cr_assert_eq(onyx_session_run(l.session), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    onyx_tensor y, z;
    onyx_session_get_output(l.session, 0, &y);
    onyx_session_get_output(l.session, 1, &z);
    expect_strings(&y, 2, DIMS(3, 2), (const char *const[]){"a", "b::c", "", "", "", ""});
    expect_tensor(&z, ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(2, 1, 2), 0);
    onyx_tensor_free_data(x.data);
    unload(&l);
    builder_free(b);
}

Test(strings, label_encoder_int_to_string_and_errors)
{
    builder *b = builder_new(17);
    builder_import(b, "ai.onnx.ml", 2);
    builder_input(b, "X", ONYX_DTYPE_INT64, 1, DIMS(-1), NULL);
    builder_output(b, "Y", ONYX_DTYPE_STRING);
    Onnx__NodeProto *n = builder_node(b, "LabelEncoder", "X", "Y");
    n->domain = builder_strdup(b, "ai.onnx.ml");
    builder_attr_ints(b, n, "keys_int64s", 3, INT64S(5, 7, 5));
    Onnx__AttributeProto *a = builder_alloc(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = builder_strdup(b, "values_strings");
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    a->n_strings = 3;
    a->strings = builder_alloc(b, 3 * sizeof *a->strings);
    a->strings[0] = (ProtobufCBinaryData){4, (uint8_t *)builder_strdup(b, "five")};
    a->strings[1] = (ProtobufCBinaryData){5, (uint8_t *)builder_strdup(b, "seven")};
    a->strings[2] = (ProtobufCBinaryData){4, (uint8_t *)builder_strdup(b, "FIVE")};
    Onnx__AttributeProto **attrs = builder_alloc(b, (n->n_attribute + 1) * sizeof *attrs);
    memcpy(attrs, n->attribute, n->n_attribute * sizeof *attrs);
    attrs[n->n_attribute++] = a;
    n->attribute = attrs;
    loaded l = load(b, 0);
    cr_assert_eq(l.load, ONYX_OK, "%s", onyx_model_errmsg(l.model));
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(4), INT64S(5, 6, 7, -1));
    cr_assert_eq(onyx_session_set_input(l.session, 0, &x), ONYX_OK);
    cr_assert_eq(onyx_session_run(l.session), ONYX_OK, "%s", onyx_session_errmsg(l.session));
    onyx_tensor y;
    onyx_session_get_output(l.session, 0, &y);
    /* The last of repeated keys wins; the default string is "_Unused". */
    expect_strings(&y, 1, DIMS(4), (const char *const[]){"FIVE", "_Unused", "seven", "_Unused"});
    unload(&l);
    /* Keys and values of different lengths. */
    a->n_strings = 2;
    l = load(b, 0);
    cr_assert_eq(l.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(onyx_model_errmsg(l.model), "3 keys but 2 values", NULL);
    unload(&l);
    builder_free(b);
}

Test(strings, sequence_of_string_tensors)
{
    onyx_tensor a = strings(1, DIMS(2), (const char *const[]){"x", "yz"});
    onyx_tensor b = strings(0, NULL, (const char *const[]){"w"});
    onyx_tensor seq, item;
    cr_assert_eq(onyx_value_pack(ONYX_SEQUENCE_OF(ONYX_DTYPE_STRING), 2, (const onyx_tensor[]){a, b}, &seq),
                 ONYX_OK);
    cr_assert_eq(onyx_value_item(&seq, 1, &item), ONYX_OK);
    expect_strings(&item, 0, NULL, (const char *const[]){"w"});
    cr_assert_eq(onyx_value_item(&seq, 0, &item), ONYX_OK);
    expect_strings(&item, 1, DIMS(2), (const char *const[]){"x", "yz"});
    onyx_tensor_free_data(seq.data);
    /* A string item needs its block, even when empty; a count that disagrees is refused. */
    onyx_tensor none = {.dtype = ONYX_DTYPE_STRING, .rank = 1, .dims = {0}};
    cr_assert_eq(onyx_value_pack(ONYX_SEQUENCE_OF(ONYX_DTYPE_STRING), 1, &none, &seq),
                 ONYX_ERROR_INVALID_ARGUMENT);
    onyx_tensor wrong = a;
    wrong.dims[0] = 1;
    cr_assert_eq(onyx_value_pack(ONYX_SEQUENCE_OF(ONYX_DTYPE_STRING), 1, &wrong, &seq),
                 ONYX_ERROR_INVALID_ARGUMENT);
    onyx_tensor_free_data(a.data);
    onyx_tensor_free_data(b.data);
}

Test(strings, string_initializer_with_wrong_count_is_refused)
{
    builder *b = concat_model();
    Onnx__TensorProto *bang = builder_graph(b)->initializer[0];
    bang->n_dims = 1;
    bang->dims = builder_alloc(b, sizeof(int64_t));
    bang->dims[0] = 2; /* one string in string_data */
    loaded l = load(b, 0);
    cr_assert_eq(l.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(onyx_model_errmsg(l.model), "string_data holds 1 strings, not the 2", NULL);
    unload(&l);
    builder_free(b);
}

/* Every word of a valid block's header and entries set, one at a time, to values around the
 * edges: set_input either refuses the block or the run reads it safely (the sanitizer build
 * checks the latter). */
Test(strings, mutated_blocks_never_crash)
{
    builder *b = concat_model();
    loaded l = load(b, 0);
    cr_assert_eq(l.load, ONYX_OK);
    onyx_tensor x = strings(1, DIMS(3), (const char *const[]){"ab", "", "xyz"});
    int64_t *w = x.data;
    int64_t size = w[0], words = 2 + 3 * 2;
    const int64_t edges[] = {-1, 0, 1, 7, 15, 16, 17, 48, 63, 64, size - 1, size, size + 1, INT64_MAX,
                             INT64_MIN};
    int accepted = 0;
    for (int64_t k = 0; k < words; k++)
        for (size_t e = 0; e < sizeof edges / sizeof *edges; e++) {
            int64_t saved = w[k];
            w[k] = edges[e];
            if (onyx_session_set_input(l.session, 0, &x) == ONYX_OK) {
                accepted++;
                onyx_status st = onyx_session_run(l.session);
                cr_assert(st == ONYX_OK || st == ONYX_ERROR_RUNTIME, "%s", onyx_session_errmsg(l.session));
            }
            w[k] = saved;
        }
    cr_assert_gt(accepted, 0); /* some changes keep a valid block (a shorter string, the same one) */
    onyx_tensor_free_data(x.data);
    unload(&l);
    builder_free(b);
}
