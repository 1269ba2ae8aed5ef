#!/usr/bin/env bash
# The packages as a user gets them: builds them with cpack from the build tree, runs lintian on the .deb
# files, checks their dependencies and contents, extracts them into an empty root (dpkg -x: a real
# `dpkg --root` install would need a whole Debian system inside the root for the maintainer scripts),
# verifies the installed systemd units, then starts declai-server and a declai-node from the installed
# files (stories260K), submits a prompt with the installed declai-cli and checks the ledger. Then the
# same swarm from the relocatable tarball, with nothing but its own folder on the library path.
# Usage: install-packages.sh BUILD_DIR VERSION PACKAGE...   (the packages this build must produce)
# Exit status: 0 pass, 1 fail, 77 skip (a tool or the model missing; a failure where
# DECLAI_REQUIRED_DEPS names it: lintian, models, cpack).
set -uo pipefail
build_dir=$1 version=$2
shift 2
packages=("$@")
here=$(cd "$(dirname "$0")" && pwd)
missing() { exec "$here/../support/missing-dependency.sh" "$@"; }
fail() {
  echo "FAIL: $*"
  exit 1
}
pass() { echo "PASS: $*"; }

command -v cpack >/dev/null || missing cpack "cpack not found: no packages were built"
command -v dpkg-deb >/dev/null || missing cpack "dpkg-deb not found: no packages were built"
command -v lintian >/dev/null || missing lintian "lintian not found (apt-get install lintian; scripts/deps.sh)"
model=""
IFS=':' read -r -a search <<<"${DECLAI_MODEL_PATH:-}"
for dir in "${search[@]}"; do
  if [ -f "$dir/stories260K.gguf" ]; then
    model=$(cd "$dir" && pwd)/stories260K.gguf
    break
  fi
done
[ -n "$model" ] || missing models "stories260K.gguf not found in DECLAI_MODEL_PATH='${DECLAI_MODEL_PATH:-}'"

work=$(mktemp -d -t declai-packages.XXXXXX)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# --- build the packages (into this test's own folder: other builds and tests may run cpack too) -------
echo "== cpack -G 'DEB;TGZ'"
if ! cpack --config "$build_dir/CPackConfig.cmake" -G "DEB;TGZ" -B "$work/out" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  fail "cpack"
fi
arch=$(dpkg --print-architecture)
debs=()
for package in "${packages[@]}"; do
  deb="$work/out/${package}_${version}-1_${arch}.deb"
  [ -f "$deb" ] || fail "package $package was not built (ls: $(ls "$work/out"))"
  debs+=("$deb")
done
for deb in "$work"/out/*.deb; do
  name=$(dpkg-deb -f "$deb" Package)
  [[ " ${packages[*]} " == *" $name "* ]] || fail "unexpected package $name"
done
pass "packages ${packages[*]} (version $version-1)"

# --- lintian: no error or warning that is not overridden (with its reason, installers/debian/) --------
if ! lintian --fail-on error,warning --pedantic -I "${debs[@]}" >"$work/lintian.log" 2>&1; then
  cat "$work/lintian.log"
  fail "lintian"
fi
grep -E '^[EW]: ' "$work/lintian.log" && fail "lintian reported the lines above"
pass "lintian --fail-on error,warning (info: $(grep -c '^I: ' "$work/lintian.log") tags)"

# --- dependencies: computed from the binaries; no GUI stack in the headless packages --------------------
for deb in "${debs[@]}"; do
  name=$(dpkg-deb -f "$deb" Package)
  depends=$(dpkg-deb -f "$deb" Depends)
  case $name in
    declai-server | declai-node | declai-cli)
      [[ $depends == *libqt6core6* && $depends == *libc6* ]] || fail "$name Depends lacks shlibdeps output: $depends"
      if [[ $depends =~ libqt6(gui|widgets|charts|svg) ]]; then fail "$name depends on a GUI library: $depends"; fi
      ;;
  esac
  [ "$(dpkg-deb -f "$deb" Version)" = "$version-1" ] || fail "$name has version $(dpkg-deb -f "$deb" Version)"
done
server_depends=$(dpkg-deb -f "$work/out/declai-server_${version}-1_${arch}.deb" Depends)
[[ $server_depends == *libqt6sql6-sqlite* ]] || fail "declai-server does not depend on the SQLite driver plugin"
pass "dependencies from dpkg-shlibdeps, no GUI libraries in the headless packages"

# --- install into an empty root -------------------------------------------------------------------------
root="$work/root"
mkdir -p "$root"
for deb in "${debs[@]}"; do dpkg -x "$deb" "$root" || fail "dpkg -x $deb"; done
stray=$(find "$root" -name 'tst_*' -o -name 'bench_*' -o -name '*.a')
[ -z "$stray" ] || fail "test binaries or static libraries installed: $stray"
for program in declai-server declai-node declai-cli; do
  [[ " ${packages[*]} " == *" $program "* ]] || continue
  binary="$root/usr/bin/$program"
  [ -x "$binary" ] || fail "$binary missing"
  dynamic=$(readelf -d "$binary")
  if grep -qE 'R(UN)?PATH' <<<"$dynamic"; then fail "$program has an RPATH in the Debian package"; fi
  got=$("$binary" --version 2>&1)
  [ "$got" = "$program/$version" ] || fail "$program --version printed '$got', expected '$program/$version'"
done
if [[ " ${packages[*]} " == *" declai "* ]]; then
  # offscreen: CI has no display, and --version must not need one.
  got=$(QT_QPA_PLATFORM=offscreen "$root/usr/bin/declai" --version 2>&1)
  [ "$got" = "declai/$version" ] || fail "declai --version printed '$got', expected 'declai/$version'"
fi
pass "installed with dpkg -x: no test binaries, no RPATH, --version is NAME/$version on every program"
# The HIP module's package puts it in /usr/lib/declai, where the loader must find it from /usr/bin
# (gpu/src/backend/HipModuleLoader.cpp). Without a GPU the backend is unavailable for another reason.
if [[ " ${packages[*]} " == *" declai-backend-hip "* && " ${packages[*]} " == *" declai-cli "* ]]; then
  hip=$("$root/usr/bin/declai-cli" devices 2>&1 | grep '^hip')
  if [[ $hip == *"not found"* || $hip == *"could not be loaded"* ]]; then fail "installed HIP module not loaded: $hip"; fi
  pass "installed HIP module loaded from /usr/lib/declai ($hip)"
fi

# --- the installed systemd units ------------------------------------------------------------------------
"$here/verify-units.sh" "$root/usr/lib/systemd/system" "$root/usr/bin" "$root/usr/share/man"
units=$?
[ $units -eq 0 ] || [ $units -eq 77 ] || fail "systemd units"

# --- a swarm from the installed files ---------------------------------------------------------------------
# run_swarm LABEL BIN_DIR [env...]: server + one node + one prompt; ENV runs the programs (e.g. env -i).
free_port() {
  local port=$((20000 + RANDOM % 20000))
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}
run_swarm() {
  local label=$1 bin=$2
  shift 2
  local run=("$@")
  local dir="$work/swarm-$label"
  mkdir -p "$dir/models"
  ln -s "$model" "$dir/models/stories260K.gguf"
  local key
  key=$("${run[@]}" "$bin/declai-server" user add tester --data-dir "$dir/server" 2>"$dir/useradd.log") ||
    { cat "$dir/useradd.log"; fail "$label: declai-server user add"; }
  local port
  port=$(free_port)
  "${run[@]}" "$bin/declai-server" --listen "127.0.0.1:$port" --model-dir "$dir/models" --data-dir "$dir/server" \
    --threads 1 >"$dir/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do grep -q listening "$dir/server.log" && [ -f "$dir/server/tls/server.crt" ] && break; sleep 0.1; done
  grep -q listening "$dir/server.log" || { cat "$dir/server.log"; fail "$label: declai-server did not start"; }
  "${run[@]}" "$bin/declai-node" --server "wss://127.0.0.1:$port" --ca "$dir/server/tls/server.crt" \
    --data-dir "$dir/node" --threads 1 >"$dir/node.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do grep -q ' serves ' "$dir/server.log" && break; sleep 0.1; done
  grep -q ' serves ' "$dir/server.log" || { cat "$dir/server.log" "$dir/node.log"; fail "$label: the node did not connect"; }
  pass "$label: declai-node connected to declai-server ($(grep -m1 ' serves ' "$dir/server.log"))"
  local story
  story=$(timeout 120 "${run[@]}" "$bin/declai-cli" submit --server "wss://127.0.0.1:$port" \
    --ca "$dir/server/tls/server.crt" -m stories260K -p "Once upon a time" -n 16 --api-key "$key" 2>"$dir/submit.log") ||
    { cat "$dir/submit.log" "$dir/server.log"; fail "$label: declai-cli submit"; }
  [ -n "$story" ] || fail "$label: declai-cli submit printed nothing"
  pass "$label: declai-cli submit: Once upon a time$story"
  stop_all
  "${run[@]}" "$bin/declai-server" ledger verify --data-dir "$dir/server" >"$dir/verify.log" 2>&1 ||
    { cat "$dir/verify.log"; fail "$label: ledger verify"; }
  pass "$label: ledger verify"
}
run_swarm deb "$root/usr/bin" env

# --- the same from the installed example configuration (development mode: one file for gateway and node) --
config_swarm() {
  local bin=$1 example=$2
  local dir="$work/swarm-config"
  mkdir -p "$dir/models"
  ln -s "$model" "$dir/models/stories260K.gguf"
  cp "$example" "$dir/development.ini"
  for program in declai-server declai-node; do
    "$bin/$program" --config "$dir/development.ini" --check-config >"$dir/check.log" 2>&1 ||
      { cat "$dir/check.log"; fail "config: $program --check-config on the installed development.ini"; }
  done
  local key port
  key=$("$bin/declai-server" user add tester --data-dir "$dir/state/server" 2>"$dir/useradd.log") ||
    { cat "$dir/useradd.log"; fail "config: declai-server user add"; }
  port=$(free_port)
  # The file's keys, with the port from the environment (DECLAI_<KEY> over the file; docs/configuration.md).
  DECLAI_LISTEN="127.0.0.1:$port" "$bin/declai-server" --config "$dir/development.ini" --threads 1 \
    >"$dir/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do grep -q listening "$dir/server.log" && break; sleep 0.1; done
  grep -q listening "$dir/server.log" || { cat "$dir/server.log"; fail "config: declai-server did not start"; }
  DECLAI_SERVER_URL="ws://127.0.0.1:$port" "$bin/declai-node" --config "$dir/development.ini" >"$dir/node.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do grep -q ' serves ' "$dir/server.log" && break; sleep 0.1; done
  grep -q ' serves ' "$dir/server.log" || { cat "$dir/server.log" "$dir/node.log"; fail "config: the node did not connect"; }
  local story
  story=$(timeout 120 "$bin/declai-cli" submit --server "ws://127.0.0.1:$port" --insecure-dev -m stories260K \
    -p "Once upon a time" -n 16 --api-key "$key" 2>"$dir/submit.log") ||
    { cat "$dir/submit.log" "$dir/server.log"; fail "config: declai-cli submit"; }
  [ -n "$story" ] || fail "config: declai-cli submit printed nothing"
  pass "config: server and node from the installed development.ini: Once upon a time$story"
  stop_all
}
config_swarm "$root/usr/bin" "$root/usr/share/doc/declai-server/examples/development.ini"

# --- the relocatable tarball: moved to a new folder, nothing on the library path but its own -----------
tarball="$work/out/declai-${version}-Linux-$(uname -m).tar.gz"
[ -f "$tarball" ] || fail "tarball $tarball not built"
mkdir -p "$work/tgz"
tar -xzf "$tarball" -C "$work/tgz" || fail "tar -xzf $tarball"
mv "$work/tgz/declai-${version}-Linux-$(uname -m)" "$work/tgz/moved"
tbin="$work/tgz/moved/bin"
# ldd's output is read whole first: `ldd | grep -q` under pipefail fails at random when grep stops reading
# early and ldd gets SIGPIPE.
libraries=$(ldd "$tbin/declai-server")
if grep -q 'not found' <<<"$libraries"; then fail "tarball: $(grep 'not found' <<<"$libraries")"; fi
grep -qF "$work/tgz/moved/bin/../lib/declai/libQt6Core" <<<"$libraries" ||
  fail "tarball: declai-server does not load the bundled Qt ($(grep Qt6Core <<<"$libraries"))"
for program in declai-server declai-node declai-cli; do
  got=$(env -i "$tbin/$program" --version 2>&1)
  [ "$got" = "$program/$version" ] || fail "tarball: $program --version printed '$got'"
done
pass "tarball: relocated, bundled libraries resolve, --version on every program"
run_swarm tarball "$tbin" env -i PATH=/usr/bin:/bin
echo "PASS: all package checks"
