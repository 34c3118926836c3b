# train under mpirun -np 2 against one process on the same global batch: equal losses (within
# 1e-5), rank 0 alone writes the JSON, the TensorBoard events file and the checkpoints, the
# all-reduce moves each variable's one gradient buffer, and a run stopped and resumed under
# mpirun (rank 0 restores, the variables are broadcast) ends bit for bit as the uninterrupted one.
#   TRAIN, MPIRUN (the launcher and its flags, space-separated), WORK_DIR, ARGS (the model's flags),
#   STEPS, STOP
foreach(var TRAIN MPIRUN WORK_DIR ARGS STEPS STOP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_train_data_parallel.cmake: ${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
separate_arguments(args UNIX_COMMAND "${ARGS}")
separate_arguments(MPIRUN UNIX_COMMAND "${MPIRUN}")
set(common ${args} --json --quiet)

# run_train(NAME LAUNCHER... -- FLAGS...): stdout in NAME, stderr in NAME_errors.
function(run_train name)
  cmake_parse_arguments(PARSE_ARGV 1 run "" "" "LAUNCHER;FLAGS")
  execute_process(COMMAND ${run_LAUNCHER} "${TRAIN}" ${common} ${run_FLAGS} WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors TIMEOUT 240)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${name}: ${run_LAUNCHER} train ${common} ${run_FLAGS} failed (${result}):\n${output}\n${errors}")
  endif()
  set(${name} "${output}" PARENT_SCOPE)
  set(${name}_errors "${errors}" PARENT_SCOPE)
endfunction()

function(json_get out document key)
  string(JSON value ERROR_VARIABLE error GET "${document}" ${key})
  if(error)
    message(FATAL_ERROR "no ${key} in the JSON (${error}):\n${document}")
  endif()
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

# |a - b| <= 1e-5 * max(1, |a|), in fixed point (CMake's math() has integers only); plain
# decimals only, which the losses of these runs are.
function(require_close key a b)
  # Scale to integers of 1e-9: the losses here lie in [1e-3, 100].
  foreach(side a b)
    string(REGEX MATCH "^(-?)([0-9]+)\\.?([0-9]*)$" _ "${${side}}")
    if(NOT CMAKE_MATCH_0)
      message(FATAL_ERROR "${key}: ${${side}} is not a plain decimal")
    endif()
    set(sign "${CMAKE_MATCH_1}")
    set(whole "${CMAKE_MATCH_2}")
    set(fraction "${CMAKE_MATCH_3}000000000")
    string(SUBSTRING "${fraction}" 0 9 fraction)
    string(REGEX REPLACE "^0+([0-9])" "\\1" fraction "${fraction}")
    math(EXPR ${side}_scaled "${whole} * 1000000000 + ${fraction}")
    if(sign)
      math(EXPR ${side}_scaled "-${${side}_scaled}")
    endif()
  endforeach()
  math(EXPR difference "${a_scaled} - ${b_scaled}")
  if(difference LESS 0)
    math(EXPR difference "-${difference}")
  endif()
  set(magnitude ${a_scaled})
  if(magnitude LESS 0)
    math(EXPR magnitude "-${magnitude}")
  endif()
  if(magnitude LESS 1000000000)
    set(magnitude 1000000000)
  endif()
  math(EXPR bound "${magnitude} / 100000")
  if(difference GREATER bound)
    message(FATAL_ERROR "${key}: one process ${a}, 2 ranks ${b}: they differ by more than 1e-5")
  endif()
endfunction()

run_train(one LAUNCHER FLAGS --steps=${STEPS} --logdir=one --checkpoint-dir=one_ckpt)
run_train(two LAUNCHER ${MPIRUN} FLAGS --steps=${STEPS} --logdir=two --checkpoint-dir=two_ckpt)

# Rank 0 alone prints: one JSON document, one line.
string(STRIP "${two}" two_stripped)
string(FIND "${two_stripped}" "\n" newline)
if(NOT newline EQUAL -1)
  message(FATAL_ERROR "2 ranks printed more than one line on stdout:\n${two}")
endif()
json_get(world_one "${one}" world_size)
json_get(world_two "${two}" world_size)
json_get(rank_batch "${two}" batch_per_rank)
json_get(global_batch "${two}" batch)
json_get(communicator "${two}" communicator)
math(EXPR expected_rank_batch "${global_batch} / 2")
if(NOT world_one EQUAL 1 OR NOT world_two EQUAL 2 OR NOT rank_batch EQUAL expected_rank_batch
   OR NOT communicator STREQUAL "mpi")
  message(FATAL_ERROR "world_size ${world_one} / ${world_two}, batch_per_rank ${rank_batch} of ${global_batch}, "
                      "communicator ${communicator}")
endif()
foreach(key last_loss initial_loss final_loss test_loss)
  json_get(one_value "${one}" ${key})
  json_get(two_value "${two}" ${key})
  require_close(${key} "${one_value}" "${two_value}")
endforeach()
json_get(one_correct "${one}" test_correct)
json_get(two_correct "${two}" test_correct)
math(EXPR correct_difference "${one_correct} - ${two_correct}")
if(correct_difference GREATER 2 OR correct_difference LESS -2)
  message(FATAL_ERROR "test_correct: one process ${one_correct}, 2 ranks ${two_correct}")
endif()

# One gradient buffer per variable crosses the wire: the all-reduced bytes are the parameter bytes.
json_get(parameter_bytes "${two}" parameter_bytes)
json_get(allreduce_bytes "${two}" allreduce_bytes_per_step)
json_get(allreduce_calls "${two}" allreduce_calls_per_step)
json_get(one_allreduce_bytes "${one}" allreduce_bytes_per_step)
if(NOT allreduce_bytes EQUAL parameter_bytes OR allreduce_calls LESS 1 OR NOT one_allreduce_bytes EQUAL 0)
  message(FATAL_ERROR "all-reduced ${allreduce_bytes} bytes in ${allreduce_calls} calls per step; the model has "
                      "${parameter_bytes} parameter bytes (one process: ${one_allreduce_bytes})")
endif()

# One events file and the checkpoints, from rank 0 only.
file(GLOB events "${WORK_DIR}/two/events.out.tfevents.*")
list(LENGTH events event_files)
file(GLOB checkpoints "${WORK_DIR}/two_ckpt/model.ckpt-*.index")
list(LENGTH checkpoints checkpoint_files)
if(NOT event_files EQUAL 1 OR NOT checkpoint_files EQUAL 1)
  message(FATAL_ERROR "2 ranks wrote ${event_files} events files and ${checkpoint_files} checkpoints (expected 1 each)")
endif()

# Stopped at STOP and resumed under mpirun: rank 0 restores, the others receive the variables and
# optimizer slots; the run ends as the uninterrupted one, bit for bit.
run_train(first LAUNCHER ${MPIRUN} FLAGS --steps=${STOP} --logdir= --checkpoint-dir=parts)
run_train(second LAUNCHER ${MPIRUN} FLAGS --steps=${STEPS} --logdir= --checkpoint-dir=parts --resume)
foreach(key last_loss test_loss test_correct)
  json_get(whole_value "${two}" ${key})
  json_get(second_value "${second}" ${key})
  if(NOT whole_value STREQUAL second_value)
    message(FATAL_ERROR "${key}: ${whole_value} uninterrupted, ${second_value} resumed under mpirun")
  endif()
endforeach()
foreach(f "model.ckpt-${STEPS}.index" "model.ckpt-${STEPS}.data-00000-of-00001")
  file(SHA256 "${WORK_DIR}/two_ckpt/${f}" whole_hash)
  file(SHA256 "${WORK_DIR}/parts/${f}" parts_hash)
  if(NOT whole_hash STREQUAL parts_hash)
    message(FATAL_ERROR "${f}: the run resumed under mpirun ends with another checkpoint than the uninterrupted one")
  endif()
endforeach()

# A global batch the ranks cannot split is refused, on every rank, before any training.
execute_process(COMMAND ${MPIRUN} "${TRAIN}" ${common} --steps=2 --batch=63 --logdir=
  WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors TIMEOUT 120)
if(result EQUAL 0 OR NOT errors MATCHES "train: rank [01]: --batch 63 .the global batch. is not a multiple of the 2 ranks"
   OR NOT output STREQUAL "")
  message(FATAL_ERROR "--batch=63 on 2 ranks: exit status ${result}:\n${output}\n${errors}")
endif()
message(STATUS "2 ranks = 1 process on the global batch; rank 0 alone wrote; resume under mpirun exact")
