/*
 * The operator interface: everything an operator file sees of the runtime.
 *
 * An operator's life, for one node:
 *   check    at load: input/output counts, the dtype of every input, attributes parsed and
 *            range-checked into a private, immutable `params` block; sets output dtypes.
 *   reshape  input shapes -> output shapes. Called at load with symbolic dims (negative
 *            values, see dim_known) to infer shapes, and when planning with concrete dims,
 *            where it also fills the private `state`, `n_tasks` and `scratch_bytes`.
 *   run      computes tasks [begin, end) of the node, on any thread. Never allocates or
 *            prints; fails only when the data itself is wrong (an index out of range).
 *
 * The executor splits [0, n_tasks) into contiguous ranges, one per thread, so each task must
 * write its own part of the outputs: results are then identical for any thread count.
 */
#ifndef ONYX_OP_H
#define ONYX_OP_H

#include "onyx.h"
#include "shape.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- dtypes ----------------------------------------------------------------------------- */

#define DT(name) (1u << ONYX_DTYPE_##name)
#define DT_FLOATS (DT(FLOAT) | DT(DOUBLE))
#define DT_SIGNED_INTS (DT(INT8) | DT(INT16) | DT(INT32) | DT(INT64))
#define DT_UNSIGNED_INTS (DT(UINT8) | DT(UINT16) | DT(UINT32) | DT(UINT64))
#define DT_INTS (DT_SIGNED_INTS | DT_UNSIGNED_INTS)
#define DT_NUMERIC (DT_FLOATS | DT_INTS)
#define DT_ALL (DT_NUMERIC | DT(BOOL) | DT(FLOAT16) | DT(BFLOAT16))

/* ---- the context an operator works in --------------------------------------------------- */

/* Status returned by reshape when it needs the value of an input that is not known yet
 * (a shape computed from data): the runtime then runs the graph node by node. */
#define ONYX_DEFER ((onyx_status)100)

struct node;
struct op_env;

typedef struct op_context {
    const struct node *node; /* for attributes and messages; opaque to operators */
    struct op_env *env;      /* allocation and error reporting; opaque to operators */
    int opset;               /* the version of the operator's domain the model imports */
    int n_inputs;
    int n_outputs;
    int n_implicit;          /* inputs[n_inputs .. n_inputs + n_implicit): values of this graph
                                that the node's subgraphs read (control flow only) */
    /* inputs[i] is NULL for an absent optional input, outputs[i] for an absent optional
     * output. An input's data is NULL when its value is not known at this point (it always
     * is in run). */
    onyx_tensor **inputs;
    onyx_tensor **outputs;
    const void *params;   /* from check; shared by every session of the model */
    void *state;          /* from reshape; one per plan */
    bool concrete;        /* reshape: every input dim is known (planning, not inference) */
    int64_t n_tasks;      /* reshape: units of parallel work (default 1) */
    int64_t task_cost;    /* reshape: rough cost of one task in flops or bytes (default 0:
                             cheap, keep on one thread) */
    size_t scratch_bytes; /* reshape: scratch memory each thread needs in run */
    uint32_t released_inputs; /* check: bit i when the operator keeps what it needs of constant
                                 input i in its params (packed weights) and never reads its
                                 data again: the model may then free that data */
    bool output_is_view;  /* reshape: output 0 holds input 0's bytes unchanged (Reshape,
                             Squeeze, ...). The planner may then give both the same memory;
                             run must copy only when their data pointers differ. */
    size_t *string_bytes; /* reshape, when a node computing string outputs is evaluated: the
                             block size of each output, set with op_string_size (runtime) */
} op_context;

typedef struct op_descriptor {
    onyx_status (*check)(op_context *ctx);
    onyx_status (*reshape)(op_context *ctx);
    onyx_status (*run)(const op_context *ctx, int64_t begin, int64_t end, void *scratch);
    /* Inputs whose data the operator never reads, only their shape (Shape, Size): bit i
     * set for input i. Lets the runtime fold such nodes when shapes are known. */
    uint32_t shape_only_inputs;
    /* The first output may be absent (RNN, GRU, LSTM): otherwise the loader requires it, so
     * that operators may rely on output 0. */
    bool first_output_optional;
    /* Inputs that may be sequences or optionals (bit i for input i; bit 31 for inputs 31 and
     * up): the loader refuses any other input that is not a dense tensor before check, so
     * that an operator not naming any never meets one. Those naming some check each such
     * input's kind themselves (op_is_tensor). */
    uint32_t container_inputs;
} op_descriptor;

/* ---- what the runtime provides to operators ---------------------------------------------- */

/* Records an error for the node ("node 'n' (Op): <message>") and returns `status`. Safe to
 * call from run on any thread: the first error wins. */
onyx_status op_error(const op_context *ctx, onyx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error naming `what` unless a shape is one onyx accepts for a tensor: every dim >= 0, the
 * element count within the limit, and for an empty shape the product of its dims other than
 * 0 too (the runtime checks every output so after reshape; an operator computing a shape from
 * data checks it before multiplying its dims into counts or sizes). */
onyx_status op_check_shape(const op_context *ctx, int rank, const int64_t *dims, const char *what);
/* The name of input / output i, "" when absent or out of range (for messages). */
const char *op_input_name(const op_context *ctx, int i);
const char *op_output_name(const op_context *ctx, int i);
/* The precision the model is loaded with (onyx_options_set_precision), for check to choose how
 * to pack weights: ONYX_PRECISION_BF16 lets float32 MatMul and Gemm with constant weights run
 * on the bfloat16 GEMM. ONYX_PRECISION_FP32 outside check. */
onyx_precision op_precision(const op_context *ctx);
/* Memory that lives as long as the params (the model) or the state (the plan): zeroed,
 * NULL when out of memory or over the limit (the error is recorded then). */
void *op_alloc_params(op_context *ctx, size_t size);
void *op_alloc_state(op_context *ctx, size_t size);
/* op_alloc_params without the zeroing, for large blocks written whole (packed weights). */
void *op_alloc_params_uninit(op_context *ctx, size_t size);

/* Memory an operator frees itself (buffers of loop iterations), counted against the
 * limits; NULL (error recorded) when over them. */
void *op_alloc_temp(const op_context *ctx, size_t size);
void op_free_temp(const op_context *ctx, void *ptr);

/* ---- subgraphs (If, Loop, Scan) ---------------------------------------------------------- */

struct graph;
/* The graph attribute `name`, or NULL when absent (an error recorded when it has another type). */
const struct graph *op_attr_graph(const op_context *ctx, const char *name);
int op_graph_input_count(const struct graph *g);
int op_graph_output_count(const struct graph *g);
/* At check: gives the subgraph's inputs the types in inputs[] (dtype; rank -1 when unknown)
 * where the model leaves them out, checks them where it declares them, checks the subgraph's
 * nodes and sets outputs[i] to the type of its output i (dtype, and rank/dims when known). */
onyx_status op_graph_check(op_context *ctx, const struct graph *g, const onyx_tensor *inputs,
                           onyx_tensor *outputs);
/* Runs the subgraph now on inputs[] (one per subgraph input, with data). Its outputs come back
 * in outputs[] with data from op_alloc_temp, which the caller releases with op_free_temp. */
onyx_status op_graph_run(const op_context *ctx, const struct graph *g, const onyx_tensor *inputs,
                         onyx_tensor *outputs);

/* ---- sequences and optionals ------------------------------------------------------------- */
/* A value that is a sequence or an optional has a dtype with ONYX_SEQUENCE / ONYX_OPTIONAL
 * (onyx.h), rank -1 at check and, once its data is known, rank 1 with dims[0] the size of the
 * one block its data is (items are read with onyx_value_length and onyx_value_item). The
 * runtime runs every node that reads or writes one node by node, after its inputs are
 * computed: reshape then sees each input's data, and describes each container output with
 * op_container_size; run writes it with op_container_write. A whole value, tensor or block,
 * is copied with op_value_bytes bytes of memcpy. */
#define OP_CONTAINER (ONYX_SEQUENCE | ONYX_OPTIONAL)
static inline bool op_is_tensor(const onyx_tensor *t) { return !((int)t->dtype & OP_CONTAINER); }
static inline size_t op_value_bytes(const onyx_tensor *t)
{
    if (!op_is_tensor(t))
        return t->rank == 1 && t->dims[0] > 0 ? (size_t)t->dims[0] : 0;
    if (t->dtype == ONYX_DTYPE_STRING) /* the block's size is in its header */
        return t->data ? (size_t)((const int64_t *)t->data)[0] : 0;
    return tensor_bytes(t);
}
/* The block size for `count` items of these types and shapes (SIZE_MAX when too large), and
 * its layout written into `block`, with the data of each item whose data is not NULL: for an
 * operator that builds a block before run (SequenceMap, from its subgraph's results). */
size_t op_container_bytes(int64_t count, const onyx_tensor *items);
void op_container_fill(void *block, size_t size, int64_t count, const onyx_tensor *items);
/* "sequence(float)" and the like, into buf: for messages. */
const char *op_type_str(onyx_dtype type, char *buf, size_t size);
/* Reshape: makes output o (of a container type set in check) the block for `count` items of
 * the types and shapes in items[] (data ignored): an error when it would be too large. */
onyx_status op_container_size(op_context *ctx, int o, int64_t count, const onyx_tensor *items);
/* Run: lays out output o's block for the same items and copies in the data of each item whose
 * data is not NULL. Item k's data is then at onyx_value_item(output, k). */
void op_container_write(const op_context *ctx, int o, int64_t count, const onyx_tensor *items);

/* ---- string tensors ---------------------------------------------------------------------- */
/* A tensor of dtype ONYX_DTYPE_STRING keeps its shape in rank/dims like any tensor; its data
 * is one self-contained block (onyx.h, "String tensors"):
 *   int64 bytes, int64 count                 the block's size, the element count
 *   {int64 offset, int64 length}[count]      each element's bytes, offset from the block start
 *   the elements' bytes, each followed by a NUL
 * Its size depends on the data, so every node reading or writing strings runs node by node
 * (as for sequences): reshape sees each input's data and, in an evaluation (ctx->string_bytes
 * set), sizes each string output with op_string_size; run writes the elements in order with
 * op_string_begin / op_string_put. Blocks made by onyx are trusted; a caller's is checked
 * whole when it is set as an input. */
typedef struct op_string_entry {
    int64_t offset, length;
} op_string_entry;
#define OP_STRING_HEADER 16
/* Element i's bytes (NUL-terminated; *length without the NUL). */
static inline const char *op_string_at(const onyx_tensor *t, int64_t i, size_t *length)
{
    const op_string_entry *e = (const op_string_entry *)((const char *)t->data + OP_STRING_HEADER) + i;
    *length = (size_t)e->length;
    return (const char *)t->data + e->offset;
}
/* Bytes of a block of `count` elements holding `chars` bytes in all; SIZE_MAX when too large. */
static inline size_t op_string_block_size(int64_t count, int64_t chars)
{
    int64_t a, b;
    if (count < 0 || chars < 0 || __builtin_mul_overflow(count, 17, &a) ||
        __builtin_add_overflow(a, chars, &b) ||
        __builtin_add_overflow(b, OP_STRING_HEADER, &a) || (uint64_t)a > SIZE_MAX / 2)
        return SIZE_MAX;
    return (size_t)a;
}
/* Reshape: output o (a string tensor whose shape is set) will hold `chars` bytes of strings in
 * all. An error when the block would be too large; nothing at load-time inference. */
onyx_status op_string_size(op_context *ctx, int o, int64_t chars);
typedef struct op_string_writer {
    char *base;
    int64_t next, count, at, bytes;
} op_string_writer;
/* Run: starts writing string output t (sized with op_string_size). */
static inline void op_string_begin(op_string_writer *w, onyx_tensor *t)
{
    int64_t *h = t->data;
    w->base = t->data;
    w->next = 0;
    w->count = h[1];
    w->bytes = h[0];
    w->at = OP_STRING_HEADER + w->count * (int64_t)sizeof(op_string_entry);
}
/* Appends the next element. A string beyond the size given in reshape (an operator's
 * mistake) is written empty rather than past the block. */
static inline void op_string_put(op_string_writer *w, const char *s, size_t length)
{
    if (w->next >= w->count)
        return;
    op_string_entry *e = (op_string_entry *)(w->base + OP_STRING_HEADER) + w->next++;
    if ((int64_t)length > w->bytes - w->at - 1)
        length = 0;
    e->offset = w->at;
    e->length = (int64_t)length;
    for (size_t k = 0; k < length; k++) /* not memcpy: s may be NULL when length is 0 */
        w->base[w->at + (int64_t)k] = s[k];
    w->base[w->at + (int64_t)length] = '\0';
    w->at += (int64_t)length + 1;
}

/* Input i, or NULL when absent (optional input left empty, or beyond n_inputs). */
static inline const onyx_tensor *op_input(const op_context *ctx, int i)
{
    return i < ctx->n_inputs ? ctx->inputs[i] : NULL;
}
static inline onyx_tensor *op_output(const op_context *ctx, int i)
{
    return i < ctx->n_outputs ? ctx->outputs[i] : NULL;
}

/* Checks input/output counts: an error naming the allowed range when outside it. */
onyx_status op_check_arity(const op_context *ctx, int min_inputs, int max_inputs, int min_outputs,
                           int max_outputs);
/* Checks that input i is present (when `required`) and its dtype is in `mask`. */
onyx_status op_check_input(const op_context *ctx, int i, bool required, uint32_t mask);
/* Checks that input i (if present) has the same dtype as input j. */
onyx_status op_check_same_dtype(const op_context *ctx, int i, int j);
/* Checks inputs 0 .. n - 1: the first `required` present, each dtype in `mask` and all of one
 * dtype (input 0's). */
onyx_status op_check_inputs_alike(const op_context *ctx, int n, int required, uint32_t mask);
/* Sets the dtype of every output to `dtype`. */
void op_set_output_dtypes(op_context *ctx, onyx_dtype dtype);

/* Attributes. Each reader returns ONYX_OK and the default when the attribute is absent, and
 * an error (recorded, naming node and attribute) when it has the wrong type. */
bool op_has_attr(const op_context *ctx, const char *name);
onyx_status op_attr_int(const op_context *ctx, const char *name, int64_t dflt, int64_t *value);
onyx_status op_attr_float(const op_context *ctx, const char *name, float dflt, float *value);
/* *value points into the model, NUL-terminated. */
onyx_status op_attr_string(const op_context *ctx, const char *name, const char *dflt,
                           const char **value);
/* *values points into the model; *count is -1 when the attribute is absent. */
onyx_status op_attr_ints(const op_context *ctx, const char *name, const int64_t **values,
                         int64_t *count);
onyx_status op_attr_floats(const op_context *ctx, const char *name, const float **values,
                           int64_t *count);
/* *count is -1 when absent; strings are NUL-terminated. */
onyx_status op_attr_strings(const op_context *ctx, const char *name, const char *const **values,
                            int64_t *count);
/* A TypeProto attribute, as a dtype (with ONYX_SEQUENCE / ONYX_OPTIONAL); UNDEFINED when absent. */
onyx_status op_attr_type(const op_context *ctx, const char *name, onyx_dtype *type);
/* *value is NULL when absent. */
onyx_status op_attr_tensor(const op_context *ctx, const char *name, const onyx_tensor **value);
/* Fails (naming the attribute) when the attribute is absent. */
onyx_status op_attr_require(const op_context *ctx, const char *name);

/* ---- small helpers every operator uses --------------------------------------------------- */

/* Normalizes axis (may be negative) for `rank`; an error naming the attribute otherwise. */
onyx_status op_axis(const op_context *ctx, const char *what, int64_t axis, int rank, int *out);
/* Splits [begin, end) of `total` tasks: used by operators that tile work themselves. */
#define OP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define OP_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* ONYX_OP_H */
