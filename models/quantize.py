#!/usr/bin/env python3
"""Quantizes float models with ONNX Runtime's quantizer, with ONNX Runtime's outputs as reference.

For each committed float block under models/ (SOURCES below) this writes three int8 models:
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

The integer sums are exact in both runtimes, but a float difference of one rounding before a
quantization (onyx's fused GELU or LayerNorm, its float MatMul sums in another order) can move a
value across a rounding boundary and one quantization step (about 1% of the range) apart, so
`onyx test` compares these models with a looser tolerance than the float blocks:
    build/cli/onyx test --atol 0.02 models/quantized
(see the lead's tools/test.sh).

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
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

SOURCES = ["ffn_gelu", "ffn_relu", "encoder_prenorm_gelu_op17", "encoder_postnorm_relu_op14", "gpt2_block",
           "mha_torch"]
VARIANTS = ["dynamic", "dynamic_pc", "qdq"]
PER_CHANNEL_QDQ = ["ffn_gelu", "encoder_prenorm_gelu_op17"]  # also quantize_static with per_channel=True


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
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    with tempfile.TemporaryDirectory() as tmp:
        # The TorchScript exports keep shape information the quantizer's own inference needs.
        if variant in ("dynamic", "dynamic_pc"):
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=variant == "dynamic_pc")
        else:
            reader = RandomReader(sets)
            quantize_static(src, dst, reader, quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, per_channel=variant == "qdq_pc",
                            calibrate_method=__import__("onnxruntime.quantization", fromlist=["CalibrationMethod"])
                            .CalibrationMethod.MinMax,
                            extra_options={"CalibTensorRangeSymmetric": False})
        for leftover in glob.glob(os.path.join(os.path.dirname(dst), "*augmented*")):
            os.remove(leftover)


def reference(path, sets):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
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


def main(argv):
    out = argv[0] if argv else os.path.join(HERE, "quantized")
    names = argv[1:] or SOURCES
    logging.getLogger().setLevel(logging.ERROR)
    for name in names:
        src_dir = os.path.join(HERE, name)
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
