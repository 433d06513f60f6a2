/* onyx's bfloat16 GEMM (ops/kernels/gemm_bf16.h) against a double-precision reference
 * computed from the operands rounded to bfloat16 here (frexp and nearbyint, not onyx's
 * rounding): odd and degenerate shapes, several passes over k, transposed A and B, alpha and
 * beta, every epilogue; then MatMul, Gemm and onyx.FusedMatMul loaded with
 * onyx_options_set_precision(ONYX_PRECISION_BF16). On a processor without AVX512-BF16 those
 * tests are skipped (reported as such by Criterion), never passed. */
#include "gemm_bf16.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* x rounded to 8 significant bits, to nearest, ties to even (the default rounding mode). */
static double bf16_ref(float x)
{
    if (x == 0.0f || !isfinite(x))
        return x;
    int e;
    double f = frexp((double)x, &e); /* |f| in [0.5, 1): 8 bits are f * 256 rounded */
    return ldexp(nearbyint(f * 256.0), e - 8);
}

static double activate_ref(double x, gemm_activation act)
{
    switch (act) {
    case GEMM_ACTIVATION_RELU: return x > 0 ? x : 0;
    case GEMM_ACTIVATION_GELU_ERF: return 0.5 * x * erfc(-x / sqrt(2.0));
    case GEMM_ACTIVATION_GELU_TANH:
        return x / (1.0 + exp(-2.0 * sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    default: break; /* the others are the float32 epilogue's, tested with it in test_gemm */
    }
    return x;
}

static void fill(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
    }
}

typedef struct problem {
    int64_t m, n, k;
    bool trans_a, trans_b;
    float alpha, beta;
    gemm_activation act;
    bool bias, residual;
    int threads; /* the tasks split into this many contiguous ranges, run one after another */
} problem;

static void check_problem(const problem *p)
{
    /* Rows one longer than needed: the kernels must follow the strides, not the shapes. */
    int64_t a_rows = p->trans_a ? p->k : p->m, a_cols = p->trans_a ? p->m : p->k;
    int64_t b_rows = p->trans_b ? p->n : p->k, b_cols = p->trans_b ? p->k : p->n;
    int64_t lda = a_cols + 1, ldb = b_cols + 1, ldc = p->n + 3;
    size_t na = (size_t)(a_rows * lda) + 1, nb = (size_t)(b_rows * ldb) + 1, nc = (size_t)(p->m * ldc) + 1;
    float *a = malloc(na * sizeof(float)), *b = malloc(nb * sizeof(float)), *c = malloc(nc * sizeof(float));
    float *bias = malloc((size_t)p->n * sizeof(float) + 4);
    float *residual = malloc((size_t)(p->m * p->n) * sizeof(float) + 4);
    void *packed_memory = malloc(gemm_bf16_packed_b_bytes(p->k, p->n));
    cr_assert(a && b && c && bias && residual && packed_memory);
    fill(a, na, 1);
    fill(b, nb, 2);
    fill(c, nc, 3);
    fill(bias, (size_t)p->n, 4);
    fill(residual, (size_t)(p->m * p->n), 5);
    float *c0 = malloc(nc * sizeof(float));
    cr_assert(c0);
    for (size_t i = 0; i < nc; i++)
        c0[i] = p->beta == 0.0f ? NAN : c[i]; /* beta 0: C is written, never read */
    for (size_t i = 0; i < nc; i++)
        c[i] = c0[i];

    gemm_bf16_packed_b packed;
    gemm_bf16_pack_b(&packed, p->trans_b, p->k, p->n, b, ldb, packed_memory);
    gemm_bf16_plan plan;
    gemm_bf16_plan_init(&plan, p->m, p->trans_a, &packed);
    void *scratch = malloc(plan.scratch_bytes);
    cr_assert(scratch);
    gemm_args args = {.a = a, .lda = lda, .c = c, .ldc = ldc, .alpha = p->alpha, .beta = p->beta,
                      .epilogue = {.bias = p->bias ? bias : NULL, .activation = p->act,
                                   .residual = p->residual ? residual : NULL, .ld_residual = p->n}};
    int64_t tasks = gemm_bf16_plan_tasks(&plan);
    for (int t = 0; t < p->threads; t++)
        gemm_bf16_run(&plan, &args, tasks * t / p->threads, tasks * (t + 1) / p->threads, scratch);

    char what[160];
    snprintf(what, sizeof what, "m=%lld n=%lld k=%lld%s%s alpha=%g beta=%g act=%d%s%s threads=%d",
             (long long)p->m, (long long)p->n, (long long)p->k, p->trans_a ? " transA" : "",
             p->trans_b ? " transB" : "", p->alpha, p->beta, p->act, p->bias ? " bias" : "",
             p->residual ? " residual" : "", p->threads);
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = 0; j < p->n; j++) {
            double sum = 0, size = 0;
            for (int64_t q = 0; q < p->k; q++) {
                double x = bf16_ref(a[p->trans_a ? q * lda + i : i * lda + q]);
                double y = bf16_ref(b[p->trans_b ? j * ldb + q : q * ldb + j]);
                sum += x * y;
                size += fabs(x * y);
            }
            double v = p->alpha * sum, bound = fabs(p->alpha) * size;
            if (p->beta != 0.0f) {
                v += p->beta * (double)c0[i * ldc + j];
                bound += fabs(p->beta * (double)c0[i * ldc + j]);
            }
            if (p->bias) {
                v += bias[j];
                bound += fabs(bias[j]);
            }
            v = activate_ref(v, p->act);
            if (p->residual) {
                v += residual[i * p->n + j];
                bound += fabs(residual[i * p->n + j]);
            }
            /* The products of bfloat16 are exact in float32: what is left is float32's rounding
             * of the sums (a few ulps of the terms' size per pass) and the activation's 1e-6. */
            double got = c[i * ldc + j], tol = 1e-6 * bound * (1.0 + (double)p->k / 64.0) + 1e-6 * fabs(v);
            if (!(fabs(got - v) <= tol))
                cr_assert_fail("%s: C[%lld][%lld] = %.9g, expected %.9g (tolerance %.3g)", what, (long long)i,
                         (long long)j, got, v, tol);
        }
    /* Columns beyond n in C's padded rows are not written. */
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = p->n; j < ldc; j++)
            if (i * ldc + j < (int64_t)nc && !(c[i * ldc + j] == c0[i * ldc + j] ||
                                                (isnan(c[i * ldc + j]) && isnan(c0[i * ldc + j]))))
                cr_assert_fail("%s: C[%lld][%lld] beyond n was written", what, (long long)i, (long long)j);
    free(a);
    free(b);
    free(c);
    free(c0);
    free(bias);
    free(residual);
    free(packed_memory);
    free(scratch);
}

static void require_bf16(void)
{
    if (!gemm_bf16_supported())
        cr_skip_test("the bfloat16 GEMM is off here (no AVX512-BF16, or ONYX_NO_BF16 set): not run");
}

Test(gemm_bf16, odd_shapes)
{
    require_bf16();
    static const int64_t dims[][3] = {{1, 1, 1},    {7, 17, 3},     {8, 48, 2}, {9, 49, 5}, {13, 95, 31},
                                      {17, 97, 64}, {31, 200, 127}, {5, 33, 1}, {3, 16, 0}, {64, 130, 767}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        check_problem(
            &(problem){.m = dims[i][0], .n = dims[i][1], .k = dims[i][2], .alpha = 1.0f, .threads = 1});
}

Test(gemm_bf16, passes_over_k_and_row_tiles)
{
    require_bf16();
    /* k above 1024: two or three passes (an odd last one), m above 256: several row tiles. */
    check_problem(&(problem){.m = 263, .n = 100, .k = 1031, .alpha = 1.0f, .threads = 1});
    check_problem(&(problem){.m = 19, .n = 61, .k = 2051, .alpha = 1.0f, .threads = 3});
    check_problem(&(problem){.m = 300, .n = 301, .k = 97, .alpha = 1.0f, .threads = 2});
}

Test(gemm_bf16, transposes_alpha_beta)
{
    require_bf16();
    check_problem(&(problem){.m = 21, .n = 53, .k = 37, .trans_a = true, .alpha = 1.0f, .threads = 1});
    check_problem(&(problem){.m = 21, .n = 53, .k = 37, .trans_b = true, .alpha = 1.0f, .threads = 1});
    check_problem(&(problem){.m = 21, .n = 53, .k = 37, .trans_a = true, .trans_b = true, .alpha = -0.5f,
                             .beta = 1.0f, .threads = 1});
    check_problem(&(problem){.m = 11, .n = 70, .k = 1100, .alpha = 2.0f, .beta = 0.25f, .threads = 2});
}

Test(gemm_bf16, epilogues)
{
    require_bf16();
    for (int act = GEMM_ACTIVATION_NONE; act <= GEMM_ACTIVATION_GELU_TANH; act++) {
        check_problem(&(problem){.m = 9, .n = 50, .k = 33, .alpha = 1.0f, .act = (gemm_activation)act,
                                 .bias = true, .threads = 1});
        check_problem(&(problem){.m = 24, .n = 96, .k = 64, .alpha = 1.0f, .act = (gemm_activation)act,
                                 .bias = true, .residual = true, .threads = 2});
        check_problem(&(problem){.m = 15, .n = 47, .k = 1027, .alpha = 1.0f, .beta = 1.0f,
                                 .act = (gemm_activation)act, .residual = true, .threads = 1});
    }
}

/* ---- the operators, with onyx_options_set_precision -------------------------------------- */

Test(gemm_bf16, set_precision_arguments)
{
    onyx_options *o = NULL;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_expect_eq(onyx_options_set_precision(o, ONYX_PRECISION_BF16), ONYX_OK);
    cr_expect_eq(onyx_options_set_precision(o, ONYX_PRECISION_FP32), ONYX_OK);
    cr_expect_eq(onyx_options_set_precision(o, (onyx_precision)2), ONYX_ERROR_INVALID_ARGUMENT);
    cr_expect_eq(onyx_options_set_precision(o, (onyx_precision)-1), ONYX_ERROR_INVALID_ARGUMENT);
    cr_expect_eq(onyx_options_set_precision(NULL, ONYX_PRECISION_BF16), ONYX_ERROR_INVALID_ARGUMENT);
    onyx_options_free(o);
}

/* Warnings the log passed: how many, and the first. */
typedef struct warnings {
    int count;
    char first[512];
} warnings;

static void count_warning(void *user, onyx_log_level level, const char *message)
{
    warnings *w = user;
    if (level == ONYX_LOG_WARNING && !w->count++)
        snprintf(w->first, sizeof w->first, "%s", message);
}

/* Loads b's model with `precision` (fusion on), runs it on x and copies output 0 (count floats);
 * `log`, when not NULL, counts the warnings of the load, the session and the run. */
static void run_logged(builder *b, onyx_precision precision, const onyx_tensor *x, float *out, size_t count,
                       warnings *log)
{
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_options *o = NULL;
    onyx_model *model = NULL;
    onyx_session *session = NULL;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_precision(o, precision), ONYX_OK);
    if (log)
        cr_assert_eq(onyx_options_set_log(o, count_warning, log, ONYX_LOG_WARNING), ONYX_OK);
    cr_assert_eq(onyx_model_load_buffer(bytes, size, o, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    cr_assert_eq(onyx_session_create(model, o, &session), ONYX_OK);
    cr_assert_eq(onyx_session_set_input(session, 0, x), ONYX_OK);
    cr_assert_eq(onyx_session_run(session), ONYX_OK, "%s", onyx_session_errmsg(session));
    onyx_tensor y;
    cr_assert_eq(onyx_session_get_output(session, 0, &y), ONYX_OK);
    cr_assert_eq((size_t)onyx_tensor_element_count(&y), count);
    memcpy(out, y.data, count * sizeof(float));
    onyx_session_free(session);
    onyx_model_free(model);
    onyx_options_free(o);
}

static void run_precision(builder *b, onyx_precision precision, const onyx_tensor *x, float *out,
                          size_t count)
{
    run_logged(b, precision, x, out, count, NULL);
}

/* Y = relu(X W + bias) through MatMul -> Add -> Relu (fused into onyx.FusedMatMul), and
 * Y = alpha X W^T + C through Gemm: the bf16 run matches the reference of the rounded operands,
 * and differs from the fp32 run by bfloat16's rounding (so the bfloat16 GEMM did run). */
Test(gemm_bf16, operators_follow_the_option)
{
    require_bf16();
    enum { M = 13, K = 70, N = 37 };
    static float x[M * K], w[K * N], bias[N], out_fp32[M * N], out_bf16[M * N];
    fill(x, M * K, 11);
    fill(w, K * N, 12);
    fill(bias, N, 13);
    onyx_tensor xt = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(M, K), x);
    for (int op = 0; op < 2; op++) {
        builder *b = builder_new(17);
        builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(M, K), NULL);
        builder_output(b, "Y", ONYX_DTYPE_FLOAT);
        builder_initializer(b, "bias", ONYX_DTYPE_FLOAT, 1, DIMS(N), bias);
        if (op == 0) {
            builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 2, DIMS(K, N), w);
            builder_node(b, "MatMul", "X,W", "P");
            builder_node(b, "Add", "P,bias", "S");
            builder_node(b, "Relu", "S", "Y");
        } else {
            static float wt[N * K]; /* W transposed: Gemm's transB */
            for (int p = 0; p < K; p++)
                for (int j = 0; j < N; j++)
                    wt[j * K + p] = w[p * N + j];
            builder_initializer(b, "Wt", ONYX_DTYPE_FLOAT, 2, DIMS(N, K), wt);
            Onnx__NodeProto *g = builder_node(b, "Gemm", "X,Wt,bias", "Y");
            builder_attr_int(b, g, "transB", 1);
            builder_attr_float(b, g, "alpha", 0.5f);
        }
        run_precision(b, ONYX_PRECISION_FP32, &xt, out_fp32, M * N);
        run_precision(b, ONYX_PRECISION_BF16, &xt, out_bf16, M * N);
        builder_free(b);
        double most_apart = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double sum = 0, size = 0;
                for (int p = 0; p < K; p++) {
                    double t = bf16_ref(x[i * K + p]) * bf16_ref(w[p * N + j]);
                    sum += t;
                    size += fabs(t);
                }
                double v = op == 0 ? sum + bias[j] : 0.5 * sum + bias[j];
                if (op == 0)
                    v = v > 0 ? v : 0;
                double got = out_bf16[i * N + j];
                cr_assert(fabs(got - v) <= 1e-6 * (size + 1.0), "%s: Y[%d][%d] = %.9g, expected %.9g",
                          op == 0 ? "MatMul" : "Gemm", i, j, got, v);
                most_apart = fmax(most_apart, fabs(got - out_fp32[i * N + j]));
            }
        cr_expect(most_apart > 1e-4, "%s: the bf16 run is the fp32 one (%g apart)",
                  op == 0 ? "MatMul" : "Gemm", most_apart);
    }
}

/* Without the bfloat16 GEMM (ONYX_NO_BF16 here, as on a processor without AVX512-BF16), bf16 runs
 * the float32 kernels, bit for bit, and the log says so once. Runs on every processor. */
Test(gemm_bf16, fallback_is_float32_and_said_once)
{
    setenv("ONYX_NO_BF16", "1", 1); /* Criterion runs each test in its own process */
    cr_assert(!gemm_bf16_supported());
    enum { M = 9, K = 40, N = 33 };
    static float x[M * K], w[K * N], out_fp32[M * N], out_bf16[M * N];
    fill(x, M * K, 21);
    fill(w, K * N, 22);
    builder *b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(M, K), NULL);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 2, DIMS(K, N), w);
    builder_node(b, "MatMul", "X,W", "Y");
    onyx_tensor xt = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(M, K), x);
    warnings fp32_log = {0}, bf16_log = {0};
    run_logged(b, ONYX_PRECISION_FP32, &xt, out_fp32, M * N, &fp32_log);
    run_logged(b, ONYX_PRECISION_BF16, &xt, out_bf16, M * N, &bf16_log);
    builder_free(b);
    cr_expect_eq(fp32_log.count, 0, "fp32 warned: %s", fp32_log.first);
    cr_expect_eq(bf16_log.count, 1, "bf16 warned %d times", bf16_log.count);
    expect_message(bf16_log.first, "bf16", "AVX512-BF16", "float32", NULL);
    cr_expect(!memcmp(out_fp32, out_bf16, sizeof out_fp32), "the fallback is not the float32 product");
}
