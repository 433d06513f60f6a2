/* Fusion passes for the decoder and encoder families Hugging Face transformers exports (LLaMA,
 * Mistral, Qwen and the like): Casts to the type a value already has, RMSNorm written out,
 * the SwiGLU MLP's activation, and rotary embeddings written out with rotate_half. Grouped-query
 * attention (the repeat_kv Expand) is handled by pass_attention in passes.c. Patterns as in
 * passes.c: matched from the root value upwards; intermediate values must be read only inside
 * the match. */
#include "ir.h"
#include "pass_match.h"

#include <string.h>

/* ---- Cast to the same type ------------------------------------------------------------------ */

/* Cast(x, to = x's type) is x: its readers read x instead (PyTorch's .to(torch.float32) of a
 * float32 tensor, which the TorchScript exporter writes inside every RMSNorm, and the softmax's
 * .to(query.dtype) between the Softmax and the MatMul of attention). A Cast whose output is a
 * graph output or read by a subgraph stays. */
int pass_identity_cast(onyx_model *model, graph *g, onyx_status *st)
{
    (void)model;
    (void)st;
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        if (!is_op(n, "", "Cast") || n->n_inputs != 1 || n->inputs[0] < 0 || n->outputs[0] < 0)
            continue;
        int in = n->inputs[0], out = n->outputs[0];
        onyx_dtype dt = g->values[in].info.dtype;
        const attribute *to = node_attr(n, "to");
        if (!to || to->type != ATTR_INT || dt == ONYX_DTYPE_UNDEFINED || to->i != (int64_t)dt ||
            g->values[out].info.dtype != dt)
            continue;
        bool kept = false;
        for (int k = 0; k < g->n_outputs; k++)
            kept |= g->outputs[k] == out;
        for (int j = 0; j < g->n_nodes && !kept; j++) {
            const node *r = &g->nodes[j];
            for (int k = r->n_inputs; !r->dead && k < r->n_inputs + r->n_implicit; k++)
                kept |= r->inputs[k] == out;
        }
        if (kept)
            continue;
        for (int j = 0; j < g->n_nodes; j++)
            for (int k = 0; !g->nodes[j].dead && k < g->nodes[j].n_inputs; k++)
                if (g->nodes[j].inputs[k] == out)
                    g->nodes[j].inputs[k] = in;
        n->dead = true;
        rewrites++;
    }
    if (rewrites)
        recount_uses(g);
    return rewrites;
}

/* ---- RMSNorm written out -------------------------------------------------------------------- */

/* weight * (x * 1 / sqrt(mean(x^2) + eps)): LlamaRMSNorm and its kin, as the TorchScript
 * exporter writes rsqrt (Div of 1 by Sqrt) and as the dynamo exporter does (Reciprocal of
 * Sqrt); ReduceMean's axes an attribute (before opset 18) or an input (slot 3). */
#define RMS(inverse, mean) \
    COMM2("Mul", ANY(2), COMM2("Mul", ANY(0), inverse(NODE1("Sqrt", COMM2("Add", mean, ANY(1))))))
#define DIV_ONE(x) NODE2("Div", CONST(1.0), x)
#define RECIPROCAL(x) NODE1("Reciprocal", x)
#define MEAN_ATTR NODE1("ReduceMean", NODE2("Pow", ANY(0), CONST(2.0)))
#define MEAN_INPUT NODE2("ReduceMean", NODE2("Pow", ANY(0), CONST(2.0)), ANY(3))

static const pattern *const rmsnorm_forms[4] = {
    RMS(DIV_ONE, MEAN_ATTR),
    RMS(DIV_ONE, MEAN_INPUT),
    RMS(RECIPROCAL, MEAN_ATTR),
    RMS(RECIPROCAL, MEAN_INPUT),
};

/* -> RMSNormalization-23 (axis -1), the kernel ONNX's own RMSNormalization runs on. */
int pass_rmsnorm(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *n = &g->nodes[i];
        if (!is_op(n, "", "Mul") || n->outputs[0] < 0)
            continue;
        match m;
        bool found = false;
        for (int f = 0; f < 4 && !found; f++)
            found = match_at(g, n->outputs[0], rmsnorm_forms[f], &m);
        if (!found)
            continue;
        const node *mean = NULL;
        for (int k = 0; k < m.n_nodes; k++)
            if (!strcmp(g->nodes[m.nodes[k]].op_type, "ReduceMean"))
                mean = &g->nodes[m.nodes[k]];
        const value *x = &g->values[m.captures[0]], *eps = &g->values[m.captures[1]];
        const value *w = &g->values[m.captures[2]];
        int rank = x->info.rank;
        if (!mean || !mean_over_last_axis(g, mean) || x->info.dtype != ONYX_DTYPE_FLOAT || rank < 1 ||
            eps->kind != VALUE_CONSTANT || !eps->info.data || eps->info.dtype != ONYX_DTYPE_FLOAT ||
            tensor_count(&eps->info) != 1 || w->info.dtype != ONYX_DTYPE_FLOAT || w->info.rank != 1 ||
            !dim_known(w->info.dims[0]) || w->info.dims[0] != x->info.dims[rank - 1])
            continue;
        int inputs[2] = {m.captures[0], m.captures[2]};
        new_attr attrs[2] = {{"axis", ATTR_INT, .i = -1},
                             {"epsilon", ATTR_FLOAT, .f = *(const float *)eps->info.data}};
        *st = rewrite(model, g, &m, "", "RMSNormalization", 23, 2, inputs, 2, attrs);
        rewrites++;
    }
    return rewrites;
}

/* ---- SwiGLU --------------------------------------------------------------------------------- */

/* (g * sigmoid(g)) * u: SiLU of the gate projection times the up projection, as both exporters
 * write LlamaMLP's act_fn(gate_proj(x)) * up_proj(x). */
static const pattern *const swiglu =
    COMM2("Mul", COMM2("Mul", ANY(0), NODE1("Sigmoid", ANY(0))), ANY(1));

/* Whether float values a and b surely have one shape (SwiGLU does not broadcast, as Mul does):
 * equal dims, each known or the same symbol, or both products of one matrix by constant
 * matrices of one shape (gate_proj(x) and up_proj(x), whose dims inference may leave unknown). */
static bool same_shape(const graph *g, int a, int b)
{
    const onyx_tensor *ta = &g->values[a].info, *tb = &g->values[b].info;
    if (ta->dtype != ONYX_DTYPE_FLOAT || tb->dtype != ONYX_DTYPE_FLOAT)
        return false;
    bool same = ta->rank >= 0 && ta->rank == tb->rank;
    for (int d = 0; same && d < ta->rank; d++)
        same = ta->dims[d] == tb->dims[d] && ta->dims[d] != DIM_UNKNOWN;
    if (same)
        return true;
    const value *va = &g->values[a], *vb = &g->values[b];
    if (va->kind != VALUE_NODE || vb->kind != VALUE_NODE || va->producer < 0 || vb->producer < 0)
        return false;
    const node *ma = &g->nodes[va->producer], *mb = &g->nodes[vb->producer];
    if (!is_op(ma, "", "MatMul") || !is_op(mb, "", "MatMul") || ma->inputs[0] != mb->inputs[0])
        return false;
    const value *wa = &g->values[ma->inputs[1]], *wb = &g->values[mb->inputs[1]];
    return wa->kind == VALUE_CONSTANT && wb->kind == VALUE_CONSTANT && wa->info.rank == 2 &&
           wb->info.rank == 2 && wa->info.dims[0] == wb->info.dims[0] && wa->info.dims[1] == wb->info.dims[1];
}

/* -> SwiGLU-28 (alpha 1): one pass over g and u instead of three. */
int pass_swiglu(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *n = &g->nodes[i];
        match m;
        if (!is_op(n, "", "Mul") || n->outputs[0] < 0 || !match_at(g, n->outputs[0], swiglu, &m))
            continue;
        if (!same_shape(g, m.captures[0], m.captures[1]))
            continue;
        int inputs[2] = {m.captures[0], m.captures[1]};
        *st = rewrite(model, g, &m, "", "SwiGLU", 28, 2, inputs, 0, NULL);
        rewrites++;
    }
    return rewrites;
}

/* ---- rotary embedding written out ----------------------------------------------------------- */

/* The value of v when it is an integer scalar (or one-element tensor) known while loading:
 * a constant, or s.shape[i] of a dim inferred as known, through Cast, Unsqueeze, Squeeze and
 * integer Div (the TorchScript exporter's x.shape[-1] // 2 of rotate_half). x.shape[3] of the
 * rotated x counts as `x_dim` when inference left it unknown (the fused node checks it while
 * running). */
static bool static_int(const graph *g, int v, int64_t *out, int depth, int x, int64_t x_dim)
{
    if (v < 0 || depth > 8)
        return false;
    const value *val = &g->values[v];
    if (val->kind == VALUE_CONSTANT) {
        if (!val->info.data || tensor_count(&val->info) != 1)
            return false;
        if (val->info.dtype == ONYX_DTYPE_INT64)
            *out = *(const int64_t *)val->info.data;
        else if (val->info.dtype == ONYX_DTYPE_INT32)
            *out = *(const int32_t *)val->info.data;
        else
            return false;
        return true;
    }
    if (val->kind != VALUE_NODE || val->producer < 0)
        return false;
    const node *n = &g->nodes[val->producer];
    if (n->dead || n->domain[0] || n->n_inputs < 1)
        return false;
    if (!strcmp(n->op_type, "Cast") || !strcmp(n->op_type, "Unsqueeze") || !strcmp(n->op_type, "Squeeze"))
        return (val->info.dtype == ONYX_DTYPE_INT64 || val->info.dtype == ONYX_DTYPE_INT32) &&
               static_int(g, n->inputs[0], out, depth + 1, x, x_dim);
    int64_t a, b;
    if (!strcmp(n->op_type, "Div") && n->n_inputs == 2 &&
        static_int(g, n->inputs[0], &a, depth + 1, x, x_dim) &&
        static_int(g, n->inputs[1], &b, depth + 1, x, x_dim) && a >= 0 && b > 0) {
        *out = a / b;
        return true;
    }
    if (!strcmp(n->op_type, "Gather") && n->n_inputs == 2 &&
        static_int(g, n->inputs[1], &b, depth + 1, x, x_dim)) {
        const value *shape = &g->values[n->inputs[0]];
        if (shape->kind != VALUE_NODE || shape->producer < 0)
            return false;
        const node *s = &g->nodes[shape->producer];
        const onyx_tensor *t = &g->values[s->inputs[0]].info;
        if (s->dead || strcmp(s->op_type, "Shape") || s->domain[0] || node_attr(s, "start") ||
            node_attr(s, "end") || t->rank < 1)
            return false;
        int64_t d = b < 0 ? b + t->rank : b;
        if (d < 0 || d >= t->rank)
            return false;
        *out = dim_known(t->dims[d]) ? t->dims[d] : s->inputs[0] == x && d == 3 ? x_dim : -1;
        return *out >= 0;
    }
    return false;
}

/* Whether n is Slice(x, start, end) along the last axis of rank-4 x (of `len` elements), step 1,
 * with start and end known while loading (end clamped to `len`). */
static bool last_axis_slice(const graph *g, const node *n, int x, int64_t len, int64_t *start, int64_t *end)
{
    if (!n || n->n_inputs < 4 || n->inputs[0] != x)
        return false;
    int64_t axis, step = 1;
    if (!static_int(g, n->inputs[1], start, 0, x, len) || !static_int(g, n->inputs[2], end, 0, x, len) ||
        !static_int(g, n->inputs[3], &axis, 0, x, len) ||
        (n->n_inputs > 4 && n->inputs[4] >= 0 && !static_int(g, n->inputs[4], &step, 0, x, len)))
        return false;
    *end = *end > len ? len : *end;
    return (axis == -1 || axis == 3) && step == 1 && *start >= 0;
}

/* The rotate_half part: Concat(-x[..., h:], x[..., :h]) of x, h half x's last dim. */
static bool rotate_half_of(graph *g, int v, int x, int64_t len, match *m)
{
    node *cat = sole_producer(g, v, "Concat");
    const attribute *axis = cat ? node_attr(cat, "axis") : NULL;
    if (!cat || cat->n_inputs != 2 || !axis || axis->type != ATTR_INT || (axis->i != -1 && axis->i != 3))
        return false;
    node *neg = sole_producer(g, cat->inputs[0], "Neg");
    node *hi = neg ? sole_producer(g, neg->inputs[0], "Slice") : NULL;
    node *lo = sole_producer(g, cat->inputs[1], "Slice");
    int64_t lo_start, lo_end, hi_start, hi_end, half = len / 2;
    if (!hi || !lo || !last_axis_slice(g, hi, x, len, &hi_start, &hi_end) ||
        !last_axis_slice(g, lo, x, len, &lo_start, &lo_end) || lo_start != 0 || lo_end != half ||
        hi_start != half || hi_end != len)
        return false;
    node *parts[4] = {cat, neg, hi, lo};
    for (int k = 0; k < 4; k++)
        m->nodes[m->n_nodes++] = (int)(parts[k] - g->nodes);
    return true;
}

/* A cos or sin table for x [B, H, S, D]: [B or 1, 1, S, D] of floats, D known and even (x's
 * D may be unknown while loading: the fused node checks that they agree). */
static bool rotary_table(const graph *g, int v, const onyx_tensor *x)
{
    const onyx_tensor *t = &g->values[v].info;
    return t->dtype == ONYX_DTYPE_FLOAT && t->rank == 4 && t->dims[1] == 1 && dim_known(t->dims[3]) &&
           t->dims[3] % 2 == 0 && dim_may_equal(t->dims[3], x->dims[3]) &&
           dim_may_equal(t->dims[2], x->dims[2]) &&
           (t->dims[0] == 1 || dim_may_equal(t->dims[0], x->dims[0]));
}

/* x * cos + rotate_half(x) * sin (apply_rotary_pos_emb of LLaMA and its kin), x [B, H, S, D],
 * the tables' D known and even -> onyx.RotaryEmbedding(x, cos, sin), on RotaryEmbedding's
 * kernel. */
int pass_rotary(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *add = &g->nodes[i];
        if (!is_op(add, "", "Add") || add->n_inputs != 2 || add->outputs[0] < 0)
            continue;
        for (int order = 0; order < 2; order++) {
            node *plain = sole_producer(g, add->inputs[order], "Mul");
            node *rotated = sole_producer(g, add->inputs[1 - order], "Mul");
            if (!plain || !rotated)
                continue;
            bool found = false;
            for (int xi = 0; xi < 2 && !found; xi++) {
                int x = plain->inputs[xi], cos = plain->inputs[1 - xi];
                const onyx_tensor *xt = &g->values[x].info;
                if (xt->dtype != ONYX_DTYPE_FLOAT || xt->rank != 4 || !rotary_table(g, cos, xt))
                    continue;
                int64_t len = g->values[cos].info.dims[3];
                for (int ri = 0; ri < 2 && !found; ri++) {
                    int sin = rotated->inputs[1 - ri];
                    match m = {.n_nodes = 3};
                    m.nodes[0] = i;
                    m.nodes[1] = (int)(plain - g->nodes);
                    m.nodes[2] = (int)(rotated - g->nodes);
                    if (!rotary_table(g, sin, xt) || g->values[sin].info.dims[3] != len ||
                        !rotate_half_of(g, rotated->inputs[ri], x, len, &m))
                        continue;
                    int inputs[3] = {x, cos, sin};
                    *st = rewrite(model, g, &m, "onyx", "RotaryEmbedding", 1, 3, inputs, 0, NULL);
                    rewrites++;
                    found = true;
                }
            }
            if (found)
                break;
        }
    }
    return rewrites;
}

/* ---- GELU with Pow ------------------------------------------------------------------------- */

/* (0.5 x) (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) with x^3 as Pow(x, 3): GPT-2's
 * NewGELUActivation, as both exporters write it (pass_gelu takes the x * (x * x) spelling). */
#define CUBE_TERM COMM2("Mul", CONST(0.044715), NODE2("Pow", ANY(0), CONST(3.0)))
static const pattern *const gelu_pow = COMM2(
    "Mul", COMM2("Mul", ANY(0), CONST(0.5)),
    COMM2("Add", CONST(1.0),
          NODE1("Tanh", COMM2("Mul", CONST(0.7978845608028654), COMM2("Add", ANY(0), CUBE_TERM)))));

/* -> onyx.Gelu (approximate tanh), which FusedMatMul may take into its epilogue. */
int pass_gelu_pow(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *n = &g->nodes[i];
        match m;
        if (!is_op(n, "", "Mul") || n->outputs[0] < 0 || !match_at(g, n->outputs[0], gelu_pow, &m))
            continue;
        int x = m.captures[0];
        if (g->values[x].info.dtype != ONYX_DTYPE_FLOAT)
            continue;
        new_attr approximate = {"approximate", ATTR_STRING, .s = "tanh"};
        *st = rewrite(model, g, &m, "onyx", "Gelu", 1, 1, &x, 1, &approximate);
        rewrites++;
    }
    return rewrites;
}
