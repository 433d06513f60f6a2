/*
 * onyx's own intermediate representation of a model, and the runtime's internal interfaces.
 * Nothing after runtime/model.c touches protobuf structures: every later stage works on this.
 */
#ifndef ONYX_IR_H
#define ONYX_IR_H

#include "onyx.h"
#include "op.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ERRMSG_SIZE 1024

/* ---- memory: every allocation is counted against a limit --------------------------------- */

/* Where memory comes from: the caller's functions (onyx_options_set_allocator), or the C
 * library's aligned_alloc and free when alloc is NULL. */
typedef struct allocator {
    onyx_alloc_fn alloc;
    onyx_free_fn free;
    void *user;
} allocator;

typedef struct mem {
    _Atomic int64_t used;
    int64_t limit;
    allocator allocator;
} mem;

/* Zeroed, 64-byte aligned; NULL when out of memory or over the limit. Each block remembers
 * its size, so freeing needs only the pointer. */
void *mem_alloc(mem *m, size_t size);
/* The same, not zeroed: for buffers about to be overwritten whole (tensor data, arenas), so
 * that large ones are not written twice. */
void *mem_alloc_raw(mem *m, size_t size);
/* Grows (never shrinks) a block, zeroing the new part; NULL on failure (ptr stays valid). */
void *mem_realloc(mem *m, void *ptr, size_t new_size);
/* Frees ptr. `m` may live inside the block being freed (an object freeing itself). */
void mem_free(mem *m, void *ptr);
/* An object (a model, a session) that holds its own `mem` at byte `mem_offset`: allocated
 * through `like`'s allocator, not refused by its limit but counted in its own. Freed with
 * mem_free(&object->mem, object). */
void *mem_alloc_owner(const mem *like, size_t size, size_t mem_offset);
char *mem_strdup(mem *m, const char *s);

/* A list of blocks freed together (a node's params, a plan's states). */
typedef struct mem_block {
    struct mem_block *next;
    _Alignas(64) unsigned char data[];
} mem_block;
void *mem_block_alloc(mem *m, mem_block **list, size_t size);
void *mem_block_alloc_raw(mem *m, mem_block **list, size_t size); /* not zeroed */
void mem_block_free_all(mem *m, mem_block **list);

/* Overflow-checked arithmetic for every size computed from model data. */
static inline bool mul_ok(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool add_ok(int64_t a, int64_t b, int64_t *out) { return !__builtin_add_overflow(a, b, out); }

/* ---- limits and options ------------------------------------------------------------------ */

typedef struct limits {
    int64_t model_bytes;
    int64_t tensor_elements;
    int64_t memory_bytes;
    int64_t graph_nodes;
    int64_t graph_depth;
    int64_t subgraph_runs;
} limits;

/* ---- logging: the caller's callback, never stdout or stderr ------------------------------ */

typedef struct logger {
    onyx_log_fn fn; /* NULL: nothing is logged */
    void *user;
    onyx_log_level max_level;
} logger;

static inline bool log_enabled(const logger *l, onyx_log_level level)
{
    return l->fn && level <= l->max_level;
}
/* Formats and passes one message to the callback, when its level is enabled. */
void log_message(const logger *l, onyx_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct onyx_options {
    int threads;
    bool optimize;
    onyx_precision precision;
    limits limits;
    char *external_data_dir;
    allocator allocator;
    logger log;
};

void options_defaults(onyx_options *options);

/* ---- the graph --------------------------------------------------------------------------- */

typedef enum value_kind {
    VALUE_INPUT,    /* a graph input, bound by the caller */
    VALUE_CONSTANT, /* an initializer or a folded node output: `info.data` holds it */
    VALUE_NODE,     /* produced by a node */
    VALUE_OUTER,    /* a subgraph's reference to a value of an enclosing graph */
} value_kind;

typedef struct value {
    char *name;
    value_kind kind;
    /* dtype, rank (-1 when unknown at load) and dims (symbolic: see dim_known); for a
     * constant, also its data, owned by the model. */
    onyx_tensor info;
    int producer;      /* node index, or -1 */
    int n_uses;        /* node inputs reading it, graph outputs counted too */
    bool borrowed;     /* a constant whose data lies in the caller's model bytes (not owned) */
} value;

typedef enum attr_type {
    ATTR_UNDEFINED = 0,
    ATTR_FLOAT = 1,
    ATTR_INT = 2,
    ATTR_STRING = 3,
    ATTR_TENSOR = 4,
    ATTR_GRAPH = 5,
    ATTR_FLOATS = 6,
    ATTR_INTS = 7,
    ATTR_STRINGS = 8,
    ATTR_TENSORS = 9,
    ATTR_GRAPHS = 10,
    ATTR_SPARSE_TENSOR = 11,
    ATTR_SPARSE_TENSORS = 12,
    ATTR_TYPE_PROTO = 13,
    ATTR_TYPE_PROTOS = 14,
} attr_type;

struct graph;

typedef struct attribute {
    char *name;
    attr_type type;
    float f;
    int64_t i;
    char *s;           /* NUL-terminated copy */
    size_t s_len;
    onyx_tensor t;     /* TENSOR */
    struct graph *g;   /* GRAPH */
    int64_t count;     /* element count of the list forms */
    float *floats;
    int64_t *ints;
    char **strings;
} attribute;

typedef struct node {
    char *name;        /* never NULL: a generated "<op>_<index>" when the model has none */
    char *op_type;
    char *domain;      /* "" for the default ONNX domain */
    int opset;
    int n_inputs;      /* the inputs the operator sees */
    int n_implicit;    /* values of this graph its subgraphs read, after the n_inputs */
    int *inputs;       /* value indices; -1 for an absent optional input */
    int n_outputs;
    int *outputs;      /* value indices; -1 for an absent optional output */
    int n_attrs;
    attribute *attrs;
    const op_descriptor *op;
    const void *params;
    mem_block *param_blocks;
    uint32_t released_inputs; /* the operator's ctx->released_inputs from check */
    char *written_op_type; /* the op type in the model when a pass rewrote the node, or NULL */
    bool dead;         /* removed by a pass; skipped by planning */
    bool supported;    /* an operator implements it (set by graph_check) */
} node;

typedef struct graph {
    struct graph *parent;
    int n_values;
    int values_cap;
    value *values;
    int n_nodes;
    node *nodes; /* in topological order once imported */
    int n_inputs;
    int *inputs;
    int n_outputs;
    int *outputs;
    onyx_tensor *output_decl; /* the outputs' declared types, dtype 0 when undeclared */
    int depth;                /* 0 for the main graph */
} graph;

typedef struct opset_import {
    char *domain;
    int64_t version;
} opset_import;

struct onyx_model {
    mem mem;
    limits limits;
    onyx_status status;
    bool imported; /* the graph was read (inspection works even if checks failed) */
    char errmsg[ERRMSG_SIZE];
    char *dir; /* directory external data is resolved against, or NULL */
    int64_t ir_version;
    char *producer_name;
    char *producer_version;
    int n_opsets;
    opset_import *opsets;
    int n_symbols;
    char **symbols; /* dim_param names: symbol k is dim value -2 - k */
    graph graph;
    int threads;   /* from the load options, the sessions' default */
    bool optimize; /* run the fusion passes */
    onyx_precision precision; /* from the load options: what MatMul and Gemm pack weights for */
    logger log;    /* from the load options, the sessions' default */
};

static inline int64_t dim_symbol(int k) { return -2 - (int64_t)k; }
static inline int symbol_of_dim(int64_t d) { return d <= -2 ? (int)(-2 - d) : -1; }

/* ---- stage functions --------------------------------------------------------------------- */

/* The error reporting and allocation environment of check/reshape/run. */
typedef struct op_env {
    struct onyx_model *model; /* at load: for checking subgraphs */
    mem *mem;
    mem_block **blocks; /* where op_alloc_* allocations go */
    limits *limits;
    const graph *graph;
    /* Subgraph runs left to the run (or load-time computation) this env belongs to, shared
     * with the envs of the subgraphs it runs; NULL: not counted. */
    _Atomic int64_t *subgraph_runs_left;
    _Atomic int failed;
    onyx_status status;
    char errmsg[ERRMSG_SIZE];
} op_env;

/* Formats into a fixed buffer; always NUL-terminated. Returns status for chaining. */
onyx_status set_error(char *buf, onyx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* runtime/wire.c: a scan of a model's protobuf bytes before unpacking them: message nesting,
 * subgraph depth and node count against the limits, so that protobuf-c neither recurses
 * nor allocates without bound. */
onyx_status wire_check_model(const void *data, size_t size, const limits *lim, char *errmsg);

/* runtime/model.c: protobuf bytes -> IR, validated (names, cycles, tensor data, attributes).
 * Initializers of the main graph copy or reference their raw_data inside `data` by `mode`. */
typedef enum import_mode {
    IMPORT_COPY,   /* every initializer copied out of the bytes */
    IMPORT_BORROW, /* aligned ones referenced in the caller's bytes, which outlive the model */
    IMPORT_OWN,    /* the bytes are onyx's own, writable copy, kept until graph_unborrow:
                      misaligned payloads are moved into alignment in place and referenced */
} import_mode;
onyx_status model_import(onyx_model *model, const void *data, size_t size, import_mode mode);
/* Copies the constants still referencing [start, start + size) into the model's own memory
 * (out of memory leaves a value borrowed: the caller then keeps the bytes). */
void graph_unborrow(mem *m, graph *g, const void *start, size_t size);
void graph_free(mem *m, graph *g);
void node_free_attrs(mem *m, node *n);
/* Releases a constant's data unless it is borrowed. */
void value_free_data(mem *m, value *v);

/* runtime/tensor_proto.c: TensorProto -> dense tensor, size-checked. `dir` resolves
 * external data (NULL refuses it). */
struct Onnx__TensorProto;
onyx_status tensor_from_proto(mem *m, const limits *lim, const char *dir,
                              const struct Onnx__TensorProto *proto, onyx_tensor *out,
                              char *errmsg);
/* The same, but out->data points into proto->raw_data instead of a copy when that is
 * aligned for the dtype (and the dtype is not bool, whose bytes onyx normalises to 0 or 1);
 * *borrowed says which. The caller keeps raw_data alive as long as the tensor. */
onyx_status tensor_from_proto_borrow(mem *m, const limits *lim, const char *dir,
                                     const struct Onnx__TensorProto *proto, onyx_tensor *out,
                                     bool *borrowed, char *errmsg);

/* ops/registry.c: the operator for (domain, op_type, opset), or NULL. Sets *known when
 * the operator exists at some other version or dtype. */
typedef struct op_registration {
    const char *domain;
    const char *op_type;
    int since;       /* the ONNX since-version of the schema */
    uint32_t dtypes; /* dtypes of input 0 ("T"); 0 when the op has no inputs */
    const op_descriptor *op; /* NULL: onyx refuses this version (see why) */
    const char *file;        /* the file of ops/ that defines op */
    const char *why;         /* for a refused version: what onyx lacks of it */
} op_registration;
/* The entry in effect at `opset` (the newest since-version <= opset), NULL when the operator
 * is unknown at that opset. Its op is NULL when onyx refuses that version. */
const op_registration *registry_find(const char *domain, const char *op_type, int opset);
/* The newest opset of `domain` onyx knows; -1 for a domain it has no operators of. */
int registry_max_opset(const char *domain);
const op_registration *registry_entries(size_t *count);

/* runtime/check.c: binds each node to its operator and infers types and shapes. Collects
 * every unsupported node into one message. Folds nodes whose inputs are all constants and
 * drops what nothing reads (graph_prune, also run after the passes). */
onyx_status graph_check(onyx_model *model, graph *g);
void graph_prune(onyx_model *model, graph *g, bool release_copied);
/* Checks one node rewritten by a pass, as graph_check checks a loaded one. */
onyx_status node_setup(onyx_model *model, graph *g, node *n);

/* runtime/passes.c: fusions (GELU, written-out LayerNorm, ...), each replacing a pattern of
 * nodes by one operator. */
onyx_status graph_optimize(onyx_model *model, graph *g);

/* runtime/evaluate.c. node_bind sets up ctx for node n over the pointer arrays in / out
 * (n->n_inputs + n->n_implicit and n->n_outputs slots: the implicit inputs, values of this
 * graph that the node's subgraphs read, follow the inputs the operator sees), which
 * node_point fills from per-value tensors. */
void node_bind(op_context *ctx, op_env *env, const node *n, onyx_tensor **in, onyx_tensor **out);
void node_point(const node *n, onyx_tensor *tensors, onyx_tensor **in, onyx_tensor **out);
/* The operator's reshape, then the checks every concrete output shape must pass (known dims,
 * within the limits). ONYX_DEFER when the operator needs data not known yet. */
onyx_status node_reshape(op_context *ctx);
/* Runs a bound node now on one thread: reshape, allocate each output from env->mem (the
 * caller owns them after), run every task. Every input the node reads must have data. */
onyx_status node_evaluate(op_context *ctx);
/* Whether the operator reads only the shape of input i (op_descriptor.shape_only_inputs),
 * for any i: a node may have more inputs than the mask has bits. */
static inline bool op_reads_shape_only(const op_descriptor *op, int i)
{
    return i < 32 && (op->shape_only_inputs >> i & 1u);
}

/* runtime/opctx.c */
const attribute *node_attr(const node *n, const char *name);

/* ---- small shared helpers ---------------------------------------------------------------- */

/* Opens `path` for reading if it is a regular file: its descriptor, with *sb filled; -1 when
 * it cannot be opened (errno set); -2 when it is something else. A FIFO or a device is
 * refused without being read or waited on (a plain open of a FIFO blocks until a writer
 * comes, for ever). */
struct stat;
int open_regular_file(const char *path, struct stat *sb);
bool dtype_valid(int code);
/* The data of empty tensors that have none of their own (a caller's empty input, an empty
 * value known only by its shape while planning): kernels get a valid pointer, never NULL,
 * which they may offset by 0. Nothing is ever read from it or written to it. */
extern const max_align_t empty_tensor_data;
/* Checks dims (all >= 0, rank <= ONYX_MAX_RANK, element count within the limit); an empty
 * tensor's dims other than its zeros must multiply to within the limit too, so that no
 * operator meets a dim near 2^63 in a tensor with no elements (products of dims and sizes
 * made of them stay far from overflow everywhere). Error text into errmsg. */
onyx_status shape_validate(const onyx_tensor *t, const limits *lim, const char *what, char *errmsg);

/* runtime/container.c: values that are sequences or optionals (onyx.h describes their type
 * codes and the one self-contained block each lives in). */
bool type_is_container(int dtype);
/* A tensor dtype, or a sequence / optional / optional-sequence of one. */
bool type_valid(int dtype);
/* The type of a container's items: the element dtype for a sequence, the type without
 * ONYX_OPTIONAL for an optional. */
int container_item_type(int dtype);
/* The bytes of any value: a tensor's data, or a container's block. */
size_t value_bytes(const onyx_tensor *t);
/* "float", "sequence(float)", "optional(sequence(int64))": for messages. */
const char *type_str(int dtype, char *buf, size_t size);
/* The block size for `count` items of these types and shapes; SIZE_MAX when too large. */
size_t container_size(int64_t count, const onyx_tensor *items);
/* Lays the block out in `block` (container_size bytes) and copies in the data of every item
 * whose data is not NULL (the others are left for the caller to fill). */
void container_write(void *block, size_t size, int64_t count, const onyx_tensor *items);
/* Checks a block from outside onyx (a caller's input) whole: header, every item's type,
 * shape (within the limits) and place in the block. */
onyx_status container_validate(const onyx_tensor *v, const limits *lim, const char *what, char *errmsg);

/* runtime/strings.c: string tensors (one self-contained block each: ops/op.h, onyx.h). */
bool type_is_string(int dtype);
size_t string_block_size(int64_t count, int64_t chars);
/* Checks a block from outside onyx (a caller's input) whole against t's shape: header, each
 * element's place in the block and its NUL. */
onyx_status string_validate(const onyx_tensor *t, const limits *lim, const char *what, char *errmsg);
/* A TensorProto's string_data into a block; out's shape is set and checked. */
onyx_status string_from_proto(mem *m, const struct Onnx__TensorProto *p, onyx_tensor *out, const char *what,
                              char *errmsg);

#endif /* ONYX_IR_H */
