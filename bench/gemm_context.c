/* Why a GEMM runs slower inside a model than alone: one product (B packed once, as a model's
 * weights are) timed in the situations it meets in a model, on one thread. Each figure is the
 * best of repeated runs.
 *
 *   alone          the same product again and again (what bench/gemm_bench measures)
 *   + epilogue     the same with the bias + GELU epilogue a fused FFN-up product has
 *   after 8 MiB    other data (8 MiB: another layer's weights) read between runs, so B and A
 *                  come from L3 rather than L2
 *   after 64 MiB   64 MiB read between runs: B and A come from memory
 *   new A          A written just before each run (as the previous node writes it)
 *   A unaligned    A and C 4 bytes off a 64-byte boundary
 *   GELU alone     the epilogue's GELU over all of C by itself (gemm_activate), for scale
 *
 * usage: gemm_context [M K N] [--seconds S]   (default 256 512 2048: encoder_d512's FFN-up) */
#include "gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct setup {
    int64_t m, k, n;
    float *a, *c, *bias;
    gemm_plan plan;
    void *scratch;
    float *evict;
    size_t evict_floats;
    volatile float sink;
} setup;

static void evict(setup *s, size_t bytes)
{
    float sum = 0;
    size_t n = bytes / sizeof(float);
    for (size_t i = 0; i < n && i < s->evict_floats; i += 16)
        sum += s->evict[i];
    s->sink = sum;
}

static double best_ms(setup *s, double seconds, size_t evict_bytes, bool epilogue, bool new_a, int offset)
{
    const float *a = s->a + offset;
    float *c = s->c + offset;
    gemm_args args = {.a = a, .lda = s->k, .c = c, .ldc = s->n, .alpha = 1.0f};
    if (epilogue)
        args.epilogue = (gemm_epilogue){.bias = s->bias, .activation = GEMM_ACTIVATION_GELU_ERF};
    double best = INFINITY, stop = now() + seconds;
    for (int runs = 0; runs < 5 || now() < stop; runs++) {
        if (evict_bytes)
            evict(s, evict_bytes);
        if (new_a)
            for (int64_t i = 0; i < s->m * s->k; i++)
                s->a[offset + i] = (float)(i % 17) * 0.01f;
        double t0 = now();
        gemm_run(&s->plan, &args, 0, gemm_plan_tasks(&s->plan), s->scratch);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    return best * 1e3;
}

int main(int argc, char **argv)
{
    int64_t dims[3] = {256, 512, 2048};
    double seconds = 1.0;
    int nd = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (nd < 3 && atoll(argv[i]) > 0)
            dims[nd++] = atoll(argv[i]);
        else {
            fprintf(stderr, "usage: gemm_context [M K N] [--seconds S]\n");
            return 2;
        }
    }
    setup s = {.m = dims[0], .k = dims[1], .n = dims[2]};
    const gemm_kernel *kernel = gemm_kernel_get(GEMM_KERNEL_BEST);
    float *b = malloc((size_t)(s.k * s.n) * sizeof(float));
    void *packed_memory = aligned_alloc(64, (gemm_packed_b_bytes(kernel, s.k, s.n) + 63) / 64 * 64);
    s.a = aligned_alloc(64, ((size_t)(s.m * s.k) * sizeof(float) + 127) / 64 * 64);
    s.c = aligned_alloc(64, ((size_t)(s.m * s.n) * sizeof(float) + 127) / 64 * 64);
    s.bias = calloc((size_t)s.n, sizeof(float));
    s.evict_floats = (size_t)64 << 18;
    s.evict = malloc(s.evict_floats * sizeof(float));
    if (!b || !packed_memory || !s.a || !s.c || !s.bias || !s.evict) {
        fputs("out of memory\n", stderr);
        return 1;
    }
    for (int64_t i = 0; i < s.k * s.n; i++)
        b[i] = (float)(i % 13) * 0.01f - 0.06f;
    for (int64_t i = 0; i < s.m * s.k + 16; i++)
        s.a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < s.evict_floats; i++)
        s.evict[i] = 1.0f;
    gemm_packed_b packed;
    gemm_pack_b(&packed, kernel, false, s.k, s.n, b, s.n, packed_memory);
    gemm_plan_init(&s.plan, kernel, s.m, s.n, s.k, false, false, &packed);
    s.scratch = s.plan.scratch_bytes ? aligned_alloc(64, (s.plan.scratch_bytes + 63) / 64 * 64) : NULL;
    double flop = 2.0 * (double)(s.m * s.n * s.k);
    printf("%lldx%lldx%lld on one thread, %s, packed B %.1f MiB\n", (long long)s.m, (long long)s.k,
           (long long)s.n, gemm_kernel_name(kernel), (double)(s.k * s.n) * 4 / 1048576);
    struct {
        const char *what;
        size_t evict;
        bool epilogue, new_a;
        int offset;
    } cases[] = {
        {"alone", 0, false, false, 0},
        {"+ epilogue (bias, GELU)", 0, true, false, 0},
        {"after 8 MiB read", 8u << 20, false, false, 0},
        {"after 64 MiB read", 64u << 20, false, false, 0},
        {"new A", 0, false, true, 0},
        {"A, C unaligned", 0, false, false, 1},
    };
    double base = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ms = best_ms(&s, seconds, cases[i].evict, cases[i].epilogue, cases[i].new_a, cases[i].offset);
        if (i == 0)
            base = ms;
        printf("  %-26s %7.3f ms  %6.1f GFLOP/s  %5.3fx\n", cases[i].what, ms, flop / ms * 1e-6, ms / base);
    }
    double gelu = INFINITY, stop = now() + seconds;
    for (int runs = 0; runs < 5 || now() < stop; runs++) {
        double t0 = now();
        gemm_activate(kernel, s.c, s.m * s.n, GEMM_ACTIVATION_GELU_ERF);
        double dt = now() - t0;
        if (dt < gelu)
            gelu = dt;
    }
    printf("  %-26s %7.3f ms  %6.2f ns per element\n", "GELU alone", gelu * 1e3, gelu * 1e9 / (double)(s.m * s.n));
    return 0;
}
