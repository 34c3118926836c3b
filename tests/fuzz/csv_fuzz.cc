// libFuzzer target for the CSV parser (scripts/fuzz.sh builds and runs it). The first byte picks
// the options; the rest is the text. Any exception other than scopeflow::Error, any crash,
// hang or sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "data/embedded_data.h"
#include "scopeflow/data.h"
#include "scopeflow/error.h"

#ifdef SCOPEFLOW_FUZZ_STANDALONE
// Built from csv_dataset.cc alone: the embedded digits the library would carry.
namespace scopeflow::data::embedded {
const unsigned char digits_csv[] = {0};
const std::size_t digits_csv_size = 0;
}  // namespace scopeflow::data::embedded
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  scopeflow::data::CsvOptions options;
  options.has_header = (selector & 1) == 0;
  constexpr char kDelimiters[] = {',', ';', '\t', '|'};
  options.delimiter = kDelimiters[(selector >> 1) & 3];
  if ((selector & 8) != 0) options.label_column = "label";
  if ((selector & 16) != 0) options.label_column = "column_0";
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const scopeflow::data::Dataset ds = scopeflow::data::parse_csv(text, options, "fuzz.csv");
    // What the parser promises about a dataset it returns.
    if (ds.num_examples <= 0 || ds.num_features <= 0 ||
        ds.features.size() != static_cast<size_t>(ds.num_examples * ds.num_features) ||
        ds.labels.size() != static_cast<size_t>(ds.num_examples) ||
        ds.feature_names.size() != static_cast<size_t>(ds.num_features)) {
      __builtin_trap();
    }
    for (int32_t label : ds.labels) {
      if (label < 0 || label >= ds.num_classes) __builtin_trap();
    }
  } catch (const scopeflow::Error&) {
  }
  return 0;
}
