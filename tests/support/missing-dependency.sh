#!/usr/bin/env bash
# Stands in for a test whose dependency was not found at configure time. Outside CI that is a visible skip
# (exit 77, CTest's SKIP_RETURN_CODE) with the reason; where DECLAI_REQUIRED_DEPS names the dependency (or is
# "all"), as scripts/test sets it under CI=true, it is a failure that says which dependency is missing.
# Usage: missing-dependency.sh DEPENDENCY REASON...
set -u
dependency=$1
shift
required=",${DECLAI_REQUIRED_DEPS:-},"
if [[ "$required" == *",all,"* || "$required" == *",$dependency,"* ]]; then
  echo "FAIL!  : required dependency '$dependency' is missing: $*"
  exit 1
fi
echo "SKIP   : $*"
exit 77
