#!/usr/bin/env bash
# Fuzzes onyx with libFuzzer (clang, ASan + UBSan), each target for a given time, at the
# lowest CPU priority. Not part of tools/test.sh: the test command replays what fuzzing
# found (tests/regressions/) and the seed corpora instead.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]     default: 600 seconds each of every target
#   tools/fuzz.sh --seeds DIR               only write the seed corpora into DIR/<target>/
#
# Targets (fuzz/): load_model, run_model, read_tensor. Builds build-fuzz/ when needed.
# Seeds come from models/ and a sample of the ONNX node tests; the growing corpus stays in
# build-fuzz/corpus/<target>/, crashes land in build-fuzz/crashes/<target>/ and each run
# appends its execution count to build-fuzz/executions.log. A crash is fixed, and its input
# is copied into tests/regressions/<target>/ so that the test command replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

all_targets=(load_model run_model read_tensor)
node_tests=build/onnx-data/node # written by tools/onnx-test-data.py (tools/test.sh does it first)
# run_model reads its input sizes and values from the last 8 bytes (fuzz/run_model.c).
run_params=('\x01\x02\x03\x01\x11\x22\x33\x44' '\x00\x04\x02\x03\x55\x66\x77\x88')

# Every 8th node test, in name order: a spread over the operators, small enough to start fast.
node_sample() {
  [ -d "$node_tests" ] || .venv/bin/python tools/onnx-test-data.py build/onnx-data >/dev/null 2>&1 || return 0
  find "$node_tests" -mindepth 1 -maxdepth 1 -type d | sort | awk 'NR % 8 == 1'
}

write_seeds() { # dir
  local dir=$1 n=0
  rm -rf "$dir"
  mkdir -p "$dir"/{load_model,run_model,read_tensor}
  local tests=(models/*/ $(node_sample))
  for t in "${tests[@]}"; do
    t=${t%/}
    [ -f "$t/model.onnx" ] || continue
    local name
    name=$(basename "$t")
    cp "$t/model.onnx" "$dir/load_model/$name.onnx"
    local k=0
    for params in "${run_params[@]}"; do
      { cat "$t/model.onnx"; printf "$params"; } >"$dir/run_model/$name.$k"
      k=$((k + 1))
    done
    for pb in "$t"/test_data_set_0/*.pb; do
      [ -f "$pb" ] && cp "$pb" "$dir/read_tensor/$name.$(basename "$pb")"
    done
    n=$((n + 1))
  done
  # .npy files of every dtype onyx reads, and a few shapes (rank 0, empty, rank 3).
  .venv/bin/python - "$dir/read_tensor" <<'EOF'
import sys, numpy as np
out = sys.argv[1]
for dt in ["f4", "f8", "f2", "i8", "i4", "i2", "i1", "u1", "u2", "u4", "u8", "b1", "c8"]:
    for shape in [(), (0, 3), (2, 1, 3)]:
        a = (np.arange(int(np.prod(shape))) % 3).astype(dt).reshape(shape)
        np.save("%s/%s_%s.npy" % (out, dt, "x".join(map(str, shape)) or "scalar"), a)
EOF
  echo "seeds: $n models and their data into $dir"
}

if [ "${1:-}" = "--seeds" ]; then
  write_seeds "${2:?usage: tools/fuzz.sh --seeds DIR}"
  exit 0
fi

seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz --buildtype=debugoptimized -Dfuzzing=libfuzzer -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
nice -n 19 ninja -C build-fuzz -j2 $(printf 'fuzz/fuzz_%s ' "${targets[@]}") >/dev/null
write_seeds build-fuzz/seeds >/dev/null

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  log="build-fuzz/fuzz-$t.log"
  echo "fuzz: $t for ${seconds}s (log: $log)"
  dirs=("build-fuzz/corpus/$t" "build-fuzz/seeds/$t")
  [ -d "tests/regressions/$t" ] && dirs+=("tests/regressions/$t")
  rc=0
  # -timeout is wall-clock time: at nice 19 on a busy machine an input that takes 0.2 s
  # alone can be starved for more than 10, so a hang means 30 seconds here.
  nice -n 19 "build-fuzz/fuzz/fuzz_$t" -dict=fuzz/onnx.dict -max_total_time="$seconds" \
    -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/crashes/$t/" \
    "${dirs[@]}" >"$log" 2>&1 || rc=$?
  executions=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
  echo "$(date -u +%FT%TZ) $t ${executions:-0} exit=$rc" >>build-fuzz/executions.log
  echo "fuzz: $t: ${executions:-0} executions, exit $rc"
  if [ "$rc" != 0 ]; then
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
  fi
done
awk '{ sum[$2] += $3; total += $3 } END { for (t in sum) printf "fuzz: %-12s %d executions in all\n", t, sum[t]; printf "fuzz: total %d executions\n", total }' \
  build-fuzz/executions.log
