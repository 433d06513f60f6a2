/* What a host program relies on: the custom allocator sees every allocation and gets each
 * block back; borrowed loading references the caller's bytes (and copies what it cannot);
 * the log callback hears about loads, plans and failures; caller output buffers are written
 * in place or copied, never corrupted; misuse is answered with a status. */
#include "harness.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a counting allocator ----------------------------------------------------------------- */

typedef struct counting {
    size_t allocations, frees;
    int64_t live, peak;      /* bytes */
    long fail_from;          /* allocations from this one on fail; -1: none fail */
    bool misalign;           /* return blocks 8 bytes off the asked alignment */
} counting;

static counting counting_new(void) { return (counting){.fail_from = -1}; }

static void *counting_alloc(void *user, size_t size, size_t alignment)
{
    counting *c = user;
    cr_assert(size > 0 && alignment >= 8 && !(alignment & (alignment - 1)), "size %zu, alignment %zu", size,
              alignment);
    if (c->fail_from >= 0 && (long)c->allocations >= c->fail_from)
        return NULL;
    unsigned char *p = aligned_alloc(alignment, (size + 8 + alignment - 1) / alignment * alignment + alignment);
    if (!p)
        return NULL;
    c->allocations++;
    c->live += (int64_t)size;
    if (c->live > c->peak)
        c->peak = c->live;
    return c->misalign ? p + 8 : p;
}

static void counting_free(void *user, void *ptr, size_t size)
{
    counting *c = user;
    cr_assert_not_null(ptr);
    c->frees++;
    c->live -= (int64_t)size;
    free(c->misalign ? (unsigned char *)ptr - 8 : ptr);
}

static onyx_options *options_with(counting *c, int threads)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_allocator(o, counting_alloc, counting_free, c), ONYX_OK);
    cr_assert_eq(onyx_options_set_threads(o, threads), ONYX_OK);
    return o;
}

/* ---- a log collector ---------------------------------------------------------------------- */

typedef struct collected {
    int count;
    onyx_log_level levels[64];
    char messages[64][1024];
} collected;

static void collect(void *user, onyx_log_level level, const char *message)
{
    collected *c = user;
    cr_assert(message && !strchr(message, '\n'), "one line per message");
    if (c->count < 64) {
        c->levels[c->count] = level;
        snprintf(c->messages[c->count], sizeof c->messages[0], "%s", message);
    }
    c->count++;
}

/* The index of the first message at `level` containing `text`, or -1. */
static int find_message(const collected *c, onyx_log_level level, const char *text)
{
    for (int i = 0; i < c->count && i < 64; i++)
        if (c->levels[i] == level && strstr(c->messages[i], text))
            return i;
    return -1;
}

static onyx_options *options_logging(collected *c, onyx_log_level max_level)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_log(o, collect, c, max_level), ONYX_OK);
    return o;
}

/* ---- models -------------------------------------------------------------------------------- */

/* Loads the model `b` builds with options `o` (NULL for defaults), asserting that it loads. */
static onyx_model *load(builder *b, const onyx_options *o)
{
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer(bytes, n, o, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    return model;
}

static onyx_session *new_session(const onyx_model *model)
{
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK, "%s", onyx_session_errmsg(s));
    return s;
}

#define WIDTH 8192

/* Y = X + B: X float [batch, WIDTH], B a constant [WIDTH] with B[i] = i, stored as raw_data. */
static builder *add_model(void)
{
    static float weights[WIDTH];
    for (int i = 0; i < WIDTH; i++)
        weights[i] = (float)i;
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(-1, WIDTH), (const char *const[]){"batch", NULL});
    builder_initializer(b, "B", ONYX_DTYPE_FLOAT, 1, DIMS(WIDTH), weights);
    builder_node(b, "Add", "X,B", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    return b;
}

/* Runs an add_model-like model on X = 1 (batch 1) and returns Y[index]. */
static float run_add(const onyx_model *model, int index)
{
    static float x[WIDTH];
    for (int i = 0; i < WIDTH; i++)
        x[i] = 1;
    onyx_session *s = new_session(model);
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, WIDTH), x), out;
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    float y = ((const float *)out.data)[index];
    onyx_session_free(s);
    return y;
}

/* The model's bytes, copied into an aligned block at an offset that puts the raw_data of B
 * (whose first floats are 0, 1, 2, 3) at an address `misalignment` bytes past a multiple of 4.
 * *weights receives B's address inside. Free with free(*block). */
static uint8_t *place_bytes(builder *b, size_t *size, int misalignment, float **weights, void **block)
{
    const uint8_t *packed = builder_pack(b, size);
    static const float first[4] = {0, 1, 2, 3};
    const uint8_t *found = memmem(packed, *size, first, sizeof first);
    cr_assert_not_null(found, "B's raw_data is in the packed bytes");
    size_t at = (size_t)(found - packed);
    size_t shift = (size_t)((4 - at % 4 + (size_t)misalignment) % 4);
    *block = aligned_alloc(64, (*size + 64 + 63) / 64 * 64);
    uint8_t *bytes = (uint8_t *)*block + shift;
    memcpy(bytes, packed, *size);
    *weights = (float *)(void *)(bytes + at);
    cr_assert_eq((uintptr_t)*weights % 4, (uintptr_t)misalignment);
    return bytes;
}

/* ---- the allocator ------------------------------------------------------------------------ */

Test(embedding, allocator_sees_every_allocation_and_gets_each_block_back)
{
    counting c = counting_new();
    onyx_options *o = options_with(&c, 2); /* two threads: the pool allocates too */
    builder *b = add_model();
    onyx_model *model = load(b, o);
    /* Everything the model holds came from the allocator, the model object included. */
    cr_assert_eq(c.live, (int64_t)onyx_model_memory_bytes(model));
    cr_assert_gt(c.allocations, 0);
    onyx_session *s = new_session(model); /* the model's allocator */
    static float x[2 * WIDTH];
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, WIDTH), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(c.live, (int64_t)(onyx_model_memory_bytes(model) + onyx_session_memory_bytes(s)));
    cr_assert_gt(onyx_session_memory_bytes(s), 2 * WIDTH * sizeof(float), "the arena holds Y");
    onyx_session_free(s);
    cr_assert_eq(c.live, (int64_t)onyx_model_memory_bytes(model));
    onyx_model_free(model);
    cr_assert_eq(c.live, 0);
    cr_assert_eq(c.allocations, c.frees);
    builder_free(b);
    onyx_options_free(o);
}

Test(embedding, session_options_choose_the_sessions_allocator)
{
    counting for_model = counting_new(), for_session = counting_new();
    onyx_options *mo = options_with(&for_model, 1), *so = options_with(&for_session, 1);
    builder *b = add_model();
    onyx_model *model = load(b, mo);
    int64_t model_bytes = for_model.live;
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, so, &s), ONYX_OK);
    cr_assert_eq(for_model.live, model_bytes);
    cr_assert_eq(for_session.live, (int64_t)onyx_session_memory_bytes(s));
    onyx_session_free(s);
    onyx_model_free(model);
    cr_assert_eq(for_model.live + for_session.live, 0);
    cr_assert_eq(for_model.allocations + for_session.allocations, for_model.frees + for_session.frees);
    builder_free(b);
    onyx_options_free(mo);
    onyx_options_free(so);
}

/* Every allocation failing in turn: each failure is a status with a message, and whatever
 * was allocated comes back. */
Test(embedding, each_failed_allocation_fails_cleanly)
{
    builder *b = add_model();
    size_t n;
    const uint8_t *packed = builder_pack(b, &n);
    static float x[WIDTH];
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, WIDTH), x);
    bool completed = false;
    for (long fail_from = 0; !completed; fail_from++) {
        counting c = counting_new();
        c.fail_from = fail_from;
        onyx_options *o = options_with(&c, 2);
        onyx_model *model = NULL;
        onyx_session *s = NULL;
        onyx_status st = onyx_model_load_buffer_borrowed(packed, n, o, &model);
        if (!st)
            st = onyx_session_create(model, NULL, &s);
        if (!st)
            st = onyx_session_set_input(s, 0, &in);
        if (!st)
            st = onyx_session_run(s);
        if (st) {
            cr_assert(st == ONYX_ERROR_OUT_OF_MEMORY || st == ONYX_ERROR_LIMIT || st == ONYX_ERROR_INVALID_MODEL,
                      "allocation %ld failing gave %s", fail_from, onyx_status_str(st));
            cr_assert(!model || onyx_model_errmsg(model)[0] || (s && onyx_session_errmsg(s)[0]) ||
                          (!s && st == ONYX_ERROR_OUT_OF_MEMORY),
                      "allocation %ld failing left no message", fail_from);
        }
        completed = st == ONYX_OK;
        onyx_session_free(s);
        onyx_model_free(model);
        cr_assert_eq(c.live, 0, "allocation %ld failing leaked %lld bytes", fail_from, (long long)c.live);
        cr_assert_eq(c.allocations, c.frees);
        onyx_options_free(o);
        cr_assert_lt(fail_from, 10000);
    }
    builder_free(b);
}

Test(embedding, misaligned_memory_counts_as_a_failed_allocation)
{
    counting c = counting_new();
    c.misalign = true;
    onyx_options *o = options_with(&c, 1);
    builder *b = add_model();
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    onyx_model *model = NULL;
    cr_assert_eq(onyx_model_load_buffer(bytes, n, o, &model), ONYX_ERROR_OUT_OF_MEMORY);
    cr_assert_null(model, "not even the model object could be allocated");
    cr_assert_eq(c.live, 0);
    cr_assert_eq(c.allocations, c.frees);
    builder_free(b);
    onyx_options_free(o);
}

Test(embedding, allocator_arguments)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_allocator(NULL, counting_alloc, counting_free, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_allocator(o, counting_alloc, NULL, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_allocator(o, NULL, counting_free, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    counting c = counting_new();
    cr_assert_eq(onyx_options_set_allocator(o, counting_alloc, counting_free, &c), ONYX_OK);
    cr_assert_eq(onyx_options_set_allocator(o, NULL, NULL, NULL), ONYX_OK); /* back to the C library */
    builder *b = add_model();
    onyx_model *model = load(b, o);
    cr_assert_eq(c.allocations, 0);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}

/* ---- borrowed loading ---------------------------------------------------------------------- */

Test(embedding, borrowed_load_references_aligned_weights_in_the_callers_bytes)
{
    builder *b = add_model();
    size_t n;
    void *block;
    float *weights;
    const uint8_t *bytes = place_bytes(b, &n, 0, &weights, &block);
    counting c = counting_new();
    onyx_options *o = options_with(&c, 1);
    onyx_model *borrowed, *copied;
    cr_assert_eq(onyx_model_load_buffer_borrowed(bytes, n, o, &borrowed), ONYX_OK, "%s",
                 onyx_model_errmsg(borrowed));
    /* The parser never held the weights either: the peak stayed below their size. */
    cr_assert_lt(c.peak, (int64_t)(WIDTH * sizeof(float)), "peak %lld bytes while loading", (long long)c.peak);
    cr_assert_eq(onyx_model_load_buffer(bytes, n, NULL, &copied), ONYX_OK);
    cr_assert_geq(onyx_model_memory_bytes(copied), onyx_model_memory_bytes(borrowed) + WIDTH * sizeof(float));
    cr_assert_eq(run_add(borrowed, 5), 6);
    cr_assert_eq(run_add(copied, 5), 6);
    /* Changing the caller's bytes (which the contract forbids) shows who reads them. */
    weights[5] = 100;
    cr_assert_eq(run_add(borrowed, 5), 101);
    cr_assert_eq(run_add(copied, 5), 6);
    onyx_model_free(borrowed);
    onyx_model_free(copied);
    cr_assert_eq(c.live, 0);
    free(block);
    builder_free(b);
    onyx_options_free(o);
}

Test(embedding, borrowed_load_copies_misaligned_weights_and_says_why)
{
    builder *b = add_model();
    size_t n;
    void *block;
    float *weights;
    const uint8_t *bytes = place_bytes(b, &n, 2, &weights, &block);
    collected log = {0};
    onyx_options *o = options_logging(&log, ONYX_LOG_DEBUG);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer_borrowed(bytes, n, o, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    cr_assert_geq(find_message(&log, ONYX_LOG_DEBUG, "initializer 'B'"), 0);
    cr_assert_geq(find_message(&log, ONYX_LOG_DEBUG, "not aligned for float"), 0);
    cr_assert_geq(find_message(&log, ONYX_LOG_WARNING, "borrowed 0 initializers"), 0);
    memset(weights, 0x7f, sizeof(float)); /* not read: B was copied */
    cr_assert_eq(run_add(model, 0), 1);
    onyx_model_free(model);
    free(block);
    builder_free(b);
    onyx_options_free(o);
}

/* Y = X + Cast(B) + C: B bool raw_data with a 2 (onyx normalises it to 1), C float in typed
 * float_data. Neither can be borrowed; both load right. */
Test(embedding, bool_and_typed_initializers_are_copied)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(3), NULL);
    builder_initializer(b, "B", ONYX_DTYPE_BOOL, 1, DIMS(3), BOOLS(0, 2, 1));
    Onnx__TensorProto *c = builder_initializer(b, "C", ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(0, 0, 0));
    c->has_raw_data = 0;
    c->raw_data = (ProtobufCBinaryData){0, NULL};
    c->n_float_data = 3;
    c->float_data = builder_alloc(b, 3 * sizeof(float));
    memcpy(c->float_data, FLOATS(10, 20, 30), 3 * sizeof(float));
    Onnx__NodeProto *cast = builder_node(b, "Cast", "B", "Bf");
    builder_attr_int(b, cast, "to", ONYX_DTYPE_FLOAT);
    builder_node(b, "Add", "X,Bf", "S");
    builder_node(b, "Add", "S,C", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    collected log = {0};
    onyx_options *o = options_logging(&log, ONYX_LOG_DEBUG);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer_borrowed(bytes, n, o, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    cr_assert_geq(find_message(&log, ONYX_LOG_DEBUG, "bool"), 0);
    cr_assert_geq(find_message(&log, ONYX_LOG_DEBUG, "not stored as raw_data"), 0);
    onyx_session *s = new_session(model);
    float x[3] = {1, 1, 1};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), x), out;
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    expect_tensor(&out, ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(11, 22, 32), 0);
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}

/* A second, empty graph field: protobuf merges it into the first. The raw_data walk leaves
 * such bytes to the parser; the model loads as it would otherwise. */
Test(embedding, a_repeated_graph_field_is_merged_as_protobuf_says)
{
    builder *b = add_model();
    size_t n;
    const uint8_t *packed = builder_pack(b, &n);
    uint8_t *bytes = malloc(n + 2);
    memcpy(bytes, packed, n);
    bytes[n] = 7 << 3 | 2; /* field 7 (graph), length-delimited */
    bytes[n + 1] = 0;      /* empty */
    collected log = {0};
    onyx_options *o = options_logging(&log, ONYX_LOG_DEBUG);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer_borrowed(bytes, n + 2, o, &model), ONYX_OK, "%s",
                 onyx_model_errmsg(model));
    cr_assert_geq(find_message(&log, ONYX_LOG_DEBUG, "could not be located"), 0);
    float y7 = run_add(model, 7);
    cr_assert_eq(y7, 8, "got %g", y7);
    onyx_model_free(model);
    onyx_options_free(o);
    free(bytes);
    builder_free(b);
}

/* Truncated and corrupted bytes: every load returns a status, never reads past the end. */
Test(embedding, damaged_bytes_never_crash_a_borrowed_load)
{
    builder *b = add_model();
    size_t n;
    const uint8_t *packed = builder_pack(b, &n);
    uint8_t *bytes = malloc(n);
    for (size_t len = 0; len < n; len += 7) {
        memcpy(bytes, packed, len); /* a fresh block of exactly len bytes would be stricter; */
        onyx_model *model = NULL;   /* the walk is bounded by `len` either way */
        cr_assert_neq(onyx_model_load_buffer_borrowed(bytes, len, NULL, &model), ONYX_OK);
        onyx_model_free(model);
    }
    size_t header = n - WIDTH * sizeof(float); /* the structure: everything but most of B's data */
    for (size_t i = 0; i < header + 16 && i < n; i++) {
        for (int flip = 0; flip < 2; flip++) {
            memcpy(bytes, packed, n);
            bytes[i] ^= flip ? 0x80 : 0xff;
            onyx_model *model = NULL;
            onyx_status st = onyx_model_load_buffer_borrowed(bytes, n, NULL, &model);
            cr_assert(st == ONYX_OK || onyx_model_errmsg(model)[0], "byte %zu: a failure without a message", i);
            onyx_model_free(model);
        }
    }
    free(bytes);
    builder_free(b);
}

Test(embedding, borrowed_load_arguments)
{
    onyx_model *model = NULL;
    cr_assert_eq(onyx_model_load_buffer_borrowed(NULL, 0, NULL, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_model_load_buffer_borrowed(NULL, 10, NULL, &model), ONYX_ERROR_INVALID_ARGUMENT);
    expect_message(onyx_model_errmsg(model), "NULL", NULL);
    onyx_model_free(model);
    cr_assert_eq(onyx_model_load_buffer_borrowed(NULL, 0, NULL, &model), ONYX_ERROR_INVALID_MODEL);
    onyx_model_free(model);
    cr_assert_eq(onyx_model_memory_bytes(NULL), 0);
    cr_assert_eq(onyx_session_memory_bytes(NULL), 0);
}

/* ---- logging -------------------------------------------------------------------------------- */

Test(embedding, log_tells_of_loads_sessions_and_plans)
{
    collected log = {0};
    onyx_options *o = options_logging(&log, ONYX_LOG_INFO);
    builder *b = add_model();
    onyx_model *model = load(b, o);
    int loaded = find_message(&log, ONYX_LOG_INFO, "model loaded");
    cr_assert_geq(loaded, 0);
    expect_message(log.messages[loaded], "1 nodes", "1 to run", "1 inputs", NULL);
    onyx_session *s = new_session(model); /* inherits the model's log */
    cr_assert_geq(find_message(&log, ONYX_LOG_INFO, "session created: 1 thread"), 0);
    static float x[3 * WIDTH];
    for (int batch = 1; batch <= 3; batch += 2)
        for (int repeat = 0; repeat < 2; repeat++) {
            onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(batch, WIDTH), x);
            cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
            cr_assert_eq(onyx_session_run(s), ONYX_OK);
        }
    int plans = 0;
    for (int i = 0; i < log.count; i++)
        plans += strstr(log.messages[i], "plan for") != NULL;
    cr_assert_eq(plans, 2, "one message per new plan, not per run");
    int first = find_message(&log, ONYX_LOG_INFO, "plan for X=[1,8192]");
    cr_assert_geq(first, 0);
    expect_message(log.messages[first], "static", "1 steps", "arena", NULL);
    cr_assert_geq(find_message(&log, ONYX_LOG_INFO, "plan for X=[3,8192]"), 0);
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}

Test(embedding, log_explains_an_eager_plan)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(6), NULL);
    builder_input(b, "S", ONYX_DTYPE_INT64, 1, DIMS(2), NULL);
    builder_node(b, "Reshape", "X,S", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    collected log = {0};
    onyx_options *o = options_logging(&log, ONYX_LOG_DEBUG);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer(bytes, n, o, &model), ONYX_OK);
    onyx_session *s = new_session(model);
    float x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {0}, small[5] = {-1, -1, -1, -1, -1};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(6), x),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(2, 3))};
    cr_assert_eq(onyx_session_set_input(s, 0, &in[0]), ONYX_OK);
    cr_assert_eq(onyx_session_set_input(s, 1, &in[1]), ONYX_OK);
    /* Node by node, an output's size is known only after the run: still checked before the copy. */
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, small, sizeof small), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(small[0], -1);
    int eager = find_message(&log, ONYX_LOG_INFO, "eager");
    cr_assert_geq(eager, 0);
    expect_message(log.messages[eager], "Reshape", "needs computed data", NULL);
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, y, sizeof y), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor out;
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    cr_assert_eq(out.data, y);
    expect_tensor(&out, ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), x, 0);
    cr_assert_geq(find_message(&log, ONYX_LOG_DEBUG, "node by node"), 0);
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}

Test(embedding, failures_are_logged_with_their_message)
{
    collected log = {0};
    onyx_options *o = options_logging(&log, ONYX_LOG_ERROR);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    onyx_model *model;
    cr_assert_neq(onyx_model_load_buffer(garbage, sizeof garbage, o, &model), ONYX_OK);
    cr_assert_eq(log.count, 1);
    cr_assert_eq(log.levels[0], ONYX_LOG_ERROR);
    cr_assert_str_eq(log.messages[0], onyx_model_errmsg(model));
    onyx_model_free(model);

    builder *b = add_model();
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    cr_assert_eq(onyx_model_load_buffer(bytes, n, o, &model), ONYX_OK);
    cr_assert_eq(log.count, 1, "nothing below ONYX_LOG_ERROR");
    onyx_session *s = new_session(model);
    static double x[WIDTH];
    onyx_tensor wrong = tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(1, WIDTH), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &wrong), ONYX_ERROR_INVALID_INPUT);
    cr_assert_eq(log.count, 2);
    cr_assert_str_eq(log.messages[1], onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_STATE);
    cr_assert_eq(log.count, 3);
    expect_message(log.messages[2], "'X'", "not set", NULL);
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}

Test(embedding, log_arguments)
{
    onyx_options *o;
    collected log = {0};
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_log(NULL, collect, &log, ONYX_LOG_INFO), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_log(o, collect, &log, (onyx_log_level)0), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_log(o, collect, &log, (onyx_log_level)5), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_log(o, collect, &log, ONYX_LOG_DEBUG), ONYX_OK);
    cr_assert_eq(onyx_options_set_log(o, NULL, NULL, ONYX_LOG_DEBUG), ONYX_OK); /* off again */
    onyx_model *model;
    cr_assert_neq(onyx_model_load_buffer("x", 1, o, &model), ONYX_OK);
    cr_assert_eq(log.count, 0);
    onyx_model_free(model);
    onyx_options_free(o);
}

/* ---- output buffers -------------------------------------------------------------------------- */

Test(embedding, output_buffers_are_written_in_place)
{
    collected log = {0};
    onyx_options *o = options_logging(&log, ONYX_LOG_DEBUG);
    builder *b = add_model();
    onyx_model *model = load(b, o);
    onyx_session *s = new_session(model);
    static float x[WIDTH], y[WIDTH];
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, WIDTH), x), out;
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, y, sizeof y), ONYX_OK);
    for (int run = 0; run < 2; run++) {
        cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
        cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
        cr_assert_eq(out.data, y);
        cr_assert_eq(y[WIDTH - 1], WIDTH - 1);
    }
    cr_assert_eq(find_message(&log, ONYX_LOG_DEBUG, "copied into its buffer"), -1, "written in place");
    /* Back to session memory: the plan's own arena is used again. */
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, NULL, 0), ONYX_OK);
    y[3] = -1;
    cr_assert_eq(onyx_session_run(s), ONYX_OK);
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    cr_assert_neq(out.data, y);
    cr_assert_eq(((const float *)out.data)[3], 3);
    cr_assert_eq(y[3], -1);
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}

/* Y = Transpose(X) into X's own memory: writing in place would read overwritten elements,
 * so onyx copies at the end instead. */
Test(embedding, an_output_buffer_overlapping_an_input_is_copied)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), NULL);
    builder_node(b, "Transpose", "X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    collected log = {0};
    onyx_options *o = options_logging(&log, ONYX_LOG_DEBUG);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer(bytes, n, o, &model), ONYX_OK);
    onyx_session *s = new_session(model);
    float x[6] = {1, 2, 3, 4, 5, 6};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), x), out;
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, x, sizeof x), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    expect_tensor(&out, ONYX_DTYPE_FLOAT, 2, DIMS(3, 2), FLOATS(1, 4, 2, 5, 3, 6), 0);
    cr_assert_geq(find_message(&log, ONYX_LOG_DEBUG, "overlaps an input"), 0);
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}

/* Outputs no step computes (a graph input given back, a constant) and one value given as
 * two outputs: each buffer receives its output. */
Test(embedding, outputs_not_computed_by_a_step_are_copied)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_initializer(b, "C", ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(7, 8));
    builder_node(b, "Relu", "X", "R");
    builder_output(b, "X", ONYX_DTYPE_FLOAT);
    builder_output(b, "C", ONYX_DTYPE_FLOAT);
    builder_output(b, "R", ONYX_DTYPE_FLOAT);
    builder_output(b, "R", ONYX_DTYPE_FLOAT);
    onyx_model *model = load(b, NULL);
    onyx_session *s = new_session(model);
    float x[2] = {-1, 2}, buffers[4][2] = {{0}};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(onyx_session_set_output_buffer(s, (size_t)i, buffers[i], sizeof buffers[i]), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    static const float want[4][2] = {{-1, 2}, {7, 8}, {0, 2}, {0, 2}};
    for (int i = 0; i < 4; i++) {
        onyx_tensor out;
        cr_assert_eq(onyx_session_get_output(s, (size_t)i, &out), ONYX_OK);
        cr_assert_eq(out.data, buffers[i]);
        expect_tensor(&out, ONYX_DTYPE_FLOAT, 1, DIMS(2), want[i], 0);
    }
    onyx_session_free(s);
    onyx_model_free(model);
    builder_free(b);
}

/* ---- misuse ------------------------------------------------------------------------------ */

Test(embedding, a_session_whose_creation_failed_answers_invalid_state)
{
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer(garbage, sizeof garbage, NULL, &model), ONYX_ERROR_INVALID_MODEL);
    onyx_value_info info;
    onyx_node_info node;
    cr_assert_eq(onyx_model_input_info(model, 0, &info), ONYX_ERROR_INVALID_STATE);
    cr_assert_eq(onyx_model_node_info(model, 0, &node), ONYX_ERROR_INVALID_STATE);
    cr_assert_eq(onyx_model_node_info(NULL, 0, &node), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_model_input_info(model, 0, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_ERROR_INVALID_STATE);
    cr_assert_not_null(s);
    expect_message(onyx_session_errmsg(s), "failed to load", NULL);
    float x[2] = {0};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), x), out;
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_ERROR_INVALID_STATE);
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, x, sizeof x), ONYX_ERROR_INVALID_STATE);
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_STATE);
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_ERROR_INVALID_STATE);
    cr_assert_eq(onyx_session_get_output(NULL, 0, &out), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_set_output_buffer(NULL, 0, x, sizeof x), ONYX_ERROR_INVALID_ARGUMENT);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(embedding, version_macros_agree_with_each_other_and_the_library)
{
    char text[32];
    snprintf(text, sizeof text, "%d.%d.%d", ONYX_VERSION_MAJOR, ONYX_VERSION_MINOR, ONYX_VERSION_PATCH);
    cr_assert_str_eq(text, ONYX_VERSION_STRING);
    cr_assert_eq(ONYX_VERSION_NUMBER, ONYX_VERSION_MAJOR * 10000 + ONYX_VERSION_MINOR * 100 + ONYX_VERSION_PATCH);
    cr_assert_eq(onyx_version_number(), ONYX_VERSION_NUMBER);
    cr_assert_str_eq(onyx_version_string(), ONYX_VERSION_STRING);
}
