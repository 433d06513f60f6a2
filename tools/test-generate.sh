#!/usr/bin/env bash
# tools/test-generate.sh [BUILD_DIR] — greedy decoding of the committed decoders (models/decoder_*,
# exported by models/decoders.py) by examples/generate.c and `onyx generate`, the cache carried
# inside onyx and in host buffers, on 1 and 2 threads: the 64 new token ids must equal PyTorch's
# (greedy.json). One line per check, then "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
passed=0
failed=0
json_ids() { # file key: the ids of a greedy.json list, comma-separated
  sed -n "s/.*\"$2\": \[\([0-9, ]*\)\].*/\1/p" "$1" | tr -d ' '
}
check() { # name expected command...
  local name=$1 want=$2; shift 2
  local got
  if got=$("$@" 2>&1); then
    got=$(echo "$got" | tr ' ' ',')
    if [ "$got" = "$want" ]; then echo "ok   $name"; passed=$((passed + 1)); return; fi
    echo "FAIL $name: got $got"
  else
    echo "FAIL $name: $got"
  fi
  failed=$((failed + 1))
}
for dir in models/decoder_*/; do
  dir=${dir%/}
  [ -f "$dir/greedy.json" ] || continue
  prompt=$(json_ids "$dir/greedy.json" prompt_ids)
  want=$(json_ids "$dir/greedy.json" new_ids)
  name=${dir#models/}
  check "example $name (carried)" "$want" "$build/examples/generate" "$dir/model.onnx" 64 "$prompt"
  check "example $name (host buffers)" "$want" \
    "$build/examples/generate" --host-buffers "$dir/model.onnx" 64 "$prompt"
  check "onyx generate $name" "$want" "$build/cli/onyx" generate "$dir/model.onnx" --prompt-ids "$prompt"
  check "onyx generate $name (2 threads, host buffers)" "$want" \
    "$build/cli/onyx" generate "$dir/model.onnx" --prompt-ids "$prompt" --threads 2 --host-buffers
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
