/* GEMM kernels in plain C for any processor: "vectors" of 8 floats as arrays, whose lane
 * loops the compiler maps onto whatever SIMD the baseline target has. A 4 x 8 tile. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define VLEN 8
typedef struct vec {
    float lane[VLEN];
} vec;

#define LANEWISE(expr)                                                                         \
    vec r;                                                                                     \
    for (int l = 0; l < VLEN; l++)                                                             \
        r.lane[l] = (expr);                                                                    \
    return r

static inline vec v_set1(float x) { LANEWISE(x); }
static inline vec v_zero(void) { return v_set1(0.0f); }
static inline vec v_load_n(const float *p, int n) { LANEWISE(l < n ? p[l] : 0.0f); }
static inline vec v_load(const float *p) { return v_load_n(p, VLEN); }
static inline void v_store_n(float *p, vec x, int n)
{
    for (int l = 0; l < n; l++)
        p[l] = x.lane[l];
}
static inline void v_store(float *p, vec x) { v_store_n(p, x, VLEN); }
static inline vec v_add(vec a, vec b) { LANEWISE(a.lane[l] + b.lane[l]); }
static inline vec v_sub(vec a, vec b) { LANEWISE(a.lane[l] - b.lane[l]); }
static inline vec v_mul(vec a, vec b) { LANEWISE(a.lane[l] * b.lane[l]); }
static inline vec v_div(vec a, vec b) { LANEWISE(a.lane[l] / b.lane[l]); }
/* Unfused: fmaf is a slow library call on processors without FMA. */
static inline vec v_fma(vec a, vec b, vec c) { LANEWISE(a.lane[l] * b.lane[l] + c.lane[l]); }
static inline vec v_fma_exact(vec a, vec b, vec c) { LANEWISE(fmaf(a.lane[l], b.lane[l], c.lane[l])); }
static inline vec v_max(vec a, vec b) { LANEWISE(a.lane[l] > b.lane[l] ? a.lane[l] : b.lane[l]); }
static inline vec v_min(vec a, vec b) { LANEWISE(a.lane[l] < b.lane[l] ? a.lane[l] : b.lane[l]); }
static inline vec v_abs(vec x) { LANEWISE(fabsf(x.lane[l])); }
/* Adding and removing 1.5 * 2^23 rounds to nearest even for |x| < 2^22 (all uses here). */
static inline vec v_round(vec x) { LANEWISE(x.lane[l] + 12582912.0f - 12582912.0f); }
static inline float pow2_lane(float n)
{
    /* NaN lanes (NaN input) give any finite value: their result is NaN anyway. */
    uint32_t bits = (uint32_t)((n == n ? (int32_t)n : 0) + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
static inline vec v_pow2(vec n) { LANEWISE(pow2_lane(n.lane[l])); }
static inline float pow2_bits_lane(float k)
{
    uint32_t bits;
    memcpy(&bits, &k, sizeof bits);
    bits <<= 23;
    memcpy(&k, &bits, sizeof k);
    return k;
}
static inline vec v_pow2_bits(vec k) { LANEWISE(pow2_bits_lane(k.lane[l])); }
static inline vec v_select_negative(vec x, vec a, vec b) { LANEWISE(x.lane[l] < 0.0f ? a.lane[l] : b.lane[l]); }
static inline bool v_all_at_most(vec x, float c)
{
    for (int l = 0; l < VLEN; l++)
        if (!(x.lane[l] <= c))
            return false;
    return true;
}

#define GEMM_MR 4
#define GEMM_NV 1
#define GEMM_ROWS(X) X(1) X(2) X(3) X(4)
#define GEMM_VECTORS(X, m) X(m, 1)
#define GEMM_COMPACT_EPILOGUE
#define GEMM_NAME "portable 4x8"
#define GEMM_SYMBOL gemm_kernel_portable
#include "gemm_template.h"
