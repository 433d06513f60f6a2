/* Splitting the initializers' raw_data out of model bytes. See raw_data.h.
 *
 * Only three levels of messages are walked; everything else is copied to the skeleton as it
 * is, for protobuf-c to validate. Each level is written in two passes: one measuring a nested
 * message's new length (needed first, for its length prefix), one writing it. */
#include "raw_data.h"

#include <string.h>

enum level { LEVEL_MODEL, LEVEL_GRAPH, LEVEL_TENSOR };

/* The length-delimited field followed at each level: ModelProto.graph,
 * GraphProto.initializer, TensorProto.raw_data. */
static const uint32_t followed_field[] = {[LEVEL_MODEL] = 7, [LEVEL_GRAPH] = 5, [LEVEL_TENSOR] = 9};

enum wire_type { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

#define MALFORMED SIZE_MAX

typedef struct field {
    uint32_t number;
    int wire_type;
    const uint8_t *start;   /* the tag's first byte */
    const uint8_t *payload; /* a length-delimited field's content */
    const uint8_t *end;     /* just past the field */
} field;

typedef struct walk {
    mem *mem;
    raw_data_span *spans;
    int n_spans;
    int cap;
} walk;

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value = v;
            return true;
        }
    }
    return false;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

static uint8_t *write_varint(uint8_t *out, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        *out++ = (uint8_t)(v | 0x80);
    *out++ = (uint8_t)v;
    return out;
}

/* Reads the field at *p, advancing past it. False when it is malformed or a group. */
static bool next_field(const uint8_t **p, const uint8_t *end, field *f)
{
    uint64_t tag, len;
    f->start = *p;
    if (!read_varint(p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return false;
    f->number = (uint32_t)(tag >> 3);
    f->wire_type = (int)(tag & 7);
    switch (f->wire_type) {
    case WIRE_VARINT:
        if (!read_varint(p, end, &len))
            return false;
        break;
    case WIRE_FIXED64:
    case WIRE_FIXED32: {
        size_t n = f->wire_type == WIRE_FIXED64 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return false;
        *p += n;
        break;
    }
    case WIRE_LEN:
        if (!read_varint(p, end, &len) || len > (uint64_t)(end - *p))
            return false;
        f->payload = *p;
        *p += len;
        break;
    default:
        return false; /* groups: onnx.proto has none */
    }
    f->end = *p;
    return true;
}

static bool add_span(walk *w)
{
    if (w->n_spans == w->cap) {
        int cap = w->cap ? w->cap * 2 : 64;
        raw_data_span *grown = mem_realloc(w->mem, w->spans, (size_t)cap * sizeof *grown);
        if (!grown)
            return false;
        w->spans = grown;
        w->cap = cap;
    }
    w->spans[w->n_spans++] = (raw_data_span){0};
    return true;
}

/* Writes the `size` bytes of message `msg` at `level` to `out` without raw_data payloads, or
 * only measures them when out is NULL. Spans are recorded while writing. Returns the bytes
 * written (or that would be), or MALFORMED. */
static size_t strip(walk *w, enum level level, const uint8_t *msg, size_t size, uint8_t *out)
{
    const uint8_t *p = msg, *end = msg + size;
    size_t written = 0;
    int followed = 0;
    while (p < end) {
        field f;
        if (!next_field(&p, end, &f))
            return MALFORMED;
        size_t field_size = (size_t)(f.end - f.start);
        if (f.wire_type != WIRE_LEN || f.number != followed_field[level]) {
            if (out)
                memcpy(out + written, f.start, field_size);
            written += field_size;
            continue;
        }
        size_t payload_size = (size_t)(f.end - f.payload);
        if (level == LEVEL_TENSOR) { /* raw_data: dropped; the last one counts, as in protobuf */
            if (out)
                w->spans[w->n_spans - 1] = (raw_data_span){f.payload, payload_size};
            continue;
        }
        if (level == LEVEL_MODEL && ++followed > 1)
            return MALFORMED; /* two graph fields to merge: leave it to protobuf-c */
        if (out && level == LEVEL_GRAPH && !add_span(w))
            return MALFORMED;
        size_t inner = strip(w, level + 1, f.payload, payload_size, NULL);
        if (inner == MALFORMED)
            return MALFORMED;
        uint64_t tag = (uint64_t)f.number << 3 | WIRE_LEN;
        if (out) {
            uint8_t *at = write_varint(write_varint(out + written, tag), inner);
            if (strip(w, level + 1, f.payload, payload_size, at) != inner)
                return MALFORMED;
        }
        written += varint_size(tag) + varint_size(inner) + inner;
    }
    return written;
}

bool raw_data_split_model(mem *m, const uint8_t *data, size_t size, raw_data_split *out)
{
    memset(out, 0, sizeof *out);
    walk w = {.mem = m};
    size_t skeleton_size = strip(&w, LEVEL_MODEL, data, size, NULL);
    if (skeleton_size == MALFORMED || skeleton_size == size)
        return false; /* malformed, or no raw_data to take out */
    uint8_t *skeleton = mem_alloc(m, skeleton_size ? skeleton_size : 1);
    if (!skeleton || strip(&w, LEVEL_MODEL, data, size, skeleton) != skeleton_size) {
        mem_free(m, skeleton);
        mem_free(m, w.spans);
        return false;
    }
    *out = (raw_data_split){skeleton, skeleton_size, w.spans, w.n_spans};
    return true;
}

void raw_data_split_free(mem *m, raw_data_split *split)
{
    mem_free(m, split->skeleton);
    mem_free(m, split->spans);
    memset(split, 0, sizeof *split);
}
