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

/* Rows past mr repeat the last row, panels past the tile's the first (computed, not
 * stored), so the loop has no cases. The accumulators are named variables, not an array:
 * GCC keeps those in registers. */
#define ROW(r)                                                                                 \
    av = broadcast4(a##r + g * QGEMM_KGROUP);                                                  \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, av, b0);                                            \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, av, b1);                                            \
    c##r##2 = _mm512_dpbusd_epi32(c##r##2, av, b2)

static void tile(int64_t mr, int64_t nc, int64_t k4, const uint8_t *a, int64_t lda, const int8_t *b,
                 int64_t b_stride, const qgemm_out *out)
{
    int np = (int)((nc + 15) / 16);
    const uint8_t *a0 = a, *a1 = a + (1 < mr ? 1 : mr - 1) * lda, *a2 = a + (2 < mr ? 2 : mr - 1) * lda,
                  *a3 = a + (3 < mr ? 3 : mr - 1) * lda, *a4 = a + (4 < mr ? 4 : mr - 1) * lda,
                  *a5 = a + (5 < mr ? 5 : mr - 1) * lda, *a6 = a + (6 < mr ? 6 : mr - 1) * lda,
                  *a7 = a + (7 < mr ? 7 : mr - 1) * lda;
    const int8_t *p0 = b, *p1 = b + (np > 1 ? b_stride : 0), *p2 = b + (np > 2 ? 2 * b_stride : 0);
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00,
            c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00, c40 = c00, c41 = c00, c42 = c00, c50 = c00,
            c51 = c00, c52 = c00, c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    int64_t groups = k4 / QGEMM_KGROUP;
    for (int64_t g = 0; g < groups; g++) {
        __m512i b0 = _mm512_loadu_si512(p0 + g * 64), b1 = _mm512_loadu_si512(p1 + g * 64);
        __m512i b2 = _mm512_loadu_si512(p2 + g * 64), av;
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
        ROW(4);
        ROW(5);
        ROW(6);
        ROW(7);
    }
    int32_t sums[MR][3][16];
#define STORE(r)                                                                               \
    _mm512_storeu_si512(sums[r][0], c##r##0);                                                  \
    _mm512_storeu_si512(sums[r][1], c##r##1);                                                  \
    _mm512_storeu_si512(sums[r][2], c##r##2)
    STORE(0);
    STORE(1);
    STORE(2);
    STORE(3);
    STORE(4);
    STORE(5);
    STORE(6);
    STORE(7);
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
            __m512i x = _mm512_add_epi32(_mm512_loadu_si512(sums[r][v]), col_term);
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

/* 16 at a time: the quotient, NaN to 0, clamped to +-1024 (no 8-bit level lies beyond), rounded
 * by the conversion in the default mode (to nearest, ties to even), then the zero point and
 * the saturation in int32, and the low bytes stored. */
static void quantize(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed, void *y)
{
    const __m512 s = _mm512_set1_ps(scale), lo = _mm512_set1_ps(-1024.0f), hi = _mm512_set1_ps(1024.0f);
    const __m512i z = _mm512_set1_epi32(zero_point), qlo = _mm512_set1_epi32(is_signed ? -128 : 0),
                  qhi = _mm512_set1_epi32(is_signed ? 127 : 255);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 mask = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(mask, x + i), s);
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_setzero_ps());
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), z);
        q = _mm512_min_epi32(_mm512_max_epi32(q, qlo), qhi);
        _mm512_mask_cvtepi32_storeu_epi8((uint8_t *)y + i, mask, q);
    }
}

/* vminps / vmaxps return their second operand when the first is NaN: NaNs pass over. */
static void range(const float *x, int64_t n, float *lo, float *hi)
{
    __m512 l = _mm512_set1_ps(*lo), h = _mm512_set1_ps(*hi);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        l = _mm512_min_ps(v, l);
        h = _mm512_max_ps(v, h);
    }
    float ls[16], hs[16];
    _mm512_storeu_ps(ls, l);
    _mm512_storeu_ps(hs, h);
    qgemm_range_scalar(ls, 16, lo, hi);
    qgemm_range_scalar(hs, 16, lo, hi);
    qgemm_range_scalar(x + i, n - i, lo, hi);
}

const qgemm_kernel qgemm_kernel_avx512_vnni = {"avx512-vnni 8x48", MR, 48, tile, quantize, range};
