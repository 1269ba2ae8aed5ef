#!/usr/bin/env bash
# Runs one libFuzzer target for CTest, bounded in time: first every regression input (each crash found so far,
# tests/fuzz/regressions/<target>/), then the seed corpus (tests/fuzz/corpus/<target>/, copied so that the
# repository is never written) for SECONDS. Exit status non-zero on any crash, leak, UB report or timeout.
# Prints the executions and the corpus growth as "fuzz: TARGET executions=N ...".
# Usage: run-fuzzer.sh TARGET_BINARY SOURCE_DIR NAME SECONDS
set -u
binary=$1
src=$2
name=$3
seconds=$4
work=$(mktemp -d -t "declai-fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

regressions="$src/tests/fuzz/regressions/$name"
if compgen -G "$regressions/*" >/dev/null; then
  "$binary" -rss_limit_mb=2048 -timeout=20 "$regressions"/* >"$work/regressions.log" 2>&1 || {
    cat "$work/regressions.log"
    echo "FAIL: $name crashed on a regression input"
    exit 1
  }
  echo "fuzz: $name replayed $(ls "$regressions" | wc -l) regression input(s)"
fi

mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$src/tests/fuzz/corpus/$name/." "$work/corpus/"
seeds=$(ls "$work/corpus" | wc -l)
"$binary" "$work/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" >"$work/run.log" 2>&1
status=$?
executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/run.log" | tail -n 1)
if [ $status -ne 0 ]; then
  tail -n 60 "$work/run.log"
  for artifact in "$work"/artifacts/*; do
    [ -f "$artifact" ] && echo "crash input (base64; add it to $regressions/): $(base64 -w0 "$artifact")"
  done
  echo "FAIL: $name exited $status after ${executions:-?} executions"
  exit 1
fi
echo "fuzz: $name executions=${executions:-0} seconds=$seconds seeds=$seeds corpus=$(ls "$work/corpus" | wc -l) crashes=0"
