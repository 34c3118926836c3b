#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU and many cores: builds only what the GPU tests
# and benchmarks need (CUDA backend, Release), runs the GPU tests (ctest -L gpu), the flagship
# program `train` with --device=cuda and the three benchmarks on the GPU, and writes one
# summary file with each step's status, key figures and time. Every step runs under `timeout`
# within one time budget (default 450 s, so the whole check ends within 8 minutes); a failed
# step is recorded and the next one runs. Nothing here needs the network, except
# scripts/setup.sh when Debian packages are missing.
#
#   bash scripts/gpu_check.sh [--build-only] [--summary FILE] [--build-dir DIR]
#
# Exit status: 0 every step passed; 1 a step failed (or timed out); 2 no usable GPU (after the
# build, which still runs and is reported); 64 bad command line.
#
# Environment:
#   SCOPEFLOW_GPU_BUILD_DIR       build directory (default build-gpu; --build-dir overrides)
#   OUT                           where the summary and logs go when set (default: build dir)
#   SCOPEFLOW_GPU_CHECK_BUDGET    seconds for the whole check (default 450)
#   SCOPEFLOW_JOBS                build jobs (default nproc)
#   SCOPEFLOW_GPU_BUILD_TIMEOUT   seconds the build may take (default 330; within the budget)
#   SCOPEFLOW_GPU_CHECK_THREADS   CPU threads of the benchmarks' CPU sides (default nproc, at most 16)
#   SCOPEFLOW_GPU_TEST_JOBS       parallel GPU tests (default 4)
#   SCOPEFLOW_WERROR              warnings as errors (default OFF here: a newer toolkit's new
#                                 warning must not hide the GPU results; CI keeps it ON)
#   CMAKE_CUDA_ARCHITECTURES      default: the first GPU's compute capability (else 80;90)
#   SCOPEFLOW_INTEROP_PYTHON      Python with TensorFlow for step_time_vs_tensorflow (default:
#                                 the interop environment, if one was made before)
set -uo pipefail

usage() {
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

build_only=0
summary=""
build_dir="${SCOPEFLOW_GPU_BUILD_DIR:-build-gpu}"
while (($# > 0)); do
  case "$1" in
    --build-only) build_only=1 ;;
    --summary) [[ $# -ge 2 ]] || { echo "gpu_check: --summary needs a file" >&2; exit 64; }; summary="$2"; shift ;;
    --summary=*) summary="${1#--summary=}" ;;
    --build-dir) [[ $# -ge 2 ]] || { echo "gpu_check: --build-dir needs a folder" >&2; exit 64; }; build_dir="$2"; shift ;;
    --build-dir=*) build_dir="${1#--build-dir=}" ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
  shift
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}" || exit 1

if [[ -z "${summary}" ]]; then
  summary="${OUT:-${build_dir}}/gpu_check_summary.txt"
fi
out_dir="$(dirname "${summary}")"
log_dir="${out_dir}/gpu_check_logs"
mkdir -p "${out_dir}" "${log_dir}" "${build_dir}" || { echo "gpu_check: cannot create ${out_dir}" >&2; exit 1; }

start_time=$(date +%s)
budget="${SCOPEFLOW_GPU_CHECK_BUDGET:-450}"
cores="$(nproc)"
jobs="${SCOPEFLOW_JOBS:-${cores}}"
threads="${SCOPEFLOW_GPU_CHECK_THREADS:-$((cores < 16 ? cores : 16))}"
test_jobs="${SCOPEFLOW_GPU_TEST_JOBS:-4}"

step_names=()
step_status=()
step_seconds=()
step_figures=()
gpu_line="not probed yet"
build_line=""
failures=0

elapsed() { echo $(($(date +%s) - start_time)); }

write_summary() {
  local overall="$1" i
  {
    echo "scopeflow GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
    echo "host:    $(hostname), ${cores} cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
    echo "GPU:     ${gpu_line}"
    echo "build:   ${build_line}"
    echo "threads: ${threads} for the benchmarks' CPU sides; budget ${budget} s, used $(elapsed) s"
    echo
    printf '%-26s %-8s %8s  %s\n' "step" "status" "seconds" "figures"
    for i in "${!step_names[@]}"; do
      printf '%-26s %-8s %8s  %s\n' "${step_names[i]}" "${step_status[i]}" "${step_seconds[i]}" "${step_figures[i]}"
    done
    echo
    echo "overall: ${overall}"
    echo "logs:    ${log_dir}"
  } >"${summary}"
}

# record NAME STATUS SECONDS FIGURES
record() {
  step_names+=("$1")
  step_status+=("$2")
  step_seconds+=("$3")
  step_figures+=("$4")
  case "$2" in PASS) ;; *) failures=$((failures + 1)) ;; esac
  printf 'gpu_check: %-26s %-8s %6s s  %s\n' "$1" "$2" "$3" "$4" >&2
  write_summary "running"
}

# run_step NAME CAP_SECONDS CMD...: runs CMD with stdout in NAME.out and stderr in NAME.log,
# limited to CAP seconds and to what is left of the budget. Sets step_rc, step_time and
# step_state (PASS, FAIL(rc), TIMEOUT or NOT_RUN: no budget left) for the caller to record.
step_rc=0
step_time=0
step_state=""
run_step() {
  local name="$1" cap="$2" left limit t0
  shift 2
  left=$((budget - $(elapsed) - 5))
  limit=$((cap < left ? cap : left))
  if ((limit < 10)); then
    step_rc=125
    step_time=0
    step_state="NOT_RUN"
    return
  fi
  echo "gpu_check: ${name}: $* (limit ${limit} s)" >&2
  t0=$(date +%s.%N)
  timeout --kill-after=10 "${limit}" "$@" >"${log_dir}/${name}.out" 2>"${log_dir}/${name}.log"
  step_rc=$?
  step_time="$(awk -v a="${t0}" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  case "${step_rc}" in
    0) step_state="PASS" ;;
    124 | 137) step_state="TIMEOUT" ;;
    *) step_state="FAIL(${step_rc})" ;;
  esac
}

# figures NAME PYTHON_CODE: runs PYTHON_CODE with `d` the JSON document of NAME.out; prints one
# line of figures (and "FAIL: why" to turn a passed step into a failure).
figures() {
  python3 - "${log_dir}/$1.out" "$2" 2>/dev/null <<'PY' || echo "(no JSON result)"
import json, sys
text = open(sys.argv[1]).read()
start = text.find("{")
d = json.loads(text[start:]) if start >= 0 else None
if d is None:
    raise SystemExit(1)
def ms(seconds):
    return "-" if seconds is None else "%.3f ms" % (seconds * 1e3)
exec(sys.argv[2])
PY
}

# Marks a passed step failed when its figures say so (a line starting "FAIL: ").
finish_step() {
  local name="$1" figs="$2" state="${step_state}"
  if [[ "${state}" == "PASS" && "${figs}" == FAIL:* ]]; then
    state="FAIL"
  fi
  if [[ "${state}" == TIMEOUT || "${state}" == FAIL* ]] && [[ -s "${log_dir}/${name}.log" ]]; then
    figs="${figs} | stderr: $(tail -n 2 "${log_dir}/${name}.log" | tr '\n' ' ' | cut -c1-200)"
  fi
  [[ "${state}" == NOT_RUN ]] && figs="the time budget was spent before this step"
  record "${name}" "${state}" "${step_time}" "${figs}"
}

# --- GPU probe (first, so the build can target the GPU's architecture) ----------------------
gpu_present=0
gpu_arch=""
if ! command -v nvidia-smi >/dev/null 2>&1; then
  gpu_line="absent: nvidia-smi not found (no NVIDIA driver on this machine)"
elif ! gpu_query="$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap \
                      --format=csv,noheader 2>&1)"; then
  gpu_line="absent: nvidia-smi failed: $(echo "${gpu_query}" | head -n 1)"
elif [[ -z "${gpu_query}" ]]; then
  gpu_line="absent: nvidia-smi lists no GPU"
else
  gpu_present=1
  gpu_line="$(echo "${gpu_query}" | head -n 1) ($(echo "${gpu_query}" | wc -l) GPU(s): name, driver, memory, compute capability)"
  gpu_arch="$(echo "${gpu_query}" | head -n 1 | awk -F', *' '{ print $4 }' | tr -d '.')"
  [[ "${gpu_arch}" =~ ^[0-9]+$ ]] || gpu_arch=""
fi
echo "gpu_check: GPU: ${gpu_line}" >&2
cuda_archs="${CMAKE_CUDA_ARCHITECTURES:-${gpu_arch:-80;90}}"

# --- setup, configure, build ------------------------------------------------------------------
run_step setup 240 bash scripts/setup.sh
finish_step setup ""

nvcc_path="$(command -v nvcc 2>/dev/null || true)"
if [[ -z "${nvcc_path}" && -x /usr/local/cuda/bin/nvcc ]]; then
  nvcc_path=/usr/local/cuda/bin/nvcc
fi
build_line="${build_dir} (Release, SCOPEFLOW_CUDA=ON, CUDA architectures ${cuda_archs}, -j${jobs}, nvcc ${nvcc_path:-not found})"

targets=(scopeflow_gpu_tests train gemm_vs_openblas shared_vs_duplicated step_time_vs_tensorflow)
configure_args=(-S . -B "${build_dir}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSCOPEFLOW_CUDA=ON
  "-DCMAKE_CUDA_ARCHITECTURES=${cuda_archs}" "-DSCOPEFLOW_WERROR=${SCOPEFLOW_WERROR:-OFF}"
  -DSCOPEFLOW_BUILD_TESTS=ON -DSCOPEFLOW_BUILD_BENCHMARKS=ON -DSCOPEFLOW_BUILD_EXAMPLES=ON
  -DSCOPEFLOW_INTEROP_PYTHON=)
if [[ -n "${nvcc_path}" ]]; then
  configure_args+=("-DCMAKE_CUDA_COMPILER=${nvcc_path}")
fi
built=0
if [[ -z "${nvcc_path}" ]]; then
  step_time=0
  record configure "FAIL" 0 "no CUDA toolkit: nvcc not on PATH nor at /usr/local/cuda/bin/nvcc"
else
  run_step configure 120 cmake "${configure_args[@]}"
  finish_step configure "$(grep -m1 'CUDA backend:' "${log_dir}/configure.out" | sed 's/^-- scopeflow: //')"
  if [[ "${step_state}" == PASS ]]; then
    run_step build "${SCOPEFLOW_GPU_BUILD_TIMEOUT:-330}" cmake --build "${build_dir}" --parallel "${jobs}" --target "${targets[@]}"
    finish_step build "targets: ${targets[*]}"
    [[ "${step_state}" == PASS ]] && built=1
  fi
fi

if ((build_only == 1)); then
  if ((failures == 0)); then write_summary "PASS (--build-only)"; else write_summary "FAIL (--build-only: ${failures} step(s) failed)"; fi
  echo "gpu_check: summary: ${summary}" >&2
  ((failures == 0)) || exit 1
  exit 0
fi

if ((gpu_present == 0)); then
  record gpu "ABSENT" 0 "${gpu_line#absent: }; GPU steps not run"
  write_summary "NO GPU: ${gpu_line#absent: } (build $( ((built == 1)) && echo passed || echo failed)); nothing ran on a GPU"
  echo "gpu_check: no usable NVIDIA GPU here (${gpu_line#absent: }); the GPU tests and benchmarks did not run." >&2
  echo "gpu_check: summary: ${summary}" >&2
  exit 2
fi
if ((built == 0)); then
  write_summary "FAIL: the build failed; nothing ran on the GPU"
  echo "gpu_check: summary: ${summary}" >&2
  exit 1
fi

# --- on the GPU -------------------------------------------------------------------------------
bin="${build_dir}"

# GPU tests: on a machine with a GPU none may skip (a skip means the device did not answer or
# cannot run this build's kernels).
run_step gpu_tests 150 ctest --test-dir "${build_dir}" -L gpu --output-on-failure -j"${test_jobs}" --timeout 120
gpu_tests_summary="$(grep -E '^[0-9]+% tests passed' "${log_dir}/gpu_tests.out" | tail -n 1)"
gpu_tests_skipped="$(grep -c '(Skipped)' "${log_dir}/gpu_tests.out")"
gpu_tests_figs="${gpu_tests_summary:-no ctest summary}; ${gpu_tests_skipped} skipped"
if [[ "${step_state}" == PASS && "${gpu_tests_skipped}" != 0 ]]; then
  # CTest keeps a skipped test's output to itself: run the first skipped one again for the reason.
  first_skipped="$(grep -m1 '(Skipped)' "${log_dir}/gpu_tests.out" | sed -E 's/^[[:space:]]*[0-9]+ - ([^ ]+) .*/\1/')"
  skip_reason="$(timeout 60 "${bin}/scopeflow_gpu_tests" --gtest_filter="${first_skipped}" 2>&1 |
    sed -n '/^\[ RUN/,/^\[  SKIPPED/p' | sed -e '1d' -e '$d' | tr '\n' ' ' | cut -c1-200)"
  gpu_tests_figs="FAIL: ${gpu_tests_figs}; ${first_skipped}: ${skip_reason:-no reason printed}"
fi
finish_step gpu_tests "${gpu_tests_figs}"

# The flagship program on the GPU, with the accuracy its CTest cases ask on the CPU.
run_step train_mlp_cuda 60 "${bin}/train" --device=cuda --model=mlp --json --quiet \
  --logdir "${log_dir}/train_mlp_cuda_logs"
finish_step train_mlp_cuda "$(figures train_mlp_cuda '
acc = d.get("test_accuracy", 0)
print(("" if acc >= 0.95 else "FAIL: accuracy below 0.95; ") +
      "test_accuracy %.4f, %s steps in %s s (%s steps/s), final_loss %s" %
      (acc, d.get("steps"), d.get("seconds"), d.get("steps_per_second"), d.get("final_loss")))')"

run_step train_rnn_cuda 60 "${bin}/train" --device=cuda --model=rnn --json --quiet \
  --logdir "${log_dir}/train_rnn_cuda_logs"
finish_step train_rnn_cuda "$(figures train_rnn_cuda '
acc = d.get("test_accuracy", 0)
print(("" if acc >= 0.90 else "FAIL: accuracy below 0.90; ") +
      "test_accuracy %.4f, %s steps in %s s (%s steps/s)" %
      (acc, d.get("steps"), d.get("seconds"), d.get("steps_per_second")))')"

# GEMM: our MatMul on the GPU (cuBLAS) next to the CPU sides, "nn" products only.
run_step gemm_vs_openblas 60 "${bin}/gemm_vs_openblas" --threads "${threads}" --variants nn \
  --min-seconds 0.2 --json
finish_step gemm_vs_openblas "$(figures gemm_vs_openblas '
rows = d.get("results", [])
gpu = [r for r in rows if r.get("ours_gpu")]
parts = ["%dx%dx%d: GPU %.0f, CPU %.0f GFLOP/s" % (r["m"], r["k"], r["n"], r["ours_gpu"]["gflops"],
         r.get("ours", {}).get("gflops", 0)) for r in gpu]
bad = "" if gpu and d.get("all_agree") else "FAIL: %s; " % ("results disagree" if gpu else "no GPU results")
print(bad + "; ".join(parts))')"

# Memory: shared against duplicated variables, bytes from the CUDA allocator.
run_step shared_vs_duplicated 90 "${bin}/shared_vs_duplicated" --device=cuda --depths 1,2,4,8,16,32 \
  --widths 64,256 --steps 3 --threads "${threads}" --chart "${log_dir}/shared_vs_duplicated.svg" --json
finish_step shared_vs_duplicated "$(figures shared_vs_duplicated '
rows = d.get("results", [])
devices = sorted({r.get("shared", {}).get("device", r.get("device", "?")) or "?" for r in rows})
last = rows[-1] if rows else {}
print(("" if d.get("all_ok") and rows else "FAIL: the 1/N check failed; ") +
      "%d rows, all_ok %s, device %s; width %s depth %s: duplicated/shared %s, shared step %s" %
      (len(rows), d.get("all_ok"), ",".join(map(str, devices)), last.get("width"), last.get("depth"),
       last.get("ratio"), ms(last.get("shared", {}).get("median_step_seconds"))))')"

# Step time: ours on the CPU and on the GPU, TensorFlow (CPU) when its environment exists.
tf_args=(--no-tensorflow)
tf_note="TensorFlow not run: no interop environment (scripts/interop_env.sh makes one; it needs the network)"
tf_python="${SCOPEFLOW_INTEROP_PYTHON:-}"
if [[ -z "${tf_python}" ]] && venv="$(bash scripts/interop_env.sh --existing 2>/dev/null)"; then
  tf_python="${venv}/bin/python"
fi
if [[ -n "${tf_python}" && -x "${tf_python}" ]]; then
  tf_args=(--python "${tf_python}")
  tf_note=""
fi
run_step step_time_vs_tensorflow 90 "${bin}/step_time_vs_tensorflow" --threads "${threads}" \
  --min-seconds 0.5 --json "${tf_args[@]}"
finish_step step_time_vs_tensorflow "$(figures step_time_vs_tensorflow '
rows = d.get("results", [])
parts = []
for r in rows:
    tf = r.get("tensorflow") or {}
    gpu = r.get("ours_gpu") or {}
    parts.append("%s: ours CPU %s, GPU %s, TF CPU %s" % (r.get("config"), ms(r.get("ours", {}).get("median_seconds")),
                 ms(gpu.get("median_seconds")), ms(tf.get("median_seconds")) if tf.get("ok") else "-"))
bad = "" if rows and all(r.get("ours_gpu") for r in rows) else "FAIL: no GPU timing; "
print(bad + "; ".join(parts))')${tf_note:+; ${tf_note}}"

if ((failures == 0)); then
  write_summary "PASS (every step)"
else
  write_summary "FAIL (${failures} step(s) failed)"
fi
echo "gpu_check: summary: ${summary}" >&2
cat "${summary}" >&2
((failures == 0)) || exit 1
exit 0
