/* Graph rewrites that make the plan faster without changing results beyond rounding: each
 * finds a pattern of nodes (as PyTorch exports them) and replaces it by one operator.
 *
 * A pattern is a small expression tree matched from its root value upwards. Intermediate
 * values of a match must be read only inside the match (so the nodes can go); values the
 * pattern captures are its inputs. The root node is rewritten in place into the fused node
 * (it keeps its name and its output, so nothing downstream changes) and the other matched
 * nodes are marked dead. */
#include "gemm.h" /* gemm_activation: onyx.FusedMatMul's activation attribute */
#include "ir.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- matching ---------------------------------------------------------------------------- */

#define MAX_CAPTURES 8
#define MAX_MATCHED 16

typedef struct pattern {
    const char *op;    /* node op type; NULL: any value (captured); "const": a scalar constant */
    int capture;       /* capture slot of the value (-1: none); a second use must be the same value */
    double value;      /* for "const" */
    int n_inputs;
    const struct pattern *inputs[3];
    bool commutative;  /* a two-input node whose inputs may come in either order */
} pattern;

typedef struct match {
    int captures[MAX_CAPTURES]; /* value indices, -1 when not captured */
    int nodes[MAX_MATCHED];     /* matched node indices, root first */
    int n_nodes;
} match;

#define ANY(slot) (&(const pattern){.capture = (slot)})
#define CONST(v) (&(const pattern){.op = "const", .capture = -1, .value = (v)})
#define NODE1(name, a) (&(const pattern){.op = (name), .capture = -1, .n_inputs = 1, .inputs = {(a)}})
#define NODE2(name, a, b) (&(const pattern){.op = (name), .capture = -1, .n_inputs = 2, .inputs = {(a), (b)}})
#define COMM2(name, a, b) \
    (&(const pattern){.op = (name), .capture = -1, .n_inputs = 2, .inputs = {(a), (b)}, .commutative = true})
/* A node whose output is also captured, to be matched again by ANY(slot) elsewhere. */
#define NODE2_AS(slot, name, a, b) \
    (&(const pattern){.op = (name), .capture = (slot), .n_inputs = 2, .inputs = {(a), (b)}})

/* A scalar float constant of value v (the exporters write 0.5 and the like exactly, but a
 * computed sqrt(2) may differ in the last bits). */
static bool scalar_constant(const graph *g, int v, double want)
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
static bool match_at(const graph *g, int v, const pattern *p, match *m)
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

static void recount_uses(graph *g)
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

typedef struct new_attr {
    const char *name;
    attr_type type;
    int64_t i;
    float f;
    const char *s;
} new_attr;

/* Rewrites root node `m->nodes[0]` into (domain, op_type) over `inputs` with `attrs`, marks
 * the rest of the match dead, and checks the new node like a loaded one. */
static onyx_status rewrite(onyx_model *model, graph *g, const match *m, const char *domain, const char *op_type,
                           int opset, int n_inputs, const int *inputs, int n_attrs, const new_attr *attrs)
{
    mem *mm = &model->mem;
    node *root = &g->nodes[m->nodes[0]];
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
    root->op_type = new_op;
    root->domain = new_domain;
    root->opset = opset;
    root->inputs = new_inputs;
    root->n_inputs = n_inputs;
    root->n_implicit = 0;
    root->attrs = new_attrs;
    root->n_attrs = n_attrs;
    root->params = NULL;
    onyx_status st = node_setup(model, g, root);
    recount_uses(g);
    return st;
}

/* ---- GELU ---------------------------------------------------------------------------------- */
/* Patterns are file-scope compound literals: static storage. */

/* x * 0.5 * (1 + erf(x / sqrt(2))), as PyTorch writes nn.GELU(). */
static const pattern *const gelu_erf =
    COMM2("Mul", COMM2("Mul", ANY(0), COMM2("Add", NODE1("Erf", NODE2("Div", ANY(0), CONST(M_SQRT2))), CONST(1.0))),
          CONST(0.5));

/* 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x * (x * x)))), as F.gelu(approximate="tanh"). */
static const pattern *const gelu_tanh = COMM2(
    "Mul", CONST(0.5),
    COMM2("Mul", ANY(0),
          COMM2("Add", CONST(1.0),
                NODE1("Tanh", COMM2("Mul", CONST(0.7978845608028654),
                                    COMM2("Add", ANY(0),
                                          COMM2("Mul", CONST(0.044715),
                                                COMM2("Mul", ANY(0), COMM2("Mul", ANY(0), ANY(0))))))))));

static int pass_gelu(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *n = &g->nodes[i];
        if (n->dead || n->n_outputs != 1 || n->outputs[0] < 0 || strcmp(n->op_type, "Mul") || n->domain[0])
            continue;
        match m;
        bool tanh_form = false;
        if (!match_at(g, n->outputs[0], gelu_erf, &m)) {
            if (!match_at(g, n->outputs[0], gelu_tanh, &m))
                continue;
            tanh_form = true;
        }
        int x = m.captures[0];
        if (g->values[x].info.dtype != ONYX_DTYPE_FLOAT && g->values[x].info.dtype != ONYX_DTYPE_DOUBLE)
            continue;
        new_attr approximate = {"approximate", ATTR_STRING, .s = tanh_form ? "tanh" : "none"};
        *st = rewrite(model, g, &m, "onyx", "Gelu", 1, 1, &x, 1, &approximate);
        rewrites++;
    }
    return rewrites;
}

/* ---- LayerNormalization written out (opset < 17 exports, and later ones that write it out) --- */

/* (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta, over the last axis. */
static const pattern *const layernorm = COMM2(
    "Add",
    COMM2("Mul",
          NODE2("Div", NODE2_AS(1, "Sub", ANY(0), NODE1("ReduceMean", ANY(0))),
                NODE1("Sqrt", COMM2("Add", NODE1("ReduceMean", NODE2("Pow", ANY(1), CONST(2.0))), ANY(4)))),
          ANY(2)),
    ANY(3));

/* The same from opset 18 on, where ReduceMean takes its axes as an input (slots 5 and 6). */
static const pattern *const layernorm_axes_input = COMM2(
    "Add",
    COMM2("Mul",
          NODE2("Div", NODE2_AS(1, "Sub", ANY(0), NODE2("ReduceMean", ANY(0), ANY(5))),
                NODE1("Sqrt", COMM2("Add", NODE2("ReduceMean", NODE2("Pow", ANY(1), CONST(2.0)), ANY(6)), ANY(4)))),
          ANY(2)),
    ANY(3));

/* A ReduceMean over the last axis only, keeping it: its axes an attribute (before opset 18) or
 * a constant input (from 18). */
static bool mean_over_last_axis(const graph *g, const node *n)
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

static int pass_layernorm(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *n = &g->nodes[i];
        match m;
        if (n->dead || n->n_outputs != 1 || n->outputs[0] < 0 || strcmp(n->op_type, "Add") || n->domain[0] ||
            !(match_at(g, n->outputs[0], layernorm, &m) || match_at(g, n->outputs[0], layernorm_axes_input, &m)))
            continue;
        bool means_ok = true;
        for (int k = 0; k < m.n_nodes; k++)
            if (!strcmp(g->nodes[m.nodes[k]].op_type, "ReduceMean"))
                means_ok &= mean_over_last_axis(g, &g->nodes[m.nodes[k]]);
        const value *x = &g->values[m.captures[0]], *eps = &g->values[m.captures[4]];
        const value *gamma = &g->values[m.captures[2]], *beta = &g->values[m.captures[3]];
        if (!means_ok || x->info.dtype != ONYX_DTYPE_FLOAT || eps->kind != VALUE_CONSTANT ||
            eps->info.dtype != ONYX_DTYPE_FLOAT || tensor_count(&eps->info) != 1 || gamma->info.dtype != x->info.dtype ||
            beta->info.dtype != x->info.dtype || gamma->info.rank != 1 || beta->info.rank != 1)
            continue;
        int inputs[3] = {m.captures[0], m.captures[2], m.captures[3]};
        new_attr attrs[2] = {{"axis", ATTR_INT, .i = -1}, {"epsilon", ATTR_FLOAT, .f = *(const float *)eps->info.data}};
        *st = rewrite(model, g, &m, "", "LayerNormalization", 17, 3, inputs, 2, attrs);
        rewrites++;
    }
    return rewrites;
}

/* ---- attention ----------------------------------------------------------------------------- */

/* The node producing v when it is a live node of the default domain with this op type, and v
 * its only output, read once (so the node can go into a fused one); else NULL. */
static node *sole_producer(graph *g, int v, const char *op_type)
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
static bool float_scalar(const graph *g, int v)
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
static bool scalar_value(const graph *g, int v, float *x)
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
static bool scalar_into(onyx_model *model, graph *g, int v, float x)
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

/* x when v is Sqrt(x) of a float scalar x (by its inferred shape), else -1. */
static int sqrt_root(const graph *g, int v)
{
    const value *val = &g->values[v];
    if (val->kind != VALUE_NODE || val->producer < 0)
        return -1;
    const node *n = &g->nodes[val->producer];
    if (n->dead || n->domain[0] || strcmp(n->op_type, "Sqrt") || n->n_inputs != 1 ||
        !float_scalar(g, n->inputs[0]))
        return -1;
    return n->inputs[0];
}

/* For a two-input node, the input that is not `known`, or -1. */
static int other_input(const node *n, int known)
{
    return n->inputs[0] == known ? n->inputs[1] : n->inputs[1] == known ? n->inputs[0] : -1;
}

/* MatMul(Softmax(mask(scale(MatMul(Q, K)))), V) -> onyx.Attention(Q, K, V, scale, add, cond),
 * where scale is an optional Mul or Div by a scalar (of the scores, or of Q before the first
 * MatMul), and mask an optional Add of a float tensor, then an optional Where choosing a
 * constant fill. Softmax must run along the last axis. */
static int pass_attention(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *out = &g->nodes[i];
        if (out->dead || out->domain[0] || strcmp(out->op_type, "MatMul") || out->n_inputs != 2 || out->outputs[0] < 0 ||
            g->values[out->outputs[0]].info.dtype != ONYX_DTYPE_FLOAT)
            continue;
        match m = {.n_nodes = 1, .nodes = {i}};
        node *softmax = sole_producer(g, out->inputs[0], "Softmax");
        if (!softmax)
            continue;
        const attribute *axis = node_attr(softmax, "axis");
        int rank = g->values[softmax->inputs[0]].info.rank;
        int64_t ax = axis && axis->type == ATTR_INT ? axis->i : softmax->opset >= 13 ? -1 : 1;
        if (!(ax == -1 && softmax->opset >= 13) && !(rank > 0 && ax == rank - 1))
            continue;
        m.nodes[m.n_nodes++] = (int)(softmax - g->nodes);
        int scores = softmax->inputs[0], cond = -1, add = -1, scale = -1, fill_when = 1;
        float fill = -INFINITY;
        bool divides = false;
        node *n;
        if ((n = sole_producer(g, scores, "Where"))) {
            /* Where(cond, fill, scores) or Where(cond, scores, fill), fill a scalar constant. */
            int a = n->inputs[1], b = n->inputs[2];
            int filler = g->values[a].kind == VALUE_CONSTANT ? a : b, rest = filler == a ? b : a;
            const value *f = &g->values[filler];
            if (f->kind != VALUE_CONSTANT || f->info.dtype != ONYX_DTYPE_FLOAT || tensor_count(&f->info) != 1)
                continue;
            fill = *(const float *)f->info.data;
            fill_when = filler == a;
            cond = n->inputs[0];
            scores = rest;
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
        }
        if ((n = sole_producer(g, scores, "Add"))) {
            /* One input continues the chain (it comes from a MatMul, maybe through a scale). */
            int a = n->inputs[0], b = n->inputs[1];
            bool a_chain = g->values[a].kind == VALUE_NODE && g->values[a].producer >= 0 &&
                           (!strcmp(g->nodes[g->values[a].producer].op_type, "MatMul") ||
                            !strcmp(g->nodes[g->values[a].producer].op_type, "Mul") ||
                            !strcmp(g->nodes[g->values[a].producer].op_type, "Div"));
            scores = a_chain ? a : b;
            add = a_chain ? b : a;
            if (g->values[add].info.dtype != ONYX_DTYPE_FLOAT)
                continue;
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
        }
        if ((n = sole_producer(g, scores, "Mul")) || (n = sole_producer(g, scores, "Div"))) {
            int c = !strcmp(n->op_type, "Div") ? n->inputs[1] : float_scalar(g, n->inputs[1]) ? n->inputs[1] : n->inputs[0];
            if (!float_scalar(g, c))
                continue;
            divides = !strcmp(n->op_type, "Div");
            scale = c;
            scores = other_input(n, c);
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
        }
        node *qk = sole_producer(g, scores, "MatMul");
        if (!qk || qk->n_inputs != 2)
            continue;
        m.nodes[m.n_nodes++] = (int)(qk - g->nodes);
        int q = qk->inputs[0];
        if (scale < 0 && ((n = sole_producer(g, q, "Div")) || (n = sole_producer(g, q, "Mul"))) &&
            float_scalar(g, n->inputs[1])) {
            /* Q scaled before the product: the same up to rounding. */
            divides = !strcmp(n->op_type, "Div");
            scale = n->inputs[1];
            q = n->inputs[0];
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
        }
        int k = qk->inputs[1];
        float k_factor;
        if ((n = sole_producer(g, k, "Mul")) && (scale < 0 || scalar_value(g, scale, NULL)) &&
            (scalar_value(g, n->inputs[1], &k_factor) || scalar_value(g, n->inputs[0], &k_factor))) {
            /* K scaled too: scaled_dot_product_attention's decomposition (both exporters of
             * PyTorch 2) multiplies Q and K^T each by sqrt(scale), for float16's range. The two
             * factors become one scale, held in the Mul's output value, which turns into a
             * constant as the Mul goes. */
            float q_factor = 1;
            if (scale >= 0)
                scalar_value(g, scale, &q_factor);
            int kt = scalar_value(g, n->inputs[1], NULL) ? n->inputs[0] : n->inputs[1];
            int combined = n->outputs[0];
            if (!scalar_into(model, g, combined, divides ? k_factor / q_factor : k_factor * q_factor)) {
                *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY,
                                "out of memory optimizing the graph");
                break;
            }
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
            k = kt;
            scale = combined;
            divides = false;
        }
        int root = scale >= 0 && !divides ? sqrt_root(g, scale) : -1;
        if (root >= 0 && (n = sole_producer(g, k, "Mul"))) {
            /* The same with sqrt(scale) computed while running (the TorchScript exporter
             * derives it from the head size): Q sqrt(s) times sqrt(s) K^T is s Q K^T. */
            int kt = sqrt_root(g, n->inputs[1]) == root ? n->inputs[0]
                     : sqrt_root(g, n->inputs[0]) == root ? n->inputs[1] : -1;
            if (kt >= 0) {
                m.nodes[m.n_nodes++] = (int)(n - g->nodes);
                k = kt;
                scale = root;
            }
        }
        int inputs[6] = {q, k, out->inputs[1], scale, add, cond};
        int n_inputs = cond >= 0 ? 6 : add >= 0 ? 5 : scale >= 0 ? 4 : 3;
        new_attr attrs[3] = {{"scale_divides", ATTR_INT, .i = divides}, {"fill", ATTR_FLOAT, .f = fill},
                             {"fill_when", ATTR_INT, .i = fill_when}};
        *st = rewrite(model, g, &m, "onyx", "Attention", 1, n_inputs, inputs, 3, attrs);
        rewrites++;
    }
    return rewrites;
}

/* ---- MatMul with bias, activation and residual -------------------------------------------- */

/* Whether a residual r may have the output y's shape: same rank, and no dim known to differ.
 * (FusedMatMul adds a residual that turns out smaller with broadcasting, so a wrong guess
 * costs only speed; one larger than the output fails when planning, as Add would.) */
static bool residual_may_fit(const onyx_tensor *r, const onyx_tensor *y)
{
    if (r->rank < 0 || r->rank != y->rank)
        return false;
    for (int d = 0; d < r->rank; d++)
        if (!dim_may_equal(r->dims[d], y->dims[d]) || (dim_known(r->dims[d]) && r->dims[d] == 1 && y->dims[d] != 1))
            return false;
    return true;
}

/* The only live node reading value v, or NULL (also when v is a graph output). */
static node *sole_consumer(graph *g, int v)
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

static bool is_op(const node *n, const char *domain, const char *op_type)
{
    return n && !n->dead && !strcmp(n->domain, domain) && !strcmp(n->op_type, op_type) && n->n_outputs == 1;
}

/* MatMul(A, W) [+ bias] [-> Relu | onyx.Gelu] [+ residual] -> onyx.FusedMatMul, for float32 with a
 * 2-D W, a constant bias of W's width, and a residual of exactly the output's shape. Walks
 * down from each MatMul through sole consumers. */
static int pass_fused_matmul(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *mm = &g->nodes[i];
        if (!is_op(mm, "", "MatMul") || mm->n_inputs != 2 || mm->outputs[0] < 0)
            continue;
        const onyx_tensor *a = &g->values[mm->inputs[0]].info, *w = &g->values[mm->inputs[1]].info;
        const onyx_tensor *y = &g->values[mm->outputs[0]].info;
        if (a->dtype != ONYX_DTYPE_FLOAT || w->rank != 2)
            continue;
        match m = {.n_nodes = 0};
        int last = mm->outputs[0], bias = -1, residual = -1;
        gemm_activation activation = GEMM_ACTIVATION_NONE;
        node *next = sole_consumer(g, last);
        if (is_op(next, "", "Add")) {
            int other = other_input(next, last);
            const value *b = other >= 0 ? &g->values[other] : NULL;
            if (b && b->kind == VALUE_CONSTANT && b->info.dtype == ONYX_DTYPE_FLOAT && b->info.rank == 1 &&
                b->info.dims[0] == w->dims[1]) {
                bias = other;
                m.nodes[m.n_nodes++] = (int)(next - g->nodes);
                last = next->outputs[0];
                next = sole_consumer(g, last);
            }
        }
        if (is_op(next, "", "Relu")) {
            activation = GEMM_ACTIVATION_RELU;
        } else if (is_op(next, "onyx", "Gelu") || is_op(next, "", "Gelu")) {
            /* onyx.Gelu made by pass_gelu, or ONNX's Gelu-20 as the dynamo exporter writes it. */
            const attribute *approx = node_attr(next, "approximate");
            activation = approx && approx->s && !strcmp(approx->s, "tanh") ? GEMM_ACTIVATION_GELU_TANH
                                                                        : GEMM_ACTIVATION_GELU_ERF;
        }
        if (activation != GEMM_ACTIVATION_NONE) {
            m.nodes[m.n_nodes++] = (int)(next - g->nodes);
            last = next->outputs[0];
            next = sole_consumer(g, last);
        }
        if (is_op(next, "", "Add")) {
            int other = other_input(next, last);
            if (other >= 0 && other != last && residual_may_fit(&g->values[other].info, y)) {
                residual = other;
                m.nodes[m.n_nodes++] = (int)(next - g->nodes);
            }
        }
        if (m.n_nodes == 0)
            continue;
        /* The root is the last node of the chain; the MatMul and the rest go. */
        int root = m.nodes[m.n_nodes - 1];
        m.nodes[m.n_nodes - 1] = i;
        memmove(m.nodes + 1, m.nodes, (size_t)(m.n_nodes) * sizeof(int));
        m.nodes[0] = root;
        m.n_nodes++;
        int inputs[4] = {mm->inputs[0], mm->inputs[1], bias, residual};
        new_attr attr = {"activation", ATTR_INT, .i = activation};
        *st = rewrite(model, g, &m, "onyx", "FusedMatMul", 1, residual >= 0 ? 4 : 3, inputs, 1, &attr);
        rewrites++;
    }
    return rewrites;
}

/* ---- driver -------------------------------------------------------------------------------- */

onyx_status graph_optimize(onyx_model *model, graph *g)
{
    onyx_status st = ONYX_OK;
    recount_uses(g);
    pass_layernorm(model, g, &st);
    if (!st)
        pass_gelu(model, g, &st);
    if (!st)
        pass_attention(model, g, &st);
    if (!st)
        pass_fused_matmul(model, g, &st);
    return st;
}
