#!/usr/bin/env bash
# Installs what onyx needs from Debian's packages (when missing) and builds it into build/.
# Meant for a fresh Debian 12 machine, run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  gcc pkg-config meson ninja-build            # toolchain
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev   # the ONNX schema, parsed with protobuf-c
  libopenblas-dev                              # GEMM fallback
  libcriterion-dev                             # unit tests
  libonnx-testdata                             # the ONNX backend conformance tests
  python3 python3-numpy python3-onnx python3-torch    # exporting models and reference outputs
  clang libclang-rt-14-dev                     # fuzzing and sanitizer builds
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

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release >/dev/null
fi
ninja -C build >/dev/null
echo "setup: built build/cli/onyx and build/libonyx.so"
