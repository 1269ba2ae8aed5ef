#!/usr/bin/env bash
# Installs the .deb files as a new user would, into a fresh Debian 12 root made by debootstrap, and runs
# them there: dependencies resolved by apt, the maintainer scripts creating the system users (with useradd,
# then again with systemd-sysusers once systemd is installed), systemd-analyze verify on the installed units,
# then the gateway and a node started as their users with the units' paths, one prompt, ledger verify.
# Needs root, debootstrap and the Debian mirror (minutes), so it is run by hand, not by CTest:
#   sudo installers/debian/chroot-install-check.sh build/packages [stories260K.gguf]
# Exit status 0 when everything passed.
set -euo pipefail
packages=$(cd "${1:?usage: chroot-install-check.sh PACKAGE_DIR [MODEL]}" && pwd)
model=${2:-${DECLAI_MODEL_PATH%%:*}/stories260K.gguf}
[ -f "$model" ] || { echo "model $model not found" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }
root=$(mktemp -d -t declai-chroot.XXXXXX)
chmod 755 "$root" # it becomes /: the service users inside must be able to traverse it
cleanup() {
  umount "$root/proc" 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT

echo "== debootstrap --variant=minbase bookworm $root"
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.debootstrap.log" 2>&1 ||
  { tail -20 "$root.debootstrap.log"; exit 1; }
rm -f "$root.debootstrap.log"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mkdir -p "$root/tmp/debs"
cp "$packages"/declai-server_*.deb "$packages"/declai-node_*.deb "$packages"/declai-cli_*.deb "$root/tmp/debs/"
cp "$model" "$root/tmp/stories260K.gguf"

cat >"$root/tmp/check.sh" <<'INNER'
#!/bin/sh
set -eu
export DEBIAN_FRONTEND=noninteractive
echo "== apt-get install the packages (no systemd: the postinst uses useradd)"
apt-get update -qq
apt-get install -y -qq --no-install-recommends /tmp/debs/*.deb >/tmp/apt.log
id declai-server
id declai-node
for program in declai-server declai-node declai-cli; do "$program" --version; done
echo "== with systemd installed, again through systemd-sysusers"
apt-get install -y -qq --no-install-recommends systemd >/tmp/apt-systemd.log
userdel declai-server
userdel declai-node
apt-get install -y -qq --reinstall /tmp/debs/declai-server_*.deb /tmp/debs/declai-node_*.deb >/tmp/apt-again.log
id declai-server
id declai-node | grep -q render || { echo "declai-node is not in the render group"; exit 1; }
id declai-node
echo "== systemd-analyze verify (no man-db in a minimal root: --man=no)"
out=$(systemd-analyze verify --man=no /usr/lib/systemd/system/declai-server.service \
  /usr/lib/systemd/system/declai-node.service 2>&1)
[ -z "$out" ] || { echo "$out"; exit 1; }
echo "== the gateway and a node as their users, with the units' paths"
install -d -o declai-server -g declai-server -m 0750 /var/lib/declai/server /var/lib/declai/models
install -d -o declai-node -g declai-node -m 0750 /var/lib/declai/node
install -m 0644 /tmp/stories260K.gguf /var/lib/declai/models/
key=$(runuser -u declai-server -- declai-server user add alice --data-dir /var/lib/declai/server 2>/dev/null)
port=27420
runuser -u declai-server -- declai-server --listen 127.0.0.1:$port --model-dir /var/lib/declai/models \
  --data-dir /var/lib/declai/server --threads 1 >/tmp/server.log 2>&1 &
server=$!
for _ in $(seq 150); do grep -q listening /tmp/server.log && break; sleep 0.2; done
install -m 0644 /var/lib/declai/server/tls/server.crt /tmp/gateway.crt
runuser -u declai-node -- declai-node --server wss://127.0.0.1:$port --ca /tmp/gateway.crt \
  --data-dir /var/lib/declai/node --threads 1 >/tmp/node.log 2>&1 &
node=$!
for _ in $(seq 300); do grep -q ' serves ' /tmp/server.log && break; sleep 0.2; done
grep ' serves ' /tmp/server.log || { cat /tmp/server.log /tmp/node.log; exit 1; }
story=$(declai-cli submit --server wss://127.0.0.1:$port --ca /tmp/gateway.crt -m stories260K \
  -p "Once upon a time" -n 24 --api-key "$key")
echo "Once upon a time$story"
[ -n "$story" ]
kill -TERM $node $server
wait $node $server || true
runuser -u declai-server -- declai-server ledger verify --data-dir /var/lib/declai/server
echo "PASS: chroot install check"
INNER
chmod +x "$root/tmp/check.sh"
chroot "$root" /tmp/check.sh
