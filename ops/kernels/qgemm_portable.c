/* The int8 GEMM's tile in plain C, for any processor (and the reference layout for the vector
 * kernels): 4 x 16, one panel. */
#include "qgemm.h"

#include <math.h>
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

void qgemm_quantize_scalar(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed,
                           void *y)
{
    int32_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / scale;
        int32_t q = zero_point;
        if (v == v) { /* NaN: the zero point */
            /* No 8-bit level lies beyond +-1024; within, nearbyintf is exact in int32. */
            v = v < -1024.0f ? -1024.0f : v > 1024.0f ? 1024.0f : v;
            q += (int32_t)nearbyintf(v);
        }
        q = q < lo ? lo : q > hi ? hi : q;
        if (is_signed)
            ((int8_t *)y)[i] = (int8_t)q;
        else
            ((uint8_t *)y)[i] = (uint8_t)q;
    }
}

void qgemm_range_scalar(const float *x, int64_t n, float *lo, float *hi)
{
    float l = *lo, h = *hi;
    for (int64_t i = 0; i < n; i++) {
        l = x[i] < l ? x[i] : l; /* false for NaN */
        h = x[i] > h ? x[i] : h;
    }
    *lo = l;
    *hi = h;
}

const qgemm_kernel qgemm_kernel_portable = {"portable 4x16", 4, QGEMM_PANEL, tile, qgemm_quantize_scalar,
                                            qgemm_range_scalar};
