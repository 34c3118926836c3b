#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the flagship training program:
# an MLP with shared hidden layers on the embedded digits set, then a recurrent model that
# applies one cell over every time step. Each prints its progress, held-out accuracy and
# memory report, and writes TensorBoard logs under logs/.
#
#   bash scripts/demo.sh
#
# Environment: SCOPEFLOW_BUILD_DIR and the other variables of scripts/build.sh.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"


# shellcheck source=scripts/setup.sh
source "${repo_root}/scripts/setup.sh"
scopeflow_setup

build_dir="${SCOPEFLOW_BUILD_DIR:-build}"
SCOPEFLOW_BUILD_TARGETS="train" bash scripts/build.sh

echo
echo "=== train: MLP with shared hidden layers on the digits set ==="
"${build_dir}/train" --model=mlp --logdir logs/train_mlp
echo
echo "=== train: recurrent model, one cell over every time step ==="
"${build_dir}/train" --model=rnn --logdir logs/train_rnn
