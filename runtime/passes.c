/* Graph rewrites that make the plan faster without changing results beyond rounding: each
 * finds a pattern of nodes (as PyTorch exports them) and replaces it by one operator.
 *
 * A pattern is a small expression tree matched from its root value upwards. Intermediate
 * values of a match must be read only inside the match (so the nodes can go); values the
 * pattern captures are its inputs. The root node is rewritten in place into the fused node
 * (it keeps its name and its output, so nothing downstream changes) and the other matched
 * nodes are marked dead. */
#include "gemm.h" /* gemm_activation: onyx.FusedMatMul's activation attribute */
#include "ir.h"
#include "pass_match.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- GELU ---------------------------------------------------------------------------------- */
/* Patterns are file-scope compound literals: static storage. */

/* x * 0.5 * (1 + erf(x / sqrt(2))), as PyTorch writes nn.GELU(). */
static const pattern *const gelu_erf =
    COMM2("Mul", COMM2("Mul", ANY(0), COMM2("Add", NODE1("Erf", NODE2("Div", ANY(0), CONST(M_SQRT2))), CONST(1.0))),
          CONST(0.5));

/* 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x * (x * x)))), as F.gelu(approximate="tanh"). */
static const pattern *const gelu_tanh = COMM2(
    "Mul", CONST(0.5),
    COMM2("Mul", ANY(0),
          COMM2("Add", CONST(1.0),
                NODE1("Tanh", COMM2("Mul", CONST(0.7978845608028654),
                                    COMM2("Add", ANY(0),
                                          COMM2("Mul", CONST(0.044715),
                                                COMM2("Mul", ANY(0), COMM2("Mul", ANY(0), ANY(0))))))))));

int pass_gelu(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *n = &g->nodes[i];
        if (n->dead || n->n_outputs != 1 || n->outputs[0] < 0 || strcmp(n->op_type, "Mul") || n->domain[0])
            continue;
        match m;
        bool tanh_form = false;
        if (!match_at(g, n->outputs[0], gelu_erf, &m)) {
            if (!match_at(g, n->outputs[0], gelu_tanh, &m))
                continue;
            tanh_form = true;
        }
        int x = m.captures[0];
        if (g->values[x].info.dtype != ONYX_DTYPE_FLOAT && g->values[x].info.dtype != ONYX_DTYPE_DOUBLE)
            continue;
        new_attr approximate = {"approximate", ATTR_STRING, .s = tanh_form ? "tanh" : "none"};
        *st = rewrite(model, g, &m, "onyx", "Gelu", 1, 1, &x, 1, &approximate);
        rewrites++;
    }
    return rewrites;
}

/* ---- LayerNormalization written out (opset < 17 exports, and later ones that write it out) --- */

/* (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta, over the last axis. */
static const pattern *const layernorm = COMM2(
    "Add",
    COMM2("Mul",
          NODE2("Div", NODE2_AS(1, "Sub", ANY(0), NODE1("ReduceMean", ANY(0))),
                NODE1("Sqrt", COMM2("Add", NODE1("ReduceMean", NODE2("Pow", ANY(1), CONST(2.0))), ANY(4)))),
          ANY(2)),
    ANY(3));

/* The same from opset 18 on, where ReduceMean takes its axes as an input (slots 5 and 6). */
static const pattern *const layernorm_axes_input = COMM2(
    "Add",
    COMM2("Mul",
          NODE2("Div", NODE2_AS(1, "Sub", ANY(0), NODE2("ReduceMean", ANY(0), ANY(5))),
                NODE1("Sqrt", COMM2("Add", NODE2("ReduceMean", NODE2("Pow", ANY(1), CONST(2.0)), ANY(6)), ANY(4)))),
          ANY(2)),
    ANY(3));

int pass_layernorm(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *n = &g->nodes[i];
        match m;
        if (n->dead || n->n_outputs != 1 || n->outputs[0] < 0 || strcmp(n->op_type, "Add") || n->domain[0] ||
            !(match_at(g, n->outputs[0], layernorm, &m) || match_at(g, n->outputs[0], layernorm_axes_input, &m)))
            continue;
        bool means_ok = true;
        for (int k = 0; k < m.n_nodes; k++)
            if (!strcmp(g->nodes[m.nodes[k]].op_type, "ReduceMean"))
                means_ok &= mean_over_last_axis(g, &g->nodes[m.nodes[k]]);
        const value *x = &g->values[m.captures[0]], *eps = &g->values[m.captures[4]];
        const value *gamma = &g->values[m.captures[2]], *beta = &g->values[m.captures[3]];
        if (!means_ok || x->info.dtype != ONYX_DTYPE_FLOAT || eps->kind != VALUE_CONSTANT ||
            eps->info.dtype != ONYX_DTYPE_FLOAT || tensor_count(&eps->info) != 1 || gamma->info.dtype != x->info.dtype ||
            beta->info.dtype != x->info.dtype || gamma->info.rank != 1 || beta->info.rank != 1)
            continue;
        int inputs[3] = {m.captures[0], m.captures[2], m.captures[3]};
        new_attr attrs[2] = {{"axis", ATTR_INT, .i = -1}, {"epsilon", ATTR_FLOAT, .f = *(const float *)eps->info.data}};
        *st = rewrite(model, g, &m, "", "LayerNormalization", 17, 3, inputs, 2, attrs);
        rewrites++;
    }
    return rewrites;
}

/* ---- attention ----------------------------------------------------------------------------- */

/* x when v is Sqrt(x) of a float scalar x (by its inferred shape), else -1. */
static int sqrt_root(const graph *g, int v)
{
    const value *val = &g->values[v];
    if (val->kind != VALUE_NODE || val->producer < 0)
        return -1;
    const node *n = &g->nodes[val->producer];
    if (n->dead || n->domain[0] || strcmp(n->op_type, "Sqrt") || n->n_inputs != 1 ||
        !float_scalar(g, n->inputs[0]))
        return -1;
    return n->inputs[0];
}

/* Whether every live node reading v's values is `reader` or in m (others may be Shape nodes,
 * which read only its shape), and v is no graph output. */
static bool read_for_values_only_by(const graph *g, int v, const node *reader, const match *m)
{
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v)
            return false;
    for (int i = 0; i < g->n_nodes; i++) {
        const node *n = &g->nodes[i];
        bool reads = false, known = n == reader || is_op(n, "", "Shape");
        for (int k = 0; !n->dead && k < n->n_inputs + n->n_implicit; k++)
            reads |= n->inputs[k] == v;
        for (int j = 0; reads && !known && j < m->n_nodes; j++)
            known = m->nodes[j] == i;
        if (reads && !known)
            return false;
    }
    return true;
}

/* Whether Transpose n swaps its input's last two dims only. */
static bool swaps_last_two(const node *n)
{
    const attribute *perm = node_attr(n, "perm");
    if (!perm || perm->type != ATTR_INTS || perm->count < 2)
        return false;
    int64_t r = perm->count;
    for (int64_t i = 0; i < r - 2; i++)
        if (perm->ints[i] != i)
            return false;
    return perm->ints[r - 2] == r - 1 && perm->ints[r - 1] == r - 2;
}

/* kv when r is Hugging Face's repeat_kv(kv) of grouped-query attention, each key/value head
 * repeated for the query heads of its group: Reshape(Expand(Unsqueeze(kv, axis 2), [B, Hkv, g,
 * S, D]), [B, Hkv * g, S, D]) of a rank-4 kv; the three nodes join the match. Else -1. The
 * exporters compute both shapes from kv's while running, so that inference knows their ranks
 * only: dims it knows must agree with a repeat along the new axis. */
static int repeated_heads(graph *g, int r, match *m)
{
    if (m->n_nodes + 3 > MAX_MATCHED)
        return -1;
    node *reshape = sole_producer(g, r, "Reshape");
    node *expand = reshape ? sole_producer(g, reshape->inputs[0], "Expand") : NULL;
    node *unsqueeze = expand ? sole_producer(g, expand->inputs[0], "Unsqueeze") : NULL;
    if (!unsqueeze)
        return -1;
    int kv = unsqueeze->inputs[0];
    int64_t axis = -1;
    if (unsqueeze->n_inputs == 2) {
        const value *axes = &g->values[unsqueeze->inputs[1]];
        if (axes->kind == VALUE_CONSTANT && axes->info.data && axes->info.dtype == ONYX_DTYPE_INT64 &&
            tensor_count(&axes->info) == 1)
            axis = *(const int64_t *)axes->info.data;
    } else {
        const attribute *axes = node_attr(unsqueeze, "axes");
        if (axes && axes->type == ATTR_INTS && axes->count == 1)
            axis = axes->ints[0];
    }
    const onyx_tensor *t = &g->values[kv].info, *e = &g->values[expand->outputs[0]].info;
    const onyx_tensor *rt = &g->values[r].info;
    if ((axis != 2 && axis != -3) || t->rank != 4 || e->rank != 5 || rt->rank != 4 ||
        t->dtype != ONYX_DTYPE_FLOAT)
        return -1;
    for (int d = 0; d < 5; d++)
        if (d != 2 && !dim_may_equal(e->dims[d], t->dims[d < 2 ? d : d - 1]))
            return -1;
    if (!dim_may_equal(rt->dims[0], t->dims[0]) || !dim_may_equal(rt->dims[2], t->dims[2]) ||
        !dim_may_equal(rt->dims[3], t->dims[3]) ||
        !dim_may_equal(rt->dims[1], dim_mul(e->dims[2], t->dims[1])))
        return -1;
    node *parts[3] = {reshape, expand, unsqueeze};
    for (int k = 0; k < 3; k++)
        m->nodes[m->n_nodes++] = (int)(parts[k] - g->nodes);
    return kv;
}

/* MatMul(Softmax(mask(scale(MatMul(Q, K)))), V) -> onyx.Attention(Q, K, V, scale, add, cond),
 * where scale is an optional Mul or Div by a scalar (of the scores, or of Q before the first
 * MatMul), and mask an optional Add of a float tensor, then an optional Where choosing a
 * constant fill. Softmax must run along the last axis, and may be followed by Where(IsNaN(p),
 * 0, p) (nan_to_zero). K given as Transpose(K') of its last two dims becomes K' (keys_as_rows);
 * then K' and V each given as repeat_kv of key/value heads (grouped-query attention) become
 * those heads (kv_heads_shared), read by their query heads in place instead of copied. Past
 * keys and values concatenated before the repeat are just part of K' and V (any key length). */
int pass_attention(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *out = &g->nodes[i];
        if (out->dead || out->domain[0] || strcmp(out->op_type, "MatMul") || out->n_inputs != 2 || out->outputs[0] < 0 ||
            g->values[out->outputs[0]].info.dtype != ONYX_DTYPE_FLOAT)
            continue;
        match m = {.n_nodes = 1, .nodes = {i}};
        node *softmax = sole_producer(g, out->inputs[0], "Softmax");
        bool nan_to_zero = false;
        node *zeroing = softmax ? NULL : sole_producer(g, out->inputs[0], "Where");
        node *isnan =
            zeroing && zeroing->n_inputs == 3 ? sole_producer(g, zeroing->inputs[0], "IsNaN") : NULL;
        if (isnan && isnan->inputs[0] == zeroing->inputs[2] && scalar_constant(g, zeroing->inputs[1], 0.0)) {
            /* Where(IsNaN(p), 0, p) after the softmax: p read by those two only. */
            const value *p = &g->values[isnan->inputs[0]];
            node *producer = p->kind == VALUE_NODE && p->producer >= 0 ? &g->nodes[p->producer] : NULL;
            bool output = false;
            for (int k = 0; k < g->n_outputs; k++)
                output |= g->outputs[k] == isnan->inputs[0];
            if (p->n_uses == 2 && !output && is_op(producer, "", "Softmax") &&
                producer->outputs[0] == isnan->inputs[0]) {
                softmax = producer;
                nan_to_zero = true;
                m.nodes[m.n_nodes++] = (int)(zeroing - g->nodes);
                m.nodes[m.n_nodes++] = (int)(isnan - g->nodes);
            }
        }
        if (!softmax)
            continue;
        const attribute *axis = node_attr(softmax, "axis");
        int rank = g->values[softmax->inputs[0]].info.rank;
        int64_t ax = axis && axis->type == ATTR_INT ? axis->i : softmax->opset >= 13 ? -1 : 1;
        if (!(ax == -1 && softmax->opset >= 13) && !(rank > 0 && ax == rank - 1))
            continue;
        m.nodes[m.n_nodes++] = (int)(softmax - g->nodes);
        int scores = softmax->inputs[0], cond = -1, add = -1, scale = -1, fill_when = 1;
        float fill = -INFINITY;
        bool divides = false;
        node *n;
        if ((n = sole_producer(g, scores, "Where"))) {
            /* Where(cond, fill, scores) or Where(cond, scores, fill), fill a scalar constant. */
            int a = n->inputs[1], b = n->inputs[2];
            int filler = g->values[a].kind == VALUE_CONSTANT ? a : b, rest = filler == a ? b : a;
            const value *f = &g->values[filler];
            if (f->kind != VALUE_CONSTANT || f->info.dtype != ONYX_DTYPE_FLOAT || tensor_count(&f->info) != 1)
                continue;
            fill = *(const float *)f->info.data;
            fill_when = filler == a;
            cond = n->inputs[0];
            scores = rest;
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
        }
        if ((n = sole_producer(g, scores, "Add"))) {
            /* One input continues the chain (it comes from a MatMul, maybe through a scale). */
            int a = n->inputs[0], b = n->inputs[1];
            bool a_chain = g->values[a].kind == VALUE_NODE && g->values[a].producer >= 0 &&
                           (!strcmp(g->nodes[g->values[a].producer].op_type, "MatMul") ||
                            !strcmp(g->nodes[g->values[a].producer].op_type, "Mul") ||
                            !strcmp(g->nodes[g->values[a].producer].op_type, "Div"));
            scores = a_chain ? a : b;
            add = a_chain ? b : a;
            if (g->values[add].info.dtype != ONYX_DTYPE_FLOAT)
                continue;
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
            node *w = cond < 0 ? sole_producer(g, add, "Where") : NULL;
            float a1, a2;
            if (w && w->n_inputs == 3 && g->values[w->inputs[0]].info.dtype == ONYX_DTYPE_BOOL &&
                scalar_value(g, w->inputs[1], &a1) && scalar_value(g, w->inputs[2], &a2) &&
                (a1 == 0) != (a2 == 0)) {
                /* + Where(c, f, 0) or Where(c, 0, f), f -inf or nearly (scores + f is f for any
                 * score below 1e30 in size): the score is f where c is true (or false), as the
                 * TorchScript exporter writes the masks of scaled_dot_product_attention. */
                bool f_first = a2 == 0;
                if ((f_first ? a1 : a2) <= -1e30f) {
                    cond = w->inputs[0];
                    fill = f_first ? a1 : a2;
                    fill_when = f_first;
                    add = -1;
                    m.nodes[m.n_nodes++] = (int)(w - g->nodes);
                }
            }
        }
        if ((n = sole_producer(g, scores, "Mul")) || (n = sole_producer(g, scores, "Div"))) {
            int c = !strcmp(n->op_type, "Div") ? n->inputs[1] : float_scalar(g, n->inputs[1]) ? n->inputs[1] : n->inputs[0];
            if (!float_scalar(g, c))
                continue;
            divides = !strcmp(n->op_type, "Div");
            scale = c;
            scores = other_input(n, c);
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
        }
        node *qk = sole_producer(g, scores, "MatMul");
        if (!qk || qk->n_inputs != 2)
            continue;
        m.nodes[m.n_nodes++] = (int)(qk - g->nodes);
        int q = qk->inputs[0];
        if (scale < 0 && ((n = sole_producer(g, q, "Div")) || (n = sole_producer(g, q, "Mul"))) &&
            float_scalar(g, n->inputs[1])) {
            /* Q scaled before the product: the same up to rounding. */
            divides = !strcmp(n->op_type, "Div");
            scale = n->inputs[1];
            q = n->inputs[0];
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
        }
        int k = qk->inputs[1];
        float k_factor;
        if ((n = sole_producer(g, k, "Mul")) && (scale < 0 || scalar_value(g, scale, NULL)) &&
            (scalar_value(g, n->inputs[1], &k_factor) || scalar_value(g, n->inputs[0], &k_factor))) {
            /* K scaled too: scaled_dot_product_attention's decomposition (both exporters of
             * PyTorch 2) multiplies Q and K^T each by sqrt(scale), for float16's range. The two
             * factors become one scale, held in the Mul's output value, which turns into a
             * constant as the Mul goes. */
            float q_factor = 1;
            if (scale >= 0)
                scalar_value(g, scale, &q_factor);
            int kt = scalar_value(g, n->inputs[1], NULL) ? n->inputs[0] : n->inputs[1];
            int combined = n->outputs[0];
            if (!scalar_into(model, g, combined, divides ? k_factor / q_factor : k_factor * q_factor)) {
                *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY,
                                "out of memory optimizing the graph");
                break;
            }
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
            k = kt;
            scale = combined;
            divides = false;
        }
        int root = scale >= 0 && !divides ? sqrt_root(g, scale) : -1;
        if (root >= 0 && (n = sole_producer(g, k, "Mul"))) {
            /* The same with sqrt(scale) computed while running (the TorchScript exporter
             * derives it from the head size): Q sqrt(s) times sqrt(s) K^T is s Q K^T. */
            int kt = sqrt_root(g, n->inputs[1]) == root ? n->inputs[0]
                     : sqrt_root(g, n->inputs[0]) == root ? n->inputs[1] : -1;
            if (kt >= 0) {
                m.nodes[m.n_nodes++] = (int)(n - g->nodes);
                k = kt;
                scale = root;
            }
        }
        float q_factor, before_factor = 1;
        node *head = NULL; /* the Reshape or Transpose that reads Q before its heads were split */
        int qv = q;
        for (int steps = 0; steps < 4; steps++) {
            const value *val = &g->values[qv];
            n = val->kind == VALUE_NODE && val->producer >= 0 ? &g->nodes[val->producer] : NULL;
            if (!(is_op(n, "", "Transpose") || is_op(n, "", "Reshape")) || n->outputs[0] != qv ||
                !read_for_values_only_by(g, qv, head, &m))
                break;
            head = n;
            qv = n->inputs[0];
        }
        node *q_mul = head ? sole_producer(g, qv, "Mul") : NULL;
        bool q_scaled = q_mul && (scalar_value(g, q_mul->inputs[1], &q_factor) ||
                                  scalar_value(g, q_mul->inputs[0], &q_factor));
        if (q_scaled &&
            (scale < 0 || scalar_value(g, scale, &before_factor)) && q_factor != 0 && isfinite(q_factor)) {
            /* Q scaled before its heads were split (Whisper's q_proj(x) * scaling): the factor joins
             * the scale, held in the Mul's output as the Mul goes, and the Reshape reads x. */
            int x = scalar_value(g, q_mul->inputs[1], NULL) ? q_mul->inputs[0] : q_mul->inputs[1];
            int held = q_mul->outputs[0];
            if (!scalar_into(model, g, held, divides ? before_factor / q_factor : before_factor * q_factor)) {
                *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY,
                                "out of memory optimizing the graph");
                break;
            }
            head->inputs[0] = x;
            q_mul->dead = true;
            scale = held;
        }
        int v = out->inputs[1];
        bool rows = false, shared = false;
        int64_t seq_first = 0;
        if ((n = sole_producer(g, k, "Transpose")) && transposes(n, 2, 3, 1) && m.n_nodes < MAX_MATCHED) {
            /* K^T straight from [B, S, H, D] (the head split and K's transpose in one) */
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
            k = n->inputs[0];
            rows = true;
            seq_first |= 2;
        } else if ((n = sole_producer(g, k, "Transpose")) && swaps_last_two(n) && m.n_nodes < MAX_MATCHED) {
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
            k = n->inputs[0];
            rows = true;
            int before = m.n_nodes, k_heads = repeated_heads(g, k, &m);
            int v_heads = k_heads >= 0 ? repeated_heads(g, v, &m) : -1;
            if (v_heads >= 0) {
                k = k_heads, v = v_heads;
                shared = true;
            } else {
                m.n_nodes = before;
            }
        }
        /* Q, K (as rows) and V given as Transpose(x, [0, 2, 1, 3]) of their [B, S, H, D] head split,
         * and Y transposed back so: read and written where they lie. */
        if ((n = sole_producer(g, q, "Transpose")) && transposes(n, 2, 1, 3) && m.n_nodes < MAX_MATCHED) {
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
            q = n->inputs[0];
            seq_first |= 1;
        }
        if (rows && !(seq_first & 2) && (n = sole_producer(g, k, "Transpose")) && transposes(n, 2, 1, 3) &&
            m.n_nodes < MAX_MATCHED) {
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
            k = n->inputs[0];
            seq_first |= 2;
        }
        if ((n = sole_producer(g, v, "Transpose")) && transposes(n, 2, 1, 3) && m.n_nodes < MAX_MATCHED) {
            m.nodes[m.n_nodes++] = (int)(n - g->nodes);
            v = n->inputs[0];
            seq_first |= 4;
        }
        n = sole_consumer(g, out->outputs[0]);
        if (is_op(n, "", "Transpose") && transposes(n, 2, 1, 3) && m.n_nodes < MAX_MATCHED) {
            /* the Transpose becomes the fused node, keeping its output */
            m.nodes[m.n_nodes++] = m.nodes[0];
            m.nodes[0] = (int)(n - g->nodes);
            seq_first |= 8;
        }
        int inputs[6] = {q, k, v, scale, add, cond};
        int n_inputs = cond >= 0 ? 6 : add >= 0 ? 5 : scale >= 0 ? 4 : 3;
        new_attr attrs[7] = {{"scale_divides", ATTR_INT, .i = divides}, {"fill", ATTR_FLOAT, .f = fill},
                             {"fill_when", ATTR_INT, .i = fill_when}, {"keys_as_rows", ATTR_INT, .i = rows},
                             {"kv_heads_shared", ATTR_INT, .i = shared},
                             {"nan_to_zero", ATTR_INT, .i = nan_to_zero},
                             {"seq_first", ATTR_INT, .i = seq_first}};
        *st = rewrite(model, g, &m, "onyx", "Attention", 1, n_inputs, inputs, 7, attrs);
        rewrites++;
    }
    return rewrites;
}

/* ---- MatMul with bias, activation and residual -------------------------------------------- */

/* Whether a residual r may have the output y's shape: same rank, and no dim known to differ.
 * (FusedMatMul adds a residual that turns out smaller with broadcasting, so a wrong guess
 * costs only speed; one larger than the output fails when planning, as Add would.) */
static bool residual_may_fit(const onyx_tensor *r, const onyx_tensor *y)
{
    if (r->rank < 0 || r->rank != y->rank)
        return false;
    for (int d = 0; d < r->rank; d++)
        if (!dim_may_equal(r->dims[d], y->dims[d]) || (dim_known(r->dims[d]) && r->dims[d] == 1 && y->dims[d] != 1))
            return false;
    return true;
}

/* MatMul(A, W) [+ bias] [-> Relu | onyx.Gelu] [+ residual] -> onyx.FusedMatMul, for float32 with a
 * 2-D W, a constant bias of W's width, and a residual of exactly the output's shape. Walks
 * down from each MatMul through sole consumers. */
int pass_fused_matmul(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *mm = &g->nodes[i];
        if (!is_op(mm, "", "MatMul") || mm->n_inputs != 2 || mm->outputs[0] < 0)
            continue;
        const onyx_tensor *a = &g->values[mm->inputs[0]].info, *w = &g->values[mm->inputs[1]].info;
        const onyx_tensor *y = &g->values[mm->outputs[0]].info;
        if (a->dtype != ONYX_DTYPE_FLOAT || w->rank != 2)
            continue;
        match m = {.n_nodes = 0};
        int last = mm->outputs[0], bias = -1, residual = -1;
        gemm_activation activation = GEMM_ACTIVATION_NONE;
        node *next = sole_consumer(g, last);
        if (is_op(next, "", "Add")) {
            int other = other_input(next, last);
            const value *b = other >= 0 ? &g->values[other] : NULL;
            if (b && b->kind == VALUE_CONSTANT && b->info.dtype == ONYX_DTYPE_FLOAT && b->info.rank == 1 &&
                b->info.dims[0] == w->dims[1]) {
                bias = other;
                m.nodes[m.n_nodes++] = (int)(next - g->nodes);
                last = next->outputs[0];
                next = sole_consumer(g, last);
            }
        }
        if (is_op(next, "", "Relu")) {
            activation = GEMM_ACTIVATION_RELU;
        } else if (is_op(next, "onyx", "Gelu") || is_op(next, "", "Gelu")) {
            /* onyx.Gelu made by pass_gelu, or ONNX's Gelu-20 as the dynamo exporter writes it. */
            const attribute *approx = node_attr(next, "approximate");
            activation = approx && approx->s && !strcmp(approx->s, "tanh") ? GEMM_ACTIVATION_GELU_TANH
                                                                        : GEMM_ACTIVATION_GELU_ERF;
        }
        if (activation != GEMM_ACTIVATION_NONE) {
            m.nodes[m.n_nodes++] = (int)(next - g->nodes);
            last = next->outputs[0];
            next = sole_consumer(g, last);
        }
        if (is_op(next, "", "Add")) {
            int other = other_input(next, last);
            if (other >= 0 && other != last && residual_may_fit(&g->values[other].info, y)) {
                residual = other;
                m.nodes[m.n_nodes++] = (int)(next - g->nodes);
            }
        }
        if (m.n_nodes == 0)
            continue;
        /* The root is the last node of the chain; the MatMul and the rest go. */
        int root = m.nodes[m.n_nodes - 1];
        m.nodes[m.n_nodes - 1] = i;
        memmove(m.nodes + 1, m.nodes, (size_t)(m.n_nodes) * sizeof(int));
        m.nodes[0] = root;
        m.n_nodes++;
        int inputs[4] = {mm->inputs[0], mm->inputs[1], bias, residual};
        new_attr attr = {"activation", ATTR_INT, .i = activation};
        *st = rewrite(model, g, &m, "onyx", "FusedMatMul", 1, residual >= 0 ? 4 : 3, inputs, 1, &attr);
        rewrites++;
    }
    return rewrites;
}

/* ---- driver -------------------------------------------------------------------------------- */

onyx_status graph_optimize(onyx_model *model, graph *g)
{
    onyx_status st = ONYX_OK;
    recount_uses(g);
    pass_identity_cast(model, g, &st);
    if (!st)
        pass_layernorm(model, g, &st);
    if (!st)
        pass_rmsnorm(model, g, &st);
    if (!st)
        pass_gelu(model, g, &st);
    if (!st)
        pass_gelu_pow(model, g, &st);
    if (!st)
        pass_swiglu(model, g, &st);
    if (!st)
        pass_rotary(model, g, &st);
    if (!st)
        pass_attention(model, g, &st);
    if (!st)
        pass_quant(model, g, &st);
    if (!st)
        pass_fused_matmul(model, g, &st);
    if (!st)
        pass_fused_conv(model, g, &st);
    return st;
}
