#pragma once
// Element types, their host/device element structs and the one dtype dispatcher. Numbering of
// tf_data_type follows TensorFlow's types.proto DataType enum. Device-safe: usable from .cu files.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#if defined(__CUDACC__)
#define SCOPEFLOW_DTYPE_HD __host__ __device__
#else
#define SCOPEFLOW_DTYPE_HD
#endif

namespace scopeflow {

/// Element type of a tensor. bool is one byte per element, as TensorFlow stores it. The first
/// four values keep their numbering; later ones were appended.
enum class DType : uint8_t {
  kFloat32,
  kInt32,
  kInt64,
  kBool,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt8,
  kUInt8,
  kInt16,
  kUInt16,
};

/// Every DType, in enum order (for tests and tables).
inline constexpr DType kAllDTypes[] = {DType::kFloat32, DType::kInt32,   DType::kInt64,
                                       DType::kBool,    DType::kFloat64, DType::kFloat16,
                                       DType::kBFloat16, DType::kInt8,   DType::kUInt8,
                                       DType::kInt16,   DType::kUInt16};

namespace dtype_detail {

SCOPEFLOW_DTYPE_HD inline uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

SCOPEFLOW_DTYPE_HD inline float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// IEEE binary16 from float, rounding to nearest even (F. Giesen's float_to_half_fast3_rtne).
SCOPEFLOW_DTYPE_HD inline uint16_t float_to_half_bits(float value) {
  uint32_t u = float_bits(value);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint32_t out;
  if (u >= (127u + 16u) << 23) {  // >= 65536: Inf, or NaN (kept quiet)
    out = u > 0x7f800000u ? 0x7e00u : 0x7c00u;
  } else if (u < 113u << 23) {  // below 2^-14: subnormal half or zero
    // Adding 0.5f aligns the 10 mantissa bits at the bottom; the FPU's addition rounds to even.
    const uint32_t magic = 126u << 23;
    out = float_bits(bits_float(u) + bits_float(magic)) - magic;
  } else {
    const uint32_t mantissa_odd = (u >> 13) & 1u;
    u += ((15u - 127u) << 23) + 0xfffu + mantissa_odd;  // rebias; round half to even
    out = u >> 13;  // 65520 and up carry into the Inf exponent, as they should
  }
  return static_cast<uint16_t>(out | (sign >> 16));
}

SCOPEFLOW_DTYPE_HD inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return bits_float(sign | float_bits(magnitude));
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a float; round to nearest even, NaN stays a (quiet) NaN.
SCOPEFLOW_DTYPE_HD inline uint16_t float_to_bfloat16_bits(float value) {
  const uint32_t u = float_bits(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

SCOPEFLOW_DTYPE_HD inline float bfloat16_bits_to_float(uint16_t b) {
  return bits_float(static_cast<uint32_t>(b) << 16);
}

}  // namespace dtype_detail

// Hand-written rather than _Float16 / std::bfloat16_t: g++ 12 has neither in C++, and one
// bit-exact conversion must serve the CPU and CUDA kernels alike.

/// IEEE 754 binary16 storage; converts to and from float with round-to-nearest-even.
struct Float16 {
  uint16_t bits = 0;

  Float16() = default;
  SCOPEFLOW_DTYPE_HD explicit Float16(float value) : bits(dtype_detail::float_to_half_bits(value)) {}
  SCOPEFLOW_DTYPE_HD explicit operator float() const { return dtype_detail::half_bits_to_float(bits); }
  /// The value with exactly these bits.
  SCOPEFLOW_DTYPE_HD static Float16 from_bits(uint16_t b) {
    Float16 h;
    h.bits = b;
    return h;
  }
};

/// bfloat16 storage (the top 16 bits of a float32); converts with round-to-nearest-even.
struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  SCOPEFLOW_DTYPE_HD explicit BFloat16(float value) : bits(dtype_detail::float_to_bfloat16_bits(value)) {}
  SCOPEFLOW_DTYPE_HD explicit operator float() const { return dtype_detail::bfloat16_bits_to_float(bits); }
  /// The value with exactly these bits.
  SCOPEFLOW_DTYPE_HD static BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
};

static_assert(sizeof(Float16) == 2 && std::is_trivially_copyable_v<Float16>);
static_assert(sizeof(BFloat16) == 2 && std::is_trivially_copyable_v<BFloat16>);

/// True for Float16 and BFloat16 (element types that compute through float).
template <typename T>
inline constexpr bool is_half_type_v = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

/// Compile-time mapping from a C++ element type to its DType.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };
template <> struct DTypeOf<Float16> { static constexpr DType value = DType::kFloat16; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::kBFloat16; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kUInt16; };

/// Throws Error("[dtype] ...") for a value outside the enum (a corrupted DType).
[[noreturn]] void throw_invalid_dtype(DType dtype);

/// Calls f.template operator()<T>() with the C++ element type T of `dtype` and returns its
/// result: the one place that maps DType values to types (house style rule 13).
template <typename F>
constexpr decltype(auto) dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat32: return f.template operator()<float>();
    case DType::kInt32: return f.template operator()<int32_t>();
    case DType::kInt64: return f.template operator()<int64_t>();
    case DType::kBool: return f.template operator()<bool>();
    case DType::kFloat64: return f.template operator()<double>();
    case DType::kFloat16: return f.template operator()<Float16>();
    case DType::kBFloat16: return f.template operator()<BFloat16>();
    case DType::kInt8: return f.template operator()<int8_t>();
    case DType::kUInt8: return f.template operator()<uint8_t>();
    case DType::kInt16: return f.template operator()<int16_t>();
    case DType::kUInt16: return f.template operator()<uint16_t>();
  }
  throw_invalid_dtype(dtype);
}

/// True for the dtypes of indices and labels (int32, int64).
constexpr bool is_index_dtype(DType dtype) { return dtype == DType::kInt32 || dtype == DType::kInt64; }

/// dispatch_dtype for index and label tensors: int32 or int64; other dtypes are an error.
template <typename F>
constexpr decltype(auto) dispatch_index_dtype(DType dtype, F&& f) {
  if (dtype == DType::kInt32) return f.template operator()<int32_t>();
  if (dtype == DType::kInt64) return f.template operator()<int64_t>();
  throw_invalid_dtype(dtype);
}

/// Size of one element in bytes.
constexpr size_t dtype_size(DType dtype) {
  // A capture default: nvcc warns about the function-pointer conversion of captureless ones.
  return dispatch_dtype(dtype, [&]<class T>() { return sizeof(T); });
}

/// Lowercase name as TensorFlow prints it: "float32", "float16", "bfloat16", "uint8", ...
constexpr const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
    case DType::kFloat64: return "float64";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kInt8: return "int8";
    case DType::kUInt8: return "uint8";
    case DType::kInt16: return "int16";
    case DType::kUInt16: return "uint16";
  }
  return "unknown";
}

/// True for floating-point element types (float16, bfloat16, float32, float64).
constexpr bool is_floating(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64 || dtype == DType::kFloat16 ||
         dtype == DType::kBFloat16;
}

/// True for the signed and unsigned integer element types (not bool).
constexpr bool is_integer(DType dtype) {
  return dtype == DType::kInt8 || dtype == DType::kUInt8 || dtype == DType::kInt16 ||
         dtype == DType::kUInt16 || dtype == DType::kInt32 || dtype == DType::kInt64;
}

/// TensorFlow DataType enum value (DT_FLOAT = 1, DT_DOUBLE = 2, DT_INT32 = 3, DT_UINT8 = 4,
/// DT_INT16 = 5, DT_INT8 = 6, DT_INT64 = 9, DT_BOOL = 10, DT_BFLOAT16 = 14, DT_UINT16 = 17,
/// DT_HALF = 19).
constexpr int tf_data_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 1;
    case DType::kFloat64: return 2;
    case DType::kInt32: return 3;
    case DType::kUInt8: return 4;
    case DType::kInt16: return 5;
    case DType::kInt8: return 6;
    case DType::kInt64: return 9;
    case DType::kBool: return 10;
    case DType::kBFloat16: return 14;
    case DType::kUInt16: return 17;
    case DType::kFloat16: return 19;
  }
  return 0;
}

}  // namespace scopeflow
