/* Control flow: If, Loop, Scan. Their outputs' shapes depend on the data (which branch, how
 * many iterations), so each runs its subgraphs in reshape, once its inputs are known (the
 * graph then runs node by node), keeps the results in its state, and run copies them out. */
#include "checks.h"
#include "op.h"

#include <string.h>

/* Outputs (and loop-carried values) per node: plenty for real models, and it bounds what a
 * hostile one makes onyx allocate per iteration. */
#define MAX_RESULTS 1024
/* Iterations of a Loop: a model that never stops its loop gets an error, not a hang. */
#define MAX_ITERATIONS (INT64_C(1) << 24)

/* ---- shared: results kept from reshape to run --------------------------------------------- */

typedef struct kept {
    int n;
    onyx_tensor *results; /* data in state memory */
} kept;

/* Moves temp tensors (from op_graph_run or built here) into the node's state, frees them,
 * and gives the outputs their shapes. */
static onyx_status keep(op_context *ctx, int n, onyx_tensor *temps)
{
    kept *k = op_alloc_state(ctx, sizeof *k);
    onyx_tensor *results = k ? op_alloc_state(ctx, (size_t)(n + 1) * sizeof *results) : NULL;
    onyx_status st = k && results ? ONYX_OK : ONYX_ERROR_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) {
        if (!st) {
            size_t bytes = op_value_bytes(&temps[i]); /* a sequence's block is copied whole */
            results[i] = temps[i];
            if (!(results[i].data = op_alloc_state(ctx, bytes)))
                st = ONYX_ERROR_OUT_OF_MEMORY;
            else if (bytes)
                memcpy(results[i].data, temps[i].data, bytes);
            onyx_tensor *out = op_output(ctx, i);
            if (!st && out)
                tensor_set_shape(out, temps[i].rank, temps[i].dims);
        }
        op_free_temp(ctx, temps[i].data);
        temps[i].data = NULL;
    }
    if (st)
        return st;
    k->n = n;
    k->results = results;
    ctx->state = k;
    return ONYX_OK;
}

static onyx_status kept_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const kept *k = ctx->state;
    for (int i = 0; i < k->n && i < ctx->n_outputs; i++)
        if (ctx->outputs[i] && op_value_bytes(&k->results[i]))
            memcpy(ctx->outputs[i]->data, k->results[i].data, op_value_bytes(&k->results[i]));
    return ONYX_OK;
}

/* The inputs a control-flow node needs known before it can run; ONYX_DEFER otherwise. */
/* Copies `t` into fresh temp memory (a loop's first carried values come from its inputs). */
static onyx_status temp_copy(const op_context *ctx, const onyx_tensor *t, onyx_tensor *out)
{
    *out = *t;
    size_t bytes = op_value_bytes(t);
    if (!(out->data = op_alloc_temp(ctx, bytes)))
        return ONYX_ERROR_LIMIT;
    if (bytes)
        memcpy(out->data, t->data, bytes);
    return ONYX_OK;
}

static void temps_free(const op_context *ctx, onyx_tensor *t, int n)
{
    for (int i = 0; i < n; i++) {
        op_free_temp(ctx, t[i].data);
        t[i].data = NULL;
    }
}

static bool same_shape(const onyx_tensor *a, const onyx_tensor *b)
{
    return a->rank == b->rank && !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof(int64_t));
}

/* The dtype of output i of a control-flow node. `got` is what its subgraph gives (inferred from
 * the producing nodes, else the output's declaration: exporters leave branch and body outputs
 * undeclared), `must` what the node's semantics require (a loop-carried value keeps its input's
 * type), each 0 when unknown. Refuses a conflict, and a type nothing gives. */
static onyx_status result_dtype(op_context *ctx, const char *what, int i, onyx_dtype got, onyx_dtype must)
{
    if (got && must && got != must)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s %d is %s in the subgraph but must be %s", what, i,
                        onyx_dtype_name(got), onyx_dtype_name(must));
    if (!got && !must)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "the type of %s %d is unknown: the subgraph does not declare it and its nodes do not "
                        "give it", what, i);
    if (ctx->outputs[i])
        ctx->outputs[i]->dtype = got ? got : must;
    return ONYX_OK;
}

/* Scan outputs: one element per iteration, stacked along `axis` (reversed when `reverse`). */
typedef struct stack {
    onyx_tensor t;    /* the stacked tensor; data grows */
    onyx_tensor elem; /* the shape every element must have */
    int axis;
    bool reverse;
    int64_t count, capacity;
} stack;

/* Element `index` of n (known) into the stack at its position along the axis. */
static onyx_status stack_put(const op_context *ctx, stack *s, const onyx_tensor *e, int64_t index, int64_t n)
{
    if (s->count == 0) {
        s->elem = *e;
        if (e->rank + 1 > ONYX_MAX_RANK)
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "scan output rank above %d", ONYX_MAX_RANK);
        if (s->axis < 0 || s->axis > e->rank)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scan output axis %d out of range for rank %d", s->axis,
                            e->rank + 1);
    } else if (!same_shape(e, &s->elem)) {
        return op_error(ctx, ONYX_ERROR_RUNTIME, "a scan output changes shape between iterations");
    }
    if (n > s->capacity) {
        int64_t capacity = s->capacity ? s->capacity : 4;
        while (capacity < n)
            capacity *= 2;
        size_t bytes = (size_t)capacity * tensor_bytes(e);
        void *grown = op_alloc_temp(ctx, bytes ? bytes : 1);
        if (!grown)
            return ONYX_ERROR_LIMIT;
        /* Only the axis-0 layout can grow by appending; other axes know n up front. */
        if (s->count && s->t.data)
            memcpy(grown, s->t.data, (size_t)s->count * tensor_bytes(e));
        op_free_temp(ctx, s->t.data);
        s->t.data = grown;
        s->capacity = capacity;
    }
    int64_t outer = shape_count(e->dims, s->axis), inner = shape_count(e->dims + s->axis, e->rank - s->axis);
    size_t elem_size = onyx_dtype_size(e->dtype), block = (size_t)inner * elem_size;
    int64_t pos = s->reverse ? n - 1 - index : index;
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)s->t.data + ((size_t)(o * n + pos)) * block, (const char *)e->data + (size_t)o * block, block);
    s->count++;
    return ONYX_OK;
}

/* The stacked tensor of n elements (n may be 0: then the element shape is unknown, [0]). */
static void stack_finish(stack *s, onyx_dtype dtype, int64_t n)
{
    s->t.dtype = dtype;
    if (s->count == 0) {
        s->t.rank = 1;
        s->t.dims[0] = 0;
        return;
    }
    s->t.rank = s->elem.rank + 1;
    for (int d = 0, j = 0; d < s->t.rank; d++)
        s->t.dims[d] = d == s->axis ? n : s->elem.dims[j++];
}

/* ---- If ---------------------------------------------------------------------------------- */

static onyx_status if_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, MAX_RESULTS);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(BOOL));
    if (st)
        return st;
    const struct graph *branches[2] = {op_attr_graph(ctx, "then_branch"), op_attr_graph(ctx, "else_branch")};
    if (!branches[0] || !branches[1])
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "needs both then_branch and else_branch graphs");
    int n = ctx->n_outputs;
    onyx_tensor *types = op_alloc_temp(ctx, 2 * (size_t)n * sizeof *types);
    if (!types)
        return ONYX_ERROR_LIMIT;
    for (int b = 0; b < 2 && !st; b++) {
        if (op_graph_input_count(branches[b]) != 0 || op_graph_output_count(branches[b]) != n)
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "each branch takes no input and has %d outputs", n);
        else
            st = op_graph_check(ctx, branches[b], NULL, types + b * n);
    }
    /* A branch whose nodes cannot tell an output's type takes the other branch's. */
    for (int i = 0; i < n && !st; i++) {
        if (types[i].dtype && types[n + i].dtype && types[i].dtype != types[n + i].dtype)
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "branches give output %d as %s and %s", i,
                          onyx_dtype_name(types[i].dtype), onyx_dtype_name(types[n + i].dtype));
        else
            st = result_dtype(ctx, "output", i, types[i].dtype ? types[i].dtype : types[n + i].dtype, 0);
    }
    op_free_temp(ctx, types);
    return st;
}

static onyx_status if_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const onyx_tensor *cond = op_input(ctx, 0);
    if (tensor_count(cond) != 1)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "cond must hold one element");
    const struct graph *branch = op_attr_graph(ctx, *(const uint8_t *)cond->data ? "then_branch" : "else_branch");
    onyx_tensor *results = op_alloc_temp(ctx, (size_t)ctx->n_outputs * sizeof *results);
    if (!results)
        return ONYX_ERROR_LIMIT;
    if (!(st = op_graph_run(ctx, branch, NULL, results)))
        st = keep(ctx, ctx->n_outputs, results);
    op_free_temp(ctx, results);
    return st;
}

const op_descriptor op_If = {if_check, if_reshape, kept_run, 0, false, 0};

/* ---- Loop -------------------------------------------------------------------------------- */

/* Body: (iteration_num, cond, v_1..v_N) -> (cond, v_1..v_N, scan_1..scan_K). Node: (M, cond,
 * v_initial...) -> (v_final..., scan outputs stacked along a new first axis). */
static onyx_status loop_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2 + MAX_RESULTS, 0, MAX_RESULTS);
    if (!st)
        st = op_check_input(ctx, 0, false, DT(INT64));
    if (!st)
        st = op_check_input(ctx, 1, false, DT(BOOL));
    if (st)
        return st;
    const struct graph *body = op_attr_graph(ctx, "body");
    int n_carried = ctx->n_inputs - 2;
    if (!body)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "needs a 'body' graph");
    if (op_graph_input_count(body) != 2 + n_carried || op_graph_output_count(body) < 1 + n_carried ||
        op_graph_output_count(body) - 1 != ctx->n_outputs)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "body must take %d inputs and give 1 + %d outputs (cond, carried values, scan outputs)",
                        2 + n_carried, ctx->n_outputs);
    size_t n_types = (size_t)(2 + n_carried) + (size_t)op_graph_output_count(body);
    onyx_tensor *in = op_alloc_temp(ctx, n_types * sizeof *in), *out = in + 2 + n_carried;
    if (!in)
        return ONYX_ERROR_LIMIT;
    in[0] = (onyx_tensor){.dtype = ONYX_DTYPE_INT64, .rank = 0};
    in[1] = (onyx_tensor){.dtype = ONYX_DTYPE_BOOL, .rank = 0};
    for (int i = 0; i < n_carried && !st; i++) {
        if (!op_input(ctx, 2 + i))
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "loop-carried input %d is absent", i);
        else
            in[2 + i] = (onyx_tensor){.dtype = op_input(ctx, 2 + i)->dtype, .rank = -1};
    }
    if (!st)
        st = op_graph_check(ctx, body, in, out);
    if (!st && out[0].dtype && out[0].dtype != ONYX_DTYPE_BOOL)
        st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "body's first output (cond) must be bool");
    for (int i = 0; i < ctx->n_outputs && !st; i++) {
        onyx_dtype got = out[1 + i].dtype;
        if (i < n_carried) {
            /* A carried optional may come back as the value it holds (an optional sequence that
             * starts empty and is then filled): the body's optional input takes either. */
            onyx_dtype must = in[2 + i].dtype;
            bool unwrapped = got && (must & ONYX_OPTIONAL) && (got | ONYX_OPTIONAL) == must;
            st = result_dtype(ctx, "loop-carried value", i, got, unwrapped ? got : must);
        } else if (got && !op_is_tensor(&out[1 + i])) {
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "scan output %d must be a tensor", i - n_carried);
        } else {
            st = result_dtype(ctx, "scan output", i, got, 0);
        }
    }
    op_free_temp(ctx, in);
    return st;
}

static onyx_status loop_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const struct graph *body = op_attr_graph(ctx, "body");
    const onyx_tensor *max_trips = op_input(ctx, 0), *cond_in = op_input(ctx, 1);
    int n_carried = ctx->n_inputs - 2, n_scans = ctx->n_outputs - n_carried;
    if ((max_trips && tensor_count(max_trips) != 1) || (cond_in && tensor_count(cond_in) != 1))
        return op_error(ctx, ONYX_ERROR_RUNTIME, "M and cond must hold one element each");
    int64_t trips = max_trips ? *(const int64_t *)max_trips->data : -1;
    /* Without M or a cond that turns false the loop would never end: bound it. */
    const int64_t limit = MAX_ITERATIONS;
    bool cond = cond_in ? *(const uint8_t *)cond_in->data != 0 : true;

    size_t n_body = (size_t)(2 + n_carried + 1 + ctx->n_outputs);
    onyx_tensor *in = op_alloc_temp(ctx, n_body * sizeof *in), *out = in + 2 + n_carried;
    stack *scans = op_alloc_temp(ctx, (size_t)(n_scans + 1) * sizeof *scans);
    if (!in || !scans) {
        op_free_temp(ctx, in);
        op_free_temp(ctx, scans);
        return ONYX_ERROR_LIMIT;
    }
    memset(in, 0, n_body * sizeof *in);
    memset(scans, 0, (size_t)(n_scans + 1) * sizeof *scans);
    int64_t i = 0;
    uint8_t cond_value = 1;
    in[0] = (onyx_tensor){.dtype = ONYX_DTYPE_INT64, .rank = 0, .data = &i};
    in[1] = (onyx_tensor){.dtype = ONYX_DTYPE_BOOL, .rank = 0, .data = &cond_value};
    for (int k = 0; k < n_carried && !st; k++)
        st = temp_copy(ctx, op_input(ctx, 2 + k), &in[2 + k]);
    for (; !st && (trips < 0 || i < trips) && cond; i++) {
        if (i >= limit) {
            st = op_error(ctx, ONYX_ERROR_LIMIT, "more than %lld iterations", (long long)limit);
            break;
        }
        cond_value = cond;
        if ((st = op_graph_run(ctx, body, in, out)))
            break;
        if (tensor_count(&out[0]) != 1)
            st = op_error(ctx, ONYX_ERROR_RUNTIME, "body's cond output must hold one element");
        else
            cond = *(const uint8_t *)out[0].data != 0;
        for (int k = 0; k < n_scans && !st; k++)
            st = stack_put(ctx, &scans[k], &out[1 + n_carried + k], i, i + 1);
        /* The new carried values replace the old; the rest of this iteration's outputs go. */
        temps_free(ctx, in + 2, n_carried);
        for (int k = 0; k < n_carried; k++)
            in[2 + k] = out[1 + k], out[1 + k].data = NULL;
        temps_free(ctx, out, 1);
        temps_free(ctx, out + 1 + n_carried, n_scans);
    }
    onyx_tensor *results = out; /* reused: final carried values, then the stacks */
    if (!st) {
        for (int k = 0; k < n_carried; k++)
            results[k] = in[2 + k], in[2 + k].data = NULL;
        for (int k = 0; k < n_scans; k++) {
            stack_finish(&scans[k], ctx->outputs[n_carried + k] ? ctx->outputs[n_carried + k]->dtype
                                                                : ONYX_DTYPE_FLOAT, i);
            results[n_carried + k] = scans[k].t, scans[k].t.data = NULL;
        }
        st = keep(ctx, ctx->n_outputs, results);
    }
    temps_free(ctx, in + 2, n_carried);
    for (int k = 0; k < n_scans; k++)
        op_free_temp(ctx, scans[k].t.data);
    op_free_temp(ctx, scans);
    op_free_temp(ctx, in);
    return st;
}

/* Carried values (inputs 2 and up) may be sequences or optionals. */
const op_descriptor op_Loop = {loop_check, loop_reshape, kept_run, 0, false, ~UINT32_C(3)};

/* ---- Scan -------------------------------------------------------------------------------- */

/* Body: (state_1..state_N, slice_1..slice_M) -> (state_1..state_N, out_1..out_K). Node:
 * (initial states..., scan inputs...) -> (final states..., scan outputs). Each scan input is
 * cut along its axis (reversed when its direction says so); outputs are stacked likewise. */
typedef struct scan_params {
    bool batched;   /* opset 8: every input and output has a batch axis first, and the node's
                       first input is the (unsupported) sequence_lens */
    int first;      /* index of the first state input: 1 when batched, else 0 */
    int n_scan_in, n_state, n_scan_out;
    int64_t *in_axes, *in_reverse, *out_axes, *out_reverse; /* one per scan input / output */
} scan_params;

/* Reads an optional ints attribute of `n` values into out (default `dflt` each). */
static onyx_status ints_or(op_context *ctx, const char *name, int n, int64_t dflt, int64_t **out)
{
    const int64_t *v;
    int64_t count;
    onyx_status st = op_attr_ints(ctx, name, &v, &count);
    if (st)
        return st;
    if (count >= 0 && count != n)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' needs %d values, has %lld", name, n,
                        (long long)count);
    if (!(*out = op_alloc_params(ctx, (size_t)(n + 1) * sizeof(int64_t))))
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++)
        (*out)[i] = count >= 0 ? v[i] : dflt;
    return ONYX_OK;
}

static onyx_status scan_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, MAX_RESULTS, 1, MAX_RESULTS);
    if (st)
        return st;
    const struct graph *body = op_attr_graph(ctx, "body");
    int64_t n_scan_in;
    if ((st = op_attr_require(ctx, "num_scan_inputs")) || (st = op_attr_int(ctx, "num_scan_inputs", 0, &n_scan_in)))
        return st;
    if (!body)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "needs a 'body' graph");
    if (n_scan_in < 1 || n_scan_in > ctx->n_inputs)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "num_scan_inputs %lld is out of range", (long long)n_scan_in);
    scan_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->batched = ctx->opset < 9;
    p->first = p->batched ? 1 : 0;
    if (p->batched && op_input(ctx, 0))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "sequence_lens is not supported (sequences of the full length only)");
    int n_body_in = ctx->n_inputs - p->first;
    p->n_scan_in = (int)n_scan_in;
    p->n_state = n_body_in - p->n_scan_in;
    p->n_scan_out = ctx->n_outputs - p->n_state;
    if (p->n_state < 0 || p->n_scan_out < 0 || op_graph_input_count(body) != n_body_in ||
        op_graph_output_count(body) != ctx->n_outputs)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "body must take %d inputs and give %d outputs", n_body_in,
                        ctx->n_outputs);
    /* Opset 8 scans along the axis after the batch one, which is axis 0 of each slice. */
    if ((st = ints_or(ctx, "scan_input_axes", p->n_scan_in, 0, &p->in_axes)) ||
        (st = ints_or(ctx, p->batched ? "directions" : "scan_input_directions", p->n_scan_in, 0, &p->in_reverse)) ||
        (st = ints_or(ctx, "scan_output_axes", p->n_scan_out, 0, &p->out_axes)) ||
        (st = ints_or(ctx, "scan_output_directions", p->n_scan_out, 0, &p->out_reverse)))
        return st;
    ctx->params = p;
    onyx_tensor *types = op_alloc_temp(ctx, (size_t)(n_body_in + ctx->n_outputs) * sizeof *types);
    if (!types)
        return ONYX_ERROR_LIMIT;
    for (int i = 0; i < n_body_in && !st; i++) {
        const onyx_tensor *t = op_input(ctx, p->first + i);
        if (!t)
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d is absent", p->first + i);
        else
            types[i] = (onyx_tensor){.dtype = t->dtype, .rank = -1};
    }
    if (!st)
        st = op_graph_check(ctx, body, types, types + n_body_in);
    for (int i = 0; i < ctx->n_outputs && !st; i++)
        st = i < p->n_state ? result_dtype(ctx, "state value", i, types[n_body_in + i].dtype, types[i].dtype)
                            : result_dtype(ctx, "scan output", i, types[n_body_in + i].dtype, 0);
    op_free_temp(ctx, types);
    return st;
}

/* Slice `index` of t along `axis` (that axis removed) into temp memory. */
static onyx_status slice_along(const op_context *ctx, const onyx_tensor *t, int axis, int64_t index, onyx_tensor *out)
{
    int64_t outer, len, inner;
    shape_split(t, axis, &outer, &len, &inner);
    *out = (onyx_tensor){.dtype = t->dtype, .rank = t->rank - 1};
    for (int d = 0, j = 0; d < t->rank; d++)
        if (d != axis)
            out->dims[j++] = t->dims[d];
    size_t block = (size_t)inner * onyx_dtype_size(t->dtype);
    if (!(out->data = op_alloc_temp(ctx, (size_t)outer * block)))
        return ONYX_ERROR_LIMIT;
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)out->data + (size_t)o * block, (const char *)t->data + (size_t)(o * len + index) * block, block);
    return ONYX_OK;
}

/* One scan: `states` (n_state) and `xs` (n_scan_in, cut along axes[]) through the body;
 * results[] (n_state + n_scan_out) get the final states and the stacked scan outputs, in temp
 * memory the caller releases. */
static onyx_status scan_once(op_context *ctx, const scan_params *p, const struct graph *body,
                             const onyx_tensor *const *states, const onyx_tensor *const *xs, const int *axes,
                             onyx_tensor *results)
{
    onyx_status st = ONYX_OK;
    int n_in = p->n_state + p->n_scan_in, n_out = p->n_state + p->n_scan_out;
    int64_t length = -1;
    for (int k = 0; k < p->n_scan_in; k++) {
        if (length >= 0 && xs[k]->dims[axes[k]] != length)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "scan inputs have different lengths");
        length = xs[k]->dims[axes[k]];
    }
    onyx_tensor *in = op_alloc_temp(ctx, (size_t)(n_in + n_out) * sizeof *in), *out = in + n_in;
    stack *stacks = op_alloc_temp(ctx, (size_t)(p->n_scan_out + 1) * sizeof *stacks);
    if (!in || !stacks) {
        op_free_temp(ctx, in);
        op_free_temp(ctx, stacks);
        return ONYX_ERROR_LIMIT;
    }
    memset(in, 0, (size_t)(n_in + n_out) * sizeof *in);
    memset(stacks, 0, (size_t)(p->n_scan_out + 1) * sizeof *stacks);
    for (int k = 0; k < p->n_state && !st; k++)
        st = temp_copy(ctx, states[k], &in[k]);
    for (int64_t t = 0; t < length && !st; t++) {
        for (int k = 0; k < p->n_scan_in && !st; k++)
            st = slice_along(ctx, xs[k], axes[k], p->in_reverse[k] ? length - 1 - t : t, &in[p->n_state + k]);
        if (!st)
            st = op_graph_run(ctx, body, in, out);
        temps_free(ctx, in + p->n_state, p->n_scan_in);
        if (st)
            break;
        for (int k = 0; k < p->n_scan_out && !st; k++) {
            int64_t axis = p->out_axes[k] < 0 ? p->out_axes[k] + out[p->n_state + k].rank + 1 : p->out_axes[k];
            stacks[k].axis = (int)axis;
            stacks[k].reverse = p->out_reverse[k] != 0;
            st = stack_put(ctx, &stacks[k], &out[p->n_state + k], t, length);
        }
        temps_free(ctx, in, p->n_state);
        for (int k = 0; k < p->n_state; k++)
            in[k] = out[k], out[k].data = NULL;
        temps_free(ctx, out + p->n_state, p->n_scan_out);
    }
    if (!st) {
        for (int k = 0; k < p->n_state; k++)
            results[k] = in[k], in[k].data = NULL;
        for (int k = 0; k < p->n_scan_out; k++) {
            const onyx_tensor *o = op_output(ctx, p->n_state + k);
            stack_finish(&stacks[k], o ? o->dtype : ONYX_DTYPE_FLOAT, length);
            results[p->n_state + k] = stacks[k].t, stacks[k].t.data = NULL;
        }
    }
    temps_free(ctx, in, p->n_state);
    for (int k = 0; k < p->n_scan_out; k++)
        op_free_temp(ctx, stacks[k].t.data);
    op_free_temp(ctx, stacks);
    op_free_temp(ctx, in);
    return st;
}

static onyx_status scan_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const scan_params *p = ctx->params;
    const struct graph *body = op_attr_graph(ctx, "body");
    const onyx_tensor *const *ins = (const onyx_tensor *const *)ctx->inputs + p->first;
    int axes[MAX_RESULTS], n_in = p->n_state + p->n_scan_in, n_out = ctx->n_outputs;
    for (int k = 0; k < p->n_scan_in; k++)
        if ((st = op_axis(ctx, "scan_input_axes", p->in_axes[k], ins[p->n_state + k]->rank - p->batched, &axes[k])))
            return st;
    onyx_tensor *results = op_alloc_temp(ctx, (size_t)n_out * sizeof *results);
    if (!results)
        return ONYX_ERROR_LIMIT;
    if (!p->batched) {
        if (!(st = scan_once(ctx, p, body, ins, ins + p->n_state, axes, results)))
            st = keep(ctx, n_out, results);
        op_free_temp(ctx, results);
        return st;
    }
    /* Opset 8: one scan per batch entry, each result stacked along the batch axis. */
    int64_t batch = ins[0]->rank > 0 ? ins[0]->dims[0] : 0;
    for (int k = 0; k < n_in && !st; k++)
        if (ins[k]->rank < 1 || ins[k]->dims[0] != batch)
            st = op_error(ctx, ONYX_ERROR_RUNTIME, "every input must have the batch size %lld first", (long long)batch);
    onyx_tensor *slices = st ? NULL : op_alloc_temp(ctx, (size_t)(n_in + n_out) * sizeof *slices);
    const onyx_tensor **slice_ptrs = slices ? op_alloc_temp(ctx, (size_t)n_in * sizeof *slice_ptrs) : NULL;
    stack *stacks = slice_ptrs ? op_alloc_temp(ctx, (size_t)n_out * sizeof *stacks) : NULL;
    if (!st && !stacks)
        st = ONYX_ERROR_LIMIT;
    if (stacks) {
        memset(slices, 0, (size_t)(n_in + n_out) * sizeof *slices);
        memset(stacks, 0, (size_t)n_out * sizeof *stacks);
    }
    for (int64_t b = 0; b < batch && !st; b++) {
        for (int k = 0; k < n_in && !st; k++) {
            st = slice_along(ctx, ins[k], 0, b, &slices[k]);
            slice_ptrs[k] = &slices[k];
        }
        if (!st)
            st = scan_once(ctx, p, body, slice_ptrs, slice_ptrs + p->n_state, axes, results);
        temps_free(ctx, slices, n_in);
        for (int k = 0; k < n_out && !st; k++)
            st = stack_put(ctx, &stacks[k], &results[k], b, batch);
        if (!st)
            temps_free(ctx, results, n_out);
    }
    for (int k = 0; k < n_out && !st; k++) {
        stack_finish(&stacks[k], op_output(ctx, k) ? op_output(ctx, k)->dtype : ONYX_DTYPE_FLOAT, batch);
        results[k] = stacks[k].t, stacks[k].t.data = NULL;
    }
    if (!st)
        st = keep(ctx, n_out, results);
    for (int k = 0; stacks && k < n_out; k++)
        op_free_temp(ctx, stacks[k].t.data);
    op_free_temp(ctx, stacks);
    op_free_temp(ctx, slice_ptrs);
    op_free_temp(ctx, slices);
    op_free_temp(ctx, results);
    return st;
}

const op_descriptor op_Scan = {scan_check, scan_reshape, kept_run, 0};
