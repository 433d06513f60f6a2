#!/usr/bin/env bash
# Runs every test of onyx and ends with one line: "N passed, N failed" over all of them.
# Expects tools/setup.sh to have run (packages installed, build/ built).
set -uo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
python=.venv/bin/python # made by tools/setup.sh

passed=0
failed=0
log_dir=$(mktemp -d /tmp/onyx-tests-XXXXXX)

# Adds the counts of one suite; a suite that crashed or printed no summary counts as one failure.
count() { # name passed failed
  printf '%-28s %6d passed, %d failed\n' "$1" "$2" "$3"
  passed=$((passed + $2))
  failed=$((failed + $3))
}

# A Criterion executable: its "Synthesis" line has the counts.
criterion() { # name executable
  local out="$log_dir/${1//\//_}.log"
  "$2" >"$out" 2>&1
  local line
  line=$(grep -a "Synthesis:" "$out" | tail -1)
  if [ -z "$line" ]; then
    echo "  $1 printed no summary; log: $out"; tail -5 "$out"; count "$1" 0 1; return
  fi
  local p f c
  p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")
  c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
  if [ "$f" != 0 ] || [ "$c" != 0 ]; then grep -a -E "\[FAIL\]|CRASH|ERROR" "$out" | head -20; fi
  count "$1" "$p" $((f + c))
}

# An `onyx test` run: its last line is "N passed, N failed, N skipped".
onyx_test() { # name args...
  local name=$1; shift
  local out="$log_dir/${name//\//_}.log"
  build/cli/onyx test --quiet "$@" >"$out" 2>&1
  local rc=$?
  local line
  line=$(tail -1 "$out")
  if ! [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
    echo "  $name printed no summary (exit $rc); log: $out"; tail -5 "$out"; count "$name" 0 1; return
  fi
  grep -a "^FAIL" "$out" | head -20
  count "$name" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

echo "== unit tests"
for exe in build/tests/test_*; do
  [ -f "$exe" ] && [ -x "$exe" ] && criterion "unit/$(basename "$exe" | sed 's/^test_//')" "$exe"
done

echo "== examples (built against the installed library through pkg-config)"
tools/test-examples.sh >"$log_dir/examples.log" 2>&1; grep -a "^FAIL" "$log_dir/examples.log"; [[ $(tail -1 "$log_dir/examples.log") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]] && count examples "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" || count examples 0 1

echo "== command-line tool"
tools/test-cli.sh >"$log_dir/cli.log" 2>&1; grep -a -A5 "^FAIL" "$log_dir/cli.log"; [[ $(tail -1 "$log_dir/cli.log") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]] && count cli "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" || count cli 0 1

echo "== models (committed, against PyTorch's outputs)"
onyx_test models/committed models

echo "== greedy decoding with a KV cache (examples/generate.c, onyx generate, against PyTorch's tokens)"
tools/test-generate.sh >"$log_dir/generate.log" 2>&1; grep -a "^FAIL" "$log_dir/generate.log"; [[ $(tail -1 "$log_dir/generate.log") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]] && count generate "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" || count generate 0 1

echo "== models in bfloat16 (--precision bf16 against PyTorch's float32 outputs: 3e-2 + 2e-2 |expected|)"
onyx_test models/committed-bf16 --precision bf16 --rtol 2e-2 --atol 3e-2 models
# The float32 fallback of a processor without AVX512-BF16 (its bf16-only tests report skipped).
ONYX_NO_BF16=1 criterion unit/gemm_bf16-fallback build/tests/test_gemm_bf16

echo "== models (exported again now with this machine's PyTorch)"
export_dir="$log_dir/exported"
if $python models/export.py "$export_dir" >"$log_dir/export.log" 2>&1; then
  onyx_test models/re-exported "$export_dir"
else
  echo "  export failed:"; tail -5 "$log_dir/export.log"; count models/re-exported 0 1
fi
if $python models/decoders.py "$export_dir/decoders" >"$log_dir/decoders.log" 2>&1; then
  onyx_test models/re-exported-decoders "$export_dir/decoders"
else
  echo "  decoder export failed:"; tail -5 "$log_dir/decoders.log"; count models/re-exported-decoders 0 1
fi
hf_dir="$log_dir/hf"
if $python models/hf.py "$hf_dir" >"$log_dir/hf.log" 2>&1; then
  onyx_test models/hf-re-exported "$hf_dir"
else
  echo "  Hugging Face export failed:"; tail -5 "$log_dir/hf.log"; count models/hf-re-exported 0 1
fi

echo "== quantized models (quantized again now with this machine's onnxruntime, its outputs as reference)"
quant_dir="$log_dir/quantized"
if $python models/quantize.py "$quant_dir" >"$log_dir/quantize.log" 2>&1; then
  onyx_test models/re-quantized "$quant_dir"
else
  echo "  quantization failed:"; tail -5 "$log_dir/quantize.log"; count models/re-quantized 0 1
fi
# The Hugging Face models quantized the same way. onyx's fused float kernels (GELU, Erf,
# attention) round differently from ORT's node-by-node reference, and a DynamicQuantizeLinear
# after them can turn an ulp into one quantization step: compared within 4e-2 + 2e-2 |expected|.
if $python models/quantize.py "$quant_dir/hf" hf_bert hf_gpt2 hf_llama hf_vit hf_whisper >"$log_dir/quantize-hf.log" 2>&1; then
  onyx_test models/re-quantized-hf --rtol 2e-2 --atol 4e-2 "$quant_dir/hf"
else
  echo "  quantization failed:"; tail -5 "$log_dir/quantize-hf.log"; count models/re-quantized-hf 0 1
fi

echo "== conformance (ONNX $($python -c 'import onnx; print(onnx.__version__)')'s backend test data, expected failures in tests/conformance)"
# The node tests, written out from the onnx package's Python cases; its other suites ship as files.
if $python tools/onnx-test-data.py build/onnx-data >"$log_dir/onnx-data.log" 2>&1; then
  onyx_test conformance/node --expect tests/conformance/node.txt build/onnx-data/node
else
  tail -5 "$log_dir/onnx-data.log"; count conformance/node 0 1
fi
wheel_data=$($python -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data"))')
for suite in pytorch-operator pytorch-converted simple; do
  onyx_test "conformance/$suite" --expect "tests/conformance/$suite.txt" "$wheel_data/$suite"
done

if $python tools/conformance.py check >"$log_dir/conformance-doc.log" 2>&1; then
  count conformance/doc-up-to-date 1 0
else
  cat "$log_dir/conformance-doc.log"; count conformance/doc-up-to-date 0 1
fi

# pytest's closing line ("N passed, N failed, N skipped, N errors in Ts") into the counts.
pytest_counts() { # name log
  local line p=0 f=0
  line=$(tail -1 "$2")
  if ! [[ $line =~ [0-9]+\ (passed|failed) ]]; then
    tail -20 "$2"; count "$1" 0 1; return
  fi
  [[ $line =~ ([0-9]+)\ passed ]] && p=${BASH_REMATCH[1]}
  [[ $line =~ ([0-9]+)\ failed ]] && f=${BASH_REMATCH[1]}
  [[ $line =~ ([0-9]+)\ error ]] && f=$((f + BASH_REMATCH[1]))
  grep -a -E "^(FAILED|ERROR)" "$2" | head -20
  count "$1" "$p" "$f"
}

echo "== Python: the registry against onnx.defs (pytest)"
$python -m pytest -q -p no:cacheprovider tests/python/test_registry.py >"$log_dir/pytest-registry.log" 2>&1
pytest_counts python/registry "$log_dir/pytest-registry.log"

echo "== Python package: pip install ., its API against onnxruntime, ONNX's backend suite through onyx.backend"
tools/test-python.sh >"$log_dir/pytest-package.log" 2>&1
pytest_counts python/package "$log_dir/pytest-package.log"

source tools/test-hardening.sh # malformed models, fuzz regressions, ASan/UBSan and TSan builds

echo "logs: $log_dir"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
