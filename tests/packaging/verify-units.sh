#!/usr/bin/env bash
# systemd-analyze verify on DeCLAI's systemd units. systemd-analyze exits 0 on an unknown key or system
# call group (it only prints a warning), so any message it prints fails the check; a canary unit with a
# typo proves first that such a message is caught.
# Usage: verify-units.sh UNIT_DIR BIN_DIR MAN_DIR
#   UNIT_DIR  folder with declai-server.service and declai-node.service
#   BIN_DIR   where the programs are (ExecStart's /usr/bin/ is rewritten to it: verify checks they exist)
#   MAN_DIR   a folder with man1/NAME.1[.gz] (verify checks the Documentation=man: pages exist)
# Exit status: 0 pass, 1 fail, 77 skip (systemd-analyze missing; a failure where DECLAI_REQUIRED_DEPS
# names systemd-analyze).
set -uo pipefail
unit_dir=$1 bin_dir=$2 man_dir=$3
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v systemd-analyze >/dev/null; then
  exec "$here/../support/missing-dependency.sh" systemd-analyze \
    "systemd-analyze not found (apt-get install systemd): the units were not verified"
fi
work=$(mktemp -d -t declai-units.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The canary: a unit with an unknown key must produce a message, or this check could never fail.
printf '[Service]\nExecStart=/bin/true\nNoNewPrivilegez=yes\n' >"$work/canary.service"
if [ -z "$(systemd-analyze verify --man=no "$work/canary.service" 2>&1)" ]; then
  echo "FAIL: systemd-analyze printed nothing for a unit with an unknown key; this check cannot work"
  exit 1
fi

status=0
for unit in declai-server.service declai-node.service; do
  if [ ! -f "$unit_dir/$unit" ]; then
    echo "FAIL: $unit_dir/$unit is missing"
    status=1
    continue
  fi
  sed "s|/usr/bin/|$bin_dir/|g" "$unit_dir/$unit" >"$work/$unit"
  output=$(cd "$work" && MANPATH="$man_dir" SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$work/$unit" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] || [ -n "$output" ]; then
    echo "FAIL: systemd-analyze verify $unit (exit $rc):"
    echo "$output" | sed 's/^/   /'
    status=1
  else
    echo "PASS: systemd-analyze verify $unit (no messages)"
  fi
done
exit $status
