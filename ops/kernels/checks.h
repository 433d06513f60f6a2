/* The load-time checks that several operators share, for their common input patterns. */
#ifndef ONYX_CHECKS_H
#define ONYX_CHECKS_H

#include "op.h"

/* One input, of a dtype in `dtypes`, and one output, of dtype `output`
 * (ONYX_DTYPE_UNDEFINED: the input's). */
onyx_status check_one_input(op_context *ctx, uint32_t dtypes, onyx_dtype output);

/* Data of any dtype and int64 values that shape the result (Expand's shape, Tile's
 * repeats); one output of data's dtype. */
onyx_status check_data_and_shape(op_context *ctx);

/* For operators whose outputs depend on their inputs' values (control flow, sequences):
 * ONYX_DEFER at load (symbolic shapes), and when planning while an input's value, implicit
 * inputs of subgraphs included, is not known yet (an empty tensor needs none); ONYX_OK once
 * every one is. */
onyx_status need_input_values(const op_context *ctx);

#endif
