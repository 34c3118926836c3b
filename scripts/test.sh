#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole CTest suite.
# Then a CPU-only build (SCOPEFLOW_CUDA=OFF) with ASan and UBSan runs the same suite, and a
# ThreadSanitizer build runs the tests that build graphs or all-reduce from several threads, and the libFuzzer
# targets run for a few seconds each where clang++ has libFuzzer (scripts/fuzz.sh).
# Exits non-zero on any failure.
#
#   bash scripts/test.sh
#
# Environment:
#   SCOPEFLOW_BUILD_DIR      main build directory (default: build)
#   SCOPEFLOW_CPU_BUILD_DIR  CPU-only build directory (default: build-cpu-sanitize)
#   SCOPEFLOW_TSAN_BUILD_DIR ThreadSanitizer build directory (default: build-tsan)
#   SCOPEFLOW_TEST_JOBS      parallel ctest jobs (default: 2)
#   SCOPEFLOW_SKIP_INTEROP   1 to build and test without the interop tests (TensorFlow and
#                            TensorBoard reading our exports). By default scripts/interop_env.sh
#                            creates (once; cached) their pinned Python environment, and failing
#                            to create it fails this script: interop is never skipped silently.
#   SCOPEFLOW_CACHE_DIR      where that environment is cached (default: $HOME/.cache/scopeflow)
#   SCOPEFLOW_FUZZ_SECONDS   seconds of each libFuzzer run (default: 10; see scripts/fuzz.sh)
#   and the other variables of scripts/build.sh.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

# The test command also needs clang's libFuzzer (scripts/fuzz.sh).
export SCOPEFLOW_TEST_TOOLS=1
# shellcheck source=scripts/setup.sh
source "${repo_root}/scripts/setup.sh"
scopeflow_setup

build_dir="${SCOPEFLOW_BUILD_DIR:-build}"
cpu_build_dir="${SCOPEFLOW_CPU_BUILD_DIR:-build-cpu-sanitize}"
test_jobs="${SCOPEFLOW_TEST_JOBS:-2}"
summaries=()

# run_ctest DIR LABEL: runs the suite in DIR, keeps its closing summary line.
run_ctest() {
  local dir="$1" label="$2" log="$1/ctest.log" rc summary
  set +e
  ctest --test-dir "${dir}" --output-on-failure -j"${test_jobs}" 2>&1 | tee "${log}"
  rc=${PIPESTATUS[0]}
  set -e
  summary="$(grep -E '^[0-9]+% tests passed' "${log}" | tail -n 1 || true)"
  summaries+=("${label}: ${summary:-no summary (ctest exit status ${rc})}")
  if ((rc != 0)); then
    echo "test.sh: ctest failed in ${dir} (exit status ${rc})" >&2
    exit "${rc}"
  fi
}

# The interop tests' Python environment (main build only; not the sanitizer build).
interop_args=(-DSCOPEFLOW_INTEROP_PYTHON=)
if [[ "${SCOPEFLOW_SKIP_INTEROP:-0}" == "1" ]]; then
  echo "=== interop tests: skipped (SCOPEFLOW_SKIP_INTEROP=1) ==="
else
  echo "=== interop environment ==="
  if ! interop_venv="$(bash scripts/interop_env.sh)"; then
    echo "test.sh: cannot create the interop test environment (SCOPEFLOW_SKIP_INTEROP=1 skips it)" >&2
    exit 1
  fi
  echo "interop environment: ${interop_venv}"
  interop_args=(-DSCOPEFLOW_INTEROP_PYTHON="${interop_venv}/bin/python")
fi

# Where a CUDA toolkit is installed the main build must compile and link the CUDA backend:
# ON turns a broken toolkit into a configure error instead of a silently CPU-only build.
main_cuda="${SCOPEFLOW_CUDA:-}"
if [[ -z "${main_cuda}" ]]; then
  if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
    main_cuda=ON
  else
    main_cuda=AUTO
    echo "test.sh: no CUDA toolkit (nvcc) found; the main build is CPU-only" >&2
  fi
fi

echo "=== build: ${build_dir} (SCOPEFLOW_CUDA=${main_cuda}) ==="
# SCOPEFLOW_MPI=ON: setup.sh installed Open MPI, so the data-parallel tests (mpirun -np 2) must
# build and run, never drop out silently.
SCOPEFLOW_BUILD_DIR="${build_dir}" SCOPEFLOW_CUDA="${main_cuda}" bash scripts/build.sh "${interop_args[@]}" \
  -DSCOPEFLOW_MPI=ON

cuda_built=OFF
if grep -q '^SCOPEFLOW_CUDA_BACKEND_BUILT:INTERNAL=ON$' "${build_dir}/CMakeCache.txt"; then
  cuda_built=ON
fi

echo "=== ctest: ${build_dir} (CUDA backend built: ${cuda_built}) ==="
run_ctest "${build_dir}" "${build_dir} (CUDA backend built: ${cuda_built})"

# The same suite again on a CPU-only build (SCOPEFLOW_CUDA=OFF) with AddressSanitizer and
# UndefinedBehaviorSanitizer, so the CPU-only configuration and sanitizer cleanliness are both
# checked on every run.
echo "=== build: ${cpu_build_dir} (SCOPEFLOW_CUDA=OFF, address,undefined sanitizers) ==="
SCOPEFLOW_BUILD_DIR="${cpu_build_dir}" SCOPEFLOW_CUDA=OFF SCOPEFLOW_BUILD_TYPE=RelWithDebInfo \
  bash scripts/build.sh -DSCOPEFLOW_SANITIZE=address,undefined -DSCOPEFLOW_BUILD_BENCHMARKS=OFF -DSCOPEFLOW_MPI=ON
echo "=== ctest: ${cpu_build_dir} (CPU only, sanitizers) ==="
run_ctest "${cpu_build_dir}" "${cpu_build_dir} (CPU only, sanitizers)"

# Graphs and variable stores may be built from several threads at once, and a session
# all-reduces on its communication thread: the tests that do so (every suite whose name holds
# "Thread", and CollectiveOpsTest) run again under ThreadSanitizer. Only the unit-test
# binary is built there; OpenBLAS is not instrumented, so the other tests stay out of it.
tsan_build_dir="${SCOPEFLOW_TSAN_BUILD_DIR:-build-tsan}"
echo "=== build: ${tsan_build_dir} (SCOPEFLOW_CUDA=OFF, thread sanitizer) ==="
SCOPEFLOW_BUILD_DIR="${tsan_build_dir}" SCOPEFLOW_CUDA=OFF SCOPEFLOW_BUILD_TARGETS=scopeflow_tests \
  bash scripts/build.sh -DSCOPEFLOW_SANITIZE=thread -DSCOPEFLOW_BUILD_BENCHMARKS=OFF \
  -DSCOPEFLOW_BUILD_EXAMPLES=OFF -DSCOPEFLOW_INTEROP_PYTHON=
echo "=== threaded tests: ${tsan_build_dir} (thread sanitizer) ==="
tsan_log="${tsan_build_dir}/tsan.log"
set +e
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  "${tsan_build_dir}/scopeflow_tests" --gtest_filter='*Thread*:CollectiveOpsTest.*' 2>&1 | tee "${tsan_log}"
tsan_rc=${PIPESTATUS[0]}
set -e
tsan_passed="$(grep -E '^\[  PASSED  \] [0-9]+ tests?' "${tsan_log}" | tail -n 1 || true)"
summaries+=("${tsan_build_dir} (thread sanitizer, *Thread* and CollectiveOpsTest tests): ${tsan_passed:-no summary (exit status ${tsan_rc})}")
if ((tsan_rc != 0)) || ! grep -q '^\[  PASSED  \] [1-9]' "${tsan_log}"; then
  echo "test.sh: threaded tests failed under ThreadSanitizer (exit status ${tsan_rc})" >&2
  exit 1
fi

# libFuzzer targets of the parsers of outside data, a bounded run each (scripts/fuzz.sh), where
# clang++ with libFuzzer is installed. The events file and checkpoints have no reader in the
# library yet, so the CSV parser is the one target.
echo "=== fuzz (scripts/fuzz.sh) ==="
set +e
bash scripts/fuzz.sh
fuzz_rc=$?
set -e
if ((fuzz_rc == 77)); then
  summaries+=("fuzz: skipped (no clang++ with libFuzzer; see the message above)")
elif ((fuzz_rc != 0)); then
  echo "test.sh: fuzzing found a failure (exit status ${fuzz_rc})" >&2
  exit 1
else
  summaries+=("fuzz: csv parser, ${SCOPEFLOW_FUZZ_SECONDS:-10} s, no finding")
fi

echo
echo "=== test summary ==="
printf '%s\n' "${summaries[@]}"
