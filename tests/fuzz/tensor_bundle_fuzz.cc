// libFuzzer target for the TensorFlow checkpoint reader (scripts/fuzz.sh builds and runs it).
// Input: a 4-byte little-endian length n, n bytes of `.index`, the rest is the data file.
// Any crash, hang, sanitizer report or large allocation (-rss_limit_mb) is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "checkpoint/tensor_bundle.h"
#include "checkpoint_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint32_t index_size = static_cast<uint32_t>(data[0]) | (static_cast<uint32_t>(data[1]) << 8) |
                              (static_cast<uint32_t>(data[2]) << 16) | (static_cast<uint32_t>(data[3]) << 24);
  const std::string_view rest(reinterpret_cast<const char*>(data + 4), size - 4);
  const std::string_view index = rest.substr(0, index_size);
  const std::string_view tensors = rest.substr(index.size());
  const std::string prefix = scopeflow::fuzz::scratch_folder() + "/ckpt";
  scopeflow::fuzz::write_input(scopeflow::checkpoint::bundle_index_path(prefix), index);
  scopeflow::fuzz::write_input(scopeflow::checkpoint::bundle_data_path(prefix), tensors);
  scopeflow::fuzz::read_everything(scopeflow::checkpoint::open_tensor_bundle(prefix));
  return 0;
}
