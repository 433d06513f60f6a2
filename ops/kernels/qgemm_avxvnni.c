/* The int8 GEMM's tile on AVX-VNNI (VEX-encoded vpdpbusd on YMM): 6 rows x 16 columns (one
 * panel), 12 accumulators. Compiled with -mavx2 -mfma -mavxvnni; called only when
 * cpu_features says the processor has them. */
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
    int32_t sums[MR][2][8];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 2; v++)
            _mm256_storeu_si256((__m256i *)sums[r][v], acc[r][v]);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int v = 0; v < 2; v++) {
        int64_t c0 = v * 8, count = nc - c0;
        if (count <= 0)
            break;
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(count < 8 ? count : 8)), lanes);
        __m256i col_term = _mm256_maskload_epi32(out->col_term + c0, mask);
        __m256i b_off = out->b_off ? _mm256_maskload_epi32(out->b_off + c0, mask) : _mm256_setzero_si256();
        __m256 scale = _mm256_setzero_ps(), bias = _mm256_setzero_ps();
        if (!out->c32) {
            scale = _mm256_maskload_ps(out->scale + c0, mask);
            if (out->bias)
                bias = _mm256_maskload_ps(out->bias + c0, mask);
        }
        for (int r = 0; r < mr; r++) {
            __m256i x = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)sums[r][v]), col_term);
            if (out->b_off)
                x = _mm256_sub_epi32(x, _mm256_mullo_epi32(b_off, _mm256_set1_epi32(out->row_sums[r])));
            if (out->c32) {
                _mm256_maskstore_epi32(out->c32 + r * out->ldc + c0, mask, x);
            } else {
                __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(x), scale);
                if (out->bias)
                    y = _mm256_add_ps(y, bias);
                _mm256_maskstore_ps(out->c + r * out->ldc + c0, mask, y);
            }
        }
    }
}

/* As qgemm_avx512vnni.c's, 8 at a time, the bytes gathered by packing. */
static void quantize(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed, void *y)
{
    const __m256 s = _mm256_set1_ps(scale), lo = _mm256_set1_ps(-1024.0f), hi = _mm256_set1_ps(1024.0f);
    const __m256i z = _mm256_set1_epi32(zero_point), qlo = _mm256_set1_epi32(is_signed ? -128 : 0),
                  qhi = _mm256_set1_epi32(is_signed ? 127 : 255);
    const __m256i gather = _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN to 0 */
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);
        q = _mm256_min_epi32(_mm256_max_epi32(q, qlo), qhi);
        __m256i w = _mm256_packs_epi32(q, q); /* in range: no saturation happens */
        w = is_signed ? _mm256_packs_epi16(w, w) : _mm256_packus_epi16(w, w);
        w = _mm256_permutevar8x32_epi32(w, gather);
        _mm_storel_epi64((__m128i *)((uint8_t *)y + i), _mm256_castsi256_si128(w));
    }
    qgemm_quantize_scalar(x + i, n - i, scale, zero_point, is_signed, (uint8_t *)y + i);
}

static void range(const float *x, int64_t n, float *lo, float *hi)
{
    __m256 l = _mm256_set1_ps(*lo), h = _mm256_set1_ps(*hi);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        l = _mm256_min_ps(v, l);
        h = _mm256_max_ps(v, h);
    }
    float ls[8], hs[8];
    _mm256_storeu_ps(ls, l);
    _mm256_storeu_ps(hs, h);
    qgemm_range_scalar(ls, 8, lo, hi);
    qgemm_range_scalar(hs, 8, lo, hi);
    qgemm_range_scalar(x + i, n - i, lo, hi);
}

const qgemm_kernel qgemm_kernel_avx_vnni = {"avx-vnni 6x16", MR, QGEMM_PANEL, tile, quantize, range};
