/* Fusion passes for ONNX Runtime's quantized graphs, run in this order:
 *
 *   1. QuantizeLinear(op(DequantizeLinear(x, s, z)), s, z) around Reshape, Transpose, Squeeze,
 *      Unsqueeze, Flatten, Identity, Gather, Slice -> op on the integers (the QDQ format puts the
 *      pair around every data movement; a DequantizeLinear then QuantizeLinear of the same
 *      parameters gives each integer back exactly).
 *   2. quantize_dynamic's products -> onyx.QMatMul (ops/quantized_matmul.c, the int8 GEMM with
 *      the scales, bias and activation in its epilogue):
 *        Mul(Cast(MatMulInteger(Aq, Bq, a_zp, b_zp)), Mul(a_scale, b_scale)) [+ bias] [-> Relu | Gelu]
 *      (Aq, a_scale, a_zp from DynamicQuantizeLinear; Bq, b_scale, b_zp constants).
 *   3. quantize_static's QDQ products -> onyx.QMatMul: MatMul(DequantizeLinear(Aq, a_scale, a_zp),
 *      W), or Gemm(that, W, bias) with transB 0 or 1, W = DequantizeLinear(Bq int8, b_scale) of
 *      constants, per tensor or per column of op(W); and MatMul(DequantizeLinear(Aq, ...),
 *      DequantizeLinear(Bq, ...)) of two activations (attention's), B packed on each run.
 *   4. QDQ Conv -> onyx.QConv (ops/conv_integer.c): Conv(DequantizeLinear(Xq, ...), W [, bias])
 *      with W = DequantizeLinear(Wq int8, w_scale), per tensor or per feature map.
 *   5. The QuantizeLinear / DequantizeLinear pairs left on float values: into the epilogue of the
 *      onyx.QMatMul right before them, or else one onyx.QDQ (ops/quantize.c).
 *
 * The dynamic form computes the same float operations as the graph, in the same order (the
 * integer sum is exact either way), so the fused node gives the graph's bits. In the QDQ forms
 * the float product of dequantized values becomes an exact integer sum times one scale: the
 * result differs from the float MatMul's or Conv's by its rounding only (which a following
 * QuantizeLinear may turn into one quantization step on a value at a rounding boundary).
 *
 * The loader folds DequantizeLinear of constants into float constants before the passes run
 * and frees what only it read, so the QDQ passes recover the integers from the float weights:
 * for each column (or the whole tensor) the scale s whose multiples q s (q in [-128, 127],
 * zero point 0, as the quantizer writes int8 weights) give back every float weight exactly.
 * When none does (asymmetric weights, or another origin), the node stays as it is. */
#include "gemm.h" /* gemm_activation: onyx.QMatMul's activation attribute */
#include "ir.h"
#include "pass_match.h"

#include <math.h>
#include <string.h>

static bool is_quant_int(onyx_dtype dt) { return dt == ONYX_DTYPE_UINT8 || dt == ONYX_DTYPE_INT8; }

/* When the only reader of value v is an activation the GEMM's epilogue applies (ReLU, onyx.Gelu
 * from pass_gelu, ONNX's Gelu), that node (and *act); else NULL. */
static node *activation_after(graph *g, int v, gemm_activation *act)
{
    node *next = sole_consumer(g, v);
    if (is_op(next, "", "Relu")) {
        *act = GEMM_ACTIVATION_RELU;
        return next;
    }
    if (is_op(next, "onyx", "Gelu") || is_op(next, "", "Gelu")) {
        const attribute *approx = node_attr(next, "approximate");
        bool tanh_form = approx && approx->s && !strcmp(approx->s, "tanh");
        *act = tanh_form ? GEMM_ACTIVATION_GELU_TANH : GEMM_ACTIVATION_GELU_ERF;
        return next;
    }
    return NULL;
}

/* One element: a scalar or [1]. */
static bool one_element(const onyx_tensor *t)
{
    if (t->rank < 0)
        return false;
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] != 1)
            return false;
    return true;
}

static bool constant_with_data(const graph *g, int v)
{
    return v >= 0 && g->values[v].kind == VALUE_CONSTANT && (g->values[v].info.data ||
                                                             tensor_count(&g->values[v].info) == 0);
}

/* A constant parameter of n columns: one value or [n]. */
static bool column_param(const graph *g, int v, int64_t n)
{
    const onyx_tensor *t = &g->values[v].info;
    return constant_with_data(g, v) && (one_element(t) || (t->rank == 1 && t->dims[0] == n));
}

/* Whether A's quantization (a_zp may be -1) suits onyx.QMatMul: an 8-bit A, a float scalar
 * scale, a scalar zero point of A's type. */
static bool activation_ok(const graph *g, int a, int a_scale, int a_zp)
{
    const onyx_tensor *ta = &g->values[a].info;
    return is_quant_int(ta->dtype) && ta->rank >= 1 && float_scalar(g, a_scale) &&
           (a_zp < 0 || (g->values[a_zp].info.dtype == ta->dtype && one_element(&g->values[a_zp].info)));
}

/* ---- quantize_dynamic ----------------------------------------------------------------------- */

static int fuse_dynamic(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *mi = &g->nodes[i];
        if (!is_op(mi, "", "MatMulInteger") || mi->n_inputs < 2 || mi->outputs[0] < 0)
            continue;
        int a = mi->inputs[0], b = mi->inputs[1];
        int a_zp = mi->n_inputs > 2 ? mi->inputs[2] : -1, b_zp = mi->n_inputs > 3 ? mi->inputs[3] : -1;
        const onyx_tensor *tb = &g->values[b].info;
        if (!constant_with_data(g, b) || tb->rank != 2 || !is_quant_int(tb->dtype) ||
            (b_zp >= 0 && (!column_param(g, b_zp, tb->dims[1]) || g->values[b_zp].info.dtype != tb->dtype)))
            continue;
        int64_t n = tb->dims[1];
        node *cast = sole_consumer(g, mi->outputs[0]);
        const attribute *to = cast ? node_attr(cast, "to") : NULL;
        if (!is_op(cast, "", "Cast") || !to || to->i != ONYX_DTYPE_FLOAT)
            continue;
        node *mul = sole_consumer(g, cast->outputs[0]);
        if (!is_op(mul, "", "Mul") || mul->n_inputs != 2)
            continue;
        /* The scale: Mul(a_scale, b_scale), the activation's scale a float scalar computed
         * while running, the weights' a constant of one value or one per column. */
        int scales = other_input(mul, cast->outputs[0]);
        const value *sv = scales >= 0 ? &g->values[scales] : NULL;
        node *smul = sv && sv->kind == VALUE_NODE && sv->producer >= 0 ? &g->nodes[sv->producer] : NULL;
        if (!is_op(smul, "", "Mul") || smul->n_inputs != 2)
            continue;
        int a_scale = -1, b_scale = -1;
        for (int k = 0; k < 2; k++)
            if (column_param(g, smul->inputs[k], n) && !constant_with_data(g, smul->inputs[1 - k])) {
                b_scale = smul->inputs[k];
                a_scale = smul->inputs[1 - k];
            }
        if (b_scale < 0 || g->values[b_scale].info.dtype != ONYX_DTYPE_FLOAT ||
            !activation_ok(g, a, a_scale, a_zp))
            continue;
        match m = {.n_nodes = 0};
        int bias = -1;
        node *add = sole_consumer(g, mul->outputs[0]);
        if (is_op(add, "", "Add") && add->n_inputs == 2) {
            int other = other_input(add, mul->outputs[0]);
            const onyx_tensor *tbias = other >= 0 ? &g->values[other].info : NULL;
            if (tbias && constant_with_data(g, other) && tbias->dtype == ONYX_DTYPE_FLOAT &&
                tbias->rank == 1 &&
                tbias->dims[0] == n)
                bias = other;
        }
        gemm_activation act = GEMM_ACTIVATION_NONE;
        node *activation = activation_after(g, bias >= 0 ? add->outputs[0] : mul->outputs[0], &act);
        if (activation) /* the root: the last node of the chain */
            m.nodes[m.n_nodes++] = (int)(activation - g->nodes);
        if (bias >= 0)
            m.nodes[m.n_nodes++] = (int)(add - g->nodes);
        m.nodes[m.n_nodes++] = (int)(mul - g->nodes);
        m.nodes[m.n_nodes++] = (int)(cast - g->nodes);
        m.nodes[m.n_nodes++] = i;
        if (sole_consumer(g, scales) == mul) /* else it stays for its other readers */
            m.nodes[m.n_nodes++] = (int)(smul - g->nodes);
        int inputs[7] = {a, a_scale, a_zp, b, b_scale, b_zp, bias};
        new_attr attr = {"activation", ATTR_INT, .i = act};
        *st = rewrite(model, g, &m, "onyx", "QMatMul", 1, bias >= 0 ? 7 : 6, inputs, 1, &attr);
        rewrites++;
    }
    return rewrites;
}

/* ---- QDQ ------------------------------------------------------------------------------------ */

/* The scale of one group of float weights w[p * stride] (p < count) as int8 multiples with
 * zero point 0, as DequantizeLinear computes them ((float)q * s), and the integers: false
 * when no scale gives every weight back exactly. */
static bool recover_group(const float *w, int64_t count, int64_t stride, int8_t *q, float *scale)
{
    float largest = 0;
    for (int64_t p = 0; p < count; p++) {
        float x = fabsf(w[p * stride]);
        if (!(x <= 3.0e38f)) /* NaN or infinity */
            return false;
        largest = fmaxf(largest, x);
    }
    if (largest == 0) {
        *scale = 1;
        for (int64_t p = 0; p < count; p++)
            q[p * stride] = 0;
        return !signbit(w[0]) || count == 0; /* (float)0 * s is +0 */
    }
    /* The largest weight is 127 s (symmetric quantization) or 128 s, rounded: s within a few
     * units in the last place of its quotient. */
    for (int divisor = 127; divisor <= 128; divisor++)
        for (int step = -4; step <= 4; step++) {
            float s = largest / (float)divisor;
            for (int t = 0; t < (step < 0 ? -step : step); t++)
                s = nextafterf(s, step < 0 ? 0.0f : INFINITY);
            bool exact = s > 0;
            for (int64_t p = 0; exact && p < count; p++) {
                float x = w[p * stride], r = nearbyintf(x / s);
                exact = r >= -128 && r <= 127 && (float)r * s == x && signbit(x) == signbit((float)r * s);
                if (exact)
                    q[p * stride] = (int8_t)r;
            }
            if (exact) {
                *scale = s;
                return true;
            }
        }
    return false;
}

/* Gives value v (a constant whose data the loader freed) new data of its own. */
static void revive(value *v, void *data)
{
    v->info.data = data;
    v->borrowed = false;
    v->kind = VALUE_CONSTANT;
}

/* How the float weights of a product lie: k x n (MatMul, Gemm), n x k (Gemm with transB), or
 * [n, ...] (Conv: one feature map's weights after another). */
typedef enum weight_layout { WEIGHTS_KN, WEIGHTS_NK, WEIGHTS_CONV } weight_layout;

/* W (value w, a float constant folded from DequantizeLinear) as int8 integers (k x n for the
 * products, Conv's shape for Conv), scales and zero point put back into the folded node's
 * input values: false when not recoverable. */
static bool recover_weights(onyx_model *model, graph *g, int w, weight_layout layout, int *bq, int *bs,
                            int *bz,
                            onyx_status *st)
{
    const value *wv = &g->values[w];
    const onyx_tensor *tw = &wv->info;
    if (wv->kind != VALUE_CONSTANT || !tw->data || tw->dtype != ONYX_DTYPE_FLOAT || wv->producer < 0 ||
        (layout == WEIGHTS_CONV ? tw->rank < 3 : tw->rank != 2) || tw->dims[0] < 1)
        return false;
    const node *dq = &g->nodes[wv->producer];
    if (!dq->dead || strcmp(dq->op_type, "DequantizeLinear") || dq->domain[0] || dq->n_inputs < 2 ||
        dq->outputs[0] != w)
        return false;
    int q = dq->inputs[0], s = dq->inputs[1], z = dq->n_inputs > 2 ? dq->inputs[2] : -1;
    const attribute *block = node_attr(dq, "block_size"), *axis_attr = node_attr(dq, "axis");
    int64_t count = tensor_count(tw), axis = axis_attr ? axis_attr->i : 1;
    /* n: the output columns (feature maps), each of k weights. */
    int64_t n = layout == WEIGHTS_KN ? tw->dims[1] : tw->dims[0], k = count / n;
    const onyx_tensor *tq = &g->values[q].info, *ts = &g->values[s].info;
    bool per_column = !one_element(ts), same_shape = tq->rank == tw->rank;
    for (int d = 0; same_shape && d < tw->rank; d++)
        same_shape = tq->dims[d] == tw->dims[d];
    /* Per column: along W's axis 1 (k x n), else 0. */
    int64_t column_axis = layout == WEIGHTS_KN ? 1 : 0;
    if (tq->dtype != ONYX_DTYPE_INT8 || ts->dtype != ONYX_DTYPE_FLOAT || !same_shape || (block && block->i) ||
        (per_column &&
         !(ts->rank == 1 && ts->dims[0] == n && (axis == column_axis || axis == column_axis - tw->rank))) ||
        (z >= 0 &&
         (g->values[z].info.dtype != ONYX_DTYPE_INT8 ||
          tensor_count(&g->values[z].info) != tensor_count(ts))))
        return false;
    value *vq = &g->values[q], *vs = &g->values[s], *vz = z >= 0 ? &g->values[z] : NULL;
    bool held = vq->info.data || vs->info.data || (vz && vz->info.data);
    if (held && (layout == WEIGHTS_NK || !(vq->info.data && vs->info.data && (!vz || vz->info.data))))
        return false; /* read elsewhere (rare): not rewritten in place */
    *bq = q, *bs = s, *bz = z;
    if (held) /* still there: the quantizer's own integers */
        return true;
    int64_t groups = per_column ? n : 1;
    mem *mm = &model->mem;
    bool transpose = layout == WEIGHTS_NK;
    int8_t *qd = mem_alloc(mm, (size_t)count), *qt = transpose ? mem_alloc(mm, (size_t)count) : NULL;
    float *sd = mem_alloc(mm, (size_t)groups * sizeof *sd);
    int8_t *zd = z >= 0 ? mem_alloc(mm, (size_t)groups) : NULL; /* zeros */
    bool ok = qd && sd && (z < 0 || zd) && (!transpose || qt);
    if (!ok)
        *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
    const float *wd = tw->data;
    int8_t *rows = transpose ? qt : qd; /* n rows of k, or k x n */
    /* Column j: W[.][j] (stride n) for k x n, else W's row j (contiguous). */
    for (int64_t j = 0; ok && j < groups; j++)
        ok = !per_column                ? recover_group(wd, count, 1, rows, &sd[0])
             : layout == WEIGHTS_KN     ? recover_group(wd + j, k, n, qd + j, &sd[j])
                                        : recover_group(wd + j * k, k, 1, rows + j * k, &sd[j]);
    for (int64_t j = 0; ok && transpose && j < n; j++)
        for (int64_t p = 0; p < k; p++)
            qd[p * n + j] = qt[j * k + p];
    mem_free(mm, qt);
    if (!ok) {
        mem_free(mm, qd), mem_free(mm, sd), mem_free(mm, zd);
        return false;
    }
    revive(vq, qd);
    if (transpose) { /* op(W): k x n */
        vq->info.dims[0] = k;
        vq->info.dims[1] = n;
    }
    revive(vs, sd);
    if (vz)
        revive(vz, zd);
    return true;
}

static int fuse_qdq(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *mm = &g->nodes[i];
        bool gemm = is_op(mm, "", "Gemm");
        if ((!gemm && !is_op(mm, "", "MatMul")) || mm->n_inputs < 2 || mm->n_inputs > (gemm ? 3 : 2) ||
            mm->outputs[0] < 0)
            continue;
        /* Gemm: A B' + bias only (alpha and beta 1, A as it is, a bias of one value per column). */
        const attribute *alpha = node_attr(mm, "alpha"), *beta = node_attr(mm, "beta");
        const attribute *trans_a = node_attr(mm, "transA"), *trans_b = node_attr(mm, "transB");
        int bias = gemm && mm->n_inputs > 2 ? mm->inputs[2] : -1;
        const onyx_tensor *tw = &g->values[mm->inputs[1]].info;
        int64_t n = tw->rank == 2 ? tw->dims[trans_b && trans_b->i ? 0 : 1] : -1;
        if (gemm &&
            ((alpha && alpha->f != 1.0f) || (beta && beta->f != 1.0f && bias >= 0) ||
             (trans_a && trans_a->i)))
            continue;
        if (bias >= 0 && !(constant_with_data(g, bias) && g->values[bias].info.dtype == ONYX_DTYPE_FLOAT &&
                           g->values[bias].info.rank == 1 && g->values[bias].info.dims[0] == n))
            continue;
        int x = mm->inputs[0];
        const value *xv = &g->values[x];
        node *dq = xv->kind == VALUE_NODE && xv->producer >= 0 ? &g->nodes[xv->producer] : NULL;
        if (!is_op(dq, "", "DequantizeLinear") || dq->n_inputs < 2)
            continue;
        const attribute *block = node_attr(dq, "block_size");
        int a = dq->inputs[0], a_scale = dq->inputs[1], a_zp = dq->n_inputs > 2 ? dq->inputs[2] : -1;
        if ((block && block->i) || !activation_ok(g, a, a_scale, a_zp))
            continue;
        int b, b_scale, b_zp;
        match m = {.n_nodes = 0};
        m.nodes[m.n_nodes++] = i;
        weight_layout layout = trans_b && trans_b->i ? WEIGHTS_NK : WEIGHTS_KN;
        if (!recover_weights(model, g, mm->inputs[1], layout, &b, &b_scale, &b_zp, st)) {
            /* Or B dequantized while running (attention's products of activations). */
            const value *wv = &g->values[mm->inputs[1]];
            node *dqb = wv->kind == VALUE_NODE && wv->producer >= 0 ? &g->nodes[wv->producer] : NULL;
            if (*st || gemm || !is_op(dqb, "", "DequantizeLinear") || dqb->n_inputs < 2 ||
                (node_attr(dqb, "block_size") && node_attr(dqb, "block_size")->i) ||
                g->values[dqb->inputs[0]].kind == VALUE_CONSTANT || g->values[dqb->inputs[0]].info.rank < 2 ||
                g->values[a].info.rank < 2 ||
                !activation_ok(g, dqb->inputs[0], dqb->inputs[1], dqb->n_inputs > 2 ? dqb->inputs[2] : -1))
                continue;
            b = dqb->inputs[0], b_scale = dqb->inputs[1], b_zp = dqb->n_inputs > 2 ? dqb->inputs[2] : -1;
            if (sole_consumer(g, mm->inputs[1]) == mm && dqb != dq)
                m.nodes[m.n_nodes++] = (int)(dqb - g->nodes);
        }
        if (sole_consumer(g, x) == mm) /* else it stays for its other readers */
            m.nodes[m.n_nodes++] = (int)(dq - g->nodes);
        int inputs[7] = {a, a_scale, a_zp, b, b_scale, b_zp, bias};
        *st = rewrite(model, g, &m, "onyx", "QMatMul", 1, bias >= 0 ? 7 : 6, inputs, 0, NULL);
        rewrites++;
    }
    return rewrites;
}

/* ---- data movement between a DequantizeLinear and a QuantizeLinear of the same parameters ---- */

/* Operators that only move or select elements (input 0), so that on the integers they give
 * what Q(op(DQ(x))) gives when Q and DQ share their scale and zero point: DequantizeLinear
 * then QuantizeLinear of the same parameters returns each integer exactly. */
static bool moves_elements(const node *n)
{
    static const char *const ops[] = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity",
                                      "Gather", "Slice"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (is_op(n, "", ops[i]))
            return true;
    return false;
}

/* Whether values a and b hold the same quantization parameter: the same value, both absent, or
 * equal constant scalars of one dtype. */
static bool same_param(const graph *g, int a, int b)
{
    if (a == b)
        return true;
    if (a < 0 || b < 0 || !constant_with_data(g, a) || !constant_with_data(g, b))
        return false;
    const onyx_tensor *ta = &g->values[a].info, *tb = &g->values[b].info;
    return ta->dtype == tb->dtype && one_element(ta) && one_element(tb) &&
           !memcmp(ta->data, tb->data, onyx_dtype_size(ta->dtype));
}

/* Q(op(DQ(x, s, z)), s, z) -> op(x) on the integers, op writing Q's output: what ONNX
 * Runtime's QDQ format puts around every Reshape and Transpose of a quantized model. */
static int drop_qdq_around_moves(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *q = &g->nodes[i];
        if (!is_op(q, "", "QuantizeLinear") || q->n_inputs < 2 || q->outputs[0] < 0)
            continue;
        const value *mv = &g->values[q->inputs[0]];
        node *op = mv->kind == VALUE_NODE && mv->producer >= 0 ? &g->nodes[mv->producer] : NULL;
        if (!op || !moves_elements(op) || sole_consumer(g, q->inputs[0]) != q || op->n_inputs < 1)
            continue;
        const value *dv = &g->values[op->inputs[0]];
        node *dq = dv->kind == VALUE_NODE && dv->producer >= 0 ? &g->nodes[dv->producer] : NULL;
        if (!is_op(dq, "", "DequantizeLinear") || dq->n_inputs < 2)
            continue;
        int x = dq->inputs[0], q_zp = q->n_inputs > 2 ? q->inputs[2] : -1;
        int dq_zp = dq->n_inputs > 2 ? dq->inputs[2] : -1;
        const onyx_tensor *tx = &g->values[x].info, *ty = &g->values[q->outputs[0]].info;
        const op_registration *reg = registry_find(op->domain, op->op_type, op->opset);
        if (!is_quant_int(tx->dtype) || tx->dtype != ty->dtype || !float_scalar(g, q->inputs[1]) ||
            !same_param(g, q->inputs[1], dq->inputs[1]) || !same_param(g, q_zp, dq_zp) || !reg || !reg->op ||
            !(reg->dtypes & (1u << tx->dtype)))
            continue;
        /* op reads the integers and writes Q's output; Q goes, and DQ when nothing else reads it. */
        int out = q->outputs[0];
        op->inputs[0] = x;
        op->outputs[0] = out;
        g->values[out].producer = (int)(op - g->nodes);
        *st = absorb(model, g, op, q);
        rewrites++;
    }
    return rewrites;
}

/* ---- QDQ Conv ------------------------------------------------------------------------------- */

/* Conv(DequantizeLinear(Xq, x_scale, x_zp), W [, bias]) with W = DequantizeLinear(Wq int8,
 * w_scale) of constants (per tensor or per feature map) -> onyx.QConv(Xq, x_scale, x_zp, Wq,
 * w_scale, w_zp, bias), the Conv node keeping its attributes. */
static int fuse_qdq_conv(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *conv = &g->nodes[i];
        if (!is_op(conv, "", "Conv") || conv->n_inputs < 2 || conv->n_inputs > 3 || conv->outputs[0] < 0)
            continue;
        int x = conv->inputs[0], bias = conv->n_inputs > 2 ? conv->inputs[2] : -1;
        const value *xv = &g->values[x];
        node *dq = xv->kind == VALUE_NODE && xv->producer >= 0 ? &g->nodes[xv->producer] : NULL;
        if (!is_op(dq, "", "DequantizeLinear") || dq->n_inputs < 2)
            continue;
        const attribute *block = node_attr(dq, "block_size");
        int a = dq->inputs[0], a_scale = dq->inputs[1], a_zp = dq->n_inputs > 2 ? dq->inputs[2] : -1;
        if ((block && block->i) || !activation_ok(g, a, a_scale, a_zp) || g->values[a].info.rank < 3)
            continue;
        const onyx_tensor *tw = &g->values[conv->inputs[1]].info;
        if (bias >= 0 && !(constant_with_data(g, bias) && g->values[bias].info.dtype == ONYX_DTYPE_FLOAT &&
                           g->values[bias].info.rank == 1 && tw->rank >= 1 &&
                           g->values[bias].info.dims[0] == tw->dims[0]))
            continue;
        int b, b_scale, b_zp;
        if (!recover_weights(model, g, conv->inputs[1], WEIGHTS_CONV, &b, &b_scale, &b_zp, st))
            continue;
        /* The Conv node becomes the onyx.QConv in place, keeping its attributes (and the DQ goes
         * when the Conv was its only reader). */
        mem *mm = &model->mem;
        char *op_type = mem_strdup(mm, "QConv"), *domain = mem_strdup(mm, "onyx");
        int *inputs = mem_alloc(mm, 7 * sizeof(int));
        if (!op_type || !domain || !inputs) {
            mem_free(mm, op_type), mem_free(mm, domain), mem_free(mm, inputs);
            *st = set_error(model->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory optimizing the graph");
            break;
        }
        int list[7] = {a, a_scale, a_zp, b, b_scale, b_zp, bias};
        memcpy(inputs, list, sizeof list);
        match m = {.nodes = {i, (int)(dq - g->nodes)}, .n_nodes = sole_consumer(g, x) == conv ? 2 : 1};
        attribute *attrs = conv->attrs;
        int n_attrs = conv->n_attrs;
        conv->attrs = NULL;
        conv->n_attrs = 0;
        *st = rewrite_root(model, g, &m, domain, op_type, 1, bias >= 0 ? 7 : 6, inputs, n_attrs, attrs);
        rewrites++;
    }
    return rewrites;
}

/* ---- the QuantizeLinear / DequantizeLinear pairs left on float values ------------------------- */

/* DQ(Q(x, s, z), s, z) on a float x, the integers read by the DQ only, per tensor -> onyx.QDQ. */
static int fuse_qdq_pairs(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = 0;
    for (int i = 0; i < g->n_nodes && !*st; i++) {
        node *dq = &g->nodes[i];
        if (!is_op(dq, "", "DequantizeLinear") || dq->n_inputs != 3 || dq->outputs[0] < 0)
            continue;
        node *q = sole_producer(g, dq->inputs[0], "QuantizeLinear");
        if (!q || q->n_inputs != 3 || g->values[q->inputs[0]].info.dtype != ONYX_DTYPE_FLOAT ||
            g->values[dq->outputs[0]].info.dtype != ONYX_DTYPE_FLOAT || !float_scalar(g, q->inputs[1]) ||
            !is_quant_int(g->values[q->inputs[2]].info.dtype) ||
            !one_element(&g->values[q->inputs[2]].info) ||
            !same_param(g, q->inputs[1], dq->inputs[1]) || !same_param(g, q->inputs[2], dq->inputs[2]))
            continue;
        match m = {.nodes = {i, (int)(q - g->nodes)}, .n_nodes = 2};
        const value *xv = &g->values[q->inputs[0]];
        node *qm = xv->kind == VALUE_NODE && xv->producer >= 0 ? &g->nodes[xv->producer] : NULL;
        if (is_op(qm, "onyx", "QMatMul") && qm->n_inputs <= 7 && sole_consumer(g, q->inputs[0]) == q &&
            constant_with_data(g, q->inputs[1]) && constant_with_data(g, q->inputs[2])) {
            /* Right after an onyx.QMatMul: into its epilogue. */
            int inputs[9] = {-1, -1, -1, -1, -1, -1, -1, q->inputs[1], q->inputs[2]};
            memcpy(inputs, qm->inputs, (size_t)qm->n_inputs * sizeof(int));
            const attribute *act = node_attr(qm, "activation");
            new_attr attr = {"activation", ATTR_INT, .i = act ? act->i : 0};
            m.nodes[m.n_nodes++] = (int)(qm - g->nodes);
            *st = rewrite(model, g, &m, "onyx", "QMatMul", 1, 9, inputs, 1, &attr);
        } else {
            int inputs[3] = {q->inputs[0], q->inputs[1], q->inputs[2]};
            *st = rewrite(model, g, &m, "onyx", "QDQ", 1, 3, inputs, 0, NULL);
        }
        rewrites++;
    }
    return rewrites;
}

int pass_quant(onyx_model *model, graph *g, onyx_status *st)
{
    int rewrites = drop_qdq_around_moves(model, g, st);
    if (!*st)
        rewrites += fuse_dynamic(model, g, st);
    if (!*st)
        rewrites += fuse_qdq(model, g, st);
    if (!*st)
        rewrites += fuse_qdq_conv(model, g, st);
    if (!*st) /* last: the pairs feeding a MatMul went into onyx.QMatMul */
        rewrites += fuse_qdq_pairs(model, g, st);
    return rewrites;
}
