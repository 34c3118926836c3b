#include "scopeflow/data.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "scopeflow/error.h"
#include "test_util.h"

namespace scopeflow::data {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using test::error_of;
using test::IsError;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// The error that parse_csv(text, options) throws, with source name "t.csv".
test::ThrownError parse_error(std::string_view text, CsvOptions options = {}) {
  return error_of([&] { parse_csv(text, options, "t.csv"); });
}

// A file under the test temp directory holding `contents`; removed on destruction.
class TempFile {
 public:
  TempFile(std::string_view name, std::string_view contents)
      : path_((std::filesystem::path(::testing::TempDir()) / name).string()) {
    std::ofstream out(path_, std::ios::binary);
    out << contents;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(CsvParseTest, HeaderAndRowsWithLastColumnAsLabel) {
  const Dataset ds = parse_csv("a,b,label\n1,2.5,0\n-3,4e1,2\n");
  EXPECT_EQ(ds.num_examples, 2);
  EXPECT_EQ(ds.num_features, 2);
  EXPECT_THAT(ds.features, ElementsAre(1.0f, 2.5f, -3.0f, 40.0f));
  EXPECT_THAT(ds.labels, ElementsAre(0, 2));
  EXPECT_EQ(ds.num_classes, 3);
  EXPECT_THAT(ds.feature_names, ElementsAre("a", "b"));
}

TEST(CsvParseTest, WithoutHeaderColumnsAreNamedByIndex) {
  const Dataset ds = parse_csv("1,2,3\n4,5,6", {.has_header = false});
  EXPECT_EQ(ds.num_examples, 2);
  EXPECT_EQ(ds.num_features, 2);
  EXPECT_THAT(ds.features, ElementsAre(1, 2, 4, 5));
  EXPECT_THAT(ds.labels, ElementsAre(3, 6));
  EXPECT_EQ(ds.num_classes, 7);
  EXPECT_THAT(ds.feature_names, ElementsAre("column_0", "column_1"));
}

TEST(CsvParseTest, LabelColumnByName) {
  const Dataset ds = parse_csv("x,y,z\n1,2,3\n4,0,6\n", {.label_column = "y"});
  EXPECT_EQ(ds.num_features, 2);
  EXPECT_THAT(ds.feature_names, ElementsAre("x", "z"));
  EXPECT_THAT(ds.features, ElementsAre(1, 3, 4, 6));
  EXPECT_THAT(ds.labels, ElementsAre(2, 0));
  EXPECT_EQ(ds.num_classes, 3);
}

TEST(CsvParseTest, LabelColumnByIndexNameWithoutHeader) {
  const Dataset ds = parse_csv("1,2,3\n", {.label_column = "column_0", .has_header = false});
  EXPECT_THAT(ds.feature_names, ElementsAre("column_1", "column_2"));
  EXPECT_THAT(ds.features, ElementsAre(2, 3));
  EXPECT_THAT(ds.labels, ElementsAre(1));
}

TEST(CsvParseTest, ToleratesCrlfSpacesTrailingBlankLinesAndBom) {
  const Dataset ds =
      parse_csv("\xEF\xBB\xBF a , \"b\" ,label\r\n 1 ,\t2\t, 1 \r\n3,4,0\r\n\r\n  \n");
  EXPECT_EQ(ds.num_examples, 2);
  EXPECT_THAT(ds.feature_names, ElementsAre("a", "b"));
  EXPECT_THAT(ds.features, ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(ds.labels, ElementsAre(1, 0));
}

TEST(CsvParseTest, NoTrailingNewlineNeeded) {
  EXPECT_EQ(parse_csv("a,l\n1,0").num_examples, 1);
  EXPECT_EQ(parse_csv("a,l\r\n1,0\r\n2,1").num_examples, 2);
}

TEST(CsvParseTest, OtherDelimiters) {
  const Dataset semi = parse_csv("a;l\n1.5;1\n", {.delimiter = ';'});
  EXPECT_THAT(semi.features, ElementsAre(1.5f));
  const Dataset tab = parse_csv("a\tb\tl\n1\t2\t0\n", {.delimiter = '\t'});
  EXPECT_THAT(tab.features, ElementsAre(1, 2));
  EXPECT_THAT(tab.labels, ElementsAre(0));
}

TEST(CsvParseTest, NumberForms) {
  const Dataset ds = parse_csv("a,b,c,d,l\n+1,.5,5.,-2E-1,+3\n");
  EXPECT_THAT(ds.features, ElementsAre(1.0f, 0.5f, 5.0f, -0.2f));
  EXPECT_THAT(ds.labels, ElementsAre(3));
}

TEST(CsvParseTest, IntegralFloatLabelsAreAccepted) {
  const Dataset ds = parse_csv("a,l\n1,3.0\n2,0.0\n");
  EXPECT_THAT(ds.labels, ElementsAre(3, 0));
  EXPECT_EQ(ds.num_classes, 4);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(CsvErrorTest, EmptyInput) {
  EXPECT_THAT(parse_error(""), IsError(kInvalid, AllOf(StartsWith("[parse_csv] t.csv: "),
                                                        HasSubstr("empty"))));
  EXPECT_THAT(parse_error("\n\r\n  \n"), IsError(kInvalid, HasSubstr("empty")));
}

TEST(CsvErrorTest, RaggedRowWithTooFewCells) {
  EXPECT_THAT(parse_error("a,b,label\n1,2,0\n1,2\n"),
              IsError(kInvalid, "[parse_csv] t.csv:3: the row has 2 cells, expected 3 as on "
                                "line 1; column 3 ('label') is missing"));
}

TEST(CsvErrorTest, RaggedRowWithTooManyCells) {
  EXPECT_THAT(parse_error("a,b,label\n1,2,0,7\n"),
              IsError(kInvalid, "[parse_csv] t.csv:2: the row has 4 cells, expected 3 as on "
                                "line 1; extra cells after column 3 ('label')"));
  // A delimiter at the end of a line makes one more (empty) cell.
  EXPECT_THAT(parse_error("a,label\n1,0,\n"), IsError(kInvalid, HasSubstr("has 3 cells")));
}

TEST(CsvErrorTest, NonNumericCellIsQuoted) {
  EXPECT_THAT(parse_error("a,b,label\n1,2,0\n3,abc,1\n"),
              IsError(kInvalid, "[parse_csv] t.csv:3: column 2 ('b'): 'abc' is not a number"));
  EXPECT_THAT(parse_error("a,label\n1x,0\n"), IsError(kInvalid, HasSubstr("'1x' is not a number")));
  EXPECT_THAT(parse_error("a,label\n0x10,0\n"), IsError(kInvalid, HasSubstr("not a number")));
  EXPECT_THAT(parse_error("a,label\n\"1\",0\n"), IsError(kInvalid, HasSubstr("not a number")));
  // Control bytes are escaped and long cells cut.
  EXPECT_THAT(parse_error(std::string("a,label\n1\x01,0\n")),
              IsError(kInvalid, HasSubstr("'1\\x01' is not a number")));
  EXPECT_THAT(parse_error("a,label\n" + std::string(100, 'z') + ",0\n"),
              IsError(kInvalid, HasSubstr("'" + std::string(40, 'z') + "...' is not a number")));
}

TEST(CsvErrorTest, EmptyCell) {
  EXPECT_THAT(parse_error("a,b,label\n1,,0\n"),
              IsError(kInvalid, "[parse_csv] t.csv:2: column 2 ('b') is empty"));
  EXPECT_THAT(parse_error("a,b,label\n1,  ,0\n"), IsError(kInvalid, HasSubstr("is empty")));
}

TEST(CsvErrorTest, NanAndInfinity) {
  EXPECT_THAT(parse_error("a,label\nnan,0\n"),
              IsError(kInvalid, "[parse_csv] t.csv:2: column 1 ('a'): 'nan' is not finite "
                                "(NaN and infinity are not allowed)"));
  for (const char* cell : {"NaN", "inf", "-inf", "Infinity", "+inf"}) {
    EXPECT_THAT(parse_error(std::string("a,label\n") + cell + ",0\n"),
                IsError(kInvalid, HasSubstr("is not finite")))
        << cell;
  }
  EXPECT_THAT(parse_error("a,label\n1,nan\n"),
              IsError(kInvalid, HasSubstr("column 2 ('label'): 'nan' is not finite")));
}

TEST(CsvErrorTest, OutOfRange) {
  EXPECT_THAT(parse_error("a,label\n1e999,0\n"),
              IsError(kInvalid, "[parse_csv] t.csv:2: column 1 ('a'): '1e999' is out of range"));
  EXPECT_THAT(parse_error("a,label\n1e39,0\n"),
              IsError(kInvalid, HasSubstr("'1e39' is out of the float32 range")));
}

TEST(CsvErrorTest, FractionalLabel) {
  EXPECT_THAT(parse_error("a,label\n1,0\n2,3.5\n"),
              IsError(kInvalid,
                      "[parse_csv] t.csv:3: label column 2 ('label'): '3.5' is not an integer"));
}

TEST(CsvErrorTest, NegativeLabel) {
  EXPECT_THAT(parse_error("a,label\n1,-1\n"),
              IsError(kInvalid, "[parse_csv] t.csv:2: label column 2 ('label'): '-1' is negative"));
}

TEST(CsvErrorTest, HugeLabel) {
  EXPECT_THAT(parse_error("a,label\n1,3e9\n"), IsError(kInvalid, HasSubstr("is too large")));
}

TEST(CsvErrorTest, MissingLabelColumn) {
  EXPECT_THAT(parse_error("a,b,c\n1,2,3\n", {.label_column = "y"}),
              IsError(kInvalid, "[parse_csv] t.csv:1: no label column 'y' among the columns "
                                "('a', 'b', 'c')"));
  EXPECT_THAT(parse_error("1,2,3\n", {.label_column = "y", .has_header = false}),
              IsError(kInvalid, HasSubstr("without a header the columns are named column_<i>")));
}

TEST(CsvErrorTest, NoDataRows) {
  EXPECT_THAT(parse_error("a,b,label\n"),
              IsError(kInvalid, "[parse_csv] t.csv:1: no data rows after the header"));
  EXPECT_THAT(parse_error("a,b,label\r\n\r\n"), IsError(kInvalid, HasSubstr("no data rows")));
}

TEST(CsvErrorTest, BlankLineBeforeTheEnd) {
  EXPECT_THAT(parse_error("a,label\n1,0\n\n2,1\n"),
              IsError(kInvalid, "[parse_csv] t.csv:3: the line is blank (blank lines are "
                                "allowed only at the end)"));
  EXPECT_THAT(parse_error("\na,label\n1,0\n"),
              IsError(kInvalid, "[parse_csv] t.csv:1: the header line is blank"));
}

TEST(CsvErrorTest, BadHeader) {
  EXPECT_THAT(parse_error("a,,label\n1,2,0\n"),
              IsError(kInvalid, "[parse_csv] t.csv:1: header column 2 has no name"));
  EXPECT_THAT(parse_error("a,b,a\n1,2,0\n"),
              IsError(kInvalid,
                      "[parse_csv] t.csv:1: header columns 1 and 3 have the same name 'a'"));
  EXPECT_THAT(parse_error("label\n1\n"),
              IsError(kInvalid, HasSubstr("t.csv:1: found 1 column, need at least 2")));
}

TEST(CsvErrorTest, BadDelimiter) {
  for (char d : {'\n', '\r', ' ', '"', '1', '.', '-', 'e', '\0'}) {
    EXPECT_THAT(parse_error("a,l\n1,0\n", {.delimiter = d}),
                IsError(kInvalid, HasSubstr("invalid delimiter")))
        << static_cast<int>(d);
  }
}

// ---------------------------------------------------------------------------------------------
// Files

TEST(CsvLoadTest, LoadsAFile) {
  const TempFile file("csv_dataset_test_ok.csv", "f0,f1,label\r\n0,1,1\r\n2,3,0\r\n");
  const Dataset ds = load_csv(file.path());
  EXPECT_EQ(ds.num_examples, 2);
  EXPECT_THAT(ds.features, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(ds.labels, ElementsAre(1, 0));
}

TEST(CsvLoadTest, ErrorsNameTheFileAndLine) {
  const TempFile file("csv_dataset_test_bad.csv", "f0,label\n0,1\n?,0\n");
  EXPECT_THAT(error_of([&] { load_csv(file.path()); }),
              IsError(kInvalid, "[load_csv] " + file.path() +
                                    ":3: column 1 ('f0'): '?' is not a number"));
}

TEST(CsvLoadTest, EmptyFile) {
  const TempFile file("csv_dataset_test_empty.csv", "");
  EXPECT_THAT(error_of([&] { load_csv(file.path()); }),
              IsError(kInvalid, AllOf(StartsWith("[load_csv] " + file.path() + ": "),
                                      HasSubstr("empty"))));
}

TEST(CsvLoadTest, MissingFileIsNotFound) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / "csv_dataset_test_no_such_file.csv").string();
  EXPECT_THAT(error_of([&] { load_csv(path); }),
              IsError(absl::StatusCode::kNotFound,
                      AllOf(StartsWith("[load_csv] " + path + ": cannot open"),
                            HasSubstr("No such file"))));
}

TEST(CsvLoadTest, DirectoryIsRejected) {
  EXPECT_THAT(error_of([&] { load_csv(::testing::TempDir()); }),
              IsError(kInvalid, HasSubstr("is a directory")));
}

TEST(DatasetPathTest, DefaultDigitsPathFollowsEnvironment) {
  const char* old = std::getenv("SCOPEFLOW_DATA_DIR");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ASSERT_EQ(setenv("SCOPEFLOW_DATA_DIR", "/some/dir", 1), 0);
  EXPECT_EQ(default_digits_path(), "/some/dir/digits.csv");
  ASSERT_EQ(setenv("SCOPEFLOW_DATA_DIR", "/some/dir/", 1), 0);
  EXPECT_EQ(default_digits_path(), "/some/dir/digits.csv");
  ASSERT_EQ(unsetenv("SCOPEFLOW_DATA_DIR"), 0);
#ifdef SCOPEFLOW_SOURCE_DATA_DIR
  EXPECT_EQ(default_digits_path(),
            (std::filesystem::path(SCOPEFLOW_SOURCE_DATA_DIR) / "digits.csv").string());
#else
  EXPECT_THAT(default_digits_path(), testing::EndsWith("digits.csv"));
#endif
  if (saved) setenv("SCOPEFLOW_DATA_DIR", saved->c_str(), 1);
}

// ---------------------------------------------------------------------------------------------
// Shuffling, splitting, batches, scaling

// n examples with one feature equal to the example index and label index % 3.
Dataset counting_dataset(int64_t n) {
  Dataset ds;
  ds.num_examples = n;
  ds.num_features = 2;
  ds.num_classes = 3;
  ds.feature_names = {"i", "minus_i"};
  for (int64_t i = 0; i < n; ++i) {
    ds.features.push_back(static_cast<float>(i));
    ds.features.push_back(static_cast<float>(-i));
    ds.labels.push_back(static_cast<int32_t>(i % 3));
  }
  return ds;
}

TEST(DatasetShuffleTest, ShuffledIndicesIsAPermutation) {
  for (int64_t n : {0, 1, 2, 7, 1000}) {
    std::vector<int64_t> p = shuffled_indices(n, 5);
    ASSERT_EQ(p.size(), static_cast<size_t>(n));
    std::sort(p.begin(), p.end());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(p[static_cast<size_t>(i)], i);
  }
}

TEST(DatasetShuffleTest, ShuffledIndicesIsDeterministic) {
  EXPECT_EQ(shuffled_indices(100, 42), shuffled_indices(100, 42));
  EXPECT_NE(shuffled_indices(100, 42), shuffled_indices(100, 43));
  std::vector<int64_t> identity(100);
  for (int64_t i = 0; i < 100; ++i) identity[static_cast<size_t>(i)] = i;
  EXPECT_NE(shuffled_indices(100, 42), identity);
}

TEST(DatasetShuffleTest, ShuffledIndicesIsFixedAcrossPlatforms) {
  // std::mt19937_64 and our Fisher-Yates shuffle are fully specified, so this never changes.
  EXPECT_THAT(shuffled_indices(10, 42), ElementsAre(1, 7, 9, 0, 3, 8, 4, 2, 5, 6));
}

TEST(DatasetShuffleTest, NegativeCountIsAnError) {
  EXPECT_THAT(error_of([] { shuffled_indices(-1, 0); }),
              IsError(kInvalid, "[shuffled_indices] n must be >= 0, got -1"));
}

TEST(DatasetSplitTest, SizesAndDisjointCover) {
  const Dataset ds = counting_dataset(10);
  const auto [train, test] = split(ds, 0.3, 7);
  EXPECT_EQ(train.num_examples, 7);
  EXPECT_EQ(test.num_examples, 3);
  for (const Dataset* side : {&train, &test}) {
    EXPECT_EQ(side->num_features, 2);
    EXPECT_EQ(side->num_classes, 3);
    EXPECT_EQ(side->feature_names, ds.feature_names);
    EXPECT_EQ(side->features.size(), static_cast<size_t>(side->num_examples * 2));
    EXPECT_EQ(side->labels.size(), static_cast<size_t>(side->num_examples));
  }
  // Every example lands on exactly one side, intact, and each side keeps the original order.
  std::vector<int> seen(10, 0);
  for (const Dataset* side : {&train, &test}) {
    float previous = -1;
    for (int64_t r = 0; r < side->num_examples; ++r) {
      const float i = side->features[static_cast<size_t>(2 * r)];
      EXPECT_EQ(side->features[static_cast<size_t>(2 * r + 1)], -i);
      EXPECT_EQ(side->labels[static_cast<size_t>(r)], static_cast<int32_t>(i) % 3);
      EXPECT_GT(i, previous);
      previous = i;
      ++seen[static_cast<size_t>(i)];
    }
  }
  EXPECT_THAT(seen, testing::Each(1));
}

TEST(DatasetSplitTest, DeterministicForASeed) {
  const Dataset ds = counting_dataset(50);
  const auto [train_a, test_a] = split(ds, 0.2, 123);
  const auto [train_b, test_b] = split(ds, 0.2, 123);
  const auto [train_c, test_c] = split(ds, 0.2, 124);
  EXPECT_EQ(test_a.num_examples, 10);
  EXPECT_EQ(train_a.features, train_b.features);
  EXPECT_EQ(test_a.features, test_b.features);
  EXPECT_EQ(test_a.labels, test_b.labels);
  EXPECT_NE(test_a.features, test_c.features);
}

TEST(DatasetSplitTest, InvalidFractions) {
  const Dataset ds = counting_dataset(10);
  for (double f : {0.0, 1.0, -0.1, 1.5, std::nan("")}) {
    EXPECT_THAT(error_of([&] { split(ds, f, 1); }),
                IsError(kInvalid, StartsWith("[split] test_fraction must be in (0, 1)")))
        << f;
  }
  EXPECT_THAT(error_of([&] { split(ds, 0.01, 1); }),
              IsError(kInvalid, "[split] test_fraction 0.01 of 10 examples leaves the test set "
                                "empty"));
  EXPECT_THAT(error_of([&] { split(ds, 0.99, 1); }),
              IsError(kInvalid, HasSubstr("leaves the training set empty")));
}

TEST(DatasetSplitTest, InconsistentDatasetIsAnError) {
  Dataset ds = counting_dataset(10);
  ds.labels.pop_back();
  EXPECT_THAT(error_of([&] { split(ds, 0.5, 1); }),
              IsError(kInvalid, "[split] dataset of 10 x 2 has 20 feature values and 9 labels"));
}

TEST(DatasetBatchTest, FillBatchCopiesRowsAndLabels) {
  const Dataset ds = counting_dataset(6);
  const std::vector<int64_t> indices{4, 0, 4};
  std::vector<float> features(indices.size() * 2, -99);
  std::vector<int32_t> labels(indices.size(), -99);
  fill_batch(ds, indices, features.data(), labels.data());
  EXPECT_THAT(features, ElementsAre(4, -4, 0, 0, 4, -4));
  EXPECT_THAT(labels, ElementsAre(1, 0, 1));

  std::vector<float> only_features(2, -99);
  fill_batch(ds, std::vector<int64_t>{5}, only_features.data(), nullptr);
  EXPECT_THAT(only_features, ElementsAre(5, -5));

  fill_batch(ds, {}, nullptr, nullptr);  // an empty batch writes nothing
}

TEST(DatasetBatchTest, FillBatchWithShuffledIndicesCoversAnEpoch) {
  const Dataset ds = counting_dataset(7);
  const std::vector<int64_t> order = shuffled_indices(ds.num_examples, 3);
  std::vector<float> seen;
  constexpr size_t kBatch = 3;
  for (size_t start = 0; start < order.size(); start += kBatch) {
    const std::span<const int64_t> batch =
        std::span<const int64_t>(order).subspan(start, std::min(kBatch, order.size() - start));
    std::vector<float> features(batch.size() * 2);
    std::vector<int32_t> labels(batch.size());
    fill_batch(ds, batch, features.data(), labels.data());
    for (size_t b = 0; b < batch.size(); ++b) seen.push_back(features[2 * b]);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_THAT(seen, ElementsAre(0, 1, 2, 3, 4, 5, 6));
}

TEST(DatasetBatchTest, FillBatchErrors) {
  const Dataset ds = counting_dataset(3);
  float features[4];
  int32_t labels[2];
  EXPECT_THAT(error_of([&] { fill_batch(ds, std::vector<int64_t>{0, 3}, features, labels); }),
              IsError(kInvalid,
                      "[fill_batch] index 3 (batch row 1) is out of range for 3 examples"));
  EXPECT_THAT(error_of([&] { fill_batch(ds, std::vector<int64_t>{-1}, features, labels); }),
              IsError(kInvalid, HasSubstr("index -1 (batch row 0) is out of range")));
  EXPECT_THAT(error_of([&] { fill_batch(ds, std::vector<int64_t>{0}, nullptr, labels); }),
              IsError(kInvalid, "[fill_batch] features_out is null"));
}

TEST(DatasetScalingTest, ScaleFeatures) {
  Dataset ds = parse_csv("a,b,l\n16,8,0\n0,4,1\n");
  scale_features(ds, 1.0f / 16);
  EXPECT_THAT(ds.features, ElementsAre(1.0f, 0.5f, 0.0f, 0.25f));
  EXPECT_THAT(error_of([&] { scale_features(ds, std::numeric_limits<float>::infinity()); }),
              IsError(kInvalid, HasSubstr("[scale_features] factor must be finite")));
}

TEST(DatasetScalingTest, StandardizeUsesTrainStatistics) {
  // Feature a: mean 2, population stddev 1 in train; feature b is constant (only centered).
  Dataset train = parse_csv("a,b,l\n1,5,0\n3,5,1\n");
  Dataset test = parse_csv("a,b,l\n2,7,0\n4,5,1\n");
  standardize(train, test);
  EXPECT_THAT(train.features, ElementsAre(-1.0f, 0.0f, 1.0f, 0.0f));
  EXPECT_THAT(test.features, ElementsAre(0.0f, 2.0f, 2.0f, 0.0f));

  Dataset narrow = parse_csv("a,l\n1,0\n");
  EXPECT_THAT(error_of([&] { standardize(train, narrow); }),
              IsError(kInvalid, "[standardize] train has 2 features, test 1"));
}

// ---------------------------------------------------------------------------------------------
// The embedded data set

TEST(DigitsDatasetTest, LoadsTheRepositoryCopy) {
#ifndef SCOPEFLOW_SOURCE_DATA_DIR
  GTEST_SKIP() << "SCOPEFLOW_SOURCE_DATA_DIR is not defined for this build, so the test cannot "
                  "find data/digits.csv";
#else
  const std::string path =
      (std::filesystem::path(SCOPEFLOW_SOURCE_DATA_DIR) / "digits.csv").string();
  const Dataset ds = load_csv(path);
  EXPECT_EQ(ds.num_examples, 1797);
  EXPECT_EQ(ds.num_features, 64);
  EXPECT_EQ(ds.num_classes, 10);
  ASSERT_EQ(ds.feature_names.size(), 64u);
  EXPECT_EQ(ds.feature_names.front(), "pixel_0");
  EXPECT_EQ(ds.feature_names.back(), "pixel_63");
  ASSERT_EQ(ds.features.size(), 1797u * 64u);
  const auto [lo, hi] = std::minmax_element(ds.features.begin(), ds.features.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 16.0f);
  for (float x : ds.features) ASSERT_EQ(x, static_cast<float>(static_cast<int>(x)));
  std::vector<int> per_class(10, 0);
  for (int32_t label : ds.labels) ++per_class[static_cast<size_t>(label)];
  EXPECT_THAT(per_class, ElementsAre(178, 182, 177, 183, 181, 182, 181, 179, 174, 180));
  // The first image is a 0.
  EXPECT_EQ(ds.labels.front(), 0);
  EXPECT_THAT(std::vector<float>(ds.features.begin(), ds.features.begin() + 8),
              ElementsAre(0, 0, 5, 13, 9, 1, 0, 0));
#endif
}

TEST(DigitsDatasetTest, EmbeddedCopyEqualsTheFile) {
#ifndef SCOPEFLOW_SOURCE_DATA_DIR
  GTEST_SKIP() << "SCOPEFLOW_SOURCE_DATA_DIR is not defined for this build, so the test cannot "
                  "find data/digits.csv";
#else
  const std::string path =
      (std::filesystem::path(SCOPEFLOW_SOURCE_DATA_DIR) / "digits.csv").string();
  std::ifstream file(path, std::ios::binary);
  ASSERT_TRUE(file) << path;
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(embedded_digits_csv().size(), bytes.size());
  EXPECT_TRUE(embedded_digits_csv() == bytes) << "the embedded digits differ from " << path;

  const Dataset from_file = load_csv(path);
  const Dataset embedded = load_digits();
  EXPECT_EQ(embedded.num_examples, from_file.num_examples);
  EXPECT_EQ(embedded.num_features, from_file.num_features);
  EXPECT_EQ(embedded.num_classes, from_file.num_classes);
  EXPECT_EQ(embedded.feature_names, from_file.feature_names);
  EXPECT_EQ(embedded.labels, from_file.labels);
  EXPECT_EQ(embedded.features, from_file.features);
  EXPECT_EQ(embedded.num_examples, 1797);
#endif
}

TEST(DigitsDatasetTest, EmbeddedCopyNeedsNoFile) {
  // SCOPEFLOW_DATA_DIR moves default_digits_path(), never load_digits().
  const char* old = std::getenv("SCOPEFLOW_DATA_DIR");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ASSERT_EQ(setenv("SCOPEFLOW_DATA_DIR", "/nonexistent/scopeflow-data", 1), 0);
  const Dataset digits = load_digits();
  if (saved) {
    setenv("SCOPEFLOW_DATA_DIR", saved->c_str(), 1);
  } else {
    unsetenv("SCOPEFLOW_DATA_DIR");
  }
  EXPECT_EQ(digits.num_examples, 1797);
  EXPECT_EQ(digits.num_features, 64);
  EXPECT_EQ(digits.num_classes, 10);
}


// ---------------------------------------------------------------------------------------------
// Hostile input

TEST(CsvHostileTest, CarriageReturnLineEndings) {
  const Dataset ds = parse_csv("f0,label\r1,0\r2,1\r", {}, "t.csv");
  EXPECT_EQ(ds.num_examples, 2);
  EXPECT_THAT(ds.features, ElementsAre(1, 2));
  const Dataset mixed = parse_csv("f0,label\r\n1,0\r2,1\n3,0", {}, "t.csv");
  EXPECT_THAT(mixed.labels, ElementsAre(0, 1, 0));
  EXPECT_THAT(parse_error("f0,label\r1,0\r?,1\r"),
              IsError(kInvalid, HasSubstr("t.csv:3: column 1 ('f0'): '?' is not a number")));
}

TEST(CsvHostileTest, NamesFromTheFileAreEscapedInMessages) {
  // A UTF-16 header's NUL bytes, an ESC sequence and invalid UTF-8 must not cut the message
  // or reach the terminal.
  constexpr char kHeader[] = "f\0o,\x1b[31mred,\xff\xfe,label\n";
  const std::string header(kHeader, sizeof kHeader - 1);
  const test::ThrownError e = parse_error(header + "1,2,3\n", {.label_column = "nope"});
  EXPECT_EQ(e.code, kInvalid);
  EXPECT_THAT(e.message, HasSubstr("'f\\x00o', '\\x1b[31mred', '\\xff\\xfe', 'label'"));
  EXPECT_EQ(e.message.find('\0'), std::string::npos);
  EXPECT_EQ(e.message.find('\x1b'), std::string::npos);
  EXPECT_THAT(parse_error(header + "1,?,3,0\n"),
              IsError(kInvalid, HasSubstr("column 2 ('\\x1b[31mred'): '?' is not a number")));
  // Valid UTF-8 stays readable.
  EXPECT_THAT(parse_error("caf\xc3\xa9,label\n?,0\n"),
              IsError(kInvalid, HasSubstr("column 1 ('caf\xc3\xa9')")));
  EXPECT_THAT(error_of([&] { parse_csv("a,l\n?,0\n", {}, "x\x1b.csv"); }),
              IsError(kInvalid, StartsWith("[parse_csv] x\\x1b.csv:2:")));
}

TEST(CsvHostileTest, ManyBlankLinesCostNoMemoryPerLine) {
  // 10 million newlines after the data: fine, and a row after them names the first blank.
  std::string text = "f0,label\n1,0\n";
  text.append(10'000'000, '\n');
  EXPECT_EQ(parse_csv(text, {}, "t.csv").num_examples, 1);
  text += "2,1\n";
  EXPECT_THAT(parse_error(text), IsError(kInvalid, HasSubstr("t.csv:3: the line is blank")));
}

TEST(CsvHostileTest, MemoryFollowsTheRowsNotALineCount) {
  // Many features, few rows: the features vector holds what was read, no more.
  std::string header, row;
  for (int i = 0; i < 1000; ++i) {
    absl::StrAppend(&header, "f", i, ",");
    absl::StrAppend(&row, i, ",");
  }
  const Dataset ds = parse_csv(header + "label\n" + row + "0\n", {}, "t.csv");
  EXPECT_EQ(ds.features.size(), 1000u);
  EXPECT_LE(ds.features.capacity(), 1000u);
}

TEST(CsvHostileTest, OnlyRegularFilesAreRead) {
  const std::string fifo = (std::filesystem::path(::testing::TempDir()) / "csv_dataset_test.fifo").string();
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer: a blocking open would hang here.
  EXPECT_THAT(error_of([&] { load_csv(fifo); }),
              IsError(kInvalid, AllOf(HasSubstr("is a FIFO"), HasSubstr("not a regular file"))));
  std::filesystem::remove(fifo);
  EXPECT_THAT(error_of([&] { load_csv("/dev/zero"); }),
              IsError(kInvalid, HasSubstr("/dev/zero: is a character device, not a regular file")));
  EXPECT_THAT(error_of([&] { load_csv(::testing::TempDir()); }),
              IsError(kInvalid, HasSubstr("is a directory, not a CSV file")));
}

TEST(CsvHostileTest, FileSizeLimit) {
  const TempFile file("csv_dataset_test_limit.csv", "f0,label\n1,0\n2,1\n");
  EXPECT_THAT(error_of([&] { load_csv(file.path(), {.max_file_bytes = 10}); }),
              IsError(absl::StatusCode::kResourceExhausted,
                      AllOf(HasSubstr("the file has 17 bytes, more than the limit of 10 bytes"),
                            HasSubstr("max_file_bytes"))));
  EXPECT_EQ(load_csv(file.path(), {.max_file_bytes = 17}).num_examples, 2);
  EXPECT_EQ(load_csv(file.path(), {.max_file_bytes = 0}).num_examples, 2);
  EXPECT_EQ(CsvOptions{}.max_file_bytes, int64_t{1} << 30);
}

}  // namespace
}  // namespace scopeflow::data
