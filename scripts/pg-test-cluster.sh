#!/usr/bin/env bash
# Throwaway PostgreSQL server for the ledger's integration tests.
#   scripts/pg-test-cluster.sh start DIR   -> initdb in DIR/data, listen on 127.0.0.1:<free port>, trust auth;
#                                            prints  DECLAI_TEST_PG=host=127.0.0.1 port=N user=declai dbname=declai_test
#   scripts/pg-test-cluster.sh stop DIR    -> stops it (DIR can then be deleted)
# Needs the Debian packages postgresql (PostgreSQL 15) and libqt6sql6-psql. PostgreSQL refuses to run as
# root, so under root (CI) the server runs as the unprivileged system user declai-pg, created on first use;
# DIR and its parents must then be reachable by that user (e.g. under /tmp).
# Durability is switched off (fsync=off): this cluster holds nothing worth keeping.
set -euo pipefail
bindir=${DECLAI_PG_BINDIR:-/usr/lib/postgresql/15/bin}
pguser=declai-pg

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
[ -x "$bindir/initdb" ] || { echo "$bindir/initdb not found: apt-get install postgresql" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$pguser" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'PY' 2>/dev/null && return 0
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
  # No python: probe ports from a random start until one is not listening.
  local port=$((20000 + RANDOM % 20000))
  while ss -ltn "sport = :$port" | grep -q LISTEN; do port=$((port + 1)); done
  echo "$port"
}

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    id -u "$pguser" >/dev/null 2>&1 || useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$pguser"
    chown "$pguser" "$dir"
    runuser -u "$pguser" -- test -w "$dir" ||
      { echo "$dir is not reachable by $pguser (a parent directory is private); use a directory under /tmp" >&2; exit 1; }
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    echo "a server is already running in $dir (stop it first)" >&2
    exit 1
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir/data" -U declai -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  port=$(free_port)
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U declai -d postgres -qAt \
    -c "SELECT 1 FROM pg_database WHERE datname = 'declai_test'" | grep -q 1 ||
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U declai declai_test
  echo "$port" >"$dir/port"
  echo "DECLAI_TEST_PG=host=127.0.0.1 port=$port user=declai dbname=declai_test"
  ;;
stop)
  [ -d "$dir/data" ] || { echo "no cluster in $dir" >&2; exit 1; }
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
*)
  usage
  ;;
esac
