#include "fft.h"

#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846

/* Plain products: `*` on complex values goes through a library call that handles infinities
 * and NaNs, which a transform does not need. */
static inline double complex cmul(double complex a, double complex b)
{
    return CMPLX(creal(a) * creal(b) - cimag(a) * cimag(b), creal(a) * cimag(b) + cimag(a) * creal(b));
}

static inline double complex unit_root(double angle) { return CMPLX(cos(angle), -sin(angle)); }

static bool is_power_of_two(int64_t n) { return (n & (n - 1)) == 0; }

static int64_t run_length(int64_t n)
{
    if (is_power_of_two(n))
        return n;
    int64_t m = 1;
    while (m < 2 * n - 1)
        m <<= 1;
    return m;
}

size_t fft_table_bytes(int64_t n)
{
    int64_t m = run_length(n), count = m / 2 + (is_power_of_two(n) ? 0 : n + m);
    return (size_t)count * sizeof(double complex);
}

size_t fft_scratch_bytes(int64_t n)
{
    return is_power_of_two(n) ? 0 : (size_t)run_length(n) * sizeof(double complex);
}

/* In-place forward transform of length m, a power of two, with the twiddles of length m. */
static void radix2(double complex *x, int64_t m, const double complex *twiddles)
{
    for (int64_t i = 1, j = 0; i < m; i++) { /* bit-reversed order */
        int64_t bit = m >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j |= bit;
        if (i < j) {
            double complex t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
    }
    for (int64_t len = 2; len <= m; len <<= 1) {
        int64_t half = len / 2, stride = m / len;
        for (int64_t start = 0; start < m; start += len)
            for (int64_t k = 0; k < half; k++) {
                double complex t = cmul(twiddles[k * stride], x[start + k + half]);
                x[start + k + half] = x[start + k] - t;
                x[start + k] += t;
            }
    }
}

static void conjugate(double complex *x, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = CMPLX(creal(x[i]) * scale, -cimag(x[i]) * scale);
}

void fft_plan_init(fft_plan *plan, int64_t n, void *tables)
{
    double complex *t = tables;
    *plan = (fft_plan){.n = n, .m = run_length(n), .twiddles = t};
    for (int64_t k = 0; k < plan->m / 2; k++)
        plan->twiddles[k] = unit_root(2 * PI * (double)k / (double)plan->m);
    if (is_power_of_two(n))
        return;
    /* Bluestein: 2jk = j^2 + k^2 - (k - j)^2 turns the transform into the convolution of
     * x[j] * chirp[j] with the conjugate chirp, then a product with chirp[k]. The exponent
     * k^2 is reduced modulo 2n first, so that the angle stays small and exact. */
    plan->chirp = t + plan->m / 2;
    plan->chirp_filter = plan->chirp + n;
    for (int64_t k = 0; k < n; k++)
        plan->chirp[k] = unit_root(PI * (double)((uint64_t)k * (uint64_t)k % (uint64_t)(2 * n)) / (double)n);
    memset(plan->chirp_filter, 0, (size_t)plan->m * sizeof(double complex));
    plan->chirp_filter[0] = conj(plan->chirp[0]);
    for (int64_t k = 1; k < n; k++)
        plan->chirp_filter[k] = plan->chirp_filter[plan->m - k] = conj(plan->chirp[k]);
    radix2(plan->chirp_filter, plan->m, plan->twiddles);
}

static void bluestein(const fft_plan *plan, double complex *x, double complex *work)
{
    int64_t n = plan->n, m = plan->m;
    for (int64_t j = 0; j < n; j++)
        work[j] = cmul(x[j], plan->chirp[j]);
    memset(work + n, 0, (size_t)(m - n) * sizeof *work);
    radix2(work, m, plan->twiddles);
    for (int64_t k = 0; k < m; k++)
        work[k] = cmul(work[k], plan->chirp_filter[k]);
    /* The inverse transform of length m, as the conjugate of the forward one, scaled. */
    conjugate(work, m, 1);
    radix2(work, m, plan->twiddles);
    conjugate(work, m, 1.0 / (double)m);
    for (int64_t k = 0; k < n; k++)
        x[k] = cmul(work[k], plan->chirp[k]);
}

void fft_run(const fft_plan *plan, double complex *x, bool inverse, void *scratch)
{
    /* The inverse transform is the conjugate of the forward one of the conjugate. */
    if (inverse)
        conjugate(x, plan->n, 1);
    if (plan->chirp)
        bluestein(plan, x, scratch);
    else
        radix2(x, plan->n, plan->twiddles);
    if (inverse)
        conjugate(x, plan->n, 1);
}
