#!/usr/bin/env bash
# Configures and builds scopeflow with Ninja.
#
#   bash scripts/build.sh [extra CMake configure arguments...]
#
# Environment:
#   SCOPEFLOW_BUILD_DIR      build directory (default: build)
#   SCOPEFLOW_BUILD_TYPE     CMAKE_BUILD_TYPE (default: Release)
#   SCOPEFLOW_CUDA           AUTO, ON or OFF (default: AUTO)
#   SCOPEFLOW_WERROR         ON or OFF (default: ON)
#   SCOPEFLOW_BUILD_TARGETS  space-separated targets to build (default: all)
#   SCOPEFLOW_JOBS           parallel jobs (default: nproc)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

# shellcheck source=scripts/setup.sh
source "${repo_root}/scripts/setup.sh"
scopeflow_setup

build_dir="${SCOPEFLOW_BUILD_DIR:-build}"
jobs="${SCOPEFLOW_JOBS:-$(nproc)}"

cmake -S . -B "${build_dir}" -G Ninja \
  -DCMAKE_BUILD_TYPE="${SCOPEFLOW_BUILD_TYPE:-Release}" \
  -DSCOPEFLOW_CUDA="${SCOPEFLOW_CUDA:-AUTO}" \
  -DSCOPEFLOW_WERROR="${SCOPEFLOW_WERROR:-ON}" \
  "$@"

targets=()
if [[ -n "${SCOPEFLOW_BUILD_TARGETS:-}" ]]; then
  read -r -a targets <<<"${SCOPEFLOW_BUILD_TARGETS}"
fi
if ((${#targets[@]} > 0)); then
  cmake --build "${build_dir}" --parallel "${jobs}" --target "${targets[@]}"
else
  cmake --build "${build_dir}" --parallel "${jobs}"
fi
