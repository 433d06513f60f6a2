/* The int8 GEMM's tile on AVX512-VNNI: 8 rows x 48 columns (three panels), 24 ZMM
 * accumulators, one vpdpbusd per 16 columns x 4 k per row. Compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512vnni; called only when cpu_features says the processor has them. */
#include "qgemm.h"

#include <immintrin.h>
#include <string.h>

#define MR 8

static inline __m512i broadcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* np panels (1 to 3), known at compile time where it is inlined. Rows past mr repeat the
 * last row (computed, not stored), so the loop has no row cases. */
static inline __attribute__((always_inline)) void tile_np(int np, int64_t mr, int64_t nc, int64_t k4,
                                                          const uint8_t *a, int64_t lda, const int8_t *b,
                                                          int64_t b_stride, const qgemm_out *out)
{
    __m512i acc[MR][3];
    const uint8_t *ar[MR];
    for (int r = 0; r < MR; r++) {
        ar[r] = a + (r < mr ? r : mr - 1) * lda;
        for (int v = 0; v < 3; v++)
            acc[r][v] = _mm512_setzero_si512();
    }
    int64_t groups = k4 / QGEMM_KGROUP;
    for (int64_t g = 0; g < groups; g++) {
        __m512i bv[3];
        for (int v = 0; v < np; v++)
            bv[v] = _mm512_loadu_si512(b + v * b_stride + g * 64);
        for (int r = 0; r < MR; r++) {
            __m512i av = broadcast4(ar[r] + g * QGEMM_KGROUP);
            for (int v = 0; v < np; v++)
                acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, bv[v]);
        }
    }
    for (int v = 0; v < np; v++) {
        int64_t c0 = v * 16, count = nc - c0 < 16 ? nc - c0 : 16;
        __mmask16 mask = (__mmask16)((1u << count) - 1);
        __m512i col_term = _mm512_maskz_loadu_epi32(mask, out->col_term + c0);
        __m512i b_off = out->b_off ? _mm512_maskz_loadu_epi32(mask, out->b_off + c0) : _mm512_setzero_si512();
        __m512 scale = _mm512_setzero_ps(), bias = _mm512_setzero_ps();
        if (!out->c32) {
            scale = _mm512_maskz_loadu_ps(mask, out->scale + c0);
            if (out->bias)
                bias = _mm512_maskz_loadu_ps(mask, out->bias + c0);
        }
        for (int r = 0; r < mr; r++) {
            __m512i x = _mm512_add_epi32(acc[r][v], col_term);
            if (out->b_off)
                x = _mm512_sub_epi32(x, _mm512_mullo_epi32(b_off, _mm512_set1_epi32(out->row_sums[r])));
            if (out->c32) {
                _mm512_mask_storeu_epi32(out->c32 + r * out->ldc + c0, mask, x);
            } else {
                __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(x), scale);
                if (out->bias)
                    y = _mm512_add_ps(y, bias);
                _mm512_mask_storeu_ps(out->c + r * out->ldc + c0, mask, y);
            }
        }
    }
}

static void tile(int64_t mr, int64_t nc, int64_t k4, const uint8_t *a, int64_t lda, const int8_t *b,
                 int64_t b_stride, const qgemm_out *out)
{
    if (nc > 32)
        tile_np(3, mr, nc, k4, a, lda, b, b_stride, out);
    else if (nc > 16)
        tile_np(2, mr, nc, k4, a, lda, b, b_stride, out);
    else
        tile_np(1, mr, nc, k4, a, lda, b, b_stride, out);
}

const qgemm_kernel qgemm_kernel_avx512_vnni = {"avx512-vnni 8x48", MR, 48, tile};
