/* The machine's own ceilings, measured with instruction loops: what one core (and every
 * thread given) can do at most, for comparing kernels against.
 *
 *   fp32_fma    vfmadd231ps, 2 FLOP per lane (AVX-512: 16 lanes; AVX2: 8)
 *   bf16_dot    vdpbf16ps (AVX512-BF16): 2 products + 2 adds per float32 lane, counted as
 *               4 FLOP per lane (the bf16 GEMM's rate in the same FLOP a float32 GEMM counts)
 *   int8_dot    vpdpbusd (AVX512-VNNI, else AVX-VNNI): 4 u8 x s8 products + 4 adds per int32
 *               lane, counted as 8 integer ops per lane; without VNNI, "AVX2 vpmaddwd": vpmaddwd
 *               then vpaddd (the exact AVX2 int8 GEMM's step on bytes widened to int16): 2
 *               products + 2 adds per int32 lane, 4 ops per lane
 *
 * Each loop keeps 12 independent accumulators (enough to cover latency times throughput on
 * the cores seen here), runs for --seconds, best of 5 tries. Threads run the same loop at
 * once; the figure is their sum.
 *
 * usage: peak [--seconds S] [--threads N] [--json] */
#include "cpu.h"
#include "madd_peak.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Each loop body runs `iters` times 12 instructions; returns a value so nothing is dropped. */
typedef float (*loop_fn)(long iters);

#if defined(__x86_64__)
/* Twelve accumulators in named variables (an array would be kept in memory), each updated
 * once per iteration by STEP(acc); SUM folds them with ADD. */
#define DECLARE(type, init) \
    type a0 = init(0), a1 = init(1), a2 = init(2), a3 = init(3), a4 = init(4), a5 = init(5), a6 = init(6), \
         a7 = init(7), a8 = init(8), a9 = init(9), a10 = init(10), a11 = init(11)
#define TWELVE(STEP) \
    STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5); STEP(a6); STEP(a7); STEP(a8); STEP(a9); \
    STEP(a10); STEP(a11)
#define SUM(ADD) \
    ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), ADD(ADD(a8, a9), ADD(a10, a11)))
#define KEEP(c) __asm__ volatile("" : "+" c(a0), "+" c(a6))

#define PS512(i) _mm512_set1_ps((float)(i))
#define PS256(i) _mm256_set1_ps((float)(i))
#define EPI512(i) _mm512_set1_epi32(i)
#define EPI256(i) _mm256_set1_epi32(i)

__attribute__((target("avx512f"))) static float fma512(long iters)
{
    __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    DECLARE(__m512, PS512);
    for (long n = 0; n < iters; n++) {
#define STEP(a) a = _mm512_fmadd_ps(a, x, y)
        TWELVE(STEP);
#undef STEP
        KEEP("v");
    }
    return _mm512_reduce_add_ps(SUM(_mm512_add_ps));
}

__attribute__((target("avx2,fma"))) static float fma256(long iters)
{
    __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    DECLARE(__m256, PS256);
    for (long n = 0; n < iters; n++) {
#define STEP(a) a = _mm256_fmadd_ps(a, x, y)
        TWELVE(STEP);
#undef STEP
        KEEP("x");
    }
    float out[8];
    _mm256_storeu_ps(out, SUM(_mm256_add_ps));
    return out[0] + out[7];
}

__attribute__((target("avx512f,avx512bf16"))) static float bf16_512(long iters)
{
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3400);
    DECLARE(__m512, PS512);
    for (long n = 0; n < iters; n++) {
#define STEP(a) a = _mm512_dpbf16_ps(a, x, y)
        TWELVE(STEP);
#undef STEP
        KEEP("v");
    }
    return _mm512_reduce_add_ps(SUM(_mm512_add_ps));
}

__attribute__((target("avx512f,avx512vnni"))) static float vnni512(long iters)
{
    __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(1);
    DECLARE(__m512i, EPI512);
    for (long n = 0; n < iters; n++) {
#define STEP(a) a = _mm512_dpbusd_epi32(a, x, y)
        TWELVE(STEP);
#undef STEP
        KEEP("v");
    }
    return (float)_mm512_reduce_add_epi32(SUM(_mm512_add_epi32));
}

__attribute__((target("avx2,avxvnni"))) static float vnni256(long iters)
{
    __m256i x = _mm256_set1_epi8(1), y = _mm256_set1_epi8(1);
    DECLARE(__m256i, EPI256);
    for (long n = 0; n < iters; n++) {
#define STEP(a) a = _mm256_dpbusd_avx_epi32(a, x, y)
        TWELVE(STEP);
#undef STEP
        KEEP("x");
    }
    int out[8];
    _mm256_storeu_si256((__m256i *)out, SUM(_mm256_add_epi32));
    return (float)(out[0] + out[7]);
}

static float madd256(long iters) { return (float)madd_peak(iters); }
#endif

typedef struct loop {
    const char *name, *isa;
    loop_fn fn;
    double ops_per_iter; /* 12 instructions x lanes x ops per lane */
} loop;

typedef struct job {
    loop_fn fn;
    long iters;
    pthread_barrier_t *start;
    double seconds;
    volatile float sink;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    double t0 = now();
    j->sink = j->fn(j->iters);
    j->seconds = now() - t0;
    return NULL;
}

/* Ops per second of `threads` copies of the loop running at once: the slowest one's time. */
static double measure(const loop *l, int threads, double seconds)
{
    long iters = 1000;
    for (;;) { /* calibrate on one thread */
        double t0 = now();
        volatile float s = l->fn(iters);
        (void)s;
        double t = now() - t0;
        if (t > seconds / 10 || iters > (1L << 40))
            break;
        iters *= 4;
    }
    double t0 = now();
    volatile float s = l->fn(iters);
    (void)s;
    double per_iter = (now() - t0) / (double)iters;
    iters = (long)(seconds / 5 / per_iter) + 1;
    double best = 0;
    for (int r = 0; r < 5; r++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)threads);
        job jobs[64];
        pthread_t tid[64];
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){.fn = l->fn, .iters = iters, .start = &start};
            pthread_create(&tid[t], NULL, run_job, &jobs[t]);
        }
        double slowest = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            if (jobs[t].seconds > slowest)
                slowest = jobs[t].seconds;
        }
        pthread_barrier_destroy(&start);
        double rate = (double)threads * (double)iters * l->ops_per_iter / slowest;
        if (rate > best)
            best = rate;
    }
    return best;
}

int main(int argc, char **argv)
{
    double seconds = 0.5;
    int threads = 1;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "usage: peak [--seconds S] [--threads N] [--json]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || !(seconds > 0)) {
        fprintf(stderr, "peak: --threads 1..64, --seconds > 0\n");
        return 2;
    }
    loop loops[5];
    int n = 0;
#if defined(__x86_64__)
    /* onyx's own detection (ops/kernels/cpu.c): the instructions and the OS's register state. */
    const cpu_features *cpu = cpu_features_get();
    if (cpu->avx512f)
        loops[n++] = (loop){"fp32_fma", "AVX-512", fma512, 12.0 * 16 * 2};
    else if (cpu->avx2_fma)
        loops[n++] = (loop){"fp32_fma", "AVX2", fma256, 12.0 * 8 * 2};
    if (cpu->avx512_bf16)
        loops[n++] = (loop){"bf16_dot", "AVX512-BF16", bf16_512, 12.0 * 16 * 4};
    if (cpu->avx512_vnni)
        loops[n++] = (loop){"int8_dot", "AVX512-VNNI", vnni512, 12.0 * 16 * 8};
    else if (cpu->avx_vnni)
        loops[n++] = (loop){"int8_dot", "AVX-VNNI", vnni256, 12.0 * 8 * 8};
    else if (cpu->avx2_fma)
        loops[n++] = (loop){"int8_dot", "AVX2 vpmaddwd", madd256, MADD_PEAK_OPS_PER_ITER};
#endif
    if (json)
        printf("{\"threads\": %d", threads);
    for (int i = 0; i < n; i++) {
        double g = measure(&loops[i], threads, seconds) / 1e9;
        if (json)
            printf(", \"%s\": {\"isa\": \"%s\", \"gops\": %.1f}", loops[i].name, loops[i].isa, g);
        else
            printf("%-9s %-13s %8.1f G%s/s (%d thread%s)\n", loops[i].name, loops[i].isa, g,
                   strcmp(loops[i].name, "int8_dot") ? "FLOP" : "OP", threads, threads == 1 ? "" : "s");
    }
    if (json)
        printf("}\n");
    else if (n == 0)
        printf("no vector loop for this processor\n");
    return 0;
}
