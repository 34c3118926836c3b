// TensorFlow V2 checkpoint files: the table format, TensorFlow's own bytes for a known entry,
// and bad input (cut short, corrupt, wrong magic, missing data, sizes not matching shapes).

#include "checkpoint/tensor_bundle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint_test_util.h"
#include "checkpoint/file_io.h"
#include "checkpoint/table.h"
#include "export/crc32c.h"
#include "proto/tensor_bundle.pb.h"

namespace scopeflow::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string read_all(const std::string& path) { return *read_file(path); }

void write_raw(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<NamedTensor> sample_tensors() {
  return {{"layer/weights", Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6})},
          {"global_step", Tensor::scalar<int64_t>(42)},
          {"layer/biases", Tensor::from_vector<float>(Shape{3}, {-1, 0, 1})}};
}

TEST(TableTest, RoundTripsManyEntriesOverSeveralBlocks) {
  std::vector<TableEntry> entries{{"", "header"}};
  for (int i = 0; i < 3000; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "scope/var_%05d", i);
    entries.emplace_back(key, std::string(200 + i % 7, static_cast<char>('a' + i % 26)));
  }
  const std::string bytes = build_table(entries);
  EXPECT_GT(bytes.size(), 2u * 262144u);  // more than one data block
  absl::StatusOr<std::vector<TableEntry>> parsed = parse_table(bytes, "table");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, entries);
}

TEST(TableTest, EmptyBlockAndFooterMatchLevelDbLayout) {
  const std::string bytes = build_table({});
  // Empty data: an empty metaindex block (8 bytes + 5 trailer), an empty index block, footer.
  ASSERT_EQ(bytes.size(), 13u + 13u + kTableFooterSize);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\0\0\0\0\1\0\0\0", 8));
  EXPECT_EQ(bytes.substr(bytes.size() - 8), std::string("\x57\xfb\x80\x8b\x24\x75\x47\xdb", 8));
}

TEST(TensorBundleTest, EntryBytesMatchTensorFlow) {
  // TensorFlow's entry for float[3] at offset 8: 08 01 12 04 12 02 08 03 20 08 28 0c 35 <crc>.
  tfproto::BundleEntryProto entry;
  entry.set_dtype(tfproto::DT_FLOAT);
  entry.mutable_shape()->add_dim()->set_size(3);
  entry.set_offset(8);
  entry.set_size(12);
  entry.set_crc32c(0x01020304);
  EXPECT_EQ(entry.SerializeAsString(), std::string("\x08\x01\x12\x04\x12\x02\x08\x03\x20\x08\x28\x0c\x35\x04\x03\x02\x01", 17));
}

TEST(TensorBundleTest, WritesAndReadsBack) {
  const std::string prefix = test::fresh_folder() + "/ckpt";
  ASSERT_TRUE(write_tensor_bundle(prefix, sample_tensors()).ok());
  EXPECT_EQ(fs::file_size(bundle_data_path(prefix)), 24u + 8u + 12u);
  absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_tensor_bundle(prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->tensors().size(), 3u);
  EXPECT_EQ((*reader)->tensors()[0].name, "global_step");
  EXPECT_EQ((*reader)->tensors()[2].shape, (Shape{2, 3}));
  absl::StatusOr<Tensor> weights = (*reader)->read("layer/weights");
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ((*reader)->read("nope").status().code(), absl::StatusCode::kNotFound);
  // No temporary files remain.
  for (const auto& entry : fs::directory_iterator(fs::path(prefix).parent_path())) {
    EXPECT_EQ(entry.path().string().find(kTempMarker), std::string::npos) << entry.path();
  }
}

TEST(TensorBundleTest, DuplicateNamesAreRefused) {
  std::vector<NamedTensor> tensors = sample_tensors();
  tensors.push_back(tensors[0]);
  EXPECT_THAT(std::string(write_tensor_bundle(test::fresh_folder() + "/dup", tensors).message()),
              HasSubstr("'layer/weights' appears twice"));
}

// Every cut of the index file, at every byte offset: a clear error, never a crash.
TEST(TensorBundleTest, IndexCutAtEveryOffsetIsAnError) {
  const std::string prefix = test::fresh_folder() + "/ckpt";
  ASSERT_TRUE(write_tensor_bundle(prefix, sample_tensors()).ok());
  const std::string index = read_all(bundle_index_path(prefix));
  for (size_t cut = 0; cut < index.size(); ++cut) {
    write_raw(bundle_index_path(prefix), index.substr(0, cut));
    absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_tensor_bundle(prefix);
    EXPECT_FALSE(reader.ok()) << "cut at " << cut;
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << reader.status();
  }
}

TEST(TensorBundleTest, DataCutAtEveryOffsetIsAnError) {
  const std::string prefix = test::fresh_folder() + "/ckpt";
  ASSERT_TRUE(write_tensor_bundle(prefix, sample_tensors()).ok());
  const std::string data = read_all(bundle_data_path(prefix));
  for (size_t cut = 0; cut < data.size(); ++cut) {
    write_raw(bundle_data_path(prefix), data.substr(0, cut));
    absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_tensor_bundle(prefix);
    ASSERT_FALSE(reader.ok()) << "cut at " << cut;
    EXPECT_THAT(std::string(reader.status().message()), HasSubstr("cut short")) << cut;
  }
}

TEST(TensorBundleTest, EveryCorruptIndexByteIsDetected) {
  const std::string prefix = test::fresh_folder() + "/ckpt";
  ASSERT_TRUE(write_tensor_bundle(prefix, sample_tensors()).ok());
  const std::string index = read_all(bundle_index_path(prefix));
  // The zero padding after the footer's block handles is unchecked (by LevelDB too).
  const size_t footer = index.size() - kTableFooterSize;
  size_t padding_start = footer + kTableFooterSize - 8;
  while (padding_start > footer && index[padding_start - 1] == 0) --padding_start;
  for (size_t i = 0; i < index.size(); ++i) {
    std::string corrupt = index;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x20);
    write_raw(bundle_index_path(prefix), corrupt);
    absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_tensor_bundle(prefix);
    if (i < padding_start || i >= index.size() - 8) {
      EXPECT_FALSE(reader.ok()) << "byte " << i;
    }
  }
}

TEST(TensorBundleTest, WrongMagicAndChecksumMismatchAreNamed) {
  const std::string prefix = test::fresh_folder() + "/ckpt";
  ASSERT_TRUE(write_tensor_bundle(prefix, sample_tensors()).ok());
  std::string index = read_all(bundle_index_path(prefix));
  std::string bad_magic = index;
  bad_magic[bad_magic.size() - 1] = 0;
  write_raw(bundle_index_path(prefix), bad_magic);
  EXPECT_THAT(std::string(open_tensor_bundle(prefix).status().message()), HasSubstr("bad magic number"));
  std::string bad_block = index;
  bad_block[3] = static_cast<char>(bad_block[3] ^ 1);
  write_raw(bundle_index_path(prefix), bad_block);
  EXPECT_THAT(std::string(open_tensor_bundle(prefix).status().message()), HasSubstr("block checksum mismatch"));

  write_raw(bundle_index_path(prefix), index);
  std::string data = read_all(bundle_data_path(prefix));
  data[data.size() - 1] = static_cast<char>(data[data.size() - 1] ^ 1);  // in layer/weights
  write_raw(bundle_data_path(prefix), data);
  absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_tensor_bundle(prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();  // checksums are checked per tensor when read
  EXPECT_TRUE((*reader)->read("layer/biases").ok());
  absl::StatusOr<Tensor> weights = (*reader)->read("layer/weights");
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("checksum of tensor 'layer/weights' does not match"));
}

TEST(TensorBundleTest, MissingDataFileIsNamed) {
  const std::string prefix = test::fresh_folder() + "/ckpt";
  ASSERT_TRUE(write_tensor_bundle(prefix, sample_tensors()).ok());
  fs::remove(bundle_data_path(prefix));
  absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_tensor_bundle(prefix);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(reader.status().message()), HasSubstr("data file"));
}

// An index written by hand (as another writer could) with one bad entry.
std::string index_with_entry(const tfproto::BundleEntryProto& entry) {
  tfproto::BundleHeaderProto header;
  header.set_num_shards(1);
  header.mutable_version()->set_producer(1);
  return build_table({{"", header.SerializeAsString()}, {"t", entry.SerializeAsString()}});
}

TEST(TensorBundleTest, SizeNotMatchingShapeAndHugeShapesAreRefused) {
  const std::string prefix = test::fresh_folder() + "/ckpt";
  write_raw(bundle_data_path(prefix), std::string(16, '\0'));
  tfproto::BundleEntryProto entry;
  entry.set_dtype(tfproto::DT_FLOAT);
  entry.mutable_shape()->add_dim()->set_size(3);
  entry.set_size(16);
  write_raw(bundle_index_path(prefix), index_with_entry(entry));
  EXPECT_THAT(std::string(open_tensor_bundle(prefix).status().message()),
              HasSubstr("tensor 't' has 16 bytes, but its shape (3,) of float32 needs 12"));

  entry.mutable_shape()->mutable_dim(0)->set_size(int64_t{1} << 62);  // no allocation is tried
  entry.set_size(int64_t{1} << 62);
  write_raw(bundle_index_path(prefix), index_with_entry(entry));
  EXPECT_FALSE(open_tensor_bundle(prefix).ok());

  entry.mutable_shape()->mutable_dim(0)->set_size(-1);
  write_raw(bundle_index_path(prefix), index_with_entry(entry));
  EXPECT_THAT(std::string(open_tensor_bundle(prefix).status().message()), HasSubstr("negative dimension"));

  entry.mutable_shape()->mutable_dim(0)->set_size(4);
  entry.set_dtype(tfproto::DT_STRING);
  write_raw(bundle_index_path(prefix), index_with_entry(entry));
  EXPECT_EQ(open_tensor_bundle(prefix).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace scopeflow::checkpoint
