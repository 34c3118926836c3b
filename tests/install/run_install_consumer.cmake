# CTest driver (cmake -P) for the install_consumer test:
#   1. installs the scopeflow build in SCOPEFLOW_BINARY_DIR into WORK_DIR/prefix,
#   2. configures and builds the consumer project in CONSUMER_SOURCE_DIR against that prefix
#      with the same generator and compilers,
#   3. runs the consumer program, which must exit with 0.
cmake_minimum_required(VERSION 3.25)

foreach(var SCOPEFLOW_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_install_consumer.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT DEFINED CONFIG OR CONFIG STREQUAL "")
  set(CONFIG Release)
endif()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${prefix}" "${consumer_build}")

function(run_step what)
  message(STATUS "install_consumer: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${what} failed (${rc})")
  endif()
endfunction()

run_step("install into ${prefix}"
  "${CMAKE_COMMAND}" --install "${SCOPEFLOW_BINARY_DIR}" --prefix "${prefix}" --config "${CONFIG}")

set(configure_args
  -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build}" -G "${GENERATOR}"
  "-DCMAKE_BUILD_TYPE=${CONFIG}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_PREFIX_PATH=${prefix}")
if(DEFINED MAKE_PROGRAM AND NOT MAKE_PROGRAM STREQUAL "")
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(DEFINED CUDA_COMPILER AND NOT CUDA_COMPILER STREQUAL "")
  # Lets the consumer's find_package(CUDAToolkit) find the toolkit the library was built with.
  get_filename_component(cuda_bin_dir "${CUDA_COMPILER}" DIRECTORY)
  get_filename_component(cuda_root "${cuda_bin_dir}" DIRECTORY)
  list(APPEND configure_args "-DCUDAToolkit_ROOT=${cuda_root}")
endif()
run_step("configure consumer" "${CMAKE_COMMAND}" ${configure_args})
run_step("build consumer" "${CMAKE_COMMAND}" --build "${consumer_build}" --config "${CONFIG}")

find_program(consumer_exe scopeflow_consumer
  PATHS "${consumer_build}" "${consumer_build}/${CONFIG}" NO_DEFAULT_PATH REQUIRED)
run_step("run ${consumer_exe}" "${consumer_exe}")
message(STATUS "install_consumer: passed")
