#include "scopeflow/data.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <new>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "data/embedded_data.h"
#include "scopeflow/error.h"

// Where the build found the repository's data/ directory; the build defines it.
#ifndef SCOPEFLOW_SOURCE_DATA_DIR
#define SCOPEFLOW_SOURCE_DATA_DIR "data"
#endif

namespace scopeflow::data {

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
// Cells quoted in messages are cut to this many bytes.
constexpr size_t kMaxQuotedCell = 40;
// Header names listed in the message for a missing label column.
constexpr size_t kMaxListedColumns = 12;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// The cell as it appears in a message: in single quotes, non-printable bytes escaped, cut.
std::string quote_cell(std::string_view cell) {
  const bool cut = cell.size() > kMaxQuotedCell;
  if (cut) cell = cell.substr(0, kMaxQuotedCell);
  return absl::StrCat("'", escape_for_message(cell), cut ? "...'" : "'");
}

std::string describe_delimiter(char c) {
  return quote_cell(std::string_view(&c, 1));
}

// Splits `line` into `cells` (reused from row to row).
void split_cells_into(std::string_view line, char delimiter, std::vector<std::string_view>& cells) {
  cells.clear();
  size_t start = 0;
  while (true) {
    const size_t end = line.find(delimiter, start);
    if (end == std::string_view::npos) {
      cells.push_back(trim(line.substr(start)));
      return;
    }
    cells.push_back(trim(line.substr(start, end - start)));
    start = end + 1;
  }
}

std::vector<std::string_view> split_cells(std::string_view line, char delimiter) {
  std::vector<std::string_view> cells;
  split_cells_into(line, delimiter, cells);
  return cells;
}

struct Line {
  int64_t number = 0;  // 1-based
  std::string_view text{};
};

// Reads the lines of `text` one at a time, without their "\n", "\r\n" or "\r" (old Mac
// files end lines with a lone "\r"): nothing is kept per line, so memory stays that of the
// data, however many lines there are.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool next(Line& line) {
    if (start_ >= text_.size()) return false;
    size_t end = text_.find_first_of("\r\n", start_);
    if (end == std::string_view::npos) end = text_.size();
    line = {++number_, text_.substr(start_, end - start_)};
    start_ = end + 1;
    if (end < text_.size() && text_[end] == '\r' && start_ < text_.size() && text_[start_] == '\n') ++start_;
    return true;
  }

 private:
  std::string_view text_;
  size_t start_ = 0;
  int64_t number_ = 0;
};

// Parses CSV text; `where` is the function named in error messages.
class CsvParser {
 public:
  CsvParser(std::string_view where, std::string_view source, const CsvOptions& options)
      : where_(where), source_(escape_for_message(source)), options_(options) {}

  Dataset parse(std::string_view text) {
    check_delimiter();
    if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
    LineReader reader(text);
    Line first;
    // Leading blank lines make an empty input when nothing follows them.
    bool has_first = reader.next(first);
    while (has_first && trim(first.text).empty()) {
      Line next;
      if (!reader.next(next)) {
        has_first = false;
        break;
      }
      if (!trim(next.text).empty()) {
        if (options_.has_header) fail(first.number, "the header line is blank");
        fail(first.number, "the line is blank (blank lines are allowed only at the end)");
      }
    }
    if (!has_first) {
      throw_invalid(where_, source_, ": the input is empty (no header and no data rows)");
    }

    Dataset ds;
    header_line_ = first.number;
    if (options_.has_header) {
      read_header(first);
    } else {
      const size_t columns = split_cells(first.text, options_.delimiter).size();
      for (size_t i = 0; i < columns; ++i) names_.push_back(absl::StrCat("column_", i));
    }
    find_label_column();
    ds.num_features = static_cast<int64_t>(names_.size()) - 1;
    for (size_t c = 0; c < names_.size(); ++c) {
      if (c != label_column_) ds.feature_names.push_back(names_[c]);
    }
    // No reserve from a count of lines: memory grows with the rows actually read.
    int32_t max_label = -1;
    int64_t first_blank = 0;  // a blank line is an error only when a row follows it
    Line line = first;
    bool have = !options_.has_header || reader.next(line);
    while (have) {
      if (trim(line.text).empty()) {
        if (first_blank == 0) first_blank = line.number;
      } else {
        if (first_blank != 0) {
          fail(first_blank, "the line is blank (blank lines are allowed only at the end)");
        }
        split_cells_into(line.text, options_.delimiter, cells_);
        check_cell_count(line.number, cells_.size());
        for (size_t c = 0; c < cells_.size(); ++c) {
          if (c == label_column_) {
            const int32_t label = parse_label(line.number, c, cells_[c]);
            ds.labels.push_back(label);
            if (label > max_label) max_label = label;
          } else {
            ds.features.push_back(parse_feature(line.number, c, cells_[c]));
          }
        }
      }
      have = reader.next(line);
    }
    if (ds.labels.empty()) {
      fail(header_line_, "no data rows after the header");
    }
    ds.num_examples = static_cast<int64_t>(ds.labels.size());
    ds.num_classes = max_label + 1;
    ds.features.shrink_to_fit();
    ds.labels.shrink_to_fit();
    return ds;
  }

 private:
  template <typename... Pieces>
  [[noreturn]] void fail(int64_t line, const Pieces&... pieces) const {
    throw_invalid(where_, source_, ":", line, ": ", pieces...);
  }

  std::string column(size_t c) const {
    return absl::StrCat("column ", c + 1, " (", quote_cell(names_[c]), ")");
  }

  void check_delimiter() const {
    const char d = options_.delimiter;
    const auto u = static_cast<unsigned char>(d);
    // Letters are excluded too: "e", "inf" and "nan" are parts of numbers.
    if (u == 0 || (std::isspace(u) && d != '\t') || std::isalnum(u) || d == '"' || d == '+' ||
        d == '-' || d == '.') {
      throw_invalid(where_, source_, ": invalid delimiter ", describe_delimiter(d));
    }
  }

  void read_header(const Line& line) {
    if (trim(line.text).empty()) fail(line.number, "the header line is blank");
    absl::flat_hash_map<std::string, size_t> seen;
    for (std::string_view cell : split_cells(line.text, options_.delimiter)) {
      if (cell.size() >= 2 && cell.front() == '"' && cell.back() == '"') {
        cell = trim(cell.substr(1, cell.size() - 2));
      }
      const size_t index = names_.size();
      if (cell.empty()) fail(line.number, "header column ", index + 1, " has no name");
      std::string name(cell);
      const auto [it, inserted] = seen.emplace(name, index);
      if (!inserted) {
        fail(line.number, "header columns ", it->second + 1, " and ", index + 1,
             " have the same name ", quote_cell(name));
      }
      names_.push_back(std::move(name));
    }
  }

  void find_label_column() {
    if (names_.size() < 2) {
      fail(header_line_, "found ", names_.size(),
           " column, need at least 2 (one or more features and a label)");
    }
    if (!options_.label_column.has_value()) {
      label_column_ = names_.size() - 1;
      return;
    }
    const std::string& wanted = *options_.label_column;
    for (size_t c = 0; c < names_.size(); ++c) {
      if (names_[c] == wanted) {
        label_column_ = c;
        return;
      }
    }
    std::string listed;
    for (size_t c = 0; c < names_.size() && c < kMaxListedColumns; ++c) {
      absl::StrAppend(&listed, c == 0 ? "" : ", ", quote_cell(names_[c]));
    }
    if (names_.size() > kMaxListedColumns) {
      absl::StrAppend(&listed, ", ... (", names_.size(), " in all)");
    }
    fail(header_line_, "no label column ", quote_cell(wanted), " among the columns (", listed, ")",
         options_.has_header ? "" : "; without a header the columns are named column_<i>");
  }

  void check_cell_count(int64_t line, size_t count) const {
    const size_t expected = names_.size();
    if (count < expected) {
      fail(line, "the row has ", count, " cells, expected ", expected, " as on line ",
           header_line_, "; ", column(count), " is missing");
    }
    if (count > expected) {
      fail(line, "the row has ", count, " cells, expected ", expected, " as on line ",
           header_line_, "; extra cells after ", column(expected - 1));
    }
  }

  // The cell as a finite double; fails for an empty, non-numeric, out-of-range or non-finite
  // cell.
  double parse_number(int64_t line, size_t c, std::string_view cell) const {
    if (cell.empty()) fail(line, column(c), " is empty");
    std::string_view digits = cell;
    // from_chars takes no leading '+'.
    if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-' && digits[1] != '+') {
      digits.remove_prefix(1);
    }
    double value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec == std::errc::result_out_of_range && end == digits.data() + digits.size()) {
      fail(line, column(c), ": ", quote_cell(cell), " is out of range");
    }
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      fail(line, column(c), ": ", quote_cell(cell), " is not a number");
    }
    if (!std::isfinite(value)) {
      fail(line, column(c), ": ", quote_cell(cell),
           " is not finite (NaN and infinity are not allowed)");
    }
    return value;
  }

  float parse_feature(int64_t line, size_t c, std::string_view cell) const {
    const double value = parse_number(line, c, cell);
    if (std::fabs(value) > static_cast<double>(std::numeric_limits<float>::max())) {
      fail(line, column(c), ": ", quote_cell(cell), " is out of the float32 range");
    }
    return static_cast<float>(value);
  }

  int32_t parse_label(int64_t line, size_t c, std::string_view cell) const {
    const double value = parse_number(line, c, cell);
    if (value < 0) fail(line, "label ", column(c), ": ", quote_cell(cell), " is negative");
    if (value != std::trunc(value)) {
      fail(line, "label ", column(c), ": ", quote_cell(cell), " is not an integer");
    }
    // num_classes = max label + 1 must fit in int32.
    if (value >= static_cast<double>(std::numeric_limits<int32_t>::max())) {
      fail(line, "label ", column(c), ": ", quote_cell(cell), " is too large (at most ",
           std::numeric_limits<int32_t>::max() - 1, ")");
    }
    return static_cast<int32_t>(value);
  }

  std::string_view where_;
  std::string source_;  // escaped for messages
  const CsvOptions& options_;
  std::vector<std::string> names_;
  std::vector<std::string_view> cells_;
  size_t label_column_ = 0;
  int64_t header_line_ = 1;
};

// Throws unless the sizes of the dataset's vectors agree with its counts.
void check_consistent(std::string_view where, const Dataset& ds) {
  if (ds.num_examples < 0 || ds.num_features < 0) {
    throw_invalid(where, "dataset has ", ds.num_examples, " examples and ", ds.num_features,
                  " features");
  }
  if ((ds.num_features != 0 &&
       ds.num_examples > std::numeric_limits<int64_t>::max() / ds.num_features) ||
      ds.features.size() != static_cast<size_t>(ds.num_examples * ds.num_features) ||
      ds.labels.size() != static_cast<size_t>(ds.num_examples)) {
    throw_invalid(where, "dataset of ", ds.num_examples, " x ", ds.num_features, " has ",
                  ds.features.size(), " feature values and ", ds.labels.size(), " labels");
  }
}

// A uniform integer in [0, bound), bound > 0, by rejection sampling. Written out rather than
// std::uniform_int_distribution, whose algorithm differs between standard libraries;
// std::mt19937_64's output sequence is fixed by the standard.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  // 2^64 mod bound: the values below it would make the low residues more likely.
  const uint64_t threshold = (uint64_t{0} - bound) % bound;
  while (true) {
    const uint64_t x = rng();
    if (x >= threshold) return x % bound;
  }
}

Dataset subset(const Dataset& ds, std::span<const int64_t> indices) {
  Dataset out;
  out.num_examples = static_cast<int64_t>(indices.size());
  out.num_features = ds.num_features;
  out.num_classes = ds.num_classes;
  out.feature_names = ds.feature_names;
  out.features.resize(indices.size() * static_cast<size_t>(ds.num_features));
  out.labels.resize(indices.size());
  fill_batch(ds, indices, out.features.data(), out.labels.data());
  return out;
}

}  // namespace

Dataset parse_csv(std::string_view text, CsvOptions options, std::string_view source_name) {
  try {
    return CsvParser("parse_csv", source_name, options).parse(text);
  } catch (const std::bad_alloc&) {
    throw_error(absl::StatusCode::kResourceExhausted, "parse_csv", escape_for_message(source_name),
                ": out of memory holding the parsed values of ", text.size(), " bytes of text");
  }
}

Dataset load_csv(const std::string& path, CsvOptions options) {
  constexpr std::string_view kWhere = "load_csv";
  const std::string shown = escape_for_message(path);
  // O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files are read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const absl::StatusCode code = (err == ENOENT || err == ENOTDIR)
                                      ? absl::StatusCode::kNotFound
                                      : err == EACCES ? absl::StatusCode::kPermissionDenied
                                                      : absl::StatusCode::kInvalidArgument;
    throw_error(code, kWhere, shown, ": cannot open: ", std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    throw_error(absl::StatusCode::kInvalidArgument, kWhere, shown, ": cannot stat: ", std::strerror(err));
  }
  if (S_ISDIR(info.st_mode)) throw_invalid(kWhere, shown, ": is a directory, not a CSV file");
  if (!S_ISREG(info.st_mode)) {
    const char* kind = S_ISFIFO(info.st_mode)  ? "a FIFO"
                       : S_ISCHR(info.st_mode) ? "a character device"
                       : S_ISBLK(info.st_mode) ? "a block device"
                       : S_ISSOCK(info.st_mode) ? "a socket"
                                                : "not a regular file";
    throw_invalid(kWhere, shown, ": is ", kind, ", not a regular file (only regular files are read)");
  }
  const int64_t limit = options.max_file_bytes;
  auto too_large = [&](int64_t size) {
    throw_error(absl::StatusCode::kResourceExhausted, kWhere, shown, ": the file has ",
                size, " bytes, more than the limit of ", limit,
                " bytes (CsvOptions::max_file_bytes; 0 lifts it)");
  };
  if (limit > 0 && info.st_size > limit) too_large(info.st_size);
  std::string text;
  try {
    text.reserve(static_cast<size_t>(info.st_size));
    char buffer[1 << 16];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        throw_error(absl::StatusCode::kDataLoss, kWhere, shown, ": read failed: ", std::strerror(err));
      }
      if (n == 0) break;
      // The file may grow while it is read: the limit holds for what is read, too.
      if (limit > 0 && static_cast<int64_t>(text.size()) + n > limit) too_large(static_cast<int64_t>(text.size()) + n);
      text.append(buffer, static_cast<size_t>(n));
    }
  } catch (const std::bad_alloc&) {
    throw_error(absl::StatusCode::kResourceExhausted, kWhere, shown, ": out of memory reading ",
                info.st_size, " bytes");
  }
  try {
    return CsvParser(kWhere, path, options).parse(text);
  } catch (const std::bad_alloc&) {
    throw_error(absl::StatusCode::kResourceExhausted, kWhere, shown,
                ": out of memory holding the parsed values of ", text.size(), " bytes of text");
  }
}

void scale_features(Dataset& dataset, float factor) {
  if (!std::isfinite(factor)) {
    throw_invalid("scale_features", "factor must be finite, got ", factor);
  }
  check_consistent("scale_features", dataset);
  for (float& x : dataset.features) x *= factor;
}

void standardize(Dataset& train, Dataset& test) {
  constexpr std::string_view kWhere = "standardize";
  check_consistent(kWhere, train);
  check_consistent(kWhere, test);
  if (train.num_features != test.num_features) {
    throw_invalid(kWhere, "train has ", train.num_features, " features, test ",
                  test.num_features);
  }
  if (train.num_examples == 0) throw_invalid(kWhere, "train has no examples");
  const auto f = static_cast<size_t>(train.num_features);
  std::vector<double> mean(f, 0.0), scale(f, 0.0);
  for (size_t i = 0; i < train.features.size(); ++i) mean[i % f] += train.features[i];
  for (double& m : mean) m /= static_cast<double>(train.num_examples);
  for (size_t i = 0; i < train.features.size(); ++i) {
    const double d = train.features[i] - mean[i % f];
    scale[i % f] += d * d;
  }
  for (double& s : scale) {
    const double stddev = std::sqrt(s / static_cast<double>(train.num_examples));
    s = stddev > 0 ? 1.0 / stddev : 1.0;
  }
  for (Dataset* ds : {&train, &test}) {
    for (size_t i = 0; i < ds->features.size(); ++i) {
      ds->features[i] = static_cast<float>((ds->features[i] - mean[i % f]) * scale[i % f]);
    }
  }
}

std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed) {
  if (n < 0) throw_invalid("shuffled_indices", "n must be >= 0, got ", n);
  std::vector<int64_t> indices(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) indices[static_cast<size_t>(i)] = i;
  // Fisher-Yates, written out instead of std::shuffle so that the permutation is the same with
  // every standard library (std::shuffle's algorithm is unspecified).
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(indices[static_cast<size_t>(i)], indices[static_cast<size_t>(j)]);
  }
  return indices;
}

std::pair<Dataset, Dataset> split(const Dataset& dataset, double test_fraction, uint64_t seed) {
  constexpr std::string_view kWhere = "split";
  check_consistent(kWhere, dataset);
  if (!(test_fraction > 0 && test_fraction < 1)) {
    throw_invalid(kWhere, "test_fraction must be in (0, 1), got ", test_fraction);
  }
  const int64_t n = dataset.num_examples;
  const auto num_test = static_cast<int64_t>(std::llround(test_fraction * static_cast<double>(n)));
  if (num_test == 0 || num_test == n) {
    throw_invalid(kWhere, "test_fraction ", test_fraction, " of ", n, " examples leaves the ",
                  num_test == 0 ? "test" : "training", " set empty");
  }
  std::vector<int64_t> order = shuffled_indices(n, seed);
  const auto cut = order.begin() + num_test;
  std::vector<int64_t> test_indices(order.begin(), cut);
  std::vector<int64_t> train_indices(cut, order.end());
  std::sort(test_indices.begin(), test_indices.end());
  std::sort(train_indices.begin(), train_indices.end());
  return {subset(dataset, train_indices), subset(dataset, test_indices)};
}

void fill_batch(const Dataset& dataset, std::span<const int64_t> indices, float* features_out,
                int32_t* labels_out) {
  constexpr std::string_view kWhere = "fill_batch";
  check_consistent(kWhere, dataset);
  if (indices.empty()) return;
  if (features_out == nullptr) throw_invalid(kWhere, "features_out is null");
  for (size_t b = 0; b < indices.size(); ++b) {
    if (indices[b] < 0 || indices[b] >= dataset.num_examples) {
      throw_invalid(kWhere, "index ", indices[b], " (batch row ", b, ") is out of range for ",
                    dataset.num_examples, " examples");
    }
  }
  const auto f = static_cast<size_t>(dataset.num_features);
  for (size_t b = 0; b < indices.size(); ++b) {
    const auto row = static_cast<size_t>(indices[b]);
    std::copy_n(dataset.features.begin() + static_cast<std::ptrdiff_t>(row * f), f,
                features_out + b * f);
    if (labels_out != nullptr) labels_out[b] = dataset.labels[row];
  }
}

std::string_view embedded_digits_csv() {
  return std::string_view(reinterpret_cast<const char*>(embedded::digits_csv), embedded::digits_csv_size);
}

Dataset load_digits() { return parse_csv(embedded_digits_csv(), {}, "digits.csv (embedded)"); }

std::string default_digits_path() {
  const char* env = std::getenv("SCOPEFLOW_DATA_DIR");
  const std::filesystem::path dir =
      env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                     : std::filesystem::path(SCOPEFLOW_SOURCE_DATA_DIR);
  return (dir / "digits.csv").string();
}

}  // namespace scopeflow::data
