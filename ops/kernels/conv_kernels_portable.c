/* The row kernels of conv_kernels.h in the baseline instruction set, for any processor: see
 * conv_kernels_template.h. */
#define CONV_LANES 4
#define CONV_KERNELS_NAME "portable"
#define CONV_KERNELS_SYMBOL conv_kernels_portable
#include "conv_kernels_template.h"
