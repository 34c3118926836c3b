#pragma once
// Running a helper command (the peer framework's timing script) and capturing its stdout.

#include <sys/wait.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// Subprocesses

/// `s` quoted for a POSIX shell: 'it'\''s'.
inline std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += "'\\''";
    else out += ch;
  }
  return out + "'";
}

struct CommandResult {
  bool started = false;   // false when the shell could not be run (see error)
  int exit_code = -1;     // the command's exit status; 128 + N when killed by signal N
  std::string output;     // everything it wrote on stdout
  std::string error;      // why it could not be run
};

/// Runs `command` with /bin/sh, capturing stdout (stderr goes wherever the command sends it).
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  std::fflush(nullptr);  // no buffered output of ours duplicated into the child
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    result.error = std::string("popen: ") + std::strerror(errno);
    return result;
  }
  result.started = true;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status == -1) {
    result.error = std::string("pclose: ") + std::strerror(errno);
    return result;
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace scopeflow::bench
