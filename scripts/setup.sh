#!/usr/bin/env bash
# Installs the Debian packages scopeflow needs to build and test, when any is missing.
# Idempotent and silent when everything is already installed.
#
#   bash scripts/setup.sh          # run directly
#   source scripts/setup.sh        # or source it and call scopeflow_setup
#
# The CUDA toolkit is not installed here: the build uses it when present (SCOPEFLOW_CUDA=AUTO)
# and builds the CPU backend otherwise.
#
# SCOPEFLOW_PEERS=1 also installs the peer libraries some benchmarks compare against (libtorch
# for bench/step_time_vs_libtorch, built only where CMake finds it); off by default, so that
# ordinary builds and CI stay light. SCOPEFLOW_TEST_TOOLS=1 (set by scripts/test.sh) also installs
# clang with its libFuzzer runtime, which the fuzzing step of the test command builds with.

SCOPEFLOW_APT_PACKAGES=(
  build-essential
  g++
  cmake
  ninja-build
  pkg-config
  git
  python3
  python3-venv
  libabsl-dev
  nlohmann-json3-dev
  libprotobuf-dev
  protobuf-compiler
  libgtest-dev
  libgmock-dev
  libopenblas-dev
  libdnnl-dev
  libopenmpi-dev
  openmpi-bin
)
if [[ "${SCOPEFLOW_PEERS:-0}" == "1" ]]; then
  SCOPEFLOW_APT_PACKAGES+=(libtorch-dev)
fi
if [[ "${SCOPEFLOW_TEST_TOOLS:-0}" == "1" ]]; then
  SCOPEFLOW_APT_PACKAGES+=(clang libclang-rt-14-dev)
fi

# Prints the packages of SCOPEFLOW_APT_PACKAGES that are not installed, one per line.
scopeflow_missing_packages() {
  local pkg status
  for pkg in "${SCOPEFLOW_APT_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)"
    if [[ "${status}" != "install ok installed" ]]; then
      echo "${pkg}"
    fi
  done
}

# Installs whatever is missing (apt-get update only when something is).
scopeflow_setup() {
  if [[ "${SCOPEFLOW_SETUP_DONE:-0}" == "1" ]]; then
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup: dpkg-query not found; this script supports Debian 12 only." >&2
    echo "setup: install these packages by hand: ${SCOPEFLOW_APT_PACKAGES[*]}" >&2
    return 1
  fi
  local missing=()
  mapfile -t missing < <(scopeflow_missing_packages)
  if ((${#missing[@]} > 0)); then
    local sudo=()
    if [[ "$(id -u)" != "0" ]]; then
      if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
      else
        echo "setup: missing packages: ${missing[*]}" >&2
        echo "setup: run as root (or install sudo) so they can be installed." >&2
        return 1
      fi
    fi
    echo "setup: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" || return 1
    mapfile -t missing < <(scopeflow_missing_packages)
    if ((${#missing[@]} > 0)); then
      echo "setup: still missing after apt-get install: ${missing[*]}" >&2
      return 1
    fi
  fi
  export SCOPEFLOW_SETUP_DONE=1
}

if [[ "${BASH_SOURCE[0]}" == "${0}" ]]; then
  set -euo pipefail
  scopeflow_setup
fi
