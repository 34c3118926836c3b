#pragma once
// Error type thrown for programming errors in model code (see the error policy).

#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace scopeflow {

/// Thrown for invalid model code: reuse conflicts, bad shapes, bad feeds, unknown ops.
/// The message starts with the failing function or op name in brackets, e.g. "[matmul] ...".
class Error : public std::runtime_error {
 public:
  Error(absl::StatusCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  /// The absl status code that classifies the failure.
  absl::StatusCode code() const noexcept { return code_; }

  /// The same failure as an absl::Status, for APIs that return statuses.
  absl::Status status() const { return absl::Status(code_, what()); }

 private:
  absl::StatusCode code_;
};

/// Throws Error(code, "[where] " + pieces...).
template <typename... Pieces>
[[noreturn]] void throw_error(absl::StatusCode code, std::string_view where,
                              const Pieces&... pieces) {
  throw Error(code, absl::StrCat("[", where, "] ", pieces...));
}

/// Shorthand for the most common case: an invalid argument.
template <typename... Pieces>
[[noreturn]] void throw_invalid(std::string_view where, const Pieces&... pieces) {
  throw_error(absl::StatusCode::kInvalidArgument, where, pieces...);
}

}  // namespace scopeflow
