#!/usr/bin/env bash
# Runs every test, as CI does (.ci/run calls this): installs dependencies, builds and tests the
# `release` preset (all labels), then builds and tests the `asan` preset (ASan + UBSan, labels
# `python` and `slow` excluded). Test settings (output on failure, 600 s per test, the asan label
# filter) live in CMakePresets.json. Works from any directory; exits non-zero if any step fails
# and always ends with one summary line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=$(nproc)
start=$SECONDS
step="start"
results=()
total_passed=0
total_failed=0

finish() {
  local rc=$?
  local elapsed=$((SECONDS - start))
  if [[ $rc -eq 0 ]]; then
    (IFS=";"; echo "test.sh: PASS in ${elapsed}s (${results[*]})")
  else
    echo "test.sh: FAIL in step '${step}' (exit ${rc}) after ${elapsed}s" >&2
  fi
  # The plain closing line CI reads: tests of both builds together.
  echo "tests: ${total_passed} passed, ${total_failed} failed"
}
trap finish EXIT

# Builds the given preset and runs its tests; records ctest's own summary line.
build_and_test() {
  local preset=$1 log summary
  step="configure ${preset}"
  cmake --preset "$preset"
  step="build ${preset}"
  cmake --build --preset "$preset" -j "$jobs"
  step="test ${preset}"
  log="build/${preset}/ctest-summary.log"
  local rc=0
  ctest --preset "$preset" -j "$jobs" | tee "$log" || rc=$?
  summary=$(grep -E 'tests passed' "$log" | tail -n 1 || true)
  results+=("${preset}: ${summary}")
  # "NN% tests passed, F tests failed out of T"
  if [[ $summary =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    total_failed=$((total_failed + BASH_REMATCH[1]))
    total_passed=$((total_passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  fi
  return "$rc"
}

step="install dependencies"
tools/install_deps.sh
build_and_test release
build_and_test asan
step="done"
