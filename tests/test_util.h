#pragma once
// Small helpers shared by the unit tests: catching a scopeflow::Error and matching it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <exception>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "scopeflow/dtype.h"
#include "scopeflow/error.h"
#include "scopeflow/tensor.h"

namespace scopeflow::test {

/// What a call threw: the Error's status code and its what().
struct ThrownError {
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
};

inline void PrintTo(const ThrownError& e, std::ostream* os) {
  *os << "Error(" << absl::StatusCodeToString(e.code) << ", \"" << e.message << "\")";
}

/// Runs `f` and returns the scopeflow::Error it throws; records a test failure (and returns
/// code kOk) when it throws nothing, or kUnknown when it throws another exception.
template <class F>
ThrownError error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected scopeflow::Error, got another exception: " << e.what();
    return {absl::StatusCode::kUnknown, e.what()};
  }
  ADD_FAILURE() << "expected scopeflow::Error, but nothing was thrown";
  return {};
}

/// The what() of the scopeflow::Error that `f` throws (see error_of).
template <class F>
std::string error_message_of(F&& f) {
  return error_of(std::forward<F>(f)).message;
}

/// Matches a ThrownError with status `code` whose message matches `message_matcher`.
MATCHER_P2(IsError, code, message_matcher,
           std::string("is an Error with code ") + absl::StatusCodeToString(code)) {
  if (arg.code != code) {
    *result_listener << "whose code is " << absl::StatusCodeToString(arg.code);
    return false;
  }
  return ::testing::ExplainMatchResult(message_matcher, arg.message, result_listener);
}

/// Matches a ThrownError with status `code`.
MATCHER_P(HasCode, code, std::string("has code ") + absl::StatusCodeToString(code)) {
  return arg.code == code;
}

/// The elements of a host tensor of any dtype as doubles.
inline std::vector<double> values_of(const Tensor& t) {
  return dispatch_dtype(t.dtype(), [&]<class T>() {
    std::vector<double> out;
    for (const T& x : t.to_vector<T>()) {
      if constexpr (is_half_type_v<T>) {
        out.push_back(static_cast<float>(x));
      } else {
        out.push_back(static_cast<double>(x));
      }
    }
    return out;
  });
}

}  // namespace scopeflow::test
