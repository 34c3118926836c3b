#pragma once
// Command-line flags of the bench programs: --name=value, --name value, --flag, --no-flag, --help.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "format.h"

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// Flags

/// Registered flags, parsed from `--name=value`, `--name value`, `--flag` and `--no-flag`.
/// Defaults are given at registration so that --help can list them and unknown flags fail.
class Flags {
 public:
  Flags(std::string program, std::string description)
      : program_(std::move(program)), description_(std::move(description)) {}

  void add_bool(std::string name, bool default_value, std::string help) {
    add(std::move(name), Value(default_value), std::move(help), {});
  }
  void add_int(std::string name, int64_t default_value, std::string help,
               int64_t min = std::numeric_limits<int64_t>::min(),
               int64_t max = std::numeric_limits<int64_t>::max()) {
    add(std::move(name), Value(default_value), std::move(help),
        Range{static_cast<double>(min), static_cast<double>(max), min, max});
  }
  void add_double(std::string name, double default_value, std::string help,
                  double min = -std::numeric_limits<double>::infinity(),
                  double max = std::numeric_limits<double>::infinity()) {
    add(std::move(name), Value(default_value), std::move(help), Range{min, max, 0, 0});
  }
  void add_string(std::string name, std::string default_value, std::string help) {
    add(std::move(name), Value(std::move(default_value)), std::move(help), {});
  }
  /// A comma-separated list of integers ("1,2,4,8"); every element must lie in [min, max].
  void add_int_list(std::string name, std::vector<int64_t> default_value, std::string help,
                    int64_t min = std::numeric_limits<int64_t>::min(),
                    int64_t max = std::numeric_limits<int64_t>::max()) {
    add(std::move(name), Value(std::move(default_value)), std::move(help),
        Range{static_cast<double>(min), static_cast<double>(max), min, max});
  }

  /// Parses argv. Returns std::nullopt when the program should go on, else the exit code:
  /// 0 after --help (usage on stdout), 2 after a bad flag (message on stderr).
  std::optional<int> parse(int argc, const char* const* argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    return parse(args);
  }
  std::optional<int> parse(const std::vector<std::string>& args) {
    std::string error;
    const ParseResult result = parse_args(args, &error);
    if (result == ParseResult::kHelp) {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
    if (result == ParseResult::kError) return usage_error(error);
    return std::nullopt;
  }

  /// Prints "program: message" and a pointer to --help on stderr; returns 2 (bad usage).
  int usage_error(const std::string& message) const {
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for the list of flags.\n", program_.c_str(),
                 message.c_str(), program_.c_str());
    return 2;
  }

  bool get_bool(std::string_view name) const { return get<bool>(name); }
  int64_t get_int(std::string_view name) const { return get<int64_t>(name); }
  double get_double(std::string_view name) const { return get<double>(name); }
  const std::string& get_string(std::string_view name) const { return get<std::string>(name); }
  const std::vector<int64_t>& get_int_list(std::string_view name) const {
    return get<std::vector<int64_t>>(name);
  }
  /// True when the command line set the flag (as opposed to its default).
  bool was_set(std::string_view name) const { return find_or_throw(name).set; }

  std::string usage() const {
    std::string text = "usage: " + program_ + " [flags]\n";
    if (!description_.empty()) text += description_ + "\n";
    text += "\nflags:\n";
    std::vector<std::pair<std::string, std::string>> lines;
    for (const Flag& flag : flags_) {
      std::string left = flag_synopsis(flag);
      lines.emplace_back(std::move(left), flag.help + " (default: " + default_text(flag) + ")");
    }
    lines.emplace_back("--help", "print this help and exit");
    size_t width = 0;
    for (const auto& line : lines) width = std::max(width, line.first.size());
    for (const auto& [left, right] : lines) {
      text += "  " + left + std::string(width - left.size() + 2, ' ') + right + "\n";
    }
    return text;
  }

  const std::string& program() const { return program_; }

 private:
  using Value = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>>;
  struct Range {
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    int64_t int_min = std::numeric_limits<int64_t>::min();
    int64_t int_max = std::numeric_limits<int64_t>::max();
  };
  struct Flag {
    std::string name;
    Value value;
    Value default_value;
    std::string help;
    Range range;
    bool set = false;
  };
  enum class ParseResult { kOk, kHelp, kError };

  void add(std::string name, Value value, std::string help, Range range) {
    if (name.empty() || name.starts_with("-") || name.starts_with("no-") || name == "help") {
      throw std::invalid_argument("bad flag name '" + name + "'");
    }
    if (find(name) != nullptr) throw std::invalid_argument("flag --" + name + " registered twice");
    Value default_value = value;
    flags_.push_back(Flag{std::move(name), std::move(value), std::move(default_value),
                          std::move(help), range, false});
  }

  const Flag* find(std::string_view name) const {
    for (const Flag& flag : flags_) {
      if (flag.name == name) return &flag;
    }
    return nullptr;
  }
  Flag* find(std::string_view name) {
    return const_cast<Flag*>(static_cast<const Flags*>(this)->find(name));
  }
  const Flag& find_or_throw(std::string_view name) const {
    const Flag* flag = find(name);
    if (flag == nullptr) throw std::logic_error("flag --" + std::string(name) + " is not registered");
    return *flag;
  }
  template <typename T>
  const T& get(std::string_view name) const {
    const T* typed = std::get_if<T>(&find_or_throw(name).value);
    if (typed == nullptr) throw std::logic_error("flag --" + std::string(name) + " has another type");
    return *typed;
  }

  static std::string flag_synopsis(const Flag& flag) {
    switch (flag.value.index()) {
      case 0: return "--[no-]" + flag.name;
      case 1: return "--" + flag.name + "=INT";
      case 2: return "--" + flag.name + "=NUMBER";
      case 3: return "--" + flag.name + "=STRING";
      default: return "--" + flag.name + "=INT,INT,...";
    }
  }
  static std::string default_text(const Flag& flag) {
    const Value& v = flag.default_value;
    if (const bool* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    if (const int64_t* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (const double* d = std::get_if<double>(&v)) {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%g", *d);
      return buffer;
    }
    if (const std::string* s = std::get_if<std::string>(&v)) return "'" + *s + "'";
    std::string text;
    for (int64_t element : std::get<std::vector<int64_t>>(v)) {
      if (!text.empty()) text += ",";
      text += std::to_string(element);
    }
    return text.empty() ? "empty" : text;
  }

  static bool parse_int(std::string_view text, int64_t* out) {
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    if (text.empty()) return false;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return error == std::errc() && end == text.data() + text.size();
  }
  static bool parse_double(std::string_view text, double* out) {
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    if (text.empty()) return false;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return error == std::errc() && end == text.data() + text.size() && std::isfinite(*out);
  }

  // Converts and range-checks `text` into flag.value; false with *error set on failure.
  static bool assign(Flag& flag, std::string_view text, std::string* error) {
    const std::string where = "--" + flag.name + ": ";
    const std::string got = "got '" + std::string(text) + "'";
    switch (flag.value.index()) {
      case 0: {
        if (text == "true" || text == "1" || text == "yes") {
          flag.value = true;
        } else if (text == "false" || text == "0" || text == "no") {
          flag.value = false;
        } else {
          *error = where + "expected true or false, " + got;
          return false;
        }
        return true;
      }
      case 1: {
        int64_t value = 0;
        if (!parse_int(text, &value)) {
          *error = where + "expected an integer, " + got;
          return false;
        }
        if (value < flag.range.int_min || value > flag.range.int_max) {
          *error = where + std::to_string(value) + " is out of range [" +
                   std::to_string(flag.range.int_min) + ", " + std::to_string(flag.range.int_max) + "]";
          return false;
        }
        flag.value = value;
        return true;
      }
      case 2: {
        double value = 0;
        if (!parse_double(text, &value)) {
          *error = where + "expected a finite number, " + got;
          return false;
        }
        if (value < flag.range.min || value > flag.range.max) {
          char buffer[96];
          std::snprintf(buffer, sizeof buffer, "%g is out of range [%g, %g]", value, flag.range.min,
                        flag.range.max);
          *error = where + buffer;
          return false;
        }
        flag.value = value;
        return true;
      }
      case 3:
        flag.value = std::string(text);
        return true;
      default: {
        std::vector<int64_t> values;
        size_t start = 0;
        while (true) {
          const size_t comma = text.find(',', start);
          const std::string_view item =
              text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
          int64_t value = 0;
          if (!parse_int(item, &value)) {
            *error = where + "expected comma-separated integers like 1,2,4, " + got;
            return false;
          }
          if (value < flag.range.int_min || value > flag.range.int_max) {
            *error = where + "element " + std::to_string(value) + " is out of range [" +
                     std::to_string(flag.range.int_min) + ", " +
                     std::to_string(flag.range.int_max) + "]";
            return false;
          }
          values.push_back(value);
          if (comma == std::string_view::npos) break;
          start = comma + 1;
        }
        flag.value = std::move(values);
        return true;
      }
    }
  }

  ParseResult parse_args(const std::vector<std::string>& args, std::string* error) {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (arg == "--help" || arg == "-h") return ParseResult::kHelp;
      if (!arg.starts_with("--") || arg.size() == 2) {
        *error = "unexpected argument '" + arg + "' (flags look like --name=value)";
        return ParseResult::kError;
      }
      const size_t eq = arg.find('=');
      const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      std::optional<std::string> inline_value;
      if (eq != std::string::npos) inline_value = arg.substr(eq + 1);

      Flag* flag = find(name);
      if (flag == nullptr && name.starts_with("no-")) {
        Flag* negated = find(std::string_view(name).substr(3));
        if (negated != nullptr && std::holds_alternative<bool>(negated->value)) {
          if (inline_value) {
            *error = "--" + name + " takes no value";
            return ParseResult::kError;
          }
          negated->value = false;
          negated->set = true;
          continue;
        }
      }
      if (flag == nullptr) {
        *error = "unknown flag --" + name;
        return ParseResult::kError;
      }
      if (std::holds_alternative<bool>(flag->value) && !inline_value) {
        flag->value = true;  // a bare --flag; bools never take the next argument
        flag->set = true;
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= args.size() || args[i + 1].starts_with("--")) {
          *error = "--" + name + " needs a value";
          return ParseResult::kError;
        }
        inline_value = args[++i];
      }
      if (!assign(*flag, *inline_value, error)) return ParseResult::kError;
      flag->set = true;
    }
    return ParseResult::kOk;
  }

  std::string program_;
  std::string description_;
  std::vector<Flag> flags_;
};

}  // namespace scopeflow::bench
