#pragma once
// Fully defined tensor shapes. Dimensions are never negative and element counts never overflow.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace scopeflow {

/// A fully defined shape. Construction validates every dimension and the element count.
class Shape {
 public:
  /// Scalar shape (rank 0, one element).
  Shape() = default;
  /// Throws Error(kInvalidArgument) for a negative dimension or an element count above int64.
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::vector<int64_t> dims);
  explicit Shape(std::span<const int64_t> dims);

  int rank() const { return static_cast<int>(dims_.size()); }
  /// Dimension i; negative i counts from the end (-1 is the last dimension).
  int64_t dim(int i) const;
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t num_elements() const { return num_elements_; }
  bool is_scalar() const { return dims_.empty(); }

  /// "(10, 5)" — the form used in error messages, as TensorFlow prints shapes.
  std::string to_string() const;

  friend bool operator==(const Shape& a, const Shape& b) { return a.dims_ == b.dims_; }

  template <typename H>
  friend H AbslHashValue(H h, const Shape& s) { return H::combine(std::move(h), s.dims_); }

 private:
  std::vector<int64_t> dims_;
  int64_t num_elements_ = 1;
};

/// Multiplies element count and element size; throws Error on overflow of int64.
int64_t checked_byte_size(int64_t num_elements, int64_t element_size);

}  // namespace scopeflow
