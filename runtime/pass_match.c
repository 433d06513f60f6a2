/* Pattern matching and rewriting for the fusion passes (pass_match.h). */
#include "pass_match.h"

#include <math.h>
#include <string.h>

/* ---- matching ---------------------------------------------------------------------------- */

/* A scalar float constant of value v (the exporters write 0.5 and the like exactly, but a
 * computed sqrt(2) may differ in the last bits). */
bool scalar_constant(const graph *g, int v, double want)
{
    const value *val = &g->values[v];
    if (val->kind != VALUE_CONSTANT || !val->info.data || tensor_count(&val->info) != 1)
        return false;
    double got;
    switch (val->info.dtype) {
    case ONYX_DTYPE_FLOAT: got = *(const float *)val->info.data; break;
    case ONYX_DTYPE_DOUBLE: got = *(const double *)val->info.data; break;
    default: return false;
    }
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-12;
}

static bool match_value(const graph *g, int v, const pattern *p, match *m);

static bool match_node_inputs(const graph *g, const node *n, const pattern *p, match *m, bool swapped)
{
    for (int i = 0; i < p->n_inputs; i++) {
        int k = swapped ? 1 - i : i;
        if (n->inputs[k] < 0 || !match_value(g, n->inputs[k], p->inputs[i], m))
            return false;
    }
    return true;
}

static bool match_value(const graph *g, int v, const pattern *p, match *m)
{
    if (p->capture >= 0 && m->captures[p->capture] >= 0 && p->op == NULL)
        return m->captures[p->capture] == v;
    if (p->op == NULL) {
        m->captures[p->capture] = v;
        return true;
    }
    if (!strcmp(p->op, "const"))
        return scalar_constant(g, v, p->value);
    const value *val = &g->values[v];
    if (val->kind != VALUE_NODE || val->producer < 0)
        return false;
    const node *n = &g->nodes[val->producer];
    if (n->dead || !n->op || strcmp(n->op_type, p->op) || n->domain[0] || n->n_inputs != p->n_inputs ||
        n->n_outputs < 1 || n->outputs[0] != v || m->n_nodes == MAX_MATCHED)
        return false;
    if (p->capture >= 0) {
        if (m->captures[p->capture] >= 0 && m->captures[p->capture] != v)
            return false;
        m->captures[p->capture] = v;
    }
    m->nodes[m->n_nodes++] = val->producer;
    match saved = *m;
    if (match_node_inputs(g, n, p, m, false))
        return true;
    if (p->commutative) {
        *m = saved;
        if (match_node_inputs(g, n, p, m, true))
            return true;
    }
    return false;
}

/* Matches p at value v; then every matched node but the root must produce only values read
 * inside the match (they disappear with it). */
bool match_at(const graph *g, int v, const pattern *p, match *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < MAX_CAPTURES; i++)
        m->captures[i] = -1;
    if (!match_value(g, v, p, m))
        return false;
    for (int i = 1; i < m->n_nodes; i++) {
        const node *n = &g->nodes[m->nodes[i]];
        int out = n->outputs[0], reads = 0;
        for (int j = 0; j < m->n_nodes; j++) {
            const node *r = &g->nodes[m->nodes[j]];
            for (int k = 0; k < r->n_inputs; k++)
                reads += r->inputs[k] == out;
        }
        /* A node matched twice (a shared subexpression) is counted once per appearance. */
        int appearances = 0;
        for (int j = 0; j < m->n_nodes; j++)
            appearances += m->nodes[j] == m->nodes[i];
        if (reads != g->values[out].n_uses * appearances || n->n_outputs != 1)
            return false;
        for (int j = 0; j < g->n_outputs; j++)
            if (g->outputs[j] == out)
                return false;
    }
    return true;
}

/* ---- rewriting --------------------------------------------------------------------------- */

void recount_uses(graph *g)
{
    for (int v = 0; v < g->n_values; v++)
        g->values[v].n_uses = 0;
    for (int i = 0; i < g->n_outputs; i++)
        g->values[g->outputs[i]].n_uses++;
    for (int i = 0; i < g->n_nodes; i++) {
        const node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_inputs + n->n_implicit; k++)
            if (n->inputs[k] >= 0)
                g->values[n->inputs[k]].n_uses++;
    }
}


/* Rewrites root node `m->nodes[0]` into (domain, op_type) over `inputs` with `attrs`, marks
 * the rest of the match dead, and checks the new node like a loaded one. */
onyx_status rewrite(onyx_model *model, graph *g, const match *m, const char *domain, const char *op_type,
                           int opset, int n_inputs, const int *inputs, int n_attrs, const new_attr *attrs)
{
    mem *mm = &model->mem;
    char *new_op = mem_strdup(mm, op_type), *new_domain = mem_strdup(mm, domain);
    int *new_inputs = mem_alloc(mm, (size_t)(n_inputs + 1) * sizeof(int));
    attribute *new_attrs = mem_alloc(mm, (size_t)(n_attrs + 1) * sizeof(attribute));
    bool ok = new_op && new_domain && new_inputs && new_attrs;
    for (int i = 0; ok && i < n_attrs; i++) {
        attribute *a = &new_attrs[i];
        a->type = attrs[i].type;
        a->i = attrs[i].i;
        a->f = attrs[i].f;
        ok = (a->name = mem_strdup(mm, attrs[i].name)) != NULL;
        if (ok && attrs[i].s) {
            ok = (a->s = mem_strdup(mm, attrs[i].s)) != NULL;
            a->s_len = ok ? strlen(a->s) : 0;
        }
    }
    if (!ok) {
        for (int i = 0; new_attrs && i < n_attrs; i++) {
            mem_free(mm, new_attrs[i].name);
            mem_free(mm, new_attrs[i].s);
        }
        mem_free(mm, new_attrs);
        mem_free(mm, new_inputs);
        mem_free(mm, new_op);
        mem_free(mm, new_domain);
        return set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
    }
    memcpy(new_inputs, inputs, (size_t)n_inputs * sizeof(int));
    return rewrite_root(model, g, m, new_domain, new_op, opset, n_inputs, new_inputs, n_attrs, new_attrs);
}

onyx_status rewrite_root(onyx_model *model, graph *g, const match *m, char *domain, char *op_type, int opset,
                         int n_inputs, int *inputs, int n_attrs, attribute *attrs)
{
    mem *mm = &model->mem;
    node *root = &g->nodes[m->nodes[0]];
    for (int i = 1; i < m->n_nodes; i++) {
        node *gone = &g->nodes[m->nodes[i]];
        gone->dead = true;
        mem_block_free_all(mm, &gone->param_blocks); /* packed weights: the new node packs its own */
        gone->params = NULL;
    }
    /* The root keeps its name, outputs and what it was in the model (for inspection). */
    if (!root->written_op_type)
        root->written_op_type = root->op_type;
    else
        mem_free(mm, root->op_type);
    node_free_attrs(mm, root);
    mem_free(mm, root->inputs);
    mem_free(mm, root->domain);
    mem_block_free_all(mm, &root->param_blocks);
    root->op_type = op_type;
    root->domain = domain;
    root->opset = opset;
    root->inputs = inputs;
    root->n_inputs = n_inputs;
    root->n_implicit = 0;
    root->attrs = attrs;
    root->n_attrs = n_attrs;
    root->params = NULL;
    onyx_status st = node_setup(model, g, root);
    recount_uses(g);
    return st;
}

void kill_node(onyx_model *model, node *n)
{
    n->dead = true;
    mem_block_free_all(&model->mem, &n->param_blocks);
    n->params = NULL;
}

onyx_status set_up_again(onyx_model *model, graph *g, node *n)
{
    mem_block_free_all(&model->mem, &n->param_blocks);
    n->params = NULL;
    return node_setup(model, g, n);
}

onyx_status absorb(onyx_model *model, graph *g, node *kept, node *gone)
{
    kill_node(model, gone);
    onyx_status st = set_up_again(model, g, kept);
    recount_uses(g);
    return st;
}

bool transposes(const node *n, int64_t p1, int64_t p2, int64_t p3)
{
    const attribute *perm = n ? node_attr(n, "perm") : NULL;
    return perm && perm->type == ATTR_INTS && perm->count == 4 && perm->ints[0] == 0 && perm->ints[1] == p1 &&
           perm->ints[2] == p2 && perm->ints[3] == p3;
}

/* The node producing v when it is a live node of the default domain with this op type, and v
 * its only output, read once (so the node can go into a fused one); else NULL. */
node *sole_producer(graph *g, int v, const char *op_type)
{
    if (v < 0 || g->values[v].kind != VALUE_NODE || g->values[v].n_uses != 1 || g->values[v].producer < 0)
        return NULL;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return NULL;
    node *n = &g->nodes[g->values[v].producer];
    if (n->dead || n->domain[0] || strcmp(n->op_type, op_type) || n->n_outputs != 1 || n->outputs[0] != v)
        return NULL;
    return n;
}

/* Whether v holds one float element (a scale), judging by its inferred shape. */
bool float_scalar(const graph *g, int v)
{
    const onyx_tensor *t = &g->values[v].info;
    if (t->dtype != ONYX_DTYPE_FLOAT || t->rank < 0)
        return false;
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] != 1)
            return false;
    return true;
}

/* Whether v is a constant holding one float (its value into *x when x is not NULL). */
bool scalar_value(const graph *g, int v, float *x)
{
    const value *val = &g->values[v];
    if (val->kind != VALUE_CONSTANT || !val->info.data || val->info.dtype != ONYX_DTYPE_FLOAT ||
        tensor_count(&val->info) != 1)
        return false;
    if (x)
        *x = *(const float *)val->info.data;
    return true;
}

/* Turns value v, the output of a node about to be marked dead, into a float scalar constant
 * x (as folding a node turns its outputs into constants); false when out of memory. */
bool scalar_into(onyx_model *model, graph *g, int v, float x)
{
    float *data = mem_alloc(&model->mem, sizeof *data);
    if (!data)
        return false;
    *data = x;
    value *val = &g->values[v];
    val->kind = VALUE_CONSTANT;
    val->borrowed = false;
    val->info = (onyx_tensor){.dtype = ONYX_DTYPE_FLOAT, .rank = 0, .data = data};
    return true;
}

/* For a two-input node, the input that is not `known`, or -1. */
int other_input(const node *n, int known)
{
    return n->inputs[0] == known ? n->inputs[1] : n->inputs[1] == known ? n->inputs[0] : -1;
}

/* The only live node reading value v, or NULL (also when v is a graph output). */
node *sole_consumer(graph *g, int v)
{
    if (g->values[v].n_uses != 1)
        return NULL;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        for (int k = 0; !n->dead && k < n->n_inputs + n->n_implicit; k++)
            if (n->inputs[k] == v)
                return n;
    }
    return NULL;
}

bool is_op(const node *n, const char *domain, const char *op_type)
{
    return n && !n->dead && !strcmp(n->domain, domain) && !strcmp(n->op_type, op_type) && n->n_outputs == 1;
}

/* A ReduceMean over the last axis only, keeping it: its axes an attribute (before opset 18) or
 * a constant input (from 18). */
bool mean_over_last_axis(const graph *g, const node *n)
{
    const attribute *keep = node_attr(n, "keepdims");
    int rank = g->values[n->inputs[0]].info.rank;
    int64_t axis;
    if (n->n_inputs == 1) {
        const attribute *axes = node_attr(n, "axes");
        if (!axes || axes->type != ATTR_INTS || axes->count != 1)
            return false;
        axis = axes->ints[0];
    } else {
        const value *axes = n->inputs[1] >= 0 ? &g->values[n->inputs[1]] : NULL;
        if (!axes || axes->kind != VALUE_CONSTANT || !axes->info.data || axes->info.dtype != ONYX_DTYPE_INT64 ||
            tensor_count(&axes->info) != 1)
            return false;
        axis = *(const int64_t *)axes->info.data;
    }
    return (axis == -1 || (rank > 0 && axis == rank - 1)) && (!keep || (keep->type == ATTR_INT && keep->i == 1));
}
