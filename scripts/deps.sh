#!/usr/bin/env bash
# Installs the Debian 12 packages DeCLAI builds and tests with, only those that are missing.
# Sourced by scripts/demo and scripts/test; safe to run on its own.
set -euo pipefail

DECLAI_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  qt6-base-dev qt6-base-dev-tools libqt6sql6-sqlite qt6-websockets-dev qt6-httpserver-dev
  qt6-charts-dev libqt6opengl6-dev qt6-svg-dev qt6-l10n-tools qt6-tools-dev qt6-tools-dev-tools xvfb fonts-dejavu-core trayer qt6-translations-l10n
  libssl-dev libprotobuf-dev protobuf-compiler
  postgresql libqt6sql6-psql curl
  hipcc libamdhip64-dev
  libbenchmark-dev
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-tools
  g++-aarch64-linux-gnu qemu-user
  clang libclang-rt-14-dev
  lintian systemd
)

declai_missing_packages() {
  local missing=()
  for p in "${DECLAI_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  # Node.js and npm (tst_http_api's openai client, tst_openapi_lint's linter): Debian's packages unless a
  # node with npm is already installed another way (NodeSource's nodejs conflicts with Debian's npm).
  if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    missing+=(nodejs npm)
  fi
  echo "${missing[@]:-}"
}

declai_install_deps() {
  local missing
  missing=$(declai_missing_packages)
  if [ -z "$missing" ]; then
    return 0
  fi
  echo "== installing Debian packages: $missing"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Under CI=true, everything the README says runs in CI must be present: lists every missing piece and fails.
declai_check_ci_dependencies() {
  local missing=()
  # Outputs read whole before grep: `cmd | grep -q` under pipefail fails at random (SIGPIPE to cmd).
  local devices
  devices=$(clinfo -l 2>/dev/null || true)
  grep -q "Portable Computing Language" <<<"$devices" || missing+=("PoCL (OpenCL: pocl-opencl-icd, clinfo)")
  devices=$(vulkaninfo --summary 2>/dev/null || true)
  grep -qi "llvmpipe" <<<"$devices" || missing+=("lavapipe (Vulkan: mesa-vulkan-drivers, vulkan-tools)")
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=("PostgreSQL (postgresql)")
  command -v qemu-aarch64 >/dev/null || missing+=("qemu-aarch64 (qemu-user)")
  command -v npm >/dev/null && command -v node >/dev/null || missing+=("npm (nodejs, npm: the HTTP API tests' openai client and OpenAPI linter)")
  command -v aarch64-linux-gnu-g++ >/dev/null || missing+=("aarch64-linux-gnu-g++ (g++-aarch64-linux-gnu)")
  command -v hipcc >/dev/null || missing+=("hipcc (hipcc, libamdhip64-dev)")
  command -v lintian >/dev/null || missing+=("lintian (lintian: checks the .deb packages)")
  command -v systemd-analyze >/dev/null || missing+=("systemd-analyze (systemd: verifies the units)")
  command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || missing+=("nvcc (the CUDA toolkit in /usr/local/cuda)")
  [ -n "${DECLAI_MODEL_PATH:-}" ] && [ -f "${DECLAI_MODEL_PATH%%:*}/stories260K.gguf" ] ||
    missing+=("the test models (DECLAI_MODEL_PATH='${DECLAI_MODEL_PATH:-}' has no stories260K.gguf)")
  [ -n "${DECLAI_REFERENCE_DIR:-}" ] && [ -d "$DECLAI_REFERENCE_DIR" ] ||
    missing+=("llama.cpp's reference outputs (DECLAI_REFERENCE_DIR='${DECLAI_REFERENCE_DIR:-}')")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== CI is missing what its tests need:" >&2
    printf '   - %s\n' "${missing[@]}" >&2
    return 1
  fi
  echo "== CI dependencies present: PoCL, lavapipe, PostgreSQL, qemu-aarch64, hipcc, nvcc, npm, lintian, systemd-analyze, models, references"
}

# Default model search path: ../shared/models beside the checkout, when it exists and nothing is set.
declai_default_model_path() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [ -z "${DECLAI_MODEL_PATH:-}" ] && [ -d "$root/../shared/models" ]; then
    export DECLAI_MODEL_PATH="$root/../shared/models"
  fi
  if [ -z "${DECLAI_REFERENCE_DIR:-}" ] && [ -d "$root/../shared/reference" ]; then
    export DECLAI_REFERENCE_DIR="$root/../shared/reference"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  declai_install_deps
fi
