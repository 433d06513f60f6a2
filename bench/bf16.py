#!/usr/bin/env python3
"""onyx's bfloat16 mode (onyx_options_set_precision, `--precision bf16`): what it costs in accuracy
and what it buys in speed.

    .venv/bin/python bench/bf16.py [--rounds N] [--runs R] [--threads 1,2] [--models DIR]
                                   [--no-accuracy] [--no-speed]

Accuracy: for every bench block (bench/models/<block>/model.onnx + x.npy, made by bench/export.py)
and every test data set of the committed models (models/*/test_data_set_*), onyx runs the model
in fp32 and in bf16 (`onyx run --output-dir`), and for each output the worst |bf16 - fp32|
relative to the output's scale (max |fp32|) is printed; the goal is <= 1e-2.

Speed: on the bench blocks, in one invocation, rounds interleave (the order rotating from round
to round) a fresh process each of onyx bf16 and onyx fp32 (`onyx bench --json`) and ONNX Runtime
float32 (its Python package, this script run again with --ort-worker, intra_op threads as given),
each timing R runs after warm-up; the table has the minimum over all runs, GFLOP/s of the matrix
products with constant weights, and the ratios ORT fp32 / onyx bf16 (goal >= 1.6 on the blocks
whose time is mostly such products) and onyx fp32 / onyx bf16. The machine may be shared: ratios
of interleaved minimums are what to read, and they stay noisy.

cases() lists the bench blocks as bench/harness.py's cases (onyx_args ["--precision", "bf16"]).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(ROOT, ".venv")
ONYX = os.path.join(ROOT, "build", "cli", "onyx")
MODELS = os.path.join(HERE, "models")
COMMITTED = os.path.join(ROOT, "models")

BLOCKS = ["ffn_d768", "mha_d768", "encoder_d768", "encoder_d512_gelu_prenorm", "encoder_d256_t16"]
# Blocks whose time is mostly matrix products with constant weights, where bf16 can pay; the
# 16-token block is mostly per-node overhead and attention.
GEMM_BOUND = {"ffn_d768", "mha_d768", "encoder_d768", "encoder_d512_gelu_prenorm"}
ACCURACY_GOAL = 1e-2
SPEED_GOAL = 1.6


# ---- ONNX Runtime, in its own process ------------------------------------------------------------

def ort_worker(model, threads, runs, warmup, inputs):
    """--ort-worker: times R runs of ONNX Runtime float32 after warm-up; prints {"times_ms": [...]}."""
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feeds = {name: np.load(path) for name, path in (spec.split("=", 1) for spec in inputs)}
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"times_ms": times, "version": ort.__version__}))



# ---- cases ---------------------------------------------------------------------------------------

def matmul_gflop(model_path, inputs):
    """GFLOP of the MatMul and Gemm nodes whose right operand is an initializer (what bf16 changes):
    rows of the left operand from ONNX's shape inference with the inputs' shapes fixed, or where
    it cannot tell (shapes computed by Reshape), the tokens of the first input (its dims but the
    last), which is what every product with weights in a transformer block has."""
    import numpy as np
    import onnx
    model = onnx.load(model_path)
    shapes = {name: np.load(path, mmap_mode="r").shape for name, path in inputs.items()}
    for i in model.graph.input:
        if i.name in shapes:
            dims = i.type.tensor_type.shape.dim
            for d, size in zip(dims, shapes[i.name]):
                d.ClearField("dim_param")
                d.dim_value = size
    model = onnx.shape_inference.infer_shapes(model)
    known = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
             for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    flops = 0
    for n in model.graph.node:
        if n.op_type not in ("MatMul", "Gemm") or len(n.input) < 2 or n.input[1] not in weights:
            continue
        a, b = known.get(n.input[0]), weights[n.input[1]]
        if len(b) != 2:
            return None
        if not a or None in a or 0 in a:
            a = list(next(iter(shapes.values())))
        trans_a = trans_b = 0
        for attr in n.attribute:
            trans_a = attr.i if attr.name == "transA" else trans_a
            trans_b = attr.i if attr.name == "transB" else trans_b
        rows = a[1] if trans_a else int(np.prod(a[:-1]))
        k, cols = (b[1], b[0]) if trans_b else (b[0], b[1])
        flops += 2 * rows * k * cols
    return flops / 1e9


def cases(models_dir=MODELS):
    """The bench blocks as bench/harness.py's cases, onyx run with --precision bf16: gflop counts
    the products with weights only (those bf16 changes), as a share of the bf16_dot peak; goal
    (ORT / onyx) on the GEMM-bound blocks; rtol: onyx bf16 against ORT float32."""
    result = []
    # Without AVX512-BF16 onyx runs these in float32 (and says so): timing that against ORT's
    # float32 would measure nothing of bf16.
    skip = None if cpu_has_bf16() else "this CPU has no AVX512-BF16: onyx's bf16 mode runs float32 here"
    for block in BLOCKS:
        model = os.path.join(models_dir, block, "model.onnx")
        x = os.path.join(models_dir, block, "x.npy")
        if not os.path.exists(model):
            continue
        inputs = {"x": x}
        result.append({"name": block + " bf16", "block": block, "model": model, "inputs": inputs,
                       "onyx_args": ["--precision", "bf16"], "gflop": matmul_gflop(model, inputs),
                       "peak": "bf16_dot", "goal": SPEED_GOAL if block in GEMM_BOUND else None,
                       "rtol": ACCURACY_GOAL, "gemm_bound": block in GEMM_BOUND, "skip": skip})
    return result


def cpu_has_bf16():
    """Whether the processor has AVX512-BF16 (Linux's flags), and ONYX_NO_BF16 does not turn it off."""
    if os.environ.get("ONYX_NO_BF16"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx512_bf16" in line for line in f)
    except OSError:
        return True  # not Linux: onyx itself says whether it ran bf16


def committed_cases():
    """Every test data set of the committed models: inputs as .pb files, by the model's input names."""
    import onnx
    result = []
    for model in sorted(glob.glob(os.path.join(COMMITTED, "*", "model.onnx"))):
        graph = onnx.load(model, load_external_data=False).graph
        initializers = {t.name for t in graph.initializer}
        names = [i.name for i in graph.input if i.name not in initializers]
        for data_set in sorted(glob.glob(os.path.join(os.path.dirname(model), "test_data_set_*"))):
            files = [os.path.join(data_set, f"input_{k}.pb") for k in range(len(names))]
            if all(os.path.exists(f) for f in files):
                result.append({"name": os.path.relpath(data_set, COMMITTED), "model": model,
                               "inputs": dict(zip(names, files))})
    return result


# ---- onyx ----------------------------------------------------------------------------------------

def output_file(name):
    """The file `onyx run --output-dir` writes output `name` to."""
    name = name.replace("%", "%25").replace("/", "%2F")
    return ("%2E" + name[1:] if name.startswith(".") else name) + ".npy"


def onyx_outputs(case, precision):
    """{output name: array} of one `onyx run` of the case at `precision`."""
    import numpy as np
    import onnx
    outputs = [o.name for o in onnx.load(case["model"], load_external_data=False).graph.output]
    with tempfile.TemporaryDirectory() as out:
        args = [ONYX, "run", case["model"], "--quiet", "--precision", precision, "--output-dir", out]
        for name, path in case["inputs"].items():
            args += ["--input", f"{name}={path}"]
        subprocess.run(args, check=True, capture_output=True, text=True)
        return {name: np.load(os.path.join(out, output_file(name)), allow_pickle=False) for name in outputs}


def accuracy(case):
    """[(output, worst |bf16 - fp32| / max |fp32|)] for the case's float outputs."""
    import numpy as np
    fp32, bf16 = onyx_outputs(case, "fp32"), onyx_outputs(case, "bf16")
    result = []
    for name, ref in fp32.items():
        if not np.issubdtype(ref.dtype, np.floating) or ref.size == 0:
            continue
        ref64, got64 = ref.astype(np.float64), bf16[name].astype(np.float64)
        scale = np.abs(ref64).max()
        worst = np.abs(got64 - ref64).max()
        result.append((name, worst / scale if scale > 0 else worst))
    return result


def onyx_min_ms(case, precision, threads, runs, warmup):
    args = [ONYX, "bench", case["model"], "--precision", precision, "--threads", str(threads), "--runs", str(runs),
            "--warmup", str(warmup), "--json"]
    for name, path in case["inputs"].items():
        args += ["--input", f"{name}={path}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["min_ms"]


def ort_min_ms(case, threads, runs, warmup):
    args = [sys.executable, os.path.abspath(__file__), "--ort-worker", case["model"], str(threads), str(runs),
            str(warmup)] + [f"{name}={path}" for name, path in case["inputs"].items()]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return min(json.loads(out.stdout)["times_ms"])


# ---- main ----------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per block and thread count")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per process")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--models", default=MODELS, help="the bench blocks' directory (bench/models)")
    parser.add_argument("--no-accuracy", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(ONYX):
        sys.exit(f"{ONYX} is missing: build onyx first (ninja -C build)")
    blocks = cases(args.models)
    if not blocks:
        print(f"no bench blocks in {args.models} (make them with bench/export.py)")
    info = subprocess.run([ONYX, "bench", "--help"], capture_output=True, text=True).stdout
    if "--precision" not in info:
        sys.exit("this onyx has no --precision")

    failed = False
    if not args.no_accuracy:
        print(f"accuracy: worst |bf16 - fp32| / max |fp32| per output (goal <= {ACCURACY_GOAL:g})\n")
        print(f"{'case':48} {'output':16} {'rel. error':>10}")
        for case in blocks + committed_cases():
            for name, err in accuracy(case):
                mark = "" if err <= ACCURACY_GOAL else "  above the goal"
                failed |= err > ACCURACY_GOAL
                print(f"{case.get('block', case['name']):48} {name:16} {err:10.2e}{mark}", flush=True)
        print()

    if not args.no_speed and blocks:
        threads = [int(t) for t in args.threads.split(",")]
        print(f"speed: min ms over {args.rounds} interleaved rounds of {args.runs} runs; ORT float32 / onyx bf16 "
              f"(goal >= {SPEED_GOAL:g} on GEMM-bound blocks, marked *); shared machine: noisy\n")
        print(f"{'block':28} {'thr':>3} {'GFLOP':>6} {'onyx bf16':>10} {'onyx fp32':>10} {'ORT fp32':>9} "
              f"{'bf16 GF/s':>9} {'ORT/bf16':>8} {'fp32/bf16':>9}")
        for case in blocks:
            for t in threads:
                best = {"bf16": float("inf"), "fp32": float("inf"), "ort": float("inf")}
                systems = list(best)
                for r in range(args.rounds):
                    for s in systems[r % 3:] + systems[:r % 3]:  # the order rotates
                        ms = ort_min_ms(case, t, args.runs, args.warmup) if s == "ort" else \
                            onyx_min_ms(case, s, t, args.runs, args.warmup)
                        best[s] = min(best[s], ms)
                gflop = case["gflop"]
                rate = f"{gflop / best['bf16'] * 1e3:9.1f}" if gflop else f"{'-':>9}"
                ratio = best["ort"] / best["bf16"]
                mark = "*" if case["gemm_bound"] else " "
                if case["gemm_bound"] and ratio < SPEED_GOAL:
                    mark += " below the goal"
                print(f"{case['block']:28} {t:3d} {gflop or 0:6.3f} {best['bf16']:10.3f} {best['fp32']:10.3f} "
                      f"{best['ort']:9.3f} {rate} {ratio:8.2f} {best['fp32'] / best['bf16']:9.2f} {mark}",
                      flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(os.path.join(VENV, "bin", "python")):
        os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"),
                                                       os.path.abspath(__file__)] + sys.argv[1:])
    if len(sys.argv) > 1 and sys.argv[1] == "--ort-worker":
        ort_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:])
        sys.exit(0)
    sys.exit(main())
