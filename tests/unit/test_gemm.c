/* onyx's float32 GEMM (ops/kernels/gemm.h) against a straightforward double-precision
 * reference: odd and empty shapes, transposes, packed and unpacked B, every epilogue, each
 * kernel family this processor runs, and results bit-identical for any split over threads;
 * then the MatMul and Gemm operators that use it. */
#include "gemm.h"
#include "harness.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const gemm_kernel_id kernel_ids[] = {GEMM_KERNEL_PORTABLE, GEMM_KERNEL_AVX2, GEMM_KERNEL_AVX512};
#define N_KERNELS (sizeof kernel_ids / sizeof kernel_ids[0])

/* ---- the reference ------------------------------------------------------------------------ */

static double gelu_erf_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
/* x/2 (1 + tanh u) written as x / (1 + e^-2u), which double evaluates without cancellation. */
static double gelu_tanh_ref(double x)
{
    double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * u));
}

static double activate_ref(double x, gemm_activation act)
{
    switch (act) {
    case GEMM_ACTIVATION_RELU: return x > 0 ? x : 0;
    case GEMM_ACTIVATION_GELU_ERF: return gelu_erf_ref(x);
    case GEMM_ACTIVATION_GELU_TANH: return gelu_tanh_ref(x);
    case GEMM_ACTIVATION_SILU: return x / (1 + exp(-x));
    case GEMM_ACTIVATION_SIGMOID: return 1 / (1 + exp(-x));
    case GEMM_ACTIVATION_TANH: return tanh(x);
    case GEMM_ACTIVATION_EXP: return exp(x);
    case GEMM_ACTIVATION_NONE: break;
    default: break; /* the convolutions' activations: tested in test_conv_kernels.c */
    }
    return x;
}

typedef struct problem {
    int64_t m, n, k;
    bool trans_a, trans_b, pack;
    float alpha, beta;
    gemm_activation act;
    bool bias, residual;
} problem;

static const char *describe(const gemm_kernel *kernel, const problem *p, char *buf, size_t size)
{
    snprintf(buf, size, "%s m=%lld n=%lld k=%lld%s%s%s alpha=%g beta=%g act=%d%s%s", gemm_kernel_name(kernel),
             (long long)p->m, (long long)p->n, (long long)p->k, p->trans_a ? " transA" : "",
             p->trans_b ? " transB" : "", p->pack ? " packed" : "", p->alpha, p->beta, p->act,
             p->bias ? " bias" : "", p->residual ? " residual" : "");
    return buf;
}

/* Values in [-1, 1) from a fixed sequence, reproducible without rand()'s global state. */
static void fill(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
    }
}

/* Every buffer is allocated at its exact size (plus a stride's slack where rows are
 * padded), so that a sanitizer build catches a kernel reading or writing beyond. */
typedef struct operands {
    int64_t lda, ldb, ldc;
    float *a, *b, *c, *c0, *bias, *residual;
    double *ref, *bound; /* expected values; and the size of the terms summed into each */
} operands;

static operands make_operands(const problem *p)
{
    operands o;
    /* Strides one more than needed: kernels must follow them, not the shapes. */
    int64_t a_rows = p->trans_a ? p->k : p->m, a_cols = p->trans_a ? p->m : p->k;
    int64_t b_rows = p->trans_b ? p->n : p->k, b_cols = p->trans_b ? p->k : p->n;
    o.lda = a_cols + 1;
    o.ldb = b_cols + 1;
    o.ldc = p->n + 3;
    size_t na = (size_t)(a_rows * o.lda) + 1, nb = (size_t)(b_rows * o.ldb) + 1, nc = (size_t)(p->m * o.ldc) + 1;
    o.a = malloc(na * sizeof(float));
    o.b = malloc(nb * sizeof(float));
    o.c = malloc(nc * sizeof(float));
    o.c0 = malloc(nc * sizeof(float));
    o.bias = malloc((size_t)p->n * sizeof(float) + 1);
    o.residual = malloc((size_t)(p->m * p->n) * sizeof(float) + 1);
    o.ref = malloc((size_t)(p->m * p->n) * sizeof(double) + 1);
    o.bound = malloc((size_t)(p->m * p->n) * sizeof(double) + 1);
    cr_assert(o.a && o.b && o.c && o.c0 && o.bias && o.residual && o.ref && o.bound);
    fill(o.a, na, 1);
    fill(o.b, nb, 2);
    fill(o.c0, nc, 3);
    fill(o.bias, (size_t)p->n, 4);
    fill(o.residual, (size_t)(p->m * p->n), 5);
    if (p->beta == 0.0f) /* C must then be written without being read */
        for (size_t i = 0; i < nc; i++)
            o.c0[i] = NAN;
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = 0; j < p->n; j++) {
            double sum = 0, size = 0;
            for (int64_t q = 0; q < p->k; q++) {
                double x = o.a[p->trans_a ? q * o.lda + i : i * o.lda + q];
                double y = o.b[p->trans_b ? j * o.ldb + q : q * o.ldb + j];
                sum += x * y;
                size += fabs(x * y);
            }
            double v = p->alpha * sum, bound = fabs(p->alpha) * size;
            if (p->beta != 0.0f) {
                v += p->beta * (double)o.c0[i * o.ldc + j];
                bound += fabs(p->beta * (double)o.c0[i * o.ldc + j]);
            }
            if (p->bias) {
                v += o.bias[j];
                bound += fabs(o.bias[j]);
            }
            v = activate_ref(v, p->act);
            if (p->residual) {
                v += o.residual[i * p->n + j];
                bound += fabs(o.residual[i * p->n + j]);
            }
            o.ref[i * p->n + j] = v;
            o.bound[i * p->n + j] = bound;
        }
    return o;
}

static void free_operands(operands *o)
{
    free(o->a);
    free(o->b);
    free(o->c);
    free(o->c0);
    free(o->bias);
    free(o->residual);
    free(o->ref);
    free(o->bound);
}

/* ---- running on 1 or 2 threads ------------------------------------------------------------ */

typedef struct share {
    const gemm_plan *plan;
    const gemm_args *args;
    int64_t begin, end;
    void *scratch;
} share;

static void *run_share(void *arg)
{
    share *s = arg;
    gemm_run(s->plan, s->args, s->begin, s->end, s->scratch);
    return NULL;
}

/* Runs tasks [0, split) on a second thread and [split, tasks) on this one. */
static void run_split(const gemm_plan *plan, const gemm_args *args, int64_t split)
{
    int64_t tasks = gemm_plan_tasks(plan);
    void *scratch[2] = {malloc(plan->scratch_bytes + 1), malloc(plan->scratch_bytes + 1)};
    share first = {plan, args, 0, split, scratch[0]}, second = {plan, args, split, tasks, scratch[1]};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, run_share, &first), 0);
    run_share(&second);
    pthread_join(thread, NULL);
    free(scratch[0]);
    free(scratch[1]);
}

/* Checks one problem on one kernel: values against the reference, nothing written outside
 * C's block, and the same bits from two threads as from one. */
static void check_problem(const gemm_kernel *kernel, const problem *p)
{
    char what[256];
    describe(kernel, p, what, sizeof what);
    operands o = make_operands(p);
    gemm_packed_b packed;
    void *packed_memory = NULL;
    if (p->pack) {
        packed_memory = malloc(gemm_packed_b_bytes(kernel, p->k, p->n));
        gemm_pack_b(&packed, kernel, p->trans_b, p->k, p->n, o.b, o.ldb, packed_memory);
    }
    gemm_plan plan;
    gemm_plan_init(&plan, kernel, p->m, p->n, p->k, p->trans_a, p->trans_b, p->pack ? &packed : NULL);
    cr_assert_eq(plan.kernel, kernel, "%s", what);
    gemm_args args = {.a = o.a, .lda = o.lda, .b = p->pack ? NULL : o.b, .ldb = o.ldb, .c = o.c, .ldc = o.ldc,
                      .alpha = p->alpha, .beta = p->beta,
                      .epilogue = {.bias = p->bias ? o.bias : NULL, .activation = p->act,
                                   .residual = p->residual ? o.residual : NULL, .ld_residual = p->n}};
    size_t nc = (size_t)(p->m * o.ldc) + 1;
    memcpy(o.c, o.c0, nc * sizeof(float));
    void *scratch = malloc(plan.scratch_bytes + 1);
    gemm_run(&plan, &args, 0, gemm_plan_tasks(&plan), scratch);
    free(scratch);

    for (int64_t i = 0; i < p->m; i++) {
        for (int64_t j = 0; j < o.ldc; j++) {
            float got = o.c[i * o.ldc + j];
            if (j >= p->n) {
                cr_assert(memcmp(&got, &o.c0[i * o.ldc + j], sizeof got) == 0,
                          "%s: wrote C[%lld][%lld] beyond column n", what, (long long)i, (long long)j);
                continue;
            }
            /* float sums of k terms: k + 2 roundings of at most the size of the terms; the
             * activation's slope is below 1.2 and its own error 1e-6 relative. */
            double ref = o.ref[i * p->n + j];
            double tol = 1.2 * (double)(p->k + 3) * FLT_EPSILON * o.bound[i * p->n + j] + 2e-6 * fabs(ref) + 1e-30;
            cr_assert(fabs(got - ref) <= tol, "%s: C[%lld][%lld] = %.9g, expected %.9g (tolerance %.3g)", what,
                      (long long)i, (long long)j, got, ref, tol);
        }
    }

    float *one_thread = malloc(nc * sizeof(float));
    memcpy(one_thread, o.c, nc * sizeof(float));
    int64_t tasks = gemm_plan_tasks(&plan);
    int64_t splits[2] = {tasks / 2, tasks > 1 ? 1 : 0};
    for (int s = 0; s < 2; s++) {
        memcpy(o.c, o.c0, nc * sizeof(float));
        run_split(&plan, &args, splits[s]);
        cr_assert(memcmp(o.c, one_thread, nc * sizeof(float)) == 0,
                  "%s: 2 threads (split at task %lld of %lld) differ from 1", what, (long long)splits[s],
                  (long long)tasks);
    }
    free(one_thread);
    free(packed_memory);
    free_operands(&o);
}

/* Runs `body` for every kernel family this processor supports. */
#define FOR_EACH_KERNEL(kernel)                                                                \
    for (size_t kernel_index_ = 0; kernel_index_ < N_KERNELS; kernel_index_++)                  \
        for (const gemm_kernel *kernel = gemm_kernel_get(kernel_ids[kernel_index_]); kernel;   \
             kernel = NULL)

/* Including mr + 1, mr + 2 and 2 mr + 2 rows of the 6- and 8-row tiles (their last strips
 * split in two: tile_rows in gemm.c). */
static const int64_t odd_dims[] = {1, 7, 8, 9, 10, 13, 14, 17, 18, 31, 33, 97, 255, 257};
#define N_ODD (sizeof odd_dims / sizeof odd_dims[0])

/* ---- kernels ------------------------------------------------------------------------------ */

Test(gemm, kernels_are_chosen_by_cpu_features)
{
    const gemm_kernel *best = gemm_kernel_get(GEMM_KERNEL_BEST);
    cr_assert_not_null(best);
    cr_assert_not_null(gemm_kernel_get(GEMM_KERNEL_PORTABLE));
    cr_assert_str_eq(onyx_gemm_kernel_name(), gemm_kernel_name(best));
    /* The best is the widest one available. */
    if (gemm_kernel_get(GEMM_KERNEL_AVX512))
        cr_assert_eq(best, gemm_kernel_get(GEMM_KERNEL_AVX512));
    else if (gemm_kernel_get(GEMM_KERNEL_AVX2))
        cr_assert_eq(best, gemm_kernel_get(GEMM_KERNEL_AVX2));
    else
        cr_assert_eq(best, gemm_kernel_get(GEMM_KERNEL_PORTABLE));
    FOR_EACH_KERNEL(kernel)
        cr_log_info("testing kernel %s", gemm_kernel_name(kernel));
}

Test(gemm, odd_sizes_in_each_dim)
{
    FOR_EACH_KERNEL(kernel)
        for (size_t i = 0; i < N_ODD; i++) {
            int64_t d = odd_dims[i];
            bool pack = i % 2;
            check_problem(kernel, &(problem){.m = d, .n = 33, .k = 31, .alpha = 1, .pack = pack});
            check_problem(kernel, &(problem){.m = 17, .n = d, .k = 33, .alpha = 1, .pack = !pack});
            check_problem(kernel, &(problem){.m = 13, .n = 31, .k = d, .alpha = 1, .pack = pack});
        }
}

Test(gemm, odd_sizes_together)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {257, 257, 257}, {255, 97, 257}, {1, 257, 255},
                                        {97, 1, 13}, {7, 255, 1}, {33, 17, 97}};
    FOR_EACH_KERNEL(kernel)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (int pack = 0; pack < 2; pack++)
                check_problem(kernel, &(problem){.m = shapes[i][0], .n = shapes[i][1], .k = shapes[i][2],
                                                 .alpha = 1, .pack = pack});
}

Test(gemm, blocking_passes_over_k_and_tiles_of_c)
{
    /* k beyond one pass (uneven passes too), m beyond one row block, enough work for the
     * columns to be split into several tasks. */
    FOR_EACH_KERNEL(kernel) {
        check_problem(kernel, &(problem){.m = 40, .n = 50, .k = 2500, .alpha = 1, .pack = true});
        check_problem(kernel, &(problem){.m = 600, .n = 200, .k = 1100, .alpha = 1});
        check_problem(kernel, &(problem){.m = 130, .n = 1000, .k = 300, .alpha = 1, .pack = true, .beta = 1,
                                         .bias = true, .act = GEMM_ACTIVATION_GELU_ERF});
    }
}

/* One row of A by packed B (a decode step's products): the row kernel takes whole panels, a
 * few at a time and then one by one, and leaves a narrower last panel to the tiles; with
 * every epilogue, beta, alpha and k past one pass. */
Test(gemm, one_row_by_packed_panels)
{
    static const int64_t ns[] = {1, 8, 16, 17, 48, 64, 100, 145, 257};
    FOR_EACH_KERNEL(kernel)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (int mask = 0; mask < 8; mask++)
                check_problem(kernel, &(problem){.m = 1, .n = ns[i], .k = mask & 4 ? 2500 : 77, .pack = true,
                                                 .alpha = mask & 1 ? -2.0f : 1.0f, .beta = mask & 2 ? 0.5f : 0.0f,
                                                 .bias = mask & 1, .residual = mask & 2,
                                                 .act = mask & 4 ? GEMM_ACTIVATION_GELU_ERF : GEMM_ACTIVATION_RELU});
}

/* Equal columns of B give equal results wherever they fall (the row kernel's panels or the
 * tiles' narrower last one), k past one pass: a softmax of them stays uniform. */
Test(gemm, one_row_sums_every_column_alike)
{
    enum { K = 2500, N = 1000 };
    float *a = malloc(K * sizeof(float)), *b = malloc((size_t)K * N * sizeof(float)), *c = malloc(N * sizeof(float));
    fill(a, K, 5);
    for (int64_t p = 0; p < K; p++)
        for (int64_t j = 0; j < N; j++)
            b[p * N + j] = 0.001f * (float)(p % 97) - 0.03f;
    FOR_EACH_KERNEL(kernel) {
        void *memory = malloc(gemm_packed_b_bytes(kernel, K, N));
        gemm_packed_b packed;
        gemm_pack_b(&packed, kernel, false, K, N, b, N, memory);
        gemm_plan plan;
        gemm_plan_init(&plan, kernel, 1, N, K, false, false, &packed);
        gemm_args args = {.a = a, .lda = K, .c = c, .ldc = N, .alpha = 1, .beta = 0};
        gemm_run(&plan, &args, 0, gemm_plan_tasks(&plan), NULL);
        for (int64_t j = 1; j < N; j++)
            cr_assert(memcmp(&c[j], &c[0], sizeof(float)) == 0, "%s: column %lld %.9g, column 0 %.9g",
                      gemm_kernel_name(kernel), (long long)j, c[j], c[0]);
        free(memory);
    }
    free(a);
    free(b);
    free(c);
}

/* gemm_shifted: row p of B at b + offsets[p], offsets going back and forth and overlapping (a
 * convolution's taps), k beyond one pass, every tile shape; B allocated at exactly the extent
 * the offsets reach, so that a sanitizer build catches a read beyond. */
static void check_shifted(const gemm_kernel *kernel, int64_t m, int64_t n, int64_t k)
{
    uint32_t seed = (uint32_t)(m * 131 + n * 7 + k);
    int32_t *offsets = malloc((size_t)k * sizeof *offsets);
    int32_t extent = 0;
    for (int64_t p = 0; p < k; p++) {
        seed = seed * 1664525u + 1013904223u;
        offsets[p] = (int32_t)(seed >> 20) % 97 + (int32_t)(p % 5) * 3;
        if (offsets[p] > extent)
            extent = offsets[p];
    }
    float *a = malloc((size_t)(m * k) * sizeof *a), *b = malloc((size_t)(extent + n) * sizeof *b);
    float *c = malloc((size_t)(m * n) * sizeof *c);
    fill(a, (size_t)(m * k), seed + 1);
    fill(b, (size_t)(extent + n), seed + 2);
    for (int64_t i = 0; i < m * n; i++)
        c[i] = NAN; /* written, never read */
    gemm_shifted(kernel, m, n, k, a, k, b, offsets, c, n, NULL);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double want = 0, size = 0;
            for (int64_t p = 0; p < k; p++) {
                want += (double)a[i * k + p] * b[offsets[p] + j];
                size += fabs((double)a[i * k + p] * b[offsets[p] + j]);
            }
            cr_assert(fabs(c[i * n + j] - want) <= 1e-6 * size + 1e-30, "%s %lldx%lldx%lld: C[%lld][%lld] %g, want %g",
                      gemm_kernel_name(kernel), (long long)m, (long long)n, (long long)k, (long long)i, (long long)j, c[i * n + j],
                      want);
        }
    free(offsets), free(a), free(b), free(c);
}

Test(gemm, shifted_rows_of_b_in_every_tile_shape)
{
    FOR_EACH_KERNEL(kernel) {
        for (int64_t m = 1; m <= 18; m++)
            for (int64_t n = 1; n <= 50; n += 7)
                check_shifted(kernel, m, n, 13);
        check_shifted(kernel, 17, 100, 2500); /* three passes over k */
        check_shifted(kernel, 3, 5, 0);       /* no terms: zeros */
    }
}

Test(gemm, empty_dims)
{
    FOR_EACH_KERNEL(kernel) {
        /* k = 0: C = beta C (+ bias, activation, residual); the sum is empty. */
        check_problem(kernel, &(problem){.m = 5, .n = 70, .k = 0, .alpha = 1});
        check_problem(kernel, &(problem){.m = 5, .n = 70, .k = 0, .alpha = 1, .pack = true, .beta = 0.5f,
                                         .bias = true, .act = GEMM_ACTIVATION_RELU, .residual = true});
        /* m or n = 0: no tasks, nothing written. */
        for (int zero = 0; zero < 2; zero++) {
            gemm_plan plan;
            gemm_plan_init(&plan, kernel, zero ? 0 : 9, zero ? 9 : 0, 4, false, false, NULL);
            cr_assert_eq(gemm_plan_tasks(&plan), 0);
        }
        check_problem(kernel, &(problem){.m = 0, .n = 9, .k = 4, .alpha = 1});
        check_problem(kernel, &(problem){.m = 9, .n = 0, .k = 4, .alpha = 1});
    }
}

Test(gemm, transposes_packed_and_not)
{
    static const int64_t shapes[][3] = {{33, 97, 65}, {257, 31, 400}, {8, 48, 16}};
    FOR_EACH_KERNEL(kernel)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 8; t++)
                check_problem(kernel, &(problem){.m = shapes[s][0], .n = shapes[s][1], .k = shapes[s][2],
                                                 .trans_a = t & 1, .trans_b = t & 2, .pack = t & 4, .alpha = 1});
}

/* gemm_plan_share cuts columns, then rows, into more tasks: the same bits as the plan's own cut,
 * with packed and plain B, and every task's block inside C. */
Test(gemm, shared_plans_give_the_same_bits)
{
    static const int64_t shapes[][3] = {{196, 40, 240}, {49, 96, 576}, {7, 100, 5}, {300, 17, 64}};
    FOR_EACH_KERNEL(kernel)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int pack = 0; pack < 2; pack++) {
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                float *a = malloc((size_t)(m * k) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
                float *c1 = calloc((size_t)(m * n), sizeof(float)), *c2 = calloc((size_t)(m * n), sizeof(float));
                fill(a, (size_t)(m * k), 5);
                fill(b, (size_t)(k * n), 6);
                gemm_packed_b packed;
                void *memory = pack ? malloc(gemm_packed_b_bytes(kernel, k, n)) : NULL;
                if (pack)
                    gemm_pack_b(&packed, kernel, false, k, n, b, n, memory);
                gemm_plan whole, shared;
                gemm_plan_init(&whole, kernel, m, n, k, false, false, pack ? &packed : NULL);
                shared = whole;
                gemm_plan_share(&shared, 8);
                cr_assert(gemm_plan_tasks(&shared) >= 2, "%s %lldx%lldx%lld: %lld tasks",
                          gemm_kernel_name(kernel), (long long)m, (long long)n, (long long)k,
                          (long long)gemm_plan_tasks(&shared));
                for (int64_t t = 0; t < gemm_plan_tasks(&shared); t++) {
                    int64_t i0, i1, j0, j1;
                    gemm_task_block(&shared, t, &i0, &i1, &j0, &j1);
                    cr_assert(i0 >= 0 && j0 >= 0 && i1 <= m && j1 <= n);
                }
                void *scratch = malloc(shared.scratch_bytes > whole.scratch_bytes ? shared.scratch_bytes
                                                                                   : whole.scratch_bytes + 1);
                gemm_args args = {.a = a, .lda = k, .b = b, .ldb = n, .ldc = n, .alpha = 1, .beta = 0};
                args.c = c1;
                gemm_run(&whole, &args, 0, gemm_plan_tasks(&whole), scratch);
                args.c = c2;
                gemm_run(&shared, &args, 0, gemm_plan_tasks(&shared), scratch);
                cr_assert(!memcmp(c1, c2, (size_t)(m * n) * sizeof(float)), "%s %lldx%lldx%lld pack %d",
                          gemm_kernel_name(kernel), (long long)m, (long long)n, (long long)k, pack);
                free(scratch);
                free(memory);
                free(a);
                free(b);
                free(c1);
                free(c2);
            }
}

/* The whole-product calls, every transposition, against a float64 sum: gemm_f32 (onyx's kernel,
 * or the plain loops where A is transposed) and gemm_f64 (plain loops); beta 0 ignores a NaN in
 * C, beta 0.5 keeps half of C. */
Test(gemm, whole_products_in_every_transposition)
{
    enum { M = 13, N = 29, K = 17 };
    float af[M * K], bf[K * N], cf[M * N];
    double ad[M * K], bd[K * N], cd[M * N];
    fill(af, M * K, 11);
    fill(bf, K * N, 12);
    for (int i = 0; i < M * K; i++)
        ad[i] = af[i];
    for (int i = 0; i < K * N; i++)
        bd[i] = bf[i];
    for (int t = 0; t < 8; t++) {
        bool ta = t & 1, tb = t & 2, half = t & 4;
        float beta = half ? 0.5f : 0.0f;
        for (int i = 0; i < M * N; i++) {
            cf[i] = half ? (float)(i % 7) : NAN;
            cd[i] = cf[i];
        }
        /* Stored transposed where asked: A as K x M, B as N x K. */
        int64_t lda = ta ? M : K, ldb = tb ? K : N;
        gemm_f32(ta, tb, M, N, K, 2.0f, af, lda, bf, ldb, beta, cf, N);
        gemm_f64(ta, tb, M, N, K, 2.0, ad, lda, bd, ldb, beta, cd, N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double want = half ? 0.5 * (double)((i * N + j) % 7) : 0.0;
                for (int p = 0; p < K; p++)
                    want += 2.0 * (ta ? ad[p * lda + i] : ad[i * lda + p]) * (tb ? bd[j * ldb + p] : bd[p * ldb + j]);
                cr_assert(fabs(cf[i * N + j] - want) <= 1e-5 * (1 + fabs(want)), "f32 t%d (%d, %d): %g, not %g", t, i,
                          j, cf[i * N + j], want);
                cr_assert(fabs(cd[i * N + j] - want) <= 1e-12 * (1 + fabs(want)), "f64 t%d (%d, %d): %g, not %g", t,
                          i, j, cd[i * N + j], want);
            }
    }
}

Test(gemm, every_epilogue)
{
    static const gemm_activation acts[] = {GEMM_ACTIVATION_NONE, GEMM_ACTIVATION_RELU, GEMM_ACTIVATION_GELU_ERF,
                                           GEMM_ACTIVATION_GELU_TANH};
    FOR_EACH_KERNEL(kernel)
        for (size_t a = 0; a < 4; a++)
            for (int mask = 0; mask < 16; mask++)
                check_problem(kernel, &(problem){.m = 37, .n = 101, .k = mask & 8 ? 500 : 50,
                                                 .act = acts[a], .bias = mask & 1, .residual = mask & 2,
                                                 .beta = mask & 4 ? 0.5f : 0.0f, .alpha = mask & 8 ? -2.0f : 1.0f,
                                                 .pack = mask & 1, .trans_b = mask & 2});
}

/* ---- activations against libm ------------------------------------------------------------- */

static void check_activation(const gemm_kernel *kernel, gemm_activation act, double lo, double hi, double rel)
{
    enum { N = 200001 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++)
        x[i] = y[i] = (float)(lo + (hi - lo) * i / (N - 1));
    gemm_activate(kernel, y, N, act);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double ref = activate_ref(x[i], act);
        if (fabs(ref) < FLT_MIN) /* subnormal results carry fewer bits */
            cr_assert(fabs(y[i] - ref) <= FLT_MIN, "%s act %d: f(%.9g) = %.9g, expected %.9g",
                      gemm_kernel_name(kernel), act, x[i], y[i], ref);
        else
            worst = fmax(worst, fabs(y[i] - ref) / fabs(ref));
        cr_assert(fabs(ref) < FLT_MIN || fabs(y[i] - ref) <= rel * fabs(ref),
                  "%s act %d: f(%.9g) = %.9g, expected %.9g", gemm_kernel_name(kernel), act, x[i], y[i], ref);
    }
    cr_log_info("%s act %d on [%g, %g]: worst relative error %.2g", gemm_kernel_name(kernel), act, lo, hi, worst);
    free(x);
    free(y);
}

Test(gemm, gelu_erf_is_accurate_to_1e_6_relative_everywhere)
{
    /* Including the far negative side, where 1 + erf would cancel: the kernel uses erfc. Vectors
     * with every |x| <= 2.5 take the polynomial of gelu_near: that range alone, then both ways
     * (vectors across 2.5 take the erfc form). */
    FOR_EACH_KERNEL(kernel) {
        check_activation(kernel, GEMM_ACTIVATION_GELU_ERF, -13.5, 13.5, 1e-6);
        check_activation(kernel, GEMM_ACTIVATION_GELU_ERF, -2.5, 2.5, 1e-6);
        check_activation(kernel, GEMM_ACTIVATION_GELU_ERF, -2.6, -2.4, 1e-6);
        check_activation(kernel, GEMM_ACTIVATION_GELU_ERF, -1e-3, 1e-3, 1e-6);
    }
}

Test(gemm, gelu_tanh_is_accurate_to_1e_6_relative_above_minus_3)
{
    /* Below, e^-2u is large and inherits the float rounding of u times |2u|: still within
     * 2e-5 relative at -10, where the value is about 1e-37 (absolute error 1e-42). */
    FOR_EACH_KERNEL(kernel) {
        check_activation(kernel, GEMM_ACTIVATION_GELU_TANH, -3, 13.5, 1e-6);
        check_activation(kernel, GEMM_ACTIVATION_GELU_TANH, -2.5, 2.5, 1e-6); /* gelu_near's range */
        check_activation(kernel, GEMM_ACTIVATION_GELU_TANH, -1e-3, 1e-3, 1e-6);
        check_activation(kernel, GEMM_ACTIVATION_GELU_TANH, -10, -3, 2e-5);
    }
}

Test(gemm, silu_is_accurate_to_1e_6_relative_above_minus_80)
{
    /* Through 20, where 1 + e^-x rounds to 1, and down to -80, where the result is about 1e-33;
     * below, x e^-80 (within a factor of e^(-x - 80) of the true value, tinier still). */
    FOR_EACH_KERNEL(kernel) {
        check_activation(kernel, GEMM_ACTIVATION_SILU, -80, 40, 1e-6);
        check_activation(kernel, GEMM_ACTIVATION_SILU, -1e-3, 1e-3, 1e-6);
        float x[5];
        memcpy(x, (float[]){NAN, INFINITY, -INFINITY, 0.0f, -1e4f}, sizeof x);
        gemm_activate(kernel, x, 5, GEMM_ACTIVATION_SILU);
        cr_assert(isnan(x[0]) && x[1] == INFINITY && x[2] == -INFINITY && x[3] == 0 && x[4] < 0 && x[4] > -1e-30f,
                  "%s: %g %g %g %g %g", gemm_kernel_name(kernel), x[0], x[1], x[2], x[3], x[4]);
    }
}

Test(gemm, activations_of_special_values)
{
    FOR_EACH_KERNEL(kernel) {
        float x[4];
        /* ReLU keeps NaN and -0 maps to a zero. */
        memcpy(x, (float[]){NAN, -INFINITY, INFINITY, -0.0f}, sizeof x);
        gemm_activate(kernel, x, 4, GEMM_ACTIVATION_RELU);
        cr_assert(isnan(x[0]) && x[1] == 0 && x[2] == INFINITY && x[3] == 0, "%s", gemm_kernel_name(kernel));
        for (int act = GEMM_ACTIVATION_GELU_ERF; act <= GEMM_ACTIVATION_GELU_TANH; act++) {
            /* GELU: NaN stays NaN, +inf stays +inf, zero stays zero; huge values pass through;
             * far below zero the result is zero, and -inf gives NaN (as PyTorch's -inf * 0). */
            float g[7];
            memcpy(g, (float[]){NAN, INFINITY, 0.0f, 3e38f, -20.0f, -1e30f, -INFINITY}, sizeof g);
            gemm_activate(kernel, g, 7, (gemm_activation)act);
            cr_assert(isnan(g[0]) && g[1] == INFINITY && g[2] == 0 && g[3] == 3e38f && g[4] == 0 && g[5] == 0 &&
                          isnan(g[6]),
                      "%s act %d: %g %g %g %g %g %g %g", gemm_kernel_name(kernel), act, g[0], g[1], g[2], g[3], g[4],
                      g[5], g[6]);
        }
    }
}

/* ---- sigmoid, tanh and exp (the Sigmoid, Tanh and Exp operators' kernels) ----------------- */

Test(gemm, sigmoid_tanh_and_exp_against_double)
{
    FOR_EACH_KERNEL(kernel) {
        /* sigmoid: 1e-6 relative down to -87 (about 1.6e-38), subnormal results within FLT_MIN */
        check_activation(kernel, GEMM_ACTIVATION_SIGMOID, -87, 30, 1e-6);
        check_activation(kernel, GEMM_ACTIVATION_SIGMOID, -104, -87, 1);
        /* tanh: both sides of the polynomial's end at 0.625, tiny values, saturation */
        check_activation(kernel, GEMM_ACTIVATION_TANH, -12, 12, 2e-7);
        check_activation(kernel, GEMM_ACTIVATION_TANH, -1e-3, 1e-3, 2e-7);
        check_activation(kernel, GEMM_ACTIVATION_TANH, 0.6, 0.65, 2e-7);
        /* exp: the normal results, 2 ulp (2.4e-7) */
        check_activation(kernel, GEMM_ACTIVATION_EXP, -87, 88.5, 2.4e-7);
        float x[9];
        memcpy(x, (float[]){NAN, INFINITY, -INFINITY, -0.0f, 1e-30f, 30.0f, -200.0f, 100.0f, -1e-30f}, sizeof x);
        float t[9], e[9];
        memcpy(t, x, sizeof x);
        memcpy(e, x, sizeof x);
        gemm_activate(kernel, x, 9, GEMM_ACTIVATION_SIGMOID);
        gemm_activate(kernel, t, 9, GEMM_ACTIVATION_TANH);
        gemm_activate(kernel, e, 9, GEMM_ACTIVATION_EXP);
        const char *name = gemm_kernel_name(kernel);
        cr_assert(isnan(x[0]) && x[1] == 1 && x[2] == 0 && x[3] == 0.5f && x[5] == 1 && x[6] == 0, "%s sigmoid", name);
        cr_assert(isnan(t[0]) && t[1] == 1 && t[2] == -1 && t[3] == 0 && signbit(t[3]) && t[4] == 1e-30f &&
                      t[5] == 1 && t[6] == -1 && t[8] == -1e-30f,
                  "%s tanh: %g %g %g %g %g %g %g", name, t[0], t[1], t[2], t[3], t[4], t[5], t[6]);
        cr_assert(isnan(e[0]) && e[1] == INFINITY && e[2] == 0 && e[3] == 1 && e[6] == 0 && e[7] == INFINITY,
                  "%s exp", name);
    }
}

/* ---- erf (the Erf operator's kernel) ------------------------------------------------------ */

/* |got - ref| in units of the float spacing at ref (the subnormal spacing below FLT_MIN). */
static double ulp_error(float got, double ref)
{
    int e;
    frexp(fabs(ref) < FLT_MIN ? FLT_MIN : ref, &e);
    return fabs(got - ref) / ldexp(1.0, e - 24);
}

/* erf of n values against double erf: within `ulps`, and with erf's sign; returns the worst. */
static double check_erf(const gemm_kernel *kernel, const float *x, int64_t n, double ulps)
{
    float *y = malloc((size_t)n * sizeof(float));
    memcpy(y, x, (size_t)n * sizeof(float));
    gemm_activate(kernel, y, n, GEMM_ACTIVATION_ERF);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double ref = erf((double)x[i]), err = ulp_error(y[i], ref);
        cr_assert(err <= ulps && signbit(y[i]) == signbit(x[i]) && fabs(y[i]) <= 1,
                  "%s: erf(%.9g) = %.9g, expected %.17g (%.2f ulp)", gemm_kernel_name(kernel), x[i], y[i], ref, err);
        worst = fmax(worst, err);
    }
    free(y);
    return worst;
}

Test(gemm, erf_is_within_2_ulp_of_double_erf)
{
    enum { N = 2000001 };
    float *x = malloc(N * sizeof(float));
    FOR_EACH_KERNEL(kernel) {
        /* A dense sweep over [-10, 10], at an odd count so that the tail is a partial vector. */
        for (int i = 0; i < N; i++)
            x[i] = (float)(-10.0 + 20.0 * i / (N - 1));
        double worst = check_erf(kernel, x, N, 2.0);
        /* Every 4099th float of either sign, subnormals to FLT_MAX: the tiny values, where only
         * the polynomial keeps erf's relative accuracy, and the saturation at +-1. */
        int64_t n = 0;
        for (uint32_t bits = 0; bits < 0x7f800000u && n + 1 < N; bits += 4099, n += 2) {
            memcpy(&x[n], &bits, sizeof(float));
            x[n + 1] = -x[n];
        }
        worst = fmax(worst, check_erf(kernel, x, n, 2.0));
        cr_log_info("%s erf: worst %.2f ulp", gemm_kernel_name(kernel), worst);

        float s[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, FLT_MAX, -FLT_MAX, 6.0f, -6.0f, 3.9f, -3.9f,
                     0.875f, -0.875f, FLT_TRUE_MIN, -FLT_TRUE_MIN, 1e-30f};
        gemm_activate(kernel, s, sizeof s / sizeof s[0], GEMM_ACTIVATION_ERF);
        cr_assert(isnan(s[0]) && isnan(s[1]), "%s: erf(NaN) = %g %g", gemm_kernel_name(kernel), s[0], s[1]);
        cr_assert(s[2] == 1 && s[3] == -1 && s[6] == 1 && s[7] == -1 && s[8] == 1 && s[9] == -1,
                  "%s: saturation %g %g %g %g %g %g", gemm_kernel_name(kernel), s[2], s[3], s[6], s[7], s[8], s[9]);
        cr_assert(s[4] == 0 && !signbit(s[4]) && s[5] == 0 && signbit(s[5]), "%s: erf(+-0) = %g %g",
                  gemm_kernel_name(kernel), s[4], s[5]);
        cr_assert(ulp_error(s[10], erf(3.9f)) <= 2 && ulp_error(s[11], erf(-3.9f)) <= 2 &&
                      ulp_error(s[12], erf(0.875f)) <= 2 && ulp_error(s[13], erf(-0.875f)) <= 2,
                  "%s: erf near the branches", gemm_kernel_name(kernel));
        cr_assert(ulp_error(s[14], erf(FLT_TRUE_MIN)) <= 1 && ulp_error(s[15], erf(-FLT_TRUE_MIN)) <= 1 &&
                      ulp_error(s[16], erf(1e-30f)) <= 1,
                  "%s: erf of tiny values %g %g %g", gemm_kernel_name(kernel), s[14], s[15], s[16]);
    }
    free(x);
}

/* ---- the operators ------------------------------------------------------------------------ */

/* y[i][j] = sum_q x[i][q] w[q][j] for `batch` products, in double. */
static void matmul_ref(const float *x, const float *w, double *y, int64_t batch, int64_t m, int64_t k, int64_t n,
                       bool w_batched)
{
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double sum = 0;
                for (int64_t q = 0; q < k; q++)
                    sum += (double)x[(b * m + i) * k + q] * w[(w_batched ? b * k * n : 0) + q * n + j];
                y[(b * m + i) * n + j] = sum;
            }
}

static void expect_close(const float *got, const double *ref, size_t count, double tol)
{
    for (size_t i = 0; i < count; i++)
        cr_assert(fabs(got[i] - ref[i]) <= tol * (1 + fabs(ref[i])), "element %zu: %.9g, expected %.9g", i, got[i],
                  ref[i]);
}

Test(gemm, matmul_with_constant_weights_on_one_and_two_threads)
{
    /* x [2, 70, 96] @ W [96, 200] (an initializer: packed at load), batch folded into rows. */
    enum { B = 2, M = 70, K = 96, N = 200 };
    static float x[B * M * K], w[K * N], y1[B * M * N], y2[B * M * N];
    static double ref[B * M * N];
    fill(x, B * M * K, 11);
    fill(w, K * N, 12);
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 3, DIMS(B, M, K), NULL);
    builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 2, DIMS(K, N), w);
    builder_node(b, "MatMul", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(B, M, K), x);
    run_into(b, 1, 1, &in, y1, sizeof y1);
    run_into(b, 2, 1, &in, y2, sizeof y2);
    matmul_ref(x, w, ref, B, M, K, N, false);
    expect_close(y1, ref, B * M * N, 1e-5);
    cr_assert(memcmp(y1, y2, sizeof y1) == 0, "2 threads differ from 1");
    builder_free(b);
}

Test(gemm, batched_matmul_of_attention_shapes)
{
    /* Q [1, 12, 40, 64] @ K^T [1, 12, 64, 40]: small k and n, many products, B not constant. */
    enum { H = 12, S = 40, D = 64 };
    static float q[H * S * D], kt[H * D * S], y1[H * S * S], y2[H * S * S];
    static double ref[H * S * S];
    fill(q, H * S * D, 21);
    fill(kt, H * D * S, 22);
    builder *b = builder_new(13);
    builder_input(b, "Q", ONYX_DTYPE_FLOAT, 4, DIMS(1, H, S, D), NULL);
    builder_input(b, "KT", ONYX_DTYPE_FLOAT, 4, DIMS(1, H, D, S), NULL);
    builder_node(b, "MatMul", "Q,KT", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, H, S, D), q),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, H, D, S), kt)};
    run_into(b, 1, 2, in, y1, sizeof y1);
    run_into(b, 2, 2, in, y2, sizeof y2);
    matmul_ref(q, kt, ref, H, S, D, S, true);
    expect_close(y1, ref, H * S * S, 1e-5);
    cr_assert(memcmp(y1, y2, sizeof y1) == 0, "2 threads differ from 1");
    builder_free(b);
}

/* Gemm(A [m,k], W^T [n,k] constant, C) with alpha, beta: each way C can join the product. */
static void check_gemm_op(const int64_t *c_dims, int c_rank, float alpha, float beta)
{
    enum { M = 45, K = 70, N = 60 };
    static float a[M * K], wt[N * K], c[M * N], y[M * N];
    fill(a, M * K, 31);
    fill(wt, N * K, 32);
    fill(c, M * N, 33);
    int64_t c_rows = c_rank == 2 ? c_dims[0] : 1, c_cols = c_rank >= 1 ? c_dims[c_rank - 1] : 1;
    builder *b = builder_new(13);
    builder_input(b, "A", ONYX_DTYPE_FLOAT, 2, DIMS(M, K), NULL);
    builder_initializer(b, "W", ONYX_DTYPE_FLOAT, 2, DIMS(N, K), wt);
    builder_initializer(b, "C", ONYX_DTYPE_FLOAT, c_rank, c_dims, c);
    Onnx__NodeProto *node = builder_node(b, "Gemm", "A,W,C", "Y");
    builder_attr_int(b, node, "transB", 1);
    builder_attr_float(b, node, "alpha", alpha);
    builder_attr_float(b, node, "beta", beta);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(M, K), a);
    for (int threads = 1; threads <= 2; threads++) {
        run_into(b, threads, 1, &in, y, sizeof y);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double sum = 0;
                for (int64_t q = 0; q < K; q++)
                    sum += (double)a[i * K + q] * wt[j * K + q];
                double ref = alpha * sum + beta * (double)c[(c_rows == 1 ? 0 : i) * c_cols + (c_cols == 1 ? 0 : j)];
                cr_assert(fabs(y[i * N + j] - ref) <= 1e-5 * (1 + fabs(ref)), "C rank %d, beta %g: Y[%lld][%lld] = %.9g, expected %.9g",
                          c_rank, beta, (long long)i, (long long)j, y[i * N + j], ref);
            }
    }
    builder_free(b);
}

Test(gemm, gemm_operator_bias_forms)
{
    check_gemm_op(DIMS(60), 1, 1.0f, 1.0f);       /* per-column bias: the epilogue's bias */
    check_gemm_op(DIMS(1, 60), 2, 0.5f, 1.0f);    /* the same as a row */
    check_gemm_op(DIMS(45, 60), 2, 1.0f, 1.0f);   /* full C: the epilogue's residual */
    check_gemm_op(DIMS(45, 1), 2, 1.0f, 1.0f);    /* per-row: Y filled with C first */
    check_gemm_op(DIMS(60), 1, 2.0f, -0.5f);      /* beta != 1: filled first */
    check_gemm_op(NULL, 0, 1.0f, 3.0f);           /* scalar */
    check_gemm_op(DIMS(45, 60), 2, -1.0f, 0.0f);  /* beta 0: C ignored */
}

Test(gemm, gemm_operator_in_double_with_transposed_a)
{
    /* A^T given as [k, m] = [3, 2]; B [3, 2]; C [2]: Y = A B + C by hand. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(3, 2), (const double[]){1, 4, 2, 5, 3, 6}),
                         tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(3, 2), (const double[]){1, 0, 0, 1, 1, 1}),
                         tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(2), (const double[]){10, 20})};
    builder *b = builder_new(13);
    builder_input(b, "A", ONYX_DTYPE_DOUBLE, 2, DIMS(3, 2), NULL);
    builder_input(b, "B", ONYX_DTYPE_DOUBLE, 2, DIMS(3, 2), NULL);
    builder_input(b, "C", ONYX_DTYPE_DOUBLE, 1, DIMS(2), NULL);
    builder_attr_int(b, builder_node(b, "Gemm", "A,B,C", "Y"), "transA", 1);
    builder_output(b, "Y", ONYX_DTYPE_DOUBLE);
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    /* A = [[1,2,3],[4,5,6]]: rows times B = [1+3, 2+3] and [4+6, 5+6]. */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 2, DIMS(2, 2), (const double[]){14, 25, 20, 31}, 0);
    run_result_free(&r);
    builder_free(b);
}

/* softmax rows against a double-precision reference, on every kernel family, at lengths with
 * and without a partial vector, plus the special rows. */
Test(gemm, softmax_row_matches_the_formula)
{
    static const int64_t lengths[] = {1, 7, 16, 17, 48, 128, 131};
    for (size_t kid = 0; kid < sizeof kernel_ids / sizeof kernel_ids[0]; kid++) {
        const gemm_kernel *kernel = gemm_kernel_get(kernel_ids[kid]);
        if (!kernel)
            continue;
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            int64_t n = lengths[li];
            float x[131];
            double want[131], max = -INFINITY, sum = 0;
            for (int64_t j = 0; j < n; j++) {
                x[j] = (float)((j * 37 % 23) - 11) * 0.7f; /* spread of about +-8 */
                if (j % 5 == 3)
                    x[j] = -INFINITY; /* masked */
                max = x[j] > max ? x[j] : max;
            }
            if (n == 1)
                x[0] = 2.5f, max = 2.5;
            for (int64_t j = 0; j < n; j++)
                sum += want[j] = exp((double)x[j] - max);
            gemm_softmax_row(kernel, x, n);
            for (int64_t j = 0; j < n; j++)
                cr_assert(fabs(x[j] - want[j] / sum) <= 1e-6 * (want[j] / sum) + 1e-12,
                          "%s n=%lld [%lld]: %.9g vs %.9g", gemm_kernel_name(kernel), (long long)n, (long long)j,
                          x[j], want[j] / sum);
        }
        /* Scores far below the maximum, where exp leaves the normal floats (under 1.2e-38 of
         * the largest term: 0 is within any tolerance), beside ordinary ones. */
        float far[11] = {0.0f, -1.0f, -80.0f, -87.0f, -87.5f, -88.0f, -88.5f, -95.0f, -103.0f, -150.0f, -1e30f};
        double far_sum = 0, far_want[11];
        for (int j = 0; j < 11; j++)
            far_sum += far_want[j] = exp((double)far[j]);
        gemm_softmax_row(kernel, far, 11);
        for (int j = 0; j < 11; j++)
            cr_assert(fabs(far[j] - far_want[j] / far_sum) <= 1e-6 * (far_want[j] / far_sum) + 1e-37 &&
                          far[j] >= 0,
                      "%s: far below the maximum [%d]: %.9g vs %.9g", gemm_kernel_name(kernel), j, far[j],
                      far_want[j] / far_sum);
        /* NaN in a whole vector (where a vector maximum may pass over it) and in the tail. */
        float masked[20], nan_early[20], nan_late[20];
        for (int j = 0; j < 20; j++) {
            masked[j] = -INFINITY;
            nan_early[j] = nan_late[j] = (float)j;
        }
        nan_early[3] = nan_late[18] = NAN;
        gemm_softmax_row(kernel, masked, 20);
        gemm_softmax_row(kernel, nan_early, 20);
        gemm_softmax_row(kernel, nan_late, 20);
        for (int j = 0; j < 20; j++) {
            cr_assert(isnan(masked[j]), "%s: a fully masked row gives NaN, as PyTorch does", gemm_kernel_name(kernel));
            cr_assert(isnan(nan_early[j]) && isnan(nan_late[j]), "%s: NaN spreads through the row",
                      gemm_kernel_name(kernel));
        }
    }
}
