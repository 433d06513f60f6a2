/* GEMM kernels for AVX-512F: an 8 x 48 register tile (24 accumulators of 16 floats), which
 * measured fastest here among 8x48, 4x96, 6x64, 12x32 and 14x32, and divides the row counts
 * of typical sequence lengths. Built with -mavx512f -mfma; called only after cpu.c has seen
 * the processor and the OS support AVX-512. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdbool.h>

typedef __m512 vec;
#define VLEN 16

static inline __mmask16 first_lanes(int n) { return (__mmask16)((1u << n) - 1u); }
static inline vec v_zero(void) { return _mm512_setzero_ps(); }
static inline vec v_set1(float x) { return _mm512_set1_ps(x); }
static inline vec v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline vec v_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps(first_lanes(n), p); }
static inline void v_store(float *p, vec x) { _mm512_storeu_ps(p, x); }
static inline void v_store_n(float *p, vec x, int n) { _mm512_mask_storeu_ps(p, first_lanes(n), x); }
static inline vec v_add(vec a, vec b) { return _mm512_add_ps(a, b); }
static inline vec v_sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
static inline vec v_mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
static inline vec v_div(vec a, vec b) { return _mm512_div_ps(a, b); }
/* 1/x within 2^-14 relative (the epilogue refines it). */
static inline vec v_rcp(vec x) { return _mm512_rcp14_ps(x); }
#define GEMM_NATIVE_RCP
static inline vec v_fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline vec v_fma_exact(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline vec v_max(vec a, vec b) { return _mm512_max_ps(a, b); }
static inline vec v_min(vec a, vec b) { return _mm512_min_ps(a, b); }
static inline vec v_abs(vec x)
{
    return _mm512_castsi512_ps(_mm512_and_epi32(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}
static inline vec v_round(vec x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vec v_pow2_bits(vec k) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(k), 23)); }
/* One instruction, exact: x * 2^floor(n) with IEEE overflow and gradual underflow. */
static inline vec v_scale2(vec x, vec n) { return _mm512_scalef_ps(x, n); }
#define GEMM_NATIVE_SCALE2
static inline float v_reduce_max(vec x) { return _mm512_reduce_max_ps(x); }
static inline float v_reduce_add(vec x) { return _mm512_reduce_add_ps(x); }
#define GEMM_NATIVE_REDUCE
static inline vec v_select_negative(vec x, vec a, vec b)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), b, a);
}
static inline bool v_all_at_most(vec x, float c) { return !_mm512_cmp_ps_mask(x, _mm512_set1_ps(c), _CMP_NLE_UQ); }

#define GEMM_MR 8
#define GEMM_NV 3
#define GEMM_ROWS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)
#define GEMM_VECTORS(X, m) X(m, 1) X(m, 2) X(m, 3)
#define GEMM_NAME "avx512 8x48"
#define GEMM_SYMBOL gemm_kernel_avx512
#include "gemm_template.h"

#endif
