#!/usr/bin/env bash
# Runs a data-parallel job in which one rank fails and checks that the job ends, non-zero,
# within BOUND seconds, with output matching REGEX (the other rank's clear error).
#
#   run_failure_test.sh BOUND REGEX COMMAND...
set -uo pipefail
bound="$1"
regex="$2"
shift 2
start=$(date +%s)
output="$(timeout --kill-after=5 "${bound}" "$@" 2>&1)"
rc=$?
elapsed=$(( $(date +%s) - start ))
printf '%s\n' "${output}"
echo "run_failure_test: exit status ${rc} after ${elapsed} s"
# 124: timeout stopped it; 137 is also what mpirun returns for a rank killed by SIGKILL, so
# the elapsed time tells a hang from that.
if ((rc == 124 || (rc == 137 && elapsed >= bound))); then
  echo "run_failure_test: FAILED: the job did not end within ${bound} s (a hang)" >&2
  exit 1
fi
if ((rc == 0)); then
  echo "run_failure_test: FAILED: the job exited 0 although a rank failed" >&2
  exit 1
fi
if ! grep -Eq "${regex}" <<<"${output}"; then
  echo "run_failure_test: FAILED: no message matching '${regex}'" >&2
  exit 1
fi
echo "run_failure_test: passed"
