// Loss ops: validation, Tensor -> pointers, reductions and autograd recording. Kernels in cpu/loss_*.cpp.
#include "ops/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "engine/autograd.h"

namespace hm {

template <>
KernelTable<cpu::CrossEntropyForwardFn<float>>& cross_entropy_forward_table<float>() {
  static KernelTable<cpu::CrossEntropyForwardFn<float>> t("cross_entropy_forward_f32");
  return t;
}
template <>
KernelTable<cpu::CrossEntropyForwardFn<double>>& cross_entropy_forward_table<double>() {
  static KernelTable<cpu::CrossEntropyForwardFn<double>> t("cross_entropy_forward_f64");
  return t;
}
template <>
KernelTable<cpu::CrossEntropyBackwardFn<float>>& cross_entropy_backward_table<float>() {
  static KernelTable<cpu::CrossEntropyBackwardFn<float>> t("cross_entropy_backward_f32");
  return t;
}
template <>
KernelTable<cpu::CrossEntropyBackwardFn<double>>& cross_entropy_backward_table<double>() {
  static KernelTable<cpu::CrossEntropyBackwardFn<double>> t("cross_entropy_backward_f64");
  return t;
}

namespace {

// "_f32" / "_f64": the dtype suffix of the per-dtype kernel tables.
template <class T>
std::string dtype_suffix() {
  return std::is_same_v<T, float> ? "_f32" : "_f64";
}

// Pointer for the kernels of the tensor's own device, null when undefined (see ops/norm.cpp).
template <class T>
T* kernel_ptr(const Tensor& t) {
  if (!t.defined()) return nullptr;
  return t.is_cuda() ? t.device_data<T>() : t.data<T>();
}

}  // namespace

template <class T>
KernelTable<cpu::CrossEntropyForwardFn<T>>& cross_entropy_forward_cuda_table() {
  static KernelTable<cpu::CrossEntropyForwardFn<T>> t("cross_entropy_forward" + dtype_suffix<T>(), DeviceType::cuda);
  return t;
}
template <class T>
KernelTable<cpu::CrossEntropyBackwardFn<T>>& cross_entropy_backward_cuda_table() {
  static KernelTable<cpu::CrossEntropyBackwardFn<T>> t("cross_entropy_backward" + dtype_suffix<T>(), DeviceType::cuda);
  return t;
}
template <class T>
KernelTable<CtcLossFns<T>>& ctc_loss_table() {
  static KernelTable<CtcLossFns<T>> t("ctc_loss" + dtype_suffix<T>());
  return t;
}
template <class T>
KernelTable<CtcLossFns<T>>& ctc_loss_cuda_table() {
  static KernelTable<CtcLossFns<T>> t("ctc_loss" + dtype_suffix<T>(), DeviceType::cuda);
  return t;
}
template KernelTable<cpu::CrossEntropyForwardFn<float>>& cross_entropy_forward_cuda_table<float>();
template KernelTable<cpu::CrossEntropyForwardFn<double>>& cross_entropy_forward_cuda_table<double>();
template KernelTable<cpu::CrossEntropyBackwardFn<float>>& cross_entropy_backward_cuda_table<float>();
template KernelTable<cpu::CrossEntropyBackwardFn<double>>& cross_entropy_backward_cuda_table<double>();
template KernelTable<CtcLossFns<float>>& ctc_loss_table<float>();
template KernelTable<CtcLossFns<double>>& ctc_loss_table<double>();
template KernelTable<CtcLossFns<float>>& ctc_loss_cuda_table<float>();
template KernelTable<CtcLossFns<double>>& ctc_loss_cuda_table<double>();

namespace {

const bool kCrossEntropyKernels = [] {
  cross_entropy_forward_table<float>().add("scalar", cpu::scalar::cross_entropy_forward<float>, 0);
  cross_entropy_forward_table<float>().add("highway", cpu::simd::cross_entropy_forward_f32, 10);
  cross_entropy_forward_table<double>().add("scalar", cpu::scalar::cross_entropy_forward<double>, 0);
  cross_entropy_forward_table<double>().add("highway", cpu::simd::cross_entropy_forward_f64, 10);
  cross_entropy_backward_table<float>().add("scalar", cpu::scalar::cross_entropy_backward<float>, 0);
  cross_entropy_backward_table<float>().add("highway", cpu::simd::cross_entropy_backward_f32, 10);
  cross_entropy_backward_table<double>().add("scalar", cpu::scalar::cross_entropy_backward<double>, 0);
  cross_entropy_backward_table<double>().add("highway", cpu::simd::cross_entropy_backward_f64, 10);
  ctc_loss_table<float>().add(
      "scalar", {cpu::ctc_first_nan<float>, cpu::ctc_loss_forward<float>, cpu::ctc_loss_backward<float>}, 0);
  ctc_loss_table<double>().add(
      "scalar", {cpu::ctc_first_nan<double>, cpu::ctc_loss_forward<double>, cpu::ctc_loss_backward<double>}, 0);
  return true;
}();
const OpRegistrar kLossOps{"cross_entropy", "ctc_loss"};

// Values of an integer index tensor (i64 or i32), naming the op and argument on a wrong dtype.
std::vector<int64_t> index_values(const Tensor& t, const char* op, const char* name) {
  check(t.defined(), op, ": ", name, " is undefined");
  check(t.dtype() == DType::i64 || t.dtype() == DType::i32, op, ": ", name, " must be an int64 or int32 tensor, got ",
        t.dtype(), " of shape ", t.shape());
  return t.to_vector<int64_t>();
}

// The index arrays the CTC kernels read, on the host and, for a CUDA op, copied once to the GPU (int64).
struct CtcIndex {
  enum { kTargets, kOffsets, kInputLengths, kTargetLengths };
  std::vector<int64_t> host[4];  // labels (concatenated or padded), per-element label offsets (B), lengths (B), (B)
  Tensor device[4];              // the same on the GPU; undefined for a CPU op
  void upload(Device d) {
    for (int i = 0; i < 4; ++i) device[i] = from_vector(host[i], {int64_t(host[i].size())}).to(d);
  }
  const int64_t* ptr(int i) const { return device[i].defined() ? device[i].device_data<int64_t>() : host[i].data(); }
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
Tensor cross_entropy(const Tensor& logits_in, const Tensor& target, const Tensor& weight_in, int64_t ignore_index,
                     LossReduction reduction) {
  check(logits_in.dim() == 2 && logits_in.size(1) >= 1, "cross_entropy: logits must be (N, C) with C >= 1, got ",
        logits_in.shape());
  const int64_t N = logits_in.size(0), C = logits_in.size(1);
  check(target.dim() == 1 && target.size(0) == N, "cross_entropy: target must have shape (", N,
        ",) for logits of shape ", logits_in.shape(), ", got ", target.shape());
  check(target.device() == logits_in.device(), "cross_entropy: target is on ", target.device(),
        " but the logits are on ", logits_in.device());
  auto tgt = std::make_shared<std::vector<int64_t>>(index_values(target, "cross_entropy", "target"));  // (N)
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = (*tgt)[size_t(i)];
    check(t == ignore_index || (t >= 0 && t < C), "cross_entropy: target ", t, " at position ", i,
          " is out of range for ", C, " classes (ignore_index ", ignore_index, ")");
  }
  const Tensor logits = logits_in.contiguous();
  Tensor weight;
  if (weight_in.defined()) {
    check(weight_in.dim() == 1 && weight_in.size(0) == C, "cross_entropy: weight must have shape (", C, ",), got ",
          weight_in.shape());
    check(weight_in.dtype() == logits.dtype(), "cross_entropy: weight dtype ", weight_in.dtype(),
          " differs from logits dtype ", logits.dtype());
    check(weight_in.device() == logits.device(), "cross_entropy: weight is on ", weight_in.device(),
          " but the logits are on ", logits.device());
    check(!any_requires_grad({weight_in}),
          "cross_entropy: the derivative for the class weights is not implemented (as in torch); detach them");
    weight = weight_in.contiguous();
  }
  const bool on_gpu = logits.is_cuda();
  // (N) int64 targets on the GPU for the CUDA kernels (the host copy above was range-checked).
  const Tensor tgt_dev = on_gpu ? from_vector(*tgt, {N}).to(logits.device()) : Tensor();

  const Device dev = logits.device();
  Tensor loss = empty({N}, logits.dtype(), dev);                                          // (N) per-row loss
  Tensor lse = empty({N}, logits.dtype(), dev), row_w = empty({N}, logits.dtype(), dev);  // (N), (N)
  Tensor out;
  double total_weight = 0;  // sum of weight[t_i] over non-ignored rows: the mean's denominator
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    if (on_gpu) {  // one call: the CUDA kernel runs a block per row
      cross_entropy_forward_cuda_table<T>().get()(logits.device_data<T>(), tgt_dev.device_data<int64_t>(),
                                                  kernel_ptr<T>(weight), ignore_index, N, C, loss.device_data<T>(),
                                                  lse.device_data<T>(), row_w.device_data<T>());
    } else {
      const auto fwd = cross_entropy_forward_table<T>().get();
      const T *px = logits.data<T>(), *pw = weight.defined() ? weight.data<T>() : nullptr;
      T *pl = loss.data<T>(), *plse = lse.data<T>(), *prw = row_w.data<T>();
      cpu::parallel_for(N, 8 * C, [&](int64_t r0, int64_t r1) {
        fwd(px + r0 * C, tgt->data() + r0, pw, ignore_index, r1 - r0, C, pl + r0, plse + r0, prw + r0);
      });
    }
    if (reduction == LossReduction::none) {
      out = loss;
      return;
    }
    // The reduction runs on the host in double, in row order, for every device (N values come back from a GPU).
    const std::vector<double> lv = loss.to_vector<double>(), wv = row_w.to_vector<double>();
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) sum += lv[size_t(i)], total_weight += wv[size_t(i)];
    // torch: mean = sum / total_weight, NaN (0 / 0) when every target is ignored.
    out = scalar_tensor(reduction == LossReduction::sum ? sum : sum / total_weight, logits.dtype()).to(dev);
  });
  record("cross_entropy", {logits}, {out},
         [logits, weight, tgt, tgt_dev, ignore_index, lse, reduction, total_weight, N, C](
             const std::vector<Tensor>& g, const std::vector<bool>&) {
           const Tensor dy = g[0].contiguous();
           Tensor dx = empty_like(logits);
           dispatch_float(logits.dtype(), "cross_entropy backward", [&](auto tag) {
             using T = decltype(tag);
             // row_grad[i] = dL / dloss_i
             const std::vector<T> dyv = dy.to_vector<T>();
             std::vector<T> row_grad(static_cast<size_t>(N));
             for (int64_t i = 0; i < N; ++i)
               row_grad[size_t(i)] = reduction == LossReduction::none  ? dyv[size_t(i)]
                                     : reduction == LossReduction::sum ? dyv[0]
                                                                       : T(double(dyv[0]) / total_weight);
             if (logits.is_cuda()) {
               const Tensor rg = from_vector(row_grad, {N}).to(logits.device());  // (N)
               cross_entropy_backward_cuda_table<T>().get()(
                   logits.device_data<T>(), tgt_dev.device_data<int64_t>(), kernel_ptr<T>(weight), ignore_index,
                   lse.device_data<T>(), rg.device_data<T>(), N, C, dx.device_data<T>());
               return;
             }
             const auto bwd = cross_entropy_backward_table<T>().get();
             const T *px = logits.data<T>(), *pw = weight.defined() ? weight.data<T>() : nullptr;
             const T* plse = lse.data<T>();
             T* pdx = dx.data<T>();
             cpu::parallel_for(N, 8 * C, [&](int64_t r0, int64_t r1) {
               bwd(px + r0 * C, tgt->data() + r0, pw, ignore_index, plse + r0, row_grad.data() + r0, r1 - r0, C,
                   pdx + r0 * C);
             });
           });
           return std::vector<Tensor>{dx};
         });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
Tensor ctc_loss(const Tensor& log_probs_in, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, int64_t blank, LossReduction reduction, bool zero_infinity) {
  check(log_probs_in.dim() == 3, "ctc_loss: log_probs must be (T, B, C), got ", log_probs_in.shape());
  const int64_t T_max = log_probs_in.size(0), B = log_probs_in.size(1), C = log_probs_in.size(2);
  check(blank >= 0 && blank < C, "ctc_loss: blank ", blank, " is out of range for ", C, " classes");
  // The index tensors are read on the host: each may live on the CPU or on log_probs' device (as torch allows).
  for (const auto& [name, t] : {std::pair{"targets", &targets}, std::pair{"input_lengths", &input_lengths},
                                std::pair{"target_lengths", &target_lengths}})
    check(!t->defined() || !t->is_cuda() || t->device() == log_probs_in.device(), "ctc_loss: ", name, " is on ",
          t->device(), " but log_probs are on ", log_probs_in.device());
  auto ix = std::make_shared<CtcIndex>();
  std::vector<int64_t>& tg = ix->host[CtcIndex::kTargets];
  std::vector<int64_t>& offsets = ix->host[CtcIndex::kOffsets];  // start of each element's labels in tg
  std::vector<int64_t>& il = ix->host[CtcIndex::kInputLengths];
  std::vector<int64_t>& tl = ix->host[CtcIndex::kTargetLengths];
  il = index_values(input_lengths, "ctc_loss", "input_lengths");
  tl = index_values(target_lengths, "ctc_loss", "target_lengths");
  check(input_lengths.dim() == 1 && int64_t(il.size()) == B, "ctc_loss: input_lengths must have shape (", B,
        ",) for log_probs ", log_probs_in.shape(), ", got ", input_lengths.shape());
  check(target_lengths.dim() == 1 && int64_t(tl.size()) == B, "ctc_loss: target_lengths must have shape (", B,
        ",), got ", target_lengths.shape());
  tg = index_values(targets, "ctc_loss", "targets");
  offsets.resize(static_cast<size_t>(B));
  int64_t max_target = 0;
  for (int64_t b = 0; b < B; ++b) {
    check(il[size_t(b)] >= 0 && il[size_t(b)] <= T_max, "ctc_loss: input_lengths[", b, "] = ", il[size_t(b)],
          " is outside [0, T = ", T_max, "] for log_probs of shape ", log_probs_in.shape());
    check(tl[size_t(b)] >= 0, "ctc_loss: target_lengths[", b, "] = ", tl[size_t(b)], " is negative");
    max_target = std::max(max_target, tl[size_t(b)]);
  }
  if (targets.dim() == 2) {
    const int64_t S = targets.size(1);
    check(targets.size(0) == B, "ctc_loss: padded targets must be (B = ", B, ", S), got ", targets.shape());
    for (int64_t b = 0; b < B; ++b) {
      check(tl[size_t(b)] <= S, "ctc_loss: target_lengths[", b, "] = ", tl[size_t(b)],
            " exceeds the padded target length S = ", S, " of targets ", targets.shape());
      offsets[size_t(b)] = b * S;
    }
  } else {
    check(targets.dim() == 1, "ctc_loss: targets must be (B, S) padded or 1-D concatenated, got ", targets.shape());
    int64_t pos = 0;
    for (int64_t b = 0; b < B; ++b) offsets[size_t(b)] = pos, pos += tl[size_t(b)];
    check(pos == targets.size(0), "ctc_loss: concatenated targets have ", targets.size(0),
          " labels but target_lengths sum to ", pos);
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < tl[size_t(b)]; ++k) {
      const int64_t label = tg[size_t(offsets[size_t(b)] + k)];
      check(label >= 0 && label < C, "ctc_loss: target ", label, " (element ", b, ", position ", k,
            ") is out of range for ", C, " classes");
    }

  const Tensor log_probs = log_probs_in.contiguous();
  const Device dev = log_probs.device();
  if (log_probs.is_cuda()) ix->upload(dev);
  const int64_t A = 2 * max_target + 1;
  Tensor nll = empty({B}, log_probs.dtype(), dev);                  // (B) -log p(target | input)
  Tensor log_alpha = empty({B, T_max, A}, log_probs.dtype(), dev);  // (B, T, 2 S + 1)
  Tensor out;
  dispatch_float(log_probs.dtype(), "ctc_loss", [&](auto tag) {
    using T = decltype(tag);
    const auto k = log_probs.is_cuda() ? ctc_loss_cuda_table<T>().get() : ctc_loss_table<T>().get();
    const T* lp = kernel_ptr<T>(log_probs);
    // NaN would silently turn the whole loss into NaN: name the first one instead.
    const int64_t bad = k.first_nan(lp, ix->ptr(CtcIndex::kInputLengths), T_max, B, C);
    check(bad < 0, "ctc_loss: log_probs ", log_probs.shape(), " contains NaN at (t = ", bad / C % T_max,
          ", b = ", bad / C / T_max, ", c = ", bad % C, ")");
    k.forward(lp, ix->ptr(CtcIndex::kTargets), ix->ptr(CtcIndex::kOffsets), ix->ptr(CtcIndex::kInputLengths),
              ix->ptr(CtcIndex::kTargetLengths), T_max, B, C, max_target, blank, kernel_ptr<T>(nll),
              kernel_ptr<T>(log_alpha));
    // The reduction runs on the host for every device (B values come back from a GPU).
    const std::vector<T> pn = nll.to_vector<T>();
    std::vector<T> pp(static_cast<size_t>(B));  // (B) with zero_infinity applied
    for (int64_t b = 0; b < B; ++b)
      pp[size_t(b)] = zero_infinity && pn[size_t(b)] == std::numeric_limits<T>::infinity() ? T(0) : pn[size_t(b)];
    if (reduction == LossReduction::none) {
      out = from_vector(pp, {B}).to(dev);
      return;
    }
    // torch: sum -> sum_b loss_b; mean -> (loss / target_lengths.clamp_min(1)).mean()
    double acc = 0;
    for (int64_t b = 0; b < B; ++b)
      acc += reduction == LossReduction::sum ? double(pp[size_t(b)])
                                             : double(pp[size_t(b)]) / double(std::max<int64_t>(tl[size_t(b)], 1));
    out = scalar_tensor(reduction == LossReduction::sum ? acc : acc / double(B), log_probs.dtype()).to(dev);
  });
  record("ctc_loss", {log_probs}, {out},
         [log_probs, ix, nll, log_alpha, blank, reduction, zero_infinity, max_target](const std::vector<Tensor>& g,
                                                                                     const std::vector<bool>&) {
           const int64_t T_max = log_probs.size(0), B = log_probs.size(1), C = log_probs.size(2);
           const std::vector<int64_t>& tl = ix->host[CtcIndex::kTargetLengths];
           const Tensor dy = g[0].contiguous();
           Tensor grad = empty_like(log_probs);  // (T, B, C)
           dispatch_float(log_probs.dtype(), "ctc_loss backward", [&](auto tag) {
             using T = decltype(tag);
             const std::vector<T> dyv = dy.to_vector<T>();
             std::vector<T> scale(static_cast<size_t>(B));  // (B) dL / dnll_b
             for (int64_t b = 0; b < B; ++b)
               scale[size_t(b)] =
                   reduction == LossReduction::none ? dyv[size_t(b)]
                   : reduction == LossReduction::sum
                       ? dyv[0]
                       : T(double(dyv[0]) / double(std::max<int64_t>(tl[size_t(b)], 1)) / double(B));
             const bool on_gpu = log_probs.is_cuda();
             const auto k = on_gpu ? ctc_loss_cuda_table<T>().get() : ctc_loss_table<T>().get();
             const Tensor scale_dev = on_gpu ? from_vector(scale, {B}).to(log_probs.device()) : Tensor();  // (B)
             k.backward(kernel_ptr<T>(log_probs), ix->ptr(CtcIndex::kTargets), ix->ptr(CtcIndex::kOffsets),
                        ix->ptr(CtcIndex::kInputLengths), ix->ptr(CtcIndex::kTargetLengths), T_max, B, C, max_target,
                        blank, kernel_ptr<T>(nll), kernel_ptr<T>(log_alpha),
                        on_gpu ? scale_dev.device_data<T>() : scale.data(), zero_infinity, kernel_ptr<T>(grad));
           });
           return std::vector<Tensor>{grad};
         });
  return out;
}

}  // namespace hm
