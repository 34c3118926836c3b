#pragma once
// Bridges std::string_view (our API) and absl::string_view, which differ in some Abseil builds;
// escapes text from outside (file contents, names) for error messages.

#include <string>
#include <string_view>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace scopeflow {

inline absl::string_view to_absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

/// `s` fit for a message on a terminal: valid UTF-8 printable text as it is; control bytes
/// (NUL, ESC, ...), DEL, C1 controls, backslashes and bytes of invalid UTF-8 as C escapes
/// ("\x1b", "\n", "\\"), so that no byte from a file can cut a message or drive a terminal.
inline std::string escape_for_message(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      if (c == '\\') out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    // The length and smallest code point of a UTF-8 sequence starting with c (0: invalid).
    const size_t length = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (length != 0 && i + length <= s.size()) {
      char32_t code = c & (0x7f >> length);
      bool valid = true;
      for (size_t k = 1; k < length; ++k) {
        const auto t = static_cast<unsigned char>(s[i + k]);
        if ((t & 0xc0) != 0x80) valid = false;
        code = (code << 6) | (t & 0x3f);
      }
      const char32_t smallest = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
      // Overlong forms, surrogates, code points past U+10FFFF and C1 controls are escaped.
      if (valid && code >= smallest && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) &&
          !(code >= 0x80 && code <= 0x9f)) {
        out.append(s.substr(i, length));
        i += length;
        continue;
      }
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: absl::StrAppendFormat(&out, "\\x%02x", c);
    }
    ++i;
  }
  return out;
}

}  // namespace scopeflow
