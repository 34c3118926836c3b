#pragma once
// Element types. Numbering of TfDataType follows TensorFlow's types.proto DataType enum.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace scopeflow {

/// Element type of a tensor: float32 for math, int32/int64 for labels and indices, bool for
/// comparisons (one byte per element, as TensorFlow stores it).
enum class DType : uint8_t { kFloat32, kInt32, kInt64, kBool };

/// Size of one element in bytes.
constexpr size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBool: return 1;
  }
  return 0;
}

/// Short lowercase name as TensorFlow prints it: "float32", "int32", "int64".
constexpr const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
  }
  return "unknown";
}

/// True for floating-point element types.
constexpr bool is_floating(DType dtype) { return dtype == DType::kFloat32; }

/// TensorFlow DataType enum value (DT_FLOAT = 1, DT_INT32 = 3, DT_INT64 = 9, DT_BOOL = 10).
constexpr int tf_data_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 1;
    case DType::kInt32: return 3;
    case DType::kInt64: return 9;
    case DType::kBool: return 10;
  }
  return 0;
}

/// Compile-time mapping from a C++ element type to its DType.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

}  // namespace scopeflow
