/* Dims and shapes: a leaf module (it needs only onyx.h) that operators (through op.h) and the
 * runtime share, so that neither takes these helpers from the other. */
#ifndef ONYX_SHAPE_H
#define ONYX_SHAPE_H

#include "onyx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- dims ------------------------------------------------------------------------------- */

/* During load-time inference a dim may be symbolic: DIM_UNKNOWN, or the id of a named
 * symbol ("batch") encoded as a value <= -2. Concrete dims are >= 0. */
#define DIM_UNKNOWN ((int64_t)-1)
static inline bool dim_known(int64_t d) { return d >= 0; }
/* Two dims that may be equal: both symbolic, or the same. */
static inline bool dim_may_equal(int64_t a, int64_t b) { return a == b || !dim_known(a) || !dim_known(b); }
/* Sum and product that stay unknown when an operand is unknown (no overflow check: dims are
 * bounded by the element limit before they reach arithmetic). */
static inline int64_t dim_add(int64_t a, int64_t b) { return dim_known(a) && dim_known(b) ? a + b : DIM_UNKNOWN; }
static inline int64_t dim_mul(int64_t a, int64_t b) { return dim_known(a) && dim_known(b) ? a * b : DIM_UNKNOWN; }

/* Element count of dims[0..rank) (1 for rank 0); no overflow: shapes are limit-checked. */
int64_t shape_count(const int64_t *dims, int rank);
/* Writes "[2,3,batch]"-style text of a shape into buf, for messages. */
const char *shape_str(const onyx_tensor *t, char *buf, size_t size);
/* Splits dims around `axis`: outer = product before it, len = dims[axis], inner = product
 * after it. */
void shape_split(const onyx_tensor *t, int axis, int64_t *outer, int64_t *len, int64_t *inner);
/* Sets out's rank and dims. */
void tensor_set_shape(onyx_tensor *out, int rank, const int64_t *dims);
/* Reads element i of an integer tensor (int32 or int64) as int64. */
int64_t tensor_int_at(const onyx_tensor *t, int64_t i);
/* Reads an int32 / int64 tensor as a list of ints into dst (at most max); -1 on bad dtype. */
int64_t tensor_read_ints(const onyx_tensor *t, int64_t *dst, int64_t max);
/* Element count of a tensor whose dims are known. */
static inline int64_t tensor_count(const onyx_tensor *t) { return shape_count(t->dims, t->rank); }
static inline size_t tensor_bytes(const onyx_tensor *t)
{
    return (size_t)tensor_count(t) * onyx_dtype_size(t->dtype);
}

#endif /* ONYX_SHAPE_H */
