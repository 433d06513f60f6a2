/* Operators of domain ai.onnx.ml: Binarizer, ArrayFeatureExtractor and TreeEnsemble. */
#include "dtype_io.h"
#include "op.h"
#include "scalar.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define ML_ROWS_PER_TASK 256

/* ---- Binarizer --------------------------------------------------------------------------- */

/* y = x > threshold ? 1 : 0 in x's type; the comparison in double (an integer x against the
 * float threshold as numpy compares them); NaN gives 0. */
typedef struct binarizer_params {
    double threshold;
} binarizer_params;

static onyx_status binarizer_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS | DT(INT32) | DT(INT64));
    if (st)
        return st;
    binarizer_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    float threshold;
    if ((st = op_attr_float(ctx, "threshold", 0, &threshold)))
        return st;
    p->threshold = threshold;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status same_shape_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    tensor_set_shape(op_output(ctx, 0), x->rank, x->dims);
    return ONYX_OK;
}

static onyx_status binarizer_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const binarizer_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    int64_t n = tensor_count(x);
    for (int64_t i = 0; i < n; i++)
        scalar_store(y->data, i, y->dtype, scalar_load(x->data, i, x->dtype) > p->threshold);
    return ONYX_OK;
}

const op_descriptor op_Binarizer = {binarizer_check, same_shape_reshape, binarizer_run, 0};

/* ---- ArrayFeatureExtractor --------------------------------------------------------------- */

/* Z[..., j] = X[..., Y[j]] over the last axis of X, for the indices Y (any shape, flattened);
 * a vector X is taken as one row, so Z is [1, count]. Negative indices count from the end, as
 * numpy's indexing in ONNX's reference does. */
static onyx_status array_feature_extractor_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS | DT(INT32) | DT(INT64));
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT64));
    if (st)
        return st;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status array_feature_extractor_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0), *indices = op_input(ctx, 1);
    if (x->rank < 1) {
        char s[128];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must have at least one axis",
                        op_input_name(ctx, 0), shape_str(x, s, sizeof s));
    }
    int64_t dims[ONYX_MAX_RANK], count = 1;
    for (int d = 0; d < indices->rank; d++)
        count = dim_mul(count, indices->dims[d]);
    int rank = x->rank == 1 ? 2 : x->rank;
    if (x->rank == 1)
        dims[0] = 1;
    else
        memcpy(dims, x->dims, (size_t)(x->rank - 1) * sizeof dims[0]);
    dims[rank - 1] = count;
    tensor_set_shape(op_output(ctx, 0), rank, dims);
    return ONYX_OK;
}

static onyx_status array_feature_extractor_run(const op_context *ctx, int64_t begin, int64_t end,
                                               void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const onyx_tensor *x = ctx->inputs[0], *indices = ctx->inputs[1];
    onyx_tensor *z = ctx->outputs[0];
    const int64_t *index = indices->data;
    int64_t width = x->dims[x->rank - 1], count = tensor_count(indices);
    int64_t rows = width ? tensor_count(x) / width : 0;
    size_t size = onyx_dtype_size(x->dtype);
    for (int64_t j = 0; j < count; j++)
        if (index[j] < -width || index[j] >= width)
            return op_error(ctx, ONYX_ERROR_INVALID_INPUT,
                            "index %lld of '%s' is out of range for %lld features", (long long)index[j],
                            op_input_name(ctx, 1), (long long)width);
    const char *in = x->data;
    char *out = z->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < count; j++) {
            int64_t k = index[j] < 0 ? index[j] + width : index[j];
            memcpy(out + (size_t)(r * count + j) * size, in + (size_t)(r * width + k) * size, size);
        }
    return ONYX_OK;
}

const op_descriptor op_ArrayFeatureExtractor = {
    array_feature_extractor_check, array_feature_extractor_reshape, array_feature_extractor_run, 0};

/* ---- TreeEnsemble ------------------------------------------------------------------------ */

/* Y [N, n_targets]: for each row of X [N, F], each tree is walked from its root to a leaf,
 * whose weight is aggregated (sum, average, min or max) into the leaf's target; then the
 * post transform (all but PROBIT). */

enum { MODE_LEQ, MODE_LT, MODE_GTE, MODE_GT, MODE_EQ, MODE_NEQ, MODE_MEMBER };
enum { AGGREGATE_AVERAGE, AGGREGATE_SUM, AGGREGATE_MIN, AGGREGATE_MAX };
enum { POST_NONE, POST_SOFTMAX, POST_LOGISTIC, POST_SOFTMAX_ZERO, POST_PROBIT };

typedef struct tree_node {
    double split;
    int64_t feature;
    int64_t next[2];     /* [false, true]: a node, or a leaf when leaf[] says so */
    bool leaf[2];
    bool missing_true;   /* NaN takes the true branch */
    uint8_t mode;
    int64_t members, member_count; /* MODE_MEMBER: its values in tree_params.members */
} tree_node;

typedef struct tree_params {
    int64_t n_nodes, n_leaves, n_trees, n_targets;
    tree_node *nodes;
    double *weights;
    const int64_t *targets;
    int64_t *roots;       /* the node of each tree, or -1 - leaf for a tree that is one leaf */
    double *members;
    int aggregate;
    int post_transform;
    int64_t max_feature;  /* the largest feature id: X needs more columns */
} tree_params;

/* An INTS attribute of `count` entries (count -1: any, set from the attribute). */
static onyx_status ints_of(op_context *ctx, const char *name, int64_t *count, const int64_t **values)
{
    int64_t n;
    onyx_status st = op_attr_require(ctx, name);
    if (!st)
        st = op_attr_ints(ctx, name, values, &n);
    if (st)
        return st;
    if (*count >= 0 && n != *count)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' has %lld entries; expected %lld", name,
                        (long long)n, (long long)*count);
    *count = n;
    return ONYX_OK;
}

/* A tensor attribute of `count` float values (float, double or float16), read as doubles. */
static onyx_status doubles_of(op_context *ctx, const char *name, bool required, int64_t count, double **out,
                              int64_t *n_out)
{
    const onyx_tensor *t;
    onyx_status st = required ? op_attr_require(ctx, name) : ONYX_OK;
    if (!st)
        st = op_attr_tensor(ctx, name, &t);
    if (st)
        return st;
    *out = NULL;
    *n_out = 0;
    if (!t)
        return ONYX_OK;
    int64_t n = tensor_count(t);
    if (!((DT_FLOATS | DT(FLOAT16)) & (1u << t->dtype)) || (n && !t->data))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute '%s' must be a float, double or float16 tensor", name);
    if (count >= 0 && n != count)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' has %lld values; expected %lld", name,
                        (long long)n, (long long)count);
    if (!(*out = op_alloc_params(ctx, (size_t)(n ? n : 1) * sizeof **out)))
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++)
        (*out)[i] = float_io_load(t->dtype, t->data, i);
    *n_out = n;
    return ONYX_OK;
}

/* An error unless the branches of internal nodes form no cycle (Kahn's algorithm over the
 * node-to-node edges): every walk from a root then ends at a leaf within n_nodes steps. */
static onyx_status check_acyclic(op_context *ctx, const tree_params *p)
{
    int64_t n = p->n_nodes;
    int64_t *indegree = op_alloc_temp(ctx, (size_t)(2 * n + 1) * sizeof *indegree);
    if (!indegree)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t *queue = indegree + n, head = 0, tail = 0;
    memset(indegree, 0, (size_t)n * sizeof *indegree);
    for (int64_t i = 0; i < n; i++)
        for (int b = 0; b < 2; b++)
            if (!p->nodes[i].leaf[b])
                indegree[p->nodes[i].next[b]]++;
    for (int64_t i = 0; i < n; i++)
        if (!indegree[i])
            queue[tail++] = i;
    while (head < tail) {
        const tree_node *node = &p->nodes[queue[head++]];
        for (int b = 0; b < 2; b++)
            if (!node->leaf[b] && !--indegree[node->next[b]])
                queue[tail++] = node->next[b];
    }
    op_free_temp(ctx, indegree);
    if (tail < n)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the nodes' branches form a cycle");
    return ONYX_OK;
}

static onyx_status tree_ensemble_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS | DT(FLOAT16));
    if (st)
        return st;
    tree_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t post_transform, aggregate;
    if ((st = op_attr_int(ctx, "post_transform", 0, &post_transform)) ||
        (st = op_attr_int(ctx, "aggregate_function", AGGREGATE_SUM, &aggregate)) ||
        (st = op_attr_require(ctx, "n_targets")) || (st = op_attr_int(ctx, "n_targets", 0, &p->n_targets)))
        return st;
    if (post_transform < POST_NONE || post_transform > POST_PROBIT)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'post_transform' is %lld; expected 0 to 4",
                        (long long)post_transform);
    if (post_transform == POST_PROBIT)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "post_transform 4 (PROBIT) is not supported");
    p->post_transform = (int)post_transform;
    if (aggregate < AGGREGATE_AVERAGE || aggregate > AGGREGATE_MAX)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute 'aggregate_function' is %lld; expected 0 to 3", (long long)aggregate);
    p->aggregate = (int)aggregate;
    if (p->n_targets < 1 || p->n_targets > INT32_MAX)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'n_targets' is %lld",
                        (long long)p->n_targets);

    /* The nodes. */
    const int64_t *features, *true_ids, *false_ids, *true_leafs, *false_leafs, *missing = NULL;
    int64_t n = -1;
    if ((st = ints_of(ctx, "nodes_featureids", &n, &features)) ||
        (st = ints_of(ctx, "nodes_truenodeids", &n, &true_ids)) ||
        (st = ints_of(ctx, "nodes_falsenodeids", &n, &false_ids)) ||
        (st = ints_of(ctx, "nodes_trueleafs", &n, &true_leafs)) ||
        (st = ints_of(ctx, "nodes_falseleafs", &n, &false_leafs)))
        return st;
    if (n < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the ensemble has no nodes");
    if (op_has_attr(ctx, "nodes_missing_value_tracks_true") &&
        (st = ints_of(ctx, "nodes_missing_value_tracks_true", &n, &missing)))
        return st;
    p->n_nodes = n;
    const onyx_tensor *modes;
    if ((st = op_attr_require(ctx, "nodes_modes")) || (st = op_attr_tensor(ctx, "nodes_modes", &modes)))
        return st;
    if (modes->dtype != ONYX_DTYPE_UINT8 || tensor_count(modes) != n || !modes->data)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute 'nodes_modes' must be a uint8 tensor of %lld values", (long long)n);
    double *splits, *members;
    int64_t n_splits, n_members;
    if ((st = doubles_of(ctx, "nodes_splits", true, n, &splits, &n_splits)) ||
        (st = doubles_of(ctx, "membership_values", false, -1, &members, &n_members)))
        return st;
    p->members = members;

    /* The leaves. */
    int64_t n_leaves = -1, n_weights;
    if ((st = ints_of(ctx, "leaf_targetids", &n_leaves, &p->targets)) ||
        (st = doubles_of(ctx, "leaf_weights", true, n_leaves, &p->weights, &n_weights)))
        return st;
    p->n_leaves = n_leaves;
    for (int64_t i = 0; i < n_leaves; i++)
        if (p->targets[i] < 0 || p->targets[i] >= p->n_targets)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "leaf %lld has target %lld; n_targets is %lld",
                            (long long)i, (long long)p->targets[i], (long long)p->n_targets);

    if (!(p->nodes = op_alloc_params(ctx, (size_t)n * sizeof *p->nodes)))
        return ONYX_ERROR_OUT_OF_MEMORY;
    const uint8_t *mode = modes->data;
    int64_t member_pos = 0;
    for (int64_t i = 0; i < n; i++) {
        tree_node *node = &p->nodes[i];
        if (mode[i] > MODE_MEMBER)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "node %lld has mode %d; expected 0 to 6",
                            (long long)i, mode[i]);
        if (features[i] < 0 || features[i] > INT32_MAX)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "node %lld has feature id %lld", (long long)i,
                            (long long)features[i]);
        node->mode = mode[i];
        node->feature = features[i];
        p->max_feature = OP_MAX(p->max_feature, features[i]);
        node->split = splits[i];
        node->missing_true = missing && missing[i];
        node->leaf[0] = false_leafs[i] != 0;
        node->leaf[1] = true_leafs[i] != 0;
        node->next[0] = false_ids[i];
        node->next[1] = true_ids[i];
        for (int b = 0; b < 2; b++)
            if (node->next[b] < 0 || node->next[b] >= (node->leaf[b] ? n_leaves : n))
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "node %lld: its %s branch %lld is not a %s",
                                (long long)i, b ? "true" : "false", (long long)node->next[b],
                                node->leaf[b] ? "leaf" : "node");
        if (node->mode == MODE_MEMBER) {
            /* Its set: the next values of membership_values up to a NaN (or the end). */
            node->members = member_pos;
            while (member_pos < n_members && !isnan(members[member_pos]))
                member_pos++;
            node->member_count = member_pos - node->members;
            if (member_pos < n_members)
                member_pos++;
            else if (!members)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                "node %lld tests set membership but there is no 'membership_values'",
                                (long long)i);
        }
    }
    int64_t n_trees = -1;
    const int64_t *roots;
    if ((st = ints_of(ctx, "tree_roots", &n_trees, &roots)))
        return st;
    if (n_trees < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'tree_roots' is empty");
    p->n_trees = n_trees;
    if (!(p->roots = op_alloc_params(ctx, (size_t)n_trees * sizeof *p->roots)))
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int64_t t = 0; t < n_trees; t++) {
        int64_t r = roots[t];
        if (r < 0 || r >= n)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "tree %lld has root %lld; there are %lld nodes",
                            (long long)t, (long long)r, (long long)n);
        const tree_node *node = &p->nodes[r];
        /* A tree that is one leaf: a root whose branches are both that leaf. */
        bool single = node->leaf[0] && node->leaf[1] && node->next[0] == node->next[1];
        p->roots[t] = single ? -1 - node->next[0] : r;
    }
    if ((st = check_acyclic(ctx, p)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status tree_ensemble_reshape(op_context *ctx)
{
    const tree_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    char s[128];
    if (x->rank != 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must be [N, F]", op_input_name(ctx, 0),
                        shape_str(x, s, sizeof s));
    if (dim_known(x->dims[1]) && x->dims[1] <= p->max_feature)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s has no feature %lld",
                        op_input_name(ctx, 0), shape_str(x, s, sizeof s), (long long)p->max_feature);
    int64_t dims[2] = {x->dims[0], p->n_targets};
    tensor_set_shape(op_output(ctx, 0), 2, dims);
    if (ctx->concrete) {
        ctx->n_tasks = (x->dims[0] + ML_ROWS_PER_TASK - 1) / ML_ROWS_PER_TASK;
        ctx->task_cost = ML_ROWS_PER_TASK * p->n_trees * 8;
    }
    return ONYX_OK;
}

static bool branch_true(const tree_params *p, const tree_node *node, double v)
{
    if (isnan(v) && node->missing_true)
        return true;
    switch (node->mode) {
    case MODE_LEQ: return v <= node->split;
    case MODE_LT: return v < node->split;
    case MODE_GTE: return v >= node->split;
    case MODE_GT: return v > node->split;
    case MODE_EQ: return v == node->split;
    case MODE_NEQ: return v != node->split;
    default:
        for (int64_t i = 0; i < node->member_count; i++)
            if (v == p->members[node->members + i])
                return true;
        return false;
    }
}

/* The row's scores transformed as onnxruntime transforms them (ONNX's reference leaves them
 * as they are): SOFTMAX over the targets; LOGISTIC per score; SOFTMAX_ZERO a softmax in
 * which scores of 0 (within 1e-7) stay 0. */
static void post_transform(const tree_params *p, onyx_dtype dtype, void *y, int64_t out0)
{
    int64_t n = p->n_targets;
    if (p->post_transform == POST_LOGISTIC) {
        for (int64_t t = 0; t < n; t++)
            float_io_store(dtype, y, out0 + t, 1 / (1 + exp(-float_io_load(dtype, y, out0 + t))));
        return;
    }
    double top = -INFINITY, sum = 0;
    for (int64_t t = 0; t < n; t++)
        top = fmax(top, float_io_load(dtype, y, out0 + t));
    for (int64_t t = 0; t < n; t++) {
        double v = float_io_load(dtype, y, out0 + t);
        bool zero = p->post_transform == POST_SOFTMAX_ZERO && fabs(v) <= 1e-7;
        sum += zero ? 0 : exp(v - top);
    }
    for (int64_t t = 0; t < n; t++) {
        double v = float_io_load(dtype, y, out0 + t);
        bool zero = p->post_transform == POST_SOFTMAX_ZERO && fabs(v) <= 1e-7;
        float_io_store(dtype, y, out0 + t, zero ? v * exp(-top) : exp(v - top) / sum);
    }
}

/* Each row: every tree walked to its leaf, and the leaf's weight aggregated into its target in
 * the output's type (rounded at each step, as the reference's numpy array of X's type). */
static onyx_status tree_ensemble_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const tree_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    onyx_dtype dtype = x->dtype;
    int64_t rows = x->dims[0], features = x->dims[1];
    /* Targets no leaf reaches keep the start: the type's largest value for MIN, its lowest for
     * MAX (numpy's finfo, as the reference), else 0. */
    double largest = dtype == ONYX_DTYPE_DOUBLE ? DBL_MAX : dtype == ONYX_DTYPE_FLOAT ? FLT_MAX : 65504.0;
    double start = p->aggregate == AGGREGATE_MIN ? largest : p->aggregate == AGGREGATE_MAX ? -largest : 0;
    for (int64_t r = begin * ML_ROWS_PER_TASK; r < OP_MIN(end * ML_ROWS_PER_TASK, rows); r++) {
        int64_t out0 = r * p->n_targets;
        for (int64_t t = 0; t < p->n_targets; t++)
            float_io_store(dtype, y->data, out0 + t, start);
        for (int64_t t = 0; t < p->n_trees; t++) {
            int64_t at = p->roots[t], leaf;
            if (at < 0) {
                leaf = -1 - at;
            } else {
                for (;;) {
                    const tree_node *node = &p->nodes[at];
                    int b = branch_true(p, node, float_io_load(dtype, x->data, r * features + node->feature));
                    at = node->next[b];
                    if (node->leaf[b])
                        break;
                }
                leaf = at;
            }
            int64_t o = out0 + p->targets[leaf];
            double acc = float_io_load(dtype, y->data, o), w = p->weights[leaf];
            switch (p->aggregate) {
            case AGGREGATE_AVERAGE: acc += w / (double)p->n_trees; break;
            case AGGREGATE_SUM: acc += w; break;
            case AGGREGATE_MIN: acc = fmin(acc, w); break;
            default: acc = fmax(acc, w); break;
            }
            float_io_store(dtype, y->data, o, acc);
        }
        if (p->post_transform != POST_NONE)
            post_transform(p, dtype, y->data, out0);
    }
    return ONYX_OK;
}

const op_descriptor op_TreeEnsemble = {tree_ensemble_check, tree_ensemble_reshape, tree_ensemble_run, 0};
