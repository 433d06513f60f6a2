/* The int8 GEMM on AVX2 without VNNI, exact, and the AVX2 pieces the AVX-VNNI kernel shares
 * (the tile's epilogue, quantize, range). Compiled with -mavx2 -mfma; called only when
 * cpu_features says the processor has them.
 *
 * vpmaddubsw, the u8 x s8 product of plain AVX2, saturates its pair sums at int16, so the tile
 * widens both operands to int16 instead and multiplies with vpmaddwd: each int32 lane gets the
 * sum of two products (|255 * 128 * 2| < 2^31: exact), k pairs (0, 1) and (2, 3) of a group in
 * adjacent lanes; the two are added at the tile's end. B's 16 bytes of four columns are
 * sign-extended as they are loaded (vpmovsxbw); A's rows are widened once per chunk of k into a
 * buffer on the stack, each group's four values broadcast to 32 bytes there, so that vpmaddwd
 * reads them as its memory operand.
 *
 * Tile: 3 rows x 48 columns (three panels, one after another, over the same widened A):
 * per panel 12 accumulators (3 rows x 4 blocks of 4 columns x 2 pairs), one register for B's
 * block and one for the product: 14 of the 16 YMM registers. */
#include "qgemm.h"

#include <immintrin.h>
#include <string.h>

#define MR 3
#define PANELS 3
#define CHUNK 64 /* groups of k per pass (a multiple of 4): A's broadcasts, 6 KiB, stay in L1 */

/* One group (4 k) of one panel: each block of 4 columns (16 bytes, sign-extended) times the
 * three rows' broadcasts, straight from memory, and added. In asm because GCC 12, given the
 * same in intrinsics, keeps the broadcasts or B's blocks in registers across the group and
 * spills accumulators to the stack. */
#define ROW(r, j) "vpmaddwd " #r "*32(%[a]), %[w], %[t]\n\tvpaddd %[t], %[c" #r #j "], %[c" #r #j "]\n\t"
#define BLOCK(j) "vpmovsxbw " #j "*16(%[b]), %[w]\n\t" ROW(0, j) ROW(1, j) ROW(2, j)

/* The MR rows' groups [g0, g0 + gn), widened to int16 and each group's four values broadcast
 * to 32 bytes: ab[g][r] (MR x 32 bytes a group), the order the loop reads them. */
static void widen(int16_t *ab, const uint8_t *const rows[MR], int64_t g0, int64_t gn)
{
    int64_t bytes = gn * QGEMM_KGROUP;
    for (int r = 0; r < MR; r++)
        for (int64_t q = 0; q < bytes; q += 16) {
            const uint8_t *src = rows[r] + g0 * QGEMM_KGROUP + q;
            uint8_t last[16] = {0};
            if (q + 16 > bytes) { /* 4, 8 or 12 bytes: not read past the row */
                memcpy(last, src, (size_t)(bytes - q));
                src = last;
            }
            __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)src));
            int16_t *dst = ab + (q / QGEMM_KGROUP * MR + r) * 16;
            /* Past gn the groups are stored (CHUNK is a multiple of 4) but never read. */
            _mm256_store_si256((__m256i *)dst, _mm256_permute4x64_epi64(x, 0x00));
            _mm256_store_si256((__m256i *)(dst + MR * 16), _mm256_permute4x64_epi64(x, 0x55));
            _mm256_store_si256((__m256i *)(dst + 2 * MR * 16), _mm256_permute4x64_epi64(x, 0xaa));
            _mm256_store_si256((__m256i *)(dst + 3 * MR * 16), _mm256_permute4x64_epi64(x, 0xff));
        }
}

/* Row r's pair sums (4 registers, columns 4j..4j+3 with 2 lanes each) to 16 int32 sums. */
static inline void pair_sums(int32_t *sums, __m256i x0, __m256i x1, __m256i x2, __m256i x3)
{
    /* vphaddd adds adjacent lanes within each 128-bit half: (c0 c1 c4 c5 | c2 c3 c6 c7). */
    __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(x0, x1), 0xd8);
    __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(x2, x3), 0xd8);
    _mm256_storeu_si256((__m256i *)sums, lo);
    _mm256_storeu_si256((__m256i *)(sums + 8), hi);
}

static void tile(int64_t mr, int64_t nc, int64_t k4, const uint8_t *a, int64_t lda, const int8_t *b,
                 int64_t b_stride, const qgemm_out *out)
{
    int np = (int)((nc + QGEMM_PANEL - 1) / QGEMM_PANEL);
    int64_t groups = k4 / QGEMM_KGROUP;
    /* Rows past mr repeat the last row (computed, not stored): the loop has no cases. */
    const uint8_t *rows[MR];
    for (int r = 0; r < MR; r++)
        rows[r] = a + (r < mr ? r : mr - 1) * lda;
    _Alignas(32) int16_t ab[CHUNK * MR * 16];
    __m256i part[PANELS][MR][4]; /* the accumulators between chunks */
    int32_t sums[MR][PANELS * QGEMM_PANEL];
    if (groups == 0)
        memset(sums, 0, sizeof sums);
    for (int64_t g0 = 0; g0 < groups; g0 += CHUNK) {
        int64_t gn = groups - g0 < CHUNK ? groups - g0 : CHUNK;
        widen(ab, rows, g0, gn);
        bool first = g0 == 0, last = g0 + gn == groups;
        for (int p = 0; p < np; p++) {
            const int8_t *bp = b + p * b_stride + g0 * QGEMM_PANEL * QGEMM_KGROUP;
            __m256i z = _mm256_setzero_si256();
            __m256i c00 = first ? z : part[p][0][0], c01 = first ? z : part[p][0][1],
                    c02 = first ? z : part[p][0][2], c03 = first ? z : part[p][0][3],
                    c10 = first ? z : part[p][1][0], c11 = first ? z : part[p][1][1],
                    c12 = first ? z : part[p][1][2], c13 = first ? z : part[p][1][3],
                    c20 = first ? z : part[p][2][0], c21 = first ? z : part[p][2][1],
                    c22 = first ? z : part[p][2][2], c23 = first ? z : part[p][2][3];
            for (int64_t g = 0; g < gn; g++) {
                __m256i w, t;
                __asm__(BLOCK(0) BLOCK(1) BLOCK(2) BLOCK(3)
                        : [c00] "+x"(c00), [c01] "+x"(c01), [c02] "+x"(c02), [c03] "+x"(c03),
                          [c10] "+x"(c10), [c11] "+x"(c11), [c12] "+x"(c12), [c13] "+x"(c13),
                          [c20] "+x"(c20), [c21] "+x"(c21), [c22] "+x"(c22), [c23] "+x"(c23),
                          [w] "=&x"(w), [t] "=&x"(t)
                        : [b] "r"(bp + g * QGEMM_PANEL * QGEMM_KGROUP), [a] "r"(ab + g * MR * 16),
                          "m"(*(const int8_t(*)[64])(bp + g * QGEMM_PANEL * QGEMM_KGROUP)),
                          "m"(*(const int16_t(*)[MR * 16])(ab + g * MR * 16)));
            }
            if (last) {
                pair_sums(sums[0] + p * QGEMM_PANEL, c00, c01, c02, c03);
                pair_sums(sums[1] + p * QGEMM_PANEL, c10, c11, c12, c13);
                pair_sums(sums[2] + p * QGEMM_PANEL, c20, c21, c22, c23);
            } else {
                part[p][0][0] = c00, part[p][0][1] = c01, part[p][0][2] = c02, part[p][0][3] = c03;
                part[p][1][0] = c10, part[p][1][1] = c11, part[p][1][2] = c12, part[p][1][3] = c13;
                part[p][2][0] = c20, part[p][2][1] = c21, part[p][2][2] = c22, part[p][2][3] = c23;
            }
        }
    }
    qgemm_avx2_store_tile(sums[0], PANELS * QGEMM_PANEL, mr, nc, out);
}

void qgemm_avx2_store_tile(const int32_t *sums, int64_t ld, int64_t mr, int64_t nc, const qgemm_out *out)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t c0 = 0; c0 < nc; c0 += 8) {
        int64_t count = nc - c0 < 8 ? nc - c0 : 8;
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), lanes);
        __m256i col_term = _mm256_maskload_epi32(out->col_term + c0, mask);
        __m256i b_off = out->b_off ? _mm256_maskload_epi32(out->b_off + c0, mask) : _mm256_setzero_si256();
        __m256 scale = _mm256_setzero_ps(), bias = _mm256_setzero_ps();
        if (!out->c32) {
            scale = _mm256_maskload_ps(out->scale + c0, mask);
            if (out->bias)
                bias = _mm256_maskload_ps(out->bias + c0, mask);
        }
        for (int64_t r = 0; r < mr; r++) {
            __m256i x = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(sums + r * ld + c0)), col_term);
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
void qgemm_avx2_quantize(const float *x, int64_t n, float scale, int32_t zero_point, bool is_signed, void *y)
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

/* vminps / vmaxps return their second operand when the first is NaN: NaNs pass over. */
void qgemm_avx2_range(const float *x, int64_t n, float *lo, float *hi)
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

const qgemm_kernel qgemm_kernel_avx2 = {"avx2 3x48", MR, PANELS * QGEMM_PANEL, tile, qgemm_avx2_quantize,
                                        qgemm_avx2_range};
