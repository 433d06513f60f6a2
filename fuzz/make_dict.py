#!/usr/bin/env python3
"""Writes fuzz/onnx.dict, the libFuzzer dictionary of the fuzz targets: the tag bytes of
every field of ONNX's protobuf messages (so mutations insert whole, well-formed fields),
the operator types onyx registers, the attribute names its operators read, and the
pieces of a .npy header. Run again when ops/ops.def grows:

    .venv/bin/python fuzz/make_dict.py > fuzz/onnx.dict
"""
import pathlib
import re

from google.protobuf import descriptor as d
import onnx

ROOT = pathlib.Path(__file__).resolve().parent.parent
WIRE = {d.FieldDescriptor.TYPE_DOUBLE: 1, d.FieldDescriptor.TYPE_FIXED64: 1,
        d.FieldDescriptor.TYPE_SFIXED64: 1, d.FieldDescriptor.TYPE_FLOAT: 5,
        d.FieldDescriptor.TYPE_FIXED32: 5, d.FieldDescriptor.TYPE_SFIXED32: 5,
        d.FieldDescriptor.TYPE_STRING: 2, d.FieldDescriptor.TYPE_BYTES: 2,
        d.FieldDescriptor.TYPE_MESSAGE: 2}


def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def escape(data):
    return "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else "\\x%02x" % b for b in data)


def messages(root):
    seen, todo = {}, [root]
    while todo:
        m = todo.pop()
        if m.full_name in seen:
            continue
        seen[m.full_name] = m
        todo += [f.message_type for f in m.fields if f.message_type] + list(m.nested_types)
    return [seen[k] for k in sorted(seen)]


def main():
    entries = {}
    for m in messages(onnx.ModelProto.DESCRIPTOR):
        for f in m.fields:
            wires = {WIRE.get(f.type, 0)}
            repeated = f.is_repeated if hasattr(f, "is_repeated") else f.label == f.LABEL_REPEATED
            if repeated and f.type not in WIRE:
                wires.add(2)  # packed
            for w in sorted(wires):
                name = "tag_%s_%s%s" % (m.name, f.name, "_packed" if w == 2 and f.type not in WIRE else "")
                entries[name] = varint(f.number << 3 | w)
    ops = re.findall(r'OP\("[^"]*", "(\w+)"', (ROOT / "ops/ops.def").read_text())
    for op in sorted(set(ops)):
        entries["op_" + op] = op.encode()
    attrs = set()
    for src in (ROOT / "ops").glob("*.c"):
        attrs |= set(re.findall(r'op_attr_\w+\(ctx, "(\w+)"', src.read_text()))
        attrs |= set(re.findall(r'op_has_attr\(ctx, "(\w+)"', src.read_text()))
    for a in sorted(attrs):
        entries["attr_" + a] = a.encode()
    entries["domain_onnx"] = b"ai.onnx"
    entries["domain_ml"] = b"ai.onnx.ml"
    for i, text in enumerate([b"\x93NUMPY", b"{'descr': '", b"'fortran_order': False",
                              b"'shape': (", b"<f4", b"<f8", b"<i8", b"<i4", b"|b1", b"|u1", b"<f2", b"<c8"]):
        entries["npy_%d" % i] = text
    print("# libFuzzer dictionary for onyx's fuzz targets; written by fuzz/make_dict.py.")
    for name, data in entries.items():
        print('%s="%s"' % (name, escape(data)))


main()
