"""What every benchmark of onyx against ONNX Runtime shares: timing onyx (`onyx bench`) and ONNX
Runtime (its Python package, in a fresh process) on the same model and inputs, interleaved;
comparing their outputs; the machine's description and its ceilings (bench/peak).

A *case* is a dict:
    name      what the tables call it
    model     path of the .onnx file onyx runs
    inputs    {input name: .npy path}, or [.npy path, ...] in the model's input order
    ort_model the .onnx file ONNX Runtime runs (default: model)
    onyx_args extra `onyx bench`/`onyx run` arguments (e.g. ["--precision", "bf16"])
    gflop     work of one run in GFLOP (or G integer ops), or None
    peak      which ceiling the rate is a share of: "fp32_fma", "bf16_dot" or "int8_dot"
    goal      the ORT / onyx ratio the case is meant to reach (printed beside it), or None
    rtol      relative tolerance of onyx's first output against ORT's, on its scale (default 1e-4)
Suites (bench/conv.py, bench/quant.py, ...) provide `cases()` returning such dicts; bench/compare.py
times them all in one run.
"""
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
ONYX = os.path.join(ROOT, "build", "cli", "onyx")
PEAK = os.path.join(ROOT, "build", "bench", "peak")
MODELS = os.path.join(HERE, "models")


def use_venv(script):
    """Starts `script` again with the project's .venv Python when run with another one."""
    py = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(py):
        os.execv(py, [py, os.path.abspath(script)] + sys.argv[1:])


def peak_rss_kb():
    """Peak resident memory of this process, KiB (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def input_items(case):
    """[(name or None, path)] of a case's inputs."""
    inputs = case["inputs"]
    if isinstance(inputs, dict):
        return list(inputs.items())
    return [(None, path) for path in inputs]


def ort_worker(spec_file):
    """One ONNX Runtime measurement in a fresh process: session creation time, the time of each
    run (around session.run, so it includes the Python binding's small per-call cost), and peak
    RSS less what Python and NumPy held before ONNX Runtime was imported. The spec (JSON):
    model, inputs, threads, runs, warmup, out_file to write every output to (.npz), and optimize
    (default true: ORT_ENABLE_ALL; false: ORT_DISABLE_ALL, each node as the specification says)."""
    import numpy as np
    with open(spec_file) as f:
        spec = json.load(f)
    baseline = peak_rss_kb()
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = spec["threads"]
    options.inter_op_num_threads = 1
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if spec.get("optimize", True)
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    start = time.perf_counter()
    session = ort.InferenceSession(spec["model"], options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - start) * 1e3
    names = [i.name for i in session.get_inputs()]
    feeds = {}
    for k, (name, path) in enumerate(spec["inputs"]):
        feeds[name or names[k]] = np.load(path)
    result = None
    for _ in range(spec["warmup"]):
        result = session.run(None, feeds)
    times = []
    for _ in range(spec["runs"]):
        start = time.perf_counter()
        result = session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1e3)
    if spec.get("out_file"):
        np.savez(spec["out_file"], *[np.asarray(r) for r in result])
    print(json.dumps({"times_ms": times, "load_ms": load_ms, "peak_rss_kb": peak_rss_kb() - baseline,
                      "version": ort.__version__}))


def run_ort(model, inputs, threads, runs, warmup, out_file=None, optimize=True):
    """ONNX Runtime on model (inputs as input_items gives them) in a fresh process:
    (times_ms, load_ms, peak_rss_kb, version)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"model": model, "inputs": inputs, "threads": threads, "runs": runs, "warmup": warmup,
                   "out_file": out_file, "optimize": optimize}, f)
        spec = f.name
    try:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--ort-worker", spec], capture_output=True,
                             text=True)
    finally:
        os.unlink(spec)
    if out.returncode:
        raise RuntimeError(f"ONNX Runtime failed on {model}: {out.stderr.strip()[-500:]}")
    r = json.loads(out.stdout)
    return r["times_ms"], r["load_ms"], r["peak_rss_kb"], r["version"]


def input_args(inputs):
    args = []
    for name, path in inputs:
        args += ["--input", f"{name}={path}" if name else path]
    return args


def run_onyx(model, inputs, threads, runs, warmup, extra=()):
    """`onyx bench` on model in a fresh process: (times_ms, load_ms, peak_rss_kb)."""
    out = subprocess.run([ONYX, "bench", model, *input_args(inputs), "--threads", str(threads), "--runs", str(runs),
                          "--warmup", str(warmup), "--json", *extra], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"onyx failed on {model}: {(out.stdout + out.stderr).strip()[-500:]}")
    r = json.loads(out.stdout)
    return r["times_ms"], r["load_ms"], r["peak_rss_kb"]


def onyx_outputs(model, inputs, extra=()):
    """onyx's outputs on model, {name: array}."""
    import numpy as np
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([ONYX, "run", model, *input_args(inputs), "--output-dir", tmp, "--quiet", *extra], check=True)
        return {f[:-4]: np.load(os.path.join(tmp, f)) for f in os.listdir(tmp)}


def ort_outputs(model, inputs, optimize=True):
    """ONNX Runtime's outputs on model, in its output order."""
    import numpy as np
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ort.npz")
        run_ort(model, inputs, 1, 1, 0, out, optimize)
        with np.load(out) as z:
            return [z[f"arr_{i}"] for i in range(len(z.files))]


def output_names(model):
    import onnx
    return [o.name for o in onnx.load(model, load_external_data=False).graph.output]


def agreement(case):
    """Largest |onyx - ORT| over ORT's largest |value|, on the first output; where the case has a
    reference_model, ORT running that one node by node (its graph optimizations off: with them on,
    ORT fuses quantized nodes into its own kernels, which are not exact on every CPU)."""
    import numpy as np
    inputs = input_items(case)
    if "reference_model" in case:
        want = ort_outputs(case["reference_model"], inputs, optimize=False)[0]
    else:
        want = ort_outputs(case.get("ort_model", case["model"]), inputs)[0]
    got = onyx_outputs(case["model"], inputs, case.get("onyx_args", ()))[output_names(case["model"])[0]]
    scale = float(np.abs(want).max()) or 1.0
    return float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) / scale


def time_case(case, threads, rounds, runs, warmup):
    """Interleaved rounds of onyx and ORT (the order alternating): {"onyx": [...], "ort": [...]} times
    in ms, load times, peak RSS and ORT's version."""
    inputs = input_items(case)
    ort_model = case.get("ort_model", case["model"])
    times, loads, rss, version = {"onyx": [], "ort": []}, {"onyx": [], "ort": []}, {"onyx": 0, "ort": 0}, "?"
    for r in range(rounds):
        for system in (("onyx", "ort") if r % 2 == 0 else ("ort", "onyx")):
            if system == "onyx":
                t, load, peak = run_onyx(case["model"], inputs, threads, runs, warmup, case.get("onyx_args", ()))
            else:
                t, load, peak, version = run_ort(ort_model, inputs, threads, runs, warmup)
            times[system] += t
            loads[system].append(load)
            rss[system] = max(rss[system], peak)
    return {"times": times, "load_ms": {k: statistics.median(v) for k, v in loads.items()}, "peak_rss_kb": rss,
            "ort_version": version}


def peaks(threads=(1, 2), seconds=0.5):
    """The machine's ceilings by bench/peak: {threads: {"fp32_fma": GFLOP/s, ...}}."""
    result = {}
    for t in threads:
        out = subprocess.run([PEAK, "--threads", str(t), "--seconds", str(seconds), "--json"], capture_output=True,
                             text=True, check=True).stdout
        r = json.loads(out)
        result[t] = {k: v["gops"] for k, v in r.items() if isinstance(v, dict)}
        result[t]["isa"] = {k: v["isa"] for k, v in r.items() if isinstance(v, dict)}
    return result


def cpu_name():
    with open("/proc/cpuinfo") as f:
        text = f.read()
    model = next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("model name")),
                 "unknown CPU")
    family = next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("cpu family")), "?")
    number = next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("model\t")), "?")
    flags = next((l for l in text.splitlines() if l.startswith("flags")), "")
    isa = [name for name, flag in (("AVX-512", " avx512f"), ("AVX512-VNNI", " avx512_vnni"),
                                   ("AVX512-BF16", " avx512_bf16"), ("AVX-VNNI", " avx_vnni"), ("AMX", " amx_tile"))
           if flag in flags]
    if not isa and " avx2" in flags:
        isa = ["AVX2"]
    return f"{model} (family {family} model {number}), {os.cpu_count()} cores, {', '.join(isa) or 'baseline x86-64'}"


def machine(model=None):
    """The CPU, kernel and OpenBLAS setting; with a model, also the GEMM kernel `onyx info` names."""
    kernel = ""
    if model:
        info = subprocess.run([ONYX, "info", model], capture_output=True, text=True).stdout
        kernel = next((f"; onyx GEMM kernel: {l.split(':', 1)[1].strip()}" for l in info.splitlines()
                       if l.startswith("gemm")), "")
    return (f"{cpu_name()}; Linux {platform.release()}; OPENBLAS_CORETYPE="
            f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}{kernel}")


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--ort-worker":
    ort_worker(sys.argv[2])
