# Turns a file into C++ source that holds its bytes, so that the library carries the data and
# needs no file at run time. Run as a script:
#
#   cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DHEADER=<header to include> -DNAMESPACE=<ns>
#         -DSYMBOL=<name> -P embed_file.cmake
#
# Defines `const unsigned char <SYMBOL>[]` and `const std::size_t <SYMBOL>_size` (the file's
# length; the array has one more byte, a terminating 0) in namespace NAMESPACE.
foreach(var INPUT OUTPUT HEADER NAMESPACE SYMBOL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: ${var} is not set")
  endif()
endforeach()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
# Sixteen bytes a line keep the generated file readable and its lines short.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line_pattern)  # CMake's regex has no {16}
string(REGEX REPLACE "(${line_pattern})" "\\1\n" bytes "${bytes}")
get_filename_component(input_name "${INPUT}" NAME)

file(WRITE "${OUTPUT}.tmp" "// Generated from ${input_name} by cmake/embed_file.cmake; do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {

const unsigned char ${SYMBOL}[] = {
${bytes}0x00};
const std::size_t ${SYMBOL}_size = ${size};

}  // namespace ${NAMESPACE}
")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")  # never a half-written source
