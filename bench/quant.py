#!/usr/bin/env python3
"""int8 benchmark suite: the benchmark blocks quantized by ONNX Runtime's quantizer, onyx against
ONNX Runtime on the same quantized model and input.

The float blocks (bench/export.py: bench/models/<block>/model.onnx and x.npy) are quantized into
bench/models/quantized/<block>_<variant>/ (model.onnx and x.npy), variants as models/quantize.py:
  dynamic     quantize_dynamic, int8 weights per tensor (DynamicQuantizeLinear + MatMulInteger)
  dynamic_pc  quantize_dynamic, per_channel=True
  qdq         quantize_static, QDQ format, uint8 activations, int8 weights, MinMax calibration on
              seeded random inputs of the block's shape
cases() lists them for bench/compare.py ({"name", "model", "inputs", "gflop"}); main() times
them through bench/harness.py: `onyx bench --json` against an ONNX Runtime worker process (all
graph optimizations, intra_op threads as onyx's, sequential), alternating in rounds and keeping
each one's fastest run (the machine may be shared), and checks onyx's output against ONNX
Runtime's.

    .venv/bin/python bench/quant.py [--threads 1,2] [--rounds 5] [--runs 20] [--source DIR] [NAME...]

--source: where the float blocks are (default bench/models; exported there when missing). NAMEs
keep the cases whose name starts with one of them.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402  (bench/harness.py: onyx and ORT side by side)

harness.use_venv(__file__)
MODELS = harness.MODELS
OUT = os.path.join(MODELS, "quantized")
BLOCKS = ["ffn_d768", "mha_d768", "encoder_d768", "encoder_d512_gelu_prenorm", "encoder_d256_t16"]
VARIANTS = ["dynamic", "dynamic_pc", "qdq"]

import numpy as np  # noqa: E402


def gflop(block):
    """The block's matrix-product GFLOP per run (bench/export.py's count), now int8 operations."""
    sys.path.insert(0, HERE)
    import export  # bench/export.py (imports torch)
    b, s, _ = export.BLOCKS[block][1]
    return export.flops(block, b, s) * 1e-9


def quantize_block(block, variant, source):
    """Quantizes source/<block>/model.onnx into OUT/<block>_<variant>/ unless already there."""
    directory = os.path.join(OUT, f"{block}_{variant}")
    path, x_path = os.path.join(directory, "model.onnx"), os.path.join(directory, "x.npy")
    if os.path.exists(path) and os.path.exists(x_path):
        return path, x_path
    import logging
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    logging.getLogger().setLevel(logging.ERROR)
    src, x = os.path.join(source, block, "model.onnx"), np.load(os.path.join(source, block, "x.npy"))
    os.makedirs(directory, exist_ok=True)
    if variant == "qdq":
        rng = np.random.default_rng(0)
        batches = iter([{"x": rng.standard_normal(x.shape).astype(np.float32)} for _ in range(4)])

        class Reader:
            def get_next(self):
                return next(batches, None)
        quantize_static(src, path, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    else:
        quantize_dynamic(src, path, weight_type=QuantType.QInt8, per_channel=variant == "dynamic_pc")
    np.save(x_path, x)
    return path, x_path


def exact_model(path):
    """model_exact.onnx beside path: the model with exact integer products, what the outputs are
    compared with (models/quantize.py's exact_integer_products: ONNX Runtime's own MatMulInteger
    saturates on CPUs without VNNI)."""
    exact = os.path.join(os.path.dirname(path), "model_exact.onnx")
    if not os.path.exists(exact) or os.path.getmtime(exact) < os.path.getmtime(path):
        import onnx
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "models"))
        from quantize import exact_integer_products
        onnx.save(exact_integer_products(onnx.load(path)), exact)
    return exact


def ensure_sources(source):
    if not all(os.path.exists(os.path.join(source, b, "model.onnx")) for b in BLOCKS):
        subprocess.run([sys.executable, os.path.join(HERE, "export.py"), source], check=True)


def cases(source=MODELS):
    """The quantized blocks, quantized first when missing."""
    ensure_sources(source)
    result = []
    for block in BLOCKS:
        flop = gflop(block)
        for variant in VARIANTS:
            model, x = quantize_block(block, variant, source)
            result.append({"name": f"{block}_{variant}", "model": model, "inputs": {"x": x}, "gflop": flop,
                           "peak": "int8_dot", "goal": 1.2, "reference_model": exact_model(model)})
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    threads, rounds, runs, source, names = [1, 2], 5, 20, MODELS, []
    i = 0
    while i < len(argv):
        if argv[i] == "--threads":
            threads = [int(t) for t in argv[i + 1].split(",")]
            i += 1
        elif argv[i] == "--rounds":
            rounds = int(argv[i + 1])
            i += 1
        elif argv[i] == "--runs":
            runs = int(argv[i + 1])
            i += 1
        elif argv[i] == "--source":
            source = argv[i + 1]
            i += 1
        else:
            names.append(argv[i])
        i += 1
    print(f"{'case':38} {'thr':>3} {'onyx ms':>9} {'ORT ms':>9} {'ORT/onyx':>8} {'onyx GOP/s':>10}  "
          "max|onyx - ORT| / max|ORT|")
    for case in cases(source):
        if names and not any(case["name"].startswith(n) for n in names):
            continue
        diff = harness.agreement(case)
        for t in threads:
            times = harness.time_case(case, t, rounds, runs, 3)["times"]
            onyx_best, ort_best = min(times["onyx"]), min(times["ort"])
            rate = case["gflop"] / (onyx_best * 1e-3) if case["gflop"] else float("nan")
            print(f"{case['name']:38} {t:3d} {onyx_best:9.3f} {ort_best:9.3f} {ort_best / onyx_best:8.2f} "
                  f"{rate:10.1f}  {diff:.2e}", flush=True)


if __name__ == "__main__":
    main()
