#include "engine/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "engine/autograd.h"
#include "engine/json.h"

namespace hm {

uint16_t float_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if (std::isnan(x)) return uint16_t((bits >> 16) | 0x40);  // keep it a (quiet) NaN
  const uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);    // round to nearest, ties to even
  return uint16_t((bits + rounding) >> 16);
}

float bf16_to_float(uint16_t x) {
  const uint32_t bits = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_f16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const uint32_t abs = bits & 0x7FFFFFFF;
  if (abs > 0x7F800000) return uint16_t(sign | 0x7E00);  // NaN
  if (abs >= 0x477FF000) return uint16_t(sign | 0x7C00);  // overflow (after rounding) -> inf
  if (abs < 0x38800000) {  // below 2^-14: subnormal half (value r * 2^-24) or zero
    // A float with exponent field E is mant24 * 2^(E - 150), so r = mant24 >> (126 - E), rounded to even.
    const int shift = 126 - int(abs >> 23);
    if (shift > 30) return uint16_t(sign);
    const uint32_t mant = (abs & 0x7FFFFF) | 0x800000;
    uint32_t r = mant >> shift;
    const uint32_t dropped = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (dropped > mid || (dropped == mid && (r & 1))) r++;
    return uint16_t(sign | r);
  }
  uint32_t r = ((abs - 0x38000000) >> 13);
  const uint32_t dropped = abs & 0x1FFF;
  if (dropped > 0x1000 || (dropped == 0x1000 && (r & 1))) r++;
  return uint16_t(sign | r);
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      uint32_t m = mant;
      do {
        e++;
        m <<= 1;
      } while ((m & 0x400) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3FF) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else {
    bits = sign | (exp + 127 - 15) << 23 | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

const char* st_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::u8: return "U8";
  }
  return "?";
}

DType parse_st_dtype(const std::string& s, const std::string& path, const std::string& name) {
  if (s == "F32") return DType::f32;
  if (s == "F64") return DType::f64;
  if (s == "I32") return DType::i32;
  if (s == "I64") return DType::i64;
  if (s == "BF16") return DType::bf16;
  if (s == "F16") return DType::f16;
  if (s == "U8" || s == "BOOL") return DType::u8;
  throw Error(cat(path, ": tensor '", name, "' has unsupported dtype ", s));
}

// Bytes of tensor t as stored with dtype `as`.
std::string tensor_bytes(const Tensor& t, DType as) {
  NoGradGuard ng;
  const Tensor c = t.detach().cpu().contiguous();  // device tensors are written from a host copy
  const int64_t n = c.numel();
  std::string bytes;
  if (as == DType::bf16 || as == DType::f16) {
    const std::vector<float> v = c.to_vector<float>();
    bytes.resize(size_t(n) * 2);
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = as == DType::bf16 ? float_to_bf16(v[size_t(i)]) : float_to_f16(v[size_t(i)]);
      std::memcpy(bytes.data() + i * 2, &h, 2);
    }
    return bytes;
  }
  const Tensor conv = c.to(as);
  bytes.assign(static_cast<const char*>(conv.raw_data()), size_t(n) * dtype_size(as));
  return bytes;
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata, DType store_floats_as,
                      bool convert_floats) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::vector<std::string> blobs;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    check(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    check(!header.contains(name), "save_safetensors: duplicate tensor name '", name, "'");
    const DType as = (convert_floats && is_floating(t.dtype())) ? store_floats_as : t.dtype();
    blobs.push_back(tensor_bytes(t, as));
    Json entry = Json::object();
    entry["dtype"] = st_dtype(as);
    Json shape = Json::array();
    for (int64_t d : t.shape()) shape.push_back(Json(d));
    entry["shape"] = shape;
    Json offs = Json::array();
    offs.push_back(Json(offset));
    offset += blobs.back().size();
    offs.push_back(Json(offset));
    entry["data_offsets"] = offs;
    header[name] = entry;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  check(f != nullptr, path, ": cannot open for writing");
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((uint64_t(h.size()) >> (8 * i)) & 0xff);
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (const std::string& b : blobs) ok = ok && std::fwrite(b.data(), 1, b.size(), f) == b.size();
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) std::remove(tmp.c_str());
  check(ok, path, ": write failed (disk full?); the previous file, if any, is untouched");
  check(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot rename temporary file into place");
}

SafetensorsContents load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  check(in.good(), path, ": cannot open safetensors file");
  const uint64_t file_size = uint64_t(in.tellg());
  in.seekg(0);
  check(file_size >= 8, path, ": not a safetensors file (", file_size, " bytes)");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t(len[i]) << (8 * i);
  check(header_size <= file_size - 8 && header_size < (uint64_t(100) << 20), path,
        ": corrupt safetensors header length ", header_size, " for a file of ", file_size, " bytes");
  std::string h(header_size, '\0');
  in.read(h.data(), std::streamsize(header_size));
  check(in.good(), path, ": truncated safetensors header");
  const Json header = Json::parse(h, path + " (header)");
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;

  SafetensorsContents out;
  for (const auto& [name, entry] : header.as_object(path + " header")) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : entry.as_object(path + " __metadata__")) out.metadata[k] = v.as_string(path + " __metadata__." + k);
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    const DType dt = parse_st_dtype(entry.at("dtype").as_string(where + " dtype"), path, name);
    Shape shape;
    for (const Json& d : entry.at("shape").as_array(where + " shape")) shape.push_back(d.as_int(where + " shape"));
    const Json& offs = entry.at("data_offsets");
    check(offs.size() == 2, where, ": data_offsets must have 2 entries");
    const uint64_t b = uint64_t(offs[0].as_int(where)), e = uint64_t(offs[1].as_int(where));
    const uint64_t expect = uint64_t(shape_numel(shape)) * dtype_size(dt);
    check(b <= e && e <= data_size, where, ": data_offsets [", b, ", ", e, "] outside the data section of ", data_size,
          " bytes (truncated file?)");
    check(e - b == expect, where, ": data_offsets span ", e - b, " bytes but shape ", shape, " of ", dtype_name(dt),
          " needs ", expect);
    std::string bytes(e - b, '\0');
    in.seekg(std::streamoff(data_start + b));
    in.read(bytes.data(), std::streamsize(e - b));
    check(in.good(), where, ": truncated data");
    Tensor t;
    if (dt == DType::bf16 || dt == DType::f16) {
      t = empty(shape, DType::f32);
      float* p = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        uint16_t v;
        std::memcpy(&v, bytes.data() + i * 2, 2);
        p[i] = dt == DType::bf16 ? bf16_to_float(v) : f16_to_float(v);
      }
    } else {
      t = empty(shape, dt);
      if (!bytes.empty()) std::memcpy(t.raw_data(), bytes.data(), bytes.size());
    }
    out.stored_dtypes[name] = dt;
    out.tensors.emplace_back(name, t);
  }
  return out;
}

}  // namespace hm
