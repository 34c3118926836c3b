#pragma once
// The scope filter of get_collection: TensorFlow's re.match(scope, item.name), a regular
// expression matched at the start of the name.

#include <memory>
#include <string>
#include <string_view>

namespace scopeflow {

class ScopeFilter {
 public:
  /// An empty pattern matches every name. Throws Error("[where] ...") for a bad expression.
  ScopeFilter(std::string_view where, std::string_view pattern);
  ~ScopeFilter();
  ScopeFilter(const ScopeFilter&) = delete;
  ScopeFilter& operator=(const ScopeFilter&) = delete;

  bool matches(const std::string& name) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace scopeflow
