/* Binding a node to the tensors it reads and writes, and running one node on the spot: the
 * shared step of load-time folding, plan-time folding and node-by-node execution. */
#include "ir.h"

#include <stdio.h>
#include <string.h>

void node_bind(op_context *ctx, op_env *env, const node *n, onyx_tensor **in, onyx_tensor **out)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->node = n;
    ctx->env = env;
    ctx->opset = n->opset;
    ctx->n_inputs = n->n_inputs;
    ctx->n_outputs = n->n_outputs;
    ctx->n_implicit = n->n_implicit;
    ctx->inputs = in;
    ctx->outputs = out;
    ctx->params = n->params;
    ctx->n_tasks = 1;
}

void node_point(const node *n, onyx_tensor *tensors, onyx_tensor **in, onyx_tensor **out)
{
    for (int i = 0; i < n->n_inputs + n->n_implicit; i++)
        in[i] = n->inputs[i] >= 0 ? &tensors[n->inputs[i]] : NULL;
    for (int i = 0; i < n->n_outputs; i++)
        out[i] = n->outputs[i] >= 0 ? &tensors[n->outputs[i]] : NULL;
}

onyx_status node_reshape(op_context *ctx)
{
    ctx->n_tasks = 1;
    ctx->task_cost = 0;
    ctx->scratch_bytes = 0;
    ctx->output_is_view = false;
    ctx->state = NULL;
    onyx_status st = ctx->node->op->reshape(ctx);
    if (st || !ctx->concrete)
        return st;
    for (int i = 0; i < ctx->n_outputs; i++) {
        onyx_tensor *t = ctx->outputs[i];
        if (!t)
            continue;
        if (t->rank < 0)
            return ONYX_DEFER; /* the operator could not tell the shape without data */
        if (type_is_container(t->dtype)) {
            /* A block, sized by op_container_size from the items' shapes (checked there). */
            if (t->rank != 1 || t->dims[0] <= 0)
                return ONYX_DEFER;
            continue;
        }
        for (int d = 0; d < t->rank; d++)
            if (!dim_known(t->dims[d]))
                return ONYX_DEFER;
        /* The message names the node only when there is one to write: formatting it for
         * every output of every plan costs more than the check (a decoder plans each run). */
        st = shape_validate(t, ctx->env->limits, "", ctx->env->errmsg);
        if (st) {
            char what[300];
            snprintf(what, sizeof what, "node '%s' (%s): output '%s'", ctx->node->name, ctx->node->op_type,
                     op_output_name(ctx, i));
            shape_validate(t, ctx->env->limits, what, ctx->env->errmsg);
            ctx->env->status = st;
            atomic_store(&ctx->env->failed, 1);
            return st;
        }
    }
    if (ctx->n_tasks < 0)
        ctx->n_tasks = 0;
    return ONYX_OK;
}

onyx_status node_evaluate(op_context *ctx)
{
    op_env *env = ctx->env;
    mem_block *states = NULL, **saved = env->blocks;
    env->blocks = &states;
    ctx->concrete = true;
    for (int i = 0; i < ctx->n_inputs + ctx->n_implicit; i++) {
        onyx_tensor *t = ctx->inputs[i];
        /* Empty and known by its shape alone (a sequence always has its block). */
        if (t && !t->data && !type_is_container(t->dtype) && tensor_count(t) == 0)
            t->data = (void *)&empty_tensor_data;
    }
    /* String outputs: their block sizes come from reshape (op_string_size). */
    size_t local_sizes[8], *sizes = NULL;
    bool strings = false;
    for (int i = 0; i < ctx->n_outputs; i++)
        strings |= ctx->outputs[i] && type_is_string(ctx->outputs[i]->dtype);
    onyx_status st = ONYX_OK;
    if (strings) {
        sizes = ctx->n_outputs <= 8 ? local_sizes
                                    : mem_alloc(env->mem, (size_t)ctx->n_outputs * sizeof *sizes);
        if (!sizes)
            st = op_error(ctx, ONYX_ERROR_LIMIT, "cannot allocate the sizes of %d outputs", ctx->n_outputs);
        else
            memset(sizes, 0, (size_t)ctx->n_outputs * sizeof *sizes);
        ctx->string_bytes = sizes;
    }
    if (!st)
        st = node_reshape(ctx);
    void *scratch = NULL;
    int allocated = 0;
    for (int i = 0; !st && strings && i < ctx->n_outputs; i++)
        if (ctx->outputs[i] && type_is_string(ctx->outputs[i]->dtype) && !sizes[i])
            st = op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                          "output '%s': the operator does not produce string tensors",
                          op_output_name(ctx, i));
    if (!st && ctx->scratch_bytes && !(scratch = mem_alloc(env->mem, ctx->scratch_bytes)))
        st = op_error(ctx, ONYX_ERROR_LIMIT, "cannot allocate %zu bytes of scratch memory",
                      ctx->scratch_bytes);
    for (; !st && allocated < ctx->n_outputs; allocated++) {
        onyx_tensor *t = ctx->outputs[allocated];
        if (!t)
            continue;
        bool string = type_is_string(t->dtype);
        size_t bytes = string ? sizes[allocated] : value_bytes(t);
        /* A string block zeroed: entries a run leaves unwritten read as empty strings. */
        if (!(t->data = string ? mem_alloc(env->mem, bytes) : mem_alloc_raw(env->mem, bytes)))
            st = op_error(ctx, ONYX_ERROR_LIMIT, "cannot allocate %zu bytes for output '%s'", bytes,
                          op_output_name(ctx, allocated));
        else if (string) /* the header first: run writes the rest (op_string_begin reads it) */
            memcpy(t->data, (int64_t[2]){(int64_t)bytes, tensor_count(t)}, 2 * sizeof(int64_t));
    }
    if (!st && ctx->n_tasks > 0)
        st = ctx->node->op->run(ctx, 0, ctx->n_tasks, scratch ? scratch : (void *)&empty_tensor_data);
    if (st) {
        for (int i = 0; i < allocated; i++)
            if (ctx->outputs[i]) {
                mem_free(env->mem, ctx->outputs[i]->data);
                ctx->outputs[i]->data = NULL;
            }
    }
    mem_free(env->mem, scratch);
    if (sizes != local_sizes)
        mem_free(env->mem, sizes);
    ctx->string_bytes = NULL;
    mem_block_free_all(env->mem, &states);
    env->blocks = saved;
    return st;
}
