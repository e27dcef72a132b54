#!/usr/bin/env bash
# Every test of chainrule in one command: installs the package with its test extra, builds
# and runs the C++ unit tests under ctest, then the Python tests under pytest. Both always
# run; the exit status is non-zero if either failed.
set -u
cd "$(dirname "$0")/.."

python -m pip install --quiet ".[test]" || { echo "run_all: pip install failed" >&2; exit 1; }

build=build/cpp-tests
cpp_status=0
{ cmake -S . -B "$build" -DCHAINRULE_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release >/dev/null &&
  cmake --build "$build" -j 2 &&
  ctest --test-dir "$build" --output-on-failure; } || cpp_status=$?

py_status=0
python -m pytest "$@" || py_status=$?

echo "run_all: ctest exit ${cpp_status}, pytest exit ${py_status}"
[ "$cpp_status" -eq 0 ] && [ "$py_status" -eq 0 ]
