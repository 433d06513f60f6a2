/*
 * onyx.h — the public interface of onyx, a small ONNX runtime.
 *
 * This header is the reference: every type and function is described here, with who owns
 * what, for how long, from which threads it may be used, and what happens on failure.
 * docs/API.md walks through a whole program.
 *
 * Life of a program that embeds onyx:
 *
 *   onyx_model *model;
 *   if (onyx_model_load_file("model.onnx", NULL, &model) != ONYX_OK) {
 *       fprintf(stderr, "%s\n", onyx_model_errmsg(model));
 *       onyx_model_free(model);
 *       return 1;
 *   }
 *   onyx_session *session;
 *   onyx_session_create(model, NULL, &session);
 *   onyx_tensor x = { .dtype = ONYX_DTYPE_FLOAT, .rank = 2, .dims = {1, 4}, .data = values };
 *   onyx_session_set_input(session, 0, &x);
 *   if (onyx_session_run(session) == ONYX_OK) {
 *       onyx_tensor y;
 *       onyx_session_get_output(session, 0, &y);   // y.data valid until the next run
 *   }
 *   onyx_session_free(session);
 *   onyx_model_free(model);
 *
 * Conventions that hold for every function below:
 *  - Every function that can fail returns an onyx_status. ONYX_OK is zero.
 *  - A failure leaves a readable message in the object that failed (onyx_model_errmsg,
 *    onyx_session_errmsg). The message names the node, the operator and the tensor concerned
 *    where there is one. onyx_status_str gives a fixed text for a code.
 *  - The library never prints, never exits and never aborts on bad input. What it has to
 *    say goes to the optional log callback (onyx_options_set_log).
 *  - There is no global mutable state: separate objects may be used from separate threads
 *    freely. A model is immutable once loaded and may be shared by any number of threads and
 *    sessions. A session is used by one thread at a time (any thread, one after the other).
 *  - Strings returned by onyx are owned by the object they came from and stay valid while
 *    it lives, unless said otherwise. Pointers given to onyx are only read during the call,
 *    unless said otherwise (input tensors, output buffers and borrowed model bytes are kept).
 *  - Every _free function accepts NULL and does nothing then.
 */
#ifndef ONYX_H
#define ONYX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ONYX_API
#elif defined(__GNUC__)
#define ONYX_API __attribute__((visibility("default")))
#else
#define ONYX_API
#endif

/* ---------------------------------------------------------------------------------------- */
/* Version                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* The version of this header. The shared library's soname (libonyx.so.0) changes whenever
 * its ABI changes incompatibly. */
#define ONYX_VERSION_MAJOR 0
#define ONYX_VERSION_MINOR 1
#define ONYX_VERSION_PATCH 0
#define ONYX_VERSION_STRING "0.1.0"
/* One number that grows with each release: major * 10000 + minor * 100 + patch. */
#define ONYX_VERSION_NUMBER (ONYX_VERSION_MAJOR * 10000 + ONYX_VERSION_MINOR * 100 + ONYX_VERSION_PATCH)

/* The version of the library actually linked, in the form of ONYX_VERSION_NUMBER. Compare it
 * with ONYX_VERSION_NUMBER to detect a header / library mismatch. Thread-safe. */
ONYX_API int onyx_version_number(void);
/* The same as a static string such as "0.1.0". Thread-safe. */
ONYX_API const char *onyx_version_string(void);

/* Highest rank of any tensor onyx handles. Models with higher ranks are rejected at load. */
#define ONYX_MAX_RANK 8

/* ---------------------------------------------------------------------------------------- */
/* Status codes                                                                             */
/* ---------------------------------------------------------------------------------------- */

typedef enum onyx_status {
    ONYX_OK = 0,
    /* An argument is wrong: a NULL pointer, an index out of range, an option out of range. */
    ONYX_ERROR_INVALID_ARGUMENT = 1,
    /* A call in the wrong state: running before every input is set, using a session whose
     * creation failed. Distinct from a bad argument: the arguments may be fine. */
    ONYX_ERROR_INVALID_STATE = 2,
    /* An allocation failed. */
    ONYX_ERROR_OUT_OF_MEMORY = 3,
    /* A file could not be opened, read or written. */
    ONYX_ERROR_IO = 4,
    /* The model is malformed: not a protobuf, inconsistent graph, tensor data whose size does
     * not match its dims, a missing required attribute, a cycle, an unknown input. */
    ONYX_ERROR_INVALID_MODEL = 5,
    /* The model is valid ONNX but uses an operator, opset version or data type onyx does not
     * implement. The message lists every unsupported node. */
    ONYX_ERROR_UNSUPPORTED = 6,
    /* An input tensor given to a session does not match the model: dtype, rank or shape. */
    ONYX_ERROR_INVALID_INPUT = 7,
    /* A configured limit (model size, tensor elements, memory) would be exceeded. */
    ONYX_ERROR_LIMIT = 8,
    /* An operator rejected the data it was given while running (an index out of range). */
    ONYX_ERROR_RUNTIME = 9,
} onyx_status;

/* A fixed English text for a status code, such as "invalid model"; "unknown status" for a
 * value outside the enum. Never NULL; static storage. Thread-safe. */
ONYX_API const char *onyx_status_str(onyx_status status);

/* ---------------------------------------------------------------------------------------- */
/* Tensors                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Element types. The values are those of ONNX's TensorProto.DataType (every one of ONNX 1.23).
 *
 * The 8-bit floating-point types (FLOAT8*) are held as their 8-bit codes, one per byte, as
 * ONNX stores them. The narrower types are held unpacked, one element per byte, unlike
 * ONNX's files (which pack two 4-bit, four 2-bit or four 6-bit elements into fewer bytes):
 *  - INT4 and INT2 as int8_t, sign-extended (-8..7, -2..1);
 *  - UINT4 and UINT2 as uint8_t (0..15, 0..3);
 *  - FLOAT4E2M1 as its 4-bit code and FLOAT6E2M3 / FLOAT6E3M2 as their 6-bit codes, in the
 *    low bits of a byte.
 * onyx packs and unpacks them where ONNX data is read (initializers, .pb files), so that a
 * tensor of any dtype is an array of onyx_dtype_size(dtype) bytes per element, addressable
 * element by element, in the API as inside onyx. Only the low 4, 2 or 6 bits of a byte given
 * to onyx count (sign-extended from them for INT4 and INT2); the bits above are ignored.
 * Which operators accept which dtype is listed by `onyx ops`; the others refuse a model at
 * load, naming the node, the operator and the dtype. */
typedef enum onyx_dtype {
    ONYX_DTYPE_UNDEFINED = 0,
    ONYX_DTYPE_FLOAT = 1,
    ONYX_DTYPE_UINT8 = 2,
    ONYX_DTYPE_INT8 = 3,
    ONYX_DTYPE_UINT16 = 4,
    ONYX_DTYPE_INT16 = 5,
    ONYX_DTYPE_INT32 = 6,
    ONYX_DTYPE_INT64 = 7,
    ONYX_DTYPE_STRING = 8, /* variable-length byte strings: see "String tensors" below */
    ONYX_DTYPE_BOOL = 9,   /* one byte per element, 0 or 1 */
    ONYX_DTYPE_FLOAT16 = 10,
    ONYX_DTYPE_DOUBLE = 11,
    ONYX_DTYPE_UINT32 = 12,
    ONYX_DTYPE_UINT64 = 13,
    ONYX_DTYPE_COMPLEX64 = 14,
    ONYX_DTYPE_COMPLEX128 = 15,
    ONYX_DTYPE_BFLOAT16 = 16,
    ONYX_DTYPE_FLOAT8E4M3FN = 17,   /* 1 sign, 4 exponent (bias 7), 3 mantissa bits; NaN, no inf */
    ONYX_DTYPE_FLOAT8E4M3FNUZ = 18, /* bias 8; one NaN (0x80), no inf, no -0 */
    ONYX_DTYPE_FLOAT8E5M2 = 19,     /* 1 sign, 5 exponent (bias 15), 2 mantissa bits; IEEE-like */
    ONYX_DTYPE_FLOAT8E5M2FNUZ = 20, /* bias 16; one NaN (0x80), no inf, no -0 */
    ONYX_DTYPE_UINT4 = 21,          /* unpacked: one per byte, see above */
    ONYX_DTYPE_INT4 = 22,           /* unpacked and sign-extended */
    ONYX_DTYPE_FLOAT4E2M1 = 23,     /* unpacked: 1 sign, 2 exponent (bias 1), 1 mantissa bit; finite */
    ONYX_DTYPE_FLOAT8E8M0 = 24,     /* a power of two 2^(code - 127); 0xff is NaN */
    ONYX_DTYPE_UINT2 = 25,          /* unpacked */
    ONYX_DTYPE_INT2 = 26,           /* unpacked and sign-extended */
    ONYX_DTYPE_FLOAT6E2M3 = 27,     /* unpacked: 1 sign, 2 exponent (bias 1), 3 mantissa bits; finite */
    ONYX_DTYPE_FLOAT6E3M2 = 28,     /* unpacked: 1 sign, 3 exponent (bias 3), 2 mantissa bits; finite */
} onyx_dtype;

/* The ONNX name of a dtype ("float", "int64", ...); "undefined" for unknown codes. Static
 * storage. Thread-safe. */
ONYX_API const char *onyx_dtype_name(onyx_dtype dtype);
/* Bytes per element, 0 for types without a fixed size (strings) or unknown codes. */
ONYX_API size_t onyx_dtype_size(onyx_dtype dtype);

/* A dense, row-major tensor: a plain description that onyx fills or reads, never a handle.
 * onyx never frees `data` it did not allocate. A tensor of rank 0 is a scalar and has one
 * element; dims past `rank` are ignored. `data` holds count * onyx_dtype_size(dtype) bytes,
 * aligned at least to the element's natural alignment. */
typedef struct onyx_tensor {
    onyx_dtype dtype;
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    void *data;
} onyx_tensor;

/* Number of elements of `tensor` (the product of its dims, 1 for a scalar). Returns -1 for a
 * NULL tensor, a rank outside 0..ONYX_MAX_RANK, a negative dim or a product that overflows. */
ONYX_API int64_t onyx_tensor_element_count(const onyx_tensor *tensor);

/* ---------------------------------------------------------------------------------------- */
/* Options                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Options for loading models and creating sessions: threads, limits, an allocator and a log
 * callback. Created with defaults; copied by the functions that take them, so one options
 * object may be freed right after use, or reused for several models.
 *
 * Thread safety: an options object may be read by several loads at once, but must not be
 * changed while another thread uses it. */
typedef struct onyx_options onyx_options;

/* Limits checked before onyx allocates, so that a hostile model fails cleanly. */
typedef enum onyx_limit {
    ONYX_LIMIT_MODEL_BYTES = 0,     /* size of the .onnx file or buffer; default 2 GiB */
    ONYX_LIMIT_TENSOR_ELEMENTS = 1, /* elements in any one tensor (for an empty one, the product of
                                       its dims other than 0); default and maximum 2^31 - 1 */
    ONYX_LIMIT_MEMORY_BYTES = 2,    /* bytes onyx may hold at once for one model or session,
                                       weights and buffers included; default 8 GiB */
    ONYX_LIMIT_GRAPH_NODES = 3,     /* nodes in a graph; default 1,000,000 */
    ONYX_LIMIT_GRAPH_DEPTH = 4,     /* nesting of subgraphs; default 16 */
    ONYX_LIMIT_SUBGRAPH_RUNS = 5,   /* runs of subgraphs (Loop, Scan, If bodies) in one session run,
                                       or in computing one node at load; default 1,000,000 */
} onyx_limit;

/* Creates an options object with defaults: threads = 1, default limits, the C library's
 * allocator, no logging. The object itself is allocated with malloc (it exists before any
 * allocator is chosen) and released with onyx_options_free.
 * Returns ONYX_ERROR_INVALID_ARGUMENT when options is NULL, ONYX_ERROR_OUT_OF_MEMORY (and
 * *options = NULL) when allocation fails. */
ONYX_API onyx_status onyx_options_create(onyx_options **options);
/* Frees an options object. Models and sessions created with it keep their own copy. */
ONYX_API void onyx_options_free(onyx_options *options);

/* Threads a session uses to run (the caller's thread counts as one; the others sleep
 * between runs). 1 by default; 0 means one per available processor.
 * ONYX_ERROR_INVALID_ARGUMENT when options is NULL or threads is negative or above 256. */
ONYX_API onyx_status onyx_options_set_threads(onyx_options *options, int threads);
/* 1 (the default): at load, fuse patterns of nodes into faster operators (GELU, LayerNorm
 * written out, attention, MatMul with bias and activation); results stay within rounding of
 * the unfused graph. 0: run the graph as written. ONYX_ERROR_INVALID_ARGUMENT otherwise. */
ONYX_API onyx_status onyx_options_set_optimization(onyx_options *options, int enabled);

/* The arithmetic of float32 matrix products. */
typedef enum onyx_precision {
    ONYX_PRECISION_FP32 = 0, /* the default: float32 throughout */
    ONYX_PRECISION_BF16 = 1, /* float32 MatMul, Gemm and fused MatMul with a constant right
                                operand (weights) on bfloat16 operands, float32 sums */
} onyx_precision;

/* ONYX_PRECISION_BF16: a model loaded with these options rounds the float32 weights of its
 * MatMul, Gemm and fused MatMul nodes (a constant right operand of 2 dims) to bfloat16 once,
 * at load, and each run rounds the left operand (activations) to bfloat16 as it is packed;
 * the products are summed in float32 by AVX512-BF16's dot-product instruction, at about twice
 * the float32 GEMM's speed, and bias, activation and residual stay float32. Everything else
 * (other operators, products of two activations such as attention's, convolutions, float64,
 * float16) runs as with ONYX_PRECISION_FP32, and inputs and outputs stay float32.
 * Accuracy: bfloat16 keeps 8 significant bits (relative rounding up to 2^-9 = 0.2% per
 * operand), so each product's result is off by roughly 2^-9 sqrt(k) times the size of its
 * terms: on transformer blocks the worst output error is about 1e-3 to 1e-2 of the output's
 * largest value (bench/bf16.py measures it), far beyond float32's rounding; check a model's
 * accuracy before relying on it.
 * Fallback: on a processor without AVX512-BF16 (or with the environment variable ONYX_NO_BF16
 * set) the model runs in float32, as with ONYX_PRECISION_FP32, and the load says so once in the
 * log (a warning).
 * The precision is the model's, fixed at load: sessions created with other options keep it.
 * ONYX_ERROR_INVALID_ARGUMENT for a NULL options or an unknown precision. */
ONYX_API onyx_status onyx_options_set_precision(onyx_options *options, onyx_precision precision);

/* Sets one limit. ONYX_ERROR_INVALID_ARGUMENT for a NULL options, an unknown limit, a value
 * <= 0, or one above the limit's maximum. */
ONYX_API onyx_status onyx_options_set_limit(onyx_options *options, onyx_limit limit, int64_t value);

/* Directory against which external tensor data is resolved when a model is loaded from a
 * buffer (a model loaded from a file uses its own directory). The string is copied. NULL
 * (the default) refuses external data for buffers. ONYX_ERROR_INVALID_ARGUMENT when options
 * is NULL, ONYX_ERROR_OUT_OF_MEMORY when the copy fails (the old value is kept). */
ONYX_API onyx_status onyx_options_set_external_data_dir(onyx_options *options, const char *dir);

/* ---- memory: a custom allocator ---------------------------------------------------------- */

/* Returns `size` bytes (never 0) aligned to `alignment` (a power of two; onyx asks for 64),
 * or NULL when it cannot. The content need not be zeroed. Memory that is not aligned as asked
 * counts as a failed allocation. */
typedef void *(*onyx_alloc_fn)(void *user, size_t size, size_t alignment);
/* Releases a block returned by the matching onyx_alloc_fn; `size` is the size that was
 * asked for. Never called with NULL. */
typedef void (*onyx_free_fn)(void *user, void *ptr, size_t size);

/* Routes the memory of every model and session created with these options through
 * alloc/free, with `user` passed back to them: the parser's, the graph's, the weights onyx
 * copies, plans, arenas, the thread pool's bookkeeping, and the model and session objects
 * themselves. Each block is freed through the same pair that allocated it, at the latest by
 * onyx_model_free or onyx_session_free; a model's and its sessions' allocations may go to
 * different pairs when the session is created with other options.
 *
 * Not included: the options object itself, the tensor-file functions below (malloc), thread
 * stacks (the C library), and what the BLAS library allocates for itself.
 *
 * The functions are called only from threads that are inside an onyx call on an object
 * created with these options (never from onyx's worker threads), so they need to be
 * thread-safe only when such objects are used from several threads at once. `user` must stay
 * valid while any such object lives. Both NULL restores the C library (aligned_alloc/free);
 * exactly one NULL is ONYX_ERROR_INVALID_ARGUMENT, as is a NULL options. */
ONYX_API onyx_status onyx_options_set_allocator(onyx_options *options, onyx_alloc_fn alloc,
                                                onyx_free_fn free, void *user);

/* ---- logging ----------------------------------------------------------------------------- */

typedef enum onyx_log_level {
    ONYX_LOG_ERROR = 1,   /* a call failed; the text is its error message */
    ONYX_LOG_WARNING = 2, /* a request met only in part (weights copied from a borrowed buffer) */
    ONYX_LOG_INFO = 3,    /* one line per model loaded, session created and plan built */
    ONYX_LOG_DEBUG = 4,   /* details: each weight or output copied, and why */
} onyx_log_level;

/* Receives one message: a single line without a trailing newline, valid only during the
 * call. Called on the thread that made the onyx call, never from onyx's worker threads; it
 * must not call onyx functions on the object being loaded, created or run. */
typedef void (*onyx_log_fn)(void *user, onyx_log_level level, const char *message);

/* Passes onyx's messages of level `max_level` and more severe (ONYX_LOG_WARNING passes
 * errors and warnings) to `callback`, with `user` passed back. Models and sessions created
 * with these options keep the callback, so `user` must stay valid while they live; as with
 * the allocator, the callback must be thread-safe when they are used from several threads at
 * once. callback = NULL (the default) turns logging off. ONYX_ERROR_INVALID_ARGUMENT when
 * options is NULL or max_level is not one of the levels. */
ONYX_API onyx_status onyx_options_set_log(onyx_options *options, onyx_log_fn callback, void *user,
                                          onyx_log_level max_level);

/* ---------------------------------------------------------------------------------------- */
/* Models                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* A loaded, validated ONNX model. Immutable: every function taking a const onyx_model * may
 * be called from any number of threads at once. onyx_model_free must not run concurrently
 * with any other use, and only after every session of the model has been freed. */
typedef struct onyx_model onyx_model;

/* Loads and validates the model at `path`: parses the protobuf, imports the graph, checks
 * every node against onyx's operators (all unsupported nodes are reported at once), infers
 * types and shapes, and folds constants. `options` may be NULL for defaults; the model keeps
 * a copy of them as the default for its sessions. External tensor data is read from files
 * inside the model's directory only.
 *
 * On success *model is a usable model. On failure *model is still set (except on
 * ONYX_ERROR_INVALID_ARGUMENT for a NULL model pointer, and ONYX_ERROR_OUT_OF_MEMORY when the
 * model object itself cannot be allocated, where it is NULL): it holds the error message,
 * readable with onyx_model_errmsg, and must be released with onyx_model_free; the inspection
 * functions below work on it after ONYX_ERROR_UNSUPPORTED, and nothing else does. */
ONYX_API onyx_status onyx_model_load_file(const char *path, const onyx_options *options,
                                          onyx_model **model);

/* Same as onyx_model_load_file, from `size` bytes at `data` (an .onnx file's content). The
 * bytes are only read during the call: the caller may free them as soon as it returns. */
ONYX_API onyx_status onyx_model_load_buffer(const void *data, size_t size,
                                            const onyx_options *options, onyx_model **model);

/* Same as onyx_model_load_buffer, but the model borrows the bytes instead of copying its
 * weights: each initializer of the main graph stored as raw_data whose address in `data` is
 * aligned for its element type (4 bytes for float) is used where it lies. Others are copied
 * (misaligned ones, bool, typed fields, external data, constants of subgraphs and Constant
 * nodes); the log says which, and onyx_model_memory_bytes shows what the model holds.
 * Exporters do not align raw_data: tools/align-weights.py rewrites a model so that all of it
 * is aligned to 64 bytes from the start of the file.
 * Loading needs no copy of the weights either: the parser sees the model without them.
 *
 * Contract: on success, the caller keeps the `size` bytes at `data` alive and unchanged until
 * onyx_model_free returns; onyx never writes to them, so a read-only mapping of a file
 * (mmap with PROT_READ) will do. After a failed load they are no longer needed. */
ONYX_API onyx_status onyx_model_load_buffer_borrowed(const void *data, size_t size,
                                                     const onyx_options *options,
                                                     onyx_model **model);

/* The message of the last failure on `model`, or "" when there was none. Owned by the
 * model. Never NULL; for a NULL model, a text saying so. */
ONYX_API const char *onyx_model_errmsg(const onyx_model *model);

/* Frees the model and everything it allocated (through the allocator it was loaded with).
 * Every session of the model must have been freed before. Borrowed bytes are not touched. */
ONYX_API void onyx_model_free(onyx_model *model);

/* Bytes onyx holds for the model now, as counted against ONYX_LIMIT_MEMORY_BYTES: the graph,
 * the weights it copied, folded constants, bookkeeping. Borrowed bytes are not counted.
 * 0 for NULL. */
ONYX_API size_t onyx_model_memory_bytes(const onyx_model *model);

/* Description of a model input or output. Pointers inside stay valid while the model lives. */
typedef struct onyx_value_info {
    const char *name;
    onyx_dtype dtype;
    int rank; /* -1 when unknown */
    /* Each dim: its size, or -1 when it is symbolic or unknown. */
    int64_t dims[ONYX_MAX_RANK];
    /* Each dim's symbolic name ("batch", "seq"), or NULL when it has a fixed size or none. */
    const char *dim_names[ONYX_MAX_RANK];
} onyx_value_info;

/* Number of graph inputs the caller binds (initializers are not inputs) and of outputs; 0
 * for NULL or a model that failed to load (other than ONYX_ERROR_UNSUPPORTED). */
ONYX_API size_t onyx_model_input_count(const onyx_model *model);
ONYX_API size_t onyx_model_output_count(const onyx_model *model);
/* Fills *info for input (or output) `index`, in the model's order. An output's shape is the
 * one inference found, completed with the model's declaration. ONYX_ERROR_INVALID_ARGUMENT
 * for a NULL model or info or an index out of range; ONYX_ERROR_INVALID_STATE for a model
 * that failed to load (other than ONYX_ERROR_UNSUPPORTED). */
ONYX_API onyx_status onyx_model_input_info(const onyx_model *model, size_t index,
                                           onyx_value_info *info);
ONYX_API onyx_status onyx_model_output_info(const onyx_model *model, size_t index,
                                            onyx_value_info *info);
/* Index of the input (or output) named `name`, or -1 when there is none (or for NULL). */
ONYX_API int onyx_model_input_index(const onyx_model *model, const char *name);
ONYX_API int onyx_model_output_index(const onyx_model *model, const char *name);

/* ---- inspection -------------------------------------------------------------------------- */
/* The functions below also work on a model whose load failed with ONYX_ERROR_UNSUPPORTED
 * (the graph was read but some node has no implementation), so that a tool can show what
 * the model contains and which nodes onyx lacks. On other failed models they report
 * nothing: 0, "", or ONYX_ERROR_INVALID_STATE. The input/output functions above too. */

/* The producer recorded in the model ("pytorch"), its version ("1.13.1"), and the IR
 * version. Strings are "" when absent; owned by the model. */
ONYX_API const char *onyx_model_producer_name(const onyx_model *model);
ONYX_API const char *onyx_model_producer_version(const onyx_model *model);
ONYX_API int64_t onyx_model_ir_version(const onyx_model *model);

/* Operator sets the model imports: domain ("" for the default ONNX domain, owned by the
 * model) and version. ONYX_ERROR_INVALID_ARGUMENT for NULL arguments or an index out of
 * range. */
ONYX_API size_t onyx_model_opset_count(const onyx_model *model);
ONYX_API onyx_status onyx_model_opset(const onyx_model *model, size_t index, const char **domain,
                                      int64_t *version);

/* The nodes of the main graph, as written in the model (before onyx folds any). Strings are
 * owned by the model. */
typedef struct onyx_node_info {
    const char *name;    /* the node's name, or a generated "<op_type>_<index>" */
    const char *op_type; /* "MatMul" */
    const char *domain;  /* "" for the default ONNX domain */
    int opset;           /* the version of its domain the model imports */
    int supported;       /* 1 when onyx has an implementation for it */
} onyx_node_info;

/* The number of nodes, and node `index` of them, in the order onyx runs them (the model's own
 * order when that is already topological).
 * ONYX_ERROR_INVALID_ARGUMENT for NULL arguments or an index out of range. */
ONYX_API size_t onyx_model_node_count(const onyx_model *model);
ONYX_API onyx_status onyx_model_node_info(const onyx_model *model, size_t index, onyx_node_info *info);

/* ---- the operators onyx implements ------------------------------------------------------- */

/* The newest version of the default ONNX domain ("" or "ai.onnx") onyx knows: ONNX 1.23's. A
 * model importing a newer one is refused at load. */
#define ONYX_MAX_OPSET 28

typedef struct onyx_operator_info {
    const char *domain;  /* "" for the default ONNX domain */
    const char *op_type;
    int since_version;   /* the ONNX schema version implemented (its since-version) */
    int until_version;   /* the last opset at which that schema is in effect, up to the newest
                            opset onyx knows (ONYX_MAX_OPSET for the default domain) */
    uint32_t dtypes;     /* bit d set when input 0 may have dtype d (0: no inputs) */
    const char *source;  /* the file under ops/ that implements it ("unary.c") */
} onyx_operator_info;

/* The registry of operator implementations, one entry per ONNX schema version implemented
 * (a node at opset N runs the schema with the newest since-version <= N). Static data
 * (strings included); thread-safe. ONYX_ERROR_INVALID_ARGUMENT for a NULL info or an index
 * out of range. */
ONYX_API size_t onyx_operator_count(void);
ONYX_API onyx_status onyx_operator_info_at(size_t index, onyx_operator_info *info);
/* The float32 matrix-multiply kernel chosen for this processor, once per process: "avx512 8x48",
 * "avx2 6x16" or "portable 4x8" (instruction set, register tile). Static string. */
ONYX_API const char *onyx_gemm_kernel_name(void);

/* ---------------------------------------------------------------------------------------- */
/* Sessions                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* The state needed to run a model: bound inputs and output buffers, the execution plan, its
 * memory arena, worker threads. Use from one thread at a time (no locking inside); create
 * one session per thread to run a model concurrently: sessions of one model share its
 * weights and nothing else. */
typedef struct onyx_session onyx_session;

/* Creates a session for `model`, which must stay alive until the session is freed.
 * `options` may be NULL: the session then uses the options the model was loaded with
 * (threads, limits, allocator, log); otherwise it uses those of `options`. With more than
 * one thread, the session starts its worker threads here; they sleep between runs.
 *
 * On failure *session is set as for models (it holds the message and must be freed), or
 * NULL on ONYX_ERROR_INVALID_ARGUMENT for a NULL session pointer and ONYX_ERROR_OUT_OF_MEMORY
 * when the session object cannot be allocated. ONYX_ERROR_INVALID_STATE when the model
 * failed to load. */
ONYX_API onyx_status onyx_session_create(const onyx_model *model, const onyx_options *options,
                                         onyx_session **session);
/* The message of the last failure on `session`, or "" after a successful run. Owned by the
 * session, overwritten by its next call. Never NULL; for a NULL session, a text saying so. */
ONYX_API const char *onyx_session_errmsg(const onyx_session *session);
/* Stops the session's threads and frees everything it allocated. Input tensors and output
 * buffers of the caller are not touched. */
ONYX_API void onyx_session_free(onyx_session *session);
/* Bytes onyx holds for the session now (plan, arena, scratch, threads' bookkeeping), as
 * counted against ONYX_LIMIT_MEMORY_BYTES. 0 for NULL. */
ONYX_API size_t onyx_session_memory_bytes(const onyx_session *session);

/* Binds input `index` (the model's order; see onyx_model_input_index) to `tensor`.
 * Zero-copy: onyx reads tensor->data during each following onyx_session_run and never writes
 * to it; the caller keeps it alive and unchanged until the last run that uses it, or binds
 * another tensor. The description (*tensor) itself is copied.
 *
 * Checks dtype, rank and the dims' limits now, and every dim against the model's declaration
 * (fixed sizes, and symbolic names shared between inputs) when running:
 * ONYX_ERROR_INVALID_INPUT names the input and both shapes. ONYX_ERROR_INVALID_ARGUMENT for a
 * NULL tensor, NULL data with elements, or an index out of range; ONYX_ERROR_INVALID_STATE
 * when the session's creation failed. On failure the previous binding is kept. */
ONYX_API onyx_status onyx_session_set_input(onyx_session *session, size_t index,
                                            const onyx_tensor *tensor);

/* Asks that output `index` be written to the caller's `buffer` of `capacity` bytes on each
 * following run, until another call changes it; buffer = NULL returns to session-owned
 * output memory. The buffer must stay valid for those runs, be aligned for the output's
 * dtype, and not overlap another output's buffer.
 *
 * When the output is computed by a step of a static plan (the usual case), the kernel writes
 * it straight into the buffer, so nothing is copied; otherwise (an output that is a constant
 * or an input, a buffer that overlaps an input tensor, or a model run node by node) it is
 * copied there at the end of the run. A run whose output does not fit fails with
 * ONYX_ERROR_INVALID_ARGUMENT before writing anything to the buffer; after a run that
 * fails otherwise, the buffer's content is unspecified. ONYX_ERROR_INVALID_ARGUMENT here for
 * an index out of range; ONYX_ERROR_INVALID_STATE when the session's creation failed. */
ONYX_API onyx_status onyx_session_set_output_buffer(onyx_session *session, size_t index,
                                                    void *buffer, size_t capacity);

/* ---- decoding with a cache: an output carried over to an input --------------------------
 *
 * A decoder exported with its cache (as Hugging Face optimum exports them: inputs
 * past_key_values.N.key / .value [batch, kv_heads, past, head_dim], outputs present.N.key /
 * .value [batch, kv_heads, past + seq, head_dim]) runs once per token, each run's present
 * becoming the next run's past. Either way below copies nothing through the host:
 *
 *  - let the session keep the cache: onyx_session_carry(session, present, past, reserve)
 *    for each pair, bind each past once (an empty one, dims [1, kv_heads, 0, head_dim] and
 *    data NULL, for a prompt), then per token bind only input_ids, attention_mask and
 *    position_ids and run;
 *  - or hold it yourself: two buffers per pair, each of the size of the longest present;
 *    before each run, onyx_session_set_output_buffer(present, one) and
 *    onyx_session_set_input(past, the other, with the previous present's dims); swap after
 *    the run. The kernel that computes the present writes straight into the buffer.
 *
 * Each token's run has new input shapes (past grows by one). Planning for shapes that differ
 * from the last plan's only in the sizes of dims reuses the plan's structure and keeps its
 * memory when it is large enough (grown with headroom when not), so that the step costs
 * little more than its kernels. examples/generate.c decodes greedily both ways. */

/* From the next run on, after each successful run, input `input` is bound to what output
 * `output` computed (its dtype, shape and data), as onyx_session_set_input would bind it:
 * the output is written into one of two buffers the session keeps for the pair while the
 * input reads the other, so nothing is copied, and nothing is allocated once the buffers have
 * reached the largest output. `reserve` bytes (0: none) are allocated for each buffer at the
 * first run that needs one, so that a host that knows the longest output (a cache of the
 * maximum length) avoids growing them; otherwise a buffer grows to twice what it held, or the
 * output's size when larger. The buffers count against ONYX_LIMIT_MEMORY_BYTES.
 *
 * The input must be bound for the first run (onyx_session_set_input); binding it again later
 * replaces the carried value (a new sequence starts from that tensor). The output's value
 * from onyx_session_get_output lies in the session's buffer, valid until the next run.
 * onyx_session_set_output_buffer is refused (ONYX_ERROR_INVALID_STATE) for a carried output.
 * input = SIZE_MAX ends the output's pairing and frees its buffers: an input that read one
 * must then be bound again before the next run (as must the old input when an output is
 * paired anew with another).
 *
 * ONYX_ERROR_INVALID_ARGUMENT for an index out of range, an input already carried from
 * another output, an output and input of different dtypes or ranks, or values that are not
 * tensors of numbers (strings, sequences, optionals); ONYX_ERROR_INVALID_STATE when the
 * session's creation failed. A run that cannot allocate a buffer fails with ONYX_ERROR_LIMIT
 * before running anything, the carried input still bound to what it was. */
ONYX_API onyx_status onyx_session_carry(onyx_session *session, size_t output, size_t input, size_t reserve);

/* Runs the model on the bound inputs. The first run with new input shapes plans the
 * execution (shapes, kernels, one memory arena); later runs with the same shapes reuse the
 * plan and allocate nothing. A run with other shapes plans again from the last plan: only
 * the nodes whose input shapes (or computed constant inputs) changed are planned anew, and
 * the arena stays when it is large enough (it grows by half again when not, and is not
 * given back until the session is freed); the log gives the planning time. Models whose
 * shapes depend on data (a Reshape to a computed shape) run node by node instead,
 * allocating as they go; the log says so.
 *
 * ONYX_ERROR_INVALID_STATE when an input is not bound; ONYX_ERROR_INVALID_INPUT when the
 * inputs' dims disagree with the model; ONYX_ERROR_LIMIT / ONYX_ERROR_OUT_OF_MEMORY when
 * planning needs more memory than allowed or available; ONYX_ERROR_RUNTIME when an operator
 * rejects the data (the message names the node). After a failure no output is available
 * until the next successful run; the session stays usable. */
ONYX_API onyx_status onyx_session_run(onyx_session *session);

/* Describes output `index` of the last successful run. tensor->data points into the session,
 * the caller's output buffer, one of the caller's inputs or the model's constants: read-only,
 * valid until the next run or onyx_session_free. ONYX_ERROR_INVALID_ARGUMENT for NULL arguments or an index out of
 * range; ONYX_ERROR_INVALID_STATE before a successful run. */
ONYX_API onyx_status onyx_session_get_output(const onyx_session *session, size_t index,
                                             onyx_tensor *tensor);

/* Profiling: with profiling on, each run adds the time spent in each node (or fused node)
 * to the session's profile; turning it on clears the profile. Nodes computed once while
 * planning (shape arithmetic) or folded at load do not appear. */
typedef struct onyx_profile_entry {
    const char *node_name; /* owned by the model */
    const char *op_type;   /* the operator that ran ("onyx.Gelu" for fused ones) */
    int64_t runs;
    double total_ms;
} onyx_profile_entry;

ONYX_API onyx_status onyx_session_set_profiling(onyx_session *session, int enabled);
/* Entries with at least one run, in graph order. */
ONYX_API size_t onyx_session_profile_count(const onyx_session *session);
ONYX_API onyx_status onyx_session_profile_entry(const onyx_session *session, size_t index,
                                                onyx_profile_entry *entry);

/* ---------------------------------------------------------------------------------------- */
/* Tensor files                                                                             */
/* ---------------------------------------------------------------------------------------- */
/* Helpers to read test data and write results; independent of models, sessions and options
 * (they allocate with malloc). Thread-safe. */

/* Reads a tensor from a NumPy .npy file (little-endian, C order) or an ONNX TensorProto .pb
 * file (chosen by content), of at most 4 GiB. On success *tensor holds data allocated by
 * onyx, released with onyx_tensor_free_data; *name (if name is not NULL) receives the
 * tensor's name from a .pb file or NULL, to be released with onyx_tensor_free_data too. On
 * failure nothing needs freeing, and `errmsg` (if not NULL) receives a message of at most
 * `errmsg_size` bytes. */
ONYX_API onyx_status onyx_tensor_read_file(const char *path, onyx_tensor *tensor, char **name,
                                           char *errmsg, size_t errmsg_size);
/* Same, from `size` bytes at `data` (only read during the call). */
ONYX_API onyx_status onyx_tensor_read_buffer(const void *data, size_t size, onyx_tensor *tensor,
                                             char **name, char *errmsg, size_t errmsg_size);
/* Writes `tensor` as a .npy file. The file appears whole or not at all: it is written under a
 * temporary name in the same directory and renamed. Errors as for onyx_tensor_read_file. */
ONYX_API onyx_status onyx_tensor_write_npy(const char *path, const onyx_tensor *tensor,
                                           char *errmsg, size_t errmsg_size);
/* Frees data or a name returned by onyx_tensor_read_file / _buffer. NULL is a no-op. */
ONYX_API void onyx_tensor_free_data(void *data);

/* ---------------------------------------------------------------------------------------- */
/* Sequences and optionals                                                                  */
/* ---------------------------------------------------------------------------------------- */
/* ONNX values that are not dense tensors: a sequence of tensors (all of one element type,
 * each of its own shape) and an optional (a tensor, a sequence, or nothing). They travel in
 * an onyx_tensor like any value, so that model inputs, outputs and their infos keep one
 * shape:
 *   dtype    the element dtype with ONYX_SEQUENCE and/or ONYX_OPTIONAL or-ed in:
 *            ONYX_SEQUENCE_OF(ONYX_DTYPE_FLOAT) is a sequence of float tensors,
 *            ONYX_OPTIONAL_OF(ONYX_SEQUENCE_OF(ONYX_DTYPE_INT64)) an optional sequence of
 *            int64 tensors. onyx_dtype_name and onyx_dtype_size know only element types.
 *   rank     1, and dims[0] the size in bytes of the block at `data` (in an info: rank -1)
 *   data     one self-contained block (no pointers inside: it may be copied with memcpy)
 *            holding the items' types, shapes and data. Read it with onyx_value_length and
 *            onyx_value_item, build it with onyx_value_pack.
 * An optional holds 0 items (none) or 1. A session reads a sequence or optional input block
 * during onyx_session_run only, after checking it whole; an output's block is the session's,
 * valid until the next run (an output buffer receives a copy of the block when it fits). */
#define ONYX_SEQUENCE 0x100
#define ONYX_OPTIONAL 0x200
/* The type of a sequence of `dtype` tensors, of an optional of `type` (a dtype or a sequence
 * type): casts included, so that C++ takes them as onyx_dtype too. */
#define ONYX_SEQUENCE_OF(dtype) ((onyx_dtype)(ONYX_SEQUENCE | (int)(dtype)))
#define ONYX_OPTIONAL_OF(type) ((onyx_dtype)(ONYX_OPTIONAL | (int)(type)))
/* The element dtype of a value type; whether a type is a sequence or an optional. */
#define ONYX_ELEMENT_DTYPE(type) ((onyx_dtype)((int)(type) & 0xff))
#define ONYX_IS_SEQUENCE(type) (((int)(type) & ONYX_SEQUENCE) != 0)
#define ONYX_IS_OPTIONAL(type) (((int)(type) & ONYX_OPTIONAL) != 0)

/* Items of a sequence, or of an optional (0 or 1); -1 when `value` is NULL or a tensor. */
ONYX_API int64_t onyx_value_length(const onyx_tensor *value);
/* Item `index` of a sequence or optional: a tensor, or for an optional of a sequence, that
 * sequence. item->data points into value's block. ONYX_ERROR_INVALID_ARGUMENT for a NULL
 * argument, a tensor or an index out of range. */
ONYX_API onyx_status onyx_value_item(const onyx_tensor *value, int64_t index, onyx_tensor *item);
/* Builds the value of type `type` (a sequence or optional type, as above) from `count`
 * items, copying their data: *value then holds a block allocated by onyx, released with
 * onyx_tensor_free_data. Each item's dtype must be the type's item type (the element dtype
 * for a sequence; the type without ONYX_OPTIONAL for an optional, which takes at most one).
 * ONYX_ERROR_INVALID_ARGUMENT otherwise. */
ONYX_API onyx_status onyx_value_pack(onyx_dtype type, int64_t count, const onyx_tensor *items,
                                     onyx_tensor *value);
/* Reads a value of type `type` from a .pb file: a TensorProto for a tensor type (as
 * onyx_tensor_read_file), a SequenceProto of TensorProtos for a sequence, an OptionalProto
 * for an optional. Released with onyx_tensor_free_data. Errors as onyx_tensor_read_file. */
ONYX_API onyx_status onyx_value_read_file(const char *path, onyx_dtype type, onyx_tensor *value,
                                          char *errmsg, size_t errmsg_size);

/* ---------------------------------------------------------------------------------------- */
/* String tensors                                                                           */
/* ---------------------------------------------------------------------------------------- */
/* A tensor of dtype ONYX_DTYPE_STRING has its shape in rank/dims like any tensor; its
 * elements are byte strings of any length (ONNX strings: usually UTF-8, but onyx requires
 * valid UTF-8 only where an operator reads characters, and says so when it does). Its `data`
 * is one self-contained block, 8-byte aligned, with no pointer inside (so that it may be
 * copied with memcpy anywhere):
 *   int64_t bytes, count;                 the block's size in bytes, the element count
 *   { int64_t offset, length; }[count]    element i: `length` bytes at data + offset
 *   the elements' bytes, each followed by a NUL (not counted in `length`)
 * Build an input with onyx_string_tensor_pack, read elements with onyx_string_at.
 * onyx_session_set_input checks a caller's block whole (header, count equal to the shape's
 * element count, every element and its NUL inside the block, size within the memory limit),
 * so a malformed block is ONYX_ERROR_INVALID_ARGUMENT, never a crash. An output's block
 * belongs to the session like any output (valid until the next run); with an output buffer
 * (onyx_session_set_output_buffer) the whole block must fit it, else the run fails with
 * ONYX_ERROR_INVALID_ARGUMENT naming the size needed. Empty string tensors (a dim of 0) may
 * have data NULL. onyx_tensor_read_file reads string TensorProtos (string_data) into such a
 * block; onyx_tensor_write_npy refuses string tensors. A model whose nodes read or write
 * strings runs node by node (each value allocated as it is computed). Operators that take
 * strings: Equal, StringConcat, StringSplit, StringNormalizer, RegexFullMatch, LabelEncoder,
 * TfIdfVectorizer (`onyx ops`); the others refuse a string input at load. */

/* Element `index` (row-major) of string tensor `tensor`: a pointer into its block, NUL-
 * terminated, with its length in bytes in *length (when not NULL; the string may itself hold
 * NULs). NULL for a tensor that is not a string tensor, has no data, an index out of range or
 * a block whose count does not match the shape. Thread-safe. */
ONYX_API const char *onyx_string_at(const onyx_tensor *tensor, int64_t index, size_t *length);
/* Builds a string tensor of shape dims[0..rank) from strings[i] (lengths[i] bytes each, or
 * NUL-terminated when lengths is NULL; strings[i] may be NULL for an empty string) into
 * *tensor, whose data is then released with onyx_tensor_free_data.
 * ONYX_ERROR_INVALID_ARGUMENT for a bad shape or a NULL string with a length;
 * ONYX_ERROR_OUT_OF_MEMORY when the block cannot be allocated. */
ONYX_API onyx_status onyx_string_tensor_pack(int rank, const int64_t *dims, const char *const *strings,
                                             const size_t *lengths, onyx_tensor *tensor);

#ifdef __cplusplus
}
#endif

#endif /* ONYX_H */
