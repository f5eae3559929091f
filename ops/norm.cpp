// Normalisation ops: Tensor -> pointers, autograd recording, kernel-variant selection (docs/ENGINE.md). The math is
// in cpu/norm_*.cpp; the formulas are in cpu/norm.h.
#include "ops/norm.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "engine/autograd.h"
#include "engine/strided.h"

namespace hm {
namespace {

// Data pointer of an optional tensor, null when undefined.
template <class T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Pointer for the kernels of the tensor's own device, null when undefined: the checked host pointer for a CPU
// tensor, the device pointer for a CUDA one (dtype and device were checked by the op).
template <class T>
T* kernel_ptr(const Tensor& t) {
  if (!t.defined()) return nullptr;
  return t.is_cuda() ? t.device_data<T>() : t.data<T>();
}

// Optional per-channel parameter (weight, bias, running stats): (C,) of x's dtype on x's device, made contiguous.
Tensor channel_param(const char* op, const char* name, const Tensor& p, int64_t C, const Tensor& x) {
  if (!p.defined()) return p;
  check(p.dim() == 1 && p.size(0) == C, op, ": ", name, " must have shape (", C, ",) for input of shape ", x.shape(),
        ", got ", p.shape());
  check(p.dtype() == x.dtype(), op, ": ", name, " has dtype ", p.dtype(), " but the input is ", x.dtype());
  check(p.device() == x.device(), op, ": ", name, " is on ", p.device(), " but the input is on ", x.device());
  return p.contiguous();
}

// "_f32" / "_f64": the dtype suffix of the per-dtype kernel tables.
template <class T>
std::string dtype_suffix() {
  return std::is_same_v<T, float> ? "_f32" : "_f64";
}

// Contiguous gradient (the tape may hand over broadcast or strided views).
Tensor grad_of(const std::vector<Tensor>& g) { return g[0].contiguous(); }

// Rows of the layer-norm backward are cut into a fixed number of blocks (independent of the thread count, so the
// weight/bias gradient sums are bit-identical for any --threads); each block owns a partial dweight/dbias row.
constexpr int64_t kLayerNormBlocks = 32;

}  // namespace

template <>
KernelTable<cpu::LayerNormForwardFn<float>>& layer_norm_forward_table<float>() {
  static KernelTable<cpu::LayerNormForwardFn<float>> t("layer_norm_forward_f32");
  return t;
}
template <>
KernelTable<cpu::LayerNormForwardFn<double>>& layer_norm_forward_table<double>() {
  static KernelTable<cpu::LayerNormForwardFn<double>> t("layer_norm_forward_f64");
  return t;
}
template <>
KernelTable<cpu::LayerNormBackwardFn<float>>& layer_norm_backward_table<float>() {
  static KernelTable<cpu::LayerNormBackwardFn<float>> t("layer_norm_backward_f32");
  return t;
}
template <>
KernelTable<cpu::LayerNormBackwardFn<double>>& layer_norm_backward_table<double>() {
  static KernelTable<cpu::LayerNormBackwardFn<double>> t("layer_norm_backward_f64");
  return t;
}

template <class T>
KernelTable<cpu::LayerNormForwardFn<T>>& layer_norm_forward_cuda_table() {
  static KernelTable<cpu::LayerNormForwardFn<T>> t("layer_norm_forward" + dtype_suffix<T>(), DeviceType::cuda);
  return t;
}
template <class T>
KernelTable<cpu::LayerNormBackwardFn<T>>& layer_norm_backward_cuda_table() {
  static KernelTable<cpu::LayerNormBackwardFn<T>> t("layer_norm_backward" + dtype_suffix<T>(), DeviceType::cuda);
  return t;
}
template <class T>
KernelTable<GroupNormFns<T>>& group_norm_table() {
  static KernelTable<GroupNormFns<T>> t("group_norm" + dtype_suffix<T>());
  return t;
}
template <class T>
KernelTable<GroupNormFns<T>>& group_norm_cuda_table() {
  static KernelTable<GroupNormFns<T>> t("group_norm" + dtype_suffix<T>(), DeviceType::cuda);
  return t;
}
template <class T>
KernelTable<BatchNormFns<T>>& batch_norm_table() {
  static KernelTable<BatchNormFns<T>> t("batch_norm" + dtype_suffix<T>());
  return t;
}
template <class T>
KernelTable<BatchNormFns<T>>& batch_norm_cuda_table() {
  static KernelTable<BatchNormFns<T>> t("batch_norm" + dtype_suffix<T>(), DeviceType::cuda);
  return t;
}
template KernelTable<cpu::LayerNormForwardFn<float>>& layer_norm_forward_cuda_table<float>();
template KernelTable<cpu::LayerNormForwardFn<double>>& layer_norm_forward_cuda_table<double>();
template KernelTable<cpu::LayerNormBackwardFn<float>>& layer_norm_backward_cuda_table<float>();
template KernelTable<cpu::LayerNormBackwardFn<double>>& layer_norm_backward_cuda_table<double>();
template KernelTable<GroupNormFns<float>>& group_norm_table<float>();
template KernelTable<GroupNormFns<double>>& group_norm_table<double>();
template KernelTable<GroupNormFns<float>>& group_norm_cuda_table<float>();
template KernelTable<GroupNormFns<double>>& group_norm_cuda_table<double>();
template KernelTable<BatchNormFns<float>>& batch_norm_table<float>();
template KernelTable<BatchNormFns<double>>& batch_norm_table<double>();
template KernelTable<BatchNormFns<float>>& batch_norm_cuda_table<float>();
template KernelTable<BatchNormFns<double>>& batch_norm_cuda_table<double>();

namespace {
template <class T>
void register_cpu_norm_kernels() {
  group_norm_table<T>().add("scalar", {cpu::group_norm_forward<T>, cpu::group_norm_backward<T>}, 0);
  batch_norm_table<T>().add("scalar",
                            {cpu::batch_norm_stats<T>, cpu::batch_norm_update_running<T>, cpu::batch_norm_rstd<T>,
                             cpu::batch_norm_apply<T>, cpu::batch_norm_backward<T>},
                            0);
}
const bool kLayerNormKernels = [] {
  layer_norm_forward_table<float>().add("scalar", cpu::scalar::layer_norm_forward<float>, 0);
  layer_norm_forward_table<float>().add("highway", cpu::simd::layer_norm_forward_f32, 10);
  layer_norm_forward_table<double>().add("scalar", cpu::scalar::layer_norm_forward<double>, 0);
  layer_norm_forward_table<double>().add("highway", cpu::simd::layer_norm_forward_f64, 10);
  layer_norm_backward_table<float>().add("scalar", cpu::scalar::layer_norm_backward<float>, 0);
  layer_norm_backward_table<float>().add("highway", cpu::simd::layer_norm_backward_f32, 10);
  layer_norm_backward_table<double>().add("scalar", cpu::scalar::layer_norm_backward<double>, 0);
  layer_norm_backward_table<double>().add("highway", cpu::simd::layer_norm_backward_f64, 10);
  register_cpu_norm_kernels<float>();
  register_cpu_norm_kernels<double>();
  return true;
}();
const OpRegistrar kNormOps{"layer_norm", "group_norm", "batch_norm"};
}  // namespace

// ---------------------------------------------------------------------------------------------------------------
namespace {

// Layer-norm gradients on the GPU: one call over all rows (the kernels split the rows themselves and reduce the
// weight / bias gradients deterministically); dweight / dbias start at zero because the kernels accumulate.
std::vector<Tensor> layer_norm_backward_cuda(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                             const Tensor& mean, const Tensor& rstd, int64_t rows, int64_t C,
                                             const std::vector<bool>& needs) {
  Tensor dx = needs[0] ? empty_like(x) : Tensor();
  Tensor dw = needs[1] ? zeros({C}, x.dtype(), x.device()) : Tensor();
  Tensor db = needs[2] ? zeros({C}, x.dtype(), x.device()) : Tensor();
  dispatch_float(x.dtype(), "layer_norm backward", [&](auto tag) {
    using T = decltype(tag);
    layer_norm_backward_cuda_table<T>().get()(kernel_ptr<T>(dy), kernel_ptr<T>(x), kernel_ptr<T>(weight),
                                              kernel_ptr<T>(mean), kernel_ptr<T>(rstd), rows, C, kernel_ptr<T>(dx),
                                              kernel_ptr<T>(dw), kernel_ptr<T>(db));
  });
  return {dx, dw, db};
}

}  // namespace

Tensor layer_norm(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, double eps) {
  check(x_in.dim() >= 1 && x_in.size(-1) >= 1, "layer_norm: input must have a non-empty last dim, got shape ",
        x_in.shape());
  const int64_t C = x_in.size(-1);
  const Tensor x = x_in.contiguous();
  const Tensor weight = channel_param("layer_norm", "weight", weight_in, C, x);
  const Tensor bias = channel_param("layer_norm", "bias", bias_in, C, x);
  const int64_t rows = x.numel() / C;
  Tensor y = empty_like(x);
  Tensor mean = empty({rows}, x.dtype(), x.device()), rstd = empty({rows}, x.dtype(), x.device());  // (rows)
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    if (x.is_cuda()) {  // one call: the CUDA kernels parallelise over the rows themselves
      layer_norm_forward_cuda_table<T>().get()(kernel_ptr<T>(x), kernel_ptr<T>(weight), kernel_ptr<T>(bias), T(eps),
                                               rows, C, kernel_ptr<T>(y), kernel_ptr<T>(mean), kernel_ptr<T>(rstd));
      return;
    }
    const auto fwd = layer_norm_forward_table<T>().get();
    const T *px = x.data<T>(), *pw = ptr_or_null<T>(weight), *pb = ptr_or_null<T>(bias);
    T *py = y.data<T>(), *pm = mean.data<T>(), *ps = rstd.data<T>();
    cpu::parallel_for(rows, 8 * C, [&](int64_t r0, int64_t r1) {
      fwd(px + r0 * C, pw, pb, T(eps), r1 - r0, C, py + r0 * C, pm + r0, ps + r0);
    });
  });
  // Saved context: x, weight (for dx), mean and rstd; bias is not needed.
  record("layer_norm", {x, weight, bias}, {y},
         [x, weight, mean, rstd, rows, C](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
           const Tensor dy = grad_of(g);
           if (x.is_cuda()) return layer_norm_backward_cuda(dy, x, weight, mean, rstd, rows, C, needs);
           Tensor dx = needs[0] ? empty_like(x) : Tensor();
           Tensor dw = needs[1] ? empty({C}, x.dtype()) : Tensor();
           Tensor db = needs[2] ? empty({C}, x.dtype()) : Tensor();
           dispatch_float(x.dtype(), "layer_norm backward", [&](auto tag) {
             using T = decltype(tag);
             const auto bwd = layer_norm_backward_table<T>().get();
             const int64_t blocks = std::min(rows, kLayerNormBlocks);
             std::vector<T> pdw(size_t(needs[1] ? blocks * C : 0), T(0)), pdb(size_t(needs[2] ? blocks * C : 0), T(0));
             const T *pdy = dy.data<T>(), *px = x.data<T>(), *pw = ptr_or_null<T>(weight);
             const T *pm = mean.data<T>(), *ps = rstd.data<T>();
             T* pdx = ptr_or_null<T>(dx);
             cpu::parallel_for(blocks, 10 * rows / std::max<int64_t>(blocks, 1) * C, [&](int64_t k0, int64_t k1) {
               for (int64_t k = k0; k < k1; ++k) {
                 const int64_t r0 = k * rows / blocks, r1 = (k + 1) * rows / blocks;
                 bwd(pdy + r0 * C, px + r0 * C, pw, pm + r0, ps + r0, r1 - r0, C, pdx ? pdx + r0 * C : nullptr,
                     pdw.empty() ? nullptr : pdw.data() + k * C, pdb.empty() ? nullptr : pdb.data() + k * C);
               }
             });
             // Fixed-order reduction of the block partials.
             for (auto [partial, out] : {std::pair{&pdw, &dw}, std::pair{&pdb, &db}}) {
               if (!out->defined()) continue;
               T* po = out->template data<T>();
               std::fill(po, po + C, T(0));
               for (int64_t k = 0; k < blocks; ++k)
                 for (int64_t c = 0; c < C; ++c) po[c] += (*partial)[size_t(k * C + c)];
             }
           });
           return std::vector<Tensor>{dx, dw, db};
         });
  return y;
}

// ---------------------------------------------------------------------------------------------------------------
// Group and batch norm run the same code on every device: the kernel table of x's device supplies the kernels.
Tensor group_norm(const Tensor& x_in, int64_t num_groups, const Tensor& weight_in, const Tensor& bias_in, double eps) {
  check(x_in.dim() >= 2, "group_norm: input must be (B, C, *), got shape ", x_in.shape());
  const int64_t B = x_in.size(0), C = x_in.size(1);
  check(num_groups >= 1 && C % num_groups == 0, "group_norm: ", C, " channels (input ", x_in.shape(),
        ") are not divisible into ", num_groups, " groups");
  const Tensor x = x_in.contiguous();
  const Tensor weight = channel_param("group_norm", "weight", weight_in, C, x);
  const Tensor bias = channel_param("group_norm", "bias", bias_in, C, x);
  int64_t L = 1;  // product of the trailing dims
  for (int64_t k = 2; k < x.dim(); ++k) L *= x.size(k);
  check(L >= 1 && C >= 1, "group_norm: input of shape ", x.shape(), " has no elements to normalise per group");
  const int64_t G = num_groups;
  Tensor y = empty_like(x);
  Tensor mean = empty({B, G}, x.dtype(), x.device()), rstd = empty({B, G}, x.dtype(), x.device());  // (B, G)
  dispatch_float(x.dtype(), "group_norm", [&](auto tag) {
    using T = decltype(tag);
    const auto k = x.is_cuda() ? group_norm_cuda_table<T>().get() : group_norm_table<T>().get();
    k.forward(kernel_ptr<T>(x), kernel_ptr<T>(weight), kernel_ptr<T>(bias), T(eps), B, C, L, G, kernel_ptr<T>(y),
              kernel_ptr<T>(mean), kernel_ptr<T>(rstd));
  });
  record("group_norm", {x, weight, bias}, {y},
         [x, weight, mean, rstd, B, C, L, G](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
           const Tensor dy = grad_of(g);
           Tensor dx = needs[0] ? empty_like(x) : Tensor();
           Tensor dw = needs[1] ? empty({C}, x.dtype(), x.device()) : Tensor();
           Tensor db = needs[2] ? empty({C}, x.dtype(), x.device()) : Tensor();
           dispatch_float(x.dtype(), "group_norm backward", [&](auto tag) {
             using T = decltype(tag);
             const auto k = x.is_cuda() ? group_norm_cuda_table<T>().get() : group_norm_table<T>().get();
             k.backward(kernel_ptr<T>(dy), kernel_ptr<T>(x), kernel_ptr<T>(weight), kernel_ptr<T>(mean),
                        kernel_ptr<T>(rstd), B, C, L, G, kernel_ptr<T>(dx), kernel_ptr<T>(dw), kernel_ptr<T>(db));
           });
           return std::vector<Tensor>{dx, dw, db};
         });
  return y;
}

// ---------------------------------------------------------------------------------------------------------------
Tensor batch_norm(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps, const Tensor& padding_mask) {
  check(x_in.dim() == 2 || x_in.dim() == 3, "batch_norm: input must be (B, C) or (B, C, L), got shape ", x_in.shape());
  const int64_t B = x_in.size(0), C = x_in.size(1), L = x_in.dim() == 3 ? x_in.size(2) : 1;
  const Tensor x = x_in.contiguous();
  const Tensor weight = channel_param("batch_norm", "weight", weight_in, C, x);
  const Tensor bias = channel_param("batch_norm", "bias", bias_in, C, x);
  for (const auto& [name, r] : {std::pair{"running_mean", &running_mean}, std::pair{"running_var", &running_var}}) {
    if (!r->defined()) continue;
    channel_param("batch_norm", name, *r, C, x);
    check(r->is_contiguous() && !r->requires_grad(), "batch_norm: ", name,
          " must be a contiguous buffer that does not require grad (it is updated in place)");
  }
  check(training || (running_mean.defined() && running_var.defined()),
        "batch_norm: eval mode needs running_mean and running_var");
  Tensor mask;
  if (padding_mask.defined()) {
    check(x.dim() == 3, "batch_norm: a padding mask needs a (B, C, L) input, got shape ", x.shape());
    check(padding_mask.dtype() == DType::u8 && padding_mask.shape() == Shape{B, L},
          "batch_norm: padding mask must be u8 of shape ", Shape{B, L}, " for input ", x.shape(), ", got ",
          padding_mask.dtype(), " ", padding_mask.shape());
    check(padding_mask.device() == x.device(), "batch_norm: padding mask is on ", padding_mask.device(),
          " but the input is on ", x.device());
    mask = padding_mask.contiguous();
  }
  Tensor y = empty_like(x);
  Tensor mean = empty({C}, x.dtype(), x.device()), rstd = empty({C}, x.dtype(), x.device());  // (C) used statistics
  int64_t n_valid = B * L;
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const auto k = x.is_cuda() ? batch_norm_cuda_table<T>().get() : batch_norm_table<T>().get();
    const uint8_t* pmask = kernel_ptr<uint8_t>(mask);
    if (training) {
      Tensor var = empty({C}, x.dtype(), x.device());  // (C) biased batch variance
      n_valid = k.stats(kernel_ptr<T>(x), pmask, B, C, L, kernel_ptr<T>(mean), kernel_ptr<T>(var));
      check(n_valid > 1, "batch_norm: expected more than 1 value per channel when training, got input of shape ",
            x.shape(), pmask ? cat(" with ", n_valid, " unpadded frames") : std::string());
      k.update_running(kernel_ptr<T>(mean), kernel_ptr<T>(var), n_valid, T(momentum), C, kernel_ptr<T>(running_mean),
                       kernel_ptr<T>(running_var));
      k.rstd(kernel_ptr<T>(var), T(eps), C, kernel_ptr<T>(rstd));
    } else {
      strided::copy(mean, running_mean);  // a copy: a later training step may update the running buffer in place
      k.rstd(kernel_ptr<T>(running_var), T(eps), C, kernel_ptr<T>(rstd));
    }
    k.apply(kernel_ptr<T>(x), kernel_ptr<T>(mean), kernel_ptr<T>(rstd), kernel_ptr<T>(weight), kernel_ptr<T>(bias), B,
            C, L, kernel_ptr<T>(y));
  });
  record("batch_norm", {x, weight, bias}, {y},
         [x, mask, weight, mean, rstd, training, n_valid, B, C, L](const std::vector<Tensor>& g,
                                                                   const std::vector<bool>& needs) {
           const Tensor dy = grad_of(g);
           Tensor dx = needs[0] ? empty_like(x) : Tensor();
           Tensor dw = needs[1] ? empty({C}, x.dtype(), x.device()) : Tensor();
           Tensor db = needs[2] ? empty({C}, x.dtype(), x.device()) : Tensor();
           dispatch_float(x.dtype(), "batch_norm backward", [&](auto tag) {
             using T = decltype(tag);
             const auto k = x.is_cuda() ? batch_norm_cuda_table<T>().get() : batch_norm_table<T>().get();
             k.backward(kernel_ptr<T>(dy), kernel_ptr<T>(x), kernel_ptr<uint8_t>(mask), kernel_ptr<T>(weight),
                        kernel_ptr<T>(mean), kernel_ptr<T>(rstd), training, n_valid, B, C, L, kernel_ptr<T>(dx),
                        kernel_ptr<T>(dw), kernel_ptr<T>(db));
           });
           return std::vector<Tensor>{dx, dw, db};
         });
  return y;
}

}  // namespace hm
