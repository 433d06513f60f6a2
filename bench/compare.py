#!/usr/bin/env python3
"""Side by side: onyx, ONNX Runtime and PyTorch eager on the benchmark blocks, at 1 and 2 threads,
and onyx on the block's two exports (TorchScript and dynamo); then onyx against ONNX Runtime on
the models of the other suites (bench/conv.py, quant.py, bf16.py, decode.py: each a cases()
function, see bench/harness.py); with the machine's ceilings (bench/peak) measured in the same run.

    .venv/bin/python bench/compare.py [--rounds N] [--runs R] [--blocks a,b] [--suites a,b] [--write]

In one invocation, for each block and thread count, it interleaves rounds of the systems (the
order rotating from round to round), each round a fresh process for onyx (`onyx bench`, on the
TorchScript export and on the dynamo export) and ONNX Runtime (its Python package, this script
run again with --ort-worker) timing R runs after warm-up, and PyTorch eager in this process. It
checks that they agree on the outputs, then prints a table of min and median times, GFLOP/s
(matrix products only), the ratios ORT time / onyx time and torch time / onyx time, and onyx's
time on the dynamo export over its time on the TorchScript one, plus load times and peak
memory. --write saves the run as the latest one in docs/BENCHMARKS.md (the earlier runs kept
below it, each with its machine) and its summary in the README.

Needs bench/models (made by bench/export.py when missing) and the project's .venv (torch,
onnxruntime; tools/setup.sh makes it).
"""
import argparse
import datetime
import importlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import harness  # noqa: E402  (bench/harness.py: onyx and ORT side by side, the machine's ceilings)

harness.use_venv(__file__)
ONYX, MODELS = harness.ONYX, harness.MODELS
# Suites of other models (bench/<name>.py with a cases() function), timed after the blocks.
SUITES = ("conv", "quant", "bf16", "decode")

import numpy as np  # noqa: E402
import torch  # noqa: E402

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


def block_inputs(block):
    return [(None, os.path.join(MODELS, block, "x.npy"))]


def run_onyx(block, threads, runs, warmup):
    return harness.run_onyx(os.path.join(MODELS, block, "model.onnx"), block_inputs(block), threads, runs, warmup)


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
    return harness.run_ort(os.path.join(MODELS, block, "model.onnx"), block_inputs(block), threads, runs, warmup,
                           output)


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
        ort_file = os.path.join(tmp, "ort.npz")
        run_ort(block, 1, 1, 0, ort_file)
        with np.load(ort_file) as z:
            diffs["ort"] = float(np.abs(z["arr_0"] - want).max())
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


def time_blocks(args, blocks):
    """The transformer blocks: onyx (both exports), ORT and PyTorch eager, interleaved."""
    rows, extra, refused, version = [], [], {}, "?"
    for block in blocks:
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
        for threads in args.threads:
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
                        t, load, peak, version = run_ort(block, threads, args.runs, args.warmup)
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
    return rows, extra, refused, version


def block_tables(rows, extra, refused, peak):
    lines = ["| block | threads | onyx min / median ms | ORT min / median ms | torch min / median ms | "
             "onyx GFLOP/s (% of FMA peak) | ORT / onyx | torch / onyx |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for block, threads, mins, meds, gflop in rows:
        rate = gflop / mins["onyx"] * 1e3
        lines.append(f"| {block} | {threads} | {mins['onyx']:.3f} / {meds['onyx']:.3f} | {mins['ort']:.3f} / "
                     f"{meds['ort']:.3f} | {mins['torch']:.3f} / {meds['torch']:.3f} | {rate:.0f} "
                     f"({rate / peak[threads]['fp32_fma']:.0%}) | **{mins['ort'] / mins['onyx']:.2f}** "
                     f"({meds['ort'] / meds['onyx']:.2f}) | {mins['torch'] / mins['onyx']:.2f} "
                     f"({meds['torch'] / meds['onyx']:.2f}) |")
    lines += ["", "onyx on the two exports of each block (TorchScript exporter at opset 17, dynamo exporter at "
              "its opset 20): min / median ms, and dynamo / TorchScript.", "",
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
    return lines


def time_suites(args, names):
    """Every case of the suites named: [(suite, case, threads, mins, meds, rel_diff)]."""
    rows = []
    for name in names:
        try:
            suite = importlib.import_module(name)
        except ImportError as e:
            print(f"suite {name}: not available ({e})", flush=True)
            continue
        for case in suite.cases():
            if case.get("skip"):
                print(f"{name}/{case['name']}: not run: {case['skip']}", flush=True)
                rows.append((name, case, None, None, None, case["skip"]))
                continue
            try:
                diff = harness.agreement(case)
            except (RuntimeError, subprocess.CalledProcessError) as e:
                print(f"{name}/{case['name']}: {e}", flush=True)
                rows.append((name, case, None, None, None, str(e).splitlines()[0][:200]))
                continue
            for threads in args.threads:
                r = harness.time_case(case, threads, args.rounds, args.runs, args.warmup)
                mins = {k: min(v) for k, v in r["times"].items()}
                meds = {k: statistics.median(v) for k, v in r["times"].items()}
                rows.append((name, case, threads, mins, meds, diff))
                print(f"{name}/{case['name']} t={threads}: onyx {mins['onyx']:.3f} ms, ORT {mins['ort']:.3f} ms (min); "
                      f"ORT/onyx {mins['ort'] / mins['onyx']:.2f}; output rel. diff {diff:.1e}", flush=True)
    return rows


def suite_table(rows, peak):
    lines = ["| suite | case | threads | onyx min / median ms | ORT min / median ms | ORT / onyx | goal | "
             "onyx rate (% of peak) | onyx vs ORT output |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for suite, case, threads, mins, meds, diff in rows:
        if threads is None:
            lines.append(f"| {suite} | {case['name']} | | not run: {diff.replace('|', '/')} | | | | | |")
            continue
        rate = ""
        if case.get("gflop"):
            kind = case.get("peak", "fp32_fma")
            g = case["gflop"] / mins["onyx"] * 1e3
            unit = "GOP/s" if kind == "int8_dot" else "GFLOP/s"
            ceiling = peak[threads].get(kind)
            rate = f"{g:.0f} {unit}" + (f" ({g / ceiling:.0%} of {kind})" if ceiling else "")
        goal = f">= {case['goal']:.2f}" if case.get("goal") else ""
        lines.append(f"| {suite} | {case['name']} | {threads} | {mins['onyx']:.3f} / {meds['onyx']:.3f} | "
                     f"{mins['ort']:.3f} / {meds['ort']:.3f} | **{mins['ort'] / mins['onyx']:.2f}** "
                     f"({meds['ort'] / meds['onyx']:.2f}) | {goal} | {rate} | {diff:.1e} |")
    return lines


def peak_line(peak):
    parts = []
    for threads, p in sorted(peak.items()):
        kinds = ", ".join(f"{k} ({p['isa'][k]}) {p[k]:.0f} G{'OP' if k == 'int8_dot' else 'FLOP'}/s"
                          for k in ("fp32_fma", "bf16_dot", "int8_dot") if k in p)
        parts.append(f"{threads} thread{'s' if threads > 1 else ''}: {kinds}")
    return ("The machine's ceilings, measured in this run by instruction loops (build/bench/peak: 12 independent "
            "accumulators; bf16 counted as 4 FLOP per float32 lane, int8 as 2 ops per product: 8 per int32 lane "
            "for vpdpbusd, 4 for AVX2's vpmaddwd): "
            + "; ".join(parts) + ".")


HISTORY = "## Earlier runs"


def write_docs(run_section, summary, when, cpu):
    """docs/BENCHMARKS.md: this run first, then every earlier run kept (dated, with its own CPU);
    the README's table between its bench markers: this run's summary with the machine named."""
    path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    earlier = []
    if os.path.exists(path):
        old = open(path).read()
        latest = re.search(r"^## Latest run.*?(?=^## |\Z)", old, re.S | re.M)
        if latest:
            moved = re.sub(r"^(###+) ", r"#\1 ", latest.group(0), flags=re.M)
            earlier.append(moved.replace("## Latest run: ", "### ", 1).rstrip())
        history = old.split("\n" + HISTORY + "\n", 1)
        if len(history) == 2:
            earlier.append(history[1].strip())
    doc = ["# Benchmarks", "",
           "Generated by `bench/compare.py --write` (regenerate it the same way): the latest run first, then "
           "every earlier one as it was written, each with the machine it ran on. The CPU behind the project's "
           "machines changes between sessions, so compare ratios within one run, never across runs.", "",
           f"## Latest run: {when}, {cpu}", ""] + run_section + ["", HISTORY, ""] + earlier
    with open(path, "w") as f:
        f.write("\n".join(doc).rstrip() + "\n")
    readme = os.path.join(ROOT, "README.md")
    text = open(readme).read()
    start, end = "<!-- bench-summary -->", "<!-- /bench-summary -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + start + "\n" + "\n".join(summary) + "\n" + end + rest.split(end, 1)[1]
        with open(readme, "w") as f:
            f.write(text)
    print("wrote docs/BENCHMARKS.md and the README's summary")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--blocks", default=",".join(export.BLOCKS), help="blocks to time ('' for none)")
    ap.add_argument("--suites", default=",".join(SUITES), help="suites of bench/ to time ('' for none)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--write", action="store_true", help="save the tables in docs/BENCHMARKS.md and the README")
    args = ap.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    ensure_prerequisites()
    when = datetime.date.today().isoformat()
    cpu = harness.cpu_name()
    peak = harness.peaks(sorted(set(args.threads) | {1}))
    print(peak_line(peak), flush=True)
    gemm_onyx, gemm_blas = sgemm_2048()
    binding_ms = statistics.median(run_ort("identity", 1, 200, 20)[0])
    blocks = [b for b in args.blocks.split(",") if b]
    rows, extra, refused, ort_version = time_blocks(args, blocks)
    suite_rows = time_suites(args, [s for s in args.suites.split(",") if s])

    section = [f"Machine: {harness.machine(os.path.join(MODELS, 'identity', 'model.onnx'))}; "
               f"PyTorch {torch.__version__}.", "", peak_line(peak), ""]
    note = (f"ONNX Runtime {ort_version} (its Python package, CPU execution provider, graph optimizations all, "
            f"sequential, intra-op threads as listed); each ORT time includes the Python binding's per-call cost, "
            f"about {binding_ms * 1e3:.0f} µs (median of an Identity model's runs).")
    section += [note, "", f"{args.rounds} interleaved rounds of {args.runs} timed runs (after {args.warmup} warm-up "
                "runs) per system, model and thread count, each round a fresh process; times in milliseconds; "
                "ratios > 1 mean onyx is faster (min times, medians in parentheses).", ""]
    summary = []
    if rows:
        ffn = [gflop / mins["onyx"] * 1e3 for block, threads, mins, _, gflop in rows
               if block == "ffn_d768" and threads == 1]
        section += ["### Transformer blocks (bench/export.py)", "",
                    "GFLOP/s count the matrix products only, as a share of the FMA peak at the same thread count. "
                    f"Single-core float32 GEMM at 2048³ (bench/gemm_bench): onyx {gemm_onyx:.0f} GFLOP/s, "
                    f"OpenBLAS with its own kernel choice {gemm_blas:.0f} GFLOP/s"
                    + (f"; ffn_d768 at 1 thread {ffn[0]:.0f} GFLOP/s, **{ffn[0] / peak[1]['fp32_fma']:.0%}** of "
                       "the FMA peak." if ffn else "."),
                    "", "Load time: a fresh process from the first model load to ready (onyx: model load and session "
                    "creation; ORT: session creation). Peak RSS: onyx's whole `onyx bench` process; ORT's Python "
                    "process less what Python and NumPy held before importing ONNX Runtime.", ""]
        section += block_tables(rows, extra, refused, peak) + [""]
        summary += ["| model | onyx ms, 1 thread | ORT / onyx, 1 thread | ORT / onyx, 2 threads |",
                    "| --- | ---: | ---: | ---: |"]
        for block in blocks:
            r = {t: mins for b, t, mins, _, _ in rows if b == block}
            summary.append(f"| {block} | {r[1]['onyx']:.3f} | {r[1]['ort'] / r[1]['onyx']:.2f} | "
                           + (f"{r[2]['ort'] / r[2]['onyx']:.2f} |" if 2 in r else "- |"))
    if suite_rows:
        section += ["### Other models (bench/" + ", bench/".join(sorted({r[0] + ".py" for r in suite_rows})) + ")", "",
                    "Each case on the same .onnx file and inputs for both (the bf16 cases: onyx with --precision "
                    "bf16 against ORT in float32); the last column is the largest |onyx - ORT| over ORT's largest "
                    "|value|, first output.", ""] + suite_table(suite_rows, peak) + [""]
        if not summary:
            summary += ["| model | onyx ms, 1 thread | ORT / onyx, 1 thread | ORT / onyx, 2 threads |",
                        "| --- | ---: | ---: | ---: |"]
        seen = []
        for suite, case, threads, mins, _, _ in suite_rows:
            if threads is None or (suite, case["name"]) in seen:
                continue
            seen.append((suite, case["name"]))
            r = {t: m for s, c, t, m, _, _ in suite_rows if s == suite and c["name"] == case["name"] and t}
            summary.append(f"| {suite}: {case['name']} | {r[min(r)]['onyx']:.3f} | "
                           f"{r[min(r)]['ort'] / r[min(r)]['onyx']:.2f} | "
                           + (f"{r[2]['ort'] / r[2]['onyx']:.2f} |" if 2 in r else "- |"))
    table = "\n".join(section)
    print()
    print(table)
    if args.write:
        summary = [f"Measured {when} on {cpu}, against ONNX Runtime {ort_version} (its Python package), in one run "
                   "of `bench/compare.py` (minimum times; ratios > 1: onyx is faster):", ""] + summary
        write_docs(section, summary, when, cpu)


if __name__ == "__main__":
    main()
