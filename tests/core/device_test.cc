#include "scopeflow/device.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

namespace scopeflow {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(DeviceTest, PrintsTensorFlowDeviceStrings) {
  EXPECT_EQ(Device::cpu().to_string(), "/device:CPU:0");
  EXPECT_EQ(Device::cuda(3).to_string(), "/device:GPU:3");
}

TEST(ParseDeviceTest, AcceptsEveryValidForm) {
  const struct {
    const char* name;
    std::optional<Device> device;
  } cases[] = {
      {"cpu", Device::cpu()},       {"CPU", Device::cpu()},         {"cuda", Device::cuda(0)},
      {"gpu", Device::cuda(0)},     {"cuda:0", Device::cuda(0)},    {"cuda:1", Device::cuda(1)},
      {"GPU:7", Device::cuda(7)},   {"cuda:007", Device::cuda(7)},  {"gpu:2147483647", Device::cuda(2147483647)},
      {"auto", std::nullopt},       {"Auto", std::nullopt},
  };
  for (const auto& c : cases) {
    const absl::StatusOr<std::optional<Device>> parsed = parse_device(c.name);
    ASSERT_TRUE(parsed.ok()) << c.name << ": " << parsed.status();
    EXPECT_EQ(*parsed, c.device) << c.name;
  }
}

TEST(ParseDeviceTest, RefusesAnythingElseNamingTheStringAndTheValidForms) {
  // "cuda1", "gpu7" and "cudafoo" once ran on device 0.
  for (const char* bad : {"cuda1", "gpu7", "cudafoo", "gpufoo", "cuda:", "cuda:x", "cuda:-1", "cuda:+1",
                          "cuda:1x", "cuda: 1", "cuda:1 ", " cuda", "cuda:2147483648",
                          "cuda:99999999999999999999", "cuda::1", "cuda:1:2", "tpu", "cpu:0", "cpux", "",
                          "/device:GPU:0"}) {
    const absl::StatusOr<std::optional<Device>> parsed = parse_device(bad);
    ASSERT_FALSE(parsed.ok()) << "'" << bad << "' was accepted";
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    const std::string message(parsed.status().message());
    EXPECT_THAT(message, StartsWith("[device]")) << bad;
    EXPECT_THAT(message, HasSubstr(absl::StrCat("'", bad, "'")));
    EXPECT_THAT(message, HasSubstr("cpu, cuda, cuda:N, gpu, gpu:N, auto")) << bad;
  }
}

}  // namespace
}  // namespace scopeflow
