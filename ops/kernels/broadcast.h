/* Multidirectional (numpy) broadcasting, shared by every elementwise operator.
 *
 * broadcast_shape computes the output shape (symbolic dims allowed). broadcast_init then
 * collapses the output into rows of `inner` contiguous elements: within a row each input
 * either advances one element per output element (step 1) or repeats one element (step 0),
 * so a kernel is a flat loop over (out, in_k + offset_k, step_k). */
#ifndef ONYX_BROADCAST_H
#define ONYX_BROADCAST_H

#include "op.h"

#define BROADCAST_MAX_INPUTS 3

typedef struct broadcast {
    int n_inputs;
    int rank;                                      /* collapsed rank, >= 1 */
    int64_t dims[ONYX_MAX_RANK];                   /* collapsed output dims */
    int64_t strides[BROADCAST_MAX_INPUTS][ONYX_MAX_RANK]; /* element strides, 0 = repeated */
    int64_t inner;                                 /* elements per row: dims[rank - 1] */
    int64_t rows;                                  /* output elements / inner */
    int64_t step[BROADCAST_MAX_INPUTS];            /* each input's stride within a row: 0 or 1 */
} broadcast;

/* Output shape of broadcasting `n` tensors (NULL entries skipped) into out's rank/dims; an
 * error naming the inputs when two known dims differ and neither is 1. */
onyx_status broadcast_shape(const op_context *ctx, int n, const onyx_tensor *const *inputs,
                            onyx_tensor *out);
/* Prepares iteration of `out` (concrete) over n <= BROADCAST_MAX_INPUTS inputs. */
void broadcast_init(broadcast *b, int n, const onyx_tensor *const *inputs, const onyx_tensor *out);
/* Element offset of each input at the start of row `row`. */
void broadcast_row(const broadcast *b, int64_t row, int64_t *offsets);

/* Splits a broadcast into tasks of about `chunk` elements: a row is cut in pieces when rows
 * are few and long. Sets ctx->n_tasks and ctx->task_cost; returns the pieces per row. */
int64_t broadcast_tasks(op_context *ctx, const broadcast *b, int64_t chunk);

#endif
