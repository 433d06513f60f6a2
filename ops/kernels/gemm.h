/* General matrix multiply, row-major: C = alpha * op(A) * op(B) + beta * C, where op(A) is
 * m x k (A itself k x m when trans_a), op(B) is k x n, and lda/ldb/ldc are row strides. */
#ifndef ONYX_GEMM_H
#define ONYX_GEMM_H

#include <stdbool.h>
#include <stdint.h>

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
              int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

#endif
