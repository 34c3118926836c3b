#pragma once
// An aligned text table of results (the human-readable half of every bench report).

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "format.h"

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// Table

/// Rows of string cells under column headers, printed with aligned columns. Columns whose
/// cells all look numeric are right-aligned.
struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;

  Table() = default;
  explicit Table(std::vector<std::string> column_headers) : headers(std::move(column_headers)) {}

  /// Throws std::invalid_argument when the row has another number of cells than headers.
  void add_row(std::vector<std::string> cells) {
    if (cells.size() != headers.size()) {
      throw std::invalid_argument("Table::add_row: " + std::to_string(cells.size()) +
                                  " cells for " + std::to_string(headers.size()) + " columns");
    }
    rows.push_back(std::move(cells));
  }

  std::string to_string() const {
    const size_t columns = headers.size();
    std::vector<size_t> width(columns, 0);
    std::vector<bool> numeric(columns, !rows.empty());
    for (size_t c = 0; c < columns; ++c) width[c] = display_width(headers[c]);
    for (const auto& row : rows) {
      for (size_t c = 0; c < columns; ++c) {
        width[c] = std::max(width[c], display_width(row[c]));
        if (!row[c].empty() && !looks_numeric(row[c])) numeric[c] = false;
      }
    }
    std::string text;
    auto append_row = [&](const std::vector<std::string>& cells) {
      std::string line;
      for (size_t c = 0; c < columns; ++c) {
        const std::string pad(width[c] - display_width(cells[c]), ' ');
        if (c > 0) line += "  ";
        line += numeric[c] ? pad + cells[c] : cells[c] + pad;
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      text += line + "\n";
    };
    append_row(headers);
    std::vector<std::string> rule(columns);
    for (size_t c = 0; c < columns; ++c) rule[c] = std::string(width[c], '-');
    append_row(rule);
    for (const auto& row : rows) append_row(row);
    return text;
  }

  static size_t display_width(std::string_view s) {
    // UTF-8: count code points, not bytes (continuation bytes are 10xxxxxx).
    size_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80 ? 1 : 0;
    return n;
  }
  static bool looks_numeric(std::string_view s) {
    size_t i = 0;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (i < s.size() && s[i] == '.') ++i;
    return i < s.size() && s[i] >= '0' && s[i] <= '9';
  }
};

}  // namespace scopeflow::bench
