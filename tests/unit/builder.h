/* Builds ONNX models in C for tests, with the protobuf-c code onyx itself is built from:
 * well-formed models for operator tests, and malformed ones for the loader's error paths.
 * Everything a builder allocates is freed with it. */
#ifndef ONYX_TEST_BUILDER_H
#define ONYX_TEST_BUILDER_H

#include "onnx.pb-c.h"
#include "onyx.h"

#include <stddef.h>
#include <stdint.h>

typedef struct builder builder;

/* A model importing the default domain at `opset`. */
builder *builder_new(int opset);
void builder_free(builder *b);
/* The protobuf, to change fields the helpers below do not cover. */
Onnx__ModelProto *builder_model(builder *b);
/* Imports `domain` at `version` besides the default domain. */
void builder_import(builder *b, const char *domain, int version);
Onnx__GraphProto *builder_graph(builder *b);

/* Graph inputs and outputs. dims: -1 makes a symbolic dim named by `dim_names` (or "N");
 * rank -1 leaves the shape undeclared. */
void builder_input(builder *b, const char *name, onyx_dtype dtype, int rank, const int64_t *dims,
                   const char *const *dim_names);
void builder_output(builder *b, const char *name, onyx_dtype dtype);
/* An initializer from `data` (raw_data, copied) of count(dims) elements. */
Onnx__TensorProto *builder_initializer(builder *b, const char *name, onyx_dtype dtype, int rank,
                                       const int64_t *dims, const void *data);
/* A node; inputs and outputs are comma-separated names ("" entries for absent optionals:
 * "X,,B"). */
Onnx__NodeProto *builder_node(builder *b, const char *op_type, const char *inputs, const char *outputs);
/* A model of one node `op_type`: its inputs are the comma-separated names `inputs` ("" entries
 * for absent optionals), the k-th named one described by values[k] and made an initializer
 * with values[k].data when bit k of `constants` is set, a graph input otherwise; each of the
 * comma-separated `outputs` is a graph output of undeclared type. The one builder that every
 * operator test uses. */
builder *builder_single_node(int opset, const char *op_type, const char *inputs, const onyx_tensor *values,
                             unsigned constants, const char *outputs);
/* The first node of the main graph (the node of builder_single_node). */
Onnx__NodeProto *builder_first_node(builder *b);
void builder_attr_int(builder *b, Onnx__NodeProto *node, const char *name, int64_t value);
void builder_attr_float(builder *b, Onnx__NodeProto *node, const char *name, float value);
void builder_attr_string(builder *b, Onnx__NodeProto *node, const char *name, const char *value);
void builder_attr_ints(builder *b, Onnx__NodeProto *node, const char *name, int n, const int64_t *values);
void builder_attr_floats(builder *b, Onnx__NodeProto *node, const char *name, int n, const float *values);
void builder_attr_tensor(builder *b, Onnx__NodeProto *node, const char *name, onyx_dtype dtype, int rank,
                         const int64_t *dims, const void *data);

/* Subgraphs (If, Loop, Scan bodies): a new graph, its inputs, outputs and nodes, and the
 * attribute that attaches it to a node. */
Onnx__GraphProto *builder_subgraph(builder *b, const char *name);
void builder_graph_input(builder *b, Onnx__GraphProto *g, const char *name, onyx_dtype dtype, int rank,
                         const int64_t *dims);
void builder_graph_output(builder *b, Onnx__GraphProto *g, const char *name, onyx_dtype dtype);
Onnx__NodeProto *builder_graph_node(builder *b, Onnx__GraphProto *g, const char *op_type, const char *inputs,
                                    const char *outputs);
void builder_attr_graph(builder *b, Onnx__NodeProto *node, const char *name, Onnx__GraphProto *g);

/* Moves tensor t's data out to external data at `location` (relative to the model's
 * directory); the caller writes that file. */
void builder_external_data(builder *b, Onnx__TensorProto *t, const char *location);

/* Serialized model bytes, owned by the builder (valid until the next call or free). */
const uint8_t *builder_pack(builder *b, size_t *size);
/* Memory owned by the builder: freed with it. */
void *builder_alloc(builder *b, size_t size);
char *builder_strdup(builder *b, const char *s);

#endif
