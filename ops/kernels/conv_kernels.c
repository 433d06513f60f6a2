/* The choice of the row kernels of conv_kernels.h for this processor. */
#include "conv_kernels.h"

#include "cpu.h"

extern const conv_kernels conv_kernels_portable;
#if defined(__x86_64__)
extern const conv_kernels conv_kernels_avx2;
extern const conv_kernels conv_kernels_avx512;
#endif

const conv_kernels *conv_kernels_get(gemm_kernel_id id)
{
    const cpu_features *cpu = cpu_features_get();
    switch (id) {
    case GEMM_KERNEL_BEST:
#if defined(__x86_64__)
        if (cpu->avx512f)
            return &conv_kernels_avx512;
        if (cpu->avx2_fma)
            return &conv_kernels_avx2;
#endif
        return &conv_kernels_portable;
    case GEMM_KERNEL_PORTABLE: return &conv_kernels_portable;
#if defined(__x86_64__)
    case GEMM_KERNEL_AVX2: return cpu->avx2_fma ? &conv_kernels_avx2 : NULL;
    case GEMM_KERNEL_AVX512: return cpu->avx512f ? &conv_kernels_avx512 : NULL;
#else
    case GEMM_KERNEL_AVX2:
    case GEMM_KERNEL_AVX512: return NULL;
#endif
    }
    return NULL;
}
