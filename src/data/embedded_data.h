#pragma once
// Data files embedded in the library at build time; cmake/embed_file.cmake generates their
// definitions from data/.

#include <cstddef>

namespace scopeflow::data::embedded {

/// The bytes of data/digits.csv (digits_csv_size of them, then a terminating 0).
extern const unsigned char digits_csv[];
extern const std::size_t digits_csv_size;

}  // namespace scopeflow::data::embedded
