#!/usr/bin/env bash
# Builds tests/selfcheck/project in a throwaway folder and runs each of its suites through
# scripts/run-ctest.sh (the CTest command scripts/test uses), checking CTest's verdict and exit status.
# Usage: selfcheck.sh SOURCE_DIR CMAKE CXX_COMPILER
set -u
src=$1
cmake=$2
cxx=$3
work=$(mktemp -d -t declai-selfcheck.XXXXXX)
trap 'rm -rf "$work"' EXIT

if ! "$cmake" -S "$src/tests/selfcheck/project" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx" -DDECLAI_SOURCE_DIR="$src" >"$work/configure.log" 2>&1; then
  cat "$work/configure.log"
  echo "FAIL: the self-check project did not configure"
  exit 1
fi
if ! "$cmake" --build "$work/build" >"$work/build.log" 2>&1; then
  cat "$work/build.log"
  echo "FAIL: the self-check project did not build"
  exit 1
fi

failures=0
# expect NAME VERDICT(Passed|Skipped|Failed) [ENV=VALUE...]: runs one suite alone and checks CTest's verdict
# line and exit status (0 for Passed and Skipped, non-zero for Failed).
expect() {
  local name=$1 verdict=$2
  shift 2
  local out rc
  out=$(env -u DECLAI_REQUIRED_DEPS "$@" "$src/scripts/run-ctest.sh" "$work/build" -R "^$name\$" 2>&1)
  rc=$?
  local line
  line=$(grep -E "Test +#[0-9]+: $name " <<<"$out" | tail -n 1)
  local ok=1
  case $verdict in
    Passed) [[ $rc -eq 0 && $line == *" Passed"* ]] || ok=0 ;;
    Skipped) [[ $rc -eq 0 && $line == *"***Skipped"* ]] || ok=0 ;;
    Failed) [[ $rc -ne 0 && $line == *"***Failed"* ]] || ok=0 ;;
  esac
  if [ $ok -eq 1 ]; then
    echo "ok: $name ${*:+($*) }-> $verdict, ctest exit status $rc"
  else
    echo "FAIL: $name ${*:+($*) }should be $verdict; ctest said '${line:-nothing}' with exit status $rc:"
    sed 's/^/    /' <<<"$out"
    failures=$((failures + 1))
  fi
}

expect suite_pass Passed
expect suite_skip_only Skipped
expect suite_skip_and_fail Failed
expect suite_fail_only Failed
expect suite_crash_after_skip Failed
expect suite_early_exit Failed
expect suite_missing_dependency Skipped
expect suite_missing_dependency Failed DECLAI_REQUIRED_DEPS=selfcheck-tool
expect suite_missing_dependency Failed DECLAI_REQUIRED_DEPS=all

# The whole throwaway suite at once, as scripts/test runs it: one failing suite among skips fails the run.
env -u DECLAI_REQUIRED_DEPS "$src/scripts/run-ctest.sh" "$work/build" >"$work/all.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "suite_skip_and_fail .*Failed" "$work/all.log"; then
  echo "ok: the whole run exits $rc with suite_skip_and_fail failed"
else
  cat "$work/all.log"
  echo "FAIL: the whole run exited $rc; a failing suite that also skips must fail it"
  failures=$((failures + 1))
fi

echo "== self-check: $failures failure(s)"
[ $failures -eq 0 ]
