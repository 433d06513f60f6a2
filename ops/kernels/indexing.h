/* Addressing data by indices read from another tensor, shared by the gathers and scatters:
 * every index is normalized (negative counts from the end) and checked, so that a bad index
 * is an error at run time and never an access outside the data. */
#ifndef ONYX_INDEXING_H
#define ONYX_INDEXING_H

#include "op.h"

/* Normalizes *idx against an axis of len; false when it is outside [-len, len). */
static inline bool index_normalize(int64_t *idx, int64_t len)
{
    if (*idx < -len || *idx >= len)
        return false;
    if (*idx < 0)
        *idx += len;
    return true;
}

/* The run-time error for an index outside an axis of len. */
onyx_status index_error(const op_context *ctx, int64_t idx, int64_t len);

/* ---- GatherElements and ScatterElements -------------------------------------------------- */

/* Element j of `indices` addresses data at j's own coordinates, but for `axis`, where the
 * index read at j goes. Walked by rows of the indices' last axis. */
typedef struct element_walk {
    int rank, axis;
    int64_t dims[ONYX_MAX_RANK];         /* of indices */
    int64_t data_strides[ONYX_MAX_RANK];
    int64_t len;                         /* data's dim along axis */
    int64_t inner;                       /* indices per row: dims[rank - 1] */
    int64_t inner_step;                  /* data stride along a row, 0 when the row is the axis */
    int64_t rows;
} element_walk;

/* Normalizes `axis` (the attribute) into *out and checks that indices (and updates, when not
 * NULL) fit data there: same rank, the same shape for updates, and no dim beyond data's
 * outside the axis. Symbolic dims allowed. */
onyx_status element_walk_check(const op_context *ctx, const onyx_tensor *data, const onyx_tensor *indices,
                               const onyx_tensor *updates, int64_t axis, int *out);
/* The walk of indices into data (concrete shapes), allocated as ctx->state; NULL when out of
 * memory. */
element_walk *element_walk_plan(op_context *ctx, const onyx_tensor *data, const onyx_tensor *indices, int axis);
/* Data offset of row `row`'s first element with a zero index. */
int64_t element_walk_row(const element_walk *w, int64_t row);

/* ---- GatherND and ScatterND -------------------------------------------------------------- */

/* Each tuple of `depth` indices (the last axis of indices) picks a slice of data after the
 * `batch_dims` leading dims shared by data and indices. */
typedef struct nd_walk {
    int depth;
    int64_t dims[ONYX_MAX_RANK];    /* of data, the indexed ones */
    int64_t strides[ONYX_MAX_RANK];
    int64_t slice;                  /* elements of one picked slice */
    int64_t tuples;                 /* index tuples */
    int64_t tuples_per_batch;
    int64_t batch_stride;           /* data elements of one batch */
} nd_walk;

/* The shape the tuples of indices pick from data: indices.shape[:-1] + data.shape[batch_dims
 * + depth:], into out. Checks the ranks, the depth and the batch dims. */
onyx_status nd_walk_shape(const op_context *ctx, const onyx_tensor *data, const onyx_tensor *indices,
                          int batch_dims, onyx_tensor *out);
/* The walk of the tuples (concrete shapes), allocated as ctx->state; NULL when out of memory. */
nd_walk *nd_walk_plan(op_context *ctx, const onyx_tensor *data, const onyx_tensor *indices, int batch_dims);
/* Data offset of the slice tuple t picks; an error when one of its indices is out of range. */
onyx_status nd_walk_offset(const op_context *ctx, const nd_walk *w, const onyx_tensor *indices, int64_t t,
                           int64_t *offset);

#endif
