/* String tensors: the one block a string tensor's data is (layout in ops/op.h and onyx.h).
 *
 * A string tensor has a real shape but elements of any length, so, like a sequence
 * (runtime/container.c), its data is one self-contained block: a header (size, count), one
 * (offset, length) entry per element and the bytes, each string followed by a NUL. Offsets,
 * not pointers: the block means the same wherever it is copied, so a value moves with one
 * memcpy of value_bytes() (an output into a caller's buffer, a subgraph's result) and is freed
 * with one mem_free. Strings are bytes: onyx never requires UTF-8 of them except where an
 * operator interprets characters (StringNormalizer, RegexFullMatch, StringSplit). */
#include "ir.h"
#include "onnx.pb-c.h"

#include <stdio.h>
#include <string.h>

bool type_is_string(int dtype) { return dtype == ONYX_DTYPE_STRING; }

size_t string_block_size(int64_t count, int64_t chars) { return op_string_block_size(count, chars); }

/* Lays out a block of `count` strings; `strings[i]` may be NULL when `lengths[i]` is 0. */
static void string_block_write(void *block, size_t size, int64_t count, const char *const *strings,
                               const size_t *lengths)
{
    int64_t *h = block;
    h[0] = (int64_t)size;
    h[1] = count;
    onyx_tensor t = {.dtype = ONYX_DTYPE_STRING, .rank = 1, .dims = {count}, .data = block};
    op_string_writer w;
    op_string_begin(&w, &t);
    for (int64_t i = 0; i < count; i++)
        op_string_put(&w, strings[i], lengths[i]);
}

onyx_status op_string_size(op_context *ctx, int o, int64_t chars)
{
    onyx_tensor *out = op_output(ctx, o);
    if (!out || !ctx->string_bytes || !ctx->concrete)
        return ONYX_OK;
    for (int d = 0; d < out->rank; d++)
        if (!dim_known(out->dims[d]))
            return ONYX_OK; /* node_reshape defers such a shape, or refuses it */
    size_t size = op_string_block_size(tensor_count(out), chars);
    int64_t limit = ctx->env->limits->memory_bytes;
    if (size == SIZE_MAX || (limit > 0 && size > (size_t)limit))
        return op_error(ctx, ONYX_ERROR_LIMIT, "output '%s' (%lld strings of %lld bytes in all) is too large",
                        op_output_name(ctx, o), (long long)tensor_count(out), (long long)chars);
    ctx->string_bytes[o] = size;
    return ONYX_OK;
}

onyx_status string_validate(const onyx_tensor *t, const limits *lim, const char *what, char *errmsg)
{
    onyx_status st = shape_validate(t, lim, what, errmsg);
    if (st)
        return st;
    int64_t count = tensor_count(t);
    if (!t->data)
        return count ? set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT, "%s: data is NULL", what) : ONYX_OK;
    if ((uintptr_t)t->data % 8)
        return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT, "%s: a string block must be 8-byte aligned",
                         what);
    const int64_t *h = t->data;
    size_t min = op_string_block_size(count, 0);
    if (h[1] != count || min == SIZE_MAX || h[0] < (int64_t)min)
        return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT, "%s: not a string block of %lld elements "
                         "(its header says %lld elements, %lld bytes)", what, (long long)count,
                         (long long)h[1], (long long)h[0]);
    if (lim->memory_bytes > 0 && h[0] > lim->memory_bytes)
        return set_error(errmsg, ONYX_ERROR_LIMIT,
                         "%s: its string block (%lld bytes) exceeds the memory limit",
                         what, (long long)h[0]);
    const op_string_entry *e = (const op_string_entry *)((const char *)t->data + OP_STRING_HEADER);
    int64_t start = OP_STRING_HEADER + count * (int64_t)sizeof *e;
    const char *base = t->data;
    for (int64_t i = 0; i < count; i++)
        /* Each string and its NUL inside the block, after the entries. */
        if (e[i].offset < start || e[i].length < 0 || e[i].offset > h[0] ||
            e[i].length >= h[0] - e[i].offset ||
            base[e[i].offset + e[i].length] != '\0')
            return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT,
                             "%s: string %lld lies outside the block or lacks its NUL", what, (long long)i);
    return ONYX_OK;
}

onyx_status string_from_proto(mem *m, const Onnx__TensorProto *p, onyx_tensor *out, const char *what,
                              char *errmsg)
{
    int64_t count = tensor_count(out), chars = 0;
    if (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return set_error(errmsg, ONYX_ERROR_UNSUPPORTED,
                         "%s: external data of a string tensor is not supported",
                         what);
    if (p->has_raw_data && p->raw_data.len)
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                         "%s: a string tensor keeps its data in string_data, "
                         "not raw_data", what);
    if ((int64_t)p->n_string_data != count)
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                         "%s: string_data holds %zu strings, not the %lld its "
                         "dims %s declare", what, p->n_string_data, (long long)count,
                         shape_str(out, (char[96]){0}, 96));
    for (int64_t i = 0; i < count; i++)
        chars += (int64_t)p->string_data[i].len; /* each within the protobuf's bytes: no overflow */
    size_t size = op_string_block_size(count, chars);
    void *block = size == SIZE_MAX ? NULL : mem_alloc_raw(m, size);
    if (!block)
        return set_error(errmsg, ONYX_ERROR_LIMIT,
                         "%s: cannot allocate %zu bytes of strings (out of memory or "
                         "above the memory limit)", what, size);
    /* Written element by element: the protobuf's strings are (pointer, length) pairs. */
    int64_t *h = block;
    h[0] = (int64_t)size;
    h[1] = count;
    op_string_writer w;
    out->data = block;
    op_string_begin(&w, out);
    for (int64_t i = 0; i < count; i++)
        op_string_put(&w, (const char *)p->string_data[i].data, p->string_data[i].len);
    return ONYX_OK;
}

const char *onyx_string_at(const onyx_tensor *t, int64_t index, size_t *length)
{
    if (!t || t->dtype != ONYX_DTYPE_STRING || !t->data || index < 0)
        return NULL;
    int64_t count = onyx_tensor_element_count(t);
    if (index >= count || ((const int64_t *)t->data)[1] != count)
        return NULL;
    size_t len;
    const char *s = op_string_at(t, index, &len);
    if (length)
        *length = len;
    return s;
}

onyx_status onyx_string_tensor_pack(int rank, const int64_t *dims, const char *const *strings,
                                    const size_t *lengths, onyx_tensor *tensor)
{
    if (!tensor || rank < 0 || rank > ONYX_MAX_RANK || (rank && !dims))
        return ONYX_ERROR_INVALID_ARGUMENT;
    onyx_tensor t = {.dtype = ONYX_DTYPE_STRING, .rank = rank};
    for (int d = 0; d < rank; d++)
        t.dims[d] = dims[d];
    limits lim = {.tensor_elements = INT64_MAX / 32};
    char why[ERRMSG_SIZE];
    if (shape_validate(&t, &lim, "tensor", why))
        return ONYX_ERROR_INVALID_ARGUMENT;
    int64_t count = tensor_count(&t), chars = 0;
    if (count && !strings)
        return ONYX_ERROR_INVALID_ARGUMENT;
    mem m = {.limit = INT64_MAX};
    size_t *lens = mem_alloc(&m, (size_t)count * sizeof(size_t) + 1);
    if (!lens)
        return ONYX_ERROR_OUT_OF_MEMORY;
    onyx_status st = ONYX_OK;
    for (int64_t i = 0; i < count && !st; i++) {
        lens[i] = lengths ? lengths[i] : strings[i] ? strlen(strings[i]) : 0;
        if ((!strings[i] && lens[i]) || lens[i] > (size_t)INT64_MAX / 4 || !add_ok(chars, (int64_t)lens[i],
                                                                                   &chars))
            st = ONYX_ERROR_INVALID_ARGUMENT;
    }
    size_t size = st ? SIZE_MAX : op_string_block_size(count, chars);
    void *block = NULL;
    if (!st && size == SIZE_MAX)
        st = ONYX_ERROR_INVALID_ARGUMENT;
    if (!st && !(block = mem_alloc(&m, size)))
        st = ONYX_ERROR_OUT_OF_MEMORY;
    if (!st) {
        string_block_write(block, size, count, strings, lens);
        t.data = block;
        *tensor = t;
    }
    mem_free(&m, lens);
    return st;
}
