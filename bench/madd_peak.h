/* The exact AVX2 int8 GEMM's ceiling (ops/kernels/qgemm_avx2.c), for bench/peak.c and
 * bench/vnni_peak.c: its step, vpmaddwd of int16 pairs into a temporary then vpaddd into one
 * of 12 independent accumulators, 2 products + 2 adds = 4 ops per int32 lane, 32 per step.
 * In asm as the kernel's loop is: GCC, given intrinsics, computes the product of loop
 * invariants once, or spills the accumulators. */
#ifndef ONYX_BENCH_MADD_PEAK_H
#define ONYX_BENCH_MADD_PEAK_H

#if defined(__x86_64__)
#include <immintrin.h>

#define MADD_PEAK_OPS_PER_ITER (12.0 * 8 * 4)

/* iters x 12 steps; returns a value the compiler must keep. */
__attribute__((target("avx2"), noinline)) static int madd_peak(long iters)
{
    __m256i x = _mm256_set1_epi16(3), y = _mm256_set1_epi16(5), t;
    __m256i a0 = _mm256_set1_epi32(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
            a9 = a0, a10 = a0, a11 = a0;
#define MADD_STEP(a) "vpmaddwd %[x], %[y], %[t]\n\tvpaddd %[t], %[" #a "], %[" #a "]\n\t"
    for (long n = 0; n < iters; n++)
        __asm__(MADD_STEP(a0) MADD_STEP(a1) MADD_STEP(a2) MADD_STEP(a3) MADD_STEP(a4) MADD_STEP(a5)
                    MADD_STEP(a6) MADD_STEP(a7) MADD_STEP(a8) MADD_STEP(a9) MADD_STEP(a10) MADD_STEP(a11)
                : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3), [a4] "+x"(a4), [a5] "+x"(a5),
                  [a6] "+x"(a6), [a7] "+x"(a7), [a8] "+x"(a8), [a9] "+x"(a9), [a10] "+x"(a10), [a11] "+x"(a11),
                  [t] "=&x"(t)
                : [x] "x"(x), [y] "x"(y));
#undef MADD_STEP
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                                 _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));
    s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11)));
    return _mm256_extract_epi32(s, 0) + _mm256_extract_epi32(s, 7);
}
#endif

#endif
