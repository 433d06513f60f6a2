#include "cpu.h"

#include <pthread.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0: the register state the OS saves on context switches. An instruction set is usable
 * only when the OS saves its registers, whatever CPUID says. */
#define XCR0_SSE_AVX 0x06u    /* XMM and upper YMM halves */
#define XCR0_AVX512 0xe0u     /* opmask, upper ZMM halves of 0-15, ZMM 16-31 */

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static cpu_features detect(void)
{
    cpu_features f = {0};
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return f;
    bool fma = ecx & bit_FMA, osxsave = ecx & bit_OSXSAVE, avx = ecx & bit_AVX;
    if (!osxsave || !avx)
        return f;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & XCR0_SSE_AVX) != XCR0_SSE_AVX || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return f;
    f.avx2_fma = fma && (ebx & bit_AVX2);
    f.avx512f = f.avx2_fma && (ebx & bit_AVX512F) && (xcr0 & XCR0_AVX512) == XCR0_AVX512;
    f.avx512_core = f.avx512f && (ebx & bit_AVX512BW) && (ebx & bit_AVX512DQ) && (ebx & bit_AVX512VL);
    f.avx512_vnni = f.avx512_core && (ecx & bit_AVX512VNNI);
    /* Leaf 7 subleaf 1: EAX bit 5 AVX512_BF16, bit 4 AVX-VNNI. */
    unsigned eax1 = 0, ebx1, ecx1, edx1;
    if (__get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1)) {
        f.avx512_bf16 = f.avx512_core && (eax1 & (1u << 5));
        f.avx_vnni = f.avx2_fma && (eax1 & (1u << 4));
    }
    return f;
}
#else
static cpu_features detect(void) { return (cpu_features){0}; }
#endif

/* Written once, under pthread_once, then only read. */
static cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static void features_init(void) { features = detect(); }

const cpu_features *cpu_features_get(void)
{
    pthread_once(&features_once, features_init);
    return &features;
}
