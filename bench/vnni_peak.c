/* The machine's int8 dot-product peak on one core (vpdpbusd: 4 u8 x s8 products summed into
 * each int32 lane, counted as 2 operations per product; without VNNI, vpmaddwd then vpaddd on
 * int16: 2 products per lane, the exact AVX2 kernel's step), and what onyx's int8 GEMM
 * (ops/kernels/qgemm.h) reaches of it on transformer shapes, one thread, each figure the best
 * of repeated runs (the machine may be shared).
 *
 * usage: vnni_peak [--seconds S]   (default 0.3 s per figure) */
#include "cpu.h"
#include "madd_peak.h"
#include "qgemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHAINS 16 /* independent accumulators: enough to cover the instruction's latency */

#if defined(__x86_64__)
/* iters x CHAINS vpdpbusd on ZMM: 64 products each. Returns a value the compiler must keep. */
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) static int peak_zmm(int64_t iters)
{
    __m512i acc[CHAINS], a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_set1_epi32(i);
    for (int64_t t = 0; t < iters; t++) {
        for (int i = 0; i < CHAINS; i++)
            acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
        __asm__ volatile("" : "+v"(a)); /* keep the loop from being folded */
    }
    __m512i s = acc[0];
    for (int i = 1; i < CHAINS; i++)
        s = _mm512_add_epi32(s, acc[i]);
    return _mm512_reduce_add_epi32(s);
}

__attribute__((target("avx2,avxvnni"), noinline)) static int peak_ymm(int64_t iters)
{
    __m256i acc[12], a = _mm256_set1_epi32(0x01020304), b = _mm256_set1_epi32(0x05060708);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm256_set1_epi32(i);
    for (int64_t t = 0; t < iters; t++) {
        for (int i = 0; i < 12; i++)
            acc[i] = _mm256_dpbusd_avx_epi32(acc[i], a, b);
        __asm__ volatile("" : "+x"(a));
    }
    __m256i s = acc[0];
    for (int i = 1; i < 12; i++)
        s = _mm256_add_epi32(s, acc[i]);
    int out[8];
    _mm256_storeu_si256((__m256i *)out, s);
    return out[0] + out[7];
}

#endif

/* Best GOP/s of fn over `seconds`, fn doing `ops` operations per call. */
static double best_rate(double seconds, double ops, void (*fn)(void *), void *arg)
{
    double best = 0, end = now() + seconds;
    do {
        double t0 = now();
        fn(arg);
        double dt = now() - t0;
        if (dt > 0 && ops / dt > best)
            best = ops / dt;
    } while (now() < end);
    return best * 1e-9;
}

static volatile int sink;
#if defined(__x86_64__)
static void run_peak_zmm(void *arg) { sink += peak_zmm(*(int64_t *)arg); }
static void run_peak_ymm(void *arg) { sink += peak_ymm(*(int64_t *)arg); }
static void run_peak_madd(void *arg) { sink += madd_peak((long)*(int64_t *)arg); }
#endif

typedef struct gemm_case {
    const qgemm_plan *plan;
    const qgemm_args *args;
    void *scratch;
} gemm_case;

static void run_gemm(void *arg)
{
    gemm_case *g = arg;
    for (int64_t t = 0; t < qgemm_plan_tasks(g->plan); t++)
        qgemm_run_task(g->plan, t, g->args, g->scratch);
}

int main(int argc, char **argv)
{
    double seconds = 0.3;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
    const cpu_features *f = cpu_features_get();
    double peak = 0, peak_ymm_rate = 0, peak_madd_rate = 0;
#if defined(__x86_64__)
    int64_t iters = 100000;
    if (f->avx512_vnni) {
        peak = best_rate(seconds, (double)iters * CHAINS * 64 * 2, run_peak_zmm, &iters);
        printf("peak vpdpbusd zmm: %.1f GOP/s (one core)\n", peak);
    }
    if (f->avx_vnni) {
        peak_ymm_rate = best_rate(seconds, (double)iters * 12 * 32 * 2, run_peak_ymm, &iters);
        printf("peak vpdpbusd ymm: %.1f GOP/s (one core)\n", peak_ymm_rate);
    }
    if (f->avx2_fma) {
        peak_madd_rate = best_rate(seconds, (double)iters * MADD_PEAK_OPS_PER_ITER, run_peak_madd, &iters);
        printf("peak vpmaddwd ymm: %.1f GOP/s (one core)\n", peak_madd_rate);
    }
#endif
    static const int64_t shapes[][3] = {{128, 768, 768}, {128, 3072, 768}, {128, 768, 3072},
                                        {16, 768, 768}, {512, 768, 768}, {1024, 1024, 1024}};
    static const qgemm_kernel_id ids[] = {QGEMM_KERNEL_AVX512_VNNI, QGEMM_KERNEL_AVX_VNNI, QGEMM_KERNEL_AVX2,
                                          QGEMM_KERNEL_PORTABLE};
    static const char *const peak_names[] = {"vpdpbusd zmm", "vpdpbusd ymm", "vpmaddwd ymm", NULL};
    const double peaks[] = {peak, peak_ymm_rate, peak_madd_rate, 0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        uint8_t *a = malloc((size_t)(m * k)), *b = malloc((size_t)(k * n));
        float *c = malloc((size_t)(m * n) * sizeof *c), scale = 0.01f;
        for (int64_t i = 0; i < m * k; i++)
            a[i] = (uint8_t)(i * 7 + 3);
        for (int64_t i = 0; i < k * n; i++)
            b[i] = (uint8_t)(i * 13 + 1);
        void *memory = malloc(qgemm_packed_b_bytes(k, n));
        qgemm_packed_b packed;
        qgemm_pack_b(&packed, b, true, k, n, n, memory);
        for (size_t kid = 0; kid < sizeof ids / sizeof ids[0]; kid++) {
            const qgemm_kernel *kernel = qgemm_kernel_get(ids[kid]);
            if (!kernel || (ids[kid] == QGEMM_KERNEL_PORTABLE && m * n * k > 200000000))
                continue;
            qgemm_plan plan;
            qgemm_plan_init(&plan, kernel, m, n, k);
            qgemm_args args = {.a = a, .lda = k, .a_zero_point = 128, .b = &packed, .c = c, .ldc = n,
                               .a_scale = 0.5f, .b_scales = &scale};
            gemm_case g = {&plan, &args, malloc(plan.scratch_bytes)};
            double rate = best_rate(seconds, 2.0 * (double)m * n * k, run_gemm, &g);
            printf("qgemm %-18s m %4lld n %4lld k %4lld: %7.1f GOP/s", qgemm_kernel_name(kernel),
                   (long long)m, (long long)n, (long long)k, rate);
            if (peaks[kid] > 0)
                printf("  (%.0f%% of the %s peak)", 100 * rate / peaks[kid], peak_names[kid]);
            printf("\n");
            free(g.scratch);
        }
        free(a), free(b), free(c), free(memory);
    }
    return 0;
}
