#!/usr/bin/env bash
# Creates (once) the Python virtual environment of the interop tests and prints its path.
#
#   venv="$(bash scripts/interop_env.sh)"     # then: "${venv}/bin/python", "${venv}/bin/tensorboard"
#   bash scripts/interop_env.sh --existing    # only an environment made before: no install, no
#                                             # network; exits 1 when there is none
#
# The environment holds the pinned packages of tests/interop/requirements.txt (TensorFlow and
# TensorBoard, whose own readers check our exports). It is cached outside the clone, in
#   ${SCOPEFLOW_CACHE_DIR:-$HOME/.cache/scopeflow}/interop-venv-<key>
# where <key> hashes requirements.txt and the Python version, so a change of either builds a new
# one and an unchanged one is reused. It is built in a temporary folder beside that path and
# renamed into place only after the install and an import check succeeded: a half-built
# environment is never reused. Only the path goes to stdout; progress and errors go to stderr.
#
# Environment:
#   SCOPEFLOW_CACHE_DIR         cache folder (default: $HOME/.cache/scopeflow)
#   SCOPEFLOW_INTEROP_BASE_PYTHON  interpreter the environment is made from (default: python3)
#
# Exits non-zero, saying why, when the environment cannot be created.
set -euo pipefail

existing_only=0
if [[ "${1:-}" == "--existing" ]]; then
  existing_only=1
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="${repo_root}/tests/interop/requirements.txt"
base_python="${SCOPEFLOW_INTEROP_BASE_PYTHON:-python3}"
cache_dir="${SCOPEFLOW_CACHE_DIR:-${HOME}/.cache/scopeflow}"

fail() {
  echo "interop_env: $*" >&2
  echo "interop_env: the interop test environment could not be created" \
       "(set SCOPEFLOW_SKIP_INTEROP=1 to run scripts/test.sh without the interop tests)." >&2
  exit 1
}

[[ -f "${requirements}" ]] || fail "missing ${requirements}"
command -v "${base_python}" >/dev/null 2>&1 || fail "'${base_python}' not found on PATH"

# The venv module and ensurepip (Debian ships them separately, in python3-venv).
have_venv() { "${base_python}" -c 'import venv, ensurepip' >/dev/null 2>&1; }
if ! have_venv && ((existing_only == 0)); then
  if ! command -v apt-get >/dev/null 2>&1; then
    fail "${base_python} has no working venv module (and apt-get is not available to install python3-venv)"
  fi
  sudo=()
  if [[ "$(id -u)" != "0" ]]; then
    command -v sudo >/dev/null 2>&1 || fail "${base_python} has no venv module; install python3-venv as root"
    sudo=(sudo)
  fi
  echo "interop_env: installing python3-venv" >&2
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends python3-venv >&2; then
    # The package lists may be missing or stale: update them and try once more.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
      || fail "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends python3-venv >&2 \
      || fail "apt-get install python3-venv failed"
  fi
  have_venv || fail "${base_python} still has no working venv module after installing python3-venv"
fi

python_version="$("${base_python}" -c 'import platform, sys; print(sys.version, platform.machine())')" \
  || fail "cannot run ${base_python}"
key="$({ cat "${requirements}"; echo "${python_version}"; } | sha256sum | cut -c1-16)"
venv="${cache_dir}/interop-venv-${key}"
stamp=".scopeflow-interop-ready"

if [[ -f "${venv}/${stamp}" && -x "${venv}/bin/python" ]]; then
  echo "${venv}"
  exit 0
fi
if ((existing_only == 1)); then
  echo "interop_env: no interop environment at ${venv} (--existing: not creating one)" >&2
  exit 1
fi

mkdir -p "${cache_dir}" || fail "cannot create ${cache_dir}"
if [[ -e "${venv}" ]]; then
  # Not ours to trust (no stamp): move it out of the way instead of reusing it.
  echo "interop_env: discarding incomplete ${venv}" >&2
  stale="$(mktemp -d "${cache_dir}/.stale.XXXXXX")"
  mv -T "${venv}" "${stale}/venv" 2>/dev/null || true
  rm -rf "${stale}"
fi

tmp="$(mktemp -d "${cache_dir}/.interop-venv-${key}.build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

echo "interop_env: creating ${venv} from ${requirements} (${python_version%% *})" >&2
"${base_python}" -m venv "${tmp}" >&2 || fail "${base_python} -m venv failed"
PIP_DISABLE_PIP_VERSION_CHECK=1 "${tmp}/bin/python" -m pip install --no-input --quiet \
  --requirement "${requirements}" >&2 || fail "pip install -r ${requirements} failed"

# Console scripts (bin/tensorboard, bin/pytest) and activate scripts name the folder they were
# installed in; point them at the final path before the rename.
while IFS= read -r -d '' script; do
  if grep -qF "${tmp}" "${script}" 2>/dev/null; then
    sed -i "s|${tmp}|${venv}|g" "${script}"
  fi
done < <(find "${tmp}/bin" -maxdepth 1 -type f -print0)

"${tmp}/bin/python" - "${requirements}" >&2 <<'PY' || fail "import check of the new environment failed"
import importlib.metadata as md
import re
import sys

# Every pinned distribution is installed at its pinned version...
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.\-+]+)", line)
    if m and md.version(m.group(1)) != m.group(2):
        sys.exit(f"{m.group(1)} is {md.version(m.group(1))}, not {m.group(2)}")
# ...and the readers the tests use import.
import pytest  # noqa: F401,E402
import tensorflow as tf  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator, event_file_loader  # noqa: F401,E402

tf.compat.v1.GraphDef()
print(f"interop_env: tensorflow {tf.__version__} imports", file=sys.stderr)
PY
touch "${tmp}/${stamp}"

# Atomic: rename(2) of a folder onto an existing non-empty one fails, so a concurrent run that
# finished first wins and this one's copy is dropped.
if ! mv -T "${tmp}" "${venv}" 2>/dev/null; then
  [[ -f "${venv}/${stamp}" ]] || fail "cannot move the new environment to ${venv}"
  echo "interop_env: another run created ${venv} meanwhile; using it" >&2
fi
echo "${venv}"
