# Runs a program (PROGRAM: train or a bench) with ARGS (a shell-like word list) and checks that it fails: exit status
# EXPECT_RC (default: any non-zero) and stderr matching ERROR_REGEX.
#   CSV_CONTENT: written to WORK_DIR/data.csv first ("~" ends a line) (ARGS may name it as @CSV@).
#   STDOUT_FILE: where stdout goes (e.g. /dev/full); default: captured.
foreach(var PROGRAM WORK_DIR ERROR_REGEX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_expect_failure.cmake: ${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
if(DEFINED CSV_CONTENT)
  string(REPLACE "~" "\n" csv "${CSV_CONTENT}")
  file(WRITE "${WORK_DIR}/data.csv" "${csv}")
endif()
string(REPLACE "@CSV@" "${WORK_DIR}/data.csv" args "${ARGS}")
separate_arguments(args UNIX_COMMAND "${args}")

if(DEFINED STDOUT_FILE)
  execute_process(COMMAND "${PROGRAM}" ${args} WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE result OUTPUT_FILE "${STDOUT_FILE}" ERROR_VARIABLE errors)
  set(output "(sent to ${STDOUT_FILE})")
else()
  execute_process(COMMAND "${PROGRAM}" ${args} WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
endif()

if(DEFINED EXPECT_RC)
  if(NOT result EQUAL EXPECT_RC)
    message(FATAL_ERROR "${PROGRAM} ${args}: exit status ${result}, expected ${EXPECT_RC}\nstdout: ${output}\nstderr: ${errors}")
  endif()
elseif(result EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} ${args}: exit status 0, expected a failure\nstdout: ${output}\nstderr: ${errors}")
endif()
if(NOT errors MATCHES "${ERROR_REGEX}")
  message(FATAL_ERROR "${PROGRAM} ${args}: stderr does not match '${ERROR_REGEX}':\n${errors}")
endif()
message(STATUS "${PROGRAM} ${args}: failed as expected (${result}): ${errors}")
