#include "cli/command_line.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/marshalling.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace scopeflow::cli {

namespace {

absl::string_view av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// "--time-steps" for the flag time_steps.
std::string dashed_name(const absl::CommandLineFlag& flag) {
  const absl::string_view name = flag.Name();
  return dashed(std::string_view(name.data(), name.size()));
}

std::string underscored(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

// Flags Abseil defines for itself (none unless its parse or usage libraries are linked).
bool is_own_flag(const absl::CommandLineFlag& flag) {
  const std::string file = flag.Filename();
  return !absl::StartsWith(file, "absl/") && file.find("/absl/") == std::string::npos;
}

enum class Kind { kBool, kInt, kDouble, kString, kIntList, kOther };

Kind kind_of(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<bool>()) return Kind::kBool;
  if (flag.IsOfType<int64_t>() || flag.IsOfType<int32_t>() || flag.IsOfType<uint32_t>() ||
      flag.IsOfType<uint64_t>() || flag.IsOfType<std::optional<int64_t>>()) {
    return Kind::kInt;
  }
  if (flag.IsOfType<double>() || flag.IsOfType<std::optional<double>>()) return Kind::kDouble;
  if (flag.IsOfType<std::string>() || flag.IsOfType<std::optional<std::string>>()) return Kind::kString;
  if (flag.IsOfType<IntList>()) return Kind::kIntList;
  return Kind::kOther;
}

bool is_optional(const absl::CommandLineFlag& flag) {
  return flag.IsOfType<std::optional<int64_t>>() || flag.IsOfType<std::optional<double>>() ||
         flag.IsOfType<std::optional<std::string>>();
}

absl::string_view placeholder(Kind kind) {
  switch (kind) {
    case Kind::kBool: return "";
    case Kind::kInt: return "INT";
    case Kind::kDouble: return "NUMBER";
    case Kind::kString: return "STRING";
    case Kind::kIntList: return "INT,INT,...";
    case Kind::kOther: return "VALUE";
  }
  return "VALUE";
}

absl::string_view expectation(Kind kind) {
  switch (kind) {
    case Kind::kBool: return "true or false";
    case Kind::kInt: return "an integer";
    case Kind::kDouble: return "a finite number";
    case Kind::kString: return "a string";
    case Kind::kIntList: return "comma-separated integers like 1,2,4";
    case Kind::kOther: return "a valid value";
  }
  return "a valid value";
}

// The flag's value as a double, for range checks (std::nullopt for an unset optional flag).
std::optional<double> numeric_value(const absl::CommandLineFlag& flag) {
  if (auto v = flag.TryGet<int64_t>()) return static_cast<double>(*v);
  if (auto v = flag.TryGet<int32_t>()) return static_cast<double>(*v);
  if (auto v = flag.TryGet<uint32_t>()) return static_cast<double>(*v);
  if (auto v = flag.TryGet<uint64_t>()) return static_cast<double>(*v);
  if (auto v = flag.TryGet<double>()) return *v;
  if (auto v = flag.TryGet<std::optional<int64_t>>(); v && v->has_value()) return static_cast<double>(**v);
  if (auto v = flag.TryGet<std::optional<double>>(); v && v->has_value()) return **v;
  return std::nullopt;
}

std::string number_text(double v, Kind kind) {
  if (kind == Kind::kDouble) return absl::StrFormat("%g", v);
  return absl::StrCat(static_cast<int64_t>(v));
}

// Checks the value just parsed into `flag`; returns the message of a bad one, or "".
std::string check_value(const absl::CommandLineFlag& flag, Kind kind, const CommandLineSpec& spec,
                        absl::string_view text) {
  const std::string name = dashed_name(flag);
  const std::optional<double> value = numeric_value(flag);
  if (kind == Kind::kDouble && value && !std::isfinite(*value)) {
    return absl::StrCat(name, ": expected a finite number, got '", text, "'");
  }
  for (const FlagRange& range : spec.ranges) {
    if (av(range.flag) != flag.Name()) continue;
    if (kind == Kind::kIntList) {
      const auto list = flag.TryGet<IntList>();  // absl::optional, kept alive for the loop
      for (int64_t element : list->values) {
        if (element < range.min || element > range.max) {
          return absl::StrCat(name, ": element ", element, " is out of range [", number_text(range.min, Kind::kInt),
                              ", ", number_text(range.max, Kind::kInt), "]");
        }
      }
    } else if (value && (*value < range.min || *value > range.max)) {
      return absl::StrCat(name, ": ", number_text(*value, kind), " is out of range [",
                          number_text(range.min, kind), ", ", number_text(range.max, kind), "]");
    }
  }
  return "";
}

const ImplicitValue* implicit_value(const CommandLineSpec& spec, absl::string_view name) {
  for (const ImplicitValue& implicit : spec.implicit_values) {
    if (av(implicit.flag) == name) return &implicit;
  }
  return nullptr;
}

// Parses argv; returns the message of the first bad argument, or "".
std::string parse_flags(int argc, const char* const* argv, const CommandLineSpec& spec) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with("--") || arg.size() == 2) {
      return absl::StrCat("unexpected argument '", av(arg), "' (flags look like --name=value)");
    }
    const std::string_view body = arg.substr(2);
    const size_t eq = body.find('=');
    const std::string_view name = body.substr(0, eq);
    std::optional<std::string_view> text;
    if (eq != std::string_view::npos) text = body.substr(eq + 1);

    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(underscored(name));
    if (flag != nullptr && !is_own_flag(*flag)) flag = nullptr;
    if (flag == nullptr && (name.starts_with("no-") || name.starts_with("no_"))) {
      absl::CommandLineFlag* negated = absl::FindCommandLineFlag(underscored(name.substr(3)));
      if (negated != nullptr && is_own_flag(*negated) && negated->IsOfType<bool>()) {
        if (text) return absl::StrCat("--", av(name), " takes no value");
        std::string error;
        negated->ParseFrom("false", &error);
        continue;
      }
    }
    if (flag == nullptr) return absl::StrCat("unknown flag --", av(name));
    const Kind kind = kind_of(*flag);
    if (!text) {
      if (kind == Kind::kBool) {
        text = "true";  // a bare --flag; bools never take the next argument
      } else if (const ImplicitValue* implicit = implicit_value(spec, flag->Name())) {
        text = implicit->value;
      } else if (i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) {
        text = argv[++i];
      } else {
        return absl::StrCat(dashed_name(*flag), " needs a value (", dashed_name(*flag), "=",
                            placeholder(kind), ")");
      }
    }
    // Abseil reads "" as unset for std::optional flags; here a flag given is a flag set.
    if (text->empty() && is_optional(*flag)) {
      return absl::StrCat(dashed_name(*flag), " needs a value (", dashed_name(*flag), "=", placeholder(kind), ")");
    }
    std::string error;
    if (!flag->ParseFrom(av(*text), &error)) {
      // Our own flag types say what is wrong after "; "; Abseil's say only that it is.
      const size_t detail = error.find("; ");
      if (detail != std::string::npos) {
        return absl::StrCat(dashed_name(*flag), ": ", error.substr(detail + 2));
      }
      return absl::StrCat(dashed_name(*flag), ": expected ", expectation(kind), ", got '", av(*text), "'");
    }
    if (std::string bad = check_value(*flag, kind, spec, av(*text)); !bad.empty()) return bad;
  }
  return "";
}

std::string synopsis(const absl::CommandLineFlag& flag, const CommandLineSpec& spec) {
  const Kind kind = kind_of(flag);
  if (kind == Kind::kBool) return absl::StrCat("--[no-]", dashed_name(flag).substr(2));
  if (implicit_value(spec, flag.Name()) != nullptr) {
    return absl::StrCat(dashed_name(flag), "[=", placeholder(kind), "]");
  }
  return absl::StrCat(dashed_name(flag), "=", placeholder(kind));
}

std::string default_text(const absl::CommandLineFlag& flag) {
  const std::string value = flag.DefaultValue();
  if (flag.IsOfType<std::string>()) return absl::StrCat("'", value, "'");
  return value.empty() ? "unset" : value;
}

}  // namespace

std::string dashed(std::string_view flag_name) {
  std::string out = absl::StrCat("--", av(flag_name));
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

std::string program_name(const char* argv0) {
  const std::string_view path = argv0 != nullptr ? argv0 : "program";
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

int usage_error(std::string_view program, std::string_view message) {
  std::fprintf(stderr, "%.*s: %.*s\nRun '%.*s --help' for the list of flags.\n", static_cast<int>(program.size()),
               program.data(), static_cast<int>(message.size()), message.data(),
               static_cast<int>(program.size()), program.data());
  return 2;
}

std::string usage(const CommandLineSpec& spec) {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (is_own_flag(*flag)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) { return a->Name() < b->Name(); });
  std::vector<std::pair<std::string, std::string>> lines;
  for (const absl::CommandLineFlag* flag : flags) {
    lines.emplace_back(synopsis(*flag, spec), absl::StrCat(flag->Help(), " (default: ", default_text(*flag), ")"));
  }
  lines.emplace_back("--help", "print this help and exit");
  size_t width = 0;
  for (const auto& line : lines) width = std::max(width, line.first.size());
  std::string text = absl::StrCat("usage: ", spec.program, " [flags]\n");
  if (!spec.description.empty()) absl::StrAppend(&text, spec.description, "\n");
  absl::StrAppend(&text, "\nFlags are --name=VALUE or --name VALUE (hyphens or underscores in names):\n");
  // The help column wraps at kColumns, each line indented to the column's start.
  constexpr size_t kColumns = 100;
  const size_t indent = width + 4;
  for (const auto& [left, right] : lines) {
    absl::StrAppend(&text, "  ", left, std::string(width - left.size() + 2, ' '));
    size_t column = indent;
    bool first = true;
    for (absl::string_view word : absl::StrSplit(right, ' ', absl::SkipEmpty())) {
      if (!first && column + 1 + word.size() > kColumns) {
        absl::StrAppend(&text, "\n", std::string(indent, ' '));
        column = indent;
        first = true;
      }
      absl::StrAppend(&text, first ? "" : " ", word);
      column += (first ? 0 : 1) + word.size();
      first = false;
    }
    text += "\n";
  }
  return text;
}

std::optional<int> parse_command_line(int argc, const char* const* argv, const CommandLineSpec& spec) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg != "--help" && arg != "-h") continue;  // help wins over everything else
    const std::string text = usage(spec);
    errno = 0;
    if (std::fputs(text.c_str(), stdout) >= 0 && std::fflush(stdout) == 0 && std::ferror(stdout) == 0) return 0;
    const int error = errno;
    std::fprintf(stderr, "%s: writing the help to standard output failed%s%s\n", spec.program.c_str(),
                 error != 0 ? ": " : "", error != 0 ? std::strerror(error) : "");
    return 1;
  }
  const std::string error = parse_flags(argc, argv, spec);
  if (!error.empty()) return usage_error(spec.program, error);
  return std::nullopt;
}

bool AbslParseFlag(absl::string_view text, IntList* out, std::string* error) {
  IntList list;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(item, &value)) {
      *error = absl::StrCat("expected comma-separated integers like 1,2,4, got '", text, "'");
      return false;
    }
    list.values.push_back(value);
  }
  *out = std::move(list);
  return true;
}

std::string AbslUnparseFlag(const IntList& list) { return absl::StrJoin(list.values, ","); }

}  // namespace scopeflow::cli
