/* What the bfloat16 GEMM driver (gemm_bf16.c) asks of its kernel file (gemm_bf16_avx512.c):
 * micro-kernels for every tile shape up to the register tile, and the packing of A. */
#ifndef ONYX_GEMM_BF16_KERNEL_H
#define ONYX_GEMM_BF16_KERNEL_H

#include "gemm_bf16.h"

#define GEMM_BF16_MR 8  /* register tile: rows */
#define GEMM_BF16_NV 3  /* register tile: vectors of 16 floats */
#define GEMM_BF16_VLEN 16
#define GEMM_BF16_NR (GEMM_BF16_NV * GEMM_BF16_VLEN)

/* One call of a micro-kernel: C = alpha * A B + beta * C on an mr x nr tile, over kp pairs of
 * k. A: mr rows of kp bfloat16 pairs (rows lda pairs apart); B: kp rows of column pairs (rows
 * ldb pairs apart, whole vectors, zero-padded beyond nr). beta 0: C is not read. */
typedef struct gemm_bf16_tile {
    int64_t kp;
    const uint32_t *a;
    int64_t lda;
    const uint32_t *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
    int nr;
    float alpha, beta;
} gemm_bf16_tile;

typedef void (*gemm_bf16_tile_fn)(const gemm_bf16_tile *tile);

typedef struct gemm_bf16_kernel {
    const char *name;
    gemm_bf16_tile_fn tiles[GEMM_BF16_MR][GEMM_BF16_NV]; /* [rows - 1][vectors - 1] */
    /* Rows [i0, i1) and columns [p0, p0 + kc) of op(A) (A rows lda apart; k x m when trans),
     * rounded to bfloat16, into rows of ceil(kc / 2) pairs (an odd kc's last pair ends in 0). */
    void (*pack_a)(uint32_t *dst, const float *a, int64_t lda, bool trans, int64_t i0, int64_t i1, int64_t p0,
                   int64_t kc);
} gemm_bf16_kernel;

#if defined(__x86_64__)
extern const gemm_bf16_kernel gemm_bf16_kernel_avx512;
#endif

#endif
