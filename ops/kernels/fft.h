/* Discrete Fourier transforms of any length in O(n log n), in double precision: iterative
 * radix-2 for powers of two, Bluestein's chirp-z algorithm (a convolution computed with
 * power-of-two transforms) for the other lengths. A plan's tables are computed once (in
 * reshape); transforms then only read them, from any thread. */
#ifndef ONYX_FFT_H
#define ONYX_FFT_H

#include <complex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* glibc's complex.h defines the C11 macro CMPLX for GCC only; clang has the same builtin. */
#ifndef CMPLX
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#endif

typedef struct fft_plan {
    int64_t n;                     /* the transform's length, >= 1 */
    int64_t m;                     /* the power-of-two length it runs at: n, or >= 2n - 1 */
    double complex *twiddles;      /* m / 2 roots exp(-2 pi i k / m) */
    double complex *chirp;         /* Bluestein: n values exp(-pi i k^2 / n), else NULL */
    double complex *chirp_filter;  /* Bluestein: the transform of the conjugate chirp, m values */
} fft_plan;

/* Bytes of tables (and of scratch) a plan of length n needs. */
size_t fft_table_bytes(int64_t n);
size_t fft_scratch_bytes(int64_t n);

/* Sets up a plan of length n >= 1 over `tables`, fft_table_bytes(n) bytes aligned for
 * double complex. */
void fft_plan_init(fft_plan *plan, int64_t n, void *tables);

/* x[k] <- sum_j x[j] exp(-+2 pi i j k / n) for k < n, in place: the minus sign forward, the
 * plus sign (unscaled) for the inverse. `scratch` holds fft_scratch_bytes(n) bytes. */
void fft_run(const fft_plan *plan, double complex *x, bool inverse, void *scratch);

#endif
