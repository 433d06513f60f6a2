"""ONNX's backend test suite (onnx.backend.test.BackendTest) run through onyx.backend, as runtimes
that claim ONNX conformance run it, plus a few tests of onyx.backend's own entry points.

What is left out, each with its reason:
- the tests listed in tests/conformance/<suite>.txt: the same expected failures `onyx test`
  works through (tools/test.sh), each line carrying its reason. One list for both runners, so
  that this suite passes exactly the tests `onyx test` passes on the same data
  (test_counts_match_onyx_test checks the node suite's count);
- EXCLUDE below: patterns for what only this path lacks, with their reasons;
- the CUDA copies of every test (onyx runs on the CPU): not collected at all.

Needs the onyx package installed (tools/test-python.sh) and the onnx package.
"""

import os
import re
import subprocess
import unittest
import warnings

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import TensorProto, helper

import onyx
import onyx.backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFORMANCE = os.path.join(ROOT, "tests", "conformance")

# The runner's test classes and the `onyx test` suite each corresponds to.
SUITES = {
    "OnnxBackendNodeModelTest": "node",
    "OnnxBackendSimpleModelTest": "simple",
    "OnnxBackendPyTorchConvertedModelTest": "pytorch-converted",
    "OnnxBackendPyTorchOperatorModelTest": "pytorch-operator",
    "OnnxBackendRealModelTest": None,  # ONNX's "light" models: no list, they all pass
}

# Patterns (re.search on the test name, without the _cpu suffix) that only this path leaves
# out, each with its reason. Empty today: everything `onyx test` passes passes here too.
EXCLUDE = [
]


def expected_failures(suite):
    """{test name: reason to skip it} from tests/conformance/<suite>.txt: "suite/test_x reason..."
    for a test expected to fail, "~suite/test_x reason..." for one whose outcome is random (an
    unseeded draw), which `onyx test` runs and counts as skipped whatever its outcome."""
    failures = {}
    if suite is None:
        return failures
    with open(os.path.join(CONFORMANCE, f"{suite}.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition(" ")
            where = f"tests/conformance/{suite}.txt"
            if name.startswith("~"):
                name = name[1:]
                reason = f"random, either outcome expected ({where}, '~'; onyx test skips it too): {reason}"
            else:
                reason = f"expected to fail ({where}): {reason}"
            failures[name.split("/", 1)[1]] = reason
    return failures


class BackendTest(onnx.backend.test.BackendTest):
    """ONNX's runner, with its comparison of sequences mended. The runner compares a sequence
    output by calling itself on each pair of items as if each item were a list of outputs
    (len(), then indexing): an item that is a 0-d tensor then fails on len() whatever the backend
    returns (test_loop16_seq_none, whose first item is a scalar), and the items of 1-d ones are
    compared element by element. Here each item is compared as one output, with the runner's own
    checks (shape, dtype, values within the tolerances); an empty optional output (None) must be
    None on both sides."""

    @classmethod
    def assert_similar_outputs(cls, ref_outputs, outputs, rtol, atol, model_dir=None):
        np.testing.assert_equal(len(outputs), len(ref_outputs))
        for ref, out in zip(ref_outputs, outputs):
            if isinstance(ref, (list, tuple)) and isinstance(out, (list, tuple)):
                cls.assert_similar_outputs(ref, out, rtol, atol, model_dir=model_dir)
            elif ref is None or out is None:
                assert ref is None and out is None, f"expected {ref!r}, got {out!r}"
            else:
                super().assert_similar_outputs([ref], [out], rtol, atol, model_dir=model_dir)


def _collect():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cases' own numpy warnings (log of zero, ...)
        backend_test = BackendTest(onyx.backend, __name__)
    cases = backend_test.test_cases
    counts = {}
    for class_name, case in cases.items():
        suite = SUITES.get(class_name, "unknown")
        listed = expected_failures(suite) if suite != "unknown" else {}
        run = 0
        for attr in [a for a in vars(case) if a.startswith("test_")]:
            if not attr.endswith("_cpu"):
                delattr(case, attr)  # the CUDA copy
                continue
            name = attr[: -len("_cpu")]
            reason = listed.get(name)
            for pattern, why in EXCLUDE:
                if reason is None and re.search(pattern, name):
                    reason = f"excluded ({pattern}): {why}"
            if reason is not None:
                setattr(case, attr, unittest.skip(reason)(getattr(case, attr)))
            else:
                run += 1
        counts[suite] = run
    return cases, counts


_cases, EXPECTED_PASSES = _collect()
globals().update(_cases)


def _onnx_data_dir():
    for d in (os.environ.get("ONYX_ONNX_DATA"), os.path.join(ROOT, "build", "onnx-data"), "/tmp/onnx-data"):
        if d and os.path.isdir(os.path.join(d, "node")):
            return d
    return None


def test_counts_match_onyx_test():
    """The node tests run here (all must pass) are as many as `onyx test` passes on the same
    data written out by tools/onnx-test-data.py, with the same list of expected failures."""
    cli = os.path.join(ROOT, "build", "cli", "onyx")
    data = _onnx_data_dir()
    if not os.access(cli, os.X_OK) or data is None:
        pytest.skip("needs build/cli/onyx and the node data of tools/onnx-test-data.py (build/onnx-data)")
    out = subprocess.run([cli, "test", "--quiet", "--expect", os.path.join(CONFORMANCE, "node.txt"),
                          os.path.join(data, "node")], capture_output=True, text=True, check=False)
    m = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", out.stdout, re.M)
    assert m, out.stdout[-2000:] + out.stderr[-2000:]
    assert int(m.group(1)) == EXPECTED_PASSES["node"], out.stdout[-2000:]


# ---- onyx.backend's entry points ---------------------------------------------------------------


def test_run_node():
    node = helper.make_node("Add", ["a", "b"], ["c"])
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)
    (c,) = onyx.backend.run_node(node, [a, b])
    np.testing.assert_array_equal(c, a + b)


def test_run_node_at_an_opset():
    node = helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0, axes=[1])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (y,) = onyx.backend.run_node(node, [x], opset_version=11)
    np.testing.assert_array_equal(y, x.sum(axis=1))


def test_run_node_with_new_values():
    """A sequence in (a list of arrays) and out, and a float8 tensor (ml_dtypes' type)."""
    import ml_dtypes  # noqa: PLC0415

    items = [np.ones((2, 3), np.float32), np.zeros((1, 3), np.float32)]
    (n,) = onyx.backend.run_node(helper.make_node("SequenceLength", ["s"], ["n"]), [items])
    assert int(n) == 2
    (s,) = onyx.backend.run_node(helper.make_node("SequenceInsert", ["s", "t"], ["s2"]),
                                 [items, np.full((1, 3), 5, np.float32)])
    assert [i.shape for i in s] == [(2, 3), (1, 3), (1, 3)]
    np.testing.assert_array_equal(s[2], np.full((1, 3), 5))
    x = np.array([0.5, -2, 448], ml_dtypes.float8_e4m3fn)
    (y,) = onyx.backend.run_node(helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT), [x])
    np.testing.assert_array_equal(y, [0.5, -2, 448])


def test_prepare_and_run_by_name():
    graph = helper.make_graph([helper.make_node("Mul", ["x", "y"], ["z"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.INT64, [2]),
                               helper.make_tensor_value_info("y", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("z", TensorProto.INT64, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rep = onyx.backend.prepare(model)
    x, y = np.array([2, 3]), np.array([4, 5])
    out = rep.run({"x": x, "y": y})
    np.testing.assert_array_equal(out["z"], x * y)
    np.testing.assert_array_equal(out[0], x * y)
    np.testing.assert_array_equal(onyx.backend.run_model(model.SerializeToString(), [x, y])[0], x * y)


def test_devices():
    assert onyx.backend.supports_device("CPU")
    assert not onyx.backend.supports_device("CUDA")
    assert not onyx.backend.supports_device("CUDA:1")
    with pytest.raises(onyx.InvalidArgument):
        onyx.backend.prepare(onnx.ModelProto(), "CUDA")


def test_unsupported_model_raises():
    graph = helper.make_graph([helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    with pytest.raises(onyx.Unsupported, match="Frobnicate"):
        onyx.backend.prepare(model)
