# Copies the train program (TRAIN) into WORK_DIR/bin and runs it from WORK_DIR, which holds no
# data, with SCOPEFLOW_DATA_DIR naming a folder that does not exist: an installed or moved
# binary must still train on the digits embedded in the library.
foreach(var TRAIN WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_moved_train.cmake: ${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/bin")
file(COPY "${TRAIN}" DESTINATION "${WORK_DIR}/bin")
get_filename_component(train_name "${TRAIN}" NAME)
set(ENV{SCOPEFLOW_DATA_DIR} "${WORK_DIR}/no-data-here")

execute_process(
  COMMAND "${WORK_DIR}/bin/${train_name}" --model=mlp --steps=200 --eval-every=0
          --summary-every=0 --trace-every=0 --json --quiet
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the moved train program failed (${result}):\n${output}\n${errors}")
endif()
if(NOT output MATCHES "\"data\":\"digits \\(embedded\\)\"")
  message(FATAL_ERROR "the moved train program did not train on the embedded digits:\n${output}")
endif()
if(NOT output MATCHES "\"test_accuracy\":")
  message(FATAL_ERROR "the moved train program printed no test accuracy:\n${output}")
endif()
message(STATUS "the moved train program trained on the embedded digits")
