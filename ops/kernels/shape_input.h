/* Inputs whose values shape an operator's output (a target shape, axes, pads, repeats, a
 * depth): read at load and when planning, where they may not be known yet, and checked
 * before any arithmetic on them. */
#ifndef ONYX_SHAPE_INPUT_H
#define ONYX_SHAPE_INPUT_H

#include "op.h"

/* Whether t's values are not known now: no data, and not a tensor known to be empty. */
bool values_unknown(const onyx_tensor *t);

/* Reads input i, an int32 / int64 tensor of rank <= 1 and at most `max` values, into values.
 * *count is -1 when the input is absent. ONYX_DEFER when its values are not known yet. */
onyx_status shape_input_read(const op_context *ctx, int i, int64_t *values, int64_t max, int64_t *count);

/* For a node whose output shape is the values of input i (Reshape, ConstantOfShape): when
 * they are not known at load but their count is, out gets that rank with unknown dims and
 * ONYX_OK; otherwise ONYX_DEFER. */
onyx_status shape_input_rank_only(const op_context *ctx, int i, onyx_tensor *out);

#endif
