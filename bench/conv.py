#!/usr/bin/env python3
"""Convolutional models: onyx against ONNX Runtime at 1 and 2 threads.

    .venv/bin/python bench/conv.py [--rounds N] [--runs R] [--threads 1,2] [--models a,b] [--export] [--ops]

Four torchvision architectures with random weights (seeded), batch 1, 3x224x224: resnet18,
mobilenet_v3_small, efficientnet_b0, convnext_tiny. Each is exported (eval mode, TorchScript
exporter, opset 17) into bench/models/<name>/model.onnx with its input x.npy, when missing or
with --export. For each model and thread count, rounds of onyx (`onyx bench --json`, a fresh
process) and ONNX Runtime (a fresh process through bench/harness.py, ORT_ENABLE_ALL) alternate,
the order rotating; the table gives min times and ORT time / onyx time, and the largest relative
difference of onyx's output from ORT's. --ops times single operators at the models' hot shapes
instead (bench/models/conv_ops: 3x3 and 1x1 convolutions, depthwise ones, MaxPool), with their
GFLOP/s or GB/s.

torchvision: PyPI's torchvision 0.28.0 wheel, installed without its dependencies (so the pinned
CPU torch stays) into bench/.torchvision the first time an export needs it, or taken from the
directory TORCHVISION_PATH names; never into .venv, where transformers would find it. Its
compiled extension does not load beside the CPU torch wheel, so the two operators its Python
code registers fakes for (nms, qnms) are defined here first; the models need none of its
operators. Only the export needs it: timing reads bench/models.
"""
import argparse
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402  (bench/harness.py: onyx and ORT side by side)

harness.use_venv(__file__)
MODELS = harness.MODELS
NAMES = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny"]
# Multiply-adds of the convolutions and matrix products, x2: from torchvision's published
# GFLOPS figures (which count multiply-adds).
GFLOP = {"resnet18": 2 * 1.814, "mobilenet_v3_small": 2 * 0.057, "efficientnet_b0": 2 * 0.386,
         "convnext_tiny": 2 * 4.456}


def model_dir(name):
    return os.path.join(MODELS, name)


def ensure_torchvision():
    """torchvision on sys.path: from TORCHVISION_PATH, else bench/.torchvision, installed there
    (the wheel lies on the machine's disk; --no-deps keeps the pinned torch) the first time."""
    path = os.environ.get("TORCHVISION_PATH") or os.path.join(HERE, ".torchvision")
    if not os.environ.get("TORCHVISION_PATH") and not os.path.isdir(os.path.join(path, "torchvision")):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", path,
                        "torchvision==0.28.0", "pillow"], check=True)
    sys.path.insert(0, path)


def export(name):
    """Writes bench/models/<name>/{model.onnx, x.npy}."""
    ensure_torchvision()
    import numpy as np
    import torch
    if not hasattr(torch.ops, "torchvision") or not hasattr(torch.ops.torchvision, "nms"):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        export.keep = lib  # the definitions live as long as the library object
    import torchvision
    torch.manual_seed(0)
    module = getattr(torchvision.models, name)(weights=None).eval()
    # Random weights, but BatchNorm statistics that are not the identity, so that folding
    # them is exercised.
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    os.makedirs(model_dir(name), exist_ok=True)
    torch.onnx.export(module, (x,), os.path.join(model_dir(name), "model.onnx"), input_names=["x"],
                      output_names=["y"], opset_version=17, dynamo=False)
    np.save(os.path.join(model_dir(name), "x.npy"), x.numpy())


# Single operators at the models' hot shapes, for per-kernel rates: (op, C, H, W, M, kernel,
# stride, pad, group). The 3x3 convolutions are ResNet's, the depthwise ones MobileNet's,
# EfficientNet's and ConvNeXt's, the MaxPool ResNet's.
OPS = {
    "conv3x3_64x56": ("Conv", 64, 56, 56, 64, 3, 1, 1, 1),
    "conv3x3_128x28": ("Conv", 128, 28, 28, 128, 3, 1, 1, 1),
    "conv3x3_256x14": ("Conv", 256, 14, 14, 256, 3, 1, 1, 1),
    "conv3x3_512x7": ("Conv", 512, 7, 7, 512, 3, 1, 1, 1),
    "conv3x3s2_64x56": ("Conv", 64, 56, 56, 128, 3, 2, 1, 1),
    "conv7x7s2_3x224": ("Conv", 3, 224, 224, 64, 7, 2, 3, 1),
    "conv1x1_40to240x28": ("Conv", 40, 28, 28, 240, 1, 1, 0, 1),
    "conv1x1_96to24x56": ("Conv", 96, 56, 56, 24, 1, 1, 0, 1),
    "dw3x3s2_96x112": ("Conv", 96, 112, 112, 96, 3, 2, 1, 96),
    "dw3x3s2_72x56": ("Conv", 72, 56, 56, 72, 3, 2, 1, 72),
    "dw3x3_88x28": ("Conv", 88, 28, 28, 88, 3, 1, 1, 88),
    "dw3x3_144x56": ("Conv", 144, 56, 56, 144, 3, 1, 1, 144),
    "dw5x5_672x14": ("Conv", 672, 14, 14, 672, 5, 1, 2, 672),
    "dw7x7_96x56": ("Conv", 96, 56, 56, 96, 7, 1, 3, 96),
    "maxpool3x3s2_64x112": ("MaxPool", 64, 112, 112, 64, 3, 2, 1, 1),
}


def op_work(name):
    """(GFLOP, None) of a convolution, (None, GB moved) of a pool."""
    op, c, h, w, m, k, s, p, g = OPS[name]
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if op == "MaxPool":
        return None, (c * h * w + c * oh * ow) * 4 / 1e9
    return 2 * m * (c // g) * k * k * oh * ow / 1e9, None


def export_op(name):
    """Writes bench/models/conv_ops/<name>/{model.onnx, x.npy}: the operator, random weights."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    op, c, h, w, m, k, s, p, g = OPS[name]
    rng = np.random.default_rng(0)
    attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
    inits, inputs = [], ["x"]
    if op == "Conv":
        inits = [numpy_helper.from_array((rng.standard_normal((m, c // g, k, k)) * 0.1).astype(np.float32), "w"),
                 numpy_helper.from_array(rng.standard_normal(m).astype(np.float32), "b")]
        inputs += ["w", "b"]
        attrs["group"] = g
    graph = helper.make_graph([helper.make_node(op, inputs, ["y"], **attrs)], name,
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    d = os.path.join(MODELS, "conv_ops", name)
    os.makedirs(d, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10),
              os.path.join(d, "model.onnx"))
    np.save(os.path.join(d, "x.npy"), rng.standard_normal((1, c, h, w)).astype(np.float32))


def op_cases():
    """The single operators, as cases() gives the models."""
    return [{"name": name, "model": os.path.join(MODELS, "conv_ops", name, "model.onnx"),
             "inputs": {"x": os.path.join(MODELS, "conv_ops", name, "x.npy")}, "gflop": op_work(name)[0]}
            for name in OPS]


def cases():
    """The models, in the shape bench/compare.py's suites take."""
    return [{"name": name, "model": os.path.join(model_dir(name), "model.onnx"),
             "inputs": {"x": os.path.join(model_dir(name), "x.npy")}, "gflop": GFLOP[name], "goal": 1.0}
            for name in NAMES]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--models", default=",".join(NAMES))
    parser.add_argument("--export", action="store_true", help="export the models again")
    parser.add_argument("--ops", action="store_true", help="time the single operators (OPS) instead")
    args = parser.parse_args()
    if args.ops:
        return main_ops(args)
    names = args.models.split(",")
    for name in names:
        if args.export or not os.path.exists(os.path.join(model_dir(name), "model.onnx")):
            export(name)
    ratios = []
    print(f"{'model':<20} {'thr':>3} {'onyx ms':>9} {'ORT ms':>9} {'ORT/onyx':>8} {'GFLOP/s':>8} {'rel diff':>9}")
    for case in (c for c in cases() if c["name"] in names):
        diff = harness.agreement(case)
        for threads in map(int, args.threads.split(",")):
            t = harness.time_case(case, threads, args.rounds, args.runs, args.warmup)["times"]
            mine, theirs = t["onyx"], t["ort"]
            ratio = min(theirs) / min(mine)
            ratios.append(ratio)
            print(f"{case['name']:<20} {threads:>3} {min(mine):9.2f} {min(theirs):9.2f} {ratio:8.2f} "
                  f"{case['gflop'] / min(mine) * 1e3:8.1f} {diff:9.1e}", flush=True)
    print(f"geometric mean ORT/onyx: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")


def main_ops(args):
    """Min times of onyx and ORT on each single operator, interleaved, and their rates."""
    print(f"{'operator':<22} {'thr':>3} {'onyx ms':>9} {'ORT ms':>9} {'ORT/onyx':>8} {'onyx rate':>14} {'ORT rate':>14}")
    for case in op_cases():
        if args.export or not os.path.exists(case["model"]):
            export_op(case["name"])
        gflop, gb = op_work(case["name"])
        for threads in map(int, args.threads.split(",")):
            t = harness.time_case(case, threads, args.rounds, args.runs * 4, args.warmup)["times"]
            a, b = min(t["onyx"]), min(t["ort"])
            rate = (lambda t: f"{gflop / t * 1e3:8.1f} GFLOP/s") if gflop else (lambda t: f"{gb / t * 1e3:9.1f} GB/s")
            print(f"{case['name']:<22} {threads:>3} {a:9.3f} {b:9.3f} {b / a:8.2f} {rate(a):>14} {rate(b):>14}",
                  flush=True)


if __name__ == "__main__":
    main()
