#include "scopeflow/shape.h"

#include <limits>

#include "absl/strings/str_join.h"
#include "scopeflow/error.h"

namespace scopeflow {

namespace {

int64_t checked_element_count(const std::vector<int64_t>& dims) {
  int64_t count = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      throw_invalid("shape", "dimension ", i, " is negative (", dims[i], ") in (",
                    absl::StrJoin(dims, ", "), ")");
    }
  }
  for (int64_t d : dims) {
    if (d == 0) return 0;
  }
  for (int64_t d : dims) {
    if (count > std::numeric_limits<int64_t>::max() / d) {
      throw_invalid("shape", "element count of (", absl::StrJoin(dims, ", "),
                    ") overflows int64");
    }
    count *= d;
  }
  return count;
}

}  // namespace

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(std::span<const int64_t> dims)
    : Shape(std::vector<int64_t>(dims.begin(), dims.end())) {}

Shape::Shape(std::vector<int64_t> dims)
    : dims_(std::move(dims)), num_elements_(checked_element_count(dims_)) {}

int64_t Shape::dim(int i) const {
  const int r = rank();
  const int index = i < 0 ? i + r : i;
  if (index < 0 || index >= r) {
    throw_invalid("shape", "dimension index ", i, " is out of range for rank ", r, " shape ",
                  to_string());
  }
  return dims_[index];
}

std::string Shape::to_string() const {
  if (dims_.size() == 1) return absl::StrCat("(", dims_[0], ",)");
  return absl::StrCat("(", absl::StrJoin(dims_, ", "), ")");
}

int64_t checked_byte_size(int64_t num_elements, int64_t element_size) {
  if (num_elements < 0 || element_size <= 0 ||
      num_elements > std::numeric_limits<int64_t>::max() / element_size) {
    throw_invalid("shape", "byte size of ", num_elements, " elements of ", element_size,
                  " bytes overflows int64");
  }
  return num_elements * element_size;
}

}  // namespace scopeflow
