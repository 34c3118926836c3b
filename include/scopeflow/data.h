#pragma once
// Datasets for training programs: a numeric CSV loader, a deterministic train/test split,
// feature scaling and batch filling for float32 (batch, features) / int32 (batch,) feeds.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scopeflow::data {

/// A table of float features with one integer class label per example.
struct Dataset {
  int64_t num_examples = 0;
  int64_t num_features = 0;
  /// Row-major num_examples x num_features.
  std::vector<float> features{};
  /// num_examples labels, each in [0, num_classes).
  std::vector<int32_t> labels{};
  /// The largest label + 1.
  int32_t num_classes = 0;
  /// num_features names: the header names of the feature columns, in file order.
  std::vector<std::string> feature_names{};
};

struct CsvOptions {
  /// Name of the label column; unset: the last column. Without a header the columns are
  /// named "column_0", "column_1", ... (0-based, counting the label column).
  std::optional<std::string> label_column{};
  /// Whether the first line holds the column names.
  bool has_header = true;
  /// Separates cells, e.g. ',', ';' or '\t'. Must not be whitespace other than a tab, a
  /// letter or digit, '+', '-', '.' or a double quote.
  char delimiter = ',';
  /// load_csv: files larger than this are refused with kResourceExhausted before they are
  /// read (0: no limit). Parsing holds the text and about as many bytes again of floats.
  int64_t max_file_bytes = int64_t{1} << 30;
};

/// Reads a numeric CSV file; see parse_csv. Only regular files are read: a directory, FIFO,
/// device or socket is kInvalidArgument (never a blocking or endless read). Throws Error with
/// code kNotFound when the file does not exist, kResourceExhausted when it is larger than
/// options.max_file_bytes or memory runs out, and the errors of parse_csv (messages start with
/// "[load_csv] <path>:<line>: "; the path and names from the file are escaped in messages).
Dataset load_csv(const std::string& path, CsvOptions options = {});

/// Parses numeric CSV text: an optional header line, then one example per line, every cell a
/// number (surrounding spaces and tabs ignored). Feature cells must be finite and fit in a
/// float; label cells must be non-negative integers ("3" or "3.0"; not "3.5" or "-1"). Line
/// endings may be "\n", "\r\n" or "\r"; memory grows with the rows, not the lines. A UTF-8
/// byte order mark and blank lines at the end are ignored. There is no quoting (a header name
/// in double quotes loses them). Throws Error with code kInvalidArgument and a message "[parse_csv] <source_name>:<line>: ..." naming the
/// column for: empty input, a blank line before the end, an empty or duplicate header name,
/// fewer than two columns, a missing label column, a row with too few or too many cells, an
/// empty or non-numeric cell (quoted in the message), NaN or infinity, a feature out of the
/// float range, an invalid label, no data rows, and an invalid delimiter.
Dataset parse_csv(std::string_view text, CsvOptions options = {},
                  std::string_view source_name = "<memory>");

/// Multiplies every feature by `factor` (finite), e.g. 1/16 for the digits' pixels 0..16.
void scale_features(Dataset& dataset, float factor);

/// Standardizes both sets with the per-feature mean and standard deviation of `train`:
/// x -> (x - mean) / stddev; a feature that is constant in `train` is only centered. Both must
/// have the same number of features, and `train` at least one example.
void standardize(Dataset& train, Dataset& test);

/// Splits into {train, test}: the examples are shuffled with shuffled_indices(n, seed), the
/// first round(test_fraction * n) of them form the test set and the rest the training set.
/// Each side keeps the examples in their original relative order, and the dataset's
/// num_classes and feature_names. Deterministic for a given
/// seed on every platform. Throws Error for test_fraction outside (0, 1) or a split that
/// leaves either side empty.
std::pair<Dataset, Dataset> split(const Dataset& dataset, double test_fraction, uint64_t seed);

/// A random permutation of 0..n-1 (n >= 0), the same for a given (n, seed) on every platform.
std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed);

/// Copies the examples `indices` (each in [0, num_examples)) into a batch: features_out gets
/// indices.size() x num_features floats (row-major), labels_out indices.size() labels.
/// labels_out may be null to copy only features. Throws Error for an index out of range.
void fill_batch(const Dataset& dataset, std::span<const int64_t> indices, float* features_out,
                int32_t* labels_out);

/// The handwritten digits data set (1797 8x8 images, pixels 0..16, labels 0..9), embedded in the
/// library at build time from data/digits.csv and parsed from memory: it reads no file, so it
/// works wherever the library or a program linking it is installed or moved.
Dataset load_digits();

/// The embedded digits CSV, byte for byte as data/digits.csv held it when the library was built.
std::string_view embedded_digits_csv();

/// The path of a copy of the digits file (data/digits.csv): in $SCOPEFLOW_DATA_DIR when that is
/// set and not empty, else in the source tree's data directory the library was built from, which
/// an installed library may not have; load_digits() needs neither.
std::string default_digits_path();

}  // namespace scopeflow::data
