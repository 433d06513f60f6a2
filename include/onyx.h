/*
 * onyx.h — the public interface of onyx, a small ONNX runtime.
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
 *  - The library never prints, never exits and never aborts on bad input.
 *  - There is no global mutable state. A model is immutable once loaded and may be shared
 *    by any number of threads and sessions. A session is used by one thread at a time.
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

#define ONYX_VERSION_MAJOR 0
#define ONYX_VERSION_MINOR 1
#define ONYX_VERSION_PATCH 0
#define ONYX_VERSION_STRING "0.1.0"
/* One number that grows with each release: major * 10000 + minor * 100 + patch. */
#define ONYX_VERSION_NUMBER (ONYX_VERSION_MAJOR * 10000 + ONYX_VERSION_MINOR * 100 + ONYX_VERSION_PATCH)

/* The version of the library actually linked, in the form of ONYX_VERSION_NUMBER. Compare it
 * with ONYX_VERSION_NUMBER to detect a header / library mismatch. */
ONYX_API int onyx_version_number(void);
/* The same as a static string such as "0.1.0". */
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

/* A fixed English text for a status code, such as "invalid model". Never NULL. */
ONYX_API const char *onyx_status_str(onyx_status status);

/* ---------------------------------------------------------------------------------------- */
/* Tensors                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Element types. The values are those of ONNX's TensorProto.DataType. */
typedef enum onyx_dtype {
    ONYX_DTYPE_UNDEFINED = 0,
    ONYX_DTYPE_FLOAT = 1,
    ONYX_DTYPE_UINT8 = 2,
    ONYX_DTYPE_INT8 = 3,
    ONYX_DTYPE_UINT16 = 4,
    ONYX_DTYPE_INT16 = 5,
    ONYX_DTYPE_INT32 = 6,
    ONYX_DTYPE_INT64 = 7,
    ONYX_DTYPE_STRING = 8,
    ONYX_DTYPE_BOOL = 9, /* one byte per element, 0 or 1 */
    ONYX_DTYPE_FLOAT16 = 10,
    ONYX_DTYPE_DOUBLE = 11,
    ONYX_DTYPE_UINT32 = 12,
    ONYX_DTYPE_UINT64 = 13,
    ONYX_DTYPE_COMPLEX64 = 14,
    ONYX_DTYPE_COMPLEX128 = 15,
    ONYX_DTYPE_BFLOAT16 = 16,
} onyx_dtype;

/* The ONNX name of a dtype ("float", "int64", ...); "undefined" for unknown codes. */
ONYX_API const char *onyx_dtype_name(onyx_dtype dtype);
/* Bytes per element, 0 for types without a fixed size (strings) or unknown codes. */
ONYX_API size_t onyx_dtype_size(onyx_dtype dtype);

/* A dense, row-major tensor. A plain description: onyx never frees `data` it did not
 * allocate. A tensor of rank 0 is a scalar and has one element. */
typedef struct onyx_tensor {
    onyx_dtype dtype;
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    void *data;
} onyx_tensor;

/* Number of elements of `tensor` (the product of its dims, 1 for a scalar). Returns -1 when
 * a dim is negative or the product overflows. */
ONYX_API int64_t onyx_tensor_element_count(const onyx_tensor *tensor);

/* ---------------------------------------------------------------------------------------- */
/* Options                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Options for loading models and creating sessions. Created with defaults; copied by the
 * functions that take them, so one options object may be freed right after use, or reused. */
typedef struct onyx_options onyx_options;

/* Limits checked before onyx allocates, so that a hostile model fails cleanly. */
typedef enum onyx_limit {
    ONYX_LIMIT_MODEL_BYTES = 0,     /* size of the .onnx file or buffer; default 2 GiB */
    ONYX_LIMIT_TENSOR_ELEMENTS = 1, /* elements in any one tensor; default 2^31 - 1 */
    ONYX_LIMIT_MEMORY_BYTES = 2,    /* bytes onyx may hold at once for one model or session,
                                       weights and buffers included; default 8 GiB */
    ONYX_LIMIT_GRAPH_NODES = 3,     /* nodes in a graph; default 1,000,000 */
    ONYX_LIMIT_GRAPH_DEPTH = 4,     /* nesting of subgraphs; default 16 */
} onyx_limit;

/* Creates an options object with defaults: threads = 1, default limits.
 * Returns ONYX_ERROR_OUT_OF_MEMORY (and *options = NULL) when allocation fails. */
ONYX_API onyx_status onyx_options_create(onyx_options **options);
ONYX_API void onyx_options_free(onyx_options *options);
/* Threads a session uses to run (the caller's thread counts as one). 1 by default; 0 means
 * one per available processor. ONYX_ERROR_INVALID_ARGUMENT when negative or above 256. */
ONYX_API onyx_status onyx_options_set_threads(onyx_options *options, int threads);
/* 1 (the default): at load, fuse patterns of nodes into faster operators (GELU, LayerNorm
 * written out, attention, MatMul with bias and activation); results stay within rounding of
 * the unfused graph. 0: run the graph as written. ONYX_ERROR_INVALID_ARGUMENT otherwise. */
ONYX_API onyx_status onyx_options_set_optimization(onyx_options *options, int enabled);
/* Sets one limit. ONYX_ERROR_INVALID_ARGUMENT for an unknown limit or a value <= 0. */
ONYX_API onyx_status onyx_options_set_limit(onyx_options *options, onyx_limit limit, int64_t value);
/* Directory against which external tensor data is resolved when a model is loaded from a
 * buffer (a model loaded from a file uses its own directory). The string is copied. NULL
 * (the default) refuses external data for buffers. */
ONYX_API onyx_status onyx_options_set_external_data_dir(onyx_options *options, const char *dir);

/* ---------------------------------------------------------------------------------------- */
/* Models                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* A loaded, validated ONNX model. Immutable: safe to share between threads and sessions. */
typedef struct onyx_model onyx_model;

/* Loads and validates the model at `path`: parses the protobuf, imports the graph, checks
 * every node against onyx's operators (all unsupported nodes are reported at once), infers
 * types and shapes, and folds constants. `options` may be NULL for defaults.
 *
 * On success *model is a usable model. On failure *model is still set (except on
 * ONYX_ERROR_OUT_OF_MEMORY, where it may be NULL): it holds the error message, readable with
 * onyx_model_errmsg, and must be released with onyx_model_free; no other use is allowed. */
ONYX_API onyx_status onyx_model_load_file(const char *path, const onyx_options *options,
                                          onyx_model **model);
/* Same as onyx_model_load_file, from `size` bytes at `data`. The bytes are not retained:
 * the caller may free them as soon as the call returns. */
ONYX_API onyx_status onyx_model_load_buffer(const void *data, size_t size,
                                            const onyx_options *options, onyx_model **model);
/* The message of the last failure on `model`, or "" when there was none. Owned by the
 * model. Never NULL; for a NULL model, a text saying so. */
ONYX_API const char *onyx_model_errmsg(const onyx_model *model);
ONYX_API void onyx_model_free(onyx_model *model);

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

ONYX_API size_t onyx_model_input_count(const onyx_model *model);
ONYX_API size_t onyx_model_output_count(const onyx_model *model);
/* Fills *info for input (or output) `index`. ONYX_ERROR_INVALID_ARGUMENT when out of range. */
ONYX_API onyx_status onyx_model_input_info(const onyx_model *model, size_t index,
                                           onyx_value_info *info);
ONYX_API onyx_status onyx_model_output_info(const onyx_model *model, size_t index,
                                            onyx_value_info *info);
/* Index of the input (or output) named `name`, or -1 when there is none. */
ONYX_API int onyx_model_input_index(const onyx_model *model, const char *name);
ONYX_API int onyx_model_output_index(const onyx_model *model, const char *name);

/* ---- inspection -------------------------------------------------------------------------- */
/* The functions below also work on a model whose load failed with ONYX_ERROR_UNSUPPORTED
 * (the graph was read but some node has no implementation), so that a tool can show what
 * the model contains and which nodes onyx lacks. On other failed models they report
 * nothing (0, NULL or ONYX_ERROR_INVALID_STATE). The input/output functions above too. */

/* The producer recorded in the model ("pytorch"), its version ("1.13.1"), and the IR
 * version. Strings are "" when absent; owned by the model. */
ONYX_API const char *onyx_model_producer_name(const onyx_model *model);
ONYX_API const char *onyx_model_producer_version(const onyx_model *model);
ONYX_API int64_t onyx_model_ir_version(const onyx_model *model);

/* Operator sets the model imports: domain ("" for the default ONNX domain) and version. */
ONYX_API size_t onyx_model_opset_count(const onyx_model *model);
ONYX_API onyx_status onyx_model_opset(const onyx_model *model, size_t index, const char **domain,
                                      int64_t *version);

/* The nodes of the main graph, as written in the model (before onyx folds any). */
typedef struct onyx_node_info {
    const char *name;    /* the node's name, or a generated "<op_type>_<index>" */
    const char *op_type; /* "MatMul" */
    const char *domain;  /* "" for the default ONNX domain */
    int opset;           /* the version of its domain the model imports */
    int supported;       /* 1 when onyx has an implementation for it */
} onyx_node_info;

ONYX_API size_t onyx_model_node_count(const onyx_model *model);
ONYX_API onyx_status onyx_model_node_info(const onyx_model *model, size_t index, onyx_node_info *info);

/* ---- the operators onyx implements --------------------------------------------------------- */

typedef struct onyx_operator_info {
    const char *domain;  /* "" for the default ONNX domain */
    const char *op_type;
    int since_version;   /* first opset version covered */
    int until_version;   /* last opset version covered */
    uint32_t dtypes;     /* bit d set when input 0 may have dtype d (0: no inputs) */
} onyx_operator_info;

/* The registry of operator implementations, one entry per version range. Static data. */
ONYX_API size_t onyx_operator_count(void);
ONYX_API onyx_status onyx_operator_info_at(size_t index, onyx_operator_info *info);
/* The float32 matrix-multiply kernel chosen for this processor, once per process: "avx512 8x48",
 * "avx2 6x16" or "portable 4x8" (instruction set, register tile). Static string. */
ONYX_API const char *onyx_gemm_kernel_name(void);

/* ---------------------------------------------------------------------------------------- */
/* Sessions                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* The state needed to run a model: execution plan, buffers, threads. Use from one thread at
 * a time; create one per thread to run a model concurrently. */
typedef struct onyx_session onyx_session;

/* Creates a session for `model`, which must outlive it. `options` may be NULL (defaults,
 * or the options the model was loaded with). On failure *session is set as for models
 * (holds the message, must be freed), or NULL on ONYX_ERROR_OUT_OF_MEMORY. */
ONYX_API onyx_status onyx_session_create(const onyx_model *model, const onyx_options *options,
                                         onyx_session **session);
ONYX_API const char *onyx_session_errmsg(const onyx_session *session);
ONYX_API void onyx_session_free(onyx_session *session);

/* Binds input `index` to `tensor`. Zero-copy: onyx reads tensor->data during
 * onyx_session_run and never writes to it; the caller keeps it alive and unchanged until then.
 * The description (*tensor) itself is copied. Checks dtype and rank at once and every dim
 * against the model's declaration (fixed sizes, and symbolic names shared between inputs)
 * when running: ONYX_ERROR_INVALID_INPUT names the input and both shapes. */
ONYX_API onyx_status onyx_session_set_input(onyx_session *session, size_t index,
                                            const onyx_tensor *tensor);
/* Asks that output `index` be written to the caller's `buffer` of `capacity` bytes on each
 * following run. A run whose output does not fit fails with ONYX_ERROR_INVALID_ARGUMENT and
 * leaves the buffer untouched. buffer = NULL returns to session-owned outputs. */
ONYX_API onyx_status onyx_session_set_output_buffer(onyx_session *session, size_t index,
                                                    void *buffer, size_t capacity);
/* Runs the model on the bound inputs. The first run with new input shapes plans the
 * execution (shapes, kernels, one memory arena); later runs with the same shapes reuse it. */
ONYX_API onyx_status onyx_session_run(onyx_session *session);
/* Describes output `index` of the last successful run. data points into the session (or the
 * caller's buffer) and stays valid until the next run or onyx_session_free. */
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

/* Reads a tensor from a NumPy .npy file (little-endian, C order) or an ONNX TensorProto .pb
 * file (chosen by content). On success *tensor holds data allocated by onyx, released with
 * onyx_tensor_free_data; *name (if name is not NULL) receives the tensor's name from a .pb
 * file or NULL, to be released with onyx_tensor_free_data too. On failure, `errmsg` (if not
 * NULL) receives a message of at most `errmsg_size` bytes. */
ONYX_API onyx_status onyx_tensor_read_file(const char *path, onyx_tensor *tensor, char **name,
                                           char *errmsg, size_t errmsg_size);
/* Same, from a buffer. */
ONYX_API onyx_status onyx_tensor_read_buffer(const void *data, size_t size, onyx_tensor *tensor,
                                             char **name, char *errmsg, size_t errmsg_size);
/* Writes `tensor` as a .npy file. The file appears whole or not at all: it is written under a
 * temporary name in the same directory and renamed. */
ONYX_API onyx_status onyx_tensor_write_npy(const char *path, const onyx_tensor *tensor,
                                           char *errmsg, size_t errmsg_size);
/* Frees memory returned by onyx_tensor_read_file / _buffer. NULL is a no-op. */
ONYX_API void onyx_tensor_free_data(void *data);

#ifdef __cplusplus
}
#endif

#endif /* ONYX_H */
