#!/usr/bin/env python3
"""What a run costs through onyx's Python package, against the C API and against onnxruntime's
Python package.

    .venv/bin/python bench/python_overhead.py [--rounds N] [--runs R] [--blocks a,b] [--threads T]

1. Overhead per run: InferenceSession.run(None, {"x": x}) timed in this process, against
   `onyx bench` (build/cli/onyx: the C API, onyx_session_run on inputs bound once) on the same
   model, input and thread count. Measured on a one-element Identity model (the fixed cost of a
   call: arguments, binding, the output array) and on the smallest bench block (encoder_d256_t16).
   The Python figure includes what ONNX Runtime's API implies and the C loop skips: binding the
   inputs again and copying each output into a new array. Goal: under 10 us more per run.
2. onyx from Python against onnxruntime from Python on each bench block, same threads.

Each figure is the lowest of --rounds medians of --runs timed runs (after warm-up), the rounds
of the systems interleaved, so that other load on the machine shows as little as possible.
Needs the package installed (tools/test-python.sh), build/cli/onyx, and bench/models (made by
bench/export.py, run with this Python when missing).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper

import onyx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ONYX_CLI = os.path.join(ROOT, "build", "cli", "onyx")
MODELS = os.path.join(HERE, "models")
BLOCKS = ["encoder_d256_t16", "ffn_d768", "mha_d768", "encoder_d768", "encoder_d512_gelu_prenorm"]
SMALLEST = "encoder_d256_t16"


def block_files(block):
    d = os.path.join(MODELS, block)
    return os.path.join(d, "model.onnx"), os.path.join(d, "x.npy")


def ensure_blocks(blocks):
    if not all(os.path.exists(block_files(b)[0]) for b in blocks):
        subprocess.run([sys.executable, os.path.join(HERE, "export.py")], check=True)


def identity_model(directory):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path, x = os.path.join(directory, "identity.onnx"), os.path.join(directory, "identity_x.npy")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    np.save(x, np.zeros([1], np.float32))
    return path, x


def c_api_median_us(model, x, threads, runs):
    command = [ONYX_CLI, "bench", model, "--input", x, "--threads", str(threads), "--runs", str(runs),
               "--warmup", str(max(3, runs // 10)), "--json"]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return statistics.median(json.loads(out.stdout)["times_ms"]) * 1e3


def python_median_us(session, x, runs):
    feed = {session.get_inputs()[0].name: x}
    run = session.run
    for _ in range(max(3, runs // 10)):
        run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        run(None, feed)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1e3


def onyx_session(model, threads):
    options = onyx.SessionOptions()
    options.intra_op_num_threads = threads
    return onyx.InferenceSession(model, options)


def ort_session(model, threads):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def overhead(model, x_path, threads, rounds, runs):
    """(C API, onyx from Python, onnxruntime from Python) in microseconds per run."""
    x = np.load(x_path)
    session, ort = onyx_session(model, threads), ort_session(model, threads)
    c, py, rt = [], [], []
    for _ in range(rounds):
        c.append(c_api_median_us(model, x_path, threads, runs))
        py.append(python_median_us(session, x, runs))
        rt.append(python_median_us(ort, x, runs))
    return min(c), min(py), min(rt)


def machine():
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                      if line.startswith("Model name")), "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return f"{model or platform.processor()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, " \
           f"onyx {onyx.library_version()} ({onyx.gemm_kernel()}), onnxruntime {onnxruntime.__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--blocks", default=",".join(BLOCKS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    blocks = [b for b in args.blocks.split(",") if b]
    ensure_blocks(blocks + [SMALLEST])
    print(f"machine: {machine()}")
    print(f"threads {args.threads}; each figure the lowest of {args.rounds} medians of {args.runs} runs\n")

    print("## Overhead of a run from Python (InferenceSession.run) over the C API (onyx_session_run)\n")
    print("| model | C API (us) | onyx from Python (us) | overhead (us) | onnxruntime from Python (us) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("Identity, 1 element",) + identity_model(tmp), (SMALLEST,) + block_files(SMALLEST)]
        for name, model, x_path in cases:
            runs = args.runs * (10 if "Identity" in name else 1)
            c, py, rt = overhead(model, x_path, args.threads, args.rounds, runs)
            print(f"| {name} | {c:.2f} | {py:.2f} | {py - c:.2f} | {rt:.2f} |")

    print("\n## onyx and onnxruntime, both from Python (InferenceSession.run, median ms)\n")
    print("| block | onyx (ms) | onnxruntime (ms) | onnxruntime / onyx |")
    print("| --- | ---: | ---: | ---: |")
    for block in blocks:
        model, x_path = block_files(block)
        x = np.load(x_path)
        runs = max(10, args.runs // 10) if block != SMALLEST else args.runs
        sessions = {"onyx": onyx_session(model, args.threads), "ort": ort_session(model, args.threads)}
        got = sessions["onyx"].run(None, {"x": x})[0]
        want = sessions["ort"].run(None, {"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
        best = {k: float("inf") for k in sessions}
        for r in range(args.rounds):
            for k in (["onyx", "ort"] if r % 2 == 0 else ["ort", "onyx"]):
                best[k] = min(best[k], python_median_us(sessions[k], x, runs) / 1e3)
        print(f"| {block} | {best['onyx']:.3f} | {best['ort']:.3f} | {best['ort'] / best['onyx']:.2f} |")


if __name__ == "__main__":
    main()
