/* GFLOP/s of onyx's float32 GEMM against OpenBLAS's cblas_sgemm, on the shapes of a
 * transformer block, at 1 and 2 threads, and of onyx's bfloat16 GEMM (gemm_bf16.h: float32
 * operands rounded to bfloat16, float32 sums; weights only) where the processor has
 * AVX512-BF16. Above the table, one core's peaks: a loop of independent AVX-512 FMAs and one of
 * vdpbf16ps (two multiply-adds per lane), each counted in float32 multiply-adds x 2. Each
 * figure is the best of repeated runs (the
 * machine may be shared: the best run is the one least disturbed).
 *
 * OpenBLAS is called as the library is, under whatever OPENBLAS_CORETYPE the environment
 * sets; to see its own best kernels run it with the variable unset:
 *     env -u OPENBLAS_CORETYPE build/bench/gemm_bench
 *
 * usage: gemm_bench [--seconds S] [--threads N]... [--shape NAME]
 *   default 0.5 s per figure, threads 1 and 2, every shape; --shape keeps the shapes whose name
 *   starts with NAME ("square", "ffn_d768", ...) */
#include "gemm.h"
#include "gemm_bf16.h"
#include "onyx.h"
#include "pool.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    const char *what;
    int64_t batch, m, k, n;
    bool weights; /* B is a constant of the model: onyx packs it once */
} shape;

static const shape shapes[] = {
    {"square", 1, 2048, 2048, 2048, true},
    {"ffn_d768 up", 1, 128, 768, 3072, true},
    {"ffn_d768 down", 1, 128, 3072, 768, true},
    {"projection d768", 1, 128, 768, 768, true},
    {"attention QK^T, 12 heads", 12, 128, 64, 128, false},
    {"attention AV, 12 heads", 12, 128, 128, 64, false},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct problem {
    const shape *s;
    float *a, *b, *c;
    gemm_packed_b packed;
    void *packed_memory;
    gemm_plan plan;
    unsigned char *scratch; /* per thread */
    gemm_bf16_packed_b bf16_packed; /* when packed and the processor has AVX512-BF16 */
    void *bf16_memory;
    gemm_bf16_plan bf16_plan;
    unsigned char *bf16_scratch; /* per thread */
    pool *threads;
} problem;

typedef struct job {
    const problem *p;
} job;

/* Task t: tile t % tiles of product t / tiles, as MatMul runs them. */
static void run_tasks(void *arg, int thread, int64_t begin, int64_t end)
{
    const problem *p = arg;
    int64_t tiles = gemm_plan_tasks(&p->plan), m = p->s->m, k = p->s->k, n = p->s->n;
    for (int64_t task = begin; task < end; task++) {
        int64_t i = task / tiles;
        gemm_args args = {.a = p->a + i * m * k, .lda = k, .b = p->b + i * k * n, .ldb = n,
                          .c = p->c + i * m * n, .ldc = n, .alpha = 1.0f};
        gemm_run(&p->plan, &args, task % tiles, task % tiles + 1,
                 p->scratch + (size_t)thread * p->plan.scratch_bytes);
    }
}

static void run_onyx(const problem *p)
{
    pool_job pj = {run_tasks, (void *)p, p->s->batch * gemm_plan_tasks(&p->plan)};
    pool_run(p->threads, &pj);
}

static void run_bf16_tasks(void *arg, int thread, int64_t begin, int64_t end)
{
    const problem *p = arg;
    gemm_args args = {.a = p->a, .lda = p->s->k, .c = p->c, .ldc = p->s->n, .alpha = 1.0f};
    unsigned char *scratch = p->bf16_scratch + (size_t)thread * p->bf16_plan.scratch_bytes;
    gemm_bf16_run(&p->bf16_plan, &args, begin, end, scratch);
}

static void run_bf16(const problem *p)
{
    pool_job pj = {run_bf16_tasks, (void *)p, gemm_bf16_plan_tasks(&p->bf16_plan)};
    pool_run(p->threads, &pj);
}

static void run_openblas(const problem *p)
{
    const shape *s = p->s;
    for (int64_t i = 0; i < s->batch; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                    p->a + i * s->m * s->k, (int)s->k, p->b + i * s->k * s->n, (int)s->n, 0.0f,
                    p->c + i * s->m * s->n, (int)s->n);
}

/* Best GFLOP/s over repeated runs for `seconds` (at least 3 runs). */
static double best_gflops(void (*fn)(const problem *), const problem *p, double seconds)
{
    const shape *s = p->s;
    double flops = 2.0 * (double)(s->batch * s->m * s->n * s->k), best = INFINITY;
    fn(p); /* warm caches, pages and threads */
    double stop = now() + seconds;
    for (int runs = 0; runs < 3 || now() < stop; runs++) {
        double t0 = now();
        fn(p);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    return flops / best * 1e-9;
}

static void problem_init(problem *p, const shape *s, bool pack, pool *threads, int n_threads)
{
    memset(p, 0, sizeof *p);
    p->s = s;
    p->threads = threads;
    size_t na = (size_t)(s->batch * s->m * s->k), nb = (size_t)(s->batch * s->k * s->n);
    p->a = malloc(na * sizeof(float));
    p->b = malloc(nb * sizeof(float));
    p->c = calloc((size_t)(s->batch * s->m * s->n), sizeof(float));
    if (!p->a || !p->b || !p->c) {
        fputs("out of memory\n", stderr);
        exit(1);
    }
    srand(1);
    for (size_t i = 0; i < na; i++)
        p->a[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
    for (size_t i = 0; i < nb; i++)
        p->b[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
    const gemm_kernel *kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    if (pack) {
        p->packed_memory = malloc(gemm_packed_b_bytes(kernel, s->k, s->n));
        gemm_pack_b(&p->packed, kernel, false, s->k, s->n, p->b, s->n, p->packed_memory);
    }
    gemm_plan_init(&p->plan, kernel, s->m, s->n, s->k, false, false, pack ? &p->packed : NULL);
    p->scratch = malloc(p->plan.scratch_bytes * (size_t)n_threads + 1);
    if (pack && s->batch == 1 && gemm_bf16_supported()) {
        p->bf16_memory = malloc(gemm_bf16_packed_b_bytes(s->k, s->n));
        gemm_bf16_pack_b(&p->bf16_packed, false, s->k, s->n, p->b, s->n, p->bf16_memory);
        gemm_bf16_plan_init(&p->bf16_plan, s->m, false, &p->bf16_packed);
        p->bf16_scratch = malloc(p->bf16_plan.scratch_bytes * (size_t)n_threads);
    }
}

static void problem_free(problem *p)
{
    free(p->a);
    free(p->b);
    free(p->c);
    free(p->packed_memory);
    free(p->scratch);
    free(p->bf16_memory);
    free(p->bf16_scratch);
}

/* Largest difference between onyx's (float32 or bfloat16) and OpenBLAS's results, relative to
 * the largest value. */
static double difference(const problem *p, void (*ours_fn)(const problem *))
{
    size_t n = (size_t)(p->s->batch * p->s->m * p->s->n);
    float *ours = malloc(n * sizeof(float));
    ours_fn(p);
    memcpy(ours, p->c, n * sizeof(float));
    run_openblas(p);
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)ours[i] - p->c[i]));
        scale = fmax(scale, fabs((double)p->c[i]));
    }
    free(ours);
    return scale > 0 ? diff / scale : diff;
}

/* One core's peak GFLOP/s: `iterations` rounds of 24 independent 16-lane AVX-512 FMAs (2 flops
 * a lane) or vdpbf16ps (4 flops a lane: two multiply-adds), enough chains to hide latency. */
#if defined(__x86_64__)
#include <immintrin.h>
#define PEAK_CHAINS 24
#define PEAK_ITERATIONS 20000000
__attribute__((target("avx512f,fma"), noinline)) static double peak_fma(void)
{
    __m512 acc[PEAK_CHAINS], x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(1e-9f);
    for (int c = 0; c < PEAK_CHAINS; c++)
        acc[c] = _mm512_set1_ps((float)c);
    double t0 = now();
    for (int it = 0; it < PEAK_ITERATIONS; it++) {
        _Pragma("GCC unroll 24") for (int c = 0; c < PEAK_CHAINS; c++)
            acc[c] = _mm512_fmadd_ps(x, y, acc[c]);
        __asm__ volatile("" : "+v"(x)); /* keeps the loop from being folded */
    }
    double dt = now() - t0;
    __m512 sum = _mm512_setzero_ps();
    for (int c = 0; c < PEAK_CHAINS; c++)
        sum = _mm512_add_ps(sum, acc[c]);
    volatile float sink = _mm512_reduce_add_ps(sum);
    (void)sink;
    return (double)PEAK_ITERATIONS * PEAK_CHAINS * 16 * 2 / dt * 1e-9;
}

__attribute__((target("avx512f,avx512bf16"), noinline)) static double peak_bf16(void)
{
    __m512 acc[PEAK_CHAINS];
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x30003000);
    for (int c = 0; c < PEAK_CHAINS; c++)
        acc[c] = _mm512_set1_ps((float)c);
    double t0 = now();
    for (int it = 0; it < PEAK_ITERATIONS; it++) {
        _Pragma("GCC unroll 24") for (int c = 0; c < PEAK_CHAINS; c++)
            acc[c] = _mm512_dpbf16_ps(acc[c], x, y);
        __asm__ volatile("" : "+v"(x));
    }
    double dt = now() - t0;
    __m512 sum = _mm512_setzero_ps();
    for (int c = 0; c < PEAK_CHAINS; c++)
        sum = _mm512_add_ps(sum, acc[c]);
    volatile float sink = _mm512_reduce_add_ps(sum);
    (void)sink;
    return (double)PEAK_ITERATIONS * PEAK_CHAINS * 16 * 4 / dt * 1e-9;
}

/* Best of three, to pass over a disturbed run. */
static double best_of(double (*fn)(void))
{
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double g = fn();
        best = g > best ? g : best;
    }
    return best;
}
#endif

int main(int argc, char **argv)
{
    double seconds = 0.5;
    int thread_counts[8], n_counts = 0;
    const char *only = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc && n_counts < 8) {
            thread_counts[n_counts++] = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            only = argv[++i];
        } else {
            fputs("usage: gemm_bench [--seconds S] [--threads N]... [--shape NAME]\n", stderr);
            return 2;
        }
    }
    size_t matching = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        matching += !strncmp(shapes[i].what, only, strlen(only));
    if (!matching) {
        fprintf(stderr, "gemm_bench: no shape's name starts with '%s'\n", only);
        return 2;
    }
    if (!n_counts) {
        thread_counts[n_counts++] = 1;
        thread_counts[n_counts++] = 2;
    }
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    printf("onyx kernel: %s; OpenBLAS %s, OPENBLAS_CORETYPE=%s%s\n", onyx_gemm_kernel_name(),
           openblas_get_config(), coretype ? coretype : "(unset)",
           coretype ? " (run with `env -u OPENBLAS_CORETYPE` for its own choice)" : "");
    printf("bf16 kernel: %s\n", gemm_bf16_supported() ? gemm_bf16_kernel_name() : "none (no AVX512-BF16)");
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f"))
        printf("one core's peak: AVX-512 FMA %.1f GFLOP/s", best_of(peak_fma));
    if (gemm_bf16_supported())
        printf(", vdpbf16ps %.1f GFLOP/s", best_of(peak_bf16));
    printf("\n");
#endif
    printf("GFLOP/s, best of repeated runs over %.2f s each; bf16: onyx's bfloat16 GEMM on packed weights,\n"
           "its rel.diff against float32 OpenBLAS\n\n", seconds);
    printf("%-26s %-18s %7s %12s %12s %10s %9s %8s %9s\n", "shape", "MxKxN", "threads", "onyx packed", "onyx",
           "openblas", "rel.diff", "bf16", "rel.diff");
    for (int t = 0; t < n_counts; t++) {
        int threads = thread_counts[t] > 0 ? thread_counts[t] : 1;
        mem pool_mem = {0};
        pool *workers = pool_create(&pool_mem, threads);
        openblas_set_num_threads(threads);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const shape *s = &shapes[i];
            if (strncmp(s->what, only, strlen(only)))
                continue;
            problem packed, plain;
            char dims[64];
            snprintf(dims, sizeof dims, "%lldx%lldx%lld", (long long)s->m, (long long)s->k, (long long)s->n);
            problem_init(&plain, s, false, workers, threads);
            if (s->weights)
                problem_init(&packed, s, true, workers, threads);
            double g_packed = s->weights ? best_gflops(run_onyx, &packed, seconds) : NAN;
            double g_plain = best_gflops(run_onyx, &plain, seconds);
            double g_blas = best_gflops(run_openblas, &plain, seconds);
            double diff = difference(s->weights ? &packed : &plain, run_onyx);
            char packed_text[16] = "-"; /* activations: nothing constant to pack */
            if (s->weights)
                snprintf(packed_text, sizeof packed_text, "%.1f", g_packed);
            char bf16_text[16] = "-", bf16_diff[16] = "-";
            if (s->weights && packed.bf16_memory) {
                snprintf(bf16_text, sizeof bf16_text, "%.1f", best_gflops(run_bf16, &packed, seconds));
                snprintf(bf16_diff, sizeof bf16_diff, "%.1e", difference(&packed, run_bf16));
            }
            printf("%-26s %-18s %7d %12s %12.1f %10.1f %9.1e %8s %9s\n", s->what, dims, threads, packed_text,
                   g_plain, g_blas, diff, bf16_text, bf16_diff);
            fflush(stdout);
            problem_free(&plain);
            if (s->weights)
                problem_free(&packed);
        }
        pool_free(workers);
    }
    return 0;
}
