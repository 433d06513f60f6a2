#!/usr/bin/env bash
# Builds the Python package onyx from this checkout and installs it into .venv (pip over
# pyproject.toml: meson-python drives this repository's meson build in build-python/, kept
# between runs so that a second run only rebuilds what changed), then runs its tests:
# tests/python/test_package*.py (the API, errors, threads, zero-copy, memory) and
# tests/python/test_backend*.py (ONNX's backend suite through onyx.backend).
# Nothing is downloaded: meson-python, meson and ninja come from tools/requirements.txt.
# Ends with pytest's summary line ("N passed, N skipped in Ts"), or "0 passed, 1 failed" when
# the package does not build. Arguments are passed on to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python # made by tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH" # the venv's meson and ninja

log=$(mktemp /tmp/onyx-python-build-XXXXXX)
if ! "$python" -m pip install --no-index --no-deps --no-build-isolation --disable-pip-version-check \
        -Cbuild-dir=build-python . >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -30
    echo "the Python package did not build; log: $log"
    echo "0 passed, 1 failed"
    exit 1
fi
rm -f "$log"
exec "$python" -m pytest -q -p no:cacheprovider \
    tests/python/test_package*.py tests/python/test_backend*.py "$@"
