#!/usr/bin/env python3
"""Writes ONNX's backend node tests, in the test-data layout `onyx test` reads, into OUT/node.

The onnx wheel (1.23) ships its model suites as files under onnx/backend/test/data, but its node
tests only as Python cases (onnx.backend.test.case.node) that ONNX's backend runner builds in
memory: this writes each one out as model.onnx and test_data_set_N/{input,output}_K.pb, exactly
what the runner feeds a backend. Prints the directory of the wheel's data beside it.

    .venv/bin/python tools/onnx-test-data.py OUT
"""
import os
import shutil
import sys
import warnings

import onnx
from onnx import TensorProto, numpy_helper
from onnx.backend.test.loader import load_node_model_tests


def proto_of(value, value_info):
    t = value_info.type
    if t.HasField("sequence_type"):
        return numpy_helper.from_list(value, value_info.name)
    if t.HasField("optional_type"):
        return numpy_helper.from_optional(value, value_info.name)
    if t.HasField("map_type"):
        return numpy_helper.from_dict(value, value_info.name)
    if isinstance(value, TensorProto):
        return value
    return numpy_helper.from_array(value, value_info.name)


def write_case(case, out):
    d = os.path.join(out, case.name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    graph = case.model.graph
    for i, (inputs, outputs) in enumerate(case.data_sets):
        ds = os.path.join(d, f"test_data_set_{i}")
        os.makedirs(ds, exist_ok=True)
        for kind, values, infos in (("input", inputs, graph.input), ("output", outputs, graph.output)):
            for j, v in enumerate(values):
                with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                    f.write(proto_of(v, infos[j]).SerializeToString())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.join(sys.argv[1], "node")
    shutil.rmtree(out, ignore_errors=True)  # no test of another onnx version left behind
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cases' own numpy warnings (log of zero, ...)
        cases = load_node_model_tests()
    for case in cases:
        write_case(case, out)
    print(f"{len(cases)} node tests in {out}; onnx {onnx.__version__}'s other suites in "
          f"{os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data')}")


if __name__ == "__main__":
    main()
