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
#include <filesystem>
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
  return absl::StrCat("'", absl::CHexEscape(to_absl(cell)), cut ? "...'" : "'");
}

std::string describe_delimiter(char c) {
  return quote_cell(std::string_view(&c, 1));
}

std::vector<std::string_view> split_cells(std::string_view line, char delimiter) {
  std::vector<std::string_view> cells;
  size_t start = 0;
  while (true) {
    const size_t end = line.find(delimiter, start);
    if (end == std::string_view::npos) {
      cells.push_back(trim(line.substr(start)));
      return cells;
    }
    cells.push_back(trim(line.substr(start, end - start)));
    start = end + 1;
  }
}

struct Line {
  int64_t number = 0;  // 1-based
  std::string_view text{};
};

// The lines of `text` without their "\n" or "\r\n", trailing blank lines dropped.
std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> lines;
  int64_t number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back({++number, line});
    start = end + 1;
  }
  while (!lines.empty() && trim(lines.back().text).empty()) lines.pop_back();
  return lines;
}

// Parses CSV text; `where` is the function named in error messages.
class CsvParser {
 public:
  CsvParser(std::string_view where, std::string_view source, const CsvOptions& options)
      : where_(where), source_(source), options_(options) {}

  Dataset parse(std::string_view text) {
    check_delimiter();
    if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
    const std::vector<Line> lines = split_lines(text);
    if (lines.empty()) {
      throw_invalid(where_, source_, ": the input is empty (no header and no data rows)");
    }

    size_t first_data = 0;
    if (options_.has_header) {
      read_header(lines[0]);
      first_data = 1;
    } else {
      const size_t columns = split_cells(lines[0].text, options_.delimiter).size();
      for (size_t i = 0; i < columns; ++i) names_.push_back(absl::StrCat("column_", i));
    }
    header_line_ = lines[0].number;
    find_label_column();

    Dataset ds;
    ds.num_features = static_cast<int64_t>(names_.size()) - 1;
    for (size_t c = 0; c < names_.size(); ++c) {
      if (c != label_column_) ds.feature_names.push_back(names_[c]);
    }
    const size_t rows = lines.size() - first_data;
    ds.features.reserve(rows * static_cast<size_t>(ds.num_features));
    ds.labels.reserve(rows);
    int32_t max_label = -1;
    for (size_t i = first_data; i < lines.size(); ++i) {
      const Line& line = lines[i];
      if (trim(line.text).empty()) {
        fail(line.number, "the line is blank (blank lines are allowed only at the end)");
      }
      const std::vector<std::string_view> cells = split_cells(line.text, options_.delimiter);
      check_cell_count(line.number, cells.size());
      for (size_t c = 0; c < cells.size(); ++c) {
        if (c == label_column_) {
          const int32_t label = parse_label(line.number, c, cells[c]);
          ds.labels.push_back(label);
          if (label > max_label) max_label = label;
        } else {
          ds.features.push_back(parse_feature(line.number, c, cells[c]));
        }
      }
    }
    if (ds.labels.empty()) {
      fail(header_line_, "no data rows after the header");
    }
    ds.num_examples = static_cast<int64_t>(ds.labels.size());
    ds.num_classes = max_label + 1;
    return ds;
  }

 private:
  template <typename... Pieces>
  [[noreturn]] void fail(int64_t line, const Pieces&... pieces) const {
    throw_invalid(where_, source_, ":", line, ": ", pieces...);
  }

  std::string column(size_t c) const {
    return absl::StrCat("column ", c + 1, " ('", names_[c], "')");
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
      absl::StrAppend(&listed, c == 0 ? "" : ", ", names_[c]);
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
  std::string_view source_;
  const CsvOptions& options_;
  std::vector<std::string> names_;
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
  return CsvParser("parse_csv", source_name, options).parse(text);
}

Dataset load_csv(const std::string& path, CsvOptions options) {
  constexpr std::string_view kWhere = "load_csv";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw_invalid(kWhere, path, ": is a directory, not a CSV file");
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int err = errno;
    const absl::StatusCode code = (err == ENOENT || err == ENOTDIR)
                                      ? absl::StatusCode::kNotFound
                                      : err == EACCES ? absl::StatusCode::kPermissionDenied
                                                      : absl::StatusCode::kInvalidArgument;
    throw_error(code, kWhere, path, ": cannot open: ", std::strerror(err));
  }
  std::string text;
  char buffer[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  const int err = errno;
  std::fclose(file);
  if (failed) {
    throw_error(absl::StatusCode::kDataLoss, kWhere, path, ": read failed: ", std::strerror(err));
  }
  return CsvParser(kWhere, path, options).parse(text);
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
