/* Padding (and cropping) copies, row by row: the plan and run that Pad and CenterCropPad share.
 * Each axis is cropped first (negative pads) and then padded from what is left; the new places
 * are filled by mode. A task fills one output row. */
#ifndef ONYX_PAD_ROWS_H
#define ONYX_PAD_ROWS_H

#include "op.h"

typedef enum pad_mode { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT, PAD_WRAP } pad_mode;

typedef struct pad_rows {
    pad_mode mode;
    int rank;
    int64_t begin[ONYX_MAX_RANK];      /* output positions before the kept elements of each axis */
    int64_t kept_first[ONYX_MAX_RANK]; /* the first input index of each axis kept (after a crop) */
    int64_t kept[ONYX_MAX_RANK];       /* the input elements of each axis kept */
    int64_t out_dims[ONYX_MAX_RANK];
    int64_t in_strides[ONYX_MAX_RANK];
    int64_t rows;                      /* output elements / the last dim */
    size_t elem;
} pad_rows;

/* Plans y = x padded by pads ([begin of each axis..., end of each axis...], negative ones
 * cropping; y's dims already set and checked) into the node's state and tasks. */
onyx_status pad_rows_plan(op_context *ctx, pad_mode mode, const onyx_tensor *x, const onyx_tensor *y,
                          const int64_t *pads);
/* Fills output rows [begin, end): fill is one element of x's dtype (constant mode). */
void pad_rows_run(const pad_rows *s, const void *x, void *y, const void *fill, int64_t begin, int64_t end);

#endif
