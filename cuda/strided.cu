#include "cuda/strided.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "cuda/runtime.h"

namespace hm::cuda {
namespace {

constexpr int kThreads = 256;

// Offsets of linear index i (row-major over l.shape) in the destination and source layouts.
__device__ inline void offsets(const Layout& l, int64_t i, int64_t& od, int64_t& os) {
  od = 0, os = 0;
  for (int d = l.rank - 1; d >= 0; --d) {
    const int64_t c = i % l.shape[d];
    i /= l.shape[d];
    od += c * l.dst_strides[d];
    os += c * l.src_strides[d];
  }
}

// Conversions go through double (exact for every type but i64 beyond 2^53, which the CPU path rounds the same
// way); bf16/f16 through their intrinsics (round to nearest even).
template <class T> __host__ __device__ inline double to_double(T v) { return double(v); }
template <> __host__ __device__ inline double to_double(__nv_bfloat16 v) { return double(__bfloat162float(v)); }
template <> __host__ __device__ inline double to_double(__half v) { return double(__half2float(v)); }
template <class T> __host__ __device__ inline T from_double(double v) { return static_cast<T>(v); }
template <> __host__ __device__ inline __nv_bfloat16 from_double(double v) { return __float2bfloat16(float(v)); }
template <> __host__ __device__ inline __half from_double(double v) { return __float2half(float(v)); }

template <class D, class S>
__global__ void copy_kernel(D* dst, const S* src, Layout l, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t od, os;
    offsets(l, i, od, os);
    if constexpr (std::is_same_v<D, S>)
      dst[od] = src[os];
    else
      dst[od] = from_double<D>(to_double(src[os]));
  }
}

template <class T>
__global__ void fill_kernel(T* dst, T value, Layout l, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t od, os;
    offsets(l, i, od, os);
    dst[od] = value;
  }
}

template <class T>
__global__ void add_kernel(T* dst, const T* src, Layout l, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t od, os;
    offsets(l, i, od, os);
    dst[od] = from_double<T>(to_double(dst[od]) + to_double(src[os]));
  }
}

// Layout of a reduction onto a broadcast shape: kept dims (out_shape[d] == shape[d]) index the output; the
// others are summed.
struct SumLayout {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t src_strides[kMaxRank] = {};
  bool reduced[kMaxRank] = {};
};

// out[j] = sum over the reduced dims of src. One thread per output element: adjacent threads read adjacent
// elements of the kept innermost dim, so a bias gradient (sum over rows of a (rows, C) matrix) reads coalesced.
template <class T, class Acc>
__global__ void sum_to_kernel(T* out, const T* src, SumLayout l, int64_t n_out, int64_t n_red) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n_out;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t base = 0, rem = j;
    for (int d = l.rank - 1; d >= 0; --d) {
      if (l.reduced[d]) continue;
      base += (rem % l.shape[d]) * l.src_strides[d];
      rem /= l.shape[d];
    }
    Acc acc = 0;
    for (int64_t k = 0; k < n_red; ++k) {
      int64_t off = base, r = k;
      for (int d = l.rank - 1; d >= 0; --d) {
        if (!l.reduced[d]) continue;
        off += (r % l.shape[d]) * l.src_strides[d];
        r /= l.shape[d];
      }
      acc += Acc(to_double(src[off]));
    }
    out[j] = from_double<T>(to_double(out[j]) + double(acc));
  }
}

int64_t numel(const Layout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.rank; ++d) n *= l.shape[d];
  return n;
}

// Call f(T{}) with the device type of dtype t.
template <class F>
void dispatch_any(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    case DType::bf16: return f(__nv_bfloat16{});
    case DType::f16: return f(__half{});
  }
  throw Error(cat(what, ": unsupported dtype ", dtype_name(t)));
}

template <class F>
void dispatch_floating(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(__nv_bfloat16{});
    default: throw Error(cat(what, ": expected f32, f64 or bf16 on CUDA, got ", dtype_name(t)));
  }
}

}  // namespace

void strided_copy(void* dst, DType dst_dtype, const void* src, DType src_dtype, const Layout& layout) {
  const int64_t n = numel(layout);
  if (n == 0) return;
  dispatch_any(dst_dtype, "strided_copy", [&](auto d) {
    dispatch_any(src_dtype, "strided_copy", [&](auto s) {
      using D = decltype(d);
      using S = decltype(s);
      copy_kernel<D, S><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<D*>(dst),
                                                                          static_cast<const S*>(src), layout, n);
      check_launch("strided_copy");
    });
  });
}

void strided_fill(void* dst, DType dtype, double value, const Layout& layout) {
  const int64_t n = numel(layout);
  if (n == 0) return;
  dispatch_any(dtype, "strided_fill", [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<T*>(dst), from_double<T>(value),
                                                                     layout, n);
    check_launch("strided_fill");
  });
}

void strided_add(void* dst, const void* src, DType dtype, const Layout& layout) {
  const int64_t n = numel(layout);
  if (n == 0) return;
  dispatch_floating(dtype, "strided_add", [&](auto tag) {
    using T = decltype(tag);
    add_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<T*>(dst),
                                                                    static_cast<const T*>(src), layout, n);
    check_launch("strided_add");
  });
}

void sum_to(void* out, const int64_t* out_shape, const void* src, DType dtype, const Layout& layout) {
  SumLayout l;
  l.rank = layout.rank;
  int64_t n_out = 1, n_red = 1;
  for (int d = 0; d < layout.rank; ++d) {
    l.shape[d] = layout.shape[d];
    l.src_strides[d] = layout.src_strides[d];
    l.reduced[d] = out_shape[d] == 1 && layout.shape[d] != 1;
    (l.reduced[d] ? n_red : n_out) *= layout.shape[d];
  }
  if (n_out == 0 || n_red == 0) return;
  dispatch_floating(dtype, "sum_to", [&](auto tag) {
    using T = decltype(tag);
    using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
    sum_to_kernel<T, Acc><<<grid_for(n_out, kThreads), kThreads, 0, stream()>>>(
        static_cast<T*>(out), static_cast<const T*>(src), l, n_out, n_red);
    check_launch("sum_to");
  });
}

}  // namespace hm::cuda
