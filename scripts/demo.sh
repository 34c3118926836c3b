#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the demo programs, each of which
# prints its memory report.
#
#   bash scripts/demo.sh
#
# Environment: SCOPEFLOW_BUILD_DIR and the other variables of scripts/build.sh.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

# The programs the demo runs, in order (executables in the build directory).
demo_programs=(example1_naive example2_shared example3_custom_layer)

# shellcheck source=scripts/setup.sh
source "${repo_root}/scripts/setup.sh"
scopeflow_setup

build_dir="${SCOPEFLOW_BUILD_DIR:-build}"
SCOPEFLOW_BUILD_TARGETS="${demo_programs[*]}" bash scripts/build.sh

for program in "${demo_programs[@]}"; do
  echo
  echo "=== ${program} ==="
  "${build_dir}/${program}"
done
