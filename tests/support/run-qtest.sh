#!/usr/bin/env bash
# CTest's runner for one QtTest suite. The verdict comes from the suite's exit status first, then from its
# Totals line, never from a pattern alone: a suite that fails or crashes fails even when another of its
# functions skipped (CTest 3.25 with SKIP_REGULAR_EXPRESSION reported such a suite as skipped and exited 0).
#   exit 0      every test function passed
#   exit 77     it passed, but at least one function skipped (CTest's SKIP_RETURN_CODE); the reasons are
#               repeated at the end of the output
#   otherwise   failed: the suite's own non-zero status (a crash shows as 128 + signal), or 1 when the output
#               has no Totals line (the suite ended early) or its Totals count a failure
# Usage: run-qtest.sh SUITE [ARGS...]
set -u
log=$(mktemp -t declai-qtest.XXXXXX)
trap 'rm -f "$log"' EXIT

"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
suite=$(basename "$1")

if [ "$status" -ne 0 ]; then
  if [ "$status" -gt 128 ]; then
    echo "== FAILED: $suite was killed by signal $((status - 128))"
  else
    echo "== FAILED: $suite exited with status $status"
  fi
  # 77 is CTest's skip code: a failing suite must never be mistaken for a skipped one.
  [ "$status" -eq 77 ] && exit 1
  exit "$status"
fi

# "Totals: 12 passed, 0 failed, 1 skipped, 0 blacklisted, 345ms"
totals=$(grep -E '^Totals: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -n 1)
if [ -z "$totals" ]; then
  echo "== FAILED: $suite exited 0 without QtTest's Totals line (it ended before its test functions ran out)"
  exit 1
fi
failed=$(sed -E 's/^Totals: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$totals")
skipped=$(sed -E 's/^Totals: [0-9]+ passed, [0-9]+ failed, ([0-9]+) skipped.*/\1/' <<<"$totals")
if [ "$failed" -ne 0 ]; then
  echo "== FAILED: $suite exited 0 but its Totals count $failed failure(s)"
  exit 1
fi
if [ "$skipped" -ne 0 ]; then
  echo "== SKIPPED: $skipped test function(s) of $suite did not run:"
  grep -E '^SKIP   :' "$log" | sed 's/^/   /'
  exit 77
fi
exit 0
