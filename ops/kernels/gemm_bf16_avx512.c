/* bfloat16 GEMM kernels for AVX512-BF16: an 8 x 48 register tile (24 accumulators of 16
 * floats), as the float32 AVX-512 kernel's, with vdpbf16ps doing two multiply-adds per lane:
 * per pair of k, three 64-byte loads of B (48 columns x 2 rows, interleaved) and eight 4-byte
 * broadcasts of A (one pair of each row, folded into the instruction as {1to16}) feed 24
 * vdpbf16ps. Built with -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mfma; called only after
 * cpu.c has seen the processor and the OS support AVX512-BF16. */
#if defined(__x86_64__)
#include "gemm_bf16_kernel.h"
#include "half.h"

#include <immintrin.h>

#define MR GEMM_BF16_MR
#define NV GEMM_BF16_NV
#define VLEN GEMM_BF16_VLEN
#define UNROLL _Pragma("GCC unroll 16")
#define INLINE static inline __attribute__((always_inline))

static inline __mmask16 first_lanes(int n) { return (__mmask16)((1u << n) - 1u); }

/* ---- micro-kernel ------------------------------------------------------------------------- */

INLINE void tile_body(const gemm_bf16_tile *t, int mr, int nv)
{
    __m512 acc[MR][NV];
    UNROLL for (int i = 0; i < mr; i++)
        UNROLL for (int v = 0; v < nv; v++)
            acc[i][v] = _mm512_setzero_ps();
    const uint32_t *a = t->a, *b = t->b;
    const int64_t lda = t->lda, ldb = t->ldb;
    for (int64_t q = 0; q < t->kp; q++, b += ldb) {
        __m512bh bv[NV];
        UNROLL for (int v = 0; v < nv; v++)
            bv[v] = (__m512bh)_mm512_loadu_si512(b + v * VLEN);
        UNROLL for (int i = 0; i < mr; i++) {
            __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i * lda + q]);
            UNROLL for (int v = 0; v < nv; v++)
                acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
        }
    }
    const int last = t->nr - (nv - 1) * VLEN;
    const __m512 alpha = _mm512_set1_ps(t->alpha), beta = _mm512_set1_ps(t->beta);
    UNROLL for (int i = 0; i < mr; i++) {
        float *c = t->c + i * t->ldc;
        UNROLL for (int v = 0; v < nv; v++) {
            __mmask16 lanes = v < nv - 1 ? (__mmask16)0xffff : first_lanes(last);
            __m512 x = _mm512_mul_ps(acc[i][v], alpha);
            if (t->beta != 0.0f)
                x = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(lanes, c + v * VLEN), x);
            _mm512_mask_storeu_ps(c + v * VLEN, lanes, x);
        }
    }
}

#define DEFINE_TILE(m, v) static void tile_##m##x##v(const gemm_bf16_tile *t) { tile_body(t, m, v); }
#define DEFINE_ROW(m) DEFINE_TILE(m, 1) DEFINE_TILE(m, 2) DEFINE_TILE(m, 3)
DEFINE_ROW(1) DEFINE_ROW(2) DEFINE_ROW(3) DEFINE_ROW(4)
DEFINE_ROW(5) DEFINE_ROW(6) DEFINE_ROW(7) DEFINE_ROW(8)

/* ---- packing A ---------------------------------------------------------------------------- */

/* 16 floats rounded to bfloat16 as float_to_bfloat16 rounds them (nearest, ties to even, NaN
 * kept quiet; subnormals kept, which vcvtneps2bf16 would flush to 0). */
INLINE __m256i round_bf16(__m512 f)
{
    const __m512i x = _mm512_castps_si512(f);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

static void pack_a(uint32_t *dst, const float *a, int64_t lda, bool trans, int64_t i0, int64_t i1, int64_t p0,
                   int64_t kc)
{
    const int64_t kp = (kc + 1) / 2;
    for (int64_t i = i0; i < i1; i++) {
        uint16_t *row = (uint16_t *)(dst + (i - i0) * kp);
        if (trans) {
            for (int64_t p = 0; p < kc; p++)
                row[p] = float_to_bfloat16(a[(p0 + p) * lda + i]);
            if (kc % 2)
                row[kc] = 0;
            continue;
        }
        const float *src = a + i * lda + p0;
        int64_t p = 0;
        for (; p + VLEN <= kc; p += VLEN)
            _mm256_storeu_si256((__m256i *)(row + p), round_bf16(_mm512_loadu_ps(src + p)));
        if (p < kc) /* the tail, and the odd kc's padding: masked-off lanes load as 0 */
            _mm256_mask_storeu_epi16(row + p, first_lanes((int)(2 * kp - p)),
                                     round_bf16(_mm512_maskz_loadu_ps(first_lanes((int)(kc - p)), src + p)));
    }
}

/* ---- the kernel --------------------------------------------------------------------------- */

#define TILE_ENTRY(m) {tile_##m##x1, tile_##m##x2, tile_##m##x3}

const gemm_bf16_kernel gemm_bf16_kernel_avx512 = {
    .name = "avx512-bf16 8x48",
    .tiles = {TILE_ENTRY(1), TILE_ENTRY(2), TILE_ENTRY(3), TILE_ENTRY(4), TILE_ENTRY(5), TILE_ENTRY(6),
              TILE_ENTRY(7), TILE_ENTRY(8)},
    .pack_a = pack_a,
};

#endif
