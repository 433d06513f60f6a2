"""Tests of the Python package onyx (python/onyx): ONNX Runtime's API and outputs on the committed
models, every error path, threads, zero-copy inputs and memory. Needs the package installed
(tools/test-python.sh) and onnx and onnxruntime (tools/requirements.txt)."""

import gc
import glob
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import onyx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = sorted(glob.glob(os.path.join(ROOT, "models", "*", "model.onnx")))
FFN = os.path.join(ROOT, "models", "ffn_relu", "model.onnx")
MASKED = os.path.join(ROOT, "models", "mha_torch_padding_mask", "model.onnx")


def model_name(path):
    return os.path.basename(os.path.dirname(path))


def data_sets(path):
    """[(inputs, expected outputs)] of a committed model's test_data_set_N (PyTorch's outputs)."""
    sets = []
    for d in sorted(glob.glob(os.path.join(os.path.dirname(path), "test_data_set_*"))):
        def load(kind, d=d):
            files = sorted(glob.glob(os.path.join(d, f"{kind}_*.pb")),
                           key=lambda f: int(f.rsplit("_", 1)[1][:-3]))
            return [numpy_helper.to_array(onnx.load_tensor(f)) for f in files]
        sets.append((load("input"), load("output")))
    return sets


def make_model(nodes, inputs, outputs, initializers=(), opset=17, extra_opsets=()):
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def tensor(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def ffn_input(batch=1, seq=4, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, seq, 64)).astype(np.float32)


@pytest.fixture(scope="module")
def ffn():
    return onyx.InferenceSession(FFN)


# ---- the same outputs as ONNX Runtime, through the same code ----------------------------------


@pytest.mark.parametrize("path", MODELS, ids=model_name)
def test_outputs_equal_onnxruntime(path):
    session = onyx.InferenceSession(path)
    reference = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in reference.get_inputs()]
    assert [i.name for i in session.get_inputs()] == names
    sets = data_sets(path)
    assert sets
    for inputs, expected in sets:
        feed = dict(zip(names, inputs))
        got = session.run(None, feed)
        want = reference.run(None, feed)
        assert len(got) == len(want) == len(expected)
        for g, w, e in zip(got, want, expected):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-4)


def ort_style_client(rt, path, inputs):
    """Code written against onnxruntime's API, run with rt = onnxruntime or rt = onyx."""
    options = rt.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = rt.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = rt.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    inputs_meta = [(i.name, i.shape, i.type) for i in session.get_inputs()]
    outputs_meta = [(o.name, o.shape, o.type) for o in session.get_outputs()]
    feed = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    first = session.run([o.name for o in session.get_outputs()], feed)
    again = session.run(None, feed)
    return inputs_meta, outputs_meta, session.get_providers(), first, again


@pytest.mark.parametrize("path", MODELS, ids=model_name)
def test_drop_in_replacement(path):
    inputs = data_sets(path)[0][0]
    ort_result = ort_style_client(onnxruntime, path, inputs)
    onyx_result = ort_style_client(onyx, path, inputs)
    # Metadata and providers exactly, but for one thing: a dim the model declares by name that
    # ONNX Runtime's shape inference resolved to a number (ViT's 17 patches + 1), onyx reports
    # as the model declares it.
    assert onyx_result[2] == ort_result[2]
    for got, want in zip(onyx_result[:2], ort_result[:2]):
        assert [(n, t) for n, _, t in got] == [(n, t) for n, _, t in want]
        for (_, got_shape, _), (_, want_shape, _) in zip(got, want):
            assert len(got_shape) == len(want_shape)
            assert all(g == w or (isinstance(g, str) and isinstance(w, int)) for g, w in zip(got_shape, want_shape))
    for got, want in zip(onyx_result[3] + onyx_result[4], ort_result[3] + ort_result[4]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_bfloat16_precision(tmp_path):
    """precision="bf16" (or SessionOptions.precision) stays within 1e-2 of float32 relative to the
    output's scale; a processor without AVX512-BF16 (ONYX_NO_BF16=1 stands in for one) warns and
    computes float32 exactly; an unknown precision is refused."""
    x = ffn_input(batch=2, seq=16)
    want = onyx.InferenceSession(FFN).run(None, {"x": x})[0]
    got = onyx.InferenceSession(FFN, precision="bf16").run(None, {"x": x})[0]
    assert np.abs(got - want).max() <= 1e-2 * np.abs(want).max()
    options = onyx.SessionOptions()
    options.precision = "bf16"
    np.testing.assert_array_equal(onyx.InferenceSession(FFN, options).run(None, {"x": x})[0], got)
    with pytest.raises(onyx.InvalidArgument):
        onyx.InferenceSession(FFN, precision="int4")
    script = textwrap.dedent(f"""
        import warnings, numpy as np, onyx
        x = np.load({str(tmp_path / "x.npy")!r})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = onyx.InferenceSession({FFN!r}, precision="bf16").run(None, {{"x": x}})[0]
        want = onyx.InferenceSession({FFN!r}).run(None, {{"x": x}})[0]
        assert any(issubclass(w.category, RuntimeWarning) for w in caught), caught
        assert np.array_equal(got, want)
    """)
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, ONYX_NO_BF16="1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_module_api():
    assert onyx.get_available_providers() == ["CPUExecutionProvider"]
    assert onnxruntime.get_available_providers()[-1:] == ["CPUExecutionProvider"]
    assert onyx.get_device() == "CPU"
    assert onyx.__version__ == onyx.library_version()
    assert any(op[1] == "MatMul" for op in onyx.operators())
    assert onyx.gemm_kernel()


def test_session_api(ffn):
    assert ffn.get_providers() == ["CPUExecutionProvider"]
    assert ffn.get_provider_options() == {"CPUExecutionProvider": {}}
    assert ffn.get_overridable_initializers() == []
    meta = ffn.get_modelmeta()
    assert meta.producer_name == "pytorch" and meta.opsets[""] >= 13
    assert isinstance(ffn.get_session_options(), onyx.SessionOptions)
    assert "ffn_relu" in repr(ffn) and "tensor(float)" in repr(ffn.get_inputs()[0])
    assert {n.op_type for n in ffn.nodes()} >= {"MatMul", "Relu"}
    assert all(n.supported for n in ffn.nodes())
    memory = ffn.memory_bytes()
    assert memory["model"] > 64 * 256 * 4 and memory["session"] >= 0 and memory["sessions"] >= 1


def test_outputs_by_name_and_keywords(ffn):
    x = ffn_input()
    (y,) = ffn.run(["y"], {"x": x})
    (y2,) = ffn.run(output_names=None, input_feed={"x": x}, run_options=onyx.RunOptions())
    (y3,) = ffn.run([], {"x": x})
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(y, y3)


def test_outputs_are_new_arrays(ffn):
    x1, x2 = ffn_input(seed=1), ffn_input(seed=2)
    (y1,) = ffn.run(None, {"x": x1})
    keep = y1.copy()
    (y2,) = ffn.run(None, {"x": x2})
    np.testing.assert_array_equal(y1, keep)  # the second run did not write into the first result
    assert not np.shares_memory(y1, y2)
    assert y1.flags.writeable and y1.flags.owndata and y1.flags.c_contiguous
    y1[...] = 0  # the caller's to change


def test_session_options():
    x = ffn_input()
    want = onyx.InferenceSession(FFN).run(None, {"x": x})[0]
    options = onyx.SessionOptions()
    options.intra_op_num_threads = 2
    options.graph_optimization_level = onyx.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.set_limit("memory_bytes", 64 << 20)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    assert options.get_limit("memory_bytes") == 64 << 20 and options.get_limit("graph_nodes") is None
    got = onyx.InferenceSession(FFN, options).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(AttributeError):
        options.no_such_option = 1


def test_profile():
    options = onyx.SessionOptions()
    options.enable_profiling = True
    session = onyx.InferenceSession(FFN, options)
    session.run(None, {"x": ffn_input()})
    session.run(None, {"x": ffn_input()})
    entries = session.profile()
    assert entries and all(e.runs == 2 and e.total_ms >= 0 for e in entries)
    session.set_profiling(True)  # clears it
    assert session.profile() == []
    session.set_profiling(False)


def test_end_profiling_as_onnxruntime(tmp_path):
    import json  # noqa: PLC0415

    options = onyx.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "profile_")
    session = onyx.InferenceSession(FFN, options)
    session.run(None, {"x": ffn_input()})
    path = session.end_profiling()
    assert path.startswith(options.profile_file_prefix) and path.endswith(".json")
    with open(path) as f:
        events = json.load(f)
    assert events and all(e["args"]["runs"] == 1 and e["dur"] >= 0 for e in events)
    assert any("MatMul" in e["args"]["op_name"] for e in events)  # onyx.FusedMatMul once fused
    assert onyx.InferenceSession(FFN).end_profiling() == ""


def test_load_from_bytes_and_pathlike():
    import pathlib  # noqa: PLC0415

    x = ffn_input()
    with open(FFN, "rb") as f:
        data = f.read()
    want = onyx.InferenceSession(FFN).run(None, {"x": x})[0]
    for source in (data, bytearray(data), memoryview(data), pathlib.Path(FFN)):
        np.testing.assert_array_equal(onyx.InferenceSession(source).run(None, {"x": x})[0], want)


def test_providers_as_onnxruntime_does():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = onyx.InferenceSession(FFN, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert any("CUDAExecutionProvider" in str(w.message) for w in caught)
    assert session.get_providers() == ["CPUExecutionProvider"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        onyx.InferenceSession(FFN, providers=[("CPUExecutionProvider", {})])


# ---- inputs: read in place, or converted once ----------------------------------------------------


def test_converted_inputs_give_the_same_outputs(ffn):
    x = ffn_input(batch=2, seq=6)
    (want,) = ffn.run(None, {"x": x})
    wide = np.zeros((2, 6, 128), np.float32)
    wide[:, :, ::2] = x
    for variant in (np.asfortranarray(x), wide[:, :, ::2], x.astype(">f4"), x.tolist()):
        np.testing.assert_array_equal(ffn.run(None, {"x": variant})[0], want)


def test_many_inputs_and_outputs():
    """More inputs and outputs than run() keeps on its stack (8)."""
    n = 11
    nodes = [helper.make_node("Neg", [f"x{i}"], [f"y{i}"]) for i in range(n)]
    model = make_model(nodes, [tensor(f"x{i}", TensorProto.FLOAT, [2]) for i in range(n)],
                       [tensor(f"y{i}", TensorProto.FLOAT, [2]) for i in range(n)])
    session = onyx.InferenceSession(model)
    feed = {f"x{i}": np.full(2, i, np.float32) for i in range(n)}
    outputs = session.run(None, feed)
    assert [float(y[0]) for y in outputs] == [-float(i) for i in range(n)]
    names = [f"y{i}" for i in reversed(range(n))] + ["y0"]
    assert [float(y[1]) for y in session.run(names, feed)] == [-float(i) for i in reversed(range(n))] + [0.0]
    del feed["x9"]
    with pytest.raises(onyx.InvalidArgument, match="missing input x9"):
        session.run(None, feed)


def test_external_data(tmp_path):
    w = np.arange(64, dtype=np.float32).reshape(8, 8)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "ext",
                              [tensor("x", TensorProto.FLOAT, [1, 8])],
                              [tensor("y", TensorProto.FLOAT, [1, 8])],
                              initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    x = np.ones((1, 8), np.float32)
    np.testing.assert_array_equal(onyx.InferenceSession(path).run(None, {"x": x})[0], x @ w)
    with open(path, "rb") as f:
        data = f.read()
    with pytest.raises(onyx.OnyxError, match="external"):
        onyx.InferenceSession(data)  # bytes: no directory to resolve weights.bin against
    options = onyx.SessionOptions()
    options.external_data_dir = str(tmp_path)
    np.testing.assert_array_equal(onyx.InferenceSession(data, options).run(None, {"x": x})[0], x @ w)


def test_dtypes_round_trip():
    """An output of every dtype numpy has, made from an input of that dtype."""
    dtypes = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16,
              TensorProto.INT8: np.int8, TensorProto.UINT8: np.uint8, TensorProto.INT16: np.int16,
              TensorProto.UINT16: np.uint16, TensorProto.INT32: np.int32, TensorProto.UINT32: np.uint32,
              TensorProto.INT64: np.int64, TensorProto.UINT64: np.uint64, TensorProto.BOOL: np.bool_}
    for code, dtype in dtypes.items():
        model = make_model([helper.make_node("Identity", ["x"], ["y"])], [tensor("x", code, [2, 3])],
                           [tensor("y", code, [2, 3])])
        x = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
        (y,) = onyx.InferenceSession(model).run(None, {"x": x})
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, x)


def test_scalars_and_empty_tensors():
    model = make_model([helper.make_node("Add", ["a", "b"], ["c"])],
                       [tensor("a", TensorProto.FLOAT, []), tensor("b", TensorProto.FLOAT, ["n"])],
                       [tensor("c", TensorProto.FLOAT, ["n"])])
    session = onyx.InferenceSession(model)
    (c,) = session.run(None, {"a": np.float32(2), "b": np.arange(3, dtype=np.float32)})
    np.testing.assert_array_equal(c, [2, 3, 4])
    (c,) = session.run(None, {"a": np.array(1, np.float32), "b": np.zeros(0, np.float32)})
    assert c.shape == (0,)


def test_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    model = make_model([helper.make_node("Identity", ["x"], ["y"])], [tensor("x", TensorProto.BFLOAT16, [3])],
                       [tensor("y", TensorProto.BFLOAT16, [3])])
    x = np.array([1.5, -2, 3], dtype=ml_dtypes.bfloat16)
    (y,) = onyx.InferenceSession(model).run(None, {"x": x})
    assert y.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(y.astype(np.float32), [1.5, -2, 3])


ZERO_COPY_SCRIPT = r"""
import resource, sys
import numpy as np
import onyx
from onnx import TensorProto, helper
graph = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)], "sum",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
session = onyx.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                                .SerializeToString())
session.run(None, {"x": np.ones(16, np.float32)})
n = 64 << 20  # 256 MiB of float32
x = np.ones(2 * n, np.float32)[::2] if sys.argv[1] == "strided" else np.ones(n, np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
(y,) = session.run(None, {"x": x})
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert float(y) == n, float(y)
print((after - before) * 1024)
"""


def peak_growth(kind):
    out = subprocess.run([sys.executable, "-c", ZERO_COPY_SCRIPT, kind], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1])


def test_zero_copy_inputs():
    """A C-contiguous input of 256 MiB is read where it lies: the peak memory of a fresh process
    does not grow by a copy of it while the model runs, where a strided one (converted once)
    does. The control proves the measurement sees a copy."""
    size = 256 << 20
    assert peak_growth("contiguous") < size // 16
    assert peak_growth("strided") > size // 2


def test_inputs_are_not_written(ffn):
    x = ffn_input()
    keep = x.copy()
    x.setflags(write=False)  # read-only arrays are accepted: onyx never writes inputs
    ffn.run(None, {"x": x})
    np.testing.assert_array_equal(x, keep)


# ---- errors: every path raises an OnyxError subclass with onyx's message ----------------------------


def test_exception_classes():
    assert issubclass(onyx.InvalidInput, onyx.InvalidArgument)
    for cls in (onyx.InvalidArgument, onyx.InvalidInput, onyx.InvalidModel):
        assert issubclass(cls, onyx.OnyxError) and issubclass(cls, ValueError)
    assert issubclass(onyx.FileError, OSError) and issubclass(onyx.OutOfMemory, MemoryError)
    assert issubclass(onyx.Unsupported, NotImplementedError) and issubclass(onyx.RunError, RuntimeError)
    assert issubclass(onyx.LimitExceeded, onyx.OnyxError) and issubclass(onyx.InvalidState, onyx.OnyxError)
    classes = (onyx.InvalidArgument, onyx.InvalidModel, onyx.Unsupported, onyx.LimitExceeded)
    assert [c.status for c in classes] == [1, 5, 6, 8]


X = np.zeros((1, 4, 64), np.float32)


@pytest.mark.parametrize("feed, error, message", [
    ({"x": X.astype(np.float64)}, onyx.InvalidInput, "input 'x' must have dtype float, got double"),
    ({"x": X[0]}, onyx.InvalidInput, r"input 'x' must have shape \[\?,\?,64\], got \[4,64\]"),
    ({"x": np.zeros((1, 4, 65), np.float32)}, onyx.InvalidInput, r"input 'x' .*got \[1,4,65\]"),
    ({"x": np.zeros((1,) * 9, np.float32)}, onyx.InvalidInput, "rank 9"),
    ({"x": np.array(["a", "b"])}, onyx.InvalidInput, "input .x. must have dtype float, got string"),
    ({"x": np.zeros(3, object)}, onyx.InvalidInput, "dtype object"),
    ({"x": "abc"}, onyx.InvalidArgument, "input 'x' must be a numpy array, not str"),
    ({"x": None}, onyx.InvalidArgument, "not NoneType"),
    ({"x": {"a": 1}}, onyx.InvalidArgument, "not dict"),
    ({"x": [[1.0], [1.0, 2.0]]}, onyx.InvalidArgument, "cannot make a tensor"),
    ({}, onyx.InvalidArgument, "missing input x"),
    ({"y": X}, onyx.InvalidArgument, "no input named 'y'; the model's inputs are: x"),
    ({"x": X, "z": X}, onyx.InvalidArgument, "no input named 'z'"),
    ({1: X}, onyx.InvalidArgument, "no input named 1"),
], ids=["dtype", "rank", "shape", "rank-9", "strings", "objects", "str", "None", "dict", "ragged", "missing",
        "unknown", "extra", "non-str-name"])
def test_bad_inputs(ffn, feed, error, message):
    with pytest.raises(error, match=message):
        ffn.run(None, feed)
    ffn.run(None, {"x": X})  # the session is still usable


def test_inputs_that_disagree(ffn):
    session = onyx.InferenceSession(MASKED)
    x = np.zeros((2, 5, 64), np.float32)
    with pytest.raises(onyx.InvalidInput, match="key_padding_mask"):
        session.run(None, {"x": x, "key_padding_mask": np.zeros((3, 5), bool)})  # batch 3 against 2
    with pytest.raises(onyx.InvalidInput, match="key_padding_mask.*bool"):
        session.run(None, {"x": x, "key_padding_mask": np.zeros((2, 5), np.float32)})
    with pytest.raises(onyx.InvalidArgument, match="missing input key_padding_mask"):
        session.run(None, {"x": x})


@pytest.mark.parametrize("args, error, message", [
    ((["nope"], {"x": X}), onyx.InvalidArgument, "no output named 'nope'; the model's outputs are: y"),
    (("y", {"x": X}), onyx.InvalidArgument, "output_names must be a list"),
    ((3, {"x": X}), onyx.InvalidArgument, "output_names must be a list"),
    (([3], {"x": X}), onyx.InvalidArgument, "no output named 3"),
    ((None, [X]), onyx.InvalidArgument, "input_feed must be a dict"),
    ((None,), TypeError, "missing required argument 'input_feed'"),
    ((None, {"x": X}, None, 4), TypeError, "at most 3 arguments"),
])
def test_bad_run_arguments(ffn, args, error, message):
    with pytest.raises(error, match=message):
        ffn.run(*args)


def test_bad_keyword(ffn):
    with pytest.raises(TypeError, match="unexpected keyword argument 'feed'"):
        ffn.run(None, feed={"x": X})
    with pytest.raises(TypeError, match="multiple values"):
        ffn.run(None, {"x": X}, input_feed={"x": X})


def test_invalid_models(tmp_path):
    with pytest.raises(onyx.InvalidModel, match="malformed"):
        onyx.InferenceSession(b"not a model")
    cyclic = make_model([helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])],
                        [tensor("x", TensorProto.FLOAT, [1])], [tensor("a", TensorProto.FLOAT, [1])])
    with pytest.raises(onyx.InvalidModel):
        onyx.InferenceSession(cyclic)
    dangling = make_model([helper.make_node("Relu", ["nowhere"], ["y"])],
                          [tensor("x", TensorProto.FLOAT, [1])],
                          [tensor("y", TensorProto.FLOAT, [1])])
    with pytest.raises(onyx.InvalidModel, match="nowhere"):
        onyx.InferenceSession(dangling)
    with pytest.raises(onyx.FileError, match="no-such.onnx"):
        onyx.InferenceSession(str(tmp_path / "no-such.onnx"))
    with pytest.raises(onyx.FileError):
        onyx.InferenceSession(str(tmp_path))


def test_unsupported_operator_names_the_node():
    model = make_model([helper.make_node("Relu", ["x"], ["a"], name="first"),
                        helper.make_node("Frobnicate", ["a"], ["y"], name="odd_one", domain="com.example")],
                       [tensor("x", TensorProto.FLOAT, [2])], [tensor("y", TensorProto.FLOAT, [2])],
                       extra_opsets=[("com.example", 1)])
    with pytest.raises(onyx.Unsupported, match="odd_one.*Frobnicate") as caught:
        onyx.InferenceSession(model)
    assert caught.value.status == 6


def test_runtime_error_names_the_node():
    model = make_model([helper.make_node("Gather", ["data", "i"], ["y"], name="lookup")],
                       [tensor("data", TensorProto.FLOAT, [3]), tensor("i", TensorProto.INT64, [1])],
                       [tensor("y", TensorProto.FLOAT, [1])])
    session = onyx.InferenceSession(model)
    data = np.arange(3, dtype=np.float32)
    with pytest.raises(onyx.OnyxError, match="lookup") as caught:
        session.run(None, {"data": data, "i": np.array([7])})
    assert isinstance(caught.value, (onyx.RunError, onyx.InvalidInput))
    np.testing.assert_array_equal(session.run(None, {"data": data, "i": np.array([2])})[0], [2])


def test_limits():
    options = onyx.SessionOptions()
    options.set_limit("tensor_elements", 100)
    with pytest.raises(onyx.LimitExceeded, match="above the limit of 100"):
        onyx.InferenceSession(FFN, options)
    options = onyx.SessionOptions()
    options.set_limit("model_bytes", 1000)
    with pytest.raises(onyx.LimitExceeded):
        onyx.InferenceSession(FFN, options)
    options = onyx.SessionOptions()
    options.set_limit("memory_bytes", 400_000)  # the weights fit; a large batch's buffers do not
    session = onyx.InferenceSession(FFN, options)
    with pytest.raises(onyx.LimitExceeded):
        session.run(None, {"x": np.zeros((64, 128, 64), np.float32)})
    session.run(None, {"x": X})


def test_bad_options():
    options = onyx.SessionOptions()
    with pytest.raises(onyx.InvalidArgument, match="no limit named 'ram'"):
        options.set_limit("ram", 1)
    with pytest.raises(onyx.InvalidArgument, match="positive"):
        options.set_limit("graph_depth", 0)
    with pytest.raises(onyx.InvalidArgument, match="no limit named"):
        options.get_limit("ram")
    options.set_limit("tensor_elements", 1 << 40)  # above the maximum: refused by onyx
    with pytest.raises(onyx.InvalidArgument, match="out of range"):
        onyx.InferenceSession(FFN, options)
    for threads in (-1, 257, 1.5):
        options = onyx.SessionOptions()
        options.intra_op_num_threads = threads
        with pytest.raises(onyx.InvalidArgument, match="intra_op_num_threads"):
            onyx.InferenceSession(FFN, options)
    with pytest.raises(onyx.InvalidArgument, match="sess_options"):
        onyx.InferenceSession(FFN, {"intra_op_num_threads": 1})
    for source in (None, 3, ["model.onnx"]):
        with pytest.raises(onyx.InvalidArgument, match="path_or_bytes"):
            onyx.InferenceSession(source)


def test_uninitialised_session_raises():
    session = onyx.InferenceSession.__new__(onyx.InferenceSession)
    with pytest.raises(onyx.InvalidState):
        session.run(None, {})
    with pytest.raises(onyx.InvalidState):
        session._inputs()
    with pytest.raises(onyx.InvalidState):
        session._profile()
    initialised = onyx.InferenceSession(FFN)
    with pytest.raises(onyx.InvalidState, match="already"):
        onyx._onyx.Session.__init__(initialised, FFN)


def test_wrong_calls_never_crash(ffn):
    """A stream of random wrong arguments: each one raises, none crashes the process."""
    rng = np.random.default_rng(1)
    values = [X, X.astype(np.int64), X[..., :3], np.float32(1), 7, "x", None, [1, 2], b"\x00", object(), {},
              X.T,
              np.zeros((0, 0, 64), np.float32), np.zeros((1, 4, 64), np.complex64)]
    names = ["x", "y", "", None, 0]
    for _ in range(300):
        feed = {names[rng.integers(len(names))]: values[rng.integers(len(values))]
                for _ in range(rng.integers(3))}
        outputs = [None, ["y"], ["z"], "y", 5][rng.integers(5)]
        try:
            ffn.run(outputs, feed)
        except (onyx.OnyxError, TypeError):
            pass


# ---- threads ------------------------------------------------------------------------------------


def big_matmul_model(chain=32, n=768):
    w = (np.random.default_rng(0).standard_normal((n, n)) / n).astype(np.float32)
    nodes, prev = [], "x"
    for k in range(chain):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"h{k}"]))
        prev = f"h{k}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    return make_model(nodes, [tensor("x", TensorProto.FLOAT, [n, n])],
                      [tensor("y", TensorProto.FLOAT, [n, n])],
                      initializers=[numpy_helper.from_array(w, "w")])


def test_gil_released_while_running():
    """While one thread runs a model of several hundred milliseconds, another thread keeps running
    Python code: the longest pause it sees is well under the run's time."""
    options = onyx.SessionOptions()
    options.intra_op_num_threads = 1
    session = onyx.InferenceSession(big_matmul_model(), options)
    x = np.ones((768, 768), np.float32)
    start = time.perf_counter()
    session.run(None, {"x": x})
    run_time = time.perf_counter() - start
    done = threading.Event()

    def run():
        session.run(None, {"x": x})
        done.set()

    worker = threading.Thread(target=run)
    worker.start()
    last, longest = time.perf_counter(), 0.0
    while not done.is_set():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    worker.join()
    assert run_time > 0.1, "the model runs too fast to tell"
    assert longest < run_time / 2, (longest, run_time)


def test_separate_sessions_in_threads():
    inputs = [ffn_input(batch=2, seq=8, seed=s) for s in range(8)]
    reference = onyx.InferenceSession(FFN)
    expected = [reference.run(None, {"x": x})[0] for x in inputs]
    errors = []

    def work(k):
        session = onyx.InferenceSession(FFN)
        for r in range(50):
            i = (k + r) % len(inputs)
            y = session.run(None, {"x": inputs[i]})[0]
            if not np.array_equal(y, expected[i]):
                errors.append((k, r))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_one_session_from_several_threads():
    """Runs of one session from several threads at once (on extra sessions of the model, or one
    after the other): each thread gets the outputs of its own inputs, never another's or a mix."""
    session = onyx.InferenceSession(FFN)
    inputs = [ffn_input(batch=1 + s % 3, seq=3 + s, seed=s) for s in range(6)]
    expected = [session.run(None, {"x": x})[0] for x in inputs]
    errors = []
    barrier = threading.Barrier(4)

    def work(k):
        barrier.wait()
        for r in range(100):
            i = (k * 7 + r) % len(inputs)
            y = session.run(None, {"x": inputs[i]})[0]
            if y.shape != expected[i].shape or not np.array_equal(y, expected[i]):
                errors.append((k, r))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def overlapping_runs(session, xs):
    """Runs session on xs[0] in a thread and, once that run is under way, on xs[1] here."""
    results = [None, None]
    started = threading.Event()

    def work():
        started.set()
        results[0] = session.run(None, {"x": xs[0]})[0]

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    time.sleep(0.03)  # well inside the other run (several hundred milliseconds)
    results[1] = session.run(None, {"x": xs[1]})[0]
    worker.join()
    return results


def test_one_session_runs_threads_in_parallel():
    """A run that finds the session busy runs beside it on an extra session of the same model, as
    ONNX Runtime's sessions serve several threads at once; it is kept for later runs."""
    options = onyx.SessionOptions()
    options.intra_op_num_threads = 1
    session = onyx.InferenceSession(big_matmul_model(chain=24), options)
    xs = [np.full((768, 768), v, np.float32) for v in (1.0, -0.5)]
    expected = [session.run(None, {"x": x})[0] for x in xs]
    assert session.memory_bytes()["sessions"] == 1
    for got, want in zip(overlapping_runs(session, xs), expected):
        np.testing.assert_array_equal(got, want)
    memory = session.memory_bytes()
    assert memory["sessions"] == 2 and memory["session"] > 2 * 768 * 768 * 4
    for got, want in zip(overlapping_runs(session, xs[::-1]), expected[::-1]):
        np.testing.assert_array_equal(got, want)
    assert session.memory_bytes()["sessions"] == 2  # the extra one was used again


def test_profiled_session_runs_threads_one_after_the_other():
    options = onyx.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    session = onyx.InferenceSession(big_matmul_model(chain=24), options)
    xs = [np.full((768, 768), v, np.float32) for v in (1.0, -0.5)]
    overlapping_runs(session, xs)
    assert session.memory_bytes()["sessions"] == 1
    assert all(e.runs == 2 for e in session.profile())  # both runs in the one profile


def test_one_long_session_from_two_threads():
    options = onyx.SessionOptions()
    options.intra_op_num_threads = 1
    session = onyx.InferenceSession(big_matmul_model(chain=8), options)
    xs = [np.full((768, 768), v, np.float32) for v in (1.0, -0.5)]
    expected = [session.run(None, {"x": x})[0] for x in xs]
    results = [None, None]

    def work(k):
        results[k] = session.run(None, {"x": xs[k]})[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


# ---- memory -------------------------------------------------------------------------------------


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_create_and_free_1000_sessions_does_not_grow():
    with open(FFN, "rb") as f:
        data = f.read()
    x = ffn_input()

    def cycle(k):
        session = onyx.InferenceSession(data if k % 2 else FFN)
        session.run(None, {"x": x})
        try:
            session.run(None, {"x": "wrong"})  # an error path too
        except onyx.InvalidArgument:
            pass

    for k in range(100):  # warm-up: allocator pools, caches
        cycle(k)
    gc.collect()
    before = rss_bytes()
    for k in range(1000):
        cycle(k)
    gc.collect()
    growth = rss_bytes() - before
    # One session and model hold ~350 KB: a leak of either would be ~350 MB over 1,000.
    assert growth < 2 << 20, f"grew by {growth} bytes over 1,000 sessions"
