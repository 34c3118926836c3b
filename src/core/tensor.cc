#include "scopeflow/tensor.h"

#include "absl/strings/str_cat.h"

namespace scopeflow {

Buffer::Buffer(std::shared_ptr<Allocator> allocator, size_t bytes, MemoryKind kind)
    : allocator_(std::move(allocator)), data_(nullptr), bytes_(bytes), kind_(kind) {
  data_ = allocator_->allocate(bytes_, kind_);
}

Buffer::Buffer(std::shared_ptr<Buffer> parent, size_t offset, size_t bytes)
    : allocator_(parent != nullptr ? parent->allocator_ : nullptr), data_(nullptr), bytes_(bytes),
      kind_(parent != nullptr ? parent->kind_ : MemoryKind::kOther) {
  if (parent == nullptr || offset > parent->bytes_ || bytes > parent->bytes_ - offset) {
    throw_invalid("tensor", "a region of ", bytes, " bytes at offset ", offset, " does not fit in a buffer of ",
                  parent != nullptr ? parent->bytes_ : 0, " bytes");
  }
  data_ = static_cast<char*>(parent->data_) + offset;
  parent_ = std::move(parent);
}

Buffer::~Buffer() {
  if (parent_ == nullptr) allocator_->deallocate(data_, bytes_, kind_);
}

Tensor::Tensor(DType dtype, Shape shape, std::shared_ptr<Allocator> allocator, MemoryKind kind)
    : dtype_(dtype), shape_(std::move(shape)) {
  const int64_t bytes = checked_byte_size(shape_.num_elements(), dtype_size(dtype_));
  if (allocator == nullptr) allocator = default_cpu_allocator();
  buffer_ = std::make_shared<Buffer>(std::move(allocator), static_cast<size_t>(bytes), kind);
}

Tensor::Tensor(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer)
    : dtype_(dtype), shape_(std::move(shape)), buffer_(std::move(buffer)) {
  const int64_t bytes = checked_byte_size(shape_.num_elements(), dtype_size(dtype_));
  if (buffer_ == nullptr || static_cast<int64_t>(buffer_->bytes()) < bytes) {
    throw_invalid("tensor", "buffer of ", buffer_ ? buffer_->bytes() : 0,
                  " bytes is too small for ", dtype_name(dtype_), " ", shape_.to_string());
  }
}

const Shape& Tensor::empty_shape() {
  static const Shape empty{0};
  return empty;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  std::memset(t.raw_data(), 0, t.byte_size());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (!defined()) throw_invalid("tensor", "cannot reshape an undefined tensor to ", shape.to_string());
  if (shape.num_elements() != num_elements()) {
    throw_invalid("tensor", "cannot reshape ", shape_.to_string(), " (", num_elements(),
                  " elements) to ", shape.to_string(), " (", shape.num_elements(), " elements)");
  }
  return Tensor(dtype_, std::move(shape), buffer_);
}

Tensor Tensor::clone(std::shared_ptr<Allocator> allocator, MemoryKind kind) const {
  check_host("clone");
  if (!defined()) return Tensor();
  if (allocator != nullptr && allocator->device().type != DeviceType::kCpu) {
    throw_invalid("tensor", "clone copies on the host; ", allocator->device().to_string(),
                  " memory is filled by its session");
  }
  Tensor copy(dtype_, shape_, std::move(allocator), kind);
  if (byte_size() > 0) std::memcpy(copy.raw_data(), raw_data(), byte_size());
  return copy;
}

std::string Tensor::description() const {
  if (!defined()) return "undefined";
  return absl::StrCat(dtype_name(dtype_), " ", shape_.to_string());
}

void Tensor::check_host(std::string_view what) const {
  if (device().type != DeviceType::kCpu) {
    throw_invalid("tensor", what, " needs a host tensor; this one lives on ", device().to_string(),
                  " (Session::to_host copies it)");
  }
}

void Tensor::check_type(DType requested) const {
  if (requested != dtype_) {
    throw_invalid("tensor", "requested ", dtype_name(requested), " data from a ",
                  dtype_name(dtype_), " tensor");
  }
}

}  // namespace scopeflow
