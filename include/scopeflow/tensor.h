#pragma once
// Tensor: a shaped, typed view of one reference-counted device buffer.

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "scopeflow/allocator.h"
#include "scopeflow/dtype.h"
#include "scopeflow/error.h"
#include "scopeflow/shape.h"

namespace scopeflow {

/// One allocation from an Allocator, freed when the last Tensor that views it goes away; or a
/// region of another buffer (a session's activation arena), which keeps that buffer alive.
class Buffer {
 public:
  Buffer(std::shared_ptr<Allocator> allocator, size_t bytes, MemoryKind kind);
  /// `bytes` at `offset` of `parent` (offset + bytes must lie within it); allocates nothing.
  Buffer(std::shared_ptr<Buffer> parent, size_t offset, size_t bytes);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  MemoryKind kind() const { return kind_; }
  Device device() const { return allocator_->device(); }

 private:
  std::shared_ptr<Allocator> allocator_;
  std::shared_ptr<Buffer> parent_;  // set for a region of another buffer
  void* data_;
  size_t bytes_;
  MemoryKind kind_;
};

/// A dense row-major tensor of any DType (float16 and bfloat16 elements are the Float16 and
/// BFloat16 structs of dtype.h). Copies share the buffer (like TensorFlow's Tensor); use clone() to copy data.
class Tensor {
 public:
  /// An empty (null) tensor: no buffer, shape (0), no elements and no bytes.
  Tensor() = default;
  /// Allocates an uninitialised tensor from `allocator` (default: the process CPU allocator).
  Tensor(DType dtype, Shape shape, std::shared_ptr<Allocator> allocator = nullptr,
         MemoryKind kind = MemoryKind::kOther);
  /// A tensor viewing an existing buffer (shape must fit in it).
  Tensor(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer);

  /// A host tensor with the given values; values.size() must equal shape.num_elements().
  template <typename T>
  static Tensor from_vector(Shape shape, std::span<const T> values);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    if constexpr (std::is_same_v<T, bool>) {
      // std::vector<bool> packs its bits: copy it element by element into one-byte bools.
      const std::unique_ptr<bool[]> bytes(new bool[values.size()]);
      std::copy(values.begin(), values.end(), bytes.get());
      return from_vector<bool>(std::move(shape), std::span<const bool>(bytes.get(), values.size()));
    } else {
      return from_vector<T>(std::move(shape), std::span<const T>(values));
    }
  }
  /// A scalar host tensor.
  template <typename T>
  static Tensor scalar(T value) { return from_vector<T>(Shape{}, std::span<const T>(&value, 1)); }
  /// A host tensor of zeros.
  static Tensor zeros(DType dtype, Shape shape);

  bool defined() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  /// (0) for an undefined tensor, so that it never reports elements it has no memory for.
  const Shape& shape() const { return buffer_ ? shape_ : empty_shape(); }
  int64_t num_elements() const { return shape().num_elements(); }
  size_t byte_size() const { return static_cast<size_t>(num_elements()) * dtype_size(dtype_); }
  Device device() const { return buffer_ ? buffer_->device() : Device::cpu(); }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

  void* raw_data() const { return buffer_ ? buffer_->data() : nullptr; }
  /// Typed pointer; throws Error when T does not match dtype().
  template <typename T>
  T* data() const {
    check_type(DTypeOf<T>::value);
    return static_cast<T*>(raw_data());
  }
  /// Copies the elements into a vector (host tensors only; Session::to_host copies device ones).
  template <typename T>
  std::vector<T> to_vector() const {
    check_host("to_vector");
    const T* p = data<T>();
    return std::vector<T>(p, p + num_elements());
  }

  /// Same buffer, new shape with the same element count.
  Tensor reshaped(Shape shape) const;
  /// Deep copy of a host tensor into a new buffer from `allocator` (default: the process CPU
  /// allocator, which must be a host allocator). An undefined tensor clones to an undefined one.
  Tensor clone(std::shared_ptr<Allocator> allocator = nullptr,
               MemoryKind kind = MemoryKind::kOther) const;
  /// True when both tensors view the same allocation.
  bool shares_buffer_with(const Tensor& other) const {
    return buffer_ != nullptr && buffer_ == other.buffer_;
  }

  /// Short description for messages: "float32 (10, 5)", or "undefined".
  std::string description() const;

 private:
  static const Shape& empty_shape();
  void check_type(DType requested) const;
  void check_host(std::string_view what) const;

  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::shared_ptr<Buffer> buffer_;
};

template <typename T>
Tensor Tensor::from_vector(Shape shape, std::span<const T> values) {
  if (static_cast<int64_t>(values.size()) != shape.num_elements()) {
    throw_invalid("tensor", "got ", values.size(), " values for shape ", shape.to_string(),
                  " which holds ", shape.num_elements());
  }
  Tensor t(DTypeOf<T>::value, std::move(shape));
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

}  // namespace scopeflow
