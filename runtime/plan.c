/* Plans (shapes, folding, kernels, one memory arena) and runs a graph. See plan.h. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARENA_ALIGN 64
/* A step whose total cost is below this stays on one thread: waking workers costs more. */
#define PARALLEL_MIN_COST 32768

static void *plan_alloc(plan *p, exec_env *env, size_t size)
{
    return mem_block_alloc(env->mem, &p->blocks, size);
}

static onyx_status plan_oom(exec_env *env, const char *what)
{
    atomic_store(&env->op.failed, 1);
    env->op.status = ONYX_ERROR_LIMIT;
    return set_error(env->op.errmsg, ONYX_ERROR_LIMIT,
                     "cannot allocate %s (out of memory or above the memory limit)", what);
}

enum { NODE_NONE, NODE_FOLDED, NODE_STEP }; /* plan.node_kind */

static void plan_release(plan *p, mem *m)
{
    for (int i = 0; i < p->n_owned; i++)
        mem_free(m, p->owned[i]);
    for (int v = 0; p->folded && v < p->graph->n_values; v++)
        mem_free(m, p->folded[v]);
    for (int i = 0; p->node_blocks && i < p->graph->n_nodes; i++)
        mem_block_free_all(m, &p->node_blocks[i]);
    mem_free(m, p->arena);
    mem_free(m, p->scratch);
    mem_block_free_all(m, &p->blocks);
    int64_t plans = p->plans, replans = p->replans;
    memset(p, 0, sizeof *p);
    p->plans = plans;
    p->replans = replans;
}

/* Starts a plan again for other shapes: the steps, folded values and states of the last one
 * stay where they are, to be kept where their inputs did not change (plan_build_static). */
static void plan_reset_shapes(plan *p)
{
    p->ready = false;
    p->deferred_by = NULL;
    p->n_steps = 0;
    p->arena_bytes = 0;
    p->scratch_per_thread = 0;
}

void plan_free(plan *p, mem *m)
{
    if (p)
        plan_release(p, m);
}

static bool same_signature(const plan *p, const graph *g, const onyx_tensor *inputs)
{
    if (!p->ready || p->eager || p->graph != g)
        return false;
    for (int i = 0; i < g->n_inputs; i++) {
        const onyx_tensor *a = &p->signature[i], *b = &inputs[i];
        if (a->rank != b->rank || memcmp(a->dims, b->dims, (size_t)a->rank * sizeof(int64_t)))
            return false;
    }
    return true;
}

/* Whether every input node n reads has data now (constants, values folded while planning). */
static bool inputs_known(const op_context *ctx)
{
    for (int i = 0; i < ctx->n_inputs + ctx->n_implicit; i++) {
        const onyx_tensor *t = ctx->inputs[i];
        if (t && !t->data && !op_reads_shape_only(ctx->node->op, i) && tensor_count(t) > 0)
            return false;
    }
    return true;
}

/* Whether node n reads or writes a sequence, an optional or a string tensor: such a value has
 * no fixed size to plan (its items and their shapes, or its strings' lengths, are known only
 * when it is computed), so the graph then runs node by node, each value allocated when
 * computed (the same as for a shape that needs data: ONYX_DEFER). */
static bool variable_size(const onyx_tensor *t)
{
    return t && (type_is_container(t->dtype) || type_is_string(t->dtype));
}

static bool touches_containers(const op_context *ctx)
{
    for (int i = 0; i < ctx->n_inputs + ctx->n_implicit; i++)
        if (variable_size(ctx->inputs[i]))
            return true;
    for (int i = 0; i < ctx->n_outputs; i++)
        if (variable_size(ctx->outputs[i]))
            return true;
    return false;
}

/* The tensors for one planning: value infos, graph inputs with the caller's shapes. */
static onyx_status plan_tensors(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs,
                                bool with_data)
{
    p->graph = g;
    if (!p->tensors && /* else kept from the last plan of g */
        (!(p->tensors = plan_alloc(p, env, (size_t)g->n_values * sizeof(onyx_tensor))) ||
         !(p->signature = plan_alloc(p, env, (size_t)(g->n_inputs + 1) * sizeof(onyx_tensor))) ||
         !(p->owned = plan_alloc(p, env, (size_t)(g->n_values + 1) * sizeof(void *)))))
        return plan_oom(env, "the plan");
    for (int v = 0; v < g->n_values; v++) {
        p->tensors[v] = g->values[v].info;
        if (g->values[v].kind != VALUE_CONSTANT)
            p->tensors[v].data = NULL;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        onyx_tensor *t = &p->tensors[g->inputs[i]];
        t->rank = inputs[i].rank;
        memcpy(t->dims, inputs[i].dims, sizeof t->dims);
        t->data = with_data ? inputs[i].data : NULL;
        p->signature[i] = inputs[i];
        p->signature[i].data = NULL;
    }
    return ONYX_OK;
}

/* The tensors of a static plan: allocated with the arrays kept across plans of the graph, and
 * set from the value infos; or `again` (those of the last plan, kept), with the changed
 * flags of the graph inputs whose shapes differ. */
static onyx_status static_tensors(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs,
                                  bool again)
{
    size_t nv = (size_t)g->n_values + 1, nn = (size_t)g->n_nodes + 1;
    if (!again) {
        onyx_status st = plan_tensors(p, env, g, inputs, false);
        if (st)
            return st;
        if (!(p->folded = plan_alloc(p, env, nv * sizeof(void *))) ||
            !(p->changed = plan_alloc(p, env, nv)) ||
            !(p->node_blocks = plan_alloc(p, env, nn * sizeof(mem_block *))) ||
            !(p->node_kind = plan_alloc(p, env, nn)))
            return plan_oom(env, "the plan");
        memset(p->changed, 1, nv);
        return ONYX_OK;
    }
    memset(p->changed, 0, nv);
    /* The steps' values have no data while planning (the arena is placed after): a pointer
     * left from the last plan would make their readers look foldable. */
    for (int v = 0; v < g->n_values; v++)
        if (!p->folded[v] && g->values[v].kind != VALUE_CONSTANT)
            p->tensors[v].data = NULL;
    for (int i = 0; i < g->n_inputs; i++) {
        onyx_tensor *t = &p->tensors[g->inputs[i]];
        if (t->rank != inputs[i].rank || memcmp(t->dims, inputs[i].dims, (size_t)t->rank * sizeof(int64_t))) {
            p->changed[g->inputs[i]] = 1;
            t->rank = inputs[i].rank;
            memcpy(t->dims, inputs[i].dims, sizeof t->dims);
        }
        t->data = NULL;
        p->signature[i] = inputs[i];
        p->signature[i].data = NULL;
    }
    return ONYX_OK;
}

static onyx_status bind_step(plan *p, exec_env *env, const node *n, op_context *ctx)
{
    size_t n_in = (size_t)n->n_inputs + (size_t)n->n_implicit;
    int index = (int)(n - p->graph->nodes);
    size_t n_nodes = (size_t)p->graph->n_nodes + 1;
    if (!p->node_ptrs && !(p->node_ptrs = plan_alloc(p, env, n_nodes * sizeof *p->node_ptrs)))
        return plan_oom(env, "the plan");
    onyx_tensor **ptrs = p->node_ptrs[index];
    size_t n_ptrs = n_in + (size_t)n->n_outputs + 1;
    if (!ptrs && !(ptrs = p->node_ptrs[index] = plan_alloc(p, env, n_ptrs * sizeof *ptrs)))
        return plan_oom(env, "the plan");
    node_bind(ctx, &env->op, n, ptrs, ptrs + n_in);
    node_point(n, p->tensors, ctx->inputs, ctx->outputs);
    return ONYX_OK;
}

/* Evaluates a node now; its outputs' data is owned by the plan. */
static onyx_status evaluate_owned(plan *p, op_context *ctx)
{
    onyx_status st = node_evaluate(ctx);
    if (st)
        return st;
    for (int o = 0; o < ctx->n_outputs; o++)
        if (ctx->outputs[o])
            p->owned[p->n_owned++] = ctx->outputs[o]->data;
    return ONYX_OK;
}

/* ---- memory plan ------------------------------------------------------------------------- */

typedef struct interval {
    int value;
    int first, last; /* steps during which the value must hold */
    size_t size, offset;
} interval;

static int by_size_desc(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->first - y->first;
}

static bool is_graph_output(const graph *g, int v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

/* Gives each value produced by a step an offset in one arena so that values alive at the
 * same time never overlap: greedy, largest first, lowest fitting offset. A view's output
 * (Reshape and the like) shares its input's memory, unless it is a graph output: the two
 * then form one group whose lifetime spans both. */
/* Points the values at the arena. */
static void place_values(plan *p, const int *first, const int *group)
{
    const graph *g = p->graph;
    for (int v = 0; v < g->n_values; v++)
        if (first[v] >= 0 && group[v] == v)
            p->tensors[v].data = p->arena + p->slot_offset[v];
    for (int v = 0; v < g->n_values; v++)
        if (first[v] >= 0 && group[v] != v)
            p->tensors[v].data = p->tensors[group[v]].data;
}

static size_t aligned_bytes(const onyx_tensor *t)
{
    return (tensor_bytes(t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

/* A re-plan with the steps of the last plan (`same_steps`): when every value fits what the
 * last layout set aside for it, the layout stands (lifetimes and views are those of the same
 * steps, kept in the work arrays). */
static bool keep_layout(plan *p, bool same_steps)
{
    const graph *g = p->graph;
    if (!same_steps || !p->layout_ok || !p->arena)
        return false;
    const int *first = p->memory_work, *group = first + 2 * ((size_t)g->n_values + 1);
    for (int v = 0; v < g->n_values; v++)
        if (first[v] >= 0 && group[v] == v && aligned_bytes(&p->tensors[v]) > p->slot_size[v])
            return false;
    size_t used = 0;
    for (int v = 0; v < g->n_values; v++)
        if (first[v] >= 0 && group[v] == v) {
            p->slot_need[v] = aligned_bytes(&p->tensors[v]);
            if (p->slot_offset[v] + p->slot_need[v] > used)
                used = p->slot_offset[v] + p->slot_need[v];
        }
    p->arena_bytes = used;
    place_values(p, first, group);
    return true;
}

static onyx_status plan_memory(plan *p, exec_env *env, bool same_steps)
{
    const graph *g = p->graph;
    if ((p->layout_kept = keep_layout(p, same_steps)))
        return ONYX_OK;
    p->layout_ok = false;
    size_t nv1 = (size_t)g->n_values + 1;
    if (!p->slot_offset && (!(p->slot_offset = plan_alloc(p, env, nv1 * sizeof(size_t))) ||
                            !(p->slot_size = plan_alloc(p, env, nv1 * sizeof(size_t))) ||
                            !(p->slot_need = plan_alloc(p, env, nv1 * sizeof(size_t)))))
        return plan_oom(env, "the memory plan");
    /* Work arrays kept with the plan's arrays: a re-plan allocates none. */
    size_t nv = (size_t)g->n_values + 1;
    size_t ints = (3 * nv * sizeof(int) + sizeof(interval) - 1) / sizeof(interval) * sizeof(interval);
    if (!p->memory_work &&
        !(p->memory_work = plan_alloc(p, env, ints + nv * sizeof(interval) + nv * sizeof(interval *))))
        return plan_oom(env, "the memory plan");
    int *first = p->memory_work, *last = first + nv, *group = last + nv;
    interval *iv = (interval *)((unsigned char *)p->memory_work + ints);
    interval **placed = (interval **)(iv + nv);
    for (int v = 0; v < g->n_values; v++)
        group[v] = v;
    for (int v = 0; v < g->n_values; v++)
        first[v] = last[v] = -1;
    for (int s = 0; s < p->n_steps; s++) {
        const op_context *ctx = &p->steps[s].ctx;
        for (int o = 0; o < ctx->n_outputs; o++) {
            int v = ctx->node->outputs[o];
            if (v >= 0)
                first[v] = last[v] = s;
        }
        for (int i = 0; i < ctx->node->n_inputs + ctx->node->n_implicit; i++) {
            int v = ctx->node->inputs[i];
            if (v >= 0 && first[v] >= 0)
                last[v] = s;
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (first[g->outputs[i]] >= 0)
            last[g->outputs[i]] = p->n_steps;
    /* Views join the group of their input (steps run in order, so the input's group is final). */
    for (int s = 0; s < p->n_steps; s++) {
        const op_context *ctx = &p->steps[s].ctx;
        int in = ctx->node->inputs[0], out = ctx->node->outputs[0];
        if (!ctx->output_is_view || in < 0 || out < 0 || first[in] < 0 || is_graph_output(g, out))
            continue;
        int root = group[in];
        group[out] = root;
        if (last[out] > last[root])
            last[root] = last[out];
    }
    int n = 0;
    for (int v = 0; v < g->n_values; v++)
        if (first[v] >= 0 && group[v] == v) {
            size_t need = aligned_bytes(&p->tensors[v]), size = need;
            if (p->slot_need[v] && need > p->slot_need[v]) /* growing: room to grow on */
                size = (need + need / 4 + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
            p->slot_need[v] = need;
            iv[n++] = (interval){.value = v, .first = first[v], .last = last[v], .size = size};
        }
    qsort(iv, (size_t)n, sizeof *iv, by_size_desc);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        /* Overlapping (in time) values already placed, by offset. */
        int k = 0;
        for (int j = 0; j < i; j++)
            if (iv[j].first <= iv[i].last && iv[i].first <= iv[j].last) {
                int at = k++;
                while (at > 0 && placed[at - 1]->offset > iv[j].offset) {
                    placed[at] = placed[at - 1];
                    at--;
                }
                placed[at] = &iv[j];
            }
        size_t offset = 0;
        for (int j = 0; j < k; j++) {
            if (placed[j]->offset >= offset + iv[i].size)
                break;
            if (placed[j]->offset + placed[j]->size > offset)
                offset = placed[j]->offset + placed[j]->size;
        }
        iv[i].offset = offset;
        if (offset + iv[i].size > total)
            total = offset + iv[i].size;
    }
    /* Even when every value is empty: each gets a valid pointer (never NULL plus an offset),
     * which kernels may pass to memcpy with 0 bytes. An arena kept from the last plan serves
     * when it is large enough; one that is not grows by half again (or to what is needed),
     * so that shapes growing a little each run (a decoder's past) seldom allocate. */
    size_t need = total ? total : ARENA_ALIGN;
    if (n && (!p->arena || p->arena_cap < need)) {
        size_t grown = p->arena_cap + p->arena_cap / 2, cap = p->arena && grown > need ? grown : need;
        mem_free(env->mem, p->arena);
        p->arena_cap = 0;
        if (!(p->arena = mem_alloc_raw(env->mem, cap)) && cap > need)
            p->arena = mem_alloc_raw(env->mem, cap = need);
        if (!p->arena)
            return plan_oom(env, "the memory arena");
        p->arena_cap = cap;
    }
    p->arena_bytes = total;
    for (int i = 0; i < n; i++) {
        p->slot_offset[iv[i].value] = iv[i].offset;
        p->slot_size[iv[i].value] = iv[i].size;
    }
    place_values(p, first, group);
    p->layout_ok = true;
    return ONYX_OK;
}

/* ---- building ---------------------------------------------------------------------------- */

/* Whether node n must be planned again: it was not planned before, or an input changed. */
static bool node_dirty(const plan *p, const node *n, bool again)
{
    if (!again || p->node_kind[n - p->graph->nodes] == NODE_NONE)
        return true;
    for (int k = 0; k < n->n_inputs + n->n_implicit; k++)
        if (n->inputs[k] >= 0 && p->changed[n->inputs[k]])
            return true;
    return false;
}

#define COMPARED_OUTPUTS 8 /* outputs of a node compared with the last plan's; those after, changed */

static bool same_shape(const onyx_tensor *a, const onyx_tensor *b)
{
    return a->dtype == b->dtype && a->rank == b->rank &&
           !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof(int64_t));
}

/* Plans node n again: folds it when its inputs are known (its outputs then owned by
 * p->folded), else reshapes it as a step in step slot `slot`, which a folded node leaves as it
 * was. Marks the outputs that differ from the last plan's (shape, or data when folded) as
 * changed. */
static onyx_status plan_node(plan *p, exec_env *env, const node *n, op_context *slot, bool *step)
{
    op_context local, *ctx = &local;
    int i = (int)(n - p->graph->nodes);
    onyx_tensor before[COMPARED_OUTPUTS];
    void *old_data[COMPARED_OUTPUTS];
    for (int o = 0; o < n->n_outputs; o++) {
        int v = n->outputs[o];
        if (v < 0)
            continue;
        if (o < COMPARED_OUTPUTS) {
            before[o] = p->tensors[v];
            old_data[o] = p->folded[v];
        } else {
            mem_free(env->mem, p->folded[v]);
        }
        p->folded[v] = NULL;
        p->tensors[v] = p->graph->values[v].info;
        p->tensors[v].data = NULL;
    }
    mem_block_free_all(env->mem, &p->node_blocks[i]);
    onyx_status st = bind_step(p, env, n, ctx);
    if (st)
        goto done;
    atomic_store(&env->op.failed, 0);
    p->reshaped++;
    if (inputs_known(&local)) {
        *step = false;
        p->node_kind[i] = NODE_FOLDED;
        if ((st = node_evaluate(ctx)))
            goto done;
        for (int o = 0; o < n->n_outputs; o++)
            if (n->outputs[o] >= 0)
                p->folded[n->outputs[o]] = ctx->outputs[o]->data;
    } else {
        *step = true;
        p->node_kind[i] = NODE_STEP;
        *slot = local;
        ctx = slot;
        if (touches_containers(ctx)) {
            p->deferred_by = n;
            st = ONYX_DEFER;
            goto done;
        }
        ctx->concrete = true;
        env->op.blocks = &p->node_blocks[i];
        if ((st = node_reshape(ctx))) {
            if (st == ONYX_DEFER)
                p->deferred_by = n;
            goto done;
        }
    }
done:
    for (int o = 0; o < n->n_outputs; o++) {
        int v = n->outputs[o];
        if (v < 0)
            continue;
        bool changed = o >= COMPARED_OUTPUTS || st || !same_shape(&before[o], &p->tensors[v]) ||
                       !old_data[o] != !p->folded[v] ||
                       (old_data[o] && memcmp(old_data[o], p->folded[v], value_bytes(&p->tensors[v])));
        p->changed[v] = changed;
        if (o >= COMPARED_OUTPUTS)
            continue;
        if (!changed && old_data[o]) {
            /* The same value: the old bytes stay, for the steps not planned again may hold
             * pointers to them in their states. */
            mem_free(env->mem, p->folded[v]);
            p->folded[v] = p->tensors[v].data = old_data[o];
        } else {
            mem_free(env->mem, old_data[o]);
        }
    }
    return st;
}

/* Plans the graph for the inputs' shapes: every node folded or made a step. `again`: the
 * last plan of the same graph is there to start from, and only the nodes that its changed
 * inputs reach are planned again. */
static onyx_status plan_build_static(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs,
                                     bool again)
{
    int last_steps = p->n_steps;
    plan_reset_shapes(p);
    p->reshaped = 0;
    onyx_status st = static_tensors(p, env, g, inputs, again);
    if (st)
        return st;
    if (!p->steps && !(p->steps = plan_alloc(p, env, (size_t)(g->n_nodes + 1) * sizeof(plan_step))))
        return plan_oom(env, "the plan");
    size_t scratch = 0;
    bool same_steps = again; /* the steps of the last plan, in the same order */
    for (int i = 0; i < g->n_nodes; i++) {
        const node *n = &g->nodes[i];
        if (n->dead)
            continue;
        op_context *ctx = &p->steps[p->n_steps].ctx;
        if (!node_dirty(p, n, again)) {
            if (p->node_kind[i] == NODE_FOLDED)
                continue; /* its values stand */
            if (p->n_steps < last_steps && ctx->node == n) { /* the same step: its shapes stand */
                if (ctx->scratch_bytes > scratch)
                    scratch = ctx->scratch_bytes;
                p->n_steps++;
                continue;
            }
        }
        bool step = false;
        const node *before = p->n_steps < last_steps ? ctx->node : NULL;
        bool was_view = ctx->output_is_view;
        if ((st = plan_node(p, env, n, ctx, &step)))
            return st;
        if (!step)
            continue;
        same_steps &= before == n && ctx->output_is_view == was_view;
        if (ctx->scratch_bytes > scratch)
            scratch = ctx->scratch_bytes;
        p->n_steps++;
    }
    if ((st = plan_memory(p, env, same_steps && p->n_steps == last_steps)))
        return st;
    int threads = pool_threads(env->pool);
    scratch = (scratch + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    size_t need = scratch * (size_t)threads;
    if (need > p->scratch_cap) { /* grown as the arena is */
        size_t grown = p->scratch_cap + p->scratch_cap / 2, cap = p->scratch && grown > need ? grown : need;
        mem_free(env->mem, p->scratch);
        p->scratch_cap = 0;
        if (!(p->scratch = mem_alloc(env->mem, cap)) && cap > need)
            p->scratch = mem_alloc(env->mem, cap = need);
        if (!p->scratch)
            return plan_oom(env, "scratch memory");
        p->scratch_cap = cap;
    }
    p->scratch_per_thread = scratch;
    return ONYX_OK;
}

/* ---- running ----------------------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Adds the time since `start` to node n's profile (when profiling the main graph). */
static void profile_add(exec_env *env, const graph *g, const node *n, int64_t start)
{
    if (!env->profile_ns || g->parent)
        return;
    int index = (int)(n - g->nodes);
    env->profile_ns[index] += now_ns() - start;
    env->profile_runs[index]++;
}

typedef struct step_job {
    const op_context *ctx;
    unsigned char *scratch;
    size_t scratch_per_thread;
} step_job;

/* Thread `thread`'s scratch memory; without any (no node asked for some), still a valid
 * pointer, so that an operator asking for 0 bytes may form base pointers from it. */
static void *scratch_of(unsigned char *scratch, size_t per_thread, int thread)
{
    return scratch ? scratch + (size_t)thread * per_thread : (void *)&empty_tensor_data;
}

static void step_range(void *arg, int thread, int64_t begin, int64_t end)
{
    const step_job *job = arg;
    job->ctx->node->op->run(job->ctx, begin, end, scratch_of(job->scratch, job->scratch_per_thread, thread));
}

static onyx_status run_static(plan *p, exec_env *env, const onyx_tensor *inputs)
{
    const graph *g = p->graph;
    for (int i = 0; i < g->n_inputs; i++)
        p->tensors[g->inputs[i]].data = inputs[i].data;
    atomic_store(&env->op.failed, 0);
    for (int s = 0; s < p->n_steps; s++) {
        const op_context *ctx = &p->steps[s].ctx;
        if (ctx->n_tasks <= 0)
            continue;
        int64_t start = env->profile_ns ? now_ns() : 0;
        step_job job = {ctx, p->scratch, p->scratch_per_thread};
        if (env->pool && ctx->n_tasks > 1 && ctx->task_cost * ctx->n_tasks >= PARALLEL_MIN_COST) {
            pool_job pj = {step_range, &job, ctx->n_tasks};
            pool_run(env->pool, &pj);
        } else {
            ctx->node->op->run(ctx, 0, ctx->n_tasks, scratch_of(p->scratch, 0, 0));
        }
        if (env->profile_ns)
            profile_add(env, g, ctx->node, start);
        if (atomic_load(&env->op.failed))
            return env->op.status;
    }
    return ONYX_OK;
}

/* Node by node, each value allocated when computed and freed after its last reader. `outer`
 * (per value index, for a subgraph) gives the values of enclosing graphs it reads. */
static onyx_status run_eager(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs,
                             const onyx_tensor *const *outer)
{
    onyx_status st = plan_tensors(p, env, g, inputs, true);
    if (st)
        return st;
    for (int v = 0; outer && v < g->n_values; v++)
        if (g->values[v].kind == VALUE_OUTER && outer[v])
            p->tensors[v] = *outer[v];
    int *uses = plan_alloc(p, env, (size_t)g->n_values * sizeof(int) + 1);
    if (!uses)
        return plan_oom(env, "the plan");
    for (int v = 0; v < g->n_values; v++)
        uses[v] = g->values[v].n_uses;
    for (int i = 0; i < g->n_outputs; i++)
        uses[g->outputs[i]] = g->values[g->outputs[i]].n_uses + (1 << 30); /* outputs live until the
                                                  next run; set, not added: a model may list one twice */
    for (int i = 0; i < g->n_nodes; i++) {
        const node *n = &g->nodes[i];
        if (n->dead)
            continue;
        op_context ctx;
        if ((st = bind_step(p, env, n, &ctx)))
            return st;
        atomic_store(&env->op.failed, 0);
        int64_t start = env->profile_ns ? now_ns() : 0;
        if ((st = evaluate_owned(p, &ctx)))
            return st;
        if (env->profile_ns)
            profile_add(env, g, n, start);
        for (int k = 0; k < n->n_inputs + n->n_implicit; k++) {
            int v = n->inputs[k];
            if (v < 0 || g->values[v].kind != VALUE_NODE || --uses[v] > 0)
                continue;
            for (int o = 0; o < p->n_owned; o++)
                if (p->owned[o] == p->tensors[v].data) {
                    mem_free(env->mem, p->owned[o]);
                    p->owned[o] = p->owned[--p->n_owned];
                    break;
                }
            p->tensors[v].data = NULL;
        }
        for (int o = 0; o < n->n_outputs; o++) /* outputs nobody reads */
            if (n->outputs[o] >= 0 && uses[n->outputs[o]] == 0)
                for (int k = 0; k < p->n_owned; k++)
                    if (p->owned[k] == p->tensors[n->outputs[o]].data) {
                        mem_free(env->mem, p->owned[k]);
                        p->owned[k] = p->owned[--p->n_owned];
                        p->tensors[n->outputs[o]].data = NULL;
                        break;
                    }
    }
    p->eager = true;
    return ONYX_OK;
}

/* Points the operators' environment at graph g and plan p, with no failure recorded. */
static void env_bind(exec_env *env, const graph *g, plan *p)
{
    env->op.mem = env->mem;
    env->op.limits = env->limits;
    env->op.graph = g;
    env->op.blocks = &p->blocks;
    atomic_store(&env->op.failed, 0);
    env->op.status = ONYX_OK;
}

onyx_status plan_prepare(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs)
{
    atomic_store(&env->subgraph_runs_left, env->limits->subgraph_runs);
    env->op.subgraph_runs_left = &env->subgraph_runs_left;
    env_bind(env, g, p);
    if (same_signature(p, g, inputs))
        return ONYX_OK;
    int64_t start = now_ns();
    /* New shapes for the graph of the last static plan: its structure serves again. */
    bool again = p->kept == g && !p->eager;
    if (again)
        p->replans++;
    else
        plan_release(p, env->mem);
    onyx_status st = plan_build_static(p, env, g, inputs, again);
    if (st == ONYX_DEFER) {
        const node *cause = p->deferred_by;
        plan_release(p, env->mem);
        env->op.blocks = &p->blocks;
        atomic_store(&env->op.failed, 0);
        p->graph = g;
        p->eager = true;
        p->deferred_by = cause;
        return ONYX_OK;
    }
    if (st) {
        plan_release(p, env->mem);
        return st;
    }
    p->ready = true;
    p->kept = g;
    p->plans++;
    p->plan_ns = now_ns() - start;
    return ONYX_OK;
}

onyx_status plan_run(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs)
{
    if (!p->eager)
        return run_static(p, env, inputs);
    onyx_status st = run_eager(p, env, g, inputs, NULL);
    if (st)
        plan_release(p, env->mem);
    return st;
}

onyx_status plan_run_subgraph(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs,
                              const onyx_tensor *const *outer)
{
    plan_release(p, env->mem);
    env_bind(env, g, p);
    onyx_status st = run_eager(p, env, g, inputs, outer);
    if (st)
        plan_release(p, env->mem);
    return st;
}
