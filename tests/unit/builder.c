#include "builder.h"

#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block *next;
    _Alignas(16) unsigned char data[];
} block;

struct builder {
    block *blocks;
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    uint8_t *packed;
};

void *builder_alloc(builder *b, size_t size)
{
    block *bl = calloc(1, sizeof(block) + size);
    if (!bl)
        abort(); /* tests only */
    bl->next = b->blocks;
    b->blocks = bl;
    return bl->data;
}

char *builder_strdup(builder *b, const char *s)
{
    char *d = builder_alloc(b, strlen(s) + 1);
    strcpy(d, s);
    return d;
}

/* Appends `item` to a protobuf-c repeated field (count, array of pointers). */
static void append(builder *b, size_t *count, void ***items, void *item)
{
    void **grown = builder_alloc(b, (*count + 1) * sizeof(void *));
    if (*count)
        memcpy(grown, *items, *count * sizeof(void *));
    grown[(*count)++] = item;
    *items = grown;
}
#define APPEND(b, count, items, item) append((b), &(count), (void ***)&(items), (item))

builder *builder_new(int opset)
{
    builder *b = calloc(1, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.producer_name = "onyx-tests";
    b->model.graph = &b->graph;
    b->graph.name = "test";
    b->opset.domain = "";
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opsets[0] = &b->opset;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    return b;
}

void builder_free(builder *b)
{
    if (!b)
        return;
    for (block *bl = b->blocks; bl;) {
        block *next = bl->next;
        free(bl);
        bl = next;
    }
    free(b->packed);
    free(b);
}

Onnx__ModelProto *builder_model(builder *b) { return &b->model; }

void builder_import(builder *b, const char *domain, int version)
{
    Onnx__OperatorSetIdProto *set = builder_alloc(b, sizeof *set);
    onnx__operator_set_id_proto__init(set);
    set->domain = builder_strdup(b, domain);
    set->has_version = 1;
    set->version = version;
    APPEND(b, b->model.n_opset_import, b->model.opset_import, set);
}
Onnx__GraphProto *builder_graph(builder *b) { return &b->graph; }

static Onnx__ValueInfoProto *value_info(builder *b, const char *name, onyx_dtype dtype, int rank, const int64_t *dims,
                                        const char *const *dim_names)
{
    Onnx__ValueInfoProto *vi = builder_alloc(b, sizeof *vi);
    Onnx__TypeProto *tp = builder_alloc(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = builder_alloc(b, sizeof *tt);
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    vi->name = builder_strdup(b, name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = (int32_t)dtype;
    if (rank >= 0) {
        Onnx__TensorShapeProto *shape = builder_alloc(b, sizeof *shape);
        onnx__tensor_shape_proto__init(shape);
        for (int i = 0; i < rank; i++) {
            Onnx__TensorShapeProto__Dimension *d = builder_alloc(b, sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[i] >= 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = builder_strdup(b, dim_names && dim_names[i] ? dim_names[i] : "N");
            }
            APPEND(b, shape->n_dim, shape->dim, d);
        }
        tt->shape = shape;
    }
    return vi;
}

void builder_input(builder *b, const char *name, onyx_dtype dtype, int rank, const int64_t *dims,
                   const char *const *dim_names)
{
    APPEND(b, b->graph.n_input, b->graph.input, value_info(b, name, dtype, rank, dims, dim_names));
}

void builder_output(builder *b, const char *name, onyx_dtype dtype)
{
    builder_graph_output(b, &b->graph, name, dtype);
}

Onnx__GraphProto *builder_subgraph(builder *b, const char *name)
{
    Onnx__GraphProto *g = builder_alloc(b, sizeof *g);
    onnx__graph_proto__init(g);
    g->name = builder_strdup(b, name);
    return g;
}

void builder_graph_input(builder *b, Onnx__GraphProto *g, const char *name, onyx_dtype dtype, int rank,
                         const int64_t *dims)
{
    APPEND(b, g->n_input, g->input, value_info(b, name, dtype, rank, dims, NULL));
}

void builder_graph_output(builder *b, Onnx__GraphProto *g, const char *name, onyx_dtype dtype)
{
    APPEND(b, g->n_output, g->output, value_info(b, name, dtype, -1, NULL, NULL));
}

static Onnx__TensorProto *tensor(builder *b, const char *name, onyx_dtype dtype, int rank, const int64_t *dims,
                                 const void *data)
{
    Onnx__TensorProto *t = builder_alloc(b, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = builder_strdup(b, name);
    t->has_data_type = 1;
    t->data_type = (int32_t)dtype;
    t->n_dims = (size_t)rank;
    t->dims = builder_alloc(b, (size_t)(rank + 1) * sizeof(int64_t));
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        count *= dims[i];
    }
    size_t bytes = (size_t)count * onyx_dtype_size(dtype);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = builder_alloc(b, bytes + 1);
    if (bytes && data)
        memcpy(t->raw_data.data, data, bytes);
    return t;
}

Onnx__TensorProto *builder_initializer(builder *b, const char *name, onyx_dtype dtype, int rank, const int64_t *dims,
                                       const void *data)
{
    Onnx__TensorProto *t = tensor(b, name, dtype, rank, dims, data);
    APPEND(b, b->graph.n_initializer, b->graph.initializer, t);
    return t;
}

/* Splits "a,,b" into strings ("" for empty entries). */
static void split_names(builder *b, const char *list, size_t *count, char ***names)
{
    *count = 0;
    *names = NULL;
    if (!list || !*list)
        return;
    char *copy = builder_strdup(b, list);
    for (char *p = copy;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        APPEND(b, *count, *names, p);
        if (!comma)
            break;
        p = comma + 1;
    }
}

Onnx__NodeProto *builder_graph_node(builder *b, Onnx__GraphProto *g, const char *op_type, const char *inputs,
                                    const char *outputs)
{
    Onnx__NodeProto *n = builder_alloc(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = builder_strdup(b, op_type);
    split_names(b, inputs, &n->n_input, &n->input);
    split_names(b, outputs, &n->n_output, &n->output);
    APPEND(b, g->n_node, g->node, n);
    return n;
}

Onnx__NodeProto *builder_node(builder *b, const char *op_type, const char *inputs, const char *outputs)
{
    return builder_graph_node(b, &b->graph, op_type, inputs, outputs);
}

static Onnx__AttributeProto *attr(builder *b, Onnx__NodeProto *node, const char *name, Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = builder_alloc(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = builder_strdup(b, name);
    a->has_type = 1;
    a->type = type;
    APPEND(b, node->n_attribute, node->attribute, a);
    return a;
}

void builder_attr_int(builder *b, Onnx__NodeProto *node, const char *name, int64_t value)
{
    Onnx__AttributeProto *a = attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = value;
}

void builder_attr_float(builder *b, Onnx__NodeProto *node, const char *name, float value)
{
    Onnx__AttributeProto *a = attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = value;
}

void builder_attr_string(builder *b, Onnx__NodeProto *node, const char *name, const char *value)
{
    Onnx__AttributeProto *a = attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(value);
    a->s.data = (uint8_t *)builder_strdup(b, value);
}

void builder_attr_ints(builder *b, Onnx__NodeProto *node, const char *name, int n, const int64_t *values)
{
    Onnx__AttributeProto *a = attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)n;
    a->ints = builder_alloc(b, (size_t)(n + 1) * sizeof(int64_t));
    memcpy(a->ints, values, (size_t)n * sizeof(int64_t));
}

void builder_attr_floats(builder *b, Onnx__NodeProto *node, const char *name, int n, const float *values)
{
    Onnx__AttributeProto *a = attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = (size_t)n;
    a->floats = builder_alloc(b, (size_t)(n + 1) * sizeof(float));
    memcpy(a->floats, values, (size_t)n * sizeof(float));
}

void builder_attr_tensor(builder *b, Onnx__NodeProto *node, const char *name, onyx_dtype dtype, int rank,
                         const int64_t *dims, const void *data)
{
    Onnx__AttributeProto *a = attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = tensor(b, "", dtype, rank, dims, data);
}

void builder_attr_graph(builder *b, Onnx__NodeProto *node, const char *name, Onnx__GraphProto *g)
{
    Onnx__AttributeProto *a = attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    a->g = g;
}

void builder_external_data(builder *b, Onnx__TensorProto *t, const char *location)
{
    Onnx__StringStringEntryProto *e = builder_alloc(b, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = builder_strdup(b, "location");
    e->value = builder_strdup(b, location);
    t->has_raw_data = 0;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    APPEND(b, t->n_external_data, t->external_data, e);
}

const uint8_t *builder_pack(builder *b, size_t *size)
{
    free(b->packed);
    *size = onnx__model_proto__get_packed_size(&b->model);
    b->packed = malloc(*size ? *size : 1);
    onnx__model_proto__pack(&b->model, b->packed);
    return b->packed;
}

builder *builder_single_node(int opset, const char *op_type, const char *inputs, const onyx_tensor *values,
                             unsigned constants, const char *outputs)
{
    builder *b = builder_new(opset);
    size_t count;
    char **names;
    split_names(b, inputs, &count, &names);
    int k = 0;
    for (size_t i = 0; i < count; i++) {
        if (!*names[i])
            continue;
        const onyx_tensor *t = &values[k];
        if (constants >> k & 1u)
            builder_initializer(b, names[i], t->dtype, t->rank, t->dims, t->data);
        else
            builder_input(b, names[i], t->dtype, t->rank, t->dims, NULL);
        k++;
    }
    builder_node(b, op_type, inputs, outputs);
    split_names(b, outputs, &count, &names);
    for (size_t i = 0; i < count; i++)
        if (*names[i])
            builder_output(b, names[i], ONYX_DTYPE_UNDEFINED);
    return b;
}

Onnx__NodeProto *builder_first_node(builder *b) { return b->graph.node[0]; }
