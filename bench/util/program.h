#pragma once
// A bench program's main: its name for messages, escaping exceptions and a checked stdout.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "cli/command_line.h"

namespace scopeflow::bench {

using cli::program_name;

/// 0 when everything written to stdout reached it; else 1 with "program: ..." on stderr (a full
/// disk or a closed pipe must not pass for a finished report).
inline int check_stdout(const char* argv0) {
  errno = 0;
  if (std::fflush(stdout) == 0 && std::ferror(stdout) == 0) return 0;
  const int error = errno;
  std::fprintf(stderr, "%s: writing the report to standard output failed%s%s\n", program_name(argv0).c_str(),
               error != 0 ? ": " : "", error != 0 ? std::strerror(error) : "");
  return 1;
}

/// A bench's main: run(argc, argv), with an escaping exception printed as "program: what" and
/// exit code 1, and exit code 1 when stdout could not be written.
inline int guarded_main(int (*run)(int, char**), int argc, char** argv) {
  try {
    const int status = run(argc, argv);
    return status != 0 ? status : check_stdout(argv[0]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program_name(argv[0]).c_str(), e.what());
    return 1;
  }
}

}  // namespace scopeflow::bench
