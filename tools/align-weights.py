#!/usr/bin/env python3
"""align-weights.py IN.onnx OUT.onnx [ALIGN]

Rewrites an ONNX model so that the raw_data of every initializer of its main graph starts at a
multiple of ALIGN bytes (default 64) from the start of the file. onyx_model_load_buffer_borrowed
can then use every such weight in place, from a buffer (or mmap) aligned to ALIGN, where files
as exporters write them let it borrow only those that happen to be aligned.

The model means the same afterwards: each such initializer gets its raw_data last, preceded by
its doc_string with trailing spaces as padding, and the lengths of the graph and of those
initializers are written as 5-byte varints (valid protobuf, accepted by protobuf-c and onnx).
Only the protobuf wire format is walked; nothing is decoded beyond what it needs.
"""
import sys

MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_RAW_DATA, TENSOR_DOC_STRING = 7, 5, 9, 12
LEN = 2


def read_varint(data, pos):
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("malformed varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def varint(value, width=None):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value or (width and len(out) + 1 < width):
            out.append(byte | 0x80)
        else:
            out.append(byte)
            break
    if width and len(out) != width:
        raise ValueError("value too large for a %d-byte varint" % width)
    return bytes(out)


def fields(data):
    """(number, wire type, whole field bytes, payload or None) for each field of a message."""
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        payload = None
        if wire == 0:
            _, pos = read_varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == LEN:
            size, pos = read_varint(data, pos)
            payload = data[pos:pos + size]
            pos += size
        else:
            raise ValueError("unsupported wire type %d" % wire)
        if pos > len(data):
            raise ValueError("truncated field %d" % number)
        yield number, wire, data[start:pos], payload


def nested(out, number, write_content):
    """Writes a length-delimited field whose content write_content(out) appends in place."""
    out += varint(number << 3 | LEN)
    at = len(out)
    out += bytes(5)
    write_content(out)
    out[at:at + 5] = varint(len(out) - at - 5, width=5)


def write_tensor(out, tensor, align):
    raw = doc = None
    for number, wire, whole, payload in fields(tensor):
        if wire == LEN and number == TENSOR_RAW_DATA:
            raw = payload  # the last one counts, as in protobuf
        elif wire == LEN and number == TENSOR_DOC_STRING:
            doc = payload
        else:
            out += whole
    if raw is None:
        if doc is not None:
            out += varint(TENSOR_DOC_STRING << 3 | LEN) + varint(len(doc)) + doc
        return
    raw_head = varint(TENSOR_RAW_DATA << 3 | LEN) + varint(len(raw))
    for pad in range(-1, 2 * align + 1):  # -1: no doc_string field at all
        if pad < 0 and doc:
            continue
        doc_field = b"" if pad < 0 else (
            varint(TENSOR_DOC_STRING << 3 | LEN) + varint(len(doc or b"") + pad) + (doc or b"") + b" " * pad)
        if (len(out) + len(doc_field) + len(raw_head)) % align == 0:
            out += doc_field + raw_head + raw
            return
    raise AssertionError("no padding aligns the raw_data")


def write_graph(out, graph, align):
    for number, wire, whole, payload in fields(graph):
        if wire == LEN and number == GRAPH_INITIALIZER:
            nested(out, number, lambda o, t=payload: write_tensor(o, t, align))
        else:
            out += whole


def align_model(data, align):
    out = bytearray()
    graphs = 0
    for number, wire, whole, payload in fields(data):
        if wire == LEN and number == MODEL_GRAPH:
            graphs += 1
            nested(out, number, lambda o, g=payload: write_graph(o, g, align))
        else:
            out += whole
    if graphs != 1:
        raise ValueError("expected one graph field, found %d" % graphs)
    return bytes(out)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().split("\n")[0])
    align = int(sys.argv[3]) if len(sys.argv) == 4 else 64
    if align < 1 or align & (align - 1):
        sys.exit("ALIGN must be a power of two")
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    try:
        aligned = align_model(data, align)
    except ValueError as e:
        sys.exit("%s: %s" % (sys.argv[1], e))
    with open(sys.argv[2], "wb") as f:
        f.write(aligned)


if __name__ == "__main__":
    main()
