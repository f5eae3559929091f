#include "ops/optimizer.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/strided.h"
#include "ops/elementwise.h"

namespace hm {
namespace {

template <class T>
void adam_scalar(T* w, const T* g, T* m, T* v, int64_t n, const AdamHyper& h) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t k = 0; k < n; ++k) {
    double grad = double(g[k]);
    if (!h.decoupled) grad += h.weight_decay * double(w[k]);
    const double mk = h.beta1 * double(m[k]) + (1 - h.beta1) * grad;
    const double vk = h.beta2 * double(v[k]) + (1 - h.beta2) * grad * grad;
    m[k] = T(mk);
    v[k] = T(vk);
    double wk = double(w[k]);
    if (h.decoupled) wk -= h.lr * h.weight_decay * wk;  // AdamW: decay applied to the weight, not the gradient
    wk -= h.lr * (mk / h.bias_correction1) / (std::sqrt(vk / h.bias_correction2) + h.eps);
    w[k] = T(wk);
  }
}

const bool kRegScalar =
    (adam_update_table().add("scalar", AdamKernels{&adam_scalar<float>, &adam_scalar<double>}, 0), true);

}  // namespace

KernelTable<AdamKernels>& adam_update_table() {
  static KernelTable<AdamKernels> t("adam_update");
  return t;
}
KernelTable<AdamKernels>& adam_update_cuda_table() {
  static KernelTable<AdamKernels> t("adam_update", DeviceType::cuda);
  return t;
}
KernelTable<SumSquaresKernels>& sum_squares_cuda_table() {
  static KernelTable<SumSquaresKernels> t("sum_squares", DeviceType::cuda);
  return t;
}

void adam_update(const Tensor& w, const Tensor& g, const Tensor& m, const Tensor& v, const AdamHyper& h) {
  for (const Tensor* t : {&g, &m, &v}) {
    check(t->shape() == w.shape() && t->dtype() == w.dtype() && t->device() == w.device(),
          "adam_update: operand ", t->shape(), " ", t->dtype(), " on ", t->device(), " does not match the weight ",
          w.shape(), " ", w.dtype(), " on ", w.device());
    check(t->is_contiguous(), "adam_update: operands must be contiguous");
  }
  check(w.is_contiguous(), "adam_update: the weight must be contiguous");
  const AdamKernels k = w.is_cuda() ? adam_update_cuda_table().get() : adam_update_table().get();
  const int64_t n = w.numel();
  dispatch_float(w.dtype(), "adam_update", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      k.f32(w.device_data<float>(), g.device_data<float>(), m.device_data<float>(), v.device_data<float>(), n, h);
    else
      k.f64(w.device_data<double>(), g.device_data<double>(), m.device_data<double>(), v.device_data<double>(), n, h);
  });
}

double global_norm(const std::vector<Tensor>& tensors) {
  // Per-tensor sums of squares in double, added in tensor order: deterministic on every device.
  double total = 0;
  std::vector<Tensor> on_device;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (t.is_cuda()) {
      on_device.push_back(t.contiguous());
      continue;
    }
    for (double x : t.to_vector<double>()) total += x * x;
  }
  if (!on_device.empty()) {
    // One launch per dtype group, one copy back: (n,) partial sums.
    for (DType dt : {DType::f32, DType::f64}) {
      std::vector<const void*> ptrs;
      std::vector<int64_t> sizes;
      for (const Tensor& t : on_device)
        if (t.dtype() == dt) ptrs.push_back(t.device_raw_data()), sizes.push_back(t.numel());
      if (ptrs.empty()) continue;
      const int64_t n = int64_t(ptrs.size());
      const Device dev = on_device.front().device();
      // Pointer and size tables travel to the device as i64 tensors.
      std::vector<int64_t> ptr_bits(ptrs.size());
      for (size_t i = 0; i < ptrs.size(); ++i) ptr_bits[i] = int64_t(reinterpret_cast<intptr_t>(ptrs[i]));
      const Tensor dptrs = from_vector(ptr_bits, {n}).to(dev), dsizes = from_vector(sizes, {n}).to(dev);
      Tensor sums = empty({n}, DType::f64, dev);
      const SumSquaresKernels k = sum_squares_cuda_table().get();
      if (dt == DType::f32)
        k.f32(dptrs.device_data<const float* const>(), dsizes.device_data<int64_t>(), n, sums.device_data<double>());
      else
        k.f64(dptrs.device_data<const double* const>(), dsizes.device_data<int64_t>(), n, sums.device_data<double>());
      for (double s : sums.to_vector<double>()) total += s;
    }
  }
  return std::sqrt(total);
}

void scale_inplace(const Tensor& t, double s) {
  NoGradGuard ng;
  if (t.is_cuda()) {
    strided::copy(t, mul(t, s));  // once per update (gradient clipping): two passes are fine
    return;
  }
  dispatch_float(t.dtype(), "scale_inplace", [&](auto tag) {
    using T = decltype(tag);
    T* d = t.data<T>();
    for (int64_t k = 0; k < t.numel(); ++k) d[k] = T(double(d[k]) * s);
  });
}

}  // namespace hm
