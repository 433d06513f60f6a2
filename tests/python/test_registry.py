"""onyx's operator registry (ops/ops.def) checked against the ONNX schemas of the installed onnx.

A node at opset N runs the registry line with the newest since-version <= N, so the registry is
right only if, for every operator, it lists exactly ONNX's since-versions: a version ONNX does not
define would be a claim about a schema that does not exist, and a version ONNX defines but the
registry skips would let a node run the older implementation on a changed schema.
"""
import collections
import os
import re
import subprocess

import onnx
import onnx.defs
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINE = re.compile(r'^(OP|UNSUPPORTED|DEPRECATED)\("([^"]*)", "(\w+)", (\d+)(?:, (.*))?\)$')


def registry():
    """{op_type: [(since, kind, rest)]} of the default domain, in file order."""
    ops = collections.defaultdict(list)
    with open(os.path.join(ROOT, "ops", "ops.def")) as f:
        for line in f:
            m = LINE.match(line.strip())
            if m and m.group(2) == "":
                ops[m.group(3)].append((int(m.group(4)), m.group(1), m.group(5) or ""))
    return ops


def onnx_versions():
    versions = collections.defaultdict(dict)
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain in ("", "ai.onnx"):
            versions[s.name][s.since_version] = s
    return versions


REGISTRY = registry()
ONNX = onnx_versions()
MAX_OPSET = onnx.defs.onnx_opset_version()


def test_registry_parses():
    assert len(REGISTRY) > 150


def test_newest_opset_is_onnx_s():
    header = open(os.path.join(ROOT, "include", "onyx.h")).read()
    assert f"#define ONYX_MAX_OPSET {MAX_OPSET}\n" in header


@pytest.mark.parametrize("op", sorted(REGISTRY))
def test_since_versions_match_onnx(op):
    lines = REGISTRY[op]
    assert op in ONNX, f"{op} is not an ONNX operator"
    listed = [since for since, _, _ in lines]
    assert listed == sorted(set(listed)), f"{op}: since-versions out of order or repeated: {listed}"
    for since, kind, _ in lines:
        assert since in ONNX[op], f"{op}-{since}: ONNX defines no such version (it has {sorted(ONNX[op])})"
        deprecated = ONNX[op][since].deprecated
        assert (kind == "DEPRECATED") == deprecated, f"{op}-{since}: deprecated in ONNX is {deprecated}"
    # Every ONNX version from the first listed one on, up to a final refusal, is listed.
    last_since, last_kind, _ = lines[-1]
    end = last_since if last_kind != "OP" else MAX_OPSET
    expected = [v for v in sorted(ONNX[op]) if listed[0] <= v <= end]
    assert listed == expected, (f"{op}: onyx lists {listed}, ONNX defines {expected}: a version whose "
                                "schema changed is neither implemented nor refused")


def test_every_descriptor_is_defined_in_its_file():
    text = open(os.path.join(ROOT, "ops", "ops.def")).read()
    for name, path in re.findall(r'OP\("[^"]*", "\w+", \d+, [^\n]*?, (\w+), "([\w.]+)"\)', text):
        source = open(os.path.join(ROOT, "ops", path)).read()
        assert re.search(rf"\bconst op_descriptor op_{name}\b", source), \
            f"op_{name} is not spelled out in ops/{path}, where ops.def says it is"


def test_onyx_ops_lists_the_registry():
    """`onyx ops` prints what ops.def says: the implemented versions, with the opset range each covers."""
    out = subprocess.run([os.path.join(ROOT, "build", "cli", "onyx"), "ops"], capture_output=True,
                         text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    listed = {(r[1], int(r[2])) for r in rows if r[0] == "ai.onnx"}
    implemented = {(op, since) for op, lines in REGISTRY.items() for since, kind, _ in lines if kind == "OP"}
    assert listed == implemented
    for r in rows:
        if r[0] == "ai.onnx":
            op, since, until = r[1], int(r[2]), int(r[3])
            later = [s for s, _, _ in REGISTRY[op] if s > since]
            assert until == (later[0] - 1 if later else MAX_OPSET), r
