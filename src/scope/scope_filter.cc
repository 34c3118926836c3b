// std::regex rather than a hand-written matcher: TensorFlow's filter is a full regular
// expression. g++ 12 warns (falsely) about <regex> internals at -O2 with the sanitizers, so this
// file, which holds nothing else, turns that one warning off.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "scope/scope_filter.h"

#include <regex>

#include "scopeflow/error.h"

namespace scopeflow {

struct ScopeFilter::Compiled {
  std::regex expression;
};

ScopeFilter::ScopeFilter(std::string_view where, std::string_view pattern) {
  if (pattern.empty()) return;
  try {
    compiled_ = std::make_unique<Compiled>(Compiled{std::regex(std::string(pattern), std::regex::ECMAScript)});
  } catch (const std::regex_error& e) {
    throw_invalid(where, "scope filter '", pattern, "' is not a valid regular expression: ", e.what());
  }
}

ScopeFilter::~ScopeFilter() = default;

bool ScopeFilter::matches(const std::string& name) const {
  return compiled_ == nullptr ||
         std::regex_search(name, compiled_->expression, std::regex_constants::match_continuous);
}

}  // namespace scopeflow
