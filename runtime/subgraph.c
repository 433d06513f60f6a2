/* Subgraphs for the control-flow operators: typing them at load, running them on demand.
 * A subgraph reads values of enclosing graphs by name; the importer made those the node's
 * implicit inputs (after its operator-visible inputs), which is where they are found here. */
#include "ir.h"
#include "plan.h"

#include <stdio.h>
#include <string.h>

void *op_alloc_temp(const op_context *ctx, size_t size)
{
    void *p = mem_alloc(ctx->env->mem, size);
    if (!p)
        op_error(ctx, ONYX_ERROR_LIMIT, "cannot allocate %zu bytes", size);
    return p;
}

void op_free_temp(const op_context *ctx, void *ptr) { mem_free(ctx->env->mem, ptr); }

const struct graph *op_attr_graph(const op_context *ctx, const char *name)
{
    const attribute *a = node_attr(ctx->node, name);
    if (a && a->type != ATTR_GRAPH) {
        op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' must be a graph", name);
        return NULL;
    }
    return a ? a->g : NULL;
}

int op_graph_input_count(const struct graph *g) { return g->n_inputs; }
int op_graph_output_count(const struct graph *g) { return g->n_outputs; }

/* The node's implicit input that the subgraph's outer value `name` stands for, or -1. */
static int implicit_index(const op_context *ctx, const char *name)
{
    const node *n = ctx->node;
    for (int k = n->n_inputs; k < n->n_inputs + n->n_implicit; k++)
        if (n->inputs[k] >= 0 && !strcmp(ctx->env->graph->values[n->inputs[k]].name, name))
            return k;
    return -1;
}

onyx_status op_graph_check(op_context *ctx, const struct graph *cg, const onyx_tensor *inputs,
                           onyx_tensor *outputs)
{
    graph *g = (graph *)cg; /* being built: the model is not loaded yet */
    onyx_model *model = ctx->env->model;
    if (!model)
        return op_error(ctx, ONYX_ERROR_INVALID_STATE, "subgraphs are checked only while loading");
    for (int i = 0; i < g->n_inputs; i++) {
        value *v = &g->values[g->inputs[i]];
        if (v->info.dtype == ONYX_DTYPE_UNDEFINED) {
            v->info = inputs[i];
            v->info.data = NULL;
        } else if (inputs[i].dtype && v->info.dtype != inputs[i].dtype) {
        {
            char a[64], b[64];
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "subgraph input '%s' is declared %s but receives %s",
                            v->name, type_str(v->info.dtype, a, sizeof a),
                            type_str(inputs[i].dtype, b, sizeof b));
        }
        }
    }
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].kind != VALUE_OUTER)
            continue;
        int k = implicit_index(ctx, g->values[v].name);
        if (k < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "subgraph value '%s' is not found", g->values[v].name);
        g->values[v].info = ctx->env->graph->values[ctx->node->inputs[k]].info;
        g->values[v].info.data = NULL; /* owned by the enclosing graph */
    }
    onyx_status st = graph_check(model, g);
    if (st) {
        char inner[ERRMSG_SIZE];
        snprintf(inner, sizeof inner, "%s", model->errmsg);
        return op_error(ctx, st, "in its subgraph: %s", inner);
    }
    /* Each output's type as the producing nodes give it; where they cannot, as the subgraph
     * declares it (0 when it does not: the operator decides what that means). */
    for (int i = 0; i < g->n_outputs; i++) {
        outputs[i] = g->values[g->outputs[i]].info;
        outputs[i].data = NULL;
        if (outputs[i].dtype == ONYX_DTYPE_UNDEFINED)
            outputs[i].dtype = g->output_decl[i].dtype;
    }
    return ONYX_OK;
}

onyx_status op_graph_run(const op_context *ctx, const struct graph *g, const onyx_tensor *inputs,
                         onyx_tensor *outputs)
{
    /* Every run of a subgraph, nested ones too, counts against the limit of the run that
     * started it: a Loop of 10^18 trivial iterations is refused, not run for years. */
    _Atomic int64_t *left = ctx->env->subgraph_runs_left;
    if (left && atomic_fetch_sub(left, 1) <= 0)
        return op_error(ctx, ONYX_ERROR_LIMIT, "runs its subgraph more than the limit of %lld subgraph runs "
                        "in one run", (long long)ctx->env->limits->subgraph_runs);
    exec_env env = {.mem = ctx->env->mem, .limits = ctx->env->limits};
    env.op.subgraph_runs_left = left;
    const onyx_tensor **outer = op_alloc_temp(ctx, (size_t)(g->n_values + 1) * sizeof *outer);
    if (!outer)
        return ONYX_ERROR_LIMIT;
    for (int v = 0; v < g->n_values; v++) {
        int k = g->values[v].kind == VALUE_OUTER ? implicit_index(ctx, g->values[v].name) : -1;
        outer[v] = k >= 0 ? ctx->inputs[k] : NULL;
    }
    /* A value given where the subgraph declares an optional of its type (a Loop's carried
     * optional, filled by the body) is wrapped into one. */
    onyx_tensor *given = NULL;
    onyx_status st = ONYX_OK;
    for (int i = 0; i < g->n_inputs && !st; i++) {
        int declared = g->values[g->inputs[i]].info.dtype;
        if (!(declared & ONYX_OPTIONAL) || (int)inputs[i].dtype != container_item_type(declared))
            continue;
        if (!given) {
            if (!(given = op_alloc_temp(ctx, (size_t)g->n_inputs * sizeof *given))) {
                st = ONYX_ERROR_LIMIT;
                break;
            }
            memcpy(given, inputs, (size_t)g->n_inputs * sizeof *given);
        }
        size_t size = container_size(1, &inputs[i]);
        void *block = size == SIZE_MAX ? NULL : op_alloc_temp(ctx, size);
        if (!block) {
            st = ONYX_ERROR_LIMIT;
            break;
        }
        container_write(block, size, 1, &inputs[i]);
        given[i] = (onyx_tensor){.dtype = (onyx_dtype)declared, .rank = 1, .dims = {(int64_t)size},
                                 .data = block};
    }
    plan p = {0};
    if (!st)
        st = plan_run_subgraph(&p, &env, g, given ? given : inputs, outer);
    for (int i = 0; given && i < g->n_inputs; i++)
        if (given[i].data != inputs[i].data)
            op_free_temp(ctx, given[i].data);
    op_free_temp(ctx, given);
    op_free_temp(ctx, outer);
    if (st == ONYX_ERROR_LIMIT && !env.op.errmsg[0]) {
        plan_free(&p, env.mem);
        return st;
    }
    if (st)
        return op_error(ctx, st, "in its subgraph: %s", env.op.errmsg);
    int done = 0;
    for (; done < g->n_outputs; done++) {
        const onyx_tensor *t = &p.tensors[g->outputs[done]];
        size_t bytes = value_bytes(t); /* a sequence's block too: it holds no pointers */
        outputs[done] = *t;
        if (!(outputs[done].data = op_alloc_temp(ctx, bytes))) {
            st = ONYX_ERROR_LIMIT;
            break;
        }
        if (bytes)
            memcpy(outputs[done].data, t->data, bytes);
    }
    if (st)
        for (int i = 0; i < done; i++)
            op_free_temp(ctx, outputs[i].data);
    plan_free(&p, env.mem);
    return st;
}
