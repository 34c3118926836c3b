#pragma once
// Shared by the reference article's examples: command-line handling and the report printout.

#include <cstdio>
#include <cstring>
#include <string>

#include "scopeflow/scopeflow.h"

namespace scopeflow::examples {

/// Prints the memory report as a table, or as JSON with --json.
inline void print_report(const char* title, const Session& session, int argc, char** argv) {
  const MemoryReport report = memory_report(session);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      std::printf("%s\n", report.to_json().c_str());
      return;
    }
  }
  std::printf("== %s ==\n%s\n", title, report.to_table().c_str());
}

}  // namespace scopeflow::examples
