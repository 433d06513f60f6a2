#!/usr/bin/env python3
"""Quantizes float models with ONNX Runtime's quantizer, with ONNX Runtime's outputs as reference.

For each committed float block under models/ (SOURCES below; cnn_small, two Conv + Relu layers,
is made here into OUT/cnn_small with seeded weights and inputs and ONNX Runtime's outputs) this
writes three or four int8 models:
  OUT/<block>_dynamic/model.onnx     quantize_dynamic, weights int8 per tensor: DynamicQuantizeLinear,
                                     MatMulInteger, Cast, Mul (the scales), Add (the bias)
  OUT/<block>_dynamic_pc/model.onnx  quantize_dynamic with per_channel=True: scales and zero points
                                     per output column
  OUT/<block>_qdq/model.onnx         quantize_static in QDQ format (activations uint8, weights int8
                                     per tensor), calibrated (MinMax) on seeded random inputs
  OUT/<block>_qdq_pc/model.onnx      the same with per_channel=True (for the blocks in PER_CHANNEL_QDQ)
with OUT/<name>/test_data_set_N/{input,output}_K.pb: the block's own test inputs and what ONNX
Runtime computes for them with its graph optimizations off (ORT_DISABLE_ALL), that is each node as
the ONNX specification defines it. (With them on, ONNX Runtime fuses the quantized nodes its own
way and rounds differently: a DynamicQuantizeLinear level, or a QuantizeLinear level in a QDQ
model, may then come out one step apart.)

The integer sums are exact in onyx and in these references (ONNX Runtime's MatMulInteger is not on
every CPU: see exact_integer_products) and the dynamic models' float steps are the graph's own, so onyx matches these references within `onyx test`'s default tolerances (rtol 1e-3,
atol 1e-7): `build/cli/onyx test models/quantized`. In the QDQ models a float rounding of onyx's
(its exact integer sum times one scale against a float MatMul, its fused GELU or LayerNorm) could
move a value across a rounding boundary of a following QuantizeLinear, one quantization step
(about 1% of that tensor's range) away; none of these data sets does, and the models are
deterministic (quantizing again gives the same bytes).

Run from anywhere with the project's virtual environment:
    .venv/bin/python models/quantize.py [OUT [NAME...]]
OUT defaults to models/quantized beside this script; NAMEs (source blocks) limit the run.
Deterministic: the calibration data is seeded. ONNX Runtime 1.31.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(os.path.dirname(HERE), ".venv")
if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(os.path.join(VENV, "bin", "python")):
    os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"), os.path.abspath(__file__)]
             + sys.argv[1:])

import glob
import logging
import shutil

import numpy as np
import onnx
from onnx import numpy_helper

SOURCES = ["ffn_gelu", "ffn_relu", "encoder_prenorm_gelu_op17", "encoder_postnorm_relu_op14", "gpt2_block",
           "mha_torch", "cnn_small"]
VARIANTS = ["dynamic", "dynamic_pc", "qdq"]
PER_CHANNEL_QDQ = ["ffn_gelu", "encoder_prenorm_gelu_op17", "cnn_small"]  # also quantize_static with per_channel=True


def load_inputs(directory):
    """The inputs of each test_data_set_N under directory, as {name: array} in input order."""
    model = onnx.load(os.path.join(directory, "model.onnx"), load_external_data=False)
    names = [i.name for i in model.graph.input]
    sets = []
    for data_set in sorted(glob.glob(os.path.join(directory, "test_data_set_*"))):
        arrays = []
        for k in range(len(names)):
            t = onnx.TensorProto()
            with open(os.path.join(data_set, f"input_{k}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            arrays.append(numpy_helper.to_array(t))
        sets.append(dict(zip(names, arrays)))
    return sets


class RandomReader:
    """Seeded calibration data: normal floats of each test input's shape, other inputs as given."""

    def __init__(self, sets, seed=0, count=8):
        rng = np.random.default_rng(seed)
        self.batches = []
        for i in range(count):
            like = sets[i % len(sets)]
            self.batches.append({k: rng.standard_normal(v.shape).astype(v.dtype) if v.dtype.kind == "f" else v
                                 for k, v in like.items()})
        self.it = iter(self.batches)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        self.it = iter(self.batches)


def quantize(src, dst, variant, sets):
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    if variant in ("dynamic", "dynamic_pc"):
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=variant == "dynamic_pc")
    else:
        quantize_static(src, dst, RandomReader(sets), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=variant == "qdq_pc",
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"CalibTensorRangeSymmetric": False})
    for leftover in glob.glob(os.path.join(os.path.dirname(dst), "*augmented*")):
        os.remove(leftover)


def exact_integer_products(model):
    """The model with each MatMulInteger computed in float64 (exact for 8-bit operands: every sum
    stays far below 2^53) and cast back to int32, as the ONNX specification defines it.

    ONNX Runtime's own MatMulInteger is not exact on every CPU: on x86-64 without VNNI (AVX2
    only, an AMD Zen 3 for one) its uint8 x int8 kernel multiplies with vpmaddubsw, which
    saturates each sum of two byte products at the int16 range, so a pair such as
    200 * 100 + 200 * 100 comes out as 32767 (ONNX Runtime's documentation of quantization says
    so, and suggests reduce_range). On such a CPU its outputs of quantize_dynamic's models are
    8-30% (of their range) away from the exact ones; with this rewrite they are exact on every
    CPU and ONNX Runtime stays the oracle for every other node."""
    from onnx import TensorProto, helper
    model = onnx.ModelProto.FromString(model.SerializeToString())
    nodes = []
    for n, node in enumerate(model.graph.node):
        if node.op_type != "MatMulInteger" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        tag = f"_exact{n}"
        operands = []
        for side, (value, zero) in enumerate(((node.input[0], node.input[2] if len(node.input) > 2 else ""),
                                              (node.input[1], node.input[3] if len(node.input) > 3 else ""))):
            wide = f"{value}{tag}_f64_{side}"
            nodes.append(helper.make_node("Cast", [value], [wide], to=TensorProto.DOUBLE))
            if zero:
                zero_wide = f"{zero}{tag}_zp_{side}"
                nodes.append(helper.make_node("Cast", [zero], [zero_wide], to=TensorProto.DOUBLE))
                shifted = f"{wide}_shifted"
                nodes.append(helper.make_node("Sub", [wide, zero_wide], [shifted]))
                wide = shifted
            operands.append(wide)
        product = f"{node.output[0]}{tag}_f64"
        nodes.append(helper.make_node("MatMul", operands, [product]))
        nodes.append(helper.make_node("Cast", [product], [node.output[0]], to=TensorProto.INT32))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def reference(path, sets):
    """What ONNX Runtime computes for each set, node by node (graph optimizations off), with the
    integer products exact (exact_integer_products)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    model = exact_integer_products(onnx.load(path))
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return [dict(zip(names, session.run(None, inputs))) for inputs in sets]


def write_sets(directory, sets, outputs):
    for old in glob.glob(os.path.join(directory, "test_data_set_*")):
        shutil.rmtree(old)
    for n, (inputs, outs) in enumerate(zip(sets, outputs)):
        d = os.path.join(directory, f"test_data_set_{n}")
        os.makedirs(d)
        for k, (name, array) in enumerate(inputs.items()):
            with open(os.path.join(d, f"input_{k}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(array, name).SerializeToString())
        for k, (name, array) in enumerate(outs.items()):
            with open(os.path.join(d, f"output_{k}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(array, name).SerializeToString())


def make_cnn(directory):
    """cnn_small: Conv 3->8 3x3 pad 1, Relu, Conv 8->16 3x3 stride 2 pad 1, Relu; x [N, 3, 16, 16]."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(0)
    w1, b1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), (rng.standard_normal(8) * 0.1).astype(np.float32)
    w2, b2 = (rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(np.float32), (rng.standard_normal(16) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["y"])]
    graph = helper.make_graph(nodes, "cnn_small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16, 8, 8])],
                              [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "model.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    sets = [{"x": rng.standard_normal((n, 3, 16, 16)).astype(np.float32)} for n in (1, 2)]
    write_sets(directory, sets, reference(path, sets))


def main(argv):
    out = argv[0] if argv else os.path.join(HERE, "quantized")
    names = argv[1:] or SOURCES
    logging.getLogger().setLevel(logging.ERROR)
    for name in names:
        src_dir = os.path.join(HERE, name)
        if name == "cnn_small":
            src_dir = os.path.join(out, name)
            make_cnn(src_dir)
        sets = load_inputs(src_dir)
        for variant in VARIANTS + (["qdq_pc"] if name in PER_CHANNEL_QDQ else []):
            directory = os.path.join(out, f"{name}_{variant}")
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, "model.onnx")
            quantize(os.path.join(src_dir, "model.onnx"), path, variant, sets)
            write_sets(directory, sets, reference(path, sets))
            ops = sorted({n.op_type for n in onnx.load(path).graph.node})
            print(f"{name}_{variant}: {os.path.getsize(path)} bytes, ops {' '.join(ops)}")


if __name__ == "__main__":
    main(sys.argv[1:])
