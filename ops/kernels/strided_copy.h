/* Copying a strided view of a tensor into a dense output, the shared run of the operators
 * that only move elements: Transpose, Slice, Tile, DepthToSpace and SpaceToDepth.
 *
 * The view has the output's shape, one input stride per output axis (0 repeats an element,
 * negative walks backwards) and the input offset of its first element. Axes of size 1 are
 * dropped and neighbouring axes that stay contiguous in the input merged, so that the kernel
 * copies runs along the last axis, with memcpy when that axis is contiguous. */
#ifndef ONYX_STRIDED_COPY_H
#define ONYX_STRIDED_COPY_H

#include "op.h"

/* Tile views each axis as (repeat, dim): twice the rank of a tensor. */
#define STRIDED_MAX_RANK (2 * ONYX_MAX_RANK)

typedef struct strided_copy {
    int rank;                          /* after merging; >= 1 */
    int64_t dims[STRIDED_MAX_RANK];    /* output dims */
    int64_t strides[STRIDED_MAX_RANK]; /* input element stride per output axis */
    int64_t base;                      /* input offset of the first output element */
    int64_t rows;                      /* output elements / dims[rank - 1] */
    size_t elem;
} strided_copy;

/* Plans the copy of input 0 into output 0 (concrete shapes) through the view
 * (rank, dims, strides, base): allocates it as ctx->state and sets the tasks, one per row. */
onyx_status strided_copy_plan(op_context *ctx, int rank, const int64_t *dims, const int64_t *strides,
                              int64_t base);
/* The run of such an operator. */
onyx_status strided_copy_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch);

/* Row-major element strides of a tensor's dims. */
void strides_of(const onyx_tensor *t, int64_t *strides);

#endif
