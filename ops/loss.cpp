// Loss ops: validation, Tensor -> pointers, reductions and autograd recording. Kernels in cpu/loss_*.cpp.
#include "ops/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
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

const bool kCrossEntropyKernels = [] {
  cross_entropy_forward_table<float>().add("scalar", cpu::scalar::cross_entropy_forward<float>, 0);
  cross_entropy_forward_table<float>().add("highway", cpu::simd::cross_entropy_forward_f32, 10);
  cross_entropy_forward_table<double>().add("scalar", cpu::scalar::cross_entropy_forward<double>, 0);
  cross_entropy_forward_table<double>().add("highway", cpu::simd::cross_entropy_forward_f64, 10);
  cross_entropy_backward_table<float>().add("scalar", cpu::scalar::cross_entropy_backward<float>, 0);
  cross_entropy_backward_table<float>().add("highway", cpu::simd::cross_entropy_backward_f32, 10);
  cross_entropy_backward_table<double>().add("scalar", cpu::scalar::cross_entropy_backward<double>, 0);
  cross_entropy_backward_table<double>().add("highway", cpu::simd::cross_entropy_backward_f64, 10);
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

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
Tensor cross_entropy(const Tensor& logits_in, const Tensor& target, const Tensor& weight_in, int64_t ignore_index,
                     LossReduction reduction) {
  check(logits_in.dim() == 2 && logits_in.size(1) >= 1, "cross_entropy: logits must be (N, C) with C >= 1, got ",
        logits_in.shape());
  const int64_t N = logits_in.size(0), C = logits_in.size(1);
  check(target.dim() == 1 && target.size(0) == N, "cross_entropy: target must have shape (", N,
        ",) for logits of shape ", logits_in.shape(), ", got ", target.shape());
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
    check(!any_requires_grad({weight_in}),
          "cross_entropy: the derivative for the class weights is not implemented (as in torch); detach them");
    weight = weight_in.contiguous();
  }

  Tensor loss = empty({N}, logits.dtype());                                     // (N) per-row loss
  Tensor lse = empty({N}, logits.dtype()), row_w = empty({N}, logits.dtype());  // (N), (N)
  Tensor out;
  double total_weight = 0;  // sum of weight[t_i] over non-ignored rows: the mean's denominator
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const auto fwd = cross_entropy_forward_table<T>().get();
    const T *px = logits.data<T>(), *pw = weight.defined() ? weight.data<T>() : nullptr;
    T *pl = loss.data<T>(), *plse = lse.data<T>(), *prw = row_w.data<T>();
    cpu::parallel_for(N, 8 * C, [&](int64_t r0, int64_t r1) {
      fwd(px + r0 * C, tgt->data() + r0, pw, ignore_index, r1 - r0, C, pl + r0, plse + r0, prw + r0);
    });
    if (reduction == LossReduction::none) {
      out = loss;
      return;
    }
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) sum += double(loss.data<T>()[i]), total_weight += double(row_w.data<T>()[i]);
    // torch: mean = sum / total_weight, NaN (0 / 0) when every target is ignored.
    out = scalar_tensor(reduction == LossReduction::sum ? sum : sum / total_weight, logits.dtype());
  });
  record("cross_entropy", {logits}, {out},
         [logits, weight, tgt, ignore_index, lse, reduction, total_weight, N, C](const std::vector<Tensor>& g,
                                                                                 const std::vector<bool>&) {
           const Tensor dy = g[0].contiguous();
           Tensor dx = empty_like(logits);
           dispatch_float(logits.dtype(), "cross_entropy backward", [&](auto tag) {
             using T = decltype(tag);
             // row_grad[i] = dL / dloss_i
             std::vector<T> row_grad(static_cast<size_t>(N));
             for (int64_t i = 0; i < N; ++i)
               row_grad[size_t(i)] = reduction == LossReduction::none  ? dy.data<T>()[i]
                                     : reduction == LossReduction::sum ? dy.data<T>()[0]
                                                                       : T(double(dy.data<T>()[0]) / total_weight);
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
  const std::vector<int64_t> il = index_values(input_lengths, "ctc_loss", "input_lengths");
  const std::vector<int64_t> tl = index_values(target_lengths, "ctc_loss", "target_lengths");
  check(input_lengths.dim() == 1 && int64_t(il.size()) == B, "ctc_loss: input_lengths must have shape (", B,
        ",) for log_probs ", log_probs_in.shape(), ", got ", input_lengths.shape());
  check(target_lengths.dim() == 1 && int64_t(tl.size()) == B, "ctc_loss: target_lengths must have shape (", B,
        ",), got ", target_lengths.shape());
  const std::vector<int64_t> tg = index_values(targets, "ctc_loss", "targets");
  std::vector<int64_t> offsets(static_cast<size_t>(B));  // start of each element's labels in tg
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
  const int64_t A = 2 * max_target + 1;
  Tensor nll = empty({B}, log_probs.dtype());                  // (B) -log p(target | input)
  Tensor log_alpha = empty({B, T_max, A}, log_probs.dtype());  // (B, T, 2 S + 1)
  Tensor out;
  dispatch_float(log_probs.dtype(), "ctc_loss", [&](auto tag) {
    using T = decltype(tag);
    const T* lp = log_probs.data<T>();
    // NaN would silently turn the whole loss into NaN: name the first one instead.
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < il[size_t(b)]; ++t)
        for (int64_t c = 0; c < C; ++c)
          check(!std::isnan(lp[(t * B + b) * C + c]), "ctc_loss: log_probs ", log_probs.shape(),
                " contains NaN at (t = ", t, ", b = ", b, ", c = ", c, ")");
    cpu::ctc_loss_forward<T>(lp, tg.data(), offsets.data(), il.data(), tl.data(), T_max, B, C, max_target, blank,
                             nll.data<T>(), log_alpha.data<T>());
    Tensor per = empty({B}, log_probs.dtype());  // (B) with zero_infinity applied
    const T* pn = nll.data<T>();
    T* pp = per.data<T>();
    for (int64_t b = 0; b < B; ++b) pp[b] = zero_infinity && pn[b] == std::numeric_limits<T>::infinity() ? T(0) : pn[b];
    if (reduction == LossReduction::none) {
      out = per;
      return;
    }
    // torch: sum -> sum_b loss_b; mean -> (loss / target_lengths.clamp_min(1)).mean()
    double acc = 0;
    for (int64_t b = 0; b < B; ++b)
      acc +=
          reduction == LossReduction::sum ? double(pp[b]) : double(pp[b]) / double(std::max<int64_t>(tl[size_t(b)], 1));
    out = scalar_tensor(reduction == LossReduction::sum ? acc : acc / double(B), log_probs.dtype());
  });
  record("ctc_loss", {log_probs}, {out},
         [log_probs, tg, offsets, il, tl, nll, log_alpha, blank, reduction, zero_infinity, max_target](
             const std::vector<Tensor>& g, const std::vector<bool>&) {
           const int64_t T_max = log_probs.size(0), B = log_probs.size(1), C = log_probs.size(2);
           const Tensor dy = g[0].contiguous();
           Tensor grad = empty_like(log_probs);  // (T, B, C)
           dispatch_float(log_probs.dtype(), "ctc_loss backward", [&](auto tag) {
             using T = decltype(tag);
             std::vector<T> scale(static_cast<size_t>(B));  // (B) dL / dnll_b
             for (int64_t b = 0; b < B; ++b)
               scale[size_t(b)] =
                   reduction == LossReduction::none ? dy.data<T>()[b]
                   : reduction == LossReduction::sum
                       ? dy.data<T>()[0]
                       : T(double(dy.data<T>()[0]) / double(std::max<int64_t>(tl[size_t(b)], 1)) / double(B));
             cpu::ctc_loss_backward<T>(log_probs.data<T>(), tg.data(), offsets.data(), il.data(), tl.data(), T_max, B,
                                       C, max_target, blank, nll.data<T>(), log_alpha.data<T>(), scale.data(),
                                       zero_infinity, grad.data<T>());
           });
           return std::vector<Tensor>{grad};
         });
  return out;
}

}  // namespace hm
