#!/usr/bin/env bash
# The hardening suites, sourced by tools/test.sh so that their counts join its summary:
#  - build/: the malformed-model sweep, and the fuzz targets replaying the regression files of
#    tests/regressions/ and the seed corpora (models/ and a sample of the ONNX node tests);
#  - build-asan/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer, leak checking): the
#    unit tests, the model tests, the malformed-model sweep and the replays;
#  - build-tsan/ (clang, ThreadSanitizer): the concurrency test.
# The sanitizer builds are configured on first use and rebuilt incrementally after.
# Run alone (tools/test-hardening.sh), it borrows test.sh's counting and prints its own total.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  cd "$(dirname "$0")/.."
  export LC_ALL=C
  passed=0
  failed=0
  log_dir=$(mktemp -d /tmp/onyx-tests-XXXXXX)
  eval "$(sed -n '/^count() {/,/^}/p; /^criterion() {/,/^}/p' tools/test.sh)"
  hardening_alone=1
fi

# Reports of any sanitizer, in a log.
hardening_sanitizer_reports='ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'

# A Criterion executable under a sanitizer: its counts, and one failure more when the log
# holds a sanitizer report (a report in a test's child process does not fail the test).
hardening_criterion() { # name executable
  criterion "$1" "$2"
  local out="$log_dir/${1//\//_}.log"
  if grep -qaE "$hardening_sanitizer_reports" "$out"; then
    grep -aE "$hardening_sanitizer_reports" "$out" | head -5
    count "$1/sanitizer-reports" 0 1
  fi
}

# A program whose last line is "N passed, N failed".
hardening_program() { # name command...
  local name=$1 out="$log_dir/${1//\//_}.log"
  shift
  "$@" >"$out" 2>&1
  local rc=$? line
  line=$(tail -1 "$out")
  if ! [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    echo "  $name printed no summary (exit $rc); log: $out"; tail -5 "$out"; count "$name" 0 1; return
  fi
  grep -a "^FAIL" "$out" | head -20
  count "$name" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

# A fuzz target replaying files: each file that runs through is a pass; a crash, a sanitizer
# report or a missing summary is a failure.
hardening_replay() { # name executable paths...
  local name=$1 exe=$2 out="$log_dir/${1//\//_}.log"
  shift 2
  "$exe" "$@" >"$out" 2>&1
  local rc=$? line
  line=$(grep -a "^replayed [0-9]* files$" "$out" | tail -1)
  if [ "$rc" != 0 ] || [ -z "$line" ] || grep -qaE "$hardening_sanitizer_reports" "$out"; then
    echo "  $name: exit $rc; log: $out"; grep -aE "crashed while running|$hardening_sanitizer_reports" "$out" | head -5
    count "$name" 0 1; return
  fi
  count "$name" "$(awk '{print $2}' <<<"$line")" 0
}

# `onyx test` of a sanitizer build's CLI: its "N passed, N failed, N skipped" line.
hardening_onyx_test() { # name onyx args...
  local name=$1 onyx=$2 out="$log_dir/${1//\//_}.log"
  shift 2
  "$onyx" test --quiet "$@" >"$out" 2>&1
  local line
  line=$(tail -1 "$out")
  if ! [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ [0-9]+\ skipped$ ]] ||
     grep -qaE "$hardening_sanitizer_reports" "$out"; then
    echo "  $name failed; log: $out"; tail -5 "$out"; count "$name" 0 1; return
  fi
  count "$name" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

# Configures (once) and builds a sanitizer build with clang; false with its log on failure.
hardening_build() { # dir sanitizers targets...
  local dir=$1 sanitize=$2 out="$log_dir/build-${1}.log"
  shift 2
  if [ ! -f "$dir/build.ninja" ] &&
     ! CC=clang meson setup "$dir" --buildtype=debugoptimized -Db_sanitize="$sanitize" -Db_lundef=false >"$out" 2>&1; then
    echo "  configuring $dir failed; log: $out"; tail -5 "$out"; return 1
  fi
  if ! ninja -C "$dir" "$@" >>"$out" 2>&1; then
    echo "  building $dir failed; log: $out"; grep -a -m5 "error" "$out"; return 1
  fi
}

# The fuzz targets' regression files and seed corpora, through the replay programs of `dir`.
hardening_replays() { # prefix dir seeds
  local t
  for t in load_model run_model read_tensor; do
    local paths=("$3/$t")
    [ -d "tests/regressions/$t" ] && paths+=("tests/regressions/$t")
    hardening_replay "$1/fuzz-replay/$t" "$2/fuzz/fuzz_$t" "${paths[@]}"
  done
}

hardening_seeds="$log_dir/fuzz-seeds"
tools/fuzz.sh --seeds "$hardening_seeds" >"$log_dir/fuzz-seeds.log" 2>&1 ||
  { echo "  writing the fuzz seed corpora failed; log: $log_dir/fuzz-seeds.log"; count fuzz-seeds 0 1; }

echo "== hardening: malformed models, fuzz regression files and seed corpora (build/)"
hardening_program malformed-models build/tests/malformed models
hardening_replays release build "$hardening_seeds"

echo "== hardening: AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, leaks checked)"
if hardening_build build-asan address,undefined; then
  export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:hard_rss_limit_mb=4096
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  for exe in build-asan/tests/test_*; do
    [ -f "$exe" ] && [ -x "$exe" ] && hardening_criterion "asan/unit/$(basename "$exe" | sed 's/^test_//')" "$exe"
  done
  hardening_onyx_test asan/models build-asan/cli/onyx models
  # The sweep under ASan breaks one model of each kind (an FFN exported both ways, attention with
  # a padding mask, a pre-norm encoder from the dynamo exporter, a GPT-2 block, LLaMA with rotary
  # embeddings, RMSNorm and grouped-query attention; quantized dynamically and QDQ, of a MatMul and
  # of a convolution): the loader's and the operators' paths of all the models (the release sweep
  # above breaks every one) in a fraction of the cases, since ASan runs them many times slower
  # (the whole sweep under ASan took about 10 of CI's 46 minutes on an AVX2-only Zen 3).
  asan_sweep=(models/{ffn_gelu,ffn_gelu_dynamo,mha_torch_padding_mask,encoder_prenorm_gelu_dynamo,gpt2_block}
              models/hf_llama models/quantized/{ffn_gelu_dynamic,ffn_gelu_qdq,cnn_small_dynamic,cnn_small_qdq})
  hardening_program asan/malformed-models build-asan/tests/malformed "${asan_sweep[@]}"
  hardening_replays asan build-asan "$hardening_seeds"
  unset ASAN_OPTIONS UBSAN_OPTIONS
else
  count asan/build 0 1
fi

echo "== hardening: ThreadSanitizer (build-tsan/)"
if hardening_build build-tsan thread tests/concurrency_plain; then
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 hardening_criterion tsan/concurrency build-tsan/tests/concurrency_plain
else
  count tsan/build 0 1
fi

if [ -n "${hardening_alone:-}" ]; then
  echo "logs: $log_dir"
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
fi
