#include "engine/strided.h"

#include <cstring>

#include "engine/device.h"
#include "engine/safetensors.h"

namespace hm::strided {
namespace {

// Visit every element of `shape` in row-major order, calling f(offset_a, offset_b) with the element offsets of
// two layouts. The innermost dim is a tight loop so that contiguous rows vectorise.
template <class F>
void for_each2(const Shape& shape, const Shape& sa, const Shape& sb, F&& f) {
  const int64_t rank = int64_t(shape.size());
  if (shape_numel(shape) == 0) return;
  if (rank == 0) {
    f(0, 0, 1, 0, 0);
    return;
  }
  const int64_t inner = shape[rank - 1];
  const int64_t ia = sa[rank - 1], ib = sb[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t oa = 0, ob = 0;
  while (true) {
    f(oa, ob, inner, ia, ib);
    int64_t d = rank - 2;
    for (; d >= 0; --d) {
      idx[d]++;
      oa += sa[d];
      ob += sb[d];
      if (idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

template <class D, class S>
void copy_typed(const Tensor& dst, const Tensor& src) {
  D* pd = static_cast<D*>(dst.storage()->data()) + dst.offset();
  const S* ps = static_cast<const S*>(src.storage()->data()) + src.offset();
  if (dst.is_contiguous() && src.is_contiguous()) {
    const int64_t n = dst.numel();
    if constexpr (std::is_same_v<D, S>) {
      std::memcpy(pd, ps, size_t(n) * sizeof(D));
    } else {
      for (int64_t i = 0; i < n; ++i) pd[i] = static_cast<D>(ps[i]);
    }
    return;
  }
  for_each2(dst.shape(), dst.strides(), src.strides(),
            [&](int64_t od, int64_t os, int64_t n, int64_t sd, int64_t ss) {
              for (int64_t i = 0; i < n; ++i) pd[od + i * sd] = static_cast<D>(ps[os + i * ss]);
            });
}

bool is_half(DType t) { return t == DType::bf16 || t == DType::f16; }

// Host copies that involve bf16/f16 (no C++ arithmetic type): decode to / encode from f32 element by element with
// the checkpoint writer's conversions (round to nearest even).
void copy_half_host(const Tensor& dst, const Tensor& src) {
  if (is_half(src.dtype())) {
    const bool bf = src.dtype() == DType::bf16;
    const uint16_t* ps = static_cast<const uint16_t*>(src.storage()->data()) + src.offset();
    Tensor f = is_half(dst.dtype()) || dst.dtype() != DType::f32 || !dst.is_contiguous() ? empty(src.shape(), DType::f32) : dst;
    float* pf = static_cast<float*>(f.storage()->data()) + f.offset();
    const Shape fs = contiguous_strides(f.shape());
    for_each2(src.shape(), fs, src.strides(), [&](int64_t od, int64_t os, int64_t n, int64_t sd, int64_t ss) {
      for (int64_t i = 0; i < n; ++i) pf[od + i * sd] = bf ? bf16_to_float(ps[os + i * ss]) : f16_to_float(ps[os + i * ss]);
    });
    if (f.unsafe_impl() != dst.unsafe_impl()) copy(dst, f);
    return;
  }
  // dst is half, src is not: src -> contiguous f32, then encode into dst's layout.
  Tensor f = empty(src.shape(), DType::f32);
  copy(f, src);
  const bool bf = dst.dtype() == DType::bf16;
  uint16_t* pd = static_cast<uint16_t*>(dst.storage()->data()) + dst.offset();
  const float* pf = static_cast<const float*>(f.storage()->data());
  for_each2(dst.shape(), dst.strides(), contiguous_strides(f.shape()),
            [&](int64_t od, int64_t os, int64_t n, int64_t sd, int64_t ss) {
              for (int64_t i = 0; i < n; ++i) pd[od + i * sd] = bf ? float_to_bf16(pf[os + i * ss]) : float_to_f16(pf[os + i * ss]);
            });
}

// Copy between host and device memory: the host side is first made contiguous in the destination dtype, the
// bytes cross once, and a strided destination is then filled on its own device.
void copy_across_devices(const Tensor& dst, const Tensor& src) {
  const size_t nbytes = size_t(dst.numel()) * dtype_size(dst.dtype());
  if (dst.device().type == DeviceType::cpu) {  // device -> host
    const DeviceBackend& b = device_backend(src.device());
    Tensor staged = empty(src.shape(), dst.dtype(), src.device());  // contiguous, dst dtype, on the device
    b.copy(staged, src);
    if (dst.is_contiguous()) {
      b.copy_to_host(dst.device_raw_data(), staged.device_raw_data(), nbytes);
    } else {
      Tensor host = empty(dst.shape(), dst.dtype());
      b.copy_to_host(host.device_raw_data(), staged.device_raw_data(), nbytes);
      copy(dst, host);
    }
    return;
  }
  // host -> device
  check(src.device().type == DeviceType::cpu, "copy: ", src.device(), " -> ", dst.device(),
        " (device-to-device copies between different devices are not supported)");
  const DeviceBackend& b = device_backend(dst.device());
  Tensor host = empty(src.shape(), dst.dtype());
  copy(host, src);
  if (dst.is_contiguous()) {
    b.copy_from_host(dst.device_raw_data(), host.device_raw_data(), nbytes);
  } else {
    Tensor staged = empty(dst.shape(), dst.dtype(), dst.device());
    b.copy_from_host(staged.device_raw_data(), host.device_raw_data(), nbytes);
    b.copy(dst, staged);
  }
}

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  check(dst.shape() == src.shape(), "copy: shape mismatch, destination ", dst.shape(), " vs source ",
        src.shape());
  if (dst.device() != src.device()) return copy_across_devices(dst, src);
  if (dst.device().type != DeviceType::cpu) return device_backend(dst.device()).copy(dst, src);
  if (is_half(dst.dtype()) || is_half(src.dtype())) {
    if (dst.dtype() == src.dtype()) {  // same half type: move the 16-bit patterns
      const uint16_t* ps = static_cast<const uint16_t*>(src.storage()->data()) + src.offset();
      uint16_t* pd = static_cast<uint16_t*>(dst.storage()->data()) + dst.offset();
      for_each2(dst.shape(), dst.strides(), src.strides(), [&](int64_t od, int64_t os, int64_t n, int64_t sd, int64_t ss) {
        for (int64_t i = 0; i < n; ++i) pd[od + i * sd] = ps[os + i * ss];
      });
      return;
    }
    return copy_half_host(dst, src);
  }
  dispatch_all(dst.dtype(), "copy", [&](auto d) {
    dispatch_all(src.dtype(), "copy", [&](auto s) { copy_typed<decltype(d), decltype(s)>(dst, src); });
  });
}

void fill(const Tensor& dst, double value) {
  if (dst.device().type != DeviceType::cpu) return device_backend(dst.device()).fill(dst, value);
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(dst.storage()->data()) + dst.offset();
    const T v = static_cast<T>(value);
    for_each2(dst.shape(), dst.strides(), dst.strides(),
              [&](int64_t o, int64_t, int64_t n, int64_t s, int64_t) {
                for (int64_t i = 0; i < n; ++i) p[o + i * s] = v;
              });
  });
}

void add_inplace(const Tensor& dst, const Tensor& src) {
  check(dst.shape() == src.shape(), "add_inplace: shape mismatch ", dst.shape(), " vs ", src.shape());
  check(dst.dtype() == src.dtype(), "add_inplace: dtype mismatch ", dst.dtype(), " vs ", src.dtype());
  check(dst.device() == src.device(), "add_inplace: device mismatch ", dst.device(), " vs ", src.device());
  if (dst.device().type != DeviceType::cpu) return device_backend(dst.device()).add_inplace(dst, src);
  dispatch_float(dst.dtype(), "add_inplace", [&](auto tag) {
    using T = decltype(tag);
    T* pd = static_cast<T*>(dst.storage()->data()) + dst.offset();
    const T* ps = static_cast<const T*>(src.storage()->data()) + src.offset();
    for_each2(dst.shape(), dst.strides(), src.strides(),
              [&](int64_t od, int64_t os, int64_t n, int64_t sd, int64_t ss) {
                for (int64_t i = 0; i < n; ++i) pd[od + i * sd] += ps[os + i * ss];
              });
  });
}

Tensor sum_to(const Tensor& src, const Shape& shape) {
  if (src.shape() == shape) return src;
  const int64_t rank = src.dim();
  const int64_t lead = rank - int64_t(shape.size());
  check(lead >= 0, "sum_to: cannot reduce ", src.shape(), " to ", shape);
  if (src.device().type != DeviceType::cpu) {
    Shape padded(size_t(lead), 1);  // shape at src's rank
    padded.insert(padded.end(), shape.begin(), shape.end());
    for (int64_t d = 0; d < rank; ++d)
      check(padded[d] == src.shape()[d] || padded[d] == 1, "sum_to: cannot reduce ", src.shape(), " to ", shape);
    Tensor out = zeros(padded, src.dtype(), src.device());
    device_backend(src.device()).sum_to(out, src);
    return out.view(shape);
  }
  // Destination viewed with src's rank: stride 0 on every dim that is summed away.
  Tensor out = zeros(shape, src.dtype());
  const Shape out_strides = contiguous_strides(shape);
  Shape view_strides(rank, 0);
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    const int64_t sd = src.shape()[lead + d];
    check(shape[d] == sd || shape[d] == 1, "sum_to: cannot reduce ", src.shape(), " to ", shape);
    view_strides[lead + d] = (shape[d] == 1 && sd != 1) ? 0 : out_strides[d];
  }
  dispatch_float(src.dtype(), "sum_to", [&](auto tag) {
    using T = decltype(tag);
    T* pd = out.data<T>();
    const T* ps = static_cast<const T*>(src.storage()->data()) + src.offset();
    for_each2(src.shape(), view_strides, src.strides(),
              [&](int64_t od, int64_t os, int64_t n, int64_t sd, int64_t ss) {
                if (sd == 0) {
                  T acc = 0;
                  for (int64_t i = 0; i < n; ++i) acc += ps[os + i * ss];
                  pd[od] += acc;
                } else {
                  for (int64_t i = 0; i < n; ++i) pd[od + i * sd] += ps[os + i * ss];
                }
              });
  });
  return out;
}

}  // namespace hm::strided
