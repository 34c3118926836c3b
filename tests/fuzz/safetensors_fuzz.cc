// libFuzzer target for the safetensors reader (scripts/fuzz.sh builds and runs it). The input
// is the file. Any crash, hang, sanitizer report or large allocation (-rss_limit_mb) is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "checkpoint/safetensors.h"
#include "checkpoint_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = scopeflow::fuzz::scratch_folder() + "/t.safetensors";
  scopeflow::fuzz::write_input(path, std::string_view(reinterpret_cast<const char*>(data), size));
  scopeflow::fuzz::read_everything(scopeflow::checkpoint::open_safetensors(path));
  return 0;
}
