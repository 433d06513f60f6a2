/* Sequences of tensors: SequenceEmpty, SequenceConstruct, SequenceAt, SequenceInsert,
 * SequenceErase, SequenceLength, SplitToSequence, ConcatFromSequence, SequenceMap.
 *
 * A sequence value is one block (op.h, onyx.h): reshape, which runs once the inputs are
 * computed (the runtime runs such nodes one by one), works out the items of each output
 * sequence and its block size; run lays the block out and copies the items' data in. Items
 * taken from an input sequence are copied, never shared: a block owns all it holds. */
#include "checks.h"
#include "op.h"

#include <string.h>

/* Sequences and outputs per node: plenty for real models, and it bounds what a hostile one
 * makes onyx allocate per item. */
#define MAX_RESULTS 1024

/* The items an output sequence gets, from reshape to run. An item whose data is NULL is
 * written by run itself (SplitToSequence's pieces). */
typedef struct items {
    int64_t count;
    onyx_tensor *items;
} items;

/* Input i must be a sequence of tensors (of an element dtype in `mask`). */
static onyx_status check_sequence(const op_context *ctx, int i, uint32_t mask)
{
    const onyx_tensor *t = op_input(ctx, i);
    char type[64];
    if (!t)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d is required but absent", i);
    if (((int)t->dtype & OP_CONTAINER) != ONYX_SEQUENCE)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d '%s' is a %s; it must be a sequence", i,
                        op_input_name(ctx, i), op_type_str(t->dtype, type, sizeof type));
    if (!(mask & (1u << ((int)t->dtype & 0x1f))))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "input %d '%s' is a %s; onyx lacks that element type", i,
                        op_input_name(ctx, i), op_type_str(t->dtype, type, sizeof type));
    return ONYX_OK;
}

/* A position input (int32 or int64, one element), or `dflt` when absent. */
static onyx_status read_position(const op_context *ctx, int i, int64_t dflt, int64_t *pos)
{
    const onyx_tensor *t = op_input(ctx, i);
    if (!t) {
        *pos = dflt;
        return ONYX_OK;
    }
    if (tensor_count(t) != 1)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "position '%s' must hold one value, has %lld",
                        op_input_name(ctx, i), (long long)tensor_count(t));
    *pos = t->dtype == ONYX_DTYPE_INT32 ? *(const int32_t *)t->data : *(const int64_t *)t->data;
    return ONYX_OK;
}

/* Normalizes a position into [0, length] (with `end_ok`, for an insertion) or [0, length). */
static onyx_status position_in(const op_context *ctx, int64_t pos, int64_t length, bool end_ok, int64_t *out)
{
    int64_t hi = end_ok ? length : length - 1;
    if (pos < -length || pos > hi) {
        if (length == 0 && !end_ok)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "position %lld is out of range: the sequence is empty",
                            (long long)pos);
        return op_error(ctx, ONYX_ERROR_RUNTIME,
                        "position %lld is out of range [%lld, %lld] for a sequence of %lld tensors",
                        (long long)pos, (long long)-length, (long long)hi, (long long)length);
    }
    *out = pos < 0 ? pos + length : pos;
    return ONYX_OK;
}

/* Room for `count` items in the node's state, the whole of `seq` (may be NULL) copied into
 * the first of them. */
static items *items_alloc(op_context *ctx, const onyx_tensor *seq, int64_t count)
{
    items *s = op_alloc_state(ctx, sizeof *s);
    if (!s || !(s->items = op_alloc_state(ctx, (size_t)(count + 1) * sizeof *s->items)))
        return NULL;
    s->count = count;
    for (int64_t k = 0; seq && k < onyx_value_length(seq) && k < count; k++)
        onyx_value_item(seq, k, &s->items[k]);
    ctx->state = s;
    return s;
}

/* Reshape's end for an output sequence of the items in ctx->state. */
static onyx_status items_size(op_context *ctx)
{
    const items *s = ctx->state;
    return op_container_size(ctx, 0, s->count, s->items);
}

static onyx_status items_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const items *s = ctx->state;
    op_container_write(ctx, 0, s->count, s->items);
    return ONYX_OK;
}

/* Output o is a sequence of `elem`, its size unknown until run. */
static void set_sequence_output(op_context *ctx, int o, onyx_dtype elem)
{
    onyx_tensor *out = op_output(ctx, o);
    if (out) {
        out->dtype = (onyx_dtype)(ONYX_SEQUENCE | (int)elem);
        out->rank = -1;
    }
}

/* ---- SequenceEmpty ----------------------------------------------------------------------- */

static onyx_status empty_check(op_context *ctx)
{
    int64_t dtype;
    onyx_status st = op_check_arity(ctx, 0, 0, 1, 1);
    if (!st)
        st = op_attr_int(ctx, "dtype", ONYX_DTYPE_FLOAT, &dtype);
    if (st)
        return st;
    if (dtype < 0 || dtype >= 32 || !(DT_ALL & (1u << dtype)))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "dtype %lld is not an element type onyx has",
                        (long long)dtype);
    set_sequence_output(ctx, 0, (onyx_dtype)dtype);
    return ONYX_OK;
}

static onyx_status empty_reshape(op_context *ctx)
{
    if (!ctx->concrete)
        return ONYX_DEFER;
    return items_alloc(ctx, NULL, 0) ? items_size(ctx) : ONYX_ERROR_OUT_OF_MEMORY;
}

const op_descriptor op_SequenceEmpty = {empty_check, empty_reshape, items_run, 0};

/* ---- SequenceConstruct ------------------------------------------------------------------- */

static onyx_status construct_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, MAX_RESULTS, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, ctx->n_inputs, ctx->n_inputs, DT_ALL);
    if (!st)
        set_sequence_output(ctx, 0, op_input(ctx, 0)->dtype);
    return st;
}

static onyx_status construct_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    items *s = items_alloc(ctx, NULL, ctx->n_inputs);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int i = 0; i < ctx->n_inputs; i++)
        s->items[i] = *ctx->inputs[i];
    return items_size(ctx);
}

const op_descriptor op_SequenceConstruct = {construct_check, construct_reshape, items_run, 0};

/* ---- SequenceAt -------------------------------------------------------------------------- */

static onyx_status at_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = check_sequence(ctx, 0, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT32) | DT(INT64));
    if (!st)
        op_set_output_dtypes(ctx, ONYX_ELEMENT_DTYPE(op_input(ctx, 0)->dtype));
    return st;
}

/* The item a position input chose, from reshape to run. */
typedef struct chosen {
    onyx_tensor item;
} chosen;

static onyx_status at_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const onyx_tensor *seq = op_input(ctx, 0);
    int64_t pos;
    if ((st = read_position(ctx, 1, 0, &pos)) ||
        (st = position_in(ctx, pos, onyx_value_length(seq), false, &pos)))
        return st;
    chosen *c = op_alloc_state(ctx, sizeof *c);
    if (!c)
        return ONYX_ERROR_OUT_OF_MEMORY;
    onyx_value_item(seq, pos, &c->item);
    ctx->state = c;
    tensor_set_shape(op_output(ctx, 0), c->item.rank, c->item.dims);
    return ONYX_OK;
}

static onyx_status chosen_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const chosen *c = ctx->state;
    size_t bytes = op_value_bytes(&c->item);
    if (bytes)
        memcpy(ctx->outputs[0]->data, c->item.data, bytes);
    return ONYX_OK;
}

const op_descriptor op_SequenceAt = {at_check, at_reshape, chosen_run, 0, false, 1};

/* ---- SequenceInsert ---------------------------------------------------------------------- */

static onyx_status insert_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, 1);
    if (!st)
        st = check_sequence(ctx, 0, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 2, false, DT(INT32) | DT(INT64));
    if (st)
        return st;
    onyx_dtype elem = ONYX_ELEMENT_DTYPE(op_input(ctx, 0)->dtype);
    if (op_input(ctx, 1)->dtype != elem)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "tensor '%s' is %s; the sequence holds %s",
                        op_input_name(ctx, 1), onyx_dtype_name(op_input(ctx, 1)->dtype),
                        onyx_dtype_name(elem));
    set_sequence_output(ctx, 0, elem);
    return ONYX_OK;
}

static onyx_status insert_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const onyx_tensor *seq = op_input(ctx, 0);
    int64_t n = onyx_value_length(seq), pos;
    if ((st = read_position(ctx, 2, n, &pos)) || (st = position_in(ctx, pos, n, true, &pos)))
        return st;
    items *s = items_alloc(ctx, NULL, n + 1);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int64_t k = 0, j = 0; k <= n; k++)
        if (k == pos)
            s->items[k] = *op_input(ctx, 1);
        else
            onyx_value_item(seq, j++, &s->items[k]);
    return items_size(ctx);
}

const op_descriptor op_SequenceInsert = {insert_check, insert_reshape, items_run, 0, false, 1};

/* ---- SequenceErase ----------------------------------------------------------------------- */

static onyx_status erase_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 2, 1, 1);
    if (!st)
        st = check_sequence(ctx, 0, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, false, DT(INT32) | DT(INT64));
    if (!st)
        set_sequence_output(ctx, 0, ONYX_ELEMENT_DTYPE(op_input(ctx, 0)->dtype));
    return st;
}

static onyx_status erase_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const onyx_tensor *seq = op_input(ctx, 0);
    int64_t n = onyx_value_length(seq), pos;
    if ((st = read_position(ctx, 1, -1, &pos)) || (st = position_in(ctx, pos, n, false, &pos)))
        return st;
    items *s = items_alloc(ctx, NULL, n - 1);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int64_t k = 0, j = 0; k < n; k++)
        if (k != pos)
            onyx_value_item(seq, k, &s->items[j++]);
    return items_size(ctx);
}

const op_descriptor op_SequenceErase = {erase_check, erase_reshape, items_run, 0, false, 1};

/* ---- SequenceLength ---------------------------------------------------------------------- */

static onyx_status length_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = check_sequence(ctx, 0, DT_ALL);
    if (!st)
        op_set_output_dtypes(ctx, ONYX_DTYPE_INT64);
    return st;
}

static onyx_status length_reshape(op_context *ctx)
{
    tensor_set_shape(op_output(ctx, 0), 0, NULL);
    return need_input_values(ctx);
}

static onyx_status length_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    *(int64_t *)ctx->outputs[0]->data = onyx_value_length(ctx->inputs[0]);
    return ONYX_OK;
}

const op_descriptor op_SequenceLength = {length_check, length_reshape, length_run, 0, false, 1};

/* ---- SplitToSequence --------------------------------------------------------------------- */

typedef struct split_params {
    int64_t axis;
    bool keepdims;
} split_params;

static onyx_status split_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (!st)
        st = op_check_input(ctx, 1, false, DT(INT32) | DT(INT64));
    split_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t keepdims;
    if ((st = op_attr_int(ctx, "axis", 0, &p->axis)) || (st = op_attr_int(ctx, "keepdims", 1, &keepdims)))
        return st;
    if (keepdims != 0 && keepdims != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "keepdims must be 0 or 1, not %lld",
                        (long long)keepdims);
    p->keepdims = keepdims;
    ctx->params = p;
    set_sequence_output(ctx, 0, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

/* The pieces: item k covers [start[k], start[k] + len) along the axis; kept in the state. */
typedef struct pieces {
    items out;
    int axis;
    int64_t *start;
} pieces;

static onyx_status split_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const split_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *split = op_input(ctx, 1);
    int axis;
    if ((st = op_axis(ctx, "axis", p->axis, x->rank, &axis)))
        return st;
    int64_t dim = x->dims[axis], count, chunk = 1;
    bool lengths = split && split->rank == 1;
    if (split && split->rank > 1)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "split must be a scalar or 1-D, has rank %d", split->rank);
    if (lengths) {
        count = split->dims[0];
    } else {
        if (split && (st = read_position(ctx, 1, 1, &chunk)))
            return st;
        if (chunk <= 0)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "split %lld must be positive", (long long)chunk);
        count = dim / chunk + (dim % chunk != 0);
    }
    if (count > MAX_RESULTS * 64)
        return op_error(ctx, ONYX_ERROR_LIMIT, "would make %lld tensors", (long long)count);
    pieces *ps = op_alloc_state(ctx, sizeof *ps);
    onyx_tensor *its = ps ? op_alloc_state(ctx, (size_t)(count + 1) * sizeof *its) : NULL;
    int64_t *start = its ? op_alloc_state(ctx, (size_t)(count + 1) * sizeof *start) : NULL;
    if (!start)
        return ONYX_ERROR_OUT_OF_MEMORY;
    /* Without a split input each piece is one slice, its axis dropped unless keepdims. */
    bool squeeze = !split && !p->keepdims;
    int64_t at = 0;
    for (int64_t k = 0; k < count; k++) {
        int64_t len = chunk;
        if (lengths)
            len = split->dtype == ONYX_DTYPE_INT32 ? ((const int32_t *)split->data)[k]
                                                   : ((const int64_t *)split->data)[k];
        else if (at + len > dim)
            len = dim - at;
        if (len < 0 || len > dim - at)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "split lengths must be non-negative and add up to %lld "
                            "(the input's dim %d)", (long long)dim, axis);
        start[k] = at;
        its[k] = (onyx_tensor){.dtype = x->dtype, .rank = squeeze ? x->rank - 1 : x->rank};
        for (int d = 0, j = 0; d < x->rank; d++)
            if (d != axis)
                its[k].dims[j++] = x->dims[d];
            else if (!squeeze)
                its[k].dims[j++] = len;
        at += len;
    }
    if (lengths && at != dim)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "split lengths add up to %lld, not %lld (the input's dim "
                        "%d)", (long long)at, (long long)dim, axis);
    *ps = (pieces){.out = {count, its}, .axis = axis, .start = start};
    ctx->state = ps;
    return op_container_size(ctx, 0, count, its);
}

static onyx_status split_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const pieces *ps = ctx->state;
    const onyx_tensor *x = ctx->inputs[0];
    op_container_write(ctx, 0, ps->out.count, ps->out.items);
    int64_t outer, len, inner;
    shape_split(x, ps->axis, &outer, &len, &inner);
    size_t row = (size_t)inner * onyx_dtype_size(x->dtype);
    for (int64_t k = 0; k < ps->out.count; k++) {
        onyx_tensor piece;
        onyx_value_item(ctx->outputs[0], k, &piece);
        int64_t n = k + 1 < ps->out.count ? ps->start[k + 1] - ps->start[k] : len - ps->start[k];
        for (int64_t o = 0; o < outer && n > 0; o++)
            memcpy((char *)piece.data + (size_t)(o * n) * row,
                   (const char *)x->data + (size_t)(o * len + ps->start[k]) * row, (size_t)n * row);
    }
    return ONYX_OK;
}

const op_descriptor op_SplitToSequence = {split_check, split_reshape, split_run, 0};

/* ---- ConcatFromSequence ------------------------------------------------------------------ */

typedef struct concat_params {
    int64_t axis;
    bool new_axis;
} concat_params;

static onyx_status concat_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = check_sequence(ctx, 0, DT_ALL);
    concat_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t new_axis;
    if ((st = op_attr_require(ctx, "axis")) || (st = op_attr_int(ctx, "axis", 0, &p->axis)) ||
        (st = op_attr_int(ctx, "new_axis", 0, &new_axis)))
        return st;
    if (new_axis != 0 && new_axis != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "new_axis must be 0 or 1, not %lld",
                        (long long)new_axis);
    p->new_axis = new_axis;
    ctx->params = p;
    op_set_output_dtypes(ctx, ONYX_ELEMENT_DTYPE(op_input(ctx, 0)->dtype));
    return ONYX_OK;
}

static onyx_status concat_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const concat_params *p = ctx->params;
    const onyx_tensor *seq = op_input(ctx, 0);
    int64_t n = onyx_value_length(seq);
    if (n == 0)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "the sequence is empty: there is nothing to concatenate");
    onyx_tensor first, item;
    onyx_value_item(seq, 0, &first);
    int rank = first.rank + p->new_axis, axis;
    if (rank > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "the result would have rank %d", rank);
    if (rank == 0)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "cannot concatenate scalars (without new_axis)");
    if ((st = op_axis(ctx, "axis", p->axis, rank, &axis)))
        return st;
    int64_t dims[ONYX_MAX_RANK], total = 0;
    for (int64_t k = 0; k < n; k++) {
        onyx_value_item(seq, k, &item);
        bool same = item.rank == first.rank;
        for (int d = 0; same && d < item.rank; d++)
            same = d == axis && !p->new_axis ? true : item.dims[d] == first.dims[d];
        if (!same)
            return op_error(ctx, ONYX_ERROR_RUNTIME,
                            "tensor %lld of the sequence has a shape unlike the first's (other than along "
                            "axis %d)", (long long)k, axis);
        total += p->new_axis ? 1 : item.dims[axis];
    }
    /* Stacking inserts the new axis; concatenating sums the items' sizes along it. */
    for (int d = 0, j = 0; d < rank; d++) {
        dims[d] = d == axis ? total : first.dims[j];
        j += d != axis || !p->new_axis;
    }
    if ((st = op_check_shape(ctx, rank, dims, "the result")))
        return st;
    tensor_set_shape(op_output(ctx, 0), rank, dims);
    return ONYX_OK;
}

static onyx_status concat_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const onyx_tensor *seq = ctx->inputs[0], *out = ctx->outputs[0];
    const concat_params *p = ctx->params;
    int64_t outer, total, inner;
    int axis = (int)(p->axis < 0 ? p->axis + out->rank : p->axis); /* checked in reshape */
    shape_split(out, axis, &outer, &total, &inner);
    size_t elem = onyx_dtype_size(out->dtype), at = 0;
    int64_t n = onyx_value_length(seq);
    for (int64_t k = 0; k < n; k++) {
        onyx_tensor item;
        onyx_value_item(seq, k, &item);
        int64_t len = p->new_axis ? 1 : item.dims[axis];
        size_t block = (size_t)(len * inner) * elem;
        for (int64_t o = 0; o < outer && block; o++)
            memcpy((char *)out->data + ((size_t)(o * total * inner) * elem + at),
                   (const char *)item.data + (size_t)o * block, block);
        at += block;
    }
    return ONYX_OK;
}

const op_descriptor op_ConcatFromSequence = {concat_check, concat_reshape, concat_run, 0, false, 1};

/* ---- SequenceMap ------------------------------------------------------------------------- */

/* Body: one item of each input sequence (and each tensor input whole) -> one item of each
 * output sequence. The body runs in reshape, once per item (like Loop's); the output blocks
 * are built then in the state and copied out by run. */
static onyx_status map_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, MAX_RESULTS, 1, MAX_RESULTS);
    if (!st)
        st = check_sequence(ctx, 0, DT_ALL);
    if (st)
        return st;
    const struct graph *body = op_attr_graph(ctx, "body");
    if (!body)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "needs a 'body' graph");
    if (op_graph_input_count(body) != ctx->n_inputs || op_graph_output_count(body) != ctx->n_outputs)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "body must take %d inputs and give %d outputs",
                        ctx->n_inputs, ctx->n_outputs);
    onyx_tensor *types = op_alloc_temp(ctx, (size_t)(ctx->n_inputs + ctx->n_outputs) * sizeof *types);
    if (!types)
        return ONYX_ERROR_LIMIT;
    for (int i = 0; i < ctx->n_inputs && !st; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        char type[64];
        if (!t)
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d is absent", i);
        else if ((int)t->dtype & ONYX_OPTIONAL)
            st = op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                          "input %d '%s' is a %s; it must be a tensor or a sequence", i,
                          op_input_name(ctx, i), op_type_str(t->dtype, type, sizeof type));
        else
            types[i] = (onyx_tensor){.dtype = ONYX_ELEMENT_DTYPE(t->dtype),
                                     .rank = op_is_tensor(t) ? t->rank : -1};
        if (!st && op_is_tensor(t))
            memcpy(types[i].dims, t->dims, sizeof t->dims);
    }
    if (!st)
        st = op_graph_check(ctx, body, types, types + ctx->n_inputs);
    for (int o = 0; o < ctx->n_outputs && !st; o++) {
        if (!op_is_tensor(&types[ctx->n_inputs + o]))
            st = op_error(ctx, ONYX_ERROR_UNSUPPORTED, "body output %d is not a tensor", o);
        else
            set_sequence_output(ctx, o, types[ctx->n_inputs + o].dtype);
    }
    op_free_temp(ctx, types);
    return st;
}

/* The output blocks, built in reshape. */
typedef struct mapped {
    int n;
    onyx_tensor *blocks;
} mapped;

static onyx_status map_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const struct graph *body = op_attr_graph(ctx, "body");
    int n_in = ctx->n_inputs, n_out = ctx->n_outputs;
    int64_t length = onyx_value_length(op_input(ctx, 0));
    for (int i = 1; i < n_in; i++)
        if (!op_is_tensor(op_input(ctx, i)) && onyx_value_length(op_input(ctx, i)) != length)
            return op_error(ctx, ONYX_ERROR_RUNTIME, "input sequence %d has %lld tensors, the first %lld", i,
                            (long long)onyx_value_length(op_input(ctx, i)), (long long)length);
    /* results[o * length + k]: item k of output o, in temp memory until the blocks are made. */
    size_t n_results = (size_t)n_out * (size_t)length;
    onyx_tensor *in = op_alloc_temp(ctx, (size_t)(n_in + n_out) * sizeof *in), *out = in ? in + n_in : NULL;
    onyx_tensor *results = in ? op_alloc_temp(ctx, (n_results + 1) * sizeof *results) : NULL;
    if (!results) {
        op_free_temp(ctx, in);
        return ONYX_ERROR_LIMIT;
    }
    int64_t done = 0;
    for (; done < length && !st; done++) {
        for (int i = 0; i < n_in; i++) {
            const onyx_tensor *t = op_input(ctx, i);
            if (op_is_tensor(t))
                in[i] = *t;
            else
                onyx_value_item(t, done, &in[i]);
        }
        if ((st = op_graph_run(ctx, body, in, out)))
            break;
        for (int o = 0; o < n_out; o++)
            results[(size_t)o * (size_t)length + (size_t)done] = out[o];
    }
    mapped *m = st ? NULL : op_alloc_state(ctx, sizeof *m);
    onyx_tensor *blocks = m ? op_alloc_state(ctx, (size_t)(n_out + 1) * sizeof *blocks) : NULL;
    if (!st && !blocks)
        st = ONYX_ERROR_OUT_OF_MEMORY;
    for (int o = 0; o < n_out && !st; o++) {
        onyx_tensor *r = results + (size_t)o * (size_t)length;
        size_t size = op_container_bytes(length, r);
        blocks[o] = (onyx_tensor){.dtype = ctx->outputs[o] ? ctx->outputs[o]->dtype : ONYX_DTYPE_UNDEFINED,
                                  .rank = 1, .dims = {(int64_t)size}};
        if (size == SIZE_MAX)
            st = op_error(ctx, ONYX_ERROR_LIMIT, "output %d is too large", o);
        else if (ctx->outputs[o] && !(blocks[o].data = op_alloc_state(ctx, size)))
            st = ONYX_ERROR_LIMIT;
        else if (ctx->outputs[o]) {
            op_container_fill(blocks[o].data, size, length, r);
            tensor_set_shape(ctx->outputs[o], 1, blocks[o].dims);
        }
    }
    for (size_t k = 0; k < n_results; k++) /* those not reached are zeroed */
        op_free_temp(ctx, results[k].data);
    op_free_temp(ctx, results);
    op_free_temp(ctx, in);
    if (st)
        return st;
    *m = (mapped){n_out, blocks};
    ctx->state = m;
    return ONYX_OK;
}

static onyx_status map_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const mapped *m = ctx->state;
    for (int o = 0; o < m->n; o++)
        if (ctx->outputs[o])
            memcpy(ctx->outputs[o]->data, m->blocks[o].data, op_value_bytes(&m->blocks[o]));
    return ONYX_OK;
}

const op_descriptor op_SequenceMap = {map_check, map_reshape, map_run, 0, false, ~UINT32_C(0)};
