#pragma once
// Shared helpers of the bench programs: flags, tables, JSON, memory and time measurement, SVG
// charts and BLAS thread control. Header-only so that each bench stays one .cc file.

#include <cblas.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

// Debian's cblas.h is an alternative that may point at another BLAS; the library links
// OpenBLAS, so its thread controls are always there.
#ifndef OPENBLAS_VERSION
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
}
#endif

#include "scopeflow/session.h"

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// Formatting

/// printf-style "%.*f".
inline std::string format_fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

/// 1536 -> "1.5 KiB", 16777216 -> "16 MiB", 100 -> "100 B" (binary units, at most 2 decimals).
inline std::string format_bytes(int64_t bytes) {
  if (bytes < 0) {
    // Negate as unsigned: -INT64_MIN does not fit.
    const uint64_t magnitude = 0 - static_cast<uint64_t>(bytes);
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return "-8 EiB";
    return "-" + format_bytes(static_cast<int64_t>(magnitude));
  }
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return std::to_string(bytes) + " B";
  std::string text = format_fixed(value, 2);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text + " " + kUnits[unit];
}

/// 0.00123 -> "1.23 ms"; picks s, ms, us or ns.
inline std::string format_duration(double seconds) {
  const double magnitude = std::fabs(seconds);
  if (magnitude >= 1.0) return format_fixed(seconds, 3) + " s";
  if (magnitude >= 1e-3) return format_fixed(seconds * 1e3, 3) + " ms";
  if (magnitude >= 1e-6) return format_fixed(seconds * 1e6, 3) + " us";
  return format_fixed(seconds * 1e9, 1) + " ns";
}

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

/// The program name for messages: the last path component of argv[0].
inline std::string program_name(const char* argv0) {
  const std::string_view path = argv0 != nullptr ? argv0 : "bench";
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// ---------------------------------------------------------------------------------------------
// Table

/// Rows of string cells under column headers, printed with aligned columns. Columns whose
/// cells all look numeric are right-aligned.
struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;

  Table() = default;
  explicit Table(std::vector<std::string> column_headers) : headers(std::move(column_headers)) {}

  /// Throws std::invalid_argument when the row has another number of cells than headers.
  void add_row(std::vector<std::string> cells) {
    if (cells.size() != headers.size()) {
      throw std::invalid_argument("Table::add_row: " + std::to_string(cells.size()) +
                                  " cells for " + std::to_string(headers.size()) + " columns");
    }
    rows.push_back(std::move(cells));
  }

  std::string to_string() const {
    const size_t columns = headers.size();
    std::vector<size_t> width(columns, 0);
    std::vector<bool> numeric(columns, !rows.empty());
    for (size_t c = 0; c < columns; ++c) width[c] = display_width(headers[c]);
    for (const auto& row : rows) {
      for (size_t c = 0; c < columns; ++c) {
        width[c] = std::max(width[c], display_width(row[c]));
        if (!row[c].empty() && !looks_numeric(row[c])) numeric[c] = false;
      }
    }
    std::string text;
    auto append_row = [&](const std::vector<std::string>& cells) {
      std::string line;
      for (size_t c = 0; c < columns; ++c) {
        const std::string pad(width[c] - display_width(cells[c]), ' ');
        if (c > 0) line += "  ";
        line += numeric[c] ? pad + cells[c] : cells[c] + pad;
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      text += line + "\n";
    };
    append_row(headers);
    std::vector<std::string> rule(columns);
    for (size_t c = 0; c < columns; ++c) rule[c] = std::string(width[c], '-');
    append_row(rule);
    for (const auto& row : rows) append_row(row);
    return text;
  }

  static size_t display_width(std::string_view s) {
    // UTF-8: count code points, not bytes (continuation bytes are 10xxxxxx).
    size_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80 ? 1 : 0;
    return n;
  }
  static bool looks_numeric(std::string_view s) {
    size_t i = 0;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (i < s.size() && s[i] == '.') ++i;
    return i < s.size() && s[i] >= '0' && s[i] <= '9';
  }
};

// ---------------------------------------------------------------------------------------------
// JSON

/// `s` as a quoted JSON string.
inline std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(ch));
          out += buffer;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

/// Compact JSON in call order: same calls, same bytes. Misuse (a value where a key is due,
/// unbalanced ends) throws std::logic_error.
class JsonWriter {
 public:
  JsonWriter& begin_object() {
    before_value();
    out_ += '{';
    stack_.push_back(Frame{true, true, false});
    return *this;
  }
  JsonWriter& end_object() {
    if (stack_.empty() || !stack_.back().object || stack_.back().key_pending) {
      throw std::logic_error("JsonWriter: end_object without a matching begin_object");
    }
    stack_.pop_back();
    out_ += '}';
    return *this;
  }
  JsonWriter& begin_array() {
    before_value();
    out_ += '[';
    stack_.push_back(Frame{false, true, false});
    return *this;
  }
  JsonWriter& end_array() {
    if (stack_.empty() || stack_.back().object) {
      throw std::logic_error("JsonWriter: end_array without a matching begin_array");
    }
    stack_.pop_back();
    out_ += ']';
    return *this;
  }
  JsonWriter& key(std::string_view name) {
    if (stack_.empty() || !stack_.back().object || stack_.back().key_pending) {
      throw std::logic_error("JsonWriter: key outside an object");
    }
    Frame& frame = stack_.back();
    if (!frame.first) out_ += ',';
    frame.first = false;
    frame.key_pending = true;
    out_ += json_quote(name);
    out_ += ':';
    return *this;
  }
  JsonWriter& value(std::string_view s) {
    before_value();
    out_ += json_quote(s);
    return *this;
  }
  // Without this overload a string literal would pick value(bool).
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) {
    before_value();
    out_ += b ? "true" : "false";
    return *this;
  }
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
  JsonWriter& value(T v) {
    before_value();
    out_ += std::to_string(v);
    return *this;
  }
  /// Shortest round-trip form; NaN and infinities (not JSON) become null.
  JsonWriter& value(double v) {
    before_value();
    if (!std::isfinite(v)) {
      out_ += "null";
      return *this;
    }
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
    out_.append(buffer, result.ptr);
    return *this;
  }
  JsonWriter& null() {
    before_value();
    out_ += "null";
    return *this;
  }
  /// key(name) then value(v).
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  /// True when every begun object and array has ended and something was written.
  bool complete() const { return stack_.empty() && !out_.empty(); }
  /// The document; throws std::logic_error while objects or arrays are still open.
  const std::string& str() const {
    if (!complete()) throw std::logic_error("JsonWriter: document is not complete");
    return out_;
  }

 private:
  struct Frame {
    bool object;
    bool first;
    bool key_pending;
  };
  void before_value() {
    if (stack_.empty()) {
      if (!out_.empty()) throw std::logic_error("JsonWriter: more than one top-level value");
      return;
    }
    Frame& frame = stack_.back();
    if (frame.object) {
      if (!frame.key_pending) throw std::logic_error("JsonWriter: value in an object needs a key");
      frame.key_pending = false;
      return;
    }
    if (!frame.first) out_ += ',';
    frame.first = false;
  }

  std::string out_;
  std::vector<Frame> stack_;
};

// ---------------------------------------------------------------------------------------------
// Memory

namespace detail {
// A "Name:   1234 kB" line of /proc/self/status in bytes, or -1.
inline int64_t proc_status_kib_field(std::string_view field) {
  std::ifstream status("/proc/self/status");
  if (!status) return -1;
  std::string line;
  while (std::getline(status, line)) {
    if (line.size() <= field.size() || !line.starts_with(field) || line[field.size()] != ':') continue;
    const char* begin = line.c_str() + field.size() + 1;
    while (*begin == ' ' || *begin == '\t') ++begin;
    int64_t kib = 0;
    const auto [end, error] = std::from_chars(begin, line.c_str() + line.size(), kib);
    if (error != std::errc() || end == begin) return -1;
    return kib * 1024;
  }
  return -1;
}
}  // namespace detail

/// Peak resident set size of this process (VmHWM), or -1 where /proc is not available.
inline int64_t peak_rss_bytes() { return detail::proc_status_kib_field("VmHWM"); }
/// Current resident set size (VmRSS), or -1 where /proc is not available.
inline int64_t current_rss_bytes() { return detail::proc_status_kib_field("VmRSS"); }

// ---------------------------------------------------------------------------------------------
// Timing

/// Wall-clock stopwatch on the steady clock.
struct Timer {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();

  void reset() { start = Clock::now(); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start).count(); }
};

struct TimingResult {
  double median_seconds = 0;  // per iteration
  double mean_seconds = 0;    // per iteration
  double min_seconds = 0;     // fastest iteration
  double total_seconds = 0;   // sum over the timed iterations
  int64_t iterations = 0;
};

/// Calls f() `warmup` times untimed, then times single calls until at least `min_iters` ran and
/// `min_seconds` passed (stopping at `max_iters`, which bounds memory for very fast calls).
/// The median is the headline number: it ignores the odd preempted iteration.
template <class F>
TimingResult time_it(F f, int warmup, int min_iters, double min_seconds,
                     int64_t max_iters = 1'000'000) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> samples;
  double total = 0;
  while (static_cast<int64_t>(samples.size()) < std::max<int64_t>(min_iters, 1) ||
         (total < min_seconds && static_cast<int64_t>(samples.size()) < max_iters)) {
    const Timer timer;
    f();
    const double elapsed = timer.seconds();
    samples.push_back(elapsed);
    total += elapsed;
  }
  TimingResult result;
  result.iterations = static_cast<int64_t>(samples.size());
  result.total_seconds = total;
  result.mean_seconds = total / static_cast<double>(samples.size());
  result.min_seconds = *std::min_element(samples.begin(), samples.end());
  const size_t middle = samples.size() / 2;
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(middle), samples.end());
  double median = samples[middle];
  if (samples.size() % 2 == 0) {
    const double lower = *std::max_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(middle));
    median = (median + lower) / 2;
  }
  result.median_seconds = median;
  return result;
}

// ---------------------------------------------------------------------------------------------
// BLAS threads

/// Sets OpenBLAS's thread count; our CPU kernels call the same OpenBLAS, so this governs both
/// sides of a comparison. Use the same n as TensorFlow's intra_op_parallelism_threads.
inline void set_blas_threads(int n) { openblas_set_num_threads(n); }

/// `text` cut at every `separator` (empty pieces kept).
inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

/// A bench's main: run(argc, argv), with an escaping exception printed as "program: what" and
/// exit code 1.
inline int guarded_main(int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program_name(argv[0]).c_str(), e.what());
    return 1;
  }
}

/// The --cpu-gemm flag: "default", "onednn" or "openblas"; nullopt for anything else.
inline std::optional<CpuGemm> cpu_gemm_from_flag(std::string_view value) {
  if (value == "default") return CpuGemm::kDefault;
  if (value == "onednn") return CpuGemm::kOneDnn;
  if (value == "openblas") return CpuGemm::kOpenBlas;
  return std::nullopt;
}

/// The library a session with `gemm` uses for its CPU GEMM, as reports name it.
inline const char* cpu_gemm_name(CpuGemm gemm) {
  if (gemm == CpuGemm::kOpenBlas || (gemm == CpuGemm::kDefault && !cpu_gemm_onednn_built())) return "openblas";
  return "onednn";
}
/// The thread count OpenBLAS will use (it caps requests at its build-time maximum).
inline int blas_threads() { return openblas_get_num_threads(); }
/// OpenBLAS's build description ("OpenBLAS 0.3.21 DYNAMIC_ARCH ... MAX_THREADS=64"), for reports.
inline std::string blas_config() {
  const char* config = openblas_get_config();
  return config != nullptr ? config : "";
}

// ---------------------------------------------------------------------------------------------
// Files

/// Writes `contents` to `path` (replacing it). On failure returns false and sets *error.
inline bool write_file(const std::string& path, std::string_view contents, std::string* error) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    if (error != nullptr) *error = path + ": " + std::strerror(errno);
    return false;
  }
  const size_t written = std::fwrite(contents.data(), 1, contents.size(), file);
  const int write_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (written != contents.size() || !closed) {
    if (error != nullptr) {
      *error = path + ": " + std::strerror(written != contents.size() ? write_errno : errno);
    }
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// SVG line chart

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

struct ChartSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log2_x = false;     // x axis in powers of two (depth, batch size, threads)
  bool log10_y = false;    // y axis logarithmic
  bool y_is_bytes = false;  // y tick labels as B/KiB/MiB/GiB
  int width = 760;
  int height = 460;
  std::vector<ChartSeries> series;
};

namespace detail {

inline std::string xml_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += ch;
    }
  }
  return out;
}

// SVG coordinates with fixed precision keep the output deterministic and small.
inline std::string coord(double v) { return format_fixed(v, 2); }

// 1, 2 or 5 times a power of ten, at least `raw`.
inline double nice_step(double raw) {
  if (!(raw > 0)) return 1;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (factor * power >= raw * (1 - 1e-9)) return factor * power;
  }
  return 10 * power;
}

inline std::string number_label(double v, double step) {
  if (v == 0) return "0";
  const double magnitude = std::fabs(v);
  if (magnitude >= 1e6 || magnitude < 1e-3) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", v);
    return buffer;
  }
  const int decimals = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return format_fixed(v, decimals);
}

struct Tick {
  double position;  // in axis space (after log transform)
  std::string label;
};

struct Axis {
  double lo = 0;  // axis space
  double hi = 1;
  std::vector<Tick> ticks;
};

// Linear axis over data [lo, hi] with about five nice steps; `bytes` steps in binary units.
inline Axis linear_axis(double lo, double hi, bool include_zero, bool bytes) {
  if (include_zero) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  if (hi - lo <= 0) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.5;
    lo -= pad;
    hi += pad;
  }
  double unit = 1;
  if (bytes) {
    const double largest = std::max(std::fabs(lo), std::fabs(hi));
    while (unit * 1024 <= largest && unit < std::pow(1024.0, 4)) unit *= 1024;
  }
  const double step = nice_step((hi - lo) / unit / 5) * unit;
  Axis axis;
  axis.lo = std::floor(lo / step + 1e-9) * step;
  axis.hi = std::ceil(hi / step - 1e-9) * step;
  const int count = static_cast<int>(std::llround((axis.hi - axis.lo) / step));
  for (int i = 0; i <= count; ++i) {
    double v = axis.lo + step * i;
    if (std::fabs(v) < step * 1e-9) v = 0;
    axis.ticks.push_back(Tick{v, bytes ? format_bytes(static_cast<int64_t>(std::llround(v)))
                                       : number_label(v, step)});
  }
  return axis;
}

// Axis over powers of `base` (2 or 10) for positive data [lo, hi]; positions are log10 values
// so that both bases share one transform. At most about `max_ticks` labelled ticks.
inline Axis log_axis(double lo, double hi, double base, bool bytes, int max_ticks) {
  const double log_base = std::log10(base);
  int first = static_cast<int>(std::floor(std::log10(lo) / log_base + 1e-9));
  int last = static_cast<int>(std::ceil(std::log10(hi) / log_base - 1e-9));
  if (last <= first) {
    --first;
    ++last;
  }
  const int stride = std::max(1, (last - first + max_ticks - 1) / max_ticks);
  // Start on a multiple of the stride so that labels are regular (1K, 1M, 1G...).
  while (((first % stride) + stride) % stride != 0) --first;
  while (((last - first) % stride) != 0) ++last;
  Axis axis;
  axis.lo = first * log_base;
  axis.hi = last * log_base;
  auto label = [&](double v) -> std::string {
    if (bytes) return format_bytes(static_cast<int64_t>(std::llround(v)));
    if (v >= 1 && v < 1e6) return format_fixed(v, 0);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
  };
  for (int e = first; e <= last; e += stride) {
    axis.ticks.push_back(Tick{e * log_base, label(std::pow(base, e))});
  }
  // Few decades: add 2x and 5x ticks so that the axis is readable.
  if (base == 10 && !bytes && last - first <= 2) {
    for (int e = first; e < last; ++e) {
      for (double factor : {2.0, 5.0}) {
        const double v = factor * std::pow(10.0, e);
        axis.ticks.push_back(Tick{std::log10(v), label(v)});
      }
    }
    std::sort(axis.ticks.begin(), axis.ticks.end(),
              [](const Tick& a, const Tick& b) { return a.position < b.position; });
  }
  return axis;
}

}  // namespace detail

/// A self-contained SVG line chart: one coloured polyline with point markers per series and a
/// legend on the right. On log axes points with x <= 0 (log2 x) or y <= 0 (log10 y) are skipped,
/// as are non-finite points.
inline std::string svg_line_chart(const ChartSpec& spec) {
  static constexpr const char* kColors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                            "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  constexpr int kNumColors = 10;
  using detail::coord;
  using detail::xml_escape;

  // Points in axis space, per series, sorted by x.
  std::vector<std::vector<std::pair<double, double>>> transformed;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  for (const ChartSeries& s : spec.series) {
    std::vector<std::pair<double, double>> points;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      if ((spec.log2_x && x <= 0) || (spec.log10_y && y <= 0)) continue;
      points.emplace_back(x, y);
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
    std::stable_sort(points.begin(), points.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    transformed.push_back(std::move(points));
  }
  const bool has_data = x_min <= x_max;
  if (!has_data) {
    x_min = spec.log2_x ? 1 : 0;
    x_max = spec.log2_x ? 2 : 1;
    y_min = spec.log10_y ? 1 : 0;
    y_max = spec.log10_y ? 10 : 1;
  }
  const detail::Axis x_axis = spec.log2_x ? detail::log_axis(x_min, x_max, 2, false, 12)
                                          : detail::linear_axis(x_min, x_max, false, false);
  const detail::Axis y_axis =
      spec.log10_y ? detail::log_axis(y_min, y_max, spec.y_is_bytes ? 2 : 10, spec.y_is_bytes, 8)
                   : detail::linear_axis(y_min, y_max, true, spec.y_is_bytes);
  auto x_space = [&](double x) { return spec.log2_x ? std::log10(x) : x; };
  auto y_space = [&](double y) { return spec.log10_y ? std::log10(y) : y; };

  // Layout: the legend's width follows its longest name (about 7 px per character at 12 px).
  size_t longest = 0;
  for (const ChartSeries& s : spec.series) longest = std::max(longest, Table::display_width(s.name));
  const double width = std::max(spec.width, 320);
  const double height = std::max(spec.height, 240);
  const double legend_width = spec.series.empty() ? 20 : 50 + 7.0 * static_cast<double>(longest);
  const double left = 84, top = spec.title.empty() ? 24 : 48, bottom = 62;
  const double right = legend_width + 16;
  const double plot_x0 = left, plot_x1 = std::max(left + 100, width - right);
  const double plot_y0 = top, plot_y1 = height - bottom;
  auto px = [&](double ax) { return plot_x0 + (ax - x_axis.lo) / (x_axis.hi - x_axis.lo) * (plot_x1 - plot_x0); };
  auto py = [&](double ay) { return plot_y1 - (ay - y_axis.lo) / (y_axis.hi - y_axis.lo) * (plot_y1 - plot_y0); };

  std::string svg;
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + coord(width) + "\" height=\"" +
         coord(height) + "\" viewBox=\"0 0 " + coord(width) + " " + coord(height) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + coord(width) + "\" height=\"" + coord(height) +
         "\" fill=\"white\"/>\n";
  if (!spec.title.empty()) {
    svg += "<text x=\"" + coord((plot_x0 + plot_x1) / 2) + "\" y=\"28\" text-anchor=\"middle\" " +
           "font-size=\"16\" font-weight=\"bold\">" + xml_escape(spec.title) + "</text>\n";
  }
  // Grid and ticks.
  for (const detail::Tick& tick : x_axis.ticks) {
    const double x = px(tick.position);
    svg += "<line x1=\"" + coord(x) + "\" y1=\"" + coord(plot_y0) + "\" x2=\"" + coord(x) +
           "\" y2=\"" + coord(plot_y1) + "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + coord(x) + "\" y=\"" + coord(plot_y1 + 18) +
           "\" text-anchor=\"middle\">" + xml_escape(tick.label) + "</text>\n";
  }
  for (const detail::Tick& tick : y_axis.ticks) {
    const double y = py(tick.position);
    svg += "<line x1=\"" + coord(plot_x0) + "\" y1=\"" + coord(y) + "\" x2=\"" + coord(plot_x1) +
           "\" y2=\"" + coord(y) + "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + coord(plot_x0 - 6) + "\" y=\"" + coord(y + 4) +
           "\" text-anchor=\"end\">" + xml_escape(tick.label) + "</text>\n";
  }
  svg += "<rect x=\"" + coord(plot_x0) + "\" y=\"" + coord(plot_y0) + "\" width=\"" +
         coord(plot_x1 - plot_x0) + "\" height=\"" + coord(plot_y1 - plot_y0) +
         "\" fill=\"none\" stroke=\"black\"/>\n";
  // Axis labels.
  if (!spec.x_label.empty()) {
    svg += "<text x=\"" + coord((plot_x0 + plot_x1) / 2) + "\" y=\"" + coord(height - 16) +
           "\" text-anchor=\"middle\">" + xml_escape(spec.x_label) + "</text>\n";
  }
  if (!spec.y_label.empty()) {
    const double cx = 16, cy = (plot_y0 + plot_y1) / 2;
    svg += "<text x=\"" + coord(cx) + "\" y=\"" + coord(cy) + "\" text-anchor=\"middle\" " +
           "transform=\"rotate(-90 " + coord(cx) + " " + coord(cy) + ")\">" +
           xml_escape(spec.y_label) + "</text>\n";
  }
  if (!has_data) {
    svg += "<text x=\"" + coord((plot_x0 + plot_x1) / 2) + "\" y=\"" +
           coord((plot_y0 + plot_y1) / 2) + "\" text-anchor=\"middle\" fill=\"#808080\">no data</text>\n";
  }
  // Series: colours cycle; past the palette the line is dashed so that series stay distinct.
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const std::string color = kColors[i % kNumColors];
    const std::string dash = (i / kNumColors) % 2 == 1 ? " stroke-dasharray=\"6 4\"" : "";
    const auto& points = transformed[i];
    if (points.size() >= 2) {
      svg += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"" + dash + " points=\"";
      for (size_t p = 0; p < points.size(); ++p) {
        if (p > 0) svg += ' ';
        svg += coord(px(x_space(points[p].first))) + "," + coord(py(y_space(points[p].second)));
      }
      svg += "\"/>\n";
    }
    for (const auto& [x, y] : points) {
      svg += "<circle cx=\"" + coord(px(x_space(x))) + "\" cy=\"" + coord(py(y_space(y))) +
             "\" r=\"3\" fill=\"" + color + "\"/>\n";
    }
    const double ly = plot_y0 + 12 + 20.0 * static_cast<double>(i);
    const double lx = plot_x1 + 16;
    svg += "<line x1=\"" + coord(lx) + "\" y1=\"" + coord(ly) + "\" x2=\"" + coord(lx + 24) +
           "\" y2=\"" + coord(ly) + "\" stroke=\"" + color + "\" stroke-width=\"2\"" + dash + "/>\n";
    svg += "<circle cx=\"" + coord(lx + 12) + "\" cy=\"" + coord(ly) + "\" r=\"3\" fill=\"" + color + "\"/>\n";
    svg += "<text x=\"" + coord(lx + 30) + "\" y=\"" + coord(ly + 4) + "\">" +
           xml_escape(spec.series[i].name) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}


// ---------------------------------------------------------------------------------------------
// Reading JSON lines of helper scripts (tf_time_graph.py)

/// A scalar JSON value: null, true/false, a number or a string.
using JsonScalar = std::variant<std::nullptr_t, bool, double, std::string>;

/// The scalar members of one JSON object, by key.
struct JsonFlatObject {
  std::vector<std::pair<std::string, JsonScalar>> members;

  const JsonScalar* find(std::string_view key) const {
    for (const auto& [name, value] : members) {
      if (name == key) return &value;
    }
    return nullptr;
  }
  /// The member as T (bool, double or std::string), or std::nullopt when absent or of another type.
  template <typename T>
  std::optional<T> get(std::string_view key) const {
    const JsonScalar* value = find(key);
    if (value == nullptr) return std::nullopt;
    const T* typed = std::get_if<T>(value);
    if (typed == nullptr) return std::nullopt;
    return *typed;
  }
};

namespace detail {

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : text_(text) {}

  bool parse_object(JsonFlatObject* out, std::string* error) {
    skip_space();
    if (!expect('{')) return fail("expected '{'", error);
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return finish(error);
    }
    while (true) {
      skip_space();
      std::string key;
      if (peek() != '"' || !parse_string(&key)) return fail("expected a string key", error);
      skip_space();
      if (!expect(':')) return fail("expected ':' after key \"" + key + "\"", error);
      skip_space();
      JsonScalar value;
      bool scalar = false;
      if (!parse_value(&value, &scalar, 0)) return fail("bad value for key \"" + key + "\"", error);
      // Nested objects and arrays are checked for syntax and left out.
      if (scalar) out->members.emplace_back(std::move(key), std::move(value));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return finish(error);
      }
      return fail("expected ',' or '}'", error);
    }
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool expect(char ch) {
    if (peek() != ch) return false;
    ++pos_;
    return true;
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool finish(std::string* error) {
    skip_space();
    if (pos_ != text_.size()) return fail("trailing characters after the object", error);
    return true;
  }
  bool fail(const std::string& message, std::string* error) const {
    if (error != nullptr) *error = "JSON: " + message + " at offset " + std::to_string(pos_);
    return false;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  static void append_utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool parse_hex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return false;
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char ch = text_[pos_++];
      value <<= 4;
      if (ch >= '0' && ch <= '9') value |= static_cast<uint32_t>(ch - '0');
      else if (ch >= 'a' && ch <= 'f') value |= static_cast<uint32_t>(ch - 'a' + 10);
      else if (ch >= 'A' && ch <= 'F') value |= static_cast<uint32_t>(ch - 'A' + 10);
      else return false;
    }
    *out = value;
    return true;
  }
  bool parse_string(std::string* out) {
    if (!expect('"')) return false;
    while (pos_ < text_.size()) {
      const char ch = text_[pos_++];
      if (ch == '"') return true;
      if (static_cast<unsigned char>(ch) < 0x20) return false;
      if (ch != '\\') {
        *out += ch;
        continue;
      }
      if (pos_ >= text_.size()) return false;
      const char esc = text_[pos_++];
      switch (esc) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case '/': *out += '/'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!parse_hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            const size_t save = pos_;
            pos_ += 2;
            uint32_t low = 0;
            if (parse_hex4(&low) && low >= 0xDC00 && low < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;
            }
          }
          append_utf8(cp, out);
          break;
        }
        default: return false;
      }
    }
    return false;
  }
  bool parse_number(double* out) {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    while (pos_ < text_.size() && std::strchr("0123456789.eE+-", text_[pos_]) != nullptr) ++pos_;
    const std::string_view number = text_.substr(start, pos_ - start);
    if (number.empty()) return false;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), *out);
    return ec == std::errc() && end == number.data() + number.size();
  }
  bool parse_value(JsonScalar* out, bool* scalar, int depth) {
    if (depth > 64) return false;
    *scalar = true;
    const char ch = peek();
    if (ch == '"') {
      std::string s;
      if (!parse_string(&s)) return false;
      *out = std::move(s);
      return true;
    }
    if (ch == 't' || ch == 'f') {
      const bool value = ch == 't';
      if (!literal(value ? "true" : "false")) return false;
      *out = value;
      return true;
    }
    if (ch == 'n') {
      if (!literal("null")) return false;
      *out = nullptr;
      return true;
    }
    if (ch == '{' || ch == '[') {
      *scalar = false;
      const char close = ch == '{' ? '}' : ']';
      ++pos_;
      skip_space();
      if (peek() == close) {
        ++pos_;
        return true;
      }
      while (true) {
        skip_space();
        if (ch == '{') {
          std::string key;
          if (!parse_string(&key)) return false;
          skip_space();
          if (!expect(':')) return false;
          skip_space();
        }
        JsonScalar ignored;
        bool ignored_scalar = false;
        if (!parse_value(&ignored, &ignored_scalar, depth + 1)) return false;
        skip_space();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        return expect(close);
      }
    }
    double number = 0;
    if (!parse_number(&number)) return false;
    *out = number;
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace detail

/// Parses one JSON object and keeps its scalar members (nested objects and arrays are
/// validated and left out). On failure returns false and sets *error.
inline bool parse_json_object(std::string_view text, JsonFlatObject* out, std::string* error) {
  *out = JsonFlatObject{};
  return detail::JsonReader(text).parse_object(out, error);
}

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
