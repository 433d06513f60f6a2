#!/usr/bin/env bash
# tools/test-examples.sh [BUILD_DIR] — installs onyx from BUILD_DIR (default build/) into a
# temporary directory, builds examples/ against that installation as a user would, through
# pkg-config (shared library, and the static archive), runs them on the bundled models and
# compares what they print with PyTorch's reference outputs. One line per check, then
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
build=${1:-build}
python=.venv/bin/python

passed=0
failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit; }

tmp=$(mktemp -d /tmp/onyx-examples-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Install as `meson install` does for a package, under $tmp/root.
if meson install -C "$build" --destdir "$tmp/root" >"$tmp/install.log" 2>&1; then
  pass "meson install"
else
  tail -5 "$tmp/install.log"; fail "meson install"; finish
fi
pc_file=$(find "$tmp/root" -name onyx.pc | head -1)
if [ -z "$pc_file" ]; then fail "onyx.pc installed"; finish; fi
# The .pc file names the configured prefix; point it at the staged copy.
export PKG_CONFIG_PATH=${pc_file%/*}
prefix=$(pkg-config --variable=prefix onyx)
onyx_pc() { pkg-config --define-variable=prefix="$tmp/root$prefix" "$@" onyx; }
libdir=$(onyx_pc --variable=libdir)
includedir=$(onyx_pc --variable=includedir)

for f in "$includedir/onyx.h" "$libdir/libonyx.a" "$libdir/libonyx.so" "$tmp/root$prefix/bin/onyx"; do
  if [ -e "$f" ]; then pass "installed ${f#"$tmp/root$prefix/"}"; else fail "installed ${f#"$tmp/root$prefix/"}"; fi
done
soname=$(readelf -d "$libdir/libonyx.so" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
if [[ $soname =~ ^libonyx\.so\.[0-9]+$ ]] && [ -e "$libdir/$soname" ]; then pass "soname $soname"; else fail "versioned soname" "got '$soname'"; fi

# Build each example twice: against the shared library, and statically against libonyx.a
# (with the libraries it needs from `pkg-config --static`).
cflags=(-std=c11 -O2 -Wall -Wextra -Werror -pedantic)
build_example() { # name source output link-flags...
  local name=$1 src=$2 out=$3; shift 3
  if cc "${cflags[@]}" -o "$out" "$src" $(onyx_pc --cflags) "$@" -pthread 2>"$tmp/cc.log"; then
    pass "build $name"
  else
    head -20 "$tmp/cc.log"; fail "build $name"
  fi
}
static_libs=$(onyx_pc --static --libs)
for example in run_model threads generate; do
  build_example "$example (shared)" "examples/$example.c" "$tmp/$example" $(onyx_pc --libs)
  build_example "$example (static)" "examples/$example.c" "$tmp/$example-static" ${static_libs/-lonyx/-l:libonyx.a}
done
if nm -g --defined-only "$libdir/libonyx.a" | grep -E ' [TDBR] ' | grep -qv ' onyx_'; then
  fail "libonyx.a exports only onyx_ symbols" "$(nm -g --defined-only "$libdir/libonyx.a" | grep -E ' [TDBR] ' | grep -v ' onyx_' | head -3 | tr '\n' ' ')"
else
  pass "libonyx.a exports only onyx_ symbols"
fi

# Compares an example's output (a "# shape D..." line, then one value per line) with a
# reference TensorProto: same shape, values within 1e-4 + 1e-3 * |reference|.
matches() { # printed reference.pb
  "$python" - "$1" "$2" <<'EOF'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
lines = open(sys.argv[1]).read().split("\n")
want = numpy_helper.to_array(onnx.load_tensor(sys.argv[2]))
shape = tuple(int(d) for d in lines[0].split()[2:]) if lines[0].startswith("# shape") else None
got = np.array([float(v) for v in lines[1:] if v], dtype=np.float64)
if shape != want.shape or got.size != want.size:
    sys.exit(f"shape {shape}, reference {want.shape}")
diff = np.abs(got - want.reshape(-1))
worst = int(np.argmax(diff - (1e-4 + 1e-3 * np.abs(want.reshape(-1)))))
if not np.all(diff <= 1e-4 + 1e-3 * np.abs(want.reshape(-1))):
    sys.exit(f"element {worst}: {got[worst]} vs {want.reshape(-1)[worst]}")
EOF
}

run_check() { # name reference.pb command...
  local name=$1 reference=$2; shift 2
  if LD_LIBRARY_PATH="$libdir" "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"; then
    local why
    if why=$(matches "$tmp/out.txt" "$reference" 2>&1); then pass "$name"; else fail "$name" "$why"; fi
  else
    fail "$name" "exit $?: $(head -3 "$tmp/err.txt" | tr '\n' ' ')"
  fi
}

# The walk-through in docs/API.md, as a reader would copy it.
sed -n '/<!-- compiled by tools\/test-examples.sh -->/,/^```$/p' docs/API.md | sed '1,2d;$d' >"$tmp/walkthrough.c"
build_example "docs/API.md walk-through" "$tmp/walkthrough.c" "$tmp/walkthrough" $(onyx_pc --libs)
if LD_LIBRARY_PATH="$libdir" "$tmp/walkthrough" models/ffn_relu/model.onnx >"$tmp/out.txt" 2>&1 &&
   grep -qx "y: float, rank 3, 64 elements" "$tmp/out.txt"; then
  pass "docs/API.md walk-through runs"
else
  fail "docs/API.md walk-through runs" "$(head -3 "$tmp/out.txt" | tr '\n' ' ')"
fi

# run_model on every bundled model (with one input) and data set; threads on two models.
for model_dir in models/*/; do
  model=${model_dir%/}
  for data in "$model"/test_data_set_*; do
    [ -f "$data/input_0.pb" ] && [ ! -f "$data/input_1.pb" ] || continue
    run_check "run_model ${model#models/} ${data##*/}" "$data/output_0.pb" \
      "$tmp/run_model" "$model/model.onnx" "$data/input_0.pb"
  done
done
# generate, built against the installed library: PyTorch's 64 greedy tokens of the LLaMA decoder.
prompt=$(sed -n 's/.*"prompt_ids": \[\([0-9, ]*\)\].*/\1/p' models/decoder_llama/greedy.json | tr -d ' ')
want=$(sed -n 's/.*"new_ids": \[\([0-9, ]*\)\].*/\1/p' models/decoder_llama/greedy.json | tr -d ' ' | tr ',' ' ')
got=$(LD_LIBRARY_PATH="$libdir" "$tmp/generate" models/decoder_llama/model.onnx 64 "$prompt" 2>&1)
if [ -n "$want" ] && [ "$got" = "$want" ]; then pass "generate decoder_llama"; else fail "generate decoder_llama" "got: $got"; fi

for model in gpt2_block encoder_prenorm_gelu_op17; do
  data=models/$model/test_data_set_1
  run_check "threads $model (static, 8 threads)" "$data/output_0.pb" \
    "$tmp/threads-static" "models/$model/model.onnx" "$data/input_0.pb" 8
  # The same model with its weights aligned by tools/align-weights.py: the same model once its
  # initializers' doc_strings are cleared, and every weight borrowed (no warning).
  aligned=$tmp/$model-aligned.onnx
  if "$python" tools/align-weights.py "models/$model/model.onnx" "$aligned" &&
     "$python" - "models/$model/model.onnx" "$aligned" <<'EOF'; then
import sys
import onnx
original, aligned = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
for tensor in aligned.graph.initializer:
    tensor.ClearField("doc_string")
sys.exit(original.SerializeToString() != aligned.SerializeToString())
EOF
    pass "align-weights $model keeps the model"
  else
    fail "align-weights $model keeps the model"
  fi
  run_check "threads $model aligned (4 threads)" "$data/output_0.pb" "$tmp/threads" "$aligned" "$data/input_0.pb" 4
  if grep -q "could not be borrowed" "$tmp/err.txt"; then
    fail "threads $model aligned borrows every weight" "$(grep -m1 "could not be borrowed" "$tmp/err.txt")"
  else
    pass "threads $model aligned borrows every weight"
  fi
done
finish
