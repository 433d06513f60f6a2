/* The int8 GEMM's tile in plain C, for any processor (and the reference layout for the vector
 * kernels): 4 x 16, one panel. */
#include "qgemm.h"

#include <string.h>

static void tile(int64_t mr, int64_t nc, int64_t k4, const uint8_t *a, int64_t lda, const int8_t *b,
                 int64_t b_stride, const qgemm_out *out)
{
    (void)b_stride; /* one panel per tile */
    for (int64_t r = 0; r < mr; r++) {
        uint32_t acc[QGEMM_PANEL] = {0};
        for (int64_t g = 0; g < k4 / QGEMM_KGROUP; g++) {
            const uint8_t *ar = a + r * lda + g * QGEMM_KGROUP;
            const int8_t *bg = b + g * QGEMM_PANEL * QGEMM_KGROUP;
            for (int64_t c = 0; c < QGEMM_PANEL; c++)
                for (int q = 0; q < QGEMM_KGROUP; q++)
                    acc[c] += (uint32_t)((int32_t)ar[q] * bg[c * QGEMM_KGROUP + q]);
        }
        for (int64_t c = 0; c < nc; c++) {
            uint32_t x = acc[c] + (uint32_t)out->col_term[c];
            if (out->b_off)
                x -= (uint32_t)out->b_off[c] * (uint32_t)out->row_sums[r];
            if (out->c32) {
                out->c32[r * out->ldc + c] = (int32_t)x;
            } else {
                float y = (float)(int32_t)x * out->scale[c];
                out->c[r * out->ldc + c] = out->bias ? y + out->bias[c] : y;
            }
        }
    }
}

const qgemm_kernel qgemm_kernel_portable = {"portable 4x16", 4, QGEMM_PANEL, tile};
