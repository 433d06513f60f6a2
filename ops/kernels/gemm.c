#include "gemm.h"

#include <cblas.h>

/* BLAS takes int sizes: every dim is below the tensor element limit (< 2^31). BLAS also
 * insists on leading dimensions >= 1, even for empty matrices. */
static int ld(int64_t x) { return x > 0 ? (int)x : 1; }

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, ld(lda), b, ld(ldb), beta, c, ld(ldc));
}

void gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
              int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc)
{
    if (m == 0 || n == 0)
        return;
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, ld(lda), b, ld(ldb), beta, c, ld(ldc));
}
