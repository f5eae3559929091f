#include "engine/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/autograd.h"

namespace hm {
namespace {

const char kMagic[] = "\x93NUMPY";

std::string descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
    default: throw Error(cat("save_npy: dtype ", dtype_name(t), " is not supported in .npy files"));
  }
}

DType dtype_of_descr(const std::string& d, const std::string& path) {
  if (d == "<f4") return DType::f32;
  if (d == "<f8") return DType::f64;
  if (d == "<i4") return DType::i32;
  if (d == "<i8") return DType::i64;
  if (d == "|u1" || d == "<u1") return DType::u8;
  throw Error(cat(path, ": unsupported .npy dtype '", d, "' (need <f4, <f8, <i4, <i8 or |u1)"));
}

// Value of `key` in the header dict, e.g. 'descr': '<f4' -> <f4 ; 'shape': (3, 4) -> 3, 4
std::string header_field(const std::string& header, const std::string& key, const std::string& path) {
  const auto k = header.find("'" + key + "'");
  check(k != std::string::npos, path, ": corrupt .npy header, no '", key, "' field");
  auto p = header.find(':', k);
  check(p != std::string::npos, path, ": corrupt .npy header near '", key, "'");
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  check(p < header.size(), path, ": corrupt .npy header near '", key, "'");
  if (header[p] == '\'') {
    const auto e = header.find('\'', p + 1);
    check(e != std::string::npos, path, ": corrupt .npy header near '", key, "'");
    return header.substr(p + 1, e - p - 1);
  }
  if (header[p] == '(') {
    const auto e = header.find(')', p);
    check(e != std::string::npos, path, ": corrupt .npy header near '", key, "'");
    return header.substr(p + 1, e - p - 1);
  }
  const auto e = header.find_first_of(",}", p);
  return header.substr(p, e - p);
}

}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), path, ": cannot open .npy file");
  char magic[6];
  in.read(magic, 6);
  check(in.good() && std::memcmp(magic, kMagic, 6) == 0, path, ": not a .npy file (bad magic)");
  unsigned char version[2];
  in.read(reinterpret_cast<char*>(version), 2);
  check(in.good() && (version[0] == 1 || version[0] == 2 || version[0] == 3), path,
        ": unsupported .npy version");
  uint32_t header_len = 0;
  if (version[0] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  }
  check(in.good() && header_len < (1u << 24), path, ": truncated .npy header");
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  check(in.good(), path, ": truncated .npy header");
  const DType dtype = dtype_of_descr(header_field(header, "descr", path), path);
  check(header_field(header, "fortran_order", path).find("False") != std::string::npos, path,
        ": Fortran-order .npy arrays are not supported");
  Shape shape;
  std::stringstream ss(header_field(header, "shape", path));
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    check(v >= 0, path, ": bad shape entry '", item, "' in .npy header");
    shape.push_back(v);
  }
  Tensor t = empty(shape, dtype);
  const size_t nbytes = size_t(t.numel()) * dtype_size(dtype);
  in.read(static_cast<char*>(t.raw_data()), std::streamsize(nbytes));
  check(size_t(in.gcount()) == nbytes, path, ": truncated .npy data (expected ", nbytes, " bytes for shape ", shape,
        ", got ", in.gcount(), ")");
  return t;
}

void save_npy(const std::string& path, const Tensor& t_in) {
  NoGradGuard ng;
  Tensor t = t_in.detach().cpu().contiguous();  // device tensors are written from a host copy
  std::ostringstream dict;
  dict << "{'descr': '" << descr_of(t.dtype()) << "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i) dict << t.shape()[i] << (t.shape().size() == 1 || i + 1 < t.shape().size() ? ", " : "");
  dict << "), }";
  std::string header = dict.str();
  // Pad with spaces so that magic(6) + version(2) + len(2) + header + '\n' is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    check(out.good(), path, ": cannot open for writing");
    out.write(kMagic, 6);
    const unsigned char version[2] = {1, 0};
    out.write(reinterpret_cast<const char*>(version), 2);
    const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                  static_cast<unsigned char>(header.size() >> 8)};
    out.write(reinterpret_cast<const char*>(len), 2);
    out.write(header.data(), std::streamsize(header.size()));
    out.write(static_cast<const char*>(t.raw_data()), std::streamsize(size_t(t.numel()) * dtype_size(t.dtype())));
    out.flush();
    check(out.good(), path, ": write failed (disk full?)");
  }
  check(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot rename temporary file into place");
}

}  // namespace hm
