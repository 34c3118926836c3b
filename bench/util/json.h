#pragma once
// JSON of the bench reports, on nlohmann::json: a writer that keeps keys in call order and a
// reader of the flat JSON lines the peer timing scripts print.

#include <concepts>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "nlohmann/json.hpp"

namespace scopeflow::bench {

/// Compact JSON in call order: same calls, same bytes. Misuse (a value where a key is due,
/// unbalanced ends) throws std::logic_error.
class JsonWriter {
 public:
  JsonWriter& begin_object() { return begin(nlohmann::ordered_json::object()); }
  JsonWriter& end_object() {
    if (stack_.empty() || !stack_.back()->is_object() || key_pending_) {
      throw std::logic_error("JsonWriter: end_object without a matching begin_object");
    }
    stack_.pop_back();
    return *this;
  }
  JsonWriter& begin_array() { return begin(nlohmann::ordered_json::array()); }
  JsonWriter& end_array() {
    if (stack_.empty() || !stack_.back()->is_array()) {
      throw std::logic_error("JsonWriter: end_array without a matching begin_array");
    }
    stack_.pop_back();
    return *this;
  }
  JsonWriter& key(std::string_view name) {
    if (stack_.empty() || !stack_.back()->is_object() || key_pending_) {
      throw std::logic_error("JsonWriter: key outside an object");
    }
    key_ = std::string(name);
    key_pending_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view s) { return put(std::string(s)); }
  // Without this overload a string literal would pick value(bool).
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) { return put(b); }
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
  JsonWriter& value(T v) {
    return put(v);
  }
  /// Shortest round-trip form; NaN and infinities (not JSON) become null.
  JsonWriter& value(double v) { return put(v); }
  JsonWriter& null() { return put(nullptr); }
  /// key(name) then value(v).
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  /// True when every begun object and array has ended and something was written.
  bool complete() const { return stack_.empty() && started_; }
  /// The document; throws std::logic_error while objects or arrays are still open.
  std::string str() const {
    if (!complete()) throw std::logic_error("JsonWriter: document is not complete");
    // Names may hold any bytes: invalid UTF-8 is replaced rather than thrown.
    return root_.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }

 private:
  JsonWriter& begin(nlohmann::ordered_json empty) {
    stack_.push_back(&place(std::move(empty)));
    return *this;
  }
  JsonWriter& put(nlohmann::ordered_json v) {
    place(std::move(v));
    return *this;
  }
  // Puts v where the next value goes (top level, array element or the pending key's value).
  nlohmann::ordered_json& place(nlohmann::ordered_json v) {
    if (stack_.empty()) {
      if (started_) throw std::logic_error("JsonWriter: more than one top-level value");
      started_ = true;
      root_ = std::move(v);
      return root_;
    }
    nlohmann::ordered_json& top = *stack_.back();
    if (top.is_object()) {
      if (!key_pending_) throw std::logic_error("JsonWriter: value in an object needs a key");
      key_pending_ = false;
      // A repeated key keeps its first place, as the object's members must stay unique.
      nlohmann::ordered_json& slot = top[key_];
      slot = std::move(v);
      return slot;
    }
    top.push_back(std::move(v));
    return top.back();
  }

  nlohmann::ordered_json root_;
  // The open containers, outermost first. Only the innermost one grows, so the nodes of the
  // others (and their addresses) stay put.
  std::vector<nlohmann::ordered_json*> stack_;
  std::string key_;
  bool key_pending_ = false;
  bool started_ = false;
};

/// A scalar JSON value: null, true/false, a number or a string.
using JsonScalar = std::variant<std::nullptr_t, bool, double, std::string>;

/// The scalar members of one JSON object, by key.
struct JsonFlatObject {
  std::vector<std::pair<std::string, JsonScalar>> members;

  const JsonScalar* find(std::string_view key) const {
    for (const auto& [name, value] : members) {
      if (name == key) return &value;
    }
    return nullptr;
  }
  /// The member as T (bool, double or std::string), or std::nullopt when absent or of another type.
  template <typename T>
  std::optional<T> get(std::string_view key) const {
    const JsonScalar* value = find(key);
    if (value == nullptr) return std::nullopt;
    const T* typed = std::get_if<T>(value);
    if (typed == nullptr) return std::nullopt;
    return *typed;
  }
};

/// Parses one JSON object and keeps its scalar members (nested objects and arrays are
/// validated and left out). On failure returns false and sets *error.
inline bool parse_json_object(std::string_view text, JsonFlatObject* out, std::string* error) {
  *out = JsonFlatObject{};
  const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    *error = "not valid JSON";
    return false;
  }
  if (!doc.is_object()) {
    *error = "expected a JSON object";
    return false;
  }
  for (const auto& [key, value] : doc.items()) {
    if (value.is_null()) out->members.emplace_back(key, nullptr);
    else if (value.is_boolean()) out->members.emplace_back(key, value.get<bool>());
    else if (value.is_number()) out->members.emplace_back(key, value.get<double>());
    else if (value.is_string()) out->members.emplace_back(key, value.get<std::string>());
  }
  return true;
}

}  // namespace scopeflow::bench
