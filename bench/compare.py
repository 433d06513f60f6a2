#!/usr/bin/env python3
"""Side by side: onyx, ONNX Runtime and PyTorch eager on the benchmark blocks, at 1 and 2 threads,
and onyx on the block's two exports (TorchScript and dynamo).

    .venv/bin/python bench/compare.py [--rounds N] [--runs R] [--blocks a,b] [--write]

In one invocation, for each block and thread count, it interleaves rounds of the systems (the
order rotating from round to round), each round a fresh process for onyx (`onyx bench`, on the
TorchScript export and on the dynamo export) and ONNX Runtime (its Python package, this script
run again with --ort-worker) timing R runs after warm-up, and PyTorch eager in this process. It
checks that they agree on the outputs, then prints a table of min and median times, GFLOP/s
(matrix products only), the ratios ORT time / onyx time and torch time / onyx time, and onyx's
time on the dynamo export over its time on the TorchScript one, plus load times and peak
memory. --write also saves it as docs/BENCHMARKS.md with the machine's description.

Needs bench/models (made by bench/export.py when missing) and the project's .venv (torch,
onnxruntime; tools/setup.sh makes it).
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(ROOT, ".venv")
if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(os.path.join(VENV, "bin", "python")):
    os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"), os.path.abspath(__file__)]
             + sys.argv[1:])
ONYX = os.path.join(ROOT, "build", "cli", "onyx")
MODELS = os.path.join(HERE, "models")


def peak_rss_kb():
    """Peak resident memory of this process, KiB (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def ort_worker(model, x_file, threads, runs, warmup, out_file=None):
    """One ONNX Runtime measurement in a fresh process (--ort-worker): session creation time (the
    first model load to ready), the time of each run (around session.run, so it includes the
    Python binding's small per-call cost), and peak RSS less what Python and NumPy held before
    ONNX Runtime was imported. With out_file, writes the first output as raw float32."""
    import numpy as np
    baseline = peak_rss_kb()
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    start = time.perf_counter()
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - start) * 1e3
    feeds = {session.get_inputs()[0].name: np.load(x_file)}
    result = None
    for _ in range(warmup):
        result = session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1e3)
    if out_file:
        np.ascontiguousarray(result[0], dtype=np.float32).tofile(out_file)
    print(json.dumps({"times_ms": times, "load_ms": load_ms, "peak_rss_kb": peak_rss_kb() - baseline,
                      "version": ort.__version__}))


if len(sys.argv) > 1 and sys.argv[1] == "--ort-worker":
    ort_worker(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]), *sys.argv[7:8])
    sys.exit(0)

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, HERE)
import export  # noqa: E402  (bench/export.py: the blocks and their FLOP counts)


def ensure_prerequisites():
    if not all(os.path.exists(os.path.join(MODELS, b + suffix, "model.onnx")) for b in export.BLOCKS
               for suffix in ("", "_dynamo")):
        subprocess.run([sys.executable, os.path.join(HERE, "export.py")], check=True)
    identity = os.path.join(MODELS, "identity", "model.onnx")
    if not os.path.exists(identity):
        import onnx
        from onnx import helper, TensorProto
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        os.makedirs(os.path.dirname(identity), exist_ok=True)
        # IR version 10 (ONNX 1.16): the newest ONNX Runtime reads whatever onnx makes by default.
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), identity)
        np.save(os.path.join(MODELS, "identity", "x.npy"), np.zeros([1], np.float32))


def run_onyx(block, threads, runs, warmup):
    model, x = os.path.join(MODELS, block, "model.onnx"), os.path.join(MODELS, block, "x.npy")
    out = subprocess.run([ONYX, "bench", model, "--input", x, "--threads", str(threads), "--runs", str(runs),
                          "--warmup", str(warmup), "--json"], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    return r["times_ms"], r["load_ms"], r["peak_rss_kb"]


def onyx_refuses(block):
    """Why onyx cannot run block's model (an operator version it lacks), or None."""
    out = subprocess.run([ONYX, "info", os.path.join(MODELS, block, "model.onnx")], capture_output=True, text=True)
    if out.returncode == 0:
        return None
    # `onyx info` lists the nodes it cannot run after a NOT RUNNABLE line.
    lines = (out.stdout + out.stderr).splitlines()
    at = next((i for i, line in enumerate(lines) if "NOT RUNNABLE" in line), None)
    if at is None:
        return "refused by onyx"
    nodes = [line.strip() for line in lines[at + 1:] if line.strip().startswith("node '")]
    return "; ".join(nodes[:3]) or lines[at].strip()


def run_ort(block, threads, runs, warmup, output=None):
    model, x = os.path.join(MODELS, block, "model.onnx"), os.path.join(MODELS, block, "x.npy")
    args = [sys.executable, os.path.abspath(__file__), "--ort-worker", model, x, str(threads), str(runs), str(warmup)]
    out = subprocess.run(args + ([output] if output else []), capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    return r["times_ms"], r["load_ms"], r["peak_rss_kb"], r["version"]


def run_torch(module, x, threads, runs, warmup):
    torch.set_num_threads(threads)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = time.perf_counter()
            module(x)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return times


def agreement(block, module, x, dynamo):
    """Largest |difference| of onyx's (on each export it runs) and ORT's outputs from PyTorch's."""
    with torch.inference_mode():
        want = module(x).numpy()
    diffs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in (("onyx", block), ("onyx_dynamo", block + "_dynamo")):
            if name == "onyx_dynamo" and not dynamo:
                continue
            subprocess.run([ONYX, "run", os.path.join(MODELS, model, "model.onnx"), "--input",
                            os.path.join(MODELS, model, "x.npy"), "--output-dir", os.path.join(tmp, name), "--quiet"],
                           check=True)
            out = np.load(os.path.join(tmp, name, os.listdir(os.path.join(tmp, name))[0]))
            diffs[name] = float(np.abs(out - want).max())
        ort_file = os.path.join(tmp, "ort.bin")
        run_ort(block, 1, 1, 0, ort_file)
        diffs["ort"] = float(np.abs(np.fromfile(ort_file, dtype=np.float32).reshape(want.shape) - want).max())
    return diffs


def sgemm_2048():
    """Best single-core float32 GEMM rate at 2048^3 on this machine, GFLOP/s: onyx's kernel (packed B)
    and OpenBLAS with its own kernel choice (OPENBLAS_CORETYPE unset), by bench/gemm_bench."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    out = subprocess.run([os.path.join(ROOT, "build", "bench", "gemm_bench"), "--threads", "1", "--seconds", "1",
                          "--shape", "square"],
                         capture_output=True, text=True, check=True, env=env).stdout
    row = next(l for l in out.splitlines() if l.startswith("square"))
    packed, plain, blas = (float(v) for v in row.split()[3:6])
    return max(packed, plain), blas


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    flags = open("/proc/cpuinfo").read()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "baseline x86-64"
    info = subprocess.run([ONYX, "info", os.path.join(MODELS, "identity", "model.onnx")], capture_output=True,
                          text=True).stdout
    kernel = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("gemm")), "see onyx info")
    return (f"{model}, {os.cpu_count()} cores ({isa}), Linux {platform.release()}; "
            f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; onyx GEMM kernel: {kernel}; "
            f"PyTorch {torch.__version__}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--blocks", default=",".join(export.BLOCKS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--write", action="store_true", help="save the table as docs/BENCHMARKS.md")
    args = ap.parse_args()
    ensure_prerequisites()

    rows, extra, refused, ort_version = [], [], {}, "?"
    gemm_onyx, gemm_blas = sgemm_2048()
    gemm_best = max(gemm_onyx, gemm_blas)
    binding = run_ort("identity", 1, 200, 20)[0]
    binding_ms = statistics.median(binding)
    for block in args.blocks.split(","):
        module = export.make(block)
        x = torch.from_numpy(export.input_for(block))
        b, s, _ = export.BLOCKS[block][1]
        gflop = export.flops(block, b, s) / 1e9
        why = onyx_refuses(block + "_dynamo")
        if why:
            refused[block] = why
            print(f"{block}_dynamo: onyx cannot run it: {why}", flush=True)
        diffs = agreement(block, module, x, not why)
        systems = ["onyx", "ort", "torch"] + ([] if why else ["onyx_dynamo"])
        for threads in map(int, args.threads.split(",")):
            times = {k: [] for k in systems}
            loads = {"onyx": [], "ort": []}
            rss = {"onyx": 0, "ort": 0}
            for r in range(args.rounds):
                order = systems[r % len(systems):] + systems[:r % len(systems)]
                for system in order:
                    if system == "onyx":
                        t, load, peak = run_onyx(block, threads, args.runs, args.warmup)
                        loads["onyx"].append(load)
                        rss["onyx"] = max(rss["onyx"], peak)
                    elif system == "onyx_dynamo":
                        t = run_onyx(block + "_dynamo", threads, args.runs, args.warmup)[0]
                    elif system == "ort":
                        t, load, peak, ort_version = run_ort(block, threads, args.runs, args.warmup)
                        loads["ort"].append(load)
                        rss["ort"] = max(rss["ort"], peak)
                    else:
                        t = run_torch(module, x, threads, args.runs, args.warmup)
                    times[system] += t
            mins = {k: min(v) for k, v in times.items()}
            meds = {k: statistics.median(v) for k, v in times.items()}
            rows.append((block, threads, mins, meds, gflop))
            extra.append((block, threads, statistics.median(loads["onyx"]), statistics.median(loads["ort"]),
                          rss["onyx"], rss["ort"], diffs))
            dynamo = (f"; dynamo export {mins['onyx_dynamo']:.3f} ms ({mins['onyx_dynamo'] / mins['onyx']:.3f}x)"
                      if "onyx_dynamo" in mins else "")
            print(f"{block} t={threads}: onyx {mins['onyx']:.3f} ms, ORT {mins['ort']:.3f} ms, "
                  f"torch {mins['torch']:.3f} ms (min); ORT/onyx {mins['ort'] / mins['onyx']:.2f}{dynamo}", flush=True)

    lines = ["| block | threads | onyx min / median ms | ORT min / median ms | torch min / median ms | "
             "onyx GFLOP/s | ORT / onyx | torch / onyx |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for block, threads, mins, meds, gflop in rows:
        lines.append(f"| {block} | {threads} | {mins['onyx']:.3f} / {meds['onyx']:.3f} | {mins['ort']:.3f} / "
                     f"{meds['ort']:.3f} | {mins['torch']:.3f} / {meds['torch']:.3f} | {gflop / mins['onyx'] * 1e3:.0f} | "
                     f"**{mins['ort'] / mins['onyx']:.2f}** ({meds['ort'] / meds['onyx']:.2f}) | "
                     f"{mins['torch'] / mins['onyx']:.2f} ({meds['torch'] / meds['onyx']:.2f}) |")
    lines += ["", "onyx on the two exports of each block (TorchScript exporter at opset 17, dynamo exporter at "
              "its opset 20): min / median ms, and dynamo / TorchScript (goal: within 3%).", "",
              "| block | threads | TorchScript export | dynamo export | dynamo / TorchScript |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for block, threads, mins, meds, _ in rows:
        if "onyx_dynamo" in mins:
            lines.append(f"| {block} | {threads} | {mins['onyx']:.3f} / {meds['onyx']:.3f} | {mins['onyx_dynamo']:.3f} / "
                         f"{meds['onyx_dynamo']:.3f} | **{mins['onyx_dynamo'] / mins['onyx']:.3f}** "
                         f"({meds['onyx_dynamo'] / meds['onyx']:.3f}) |")
        else:
            lines.append(f"| {block} | {threads} | {mins['onyx']:.3f} / {meds['onyx']:.3f} | not run: "
                         f"{refused[block].replace('|', '/')} | |")
    lines += ["", "| block | threads | load ms onyx / ORT | peak RSS MiB onyx / ORT | max abs diff from PyTorch "
              "onyx / onyx dynamo export / ORT |", "| --- | ---: | ---: | ---: | ---: |"]
    for block, threads, lo, lr, ro, rr, d in extra:
        dyn = f"{d['onyx_dynamo']:.2e}" if "onyx_dynamo" in d else "-"
        lines.append(f"| {block} | {threads} | {lo:.1f} / {lr:.1f} | {ro / 1024:.1f} / {rr / 1024:.1f} | "
                     f"{d['onyx']:.2e} / {dyn} / {d['ort']:.2e} |")
    table = "\n".join(lines)
    print()
    print(table)
    note = (f"ONNX Runtime {ort_version} (its Python package, CPU execution provider, graph optimizations all, "
            f"sequential, intra-op threads as listed), on the TorchScript export; each ORT time includes the "
            f"Python binding's per-call cost, about {binding_ms * 1e3:.0f} µs (median of an Identity model's runs).")
    print(note)
    ffn = [gflop / mins["onyx"] * 1e3 for block, threads, mins, _, gflop in rows if block == "ffn_d768" and threads == 1]
    gemm_note = (f"Single-core float32 GEMM at 2048x2048x2048 (bench/gemm_bench): onyx {gemm_onyx:.0f} GFLOP/s, "
                 f"OpenBLAS with its own kernel choice {gemm_blas:.0f} GFLOP/s."
                 + (f" ffn_d768 at 1 thread runs at {ffn[0]:.0f} GFLOP/s, **{ffn[0] / gemm_best:.0%}** of the "
                    f"better of the two." if ffn else ""))
    print(gemm_note)
    if args.write:
        doc = ["# Benchmarks", "", "Generated by `bench/compare.py --write` (regenerate it the same way).", "",
               f"Machine: {machine()}.", "", note, "", gemm_note, "",
               f"{args.rounds} interleaved rounds of {args.runs} timed runs (after {args.warmup} warm-up runs) per "
               "system, block and thread count; times in milliseconds; ratios > 1 mean onyx is faster (min times, "
               "medians in parentheses). GFLOP/s count the matrix products only. Load time: a fresh process from "
               "the first model load to ready (onyx: model load and session creation; ORT: session creation). "
               "Peak RSS: onyx's whole `onyx bench` process; ORT's Python process less what Python and NumPy "
               "held before importing ONNX Runtime.", "", table, ""]
        with open(os.path.join(ROOT, "docs", "BENCHMARKS.md"), "w") as f:
            f.write("\n".join(doc))
        print("wrote docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
