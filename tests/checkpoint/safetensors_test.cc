// safetensors files: layout (length, padded JSON header, sorted and aligned tensors), metadata,
// and bad input (cut short, header claiming more than the file, huge header length, holes).

#include "checkpoint/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "checkpoint/checkpoint_test_util.h"
#include "checkpoint/file_io.h"

namespace scopeflow::checkpoint {
namespace {

using ::testing::HasSubstr;

void write_raw(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file with the given JSON header (unpadded) followed by `data`.
std::string file_with_header(const std::string& json, const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return bytes + json + data;
}

std::vector<NamedTensor> sample_tensors() {
  return {{"layer/weights", Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6})},
          {"flag", Tensor::from_vector<bool>(Shape{3}, {true, false, true})},
          {"global_step", Tensor::scalar<int64_t>(42)},
          {"half", Tensor::from_vector<Float16>(Shape{1}, {Float16(1.5f)})}};
}

TEST(SafetensorsTest, LayoutIsPaddedSortedAndAligned) {
  absl::StatusOr<std::string> bytes = encode_safetensors(sample_tensors(), {{"global_step", "42"}});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes->data(), 8);
  EXPECT_EQ(header_size % 8, 0u);
  const std::string header = bytes->substr(8, header_size);
  EXPECT_EQ(header.front(), '{');
  // Largest elements first, then by name: I64 step, F32 weights, F16, BOOL.
  EXPECT_THAT(header, HasSubstr(R"("__metadata__":{"global_step":"42"},"global_step":{"dtype":"I64","shape":[],)"
                                R"("data_offsets":[0,8]},"layer/weights":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]},)"
                                R"("half":{"dtype":"F16","shape":[1],"data_offsets":[32,34]},)"
                                R"("flag":{"dtype":"BOOL","shape":[3],"data_offsets":[34,37]}})"));
  EXPECT_EQ(bytes->size(), 8 + header_size + 37);
}

TEST(SafetensorsTest, WritesAndReadsBackWithMetadata) {
  const std::string path = test::fresh_folder() + "/t.safetensors";
  ASSERT_TRUE(write_safetensors(path, sample_tensors(), {{"optimizer", "adam"}}).ok());
  absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_safetensors(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->metadata().at("optimizer"), "adam");
  ASSERT_EQ((*reader)->tensors().size(), 4u);
  EXPECT_EQ((*reader)->tensors()[0].name, "flag");
  EXPECT_EQ((*reader)->read("flag")->to_vector<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ((*reader)->read("layer/weights")->to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(SafetensorsTest, CutAtEveryOffsetIsAnError) {
  const std::string path = test::fresh_folder() + "/t.safetensors";
  const std::string bytes = *encode_safetensors(sample_tensors(), {});
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    write_raw(path, bytes.substr(0, cut));
    absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_safetensors(path);
    ASSERT_FALSE(reader.ok()) << "cut at " << cut;
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << reader.status();
  }
}

TEST(SafetensorsTest, BadHeadersAreClearErrors) {
  const std::string path = test::fresh_folder() + "/bad.safetensors";
  auto error_of = [&](const std::string& bytes) {
    write_raw(path, bytes);
    absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_safetensors(path);
    EXPECT_FALSE(reader.ok());
    return std::string(reader.status().message());
  };
  std::string huge(8, '\xff');
  EXPECT_THAT(error_of(huge + "{}"), HasSubstr("exceeds the limit"));
  std::string claims_more = file_with_header("{}", "");
  claims_more[0] = 100;
  EXPECT_THAT(error_of(claims_more), HasSubstr("the header claims 100 bytes, but the file holds only 2"));
  EXPECT_THAT(error_of(file_with_header("{not json", "")), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of(file_with_header("[1,2]", "")), HasSubstr("not a JSON object"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", std::string(12, 'x'))),
              HasSubstr("tensor 't' has 12 bytes, but its shape (2,) of float32 needs 8"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(4, 'x'))),
              HasSubstr("claims bytes [0, 8) but the file holds 4"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, 'x'))),
              HasSubstr("starts at data offset 4"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(8, 'x'))),
              HasSubstr("not fully covered"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "")),
              HasSubstr("not a size"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "")),
              HasSubstr("more elements than int64 counts"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"dtype":"C128","shape":[],"data_offsets":[0,16]}})", std::string(16, 'x'))),
              HasSubstr("dtype C128"));
  EXPECT_THAT(error_of(file_with_header(R"({"__metadata__":{"a":1}})", "")), HasSubstr("metadata 'a' is not a string"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"shape":[]}})", "")), HasSubstr("lacks a string dtype"));
  EXPECT_THAT(error_of("short"), HasSubstr("shorter than the header length"));
  EXPECT_THAT(error_of(file_with_header(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                        R"("t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "ab")),
              HasSubstr("names 't' twice"));
}

TEST(SafetensorsTest, ReadsUnpaddedHeadersAndEmptyTensors) {
  const std::string path = test::fresh_folder() + "/ok.safetensors";
  write_raw(path, file_with_header(R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})",
                                   std::string("\x07\0\0\0", 4)));
  absl::StatusOr<std::unique_ptr<CheckpointReader>> reader = open_safetensors(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->read("s")->to_vector<int32_t>(), std::vector<int32_t>{7});
  EXPECT_EQ((*reader)->read("e")->shape(), (Shape{0, 3}));
}

}  // namespace
}  // namespace scopeflow::checkpoint
