#pragma once
// Error type thrown for programming errors in model code (see the error policy).

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

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

namespace detail {
// absl::StrCat takes absl::string_view, which is not std::string_view in every Abseil build.
template <typename T>
decltype(auto) to_str_cat_arg(const T& piece) {
  if constexpr (std::is_convertible_v<const T&, std::string_view> &&
                !std::is_convertible_v<const T&, absl::string_view>) {
    const std::string_view view = piece;
    return absl::string_view(view.data(), view.size());
  } else {
    return (piece);
  }
}
}  // namespace detail

/// Throws Error(code, "[where] " + pieces...).
template <typename... Pieces>
[[noreturn]] void throw_error(absl::StatusCode code, std::string_view where,
                              const Pieces&... pieces) {
  throw Error(code, absl::StrCat("[", detail::to_str_cat_arg(where), "] ",
                                 detail::to_str_cat_arg(pieces)...));
}

/// Shorthand for the most common case: an invalid argument.
template <typename... Pieces>
[[noreturn]] void throw_invalid(std::string_view where, const Pieces&... pieces) {
  throw_error(absl::StatusCode::kInvalidArgument, where, pieces...);
}

}  // namespace scopeflow
