/* The GEMM micro-kernels and epilogue, written once over a small vector vocabulary and
 * compiled once per instruction set: gemm_avx512.c, gemm_avx2.c and gemm_portable.c each
 * define the vocabulary and the tile, then include this file.
 *
 * The kernel file defines, before including:
 *   GEMM_MR, GEMM_NV        register tile: GEMM_MR rows by GEMM_NV vectors
 *   GEMM_ROWS(X)            X(1) ... X(GEMM_MR)
 *   GEMM_VECTORS(X, m)      X(m, 1) ... X(m, GEMM_NV)
 *   GEMM_NAME, GEMM_SYMBOL  the kernel's name and the gemm_kernel it defines
 *   vec, VLEN               a vector of VLEN floats, and on it:
 *     v_zero v_set1 v_load v_store        whole vectors (unaligned)
 *     v_load_n v_store_n                  the first n lanes (1 <= n <= VLEN), zeros beyond
 *     v_add v_sub v_mul v_div
 *     v_fma(a, b, c)                      a * b + c, fused where the hardware has it
 *     v_fma_exact(a, b, c)                always fused (one rounding)
 *     v_max(a, b), v_min(a, b)            b when either is NaN (x86 semantics)
 *     v_abs(x), v_round(x)                round to nearest integer, as float
 *     v_pow2(n)                           2^n for integral n in [-126, 127] (unless native)
 *     v_pow2_bits(k)                      the float whose bits are k's shifted left by 23
 *                                         (k = 1.5 * 2^23 + 127 + n gives 2^n, 0 for n = -127)
 *     v_select_negative(x, a, b)          a where x < 0, else b
 *     v_all_at_most(x, c)                 whether every lane is <= c (false if one is NaN)
 *   and may define GEMM_NATIVE_SCALE2 with
 *     v_scale2(x, n)                      x * 2^n for integral n, overflowing to inf and
 *                                         fading through the subnormals to 0
 *   (else it is made of two v_pow2), and GEMM_NATIVE_REDUCE with
 *     v_reduce_max(x), v_reduce_add(x)    the largest lane (a NaN lane may be passed over)
 *                                         and the sum of the lanes, in a fixed order
 *   (else the lanes go through memory), and GEMM_NATIVE_RCP with
 *     v_rcp(x)                            1/x within 2^-11 relative (refined by the caller)
 *   where its division is slow (else a division); and GEMM_COMPACT_EPILOGUE where a vector is a
 *   loop over lanes (portable C): the GELUs then get no copy unrolled for a whole register tile
 *   (40 KB of code for their two forms there; 1-5% of a GELU product's time on AVX2).
 */
#include <math.h>
#include "gemm_kernel.h"

#define GEMM_UNROLL _Pragma("GCC unroll 16")
#define GEMM_INLINE static inline __attribute__((always_inline))

/* ---- micro-kernel ------------------------------------------------------------------------- */

/* acc += A B over the tile's k, with B's last vector holding `last` columns; `shifted`: row p
 * of B at b + b_offsets[p] instead of p * ldb. Inlined with constant mr, nv and shifted, so
 * that acc lives in registers. */
GEMM_INLINE void tile_accumulate(vec acc[GEMM_MR][GEMM_NV], const gemm_tile *t, int mr, int nv, int last,
                                 bool shifted)
{
    const float *a = t->a, *b = t->b;
    const int32_t *offsets = t->b_offsets;
    const int64_t lda = t->lda, ldb = t->ldb;
    for (int64_t p = 0; p < t->k; p++, b += shifted ? 0 : ldb) {
        const float *row = shifted ? b + offsets[p] : b;
        vec bv[GEMM_NV];
        GEMM_UNROLL for (int v = 0; v < nv; v++)
            bv[v] = v < nv - 1 || last == VLEN ? v_load(row + v * VLEN) : v_load_n(row + v * VLEN, last);
        GEMM_UNROLL for (int i = 0; i < mr; i++) {
            vec ai = v_set1(a[i * lda + p]);
            GEMM_UNROLL for (int v = 0; v < nv; v++)
                acc[i][v] = v_fma(ai, bv[v], acc[i][v]);
        }
    }
}

/* ---- one row of A ------------------------------------------------------------------------ */

/* Panels a row times B takes at once: enough chains of dependent steps (GEMM_NV vectors per
 * panel) to hide the FMA latency that a one-row register tile, two or three chains over the
 * whole k, leaves exposed. */
#define GEMV_PANELS (GEMM_NV == 1 ? 8 : GEMM_NV == 2 ? 4 : 3)

/* c[0, np * nr) = alpha * a[0..k) B + beta * c over np whole packed panels (panel q at
 * b + q * stride, k rows of nr floats). Inlined with constant np. */
GEMM_INLINE void gemv_block(int64_t k, const float *a, const float *b, int64_t stride, float *c, float alpha,
                            float beta, int np)
{
    vec acc[GEMV_PANELS][GEMM_NV];
    GEMM_UNROLL for (int q = 0; q < np; q++)
        GEMM_UNROLL for (int v = 0; v < GEMM_NV; v++)
            acc[q][v] = v_zero();
    for (int64_t p = 0; p < k; p++) {
        vec ap = v_set1(a[p]);
        GEMM_UNROLL for (int q = 0; q < np; q++)
            GEMM_UNROLL for (int v = 0; v < GEMM_NV; v++)
                acc[q][v] = v_fma(ap, v_load(b + q * stride + p * GEMM_NV * VLEN + v * VLEN), acc[q][v]);
    }
    GEMM_UNROLL for (int q = 0; q < np; q++)
        GEMM_UNROLL for (int v = 0; v < GEMM_NV; v++) {
            float *out = c + q * GEMM_NV * VLEN + v * VLEN;
            vec x = v_mul(acc[q][v], v_set1(alpha));
            v_store(out, beta != 0.0f ? v_fma(v_set1(beta), v_load(out), x) : x);
        }
}

/* A row times `panels` whole packed panels, GEMV_PANELS at a time, then one by one. */
static void gemv(int64_t k, const float *a, const float *b, int64_t stride, int64_t panels, float *c, float alpha,
                 float beta)
{
    int64_t q = 0;
    for (; q + GEMV_PANELS <= panels; q += GEMV_PANELS)
        gemv_block(k, a, b + q * stride, stride, c + q * GEMM_NV * VLEN, alpha, beta, GEMV_PANELS);
    for (; q < panels; q++)
        gemv_block(k, a, b + q * stride, stride, c + q * GEMM_NV * VLEN, alpha, beta, 1);
}

/* ---- activations -------------------------------------------------------------------------- */

#ifndef GEMM_NATIVE_SCALE2
/* x * 2^n in two halves (each in the exponent's range), so that large results overflow to
 * inf and small ones fade through the subnormals to 0. */
GEMM_INLINE vec v_scale2(vec x, vec n)
{
    vec half = v_round(v_mul(n, v_set1(0.5f)));
    return v_mul(v_mul(x, v_pow2(half)), v_pow2(v_sub(n, half)));
}
#endif

/* exp(r) for r in [-ln2/2, ln2/2]: Cephes' degree-7 expf polynomial (about 1 ulp) in Estrin's
 * order (a shorter chain of dependent FMAs than Horner's). */
GEMM_INLINE vec exp_reduced(vec r)
{
    vec r2 = v_mul(r, r);
    vec p01 = v_fma(r, v_set1(1.9875691500e-4f), v_set1(1.3981999507e-3f));
    vec p23 = v_fma(r, v_set1(8.3334519073e-3f), v_set1(4.1665795894e-2f));
    vec p45 = v_fma(r, v_set1(1.6666665459e-1f), v_set1(5.0000001201e-1f));
    vec p = v_fma(v_fma(p01, r2, p23), r2, p45);
    return v_fma(p, r2, v_add(r, v_set1(1.0f)));
}

/* exp(hi + lo), lo small next to hi: lo joins after the range reduction, so hi + lo need not
 * be representable. Cody-Waite reduction to r in [-ln2/2, ln2/2], exp_reduced there; 2^n
 * applied by v_scale2, so that large results overflow to inf and small ones
 * fade through the subnormals to 0 instead of wrapping. NaN stays NaN. */
GEMM_INLINE vec exp_sum(vec hi, vec lo)
{
    hi = v_min(v_set1(89.0f), v_max(v_set1(-104.0f), hi));
    vec n = v_round(v_mul(v_add(hi, lo), v_set1(1.44269504088896341f)));
    vec r = v_fma(n, v_set1(-0.693359375f), hi);
    r = v_add(v_fma(n, v_set1(2.12194440e-4f), r), lo);
    vec p = exp_reduced(r);
    return v_scale2(p, n);
}

/* exp(hi + lo) for hi in [-88, 88], lo (where has_lo) small next to hi, joining after the range
 * reduction: exp_sum's reduction and polynomial, but n = round(hi / ln 2) found by adding
 * 1.5 * 2^23 + 127 (whose sum then holds n + 127 in its low bits, the exponent field of 2^n,
 * read by v_pow2_bits) and 2^n (n in [-127, 127]) applied in one step, 0 at n = -127 (hi below
 * about -87.7, where exp leaves the normal floats): the cheaper exp of silu and erfc, whose
 * callers hold hi in range. */
GEMM_INLINE vec exp_bounded(vec hi, vec lo, bool has_lo)
{
    const float shifter = 12583039.0f;
    vec k = v_fma(hi, v_set1(1.44269504088896341f), v_set1(shifter));
    vec n = v_sub(k, v_set1(shifter));
    vec r = v_fma(n, v_set1(-0.693359375f), hi);
    r = v_fma(n, v_set1(2.12194440e-4f), r);
    if (has_lo)
        r = v_add(r, lo);
    return v_mul(exp_reduced(r), v_pow2_bits(k));
}

/* erfc(z) for z >= 0, given t = 1/(1 + z/2) and -z^2 as a float and its rounding error:
 * t F(t) exp(-z^2), F a degree-8 polynomial fitted by tools/fit-gelu.py erfcx (relative error
 * < 1e-7) evaluated in Estrin's order. -z^2 is held at -88: erfc is then 0 (below 1e-39). The
 * exp does not wait for the polynomial: the chain of dependent instructions is short enough for
 * the out-of-order core to overlap several vectors. */
GEMM_INLINE vec erfc_nonnegative(vec t, vec minus_z2, vec minus_z2_error)
{
    vec t2 = v_mul(t, t), t4 = v_mul(t2, t2);
    vec f01 = v_fma(t, v_set1(0.28240835666656494f), v_set1(0.28208455443382263f));
    vec f23 = v_fma(t, v_set1(0.2036423683166504f), v_set1(0.24286268651485443f));
    vec f45 = v_fma(t, v_set1(0.28135019540786743f), v_set1(-0.02888616919517517f));
    vec f67 = v_fma(t, v_set1(0.28596094250679016f), v_set1(-0.4900699853897095f));
    vec f48 = v_fma(v_set1(-0.05935295298695564f), t4, v_fma(f67, t2, f45));
    vec f = v_fma(f48, t4, v_fma(f23, t2, f01));
    return v_mul(v_mul(t, f), exp_bounded(v_max(v_set1(-88.0f), minus_z2), minus_z2_error, true));
}

/* Where every lane has |x| <= GELU_NEAR (most vectors of a network's activations): the GELU is
 * x W for x < 0 and x (1 - W) otherwise, W its factor at -|x| (Phi(-|x|), Phi the normal
 * distribution function, or the tanh form's) as a degree-10 polynomial in s = GELU_NEAR - |x|,
 * fitted by tools/fit-gelu.py for relative error (5.3e-7 for erf, 5.9e-7 for tanh, in floats):
 * in s the terms grow from W's small end, so they add up without cancelling. Estrin's order.
 * About 2.3 times cheaper than the whole-range forms below (no division, no exp). -0 gives -0. */
#define GELU_NEAR 2.5f
static const float gelu_erf_near[11] = {
    0.006209667306393385f,    0.017528047785162926f,   0.021915385499596596f,  0.015301933512091637f,
    0.006048848852515221f,    0.00048225419595837593f, -0.00039079098496586084f, -0.00022719631670042872f,
    -0.00014208930952008814f, 9.302595572080463e-05f,  -1.189602062368067e-05f};
static const float gelu_tanh_near[11] = {
    0.006033708341419697f,  0.01759393885731697f,    0.022289173677563667f,  0.015445719473063946f,
    0.005735418293625116f,  0.0006803945288993418f,  -0.0008315408485941589f, 0.00024029702763073146f,
    -0.0003589085245039314f, 0.00013986200792714953f, -1.580026037117932e-05f};

GEMM_INLINE vec gelu_near(vec x, vec ax, const float w[11])
{
    vec s = v_sub(v_set1(GELU_NEAR), ax), s2 = v_mul(s, s), s4 = v_mul(s2, s2), s8 = v_mul(s4, s4);
    vec w01 = v_fma(v_set1(w[1]), s, v_set1(w[0])), w23 = v_fma(v_set1(w[3]), s, v_set1(w[2]));
    vec w45 = v_fma(v_set1(w[5]), s, v_set1(w[4])), w67 = v_fma(v_set1(w[7]), s, v_set1(w[6]));
    vec w89 = v_fma(v_set1(w[9]), s, v_set1(w[8]));
    vec w03 = v_fma(w23, s2, w01), w47 = v_fma(w67, s2, w45), w8 = v_fma(v_set1(w[10]), s2, w89);
    vec factor = v_fma(w8, s8, v_fma(w47, s4, w03));
    return v_mul(x, v_select_negative(x, factor, v_sub(v_set1(1.0f), factor)));
}

/* x/2 (1 + erf(x/sqrt 2)) = x/2 erfc(-x/sqrt 2). Near 0, gelu_near; elsewhere, with w =
 * erfc(|x|/sqrt 2) the factor is w for x < 0 and 2 - w otherwise, so the negative side keeps its
 * relative accuracy instead of cancelling in 1 + erf; -z^2 = -x^2/2 is carried exactly as a float
 * and its FMA-computed rounding error. |x| is held at 16 (x^2 must not overflow); below x = -13.2,
 * w and the result are 0 (-0), as for -inf (NaN, as 0.5 x (1 + erf) gives). */
GEMM_INLINE vec gelu_erf(vec x)
{
    vec ax = v_abs(x);
    if (v_all_at_most(ax, GELU_NEAR))
        return gelu_near(x, ax, gelu_erf_near);
    ax = v_min(v_set1(16.0f), ax);
    vec t = v_div(v_set1(1.0f), v_fma(ax, v_set1(0.35355339059327376f), v_set1(1.0f)));
    vec x2 = v_mul(ax, ax), x2_error = v_fma_exact(ax, ax, v_sub(v_zero(), x2));
    vec minus_half = v_set1(-0.5f);
    vec w = erfc_nonnegative(t, v_mul(x2, minus_half), v_mul(x2_error, minus_half));
    vec factor = v_select_negative(x, w, v_sub(v_set1(2.0f), w));
    return v_mul(v_mul(x, v_set1(0.5f)), factor);
}

/* erf(x), for the Erf operator. Below |x| = 0.875 an odd polynomial, x + x Q(x^2) (Q fitted
 * by weighted least squares for relative error, about 1 ulp), so that erf keeps its relative
 * accuracy near 0 (and erf(-0) = -0); above, 1 - erfc(|x|) with erfc as in gelu_erf (z = |x|
 * directly), where erfc <= 0.22 and so its error shrinks to a fraction of erf's ulp. |x| is
 * held at 6, where erfc (2e-17) no longer changes 1 - erfc: exactly +-1 beyond, inf included.
 * NaN takes the erfc side and stays NaN (v_min and the selects pass it through). */
GEMM_INLINE vec erf_vec(vec x)
{
    vec ax = v_abs(x);
    vec s = v_mul(x, x), s2 = v_mul(s, s);
    vec q01 = v_fma(s, v_set1(-0.3761263489723206f), v_set1(0.12837916612625122f));
    vec q23 = v_fma(s, v_set1(-0.026861583814024925f), v_set1(0.11283732950687408f));
    vec q45 = v_fma(s, v_set1(-0.0008211099775508046f), v_set1(0.005206746980547905f));
    vec q46 = v_fma(s2, v_set1(8.675373101141304e-05f), q45);
    vec q = v_fma(v_fma(q46, s2, q23), s2, q01);
    vec small = v_fma(x, q, x);

    vec z = v_min(v_set1(6.0f), ax);
    vec t = v_div(v_set1(1.0f), v_fma(z, v_set1(0.5f), v_set1(1.0f)));
    vec z2 = v_mul(z, z), z2_error = v_fma_exact(z, z, v_sub(v_zero(), z2));
    vec erfc = erfc_nonnegative(t, v_sub(v_zero(), z2), v_sub(v_zero(), z2_error));
    vec large = v_sub(v_set1(1.0f), erfc);
    large = v_select_negative(x, v_sub(v_zero(), large), large);
    return v_select_negative(v_sub(ax, v_set1(0.875f)), small, large);
}

/* x/2 (1 + tanh u) = x / (1 + exp(-2u)): no cancellation for negative x, and no tanh; near 0,
 * gelu_near. */
GEMM_INLINE vec gelu_tanh(vec x)
{
    vec ax = v_abs(x);
    if (v_all_at_most(ax, GELU_NEAR))
        return gelu_near(x, ax, gelu_tanh_near);
    /* -2u = x (c1 + c3 x^2), c1 = -2 sqrt(2/pi), c3 = 0.044715 c1: three roundings. */
    vec minus_2u = v_mul(x, v_fma(v_mul(x, x), v_set1(-0.0713548162726008f), v_set1(-1.5957691216057308f)));
    return v_div(x, v_add(v_set1(1.0f), exp_sum(minus_2u, v_zero())));
}

/* min(max(x, lo), hi), NaN passing through (v_max and v_min return their second operand then). */
GEMM_INLINE vec clamp(vec x, float lo, float hi) { return v_min(v_set1(hi), v_max(v_set1(lo), x)); }

/* x / (1 + exp(-x)): a division, or where the kernel has a fast approximate reciprocal
 * (AVX-512, whose division is slow) that refined by one Newton step (within 2^-22 relative).
 * x is held in [-80, 20]: above 20, 1 + exp(-x) rounds to 1 anyway, and below -80 the result,
 * |x| e^x < 1e-32, comes out as x e^-80 instead (the denominator stays a normal number). NaN
 * stays NaN. exp(-x) as in exp_bounded with the signs folded in (q = x + n ln 2 = -r, so no
 * negation), a degree-5 polynomial fitted for relative error (about 2e-7 in floats, where
 * exp_reduced's degree 7 is tighter than the 1e-6 SiLU promises), and 1 + 2^n e^-q one FMA:
 * about 0.3 ns per float on AVX2 where the plain form took 0.41. */
GEMM_INLINE vec silu(vec x)
{
    const float shifter = 12583039.0f;
    vec t = v_min(v_set1(20.0f), v_max(v_set1(-80.0f), x));
    vec k = v_fma(t, v_set1(-1.44269504088896341f), v_set1(shifter));
    vec n = v_sub(k, v_set1(shifter));
    vec q = v_fma(n, v_set1(0.693359375f), t);
    q = v_fma(n, v_set1(-2.12194440e-4f), q);
    vec q2 = v_mul(q, q);
    vec p01 = v_fma(q, v_set1(-0.16667114198207855f), v_set1(0.499992311000824f));
    vec p23 = v_fma(q, v_set1(-0.008312530815601349f), v_set1(0.04189012199640274f));
    vec e = v_fma(v_fma(p23, q2, p01), q2, v_sub(v_set1(1.0f), q));
    vec d = v_fma(e, v_pow2_bits(k), v_set1(1.0f));
#ifdef GEMM_NATIVE_RCP
    vec r = v_rcp(d);
    r = v_fma(r, v_fma(v_sub(v_zero(), d), r, v_set1(1.0f)), r);
    return v_mul(x, r);
#else
    return v_div(x, d);
#endif
}

/* 1 / (1 + e^-x), e^-x from exp_sum: inf below x = -88.7, so that the result fades to 0 there
 * (through the subnormals first). */
GEMM_INLINE vec sigmoid(vec x) { return v_div(v_set1(1.0f), v_add(v_set1(1.0f), exp_sum(v_sub(v_zero(), x), v_zero()))); }

/* tanh(x): below |x| = 0.625 the odd polynomial x (1 + x^2 Q(x^2)) (Q of degree 4 fitted by
 * weighted least squares for relative error: 1.3e-7 in floats); above, 1 - 2 / (1 + e^(2|x|)) (where tanh
 * > 0.55, so the exp's error stays relative) with 2|x| held at 40 (tanh is 1 in floats beyond
 * about 9), the sign put back. */
GEMM_INLINE vec tanh_vec(vec x)
{
    vec ax = v_abs(x), s = v_mul(x, x);
    vec q = v_fma(v_fma(v_fma(v_fma(v_set1(-0.005705104675143957f), s, v_set1(0.02063920721411705f)), s,
                              v_set1(-0.0537397600710392f)),
                        s, v_set1(0.13331443071365356f)),
                  s, v_set1(-0.3333328068256378f));
    vec small = v_mul(x, v_fma(s, q, v_set1(1.0f))); /* x (1 + x^2 Q): -0 stays -0 */
    vec e = exp_bounded(v_min(v_set1(40.0f), v_add(ax, ax)), v_zero(), false);
    vec large = v_sub(v_set1(1.0f), v_div(v_set1(2.0f), v_add(v_set1(1.0f), e)));
    large = v_select_negative(x, v_sub(v_zero(), large), large);
    return v_select_negative(v_sub(ax, v_set1(0.625f)), small, large);
}

GEMM_INLINE vec activate(vec x, gemm_activation activation, const float *params)
{
    switch (activation) {
    case GEMM_ACTIVATION_RELU: return v_max(v_zero(), x);
    case GEMM_ACTIVATION_GELU_ERF: return gelu_erf(x);
    case GEMM_ACTIVATION_GELU_TANH: return gelu_tanh(x);
    case GEMM_ACTIVATION_CLIP: return clamp(x, params[0], params[1]);
    case GEMM_ACTIVATION_HARD_SIGMOID: return clamp(v_fma(v_set1(params[0]), x, v_set1(params[1])), 0.0f, 1.0f);
    case GEMM_ACTIVATION_HARD_SWISH:
        return v_mul(x, clamp(v_fma(v_set1(1.0f / 6.0f), x, v_set1(0.5f)), 0.0f, 1.0f));
    case GEMM_ACTIVATION_SILU: return silu(x);
    case GEMM_ACTIVATION_ERF: return erf_vec(x);
    case GEMM_ACTIVATION_SIGMOID: return sigmoid(x);
    case GEMM_ACTIVATION_TANH: return tanh_vec(x);
    case GEMM_ACTIVATION_EXP: return exp_sum(x, v_zero());
    case GEMM_ACTIVATION_NONE: break;
    }
    return x;
}

/* ---- epilogue ----------------------------------------------------------------------------- */

GEMM_INLINE vec load_upto(const float *p, int64_t n) { return n >= VLEN ? v_load(p) : v_load_n(p, (int)n); }

GEMM_INLINE void store_upto(float *p, vec x, int64_t n)
{
    if (n >= VLEN)
        v_store(p, x);
    else
        v_store_n(p, x, (int)n);
}

/* One vector of the epilogue: bias (per column and per row), then the residual and the
 * activation in the order e asks. */
GEMM_INLINE vec finish(vec x, vec bias, const float *residual, int64_t n, const gemm_epilogue *e,
                       gemm_activation activation)
{
    if (e->bias || e->row_bias)
        x = v_add(x, bias);
    if (residual && e->residual_first)
        x = v_add(x, load_upto(residual, n));
    x = activate(x, activation, e->params);
    if (residual && !e->residual_first)
        x = v_add(x, load_upto(residual, n));
    return x;
}

/* The epilogue of a whole register tile (GEMM_MR rows of GEMM_NV whole vectors), unrolled for
 * one activation: independent vectors for the out-of-order core, the bias loaded once. */
GEMM_INLINE void whole_tile_epilogue(float *c, int64_t ldc, const gemm_epilogue *e, gemm_activation activation)
{
    vec bias[GEMM_NV];
    GEMM_UNROLL for (int v = 0; v < GEMM_NV; v++)
        bias[v] = e->bias ? v_load(e->bias + v * VLEN) : v_zero();
    GEMM_UNROLL for (int i = 0; i < GEMM_MR; i++) {
        float *row = c + i * ldc;
        const float *residual = e->residual ? e->residual + i * e->ld_residual : NULL;
        vec row_bias = e->row_bias ? v_set1(e->row_bias[i]) : v_zero();
        GEMM_UNROLL for (int v = 0; v < GEMM_NV; v++) {
            vec x = finish(v_load(row + v * VLEN), v_add(bias[v], row_bias), residual ? residual + v * VLEN : NULL,
                           VLEN, e, activation);
            v_store(row + v * VLEN, x);
        }
    }
}

/* The epilogue of any block, for one activation: four independent vectors at a time along a
 * row, then the rest one by one. */
GEMM_INLINE void rows_epilogue(float *c, int64_t ldc, int64_t rows, int64_t cols, const gemm_epilogue *e,
                               gemm_activation activation)
{
    for (int64_t i = 0; i < rows; i++) {
        float *row = c + i * ldc;
        const float *residual = e->residual ? e->residual + i * e->ld_residual : NULL;
        vec row_bias = e->row_bias ? v_set1(e->row_bias[i]) : v_zero();
        int64_t j = 0;
        for (; j + 4 * VLEN <= cols; j += 4 * VLEN) {
            vec x[4];
            GEMM_UNROLL for (int u = 0; u < 4; u++) {
                vec bias = e->bias ? v_add(v_load(e->bias + j + u * VLEN), row_bias) : row_bias;
                x[u] = finish(v_load(row + j + u * VLEN), bias, residual ? residual + j + u * VLEN : NULL, VLEN, e,
                              activation);
            }
            GEMM_UNROLL for (int u = 0; u < 4; u++)
                v_store(row + j + u * VLEN, x[u]);
        }
        for (; j < cols; j += VLEN) {
            vec bias = e->bias ? v_add(load_upto(e->bias + j, cols - j), row_bias) : row_bias;
            vec x = finish(load_upto(row + j, cols - j), bias, residual ? residual + j : NULL, cols - j, e,
                           activation);
            store_upto(row + j, x, cols - j);
        }
    }
}

/* The cheap activations (those gemm_epilogue_split stores) as one formula, (x or 1) *
 * clamp(a x + b, lo, hi), so that a tile has one path for all four (a copy per activation made
 * the kernels' code, and their compile under the sanitizers, several times larger): ReLU
 * clamp(x, 0, inf), Clip clamp(x, p0, p1) (b = -0, so that a x + b is x itself, -0 included),
 * HardSigmoid clamp(p0 x + p1, 0, 1), HardSwish x clamp(x / 6 + 1/2, 0, 1); the same operations
 * as activate()'s. */
typedef struct tile_activation {
    vec a, b, times_x; /* times_x: negative (-1) where the clamp multiplies x, else +1 */
    float lo, hi;
} tile_activation;

GEMM_INLINE tile_activation tile_activation_of(const gemm_tile *t)
{
    tile_activation f = {.a = v_set1(1.0f), .b = v_set1(-0.0f), .times_x = v_set1(1.0f), .lo = -INFINITY,
                         .hi = INFINITY};
    switch (t->activation) {
    case GEMM_ACTIVATION_RELU: f.lo = 0.0f; break;
    case GEMM_ACTIVATION_CLIP: f.lo = t->params[0], f.hi = t->params[1]; break;
    case GEMM_ACTIVATION_HARD_SIGMOID:
        f.a = v_set1(t->params[0]), f.b = v_set1(t->params[1]), f.lo = 0.0f, f.hi = 1.0f;
        break;
    case GEMM_ACTIVATION_HARD_SWISH:
        f.a = v_set1(1.0f / 6.0f), f.b = v_set1(0.5f), f.lo = 0.0f, f.hi = 1.0f, f.times_x = v_set1(-1.0f);
        break;
    default: break;
    }
    return f;
}

/* Stores the tile, alpha op(A) op(B) + beta C plus the bias, then max(floor, x) (floor 0 for
 * ReLU, else -inf: x itself, NaN included); FINISH: with the residual and the activation
 * instead (the plain products' path, and ReLU's, has no work for either). */
GEMM_INLINE void tile_store(vec acc[GEMM_MR][GEMM_NV], const gemm_tile *t, int mr, int nv, int last, bool finish)
{
    const vec alpha = v_set1(t->alpha), beta = v_set1(t->beta);
    const tile_activation f = tile_activation_of(t);
    const vec floor = v_set1(t->activation == GEMM_ACTIVATION_RELU ? 0.0f : -INFINITY);
    /* The bias as the epilogue adds it: x + (bias[j] + row_bias[i]). */
    const bool biased = t->bias || t->row_bias;
    vec bias[GEMM_NV];
    GEMM_UNROLL for (int v = 0; v < nv; v++) {
        int n = v < nv - 1 ? VLEN : last;
        bias[v] = !t->bias ? v_zero() : n == VLEN ? v_load(t->bias + v * VLEN) : v_load_n(t->bias + v * VLEN, n);
    }
    GEMM_UNROLL for (int i = 0; i < mr; i++) {
        float *c = t->c + i * t->ldc;
        const float *residual = finish && t->residual ? t->residual + i * t->ld_residual : NULL;
        const vec row_bias = t->row_bias ? v_set1(t->row_bias[i]) : v_zero();
        GEMM_UNROLL for (int v = 0; v < nv; v++) {
            int n = v < nv - 1 ? VLEN : last;
            vec x = v_mul(acc[i][v], alpha);
            if (t->beta != 0.0f)
                x = v_fma(beta, n == VLEN ? v_load(c + v * VLEN) : v_load_n(c + v * VLEN, n), x);
            if (biased)
                x = v_add(x, v_add(bias[v], row_bias));
            if (finish) {
                if (residual && t->residual_first)
                    x = v_add(x, load_upto(residual + v * VLEN, n));
                vec y = clamp(v_fma(f.a, x, f.b), f.lo, f.hi);
                x = v_select_negative(f.times_x, v_mul(x, y), y);
                if (residual && !t->residual_first)
                    x = v_add(x, load_upto(residual + v * VLEN, n));
            } else {
                x = v_max(floor, x);
            }
            store_upto(c + v * VLEN, x, n);
        }
    }
}

GEMM_INLINE void tile_body(const gemm_tile *t, int mr, int nv, bool shifted)
{
    vec acc[GEMM_MR][GEMM_NV];
    GEMM_UNROLL for (int i = 0; i < mr; i++)
        GEMM_UNROLL for (int v = 0; v < nv; v++)
            acc[i][v] = v_zero();
    const int last = t->nr - (nv - 1) * VLEN;
    /* The whole-vector case separately: the hot loop then has no masked loads. */
    if (last == VLEN)
        tile_accumulate(acc, t, mr, nv, VLEN, shifted);
    else
        tile_accumulate(acc, t, mr, nv, last, shifted);
    if (!t->residual && (t->activation == GEMM_ACTIVATION_NONE || t->activation == GEMM_ACTIVATION_RELU))
        tile_store(acc, t, mr, nv, last, false);
    else
        tile_store(acc, t, mr, nv, last, true);
}

#define GEMM_DEFINE_TILE(m, v)                                                                 \
    static void tile_##m##x##v(const gemm_tile *t) { tile_body(t, m, v, false); }                \
    static void shifted_##m##x##v(const gemm_tile *t) { tile_body(t, m, v, true); }
#define GEMM_DEFINE_ROW(m) GEMM_VECTORS(GEMM_DEFINE_TILE, m)
GEMM_ROWS(GEMM_DEFINE_ROW)

#define GEMM_EPILOGUE_CASE(act)                                                                \
    case act:                                                                                  \
        if (whole)                                                                             \
            whole_tile_epilogue(c, ldc, e, act);                                               \
        else                                                                                   \
            rows_epilogue(c, ldc, rows, cols, e, act);                                         \
        return;

/* The activations not for products (gemm_activate's): no copy unrolled for a whole tile. */
#define GEMM_ROWS_EPILOGUE_CASE(act)                                                           \
    case act: rows_epilogue(c, ldc, rows, cols, e, act); return;

static void epilogue(float *c, int64_t ldc, int64_t rows, int64_t cols, const gemm_epilogue *e)
{
    bool whole = rows == GEMM_MR && cols == GEMM_NV * VLEN;
    /* Rows back to back, with nothing that changes from row to row: one long row. */
    if (!whole && ldc == cols && !e->bias && !e->row_bias && (!e->residual || e->ld_residual == cols)) {
        cols *= rows;
        rows = 1;
    }
    switch (e->activation) {
    GEMM_EPILOGUE_CASE(GEMM_ACTIVATION_NONE)
    GEMM_EPILOGUE_CASE(GEMM_ACTIVATION_RELU)
#ifdef GEMM_COMPACT_EPILOGUE
    GEMM_ROWS_EPILOGUE_CASE(GEMM_ACTIVATION_GELU_ERF)
    GEMM_ROWS_EPILOGUE_CASE(GEMM_ACTIVATION_GELU_TANH)
#else
    GEMM_EPILOGUE_CASE(GEMM_ACTIVATION_GELU_ERF)
    GEMM_EPILOGUE_CASE(GEMM_ACTIVATION_GELU_TANH)
#endif
    GEMM_EPILOGUE_CASE(GEMM_ACTIVATION_CLIP)
    GEMM_EPILOGUE_CASE(GEMM_ACTIVATION_HARD_SIGMOID)
    GEMM_EPILOGUE_CASE(GEMM_ACTIVATION_HARD_SWISH)
    GEMM_EPILOGUE_CASE(GEMM_ACTIVATION_SILU)
    GEMM_ROWS_EPILOGUE_CASE(GEMM_ACTIVATION_ERF)
    GEMM_ROWS_EPILOGUE_CASE(GEMM_ACTIVATION_SIGMOID)
    GEMM_ROWS_EPILOGUE_CASE(GEMM_ACTIVATION_TANH)
    GEMM_ROWS_EPILOGUE_CASE(GEMM_ACTIVATION_EXP)
    }
}

/* ---- softmax of a row ------------------------------------------------------------------- */

#ifndef GEMM_NATIVE_REDUCE
static float horizontal(vec x, bool max)
{
    float lanes[VLEN];
    v_store(lanes, x);
    float r = lanes[0];
    for (int i = 1; i < VLEN; i++)
        r = max ? (lanes[i] > r ? lanes[i] : r) : r + lanes[i];
    return r;
}
static inline float v_reduce_max(vec x) { return horizontal(x, true); }
static inline float v_reduce_add(vec x) { return horizontal(x, false); }
#endif

/* x = exp(mul (x - max x)) in place, for mul > 0; returns the sum. The maximum may pass over
 * a NaN: that NaN still reaches the sum through its exp. A row of -inf gives NaN (-inf minus
 * -inf), as the plain formula does. */
static float exp_row(float *x, int64_t n, float mul)
{
    int64_t whole = n - n % VLEN;
    vec vmax = v_set1(-INFINITY);
    for (int64_t j = 0; j < whole; j += VLEN)
        vmax = v_max(vmax, v_load(x + j));
    float max = whole ? v_reduce_max(vmax) : -INFINITY;
    for (int64_t j = whole; j < n; j++)
        max = x[j] > max ? x[j] : max;
    vec vsum = v_zero(), m = v_set1(max), vmul = v_set1(mul), floor = v_set1(-88.0f);
    for (int64_t j = 0; j < n; j += VLEN) {
        /* (x - max) mul <= 0 (mul > 0): exp_bounded, held at -88, where a -inf score (masked)
         * gives 0 exactly; results below the normal floats (under 1.2e-38 of the row's largest)
         * are 0 as well. NaN stays NaN. */
        vec e = exp_bounded(v_max(floor, v_mul(v_sub(load_upto(x + j, n - j), m), vmul)), v_zero(), false);
        store_upto(x + j, e, n - j);
        vsum = v_add(vsum, n - j >= VLEN ? e : load_upto(x + j, n - j));
    }
    return v_reduce_add(vsum);
}

/* x = exp(x - max x) / sum, in place: NaN anywhere, or a row of -inf, gives NaN. */
static void softmax_row(float *x, int64_t n)
{
    vec inv = v_set1(1.0f / exp_row(x, n, 1.0f));
    for (int64_t j = 0; j < n; j += VLEN)
        store_upto(x + j, v_mul(load_upto(x + j, n - j), inv), n - j);
}

/* ---- the kernel --------------------------------------------------------------------------- */

#define GEMM_TILE_ENTRY(m, v) [m - 1][v - 1] = tile_##m##x##v,
#define GEMM_ROW_ENTRIES(m) GEMM_VECTORS(GEMM_TILE_ENTRY, m)
#define GEMM_SHIFTED_ENTRY(m, v) [m - 1][v - 1] = shifted_##m##x##v,
#define GEMM_SHIFTED_ROW_ENTRIES(m) GEMM_VECTORS(GEMM_SHIFTED_ENTRY, m)

const gemm_kernel GEMM_SYMBOL = {
    .name = GEMM_NAME,
    .mr = GEMM_MR,
    .nr = GEMM_NV * VLEN,
    .vector = VLEN,
    .tiles = {GEMM_ROWS(GEMM_ROW_ENTRIES)},
    .shifted = {GEMM_ROWS(GEMM_SHIFTED_ROW_ENTRIES)},
    .epilogue = epilogue,
    .gemv = gemv,
    .softmax_row = softmax_row,
    .exp_row = exp_row,
};
