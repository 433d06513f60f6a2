"""Tests of the Python package onyx for the values numpy has no dtype of its own for: ONNX 1.23's
narrow element types (as ml_dtypes' numpy types), sequences (lists of arrays), optionals (None or
the value) and strings. Each is checked against something other than onyx: ml_dtypes' own
conversions and bytes, or ONNX Runtime's outputs and NodeArgs for the same model and feed.
Needs the package installed (tools/test-python.sh), onnx (which brings ml_dtypes) and
onnxruntime."""

import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import onnxruntime
import pytest
import onnx.reference
from onnx import TensorProto, helper

import onyx

# ONNX's code, ml_dtypes' type, the bits each element has.
NARROW = {
    TensorProto.BFLOAT16: (ml_dtypes.bfloat16, 16),
    TensorProto.FLOAT8E4M3FN: (ml_dtypes.float8_e4m3fn, 8),
    TensorProto.FLOAT8E4M3FNUZ: (ml_dtypes.float8_e4m3fnuz, 8),
    TensorProto.FLOAT8E5M2: (ml_dtypes.float8_e5m2, 8),
    TensorProto.FLOAT8E5M2FNUZ: (ml_dtypes.float8_e5m2fnuz, 8),
    TensorProto.UINT4: (ml_dtypes.uint4, 4),
    TensorProto.INT4: (ml_dtypes.int4, 4),
    TensorProto.FLOAT4E2M1: (ml_dtypes.float4_e2m1fn, 4),
    TensorProto.FLOAT8E8M0: (ml_dtypes.float8_e8m0fnu, 8),
    TensorProto.UINT2: (ml_dtypes.uint2, 2),
    TensorProto.INT2: (ml_dtypes.int2, 2),
    TensorProto.FLOAT6E2M3: (ml_dtypes.float6_e2m3fn, 6),
    TensorProto.FLOAT6E3M2: (ml_dtypes.float6_e3m2fn, 6),
}


def ids(codes):
    return [TensorProto.DataType.Name(c) for c in codes]


def make_model(nodes, inputs, outputs, opset=28, ir_version=None):
    graph = helper.make_graph(nodes, "test", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version  # ONNX Runtime 1.31 reads IR 13 at most
    return model.SerializeToString()


def tensor(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def seq(name, dtype, shape=None):
    return helper.make_tensor_sequence_value_info(name, dtype, shape)


def optional(name, dtype, shape=None):
    inner = helper.make_tensor_type_proto(dtype, shape)
    return helper.make_value_info(name, helper.make_optional_type_proto(inner))


def optional_seq(name, dtype):
    inner = helper.make_sequence_type_proto(helper.make_tensor_type_proto(dtype, None))
    return helper.make_value_info(name, helper.make_optional_type_proto(inner))


def every_code(dtype, bits):
    """Every value of an ml_dtypes type: each of its 2^bits codes, as ml_dtypes lays them out."""
    if bits == 16:
        return np.arange(1 << 16, dtype=np.uint16).view(dtype)
    codes = np.arange(1 << bits, dtype=np.uint8)
    # ml_dtypes' bytes of a narrow signed integer: the low bits only (int4 -1 is 0x0f).
    return codes.view(dtype)


# ---- ONNX 1.23's element types as ml_dtypes' types --------------------------------------------


@pytest.mark.parametrize("code", list(NARROW), ids=ids(NARROW))
def test_every_value_of_each_narrow_type_round_trips(code):
    """A graph whose output is its input: every value of the type comes back with ml_dtypes' type
    and ml_dtypes' own bytes (INT4 / INT2, which onyx holds sign-extended, masked back)."""
    dtype, bits = NARROW[code]
    session = onyx.InferenceSession(make_model([], [tensor("x", code, ["n"])], [tensor("x", code, ["n"])]))
    name = TensorProto.DataType.Name(code).lower().replace("_", "")
    assert session.get_inputs()[0].type == f"tensor({name})"
    x = every_code(dtype, bits)
    (y,) = session.run(None, {"x": x})
    assert y.dtype == np.dtype(dtype)
    assert y.tobytes() == x.tobytes()
    (y,) = session.run(None, {"x": x[::2]})  # strided: converted on the way in
    assert y.tobytes() == x[::2].tobytes()


def python_calls(function):
    """The names of the Python functions called while function() runs."""
    calls = []
    sys.setprofile(lambda frame, event, arg: calls.append(frame.f_code.co_name) if event == "call" else None)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("code", [TensorProto.BFLOAT16, TensorProto.FLOAT8E4M3FN, TensorProto.INT4],
                         ids=["BFLOAT16", "FLOAT8E4M3FN", "INT4"])
def test_narrow_arrays_are_read_in_place(code):
    """Once the extension has met an ml_dtypes type, C-contiguous arrays of it are bound as they
    are, with no Python conversion in between, as numpy's own dtypes are."""
    dtype, bits = NARROW[code]
    session = onyx.InferenceSession(make_model([], [tensor("x", code, ["n"])], [tensor("x", code, ["n"])]))
    x = every_code(dtype, bits)
    session.run(None, {"x": x})
    calls = python_calls(lambda: session.run(None, {"x": x}))
    assert "_convert_input" not in calls and "_wrap_output" in calls
    assert "_convert_input" in python_calls(lambda: session.run(None, {"x": x[::2]}))


CASTS = [c for c in NARROW if c not in (TensorProto.BFLOAT16,)]


@pytest.mark.parametrize("code", CASTS, ids=ids(CASTS))
def test_cast_agrees_with_ml_dtypes_and_onnx(code):
    """Cast from each narrow type to float and back, on every value the type has: onyx's floats
    are ml_dtypes' conversions of the same codes, and those floats cast back give the codes ONNX's
    reference gives (ml_dtypes' own where ONNX agrees: ONNX saturates infinities to the largest
    finite value, keeps one NaN code per sign and rounds float8e8m0 up)."""
    dtype, bits = NARROW[code]
    model = make_model([helper.make_node("Cast", ["x"], ["f"], to=TensorProto.FLOAT),
                        helper.make_node("Cast", ["g"], ["y"], to=code)],
                       [tensor("x", code, ["n"]), tensor("g", TensorProto.FLOAT, ["n"])],
                       [tensor("f", TensorProto.FLOAT, ["n"]), tensor("y", code, ["n"])])
    session = onyx.InferenceSession(model)
    x = every_code(dtype, bits)
    expected = x.astype(np.float32)  # ml_dtypes' conversion
    f, y = session.run(None, {"x": x, "g": expected})
    np.testing.assert_array_equal(f, expected)  # NaN where ml_dtypes has NaN
    assert y.dtype == np.dtype(dtype)
    (reference,) = onnx.reference.ReferenceEvaluator(model).run(["y"], {"x": x, "g": expected})
    assert y.tobytes() == reference.astype(dtype).tobytes()


def test_python_numbers_take_the_declared_narrow_type():
    model = make_model([helper.make_node("Cast", ["x"], ["f"], to=TensorProto.FLOAT)],
                       [tensor("x", TensorProto.FLOAT8E4M3FN, [3])], [tensor("f", TensorProto.FLOAT, [3])])
    (f,) = onyx.InferenceSession(model).run(None, {"x": [1.0, -0.5, 448]})
    np.testing.assert_array_equal(f, np.array([1.0, -0.5, 448], ml_dtypes.float8_e4m3fn).astype(np.float32))


def test_narrow_input_of_the_wrong_type_is_refused():
    session = onyx.InferenceSession(make_model([], [tensor("x", TensorProto.INT4, [2])],
                                               [tensor("x", TensorProto.INT4, [2])]))
    with pytest.raises(onyx.InvalidInput, match="int4.*uint4|uint4.*int4"):
        session.run(None, {"x": np.array([1, 2], ml_dtypes.uint4)})


MISSING_ML_DTYPES = r"""
import sys
sys.modules["ml_dtypes"] = None  # as if it were not installed: importing it raises ImportError
import numpy as np
import onyx
float8, identity, bfloat16 = sys.argv[1:4]
session = onyx.InferenceSession(float8)
print(session.get_inputs()[0].type, session.get_outputs()[0].type)
try:
    session.run(None, {"x": np.ones(2, np.float32)})
except ImportError as e:
    print("output:", e)
session = onyx.InferenceSession(identity)
try:
    session.run(None, {"x": [1.0, 2.0]})
except ImportError as e:
    print("input:", e)
(y,) = onyx.InferenceSession(bfloat16).run(None, {"x": np.ones(2, np.float32)})
print("bfloat16:", y.dtype, y.tolist())
"""


def test_without_ml_dtypes_the_message_says_what_is_missing(tmp_path):
    f8 = TensorProto.FLOAT8E4M3FN
    with open(tmp_path / "cast.onnx", "wb") as f:
        f.write(make_model([helper.make_node("Cast", ["x"], ["y"], to=f8)],
                           [tensor("x", TensorProto.FLOAT, [2])], [tensor("y", f8, [2])]))
    with open(tmp_path / "identity.onnx", "wb") as f:
        f.write(make_model([], [tensor("x", f8, [2])], [tensor("x", f8, [2])]))
    with open(tmp_path / "bf16.onnx", "wb") as f:
        f.write(make_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)],
                           [tensor("x", TensorProto.FLOAT, [2])], [tensor("y", TensorProto.BFLOAT16, [2])]))
    paths = [str(tmp_path / name) for name in ("cast.onnx", "identity.onnx", "bf16.onnx")]
    out = subprocess.run([sys.executable, "-c", MISSING_ML_DTYPES, *paths], capture_output=True, text=True,
                         check=True).stdout
    assert "tensor(float) tensor(float8e4m3fn)" in out
    assert ("output: output 'y' (tensor(float8e4m3fn)) needs the ml_dtypes package for its numpy type "
            "(numpy has none): pip install ml_dtypes") in out
    assert "input: input 'x' needs the ml_dtypes package" in out
    # bfloat16 comes as its uint16 bits then, as it always has (docs/PYTHON.md).
    assert "bfloat16: uint16 [16256, 16256]" in out


# ---- sequences and optionals, as ONNX Runtime has them -------------------------------------------

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def containers_model(ir_version=10):
    return make_model(
        [helper.make_node("SequenceInsert", ["s", "t"], ["s2"]),
         helper.make_node("SequenceLength", ["s2"], ["n"]),
         helper.make_node("ConcatFromSequence", ["s2"], ["c"], axis=1),
         helper.make_node("SplitToSequence", ["c"], ["parts"], axis=1, keepdims=1),
         helper.make_node("OptionalHasElement", ["o"], ["has"]),
         helper.make_node("Identity", ["o"], ["o2"]),
         helper.make_node("Identity", ["os"], ["os2"])],
        [seq("s", F, [2, "k"]), tensor("t", F, [2, "m"]), optional("o", I64, [3]), optional_seq("os", I64)],
        [seq("s2", F), tensor("n", I64, []), tensor("c", F, [2, "total"]), seq("parts", F),
         tensor("has", TensorProto.BOOL, []), optional("o2", I64, [3]), optional_seq("os2", I64)],
        opset=21, ir_version=ir_version)


def assert_same_values(got, expected):
    """Lists item by item, None as None, arrays by dtype, shape and value."""
    if expected is None:
        assert got is None
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same_values(g, e)
    else:
        assert isinstance(got, np.ndarray) and got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_node_args_are_spelled_as_onnxruntime_spells_them():
    model = containers_model()
    session, reference = onyx.InferenceSession(model), onnxruntime.InferenceSession(model)
    for ours, theirs in [(session.get_inputs(), reference.get_inputs()),
                         (session.get_outputs(), reference.get_outputs())]:
        assert [(a.name, a.type) for a in ours] == [(a.name, a.type) for a in theirs]
        for a, b in zip(ours, theirs):
            if not a.type.startswith("optional(tensor"):  # onyx keeps no shape inside an optional
                assert a.shape == b.shape, a.name
    assert session.get_inputs()[0].type == "seq(tensor(float))"
    assert session.get_inputs()[3].type == "optional(seq(tensor(int64)))"
    assert session.get_outputs()[5].type == "optional(tensor(int64))"


FEEDS = [
    {"s": [np.ones((2, 3), np.float32), np.arange(2, dtype=np.float32).reshape(2, 1)],
     "t": np.full((2, 2), 7, np.float32), "o": np.arange(3), "os": [np.arange(2), np.arange(4)]},
    {"s": [], "t": np.zeros((2, 1), np.float32), "o": None, "os": None},
    {"s": [np.ones((2, 0), np.float32)], "t": np.ones((2, 5), np.float32), "o": np.array([5, 6, 7]),
     "os": []},
]


@pytest.mark.parametrize("feed", FEEDS, ids=["items", "empty", "empty-items"])
def test_sequences_and_optionals_as_onnxruntime(feed):
    """Sequences in and out as lists of arrays, optionals as None or the value: the outputs of
    ONNX Runtime for the same model and feed."""
    model = containers_model()
    got = onyx.InferenceSession(model).run(None, feed)
    expected = onnxruntime.InferenceSession(model).run(None, feed)
    assert_same_values(got, expected)


def test_sequence_from_a_tuple_and_python_lists():
    session = onyx.InferenceSession(containers_model())
    feed = {"s": (np.ones((2, 1), np.float32), [[2.0], [3.0]]), "t": [[4.0], [5.0]], "o": [1, 2, 3],
            "os": None}
    s2, n, c, parts, has, o2, os2 = session.run(None, feed)
    assert int(n) == 3 and bool(has) and os2 is None
    np.testing.assert_array_equal(c, [[1, 2, 4], [1, 3, 5]])
    assert [p.dtype for p in parts] == [np.float32] * 3
    assert o2.dtype == np.int64


@pytest.mark.parametrize("feed, error, message", [
    ({"s": np.ones((2, 3), np.float32)}, onyx.InvalidArgument,
     r"input 's' is a seq\(tensor\(float\)\): it takes a list of arrays, not ndarray"),
    ({"s": [np.ones((2, 3), np.int64)]}, onyx.InvalidInput,
     r"input 's'\[0\] is a tensor\(int64\); the model's seq\(tensor\(float\)\) takes only "
     r"tensor\(float\) items"),
    ({"s": [np.ones((2, 1), np.float32), "x"]}, onyx.InvalidArgument,
     r"input 's'\[1\] must be a numpy array"),
    ({"s": [np.array(["a", "b"])]}, onyx.InvalidInput,
     r"input 's'\[0\] is a tensor\(string\)"),
    ({"s": [np.ones((1,) * 9, np.float32)]}, onyx.InvalidInput, "rank 9"),
    ({"s": [np.ones((3, 1), np.float32)]}, onyx.OnyxError, "."),  # ConcatFromSequence: 3 rows, t has 2
    ({"os": np.arange(2)}, onyx.InvalidArgument, r"optional\(seq\(tensor\(int64\)\)\)"),
    ({"o": [[1, 2], [3]]}, onyx.InvalidArgument, "cannot make a tensor"),
], ids=["array-for-sequence", "item-dtype", "item-str", "item-strings", "item-rank", "item-shape",
        "array-for-optional-sequence", "ragged-optional"])
def test_bad_sequence_and_optional_inputs(feed, error, message):
    session = onyx.InferenceSession(containers_model())
    good = dict(FEEDS[0])
    with pytest.raises(error, match=message):
        session.run(None, {**good, **feed})
    assert_same_values(session.run(None, good)[1], np.array(3))  # still usable


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_sequence_runs_do_not_grow():
    """Each run packs its sequence inputs into a block of their own: freed after the run."""
    model = make_model([helper.make_node("SequenceInsert", ["s", "t"], ["s2"]),
                        helper.make_node("Identity", ["os"], ["os2"])],
                       [seq("s", F, [2, "k"]), tensor("t", F, [2, "m"]), optional_seq("os", I64)],
                       [seq("s2", F), optional_seq("os2", I64)])
    session = onyx.InferenceSession(model)
    feed = {"s": [np.ones((2, 1 << 16), np.float32)] * 2, "t": np.ones((2, 1), np.float32),
            "os": [np.arange(1000)]}
    for _ in range(50):
        session.run(None, feed)
    before = rss_bytes()
    for _ in range(500):  # 1 MiB of input and of output per run
        session.run(None, feed)
    growth = rss_bytes() - before
    assert growth < 16 << 20, f"grew by {growth} bytes over 500 runs"


# ---- strings -----------------------------------------------------------------------------------


def strings_model():
    """StringConcat(x, z) and Equal(x, z) on string tensors (opset 20, ONNX Runtime's newest)."""
    s = TensorProto.STRING
    return make_model([helper.make_node("StringConcat", ["x", "z"], ["y"]),
                       helper.make_node("Equal", ["x", "z"], ["e"])],
                      [tensor("x", s, [2]), tensor("z", s, [2])],
                      [tensor("y", s, [2]), tensor("e", TensorProto.BOOL, [2])], opset=20, ir_version=10)


STRING_FEEDS = [
    {"x": np.array(["a", "bé"]), "z": np.array(["a", "b"])},
    {"x": np.array([b"a", b""]), "z": np.array(["a", ""], object)},
    {"x": ["q", "\u4e2d\u6587"], "z": ["q", "x"]},
]


def test_string_tensors():
    """As ONNX Runtime's: arrays of str (or of bytes, or object arrays of either) in, object
    arrays of str out."""
    float_model = make_model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", F, [2])],
                             [tensor("y", F, [2])])
    session = onyx.InferenceSession(strings_model())
    reference = onnxruntime.InferenceSession(strings_model())
    assert [(a.name, a.type, a.shape) for a in session.get_inputs() + session.get_outputs()] == \
        [(a.name, a.type, a.shape) for a in reference.get_inputs() + reference.get_outputs()]
    for feed in STRING_FEEDS:
        assert_same_values(session.run(None, feed), reference.run(None, feed))
    # Bytes that are not UTF-8 come back as the surrogates Python decodes them to, and go in again.
    (y, _) = session.run(None, {"x": np.array([b"\xff", b"a"], object), "z": ["", "b"]})
    assert y.tolist() == ["\udcff", "ab"]
    (y, _) = session.run(None, {"x": y, "z": ["", ""]})
    assert y.tolist() == ["\udcff", "ab"]
    with pytest.raises(onyx.InvalidInput, match="numpy dtype object: element 1 is a int, not a str or bytes"):
        session.run(None, {"x": np.array(["a", 1], object), "z": ["a", "b"]})
    with pytest.raises(onyx.InvalidInput, match="must have dtype string, got float"):
        session.run(None, {"x": np.ones(2, np.float32), "z": ["a", "b"]})
    with pytest.raises(onyx.InvalidInput, match="must have dtype float, got string"):
        onyx.InferenceSession(float_model).run(None, {"x": np.array(["a", "b"])})


def test_strings_in_sequences_and_optionals():
    """A graph whose outputs are its inputs: a sequence and an optional of string tensors come
    back as they went in (each string item packed into the value's block)."""
    s = TensorProto.STRING
    inner = helper.make_tensor_type_proto(s, None)
    o = helper.make_value_info("o", helper.make_optional_type_proto(inner))
    session = onyx.InferenceSession(make_model([], [seq("s", s), o], [seq("s", s), o]))
    assert [a.type for a in session.get_inputs()] == ["seq(tensor(string))", "optional(tensor(string))"]
    items = [np.array(["u"], object), np.array([["v", "w\u00e9"]], object), np.array([], object)]
    got = session.run(None, {"s": items, "o": np.array("x", object)})
    assert_same_values(got, [items, np.array("x", object)])
    assert_same_values(session.run(None, {"s": [], "o": None}), [[], None])
