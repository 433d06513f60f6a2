/* onyx's int8 GEMM (ops/kernels/qgemm.h) against a plain integer reference: each kernel family
 * this processor runs, odd m / n / k, int8 and uint8 operands, with and without zero points
 * (per tensor and per column), int32 and scaled float output (with bias, ReLU, requantizing),
 * and any task split giving the same bits; then the quantized operators and the fusion of ONNX Runtime's quantized graphs. */
#include "gemm.h" /* GEMM_ACTIVATION_RELU */
#include "harness.h"
#include "qgemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const qgemm_kernel_id kernel_ids[] = {QGEMM_KERNEL_PORTABLE, QGEMM_KERNEL_AVX2, QGEMM_KERNEL_AVX_VNNI,
                                             QGEMM_KERNEL_AVX512_VNNI};
#define N_KERNELS (sizeof kernel_ids / sizeof kernel_ids[0])

static uint32_t rng_state = 12345;
static uint32_t next_random(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

typedef struct qproblem {
    int64_t m, n, k;
    bool a_signed, b_signed;
    int zp_mode; /* 0: none, 1: per tensor, 2: per column */
    bool float_out, bias;
    bool relu, requantize; /* float output: then ReLU, then quantized (int8 when a_signed) and back */
} qproblem;

/* Runs one problem on `kernel` and compares with the reference; returns the mismatches. */
static int run_problem(const qgemm_kernel *kernel, qproblem p)
{
    int64_t m = p.m, n = p.n, k = p.k, lda = k + 3, ldb = n + 1, ldc = n + 2;
    uint8_t *a = malloc((size_t)(m * lda + 1));
    uint8_t *b = malloc((size_t)(k * ldb + 1));
    int32_t *zb = malloc((size_t)(n + 1) * sizeof *zb);
    float *sb = malloc((size_t)(n + 1) * sizeof *sb), *bias = malloc((size_t)(n + 1) * sizeof *bias);
    int32_t *c32 = malloc((size_t)(m * ldc + 1) * sizeof *c32);
    float *c = malloc((size_t)(m * ldc + 1) * sizeof *c);
    for (int64_t i = 0; i < m * lda; i++)
        a[i] = (uint8_t)next_random();
    for (int64_t i = 0; i < k * ldb; i++)
        b[i] = (uint8_t)next_random();
    for (int64_t j = 0; j < n; j++) {
        int32_t v = (int32_t)(next_random() % 256);
        zb[j] = p.b_signed ? v - 128 : v;
        sb[j] = (float)(next_random() % 1000 + 1) * 1e-4f;
        bias[j] = (float)(next_random() % 2000) * 1e-3f - 1.0f;
    }
    int32_t za = p.zp_mode ? (int32_t)(next_random() % 256) - (p.a_signed ? 128 : 0) : 0;
    float sa = 0.0173f;

    size_t bytes = qgemm_packed_b_bytes(k, n);
    void *memory = malloc(bytes);
    qgemm_packed_b packed;
    qgemm_pack_b(&packed, b, p.b_signed, k, n, ldb, memory);
    qgemm_plan plan;
    qgemm_plan_init(&plan, kernel, m, n, k);
    void *scratch = malloc(plan.scratch_bytes);
    qgemm_args args = {.a = a, .lda = lda, .a_signed = p.a_signed, .a_zero_point = za, .b = &packed,
                       .b_zero_points = p.zp_mode ? zb : NULL, .b_zp_per_column = p.zp_mode == 2,
                       .c32 = p.float_out ? NULL : c32, .c = p.float_out ? c : NULL, .ldc = ldc,
                       .a_scale = sa, .b_scales = sb, .b_scale_per_column = p.zp_mode == 2,
                       .bias = p.bias ? bias : NULL,
                       .activation = p.relu ? GEMM_ACTIVATION_RELU : GEMM_ACTIVATION_NONE,
                       .requantize = p.requantize, .y_signed = p.a_signed, .y_scale = 0.37f,
                       .y_zero_point = p.a_signed ? -3 : 131};
    /* Tasks in reverse order: each writes only its own block. */
    for (int64_t t = qgemm_plan_tasks(&plan) - 1; t >= 0; t--)
        qgemm_run_task(&plan, t, &args, scratch);

    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t sum = 0;
            int32_t zbj = !p.zp_mode ? 0 : zb[p.zp_mode == 2 ? j : 0];
            for (int64_t q = 0; q < k; q++) {
                int32_t av = p.a_signed ? (int8_t)a[i * lda + q] : a[i * lda + q];
                int32_t bv = p.b_signed ? (int8_t)b[q * ldb + j] : b[q * ldb + j];
                sum += (int64_t)(av - za) * (bv - zbj);
            }
            int32_t want = (int32_t)(uint32_t)sum;
            if (!p.float_out) {
                bad += c32[i * ldc + j] != want;
            } else {
                float scale = sa * sb[p.zp_mode == 2 ? j : 0];
                float y = (float)want * scale;
                if (p.bias)
                    y += bias[j];
                if (p.relu)
                    y = y > 0 ? y : 0;
                if (p.requantize) { /* QuantizeLinear's formula, then DequantizeLinear's */
                    double q = nearbyint(y / args.y_scale) + args.y_zero_point;
                    q = fmin(fmax(q, p.a_signed ? -128 : 0), p.a_signed ? 127 : 255);
                    y = (float)((int32_t)q - args.y_zero_point) * args.y_scale;
                }
                /* The same float operations: the same bits (ReLU's zero compared as a value). */
                bad += p.relu ? c[i * ldc + j] != y : memcmp(&c[i * ldc + j], &y, sizeof y) != 0;
            }
        }
    free(a), free(b), free(zb), free(sb), free(bias), free(c32), free(c), free(memory), free(scratch);
    return bad;
}

Test(qgemm, kernels_against_reference)
{
    static const int64_t sizes[][3] = {{1, 1, 1}, {4, 21, 0}, {1, 17, 3}, {7, 33, 5}, {9, 48, 64}, {13, 49, 31},
                                       {8, 200, 129}, {67, 97, 255}, {3, 500, 1030}, {130, 40, 7}};
    int kernels_run = 0;
    for (size_t kid = 0; kid < N_KERNELS; kid++) {
        const qgemm_kernel *kernel = qgemm_kernel_get(kernel_ids[kid]);
        if (!kernel)
            continue;
        kernels_run++;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int signs = 0; signs < 4; signs++)
                for (int zp = 0; zp < 3; zp++)
                    for (int out = 0; out < 5; out++) {
                        /* int32; float; with bias; and ReLU; and requantized */
                        qproblem p = {sizes[s][0], sizes[s][1], sizes[s][2], signs & 1, signs & 2, zp,
                                      out > 0, out >= 2, out >= 3, out == 4};
                        int bad = run_problem(kernel, p);
                        cr_expect(bad == 0,
                                  "%s: m %lld n %lld k %lld a_signed %d b_signed %d zp %d out %d: %d wrong",
                                  qgemm_kernel_name(kernel), (long long)p.m, (long long)p.n, (long long)p.k,
                                  p.a_signed, p.b_signed, zp, out, bad);
                    }
    }
    cr_expect(kernels_run >= 1);
}

/* Sums of many large products wrap modulo 2^32 as the reference's do. */
Test(qgemm, accumulation_wraps)
{
    for (size_t kid = 0; kid < N_KERNELS; kid++) {
        const qgemm_kernel *kernel = qgemm_kernel_get(kernel_ids[kid]);
        if (kernel)
            cr_expect(run_problem(kernel, (qproblem){2, 20, 70000, false, false, 1, false, false}) == 0,
                      "%s", qgemm_kernel_name(kernel));
    }
}

/* ---- the quantizing kernels ------------------------------------------------------------------ */

/* Each family's quantize and range against the scalar forms, over ties, NaN, infinities and
 * values past the 8-bit range, at lengths around the vector widths. */
Test(qgemm, quantize_and_range_kernels)
{
    static const float special[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, NAN, INFINITY, -INFINITY, 1e9f,
                                    -1e9f, 127.5f, 128.5f, -128.5f, 255.5f, -0.0f, 3.4e38f, 1e-30f};
    float x[100];
    for (int i = 0; i < 100; i++)
        x[i] = i < 18 ? special[i] : (float)((int)(next_random() % 80000) - 40000) * 0.01f;
    for (size_t kid = 0; kid < N_KERNELS; kid++) {
        const qgemm_kernel *kernel = qgemm_kernel_get(kernel_ids[kid]);
        if (!kernel)
            continue;
        for (int n = 0; n <= 100; n += n < 40 ? 1 : 30)
            for (int sign = 0; sign < 2; sign++) {
                uint8_t got[100], want[100];
                int32_t zp = sign ? -3 : 131;
                kernel->quantize(x, n, 0.5f, zp, sign, got);
                qgemm_quantize_scalar(x, n, 0.5f, zp, sign, want);
                cr_expect(!memcmp(got, want, (size_t)n), "%s quantize n %d signed %d",
                          qgemm_kernel_name(kernel),
                          n, sign);
                for (int i = 0; i < n && sign; i++) { /* the scalar form against the formula */
                    float v = x[i] / 0.5f;
                    double q = isnan(v) ? zp : fmin(fmax(nearbyint(v) + zp, -128), 127);
                    cr_expect_eq((int8_t)want[i], (int)q, "x %g: %d, expected %g", x[i], (int8_t)want[i], q);
                }
            }
        for (int n = 0; n <= 100 - 18; n += 7) {
            float lo = 0, hi = 0, lo_want = 0, hi_want = 0;
            kernel->range(x + 18, n, &lo, &hi); /* without the specials */
            qgemm_range_scalar(x + 18, n, &lo_want, &hi_want);
            cr_expect(lo == lo_want && hi == hi_want, "%s range n %d", qgemm_kernel_name(kernel), n);
        }
        float lo = 0, hi = 0;
        kernel->range(x, 100, &lo, &hi); /* NaN passed over, infinities kept */
        cr_expect(lo == -INFINITY && hi == INFINITY, "%s range with specials: %g %g",
                  qgemm_kernel_name(kernel), lo,
                  hi);
    }
}

/* ---- the fusion passes ------------------------------------------------------------------------ */

#include "ir.h"

static onyx_model *load_built(builder *b, bool optimize)
{
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_optimization(o, optimize), ONYX_OK);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, o, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
    onyx_options_free(o);
    return m;
}

static int live(const onyx_model *m, const char *domain, const char *op_type)
{
    int count = 0;
    for (int i = 0; i < m->graph.n_nodes; i++) {
        const node *n = &m->graph.nodes[i];
        count += !n->dead && !strcmp(n->op_type, op_type) && !strcmp(n->domain, domain);
    }
    return count;
}

#define QM 5
#define QK 37
#define QN 21

/* x [QM, QK] float -> y [QM, QN]: quantize_dynamic's graph (per_column: scales and zero points
 * per column; b_signed: int8 weights, else uint8). */
static builder *dynamic_graph(bool per_column, bool b_signed, bool bias, bool relu)
{
    builder *b = builder_new(13);
    builder_input(b, "x", ONYX_DTYPE_FLOAT, 2, DIMS(QM, QK), NULL);
    uint8_t w[QK * QN], wz[QN];
    float ws[QN], bv[QN];
    for (int i = 0; i < QK * QN; i++)
        w[i] = (uint8_t)next_random();
    for (int j = 0; j < QN; j++) {
        wz[j] = (uint8_t)(next_random() % 9 + (b_signed ? 0 : 124));
        ws[j] = (float)(next_random() % 100 + 1) * 1e-3f;
        bv[j] = (float)(next_random() % 100) * 0.01f - 0.5f;
    }
    onyx_dtype wt = b_signed ? ONYX_DTYPE_INT8 : ONYX_DTYPE_UINT8;
    int rank = per_column ? 1 : 0;
    builder_initializer(b, "W", wt, 2, DIMS(QK, QN), w);
    builder_initializer(b, "Wz", wt, rank, DIMS(QN), wz);
    builder_initializer(b, "Ws", ONYX_DTYPE_FLOAT, rank, DIMS(QN), ws);
    builder_initializer(b, "bias", ONYX_DTYPE_FLOAT, 1, DIMS(QN), bv);
    builder_node(b, "DynamicQuantizeLinear", "x", "xq,xs,xz");
    builder_node(b, "Mul", "xs,Ws", "scales");
    builder_node(b, "MatMulInteger", "xq,W,xz,Wz", "acc");
    Onnx__NodeProto *cast = builder_node(b, "Cast", "acc", "accf");
    builder_attr_int(b, cast, "to", ONYX_DTYPE_FLOAT);
    builder_node(b, "Mul", "accf,scales", bias ? "mm" : relu ? "pre" : "y");
    if (bias)
        builder_node(b, "Add", "bias,mm", relu ? "pre" : "y");
    if (relu)
        builder_node(b, "Relu", "pre", "y");
    builder_output(b, "y", ONYX_DTYPE_FLOAT);
    return b;
}

/* x -> QuantizeLinear -> DequantizeLinear -> MatMul with DequantizeLinear(int8 W): quantize_static's
 * QDQ graph, weights per tensor or per column (axis 1); with `gemm`, Gemm(x, W^T, bias) instead,
 * W stored n x k (per column along axis 0). */
static builder *qdq_graph(bool per_column, bool gemm)
{
    builder *b = builder_new(13);
    builder_input(b, "x", ONYX_DTYPE_FLOAT, 2, DIMS(QM, QK), NULL);
    int8_t w[QK * QN], wz[QN] = {0};
    float ws[QN];
    for (int i = 0; i < QK * QN; i++)
        w[i] = (int8_t)((int)(next_random() % 255) - 127);
    for (int j = 0; j < QN; j++)
        ws[j] = (float)(next_random() % 1000 + 1) * 1.7e-5f;
    for (int j = 0; j < QN; j++) /* as a symmetric quantizer writes: each column's largest is 127 s */
        w[gemm ? j * QK : j] = j % 2 ? 127 : -127;
    int rank = per_column ? 1 : 0;
    builder_initializer(b, "W", ONYX_DTYPE_INT8, 2, gemm ? DIMS(QN, QK) : DIMS(QK, QN), w);
    builder_initializer(b, "Wz", ONYX_DTYPE_INT8, rank, DIMS(QN), wz);
    builder_initializer(b, "Ws", ONYX_DTYPE_FLOAT, rank, DIMS(QN), ws);
    builder_initializer(b, "xs", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.013f));
    builder_initializer(b, "xz", ONYX_DTYPE_UINT8, 0, NULL, (const uint8_t[]){121});
    builder_node(b, "QuantizeLinear", "x,xs,xz", "xq");
    builder_node(b, "DequantizeLinear", "xq,xs,xz", "xd");
    Onnx__NodeProto *dq = builder_node(b, "DequantizeLinear", "W,Ws,Wz", "Wd");
    builder_attr_int(b, dq, "axis", gemm ? 0 : 1);
    if (gemm) {
        float bias[QN];
        for (int j = 0; j < QN; j++)
            bias[j] = (float)j * 0.01f - 0.1f;
        builder_initializer(b, "bias", ONYX_DTYPE_FLOAT, 1, DIMS(QN), bias);
        builder_attr_int(b, builder_node(b, "Gemm", "xd,Wd,bias", "y"), "transB", 1);
    } else {
        builder_node(b, "MatMul", "xd,Wd", "y");
    }
    builder_output(b, "y", ONYX_DTYPE_FLOAT);
    return b;
}

/* Runs m on x; returns a copy of output 0 (QM x QN floats). */
static void run_built(onyx_model *m, const float *x, float *y)
{
    onyx_session *s;
    cr_assert_eq(onyx_session_create(m, NULL, &s), ONYX_OK);
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(QM, QK), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor out;
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    cr_assert_eq(onyx_tensor_element_count(&out), QM * QN);
    memcpy(y, out.data, sizeof(float) * QM * QN);
    onyx_session_free(s);
}

/* Fused (one onyx.QMatMul left) and unfused graphs: the same bits for the dynamic form (the
 * same float operations), within 1e-5 of the output's range for QDQ (an exact sum against a
 * float one). */
static void fused_against_unfused(builder *b, bool bitwise, const char *what)
{
    onyx_model *fused = load_built(b, true), *plain = load_built(b, false);
    cr_expect_eq(live(fused, "onyx", "QMatMul"), 1, "%s: not fused", what);
    cr_expect_eq(live(fused, "", "MatMulInteger") + live(fused, "", "MatMul") + live(fused, "", "Gemm") +
                     live(fused, "", "Relu"), 0, "%s", what);
    cr_expect_eq(live(plain, "onyx", "QMatMul"), 0, "%s", what);
    float x[QM * QK], y1[QM * QN], y2[QM * QN];
    for (int i = 0; i < QM * QK; i++)
        x[i] = (float)((int)(next_random() % 2001) - 1000) * 1.3e-3f;
    x[7] = NAN;
    run_built(fused, x, y1);
    run_built(plain, x, y2);
    double worst = 0, largest = 0;
    for (int i = 0; i < QM * QN; i++) {
        if (bitwise)
            cr_expect(!memcmp(&y1[i], &y2[i], sizeof(float)), "%s: y[%d] %.9g, unfused %.9g", what, i, y1[i],
                      y2[i]);
        worst = fmax(worst, fabs((double)y1[i] - y2[i]));
        largest = fmax(largest, fabs((double)y2[i]));
    }
    cr_expect(worst <= 1e-5 * largest, "%s: fused and unfused differ by %g (largest %g)", what, worst,
              largest);
    onyx_model_free(fused);
    onyx_model_free(plain);
    builder_free(b);
}

Test(qgemm_passes, dynamic_quantization_is_fused)
{
    for (int per_column = 0; per_column < 2; per_column++)
        for (int b_signed = 0; b_signed < 2; b_signed++)
            for (int bias = 0; bias < 2; bias++)
                for (int relu = 0; relu < 2; relu++) {
                    char what[80];
                    snprintf(what, sizeof what, "dynamic per_column %d b_signed %d bias %d relu %d",
                             per_column,
                             b_signed, bias, relu);
                    fused_against_unfused(dynamic_graph(per_column, b_signed, bias, relu), true, what);
                }
}

Test(qgemm_passes, qdq_matmul_is_fused)
{
    fused_against_unfused(qdq_graph(false, false), false, "qdq per tensor");
    fused_against_unfused(qdq_graph(true, false), false, "qdq per column");
    fused_against_unfused(qdq_graph(false, true), false, "qdq Gemm transB per tensor");
    fused_against_unfused(qdq_graph(true, true), false, "qdq Gemm transB per column");
}

/* After the MatMul, QDQ's tails: tail 1, Q -> DQ -> Transpose -> Q -> DQ of one scale (the
 * Transpose then runs on the integers); tail 2, Q -> DQ -> Relu -> Q -> DQ (the first pair into
 * the QMatMul's epilogue, the second an onyx.QDQ). Compared with the unfused graph: the exact
 * integer sum may put a value one quantization step from the float MatMul's (a rounding
 * boundary crossed), never more. */
static void qdq_tail(int tail)
{
    builder *b = qdq_graph(false, false);
    Onnx__GraphProto *gp = builder_graph(b);
    gp->node[gp->n_node - 1]->output[0] = builder_strdup(b, "mm"); /* the MatMul's output renamed */
    const float ys = 0.05f;
    builder_initializer(b, "ys", ONYX_DTYPE_FLOAT, 0, NULL, &ys);
    builder_initializer(b, "yz", ONYX_DTYPE_UINT8, 0, NULL, (const uint8_t[]){128});
    builder_initializer(b, "ys2", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.03f));
    builder_initializer(b, "yz2", ONYX_DTYPE_INT8, 0, NULL, (const int8_t[]){-5});
    builder_node(b, "QuantizeLinear", "mm,ys,yz", "mq");
    builder_node(b, "DequantizeLinear", "mq,ys,yz", "md");
    if (tail == 1) {
        builder_attr_ints(b, builder_node(b, "Transpose", "md", "t"), "perm", 2, INT64S(1, 0));
        builder_node(b, "QuantizeLinear", "t,ys,yz", "tq");
        builder_node(b, "DequantizeLinear", "tq,ys,yz", "y");
    } else {
        builder_node(b, "Relu", "md", "r");
        builder_node(b, "QuantizeLinear", "r,ys2,yz2", "rq");
        builder_node(b, "DequantizeLinear", "rq,ys2,yz2", "y");
    }
    onyx_model *fused = load_built(b, true), *plain = load_built(b, false);
    cr_expect_eq(live(fused, "onyx", "QMatMul"), 1);
    if (tail == 1) {
        cr_expect_eq(live(fused, "", "QuantizeLinear"), 2); /* x's, and the product's */
        cr_expect_eq(live(fused, "", "DequantizeLinear"), 1);
        for (int i = 0; i < fused->graph.n_nodes; i++) {
            const node *n = &fused->graph.nodes[i];
            if (!n->dead && !strcmp(n->op_type, "Transpose"))
                cr_expect_eq(fused->graph.values[n->inputs[0]].info.dtype, ONYX_DTYPE_UINT8);
        }
    } else {
        cr_expect_eq(live(fused, "", "QuantizeLinear"), 1); /* x's */
        cr_expect_eq(live(fused, "", "DequantizeLinear"), 0);
        cr_expect_eq(live(fused, "onyx", "QDQ"), 1);
    }
    int64_t n = QM * QN;
    float x[QM * QK], y1[QM * QN], y2[QM * QN];
    for (int i = 0; i < QM * QK; i++)
        x[i] = (float)((int)(next_random() % 2001) - 1000) * 1.3e-3f;
    run_built(fused, x, y1);
    run_built(plain, x, y2);
    int same = 0;
    for (int64_t i = 0; i < n; i++) {
        same += !memcmp(&y1[i], &y2[i], sizeof(float));
        cr_expect(fabsf(y1[i] - y2[i]) <= ys * 1.001f, "tail %d: y[%lld] %g, unfused %g", tail, (long long)i,
                  y1[i],
                  y2[i]);
    }
    cr_expect(same >= n * 9 / 10, "tail %d: only %d of %lld the same", tail, same, (long long)n);
    onyx_model_free(fused);
    onyx_model_free(plain);
    builder_free(b);
}

Test(qgemm_passes, qdq_tails)
{
    qdq_tail(1);
    qdq_tail(2);
}

/* Every committed quantized block: each quantized MatMul fused. */
Test(qgemm_passes, committed_models_fuse)
{
    static const char *const names[] = {"ffn_gelu_dynamic", "ffn_gelu_dynamic_pc", "ffn_gelu_qdq",
                                        "gpt2_block_dynamic", "gpt2_block_qdq",
                                        "encoder_prenorm_gelu_op17_dynamic_pc"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/models/quantized/%s/model.onnx", ONYX_SOURCE_DIR, names[i]);
        onyx_model *m;
        cr_assert_eq(onyx_model_load_file(path, NULL, &m), ONYX_OK, "%s: %s", names[i], onyx_model_errmsg(m));
        cr_expect(live(m, "onyx", "QMatMul") >= 2, "%s: %d fused", names[i], live(m, "onyx", "QMatMul"));
        cr_expect_eq(live(m, "", "MatMulInteger"), 0, "%s", names[i]);
        onyx_model_free(m);
    }
}

/* ---- the operators on the GEMM, and bad input --------------------------------------------- */

/* MatMulInteger with a constant B (the packed path) against the plain integer product, A with
 * batch dims, zero points per tensor and per column. */
Test(qgemm_ops, matmul_integer_constant_b)
{
    enum { B = 2, M = 3, K = 9, N = 19 };
    uint8_t a[B * M * K];
    int8_t w[K * N], wz[N];
    for (int i = 0; i < B * M * K; i++)
        a[i] = (uint8_t)next_random();
    for (int i = 0; i < K * N; i++)
        w[i] = (int8_t)next_random();
    for (int j = 0; j < N; j++)
        wz[j] = (int8_t)(next_random() % 7) - 3;
    uint8_t az = 77;
    for (int per_column = 0; per_column < 2; per_column++) {
        onyx_tensor values[4] = {tensor_of(ONYX_DTYPE_UINT8, 3, DIMS(B, M, K), a),
                                 tensor_of(ONYX_DTYPE_INT8, 2, DIMS(K, N), w),
                                 tensor_of(ONYX_DTYPE_UINT8, 0, NULL, &az),
                                 tensor_of(ONYX_DTYPE_INT8, per_column, DIMS(N), wz)};
        builder *b = builder_single_node(10, "MatMulInteger", "A,W,az,wz", values, 0xe, "Y");
        int32_t want[B * M * N], got[B * M * N];
        for (int r = 0; r < B * M; r++)
            for (int j = 0; j < N; j++) {
                int32_t sum = 0;
                for (int p = 0; p < K; p++)
                    sum += ((int32_t)a[r * K + p] - az) * ((int32_t)w[p * N + j] - wz[per_column ? j : 0]);
                want[r * N + j] = sum;
            }
        run_into(b, 1, 1, values, got, sizeof got);
        cr_expect(!memcmp(got, want, sizeof got), "per_column %d", per_column);
        builder_free(b);
    }
}

/* Loading fails with a message naming the node and what is wrong. */
static void expect_refused(builder *b, int n_inputs, const onyx_tensor *inputs, const char *a, const char *c)
{
    run_result r = run_model(b, n_inputs, inputs);
    cr_expect(r.load != ONYX_OK || r.run != ONYX_OK, "accepted");
    expect_message(r.message, a, c, NULL);
    run_result_free(&r);
    builder_free(b);
}

Test(qgemm_ops, bad_quantization_parameters)
{
    uint8_t a[6] = {0}, az3[3] = {0};
    int8_t w[6] = {0}, wz3[3] = {0}, az_s8 = 0;
    float x[6] = {0}, s2[2] = {1, 1}, s3[3] = {1, 1, 1}, s1 = 1;
    /* A zero point of the other signedness than A. */
    onyx_tensor v1[3] = {tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(2, 3), a),
                         tensor_of(ONYX_DTYPE_INT8, 2, DIMS(3, 2), w),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, &az_s8)};
    expect_refused(builder_single_node(10, "MatMulInteger", "A,W,az", v1, 0x6, "Y"), 1, v1, "MatMulInteger",
                   "az");
    /* B's zero point neither a scalar nor one per column. */
    onyx_tensor v2[4] = {v1[0], v1[1], tensor_of(ONYX_DTYPE_UINT8, 0, NULL, a),
                         tensor_of(ONYX_DTYPE_INT8, 1, DIMS(3), wz3)};
    expect_refused(builder_single_node(10, "MatMulInteger", "A,W,az,wz", v2, 0xe, "Y"), 1, v2, "wz",
                   "column");
    /* A's zero point per row of the wrong length. */
    onyx_tensor v3b[3] = {v1[0], v1[1], tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(3, 1), az3)};
    expect_refused(builder_single_node(10, "MatMulInteger", "A,W,az", v3b, 0x6, "Y"), 1, v3b, "az", "row");
    /* QuantizeLinear: a scale of the wrong type, a per-axis scale of the wrong length, an axis
     * out of range. */
    onyx_tensor q1[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), x),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, &az_s8)};
    expect_refused(builder_single_node(13, "QuantizeLinear", "x,s", q1, 0x2, "y"), 1, q1, "QuantizeLinear",
                   "s");
    onyx_tensor q2[2] = {q1[0], tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), s2)};
    builder *b = builder_single_node(13, "QuantizeLinear", "x,s", q2, 0x2, "y");
    builder_attr_int(b, builder_first_node(b), "axis", 1);
    expect_refused(b, 1, q2, "QuantizeLinear", "axis 1");
    onyx_tensor q3[2] = {q1[0], tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, &s1)};
    b = builder_single_node(13, "DequantizeLinear", "x,s", (onyx_tensor[]){v1[0], q3[1]}, 0x2, "y");
    builder_attr_int(b, builder_first_node(b), "axis", 5);
    onyx_tensor dq[2] = {v1[0], q3[1]};
    run_result r = run_model(b, 1, dq); /* a per-tensor scale never reads axis: accepted, as ONNX's
                                           reference does */
    run_result_free(&r);
    builder_free(b);
    onyx_tensor q4[2] = {v1[0], tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), s3)};
    b = builder_single_node(13, "DequantizeLinear", "x,s", q4, 0x2, "y");
    builder_attr_int(b, builder_first_node(b), "axis", 5);
    expect_refused(b, 1, q4, "DequantizeLinear", "axis");
}

/* ConvInteger and QLinearConv with W a constant (packed for the int8 GEMM) against the same
 * node with W an input (the plain integer product, which the ONNX node tests check): padding,
 * strides, dilations, groups, zero points per feature map, int8 and uint8. */
static void conv_both_ways(bool qlinear, bool x_signed, bool w_signed, int64_t group, bool per_map, bool pads)
{
    enum { N = 2, C = 6, H = 9, W = 8, M = 6, KH = 3, KW = 2 };
    int64_t cpg = C / group;
    uint8_t x[N * C * H * W], w[M * C * KH * KW], wz[M], xz = x_signed ? 0xfb : 131;
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (uint8_t)next_random();
    for (size_t i = 0; i < sizeof w; i++)
        w[i] = (uint8_t)next_random();
    for (int i = 0; i < M; i++)
        wz[i] = (uint8_t)(next_random() % 11 + (w_signed ? 251 : 120));
    onyx_dtype xt = x_signed ? ONYX_DTYPE_INT8 : ONYX_DTYPE_UINT8;
    onyx_dtype wt = w_signed ? ONYX_DTYPE_INT8 : ONYX_DTYPE_UINT8;
    float xs = 0.02f, ys = 0.7f, ws[M];
    int32_t bias[M];
    for (int i = 0; i < M; i++)
        ws[i] = 0.001f * (float)(i + 1), bias[i] = (int32_t)(next_random() % 2000) - 1000;
    uint8_t yz = 7;
    int32_t out[2][N * M * H * W];
    for (int constant = 0; constant < 2; constant++) {
        onyx_tensor v[9];
        const char *names;
        unsigned consts;
        v[0] = tensor_of(xt, 4, DIMS(N, C, H, W), x);
        if (!qlinear) {
            v[1] = tensor_of(wt, 4, DIMS(M, cpg, KH, KW), w);
            v[2] = tensor_of(xt, 0, NULL, &xz);
            v[3] = tensor_of(wt, per_map ? 1 : 0, DIMS(M), wz);
            names = "x,w,xz,wz";
            consts = constant ? 0xe : 0xc;
        } else {
            v[1] = tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, &xs);
            v[2] = tensor_of(xt, 0, NULL, &xz);
            v[3] = tensor_of(wt, 4, DIMS(M, cpg, KH, KW), w);
            v[4] = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(M), ws);
            v[5] = tensor_of(wt, per_map ? 1 : 0, DIMS(M), wz);
            v[6] = tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, &ys);
            v[7] = tensor_of(ONYX_DTYPE_UINT8, 0, NULL, &yz);
            v[8] = tensor_of(ONYX_DTYPE_INT32, 1, DIMS(M), bias);
            names = "x,xs,xz,w,ws,wz,ys,yz,b";
            consts = constant ? 0x1fe : 0x1f6;
        }
        builder *b = builder_single_node(10, qlinear ? "QLinearConv" : "ConvInteger", names, v, consts, "y");
        Onnx__NodeProto *node = builder_first_node(b);
        builder_attr_int(b, node, "group", group);
        builder_attr_ints(b, node, "strides", 2, INT64S(1, 2));
        builder_attr_ints(b, node, "dilations", 2, INT64S(2, 1));
        if (pads)
            builder_attr_ints(b, node, "pads", 4, INT64S(2, 1, 1, 0));
        onyx_tensor inputs[2] = {v[0], v[qlinear ? 3 : 1]};
        run_result r = run_model(b, constant ? 1 : 2, inputs);
        cr_assert(r.load == ONYX_OK && r.run == ONYX_OK, "%s", r.message);
        size_t bytes = (size_t)onyx_tensor_element_count(&r.outputs[0]) * onyx_dtype_size(r.outputs[0].dtype);
        cr_assert(bytes <= sizeof out[0]);
        memcpy(out[constant], r.outputs[0].data, bytes);
        if (constant)
            cr_expect(!memcmp(out[0], out[1], bytes),
                      "%s x_signed %d w_signed %d group %lld per_map %d pads %d",
                      qlinear ? "QLinearConv" : "ConvInteger", x_signed, w_signed, (long long)group, per_map,
                      pads);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(qgemm_ops, conv_constant_weights)
{
    for (int qlinear = 0; qlinear < 2; qlinear++)
        for (int signs = 0; signs < 4; signs++)
            for (int64_t group = 1; group <= 3; group += 2)
                for (int per_map = 0; per_map < 2; per_map++)
                    for (int pads = 0; pads < 2; pads++)
                        conv_both_ways(qlinear, signs & 1, signs & 2, group, per_map, pads);
}

/* ---- QDQ Conv --------------------------------------------------------------------------------- */

/* Output 0 of a committed quantized block on its data set 0, fused or not. */
static float *run_committed(const char *name, bool optimize, int64_t *count, int *fused_convs, int *convs)
{
    char path[1024], msg[512];
    snprintf(path, sizeof path, "%s/models/quantized/%s/model.onnx", ONYX_SOURCE_DIR, name);
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_optimization(o, optimize), ONYX_OK);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_file(path, o, &m), ONYX_OK, "%s: %s", name, onyx_model_errmsg(m));
    onyx_options_free(o);
    *fused_convs = live(m, "onyx", "QConv");
    *convs = live(m, "", "Conv");
    onyx_session *s;
    cr_assert_eq(onyx_session_create(m, NULL, &s), ONYX_OK);
    snprintf(path, sizeof path, "%s/models/quantized/%s/test_data_set_0/input_0.pb", ONYX_SOURCE_DIR, name);
    onyx_tensor x;
    cr_assert_eq(onyx_tensor_read_file(path, &x, NULL, msg, sizeof msg), ONYX_OK, "%s", msg);
    cr_assert_eq(onyx_session_set_input(s, 0, &x), ONYX_OK, "%s", onyx_session_errmsg(s));
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor y;
    cr_assert_eq(onyx_session_get_output(s, 0, &y), ONYX_OK);
    *count = onyx_tensor_element_count(&y);
    float *copy = malloc((size_t)*count * sizeof(float));
    memcpy(copy, y.data, (size_t)*count * sizeof(float));
    onyx_tensor_free_data(x.data);
    onyx_session_free(s);
    onyx_model_free(m);
    return copy;
}

/* DequantizeLinear -> Conv with int8 weights (per tensor, per feature map) fused into onyx.QConv,
 * against the unfused graph: the same up to a float rounding, which after the output's
 * QuantizeLinear is at most one step (1% of the range here) on a few values. */
Test(qgemm_passes, qdq_conv_is_fused)
{
    static const char *const names[] = {"cnn_small_qdq", "cnn_small_qdq_pc"};
    for (size_t t = 0; t < 2; t++) {
        int64_t n1, n2;
        int fused, convs, fused_plain, convs_plain;
        float *y1 = run_committed(names[t], true, &n1, &fused, &convs);
        float *y2 = run_committed(names[t], false, &n2, &fused_plain, &convs_plain);
        cr_expect(fused == 2 && convs == 0 && fused_plain == 0 && convs_plain == 2, "%s: %d QConv, %d Conv",
                  names[t],
                  fused, convs);
        cr_assert_eq(n1, n2);
        int same = 0;
        double largest = 0, worst = 0;
        for (int64_t i = 0; i < n1; i++) {
            same += y1[i] == y2[i];
            largest = fmax(largest, fabs(y2[i]));
            worst = fmax(worst, fabs((double)y1[i] - y2[i]));
        }
        cr_expect(same >= n1 * 99 / 100 && worst <= largest / 100, "%s: %d of %lld the same, worst %g",
                  names[t], same,
                  (long long)n1, worst);
        free(y1);
        free(y2);
    }
}

/* MatMul(DequantizeLinear(QuantizeLinear(a)), DequantizeLinear(QuantizeLinear(b))) of two inputs
 * (attention's products in the QDQ format), batches broadcast: onyx.QMatMul packing B on each
 * run, against the unfused graph. */
Test(qgemm_passes, qdq_matmul_of_activations)
{
    enum { BA = 2, HA = 3, M = 7, K = 13, N = 29 };
    builder *b = builder_new(13);
    builder_input(b, "a", ONYX_DTYPE_FLOAT, 4, DIMS(BA, HA, M, K), NULL);
    builder_input(b, "b", ONYX_DTYPE_FLOAT, 4, DIMS(BA, 1, K, N), NULL);
    builder_initializer(b, "as", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.011f));
    builder_initializer(b, "az", ONYX_DTYPE_UINT8, 0, NULL, (const uint8_t[]){120});
    builder_initializer(b, "bs", ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.017f));
    builder_initializer(b, "bz", ONYX_DTYPE_INT8, 0, NULL, (const int8_t[]){3});
    builder_node(b, "QuantizeLinear", "a,as,az", "aq");
    builder_node(b, "DequantizeLinear", "aq,as,az", "ad");
    builder_node(b, "QuantizeLinear", "b,bs,bz", "bq");
    builder_node(b, "DequantizeLinear", "bq,bs,bz", "bd");
    builder_node(b, "MatMul", "ad,bd", "y");
    builder_output(b, "y", ONYX_DTYPE_FLOAT);
    onyx_model *fused = load_built(b, true), *plain = load_built(b, false);
    cr_expect_eq(live(fused, "onyx", "QMatMul"), 1);
    cr_expect_eq(live(fused, "", "MatMul") + live(fused, "", "DequantizeLinear"), 0);
    static float av[BA * HA * M * K], bv[BA * K * N];
    for (size_t i = 0; i < BA * HA * M * K; i++)
        av[i] = (float)((int)(next_random() % 2001) - 1000) * 1.3e-3f;
    for (size_t i = 0; i < BA * K * N; i++)
        bv[i] = (float)((int)(next_random() % 2001) - 1000) * 2.1e-3f;
    onyx_tensor inputs[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(BA, HA, M, K), av),
                             tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(BA, 1, K, N), bv)};
    float *y[2];
    onyx_model *models[2] = {fused, plain};
    for (int v = 0; v < 2; v++) {
        onyx_session *s;
        cr_assert_eq(onyx_session_create(models[v], NULL, &s), ONYX_OK);
        for (int i = 0; i < 2; i++)
            cr_assert_eq(onyx_session_set_input(s, (size_t)i, &inputs[i]), ONYX_OK, "%s",
                         onyx_session_errmsg(s));
        cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
        onyx_tensor out;
        cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
        cr_assert_eq(onyx_tensor_element_count(&out), BA * HA * M * N);
        y[v] = malloc(sizeof(float) * BA * HA * M * N);
        memcpy(y[v], out.data, sizeof(float) * BA * HA * M * N);
        onyx_session_free(s);
    }
    double worst = 0, largest = 0;
    for (int i = 0; i < BA * HA * M * N; i++) {
        worst = fmax(worst, fabs((double)y[0][i] - y[1][i]));
        largest = fmax(largest, fabs((double)y[1][i]));
    }
    cr_expect(worst <= 1e-5 * largest, "fused and unfused differ by %g (largest %g)", worst, largest);
    free(y[0]), free(y[1]);
    onyx_model_free(fused);
    onyx_model_free(plain);
    builder_free(b);
}

/* QLinearMatMul with a constant B (the GEMM) against B as an input (the plain product), scales
 * and zero points per tensor and per column; and MatMulInteger with a zero point per row of A
 * and a constant B (the plain product, B's data kept). */
Test(qgemm_ops, qlinear_matmul_constant_b)
{
    enum { B = 2, M = 5, K = 11, N = 23 };
    uint8_t a[B * M * K], w[K * N], wz[N];
    float ws[N];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = (uint8_t)next_random();
    for (size_t i = 0; i < sizeof w; i++)
        w[i] = (uint8_t)next_random();
    for (int j = 0; j < N; j++)
        wz[j] = (uint8_t)(next_random() % 9 + 124), ws[j] = 0.002f * (float)(j + 1);
    float as = 0.013f, ys = 0.09f;
    uint8_t az = 100, yz = 3;
    for (int per_column = 0; per_column < 2; per_column++)
        for (int w_signed = 0; w_signed < 2; w_signed++) {
            onyx_dtype wt = w_signed ? ONYX_DTYPE_INT8 : ONYX_DTYPE_UINT8;
            onyx_tensor v[8] = {tensor_of(ONYX_DTYPE_UINT8, 3, DIMS(B, M, K), a),
                                tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, &as),
                                tensor_of(ONYX_DTYPE_UINT8, 0, NULL, &az), tensor_of(wt, 2, DIMS(K, N), w),
                                tensor_of(ONYX_DTYPE_FLOAT, per_column, DIMS(N), ws),
                                tensor_of(wt, per_column, DIMS(N), wz),
                                tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, &ys),
                                tensor_of(ONYX_DTYPE_UINT8, 0, NULL, &yz)};
            uint8_t got[2][B * M * N];
            for (int constant = 0; constant < 2; constant++) {
                builder *b = builder_single_node(10, "QLinearMatMul", "a,as,az,w,ws,wz,ys,yz", v,
                                                 constant ? 0xfe : 0xf6, "y");
                onyx_tensor inputs[2] = {v[0], v[3]};
                run_result r = run_model(b, constant ? 1 : 2, inputs);
                cr_assert(r.load == ONYX_OK && r.run == ONYX_OK, "%s", r.message);
                memcpy(got[constant], r.outputs[0].data, sizeof got[0]);
                run_result_free(&r);
                builder_free(b);
            }
            cr_expect(!memcmp(got[0], got[1], sizeof got[0]), "per_column %d w_signed %d", per_column,
                      w_signed);
        }
    /* MatMulInteger, A's zero point per row, B constant. */
    uint8_t azs[M];
    for (int i = 0; i < M; i++)
        azs[i] = (uint8_t)(i * 40);
    onyx_tensor v[3] = {tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(M, K), a),
                        tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(K, N), w),
                        tensor_of(ONYX_DTYPE_UINT8, 1, DIMS(M), azs)};
    builder *b = builder_single_node(10, "MatMulInteger", "a,w,az", v, 0x6, "y");
    int32_t got[M * N], want[M * N];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int32_t sum = 0;
            for (int p = 0; p < K; p++)
                sum += ((int32_t)a[i * K + p] - azs[i]) * (int32_t)w[p * N + j];
            want[i * N + j] = sum;
        }
    run_into(b, 1, 1, v, got, sizeof got);
    cr_expect(!memcmp(got, want, sizeof got));
    builder_free(b);
}
