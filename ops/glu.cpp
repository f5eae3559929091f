// GLU op: Tensor -> pointers, kernel-variant selection and autograd recording; kernels in cpu/glu*.cpp.
#include "ops/glu.h"

#include <algorithm>

#include "cpu/parallel.h"
#include "engine/autograd.h"

namespace hm {

template <>
KernelTable<cpu::GluForwardFn<float>>& glu_forward_table<float>() {
  static KernelTable<cpu::GluForwardFn<float>> t("glu_forward_f32");
  return t;
}
template <>
KernelTable<cpu::GluForwardFn<double>>& glu_forward_table<double>() {
  static KernelTable<cpu::GluForwardFn<double>> t("glu_forward_f64");
  return t;
}
template <>
KernelTable<cpu::GluBackwardFn<float>>& glu_backward_table<float>() {
  static KernelTable<cpu::GluBackwardFn<float>> t("glu_backward_f32");
  return t;
}
template <>
KernelTable<cpu::GluBackwardFn<double>>& glu_backward_table<double>() {
  static KernelTable<cpu::GluBackwardFn<double>> t("glu_backward_f64");
  return t;
}

template <>
KernelTable<GluCudaFns<float>>& glu_cuda_table<float>() {
  static KernelTable<GluCudaFns<float>> t("glu_forward_f32", DeviceType::cuda);
  return t;
}
template <>
KernelTable<GluCudaFns<double>>& glu_cuda_table<double>() {
  static KernelTable<GluCudaFns<double>> t("glu_forward_f64", DeviceType::cuda);
  return t;
}

namespace {

// Listed by `hubmamba kernels` even in a CPU-only build (empty there).
[[maybe_unused]] const bool kGluCudaTables = (glu_cuda_table<float>(), glu_cuda_table<double>(), true);

const bool kGluKernels = [] {
  glu_forward_table<float>().add("scalar", cpu::scalar::glu_forward<float>, 0);
  glu_forward_table<float>().add("highway", cpu::simd::glu_forward_f32, 10);
  glu_forward_table<double>().add("scalar", cpu::scalar::glu_forward<double>, 0);
  glu_forward_table<double>().add("highway", cpu::simd::glu_forward_f64, 10);
  glu_backward_table<float>().add("scalar", cpu::scalar::glu_backward<float>, 0);
  glu_backward_table<float>().add("highway", cpu::simd::glu_backward_f32, 10);
  glu_backward_table<double>().add("scalar", cpu::scalar::glu_backward<double>, 0);
  glu_backward_table<double>().add("highway", cpu::simd::glu_backward_f64, 10);
  return true;
}();
const OpRegistrar kGluOps{"glu"};

// Run f(p, begin, end) over the P spans of n = H * Q elements in pieces of at most kPiece, across threads.
constexpr int64_t kPiece = 4096;
template <class F>
void for_spans(int64_t P, int64_t n, F&& f) {
  const int64_t pieces = std::max<int64_t>(1, (n + kPiece - 1) / kPiece);
  cpu::parallel_for(P * pieces, 16 * std::min(n, kPiece), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t p = k / pieces, begin = (k % pieces) * kPiece;
      f(p, begin, std::min(n, begin + kPiece));
    }
  });
}

}  // namespace

Tensor glu(const Tensor& x_in, int64_t dim) {
  check(x_in.dim() >= 1, "glu: input must have at least one dim, got a scalar");
  const int64_t d = wrap_dim(dim, x_in.dim(), "glu");
  const int64_t two_h = x_in.size(d);
  check(two_h % 2 == 0, "glu: halving dimension must be even, but dim ", d, " of input ", x_in.shape(), " has size ",
        two_h);
  const Tensor x = x_in.contiguous();
  int64_t P = 1, Q = 1;  // x viewed as (P, 2H, Q)
  for (int64_t k = 0; k < d; ++k) P *= x.size(k);
  for (int64_t k = d + 1; k < x.dim(); ++k) Q *= x.size(k);
  const int64_t n = two_h / 2 * Q;  // elements per half: a = x[p, :H], b = x[p, H:] are contiguous (H * Q)
  Shape out_shape = x.shape();
  out_shape[size_t(d)] = two_h / 2;
  Tensor y = empty(out_shape, x.dtype(), x.device());  // (P, H, Q)
  dispatch_float(x.dtype(), "glu", [&](auto tag) {
    using T = decltype(tag);
    if (x.is_cuda()) return glu_cuda_table<T>().get().forward(x.device_data<T>(), y.device_data<T>(), P, n);
    const auto fwd = glu_forward_table<T>().get();
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_spans(P, n, [&](int64_t p, int64_t b, int64_t e) {
      const T* a = px + p * 2 * n;  // (n) first half
      fwd(a + b, a + n + b, e - b, py + p * n + b);
    });
  });
  // Saved context: x only (the gate is recomputed in backward).
  record("glu", {x}, {y}, [x, P, n](const std::vector<Tensor>& g, const std::vector<bool>&) {
    const Tensor dy = g[0].contiguous();
    Tensor dx = empty_like(x);
    dispatch_float(x.dtype(), "glu backward", [&](auto tag) {
      using T = decltype(tag);
      if (x.is_cuda())
        return glu_cuda_table<T>().get().backward(dy.device_data<T>(), x.device_data<T>(), dx.device_data<T>(), P, n);
      const auto bwd = glu_backward_table<T>().get();
      const T *px = x.data<T>(), *pdy = dy.data<T>();
      T* pdx = dx.data<T>();
      for_spans(P, n, [&](int64_t p, int64_t b, int64_t e) {
        const T* a = px + p * 2 * n;
        T* da = pdx + p * 2 * n;
        bwd(pdy + p * n + b, a + b, a + n + b, e - b, da + b, da + n + b);
      });
    });
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace hm
