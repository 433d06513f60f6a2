/* What the GEMM driver (gemm.c) asks of each instruction set's kernel file: micro-kernels
 * for every tile shape up to the register tile, and the epilogue. The kernels themselves are
 * written once, in gemm_template.h. */
#ifndef ONYX_GEMM_KERNEL_H
#define ONYX_GEMM_KERNEL_H

#include "gemm.h"

/* ---- what the drivers (gemm.c, gemm_bf16.c) share ---- */

#define GEMM_ALIGN 64

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The size of `total` split into equal blocks of at most `most`, rather than full ones and a
 * sliver; 1 when total is 0. */
static inline int64_t even_block(int64_t total, int64_t most)
{
    if (total <= 0)
        return 1;
    int64_t blocks = total / most + (total % most != 0); /* ceil, without overflow */
    return total / blocks + (total % blocks != 0);
}

static inline void *align_up(void *p)
{
    return (void *)(((uintptr_t)p + GEMM_ALIGN - 1) & ~(uintptr_t)(GEMM_ALIGN - 1));
}

/* Register tiles are at most GEMM_MAX_MR rows by GEMM_MAX_NV vectors. */
#define GEMM_MAX_MR 8
#define GEMM_MAX_NV 3

/* One call of a micro-kernel: C = alpha * A B + beta * C on an mr x nr tile (mr and the
 * vector count are the kernel's own), with A mr x k (rows lda apart) and B k x nr (rows ldb
 * apart; for the shifted tiles, row p at b + b_offsets[p]), plus bias[j] + row_bias[i] where
 * given (at the tile's origin: the epilogue's bias and row bias, added in the tile on a
 * product's last pass, so that a plain biased product needs no second pass over C), then the
 * residual and a cheap activation where given. Only nr columns of B are read and of C
 * written. beta 0: C is not read. */
typedef struct gemm_tile {
    int64_t k;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    const int32_t *b_offsets;
    float *c;
    int64_t ldc;
    int nr;
    float alpha, beta;
    const float *bias, *row_bias; /* NULL: none */
    /* A cheap activation (ReLU, Clip, HardSigmoid, HardSwish; else none) and the residual
     * (NULL: none; at the tile's origin), as gemm_epilogue has them. */
    gemm_activation activation;
    float params[2];
    const float *residual;
    int64_t ld_residual;
    bool residual_first;
} gemm_tile;

typedef void (*gemm_tile_fn)(const gemm_tile *tile);
/* Applies `e` to rows x cols of C (rows ldc apart); e's pointers are at the block's origin. */
typedef void (*gemm_epilogue_fn)(float *c, int64_t ldc, int64_t rows, int64_t cols, const gemm_epilogue *e);

struct gemm_kernel {
    const char *name;
    int mr, nr, vector; /* register tile mr x nr, in vectors of `vector` floats */
    gemm_tile_fn tiles[GEMM_MAX_MR][GEMM_MAX_NV]; /* [rows - 1][vectors - 1] */
    gemm_tile_fn shifted[GEMM_MAX_MR][GEMM_MAX_NV]; /* the same, B's rows at b_offsets */
    gemm_epilogue_fn epilogue;
    /* One row of A times `panels` whole packed panels of B (panel q at b + q * stride, k rows
     * of nr floats): c[0, panels * nr) = alpha * a[0..k) B + beta * c (beta 0: c not read). */
    void (*gemv)(int64_t k, const float *a, const float *b, int64_t stride, int64_t panels, float *c, float alpha,
                 float beta);
    void (*softmax_row)(float *x, int64_t n);
    float (*exp_row)(float *x, int64_t n, float mul);
};

extern const gemm_kernel gemm_kernel_portable;
#if defined(__x86_64__)
extern const gemm_kernel gemm_kernel_avx2;
extern const gemm_kernel gemm_kernel_avx512;
#endif

#endif
