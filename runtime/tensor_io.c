/* Tensor files: NumPy .npy (read and write) and ONNX TensorProto .pb (read). */
#include "ir.h"
#include "onnx.pb-c.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define TENSOR_FILE_MAX_BYTES (INT64_C(4) << 30)

static onyx_status io_error(char *errmsg, size_t size, onyx_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static onyx_status io_error(char *errmsg, size_t size, onyx_status st, const char *fmt, ...)
{
    if (errmsg && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, size, fmt, ap);
        va_end(ap);
    }
    return st;
}

static const struct {
    const char *descr;
    onyx_dtype dtype;
} npy_types[] = {
    {"<f4", ONYX_DTYPE_FLOAT}, {"<f8", ONYX_DTYPE_DOUBLE}, {"<f2", ONYX_DTYPE_FLOAT16},
    {"<i8", ONYX_DTYPE_INT64}, {"<i4", ONYX_DTYPE_INT32},  {"<i2", ONYX_DTYPE_INT16},
    {"|i1", ONYX_DTYPE_INT8},  {"|u1", ONYX_DTYPE_UINT8},  {"<u2", ONYX_DTYPE_UINT16},
    {"<u4", ONYX_DTYPE_UINT32}, {"<u8", ONYX_DTYPE_UINT64}, {"|b1", ONYX_DTYPE_BOOL},
    {"<c8", ONYX_DTYPE_COMPLEX64}, {"<c16", ONYX_DTYPE_COMPLEX128},
};

/* Finds 'key': in the header dict and returns a pointer just past the colon. */
static const char *npy_field(const char *header, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(header, quoted);
    if (!p)
        return NULL;
    p = strchr(p + strlen(quoted), ':');
    if (!p)
        return NULL;
    for (p++; *p == ' '; p++)
        ;
    return p;
}

static onyx_status npy_read(mem *m, const unsigned char *data, size_t size, onyx_tensor *t, char *errmsg,
                            size_t errsize)
{
    if (size < 10)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "npy: file too short");
    unsigned major = data[6];
    size_t header_len, start;
    if (major == 1) {
        header_len = data[8] | (size_t)data[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12)
            return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "npy: file too short");
        header_len = data[8] | (size_t)data[9] << 8 | (size_t)data[10] << 16 | (size_t)data[11] << 24;
        start = 12;
    } else {
        return io_error(errmsg, errsize, ONYX_ERROR_UNSUPPORTED, "npy: format version %u is not supported", major);
    }
    if (header_len > size - start || header_len > 65536)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "npy: header runs past the end of the file");
    char header[65537];
    memcpy(header, data + start, header_len);
    header[header_len] = '\0';

    const char *descr = npy_field(header, "descr");
    const char *fortran = npy_field(header, "fortran_order");
    const char *shape = npy_field(header, "shape");
    if (!descr || !fortran || !shape || *descr != '\'' || *shape != '(')
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "npy: malformed header");
    if (strncmp(fortran, "False", 5) != 0)
        return io_error(errmsg, errsize, ONYX_ERROR_UNSUPPORTED, "npy: Fortran-order arrays are not supported");
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++) {
        size_t n = strlen(npy_types[i].descr);
        if (!strncmp(descr + 1, npy_types[i].descr, n) && descr[1 + n] == '\'')
            t->dtype = npy_types[i].dtype;
    }
    if (!t->dtype) {
        const char *end = strchr(descr + 1, '\'');
        int n = end ? (int)(end - descr - 1) : 0;
        return io_error(errmsg, errsize, ONYX_ERROR_UNSUPPORTED, "npy: dtype '%.*s' is not supported", n, descr + 1);
    }
    const char *p = shape + 1;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (*p < '0' || *p > '9' || t->rank == ONYX_MAX_RANK)
            return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "npy: malformed or too long shape");
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno || d < 0)
            return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "npy: bad dim in shape");
        t->dims[t->rank++] = d;
        p = end;
    }
    int64_t count = onyx_tensor_element_count(t), bytes;
    if (count < 0 || !mul_ok(count, (int64_t)onyx_dtype_size(t->dtype), &bytes))
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "npy: shape too large");
    size_t offset = start + header_len;
    if ((uint64_t)bytes != size - offset)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT,
                        "npy: the shape needs %lld bytes of data; the file has %zu", (long long)bytes,
                        size - offset);
    if (!(t->data = mem_alloc(m, (size_t)bytes)))
        return io_error(errmsg, errsize, ONYX_ERROR_OUT_OF_MEMORY, "npy: out of memory");
    memcpy(t->data, data + offset, (size_t)bytes);
    if (t->dtype == ONYX_DTYPE_BOOL)
        for (int64_t i = 0; i < bytes; i++)
            ((uint8_t *)t->data)[i] = ((uint8_t *)t->data)[i] != 0;
    return ONYX_OK;
}

static void *pb_alloc(void *ctx, size_t size) { return mem_alloc(ctx, size); }
static void pb_free(void *ctx, void *ptr) { mem_free(ctx, ptr); }

onyx_status onyx_tensor_read_buffer(const void *data, size_t size, onyx_tensor *tensor, char **name,
                                    char *errmsg, size_t errsize)
{
    if (name)
        *name = NULL;
    if (!tensor || (!data && size))
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "tensor or data is NULL");
    memset(tensor, 0, sizeof *tensor);
    mem m = {.limit = TENSOR_FILE_MAX_BYTES * 2};
    if (size >= 6 && !memcmp(data, NPY_MAGIC, 6))
        return npy_read(&m, data, size, tensor, errmsg, errsize);
    ProtobufCAllocator alloc = {.alloc = pb_alloc, .free = pb_free, .allocator_data = &m};
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&alloc, size, data);
    if (!tp)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT,
                        "neither a .npy file nor a valid ONNX TensorProto");
    limits lim = {.tensor_elements = TENSOR_FILE_MAX_BYTES};
    char msg[ERRMSG_SIZE];
    onyx_status st = tensor_from_proto(&m, &lim, NULL, tp, tensor, msg);
    if (st)
        io_error(errmsg, errsize, st, "%s", msg);
    else if (name && tp->name && tp->name[0] && !(*name = mem_strdup(&m, tp->name)))
        st = io_error(errmsg, errsize, ONYX_ERROR_OUT_OF_MEMORY, "out of memory");
    onnx__tensor_proto__free_unpacked(tp, &alloc);
    return st;
}

/* The whole file at path into a malloc'd buffer (at most 4 GiB). */
static onyx_status file_read_all(const char *path, unsigned char **out, size_t *out_size, char *errmsg,
                                 size_t errsize)
{
    struct stat sb;
    int fd = open_regular_file(path, &sb);
    if (fd == -1)
        return io_error(errmsg, errsize, ONYX_ERROR_IO, "cannot open '%s': %s", path, strerror(errno));
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f || sb.st_size > TENSOR_FILE_MAX_BYTES) {
        if (f)
            fclose(f);
        else if (fd >= 0)
            close(fd);
        return io_error(errmsg, errsize, ONYX_ERROR_IO, "'%s' is not a regular file of at most 4 GiB", path);
    }
    size_t size = (size_t)sb.st_size;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(f);
        return io_error(errmsg, errsize, ONYX_ERROR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    if (got != size) {
        free(buf);
        return io_error(errmsg, errsize, ONYX_ERROR_IO, "reading '%s' failed", path);
    }
    *out = buf;
    *out_size = size;
    return ONYX_OK;
}

onyx_status onyx_tensor_read_file(const char *path, onyx_tensor *tensor, char **name, char *errmsg,
                                  size_t errsize)
{
    if (name)
        *name = NULL;
    if (!path || !tensor)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "path or tensor is NULL");
    unsigned char *buf = NULL;
    size_t size = 0;
    onyx_status st = file_read_all(path, &buf, &size, errmsg, errsize);
    if (st)
        return st;
    char msg[ERRMSG_SIZE] = "";
    st = onyx_tensor_read_buffer(buf, size, tensor, name, msg, sizeof msg);
    free(buf);
    if (st)
        io_error(errmsg, errsize, st, "%s: %s", path, msg);
    return st;
}

/* ---- SequenceProto and OptionalProto -----------------------------------------------------
 * Two small messages of ONNX's onnx-data.proto, which onyx's vendored onnx.proto does not
 * hold: read straight from the wire here, each TensorProto inside unpacked as usual.
 *   SequenceProto: 1 name, 2 elem_type (1 tensor), 3 tensor_values (repeated), 4..7 others
 *   OptionalProto: 1 name, 2 elem_type (0 none, 1 tensor, 3 sequence), 3 tensor_value,
 *                  5 sequence_value, 4, 6, 7 others */

static bool pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* The next field at *p: its number, and for a length-delimited one its bytes. */
static bool pb_field(const unsigned char **p, const unsigned char *end, uint32_t *field, uint64_t *number,
                     const unsigned char **bytes, size_t *len)
{
    uint64_t key;
    if (!pb_varint(p, end, &key) || key >> 32)
        return false;
    *field = (uint32_t)(key >> 3);
    *bytes = NULL;
    *len = 0;
    switch (key & 7) {
    case 0: return pb_varint(p, end, number);
    case 1: if (end - *p < 8) return false; *p += 8; return true;
    case 5: if (end - *p < 4) return false; *p += 4; return true;
    case 2:
        if (!pb_varint(p, end, number) || *number > (uint64_t)(end - *p))
            return false;
        *bytes = *p;
        *len = (size_t)*number;
        *p += *len;
        return true;
    default: return false;
    }
}

static onyx_status read_value(mem *m, const unsigned char *data, size_t size, int type, onyx_tensor *out,
                              char *errmsg, size_t errsize);

/* A TensorProto's bytes into *out (data in m). */
static onyx_status read_tensor(mem *m, const unsigned char *data, size_t size, onyx_tensor *out, char *errmsg,
                               size_t errsize)
{
    ProtobufCAllocator alloc = {.alloc = pb_alloc, .free = pb_free, .allocator_data = m};
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&alloc, size, data);
    if (!tp)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "not a valid ONNX TensorProto");
    limits lim = {.tensor_elements = TENSOR_FILE_MAX_BYTES};
    char msg[ERRMSG_SIZE];
    onyx_status st = tensor_from_proto(m, &lim, NULL, tp, out, msg);
    if (st)
        io_error(errmsg, errsize, st, "%s", msg);
    onnx__tensor_proto__free_unpacked(tp, &alloc);
    return st;
}

static onyx_status read_value(mem *m, const unsigned char *data, size_t size, int type, onyx_tensor *out,
                              char *errmsg, size_t errsize)
{
    memset(out, 0, sizeof *out);
    if (!type_is_container(type))
        return read_tensor(m, data, size, out, errmsg, errsize);
    bool optional = type & ONYX_OPTIONAL;
    int item_type = container_item_type(type);
    const char *what = optional ? "OptionalProto" : "SequenceProto";
    onyx_tensor *items = NULL;
    int64_t count = 0, cap = 0;
    onyx_status st = ONYX_OK;
    const unsigned char *p = data, *end = data + size;
    while (!st && p < end) {
        uint32_t field;
        uint64_t number;
        const unsigned char *bytes;
        size_t len;
        if (!pb_field(&p, end, &field, &number, &bytes, &len)) {
            st = io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "not a valid ONNX %s", what);
            break;
        }
        bool tensor_item = field == 3 && bytes && !type_is_container(item_type);
        bool sequence_item = optional && field == 5 && bytes && type_is_container(item_type);
        if (field >= 4 && field <= 7 && bytes && !sequence_item) {
            const char *kind = field == 4   ? "sparse tensors"
                               : field == 5 ? "sequences"
                               : field == 6 ? "maps"
                                            : "optionals";
            st = io_error(errmsg, errsize, ONYX_ERROR_UNSUPPORTED, "the %s holds %s; onyx reads tensors%s only",
                          what, kind, optional ? " and sequences" : "");
            break;
        }
        if (optional && field == 3 && bytes && !tensor_item) {
            char t[64];
            st = io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT,
                          "the OptionalProto holds a tensor, not a %s", type_str(item_type, t, sizeof t));
            break;
        }
        if (!tensor_item && !sequence_item)
            continue; /* name, elem_type */
        if (optional && count == 1) {
            st = io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "the OptionalProto holds two values");
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            onyx_tensor *grown = mem_realloc(m, items, (size_t)cap * sizeof *items);
            if (!grown) {
                st = io_error(errmsg, errsize, ONYX_ERROR_OUT_OF_MEMORY, "out of memory");
                break;
            }
            items = grown;
        }
        char sub[ERRMSG_SIZE] = "";
        st = read_value(m, bytes, len, item_type, &items[count], sub, sizeof sub);
        if (st) {
            io_error(errmsg, errsize, st, "%s item %lld: %s", what, (long long)count, sub);
            break;
        }
        count++;
        if ((int)items[count - 1].dtype != item_type) {
            char a[64], b[64];
            st = io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "%s item %lld is %s, not %s", what,
                          (long long)count - 1, type_str(items[count - 1].dtype, a, sizeof a),
                          type_str(item_type, b, sizeof b));
        }
    }
    size_t block_size = st ? 0 : container_size(count, items);
    if (!st && block_size == SIZE_MAX)
        st = io_error(errmsg, errsize, ONYX_ERROR_LIMIT, "the %s is too large", what);
    void *block = st ? NULL : mem_alloc(m, block_size);
    if (!st && !block)
        st = io_error(errmsg, errsize, ONYX_ERROR_OUT_OF_MEMORY, "out of memory");
    if (!st) {
        container_write(block, block_size, count, items);
        *out = (onyx_tensor){.dtype = (onyx_dtype)type, .rank = 1, .dims = {(int64_t)block_size},
                             .data = block};
    }
    for (int64_t k = 0; k < count; k++)
        mem_free(m, items[k].data);
    mem_free(m, items);
    return st;
}

onyx_status onyx_value_read_file(const char *path, onyx_dtype type, onyx_tensor *value, char *errmsg,
                                 size_t errsize)
{
    if (!path || !value)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "path or value is NULL");
    if (!type_is_container(type))
        return onyx_tensor_read_file(path, value, NULL, errmsg, errsize);
    if (!type_valid(type))
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "type %d is not a value type",
                        (int)type);
    unsigned char *buf = NULL;
    size_t size = 0;
    onyx_status st = file_read_all(path, &buf, &size, errmsg, errsize);
    if (st)
        return st;
    mem m = {.limit = TENSOR_FILE_MAX_BYTES * 2};
    char msg[ERRMSG_SIZE] = "";
    st = read_value(&m, buf, size, type, value, msg, sizeof msg);
    free(buf);
    if (st)
        io_error(errmsg, errsize, st, "%s: %s", path, msg);
    return st;
}

void onyx_tensor_free_data(void *data)
{
    mem m = {0}; /* the accounting of a finished read no longer matters */
    mem_free(&m, data);
}

onyx_status onyx_tensor_write_npy(const char *path, const onyx_tensor *t, char *errmsg, size_t errsize)
{
    if (!path || !t)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "path or tensor is NULL");
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == t->dtype)
            descr = npy_types[i].descr;
    int64_t count = onyx_tensor_element_count(t);
    if (!descr || count < 0)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "cannot write a %s tensor as .npy",
                        onyx_dtype_name(t->dtype));
    char header[512];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(header + n, sizeof header - (size_t)n, "%lld,%s", (long long)t->dims[i],
                      i + 1 < t->rank ? " " : "");
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    /* Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64. */
    while ((10 + n + 1) % 64)
        header[n++] = ' ';
    header[n++] = '\n';

    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
        return io_error(errmsg, errsize, ONYX_ERROR_INVALID_ARGUMENT, "path too long");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return io_error(errmsg, errsize, ONYX_ERROR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return io_error(errmsg, errsize, ONYX_ERROR_IO, "cannot write '%s'", tmp);
    }
    unsigned char preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff),
                                  (unsigned char)(n >> 8)};
    size_t bytes = (size_t)count * onyx_dtype_size(t->dtype);
    bool ok = fwrite(preamble, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n &&
              (bytes == 0 || fwrite(t->data, 1, bytes, f) == bytes);
    ok = (fflush(f) == 0) && ok && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return io_error(errmsg, errsize, ONYX_ERROR_IO, "writing '%s' failed: %s", path, strerror(e));
    }
    return ONYX_OK;
}
