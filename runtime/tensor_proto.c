/* TensorProto -> dense onyx tensor. Every size is checked against the declared dims and
 * dtype before anything is copied: short or long data is an error, never a read past it. */
#include "ir.h"
#include "onnx.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Path of external data `location` inside `dir`, refusing anything that escapes it: absolute
 * paths, "..", and symlinks whose target lies outside. */
static onyx_status external_path(const char *dir, const char *location, const char *what,
                                 char resolved[PATH_MAX], char *errmsg)
{
    if (!dir)
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                         "%s: external data '%s' needs a model directory (model loaded from a "
                         "buffer without an external data directory)", what, location);
    if (location[0] == '\0' || location[0] == '/')
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                         "%s: external data location '%s' must be a relative path inside the "
                         "model's directory", what, location);
    for (const char *p = location; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                             "%s: external data location '%s' contains '..'; it must stay inside "
                             "the model's directory", what, location);
        p += len + (slash ? 1 : 0);
    }
    char base[PATH_MAX], joined[PATH_MAX];
    if (!realpath(dir, base))
        return set_error(errmsg, ONYX_ERROR_IO, "%s: cannot resolve model directory '%s': %s", what,
                         dir, strerror(errno));
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", base, location) >= sizeof joined)
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL, "%s: external data path too long", what);
    if (!realpath(joined, resolved))
        return set_error(errmsg, ONYX_ERROR_IO, "%s: cannot open external data '%s': %s", what,
                         location, strerror(errno));
    size_t n = strlen(base);
    if (strncmp(resolved, base, n) != 0 || resolved[n] != '/')
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                         "%s: external data '%s' resolves to '%s', outside the model's directory",
                         what, location, resolved);
    return ONYX_OK;
}

static bool parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return false;
    *out = v;
    return true;
}

/* Opens the external data of p and checks that it holds `bytes` from its offset: everything
 * that can be wrong is found before the tensor's memory is allocated. On success *fd is
 * open at *offset and *location names the file for messages. */
static onyx_status external_open(const char *dir, const Onnx__TensorProto *p, const char *what,
                                 size_t bytes, int *fd, int64_t *offset, const char **location,
                                 char *errmsg)
{
    int64_t length = -1;
    *offset = 0;
    *location = NULL;
    for (size_t i = 0; i < p->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = p->external_data[i];
        if (!e->key)
            continue;
        if (!strcmp(e->key, "location"))
            *location = e->value ? e->value : "";
        else if (!strcmp(e->key, "offset") && !parse_i64(e->value, offset))
            return set_error(errmsg, ONYX_ERROR_INVALID_MODEL, "%s: bad external data offset '%s'",
                             what, e->value ? e->value : "");
        else if (!strcmp(e->key, "length") && !parse_i64(e->value, &length))
            return set_error(errmsg, ONYX_ERROR_INVALID_MODEL, "%s: bad external data length '%s'",
                             what, e->value ? e->value : "");
    }
    if (!*location)
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL, "%s: external data without a location", what);
    if (length >= 0 && (uint64_t)length != bytes)
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                         "%s: external data length %lld does not match the %zu bytes its dims and "
                         "dtype need", what, (long long)length, bytes);
    char path[PATH_MAX];
    onyx_status st = external_path(dir, *location, what, path, errmsg);
    if (st)
        return st;
    struct stat sb;
    *fd = open_regular_file(path, &sb);
    if (*fd == -1)
        return set_error(errmsg, ONYX_ERROR_IO, "%s: cannot open external data '%s': %s", what,
                         *location, strerror(errno));
    if (*fd < 0)
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL, "%s: external data '%s' is not a regular file",
                         what, *location);
    if ((uint64_t)*offset > (uint64_t)sb.st_size || (uint64_t)sb.st_size - (uint64_t)*offset < bytes)
        st = set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                       "%s: external data '%s' has %lld bytes; %zu are needed from offset %lld", what,
                       *location, (long long)sb.st_size, bytes, (long long)*offset);
    if (st) {
        close(*fd);
        *fd = -1;
    }
    return st;
}

static bool external_read(int fd, int64_t offset, void *dst, size_t bytes)
{
    for (size_t done = 0; done < bytes;) {
        ssize_t r = pread(fd, (char *)dst + done, bytes - done, (off_t)offset + (off_t)done);
        if (r <= 0)
            return false;
        done += (size_t)r;
    }
    return true;
}

/* Bits per element of the dtypes ONNX packs several to a byte (in raw_data and int32_data),
 * 0 for the others. */
static int packed_bits(onyx_dtype dt)
{
    switch (dt) {
    case ONYX_DTYPE_UINT4: case ONYX_DTYPE_INT4: case ONYX_DTYPE_FLOAT4E2M1: return 4;
    case ONYX_DTYPE_UINT2: case ONYX_DTYPE_INT2: return 2;
    case ONYX_DTYPE_FLOAT6E2M3: case ONYX_DTYPE_FLOAT6E3M2: return 6;
    default: return 0;
    }
}

/* Bytes that `count` elements of a packed dtype take in raw_data: the last byte padded. */
static size_t packed_size(onyx_dtype dt, int64_t count)
{
    return (size_t)((count * packed_bits(dt) + 7) / 8);
}

/* Unpacks `count` elements of packed dtype dt from src to one per byte at dst (see onyx_dtype
 * in onyx.h), sign-extending INT4 and INT2. src may be dst: the elements are unpacked from
 * the last, whose bytes lie at or after those of every element before it, so each source
 * byte is read before it is overwritten. */
static void unpack(onyx_dtype dt, const uint8_t *src, int64_t count, uint8_t *dst)
{
    int bits = packed_bits(dt);
    unsigned mask = (1u << bits) - 1, sign = dt == ONYX_DTYPE_INT4 ? 8 : dt == ONYX_DTYPE_INT2 ? 2 : 0;
    for (int64_t i = count - 1; i >= 0; i--) {
        int64_t bit = i * bits;
        unsigned word = src[bit / 8];
        if (bit % 8 + bits > 8) /* a 6-bit element across two bytes */
            word |= (unsigned)src[bit / 8 + 1] << 8;
        unsigned v = (word >> (bit % 8)) & mask;
        dst[i] = sign ? (uint8_t)((v ^ sign) - sign) : (uint8_t)v; /* two's complement */
    }
}

/* Elements held by the typed field (float_data, int32_data, ...) that carries dtype dt; for
 * the packed dtypes, the entries of int32_data that the dims need instead. */
static size_t typed_count(const Onnx__TensorProto *p, onyx_dtype dt)
{
    switch (dt) {
    case ONYX_DTYPE_FLOAT: return p->n_float_data;
    case ONYX_DTYPE_COMPLEX64: return p->n_float_data / 2;
    case ONYX_DTYPE_DOUBLE: return p->n_double_data;
    case ONYX_DTYPE_COMPLEX128: return p->n_double_data / 2;
    case ONYX_DTYPE_INT64: return p->n_int64_data;
    case ONYX_DTYPE_UINT32: case ONYX_DTYPE_UINT64: return p->n_uint64_data;
    default: return p->n_int32_data; /* the narrower types: integers, bool, 16 and 8-bit floats */
    }
}

/* The entries of int32_data that `count` elements of dt need: 4-bit elements two to an
 * entry, 2-bit four; 6-bit ones take one entry each (they are not packed there). */
static size_t typed_needed(onyx_dtype dt, int64_t count)
{
    int bits = packed_bits(dt);
    return bits == 4 || bits == 2 ? packed_size(dt, count) : (size_t)count;
}

/* An empty repeated field may have a NULL array, which memcpy must not see even for 0 bytes. */
static void copy_field(void *dst, const void *src, size_t n, size_t size)
{
    if (n)
        memcpy(dst, src, n * size);
}

/* Copies the typed data of p, holding `n` elements (see typed_count), into dst. */
static void copy_typed(const Onnx__TensorProto *p, onyx_dtype dt, size_t n, void *dst)
{
    switch (dt) {
    case ONYX_DTYPE_FLOAT: copy_field(dst, p->float_data, n, sizeof(float)); return;
    case ONYX_DTYPE_COMPLEX64: copy_field(dst, p->float_data, 2 * n, sizeof(float)); return;
    case ONYX_DTYPE_DOUBLE: copy_field(dst, p->double_data, n, sizeof(double)); return;
    case ONYX_DTYPE_COMPLEX128: copy_field(dst, p->double_data, 2 * n, sizeof(double)); return;
    case ONYX_DTYPE_INT64: copy_field(dst, p->int64_data, n, sizeof(int64_t)); return;
    case ONYX_DTYPE_UINT32:
    case ONYX_DTYPE_UINT64:
        for (size_t i = 0; i < n; i++) {
            if (dt == ONYX_DTYPE_UINT32)
                ((uint32_t *)dst)[i] = (uint32_t)p->uint64_data[i];
            else
                ((uint64_t *)dst)[i] = p->uint64_data[i];
        }
        return;
    default:
        for (size_t i = 0; i < n; i++) {
            int32_t v = p->int32_data[i];
            switch (dt) {
            case ONYX_DTYPE_INT32: ((int32_t *)dst)[i] = v; break;
            case ONYX_DTYPE_INT16: ((int16_t *)dst)[i] = (int16_t)v; break;
            case ONYX_DTYPE_INT8: ((int8_t *)dst)[i] = (int8_t)v; break;
            case ONYX_DTYPE_BOOL: ((uint8_t *)dst)[i] = v != 0; break;
            case ONYX_DTYPE_UINT16: case ONYX_DTYPE_FLOAT16: case ONYX_DTYPE_BFLOAT16:
                ((uint16_t *)dst)[i] = (uint16_t)v; /* uint16, float16 and bfloat16 bits */
                break;
            case ONYX_DTYPE_FLOAT6E2M3: case ONYX_DTYPE_FLOAT6E3M2:
                ((uint8_t *)dst)[i] = (uint8_t)(v & 0x3f); /* one per entry, bits 0-5 */
                break;
            default: ((uint8_t *)dst)[i] = (uint8_t)v; break; /* uint8, 8-bit floats, packed bytes */
            }
        }
        return;
    }
}

/* The alignment raw_data must have to be used in place: that of the element's C type. */
static size_t element_alignment(onyx_dtype dt)
{
    size_t size = onyx_dtype_size(dt);
    return dt == ONYX_DTYPE_COMPLEX64 || dt == ONYX_DTYPE_COMPLEX128 ? size / 2 : size;
}

/* tensor_from_proto, borrowing raw_data in place when `borrowed` is not NULL and it can. */
static onyx_status tensor_import(mem *m, const limits *lim, const char *dir, const Onnx__TensorProto *p,
                                 onyx_tensor *out, bool *borrowed, char *errmsg)
{
    char what[200];
    snprintf(what, sizeof what, "tensor '%s'", p->name ? p->name : "");
    memset(out, 0, sizeof *out);
    if (!p->has_data_type || !dtype_valid(p->data_type))
        return set_error(errmsg, ONYX_ERROR_INVALID_MODEL, "%s has invalid data type %d", what,
                         p->has_data_type ? p->data_type : 0);
    onyx_dtype dt = (onyx_dtype)p->data_type;
    if (p->segment)
        return set_error(errmsg, ONYX_ERROR_UNSUPPORTED, "%s: segmented tensors are not supported", what);
    if (p->n_dims > ONYX_MAX_RANK)
        return set_error(errmsg, ONYX_ERROR_UNSUPPORTED, "%s has rank %zu; onyx handles ranks up to %d",
                         what, p->n_dims, ONYX_MAX_RANK);
    out->dtype = dt;
    out->rank = (int)p->n_dims;
    for (size_t i = 0; i < p->n_dims; i++)
        out->dims[i] = p->dims[i];
    onyx_status st = shape_validate(out, lim, what, errmsg);
    if (st)
        return st;
    if (dt == ONYX_DTYPE_STRING) /* never borrowed: the block is built from string_data */
        return string_from_proto(m, p, out, what, errmsg);
    int64_t count = tensor_count(out), nbytes;
    if (!mul_ok(count, (int64_t)onyx_dtype_size(dt), &nbytes))
        return set_error(errmsg, ONYX_ERROR_LIMIT, "%s is too large", what);
    size_t bytes = (size_t)nbytes;
    /* The packed dtypes take fewer bytes in ONNX (`stored`) than in onyx (`bytes`). */
    bool packed = packed_bits(dt) != 0;
    size_t stored = packed ? packed_size(dt, count) : bytes;
    size_t typed = packed ? typed_needed(dt, count) : (size_t)count;
    const char *unit = packed && packed_bits(dt) != 6 ? "int32_data entries" : "elements";

    /* The data must be there, in the amount the dims declare, before memory is allocated:
     * a few bytes declaring a huge tensor fail here, not after a huge allocation. */
    bool external = p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    int fd = -1;
    int64_t offset = 0;
    const char *location = NULL;
    if (external)
        st = external_open(dir, p, what, stored, &fd, &offset, &location, errmsg);
    else if (p->has_raw_data && p->raw_data.len != stored)
        st = set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                       "%s: raw_data has %zu bytes but dims %s of %s need %zu", what, p->raw_data.len,
                       shape_str(out, (char[96]){0}, 96), onyx_dtype_name(dt), stored);
    else if (!p->has_raw_data && typed_count(p, dt) != typed)
        st = set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                       "%s: its typed data holds %zu %s, not the %zu %s its dims %s declare", what,
                       typed_count(p, dt), unit, typed, unit, shape_str(out, (char[96]){0}, 96));
    if (st)
        return st;

    if (borrowed) {
        *borrowed = !external && p->has_raw_data && bytes > 0 && dt != ONYX_DTYPE_BOOL && !packed &&
                    (uintptr_t)p->raw_data.data % element_alignment(dt) == 0;
        if (*borrowed) {
            out->data = p->raw_data.data;
            return ONYX_OK;
        }
    }
    void *data = mem_alloc_raw(m, bytes);
    if (!data) {
        if (fd >= 0)
            close(fd);
        return set_error(errmsg, ONYX_ERROR_LIMIT,
                         "%s: cannot allocate %zu bytes (out of memory or above the memory limit)",
                         what, bytes);
    }
    if (external) {
        if (!external_read(fd, offset, data, stored))
            st = set_error(errmsg, ONYX_ERROR_IO, "%s: reading external data '%s' failed", what, location);
        close(fd);
    } else if (p->has_raw_data) {
        copy_field(data, p->raw_data.data, stored, 1);
        if (dt == ONYX_DTYPE_BOOL)
            for (size_t i = 0; i < bytes; i++)
                ((uint8_t *)data)[i] = ((uint8_t *)data)[i] != 0;
    } else {
        copy_typed(p, dt, typed, data);
    }
    /* The packed bytes were read to the front of the buffer: spread them out in place. Not
     * 6-bit typed data, which is one element per entry already. */
    if (!st && packed && (p->has_raw_data || external || packed_bits(dt) != 6))
        unpack(dt, data, count, data);
    if (st) {
        mem_free(m, data);
        return st;
    }
    out->data = data;
    return ONYX_OK;
}

onyx_status tensor_from_proto(mem *m, const limits *lim, const char *dir, const Onnx__TensorProto *p,
                              onyx_tensor *out, char *errmsg)
{
    return tensor_import(m, lim, dir, p, out, NULL, errmsg);
}

onyx_status tensor_from_proto_borrow(mem *m, const limits *lim, const char *dir,
                                     const Onnx__TensorProto *p, onyx_tensor *out, bool *borrowed,
                                     char *errmsg)
{
    *borrowed = false;
    return tensor_import(m, lim, dir, p, out, borrowed, errmsg);
}
