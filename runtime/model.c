/* .onnx bytes -> onyx IR. Parses with protobuf-c (memory counted against the model's limit),
 * then imports names, values, nodes, attributes and initializers, checking that every name
 * resolves, nothing is produced twice and the graph has no cycle. */
#include "ir.h"
#include "onnx.pb-c.h"
#include "raw_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- protobuf-c allocations, counted against the model's memory limit -------------------- */

/* protobuf-c initializes what it allocates. */
static void *pb_alloc(void *ctx, size_t size) { return mem_alloc_raw(ctx, size); }
static void pb_free(void *ctx, void *ptr) { mem_free(ctx, ptr); }

/* ---- name lookup: open addressing over a graph's values ---------------------------------- */

typedef struct scope {
    graph *g;
    int *slots; /* value index, or -1 */
    int cap;
    struct scope *parent;
} scope;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int scope_find(const scope *sc, const char *name)
{
    if (!sc->cap)
        return -1;
    for (uint64_t i = hash_str(name) & (uint64_t)(sc->cap - 1);; i = (i + 1) & (uint64_t)(sc->cap - 1)) {
        int v = sc->slots[i];
        if (v < 0)
            return -1;
        if (!strcmp(sc->g->values[v].name, name))
            return v;
    }
}

typedef struct importer {
    onyx_model *model;
    mem *mem;
    char *errmsg;
    int64_t node_count; /* over all graphs, against the limit */
    /* Where the main graph's initializers have their raw_data in the caller's bytes (when
     * the bytes were split, see raw_data.h), and whether to reference it there. */
    const raw_data_split *split;
    bool borrow;
    bool realign; /* the bytes are onyx's own: misaligned raw_data may be moved into place */
    int n_borrowed, n_copied;
    size_t borrowed_bytes, copied_bytes;
} importer;

static onyx_status oom(importer *im, const char *what)
{
    return set_error(im->errmsg, ONYX_ERROR_OUT_OF_MEMORY,
                     "out of memory (or above the memory limit) while importing %s", what);
}

static bool scope_grow(importer *im, scope *sc)
{
    int cap = sc->cap ? sc->cap * 2 : 64;
    int *slots = mem_alloc(im->mem, (size_t)cap * sizeof(int));
    if (!slots)
        return false;
    for (int i = 0; i < cap; i++)
        slots[i] = -1;
    int *old = sc->slots, old_cap = sc->cap;
    sc->slots = slots;
    sc->cap = cap;
    for (int i = 0; i < old_cap; i++) {
        int v = old[i];
        if (v < 0)
            continue;
        uint64_t j = hash_str(sc->g->values[v].name) & (uint64_t)(cap - 1);
        while (slots[j] >= 0)
            j = (j + 1) & (uint64_t)(cap - 1);
        slots[j] = v;
    }
    mem_free(im->mem, old);
    return true;
}

/* Appends a value named `name` to the scope's graph; -1 when out of memory. */
static int value_add(importer *im, scope *sc, const char *name, value_kind kind)
{
    graph *g = sc->g;
    if ((g->n_values + 1) * 2 > sc->cap && !scope_grow(im, sc))
        return -1;
    if (g->n_values == g->values_cap) {
        int cap = g->values_cap ? g->values_cap * 2 : 16;
        value *grown = mem_realloc(im->mem, g->values, (size_t)cap * sizeof(value));
        if (!grown)
            return -1;
        g->values = grown;
        g->values_cap = cap;
    }
    value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = mem_strdup(im->mem, name);
    if (!v->name)
        return -1;
    v->kind = kind;
    v->producer = -1;
    v->info.rank = -1;
    int index = g->n_values++;
    uint64_t j = hash_str(name) & (uint64_t)(sc->cap - 1);
    while (sc->slots[j] >= 0)
        j = (j + 1) & (uint64_t)(sc->cap - 1);
    sc->slots[j] = index;
    return index;
}

/* Finds `name` in this scope or, creating an outer reference, in an enclosing one. */
static int scope_resolve(importer *im, scope *sc, const char *name, bool *oom_out)
{
    int v = scope_find(sc, name);
    if (v >= 0)
        return v;
    for (scope *up = sc->parent; up; up = up->parent) {
        if (scope_find(up, name) >= 0) {
            v = value_add(im, sc, name, VALUE_OUTER);
            if (v < 0)
                *oom_out = true;
            return v;
        }
    }
    return -1;
}

/* ---- types ------------------------------------------------------------------------------- */

static int symbol_id(importer *im, const char *name)
{
    onyx_model *m = im->model;
    for (int i = 0; i < m->n_symbols; i++)
        if (!strcmp(m->symbols[i], name))
            return i;
    char **s = mem_realloc(im->mem, m->symbols, (size_t)(m->n_symbols + 1) * sizeof(char *));
    if (!s)
        return -1;
    m->symbols = s;
    if (!(s[m->n_symbols] = mem_strdup(im->mem, name)))
        return -1;
    return m->n_symbols++;
}

/* Whether a ValueInfoProto's type says anything: exporters write outputs whose type they do
 * not know as no type or as an empty one (nothing set), which are the same. */
static bool type_given(const Onnx__TypeProto *type)
{
    return type && type->value_case != ONNX__TYPE_PROTO__VALUE__NOT_SET;
}

static const char *type_kind(const Onnx__TypeProto *type)
{
    return type->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE        ? "a sequence"
           : type->value_case == ONNX__TYPE_PROTO__VALUE_MAP_TYPE           ? "a map"
           : type->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE      ? "an optional"
           : type->value_case == ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE ? "a sparse tensor"
                                                                            : "no tensor";
}

/* Reads a TypeProto into info: a tensor's dtype, rank or -1, dims with symbols; or a sequence,
 * optional or optional sequence of tensors, as the element dtype with ONYX_SEQUENCE /
 * ONYX_OPTIONAL and rank -1 (the elements' shapes are not kept: each item has its own). */
static onyx_status type_import(importer *im, const Onnx__TypeProto *type, const char *what,
                               const char *name, onyx_tensor *info)
{
    memset(info, 0, sizeof *info);
    info->rank = -1;
    if (!type)
        return set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s '%s' has no type", what, name);
    int flags = 0;
    if (type->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE) {
        if (!type->optional_type || !type->optional_type->elem_type)
            return set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s '%s' is an optional of no type", what,
                             name);
        flags |= ONYX_OPTIONAL;
        type = type->optional_type->elem_type;
    }
    if (type->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) {
        if (!type->sequence_type || !type->sequence_type->elem_type)
            return set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s '%s' is a sequence of no type", what,
                             name);
        flags |= ONYX_SEQUENCE;
        type = type->sequence_type->elem_type;
    }
    if (type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type) {
        if (flags)
            return set_error(im->errmsg, ONYX_ERROR_UNSUPPORTED,
                             "%s '%s' is %s of %s; onyx's sequences and optionals hold dense tensors only",
                             what, name, flags & ONYX_OPTIONAL ? "an optional" : "a sequence",
                             type_kind(type));
        return set_error(im->errmsg, ONYX_ERROR_UNSUPPORTED,
                         "%s '%s' has %s type; onyx supports dense tensors and sequences and optionals of "
                         "them only", what, name, type_kind(type));
    }
    const Onnx__TypeProto__Tensor *tt = type->tensor_type;
    if (!tt->has_elem_type || !dtype_valid(tt->elem_type))
        return set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s '%s' has invalid element type %d",
                         what, name, tt->has_elem_type ? tt->elem_type : 0);
    info->dtype = (onyx_dtype)(tt->elem_type | flags);
    if (!tt->shape || flags)
        return ONYX_OK;
    if (tt->shape->n_dim > ONYX_MAX_RANK)
        return set_error(im->errmsg, ONYX_ERROR_UNSUPPORTED,
                         "%s '%s' has rank %zu; onyx handles ranks up to %d", what, name,
                         tt->shape->n_dim, ONYX_MAX_RANK);
    info->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < info->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0 || d->dim_value > im->model->limits.tensor_elements)
                return set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL,
                                 "%s '%s' declares dim %lld at axis %d", what, name,
                                 (long long)d->dim_value, i);
            info->dims[i] = d->dim_value;
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   d->dim_param && d->dim_param[0]) {
            int s = symbol_id(im, d->dim_param);
            if (s < 0)
                return oom(im, "dim names");
            info->dims[i] = dim_symbol(s);
        } else {
            info->dims[i] = DIM_UNKNOWN;
        }
    }
    return ONYX_OK;
}

/* ---- attributes -------------------------------------------------------------------------- */

static onyx_status graph_import(importer *im, const Onnx__GraphProto *gp, graph *g, scope *parent,
                                int depth);

static attr_type attr_type_guess(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return (attr_type)a->type;
    /* IR version 1 models leave the type out: take the one field that is set. */
    if (a->has_f) return ATTR_FLOAT;
    if (a->has_i) return ATTR_INT;
    if (a->has_s) return ATTR_STRING;
    if (a->t) return ATTR_TENSOR;
    if (a->g) return ATTR_GRAPH;
    if (a->n_floats) return ATTR_FLOATS;
    if (a->n_ints) return ATTR_INTS;
    if (a->n_strings) return ATTR_STRINGS;
    if (a->n_tensors) return ATTR_TENSORS;
    if (a->n_graphs) return ATTR_GRAPHS;
    return ATTR_UNDEFINED;
}

static char *bytes_dup(mem *m, const ProtobufCBinaryData *b)
{
    char *s = mem_alloc(m, b->len + 1);
    if (s && b->len)
        memcpy(s, b->data, b->len);
    return s;
}

static onyx_status attr_import(importer *im, const Onnx__AttributeProto *a, attribute *out,
                               const char *node_desc, scope *sc, int depth)
{
    if (!a->name || !a->name[0])
        return set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s: an attribute has no name", node_desc);
    if (!(out->name = mem_strdup(im->mem, a->name)))
        return oom(im, "attributes");
    if (a->ref_attr_name && a->ref_attr_name[0])
        return set_error(im->errmsg, ONYX_ERROR_UNSUPPORTED,
                         "%s: attribute '%s' refers to a function attribute; onyx runs no functions",
                         node_desc, a->name);
    out->type = attr_type_guess(a);
    switch (out->type) {
    case ATTR_FLOAT: out->f = a->f; break;
    case ATTR_INT: out->i = a->i; break;
    case ATTR_STRING:
        if (!(out->s = bytes_dup(im->mem, &a->s)))
            return oom(im, "attributes");
        out->s_len = a->s.len;
        break;
    case ATTR_TENSOR: {
        if (!a->t)
            return set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s: tensor attribute '%s' has no tensor",
                             node_desc, a->name);
        char sub[ERRMSG_SIZE];
        onyx_status st = tensor_from_proto(im->mem, &im->model->limits, im->model->dir, a->t,
                                           &out->t, sub);
        if (st)
            return set_error(im->errmsg, st, "%s: attribute '%s': %s", node_desc, a->name, sub);
        break;
    }
    case ATTR_GRAPH: {
        if (!a->g)
            return set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s: graph attribute '%s' has no graph",
                             node_desc, a->name);
        if (!(out->g = mem_alloc(im->mem, sizeof(graph))))
            return oom(im, "subgraphs");
        onyx_status st = graph_import(im, a->g, out->g, sc, depth + 1);
        if (st)
            return st;
        break;
    }
    case ATTR_FLOATS:
        out->count = (int64_t)a->n_floats;
        if (!(out->floats = mem_alloc(im->mem, a->n_floats * sizeof(float))))
            return oom(im, "attributes");
        if (a->n_floats)
            memcpy(out->floats, a->floats, a->n_floats * sizeof(float));
        break;
    case ATTR_INTS:
        out->count = (int64_t)a->n_ints;
        if (!(out->ints = mem_alloc(im->mem, a->n_ints * sizeof(int64_t))))
            return oom(im, "attributes");
        if (a->n_ints)
            memcpy(out->ints, a->ints, a->n_ints * sizeof(int64_t));
        break;
    case ATTR_STRINGS:
        if (!(out->strings = mem_alloc(im->mem, a->n_strings * sizeof(char *))))
            return oom(im, "attributes");
        for (size_t i = 0; i < a->n_strings; i++, out->count++)
            if (!(out->strings[i] = bytes_dup(im->mem, &a->strings[i])))
                return oom(im, "attributes");
        break;
    case ATTR_TYPE_PROTO: {
        /* Only the type code is kept (in `i`): what Optional's 'type' needs. */
        onyx_tensor info;
        onyx_status st = type_import(im, a->tp, "attribute", a->name, &info);
        if (st)
            return st;
        out->i = info.dtype;
        break;
    }
    default:
        /* Kept as a typed, empty attribute: an operator that reads it reports it unsupported. */
        break;
    }
    return ONYX_OK;
}

static void attr_free(mem *m, attribute *a)
{
    mem_free(m, a->name);
    mem_free(m, a->s);
    mem_free(m, a->t.data);
    if (a->g) {
        graph_free(m, a->g);
        mem_free(m, a->g);
    }
    mem_free(m, a->floats);
    mem_free(m, a->ints);
    for (int64_t i = 0; a->strings && i < a->count; i++)
        mem_free(m, a->strings[i]);
    mem_free(m, a->strings);
}

void node_free_attrs(mem *m, node *n)
{
    for (int a = 0; a < n->n_attrs; a++)
        attr_free(m, &n->attrs[a]);
    mem_free(m, n->attrs);
    n->attrs = NULL;
    n->n_attrs = 0;
}

/* ---- graphs ------------------------------------------------------------------------------ */

static const char *node_desc(const Onnx__NodeProto *np, size_t index, char *buf, size_t size)
{
    if (np->name && np->name[0])
        snprintf(buf, size, "node '%s' (%s)", np->name, np->op_type ? np->op_type : "?");
    else
        snprintf(buf, size, "node #%zu (%s)", index, np->op_type ? np->op_type : "?");
    return buf;
}

static int opset_of(const onyx_model *m, const char *domain)
{
    for (int i = 0; i < m->n_opsets; i++)
        if (!strcmp(m->opsets[i].domain, domain))
            return (int)m->opsets[i].version;
    return -1;
}

/* Reorders g->nodes topologically (keeping the model's order when it is one already) and
 * reports a cycle, naming a node on it or behind it. */
static onyx_status graph_sort(importer *im, graph *g)
{
    int n = g->n_nodes;
    bool sorted = true;
    for (int i = 0; i < n && sorted; i++) {
        const node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs + nd->n_implicit; k++) {
            int v = nd->inputs[k];
            if (v >= 0 && g->values[v].kind == VALUE_NODE && g->values[v].producer >= i)
                sorted = false;
        }
    }
    if (sorted)
        return ONYX_OK;
    /* Kahn's algorithm. ready[v]: value v is available. */
    bool *ready = mem_alloc(im->mem, (size_t)g->n_values);
    bool *placed = mem_alloc(im->mem, (size_t)n);
    node *order = mem_alloc(im->mem, (size_t)n * sizeof(node));
    onyx_status st = ONYX_OK;
    if (!ready || !placed || !order) {
        st = oom(im, "the graph");
        goto done;
    }
    for (int v = 0; v < g->n_values; v++)
        ready[v] = g->values[v].kind != VALUE_NODE;
    int count = 0;
    for (bool progress = true; progress && count < n;) {
        progress = false;
        for (int i = 0; i < n; i++) {
            const node *nd = &g->nodes[i];
            bool can = !placed[i];
            for (int k = 0; can && k < nd->n_inputs + nd->n_implicit; k++)
                can = nd->inputs[k] < 0 || ready[nd->inputs[k]];
            if (!can)
                continue;
            placed[i] = progress = true;
            order[count++] = *nd;
            for (int o = 0; o < nd->n_outputs; o++)
                if (nd->outputs[o] >= 0)
                    ready[nd->outputs[o]] = true;
        }
    }
    if (count < n) {
        for (int i = 0; i < n; i++)
            if (!placed[i]) {
                st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL,
                               "node '%s' (%s) is on a cycle or depends on one: the graph cannot be "
                               "ordered", g->nodes[i].name, g->nodes[i].op_type);
                break;
            }
        goto done;
    }
    memcpy(g->nodes, order, (size_t)n * sizeof(node));
    for (int i = 0; i < n; i++)
        for (int o = 0; o < g->nodes[i].n_outputs; o++)
            if (g->nodes[i].outputs[o] >= 0)
                g->values[g->nodes[i].outputs[o]].producer = i;
done:
    mem_free(im->mem, ready);
    mem_free(im->mem, placed);
    mem_free(im->mem, order);
    return st;
}

static int *ints_alloc(importer *im, size_t n)
{
    return mem_alloc(im->mem, (n ? n : 1) * sizeof(int));
}

/* Why a borrowing load copied an initializer instead. */
static const char *copy_reason(const Onnx__TensorProto *tp, const raw_data_span *span,
                               const value *v, char *buf, size_t size)
{
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return "it is external data";
    if (!span)
        return "its raw_data could not be located in the model's bytes";
    if (!span->data)
        return "it is not stored as raw_data";
    if (v->info.dtype == ONYX_DTYPE_BOOL)
        return "it is bool, which onyx normalises to 0 and 1";
    snprintf(buf, size, "its raw_data at address %p is not aligned for %s", (const void *)span->data,
             onyx_dtype_name(v->info.dtype));
    return buf;
}

/* Initializer `index` of the main graph, its raw_data taken from the caller's bytes when they
 * were split: referenced in place when borrowing and aligned, copied otherwise. */
static onyx_status initializer_import(importer *im, const Onnx__TensorProto *tp, size_t index,
                                      value *v)
{
    onyx_model *model = im->model;
    raw_data_span moved;
    const raw_data_span *span = im->split ? &im->split->spans[index] : NULL;
    size_t align = tp->has_data_type && dtype_valid(tp->data_type) ? onyx_dtype_size((onyx_dtype)tp->data_type) : 0;
    if (im->realign && span && span->data && span->size >= 128 && (align == 2 || align == 4) &&
        (uintptr_t)span->data % align) {
        /* Our own copy of the file: slide the payload back onto an aligned address, over the
         * field's own tag and length (at least 3 bytes for 128 bytes or more, already parsed),
         * so that it can be used in place instead of copied. */
        size_t shift = (uintptr_t)span->data % align;
        moved = (raw_data_span){span->data - shift, span->size};
        memmove((uint8_t *)moved.data, span->data, span->size);
        span = &moved;
    }
    Onnx__TensorProto with_data = *tp;
    if (span && span->data) {
        with_data.has_raw_data = true;
        with_data.raw_data = (ProtobufCBinaryData){span->size, (uint8_t *)span->data};
    }
    /* Only bytes of the caller can be borrowed: without a span, raw_data is the parser's. */
    onyx_status st = im->borrow && span && span->data
                         ? tensor_from_proto_borrow(im->mem, &model->limits, model->dir, &with_data,
                                                    &v->info, &v->borrowed, im->errmsg)
                         : tensor_from_proto(im->mem, &model->limits, model->dir, &with_data,
                                             &v->info, im->errmsg);
    if (!im->borrow || st) /* a failed tensor's dims are unchecked: no size from them */
        return st;
    size_t bytes = value_bytes(&v->info);
    if (!bytes)
        return ONYX_OK;
    if (v->borrowed) {
        im->n_borrowed++;
        im->borrowed_bytes += bytes;
        return ONYX_OK;
    }
    im->n_copied++;
    im->copied_bytes += bytes;
    char why[160];
    log_message(&model->log, ONYX_LOG_DEBUG, "initializer '%s' (%s, %zu bytes) copied: %s", v->name,
                onyx_dtype_name(v->info.dtype), bytes, copy_reason(tp, span, v, why, sizeof why));
    return ONYX_OK;
}

static onyx_status graph_import(importer *im, const Onnx__GraphProto *gp, graph *g, scope *parent,
                                int depth)
{
    onyx_model *model = im->model;
    char desc[300];
    memset(g, 0, sizeof *g);
    g->depth = depth;
    g->parent = parent ? parent->g : NULL;
    if (depth > model->limits.graph_depth)
        return set_error(im->errmsg, ONYX_ERROR_LIMIT, "subgraphs nest deeper than the limit of %lld",
                         (long long)model->limits.graph_depth);
    im->node_count += (int64_t)gp->n_node;
    if (im->node_count > model->limits.graph_nodes)
        return set_error(im->errmsg, ONYX_ERROR_LIMIT, "the model has more than %lld nodes (the limit)",
                         (long long)model->limits.graph_nodes);
    if (gp->n_sparse_initializer)
        return set_error(im->errmsg, ONYX_ERROR_UNSUPPORTED, "sparse initializers are not supported");

    scope sc = {.g = g, .parent = parent};
    onyx_status st = ONYX_OK;

    /* Initializers. */
    for (size_t i = 0; i < gp->n_initializer && !st; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !tp->name[0]) {
            st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "initializer #%zu has no name", i);
            break;
        }
        if (scope_find(&sc, tp->name) >= 0) {
            st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "initializer '%s' is defined twice", tp->name);
            break;
        }
        int v = value_add(im, &sc, tp->name, VALUE_CONSTANT);
        if (v < 0) {
            st = oom(im, "initializers");
            break;
        }
        st = depth == 0 ? initializer_import(im, tp, i, &g->values[v])
                        : tensor_from_proto(im->mem, &model->limits, model->dir, tp,
                                            &g->values[v].info, im->errmsg);
    }

    /* Inputs (an input with an initializer of the same name is a constant). */
    if (!st && !(g->inputs = ints_alloc(im, gp->n_input)))
        st = oom(im, "inputs");
    for (size_t i = 0; i < gp->n_input && !st; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !vi->name[0]) {
            st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "graph input #%zu has no name", i);
            break;
        }
        int existing = scope_find(&sc, vi->name);
        if (existing >= 0) {
            if (g->values[existing].kind != VALUE_CONSTANT)
                st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "graph input '%s' is listed twice",
                               vi->name);
            continue;
        }
        int v = value_add(im, &sc, vi->name, VALUE_INPUT);
        if (v < 0) {
            st = oom(im, "inputs");
            break;
        }
        /* A subgraph's inputs may leave their type out, or its element type (an empty TypeProto
         * or tensor type, as exporters write them): the operator running it knows them. */
        if (depth == 0 || type_given(vi->type)) {
            st = type_import(im, vi->type, "input", vi->name, &g->values[v].info);
            if (depth > 0 && st == ONYX_ERROR_INVALID_MODEL && vi->type->tensor_type &&
                !vi->type->tensor_type->has_elem_type)
                st = ONYX_OK, g->values[v].info.dtype = ONYX_DTYPE_UNDEFINED;
        }
        g->inputs[g->n_inputs++] = v;
    }

    /* Nodes: outputs first, so inputs can refer to nodes listed later (sorted below). */
    if (!st && gp->n_node && !(g->nodes = mem_alloc(im->mem, gp->n_node * sizeof(node))))
        st = oom(im, "nodes");
    for (size_t i = 0; i < gp->n_node && !st; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        node *nd = &g->nodes[i];
        g->n_nodes++;
        node_desc(np, i, desc, sizeof desc);
        if (!np->op_type || !np->op_type[0]) {
            st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s has no op_type", desc);
            break;
        }
        char generated[96];
        snprintf(generated, sizeof generated, "%s_%zu", np->op_type, i);
        nd->name = mem_strdup(im->mem, np->name && np->name[0] ? np->name : generated);
        nd->op_type = mem_strdup(im->mem, np->op_type);
        const char *domain = np->domain && strcmp(np->domain, "ai.onnx") ? np->domain : "";
        nd->domain = mem_strdup(im->mem, domain);
        nd->outputs = ints_alloc(im, np->n_output);
        if (!nd->name || !nd->op_type || !nd->domain || !nd->outputs) {
            st = oom(im, "nodes");
            break;
        }
        nd->opset = opset_of(model, domain);
        nd->n_outputs = (int)np->n_output;
        for (size_t o = 0; o < np->n_output && !st; o++) {
            const char *name = np->output[o];
            nd->outputs[o] = -1;
            if (!name || !name[0])
                continue;
            if (scope_find(&sc, name) >= 0) {
                st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL,
                               "%s: output '%s' is already produced elsewhere (names must be unique)",
                               desc, name);
                break;
            }
            int v = value_add(im, &sc, name, VALUE_NODE);
            if (v < 0) {
                st = oom(im, "nodes");
                break;
            }
            g->values[v].producer = (int)i;
            nd->outputs[o] = v;
        }
    }

    /* Node inputs and attributes (subgraphs see every name of this graph). */
    for (size_t i = 0; i < (size_t)g->n_nodes && !st; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        node *nd = &g->nodes[i];
        node_desc(np, i, desc, sizeof desc);
        if (!(nd->inputs = ints_alloc(im, np->n_input))) {
            st = oom(im, "nodes");
            break;
        }
        nd->n_inputs = (int)np->n_input;
        for (size_t k = 0; k < np->n_input && !st; k++) {
            const char *name = np->input[k];
            nd->inputs[k] = -1;
            if (!name || !name[0])
                continue;
            bool out_of_memory = false;
            int v = scope_resolve(im, &sc, name, &out_of_memory);
            if (out_of_memory)
                st = oom(im, "nodes");
            else if (v < 0)
                st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL,
                               "%s: input '%s' is not produced by any node, initializer or graph input",
                               desc, name);
            else
                nd->inputs[k] = v;
        }
        if (st)
            break;
        if (np->n_attribute && !(nd->attrs = mem_alloc(im->mem, np->n_attribute * sizeof(attribute)))) {
            st = oom(im, "attributes");
            break;
        }
        for (size_t a = 0; a < np->n_attribute && !st; a++) {
            nd->n_attrs++;
            st = attr_import(im, np->attribute[a], &nd->attrs[a], desc, &sc, depth);
            for (size_t b = 0; b < a && !st; b++)
                if (!strcmp(nd->attrs[a].name, nd->attrs[b].name))
                    st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "%s: attribute '%s' appears twice",
                                   desc, nd->attrs[a].name);
        }
        /* Values of this graph read by the node's subgraphs become implicit inputs. */
        for (int a = 0; a < nd->n_attrs && !st; a++) {
            const graph *sub = nd->attrs[a].g;
            if (!sub)
                continue;
            for (int v = 0; v < sub->n_values && !st; v++) {
                if (sub->values[v].kind != VALUE_OUTER)
                    continue;
                bool out_of_memory = false;
                int outer = scope_resolve(im, &sc, sub->values[v].name, &out_of_memory);
                if (out_of_memory || outer < 0) {
                    st = oom(im, "subgraphs");
                    break;
                }
                bool seen = false;
                for (int k = nd->n_inputs; k < nd->n_inputs + nd->n_implicit; k++)
                    seen |= nd->inputs[k] == outer;
                if (seen)
                    continue;
                size_t old = (size_t)(nd->n_inputs + nd->n_implicit);
                int *grown = mem_realloc(im->mem, nd->inputs, (old + 1) * sizeof(int));
                if (!grown) {
                    st = oom(im, "subgraphs");
                    break;
                }
                nd->inputs = grown;
                nd->inputs[old] = outer;
                nd->n_implicit++;
            }
        }
    }

    /* Outputs. */
    if (!st && (!(g->outputs = ints_alloc(im, gp->n_output)) ||
                !(g->output_decl = mem_alloc(im->mem, (gp->n_output ? gp->n_output : 1) * sizeof(onyx_tensor)))))
        st = oom(im, "outputs");
    for (size_t i = 0; i < gp->n_output && !st; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        if (!vi->name || !vi->name[0]) {
            st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL, "graph output #%zu has no name", i);
            break;
        }
        bool out_of_memory = false;
        int v = scope_resolve(im, &sc, vi->name, &out_of_memory);
        if (out_of_memory) {
            st = oom(im, "outputs");
            break;
        }
        if (v < 0) {
            st = set_error(im->errmsg, ONYX_ERROR_INVALID_MODEL,
                           "graph output '%s' is not produced by any node, initializer or input", vi->name);
            break;
        }
        g->outputs[g->n_outputs++] = v;
        g->output_decl[i].rank = -1;
        if (type_given(vi->type)) {
            st = type_import(im, vi->type, "output", vi->name, &g->output_decl[i]);
            if (st == ONYX_ERROR_INVALID_MODEL && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
                st = ONYX_OK, g->output_decl[i].dtype = ONYX_DTYPE_UNDEFINED; /* undeclared elem type */
        }
    }

    if (!st)
        st = graph_sort(im, g);
    mem_free(im->mem, sc.slots);
    return st;
}

void graph_free(mem *m, graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        node *nd = &g->nodes[i];
        mem_free(m, nd->name);
        mem_free(m, nd->op_type);
        mem_free(m, nd->domain);
        mem_free(m, nd->inputs);
        mem_free(m, nd->outputs);
        mem_free(m, nd->written_op_type);
        node_free_attrs(m, nd);
        mem_block_free_all(m, &nd->param_blocks);
    }
    mem_free(m, g->nodes);
    for (int i = 0; i < g->n_values; i++) {
        mem_free(m, g->values[i].name);
        if (g->values[i].kind == VALUE_CONSTANT)
            value_free_data(m, &g->values[i]);
    }
    mem_free(m, g->values);
    mem_free(m, g->inputs);
    mem_free(m, g->outputs);
    mem_free(m, g->output_decl);
    memset(g, 0, sizeof *g);
}

void graph_unborrow(mem *m, graph *g, const void *start, size_t size)
{
    const uint8_t *lo = start, *hi = lo + size;
    for (int i = 0; i < g->n_values; i++) {
        value *v = &g->values[i];
        const uint8_t *p = v->info.data;
        if (!v->borrowed || !p || p < lo || p >= hi)
            continue;
        size_t bytes = tensor_bytes(&v->info);
        void *copy = mem_alloc_raw(m, bytes);
        if (copy) {
            memcpy(copy, p, bytes);
            v->info.data = copy;
            v->borrowed = false;
        }
    }
}

void value_free_data(mem *m, value *v)
{
    if (!v->borrowed)
        mem_free(m, v->info.data);
    v->info.data = NULL;
    v->borrowed = false;
}

/* ---- the model --------------------------------------------------------------------------- */

onyx_status model_import(onyx_model *model, const void *data, size_t size, import_mode mode)
{
    importer im = {.model = model, .mem = &model->mem, .errmsg = model->errmsg, .borrow = mode != IMPORT_COPY,
                   .realign = mode == IMPORT_OWN};
    if ((int64_t)size > model->limits.model_bytes)
        return set_error(model->errmsg, ONYX_ERROR_LIMIT, "the model has %zu bytes, above the limit of %lld",
                         size, (long long)model->limits.model_bytes);
    /* Parse the model without its initializers' raw_data, so that the parser copies none of
     * it; the importer takes it from the caller's bytes. */
    raw_data_split split;
    if (raw_data_split_model(&model->mem, data, size, &split)) {
        im.split = &split;
        data = split.skeleton;
        size = split.skeleton_size;
    }
    /* What protobuf-c will parse must not nest or allocate without bound. */
    onyx_status st = wire_check_model(data, size, &model->limits, model->errmsg);
    if (st) {
        raw_data_split_free(&model->mem, &split);
        return st;
    }
    ProtobufCAllocator alloc = {.alloc = pb_alloc, .free = pb_free, .allocator_data = &model->mem};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&alloc, size, data);
    if (!mp) {
        raw_data_split_free(&model->mem, &split);
        return set_error(model->errmsg, ONYX_ERROR_INVALID_MODEL,
                         "not a valid ONNX model: the protobuf could not be parsed (truncated or "
                         "corrupt file, or over the memory limit)");
    }
    model->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    if (!(model->producer_name = mem_strdup(&model->mem, mp->producer_name)) ||
        !(model->producer_version = mem_strdup(&model->mem, mp->producer_version)))
        st = oom(&im, "the model");
    if (!st && mp->n_opset_import &&
        !(model->opsets = mem_alloc(&model->mem, mp->n_opset_import * sizeof(opset_import))))
        st = oom(&im, "opset imports");
    for (size_t i = 0; i < mp->n_opset_import && !st; i++) {
        const Onnx__OperatorSetIdProto *op = mp->opset_import[i];
        const char *domain = op->domain && strcmp(op->domain, "ai.onnx") ? op->domain : "";
        if (!op->has_version || op->version < 1 || op->version > 10000) {
            st = set_error(model->errmsg, ONYX_ERROR_INVALID_MODEL, "opset import of domain '%s' has invalid version %lld",
                           domain, (long long)(op->has_version ? op->version : 0));
            break;
        }
        if (opset_of(model, domain) >= 0) {
            st = set_error(model->errmsg, ONYX_ERROR_INVALID_MODEL, "domain '%s' is imported twice", domain);
            break;
        }
        int newest = registry_max_opset(domain);
        if (newest >= 0 && op->version > newest) {
            st = set_error(model->errmsg, ONYX_ERROR_UNSUPPORTED,
                           "the model imports opset %lld of domain '%s'; the newest onyx knows is %d",
                           (long long)op->version, domain[0] ? domain : "ai.onnx", newest);
            break;
        }
        if (!(model->opsets[i].domain = mem_strdup(&model->mem, domain))) {
            st = oom(&im, "opset imports");
            break;
        }
        model->opsets[i].version = op->version;
        model->n_opsets++;
    }
    if (!st && !mp->graph)
        st = set_error(model->errmsg, ONYX_ERROR_INVALID_MODEL, "the model has no graph");
    if (!st && mp->n_functions)
        st = set_error(model->errmsg, ONYX_ERROR_UNSUPPORTED, "the model defines %zu local functions; "
                       "onyx does not run model-local functions", mp->n_functions);
    if (!st && im.split && (size_t)split.n_spans != mp->graph->n_initializer)
        st = set_error(model->errmsg, ONYX_ERROR_INVALID_MODEL,
                       "the model's initializers could not be matched with their data");
    if (!st)
        st = graph_import(&im, mp->graph, &model->graph, NULL, 0);
    onnx__model_proto__free_unpacked(mp, &alloc);
    raw_data_split_free(&model->mem, &split);
    if (!st && mode == IMPORT_BORROW)
        log_message(&model->log, im.n_copied ? ONYX_LOG_WARNING : ONYX_LOG_INFO,
                    "borrowed %d initializers (%zu bytes) from the caller's buffer; copied %d "
                    "(%zu bytes) that could not be borrowed%s", im.n_borrowed, im.borrowed_bytes,
                    im.n_copied, im.copied_bytes, im.n_copied ? " (the debug log says why)" : "");
    return st;
}
