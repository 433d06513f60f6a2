/* Unique: the distinct elements of the flattened input, or its distinct slices along an
 * axis, in ascending order or in order of first occurrence; optionally the index of each
 * one's first occurrence, the index of each input item's unique, and the counts. Floats
 * compare as numbers (-0 equals +0), NaNs equal each other and sort last.
 *
 * The output size is in the data, so reshape does the work once the input is known: a
 * stable sort of the items, whose runs of equal items are the uniques (the first of a run
 * being the first occurrence). run then writes the outputs out. */
#include "elementwise.h"
#include "half.h"
#include "index_sort.h"
#include "op.h"
#include "shape_input.h"

#include <math.h>
#include <string.h>

/* < 0, 0, > 0 as element a of data sorts before, with, after element b. */
typedef int (*element_compare)(const void *data, int64_t a, int64_t b);

static int compare_floats(double x, double y)
{
    if (x < y)
        return -1;
    if (x > y)
        return 1;
    return x == y ? 0 : isnan(x) - isnan(y); /* NaN after every number, equal to NaN */
}

#define FLOAT_COMPARE(DT, T)                                                                   \
    static int compare_##DT(const void *d, int64_t a, int64_t b)                               \
    {                                                                                          \
        return compare_floats(((const T *)d)[a], ((const T *)d)[b]);                           \
    }
#define INT_COMPARE(DT, T)                                                                     \
    static int compare_##DT(const void *d, int64_t a, int64_t b)                               \
    {                                                                                          \
        T x = ((const T *)d)[a], y = ((const T *)d)[b];                                        \
        return (x > y) - (x < y);                                                              \
    }
#define HALF_COMPARE(DT, TO_FLOAT)                                                             \
    static int compare_##DT(const void *d, int64_t a, int64_t b)                               \
    {                                                                                          \
        return compare_floats(TO_FLOAT(((const uint16_t *)d)[a]), TO_FLOAT(((const uint16_t *)d)[b])); \
    }
FOR_FLOAT_TYPES(FLOAT_COMPARE)
FOR_INT_TYPES(INT_COMPARE)
INT_COMPARE(BOOL, uint8_t)
HALF_COMPARE(FLOAT16, half_to_float)
HALF_COMPARE(BFLOAT16, bfloat16_to_float)

#define COMPARER(DT, ...) [ONYX_DTYPE_##DT] = compare_##DT,
static const element_compare comparers[DTYPE_COUNT] = {
    FOR_NUMERIC_TYPES(COMPARER) COMPARER(BOOL) COMPARER(FLOAT16) COMPARER(BFLOAT16)};

typedef struct unique_params {
    bool flatten; /* no axis attribute */
    int64_t axis;
    bool sorted;
} unique_params;

/* The input as [outer, items, inner]: item k is x[:, k, :] (one element when flattened). */
typedef struct item_view {
    const void *data;
    element_compare compare;
    int64_t outer, items, inner;
} item_view;

typedef struct unique_state {
    item_view view;
    int64_t n_unique;
    int64_t *first;   /* [n_unique]: the item where each unique occurs first */
    int64_t *counts;  /* [n_unique] */
    int64_t *inverse; /* [items]: the unique of each item */
} unique_state;

static int compare_items(const void *context, int64_t a, int64_t b)
{
    const item_view *v = context;
    for (int64_t o = 0; o < v->outer; o++) {
        int64_t base = o * v->items * v->inner;
        for (int64_t i = 0; i < v->inner; i++) {
            int c = v->compare(v->data, base + a * v->inner + i, base + b * v->inner + i);
            if (c)
                return c;
        }
    }
    return 0;
}

static onyx_status unique_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 4);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    unique_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t sorted;
    p->flatten = !op_has_attr(ctx, "axis");
    if ((st = op_attr_int(ctx, "axis", 0, &p->axis)) || (st = op_attr_int(ctx, "sorted", 1, &sorted)))
        return st;
    if (sorted != 0 && sorted != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "sorted must be 0 or 1, got %lld", (long long)sorted);
    p->sorted = sorted;
    ctx->params = p;
    op_set_output_dtypes(ctx, ONYX_DTYPE_INT64);
    ctx->outputs[0]->dtype = op_input(ctx, 0)->dtype;
    return ONYX_OK;
}

/* Sorts the items and numbers their runs of equals: s->first, s->counts, s->inverse and
 * s->n_unique, the uniques in ascending order. order and tmp: scratch of s->view.items. */
static void find_uniques(unique_state *s, int64_t *order, int64_t *tmp)
{
    int64_t items = s->view.items;
    for (int64_t k = 0; k < items; k++)
        order[k] = k;
    index_sort(order, tmp, items, compare_items, &s->view);
    s->n_unique = 0;
    for (int64_t k = 0; k < items; k++) {
        if (k == 0 || compare_items(&s->view, order[k - 1], order[k])) {
            s->first[s->n_unique] = order[k];
            s->counts[s->n_unique++] = 0;
        }
        s->counts[s->n_unique - 1]++;
        s->inverse[order[k]] = s->n_unique - 1;
    }
}

/* Renumbers the uniques in order of first occurrence. renumber and tmp: scratch of n_unique. */
static void order_by_occurrence(unique_state *s, int64_t *renumber, int64_t *tmp)
{
    for (int64_t u = 0; u < s->n_unique; u++)
        renumber[u] = -1;
    int64_t next = 0;
    for (int64_t k = 0; k < s->view.items; k++) {
        int64_t *u = &s->inverse[k];
        if (renumber[*u] < 0)
            renumber[*u] = next++;
        *u = renumber[*u];
    }
    int64_t *lists[2] = {s->first, s->counts};
    for (int l = 0; l < 2; l++) {
        for (int64_t u = 0; u < s->n_unique; u++)
            tmp[renumber[u]] = lists[l][u];
        memcpy(lists[l], tmp, (size_t)s->n_unique * sizeof *tmp);
    }
}

static onyx_status unique_reshape(op_context *ctx)
{
    const unique_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    int axis = 0;
    onyx_status st = p->flatten ? ONYX_OK : op_axis(ctx, "axis", p->axis, x->rank, &axis);
    if (st)
        return st;
    int64_t items = p->flatten ? 1 : x->dims[axis];
    for (int d = 0; p->flatten && d < x->rank; d++)
        items = dim_mul(items, x->dims[d]);
    onyx_tensor *y = op_output(ctx, 0);
    if (p->flatten)
        tensor_set_shape(y, 1, &items);
    else
        tensor_set_shape(y, x->rank, x->dims);
    y->dims[axis] = DIM_UNKNOWN;
    for (int i = 1; i < ctx->n_outputs; i++)
        if (ctx->outputs[i])
            tensor_set_shape(ctx->outputs[i], 1, i == 2 ? &items : &y->dims[axis]);
    if (!ctx->concrete || values_unknown(x))
        return ONYX_OK; /* sizes unknown; a constant input is folded, which comes here concrete */

    unique_state *s = op_alloc_state(ctx, sizeof *s + 5 * (size_t)items * sizeof(int64_t));
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->view = (item_view){x->data, comparers[x->dtype], 1, items, 1};
    if (!p->flatten)
        shape_split(x, axis, &s->view.outer, &s->view.items, &s->view.inner);
    s->first = (int64_t *)(s + 1);
    s->counts = s->first + items;
    s->inverse = s->counts + items;
    int64_t *order = s->inverse + items, *tmp = order + items;
    find_uniques(s, order, tmp);
    if (!p->sorted)
        order_by_occurrence(s, order, tmp);
    for (int i = 0; i < ctx->n_outputs; i++)
        if (ctx->outputs[i] && i != 2)
            ctx->outputs[i]->dims[i ? 0 : axis] = s->n_unique;
    ctx->state = s;
    ctx->task_cost = tensor_count(x);
    return ONYX_OK;
}

static onyx_status unique_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const unique_state *s = ctx->state;
    const item_view *v = &s->view;
    size_t elem = onyx_dtype_size(ctx->inputs[0]->dtype), block = (size_t)v->inner * elem;
    const char *x = ctx->inputs[0]->data;
    char *y = ctx->outputs[0]->data;
    for (int64_t o = 0; o < v->outer && block; o++)
        for (int64_t u = 0; u < s->n_unique; u++)
            memcpy(y + (size_t)(o * s->n_unique + u) * block, x + (size_t)(o * v->items + s->first[u]) * block, block);
    const int64_t *lists[4] = {NULL, s->first, s->inverse, s->counts};
    for (int i = 1; i < ctx->n_outputs; i++)
        if (ctx->outputs[i] && tensor_bytes(ctx->outputs[i]))
            memcpy(ctx->outputs[i]->data, lists[i], tensor_bytes(ctx->outputs[i]));
    return ONYX_OK;
}

const op_descriptor op_Unique = {unique_check, unique_reshape, unique_run, 0};
