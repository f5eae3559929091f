// Element types and devices. f64 exists for gradient checks; bf16/f16 for checkpoints and (later) CUDA autocast.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "engine/error.h"

namespace hm {

enum class DType : uint8_t { f32, f64, i32, i64, bf16, f16, u8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::bf16: return 2;
    case DType::f16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t);
DType dtype_from_name(const std::string& name);  // "f32", "float32", ... ; throws on unknown names
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }
inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::f16; }

// Compile-time mapping C++ type -> DType.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };

// Call f(T{}) with T the C++ type of a floating compute dtype (f32 or f64). Ops compute in these two types.
template <class F>
decltype(auto) dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: throw Error(cat(op, ": expected a float32 or float64 tensor, got ", dtype_name(t)));
  }
}

// Same for index dtypes (i32, i64).
template <class F>
decltype(auto) dispatch_index(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    default: throw Error(cat(op, ": expected an int32 or int64 index tensor, got ", dtype_name(t)));
  }
}

// Any dtype with a C++ arithmetic type (everything but bf16/f16).
template <class F>
decltype(auto) dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    default: throw Error(cat(op, ": unsupported dtype ", dtype_name(t), " on the CPU"));
  }
}

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  bool operator==(const Device&) const = default;
  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
};
// "cpu", "cuda", "cuda:1" -> Device; throws naming the text otherwise.
Device device_from_name(const std::string& name);
std::ostream& operator<<(std::ostream& os, Device d);

}  // namespace hm
