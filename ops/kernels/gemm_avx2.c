/* GEMM kernels for AVX2 + FMA: the classic 6 x 16 register tile (12 accumulators of 8 floats,
 * two B vectors and a broadcast fill the 16 YMM registers). Built with -mavx2 -mfma; called
 * only after cpu.c has seen the processor and the OS support them. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdbool.h>

typedef __m256 vec;
#define VLEN 8

static inline __m256i first_lanes(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vec v_zero(void) { return _mm256_setzero_ps(); }
static inline vec v_set1(float x) { return _mm256_set1_ps(x); }
static inline vec v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline vec v_load_n(const float *p, int n) { return _mm256_maskload_ps(p, first_lanes(n)); }
static inline void v_store(float *p, vec x) { _mm256_storeu_ps(p, x); }
static inline void v_store_n(float *p, vec x, int n) { _mm256_maskstore_ps(p, first_lanes(n), x); }
static inline vec v_add(vec a, vec b) { return _mm256_add_ps(a, b); }
static inline vec v_sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
static inline vec v_mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
static inline vec v_div(vec a, vec b) { return _mm256_div_ps(a, b); }
/* No GEMM_NATIVE_RCP: vdivps is as fast as the reciprocal and its Newton step here. */
static inline vec v_fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec v_fma_exact(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec v_max(vec a, vec b) { return _mm256_max_ps(a, b); }
static inline vec v_min(vec a, vec b) { return _mm256_min_ps(a, b); }
static inline vec v_abs(vec x) { return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
static inline vec v_round(vec x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vec v_pow2(vec n)
{
    __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
}
static inline vec v_pow2_bits(vec k) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(k), 23)); }
/* blendv picks by the sign bit: -0 counts as negative, harmless where it is used. */
static inline vec v_select_negative(vec x, vec a, vec b) { return _mm256_blendv_ps(b, a, x); }
static inline bool v_all_at_most(vec x, float c) { return !_mm256_movemask_ps(_mm256_cmp_ps(x, _mm256_set1_ps(c), _CMP_NLE_UQ)); }

#define GEMM_MR 6
#define GEMM_NV 2
#define GEMM_ROWS(X) X(1) X(2) X(3) X(4) X(5) X(6)
#define GEMM_VECTORS(X, m) X(m, 1) X(m, 2)
#define GEMM_NAME "avx2 6x16"
#define GEMM_SYMBOL gemm_kernel_avx2
#include "gemm_template.h"

#endif
