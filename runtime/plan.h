/* Planning and running a graph for concrete input shapes.
 *
 * A static plan is made once per input-shape signature: every node is reshaped with concrete
 * dims, nodes whose inputs are known while planning (shape arithmetic: Shape -> Gather ->
 * Concat -> Reshape) are computed then and vanish, and the remaining values get offsets in
 * one arena from their lifetimes. Running is then kernels only, with no allocation.
 *
 * When an output shape depends on data (a Reshape whose target is computed from an input's
 * values, NonZero, ...), the plan is eager instead: each run computes node after node,
 * allocating each value and freeing it after its last reader. */
#ifndef ONYX_PLAN_H
#define ONYX_PLAN_H

#include "ir.h"
#include "pool.h"

typedef struct plan_step {
    op_context ctx;
} plan_step;

typedef struct plan {
    const graph *graph;
    bool ready;            /* built and reusable for the inputs' shapes in `signature` */
    bool eager;
    const node *deferred_by; /* eager: the node whose output shape needs computed data */
    onyx_tensor *signature; /* per graph input: dtype, rank, dims the plan was made for */
    onyx_tensor *tensors;  /* per value of the graph */
    int n_steps;
    plan_step *steps;
    unsigned char *arena;
    size_t arena_bytes;
    unsigned char *scratch;
    size_t scratch_per_thread;
    void **owned;          /* data allocated for folded values (static) or per run (eager) */
    int n_owned;
    mem_block *blocks;     /* the arrays above (and, in an eager plan, operator states) */
    /* Re-planning for new shapes of the same ranks (a decoder's past growing by one each run)
     * keeps what depends only on the graph: the arrays above, each node's tensor pointers, the
     * memory plan's work arrays, and the arena and scratch when they are large enough (grown
     * with headroom when not); only shapes, folded values, operator states and offsets are
     * made again. */
    const graph *kept;     /* the graph the kept arrays were made for, NULL when none */
    onyx_tensor ***node_ptrs; /* per node: its inputs' then outputs' tensor pointers (static) */
    /* Per node: its operator states (static), and whether it was folded or a step of the last
     * plan. A node none of whose inputs changed (shape, or data when folded) keeps its step
     * or folded outputs: only what the changed inputs reach is reshaped or computed again. */
    mem_block **node_blocks;
    unsigned char *node_kind;
    void **folded;         /* per value: data owned for a value folded while planning (static) */
    unsigned char *changed; /* per value, while planning: differs from the last plan */
    int reshaped;          /* steps reshaped and nodes folded again by the last planning */
    /* The arena layout of the last plan, per value: offset, bytes set aside, bytes needed.
     * A value that grew since the plan before is set aside a quarter more than it needs, so
     * that a re-plan with the same steps whose values all still fit keeps the layout instead
     * of placing every value again. */
    size_t *slot_offset, *slot_size, *slot_need;
    bool layout_ok;        /* the layout above is that of the steps now in `steps` */
    bool layout_kept;      /* the last planning kept the layout of the one before */
    size_t arena_cap, scratch_cap; /* allocated bytes (>= arena_bytes, >= scratch per thread * threads) */
    void *memory_work;     /* the memory plan's work arrays, for g->n_values */
    int64_t plans, replans; /* plans made (in all), of which re-plans that kept the structure */
    int64_t plan_ns;       /* time the last planning took */
} plan;

typedef struct exec_env {
    mem *mem;
    limits *limits;
    pool *pool;
    /* When profiling: time spent (ns) and runs, per node index of the main graph. */
    int64_t *profile_ns;
    int64_t *profile_runs;
    op_env op;             /* errors of reshape and run land in op.errmsg */
    _Atomic int64_t subgraph_runs_left; /* of the current run, for op.subgraph_runs_left */
} exec_env;

/* Makes the plan for `inputs` (one per graph input, already checked against the graph's
 * declarations) unless the current one was made for their shapes. A static plan then knows
 * every value's shape, and p->tensors[v].data of each step's output points into the arena
 * (the caller may point it elsewhere for a run). An eager plan is only marked as such.
 * On failure the message is in env->op.errmsg. */
onyx_status plan_prepare(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs);
/* Runs the prepared plan on `inputs`. Outputs are then in p->tensors[g->outputs[i]]. */
onyx_status plan_run(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs);
void plan_free(plan *p, mem *m);
/* Runs subgraph g once, node by node, on `inputs` (one per g->inputs) with `outer` (indexed by
 * value; set for g's VALUE_OUTER values) giving what it reads of enclosing graphs. Outputs are
 * then in p->tensors[g->outputs[i]], owned by p until plan_free. Never uses the pool: it runs
 * inside a node that may itself be running on a worker. */
onyx_status plan_run_subgraph(plan *p, exec_env *env, const graph *g, const onyx_tensor *inputs,
                              const onyx_tensor *const *outer);

#endif
