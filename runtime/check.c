/* Load-time pass over the graph in order: bind each node to its operator, check it, infer
 * output types and (symbolic) shapes, and fold it into constants when all its inputs are
 * constant. Every unsupported node is reported at once; then dead nodes are dropped. */
#include "ir.h"

#include <stdio.h>
#include <string.h>

/* Appends "line" to the list of unsupported nodes in errmsg (kept within its size). */
static void append_line(char *buf, const char *line, int *count)
{
    size_t used = strlen(buf);
    (*count)++;
    if (*count > 20) {
        if (*count == 21 && used + 8 < ERRMSG_SIZE)
            strcat(buf, "\n  ...");
        return;
    }
    if (used + 3 < ERRMSG_SIZE) {
        strcat(buf, "\n  ");
        strncat(buf, line, ERRMSG_SIZE - used - 4);
    }
}

static bool inputs_typed(const graph *g, const node *n)
{
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] >= 0 && g->values[n->inputs[i]].info.dtype == ONYX_DTYPE_UNDEFINED)
            return false;
    return true;
}

static bool inputs_ranked(const graph *g, const node *n)
{
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] >= 0 && g->values[n->inputs[i]].info.rank < 0)
            return false;
    return true;
}

/* Whether every input the node reads is a constant (and every shape-only input has known
 * dims), so that it can be computed now. */
static bool node_foldable(const graph *g, const node *n)
{
    if (n->n_implicit || n->n_outputs == 0)
        return false;
    for (int i = 0; i < n->n_inputs; i++) {
        int v = n->inputs[i];
        if (v < 0)
            continue;
        const value *val = &g->values[v];
        if (op_reads_shape_only(n->op, i)) {
            if (val->info.rank < 0)
                return false;
            for (int d = 0; d < val->info.rank; d++)
                if (!dim_known(val->info.dims[d]))
                    return false;
        } else if (val->kind != VALUE_CONSTANT || (!val->info.data && tensor_count(&val->info) > 0)) {
            return false;
        }
    }
    return true;
}

static onyx_status fold_node(graph *g, node *n, op_context *ctx)
{
    atomic_store(ctx->env->subgraph_runs_left, ctx->env->limits->subgraph_runs);
    onyx_status st = node_evaluate(ctx);
    if (st)
        return st;
    for (int o = 0; o < n->n_outputs; o++)
        if (n->outputs[o] >= 0)
            g->values[n->outputs[o]].kind = VALUE_CONSTANT;
    n->dead = true;
    return ONYX_OK;
}

/* Marks nodes whose outputs nobody reads as dead (their params go with them), and frees the
 * data of constants nobody reads, or with `release_copied` that only operators holding their
 * own copy read (weights packed for the GEMM: freed only at the very end of loading, since a
 * fusion pass may still make a new operator that packs them again). */
void graph_prune(onyx_model *model, graph *g, bool release_copied)
{
    int *readers = mem_alloc(&model->mem, (size_t)(g->n_values + 1) * sizeof(int));
    for (int v = 0; v < g->n_values; v++)
        g->values[v].n_uses = 0;
    for (int i = 0; i < g->n_outputs; i++)
        g->values[g->outputs[i]].n_uses++;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        node *n = &g->nodes[i];
        if (!n->dead) {
            bool used = false;
            for (int o = 0; o < n->n_outputs; o++)
                used |= n->outputs[o] >= 0 && g->values[n->outputs[o]].n_uses > 0;
            n->dead = !used;
        }
        if (n->dead) {
            mem_block_free_all(&model->mem, &n->param_blocks);
            n->params = NULL;
            continue;
        }
        for (int k = 0; k < n->n_inputs + n->n_implicit; k++) {
            if (n->inputs[k] < 0)
                continue;
            g->values[n->inputs[k]].n_uses++;
            if (readers && !(release_copied && k < 32 && (n->released_inputs & (1u << k))))
                readers[n->inputs[k]]++;
        }
    }
    for (int i = 0; readers && i < g->n_outputs; i++)
        readers[g->outputs[i]]++;
    for (int v = 0; v < g->n_values; v++) {
        value *val = &g->values[v];
        int reading = readers ? readers[v] : val->n_uses;
        if (val->kind == VALUE_CONSTANT && reading == 0 && val->info.data)
            value_free_data(&model->mem, val);
    }
    mem_free(&model->mem, readers);
}

/* A graph output whose declared dtype differs from what its producer computes. */
static onyx_status check_outputs(onyx_model *model, const graph *g)
{
    for (int i = 0; i < g->n_outputs; i++) {
        const onyx_tensor *decl = &g->output_decl[i], *got = &g->values[g->outputs[i]].info;
        char a[64], b[64];
        if (decl->dtype && got->dtype && decl->dtype != got->dtype)
            return set_error(model->errmsg, ONYX_ERROR_INVALID_MODEL,
                             "graph output '%s' is declared %s but computed as %s",
                             g->values[g->outputs[i]].name, type_str(decl->dtype, a, sizeof a),
                             type_str(got->dtype, b, sizeof b));
    }
    return ONYX_OK;
}

/* What checking nodes of one graph needs: the error/allocation environment and pointer
 * arrays for the node being checked. */
typedef struct checker {
    onyx_model *model;
    graph *g;
    op_env env;
    mem_block *no_state;
    _Atomic int64_t subgraph_runs_left; /* for each node computed at load */
    onyx_tensor **ptrs;
    size_t cap;
} checker;

static void checker_init(checker *c, onyx_model *model, graph *g)
{
    memset(c, 0, sizeof *c);
    c->model = model;
    c->g = g;
    c->env = (op_env){.model = model, .mem = &model->mem, .limits = &model->limits, .graph = g};
    c->env.blocks = &c->no_state;
    c->env.subgraph_runs_left = &c->subgraph_runs_left;
}

static void checker_done(checker *c)
{
    mem_free(&c->model->mem, c->ptrs);
    mem_block_free_all(&c->model->mem, &c->no_state); /* state an operator made at load */
}

/* Binds n to its operator `reg`, checks it (dtypes, attributes) and, with `infer`, infers its
 * output shapes. ONYX_ERROR_UNSUPPORTED (message in c->env.errmsg) when onyx lacks the case;
 * other errors leave their message there too. ctx stays bound for folding. */
static onyx_status check_node(checker *c, node *n, const op_registration *reg, bool infer, op_context *ctx)
{
    graph *g = c->g;
    /* At least one slot, so that the pointers below never offset a NULL array. */
    size_t slots = (size_t)n->n_inputs + (size_t)n->n_implicit + (size_t)n->n_outputs + 1;
    if (slots > c->cap) {
        mem_free(&c->model->mem, c->ptrs);
        if (!(c->ptrs = mem_alloc(&c->model->mem, slots * sizeof *c->ptrs))) {
            c->cap = 0;
            return set_error(c->env.errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory checking nodes");
        }
        c->cap = slots;
    }
    onyx_tensor **in = c->ptrs, **out = c->ptrs + n->n_inputs + n->n_implicit;
    for (int k = 0; k < n->n_inputs + n->n_implicit; k++)
        in[k] = n->inputs[k] >= 0 ? &g->values[n->inputs[k]].info : NULL;
    for (int k = 0; k < n->n_outputs; k++)
        out[k] = n->outputs[k] >= 0 ? &g->values[n->outputs[k]].info : NULL;
    n->op = reg->op;
    node_bind(ctx, &c->env, n, in, out);
    atomic_store(&c->env.failed, 0);
    onyx_status st = ONYX_OK;
    /* The first output is required by every ONNX operator but the recurrent ones. */
    if (!n->op->first_output_optional && (n->n_outputs == 0 || n->outputs[0] < 0))
        st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "its first output has no name");
    /* Sequences and optionals reach only the inputs an operator says it takes them on. */
    for (int k = 0; !st && k < n->n_inputs; k++)
        if (in[k] && type_is_container(in[k]->dtype) &&
            !(n->op->container_inputs >> (k < 31 ? k : 31) & 1u)) {
            char type[64];
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d '%s' is a %s; %s takes a tensor there", k,
                          op_input_name(ctx, k), type_str(in[k]->dtype, type, sizeof type), n->op_type);
        }
    /* The registry's dtypes are those of input 0's elements (of a sequence's too). */
    if (!st && reg->dtypes && n->n_inputs > 0 && in[0] && !(reg->dtypes & (1u << (in[0]->dtype & 0x1f))))
        st = op_error(ctx, ONYX_ERROR_UNSUPPORTED, "no implementation for input dtype %s",
                      onyx_dtype_name(in[0]->dtype & 0xff));
    if (!st)
        st = n->op->check(ctx);
    n->params = ctx->params;
    n->released_inputs = ctx->released_inputs;
    if (st) {
        n->op = NULL;
        n->supported = st != ONYX_ERROR_UNSUPPORTED && n->supported;
        return st;
    }
    if (!infer || !inputs_ranked(g, n))
        return ONYX_OK; /* shapes stay unknown: inferred when planning */
    /* Symbolic inference; ONYX_DEFER when the shapes depend on data. */
    ctx->concrete = false;
    atomic_store(&c->env.failed, 0);
    st = n->op->reshape(ctx);
    if (st == ONYX_DEFER) {
        st = ONYX_OK;
        for (int k = 0; k < n->n_outputs; k++)
            if (out[k])
                out[k]->rank = -1;
    }
    return st;
}

onyx_status node_setup(onyx_model *model, graph *g, node *n)
{
    const op_registration *reg = registry_find(n->domain, n->op_type, n->opset);
    if (!reg || !reg->op)
        return set_error(model->errmsg, ONYX_ERROR_INVALID_STATE, "no operator %s.%s-%d for a rewritten node",
                         n->domain, n->op_type, n->opset);
    checker c;
    checker_init(&c, model, g);
    op_context ctx;
    n->supported = true;
    onyx_status st = check_node(&c, n, reg, true, &ctx);
    if (st)
        snprintf(model->errmsg, ERRMSG_SIZE, "%s", c.env.errmsg);
    checker_done(&c);
    return st;
}

onyx_status graph_check(onyx_model *model, graph *g)
{
    checker c;
    checker_init(&c, model, g);
    char unsupported[ERRMSG_SIZE] = "";
    int n_unsupported = 0;
    onyx_status st = ONYX_OK;

    for (int i = 0; i < g->n_nodes && !st; i++) {
        node *n = &g->nodes[i];
        char line[ERRMSG_SIZE];
        if (n->opset < 0) {
            st = set_error(model->errmsg, ONYX_ERROR_INVALID_MODEL,
                           "node '%s' (%s): its domain '%s' is not imported by the model", n->name,
                           n->op_type, n->domain);
            break;
        }
        const op_registration *reg = registry_find(n->domain, n->op_type, n->opset);
        if (!reg || !reg->op) {
            if (!reg)
                snprintf(line, sizeof line, "node '%s' (%s%s%s): no operator %s at opset %d of domain '%s'",
                         n->name, n->domain, n->domain[0] ? "." : "", n->op_type, n->op_type, n->opset,
                         n->domain[0] ? n->domain : "ai.onnx");
            else
                snprintf(line, sizeof line, "node '%s' (%s%s%s): %s-%d (in effect at opset %d) is not supported: %s",
                         n->name, n->domain, n->domain[0] ? "." : "", n->op_type, n->op_type, reg->since,
                         n->opset, reg->why);
            append_line(unsupported, line, &n_unsupported);
            continue;
        }
        n->supported = true;
        if (!inputs_typed(g, n))
            continue; /* behind an unsupported node: its dtypes cannot be checked */
        op_context ctx;
        /* Once the model cannot load, only the rest of the unsupported nodes matter. */
        st = check_node(&c, n, reg, n_unsupported == 0, &ctx);
        if (st == ONYX_ERROR_UNSUPPORTED) {
            append_line(unsupported, c.env.errmsg, &n_unsupported);
            st = ONYX_OK;
            continue;
        }
        if (!st && !n_unsupported && node_foldable(g, n)) {
            atomic_store(&c.env.failed, 0);
            st = fold_node(g, n, &ctx);
        }
        if (st)
            snprintf(model->errmsg, ERRMSG_SIZE, "%s", c.env.errmsg);
    }
    checker_done(&c);
    if (!st && n_unsupported)
        st = set_error(model->errmsg, ONYX_ERROR_UNSUPPORTED, "%d node%s not supported by onyx:%s",
                       n_unsupported, n_unsupported == 1 ? " is" : "s are", unsupported);
    if (!st)
        st = check_outputs(model, g);
    if (!st)
        graph_prune(model, g, false);
    return st;
}
