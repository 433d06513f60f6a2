/* Sequences and optionals: the one block a value of either kind lives in (see onyx.h).
 *
 * Layout, all offsets from the block's start, every part 64-byte aligned:
 *   container_header                      count, total bytes
 *   container_record[count]               each item's type, shape and data offset
 *   item data, in order                   an item that is itself a sequence (an optional of
 *                                         a sequence) is such a block, nested
 * No pointer is stored: the block means the same wherever it is copied (a plain memcpy moves
 * it between a plan, a subgraph's results and a caller's buffer). Blocks made by onyx are
 * trusted; one from a caller is checked whole (container_validate) before any operator sees
 * it. */
#include "ir.h"

#include <stdio.h>
#include <string.h>

#define BLOCK_ALIGN 64

typedef struct container_header {
    int64_t count;
    int64_t bytes;
} container_header;

typedef struct container_record {
    int32_t dtype;
    int32_t rank;
    int64_t dims[ONYX_MAX_RANK];
    int64_t offset;
} container_record;

static size_t align_up(size_t n) { return (n + BLOCK_ALIGN - 1) & ~(size_t)(BLOCK_ALIGN - 1); }

bool type_is_container(int dtype) { return (dtype & (ONYX_SEQUENCE | ONYX_OPTIONAL)) != 0; }

bool type_valid(int dtype)
{
    int flags = dtype & ~0xff;
    if (flags & ~(ONYX_SEQUENCE | ONYX_OPTIONAL))
        return false;
    return dtype_valid(dtype & 0xff);
}

int container_item_type(int dtype)
{
    return dtype & ONYX_OPTIONAL ? dtype & ~ONYX_OPTIONAL : dtype & 0xff;
}

size_t value_bytes(const onyx_tensor *t)
{
    if (type_is_container(t->dtype))
        return t->rank == 1 && t->dims[0] > 0 ? (size_t)t->dims[0] : 0;
    return op_value_bytes(t); /* a string tensor's block: its size in its header */
}

const char *type_str(int dtype, char *buf, size_t size)
{
    const char *elem = onyx_dtype_name((onyx_dtype)(dtype & 0xff));
    if ((dtype & ONYX_OPTIONAL) && (dtype & ONYX_SEQUENCE))
        snprintf(buf, size, "optional(sequence(%s))", elem);
    else if (dtype & ONYX_OPTIONAL)
        snprintf(buf, size, "optional(%s)", elem);
    else if (dtype & ONYX_SEQUENCE)
        snprintf(buf, size, "sequence(%s)", elem);
    else
        snprintf(buf, size, "%s", elem);
    return buf;
}

size_t container_size(int64_t count, const onyx_tensor *items)
{
    if (count < 0 || (uint64_t)count > (SIZE_MAX / 2 - sizeof(container_header)) / sizeof(container_record))
        return SIZE_MAX;
    size_t total = align_up(sizeof(container_header) + (size_t)count * sizeof(container_record));
    for (int64_t k = 0; k < count; k++) {
        size_t bytes = value_bytes(&items[k]);
        if (bytes > SIZE_MAX / 4 || total > SIZE_MAX / 4)
            return SIZE_MAX;
        total += align_up(bytes);
    }
    return total;
}

void container_write(void *block, size_t size, int64_t count, const onyx_tensor *items)
{
    unsigned char *base = block;
    container_header *h = block;
    container_record *r = (container_record *)(h + 1);
    h->count = count;
    h->bytes = (int64_t)size;
    size_t at = align_up(sizeof(container_header) + (size_t)count * sizeof(container_record));
    for (int64_t k = 0; k < count; k++) {
        const onyx_tensor *t = &items[k];
        size_t bytes = value_bytes(t);
        memset(&r[k], 0, sizeof r[k]);
        r[k].dtype = (int32_t)t->dtype;
        r[k].rank = t->rank;
        memcpy(r[k].dims, t->dims, (size_t)t->rank * sizeof(int64_t));
        r[k].offset = (int64_t)at;
        if (t->data && bytes)
            memcpy(base + at, t->data, bytes);
        at += align_up(bytes);
    }
}

int64_t onyx_value_length(const onyx_tensor *v)
{
    if (!v || !type_is_container(v->dtype) || !v->data)
        return -1;
    return ((const container_header *)v->data)->count;
}

onyx_status onyx_value_item(const onyx_tensor *v, int64_t index, onyx_tensor *item)
{
    int64_t n = onyx_value_length(v);
    if (!item || n < 0 || index < 0 || index >= n)
        return ONYX_ERROR_INVALID_ARGUMENT;
    const container_record *r = (const container_record *)((const container_header *)v->data + 1) + index;
    if (r->rank < 0 || r->rank > ONYX_MAX_RANK)
        return ONYX_ERROR_INVALID_ARGUMENT;
    memset(item, 0, sizeof *item);
    item->dtype = (onyx_dtype)r->dtype;
    item->rank = r->rank;
    memcpy(item->dims, r->dims, (size_t)r->rank * sizeof(int64_t));
    item->data = (unsigned char *)v->data + r->offset;
    return ONYX_OK;
}

onyx_status container_validate(const onyx_tensor *v, const limits *lim, const char *what, char *errmsg)
{
    char type[64];
    if (v->rank != 1 || v->dims[0] < (int64_t)sizeof(container_header) || !v->data)
        return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT, "%s: a %s value must have rank 1, its block's "
                         "size in dims[0] and data", what, type_str(v->dtype, type, sizeof type));
    if ((uintptr_t)v->data % 16)
        return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT, "%s: the block must be 16-byte aligned", what);
    const container_header *h = v->data;
    int64_t size = v->dims[0];
    if (h->bytes != size || h->count < 0 ||
        h->count > (size - (int64_t)sizeof *h) / (int64_t)sizeof(container_record))
        return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT, "%s: not a %s block (bad header)", what,
                         type_str(v->dtype, type, sizeof type));
    if ((v->dtype & ONYX_OPTIONAL) && h->count > 1)
        return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT,
                         "%s: an optional holds at most one item, not %lld", what, (long long)h->count);
    int want = container_item_type(v->dtype);
    int64_t end = (int64_t)align_up(sizeof *h + (size_t)h->count * sizeof(container_record));
    for (int64_t k = 0; k < h->count; k++) {
        const container_record *r = (const container_record *)(h + 1) + k;
        onyx_tensor item;
        char sub[300];
        snprintf(sub, sizeof sub, "%s item %lld", what, (long long)k);
        if (r->dtype != want)
            return set_error(errmsg, ONYX_ERROR_INVALID_INPUT, "%s has type %s; the %s holds %s", sub,
                             type_str(r->dtype, type, sizeof type), v->dtype & ONYX_OPTIONAL ? "optional"
                             : "sequence", type_str(want, type + 32, sizeof type - 32));
        if (onyx_value_item(v, k, &item))
            return set_error(errmsg, ONYX_ERROR_INVALID_INPUT, "%s has rank %d", sub, r->rank);
        onyx_status st = type_is_container(r->dtype) ? ONYX_OK : shape_validate(&item, lim, sub, errmsg);
        if (st)
            return st;
        if (r->offset < end || r->offset % 16 || r->offset > size)
            return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT, "%s: its data lies outside the block", sub);
        /* A string tensor's size is in its own header: read only once it is inside the block,
         * and its elements checked within that size. */
        if (type_is_string(r->dtype) &&
            (size - r->offset < 16 || ((const int64_t *)item.data)[0] > size - r->offset ||
             (st = string_validate(&item, lim, sub, errmsg))))
            return st ? st : set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT,
                                       "%s: its data lies outside the block", sub);
        size_t bytes = value_bytes(&item);
        if ((int64_t)bytes > size - r->offset)
            return set_error(errmsg, ONYX_ERROR_INVALID_ARGUMENT, "%s: its data lies outside the block", sub);
        end = r->offset + (int64_t)bytes;
        if (type_is_container(r->dtype) && (st = container_validate(&item, lim, sub, errmsg)))
            return st;
    }
    return ONYX_OK;
}

onyx_status onyx_value_pack(onyx_dtype type, int64_t count, const onyx_tensor *items, onyx_tensor *value)
{
    if (!value || !type_is_container(type) || !type_valid(type) || count < 0 || (count && !items) ||
        ((type & ONYX_OPTIONAL) && count > 1))
        return ONYX_ERROR_INVALID_ARGUMENT;
    int want = container_item_type(type);
    limits lim = {.tensor_elements = INT64_MAX / 16};
    char why[ERRMSG_SIZE];
    for (int64_t k = 0; k < count; k++) {
        const onyx_tensor *t = &items[k];
        if ((int)t->dtype != want)
            return ONYX_ERROR_INVALID_ARGUMENT;
        bool bad = type_is_container(t->dtype)
                       ? container_validate(t, &lim, "item", why) != ONYX_OK
                   : type_is_string(t->dtype) /* its block, header included, goes in whole */
                       ? !t->data || string_validate(t, &lim, "item", why) != ONYX_OK
                       : shape_validate(t, &lim, "item", why) != ONYX_OK || (!t->data && tensor_count(t));
        if (bad)
            return ONYX_ERROR_INVALID_ARGUMENT;
    }
    size_t size = container_size(count, items);
    if (size == SIZE_MAX)
        return ONYX_ERROR_INVALID_ARGUMENT;
    mem m = {.limit = INT64_MAX};
    void *block = mem_alloc(&m, size);
    if (!block)
        return ONYX_ERROR_OUT_OF_MEMORY;
    container_write(block, size, count, items);
    *value = (onyx_tensor){.dtype = type, .rank = 1, .dims = {(int64_t)size}, .data = block};
    return ONYX_OK;
}
