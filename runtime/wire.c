/* A pass over a model's protobuf bytes before protobuf-c unpacks them.
 *
 * protobuf-c recurses once per nested message and allocates every message and string as it
 * goes, so a small file of deeply nested messages (a TypeProto sequence of sequences, graphs
 * inside graphs) overflows the stack, and a file of millions of two-byte empty names (one
 * node with five million inputs fits in 10 MB) makes it allocate a hundred times the file's
 * size before onyx sees a single node. This scan walks the wire format guided by the
 * generated descriptors, with an explicit stack of bounded depth and no allocation, and
 * refuses such models first: nesting, subgraph depth, node count, and the memory unpacking
 * would take, against the limits, before anything is allocated. */
#include "ir.h"
#include "onnx.pb-c.h"

/* Messages inside messages, counting every level. A model at the default subgraph depth
 * needs about 3 levels per subgraph (node, attribute, graph) plus a few for types and
 * tensors; protobuf-c's stack use grows with this number. */
#define WIRE_MAX_NESTING 256
/* What the memory accounting adds to each block (the header mem_alloc puts before it). */
#define WIRE_BLOCK_OVERHEAD 64

typedef struct wire_frame {
    const ProtobufCMessageDescriptor *desc;
    size_t end;
} wire_frame;

static bool read_varint(const uint8_t *data, size_t end, size_t *pos, uint64_t *out)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && *pos < end; shift += 7) {
        uint8_t byte = data[(*pos)++];
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return true;
        }
    }
    return false;
}

/* Bytes protobuf-c will allocate for a field of `length` bytes on the wire: its struct for a
 * message, a copy for a string, the array slot of a repeated field (8 bytes a value at most,
 * and at most one value a byte when packed), a copy for a field the schema does not know. */
static int64_t unpacked_bytes(const ProtobufCFieldDescriptor *field, unsigned wire_type, uint64_t length)
{
    if (!field)
        return (int64_t)length + WIRE_BLOCK_OVERHEAD + (int64_t)sizeof(ProtobufCMessageUnknownField);
    int64_t bytes = 0;
    bool packed = wire_type == 2 && field->type != PROTOBUF_C_TYPE_MESSAGE &&
                  field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_BYTES;
    if (field->label == PROTOBUF_C_LABEL_REPEATED)
        bytes += packed ? 8 * (int64_t)length : (int64_t)sizeof(ProtobufCBinaryData);
    if (field->type == PROTOBUF_C_TYPE_MESSAGE)
        bytes += (int64_t)((const ProtobufCMessageDescriptor *)field->descriptor)->sizeof_message + WIRE_BLOCK_OVERHEAD;
    else if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_BYTES)
        bytes += (int64_t)length + 1 + WIRE_BLOCK_OVERHEAD;
    return bytes;
}

static onyx_status malformed(char *errmsg, size_t pos, const char *what)
{
    return set_error(errmsg, ONYX_ERROR_INVALID_MODEL,
                     "not a valid ONNX model: the protobuf is malformed at byte %zu (%s)", pos, what);
}

onyx_status wire_check_model(const void *bytes, size_t size, const limits *lim, char *errmsg)
{
    const uint8_t *data = bytes;
    wire_frame stack[WIRE_MAX_NESTING];
    int top = 0;
    int64_t graph_depth = -1; /* the main graph is depth 0 */
    int64_t nodes = 0;
    int64_t unpacked = (int64_t)onnx__model_proto__descriptor.sizeof_message + WIRE_BLOCK_OVERHEAD;
    stack[0] = (wire_frame){&onnx__model_proto__descriptor, size};
    size_t pos = 0;
    for (;;) {
        while (pos == stack[top].end) {
            if (top == 0)
                return ONYX_OK;
            if (stack[top].desc == &onnx__graph_proto__descriptor)
                graph_depth--;
            top--;
        }
        size_t field_start = pos;
        uint64_t tag, length;
        if (!read_varint(data, stack[top].end, &pos, &tag) || tag >> 3 == 0 || tag >> 3 > UINT32_MAX)
            return malformed(errmsg, field_start, "bad field tag");
        unsigned wire_type = (unsigned)(tag & 7);
        switch (wire_type) {
        case 0:
            if (!read_varint(data, stack[top].end, &pos, &length))
                return malformed(errmsg, field_start, "truncated varint");
            length = 0;
            break;
        case 1:
        case 5:
            length = wire_type == 1 ? 8 : 4;
            if (stack[top].end - pos < length)
                return malformed(errmsg, field_start, "truncated fixed-size field");
            break;
        case 2:
            if (!read_varint(data, stack[top].end, &pos, &length) || length > stack[top].end - pos)
                return malformed(errmsg, field_start, "length runs past the end of its message");
            break;
        default:
            return malformed(errmsg, field_start, "unsupported wire type");
        }
        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field(stack[top].desc, (unsigned)(tag >> 3));
        unpacked += unpacked_bytes(field, wire_type, length);
        if (unpacked > lim->memory_bytes)
            return set_error(errmsg, ONYX_ERROR_LIMIT,
                             "unpacking the model would take more than the memory limit of %lld bytes "
                             "(%zu bytes of protobuf, read up to byte %zu)",
                             (long long)lim->memory_bytes, size, pos);
        if (!field || field->type != PROTOBUF_C_TYPE_MESSAGE || wire_type != 2) {
            pos += length;
            continue;
        }
        const ProtobufCMessageDescriptor *desc = field->descriptor;
        if (top + 1 == WIRE_MAX_NESTING)
            return set_error(errmsg, ONYX_ERROR_LIMIT,
                             "protobuf messages nest more than %d deep (at byte %zu); onyx refuses "
                             "such models", WIRE_MAX_NESTING, field_start);
        if (desc == &onnx__graph_proto__descriptor && ++graph_depth > lim->graph_depth)
            return set_error(errmsg, ONYX_ERROR_LIMIT, "subgraphs nest deeper than the limit of %lld",
                             (long long)lim->graph_depth);
        if (desc == &onnx__node_proto__descriptor && ++nodes > lim->graph_nodes)
            return set_error(errmsg, ONYX_ERROR_LIMIT, "the model has more than %lld nodes (the limit)",
                             (long long)lim->graph_nodes);
        stack[++top] = (wire_frame){desc, pos + length};
    }
}
