#include "engine/dtype.h"

namespace hm {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::bf16: return "bfloat16";
    case DType::f16: return "float16";
    case DType::u8: return "uint8";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  if (n == "f32" || n == "float32" || n == "F32") return DType::f32;
  if (n == "f64" || n == "float64" || n == "F64") return DType::f64;
  if (n == "i32" || n == "int32" || n == "I32") return DType::i32;
  if (n == "i64" || n == "int64" || n == "I64") return DType::i64;
  if (n == "bf16" || n == "bfloat16" || n == "BF16") return DType::bf16;
  if (n == "f16" || n == "float16" || n == "F16") return DType::f16;
  if (n == "u8" || n == "uint8" || n == "U8") return DType::u8;
  throw Error(cat("unknown dtype name '", n, "'"));
}

std::ostream& operator<<(std::ostream& os, Device d) {
  if (d.type == DeviceType::cpu) return os << "cpu";
  return os << "cuda:" << d.index;
}

Device device_from_name(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  if (name == "cuda") return Device::cuda(0);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.find_first_not_of("0123456789", 5) == std::string::npos)
    return Device::cuda(std::stoi(name.substr(5)));
  throw Error(cat("unknown device '", name, "' (expected cpu, cuda or cuda:N)"));
}

}  // namespace hm
