#!/usr/bin/env python3
"""Conformance bookkeeping over the ONNX backend test data of the installed onnx (1.23): its node
tests written out by tools/onnx-test-data.py into build/onnx-data/node (done here when missing),
its other suites as the wheel ships them. Run with .venv/bin/python.

  tools/conformance.py update   rewrite tests/conformance/<suite>.txt: every test that does
                                not pass now, with the reason onyx gives
  tools/conformance.py docs     rewrite docs/CONFORMANCE.md: per operator, the opset versions
                                and dtypes onyx implements and the node tests passed / total
  tools/conformance.py check    exit 1 when docs/CONFORMANCE.md is not what `docs` would write

Uses build/cli/onyx; run from anywhere.
"""
import collections
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONYX = os.path.join(ROOT, "build", "cli", "onyx")
NODE_DATA = os.path.join(ROOT, "build", "onnx-data")
SUITES = ["node", "pytorch-operator", "pytorch-converted", "simple"]


def suite_dir(suite):
    import onnx
    if suite == "node":
        if not os.path.isdir(os.path.join(NODE_DATA, "node")):
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "onnx-test-data.py"), NODE_DATA],
                           check=True, stdout=subprocess.DEVNULL)
        return os.path.join(NODE_DATA, "node")
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", suite)
EXPECT_DIR = os.path.join(ROOT, "tests", "conformance")
DOC = os.path.join(ROOT, "docs", "CONFORMANCE.md")
LINE = re.compile(r"^(PASS|FAIL|SKIP) ([^: ]+)(?:: (.*))?$")


# Tests whose outcome is not deterministic (random operators without a seed): listed as
# '~name', they run and count as skipped whatever their outcome.
RANDOM = ["node/test_bernoulli", "node/test_bernoulli_double", "node/test_bernoulli_expanded",
          "node/test_bernoulli_double_expanded"]

# Why tests fail whose failure onyx's message does not explain (the data, not onyx, is off).
KNOWN_REASONS = [
    ("node/test_bernoulli", "random draws: the expected output is one numpy draw that ONNX's own "
     "reference does not reproduce with the same seed (test_bernoulli_seed: reference "
     "[1,0,0,1,0,...], data [0,1,1,0,0,...]); onyx draws what the reference draws"),
    ("node/test_dft_inverse", "the expected data carries float32 rounding noise (1.9e-7 where the "
     "exact value is 0), above the test's atol of 1e-7; onyx computes in double and gets 1e-15 "
     "(ONNX Runtime 1.31 fails it too, by 1.9e-5)"),
    ("node/test_image_decoder", "ImageDecoder is not implemented: decoding JPEG, JPEG 2000, PNG, BMP, TIFF, WebP "
     "and PNM would link image codecs into the runtime"),
    ("simple/test_gradient_of", "Gradient (ai.onnx.preview.training) is not implemented: it differentiates a "
     "graph symbolically, training machinery outside an inference runtime"),
]


def reason_for(name, reason):
    reason = reason.replace(ROOT + os.sep, "")  # the same list wherever the clone is
    for prefix, why in KNOWN_REASONS:
        if name.startswith(prefix):
            return why
    return reason


def run_suite(suite):
    """{test name: (outcome, reason)} for one suite, without expectations."""
    out = subprocess.run([ONYX, "test", suite_dir(suite)], capture_output=True, text=True).stdout
    results = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            # a random test's outcome is chance: never counted as passed
            outcome = "RANDOM" if m.group(2) in RANDOM else m.group(1)
            results[m.group(2)] = (outcome, m.group(3) or "")
    return results


def update():
    for suite in SUITES:
        results = run_suite(suite)
        path = os.path.join(EXPECT_DIR, f"{suite}.txt")
        with open(path, "w") as f:
            f.write(f"# Tests of the ONNX backend suite '{suite}' (onnx {onnx_version()}) that onyx is expected\n"
                    "# not to pass yet, with the reason. tools/test.sh fails when one of them passes: then remove it.\n"
                    "# Regenerate with: tools/conformance.py update\n")
            for name in sorted(results):
                outcome, reason = results[name]
                if name in RANDOM:
                    f.write(f"~{name} unseeded random draws: compared, but either outcome is expected\n")
                elif outcome != "PASS":
                    f.write(f"{name} {reason_for(name, reason.splitlines()[0] if reason else outcome)}\n")
        passed = sum(1 for o, _ in results.values() if o == "PASS")
        print(f"{suite}: {passed} of {len(results)} pass; expectations in {os.path.relpath(path, ROOT)}")


def onnx_version():
    import onnx
    return onnx.__version__


def registry():
    """[(domain, op, since, until, dtypes)] from `onyx ops`."""
    out = subprocess.run([ONYX, "ops"], capture_output=True, text=True, check=True).stdout
    return [tuple(line.split("\t")[:5]) for line in out.splitlines() if line]


def node_test_ops():
    """{test name: set of op types in its model} for the node suite."""
    import onnx
    ops = {}
    node_dir = suite_dir("node")
    for name in sorted(os.listdir(node_dir)):
        path = os.path.join(node_dir, name, "model.onnx")
        if os.path.exists(path):
            model = onnx.load(path, load_external_data=False)
            ops[name] = {n.op_type for n in model.graph.node}
    return ops


def render_docs():
    entries = registry()
    node = run_suite("node")
    test_ops = node_test_ops()
    per_op = collections.defaultdict(lambda: [0, 0])
    for name, ops in test_ops.items():
        passed = node.get(f"node/{name}", ("FAIL", ""))[0] == "PASS"
        for op in ops:
            per_op[op][1] += 1
            per_op[op][0] += passed
    lines = ["# Conformance", "",
             "Generated by `tools/conformance.py docs` from onyx's operator registry (`onyx ops`) and a",
             f"run of `onyx test` over the ONNX backend test data of onnx {onnx_version()} (its node tests written",
             "out by `tools/onnx-test-data.py`). A node at opset N runs the schema with the newest",
             "since-version <= N; an operator's last version here is in effect up to the opset in",
             "brackets, after which onyx refuses the changed schema.",
             "`tools/test.sh` fails when this file is out of date.", "",
             "## Suites", "", "| suite | passed | total |", "| --- | ---: | ---: |"]
    for suite in SUITES:
        results = node if suite == "node" else run_suite(suite)
        passed = sum(1 for o, _ in results.values() if o == "PASS")
        lines.append(f"| {suite} | {passed} | {len(results)} |")
    lines += ["", "Tests that do not pass are listed with their reason in `tests/conformance/<suite>.txt`.", "",
              "## Operators", "",
              "Node tests count every test whose model uses the operator (expanded function tests use several).",
              "", "| operator | since-versions | input dtypes | node tests passed / total |", "| --- | --- | --- | ---: |"]
    by_op = collections.OrderedDict()
    for domain, op, since, until, dtypes in entries:
        key = op if domain == "ai.onnx" else f"{domain}.{op}"
        by_op.setdefault(key, []).append((int(since), int(until), dtypes, op))
    for key in sorted(by_op):
        versions = by_op[key]
        ranges = ", ".join(str(s) for s, _, _, _ in versions)
        newest = 1 if key.startswith("onyx.") else max_opset()
        if versions[-1][1] < newest:
            ranges += f" (to {versions[-1][1]})"
        dtypes = sorted({d for _, _, ds, _ in by_op[key] for d in ds.split(",") if d != "-"})
        op = by_op[key][0][3]
        passed, total = per_op.get(op, (0, 0))
        lines.append(f"| {key} | {ranges} | {', '.join(dtypes) or '-'} | {passed} / {total} |")
    return "\n".join(lines) + "\n"


def max_opset():
    import onnx.defs
    return onnx.defs.onnx_opset_version()


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else "--help"
    if command == "update":
        update()
    elif command == "docs":
        os.makedirs(os.path.dirname(DOC), exist_ok=True)
        with open(DOC, "w") as f:
            f.write(render_docs())
        print(f"wrote {os.path.relpath(DOC, ROOT)}")
    elif command == "check":
        current = open(DOC).read() if os.path.exists(DOC) else ""
        if current != render_docs():
            print("docs/CONFORMANCE.md is out of date: run tools/conformance.py docs")
            sys.exit(1)
        print("docs/CONFORMANCE.md is up to date")
    else:
        print(__doc__)
        sys.exit(0 if command in ("--help", "-h") else 2)


if __name__ == "__main__":
    main()
