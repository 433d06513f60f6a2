#!/usr/bin/env bash
# Tests of the onyx command-line tool (build/cli/onyx): help, exit codes, error messages, and
# outputs compared with the PyTorch references committed in models/. Ends with the line
# "N passed, N failed"; run by tools/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
onyx=build/cli/onyx
tmp=$(mktemp -d /tmp/onyx-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# check NAME WANT_EXIT PATTERN COMMAND...: runs COMMAND; passes when it exits WANT_EXIT and its
# stdout + stderr match the extended regex PATTERN.
check() {
  local name=$1 want=$2 pattern=$3
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" = "$want" ] && grep -qaE -- "$pattern" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $rc (want $want), output:"
    head -5 <<<"$out" | sed 's/^/  /'
  fi
}

model=models/encoder_postnorm_relu_op14
data=$model/test_data_set_0

echo "== help"
check "onyx --help" 0 "usage: onyx" $onyx --help
for cmd in run info test bench ops; do
  check "onyx $cmd --help" 0 "usage: onyx $cmd" $onyx $cmd --help
done
check "onyx without a command" 2 "usage: onyx" $onyx
check "unknown command" 2 "unknown command|usage" $onyx frobnicate

echo "== run against PyTorch's outputs"
for m in models/*/; do
  m=${m%/}
  [ -f "$m/model.onnx" ] || continue
  for set in "$m"/test_data_set_*; do
    args=()
    for f in "$set"/input_*.pb; do args+=(--input "$f"); done
    check "run $set" 0 "max \|onyx - reference\| = .* OK" $onyx run "$m/model.onnx" "${args[@]}" \
      --reference "$set/output_0.pb" --rtol 1e-3 --atol 1e-4 --threads 2
  done
done
check "run with another data set's output as reference" 1 "MISMATCH" \
  $onyx run $model/model.onnx --input $data/input_0.pb --reference $model/test_data_set_1/output_0.pb

echo "== run --output-dir writes .npy files equal to PyTorch's outputs"
check "run --output-dir" 0 "written to $tmp/out/y.npy" \
  $onyx run $model/model.onnx --input $data/input_0.pb --output-dir "$tmp/out"
check "the written .npy matches the reference" 0 "^match$" .venv/bin/python -c '
import sys, numpy as np, onnx
from onnx import numpy_helper
got = np.load(sys.argv[1])
t = onnx.TensorProto(); t.ParseFromString(open(sys.argv[2], "rb").read())
want = numpy_helper.to_array(t)
print("match" if got.shape == want.shape and got.dtype == want.dtype and np.allclose(got, want, rtol=1e-3, atol=1e-4)
      else "differs")' "$tmp/out/y.npy" $data/output_0.pb
check "no temporary files left in the output directory" 0 "^y.npy$" ls -A "$tmp/out"

echo "== generated inputs"
check "run with generated inputs says so" 0 "generated" $onyx run $model/model.onnx --dim batch=3 --dim seq=4
check "generated inputs take --dim sizes" 0 "float \[3,4,64\]" $onyx run $model/model.onnx --dim batch=3 --dim seq=4

echo "== bench"
check "bench --json has the documented fields" 0 "^ok$" bash -c "
  $onyx bench $model/model.onnx --input $data/input_0.pb --runs 5 --warmup 1 --json |
  .venv/bin/python -c 'import json, sys; r = json.load(sys.stdin); print(\"ok\" if all(k in r for k in
    (\"min_ms\", \"median_ms\", \"max_ms\", \"load_ms\", \"peak_rss_kb\")) and len(r[\"times_ms\"]) == 5 else r)'"
check "bench prints min, median and load" 0 "min .* median .* max" $onyx bench $model/model.onnx --runs 3

echo "== info"
check "info lists opsets and inputs" 0 "opset" $onyx info $model/model.onnx
check "info shows symbolic dims" 0 "batch" $onyx info $model/model.onnx
.venv/bin/python - "$tmp/unsupported.onnx" <<'EOF'
import sys
from onnx import helper, TensorProto
# ImageDecoder: an operator onyx does not implement (no image codecs).
g = helper.make_graph([helper.make_node("ImageDecoder", ["x"], ["y"], name="decode")], "g",
                      [helper.make_tensor_value_info("x", TensorProto.UINT8, [16])],
                      [helper.make_tensor_value_info("y", TensorProto.UINT8, [4, 4, 3])])
open(sys.argv[1], "wb").write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)]).SerializeToString())
EOF
check "info names an unsupported operator (exit 1: not runnable)" 1 "ImageDecoder" $onyx info "$tmp/unsupported.onnx"
check "run refuses an unsupported operator, naming the node" 1 "decode.*ImageDecoder|ImageDecoder.*decode" \
  $onyx run "$tmp/unsupported.onnx"

echo "== test"
mkdir -p "$tmp/suite/good" "$tmp/suite/bad/test_data_set_0"
cp -r $model/model.onnx $data "$tmp/suite/good/"
cp $model/model.onnx "$tmp/suite/bad/"
cp $data/input_0.pb "$tmp/suite/bad/test_data_set_0/"
cp $model/test_data_set_1/output_0.pb "$tmp/suite/bad/test_data_set_0/"
check "test passes a good directory" 0 "^1 passed, 0 failed, 0 skipped$" $onyx test "$tmp/suite/good"
check "test fails a wrong reference" 1 "^FAIL" $onyx test "$tmp/suite"
check "test counts both" 1 "1 passed, 1 failed, 0 skipped$" $onyx test "$tmp/suite"
check "test skips an unsupported operator and says why" 0 "SKIP.*ImageDecoder" bash -c "
  mkdir -p $tmp/skip/t/test_data_set_0 && cp $tmp/unsupported.onnx $tmp/skip/t/model.onnx && $onyx test $tmp/skip"

echo "== errors"
check "unknown option" 2 "unknown option '--frob'" $onyx run $model/model.onnx --frob
check "bad --threads" 2 "--threads takes" $onyx run $model/model.onnx --threads 999
check "bad --dim" 2 "--dim takes NAME=SIZE" $onyx bench $model/model.onnx --dim seq
check "bad --limit name" 2 "--limit takes NAME=SIZE" $onyx run $model/model.onnx --limit bogus=1
check "bad --limit size" 2 "--limit memory takes a positive size" $onyx info $model/model.onnx --limit memory=lots
check "missing model file" 1 "cannot open 'missing.onnx'" $onyx run missing.onnx
check "not a model" 1 "onyx:" $onyx run README.md
check "memory limit below the model" 1 "memory limit" $onyx run $model/model.onnx --limit memory=1K
check "input of the wrong rank names the input" 1 "x" bash -c "
  .venv/bin/python -c 'import numpy as np; np.save(\"$tmp/bad.npy\", np.zeros((2, 3), np.float32))' &&
  $onyx run $model/model.onnx --input $tmp/bad.npy"
check "missing input file" 1 "nothere.npy" $onyx run $model/model.onnx --input nothere.npy

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
