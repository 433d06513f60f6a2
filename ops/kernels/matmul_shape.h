/* The shapes of numpy's matmul, shared by MatMul, FusedMatMul, MatMulInteger and
 * QLinearMatMul: 1-D operands promoted (and their dim dropped from the output), the dims
 * before the last two broadcast as batch dims. */
#ifndef ONYX_MATMUL_SHAPE_H
#define ONYX_MATMUL_SHAPE_H

#include "op.h"

typedef struct matmul_dims {
    int64_t m, k, n;                 /* one product: m x k times k x n */
    onyx_tensor batch_a, batch_b;    /* each operand's batch dims */
    onyx_tensor batch;               /* the output's (broadcast) batch dims */
} matmul_dims;

/* Checks inputs a_index and b_index and sets *out (y's rank and dims) and *d; an error naming
 * both inputs when the inner dims differ or the batches do not broadcast. */
onyx_status matmul_shape(const op_context *ctx, int a_index, int b_index, matmul_dims *d, onyx_tensor *y);

#endif
