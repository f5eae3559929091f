#include "ops/random_ops.h"

#include "cpu/elementwise_scalar.h"
#include "engine/autograd.h"
#include "ops/elementwise.h"

namespace hm {

template <>
KernelTable<DropoutFn<float>>& dropout_table<float>() {
  static KernelTable<DropoutFn<float>> t("dropout_f32");
  return t;
}
template <>
KernelTable<DropoutFn<double>>& dropout_table<double>() {
  static KernelTable<DropoutFn<double>> t("dropout_f64");
  return t;
}
template <>
KernelTable<DropoutFn<float>>& dropout_cuda_table<float>() {
  static KernelTable<DropoutFn<float>> t("dropout_f32", DeviceType::cuda);
  return t;
}
template <>
KernelTable<DropoutFn<double>>& dropout_cuda_table<double>() {
  static KernelTable<DropoutFn<double>> t("dropout_f64", DeviceType::cuda);
  return t;
}

namespace {
const OpRegistrar kOps{"dropout"};
const bool kDropoutKernels = (dropout_table<float>().add("scalar", cpu::scalar::dropout<float>, 0),
                              dropout_table<double>().add("scalar", cpu::scalar::dropout<double>, 0),
                              dropout_cuda_table<float>(), dropout_cuda_table<double>(), true);
}  // namespace

Tensor dropout(const Tensor& x_in, double p, bool training, Generator& gen) {
  check(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x_in;
  const Tensor x = x_in.detach().contiguous();
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  Tensor mask = empty(x.shape(), x.dtype(), x.device());  // 0 or 1 / (1 - p): the backward is g * mask
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    const uint64_t counter = gen.reserve(uint64_t((x.numel() + 3) / 4));
    if (x.is_cuda())
      dropout_cuda_table<T>().get()(x.device_data<T>(), y.device_data<T>(), mask.device_data<T>(), x.numel(), p,
                                    gen.seed(), counter);
    else
      dropout_table<T>().get()(x.data<T>(), y.data<T>(), mask.data<T>(), x.numel(), p, gen.seed(), counter);
  });
  record("dropout", {x_in}, {y}, [mask](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{mul(g[0], mask)};
  });
  return y;
}

}  // namespace hm
