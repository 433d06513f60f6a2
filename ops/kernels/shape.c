/* Shapes and small integer tensors: the helpers every layer uses (see shape.h). */
#include "shape.h"

#include <stdio.h>

int64_t shape_count(const int64_t *dims, int rank)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

const char *shape_str(const onyx_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    if (t->rank < 0) {
        snprintf(buf, size, "[?]");
        return buf;
    }
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->rank && used < size; i++) {
        int64_t d = t->dims[i];
        if (dim_known(d))
            used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "", (long long)d);
        else
            used += (size_t)snprintf(buf + used, size - used, "%s?", i ? "," : "");
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

void shape_split(const onyx_tensor *t, int axis, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = shape_count(t->dims, axis);
    *len = axis < t->rank ? t->dims[axis] : 1;
    *inner = axis < t->rank ? shape_count(t->dims + axis + 1, t->rank - axis - 1) : 1;
}

void tensor_set_shape(onyx_tensor *out, int rank, const int64_t *dims)
{
    out->rank = rank;
    for (int i = 0; i < rank; i++)
        out->dims[i] = dims[i];
}

int64_t tensor_int_at(const onyx_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ONYX_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    case ONYX_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case ONYX_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
    case ONYX_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

int64_t tensor_read_ints(const onyx_tensor *t, int64_t *dst, int64_t max)
{
    if (t->dtype != ONYX_DTYPE_INT64 && t->dtype != ONYX_DTYPE_INT32)
        return -1;
    int64_t n = tensor_count(t);
    if (n > max)
        return -1;
    for (int64_t i = 0; i < n; i++)
        dst[i] = tensor_int_at(t, i);
    return n;
}
