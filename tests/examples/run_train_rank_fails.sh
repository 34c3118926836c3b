#!/usr/bin/env bash
# Launched by mpirun in place of train: rank 1 runs train and, AFTER seconds in, kills it
# (SIGKILL) or stops it (SIGSTOP); every other rank runs train as it is. This wrapper then stays
# alive for HOLD seconds, so that mpirun does not end the job for a process that exited: rank 0
# alone must notice the dead or stalled peer, and end the job with a clear error.
#   run_train_rank_fails.sh kill|stall AFTER HOLD TRAIN ARGS...
set -uo pipefail
mode="$1"
after="$2"
hold="$3"
shift 3
rank="${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-0}}"
if [[ "${rank}" != 1 ]]; then
  exec "$@"
fi
"$@" &
pid=$!
# Whatever ends this wrapper (the job's abort included) ends the train it started.
trap 'kill -KILL "${pid}" 2>/dev/null; exit 1' TERM INT
trap 'kill -KILL "${pid}" 2>/dev/null' EXIT
sleep "${after}"
if ! kill -0 "${pid}" 2>/dev/null; then
  echo "run_train_rank_fails: rank 1's train ended before ${after} s" >&2
  exit 1
fi
case "${mode}" in
  kill) kill -KILL "${pid}" ;;
  stall) kill -STOP "${pid}" ;;
  *) echo "run_train_rank_fails: the mode must be kill or stall, got '${mode}'" >&2; exit 2 ;;
esac
echo "run_train_rank_fails: rank 1's train ${mode}ed after ${after} s" >&2
# Sleep in the background and wait for it, so that a TERM from the job's abort runs the trap now.
sleep "${hold}" &
wait $!
exit 1
