#pragma once
// Bridges std::string_view (our API) and absl::string_view, which differ in some Abseil builds.

#include <string_view>

#include "absl/strings/string_view.h"

namespace scopeflow {

inline absl::string_view to_absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace scopeflow
