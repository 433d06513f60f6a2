/* The row kernels of conv_kernels.h for AVX-512 (built with -mavx512f -mfma, called only where cpu.c
 * finds it): see conv_kernels_template.h. */
#if defined(__x86_64__)
#define CONV_LANES 16
#define CONV_KERNELS_NAME "avx512"
#define CONV_KERNELS_SYMBOL conv_kernels_avx512
#include "conv_kernels_template.h"
#endif
