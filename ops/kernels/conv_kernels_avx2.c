/* The row kernels of conv_kernels.h for AVX2 + FMA (built with -mavx2 -mfma, called only where cpu.c
 * finds them): see conv_kernels_template.h. */
#if defined(__x86_64__)
#define CONV_LANES 8
#define CONV_KERNELS_NAME "avx2"
#define CONV_KERNELS_SYMBOL conv_kernels_avx2
#include "conv_kernels_template.h"
#endif
