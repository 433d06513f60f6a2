/* Fusion of what follows a float32 Conv: an inference BatchNormalization folded into its
 * weights and bias, then the rest into onyx.FusedConv (ops/conv.c), whose GEMM epilogue
 * applies it to each tile of the output while the tile is in cache, instead of a pass of its
 * own over the whole tensor:
 *
 *   Conv -> activation [-> Add(Z)]      MobileNet's and EfficientNet's blocks
 *   Conv -> Add(Z) [-> Relu]            ResNet's Relu(conv + shortcut): residual_first
 *
 * with the activation one of Relu, Clip (constant bounds: ReLU6), HardSwish, HardSigmoid, and
 * SiLU written as Mul(x, Sigmoid(x)); Z any value of exactly the output's shape. The Conv's
 * attributes move to the fused node, which takes the place of the chain's last node (so that
 * Z, computed anywhere before that node, is ready). */
#include "conv_plan.h" /* CONV_STEM_CHANNELS */
#include "gemm.h" /* gemm_activation: onyx.FusedConv's activation attribute */
#include "ir.h"
#include "pass_match.h"

#include <math.h>
#include <string.h>

/* What a chain after a Conv became: the nodes, first the root (the chain's last), and the
 * fused node's inputs and attributes. */
typedef struct conv_chain {
    match m;
    int input; /* the value the convolution reads (its X, or what a folded Mul scaled) */
    int scale; /* onyx.FusedConv's input 4, or -1 */
    int residual;
    gemm_activation activation;
    float params[2];
    bool residual_first;
    int last; /* the value the chain computes so far */
} conv_chain;

static void chain_add(conv_chain *c, const graph *g, const node *n)
{
    c->m.nodes[c->m.n_nodes++] = (int)(n - g->nodes);
    c->last = n->outputs[0];
}

static bool is_graph_output(const graph *g, int v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

/* The live node other than `not` reading v, for a v read exactly twice; NULL otherwise. */
static node *other_consumer(graph *g, int v, const node *not)
{
    if (g->values[v].n_uses != 2 || is_graph_output(g, v))
        return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        for (int k = 0; n != not && !n->dead && k < n->n_inputs + n->n_implicit; k++)
            if (n->inputs[k] == v)
                return n;
    }
    return NULL;
}

/* Whether r can be added to y elementwise without broadcasting: the same rank and dims. */
static bool same_shape(const onyx_tensor *r, const onyx_tensor *y)
{
    if (r->rank < 0 || r->rank != y->rank || r->dtype != y->dtype)
        return false;
    for (int d = 0; d < r->rank; d++)
        if (!dim_known(r->dims[d]) || r->dims[d] != y->dims[d])
            return false;
    return true;
}

/* Clip's bounds, from its inputs (opset 11 on) or attributes, when they are constants. */
static bool clip_bounds(const graph *g, const node *n, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    if (n->opset < 11) {
        const attribute *a = node_attr(n, "min"), *b = node_attr(n, "max");
        *lo = a ? a->f : *lo;
        *hi = b ? b->f : *hi;
        return true;
    }
    return (n->n_inputs < 2 || n->inputs[1] < 0 || scalar_value(g, n->inputs[1], lo)) &&
           (n->n_inputs < 3 || n->inputs[2] < 0 || scalar_value(g, n->inputs[2], hi));
}

static float attr_float(const node *n, const char *name, float dflt)
{
    const attribute *a = node_attr(n, name);
    return a && a->type == ATTR_FLOAT ? a->f : dflt;
}

/* The activation node reading c->last alone (or, for SiLU, the Sigmoid and Mul reading it),
 * joined to the chain; false when there is none. */
static bool take_activation(graph *g, conv_chain *c)
{
    node *next = sole_consumer(g, c->last);
    if (is_op(next, "", "Relu")) {
        c->activation = GEMM_ACTIVATION_RELU;
    } else if (is_op(next, "", "Clip") && clip_bounds(g, next, &c->params[0], &c->params[1])) {
        c->activation = GEMM_ACTIVATION_CLIP;
    } else if (is_op(next, "", "HardSwish")) {
        c->activation = GEMM_ACTIVATION_HARD_SWISH;
    } else if (is_op(next, "", "HardSigmoid")) {
        c->activation = GEMM_ACTIVATION_HARD_SIGMOID;
        c->params[0] = attr_float(next, "alpha", 0.2f);
        c->params[1] = attr_float(next, "beta", 0.5f);
    } else {
        /* SiLU: Mul(x, Sigmoid(x)), x read by both. */
        for (int i = 0; i < g->n_nodes; i++) {
            node *sigmoid = &g->nodes[i];
            if (!is_op(sigmoid, "", "Sigmoid") || sigmoid->inputs[0] != c->last)
                continue;
            node *mul = other_consumer(g, c->last, sigmoid);
            if (!is_op(mul, "", "Mul") || sole_consumer(g, sigmoid->outputs[0]) != mul ||
                other_input(mul, sigmoid->outputs[0]) != c->last)
                return false;
            c->activation = GEMM_ACTIVATION_SILU;
            chain_add(c, g, sigmoid);
            chain_add(c, g, mul);
            return true;
        }
        return false;
    }
    chain_add(c, g, next);
    return true;
}

/* An Add of c->last and another value of its shape, joined to the chain. */
static bool take_residual(graph *g, conv_chain *c)
{
    node *next = sole_consumer(g, c->last);
    if (!is_op(next, "", "Add"))
        return false;
    int other = other_input(next, c->last);
    if (other < 0 || other == c->last || !same_shape(&g->values[other].info, &g->values[c->last].info))
        return false;
    c->residual = other;
    chain_add(c, g, next);
    return true;
}

/* Turns the chain's last node into onyx.FusedConv with the Conv's inputs and attributes and
 * the chain's epilogue; the Conv and the rest of the chain die. (rewrite() in pass_match.c
 * builds a node from scalar attributes only: the Conv's lists move here, then rewrite_root.) */
static onyx_status fuse(onyx_model *model, graph *g, node *conv, const conv_chain *c)
{
    mem *mm = &model->mem;
    int n_inputs = c->scale >= 0 ? 5 : c->residual >= 0 ? 4 : 3, n_attrs = conv->n_attrs + 4;
    int *inputs = mem_alloc(mm, (size_t)(n_inputs + 1) * sizeof(int));
    attribute *attrs = mem_alloc(mm, (size_t)n_attrs * sizeof(attribute));
    char *op = mem_strdup(mm, "FusedConv"), *domain = mem_strdup(mm, "onyx");
    static const char *const names[4] = {"activation", "activation_alpha", "activation_beta", "residual_first"};
    bool ok = inputs && attrs && op && domain;
    for (int k = 0; ok && k < 4; k++) {
        attribute *a = &attrs[conv->n_attrs + k];
        ok = (a->name = mem_strdup(mm, names[k])) != NULL;
        a->type = k == 1 || k == 2 ? ATTR_FLOAT : ATTR_INT;
    }
    if (!ok) {
        for (int k = 0; attrs && k < 4; k++)
            mem_free(mm, attrs[conv->n_attrs + k].name);
        mem_free(mm, attrs);
        mem_free(mm, inputs);
        mem_free(mm, op);
        mem_free(mm, domain);
        return set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
    }
    attribute *extra = attrs + conv->n_attrs;
    extra[0].i = c->activation;
    extra[1].f = c->params[0];
    extra[2].f = c->params[1];
    extra[3].i = c->residual_first;
    /* The Conv's attributes change hands: the dead Conv keeps none to free. */
    if (conv->n_attrs)
        memcpy(attrs, conv->attrs, (size_t)conv->n_attrs * sizeof(attribute));
    mem_free(mm, conv->attrs);
    conv->attrs = NULL;
    conv->n_attrs = 0;
    inputs[0] = c->input;
    inputs[1] = conv->inputs[1];
    inputs[2] = conv->n_inputs > 2 ? conv->inputs[2] : -1;
    if (n_inputs > 3)
        inputs[3] = c->residual;
    if (n_inputs > 4)
        inputs[4] = c->scale;
    return rewrite_root(model, g, &c->m, domain, op, 1, n_inputs, inputs, n_attrs, attrs);
}

/* A constant float32 value read by this node alone (so that it may be rewritten), of `count`
 * elements when count >= 0. */
static bool own_constant(const graph *g, int v, int64_t count)
{
    const value *val = v >= 0 ? &g->values[v] : NULL;
    return val && val->kind == VALUE_CONSTANT && val->n_uses == 1 && !is_graph_output(g, v) &&
           val->info.dtype == ONYX_DTYPE_FLOAT && val->info.data &&
           (count < 0 || (val->info.rank == 1 && val->info.dims[0] == count));
}

static bool float_constant(const graph *g, int v, int64_t count)
{
    const value *val = v >= 0 ? &g->values[v] : NULL;
    return val && val->kind == VALUE_CONSTANT && val->info.dtype == ONYX_DTYPE_FLOAT && val->info.data &&
           val->info.rank == 1 && val->info.dims[0] == count;
}

/* Conv(X, W[, B]) -> BatchNormalization (inference: one output, constant scale, bias, mean and
 * var of one value per map) becomes Conv(X, W', B') with W' = W s and B' = (B - mean) s + bias,
 * s = scale / sqrt(var + epsilon) per map, computed in double. W' and B' take the places of
 * BatchNormalization's scale and bias (read by it alone), so that the graph needs no new
 * values; the Conv takes over its output. */
static int fold_batch_norm(onyx_model *model, graph *g, onyx_status *st)
{
    int folds = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *conv = &g->nodes[i];
        if (!is_op(conv, "", "Conv") || conv->n_inputs < 2 || conv->outputs[0] < 0)
            continue;
        node *bn = sole_consumer(g, conv->outputs[0]);
        const value *w = &g->values[conv->inputs[1]];
        if (!is_op(bn, "", "BatchNormalization") || bn->n_inputs != 5 || bn->inputs[0] != conv->outputs[0] ||
            w->kind != VALUE_CONSTANT || w->info.dtype != ONYX_DTYPE_FLOAT || !w->info.data || w->info.rank < 3)
            continue;
        int64_t maps = w->info.dims[0], per_map = 1;
        for (int d = 1; d < w->info.rank; d++)
            per_map *= w->info.dims[d];
        int bias = conv->n_inputs > 2 ? conv->inputs[2] : -1;
        const attribute *training = node_attr(bn, "training_mode"), *eps = node_attr(bn, "epsilon");
        if ((training && training->i) || !own_constant(g, bn->inputs[1], maps) ||
            !own_constant(g, bn->inputs[2], maps) || !float_constant(g, bn->inputs[3], maps) ||
            !float_constant(g, bn->inputs[4], maps) ||
            (bias >= 0 && !float_constant(g, bias, maps)))
            continue;
        float *folded_w = mem_alloc(&model->mem, (size_t)(maps * per_map) * sizeof(float));
        float *folded_b = mem_alloc(&model->mem, (size_t)maps * sizeof(float));
        if (!folded_w || !folded_b) {
            mem_free(&model->mem, folded_w);
            mem_free(&model->mem, folded_b);
            *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
            break;
        }
        const float *scale = g->values[bn->inputs[1]].info.data, *shift = g->values[bn->inputs[2]].info.data;
        const float *mean = g->values[bn->inputs[3]].info.data, *var = g->values[bn->inputs[4]].info.data;
        const float *b = bias >= 0 ? g->values[bias].info.data : NULL, *weights = w->info.data;
        double epsilon = eps ? eps->f : 1e-5;
        for (int64_t m = 0; m < maps; m++) {
            double k = scale[m] / sqrt((double)var[m] + epsilon);
            for (int64_t j = 0; j < per_map; j++)
                folded_w[m * per_map + j] = (float)(weights[m * per_map + j] * k);
            folded_b[m] = (float)(((b ? b[m] : 0.0) - mean[m]) * k + shift[m]);
        }
        value *vw = &g->values[bn->inputs[1]], *vb = &g->values[bn->inputs[2]];
        value_free_data(&model->mem, vw);
        value_free_data(&model->mem, vb);
        onyx_tensor shape = w->info;
        vw->info = shape;
        vw->info.data = folded_w;
        vb->info.data = folded_b;
        int *inputs = conv->n_inputs >= 3 ? conv->inputs : mem_alloc(&model->mem, 3 * sizeof(int));
        if (!inputs) {
            *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
            break;
        }
        if (inputs != conv->inputs) {
            inputs[0] = conv->inputs[0];
            mem_free(&model->mem, conv->inputs);
            conv->inputs = inputs;
            conv->n_inputs = 3;
        }
        conv->inputs[1] = bn->inputs[1];
        conv->inputs[2] = bn->inputs[2];
        /* The Conv writes what BatchNormalization wrote; its old output is left unread. */
        int out = bn->outputs[0];
        g->values[conv->outputs[0]].producer = (int)(bn - g->nodes); /* as a dead node's outputs are */
        conv->outputs[0] = out;
        g->values[out].producer = i;
        *st = absorb(model, g, conv, bn);
        folds++;
    }
    return folds;
}

/* Whether the list attribute `name` of n is absent or all `value`. */
static bool ints_all(const node *n, const char *name, int64_t value)
{
    const attribute *a = node_attr(n, name);
    for (int64_t k = 0; a && k < a->count; k++)
        if (a->type != ATTR_INTS || a->ints[k] != value)
            return false;
    return true;
}

static int64_t attr_int(const node *n, const char *name, int64_t dflt)
{
    const attribute *a = node_attr(n, name);
    return a && a->type == ATTR_INT ? a->i : dflt;
}

/* A constant float32 W of [M, C, kh, kw]. */
static const onyx_tensor *conv_weights(const graph *g, const node *n)
{
    const value *w = n->n_inputs > 1 && n->inputs[1] >= 0 ? &g->values[n->inputs[1]] : NULL;
    return w && w->kind == VALUE_CONSTANT && w->info.dtype == ONYX_DTYPE_FLOAT && w->info.data && w->info.rank == 4
               ? &w->info
               : NULL;
}

/* A convolution with weights w of a 1x1 kernel, unit strides and no padding. */
static bool pointwise(const node *n, const onyx_tensor *w)
{
    const attribute *pad = node_attr(n, "auto_pad");
    return w && w->dims[2] == 1 && w->dims[3] == 1 && ints_all(n, "strides", 1) && ints_all(n, "pads", 0) &&
           (!pad || !pad->s || !strcmp(pad->s, "NOTSET") || !strcmp(pad->s, "VALID"));
}

/* Sets the int attribute `name` of n to 1 (n has none of that name). */
static onyx_status add_flag(onyx_model *model, node *n, const char *name)
{
    attribute *attrs = mem_alloc(&model->mem, (size_t)(n->n_attrs + 1) * sizeof(attribute));
    char *copy = mem_strdup(&model->mem, name);
    if (!attrs || !copy) {
        mem_free(&model->mem, attrs);
        mem_free(&model->mem, copy);
        return set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
    }
    if (n->n_attrs)
        memcpy(attrs, n->attrs, (size_t)n->n_attrs * sizeof(attribute));
    attrs[n->n_attrs] = (attribute){.name = copy, .type = ATTR_INT, .i = 1};
    mem_free(&model->mem, n->attrs);
    n->attrs = attrs;
    n->n_attrs++;
    return ONYX_OK;
}

/* How an onyx.FusedConv takes channels last (conv.c: channels_last_plan): a 1x1 convolution
 * (one group, unit strides, no padding) reads and writes them, reading them only to write them
 * (with its residual channels last too); a stem (one group, at most CONV_STEM_CHANNELS input
 * channels, no dilation, no residual or scale) writes them; a depthwise convolution reads them,
 * and writes them when it reads them. */
typedef enum layout_kind { LAYOUT_NONE, LAYOUT_POINTWISE, LAYOUT_STEM, LAYOUT_DEPTHWISE } layout_kind;

static layout_kind layout_kind_of(const graph *g, const node *n)
{
    if (!is_op(n, "onyx", "FusedConv") || n->inputs[0] < 0 || node_attr(n, "channels_last_output") ||
        node_attr(n, "channels_last_input"))
        return LAYOUT_NONE;
    const onyx_tensor *w = conv_weights(g, n), *x = &g->values[n->inputs[0]].info;
    if (!w || w->dims[1] < 1 || x->dtype != ONYX_DTYPE_FLOAT || x->rank != 4)
        return LAYOUT_NONE;
    int64_t group = attr_int(n, "group", 1);
    if (group == 1 && pointwise(n, w))
        return LAYOUT_POINTWISE;
    if ((n->n_inputs > 3 && n->inputs[3] >= 0) || (n->n_inputs > 4 && n->inputs[4] >= 0))
        return LAYOUT_NONE;
    if (group == 1 && w->dims[1] <= CONV_STEM_CHANNELS && ints_all(n, "dilations", 1))
        return LAYOUT_STEM;
    return w->dims[1] == 1 && group == w->dims[0] ? LAYOUT_DEPTHWISE : LAYOUT_NONE;
}

/* Whether node n (of layout kind `kind`) reads channels last at input k, given the layout of
 * its output. */
static bool reads_channels_last(const node *n, layout_kind kind, int k, bool output_last)
{
    if (k >= n->n_inputs)
        return false; /* a subgraph's */
    if (is_op(n, "", "GlobalAveragePool"))
        return k == 0;
    return (kind == LAYOUT_DEPTHWISE && k == 0) || (kind == LAYOUT_POINTWISE && (k == 0 || k == 3) && output_last);
}

/* Channels last ([N, H, W, C]) for the values between the convolutions of an inverted-residual
 * network (MobileNet's, EfficientNet's: stem, expansion, depthwise, squeeze-and-excitation,
 * projection with its shortcut, head): a value written by an onyx.FusedConv that can write
 * them is kept channels last when every reader can read them (another such convolution, or a
 * GlobalAveragePool, which becomes onyx.GlobalAveragePool); found by removing, until nothing
 * changes, each value some reader cannot take that way. The 1x1 products then read X^T in
 * place and write Y^T as their tiles come out, the depthwise convolutions read and write a
 * vector of channels per pixel, with no padded copies, no split of a stride-2 row into phases
 * and no transposition but where the layout begins (a 1x1 product reading NCHW) or ends (a
 * depthwise convolution writing it). The nodes are set up again. */
static int layout_channels_last(onyx_model *model, graph *g, onyx_status *st)
{
    unsigned char *kind = mem_alloc(&model->mem, (size_t)g->n_nodes + 1);
    unsigned char *last = mem_alloc(&model->mem, (size_t)g->n_values + 1);
    if (!kind || !last) {
        mem_free(&model->mem, kind);
        mem_free(&model->mem, last);
        *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
        return 0;
    }
    memset(last, 0, (size_t)g->n_values + 1);
    for (int i = 0; i < g->n_nodes; i++) {
        const node *n = &g->nodes[i];
        kind[i] = n->dead ? LAYOUT_NONE : (unsigned char)layout_kind_of(g, n);
        int v = kind[i] && n->n_outputs == 1 ? n->outputs[0] : -1;
        const onyx_tensor *t = v >= 0 ? &g->values[v].info : NULL;
        /* [N, C, 1, 1] is the same either way: left as it is. */
        last[v < 0 ? g->n_values : v] = t && t->rank == 4 && !is_graph_output(g, v) && g->values[v].n_uses > 0 &&
                                        !(t->dims[2] == 1 && t->dims[3] == 1);
    }
    last[g->n_values] = 0;
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = 0; i < g->n_nodes; i++) {
            const node *n = &g->nodes[i];
            if (n->dead)
                continue;
            int out = n->n_outputs ? n->outputs[0] : -1;
            bool output_last = out >= 0 && last[out];
            for (int k = 0; k < n->n_inputs + n->n_implicit; k++) {
                int v = n->inputs[k];
                if (v >= 0 && last[v] && !reads_channels_last(n, kind[i], k, output_last)) {
                    last[v] = 0;
                    changed = true;
                }
            }
            /* A depthwise convolution writes channels last only when it reads them; a 1x1 one
             * adds its residual in the layout it writes. */
            int extra = kind[i] == LAYOUT_DEPTHWISE                         ? n->inputs[0]
                        : kind[i] == LAYOUT_POINTWISE && n->n_inputs > 3 ? n->inputs[3]
                                                                          : -1;
            if (output_last && extra >= 0 && !last[extra]) {
                last[out] = 0;
                changed = true;
            }
        }
    }
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool in = n->n_inputs > 0 && n->inputs[0] >= 0 && last[n->inputs[0]];
        bool out = n->n_outputs > 0 && n->outputs[0] >= 0 && last[n->outputs[0]];
        if (is_op(n, "", "GlobalAveragePool") && in) {
            char *domain = mem_strdup(&model->mem, "onyx"), *op = mem_strdup(&model->mem, n->op_type);
            int *inputs = mem_alloc(&model->mem, 2 * sizeof(int));
            if (!domain || !op || !inputs) {
                mem_free(&model->mem, domain);
                mem_free(&model->mem, op);
                mem_free(&model->mem, inputs);
                *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
                break;
            }
            inputs[0] = n->inputs[0];
            match m = {.nodes = {i}, .n_nodes = 1};
            *st = rewrite_root(model, g, &m, domain, op, 1, 1, inputs, 0, NULL);
            rewrites++;
            continue;
        }
        if (!kind[i] || (!in && !out))
            continue;
        if ((out && (*st = add_flag(model, n, "channels_last_output"))) ||
            (in && (*st = add_flag(model, n, "channels_last_input"))))
            break;
        *st = set_up_again(model, g, n);
        rewrites++;
    }
    mem_free(&model->mem, kind);
    mem_free(&model->mem, last);
    return rewrites;
}

/* Whether s is a per-channel scale of x, as a squeeze-and-excitation block computes it: float32
 * x of [N, C, H, W] (H x W > 1, all known) and s of [N or 1, C, 1, 1]. */
static bool channel_scale(const graph *g, int s, int x, int64_t channels)
{
    const onyx_tensor *ts = &g->values[s].info, *tx = &g->values[x].info;
    if (ts->dtype != ONYX_DTYPE_FLOAT || tx->dtype != ONYX_DTYPE_FLOAT || ts->rank != 4 || tx->rank != 4)
        return false;
    for (int d = 0; d < 4; d++)
        if (!dim_known(tx->dims[d]) || !dim_known(ts->dims[d]))
            return false;
    return tx->dims[1] == channels && ts->dims[1] == channels && ts->dims[2] == 1 && ts->dims[3] == 1 &&
           tx->dims[2] * tx->dims[3] > 1 && (ts->dims[0] == 1 || ts->dims[0] == tx->dims[0]);
}

/* Mul(X, S), S a scale per image and channel ([N or 1, C, 1, 1]), read only by a 1x1
 * convolution over C >= 2 channels (one group, unit strides, no padding: MobileNetV3's and
 * EfficientNet's squeeze-and-excitation before the projection): the convolution reads X and S
 * (onyx.FusedConv's input 4) and scales its weights, or its copy of X, per image (conv.c):
 * W (X S) = (W S) X, with no pass over X. A Conv becomes an onyx.FusedConv without an
 * activation; an onyx.FusedConv (with its residual) takes the extra input. */
static int fold_channel_scale(onyx_model *model, graph *g, onyx_status *st)
{
    int folds = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *conv = &g->nodes[i];
        bool fused = is_op(conv, "onyx", "FusedConv");
        if ((!fused && !is_op(conv, "", "Conv")) || conv->n_inputs < 2 || conv->inputs[0] < 0 ||
            (fused && (conv->n_inputs > 4 || node_attr(conv, "channels_last_output") ||
                       node_attr(conv, "channels_last_input"))))
            continue;
        node *mul = sole_producer(g, conv->inputs[0], "Mul");
        const onyx_tensor *w = conv_weights(g, conv);
        if (!mul || mul->n_inputs != 2 || mul->inputs[0] < 0 || mul->inputs[1] < 0 || !pointwise(conv, w) ||
            w->dims[1] < 2 || attr_int(conv, "group", 1) != 1)
            continue;
        int x = -1, scale = -1;
        for (int k = 0; k < 2; k++)
            if (channel_scale(g, mul->inputs[k], mul->inputs[1 - k], w->dims[1])) {
                scale = mul->inputs[k];
                x = mul->inputs[1 - k];
            }
        if (x < 0)
            continue;
        if (!fused) {
            conv_chain c = {.input = x, .scale = scale, .residual = -1, .last = conv->outputs[0]};
            c.m.nodes[c.m.n_nodes++] = i;
            c.m.nodes[c.m.n_nodes++] = (int)(mul - g->nodes);
            *st = fuse(model, g, conv, &c);
            folds++;
            continue;
        }
        int *inputs = mem_alloc(&model->mem, 6 * sizeof(int));
        if (!inputs) {
            *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
            break;
        }
        for (int k = 0; k < 4; k++)
            inputs[k] = k < conv->n_inputs ? conv->inputs[k] : -1;
        inputs[0] = x;
        inputs[4] = scale;
        mem_free(&model->mem, conv->inputs);
        conv->inputs = inputs;
        conv->n_inputs = 5;
        *st = absorb(model, g, conv, mul);
        folds++;
    }
    return folds;
}

/* ---- ConvNeXt's residual stream channels last ------------------------------------------- */

/* Whether n is a live Transpose of a rank-4 tensor to channels last ([N, C, H, W] -> [N, H, W,
 * C]: perm [0, 2, 3, 1]) or back ([0, 3, 1, 2]). */
static bool transpose_to(const node *n, bool last)
{
    return n && !n->dead && is_op(n, "", "Transpose") && n->n_inputs == 1 && n->inputs[0] >= 0 &&
           n->n_outputs == 1 && n->outputs[0] >= 0 && (last ? transposes(n, 2, 3, 1) : transposes(n, 3, 1, 2));
}

/* The live node producing v, or NULL. */
static node *producer_of(graph *g, int v)
{
    const value *val = v >= 0 ? &g->values[v] : NULL;
    node *n = val && val->kind == VALUE_NODE && val->producer >= 0 ? &g->nodes[val->producer] : NULL;
    return n && !n->dead ? n : NULL;
}

/* Node i now writes value v (whose producer it becomes); the value it wrote is left unread,
 * as a dead node's outputs are. */
static void write_instead(graph *g, int i, int v, int dead)
{
    node *n = &g->nodes[i];
    g->values[n->outputs[0]].producer = dead;
    n->outputs[0] = v;
    g->values[v].producer = i;
}

static void swap_nodes(graph *g, int i, int j)
{
    node t = g->nodes[i];
    g->nodes[i] = g->nodes[j];
    g->nodes[j] = t;
    for (int k = 0; k < 2; k++)
        for (int o = 0, at = k ? j : i; o < g->nodes[at].n_outputs; o++)
            if (g->nodes[at].outputs[o] >= 0)
                g->values[g->nodes[at].outputs[o]].producer = at;
}

/* A convolution read only by Transpose(0, 2, 3, 1) writes the transpose's output itself,
 * channels last, where it can (layout_kind_of): a stem or a 1x1 convolution reading [N, C, H, W];
 * a depthwise one reading channels last too: x itself where its input is Transpose(0, 3, 1, 2)
 * of x, else (stride 1: the input as large as the output) with the transpose moved onto its
 * input, before it. A Conv becomes an onyx.FusedConv first. */
static bool conv_writes_transposed(onyx_model *model, graph *g, int i, onyx_status *st)
{
    node *conv = &g->nodes[i];
    bool plain = is_op(conv, "", "Conv");
    if ((!plain && !is_op(conv, "onyx", "FusedConv")) || conv->n_inputs < 2 || conv->inputs[0] < 0 ||
        conv->n_outputs != 1 || conv->outputs[0] < 0 || g->values[conv->inputs[0]].info.dtype != ONYX_DTYPE_FLOAT ||
        g->values[conv->inputs[0]].info.rank != 4 || !conv_weights(g, conv))
        return false;
    int d = conv->outputs[0];
    node *t = sole_consumer(g, d);
    if (!transpose_to(t, true) || is_graph_output(g, d))
        return false;
    int j = (int)(t - g->nodes), input = conv->inputs[0];
    node *before = producer_of(g, input);
    bool in_place = transpose_to(before, false);
    if (plain) {
        conv_chain c = {.input = input, .scale = -1, .residual = -1, .last = d};
        c.m.nodes[c.m.n_nodes++] = i;
        if ((*st = fuse(model, g, conv, &c)))
            return false;
    }
    layout_kind kind = layout_kind_of(g, conv);
    if (kind == LAYOUT_POINTWISE && conv->n_inputs > 3 && conv->inputs[3] >= 0)
        kind = LAYOUT_NONE; /* its residual would have to be channels last too */
    bool moved = kind == LAYOUT_DEPTHWISE && !in_place && ints_all(conv, "strides", 1);
    if (kind == LAYOUT_NONE || (kind == LAYOUT_DEPTHWISE && !in_place && !moved))
        return plain; /* a Conv became an onyx.FusedConv */
    if ((*st = add_flag(model, conv, "channels_last_output")) ||
        (kind == LAYOUT_DEPTHWISE && (*st = add_flag(model, conv, "channels_last_input"))))
        return false;
    int t1 = t->outputs[0];
    if (moved) {
        /* The transpose goes to i, reading the input into d (now [N, H, W, C]); the
         * convolution to j, reading d into the transpose's output. */
        swap_nodes(g, i, j);
        g->nodes[i].inputs[0] = input;
        g->nodes[i].outputs[0] = d;
        g->values[d].producer = i;
        g->nodes[j].inputs[0] = d;
        g->nodes[j].outputs[0] = t1;
        g->values[t1].producer = j;
        if ((*st = set_up_again(model, g, &g->nodes[i])) || (*st = set_up_again(model, g, &g->nodes[j])))
            return false;
    } else {
        if (kind == LAYOUT_DEPTHWISE)
            conv->inputs[0] = before->inputs[0];
        write_instead(g, i, t1, j);
        *st = absorb(model, g, conv, t);
        return true;
    }
    recount_uses(g);
    return true;
}

/* The value holding s transposed to [N, H, W, C] before node `before` runs: x where s is
 * Transpose(0, 3, 1, 2) of x, or the output of a Transpose(0, 2, 3, 1) of s; -1 if none. */
static int channels_last_twin(graph *g, int s, int before)
{
    node *p = producer_of(g, s);
    if (transpose_to(p, false)) {
        const value *x = &g->values[p->inputs[0]];
        return x->kind != VALUE_NODE || x->producer < before ? p->inputs[0] : -1;
    }
    for (int i = 0; i < before; i++)
        if (transpose_to(&g->nodes[i], true) && g->nodes[i].inputs[0] == s)
            return g->nodes[i].outputs[0];
    return -1;
}

/* Add(Mul(Transpose(Y, (0, 3, 1, 2)), gamma), S), Y = onyx.FusedMatMul(A, W[, b]) with no
 * activation or residual, gamma a constant [C, 1, 1] or [1, C, 1, 1] (ConvNeXt's layer scale),
 * S with a channels-last twin X (channels_last_twin): gamma goes into W's columns and b, the
 * product adds X in its epilogue (the stream stays [N, H, W, C]), and the Transpose writes the
 * Add's output: Transpose(A W' + b' + X) = Transpose(A W + b) gamma + S. */
static bool fold_layer_scale(onyx_model *model, graph *g, int i, onyx_status *st)
{
    node *add = &g->nodes[i];
    if (!is_op(add, "", "Add") || add->n_inputs != 2 || add->outputs[0] < 0 || add->inputs[0] < 0 || add->inputs[1] < 0)
        return false;
    for (int k = 0; k < 2; k++) {
        node *mul = sole_producer(g, add->inputs[k], "Mul");
        int s = add->inputs[1 - k];
        for (int q = 0; mul && mul->n_inputs == 2 && q < 2; q++) {
            int gamma = mul->inputs[1 - q];
            node *t = mul->inputs[q] >= 0 ? sole_producer(g, mul->inputs[q], "Transpose") : NULL;
            if (!transpose_to(t, false))
                continue;
            int y = t->inputs[0];
            node *f = producer_of(g, y);
            const onyx_tensor *ty = &g->values[y].info;
            const attribute *act = f ? node_attr(f, "activation") : NULL;
            if (!is_op(f, "onyx", "FusedMatMul") || g->values[y].n_uses != 1 || is_graph_output(g, y) ||
                (f->n_inputs > 3 && f->inputs[3] >= 0) || (act && act->i != GEMM_ACTIVATION_NONE) ||
                ty->rank != 4 || !dim_known(ty->dims[3]))
                continue;
            int64_t c = ty->dims[3];
            int w = f->inputs[1], bias = f->n_inputs > 2 ? f->inputs[2] : -1;
            const value *vg = &g->values[gamma];
            bool per_channel = vg->kind == VALUE_CONSTANT && vg->info.dtype == ONYX_DTYPE_FLOAT && vg->info.data &&
                               (vg->info.rank == 3 || vg->info.rank == 4) &&
                               vg->info.dims[vg->info.rank - 3] == c && vg->info.dims[vg->info.rank - 2] == 1 &&
                               vg->info.dims[vg->info.rank - 1] == 1 && (vg->info.rank == 3 || vg->info.dims[0] == 1);
            int x = per_channel && own_constant(g, w, -1) && g->values[w].info.rank == 2 &&
                            g->values[w].info.dims[1] == c && (bias < 0 || own_constant(g, bias, c))
                        ? channels_last_twin(g, s, (int)(f - g->nodes))
                        : -1;
            if (x < 0 || !same_shape(&g->values[x].info, ty))
                continue;
            int64_t rows = g->values[w].info.dims[0];
            float *scaled_w = mem_alloc(&model->mem, (size_t)(rows * c) * sizeof(float));
            float *scaled_b = bias >= 0 ? mem_alloc(&model->mem, (size_t)c * sizeof(float)) : NULL;
            int *inputs = mem_alloc(&model->mem, 4 * sizeof(int));
            if (!scaled_w || (bias >= 0 && !scaled_b) || !inputs) {
                mem_free(&model->mem, scaled_w);
                mem_free(&model->mem, scaled_b);
                mem_free(&model->mem, inputs);
                *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
                return false;
            }
            const float *scale = vg->info.data, *old_w = g->values[w].info.data;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < c; j++)
                    scaled_w[r * c + j] = old_w[r * c + j] * scale[j];
            value_free_data(&model->mem, &g->values[w]);
            g->values[w].info.data = scaled_w;
            if (bias >= 0) {
                const float *old_b = g->values[bias].info.data;
                for (int64_t j = 0; j < c; j++)
                    scaled_b[j] = old_b[j] * scale[j];
                value_free_data(&model->mem, &g->values[bias]);
                g->values[bias].info.data = scaled_b;
            }
            memcpy(inputs, f->inputs, (size_t)f->n_inputs * sizeof(int));
            for (int e = f->n_inputs; e < 3; e++)
                inputs[e] = -1;
            inputs[3] = x;
            mem_free(&model->mem, f->inputs);
            f->inputs = inputs;
            f->n_inputs = 4;
            int tj = (int)(t - g->nodes), mj = (int)(mul - g->nodes);
            write_instead(g, tj, add->outputs[0], mj);
            kill_node(model, add);
            if ((*st = set_up_again(model, g, f)) || (*st = absorb(model, g, t, mul)))
                return false;
            return true;
        }
    }
    return false;
}

/* Transpose(Transpose(x, p), q) with q undoing p: its readers read x. */
static bool cancel_transposes(onyx_model *model, graph *g, int i)
{
    node *u = &g->nodes[i];
    if (!is_op(u, "", "Transpose") || u->dead || u->n_inputs != 1 || u->inputs[0] < 0 || u->outputs[0] < 0 ||
        is_graph_output(g, u->outputs[0]))
        return false;
    node *v = producer_of(g, u->inputs[0]);
    const attribute *p = v && is_op(v, "", "Transpose") ? node_attr(v, "perm") : NULL, *q = node_attr(u, "perm");
    if (!p || !q || p->type != ATTR_INTS || q->type != ATTR_INTS || p->count != q->count || v->inputs[0] < 0)
        return false;
    for (int64_t k = 0; k < q->count; k++)
        if (q->ints[k] < 0 || q->ints[k] >= p->count || p->ints[q->ints[k]] != k)
            return false;
    int from = u->outputs[0], to = v->inputs[0];
    for (int j = i + 1; j < g->n_nodes; j++)
        for (int k = 0; !g->nodes[j].dead && k < g->nodes[j].n_inputs + g->nodes[j].n_implicit; k++)
            if (g->nodes[j].inputs[k] == from && k >= g->nodes[j].n_inputs)
                return false; /* read inside a subgraph */
    for (int j = i + 1; j < g->n_nodes; j++)
        for (int k = 0; !g->nodes[j].dead && k < g->nodes[j].n_inputs; k++)
            if (g->nodes[j].inputs[k] == from)
                g->nodes[j].inputs[k] = to;
    kill_node(model, u);
    return true;
}

/* ConvNeXt's blocks, depthwise 7x7 -> Transpose(0, 2, 3, 1) -> LayerNorm -> Linear -> GELU ->
 * Linear -> Transpose(0, 3, 1, 2) -> layer scale -> + shortcut, keep the stream between them
 * channels last: each depthwise convolution reads and writes [N, H, W, C] (conv_writes_transposed),
 * the second Linear applies the layer scale and adds the shortcut (fold_layer_scale), and the
 * Transpose pairs this leaves meet and cancel; where the stream begins (the stem writes [N, H, W,
 * C]) and ends (a downsampling convolution reads [N, C, H, W]) a transpose stays. In one pass in
 * order, each block's stream value found transposed by the block before it. The readers of
 * the values no node reads any more go with them (graph_prune). */
static int channels_last_stream(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++)
        if (!g->nodes[i].dead)
            rewrites += conv_writes_transposed(model, g, i, st) || fold_layer_scale(model, g, i, st);
    bool cancelled = false;
    for (int i = 0; i < g->n_nodes && !*st; i++)
        cancelled |= cancel_transposes(model, g, i);
    if (cancelled)
        recount_uses(g);
    return rewrites + cancelled;
}

int pass_fused_conv(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = fold_batch_norm(model, g, st);
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *conv = &g->nodes[i];
        if (!is_op(conv, "", "Conv") || conv->n_inputs < 2 || conv->outputs[0] < 0 ||
            g->values[conv->inputs[0]].info.dtype != ONYX_DTYPE_FLOAT)
            continue;
        conv_chain c = {.input = conv->inputs[0], .scale = -1, .residual = -1, .last = conv->outputs[0]};
        c.m.nodes[c.m.n_nodes++] = i;
        if (take_residual(g, &c)) {
            /* After the shortcut only Relu joins: another activation stays a node of its own. */
            conv_chain with_residual = c;
            c.residual_first = take_activation(g, &c) && c.activation == GEMM_ACTIVATION_RELU;
            if (!c.residual_first)
                c = with_residual;
        } else if (take_activation(g, &c)) {
            take_residual(g, &c);
        }
        if (c.m.n_nodes == 1)
            continue;
        /* The root (first in a match) is the chain's last node; the Conv goes with the rest. */
        int root = c.m.nodes[c.m.n_nodes - 1];
        c.m.nodes[c.m.n_nodes - 1] = c.m.nodes[0];
        c.m.nodes[0] = root;
        *st = fuse(model, g, conv, &c);
        rewrites++;
    }
    if (!*st)
        rewrites += fold_channel_scale(model, g, st);
    if (!*st)
        rewrites += layout_channels_last(model, g, st);
    if (!*st)
        rewrites += channels_last_stream(model, g, st);
    return rewrites;
}
