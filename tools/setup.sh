#!/usr/bin/env bash
# Installs what onyx needs and builds it into build/. For a fresh Debian 12 machine of the
# python-native kind, run as root (or with sudo available):
#   - Debian's packages (when missing): the C toolchain and libraries, clang with the sanitizer
#     and libFuzzer runtime of whatever version Debian ships (libclang-rt-dev);
#   - .venv (when missing or out of date): one virtual environment with the pinned Python
#     packages of tools/requirements.txt, for exporting models, reference outputs, the ONNX
#     test data, benchmarks and the Python tests. The C library itself needs none of it.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  gcc pkg-config meson ninja-build            # toolchain
  protobuf-c-compiler libprotobuf-c-dev       # parser of proto/onnx.proto (ONNX 1.23.2's)
  libopenblas-dev                             # only bench/gemm_bench's comparison: onyx links no BLAS
  libcriterion-dev                            # unit tests
  clang libclang-rt-dev                       # fuzzing and sanitizer builds
  python3 python3-venv                        # the virtual environment below
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The virtual environment, rebuilt when tools/requirements.txt changes. The machine's python3
# (CPython 3.11, for which the pinned torch wheel lies on disk).
venv=.venv
stamp="$venv/.requirements"
if ! cmp -s tools/requirements.txt "$stamp" 2>/dev/null; then
  echo "setup: installing the Python packages of tools/requirements.txt into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r tools/requirements.txt
  cp tools/requirements.txt "$stamp"
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release >/dev/null
fi
ninja -C build >/dev/null
echo "setup: built build/cli/onyx and build/libonyx.so; Python tools in $venv"
