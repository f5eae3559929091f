// CUDA elementwise kernels (cuda/elementwise.h). Formulas mirror cpu/elementwise_scalar.cpp line for line so that
// the CUDA variants agree with the CPU scalar reference; the op is a template parameter of every kernel (one
// branch-free loop per op, chosen by a host-side switch).
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/elementwise.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

using cpu::BinaryOp;
using cpu::UnaryOp;
using detail::kThreads;
using detail::Pack;

template <BinaryOp OP, class T>
__device__ __forceinline__ T apply(T a, T b) {
  if constexpr (OP == BinaryOp::add) return a + b;
  if constexpr (OP == BinaryOp::sub) return a - b;
  if constexpr (OP == BinaryOp::mul) return a * b;
  if constexpr (OP == BinaryOp::div) return a / b;
  if constexpr (OP == BinaryOp::rsub) return b - a;
  if constexpr (OP == BinaryOp::rdiv) return b / a;
}

// sigmoid(x) = 1 / (1 + exp(-x)), the CPU scalar kernels' form.
template <class T>
__device__ __forceinline__ T sigmoid(T x) {
  return T(1) / (T(1) + detail::dexp(-x));
}

// Phi(x) = 0.5 erfc(-x / sqrt 2) and phi(x) = exp(-x^2 / 2) / sqrt(2 pi), in double for both dtypes (the CPU
// reference widens float to double too), so that the negative tail of gelu keeps its relative accuracy.
__device__ __forceinline__ double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
__device__ __forceinline__ double normal_pdf(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }

template <UnaryOp OP, class T>
__device__ __forceinline__ T unary_value(T x, T p) {
  if constexpr (OP == UnaryOp::neg) return -x;
  if constexpr (OP == UnaryOp::exp) return detail::dexp(x);
  if constexpr (OP == UnaryOp::log) return detail::dlog(x);
  if constexpr (OP == UnaryOp::sqrt) return detail::dsqrt(x);
  if constexpr (OP == UnaryOp::tanh) return detail::dtanh(x);
  if constexpr (OP == UnaryOp::sigmoid) return sigmoid(x);
  if constexpr (OP == UnaryOp::relu) return x < T(0) ? T(0) : x;  // NaN stays NaN (torch.relu)
  // gelu = x * Phi(x) (torch gelu, approximate='none')
  if constexpr (OP == UnaryOp::gelu) return x * T(normal_cdf(double(x)));
  if constexpr (OP == UnaryOp::silu) return x * sigmoid(x);
  // torch.nn.functional.softplus(x, beta=1, threshold=20)
  if constexpr (OP == UnaryOp::softplus) return x > T(20) ? x : detail::dlog1p(detail::dexp(x));
  if constexpr (OP == UnaryOp::pow) return detail::dpow(x, p);
}

// gy * f'(x or y); PyTorch writes a hard 0 (not gy * 0, which keeps a NaN gy) on relu's dead side and for pow(x, 0).
template <UnaryOp OP, class T>
__device__ __forceinline__ T unary_grad(T x, T y, T gy, T p) {
  if constexpr (OP == UnaryOp::neg) return -gy;
  if constexpr (OP == UnaryOp::exp) return gy * y;
  if constexpr (OP == UnaryOp::log) return gy * (T(1) / x);
  if constexpr (OP == UnaryOp::sqrt) return gy * (T(1) / (T(2) * y));
  if constexpr (OP == UnaryOp::tanh) return gy * (T(1) - y * y);
  if constexpr (OP == UnaryOp::sigmoid) return gy * (y * (T(1) - y));
  if constexpr (OP == UnaryOp::relu) return y > T(0) ? gy : T(0);
  // d/dx x Phi(x) = Phi(x) + x phi(x)  (PyTorch GeluBackward, 'none')
  if constexpr (OP == UnaryOp::gelu) return gy * T(normal_cdf(double(x)) + double(x) * normal_pdf(double(x)));
  // d/dx x s(x) = s (1 + x (1 - s))  (PyTorch silu_backward)
  if constexpr (OP == UnaryOp::silu) {
    const T s = sigmoid(x);
    return gy * (s * (T(1) + x * (T(1) - s)));
  }
  // softplus_backward: x > threshold ? 1 : sigmoid(x)
  if constexpr (OP == UnaryOp::softplus) return gy * (x > T(20) ? T(1) : sigmoid(x));
  if constexpr (OP == UnaryOp::pow) return p == T(0) ? T(0) : gy * (p * detail::dpow(x, p - T(1)));
}

// Call f(std::integral_constant<Op, op>) so that the kernel is instantiated per op.
template <class F>
void with_op(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add:
      return f(std::integral_constant<BinaryOp, BinaryOp::add>());
    case BinaryOp::sub:
      return f(std::integral_constant<BinaryOp, BinaryOp::sub>());
    case BinaryOp::mul:
      return f(std::integral_constant<BinaryOp, BinaryOp::mul>());
    case BinaryOp::div:
      return f(std::integral_constant<BinaryOp, BinaryOp::div>());
    case BinaryOp::rsub:
      return f(std::integral_constant<BinaryOp, BinaryOp::rsub>());
    case BinaryOp::rdiv:
      return f(std::integral_constant<BinaryOp, BinaryOp::rdiv>());
  }
  throw Error("cuda binary: unknown op " + std::to_string(int(op)));
}

template <class F>
void with_op(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::neg:
      return f(std::integral_constant<UnaryOp, UnaryOp::neg>());
    case UnaryOp::exp:
      return f(std::integral_constant<UnaryOp, UnaryOp::exp>());
    case UnaryOp::log:
      return f(std::integral_constant<UnaryOp, UnaryOp::log>());
    case UnaryOp::sqrt:
      return f(std::integral_constant<UnaryOp, UnaryOp::sqrt>());
    case UnaryOp::tanh:
      return f(std::integral_constant<UnaryOp, UnaryOp::tanh>());
    case UnaryOp::sigmoid:
      return f(std::integral_constant<UnaryOp, UnaryOp::sigmoid>());
    case UnaryOp::relu:
      return f(std::integral_constant<UnaryOp, UnaryOp::relu>());
    case UnaryOp::gelu:
      return f(std::integral_constant<UnaryOp, UnaryOp::gelu>());
    case UnaryOp::silu:
      return f(std::integral_constant<UnaryOp, UnaryOp::silu>());
    case UnaryOp::softplus:
      return f(std::integral_constant<UnaryOp, UnaryOp::softplus>());
    case UnaryOp::pow:
      return f(std::integral_constant<UnaryOp, UnaryOp::pow>());
  }
  throw Error("cuda unary: unknown op " + std::to_string(int(op)));
}

__device__ __forceinline__ int64_t thread_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t thread_count() { return int64_t(gridDim.x) * blockDim.x; }

// ---- binary ----

template <BinaryOp OP, class T>
__global__ void binary_kernel(const T* a, const T* b, T* out, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) out[i] = apply<OP>(a[i], b[i]);
}

// Packs of 16 bytes, then the tail (< one pack) element by element. All pointers 16-byte aligned.
template <BinaryOp OP, class T>
__global__ void binary_vec_kernel(const T* a, const T* b, T* out, int64_t n) {
  using P = Pack<T>;
  const int64_t packs = n / P::kSize;
  for (int64_t i = thread_index(); i < packs; i += thread_count()) {
    const P pa = reinterpret_cast<const P*>(a)[i], pb = reinterpret_cast<const P*>(b)[i];
    P po;
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) po.v[k] = apply<OP>(pa.v[k], pb.v[k]);
    reinterpret_cast<P*>(out)[i] = po;
  }
  for (int64_t i = packs * P::kSize + thread_index(); i < n; i += thread_count()) out[i] = apply<OP>(a[i], b[i]);
}

// The row / col / broadcast kernels divide the element index by sizes; Index is uint32_t when every index fits
// (32-bit division is several times cheaper than the emulated 64-bit one), int64_t otherwise.
template <BinaryOp OP, class T, class Index>
__global__ void binary_row_kernel(const T* a, const T* b, T* out, int64_t n, int64_t cols) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) out[i] = apply<OP>(a[i], b[Index(i) % Index(cols)]);
}

template <BinaryOp OP, class T, class Index>
__global__ void binary_col_kernel(const T* a, const T* b, T* out, int64_t n, int64_t cols) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) out[i] = apply<OP>(a[i], b[Index(i) / Index(cols)]);
}

template <BinaryOp OP, class T>
__global__ void binary_scalar_kernel(const T* a, T s, T* out, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) out[i] = apply<OP>(a[i], s);
}

template <BinaryOp OP, class T>
__global__ void binary_scalar_vec_kernel(const T* a, T s, T* out, int64_t n) {
  using P = Pack<T>;
  const int64_t packs = n / P::kSize;
  for (int64_t i = thread_index(); i < packs; i += thread_count()) {
    const P pa = reinterpret_cast<const P*>(a)[i];
    P po;
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) po.v[k] = apply<OP>(pa.v[k], s);
    reinterpret_cast<P*>(out)[i] = po;
  }
  for (int64_t i = packs * P::kSize + thread_index(); i < n; i += thread_count()) out[i] = apply<OP>(a[i], s);
}

// Geometry of the strided broadcast, passed by value (kernel parameter memory).
struct BroadcastParams {
  int ndim;
  int64_t shape[kMaxBroadcastDims];
  int64_t a_strides[kMaxBroadcastDims];
  int64_t b_strides[kMaxBroadcastDims];
};

template <BinaryOp OP, class T, class Index>
__global__ void binary_broadcast_kernel(const T* a, const T* b, T* out, int64_t n, BroadcastParams g) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    // Row-major coordinates of output element i, innermost dim first; offsets in 64 bits (views of big storages).
    Index rest = Index(i);
    int64_t oa = 0, ob = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      const Index size = Index(g.shape[d]), c = rest % size;
      rest /= size;
      oa += int64_t(c) * g.a_strides[d];
      ob += int64_t(c) * g.b_strides[d];
    }
    out[i] = apply<OP>(a[oa], b[ob]);
  }
}

// ---- unary ----

template <UnaryOp OP, class T>
__global__ void unary_kernel(const T* x, T* y, int64_t n, T p) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) y[i] = unary_value<OP>(x[i], p);
}

template <UnaryOp OP, class T>
__global__ void unary_vec_kernel(const T* x, T* y, int64_t n, T p) {
  using P = Pack<T>;
  const int64_t packs = n / P::kSize;
  for (int64_t i = thread_index(); i < packs; i += thread_count()) {
    const P px = reinterpret_cast<const P*>(x)[i];
    P py;
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) py.v[k] = unary_value<OP>(px.v[k], p);
    reinterpret_cast<P*>(y)[i] = py;
  }
  for (int64_t i = packs * P::kSize + thread_index(); i < n; i += thread_count()) y[i] = unary_value<OP>(x[i], p);
}

// x or y may be null: only the one cpu::backward_reads(OP) names is read.
template <UnaryOp OP, class T>
__global__ void unary_backward_kernel(const T* x, const T* y, const T* gy, T* gx, int64_t n, T p) {
  constexpr cpu::BackwardReads kReads = OP == UnaryOp::neg ? cpu::BackwardReads::none
                                        : (OP == UnaryOp::exp || OP == UnaryOp::sqrt || OP == UnaryOp::tanh ||
                                           OP == UnaryOp::sigmoid || OP == UnaryOp::relu)
                                            ? cpu::BackwardReads::output
                                            : cpu::BackwardReads::input;
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const T xi = kReads == cpu::BackwardReads::input ? x[i] : T(0);
    const T yi = kReads == cpu::BackwardReads::output ? y[i] : T(0);
    gx[i] = unary_grad<OP>(xi, yi, gy[i], p);
  }
}

template <class T>
__global__ void where_kernel(const uint8_t* cond, const T* a, const T* b, T* out, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) out[i] = cond[i] ? a[i] : b[i];
}

// Every element index of an n-element output fits 32 bits.
bool fits_32bit(int64_t n) { return n <= int64_t(INT32_MAX); }

bool all_aligned(const void* a, const void* b, const void* c) {
  return detail::aligned16(a) && detail::aligned16(b) && detail::aligned16(c);
}

}  // namespace

template <class T>
void binary_simple(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  if (n == 0) return;
  with_op(op, [&](auto k) {
    binary_kernel<decltype(k)::value><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, b, out, n);
  });
  check_launch("binary_kernel");
}

template <class T>
void binary_vec(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  if (n == 0) return;
  if (!all_aligned(a, b, out)) return binary_simple(op, a, b, out, n);
  const int64_t work = n / Pack<T>::kSize + 1;
  with_op(op, [&](auto k) {
    binary_vec_kernel<decltype(k)::value><<<grid_for(work, kThreads), kThreads, 0, stream()>>>(a, b, out, n);
  });
  check_launch("binary_vec_kernel");
}

template <class T>
void binary_row(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  with_op(op, [&](auto k) {
    if (fits_32bit(n))
      binary_row_kernel<decltype(k)::value, T, uint32_t>
          <<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, b, out, n, cols);
    else
      binary_row_kernel<decltype(k)::value, T, int64_t>
          <<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, b, out, n, cols);
  });
  check_launch("binary_row_kernel");
}

template <class T>
void binary_col(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  with_op(op, [&](auto k) {
    if (fits_32bit(n))
      binary_col_kernel<decltype(k)::value, T, uint32_t>
          <<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, b, out, n, cols);
    else
      binary_col_kernel<decltype(k)::value, T, int64_t>
          <<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, b, out, n, cols);
  });
  check_launch("binary_col_kernel");
}

template <class T>
void binary_scalar_simple(BinaryOp op, const T* a, T s, T* out, int64_t n) {
  if (n == 0) return;
  with_op(op, [&](auto k) {
    binary_scalar_kernel<decltype(k)::value><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, s, out, n);
  });
  check_launch("binary_scalar_kernel");
}

template <class T>
void binary_scalar_vec(BinaryOp op, const T* a, T s, T* out, int64_t n) {
  if (n == 0) return;
  if (!detail::aligned16(a) || !detail::aligned16(out)) return binary_scalar_simple(op, a, s, out, n);
  const int64_t work = n / Pack<T>::kSize + 1;
  with_op(op, [&](auto k) {
    binary_scalar_vec_kernel<decltype(k)::value><<<grid_for(work, kThreads), kThreads, 0, stream()>>>(a, s, out, n);
  });
  check_launch("binary_scalar_vec_kernel");
}

template <class T>
void binary_broadcast(BinaryOp op, const T* a, const T* b, T* out, int ndim, const int64_t* shape,
                      const int64_t* a_strides, const int64_t* b_strides) {
  hm::check(ndim >= 0 && ndim <= kMaxBroadcastDims, "cuda binary_broadcast: ", ndim, " dims, at most ",
            kMaxBroadcastDims, " supported");
  BroadcastParams g{};
  g.ndim = ndim;
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) {
    g.shape[d] = shape[d], g.a_strides[d] = a_strides[d], g.b_strides[d] = b_strides[d];
    n *= shape[d];
  }
  if (n == 0) return;
  with_op(op, [&](auto k) {
    if (fits_32bit(n))
      binary_broadcast_kernel<decltype(k)::value, T, uint32_t>
          <<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, b, out, n, g);
    else
      binary_broadcast_kernel<decltype(k)::value, T, int64_t>
          <<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, b, out, n, g);
  });
  check_launch("binary_broadcast_kernel");
}

template <class T>
void unary_simple(UnaryOp op, const T* x, T* y, int64_t n, T param) {
  if (n == 0) return;
  with_op(op, [&](auto k) {
    unary_kernel<decltype(k)::value><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x, y, n, param);
  });
  check_launch("unary_kernel");
}

template <class T>
void unary_vec(UnaryOp op, const T* x, T* y, int64_t n, T param) {
  if (n == 0) return;
  if (!detail::aligned16(x) || !detail::aligned16(y)) return unary_simple(op, x, y, n, param);
  const int64_t work = n / Pack<T>::kSize + 1;
  with_op(op, [&](auto k) {
    unary_vec_kernel<decltype(k)::value><<<grid_for(work, kThreads), kThreads, 0, stream()>>>(x, y, n, param);
  });
  check_launch("unary_vec_kernel");
}

template <class T>
void unary_backward_simple(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T param) {
  if (n == 0) return;
  with_op(op, [&](auto k) {
    unary_backward_kernel<decltype(k)::value><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x, y, gy, gx, n, param);
  });
  check_launch("unary_backward_kernel");
}

template <class T>
void where(const uint8_t* cond, const T* a, const T* b, T* out, int64_t n) {
  if (n == 0) return;
  where_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(cond, a, b, out, n);
  check_launch("where_kernel");
}

template void binary_simple<float>(BinaryOp, const float*, const float*, float*, int64_t);
template void binary_vec<float>(BinaryOp, const float*, const float*, float*, int64_t);
template void binary_row<float>(BinaryOp, const float*, const float*, float*, int64_t, int64_t);
template void binary_col<float>(BinaryOp, const float*, const float*, float*, int64_t, int64_t);
template void binary_scalar_simple<float>(BinaryOp, const float*, float, float*, int64_t);
template void binary_scalar_vec<float>(BinaryOp, const float*, float, float*, int64_t);
template void binary_broadcast<float>(BinaryOp, const float*, const float*, float*, int, const int64_t*, const int64_t*,
                                      const int64_t*);
template void unary_simple<float>(UnaryOp, const float*, float*, int64_t, float);
template void unary_vec<float>(UnaryOp, const float*, float*, int64_t, float);
template void unary_backward_simple<float>(UnaryOp, const float*, const float*, const float*, float*, int64_t, float);
template void where<float>(const uint8_t*, const float*, const float*, float*, int64_t);
template void binary_simple<double>(BinaryOp, const double*, const double*, double*, int64_t);
template void binary_vec<double>(BinaryOp, const double*, const double*, double*, int64_t);
template void binary_row<double>(BinaryOp, const double*, const double*, double*, int64_t, int64_t);
template void binary_col<double>(BinaryOp, const double*, const double*, double*, int64_t, int64_t);
template void binary_scalar_simple<double>(BinaryOp, const double*, double, double*, int64_t);
template void binary_scalar_vec<double>(BinaryOp, const double*, double, double*, int64_t);
template void binary_broadcast<double>(BinaryOp, const double*, const double*, double*, int, const int64_t*,
                                       const int64_t*, const int64_t*);
template void unary_simple<double>(UnaryOp, const double*, double*, int64_t, double);
template void unary_vec<double>(UnaryOp, const double*, double*, int64_t, double);
template void unary_backward_simple<double>(UnaryOp, const double*, const double*, const double*, double*, int64_t,
                                            double);
template void where<double>(const uint8_t*, const double*, const double*, double*, int64_t);

}  // namespace hm::cuda
