#!/usr/bin/env bash
# Runs CTest in BUILD_DIR the way scripts/test does; extra arguments go to ctest. The exit status is
# ctest's: non-zero when any test failed (a failure is never reported as a skip: see
# tests/support/run-qtest.sh); skipped tests are listed with their reasons and do not fail the run.
# tests/selfcheck runs this same script on a throwaway project to prove it.
# Usage: scripts/run-ctest.sh BUILD_DIR [CTEST_ARGS...]
set -euo pipefail
build=$1
shift
cd "$build"
status=0
ctest --output-on-failure -j"$(nproc)" "$@" || status=$?
# CTest shows no output of skipped tests: repeat each skip's reason so that no skip goes unexplained.
log=Testing/Temporary/LastTest.log
if [ -f "$log" ] && grep -q '^SKIP   :' "$log"; then
  echo "== skipped test functions and their reasons:"
  awk '/^[0-9]+\/[0-9]+ Testing: /{suite=$3} /^SKIP   :/{sub(/^SKIP   : */, ""); print "   " suite ": " $0}' "$log"
fi
# The fuzz tests' figures (tests/fuzz/run-fuzzer.sh), which CTest does not show for a passing test.
if [ -f "$log" ] && grep -q '^fuzz: ' "$log"; then
  echo "== fuzzing:"
  grep '^fuzz: ' "$log" | sed 's/^/   /'
fi
exit $status
