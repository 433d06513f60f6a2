/* The int8 GEMM's tile on AVX-VNNI (VEX-encoded vpdpbusd on YMM): 6 rows x 16 columns (one
 * panel), 12 accumulators; the epilogue, quantize and range are qgemm_avx2.c's. Compiled with
 * -mavx2 -mfma -mavxvnni; called only when cpu_features says the processor has them. */
#include "qgemm.h"

#include <immintrin.h>
#include <string.h>

#define MR 6

static inline __m256i broadcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

static void tile(int64_t mr, int64_t nc, int64_t k4, const uint8_t *a, int64_t lda, const int8_t *b,
                 int64_t b_stride, const qgemm_out *out)
{
    (void)b_stride; /* one panel per tile */
    __m256i acc[MR][2];
    const uint8_t *ar[MR];
    for (int r = 0; r < MR; r++) {
        ar[r] = a + (r < mr ? r : mr - 1) * lda;
        acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    }
    int64_t groups = k4 / QGEMM_KGROUP;
    for (int64_t g = 0; g < groups; g++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + g * 64));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + g * 64 + 32));
        for (int r = 0; r < MR; r++) {
            __m256i av = broadcast4(ar[r] + g * QGEMM_KGROUP);
            acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], av, b0);
            acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], av, b1);
        }
    }
    /* Out of registers with constant indices only (see qgemm_avx512vnni.c). */
    int32_t sums[MR][QGEMM_PANEL];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 2; v++)
            _mm256_storeu_si256((__m256i *)(sums[r] + 8 * v), acc[r][v]);
    qgemm_avx2_store_tile(sums[0], QGEMM_PANEL, mr, nc, out);
}

const qgemm_kernel qgemm_kernel_avx_vnni = {"avx-vnni 6x16", MR, QGEMM_PANEL, tile, qgemm_avx2_quantize,
                                            qgemm_avx2_range};
