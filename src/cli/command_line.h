#pragma once
// The command line of the programs around the library (train, the benches): flags are defined
// with ABSL_FLAG (underscore names, typed, with defaults and help) and parsed here through
// Abseil's flag registry, with the conventions our users and tests rely on:
//
//   --name=value  --name value  --flag  --no-flag  (hyphens or underscores in the name)
//   --help, -h    usage on stdout (every flag of the program, with its type, default and help),
//                 exit 0; exit 1 when stdout cannot be written
//   bad usage     unknown flag, bad or out-of-range value, an empty value for a std::optional
//                 flag (Abseil's "unset"): "program: message" on stderr, exit 2
//
// absl::ParseCommandLine is not used: this Abseil knows only underscore names and exits 1 on a
// bad value and on --help.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace scopeflow::cli {

/// Bounds of an integer or floating flag (std::optional flags are checked when set); for an
/// IntList flag they bound every element. Out of range: "--name: V is out of range [min, max]".
struct FlagRange {
  std::string_view flag;  // underscore name, as in ABSL_FLAG
  double min;
  double max;
};

/// A flag that may be given without a value, as if given `value` ("--check-numerics" = 1).
struct ImplicitValue {
  std::string_view flag;
  std::string_view value;
};

/// What a program's command line is.
struct CommandLineSpec {
  std::string program;      // for messages: "train"
  std::string description;  // printed under the usage line
  std::vector<FlagRange> ranges{};
  std::vector<ImplicitValue> implicit_values{};
};

/// Parses argv into the program's ABSL_FLAG values. std::nullopt: go on; otherwise the exit
/// code to return (0 after --help, 1 when the help could not be written, 2 for bad usage).
std::optional<int> parse_command_line(int argc, const char* const* argv, const CommandLineSpec& spec);

/// The --help text: every flag defined outside Abseil itself, sorted, in the hyphenated form.
std::string usage(const CommandLineSpec& spec);

/// Prints "program: message" and a pointer to --help on stderr; returns 2 (bad usage).
int usage_error(std::string_view program, std::string_view message);

/// "--time-steps" for "time_steps": how users spell a flag.
std::string dashed(std::string_view flag_name);

/// The program name for messages: the last path component of argv[0].
std::string program_name(const char* argv0);

/// A comma-separated list of integers ("1,2,4,8") as a flag type.
struct IntList {
  std::vector<int64_t> values;
};
bool AbslParseFlag(absl::string_view text, IntList* out, std::string* error);
std::string AbslUnparseFlag(const IntList& list);

}  // namespace scopeflow::cli
