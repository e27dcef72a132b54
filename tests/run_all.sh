#!/usr/bin/env bash
# Every test of chainrule in one command: installs the package with its test extra, builds
# and runs the C++ unit tests under ctest (once optimised, once with AddressSanitizer and
# UndefinedBehaviorSanitizer, where any report fails the test), then the Python tests under
# pytest. All always run; the exit status is non-zero if any failed.
set -u
cd "$(dirname "$0")/.."

# the mpi extra (mpi4py + MPICH's mpiexec) runs the data-parallel tests under mpiexec
python -m pip install --quiet ".[test,mpi]" || { echo "run_all: pip install failed" >&2; exit 1; }

build=build/cpp-tests
cpp_status=0
{ cmake -S . -B "$build" -DCHAINRULE_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release >/dev/null &&
  cmake --build "$build" -j 2 &&
  ctest --test-dir "$build" --output-on-failure; } || cpp_status=$?

# ASan + UBSan: -fno-sanitize-recover=all turns every report into a failing test;
# allocator_may_return_null: an allocation too large to have fails as it does without ASan
# (std::bad_alloc, which the out-of-memory messages are tested on) instead of aborting
san_build=build/cpp-tests-sanitize
san_status=0
{ cmake -S . -B "$san_build" -DCHAINRULE_BUILD_TESTS=ON -DCHAINRULE_SANITIZE=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
  cmake --build "$san_build" -j 2 &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$san_build" --output-on-failure; } || san_status=$?

py_status=0
python -m pytest "$@" || py_status=$?

echo "run_all: ctest exit ${cpp_status}, sanitizer ctest exit ${san_status}, pytest exit ${py_status}"
[ "$cpp_status" -eq 0 ] && [ "$san_status" -eq 0 ] && [ "$py_status" -eq 0 ]
